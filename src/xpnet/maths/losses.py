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


@dataclass(frozen=True)
class Loss:
    """A loss, found by name in :data:`LOSSES`.

    A user's loss (:func:`register_loss`): ``value(xp, y_pred, y)``, the loss as a 0-d
    array (a mean over samples of a sum over outputs), and ``gradient(xp, y_pred,
    y)``, dL/dy_pred (n_samples, n_outputs) divided by n_samples. A built-in one
    (``weighted``) takes ``(xp, output, y_pred, y, sample_weight, weight_sum)`` in
    both and honours sample weights. ``canonical``: the output activations whose
    pairing gives dL/dz = y_pred - y exactly; ``needs``: the output activations it
    must have (any where empty); ``per_output``: reported as a mean over outputs too
    (scikit-learn's squared error)."""

    name: str
    value: Callable[..., Array]
    gradient: Callable[..., Array]
    canonical: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    weighted: bool = False
    per_output: bool = False

    def check(self, output: Activation) -> Loss:
        """This loss, refused with an output activation it cannot pair with."""
        if self.needs and output.name not in self.needs:
            wanted = " or ".join(repr(name) for name in self.needs)
            what = " (probabilities)" if len(self.needs) > 1 else ""
            raise ValueError(
                f"loss {self.name!r} needs output_activation {wanted}{what}; "
                f"got {output.name!r}"
            )
        return self

    def loss_value(
        self,
        xp: Any,
        output: Activation,
        y_pred: Array,
        y: Array,
        sample_weight: Array | None = None,
        weight_sum: Array | None = None,
    ) -> Array:
        """The loss as a 0-d array (a user's loss is unweighted)."""
        if self.weighted:
            return self.value(xp, output, y_pred, y, sample_weight, weight_sum)
        return self.value(xp, y_pred, y)

    def output_error(
        self,
        xp: Any,
        output: Activation,
        y_pred: Array,
        y: Array,
        sample_weight: Array | None = None,
        weight_sum: Array | None = None,
    ) -> Array:
        """dL/dy_pred divided by n_samples (weighted: see :func:`output_error`)."""
        if self.weighted:
            return self.gradient(xp, output, y_pred, y, sample_weight, weight_sum)
        return self.gradient(xp, y_pred, y)

    def output_delta(
        self,
        xp: Any,
        output: Activation,
        y_pred: Array,
        y: Array,
        sample_weight: Array | None = None,
        scale: float = 1.0,
        weight_sum: Array | None = None,
        z: Array | None = None,
    ) -> Array:
        """dL/dz at the output layer: see :func:`output_delta`."""
        if output.name in self.canonical:
            return _per_sample(xp, y_pred - y, sample_weight, scale, weight_sum)
        error = self.output_error(xp, output, y_pred, y, sample_weight, weight_sum)
        delta = output.backprop(xp, z, y_pred, error)
        if scale != 1.0:
            delta *= scale
        return delta

    def loss_and_delta(
        self,
        xp: Any,
        output: Activation,
        y_pred: Array,
        y: Array,
        sample_weight: Array | None = None,
        scale: float = 1.0,
        z: Array | None = None,
    ) -> tuple[Array, Array]:
        """``loss_value`` and ``output_delta`` at once: see :func:`loss_and_delta`."""
        total = None if sample_weight is None else xp.sum(sample_weight)
        if self.per_output and output.name == "identity":
            diff = y_pred - y
            value = _half_mean_square(xp, diff, sample_weight, total)
            return value, _per_sample(xp, diff, sample_weight, scale, total)
        return (
            self.loss_value(xp, output, y_pred, y, sample_weight, total),
            self.output_delta(xp, output, y_pred, y, sample_weight, scale, total, z),
        )


def register_loss(
    name: str,
    value: Callable[[Any, Array, Array], Array],
    gradient: Callable[[Any, Array, Array], Array],
) -> Loss:
    """Make a user-defined loss usable by ``name`` in ``MLP.loss_and_gradients``
    and ``MLPRegressor(loss=name)``.

    ``value`` and ``gradient`` are as in :class:`Loss`, written with the array
    namespace ``xp`` only. Registering a name again replaces the earlier user
    definition; the built-in names cannot be replaced.
    """
    functions = {"value": value, "gradient": gradient}
    check_registration("loss", name, set(BUILT_IN), functions)
    LOSSES[name] = Loss(name, value, gradient)
    return LOSSES[name]


def user_losses() -> tuple[str, ...]:
    """The names registered with :func:`register_loss`, sorted."""
    return tuple(sorted(set(LOSSES) - BUILT_IN))


def get_loss(name: str | Loss, output: Activation | None = None) -> Loss:
    """Look up a loss by name (built-in or registered), checked against the
    ``output`` activation where given."""
    loss = name if isinstance(name, Loss) else None
    if loss is None and isinstance(name, str):
        loss = LOSSES.get(name)
    if loss is None:
        raise ValueError(
            f"loss must be one of {[*LOSSES]} (or a name registered "
            f"with xpnet.register_loss); got {name!r}"
        )
    return loss if output is None else loss.check(output)


def check_loss(name: str, output: Activation) -> str:
    """Validate a loss name and its pairing with the output activation."""
    get_loss(name, output)
    return name


def _squared_error(
    xp: Any,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None,
    weight_sum: Array | None,
) -> Array:
    return _half_mean_square(xp, y_pred - y, sample_weight, weight_sum)


def _squared_error_gradient(
    xp: Any,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None,
    weight_sum: Array | None,
) -> Array:
    grad = y_pred - y
    return _per_sample(xp, grad, sample_weight, weight_sum=weight_sum)


def _poisson(
    xp: Any,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None,
    weight_sum: Array | None,
) -> Array:
    # The half deviance y log(y / y_pred) - y + y_pred (0 log 0 = 0).
    positive = y > 0
    ratio = xp.where(positive, y, xp.ones_like(y)) / y_pred
    xlogy = xp.where(positive, y * xp.log(ratio), xp.zeros_like(y))
    return _mean(xp, xlogy - y + y_pred, sample_weight, weight_sum)


def _poisson_gradient(
    xp: Any,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None,
    weight_sum: Array | None,
) -> Array:
    grad = 1 - y / y_pred
    return _per_sample(xp, grad, sample_weight, weight_sum=weight_sum)


def _log_loss(
    xp: Any,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None,
    weight_sum: Array | None,
) -> Array:
    # For a sigmoid output (binary or multilabel) log-loss counts the 0 class too.
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


def _log_loss_gradient(
    xp: Any,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None,
    weight_sum: Array | None,
) -> Array:
    p = _clip_probabilities(xp, y_pred)
    grad = -y / p
    if output.name == "sigmoid":
        grad += (1 - y) / (1 - p)
    return _per_sample(xp, grad, sample_weight, weight_sum=weight_sum)


LOSSES: dict[str, Loss] = {
    "squared_error": Loss(
        "squared_error",
        _squared_error,
        _squared_error_gradient,
        canonical=("identity",),
        weighted=True,
        per_output=True,
    ),
    "log_loss": Loss(
        "log_loss",
        _log_loss,
        _log_loss_gradient,
        canonical=("softmax", "sigmoid"),
        needs=("softmax", "sigmoid"),
        weighted=True,
    ),
    "poisson": Loss(
        "poisson",
        _poisson,
        _poisson_gradient,
        canonical=("exp",),
        needs=("exp",),
        weighted=True,
    ),
}
"""Every loss by name: the built-in ones and those of :func:`register_loss`."""
BUILT_IN = frozenset(LOSSES)


def loss_value(
    xp: Any,
    name: str | Loss,
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
    loss = get_loss(name)
    return loss.loss_value(xp, output, y_pred, y, sample_weight, weight_sum)


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
    name: str | Loss,
    output: Activation,
    y_pred: Array,
    y: Array,
    sample_weight: Array | None = None,
    *,
    weight_sum: Array | None = None,
) -> Array:
    """dL/dy_pred, (n_samples, n_outputs), divided by n_samples (weighted: times
    each weight over the weights' sum, ``weight_sum`` if given)."""
    loss = get_loss(name)
    return loss.output_error(xp, output, y_pred, y, sample_weight, weight_sum)


def output_delta(
    xp: Any,
    name: str | Loss,
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
    loss = get_loss(name)
    return loss.output_delta(xp, output, y_pred, y, sample_weight, scale, weight_sum, z)


def loss_and_delta(
    xp: Any,
    name: str | Loss,
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
    loss = get_loss(name)
    return loss.loss_and_delta(xp, output, y_pred, y, sample_weight, scale, z)
