"""The command line reports every bad input on one line, with the documented exit
code (host data only, so each case runs once).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from bad_inputs import (
    Bad,
    F,
    N,
    X,
    assert_bad,
    fitted,
    raw_file,
)

import xpnet
from xpnet import MLP
from xpnet.command import cli

# ---- the command line (host data only) ---------------------------------------------


def _npz(directory, **arrays) -> str:
    path = directory / f"data{len(list(directory.iterdir()))}.npz"
    np.savez(path, **arrays)
    return str(path)


def _csv(directory, text: str) -> str:
    path = directory / f"data{len(list(directory.iterdir()))}.csv"
    path.write_text(text)
    return str(path)


LABELS = (np.arange(N) % 2).astype(np.int64)
GOOD = lambda d: _npz(d, X=X, y=LABELS)  # noqa: E731


def _train(data, *options):
    return lambda d: ["train", "--data", data(d), "--quiet", "--epochs", "1", *options]


def _model(directory) -> str:
    """A saved MLPClassifier taking 4 features (fitted here, not by the CLI)."""
    path = str(directory / "model.safetensors")
    xpnet.save(fitted("clf", xpnet.get_backend("numpy")), path)
    return path


def _predict(data, *options):
    return lambda d: ["predict", _model(d), data(d), *options]


CLI_CASES = [
    # id, argv made in a directory, exit code, error
    (
        "X 1-D",
        _train(lambda d: _npz(d, X=X[:, 0], y=LABELS)),
        2,
        Bad(ValueError, r"\bX\b", r"2-D array", r"shape \(20,\)"),
    ),
    (
        "X 3-D",
        _train(lambda d: _npz(d, X=X[:, :, None], y=LABELS)),
        2,
        Bad(ValueError, r"\bX\b", r"2-D array", r"shape \(20, 4, 1\)"),
    ),
    (
        "X and y of different lengths",
        _train(lambda d: _npz(d, X=X, y=LABELS[:-1])),
        2,
        Bad(ValueError, r"\by\b", r"one value per row of X \(20\)", r"\(19,\)"),
    ),
    (
        "X empty",
        _train(lambda d: _npz(d, X=X[:0], y=LABELS[:0])),
        2,
        Bad(ValueError, r"\bX\b", r"non-empty", r"shape \(0, 4\)"),
    ),
    (
        "CSV empty",
        _train(lambda d: _csv(d, "")),
        2,
        Bad(ValueError, r"data\d+\.csv", r"at least one data row", r"is empty"),
    ),
    (
        "CSV with a header only",
        _train(lambda d: _csv(d, "a,b,y\n")),
        2,
        Bad(ValueError, r"data\d+\.csv", r"at least one", r"no data rows"),
    ),
    (
        "X with NaN",
        _train(lambda d: _npz(d, X=np.where(X > 1, np.nan, X), y=LABELS)),
        2,
        Bad(ValueError, r"\bX\b", r"finite", r"found nan at row \d+, column \d+"),
    ),
    (
        "y with inf",
        _train(lambda d: _npz(d, X=X, y=np.where(LABELS > 0, np.inf, 0.5))),
        2,
        Bad(ValueError, r"\by\b", r"finite", r"NaN or inf"),
    ),
    (
        "CSV with nan",
        _train(lambda d: _csv(d, "a,b,y\n1,nan,0\n2,3,1\n")),
        2,
        Bad(ValueError, r"line 2, column 'b'", r"finite number", r"'nan'"),
    ),
    (
        "X of text",
        _train(lambda d: _npz(d, X=np.full((N, F), "a"), y=LABELS)),
        2,
        Bad(ValueError, r"\bX\b", r"numeric", r"dtype <U1"),
    ),
    (
        "CSV with text",
        _train(lambda d: _csv(d, "a,b,y\n1,x,0\n2,3,1\n")),
        2,
        Bad(ValueError, r"line 2, column 'b'", r"must hold numbers", r"'x'"),
    ),
    (
        "unknown activation",
        _train(GOOD, "--activation", "softplus"),
        2,
        Bad(ValueError, r"--activation", r"choose from 'relu'", r"'softplus'"),
    ),
    (
        "unknown solver",
        _train(GOOD, "--solver", "newton"),
        2,
        Bad(
            ValueError, r"--solver", r"choose from 'adam', 'sgd', 'lbfgs'", r"'newton'"
        ),
    ),
    (
        "unknown backend",
        _train(GOOD, "--backend", "tpu"),
        3,
        Bad(ValueError, r"\bbackend\b", r"choose one of numpy", r"'tpu'"),
    ),
    (
        "unknown backend, predict",
        _predict(GOOD, "--backend", "tpu"),
        3,
        Bad(ValueError, r"\bbackend\b", r"choose one of numpy", r"'tpu'"),
    ),
    (
        "int dtype",
        _train(GOOD, "--dtype", "int32"),
        2,
        Bad(ValueError, r"--dtype", r"choose from 'float32', 'float64'", r"'int32'"),
    ),
    (
        "complex dtype",
        _train(GOOD, "--dtype", "complex64"),
        2,
        Bad(ValueError, r"--dtype", r"choose from 'float32'", r"'complex64'"),
    ),
    (
        "hidden size zero",
        _train(GOOD, "--hidden", "8", "0"),
        2,
        Bad(ValueError, r"--hidden", r"integer >= 1", r"got 0"),
    ),
    (
        "hidden size negative",
        _train(GOOD, "--hidden", "-2"),
        2,
        Bad(ValueError, r"--hidden", r"integer >= 1", r"got -2"),
    ),
    (
        "walkthrough layer size zero",
        lambda d: ["walkthrough", "--layers", "4", "0", "1"],
        2,
        Bad(ValueError, r"--layers", r"integer >= 1", r"got 0"),
    ),
    (
        "batch size zero",
        _train(GOOD, "--batch-size", "0"),
        2,
        Bad(ValueError, r"--batch-size", r"integer >= 1", r"got 0"),
    ),
    (
        "batch size negative",
        _train(GOOD, "--batch-size", "-4"),
        2,
        Bad(ValueError, r"--batch-size", r"integer >= 1", r"got -4"),
    ),
    (
        "negative learning rate",
        _train(GOOD, "--lr", "-0.1"),
        2,
        Bad(ValueError, r"--lr", r"finite number > 0", r"got -0\.1"),
    ),
    (
        "predict: wrong number of features",
        _predict(lambda d: _npz(d, X=X[:, :3])),
        2,
        Bad(ValueError, r"data\d+\.npz", r"model takes 4", r"has 3 feature columns"),
    ),
    (
        "predict: X 1-D",
        _predict(lambda d: _npz(d, X=X[:, 0])),
        2,
        Bad(ValueError, r"\bX\b", r"2-D array", r"shape \(20,\)"),
    ),
    (
        "predict: X with inf",
        _predict(lambda d: _npz(d, X=np.where(X > 1, np.inf, X))),
        2,
        Bad(ValueError, r"\bX\b", r"finite", r"found inf"),
    ),
    (
        "predict: empty model file",
        lambda d: ["predict", raw_file(d, b""), GOOD(d)],
        2,
        # safetensors words it "header too small" or "HeaderTooSmall" by version
        Bad(ValueError, r"model file", r"safetensors", r"(?i)header ?too ?small"),
    ),
    (
        "predict: a bare network, not a fitted estimator",
        lambda d: ["predict", _saved_mlp(d), GOOD(d)],
        2,
        Bad(ValueError, r"bare\.npz", r"trained MLPClassifier", r"xpnet\.MLP network"),
    ),
]


def _saved_mlp(directory) -> str:
    path = str(directory / "bare.npz")
    xpnet.save(MLP([F, 2]), path)
    return path


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_reports_bad_input_on_one_line(tmp_path, capsys, case):
    _, make, code, bad = case
    argv = make(tmp_path)
    capsys.readouterr()

    def run():
        returned = cli.main(argv)
        out, err = capsys.readouterr()
        assert returned == code, (returned, err)
        assert err.startswith("xpnet: error: ") and err.count("\n") == 1, err
        raise ValueError(err)  # hands the line to assert_bad

    assert_bad(run, bad)


def test_cli_clips_a_batch_size_above_n_with_a_note(tmp_path, capsys):
    argv = _train(GOOD, "--batch-size", "1000", "--test-size", "0")(tmp_path)
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert re.search(
        rf"note: batch_size=1000 is larger than the {N} training samples; it is "
        rf"clipped to {N}",
        err,
    ), err
