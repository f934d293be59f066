"""Choosing where the maths runs: one ``Backend`` holds the array namespace and device.

Every other module receives ``xp`` (and, where arrays are created, ``device``) from a
Backend, so the same code runs on NumPy, CuPy, torch, JAX or array-api-strict.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import array_api_compat
import numpy as np

from .memory import DeviceMemoryError, is_out_of_memory
from .transfers import upload

Array = Any
"""An array of any array API library."""

DTYPES = ("float32", "float64")
ENV_VAR = "XPNET_BACKEND"

_ALIASES = {
    "cpu": "numpy",
    "gpu": "cupy",
    "cuda": "cupy",
    "array-api-strict": "array_api_strict",
}
_KNOWN = ("numpy", "cupy", "torch", "jax", "array_api_strict")
_INSTALL_HINT = {
    "cupy": 'pip install "xpnet[cuda12]" (or "xpnet[cuda13]" for CUDA 13)',
    "torch": 'pip install "xpnet[torch]"',
    "jax": "pip install jax",
    "array_api_strict": "pip install array-api-strict",
}


class BackendError(ValueError):
    """A backend cannot run here; the message says what was asked, why, and the fix."""


@dataclass(frozen=True)
class Backend:
    """An array namespace bound to one device.

    Two Backends are equal (and hash alike) when their canonical names are.

    Attributes
    ----------
    name : str
        Canonical spec, e.g. ``"numpy"``, ``"cupy:0"``, ``"torch:cuda:0"``.
    xp : module
        The array API namespace.
    device : object
        The device arrays are created on (``None`` where the library has one device).
    """

    name: str
    xp: Any = field(repr=False, compare=False)
    device: Any = field(compare=False)  # CuPy's Device is unhashable; name says it
    library: str = field(repr=False, default="numpy")

    @property
    def device_name(self) -> str:
        """The device, readably: ``"cpu"``, ``"cuda:1"``, ``"device1"``."""
        return device_name(self.device)

    def context(self) -> contextlib.AbstractContextManager[Any]:
        """Make this backend's device the current one while work is launched.

        CuPy allocates results (matmul outputs, ``zeros_like``, copies) on the
        *current* device, not on the inputs' device, so every place that launches
        work on ``cupy:N`` runs inside ``with backend.context():``. The other
        libraries follow their inputs' device: a no-op context.
        """
        if self.library == "cupy":
            return self.xp_module().cuda.Device(self.device.id)
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def on_device(self, what: Callable[[], str]) -> Iterator[None]:
        """Run device work: this device current, running out of its memory raised
        as :class:`DeviceMemoryError`.

        ``what()`` (called only on failure) says what did not fit and what to change,
        e.g. ``"X of shape (60000, 784) float32 (179.4 MiB) does not fit; ..."``.
        """
        try:
            with self.context():
                yield
        except DeviceMemoryError:
            raise
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            raise DeviceMemoryError(
                f"out of memory on backend {self.name!r} (device "
                f"{self.device_name}): {what()}"
            ) from exc

    def dtype(self, name: str) -> Any:
        """The namespace's dtype object for ``"float32"`` or ``"float64"``."""
        return getattr(self.xp, _check_x64(self.library, check_dtype(name)))

    def asarray(self, host_array: Any, dtype: str | None = None) -> Array:
        """Copy a host array (anything ``numpy.asarray`` takes) onto this backend.

        The cast happens on the host, so every backend starts from identical numbers.
        On torch CUDA the copy goes through pinned memory without a host wait
        (:func:`xpnet.transfers.upload`).
        """
        host = np.asarray(host_array)
        if dtype is not None:
            host = host.astype(_check_x64(self.library, check_dtype(dtype)), copy=False)
        if self.library == "torch" and getattr(self.device, "type", "") == "cuda":
            return upload(self.xp_module(), host, self.device)
        if self.library in ("torch", "array_api_strict") and self._shares_host_memory:
            host = host.copy()  # the result would share memory with the caller's
        with self.context():
            return self.xp.asarray(host, device=self.device)

    @property
    def _shares_host_memory(self) -> bool:
        return self.library == "array_api_strict" or self.device_name == "cpu"

    def to_numpy(self, array: Array) -> np.ndarray:
        """A host NumPy copy of ``array`` (a NumPy array itself passes through)."""
        if isinstance(array, np.ndarray):
            return array
        if self.library == "cupy":
            return array.get()
        if self.library == "torch":
            return array.detach().cpu().numpy()
        if self.library == "array_api_strict":
            array = self.xp.asarray(array, device=self.xp.Device("CPU_DEVICE"))
        return np.asarray(array)

    def synchronize(self) -> None:
        """Wait until queued device work has finished (for timing); no-op on the CPU."""
        if self.library == "cupy":
            with self.context():  # the current stream is the current device's
                self.xp_module().cuda.get_current_stream().synchronize()
        elif self.library == "torch" and getattr(self.device, "type", "cpu") == "cuda":
            self.xp_module().cuda.synchronize(self.device)
        elif self.library == "jax":
            self.xp.zeros(1, device=self.device).block_until_ready()

    def xp_module(self) -> Any:
        """The library's own top-level module (``cupy``, ``torch``, ...)."""
        return importlib.import_module(self.library)

    @cached_property
    def _array_type(self) -> type:
        with self.context():
            return type(self.xp.asarray(0.0, device=self.device))

    def owns(self, array: Array) -> bool:
        """True when ``array`` belongs to this backend's namespace and device."""
        if type(array) is self._array_type:  # the common case, without a look-up
            return self.library == "numpy" or _same_device(
                array_api_compat.device(array), self.device
            )
        try:
            xp = array_api_compat.array_namespace(array)
        except TypeError:
            return False
        return _same_namespace(xp, self.xp) and _same_device(
            array_api_compat.device(array), self.device
        )

    def device_array(self, array: Any, argname: str, dtype: str | None = None) -> Array:
        """``array`` on this backend: host data is copied over, device data checked.

        Raises
        ------
        TypeError
            ``array`` belongs to another array library.
        ValueError
            ``array`` lives on another device.
        """
        if isinstance(array, (np.ndarray, list, tuple, float, int)):
            return self.asarray(array, dtype)  # host data: an explicit copy over
        try:
            xp = array_api_compat.array_namespace(array)
        except TypeError:
            raise TypeError(
                f"{argname} must be an array; got {type(array).__name__}"
            ) from None
        if not _same_namespace(xp, self.xp):
            raise TypeError(
                f"{argname} is a {_library_of(xp)} array but the model runs on "
                f"backend {self.name!r}; pass host NumPy data or an array of "
                f"{self.name!r}, not another library's array"
            )
        got = array_api_compat.device(array)
        if not _same_device(got, self.device):
            raise ValueError(
                f"{argname} is on device {device_name(got)} but the model is on "
                f"{self.device_name} (backend {self.name!r}); move it with "
                "to_device first"
            )
        if dtype is not None and array.dtype != self.dtype(dtype):
            array = self.xp.astype(array, self.dtype(dtype))
        return array


def check_dtype(name: Any) -> str:
    """Validate a floating dtype name; returns ``"float32"`` or ``"float64"``."""
    text = str(getattr(name, "name", name)).replace("torch.", "")
    if text not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {name!r}")
    return text


def _library_of(xp: Any) -> str:
    name = xp.__name__.removeprefix("array_api_compat.")
    return {"jax.numpy": "jax"}.get(name, name)


def _same_namespace(a: Any, b: Any) -> bool:
    return _library_of(a) == _library_of(b)


def _same_device(a: Any, b: Any) -> bool:  # a None: a JAX tracer (under jax.jit)
    return a is None or b is None or device_name(a) == device_name(b)


def device_name(device: Any) -> str:
    """A device readably: ``"cuda:0"`` for CuPy's ``<CUDA Device 0>``, ``"device1"``
    for array-api-strict's ``Device('device1')``, else ``str(device)``."""
    if type(device).__module__.startswith("cupy"):
        return f"cuda:{device.id}"
    inner = getattr(device, "_device", None)  # array-api-strict's Device
    return str(device if inner is None else inner)


def default_spec() -> str:
    """The backend used when none is named: ``$XPNET_BACKEND``, else ``"numpy"``."""
    return os.environ.get(ENV_VAR, "").strip() or "numpy"


def get_backend(spec: str | Backend | None = None) -> Backend:
    """Resolve a backend spec into a ready Backend.

    Parameters
    ----------
    spec : str, Backend or None
        ``"numpy"``/``"cpu"``, ``"cupy"``/``"gpu"``/``"cuda"`` (``":N"``: device N),
        ``"auto"`` (CuPy when a CUDA device is present, else NumPy), ``"torch"``,
        ``"torch:cuda"`` (``":cuda:N"``), ``"array_api_strict"`` (``":device1"`` for its
        emulated second device), ``"jax"``. ``None`` reads ``$XPNET_BACKEND``.

    Raises
    ------
    BackendError
        Unknown name, library not installed, or device absent; the message says how
        to fix it.
    """
    if isinstance(spec, Backend):
        return spec
    if spec is None:
        spec = default_spec()
    if not isinstance(spec, str):
        raise BackendError(f"backend must be a string such as 'numpy'; got {spec!r}")
    library, _, device = spec.strip().partition(":")
    library = _ALIASES.get(library.lower(), library.lower())
    if library == "auto":
        return _auto(device)
    if library not in _KNOWN:
        raise BackendError(
            f"unknown backend {spec!r}; choose one of numpy, cupy, torch, jax, "
            "array_api_strict, auto (aliases: cpu, gpu, cuda)"
        )
    return _BUILDERS[library](spec, device)


def is_known_spec(spec: str) -> bool:
    """Whether ``spec`` names a backend :func:`get_backend` knows (installed or not)."""
    library = spec.strip().partition(":")[0].lower()
    return _ALIASES.get(library, library) in (*_KNOWN, "auto")


def _import(library: str, spec: str) -> Any:
    try:
        return importlib.import_module(library)
    except ImportError as exc:
        raise BackendError(
            f"backend {spec!r} needs {library}, which is not installed ({exc}); "
            f"install it with: {_INSTALL_HINT[library]}"
        ) from None


def _no_device_option(spec: str, device: str) -> None:
    if device:
        raise BackendError(f"backend {spec!r}: this library takes no device suffix")


def _numpy(spec: str, device: str) -> Backend:
    _no_device_option(spec, device)
    return Backend(
        "numpy", array_api_compat.array_namespace(np.empty(0)), "cpu", "numpy"
    )


def _cupy(spec: str, device: str) -> Backend:
    cupy = _import("cupy", spec)
    count = _cuda_device_count(cupy)
    if count == 0:
        raise BackendError(
            f"backend {spec!r} needs a CUDA GPU, but CuPy finds no CUDA device here; "
            "run on a machine with an NVIDIA GPU and driver, or use the CPU: "
            "backend='numpy' (--backend cpu), or 'auto', which falls back to it"
        )
    index = _device_index(spec, device or "0")
    if index >= count:
        raise BackendError(
            f"backend {spec!r}: there is no CUDA device {index}; this machine has "
            f"{count} (0 to {count - 1})"
        )
    dev = cupy.cuda.Device(index)
    xp = array_api_compat.array_namespace(cupy.empty(0))
    return Backend(f"cupy:{index}", xp, dev, "cupy")


def _cuda_device_count(cupy: Any) -> int:
    try:
        return (
            int(cupy.cuda.runtime.getDeviceCount()) if cupy.cuda.is_available() else 0
        )
    except Exception:  # CUDA driver or runtime missing: the same as no device
        return 0


def _device_index(spec: str, text: str) -> int:
    if not text.isdigit():
        raise BackendError(f"backend {spec!r}: device must be a number such as 0")
    return int(text)


def _torch(spec: str, device: str) -> Backend:
    torch = _import("torch", spec)
    xp = array_api_compat.array_namespace(torch.empty(0))
    if not device or device == "cpu":
        return Backend("torch", xp, torch.device("cpu"), "torch")
    kind, _, index = device.partition(":")
    if kind != "cuda":
        raise BackendError(f"backend {spec!r}: torch devices are 'cpu' or 'cuda[:N]'")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise BackendError(
            f"backend {spec!r} needs a CUDA GPU, but torch finds none (torch "
            f"{torch.__version__}); use backend='torch' for the CPU"
        )
    n = _device_index(spec, index or "0")
    if n >= count:
        raise BackendError(f"backend {spec!r}: torch sees only {count} CUDA device(s)")
    return Backend(f"torch:cuda:{n}", xp, torch.device("cuda", n), "torch")


def _jax(spec: str, device: str) -> Backend:
    _no_device_option(spec, device)
    jax = _import("jax", spec)  # its float64 is the user's to turn on (_check_x64)
    return Backend("jax", jax.numpy, jax.devices()[0], "jax")


def _check_x64(library: str, dtype: str) -> str:
    if library == "jax" and dtype == "float64":  # the user's switch, not ours
        if not importlib.import_module("jax").config.jax_enable_x64:
            raise BackendError(
                "dtype 'float64' on backend 'jax' needs JAX's 64-bit mode: turn it on"
                ' with jax.config.update("jax_enable_x64", True) or JAX_ENABLE_X64=1'
            )
    return dtype


def _array_api_strict(spec: str, device: str) -> Backend:
    strict = _import("array_api_strict", spec)
    name = device or "CPU_DEVICE"
    devices = strict.__array_namespace_info__().devices()
    match = [d for d in devices if d == _strict_device(strict, name)]
    if not match:
        raise BackendError(
            f"backend {spec!r}: array_api_strict has no device {name!r}; "
            f"it has {[str(d) for d in devices]}"
        )
    suffix = "" if name == "CPU_DEVICE" else f":{name}"
    return Backend(f"array_api_strict{suffix}", strict, match[0], "array_api_strict")


def _strict_device(strict: Any, name: str) -> Any:
    try:
        return strict.Device(name)
    except ValueError:
        return None


def _auto(device: str) -> Backend:
    spec = f"auto:{device}" if device else "auto"
    if device:
        _device_index(spec, device)  # "auto:x" is an error on every machine
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        return _numpy("numpy", "")
    if _cuda_device_count(cupy) == 0:
        return _numpy("numpy", "")
    return _cupy(spec, device)  # a GPU is here: an absent device N is an error


_BUILDERS = {
    "numpy": _numpy,
    "cupy": _cupy,
    "torch": _torch,
    "jax": _jax,
    "array_api_strict": _array_api_strict,
}
