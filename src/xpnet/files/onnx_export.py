"""ONNX export: run a trained xpnet model without Python or xpnet (onnxruntime, C++,
C#, JavaScript, ...).

The graph is built with the ``onnx`` package's helper API from the model's export
(the same configuration and tensors as its model file), opset 17, and passes
``onnx.checker.check_model(full_check=True)``. One input ``X`` (N, n_features) of the
model's dtype (float64 when the model carries the command's standardization, which
the graph applies in float64 before the cast, as xpnet does). Each layer is a
``Gemm`` (``MatMul`` without biases) and one node for its activation (``Relu``,
``Tanh``, ``Sigmoid``, ``Softmax``, ``Exp``; none for identity). Outputs:

- ``MLP``: ``output`` (N, n_outputs).
- ``MLPRegressor``: ``predictions``, (N,) for one output else (N, n_outputs), in
  the targets' units (float64 when the command standardized the targets).
- ``MLPClassifier``: ``probabilities`` as ``predict_proba`` gives them and ``label``
  as ``predict`` does: ``Gather`` of the classes (int64, double, bool or string) at
  the ``ArgMax``; a multilabel model gives a 0/1 int64 (N, n_labels) matrix from a
  0.5 threshold.

Needs the ``onnx`` extra: ``pip install "xpnet[onnx]"``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .atomic import write_atomically

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17 (ONNX 1.12), read by every runtime since
_ACTIVATIONS = {
    "relu": "Relu",
    "tanh": "Tanh",
    "logistic": "Sigmoid",
    "sigmoid": "Sigmoid",
    "softmax": "Softmax",
    "exp": "Exp",  # MLPRegressor(loss="poisson")'s output
    "identity": None,
}


def export_onnx(model: Any, path: str | os.PathLike[str]) -> Any:
    """Write ``model`` to ``path`` as an ONNX graph (atomically) and return it.

    Parameters
    ----------
    model : MLP, MLPClassifier or MLPRegressor
        A fitted xpnet model.
    path : str or path-like

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    ImportError
        The ``onnx`` package is not installed (``pip install "xpnet[onnx]"``).
    TypeError
        ``model`` is not an xpnet model.
    ValueError
        Labels of a type ONNX has no tensor for (datetimes).
    """
    try:
        import onnx
    except ImportError:
        raise ImportError(
            'ONNX export needs the onnx package: pip install "xpnet[onnx]"'
        ) from None
    from .model_file import exported

    config, arrays = exported(model)
    graph = _Graph(onnx, config, arrays)
    proto = onnx.helper.make_model(
        graph.build(),
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name="xpnet",
    )
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    write_atomically(path, proto.SerializeToString())
    return proto


class _Graph:
    """The nodes, initializers and outputs of one model's graph."""

    def __init__(self, onnx: Any, config: dict[str, Any], arrays: dict[str, Any]):
        self.onnx, self.helper = onnx, onnx.helper
        self.config, self.arrays = config, arrays
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.outputs: list[Any] = []
        self.kind = config["kind"]
        self.dtype = np.dtype(config["dtype"])

    def build(self) -> Any:
        sizes = self.config["layer_sizes"]
        scaled = "x_mean" in self.arrays
        x_type = np.dtype(np.float64) if scaled else self.dtype
        inputs = [self._value_info("X", x_type, ["N", sizes[0]])]
        x = "X"
        if scaled:  # the command's standardization, in float64, then the cast
            x = self._node("Sub", [x, self._constant("x_mean")])
            x = self._node("Div", [x, self._constant("x_scale")])
            x = self._cast(x, self.dtype)
        out = self._layers(x, self._activations())
        if self.kind == "MLPClassifier":
            self._classifier_outputs(out)
        elif self.kind == "MLPRegressor":
            self._regressor_outputs(out)
        else:
            self._output(
                self._node("Identity", [out], "output"), self.dtype, sizes[-1:]
            )
        return self.helper.make_graph(
            self.nodes, f"xpnet_{self.kind}", inputs, self.outputs, self.initializers
        )

    def _activations(self) -> list[str]:
        if self.kind == "MLP":
            return list(self.config["activations"])
        n_hidden = len(self.config["layer_sizes"]) - 2
        hidden = self.config["params"]["activation"]
        return [hidden] * n_hidden + [self.config["out_activation_"]]

    def _layers(self, x: str, activations: list[str]) -> str:
        for layer, name in enumerate(activations):
            weight = self._constant(f"W{layer}")
            if f"b{layer}" in self.arrays:
                x = self._node("Gemm", [x, weight, self._constant(f"b{layer}")])
            else:
                x = self._node("MatMul", [x, weight])
            op = _ACTIVATIONS[name]
            if op == "Softmax":
                x = self._node(op, [x], axis=1)
            elif op is not None:
                x = self._node(op, [x])
        return x

    def _classifier_outputs(self, out: str) -> None:
        kind, classes = self.config["target_kind"], _classes(self.config["classes_"])
        n_outputs = self.config["layer_sizes"][-1]
        if kind == "multilabel-indicator":
            self._node("Identity", [out], "probabilities")
            threshold = self._constant_value("threshold", np.array(0.5, self.dtype))
            above = self._node("Greater", [out, threshold])
            self._node("Cast", [above], "label", to=self.onnx.TensorProto.INT64)
            self._output("probabilities", self.dtype, [n_outputs])
            self._output("label", np.dtype(np.int64), [n_outputs])
            return
        if kind == "binary":  # one logistic output p: probabilities [1 - p, p]
            one = self._constant_value("one", np.array(1.0, self.dtype))
            out = self._node("Concat", [self._node("Sub", [one, out]), out], axis=1)
        self._node("Identity", [out], "probabilities")
        index = self._node("ArgMax", [out], axis=1, keepdims=0)
        self._node("Gather", [self._constant_value("classes", classes), index], "label")
        self._output("probabilities", self.dtype, [len(classes)])
        self._output("label", classes.dtype, [])

    def _regressor_outputs(self, out: str) -> None:
        n_outputs = self.config["layer_sizes"][-1]
        out_type = self.dtype
        if "y_mean" in self.arrays:  # back to the targets' units, in float64
            out = self._cast(out, np.dtype(np.float64))
            out = self._node("Mul", [out, self._constant("y_scale")])
            out = self._node("Add", [out, self._constant("y_mean")])
            out_type = np.dtype(np.float64)
        if n_outputs == 1:
            axes = self._constant_value("squeeze_axes", np.array([1], np.int64))
            self._node("Squeeze", [out, axes], "predictions")
            self._output("predictions", out_type, [])
        else:
            self._node("Identity", [out], "predictions")
            self._output("predictions", out_type, [n_outputs])

    # ---- helpers --------------------------------------------------------------------

    def _node(self, op: str, inputs: list[str], output: str = "", **attrs: Any) -> str:
        output = output or f"{op.lower()}_{len(self.nodes)}"
        self.nodes.append(self.helper.make_node(op, inputs, [output], **attrs))
        return output

    def _cast(self, x: str, dtype: np.dtype) -> str:
        return self._node("Cast", [x], to=self._tensor_type(dtype))

    def _constant(self, name: str) -> str:
        return self._constant_value(name, self.arrays[name])

    def _constant_value(self, name: str, value: np.ndarray) -> str:
        if value.dtype.kind in "UO":
            tensor = self.helper.make_tensor(
                name,
                self.onnx.TensorProto.STRING,
                value.shape,
                [str(v).encode("utf-8") for v in value.tolist()],
            )
        else:
            tensor = self.onnx.numpy_helper.from_array(value, name)
        self.initializers.append(tensor)
        return name

    def _tensor_type(self, dtype: np.dtype) -> int:
        if dtype.kind in "UO":
            return int(self.onnx.TensorProto.STRING)
        return int(self.helper.np_dtype_to_tensor_dtype(dtype))

    def _value_info(self, name: str, dtype: np.dtype, shape: list[Any]) -> Any:
        return self.helper.make_tensor_value_info(name, self._tensor_type(dtype), shape)

    def _output(self, name: str, dtype: np.dtype, shape: list[Any]) -> None:
        self.outputs.append(self._value_info(name, dtype, ["N", *shape]))


def _classes(record: dict[str, Any]) -> np.ndarray:
    """The classes as an array ONNX has a type for (int64, double, bool, str)."""
    dtype = np.dtype(record["dtype"])
    values = record["values"]
    if dtype.kind in "iu":
        return np.array(values, dtype=np.int64)
    if dtype.kind in "fb":
        return np.array(values, dtype=np.float64 if dtype.kind == "f" else np.bool_)
    if dtype.kind in "USO":
        return np.array(values, dtype=object)
    raise ValueError(
        f"labels of dtype {dtype} have no ONNX tensor type; fit on int, float, bool "
        "or string labels to export"
    )
