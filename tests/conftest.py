"""xpnet's suite runs on its own pytest plugin, :mod:`xpnet.testing.plugin`.

The plugin gives the ``backend`` and ``xp`` fixtures (one run per backend that can run
here; ``--backend NAME`` or ``XPNET_BACKENDS=numpy,torch`` narrow the run). pytest
loads it through the ``pytest11`` entry point when xpnet is installed; run from a
source tree only (``PYTHONPATH=src``, as ``ci/gpu-check`` does) it is registered here.
"""

from __future__ import annotations

import pytest

from xpnet.testing import plugin
from xpnet.testing.plugin import selected_backends

__all__ = ["selected_backends"]  # for test modules that import it from conftest


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager):
    # Runs while this conftest loads, before the command line is parsed: the
    # plugin's own pytest_addoption (a historic hook) then still adds --backend.
    if not pluginmanager.has_plugin("xpnet") and not pluginmanager.is_blocked("xpnet"):
        pluginmanager.register(plugin, "xpnet")
