"""Learning-rate schedules (issue 29): each one's per-epoch rate is its formula, on
every solver; a cosine schedule on Adam moves the weights as that formula says."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xpnet
from xpnet import MLPRegressor
from xpnet.training.schedules import (
    Constant,
    CosineDecay,
    ExponentialDecay,
    ReduceOnPlateau,
    StepDecay,
    schedule_from_json,
    schedule_to_json,
)
from xpnet.training.state import History

quiet = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


def _regression(n_samples=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    return X, np.sin(X @ rng.normal(size=3))


def test_each_schedule_is_its_formula():
    h = History()
    for epoch in range(12):
        assert Constant().factor(epoch, h) == 1.0
        assert StepDecay(3, 0.5).factor(epoch, h) == 0.5 ** (epoch // 3)
        assert ExponentialDecay(0.9).factor(epoch, h) == 0.9**epoch
    cosine = CosineDecay(10, warmup_epochs=2, warmup_start=0.1, end=0.01)
    expected = [0.1, 0.55] + [
        0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(e - 2, 8) / 8))
        for e in range(2, 12)
    ]
    got = [cosine.factor(e, h) for e in range(12)]
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    assert got[10] == got[11] == pytest.approx(0.01)


def test_cosine_matches_optax():
    optax = pytest.importorskip("optax")
    sched = optax.warmup_cosine_decay_schedule(
        init_value=0.1, peak_value=1.0, warmup_steps=3, decay_steps=10, end_value=0.05
    )
    ours = CosineDecay(10, warmup_epochs=3, warmup_start=0.1, end=0.05)
    for epoch in range(13):
        assert ours.factor(epoch, History()) == pytest.approx(
            float(sched(epoch)), rel=1e-6
        )


def test_reduce_on_plateau_replays_the_history():
    sched = ReduceOnPlateau(decay=0.5, patience=2, threshold=0.0)
    h = History(loss_curve=[3.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    # stalls at epochs 2, 3, 4: reduced after the 3rd; again after 6, 7, 8
    factors = [sched.factor(n, History(loss_curve=h.loss_curve[:n])) for n in range(10)]
    assert factors == [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]
    scores = History(validation_scores=[0.5, 0.4, 0.4, 0.4])  # higher is better
    assert sched.factor(4, scores) == 0.5


def test_reduce_on_plateau_counts_afresh_after_a_reduction_and_needs_the_threshold():
    sched = ReduceOnPlateau(decay=0.5, patience=2, threshold=0.0)
    flat = [3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    factors = [sched.factor(n, History(loss_curve=flat[:n])) for n in range(9)]
    assert factors == [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    sched = ReduceOnPlateau(decay=0.5, patience=2, threshold=0.5)
    slow = [3.0, 2.9, 2.8, 2.7]  # each step less than the threshold
    assert sched.factor(4, History(loss_curve=slow)) == 0.5


def test_cosine_without_warm_up_or_over_one_epoch():
    h = History()
    assert CosineDecay(10).factor(0, h) == 1.0  # no warm-up: starts at the peak
    one = CosineDecay(1, end=0.25)
    assert [one.factor(e, h) for e in range(3)] == [1.0, 0.25, 0.25]


def test_only_built_in_schedules_are_saved_and_loaded():
    class Mine:
        def factor(self, epoch, history):
            return 1.0

        def __repr__(self):
            return "Mine()"

    with pytest.raises(ValueError) as info:
        schedule_to_json(Mine())
    assert str(info.value) == (
        "learning_rate=Mine() cannot be saved: only xpnet's schedules (Constant, "
        "StepDecay, ExponentialDecay, CosineDecay, ReduceOnPlateau) are; set a "
        "built-in one before saving"
    )
    saved = schedule_to_json(StepDecay(3, gamma=0.5))
    assert saved == {"schedule": "StepDecay", "step_size": 3, "gamma": 0.5}
    assert schedule_from_json(saved) == StepDecay(3, gamma=0.5)
    for bad in (
        {"schedule": "Mine"},
        {"schedule": "StepDecay", "step_size": 3, "gamma": 0.5, "power": 2},
        {"schedule": "StepDecay", "gamma": 0.5},
    ):
        with pytest.raises(ValueError) as info:
            schedule_from_json(bad)
        assert str(info.value) == f"learning_rate: unknown schedule {bad!r}"


def _rates(solver, schedule, max_iter=5, **kwargs):
    """The rate each epoch trained at (read from the optimizer by a callback)."""
    seen = []
    model = MLPRegressor(
        (4,),
        solver=solver,
        learning_rate=schedule,
        learning_rate_init=0.01,
        max_iter=max_iter,
        tol=0.0,
        random_state=0,
        **kwargs,
    )

    def record(m, history):
        opt = m._live_run.state.optimizer
        seen.append(opt.learning_rate_init * opt.rate_factor)

    model.fit(*_regression(), callbacks=[record])
    return seen


@quiet
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_every_solver_trains_each_epoch_at_the_scheduled_rate(solver):
    sched = StepDecay(2, 0.1)
    rates = _rates(solver, sched)
    assert rates == [0.01 * sched.factor(e, History()) for e in range(5)]


@quiet
def test_cosine_on_adam_is_the_formula_applied_epoch_by_epoch(backend):
    """The scheduled fit equals one whose callback sets learning_rate_init to the
    formula's rate before each epoch, bit for bit."""
    X, y = _regression()
    base = 0.01
    sched = CosineDecay(6, warmup_epochs=2, warmup_start=0.2)
    common = {"max_iter": 6, "tol": 0.0, "random_state": 0, "backend": backend}
    scheduled = MLPRegressor(
        (4,), learning_rate=sched, learning_rate_init=base, **common
    ).fit(X, y)

    def steer(model, history):
        model.set_params(
            learning_rate_init=base * sched.factor(history.n_iter, history)
        )

    steered = MLPRegressor(
        (4,), learning_rate_init=base * sched.factor(0, History()), **common
    ).fit(X, y, callbacks=[steer])
    for a, b in zip(scheduled.coefs_, steered.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    constant = MLPRegressor((4,), learning_rate_init=base, **common).fit(X, y)
    assert constant.loss_curve_ != scheduled.loss_curve_


@quiet
def test_a_callback_changes_the_base_of_a_schedule():
    seen = []
    sched = ExponentialDecay(0.5)

    def steer(model, history):
        opt = model._live_run.state.optimizer
        seen.append(opt.learning_rate)
        if history.n_iter == 2:
            model.set_params(learning_rate_init=1.0)

    MLPRegressor(
        (4,),
        solver="sgd",
        learning_rate=sched,
        learning_rate_init=0.01,
        max_iter=4,
        tol=0.0,
        random_state=0,
    ).fit(*_regression(), callbacks=[steer])
    assert seen == [0.01, 0.005, 1.0 * 0.5**2, 1.0 * 0.5**3]


@quiet
def test_strings_keep_their_meaning_and_schedules_are_saved(tmp_path):
    X, y = _regression()
    kw = {"solver": "sgd", "max_iter": 3, "tol": 0.0, "random_state": 0}
    a = MLPRegressor((4,), learning_rate="constant", **kw).fit(X, y)
    b = MLPRegressor((4,), learning_rate=Constant(), **kw).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    xpnet.save(b.set_params(learning_rate=StepDecay(3)), tmp_path / "m.safetensors")
    assert xpnet.load(tmp_path / "m.safetensors").learning_rate == StepDecay(3)

    class Mine:
        def factor(self, epoch, history):
            return 1.0

    with pytest.raises(ValueError, match="cannot be saved"):
        xpnet.save(b.set_params(learning_rate=Mine()), tmp_path / "n.safetensors")
    with pytest.raises(ValueError, match="learning_rate"):
        MLPRegressor((3,), learning_rate="cosine").fit(X, y)


def test_a_learning_rate_without_a_callable_factor_is_refused():
    X, y = _regression()

    class NotOne:
        factor = 0.5

        def __repr__(self):
            return "NotOne()"

    for bad in (42, NotOne()):
        with pytest.raises(TypeError) as info:
            MLPRegressor((3,), learning_rate=bad).fit(X, y)
        assert str(info.value) == (
            "learning_rate must be one of ['constant', 'invscaling', 'adaptive'] or a "
            "schedule with a method factor(epoch, history) (xpnet.schedules); got "
            f"{bad!r}"
        )


@quiet
@pytest.mark.parametrize("name", ["jax", "torch"])
def test_a_compiled_fit_follows_the_schedule(name):
    """compile=True takes the scheduled rates (a per-step table on the device)."""
    pytest.importorskip(name)
    X, y = _regression()
    sched = CosineDecay(4, warmup_epochs=1, warmup_start=0.3)
    common = {
        "learning_rate": sched,
        "learning_rate_init": 0.01,
        "max_iter": 4,
        "tol": 0.0,
        "random_state": 0,
        "dtype": "float64",
    }
    eager = MLPRegressor((4,), backend=name, **common).fit(X, y)
    compiled = MLPRegressor((4,), backend=name, compile=True, **common).fit(X, y)
    assert compiled.compiled_ != "eager"
    np.testing.assert_allclose(compiled.loss_curve_, eager.loss_curve_, rtol=1e-10)
