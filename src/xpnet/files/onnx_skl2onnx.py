"""xpnet's estimators in skl2onnx: :func:`register_skl2onnx`.

skl2onnx converts a scikit-learn pipeline step by step, each step through the
converter registered for its class. This registers ``MLPClassifier`` and
``MLPRegressor`` (``update_registered_converter``) with a shape calculator and a
converter that copies the graph of :func:`xpnet.files.onnx_export.model_graph` into
skl2onnx's container. The step takes the type the previous one emits (float32 after
scikit-learn's scalers), casts it to the model's dtype, and gives its outputs in
that type, as skl2onnx's converter for scikit-learn's own MLPs does. skl2onnx is
imported only here, when :func:`register_skl2onnx` is called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .model_file import _model_class
from .onnx_export import model_graph, zipmapped
from .onnx_graph import OUTPUTS

_ALIASES = {"MLPClassifier": "XpnetMLPClassifier", "MLPRegressor": "XpnetMLPRegressor"}


def register_skl2onnx() -> None:
    """Let ``skl2onnx.to_onnx`` convert xpnet's ``MLPClassifier`` and
    ``MLPRegressor``, alone or inside a pipeline; call it once per process.

    The classifier takes skl2onnx's ``zipmap`` option (default True:
    ``output_label`` and ``output_probability`` maps; ``options={"zipmap": False}``:
    the ``label`` and ``probabilities`` tensors). The regressor's output is
    ``variable`` (N, n_outputs). The example needs scikit-learn and skl2onnx::

        import numpy as np, skl2onnx, xpnet
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        xpnet.register_skl2onnx()
        pipe = make_pipeline(StandardScaler(), xpnet.MLPClassifier()).fit(X, y)
        proto = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32))

    Raises
    ------
    ImportError
        skl2onnx is not installed (``pip install "xpnet[onnx]"``).
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError:
        raise ImportError(
            "registering with skl2onnx needs the skl2onnx package: "
            'pip install "xpnet[onnx]"'
        ) from None
    update_registered_converter(
        _model_class("MLPClassifier"),
        _ALIASES["MLPClassifier"],
        _shapes,
        _convert,
        parser=_parse_classifier,
        options={"zipmap": [True, False]},
    )
    update_registered_converter(
        _model_class("MLPRegressor"), _ALIASES["MLPRegressor"], _shapes, _convert
    )


def _parse_classifier(
    scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None
) -> list[Any]:
    """skl2onnx's parser for the classifier: two outputs, named as skl2onnx names
    them with and without ZipMap (their types are set by :func:`_shapes`)."""
    from skl2onnx.common.data_types import guess_tensor_type

    zipmap = scope.get_options(model, {"zipmap": True})["zipmap"]
    operator = scope.declare_local_operator(_ALIASES["MLPClassifier"], model)
    operator.inputs = inputs
    names = (
        ("output_label", "output_probability") if zipmap else OUTPUTS["MLPClassifier"]
    )
    for name in names:
        variable = scope.declare_local_variable(name, guess_tensor_type(inputs[0].type))
        operator.outputs.append(variable)
    return list(operator.outputs)


def _shapes(operator: Any) -> None:
    """skl2onnx's shape calculator: the outputs' types and shapes."""
    from skl2onnx.common.data_types import (
        DictionaryType,
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        SequenceType,
        StringTensorType,
    )

    model = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    numbers = (
        DoubleTensorType
        if isinstance(operator.inputs[0].type, DoubleTensorType)
        else FloatTensorType
    )
    if getattr(model, "_estimator_type", None) != "classifier":
        operator.outputs[0].type = numbers([n_rows, int(model.n_outputs_)])
        return
    if model._target_kind == "multilabel-indicator":
        label = Int64TensorType([n_rows, int(model.n_outputs_)])
    elif np.asarray(model.classes_).dtype.kind in "iufb":
        label = Int64TensorType([n_rows])
    else:
        label = StringTensorType([n_rows])
    operator.outputs[0].type = label
    if _is_zipmap(operator.scope_inst, model):
        key = type(label)([])
        operator.outputs[1].type = SequenceType(DictionaryType(key, FloatTensorType()))
    else:
        operator.outputs[1].type = numbers([n_rows, len(model.classes_)])


def _convert(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's converter: xpnet's graph, its names made unique in ``scope``."""
    import onnx
    from skl2onnx.common.data_types import DoubleTensorType, guess_numpy_type

    model = operator.raw_operator
    input_dtype = np.dtype(guess_numpy_type(operator.inputs[0].type))
    result = operator.outputs[-1].type  # the probabilities or predictions
    output_dtype = np.dtype(
        np.float64 if isinstance(result, DoubleTensorType) else np.float32
    )
    graph, config = model_graph(model, input_dtype, output_dtype)
    if config["kind"] == "MLPClassifier" and _is_zipmap(scope, model):
        graph = zipmapped(onnx, graph, config)
    names = {"X": operator.inputs[0].full_name}
    for output, variable in zip(graph.output, operator.outputs, strict=True):
        names[output.name] = variable.full_name

    def renamed(name: str) -> str:
        if name and name not in names:
            names[name] = scope.get_unique_variable_name(f"xpnet_{name}")
        return names.get(name, name)

    for tensor in graph.initializer:
        if tensor.data_type == onnx.TensorProto.STRING:
            content: Any = list(tensor.string_data)
        else:
            content = onnx.numpy_helper.to_array(tensor).ravel()
        container.add_initializer(
            renamed(tensor.name), tensor.data_type, list(tensor.dims), content
        )
    for node in graph.node:
        attributes = {
            a.name: onnx.helper.get_attribute_value(a) for a in node.attribute
        }
        container.add_node(
            node.op_type,
            [renamed(name) for name in node.input],
            [renamed(name) for name in node.output],
            op_domain=node.domain,
            name=scope.get_unique_operator_name(f"xpnet_{node.op_type}"),
            **attributes,
        )


def _is_zipmap(scope: Any, model: Any) -> bool:
    return bool(scope.get_options(model, {"zipmap": True})["zipmap"])
