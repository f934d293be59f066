"""xpnet's GPU benchmark: the wide and the MNIST-sized network on cupy, against
torch.cuda eager and against the GEMMs alone, in one process, runs interleaved.

    PYTHONPATH=src python benchmarks/gpu.py                   # cupy vs torch:cuda
    PYTHONPATH=src python benchmarks/gpu.py --backend numpy --tiny   # CPU smoke run

Timing: ``Backend.synchronize()`` (a CUDA stream / device synchronize) before the
clock starts and before it stops, several steps per measurement, one warm-up call
per contender excluded. float32 throughout; neither library is allowed TF32 (the
defaults of cupy and of torch matmul), so the two do the same arithmetic.
Well under 5 minutes on an H200.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import contenders as cont  # noqa: E402

import xpnet  # noqa: E402
from xpnet.check import device_label  # noqa: E402

# name: (layer sizes, batch, samples on the device, steps per measurement)
WORKLOADS = {
    "wide": ([4096, 4096, 4096, 10], 8192, 16384, 10),
    "mnist": ([784, 256, 128, 10], 256, 60000, 235),
}
TINY = {
    "wide": ([64, 64, 64, 10], 128, 512, 3),
    "mnist": ([32, 16, 8, 10], 32, 256, 8),
}


def torch_device(backend: xpnet.Backend) -> str | None:
    """The torch device to compare with: CUDA for a GPU backend, else the CPU."""
    try:
        import torch
    except ImportError:
        return None
    if backend.library != "cupy" and "cuda" not in backend.name:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else None


def device_name(backend: xpnet.Backend) -> str:
    """The GPU with its model (``check.device_label``), or the CPU's model."""
    if backend.library == "cupy" or "cuda" in backend.name:
        return device_label(backend)
    return f"CPU ({common.cpu_info()['cpu']})"


def bench_workload(name, spec, backend, torch_dev, rounds) -> dict:
    sizes, batch, n_samples, steps = spec
    X, labels = common.synthetic_classification(
        n_samples, sizes[0], sizes[-1], "float32"
    )
    cfg = cont.Config(hidden=tuple(sizes[1:-1]), batch_size=batch, backend=backend)
    trainers = {"xpnet": cont.XpnetNetwork(X, labels, cfg)}
    if torch_dev is not None:
        trainers[f"torch eager ({torch_dev})"] = cont.TorchLoop(
            X, labels, cfg, device=torch_dev
        )
    calls = {key: (lambda t=t: t.steps(steps)) for key, t in trainers.items()}
    replay = common.gemm_replay(
        backend.xp, backend.asarray, sizes, [batch] * steps, "float32"
    )
    calls["GEMMs alone"] = replay
    sync = _sync(backend, torch_dev)
    times = common.interleave(calls, rounds, sync=sync)
    flops = common.step_gemm_flops(sizes, batch) * steps
    med = {key: common.median(t) for key, t in times.items()}
    out = {
        "sizes": sizes,
        "batch": batch,
        "steps_per_measurement": steps,
        "ms_per_step": {key: 1e3 * m / steps for key, m in med.items()},
        "gemm_tflops": {key: flops / m / 1e12 for key, m in med.items()},
        "xpnet_share_of_gemm_rate": med["GEMMs alone"] / med["xpnet"],
        "seconds": times,
    }
    torch_key = next((k for k in times if k.startswith("torch")), None)
    if torch_key:
        out["xpnet_vs_torch_step_time"] = med["xpnet"] / med[torch_key]
    if name == "mnist":  # a whole epoch as well: shuffle, gather, all batches
        epochs = {key: t.epoch for key, t in trainers.items()}
        etimes = common.interleave(epochs, rounds, sync=sync)
        out["s_per_epoch"] = {key: common.median(t) for key, t in etimes.items()}
    return out


def _sync(backend: xpnet.Backend, torch_dev: str | None):
    def sync() -> None:
        backend.synchronize()
        if torch_dev == "cuda":
            import torch

            torch.cuda.synchronize()

    return sync


def report(results: dict) -> str:
    lines = [
        f"# xpnet GPU benchmark: backend {results['backend']} on "
        f"{results['device']}, {results['date_utc']}",
        f"matmul {results['square_n']}^3 float32: "
        f"{results['square_gemm_tflops']:.2f} TFLOP/s",
    ]
    for name, res in results["workloads"].items():
        lines.append(
            f"\n## {name}: {'-'.join(map(str, res['sizes']))}, batch {res['batch']}, "
            f"float32, median of {results['rounds']} rounds of "
            f"{res['steps_per_measurement']} steps"
        )
        lines.append("| contender | ms/step | GEMM TFLOP/s |")
        lines.append("| --- | --- | --- |")
        for key, ms in res["ms_per_step"].items():
            lines.append(f"| {key} | {ms:.3f} | {res['gemm_tflops'][key]:.2f} |")
        share = res["xpnet_share_of_gemm_rate"]
        lines.append(f"- xpnet's GEMM rate / matmul alone, same shapes: {share:.0%}")
        if "xpnet_vs_torch_step_time" in res:
            ratio = res["xpnet_vs_torch_step_time"]
            lines.append(f"- xpnet step time / torch eager step time: {ratio:.2f}x")
        if "s_per_epoch" in res:
            epochs = ", ".join(f"{k} {v:.3f} s" for k, v in res["s_per_epoch"].items())
            lines.append(f"- one epoch (60000 samples in the full mode): {epochs}")
    wide = results["workloads"].get("wide", {})
    if wide:
        share = wide["xpnet_share_of_gemm_rate"]
        lines.append("\n## Targets (wide network, float32)")
        lines.append(
            f"- >= 70% of the matmul rate: {share:.0%} -> "
            f"{'MET' if share >= 0.7 else 'NOT MET'}"
        )
        if "xpnet_vs_torch_step_time" in wide:
            ratio = wide["xpnet_vs_torch_step_time"]
            lines.append(
                f"- step time <= 1.2x torch eager: {ratio:.2f}x -> "
                f"{'MET' if ratio <= 1.2 else 'NOT MET'}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cupy", help="xpnet backend spec")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (smoke)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results", help="output folder")
    args = parser.parse_args(argv)
    backend = xpnet.get_backend(args.backend)
    torch_dev = torch_device(backend)
    square_n = 256 if args.tiny else 8192
    started = time.perf_counter()
    square = common.square_gemm_gflops(
        backend.xp, backend.asarray, square_n, "float32", backend.synchronize
    )
    results = {
        "backend": backend.name,
        "device": device_name(backend),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rounds": args.rounds,
        "square_n": square_n,
        "square_gemm_tflops": square / 1e3,
        "workloads": {},
    }
    for name, spec in (TINY if args.tiny else WORKLOADS).items():
        results["workloads"][name] = bench_workload(
            name, spec, backend, torch_dev, args.rounds
        )
    results["wall_s"] = time.perf_counter() - started
    text = report(results)
    print(text + f"\n\n(wall {results['wall_s']:.0f} s)", flush=True)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "gpu" if backend.library != "numpy" else "gpu-numpy"
    (out_dir / f"{stem}.json").write_text(json.dumps(results, indent=1))
    (out_dir / f"{stem}.md").write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
