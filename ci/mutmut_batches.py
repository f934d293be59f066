"""Run mutmut (the ``mutation`` extra) in resumable, time-bounded batches, and report
the score per folder.

    python ci/mutmut_batches.py files maths training   # run what is not yet run
    python ci/mutmut_batches.py --report               # counts and score so far
    python ci/mutmut_batches.py maths --batch 20 --timeout 600 --children 1

mutmut keeps a verdict per mutant under ``mutants/`` (not committed). A plain
``mutmut run`` restarts every mutant it is given by name, and a worker that hangs
blocks it for good; so this script asks mutmut only for the mutants of the named
folders that have no verdict yet, a batch at a time, each under a wall-clock limit
(the whole process group is stopped when it runs out; the verdicts already reached
are kept). A mutant whose batch ran out twice, the second time alone, is listed in
``mutants/hung.txt`` and not asked again. Runs under ``nice``, one BLAS/OpenMP
thread per process and Dask's synchronous scheduler (a forked worker has none of its
parent's threads: torch's pool crashes it, Dask's hangs). Delete
``mutants/`` after a change to the code under test to re-measure from scratch.

``--prescreen`` runs each mutant against only the covering tests in the folder's own
``tests/FOLDER/`` (where there are any): a kill there is a kill, a survivor's verdict
is dropped and it is listed in ``mutants/prescreened.txt``, left for a later run
without ``--prescreen`` to give it its full verdict (every covering test).

``--fresh PREFIX --tests "PYTEST ARGUMENTS"`` judges the mutants whose name starts
with PREFIX and that survived or that no test reached, each in a fresh pytest process
against the given tests (in the order given, stopping at the first failure). It is for
code that only tests outside mutmut's selection reach (JAX, torch.compile, Dask and
torch.distributed hang in mutmut's forked workers, see ``[tool.mutmut]``); those
verdicts replace mutmut's and are listed in ``mutants/fresh.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
HUNG = MUTANTS / "hung.txt"
PRESCREENED = MUTANTS / "prescreened.txt"
FRESH = MUTANTS / "fresh.txt"
STATS = MUTANTS / "mutmut-stats.json"
SURVIVED = 0  # mutmut's exit codes: a mutant no test noticed,
KILLED = 1  # one a test noticed,
NO_TESTS = 33  # one no test reached,
TIMED_OUT = 36  # one whose tests ran out of time
# mutmut's names for them (as in ``mutmut.stats.status_by_exit_code``)
OWN_STATUSES = {
    SURVIVED: "survived",
    KILLED: "killed",
    NO_TESTS: "no tests",
    TIMED_OUT: "timeout",
}
# a forked worker has none of its parent's threads: torch's OpenMP pool crashes it and
# Dask's thread pool never answers, so one thread each and Dask computes in line
FORK_SAFE = {
    **dict.fromkeys(
        ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), "1"
    ),
    "DASK_SCHEDULER": "synchronous",
    # it runs JAX (all available backends): JAX started in mutmut's own process (its
    # clean run) hangs every worker forked after it
    "PYTEST_ADDOPTS": "--deselect "
    + "tests/test_check.py::test_exit_codes_for_unavailable_backends"
    # a mutant's tests quickest first, so a kill costs the quickest failing test
    + " -p mutmut_fastest_first",
}
FOLDERS = ("files", "maths", "training")


def verdicts() -> dict[str, int | None]:
    """Every mutant's exit code (None: not run yet), from mutmut's ``.meta`` files."""
    found: dict[str, int | None] = {}
    for meta in sorted((MUTANTS / "src").rglob("*.py.meta")):
        found |= json.loads(meta.read_text())["exit_code_by_key"]
    return found


def folder_of(name: str) -> str:
    return name.split(".")[1]


def listed(path: Path) -> set[str]:
    return set(path.read_text().split()) if path.exists() else set()


def narrowed(stats: dict, folder: str) -> dict:
    """mutmut's stats with each ``xpnet.FOLDER`` function's tests cut to those in
    ``tests/FOLDER/`` (kept whole where none of them reach it)."""
    by_function = dict(stats["tests_by_mangled_function_name"])
    for function, tests in by_function.items():
        own = [t for t in tests if t.startswith(f"tests/{folder}/")]
        if folder_of(function) == folder and own:
            by_function[function] = own
    return stats | {"tests_by_mangled_function_name": by_function}


def set_verdicts(new: dict[str, int | None]) -> None:
    """Overwrite some mutants' exit codes in mutmut's ``.meta`` files."""
    for meta in sorted((MUTANTS / "src").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        mine = new.keys() & data["exit_code_by_key"].keys()
        if mine:
            data["exit_code_by_key"] |= {k: new[k] for k in mine}
            meta.write_text(json.dumps(data, indent=4))


def report(folders: tuple[str, ...]) -> None:
    codes = verdicts()
    hung = listed(HUNG)
    prescreened = listed(PRESCREENED)
    print(f"{'folder':10} {'run':>11} {'killed':>7} {'survived':>9} {'other':>6} score")
    for folder in folders:
        mine = {k: v for k, v in codes.items() if folder_of(k) == folder}
        done = {k: v for k, v in mine.items() if v is not None}
        counts = Counter(status_by_code(v) for v in done.values())
        killed = counts["killed"] + counts["timeout"]
        tested = killed + counts["survived"]
        other = len(done) - tested
        score = f"{100 * killed / tested:.1f}%" if tested else "-"
        ran = f"{len(done)}/{len(mine)}"
        survived = counts["survived"]
        line = f"{folder:10} {ran:>11} {killed:>7} {survived:>9} {other:>6} {score}"
        notes = [
            f"{len(listed(FRESH) & set(done))} in a fresh process",
            f"{len(hung & set(mine))} hung",
            f"{len(prescreened & (set(mine) - set(done)))} prescreened",
        ]
        notes = [note for note in notes if not note.startswith("0 ")]
        print(line + (f"  ({', '.join(notes)})" if notes else ""))


def run_batch(names: list[str], timeout: float, children: int) -> bool:
    """mutmut on ``names``; False when the wall-clock limit stopped it."""
    # mutmut copies also_copy files without making their folders
    (MUTANTS / "docs" / "user_guide").mkdir(parents=True, exist_ok=True)
    mutmut = Path(sys.executable).with_name("mutmut")
    command = ["nice", "-n", "19", str(mutmut), "run", f"--max-children={children}"]
    env = os.environ | FORK_SAFE
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "ci"), os.environ.get("PYTHONPATH")])
    )
    # a shell's background job ignores SIGINT; tests check Ctrl-C's handler
    with subprocess.Popen(
        command + names,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as process:
        try:
            process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                os.killpg(process.pid, sig)
                time.sleep(5)
            process.wait()
            return False


def pending(folders: tuple[str, ...], prescreen: bool = False) -> list[str]:
    """Mutants with no verdict, not hung (nor prescreened, with ``prescreen``)."""
    skip = listed(HUNG) | (listed(PRESCREENED) if prescreen else set())
    todo = [k for k, v in verdicts().items() if v is None and k not in skip]
    return [k for k in todo if folder_of(k) in folders]


def run_prescreened(
    names: list[str], folder: str, timeout: float, children: int
) -> bool:
    """``run_batch`` against the folder's own tests; survivors lose their verdict and
    are listed in ``prescreened.txt``."""
    whole = STATS.read_text()
    STATS.write_text(json.dumps(narrowed(json.loads(whole), folder)))
    try:
        finished = run_batch(names, timeout, children)
    finally:
        STATS.write_text(whole)
    codes = verdicts()
    survivors = [k for k in names if codes.get(k) == SURVIVED]
    set_verdicts(dict.fromkeys(survivors))
    with PRESCREENED.open("a") as out:
        out.writelines(name + "\n" for name in survivors)
    return finished


def run_fresh(prefix: str, tests: list[str], timeout: float) -> None:
    """Each mutant under ``prefix`` that survived or that no test reached, against
    ``tests`` in a fresh pytest process of its own (``timeout`` seconds each)."""
    done = listed(FRESH)
    names = [
        k
        for k, v in verdicts().items()
        if k.startswith(prefix) and v in (SURVIVED, NO_TESTS) and k not in done
    ]
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "no:randomly", *tests]
    env = os.environ | FORK_SAFE | {"PYTHONPATH": str(MUTANTS / "src")}
    del env["PYTEST_ADDOPTS"]  # the deselected tests are the point here
    for number, name in enumerate(names, 1):
        try:
            result = subprocess.run(
                ["nice", "-n", "19", *command],
                cwd=ROOT,
                env=env | {"MUTANT_UNDER_TEST": name},
                capture_output=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            code = TIMED_OUT
        else:
            if result.returncode in (4, 5):  # a usage error or no test collected
                raise SystemExit(result.stdout.decode()[-2000:])
            code = SURVIVED if result.returncode == 0 else KILLED
        set_verdicts({name: code})
        with FRESH.open("a") as out:
            out.write(name + "\n")
        print(f"{number}/{len(names)} {status_by_code(code)} {name}", flush=True)


def status_by_code(code: int) -> str:
    """mutmut's name for an exit code; those this script writes need no mutmut."""
    if code in OWN_STATUSES:
        return OWN_STATUSES[code]
    from mutmut.stats import status_by_exit_code  # the mutation extra

    return status_by_exit_code[code]


def run_folder(folder: str, args: argparse.Namespace) -> None:
    """Batches until every mutant of ``folder`` has a verdict (or hung)."""

    def run(names: list[str], timeout: float) -> bool:
        if args.prescreen:
            return run_prescreened(names, folder, timeout, args.children)
        return run_batch(names, timeout, args.children)

    while todo := pending((folder,), args.prescreen):
        batch = todo[: args.batch]
        if not run(batch, args.timeout):
            stuck = [k for k in batch if k in pending((folder,), args.prescreen)]
            if stuck and not run(stuck[:1], args.timeout / 4):
                with HUNG.open("a") as out:
                    out.write(stuck[0] + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help=f"some of {FOLDERS} (default all)")
    parser.add_argument("--report", action="store_true", help="only print the score")
    parser.add_argument("--batch", type=int, default=40, help="mutants per mutmut run")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per batch")
    parser.add_argument("--children", type=int, default=1, help="mutmut workers")
    parser.add_argument(
        "--prescreen", action="store_true", help="first only the folder's own tests"
    )
    parser.add_argument(
        "--fresh", metavar="PREFIX", help="rejudge PREFIX's mutants, each in a process"
    )
    parser.add_argument("--tests", help="pytest's arguments for --fresh, quoted")
    args = parser.parse_args(argv)
    folders = tuple(args.folders) or FOLDERS
    if unknown := set(folders) - set(FOLDERS):
        parser.error(f"unknown folders {sorted(unknown)}")
    if args.fresh:
        if not args.tests:
            parser.error("--fresh needs --tests")
        run_fresh(args.fresh, shlex.split(args.tests), args.timeout)
    elif not args.report:
        if not MUTANTS.exists():  # the first run makes the mutants and the test map
            run_batch([f"xpnet.{folders[0]}.*"], args.timeout, args.children)
        for folder in folders:
            run_folder(folder, args)
    report(folders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
