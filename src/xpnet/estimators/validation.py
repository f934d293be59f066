"""``fit(..., validation_data=(X_val, y_val), scoring=...)``: a score per epoch;
and early stopping's held-out validation set (:func:`hold_out`).

The score of a validation set is recorded after every epoch in the history and
``validation_scores_``; with ``early_stopping=True`` it decides the stop (instead of
a held-out ``validation_fraction``) and the best weights. Built-in scorers run on
the device and are read once per epoch: ``"accuracy"`` (classifier; subset accuracy
for multilabel), ``"log_loss"`` (classifier; the negated mean log-loss, higher is
better, as scikit-learn's ``neg_log_loss``), ``"r2"`` (regressor). A callable is a
scikit-learn scorer, ``scoring(model, X_val, y_val) -> float``, called on the host
with the epoch's weights (they are copied from the device for it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import Array, Backend
from ..data import as_sample_weight, as_targets
from ..files.messages import brief
from ..maths.losses import loss_value
from ..training import setup
from ..training.loop import Run
from . import labels as _labels

DEVICE_SCORERS = {"classifier": ("accuracy", "log_loss"), "regressor": ("r2",)}


def device_score(model: Any, scoring: Any, run: Run) -> setup.Score:
    """The device score ``score(xp, outputs, Y, weights)`` named by ``scoring``
    (None: the estimator's ``score``, accuracy or R²)."""
    names = DEVICE_SCORERS[model._estimator_type]
    if scoring is None or scoring == names[0]:
        return model._device_score
    if scoring in names:  # the classifier's log_loss
        output = run.activations[-1]

        def neg_log_loss(xp: Any, out: Array, Y: Array, weights: Any) -> Array:
            return -loss_value(xp, "log_loss", output, out, Y, weights)

        return neg_log_loss
    raise ValueError(
        f"scoring must be one of {list(names)}, a callable scoring(model, X, y) "
        f"(with validation_data) or None; got {brief(scoring)}"
    )


def validation_set(
    model: Any,
    run: Run,
    backend: Backend,
    dtype: str,
    validation_data: Any,
    scoring: Any,
) -> None:
    """Set ``run.validate`` to score ``validation_data`` after every epoch."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (
        2,
        3,
    ):
        raise ValueError(
            "validation_data must be (X_val, y_val) or (X_val, y_val, sample_weight);"
            f" got {brief(validation_data)}"
        )
    X_val, y_val, *rest = validation_data
    if callable(scoring):
        run.validate = _host_scorer(model, run, X_val, y_val, scoring)
        return
    score = device_score(model, scoring, run)
    X_dev = model._features(X_val, backend, dtype, reset=False)
    n_samples = X_dev.shape[0]
    if model._estimator_type == "classifier":
        labels = as_targets(y_val, backend, "y_val")
        if labels.shape[0] != n_samples:
            raise ValueError(
                f"y_val must have {n_samples} rows, one per row of X_val; got shape "
                f"{labels.shape}"
            )
        Y_host = _labels.encode(labels, model.classes_, model._target_kind)
    else:
        Y_host = model._checked_y(y_val, n_samples)
        scaling = model.__dict__.get("standardization_")
        Y_host = Y_host if scaling is None else scaling.targets(Y_host)
    weights = as_sample_weight(rest[0] if rest else None, backend, n_samples, dtype)
    run.validate = setup.validator(
        backend,
        run.activations,
        X_dev,
        backend.asarray(np.asarray(Y_host), dtype),
        None if weights is None else weights.device,
        score,
    )


def _host_scorer(
    model: Any, run: Run, X_val: Any, y_val: Any, scoring: Callable[..., Any]
) -> Callable[[list[Array]], float]:
    def validate(params: list[Array]) -> float:
        model._live_run = run  # coefs_ are copied from the run when read
        model.__dict__.pop("coefs_", None)
        model.__dict__.pop("intercepts_", None)
        return float(scoring(model, X_val, y_val))

    return validate


def hold_out(
    model: Any, run: Run, rng: np.random.Generator, Y_host: Any, scoring: Any
) -> None:
    """Early stopping without ``validation_data``: split a validation set off the
    run's data; set up its scoring and the best weights.

    Blocks of a Dask array are held out whole (:mod:`.dask_input`); data on the
    device is split by rows (:func:`xpnet.training.setup.hold_out_rows`).
    """
    if run.blocks is not None:
        from .dask_input import hold_out_blocks

        run.validate = hold_out_blocks(model, run, rng)
    else:
        setup.hold_out_rows(
            run,
            rng,
            Y_host,
            model.validation_fraction,
            model._stratify_split,
            device_score(model, scoring, run),
        )
    best = model.__dict__.get("_best_params_host")
    setup.start_best(run, best, model.dtype_)
