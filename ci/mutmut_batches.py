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
``mutants/hung.txt`` and not asked again. Runs under ``nice``. Delete ``mutants/``
after a change to the code under test to re-measure from scratch.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
HUNG = MUTANTS / "hung.txt"
FOLDERS = ("files", "maths", "training")


def verdicts() -> dict[str, int | None]:
    """Every mutant's exit code (None: not run yet), from mutmut's ``.meta`` files."""
    found: dict[str, int | None] = {}
    for meta in sorted((MUTANTS / "src").rglob("*.py.meta")):
        found |= json.loads(meta.read_text())["exit_code_by_key"]
    return found


def folder_of(name: str) -> str:
    return name.split(".")[1]


def report(folders: tuple[str, ...]) -> None:
    from mutmut.stats import status_by_exit_code  # the mutation extra

    codes = verdicts()
    hung = set(HUNG.read_text().split()) if HUNG.exists() else set()
    print(f"{'folder':10} {'run':>11} {'killed':>7} {'survived':>9} {'other':>6} score")
    for folder in folders:
        mine = {k: v for k, v in codes.items() if folder_of(k) == folder}
        done = {k: v for k, v in mine.items() if v is not None}
        counts = Counter(status_by_exit_code[v] for v in done.values())
        killed = counts["killed"] + counts["timeout"]
        tested = killed + counts["survived"]
        other = len(done) - tested
        score = f"{100 * killed / tested:.1f}%" if tested else "-"
        ran = f"{len(done)}/{len(mine)}"
        survived = counts["survived"]
        line = f"{folder:10} {ran:>11} {killed:>7} {survived:>9} {other:>6} {score}"
        n_hung = len(hung & set(mine))
        print(line + (f"  ({n_hung} hung)" if n_hung else ""))


def run_batch(names: list[str], timeout: float, children: int) -> bool:
    """mutmut on ``names``; False when the wall-clock limit stopped it."""
    # mutmut copies also_copy files without making their folders
    (MUTANTS / "docs" / "user_guide").mkdir(parents=True, exist_ok=True)
    mutmut = Path(sys.executable).with_name("mutmut")
    command = ["nice", "-n", "19", str(mutmut), "run", f"--max-children={children}"]
    with subprocess.Popen(command + names, cwd=ROOT, start_new_session=True) as process:
        try:
            process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                os.killpg(process.pid, sig)
                time.sleep(5)
            process.wait()
            return False


def pending(folders: tuple[str, ...]) -> list[str]:
    hung = set(HUNG.read_text().split()) if HUNG.exists() else set()
    codes = verdicts()
    todo = [k for k, v in codes.items() if v is None and k not in hung]
    return [k for k in todo if folder_of(k) in folders]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help=f"some of {FOLDERS} (default all)")
    parser.add_argument("--report", action="store_true", help="only print the score")
    parser.add_argument("--batch", type=int, default=40, help="mutants per mutmut run")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per batch")
    parser.add_argument("--children", type=int, default=1, help="mutmut workers")
    args = parser.parse_args(argv)
    folders = tuple(args.folders) or FOLDERS
    if unknown := set(folders) - set(FOLDERS):
        parser.error(f"unknown folders {sorted(unknown)}")
    if not args.report:
        if not MUTANTS.exists():  # the first run makes the mutants and the test map
            run_batch([f"xpnet.{folders[0]}.*"], args.timeout, args.children)
        for folder in folders:
            while todo := pending((folder,)):
                batch = todo[: args.batch]
                if not run_batch(batch, args.timeout, args.children):
                    for name in [k for k in batch if k in pending((folder,))][:1]:
                        if not run_batch([name], args.timeout / 4, args.children):
                            with HUNG.open("a") as out:
                                out.write(name + "\n")
    report(folders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
