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
