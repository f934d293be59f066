"""Shared by the bad-input tests of every boundary: the data, the error a bad input
must raise (:class:`Bad`), and the tables of bad X and y.

Each row of a table is one bad input. Its :class:`Bad` gives the exception type and
three regular expressions, and the message must match all three: the argument, what
was expected, and what was given. ``<backend>`` and ``<Est>`` in a pattern stand for
the backend's name and the estimator's class name. Array boundaries take bad data as
host NumPy data and also as an array of the model's own backend.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import xpnet
from xpnet import MLP, MLPClassifier, MLPRegressor

N, F = 20, 4
CLASSES = [0, 1, 2]
rng = np.random.default_rng(0)
X = rng.normal(size=(N, F))
Y = {
    "reg": np.tanh(X @ rng.normal(size=F)),
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


def spoiled_X(spoil, backend: xpnet.Backend, host_only: bool) -> list[Any]:
    if spoil is None:
        return [foreign(backend, X)]
    return forms(backend, spoil(X), host_only)


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


def spoiled_y(spoil, y: np.ndarray, backend, host_only: bool) -> list[Any]:
    if spoil is None:
        return [foreign(backend, y)]
    return forms(backend, spoil(y.astype(np.float64)), host_only)


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


# Drawn after X and Y from the same generator.
W = [rng.normal(size=(F, 3)), rng.normal(size=(3, 1))]
B = [np.zeros(3), np.zeros(1)]


def gradients(net: MLP) -> tuple[list[Any], list[Any]]:
    _, weight_grads, bias_grads = net.loss_and_gradients(X, Y["reg"])
    return weight_grads, bias_grads


def raw_file(directory, data: bytes) -> str:
    """A model file of exactly these bytes in ``directory``; its path."""
    path = directory / f"raw{len(list(directory.iterdir()))}.safetensors"
    path.write_bytes(data)
    return str(path)
