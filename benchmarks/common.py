"""Timing and machine description shared by the CPU and GPU benchmarks.

Contenders run interleaved in one process (A B C, C B A, A B C, ...) so that a noisy,
shared machine slows them alike; results are medians over rounds.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np


def interleave(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    *,
    warmup: int = 1,
    sync: Callable[[], object] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each contender, ``rounds`` calls each, order alternating.

    Every contender first runs ``warmup`` untimed calls. ``sync`` (a device
    synchronize) is called before the clock starts and before it stops.
    """
    sync = sync or (lambda: None)
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            sync()
            start = time.perf_counter()
            contenders[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def onehot(labels: np.ndarray, n_classes: int, dtype: str) -> np.ndarray:
    """(n_samples, n_classes) indicator matrix of integer labels."""
    return np.eye(n_classes, dtype=dtype)[labels]


def synthetic_classification(
    n_samples: int, n_features: int, n_classes: int, dtype: str, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal inputs and labels from a random linear teacher (learnable)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32).astype(dtype)
    teacher = rng.standard_normal((n_features, n_classes)).astype(np.float32)
    return X, np.argmax(X @ teacher, axis=1)


def batch_sizes(n_samples: int, batch_size: int) -> list[int]:
    """The sizes of an epoch's batches, the last one possibly short."""
    full, rest = divmod(n_samples, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def step_gemm_flops(sizes: list[int], batch: int) -> int:
    """FLOPs of one training step's matmuls: a@W and a.T@delta per layer, plus
    delta@W.T for every layer but the first."""
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    return sum(
        2 * batch * fan_in * fan_out * (3 if layer else 2)
        for layer, (fan_in, fan_out) in enumerate(pairs)
    )


def epoch_gemm_flops(n_samples: int, sizes: list[int], batch_size: int) -> int:
    return sum(step_gemm_flops(sizes, m) for m in batch_sizes(n_samples, batch_size))


def gemm_replay(
    xp, asarray: Callable, sizes: list[int], batches: list[int], dtype: str
) -> Callable[[], None]:
    """A callable doing exactly the matmuls of training steps of the given batch
    sizes (same shapes, same transposes), and nothing else: the GEMM-only floor."""
    rng = np.random.default_rng(1)
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    operands = {}
    for m in set(batches):
        operands[m] = [
            tuple(
                asarray(rng.standard_normal(shape).astype(dtype))
                for shape in ((m, fan_in), (fan_in, fan_out), (m, fan_out))
            )
            for fan_in, fan_out in pairs
        ]

    def replay() -> None:
        for m in batches:
            for layer, (a, W, delta) in enumerate(operands[m]):
                a @ W
                a.T @ delta
                if layer:
                    delta @ W.T

    return replay


def square_gemm_gflops(xp, asarray, n: int, dtype: str, sync, repeats: int = 3):
    """The best GFLOP/s of an n x n x n matmul: the machine's large-GEMM rate."""
    rng = np.random.default_rng(2)
    a = asarray(rng.standard_normal((n, n)).astype(dtype))
    b = asarray(rng.standard_normal((n, n)).astype(dtype))
    a @ b
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def cpu_info() -> dict:
    """Machine, libraries, BLAS (library, kernel, threads via threadpoolctl)."""
    info: dict = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "numpy": np.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                key: pool.get(key)
                for key in (
                    "user_api",
                    "internal_api",
                    "prefix",
                    "version",
                    "architecture",
                    "num_threads",
                )
            }
            for pool in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    for name in ("torch", "sklearn", "cupy"):
        try:
            module = __import__(name)
        except Exception:
            continue
        info[name] = module.__version__
        if name == "torch":
            info["torch_threads"] = module.get_num_threads()
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_blas(info: dict) -> list[str]:
    """Human lines naming the BLAS library, kernel and thread counts."""
    lines = []
    pools = info.get("threadpools")
    if isinstance(pools, list):
        for pool in pools:
            lines.append(
                f"{pool['user_api']}: {pool['internal_api']} {pool['version']} "
                f"({pool['prefix']}), kernel {pool['architecture']}, "
                f"{pool['num_threads']} threads"
            )
    else:
        lines.append(str(pools))
    if info.get("OPENBLAS_CORETYPE"):
        lines.append(
            f"OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']} is SET: it forces the "
            "OpenBLAS kernel and slows a current numpy; unset it for real figures"
        )
    else:
        lines.append("OPENBLAS_CORETYPE is not set")
    return lines
