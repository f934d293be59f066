"""The package's layering: each folder imports only the layers below it.

Every ``import`` in ``src/xpnet`` (lazy ones inside functions too) is read from the
source and resolved to an absolute module name, then checked against :data:`LAYERS`.
The maths folder may import only itself and the standard library (so no NumPy, no
array library at all: the namespace is handed to it).
"""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

import xpnet

PACKAGE = pathlib.Path(xpnet.__file__).parent

# Bottom to top; a module may import its own layer and those before it.
LAYERS = [
    ("maths", {"maths"}),
    ("backend", {"backend", "_version"}),
    ("files", {"files"}),
    ("top level", {"data", "init", "mlp", "walkthrough", "check"}),
    ("testing", {"testing"}),  # the pytest plugin and assertions: the library never
    # imports them, so nothing above uses them either
    ("training", {"training"}),
    ("dask", {"dask"}),
    ("estimators", {"estimators"}),
    ("command", {"command"}),
]
# The package's public face and entry point sit above every layer.
ENTRY_POINTS = {"xpnet/__init__.py", "xpnet/__main__.py"}


def _rank(module: str) -> int:
    """The layer index of an absolute ``xpnet.*`` module name."""
    parts = module.split(".")
    if parts == ["xpnet"]:
        return len(LAYERS)  # the root package imports everything
    for rank, (_, rooms) in enumerate(LAYERS):
        if parts[1] in rooms:
            return rank
    raise AssertionError(f"{module} belongs to no layer of LAYERS; add it")


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in ``path``, relative ones resolved."""
    package = ["xpnet", *path.relative_to(PACKAGE).parent.parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *filter(None, [node.module])])
            found.append((node.lineno, module))
            if (
                node.level and not node.module
            ):  # from .. import name: name may be a module
                found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def _name(path: pathlib.Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def _known(module: str) -> bool:
    """True for modules that exist (``from .. import name`` may name an attribute)."""
    parts = module.split(".")
    return (PACKAGE.joinpath(*parts[1:]).with_suffix(".py").exists()) or (
        PACKAGE.joinpath(*parts[1:]).is_dir()
    )


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_each_module_imports_only_its_layer_and_those_below(path):
    if _name(path) in ENTRY_POINTS:
        return
    own = ".".join(["xpnet", *path.relative_to(PACKAGE).with_suffix("").parts])
    rank = _rank(own)
    upward = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[0] == "xpnet" and _known(module) and _rank(module) > rank
    ]
    assert not upward, f"{_name(path)} ({LAYERS[rank][0]}) imports upward: {upward}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "maths").rglob("*.py")), ids=_name)
def test_the_maths_imports_only_itself_and_the_standard_library(path):
    outside = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if not module.startswith("xpnet.maths")
        and module.split(".")[0] not in sys.stdlib_module_names
    ]
    assert not outside, f"{_name(path)} must use only the xp it is handed: {outside}"


def test_the_layer_check_sees_an_upward_import(tmp_path, monkeypatch):
    """A planted upward import (training -> estimators) is reported, with its line."""
    room = tmp_path / "xpnet" / "training"
    room.mkdir(parents=True)
    planted = room / "planted.py"
    planted.write_text("import math\n\nfrom ..estimators import base\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "xpnet")
    (tmp_path / "xpnet" / "estimators").mkdir()
    (tmp_path / "xpnet" / "estimators" / "base.py").write_text("")
    with pytest.raises(AssertionError, match=r"line 3: xpnet\.estimators"):
        test_each_module_imports_only_its_layer_and_those_below(planted)
    with pytest.raises(AssertionError, match=r"must use only the xp"):
        maths = tmp_path / "xpnet" / "maths"
        maths.mkdir()
        (maths / "bad.py").write_text("import numpy as np\n")
        test_the_maths_imports_only_itself_and_the_standard_library(maths / "bad.py")
