"""ONNX export: every model kind, activation and dtype, run in onnxruntime against
xpnet's own predict / predict_proba / forward, on full, 1-row and 0-row batches."""

from __future__ import annotations

import sys
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
    with pytest.raises(xpnet.OnnxExportError) as error:
        xpnet.export_onnx(model, tmp_path / "m.onnx")
    assert str(error.value) == (
        "labels of dtype datetime64[D] have no ONNX tensor type; fit on int, float, "
        "bool or string labels to export"
    )
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


def test_export_names_the_missing_onnx_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    model, _ = _fit("binary", "relu", "float32")
    with pytest.raises(ImportError) as error:
        xpnet.export_onnx(model, tmp_path / "m.onnx")
    assert str(error.value) == (
        'ONNX export needs the onnx package: pip install "xpnet[onnx]"'
    )


def _listing(proto):
    """The graph as text: the initializers' names, then ``output = Op(inputs; attrs)``
    per node."""
    lines = [tensor.name for tensor in proto.graph.initializer]
    for node in proto.graph.node:
        attrs = [
            f"{a.name}={onnx.helper.get_attribute_value(a)}" for a in node.attribute
        ]
        args = ", ".join(node.input) + "".join(f"; {a}" for a in attrs)
        lines.append(f"{', '.join(node.output)} = {node.op_type}({args})")
    return lines


LAYERS = ["W0", "b0", "W1", "b1"]
HIDDEN = ["gemm_0 = Gemm(X, W0, b0)", "relu_1 = Relu(gemm_0)"]
GRAPHS = {
    "binary": [
        *LAYERS,
        "one",
        "classes",
        *HIDDEN,
        "gemm_2 = Gemm(relu_1, W1, b1)",
        "sigmoid_3 = Sigmoid(gemm_2)",
        "sub_4 = Sub(one, sigmoid_3)",
        "concat_5 = Concat(sub_4, sigmoid_3; axis=1)",
        "argmax_6 = ArgMax(concat_5; axis=1; keepdims=0)",
        "label = Gather(classes, argmax_6)",
        "probabilities = Identity(concat_5)",
    ],
    "multiclass-strings": [
        *LAYERS,
        "classes",
        *HIDDEN,
        "gemm_2 = Gemm(relu_1, W1, b1)",
        "softmax_3 = Softmax(gemm_2; axis=1)",
        "argmax_4 = ArgMax(softmax_3; axis=1; keepdims=0)",
        "label = Gather(classes, argmax_4)",
        "probabilities = Identity(softmax_3)",
    ],
    "multilabel": [
        *LAYERS,
        "threshold",
        *HIDDEN,
        "gemm_2 = Gemm(relu_1, W1, b1)",
        "sigmoid_3 = Sigmoid(gemm_2)",
        "greater_4 = Greater(sigmoid_3, threshold)",
        f"label = Cast(greater_4; to={onnx.TensorProto.INT64})",
        "probabilities = Identity(sigmoid_3)",
    ],
}


@pytest.mark.parametrize("kind", sorted(GRAPHS))
def test_a_classifiers_graph_node_by_node(tmp_path, kind):
    """Readable names, no needless casts (X already float32), Softmax over classes."""
    model = xpnet.MLPClassifier((5,), max_iter=1, random_state=0, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        model.fit(X, TARGETS[kind])
    assert _listing(xpnet.export_onnx(model, tmp_path / "m.onnx")) == GRAPHS[kind]


def _dims(value):
    """A tensor's dims: its named (dim_param) or fixed (dim_value) sizes."""
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize(
    ("kind", "zipmap", "signature"),
    [
        ("binary", False, {"label": ["N"], "probabilities": ["N", 2]}),
        ("multilabel", False, {"label": ["N", 3], "probabilities": ["N", 3]}),
        ("multiclass-strings", True, {"output_label": ["N"], "output_probability": []}),
        ("multi-output regression", False, {"variable": ["N", 2]}),
    ],
)
def test_every_batch_dim_is_named_n(tmp_path, kind, zipmap, signature):
    """X and every output share the batch dimension ``N``; xpnet is the producer."""
    cls = xpnet.MLPRegressor if "regression" in kind else xpnet.MLPClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        model = cls((5,), max_iter=1, random_state=0).fit(X, TARGETS[kind])
    proto = xpnet.export_onnx(model, tmp_path / "m.onnx", zipmap=zipmap)
    assert proto.producer_name == "xpnet"
    assert [(v.name, _dims(v)) for v in proto.graph.input] == [("X", ["N", 4])]
    assert {v.name: _dims(v) for v in proto.graph.output} == signature


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["binary", "multiclass-strings"])
def test_zipmap_in_onnxruntime(tmp_path, kind, dtype):
    """ZipMap takes float32 only: a float64 model's probabilities are cast to it."""
    model, X_fit = _fit(kind, "tanh", dtype)
    proto = xpnet.export_onnx(model, tmp_path / "m.onnx", zipmap=True)
    assert [v.name for v in proto.graph.output] == [
        "output_label",
        "output_probability",
    ]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    label, maps = session.run(None, {"X": X_fit.astype(dtype)})
    assert label.tolist() == model.predict(X_fit).tolist()
    assert all(list(row) == model.classes_.tolist() for row in maps)
    proba = np.array([list(row.values()) for row in maps])
    np.testing.assert_allclose(proba, model.predict_proba(X_fit), rtol=1e-6, atol=1e-6)
