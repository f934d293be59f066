"""The benchmark commands run end to end in their tiny modes (CI runs no full one).

They run as subprocesses, as a user would run them, so that their thread settings and
imports stay out of this process.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # each starts a benchmark in a subprocess (5-10 s)


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def positive_numbers(tree) -> list[float]:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in positive_numbers(v)]
    if isinstance(tree, list):
        return [x for v in tree for x in positive_numbers(v)]
    return [float(tree)] if isinstance(tree, (int, float)) else []


def test_cpu_benchmark_tiny_mode_writes_tables_json_and_plots(tmp_path):
    pytest.importorskip(
        "matplotlib", reason="the benchmark's plots need matplotlib (xpnet[plot])"
    )
    proc = run_script("run.py", "--tiny", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OPENBLAS_CORETYPE" in proc.stdout  # the BLAS description is printed
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mode"] == "tiny"
    for dtype in ("float32", "float64"):
        found = results["training"][dtype]["contenders"]
        assert {"xpnet network loop", "hand-written NumPy"} <= set(found)
        for entry in found.values():
            assert 0 < entry["median_s"] < 60
            assert 0 < entry["gemm_fraction"]
    assert results["tiny_step"]["contenders"]["raw NumPy (seed)"]["us_per_step"] > 0
    assert results["scaling"]["batch_samples_per_s"]
    assert results["inference_samples_per_s"]
    memory = results["memory"]
    for entry in memory["contenders"].values():
        assert entry["peak_bytes"] >= memory["data_bytes"]
    numbers = positive_numbers(
        {k: results[k] for k in ("training", "tiny_step", "scaling")}
    )
    assert numbers and all(math.isfinite(x) and x >= 0 for x in numbers)
    for plot in ("scaling_batch.png", "scaling_width.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "### Targets" in (tmp_path / "results.md").read_text()


def test_gpu_benchmark_runs_on_the_cpu_with_numpy(tmp_path):
    proc = run_script(
        "gpu.py",
        "--backend",
        "numpy",
        "--tiny",
        "--rounds",
        "1",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "gpu-numpy.json").read_text())
    assert set(results["workloads"]) == {"wide", "mnist"}
    for res in results["workloads"].values():
        assert {"xpnet", "GEMMs alone"} <= set(res["ms_per_step"])
        assert all(ms > 0 for ms in res["ms_per_step"].values())
        assert res["xpnet_share_of_gemm_rate"] > 0
    assert "Targets (wide network, float32)" in proc.stdout


def test_compiled_against_eager_benchmark_runs_on_the_cpu():
    # numpy has no compiler: compile=True says so and runs eagerly; cupy is absent
    # here (a "skipped" row, exit 0); a backend that fails makes the exit 1
    proc = run_script(
        "gpu_compiled.py", "--backends", "numpy", "cupy", "--tiny", "--rounds", "1"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| numpy")]
    assert [row.split(" | ")[1] for row in rows] == [
        "compile=True (eager)",
        "compile=False (eager)",
    ]
    assert "| cupy | skipped: " in proc.stdout or "| cupy | compile=True" in proc.stdout


def test_sparse_benchmark_small_run():
    proc = run_script("sparse_input.py", "--rows", "2000", "--features", "3000")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dense float32 would be" in proc.stdout and "peak RSS" in proc.stdout


def test_no_benchmark_script_hides_an_installed_module():
    """Python puts a script's folder first on ``sys.path``: ``benchmarks/sparse.py``
    once hid the ``sparse`` package that ``dask.array`` imports, and
    ``benchmarks/distributed.py`` hid ``distributed`` from the Dask benchmark."""
    scripts = sorted(path.stem for path in (ROOT / "benchmarks").glob("*.py"))
    hidden = [name for name in scripts if importlib.util.find_spec(name) is not None]
    assert scripts and not hidden, f"benchmarks/ hides installed modules: {hidden}"


def test_dask_out_of_core_benchmark_small_run(tmp_path):
    pytest.importorskip("dask.array", reason="dask is the optional xpnet[dask]")
    pytest.importorskip("zarr", reason="zarr is the optional xpnet[dask-files]")
    figures_file = tmp_path / "figures.json"
    proc = run_script(
        "dask_out_of_core.py",
        "--tiny",
        "--store",
        str(tmp_path / "features.zarr"),
        "--json",
        str(figures_file),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    ooc, in_memory = figures["out_of_core"], figures["in_memory"]
    assert ooc["rows"] == figures["rows"] == 2 * in_memory["rows"]
    assert math.isfinite(ooc["loss"]) and math.isfinite(in_memory["loss"])
    assert ooc["peak_rss_mib"] > ooc["import_rss_mib"] > 0
    assert "in memory / out of core" in proc.stdout and "BLAS: " in proc.stdout


def test_torch_distributed_benchmark_small_run():
    pytest.importorskip("torch.distributed", reason="torch is not installed")
    proc = run_script("torch_distributed.py", "--tiny")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 processes (gloo), 1 thread each" in proc.stdout


def test_compiled_benchmark_tiny_run():
    pytest.importorskip("optax", reason="optax is not installed (the test extra)")
    proc = run_script("compiled.py", "--tiny", "--rounds", "1", "--epochs", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| 784")]
    assert len(rows) == 1 and rows[0].count(" ms |") == 2, proc.stdout
