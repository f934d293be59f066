"""The CI scripts: ``.ci/run`` (every CI run) and ``ci/gpu-check`` (run only where a
CUDA machine is lent, so a slip there would go unseen for long) parse, and the tests
gpu-check selects pass where its machine's image lacks array-api-strict."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

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


def _ci_module(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "ci" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _semantic_mutants():
    return _ci_module("semantic_mutants")


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


def _mutmut_batches_on(tmp_path, monkeypatch):
    """ci/mutmut_batches.py on a ``mutants/`` of three maths mutants with no verdict."""
    batches = _ci_module("mutmut_batches")
    mutants = tmp_path / "mutants"
    meta = mutants / "src" / "xpnet" / "maths" / "losses.py.meta"
    meta.parent.mkdir(parents=True)
    names = [f"xpnet.maths.losses.x_mse__mutmut_{i}" for i in (1, 2, 3)]
    meta.write_text(json.dumps({"exit_code_by_key": dict.fromkeys(names)}))
    for constant, path in [
        ("MUTANTS", mutants),
        ("HUNG", mutants / "hung.txt"),
        ("PRESCREENED", mutants / "prescreened.txt"),
        ("STATS", mutants / "mutmut-stats.json"),
        ("FRESH", mutants / "fresh.txt"),
    ]:
        monkeypatch.setattr(batches, constant, path)
    return batches, names


def test_mutmut_batches_list_a_mutant_that_hangs_alone_and_go_on(tmp_path, monkeypatch):
    """A batch out of time is retried from its first mutant without a verdict, alone;
    out of time again, that mutant is listed as hung and never asked again."""
    batches, names = _mutmut_batches_on(tmp_path, monkeypatch)
    asked = []

    def fake_mutmut(batch, timeout, children):
        asked.append((batch, timeout))
        if names[1] in batch:
            batches.set_verdicts({k: 1 for k in batch if k != names[1]})
            return False
        batches.set_verdicts(dict.fromkeys(batch, 1))
        return True

    monkeypatch.setattr(batches, "run_batch", fake_mutmut)
    args = batches.argparse.Namespace(batch=3, timeout=100, children=1, prescreen=False)
    batches.run_folder("maths", args)
    assert asked == [(names, 100), ([names[1]], 25)]
    assert batches.HUNG.read_text().split() == [names[1]]
    assert batches.pending(("maths",)) == []


def test_mutmut_fresh_rejudges_survivors_and_unreached_mutants_each_in_a_process(
    tmp_path, monkeypatch, capsys
):
    """``--fresh PREFIX --tests ...``: each survivor or unreached mutant under PREFIX
    runs the given tests in a pytest process of its own, with the mutated copy on the
    path and the deselected tests back; its verdict replaces mutmut's, once."""
    batches, names = _mutmut_batches_on(tmp_path, monkeypatch)
    other = "xpnet.maths.metrics.x_r2__mutmut_1"
    meta = batches.MUTANTS / "src" / "xpnet" / "maths" / "losses.py.meta"
    codes = dict(zip(names, (0, 33, 1), strict=True)) | {other: 0}
    meta.write_text(json.dumps({"exit_code_by_key": codes}))
    runs = []

    def fake_run(command, cwd, env, capture_output, timeout):
        runs.append(env["MUTANT_UNDER_TEST"])
        assert command[-2:] == ["tests/maths", "-m not slow"]
        assert env["PYTHONPATH"] == str(batches.MUTANTS / "src")
        assert "PYTEST_ADDOPTS" not in env
        if env["MUTANT_UNDER_TEST"] == names[1]:
            raise subprocess.TimeoutExpired(command, timeout)
        return SimpleNamespace(returncode=1, stdout=b"")

    monkeypatch.setattr(batches.subprocess, "run", fake_run)
    argv = ["--fresh", "xpnet.maths.losses", "--tests", "tests/maths '-m not slow'"]
    assert batches.main(argv) == 0
    assert runs == names[:2], "the killed mutant and the other module are left be"
    verdicts = batches.verdicts()
    assert [verdicts[k] for k in names] == [1, 36, 1] and verdicts[other] == 0
    assert batches.FRESH.read_text().split() == names[:2]
    assert "(2 in a fresh process)" in capsys.readouterr().out
    batches.main(argv)
    assert runs == names[:2], "a mutant judged afresh is not asked again"
    with pytest.raises(SystemExit):
        batches.main(["--fresh", "xpnet.maths"])  # no tests to run


def test_mutmut_prescreen_keeps_kills_and_leaves_survivors_for_a_full_run(
    tmp_path, monkeypatch
):
    """``ci/mutmut_batches.py --prescreen``: mutmut sees only ``tests/maths/`` for a
    maths function (the whole list where none of those reach it, and for other
    folders); a kill keeps its verdict, a survivor loses it and is listed, so that a
    plain run gives it its full verdict; mutmut's stats are restored."""
    batches, names = _mutmut_batches_on(tmp_path, monkeypatch)
    tests = {
        "xpnet.maths.losses.x_mse": [
            "tests/maths/test_a.py::t",
            "tests/test_mlp.py::t",
        ],
        "xpnet.maths.flat.x_pack": ["tests/test_mlp.py::t"],
        "xpnet.files.atomic.x_write": [
            "tests/maths/test_a.py::t",
            "tests/files/f.py::t",
        ],
    }
    stats = json.dumps(
        {"tests_by_mangled_function_name": tests, "duration_by_test": {}}
    )
    batches.STATS.write_text(stats)
    seen = []

    def fake_mutmut(batch, timeout, children):
        seen.append(
            json.loads(batches.STATS.read_text())["tests_by_mangled_function_name"]
        )
        codes = {batch[0]: 1, batch[1]: batches.SURVIVED, batch[2]: 36}  # 36: timeout
        batches.set_verdicts(codes)
        return True

    monkeypatch.setattr(batches, "run_batch", fake_mutmut)
    assert batches.run_prescreened(names, "maths", 60, 1)
    assert seen == [tests | {"xpnet.maths.losses.x_mse": ["tests/maths/test_a.py::t"]}]
    assert batches.STATS.read_text() == stats
    assert batches.verdicts() == {names[0]: 1, names[1]: None, names[2]: 36}
    assert batches.PRESCREENED.read_text().split() == [names[1]]
    assert batches.pending(("maths",), prescreen=True) == []
    assert batches.pending(("maths",)) == [names[1]]


def test_mutmut_runs_a_mutants_tests_quickest_first(tmp_path, monkeypatch):
    """``ci/mutmut_fastest_first.py`` orders the tests by mutmut's recorded durations
    (those it has none for last, in their order), and leaves them be before mutmut's
    stats run has written any."""
    plugin = _ci_module("mutmut_fastest_first")
    monkeypatch.chdir(tmp_path)
    items = [
        SimpleNamespace(nodeid=name) for name in ("slow", "unknown", "quick", "new")
    ]
    plugin.pytest_collection_modifyitems(items)
    assert [item.nodeid for item in items] == ["slow", "unknown", "quick", "new"]
    durations = {"slow": 2.0, "quick": 0.1}
    (tmp_path / "mutmut-stats.json").write_text(
        json.dumps({"duration_by_test": durations})
    )
    plugin.pytest_collection_modifyitems(items)
    assert [item.nodeid for item in items] == ["quick", "slow", "unknown", "new"]


def test_mutmut_workers_load_the_quickest_first_plugin():
    """mutmut's workers get the plugin by name, with ``ci/`` on their path."""
    batches = _ci_module("mutmut_batches")
    assert "-p mutmut_fastest_first" in batches.FORK_SAFE["PYTEST_ADDOPTS"]
    assert (ROOT / "ci" / "mutmut_fastest_first.py").exists()


def test_mutmut_batches_names_its_own_exit_codes_as_mutmut_does():
    """The exit codes the script writes are named without mutmut (CI lacks it), with
    mutmut's own names."""
    stats = pytest.importorskip("mutmut.stats", reason="mutmut (the mutation extra)")
    batches = _ci_module("mutmut_batches")
    for code, name in batches.OWN_STATUSES.items():
        assert stats.status_by_exit_code[code] == name
