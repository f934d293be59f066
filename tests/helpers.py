"""Shared test helpers: tolerance-aware comparisons, small data makers, pytest in a
subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from xml.etree import ElementTree

import numpy as np
import pytest

import xpnet
from xpnet.check import TOLERANCES

# Cross-backend agreement the project promises (docs/user_guide/arrays.md, "Numbers
# across backends"); the numbers live in the library, where `xpnet check-backends`
# uses them too.
RTOL = TOLERANCES


def assert_close(
    backend: xpnet.Backend, actual, expected, dtype: str = "float64", atol=None
) -> None:
    """``actual`` (an array of ``backend``) equals host ``expected`` within the dtype's
    tolerance; checks namespace, device, dtype and shape before the numbers."""
    assert backend.owns(actual), f"{type(actual)} is not an array of {backend.name}"
    assert actual.dtype == backend.dtype(dtype), f"{actual.dtype} != {dtype}"
    host = backend.to_numpy(actual)
    expected = np.asarray(expected)
    assert host.shape == expected.shape, f"shape {host.shape} != {expected.shape}"
    rtol = RTOL[dtype]
    np.testing.assert_allclose(
        host, expected, rtol=rtol, atol=rtol if atol is None else atol
    )


def regression_data(n_samples=16, n_features=4, n_outputs=1, seed=0):
    """Host float64 (X, y) with a smooth target."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = np.tanh(X @ rng.normal(size=(n_features, n_outputs)))
    return X, y


def one_hot_data(n_samples=16, n_features=4, n_classes=3, seed=0):
    """Host float64 X and one-hot float64 targets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    labels = rng.integers(0, n_classes, size=n_samples)
    return X, np.eye(n_classes)[labels]


def central_differences(loss, arrays, h=1e-6):
    """d loss() / d a for each host array a in ``arrays``, by central differences.

    ``loss`` takes no arguments and reads ``arrays``, which are perturbed in place one
    entry at a time and restored.
    """
    grads = []
    for array in arrays:
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            old = array[index]
            array[index] = old + h
            up = loss()
            array[index] = old - h
            down = loss()
            array[index] = old
            grad[index] = (up - down) / (2 * h)
        grads.append(grad)
    return grads


def run_pytest(
    cwd, *args: str, backends: str = "", blocked: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """pytest in a subprocess in ``cwd``: ``XPNET_BACKENDS=backends`` (the caller's own
    narrowing dropped), the modules ``blocked`` unimportable, as if not installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XPNET_BACKEND")}
    env |= {"XPNET_BACKENDS": backends} if backends else {}
    code = (
        f"import sys; sys.modules.update(dict.fromkeys({list(blocked)!r})); "
        "import pytest; sys.exit(pytest.main(sys.argv[1:]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def junit_outcomes(report) -> dict[str, tuple[str, str]]:
    """``{"classname::name": (outcome, message)}`` from pytest's ``--junitxml``
    report; outcome is passed, failure, error or skipped."""
    found = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        found[name] = ("passed", "")
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                found[name] = (kind, f"{element.get('message', '')}\n{element.text}")
    return found


class RecordingGenerator(np.random.Generator):
    """``numpy.random.default_rng(seed)`` that records every ``permutation`` it draws
    (``drawn``: the results, in order): a test hands it as ``random_state`` and reads
    which rows a fit shuffled or held out, through the public ``random_state``."""

    def __init__(self, seed: int) -> None:
        super().__init__(np.random.PCG64(seed))
        self.drawn: list[np.ndarray] = []

    def permutation(self, x, axis=0):  # type: ignore[override]
        result = super().permutation(x, axis)
        self.drawn.append(np.array(result))
        return result


def skip_without_array_api_dispatch() -> None:
    """Skip where scikit-learn refuses ``array_api_dispatch`` (it needs SciPy 1.14 or
    later and ``SCIPY_ARRAY_API=1``), with its reason."""
    import sklearn

    try:
        with sklearn.config_context(array_api_dispatch=True):
            pass
    except (ImportError, RuntimeError) as exc:
        pytest.skip(f"scikit-learn's array_api_dispatch cannot run here: {exc}")


def skip_unless_array_api_runs(check) -> None:
    """Skip one of scikit-learn's array-API checks (a ``functools.partial``) whose
    namespaces or devices cannot run here (no GPU, library not installed), naming
    what is missing."""
    import importlib

    from xpnet import BackendError, get_backend

    keywords = getattr(check, "keywords", {})
    if "array_api" in getattr(getattr(check, "func", check), "__name__", ""):
        skip_without_array_api_dispatch()
    pairs = [(keywords.get("array_namespace"), keywords.get("device_name"))]
    for key in ("X_ns_and_device", "other_ns_and_device"):
        if key in keywords:
            pairs.append(tuple(keywords[key]))
    for library, device in pairs:
        if library is None or library == "numpy":
            continue
        if library == "torch" and device not in (None, "cpu"):
            spec = f"torch:{device}"
        elif library in ("torch", "array_api_strict", "cupy"):
            spec = library
        else:
            try:
                importlib.import_module(library)
            except ImportError:
                pytest.skip(f"{library} is not installed")
            pytest.skip(f"xpnet has no backend for {library}")
        try:
            get_backend(spec)
        except BackendError as exc:
            pytest.skip(f"{spec} cannot run here: {exc}")
