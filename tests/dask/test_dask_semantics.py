"""Dask blocks mean what in-memory rows mean: shuffles permute rows within blocks
(weights with them), early stopping holds out blocks drawn by ``random_state`` and
scores them as ``score()`` does, and ``score`` counts a multilabel row right only
when every label is.

Orders are read from a :class:`helpers.RecordingGenerator` handed as
``random_state``: each epoch draws the blocks' order, then each block's permutation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import RecordingGenerator

import xpnet

da = pytest.importorskip("dask.array", reason="dask is the optional xpnet[dask]")

pytestmark = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")

SIZES = (12, 8, 10, 10, 9, 11)  # rows of each block
N_SAMPLES = sum(SIZES)


def _data(n_samples=N_SAMPLES, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4))
    y = np.tanh(X @ rng.normal(size=4)) + 0.1 * rng.normal(size=n_samples)
    return X, y, rng.uniform(0.2, 3.0, size=n_samples)


def _blocks(array, sizes=SIZES):
    return da.from_array(array, chunks=(tuple(sizes), *array.shape[1:]))


def _starts(sizes=SIZES):
    return np.cumsum([0, *sizes[:-1]])


def _params(model):
    return [*model.coefs_, *model.intercepts_]


def _regressor(**settings):
    common = dict(
        hidden_layer_sizes=(5,), dtype="float64", batch_size=4, random_state=0
    )
    return xpnet.MLPRegressor(**{**common, **settings})


def test_weighted_shuffled_epoch_over_blocks_equals_its_rows_in_order(backend):
    """One epoch visits the blocks in a drawn order and each block's rows in a drawn
    permutation, weights with their rows: the same as the unshuffled epoch over
    blocks holding those rows in that order (exact on NumPy)."""
    X, y, weights = _data()
    rng = RecordingGenerator(4)
    shuffled = _regressor(backend=backend, max_iter=1, random_state=rng)
    shuffled.fit(_blocks(X), _blocks(y), sample_weight=_blocks(weights))
    block_order, *row_orders = rng.drawn
    assert sorted(block_order) == list(range(len(SIZES))) and len(row_orders) == 6
    starts = _starts()
    rows = np.concatenate(
        [starts[b] + perm for b, perm in zip(block_order, row_orders, strict=True)]
    )
    sizes = [SIZES[b] for b in block_order]
    in_order = _regressor(backend=backend, max_iter=1, shuffle=False, random_state=4)
    in_order.fit(
        _blocks(X[rows], sizes),
        _blocks(y[rows], sizes),
        sample_weight=_blocks(weights[rows], sizes),
    )
    rtol = 0 if backend.library == "numpy" else 1e-12
    for p, q in zip(_params(shuffled), _params(in_order), strict=True):
        np.testing.assert_allclose(p, q, rtol=rtol, atol=0)


def _held_out_blocks(seed, weighted=True, shuffle=True, max_iter=3):
    """Fit with early stopping; returns (model, the held-out blocks found by
    matching every epoch's validation score to ``score()`` on each candidate)."""
    X, y, weights = _data()
    weights = weights if weighted else None
    starts = _starts()
    candidates = list(itertools.combinations(range(len(SIZES)), 2))  # ceil(.3 * 6)
    scores: dict[tuple[int, ...], list[float]] = {c: [] for c in candidates}

    def score_candidates(model, history):
        for blocks in candidates:
            rows = np.concatenate([starts[b] + np.arange(SIZES[b]) for b in blocks])
            held = {} if weights is None else {"sample_weight": weights[rows]}
            scores[blocks].append(model.score(X[rows], y[rows], **held))

    model = _regressor(
        max_iter=max_iter,
        shuffle=shuffle,
        early_stopping=True,
        validation_fraction=0.3,
        n_iter_no_change=100,
        random_state=seed,
    )
    model.fit(
        _blocks(X),
        _blocks(y),
        sample_weight=None if weights is None else _blocks(weights),
        callbacks=[score_candidates],
    )
    found = [
        blocks
        for blocks, values in scores.items()
        if np.allclose(values, model.validation_scores_, rtol=1e-12, atol=0)
    ]
    assert len(found) == 1, f"validation scores match held-out blocks {found}"
    return model, found[0]


@pytest.mark.parametrize("weighted", [False, True])
def test_validation_scores_are_the_scores_of_the_held_out_blocks(weighted):
    model, held = _held_out_blocks(seed=0, weighted=weighted)
    assert len(model.validation_scores_) == 3
    assert model.t_ == 3 * (sum(SIZES) - sum(SIZES[b] for b in held))


def test_held_out_blocks_are_drawn_by_random_state():
    """Item 3: the blocks held out change with ``random_state``."""
    held = {_held_out_blocks(seed, max_iter=1)[1] for seed in range(6)}
    assert len(held) > 1, f"every random_state held out blocks {held}"


class _SkipsOneDraw(RecordingGenerator):
    """A generator that draws (and drops) ``permutation(n_blocks)`` before its first
    permutation: what the hold-out draw leaves for the epochs."""

    def __init__(self, seed: int, n_blocks: int) -> None:
        super().__init__(seed)
        self._skip = n_blocks

    def permutation(self, x, axis=0):  # type: ignore[override]
        if self._skip:
            np.random.Generator.permutation(self, self._skip)
            self._skip = 0
        return super().permutation(x, axis)


def test_the_hold_out_draw_advances_the_generator():
    """Item 3: the epochs after the hold-out draw continue the generator: the first
    epoch trains as a fit on the training blocks alone whose generator has made
    that draw (and not as one that has not)."""
    model, held = _held_out_blocks(seed=3, max_iter=1)
    X, y, weights = _data()
    starts = _starts()
    kept = [b for b in range(len(SIZES)) if b not in held]
    rows = np.concatenate([starts[b] + np.arange(SIZES[b]) for b in kept])
    sizes = [SIZES[b] for b in kept]
    data = (_blocks(X[rows], sizes), _blocks(y[rows], sizes))
    continued = _regressor(max_iter=1, random_state=_SkipsOneDraw(3, len(SIZES)))
    continued.fit(*data, sample_weight=_blocks(weights[rows], sizes))
    for p, q in zip(_params(model), _params(continued), strict=True):
        np.testing.assert_array_equal(p, q)
    fresh = _regressor(max_iter=1, random_state=3)
    fresh.fit(*data, sample_weight=_blocks(weights[rows], sizes))
    assert not np.array_equal(model.coefs_[0], fresh.coefs_[0])


def test_multilabel_score_counts_a_row_when_every_label_matches():
    """Item 4: Dask ``score`` of a multilabel classifier is the in-memory score
    (subset accuracy), not the share of rows with any label right."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 4))
    Y = (X[:, :3] + 0.8 * rng.normal(size=(60, 3)) > 0).astype(int)
    model = xpnet.MLPClassifier((4,), max_iter=5, random_state=0).fit(X, Y)
    in_memory = model.score(X, Y)
    any_right = np.mean((model.predict(X) == Y).any(axis=1))
    assert in_memory < any_right, "some rows have only some labels right"
    assert model.score(_blocks(X, (20, 25, 15)), _blocks(Y, (20, 25, 15))) == (
        pytest.approx(in_memory, abs=1e-12)
    )


def test_dask_blocks_hold_out_whole_blocks_in_block_order():
    """``DaskBlocks.hold_out``: ceil(fraction * n_blocks) blocks drawn by the
    generator, the rest to train on, each part in block order; too few refused."""
    from xpnet.dask.blocks import DaskBlocks

    X = da.ones((60, 2), chunks=(10, 2))
    Y = da.zeros((60, 1), chunks=(10, 1))
    blocks = DaskBlocks(X, Y, Y[:, 0], xpnet.get_backend("numpy"), "float64")
    training, held_out = blocks.hold_out(0.3, np.random.default_rng(3))
    order = np.random.default_rng(3).permutation(6)
    assert held_out.numbers == sorted(order[:2].tolist())
    assert training.numbers == sorted(order[2:].tolist())
    assert training.X.shape == (40, 2) and held_out.Y.shape == (20, 1)
    with pytest.raises(ValueError, match="validation_fraction=0.0 of 6 blocks"):
        blocks.hold_out(0.0, np.random.default_rng(3))
