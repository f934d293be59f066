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
    # transfers: host/device edges; memory: out-of-memory errors and sizes; caller:
    # warnings that name the line that called into xpnet
    ("backend", {"backend", "transfers", "memory", "_version", "caller"}),
    ("files", {"files"}),
    # dask: Dask collections as data (the intake describes them, a block source
    # loads them); it needs no training
    ("top level", {"data", "dask", "init", "mlp", "walkthrough", "check"}),
    ("testing", {"testing"}),  # the pytest plugin and assertions: the library never
    # imports them, so nothing above uses them either
    ("training", {"training"}),
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
            # from .. import name: the modules named, else the package's attributes
            named = [f"{module}.{a.name}" for a in node.names if not node.module]
            modules = [name for name in named if _known(name)]
            found += [(node.lineno, name) for name in modules or [module]]
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


# ---- sizes, cycles and private reads (issue 21) ----------------------------------

MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
# argparse tables: declarations, not logic
LONG_MODULES_ALLOWED = {"xpnet/command/cli.py"}


def _declaration(node: ast.AST) -> bool:
    """An argparse declaration statement (``parser.add_argument(...)`` and kin)."""
    call = getattr(node, "value", None)
    return (
        isinstance(node, (ast.Expr, ast.Assign))
        and isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr.startswith("add_")
    )


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """Lines of a function that hold code: not its docstring, blank lines, comments
    or argparse declarations."""
    skip: set[int] = set()
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        skip |= set(range(first.lineno, first.end_lineno + 1))
    for inner in ast.walk(node):
        if _declaration(inner):
            skip |= set(range(inner.lineno, inner.end_lineno + 1))
    return sum(
        1
        for number in range(node.lineno, node.end_lineno + 1)
        if number not in skip
        and lines[number - 1].strip()
        and not lines[number - 1].strip().startswith("#")
    )


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_no_module_is_too_long_to_read_in_one_sitting(path):
    n_lines = len(path.read_text().splitlines())
    if _name(path) not in LONG_MODULES_ALLOWED:
        assert n_lines <= MAX_MODULE_LINES, f"{_name(path)}: {n_lines} lines"


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_no_function_is_longer_than_60_code_lines(path):
    lines = path.read_text().splitlines()
    long = [
        f"{node.name} (line {node.lineno}): {code_lines(node, lines)}"
        for node in ast.walk(ast.parse("\n".join(lines)))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and code_lines(node, lines) > MAX_FUNCTION_LINES
    ]
    assert not long, f"{_name(path)}: functions over {MAX_FUNCTION_LINES}: {long}"


def _module_of(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: pathlib.Path) -> set[str]:
    """xpnet modules ``path`` imports when run (lazy ones too), leaving out imports
    under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    package = ["xpnet", *path.relative_to(PACKAGE).parent.parts]
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *filter(None, [node.module])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return {m for m in found if m.split(".")[0] == "xpnet" and _is_module(m)}


def _is_module(module: str) -> bool:
    parts = module.split(".")[1:]
    return PACKAGE.joinpath(*parts).with_suffix(".py").exists() or (
        bool(parts) and PACKAGE.joinpath(*parts, "__init__.py").exists()
    )


def import_cycles(sources: list[pathlib.Path]) -> list[list[str]]:
    """Cycles of runtime imports between the files ``sources`` (each cycle once)."""
    graph = {_module_of(p): _runtime_imports(p) for p in sources}
    cycles, done = [], set()

    def visit(module: str, stack: list[str]) -> None:
        if module in stack:
            cycle = stack[stack.index(module) :]
            key = frozenset(cycle)
            if key not in done:
                done.add(key)
                cycles.append([*cycle, module])
            return
        if module in finished:
            return
        for target in sorted(graph.get(module, ())):
            if target != module and not module.startswith(f"{target}."):
                visit(target, [*stack, module])
        finished.add(module)

    finished: set[str] = set()
    for module in sorted(graph):
        visit(module, [])
    return cycles


def test_no_import_cycle_between_files():
    cycles = import_cycles(SOURCES)
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_cycle_hidden_in_a_function(tmp_path, monkeypatch):
    room = tmp_path / "xpnet" / "training"
    room.mkdir(parents=True)
    (room / "a.py").write_text("from . import b\n")
    (room / "b.py").write_text("def f():\n    from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "xpnet")
    assert import_cycles(sorted(room.glob("*.py"))) == [
        ["xpnet.training.a", "xpnet.training.b", "xpnet.training.a"]
    ]


def _private_estimator_members() -> set[str]:
    """Private names the estimator classes define (their own and their mixins')."""
    import xpnet.estimators.base as base

    names: set[str] = set()
    for cls in (xpnet.MLPClassifier, xpnet.MLPRegressor):
        for klass in cls.__mro__:
            if klass.__module__.startswith("xpnet.estimators"):
                names |= {n for n in vars(klass) if n.startswith("_")}
    names |= {n for n in vars(base.MLPBase) if n.startswith("_")}
    return {n for n in names if not (n.startswith("__") and n.endswith("__"))}


# ``_export``/``_import``: the model-file protocol every model (MLP too) speaks to
# xpnet.files.model_file, not an estimator's internals.
MODEL_FILE_PROTOCOL = {"_export", "_import"}


def private_reads(path: pathlib.Path, members: set[str]) -> list[str]:
    """``obj._member`` reads of the estimators' private members in ``path``
    (attributes of ``self`` aside: a class's own)."""
    return [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr in members - MODEL_FILE_PROTOCOL
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES if "estimators" not in p.relative_to(PACKAGE).parts],
    ids=_name,
)
def test_no_private_estimator_member_is_read_outside_the_estimators(path):
    reads = private_reads(path, _private_estimator_members())
    assert not reads, f"{_name(path)} reads estimator internals: {reads}"


def test_the_private_read_check_sees_one(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("def f(model):\n    return model._store(None)\n")
    assert private_reads(planted, {"_store"}) == ["line 2: model._store"]
