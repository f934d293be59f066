"""Backend selection: names, aliases, defaults and the errors for what cannot run."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import xpnet
from xpnet.backend import get_backend


@pytest.mark.parametrize("spec", ["numpy", "cpu", "CPU", " numpy "])
def test_numpy_names(spec):
    backend = get_backend(spec)
    assert backend.name == "numpy"
    assert backend.device == "cpu"


def test_default_reads_environment(monkeypatch):
    monkeypatch.delenv("XPNET_BACKEND", raising=False)
    assert get_backend().name == "numpy"
    pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    monkeypatch.setenv("XPNET_BACKEND", "array_api_strict")
    assert get_backend().name == "array_api_strict"
    assert get_backend(None).name == "array_api_strict"


def test_unknown_name_lists_choices():
    with pytest.raises(
        xpnet.BackendError, match=r"unknown backend 'tensorflow'.*numpy"
    ):
        get_backend("tensorflow")


def test_not_a_string():
    with pytest.raises(xpnet.BackendError, match="backend must be a string"):
        get_backend(3)


# The GPU-specific tests carry the `xpnet_backend` marker: ci/gpu-check's
# `-m xpnet_backend` runs them on the GPU machine.
@pytest.mark.xpnet_backend
@pytest.mark.parametrize("spec", ["gpu", "cuda", "cupy", "cupy:0", "gpu:0"])
def test_cupy_without_device_says_why_and_how(spec):
    if importlib.util.find_spec("cupy") is None:
        with pytest.raises(xpnet.BackendError, match=r'pip install "xpnet\[cuda12\]"'):
            get_backend(spec)
        return
    import cupy

    if cupy.cuda.is_available():
        pytest.skip("a CUDA device is present: the no-device path cannot run here")
    with pytest.raises(xpnet.BackendError, match=r"no CUDA device") as info:
        get_backend(spec)
    assert repr(spec) in str(info.value)
    assert "backend='numpy' (--backend cpu)" in str(info.value)


@pytest.mark.xpnet_backend
def test_auto_falls_back_to_numpy_without_gpu():
    backend = get_backend("auto")
    cupy_ok = False
    if importlib.util.find_spec("cupy"):
        import cupy

        cupy_ok = cupy.cuda.is_available()
    assert backend.name.startswith("cupy") if cupy_ok else backend.name == "numpy"


@pytest.fixture
def two_cuda_devices(monkeypatch):
    """CuPy and torch each report two CUDA devices (no GPU needed): the device-index
    checks run before anything touches a device."""
    monkeypatch.setattr(xpnet.backend, "_cuda_device_count", lambda cupy: 2)
    if importlib.util.find_spec("torch") is not None:
        import torch

        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


BAD_DEVICE_INDICES = [
    (
        "cupy:2",
        r"backend 'cupy:2': there is no CUDA device 2; this machine has 2 "
        r"\(0 to 1\)",
    ),
    ("gpu:99", "there is no CUDA device 99"),
    ("cupy:first", r"backend 'cupy:first': device must be a number such as 0"),
    ("cuda:-1", "device must be a number"),
    ("torch:cuda:2", r"backend 'torch:cuda:2': torch sees only 2 CUDA device"),
    ("torch:cuda:first", r"'torch:cuda:first': device must be a number such as 0"),
]


@pytest.mark.xpnet_backend  # ci/gpu-check runs it too (it needs no GPU)
@pytest.mark.parametrize(
    "spec, message", BAD_DEVICE_INDICES, ids=[spec for spec, _ in BAD_DEVICE_INDICES]
)
def test_bad_device_index_is_named(two_cuda_devices, spec, message):
    library = "torch" if spec.startswith("torch") else "cupy"
    pytest.importorskip(library, reason=f"{library} is not installed")
    with pytest.raises(xpnet.BackendError, match=message):
        get_backend(spec)


def test_missing_library_names_install(monkeypatch):
    real_import = importlib.import_module

    def fake_import(name, *args):
        if name == "torch":
            raise ImportError("No module named 'torch'")
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    with pytest.raises(xpnet.BackendError, match=r"needs torch.*pip install"):
        get_backend("torch")


@pytest.mark.xpnet_backend
def test_torch_cuda_without_gpu():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(xpnet.BackendError, match="needs a CUDA GPU"):
        get_backend("torch:cuda")


def test_array_api_strict_devices():
    pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    assert get_backend("array_api_strict:device1").name == "array_api_strict:device1"
    with pytest.raises(xpnet.BackendError, match="no device 'moon'"):
        get_backend("array_api_strict:moon")


def test_numpy_takes_no_device():
    with pytest.raises(xpnet.BackendError, match="no device suffix"):
        get_backend("numpy:1")


def test_round_trip_keeps_values_and_dtype(backend):
    host = np.linspace(-1, 1, 12).reshape(3, 4)
    for dtype in ("float32", "float64"):
        array = backend.asarray(host, dtype)
        assert backend.owns(array)
        assert array.dtype == backend.dtype(dtype)
        back = backend.to_numpy(array)
        assert back.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(back, host.astype(dtype))
    backend.synchronize()


def test_asarray_copies_host_memory(backend):
    host = np.zeros(3)
    array = backend.asarray(host, "float64")
    host[0] = 5.0
    if backend.name == "numpy":  # numpy shares memory by design: it is the host
        assert np.shares_memory(array, host) and array[0] == 5.0
        assert not np.shares_memory(backend.asarray(host, "float32"), host)
    else:
        assert backend.to_numpy(array)[0] == 0.0


@pytest.mark.parametrize("dtype", ["int32", "complex64", "float16", "x"])
def test_unsupported_dtype(dtype):
    with pytest.raises(ValueError, match=r"dtype must be 'float32' or 'float64'"):
        get_backend("numpy").dtype(dtype)


def test_foreign_array_is_refused():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    backend = get_backend("numpy")
    with pytest.raises(TypeError, match=r"X is a torch array.*'numpy'"):
        backend.device_array(torch.zeros(2, 2), "X")


def test_other_device_is_refused():
    strict = pytest.importorskip("array_api_strict", reason="not installed")
    backend = get_backend("array_api_strict")
    other = strict.asarray([[1.0]], device=strict.Device("device1"))
    with pytest.raises(ValueError, match=r"X is on device .*device1.*CPU_DEVICE"):
        backend.device_array(other, "X")
