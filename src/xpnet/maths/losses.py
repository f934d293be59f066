"""Losses: their value and the error term they start backprop with.

Shapes: ``y_pred`` and ``y`` are (n_samples, n_outputs). Values are means over samples
of a sum over outputs. ``output_delta`` returns dL/dz of the output layer, already
divided by n_samples, so every gradient that follows is a batch mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .activations import Activation, check_registration

Array = Any

LOSSES = ("squared_error", "log_loss")
# Output activations whose pairing with the loss gives dL/dz = y_pred - y exactly.
_CANONICAL = {"squared_error": ("identity",), "log_loss": ("softmax", "sigmoid")}


@dataclass(frozen=True)
class Loss:
    """A user's loss: ``value(xp, y_pred, y)``, the loss as a 0-d array (a mean over
    samples of a sum over outputs), and ``gradient(xp, y_pred, y)``, dL/dy_pred
    (n_samples, n_outputs) divided by n_samples."""

    name: str
    value: Callable[[Any, Array, Array], Array]
    gradient: Callable[[Any, Array, Array], Array]


USER_LOSSES: dict[str, Loss] = {}


def register_loss(
    name: str,
    value: Callable[[Any, Array, Array], Array],
    gradient: Callable[[Any, Array, Array], Array],
) -> Loss:
    """Make a user-defined loss usable by ``name`` in ``MLP.loss_and_gradients``.

    ``value`` and ``gradient`` are as in :class:`Loss`, written with the array
    namespace ``xp`` only. Registering a name again replaces the earlier user
    definition; the built-in names cannot be replaced.
    """
    functions = {"value": value, "gradient": gradient}
    check_registration("loss", name, set(LOSSES), functions)
    USER_LOSSES[name] = Loss(name, value, gradient)
    return USER_LOSSES[name]


def check_loss(name: str, output: Activation) -> str:
    """Validate a loss name and its pairing with the output activation."""
    if name not in LOSSES and not (isinstance(name, str) and name in USER_LOSSES):
        raise ValueError(
            f"loss must be one of {[*LOSSES, *USER_LOSSES]} (or a name registered "
            f"with xpnet.register_loss); got {name!r}"
        )
    if name == "log_loss" and output.name not in _CANONICAL["log_loss"]:
        raise ValueError(
            "loss 'log_loss' needs output_activation 'softmax' or 'sigmoid' "
            f"(probabilities); got {output.name!r}"
        )
    return name


def loss_value(
    xp: Any, name: str, output: Activation, y_pred: Array, y: Array
) -> Array:
    """The loss as a 0-d array on the device (read it on the host sparingly).

    For a sigmoid output (binary or multilabel) log-loss counts the 0 class too.
    """
    if name in USER_LOSSES:
        return USER_LOSSES[name].value(xp, y_pred, y)
    n_samples = y_pred.shape[0]
    if name == "squared_error":
        return _half_mean_square(xp, y_pred - y)
    p = _clip_probabilities(xp, y_pred)
    total = xp.sum(y * xp.log(p))
    if output.name == "sigmoid":
        total += xp.sum((1 - y) * xp.log(1 - p))
    # One operation; max(): a data-parallel rank's share of a small batch may be empty.
    return total * (-1.0 / max(n_samples, 1))


def _half_mean_square(xp: Any, diff: Array) -> Array:
    # 1/2 mean over samples of the sum over outputs of diff**2: the squared error.
    return xp.sum(diff * diff) / (2 * diff.shape[0])


def _clip_probabilities(xp: Any, p: Array) -> Array:
    # Clipping at eps keeps log() finite for saturated outputs, as scikit-learn does.
    # minimum(maximum()) gives clip()'s numbers (NaN stays NaN) at a quarter of the
    # cost of array_api_compat's clip() wrapper on small arrays.
    eps = xp.finfo(p.dtype).eps
    return xp.minimum(xp.maximum(p, eps), 1 - eps)


def output_error(
    xp: Any, name: str, output: Activation, y_pred: Array, y: Array
) -> Array:
    """dL/dy_pred, (n_samples, n_outputs), divided by n_samples."""
    if name in USER_LOSSES:
        return USER_LOSSES[name].gradient(xp, y_pred, y)
    n_samples = y_pred.shape[0]
    if name == "squared_error":
        grad = y_pred - y
    else:
        p = _clip_probabilities(xp, y_pred)
        grad = -y / p
        if output.name == "sigmoid":
            grad += (1 - y) / (1 - p)
    grad /= n_samples
    return grad


def output_delta(
    xp: Any, name: str, output: Activation, y_pred: Array, y: Array, scale: float = 1.0
) -> Array:
    """dL/dz at the output layer, (n_samples, n_outputs), divided by n_samples and
    multiplied by ``scale``.

    For the canonical pairs (identity with squared error, softmax or sigmoid with
    log-loss) this is exactly ``(y_pred - y) / n_samples``.
    """
    if output.name in _CANONICAL.get(name, ()):
        return _batch_mean(y_pred - y, scale)
    delta = output.backward(xp, y_pred, output_error(xp, name, output, y_pred, y))
    if scale != 1.0:
        delta *= scale
    return delta


def _batch_mean(delta: Array, scale: float) -> Array:
    # delta / n_samples * scale in place, in one pass (a data-parallel rank's share
    # of a small batch may hold no rows: max(.., 1))
    if scale == 1.0:
        delta /= delta.shape[0]
    else:
        delta *= scale / max(delta.shape[0], 1)
    return delta


def loss_and_delta(
    xp: Any, name: str, output: Activation, y_pred: Array, y: Array, scale: float = 1.0
) -> tuple[Array, Array]:
    """``loss_value`` and ``output_delta`` at once, sharing ``y_pred - y`` for squared
    error with an identity output (one subtraction less per step)."""
    if name == "squared_error" and output.name == "identity":
        diff = y_pred - y
        value = _half_mean_square(xp, diff)
        return value, _batch_mean(diff, scale)
    return (
        loss_value(xp, name, output, y_pred, y),
        output_delta(xp, name, output, y_pred, y, scale),
    )
