"""Optimizers as pairs of pure functions, the form a compiler can trace (optax's).

``pair.init(params) -> state`` and ``pair.update(grads, state, params, hyper) ->
(params, state)`` take and return tuples of arrays shaped like the parameters (one
flat vector, or one array per layer: the update is elementwise). Nothing is changed
in place and no Python scalar that varies between steps enters the arithmetic: the
hyperparameters come as 0-d arrays of the parameters' dtype (:class:`SGDHyper`,
:class:`AdamHyper`), so ``jax.jit`` or ``torch.compile`` compiles the update once
whatever their values.

The operations and their order are those of :mod:`xpnet.maths.optim`'s classes (the
eager loop's in-place fast path), so the same gradients give the same parameters to
the last bit on NumPy; the hyper arrays must then hold the values those classes use,
rounded to the parameters' dtype (:func:`sgd_hyper`, :func:`adam_hyper`). Adam's
bias-corrected rate of step ``t`` is :func:`adam_rate`, computed on the host in float64
as the class does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

Array = Any
Arrays = tuple[Array, ...]


class SGDState(NamedTuple):
    """The velocities, shaped like the parameters."""

    velocities: Arrays


class AdamState(NamedTuple):
    """The first and second moments, shaped like the parameters."""

    ms: Arrays
    vs: Arrays


class SGDHyper(NamedTuple):
    """0-d arrays: the step's ``learning_rate`` and the ``momentum``."""

    learning_rate: Array
    momentum: Array


class AdamHyper(NamedTuple):
    """0-d arrays: the step's bias-corrected ``learning_rate`` (:func:`adam_rate`),
    ``beta_1``, ``1 - beta_1``, ``beta_2``, ``1 - beta_2`` (each difference taken in
    float64, then rounded) and ``epsilon``."""

    learning_rate: Array
    beta_1: Array
    one_minus_beta_1: Array
    beta_2: Array
    one_minus_beta_2: Array
    epsilon: Array


class OptimizerPair(NamedTuple):
    """``init(params) -> state`` and ``update(grads, state, params, hyper) ->
    (params, state)``; ``name`` is ``"sgd"`` or ``"adam"``."""

    name: str
    init: Callable[[Arrays], Any]
    update: Callable[[Arrays, Any, Arrays, Any], tuple[Arrays, Any]]


def sgd(xp: Any, *, nesterov: bool) -> OptimizerPair:
    """SGD with momentum (Nesterov's with ``nesterov``), scikit-learn's rule:
    ``v = momentum * v - lr * g``; the update is ``v``, or with Nesterov
    ``momentum * v - lr * g``. ``momentum = 0`` is plain SGD."""

    def init(params: Arrays) -> SGDState:
        return SGDState(tuple(xp.zeros_like(p) for p in params))

    def update(
        grads: Arrays, state: SGDState, params: Arrays, hyper: SGDHyper
    ) -> tuple[Arrays, SGDState]:
        lr, momentum = hyper.learning_rate, hyper.momentum
        new_params, velocities = [], []
        for p, g, v in zip(params, grads, state.velocities, strict=True):
            g = g * lr  # lr * grad, the term both formulas share
            v = v * momentum - g
            step = v * momentum - g if nesterov else v
            new_params.append(p + step)
            velocities.append(v)
        return tuple(new_params), SGDState(tuple(velocities))

    return OptimizerPair("sgd", init, update)


def adam(xp: Any) -> OptimizerPair:
    """Adam with scikit-learn's bias correction folded into the rate:
    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``,
    ``update = -lr_t m / (sqrt(v) + eps)``."""

    def init(params: Arrays) -> AdamState:
        zeros = tuple(xp.zeros_like(p) for p in params)
        return AdamState(zeros, tuple(xp.zeros_like(p) for p in params))

    def update(
        grads: Arrays, state: AdamState, params: Arrays, hyper: AdamHyper
    ) -> tuple[Arrays, AdamState]:
        rate = -hyper.learning_rate
        new_params, ms, vs = [], [], []
        for p, g, m, v in zip(params, grads, state.ms, state.vs, strict=True):
            m = m * hyper.beta_1 + hyper.one_minus_beta_1 * g
            v = v * hyper.beta_2 + (g * g) * hyper.one_minus_beta_2
            step = (m * rate) / (xp.sqrt(v) + hyper.epsilon)
            new_params.append(p + step)
            ms.append(m)
            vs.append(v)
        return tuple(new_params), AdamState(tuple(ms), tuple(vs))

    return OptimizerPair("adam", init, update)


def adam_rate(learning_rate_init: float, beta_1: float, beta_2: float, t: int) -> float:
    """Adam's bias-corrected rate of step ``t`` (1-based), in float64:
    ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``."""
    return learning_rate_init * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)


def _scalar(xp: Any, value: float, dtype: Any, device: Any) -> Array:
    # A 0-d array of the parameters' dtype: the value rounded as a Python float
    # would be when it meets an array of that dtype.
    return xp.asarray(value, dtype=dtype, device=device)


def sgd_hyper(
    xp: Any, learning_rate: float, momentum: float, *, dtype: Any, device: Any
) -> SGDHyper:
    """:class:`SGDHyper` of host floats."""
    return SGDHyper(
        _scalar(xp, learning_rate, dtype, device), _scalar(xp, momentum, dtype, device)
    )


def adam_hyper(
    xp: Any,
    learning_rate: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    *,
    dtype: Any,
    device: Any,
) -> AdamHyper:
    """:class:`AdamHyper` of host floats; ``learning_rate`` is the step's
    bias-corrected rate (:func:`adam_rate`)."""
    values = (learning_rate, beta_1, 1 - beta_1, beta_2, 1 - beta_2, epsilon)
    return AdamHyper(*(_scalar(xp, v, dtype, device) for v in values))
