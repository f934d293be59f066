"""The training loop: minibatch epochs on the device, scikit-learn's stopping rules.

The data is on the device before the loop starts, or comes in blocks of rows
(:class:`Blocks`, e.g. a Dask array's) loaded one at a time. Each epoch draws the
blocks' order, then each block's permutation, on the host (a seeded NumPy
Generator); each batch gathers its rows with ``xp.take``. Data on the device is one
block, so its epoch draws just the permutation. The epoch's loss is summed on the
device and read once per epoch, so no step waits for the device.

Faults lose nothing: a NaN or inf loss raises :class:`DivergenceError` and leaves the
weights of the last good epoch; ``KeyboardInterrupt`` (Ctrl-C is held until the
running step ends) leaves the weights and history of the last completed step and is
re-raised; running out of device memory raises :class:`DeviceMemoryError` naming the
batch and data sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import caller
from ..backend import Array, Backend
from ..maths.activations import Activation
from ..maths.losses import Loss
from ..memory import data_size
from ..transfers import read_floats
from .batches import BatchEnd, Block, Blocks, epoch_batches
from .compiled import CompiledEpochs, epoch_compiled
from .errors import (
    DIVERGED,
    ConvergenceWarning,
    DivergenceError,
    convergence_warning,
)
from .holdout import stratified_split
from .progress import DeferredInterrupt, Progress, watching
from .schedules import Schedule
from .state import FitState, History, Position, Settings
from .step import FlatParams, Step

__all__ = [
    "DIVERGED",
    "BatchEnd",
    "Block",
    "Blocks",
    "ConvergenceWarning",
    "DivergenceError",
    "FitState",
    "History",
    "Position",
    "Run",
    "Settings",
    "convergence_warning",
    "stratified_split",
    "train",
]

if TYPE_CHECKING:
    from .distributed import GradientReducer


def _state_field(name: str) -> Any:
    """A property of :class:`Run` reading and setting ``run.state.<name>``."""

    def get(run: Run) -> Any:
        return getattr(run.state, name)

    def set_(run: Run, value: Any) -> None:
        setattr(run.state, name, value)

    return property(get, set_, doc=f"``state.{name}``.")


@dataclass
class Run:
    """Everything one training run works on: its :class:`FitState` (``state``; its
    fields are also the run's attributes), settings, data and hooks.

    ``rows`` (device indices) are the rows of ``X`` and ``Y`` to train on, None for
    all: early stopping holds its validation rows out without a training copy of X.
    ``validate(params)`` returns the validation score (early stopping only).
    ``on_epoch_end(history)`` returns True to stop. ``checkpoint(run)`` is called
    every ``checkpoint_every`` steps. With a ``reducer`` (data-parallel training),
    each step takes this rank's share of the global batch and the gradients and loss
    are summed over the ranks. ``sample_weight`` (n_samples,) on the device and its
    host copy ``host_sample_weight`` weight the loss and gradients (scikit-learn's
    meaning; not with a reducer). ``X`` may be :class:`SparseRows` (host sparse data,
    by batch). With ``blocks``, the data (and its weights) comes from it, and ``X``
    and ``Y`` only give the shapes. ``compiled`` runs whole epochs compiled
    (:mod:`xpnet.training.compiled`; None: eagerly).
    """

    backend: Backend
    activations: list[Activation]
    loss: Loss
    loss_scale: float
    state: FitState
    X: Array
    Y: Array
    settings: Settings
    rows: Array | None = None
    validate: Callable[[list[Array]], float] | None = None
    on_epoch_end: Callable[[History], bool] | None = None
    checkpoint: Callable[[Run], None] | None = None
    checkpoint_every: int = 0
    reducer: GradientReducer | None = None
    sample_weight: Array | None = None
    host_sample_weight: np.ndarray | None = None
    blocks: Blocks | None = None
    compiled: CompiledEpochs | None = None
    schedule: Schedule | None = None
    validation_stops: bool = True
    on_batch_end: Callable[[BatchEnd], None] | None = None

    # The fit state's fields, read and set through the run.
    params = _state_field("params")
    optimizer = _state_field("optimizer")
    history = _state_field("history")
    rng = _state_field("rng")
    position = _state_field("position")
    steps = _state_field("steps")
    best_params = _state_field("best_params")

    @property
    def n_layers(self) -> int:
        """Number of weight matrices."""
        return len(self.activations)

    @property
    def n_samples(self) -> int:
        """Number of training rows."""
        return (self.X if self.rows is None else self.rows).shape[0]

    @property
    def block_sizes(self) -> list[int]:
        """Rows of each block of the data (one block when it is on the device)."""
        return [self.n_samples] if self.blocks is None else list(self.blocks.sizes)

    def epoch_steps(self) -> int:
        """Minibatches in one epoch (each block's last batch may be short)."""
        batch_size = self.settings.batch_size
        return sum(math.ceil(size / batch_size) for size in self.block_sizes)


def train(run: Run) -> None:
    """Run epochs until convergence, ``max_iter``, a callback's stop or one epoch
    (``incremental``). Restores the best weights with early stopping.

    Raises
    ------
    DivergenceError
        The epoch's loss or the weights after it were NaN or inf (the weights of the
        last good epoch are kept).
    DeviceMemoryError
        The device ran out of memory.
    KeyboardInterrupt
        Re-raised after the step that was running has finished.
    """
    s = run.settings
    # A diverging NumPy run overflows: the loss check below reports it, so NumPy's
    # overflow warnings would only repeat it (or, as errors, cut a step).
    with (
        run.backend.on_device(lambda: _memory_message(run)),
        np.errstate(all="ignore"),
        watching(s.verbose, s.max_iter, run.state.history.n_iter) as (interrupt, bar),
    ):
        _epochs(run, interrupt, bar)


def _epochs(run: Run, interrupt: DeferredInterrupt, progress: Progress) -> None:
    s, history, position = run.settings, run.state.history, run.state.position
    xp, rng = run.backend.xp, run.state.rng
    n_samples = run.n_samples
    step = Step(run)
    flat = step.flat
    stopped = False
    while history.n_iter < s.max_iter and not stopped:
        if position.rng_state is None:
            position.rng_state = dict(rng.bit_generator.state)
        else:  # resuming mid-epoch: replay this epoch's permutations
            rng.bit_generator.state = position.rng_state
        if run.schedule is not None:  # on the host, once per epoch
            factor = run.schedule.factor(history.n_iter, history)
            run.state.optimizer.set_rate_factor(factor)
        last_good = xp.asarray(flat.vector, copy=True)
        total, path = None, "eager"  # compiled, or (None) eagerly
        if run.compiled is not None:
            total = epoch_compiled(run, flat, interrupt)
            path = run.compiled.name if total is not None else path
        if total is None:
            total = _epoch(run, flat, step, interrupt)
        # The epoch's one device-to-host read: the loss and whether any parameter is
        # NaN or inf (then p * 0 is NaN, else 0).
        total_host, probe = read_floats(run.backend, total, xp.sum(flat.vector * 0.0))
        loss = total_host / n_samples
        if not (math.isfinite(loss) and math.isfinite(probe)):
            run.state.params[:] = flat.layout.views(xp, last_good)
            what = "the weights became NaN or inf"
            if not math.isfinite(loss):
                what = f"the loss is {loss}"
            raise DivergenceError(
                f"training diverged in epoch {history.n_iter + 1}: {what}; the model "
                f"keeps the weights of the last good epoch. {DIVERGED}: scale the "
                "inputs, use a smaller learning_rate_init (now "
                f"{run.state.optimizer.learning_rate_init}) or raise alpha"
            )
        position.step, position.epoch_loss, position.rng_state = 0, 0.0, None
        stopped = _end_epoch(run, loss, path, progress)
    if run.state.best_params is not None and not s.incremental:
        run.state.params[:] = run.state.best_params


def _epoch(
    run: Run, flat: FlatParams, step: Step, interrupt: DeferredInterrupt
) -> Array:
    """The epoch's remaining steps (:func:`~.batches.epoch_batches`); returns the
    summed loss (times batch sizes)."""
    position, on_batch = run.state.position, run.on_batch_end
    epoch = run.state.history.n_iter
    every = run.checkpoint_every if run.checkpoint is not None else 0
    total = run.backend.xp.full(  # filled on the device: no upload of a Python float
        (), position.epoch_loss, dtype=flat.vector.dtype, device=run.backend.device
    )
    step.begin()  # the optimizer's update form holds for the epoch
    with closing(epoch_batches(run, run.n_samples)) as batches:
        for batch in batches:
            before, total = total, step(batch, total)
            size, weight = batch.size, batch.weight
            del batch  # a block loaded next need not share memory with this one
            position.step += 1
            run.state.steps += 1
            if on_batch is not None:  # nothing read from the device unless it asks
                on_batch(BatchEnd(epoch, position.step, size, before, total, weight))
            if interrupt.pending:
                position.epoch_loss = float(total)
                raise KeyboardInterrupt
            if every and run.checkpoint is not None and run.state.steps % every == 0:
                position.epoch_loss = float(total)
                run.checkpoint(run)
    return total


def _end_epoch(run: Run, loss: float, path: str, progress: Progress) -> bool:
    """scikit-learn's bookkeeping after an epoch (``path``: how it ran); True when
    training must stop."""
    s, history, optimizer = run.settings, run.state.history, run.state.optimizer
    history.n_iter += 1
    history.t += run.n_samples
    history.loss_curve.append(loss)
    history.epoch_paths.append(path)
    progress.epoch(history)
    score = None if run.validate is None else run.validate(run.state.params)
    if score is not None:
        assert history.validation_scores is not None  # set up with validation
        history.validation_scores.append(score)
        progress.say(f"Validation score: {score:f}")
    if score is not None and run.validation_stops:
        assert history.best_validation_score is not None
        if score < history.best_validation_score + s.tol:
            history.no_improvement_count += 1
        else:
            history.no_improvement_count = 0
        if score > history.best_validation_score:
            history.best_validation_score = score
            run.state.best_params = [
                run.backend.xp.asarray(p, copy=True) for p in run.state.params
            ]
    else:
        assert history.best_loss is not None  # set at the start without a hold-out
        if loss > history.best_loss - s.tol:
            history.no_improvement_count += 1
        else:
            history.no_improvement_count = 0
        history.best_loss = min(history.best_loss, loss)
    optimizer.iteration_ends(history.t)
    if run.on_epoch_end is not None and run.on_epoch_end(history):
        progress.say("A callback asked to stop. Stopping.")
        return True
    if history.no_improvement_count > s.n_iter_no_change:
        stops_on_score = score is not None and run.validation_stops
        what = "Validation score" if stops_on_score else "Training loss"
        stop, action = optimizer.trigger_stopping()
        progress.say(
            f"{what} did not improve more than tol={s.tol:f} for "
            f"{s.n_iter_no_change} consecutive epochs. {action}"
        )
        if stop:
            return True
        history.no_improvement_count = 0
    if s.incremental:
        return True
    if history.n_iter == s.max_iter:
        caller.warn(
            f"Stochastic optimizer: maximum iterations ({s.max_iter}) reached and "
            "the optimization hasn't converged yet; raise max_iter or tol",
            convergence_warning(),
        )
    return False


def _memory_message(run: Run) -> str:
    widths = [run.state.params[i].shape[1] for i in range(run.n_layers)]
    return (
        f"one batch of work does not fit while training with "
        f"batch_size={run.settings.batch_size} (layer widths {widths}) beside X "
        f"{data_size(run.X, run.X.dtype)} and y "
        f"{data_size(run.Y, run.Y.dtype)} on the device; use a smaller "
        "batch_size, fewer samples per fit (partial_fit on chunks) or narrower layers"
    )
