"""The intake: what the user hands a fit or a prediction, checked once, described once.

:func:`as_features` turns X (lists, NumPy, an array of the model's backend, SciPy or
CuPy sparse, a DataFrame with its column names) into :class:`Features`: the data on
the backend's device (or :class:`~xpnet.data.sparse.SparseRows` for sparse X) with
its shape and names, every check done in this one pass. :func:`as_targets` and
:func:`as_sample_weight` do the same for y and the weights. A Dask collection
(:func:`is_dask_collection`) is described too: a checked lazy Dask array, which
:mod:`xpnet.dask` turns into a block source. Nothing downstream checks X again.

Where a call computes and answers is decided by :mod:`xpnet.data.namespace`
(scikit-learn's array-API rule: X's namespace and device under ``array_api_dispatch``);
here, X of another library or device is copied over the host to that backend, and y
and the weights of any library are taken to the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..backend import Array, Backend
from .checks import (
    check_fits,
    check_matrix,
    check_weights_fit,
    feature_count,
    host_features,
    host_matrix,
    host_real,
    host_sample_weight,
    is_non_numpy_array,
    real_host,
)
from .names import check_feature_names, feature_names
from .namespace import is_dask_collection, to_host
from .sparse import SparseRows, is_sparse

__all__ = [
    "Block",
    "Features",
    "Seen",
    "Weights",
    "as_features",
    "feature_count",
    "as_host",
    "as_network_targets",
    "as_real_targets",
    "as_sample_weight",
    "as_score_weight",
    "as_targets",
    "is_dask_collection",
    "is_sparse",
]


@dataclass(frozen=True)
class Seen:
    """What a fit recorded of its X, that later X must match: ``n_features``, the
    column ``names`` (or None) and the ``estimator``'s class name for messages."""

    n_features: int
    names: np.ndarray | None
    estimator: str


@dataclass
class Features:
    """X as the model takes it.

    Attributes
    ----------
    data : array (n_samples, n_features) on the backend's device in the model's
        dtype, :class:`SparseRows` (host sparse, served by rows), or a Dask array
        (Dask input: computed block by block, :mod:`xpnet.dask`)
    n_features : int
    names : object array of the column names, or None
    library : str
        The library X came in: ``"numpy"`` for host data (lists, NumPy, frames,
        SciPy sparse), ``"dask"`` for Dask input, else the backend's (answers go
        back there).
    """

    data: Any
    n_features: int
    names: np.ndarray | None
    library: str

    @property
    def n_samples(self) -> int:
        """Rows of X."""
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """(n_samples, n_features)."""
        return self.n_samples, self.n_features


class Weights(NamedTuple):
    """Sample weights: ``host`` float64 (n_samples,) and ``device`` (n_samples,) in
    the model's dtype."""

    host: np.ndarray
    device: Array


class Block(NamedTuple):
    """One block of training rows, as a batch source loads it
    (:class:`xpnet.training.batches.Blocks`): X (rows, n_features) and Y (rows,
    n_outputs) on the device in the model's dtype; with sample weights,
    ``sample_weight`` (rows,) on the device and its host float64 copy
    ``host_sample_weight``."""

    X: Array
    Y: Array
    sample_weight: Array | None = None
    host_sample_weight: np.ndarray | None = None


def as_features(
    X: Any,
    backend: Backend,
    dtype: str,
    *,
    seen: Seen | None = None,
    scaling: Any = None,
    dask_rows: tuple[Any, ...] = (),
) -> Features:
    """X checked (2-D, numeric, finite, within ``dtype``; against ``seen``'s feature
    count and names unless None, the first fit) and on the device (another
    library's or device's array copied over the host); sparse X stays
    sparse on the host (:class:`SparseRows`); with a ``scaling`` (``.inputs(X)``:
    the command's standardization), standardized in float64 on the host first.

    A Dask collection stays a lazy Dask array (its blocks are checked, scaled and
    moved as a block source computes them, :mod:`xpnet.dask`); so does host X with
    ``dask_rows`` (a fit's or score's y and weights on Dask input), cut at the row
    chunks of the first Dask collection among them.
    """
    host_data = isinstance(
        X, (np.ndarray, list)
    )  # no names, not sparse, not on a device
    names = None if host_data else feature_names(X)
    if seen is not None:
        check_feature_names(seen.names, names, seen.estimator)
    if dask_rows or (not host_data and is_dask_collection(X)):
        return _dask_features(X, dask_rows, names, seen)
    if not host_data and is_sparse(X) and scaling is None:
        rows = SparseRows(backend, X, dtype)
        return Features(rows, feature_count(rows.shape, seen), names, "numpy")
    if not host_data and is_non_numpy_array(X):
        if scaling is None and backend.owns(X):
            X = backend.device_array(X, "X")
            n_features = feature_count(tuple(X.shape), seen)
            X = check_matrix(backend, X, "X", dtype)
            return Features(X, n_features, names, backend.library)
        X = to_host(X)  # another library or device: over the host
    # checked in one pass; scaled X is checked against dtype once scaled
    host = host_features(X, seen, dtype=dtype if scaling is None else None)
    n_features = int(host.shape[1])
    if scaling is not None:
        host = scaling.inputs(host)
        check_fits(host, "X", dtype)
    return Features(backend.asarray(host, dtype), n_features, names, "numpy")


def _dask_features(
    X: Any, dask_rows: tuple[Any, ...], names: np.ndarray | None, seen: Seen | None
) -> Features:
    """Dask X, or host X cut at the row chunks of ``dask_rows``, as a checked 2-D
    Dask array with its columns in one chunk (Dask is imported only here)."""
    from ..dask.arrays import dask_X

    array = dask_X(X, *dask_rows)
    return Features(array, feature_count(array.shape, seen), names, "dask")


def _host(data: Any) -> Any:
    """:func:`~xpnet.data.namespace.to_host`, NumPy and lists passed at once."""
    return data if isinstance(data, (np.ndarray, list)) else to_host(data)


def as_host(data: Any, backend: Backend, name: str = "y") -> Any:
    """``data`` as host data: an array of ``backend`` is copied back, other
    libraries' arrays are refused (named ``name``); host data is returned as is
    (:class:`xpnet.MLP`'s rule; the estimators' y and weights take any library's
    arrays, :func:`~xpnet.data.namespace.to_host`)."""
    if is_non_numpy_array(data):
        return backend.to_numpy(backend.device_array(data, name))
    return data


def as_targets(y: Any, backend: Backend | None = None, name: str = "y") -> np.ndarray:
    """Class labels ``y`` as a host 1-D label array or 2-D indicator matrix (a
    column is raveled); errors name ``name``."""
    return as_label_array(_host(y), name)


def as_real_targets(y: Any, backend: Backend | None, n_samples: int) -> np.ndarray:
    """Regression targets as finite host float64 (n_samples, n_outputs)."""
    if y is None:
        raise ValueError(
            "this estimator requires y to be passed, but the target y is None"
        )
    host = real_host(np.asarray(_host(y)), "y", convertible="O")
    if host.ndim == 1:
        host = host[:, None]
    return host_matrix(host, "y", n_rows=n_samples).astype(np.float64)


def as_sample_weight(
    sample_weight: Any, backend: Backend, n_samples: int, dtype: str
) -> Weights | None:
    """``sample_weight`` (None, a number, host data or an array of ``backend``)
    checked (finite, non-negative, not all 0, one per sample) as :class:`Weights`."""
    if sample_weight is None:
        return None
    host = host_sample_weight(_host(sample_weight), n_samples)
    check_weights_fit(host, "sample_weight", dtype)
    return Weights(host, backend.asarray(host, dtype))


def as_score_weight(sample_weight: Any, backend: Backend | None, n_samples: int) -> Any:
    """``score``'s ``sample_weight``: None, or host float64 (n_samples,) checked as
    a fit's (1-D, one per sample, finite, non-negative, not all 0)."""
    if sample_weight is None:
        return None
    return host_sample_weight(_host(sample_weight), n_samples)


def as_network_targets(
    backend: Backend,
    y: Any,
    dtype: str,
    *,
    n_outputs: int,
    n_samples: int,
    check_finite: bool = True,
) -> Array:
    """The targets of :class:`xpnet.MLP`'s loss: host data or an array of
    ``backend`` as a finite (n_samples, n_outputs) array on the device (1-D y is one
    column)."""
    if is_non_numpy_array(y):
        y = backend.device_array(y, "y")  # refuses other libraries, devices
        if y.ndim == 1:
            y = backend.xp.reshape(y, (-1, 1))
    elif isinstance(y, (np.ndarray, list)) and np.ndim(y) == 1:
        y = np.reshape(y, (-1, 1))
    return check_matrix(
        backend,
        y,
        "y",
        dtype,
        n_columns=n_outputs,
        n_rows=n_samples,
        check_finite=check_finite,
    )


def host_arrays(backend: Backend, arrays: Any, name: str) -> list[np.ndarray]:
    """Host float64 copies of a list of real, finite arrays (host data or arrays of
    ``backend``; other libraries' arrays are refused)."""
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(f"{name} must be a list of arrays; got {type(arrays).__name__}")
    host = []
    for layer, array in enumerate(arrays):
        argname = f"{name}[{layer}]"
        host.append(host_real(as_host(array, backend, argname), argname))
    return [a.astype(np.float64) for a in host]


def as_label_array(y: Any, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D label array or a 2-D indicator matrix (a column is raveled)."""
    if y is None:
        raise ValueError(
            "this estimator requires y to be passed, but the target y is None"
        )
    try:
        labels = np.asarray(y)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be an array of labels; {exc}") from None
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D labels (n_samples,) or a 2-D 0/1 indicator matrix; "
            f"got shape {labels.shape}"
        )
    if labels.shape[0] == 0:
        raise ValueError(f"{name} must not be empty; got shape {labels.shape}")
    if labels.dtype.kind == "c":
        raise ValueError(
            f"{name} must hold real labels; got dtype {labels.dtype} (Complex data "
            "not supported)"
        )
    return labels
