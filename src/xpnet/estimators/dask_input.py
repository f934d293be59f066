"""Training on Dask arrays out of core: the estimators' side of :mod:`xpnet.dask`.

``fit`` and ``partial_fit`` hand a Dask ``X``, ``y`` or ``sample_weight`` (arrays or
dataframes) here and train from a :class:`~xpnet.dask.blocks.DaskBlocks`, the
training loop's batch source of X's row blocks, computed one at a time.

Class labels come from ``dask.array.unique(y)`` (a pass over y only); each block's
labels are encoded, and its sample weights checked, as it is computed. Early
stopping holds out whole blocks: ``ceil(validation_fraction * n_blocks)`` of them,
drawn by ``random_state``; after each epoch the validation score is the estimator's
``score`` over those blocks, with their weights (:mod:`.dask_predict`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np

from ..backend import Array, Backend
from ..dask.arrays import as_dask_rows, dask_weights, regression_targets
from ..dask.blocks import DaskBlocks
from ..training.loop import Run
from ..training.setup import check_validation_weight
from . import labels as _labels
from .dask_predict import dask_score


def dask_blocks(
    model: Any,
    X: Any,
    y: Any,
    backend: Backend,
    dtype: str,
    first_pass: bool,
    incremental: bool,
    classes: Any,
    sample_weight: Any = None,
) -> DaskBlocks:
    """The block source of X (a Dask array from the intake, its features recorded),
    y and sample_weight (shapes and labels checked); sets the estimator's
    ``classes_`` and output activation as ``fit`` does for host data. Each block's
    weights are checked as it is computed (finite, non-negative)."""
    if y is None:
        raise ValueError(
            "this estimator requires y to be passed, but the target y is None"
        )
    y = as_dask_rows(y, X, "y")
    Y = _network_targets(model, y, first_pass, incremental, classes)
    scaling = getattr(model, "standardization_", None)
    W = None
    if sample_weight is not None:
        W = dask_weights(sample_weight, X)
    return DaskBlocks(X, Y, y, backend, dtype, scaling, W)


def _network_targets(
    model: Any, y: da.Array, first_pass: bool, incremental: bool, classes: Any
) -> da.Array:
    """The estimator's targets (n_samples, n_outputs) as a lazy float64 Dask array.

    The estimator's own ``_targets`` rules (classes, partial_fit's ``classes``, the
    warm-start checks) run on a small host stand-in for y: its distinct labels
    (classifier) or one row of its width (regressor).
    """
    if model._estimator_type != "classifier":
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        model._targets(np.zeros((1, n_outputs)), 1, first_pass, incremental, classes)
        scaling = getattr(model, "standardization_", None)
        Y = regression_targets(y)
        if scaling is None:
            return Y
        return da.map_blocks(scaling.targets, Y, dtype=np.float64)
    values = da.unique(y).compute()
    # A multilabel indicator's stand-in keeps its width: each distinct value per column.
    stand_in = values if y.ndim == 1 else np.tile(values[:, None], (1, y.shape[1]))
    model._targets(stand_in, stand_in.shape[0], first_pass, incremental, classes)
    classes_, kind = model.classes_, model._target_kind
    n_outputs = 1 if kind == "binary" else len(classes_)
    return da.map_blocks(
        _encode,
        y,
        classes_,
        kind,
        chunks=(y.chunks[0], (n_outputs,)),
        new_axis=[1] if y.ndim == 1 else None,
        dtype=np.float64,
        meta=np.empty((0, 0)),
    )


def _encode(block: np.ndarray, classes: np.ndarray, kind: str) -> np.ndarray:
    return _labels.encode(_labels.as_label_array(block), classes, kind)


def hold_out_blocks(
    model: Any, run: Run, rng: np.random.Generator
) -> Callable[[list[Array]], float]:
    """Hold out ``ceil(validation_fraction * n_blocks)`` whole blocks, drawn by
    ``rng``; the run trains on the others. Returns the run's ``validate``: the
    estimator's ``score`` on the held-out blocks with the given weights.

    Raises
    ------
    ValueError
        Fewer than one validation block, or none left to train on.
    """
    blocks = run.blocks
    assert isinstance(blocks, DaskBlocks)
    training, held_out = blocks.hold_out(model.validation_fraction, rng)
    run.blocks, run.X, run.Y = training, training.X, training.Y
    backend, n_layers = run.backend, run.n_layers
    if held_out.W is not None:  # one pass over the held-out weights
        check_validation_weight(float(held_out.W.sum().compute()), held_out.X.shape[0])

    def validate(params: list[Array]) -> float:
        snapshot = copy.copy(model)
        host = [np.array(backend.to_numpy(p)) for p in params]
        snapshot.coefs_, snapshot.intercepts_ = host[:n_layers], host[n_layers:]
        snapshot._optimizer = None  # the workers need the weights only
        snapshot.__dict__.pop("feature_names_in_", None)  # checked at fit
        return dask_score(snapshot, held_out.X, held_out.y, held_out.W)

    return validate
