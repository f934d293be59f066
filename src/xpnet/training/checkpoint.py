"""Checkpoints of a running fit: everything needed to continue it bit for bit.

One file (an :mod:`xpnet.files.array_file`, written atomically) holds the estimator as a
model file does (parameters, weights, history), plus the optimizer's state, the host
generator's state before the validation split, the position in the current epoch
(the generator's state before its permutation, the steps done, their summed loss) and
the early-stopping best weights. ``fit(X, y, resume_from=path)`` on the same data
replays the split and the epoch's permutation and carries on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..files.array_file import load_arrays, save_arrays
from .loop import History, Position, Run

VERSION = 1
# Parameters a resumed fit may change: they do not alter the trajectory so far.
_MAY_CHANGE = ("verbose", "max_iter", "backend", "warm_start")


def checkpoint_writer(
    path: str | os.PathLike, model: Any, rng_split: dict[str, Any]
) -> Callable[[Run], None]:
    """A ``Run.checkpoint`` hook writing ``model``'s run to ``path``."""
    path = os.fspath(path)

    def write(run: Run) -> None:
        model._store(run)
        config, arrays = model._export()
        to_numpy = run.backend.to_numpy
        for name, values in run.optimizer.state.items():
            arrays |= {f"opt.{name}.{i}": to_numpy(a) for i, a in enumerate(values)}
        if run.best_params is not None:
            arrays |= {f"best.{i}": to_numpy(a) for i, a in enumerate(run.best_params)}
        position = run.position
        header = {
            "checkpoint": {
                "version": VERSION,
                "model": config,
                "optimizer": {
                    "kind": run.optimizer.kind,
                    "scalars": run.optimizer.scalars(),
                },
                "rng_split": rng_split,
                "position": {
                    "step": position.step,
                    "epoch_loss": position.epoch_loss,
                    "rng_state": position.rng_state,
                },
                "steps": run.steps,
                "has_best": run.best_params is not None,
            }
        }
        save_arrays(path, header, {k: np.asarray(v) for k, v in arrays.items()})

    return write


def read_checkpoint(path: str | os.PathLike, model: Any) -> dict[str, Any]:
    """Load a checkpoint into ``model`` (weights, history, classes) and return the
    rest for :func:`restore_run`.

    Raises
    ------
    ValueError
        The file is not a checkpoint or is malformed, or was written by a different
        kind of model or with different training parameters (other than
        ``verbose``, ``max_iter``, ``backend``, ``warm_start``).
    """
    try:
        return _read(path, model)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"resume_from={os.fspath(path)!r} is a malformed checkpoint: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def _read(path: str | os.PathLike, model: Any) -> dict[str, Any]:
    header, arrays = load_arrays(path)
    record = header.get("checkpoint")
    if not isinstance(record, dict) or record.get("version") != VERSION:
        raise ValueError(
            f"resume_from={os.fspath(path)!r} is not an xpnet checkpoint (version "
            f"{VERSION}); got header keys {sorted(header)}"
        )
    config = record["model"]
    if config.get("kind") != type(model).__name__:
        raise ValueError(
            f"resume_from holds a {config.get('kind')}, not a {type(model).__name__}"
        )
    mine = {k: v for k, v in model._export_params().items() if k not in _MAY_CHANGE}
    theirs = {k: v for k, v in config["params"].items() if k not in _MAY_CHANGE}
    if mine != theirs:
        differ = sorted(k for k in mine if mine[k] != theirs.get(k))
        raise ValueError(
            f"resume_from was written with different parameters {differ}: "
            f"checkpoint {[theirs.get(k) for k in differ]}, this estimator "
            f"{[mine[k] for k in differ]}"
        )
    model_arrays = {k: v for k, v in arrays.items() if "." not in k}
    saved = type(model)._import(config, model_arrays, None)
    params = model.get_params()
    model.__dict__.update(saved.__dict__)
    model.set_params(**params)
    optimizer = record["optimizer"]
    state = {name: _numbered(arrays, f"opt.{name}.") for name in _state_names(arrays)}
    best = _numbered(arrays, "best.") if record["has_best"] else None
    return {
        "history": History.from_json(config["history"]),
        "optimizer_kind": optimizer["kind"],
        "scalars": optimizer["scalars"],
        "state": state,
        "rng_split": record["rng_split"],
        "position": Position(**record["position"]),
        "steps": record["steps"],
        "best": best,
    }


def _numbered(arrays: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """``arrays[prefix + "0"], arrays[prefix + "1"], ...`` as the writer named them."""
    count = sum(k.startswith(prefix) for k in arrays)
    return [arrays[f"{prefix}{i}"] for i in range(count)]


def _state_names(arrays: dict[str, np.ndarray]) -> list[str]:
    return sorted({k.split(".")[1] for k in arrays if k.startswith("opt.")})


def restore_run(saved: dict[str, Any], run: Run) -> None:
    """Put a checkpoint's optimizer, history, position and best weights into ``run``."""
    if saved["optimizer_kind"] != run.optimizer.kind:
        raise ValueError(
            f"resume_from holds a {saved['optimizer_kind']} optimizer; this fit uses "
            f"{run.optimizer.kind}"
        )
    backend = run.backend
    run.optimizer.load(
        saved["scalars"],
        {k: [backend.asarray(a) for a in v] for k, v in saved["state"].items()},
    )
    run.history = saved["history"]
    run.position = saved["position"]
    run.steps = saved["steps"]
    if saved["best"] is not None:
        run.best_params = [backend.asarray(a) for a in saved["best"]]
