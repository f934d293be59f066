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


def test_register_skl2onnx_maps_each_estimator_to_its_converter(monkeypatch):
    """From skl2onnx's tables without xpnet's classes (an earlier test or a parent
    process may have registered them): each class under its alias, the classifier
    with its parser."""
    from skl2onnx._parse import sklearn_parsers_map
    from skl2onnx._supported_operators import sklearn_operator_name_map

    for cls in (xpnet.MLPClassifier, xpnet.MLPRegressor):
        monkeypatch.delitem(sklearn_operator_name_map, cls, raising=False)
        monkeypatch.delitem(sklearn_parsers_map, cls, raising=False)
    xpnet.register_skl2onnx()
    assert sklearn_operator_name_map[xpnet.MLPClassifier] == "XpnetMLPClassifier"
    assert sklearn_operator_name_map[xpnet.MLPRegressor] == "XpnetMLPRegressor"
    assert xpnet.MLPRegressor not in sklearn_parsers_map  # skl2onnx's default
    classifier = _quiet(xpnet.MLPClassifier((3,), max_iter=1).fit, X, TARGETS["bools"])
    regressor = _quiet(xpnet.MLPRegressor((3,), max_iter=1).fit, X, X[:, 0])
    for model, names in [
        (classifier, ["output_label", "output_probability"]),
        (regressor, ["variable"]),
    ]:
        proto = skl2onnx.to_onnx(model, X[:1].astype(np.float32))
        assert [v.name for v in proto.graph.output] == names


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
    with pytest.raises(xpnet.OnnxExportError) as error:
        xpnet.export_onnx(model, tmp_path / "m.onnx")
    assert str(error.value) == (
        "activation 'halved' has no ONNX form: register it with "
        "xpnet.register_activation('halved', forward, backward, onnx=...) to export "
        "a model that uses it"
    )
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_activation_with_an_onnx_form_exports(tmp_path, registry, dtype):
    """GELU's sigmoid approximation, z s(1.702 z): its ONNX form uses a constant (in
    the model's dtype)."""

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
    model = xpnet.MLP([4, 5, 2], hidden_activation="gelu", dtype=dtype, seed=0)
    xpnet.export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    (out,) = session.run(None, {"X": X.astype(dtype)})
    expected = model.backend.to_numpy(model.forward(X.astype(dtype)))
    tol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


def test_an_onnx_form_that_breaks_the_graph_is_refused_at_export(tmp_path, registry):
    """The full check (types and shapes) runs before the file is written: a form that
    leaves float64 in a float32 model fails there, not in the runtime."""

    def to_onnx(graph, x):
        return graph.node("Cast", [x], to=onnx.TensorProto.DOUBLE)

    xpnet.register_activation(
        "same", lambda xp, z: z, lambda xp, z, a, g: g, onnx=to_onnx
    )
    model = xpnet.MLP([4, 5, 2], hidden_activation="same", dtype="float32", seed=0)
    with pytest.raises(onnx.shape_inference.InferenceError, match="inconsistent type"):
        xpnet.export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


NOT_INT64 = "does not fit ONNX's int64 labels (-2**63 .. 2**63 - 1); fit on smaller "
REFUSED = {
    "uint64 >= 2**63": (
        np.array([2**63, 2**63 + 1], dtype=np.uint64),
        f"label 9223372036854775808 {NOT_INT64}integers or on strings to export",
    ),
    "float below -2**63": (
        np.array([-(2.0**64), 0.0]),
        f"label -1.8446744073709552e+19 {NOT_INT64}integers or on strings to export",
    ),
    "lone surrogate": (
        np.array(["ok", "bad\udc80"]),
        "label 'bad\\udc80' is not valid Unicode (a lone surrogate) and ONNX strings "
        "are UTF-8; fit on labels that encode to export",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_labels_onnx_cannot_hold_are_refused(tmp_path, case):
    classes, message = REFUSED[case]
    model = _classifier(classes[(X[:, 0] > 0).astype(int)])
    for zipmap in (False, True):
        with pytest.raises(xpnet.OnnxExportError) as error:
            xpnet.export_onnx(model, tmp_path / "m.onnx", zipmap=zipmap)
        assert str(error.value) == message
    assert not (tmp_path / "m.onnx").exists()


def test_non_integral_float_labels_are_refused(tmp_path):
    """fit refuses them, but classes_ may be relabelled after it; ONNX would
    truncate them."""
    model = _classifier(TARGETS["bools"])
    model.classes_ = np.array([0.5, 1.5])
    with pytest.raises(xpnet.OnnxExportError) as error:
        xpnet.export_onnx(model, tmp_path / "m.onnx")
    assert str(error.value) == (
        "labels [0.5, 1.5] are not all integral; ONNX labels are int64 or strings"
    )


def test_the_int64_extremes_are_labels(tmp_path):
    classes = np.array([-(2**63), 2**63 - 1], dtype=np.int64)
    model = _classifier(classes[(X[:, 0] > 0).astype(int)])
    xpnet.export_onnx(model, tmp_path / "m.onnx")
    label, _ = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"X": X})
    assert label.dtype == np.int64 and set(label.tolist()) <= set(classes.tolist())
    assert label.tolist() == model.predict(X).tolist()


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (
            lambda: _classifier((X[:, :2] > 0).astype(int)),
            "MLPClassifier (multilabel-indicator)",
        ),
        (lambda: xpnet.MLP([4, 3, 2], seed=0), "MLP (no classes)"),
    ],
    ids=["multilabel", "MLP"],
)
def test_zipmap_needs_a_single_label_classifier(tmp_path, make, what):
    model = make()
    with pytest.raises(xpnet.OnnxExportError) as error:
        xpnet.export_onnx(model, tmp_path / "m.onnx", zipmap=True)
    assert str(error.value) == (
        "zipmap needs a single-label MLPClassifier (a class per sample); got a "
        f"{what}: export the tensors (zipmap=False; in skl2onnx, "
        "options={id(model): {'zipmap': False}})"
    )


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


def _declared(value):
    """An input's or output's declared type: (elem_type, dims) with None for a free
    dim, or the kind of a non-tensor type."""
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return kind
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return tensor.elem_type, dims


FLOAT, DOUBLE = onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE
INT64, STRING = onnx.TensorProto.INT64, onnx.TensorProto.STRING
DECLARED = {  # (estimator, y, options, batch, input type): the outputs declared
    "strings, ZipMap": (
        "MLPClassifier",
        TARGETS["multiclass strings"],
        None,
        None,
        FLOAT,
        {"output_label": (STRING, [None]), "output_probability": "sequence_type"},
    ),
    "ints, ZipMap, 7 rows": (
        "MLPClassifier",
        TARGETS["binary ints"],
        None,
        7,
        FLOAT,
        {"output_label": (INT64, [7]), "output_probability": "sequence_type"},
    ),
    "ints, tensors, 7 rows": (
        "MLPClassifier",
        TARGETS["binary ints"],
        {"zipmap": False},
        7,
        DOUBLE,
        {"label": (INT64, [7]), "probabilities": (DOUBLE, [7, 2])},
    ),
    "strings, tensors": (
        "MLPClassifier",
        TARGETS["multiclass strings"],
        {"zipmap": False},
        None,
        FLOAT,
        {"label": (STRING, [None]), "probabilities": (FLOAT, [None, 3])},
    ),
    "multilabel, tensors": (
        "MLPClassifier",
        (X[:, :2] > 0).astype(int),
        {"zipmap": False},
        None,
        FLOAT,
        {"label": (INT64, [None, 2]), "probabilities": (FLOAT, [None, 2])},
    ),
    "regressor, 7 rows": (
        "MLPRegressor",
        X[:, :2],
        None,
        7,
        FLOAT,
        {"variable": (FLOAT, [7, 2])},
    ),
}


@pytest.mark.parametrize("case", sorted(DECLARED))
def test_skl2onnx_declares_xpnets_outputs(registered, case):
    """Alone (not in a pipeline), with skl2onnx's default options or others, and a
    free or fixed batch size: the outputs' names, types and shapes; the nodes'
    names say whose they are; onnxruntime predicts what xpnet does."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    estimator, y, options, batch, input_type, declared = DECLARED[case]
    model = getattr(xpnet, estimator)((5,), max_iter=1, random_state=0)
    _quiet(model.fit, X, y)
    tensor_type = FloatTensorType if input_type == FLOAT else DoubleTensorType
    proto = skl2onnx.to_onnx(
        model, initial_types=[("X", tensor_type([batch, 4]))], options=options
    )
    assert {v.name: _declared(v) for v in proto.graph.output} == declared
    names = [node.name for node in proto.graph.node]
    assert len(set(names)) == len(names)
    assert all(name.startswith("xpnet_") for name in names)
    X_in = X[:7].astype(np.float32 if input_type == FLOAT else np.float64)
    first = _run(proto, X_in)[1][0]  # the labels or the predictions
    expected = model.predict(X_in)
    if estimator == "MLPClassifier":
        assert first.tolist() == expected.tolist()
    else:
        np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-5)
