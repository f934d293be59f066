"""``xpnet.testing``'s assertions take arrays of every backend and device, never
calling ``np.array`` on them (CuPy refuses that): a fake CuPy array that refuses it
too stands in where no GPU is present."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.testing import (
    assert_close_to_numpy,
    assert_gradients_match_finite_differences,
    host_copy,
)

Z = np.linspace(-2.0, 2.0, 6).reshape(2, 3)


class FakeCupyArray:
    """Like a CuPy array to the host: ``get()`` copies, implicit conversion fails."""

    __module__ = "cupy._core.core"

    def __init__(self, host: np.ndarray) -> None:
        self._host = np.array(host)
        self.shape, self.dtype = self._host.shape, self._host.dtype

    def __array_namespace__(self, api_version=None):
        raise AssertionError("not needed for a host copy")

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed.")

    def get(self) -> np.ndarray:
        return self._host.copy()


def tanh_sum(xp, z):
    return xp.sum(xp.tanh(z), axis=0)


def square(xp, w):
    return xp.sum(w * w), [2 * w]


def test_host_copy_of_every_backends_arrays(backend):
    array = backend.asarray(Z)
    copy = host_copy(array)
    assert type(copy) is np.ndarray
    np.testing.assert_array_equal(copy, Z)


def test_assertions_take_every_backends_arrays(backend):
    device = backend.asarray(Z)
    assert_close_to_numpy(tanh_sum, device, backend=backend)
    assert_gradients_match_finite_differences(square, [device], backend=backend)


def test_assertions_take_a_cupy_like_array_without_np_array():
    fake = FakeCupyArray(Z)
    with pytest.raises(TypeError):
        np.array(fake)  # the fake refuses, as CuPy does
    np.testing.assert_array_equal(host_copy(fake), Z)
    assert_close_to_numpy(tanh_sum, fake, backend="numpy")
    assert_gradients_match_finite_differences(square, [fake], backend="numpy")


def test_a_wrong_gradient_still_fails_with_device_arrays(backend):
    def wrong(xp, w):
        return xp.sum(w * w), [3 * w]

    with pytest.raises(AssertionError, match="worst gradient"):
        assert_gradients_match_finite_differences(
            wrong, [backend.asarray(Z)], backend=backend
        )
