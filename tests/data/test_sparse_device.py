"""CuPy sparse batches without a wait or a column-major copy per step, shown on the
CPU: a fake of cupyx's CSR matrix counts the device check of its canonical format
(``bool(kernel(...).all())`` in cupyx, a host wait), and a fake of
``cupyx.cusparse.spmm`` refuses, as the real one does, a dense factor that is not
column-major, and records whether it was handed a view or a copy.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.data.sparse import DeviceCSR, SparseRows

scipy_sparse = pytest.importorskip("scipy.sparse", reason="needs SciPy")


class FakeDeviceCSR:
    """cupyx's csr_matrix as far as DeviceCSR uses it."""

    def __init__(self, csr):
        self.csr, self.shape, self.dtype = csr, csr.shape, csr.dtype
        self.device_checks = 0

    @property
    def has_canonical_format(self):
        if not hasattr(self, "_canonical"):
            self.device_checks += 1  # cupyx: a kernel and bool(...): a host wait
            self._canonical = self.csr.has_canonical_format
        return self._canonical

    @has_canonical_format.setter
    def has_canonical_format(self, value):
        self._canonical = bool(value)


def recording_spmm(calls):
    def spmm(a, b, transa=False, transb=False):
        if not b.flags.f_contiguous:
            raise ValueError("expected F-contiguous array for b")
        if not a.has_canonical_format:
            raise ValueError("expected canonical format for a")
        calls.append(b)
        A = a.csr.T if transa else a.csr
        return np.asfortranarray(A @ (b.T if transb else b))

    return spmm


def test_products_pass_views_and_check_nothing_on_the_device():
    rng = np.random.default_rng(0)
    csr = scipy_sparse.random(6, 5, density=0.4, format="csr", random_state=0)
    W, delta = rng.normal(size=(5, 3)), rng.normal(size=(6, 3))
    calls = []
    device = FakeDeviceCSR(csr)
    batch = DeviceCSR(device, recording_spmm(calls))
    np.testing.assert_allclose(batch @ W, csr @ W, rtol=1e-12)
    np.testing.assert_allclose(batch.T @ delta, csr.T @ delta, rtol=1e-12)
    assert device.device_checks == 0  # marked canonical, never checked
    assert len(calls) == 2
    assert all(np.shares_memory(b, d) for b, d in zip(calls, (W, delta), strict=True))


def test_without_spmm_the_library_product_is_used():
    csr = scipy_sparse.random(4, 3, density=0.5, format="csr", random_state=1)
    W = np.ones((3, 2))
    batch = DeviceCSR(scipy_sparse.csr_matrix(csr), None)
    np.testing.assert_allclose(batch @ W, csr @ W)
    np.testing.assert_allclose(batch.T @ np.ones((4, 2)), csr.T @ np.ones((4, 2)))


def test_rows_are_cut_from_a_canonical_matrix():
    # Duplicates and unsorted column indices in the user's matrix: summed and
    # sorted once on the host, so every batch may be marked canonical.
    data, indices, indptr = [1.0, 2.0, 3.0, 4.0], [2, 0, 2, 1], [0, 3, 4]
    user = scipy_sparse.csr_matrix((data, indices, indptr), shape=(2, 3))
    assert not user.has_canonical_format
    rows = SparseRows(xpnet.get_backend("numpy"), user, "float64")
    for index in (np.array([1, 0]), slice(0, 2)):
        part = rows.matrix[index]
        assert part.has_canonical_format
    np.testing.assert_array_equal(rows.matrix.toarray(), user.toarray())
