"""The pytest plugin ``xpnet``: ``backend`` and ``xp`` fixtures over every backend.

A test that asks for ``backend`` (a ready :class:`xpnet.Backend`) or ``xp`` (its
array namespace) runs once per backend in :data:`~xpnet.testing.BACKENDS`, with the
backend's name as its id (``test_f[numpy]``, ``test_f[torch:cuda]``). A backend that
cannot run here (not installed, no CUDA device) is skipped with the reason.

``--backend NAME`` (repeatable) and ``XPNET_BACKENDS=numpy,torch`` narrow the run;
both together add up. Such tests carry the ``backend`` marker, so ``-m backend``
selects them (and ``-m "not backend"`` leaves them out).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from ..backend import Backend
from .backends import BACKENDS, require_backend

ENV_VAR = "XPNET_BACKENDS"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xpnet", "xpnet cross-backend tests")
    group.addoption(
        "--backend",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run the array tests on this backend only (repeatable); also {ENV_VAR}",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "backend: runs on the array backends of the `backend` fixture "
        "(set by xpnet.testing)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"xpnet backends: {', '.join(selected_backends(config))}"


def selected_backends(config: pytest.Config) -> list[str]:
    """The backends asked for by ``--backend`` and ``XPNET_BACKENDS``, else all."""
    chosen = list(config.getoption("--backend"))
    env = os.environ.get(ENV_VAR, "")
    chosen += [name.strip() for name in env.split(",") if name.strip()]
    return chosen or list(BACKENDS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize(
            "backend", selected_backends(metafunc.config), indirect=True
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.backend)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Backend:
    """A ready Backend; skipped, with the reason, where it cannot run here."""
    return require_backend(request.param)


@pytest.fixture
def xp(backend: Backend) -> Any:
    """The array namespace of the ``backend`` fixture."""
    return backend.xp
