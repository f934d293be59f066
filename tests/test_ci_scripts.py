"""The CI scripts parse: ``.ci/run`` (every CI run) and ``ci/gpu-check`` (run only
where a CUDA machine is lent, so a syntax slip there would go unseen for long)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script", [".ci/run", "ci/gpu-check"])
def test_ci_script_parses(script):
    result = subprocess.run(
        ["bash", "-n", str(ROOT / script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
