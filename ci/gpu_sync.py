"""ci/gpu-check's GPU parts that need no pytest: a warm-up, and no host waits per step.

``python ci/gpu_sync.py warm-up``: short fits on every CUDA backend (dense and sparse
X, float32 and float64, each solver), so that CuPy compiles its kernels (a cold cache
costs seconds per kernel) before the timed parts.

``python ci/gpu_sync.py torch``: one-epoch fits on torch CUDA whose steps after the
first run under ``torch.cuda.set_sync_debug_mode("error")``: any synchronizing call
(``.item()``, a pageable copy, ...) raises. The set-up, the first step and the
epoch's end (its one read) run in the default mode.

``python ci/gpu_sync.py cupy``: a sparse-X and a dense epoch on CuPy with a sync
counter. At the end of each step a spin kernel (~0.2 s) is queued on CuPy's current
stream; if it has already finished when the next step ends, the host waited for the
device during that step (steps 2..n of the epoch are counted). The count must be 0.

Each part prints one line per case and "skipped: ..." (exit 0) without the backend.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import xpnet
from xpnet.maths.optim import Optimizer

CASES: dict[str, dict[str, Any]] = {
    "adam": {},
    "sgd, Nesterov": {"solver": "sgd"},
    "sgd, momentum": {"solver": "sgd", "nesterovs_momentum": False},
    "sgd, plain": {"solver": "sgd", "momentum": 0.0},
    "adam, L2": {"alpha": 1e-3},
    "adam, sample weights": {"weights": True},
    "adam, early stopping": {"early_stopping": True, "validation_fraction": 0.1},
    "adam, sparse X": {"sparse": True},
}
SPIN_CYCLES = 400_000_000  # ~0.2 s at 2 GHz: far longer than a step's host work


def fit(spec: str, case: dict[str, Any], dtype: str = "float32", n: int = 640):
    """One epoch of 20 steps (batch 32) of a classifier on ``spec``."""
    case = dict(case)
    weights, sparse = case.pop("weights", False), case.pop("sparse", False)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 20))
    y = (X[:, 0] > 0).astype(int)
    if sparse:
        import scipy.sparse

        X = scipy.sparse.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0))
    kwargs = {"sample_weight": np.linspace(0.5, 1.5, n)} if weights else {}
    model = xpnet.MLPClassifier(
        (16,),
        batch_size=32,
        max_iter=1,
        random_state=0,
        backend=spec,
        dtype=dtype,
        **{"alpha": 0.0, **case},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        model.fit(X, y, **kwargs)
    return model.predict(X)


def backend_or_none(spec: str) -> xpnet.Backend | None:
    try:
        return xpnet.get_backend(spec)
    except xpnet.BackendError as exc:
        print(f"{spec}: skipped: {exc}")
        return None


@contextlib.contextmanager
def after_each_step(on_step: Callable[[], None]) -> Iterator[None]:
    """Call ``on_step()`` after every optimizer update (the end of every step)."""
    originals = {name: getattr(Optimizer, name) for name in ("step_flat", "apply_flat")}

    def hooked(name: str) -> Callable[..., Any]:
        def method(self: Optimizer, *args: Any) -> Any:
            result = originals[name](self, *args)
            on_step()
            return result

        return method

    for name in originals:
        setattr(Optimizer, name, hooked(name))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(Optimizer, name, method)


def count_steps(spec: str, case: dict[str, Any]) -> int:
    """The steps of one epoch of ``fit(spec, case)``."""
    steps = [0]

    def step() -> None:
        steps[0] += 1

    with after_each_step(step):
        fit(spec, case)
    return steps[0]


def warm_up() -> int:
    for spec in ("cupy", "torch:cuda"):
        if backend_or_none(spec) is None:
            continue
        started = time.perf_counter()
        for dtype in ("float32", "float64"):
            for case in ({}, {"solver": "sgd"}, {"sparse": True}, {"weights": True}):
                fit(spec, case, dtype)
            regressor = xpnet.MLPRegressor((8,), max_iter=2, backend=spec, dtype=dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
                regressor.fit(np.ones((64, 3)), np.arange(64.0)).predict(
                    np.ones((4, 3))
                )
        print(f"{spec}: warmed up in {time.perf_counter() - started:.1f} s")
    return 0


def torch_strict() -> int:
    if backend_or_none("torch:cuda") is None:
        return 0
    import torch

    failures = 0
    for name, case in CASES.items():
        failures += not strict_fit(torch, name, case)
    return failures


def strict_fit(torch: Any, name: str, case: dict[str, Any]) -> bool:
    """One epoch on torch CUDA with steps 2..n in sync-debug mode "error"."""
    n_steps, done = count_steps("torch:cuda", case), [0]

    def step() -> None:  # from the end of the first step to the end of the last
        done[0] += 1
        torch.cuda.set_sync_debug_mode("error" if done[0] < n_steps else "default")

    try:
        with after_each_step(step):
            fit("torch:cuda", case)
    except RuntimeError as exc:
        print(f"torch:cuda {name}: FAILED, step {done[0] + 1} synchronized: {exc}")
        return False
    finally:
        torch.cuda.set_sync_debug_mode("default")
    print(f"torch:cuda {name}: no synchronizing call in {n_steps - 1} steps")
    return True


@contextlib.contextmanager
def spin_probe(cupy: Any) -> Iterator[dict[str, int]]:
    """Counts steps during which the host waited for CuPy's current stream."""
    kernel = cupy.RawKernel(
        r"""extern "C" __global__ void spin(long long cycles) {
            long long start = clock64();
            while (clock64() - start < cycles) {}
        }""",
        "spin",
    )
    counts = {"steps": 0, "waited": 0}
    pending: list[Any] = []

    def on_step() -> None:
        if pending:
            counts["steps"] += 1
            counts["waited"] += bool(pending.pop().done)  # the spin already ran out
        kernel((1,), (1,), (np.int64(SPIN_CYCLES),))
        event = cupy.cuda.Event(disable_timing=True)
        event.record()
        pending.append(event)

    with after_each_step(on_step):
        yield counts


def cupy_counted() -> int:
    if backend_or_none("cupy") is None:
        return 0
    import cupy

    failures = 0
    cases = {
        "adam, sparse X": {"sparse": True},
        "sgd, sparse X": {"solver": "sgd", "sparse": True},
        "adam, dense X": {},
    }
    for name, case in cases.items():
        with spin_probe(cupy) as counts:
            fit("cupy", case)
        waited, steps = counts["waited"], counts["steps"]
        verdict = "ok" if waited == 0 and steps else "FAILED"
        failures += verdict != "ok"
        print(
            f"cupy {name}: {waited} of {steps} steps waited for the device: {verdict}"
        )
    return failures


PARTS = {"warm-up": warm_up, "torch": torch_strict, "cupy": cupy_counted}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in PARTS:
        raise SystemExit(f"usage: python ci/gpu_sync.py {{{','.join(PARTS)}}}")
    sys.exit(min(PARTS[sys.argv[1]](), 1))
