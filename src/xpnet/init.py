"""Initial weights, drawn on the host from a seeded NumPy generator.

Every initialiser returns float64 host arrays: ``W`` (fan_in, fan_out) and ``b``
(fan_out,). Drawing in float64 on the host, then casting and moving, gives every
backend identical starting numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Initializer = Callable[
    [np.random.Generator, int, int, str], "tuple[np.ndarray, np.ndarray]"
]


def seed_normal(rng: np.random.Generator, fan_in: int, fan_out: int, activation: str):
    """The seed notebook's ``normal(0, fan_in**-0.5)``; biases start at zero."""
    weights = rng.normal(0.0, fan_in**-0.5, size=(fan_in, fan_out))
    return weights, np.zeros(fan_out)


def glorot_uniform(
    rng: np.random.Generator, fan_in: int, fan_out: int, activation: str
):
    """Glorot uniform as scikit-learn's MLP draws it, biases from the same range.

    The bound is ``sqrt(6 / (fan_in + fan_out))``, or ``sqrt(2 / ...)`` for sigmoid.
    """
    factor = 2.0 if activation in ("sigmoid", "logistic") else 6.0
    bound = np.sqrt(factor / (fan_in + fan_out))
    weights = rng.uniform(-bound, bound, size=(fan_in, fan_out))
    return weights, rng.uniform(-bound, bound, size=fan_out)


def glorot_layers(
    rng: np.random.Generator, sizes: list[int], activation: str
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """:func:`glorot_uniform` weights and biases of every layer of widths ``sizes``
    (drawn in order, as scikit-learn's MLP draws them)."""
    pairs = [
        glorot_uniform(rng, fan_in, fan_out, activation)
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    return [w for w, _ in pairs], [b for _, b in pairs]


def he_normal(rng: np.random.Generator, fan_in: int, fan_out: int, activation: str):
    """He normal, ``normal(0, sqrt(2 / fan_in))``, for relu layers; biases zero."""
    weights = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
    return weights, np.zeros(fan_out)


INITIALIZERS: dict[str, Initializer] = {
    "seed_normal": seed_normal,
    "glorot_uniform": glorot_uniform,
    "he_normal": he_normal,
}


def initial_params(
    layer_sizes: list[int], activations: list[str], init: str, seed: int | None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights and biases for every layer, float64 on the host.

    ``activations[i]`` is the activation that follows layer ``i`` (it picks the Glorot
    gain).
    """
    if init not in INITIALIZERS:
        raise ValueError(f"init must be one of {sorted(INITIALIZERS)}; got {init!r}")
    rng = np.random.default_rng(seed)
    draw = INITIALIZERS[init]
    pairs = [
        draw(rng, fan_in, fan_out, act)
        for fan_in, fan_out, act in zip(
            layer_sizes[:-1], layer_sizes[1:], activations, strict=True
        )
    ]
    return [w for w, _ in pairs], [b for _, b in pairs]
