"""Where one training step's time goes: xpnet's own pieces timed alone at the
MNIST-sized shapes (784-256-128-10, batch 256), microseconds per step.

    PYTHONPATH=src python benchmarks/breakdown.py [--dtype float64] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import xpnet  # noqa: E402
from xpnet.maths import losses  # noqa: E402
from xpnet.maths.activations import get_activation  # noqa: E402
from xpnet.maths.optim import SGD  # noqa: E402

SIZES, BATCH, N_SAMPLES = [784, 256, 128, 10], 256, 60000


def per_call_us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, help="BLAS threads (threadpoolctl)")
    parser.add_argument("--number", type=int, default=200, help="calls per timing")
    args = parser.parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    backend = xpnet.get_backend("numpy")
    xp, dt, n = backend.xp, args.dtype, args.number
    rng = np.random.default_rng(0)
    X, labels = common.synthetic_classification(N_SAMPLES, SIZES[0], SIZES[-1], dt)
    Y = common.onehot(labels, SIZES[-1], dt)
    relu, softmax = get_activation("relu"), get_activation("softmax")
    W = [
        rng.standard_normal((i, o)).astype(dt) * 0.05
        for i, o in zip(SIZES[:-1], SIZES[1:], strict=True)
    ]
    b = [np.zeros(o, dt) for o in SIZES[1:]]
    a = [X[:BATCH]] + [
        relu.forward(xp, rng.standard_normal((BATCH, o)).astype(dt))
        for o in SIZES[1:-1]
    ]
    z_out = rng.standard_normal((BATCH, SIZES[-1])).astype(dt)
    p = softmax.forward(xp, z_out)
    hidden = a[1:]
    params = W + b
    opt = SGD(xp, params, 0.01, momentum=0.0)
    updates = [xp.full_like(q, 1e-6) for q in params]
    order = rng.permutation(N_SAMPLES)
    replay = common.gemm_replay(xp, np.asarray, SIZES, [BATCH], dt)
    parts = {
        "GEMMs (a@W, a.T@delta, delta@W.T)": per_call_us(replay, max(1, n // 4)),
        "gather the batch (xp.take X, Y)": per_call_us(
            lambda: (
                xp.take(X, order[:BATCH], axis=0),
                xp.take(Y, order[:BATCH], axis=0),
            ),
            n,
        ),
        "bias add (z += b)": sum(
            per_call_us(lambda h=h, c=c: h.__iadd__(c), n)
            for h, c in zip(hidden, b[:-1], strict=True)
        ),
        "relu forward": sum(
            per_call_us(lambda h=h: relu.forward(xp, h), n) for h in hidden
        ),
        "softmax forward": per_call_us(lambda: softmax.forward(xp, z_out), n),
        "loss value (log-loss)": per_call_us(
            lambda: losses.loss_value(xp, "log_loss", softmax, p, Y[:BATCH]), n
        ),
        "output delta": per_call_us(
            lambda: losses.output_delta(xp, "log_loss", softmax, p, Y[:BATCH]), n
        ),
        "relu backward": sum(
            per_call_us(lambda h=h: relu.backward(xp, h, xp.asarray(h, copy=True)), n)
            for h in hidden
        ),
        "  (of which the copy this timing needs)": sum(
            per_call_us(lambda h=h: xp.asarray(h, copy=True), n) for h in hidden
        ),
        "bias gradients (sum over rows)": sum(
            per_call_us(lambda h=h: xp.sum(h, axis=0), n) for h in hidden + [p]
        ),
        # momentum 0: the loop folds -lr into the output delta and adds the
        # gradients as they come (SGD.update_factor and SGD.apply); the same
        # gradient arrays every call (fresh zeros would time their page faults)
        "SGD update (SGD.apply, lr folded)": per_call_us(
            lambda: opt.apply(params, updates), n
        ),
    }
    total = sum(v for k, v in parts.items() if not k.startswith(" "))
    print(f"# one step, {'-'.join(map(str, SIZES))}, batch {BATCH}, {dt}, us")
    for name, us in parts.items():
        print(f"{name:40s} {us:9.1f}  {100 * us / total:5.1f}%")
    print(f"{'sum of the parts':40s} {total:9.1f}")
    return parts


if __name__ == "__main__":
    main()
