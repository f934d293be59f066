"""The CI scripts: ``.ci/run`` (every CI run) and ``ci/gpu-check`` (run only where a
CUDA machine is lent, so a slip there would go unseen for long) parse, and the tests
gpu-check selects pass where its machine's image lacks array-api-strict."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import junit_outcomes, run_pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", [".ci/run", "ci/gpu-check", "ci/min-versions"])
def test_ci_script_parses(script):
    result = subprocess.run(
        ["bash", "-n", str(ROOT / script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# The GPU machine's image has no array-api-strict (ci/gpu-check unpacks it from
# ci/wheels/, but the suite must not depend on that): gpu-check's selection,
# `-m xpnet_backend`, run here on numpy with the library made unimportable.
# The GPU-specific tests `-m xpnet_backend` must select (run once, not per backend).
GPU_TESTS = (
    "tests.test_backend::test_auto_falls_back_to_numpy_without_gpu",
    "tests.test_backend::test_bad_device_index_is_named[gpu:99]",
    "tests.test_backend::test_torch_cuda_without_gpu",
)


@pytest.mark.slow
def test_gpu_check_selection_passes_without_array_api_strict(tmp_path):
    report = tmp_path / "report.xml"
    result = run_pytest(
        ROOT,
        *("-q", "-rs", "-m", "xpnet_backend", "--xpnet-backend", "numpy"),
        *("--junitxml", str(report), "-o", "junit_family=xunit1"),
        blocked=("array_api_strict",),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    selected = junit_outcomes(report)
    for test in GPU_TESTS:
        assert test in selected, f"-m xpnet_backend does not select {test}"
    assert "array_api_strict" in result.stdout and "not installed" in result.stdout
