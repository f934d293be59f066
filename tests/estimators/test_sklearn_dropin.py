"""scikit-learn drop-in: L-BFGS, sample weights, Poisson loss, scikit-learn's warning
and error classes, values that overflow the model's dtype."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpnet
from xpnet import MLPClassifier, MLPRegressor
from xpnet.check import TOLERANCES
from xpnet.training.loop import ConvergenceWarning, DivergenceError

sklearn_nn = pytest.importorskip("sklearn.neural_network")
sk_exceptions = pytest.importorskip("sklearn.exceptions")
pytest.importorskip("scipy")

N = 53
KINDS = ("classifier", "binary", "regressor", "poisson")


def _data(kind: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 5))
    y = {
        "classifier": lambda: np.array(["ant", "bee", "cat"])[rng.integers(0, 3, N)],
        "binary": lambda: (X[:, 0] + 0.3 * rng.normal(size=N) > 0).astype(int),
        "regressor": lambda: np.tanh(X @ rng.normal(size=(5, 2))),
        "poisson": lambda: rng.poisson(np.exp(0.5 * X[:, 0])).astype(float),
    }[kind]()
    return X, y, rng.integers(0, 4, N).astype(float)


def _estimators(kind: str, **params):
    name = "MLPClassifier" if kind in ("classifier", "binary") else "MLPRegressor"
    if kind == "poisson":
        params["loss"] = "poisson"
    # No dtype: float64 X trains in float64 by default, as scikit-learn's MLPs do.
    return getattr(xpnet, name)(**params), getattr(sklearn_nn, name)(**params)


def _quiet():
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", sk_exceptions.ConvergenceWarning)
    return context


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind", KINDS)
def test_lbfgs_trajectory_matches_scikit_learn(kind, weighted):
    """Same starting weights: after 15 L-BFGS iterations, scikit-learn's weights to
    1e-8 relative (float64), its loss_, n_iter_ and ConvergenceWarning."""
    X, y, sw = _data(kind)
    params = dict(
        hidden_layer_sizes=(7, 4), activation="tanh", alpha=1e-3, solver="lbfgs"
    )
    ours, theirs = _estimators(kind, max_iter=1, random_state=0, **params)
    context = _quiet()
    theirs.fit(X, y)
    ours.fit(X, y)
    context.__exit__(None, None, None)
    for model in (ours, theirs):
        model.coefs_ = [c.copy() for c in theirs.coefs_]
        model.intercepts_ = [b.copy() for b in theirs.intercepts_]
        model.set_params(warm_start=True, max_iter=15, tol=0.0)
    weights = sw if weighted else None
    with pytest.warns(sk_exceptions.ConvergenceWarning):
        theirs.fit(X, y, sample_weight=weights)
    with pytest.warns(sk_exceptions.ConvergenceWarning, match="lbfgs failed"):
        ours.fit(X, y, sample_weight=weights)
    for mine, ref in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True
    ):
        np.testing.assert_allclose(mine, ref, rtol=1e-8, atol=1e-12)
    assert ours.n_iter_ == theirs.n_iter_ == 15
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    assert len(ours.loss_curve_) == 15 and ours.loss_curve_[-1] == ours.loss_


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_lbfgs_same_on_every_backend(backend, kind):
    """L-BFGS from one seed: every backend ends at NumPy's weights (float64)."""
    X, y, _ = _data(kind)
    params = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=8, random_state=0)
    params["dtype"] = "float64"
    cls = MLPClassifier if kind == "classifier" else MLPRegressor
    context = _quiet()
    ref = cls(backend="numpy", **params).fit(X, y)
    got = cls(backend=backend, **params).fit(X, y)
    context.__exit__(None, None, None)
    rtol = TOLERANCES["float64"] * 100  # 8 line searches amplify rounding a little
    for mine, theirs in zip(got.coefs_, ref.coefs_, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=rtol)


def test_lbfgs_max_fun_tol_and_no_partial_fit():
    X, y, _ = _data("regressor")
    model = MLPRegressor((5,), solver="lbfgs", max_fun=6, max_iter=100, tol=0.0)
    with pytest.warns(sk_exceptions.ConvergenceWarning, match="max_fun=6") as record:
        model.fit(X, y)
    assert record[0].filename == __file__  # points at the caller's fit
    assert model.n_iter_ <= 6
    loose = MLPRegressor((5,), solver="lbfgs", tol=1.0, random_state=0).fit(X, y)
    tight = MLPRegressor((5,), solver="lbfgs", tol=1e-6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tight.fit(X, y)
    assert loose.n_iter_ < tight.n_iter_
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    with pytest.raises(AttributeError, match="only available for stochastic"):
        MLPClassifier(solver="lbfgs").partial_fit(X, y > 0, classes=[False, True])
    with pytest.raises(ValueError, match="checkpoint, resume_from and distributed"):
        MLPRegressor(solver="lbfgs").fit(X, y, checkpoint="never-written.safetensors")
    with pytest.raises(ValueError, match="sample_weight is not supported with distr"):
        MLPRegressor().fit(X, y, sample_weight=np.ones(N), distributed=True)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_integer_weights_repeat_rows_and_zero_weights_drop_them(backend, solver):
    """Weight k == the row k times; weight 0 == the row left out (one full batch)."""
    X, y, sw = _data("classifier")
    params = dict(
        hidden_layer_sizes=(5,),
        solver=solver,
        max_iter=3,
        shuffle=False,
        random_state=0,
        alpha=0.01,
        backend=backend,
        dtype="float64",
    )
    repeated = np.repeat(np.arange(N), sw.astype(int))
    context = _quiet()
    weighted = MLPClassifier(batch_size=N, **params).fit(X, y, sample_weight=sw)
    copies = MLPClassifier(batch_size=len(repeated), **params)
    copies.fit(X[repeated], y[repeated])
    context.__exit__(None, None, None)
    for a, b in zip(weighted.coefs_, copies.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    if solver == "sgd":
        np.testing.assert_allclose(weighted.loss_curve_, copies.loss_curve_, rtol=1e-9)


def test_weighted_partial_fit_and_validation_score(monkeypatch):
    """partial_fit takes weights; early stopping scores the held-out rows with
    their weights (scikit-learn's weighted R²)."""
    X, y, sw = _data("regressor")
    a = MLPRegressor((4,), solver="sgd", shuffle=False, dtype="float64", random_state=0)
    b = MLPRegressor((4,), solver="sgd", shuffle=False, dtype="float64", random_state=0)
    a.partial_fit(X, y, sample_weight=sw)
    b.partial_fit(X, y)
    assert not np.allclose(a.coefs_[0], b.coefs_[0])
    held_out, kept = np.arange(0, N, 4), np.setdiff1d(np.arange(N), np.arange(0, N, 4))
    monkeypatch.setattr(
        "xpnet.training.setup.split", lambda rng, Y, fraction, strat: (kept, held_out)
    )
    params = dict(early_stopping=True, max_iter=1, dtype="float64", random_state=3)
    model = MLPRegressor((4,), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y, sample_weight=sw)
    expected = model.score(X[held_out], y[held_out], sample_weight=sw[held_out])
    assert model.validation_scores_[0] == pytest.approx(expected, rel=1e-9)
    assert expected != pytest.approx(model.score(X[held_out], y[held_out]), rel=1e-6)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.full(N, -1.0), "non-negative"),
        (np.zeros(N), "all zero"),
        (np.ones(3), "one weight per sample"),
        (np.full(N, np.nan), "finite"),
    ],
)
def test_bad_sample_weights_are_named(weights, message):
    X, y, _ = _data("regressor")
    with pytest.raises(ValueError, match=rf"sample_weight.*{message}"):
        MLPRegressor((3,), max_iter=1).fit(X, y, sample_weight=weights)


def test_poisson_loss_gradient_and_targets(backend):
    """Poisson: exp output, the half deviance's value, its gradient by central
    differences (weighted), negative targets refused."""
    from xpnet.maths import network
    from xpnet.maths.activations import get_activation
    from xpnet.maths.losses import loss_value

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 3)), rng.poisson(2.0, size=(6, 2)).astype(float)
    y[0, 0] = 0.0  # 0 log 0 = 0
    w = rng.uniform(0.5, 2.0, size=6)
    W, b = rng.normal(size=(3, 2)) * 0.3, rng.normal(size=2) * 0.3
    xp, on = backend.xp, backend.asarray
    act = [get_activation("exp")]

    def loss(W=W, b=b):
        value, grads, _ = network.loss_and_gradients(
            xp, [on(W)], [on(b)], act, on(X), on(y), "poisson", sample_weight=on(w)
        )
        return float(value), grads

    mu = np.exp(X @ W + b)
    with np.errstate(divide="ignore", invalid="ignore"):
        xlogy = np.where(y > 0, y * np.log(y / mu), 0.0)
    expected = np.average((xlogy - y + mu).sum(axis=1), weights=w)
    value, grads = loss()
    assert value == pytest.approx(expected, rel=1e-12)
    h = 1e-6
    for index in [(0, 0), (2, 1)]:
        up, down = W.copy(), W.copy()
        up[index] += h
        down[index] -= h
        numeric = (loss(up)[0] - loss(down)[0]) / (2 * h)
        assert backend.to_numpy(grads.weights[0])[index] == pytest.approx(
            numeric, rel=1e-6
        )
    value_unweighted = loss_value(xp, "poisson", act[0], on(mu), on(y))
    assert float(value_unweighted) == pytest.approx((xlogy - y + mu).sum(1).mean())
    model = MLPRegressor((3,), loss="poisson", max_iter=2, backend=backend)
    with pytest.raises(ValueError, match="non-negative for loss='poisson'"):
        model.fit(X, y - 1)
    with pytest.raises(ValueError, match="loss must be one of"):
        MLPRegressor(loss="huber").fit(X, y)


def test_poisson_predictions_are_positive_rates():
    X, y, _ = _data("poisson")
    model = MLPRegressor(
        (1,), loss="poisson", activation="identity", solver="lbfgs", alpha=0.0
    )
    model.fit(X, y)
    assert model.out_activation_ == "exp" and (model.predict(X) > 0).all()
    assert model.predict(X).mean() == pytest.approx(y.mean(), rel=1e-3)


def test_warning_and_error_classes_are_scikit_learns():
    X, y, _ = _data("regressor")
    with pytest.warns(sk_exceptions.ConvergenceWarning) as record:
        MLPRegressor((3,), max_iter=1).fit(X, y)
    assert all(issubclass(r.category, ConvergenceWarning) for r in record)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=sk_exceptions.ConvergenceWarning)
        MLPRegressor((3,), max_iter=1).fit(X, y)  # silenced by scikit-learn's class
    huge = np.finfo(np.float64).max * np.random.default_rng(0).uniform(size=(10, 2))
    with pytest.raises(ValueError, match="Solver produced non-finite") as info:
        MLPRegressor(dtype="float64").fit(huge, np.arange(10.0))
    assert isinstance(info.value, DivergenceError)


@pytest.mark.parametrize(
    "call",
    ["fit", "partial_fit", "predict", "predict_proba", "score"],
)
def test_values_overflowing_the_dtype_are_refused(backend, call):
    X, _, _ = _data("binary")
    y = (X[:, 0] > 0).astype(int)
    model = MLPClassifier((3,), max_iter=1, backend=backend, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    huge = X.copy()
    huge[4, 1] = 1e39  # finite in float64, inf in float32
    run = {
        "fit": lambda data: model.fit(data, y),
        "partial_fit": lambda data: model.partial_fit(data, y),
        "predict": model.predict,
        "predict_proba": model.predict_proba,
        "score": lambda data: model.score(data, y),
    }[call]
    for data in (huge, backend.asarray(huge, "float64")):
        with pytest.raises(ValueError, match="too large for the model's dtype float32"):
            run(data)


@pytest.mark.parametrize("solver, fmt", [("sgd", "csr"), ("lbfgs", "csc")])
def test_sparse_X_gives_the_dense_results(backend, solver, fmt):
    """Sparse X (kept sparse) trains and predicts as its dense copy, on every
    backend, with early stopping's held-out rows too."""
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(N, 12)) * (rng.uniform(size=(N, 12)) < 0.2)
    y = (dense[:, 0] + dense[:, 1] > 0).astype(int)
    X = getattr(sparse, f"{fmt}_matrix")(dense)
    params = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=2, random_state=0)
    params.update(backend=backend, dtype="float64", batch_size=14)  # 42 train rows
    if solver == "sgd":
        params.update(early_stopping=True, validation_fraction=0.2)
    context = _quiet()
    from_sparse = MLPClassifier(**params).fit(X, y)
    from_dense = MLPClassifier(**params).fit(dense, y)
    context.__exit__(None, None, None)
    rtol = TOLERANCES["float64"] * 100
    for a, b in zip(from_sparse.coefs_, from_dense.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(
        from_sparse.predict_proba(X), from_dense.predict_proba(dense), rtol=rtol
    )
    assert from_sparse.score(X, y) == from_dense.score(dense, y)


def test_sparse_X_is_never_densified(monkeypatch):
    """On NumPy the batches stay sparse: no dense (n_samples, n_features) array, and
    no toarray() at all; bad sparse values are refused."""
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.random(400, 3000, density=0.002, format="csr", random_state=0)
    y = np.asarray(X.sum(axis=1)).ravel()

    def refuse(*args, **kwargs):
        raise AssertionError("densified")

    monkeypatch.setattr(type(X), "toarray", refuse)
    monkeypatch.setattr(type(X), "todense", refuse)
    model = MLPRegressor(
        (4,), max_iter=2, batch_size=50, backend="numpy", dtype="float32"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert model.predict(X).shape == (400,)
    X.data[0] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        model.predict(X)
    X.data[0] = 1e39
    with pytest.raises(ValueError, match="too large for the model's dtype float32"):
        model.predict(X)


def test_feature_names_are_recorded_and_checked():
    pd = pytest.importorskip("pandas")
    X, y, _ = _data("regressor")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    model = MLPRegressor((3,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(frame, y)
    assert list(model.feature_names_in_) == ["a", "b", "c", "d", "e"]
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        unnamed = model.predict(X)
    np.testing.assert_array_equal(model.predict(frame), unnamed)
    with pytest.raises(ValueError, match="must be in the same order"):
        model.predict(frame[["b", "a", "c", "d", "e"]])
    renamed = frame.rename(columns={"e": "z"})
    with pytest.raises(ValueError, match=r"unseen at fit time:\n- z\n.*missing:\n- e"):
        model.score(renamed, y)
    with pytest.raises(ValueError, match="should match those that were passed"):
        model.partial_fit(renamed, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)  # refit without names forgets them
    assert not hasattr(model, "feature_names_in_")


def test_poisson_lbfgs_model_file_round_trip(tmp_path):
    X, y, sw = _data("poisson")
    model = MLPRegressor((3,), loss="poisson", solver="lbfgs", max_fun=40, tol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y, sample_weight=sw)
    xpnet.save(model, tmp_path / "poisson.npz")
    loaded = xpnet.load(tmp_path / "poisson.npz")
    assert loaded.get_params() == model.get_params() | {"backend": "numpy"}
    assert loaded.out_activation_ == "exp"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_poisson_model_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    X, y, _ = _data("poisson")
    model = MLPRegressor((3,), loss="poisson", max_iter=5, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    xpnet.export_onnx(model, tmp_path / "poisson.onnx")
    session = ort.InferenceSession(str(tmp_path / "poisson.onnx"))
    (got,) = session.run(["variable"], {"X": X})
    np.testing.assert_allclose(got[:, 0], model.predict(X), rtol=1e-12)
