"""The ``xpnet`` pytest plugin from a user's side: pytest runs, in a subprocess, a small
project whose test file is the README's example (a registered activation tested on
every backend), plus the same example with a NumPy call planted in the activation."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from helpers import junit_outcomes, run_pytest

import xpnet
from xpnet.testing import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Testing your own code across backends"
GOOD_LINE = "    return xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0.0)"
PLANTED_LINE = "    return np.logaddexp(0.0, z)  # NumPy, where xp was meant"


def readme_example() -> str:
    """The first Python block of the README's section on testing across backends."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _entry_point_installed() -> bool:
    return any(
        ep.value == "xpnet.testing.plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A user's project: the README's example, and its value test with a planted bug."""
    if not _entry_point_installed():
        pytest.skip("xpnet is not installed, so pytest has no xpnet entry point")
    root = tmp_path_factory.mktemp("user_project")
    example = readme_example()
    assert GOOD_LINE in example
    (root / "test_softplus.py").write_text(example)
    values_only = example[: example.index("\n\ndef test_gradients_through_softplus")]
    planted = values_only.replace(GOOD_LINE, PLANTED_LINE).replace("softplus", "mine")
    (root / "test_planted.py").write_text(planted)
    return root


def available() -> dict[str, str]:
    """Each backend of the plugin: '' where it runs here, else why not."""
    reasons = {}
    for spec in BACKENDS:
        try:
            xpnet.get_backend(spec)
            reasons[spec] = ""
        except xpnet.BackendError as exc:
            reasons[spec] = str(exc)
    return reasons


# What the planted NumPy call does on each backend that runs on a CPU. torch and cupy
# arrays take NumPy's ufuncs (__array_wrap__, __array_ufunc__) and stay their own, so
# there the call happens to work; torch:cuda raises.
PLANTED = {
    "numpy": ("passed", ""),
    "array_api_strict": ("failure", "returned a NumPy ndarray at result, not an array"),
    "jax": ("failure", "returned a NumPy ndarray at result, not an array"),
    "array_api_strict:device1": ("failure", "(float64) raised RuntimeError"),
}


def test_the_readme_example_runs_on_every_backend_and_finds_a_planted_bug(project):
    result = run_pytest(
        project, "--junitxml", "report.xml", "-o", "junit_family=xunit1"
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    found = junit_outcomes(project / "report.xml")
    assert len(found) == 3 * len(BACKENDS), sorted(found)
    for spec, reason in available().items():
        readme = [
            found[f"test_softplus::{test}[{spec}]"]
            for test in (
                "test_softplus_matches_numpy",
                "test_gradients_through_softplus",
            )
        ]
        if reason:  # cannot run here: skipped, saying why
            for outcome, message in readme:
                assert outcome == "skipped", (spec, outcome, message)
                assert f"backend {spec!r} unavailable: {reason}" in message
            continue
        assert readme == [("passed", "")] * 2, (spec, readme)
        if spec in PLANTED:
            outcome, message = found[f"test_planted::test_mine_matches_numpy[{spec}]"]
            assert outcome == PLANTED[spec][0], (spec, message)
            if outcome == "failure":
                assert f"assert_close_to_numpy: mine on backend {spec!r}" in message
                assert PLANTED[spec][1] in message


def test_the_run_narrows_to_the_backends_asked_for_and_the_plugin_turns_off(project):
    both = run_pytest(
        project, "--co", "-q", "--backend", "jax", "test_softplus.py", backends="numpy"
    )
    ids = re.findall(r"\[([^\]]+)\]", both.stdout)
    assert sorted(ids) == ["jax", "jax", "numpy", "numpy"], both.stdout
    off = run_pytest(project, "--co", "-q", "-p", "no:xpnet", "test_softplus.py")
    assert "test_softplus.py::test_softplus_matches_numpy\n" in off.stdout, off.stdout
    assert "[" not in off.stdout  # no backend parameters without the plugin
