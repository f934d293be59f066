"""The pytest plugin ``xpnet.testing.plugin``: fixtures over every array backend.

It does nothing until a project asks for it: add ``pytest_plugins =
["xpnet.testing.plugin"]`` to the project's top ``conftest.py`` (or run pytest with
``-p xpnet.testing.plugin``). Installing xpnet registers nothing in other projects'
test runs.

A test that asks for ``xpnet_backend`` (a ready :class:`xpnet.Backend`) or
``xpnet_xp`` (its array namespace) runs once per backend that can run here, with the
backend's name as its id (``test_f[numpy]``, ``test_f[torch:cuda]``). Backends that
cannot run here (library not installed, no CUDA device) are left out of the matrix and
listed once, with the reason, in the run's header. Where JAX is among the backends,
the plugin turns on JAX's 64-bit mode (``jax_enable_x64``) for the test run, so that
float64 is tested there too.

``--xpnet-backend NAME`` (repeatable) and ``XPNET_BACKENDS=numpy,torch`` narrow the
run; both together add up. A backend asked for by name that cannot run here is kept
and skipped with the reason; a name that is no backend at all is a usage error. Such
tests carry the ``xpnet_backend`` marker, so ``-m xpnet_backend`` selects them.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import pytest

from ..backend import Backend, BackendError, get_backend, is_known_spec
from .backends import BACKENDS, require_backend

ENV_VAR = "XPNET_BACKENDS"
OPTION = "--xpnet-backend"
FIXTURE = "xpnet_backend"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xpnet", "xpnet cross-backend tests")
    group.addoption(
        OPTION,
        action="append",
        default=[],
        metavar="NAME",
        help=f"run the array tests on this backend only (repeatable); also {ENV_VAR}",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{FIXTURE}: runs on the array backends of the `{FIXTURE}` fixture "
        "(set by xpnet.testing.plugin)",
    )
    requested_backends(config)  # a typo is a usage error before anything runs
    if any(spec.split(":")[0] == "jax" for spec in selected_backends(config)):
        # The fixtures' tests check float64 too: JAX computes it only in its 64-bit
        # mode, a process-wide switch that xpnet itself leaves to its users.
        try:
            import jax
        except ImportError:  # not installed: its tests are skipped, saying why
            return
        jax.config.update("jax_enable_x64", True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"xpnet backends: {', '.join(selected_backends(config))}"]
    if not requested_backends(config):
        absent = [f"{spec} ({why})" for spec, why in _absent().items()]
        if absent:
            lines.append(f"xpnet backends left out here: {'; '.join(absent)}")
    return lines


def requested_backends(config: pytest.Config) -> list[str]:
    """The backends named by ``--xpnet-backend`` and ``XPNET_BACKENDS``, in order.

    Raises
    ------
    pytest.UsageError
        A name is empty or names no backend (``toch``, ``numpy;torch``).
    """
    named = [(OPTION, name) for name in config.getoption(OPTION)]
    env = os.environ.get(ENV_VAR)
    if env is not None and env.strip():
        named += [(ENV_VAR, name) for name in env.split(",")]
    for source, name in named:
        if not name.strip() or not is_known_spec(name):
            raise pytest.UsageError(
                f"{source}: {name!r} is not a backend; choose from "
                f"{', '.join(BACKENDS)} (or a device form such as cupy:1)"
            )
    return [name.strip() for _, name in named]


def selected_backends(config: pytest.Config) -> list[str]:
    """The backends asked for, else every backend of BACKENDS that can run here."""
    return requested_backends(config) or [s for s in BACKENDS if s not in _absent()]


@cache
def _absent() -> dict[str, str]:
    """Each backend of BACKENDS that cannot run here, with the reason."""
    absent = {}
    for spec in BACKENDS:
        try:
            get_backend(spec)
        except BackendError as exc:
            absent[spec] = str(exc).split(";")[0]
    return absent


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE in metafunc.fixturenames:
        metafunc.parametrize(FIXTURE, selected_backends(metafunc.config), indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xpnet_backend)


@pytest.fixture
def xpnet_backend(request: pytest.FixtureRequest) -> Backend:
    """A ready Backend; skipped, with the reason, where it cannot run here."""
    return require_backend(request.param)


@pytest.fixture
def xpnet_xp(xpnet_backend: Backend) -> Any:
    """The array namespace of the ``xpnet_backend`` fixture."""
    return xpnet_backend.xp
