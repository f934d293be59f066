"""ci/gpu_sync.py (gpu-check's warm-up and no-wait parts) on the CPU: its parts skip
without a GPU, its step hook sees every step, and its spin-kernel counter (run on a
fake CuPy) reports a step that waited and none where none did."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ci" / "gpu_sync.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_sync", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("part", ["warm-up", "torch", "cupy"])
def test_parts_skip_without_their_gpu(part):
    gpu_sync = load_script()
    if gpu_sync.backend_or_none("cupy") or gpu_sync.backend_or_none("torch:cuda"):
        pytest.skip("a GPU is present: ci/gpu-check runs these parts")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), part],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stdout


def test_step_hook_sees_every_step():
    gpu_sync = load_script()
    calls = []
    with gpu_sync.after_each_step(lambda: calls.append("step")):
        gpu_sync.fit("numpy", {"solver": "sgd", "momentum": 0.0})  # apply_flat
        gpu_sync.fit("numpy", {})  # step_flat
    assert calls == ["step"] * 40
    assert gpu_sync.count_steps("numpy", {}) == 20


class FakeTorch:
    """Records the sync-debug mode at each step's end; raises in "error" mode
    when ``sync_in_step`` (the step that would synchronize)."""

    def __init__(self, sync_in_step=None):
        self.modes, self.sync_in_step = [], sync_in_step
        fake = self

        class cuda:  # noqa: N801 (torch's name)
            @staticmethod
            def set_sync_debug_mode(mode):
                fake.modes.append(mode)

        self.cuda = cuda


@pytest.mark.parametrize("sync_in_step", [None, 5])
def test_torch_part_checks_steps_two_to_n(monkeypatch, capsys, sync_in_step):
    gpu_sync = load_script()
    fit, torch, steps = gpu_sync.fit, FakeTorch(), [0]

    def synchronizing_step():  # a sync in the step after step 5, if asked
        steps[0] += 1
        if steps[0] == sync_in_step and torch.modes[-1:] == ["error"]:
            raise RuntimeError("called a synchronizing CUDA operation")

    def fit_on_numpy(spec, case):
        steps[0] = 0
        with gpu_sync.after_each_step(synchronizing_step):
            return fit("numpy", case)

    monkeypatch.setattr(gpu_sync, "fit", fit_on_numpy)
    passed = gpu_sync.strict_fit(torch, "adam", {})
    assert passed == (sync_in_step is None)
    if passed:
        assert torch.modes == ["error"] * 19 + ["default", "default"]
    else:
        assert "FAILED" in capsys.readouterr().out
        assert torch.modes[-1] == "default"  # restored after the failure


class FakeCupy:
    """A spin kernel that the fake 'device' finishes at once when ``host_waits``."""

    def __init__(self, host_waits: bool) -> None:
        self.host_waits = host_waits
        fake = self

        class Event:
            def __init__(self, disable_timing=False):
                self.done = False

            def record(self):
                self.done = fake.host_waits

        self.cuda = type("cuda", (), {"Event": Event})

    def RawKernel(self, source, name):  # noqa: N802 (CuPy's name)
        assert "clock64" in source
        return lambda grid, block, args: None


@pytest.mark.parametrize("host_waits", [False, True])
def test_spin_counter_reports_waits(host_waits):
    gpu_sync = load_script()
    with gpu_sync.spin_probe(FakeCupy(host_waits)) as counts:
        gpu_sync.fit("numpy", {})
    assert counts == {"steps": 19, "waited": 19 if host_waits else 0}
