"""MLPClassifier / MLPRegressor: scikit-learn's trajectories, quality, backends."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator

import numpy as np
import pytest

import xpnet
from xpnet import MLPClassifier, MLPRegressor
from xpnet.check import TOLERANCES
from xpnet.testing import require_backend
from xpnet.training.loop import ConvergenceWarning

sklearn_nn = pytest.importorskip("sklearn.neural_network")
sk_exceptions = pytest.importorskip("sklearn.exceptions")


def _data(kind, n_samples=53, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    if kind == "classifier":
        y = np.array(["ant", "bee", "cat"])[rng.integers(0, 3, n_samples)]
    elif kind == "binary":
        y = (X[:, 0] + 0.3 * rng.normal(size=n_samples) > 0).astype(int)
    else:
        y = np.tanh(X @ rng.normal(size=(n_features, 2)))
    return X, y


@contextlib.contextmanager
def _ignoring_convergence() -> Iterator[None]:
    """Neither xpnet's nor scikit-learn's ConvergenceWarning inside the block."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", sk_exceptions.ConvergenceWarning)
        yield


def _ours_and_theirs(kind: str, **params):
    """xpnet's estimator in float64 and scikit-learn's, with the same parameters."""
    name = "MLPRegressor" if kind == "regressor" else "MLPClassifier"
    ours = getattr(xpnet, name)(dtype="float64", **params)
    return ours, getattr(sklearn_nn, name)(**params)


def _same_start(ours, theirs, X, y):
    """Fit both for one epoch, then give both scikit-learn's weights."""
    with _ignoring_convergence():
        theirs.fit(X, y)
        ours.fit(X, y)
    for model in (ours, theirs):
        model.coefs_ = [c.copy() for c in theirs.coefs_]
        model.intercepts_ = [b.copy() for b in theirs.intercepts_]
        model.set_params(warm_start=True, max_iter=6)


SETTINGS = {
    "sgd": dict(
        solver="sgd", momentum=0.9, nesterovs_momentum=True, learning_rate_init=0.05
    ),
    "sgd-invscaling": dict(
        solver="sgd",
        momentum=0.5,
        nesterovs_momentum=False,
        learning_rate="invscaling",
        learning_rate_init=0.2,
    ),
    "adam": dict(solver="adam", learning_rate_init=0.01, beta_1=0.8),
    # no momentum: the loop folds -lr into backprop (Optimizer.update_factor)
    "sgd-plain": dict(
        solver="sgd", momentum=0.0, learning_rate="invscaling", learning_rate_init=0.3
    ),
}


@pytest.mark.parametrize("kind", ["classifier", "binary", "regressor"])
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_trajectory_matches_scikit_learn(kind, setting):
    """Same start, no shuffling: the same weights after several epochs (float64)."""
    X, y = _data(kind)
    common = dict(
        hidden_layer_sizes=(7, 4),
        activation="tanh" if kind == "binary" else "relu",
        alpha=1e-3,
        batch_size=16,  # 53 samples: the last batch is smaller
        max_iter=1,
        shuffle=False,
        tol=0.0,
        random_state=0,
        **SETTINGS[setting],
    )
    ours, theirs = _ours_and_theirs(kind, **common)
    _same_start(ours, theirs, X, y)
    with _ignoring_convergence():
        theirs.fit(X, y)
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        ours.fit(X, y)
    for mine, ref in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True
    ):
        np.testing.assert_allclose(mine, ref, rtol=1e-9, atol=1e-12)
    # epoch 0 started from different random weights; the rest from the same
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-10)
    assert ours.n_iter_ == theirs.n_iter_ == 6
    assert ours.t_ == theirs.t_
    np.testing.assert_allclose(
        ours.predict_proba(X) if kind != "regressor" else ours.predict(X),
        theirs.predict_proba(X) if kind != "regressor" else theirs.predict(X),
        rtol=1e-9,
        atol=1e-12,
    )
    assert ours.out_activation_ == theirs.out_activation_
    if kind != "regressor":
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_stopping_rule_matches_scikit_learn():
    """tol / n_iter_no_change: both stop after the same epoch, same best_loss_."""
    X, y = _data("regressor")
    common = dict(
        hidden_layer_sizes=(6,),
        solver="sgd",
        learning_rate_init=0.3,
        batch_size=53,
        max_iter=1,
        shuffle=False,
        tol=1e-2,
        n_iter_no_change=3,
        learning_rate="adaptive",
        random_state=0,
    )
    ours, theirs = _ours_and_theirs("regressor", **common)
    _same_start(ours, theirs, X, y)
    ours.set_params(max_iter=500)
    theirs.set_params(max_iter=500)
    theirs.fit(X, y)
    ours.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 500
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-10)
    assert ours._optimizer.learning_rate == pytest.approx(
        theirs._optimizer.learning_rate, rel=1e-12
    )


def test_digits_accuracy():
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = model_selection.train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    model = MLPClassifier(
        hidden_layer_sizes=(64,), solver="adam", max_iter=200, random_state=0
    )
    # threadpoolctl comes with scikit-learn. 64-wide layers gain nothing from BLAS
    # threads, and on a small shared machine threads spinning cost 5-10x.
    from threadpoolctl import threadpool_limits

    with _ignoring_convergence(), threadpool_limits(1):
        model.fit(X_train, y_train)
    assert model.score(X_test, y_test) >= 0.96


def test_diabetes_r2_close_to_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X_train, X_test, y_train, y_test = model_selection.train_test_split(
        X, y, test_size=0.2, random_state=0
    )
    settings = dict(
        hidden_layer_sizes=(32,),
        solver="adam",
        learning_rate_init=0.01,
        max_iter=300,
        random_state=0,
    )
    with _ignoring_convergence():
        ours = MLPRegressor(**settings).fit(X_train, y_train)
        theirs = sklearn_nn.MLPRegressor(**settings).fit(X_train, y_train)
    ours_r2, theirs_r2 = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    assert ours_r2 > 0.2  # this split is hard: linear regression gets about 0.33
    assert abs(ours_r2 - theirs_r2) <= 0.05, (ours_r2, theirs_r2)


AGREEMENT_SETTINGS = dict(
    hidden_layer_sizes=(8,),
    solver="adam",
    learning_rate_init=0.01,
    batch_size=16,
    max_iter=12,
    shuffle=True,
    tol=0.0,
    random_state=3,
    early_stopping=True,
    validation_fraction=0.2,
)


def _agreement_data(kind):
    """60 samples with a learnable target (the best validation epoch comes late)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    if kind == "classifier":
        noisy = X[:, :3] + 0.5 * rng.normal(size=(60, 3))
        return X, np.array(["ant", "bee", "cat"])[np.argmax(noisy, axis=1)]
    return X, np.tanh(X @ rng.normal(size=(5, 2)))


@functools.cache
def _numpy_float64_fit(kind):
    X, y = _agreement_data(kind)
    cls = MLPClassifier if kind == "classifier" else MLPRegressor
    with _ignoring_convergence():
        return cls(backend="numpy", dtype="float64", **AGREEMENT_SETTINGS).fit(X, y)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_backends_agree_with_numpy(backend, kind, dtype):
    """A whole fit (Adam, shuffling, early stopping) on every backend and in both
    dtypes ends where NumPy's float64 fit ends, to ``xpnet.check.TOLERANCES``:
    weights, loss curve, validation scores, the best epoch and predictions."""
    X, y = _agreement_data(kind)
    reference = _numpy_float64_fit(kind)
    model = type(reference)(backend=backend.name, dtype=dtype, **AGREEMENT_SETTINGS)
    with _ignoring_convergence():
        model.fit(X, y)
    tol = TOLERANCES[dtype]
    best = int(np.argmax(reference.validation_scores_))
    assert 0 < best < reference.n_iter_ - 1 or kind == "regressor"
    assert model.n_iter_ == reference.n_iter_ == 12
    assert int(np.argmax(model.validation_scores_)) == best
    for mine, ref in zip(
        model.coefs_ + model.intercepts_,
        reference.coefs_ + reference.intercepts_,
        strict=True,
    ):
        assert isinstance(mine, np.ndarray) and mine.dtype == np.dtype(dtype)
        np.testing.assert_allclose(mine, ref, rtol=tol, atol=tol)
    for name in ("loss_curve_", "validation_scores_"):
        np.testing.assert_allclose(
            getattr(model, name), getattr(reference, name), rtol=tol, atol=tol
        )
    np.testing.assert_allclose(
        model.predict(X) if kind == "regressor" else model.predict_proba(X),
        reference.predict(X) if kind == "regressor" else reference.predict_proba(X),
        rtol=tol,
        atol=tol,
    )


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["no", "yes"]),
        np.array([True, False]),
        np.array([3, 7, 11]),
        np.array(["a", "b", "c", "d"], dtype=object),
    ],
    ids=["str-binary", "bool", "int", "object-str"],
)
def test_labels_of_any_type(labels):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    index = np.argmax(X @ rng.normal(size=(3, len(labels))), axis=1)
    y = labels[index]
    model = MLPClassifier(
        hidden_layer_sizes=(16,), max_iter=150, learning_rate_init=0.02, random_state=0
    )
    with _ignoring_convergence():
        model.fit(X, y)
    np.testing.assert_array_equal(model.classes_, np.unique(labels))
    assert model.classes_.dtype == np.unique(labels).dtype
    predicted = model.predict(X)
    assert predicted.dtype == y.dtype
    assert set(predicted.tolist()) <= set(labels.tolist())
    assert model.score(X, y) > 0.8
    proba = model.predict_proba(X)
    assert proba.shape == (120, len(labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert model.out_activation_ == ("logistic" if len(labels) == 2 else "softmax")


def test_multilabel_and_multioutput():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    Y = (X[:, :3] > 0).astype(int)
    clf = MLPClassifier(
        hidden_layer_sizes=(16,), max_iter=300, learning_rate_init=0.02, random_state=0
    )
    reg = MLPRegressor(
        hidden_layer_sizes=(16,), max_iter=300, learning_rate_init=0.02, random_state=0
    )
    with _ignoring_convergence():
        clf.fit(X, Y)
        reg.fit(X, X[:, :2] * 2.0)
    assert clf.out_activation_ == "logistic"
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict(X).shape == (100, 3)
    assert clf.score(X, Y) > 0.8
    assert reg.predict(X).shape == (100, 2)
    assert reg.score(X, X[:, :2] * 2.0) > 0.9


def test_dtype_follows_X_unless_given():
    """dtype=None trains float32 X in float32, float64 and integer X in float64
    (scikit-learn's rule); an explicit dtype wins. The fit records it in dtype_."""
    X, y = _data("regressor", n_samples=30)
    cases = [
        (X.astype(np.float32), None, np.float32),
        (X.astype(np.float64), None, np.float64),
        (np.round(X * 10).astype(np.int64), None, np.float64),
        (X.astype(np.float64), "float32", np.float32),
    ]
    for data, dtype, expected in cases:
        with _ignoring_convergence():
            model = MLPRegressor((4,), max_iter=2, dtype=dtype).fit(data, y)
        assert model.coefs_[0].dtype == expected and model.dtype_ == expected.__name__
        assert model.predict(data).dtype == expected


def test_sklearn_is_optional(tmp_path):
    """With scikit-learn unimportable, xpnet imports and both estimators fit."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['sklearn'] = None\n"
        "import numpy as np, warnings, xpnet\n"
        "warnings.simplefilter('ignore', xpnet.ConvergenceWarning)\n"
        "X = np.random.default_rng(0).normal(size=(40, 3))\n"
        "c = xpnet.MLPClassifier((5,), max_iter=3).fit(X, X[:, 0] > 0)\n"
        "r = xpnet.MLPRegressor((5,), max_iter=3).fit(X, X[:, 1])\n"
        "print(c.predict(X[:2]), r.predict(X[:2]).shape, repr(c))\n"
        "loaded = [m for m in sys.modules if sys.modules[m] is not None]\n"
        "assert not [m for m in loaded if m.startswith('sklearn')]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": xpnet.__path__[0] + "/.."},
    )
    assert result.returncode == 0, result.stderr
    assert "MLPClassifier(hidden_layer_sizes=(5,), max_iter=3)" in result.stdout


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["no", "yes", "maybe"]),
        np.array([False, True]),
        np.array([-4, 10]),
        np.array(["x", "y"], dtype=object),
    ],
    ids=["str", "bool", "int", "object-str"],
)
def test_save_and_load_round_trip(tmp_path, labels):
    """classes_ keep their values and dtype through a model file; predictions agree
    on another backend."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = labels[rng.integers(0, len(labels), 30)]
    with _ignoring_convergence():
        model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3).fit(X, y)
    xpnet.save(model, tmp_path / "m.npz")
    require_backend("array_api_strict")
    loaded = xpnet.load(tmp_path / "m.npz", backend="array_api_strict")
    assert type(loaded) is MLPClassifier
    assert loaded.classes_.dtype == model.classes_.dtype
    assert loaded.classes_.tolist() == model.classes_.tolist()
    assert loaded.backend == "array_api_strict"
    assert loaded.get_params() | {"backend": None} == model.get_params()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(
        loaded.predict_proba(X), model.predict_proba(X), rtol=1e-6
    )
    assert loaded.loss_curve_ == model.loss_curve_ and loaded.t_ == model.t_


def test_regressor_round_trip_and_unfitted_save(tmp_path):
    X, y = _data("regressor", n_samples=30)
    with _ignoring_convergence():
        model = MLPRegressor(
            hidden_layer_sizes=(4,),
            max_iter=2,
            dtype="float64",
            random_state=np.random.RandomState(0),
        ).fit(X, y)
    xpnet.save(model, tmp_path / "r.npz")
    loaded = xpnet.load(tmp_path / "r.npz")
    assert loaded.random_state is None  # a generator object is not saved
    assert loaded.coefs_[0].dtype == np.float64
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(xpnet.NotFittedError, match="unfitted"):
        xpnet.save(MLPRegressor(), tmp_path / "u.npz")


def test_warm_start_with_emptied_coefs_names_the_problem():
    X = np.random.default_rng(0).normal(size=(20, 3))
    model = xpnet.MLPRegressor(hidden_layer_sizes=(4,), max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        model.fit(X, X.sum(axis=1))
    model.coefs_ = []
    with pytest.raises(ValueError, match=r"coefs_ must hold one .* array per layer"):
        model.fit(X, X.sum(axis=1))
