"""Predictions on Dask arrays: a function of host rows mapped over X's row blocks."""

from __future__ import annotations

from collections.abc import Callable

import dask.array as da
import numpy as np


def map_rows(fn: Callable[[np.ndarray], np.ndarray], X: da.Array) -> da.Array:
    """``fn`` on each block of X's rows (``map_blocks``, lazily: on the workers of
    the active ``distributed`` client or on dask's local scheduler), as a Dask
    array of shape (n_samples,) or (n_samples, n_columns) as ``fn`` returns; one
    row through ``fn`` first gives the output's dtype and columns."""
    probe = np.asarray(fn(np.zeros((1, X.shape[1]))))
    if probe.ndim == 1:
        return da.map_blocks(fn, X, drop_axis=1, dtype=probe.dtype, meta=probe[:0])
    return da.map_blocks(
        fn,
        X,
        chunks=(X.chunks[0], (probe.shape[1],)),
        dtype=probe.dtype,
        meta=probe[:0],
    )
