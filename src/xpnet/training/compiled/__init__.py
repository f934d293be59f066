"""Compiled training epochs: the pure step (:mod:`xpnet.maths.step`) run by a
compiler instead of eagerly, one array operation at a time.

- JAX: the whole epoch is one XLA program (:mod:`.jax_epoch`).
- torch: the step under ``torch.compile`` (:mod:`.torch_step`).
- CuPy: the step captured as CUDA graphs cut at each GEMM and replayed
  (:mod:`.cuda_graph`; captured again when a callback turns clipping on or off);
  a failed capture runs the fit eagerly.

:class:`CompiledEpochs` is the loop's seam: made once per fit (:meth:`for_run`, None
where the backend has no compiler or the run cannot be compiled, said once), then
called per epoch in place of the eager epoch. It keeps the run's numbers: the same
batches from the same generator draws, the same step maths, the optimizer object
handed over to its pure pair and back (:mod:`.plan`), clipping (``max_grad_norm``)
inside the step. Batch callbacks run between compiled steps: torch and CuPy launch
each step from the host anyway; JAX then calls its epoch program once per batch
instead of once per epoch. What it does not cover (data in Dask blocks or sparse,
data-parallel training, checkpoints inside an epoch, the epoch a resume starts
mid-way, user-registered losses on JAX) runs eagerly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import caller
from ...data.sparse import SparseRows
from ..batches import BatchEnd
from . import jax_epoch, torch_step
from .plan import LOSS_WEIGHT, EpochPlan, Handover, bucket, epoch_plan, steps_cap

__all__ = [
    "CompileWarning",
    "CompiledEpochs",
    "epoch_compiled",
    "say_eager",
]

COMPILERS = {"jax": "jax.jit", "torch": "torch.compile", "cupy": "CUDA graph"}
"""The compiler of each backend library that has one (its name in ``compiled_``)."""


_SAID: set[str] = set()


class CompileWarning(UserWarning):
    """``compile=True`` could not compile here; training runs eagerly."""


def _eager_reason(run: Any) -> str | None:
    # Why this run cannot be compiled, or None.
    library = run.backend.library
    if library not in COMPILERS:
        return f"backend {run.backend.name!r} has no compiler"
    if run.blocks is not None:
        return "the data comes in blocks (Dask)"
    if run.reducer is not None:
        return "data-parallel training runs eagerly"
    if isinstance(run.X, SparseRows):
        return "sparse X is cut into batches on the host"
    if run.checkpoint is not None and run.checkpoint_every % run.epoch_steps():
        return "checkpoint_every is not a whole number of epochs"
    if library == "jax" and not run.loss.weighted:
        return "a user-registered loss takes no sample weights (the padded last batch)"
    return None


def say_eager(reason: str) -> None:
    """Warn that ``compile=True`` runs eagerly, and why: once per reason and
    process (a grid search fits many times)."""
    if reason not in _SAID:
        _SAID.add(reason)
        caller.warn(f"compile=True: {reason}; training runs eagerly", CompileWarning)


class CompiledEpochs:
    """A run's epochs through its backend's compiler; ``name`` says which."""

    def __init__(self, run: Any) -> None:
        backend = run.backend
        self.library, self.name = backend.library, COMPILERS[backend.library]
        self.xp, self.device = backend.xp, backend.device
        self.handover = Handover.of(self.xp, run.optimizer)
        s = run.settings
        self.batch_size = s.batch_size
        self.network = (tuple(run.activations), run.loss, self.handover.key)
        self.l2 = bool(s.alpha)
        rows = run.rows  # early stopping's training rows
        self.training_rows = (
            None if rows is None else np.asarray(backend.to_numpy(rows))
        )
        self.captured: Any = None  # CuPy: the step's CUDA graphs, once captured
        self.n_steps_cap = steps_cap(run.X.shape[0], s.batch_size)
        self.data = self._device_data(run)
        dtype = run.params[0].dtype
        self.constants = tuple(
            self.xp.asarray(c, dtype=dtype, device=self.device)
            for c in self.handover.constants
        )

    @classmethod
    def for_run(cls, run: Any) -> CompiledEpochs | None:
        """The compiled epochs of ``run``, or None where it must run eagerly (a
        :class:`CompileWarning` says why, once per reason and process)."""
        reason = _eager_reason(run)
        if reason is None:
            return cls(run)
        say_eager(reason)
        return None

    def _device_data(self, run: Any) -> tuple[Any, Any, Any]:
        # JAX: X, Y and the weights padded to a bucket of rows (shapes fixed for
        # fits of similar sizes); the others take batches from the data as it is.
        X, Y, W = run.X, run.Y, run.sample_weight
        if self.library != "jax":
            return X, Y, W
        xp, extra = self.xp, bucket(X.shape[0]) - X.shape[0]

        def pad(a: Any) -> Any:
            if a is None or not extra:
                return a
            zeros = xp.zeros((extra, *a.shape[1:]), dtype=a.dtype, device=self.device)
            return xp.concat([a, zeros])

        return pad(X), pad(Y), pad(W)

    def __call__(self, run: Any, flat: Any) -> Any | None:
        """Run the run's next epoch compiled; returns its summed loss (a device
        0-d array), or None when this epoch must run eagerly (resuming mid-epoch;
        a failed CUDA graph capture, after which ``run.compiled`` is None: the rest
        of the fit runs eagerly)."""
        if run.position.step:
            return None
        if self.library != "jax":
            return self._by_steps(run, flat)
        plan = epoch_plan(run, self.n_steps_cap, self.training_rows)
        program = jax_epoch.program(
            self._key(run), self.handover, self.batch_size, flat.layout
        )
        vector, flats, params, total = jax_epoch.run_epoch(
            program,
            flat.vector,
            tuple(run.optimizer.buffers.values()),
            self.data,
            plan,
            self.constants,
            run.position.epoch_loss,
            self.device,
            _reporter(run, plan),
        )
        flat.vector = vector  # the program cut run.params from it already
        run.params[:] = params
        self.handover.give_back_flat(run.optimizer, flats, plan)
        run.steps += plan.n_steps
        return total

    def _key(self, run: Any) -> tuple[Any, ...]:
        # The step program's key: clipping on or off is part of the program (a
        # callback may turn it on mid-fit, which needs a new program or capture).
        clip = run.settings.max_grad_norm is not None
        return (*self.network, self.l2, clip, self.batch_size)

    def _by_steps(self, run: Any, flat: Any) -> Any | None:
        # torch and CuPy: the epoch as compiled steps. The CUDA graphs are captured
        # (again where the key changed) before the epoch's plan draws from the
        # generator, so that a failed capture leaves the eager epoch the same draws.
        xp, layout, optimizer = self.xp, flat.layout, run.optimizer
        key = self._key(run)
        params = tuple(layout.views(xp, flat.vector))
        state = self.handover.state(xp, optimizer, layout)
        total = xp.asarray(
            run.position.epoch_loss, dtype=flat.vector.dtype, device=self.device
        )
        if self.library == "cupy" and (
            self.captured is None or self.captured.key != key
        ):
            from . import cuda_graph

            self.captured = cuda_graph.capture(self, key, params, state, total)
            if self.captured is None:
                run.compiled = None
                return None
        plan = epoch_plan(run, self.n_steps_cap, self.training_rows)
        report = _reporter(run, plan)
        params, state, total = self._epoch(key, params, state, plan, total, report)
        flat.moved_to(layout.flatten(xp, list(params)), run)
        self.handover.give_back(xp, optimizer, layout, state, plan)
        run.steps += plan.n_steps
        return total

    def _epoch(
        self, key: Any, params: Any, state: Any, plan: Any, total: Any, report: Any
    ) -> Any:
        if self.library == "torch":
            cuda = getattr(self.device, "type", "cpu") == "cuda"
            steps = torch_step.steps((*key, cuda), self.xp, self.handover, cuda)
            return torch_step.run_epoch(
                steps,
                self.handover,
                params,
                state,
                self.data,
                plan,
                self.constants,
                total,
                self.batch_size,
                report,
            )
        from . import cuda_graph

        return cuda_graph.run_epoch(self, params, state, plan, total, key, report)


def _reporter(run: Any, plan: EpochPlan) -> Callable[..., None] | None:
    # The run's batch callback as the compiled epochs call it after step i: the
    # same BatchEnd as the eager loop's, the run's parameters those after the step.
    on_batch = run.on_batch_end
    if on_batch is None:
        return None
    epoch, batch_size = run.history.n_iter, run.settings.batch_size

    def report(i: int, before: Any, after: Any, params: Any) -> None:
        run.params[:] = params
        size = batch_size if i < plan.n_full else plan.remainder
        weight = float(plan.table[i, LOSS_WEIGHT])
        on_batch(BatchEnd(epoch, i + 1, size, before, after, weight))

    return report


def epoch_compiled(run: Any, flat: Any, interrupt: Any) -> Any | None:
    """The loop's seam: the run's next epoch through ``run.compiled``; its summed
    loss, or None when it must run eagerly. After the epoch's last step, as the
    eager loop after any step: Ctrl-C pressed during the epoch is raised, and a
    checkpoint due is written."""
    total = run.compiled(run, flat)
    if total is None:
        return None
    every = run.checkpoint_every if run.checkpoint is not None else 0
    if interrupt.pending or (every and run.steps % every == 0):
        run.position.step = run.epoch_steps()
        run.position.epoch_loss = float(total)
        if interrupt.pending:
            raise KeyboardInterrupt
        run.checkpoint(run)
    return total
