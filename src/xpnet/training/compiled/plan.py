"""The host side of a compiled epoch: its batches, their factors, the optimizer's
hand-over.

A compiled epoch takes the whole epoch's plan at once (:class:`EpochPlan`): the rows
of every batch in order (device indices, padded to a fixed length with row 0), and
per step the learning rate, the loss weight, the L2 factors and the clipping bound,
computed in float64
by the eager loop's own :func:`xpnet.training.batches.plan`, then rounded to the
model's dtype once. The host generator draws the same permutation as the eager
epoch, so a compiled fit sees the same batches.

The optimizer stays the loop's object (:mod:`xpnet.maths.optim`: its learning-rate
schedule, checkpoints and stopping rule are unchanged); :class:`Handover` turns its
state into the pure pair's (:mod:`xpnet.maths.optimizers`) before the epoch and
back after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...maths import optimizers
from ...maths.flat import Layout
from ...maths.optim import SGD, Adam, Optimizer
from ...maths.step import StepHyper
from ..batches import plan

LOSS_WEIGHT, L2_FACTOR, L2_LOSS, RATE, MAX_NORM = range(5)
"""Columns of :attr:`EpochPlan.table`."""
N_COLUMNS = 5


def bucket(n_rows: int) -> int:
    """A fixed number of rows at least ``n_rows``: ``k * 2**e`` with ``16 <= k <
    32`` (at most 1/16 more). Data padded to it keeps one compiled program for fits
    whose sizes differ a little (cross-validation folds)."""
    if n_rows <= 32:
        return max(n_rows, 1)
    shift = n_rows.bit_length() - 5
    return -(-n_rows >> shift) << shift


@dataclass
class EpochPlan:
    """One epoch: ``order`` (n_steps_cap * batch_size,) int32 rows of X, batch by
    batch, padded with 0; ``table`` (n_steps_cap, 5) float64, per step: loss weight
    (rows times the loss scale), L2 gradient factor, L2 loss factor, learning rate,
    ``max_grad_norm`` (0 without clipping); ``n_full`` full batches then, when
    ``remainder`` > 0, one short batch of that many rows."""

    order: np.ndarray
    table: np.ndarray
    n_full: int
    remainder: int

    @property
    def n_steps(self) -> int:
        """Steps in the epoch."""
        return self.n_full + (self.remainder > 0)


def epoch_plan(
    run: Any, n_steps_cap: int, training_rows: np.ndarray | None
) -> EpochPlan:
    """The plan of the run's next epoch (data in memory, one block), drawing from
    the run's generator what the eager epoch draws. ``training_rows``: host copy of
    ``run.rows`` (early stopping), else None."""
    s, rng, n_samples = run.settings, run.rng, run.n_samples
    batch_size = s.batch_size
    if s.shuffle:
        rng.permutation(1)  # the blocks' order, as the eager epoch draws it
        perm: np.ndarray = rng.permutation(n_samples)
    else:
        perm = np.arange(n_samples)
    weights = run.host_sample_weight
    if weights is not None and s.shuffle:
        weights = weights[perm]
    rows = perm if training_rows is None else training_rows[perm]
    order = np.zeros(n_steps_cap * batch_size, np.int32)
    order[:n_samples] = rows
    table = np.zeros((n_steps_cap, N_COLUMNS))
    half_alpha = 0.5 * s.alpha
    batches = plan(n_samples, batch_size, run.loss_scale, s.alpha, weights)
    for step, (_, _, loss_weight, l2_factor, l2_loss) in enumerate(batches):
        table[step, LOSS_WEIGHT] = loss_weight
        table[step, L2_FACTOR] = l2_factor
        table[step, L2_LOSS] = half_alpha * l2_loss  # as the eager step takes it
    n_full, remainder = divmod(n_samples, batch_size)
    epoch = EpochPlan(order, table, n_full, remainder)
    table[: epoch.n_steps, RATE] = _rates(run.optimizer, epoch.n_steps)
    if s.max_grad_norm is not None:
        table[:, MAX_NORM] = s.max_grad_norm
    return epoch


def step_hyper(handover: Handover, row: Any, constants: tuple[Any, ...]) -> StepHyper:
    """The step's hyperparameters from its ``row`` of the plan's table (on the
    device) and the optimizer's ``constants`` (0-d arrays)."""
    return StepHyper(
        handover.hyper(row[RATE], constants),
        row[LOSS_WEIGHT],
        row[L2_FACTOR],
        row[L2_LOSS],
        row[MAX_NORM],
    )


def _rates(optimizer: Optimizer, n_steps: int) -> list[float]:
    # The learning rate of each step: Adam's bias-corrected rate moves every step.
    if isinstance(optimizer, Adam):
        o = optimizer
        return [
            # a schedule's rate (learning_rate_init times its factor) as the base
            optimizers.adam_rate(o._base_rate(), o.beta_1, o.beta_2, o.t + k)
            for k in range(1, n_steps + 1)
        ]
    return [optimizer.learning_rate] * n_steps


def steps_cap(n_rows: int, batch_size: int) -> int:
    """Length of a plan's table for data of ``n_rows`` rows (padded to
    :func:`bucket`): fixed for fits of similar sizes."""
    return math.ceil(bucket(n_rows) / batch_size)


@dataclass
class Handover:
    """The loop's optimizer object as a pure pair: ``pair``, its constant
    hyperparameters ``constants`` (host floats, in the order of the pair's hyper
    tuple after the learning rate) and its ``state`` per parameter array."""

    pair: optimizers.OptimizerPair
    constants: tuple[float, ...]
    key: tuple[Any, ...]

    @classmethod
    def of(cls, xp: Any, optimizer: Optimizer) -> Handover:
        """The pair computing ``optimizer``'s update (SGD or Adam)."""
        if isinstance(optimizer, Adam):
            b1, b2 = optimizer.beta_1, optimizer.beta_2
            constants = (b1, 1 - b1, b2, 1 - b2, optimizer.epsilon)
            return cls(optimizers.adam(xp), constants, ("adam",))
        if isinstance(optimizer, SGD):
            pair = optimizers.sgd(xp, nesterov=optimizer.nesterov)
            return cls(pair, (optimizer.momentum,), ("sgd", optimizer.nesterov))
        raise TypeError(f"no pure pair for optimizer {type(optimizer).__name__}")

    def state(self, xp: Any, optimizer: Optimizer, layout: Layout) -> Any:
        """The optimizer's state as the pair's, one array per parameter."""
        return self.state_of(
            tuple(tuple(layout.views(xp, flat)) for flat in optimizer.buffers.values())
        )

    def state_of(self, per_array: tuple[tuple[Any, ...], ...]) -> Any:
        """The pair's state from its arrays, in the optimizer's buffer order."""
        if self.pair.name == "adam":
            return optimizers.AdamState(*per_array)
        return optimizers.SGDState(*per_array)

    def give_back(
        self, xp: Any, optimizer: Optimizer, layout: Layout, state: Any, plan: EpochPlan
    ) -> None:
        """The pair's state after ``plan``'s epoch back into ``optimizer``."""
        flats = [layout.flatten(xp, list(arrays)) for arrays in state]
        self.give_back_flat(optimizer, flats, plan)

    def give_back_flat(self, optimizer: Optimizer, flats: Any, plan: EpochPlan) -> None:
        """:meth:`give_back` of the state as flat vectors (the buffers' order)."""
        for name, flat in zip(optimizer.buffers, flats, strict=True):
            optimizer.buffers[name] = flat
        if isinstance(optimizer, Adam):
            optimizer.t += plan.n_steps
            optimizer.learning_rate = float(plan.table[plan.n_steps - 1, RATE])

    def hyper(self, rate: Any, constants: tuple[Any, ...]) -> Any:
        """The pair's hyper tuple from the step's rate and the constants (arrays)."""
        if self.pair.name == "adam":
            return optimizers.AdamHyper(rate, *constants)
        return optimizers.SGDHyper(rate, *constants)
