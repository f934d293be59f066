"""Cross-backend tests for code written on xpnet: a pytest plugin and assertions.

The plugin (:mod:`xpnet.testing.plugin`, which a project turns on with
``pytest_plugins = ["xpnet.testing.plugin"]`` in its conftest; it is never loaded on
its own) gives every test that asks for ``xpnet_backend`` or ``xpnet_xp`` one run per
array backend that can run here. The assertions
compare a function on a backend with NumPy float64 (:func:`assert_close_to_numpy`)
and hand-written gradients with central differences
(:func:`assert_gradients_match_finite_differences`).

The testing layer sits above the top-level modules (it uses ``backend`` and
``check``'s tolerances) and below nothing: the library never imports it.
"""

from .assertions import (
    assert_close_to_numpy,
    assert_gradients_match_finite_differences,
    host_copy,
)
from .backends import BACKENDS, require_backend

__all__ = [
    "BACKENDS",
    "assert_close_to_numpy",
    "assert_gradients_match_finite_differences",
    "host_copy",
    "require_backend",
]
