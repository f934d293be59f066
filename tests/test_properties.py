"""Property tests: random architectures, activations, dtypes and batch sizes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import central_differences

import xpnet

pytest.importorskip("hypothesis", reason="hypothesis is not installed")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

HIDDEN = ["identity", "sigmoid", "tanh", "relu"]
OUTPUTS = [
    ("identity", "squared_error"),
    ("sigmoid", "log_loss"),
    ("softmax", "log_loss"),
    ("tanh", "squared_error"),
]
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def networks(draw, max_width=5, max_depth=3):
    """(layer_sizes, hidden, output, loss, bias, seed) for a small network."""
    depth = draw(st.integers(1, max_depth))
    sizes = draw(
        st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1)
    )
    output, loss = draw(st.sampled_from(OUTPUTS))
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)
    return (
        sizes,
        draw(st.sampled_from(HIDDEN)),
        output,
        loss,
        draw(st.booleans()),
        draw(st.integers(0, 2**16)),
    )


def _data(sizes, output, n_samples, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, sizes[0]))
    if output == "softmax":
        y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n_samples)]
    elif output == "sigmoid":
        y = rng.integers(0, 2, size=(n_samples, sizes[-1])).astype(float)
    else:
        y = rng.uniform(-0.9, 0.9, size=(n_samples, sizes[-1]))
    return X, y


def _net(spec, dtype="float64", backend="numpy"):
    sizes, hidden, output, _, bias, seed = spec
    return xpnet.MLP(
        sizes,
        hidden_activation=hidden,
        output_activation=output,
        bias=bias,
        dtype=dtype,
        backend=backend,
        seed=seed,
    )


@PROPERTY
@given(spec=networks(), n_samples=st.integers(1, 6))
def test_gradients_match_finite_differences(spec, n_samples):
    sizes, _, output, loss, bias, seed = spec
    net = _net(spec)
    X, y = _data(sizes, output, n_samples, seed)
    _, w_grads, b_grads = net.loss_and_gradients(X, y, loss)
    if spec[1] == "relu":  # finite differences are meaningless across relu's kink
        hidden_inputs = net.backprop(X, y, loss, keep_all=True)[2].inputs[:-1]
        assume(all(np.abs(z).min() > 1e-4 for z in hidden_inputs))
    weights, biases = net.get_weights(), net.get_biases()

    def loss_at():
        probe = xpnet.MLP.from_weights(
            weights,
            biases,
            hidden_activation=spec[1],
            output_activation=output,
            dtype="float64",
        )
        return probe.loss_and_gradients(X, y, loss)[0]

    fd = central_differences(loss_at, weights + (biases or []))
    for got, want in zip(fd, w_grads + (b_grads or []), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


@PROPERTY
@given(
    spec=networks(max_width=6),
    n_samples=st.integers(1, 9),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_forward_is_invariant_to_batch(spec, n_samples, dtype):
    """Row i of a batch's output equals the forward of sample i alone."""
    net = _net(spec, dtype)
    X, _ = _data(spec[0], spec[2], n_samples, spec[5])
    batch = net.forward(X)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    for i in range(n_samples):
        np.testing.assert_allclose(
            net.forward(X[i : i + 1])[0], batch[i], rtol=rtol, atol=rtol
        )


@PROPERTY
@given(
    spec=networks(),
    n_samples=st.integers(1, 6),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_numpy_and_array_api_strict_agree(spec, n_samples, dtype):
    pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    sizes, _, output, loss, _, seed = spec
    X, y = _data(sizes, output, n_samples, seed)
    ref = _net(spec, dtype)
    strict = _net(spec, dtype, backend="array_api_strict")
    ref_loss, ref_w, _ = ref.loss_and_gradients(X, y, loss)
    got_loss, got_w, _ = strict.loss_and_gradients(X, y, loss)
    rtol = 1e-10 if dtype == "float64" else 1e-5
    assert got_loss == pytest.approx(ref_loss, rel=rtol, abs=rtol)
    for got, want in zip(got_w, ref_w, strict=True):
        np.testing.assert_allclose(
            strict.backend.to_numpy(got), want, rtol=rtol, atol=rtol
        )


# ---- the estimators -----------------------------------------------------------------

ESTIMATOR_PROPERTY = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


@st.composite
def estimator_setups(draw):
    """(estimator class, constructor parameters, X, y) for a short fit."""
    task = draw(st.sampled_from(["regression", "binary", "multiclass", "multilabel"]))
    n_outputs = draw(st.integers(2, 4)) if task != "binary" else 2
    n_samples = draw(st.integers(max(n_outputs, 2), 24))
    n_features = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    if task == "regression":
        y = np.tanh(X @ rng.normal(size=(n_features, n_outputs - 1)))
        y = y[:, 0] if y.shape[1] == 1 else y
    elif task == "multilabel":
        y = rng.integers(0, 2, size=(n_samples, n_outputs))
    else:  # every class present
        y = rng.permutation(np.arange(n_samples) % n_outputs)
    params = dict(
        hidden_layer_sizes=tuple(
            draw(st.lists(st.integers(1, 6), min_size=0, max_size=3))
        ),
        activation=draw(st.sampled_from(["identity", "logistic", "tanh", "relu"])),
        solver=draw(st.sampled_from(["sgd", "adam"])),
        batch_size=draw(st.one_of(st.just("auto"), st.integers(1, n_samples))),
        learning_rate_init=draw(st.sampled_from([1e-3, 1e-2, 0.1])),
        alpha=draw(st.sampled_from([0.0, 1e-4, 0.1])),
        max_iter=draw(st.integers(1, 3)),
        dtype=draw(st.sampled_from(["float32", "float64"])),
        random_state=seed,
    )
    cls = xpnet.MLPRegressor if task == "regression" else xpnet.MLPClassifier
    return cls, params, X, y


def _fit(cls, params, X, y, backend="numpy"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        return cls(**params, backend=backend).fit(X, y)


@ESTIMATOR_PROPERTY
@given(setup=estimator_setups(), cuts=st.lists(st.integers(1, 23), max_size=6))
def test_estimator_predictions_do_not_depend_on_batching(setup, cuts):
    """Predicting row chunks of random sizes and concatenating them gives what one
    call on all rows gives (predict does not batch inside: one forward per call)."""
    cls, params, X, y = setup
    model = _fit(cls, params, X, y)
    bounds = sorted({0, X.shape[0], *(c for c in cuts if c < X.shape[0])})
    chunks = [X[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    rtol = TOLERANCE[params["dtype"]]
    outputs = "predict_proba" if cls is xpnet.MLPClassifier else "predict"
    whole = getattr(model, outputs)(X)
    pieces = np.concatenate([getattr(model, outputs)(chunk) for chunk in chunks])
    np.testing.assert_allclose(pieces, whole, rtol=rtol, atol=rtol)
    if cls is xpnet.MLPClassifier:  # labels agree wherever no class is a near tie
        labels = np.concatenate([model.predict(chunk) for chunk in chunks])
        clear = _clear_rows(model, whole, rtol)
        np.testing.assert_array_equal(labels[clear], model.predict(X)[clear])


def _clear_rows(model, proba, tol):
    """Rows whose predicted label no rounding of size ``tol`` could change."""
    if model._target_kind == "multiclass":
        top2 = np.sort(proba, axis=1)[:, -2:]
        return top2[:, 1] - top2[:, 0] > 10 * tol
    return (np.abs(proba - 0.5) > 10 * tol).all(axis=1)


@ESTIMATOR_PROPERTY
@given(setup=estimator_setups())
def test_estimator_fit_agrees_on_numpy_and_array_api_strict(setup):
    pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    cls, params, X, y = setup
    ref = _fit(cls, params, X, y)
    strict = _fit(cls, params, X, y, backend="array_api_strict")
    rtol = TOLERANCE[params["dtype"]]
    for got, want in zip(
        strict.coefs_ + strict.intercepts_, ref.coefs_ + ref.intercepts_, strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(strict.loss_curve_, ref.loss_curve_, rtol=rtol)
    assert strict.n_iter_ == ref.n_iter_ and strict.t_ == ref.t_
    outputs = "predict_proba" if cls is xpnet.MLPClassifier else "predict"
    np.testing.assert_allclose(
        getattr(strict, outputs)(X), getattr(ref, outputs)(X), rtol=rtol, atol=rtol
    )
