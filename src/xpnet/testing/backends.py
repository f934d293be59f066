"""The backends a cross-backend test runs on, and a backend or a skip."""

from __future__ import annotations

from ..backend import Backend, BackendError, get_backend

BACKENDS = (
    "numpy",
    "array_api_strict",
    "array_api_strict:device1",
    "torch",
    "jax",
    "cupy",
    "torch:cuda",
)
"""Every backend the ``backend`` fixture tries, in order (its test ids)."""


def require_backend(spec: str | Backend) -> Backend:
    """``get_backend(spec)``, or skip the calling test with the reason it cannot run.

    For a test that needs a second backend besides its ``backend`` fixture (to load
    a model there, or to hand a model another library's array).
    """
    import pytest  # only tests call this; the rest of the package runs without pytest

    try:
        return get_backend(spec)
    except BackendError as exc:
        pytest.skip(f"backend {spec!r} unavailable: {exc}")
