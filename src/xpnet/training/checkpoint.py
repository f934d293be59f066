"""Checkpoints of a running fit: its :class:`~.state.FitState`, to continue bit for bit.

One safetensors file (:mod:`xpnet.files.tensor_file`, written atomically) holds the
model as its owner describes it (a config and arrays, as in a model file: opaque
here, checked by the owner on resume), plus the fit state: the optimizer's
state (tensors ``opt.NAME.I``, one per parameter, ``I`` counting weights then
biases), the host generator's state before the validation split, the position in the
current epoch (the generator's state before its permutation, the steps done, their
summed loss), the early-stopping best weights (``best.I``) and a fingerprint of the
training data (shape, dtype and CRC-32 of X, the encoded targets and the sample
weights; on Dask, of each block as it is computed).

:func:`read_checkpoint` checks the whole file (every key, type, shape and name)
before anything is applied, so a tampered or damaged checkpoint raises
:class:`~xpnet.files.tensor_file.ModelFileError` and changes nothing;
``fit(X, y, resume_from=path)`` on the same data replays the split and the epoch's
permutation and carries on, and refuses other data unless told otherwise.

The header's record has the keys of :data:`RECORD_KEYS`; a key added later within
the same ``format_version`` goes into :data:`OPTIONAL_KEYS` with the value that files
without it mean, so files written before it still read (see
:mod:`xpnet.files.tensor_file`).
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import Array, Backend
from ..files.atomic import check_target
from ..files.tensor_file import ModelFileError, load_tensors, save_tensors
from ..maths.optim import OPTIMIZERS
from .loop import Run
from .state import FitState, History, Position

# The optimizer scalars a checkpoint may set, by optimizer kind: name -> int?
_SCALARS = {
    "sgd": {"learning_rate": False},
    "adam": {"learning_rate": False, "t": True},
}
RECORD_KEYS = frozenset(
    {"model", "optimizer", "rng_split", "position", "steps", "has_best", "data"}
)
"""The keys every checkpoint record has (``format_version`` 2)."""
OPTIONAL_KEYS: dict[str, Any] = {}
"""Keys added since, each with the value a record without it means."""

ModelRecord = tuple[dict[str, Any], dict[str, np.ndarray]]
"""A model as its owner describes it: a JSON-able config and host arrays (names
without dots; ``W{l}`` and ``b{l}`` are its weights and biases)."""


@dataclass
class Checkpoint:
    """A checkpoint read and checked whole; nothing applied yet. ``model`` and
    ``arrays`` are the model record (for its owner to check); the rest is the fit
    state as host values."""

    model: dict[str, Any]
    arrays: dict[str, np.ndarray]
    optimizer_kind: str
    scalars: dict[str, Any]
    state: dict[str, list[np.ndarray]]
    rng_split: dict[str, Any]
    position: Position
    steps: int
    best: list[np.ndarray] | None
    data: dict[str, Any]


def data_fingerprint(
    backend: Backend, X: Array, Y: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, Any]:
    """Shape, dtype and CRC-32 of the training data X (on the device, copied to the
    host once), the encoded targets Y (host) and the sample ``weights`` (host
    float64, or None: no weights): cheap, and changed by any edit, reordering or
    subset of the rows, and by other weights (none, a constant, reversed)."""
    return {
        name: None if array is None else array_print(array)
        for name, array in (
            ("X", backend.to_numpy(X)),
            ("y", Y),
            ("sample_weight", weights),
        )
    }


def array_print(array: np.ndarray) -> dict[str, Any]:
    """Shape, dtype and CRC-32 of a host array."""
    return {
        "shape": list(array.shape),
        "dtype": array.dtype.str,
        "crc32": zlib.crc32(np.ascontiguousarray(array).view(np.uint8).data),
    }


def checkpoint_writer(
    path: str | os.PathLike,
    describe: Callable[[Run], ModelRecord],
    data: dict[str, Any] | None,
) -> Callable[[Run], None]:
    """A ``Run.checkpoint`` hook writing the run's :class:`FitState` on ``data`` (a
    :func:`data_fingerprint`) with the model record ``describe(run)`` to ``path``; a
    ``path`` that is not a regular file is refused here, before training."""
    path = os.fspath(path)
    check_target(path)

    def write(run: Run) -> None:
        config, arrays = describe(run)
        state = run.state
        to_numpy = run.backend.to_numpy
        for name, values in state.optimizer.state.items():
            arrays |= {f"opt.{name}.{i}": to_numpy(a) for i, a in enumerate(values)}
        if state.best_params is not None:
            best = state.best_params
            arrays |= {f"best.{i}": to_numpy(a) for i, a in enumerate(best)}
        header = {"checkpoint": _record(state, config, data)}
        try:
            save_tensors(path, header, {k: np.asarray(v) for k, v in arrays.items()})
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot write checkpoint {path!r}: {exc.strerror or exc}; training "
                "stopped (the estimator is left as it was before fit, the file holds "
                "its previous checkpoint: resume from it)",
                path,
            ) from exc

    return write


def _record(
    state: FitState, config: dict[str, Any], data: dict[str, Any] | None
) -> dict[str, Any]:
    """The header's record of ``state``."""
    position = state.position
    return {
        "model": config,
        "optimizer": {
            "kind": state.optimizer.kind,
            "scalars": state.optimizer.scalars(),
        },
        "rng_split": state.rng_split,
        "position": {
            "step": position.step,
            "epoch_loss": position.epoch_loss,
            "rng_state": position.rng_state,
        },
        "steps": state.steps,
        "has_best": state.best_params is not None,
        "data": _data_now(data),
    }


def _data_now(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fingerprint as it stands: Dask's ``blocks`` grows as blocks are computed
    (in a background thread: ``dict.copy`` is one step for it)."""
    if data is None or data.get("blocks") is None:
        return data
    return {**data, "blocks": data["blocks"].copy()}


def read_record(
    path: str | os.PathLike,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The checkpoint record of the file at ``path`` (its model config checked to
    be an object) and its tensors; ModelFileError if it is no checkpoint."""
    path = os.fspath(path)
    header, arrays = load_tensors(path)
    record = header.get("checkpoint")
    if not isinstance(record, dict):
        raise ModelFileError(
            path, f"not an xpnet checkpoint; got header keys {sorted(header)}"
        )
    if not isinstance(record.get("model"), dict):
        raise ModelFileError(path, "malformed checkpoint: no model object")
    return record, arrays


def read_checkpoint(
    path: str | os.PathLike,
    record: dict[str, Any],
    arrays: dict[str, np.ndarray],
    *,
    solver: str,
    early_stopping: bool,
) -> Checkpoint:
    """Check a :func:`read_record` result whole for a fit with ``solver`` and
    ``early_stopping``.

    Raises
    ------
    ModelFileError
        Any part of it is malformed or inconsistent (missing or extra state, wrong
        shapes, unknown optimizer scalars, best weights announced but absent, ...).
    """
    try:
        return _checked(record, arrays, solver, bool(early_stopping))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(os.fspath(path), f"malformed checkpoint: {exc}") from None


def _checked(
    record: dict[str, Any],
    arrays: dict[str, np.ndarray],
    solver: str,
    early_stopping: bool,
) -> Checkpoint:
    record = {**OPTIONAL_KEYS, **record}
    if not RECORD_KEYS <= set(record) <= RECORD_KEYS | set(OPTIONAL_KEYS):
        raise ValueError(f"checkpoint must have keys {sorted(RECORD_KEYS)}")
    model_arrays = {k: v for k, v in arrays.items() if "." not in k}
    params = _parameters(model_arrays)
    optimizer = _dict(record["optimizer"], {"kind", "scalars"}, "optimizer")
    kind = optimizer["kind"]
    if kind not in OPTIMIZERS or kind != solver:
        raise ValueError(f"optimizer kind must be {solver!r}; got {kind!r}")
    has_best = record["has_best"]
    if has_best is not early_stopping:
        raise ValueError(
            f"has_best must be {early_stopping} (early_stopping); got {has_best!r}"
        )
    groups = [f"opt.{name}." for name in OPTIMIZERS[kind].state_names]
    groups += ["best."] if has_best else []
    expected = {f"{g}{i}" for g in groups for i in range(len(params))}
    given = {k for k in arrays if "." in k}
    if given != expected:
        raise ValueError(
            f"state tensors missing {sorted(expected - given)[:6]}, unexpected "
            f"{sorted(given - expected)[:6]}"
        )
    state = {g.split(".")[1]: _like(arrays, g, params) for g in groups if g != "best."}
    if any(np.any(v < 0) for v in state.get("vs", [])):
        raise ValueError("tensor opt.vs (Adam's second moments) holds values < 0")
    steps = _at_most(record["steps"], MAX_COUNT, "steps")
    position = _dict(
        record["position"], {"step", "epoch_loss", "rng_state"}, "position"
    )
    _at_most(position["step"], steps, "position step", "steps")
    _in_dtype(position["epoch_loss"], params[0].dtype, "position epoch_loss")
    if position["rng_state"] is not None:
        _check_rng_state(position["rng_state"], "position rng_state")
    _check_rng_state(record["rng_split"], "rng_split")
    scalars = _scalars(optimizer["scalars"], kind)
    if "t" in scalars:  # Adam counts the steps of this fit
        _at_most(scalars["t"], steps, "optimizer t", "steps")
    return Checkpoint(
        model=record["model"],
        arrays=model_arrays,
        optimizer_kind=kind,
        scalars=scalars,
        state=state,
        rng_split=record["rng_split"],
        position=Position(**position),
        steps=steps,
        best=_like(arrays, "best.", params) if has_best else None,
        data=_data_record(record["data"]),
    )


DATA_OPTIONAL = {"sample_weight": None, "blocks": None}
"""Keys of a checkpoint's data fingerprint added within format_version 2, with
what a record without them means (no weights; no block hashes)."""


def _data_record(data: Any) -> dict[str, Any]:
    """The data fingerprint: X and y, the sample weights', and for Dask input the
    CRC-32 of each block computed so far (block number -> crc)."""
    if not isinstance(data, dict) or not {"X", "y"} <= set(data) <= {
        "X",
        "y",
        *DATA_OPTIONAL,
    }:
        raise ValueError(f"data must be an object with keys {['X', 'y']}")
    data = {**DATA_OPTIONAL, **data}
    blocks = data["blocks"]
    if blocks is not None and not (
        isinstance(blocks, dict)
        and all(
            key.isdigit() and type(crc) is int and 0 <= crc < 2**32
            for key, crc in blocks.items()
        )
    ):
        raise ValueError("data blocks must map block numbers to CRC-32 values")
    return data


def _parameters(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The model's weights ``W0, W1, ...`` then biases ``b0, b1, ...``."""
    n_layers = sum(1 for name in arrays if name.startswith("W"))
    names = [f"W{i}" for i in range(n_layers)] + [f"b{i}" for i in range(n_layers)]
    missing = [name for name in names if name not in arrays]
    if missing or not n_layers:
        raise ValueError(f"model tensors missing {missing or ['W0']}")
    return [arrays[name] for name in names]


def _dict(value: Any, keys: set[str], name: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise ValueError(f"{name} must be an object with keys {sorted(keys)}")
    return value


def _count(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an int >= 0; got {value!r}")
    return value


MAX_COUNT = 2**53
"""The largest count (steps, samples) a checkpoint may hold: exact as a float."""


def _at_most(value: Any, high: int, name: str, bound: str | None = None) -> int:
    """An int in [0, high]; ``bound`` names what ``high`` is."""
    if _count(value, name) > high:
        shown = value if value < 10**30 else f"an int of {len(str(value))} digits"
        limit = f"{bound} ({high})" if bound else str(high)
        raise ValueError(f"{name} must be an int in [0, {limit}]; got {shown}")
    return value


def _in_dtype(value: Any, dtype: np.dtype, name: str) -> float:
    """A finite number within the range of ``dtype`` (the model's)."""
    number = _finite(value, name)
    if abs(number) > float(np.finfo(dtype).max):
        raise ValueError(
            f"{name} must be within the range of the model's dtype {dtype} "
            f"(|x| <= {np.finfo(dtype).max:.4g}); got {number!r}"
        )
    return number


def _finite(value: Any, name: str) -> float:
    try:
        number = float(value)  # an int past float's range overflows
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(number)
    ):
        shown = repr(value)
        raise ValueError(f"{name} must be a finite number; got {shown[:40]}")
    return number


def _scalars(scalars: Any, kind: str) -> dict[str, Any]:
    """The optimizer's scalars, only the names it has, each of its type."""
    names = _SCALARS[kind]
    _dict(scalars, set(names), f"{kind} optimizer scalars")
    for name, integral in names.items():
        if integral:
            _count(scalars[name], f"optimizer {name}")
        elif _finite(scalars[name], f"optimizer {name}") < 0:
            raise ValueError(f"optimizer {name} must be >= 0")
    return scalars


def _like(
    arrays: dict[str, np.ndarray], prefix: str, params: list[np.ndarray]
) -> list[np.ndarray]:
    """``prefix + "0"``, ``prefix + "1"``, ...: each the shape and dtype of its
    parameter, and finite."""
    out = []
    for i, param in enumerate(params):
        array = arrays[f"{prefix}{i}"]
        if array.shape != param.shape or array.dtype != param.dtype:
            raise ValueError(
                f"tensor {prefix}{i} must be {param.dtype} of shape {param.shape}; "
                f"got {array.dtype} of shape {array.shape}"
            )
        if not np.isfinite(array).all():
            raise ValueError(f"tensor {prefix}{i} holds NaN or inf")
        out.append(array)
    return out


def _check_rng_state(state: Any, name: str) -> None:
    if not isinstance(state, dict):
        raise ValueError(f"{name} must be a generator state object")
    try:
        np.random.default_rng().bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ValueError(f"{name} is not a NumPy generator state ({exc})") from None


def check_same_data(
    saved: Any, data: dict[str, Any] | None, path: str | os.PathLike
) -> None:
    """ValueError unless ``data`` (a :func:`data_fingerprint`) is the checkpoint's
    (Dask's block hashes are checked as the blocks are computed)."""
    if data is not None:
        data = {k: v for k, v in {**DATA_OPTIONAL, **data}.items() if k != "blocks"}
    theirs = {k: v for k, v in saved.data.items() if k != "blocks"}
    if theirs != data:
        raise ValueError(
            f"resume_from {os.fspath(path)!r} was written while training on other "
            f"data (checkpoint: {theirs}, this fit: {data}); resume on the same "
            "X and y, or pass resume_on_other_data=True to continue anyway"
        )


def restore_run(saved: Checkpoint, run: Run, history: History) -> None:
    """Put a checkpoint's optimizer, ``history``, position and best weights into
    ``run``."""
    n_batches = run.epoch_steps()
    if saved.position.step > n_batches:
        raise ValueError(
            f"resume_from is {saved.position.step} steps into an epoch of "
            f"{n_batches} steps"
        )
    backend = run.backend
    run.state.optimizer.load(
        saved.scalars,
        {k: [backend.asarray(a) for a in v] for k, v in saved.state.items()},
    )
    run.state.history = history
    run.state.position = saved.position
    run.state.steps = saved.steps
    if saved.best is not None:
        run.state.best_params = [backend.asarray(a) for a in saved.best]
