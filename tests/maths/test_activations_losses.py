"""Activations and losses: values against their definitions, stability at |z| = 1000."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.maths import activations, losses
from xpnet.maths.activations import ACTIVATIONS, Activation, constant, get_activation
from xpnet.maths.losses import check_loss, loss_value, output_delta

Z = np.array([[-1000.0, -3.0, -0.5, 0.0, 0.5, 3.0, 1000.0]])

REFERENCE = {
    "identity": lambda z: z,
    "sigmoid": lambda z: 0.5 * (1 + np.tanh(z / 2)),  # an independent formula
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "exp": np.exp,
    "softmax": lambda z: (
        np.exp(z - z.max(1, keepdims=True))
        / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)
    ),
}


@pytest.fixture(autouse=True)
def fresh_constants(monkeypatch):
    """Each test makes its own constants (activations.constant): ones cached by an
    earlier test would hide a wrong way of making them."""
    monkeypatch.setattr(activations, "_CONSTANTS", {})


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_matches_definition_and_stays_finite(backend, name, dtype):
    act = get_activation(name)
    # exp (the Poisson output) overflows beyond log(max), as scikit-learn's does.
    z = Z[:, 1:-1] if name == "exp" else Z
    a = backend.to_numpy(act.forward(backend.xp, backend.asarray(z, dtype)))
    assert a.dtype == np.dtype(dtype)
    assert np.isfinite(a).all()
    expected = REFERENCE[name](z)
    np.testing.assert_allclose(a, expected, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backward_is_the_jacobian_product(backend, name):
    """backward(a, g) equals g @ J with J from central differences of forward."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(1, 5))
    g = rng.normal(size=(1, 5))
    act = get_activation(name)

    def f(v):
        return backend.to_numpy(act.forward(backend.xp, backend.asarray(v, "float64")))

    h = 1e-6
    jac = np.stack([(f(z + h * e) - f(z - h * e))[0] / (2 * h) for e in np.eye(5)])
    a = act.forward(backend.xp, backend.asarray(z, "float64"))
    grad = backend.asarray(g.copy(), "float64")  # backward may overwrite it
    got = backend.to_numpy(act.backward(backend.xp, a, grad))
    np.testing.assert_allclose(got[0], jac @ g[0], rtol=1e-6, atol=1e-9)


def test_backprop_passes_z_only_to_a_backward_that_needs_it():
    """Activation.backprop: ``backward(xp, z, a, grad_a)`` where ``needs_input``,
    else ``backward(xp, a, grad_a)``."""

    def seen(*args):
        return args

    with_z = Activation("with_z", np.negative, seen, needs_input=True)
    without = Activation("without", np.negative, seen)
    assert with_z.backprop(np, "z", "a", "g") == (np, "z", "a", "g")
    assert without.backprop(np, None, "a", "g") == (np, "a", "g")


class _NoDevice:
    """An array-like with no ``device`` (as a traced JAX value)."""

    dtype = np.dtype("float32")


def test_constant_is_made_once_per_library_dtype_and_device():
    """constant(): a 0-d ``value`` in ``like``'s dtype on its device, kept per
    (library, dtype, device, value); a fresh one where ``like`` has no device."""
    strict = pytest.importorskip("array_api_strict")
    likes = [
        (np, np.zeros(3, np.float32)),
        (strict, strict.zeros(3, dtype=strict.float32)),
        (
            strict,
            strict.zeros(3, dtype=strict.float32, device=strict.Device("device1")),
        ),
        (strict, strict.zeros(3, dtype=strict.float64)),
    ]
    for xp, like in likes:
        made = constant(xp, like, 2.5)
        assert made.shape == () and made.dtype == like.dtype
        assert made.device == like.device and float(made) == 2.5
        assert constant(xp, like, 2.5) is made
        assert float(constant(xp, like, -1.0)) == -1.0
    fresh = constant(np, _NoDevice(), 2.5)
    assert fresh.shape == () and fresh.dtype == np.float32 and float(fresh) == 2.5
    assert constant(np, _NoDevice(), 2.5) is not fresh
    assert len(activations._CONSTANTS) == 2 * len(likes)


def test_logistic_is_an_alias():
    assert get_activation("logistic") is get_activation("sigmoid")


def test_unknown_activation_names_choices():
    with pytest.raises(
        ValueError, match=r"activation must be one of .*'relu'.*'swish'"
    ):
        get_activation("swish")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_squared_error_is_half_mean_of_sums(backend, dtype):
    rng = np.random.default_rng(0)
    y_pred, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    out = get_activation("identity")
    value = loss_value(
        backend.xp,
        "squared_error",
        out,
        backend.asarray(y_pred, dtype),
        backend.asarray(y, dtype),
    )
    expected = 0.5 * ((y_pred - y) ** 2).sum(axis=1).mean()
    assert float(value) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_log_loss_stable_at_saturation(backend, output):
    """Saturated, wrong predictions give a large finite loss, never inf or nan."""
    act = get_activation(output)
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])  # every prediction confidently wrong
    for dtype in ("float32", "float64"):
        p = act.forward(backend.xp, backend.asarray(z, dtype))
        value = float(
            loss_value(backend.xp, "log_loss", act, p, backend.asarray(y, dtype))
        )
        eps = np.finfo(dtype).eps
        assert np.isfinite(value) and value >= -np.log(eps) * 0.99
        delta = output_delta(backend.xp, "log_loss", act, p, backend.asarray(y, dtype))
        assert np.isfinite(backend.to_numpy(delta)).all()


def test_log_loss_values_match_definitions():
    import xpnet

    backend = xpnet.get_backend("numpy")
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    softmax = get_activation("softmax")
    value = float(loss_value(backend.xp, "log_loss", softmax, p, y))
    assert value == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    sigmoid = get_activation("sigmoid")
    binary = float(loss_value(backend.xp, "log_loss", sigmoid, p[:, :1], y[:, :1]))
    assert binary == pytest.approx(-(np.log(1 - 0.2) + np.log(0.6)) / 2)


def test_log_loss_needs_probability_output():
    with pytest.raises(ValueError) as refused:
        check_loss("log_loss", get_activation("identity"))
    assert str(refused.value) == (
        "loss 'log_loss' needs output_activation 'softmax' or 'sigmoid' "
        "(probabilities); got 'identity'"
    )
    with pytest.raises(ValueError) as refused:
        check_loss("poisson", get_activation("relu"))
    assert (
        str(refused.value) == "loss 'poisson' needs output_activation 'exp'; got 'relu'"
    )
    with pytest.raises(ValueError, match=r"loss must be one of"):
        check_loss("hinge", get_activation("identity"))


@pytest.mark.parametrize(
    ("name", "output"),
    [("squared_error", "identity"), ("log_loss", "softmax"), ("poisson", "exp")],
)
def test_a_loss_object_s_canonical_delta_is_its_error_through_the_output(name, output):
    """The shortcut y_pred - y equals dL/dy_pred taken back through the output
    activation (the chain rule the shortcut replaces)."""
    import xpnet
    from xpnet.maths.losses import LOSSES, get_loss

    xp = xpnet.get_backend("numpy").xp
    loss, act = get_loss(name), get_activation(output)
    assert loss is LOSSES[name] and output in loss.canonical
    z = np.array([[0.3, -1.2, 0.5], [2.0, 0.1, -0.4]])
    y_pred = act.forward(xp, z)
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    delta = loss.output_delta(xp, act, y_pred, y)
    chained = act.backprop(xp, z, y_pred, loss.output_error(xp, act, y_pred, y))
    np.testing.assert_allclose(delta, chained, rtol=1e-12, atol=1e-15)


def test_a_registered_loss_shares_the_built_in_registry(monkeypatch):
    from xpnet.maths import losses

    monkeypatch.setattr(losses, "LOSSES", dict(losses.LOSSES))
    value = lambda xp, y_pred, y: xp.sum(xp.abs(y_pred - y))  # noqa: E731
    gradient = lambda xp, y_pred, y: xp.sign(y_pred - y)  # noqa: E731
    loss = losses.register_loss("l1", value, gradient)
    assert losses.get_loss("l1") is loss and not loss.weighted
    assert losses.user_losses() == ("l1",)
    with pytest.raises(ValueError, match=r"'poisson' is a built-in loss"):
        losses.register_loss("poisson", value, gradient)
    with pytest.raises(ValueError, match=r"needs output_activation 'exp'; got 'relu'"):
        losses.get_loss("poisson", get_activation("relu"))


def test_poisson_is_half_scikit_learns_mean_deviance_zero_counts_included():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    y = np.array([[0.0], [1.0], [3.0], [0.0], [7.0]])
    y_pred = rng.uniform(0.5, 4.0, size=(5, 1))
    for w in (None, rng.uniform(0.5, 2.0, size=5)):
        got = loss_value(np, "poisson", get_activation("exp"), y_pred, y, w)
        want = metrics.mean_poisson_deviance(y[:, 0], y_pred[:, 0], sample_weight=w)
        np.testing.assert_allclose(got, want / 2, rtol=1e-12)


def test_one_sample_loss_and_scaled_delta():
    """n_samples = 1: nothing divided by more than one sample."""
    sigmoid, identity = get_activation("sigmoid"), get_activation("identity")
    p, y = np.array([[0.8]]), np.array([[1.0]])
    np.testing.assert_allclose(loss_value(np, "log_loss", sigmoid, p, y), -np.log(0.8))
    delta = output_delta(np, "squared_error", identity, np.array([[2.0]]), y, None, 3.0)
    np.testing.assert_allclose(delta, [[3.0]])


def test_softmax_is_stable_row_by_row():
    """Each row's own maximum is subtracted (rows far apart stay finite)."""
    a = get_activation("softmax").forward(np, np.array([[1000.0, 0.0], [-1000.0, 0.0]]))
    np.testing.assert_allclose(a, [[1.0, 0.0], [0.0, 1.0]], atol=1e-300)


def test_registration_names_the_argument_it_refuses_and_reads_the_backward_form(
    monkeypatch,
):
    """A non-callable part is refused by its argument name; a backward of *args or
    without a signature to read takes (xp, a, grad_a); a wrong arity is refused."""
    monkeypatch.setattr(activations, "ACTIVATIONS", dict(ACTIVATIONS))
    monkeypatch.setattr(losses, "LOSSES", dict(losses.LOSSES))
    register = activations.register_activation
    with pytest.raises(
        TypeError, match=r"^forward must be a function of \(xp, \.\.\.\)"
    ):
        register("mine", "tanh", np.multiply)
    with pytest.raises(
        TypeError, match=r"^backward must be a function of \(xp, \.\.\.\)"
    ):
        register("mine", np.tanh, None)
    with pytest.raises(TypeError, match=r"^value must be a function"):
        losses.register_loss("mine", 1, np.subtract)
    with pytest.raises(TypeError, match=r"^gradient must be a function"):
        losses.register_loss("mine", np.subtract, 1)
    with pytest.raises(TypeError, match=r"^name must be a non-empty string; got ' '"):
        losses.register_loss(" ", np.subtract, np.subtract)
    assert losses.register_loss("mine", np.subtract, np.subtract).name == "mine"
    assert not register("star", np.tanh, lambda *args: args[-1]).needs_input
    assert not register("builtin", np.tanh, max).needs_input  # no signature
    with pytest.raises(TypeError) as refused:
        register("two", np.tanh, lambda a, b: b)
    assert str(refused.value) == (
        "backward must take (xp, a, grad_a) or (xp, z, a, grad_a); "
        "got a function of 2 required positional parameters"
    )
