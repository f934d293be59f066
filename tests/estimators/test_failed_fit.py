"""A failed fit leaves the estimator exactly as it was, on every input path: any
exception but Ctrl-C (and DivergenceError, which keeps the last good epoch, as
documented) puts every attribute back, the optimizer's state and the history lists
included."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from xpnet import MLPClassifier, MLPRegressor

quiet = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
COMMON = dict(hidden_layer_sizes=(5,), batch_size=10, max_iter=2, random_state=0)


def _data(n_samples=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    return X, X @ np.array([1.0, -2.0, 0.5])


def _state(model) -> dict:
    state = {k: v for k, v in vars(model).items() if k != "_optimizer"}
    optimizer = model.__dict__.get("_optimizer")
    if optimizer is not None:
        state["optimizer"] = (
            optimizer.scalars(),
            {k: np.array(v) for k, v in optimizer.buffers.items()},
        )
    return copy.deepcopy(state)


def _assert_same(after: dict, before: dict) -> None:
    assert sorted(after) == sorted(before)
    for key in before:
        np.testing.assert_equal(after[key], before[key], err_msg=key)


def _fitted(cls=MLPRegressor, **extra):
    X, y = _data(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**COMMON, **extra).fit(X, y)


class Boom(RuntimeError):
    pass


def _explode(model, history):
    raise Boom("callback failed")


@pytest.mark.parametrize("call", ["fit", "warm_start", "partial_fit"])
def test_a_failure_rolls_the_fit_back(call):
    model = _fitted(warm_start=call == "warm_start")
    if call == "partial_fit":
        model.partial_fit(*_data(seed=2))  # an optimizer the next call reuses
    before = _state(model)
    X, y = _data()
    if call == "partial_fit":  # no callbacks: a bad weight fails the intake
        with pytest.raises(ValueError, match="non-negative"):
            model.partial_fit(X, y, sample_weight=-np.ones(len(y)))
    else:
        with pytest.raises(Boom):
            model.fit(X, y, callbacks=[_explode])
    _assert_same(_state(model), before)


def test_a_failed_first_fit_leaves_an_unfitted_estimator():
    model = MLPClassifier(**COMMON)
    X, y = _data()
    with pytest.raises(Boom):
        model.fit(X, y > 0, callbacks=[_explode])
    assert not hasattr(model, "coefs_") and not hasattr(model, "loss_curve_")


@quiet
def test_warm_start_on_dask_whose_last_block_holds_nan_changes_nothing():
    """The issue's case: blocks are checked as they are computed, so the NaN shows
    after training on the earlier blocks; the estimator must not keep that."""
    da = pytest.importorskip("dask.array", reason="dask is the optional xpnet[dask]")
    model = _fitted(warm_start=True, shuffle=False)
    before = _state(model)
    X, y = _data()
    X[-1, 1] = np.nan
    X_dask, y_dask = da.from_array(X, chunks=(10, 3)), da.from_array(y, chunks=10)
    with pytest.raises(ValueError, match="finite"):
        model.fit(X_dask, y_dask)
    _assert_same(_state(model), before)


@quiet
def test_dask_partial_fit_failing_in_a_later_block_keeps_the_optimizer():
    da = pytest.importorskip("dask.array", reason="dask is the optional xpnet[dask]")
    model = _fitted()
    model.partial_fit(*_data(seed=2))
    before = _state(model)
    X, y = _data()
    weights = np.ones(len(y))
    weights[-1] = -1.0  # checked when its block is computed
    with pytest.raises(ValueError, match="non-negative"):
        model.partial_fit(
            da.from_array(X, chunks=(10, 3)),
            da.from_array(y, chunks=10),
            sample_weight=da.from_array(weights, chunks=10),
        )
    _assert_same(_state(model), before)
