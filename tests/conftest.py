"""xpnet's suite opts in to its own pytest plugin, :mod:`xpnet.testing.plugin`.

The plugin's fixtures are ``xpnet_backend`` and ``xpnet_xp`` (one run per backend that
can run here; ``--xpnet-backend NAME`` or ``XPNET_BACKENDS=numpy,torch`` narrow the
run). Inside this suite ``backend`` and ``xp`` are short aliases of them, and JAX's
64-bit mode is on.
``SCIPY_ARRAY_API=1`` is set for the whole run (scikit-learn's array-API checks).
"""

from __future__ import annotations

import os
from typing import Any

# scikit-learn's array-API dispatch (tests/estimators/test_array_api.py) needs SciPy's
# array-API mode, read once when SciPy is first imported: before anything imports it.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest

from xpnet import Backend

pytest_plugins = ["xpnet.testing.plugin"]

try:  # xpnet's suite checks float64 on JAX too: it turns on JAX's 64-bit mode for
    # itself (xpnet leaves that process-wide switch to its users)
    import jax
except ImportError:
    pass
else:
    jax.config.update("jax_enable_x64", True)


@pytest.fixture
def backend(xpnet_backend: Backend) -> Backend:
    """The plugin's ``xpnet_backend``: one run per backend."""
    return xpnet_backend


@pytest.fixture
def xp(xpnet_xp: Any) -> Any:
    """The plugin's ``xpnet_xp``: the array namespace of ``backend``."""
    return xpnet_xp
