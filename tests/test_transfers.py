"""Host/device edges (xpnet.transfers): pinned non-blocking uploads on torch CUDA
(shown on a recording fake of torch, no GPU needed), none on the CPU backends; row
gathers; several device values read in one copy."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import pytest

import xpnet
from xpnet import backend as backend_module
from xpnet.training.batches import _row_taker as row_taker
from xpnet.transfers import read_floats, upload


class FakeTensor:
    def __init__(self, log, values, pinned=False, device="cpu"):
        self.log, self.values, self.pinned, self.device = log, values, pinned, device

    def numpy(self):
        return self.values

    def to(self, device, non_blocking=False):
        stream = self.log.current[-1]
        self.log.append(("copy", stream, self.pinned, non_blocking))
        return FakeTensor(self.log, self.values.copy(), device=device)

    def record_stream(self, stream):
        self.log.append(("used on", stream.name))


class FakeStream:
    def __init__(self, log, name):
        self.log, self.name = log, name

    def wait_stream(self, other):
        self.log.append(("wait", self.name, other.name))


class Log(list):
    def __init__(self):
        super().__init__()
        self.current = ["consumer"]


def fake_torch(log):
    consumer = FakeStream(log, "consumer")

    @contextlib.contextmanager
    def stream(side):
        log.current.append(side.name)
        yield
        log.current.pop()

    def empty(shape, dtype, pin_memory=False):
        log.append(("alloc", pin_memory))
        return FakeTensor(log, np.empty(shape, dtype), pinned=pin_memory)

    cuda = SimpleNamespace(
        Stream=lambda device: FakeStream(log, "side"),
        stream=stream,
        current_stream=lambda device: consumer,
    )

    class FakeTorchModule:  # hashable, as a module is
        pass

    torch = FakeTorchModule()
    torch.cuda, torch.empty = cuda, empty
    torch.from_numpy = lambda array: SimpleNamespace(dtype=array.dtype)
    return torch


def test_upload_is_pinned_non_blocking_and_ordered():
    log = Log()
    host = np.arange(6.0).reshape(2, 3)
    result = upload(fake_torch(log), host, "cuda:0")
    np.testing.assert_array_equal(result.values, host)
    assert log == [
        ("alloc", True),  # page-locked host memory
        ("copy", "side", True, True),  # from it, non-blocking, on the side stream
        ("wait", "consumer", "side"),  # the consumer's stream waits (on the device)
        ("used on", "consumer"),  # the allocator keeps the result for it
    ]


def test_backend_uploads_through_pinned_memory_only_on_torch_cuda(monkeypatch):
    pytest.importorskip("torch", reason="torch is the optional xpnet[torch]")
    calls = []
    monkeypatch.setattr(
        backend_module, "upload", lambda torch, host, device: calls.append(host)
    )
    cuda = xpnet.Backend(
        "torch:cuda:0", None, SimpleNamespace(type="cuda"), library="torch"
    )
    cuda.asarray([1, 2], "float32")
    assert len(calls) == 1 and calls[0].dtype == np.float32
    for spec in ("numpy", "torch", "array_api_strict"):
        try:
            cpu = xpnet.get_backend(spec)
        except xpnet.BackendError:
            continue
        cpu.asarray([1.0, 2.0])
    assert len(calls) == 1  # no pinned path on the CPU backends


def test_rows_and_reads(backend):
    xp = backend.xp
    X = backend.asarray(np.arange(12.0).reshape(4, 3))
    rows = backend.asarray(np.array([2, 0]))
    got = backend.to_numpy(row_taker(backend)(X, rows))
    np.testing.assert_array_equal(got, [[6.0, 7.0, 8.0], [0.0, 1.0, 2.0]])
    total, probe = xp.sum(X), xp.sum(X * 0.0)
    assert read_floats(backend, total, probe) == [66.0, 0.0]
    assert read_floats(backend, xp.sum(X)) == [66.0]


def test_torch_gathers_with_index_select():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    from torch.overrides import TorchFunctionMode

    seen = []

    class Calls(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    take = row_taker(xpnet.get_backend("torch"))
    X, rows = torch.ones((4, 2)), torch.tensor([1, 3])
    with Calls():
        take(X, rows)
    assert seen == ["index_select"]  # no where() for negative indices first
