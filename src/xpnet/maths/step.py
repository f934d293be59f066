"""One training step as a pure function: the form ``jax.jit`` and ``torch.compile``
trace.

``step(params, opt_state, X, Y, sample_weight, hyper) -> (params, opt_state, loss)``
computes the batch's loss and gradients (:func:`.network.loss_and_gradients`), adds
the L2 term and applies an optimizer pair (:mod:`.optimizers`). ``params`` is
the tuple ``(*weights, *biases)`` (weights only for a network without biases);
nothing is changed in place. Everything that may change between steps or fits
(learning rate, L2 factors, the loss weight, the clipping bound) is a 0-d array in
``hyper``, so a compiled step is compiled once per shapes, dtype and the choices made
by :func:`make_step`.

The arithmetic is the eager loop's (:mod:`xpnet.training.loop`): the same gradients,
L2 term and update, operation for operation; only the sum of squared weights in the
loss is summed per layer rather than over one flat vector (a rounding difference).
Clipping is one function for both (:func:`clip_by_global_norm`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .activations import Activation
from .losses import Loss
from .network import loss_and_gradients
from .optimizers import OptimizerPair

Array = Any
Arrays = tuple[Array, ...]


class StepHyper(NamedTuple):
    """0-d arrays (but ``optimizer``, the pair's hyper tuple):

    ``loss_weight`` multiplies the batch's loss (the loop sums batch losses times
    batch sizes), ``l2_factor`` the weights added to their gradients
    (``alpha / batch weight``), ``l2_loss`` the sum of squared weights added to the
    loss (``alpha / 2 * batch size / batch weight``); zero factors without L2.
    ``max_grad_norm`` bounds the global norm of the gradients, read only by a step
    made with ``clip=True`` (None otherwise).
    """

    optimizer: Any
    loss_weight: Array
    l2_factor: Array
    l2_loss: Array
    max_grad_norm: Array | None = None


Step = Callable[
    [Arrays, Any, Array, Array, "Array | None", StepHyper], tuple[Arrays, Any, Array]
]


def make_step(
    xp: Any,
    activations: Sequence[Activation],
    loss: str | Loss,
    optimizer: OptimizerPair,
    *,
    l2: bool,
    clip: bool = False,
) -> Step:
    """The pure step of a network with these ``activations`` (one per layer),
    ``loss`` (a :class:`.losses.Loss` or its name) and ``optimizer``; ``l2``:
    whether the L2 term is computed at all (without it ``hyper``'s L2 factors are
    not read); ``clip``: whether the gradients (L2 term included) are clipped to the
    global norm ``hyper.max_grad_norm`` before the update.

    The step returns the new parameters, the new optimizer state and the batch's
    contribution to the epoch's loss: ``loss * loss_weight + l2_loss * sum(W**2)``.
    ``sample_weight`` (n_samples,) or None weights the batch's rows (zeros mask
    rows out: a short last batch can be padded to the full batch's shape).
    """
    acts = list(activations)
    n_layers = len(acts)

    def step(
        params: Arrays,
        opt_state: Any,
        X: Array,
        Y: Array,
        sample_weight: Array | None,
        hyper: StepHyper,
    ) -> tuple[Arrays, Any, Array]:
        weights, biases = list(params[:n_layers]), list(params[n_layers:]) or None
        value, grads, _ = loss_and_gradients(
            xp, weights, biases, acts, X, Y, loss, sample_weight=sample_weight
        )
        total = value * hyper.loss_weight
        weight_grads = grads.weights
        if l2:
            weight_grads = [
                g + hyper.l2_factor * W
                for g, W in zip(grads.weights, weights, strict=True)
            ]
            squares = xp.sum(weights[0] * weights[0])
            for W in weights[1:]:
                squares = squares + xp.sum(W * W)
            total = total + hyper.l2_loss * squares
        all_grads = tuple(weight_grads + (grads.biases or []))
        if clip:
            all_grads = clip_by_global_norm(xp, all_grads, hyper.max_grad_norm)
        new_params, new_state = optimizer.update(
            all_grads, opt_state, tuple(params), hyper.optimizer
        )
        return new_params, new_state, total

    return step


def clip_by_global_norm(xp: Any, grads: Sequence[Array], bound: Any) -> Arrays:
    """``grads`` scaled together to global norm ``bound`` (a float or a 0-d array)
    where their norm, over all of them, is larger; times exactly 1 where it is not.
    On the device: no host read. The eager loop hands one flat vector, a compiled
    step one array per layer (the squares are then summed per array). The dot
    products go through ``xp.matmul`` (the numbers of ``@``), where the CUDA-graph
    capture cuts its segments (CuPy runs them on cuBLAS)."""
    flat = [xp.reshape(g, (-1,)) for g in grads]
    squares = xp.matmul(flat[0], flat[0])
    for g in flat[1:]:
        squares = squares + xp.matmul(g, g)
    norm = xp.sqrt(squares)
    factor = xp.where(norm > bound, bound / norm, xp.ones_like(norm))
    return tuple(g * factor for g in grads)
