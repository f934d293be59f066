"""Fuzzing the loader of the safetensors model files: random bytes, every single-byte
flip and truncation of real files, and mutated headers and tensors.

The oracle: a file either raises ``ModelFileError`` naming it, or loads as exactly what
was saved. A damaged file that loads must give back the saved model bit for bit (the
header's CRC-32 covers every byte that matters); a mutated but well-formed file that
loads must give back exactly what it holds (re-exporting the model reproduces the
file's configuration and tensors), differing only where :data:`ALLOWED` says. Any
other exception, a crash or a hang fails. Derandomized, so CI sees the same examples.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import xpnet
from xpnet.estimators import model_export
from xpnet.files import messages, model_file, tensor_file

pytest.importorskip("hypothesis", reason="hypothesis is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _classifier() -> xpnet.MLPClassifier:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3)) * 100 + 1e6
    y = np.array(["ant", "bee", "cat"])[rng.integers(0, 3, 30)]
    model = xpnet.MLPClassifier((4,), max_iter=2, random_state=0, dtype="float64")
    from xpnet.estimators.scaling import Standardization

    model.standardization_ = Standardization.fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


MODELS = {
    "mlp": xpnet.MLP([3, 4, 2], hidden_activation="tanh", dtype="float64", seed=0),
    "classifier": _classifier(),
}
EXPORTS = {name: model._export() for name, model in MODELS.items()}


def file_bytes(config: object, arrays: dict[str, np.ndarray]) -> bytes:
    """A well-formed file (valid checksum) holding whatever header and tensors."""
    header = {"format": "xpnet-model", "format_version": 2, "xpnet_version": "0"}
    return tensor_file.encode({**header, "model": config}, arrays)


REAL = {name: file_bytes(*export) for name, export in EXPORTS.items()}

# What loading may change in a configuration: the backend is the one asked for.
ALLOWED = {"backend"}
ADDED_PARAMS = model_export._ADDED_PARAMS  # name -> the default of a file without it


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "model.safetensors"


def load_or_refuse(path, data: bytes, expected=None) -> None:
    """Write ``data`` and load it: ModelFileError naming the file, or a model whose
    export equals ``expected`` (config, tensors), or the file's own content."""
    path.write_bytes(data)
    try:
        model = xpnet.load(path, backend="numpy")
    except model_file.ModelFileError as exc:
        assert str(path) in str(exc)
        assert len(exc.problem) <= messages.MESSAGE_CHARS  # whatever the file holds
        return
    if expected is None:
        _, file_arrays = tensor_file.load_tensors(path)
        expected = (tensor_file.load_tensors(path)[0]["model"], file_arrays)
    config, arrays = model._export()
    assert_same_export((config, arrays), expected)


def assert_same_export(got, want) -> None:
    (config, arrays), (want_config, want_arrays) = got, want
    assert sorted(arrays) == sorted(want_arrays)
    for name, array in arrays.items():
        assert array.dtype == want_arrays[name].dtype, name
        np.testing.assert_array_equal(array, want_arrays[name], err_msg=name)
    config, want_config = json.loads(json.dumps(config)), dict(want_config)
    if "params" in config:
        # A parameter added within the format version, absent from the file, loads
        # as its default (files written before it still read).
        absent = {
            k
            for k, default in ADDED_PARAMS.items()
            if k not in want_config["params"] and config["params"].get(k) == default
        }
        config["params"] = _without(config["params"], ALLOWED | absent)
        want_config["params"] = _without(want_config["params"], ALLOWED)
    assert config == want_config


def _without(params: dict, names: set[str]) -> dict:
    return {k: v for k, v in params.items() if k not in names}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_real_file_loads_as_saved(target, name):
    target.write_bytes(REAL[name])
    assert_same_export(xpnet.load(target)._export(), EXPORTS[name])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_single_byte_flip_is_refused_or_harmless(target, name):
    """Every byte of a real file (every other one of the longer classifier file)
    flipped by a seeded random mask: refused, or (a flip in safetensors' own padding,
    say) the saved model exactly."""
    data = REAL[name]
    masks = np.random.default_rng(0).integers(1, 256, len(data))
    loaded = 0
    for at in range(0, len(data), 1 if name == "mlp" else 2):
        mask = masks[at]
        flipped = bytearray(data)
        flipped[at] ^= int(mask)
        target.write_bytes(bytes(flipped))
        try:
            model = xpnet.load(target, backend="numpy")
        except model_file.ModelFileError as exc:
            assert str(target) in str(exc)
            continue
        loaded += 1
        assert_same_export(model._export(), EXPORTS[name])
    assert loaded < len(data) // 100  # nearly every flip is caught


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_truncation_is_refused(target, name):
    """Every cut in the length prefix and 400 spread over the rest."""
    data = REAL[name]
    for cut in sorted({*range(9), *np.linspace(0, len(data) - 1, 400, dtype=int)}):
        target.write_bytes(data[:cut])
        with pytest.raises(model_file.ModelFileError):
            xpnet.load(target)


@FUZZ
@given(
    data=st.binary(max_size=2048)
    | st.binary(max_size=512).map(REAL["mlp"][:64].__add__)
)
def test_random_bytes(target, data):
    load_or_refuse(target, data)


@st.composite
def damaged(draw) -> tuple[str, bytes]:
    """A real file with bytes flipped, a slice cut out or inserted, or truncated."""
    name = draw(st.sampled_from(sorted(MODELS)))
    data = bytearray(REAL[name])
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
    return name, bytes(data)


@FUZZ
@given(case=damaged())
def test_damaged_real_file(target, case):
    name, data = case
    load_or_refuse(target, data, EXPORTS[name])


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
NAMES = [
    "MLP",
    "MLPClassifier",
    "MLPRegressor",
    "float32",
    "float64",
    "relu",
    "softmax",
    "logistic",
    "swish",
    "binary",
    "multiclass",
    "<U1000000",
    "<i8",
    "|O",
    "inf",
]


def _huge(kind: str) -> object:
    """A new huge value each time (a mutation may nest one value in another)."""
    return {"sizes": [3] * 20_000, "names": ["relu"] * 20_000, "text": "x" * 10**5}[
        kind
    ]


HUGE = st.sampled_from(["sizes", "names", "text"]).map(_huge)  # messages stay short
NEAR = (  # values close to valid ones, so mutations reach the deeper checks
    st.sampled_from(NAMES)
    | st.lists(st.integers(-1, 5), max_size=4)
    | st.lists(st.sampled_from(NAMES), max_size=3)
    | st.integers(0, 3)
    | st.sampled_from(
        [[1, 0], [0, 0], ["ant", "ant", "cat"], ["cat", "bee", "ant"]]
    ).map(list)  # a copy: the same list put inside itself made a circular config
    | HUGE
)


@st.composite
def mutated_config(draw) -> tuple[str, object]:
    """A real configuration with values replaced or keys dropped or added, down to
    the nested ``params``, ``history`` and ``classes_`` objects."""
    name = draw(st.sampled_from(sorted(MODELS)))
    config = json.loads(json.dumps(EXPORTS[name][0]))
    for _ in range(draw(st.integers(1, 3))):
        node = config
        while isinstance(node, dict) and draw(st.booleans()):
            children = [v for v in node.values() if isinstance(v, dict)]
            if not children:
                break
            node = draw(st.sampled_from(children))
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
    return name, config


@FUZZ
@given(case=mutated_config() | st.tuples(st.just("mlp"), JSON))
def test_mutated_config(target, case):
    name, config = case
    load_or_refuse(target, file_bytes(config, EXPORTS[name][1]))


FLOATS = st.sampled_from(["float64", "float32"])


@st.composite
def mutated_arrays(draw) -> tuple[str, dict[str, np.ndarray]]:
    """The real tensors with some dropped, added, reshaped, recast or non-finite."""
    name = draw(st.sampled_from(sorted(MODELS)))
    real = EXPORTS[name][1]
    arrays = {key: array.copy() for key, array in real.items()}
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*real, "W2", "b2", "y_mean", "opt.ms.0", "extra"]))
        action = draw(st.sampled_from(["drop", "shape", "dtype", "value"]))
        shape = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=3)))
        if action == "drop":
            arrays.pop(key, None)
        elif action == "shape" or key not in arrays:
            arrays[key] = np.ones(shape, dtype=draw(FLOATS))
        elif action == "dtype":
            with np.errstate(all="ignore"):
                arrays[key] = arrays[key].astype(draw(FLOATS))
        elif arrays[key].size:
            flat = arrays[key].reshape(-1)
            value = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e300, 0.0, -1.0]))
            with np.errstate(all="ignore"):
                flat[draw(st.integers(0, flat.size - 1))] = value
    return name, arrays


@FUZZ
@given(case=mutated_arrays())
def test_mutated_arrays(target, case):
    name, arrays = case
    load_or_refuse(target, file_bytes(EXPORTS[name][0], arrays))
