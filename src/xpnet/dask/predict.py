"""Predictions on Dask arrays: a function of host rows mapped over X's row blocks,
and the R² of such predictions reduced block by block."""

from __future__ import annotations

from collections.abc import Callable

import dask.array as da
import numpy as np

from ..maths.metrics import r2_per_output
from .arrays import regression_targets


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


def r2_score(predicted: da.Array, y: da.Array, weights: da.Array | None) -> float:
    """R² averaged over the outputs of ``predicted`` (n_samples, n_outputs) against
    targets ``y`` (each block checked real and finite as it is computed), rows
    weighted by ``weights`` (n_samples,) or not; only the final sums are computed."""
    truth = regression_targets(y)
    if truth.shape[1] != predicted.shape[1]:
        raise ValueError(
            f"y must have {predicted.shape[1]} outputs, as the model predicts; got "
            f"shape {y.shape}"
        )
    column = None if weights is None else weights[:, None]
    return float(np.mean(r2_per_output(da, predicted, truth, column).compute()))
