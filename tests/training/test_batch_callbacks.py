"""Batch callbacks (issue 29): ``on_batch_end(model, batch)`` after every step; no
cost and no change when absent."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet import MLPRegressor

quiet = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


def _regression(n_samples=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    return X, np.sin(X @ rng.normal(size=3))


class Batches:
    def __init__(self):
        self.seen, self.epochs = [], 0

    def on_batch_end(self, model, batch):
        self.seen.append((batch.epoch, batch.step, batch.batch_size, batch.loss))

    def on_epoch_end(self, model, history):
        self.epochs += 1


@quiet
def test_batch_losses_add_up_to_the_epoch_loss(backend):
    X, y = _regression()
    cb = Batches()
    settings = dict(batch_size=16, max_iter=2, tol=0.0, random_state=0)
    model = MLPRegressor((4,), backend=backend, dtype="float64", **settings)
    model.fit(X, y, callbacks=[cb])
    plain = MLPRegressor((4,), backend=backend, dtype="float64", **settings)
    plain.fit(X, y)
    assert model.loss_curve_ == plain.loss_curve_  # watching changes nothing
    assert cb.epochs == 2
    assert [(e, s, n) for e, s, n, _ in cb.seen] == [
        (e, s, n) for e in (0, 1) for s, n in ((1, 16), (2, 16), (3, 16), (4, 2))
    ]
    for epoch in (0, 1):
        total = sum(n * loss for e, _, n, loss in cb.seen if e == epoch)
        assert total / len(y) == pytest.approx(model.loss_curve_[epoch], rel=1e-12)


@quiet
def test_batch_callback_changes_apply_from_the_next_epoch():
    X, y = _regression()
    rates = []

    class Freeze:
        def on_batch_end(self, model, batch):
            if batch.epoch == 0 and batch.step == 1:
                model.set_params(learning_rate_init=0.0)

        def on_epoch_end(self, model, history):
            rates.append(model._live_run.state.optimizer.learning_rate_init)

    MLPRegressor((4,), batch_size=10, max_iter=2, random_state=0).fit(
        X, y, callbacks=[Freeze()]
    )
    assert rates == [0.001, 0.0]


@quiet
def test_without_batch_callbacks_no_batch_is_reported(monkeypatch):
    """Absent, a batch callback costs one None check per step: no BatchEnd is made
    (so nothing is read from the device)."""
    import xpnet.training.loop as loop

    made = []
    original = loop.BatchEnd.__init__

    def counting(self, *args):
        made.append(1)
        original(self, *args)

    monkeypatch.setattr(loop.BatchEnd, "__init__", counting)
    X, y = _regression()
    fit = MLPRegressor((4,), batch_size=10, max_iter=2, random_state=0).fit
    fit(X, y, callbacks=[lambda m, h: None])
    assert made == []
    fit(X, y, callbacks=[Batches()])
    assert len(made) == 10  # 5 batches, 2 epochs
