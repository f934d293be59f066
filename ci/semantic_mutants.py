"""Hand-written semantic mutants: plant each bug in a copy of the tree, run the tests
that should catch it, report caught or survived and a score.

    python ci/semantic_mutants.py                # every mutant (about 5 minutes)
    python ci/semantic_mutants.py --list         # the mutants and where they apply
    python ci/semantic_mutants.py -k dask -k poisson   # those whose name matches

The working tree is never modified: ``src/``, ``tests/`` and ``pyproject.toml`` are
copied to a temporary folder once; each mutant replaces one source snippet there,
runs its tests (``pytest -x`` on NumPy, no bytecode written so no stale ``.pyc``) and
puts the file back. A mutant is found by its snippet, first in the file named, then
anywhere under ``src/xpnet`` (code moves between modules in a restructure): if the
snippet is gone, or occurs more than once, the mutant is reported "not applicable"
instead of planted in the wrong place. The tests run first on the unmutated copy;
where some fail there, a mutant whose own tests fail unmutated is "not applicable".
Exit status: 0, or 1 with ``--strict`` when a mutant survived, 2 when some tests fail
unmutated.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    """``old`` replaced by ``new`` in ``path`` (under src/xpnet); ``tests`` are pytest
    arguments (files, ``-k`` expressions) that should fail. ``also``: other
    (old, new) pairs, tried in turn when ``old`` is gone (the same bug in code that
    was rewritten)."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str = ""
    also: tuple[tuple[str, str], ...] = ()


SHUFFLED = "tests/training/test_shuffled_weights.py"
EARLY = "tests/training/test_early_stopping_scores.py"
DASK = "tests/dask/test_dask_semantics.py"
LOSS_GRADS = "tests/maths/test_loss_gradients.py"

MUTANTS = [
    # ---- issue 27's seven survivors ------------------------------------------------
    Mutant(
        "1-shuffled-weights-by-position",
        "training/loop.py",
        "weights = take(sample_weight, rows, axis=0)",
        "weights = sample_weight[start:stop]",
        (SHUFFLED,),
        "a shuffled batch takes the weights at its positions, not its rows'",
        also=(
            ("weights = take(weights, rows, axis=0)", "weights = weights[start:stop]"),
            ("weights = take(weights, rows)", "weights = weights[start:stop]"),
        ),
    ),
    Mutant(
        "2-sparse-holdout-reorders-rows",
        "training/sparse.py",
        "SparseRows(self.backend, self.matrix[index], self.dtype_name)",
        "SparseRows(self.backend, self.matrix[np.sort(index)], self.dtype_name)",
        (EARLY,),
        "sparse validation X no longer in its y's order",
    ),
    Mutant(
        "3-dask-holdout-ignores-random-state",
        "estimators/dask_input.py",
        "order = rng.permutation(n_blocks)",
        "order = np.arange(n_blocks)",
        (DASK,),
        "the same blocks held out whatever random_state, generator not advanced",
    ),
    Mutant(
        "4-dask-multilabel-any-label",
        "estimators/dask_predict.py",
        "hits.all(axis=1) if hits.ndim == 2",
        "hits.any(axis=1) if hits.ndim == 2",
        (DASK,),
        "a multilabel row counts as right when any label is",
    ),
    Mutant(
        "5-poisson-output-error",
        "maths/losses.py",
        "grad = 1 - y / y_pred",
        "grad = y_pred - y",
        (LOSS_GRADS,),
        "Poisson's dL/dy_pred is the canonical shortcut's dL/dz",
    ),
    Mutant(
        "6-cupy-context-does-nothing",
        "backend.py",
        "return self.xp_module().cuda.Device(self.device.id)",
        "return contextlib.nullcontext()",
        ("tests/test_device.py",),
        "cupy:N work launched on the current device, not N",
    ),
    Mutant(
        "7a-reader-lets-oserror-escape",
        "files/tensor_file.py",
        "except (SafetensorError, OSError, ValueError, TypeError, MemoryError)",
        "except (SafetensorError, ValueError, TypeError, MemoryError)",
        ("tests/files/test_reader_errors.py",),
        "permission denied escapes as itself, not ModelFileError",
    ),
    Mutant(
        "7b-reader-lets-value-errors-escape",
        "files/tensor_file.py",
        "except (SafetensorError, OSError, ValueError, TypeError, MemoryError)",
        "except (SafetensorError, OSError, MemoryError)",
        ("tests/files/test_reader_errors.py",),
        "a ValueError/TypeError in the tensor reader escapes",
    ),
    # ---- maths -----------------------------------------------------------------------
    Mutant(
        "sigmoid-log-loss-error-sign",
        "maths/losses.py",
        "grad += (1 - y) / (1 - p)",
        "grad -= (1 - y) / (1 - p)",
        (LOSS_GRADS,),
    ),
    Mutant(
        "weighted-share-by-count",
        "maths/losses.py",
        "share = sample_weight / _sum(xp, sample_weight, weight_sum)",
        "share = sample_weight / sample_weight.shape[0]",
        ("tests/maths", "tests/training/test_loop.py"),
    ),
    Mutant(
        "poisson-value-sign",
        "maths/losses.py",
        "_mean(xp, xlogy - y + y_pred, sample_weight, weight_sum)",
        "_mean(xp, xlogy + y - y_pred, sample_weight, weight_sum)",
        (LOSS_GRADS,),
    ),
    Mutant(
        "tanh-backward",
        "maths/activations.py",
        "grad_a *= 1 - a * a",
        "grad_a *= 1 - a",
        ("tests/maths/test_activations_losses.py",),
    ),
    Mutant(
        "relu-backward-at-zero",
        "maths/activations.py",
        "grad_a *= xp.astype(a > 0, a.dtype)",
        "grad_a *= xp.astype(a >= 0, a.dtype)",
        ("tests/maths",),
    ),
    Mutant(
        "bias-gradient-mean",
        "maths/network.py",
        "bias_grads[layer] = xp.sum(delta, axis=0)",
        "bias_grads[layer] = xp.mean(delta, axis=0)",
        ("tests/maths/test_network.py",),
    ),
    Mutant(
        "adam-bias-correction",
        "maths/optim.py",
        "* math.sqrt(1 - self.beta_2**self.t)",
        "* math.sqrt(1 - self.beta_2 ** (self.t + 1))",
        ("tests/maths/test_optim.py",),
    ),
    Mutant(
        "nesterov-inverted",
        "maths/optim.py",
        "if not self.nesterov:",
        "if self.nesterov:",
        ("tests/maths/test_optim.py",),
    ),
    Mutant(
        "flat-views-shifted",
        "maths/flat.py",
        "part = flat[start:stop]",
        "part = flat[stop - math.prod(shape) : stop]",
        ("tests/maths", "tests/training/test_loop.py"),
        "an equivalent mutant: the control that a survivor is reported",
    ),
    # ---- training --------------------------------------------------------------------
    Mutant(
        "sparse-rows-not-shuffled",
        "training/loop.py",
        "else X.rows(host_order[start:stop])",
        "else X[start:stop, ...]",
        (SHUFFLED,),
        also=(("X.rows(self.host_order[start:stop])", "X[start:stop, ...]"),),
    ),
    Mutant(
        "l2-over-batch-size-when-weighted",
        "training/loop.py",
        "total = size if weights is None else float(np.sum(weights[start:stop]))",
        "total = size",
        ("tests/estimators/test_sklearn_dropin.py", "tests/training"),
    ),
    Mutant(
        "early-stopping-keeps-last-weights",
        "training/loop.py",
        "if run.best_params is not None and not s.incremental:",
        "if run.best_params is not None and s.incremental:",
        ("tests/training/test_loop.py",),
        also=(
            (
                "if run.state.best_params is not None and not s.incremental:",
                "if run.state.best_params is not None and s.incremental:",
            ),
        ),
    ),
    Mutant(
        "no-change-count-off-by-one",
        "training/loop.py",
        "if history.no_improvement_count > s.n_iter_no_change:",
        "if history.no_improvement_count >= s.n_iter_no_change:",
        ("tests/estimators/test_pinned_behaviour.py", "tests/estimators"),
    ),
    Mutant(
        "t-counts-batches",
        "training/loop.py",
        "history.t += run.n_samples",
        "history.t += run.settings.batch_size",
        ("tests/training/test_loop.py", DASK),
    ),
    Mutant(
        "stratified-split-not-shuffled",
        "training/loop.py",
        "members = rng.permutation(np.flatnonzero(index == c))",
        "members = np.flatnonzero(index == c)",
        (EARLY,),
    ),
    Mutant(
        "validation-score-unweighted",
        "estimators/base.py",
        "W_val = take(run.sample_weight, val_idx, axis=0)",
        "W_val = None",
        (EARLY,),
    ),
    Mutant(
        "lbfgs-l2-unweighted",
        "training/lbfgs.py",
        "grads.weights[i] += (alpha / sw_sum) * W",
        "grads.weights[i] += alpha * W",
        ("tests/estimators/test_sklearn_dropin.py",),
    ),
    Mutant(
        "checkpoint-forgets-epoch-rng",
        "training/checkpoint.py",
        '"rng_state": position.rng_state,',
        '"rng_state": None,',
        ("tests/training/test_loop.py",),
    ),
    Mutant(
        "dask-block-weights-dropped",
        "estimators/dask_input.py",
        "None if W is None else self.backend.asarray(W, self.dtype),",
        "None,",
        (DASK, "tests/dask/test_dask.py"),
    ),
    # ---- files -----------------------------------------------------------------------
    Mutant(
        "model-file-shape-unchecked",
        "files/model_file.py",
        "if array.shape != shape:",
        "if array.ndim != len(shape):",
        ("tests/files",),
    ),
    Mutant(
        "checksum-ignores-shapes",
        "files/tensor_file.py",
        'f"{name}:{array.dtype.str}:{array.shape}"',
        'f"{name}:{array.dtype.str}"',
        ("tests/files/test_reader_errors.py",),
    ),
]


def _copy_tree(source: Path, into: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in ("src", "tests"):
        shutil.copytree(source / name, into / name, ignore=ignore)
    shutil.copy2(source / "pyproject.toml", into / "pyproject.toml")


Site = tuple[Path, str, str]


def locate(tree: Path, mutant: Mutant) -> tuple[Site | None, str]:
    """(file, old, new) for the first of the mutant's snippets found exactly once
    (in the named file first, then anywhere under src/xpnet), or None and why not."""
    package = tree / "src" / "xpnet"
    sources = {path: path.read_text() for path in sorted(package.rglob("*.py"))}
    why = "snippet gone"
    for old, new in ((mutant.old, mutant.new), *mutant.also):
        named = package / mutant.path
        if sources.get(named, "").count(old) == 1:
            return (named, old, new), ""
        found = {path: text.count(old) for path, text in sources.items()}
        found = {path: count for path, count in found.items() if count}
        if sum(found.values()) == 1:
            return (next(iter(found)), old, new), ""
        if found:
            why = f"snippet ambiguous ({sum(found.values())} places)"
    return None, why


def _pytest(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, str]:
    """(outcome, last lines): passed, failed, error or timeout."""
    targets = [t for t in tests if (tree / t).exists()]
    if not targets:
        return "no tests", f"none of {list(tests)} exist"
    env = {
        **os.environ,
        "PYTHONPATH": str(tree / "src"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    env.pop("XPNET_BACKENDS", None)
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    command += ["--xpnet-backend", "numpy", "-m", "not slow", *targets]
    try:
        result = subprocess.run(
            command,
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout", ""
    lines = (result.stdout + result.stderr).strip().splitlines()
    failed = [line.split(" - ")[0] for line in lines if line.startswith("FAILED ")]
    tail = "\n".join(failed[:1] + lines[-1:])
    outcome = {0: "passed", 1: "failed"}.get(result.returncode, "error")
    return outcome, tail


def run_mutant(tree: Path, mutant: Mutant, timeout: float) -> tuple[str, str]:
    """Plant, test, restore: ("caught" | "survived" | "not applicable", detail)."""
    site, why = locate(tree, mutant)
    if site is None:
        return "not applicable", why
    path, old, new = site
    original = path.read_text()
    path.write_text(original.replace(old, new))
    try:
        outcome, tail = _pytest(tree, mutant.tests, timeout)
    finally:
        path.write_text(original)
    where = str(path.relative_to(tree / "src" / "xpnet"))
    if outcome == "passed":
        return "survived", f"{where}: {mutant.why or 'no test failed'}"
    if outcome == "no tests":
        return "not applicable", tail
    first = tail.splitlines()[0] if tail else outcome
    return "caught", f"{where}: {first}"


def _run_all(
    tree: Path, chosen: list[Mutant], timeout: float
) -> tuple[dict[str, str], bool]:
    """Each mutant's status, printed as it comes, and whether some tests fail
    unmutated. The tests of every mutant run unmutated first, together; if that
    fails, each mutant's tests run unmutated before it, and a mutant whose tests
    fail so is "not applicable" (a bug the suite already fails on is not caught)."""
    union = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
    outcome, tail = _pytest(tree, union, timeout * 3)
    unmutated_fail = outcome != "passed"
    if unmutated_fail:
        print(f"the unmutated tests do not pass ({outcome}): {tail}")
        print("so each mutant's tests run unmutated first\n")
    baseline: dict[tuple[str, ...], tuple[str, str]] = {}
    results = {}
    for mutant in chosen:
        start = time.perf_counter()
        if unmutated_fail and mutant.tests not in baseline:
            baseline[mutant.tests] = _pytest(tree, mutant.tests, timeout)
        before, tail = baseline.get(mutant.tests, ("passed", ""))
        if before != "passed":
            status, detail = "not applicable", f"tests fail unmutated: {tail}"
        else:
            status, detail = run_mutant(tree, mutant, timeout)
        results[mutant.name] = status
        took = time.perf_counter() - start
        print(f"{status:15} {mutant.name:40} {took:5.1f}s  {detail}", flush=True)
    return results, unmutated_fail


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", action="append", default=[], help="name substring")
    parser.add_argument("--list", action="store_true", help="list, run nothing")
    parser.add_argument(
        "--tree", type=Path, default=ROOT, help="the tree to copy (default: this one)"
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="per mutant")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a mutant survives"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    chosen = [m for m in MUTANTS if not args.k or any(k in m.name for k in args.k)]
    with tempfile.TemporaryDirectory(prefix="xpnet-mutants-") as folder:
        tree = Path(folder)
        _copy_tree(args.tree, tree)
        if args.list:
            for mutant in chosen:
                site, why = locate(tree, mutant)
                place = why if site is None else site[0].relative_to(tree / "src")
                print(f"{mutant.name:40} {place}")
            return 0
        results, unmutated_fail = _run_all(tree, chosen, args.timeout)
    caught = sum(s == "caught" for s in results.values())
    survived = sum(s == "survived" for s in results.values())
    skipped = len(results) - caught - survived
    score = caught / max(caught + survived, 1)
    print(
        f"\n{caught} caught, {survived} survived, {skipped} not applicable: "
        f"score {caught}/{caught + survived} = {score:.0%}"
    )
    if unmutated_fail:
        return 2
    return 1 if args.strict and survived else 0


if __name__ == "__main__":
    sys.exit(main())
