"""The CI scripts: ``.ci/run`` (every CI run) and ``ci/gpu-check`` (run only where a
CUDA machine is lent, so a slip there would go unseen for long) parse, and the tests
gpu-check selects pass where its machine's image lacks array-api-strict."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script", [".ci/run", "ci/gpu-check"])
def test_ci_script_parses(script):
    result = subprocess.run(
        ["bash", "-n", str(ROOT / script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# The GPU machine's image has no array-api-strict (ci/gpu-check installs it from
# ci/wheels/, but the suite must not depend on that): gpu-check's selection,
# `-m backend`, run here on numpy with the library made unimportable.
_WITHOUT_STRICT = (
    "import sys; sys.modules['array_api_strict'] = None; import pytest; "
    "sys.exit(pytest.main(sys.argv[1:]))"
)
# The GPU-specific tests `-m backend` must select (they run once, not per backend).
GPU_TESTS = (
    "test_backend.py::test_auto_falls_back_to_numpy_without_gpu",
    "test_backend.py::test_cupy_device_that_does_not_exist",
    "test_backend.py::test_torch_cuda_without_gpu",
)


def test_gpu_check_selection_passes_without_array_api_strict(tmp_path):
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XPNET_BACKEND")}
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_STRICT, "-q", "-m", "backend"]
        + ["--backend", "numpy", "-p", "no:cacheprovider", "-rs"]
        + ["--junitxml", str(report), "-o", "junit_family=xunit1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    cases = ElementTree.parse(report).getroot().iter("testcase")
    names = {
        f"{c.get('file', '').removeprefix('tests/')}::{c.get('name')}" for c in cases
    }
    for test in GPU_TESTS:
        assert test in names, f"-m backend does not select {test}"
    assert "array_api_strict" in result.stdout and "not installed" in result.stdout
