"""ONNX export: every model kind, activation and dtype, run in onnxruntime against
xpnet's own predict / predict_proba / forward, on full, 1-row and 0-row batches."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpnet
from xpnet.command import cli
from xpnet.estimators.scaling import Standardization

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx extra")
ort = pytest.importorskip("onnxruntime", reason="ONNX tests need onnxruntime")

TOL = {"float32": 1e-5, "float64": 1e-12}
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
rng = np.random.default_rng(0)
X = rng.normal(size=(40, 4))
TARGETS = {
    "binary": rng.integers(0, 2, 40),
    "multiclass-strings": np.array(["ant", "bee", "cat"])[rng.integers(0, 3, 40)],
    "multiclass-floats": np.array([-1.0, 0.0, 2.0])[rng.integers(0, 3, 40)],
    "bool": rng.integers(0, 2, 40).astype(bool),
    "multilabel": (rng.random((40, 3)) > 0.5).astype(int),
    "regression": X @ rng.normal(size=4),
    "multi-output regression": X @ rng.normal(size=(4, 2)),
}


def _fit(kind, activation, dtype, standardize=False):
    cls = xpnet.MLPRegressor if "regression" in kind else xpnet.MLPClassifier
    model = cls((5, 3), activation=activation, max_iter=3, random_state=0, dtype=dtype)
    X_fit, y = X * 100 + 1e6 if standardize else X, TARGETS[kind]
    if standardize:
        model.standardization_ = Standardization.fit(
            X_fit, y.reshape(len(y), -1) if "regression" in kind else None
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        return model.fit(X_fit, y), X_fit


def _session(model, tmp_path):
    path = tmp_path / "model.onnx"
    proto = xpnet.export_onnx(model, path)
    assert proto.opset_import[0].version == 17
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]), proto


def _run(session, X_in):
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X_in}), strict=True))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_onnxruntime_predicts_what_xpnet_predicts(tmp_path, kind, activation, dtype):
    model, X_fit = _fit(kind, activation, dtype)
    session, proto = _session(model, tmp_path)
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("Gemm") == 3
    expected_act = {"logistic": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}
    if activation in expected_act:
        assert ops.count(expected_act[activation]) >= 2
    empty = _run(session, X_fit[:0].astype(dtype))  # xpnet refuses 0 rows; ONNX not
    for name, value in empty.items():
        full = _run(session, X_fit[:2].astype(dtype))[name]
        assert value.shape == (0, *full.shape[1:]) and value.dtype == full.dtype
    for rows in (slice(None), slice(0, 1)):
        X_in = X_fit[rows].astype(dtype)
        got = _run(session, X_in)
        if "regression" in kind:
            np.testing.assert_allclose(
                got["variable"],
                model.predict(X_in).reshape(len(X_in), -1),
                rtol=TOL[dtype],
                atol=TOL[dtype],
            )
            continue
        np.testing.assert_allclose(
            got["probabilities"],
            model.predict_proba(X_in),
            rtol=TOL[dtype],
            atol=TOL[dtype],
        )
        expected = model.predict(X_in)
        assert got["label"].shape == expected.shape
        assert got["label"].tolist() == expected.tolist()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["multiclass-strings", "multi-output regression"])
def test_the_commands_standardization_is_in_the_graph(tmp_path, kind, dtype):
    """Raw features with a 1e6 offset go in (the model's dtype); the graph
    standardizes them in float64 before the cast, as xpnet does."""
    model, X_fit = _fit(kind, "tanh", dtype, standardize=True)
    session, _ = _session(model, tmp_path)
    X_in = X_fit.astype(dtype)
    got = _run(session, X_in)
    if "regression" in kind:
        np.testing.assert_allclose(
            got["variable"],
            model.predict(X_in).reshape(len(X_in), -1),
            rtol=TOL[dtype],
            atol=TOL[dtype],
        )
    else:
        assert got["label"].tolist() == model.predict(X_in).tolist()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("output", ["identity", "sigmoid", "softmax"])
def test_mlp_forward_in_onnxruntime(tmp_path, dtype, bias, output):
    model = xpnet.MLP(
        [4, 6, 3],
        hidden_activation="tanh",
        output_activation=output,
        bias=bias,
        dtype=dtype,
        seed=0,
    )
    session, proto = _session(model, tmp_path)
    assert ("Gemm" in [n.op_type for n in proto.graph.node]) == bias
    assert _run(session, X[:0].astype(dtype))["output"].shape == (0, 3)
    for rows in (slice(None), slice(0, 1)):
        X_in = X[rows].astype(dtype)
        np.testing.assert_allclose(
            _run(session, X_in)["output"],
            model.backend.to_numpy(model.forward(X_in)),
            rtol=TOL[dtype],
            atol=TOL[dtype],
        )


def test_datetime_labels_are_refused_with_a_reason(tmp_path):
    dates = np.array(["2026-01-01", "2027-01-01"], dtype="datetime64[D]")
    y = dates[(X[:, 0] > 0).astype(int)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        model = xpnet.MLPClassifier((3,), max_iter=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="no ONNX tensor type"):
        xpnet.export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_export_refuses_what_save_refuses(tmp_path):
    model, _ = _fit("binary", "relu", "float32")
    model.coefs_[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        xpnet.export_onnx(model, tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="model must be an xpnet"):
        xpnet.export_onnx(object(), tmp_path / "m.onnx")


def test_xpnet_export_command(tmp_path, capsys):
    model, _ = _fit("multiclass-strings", "relu", "float32")
    saved, out = tmp_path / "m.safetensors", tmp_path / "m.onnx"
    xpnet.save(model, saved)
    assert cli.main(["export", str(saved), "--onnx", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    labels = _run(session, X.astype(np.float32))["label"]
    assert labels.tolist() == model.predict(X).tolist()
    assert cli.main(["export", str(tmp_path / "absent"), "--onnx", str(out)]) == 2
