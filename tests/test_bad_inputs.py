"""Issue 6, section 1: every bad input at every boundary gets a clear error.

The boundaries are the estimators (``fit``, ``partial_fit``, ``predict``,
``predict_proba``, ``score``), :class:`xpnet.MLP` (constructor, ``from_weights``,
``forward``, ``loss_and_gradients``, ``sgd_step``), :func:`xpnet.load` and the CLI.
Each row of the tables below is one bad input. Its :class:`Bad` gives the exception
type and three regular expressions, and the message must match all three: the
argument, what was expected, and what was given. ``<backend>`` and ``<Est>`` in a
pattern stand for the backend's name and the estimator's class name.

The array boundaries run on every backend of the ``backend`` fixture. Bad data is
passed as host NumPy data and also as an array of the model's own backend. The CLI
takes host data only, so it runs once.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pytest

import xpnet
from xpnet import MLP, MLPClassifier, MLPRegressor, NotFittedError, validation
from xpnet.command import cli
from xpnet.files import model_file, tensor_file
from xpnet.testing.plugin import selected_backends

N, F = 20, 4
CLASSES = [0, 1, 2]
_rng = np.random.default_rng(0)
X = _rng.normal(size=(N, F))
Y = {
    "reg": np.tanh(X @ _rng.normal(size=F)),
    "clf": np.arange(N) % 3,  # every class present
}
ESTIMATORS = {"reg": MLPRegressor, "clf": MLPClassifier}


@dataclass(frozen=True)
class Bad:
    """The error a bad input must raise, and what its message must name."""

    error: type[Exception] | tuple[type[Exception], ...]
    argument: str
    expected: str
    given: str


def assert_bad(call: Callable[[], Any], bad: Bad, **names: str) -> None:
    """``call()`` raises ``bad.error`` (a ValueError or TypeError) whose message
    matches the argument, expected and given patterns (``<name>`` substituted)."""
    with pytest.raises(bad.error) as info:
        call()
    assert isinstance(info.value, (ValueError, TypeError)), type(info.value)
    message = str(info.value)
    for part in ("argument", "expected", "given"):
        pattern = getattr(bad, part)
        for name, value in names.items():
            pattern = pattern.replace(f"<{name}>", re.escape(value))
        assert re.search(pattern, message), (
            f"the message does not name the {part} ({pattern!r}): {message}"
        )


def forms(backend: xpnet.Backend, host: Any, host_only: bool = False) -> list[Any]:
    """Bad data as given to a boundary: host data, and an array of the backend."""
    if host_only or backend.library == "numpy":
        return [host]
    return [host, backend.asarray(host)]


def foreign(backend: xpnet.Backend, host: np.ndarray) -> Any:
    """``host`` as an array of another array library than the backend's."""
    for other in ("torch", "array_api_strict"):
        if other != backend.library:
            try:
                return xpnet.get_backend(other).asarray(host)
            except xpnet.BackendError:
                continue
    pytest.skip("no second array library (torch or array-api-strict) installed")


FOREIGN = r"is an? (torch|array_api_strict) array"

_FITTED: dict[tuple[str, str], Any] = {}


def fresh(kind: str, on: xpnet.Backend, **params: Any) -> Any:
    """An unfitted estimator on backend ``on`` (``params`` may name another)."""
    settings = dict(hidden_layer_sizes=(3,), max_iter=1, random_state=0)
    return ESTIMATORS[kind](**{**settings, "backend": on.name, **params})


def fitted(kind: str, backend: xpnet.Backend) -> Any:
    """A copy of an estimator fitted on (X, Y[kind]) on ``backend`` (fitted once)."""
    key = (kind, backend.name)
    if key not in _FITTED:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
            _FITTED[key] = fresh(kind, backend).fit(X, Y[kind])
    return copy.deepcopy(_FITTED[key])


def partial_fit(model: Any, X: Any, y: Any) -> Any:
    if isinstance(model, MLPClassifier):
        return model.partial_fit(X, y, classes=CLASSES)
    return model.partial_fit(X, y)


METHODS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "fit": lambda model, X, y: model.fit(X, y),
    "partial_fit": partial_fit,
    "predict": lambda model, X, y: model.predict(X),
    "predict_proba": lambda model, X, y: model.predict_proba(X),
    "score": lambda model, X, y: model.score(X, y),
}
ON_FITTED = ("predict", "predict_proba", "score")


def estimator_under_test(kind: str, method: str, backend: xpnet.Backend) -> Any:
    return fitted(kind, backend) if method in ON_FITTED else fresh(kind, backend)


def method_pairs(methods: tuple[str, ...], kinds=("reg", "clf")) -> list[tuple]:
    return [
        (kind, method)
        for kind in kinds
        for method in methods
        if method != "predict_proba" or kind == "clf"
    ]


# ---- shape, size and values of X: estimators and MLP --------------------------------

NO_ROWS = Bad(ValueError, r"\bX\b", r"minimum of 1|must not be empty", r"\(0, 4\)")
NON_FINITE = Bad(ValueError, r"\bX\b", r"must be finite", r"NaN or inf")
X_CASES = [
    # id, spoil X, the estimators' error, MLP's error, host data only
    (
        "X 1-D",
        lambda X: X[:, 0],
        Bad(ValueError, r"\bX\b", r"must be 2-D|must be a 2-D", r"1-D shape \(20,\)"),
        None,
        False,
    ),
    (
        "X 3-D",
        lambda X: X[:, :, None],
        Bad(
            ValueError,
            r"\bX\b",
            r"must be 2-D|must be a 2-D",
            r"3-D shape \(20, 4, 1\)",
        ),
        None,
        False,
    ),
    ("X without rows", lambda X: X[:0], NO_ROWS, None, False),
    (
        "X without columns",
        lambda X: X[:, :0],
        Bad(
            ValueError,
            r"\bX\b",
            r"minimum of 1|must not be empty|expecting 4 features",
            r"\(20, 0\)|has 0 features",
        ),
        Bad(ValueError, r"\bX\b", r"must not be empty", r"\(20, 0\)"),
        False,
    ),
    ("X with NaN", lambda X: np.where(X > 1, np.nan, X), NON_FINITE, None, False),
    ("X with inf", lambda X: np.where(X > 1, -np.inf, X), NON_FINITE, None, False),
    (
        "X of text",
        lambda X: np.full(X.shape, "a"),
        Bad(TypeError, r"\bX\b", r"real numbers", r"dtype <U1"),
        None,
        True,
    ),
    (
        "X complex",
        lambda X: X + 1j,
        Bad((ValueError, TypeError), r"\bX\b", r"real numbers", r"complex128"),
        Bad(TypeError, r"\bX\b", r"real numbers", r"complex128"),
        False,
    ),
    (
        "X of another library",
        None,  # made per backend by foreign()
        Bad(
            TypeError, r"\bX\b", r"host NumPy data or an array of '<backend>'", FOREIGN
        ),
        None,
        True,
    ),
]
WRONG_FEATURES = Bad(ValueError, r"\bX\b", r"expecting 4 features", r"X has 3 features")


def _spoiled_X(spoil, backend: xpnet.Backend, host_only: bool) -> list[Any]:
    if spoil is None:
        return [foreign(backend, X)]
    return forms(backend, spoil(X), host_only)


@pytest.mark.parametrize(
    "case, kind, method",
    [
        pytest.param(case, kind, method, id=f"{kind}.{method}: {case[0]}")
        for case in X_CASES
        for kind, method in method_pairs(tuple(METHODS))
    ],
)
def test_estimators_refuse_bad_X(backend, case, kind, method):
    _, spoil, bad, _, host_only = case
    for data in _spoiled_X(spoil, backend, host_only):
        model = estimator_under_test(kind, method, backend)
        call = partial(METHODS[method], model, data, Y[kind])
        assert_bad(call, bad, backend=backend.name)


@pytest.mark.parametrize(
    "case, method",
    [
        pytest.param(case, method, id=f"MLP.{method}: {case[0]}")
        for case in X_CASES
        for method in ("forward", "loss_and_gradients")
    ],
)
def test_mlp_refuses_bad_X(backend, case, method):
    _, spoil, est_bad, mlp_bad, host_only = case
    net = MLP([F, 3, 1], seed=0, backend=backend)
    for data in _spoiled_X(spoil, backend, host_only):
        call = (
            partial(net.forward, data)
            if method == "forward"
            else partial(net.loss_and_gradients, data, Y["reg"])
        )
        assert_bad(call, mlp_bad or est_bad, backend=backend.name)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("shape", [(3000, 7), (40, 30, 9)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_large_host_data_is_checked_entry_by_entry(dtype, shape, bad):
    """Large data takes the fast path (BLAS row sums for a float32/float64 matrix,
    else one sum); it must agree with the plain check, and huge finite values whose
    sums overflow must not be taken for inf."""
    big = np.finfo(dtype).max
    data = np.full(shape, big / 2, dtype=dtype)
    data.reshape(-1)[1::2] = big  # every row sum overflows to inf
    if bad is not None:
        data.reshape(-1)[-5] = bad
    expected = bad is None
    assert validation._all_finite(data) is expected
    if bad is not None and len(shape) == 2:
        with pytest.raises(ValueError, match=r"X must be finite.*row 2999, column 2"):
            validation.host_matrix(data, "X")


@pytest.mark.parametrize(
    "kind, method", method_pairs(("partial_fit", "predict", "predict_proba", "score"))
)
def test_estimators_refuse_the_wrong_number_of_features(backend, kind, method):
    for data in forms(backend, X[:, :3]):
        model = fitted(kind, backend)
        assert_bad(partial(METHODS[method], model, data, Y[kind]), WRONG_FEATURES)


@pytest.mark.parametrize("method", ["forward", "loss_and_gradients"])
def test_mlp_refuses_the_wrong_number_of_features(backend, method):
    net = MLP([F, 3, 1], seed=0, backend=backend)
    bad = Bad(ValueError, r"\bX\b", r"must have 4 columns", r"\(20, 3\)")
    for data in forms(backend, X[:, :3]):
        arguments = (data,) if method == "forward" else (data, Y["reg"])
        assert_bad(partial(getattr(net, method), *arguments), bad)


# ---- shape, size and values of y ----------------------------------------------------

Y_CASES = [
    # id, spoil y (float64 copy), estimator kinds, error, host data only
    (
        "y shorter than X",
        lambda y: y[:-1],
        ("reg", "clf"),
        Bad(ValueError, r"\by\b", r"20 rows", r"shape \(19,"),
        False,
    ),
    (
        "y empty",
        lambda y: y[:0],
        ("reg", "clf"),
        Bad(ValueError, r"\by\b", r"20 rows|must not be empty", r"shape \(0,"),
        False,
    ),
    (
        "y 3-D",
        lambda y: y[:, None, None],
        ("reg", "clf"),
        Bad(ValueError, r"\by\b", r"2-D", r"\(20, 1, 1\)"),
        False,
    ),
    (
        "y with NaN",
        lambda y: np.where(y > 0.5, np.nan, y),
        ("reg", "clf"),
        Bad(ValueError, r"\by\b", r"finite", r"NaN or inf"),
        False,
    ),
    (
        "y with inf",
        lambda y: np.where(y > 0.5, np.inf, y),
        ("reg", "clf"),
        Bad(ValueError, r"\by\b", r"finite", r"NaN or inf"),
        False,
    ),
    (
        "y of text",  # text is a valid class label: regression targets only
        lambda y: np.full(y.shape, "a"),
        ("reg",),
        Bad(TypeError, r"\by\b", r"real numbers", r"dtype <U1"),
        True,
    ),
    (
        "y of another library",
        None,
        ("reg", "clf"),
        Bad(
            TypeError, r"\by\b", r"host NumPy data or an array of '<backend>'", FOREIGN
        ),
        True,
    ),
]


def _spoiled_y(spoil, y: np.ndarray, backend, host_only: bool) -> list[Any]:
    if spoil is None:
        return [foreign(backend, y)]
    return forms(backend, spoil(y.astype(np.float64)), host_only)


@pytest.mark.parametrize(
    "case, kind, method",
    [
        pytest.param(case, kind, method, id=f"{kind}.{method}: {case[0]}")
        for case in Y_CASES
        for kind, method in method_pairs(("fit", "partial_fit", "score"), case[2])
    ],
)
def test_estimators_refuse_bad_y(backend, case, kind, method):
    _, spoil, _, bad, host_only = case
    for data in _spoiled_y(spoil, Y[kind], backend, host_only):
        model = estimator_under_test(kind, method, backend)
        assert_bad(partial(METHODS[method], model, X, data), bad, backend=backend.name)


@pytest.mark.parametrize("case", Y_CASES, ids=[f"MLP: {c[0]}" for c in Y_CASES])
def test_mlp_refuses_bad_y(backend, case):
    _, spoil, _, bad, host_only = case
    net = MLP([F, 3, 1], seed=0, backend=backend)
    for data in _spoiled_y(spoil, Y["reg"], backend, host_only):
        call = partial(net.loss_and_gradients, X, data)
        assert_bad(call, bad, backend=backend.name)


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

DTYPE = r"'float32' or 'float64'"
# Both the estimators and MLP take a backend and a dtype, refused alike.
BACKEND_AND_DTYPE = [
    # id, parameters, error
    (
        "unknown backend",
        dict(backend="tpu"),
        Bad(xpnet.BackendError, r"\bbackend\b", r"choose one of numpy", r"'tpu'"),
    ),
    (
        "unknown dtype",
        dict(dtype="float16"),
        Bad(ValueError, r"\bdtype\b", DTYPE, r"'float16'"),
    ),
    ("int dtype", dict(dtype="int32"), Bad(ValueError, r"\bdtype\b", DTYPE, r"int32")),
    (
        "int dtype object",
        dict(dtype=np.int64),
        Bad(ValueError, r"\bdtype\b", DTYPE, r"int64"),
    ),
    *(
        (
            f"complex dtype {how}",
            dict(dtype=dtype),
            Bad(ValueError, r"\bdtype\b", DTYPE, name),
        )
        for name in ("complex64", "complex128")
        for how, dtype in (("name", name), ("object", getattr(np, name)))
    ),
]
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
def test_estimators_refuse_bad_settings_at_fit(backend, case, kind, method):
    _, params, bad = case
    model = fresh(kind, backend, **params)  # the constructor takes anything
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
    assert clipped[0].filename == __file__  # it points at the caller's line
    assert model.t_ == N  # one epoch of one clipped batch
    assert model.predict(X).shape[0] == N


# ---- MLP: constructor, from_weights, sgd_step ---------------------------------------

MLP_SETTINGS = [
    # id, constructor arguments, error
    (
        "layer size zero",
        dict(layer_sizes=[F, 0, 1]),
        Bad(ValueError, r"\blayer_sizes\b", r">= 1", r"got 0"),
    ),
    (
        "no layer sizes",
        dict(layer_sizes=[]),
        Bad(ValueError, r"\blayer_sizes\b", r"at least 2 sizes", r"got \[\]"),
    ),
    (
        "layer size negative",
        dict(layer_sizes=[F, -2, 1]),
        Bad(ValueError, r"\blayer_sizes\b", r">= 1", r"got -2"),
    ),
    (
        "unknown hidden activation",
        dict(hidden_activation="softplus"),
        Bad(ValueError, r"\bhidden_activation\b", r"one of \[", r"'softplus'"),
    ),
    (
        "unknown output activation",
        dict(output_activation="gelu"),
        Bad(ValueError, r"\boutput_activation\b", r"one of \[", r"'gelu'"),
    ),
    (
        "negative seed",
        dict(seed=-1),
        Bad(ValueError, r"\bseed\b", r"int in \[0, 2\*\*32\)", r"got -1"),
    ),
    *BACKEND_AND_DTYPE,
]


@pytest.mark.parametrize("case", MLP_SETTINGS, ids=[c[0] for c in MLP_SETTINGS])
def test_mlp_constructor_refuses_bad_settings(backend, case):
    _, changes, bad = case
    arguments = dict(layer_sizes=[F, 3, 1], seed=0, backend=backend.name) | changes
    assert_bad(lambda: MLP(**arguments), bad)


W = [_rng.normal(size=(F, 3)), _rng.normal(size=(3, 1))]
B = [np.zeros(3), np.zeros(1)]
FROM_WEIGHTS = [
    # id, arguments made from (backend, W, B), error
    (
        "weights 1-D",
        lambda b, W, B: dict(weights=[W[0].ravel(), W[1]]),
        Bad(ValueError, r"weights\[0\]", r"2-D \(fan_in, fan_out\)", r"shape \(12,\)"),
    ),
    (
        "weights 3-D",
        lambda b, W, B: dict(weights=[W[0][:, :, None], W[1]]),
        Bad(ValueError, r"weights\[0\]", r"2-D \(fan_in, fan_out\)", r"\(4, 3, 1\)"),
    ),
    (
        "no weights",
        lambda b, W, B: dict(weights=[]),
        Bad(ValueError, r"\bweights\b", r"at least one", r"got \[\]"),
    ),
    (
        "empty weights",
        lambda b, W, B: dict(weights=[W[0][:0], W[1]]),
        Bad(ValueError, r"weights\[0\]", r"non-empty", r"\(0, 3\)"),
    ),
    (
        "weights that do not chain",
        lambda b, W, B: dict(weights=[W[0], W[1][:2]]),
        Bad(ValueError, r"weights\[1\]", r"3 rows", r"got \(2, 1\)"),
    ),
    (
        "biases of the wrong shape",
        lambda b, W, B: dict(weights=W, biases=[B[0][:2], B[1]]),
        Bad(ValueError, r"biases\[0\]", r"shape \(3,\)", r"got \(2,\)"),
    ),
    (
        "weights with NaN",
        lambda b, W, B: dict(weights=[np.where(W[0] > 0, np.nan, W[0]), W[1]]),
        Bad(ValueError, r"weights\[0\]", r"finite", r"NaN or inf"),
    ),
    (
        "biases with inf",
        lambda b, W, B: dict(weights=W, biases=[B[0] + np.inf, B[1]]),
        Bad(ValueError, r"biases\[0\]", r"finite", r"NaN or inf"),
    ),
    (
        "weights of text",
        lambda b, W, B: dict(weights=[np.full(W[0].shape, "a"), W[1]]),
        Bad(TypeError, r"weights\[0\]", r"real numbers", r"dtype <U1"),
    ),
    (
        "complex weights",
        lambda b, W, B: dict(weights=[W[0] + 1j, W[1]]),
        Bad(TypeError, r"weights\[0\]", r"real numbers", r"complex128"),
    ),
    (
        "weights of another library",
        lambda b, W, B: dict(weights=[foreign(b, W[0]), W[1]]),
        Bad(
            TypeError,
            r"weights\[0\]",
            r"host NumPy data or an array of '<backend>'",
            FOREIGN,
        ),
    ),
    (
        "unknown activation",
        lambda b, W, B: dict(weights=W, hidden_activation="swish"),
        Bad(ValueError, r"\bhidden_activation\b", r"one of \[", r"'swish'"),
    ),
    (
        "int dtype",
        lambda b, W, B: dict(weights=W, dtype="int64"),
        Bad(ValueError, r"\bdtype\b", DTYPE, r"int64"),
    ),
    (
        "complex dtype",
        lambda b, W, B: dict(weights=W, dtype="complex64"),
        Bad(ValueError, r"\bdtype\b", DTYPE, r"complex64"),
    ),
    (
        "unknown backend",
        lambda b, W, B: dict(weights=W, backend="tpu"),
        Bad(xpnet.BackendError, r"\bbackend\b", r"choose one of numpy", r"'tpu'"),
    ),
]


@pytest.mark.parametrize("case", FROM_WEIGHTS, ids=[c[0] for c in FROM_WEIGHTS])
def test_mlp_from_weights_refuses_bad_weights(backend, case):
    _, make, bad = case
    arguments = dict(biases=B, backend=backend.name) | make(backend, W, B)
    assert_bad(lambda: MLP.from_weights(**arguments), bad, backend=backend.name)


def _gradients(net: MLP) -> tuple[list[Any], list[Any]]:
    _, weight_grads, bias_grads = net.loss_and_gradients(X, Y["reg"])
    return weight_grads, bias_grads


SGD_STEPS = [
    # id, arguments made from (backend, net, weight grads, bias grads), error
    (
        "negative lr",
        lambda b, net, gw, gb: (gw, gb, -0.1),
        Bad(ValueError, r"\blr\b", r"> 0", r"-0\.1"),
    ),
    (
        "zero lr",
        lambda b, net, gw, gb: (gw, gb, 0.0),
        Bad(ValueError, r"\blr\b", r"> 0", r"got 0\.0"),
    ),
    (
        "NaN lr",
        lambda b, net, gw, gb: (gw, gb, float("nan")),
        Bad(ValueError, r"\blr\b", r"finite number > 0", r"nan"),
    ),
    (
        "gradients of the wrong shape",
        lambda b, net, gw, gb: (gw[::-1], gb, 0.1),
        Bad(ValueError, r"weight_grads\[0\]", r"shape \(4, 3\)", r"got \(3, 1\)"),
    ),
    (
        "gradients missing a layer",
        lambda b, net, gw, gb: (gw[:1], gb, 0.1),
        Bad(ValueError, r"\bweight_grads\b", r"list of 2 arrays", r"length 1"),
    ),
    (
        "bias gradients missing",
        lambda b, net, gw, gb: (gw, None, 0.1),
        Bad(ValueError, r"\bbias_grads\b", r"list of 2 arrays", r"got NoneType"),
    ),
    (
        "gradients of another library",  # e.g. NumPy gradients into a torch MLP
        lambda b, net, gw, gb: (
            [
                foreign(b, b.to_numpy(g)) if b.library == "numpy" else b.to_numpy(g)
                for g in gw
            ],
            gb,
            0.1,
        ),
        Bad(
            TypeError,
            r"weight_grads\[0\]",
            r"an array of backend '<backend>'",
            r"got (numpy\.ndarray|torch\.Tensor|array_api_strict\.\S*Array)",
        ),
    ),
]


@pytest.mark.parametrize("case", SGD_STEPS, ids=[c[0] for c in SGD_STEPS])
def test_mlp_sgd_step_refuses_bad_arguments(backend, case):
    _, make, bad = case
    net = MLP([F, 3, 1], seed=0, backend=backend)
    before = net.get_weights()
    arguments = make(backend, net, *_gradients(net))
    assert_bad(lambda: net.sgd_step(*arguments), bad, backend=backend.name)
    for kept, old in zip(net.get_weights(), before, strict=True):
        np.testing.assert_array_equal(kept, old)  # refused before any update


# ---- arrays on another device of the model's own library ----------------------------

DEVICE_PAIRS = [
    ("array_api_strict", "array_api_strict:device1"),
    ("array_api_strict:device1", "array_api_strict"),
    ("torch", "torch:cuda"),
    ("torch:cuda", "torch"),
    ("cupy", "cupy:1"),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device_pair" in metafunc.fixturenames:
        chosen = selected_backends(metafunc.config)
        pairs = [pair for pair in DEVICE_PAIRS if pair[0] in chosen]
        metafunc.parametrize("device_pair", pairs, ids=["-".join(p) for p in pairs])


DEVICE_CALLS = [
    ("reg.fit X", lambda m, net, on: m["reg"]().fit(on(X), Y["reg"])),
    ("reg.fit y", lambda m, net, on: m["reg"]().fit(X, on(Y["reg"]))),
    ("clf.partial_fit X", lambda m, net, on: partial_fit(m["clf"](), on(X), Y["clf"])),
    ("clf.partial_fit y", lambda m, net, on: partial_fit(m["clf"](), X, on(Y["clf"]))),
    ("reg.predict", lambda m, net, on: m["reg fitted"]().predict(on(X))),
    ("clf.predict_proba", lambda m, net, on: m["clf fitted"]().predict_proba(on(X))),
    ("clf.score X", lambda m, net, on: m["clf fitted"]().score(on(X), Y["clf"])),
    ("reg.score y", lambda m, net, on: m["reg fitted"]().score(X, on(Y["reg"]))),
    ("MLP.forward", lambda m, net, on: net.forward(on(X))),
    (
        "MLP.loss_and_gradients X",
        lambda m, net, on: net.loss_and_gradients(on(X), Y["reg"]),
    ),
    (
        "MLP.loss_and_gradients y",
        lambda m, net, on: net.loss_and_gradients(X, on(Y["reg"])),
    ),
    (
        "MLP.from_weights",
        lambda m, net, on: MLP.from_weights([on(W[0]), W[1]], backend=net.backend),
    ),
]


@pytest.mark.backend
@pytest.mark.parametrize("call", DEVICE_CALLS, ids=[c[0] for c in DEVICE_CALLS])
def test_arrays_on_another_device_are_refused(device_pair, call):
    try:
        model_backend, other = (xpnet.get_backend(spec) for spec in device_pair)
    except xpnet.BackendError as exc:
        pytest.skip(f"needs backends {device_pair}: {exc}")
    models = {
        kind: (lambda kind=kind: fresh(kind, model_backend)) for kind in ESTIMATORS
    } | {
        f"{kind} fitted": (lambda kind=kind: fitted(kind, model_backend))
        for kind in ESTIMATORS
    }
    net = MLP([F, 3, 1], seed=0, backend=model_backend)
    bad = Bad(ValueError, r"\b(X|y)\b|weights\[0\]", r"model is on", r"is on device")
    assert_bad(lambda: call[1](models, net, other.asarray), bad)


@pytest.mark.backend
def test_gradients_on_another_device_are_refused(device_pair):
    try:
        model_backend, other = (xpnet.get_backend(spec) for spec in device_pair)
    except xpnet.BackendError as exc:
        pytest.skip(f"needs backends {device_pair}: {exc}")
    net = MLP([F, 3, 1], seed=0, backend=model_backend)
    weight_grads, bias_grads = _gradients(net)
    moved = [other.asarray(model_backend.to_numpy(g)) for g in weight_grads]
    bad = Bad(
        TypeError,
        r"weight_grads\[0\]",
        r"on device <device>",
        r"on device <other>",
    )
    assert_bad(
        lambda: net.sgd_step(moved, bias_grads, 0.1),
        bad,
        device=str(model_backend.device),
        other=str(other.device),
    )


# ---- xpnet.load ---------------------------------------------------------------------


def _mlp_file(directory, edit_config=None, edit_arrays=None) -> str:
    config, arrays = MLP([3, 4, 2], dtype="float64", seed=0)._export()
    if edit_config:
        edit_config(config)
    if edit_arrays:
        edit_arrays(arrays)
    return _write(directory, config, arrays)


def _estimator_file(directory, edit_params) -> str:
    config, arrays = fitted("clf", xpnet.get_backend("numpy"))._export()
    edit_params(config["params"])
    return _write(directory, config, arrays)


def _write(directory, config, arrays) -> str:
    """A model file with a valid checksum, whatever its configuration and tensors."""
    header = {
        "format": model_file.FORMAT_NAME,
        "format_version": 1,
        "xpnet_version": "0",
        "model": config,
    }
    path = directory / f"model{len(list(directory.iterdir()))}.safetensors"
    path.write_bytes(tensor_file.encode(header, arrays))
    return str(path)


def _raw_file(directory, data: bytes) -> str:
    path = directory / f"raw{len(list(directory.iterdir()))}.safetensors"
    path.write_bytes(data)
    return str(path)


def _set(key, value):
    return lambda mapping: mapping.__setitem__(key, value)


ARRAY_SHAPE = r"shape \(3, 4\)"
LOAD_CASES = [
    # id, file made in a directory, backend given to load, error
    (
        "W0 1-D",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones(12))),
        None,
        Bad(ValueError, r"array W0", ARRAY_SHAPE, r"got \(12,\)"),
    ),
    (
        "W0 3-D",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones((3, 4, 1)))),
        None,
        Bad(ValueError, r"array W0", ARRAY_SHAPE, r"got \(3, 4, 1\)"),
    ),
    (
        "W0 empty",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones((0, 4)))),
        None,
        Bad(ValueError, r"array W0", ARRAY_SHAPE, r"got \(0, 4\)"),
    ),
    (
        "W0 with NaN",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.full((3, 4), np.nan))),
        None,
        Bad(ValueError, r"array W0", r"finite", r"NaN or inf"),
    ),
    (
        "b1 with inf",
        lambda d: _mlp_file(d, edit_arrays=_set("b1", np.full(2, np.inf))),
        None,
        Bad(ValueError, r"array b1", r"finite", r"NaN or inf"),
    ),
    (
        "W0 of ints",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones((3, 4), dtype=int))),
        None,
        Bad(ValueError, r"tensor 'W0'", r"only \['F32', 'F64'\]", r"dtype I64"),
    ),
    (
        "W0 float16",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones((3, 4), "f2"))),
        None,
        Bad(ValueError, r"tensor 'W0'", r"only \['F32', 'F64'\]", r"dtype F16"),
    ),
    (
        "W0 float32",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones((3, 4), "f4"))),
        None,
        Bad(ValueError, r"array W0", r"dtype float64", r"got float32"),
    ),
    (
        "W2 extra",
        lambda d: _mlp_file(d, edit_arrays=_set("W2", np.ones((2, 2)))),
        None,
        Bad(ValueError, r"arrays", r"must hold arrays \['W0'", r"unexpected \['W2'\]"),
    ),
    (
        "unknown activation",
        lambda d: _mlp_file(d, _set("activations", ["relu", "swish"])),
        None,
        Bad(ValueError, r"activations\[1\]", r"one of \[", r"'swish'"),
    ),
    (
        "int dtype",
        lambda d: _mlp_file(d, _set("dtype", "int64")),
        None,
        Bad(ValueError, r"\bdtype\b", DTYPE, r"'int64'"),
    ),
    (
        "complex dtype",
        lambda d: _mlp_file(d, _set("dtype", "complex128")),
        None,
        Bad(ValueError, r"\bdtype\b", DTYPE, r"'complex128'"),
    ),
    (
        "unknown dtype",
        lambda d: _mlp_file(d, _set("dtype", "float16")),
        None,
        Bad(ValueError, r"\bdtype\b", DTYPE, r"'float16'"),
    ),
    (
        "layer size zero",
        lambda d: _mlp_file(d, _set("layer_sizes", [3, 0, 2])),
        None,
        Bad(ValueError, r"\blayer_sizes\b", r">= 1", r"got 0"),
    ),
    (
        "layer size negative",
        lambda d: _mlp_file(d, _set("layer_sizes", [3, -4, 2])),
        None,
        Bad(ValueError, r"\blayer_sizes\b", r">= 1", r"got -4"),
    ),
    (
        "estimator: unknown solver",
        lambda d: _estimator_file(d, _set("solver", "newton")),
        None,
        Bad(
            ValueError, r"\bsolver\b", r"one of \['sgd', 'adam', 'lbfgs'\]", r"'newton'"
        ),
    ),
    (
        "estimator: unknown activation",
        lambda d: _estimator_file(d, _set("activation", "softplus")),
        None,
        Bad(ValueError, r"\bactivation\b", r"one of \['identity'", r"'softplus'"),
    ),
    (
        "estimator: hidden size zero",
        lambda d: _estimator_file(d, _set("hidden_layer_sizes", [0])),
        None,
        Bad(ValueError, r"hidden_layer_sizes", r">= 1", r"got 0"),
    ),
    (
        "estimator: batch_size zero",
        lambda d: _estimator_file(d, _set("batch_size", 0)),
        None,
        Bad(ValueError, r"\bbatch_size\b", r"int >= 1", r"got 0"),
    ),
    (
        "estimator: negative learning rate",
        lambda d: _estimator_file(d, _set("learning_rate_init", -1.0)),
        None,
        Bad(ValueError, r"learning_rate_init", r"\(0\.0, inf\]", r"-1\.0"),
    ),
    (
        "estimator: int dtype",
        lambda d: _estimator_file(d, _set("dtype", "int32")),
        None,
        Bad(ValueError, r"\bdtype\b", DTYPE, r"'int32'"),
    ),
    (
        "empty file",
        lambda d: _raw_file(d, b""),
        None,
        Bad(
            ValueError, r"model file '.*raw\d+\.safetensors'", r"safetensors", r"header"
        ),
    ),
    (
        "text file",
        lambda d: _raw_file(d, b"hello\n"),
        None,
        Bad(
            ValueError, r"model file '.*raw\d+\.safetensors'", r"safetensors", r"header"
        ),
    ),
    (
        "unknown backend",
        lambda d: _mlp_file(d),
        "tpu",
        Bad(xpnet.BackendError, r"\bbackend\b", r"choose one of numpy", r"'tpu'"),
    ),
]


@pytest.mark.parametrize("case", LOAD_CASES, ids=[c[0] for c in LOAD_CASES])
def test_load_refuses_bad_files(backend, tmp_path, case):
    _, make, spec, bad = case
    path = make(tmp_path)
    assert_bad(lambda: xpnet.load(path, backend=spec or backend.name), bad)
    if spec is None:  # a file problem: ModelFileError names the file too
        with pytest.raises(xpnet.ModelFileError, match=re.escape(repr(path))):
            xpnet.load(path, backend=backend.name)


# ---- the command line (host data only) ---------------------------------------------


def _npz(directory, **arrays) -> str:
    path = directory / f"data{len(list(directory.iterdir()))}.npz"
    np.savez(path, **arrays)
    return str(path)


def _csv(directory, text: str) -> str:
    path = directory / f"data{len(list(directory.iterdir()))}.csv"
    path.write_text(text)
    return str(path)


LABELS = (np.arange(N) % 2).astype(np.int64)
GOOD = lambda d: _npz(d, X=X, y=LABELS)  # noqa: E731


def _train(data, *options):
    return lambda d: ["train", "--data", data(d), "--quiet", "--epochs", "1", *options]


def _model(directory) -> str:
    """A saved MLPClassifier taking 4 features (fitted here, not by the CLI)."""
    path = str(directory / "model.safetensors")
    xpnet.save(fitted("clf", xpnet.get_backend("numpy")), path)
    return path


def _predict(data, *options):
    return lambda d: ["predict", _model(d), data(d), *options]


CLI_CASES = [
    # id, argv made in a directory, exit code, error
    (
        "X 1-D",
        _train(lambda d: _npz(d, X=X[:, 0], y=LABELS)),
        2,
        Bad(ValueError, r"\bX\b", r"2-D array", r"shape \(20,\)"),
    ),
    (
        "X 3-D",
        _train(lambda d: _npz(d, X=X[:, :, None], y=LABELS)),
        2,
        Bad(ValueError, r"\bX\b", r"2-D array", r"shape \(20, 4, 1\)"),
    ),
    (
        "X and y of different lengths",
        _train(lambda d: _npz(d, X=X, y=LABELS[:-1])),
        2,
        Bad(ValueError, r"\by\b", r"one value per row of X \(20\)", r"\(19,\)"),
    ),
    (
        "X empty",
        _train(lambda d: _npz(d, X=X[:0], y=LABELS[:0])),
        2,
        Bad(ValueError, r"\bX\b", r"non-empty", r"shape \(0, 4\)"),
    ),
    (
        "CSV empty",
        _train(lambda d: _csv(d, "")),
        2,
        Bad(ValueError, r"data\d+\.csv", r"at least one data row", r"is empty"),
    ),
    (
        "CSV with a header only",
        _train(lambda d: _csv(d, "a,b,y\n")),
        2,
        Bad(ValueError, r"data\d+\.csv", r"at least one", r"no data rows"),
    ),
    (
        "X with NaN",
        _train(lambda d: _npz(d, X=np.where(X > 1, np.nan, X), y=LABELS)),
        2,
        Bad(ValueError, r"\bX\b", r"finite", r"found nan at row \d+, column \d+"),
    ),
    (
        "y with inf",
        _train(lambda d: _npz(d, X=X, y=np.where(LABELS > 0, np.inf, 0.5))),
        2,
        Bad(ValueError, r"\by\b", r"finite", r"NaN or inf"),
    ),
    (
        "CSV with nan",
        _train(lambda d: _csv(d, "a,b,y\n1,nan,0\n2,3,1\n")),
        2,
        Bad(ValueError, r"line 2, column 'b'", r"finite number", r"'nan'"),
    ),
    (
        "X of text",
        _train(lambda d: _npz(d, X=np.full((N, F), "a"), y=LABELS)),
        2,
        Bad(ValueError, r"\bX\b", r"numeric", r"dtype <U1"),
    ),
    (
        "CSV with text",
        _train(lambda d: _csv(d, "a,b,y\n1,x,0\n2,3,1\n")),
        2,
        Bad(ValueError, r"line 2, column 'b'", r"must hold numbers", r"'x'"),
    ),
    (
        "unknown activation",
        _train(GOOD, "--activation", "softplus"),
        2,
        Bad(ValueError, r"--activation", r"choose from 'relu'", r"'softplus'"),
    ),
    (
        "unknown solver",
        _train(GOOD, "--solver", "newton"),
        2,
        Bad(
            ValueError, r"--solver", r"choose from 'adam', 'sgd', 'lbfgs'", r"'newton'"
        ),
    ),
    (
        "unknown backend",
        _train(GOOD, "--backend", "tpu"),
        3,
        Bad(ValueError, r"\bbackend\b", r"choose one of numpy", r"'tpu'"),
    ),
    (
        "unknown backend, predict",
        _predict(GOOD, "--backend", "tpu"),
        3,
        Bad(ValueError, r"\bbackend\b", r"choose one of numpy", r"'tpu'"),
    ),
    (
        "int dtype",
        _train(GOOD, "--dtype", "int32"),
        2,
        Bad(ValueError, r"--dtype", r"choose from 'float32', 'float64'", r"'int32'"),
    ),
    (
        "complex dtype",
        _train(GOOD, "--dtype", "complex64"),
        2,
        Bad(ValueError, r"--dtype", r"choose from 'float32'", r"'complex64'"),
    ),
    (
        "hidden size zero",
        _train(GOOD, "--hidden", "8", "0"),
        2,
        Bad(ValueError, r"--hidden", r"integer >= 1", r"got 0"),
    ),
    (
        "hidden size negative",
        _train(GOOD, "--hidden", "-2"),
        2,
        Bad(ValueError, r"--hidden", r"integer >= 1", r"got -2"),
    ),
    (
        "walkthrough layer size zero",
        lambda d: ["walkthrough", "--layers", "4", "0", "1"],
        2,
        Bad(ValueError, r"--layers", r"integer >= 1", r"got 0"),
    ),
    (
        "batch size zero",
        _train(GOOD, "--batch-size", "0"),
        2,
        Bad(ValueError, r"--batch-size", r"integer >= 1", r"got 0"),
    ),
    (
        "batch size negative",
        _train(GOOD, "--batch-size", "-4"),
        2,
        Bad(ValueError, r"--batch-size", r"integer >= 1", r"got -4"),
    ),
    (
        "negative learning rate",
        _train(GOOD, "--lr", "-0.1"),
        2,
        Bad(ValueError, r"--lr", r"finite number > 0", r"got -0\.1"),
    ),
    (
        "predict: wrong number of features",
        _predict(lambda d: _npz(d, X=X[:, :3])),
        2,
        Bad(ValueError, r"data\d+\.npz", r"model takes 4", r"has 3 feature columns"),
    ),
    (
        "predict: X 1-D",
        _predict(lambda d: _npz(d, X=X[:, 0])),
        2,
        Bad(ValueError, r"\bX\b", r"2-D array", r"shape \(20,\)"),
    ),
    (
        "predict: X with inf",
        _predict(lambda d: _npz(d, X=np.where(X > 1, np.inf, X))),
        2,
        Bad(ValueError, r"\bX\b", r"finite", r"found inf"),
    ),
    (
        "predict: empty model file",
        lambda d: ["predict", _raw_file(d, b""), GOOD(d)],
        2,
        Bad(ValueError, r"model file", r"safetensors", r"header too small"),
    ),
    (
        "predict: a bare network, not a fitted estimator",
        lambda d: ["predict", _saved_mlp(d), GOOD(d)],
        2,
        Bad(ValueError, r"bare\.npz", r"trained MLPClassifier", r"xpnet\.MLP network"),
    ),
]


def _saved_mlp(directory) -> str:
    path = str(directory / "bare.npz")
    xpnet.save(MLP([F, 2]), path)
    return path


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_reports_bad_input_on_one_line(tmp_path, capsys, case):
    _, make, code, bad = case
    argv = make(tmp_path)
    capsys.readouterr()

    def run():
        returned = cli.main(argv)
        out, err = capsys.readouterr()
        assert returned == code, (returned, err)
        assert err.startswith("xpnet: error: ") and err.count("\n") == 1, err
        raise ValueError(err)  # hands the line to assert_bad

    assert_bad(run, bad)


def test_cli_clips_a_batch_size_above_n_with_a_note(tmp_path, capsys):
    argv = _train(GOOD, "--batch-size", "1000", "--test-size", "0")(tmp_path)
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert re.search(
        rf"note: batch_size=1000 is larger than the {N} training samples; it is "
        rf"clipped to {N}",
        err,
    ), err
