"""ONNX export: run a trained xpnet model without Python or xpnet (onnxruntime, C++,
C#, JavaScript, ...), with the outputs skl2onnx gives scikit-learn's own models.

The graph (see :mod:`xpnet.files.onnx_graph`) is built from the model's export (the
same configuration and tensors as its model file), opset 17, and passes
``onnx.checker.check_model(full_check=True)``. One input ``X`` (N, n_features) in
the model's dtype (float32 models take float32). Outputs, in skl2onnx's order:

- ``MLPClassifier``: ``label`` (int64 or string, as ``predict``), then
  ``probabilities`` (as ``predict_proba``); with ``zipmap=True``, skl2onnx's default
  form instead: ``output_label`` and ``output_probability``, a sequence of
  {class: probability} maps (float32).
- ``MLPRegressor``: ``variable`` (N, n_outputs), in the targets' units (float64 when
  the command standardized the targets).
- ``MLP``: ``output`` (N, n_outputs).

:func:`xpnet.register_skl2onnx` lets ``skl2onnx.to_onnx`` convert xpnet's
estimators inside scikit-learn pipelines. Needs the ``onnx`` extra:
``pip install "xpnet[onnx]"``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .atomic import write_atomically
from .onnx_graph import OPSET, OnnxExportError, OnnxGraph, onnx_classes

__all__ = ["OPSET", "OnnxExportError", "export_onnx", "model_graph", "zipmapped"]

IR_VERSION = 8  # the IR version of opset 17 (ONNX 1.12), read by every runtime since
ML_OPSET = 1  # ai.onnx.ml, for ZipMap


def export_onnx(
    model: Any, path: str | os.PathLike[str], *, zipmap: bool = False
) -> Any:
    """Write ``model`` to ``path`` as an ONNX graph (atomically) and return it.

    Parameters
    ----------
    model : MLP, MLPClassifier or MLPRegressor
        A fitted xpnet model.
    path : str or path-like
    zipmap : bool, default False
        A classifier's probabilities as skl2onnx's ZipMap (outputs ``output_label``
        and ``output_probability``, a sequence of {class: probability} maps) instead
        of the ``label`` and ``probabilities`` tensors. Not for multilabel models.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    ImportError
        The ``onnx`` package is not installed (``pip install "xpnet[onnx]"``).
    TypeError
        ``model`` is not an xpnet model.
    OnnxExportError (a ValueError)
        Something ONNX cannot hold: labels other than int64-sized integers, bools,
        integral floats or UTF-8 strings; an activation registered without an ONNX
        form; ``zipmap`` for a model that is no single-label classifier.
    """
    onnx = _onnx()
    graph, config = model_graph(model)
    if zipmap:
        graph = zipmapped(onnx, graph, config)
    opsets = [onnx.helper.make_opsetid("", OPSET)]
    if zipmap:
        opsets.append(onnx.helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="xpnet")
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    write_atomically(path, proto.SerializeToString())
    return proto


def model_graph(
    model: Any,
    input_dtype: np.dtype | None = None,
    output_dtype: np.dtype | None = None,
) -> tuple[Any, dict[str, Any]]:
    """(``onnx.GraphProto`` of ``model``, its exported configuration); the dtypes as
    in :class:`~xpnet.files.onnx_graph.OnnxGraph`."""
    from .model_file import exported

    config, arrays = exported(model)
    graph = OnnxGraph(_onnx(), config, arrays, input_dtype, output_dtype)
    return graph.build(), config


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError(
            'ONNX export needs the onnx package: pip install "xpnet[onnx]"'
        ) from None
    return onnx


def zipmapped(onnx: Any, graph: Any, config: dict[str, Any]) -> Any:
    """``graph`` with skl2onnx's ZipMap outputs in place of label and probabilities."""
    if config["kind"] != "MLPClassifier" or config["target_kind"] not in (
        "binary",
        "multiclass",
    ):
        raise OnnxExportError(
            "zipmap needs a single-label MLPClassifier (a class per sample); got a "
            f"{config['kind']} ({config.get('target_kind', 'no classes')}): export "
            "the tensors (zipmap=False; in skl2onnx, options={id(model): "
            "{'zipmap': False}})"
        )
    classes = onnx_classes(config["classes_"])
    helper, tensor = onnx.helper, onnx.TensorProto
    labels: dict[str, list[Any]]
    if classes.dtype.kind == "O":
        labels = {"classlabels_strings": [str(c) for c in classes]}
        key = tensor.STRING
    else:
        labels = {"classlabels_int64s": [int(c) for c in classes]}
        key = tensor.INT64
    nodes = list(graph.node)
    nodes.append(helper.make_node("Identity", ["label"], ["output_label"]))
    probabilities = "probabilities"
    if graph.output[1].type.tensor_type.elem_type != tensor.FLOAT:  # ZipMap's only
        nodes.append(
            helper.make_node("Cast", [probabilities], ["proba_f32"], to=tensor.FLOAT)
        )
        probabilities = "proba_f32"
    nodes.append(
        helper.make_node(
            "ZipMap",
            [probabilities],
            ["output_probability"],
            domain="ai.onnx.ml",
            **labels,
        )
    )
    maps = helper.make_sequence_type_proto(
        helper.make_map_type_proto(
            key, helper.make_tensor_type_proto(tensor.FLOAT, None)
        )
    )
    label = helper.make_tensor_value_info("output_label", key, ["N"])
    outputs = [label, helper.make_value_info("output_probability", maps)]
    return helper.make_graph(nodes, graph.name, graph.input, outputs, graph.initializer)
