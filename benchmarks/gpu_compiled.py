"""Compiled epochs against eager ones on a GPU: ``MLPClassifier(compile=True)`` (CUDA
graphs on CuPy, ``torch.compile(mode="reduce-overhead")`` on torch CUDA, one XLA
program on JAX) against ``compile=False`` on the same backend, and on torch against a
plain torch eager loop (``nn.Sequential`` + autograd + ``optim.Adam``).

One fit of ``--epochs`` epochs per contender and round, rounds interleaved; an epoch's
time is the median of a fit's epochs after its first (timed from ``callbacks``, so it
holds the loop's real per-epoch costs); tables show medians over rounds. A first,
untimed fit of each contender compiles; its first epoch less the median epoch is
reported as the compile (and set-up) time. Float32, Adam, 784-256-128-10, batch 250,
60,000 rows (240 full batches: no second program for a short batch).

    PYTHONPATH=src python benchmarks/gpu_compiled.py [--rounds 3] [--epochs 4]
    PYTHONPATH=src python benchmarks/gpu_compiled.py --backends numpy torch --tiny
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # share the GPU

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from contenders import timed_fit  # noqa: E402

import xpnet  # noqa: E402


def xpnet_fit(X, labels, hidden, batch_size, epochs, spec, compile):
    """Epoch times (s) of one fit: (the first, with set-up and compile; the rest;
    ``compiled_``)."""
    return timed_fit(
        X,
        labels,
        epochs,
        hidden_layer_sizes=hidden,
        batch_size=batch_size,
        backend=spec,
        compile=compile,
    )


def torch_loop(X, labels, hidden, batch_size, epochs, device):
    """A plain torch eager loop, timed like :func:`xpnet_fit`."""
    import torch

    sizes = [X.shape[1], *hidden, int(labels.max()) + 1]
    layers: list = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xd, yd = torch.from_numpy(X).to(device), torch.from_numpy(labels).to(device)
    stamps = [time.perf_counter()]
    for _ in range(epochs):
        order = torch.randperm(Xd.shape[0], device=device)
        total = torch.zeros((), device=device)
        for start in range(0, Xd.shape[0], batch_size):
            rows = order[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xd[rows]), yd[rows])
            loss.backward()
            opt.step()
            total += loss.detach()
        float(total)  # one read per epoch, as xpnet
        stamps.append(time.perf_counter())
    times = [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]
    return times[0], times[1:], "torch eager"


def contenders(spec, X, labels, hidden, batch_size, epochs):
    backend = xpnet.get_backend(spec)
    fits = {
        "compile=True": lambda: xpnet_fit(
            X, labels, hidden, batch_size, epochs, spec, True
        ),
        "compile=False": lambda: xpnet_fit(
            X, labels, hidden, batch_size, epochs, spec, False
        ),
    }
    if backend.library == "torch":
        device = str(backend.device)
        fits["plain torch loop"] = lambda: torch_loop(
            X, labels, hidden, batch_size, epochs, device
        )
    return fits


def bench(spec, X, labels, hidden, batch_size, args) -> list[str]:
    fits = contenders(spec, X, labels, hidden, batch_size, args.epochs)
    first = {who: fit() for who, fit in fits.items()}  # compiles
    times: dict[str, list[float]] = {who: [] for who in fits}
    names = list(fits)
    for r in range(args.rounds):
        for who in names if r % 2 == 0 else names[::-1]:
            times[who].append(statistics.median(fits[who]()[1]))
    eager = statistics.median(times["compile=False"])
    rows = []
    for who in names:
        epoch = statistics.median(times[who])
        setup = first[who][0] - statistics.median(first[who][1])
        rows.append(
            f"| {spec} | {who} ({first[who][2]}) | {epoch * 1e3:.1f} ms | "
            f"{eager / epoch:.2f}x | {setup:.1f} s |"
        )
    print("\n".join(rows), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["cupy", "torch:cuda", "jax"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--tiny", action="store_true", help="seconds of work")
    args = parser.parse_args(argv)
    n_samples, hidden, batch_size = (
        (2000, (32, 16), 100) if args.tiny else (60_000, (256, 128), 250)
    )
    X, labels = common.synthetic_classification(n_samples, 784, 10, "float32")
    print(
        f"{n_samples} rows, 784-{'-'.join(map(str, hidden))}-10, batch {batch_size}, "
        f"Adam, float32, {args.rounds} rounds x {args.epochs} epochs, medians"
    )
    print("| backend | contender | epoch | eager / this | compile + set-up |")
    print("| --- | --- | --- | --- | --- |", flush=True)
    failed = 0
    for spec in args.backends:  # one backend's failure does not hide the others'
        try:
            bench(spec, X, labels, hidden, batch_size, args)
        except xpnet.BackendError as exc:
            print(f"| {spec} | skipped: {exc} | | | |", flush=True)
        except Exception:
            traceback.print_exc()
            print(f"| {spec} | FAILED (traceback above) | | | |", flush=True)
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
