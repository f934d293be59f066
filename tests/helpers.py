"""Shared test helpers: tolerance-aware comparisons and small data makers."""

from __future__ import annotations

import numpy as np

import xpnet
from xpnet.check import TOLERANCES

# Cross-backend agreement the project promises (README, "Numbers across backends");
# the numbers live in the library, where `xpnet check-backends` uses them too.
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
