"""Scores of predictions: accuracy and R², as scikit-learn computes them.

Pure functions of the namespace ``xp`` they are handed (the device's, NumPy's or
``dask.array``): the estimators' ``score`` and the early-stopping validation score.
"""

from __future__ import annotations

from typing import Any

Array = Any


def accuracy(xp: Any, hits: Any, weights: Any = None) -> Any:
    """The (weighted) mean of ``hits`` (n_samples,) in ``hits``' dtype;
    ``weights`` (n_samples,) optional."""
    if weights is None:
        return xp.mean(hits)
    return xp.sum(hits * weights) / xp.sum(weights)


def r2_per_output(xp: Any, out: Array, Y: Array, weights: Any = None) -> Array:
    """R² of each output column (n_outputs,) with scikit-learn's rules for constant
    targets (1 if predicted exactly, else 0); ``weights`` (n_samples, 1) optional."""
    if weights is None:
        diff, centred = Y - out, Y - xp.mean(Y, axis=0)
        ss_res = xp.sum(diff * diff, axis=0)
        ss_tot = xp.sum(centred * centred, axis=0)
    else:
        mean = xp.sum(weights * Y, axis=0) / xp.sum(weights)
        ss_res = xp.sum(weights * (Y - out) ** 2, axis=0)
        ss_tot = xp.sum(weights * (Y - mean) ** 2, axis=0)
    nonzero = ss_tot != 0
    safe = xp.where(nonzero, ss_tot, xp.ones_like(ss_tot))
    fallback = xp.where(ss_res == 0, xp.ones_like(ss_res), xp.zeros_like(ss_res))
    return xp.where(nonzero, 1 - ss_res / safe, fallback)
