"""Building a run's validation: sample weights on the held-out rows (and the
training rows' weights that follow them), the refusal of a validation set weighing
nothing, and early stopping's best weights on a warm start (after a fit without
early stopping, after an interrupted one, in another dtype)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import xpnet
from xpnet.training.setup import check_validation_weight

COMMON = dict(hidden_layer_sizes=(5,), batch_size=10, max_iter=3, random_state=0)


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    return X, X @ np.array([1.0, -1.0, 0.5])


def _fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(*args, **kwargs)


def _nan(model, X, y):
    return math.nan


def test_constant_weights_on_held_out_rows_act_as_a_larger_alpha():
    """Weights of 2 everywhere halve the L2 term (scikit-learn divides it by the
    batch's total weight): the same fit as no weights with half the alpha."""
    X, y = _data()
    model = xpnet.MLPRegressor(**COMMON, early_stopping=True, alpha=2e-4)
    weighted = _fit(model, X, y, sample_weight=np.full(60, 2.0))
    plain = _fit(xpnet.MLPRegressor(**COMMON, early_stopping=True, alpha=1e-4), X, y)
    np.testing.assert_allclose(weighted.loss_curve_, plain.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(
        weighted.validation_scores_, plain.validation_scores_, rtol=1e-12
    )


def test_a_validation_set_weighing_nothing_is_refused():
    check_validation_weight(0.5, 3)  # any weight will do
    with pytest.raises(ValueError) as info:
        check_validation_weight(0.0, 4)
    assert str(info.value) == (
        "early_stopping: every one of the 4 validation rows has sample weight 0, so "
        "the validation score is undefined; give some of them a weight, change "
        "validation_fraction or random_state, or set early_stopping=False"
    )


def test_a_warm_start_after_a_fit_without_early_stopping_records_afresh():
    X, y = _data()
    model = _fit(xpnet.MLPRegressor(**COMMON), X, y)
    model.set_params(early_stopping=True, warm_start=True)
    _fit(model, X, y)
    assert len(model.validation_scores_) == 3
    assert model.best_validation_score_ == max(model.validation_scores_)


def _warm_nan_fit(model, X, y, **params):
    """Continue ``model`` with a validation score that never improves: it ends on
    the best weights it started with."""
    model.set_params(warm_start=True, **params)
    return _fit(model, X, y, validation_data=(X[:10], y[:10]), scoring=_nan)


def _assert_weights(model, weights):
    for got, want in zip([*model.coefs_, *model.intercepts_], weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_warm_start_without_improvement_keeps_the_best_weights():
    X, y = _data()
    model = _fit(xpnet.MLPRegressor(**COMMON, early_stopping=True), X, y)
    best = [p.copy() for p in [*model.coefs_, *model.intercepts_]]
    _assert_weights(_warm_nan_fit(model, X, y), best)
    assert all(math.isnan(s) for s in model.validation_scores_[-3:])


def test_a_warm_start_after_an_interrupted_fit_keeps_its_best_weights():
    """Ctrl-C in the last epoch leaves the last weights on the model and the best
    (the first epoch's) aside: a warm start that never improves ends on those."""
    X, y = _data()
    scores = iter([1.0, 0.0, 0.0])
    model = xpnet.MLPRegressor(**COMMON, early_stopping=True)

    def interrupt(model, history):
        if history.n_iter == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(
            model,
            X,
            y,
            validation_data=(X[:10], y[:10]),
            scoring=lambda *args: next(scores),
            callbacks=[interrupt],
        )
    best = [p.copy() for p in model._best_params_host]
    assert not np.array_equal(model.coefs_[0], best[0])
    _assert_weights(_warm_nan_fit(model, X, y), best)


def test_a_warm_start_in_another_dtype_casts_the_best_weights():
    X, y = _data()
    model = _fit(xpnet.MLPRegressor(**COMMON, early_stopping=True), X, y)
    best = [p.astype(np.float32) for p in [*model.coefs_, *model.intercepts_]]
    _warm_nan_fit(model, X, y, dtype="float32")
    assert [p.dtype for p in [*model.coefs_, *model.intercepts_]] == [np.float32] * 4
    _assert_weights(model, best)
