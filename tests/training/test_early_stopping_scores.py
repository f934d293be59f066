"""Early stopping scores the rows it held out, as ``score()`` scores them.

The held-out rows are read from a :class:`helpers.RecordingGenerator` handed as
``random_state``: with ``shuffle=False`` the only permutations drawn are the split's,
and the validation rows are the first ``ceil(validation_fraction * n)`` of a random
split's permutation, or the last permutation of a stratified split. Every epoch's
``validation_scores_`` entry must be ``score()`` of the weights of that epoch (read
in a callback) on those rows, with their sample weights.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import RecordingGenerator

import xpnet

scipy_sparse = pytest.importorskip("scipy.sparse", reason="SciPy is optional")

pytestmark = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")

N_SAMPLES, FRACTION = 60, 0.2


def _data(kind, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_SAMPLES, 4))
    X[np.abs(X) < 0.5] = 0.0  # sparse enough to be worth it
    raw = np.tanh(X @ rng.normal(size=4)) + 0.2 * rng.normal(size=N_SAMPLES)
    weights = rng.uniform(0.2, 4.0, size=N_SAMPLES)
    y = raw if kind == "regressor" else (raw > 0).astype(int)
    return X, y, weights


def _held_out(kind, drawn):
    n_val = math.ceil(FRACTION * N_SAMPLES)
    rows = drawn[0][:n_val] if kind == "regressor" else drawn[-1]
    assert len(rows) == n_val == len(set(rows.tolist()))
    return rows


def _fit_and_score_each_epoch(kind, backend, X, y, weights, as_input):
    rng = RecordingGenerator(5)
    cls = xpnet.MLPRegressor if kind == "regressor" else xpnet.MLPClassifier
    model = cls(
        (6,),
        dtype="float64",
        backend=backend,
        batch_size=10,
        max_iter=4,
        shuffle=False,
        early_stopping=True,
        validation_fraction=FRACTION,
        n_iter_no_change=100,
        random_state=rng,
    )
    scores = []

    def score_held_out(m, history):
        rows = _held_out(kind, rng.drawn)
        held = {} if weights is None else {"sample_weight": weights[rows]}
        scores.append(m.score(X[rows], y[rows], **held))

    model.fit(as_input(X), y, sample_weight=weights, callbacks=[score_held_out])
    return model, scores


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("path", ["dense", "sparse"])
@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_validation_scores_are_the_scores_of_the_held_out_rows(
    backend, kind, path, weighted
):
    X, y, weights = _data(kind)
    weights = weights if weighted else None
    as_input = scipy_sparse.csr_matrix if path == "sparse" else np.asarray
    model, scores = _fit_and_score_each_epoch(kind, backend, X, y, weights, as_input)
    assert len(model.validation_scores_) == 4
    np.testing.assert_allclose(model.validation_scores_, scores, rtol=1e-12, atol=0)
    assert model.best_validation_score_ == max(model.validation_scores_)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_sparse_early_stopping_scores_as_dense(kind):
    """Item 2: sparse X held out with its rows in the split's order (a subset that
    reordered them would score X's rows against other rows' y)."""
    X, y, weights = _data(kind)
    dense, _ = _fit_and_score_each_epoch(kind, "numpy", X, y, weights, np.asarray)
    sparse, _ = _fit_and_score_each_epoch(
        kind, "numpy", X, y, weights, scipy_sparse.csr_matrix
    )
    np.testing.assert_allclose(
        sparse.validation_scores_, dense.validation_scores_, rtol=1e-12, atol=0
    )
    for p, q in zip(sparse.coefs_, dense.coefs_, strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_held_out_rows_are_drawn_by_random_state(kind):
    """Each random_state holds out its own rows (a stratified split too: drawn
    within each class, not the first rows of each), each class keeping its share."""
    X, y, _ = _data(kind)
    held = set()
    for seed in range(4):
        rng = RecordingGenerator(seed)
        cls = xpnet.MLPRegressor if kind == "regressor" else xpnet.MLPClassifier
        cls(
            (3,),
            max_iter=1,
            shuffle=False,
            early_stopping=True,
            validation_fraction=FRACTION,
            random_state=rng,
        ).fit(X, y)
        rows = _held_out(kind, rng.drawn)
        held.add(frozenset(rows.tolist()))
        if kind == "classifier":
            share = np.mean(y[rows])
            assert abs(share - np.mean(y)) <= 1 / len(rows), "stratified"
    assert len(held) == 4, "every random_state holds out other rows"
