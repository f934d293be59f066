"""xpnet's CPU benchmark: one process, contenders interleaved, medians and ratios.

    PYTHONPATH=src python benchmarks/run.py            # full (about 3 minutes)
    PYTHONPATH=src python benchmarks/run.py --quick    # about 1 minute
    PYTHONPATH=src python benchmarks/run.py --tiny     # seconds: the smoke test's

Prints tables, writes ``results.json`` and PNG plots into ``--out``. See README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import contenders as cont  # noqa: E402
import seednet  # noqa: E402


@dataclass(frozen=True)
class Mode:
    n_samples: int
    n_features: int
    hidden: tuple[int, ...]
    batch_size: int
    rounds: int
    tiny_steps: int
    tiny_rounds: int
    scale_batches: tuple[int, ...]
    scale_widths: tuple[int, ...]
    scale_rounds: int
    scale_samples: int
    width_flops: float
    infer_batches: tuple[int, ...]
    infer_samples: int
    square_gemm: int


MODES = {
    "full": Mode(
        60000, 784, (256, 128), 256, 9, 2000, 7,
        (1, 4, 16, 64, 256, 1024, 4096), (64, 256, 1024, 4096), 3, 16384, 3e10,
        (1, 64, 4096), 8192, 2048,
    ),
    "quick": Mode(
        6144, 784, (256, 128), 256, 3, 500, 5,
        (1, 16, 256, 2048), (64, 512, 2048), 2, 1024, 3e9,
        (1, 64, 4096), 1024, 1024,
    ),
    "tiny": Mode(
        600, 32, (16, 8), 64, 1, 20, 1,
        (1, 8), (8, 16), 1, 16, 1.0,
        (1, 16), 32, 64,
    ),
}  # fmt: skip
N_CLASSES = 10


def ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a[r] / b[r] (paired: the runs were interleaved)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def table(headers: list[str], rows: list[list]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def training_contenders(X, labels, cfg, variants: bool = False) -> dict:
    """name -> trainer; the main xpnet contender is the estimator when it exists."""
    found = {}
    if cont.has_xpnet_estimator():
        found["xpnet MLPClassifier"] = cont.XpnetEstimator(X, labels, cfg)
    found["xpnet network loop"] = cont.XpnetNetwork(X, labels, cfg)
    found["hand-written NumPy"] = cont.NumpyLoop(X, labels, cfg)
    if variants:
        found["hand-written NumPy, epoch gathered"] = cont.NumpyLoop(
            X, labels, cfg, gather_once=True
        )
    if cont.has_module("sklearn"):
        found["scikit-learn"] = cont.SklearnEstimator(X, labels, cfg)
    if cont.has_module("torch"):
        found["PyTorch CPU"] = cont.TorchLoop(X, labels, cfg)
    return found


def main_xpnet(names) -> str:
    return next(n for n in names if n.startswith("xpnet"))


def bench_training(mode: Mode, results: dict) -> list[str]:
    """a. epoch time and samples/s; b. GEMM fraction against a replay of its GEMMs."""
    out = []
    cfg = cont.Config(hidden=mode.hidden, batch_size=mode.batch_size)
    for dtype in ("float32", "float64"):
        X, labels = common.synthetic_classification(
            mode.n_samples, mode.n_features, N_CLASSES, dtype
        )
        sizes = cont.layer_sizes(X, labels, cfg)
        batches = common.batch_sizes(mode.n_samples, mode.batch_size)
        flops = common.epoch_gemm_flops(mode.n_samples, sizes, mode.batch_size)
        trainers = training_contenders(X, labels, cfg, variants=True)
        calls = {name: t.epoch for name, t in trainers.items()}
        calls["GEMMs alone (replay)"] = common.gemm_replay(
            np, np.asarray, sizes, batches, dtype
        )
        times = common.interleave(calls, mode.rounds)
        gemm = times["GEMMs alone (replay)"]
        xp_name = main_xpnet(times)
        numpy_t = times["hand-written NumPy"]
        rows, entry = [], {}
        for name, t in times.items():
            med = common.median(t)
            entry[name] = {
                "seconds": t,
                "median_s": med,
                "samples_per_s": mode.n_samples / med,
                "gemm_gflops": flops / med / 1e9,
                "gemm_fraction": ratio(gemm, t),
                "vs_numpy_loop": ratio(t, numpy_t),
                "xpnet_speedup": ratio(t, times[xp_name]),
            }
            e = entry[name]
            rows.append(
                [
                    name,
                    med,
                    e["samples_per_s"],
                    e["gemm_gflops"],
                    f"{100 * e['gemm_fraction']:.0f}%",
                    e["vs_numpy_loop"],
                    e["xpnet_speedup"],
                ]
            )
        results["training"][dtype] = {
            "sizes": sizes,
            "epoch_gemm_gflop": flops / 1e9,
            "contenders": entry,
        }
        out.append(
            f"\n### a/b. Training, {dtype}: {mode.n_samples} x {mode.n_features}, "
            f"{'-'.join(map(str, sizes))}, batch {mode.batch_size}, one epoch, "
            f"median of {mode.rounds} interleaved rounds\n"
        )
        out.append(
            table(
                [
                    "contender",
                    "s/epoch",
                    "samples/s",
                    "GEMM GFLOP/s",
                    "GEMM share",
                    "time / NumPy loop",
                    f"time / {xp_name}",
                ],
                rows,
            )
        )
        print(out[-2] + out[-1], flush=True)
    return out


def bench_tiny(mode: Mode, results: dict) -> list[str]:
    """c. µs per forward + backward + update on the seed's 4-3-2-1 network."""
    k = mode.tiny_steps
    runs = {
        "xpnet network step": seednet.xpnet_network(),
        "xpnet MLP API step": seednet.xpnet_mlp(),
        "raw NumPy (seed)": seednet.raw_numpy(),
    }
    if cont.has_module("torch"):
        runs["PyTorch autograd"] = seednet.torch_autograd()
    calls = {name: (lambda run=run: run(k)) for name, run in runs.items()}
    times = common.interleave(calls, mode.tiny_rounds)
    raw = times["raw NumPy (seed)"]
    rows, entry = [], {}
    for name, t in times.items():
        us = common.median(t) / k * 1e6
        entry[name] = {"us_per_step": us, "vs_raw_numpy": ratio(t, raw)}
        rows.append([name, us, ratio(t, raw)])
    results["tiny_step"] = {"steps_per_round": k, "contenders": entry}
    text = [
        f"\n### c. Per-step overhead: seed 4-3-2-1 net, one sample, float64, "
        f"{k} steps x {mode.tiny_rounds} rounds\n",
        table(["contender", "µs/step", "time / raw NumPy"], rows),
    ]
    print("".join(text), flush=True)
    return text


def bench_scaling(mode: Mode, results: dict, out_dir: Path) -> list[str]:
    """d. Cost against batch size and against width, plotted."""
    text = []
    n = max(mode.scale_batches) * 2
    X, labels = common.synthetic_classification(
        n, mode.n_features, N_CLASSES, "float32"
    )
    by_batch: dict[str, dict[int, float]] = {}
    for b in mode.scale_batches:
        cfg = cont.Config(hidden=mode.hidden, batch_size=b)
        steps = max(2, min(2048, mode.scale_samples // b))
        calls = {
            name: (lambda t=t, k=steps: t.steps(k))
            for name, t in _step_trainers(X, labels, cfg).items()
        }
        for name, t in common.interleave(calls, mode.scale_rounds).items():
            by_batch.setdefault(name, {})[b] = b * steps / common.median(t)
    names = list(by_batch)
    text.append(
        f"\n### d. Scaling with batch size (float32, "
        f"{'-'.join(map(str, [mode.n_features, *mode.hidden, N_CLASSES]))}): "
        "samples/s\n"
    )
    text.append(
        table(
            ["batch", *names],
            [[b, *(by_batch[nm][b] for nm in names)] for b in mode.scale_batches],
        )
    )
    by_width: dict[str, dict[int, float]] = {}
    b = mode.batch_size
    for w in mode.scale_widths:
        cfg = cont.Config(hidden=(w, w), batch_size=b)
        sizes = [mode.n_features, w, w, N_CLASSES]
        step_flops = common.step_gemm_flops(sizes, b)
        steps = max(2, math.ceil(mode.width_flops / step_flops))
        calls = {
            name: (lambda t=t, k=steps: t.steps(k))
            for name, t in _step_trainers(X, labels, cfg).items()
        }
        replay = common.gemm_replay(np, np.asarray, sizes, [b] * steps, "float32")
        calls["GEMMs alone (replay)"] = replay
        for name, t in common.interleave(calls, mode.scale_rounds).items():
            gflops = step_flops * steps / common.median(t) / 1e9
            by_width.setdefault(name, {})[w] = gflops
    wnames = list(by_width)
    text.append(
        f"\n\n### d. Scaling with width ({mode.n_features}-w-w-{N_CLASSES}, "
        f"float32, batch {b}): GEMM GFLOP/s achieved\n"
    )
    text.append(
        table(
            ["width", *wnames],
            [[w, *(by_width[nm][w] for nm in wnames)] for w in mode.scale_widths],
        )
    )
    results["scaling"] = {
        "batch_samples_per_s": by_batch,
        "width_gemm_gflops": by_width,
    }
    _plot(
        out_dir / "scaling_batch.png",
        by_batch,
        "batch size",
        "samples / s",
        "Training throughput vs batch size (float32)",
    )
    _plot(
        out_dir / "scaling_width.png",
        by_width,
        "hidden width",
        "GEMM GFLOP/s",
        f"Training GEMM rate vs width (float32, batch {b})",
    )
    print("".join(text), flush=True)
    return text


def _step_trainers(X, labels, cfg) -> dict:
    found = {
        "xpnet network loop": cont.XpnetNetwork(X, labels, cfg),
        "hand-written NumPy": cont.NumpyLoop(X, labels, cfg),
    }
    if cont.has_module("torch"):
        found["PyTorch CPU"] = cont.TorchLoop(X, labels, cfg)
    return found


def bench_inference(mode: Mode, results: dict) -> list[str]:
    """e. predict throughput at a few batch sizes."""
    big = max(mode.infer_batches)
    X, labels = common.synthetic_classification(
        max(big, 256), mode.n_features, N_CLASSES, "float32"
    )
    cfg = cont.Config(hidden=mode.hidden, batch_size=mode.batch_size)
    calls_named = {
        "xpnet MLPClassifier": "xpnet MLPClassifier.predict_proba",
        "xpnet network loop": "xpnet MLP.forward",
        "hand-written NumPy": "hand-written NumPy forward",
        "scikit-learn": "scikit-learn predict_proba",
        "PyTorch CPU": "PyTorch CPU (no_grad)",
    }
    models = {
        calls_named[name]: model
        for name, model in training_contenders(X, labels, cfg).items()
    }
    for model in models.values():
        if isinstance(model, cont.EstimatorEpoch):
            model.epoch()  # fitted for one epoch, then timed predicting
    by_batch: dict[str, dict[int, float]] = {}
    for b in mode.infer_batches:
        calls_per = max(3, min(2000, mode.infer_samples // b))
        inputs = {name: X[:b] for name in models}
        torch_name = calls_named["PyTorch CPU"]
        if torch_name in models:
            inputs[torch_name] = models[torch_name].torch.from_numpy(X[:b])
        calls = {
            name: (
                lambda m=m, x=inputs[name], k=calls_per: [
                    m.predict(x) for _ in range(k)
                ]
            )
            for name, m in models.items()
        }
        for name, t in common.interleave(calls, mode.rounds).items():
            by_batch.setdefault(name, {})[b] = b * calls_per / common.median(t)
    names = list(by_batch)
    results["inference_samples_per_s"] = by_batch
    text = [
        "\n### e. Inference (predict / forward, float32): samples/s\n",
        table(
            ["batch", *names],
            [[b, *(by_batch[nm][b] for nm in names)] for b in mode.infer_batches],
        ),
    ]
    print("".join(text), flush=True)
    return text


def bench_memory(mode: Mode, results: dict) -> list[str]:
    """f. Peak traced memory of one epoch (setup included) against the minimum."""
    dtype = "float32"
    X, labels = common.synthetic_classification(
        mode.n_samples, mode.n_features, N_CLASSES, dtype
    )
    cfg = cont.Config(hidden=mode.hidden, batch_size=mode.batch_size)
    sizes = cont.layer_sizes(X, labels, cfg)
    item = X.dtype.itemsize
    data = X.nbytes + mode.n_samples * N_CLASSES * item
    params = sum((i + 1) * o for i, o in zip(sizes[:-1], sizes[1:], strict=True))
    activations = mode.batch_size * sum(sizes[1:]) * item
    minimum = data + params * item + activations
    builders = {}
    if cont.has_xpnet_estimator():
        builders["xpnet MLPClassifier"] = cont.XpnetEstimator
    builders["xpnet network loop"] = cont.XpnetNetwork
    builders["hand-written NumPy"] = cont.NumpyLoop
    if cont.has_module("sklearn"):
        builders["scikit-learn"] = cont.SklearnEstimator
    rows, entry = [], {}
    held = X.nbytes + labels.nbytes
    for name, build in builders.items():
        gc.collect()
        tracemalloc.start()
        build(X, labels, cfg).epoch()
        peak = held + tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        entry[name] = {"peak_bytes": peak, "vs_minimum": peak / minimum}
        rows.append([name, peak / 2**20, peak / minimum])
    results["memory"] = {
        "minimum_bytes": minimum,
        "data_bytes": data,
        "param_bytes": params * item,
        "activation_bytes": activations,
        "contenders": entry,
    }
    text = [
        f"\n### f. Peak memory of one training epoch, float32 (input data + "
        f"tracemalloc peak). Minimum = data {data / 2**20:.1f} MiB + params "
        f"{params * item / 2**20:.2f} MiB + one batch of activations "
        f"{activations / 2**20:.2f} MiB = {minimum / 2**20:.1f} MiB. "
        "torch allocates outside tracemalloc: not measured.\n",
        table(["contender", "peak MiB", "peak / minimum"], rows),
    ]
    print("".join(text), flush=True)
    return text


def targets(results: dict) -> list[str]:
    """The issue's targets, each with its median ratio."""
    lines = ["\n### Targets\n"]
    train = results.get("training", {})

    def check(label, value, ok):
        lines.append(f"- {label}: {value:.3f}x -> {'MET' if ok else 'NOT MET'}")

    for dtype, res in train.items():
        c = res["contenders"]
        xp_name = main_xpnet(c)
        if dtype == "float32":
            v = c[xp_name]["vs_numpy_loop"]
            check(f"{xp_name} / NumPy loop, float32 (<= 1.10)", v, v <= 1.10)
            if "PyTorch CPU" in c:
                v = 1 / c["PyTorch CPU"]["xpnet_speedup"]
                check(f"{xp_name} / PyTorch CPU, float32 (<= 1.00)", v, v <= 1.0)
        if "scikit-learn" in c:
            v = c["scikit-learn"]["xpnet_speedup"]
            check(f"scikit-learn / {xp_name}, {dtype} (>= 1.5)", v, v >= 1.5)
            floor = c["scikit-learn"]["vs_numpy_loop"]
            lines.append(
                f"- (scikit-learn / hand-written NumPy, {dtype}: {floor:.3f}x, the "
                "floor's own margin)"
            )
    tiny = results.get("tiny_step", {}).get("contenders", {})
    if tiny:
        v = tiny["xpnet network step"]["vs_raw_numpy"]
        check("xpnet network step / raw NumPy step, seed net (<= 2)", v, v <= 2)
        v = tiny["xpnet MLP API step"]["vs_raw_numpy"]
        lines.append(f"- (xpnet MLP API step / raw NumPy step: {v:.3f}x, no target)")
    print("\n".join(lines), flush=True)
    return lines


def _plot(path: Path, series: dict, xlabel: str, ylabel: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, points in series.items():
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


SECTIONS = ("training", "tiny", "scaling", "inference", "memory")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="about one minute")
    size.add_argument("--tiny", action="store_true", help="seconds (smoke test)")
    parser.add_argument("--out", default="benchmarks/results", help="output folder")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run these sections only"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="limit BLAS/OpenMP (threadpoolctl) and torch to this many threads",
    )
    args = parser.parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)  # stays in force for the whole run
        if cont.has_module("torch"):
            import torch

            torch.set_num_threads(args.threads)
    mode_name = "tiny" if args.tiny else "quick" if args.quick else "full"
    mode = MODES[mode_name]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = common.cpu_info()
    square = {
        dt: common.square_gemm_gflops(
            np, np.asarray, mode.square_gemm, dt, lambda: None
        )
        for dt in ("float32", "float64")
    }
    head = [
        f"# xpnet CPU benchmark ({mode_name}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",  # noqa: E501
        f"machine: {info['cpu']}, {info['cores']} cores; numpy {info['numpy']}, "
        f"torch {info.get('torch', '-')} ({info.get('torch_threads', '-')} threads), "
        f"scikit-learn {info.get('sklearn', '-')}",
        *common.describe_blas(info),
        f"square {mode.square_gemm}^3 matmul: float32 {square['float32']:.0f} "
        f"GFLOP/s, float64 {square['float64']:.0f} GFLOP/s",
    ]
    print("\n".join(head), flush=True)
    results: dict = {
        "mode": mode_name,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": info,
        "square_gemm_gflops": square,
        "threads_limit": args.threads,
        "training": {},
    }
    started = time.perf_counter()
    sections = args.only or SECTIONS
    text = ["\n".join(head)]
    runners = {
        "training": lambda: bench_training(mode, results),
        "tiny": lambda: bench_tiny(mode, results),
        "scaling": lambda: bench_scaling(mode, results, out_dir),
        "inference": lambda: bench_inference(mode, results),
        "memory": lambda: bench_memory(mode, results),
    }
    results["section_wall_s"] = {}
    for name in SECTIONS:
        if name in sections:
            start = time.perf_counter()
            text += runners[name]()
            results["section_wall_s"][name] = time.perf_counter() - start
    text += targets(results)
    results["wall_s"] = time.perf_counter() - started
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    (out_dir / "results.md").write_text("\n".join(text) + "\n")
    print(
        f"\nwrote {out_dir}/results.json, results.md and plots "
        f"({results['wall_s']:.0f} s)"
    )
    return results


if __name__ == "__main__":
    main()
