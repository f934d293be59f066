"""How far a newcomer reads to follow a fit: module crossings of a one-step fit.

``benchmarks/crossings.py`` traces ``MLPClassifier(hidden_layer_sizes=(8,),
max_iter=1, batch_size=100).fit(X, y)`` on 100x4 data with ``sys.setprofile`` and
counts the calls of xpnet functions made from another xpnet module. Run in a
subprocess, so the profile hook and the imports stay out of this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CEILING = 46
"""Crossings measured when the check was written (82 before issue 21's restructure,
counted this way; 71 after it, 73 with issue 23's one-read-per-epoch helper and the
clip's device constants, 69 with the optimizer factory in maths/optim.py and the
flat parameters packed in one call, 46 after the intake, batch-source and fit
folds of issue 21's follow-up, then 45); the issue's target is 45. 46 since the
one-step fit's ConvergenceWarning goes through ``xpnet.caller.warn`` (it names the
caller's line; one call from the loop into another module). Lower it as the count
falls."""


def crossings() -> tuple[int, int]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "crossings.py")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    words = result.stdout.split()
    return int(words[words.index("calls") + 1]), int(
        words[words.index("crossings") + 1]
    )


def test_a_one_step_fit_crosses_modules_no_more_than_the_ceiling():
    calls, count = crossings()
    assert 0 < count <= CEILING, f"{count} crossings in {calls} calls"
