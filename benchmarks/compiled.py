"""xpnet's compiled JAX epoch against a hand-written ``jax.jit`` + ``lax.scan`` + optax
loop: the time of one epoch (Adam, float32, batch 200, 20,000 rows, one thread).

Both sides get one fit of ``--epochs`` epochs per round, interleaved (A B, B A, ...);
an epoch's time is the median over the epochs after the first of each fit; the table
shows the medians over rounds and the median of the per-round (paired) ratios.
xpnet's epochs are timed from its
``callbacks`` (what the loop really costs per epoch: the plan upload, the program, the
loss read and the divergence probe); the first epoch of the first fit, less that
median, is its compile time with the fit's setup (the program is then cached:
later fits do not compile); the reference's first epoch, less its median, is its.
xpnet runs with ``alpha=0`` (no L2 term), as the reference has none.

    python benchmarks/compiled.py [--rounds 5] [--epochs 4] [--tiny] [--torch]

With ``--torch``, also xpnet on torch with ``compile=True`` against its eager epochs.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy and JAX load
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from common import onehot, synthetic_classification  # noqa: E402
from contenders import timed_fit  # noqa: E402
from jax import lax  # noqa: E402

NETWORKS = {"64-64-32-10": (64, (64, 32), 10), "784-256-128-10": (784, (256, 128), 10)}


class Reference:
    """The hand-written loop: relu layers, softmax cross-entropy, optax's Adam, the
    epoch one jitted ``lax.scan`` over host-shuffled batches, parameters donated."""

    def __init__(self, X, labels, hidden, n_classes, batch_size):
        sizes = [X.shape[1], *hidden, n_classes]
        rng = np.random.default_rng(0)
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
            self.params.append((jnp.asarray(W), jnp.zeros(fan_out, jnp.float32)))
        self.X = jnp.asarray(X)
        self.Y = jnp.asarray(onehot(labels, n_classes, "float32"))
        self.optimizer = optax.adam(1e-3)
        self.state = self.optimizer.init(self.params)
        self.batch_size, self.rng = batch_size, np.random.default_rng(1)
        self.epoch_fn = jax.jit(self._epoch, donate_argnums=(0, 1))

    @staticmethod
    def _loss(params, X, Y):
        a = X
        for W, b in params[:-1]:
            a = jax.nn.relu(a @ W + b)
        W, b = params[-1]
        return optax.softmax_cross_entropy(a @ W + b, Y).mean()

    def _epoch(self, params, state, X, Y, batches):
        def body(carry, rows):
            params, state = carry
            loss, grads = jax.value_and_grad(self._loss)(params, X[rows], Y[rows])
            updates, state = self.optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        (params, state), losses = lax.scan(body, (params, state), batches)
        return params, state, jnp.sum(losses)

    def fit(self, epochs):
        """Epoch times (s) of ``epochs`` epochs."""
        times = []
        n_batches = self.X.shape[0] // self.batch_size
        for _ in range(epochs):
            start = time.perf_counter()
            perm = self.rng.permutation(self.X.shape[0]).astype(np.int32)
            batches = jnp.asarray(perm[: n_batches * self.batch_size]).reshape(
                n_batches, self.batch_size
            )
            self.params, self.state, loss = self.epoch_fn(
                self.params, self.state, self.X, self.Y, batches
            )
            float(loss)  # the host reads the loss once per epoch, as xpnet does
            times.append(time.perf_counter() - start)
        return times


def xpnet_fit(X, labels, hidden, batch_size, epochs, backend="jax", compile=True):
    """Times (s) of one xpnet fit: (its first epoch with the fit's setup, the later
    epochs); ``alpha=0``, as the reference has no L2 term."""
    first, later, _ = timed_fit(
        X,
        labels,
        epochs,
        hidden_layer_sizes=hidden,
        batch_size=batch_size,
        alpha=0.0,
        backend=backend,
        compile=compile,
    )
    return first, later


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--tiny", action="store_true", help="seconds of work")
    parser.add_argument(
        "--torch",
        action="store_true",
        help="also xpnet on torch, compile=True against eager (torch.compile: tens of "
        "seconds per network here)",
    )
    args = parser.parse_args()
    n_samples, batch_size = (2000, 200) if args.tiny else (20_000, 200)
    print(
        f"jax {jax.__version__}, optax {optax.__version__}, one thread, "
        f"{n_samples} rows, batch {batch_size}, Adam, float32, "
        f"{args.rounds} rounds x {args.epochs} epochs, medians"
    )
    print(
        "| network | xpnet compile=True | jax.jit + lax.scan + optax | ratio | "
        "compile (xpnet / reference) |"
    )
    print("| --- | --- | --- | --- | --- |")
    torch_rows = []
    for name, (n_features, hidden, n_classes) in NETWORKS.items():
        X, labels = synthetic_classification(
            n_samples, n_features, n_classes, "float32"
        )
        reference = Reference(X, labels, hidden, n_classes, batch_size)
        first_ref = reference.fit(1)[0]
        first_xp, _ = xpnet_fit(X, labels, hidden, batch_size, 2)
        ours, theirs = [], []
        for r in range(args.rounds):
            for who in ("xpnet", "reference") if r % 2 == 0 else ("reference", "xpnet"):
                if who == "xpnet":
                    epochs = xpnet_fit(X, labels, hidden, batch_size, args.epochs)[1]
                    ours.append(statistics.median(epochs))
                else:
                    theirs.append(statistics.median(reference.fit(args.epochs)[1:]))
        mine, ref = statistics.median(ours), statistics.median(theirs)
        ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
        print(
            f"| {name} | {mine * 1e3:.1f} ms | {ref * 1e3:.1f} ms | "
            f"{ratio:.2f}x | {first_xp - mine:.2f} s / {first_ref - ref:.2f} s |"
        )
        print(
            f"<!-- rounds: xpnet {[round(t * 1e3, 1) for t in ours]} ms, "
            f"reference {[round(t * 1e3, 1) for t in theirs]} ms -->"
        )
        if args.torch:
            torch_rows.append(_torch_row(name, X, labels, hidden, batch_size, args))
    if torch_rows:
        print("\n| network | xpnet torch compile=True | xpnet torch eager | ratio |")
        print("| --- | --- | --- | --- |")
        print("\n".join(torch_rows))


def _torch_row(name, X, labels, hidden, batch_size, args):
    """xpnet on torch, compiled against eager, interleaved (first fits untimed)."""
    import torch

    torch.set_num_threads(1)
    fits = {
        "compiled": lambda: xpnet_fit(
            X, labels, hidden, batch_size, args.epochs, "torch"
        ),
        "eager": lambda: xpnet_fit(
            X, labels, hidden, batch_size, args.epochs, "torch", compile=False
        ),
    }
    for fit in fits.values():
        fit()  # torch.compile compiles here
    times = {who: [] for who in fits}
    for r in range(args.rounds):
        for who in list(fits) if r % 2 == 0 else list(fits)[::-1]:
            times[who].append(statistics.median(fits[who]()[1]))
    mine, eager = (statistics.median(times[w]) for w in ("compiled", "eager"))
    return (
        f"| {name} | {mine * 1e3:.1f} ms | {eager * 1e3:.1f} ms | {mine / eager:.2f}x |"
    )


if __name__ == "__main__":
    main()
