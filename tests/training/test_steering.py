"""Callbacks that steer (issue 25, part 2): hyperparameters a callback changes with
``set_params`` take effect from the next epoch; the others are refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet import MLPClassifier, MLPRegressor

quiet = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


def _regression(n_samples=40, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    return X, np.sin(X @ rng.normal(size=n_features))


def _freeze_after_first(seen):
    def callback(model, history):
        seen.append([p.copy() for p in model.coefs_ + model.intercepts_])
        if history.n_iter == 1:
            model.set_params(learning_rate_init=0.0)

    return callback


@quiet
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_learning_rate_zero_from_a_callback_stops_the_weights(backend, solver):
    # SGD's velocity (scikit-learn's form, lr inside it) coasts on with momentum:
    # momentum=0 here.
    X, y = _regression()
    seen = []
    model = MLPRegressor(
        (5,),
        solver=solver,
        max_iter=4,
        tol=0.0,
        random_state=0,
        backend=backend,
        learning_rate_init=0.01,
        momentum=0.0,
    )
    model.fit(X, y, callbacks=[_freeze_after_first(seen)])
    assert len(seen) == 4 and model.learning_rate_init == 0.0
    moving = []
    model.set_params(learning_rate_init=0.01).fit(
        X, y, callbacks=[lambda m, h: moving.append(m.coefs_[0].copy())]
    )
    np.testing.assert_array_equal(moving[0], seen[0][0])  # same first epoch
    assert not np.array_equal(moving[1], moving[0])  # without the callback: moves
    for epoch in seen[1:]:
        for a, b in zip(epoch, seen[0], strict=True):
            np.testing.assert_array_equal(a, b)


@quiet
def test_sgd_momentum_and_adaptive_schedule_follow_a_new_rate():
    X, y = _regression()
    seen = []
    model = MLPRegressor(
        (5,),
        solver="sgd",
        momentum=0.0,
        learning_rate="invscaling",
        max_iter=3,
        tol=0.0,
        random_state=0,
    )
    model.fit(X, y, callbacks=[_freeze_after_first(seen)])
    for a, b in zip(seen[2], seen[0], strict=True):
        np.testing.assert_array_equal(a, b)


@quiet
def test_max_iter_and_tol_from_a_callback():
    X, y = _regression()

    def shorten(model, history):
        if history.n_iter == 2:
            model.set_params(max_iter=3)

    model = MLPRegressor((3,), max_iter=50, tol=0.0, random_state=0)
    model.fit(X, y, callbacks=[shorten])
    assert model.n_iter_ == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("hidden_layer_sizes", (7,)),
        ("batch_size", 3),
        ("solver", "sgd"),
        ("alpha", 1.0),
        ("early_stopping", True),
    ],
)
def test_other_parameters_are_refused_by_name(name, value):
    X, y = _regression()
    seen = []

    def change(model, history):
        seen.append([p.copy() for p in model.coefs_])
        model.set_params(**{name: value})

    model = MLPRegressor((3,), max_iter=5, random_state=0)
    with pytest.raises(ValueError, match=f"'{name}'.*mid-fit"):
        model.fit(X, y, callbacks=[change])
    assert len(seen) == 1  # refused after the first epoch
    # a failed fit leaves the estimator as it was: unfitted, the parameter unchanged
    assert not model.__sklearn_is_fitted__()
    assert model.get_params()[name] == MLPRegressor((3,)).get_params()[name]


def test_bad_steered_value_is_refused_by_name():
    X, y = _regression()

    def change(model, history):
        model.set_params(learning_rate_init=-1.0)

    with pytest.raises(ValueError, match="learning_rate_init"):
        MLPRegressor((3,), max_iter=3).fit(X, y, callbacks=[change])


def test_lbfgs_refuses_every_change():
    pytest.importorskip("scipy")
    X, y = _regression()

    def change(model, history):
        model.set_params(tol=0.5)

    with pytest.raises(ValueError, match="'tol'.*lbfgs"):
        MLPClassifier((3,), solver="lbfgs", max_iter=5).fit(
            X, y > 0, callbacks=[change]
        )
