"""Fit the same cases on this tree and on another commit; show the numbers identical.

The restructure of issue 21 must keep every number bit for bit. This script fits a
fixed set of cases (adam, sgd, lbfgs, early stopping, sample weights, sparse input,
Dask input, resume from a checkpoint; explicit ``dtype`` and ``backend``) on each
backend, once with this tree's ``src`` and once with a ``git worktree`` of ``--base``
(default: 1a45611, the commit before the move), each in its own subprocess, and
compares weights, biases, loss curves and predictions byte for byte.

    python ci/same_numbers.py [--base COMMIT] [--backends numpy,array_api_strict,torch]

Exit status 0 when every case is identical, 1 otherwise (the differing cases named).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
BASE = "1a45611"
BACKENDS = ("numpy", "array_api_strict", "torch")
CASES = (
    "adam",
    "sgd",
    "sgd_invscaling",
    "lbfgs",
    "early_stopping",
    "sample_weight",
    "sparse",
    "dask",
    "resume",
    "regressor",
)


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    w = rng.uniform(0.2, 2.0, size=120)
    target = X @ rng.normal(size=5) + 0.1 * rng.normal(size=120)
    return X, y, w, target


def _fit_case(case: str, backend: str, dtype: str, tmp: str) -> dict[str, np.ndarray]:
    import warnings

    import xpnet

    X, y, w, target = _data()
    common = dict(
        hidden_layer_sizes=(7, 4),
        random_state=0,
        max_iter=6,
        batch_size=32,
        backend=backend,
        dtype=dtype,
    )
    fit_args: dict = {}
    if case == "regressor":
        model = xpnet.MLPRegressor(**common)
        y = target
    elif case == "sgd":
        model = xpnet.MLPClassifier(solver="sgd", momentum=0.8, **common)
    elif case == "sgd_invscaling":  # no momentum: -lr folded into backprop
        model = xpnet.MLPClassifier(
            solver="sgd",
            momentum=0.0,
            learning_rate="invscaling",
            alpha=0.01,
            learning_rate_init=0.3,
            **common,
        )
    elif case == "lbfgs":
        model = xpnet.MLPClassifier(solver="lbfgs", **common)
    elif case == "early_stopping":
        model = xpnet.MLPClassifier(
            early_stopping=True, validation_fraction=0.2, n_iter_no_change=2, **common
        )
    else:
        model = xpnet.MLPClassifier(**common)
    if case == "sample_weight":
        fit_args["sample_weight"] = w
    if case == "sparse":
        import scipy.sparse

        X = scipy.sparse.csr_matrix(np.where(np.abs(X) > 0.7, X, 0.0))
    if case == "dask":
        import dask.array as da

        X, y = da.from_array(X, chunks=(40, 5)), da.from_array(y, chunks=40)
        fit_args["sample_weight"] = da.from_array(w, chunks=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case == "resume":
            path = os.path.join(tmp, f"{backend}-{dtype}.ckpt")
            first = xpnet.MLPClassifier(**{**common, "max_iter": 2})
            first.fit(X, y, checkpoint=path, checkpoint_every=3)
            model = xpnet.MLPClassifier(**common)
            model.fit(X, y, resume_from=path)
        else:
            model.fit(X, y, **fit_args)
        X_host = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        out = {
            **{f"coef{i}": np.asarray(c) for i, c in enumerate(model.coefs_)},
            **{f"bias{i}": np.asarray(b) for i, b in enumerate(model.intercepts_)},
            "loss_curve": np.asarray(model.loss_curve_),
            "predict": np.asarray(model.predict(X_host[:20])),
        }
        if case == "early_stopping":
            out["validation_scores"] = np.asarray(model.validation_scores_)
    return out


def worker(path: str, backends: list[str]) -> None:
    """Fit every case on every backend (float32 and float64), save to ``path``."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for dtype in ("float32", "float64"):
                for case in CASES:
                    try:
                        arrays = _fit_case(case, backend, dtype, tmp)
                    except Exception as exc:  # recorded: the other tree must agree
                        arrays = {"error": np.asarray(f"{type(exc).__name__}: {exc}")}
                    for name, array in arrays.items():
                        results[f"{backend}/{dtype}/{case}/{name}"] = array
    np.savez(path, **results)


def _run_tree(src: pathlib.Path, out: str, backends: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    env["OPENBLAS_NUM_THREADS"] = "1"
    env.pop("XPNET_BACKEND", None)
    command = [sys.executable, __file__, "--worker", out, "--backends", *backends]
    subprocess.run(command, env=env, check=True)


def compare(base: str, backends: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp, "base")
        subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "worktree",
                "add",
                "--detach",
                "-q",
                str(tree),
                base,
            ],
            check=True,
        )
        try:
            _run_tree(ROOT / "src", os.path.join(tmp, "new.npz"), backends)
            _run_tree(tree / "src", os.path.join(tmp, "old.npz"), backends)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                check=True,
            )
        new = dict(np.load(os.path.join(tmp, "new.npz")))
        old = dict(np.load(os.path.join(tmp, "old.npz")))
    failures = []
    for backend in backends:
        for dtype in ("float32", "float64"):
            for case in CASES:
                prefix = f"{backend}/{dtype}/{case}/"
                keys = sorted({k for k in (*new, *old) if k.startswith(prefix)})
                same = all(
                    k in new
                    and k in old
                    and new[k].dtype == old[k].dtype
                    and new[k].shape == old[k].shape
                    and new[k].tobytes() == old[k].tobytes()
                    for k in keys
                )
                error = new.get(prefix + "error", old.get(prefix + "error"))
                note = "" if error is None else f" (both: {error})"
                print(f"{'same' if same else 'DIFFERENT':9} {prefix[:-1]}{note}")
                if not same:
                    failures.append(prefix[:-1])
    print(
        f"{len(failures)} of {len(backends) * 2 * len(CASES)} cases differ from {base}"
    )
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=BASE, help="commit to compare with")
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    backends = args.backends or list(BACKENDS)
    if len(backends) == 1 and "," in backends[0]:
        backends = backends[0].split(",")
    if args.worker:
        worker(args.worker, backends)
        return 0
    return compare(args.base, backends)


if __name__ == "__main__":
    sys.exit(main())
