"""xpnet on backend="torch" against a plain PyTorch loop, on the same CPU.

One epoch of plain SGD (no momentum, no L2) on 784-256-128-10, batch 200, float32:
``xpnet network loop`` (xpnet's maths on torch tensors, as in ``run.py``),
``xpnet MLPClassifier`` (``fit(max_iter=1)``, setup and host checks included) and
``PyTorch CPU`` (``nn.Sequential``, autograd, ``optim.SGD``), interleaved; reported:
the median over rounds of each contender's time over the torch loop's.

    python benchmarks/torch_parity.py [--samples 6000] [--rounds 9] [--threads N]
"""

from __future__ import annotations

import argparse

import contenders as cont
from common import interleave, median, synthetic_classification


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    X, labels = synthetic_classification(args.samples, 784, 10, "float32")
    cfg = cont.Config(hidden=(256, 128), batch_size=200, lr=0.01, backend="torch")
    runs = {
        "xpnet network loop": cont.XpnetNetwork(X, labels, cfg).epoch,
        "xpnet MLPClassifier": cont.XpnetEstimator(X, labels, cfg).epoch,
        "PyTorch CPU": cont.TorchLoop(X, labels, cfg).epoch,
    }
    times = interleave(runs, args.rounds)
    reference = times["PyTorch CPU"]
    print(
        f"one epoch, {args.samples} samples, 784-256-128-10, batch 200, float32, "
        f"plain SGD; torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.rounds} rounds"
    )
    print("| contender | median s | ratio to PyTorch CPU (median of rounds) |")
    print("| --- | --- | --- |")
    for name, values in times.items():
        ratio = median([t / r for t, r in zip(values, reference, strict=True)])
        print(f"| {name} | {median(values):.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
