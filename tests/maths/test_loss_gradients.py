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
from xpnet.maths.activations import Activation, get_activation

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


@pytest.mark.parametrize("loss, output, targets", CASES)
def test_integer_sample_weights_repeat_rows_and_scale_multiplies_the_delta(
    loss, output, targets
):
    """Weights (1, 3, 2) and scale 0.5: the loss of the rows repeated that many
    times, and half of each row's delta summed over its copies there; loss_value and
    output_delta called apart give the same as loss_and_delta."""
    rng = np.random.default_rng(4)
    act = get_activation(output)
    y_pred, y = _predictions(output, rng, (3, 2)), _targets(targets, rng, (3, 2))
    w = np.array([1.0, 3.0, 2.0])
    rows = np.repeat(np.arange(3), [1, 3, 2])
    value, delta = losses.loss_and_delta(np, loss, act, y_pred, y, w, 0.5)
    repeated, deltas = losses.LOSSES[loss].loss_and_delta(
        np, act, y_pred[rows], y[rows]
    )
    summed = np.zeros_like(y_pred)
    np.add.at(summed, rows, deltas)
    np.testing.assert_allclose(value, repeated, rtol=1e-12)
    np.testing.assert_allclose(delta, 0.5 * summed, rtol=1e-12)
    np.testing.assert_allclose(losses.loss_value(np, loss, act, y_pred, y, w), value)
    alone = losses.output_delta(np, loss, act, y_pred, y, w, 0.5)
    np.testing.assert_allclose(alone, delta, rtol=1e-12)


def test_a_user_loss_gets_predictions_then_targets_and_its_delta_is_scaled(monkeypatch):
    """A registered loss: ``value`` and ``gradient`` get ``(xp, y_pred, y)``; its
    delta goes back through the output activation (given ``z`` where it needs it)
    and is multiplied by ``scale``."""
    monkeypatch.setattr(losses, "LOSSES", dict(losses.LOSSES))
    calls = []

    def value(xp, y_pred, y):
        calls.append((xp, y_pred, y))
        return xp.sum(y_pred - 2 * y)

    def gradient(xp, y_pred, y):
        return xp.subtract(y_pred, 2 * y)

    user = losses.register_loss("user", value, gradient)
    assert losses.get_loss("user") is user and losses.get_loss(user) is user
    tanh = get_activation("tanh")
    y_pred, y = np.array([[0.5, -0.25]]), np.array([[1.0, 2.0]])
    assert float(user.loss_value(np, tanh, y_pred, y)) == -5.75
    assert calls == [(np, y_pred, y)]
    np.testing.assert_array_equal(
        user.output_error(np, tanh, y_pred, y), [[-1.5, -4.25]]
    )
    through = np.array([[-1.5 * 0.75, -4.25 * 0.9375]])  # times 1 - tanh**2
    np.testing.assert_allclose(user.output_delta(np, tanh, y_pred, y), through)
    twice = user.output_delta(np, tanh, y_pred, y, scale=2.0)
    np.testing.assert_allclose(twice, 2 * through)
    by_z = Activation(
        "by_z", np.tanh, lambda xp, z, a, grad: grad * z, needs_input=True
    )
    z = np.array([[3.0, 5.0]])
    np.testing.assert_array_equal(
        user.output_delta(np, by_z, y_pred, y, z=z), [[-4.5, -21.25]]
    )
    np.testing.assert_array_equal(
        losses.output_delta(np, "user", by_z, y_pred, y, z=z), [[-4.5, -21.25]]
    )
    _, delta = losses.loss_and_delta(np, "user", by_z, y_pred, y, z=z)
    np.testing.assert_array_equal(delta, [[-4.5, -21.25]])
