"""An epoch's minibatches (:mod:`xpnet.training.batches`): the order the run's
generator draws, resuming mid-epoch across blocks, and the batch plan's checks."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from xpnet import get_backend
from xpnet.data.intake import Block
from xpnet.training.batches import epoch_batches, plan

SIZES, BATCH = [5, 3, 4], 2  # 3, 2 and 2 batches


class _Blocks:
    """Blocks of rows numbered through the data set (X's one column: the row's
    number); records the orders it is asked to load."""

    def __init__(self, sizes):
        self.sizes = sizes
        self.starts = np.cumsum([0, *sizes])
        self.loads = []

    def load(self, order):
        self.loads.append(list(order))
        for b in order:
            rows = np.arange(self.starts[b], self.starts[b + 1], dtype=np.float64)
            yield Block(rows[:, None], rows[:, None])


def _epoch(shuffle, step=0, seed=0):
    """The rows of each batch ``epoch_batches`` yields, and the blocks it loaded."""
    settings = SimpleNamespace(shuffle=shuffle, batch_size=BATCH, alpha=0.0)
    state = SimpleNamespace(
        rng=np.random.default_rng(seed), position=SimpleNamespace(step=step)
    )
    run = SimpleNamespace(
        settings=settings,
        state=state,
        blocks=_Blocks(SIZES),
        backend=get_backend("numpy"),
        loss_scale=1.0,
        rows=None,
        reducer=None,
    )
    batches = [batch.X[:, 0].tolist() for batch in epoch_batches(run, sum(SIZES))]
    return batches, run.blocks.loads


def _expected(shuffle, seed=0):
    """The blocks' order, then each block's permutation, drawn in turn."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(SIZES)) if shuffle else range(len(SIZES))
    starts = np.cumsum([0, *SIZES])
    batches = []
    for b in order:
        rows = np.arange(starts[b], starts[b + 1], dtype=np.float64)
        if shuffle:
            rows = rows[rng.permutation(SIZES[b])]
        batches += [rows[i : i + BATCH].tolist() for i in range(0, len(rows), BATCH)]
    return [int(b) for b in order], batches


@pytest.mark.parametrize("shuffle", [False, True])
def test_an_epoch_draws_the_blocks_order_then_each_permutation(shuffle):
    order, expected = _expected(shuffle)
    if shuffle:
        assert order != sorted(order), "the test needs a shuffled order"
    assert _epoch(shuffle) == (expected, [order])


@pytest.mark.parametrize("shuffle", [False, True])
def test_resuming_at_each_step_yields_the_rest_and_loads_only_its_blocks(shuffle):
    order, expected = _expected(shuffle)
    first_steps = np.cumsum([0] + [-(-SIZES[b] // BATCH) for b in order])
    for step in range(len(expected)):
        batches, loads = _epoch(shuffle, step=step)
        assert batches == expected[step:], step
        left = [b for b, end in zip(order, first_steps[1:], strict=True) if end > step]
        assert loads == [left], step


def test_a_batch_whose_weights_sum_to_zero_is_refused():
    weights = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    message = (
        "the sample weights of a batch (rows 2 to 3 of the epoch) sum to 0; use a "
        "larger batch_size or drop the zero-weight rows"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        plan(5, 2, 1.0, 0.1, weights)
    assert plan(5, 2, 1.0, 0.1, weights[[0, 2, 1, 3, 4]]) == [
        (0, 2, 2.0, 0.1, 2.0),
        (2, 4, 2.0, 0.1, 2.0),
        (4, 5, 1.0, 0.1, 1.0),
    ]
