"""GPU readiness, proven on the CPU: device contexts, device names, hashing, uploads.

CuPy allocates results on its *current* device, so ``cupy:1`` is only correct when
every place that launches work has entered ``Backend.context()``. These tests run the
library on a fake CuPy device (NumPy arrays behind a namespace that checks, on every
call, that device 1 is the current one), with a stand-in ``cupy`` module in
``sys.modules``: they run everywhere, with or without CuPy or a GPU.
"""

from __future__ import annotations

import io
import sys
import types

import array_api_compat
import numpy as np
import pytest

import xpnet
from xpnet import backend as backend_module
from xpnet import check, walkthrough
from xpnet.backend import Backend, device_name, get_backend


class FakeDevice:
    """Stands in for ``cupy.cuda.Device``: a context manager over a current id."""

    current = 0

    def __init__(self, index: int) -> None:
        self.id = index
        self._stack: list[int] = []

    def __enter__(self) -> FakeDevice:
        self._stack.append(FakeDevice.current)
        FakeDevice.current = self.id
        return self

    def __exit__(self, *exc: object) -> None:
        FakeDevice.current = self._stack.pop()


FakeDevice.__module__ = "cupy.cuda.device"  # device_name reads CuPy's as cuda:N


class CheckingNamespace:
    """NumPy's array API namespace that records every call made while the current
    device is not ``index`` (and drops ``device=``, which NumPy would refuse)."""

    def __init__(self, index: int) -> None:
        self._xp = array_api_compat.array_namespace(np.empty(0))
        self._index = index
        self.__name__ = self._xp.__name__
        self.outside: list[str] = []
        self.calls = 0

    def __getattr__(self, name: str):
        value = getattr(self._xp, name)
        if not callable(value) or isinstance(value, type):
            return value

        def checked(*args, **kwargs):
            self.calls += 1
            if FakeDevice.current != self._index:
                self.outside.append(name)
            kwargs.pop("device", None)
            return value(*args, **kwargs)

        return checked


@pytest.fixture
def fake_gpu(monkeypatch):
    """A ``cupy:1`` Backend on the fake device, whose library is a stand-in ``cupy``
    module (CuPy itself, installed or not, is never touched); yields (backend,
    namespace, syncs)."""
    synced_on: list[int] = []
    stream = types.SimpleNamespace(
        synchronize=lambda: synced_on.append(FakeDevice.current)
    )
    stand_in = types.ModuleType("cupy")
    stand_in.ndarray = type("ndarray", (), {})  # type: ignore[attr-defined]
    stand_in.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        Device=FakeDevice, get_current_stream=lambda: stream
    )
    monkeypatch.setitem(sys.modules, "cupy", stand_in)
    # The arrays are NumPy's, on the CPU: count them as on the fake device.
    monkeypatch.setattr(backend_module, "_same_device", lambda a, b: True)
    xp = CheckingNamespace(1)
    yield Backend("cupy:1", xp, FakeDevice(1), "cupy"), xp, synced_on
    assert FakeDevice.current == 0  # every context was left


def _data(n_samples=60, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_estimator_work_runs_on_the_backends_device(fake_gpu, solver, early_stopping):
    backend, xp, _ = fake_gpu
    X, y = _data()
    model = xpnet.MLPClassifier(
        (8,),
        solver=solver,
        max_iter=3,
        batch_size=16,
        early_stopping=early_stopping,
        random_state=0,
        backend=backend,
    )
    model.fit(X, y)
    model.partial_fit(X, y) if not early_stopping else model.fit(X, y)
    model.predict(X)
    model.score(X, y)
    assert xp.calls > 100
    assert xp.outside == []


def test_research_api_check_and_walkthrough_run_on_the_backends_device(fake_gpu):
    backend, xp, synced_on = fake_gpu
    X, y = _data()
    net = xpnet.MLP([4, 5, 1], backend=backend, seed=0)
    net.forward(X)
    loss, weight_grads, bias_grads = net.loss_and_gradients(X, y[:, None])
    net.sgd_step(weight_grads, bias_grads, 0.1)
    check.train(backend, "float64", seed=0, steps=2)
    walkthrough.run(backend=backend, out=io.StringIO())
    backend.synchronize()
    assert xp.calls > 50
    assert xp.outside == []
    assert synced_on and set(synced_on) == {1}  # waited on device 1's stream


def test_context_makes_the_cupy_device_current(fake_gpu):
    """Item 6: ``cupy:N``'s context is device N, left on exit; other libraries'
    contexts leave the current device alone."""
    backend, _, _ = fake_gpu
    with backend.context():
        assert FakeDevice.current == 1
        with get_backend("numpy").context():
            assert FakeDevice.current == 1
    assert FakeDevice.current == 0
    with pytest.raises(ZeroDivisionError), backend.on_device(lambda: "nothing"):
        assert FakeDevice.current == 1
        1 / 0  # noqa: B018 - an error inside leaves the device too
    assert FakeDevice.current == 0


def test_backends_hash_and_name_devices_readably():
    cupy = pytest.importorskip("cupy", reason="cupy is not installed")
    real = Backend("cupy:0", None, cupy.cuda.Device(0), "cupy")  # unhashable device
    assert hash(real) == hash(Backend("cupy:0", None, cupy.cuda.Device(0), "cupy"))
    assert real == Backend("cupy:0", None, cupy.cuda.Device(0), "cupy")
    assert real.device_name == "cuda:0"
    assert device_name(cupy.cuda.Device(3)) == "cuda:3"
    assert len({get_backend("numpy"), get_backend("numpy"), real}) == 2
    torch = pytest.importorskip("torch", reason="torch is not installed")
    assert device_name(torch.device("cuda", 1)) == "cuda:1"
    assert hash(get_backend("torch")) == hash(get_backend("torch"))


def test_other_device_message_names_devices_readably():
    strict = pytest.importorskip("array_api_strict", reason="not installed")
    backend = get_backend("array_api_strict:device1")
    assert backend.device_name == "device1"
    other = strict.asarray([[1.0]], device=strict.Device("CPU_DEVICE"))
    with pytest.raises(ValueError) as info:
        backend.device_array(other, "X")
    assert "X is on device CPU_DEVICE but the model is on device1" in str(info.value)


@pytest.mark.parametrize("spec", ["auto:x", "auto:-1", "auto:1.5"])
def test_invalid_auto_device_is_an_error(spec):
    with pytest.raises(xpnet.BackendError, match="device must be a number"):
        get_backend(spec)


def test_auto_device_that_does_not_exist_is_an_error_on_a_gpu_machine(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))  # a stand-in
    monkeypatch.setattr(backend_module, "_cuda_device_count", lambda cupy: 2)
    with pytest.raises(xpnet.BackendError, match="no CUDA device 5.*has 2"):
        get_backend("auto:5")


def test_auto_without_gpu_falls_back_to_numpy(monkeypatch):
    monkeypatch.setattr(backend_module, "_cuda_device_count", lambda cupy: 0)
    assert get_backend("auto:1").name == "numpy"


def test_torch_cuda_upload_makes_no_host_copy(monkeypatch):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    received = []
    xp = types.SimpleNamespace(asarray=lambda a, device: received.append(a) or a)
    monkeypatch.setattr(  # the pinned upload (tests/test_transfers.py)
        backend_module, "upload", lambda torch, a, device: received.append(a) or a
    )
    host = np.ones((3, 2), dtype=np.float32)
    Backend("torch:cuda:0", xp, torch.device("cuda", 0), "torch").asarray(host)
    assert received[0] is host  # handed straight to the pinned copy onto the GPU
    Backend("torch", xp, torch.device("cpu"), "torch").asarray(host)
    assert received[1] is not host  # on the CPU torch would share the caller's memory


def test_partial_fit_classes_as_a_device_array():
    strict = pytest.importorskip("array_api_strict", reason="not installed")
    X, y = _data()
    model = xpnet.MLPClassifier((4,), random_state=0, backend="array_api_strict")
    model.partial_fit(X, strict.asarray(y), classes=strict.asarray([0, 1]))
    assert model.classes_.tolist() == [0, 1]
    torch = pytest.importorskip("torch", reason="torch is not installed")
    other = xpnet.MLPClassifier((4,)).partial_fit(X, y, classes=torch.tensor([0, 1]))
    assert other.classes_.tolist() == [0, 1]  # any library's labels, as y
