"""Feature names survive save and load and are checked at predict: a loaded model
refuses a DataFrame with its columns reordered or renamed (as scikit-learn's), the
command matches a CSV's columns to the model's by header name (and refuses missing
ones), and Dask DataFrames record and check names as pandas ones do."""

from __future__ import annotations

import copy
import csv
import warnings

import numpy as np
import pytest

import xpnet
from xpnet import MLPClassifier, MLPRegressor
from xpnet.command import cli
from xpnet.files import tensor_file

pd = pytest.importorskip("pandas", reason="pandas is not installed")
COLUMNS = ["height", "weight", "age"]


def _frame(n_samples=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n_samples, 3)), columns=COLUMNS)
    return X, (X["height"] - 2 * X["age"] > 0).to_numpy()


@pytest.fixture
def saved(tmp_path):
    X, y = _frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier((6,), max_iter=5, random_state=0).fit(X, y)
    path = tmp_path / "model.safetensors"
    xpnet.save(model, path)
    return model, path


def test_a_loaded_model_keeps_the_feature_names(saved):
    model, path = saved
    loaded = xpnet.load(path)
    assert list(loaded.feature_names_in_) == COLUMNS
    assert loaded.feature_names_in_.dtype == object
    X, _ = _frame(seed=1)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        (["age", "weight", "height"], "same order"),
        (["height", "weight", "years"], "unseen at fit time:\n- years"),
    ],
    ids=["reordered", "renamed"],
)
def test_a_loaded_model_refuses_other_columns(saved, columns, match):
    X, y = _frame(seed=1)
    loaded = xpnet.load(saved[1])
    other = X[columns] if columns[0] == "age" else X.set_axis(columns, axis=1)
    for call in (loaded.predict, loaded.predict_proba):
        with pytest.raises(ValueError, match=match):
            call(other)
    with pytest.raises(ValueError, match=match):
        loaded.score(other, y)


def test_files_without_feature_names_still_load(saved, tmp_path):
    """The field is optional within format_version 2."""
    header, arrays = tensor_file.load_tensors(saved[1])
    header = copy.deepcopy(header)
    del header["model"]["feature_names_in_"]
    path = tmp_path / "older.safetensors"
    path.write_bytes(tensor_file.encode(header, arrays))
    assert not hasattr(xpnet.load(path), "feature_names_in_")


@pytest.mark.parametrize(
    "names", [["a", "b"], ["a", 1, "c"], "abc"], ids=["too few", "an int", "a string"]
)
def test_malformed_feature_names_are_refused(saved, tmp_path, names):
    header, arrays = tensor_file.load_tensors(saved[1])
    header = copy.deepcopy(header)
    header["model"]["feature_names_in_"] = names
    path = tmp_path / "bad.safetensors"
    path.write_bytes(tensor_file.encode(header, arrays))
    with pytest.raises(xpnet.ModelFileError, match="feature_names_in_ must be"):
        xpnet.load(path)


def _csv(path, X, y, columns):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*columns, "label"])
        for row, label in zip(X[columns].to_numpy(), y, strict=True):
            writer.writerow([*row, int(label)])


def _predictions(capsys, argv):
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    return [row[0] for row in csv.reader(out.splitlines())][1:]


def test_the_command_matches_csv_columns_by_name(tmp_path, capsys):
    X, y = _frame(n_samples=120)
    train, shuffled, model = (
        tmp_path / name for name in ("train.csv", "shuffled.csv", "m.safetensors")
    )
    _csv(train, X, y, COLUMNS)
    _csv(shuffled, X, y, ["age", "height", "weight"])
    args = ["--data", str(train), "--quiet", "--hidden", "6", "--epochs", "20"]
    assert cli.main(["train", *args, "--save", str(model)]) == 0
    capsys.readouterr()
    assert list(xpnet.load(model).feature_names_in_) == COLUMNS
    same = ["predict", str(model), "--target", "label"]
    in_order = _predictions(capsys, [*same[:2], str(train), *same[2:]])
    reordered = _predictions(capsys, [*same[:2], str(shuffled), *same[2:]])
    assert in_order == reordered


def test_the_command_refuses_a_csv_missing_a_feature_column(tmp_path, capsys):
    X, y = _frame()
    train, partial, model = (
        tmp_path / name for name in ("train.csv", "partial.csv", "m.safetensors")
    )
    _csv(train, X, y, COLUMNS)
    _csv(partial, X.assign(years=X["age"]), y, ["height", "weight", "years"])
    args = ["--data", str(train), "--quiet", "--hidden", "4", "--epochs", "2"]
    assert cli.main(["train", *args, "--save", str(model)]) == 0
    capsys.readouterr()
    code = cli.main(["predict", str(model), str(partial), "--target", "label"])
    err = capsys.readouterr().err
    assert code == 2
    assert "missing ['age']" in err and "not the model's ['years']" in err


@pytest.fixture
def dask_frames():
    dd = pytest.importorskip("dask.dataframe", reason="dask: the optional xpnet[dask]")
    X, y = _frame(n_samples=80)
    target = pd.Series(X["height"] - X["age"], name="target")
    return dd.from_pandas(X, npartitions=4), dd.from_pandas(target, npartitions=4)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_dask_dataframes_record_and_check_feature_names(dask_frames):
    X, y = dask_frames
    model = MLPRegressor((4,), max_iter=2, batch_size=10, random_state=0).fit(X, y)
    assert list(model.feature_names_in_) == COLUMNS
    reordered = X[["age", "weight", "height"]]
    for call in (model.predict, lambda data: model.score(data, y)):
        with pytest.raises(ValueError, match="same order"):
            call(reordered)
    predicted = model.predict(X).compute()
    np.testing.assert_allclose(predicted, model.predict(X.compute()), rtol=1e-6)
    assert np.isfinite(model.score(X, y))
    with pytest.raises(ValueError, match="same order"):  # warm start checks too
        model.set_params(warm_start=True).fit(reordered, y)
