"""ONNX as skl2onnx does it: the outputs' names, order and types of scikit-learn's own
MLPs, xpnet's estimators inside pipelines through ``skl2onnx.to_onnx``, and clear
refusals for what ONNX cannot hold."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import xpnet
from xpnet.command import cli
from xpnet.maths import activations

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx extra")
ort = pytest.importorskip("onnxruntime", reason="ONNX tests need onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx", reason="these tests compare with skl2onnx")
sklearn_nn = pytest.importorskip("sklearn.neural_network")
from sklearn.pipeline import Pipeline  # noqa: E402 - after the skip above
from sklearn.preprocessing import StandardScaler  # noqa: E402

rng = np.random.default_rng(0)
X = rng.normal(size=(60, 4))
TARGETS = {
    "binary ints": (X[:, 0] > 0).astype(int) + 3,
    "multiclass strings": np.array(["ant", "bee", "cat"])[rng.integers(0, 3, 60)],
    "bools": X[:, 1] > 0,
    "integral floats": np.array([-1.0, 0.0, 2.0])[rng.integers(0, 3, 60)],
}


def _quiet(fit, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning from either library
        return fit(*args)


def _signature(proto):
    """(name, type) of every input and output, in order; types without dim sizes."""

    def describe(value):
        kind = value.type.WhichOneof("value")
        if kind == "tensor_type":
            tensor = value.type.tensor_type
            return ("tensor", tensor.elem_type, len(tensor.shape.dim))
        inner = value.type.sequence_type.elem_type.map_type
        return ("sequence of maps", inner.key_type)

    return (
        [(v.name, describe(v)) for v in proto.graph.input],
        [(v.name, describe(v)) for v in proto.graph.output],
    )


@pytest.mark.parametrize("zipmap", [False, True])
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_classifier_outputs_match_skl2onnx_for_sklearns_mlp(tmp_path, target, zipmap):
    y = TARGETS[target]
    theirs = _quiet(
        sklearn_nn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=5).fit, X, y
    )
    ours = _quiet(xpnet.MLPClassifier((5,), max_iter=5, dtype="float32").fit, X, y)
    expected = skl2onnx.to_onnx(
        theirs, X[:1].astype(np.float32), options={"zipmap": zipmap}
    )
    got = xpnet.export_onnx(ours, tmp_path / "m.onnx", zipmap=zipmap)
    assert _signature(got) == _signature(expected)
    names = [o.name for o in got.graph.output]
    assert names == (
        ["output_label", "output_probability"] if zipmap else ["label", "probabilities"]
    )
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    label, probabilities = session.run(None, {"X": X.astype(np.float32)})
    assert label.tolist() == ours.predict(X).tolist()
    if zipmap:  # one {class: probability} map per row, in the classes' order
        probabilities = [list(row.values()) for row in probabilities]
    np.testing.assert_allclose(probabilities, ours.predict_proba(X), atol=1e-5)


def test_regressor_output_matches_skl2onnx_for_sklearns_mlp(tmp_path):
    y = X @ np.array([1.0, -1.0, 0.5, 2.0])
    theirs = _quiet(
        sklearn_nn.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5).fit, X, y
    )
    ours = _quiet(xpnet.MLPRegressor((5,), max_iter=5, dtype="float32").fit, X, y)
    expected = skl2onnx.to_onnx(theirs, X[:1].astype(np.float32))
    got = xpnet.export_onnx(ours, tmp_path / "m.onnx")
    assert _signature(got) == _signature(expected)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    (variable,) = session.run(None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(variable[:, 0], ours.predict(X), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def registered():
    xpnet.register_skl2onnx()


def _run(proto, X_in):
    session = ort.InferenceSession(proto.SerializeToString())
    names = [o.name for o in session.get_outputs()]
    return names, session.run(None, {"X": X_in})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("target", ["binary ints", "multiclass strings"])
def test_a_pipeline_converts_with_skl2onnx(registered, target, dtype):
    y = TARGETS[target]
    model = xpnet.MLPClassifier((8,), max_iter=30, random_state=0, dtype=dtype)
    pipe = _quiet(Pipeline([("scale", StandardScaler()), ("mlp", model)]).fit, X, y)
    X32 = X.astype(np.float32)
    proto = skl2onnx.to_onnx(pipe, X32[:1])  # skl2onnx's default: ZipMap
    names, (label, maps) = _run(proto, X32)
    assert names == ["output_label", "output_probability"]
    assert label.tolist() == pipe.predict(X32).tolist()
    proba = np.array([[row[c] for c in pipe.classes_.tolist()] for row in maps])
    np.testing.assert_allclose(proba, pipe.predict_proba(X32), atol=1e-5)
    proto = skl2onnx.to_onnx(pipe, X32[:1], options={id(model): {"zipmap": False}})
    names, (label, proba) = _run(proto, X32)
    assert names == ["label", "probabilities"] and proba.dtype == np.float32
    assert label.tolist() == pipe.predict(X32).tolist()
    np.testing.assert_allclose(proba, pipe.predict_proba(X32), atol=1e-5)


def test_a_regression_pipeline_converts_with_skl2onnx(registered):
    y = X @ np.array([1.0, -1.0, 0.5, 2.0])
    model = xpnet.MLPRegressor((8,), max_iter=30, random_state=0, dtype="float64")
    pipe = _quiet(Pipeline([("scale", StandardScaler()), ("mlp", model)]).fit, X, y)
    proto = skl2onnx.to_onnx(pipe, X[:1])  # float64 in, float64 out
    names, (variable,) = _run(proto, X)
    assert names == ["variable"] and variable.dtype == np.float64
    np.testing.assert_allclose(variable[:, 0], pipe.predict(X), rtol=1e-10)


# ---- what ONNX cannot hold: refused with the reason (issue 24, item 13) ----------


def _classifier(y, **kwargs):
    params = dict(max_iter=1, random_state=0) | kwargs
    return _quiet(xpnet.MLPClassifier((3,), **params).fit, X, y)


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(activations, "ACTIVATIONS", dict(activations.ACTIVATIONS))


def test_an_activation_without_an_onnx_form_is_refused_by_name(tmp_path, registry):
    xpnet.register_activation("halved", lambda xp, z: z / 2, lambda xp, a, g: g / 2)
    model = _classifier(TARGETS["bools"], activation="halved")
    with pytest.raises(
        xpnet.OnnxExportError,
        match=r"activation 'halved' has no ONNX form: register it with "
        r"xpnet.register_activation\('halved', forward, backward, onnx=...\)",
    ):
        xpnet.export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_an_activation_with_an_onnx_form_exports(tmp_path, registry):
    """GELU's sigmoid approximation, z s(1.702 z): its ONNX form uses a constant."""

    def forward(xp, z):
        return z / (1 + xp.exp(-1.702 * z))

    def backward(xp, z, a, grad_a):
        s = 1 / (1 + xp.exp(-1.702 * z))
        grad_a *= s + 1.702 * a * (1 - s)
        return grad_a

    def to_onnx(graph, x):
        scaled = graph.node("Mul", [x, graph.constant(1.702)])
        return graph.node("Mul", [x, graph.node("Sigmoid", [scaled])])

    xpnet.register_activation("gelu", forward, backward, onnx=to_onnx)
    model = xpnet.MLP([4, 5, 2], hidden_activation="gelu", dtype="float64", seed=0)
    xpnet.export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    (out,) = session.run(None, {"X": X})
    expected = model.backend.to_numpy(model.forward(X))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (
            np.array([2**63, 2**63 + 1], dtype=np.uint64)[(X[:, 0] > 0).astype(int)],
            r"label 9223372036854775808 does not fit ONNX's int64 labels",
        ),
        (
            np.array(["ok", "bad\udc80"])[(X[:, 0] > 0).astype(int)],
            r"label 'bad\\udc80' is not valid Unicode \(a lone surrogate\)",
        ),
    ],
    ids=["uint64 >= 2**63", "lone surrogate"],
)
def test_labels_onnx_cannot_hold_are_refused(tmp_path, y, message):
    model = _classifier(y)
    for zipmap in (False, True):
        with pytest.raises(xpnet.OnnxExportError, match=message):
            xpnet.export_onnx(model, tmp_path / "m.onnx", zipmap=zipmap)
    assert not (tmp_path / "m.onnx").exists()


def test_zipmap_needs_a_single_label_classifier(tmp_path):
    model = _classifier((X[:, :2] > 0).astype(int))  # multilabel
    with pytest.raises(xpnet.OnnxExportError, match=r"zipmap needs a single-label"):
        xpnet.export_onnx(model, tmp_path / "m.onnx", zipmap=True)


def test_xpnet_export_refuses_in_one_line(tmp_path, capsys):
    y = np.array([2**63, 2**64 - 1], dtype=np.uint64)[(X[:, 0] > 0).astype(int)]
    saved, out = tmp_path / "m.safetensors", tmp_path / "m.onnx"
    xpnet.save(_classifier(y), saved)
    assert cli.main(["export", str(saved), "--onnx", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "does not fit ONNX's int64 labels" in err
    assert not out.exists()


def test_register_skl2onnx_names_the_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # as if not installed
    with pytest.raises(
        ImportError, match=r'needs the skl2onnx package: pip install "xpnet\[onnx\]"'
    ):
        xpnet.register_skl2onnx()
