"""Sphinx configuration: the xpnet documentation site.

Built offline: ``sphinx-build -W --keep-going -b html docs docs/_build/html``. The
intersphinx inventories come from ``docs/_inventories/`` (see its README), never from
the network; the gallery runs the scripts in ``examples/`` at build time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the gallery draws without a display

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The source tree wins over an installed copy, as PYTHONPATH=src does for the tests.
sys.path.insert(0, str(ROOT / "src"))
# Examples and their figures are made on the CPU, one BLAS thread: seconds, not minutes.
os.environ.setdefault("XPNET_BACKEND", "numpy")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import xpnet  # noqa: E402

project = "xpnet"
author = "the xpnet developers"
copyright = "2026, the xpnet developers"  # noqa: A001
version = release = xpnet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "sphinx_design",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_inventories", "**.ipynb_checkpoints"]
default_role = "code"  # `name` in a page is literal text, as in the README

# MyST: Markdown pages with ``{directive}`` blocks, ``$math$`` and header anchors.
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

# API reference: one page per public name, generated from the docstrings.
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()

# Intersphinx, offline: inventories kept in the repository (docs/_inventories/).
_INV = DOCS / "_inventories"
intersphinx_mapping = {
    "numpy": ("https://numpy.org/doc/stable", str(_INV / "numpy.inv")),
    "sklearn": ("https://scikit-learn.org/stable", str(_INV / "sklearn.inv")),
    "dask": ("https://docs.dask.org/en/stable", str(_INV / "dask.inv")),
    "torch": ("https://pytorch.org/docs/stable", str(_INV / "torch.inv")),
}
intersphinx_timeout = 1

# The gallery: every examples/plot_*.py runs at build time and keeps its figures.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "reference_url": {"xpnet": None},
    "doc_module": ("xpnet",),
    "backreferences_dir": "api/generated/backreferences",
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 1,
}

html_theme = "pydata_sphinx_theme"
html_title = f"xpnet {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False
