"""Predictions and scores for Dask arrays, block by block, never the whole of X.

``predict``, ``predict_proba``, ``predict_log_proba`` and ``score`` of both estimators
hand a Dask ``X`` (or ``y``, ``sample_weight``) here. Predictions come back as a Dask
array: ``map_blocks`` runs the estimator's own method on each block of rows, on the
workers of the active ``distributed`` client or on dask's local scheduler. ``score``
reduces over the blocks with ``dask.array`` (accuracy as the mean of per-block hits,
R² from per-output sums) and computes only the final numbers.

The estimators' side of :mod:`xpnet.dask` (which holds the Dask arrays,
``map_blocks`` and the R² reduction): X through the estimator's intake, its methods
on the blocks, its label checks on y; only this module and :mod:`.dask_input` import
it, when the estimators are handed a Dask collection.
"""

from __future__ import annotations

import functools
from typing import Any

import dask.array as da
import numpy as np

from ..dask.arrays import as_dask_rows
from ..dask.predict import map_rows, r2_score
from . import labels as _labels


def dask_method(model: Any, name: str, X: Any, *args: Any, **kwargs: Any) -> Any:
    """``model.<name>(X, ...)`` for Dask input: ``score`` reduced over the blocks,
    the ``predict*`` methods as a lazy Dask array."""
    if name == "score":
        return dask_score(model, X, *args, **kwargs)
    return dask_predictions(model, name, checked_X(model, X))


def checked_X(model: Any, X: Any, *others: Any) -> da.Array:
    """X through the intake as a lazy Dask array (host X cut at the row chunks of
    a Dask array among ``others``), its feature count and a Dask dataframe's column
    names checked against the fit's (as for host frames)."""
    model._check_is_fitted()
    backend, dtype = model._fitted_backend(), model._model_dtype()
    return model._features(X, backend, dtype, reset=False, dask_rows=others)


def dask_predictions(model: Any, method: str, X: da.Array) -> da.Array:
    """``model.<method>`` on each block of X's rows (``map_blocks``), lazily: a Dask
    array of shape (n_samples,) or (n_samples, n_columns) as the method returns.
    X was checked by the intake (:func:`checked_X`): the blocks go to a copy without
    them, with no optimizer (the workers need the weights only)."""
    model._check_is_fitted()
    bare = object.__new__(type(model))
    bare.__dict__.update(
        (k, v)
        for k, v in model.__dict__.items()
        if k not in ("feature_names_in_", "_optimizer", "_live_run")
    )
    return map_rows(functools.partial(_apply, model=bare, method=method), X)


def _apply(block: np.ndarray, model: Any, method: str) -> np.ndarray:
    return getattr(model, method)(block)


def dask_score(model: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
    """Accuracy (classifier) or R² averaged over outputs (regressor), as the
    estimator's ``score``, reduced block by block."""
    X = checked_X(model, X, y, sample_weight)
    y = as_dask_rows(y, X, "y")
    weights = None
    if sample_weight is not None:
        if getattr(sample_weight, "ndim", np.ndim(sample_weight)) != 1:
            raise ValueError(
                "sample_weight must be 1-D with one weight per sample of X; got shape "
                f"{getattr(sample_weight, 'shape', np.shape(sample_weight))}"
            )
        weights = as_dask_rows(sample_weight, X, "sample_weight")
    if model._estimator_type == "classifier":
        predicted = dask_predictions(model, "predict", X)
        hits = da.map_blocks(
            _hits, predicted, y, drop_axis=1 if y.ndim == 2 else [], dtype=bool
        )
        return float(da.average(hits, weights=weights).compute())
    return r2_score(dask_predictions(model, "_host_outputs", X), y, weights)


def _hits(predicted: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row hits of one block: the label checks of ``score``, then equality."""
    truth = _labels.as_label_array(y)
    _labels.check_label_values(truth)
    hits = predicted == truth
    return hits.all(axis=1) if hits.ndim == 2 else hits
