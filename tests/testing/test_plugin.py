"""The pytest plugin from a user's side: pytest runs, in a subprocess, a small project
whose test file is the docs' example (a registered activation tested on every
backend), plus the same example with a NumPy call planted in the activation; and a
project of its own that never asked for the plugin, which must not notice xpnet."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from helpers import junit_outcomes, run_pytest

import xpnet
from xpnet.testing import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "user_guide" / "testing.md"
GOOD_LINE = "    return xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0.0)"
PLANTED_LINE = "    return np.logaddexp(0.0, z)  # NumPy, where xp was meant"


def docs_example() -> str:
    """The test file of the docs page on testing across backends (its first Python
    block that defines tests)."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    return next(block for block in blocks if "\ndef test_" in block)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A user's project: the docs' example, and its value test with a planted bug."""
    root = tmp_path_factory.mktemp("user_project")
    (root / "conftest.py").write_text('pytest_plugins = ["xpnet.testing.plugin"]\n')
    example = docs_example()
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


@pytest.mark.slow
def test_the_docs_example_runs_on_every_backend_and_finds_a_planted_bug(project):
    result = run_pytest(
        project, "--junitxml", "report.xml", "-o", "junit_family=xunit1"
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    found = junit_outcomes(project / "report.xml")
    here = [spec for spec, reason in available().items() if not reason]
    assert len(found) == 3 * len(here), sorted(found)  # absent backends left out
    for spec, reason in available().items():
        if reason:
            assert not any(f"[{spec}]" in name for name in found), spec
            assert f"{spec} (" in result.stdout  # named once in the header
            continue
        example = [
            found[f"test_softplus::{test}[{spec}]"]
            for test in (
                "test_softplus_matches_numpy",
                "test_gradients_through_softplus",
            )
        ]
        assert example == [("passed", "")] * 2, (spec, example)
        if spec in PLANTED:
            outcome, message = found[f"test_planted::test_mine_matches_numpy[{spec}]"]
            assert outcome == PLANTED[spec][0], (spec, message)
            if outcome == "failure":
                assert f"assert_close_to_numpy: mine on backend {spec!r}" in message
                assert PLANTED[spec][1] in message


def test_the_run_narrows_to_the_backends_asked_for(project):
    both = run_pytest(
        project,
        "--co",
        "-q",
        "--xpnet-backend",
        "jax",
        "test_softplus.py",
        backends="numpy",
    )
    ids = re.findall(r"\[([^\]]+)\]", both.stdout)
    assert sorted(ids) == ["jax", "jax", "numpy", "numpy"], both.stdout


@pytest.mark.parametrize(
    "option, env",
    [
        (("--xpnet-backend", "toch"), ""),
        (("--xpnet-backend", ""), ""),
        ((), "numpy;torch"),
        ((), "numpy,,torch"),
    ],
    ids=["typo", "empty name", "wrong separator", "empty item"],
)
def test_a_name_that_is_no_backend_is_a_usage_error(project, option, env):
    result = run_pytest(project, "-q", *option, "test_softplus.py", backends=env)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout
    assert "is not a backend; choose from numpy" in result.stderr, result.stderr


OWN_PROJECT = {
    "conftest.py": """
        import pytest

        def pytest_addoption(parser):
            parser.addoption("--backend", default="sqlite")

        @pytest.fixture
        def backend(request):
            return request.config.getoption("--backend")
        """,
    "test_own.py": """
        import pytest

        def test_uses_its_own_backend_fixture(backend):
            assert backend == "sqlite"

        @pytest.mark.parametrize("backend", ["a", "b"])
        def test_parametrizes_backend_itself(backend):
            assert backend in "ab"

        @pytest.mark.parametrize("xp", [1])
        def test_parametrizes_xp_itself(xp):
            assert xp == 1
        """,
}


@pytest.mark.slow
def test_a_project_that_did_not_ask_for_the_plugin_does_not_notice_it(tmp_path):
    for name, text in OWN_PROJECT.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    result = run_pytest(
        tmp_path, "-q", "-rA", "--junitxml", "report.xml", "-o", "junit_family=xunit1"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    found = junit_outcomes(tmp_path / "report.xml")
    assert sorted(found) == [
        "test_own::test_parametrizes_backend_itself[a]",
        "test_own::test_parametrizes_backend_itself[b]",
        "test_own::test_parametrizes_xp_itself[1]",
        "test_own::test_uses_its_own_backend_fixture",
    ]
    assert set(found.values()) == {("passed", "")}
    assert "xpnet" not in result.stdout  # no header line, no option, no marker
    help_text = run_pytest(tmp_path, "--help").stdout
    assert "--xpnet-backend" not in help_text and "--backend=BACKEND" in help_text
