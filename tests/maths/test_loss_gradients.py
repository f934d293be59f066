"""Every loss's output error dL/dy_pred against central differences in float64.

Training reaches most losses through the canonical shortcut dL/dz = y_pred - y, so
the output error itself (what ``MLP.backprop(..., keep_all=True)`` and the
walkthrough show, and what a non-canonical pairing trains with) is checked here for
every loss and output, weighted and not.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import central_differences

import xpnet
from xpnet.maths import losses
from xpnet.maths.activations import get_activation

# (loss, output activation, targets): each loss with the outputs it accepts.
CASES = [
    ("squared_error", "identity", "real"),
    ("squared_error", "tanh", "real"),
    ("log_loss", "sigmoid", "binary"),
    ("log_loss", "softmax", "one_hot"),
    ("poisson", "exp", "counts"),
]


def _targets(kind, rng, shape):
    if kind == "real":
        return rng.normal(size=shape)
    if kind == "binary":
        return rng.integers(0, 2, size=shape).astype(float)
    if kind == "one_hot":
        return np.eye(shape[1])[rng.integers(0, shape[1], size=shape[0])]
    return rng.poisson(2.0, size=shape).astype(float)  # zeros included


def _predictions(output, rng, shape):
    if output in ("sigmoid", "softmax", "tanh"):
        return rng.uniform(0.1, 0.9, size=shape)  # away from the clipping
    if output == "exp":
        return rng.uniform(0.5, 4.0, size=shape)
    return rng.normal(size=shape)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss, output, targets", CASES)
def test_output_error_is_the_derivative_of_the_loss(
    backend, loss, output, targets, weighted
):
    rng = np.random.default_rng(0)
    shape = (5, 3)
    y_pred, y = _predictions(output, rng, shape), _targets(targets, rng, shape)
    weights = rng.uniform(0.2, 3.0, size=shape[0]) if weighted else None
    xp, act = backend.xp, get_activation(output)

    def dev(a):
        return None if a is None else backend.asarray(a, "float64")

    def value():
        total = losses.loss_value(xp, loss, act, dev(y_pred), dev(y), dev(weights))
        return float(total)

    (expected,) = central_differences(value, [y_pred])
    error = losses.output_error(xp, loss, act, dev(y_pred), dev(y), dev(weights))
    np.testing.assert_allclose(backend.to_numpy(error), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "loss, output, targets",
    [("poisson", "exp", "counts"), ("log_loss", "sigmoid", "binary")],
)
def test_backprop_keeps_the_loss_derivative_as_the_output_error(
    backend, loss, output, targets
):
    """Item 5: the public face of the output error, ``MLP.backprop(keep_all=True)``,
    for losses whose training uses the canonical shortcut."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 3))
    y = _targets(targets, rng, (6, 2))
    net = xpnet.MLP(
        [3, 4, 2],
        output_activation=output,
        dtype="float64",
        backend=backend,
        seed=0,
    )
    value, grads, trace = net.backprop(X, y, loss, keep_all=True)
    y_pred = np.array(backend.to_numpy(trace.outputs[-1]))
    act = get_activation(output)
    xp = np

    def loss_at():
        return float(losses.loss_value(xp, loss, act, y_pred, y))

    assert loss_at() == pytest.approx(float(value), rel=1e-12)
    (expected,) = central_differences(loss_at, [y_pred])
    assert grads.output_errors is not None
    np.testing.assert_allclose(
        backend.to_numpy(grads.output_errors[-1]), expected, rtol=1e-6, atol=1e-9
    )
