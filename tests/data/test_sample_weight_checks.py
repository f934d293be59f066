"""Sample weights are checked against the model's dtype at fit, and ``score``'s
weights like a fit's (1-D, one per sample, finite, non-negative, not all 0)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from xpnet import MLPClassifier, MLPRegressor

quiet = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


def _data(n_samples=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    return X, X @ np.array([1.0, -1.0, 0.5])


@pytest.fixture(scope="module")
def fitted():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regressor = MLPRegressor((4,), max_iter=2, random_state=0).fit(X, y)
        classifier = MLPClassifier((4,), max_iter=2, random_state=0).fit(X, y > 0)
    return {"regressor": regressor, "classifier": classifier}


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (lambda n: np.full(n, 1e38), "too large for the model's dtype float32"),
        (lambda n: np.r_[np.ones(n - 1), 1e-320], "smallest normal number"),
        (lambda n: np.full(n, 1e-320), "smallest normal number"),
    ],
    ids=["1e38", "one 1e-320", "all 1e-320"],
)
def test_weights_the_dtype_cannot_carry_are_refused(weights, match):
    X, y = _data()
    model = MLPRegressor((4,), max_iter=2, random_state=0, dtype="float32")
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, sample_weight=weights(len(y)))
    assert not hasattr(model, "coefs_")


@quiet
def test_weights_float64_carries_are_accepted():
    X, y = _data()
    weights = np.r_[np.ones(len(y) - 1), 1e30]
    MLPRegressor((4,), max_iter=1, random_state=0, dtype="float64").fit(
        X, y, sample_weight=weights
    )


def test_dask_blocks_check_weights_against_the_dtype():
    da = pytest.importorskip("dask.array", reason="dask is the optional xpnet[dask]")
    X, y = _data()
    weights = np.ones(len(y))
    weights[-1] = 1e-320
    with pytest.raises(ValueError, match="smallest normal number"):
        MLPRegressor((4,), max_iter=1, batch_size=10, random_state=0).fit(
            da.from_array(X, chunks=(10, 3)),
            da.from_array(y, chunks=10),
            sample_weight=da.from_array(weights, chunks=10),
        )


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (lambda n: np.ones((n, 1)), "1-D"),
        (lambda n: np.ones(n - 1), "one weight per sample"),
        (lambda n: np.r_[np.ones(n - 1), np.inf], "finite"),
        (lambda n: np.r_[np.ones(n - 1), -1.0], "non-negative"),
        (lambda n: np.zeros(n), "all zero"),
    ],
    ids=["(n, 1)", "short", "inf", "negative", "zeros"],
)
def test_score_checks_its_weights_like_fit(fitted, kind, weights, match):
    X, y = _data()
    y = y if kind == "regressor" else y > 0
    with pytest.raises(ValueError, match=match):
        fitted[kind].score(X, y, sample_weight=weights(len(y)))


def test_score_with_valid_weights_is_unchanged(fitted):
    X, y = _data()
    model = fitted["regressor"]
    assert model.score(X, y, sample_weight=np.ones(len(y))) == pytest.approx(
        model.score(X, y)
    )
    assert model.score(X, y, sample_weight=2.0) == pytest.approx(model.score(X, y))


hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    dtype=st.sampled_from(["float32", "float64"]),
    exponent=st.floats(-320, 300),
)
def test_a_weight_is_accepted_exactly_when_the_dtype_carries_it(dtype, exponent):
    """Property: one weight ``10**exponent`` among ones is refused with a clear
    message exactly when it underflows below the dtype's smallest normal number or
    makes the sum pass the square root of its largest; an accepted fit is finite."""
    from xpnet.backend import get_backend
    from xpnet.data import as_sample_weight

    weight = 10.0**exponent
    weights = np.r_[np.ones(5), weight]
    info = np.finfo(dtype)
    bad = weights.sum() > np.sqrt(float(info.max)) or 0 < weight < info.tiny
    if bad:
        with pytest.raises(ValueError, match="dtype|smallest normal"):
            as_sample_weight(weights, get_backend("numpy"), 6, dtype)
    else:
        checked = as_sample_weight(weights, get_backend("numpy"), 6, dtype)
        assert checked is not None
        device = np.asarray(checked.device)
        assert np.isfinite(device).all() and np.isfinite(device.sum())
        assert (device > 0).all() == (weight > 0)


@pytest.mark.parametrize("on_dask", [False, True], ids=["in memory", "dask"])
def test_early_stopping_with_zero_weight_validation_rows_is_refused(on_dask):
    """Every held-out row weighs 0: refused with a clear error (was: NaN scores and
    a model holding its initial weights)."""
    X, y = _data(n_samples=40)
    model = MLPRegressor(
        (4,), max_iter=3, batch_size=10, random_state=0, early_stopping=True
    )
    from xpnet.init import glorot_layers

    rng = np.random.default_rng(model.random_state)
    glorot_layers(rng, [3, 4, 1], "relu")  # the fit draws its weights first
    if on_dask:
        da = pytest.importorskip("dask.array", reason="dask: the optional xpnet[dask]")
        held = int(np.sort(rng.permutation(4)[:1])[0])  # the held-out block
        weights = np.ones(40)
        weights[held * 10 : held * 10 + 10] = 0.0
        args = (
            da.from_array(X, chunks=(10, 3)),
            da.from_array(y, chunks=10),
            da.from_array(weights, chunks=10),
        )
    else:
        from xpnet.training.holdout import split

        _, held_rows = split(rng, y[:, None], 0.1, False)
        weights = np.ones(40)
        weights[held_rows] = 0.0
        args = (X, y, weights)
    with pytest.raises(ValueError, match="every one of the (4|10) validation rows"):
        model.fit(args[0], args[1], sample_weight=args[2])
    assert not hasattr(model, "coefs_")


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_dask_score_refuses_2d_weights(fitted, kind):
    da = pytest.importorskip("dask.array", reason="dask is the optional xpnet[dask]")
    X, y = _data()
    y = y if kind == "regressor" else y > 0
    weights = da.ones((len(y), 1), chunks=(10, 1))
    with pytest.raises(ValueError, match="1-D"):
        fitted[kind].score(da.from_array(X, chunks=(10, 3)), y, sample_weight=weights)
