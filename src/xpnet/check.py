"""``xpnet check-backends``: proof that a machine's backends compute what NumPy does.

The same small network, from the same seed, takes the same plain SGD steps on every
backend asked for. Each backend's loss, gradients and final weights are compared with
a NumPy float64 run, and pass when every number is within the tolerance the test suite
uses: ``|a - b| <= tol * (1 + |b|)`` with ``tol = TOLERANCES[dtype]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .backend import Backend, BackendError, check_dtype, get_backend
from .mlp import MLP

TOLERANCES = {"float64": 1e-10, "float32": 1e-5}
"""Cross-backend agreement promised (and tested): rtol = atol, by dtype."""

DEFAULT_BACKENDS = ("numpy", "array_api_strict", "torch", "jax", "cupy", "torch:cuda")
LAYER_SIZES = (10, 32, 16, 3)
N_SAMPLES = 64
STEPS = 20
LEARNING_RATE = 0.1
LOSS = "log_loss"
_QUANTITIES = ("loss", "gradients", "weights")


@dataclass
class Trace:
    """Host copies of what one run computed, step by step."""

    loss: list[float] = field(default_factory=list)
    gradients: list[np.ndarray] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class CheckResult:
    """One backend's outcome.

    ``differences`` maps loss, gradients and weights to the largest
    ``|a - b| / (1 + |b|)`` against NumPy float64; empty when the backend could not
    run, and then ``error`` says why.
    """

    spec: str
    name: str = ""
    device: str = ""
    seconds: float = 0.0
    differences: dict[str, float] = field(default_factory=dict)
    available: bool = True
    error: str = ""

    def passed(self, tolerance: float) -> bool:
        """Ran, and every difference is within ``tolerance``."""
        return (
            self.available
            and not self.error
            and all(d <= tolerance for d in self.differences.values())
        )


def device_label(backend: Backend) -> str:
    """A short name for the backend's device, with the GPU's model where known."""
    device = backend.device
    try:
        if backend.library == "cupy":
            props = backend.xp_module().cuda.runtime.getDeviceProperties(device.id)
            return f"{backend.device_name} ({props['name'].decode()})"
        if backend.library == "torch" and device.type == "cuda":
            name = backend.xp_module().cuda.get_device_name(device)
            return f"{device} ({name})"
    except Exception:  # a name is a nicety; never fail the check over it
        pass
    return backend.device_name


def problem(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Host float64 inputs (N_SAMPLES, n_features) and one-hot targets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_SAMPLES, LAYER_SIZES[0]))
    labels = rng.integers(0, LAYER_SIZES[-1], size=N_SAMPLES)
    return X, np.eye(LAYER_SIZES[-1])[labels]


def train(backend: Backend, dtype: str, seed: int, steps: int = STEPS) -> Trace:
    """``steps`` SGD steps of the check's network on ``backend``, traced on the host."""
    X_host, y_host = problem(seed)
    net = MLP(
        LAYER_SIZES,
        hidden_activation="tanh",
        output_activation="softmax",
        dtype=dtype,
        backend=backend,
        seed=seed,
    )
    X, y = backend.asarray(X_host, dtype), backend.asarray(y_host, dtype)
    trace = Trace()
    backend.synchronize()
    start = time.perf_counter()
    with backend.context():
        for _ in range(steps):
            loss, weight_grads, bias_grads = net.loss_and_gradients(X, y, LOSS)
            trace.loss.append(loss)
            trace.gradients.append(_flat(backend, weight_grads + (bias_grads or [])))
            net.sgd_step(weight_grads, bias_grads, LEARNING_RATE)
    backend.synchronize()
    trace.seconds = time.perf_counter() - start
    trace.weights.append(_flat(backend, net.weights + (net.biases or [])))
    return trace


def _flat(backend: Backend, arrays: list) -> np.ndarray:
    return np.concatenate(
        [np.asarray(backend.to_numpy(a), dtype=np.float64).ravel() for a in arrays]
    )


def difference(actual: np.ndarray, expected: np.ndarray) -> float:
    """The largest ``|a - b| / (1 + |b|)``; ``<= tol`` is allclose(rtol=atol=tol)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    return float(np.max(np.abs(actual - expected) / (1.0 + np.abs(expected))))


def run_checks(
    specs: list[str] | tuple[str, ...] = DEFAULT_BACKENDS,
    dtype: str = "float64",
    seed: int = 0,
    steps: int = STEPS,
) -> list[CheckResult]:
    """Run the check on every backend in ``specs``; never raises for a backend.

    A backend that cannot start is reported unavailable with the reason; one that
    fails while running is reported with the error.
    """
    dtype = check_dtype(dtype)
    reference = train(get_backend("numpy"), "float64", seed, steps)
    results = []
    for spec in specs:
        try:
            backend = get_backend(spec)
        except BackendError as exc:
            results.append(CheckResult(spec, available=False, error=str(exc)))
            continue
        result = CheckResult(spec, backend.name, device_label(backend))
        try:
            train(backend, dtype, seed, 1)  # warm-up: kernel builds stay out of time
            trace = train(backend, dtype, seed, steps)
        except Exception as exc:  # report the failure, check the other backends
            result.error = f"{type(exc).__name__}: {exc}"
        else:
            result.seconds = trace.seconds
            result.differences = {
                name: difference(
                    np.asarray(getattr(trace, name)),
                    np.asarray(getattr(reference, name)),
                )
                for name in _QUANTITIES
            }
        results.append(result)
    return results


def format_report(
    results: list[CheckResult], dtype: str, seed: int = 0, steps: int = STEPS
) -> str:
    """The table ``xpnet check-backends`` prints."""
    tolerance = TOLERANCES[dtype]
    sizes = "-".join(str(n) for n in LAYER_SIZES)
    lines = [
        f"MLP {sizes} (tanh, softmax, {LOSS}), {N_SAMPLES} samples, {steps} SGD "
        f"steps (lr {LEARNING_RATE}), seed {seed}, {dtype}",
        "loss, gradients, weights: the largest |a - b| / (1 + |b|) against numpy "
        "float64,",
        "  over the loss and gradients at every step and the final weights",
        f"pass: all <= {tolerance:g}, the test suite's {dtype} tolerance",
        "time: the steps after one warm-up step, host copies included",
        "",
    ]
    header = ("backend", "device", "time", "loss", "gradients", "weights", "result")
    rows: list[tuple[str, ...]] = []
    for r in results:
        if not r.available:
            continue
        if r.error:
            rows.append((r.name, r.device, "-", "-", "-", "-", "FAIL"))
            continue
        rows.append(
            (r.name, r.device, f"{r.seconds:.3f}s")
            + tuple(f"{r.differences[q]:.1e}" for q in _QUANTITIES)
            + ("pass" if r.passed(tolerance) else "FAIL",)
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            "  ".join(
                cell.ljust(w) for cell, w in zip(row, widths, strict=True)
            ).rstrip()
        )
    errors = [r for r in results if r.available and r.error]
    if errors:
        lines += ["", "errors:"] + [f"  {r.name}: {r.error}" for r in errors]
    missing = [r for r in results if not r.available]
    if missing:
        lines += ["", "not available here:"] + [
            f"  {r.spec}: {r.error}" for r in missing
        ]
    return "\n".join(lines)
