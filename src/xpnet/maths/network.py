"""The backprop maths: pure functions of ``(xp, params, data)``.

Layer ``l`` (0-based) maps ``outputs[l]`` (n_samples, fan_in) to
``outputs[l + 1] = act_l(outputs[l] @ weights[l] + biases[l])`` (n_samples, fan_out),
with ``weights[l]`` shaped (fan_in, fan_out) as in the seed notebook; ``outputs[0]`` is
the input ``X``. Gradients are batch means of the loss's derivatives.

Every matrix product goes through ``xp.matmul`` (the same numbers as ``@``), so a
namespace handed in can see each GEMM (the CUDA-graph capture cuts its graphs there:
:mod:`xpnet.training.compiled.cuda_graph`); a sparse ``X`` (SciPy, CuPy, xpnet's
device CSR: what has ``toarray``) keeps its own ``@``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .activations import Activation
from .losses import Loss, get_loss

Array = Any


@dataclass
class ForwardPass:
    """What a forward pass keeps.

    ``outputs[0]`` is X and ``outputs[l + 1]`` the output of layer ``l``;
    ``inputs[l]`` is layer ``l``'s input ``z`` before activation, kept on request
    (else None where no activation needs it; where some do, theirs are kept, the
    others' entries are None).
    """

    outputs: list[Array]
    inputs: list[Array | None] | None = None


@dataclass
class Gradients:
    """Per-layer gradients: ``weights[l]`` (fan_in, fan_out), ``biases[l]`` (fan_out,).

    With ``keep_errors``, ``output_errors[l]`` is dL/d outputs[l + 1] and
    ``error_terms[l]`` is dL/dz of layer ``l`` (the seed's "error" and "error term",
    up to the sign and the 1/n_samples of a batch mean).
    """

    weights: list[Array]
    biases: list[Array] | None
    output_errors: list[Array] | None = None
    error_terms: list[Array] | None = None


def forward(
    xp: Any,
    weights: list[Array],
    biases: list[Array] | None,
    activations: list[Activation],
    X: Array,
    *,
    keep_inputs: bool = False,
) -> ForwardPass:
    """Run X (n_samples, n_features) through every layer, keeping each output (and
    each ``z`` its activation's backward needs, or all with ``keep_inputs``)."""
    outputs: list[Array] = [X]
    needed = keep_inputs or any(act.needs_input for act in activations)
    inputs: list[Array | None] | None = [] if needed else None
    for layer, (W, act) in enumerate(zip(weights, activations, strict=True)):
        z = _layer_input(xp, outputs[-1], W, biases, layer)
        if inputs is not None:
            inputs.append(z if keep_inputs or act.needs_input else None)
        outputs.append(act.forward(xp, z))
    return ForwardPass(outputs, inputs)


def _matmul(xp: Any, a: Array, b: Array, sparse: bool = False) -> Array:
    """``a @ b`` through ``xp.matmul``; a ``sparse`` ``a`` keeps its own ``@``."""
    return a @ b if sparse else xp.matmul(a, b)


def _is_sparse(a: Array) -> bool:
    """Whether ``a`` is a sparse matrix (only the first layer's input may be)."""
    return hasattr(a, "toarray")


def _layer_input(
    xp: Any, a: Array, W: Array, biases: list[Array] | None, layer: int
) -> Array:
    """``z = a @ W + b`` of one layer, (n_samples, fan_out); a fresh array."""
    z = _matmul(xp, a, W, layer == 0 and _is_sparse(a))
    if biases is not None:
        z += biases[layer]
    return z


def predict(
    xp: Any,
    weights: list[Array],
    biases: list[Array] | None,
    activations: list[Activation],
    X: Array,
) -> Array:
    """The network's output (n_samples, n_outputs), keeping no intermediates."""
    a = X
    for layer, (W, act) in enumerate(zip(weights, activations, strict=True)):
        a = act.forward(xp, _layer_input(xp, a, W, biases, layer))
    return a


def backward(
    xp: Any,
    weights: list[Array],
    activations: list[Activation],
    outputs: list[Array],
    delta: Array,
    *,
    with_biases: bool = True,
    keep_errors: bool = False,
    inputs: list[Array | None] | None = None,
) -> Gradients:
    """Every layer's gradients, given ``delta`` = dL/dz of the last layer (batch mean).

    ``outputs`` is ``ForwardPass.outputs``, ``inputs`` its ``inputs`` (needed where
    an activation's backward takes ``z``). The hidden error term is the error
    propagated through the weights *times the activation's derivative* (the step the
    seed notebook's 3c leaves out).
    """
    n_layers = len(weights)
    weight_grads: list[Array] = [None] * n_layers
    bias_grads: list[Array] = [None] * n_layers
    output_errors: list[Array] = [None] * n_layers
    error_terms: list[Array] = [None] * n_layers
    error_terms[-1] = delta
    sparse = _is_sparse(outputs[0])
    for layer in range(n_layers - 1, -1, -1):
        weight_grads[layer] = _matmul(
            xp, outputs[layer].T, delta, layer == 0 and sparse
        )
        if with_biases:
            bias_grads[layer] = xp.sum(delta, axis=0)
        if layer == 0:
            break
        error = xp.matmul(delta, weights[layer].T)
        if keep_errors:
            output_errors[layer - 1] = error
            error = xp.asarray(error, copy=True)  # backward may overwrite its input
        act = activations[layer - 1]
        if act.needs_input:
            assert inputs is not None  # kept by forward for such activations
            delta = act.backward(xp, inputs[layer - 1], outputs[layer], error)
        else:
            delta = act.backward(xp, outputs[layer], error)
        error_terms[layer - 1] = delta
    return Gradients(
        weight_grads,
        bias_grads if with_biases else None,
        output_errors if keep_errors else None,
        error_terms if keep_errors else None,
    )


def loss_and_gradients(
    xp: Any,
    weights: list[Array],
    biases: list[Array] | None,
    activations: list[Activation],
    X: Array,
    y: Array,
    loss: str | Loss,
    *,
    keep_errors: bool = False,
    delta_scale: float = 1.0,
    sample_weight: Array | None = None,
) -> tuple[Array, Gradients, ForwardPass]:
    """One forward and backward pass: (loss as a 0-d array, gradients, forward pass).

    With ``sample_weight`` (n_samples,) the loss and every gradient are weighted
    means over the batch instead of plain means.

    ``delta_scale`` multiplies the last layer's error term, so every gradient (and,
    with ``keep_errors``, every error and error term) comes out multiplied by it: a
    learning rate folded into backprop costs one pass over a (n_samples, n_outputs)
    array instead of one per parameter.
    """
    trace = forward(xp, weights, biases, activations, X, keep_inputs=keep_errors)
    y_pred, output = trace.outputs[-1], activations[-1]
    z_out = None if trace.inputs is None else trace.inputs[-1]
    if not isinstance(loss, Loss):
        loss = get_loss(loss)
    value, delta = loss.loss_and_delta(
        xp, output, y_pred, y, sample_weight, delta_scale, z_out
    )
    grads = backward(
        xp,
        weights,
        activations,
        trace.outputs,
        delta,
        with_biases=biases is not None,
        keep_errors=keep_errors,
        inputs=trace.inputs,
    )
    if keep_errors:
        error = loss.output_error(xp, output, y_pred, y, sample_weight)
        if delta_scale != 1.0:
            error *= delta_scale
        assert grads.output_errors is not None  # kept with keep_errors
        grads.output_errors[-1] = error
    return value, grads, trace
