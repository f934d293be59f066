"""The ONNX graph of a model's export, built with the ``onnx`` package's helper API.

:class:`OnnxGraph` turns the configuration and tensors of a model file (see
:mod:`xpnet.files.model_file`) into an opset-17 graph with skl2onnx's outputs:

- ``MLPClassifier``: ``label`` (N,), int64 (int, bool and integral float classes)
  or string, as ``predict`` gives it; then ``probabilities`` (N, n_classes) as
  ``predict_proba`` does. A multilabel model's ``label`` is a 0/1 int64
  (N, n_labels) matrix from a 0.5 threshold.
- ``MLPRegressor``: ``variable`` (N, n_outputs).
- ``MLP``: ``output`` (N, n_outputs).

One input ``X`` (N, n_features) of the model's dtype. Each layer is a ``Gemm``
(``MatMul`` without biases) and its activation (``Relu``, ``Tanh``, ``Sigmoid``,
``Softmax``, ``Exp``, none for identity, or the ONNX form a registered activation
was given). The command's standardization runs in float64 between two casts, as
xpnet applies it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..maths.activations import get_activation

OPSET = 17
_OPS = {
    "relu": "Relu",
    "tanh": "Tanh",
    "logistic": "Sigmoid",
    "sigmoid": "Sigmoid",
    "softmax": "Softmax",
    "exp": "Exp",  # MLPRegressor(loss="poisson")'s output
    "identity": None,
}
OUTPUTS = {
    "MLPClassifier": ("label", "probabilities"),
    "MLPRegressor": ("variable",),
    "MLP": ("output",),
}


class OnnxExportError(ValueError):
    """The model has something ONNX cannot express: labels no ONNX tensor holds, or
    a registered activation without an ONNX form."""


class OnnxGraph:
    """The nodes, initializers and outputs of one model's graph.

    ``input_dtype``: the type ``X`` comes in (cast to the model's on entry);
    ``output_dtype``: the type of the probabilities or predictions (cast on exit).
    Both default to the model's dtype.
    """

    def __init__(
        self,
        onnx: Any,
        config: dict[str, Any],
        arrays: dict[str, Any],
        input_dtype: np.dtype | None = None,
        output_dtype: np.dtype | None = None,
    ):
        self.onnx, self.helper = onnx, onnx.helper
        self.config, self.arrays = config, arrays
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.outputs: list[Any] = []
        self.kind = config["kind"]
        self.dtype = np.dtype(config["dtype"])
        self.input_dtype = self.dtype if input_dtype is None else input_dtype
        self.output_dtype = output_dtype

    def build(self) -> Any:
        """The ``onnx.GraphProto``; raises :class:`OnnxExportError`."""
        sizes = self.config["layer_sizes"]
        activations = self._activations()  # refused before any node is made
        inputs = [self._value_info("X", self.input_dtype, ["N", sizes[0]])]
        x = "X"
        if "x_mean" in self.arrays:  # the command's standardization, in float64
            x = self._cast(x, np.dtype(np.float64), self.input_dtype)
            x = self.node("Sub", [x, self._constant("x_mean")])
            x = self.node("Div", [x, self._constant("x_scale")])
            x = self._cast(x, self.dtype, np.dtype(np.float64))
        else:
            x = self._cast(x, self.dtype, self.input_dtype)
        out = self._layers(x, activations)
        if self.kind == "MLPClassifier":
            self._classifier_outputs(out)
        elif self.kind == "MLPRegressor":
            self._regressor_outputs(out)
        else:
            self._result(out, "output", self.dtype, sizes[-1:])
        return self.helper.make_graph(
            self.nodes, f"xpnet_{self.kind}", inputs, self.outputs, self.initializers
        )

    # ---- for a registered activation's ONNX form ---------------------------------

    def node(
        self, op_type: str, inputs: list[str], output: str = "", **attrs: Any
    ) -> str:
        """Add an ONNX node (opset 17); returns its output's name."""
        output = output or f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], **attrs))
        return output

    def constant(self, value: Any) -> str:
        """Add a number or array in the model's dtype; returns its name."""
        name = f"constant_{len(self.initializers)}"
        return self._constant_value(name, np.asarray(value, dtype=self.dtype))

    # ---- the layers ----------------------------------------------------------------

    def _activations(self) -> list[Any]:
        """The activation of each layer: an ONNX op name, None, or a user's form."""
        if self.kind == "MLP":
            names = list(self.config["activations"])
        else:
            n_hidden = len(self.config["layer_sizes"]) - 2
            hidden = self.config["params"]["activation"]
            names = [hidden] * n_hidden + [self.config["out_activation_"]]
        return [_op_for(name) for name in names]

    def _layers(self, x: str, activations: list[Any]) -> str:
        for layer, op in enumerate(activations):
            weight = self._constant(f"W{layer}")
            if f"b{layer}" in self.arrays:
                x = self.node("Gemm", [x, weight, self._constant(f"b{layer}")])
            else:
                x = self.node("MatMul", [x, weight])
            if callable(op):
                x = op(self, x)
            elif op == "Softmax":
                x = self.node(op, [x], axis=1)
            elif op is not None:
                x = self.node(op, [x])
        return x

    def _classifier_outputs(self, out: str) -> None:
        kind = self.config["target_kind"]
        n_outputs = self.config["layer_sizes"][-1]
        if kind == "multilabel-indicator":
            threshold = self._constant_value("threshold", np.array(0.5, self.dtype))
            above = self.node("Greater", [out, threshold])
            self.node("Cast", [above], "label", to=self.onnx.TensorProto.INT64)
            self._output("label", np.dtype(np.int64), [n_outputs])
            self._result(out, "probabilities", self.dtype, [n_outputs])
            return
        classes = onnx_classes(self.config["classes_"])
        if kind == "binary":  # one logistic output p: probabilities [1 - p, p]
            one = self._constant_value("one", np.array(1.0, self.dtype))
            out = self.node("Concat", [self.node("Sub", [one, out]), out], axis=1)
        index = self.node("ArgMax", [out], axis=1, keepdims=0)
        self.node("Gather", [self._constant_value("classes", classes), index], "label")
        self._output("label", classes.dtype, [])
        self._result(out, "probabilities", self.dtype, [len(classes)])

    def _regressor_outputs(self, out: str) -> None:
        out_type = self.dtype
        if "y_mean" in self.arrays:  # back to the targets' units, in float64
            out = self._cast(out, np.dtype(np.float64), self.dtype)
            out = self.node("Mul", [out, self._constant("y_scale")])
            out = self.node("Add", [out, self._constant("y_mean")])
            out_type = np.dtype(np.float64)
        self._result(out, "variable", out_type, self.config["layer_sizes"][-1:])

    # ---- helpers -----------------------------------------------------------------

    def _result(self, x: str, name: str, dtype: np.dtype, shape: list[Any]) -> None:
        """The output ``name``, cast to ``output_dtype`` where one is asked for."""
        to = self.output_dtype or dtype
        if to != dtype:
            self.node("Cast", [x], name, to=self._tensor_type(to))
        else:
            self.node("Identity", [x], name)
        self._output(name, to, shape)

    def _cast(self, x: str, to: np.dtype, dtype: np.dtype) -> str:
        return x if to == dtype else self.node("Cast", [x], to=self._tensor_type(to))

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


def _op_for(name: str) -> Any:
    """A built-in activation's ONNX op (None: identity), or a registered one's form."""
    if name in _OPS:
        return _OPS[name]
    activation = get_activation(name)
    if activation.onnx is None:
        raise OnnxExportError(
            f"activation {name!r} has no ONNX form: register it with "
            f"xpnet.register_activation({name!r}, forward, backward, onnx=...) to "
            "export a model that uses it"
        )
    return activation.onnx


def onnx_classes(record: dict[str, Any]) -> np.ndarray:
    """The classes as skl2onnx types them: int64 (int, bool and integral float
    labels) or string; OnnxExportError for what neither holds."""
    dtype = np.dtype(record["dtype"])
    values = record["values"]
    if dtype.kind == "f" and any(float(v) != int(v) for v in values):
        raise OnnxExportError(
            f"labels {values!r} are not all integral; ONNX labels are int64 or strings"
        )
    if dtype.kind in "iufb":
        too_big = [v for v in values if not -(2**63) <= int(v) < 2**63]
        if too_big:
            raise OnnxExportError(
                f"label {too_big[0]!r} does not fit ONNX's int64 labels (-2**63 .. "
                "2**63 - 1); fit on smaller integers or on strings to export"
            )
        return np.array([int(v) for v in values], dtype=np.int64)
    if dtype.kind in "USO":
        for value in values:
            try:
                str(value).encode("utf-8")
            except UnicodeEncodeError:
                raise OnnxExportError(
                    f"label {value!r} is not valid Unicode (a lone surrogate) and "
                    "ONNX strings are UTF-8; fit on labels that encode to export"
                ) from None
        return np.array(values, dtype=object)
    raise OnnxExportError(
        f"labels of dtype {dtype} have no ONNX tensor type; fit on int, float, bool "
        "or string labels to export"
    )
