"""xpnet's suite opts in to its own pytest plugin, :mod:`xpnet.testing.plugin`.

The plugin's fixtures are ``xpnet_backend`` and ``xpnet_xp`` (one run per backend that
can run here; ``--xpnet-backend NAME`` or ``XPNET_BACKENDS=numpy,torch`` narrow the
run). Inside this suite ``backend`` and ``xp`` are short aliases of them.
"""

from __future__ import annotations

from typing import Any

import pytest

from xpnet import Backend

pytest_plugins = ["xpnet.testing.plugin"]


@pytest.fixture
def backend(xpnet_backend: Backend) -> Backend:
    """The plugin's ``xpnet_backend``: one run per backend."""
    return xpnet_backend


@pytest.fixture
def xp(xpnet_xp: Any) -> Any:
    """The plugin's ``xpnet_xp``: the array namespace of ``backend``."""
    return xpnet_xp
