"""Full-batch L-BFGS (:mod:`xpnet.training.lbfgs`): what a fit tells its callbacks
and prints, its dtype, the start-is-optimal and diverging ends, a missing SciPy."""

from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import pytest

from xpnet import DivergenceError, MLPRegressor
from xpnet.training.errors import DIVERGED
from xpnet.training.lbfgs import _scipy_minimize


def _regression(n_samples=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    return X, np.sin(X @ rng.normal(size=3))


def test_a_callback_sees_each_iteration_and_may_stop_without_a_warning(capsys):
    X, y = _regression()
    seen = []

    def stop_at_two(model, history):
        seen.append((history.n_iter, list(history.loss_curve)))
        return history.n_iter == 2

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stopped by the callback: no warning
        model = MLPRegressor((4,), solver="lbfgs", max_iter=50, verbose=True)
        model.fit(X, y, callbacks=[stop_at_two])
    curve = model.loss_curve_
    assert seen == [(1, curve[:1]), (2, curve[:2])]
    assert model.n_iter_ == 2
    printed = capsys.readouterr().out.splitlines()[1:]  # after the model's line
    # the callback stops the second iteration before it is printed
    assert printed == [f"Iteration 1, loss = {curve[0]:.8f}"]


def test_a_start_that_is_already_optimal_records_its_loss():
    X, y = _regression()
    model = MLPRegressor((4,), solver="lbfgs", tol=1e10, dtype="float64").fit(X, y)
    assert model.n_iter_ == 0
    assert len(model.loss_curve_) == 1 and type(model.loss_curve_[0]) is float
    assert 0 < model.loss_curve_[0] < np.inf  # the loss of the starting weights


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_float32_models_keep_float32_weights():
    X, y = _regression()
    model = MLPRegressor((4,), solver="lbfgs", max_iter=3, dtype="float32").fit(X, y)
    assert {p.dtype for p in model.coefs_ + model.intercepts_} == {np.dtype("float32")}


def test_divergence_keeps_the_start_and_says_so():
    X, y = _regression()
    model = MLPRegressor((4,), solver="lbfgs", activation="identity", max_iter=3)
    message = (
        "L-BFGS diverged: the loss is nan; the model keeps its starting weights. "
        f"{DIVERGED}: scale the inputs or raise alpha"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # NumPy's overflow: silent
        with pytest.raises(DivergenceError, match=f"^{re.escape(message)}$"):
            model.fit(X * 1e200, y)


def test_without_scipy_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # the import fails
    message = (
        "solver='lbfgs' needs SciPy, which is not installed: pip install "
        "'xpnet[lbfgs]' (or pip install scipy)"
    )
    with pytest.raises(ImportError, match=f"^{re.escape(message)}$"):
        _scipy_minimize()
