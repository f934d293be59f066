"""Assertions for cross-backend tests: a backend against NumPy float64, gradients
against central differences.

Both raise ``AssertionError`` with one message that names the function, the backend,
where in the result the worst number sits and both values, e.g. for a softplus
written as ``xp.log(1 + xp.exp(z))``, which overflows in float32::

    assert_close_to_numpy: softplus on backend 'torch' (float32) differs from NumPy
    float64 at result, index (7, 0): backend inf, NumPy 90.0; |difference| /
    (1 + |NumPy|) = inf > 1e-05
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from ..backend import Backend, check_dtype, get_backend
from ..check import TOLERANCES
from ..data.checks import check_positive

_PREFIX = "assert_close_to_numpy"
_GRADIENT_PREFIX = "assert_gradients_match_finite_differences"


def assert_close_to_numpy(
    fn: Callable[..., Any],
    *host_args: Any,
    dtype: str = "float64",
    backend: str | Backend | None = None,
    tolerance: float | None = None,
) -> None:
    """Assert that ``fn(xp, *args)`` on ``backend`` gives what it gives on NumPy.

    ``fn`` runs twice: on NumPy with the arguments in float64 (the reference), and
    on ``backend`` with them moved there in ``dtype``. NumPy arrays among
    ``host_args`` are moved (floating ones cast to ``dtype``, others keep their
    dtype); so are arrays of any other library or device (copied to the host
    first, see :func:`host_copy`); anything else (numbers, shapes, strings) is
    passed as is.

    Parameters
    ----------
    fn : callable ``fn(xp, *args)``
        Returns an array, a number, or a list, tuple or dict of them (nested).
    *host_args
        Host arguments, e.g. NumPy arrays of any shape.
    dtype : ``"float32"`` or ``"float64"``
        The dtype the backend computes in.
    backend : str or Backend, optional
        Where to run; default ``$XPNET_BACKEND`` or ``numpy``.
    tolerance : float, optional
        Passes when ``|a - b| <= tolerance * (1 + |b|)`` for every number, ``b``
        from NumPy; default ``xpnet.check.TOLERANCES[dtype]`` (1e-10 for float64,
        1e-5 for float32).

    Raises
    ------
    AssertionError
        ``fn`` raised on the backend; returned something other than the backend's
        arrays (a NumPy array, say: a NumPy call where ``xp`` was meant); returned
        another structure, shape or dtype than asked; or a number differs by more
        than the tolerance. The message names the worst element, its index and
        both values.
    """
    _check_function(fn, "fn")
    dtype = check_dtype(dtype)
    backend = get_backend(backend)
    tol = (
        TOLERANCES[dtype]
        if tolerance is None
        else check_positive(tolerance, "tolerance")
    )
    name = getattr(fn, "__name__", "fn")
    label = f"{name} on backend {backend.name!r} ({dtype})"
    numpy = get_backend("numpy")
    expected = _run(fn, numpy, host_args, "float64", f"{name} on NumPy float64")
    actual = _run(fn, backend, host_args, dtype, label)
    worst = _Worst()
    for where, got, want in _leaves(actual, expected, backend, dtype, label, "result"):
        worst.update(_errors(got, want), where, got, want)
    if worst.score > tol:
        raise AssertionError(
            f"{_PREFIX}: {label} differs from NumPy float64 at {worst.at()}: backend "
            f"{worst.got!r}, NumPy {worst.want!r}; |difference| / (1 + |NumPy|) = "
            f"{worst.score:.2g} > {tol:g}"
        )


def assert_gradients_match_finite_differences(
    loss_fn: Callable[..., Any],
    params: Sequence[Any],
    *,
    backend: str | Backend | None = None,
    step: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
) -> None:
    """Assert that hand-written gradients match central differences, in float64.

    Parameters
    ----------
    loss_fn : callable ``loss_fn(xp, *params) -> (loss, gradients)``
        ``loss`` a number or 0-d array; ``gradients`` one array per parameter, of
        its shape, holding d loss / d parameter.
    params : sequence of arrays
        The point to check at (host arrays, or arrays of any library and device);
        moved to ``backend`` in float64.
    backend : str or Backend, optional
        Where ``loss_fn`` runs; default ``$XPNET_BACKEND`` or ``numpy``.
    step : float
        The central-difference step ``h`` (> 0): ``(L(p + h) - L(p - h)) / 2h``.
    rtol, atol : float
        Passes when ``|gradient - difference| <= atol + rtol * |difference|``.

    Raises
    ------
    AssertionError
        Naming the worst parameter (``params[i]``), its index and both values.
    """
    _check_function(loss_fn, "loss_fn")
    if not isinstance(params, (list, tuple)):
        raise TypeError(
            "params must be a list of arrays, one per parameter; got "
            f"{_describe(params)}"
        )
    step = check_positive(step, "step")
    rtol = check_positive(rtol, "rtol", allow_zero=True)
    atol = check_positive(atol, "atol", allow_zero=True)
    backend = get_backend(backend)
    name = getattr(loss_fn, "__name__", "loss_fn")
    label = f"{name} on backend {backend.name!r} (float64)"
    host = [np.array(host_copy(p), dtype=np.float64) for p in params]
    device = [backend.asarray(p, "float64") for p in host]
    _, grads = _run_loss(loss_fn, backend, device, label)
    if not isinstance(grads, (list, tuple)) or len(grads) != len(host):
        raise AssertionError(
            f"{_GRADIENT_PREFIX}: {label} must return (loss, gradients) with one "
            f"gradient per parameter ({len(host)}); got {_describe(grads)}"
        )
    worst = _Worst()
    for i, (param, grad) in enumerate(zip(host, grads, strict=True)):
        where = f"params[{i}]"
        got = _host_leaf(
            grad, backend, "float64", f"{_GRADIENT_PREFIX}: {label}", where
        )
        if got.shape != param.shape:
            raise AssertionError(
                f"{_GRADIENT_PREFIX}: {label}: the gradient of {where} has shape "
                f"{got.shape}, the parameter {param.shape}"
            )
        numeric = _central_differences(loss_fn, backend, host, device, i, step, label)
        excess = np.abs(got - numeric) / (atol + rtol * np.abs(numeric))
        worst.update(np.where(np.isnan(excess), np.inf, excess), where, got, numeric)
    if worst.score > 1.0:
        analytic, numeric_value = worst.got, worst.want
        raise AssertionError(
            f"{_GRADIENT_PREFIX}: {label}: the worst gradient is {worst.at()}: "
            f"gradient {analytic!r}, central differences {numeric_value!r}; "
            f"|difference| = {abs(analytic - numeric_value):.3g} > atol + rtol * "
            f"|central differences| = {atol + rtol * abs(numeric_value):.3g}"
        )


@dataclass
class _Worst:
    """The largest score seen so far, where it was, and the two values there."""

    score: float = -1.0
    where: str = ""
    index: tuple[int, ...] = ()
    got: float = 0.0
    want: float = 0.0

    def update(
        self, score: np.ndarray, where: str, got: np.ndarray, want: np.ndarray
    ) -> None:
        if score.size and score.max() > self.score:
            flat = int(np.argmax(score))
            index = tuple(int(k) for k in np.unravel_index(flat, score.shape))
            self.score, self.where, self.index = float(score.max()), where, index
            self.got, self.want = got[index].item(), want[index].item()

    def at(self) -> str:
        return f"{self.where}, index {self.index}" if self.index else self.where


def _run(
    fn: Callable[..., Any], backend: Backend, host_args: Any, dtype: str, label: str
) -> Any:
    args = [_moved(arg, backend, dtype) for arg in host_args]
    try:
        return fn(backend.xp, *args)
    except Exception as exc:
        raise AssertionError(
            f"{_PREFIX}: {label} raised {type(exc).__name__}: {exc}"
        ) from exc


def _check_function(fn: Any, argname: str) -> None:
    if not callable(fn):
        raise TypeError(f"{argname} must be a function of (xp, ...); got {fn!r}")


def host_copy(array: Any) -> np.ndarray:
    """A NumPy copy of an array of any library and device (host data as it is).

    Never ``np.array`` on a device array, which CuPy refuses: CuPy's ``get``,
    torch's ``cpu``, else DLPack to the CPU (JAX, array-api-strict's devices).
    """
    if isinstance(array, (np.ndarray, np.generic, list, tuple, bool, int, float)):
        return np.asarray(array)
    library = type(array).__module__.partition(".")[0]
    if library == "cupy":
        return array.get()
    if library == "torch":
        return array.detach().cpu().numpy()
    try:
        return np.from_dlpack(array, device="cpu", copy=True)
    except (AttributeError, TypeError, BufferError, ValueError, RuntimeError):
        return np.asarray(array)


def _moved(arg: Any, backend: Backend, dtype: str) -> Any:
    if array_api_compat.is_array_api_obj(arg) and not isinstance(arg, np.ndarray):
        arg = host_copy(arg)  # another library's or device's array
    if not isinstance(arg, np.ndarray):
        return arg
    floating = np.issubdtype(arg.dtype, np.floating)
    return backend.asarray(arg, dtype if floating else None)


def _run_loss(
    loss_fn: Callable[..., Any], backend: Backend, device: list[Any], label: str
) -> tuple[float, Any]:
    try:
        result = loss_fn(backend.xp, *device)
    except Exception as exc:
        raise AssertionError(
            f"{_GRADIENT_PREFIX}: {label} raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        raise AssertionError(
            f"{_GRADIENT_PREFIX}: {label} must return (loss, gradients); got "
            f"{_describe(result)}"
        )
    loss = _host_leaf(
        result[0], backend, "float64", f"{_GRADIENT_PREFIX}: {label}", "loss"
    )
    if loss.shape != ():
        raise AssertionError(
            f"{_GRADIENT_PREFIX}: {label}: the loss must be a number; got shape "
            f"{loss.shape}"
        )
    return float(loss), result[1]


def _central_differences(
    loss_fn: Callable[..., Any],
    backend: Backend,
    host: list[np.ndarray],
    device: list[Any],
    i: int,
    step: float,
    label: str,
) -> np.ndarray:
    """(L(p + h e) - L(p - h e)) / 2h for every entry e of parameter ``i``."""
    numeric = np.zeros_like(host[i])
    for index in np.ndindex(host[i].shape):
        values = []
        for sign in (1.0, -1.0):
            moved = host[i].copy()
            moved[index] += sign * step
            shifted = [*device[:i], backend.asarray(moved, "float64"), *device[i + 1 :]]
            values.append(_run_loss(loss_fn, backend, shifted, label)[0])
        numeric[index] = (values[0] - values[1]) / (2 * step)
    return numeric


def _leaves(
    actual: Any, expected: Any, backend: Backend, dtype: str, label: str, where: str
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(where, backend's host copy, NumPy's) for each number or array of the two
    results, walked together; AssertionError where their structures differ."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping) or set(actual) != set(expected):
            raise AssertionError(
                f"{_PREFIX}: {label} returned {_describe(actual)} at {where}; NumPy "
                f"returned a dict with keys {sorted(map(str, expected))}"
            )
        for key in expected:
            yield from _leaves(
                actual[key], expected[key], backend, dtype, label, f"{where}[{key!r}]"
            )
        return
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            raise AssertionError(
                f"{_PREFIX}: {label} returned {_describe(actual)} at {where}; NumPy "
                f"returned a {type(expected).__name__} of length {len(expected)}"
            )
        for k, (a, e) in enumerate(zip(actual, expected, strict=True)):
            yield from _leaves(a, e, backend, dtype, label, f"{where}[{k}]")
        return
    got = _host_leaf(actual, backend, dtype, f"{_PREFIX}: {label}", where)
    want = np.asarray(expected)
    if got.shape != want.shape:
        raise AssertionError(
            f"{_PREFIX}: {label} returned shape {got.shape} at {where}; NumPy "
            f"{want.shape}"
        )
    yield where, got, want


def _host_leaf(
    leaf: Any, backend: Backend, dtype: str, label: str, where: str
) -> np.ndarray:
    """A host copy of one returned number or array, after checking it is the
    backend's own (a NumPy array from a non-NumPy backend is a NumPy call)."""
    if isinstance(leaf, (np.ndarray, np.generic)) and backend.library != "numpy":
        raise AssertionError(
            f"{label} returned a NumPy {type(leaf).__name__} at {where}, not an "
            f"array of backend {backend.name!r}: does it call NumPy where it "
            "should call xp?"
        )
    if isinstance(leaf, (bool, int, float, np.generic)):
        return np.asarray(leaf)
    if not backend.owns(leaf):
        raise AssertionError(
            f"{label} returned {_describe(leaf)} at {where}, not an array of backend "
            f"{backend.name!r} on device {backend.device}"
        )
    floating = backend.xp.isdtype(leaf.dtype, "real floating")
    if floating and leaf.dtype != backend.dtype(dtype):
        raise AssertionError(
            f"{label} returned dtype {str(leaf.dtype).rsplit('.')[-1]} at {where}; "
            f"it computes in {dtype}"
        )
    return np.asarray(backend.to_numpy(leaf))


def _errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """``|a - b| / (1 + |b|)`` elementwise; 0 for equal infinities and for NaN
    against NaN, inf for NaN against a number."""
    a, b = got.astype(np.float64), want.astype(np.float64)
    with np.errstate(invalid="ignore"):
        error = np.abs(a - b) / (1.0 + np.abs(b))
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return np.where(same, 0.0, np.where(np.isnan(error), np.inf, error))


def _describe(value: Any) -> str:
    kind = type(value)
    shape = getattr(value, "shape", None)
    text = f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")
    return text if shape is None else f"{text} of shape {tuple(shape)}"
