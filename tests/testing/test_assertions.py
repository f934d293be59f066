"""``xpnet.testing``'s assertions on every backend; user-registered activations and
losses."""

from __future__ import annotations

import re

import numpy as np
import pytest

import xpnet
from xpnet.maths import activations, losses
from xpnet.testing import (
    assert_close_to_numpy,
    assert_gradients_match_finite_differences,
    require_backend,
)

Z = np.linspace(-3.0, 3.0, 12).reshape(4, 3)


def summaries(xp, z, scale):
    """Every result form: an array, a number, and a list, tuple and dict of them."""
    total = xp.sum(z * scale)
    return {"tanh": xp.tanh(z), "stats": [total, (xp.max(z), 2.0)], "n": z.shape[0]}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_right_function_passes_for_every_result_form(backend, dtype):
    assert_close_to_numpy(summaries, Z, 0.5, dtype=dtype, backend=backend)


def off_on_backends(xp, z):
    """tanh, off by 1e-3 at one element (row 2, column 1) everywhere but on NumPy."""
    out = xp.tanh(z)
    if not isinstance(z, np.ndarray):
        bump = np.zeros(z.shape)
        bump[2, 1] = 1e-3
        out = out + xp.asarray(bump, dtype=out.dtype, device=out.device)
    return [xp.sum(out) / 10, out]  # the sum is off by 1e-4 only


def test_a_difference_names_the_worst_element_its_index_and_both_values(backend):
    if backend.library == "numpy":
        pytest.skip("the planted difference is on the other backends")
    expected = np.tanh(Z[2, 1])
    message = (
        rf"off_on_backends on backend '{re.escape(backend.name)}' \(float64\) differs "
        rf"from NumPy float64 at result\[1\], index \(2, 1\): backend "
        rf"{expected + 1e-3:.6f}\d*, NumPy {expected:.6f}\d*; \|difference\| / "
        r"\(1 \+ \|NumPy\|\) = 0.000\d+ > 1e-10"
    )
    with pytest.raises(AssertionError, match=message):
        assert_close_to_numpy(off_on_backends, Z, backend=backend)
    # A looser tolerance lets it pass.
    assert_close_to_numpy(off_on_backends, Z, backend=backend, tolerance=1e-3)


def test_a_numpy_result_on_another_backend_is_named(backend):
    if backend.library == "numpy":
        pytest.skip("NumPy's own arrays are right on NumPy")

    def host_copy(xp, z):
        return {"z": backend.to_numpy(z)}

    with pytest.raises(
        AssertionError, match=r"returned a NumPy ndarray at result\['z'\]"
    ):
        assert_close_to_numpy(host_copy, Z, backend=backend)


def by_backend(on_numpy, elsewhere):
    """A function that runs ``on_numpy`` on NumPy and ``elsewhere`` on the others."""

    def fn(xp, z):
        return on_numpy(xp, z) if isinstance(z, np.ndarray) else elsewhere(xp, z)

    return fn


WRONG = [
    (lambda xp, z: [z, z], lambda xp, z: [z], r"at result; NumPy returned a list of "),
    (
        lambda xp, z: z,
        lambda xp, z: z[:2, :],
        r"shape \(2, 3\) at result; NumPy \(4, 3\)",
    ),
    (
        lambda xp, z: z,
        lambda xp, z: xp.astype(z, xp.float32),
        r"returned dtype float32 at result; it computes in float64",
    ),
    (
        lambda xp, z: {"a": z},
        lambda xp, z: {"b": z},
        r"NumPy returned a dict with keys \['a'\]",
    ),
    (lambda xp, z: z, lambda xp, z: 1 / 0, r"\(float64\) raised ZeroDivisionError"),
]


@pytest.mark.parametrize(("on_numpy", "elsewhere", "message"), WRONG)
def test_wrong_structure_shape_dtype_and_errors_are_named(on_numpy, elsewhere, message):
    strict = require_backend("array_api_strict")
    with pytest.raises(AssertionError, match=message):
        assert_close_to_numpy(by_backend(on_numpy, elsewhere), Z, backend=strict)


def test_nan_where_numpy_has_nan_agrees_and_nan_elsewhere_does_not():
    def nan_above(limit):
        return lambda xp, z: xp.where(z > limit, xp.nan, z)

    strict = require_backend("array_api_strict")
    assert_close_to_numpy(nan_above(2.5), Z, backend=strict)
    with pytest.raises(AssertionError, match=r"index \(3, 2\): backend nan, NumPy 3.0"):
        assert_close_to_numpy(
            by_backend(nan_above(9), nan_above(2.5)), Z, backend=strict
        )


def quadratic(xp, W, b):
    """L = sum((W @ x + b)^2) / 2 at a fixed x, and its gradients."""
    x = xp.asarray([1.0, -2.0, 0.5], dtype=W.dtype, device=W.device)
    r = W @ x + b
    return xp.sum(r * r) / 2, [r[:, None] * x[None, :], r]


def test_right_gradients_pass_on_every_backend(backend):
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(2, 3)), rng.normal(size=2)]
    assert_gradients_match_finite_differences(quadratic, params, backend=backend)


def test_a_wrong_gradient_names_the_worst_parameter(backend):
    def wrong_bias_gradient(xp, W, b):
        value, (grad_W, grad_b) = quadratic(xp, W, b)
        return value, [grad_W, grad_b * 1.01]  # 1% off

    params = [np.ones((2, 3)), np.array([0.5, 3.0])]  # r = [0, 2.5]: b[1] is worst
    with pytest.raises(
        AssertionError,
        match=r"wrong_bias_gradient on backend .* the worst gradient is params\[1\], "
        r"index \(1,\): gradient 2.525\d*, central differences 2.(4999|5000)\d*",
    ):
        assert_gradients_match_finite_differences(
            wrong_bias_gradient, params, backend=backend
        )


# ---- activations and losses registered by the user -----------------------------


@pytest.fixture
def softsign(monkeypatch):
    """x / (1 + |x|), registered for one test (the registry is restored after)."""
    monkeypatch.setattr(activations, "ACTIVATIONS", dict(activations.ACTIVATIONS))

    def forward(xp, z):
        return z / (1 + xp.abs(z))

    def backward(xp, a, grad_a):  # d/dz = (1 - |a|)^2
        return grad_a * (1 - xp.abs(a)) ** 2

    return xpnet.register_activation("softsign", forward, backward)


def softsign_net(X, weights, biases):
    """The network's output by hand, softsign hidden layers, identity output."""
    for W, b in zip(weights[:-1], biases[:-1], strict=True):
        z = X @ W + b
        X = z / (1 + np.abs(z))
    return X @ weights[-1] + biases[-1]


def test_a_registered_activation_runs_in_mlp(backend, softsign):
    X = np.random.default_rng(0).normal(size=(20, 3))
    net = xpnet.MLP(
        [3, 4, 1],
        hidden_activation="softsign",
        dtype="float64",
        seed=0,
        backend=backend,
    )
    assert net.activations[0] is softsign
    expected = softsign_net(X, net.get_weights(), net.get_biases())
    np.testing.assert_allclose(backend.to_numpy(net.forward(X)), expected, rtol=1e-10)


def test_a_registered_activation_trains_in_the_estimators(softsign):
    X = np.random.default_rng(0).normal(size=(20, 3))
    model = xpnet.MLPRegressor(
        (4,), activation="softsign", max_iter=5, tol=0, dtype="float64", random_state=0
    )
    with pytest.warns(xpnet.ConvergenceWarning):
        model.fit(X, np.tanh(X.sum(axis=1)))
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    expected = softsign_net(X, model.coefs_, model.intercepts_)[:, 0]
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-10)


def test_a_registered_activation_round_trips_through_a_model_file(tmp_path, softsign):
    net = xpnet.MLP([3, 4, 1], hidden_activation="softsign", seed=0)
    xpnet.save(net, tmp_path / "m.npz")
    assert xpnet.load(tmp_path / "m.npz").activations[0] is softsign
    del activations.ACTIVATIONS["softsign"]  # a new process that did not register it
    with pytest.raises(ValueError, match=r"registered with xpnet.register_activation"):
        xpnet.load(tmp_path / "m.npz")


def test_register_activation_refuses_bad_arguments(softsign):
    with pytest.raises(ValueError, match=r"name 'relu' is a built-in activation"):
        xpnet.register_activation("relu", softsign.forward, softsign.backward)
    with pytest.raises(ValueError, match=r"name 'logistic' is a built-in"):
        xpnet.register_activation("logistic", softsign.forward, softsign.backward)
    with pytest.raises(
        TypeError, match=r"backward must be a function of \(xp, ...\); got 3"
    ):
        xpnet.register_activation("mine", softsign.forward, 3)
    with pytest.raises(TypeError, match=r"name must be a non-empty string; got ''"):
        xpnet.register_activation("", softsign.forward, softsign.backward)
    again = xpnet.register_activation("softsign", softsign.forward, softsign.backward)
    assert again is not softsign and again == softsign  # replaced by an equal one


@pytest.fixture
def log_cosh(monkeypatch):
    """mean over samples of sum log(cosh(y_pred - y)), registered for one test."""
    monkeypatch.setattr(losses, "LOSSES", dict(losses.LOSSES))

    def value(xp, y_pred, y):
        return xp.sum(xp.log(xp.cosh(y_pred - y))) / y_pred.shape[0]

    def gradient(xp, y_pred, y):
        return xp.tanh(y_pred - y) / y_pred.shape[0]

    return xpnet.register_loss("log_cosh", value, gradient)


def test_a_registered_loss_gives_its_value_and_gradients(backend, log_cosh):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    init = xpnet.MLP([3, 4, 2], hidden_activation="tanh", dtype="float64", seed=0)

    def loss(xp, W0, W1):
        net = xpnet.MLP.from_weights(
            [W0, W1],
            init.get_biases(),
            hidden_activation="tanh",
            dtype="float64",
            backend=backend,
        )
        value, weight_grads, _ = net.loss_and_gradients(X, y, loss="log_cosh")
        return value, weight_grads

    W0, W1 = init.get_weights()
    value, _ = loss(backend.xp, W0, W1)
    y_pred = np.tanh(X @ W0 + init.get_biases()[0]) @ W1 + init.get_biases()[1]
    assert value == pytest.approx(np.log(np.cosh(y_pred - y)).sum() / 6, rel=1e-12)
    assert_gradients_match_finite_differences(loss, [W0, W1], backend=backend)


def test_register_loss_refuses_bad_arguments(log_cosh):
    with pytest.raises(ValueError, match=r"name 'log_loss' is a built-in loss"):
        xpnet.register_loss("log_loss", log_cosh.value, log_cosh.gradient)
    with pytest.raises(TypeError, match=r"gradient must be a function of \(xp, ...\)"):
        xpnet.register_loss("mine", log_cosh.value, None)
    net = xpnet.MLP([2, 1], seed=0)
    with pytest.raises(
        ValueError, match=r"one of \['squared_error', 'log_loss', 'poisson', 'log_"
    ):
        net.loss_and_gradients(np.ones((2, 2)), np.ones(2), loss="hinge")


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match=r"fn must be a function of \(xp, ...\); got 3"):
        assert_close_to_numpy(3, Z)
    with pytest.raises(ValueError, match=r"tolerance must be a finite number > 0"):
        assert_close_to_numpy(summaries, Z, 1.0, tolerance=-1)
    with pytest.raises(ValueError, match=r"dtype must be 'float32' or 'float64'"):
        assert_close_to_numpy(summaries, Z, 1.0, dtype="int8")
    with pytest.raises(TypeError, match=r"params must be a list of arrays, one per "):
        assert_gradients_match_finite_differences(quadratic, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"step must be a finite number > 0; got 0"):
        assert_gradients_match_finite_differences(quadratic, [Z], step=0)
    with pytest.raises(
        AssertionError, match=r"quadratic on NumPy float64 raised TypeError"
    ):
        assert_close_to_numpy(quadratic, Z)  # needs two arguments
