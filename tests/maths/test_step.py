"""The pure step (:func:`xpnet.maths.step.make_step`) on NumPy: the batch's gradients
(with L2 where asked), then the optimizer pair's update; the compiled paths run this
function, so it is checked here without a compiler too."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet import MLP
from xpnet.maths import optimizers
from xpnet.maths.step import StepHyper, make_step


@pytest.mark.parametrize("l2", [False, True])
def test_the_pure_step_is_loss_and_gradients_then_the_pair_update(l2):
    net = MLP([5, 7, 3], hidden_activation="tanh", dtype="float64", backend="numpy")
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(11, 5)), rng.normal(size=(11, 3))
    pair = optimizers.adam(np)
    params = tuple(net.weights + net.biases)
    state = pair.init(params)
    hyper = optimizers.adam_hyper(
        np, 0.01, 0.9, 0.999, 1e-8, dtype=np.float64, device=None
    )
    alpha, l2_loss = (0.3, 0.05) if l2 else (0.0, 0.0)
    step_hyper = StepHyper(
        hyper, np.asarray(11.0), np.asarray(alpha), np.asarray(l2_loss)
    )
    step = make_step(np, net.activations, "squared_error", pair, l2=l2)
    new_params, _, total = step(params, state, X, y, None, step_hyper)

    loss, weight_grads, bias_grads = net.loss_and_gradients(X, y, "squared_error")
    squares = sum(float(np.sum(W * W)) for W in net.weights)
    np.testing.assert_allclose(float(total), 11 * loss + l2_loss * squares, rtol=1e-12)
    weight_grads = [
        g + alpha * W for g, W in zip(weight_grads, net.weights, strict=True)
    ]
    expected, _ = pair.update(tuple(weight_grads + bias_grads), state, params, hyper)
    assert len(new_params) == len(expected) == 4
    for got, want in zip(new_params, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
