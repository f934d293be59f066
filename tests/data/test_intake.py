"""The intake: one description of X, each check once, namespace decided here."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.data import Seen, as_features, as_real_targets, as_sample_weight
from xpnet.data.sparse import SparseRows


def test_host_x_is_described_once_on_the_device(xpnet_backend):
    X = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    features = as_features(X, xpnet_backend, "float64")
    assert features.shape == (3, 2)
    assert features.names is None and features.library == "numpy"
    assert xpnet_backend.owns(features.data)
    np.testing.assert_array_equal(xpnet_backend.to_numpy(features.data), X)


def test_backend_arrays_keep_their_library(xpnet_backend):
    X = xpnet_backend.asarray(np.ones((4, 3)), "float32")
    assert as_features(X, xpnet_backend, "float32").library == xpnet_backend.library


def test_frames_give_their_names_and_later_x_is_checked_against_them():
    pandas = pytest.importorskip("pandas")
    backend = xpnet.get_backend("numpy")
    frame = pandas.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    names = as_features(frame, backend, "float32").names
    assert list(names) == ["a", "b"]
    seen = Seen(2, names, "MLPRegressor")
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        as_features(frame[["b", "a"]], backend, "float32", seen=seen)
    with (
        pytest.warns(UserWarning, match="does not have valid feature names"),
        pytest.raises(ValueError, match="X has 3 features, but MLPRegressor is"),
    ):
        as_features(np.ones((2, 3)), backend, "float32", seen=seen)


def test_sparse_x_stays_sparse():
    sparse = pytest.importorskip("scipy.sparse")
    backend = xpnet.get_backend("numpy")
    features = as_features(sparse.eye(3, format="csr"), backend, "float32")
    assert isinstance(features.data, SparseRows) and features.shape == (3, 3)


def test_targets_and_weights():
    backend = xpnet.get_backend("numpy")
    assert as_real_targets([1, 2, 3], backend, 3).shape == (3, 1)
    assert as_sample_weight(None, backend, 3, "float32") is None
    weights = as_sample_weight(2.0, backend, 3, "float32")
    np.testing.assert_array_equal(weights.host, [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="must not be all zero"):
        as_sample_weight([0, 0, 0], backend, 3, "float32")


def test_dask_input_is_described_by_the_same_intake():
    """A Dask array stays lazy (no block computed); host X beside a Dask y is cut at
    y's row chunks; the feature count and a Dask frame's names are checked against
    the fit's in the same pass as for host X."""
    da = pytest.importorskip("dask.array")
    backend = xpnet.get_backend("numpy")
    X = da.ones((10, 3), chunks=(4, 2))
    features = as_features(X, backend, "float64")
    assert features.library == "dask" and features.shape == (10, 3)
    assert features.data.chunks == ((4, 4, 2), (3,))  # columns in one chunk
    y = da.zeros(10, chunks=5)
    cut = as_features(np.ones((10, 3)), backend, "float64", dask_rows=(y, None))
    assert cut.library == "dask" and cut.data.chunks[0] == (5, 5)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is"):
        as_features(X, backend, "float64", seen=Seen(4, None, "MLPClassifier"))
    dd = pytest.importorskip("dask.dataframe")
    pandas = pytest.importorskip("pandas")
    frame = dd.from_pandas(pandas.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}), 1)
    names = as_features(frame, backend, "float64").names
    assert list(names) == ["a", "b"]
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        as_features(frame[["b", "a"]], backend, "float64", seen=Seen(2, names, "M"))
