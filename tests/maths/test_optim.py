"""Optimizers against scikit-learn's: the same gradients give the same parameters."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close

from xpnet.maths.optim import SGD, Adam

sk_optim = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")

SHAPES = [(4, 3), (3,), (3, 2), (2,)]


def _gradient_sequence(n_steps, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=s) for s in SHAPES] for _ in range(n_steps)]


def _run_both(ours_factory, theirs, backend, grads_seq, epoch_every=None):
    """Apply the same gradients to scikit-learn's optimizer and to ours."""
    rng = np.random.default_rng(1)
    start = [rng.normal(size=s) for s in SHAPES]
    theirs_params = [p.copy() for p in start]
    ours_params = [backend.asarray(p, "float64") for p in start]
    ours = ours_factory(backend.xp, ours_params)
    for step, grads in enumerate(grads_seq, 1):
        theirs.update_params(theirs_params, [g.copy() for g in grads])
        ours.step(ours_params, [backend.asarray(g, "float64") for g in grads])
        if epoch_every and step % epoch_every == 0:
            theirs.iteration_ends(step * 10)
            ours.iteration_ends(step * 10)
    return ours, ours_params, theirs, theirs_params


@pytest.mark.parametrize("momentum", [0.8, 0.0])
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("schedule", ["constant", "invscaling"])
def test_sgd_matches_scikit_learn(backend, nesterov, schedule, momentum):
    grads = _gradient_sequence(12)
    kwargs = dict(
        learning_rate_init=0.05,
        lr_schedule=schedule,
        momentum=momentum,
        nesterov=nesterov,
        power_t=0.4,
    )
    theirs = sk_optim.SGDOptimizer([np.zeros(s) for s in SHAPES], **kwargs)
    ours, ours_params, theirs, theirs_params = _run_both(
        lambda xp, p: SGD(xp, p, **kwargs), theirs, backend, grads, epoch_every=3
    )
    assert ours.learning_rate == theirs.learning_rate
    for mine, ref in zip(ours_params, theirs_params, strict=True):
        assert_close(backend, mine, ref, "float64")
    if backend.name == "numpy":  # same operations in the same order: bit for bit
        for mine, ref in zip(ours_params, theirs_params, strict=True):
            np.testing.assert_array_equal(mine, ref)


@pytest.mark.parametrize("momentum", [0.0, 0.8])
def test_update_factor_and_apply_equal_step(backend, momentum):
    """Plain SGD offers -lr to fold into backprop; ``apply`` of the folded updates
    then matches ``step`` (to rounding) and leaves the same velocities."""
    xp = backend.xp
    grads = _gradient_sequence(1)[0]
    start = [np.ones(s) for s in SHAPES]
    stepped, applied = (
        [backend.asarray(p, "float64") for p in start] for _ in range(2)
    )
    by_step = SGD(xp, stepped, learning_rate_init=0.05, momentum=momentum)
    by_apply = SGD(xp, applied, learning_rate_init=0.05, momentum=momentum)
    if momentum:  # nothing to fold: the loop takes ``step``, the momentum rule
        _assert_nesterov_steps(backend, by_step, stepped, start)
        return
    factor = by_apply.update_factor()
    assert factor == -0.05
    updates = [backend.asarray(factor * g, "float64") for g in grads]
    by_step.step(stepped, [backend.asarray(g.copy(), "float64") for g in grads])
    by_apply.apply(applied, updates)
    for a, b, va, vb in zip(
        stepped,
        applied,
        by_step.state["velocities"],
        by_apply.state["velocities"],
        strict=True,
    ):
        assert_close(backend, a, backend.to_numpy(b), "float64")
        assert_close(backend, va, backend.to_numpy(vb), "float64")


def _assert_nesterov_steps(backend, optimizer, params, start):
    """Three ``step`` calls follow the Nesterov rule (``v = m v - lr g``, update
    ``m v - lr g``), worked out here in NumPy after each step; no ``update_factor``
    is offered before, between or after them."""
    lr, momentum = optimizer.learning_rate, optimizer.momentum
    velocities = [np.zeros_like(p) for p in start]
    expected = [p.copy() for p in start]
    for grads in _gradient_sequence(3, seed=4):
        assert optimizer.update_factor() is None
        optimizer.step(params, [backend.asarray(g.copy(), "float64") for g in grads])
        for i, g in enumerate(grads):
            velocities[i] = momentum * velocities[i] - lr * g
            expected[i] = expected[i] + momentum * velocities[i] - lr * g
        for got, want, v_got, v_want in zip(
            params, expected, optimizer.state["velocities"], velocities, strict=True
        ):
            assert_close(backend, got, want, "float64")
            assert_close(backend, v_got, v_want, "float64")
        optimizer.iteration_ends(10)
    assert optimizer.update_factor() is None


def test_adam_folds_nothing():
    import array_api_compat.numpy as xp

    assert Adam(xp, [np.zeros(2)]).update_factor() is None


def test_adam_matches_scikit_learn(backend):
    grads = _gradient_sequence(15)
    kwargs = dict(learning_rate_init=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-7)
    theirs = sk_optim.AdamOptimizer([np.zeros(s) for s in SHAPES], **kwargs)
    ours, ours_params, theirs, theirs_params = _run_both(
        lambda xp, p: Adam(xp, p, **kwargs), theirs, backend, grads
    )
    assert ours.t == theirs.t == 15
    assert ours.learning_rate == pytest.approx(theirs.learning_rate, rel=1e-15)
    for mine, ref in zip(ours_params, theirs_params, strict=True):
        assert_close(backend, mine, ref, "float64")
    if backend.name == "numpy":
        for mine, ref in zip(ours_params, theirs_params, strict=True):
            np.testing.assert_array_equal(mine, ref)


def test_adaptive_schedule_divides_by_five_then_stops():
    theirs = sk_optim.SGDOptimizer([np.zeros(2)], 0.01, "adaptive")
    import array_api_compat.numpy as xp

    ours = SGD(xp, [xp.zeros(2)], 0.01, "adaptive")
    decisions = []
    for _ in range(10):
        stop, _message = ours.trigger_stopping()
        decisions.append(stop)
        assert stop == theirs.trigger_stopping("", False)
        assert ours.learning_rate == theirs.learning_rate
    # 0.01 / 5**k <= 1e-6 first at k = 6: six divisions, then a stop.
    assert decisions[:7] == [False] * 6 + [True]


def test_constant_and_adam_stop_at_once():
    import array_api_compat.numpy as xp

    assert SGD(xp, [xp.zeros(1)], 0.1, "constant").trigger_stopping()[0]
    assert SGD(xp, [xp.zeros(1)], 0.1, "invscaling").trigger_stopping()[0]
    assert Adam(xp, [xp.zeros(1)]).trigger_stopping()[0]


def test_state_round_trips(backend):
    """scalars() and load() restore an optimizer that then continues identically."""
    grads = _gradient_sequence(6)
    xp = backend.xp
    start = [backend.asarray(np.ones(s), "float64") for s in SHAPES]
    a_params = [xp.asarray(p, copy=True) for p in start]
    a = Adam(xp, a_params, 0.01)
    for g in grads[:3]:
        a.step(a_params, [backend.asarray(x, "float64") for x in g])
    b_params = [xp.asarray(p, copy=True) for p in a_params]
    b = Adam(xp, b_params, 0.01)
    b.load(
        a.scalars(),
        {k: [xp.asarray(x, copy=True) for x in v] for k, v in a.state.items()},
    )
    for g in grads[3:]:  # step may overwrite the gradients: each gets its own
        a.step(a_params, [backend.asarray(x.copy(), "float64") for x in g])
        b.step(b_params, [backend.asarray(x.copy(), "float64") for x in g])
    for pa, pb in zip(a_params, b_params, strict=True):
        assert_close(backend, pb, backend.to_numpy(pa), "float64", atol=0)


def test_a_new_learning_rate_init_keeps_the_schedule_s_place():
    """set_learning_rate_init: invscaling restarts from the new rate at the same
    step; adaptive keeps its reductions (rate / old init * new init); constant, or
    invscaling before the first step, takes the new rate; a schedule factor scales
    it."""
    xp = np
    sgd = SGD(xp, [xp.zeros(1)], 0.1, "invscaling", power_t=0.5)
    sgd.set_learning_rate_init(0.4, time_step=3)
    assert sgd.learning_rate == pytest.approx(0.4 / 4**0.5)
    sgd.set_learning_rate_init(0.3, time_step=0)
    assert sgd.learning_rate == pytest.approx(0.3)
    adaptive = SGD(xp, [xp.zeros(1)], 0.1, "adaptive")
    assert adaptive.trigger_stopping() == (False, "Setting learning rate to 0.020000")
    adaptive.set_learning_rate_init(0.5, time_step=7)
    assert adaptive.learning_rate == pytest.approx(0.1)
    adaptive.learning_rate = 1e-6
    assert adaptive.trigger_stopping() == (True, "Learning rate too small. Stopping.")
    constant = SGD(xp, [xp.zeros(1)], 0.1, "constant")
    assert constant.trigger_stopping() == (True, "Stopping.")
    constant.set_learning_rate_init(0.2, time_step=5)
    assert constant.learning_rate == pytest.approx(0.2)
    constant.set_rate_factor(0.25)
    constant.set_learning_rate_init(0.4, time_step=6)
    assert constant.learning_rate == pytest.approx(0.1)
    adam = Adam(xp, [xp.zeros(1)])
    assert adam.trigger_stopping() == (True, "Stopping.")
    adam.set_learning_rate_init(0.01, time_step=3)
    assert adam.learning_rate == pytest.approx(0.01)


def test_new_optimizer_hands_on_every_option():
    """scikit-learn's names reach the optimizer: ``power_t`` and ``epsilon`` as given,
    a schedule string as it is, a schedule object as "constant" (it sets the rate
    each epoch itself)."""
    from xpnet.maths.optim import new_optimizer

    params = [np.zeros((2, 3))]
    options = {
        "learning_rate_init": 0.01,
        "learning_rate": "invscaling",
        "momentum": 0.5,
        "nesterovs_momentum": False,
        "power_t": 0.25,
        "beta_1": 0.8,
        "beta_2": 0.99,
        "epsilon": 1e-4,
    }
    sgd = new_optimizer("sgd", np, params, options)
    assert isinstance(sgd, SGD) and sgd.lr_schedule == "invscaling"
    assert (sgd.momentum, sgd.nesterov, sgd.power_t) == (0.5, False, 0.25)
    scheduled = new_optimizer("sgd", np, params, {**options, "learning_rate": object()})
    assert scheduled.lr_schedule == "constant"
    adam = new_optimizer("adam", np, params, options)
    assert isinstance(adam, Adam)
    assert (adam.beta_1, adam.beta_2, adam.epsilon) == (0.8, 0.99, 1e-4)


def test_a_stateless_optimizer_steps_lists_through_the_shared_layout():
    """An optimizer without state (no ``state_names``) still lays the parameters out
    flat: ``step`` on lists updates each in place, and its state is empty."""
    from xpnet.maths.optim import Optimizer

    class Plain(Optimizer):
        kind = "plain"

        def _update(self, grad):
            return -self.learning_rate * grad

    params = [np.ones((2, 3)), np.full(3, 2.0)]
    grads = [np.full((2, 3), 10.0), np.arange(3.0)]
    optimizer = Plain(np, params, 0.1)
    optimizer.step(params, grads)
    assert optimizer.state == {}
    np.testing.assert_allclose(params[0], np.zeros((2, 3)), atol=1e-15)
    np.testing.assert_allclose(params[1], [2.0, 1.9, 1.8])
