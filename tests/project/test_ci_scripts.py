"""The CI scripts: ``.ci/run`` (every CI run) and ``ci/gpu-check`` (run only where a
CUDA machine is lent, so a slip there would go unseen for long) parse, and the tests
gpu-check selects pass where its machine's image lacks array-api-strict."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
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


def _semantic_mutants():
    spec = importlib.util.spec_from_file_location(
        "semantic_mutants", ROOT / "ci" / "semantic_mutants.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_semantic_mutant_applies_to_this_tree():
    """Each mutant's snippet is found exactly once (a stale one would be reported
    "not applicable" by ci/semantic_mutants.py, so it is caught here instead), and
    each names tests that exist."""
    mutants = _semantic_mutants()
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) == len(set(names)) and len(names) >= 22
    for item in "1234567":
        assert any(name.startswith(item) for name in names), f"issue 27 item {item}"
    for mutant in mutants.MUTANTS:
        site, why = mutants.locate(ROOT, mutant)
        assert site is not None, f"{mutant.name}: {why}"
        assert any((ROOT / t).exists() for t in mutant.tests), mutant.name


@pytest.mark.slow
def test_semantic_mutants_plant_in_a_copy_and_report(capsys):
    mutants = _semantic_mutants()
    reader = ROOT / "src" / "xpnet" / "files" / "tensor_file.py"
    before = reader.read_bytes()
    assert mutants.main(["-k", "7a-"]) == 0
    out = capsys.readouterr().out
    assert "caught          7a-reader-lets-oserror-escape" in out
    assert "1 caught, 0 survived, 0 not applicable: score 1/1 = 100%" in out
    assert reader.read_bytes() == before, "the working tree is never touched"
