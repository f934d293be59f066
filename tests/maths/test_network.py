"""The backprop maths: gradients against central finite differences, and the same
SGD steps on every backend against a float64 NumPy reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import RTOL, central_differences, one_hot_data, regression_data

import xpnet
from xpnet.maths import network
from xpnet.maths.activations import Activation, get_activation

HIDDEN = ["identity", "sigmoid", "tanh", "relu"]
# (output activation, loss) pairs: the canonical ones and others through the Jacobian.
OUTPUT_LOSS = [
    ("identity", "squared_error"),
    ("sigmoid", "squared_error"),
    ("tanh", "squared_error"),
    ("softmax", "squared_error"),
    ("softmax", "log_loss"),
    ("sigmoid", "log_loss"),
]


def _problem(depth: int, output: str, loss: str, seed: int = 0):
    """Sizes, host X and y fitting the output activation and loss."""
    sizes = [3] + [4, 3, 5][: depth - 1] + [3]
    X, y = regression_data(n_samples=5, n_features=3, n_outputs=3, seed=seed)
    if loss == "log_loss" and output == "softmax":
        _, y = one_hot_data(n_samples=5, n_features=3, n_classes=3, seed=seed)
    elif loss == "log_loss":  # multilabel 0/1 targets
        y = (y > 0).astype(float)
    return sizes, X, y


def _finite_difference(net_args, weights, biases, X, y, loss):
    """Central differences of the loss for every weight and bias (float64, host)."""

    def loss_at():
        net = xpnet.MLP.from_weights(weights, biases, dtype="float64", **net_args)
        return net.loss_and_gradients(X, y, loss)[0]

    fd_w = central_differences(loss_at, weights)
    return fd_w, (None if biases is None else central_differences(loss_at, biases))


# Depth 1 has no hidden layer, so one hidden activation covers it.
GRADIENT_CASES = [
    (depth, hidden)
    for depth in (1, 2, 3, 4)
    for hidden in (HIDDEN[:1] if depth == 1 else HIDDEN)
]


@pytest.mark.parametrize(("depth", "hidden"), GRADIENT_CASES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("output", "loss"), OUTPUT_LOSS)
def test_gradients_match_finite_differences(depth, hidden, bias, output, loss):
    sizes, X, y = _problem(depth, output, loss)
    init = xpnet.MLP(
        sizes,
        hidden_activation=hidden,
        output_activation=output,
        bias=bias,
        dtype="float64",
        seed=3,
    )
    weights, biases = init.get_weights(), init.get_biases()
    if bias:  # non-zero biases exercise their gradients fully
        biases = [b + 0.1 for b in biases]
    args = {"hidden_activation": hidden, "output_activation": output}
    net = xpnet.MLP.from_weights(weights, biases, dtype="float64", **args)
    _, w_grads, b_grads = net.loss_and_gradients(X, y, loss)
    fd_w, fd_b = _finite_difference(args, weights, biases, X, y, loss)
    for got, want in zip(w_grads, fd_w, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
    assert (b_grads is None) == (not bias)
    for got, want in zip(b_grads or [], fd_b or [], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


def _silu():
    """SiLU, z * sigmoid(z): a backward that needs z (``needs_input``)."""

    def backward(xp, z, a, grad):
        s = 1 / (1 + xp.exp(-z))
        return grad * (s + a * (1 - s))  # a = z * s

    return Activation("silu", lambda xp, z: z / (1 + xp.exp(-z)), backward, True)


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradients_through_activations_that_need_z_match_finite_differences(
    depth, weighted
):
    """Every layer SiLU (the output too), integer sample weights (the loss of rows
    repeated) or none, errors kept: the backward pass hands each layer its own z,
    and the last error term is the (weighted) output error through the output."""
    sizes, X, y = _problem(depth, "identity", "squared_error")
    rng = np.random.default_rng(6)
    weights = [rng.normal(size=shape) for shape in zip(sizes, sizes[1:], strict=False)]
    biases = [rng.normal(size=n) for n in sizes[1:]]
    w = rng.integers(1, 4, size=len(X)).astype(float) if weighted else None
    args = (np, weights, biases, [_silu()] * len(weights), X, y, "squared_error")

    def loss_at():
        return float(network.loss_and_gradients(*args, sample_weight=w)[0])

    value, grads, trace = network.loss_and_gradients(
        *args, sample_weight=w, keep_errors=True
    )
    rows = np.repeat(np.arange(len(X)), 1 if w is None else w.astype(int))
    repeated = network.loss_and_gradients(*args[:4], X[rows], y[rows], "squared_error")
    np.testing.assert_allclose(value, repeated[0], rtol=1e-12)
    z = trace.inputs[-1]
    through = _silu().backprop(np, z, trace.outputs[-1], grads.output_errors[-1].copy())
    np.testing.assert_allclose(grads.error_terms[-1], through, rtol=1e-12)
    for got, want in zip(
        grads.weights, central_differences(loss_at, weights), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
    for got, want in zip(
        grads.biases, central_differences(loss_at, biases), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


def _sgd_run(backend, dtype, hidden, output, loss, steps=20, lr=0.1):
    sizes, X, y = _problem(3, output, loss, seed=1)
    net = xpnet.MLP(
        sizes,
        hidden_activation=hidden,
        output_activation=output,
        dtype=dtype,
        backend=backend,
        seed=7,
    )
    losses = []
    for _ in range(steps):
        value, w_grads, b_grads = net.loss_and_gradients(X, y, loss)
        losses.append(value)
        net.sgd_step(w_grads, b_grads, lr)
    last = net.loss_and_gradients(X, y, loss)
    return losses, net.get_weights() + net.get_biases(), last[1]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("hidden", "output", "loss"),
    [
        ("sigmoid", "identity", "squared_error"),
        ("relu", "softmax", "log_loss"),
        ("tanh", "sigmoid", "log_loss"),
    ],
)
def test_twenty_sgd_steps_match_numpy_float64(backend, dtype, hidden, output, loss):
    ref_losses, ref_params, ref_grads = _sgd_run(
        "numpy", "float64", hidden, output, loss
    )
    losses, params, grads = _sgd_run(backend, dtype, hidden, output, loss)
    rtol = RTOL[dtype]
    np.testing.assert_allclose(losses, ref_losses, rtol=rtol)
    for got, want in itertools.chain(
        zip(params, ref_params, strict=True),
        zip([backend.to_numpy(g) for g in grads], ref_grads, strict=True),
    ):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    assert losses[-1] < losses[0]  # the steps did train


def test_forward_keeps_inputs_and_outputs(backend):
    X, _ = regression_data(n_samples=4, n_features=3)
    net = xpnet.MLP([3, 5, 2], hidden_activation="tanh", seed=0, backend=backend)
    xp = backend.xp
    trace = network.forward(
        xp,
        net.weights,
        net.biases,
        net.activations,
        backend.asarray(X, "float32"),
        keep_inputs=True,
    )
    assert [tuple(a.shape) for a in trace.outputs] == [(4, 3), (4, 5), (4, 2)]
    assert [tuple(z.shape) for z in trace.inputs] == [(4, 5), (4, 2)]
    np.testing.assert_allclose(
        backend.to_numpy(trace.outputs[1]),
        np.tanh(backend.to_numpy(trace.inputs[0])),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(
        backend.to_numpy(trace.outputs[-1]), backend.to_numpy(net.forward(X))
    )


def test_forward_keeps_only_the_inputs_a_backward_needs():
    """No ``z`` kept by default; with an activation whose backward needs it, only
    that layer's; as many activations as weight matrices, or a ValueError."""
    X = regression_data(n_samples=4, n_features=3)[0].astype(np.float32)
    net = xpnet.MLP([3, 5, 2], hidden_activation="tanh", seed=0, backend="numpy")
    args = (np, net.weights, net.biases)
    assert network.forward(*args, net.activations, X).inputs is None
    tanh = get_activation("tanh")
    by_z = Activation(
        "by_z", tanh.forward, lambda xp, z, a, grad: grad, needs_input=True
    )
    trace = network.forward(*args, [by_z, net.activations[1]], X)
    assert trace.inputs[1] is None
    np.testing.assert_allclose(np.tanh(trace.inputs[0]), trace.outputs[1])
    with pytest.raises(ValueError):
        network.forward(*args, net.activations[:1], X)


@pytest.mark.parametrize("scale", [-0.25, 2.0])
@pytest.mark.parametrize(
    ("output", "loss"), [("softmax", "log_loss"), ("identity", "squared_error")]
)
def test_delta_scale_scales_every_gradient_not_the_loss(backend, output, loss, scale):
    """``delta_scale`` (a learning rate folded into backprop) multiplies every
    gradient and leaves the loss alone; without ``keep_errors`` no errors are kept."""
    X, Y = one_hot_data(n_samples=9, n_features=4, n_classes=3)
    net = xpnet.MLP(
        [4, 5, 3], output_activation=output, seed=1, backend=backend, dtype="float64"
    )
    args = (
        backend.xp,
        net.weights,
        net.biases,
        net.activations,
        backend.asarray(X, "float64"),
        backend.asarray(Y, "float64"),
        loss,
    )
    value, grads, _ = network.loss_and_gradients(*args, keep_errors=True)
    scaled_value, scaled, _ = network.loss_and_gradients(
        *args, keep_errors=True, delta_scale=scale
    )
    assert float(scaled_value) == float(value)
    _, plain, _ = network.loss_and_gradients(*args, delta_scale=scale)
    assert plain.output_errors is None and plain.error_terms is None
    for got, want in zip(
        scaled.weights + scaled.biases + scaled.output_errors + scaled.error_terms,
        grads.weights + grads.biases + grads.output_errors + grads.error_terms,
        strict=True,
    ):
        np.testing.assert_allclose(
            backend.to_numpy(got),
            scale * backend.to_numpy(want),
            rtol=1e-13,
            atol=1e-16,
        )


def test_identity_network_is_linear_regression_gradient():
    """A 1-layer linear net's gradient is the textbook X^T (XW + b - y) / n."""
    X, y = regression_data(n_samples=7, n_features=3, n_outputs=2)
    rng = np.random.default_rng(2)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    net = xpnet.MLP.from_weights(
        [W], [b], output_activation="identity", dtype="float64"
    )
    loss, w_grads, b_grads = net.loss_and_gradients(X, y)
    residual = X @ W + b - y
    assert loss == pytest.approx(0.5 * (residual**2).sum() / 7)
    np.testing.assert_allclose(w_grads[0], X.T @ residual / 7)
    np.testing.assert_allclose(b_grads[0], residual.mean(axis=0))


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "tanh", "relu"])
def test_extreme_inputs_stay_finite_through_a_network(backend, name):
    """|z| around 1000 in every layer: no overflow warning, no inf or nan."""
    output = "softmax" if name == "softmax" else "sigmoid"
    W = [np.full((2, 3), 500.0), np.full((3, 2), 500.0) * np.array([1.0, -1.0])]
    net = xpnet.MLP.from_weights(
        W,
        hidden_activation="identity" if name == "softmax" else name,
        output_activation=output,
        dtype="float32",
        backend=backend,
    )
    X = np.array([[1.0, 1.0], [-1.0, -1.0]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    loss, w_grads, b_grads = net.loss_and_gradients(X, y, "log_loss")
    assert np.isfinite(loss)
    for g in w_grads:
        assert np.isfinite(backend.to_numpy(g)).all()
    assert np.isfinite(backend.to_numpy(net.forward(X))).all()


def test_activation_objects_are_shared():
    assert get_activation("relu") is get_activation("relu")


def test_predict_refuses_more_weights_than_activations():
    """One activation per layer: a list one short is an error, not a network cut
    short by ``zip``."""
    weights = [np.ones((3, 4)), np.ones((4, 2))]
    relu = get_activation("relu")
    with pytest.raises(ValueError):
        network.predict(np, weights, None, [relu], np.ones((5, 3)))
    assert network.predict(np, weights, None, [relu, relu], np.ones((5, 3))).shape == (
        5,
        2,
    )
