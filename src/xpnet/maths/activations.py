"""Activation functions, each with its backward step beside it.

``forward(xp, z)`` maps a layer's input ``z`` (n_samples, width) to its output ``a``.
``backward(xp, a, grad_a)`` turns the loss gradient with respect to the output into the
gradient with respect to the input, using only the output ``a`` (as the seed does with
``h * (1 - h)``), so the forward pass need not keep ``z``. An activation whose
derivative is no function of its output (SiLU, GELU, Mish) has
``backward(xp, z, a, grad_a)`` instead (``needs_input``): the forward pass keeps its
``z``. ``backward`` may overwrite ``grad_a``: callers hand it a fresh array.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Array = Any


@dataclass(frozen=True)
class Activation:
    """A named activation: ``forward(xp, z) -> a`` and ``backward(xp, a, grad_a)``
    (``backward(xp, z, a, grad_a)`` where ``needs_input``); ``onnx``, a user's
    activation's ONNX form (see :func:`register_activation`), or None."""

    name: str
    forward: Callable[[Any, Array], Array]
    backward: Callable[..., Array]
    needs_input: bool = False
    onnx: Callable[[Any, str], str] | None = None

    def backprop(self, xp: Any, z: Array | None, a: Array, grad_a: Array) -> Array:
        """``grad_a * da/dz``; ``z`` may be None unless ``needs_input``."""
        if self.needs_input:
            return self.backward(xp, z, a, grad_a)
        return self.backward(xp, a, grad_a)


def constant(xp: Any, like: Array, value: float) -> Array:
    """``value`` as a 0-d array of ``like``'s dtype, made on its device (a fill, no
    host-to-device copy) and kept for the next call (no kernel per call).

    array-api-compat's torch ``maximum(z, 0.0)`` turns the Python scalar into a CUDA
    tensor with a blocking copy on every call; NumPy and CuPy give the same numbers
    either way. A traced JAX value has no device: a fresh constant, never cached.
    """
    device = getattr(like, "device", None)
    if device is None:
        return xp.full((), value, dtype=like.dtype)
    key = (type(like), str(like.dtype), str(device), value)
    cached = _CONSTANTS.get(key)
    if cached is None:
        cached = _CONSTANTS[key] = xp.full((), value, dtype=like.dtype, device=device)
    return cached


def constants(xp: Any, like: Array, *values: float) -> tuple[Array, ...]:
    """:func:`constant` of each of ``values``, in one call."""
    return tuple(constant(xp, like, value) for value in values)


# Read-only 0-d arrays by library, dtype, device and value. A compiled step (a
# captured CUDA graph) may read them: they are made outside it and never move.
_CONSTANTS: dict[tuple[Any, ...], Array] = {}


def _identity(xp: Any, z: Array) -> Array:
    return z


def _identity_backward(xp: Any, a: Array, grad_a: Array) -> Array:
    return grad_a


def _sigmoid(xp: Any, z: Array) -> Array:
    # exp(min(z, 0)) / (1 + exp(-|z|)) is 1 / (1 + exp(-z)) for z >= 0 and
    # exp(z) / (1 + exp(z)) for z < 0: neither exp() overflows, both are exact, and
    # no where() (branchy, slow in NumPy) is needed.
    return xp.exp(xp.minimum(z, constant(xp, z, 0.0))) / (1 + xp.exp(-xp.abs(z)))


def _sigmoid_backward(xp: Any, a: Array, grad_a: Array) -> Array:
    grad_a *= a * (1 - a)
    return grad_a


def _tanh(xp: Any, z: Array) -> Array:
    return xp.tanh(z)


def _tanh_backward(xp: Any, a: Array, grad_a: Array) -> Array:
    grad_a *= 1 - a * a
    return grad_a


def _relu(xp: Any, z: Array) -> Array:
    # One pass; where() with a data-dependent mask is branchy and 5x slower in NumPy.
    # A 0-d zero on z's device, not 0.0: see constant().
    return xp.maximum(z, constant(xp, z, 0.0))


def _relu_backward(xp: Any, a: Array, grad_a: Array) -> Array:
    # Multiplying by the 0/1 mask in place beats a new array from where(), and
    # sign(a) (one operation less) is slower still on NumPy and torch.
    grad_a *= xp.astype(a > 0, a.dtype)
    return grad_a


def _exp(xp: Any, z: Array) -> Array:
    # The Poisson loss's output (scikit-learn's "exp"): a positive rate.
    return xp.exp(z)


def _exp_backward(xp: Any, a: Array, grad_a: Array) -> Array:
    grad_a *= a
    return grad_a


def _softmax(xp: Any, z: Array) -> Array:
    # Shifting by the row maximum keeps exp() at most 1: no overflow for any z.
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
    e /= xp.sum(e, axis=1, keepdims=True)
    return e


def _softmax_backward(xp: Any, a: Array, grad_a: Array) -> Array:
    # Jacobian-vector product of softmax: a * (g - sum(g * a)) row by row.
    grad_a -= xp.sum(grad_a * a, axis=1, keepdims=True)
    grad_a *= a
    return grad_a


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation("identity", _identity, _identity_backward),
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_backward),
    "tanh": Activation("tanh", _tanh, _tanh_backward),
    "relu": Activation("relu", _relu, _relu_backward),
    "softmax": Activation("softmax", _softmax, _softmax_backward),
    "exp": Activation("exp", _exp, _exp_backward),
}
ALIASES = {"logistic": "sigmoid", "linear": "identity"}
BUILT_IN = frozenset(ACTIVATIONS)


def register_activation(
    name: str,
    forward: Callable[[Any, Array], Array],
    backward: Callable[..., Array],
    *,
    onnx: Callable[[Any, str], str] | None = None,
) -> Activation:
    """Make a user-defined activation usable by ``name`` wherever one is taken.

    Parameters
    ----------
    name : str
        Not a built-in name or alias. Registering a name again replaces the earlier
        user definition.
    forward : callable ``forward(xp, z) -> a``
        A layer's input ``z`` (n_samples, width) to its output, with the array
        namespace ``xp`` only (and without changing ``z`` in place).
    backward : callable ``backward(xp, a, grad_a)`` or ``backward(xp, z, a, grad_a)``
        ``grad_a * da/dz``, from the output ``a`` alone (three parameters), or from
        the input ``z`` and the output (four parameters: the forward pass then keeps
        ``z``; for SiLU, GELU, Mish, whose derivative is no function of ``a``). It
        may overwrite ``grad_a``. The form is told from the signature.
    onnx : callable ``onnx(graph, x) -> str``, optional
        The activation in ONNX, for :func:`xpnet.export_onnx`: ``x`` names the
        input tensor; ``graph.node(op_type, inputs, **attributes)`` adds an ONNX
        node (opset 17) and returns its output's name; ``graph.constant(value)``
        adds a scalar or array in the model's dtype and returns its name. Returns
        the output's name. SiLU:
        ``lambda graph, x: graph.node("Mul", [x, graph.node("Sigmoid", [x])])``.
        Without it, exporting a model that uses the activation is refused.
    """
    check_registration(
        "activation",
        name,
        {*BUILT_IN, *ALIASES},
        {"forward": forward, "backward": backward},
    )
    if onnx is not None and not callable(onnx):
        raise TypeError(f"onnx must be a function of (graph, x); got {onnx!r}")
    needs_input = _n_positional(backward) == 4
    ACTIVATIONS[name] = Activation(name, forward, backward, needs_input, onnx)
    return ACTIVATIONS[name]


def _n_positional(function: Callable[..., Any]) -> int:
    """The form of a user's backward from its signature: 4 where it needs four
    positional arguments (``z`` first), 3 where it takes three, else TypeError."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return 3
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 3
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required = sum(p.default is inspect.Parameter.empty for p in positional)
    if required == 4:
        return 4
    if required <= 3 <= len(positional):
        return 3
    raise TypeError(
        "backward must take (xp, a, grad_a) or (xp, z, a, grad_a); got a function "
        f"of {required} required positional parameters"
    )


def check_registration(
    kind: str, name: Any, built_in: set[str], functions: dict[str, Any]
) -> None:
    """A user's ``name`` must be a non-empty string other than the built-in ones,
    each of ``functions`` (by argument name) callable."""
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"name must be a non-empty string; got {name!r}")
    if name in built_in:
        raise ValueError(f"name {name!r} is a built-in {kind}; choose another name")
    for argname, function in functions.items():
        if not callable(function):
            raise TypeError(
                f"{argname} must be a function of (xp, ...); got {function!r}"
            )


def user_activations() -> tuple[str, ...]:
    """The names registered with :func:`register_activation`, sorted."""
    return tuple(sorted(set(ACTIVATIONS) - BUILT_IN))


def layer_activations(
    hidden: str | Activation, output: str | Activation, n_hidden: int
) -> list[Activation]:
    """A network's activations by layer: ``hidden`` for each of its ``n_hidden``
    hidden layers, then ``output`` (looked up by :func:`get_activation`)."""
    return [get_activation(hidden)] * n_hidden + [get_activation(output)]


def get_activation(name: str | Activation, argname: str = "activation") -> Activation:
    """Look up an activation by name (``"logistic"`` is an alias of ``"sigmoid"``);
    ``argname`` is the argument the error message names."""
    if isinstance(name, Activation):
        return name
    key = ALIASES.get(name, name) if isinstance(name, str) else name
    if key not in ACTIVATIONS:
        choices = sorted([*ACTIVATIONS, *ALIASES])
        raise ValueError(
            f"{argname} must be one of {choices} (or a name registered with "
            f"xpnet.register_activation); got {name!r}"
        )
    return ACTIVATIONS[key]
