"""Losses: their value and the error term they start backprop with.

Shapes: ``y_pred`` and ``y`` are (n_samples, n_outputs). Values are means over samples
of a sum over outputs. ``output_delta`` returns dL/dz of the output layer, already
divided by n_samples, so every gradient that follows is a batch mean.

Every function takes an optional ``sample_weight`` (n_samples,): the means become
weighted means (each sample's share is its weight over the weights' sum), as
scikit-learn's ``np.average(..., weights=sample_weight)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .activations import Activation, check_registration, constants

Array = Any

LOSSES = ("squared_error", "log_loss", "poisson")
# Output activations whose pairing with the loss gives dL/dz = y_pred - y exactly.
_CANONICAL = {
    "squared_error": ("identity",),
    "log_loss": ("softmax", "sigmoid"),
    "poisson": ("exp",),
}


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
    if name == "poisson" and output.name != "exp":
        raise ValueError(
            f"loss 'poisson' needs output_activation 'exp'; got {output.name!r}"
        )
    return name


def loss_value(
    xp: Any,
    name: str,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None = None,
    *,
    weight_sum: Array | None = None,
) -> Array:
    """The loss as a 0-d array on the device (read it on the host sparingly).

    For a sigmoid output (binary or multilabel) log-loss counts the 0 class too.
    Poisson is the half deviance ``y log(y / y_pred) - y + y_pred`` (0 log 0 = 0).
    ``weight_sum``: ``sum(sample_weight)`` when the caller has it already.
    """
    if name in USER_LOSSES:  # unweighted: a user's loss takes no sample weights
        return USER_LOSSES[name].value(xp, y_pred, y)
    if name == "squared_error":
        return _half_mean_square(xp, y_pred - y, sample_weight, weight_sum)
    if name == "poisson":
        positive = y > 0
        ratio = xp.where(positive, y, xp.ones_like(y)) / y_pred
        xlogy = xp.where(positive, y * xp.log(ratio), xp.zeros_like(y))
        return _mean(xp, xlogy - y + y_pred, sample_weight, weight_sum)
    p = _clip_probabilities(xp, y_pred)
    if sample_weight is not None:
        per_element = y * xp.log(p)
        if output.name == "sigmoid":
            per_element += (1 - y) * xp.log(1 - p)
        return -_mean(xp, per_element, sample_weight, weight_sum)
    total = xp.sum(y * xp.log(p))
    if output.name == "sigmoid":
        total += xp.sum((1 - y) * xp.log(1 - p))
    # One operation; max(): a data-parallel rank's share of a small batch may be empty.
    return total * (-1.0 / max(y_pred.shape[0], 1))


def _mean(
    xp: Any,
    per_element: Array,
    sample_weight: Array | None,
    weight_sum: Array | None = None,
) -> Array:
    # Mean over samples (weighted) of the sum over outputs, a 0-d array.
    if sample_weight is None:
        return xp.sum(per_element) / per_element.shape[0]
    column = xp.reshape(sample_weight, (-1, 1))
    return xp.sum(per_element * column) / _sum(xp, sample_weight, weight_sum)


def _sum(xp: Any, sample_weight: Array, weight_sum: Array | None) -> Array:
    # The weights' sum: the caller's, or computed here.
    return xp.sum(sample_weight) if weight_sum is None else weight_sum


def _per_sample(
    xp: Any,
    grad: Array,
    sample_weight: Array | None,
    scale: float = 1.0,
    weight_sum: Array | None = None,
) -> Array:
    # grad / n_samples * scale in place, in one pass, or each row times scale and its
    # weight over the weights' sum (a data-parallel rank's share of a small batch may
    # hold no rows: max(.., 1)).
    if sample_weight is None:
        if scale == 1.0:
            grad /= grad.shape[0]
        else:
            grad *= scale / max(grad.shape[0], 1)
    else:
        share = sample_weight / _sum(xp, sample_weight, weight_sum)
        grad *= xp.reshape(share if scale == 1.0 else share * scale, (-1, 1))
    return grad


def _half_mean_square(
    xp: Any, diff: Array, sample_weight: Array | None, weight_sum: Array | None = None
) -> Array:
    # 1/2 mean over samples of the sum over outputs of diff**2: the squared error.
    if sample_weight is None:
        return xp.sum(diff * diff) / (2 * diff.shape[0])
    return _mean(xp, diff * diff, sample_weight, weight_sum) / 2


def _clip_probabilities(xp: Any, p: Array) -> Array:
    # Clipping at eps keeps log() finite for saturated outputs, as scikit-learn does.
    # minimum(maximum()) gives clip()'s numbers (NaN stays NaN) at a quarter of the
    # cost of array_api_compat's clip() wrapper on small arrays. The bounds are 0-d
    # arrays made on p's device: Python floats would be uploaded (a wait) on torch.
    eps = xp.finfo(p.dtype).eps
    low, high = constants(xp, p, eps, 1 - eps)
    return xp.minimum(xp.maximum(p, low), high)


def output_error(
    xp: Any,
    name: str,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None = None,
    *,
    weight_sum: Array | None = None,
) -> Array:
    """dL/dy_pred, (n_samples, n_outputs), divided by n_samples (weighted: times
    each weight over the weights' sum, ``weight_sum`` if given)."""
    if name in USER_LOSSES:
        return USER_LOSSES[name].gradient(xp, y_pred, y)
    if name == "squared_error":
        grad = y_pred - y
    elif name == "poisson":
        grad = 1 - y / y_pred
    else:
        p = _clip_probabilities(xp, y_pred)
        grad = -y / p
        if output.name == "sigmoid":
            grad += (1 - y) / (1 - p)
    return _per_sample(xp, grad, sample_weight, weight_sum=weight_sum)


def output_delta(
    xp: Any,
    name: str,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None = None,
    scale: float = 1.0,
    *,
    weight_sum: Array | None = None,
    z: Array | None = None,
) -> Array:
    """dL/dz at the output layer, (n_samples, n_outputs), divided by n_samples and
    multiplied by ``scale`` (``weight_sum`` as in :func:`output_error`; ``z``, the
    output layer's input, where its activation's backward needs it).

    For the canonical pairs (identity with squared error, softmax or sigmoid with
    log-loss, exp with Poisson) this is exactly ``(y_pred - y) / n_samples``.
    """
    if output.name in _CANONICAL.get(name, ()):
        return _per_sample(xp, y_pred - y, sample_weight, scale, weight_sum)
    error = output_error(
        xp, name, output, y_pred, y, sample_weight, weight_sum=weight_sum
    )
    delta = output.backprop(xp, z, y_pred, error)
    if scale != 1.0:
        delta *= scale
    return delta


def loss_and_delta(
    xp: Any,
    name: str,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None = None,
    scale: float = 1.0,
    *,
    z: Array | None = None,
) -> tuple[Array, Array]:
    """``loss_value`` and ``output_delta`` at once, sharing ``y_pred - y`` for squared
    error with an identity output (one subtraction less per step) and the weights'
    sum (one reduction less per weighted step); ``z`` as in :func:`output_delta`."""
    total = None if sample_weight is None else xp.sum(sample_weight)
    if name == "squared_error" and output.name == "identity":
        diff = y_pred - y
        value = _half_mean_square(xp, diff, sample_weight, total)
        return value, _per_sample(xp, diff, sample_weight, scale, total)
    return (
        loss_value(xp, name, output, y_pred, y, sample_weight, weight_sum=total),
        output_delta(
            xp, name, output, y_pred, y, sample_weight, scale, weight_sum=total, z=z
        ),
    )
