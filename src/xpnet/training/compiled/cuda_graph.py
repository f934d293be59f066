"""The step captured as CUDA graphs (CuPy), cut at each GEMM, and replayed once per
full batch.

CuPy refuses every cuBLAS call while a stream captures (``NotImplementedError:
calling cuBLAS API during stream capture is currently unsupported``, from
``cublas.setStream``; cupy/cupy#6290, open), and a step's GEMMs go through cuBLAS,
so the step cannot be one graph. It is captured as segments instead: the pure step
runs on :class:`Segmenter`, a namespace that is ``xp`` but for ``matmul`` (every
product of :mod:`xpnet.maths.network` goes through ``xp.matmul``). During the
capture each ``matmul`` ends the current capture (graph ``k``), runs the GEMM
eagerly on the capture stream into an output it keeps, and begins graph ``k + 1``.
A replay launches, per segment, graph ``k`` then ``cupy.matmul(a_k, b_k,
out=out_k)`` on the kept operands, then the last graph: for the 784-256-128-10
network, 9 graph launches and 8 GEMMs per step (plus the two small copies of the
batch's rows and factors) where the eager step launches about 62 kernels. Clipping
(``max_grad_norm``) is part of the pure step, so it lands inside the graphs, its
bound a factor of the step (its norm's dot products, one per parameter array, are
GEMMs too, each cutting a segment); a callback turning clipping on or off changes the
step's key, and the step is captured again. Replays are launched from the host one
batch at a time, so batch callbacks run between them.

Every array the graphs read or write sits at a fixed address: static buffers for
the parameters, the optimizer state, the batch's rows and the step's factors;
the GEMMs' operands and outputs, referenced by the :class:`Segmenter` as long as the
graphs live; the step's temporaries, in a private memory pool that nothing else
allocates from. A warm-up step runs first, on the same namespace and allocator, so
the capture finds in the pool the blocks it asks for (CuPy captures in its relaxed
mode, where the pool could still grow: this keeps it from having to). The short
last batch runs the pure step eagerly.

Where the capture fails anyway (a library call or a host wait CuPy refuses while
capturing, a CUDA error), :func:`capture` says why once (a ``CompileWarning``) and
the fit goes on eagerly from where it was: the capture works on copies.

SEGMENTED CAPTURE UNTESTED ON A GPU: the first run on a GPU (an H200, CuPy 14.2 /
CUDA 13, 2026-12-04) stopped at the first GEMM of the then unsegmented capture with
the cuBLAS refusal above. The segmented capture is checked on the CPU only, with a
fake CuPy that enforces the refusal and replays recorded segments on NumPy
(tests/fake_cupy.py, tests/training/test_cuda_graph.py); it is unproven on a GPU
until the next GPU run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...maths.step import make_step
from .plan import N_COLUMNS, EpochPlan, step_hyper

SEGMENT_AT_GEMMS = True
"""Cut the capture at each GEMM. False captures the whole step as one graph (what
CuPy refuses today, cupy/cupy#6290; the tests reproduce that refusal with it)."""

CAPTURE_ERRORS = (NotImplementedError, RuntimeError, MemoryError)
"""What a failed capture raises: CuPy's refusal of a library call (cuBLAS, cuRAND,
cuSPARSE, cuSOLVER) or of a synchronous call while capturing, a CUDA runtime or
driver error, an out-of-memory error."""


def _cupy() -> Any:
    # The CuPy module (the tests hand in a fake).
    import importlib

    return importlib.import_module("cupy")


class Segmenter:
    """The namespace the captured step runs on: ``xp``'s names, but ``matmul``
    (CuPy's, outside any capture). ``gemms`` keeps each GEMM's ``(a, b, out)`` in
    order, ``graphs`` the graphs between them (one more than the GEMMs)."""

    def __init__(self, xp: Any, cupy: Any, stream: Any) -> None:
        self._xp, self._cupy, self._stream = xp, cupy, stream
        self.capturing = False
        self.gemms: list[tuple[Any, Any, Any]] = []
        self.graphs: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._xp, name)

    def matmul(self, a: Any, b: Any) -> Any:
        """``a @ b``; while capturing, the current graph ends before it and the
        next one begins after it."""
        if not (self.capturing and SEGMENT_AT_GEMMS):
            out = self._cupy.matmul(a, b)  # the warm-up, or the unsegmented capture
        else:
            self.graphs.append(self._stream.end_capture())
            out = self._cupy.matmul(a, b)
            self._stream.begin_capture()
        self.gemms.append((a, b, out))
        return out

    def begin(self) -> None:
        """Start capturing the step's first graph (drops the warm-up's GEMMs)."""
        self.gemms, self.graphs = [], []
        self._stream.begin_capture()
        self.capturing = True

    def end(self) -> None:
        """End the step's last graph."""
        self.graphs.append(self._stream.end_capture())
        self.capturing = False

    def abandon(self) -> None:
        """After a failed capture: end it where the stream still captures."""
        self.capturing = False
        try:
            if self._stream.is_capturing():
                self._stream.end_capture()  # an invalidated capture raises here
        except CAPTURE_ERRORS:
            pass

    def launch(self) -> None:
        """One replay of the step: each graph, then the GEMM after it."""
        matmul, stream = self._cupy.matmul, self._stream
        for graph, (a, b, out) in zip(self.graphs, self.gemms, strict=False):
            graph.launch(stream)
            matmul(a, b, out=out)
        self.graphs[-1].launch(stream)


class CapturedStep:
    """The step of one fit as CUDA graphs over static buffers; ``key`` as
    :func:`.jax_epoch.program`'s (a new key needs a new capture)."""

    def __init__(
        self,
        cupy: Any,
        xp: Any,
        compiled: Any,
        key: tuple[Any, ...],
        params: Any,
        state: Any,
        total: Any,
    ) -> None:
        self.cupy, self.xp, self.compiled, self.key = cupy, xp, compiled, key
        handover, batch_size = compiled.handover, compiled.batch_size
        activations, loss, _, l2, clip = key[:5]
        pair = handover.pair
        self.step = make_step(xp, activations, loss, pair, l2=l2, clip=clip)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.segments = Segmenter(xp, cupy, self.stream)
        self.captured_step = make_step(
            self.segments, activations, loss, pair, l2=l2, clip=clip
        )
        # The buffers are CuPy's own arrays (those of array-api-compat's cupy).
        copy = lambda a: cupy.array(a, copy=True)  # noqa: E731
        self.kind = type(state)  # the pair's state tuple
        self.params = [copy(p) for p in params]
        self.state = [[copy(a) for a in arrays] for arrays in state]
        self.rows = cupy.zeros(batch_size, dtype=xp.int64)
        self.factors = cupy.zeros(N_COLUMNS, dtype=total.dtype)
        self.value = cupy.zeros((), dtype=total.dtype)
        self.pool = cupy.cuda.MemoryPool()  # the temporaries' memory, kept for replays

    def _body(self) -> None:
        # One step from the static buffers into them (what the graphs record).
        xp, compiled = self.xp, self.compiled
        X, Y, W = compiled.data
        rows = self.rows
        hyper = step_hyper(compiled.handover, self.factors, compiled.constants)
        weights = None if W is None else xp.take(W, rows, axis=0)
        batch = (xp.take(X, rows, axis=0), xp.take(Y, rows, axis=0), weights)
        params, state, value = self.captured_step(
            tuple(self.params), self.kind(*map(tuple, self.state)), *batch, hyper
        )
        for buffers, new in zip(
            [self.params, *self.state], [params, *state], strict=True
        ):
            for buffer, array in zip(buffers, new, strict=True):
                buffer[...] = array
        self.value[...] = value

    def capture(self) -> None:
        """Record the graphs: one step run first (it fills the private pool with
        the blocks the capture asks for, in the same order), then the same step
        captured; the buffers are restored afterwards (the warm-up step moved
        them). Raises what the capture raised, the capture ended."""
        saved = [[self.xp.asarray(a, copy=True) for a in g] for g in self._groups()]
        # The capture stream does not wait for the current one by itself (the
        # buffers and the saved copies are written there).
        self.stream.wait_event(self.cupy.cuda.get_current_stream().record())
        with self.cupy.cuda.using_allocator(self.pool.malloc), self.stream:
            self._body()
            try:
                self.segments.begin()
                self._body()
                self.segments.end()
            except BaseException:
                self.segments.abandon()
                raise
            for group, copies in zip(self._groups(), saved, strict=True):
                for buffer, copy in zip(group, copies, strict=True):
                    buffer[...] = copy

    def _groups(self) -> list[list[Any]]:
        return [self.params, *self.state]

    def replay(self, rows: Any, factors: Any) -> Any:
        """One step on ``rows`` (batch_size,) with ``factors`` (a table row);
        returns the step's loss term (a view overwritten by the next replay)."""
        with self.stream:
            self.rows[...] = rows
            self.factors[...] = factors
            self.segments.launch()
        return self.value


def capture(
    compiled: Any, key: tuple[Any, ...], params: Any, state: Any, total: Any
) -> Any:
    """The fit's step for ``key`` captured (a :class:`CapturedStep`), or None where
    the capture failed: a ``CompileWarning`` says why (once per reason), ``params``
    and ``state`` are as they were and the fit runs eagerly."""
    from . import say_eager

    cupy = _cupy()
    xp = compiled.xp
    try:
        captured = CapturedStep(cupy, xp, compiled, key, params, state, total)
        captured.capture()
    except CAPTURE_ERRORS as exc:
        say_eager(_why(exc))
        return None
    return captured


def _why(exc: BaseException) -> str:
    # The CompileWarning's reason for a failed capture.
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NotImplementedError):
        return (
            "the CUDA graph capture failed: CuPy refuses library calls (cuBLAS, "
            f"cuRAND, cuSPARSE, cuSOLVER) while a stream captures, cupy/cupy#6290 "
            f"({text})"
        )
    return f"the CUDA graph capture failed ({text})"


def run_epoch(
    compiled: Any,
    params: Any,
    state: Any,
    plan: EpochPlan,
    total: Any,
    key: tuple[Any, ...],
    report: Callable[[int, Any, Any, Any], None] | None = None,
) -> tuple[tuple[Any, ...], Any, Any]:
    """One epoch of ``plan`` by replays of ``compiled.captured`` (see
    :func:`capture`, captured for ``key``): (params, state, total).
    ``report(step, total before, total after, params)`` after each step (batch
    callbacks), where given."""
    xp, batch_size = compiled.xp, compiled.batch_size
    captured: CapturedStep = compiled.captured
    assert captured.key == key  # captured again by CompiledEpochs where it changed
    order = xp.asarray(plan.order, dtype=xp.int64, device=compiled.device)
    table = xp.asarray(plan.table, dtype=total.dtype, device=compiled.device)
    # The capture stream does not wait for the current stream by itself.
    cupy = captured.cupy
    captured.stream.wait_event(cupy.cuda.get_current_stream().record())
    with captured.stream:
        for group, arrays in zip(captured._groups(), [params, *state], strict=True):
            for buffer, array in zip(group, arrays, strict=True):
                buffer[...] = array  # this epoch starts from the loop's arrays
        for i in range(plan.n_full):
            step_rows = order[i * batch_size : (i + 1) * batch_size]
            before = total
            total = total + captured.replay(step_rows, table[i])
            if report is not None:  # the parameters' buffers, as this step left them
                report(i, before, total, captured.params)
    captured.stream.synchronize()  # the default stream reads what follows
    copy = lambda a: xp.asarray(a, copy=True)  # noqa: E731
    params = tuple(copy(p) for p in captured.params)
    state = captured.kind(*(tuple(copy(a) for a in s) for s in captured.state))
    if plan.remainder:
        before = total
        params, state, total = _last(compiled, captured, params, state, plan, total)
        if report is not None:
            report(plan.n_full, before, total, params)
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
    hyper = step_hyper(compiled.handover, factors, compiled.constants)
    weights = None if W is None else xp.take(W, rows, axis=0)
    batch = (xp.take(X, rows, axis=0), xp.take(Y, rows, axis=0), weights)
    params, state, value = captured.step(params, state, *batch, hyper)
    return params, state, total + value
