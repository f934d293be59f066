"""Learning-rate schedules for every solver: pure functions of the epoch and history.

A schedule is any object with ``factor(epoch, history) -> float``: the multiple of
``learning_rate_init`` to train epoch ``epoch`` (0 for the first epoch of a fit) at,
given the :class:`~xpnet.training.state.History` so far. The loop calls it on the host
once per epoch, before the epoch, and hands the rate to the optimizer (Adam's bias
correction still applies per step). Being a function of the history only, it needs no
state of its own: a checkpointed fit resumes it exactly, and a callback that changes
``learning_rate_init`` changes the base it scales.

Pass one as ``learning_rate=`` (scikit-learn's strings keep their meaning, for
``sgd`` only); these are the common ones, with Keras's and optax's formulas.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from .state import History


class Schedule(Protocol):
    """What ``learning_rate=`` accepts besides scikit-learn's strings."""

    def factor(self, epoch: int, history: History) -> float: ...


@dataclass(frozen=True)
class Constant:
    """``1``: the rate stays ``learning_rate_init``."""

    def factor(self, epoch: int, history: History) -> float:
        return 1.0


@dataclass(frozen=True)
class StepDecay:
    """``gamma ** (epoch // step_size)`` (torch's ``StepLR``)."""

    step_size: int
    gamma: float = 0.1

    def factor(self, epoch: int, history: History) -> float:
        return self.gamma ** (epoch // self.step_size)


@dataclass(frozen=True)
class ExponentialDecay:
    """``gamma ** epoch`` (torch's ``ExponentialLR``)."""

    gamma: float

    def factor(self, epoch: int, history: History) -> float:
        return self.gamma**epoch


@dataclass(frozen=True)
class CosineDecay:
    """Linear warm-up from ``warmup_start`` to 1 over ``warmup_epochs``, then a
    cosine from 1 to ``end`` at epoch ``total_epochs``, ``end`` after it (optax's
    ``warmup_cosine_decay_schedule`` with ``decay_steps=total_epochs``)."""

    total_epochs: int
    warmup_epochs: int = 0
    warmup_start: float = 0.0
    end: float = 0.0

    def factor(self, epoch: int, history: History) -> float:
        if epoch < self.warmup_epochs:
            rise = (1.0 - self.warmup_start) * epoch / self.warmup_epochs
            return self.warmup_start + rise
        span = max(self.total_epochs - self.warmup_epochs, 1)
        done = min(epoch - self.warmup_epochs, span) / span
        return self.end + (1.0 - self.end) * 0.5 * (1.0 + math.cos(math.pi * done))


@dataclass(frozen=True)
class ReduceOnPlateau:
    """Times ``decay`` each time the monitored value has not improved by more than
    ``threshold`` for more than ``patience`` epochs, down to ``min_factor`` (Keras's
    ``ReduceLROnPlateau``, ``cooldown=0``). Monitors the validation score where the
    fit records one (higher is better), else the training loss; replayed from the
    history, so it is a pure function of it. Raise ``n_iter_no_change`` above
    ``patience``, or training stops before the rate is reduced."""

    decay: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    min_factor: float = 0.0

    def factor(self, epoch: int, history: History) -> float:
        scores = history.validation_scores
        values = [-s for s in scores] if scores else list(history.loss_curve)
        best, wait, factor = math.inf, 0, 1.0
        for value in values:
            if value < best - self.threshold:
                best, wait = value, 0
            else:
                wait += 1
            if wait > self.patience:
                factor, wait = max(factor * self.decay, self.min_factor), 0
        return factor


BUILT_IN = {
    cls.__name__: cls
    for cls in (Constant, StepDecay, ExponentialDecay, CosineDecay, ReduceOnPlateau)
}


def is_schedule(value: Any) -> bool:
    """Whether ``value`` has a callable ``factor``."""
    return callable(getattr(value, "factor", None))


def schedule_to_json(value: Any) -> Any:
    """A built-in schedule as ``{"schedule": name, ...fields}``; strings as they are.
    Raises ValueError for a schedule of the user's own (it cannot be rebuilt)."""
    if isinstance(value, str):
        return value
    name = type(value).__name__
    if BUILT_IN.get(name) is not type(value):
        raise ValueError(
            f"learning_rate={value!r} cannot be saved: only xpnet's schedules "
            f"({', '.join(BUILT_IN)}) are; set a built-in one before saving"
        )
    return {"schedule": name, **asdict(value)}


def schedule_from_json(saved: Any) -> Any:
    """The inverse of :func:`schedule_to_json`."""
    if not isinstance(saved, dict):
        return saved
    cls = BUILT_IN.get(saved.get("schedule"))  # type: ignore[arg-type]
    names = {f.name for f in fields(cls)} if cls is not None else set()
    if cls is None or set(saved) - {"schedule"} != names:
        raise ValueError(f"learning_rate: unknown schedule {saved!r}")
    return cls(**{k: v for k, v in saved.items() if k != "schedule"})
