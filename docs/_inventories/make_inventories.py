"""Write the intersphinx inventories that ``docs/conf.py`` reads, offline.

The projects' own ``objects.inv`` files cannot be downloaded where xpnet's docs are
built, so this script makes small ones from the installed packages: the public names
of the modules listed below, each pointing at the URL its project's documentation gives
that name (the URL patterns are in ``PROJECTS``). Run it from the repository root after
installing the packages (``pip install -e ".[docs,test,sklearn]"`` and torch), then
commit the ``*.inv`` files:

    python docs/_inventories/make_inventories.py
"""

from __future__ import annotations

import importlib
import inspect
import warnings
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# project file -> (project name, package, [(module, uri pattern for a name in it)]);
# "$" in a pattern stands for the object's full dotted name.
PROJECTS = {
    "numpy": (
        "NumPy",
        "numpy",
        [
            ("numpy", "reference/generated/$.html#$"),
            ("numpy.linalg", "reference/generated/$.html#$"),
            ("numpy.random", "reference/random/generator.html#$"),
        ],
    ),
    "sklearn": (
        "scikit-learn",
        "sklearn",
        [
            (f"sklearn.{m}", "modules/generated/$.html#$")
            for m in (
                "base",
                "datasets",
                "exceptions",
                "metrics",
                "model_selection",
                "neural_network",
                "pipeline",
                "preprocessing",
            )
        ],
    ),
    "dask": (
        "Dask",
        "dask",
        [
            ("dask", "api.html#$"),
            ("dask.array", "generated/$.html#$"),
            ("dask.dataframe", "generated/$.html#$"),
        ],
    ),
    "torch": (
        "PyTorch",
        "torch",
        [
            ("torch", "generated/$.html#$"),
            ("torch.nn", "generated/$.html#$"),
            ("torch.optim", "generated/$.html#$"),
            ("torch.distributed", "distributed.html#$"),
        ],
    ),
}
# Names whose page does not follow their module's pattern.
SPECIAL = {
    "numpy.ndarray": "reference/generated/numpy.ndarray.html#numpy.ndarray",
    "torch.Tensor": "tensors.html#torch.Tensor",
}


def public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return sorted(n for n in names if not n.startswith("_"))


def role_of(obj) -> str | None:
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    if inspect.ismodule(obj):
        return None
    return "data"


def entries(package_name: str, modules) -> list[str]:
    lines = []
    seen = set()
    for module_name, pattern in modules:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            try:
                obj = getattr(module, name)
            except (AttributeError, ImportError):
                continue
            role = role_of(obj)
            full = f"{module_name}.{name}"
            if role is None or full in seen:
                continue
            seen.add(full)
            # Sphinx expands "$" only at the end of a location: write it out.
            uri = SPECIAL.get(full, pattern).replace("$", full)
            lines.append(f"{full} py:{role} 1 {uri} -")
            if role == "class" and module_name.startswith("sklearn."):
                for member in sorted(dir(obj)):
                    if not member.startswith("_") and callable(getattr(obj, member)):
                        page = uri.replace(f"#{full}", f"#{full}.{member}")
                        lines.append(f"{full}.{member} py:method 1 {page} -")
    return lines


def write(path: Path, project: str, version: str, lines: list[str]) -> None:
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "\n".join(sorted(set(lines))) + "\n"
    path.write_bytes(header.encode() + zlib.compress(body.encode(), 9))


def main() -> None:
    warnings.simplefilter("ignore")  # deprecated names still imported by dir()
    for stem, (project, package_name, modules) in PROJECTS.items():
        package = importlib.import_module(package_name)
        lines = entries(package_name, modules)
        version = ".".join(package.__version__.split("+")[0].split(".")[:2])
        write(HERE / f"{stem}.inv", project, version, lines)
        print(f"{stem}.inv: {len(lines)} names ({project} {version})")


if __name__ == "__main__":
    main()
