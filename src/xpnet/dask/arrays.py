"""Dask collections as the arrays xpnet trains and predicts on.

Dask arrays and dataframes (or host data cut at a Dask array's row chunks) become
2-D or 1-D Dask arrays with known row chunks and their columns in one chunk; each
block is checked when it is computed. Imported only when a Dask collection is met.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import dask
import dask.array as da
import numpy as np

from ..data.checks import host_matrix, real_host
from ..data.namespace import is_dask_collection


def as_dask_matrix(data: Any, name: str) -> da.Array:
    """``data`` (a Dask array or dataframe) as a 2-D Dask array with known row
    chunks and its columns in one chunk.

    Raises
    ------
    ValueError
        Not 2-D, empty, or blocks of unknown size.
    TypeError
        Not numeric.
    """
    array = _as_dask(data, name)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(
            f"{name} must be a non-empty 2-D Dask array (n_samples, n_features); got "
            f"shape {array.shape}"
        )
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {array.dtype}")
    return array.rechunk({1: -1}) if array.numblocks[1] > 1 else array


def dask_X(X: Any, *others: Any) -> da.Array:
    """X as :func:`as_dask_matrix` gives it; host X is cut at the row chunks of the
    first Dask array among ``others`` (y, sample_weight)."""
    if not is_dask_collection(X):
        rows = next(_as_dask(a, "y").chunks[0] for a in others if is_dask_collection(a))
        X = da.from_array(host_matrix(X, "X"), chunks=(rows, -1))
    return as_dask_matrix(X, "X")


def as_dask_rows(data: Any, X: da.Array, name: str) -> da.Array:
    """``data`` (y or sample_weight: host or Dask) as a Dask array whose row chunks
    are X's, columns in one chunk; a single column becomes 1-D."""
    on_dask = is_dask_collection(data)
    given = _as_dask(data, name) if on_dask else np.asarray(data)
    if given.ndim not in (1, 2) or given.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name} must have {X.shape[0]} rows, one per sample of X, and 1 or 2 "
            f"dimensions; got shape {given.shape}"
        )
    array: da.Array = (
        cast(da.Array, given)
        if on_dask
        else da.from_array(given, chunks=(X.chunks[0], *given.shape[1:]))
    )
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    chunks = {0: X.chunks[0]} if array.ndim == 1 else {0: X.chunks[0], 1: -1}
    return array.rechunk(chunks)


def dask_weights(sample_weight: Any, X: da.Array) -> da.Array:
    """``sample_weight`` (a number, host or Dask) as float64 (n_samples,) with X's
    row chunks (each block's values are checked as it is computed)."""
    if np.ndim(sample_weight) == 0 and not is_dask_collection(sample_weight):
        weight = float(sample_weight)
        return da.full(X.shape[0], weight, chunks=X.chunks[0], dtype=np.float64)
    W = as_dask_rows(sample_weight, X, "sample_weight")
    if W.ndim != 1:
        raise ValueError(
            "sample_weight must be 1-D with one weight per sample of X "
            f"({X.shape[0]}); got shape {W.shape}"
        )
    return W.astype(np.float64)


def _as_dask(data: Any, name: str) -> da.Array:
    if hasattr(data, "to_delayed") and not isinstance(data, da.Array):
        data = frame_to_array(data, partition_lengths(data))  # a dataframe or series
    if not isinstance(data, da.Array):
        raise TypeError(
            f"{name} must be a Dask array or dataframe; got {type(data).__name__}"
        )
    if any(math.isnan(size) for size in data.chunks[0]):
        raise ValueError(
            f"{name} has blocks of unknown size (from a dataframe or a boolean "
            f"index); call {name}.compute_chunk_sizes() first"
        )
    return data


def partition_lengths(frame: Any) -> tuple[int, ...]:
    """Rows of each partition of a Dask dataframe or series (a pass over it)."""
    return dask.compute(*[dask.delayed(len)(part) for part in frame.to_delayed()])


def frame_to_array(frame: Any, lengths: Sequence[int]) -> da.Array:
    """A Dask dataframe (2-D) or series (1-D) as a Dask array, one block per
    partition of ``lengths`` rows; non-numeric columns give an object array.

    Built from the partitions themselves: in dask 2026.8 the blocks of
    ``to_dask_array`` on a Parquet dataframe do not compute one at a time.
    """
    columns = list(frame.columns) if frame.ndim == 2 else None
    dtypes = list(frame.dtypes) if columns is not None else [frame.dtype]
    numeric = all(
        isinstance(t, np.dtype) and t.kind in "biuf" for t in dtypes
    )  # pandas' string and other extension dtypes give object arrays
    dtype = np.result_type(*dtypes) if numeric else np.dtype(object)
    width = () if columns is None else (len(columns),)
    return da.concatenate(
        [
            da.from_delayed(
                dask.delayed(_values)(part, dtype), (n, *width), dtype=dtype
            )
            for part, n in zip(frame.to_delayed(), lengths, strict=True)
        ]
    )


def _values(part: Any, dtype: np.dtype) -> np.ndarray:
    return part.to_numpy(dtype=dtype)


def regression_targets(y: da.Array) -> da.Array:
    """Regression targets as a lazy (n_samples, n_outputs) float64 Dask array,
    each block checked (real, finite) when it is computed."""
    n_outputs = 1 if y.ndim == 1 else y.shape[1]
    return da.map_blocks(
        _regression_block,
        y,
        chunks=(y.chunks[0], (n_outputs,)),
        new_axis=[1] if y.ndim == 1 else None,
        dtype=np.float64,
        meta=np.empty((0, 0)),
    )


def _regression_block(block: np.ndarray) -> np.ndarray:
    host = real_host(np.asarray(block), "y", convertible="O")
    return host_matrix(host.reshape(host.shape[0], -1), "y").astype(np.float64)


def blocks_of(array: da.Array, blocks: Sequence[int] | np.ndarray) -> da.Array:
    """These row blocks of ``array``, in this order, as one Dask array."""
    return da.concatenate([array.blocks[int(b)] for b in blocks], axis=0)
