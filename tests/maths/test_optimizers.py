"""The pure optimizer pairs (maths/optimizers.py) against the in-place classes
(maths/optim.py): the same gradients give the same parameters, bit for bit on NumPy;
and against optax where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet import get_backend
from xpnet.maths import optimizers
from xpnet.maths.optim import SGD, Adam

SHAPES = [(4, 3), (3,), (3, 2), (2,)]


def _start_and_grads(dtype, n_steps=9, seed=0):
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    grads = [[rng.normal(size=s).astype(dtype) for s in SHAPES] for _ in range(n_steps)]
    return start, grads


def _hyper_args(dtype):
    return dict(dtype=np.dtype(dtype), device="cpu")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_sgd_pair_equals_the_class_bit_for_bit(dtype, nesterov, momentum):
    xp = get_backend("numpy").xp
    start, grads = _start_and_grads(dtype)
    ours = SGD(
        xp, [p.copy() for p in start], 0.05, momentum=momentum, nesterov=nesterov
    )
    class_params = [p.copy() for p in start]
    pair = optimizers.sgd(xp, nesterov=nesterov)
    params, state = tuple(start), pair.init(tuple(start))
    for step, g in enumerate(grads, 1):
        if step == 5:  # a schedule changed the rate between epochs
            ours.learning_rate = 0.0123
        ours.step(class_params, [a.copy() for a in g])
        hyper = optimizers.sgd_hyper(
            xp, ours.learning_rate, momentum, **_hyper_args(dtype)
        )
        params, state = pair.update(tuple(g), state, params, hyper)
    for mine, ref in zip(params, class_params, strict=True):
        assert mine.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(mine, ref)
    for mine, ref in zip(state.velocities, ours.state["velocities"], strict=True):
        np.testing.assert_array_equal(mine, ref)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_pair_equals_the_class_bit_for_bit(dtype):
    xp = get_backend("numpy").xp
    start, grads = _start_and_grads(dtype)
    kwargs = dict(learning_rate_init=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-7)
    ours = Adam(xp, [p.copy() for p in start], **kwargs)
    class_params = [p.copy() for p in start]
    pair = optimizers.adam(xp)
    params, state = tuple(start), pair.init(tuple(start))
    for t, g in enumerate(grads, 1):
        ours.step(class_params, [a.copy() for a in g])
        rate = optimizers.adam_rate(0.01, 0.8, 0.99, t)
        assert rate == ours.learning_rate
        hyper = optimizers.adam_hyper(xp, rate, 0.8, 0.99, 1e-7, **_hyper_args(dtype))
        params, state = pair.update(tuple(g), state, params, hyper)
    for mine, ref in zip(params, class_params, strict=True):
        np.testing.assert_array_equal(mine, ref)
    theirs = ours.state["ms"] + ours.state["vs"]
    for mine, ref in zip(state.ms + state.vs, theirs, strict=True):
        np.testing.assert_array_equal(mine, ref)


def test_the_pairs_change_nothing_in_place():
    xp = get_backend("numpy").xp
    start, grads = _start_and_grads("float64", n_steps=1)
    pair = optimizers.adam(xp)
    params, state = tuple(p.copy() for p in start), pair.init(tuple(start))
    g = tuple(a.copy() for a in grads[0])
    hyper = optimizers.adam_hyper(xp, 0.1, 0.9, 0.999, 1e-8, **_hyper_args("float64"))
    new, new_state = pair.update(g, state, params, hyper)
    for before, after, grad, grad0 in zip(start, params, g, grads[0], strict=True):
        np.testing.assert_array_equal(before, after)
        np.testing.assert_array_equal(grad, grad0)
    assert not np.any(state.ms[0]) and np.any(new_state.ms[0])
    assert not np.array_equal(new[0], params[0])


def test_adam_pair_matches_optax():
    optax = pytest.importorskip("optax", reason="optax is not installed")
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    start, grads = _start_and_grads("float64", n_steps=6)
    pair = optimizers.adam(jnp)
    params = tuple(jnp.asarray(p) for p in start)
    state = pair.init(params)
    reference = optax.adam(0.01, b1=0.9, b2=0.999, eps=1e-8)
    ref_params = params
    ref_state = reference.init(ref_params)
    for t, g in enumerate(grads, 1):
        g = tuple(jnp.asarray(a) for a in g)
        hyper = optimizers.adam_hyper(
            jnp,
            optimizers.adam_rate(0.01, 0.9, 0.999, t),
            0.9,
            0.999,
            1e-8,
            dtype=jnp.float64,
            device=None,
        )
        params, state = jax.jit(pair.update)(g, state, params, hyper)
        updates, ref_state = reference.update(g, ref_state, ref_params)
        ref_params = optax.apply_updates(ref_params, updates)
    # optax puts eps outside the bias correction of v: equal up to eps's share
    for mine, ref in zip(params, ref_params, strict=True):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(ref), rtol=1e-5)


def test_the_pairs_name_themselves_start_at_zero_and_refuse_a_missing_gradient():
    """init: zeros shaped and typed like each parameter; update: one gradient per
    parameter or a ValueError; the hyperparameters on the parameters' device."""
    params = tuple(np.ones(s, np.float32) for s in SHAPES)
    pairs = {"sgd": optimizers.sgd(np, nesterov=True), "adam": optimizers.adam(np)}
    for name, pair in pairs.items():
        assert pair.name == name
        state = pair.init(params)
        for moments in state:
            assert [(m.shape, m.dtype) for m in moments] == [
                (p.shape, p.dtype) for p in params
            ]
            assert not any(m.any() for m in moments)
        hyper = (
            optimizers.sgd_hyper(np, 0.1, 0.9, dtype=np.float32, device="cpu")
            if name == "sgd"
            else optimizers.adam_hyper(
                np, 0.1, 0.9, 0.999, 1e-8, dtype=np.float32, device="cpu"
            )
        )
        with pytest.raises(ValueError):
            pair.update(params[:-1], state, params, hyper)
    strict = pytest.importorskip("array_api_strict")
    device = strict.Device("device1")
    for hyper in (
        optimizers.sgd_hyper(strict, 0.1, 0.9, dtype=strict.float32, device=device),
        optimizers.adam_hyper(
            strict, 0.1, 0.9, 0.999, 1e-8, dtype=strict.float32, device=device
        ),
    ):
        assert all(value.device == device for value in hyper)
