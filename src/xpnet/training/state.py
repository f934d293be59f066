"""The plain values a fit works on: :class:`FitState` and the loop's :class:`Settings`.

A :class:`FitState` is everything a run changes (parameters, optimizer state,
history, position in the epoch, generator state, best weights); checkpoints
(:mod:`.checkpoint`) write and read it, and nothing in training reads an estimator.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..backend import Array
from ..maths.optim import Optimizer


@dataclass
class History:
    """What training has recorded, in scikit-learn's terms.

    Attributes
    ----------
    loss_curve : list of float
        Training loss (with the L2 term) of every epoch.
    validation_scores : list of float or None
        Validation score of every epoch, with early stopping.
    best_loss : float or None
        Lowest training loss (None with early stopping).
    best_validation_score : float or None
        Highest validation score (None without early stopping).
    no_improvement_count : int
        Epochs in a row without an improvement by more than ``tol``.
    n_iter : int
        Epochs run by the current ``fit`` (reset by each ``fit``).
    t : int
        Samples seen since the weights were initialised.
    epoch_paths : list of str
        How each epoch of ``loss_curve`` ran: its compiler (``"jax.jit"``,
        ``"torch.compile"``, ``"CUDA graph"``) or ``"eager"``, which includes an
        epoch a resume finishes (L-BFGS: empty).
    """

    loss_curve: list[float] = field(default_factory=list)
    validation_scores: list[float] | None = None
    best_loss: float | None = math.inf
    best_validation_score: float | None = None
    no_improvement_count: int = 0
    n_iter: int = 0
    t: int = 0
    epoch_paths: list[str] = field(default_factory=list)

    @classmethod
    def fresh(cls, early_stopping: bool) -> History:
        """The history of an unfitted model."""
        if early_stopping:
            return cls(
                validation_scores=[], best_loss=None, best_validation_score=-math.inf
            )
        return cls()

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (infinities as strings)."""
        return {k: _json_float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> History:
        """The inverse of :meth:`to_json`."""
        return cls(
            **{
                k: v if k == "epoch_paths" else _from_json_float(v)
                for k, v in data.items()
            }
        )


def _json_float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, list):
        return [_json_float(v) for v in value]
    return value


def _from_json_float(value: Any) -> Any:
    if isinstance(value, str):
        return float(value)
    if isinstance(value, list):
        return [_from_json_float(v) for v in value]
    return value


@dataclass
class Position:
    """Where the current epoch stands (what a mid-epoch checkpoint must hold).

    ``rng_state`` is the host generator's state before this epoch's permutation,
    ``step`` the batches done in this epoch, ``epoch_loss`` their summed loss.
    """

    step: int = 0
    epoch_loss: float = 0.0
    rng_state: dict[str, Any] | None = None


@dataclass
class Settings:
    """The loop's settings, already validated (scikit-learn's meanings)."""

    batch_size: int
    max_iter: int
    shuffle: bool
    tol: float
    n_iter_no_change: float
    alpha: float
    incremental: bool = False
    verbose: int = 0
    max_grad_norm: float | None = None


@dataclass
class FitState:
    """What a run changes, as plain values.

    ``params`` is weights then biases on the device (the loop updates the list in
    place; on any exit it holds the weights the model keeps); ``optimizer`` holds its
    state; ``rng`` is the host generator of shuffles (its state before the hold-out
    split is ``rng_split``); ``steps`` counts the minibatches since the fit started;
    ``best_params`` are the early-stopping best weights.
    """

    params: list[Array]
    optimizer: Optimizer
    history: History
    rng: np.random.Generator
    rng_split: dict[str, Any] = field(default_factory=dict)
    position: Position = field(default_factory=Position)
    steps: int = 0
    best_params: list[Array] | None = None
