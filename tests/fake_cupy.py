"""A fake CuPy on the CPU: what :mod:`xpnet.training.compiled.cuda_graph` uses of
CuPy, on NumPy, faithful to what a CUDA graph depends on.

- Capture records, replay re-runs. While a fake stream captures, every operation on
  a :class:`Recorded` array (ufuncs, NumPy functions, indexing, assignment,
  ``astype``, ``copy``) runs and is appended to the capture's tape with its inputs
  and output *by identity* (a GPU's fixed addresses); :meth:`FakeGraph.launch`
  runs the tape again, writing into the same arrays. A step that reads an array
  made outside the buffers, or computes into a fresh array that the next graph
  does not read, replays wrong numbers, as on a GPU.
- CuPy's refusals: ``matmul`` (or ``@``) on a capturing stream raises CuPy's
  ``NotImplementedError`` (cuBLAS, cupy/cupy#6290), a host read (``float``,
  ``bool``, ``item``) raises its ``RuntimeError``, as does a second
  ``begin_capture``.
- ``cupy.array``, ``cupy.zeros`` make :class:`Recorded` arrays (the capture's
  static buffers), so everything computed from them is recorded.
- Stream order and memory: ``stream.record()`` gives an event that
  ``wait_event`` needs (each stream logs the streams it waited for), and
  ``matmul`` logs the allocator its output came from (``using_allocator``'s, else
  the default pool's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

CUBLAS_REFUSAL = "calling cuBLAS API during stream capture is currently unsupported"

_TAPE: list[Callable[[], Any]] | None = None  # the capture under way, if any


def _plain(value: Any) -> Any:
    # Recorded arrays as plain views of the same memory, inside containers too.
    if isinstance(value, Recorded):
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _record(op: Callable[[], Any]) -> None:
    if _TAPE is not None:
        _TAPE.append(op)


def _result(run: Callable[[], Any], inputs: Any) -> Any:
    """Run ``run``, record it, return its result as a Recorded array (a 0-d one for
    a NumPy scalar); a view of an input is not recomputed (it moves with it)."""
    result = run()
    if not isinstance(result, (np.ndarray, np.generic)):
        return result
    array = np.asarray(result)
    if isinstance(result, np.ndarray) and _is_view_of(array, inputs):
        return array.view(Recorded)
    target = array.view(np.ndarray)

    def replay() -> None:
        target[...] = run()

    _record(replay)
    return array.view(Recorded)


def _is_view_of(array: np.ndarray, inputs: Any) -> bool:
    if array.flags.owndata:
        return False
    flat = [x for x in _flatten(inputs) if isinstance(x, np.ndarray)]
    return any(np.may_share_memory(array, x) for x in flat)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [y for v in value for y in _flatten(v)]
    if isinstance(value, dict):
        return _flatten(list(value.values()))
    return [value]


def _no_host_read(what: str) -> None:
    if _TAPE is not None:
        raise RuntimeError(
            f"the current stream is capturing, so synchronous API calls are "
            f"disallowed ({what})"
        )


class Recorded(np.ndarray):
    """A NumPy array whose operations a fake capture records (see the module)."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any):
        if ufunc is np.matmul and _TAPE is not None:  # ``a @ b``: cuBLAS too
            raise NotImplementedError(CUBLAS_REFUSAL)
        args, kw = _plain(inputs), _plain(kwargs)

        def run() -> Any:
            return getattr(ufunc, method)(*args, **kw)

        if "out" in kwargs:  # in place: the replay writes the same outputs
            run()
            _record(run)
            out = kwargs["out"]
            return out[0] if len(out) == 1 else out
        return _result(run, args)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any):
        plain_args, plain_kwargs = _plain(args), _plain(kwargs)

        def run() -> Any:
            return func(*plain_args, **plain_kwargs)

        if kwargs.get("out") is not None:
            run()
            _record(run)
            return kwargs["out"]
        return _result(run, plain_args)

    def __getitem__(self, key: Any) -> Any:
        plain, index = self.view(np.ndarray), _plain(key)
        if not isinstance(plain[index], np.ndarray):  # a 0-d view, not a scalar
            index = (*(index if isinstance(index, tuple) else (index,)), Ellipsis)
        return _result(lambda: plain[index], (plain,))

    def __setitem__(self, key: Any, value: Any) -> None:
        plain, index, new = self.view(np.ndarray), _plain(key), _plain(value)

        def run() -> None:
            plain[index] = new

        run()
        _record(run)

    def astype(self, *args: Any, **kwargs: Any) -> Any:
        plain = self.view(np.ndarray)
        return _result(lambda: plain.astype(*args, **kwargs), (plain,))

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        plain = self.view(np.ndarray)
        return _result(lambda: plain.copy(*args, **kwargs), ())

    def __float__(self) -> float:
        _no_host_read("float")
        return float(self.view(np.ndarray))

    def __bool__(self) -> bool:
        _no_host_read("bool")
        return bool(self.view(np.ndarray))

    def item(self, *args: Any) -> Any:
        _no_host_read("item")
        return self.view(np.ndarray).item(*args)


class FakeGraph:
    """A captured tape; ``launch`` re-runs it."""

    def __init__(self, tape: list[Callable[[], Any]]) -> None:
        self.tape, self.launches = tape, 0

    def launch(self, stream: Any = None) -> None:
        self.launches += 1
        for op in self.tape:
            op()


class FakeEvent:
    """An event recorded on ``stream``."""

    def __init__(self, stream: FakeStream) -> None:
        self.stream = stream


class FakeStream:
    """A stream that captures into a tape; ``with stream`` makes it current;
    ``waited``: the streams whose events it waited for."""

    def __init__(self, cupy: FakeCupy, non_blocking: bool = False) -> None:
        self.cupy, self.non_blocking, self.capturing = cupy, non_blocking, False
        self.waited: list[FakeStream] = []

    def __enter__(self) -> FakeStream:
        self.cupy.current.append(self)
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.cupy.current.pop()
        return False

    def begin_capture(self) -> None:
        global _TAPE
        assert self.non_blocking, "CuPy cannot capture on the default stream"
        if self.cupy.fail_begin is not None:
            raise self.cupy.fail_begin
        if _TAPE is not None:
            raise RuntimeError("cudaErrorIllegalState: a capture is under way")
        _TAPE, self.capturing = [], True

    def end_capture(self) -> FakeGraph:
        global _TAPE
        if not self.capturing or _TAPE is None:
            raise RuntimeError("cudaErrorIllegalState: no capture under way")
        graph = FakeGraph(_TAPE)
        _TAPE, self.capturing = None, False
        self.cupy.graphs.append(graph)
        return graph

    def is_capturing(self) -> bool:
        return self.capturing

    def wait_event(self, event: FakeEvent) -> None:
        self.waited.append(event.stream)  # CuPy reads ``event.ptr``: None raises

    def record(self) -> FakeEvent:
        return FakeEvent(self)

    def synchronize(self) -> None:
        _no_host_read("synchronize")


class _Cuda:
    # cupy.cuda: streams, the allocator context, a memory pool.
    class MemoryPool:
        def malloc(self, size: int) -> Any:
            raise AssertionError("the fake allocates on NumPy")

    def __init__(self, cupy: FakeCupy) -> None:
        self._cupy = cupy
        self.default = FakeStream(cupy)
        self.default_pool = self.MemoryPool()
        self.allocators: list[Any] = []  # using_allocator's, innermost last

    def Stream(self, non_blocking: bool = False) -> FakeStream:  # noqa: N802
        return FakeStream(self._cupy, non_blocking)

    def get_current_stream(self) -> FakeStream:
        current = self._cupy.current
        return current[-1] if current else self.default

    @contextlib.contextmanager
    def using_allocator(self, malloc: Any = None) -> Any:
        # CuPy's ``None``: plain cudaMalloc, no pool (the fake logs None)
        self.allocators.append(malloc)
        try:
            yield
        finally:
            self.allocators.pop()

    def allocator(self) -> Any:
        """The allocator new arrays come from now."""
        return self.allocators[-1] if self.allocators else self.default_pool.malloc


class FakeCupy:
    """The module: ``matmul`` (counted; refused while the current stream captures),
    ``array``/``zeros`` (Recorded buffers), ``cuda``. ``fail_begin``: an exception
    ``begin_capture`` raises (a CUDA capture error)."""

    def __init__(self, fail_begin: BaseException | None = None) -> None:
        global _TAPE
        _TAPE = None  # no capture left over from a failed test
        self.fail_begin = fail_begin
        self.current: list[FakeStream] = []
        self.graphs: list[FakeGraph] = []
        self.gemms = 0  # matmul calls, captured passes and replays alike
        self.gemm_allocators: list[Any] = []  # where each new GEMM output came from
        self.cuda = _Cuda(self)

    @property
    def capturing(self) -> bool:
        """Whether a capture is under way."""
        return _TAPE is not None

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        if self.cuda.get_current_stream().is_capturing():
            raise NotImplementedError(CUBLAS_REFUSAL)
        self.gemms += 1
        if out is None:
            self.gemm_allocators.append(self.cuda.allocator())
            return np.matmul(a, b)
        np.matmul(a, b, out=out)
        return out

    def array(self, a: Any, copy: bool = True) -> Recorded:
        return np.array(_plain(a), copy=copy).view(Recorded)

    def zeros(self, shape: Any, dtype: Any) -> Recorded:
        return np.zeros(shape, dtype=dtype).view(Recorded)
