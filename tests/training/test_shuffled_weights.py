"""Sample weights follow their rows through the shuffles.

A shuffled epoch is the unshuffled epoch of the same rows in the shuffled order: the
rows, their targets and their weights all move together. The order a fit shuffled
is read from a :class:`helpers.RecordingGenerator` handed as ``random_state``
(the only draws after the initial weights are the epoch's permutation).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import RecordingGenerator

import xpnet

scipy_sparse = pytest.importorskip("scipy.sparse", reason="SciPy is optional")

pytestmark = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


def _data(n_samples=40, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = np.tanh(X @ rng.normal(size=n_features)) + 0.1 * rng.normal(size=n_samples)
    weights = rng.uniform(0.1, 3.0, size=n_samples)  # differ row to row
    return X, y, weights


def _params(model):
    return [*model.coefs_, *model.intercepts_]


def _assert_same(a, b, rtol):
    for p, q in zip(_params(a), _params(b), strict=True):
        if rtol == 0:
            np.testing.assert_array_equal(p, q)
        else:
            np.testing.assert_allclose(p, q, rtol=rtol, atol=0)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rtol or 1e-15)


def _model(backend, **settings):
    common = dict(
        hidden_layer_sizes=(5,),
        dtype="float64",
        backend=backend,
        max_iter=1,
        random_state=0,
    )
    return xpnet.MLPRegressor(**{**common, **settings})


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_one_full_batch_trains_alike_shuffled_or_not(backend, solver):
    """Item 1: one batch of every row sums the same rows and weights in any order;
    a batch that took its weights by position after a shuffle differs by ~5e-4."""
    X, y, weights = _data()
    fits = [
        _model(backend, solver=solver, batch_size=40, max_iter=3, shuffle=shuffle).fit(
            X, y, sample_weight=weights
        )
        for shuffle in (False, True)
    ]
    _assert_same(*fits, rtol=1e-12)


def _shuffled_and_in_order(backend, X, y, weights, as_input, **settings):
    """One weighted shuffled epoch, and one unshuffled over the rows it drew."""
    rng = RecordingGenerator(7)
    shuffled = _model(backend, shuffle=True, random_state=rng, **settings)
    shuffled.fit(as_input(X), y, sample_weight=weights)
    order = rng.drawn[-1]
    assert sorted(order) == list(range(X.shape[0])), "the epoch's permutation"
    assert not np.array_equal(order, np.arange(X.shape[0]))
    in_order = _model(backend, shuffle=False, random_state=7, **settings)
    in_order.fit(as_input(X[order]), y[order], sample_weight=weights[order])
    return shuffled, in_order


@pytest.mark.parametrize("alpha", [0.0, 0.01])
@pytest.mark.parametrize("path", ["dense", "sparse"])
def test_weighted_shuffled_epoch_equals_its_rows_in_order(backend, path, alpha):
    """The property over the in-memory paths: host data on each backend's device and
    sparse rows; exact on NumPy, 1e-12 relative elsewhere."""
    X, y, weights = _data()
    X[np.abs(X) < 0.6] = 0.0  # sparse enough to be worth it
    as_input = scipy_sparse.csr_matrix if path == "sparse" else np.asarray
    shuffled, in_order = _shuffled_and_in_order(
        backend, X, y, weights, as_input, batch_size=7, alpha=alpha
    )
    _assert_same(shuffled, in_order, rtol=0 if backend.library == "numpy" else 1e-12)


def test_the_classifiers_weighted_shuffled_epoch_equals_its_rows_in_order():
    X, y, weights = _data(n_samples=30)
    labels = np.array(["a", "b", "c"])[np.digitize(y, [-0.3, 0.3])]
    rng = RecordingGenerator(3)
    common = dict(hidden_layer_sizes=(5,), dtype="float64", batch_size=8, max_iter=1)
    shuffled = xpnet.MLPClassifier(**common, random_state=rng)
    shuffled.fit(X, labels, sample_weight=weights)
    order = rng.drawn[-1]
    in_order = xpnet.MLPClassifier(**common, shuffle=False, random_state=3)
    in_order.fit(X[order], labels[order], sample_weight=weights[order])
    _assert_same(shuffled, in_order, rtol=0)
