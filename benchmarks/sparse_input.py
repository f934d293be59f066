"""One epoch on a sparse matrix too large to hold dense: memory follows the non-zeros.

Builds a SciPy CSR matrix of 200,000 x 50,000 at 0.1% density (10 million non-zeros,
about 80 MiB; dense float32 it would take 37 GiB), trains ``MLPRegressor`` for one
epoch on it (numpy backend, float32, shuffled batches of 200) and prints the time and
the process's peak resident memory before and after. Usage::

    python benchmarks/sparse_input.py [--rows 200000] [--features 50000]
                                      [--density 0.001] [--hidden 32]
                                      [--backend numpy]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings

import numpy as np
import scipy.sparse

import xpnet


def peak_rss_mib() -> float:
    """The process's peak resident set size so far, MiB (Linux reports KiB)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def random_csr(rows: int, features: int, density: float, seed: int = 0):
    """A float32 CSR matrix with the same number of non-zeros in every row."""
    rng = np.random.default_rng(seed)
    per_row = max(1, round(features * density))
    indices = rng.integers(0, features, size=rows * per_row, dtype=np.int32)
    data = rng.standard_normal(rows * per_row, dtype=np.float32)
    indptr = np.arange(0, rows * per_row + 1, per_row, dtype=np.int64)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(rows, features))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=50_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--backend", default="numpy")
    args = parser.parse_args(argv)

    start_rss = peak_rss_mib()
    X = random_csr(args.rows, args.features, args.density)
    y = np.asarray(X[:, :10].sum(axis=1)).ravel()
    data_mib = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
    dense_gib = args.rows * args.features * 4 / 2**30
    print(
        f"X: {args.rows} x {args.features} CSR, {X.nnz} non-zeros ({data_mib:.0f} MiB; "
        f"dense float32 would be {dense_gib:.1f} GiB)"
    )
    before = peak_rss_mib()
    model = xpnet.MLPRegressor(
        (args.hidden,), max_iter=1, batch_size=200, backend=args.backend, random_state=0
    )
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        model.fit(X, y)
    seconds = time.perf_counter() - began
    after = peak_rss_mib()
    weights_mib = sum(c.nbytes for c in model.coefs_) / 2**20
    print(
        f"one epoch ({args.backend}, float32, batch 200, hidden {args.hidden}): "
        f"{seconds:.1f} s, loss {model.loss_:.4g}\n"
        f"peak RSS: {start_rss:.0f} MiB at start, {before:.0f} MiB with X built, "
        f"{after:.0f} MiB after the epoch (+{after - before:.0f} MiB for training; "
        f"weights {weights_mib:.1f} MiB, Adam keeps two more copies)"
    )


if __name__ == "__main__":
    main()
