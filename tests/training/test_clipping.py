"""``max_grad_norm`` (issue 29): the global norm of every applied gradient is at most
the bound; with a bound never reached the fit is bit-identical to no clipping."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet import MLPRegressor
from xpnet.maths.optim import SGD, Adam

quiet = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


def _regression(n_samples=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4)) * 3.0
    return X, 5.0 * np.sin(X @ rng.normal(size=4))


@quiet
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_every_applied_gradient_is_within_the_bound(monkeypatch, solver):
    cls = {"adam": Adam, "sgd": SGD}[solver]
    norms = []
    original = cls.step_flat

    def recording(self, params, grads):
        norms.append(float(np.linalg.norm(np.asarray(grads, dtype=np.float64))))
        return original(self, params, grads)

    monkeypatch.setattr(cls, "step_flat", recording)
    X, y = _regression()
    bound = 0.5
    kwargs = {"solver": solver, "max_iter": 3, "random_state": 0, "dtype": "float64"}
    MLPRegressor((6,), alpha=0.01, **kwargs).fit(X, y)
    free = list(norms)
    norms.clear()
    MLPRegressor((6,), alpha=0.01, max_grad_norm=bound, **kwargs).fit(X, y)
    assert max(free) > bound  # the bound bites
    assert len(norms) == len(free)
    assert max(norms) <= bound * (1 + 1e-12)
    assert any(abs(n - bound) <= 1e-12 for n in norms)


@quiet
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_a_large_bound_is_bit_identical(backend, solver):
    X, y = _regression()
    kwargs = {"solver": solver, "max_iter": 3, "random_state": 0, "backend": backend}
    if solver == "sgd":
        kwargs["momentum"] = 0.0  # the path that folds -lr into backprop
    plain = MLPRegressor((6,), **kwargs).fit(X, y)
    loose = MLPRegressor((6,), max_grad_norm=1e30, **kwargs).fit(X, y)
    first, second = plain.coefs_ + plain.intercepts_, loose.coefs_ + loose.intercepts_
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert plain.loss_curve_ == loose.loss_curve_
    tight = MLPRegressor((6,), max_grad_norm=1e-3, **kwargs).fit(X, y)
    assert tight.loss_curve_ != plain.loss_curve_


@quiet
def test_sgd_without_momentum_clips_the_gradient_not_the_update(monkeypatch):
    updates = []
    original = SGD.apply_flat

    def recording(self, params, grads):
        updates.append(float(np.linalg.norm(np.asarray(grads, dtype=np.float64))))
        return original(self, params, grads)

    monkeypatch.setattr(SGD, "apply_flat", recording)
    X, y = _regression()
    lr = 0.01
    MLPRegressor(
        (6,),
        solver="sgd",
        momentum=0.0,
        learning_rate_init=lr,
        max_grad_norm=0.5,
        max_iter=2,
        random_state=0,
        dtype="float64",
    ).fit(X, y)
    assert max(updates) <= lr * 0.5 * (1 + 1e-12)  # the update is -lr * gradient


def test_bad_bound_is_refused():
    X, y = _regression()
    with pytest.raises(ValueError, match="max_grad_norm"):
        MLPRegressor((3,), max_grad_norm=0.0).fit(X, y)
