"""The documentation: every public name has its API page, and the Python blocks of the
README and the user guide run, in order, each page in one namespace (as a reader
pasting them would)."""

from __future__ import annotations

import re
import textwrap
import warnings
import zlib
from pathlib import Path

import pytest

import xpnet
from xpnet.maths import activations, losses

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
    # Pages register activations and losses ("softplus"): the registries are global,
    # so each page's registrations end with it.
    monkeypatch.setattr(activations, "ACTIVATIONS", dict(activations.ACTIVATIONS))
    monkeypatch.setattr(losses, "LOSSES", dict(losses.LOSSES))
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


def inventory(path: Path) -> dict[str, str]:
    """An objects.inv file's names and their locations (Sphinx's format, version 2)."""
    raw = path.read_bytes()
    header_end = 0
    for _ in range(4):  # four header lines, then the zlib stream
        header_end = raw.index(b"\n", header_end) + 1
    entries = {}
    for line in zlib.decompress(raw[header_end:]).decode().splitlines():
        name, _domain_role, _priority, location, _display = line.split(" ", 4)
        entries[name] = location
    return entries


@pytest.mark.parametrize(
    ("stem", "name", "page"),
    [
        ("numpy", "numpy.ndarray", "reference/generated/numpy.ndarray.html"),
        ("sklearn", "sklearn.pipeline.Pipeline", "modules/generated/"),
        ("dask", "dask.array.from_zarr", "generated/dask.array.from_zarr.html"),
        ("torch", "torch.distributed.all_reduce", "distributed.html"),
    ],
)
def test_the_offline_inventories_point_at_real_pages(stem, name, page):
    entries = inventory(DOCS / "_inventories" / f"{stem}.inv")
    assert entries[name].startswith(page), entries[name]
    # Sphinx expands "$" only at the end of a location; one anywhere else is a
    # broken link (it was, in the first version of these files).
    assert not [n for n, location in entries.items() if "$" in location]
