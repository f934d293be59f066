"""The estimators' side of checkpoints (:mod:`xpnet.training.checkpoint`).

A checkpoint holds a fit state and the model as the estimator describes it (its
model-file config and arrays). Here the estimator writes that description, and on
``resume_from`` checks it (same kind, same training parameters, a valid model) and
takes the fitted state back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..files.tensor_file import ModelFileError
from ..training import checkpoint
from ..training.checkpoint import Checkpoint, ModelRecord, check_same_data
from ..training.loop import History, Run

__all__ = ["Saved", "check_same_data", "describer", "read", "restore_run"]

# Parameters a resumed fit may change: they do not alter the trajectory so far.
_MAY_CHANGE = ("verbose", "max_iter", "backend", "warm_start")


@dataclass
class Saved:
    """A checkpoint read for an estimator: the fit state and the saved history."""

    checkpoint: Checkpoint
    history: History

    @property
    def rng_split(self) -> dict[str, Any]:
        """The generator's state before the hold-out split."""
        return self.checkpoint.rng_split

    @property
    def data(self) -> dict[str, Any]:
        """The fingerprint of the data the checkpoint was written on."""
        return self.checkpoint.data


def describer(model: Any) -> Callable[[Run], ModelRecord]:
    """The checkpoint writer's ``describe``: the run's weights stored on ``model``,
    then its model-file config and arrays."""

    def describe(run: Run) -> ModelRecord:
        model._store(run)
        return model._export()

    return describe


def read(model: Any, path: str | os.PathLike) -> Saved:
    """Read and check the checkpoint at ``path`` for ``model``, then put its fitted
    state (weights, history, classes) into ``model``, keeping its parameters.

    Raises
    ------
    ModelFileError
        The file is not a checkpoint or any part of it is malformed (see
        :func:`xpnet.training.checkpoint.read_checkpoint`); ``model`` is unchanged.
    ValueError
        It was written by a different kind of model or with different training
        parameters (other than ``verbose``, ``max_iter``, ``backend``,
        ``warm_start``).
    """
    path = os.fspath(path)
    record, arrays = checkpoint.read_record(path)
    config = record["model"]
    kind = config.get("kind")
    if kind != type(model).__name__:
        raise ValueError(f"resume_from holds a {kind}, not a {type(model).__name__}")
    theirs = config.get("params")
    if not isinstance(theirs, dict):
        raise ModelFileError(path, "malformed checkpoint: model params missing")
    _check_params(theirs, model)
    model_arrays = {k: v for k, v in arrays.items() if "." not in k}
    try:
        saved = type(model)._import(config, model_arrays, None)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(path, f"malformed checkpoint: {exc}") from None
    state = checkpoint.read_checkpoint(
        path, record, arrays, solver=saved.solver, early_stopping=saved.early_stopping
    )
    if saved.n_iter_ > saved.max_iter:
        raise ModelFileError(
            path,
            f"malformed checkpoint: history n_iter must be at most max_iter "
            f"({saved.max_iter}); got {saved.n_iter_}",
        )
    params = model.get_params()
    model.__dict__.pop("feature_names_in_", None)  # the checkpoint's, or none
    model.__dict__.update(saved.__dict__)
    model.set_params(**params)
    return Saved(state, saved._history())


def restore_run(saved: Saved, run: Run) -> None:
    """Put the checkpoint's fit state into ``run``."""
    checkpoint.restore_run(saved.checkpoint, run, saved.history)


def _check_params(theirs: dict[str, Any], model: Any) -> None:
    mine = {k: v for k, v in model._export_params().items() if k not in _MAY_CHANGE}
    theirs = {k: v for k, v in theirs.items() if k not in _MAY_CHANGE}
    if mine != theirs:
        differ = sorted(k for k in mine if mine[k] != theirs.get(k))
        raise ValueError(
            f"resume_from was written with different parameters {differ}: "
            f"checkpoint {[theirs.get(k) for k in differ]}, this estimator "
            f"{[mine[k] for k in differ]}"
        )
