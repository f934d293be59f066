"""xpnet's warnings name the line that called into xpnet (xpnet/caller.py), on every
path that reaches them: the same check sits at another depth under ``fit``,
``partial_fit``, ``predict`` and ``score``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from xpnet import ConvergenceWarning, MLPClassifier, MLPRegressor, caller
from xpnet.training import compiled
from xpnet.training.compiled import CompileWarning

X = np.random.default_rng(0).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)


def _caught(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return caught


def test_a_warning_said_outside_xpnet_names_its_own_line():
    caught = _caught(lambda: caller.warn("said here", RuntimeWarning))
    assert [(w.category, str(w.message), w.filename) for w in caught] == [
        (RuntimeWarning, "said here", __file__)
    ]


def _named_then_unnamed():
    pandas = pytest.importorskip("pandas")
    model = MLPClassifier(hidden_layer_sizes=(3,), max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(pandas.DataFrame(X, columns=list("abc")), Y)


def _small(**settings):
    return MLPClassifier(hidden_layer_sizes=(3,), random_state=0, **settings)


CALLS = {
    # X without the feature names it was fitted with: the check under each method
    "predict": (UserWarning, lambda: _named_then_unnamed().predict(X)),
    "predict_proba": (UserWarning, lambda: _named_then_unnamed().predict_proba(X)),
    "score": (UserWarning, lambda: _named_then_unnamed().score(X, Y)),
    "partial_fit": (UserWarning, lambda: _named_then_unnamed().partial_fit(X, Y)),
    # batch_size larger than the data, under fit and partial_fit
    "fit batch_size": (
        UserWarning,
        lambda: _small(batch_size=500, max_iter=300).fit(X, Y),
    ),
    "partial_fit batch_size": (
        UserWarning,
        lambda: _small(batch_size=500).partial_fit(X, Y, classes=[0, 1]),
    ),
    # the loop's and L-BFGS's convergence warnings
    "sgd convergence": (ConvergenceWarning, lambda: _small(max_iter=2).fit(X, Y)),
    "lbfgs convergence": (
        ConvergenceWarning,
        lambda: _small(solver="lbfgs", max_iter=2).fit(X, Y),
    ),
    "regressor convergence": (
        ConvergenceWarning,
        lambda: MLPRegressor(max_iter=2).fit(X, X[:, 0]),
    ),
    # compile=True running eagerly: said from the fit's setup (L-BFGS) and, through
    # partial_fit, from the loop's start (NumPy has no compiler)
    "compile lbfgs": (
        CompileWarning,
        lambda: _small(solver="lbfgs", max_iter=2, compile=True).fit(X, Y),
    ),
    "compile partial_fit": (
        CompileWarning,
        lambda: _small(compile=True).partial_fit(X, Y, classes=[0, 1]),
    ),
}


@pytest.mark.parametrize("case", list(CALLS))
def test_each_warning_names_the_callers_line(case, monkeypatch):
    monkeypatch.setattr(compiled, "_SAID", set())  # CompileWarning: once per process
    category, call = CALLS[case]
    caught = _caught(call)
    assert any(issubclass(w.category, category) for w in caught), caught
    assert {w.filename for w in caught} == {__file__}, [
        (w.category.__name__, w.filename, w.lineno) for w in caught
    ]
