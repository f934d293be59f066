"""Clipping and batch callbacks under ``compile=True`` (issue 29): the compiled step
clips by the global norm on the device; batch callbacks run between compiled steps
(JAX: its epoch program called once per batch). Fast on JAX; torch.compile (about 5 s
per compile on a CPU) is slow."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_compiled import TOLERANCE, _assert_matches_eager, _fit

from xpnet import MLPRegressor
from xpnet.testing import require_backend
from xpnet.training.compiled import COMPILERS, jax_epoch

LIBRARIES = ["jax", pytest.param("torch", marks=pytest.mark.slow)]


def _regression(n_samples=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4)) * 3.0
    return X, 5.0 * np.sin(X @ rng.normal(size=4))


def _params(model):
    return [np.asarray(p, np.float64) for p in model.coefs_ + model.intercepts_]


def _fit_quietly(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Stochastic", UserWarning)  # max_iter
        return model.fit(*args, **kwargs)


def _applied_norms(backend, bound, lr=0.05):
    """Plain SGD (the update is -lr * gradient), one step per epoch, float64: the
    norm of each applied gradient, from the parameters after each epoch."""
    X, y = _regression()
    seen = [None]
    norms = []

    def watch(model, history):
        now = _params(model)
        if seen[0] is not None:
            moved = np.concatenate(
                [(a - b).ravel() for a, b in zip(now, seen[0], strict=True)]
            )
            norms.append(float(np.linalg.norm(moved)) / lr)
        seen[0] = now

    model = MLPRegressor(
        (6,),
        solver="sgd",
        momentum=0.0,
        learning_rate_init=lr,
        alpha=0.01,  # the L2 term is clipped with the rest
        batch_size=len(y),
        max_iter=7,  # 6 steps between the first epoch's end and the last's
        random_state=0,
        dtype="float64",
        backend=backend,
        compile=True,
        max_grad_norm=bound,
    )
    _fit_quietly(model, X, y, callbacks=[watch])
    assert model.compiled_ == COMPILERS[backend]
    return norms


@pytest.mark.parametrize("library", LIBRARIES)
def test_compiled_clipping_bounds_every_applied_gradient(library):
    require_backend(library)
    bound = 0.5
    free = _applied_norms(library, None)
    norms = _applied_norms(library, bound)
    assert max(free) > 2 * bound  # the bound bites
    assert len(norms) == len(free) == 6
    assert max(norms) <= bound * (1 + 1e-9)
    assert any(abs(n - bound) <= 1e-9 * bound for n in norms)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_compiled_fit_with_a_large_bound_is_bit_identical(library, solver):
    require_backend(library)
    X, y = _regression()
    kwargs = dict(
        solver=solver,
        batch_size=16,
        max_iter=3,
        random_state=0,
        backend=library,
        compile=True,
        alpha=0.01,
    )
    plain = _fit_quietly(MLPRegressor((6,), **kwargs), X, y)
    loose = _fit_quietly(MLPRegressor((6,), max_grad_norm=1e30, **kwargs), X, y)
    tight = _fit_quietly(MLPRegressor((6,), max_grad_norm=1e-3, **kwargs), X, y)
    assert plain.compiled_ == loose.compiled_ == COMPILERS[library]
    for a, b in zip(_params(plain), _params(loose), strict=True):
        np.testing.assert_array_equal(a, b)
    assert plain.loss_curve_ == loose.loss_curve_
    assert tight.loss_curve_ != plain.loss_curve_


@pytest.mark.parametrize("case", ["clipped", "clipped-sgd-plain"])
def test_the_clipping_cases_clip(case):
    """The compiled-fit cases of test_compiled.py with clipping: the bound bites."""
    unclipped = {"clipped": "adam", "clipped-sgd-plain": "sgd-plain"}[case]
    clipped = _fit("numpy", "float64", case)
    free = _fit("numpy", "float64", unclipped)
    assert clipped.loss_curve_ != free.loss_curve_


class Batches:
    """Records each batch: (epoch, step, rows, loss, first weight matrix)."""

    def __init__(self):
        self.seen = []

    def on_batch_end(self, model, batch):
        weights = np.asarray(model.coefs_[0], np.float64)
        self.seen.append(
            (batch.epoch, batch.step, batch.batch_size, batch.loss, weights)
        )


@pytest.mark.parametrize("library", LIBRARIES)
def test_batch_callbacks_run_between_compiled_steps(library):
    require_backend(library)
    _check_batch_callbacks(library)


@pytest.mark.xpnet_backend  # ci/gpu-check selects the backend tests
@pytest.mark.parametrize("spec", ["cupy", "torch:cuda"])
def test_batch_callbacks_run_between_compiled_steps_on_a_gpu(spec):
    require_backend(spec)  # CUDA graph replays; torch.compile "reduce-overhead"
    _check_batch_callbacks(spec)


def _check_batch_callbacks(library):
    X, y = _regression(n_samples=50)
    kwargs = dict(batch_size=16, max_iter=2, tol=0.0, random_state=0, dtype="float64")
    eager_cb, compiled_cb = Batches(), Batches()
    eager = MLPRegressor((4,), backend="numpy", **kwargs)
    _fit_quietly(eager, X, y, callbacks=[eager_cb])
    plain = _fit_quietly(
        MLPRegressor((4,), backend=library, compile=True, **kwargs), X, y
    )
    traced = jax_epoch.TRACES["jax"]
    model = MLPRegressor((4,), backend=library, compile=True, **kwargs)
    _fit_quietly(model, X, y, callbacks=[compiled_cb])  # no CompileWarning
    assert model.compiled_ == COMPILERS[library.partition(":")[0]]
    assert model.epoch_paths_ == [model.compiled_] * 2  # every epoch compiled
    assert jax_epoch.TRACES["jax"] == traced  # JAX: the epoch's program, per batch
    assert model.loss_curve_ == plain.loss_curve_  # watching changes nothing
    steps = [(e, s, n) for e in (0, 1) for s, n in ((1, 16), (2, 16), (3, 16), (4, 2))]
    assert [c[:3] for c in compiled_cb.seen] == [e[:3] for e in eager_cb.seen] == steps
    for got, expected in zip(compiled_cb.seen, eager_cb.seen, strict=True):
        assert got[3] == pytest.approx(expected[3], rel=TOLERANCE["float64"])
        # the weights a callback reads are those after its step
        np.testing.assert_allclose(got[4], expected[4], rtol=0, atol=1e-10)
    for epoch in (0, 1):
        total = sum(c[2] * c[3] for c in compiled_cb.seen if c[0] == epoch)
        assert total / len(y) == pytest.approx(model.loss_curve_[epoch], rel=1e-12)


def test_a_callback_can_turn_clipping_on_in_a_compiled_fit():
    require_backend("jax")
    X, y = _regression()

    def clip_after_the_first_epoch(model, history):
        if history.n_iter == 1:
            model.set_params(max_grad_norm=0.05)

    kwargs = dict(batch_size=16, max_iter=3, random_state=0, dtype="float64")
    fits = {}
    for backend, compile in (("numpy", False), ("jax", True)):
        model = MLPRegressor((6,), backend=backend, compile=compile, **kwargs)
        _fit_quietly(model, X, y, callbacks=[clip_after_the_first_epoch])
        fits[backend] = model
    assert fits["jax"].compiled_ == "jax.jit"
    _assert_matches_eager(fits["jax"], fits["numpy"], "float64")
    free = _fit_quietly(MLPRegressor((6,), **kwargs), X, y)
    assert free.loss_curve_[:1] == fits["numpy"].loss_curve_[:1]
    assert free.loss_curve_[2] != fits["numpy"].loss_curve_[2]
