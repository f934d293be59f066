"""Where a call computes and where its answer goes: scikit-learn's array-API rule.

An estimator with ``backend=None`` follows its input. Under scikit-learn's
``array_api_dispatch`` (``sklearn.set_config(array_api_dispatch=True)``) the namespace
and device of X pick the backend (torch CPU -> ``"torch"``, torch CUDA ->
``"torch:cuda:N"``, CuPy on device N -> ``"cupy:N"``, array-api-strict on its device,
JAX), fitted weights stay there and answers go back there. Without dispatch, other
libraries' arrays are copied to NumPy and the answers are NumPy. An explicit
``backend`` wins: X is moved there (a warning says so when X is another library's
array) and answers go back to X's namespace. NumPy input is computed on
``$XPNET_BACKEND`` (default NumPy) and answered in NumPy.

scikit-learn is imported only if it already is: xpnet trains without it.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from .. import caller
from ..backend import Backend, _library_of, device_name, get_backend
from .checks import is_non_numpy_array
from .sparse import is_sparse

__all__ = [
    "Route",
    "answer",
    "backend_of",
    "dispatch",
    "fit_route",
    "input_dtype",
    "is_dask_collection",
    "predict_route",
    "to_host",
]


class Route(NamedTuple):
    """A call's ``backend`` (where it computes), ``answer`` (the backend whose
    namespace and device the outputs go back to; None: host NumPy) and ``follows``
    (the backend was taken from X); for a fit, also ``dtype`` (the one a
    ``dtype=None`` fit takes from X, :func:`input_dtype`) and ``dask`` (Dask input:
    the fit trains on blocks, :mod:`xpnet.dask`)."""

    backend: Backend
    answer: Backend | None
    follows: bool
    dtype: str = "float64"
    dask: bool = False


def is_dask_collection(data: Any) -> bool:
    """Whether ``data`` is a Dask collection (array, dataframe), without importing
    Dask: Dask's own test is the ``__dask_graph__`` method."""
    return callable(getattr(type(data), "__dask_graph__", None))


def dispatch() -> bool:
    """Whether scikit-learn's ``array_api_dispatch`` is on (False without
    scikit-learn imported)."""
    sklearn = sys.modules.get("sklearn")
    if sklearn is None or not hasattr(sklearn, "get_config"):
        return False
    return bool(sklearn.get_config().get("array_api_dispatch", False))


def is_foreign(X: Any) -> bool:
    """Whether X is an array of a library other than NumPy (not sparse, not Dask)."""
    if isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X):
        return False  # (checks.is_non_numpy_array, without the call: a fit's path)
    return not is_sparse(X) and not is_dask_collection(X)


def backend_of(array: Any) -> Backend:
    """The backend of ``array``'s namespace and device (``cupy:N``, ``torch:cuda:N``,
    ``array_api_strict:device1``, ...); BackendError for one xpnet cannot run."""
    library = _library_of(array_api_compat.array_namespace(array))
    device = array_api_compat.device(array)
    if library == "torch" and getattr(device, "type", "cpu") != "cpu":
        return get_backend(f"torch:{device.type}:{device.index or 0}")
    if library == "cupy":
        return get_backend(f"cupy:{device.id}")
    if library == "array_api_strict":
        name = device_name(device)
        return get_backend(
            "array_api_strict" if name == "CPU_DEVICE" else f"array_api_strict:{name}"
        )
    return get_backend(library)  # numpy, torch (CPU), jax; else an unknown name


def to_host(array: Any) -> Any:
    """A host NumPy copy of any library's array (NumPy, host data and sparse
    matrices pass through as they are)."""
    if isinstance(array, (np.ndarray, list, tuple, int, float, type(None))):
        return array
    if not is_non_numpy_array(array) or is_sparse(array):
        return array
    return backend_of(array).to_numpy(array)


def fit_route(X: Any, backend: Any, *others: Any) -> Route:
    """Where a fit on X computes: ``backend`` (the estimator's parameter) if given,
    else X's namespace and device under dispatch, else ``$XPNET_BACKEND``/NumPy;
    Dask input (X or any of ``others``: y, the weights) keeps the host block path on
    ``backend``'s backend. The route's ``dtype`` is X's (:func:`input_dtype`)."""
    if any(map(is_dask_collection, (X, *others))):
        chosen = get_backend(backend)
        return Route(chosen, None, False, input_dtype(X, chosen), True)
    route = _fit_backend(X, backend)
    return route._replace(dtype=input_dtype(X, route.backend))


def _fit_backend(X: Any, backend: Any) -> Route:
    if backend is not None:
        chosen = get_backend(backend)
        if not is_foreign(X):
            return Route(chosen, None, False)
        own = backend_of(X)
        if own != chosen:
            caller.warn(
                f"X is a {own.name!r} array but backend={chosen.name!r} was chosen: "
                f"xpnet computes on {chosen.name!r} and answers in {own.name!r} "
                "(leave backend=None to compute where X is)",
                UserWarning,
            )
        return Route(chosen, own, False)
    if is_foreign(X) and dispatch():
        own = backend_of(X)
        return Route(own, own, True)
    return Route(get_backend(None), None, False)


def predict_route(
    X: Any, estimator: Any, backend: Any, fitted: Backend, method: str
) -> Route:
    """Where ``estimator.<method>(X)`` computes (``fitted``: the fit's backend,
    unless ``backend`` names one) and answers; under dispatch, with ``backend``
    None, X must be in the fit's namespace and device (scikit-learn's
    ``check_same_namespace``)."""
    if backend is not None:
        return Route(
            get_backend(backend), backend_of(X) if is_foreign(X) else None, False
        )
    if dispatch():
        _check_same_namespace(X, estimator, method)
        if is_foreign(X):
            return Route(fitted, fitted, True)
    return Route(fitted, None, False)


def _check_same_namespace(X: Any, estimator: Any, method: str) -> None:
    try:
        from sklearn.utils._array_api import check_same_namespace
    except ImportError:  # an older scikit-learn: the same rule, written here
        check_same_namespace = _same_namespace
    check_same_namespace(X, estimator, attribute="_fit_array", method=method)


def _same_namespace(X: Any, estimator: Any, *, attribute: str, method: str) -> None:
    fitted = getattr(estimator, attribute)
    ours = backend_of(fitted) if is_non_numpy_array(fitted) else get_backend("numpy")
    theirs = backend_of(X) if is_foreign(X) else get_backend("numpy")
    if ours != theirs:
        raise ValueError(
            f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
            f"namespace and the same device as those passed to fit(): fit used "
            f"{ours.name!r}, {method} got {theirs.name!r}"
        )


def answer(result: np.ndarray, route: Route) -> Any:
    """A host result in the route's answer namespace and device (strings and
    objects stay on the host, as scikit-learn keeps string labels)."""
    if route.answer is None or result.dtype.kind in "OUS":
        return result
    return route.answer.asarray(result)


def input_dtype(X: Any, backend: Backend | None = None) -> str:
    """The dtype a ``dtype=None`` fit takes from X: float32 for float32 data, else
    float64 (scikit-learn's rule: integers and other data train in float64), unless
    ``backend`` is JAX with its float64 off (``jax_enable_x64``): float32 there, as
    JAX's own arrays are."""
    dtype = _input_dtype(X)
    if dtype == "float64" and backend is not None and backend.library == "jax":
        if not sys.modules["jax"].config.jax_enable_x64:
            return "float32"
    return dtype


def _input_dtype(X: Any) -> str:
    dtypes = getattr(X, "dtypes", None)  # a DataFrame: every column float32
    if dtypes is not None and not hasattr(X, "dtype"):
        names = {str(t) for t in dtypes}
        return "float32" if names == {"float32"} else "float64"
    dtype = getattr(X, "dtype", None)
    text = str(getattr(dtype, "name", dtype)).rpartition(".")[2]
    return "float32" if text == "float32" else "float64"
