"""A user's parts reach the estimators: an activation whose backward takes the
pre-activation (SiLU) and a registered loss (Huber), trained by ``MLPRegressor`` on
every backend, checked against finite differences, saved by name and refused at load
where the name is not registered."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpnet
from xpnet.maths import activations, losses
from xpnet.testing import assert_gradients_match_finite_differences

rng = np.random.default_rng(0)
X = rng.normal(size=(30, 3))
Y = np.sin(X @ np.array([1.0, -2.0, 0.5]))


def silu_forward(xp, z):
    return z / (1 + xp.exp(-z))


def silu_backward(xp, z, a, grad_a):  # d/dz z s(z) = s(z) + a (1 - s(z))
    s = 1 / (1 + xp.exp(-z))
    grad_a *= s + a * (1 - s)
    return grad_a


def silu_onnx(graph, x):
    return graph.node("Mul", [x, graph.node("Sigmoid", [x])])


def huber_value(xp, y_pred, y):
    d = y_pred - y
    a = xp.abs(d)
    return xp.sum(xp.where(a <= 1.0, 0.5 * d * d, a - 0.5)) / y_pred.shape[0]


def huber_gradient(xp, y_pred, y):
    return xp.clip(y_pred - y, -1.0, 1.0) / y_pred.shape[0]


@pytest.fixture
def parts(monkeypatch):
    """SiLU and Huber, registered for one test (the registries are restored after)."""
    monkeypatch.setattr(activations, "ACTIVATIONS", dict(activations.ACTIVATIONS))
    monkeypatch.setattr(losses, "LOSSES", dict(losses.LOSSES))
    silu = xpnet.register_activation(
        "silu", silu_forward, silu_backward, onnx=silu_onnx
    )
    huber = xpnet.register_loss("huber", huber_value, huber_gradient)
    return silu, huber


def _regressor(backend, **kwargs):
    params = dict(activation="silu", loss="huber", max_iter=10, tol=0, random_state=0)
    return xpnet.MLPRegressor(
        (4, 3), dtype="float64", backend=backend, **params | kwargs
    )


def _fit(model, X_fit=X, y=Y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        return model.fit(X_fit, y)


def test_the_backward_form_is_told_from_the_signature(parts):
    silu, _ = parts
    assert silu.needs_input and silu.onnx is silu_onnx
    old = xpnet.register_activation(
        "halved", lambda xp, z: z / 2, lambda xp, a, g: g / 2
    )
    assert not old.needs_input and old.onnx is None
    with pytest.raises(TypeError, match=r"backward must take \(xp, a, grad_a\) or"):
        xpnet.register_activation("bad", silu_forward, lambda xp, g: g)
    with pytest.raises(TypeError, match=r"onnx must be a function of \(graph, x\)"):
        xpnet.register_activation("bad", silu_forward, silu_backward, onnx="Mul")


@pytest.mark.parametrize("output", ["identity", "silu"])
def test_silu_and_huber_gradients_match_finite_differences(backend, parts, output):
    """Hidden SiLU layers (and a SiLU output: the loss's delta needs its z too)."""
    init = xpnet.MLP([3, 4, 1], hidden_activation="silu", dtype="float64", seed=1)
    y = Y[:12] * 3  # some residuals beyond Huber's threshold of 1

    def loss(xp, W0, W1, b0, b1):
        net = xpnet.MLP.from_weights(
            [W0, W1],
            [b0, b1],
            hidden_activation="silu",
            output_activation=output,
            dtype="float64",
            backend=backend,
        )
        value, weight_grads, bias_grads = net.loss_and_gradients(
            X[:12], y, loss="huber"
        )
        return value, [*weight_grads, *bias_grads]

    params = [*init.get_weights(), *init.get_biases()]
    assert_gradients_match_finite_differences(loss, params, backend=backend)


def test_mlp_regressor_trains_with_silu_and_huber_on_every_backend(backend, parts):
    model = _fit(_regressor(backend))
    assert model.loss == "huber" and model.activation == "silu"
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    reference = _fit(_regressor("numpy"))
    np.testing.assert_allclose(model.loss_curve_, reference.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-9)
    # the fitted weights are a point where the estimator's maths is checked too
    host = [np.asarray(p) for p in [*model.coefs_, *model.intercepts_]]

    def loss(xp, *params):
        net = xpnet.MLP.from_weights(
            list(params[:3]),
            list(params[3:]),
            hidden_activation="silu",
            dtype="float64",
            backend=backend,
        )
        value, weight_grads, bias_grads = net.loss_and_gradients(
            X[:12], Y[:12], loss="huber"
        )
        return value, [*weight_grads, *bias_grads]

    assert_gradients_match_finite_differences(loss, host, backend=backend)


def test_a_registered_loss_is_saved_by_name_and_refused_where_unregistered(
    tmp_path, parts
):
    model = _fit(_regressor("numpy", max_iter=3))
    path = tmp_path / "huber.safetensors"
    xpnet.save(model, path)
    loaded = xpnet.load(path)
    assert loaded.loss == "huber"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    del losses.LOSSES["huber"]  # a new process that did not register it
    with pytest.raises(
        xpnet.ModelFileError,
        match=r"loss must be one of \['squared_error', 'poisson'\] or a name "
        r"registered with xpnet.register_loss; got 'huber'",
    ):
        xpnet.load(path)
    with pytest.raises(ValueError, match=r"registered with xpnet.register_loss"):
        _fit(_regressor("numpy"))


def test_a_registered_loss_refuses_sample_weights(parts):
    """A user's loss is unweighted: weights are refused, not silently dropped."""
    model = _regressor("numpy")
    with pytest.raises(ValueError, match=r"sample_weight cannot be used with loss"):
        model.fit(X, Y, sample_weight=np.ones(len(X)))
    assert not hasattr(model, "coefs_")
