"""Data-parallel step time: 2 processes on torch.distributed against one process.

Every contender trains the same network on the same global batches (an
``MLPClassifier`` epoch of ``--steps`` steps of ``--batch`` rows, plain SGD):

- ``1 process, T threads``: one process, BLAS limited to T threads (1, and the
  process count, so that one process may use every core the group uses);
- ``N processes (gloo)``: ``fit(distributed=True)`` in N processes on 127.0.0.1,
  BLAS at 1 thread each, each computing its share of every batch; with
  ``--backend cupy`` or ``torch:cuda``, NCCL and one GPU per process (GPU ``rank``).

Each process times every epoch with an epoch callback; the first epoch (setup,
warm-up) is dropped and the step time is the median epoch time over steps. The
workers also time the gradient all_reduce alone (the communication in every step).
Configurations run one after another, in the order A B C C B A, and the table shows
medians over both passes. Launch: ``python benchmarks/torch_distributed.py [--tiny]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

import xpnet


def _options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 128])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=256, help="global batch rows")
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=6, help="timed epochs per run")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument(
        "--backend", default="numpy", help="numpy, torch, cupy or torch:cuda"
    )
    parser.add_argument("--tiny", action="store_true", help="seconds of work")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tiny:
        args.features, args.hidden, args.batch, args.steps, args.epochs = (
            20,
            [16],
            32,
            5,
            2,
        )
    return args


def _data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.batch * args.steps, args.features))
    teacher = rng.normal(size=(args.features, args.classes))
    return X, np.argmax(X @ teacher, axis=1)


def _estimator(args: argparse.Namespace) -> xpnet.MLPClassifier:
    return xpnet.MLPClassifier(
        hidden_layer_sizes=tuple(args.hidden),
        solver="sgd",
        momentum=0.0,
        learning_rate_init=0.01,
        batch_size=args.batch,
        max_iter=args.epochs + 1,
        tol=0.0,
        n_iter_no_change=np.inf,
        random_state=0,
        dtype=args.dtype,
        backend=args.backend,
    )


def worker(args: argparse.Namespace) -> dict:
    """One process: epoch times of a fit (and, distributed, all_reduce times)."""
    distributed = args.port is not None
    if distributed:
        import torch.distributed as dist

        args.backend = _rank_backend(args.backend, args.worker)
        dist.init_process_group(
            _transport(args.backend),
            init_method=f"tcp://127.0.0.1:{args.port}",
            rank=args.worker,
            world_size=args.procs,
            timeout=datetime.timedelta(seconds=120),
        )
    X, y = _data(args)
    marks: list[float] = []
    warnings.simplefilter("ignore")
    model = _estimator(args)
    marks.append(time.perf_counter())
    model.fit(
        X,
        y,
        distributed=distributed or None,
        callbacks=[lambda model, history: marks.append(time.perf_counter())],
    )
    epochs = np.diff(marks)[1:]  # the first epoch holds the setup
    found = {"step_s": [float(t) / args.steps for t in epochs]}
    if distributed:
        found["all_reduce_s"] = _all_reduce_times(model, args)
        dist.destroy_process_group()
    return found


def _transport(backend: str) -> str:
    """torch.distributed's backend for an xpnet backend: NCCL for CUDA, else gloo."""
    return (
        "nccl" if backend.startswith(("cupy", "gpu", "cuda", "torch:cuda")) else "gloo"
    )


def _rank_backend(backend: str, rank: int) -> str:
    """A CUDA backend takes GPU ``rank`` (one GPU per process)."""
    if _transport(backend) != "nccl" or backend[-1].isdigit():
        return backend
    return f"torch:cuda:{rank}" if backend.startswith("torch") else f"cupy:{rank}"


def _all_reduce_times(model: xpnet.MLPClassifier, args: argparse.Namespace) -> list:
    """Seconds of one gradient all_reduce (the model's sizes), 50 times."""
    from xpnet.training.distributed import GradientReducer

    backend = xpnet.get_backend(args.backend)
    reducer = GradientReducer(backend)
    grads = [backend.asarray(p, args.dtype) for p in model.coefs_ + model.intercepts_]
    times = []
    for _ in range(50):
        start = time.perf_counter()
        reducer(grads, 0.0)
        times.append(time.perf_counter() - start)
    return times


def _launch(args: argparse.Namespace, procs: int, threads: int) -> dict:
    """Run one configuration in fresh processes; rank 0's (or the only) results."""
    env = dict(
        os.environ,
        OPENBLAS_NUM_THREADS=str(threads),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
    )
    base = [sys.executable, __file__, *sys.argv[1:]]
    if procs == 1:
        commands = [[*base, "--worker", "0"]]
    else:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = str(sock.getsockname()[1])
        commands = [[*base, "--worker", str(r), "--port", port] for r in range(procs)]
    runs = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, text=True)
        for c in commands
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    if any(run.returncode for run in runs):
        raise SystemExit(f"a worker failed: {[run.returncode for run in runs]}")
    return json.loads(outputs[0].strip().splitlines()[-1])


def main() -> None:
    args = _options()
    if args.worker is not None:
        print(json.dumps(worker(args)), flush=True)
        # torch 2.13's gloo threads now and then abort the interpreter's exit
        # ("terminate called without an active exception") after an orderly
        # destroy_process_group; the results are out, so skip the teardown.
        os._exit(0)
    configs = {
        "1 process, 1 thread": (1, 1),
        f"1 process, {args.procs} threads": (1, args.procs),
        f"{args.procs} processes ({_transport(args.backend)}), 1 thread each": (
            args.procs,
            1,
        ),
    }
    found: dict[str, dict[str, list[float]]] = {
        name: {"step_s": [], "all_reduce_s": []} for name in configs
    }
    order = list(configs) + list(configs)[::-1]
    for name in order:
        for key, values in _launch(args, *configs[name]).items():
            found[name][key] += values
    sizes = [args.features, *args.hidden, args.classes]
    print(
        f"{'-'.join(map(str, sizes))} MLP, {args.dtype}, backend {args.backend}, "
        f"global batch {args.batch}, {args.steps} steps per epoch, "
        f"{args.epochs} timed epochs per run, runs A B C C B A; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}, xpnet {xpnet.__version__}"
    )
    print(
        "\n| configuration | ms/step (median) | range over epochs "
        "| vs 1 process, 1 thread |"
    )
    print("| --- | --- | --- | --- |")
    reference = statistics.median(found["1 process, 1 thread"]["step_s"])
    for name, values in found.items():
        step = statistics.median(values["step_s"])
        low, high = min(values["step_s"]) * 1e3, max(values["step_s"]) * 1e3
        print(
            f"| {name} | {step * 1e3:.3f} | {low:.2f}-{high:.2f} | "
            f"{step / reference:.2f} |"
        )
    reduce = found[list(configs)[-1]]["all_reduce_s"]
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    print(
        f"\ngradient all_reduce alone ({n_params:,} values, {args.dtype}): "
        f"{statistics.median(reduce) * 1e3:.3f} ms median"
    )


if __name__ == "__main__":
    main()
