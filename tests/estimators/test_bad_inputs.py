"""Every bad input to the estimators (``fit``, ``partial_fit``, ``predict``,
``predict_proba``, ``score``) gets a clear error naming the argument, what was
expected and what was given (the tables are in ``tests/bad_inputs.py``).
"""

from __future__ import annotations

import re
from functools import partial

import numpy as np
import pytest
from bad_inputs import (
    BACKEND_AND_DTYPE,
    CLASSES,
    ESTIMATORS,
    METHODS,
    ON_FITTED,
    WRONG_FEATURES,
    X_CASES,
    Y_CASES,
    Bad,
    N,
    X,
    Y,
    assert_bad,
    estimator_under_test,
    fitted,
    forms,
    fresh,
    method_pairs,
    spoiled_X,
    spoiled_y,
)

import xpnet
from xpnet import NotFittedError

# The estimators take any library's arrays (copied to where they compute, answered in
# X's namespace: tests/estimators/test_array_api.py); MLP still refuses them.
ACCEPTED = ("X of another library", "y of another library")


@pytest.mark.parametrize(
    "case, kind, method",
    [
        pytest.param(case, kind, method, id=f"{kind}.{method}: {case[0]}")
        for case in X_CASES
        if case[0] not in ACCEPTED
        for kind, method in method_pairs(tuple(METHODS))
    ],
)
def test_estimators_refuse_bad_X(backend, case, kind, method):
    _, spoil, bad, _, host_only = case
    for data in spoiled_X(spoil, backend, host_only):
        model = estimator_under_test(kind, method, backend)
        call = partial(METHODS[method], model, data, Y[kind])
        assert_bad(call, bad, backend=backend.name)


@pytest.mark.parametrize(
    "kind, method", method_pairs(("partial_fit", "predict", "predict_proba", "score"))
)
def test_estimators_refuse_the_wrong_number_of_features(backend, kind, method):
    for data in forms(backend, X[:, :3]):
        model = fitted(kind, backend)
        assert_bad(partial(METHODS[method], model, data, Y[kind]), WRONG_FEATURES)


@pytest.mark.parametrize(
    "case, kind, method",
    [
        pytest.param(case, kind, method, id=f"{kind}.{method}: {case[0]}")
        for case in Y_CASES
        if case[0] not in ACCEPTED
        for kind, method in method_pairs(("fit", "partial_fit", "score"), case[2])
    ],
)
def test_estimators_refuse_bad_y(backend, case, kind, method):
    _, spoil, _, bad, host_only = case
    for data in spoiled_y(spoil, Y[kind], backend, host_only):
        model = estimator_under_test(kind, method, backend)
        assert_bad(partial(METHODS[method], model, X, data), bad, backend=backend.name)


# ---- labels, unfitted models --------------------------------------------------------

LABEL_CASES = [
    # id, estimator (fresh or fitted), y, classes, error
    (
        "label not in classes, first call",
        "fresh",
        np.where(Y["clf"] == 2, 7, Y["clf"]),
        CLASSES,
        Bad(ValueError, r"\by\b", r"classes_ \[0, 1, 2\]", r": \[7\]"),
    ),
    (
        "label not in classes, later call",
        "fitted",
        np.where(Y["clf"] == 2, 7, Y["clf"]),
        None,
        Bad(ValueError, r"\by\b", r"classes_ \[0, 1, 2\]", r": \[7\]"),
    ),
    (
        "no classes at the first call",
        "fresh",
        Y["clf"],
        None,
        Bad(ValueError, r"\bclasses\b", r"must be passed on the first call", r"None"),
    ),
    (
        "other classes at a later call",
        "fitted",
        Y["clf"],
        [0, 1, 5],
        Bad(ValueError, r"\bclasses\b", r"was: \[0, 1, 2\]", r"\[0, 1, 5\]"),
    ),
]


@pytest.mark.parametrize("case", LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
def test_partial_fit_refuses_labels_outside_classes(backend, case):
    _, state, y, classes, bad = case
    for data in forms(backend, y):
        model = fresh("clf", backend) if state == "fresh" else fitted("clf", backend)
        assert_bad(partial(model.partial_fit, X, data, classes=classes), bad)


@pytest.mark.parametrize("kind, method", method_pairs(ON_FITTED))
def test_unfitted_estimators_refuse_to_predict(backend, kind, method):
    bad = Bad(NotFittedError, r"This <Est> instance", r"Call 'fit'", r"not fitted yet")
    model = fresh(kind, backend)
    assert_bad(
        lambda: METHODS[method](model, X, Y[kind]), bad, Est=ESTIMATORS[kind].__name__
    )


# ---- settings: estimators (checked at fit, as scikit-learn does) --------------------


SETTINGS = [
    # id, parameters, error
    (
        "unknown activation",
        dict(activation="softplus"),
        Bad(ValueError, r"\bactivation\b", r"one of \['identity'", r"'softplus'"),
    ),
    (
        "unknown solver",
        dict(solver="newton"),
        Bad(
            ValueError, r"\bsolver\b", r"one of \['sgd', 'adam', 'lbfgs'\]", r"'newton'"
        ),
    ),
    (
        "hidden size zero",
        dict(hidden_layer_sizes=(4, 0)),
        Bad(ValueError, r"hidden_layer_sizes", r">= 1", r"got 0"),
    ),
    (
        "hidden size negative",
        dict(hidden_layer_sizes=-3),
        Bad(ValueError, r"hidden_layer_sizes", r">= 1", r"got -3"),
    ),
    (
        "batch_size zero",
        dict(batch_size=0),
        Bad(ValueError, r"\bbatch_size\b", r"int >= 1", r"got 0"),
    ),
    (
        "batch_size negative",
        dict(batch_size=-5),
        Bad(ValueError, r"\bbatch_size\b", r"int >= 1", r"got -5"),
    ),
    (
        "negative learning rate",
        dict(learning_rate_init=-0.1),
        Bad(ValueError, r"\blearning_rate_init\b", r"\(0\.0, inf\]", r"-0\.1"),
    ),
    *BACKEND_AND_DTYPE,
]


@pytest.mark.parametrize(
    "case, kind, method",
    [
        pytest.param(case, kind, method, id=f"{kind}.{method}: {case[0]}")
        for case in SETTINGS
        for kind, method in method_pairs(("fit", "partial_fit"))
    ],
)
def test_estimators_refuse_bad_settings_at_fit(case, kind, method):
    """Settings are checked before any array is made: once, not once per backend."""
    _, params, bad = case
    model = fresh(kind, xpnet.get_backend("numpy"), **params)  # takes anything
    assert_bad(lambda: METHODS[method](model, X, Y[kind]), bad)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
@pytest.mark.parametrize("kind, method", method_pairs(("fit", "partial_fit")))
def test_batch_size_above_n_is_clipped_with_a_warning(backend, kind, method):
    model = fresh(kind, backend, batch_size=N + 5)
    with pytest.warns(UserWarning) as record:
        METHODS[method](model, X, Y[kind])
    clipped = [w for w in record if "batch_size" in str(w.message)]
    assert len(clipped) == 1
    assert re.search(
        rf"batch_size={N + 5} is larger than the {N} training samples; it is clipped "
        rf"to {N}",
        str(clipped[0].message),
    )
    # it points at the caller's line (the call is made in tests/bad_inputs.py)
    assert clipped[0].filename == METHODS[method].__code__.co_filename
    assert model.t_ == N  # one epoch of one clipped batch
    assert model.predict(X).shape[0] == N
