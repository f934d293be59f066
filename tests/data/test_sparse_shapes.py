"""Sparse X meets the dense checks: empty shapes are refused with dense X's
messages at fit and predict, and the data-parallel replica check reads sparse X
(and sees column order, for dense and sparse X alike)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from xpnet import MLPClassifier, MLPRegressor, get_backend
from xpnet.data.sparse import SparseRows
from xpnet.training.distributed import _fingerprint

sparse = pytest.importorskip("scipy.sparse", reason="SciPy is not installed")
FORMATS = ["csr", "csc", "coo"]


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("shape", [(60, 0), (0, 5)])
def test_an_empty_sparse_fit_is_refused_like_dense(format, shape):
    X = sparse.random(*shape, density=0.5, format=format, random_state=0)
    y = np.arange(shape[0]) % 2
    which = "feature" if shape[1] == 0 else "sample"
    for data in (X, X.toarray()):
        with pytest.raises(ValueError, match=rf"0 {which}\(s\) \(shape=\(\d+, \d+\)\)"):
            MLPClassifier((3,), max_iter=1).fit(data, y)


@pytest.mark.parametrize("format", FORMATS)
def test_predicting_an_empty_sparse_x_is_refused_like_dense(format):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPRegressor((3,), max_iter=1, random_state=0).fit(X, X[:, 0])
    empty = sparse.random(0, 5, format=format)
    for data in (empty, empty.toarray()):
        with pytest.raises(ValueError, match=r"0 sample\(s\) \(shape=\(0, 5\)\)"):
            model.predict(data)


hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    n_rows=st.integers(0, 4),
    n_columns=st.integers(0, 4),
    format=st.sampled_from(FORMATS),
)
def test_sparse_and_dense_x_are_refused_for_the_same_shapes(n_rows, n_columns, format):
    """Property: a sparse X is accepted exactly when the dense X of its shape is."""
    from xpnet.data import as_features

    backend = get_backend("numpy")
    X = sparse.random(n_rows, n_columns, density=1.0, format=format, random_state=1)
    outcomes = []
    for data in (X, X.toarray()):
        try:
            features = as_features(data, backend, "float64")
        except ValueError as exc:
            outcomes.append(str(exc))
        else:
            outcomes.append(features.shape)
    assert outcomes[0] == outcomes[1]


def test_the_replica_fingerprint_sees_column_order_and_reads_sparse_x():
    backend = get_backend("numpy")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    swapped = X[:, [1, 0, 2, 3]]  # the same row sums, other columns
    assert _fingerprint(backend, X) != _fingerprint(backend, swapped)
    assert _fingerprint(backend, X) == _fingerprint(backend, X.copy())
    assert _fingerprint(backend, X[::-1]) != _fingerprint(backend, X)
    rows = SparseRows(backend, sparse.csr_matrix(X), "float64")
    rows_swapped = SparseRows(backend, sparse.csr_matrix(swapped), "float64")
    np.testing.assert_allclose(_fingerprint(backend, rows), _fingerprint(backend, X))
    assert _fingerprint(backend, rows) != _fingerprint(backend, rows_swapped)
