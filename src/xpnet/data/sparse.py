"""Sparse training data (SciPy or CuPy sparse) kept sparse: memory follows the
non-zeros.

:class:`SparseRows` holds the matrix on the host as SciPy CSR and hands the loop one
batch at a time. On NumPy a batch stays a SciPy CSR matrix, on CuPy it becomes a CuPy
CSR matrix on the device (only the batch's non-zeros are copied): the network's first
product ``X @ W`` and its gradient ``X.T @ delta`` are then sparse products, costing
the non-zeros times the layer width. The host matrix is kept canonical (sorted
indices, no duplicates), so each CuPy batch is marked canonical rather than checked
on the device (a wait per step), and its products hand cuSPARSE the dense factor's
transpose, already column-major, instead of a column-major copy (:class:`DeviceCSR`).
On the other backends each batch is densified and copied to the device, so at most
one dense batch exists at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import Array, Backend
from .checks import check_fits

CHUNK_BYTES = 64 * 2**20
"""Dense rows handed to the device at once when predicting (64 MiB)."""


def is_sparse(data: Any) -> bool:
    """Whether ``data`` is a SciPy sparse matrix or array (without importing SciPy)."""
    module = type(data).__module__
    return module.startswith(("scipy.sparse", "cupyx.scipy.sparse")) and hasattr(
        data, "tocsr"
    )


class SparseRows:
    """A host sparse (n_samples, n_features) matrix served by rows.

    Parameters
    ----------
    backend : Backend
        Where the batches go.
    matrix : scipy.sparse matrix or array, any format
        Checked (real, finite, representable in ``dtype``), converted to CSR of
        ``dtype`` (a copy of the non-zeros only).
    dtype : {"float32", "float64"}
    """

    def __init__(self, backend: Backend, matrix: Any, dtype: str, name: str = "X"):
        if type(matrix).__module__.startswith("cupyx"):
            matrix = matrix.get()  # the non-zeros to the host; batches go back
        csr = matrix.tocsr()
        if len(csr.shape) != 2 or 0 in csr.shape:  # as dense X (host_features)
            which = "feature" if len(csr.shape) == 2 and csr.shape[1] == 0 else "sample"
            raise ValueError(
                f"{name} has 0 {which}(s) (shape={tuple(csr.shape)}) while a minimum "
                "of 1 is required."
            )
        if csr.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold real numbers; got dtype {csr.dtype}")
        if not np.isfinite(csr.data).all():
            raise ValueError(f"{name} must be finite; it contains NaN or inf")
        check_fits(csr.data, name, dtype)
        self.backend, self.dtype_name = backend, dtype
        self.matrix = csr.astype(dtype)
        self.matrix.sum_duplicates()  # canonical: every row cut from it is too
        self.shape = (int(csr.shape[0]), int(csr.shape[1]))
        self.dtype = backend.dtype(dtype)

    def _batch(self, index: Any) -> Array:
        part = self.matrix[index]
        if self.backend.library == "numpy":
            return part
        if self.backend.library == "cupy":
            from cupyx.scipy.sparse import csr_matrix

            with self.backend.device:
                return DeviceCSR(csr_matrix(part), _spmm())
        return self.backend.asarray(part.toarray(), self.dtype_name)

    def __getitem__(self, key: tuple[slice, Any]) -> Array:
        """``X[start:stop, ...]``: those rows as one batch."""
        return self._batch(key[0])

    def rows(self, index: np.ndarray) -> Array:
        """The rows at the host indices ``index`` as one batch."""
        return self._batch(index)

    def subset(self, index: np.ndarray) -> SparseRows:
        """Rows ``index`` (host ints) as a new SparseRows (for a validation split)."""
        return SparseRows(self.backend, self.matrix[index], self.dtype_name)

    def whole(self) -> Array:
        """Every row as one batch (dense on backends other than NumPy)."""
        return self._batch(slice(None))

    def map_batches(self, fn: Callable[[Array], Array]) -> Array:
        """``fn`` over row chunks of at most :data:`CHUNK_BYTES` dense, concatenated
        on the device (for predictions, whose width is small)."""
        itemsize = np.dtype(self.dtype_name).itemsize
        step = max(1, CHUNK_BYTES // max(1, self.shape[1] * itemsize))
        outs = [
            fn(self._batch(slice(start, start + step)))
            for start in range(0, self.shape[0], step)
        ]
        return outs[0] if len(outs) == 1 else self.backend.xp.concat(outs, axis=0)


class DeviceCSR:
    """A CuPy CSR batch (marked canonical) whose products with C-ordered dense
    matrices go to cuSPARSE's SpMM with the transpose flag on the dense factor.

    cupyx's ``csr @ W`` copies ``W`` (fan_in, fan_out) into column-major order on
    every call, and ``csr.T @ delta`` copies ``delta``; ``W.T`` and ``delta.T`` are
    column-major already (views), and SpMM computes ``op(A) @ op(B)`` from them.
    ``spmm`` is ``cupyx.cusparse.spmm`` (None where this CUDA lacks it: cupyx's own
    products).
    """

    def __init__(self, matrix: Any, spmm: Callable[..., Array] | None) -> None:
        matrix.has_canonical_format = True  # cut from a canonical host matrix
        self.matrix, self._spmm = matrix, spmm
        self.shape, self.dtype, self.ndim = matrix.shape, matrix.dtype, 2

    @property
    def T(self) -> _TransposedCSR:
        """The transpose, for ``X.T @ delta``."""
        return _TransposedCSR(self)

    def __matmul__(self, dense: Array) -> Array:
        return self.product(dense, transpose=False)

    def product(self, dense: Array, transpose: bool) -> Array:
        """``op(X) @ dense``, op the transpose when asked."""
        if self._spmm is None or dense.ndim != 2 or not dense.flags.c_contiguous:
            return (self.matrix.T if transpose else self.matrix) @ dense
        return self._spmm(self.matrix, dense.T, transa=transpose, transb=True)

    def toarray(self) -> Array:
        """The batch as a dense device array."""
        return self.matrix.toarray()


class _TransposedCSR:
    # X.T of a DeviceCSR: only its product is needed.
    def __init__(self, batch: DeviceCSR) -> None:
        self.batch = batch
        self.shape = batch.shape[::-1]

    def __matmul__(self, dense: Array) -> Array:
        return self.batch.product(dense, transpose=True)


@functools.cache
def _spmm() -> Callable[..., Array] | None:
    from cupyx import cusparse

    return cusparse.spmm if cusparse.check_availability("spmm") else None
