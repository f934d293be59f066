"""One training step with a data-parallel reducer (:mod:`xpnet.training.step`), on
in-process stand-ins for the ranks: each step hands the reducer its share of the
batch's loss and gradients, and a rank with no rows adds nothing."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet import MLPRegressor
from xpnet.estimators import fit as fit_module
from xpnet.maths.optim import Adam
from xpnet.training.loop import train


class _TwinRanks:
    """Two ranks holding the same rows, each with half the weight: the sums are
    twice this rank's contribution (exact in binary)."""

    def shard(self, start, stop):
        return start, stop, 0.5

    def __call__(self, arrays, loss=None):
        arrays[:] = [a * 2 for a in arrays]
        return loss * 2


class _RankWithoutRows:
    """A rank whose share of every batch is empty, alone: it sums to nothing."""

    def shard(self, start, stop):
        return start, start, 0.0

    def __call__(self, arrays, loss=None):
        return loss


def _fit(monkeypatch, reducer, **settings):
    X = np.random.default_rng(0).normal(size=(32, 3))
    y = X @ np.array([1.0, -2.0, 0.5])

    def train_with_reducer(run):
        run.reducer = reducer
        train(run)

    if reducer is not None:
        monkeypatch.setattr(fit_module, "train", train_with_reducer)
    model = MLPRegressor(
        (4,), batch_size=8, max_iter=3, random_state=0, dtype="float64", **settings
    )
    with pytest.warns(Warning):  # ConvergenceWarning at max_iter
        return model.fit(X, y)


def test_a_rank_sums_its_share_of_the_loss_and_gradients(monkeypatch):
    plain = _fit(monkeypatch, None)
    twins = _fit(monkeypatch, _TwinRanks())
    assert twins.loss_curve_ == plain.loss_curve_
    for a, b in zip(twins.coefs_, plain.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_rank_without_rows_adds_nothing(monkeypatch):
    model = _fit(monkeypatch, _RankWithoutRows(), alpha=0.0)
    assert model.loss_curve_ == [0.0, 0.0, 0.0]


def test_an_update_returning_a_new_vector_rebinds_the_params(monkeypatch):
    """As JAX's immutable arrays do: the run's parameters follow the new vector."""
    plain = _fit(monkeypatch, None)
    step_flat = Adam.step_flat
    monkeypatch.setattr(
        Adam,
        "step_flat",
        lambda self, params, grads: step_flat(self, params, grads).copy(),
    )
    moved = _fit(monkeypatch, None)
    assert moved.loss_curve_ == plain.loss_curve_
    for a, b in zip(moved.coefs_, plain.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
