"""One ``backend`` (and ``xp``) fixture over every array library that can run here.

Narrow the run with ``--backend NAME`` (repeatable) or ``XPNET_BACKENDS=numpy,torch``.
A backend that cannot run (not installed, no CUDA device) is skipped with the reason.
"""

from __future__ import annotations

import os

import pytest

import xpnet

ALL_BACKENDS = [
    "numpy",
    "array_api_strict",
    "array_api_strict:device1",
    "torch",
    "jax",
    "cupy",
    "torch:cuda",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        action="append",
        default=[],
        help="run array tests on this backend only (repeatable); also XPNET_BACKENDS",
    )


def selected_backends(config: pytest.Config) -> list[str]:
    """The backends the run is narrowed to, in ALL_BACKENDS order where known."""
    chosen = list(config.getoption("--backend"))
    env = os.environ.get("XPNET_BACKENDS", "")
    chosen += [name.strip() for name in env.split(",") if name.strip()]
    return chosen or ALL_BACKENDS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize(
            "backend", selected_backends(metafunc.config), indirect=True
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `-m backend` selects the tests that run on an array backend (ci/gpu-check).
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.backend)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> xpnet.Backend:
    """A ready Backend; skipped, with the reason, where it cannot run here."""
    try:
        return xpnet.get_backend(request.param)
    except xpnet.BackendError as exc:
        pytest.skip(f"backend {request.param!r} unavailable: {exc}")


@pytest.fixture
def xp(backend: xpnet.Backend):
    """The array namespace of the ``backend`` fixture."""
    return backend.xp
