"""Behaviours a user relies on that could drift silently: seeded initial weights,
shuffling, and scikit-learn's early-stopping rules.

The expected numbers are computed here, independently of xpnet, from
``numpy.random.default_rng`` as the docs say: one seeded generator draws the
initial weights (layer by layer, ``W`` then ``b``), then the early-stopping split,
then each epoch's permutation.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import xpnet
from xpnet import ConvergenceWarning, MLPClassifier, MLPRegressor
from xpnet.maths import network as network_module
from xpnet.maths.optim import Adam

SIZES = [5, 4, 3, 2]


def _glorot(rng, sizes, activation="relu", output_activation="identity"):
    """scikit-learn's Glorot uniform draws, float64: W then b, layer by layer."""
    weights, biases = [], []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        act = activation if layer < len(sizes) - 2 else output_activation
        factor = 2.0 if act in ("sigmoid", "logistic") else 6.0
        bound = np.sqrt(factor / (fan_in + fan_out))
        weights.append(rng.uniform(-bound, bound, size=(fan_in, fan_out)))
        biases.append(rng.uniform(-bound, bound, size=fan_out))
    return weights, biases


def _normal(rng, sizes, scale):
    """Normal weights ``normal(0, scale(fan_in))``, zero biases, float64."""
    weights = [
        rng.normal(0.0, scale(fan_in), size=(fan_in, fan_out))
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    return weights, [np.zeros(fan_out) for fan_out in sizes[1:]]


EXPECTED_INIT = {
    "glorot_uniform": lambda rng, sizes: _glorot(rng, sizes, "tanh", "logistic"),
    "seed_normal": lambda rng, sizes: _normal(rng, sizes, lambda n: n**-0.5),
    "he_normal": lambda rng, sizes: _normal(rng, sizes, lambda n: np.sqrt(2.0 / n)),
}


@pytest.mark.parametrize("init", sorted(EXPECTED_INIT))
@pytest.mark.parametrize("seed", [0, 1234])
def test_seeded_initial_weights_are_the_documented_float64_draws(init, seed):
    """Bit for bit in float64; float32 weights are the float64 ones cast."""
    weights, biases = EXPECTED_INIT[init](np.random.default_rng(seed), SIZES)
    settings = dict(hidden_activation="tanh", output_activation="sigmoid", seed=seed)
    net64 = xpnet.MLP(SIZES, init=init, dtype="float64", **settings)
    net32 = xpnet.MLP(SIZES, init=init, dtype="float32", **settings)
    for got64, got32, want in zip(
        net64.get_weights() + net64.get_biases(),
        net32.get_weights() + net32.get_biases(),
        weights + biases,
        strict=True,
    ):
        assert got64.dtype == np.float64 and got32.dtype == np.float32
        np.testing.assert_array_equal(got64, want)
        np.testing.assert_array_equal(got32, want.astype(np.float32))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_estimator_starts_from_the_documented_glorot_draws(monkeypatch, dtype):
    """The parameters the first Adam step sees are the seed's Glorot draws, cast."""
    seen = []
    original = Adam.step_flat

    def first_step(optimizer, params, grads):  # params: the flat parameter vector
        if not seen:
            seen.append(np.array(params, copy=True))
        return original(optimizer, params, grads)

    monkeypatch.setattr(Adam, "step_flat", first_step)
    X = np.random.default_rng(9).normal(size=(20, 5))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier((4, 3), activation="tanh", max_iter=1, random_state=7).set_params(
            dtype=dtype
        ).fit(X, y)
    weights, biases = _glorot(np.random.default_rng(7), SIZES[:-1] + [1], "tanh")
    want = np.concatenate([p.ravel() for p in weights + biases])
    assert seen[0].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(seen[0], want.astype(dtype))


# ---- shuffling ----------------------------------------------------------------------


def _ids_data(n_samples=30, n_features=3, seed=0):
    """X whose column 0 holds each row's index (a row's id in any batch)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    X[:, 0] = np.arange(n_samples)
    return X, np.sin(X[:, 1])


@pytest.mark.parametrize("shuffle", [True, False])
def test_shuffle_takes_each_epoch_in_the_seeded_permutation(
    monkeypatch, backend, shuffle
):
    X, y = _ids_data()
    n, batch, epochs, seed = X.shape[0], 8, 3, 5
    steps = []
    original = network_module.loss_and_gradients

    def spy(xp, weights, biases, activations, X_batch, *args, **kwargs):
        steps.append(backend.to_numpy(X_batch)[:, 0].astype(int))
        return original(xp, weights, biases, activations, X_batch, *args, **kwargs)

    monkeypatch.setattr(network_module, "loss_and_gradients", spy)
    model = MLPRegressor(
        (4,),
        batch_size=batch,
        max_iter=epochs,
        tol=0.0,
        shuffle=shuffle,
        random_state=seed,
        dtype="float64",
        backend=backend.name,
    )
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    per_epoch = math.ceil(n / batch)
    assert len(steps) == epochs * per_epoch
    orders = [
        np.concatenate(steps[e * per_epoch : (e + 1) * per_epoch])
        for e in range(epochs)
    ]
    rng = np.random.default_rng(seed)
    _glorot(rng, [3, 4, 1])  # the initial weights come first from the generator
    for order in orders:
        if shuffle:
            np.testing.assert_array_equal(order, rng.permutation(n))
        else:
            np.testing.assert_array_equal(order, np.arange(n))
    if shuffle:  # what the pinned numbers imply: real, fresh shuffles
        assert all(not np.array_equal(order, np.arange(n)) for order in orders)
        assert not np.array_equal(orders[0], orders[1])


# ---- early stopping -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["regressor", "binary"])
@pytest.mark.parametrize(
    "n_samples, fraction", [(41, 0.1), (47, 0.2), (10, 0.3), (50, 0.5)]
)
def test_validation_split_is_sized_as_scikit_learn_sizes_it(kind, n_samples, fraction):
    """``ceil(fraction * n)`` validation samples, as train_test_split; the training
    samples per epoch (``t_ / n_iter_``) are the rest."""
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = _ids_data(n_samples)
    cls = MLPRegressor
    stratify = None
    if kind == "binary":
        cls, y = MLPClassifier, np.arange(n_samples) % 2
        stratify = y
    _, test = model_selection.train_test_split(
        np.arange(n_samples), test_size=fraction, random_state=0, stratify=stratify
    )
    model = cls(
        (3,),
        max_iter=2,
        early_stopping=True,
        validation_fraction=fraction,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert model.n_iter_ == 2
    assert model.t_ == 2 * (n_samples - len(test))


def _scripted_validation(monkeypatch, scores):
    """Early stopping sees ``scores`` as the validation scores of epochs 1, 2, ..."""
    remaining = list(scores)

    def validator(*args, **kwargs):
        return lambda params: remaining.pop(0)

    monkeypatch.setattr("xpnet.training.setup.validator", validator)


def test_early_stopping_counts_gains_below_tol_as_no_improvement(monkeypatch):
    """scikit-learn's rule: a score below ``best + tol`` is no improvement; the best
    score (and weights) still follow any gain. Each epoch here gains tol / 2."""
    tol, patience = 1e-3, 3
    scores = [0.5 + k * tol / 2 for k in range(20)]
    _scripted_validation(monkeypatch, scores)
    X, y = _ids_data()
    model = MLPRegressor(
        (3,),
        max_iter=20,
        tol=tol,
        n_iter_no_change=patience,
        early_stopping=True,
        random_state=0,
    )
    model.fit(X, y)  # no ConvergenceWarning: stopped by the rule
    # Epoch 1 improves on -inf; epochs 2.. each count one; stop once the count
    # exceeds n_iter_no_change.
    assert model.n_iter_ == patience + 2
    assert model.validation_scores_ == scores[: patience + 2]
    assert model.best_validation_score_ == scores[patience + 1]


def test_early_stopping_gain_above_tol_resets_the_count(monkeypatch):
    """Every epoch gains 2 * tol: never stops before max_iter."""
    tol = 1e-3
    _scripted_validation(monkeypatch, [0.5 + 2 * k * tol for k in range(6)])
    X, y = _ids_data()
    model = MLPRegressor(
        (3,), max_iter=6, tol=tol, n_iter_no_change=1, early_stopping=True
    )
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert model.n_iter_ == 6


def test_regressor_validation_score_is_r2_and_the_best_is_kept():
    """Each epoch's validation score is R² on the held-out rows (not -R²), and the
    model ends with the weights of the highest score."""
    X, y = _ids_data(n_samples=60)
    X[:, 0] /= 60.0  # ids scaled: the features stay small
    seed, fraction = 3, 0.2
    rng = np.random.default_rng(seed)
    _glorot(rng, [3, 8, 1])
    held_out = rng.permutation(60)[: math.ceil(fraction * 60)]
    X_val, y_val = X[held_out], y[held_out]

    def r2(model):
        residual = y_val - model.predict(X_val)
        return 1.0 - residual @ residual / np.sum((y_val - y_val.mean()) ** 2)

    seen = []
    model = MLPRegressor(
        (8,),
        solver="sgd",
        learning_rate_init=0.05,
        momentum=0.0,
        batch_size=10,
        max_iter=30,
        tol=0.0,
        n_iter_no_change=30,
        early_stopping=True,
        validation_fraction=fraction,
        random_state=seed,
        dtype="float64",
    )
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y, callbacks=[lambda m, history: seen.append(r2(m))])
    np.testing.assert_allclose(model.validation_scores_, seen, rtol=1e-12, atol=1e-12)
    assert max(seen) > 0.5  # the model learns: R² well above zero
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert r2(model) == pytest.approx(max(seen), rel=1e-12)
