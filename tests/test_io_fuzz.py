"""Fuzzing the loader: random bytes, damaged real files and mutated headers and arrays.

The only outcomes allowed are a model that works or a ``ModelFileError``; any other
exception, a crash or a hang fails. Derandomized, so CI sees the same examples.
"""

from __future__ import annotations

import io as pyio
import json
import warnings

import numpy as np
import pytest

import xpnet
from xpnet.files import model_file

pytest.importorskip("hypothesis", reason="hypothesis is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

MODEL = xpnet.MLP([3, 4, 2], hidden_activation="tanh", dtype="float64", seed=0)
CONFIG, ARRAYS = MODEL._export()
HEADER = {"format": "xpnet-model", "format_version": 1, "xpnet_version": "0.1.0"}
HEADER = {**HEADER, "model": CONFIG}


def npz_bytes(header: object, arrays: dict[str, np.ndarray]) -> bytes:
    """A well-formed archive (valid checksums) holding whatever header and arrays."""
    text = json.dumps(header).encode("utf-8")
    buffer = pyio.BytesIO()
    np.savez(buffer, **arrays, xpnet_header=np.frombuffer(text, np.uint8))
    return buffer.getvalue()


REAL = npz_bytes(HEADER, ARRAYS)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "model.npz"


def load_or_refuse(path, data: bytes) -> None:
    """Write ``data`` and load it: a working model or ModelFileError, nothing else."""
    path.write_bytes(data)
    try:
        model = xpnet.load(path)
    except model_file.ModelFileError as exc:
        assert str(path) in str(exc)
        return
    assert isinstance(model, xpnet.MLP)
    with np.errstate(over="ignore", invalid="ignore"):  # huge weights may load fine
        output = model.forward(np.ones((2, model.layer_sizes[0])))
    assert output.shape == (2, model.layer_sizes[-1])


def test_real_file_loads(target):
    target.write_bytes(REAL)
    np.testing.assert_array_equal(xpnet.load(target).get_weights()[1], ARRAYS["W1"])


@FUZZ
@given(
    data=st.binary(max_size=2048) | st.binary(max_size=512).map(b"PK\x03\x04".__add__)
)
def test_random_bytes(target, data):
    load_or_refuse(target, data)


@st.composite
def damaged(draw) -> bytes:
    """The real file with bytes flipped, a slice cut out or inserted, or truncated."""
    data = bytearray(REAL)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[at:]
    return bytes(data)


@FUZZ
@given(data=damaged())
def test_damaged_real_file(target, data):
    load_or_refuse(target, data)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
NAMES = ["MLP", "MLPRegressor", "float32", "float64", "relu", "softmax", "swish"]
NEAR = (  # values close to valid ones, so mutations reach the deeper checks
    st.sampled_from(NAMES)
    | st.lists(st.integers(-1, 5), max_size=4)
    | st.lists(st.sampled_from(NAMES), max_size=3)
    | st.integers(0, 3)
)


@st.composite
def mutated_header(draw) -> object:
    """The real header with values replaced or keys dropped or added, mostly inside
    its ``model`` configuration, and occasionally one element of a list."""
    header = json.loads(json.dumps(HEADER))
    for _ in range(draw(st.integers(1, 3))):
        node = header.get("model") if draw(st.integers(0, 3)) else header
        if not isinstance(node, dict):
            continue
        key = draw(st.sampled_from([*node, "extra"]))
        action = draw(st.sampled_from(["replace", "drop", "element"]))
        if action == "drop":
            node.pop(key, None)
        elif action == "element" and isinstance(node.get(key), list) and node[key]:
            node[key][draw(st.integers(0, len(node[key]) - 1))] = draw(NEAR | JSON)
        else:
            node[key] = draw(NEAR | JSON)
    return header


@FUZZ
@given(header=mutated_header() | JSON)
def test_mutated_header(target, header):
    load_or_refuse(target, npz_bytes(header, ARRAYS))


ARRAY = st.sampled_from(["float64", "float32", "int64", "uint8", "bool", "complex128"])


@st.composite
def mutated_arrays(draw) -> dict[str, np.ndarray]:
    """The real arrays with some dropped, added, reshaped, recast or made non-finite."""
    arrays = {name: array.copy() for name, array in ARRAYS.items()}
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from([*ARRAYS, "W2", "b2", "extra"]))
        action = draw(st.sampled_from(["drop", "shape", "dtype", "value"]))
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
        if action == "drop":
            arrays.pop(name, None)
        elif action == "shape" or name not in arrays:
            arrays[name] = np.ones(shape, dtype=draw(ARRAY))
        elif action == "dtype":
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")  # complex to real, inf to int
                arrays[name] = arrays[name].astype(draw(ARRAY))
        elif arrays[name].size:
            flat = arrays[name].reshape(-1)
            value = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e300, 0.0]))
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                flat[draw(st.integers(0, flat.size - 1))] = np.asarray(value).astype(
                    flat.dtype
                )
    return arrays


@FUZZ
@given(arrays=mutated_arrays())
def test_mutated_arrays(target, arrays):
    load_or_refuse(target, npz_bytes(HEADER, arrays))
