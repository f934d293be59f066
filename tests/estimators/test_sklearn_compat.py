"""scikit-learn's estimator checks (its array-API checks among them) and
meta-estimators on both estimators, default parameters."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers import skip_unless_array_api_runs

from xpnet import MLPClassifier, MLPRegressor, NotFittedError

pytest.importorskip("sklearn")
from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

# scikit-learn's own test suite runs its MLPs with max_iter=100 in these checks; the
# rest is the defaults (dtype and backend follow X), with no expected failure.
ESTIMATORS = [
    MLPClassifier(max_iter=100),
    MLPRegressor(max_iter=100),
    MLPClassifier(solver="lbfgs", max_iter=100),
    MLPRegressor(solver="lbfgs", max_iter=100),
]

# xpnet keeps scikit-learn optional, so its estimators do not inherit from
# BaseEstimator; scikit-learn 1.6-1.8 warn about that while the checks are collected
# (pyproject.toml's filterwarnings lets that one warning through). The array-API
# checks among them (the tags say array_api_support) run with SCIPY_ARRAY_API=1,
# which tests/conftest.py sets.
checks = parametrize_with_checks(ESTIMATORS)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
@checks
def test_scikit_learn_estimator_checks(estimator, check):
    skip_unless_array_api_runs(check)  # cupy, torch cuda: only on a GPU machine
    check(estimator)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_pipeline_grid_search_and_cross_validation():
    X, y = make_classification(n_samples=150, n_features=6, random_state=0)
    pipe = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.02, max_iter=60),
    )
    grid = GridSearchCV(
        pipe,
        {"mlpclassifier__alpha": [1e-4, 1e-1], "mlpclassifier__random_state": [0]},
        cv=3,
    )
    grid.fit(X, y)
    assert grid.best_params_["mlpclassifier__alpha"] in (1e-4, 1e-1)
    assert grid.score(X, y) > 0.8
    scores = cross_val_score(
        MLPClassifier((8,), learning_rate_init=0.02, max_iter=60, random_state=0),
        X,
        y,
        cv=3,
    )
    assert scores.shape == (3,) and scores.mean() > 0.7

    Xr, yr = make_regression(n_samples=120, n_features=4, noise=1.0, random_state=0)
    reg = make_pipeline(
        StandardScaler(),
        MLPRegressor(
            hidden_layer_sizes=(16,),
            learning_rate_init=0.05,
            max_iter=200,
            random_state=0,
        ),
    )
    r2 = cross_val_score(reg, Xr, yr / yr.std(), cv=3)
    assert r2.mean() > 0.8


def test_clone_and_params():
    model = MLPClassifier(hidden_layer_sizes=(5, 3), solver="sgd", dtype="float64")
    twin = clone(model)
    assert twin is not model
    assert twin.get_params() == model.get_params()
    assert is_classifier(model) and is_regressor(MLPRegressor())
    assert repr(model) == (
        "MLPClassifier(hidden_layer_sizes=(5, 3), solver='sgd', dtype='float64')"
    )
    with pytest.raises(ValueError, match="Invalid parameter 'hidden'"):
        model.set_params(hidden=3)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_pickle_round_trip_keeps_the_optimizer():
    """Copies (joblib, pickle) keep weights and the optimizer: partial_fit continues
    identically on the copy."""
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    model = MLPRegressor(hidden_layer_sizes=(4,), shuffle=False, dtype="float64")
    model.partial_fit(X, y)
    twin = pickle.loads(pickle.dumps(model))
    model.partial_fit(X, y)
    twin.partial_fit(X, y)
    for a, b in zip(model.coefs_, twin.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)


def test_not_fitted_error_is_also_scikit_learns():
    with pytest.raises(NotFittedError) as info:
        MLPRegressor().predict(np.zeros((2, 2)))
    assert isinstance(info.value, SklearnNotFittedError)
