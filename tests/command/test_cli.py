"""The ``xpnet`` command: end to end through subprocess (a few runs, each costs the
interpreter's start-up) and its logic in-process through ``cli.main``."""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.command import cli
from xpnet.command.datasets import split_indices
from xpnet.estimators.scaling import Standardization

SRC = str(Path(xpnet.__file__).resolve().parents[1])


def run_xpnet(*args, command=(sys.executable, "-m", "xpnet"), timeout=120):
    """Run the command in a fresh interpreter that imports this checkout's xpnet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env.pop("XPNET_BACKEND", None)
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def gpu_present() -> bool:
    try:
        xpnet.get_backend("gpu")
    except xpnet.BackendError:
        return False
    return True


def blobs_csv(path, n_per_class=30, seed=0):
    """Three well-separated Gaussian blobs with text labels, a header and a label
    column in the middle; returns (X, labels)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 5.0], [5.0, 5.0, 0.0], [-5.0, 5.0, -5.0]])
    X = np.concatenate([c + rng.normal(size=(n_per_class, 3)) for c in centers])
    labels = np.repeat(["red", "green", "blue"], n_per_class)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["x0", "label", "x1", "x2"])
        for row, label in zip(X, labels, strict=True):
            writer.writerow([row[0], label, row[1], row[2]])
    return X, labels


def regression_csv(path, n_samples=80, seed=0):
    """A smooth target, in units far from 1 so that target scaling matters."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    y = 100.0 + 30.0 * np.tanh(X @ np.array([1.0, -0.5, 0.25]))
    np.savetxt(
        path, np.column_stack([X, y]), delimiter=",", header="a,b,c,y", comments=""
    )
    return X, y


def summary_value(out: str, key: str) -> str:
    line = next(line for line in out.splitlines() if line.startswith(key))
    return line.split(":", 1)[1].strip()


# ---- through subprocess ------------------------------------------------------------


def test_help_lists_commands_and_exit_codes():
    result = run_xpnet("--help")
    assert result.returncode == 0
    for command in ("train", "predict", "check-backends", "walkthrough"):
        assert command in result.stdout
    for code in ("0  success", "1  a check failed", "2  bad usage", "3  cannot run"):
        assert code in result.stdout


@pytest.mark.skipif(gpu_present(), reason="this machine has a GPU")
def test_gpu_without_a_gpu_exits_3_with_one_line_and_no_traceback():
    result = run_xpnet("train", "--data", "iris", "--epochs", "1", "--backend", "gpu")
    assert result.returncode == 3
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    if _has("cupy"):
        import cupy

        if cupy.cuda.is_available():
            pytest.skip("a CUDA device is present: the no-GPU path cannot run here")
        assert lines[0].startswith("xpnet: error: backend 'gpu' needs a CUDA GPU")
        assert "--backend cpu" in lines[0]
    else:
        assert lines[0].startswith("xpnet: error: backend 'gpu' needs cupy")
        assert 'pip install "xpnet[cuda12]"' in lines[0]
    assert "Traceback" not in result.stderr


def test_train_then_predict_end_to_end(tmp_path):
    data = tmp_path / "blobs.csv"
    X, labels = blobs_csv(data)
    model, plot = tmp_path / "model.safetensors", tmp_path / "loss.png"
    args = ["train", "--data", str(data), "--target", "label", "--hidden", "8"]
    args += ["--epochs", "5", "--save", str(model), "--seed", "1"]
    if _has("matplotlib"):
        args += ["--plot", str(plot)]
    trained = run_xpnet(*args)
    assert trained.returncode == 0, trained.stderr
    assert "samples/s" in trained.stderr and "loss" in trained.stderr  # the bar
    assert "5/5" in trained.stderr
    for key in ("backend", "time", "train accuracy", "test accuracy"):
        assert summary_value(trained.stdout, key)
    assert summary_value(trained.stdout, "backend") == "numpy, device cpu, float32"
    assert model.is_file()
    if _has("matplotlib"):
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    output = tmp_path / "predictions.csv"
    predicted = run_xpnet(
        "predict", str(model), str(data), "--target", "label", "--output", str(output)
    )
    assert predicted.returncode == 0, predicted.stderr
    assert "wrote 90 predictions" in predicted.stdout
    rows = list(csv.reader(output.read_text().splitlines()))
    assert rows[0] == ["prediction"]
    expected = _load_unnamed(model).predict(X)
    assert [row[0] for row in rows[1:]] == [str(label) for label in expected]
    accuracy = float(predicted.stdout.split("accuracy against label:")[1])
    assert accuracy == pytest.approx(np.mean(expected == labels), abs=1e-4)


def test_installed_entry_point():
    script = Path(sys.executable).with_name("xpnet")
    if not script.exists():
        pytest.skip(f"no installed xpnet entry point next to {sys.executable}")
    result = run_xpnet("--version", command=(str(script),))
    assert result.returncode == 0
    assert result.stdout.strip() == f"xpnet {xpnet.__version__}"
    result = run_xpnet("train", "--data", "nowhere.csv", command=(str(script),))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "xpnet: error: no data file at this path: 'nowhere.csv'"
    )


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# ---- in-process: help, parsing, errors ----------------------------------------------


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    )
    return dict(action.choices)


@pytest.mark.parametrize("name", ["train", "predict", "check-backends", "walkthrough"])
def test_every_option_is_documented_with_its_default(name):
    parser = subcommands()[name]
    text = parser.format_help()
    assert "exit codes:" in text
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name} {action.dest} has no help"
        for option in action.option_strings:
            assert option in text
        takes_value = action.option_strings and action.nargs != 0
        if takes_value and not action.required:
            formatted = parser.formatter_class("xpnet")._get_help_string(action)
            assert "default" in formatted, (
                f"{name} {action.option_strings}: {formatted}"
            )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["train"],
        ["train", "--data", "iris", "--epochs", "0"],
        ["train", "--data", "iris", "--test-size", "1"],
        ["train", "--data", "iris", "--lr", "-1"],
        ["train", "--data", "iris", "--batch-size", "big"],
        ["train", "--data", "iris", "--solver", "newton"],
        ["predict", "model.safetensors"],
        ["check-backends", "--dtype", "float16"],
    ],
)
def test_bad_usage_exits_2(argv, capsys):
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("xpnet: error: ") and err.count("\n") == 1, err
    assert "--help)" in err


def error_of(argv, capsys) -> tuple[int, str]:
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return code, err


def test_bad_data_exits_2_naming_the_problem(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,0\n1,oops,1\n")
    code, err = error_of(["train", "--data", str(bad), "--quiet"], capsys)
    assert code == 2
    assert "line 3, column 'b': the non-numeric cell 'oops'" in err
    code, err = error_of(["train", "--data", str(tmp_path / "none.csv")], capsys)
    assert (code, err.startswith("xpnet: error: no data file")) == (2, True)
    code, err = error_of(["train", "--data", "mnist"], capsys)
    assert code == 2 and "digits, iris, wine, breast_cancer, diabetes" in err


def test_unwritable_outputs_fail_before_training(tmp_path, capsys):
    target = str(tmp_path / "missing" / "model.safetensors")
    code, err = error_of(["train", "--data", "nowhere.csv", "--save", target], capsys)
    assert code == 2 and "cannot write --save" in err


def test_missing_optional_packages_exit_3_naming_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    code, err = error_of(["train", "--data", "x.csv", "--plot", "p.png"], capsys)
    assert code == 3 and 'pip install "xpnet[plot]"' in err
    monkeypatch.setitem(sys.modules, "sklearn", None)
    code, err = error_of(["train", "--data", "wine"], capsys)
    assert code == 3 and 'pip install "xpnet[sklearn]"' in err


def test_unknown_backend_exits_3(capsys):
    code, err = error_of(["train", "--data", "iris", "--backend", "tpu"], capsys)
    assert code == 3 and "unknown backend 'tpu'" in err


# ---- in-process: training and prediction -------------------------------------------


def _load_unnamed(path):
    """A model the command trained on a CSV with a header, loaded without the
    column names it keeps (these checks predict from arrays in the same order)."""
    model = xpnet.load(path)
    assert list(model.feature_names_in_)  # the command kept the header's names
    del model.feature_names_in_
    return model


def train_args(data, *extra):
    return ["train", "--data", str(data), "--quiet", "--hidden", "8", *extra]


def test_quiet_hides_the_bar_and_the_summary_still_prints(tmp_path, capsys):
    data = tmp_path / "blobs.csv"
    blobs_csv(data)
    assert cli.main(train_args(data, "--target", "1", "--epochs", "2")) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert summary_value(out, "data").endswith("classification, 3 classes")
    assert summary_value(out, "split").startswith("72 train, 18 test (stratified")


def test_reported_metrics_are_those_of_the_saved_model(tmp_path, capsys):
    data, model = tmp_path / "reg.csv", tmp_path / "reg.safetensors"
    X, y = regression_csv(data)
    argv = train_args(data, "--epochs", "30", "--dtype", "float64", "--seed", "3")
    assert cli.main([*argv, "--save", str(model)]) == 0
    out = capsys.readouterr().out
    assert "regression" in summary_value(out, "data")
    loaded = _load_unnamed(model)
    train_rows, test_rows = split_indices(y, 0.2, seed=3, stratify=False)
    for part, rows in (("train", train_rows), ("test", test_rows)):
        residual = np.sum((y[rows] - loaded.predict(X[rows])) ** 2)
        r2 = 1 - residual / np.sum((y[rows] - y[rows].mean()) ** 2)  # R² by hand
        assert float(summary_value(out, f"{part} R^2")) == pytest.approx(r2, abs=1e-4)


def test_saved_model_takes_raw_data_the_scaling_saved_with_it(tmp_path, capsys):
    # The oracle: the same estimator trained by hand on standardized data.
    from xpnet.estimators import MLPRegressor

    data, model = tmp_path / "reg.csv", tmp_path / "reg.safetensors"
    X, y = regression_csv(data)
    argv = train_args(data, "--epochs", "10", "--dtype", "float64", "--test-size", "0")
    assert cli.main([*argv, "--save", str(model)]) == 0
    scaling = Standardization.fit(X, y[:, None])
    by_hand = MLPRegressor(
        hidden_layer_sizes=(8,), max_iter=10, random_state=0, dtype="float64"
    )
    with pytest.warns(Warning, match="maximum iterations"):
        by_hand.fit(scaling.inputs(X), scaling.targets(y[:, None])[:, 0])
    expected = scaling.outputs(by_hand.predict(scaling.inputs(X))[:, None])[:, 0]
    np.testing.assert_allclose(_load_unnamed(model).predict(X), expected, rtol=1e-10)
    assert "no test set" in summary_value(capsys.readouterr().out, "split")


def test_same_seed_same_metrics_on_every_backend(tmp_path, capsys):
    data = tmp_path / "blobs.csv"
    blobs_csv(data, n_per_class=20)
    metrics = {}
    for backend in ("numpy", "array_api_strict", "torch"):
        argv = train_args(data, "--target", "label", "--epochs", "4", "--seed", "5")
        code = cli.main([*argv, "--dtype", "float64", "--backend", backend])
        if code == cli.EXIT_UNAVAILABLE and backend != "numpy":
            capsys.readouterr()
            continue  # not installed here
        assert code == 0
        out = capsys.readouterr().out
        metrics[backend] = [
            summary_value(out, key)
            for key in ("train accuracy", "test accuracy", "time")
        ]
        metrics[backend][2] = metrics[backend][2].split("final loss")[1]
    if len(metrics) < 2:
        pytest.skip("needs a second backend: array-api-strict or torch")
    first = next(iter(metrics.values()))
    assert all(values == first for values in metrics.values()), metrics


def test_divergence_exits_1_with_advice(tmp_path, capsys):
    data = tmp_path / "reg.csv"
    regression_csv(data)
    argv = train_args(data, "--solver", "sgd", "--lr", "1e6", "--scale", "none")
    code, err = error_of([*argv, "--epochs", "5"], capsys)
    assert code == 1
    assert "smaller --lr" in err


def test_regression_needs_numeric_targets(tmp_path, capsys):
    data = tmp_path / "blobs.csv"
    blobs_csv(data)
    argv = train_args(data, "--target", "label", "--task", "regression")
    code, err = error_of(argv, capsys)
    assert code == 2 and "needs numeric targets" in err


def test_predict_prints_csv_and_the_score_on_stderr(tmp_path, capsys):
    data, model = tmp_path / "blobs.csv", tmp_path / "m.safetensors"
    X, labels = blobs_csv(data)
    argv = train_args(data, "--target", "label", "--epochs", "3")
    assert cli.main([*argv, "--save", str(model)]) == 0
    capsys.readouterr()
    assert (
        cli.main(["predict", str(model), str(data), "--target", "label", "--proba"])
        == 0
    )
    out, err = capsys.readouterr()
    rows = list(csv.reader(out.splitlines()))
    loaded = _load_unnamed(model)
    assert rows[0] == [f"proba_{label}" for label in loaded.classes_]
    np.testing.assert_allclose(
        np.array(rows[1:], dtype=float), loaded.predict_proba(X), rtol=1e-6
    )
    assert all(str(np.float32(cell)) == cell for cell in rows[1])  # float32 digits
    assert err.startswith("accuracy against label:")


def test_predict_errors(tmp_path, capsys):
    data, model = tmp_path / "reg.csv", tmp_path / "m.safetensors"
    regression_csv(data)
    assert cli.main([*train_args(data, "--epochs", "1"), "--save", str(model)]) == 0
    capsys.readouterr()
    code, err = error_of(["predict", str(model), str(data)], capsys)
    assert code == 2 and "not the model's ['y']" in err  # matched by header name
    assert "--target" in err
    code, err = error_of(
        ["predict", str(model), str(data), "--target", "y", "--proba"], capsys
    )
    assert code == 2 and "--proba needs a classifier" in err
    code, err = error_of(["predict", str(data), str(data)], capsys)
    assert code == 2 and "model file" in err
    bare = tmp_path / "bare.safetensors"
    xpnet.save(xpnet.MLP([3, 2]), bare)
    code, err = error_of(["predict", str(bare), str(data)], capsys)
    assert code == 2 and "holds an xpnet.MLP network, not a trained" in err


def test_without_tqdm_the_bar_asks_for_it_and_quiet_still_trains(
    tmp_path, monkeypatch, capsys
):
    data = tmp_path / "blobs.csv"
    blobs_csv(data)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    argv = ["train", "--data", str(data), "--target", "label", "--epochs", "1"]
    code, err = error_of(argv, capsys)
    assert code == 3 and "pip install tqdm" in err and "--quiet" in err
    assert cli.main([*argv, "--quiet"]) == 0


def test_estimator_warnings_become_notes(tmp_path, capsys):
    data = tmp_path / "blobs.csv"
    blobs_csv(data)
    argv = train_args(
        data, "--target", "label", "--epochs", "2", "--batch-size", "1000"
    )
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert err.startswith("note: batch_size=1000 is larger than the 72 training")
    assert "maximum iterations" not in err  # --epochs asked for exactly that


@pytest.mark.parametrize("offset", [1e8, 1e9])
def test_large_feature_offsets_keep_float64_accuracy_in_float32(
    tmp_path, capsys, offset
):
    """Timestamps, prices, coordinates: iris with a large offset added to every
    feature. The standardization runs in float64 before the cast, so float32 trains
    as well as float64 (folded into a float32 first layer it reached 0.33)."""
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_iris(return_X_y=True)
    data = tmp_path / "iris.csv"
    np.savetxt(data, np.column_stack([X + offset, y]), delimiter=",", fmt="%.17g")
    accuracy = {}
    for dtype in ("float32", "float64"):
        model = tmp_path / f"{dtype}.safetensors"
        argv = ["train", "--data", str(data), "--quiet", "--hidden", "16"]
        argv += ["--epochs", "200", "--lr", "0.01", "--dtype", dtype]
        assert cli.main([*argv, "--save", str(model)]) == 0
        accuracy[dtype] = float(summary_value(capsys.readouterr().out, "test accuracy"))
        # the saved model takes the raw features, in float32 too
        assert xpnet.load(model).score(X + offset, y) > 0.85
    assert accuracy["float64"] > 0.85
    assert accuracy["float32"] >= accuracy["float64"] - 0.02


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--seed", "-1"], ["--seed", "0 to 2**32 - 1", "-1"]),
        (["--alpha", "inf"], ["--alpha", "finite number >= 0", "inf"]),
        (["--alpha", "-0.5"], ["--alpha", "finite number >= 0"]),
    ],
)
def test_bad_seed_and_alpha_are_named_as_options(tmp_path, capsys, options, fragments):
    data = tmp_path / "blobs.csv"
    blobs_csv(data)
    assert cli.main([*train_args(data, "--target", "1"), *options]) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err


def test_semicolon_separated_csv_is_named(tmp_path, capsys):
    data = tmp_path / "semi.csv"
    data.write_text("a;b;label\n1,5;2;x\n3;4,5;y\n")
    assert cli.main(train_args(data)) == 2
    err = capsys.readouterr().err
    assert "semicolon-separated" in err and "comma-separated" in err


def test_out_of_memory_hints_name_the_option_to_change(tmp_path, capsys, monkeypatch):
    from xpnet import init

    data = tmp_path / "blobs.csv"
    blobs_csv(data)

    def huge(*args):
        raise MemoryError("Unable to allocate 7.45 GiB for an array")

    monkeypatch.setattr(init, "glorot_uniform", huge)
    argv = ["train", "--data", str(data), "--quiet", "--target", "1"]
    assert cli.main([*argv, "--hidden", "500000000"]) == 1
    err = capsys.readouterr().err
    assert "--hidden 500000000" in err and "narrower --hidden" in err
    assert "--batch-size" not in err
    monkeypatch.undo()

    def full(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr("xpnet.training.step.network.loss_and_gradients", full)
    assert cli.main([*argv, "--hidden", "4"]) == 1
    assert "smaller --batch-size" in capsys.readouterr().err


def test_train_with_lbfgs_fits_the_full_batch(capsys, tmp_path):
    model = tmp_path / "lbfgs.safetensors"
    code = cli.main(
        ["train", "--data", "iris", "--solver", "lbfgs", "--epochs", "300"]
        + ["--quiet", "--save", str(model)]
    )
    out = capsys.readouterr().out
    assert code == 0 and "lbfgs (full batch), alpha 0.0001" in out
    loaded = xpnet.load(model)
    assert loaded.solver == "lbfgs" and 1 <= loaded.n_iter_ <= 300
    assert f"for {loaded.n_iter_} iterations" in out
    assert float(out.split("test accuracy:")[1].split()[0]) >= 0.85


def test_train_with_lbfgs_without_scipy_says_what_to_install(
    capsys, tmp_path, monkeypatch
):
    data = tmp_path / "blobs.csv"
    blobs_csv(data)
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # import fails
    code = cli.main(
        ["train", "--data", str(data), "--target", "label", "--solver", "lbfgs"]
        + ["--quiet"]
    )
    assert code == 3
    assert "needs SciPy" in capsys.readouterr().err


@pytest.mark.slow  # starts JAX in a subprocess and compiles (5-6 s)
def test_train_compiled_says_which_path_ran(tmp_path):
    pytest.importorskip("jax", reason="jax is not installed")
    data = tmp_path / "blobs.csv"
    blobs_csv(data)
    args = ["train", "--data", str(data), "--target", "label", "--hidden", "8"]
    trained = run_xpnet(
        *args, "--epochs", "2", "--quiet", "--backend", "jax", "--compile"
    )
    assert trained.returncode == 0, trained.stderr
    assert summary_value(trained.stdout, "backend").endswith("float32, jax.jit")
