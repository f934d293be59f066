"""The host side of a compiled epoch (:mod:`xpnet.training.compiled.plan`), on
NumPy: the epoch's plan holds the eager epoch's batches and factors, and the
optimizer handed to its pure pair and back reads as after the same eager steps."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from xpnet import get_backend
from xpnet.maths.flat import Layout
from xpnet.maths.optim import SGD, Adam, Optimizer
from xpnet.training.batches import epoch_batches
from xpnet.training.compiled.plan import (
    L2_FACTOR,
    L2_LOSS,
    LOSS_WEIGHT,
    MAX_NORM,
    Handover,
    bucket,
    epoch_plan,
    step_hyper,
    steps_cap,
)

SHAPES = [(4, 3), (3,), (3, 2), (2,)]


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in SHAPES]


def _run(shuffle, early_stopping, weighted, optimizer=None, max_grad_norm=None):
    """A run of 23 rows (X's one column: the row's number), 17 of them training
    rows with early stopping, in batches of 5; a generator seeded 3."""
    n_rows = 23
    rows = np.array([0, 2, 3, 5, 6, 8, 9, 10, 12, 13, 15, 16, 18, 19, 20, 21, 22])
    training = rows if early_stopping else np.arange(n_rows)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, n_rows)
    settings = SimpleNamespace(
        shuffle=shuffle, batch_size=5, alpha=0.3, max_grad_norm=max_grad_norm
    )
    rng = np.random.default_rng(3)
    X = np.arange(n_rows, dtype=np.float64)[:, None]
    return SimpleNamespace(
        settings=settings,
        rng=rng,
        state=SimpleNamespace(rng=rng, position=SimpleNamespace(step=0)),
        n_samples=len(training),
        blocks=None,
        backend=get_backend("numpy"),
        X=X,
        Y=X,
        sample_weight=weights if weighted else None,
        host_sample_weight=weights[training] if weighted else None,
        loss_scale=0.5,
        rows=rows if early_stopping else None,
        reducer=None,
        optimizer=optimizer or SGD(np, _params(), 0.1),
    )


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("early_stopping", [False, True], ids=["all", "early"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["straight", "shuffled"])
def test_the_epoch_plan_holds_the_eager_epochs_batches(
    shuffle, early_stopping, weighted
):
    """The rows of each batch, its factors, and the generator's draws are the eager
    epoch's; the order is padded with row 0 and the table with zero rows."""
    eager = _run(shuffle, early_stopping, weighted)
    batches = list(epoch_batches(eager, eager.n_samples))
    run = _run(shuffle, early_stopping, weighted)
    cap = steps_cap(run.X.shape[0], run.settings.batch_size)
    training_rows = None if run.rows is None else run.rows.copy()
    epoch = epoch_plan(run, cap, training_rows)

    rows = np.concatenate([b.X[:, 0] for b in batches]).astype(int)
    assert epoch.order.dtype == np.int32 and epoch.order.shape == (cap * 5,)
    np.testing.assert_array_equal(epoch.order[: len(rows)], rows)
    assert not epoch.order[len(rows) :].any()
    assert epoch.n_steps == len(batches) == -(-run.n_samples // 5)
    assert (epoch.n_full, epoch.remainder) == divmod(run.n_samples, 5)
    factors = [(b.weight, b.l2_factor, 0.15 * b.l2_loss) for b in batches]
    np.testing.assert_allclose(
        epoch.table[: epoch.n_steps, [LOSS_WEIGHT, L2_FACTOR, L2_LOSS]],
        factors,
        rtol=1e-15,
    )
    assert not epoch.table[epoch.n_steps :].any()
    assert not epoch.table[:, MAX_NORM].any()  # no clipping
    # the next draw is the same: the plan drew what the eager epoch drew
    assert run.rng.integers(1 << 30) == eager.rng.integers(1 << 30)


def test_the_epoch_plan_holds_the_clipping_bound_on_every_row():
    run = _run(True, False, False, max_grad_norm=0.25)
    epoch = epoch_plan(run, 7, None)
    np.testing.assert_array_equal(epoch.table[:, MAX_NORM], [0.25] * 7)


def test_bucket_keeps_small_sizes_and_rounds_from_33_rows():
    """Up to 32 rows the bucket is the size itself (at least 1); above, a multiple
    of a power of two."""
    assert [bucket(n) for n in (0, 1, 2, 31, 32, 33, 34, 35)] == [
        1,
        1,
        2,
        31,
        32,
        34,
        34,
        36,
    ]


@pytest.mark.parametrize("batch_size", [1, 5, 50, 64])
def test_steps_cap_fits_every_size_of_its_bucket_and_no_more(batch_size):
    for n_rows in [1, 23, 33, 230, 1000, 1010]:
        cap = steps_cap(n_rows, batch_size)
        assert (cap - 1) * batch_size < bucket(n_rows) <= cap * batch_size
        assert steps_cap(bucket(n_rows), batch_size) == cap


def _optimizer(kind, seed=0):
    params = _params(seed)
    if kind == "adam":
        return params, Adam(np, params, 0.01, beta_1=0.8, beta_2=0.95)
    nesterov = kind == "sgd-nesterov"
    return params, SGD(np, params, 0.05, momentum=0.7, nesterov=nesterov)


@pytest.mark.parametrize("kind", ["adam", "sgd-nesterov", "sgd-momentum"])
def test_an_epoch_through_the_pure_pair_hands_back_the_eager_optimizer(kind):
    """An epoch of five steps through the handed-over pair (rates from the plan's
    table): the parameters, buffers, step count and current rate are the eager
    optimizer's after the same five steps."""
    eager_params, eager = _optimizer(kind)
    params, optimizer = _optimizer(kind)
    layout = Layout.of(params)
    handover = Handover.of(np, optimizer)
    state = handover.state(np, optimizer, layout)
    fresh = handover.pair.init(params)  # a fresh optimizer's state: the pair's own
    for ours, init in zip(state, fresh, strict=True):
        for a, b in zip(ours, init, strict=True):
            np.testing.assert_array_equal(a, b)
    run = _run(True, False, False, optimizer=optimizer)
    epoch = epoch_plan(run, 5, None)
    grads = [[g * (k + 1) for g in _params(seed=9 + k)] for k in range(5)]
    for k, g in enumerate(grads):
        hyper = step_hyper(handover, epoch.table[k], handover.constants)
        params, state = handover.pair.update(g, state, params, hyper.optimizer)
        eager.step(eager_params, [a.copy() for a in g])
    handover.give_back(np, optimizer, layout, state, epoch)
    for a, b in zip(params, eager_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    for name in eager.buffers:
        np.testing.assert_allclose(
            optimizer.buffers[name], eager.buffers[name], rtol=1e-13
        )
    assert optimizer.learning_rate == pytest.approx(eager.learning_rate, rel=1e-14)
    if kind == "adam":
        assert optimizer.t == eager.t == 5


def test_handing_back_a_state_of_another_length_is_refused():
    _, optimizer = _optimizer("adam")
    epoch = epoch_plan(_run(True, False, False, optimizer=optimizer), 5, None)
    handover = Handover.of(np, optimizer)
    with pytest.raises(ValueError):
        handover.give_back_flat(optimizer, [optimizer.buffers["ms"]], epoch)


def test_an_optimizer_without_a_pure_pair_is_refused():
    class Lion(Optimizer):
        pass

    with pytest.raises(TypeError, match="^no pure pair for optimizer Lion$"):
        Handover.of(np, Lion(np, _params(), 0.1))
