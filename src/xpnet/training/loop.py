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

import functools
import math
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

import numpy as np

from ..backend import Array, Backend, data_size
from ..data.checks import check_random_state
from ..data.sparse import SparseRows
from ..maths import network
from ..maths.activations import Activation
from ..maths.flat import Layout
from ..maths.optim import Optimizer
from .state import FitState, History, Position, Settings

__all__ = [
    "DIVERGED",
    "Block",
    "Blocks",
    "ConvergenceWarning",
    "DivergenceError",
    "FitState",
    "History",
    "Position",
    "Run",
    "Settings",
    "batch_size_for",
    "convergence_warning",
    "host_rng",
    "stratified_split",
    "train",
]

if TYPE_CHECKING:
    from .distributed import GradientReducer


class ConvergenceWarning(UserWarning):
    """Training stopped at ``max_iter`` epochs before the loss stopped improving.

    When scikit-learn is imported, the warning issued is also an instance of
    ``sklearn.exceptions.ConvergenceWarning`` (see :func:`convergence_warning`).
    """


class DivergenceError(FloatingPointError, ValueError):
    """The loss became NaN or inf; the model keeps the last good epoch's weights.

    A ValueError too, as scikit-learn's error for non-finite weights.
    """


DIVERGED = (
    "Solver produced non-finite parameter weights. The input data may contain "
    "large values and need to be preprocessed"
)
"""scikit-learn's words for a diverged fit, which every DivergenceError repeats."""


def convergence_warning() -> type[ConvergenceWarning]:
    """The category to warn with: :class:`ConvergenceWarning`, also a subclass of
    scikit-learn's when scikit-learn is imported (so its filters and
    ``pytest.warns`` catch it)."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    if sklearn_exceptions is None:
        return ConvergenceWarning
    return _with_sklearn_base(sklearn_exceptions.ConvergenceWarning)


@functools.cache
def _with_sklearn_base(base: type) -> type[ConvergenceWarning]:
    return type("ConvergenceWarning", (ConvergenceWarning, base), {})


class Block(NamedTuple):
    """One block of training rows: X (rows, n_features) and Y (rows, n_outputs) on
    the device in the model's dtype; with sample weights, ``sample_weight`` (rows,)
    on the device and its host float64 copy ``host_sample_weight``."""

    X: Array
    Y: Array
    sample_weight: Array | None = None
    host_sample_weight: np.ndarray | None = None


class Blocks(Protocol):
    """Training data in blocks of rows, loaded one at a time (``Run.blocks``).

    ``sizes`` holds the rows of each block; ``load(order)`` yields the
    :class:`Block` ``order[0], order[1], ...`` in turn. The loop closes the iterator
    when it stops early.
    """

    sizes: Sequence[int]

    def load(self, order: Sequence[int]) -> Generator[Block, None, None]: ...


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
    and ``Y`` only give the shapes.
    """

    backend: Backend
    activations: list[Activation]
    loss: str
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

    @property
    def params(self) -> list[Array]:
        """``state.params``."""
        return self.state.params

    @params.setter
    def params(self, value: list[Array]) -> None:
        self.state.params = value

    @property
    def optimizer(self) -> Optimizer:
        """``state.optimizer``."""
        return self.state.optimizer

    @optimizer.setter
    def optimizer(self, value: Optimizer) -> None:
        self.state.optimizer = value

    @property
    def history(self) -> History:
        """``state.history``."""
        return self.state.history

    @history.setter
    def history(self, value: History) -> None:
        self.state.history = value

    @property
    def rng(self) -> np.random.Generator:
        """``state.rng``."""
        return self.state.rng

    @rng.setter
    def rng(self, value: np.random.Generator) -> None:
        self.state.rng = value

    @property
    def position(self) -> Position:
        """``state.position``."""
        return self.state.position

    @position.setter
    def position(self, value: Position) -> None:
        self.state.position = value

    @property
    def steps(self) -> int:
        """``state.steps``."""
        return self.state.steps

    @steps.setter
    def steps(self, value: int) -> None:
        self.state.steps = value

    @property
    def best_params(self) -> list[Array] | None:
        """``state.best_params``."""
        return self.state.best_params

    @best_params.setter
    def best_params(self, value: list[Array] | None) -> None:
        self.state.best_params = value

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


def batch_size_for(batch_size: int | str, n_samples: int) -> int:
    """scikit-learn's rule: ``"auto"`` is min(200, n); more than n is clipped."""
    if batch_size == "auto":
        return min(200, n_samples)
    batch_size = cast(int, batch_size)
    if batch_size > n_samples:
        warnings.warn(
            f"batch_size={batch_size} is larger than the {n_samples} training "
            f"samples; it is clipped to {n_samples}",
            UserWarning,
            stacklevel=5,  # fit -> _fit -> _setup -> here
        )
        return n_samples
    return int(batch_size)


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
    # A diverging NumPy run overflows: the loss check below reports it, so NumPy's
    # overflow warnings would only repeat it (or, as errors, cut a step).
    with (
        run.backend.on_device(lambda: _memory_message(run)),
        np.errstate(all="ignore"),
        _DeferredInterrupt() as interrupt,
        _Progress(run) as progress,
    ):
        _epochs(run, interrupt, progress)


def _epochs(run: Run, interrupt: _DeferredInterrupt, progress: _Progress) -> None:
    s, history, position = run.settings, run.history, run.position
    xp, rng = run.backend.xp, run.rng
    n_samples = run.n_samples
    flat = _FlatParams.of(run)
    stopped = False
    while history.n_iter < s.max_iter and not stopped:
        if position.rng_state is None:
            position.rng_state = dict(rng.bit_generator.state)
        else:  # resuming mid-epoch: replay this epoch's permutations
            rng.bit_generator.state = position.rng_state
        last_good = xp.asarray(flat.vector, copy=True)
        total = _epoch(run, flat, interrupt)
        loss = float(total) / n_samples  # the host syncs of the epoch: the loss
        # and whether any parameter is NaN or inf (then p * 0 is NaN, else 0).
        probe = xp.sum(flat.vector * 0.0)
        if not (math.isfinite(loss) and math.isfinite(float(probe))):
            run.params[:] = flat.layout.views(xp, last_good)
            what = "the weights became NaN or inf"
            if not math.isfinite(loss):
                what = f"the loss is {loss}"
            raise DivergenceError(
                f"training diverged in epoch {history.n_iter + 1}: {what}; the model "
                f"keeps the weights of the last good epoch. {DIVERGED}: scale the "
                "inputs, use a smaller learning_rate_init (now "
                f"{run.optimizer.learning_rate_init}) or raise alpha"
            )
        position.step, position.epoch_loss, position.rng_state = 0, 0.0, None
        stopped = _end_epoch(run, loss, progress)
    if run.best_params is not None and not s.incremental:
        run.params[:] = run.best_params


def _epoch(run: Run, flat: _FlatParams, interrupt: _DeferredInterrupt) -> Array:
    """The epoch's remaining steps, block by block; returns the summed loss.

    The blocks' order, then each block's permutation, come from the host generator
    (one block: its permutation only, as ``permutation(1)`` draws nothing). Resuming
    mid-epoch replays the draws but loads only the blocks with steps left.
    """
    s, rng, backend = run.settings, run.rng, run.backend
    xp, sizes = backend.xp, run.block_sizes
    order = rng.permutation(len(sizes)) if s.shuffle else np.arange(len(sizes))
    done, first = run.position.step, 0
    while first < len(order) and done >= math.ceil(sizes[order[first]] / s.batch_size):
        done -= math.ceil(sizes[order[first]] / s.batch_size)
        first += 1
    total = xp.asarray(
        run.position.epoch_loss, dtype=flat.vector.dtype, device=backend.device
    )
    blocks = (
        _in_memory(run)
        if run.blocks is None
        else run.blocks.load([int(b) for b in order[first:]])
    )
    with closing(blocks):
        for k, block in enumerate(order):
            rows = rng.permutation(sizes[block]) if s.shuffle else None
            if k < first:
                continue
            data = next(blocks)
            weights = data.host_sample_weight  # by the block's (training) rows
            if weights is not None and rows is not None:
                weights = weights[rows]
            batches = _batches(
                sizes[block], s.batch_size, run.loss_scale, s.alpha, weights
            )
            batch_order = None if rows is None else backend.asarray(rows)
            if run.rows is not None:  # in memory, early stopping: the training rows
                batch_order = (
                    run.rows if batch_order is None else xp.take(run.rows, batch_order)
                )
            total = _steps(
                run, flat, data, batch_order, batches[done:], interrupt, total
            )
            del data  # a block loaded next need not share memory with this one
            done = 0
    return total


def _in_memory(run: Run) -> Generator[Block, None, None]:
    """The data on the device as one block. With early stopping its device weights
    are X's rows' (``run.rows`` picks the training ones) and the host weights are
    the training rows' (see :class:`Run`)."""
    yield Block(run.X, run.Y, run.sample_weight, run.host_sample_weight)


def _batches(
    n_samples: int,
    batch_size: int,
    loss_scale: float,
    alpha: float,
    weights: np.ndarray | None = None,
) -> list[tuple[int, int, float, float, float]]:
    """(start, stop, loss weight, L2 gradient factor, L2 loss factor) of every batch
    of an epoch. With sample ``weights`` (host, in the epoch's order) the L2 terms
    are divided by the batch's weight sum instead of its size, as scikit-learn's."""
    batches = []
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        size = stop - start
        total = size if weights is None else float(np.sum(weights[start:stop]))
        if total <= 0:
            raise ValueError(
                f"the sample weights of a batch (rows {start} to {stop - 1} of the "
                "epoch) sum to 0; use a larger batch_size or drop the zero-weight rows"
            )
        batches.append((start, stop, size * loss_scale, alpha / total, size / total))
    return batches


@dataclass
class _FlatParams:
    """The run's parameters as one vector (see :mod:`xpnet.maths.flat`); while it
    trains, ``run.params`` holds views of it. ``decay`` is 1 over the weights and 0
    over the biases (with L2 only): L2 then costs a few whole-vector operations."""

    layout: Layout
    vector: Array
    decay: Array | None

    @classmethod
    def of(cls, run: Run) -> _FlatParams:
        xp, params = run.backend.xp, run.params
        layout = Layout.of(params)
        decay = None
        if run.settings.alpha:
            ones = [xp.ones_like(p) for p in params[: run.n_layers]]
            decay = layout.flatten(
                xp, ones + [xp.zeros_like(b) for b in params[run.n_layers :]]
            )
        flat = cls(layout, layout.flatten(xp, params), decay)
        params[:] = layout.views(xp, flat.vector)
        return flat

    def moved_to(self, vector: Array, run: Run) -> None:
        """After an update: where arrays are immutable (JAX) the vector is a new
        array, and ``run.params`` are cut from it afresh."""
        if vector is not self.vector:
            self.vector = vector
            run.params[:] = self.layout.views(run.backend.xp, vector)


def _steps(
    run: Run,
    flat: _FlatParams,
    block: Block,
    order: Array | None,
    batches: list[tuple[int, int, float, float, float]],
    interrupt: _DeferredInterrupt,
    total: Array,
) -> Array:
    """``batches`` of one block; returns ``total`` plus their summed loss (times
    batch sizes).

    With a permutation ``order``, each batch gathers its rows with ``xp.take``: on the
    CPU that is 18-30% faster per epoch than gathering the whole shuffled epoch first
    (no data-sized array to allocate and fault in; the rows stay in cache).
    """
    xp, params, acts, loss = run.backend.xp, run.params, run.activations, run.loss
    X, Y, sample_weight = block.X, block.Y, block.sample_weight
    take = run.backend.xp.take
    weights = None
    # Sparse rows are cut on the host: the order comes to the host once per block,
    # not once per step.
    host_order = None
    if isinstance(X, SparseRows) and order is not None:
        host_order = np.asarray(run.backend.to_numpy(order))
    n_layers, position, optimizer = run.n_layers, run.position, run.optimizer
    half_alpha = 0.5 * run.settings.alpha
    loss_and_gradients = network.loss_and_gradients
    checkpoint = run.checkpoint
    every = run.checkpoint_every if checkpoint is not None else 0
    # Plain SGD: -lr folded into backprop, the gradients come out as updates (the
    # learning rate only changes between epochs).
    factor = optimizer.update_factor()
    scale = 1.0 if factor is None else factor
    update = optimizer.step_flat if factor is None else optimizer.apply_flat
    flatten = flat.layout.flatten
    reducer, share = run.reducer, 1.0
    for start, stop, weight, l2_factor, l2_loss in batches:
        coefs = params[:n_layers]
        if reducer is not None:  # this rank's rows of the global batch
            start, stop, share = reducer.shard(start, stop)
        if order is None:
            X_batch, Y_batch = X[start:stop, ...], Y[start:stop, ...]
            if sample_weight is not None:
                weights = sample_weight[start:stop]
        else:
            rows = order[start:stop]
            Y_batch = take(Y, rows, axis=0)
            X_batch = (
                take(X, rows, axis=0)
                if host_order is None
                else X.rows(host_order[start:stop])
            )
            if sample_weight is not None:
                weights = take(sample_weight, rows, axis=0)
        value, grads, _ = loss_and_gradients(
            xp,
            coefs,
            params[n_layers:],
            acts,
            X_batch,
            Y_batch,
            loss,
            delta_scale=scale * share,
            sample_weight=weights,
        )
        grad = flatten(xp, grads.weights + (grads.biases or []))
        if reducer is not None:  # sums of the ranks' shares: the global batch's
            reduced = [grad]
            value = reducer(reduced, value * share if share else 0.0)
            grad = reduced[0]
        total = total + value * weight
        if half_alpha:
            decay = flat.vector * flat.decay  # the weights, biases zeroed
            grad += (scale * l2_factor) * decay
            # the sum of squared weights as a dot product (vecdot would conj a copy
            # on CuPy)
            total = total + (half_alpha * l2_loss) * (decay @ flat.vector)
        flat.moved_to(update(flat.vector, grad), run)
        position.step += 1
        run.steps += 1
        if interrupt.pending:
            position.epoch_loss = float(total)
            raise KeyboardInterrupt
        if every and checkpoint is not None and run.steps % every == 0:
            position.epoch_loss = float(total)
            checkpoint(run)
    return total


def _end_epoch(run: Run, loss: float, progress: _Progress) -> bool:
    """scikit-learn's bookkeeping after an epoch; True when training must stop."""
    s, history, optimizer = run.settings, run.history, run.optimizer
    history.n_iter += 1
    history.t += run.n_samples
    history.loss_curve.append(loss)
    progress.epoch(history)
    if run.validate is not None:
        score = run.validate(run.params)
        assert history.validation_scores is not None  # set up with early stopping
        assert history.best_validation_score is not None
        history.validation_scores.append(score)
        progress.say(f"Validation score: {score:f}")
        if score < history.best_validation_score + s.tol:
            history.no_improvement_count += 1
        else:
            history.no_improvement_count = 0
        if score > history.best_validation_score:
            history.best_validation_score = score
            run.best_params = [run.backend.xp.asarray(p, copy=True) for p in run.params]
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
        what = "Validation score" if run.validate is not None else "Training loss"
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
        warnings.warn(
            f"Stochastic optimizer: maximum iterations ({s.max_iter}) reached and "
            "the optimization hasn't converged yet; raise max_iter or tol",
            convergence_warning(),
            stacklevel=6,  # the user's fit call
        )
    return False


class _DeferredInterrupt:
    """Holds Ctrl-C until the running step ends (main thread only); twice: at once."""

    def __init__(self) -> None:
        self.pending = False
        self._installed = False
        self._previous: Any = None

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def __exit__(self, *exc: object) -> None:
        if self._installed:  # None: a handler set outside Python; restore Python's
            previous = self._previous
            signal.signal(
                signal.SIGINT,
                signal.default_int_handler if previous is None else previous,
            )
        if self.pending and exc[0] is None:  # Ctrl-C after the last step: the last
            raise KeyboardInterrupt  # callback, validation or checkpoint write


class _Progress:
    """A tqdm bar over epochs when verbose; scikit-learn's plain "Iteration N" lines
    with ``verbose >= 2`` or without tqdm; else silent."""

    def __init__(self, run: Run) -> None:
        self.verbose = run.settings.verbose
        self.total = run.settings.max_iter
        self.initial = run.history.n_iter
        self.bar: Any = None

    def __enter__(self) -> _Progress:
        if self.verbose == 1:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return self
            self.bar = tqdm(
                total=self.total, initial=self.initial, unit="epoch", file=sys.stderr
            )
        return self

    def epoch(self, history: History) -> None:
        if not self.verbose:
            return
        loss = history.loss_curve[-1]
        if self.bar is None:
            print(f"Iteration {history.n_iter}, loss = {loss:.8f}")
        else:
            self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
            self.bar.update(1)

    def say(self, message: str) -> None:
        if not self.verbose:
            return
        if self.bar is None:
            print(message)
        else:
            self.bar.write(message, file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _memory_message(run: Run) -> str:
    widths = [run.params[i].shape[1] for i in range(run.n_layers)]
    return (
        f"one batch of work does not fit while training with "
        f"batch_size={run.settings.batch_size} (layer widths {widths}) beside X "
        f"{data_size(run.X, run.X.dtype)} and y "
        f"{data_size(run.Y, run.Y.dtype)} on the device; use a smaller "
        "batch_size, fewer samples per fit (partial_fit on chunks) or narrower layers"
    )


def host_rng(random_state: Any) -> np.random.Generator:
    """The host generator for weights, splits and shuffles, from ``random_state``:
    a seed or None gives a fresh Generator, a Generator is used as is, a RandomState
    seeds a Generator (advancing it, as scikit-learn's use would)."""
    check_random_state(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**32, dtype=np.uint64))
    return np.random.default_rng(random_state)


def stratified_split(
    rng: np.random.Generator, labels: np.ndarray, n_val: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each class keeps its share in the validation set (largest remainders)."""
    classes, index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    n_samples = labels.shape[0]
    if n_val < len(classes) or n_samples - n_val < len(classes):
        raise ValueError(
            f"validation_fraction gives {n_val} validation and {n_samples - n_val} "
            f"training samples; a stratified split needs at least {len(classes)} "
            "(the number of classes) in each"
        )
    share = counts * n_val / n_samples
    take = np.floor(share).astype(np.intp)
    remainder_order = np.argsort(-(share - take), kind="stable")
    take[remainder_order[: n_val - take.sum()]] += 1
    val, train_ = [], []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(index == c))
        val.append(members[: take[c]])
        train_.append(members[take[c] :])
    return rng.permutation(np.concatenate(train_)), rng.permutation(np.concatenate(val))
