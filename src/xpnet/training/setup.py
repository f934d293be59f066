"""Building a run from plain values: optimizer, hold-out split, validator, best weights.

The estimators hand over checked data (:mod:`xpnet.data`), the parameters, the
settings and the score of the validation set; this module makes the
:class:`~xpnet.training.loop.Run` that :func:`~xpnet.training.loop.train` runs. It
reads no estimator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import Array, Backend
from ..data.sparse import SparseRows
from ..maths.optim import new_optimizer  # noqa: F401 (its old home)
from ..mlp import outputs
from .holdout import split
from .loop import Run

Score = Callable[[Any, Array, Array, "Array | None"], Array]
"""``score(xp, outputs, Y, weights)``: the validation score on the device."""


def validator(
    backend: Backend,
    activations: list[Any],
    X_val: Any,
    Y_val: Array,
    W_val: Array | None,
    score: Score,
) -> Callable[[list[Array]], float]:
    """``validate(params)``: ``score`` of the network's outputs on the held-out
    rows (NaN when an output is not finite)."""
    xp, n_layers = backend.xp, len(activations)

    def validate(params: list[Array]) -> float:
        out = outputs(xp, params[:n_layers], params[n_layers:], activations, X_val)
        value = score(xp, out, Y_val, W_val)
        finite = xp.all(xp.isfinite(out))
        return float(xp.where(finite, value, xp.nan))

    return validate


def hold_out_rows(
    run: Run,
    rng: np.random.Generator,
    Y_host: np.ndarray,
    fraction: float,
    stratify: bool,
    score: Score,
) -> None:
    """Split a validation set off the rows of data in memory; the run trains on the
    others (picked by index batch by batch: no copy of X) and scores the held-out
    ones after each epoch."""
    backend = run.backend
    host_train, host_val = split(rng, Y_host, fraction, stratify)
    take = backend.xp.take
    train_idx, val_idx = backend.asarray(host_train), backend.asarray(host_val)
    run.rows = train_idx
    Y_val = take(run.Y, val_idx, axis=0)
    if isinstance(run.X, SparseRows):
        X_val = run.X.subset(host_val)
    else:
        X_val = take(run.X, val_idx, axis=0)
    W_val, host_sw = None, run.host_sample_weight
    if host_sw is not None:
        check_validation_weight(float(np.sum(host_sw[host_val])), len(host_val))
    if run.sample_weight is not None and host_sw is not None:
        # The device weights stay whole (indexed by X's rows, as the batches
        # are); the host ones follow the training rows' positions.
        W_val = take(run.sample_weight, val_idx, axis=0)
        run.host_sample_weight = host_sw[host_train]
    run.validate = validator(backend, run.activations, X_val, Y_val, W_val, score)


def check_validation_weight(total: float, n_rows: int) -> None:
    """Refuse a validation set whose sample weights sum to 0: its score would be
    NaN every epoch and early stopping would keep the initial weights."""
    if not total > 0:
        raise ValueError(
            f"early_stopping: every one of the {n_rows} validation rows has sample "
            "weight 0, so the validation score is undefined; give some of them a "
            "weight, change validation_fraction or random_state, or set "
            "early_stopping=False"
        )


def start_best(run: Run, best_host: list[np.ndarray] | None, dtype: str) -> None:
    """Early stopping's bookkeeping: an empty validation history where the last
    fit had none, and the best weights so far (``best_host``, else the current)."""
    history, backend = run.state.history, run.backend
    if history.validation_scores is None:  # warm start after a fit without it
        history.validation_scores, history.best_validation_score = [], -math.inf
    run.state.best_params = (
        [backend.asarray(np.array(p, dtype=dtype)) for p in best_host]
        if best_host is not None
        else [backend.xp.asarray(p, copy=True) for p in run.state.params]
    )
