"""The research API: building, seeding, stepping, and refusing what does not fit."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, regression_data

import xpnet


def test_same_seed_same_start_on_every_backend(backend):
    ref = xpnet.MLP([4, 6, 2], seed=11, dtype="float64")
    net = xpnet.MLP([4, 6, 2], seed=11, dtype="float64", backend=backend)
    for got, want in zip(net.weights, ref.get_weights(), strict=True):
        assert_close(backend, got, want, "float64", atol=0)
    assert net.backend.name == backend.name


def test_seed_draws_float64_then_casts():
    w64 = xpnet.MLP([3, 2], seed=5, dtype="float64").get_weights()[0]
    w32 = xpnet.MLP([3, 2], seed=5, dtype="float32").get_weights()[0]
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


@pytest.mark.parametrize("init", ["seed_normal", "glorot_uniform", "he_normal"])
def test_initialisers_have_their_spread(init):
    net = xpnet.MLP([400, 300], init=init, seed=0, dtype="float64")
    w = net.get_weights()[0]
    expected_std = {
        "seed_normal": 400**-0.5,
        "glorot_uniform": np.sqrt(6 / 700) / np.sqrt(3),
        "he_normal": np.sqrt(2 / 400),
    }[init]
    assert w.std() == pytest.approx(expected_std, rel=0.02)
    assert abs(w.mean()) < 0.01


def test_sigmoid_layers_get_glorot_gain_two():
    net = xpnet.MLP([300, 300, 1], hidden_activation="sigmoid", seed=0, dtype="float64")
    assert np.abs(net.get_weights()[0]).max() <= np.sqrt(2 / 600)


def test_unknown_init():
    with pytest.raises(ValueError, match=r"init must be one of .*got 'zeros'"):
        xpnet.MLP([2, 1], init="zeros")


def test_from_weights_round_trip(backend):
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(4, 3)), rng.normal(size=(3, 1))]
    biases = [rng.normal(size=3), rng.normal(size=1)]
    net = xpnet.MLP.from_weights(weights, biases, dtype="float64", backend=backend)
    assert net.layer_sizes == [4, 3, 1]
    for got, want in zip(net.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(net.get_biases(), biases, strict=True):
        np.testing.assert_array_equal(got, want)
    X = rng.normal(size=(5, 4))
    hidden = np.maximum(X @ weights[0] + biases[0], 0)
    assert_close(backend, net.forward(X), hidden @ weights[1] + biases[1])


def test_on_device_holds_the_arrays_given(backend):
    """``MLP.on_device`` holds device arrays as they are (what an estimator's network
    is), and ``outputs`` of a device X is ``forward``'s answer."""
    net = xpnet.MLP([4, 3, 2], seed=3, dtype="float64", backend=backend)
    held = xpnet.MLP.on_device(
        net.weights, net.biases, net.activations, "float64", backend
    )
    assert held.weights is net.weights and held.biases is net.biases
    assert held.layer_sizes == [4, 3, 2]
    X, _ = regression_data(n_samples=5, n_features=4)
    X_dev = backend.asarray(X, "float64")
    want = backend.to_numpy(net.forward(X))
    np.testing.assert_array_equal(backend.to_numpy(held.outputs(X_dev)), want)


def test_an_estimator_predicts_with_its_network():
    """The regressor's predictions are those of the MLP over its coefs_."""
    X, y = regression_data(n_samples=20, n_features=4)
    model = xpnet.MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with pytest.warns(xpnet.ConvergenceWarning):
        model.fit(X, y)
    net = xpnet.MLP.from_weights(
        model.coefs_,
        model.intercepts_,
        dtype=model.dtype_,
        output_activation="identity",
    )
    np.testing.assert_array_equal(model.predict(X), net.forward(X)[:, 0])


def test_get_weights_are_copies():
    net = xpnet.MLP([2, 2], seed=0)
    net.get_weights()[0][:] = 99
    assert (net.get_weights()[0] != 99).all()


def test_no_bias_network(backend):
    """A step without biases moves every weight by -lr * its gradient, and the loss
    goes down."""
    net = xpnet.MLP([3, 2, 1], bias=False, seed=0, dtype="float64", backend=backend)
    assert net.biases is None and net.get_biases() is None
    X, y = regression_data(n_samples=4, n_features=3)
    before = net.get_weights()
    loss, w_grads, b_grads = net.loss_and_gradients(X, y)
    assert b_grads is None and len(w_grads) == 2
    grads = [np.array(backend.to_numpy(g)) for g in w_grads]
    net.sgd_step(w_grads, None, 0.1)
    assert net.biases is None
    for after, start, grad in zip(net.get_weights(), before, grads, strict=True):
        assert np.any(grad != 0)
        np.testing.assert_allclose(after, start - 0.1 * grad, rtol=1e-12, atol=1e-15)
    assert net.loss_and_gradients(X, y)[0] < loss


def test_sgd_step_is_plain_update(backend):
    X, y = regression_data(n_samples=6, n_features=3)
    net = xpnet.MLP([3, 4, 1], dtype="float64", backend=backend, seed=1)
    before = net.get_weights() + net.get_biases()
    _, w_grads, b_grads = net.loss_and_gradients(X, y)
    net.sgd_step(w_grads, b_grads, 0.25)
    after = net.get_weights() + net.get_biases()
    grads = [backend.to_numpy(g) for g in w_grads + b_grads]
    for b, a, g in zip(before, after, grads, strict=True):
        np.testing.assert_allclose(a, b - 0.25 * g, rtol=1e-12)


def test_loss_and_gradients_accepts_backend_arrays(backend):
    X, y = regression_data(n_samples=6, n_features=3)
    net = xpnet.MLP([3, 2, 1], dtype="float64", backend=backend, seed=1)
    host = net.loss_and_gradients(X, y)
    device = net.loss_and_gradients(
        backend.asarray(X, "float64"), backend.asarray(y, "float64")
    )
    assert host[0] == device[0]
    assert isinstance(host[0], float)


def test_one_dimensional_target_for_one_output():
    X, y = regression_data(n_samples=6, n_features=3)
    net = xpnet.MLP([3, 1], seed=0, dtype="float64")
    assert net.loss_and_gradients(X, y[:, 0])[0] == net.loss_and_gradients(X, y)[0]


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros(3), r"X must be 2-D .*got 1-D shape \(3,\)"),
        (np.zeros((2, 3, 1)), r"X must be 2-D .*got 3-D"),
        (np.zeros((0, 3)), r"X must not be empty; got shape \(0, 3\)"),
        (np.zeros((2, 5)), r"X must have 3 columns; got shape \(2, 5\)"),
        (np.array([[1.0, np.nan, 0.0]]), r"X must be finite; it contains NaN"),
        (np.array([[1.0, np.inf, 0.0]]), r"X must be finite"),
    ],
)
def test_forward_refuses_bad_inputs(X, match):
    net = xpnet.MLP([3, 1], seed=0)
    with pytest.raises(ValueError, match=match):
        net.forward(X)


def test_forward_refuses_text_and_complex():
    net = xpnet.MLP([2, 1], seed=0)
    with pytest.raises(TypeError, match=r"X must hold real numbers; got dtype <U1"):
        net.forward(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match=r"complex data is not supported"):
        net.forward(np.ones((1, 2), dtype=complex))


def test_targets_must_match_samples():
    net = xpnet.MLP([3, 1], seed=0)
    X, y = regression_data(n_samples=6, n_features=3)
    with pytest.raises(ValueError, match=r"y must have 6 rows.*got shape \(5, 1\)"):
        net.loss_and_gradients(X, y[:5])


@pytest.mark.parametrize(
    ("sizes", "error", "match"),
    [
        ([3], ValueError, r"at least 2 sizes"),
        ([3, 0, 1], ValueError, r"sizes >= 1; got 0"),
        ([3, -2], ValueError, r"sizes >= 1; got -2"),
        ([3, 2.5], TypeError, r"must hold ints; got 2.5"),
        (5, TypeError, r"layer_sizes must be a sequence of ints"),
    ],
)
def test_bad_layer_sizes(sizes, error, match):
    with pytest.raises(error, match=match):
        xpnet.MLP(sizes)


@pytest.mark.parametrize("dtype", ["int32", "float16", "complex128"])
def test_unsupported_model_dtype(dtype):
    with pytest.raises(
        ValueError, match=rf"dtype must be 'float32' or 'float64'; got '{dtype}'"
    ):
        xpnet.MLP([2, 1], dtype=dtype)


def test_from_weights_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"weights\[1\] must have 3 rows"):
        xpnet.MLP.from_weights([np.zeros((4, 3)), np.zeros((2, 1))])
    with pytest.raises(ValueError, match=r"biases\[0\] must have shape \(3,\)"):
        xpnet.MLP.from_weights([np.zeros((4, 3))], [np.zeros(4)])
    with pytest.raises(ValueError, match=r"at least one"):
        xpnet.MLP.from_weights([])


@pytest.mark.parametrize("lr", [-0.1, 0.0, float("nan")])
def test_bad_learning_rate(lr):
    net = xpnet.MLP([2, 1], seed=0)
    _, w_grads, b_grads = net.loss_and_gradients(np.ones((1, 2)), np.ones((1, 1)))
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0"):
        net.sgd_step(w_grads, b_grads, lr)


def test_numpy_gradients_into_torch_model_refused():
    pytest.importorskip("torch", reason="torch is not installed")
    net = xpnet.MLP([2, 1], seed=0, backend="torch")
    host = [np.zeros((2, 1))]
    with pytest.raises(
        TypeError, match=r"weight_grads\[0\] must be an array of backend"
    ):
        net.sgd_step(host, [np.zeros(1)], 0.1)


def test_torch_data_into_numpy_model_refused():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    net = xpnet.MLP([2, 1], seed=0)
    with pytest.raises(TypeError, match=r"X is a torch array .*backend 'numpy'"):
        net.forward(torch.zeros(3, 2))


def test_other_device_data_refused():
    strict = pytest.importorskip("array_api_strict", reason="not installed")
    net = xpnet.MLP([2, 1], seed=0, backend="array_api_strict")
    X = strict.asarray(np.zeros((3, 2)), device=strict.Device("device1"))
    with pytest.raises(ValueError, match=r"X is on device .*device1.* but the model"):
        net.forward(X)
    other = xpnet.MLP([2, 1], seed=0, backend="array_api_strict:device1")
    _, w_grads, b_grads = other.loss_and_gradients(np.ones((1, 2)), np.ones((1, 1)))
    with pytest.raises(TypeError, match=r"weight_grads\[0\] must be an array"):
        net.sgd_step(w_grads, b_grads, 0.1)


def test_repr_names_the_model():
    text = repr(xpnet.MLP([3, 2, 1], seed=0))
    assert "layer_sizes=[3, 2, 1]" in text and "backend='numpy'" in text
