"""The documentation: every public name has its API page, and the Python blocks of the
README and the user guide run, in order, each page in one namespace (as a reader
pasting them would)."""

from __future__ import annotations

import re
import textwrap
import warnings
from pathlib import Path

import pytest

import xpnet

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
API = DOCS / "api"
GUIDE = [ROOT / "README.md", *sorted((DOCS / "user_guide").glob("*.md"))]
# A block that cannot run here (a GPU, a cluster, a file of the reader's) follows a
# MyST comment line saying so: "% not run: needs a CUDA GPU".
BLOCK = re.compile(
    r"(?:^[ \t]*% not run: (?P<why>[^\n]*)\n)?"
    r"^[ \t]*```python\n(?P<code>.*?)^[ \t]*```",
    re.S | re.M,
)


def test_every_public_name_has_an_api_entry():
    entries = set()
    for page in API.glob("*.rst"):
        entries |= set(re.findall(r"^   ([\w.]+)$", page.read_text(), re.M))
    missing = [name for name in xpnet.__all__ if name not in entries]
    assert not missing, f"xpnet.__all__ names missing from docs/api/: {missing}"


def test_every_public_module_has_an_api_entry():
    entries = set()
    for page in API.glob("*.rst"):
        entries |= set(re.findall(r"^   (xpnet[\w.]+)$", page.read_text(), re.M))
    modules = {
        f"xpnet.{package}.{path.stem}"
        for package in ("maths", "testing")
        for path in (ROOT / "src" / "xpnet" / package).glob("[!_]*.py")
    }
    assert modules <= entries, sorted(modules - entries)


def blocks(page: Path) -> list[tuple[str, str | None]]:
    found = BLOCK.finditer(page.read_text())
    return [(textwrap.dedent(m["code"]), m["why"]) for m in found]


@pytest.mark.parametrize("page", GUIDE, ids=[p.stem for p in GUIDE])
def test_the_guide_s_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the examples write land here
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for number, (code, why) in enumerate(blocks(page)):
        if why is not None:
            continue
        compiled = compile(code, f"{page.name}, Python block {number + 1}", "exec")
        with warnings.catch_warnings():
            # A reader sees fit's "stopped at max_iter" warning; it is not an error.
            warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
            try:
                exec(compiled, namespace)  # the docs' own code; a raise fails the test
            except ModuleNotFoundError as error:  # an optional package the page uses
                pytest.skip(f"{page.name} needs {error.name}, which is not installed")
