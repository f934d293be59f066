"""A pytest plugin for mutmut's runs (``ci/mutmut_batches.py`` loads it): the tests
a mutant is given run quickest first, by the durations in mutmut's stats, so a kill
(``-x`` stops at the first failure) costs the quickest failing test, not the first
in file order."""

from __future__ import annotations

import json
import math
from pathlib import Path


def pytest_collection_modifyitems(items: list) -> None:
    stats = Path("mutmut-stats.json")  # mutmut runs pytest inside mutants/
    if not stats.exists():  # mutmut's first (stats) run is what writes it
        return
    seconds = json.loads(stats.read_text())["duration_by_test"]
    items.sort(key=lambda item: seconds.get(item.nodeid, math.inf))
