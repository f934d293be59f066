"""Data loading for the command: bundled datasets, CSV, npz, the split, the scaling."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from xpnet.command.datasets import (
    BUNDLED,
    DataError,
    MissingExtraError,
    infer_task,
    load_dataset,
    split_indices,
)
from xpnet.estimators.scaling import Standardization


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_matches_scikit_learn(name):
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    data = load_dataset(name)
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)
    assert data.X.dtype == np.float64
    assert data.task == ("regression" if name == "diabetes" else "classification")
    assert len(data.feature_names) == X.shape[1]


def test_bundled_without_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(MissingExtraError, match=r'pip install "xpnet\[sklearn\]"'):
        load_dataset("iris")


CSV = "a,b,label\n1,2,cat\n3,4.5,dog\n-1,0,cat\n"


def test_csv_header_and_default_target_is_last_column(tmp_path):
    data = load_dataset(write(tmp_path, CSV))
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4.5], [-1, 0]])
    assert list(data.y) == ["cat", "dog", "cat"]
    assert data.feature_names == ["a", "b"]
    assert data.target_name == "label"
    assert data.task == "classification"


@pytest.mark.parametrize("target", ["a", "0", 0, -3])
def test_csv_target_by_name_or_index(tmp_path, target):
    data = load_dataset(write(tmp_path, "a,b,c\n1,2.5,3\n4,5,6\n"), target)
    np.testing.assert_array_equal(data.y, [1, 4])
    np.testing.assert_array_equal(data.X, [[2.5, 3], [5, 6]])
    assert data.y.dtype == np.int64
    assert data.task == "classification"


def test_csv_decimal_target_is_regression_and_no_header(tmp_path):
    data = load_dataset(write(tmp_path, "1,2,0.5\n3,4,1e3\n"))
    assert data.feature_names == ["column 0", "column 1"]
    np.testing.assert_array_equal(data.y, [0.5, 1000.0])
    assert data.task == "regression"


def test_csv_without_target_for_prediction(tmp_path):
    data = load_dataset(write(tmp_path, "1,2,3\n4,5,6\n"), need_target=False)
    assert data.y is None and data.task is None
    assert data.X.shape == (2, 3)


def test_csv_blank_lines_and_bom_are_ignored(tmp_path):
    data = load_dataset(write(tmp_path, "\ufeffx,y\n\n1,0\n2,1\n\n"))
    assert data.feature_names == ["x"]
    np.testing.assert_array_equal(data.y, [0, 1])


@pytest.mark.parametrize(
    ("text", "target", "message"),
    [
        ("", None, "is empty"),
        ("a,b\n", None, "no data rows"),
        ("a,b\n1,2\n3\n", None, "line 3: 1 cells where the first row has 2"),
        (
            "a,b,y\n1,2,0\n1,x,1\n",
            None,
            r"line 3, column 'b': the non-numeric cell 'x'",
        ),
        ("a,b,y\n1,2,0\n1,,1\n", None, r"line 3, column 'b': an empty cell"),
        ("a,b,y\n1,2,0\n1,nan,1\n", None, "'nan' is not a finite number"),
        ("a,y\n1,0\n2,\n", None, "line 3: the target column 'y' is empty"),
        ("a,b\n1,2\n", "z", r"target column 'z' is not in .*columns are \['a', 'b'\]"),
        ("1,2\n3,4\n", "z", "it has no header row"),
        ("a,b\n1,2\n", "5", "index 5 is out of range .* 2 columns"),
        ("y\n1\n2\n", None, "no feature columns besides the target column 'y'"),
    ],
)
def test_csv_errors_name_the_problem(tmp_path, text, target, message):
    with pytest.raises(DataError, match=message):
        load_dataset(write(tmp_path, text), target)


def test_csv_that_is_not_text(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="not UTF-8"):
        load_dataset(str(path))


def test_missing_file_and_unknown_source(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_dataset(str(tmp_path / "absent.csv"))
    with pytest.raises(
        DataError, match=r"digits, iris.* \.csv, \.npz or \.npy, a Zarr.*; got 'x.txt'"
    ):
        load_dataset("x.txt")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DataError, match="is not a file"):
        load_dataset(str(tmp_path / "dir.csv"))


def test_target_applies_to_csv_only():
    with pytest.raises(DataError, match="CSV files only"):
        load_dataset("iris", target="0")


def test_npz_x_and_y(tmp_path):
    path = tmp_path / "d.npz"
    X = np.arange(12.0).reshape(4, 3)
    np.savez(path, X=X, y=np.array([[0.5], [1.5], [2.5], [3.5]]))
    data = load_dataset(str(path))
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, [0.5, 1.5, 2.5, 3.5])
    assert data.task == "regression"


def test_npz_without_y_is_for_prediction_only(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((2, 2)))
    assert load_dataset(str(path), need_target=False).y is None
    with pytest.raises(DataError, match="array named 'y'"):
        load_dataset(str(path))


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"Z": np.ones((2, 2))}, "array named 'X'"),
        ({"X": np.ones(3), "y": np.ones(3)}, "X must be a non-empty 2-D"),
        ({"X": np.ones((3, 2)), "y": np.ones(2)}, r"one value per row of X \(3\)"),
        ({"X": np.array([[1.0, np.inf]]), "y": np.ones(1)}, "X must be finite"),
        ({"X": np.ones((2, 2)), "y": np.array([1.0, np.nan])}, "y must be finite"),
        (
            {"X": np.ones((2, 2)), "y": np.array([{}, {}], dtype=object)},
            "without pickle",
        ),
    ],
)
def test_npz_errors(tmp_path, arrays, message):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset(str(path))


def test_npz_that_is_not_a_zip(tmp_path):
    path = tmp_path / "d.npz"
    path.write_text("hello")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_dataset(str(path))


def test_infer_task():
    assert infer_task(np.array([1.5, 2.0])) == "regression"
    for labels in ([1, 2], [True, False], ["a", "b"]):
        assert infer_task(np.array(labels)) == "classification"


def test_stratified_split_keeps_each_class_share():
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    train, test = split_indices(y, 0.2, seed=0, stratify=True)
    assert sorted(np.concatenate([train, test])) == list(range(100))
    assert [int(np.sum(y[test] == c)) for c in (0, 1, 2)] == [10, 6, 4]


def test_split_is_seeded():
    y = np.arange(40) % 2
    first = split_indices(y, 0.25, seed=3, stratify=False)
    again = split_indices(y, 0.25, seed=3, stratify=False)
    other = split_indices(y, 0.25, seed=4, stratify=False)
    np.testing.assert_array_equal(first[1], again[1])
    assert len(first[1]) == 10
    assert not np.array_equal(first[1], other[1])


def test_split_edges():
    y = np.arange(5)
    train, test = split_indices(y, 0.0, seed=0, stratify=False)
    assert len(train) == 5 and len(test) == 0
    train, test = split_indices(y, 0.01, seed=0, stratify=True)
    assert len(test) == 1 and len(train) == 4  # a held-out set is never empty
    with pytest.raises(DataError, match=r"fraction in \[0, 1\)"):
        split_indices(y, 1.0, seed=0, stratify=False)


def test_standardization_centers_and_scales():
    rng = np.random.default_rng(0)
    data = np.column_stack([rng.normal(5, 3, 100), np.full(100, 7.0)])
    scaling = Standardization.fit(data, data[:, :1])
    scaled = scaling.inputs(data)
    np.testing.assert_allclose(scaled.mean(axis=0), [0, 0], atol=1e-12)
    np.testing.assert_allclose(scaled.std(axis=0), [1, 0], atol=1e-12)
    targets = scaling.targets(data[:, :1])
    np.testing.assert_allclose(scaling.outputs(targets), data[:, :1], rtol=1e-15)


def test_standardization_is_exact_for_large_offsets():
    """In float64 on the host, then cast: an offset of 1e9 loses nothing that
    float32 could hold (folding it into a float32 layer kept no digit)."""
    rng = np.random.default_rng(1)
    X = rng.normal(0, 1, size=(50, 3)) + 1e9
    scaled = Standardization.fit(X).inputs(X).astype(np.float32)
    centred = (X - X.mean(axis=0)) / X.std(axis=0)
    np.testing.assert_allclose(scaled, centred, rtol=1e-6, atol=1e-6)
