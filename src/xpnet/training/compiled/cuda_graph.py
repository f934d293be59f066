"""The step captured as a CUDA graph (CuPy) and replayed once per full batch.

Capture records the step's kernels once, on a non-default stream, with every array
the kernels read or write at a fixed address: static buffers for the parameters, the
optimizer state, the batch's rows and the step's four factors, and a private memory
pool for the step's temporaries (so no other allocation can reuse their memory
between replays). Before each replay the batch's rows and factors are copied into
their buffers (two small device copies, no host wait); the graph gathers the batch,
runs the pure step and writes the new parameters and state back into their buffers.
The short last batch runs the pure step eagerly.

UNTESTED ON A GPU: written against CuPy's documented ``Stream.begin_capture`` /
``end_capture`` / ``Graph.launch`` API and checked on the CPU with a fake CuPy
(tests/training/test_compiled.py); the first run on a GPU must compare it with the
eager fit (the compiled-fit tests do, where CuPy has a device).
"""

from __future__ import annotations

from typing import Any

from ...maths.step import StepHyper, make_step
from .plan import L2_FACTOR, L2_LOSS, LOSS_WEIGHT, RATE, EpochPlan


class CapturedStep:
    """The step of one fit as a CUDA graph over static buffers."""

    def __init__(
        self, cupy: Any, xp: Any, compiled: Any, params: Any, state: Any, total: Any
    ) -> None:
        self.cupy, self.xp, self.compiled = cupy, xp, compiled
        handover, batch_size = compiled.handover, compiled.batch_size
        activations, loss, _, l2 = compiled.key[:4]
        self.step = make_step(xp, activations, loss, handover.pair, l2=l2)
        copy = lambda a: xp.asarray(a, copy=True)  # noqa: E731
        self.kind = type(state)  # the pair's state tuple
        self.params = [copy(p) for p in params]
        self.state = [[copy(a) for a in arrays] for arrays in state]
        self.rows = xp.zeros(batch_size, dtype=xp.int64, device=compiled.device)
        self.factors = xp.zeros(4, dtype=total.dtype, device=compiled.device)
        self.value = xp.zeros((), dtype=total.dtype, device=compiled.device)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.pool = cupy.cuda.MemoryPool()  # the temporaries' memory, kept for replays
        self.graph: Any = None

    def _body(self) -> None:
        # One step from the static buffers into them (what the graph records).
        xp, compiled = self.xp, self.compiled
        X, Y, W = compiled.data
        rows, f = self.rows, self.factors
        hyper = StepHyper(
            compiled.handover.hyper(f[RATE], compiled.constants),
            f[LOSS_WEIGHT],
            f[L2_FACTOR],
            f[L2_LOSS],
        )
        weights = None if W is None else xp.take(W, rows, axis=0)
        batch = (xp.take(X, rows, axis=0), xp.take(Y, rows, axis=0), weights)
        params, state, value = self.step(
            tuple(self.params), self.kind(*map(tuple, self.state)), *batch, hyper
        )
        for buffers, new in zip(
            [self.params, *self.state], [params, *state], strict=True
        ):
            for buffer, array in zip(buffers, new, strict=True):
                buffer[...] = array
        self.value[...] = value

    def capture(self) -> None:
        """Record the graph: one step run first (it fills the private pool, so the
        capture allocates nothing new), then the same step captured; the buffers
        are restored afterwards (the warm-up step moved them)."""
        saved = [[self.xp.asarray(a, copy=True) for a in g] for g in self._groups()]
        with self.cupy.cuda.using_allocator(self.pool.malloc), self.stream:
            self._body()
            self.stream.begin_capture()
            self._body()
            self.graph = self.stream.end_capture()
            for group, copies in zip(self._groups(), saved, strict=True):
                for buffer, copy in zip(group, copies, strict=True):
                    buffer[...] = copy

    def _groups(self) -> list[list[Any]]:
        return [self.params, *self.state]

    def replay(self, rows: Any, factors: Any) -> Any:
        """One step on ``rows`` (batch_size,) with ``factors`` (4,); returns the
        step's loss term (a view overwritten by the next replay)."""
        with self.stream:
            self.rows[...] = rows
            self.factors[...] = factors
            self.graph.launch(self.stream)
        return self.value


def run_epoch(
    compiled: Any,
    params: Any,
    state: Any,
    plan: EpochPlan,
    total: Any,
    cupy: Any = None,
) -> tuple[tuple[Any, ...], Any, Any]:
    """One epoch of ``plan`` by graph replays: (params, state, total). The graph is
    captured on the fit's first epoch and kept by ``compiled``. ``cupy``: the
    module (a fake in the tests)."""
    if cupy is None:
        import importlib

        cupy = importlib.import_module("cupy")

    xp, batch_size = compiled.xp, compiled.batch_size
    captured: CapturedStep | None = compiled.captured
    if captured is None:
        captured = CapturedStep(cupy, xp, compiled, params, state, total)
        captured.capture()
        compiled.captured = captured
    else:  # this epoch starts from the loop's parameters and state
        for group, arrays in zip(captured._groups(), [params, *state], strict=True):
            for buffer, array in zip(group, arrays, strict=True):
                buffer[...] = array
    order = xp.asarray(plan.order, dtype=xp.int64, device=compiled.device)
    table = xp.asarray(plan.table, dtype=total.dtype, device=compiled.device)
    # The capture stream does not wait for the default stream by itself.
    captured.stream.wait_event(cupy.cuda.get_current_stream().record())
    with captured.stream:
        for i in range(plan.n_full):
            step_rows = order[i * batch_size : (i + 1) * batch_size]
            total = total + captured.replay(step_rows, table[i])
    captured.stream.synchronize()  # the default stream reads what follows
    copy = lambda a: xp.asarray(a, copy=True)  # noqa: E731
    params = tuple(copy(p) for p in captured.params)
    state = captured.kind(*(tuple(copy(a) for a in s) for s in captured.state))
    if plan.remainder:
        params, state, total = _last(compiled, captured, params, state, plan, total)
    return params, state, total


def _last(
    compiled: Any,
    captured: CapturedStep,
    params: Any,
    state: Any,
    plan: EpochPlan,
    total: Any,
) -> Any:
    # The short last batch, eagerly, through the same pure step.
    xp, start = compiled.xp, plan.n_full * compiled.batch_size
    rows = xp.asarray(
        plan.order[start : start + plan.remainder], device=compiled.device
    )
    factors = xp.asarray(
        plan.table[plan.n_full], dtype=total.dtype, device=compiled.device
    )
    X, Y, W = compiled.data
    hyper = StepHyper(
        compiled.handover.hyper(factors[RATE], compiled.constants),
        factors[LOSS_WEIGHT],
        factors[L2_FACTOR],
        factors[L2_LOSS],
    )
    weights = None if W is None else xp.take(W, rows, axis=0)
    batch = (xp.take(X, rows, axis=0), xp.take(Y, rows, axis=0), weights)
    params, state, value = captured.step(params, state, *batch, hyper)
    return params, state, total + value
