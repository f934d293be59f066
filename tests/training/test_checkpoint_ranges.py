"""Property: a checkpoint's values are read exactly when they are in range.

For a real float32 Adam checkpoint, one value at a time is replaced by a drawn
number (ints up to 10**400, floats up to 1e308) and the file re-encoded with a
valid checksum; reading it must raise ``ModelFileError`` naming the field exactly
when the value is out of range, and accept it otherwise."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import xpnet
from xpnet.estimators import resume
from xpnet.files import tensor_file

pytest.importorskip("hypothesis", reason="hypothesis is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FLOAT32_MAX = float(np.finfo(np.float32).max)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    path = tmp_path_factory.mktemp("ranges") / "run.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xpnet.MLPRegressor(
            (4,), max_iter=3, batch_size=10, random_state=0, dtype="float32"
        ).fit(X, X[:, 0], checkpoint=path, checkpoint_every=3)
    return tensor_file.load_tensors(path)


def _steps(header):
    return header["checkpoint"]["steps"]


# field: (where it lives, is the value in range given the header?)
FIELDS = {
    "optimizer t": (
        lambda r: r["optimizer"]["scalars"],
        "t",
        lambda v, h: type(v) is int and 0 <= v <= _steps(h),
    ),
    "position step": (
        lambda r: r["position"],
        "step",
        lambda v, h: type(v) is int and 0 <= v <= _steps(h),
    ),
    "position epoch_loss": (
        lambda r: r["position"],
        "epoch_loss",
        lambda v, h: abs(v) <= FLOAT32_MAX,
    ),
    "history loss_curve": (
        lambda r: r["model"]["history"],
        "loss_curve",
        lambda v, h: all(abs(x) <= FLOAT32_MAX for x in v),
    ),
    "history n_iter": (
        lambda r: r["model"]["history"],
        "n_iter",
        lambda v, h: type(v) is int and 0 <= v <= 3,  # max_iter
    ),
}
NUMBERS = st.one_of(
    st.integers(-5, 40),
    st.integers(2**53, 10**400),
    st.floats(-1e308, 1e308, allow_nan=False),
)


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(field=st.sampled_from(sorted(FIELDS)), number=NUMBERS)
def test_a_value_is_read_exactly_when_it_is_in_range(written, tmp_path, field, number):
    header, arrays = copy.deepcopy(written[0]), written[1]
    where, key, in_range = FIELDS[field]
    value = [number] if key == "loss_curve" else number
    if key in ("t", "step", "n_iter") and isinstance(number, float):
        value = int(number) if abs(number) < 2**63 else 2**63  # counts are ints
    where(header["checkpoint"])[key] = value
    path = tmp_path / "edited.safetensors"
    path.write_bytes(tensor_file.encode(header, arrays))
    model = xpnet.MLPRegressor(
        (4,), max_iter=3, batch_size=10, random_state=0, dtype="float32"
    )
    if in_range(value, header):
        resume.read(model, path)
    else:
        with pytest.raises(xpnet.ModelFileError, match=key):
            resume.read(model, path)
