"""The research API under JAX's transformations: ``jax.jit`` over ``MLP.forward``,
``MLP.loss_and_gradients``, an optimizer pair's update and the pure step;
``jax.grad`` of a user's loss built on the pure functions (JAX's autodiff as an
oracle for the hand-written backprop). And JAX's 64-bit mode stays the user's."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from xpnet import MLP
from xpnet.maths import network, optimizers
from xpnet.maths.step import StepHyper, make_step

jax = pytest.importorskip("jax", reason="jax is not installed")
jnp = jax.numpy


def _net_and_batch(dtype="float64"):
    net = MLP([5, 7, 3], hidden_activation="tanh", dtype=dtype, backend="jax", seed=1)
    rng = np.random.default_rng(2)
    X = jnp.asarray(rng.normal(size=(11, 5)), dtype=dtype)
    y = jnp.asarray(rng.normal(size=(11, 3)), dtype=dtype)
    return net, X, y


def test_jit_of_forward_and_loss_and_gradients_equals_eager():
    net, X, y = _net_and_batch()
    np.testing.assert_allclose(jax.jit(net.forward)(X), net.forward(X), rtol=1e-12)
    loss, weight_grads, bias_grads = jax.jit(net.loss_and_gradients)(X, y)
    eager_loss, eager_w, eager_b = net.loss_and_gradients(X, y)
    assert isinstance(eager_loss, float) and loss.shape == ()
    np.testing.assert_allclose(float(loss), eager_loss, rtol=1e-12)
    for got, expected in zip(weight_grads + bias_grads, eager_w + eager_b, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


def test_jax_grad_of_a_users_loss_equals_the_hand_written_backprop():
    net, X, y = _net_and_batch()

    def users_loss(weights, biases):  # built on the pure forward pass
        y_pred = network.predict(jnp, weights, biases, net.activations, X)
        return jnp.sum((y_pred - y) ** 2) / (2 * X.shape[0])

    grad_w, grad_b = jax.grad(users_loss, argnums=(0, 1))(net.weights, net.biases)
    _, weight_grads, bias_grads = net.loss_and_gradients(X, y, "squared_error")
    for got, expected in zip(grad_w + grad_b, weight_grads + bias_grads, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


def test_jit_of_an_optimizer_update_and_of_the_pure_step():
    net, X, y = _net_and_batch()
    pair = optimizers.adam(jnp)
    params = tuple(net.weights + net.biases)
    state = pair.init(params)
    hyper = optimizers.adam_hyper(
        jnp, 0.01, 0.9, 0.999, 1e-8, dtype=jnp.float64, device=None
    )
    step = make_step(jnp, net.activations, "squared_error", pair, l2=False)
    zero = jnp.asarray(0.0)
    step_hyper = StepHyper(hyper, jnp.asarray(11.0), zero, zero)
    jitted = jax.jit(step)(params, state, X, y, None, step_hyper)
    eager = step(params, state, X, y, None, step_hyper)
    for got, expected in zip(jitted[0], eager[0], strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    loss = net.loss_and_gradients(X, y)[0]
    np.testing.assert_allclose(float(jitted[2]), 11 * loss, rtol=1e-12)
    _, weight_grads, bias_grads = net.loss_and_gradients(X, y)
    updated, _ = jax.jit(pair.update)(
        tuple(weight_grads + bias_grads), state, params, hyper
    )
    for got, expected in zip(updated, jitted[0], strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


_NO_X64 = """
import jax, xpnet
backend = xpnet.get_backend("jax")
assert not jax.config.jax_enable_x64, "get_backend switched JAX to float64"
net = xpnet.MLP([2, 3, 1], backend="jax", seed=0)  # float32: fine
assert str(net.weights[0].dtype) == "float32"
try:
    xpnet.MLP([2, 3, 1], backend="jax", dtype="float64")
except xpnet.BackendError as exc:
    print(exc)
else:
    raise AssertionError("float64 without jax_enable_x64 was accepted")
"""


def test_the_jax_backend_leaves_x64_off_and_refuses_float64_without_it():
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    result = subprocess.run(
        [sys.executable, "-c", _NO_X64],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "jax_enable_x64" in result.stdout and "JAX_ENABLE_X64=1" in result.stdout
