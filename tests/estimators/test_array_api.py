"""The estimators under scikit-learn's array-API rule (issue 22): X's namespace and
device in, the same out; other libraries' arrays converted without dispatch; an
explicit backend wins and says so. ``SCIPY_ARRAY_API=1`` comes from tests/conftest.py.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest
from helpers import skip_unless_array_api_runs, skip_without_array_api_dispatch

from xpnet import ConvergenceWarning, MLPClassifier, MLPRegressor

sklearn = pytest.importorskip("sklearn")
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    _yield_array_api_checks,
    check_array_api_input,
)

pytestmark = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _dispatch_runs_here():
    skip_without_array_api_dispatch()  # SciPy < 1.14: scikit-learn refuses it


DEFAULTS = [MLPClassifier(), MLPRegressor()]
# What scikit-learn yields, and the dtypes it leaves out (NumPy float32,
# array-api-strict's CPU device in float32 and device1 in float64).
EXTRA_DTYPES = [
    partial(check_array_api_input, array_namespace=ns, device_name=dev, dtype_name=dt)
    for ns, dev, dt in [
        ("numpy", None, "float32"),
        ("array_api_strict", "CPU_DEVICE", "float32"),
        ("array_api_strict", "device1", "float64"),
    ]
]


def _check_id(check) -> str:
    words = [
        f"{k}={v.xp}:{v.device}" if hasattr(v, "xp") else f"{k}={v}"
        for k, v in check.keywords.items()
    ]
    return f"{check.func.__name__}({', '.join(words)})"


CASES = [
    pytest.param(estimator, check, id=f"{type(estimator).__name__}-{_check_id(check)}")
    for estimator in DEFAULTS
    for check in [*_yield_array_api_checks(estimator), *EXTRA_DTYPES]
]


@pytest.mark.parametrize("estimator, check", CASES)
def test_scikit_learn_array_api_checks_on_the_defaults(estimator, check):
    skip_unless_array_api_runs(check)  # cupy, torch cuda: only on a GPU machine
    check(type(estimator).__name__, estimator)


def _data(n_samples=60, dtype="float32"):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_samples, 4)).astype(dtype)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def _strict(array, device="CPU_DEVICE"):
    import array_api_strict as strict

    return strict.asarray(array, device=strict.Device(device))


def _torch(array):
    torch = pytest.importorskip("torch")
    return torch.asarray(array)


# StandardScaler's first partial mean divides 0 by 0 (NumPy's errstate hides it, not
# array-api-strict's arrays): scikit-learn's warning, not xpnet's.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("library", ["torch", "array_api_strict"])
def test_pipeline_on_device_arrays_answers_in_their_namespace(library):
    """StandardScaler and MLPClassifier in one Pipeline under dispatch: the labels
    come back in X's namespace, and cross_val_score runs on such arrays."""
    if library == "array_api_strict":
        pytest.importorskip("array_api_strict")
    to = _torch if library == "torch" else _strict
    X, y = _data()
    Xd, yd = to(X), to(y)
    with sklearn.config_context(array_api_dispatch=True):
        pipe = make_pipeline(StandardScaler(), MLPClassifier(random_state=0))
        predicted = pipe.fit(Xd, yd).predict(Xd)
        proba = pipe.predict_proba(Xd)
        scores = cross_val_score(pipe, Xd, yd, cv=3)
        coef = pipe[-1].coefs_[0]
    assert type(predicted) is type(Xd) and type(proba) is type(Xd)
    assert type(coef) is type(Xd)
    assert str(proba.dtype).endswith("float32") and tuple(proba.shape) == (60, 2)
    assert np.mean(np.asarray(predicted) == y) > 0.9
    assert scores.shape == (3,) and scores.mean() > 0.7


def test_device1_fit_keeps_its_device_and_refuses_other_input():
    """Under dispatch a fit on array-api-strict's device1 keeps its weights there
    and answers there; NumPy X at predict is refused, naming the method."""
    X, y = _data(dtype="float64")
    Xd = _strict(X, "device1")
    with sklearn.config_context(array_api_dispatch=True):
        model = MLPRegressor(max_iter=20, random_state=0).fit(Xd, _strict(1.0 * y))
        out = model.predict(Xd)
        assert str(out.device) == str(Xd.device) == str(model.coefs_[0].device)
        with pytest.raises(ValueError, match=r"MLPRegressor.predict\(\) must use"):
            model.predict(X)
    assert model.dtype_ == "float64"


def test_without_dispatch_other_libraries_are_converted_to_numpy():
    torch = pytest.importorskip("torch")
    X, y = _data()
    model = MLPClassifier(max_iter=20, random_state=0).fit(_torch(X), _torch(y))
    reference = MLPClassifier(max_iter=20, random_state=0).fit(X, y)
    assert isinstance(model.coefs_[0], np.ndarray) and model.dtype_ == "float32"
    np.testing.assert_array_equal(model.coefs_[0], reference.coefs_[0])
    assert isinstance(model.predict(torch.asarray(X)), np.ndarray)
    assert model.score(_torch(X), _torch(y)) == reference.score(X, y)


def test_an_explicit_backend_wins_says_so_and_answers_in_X_namespace():
    torch = pytest.importorskip("torch")
    X, y = _data()
    with pytest.warns(UserWarning, match="backend='numpy' was chosen"):
        model = MLPClassifier(max_iter=20, random_state=0, backend="numpy")
        model.fit(_torch(X), _torch(y))
    assert isinstance(model.coefs_[0], np.ndarray)
    predicted = model.predict(_torch(X))
    assert isinstance(predicted, torch.Tensor)
    reference = MLPClassifier(max_iter=20, random_state=0).fit(X, y)
    np.testing.assert_array_equal(predicted.numpy(), reference.predict(X))


def test_string_labels_stay_on_the_host_numeric_labels_follow_X():
    X, y = _data()
    names = np.array(["no", "yes"])[y]
    Xd = _strict(X)
    with sklearn.config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        text = MLPClassifier(max_iter=5, random_state=0).fit(Xd, names).predict(Xd)
        numbers = MLPClassifier(max_iter=5, random_state=0).fit(Xd, _strict(y))
        labels = numbers.predict(Xd)
    assert isinstance(text, np.ndarray) and text.dtype.kind == "U"
    assert type(labels) is type(Xd) and isinstance(numbers.classes_, np.ndarray)


def test_a_fit_that_follows_torch_equals_the_torch_backend_on_numpy():
    """The same numbers whichever way the backend is chosen: X's torch tensors under
    dispatch, or backend="torch" on NumPy data (float64)."""
    pytest.importorskip("torch")
    X, y = _data(dtype="float64")
    with sklearn.config_context(array_api_dispatch=True):
        followed = MLPClassifier(max_iter=10, random_state=0).fit(_torch(X), _torch(y))
        proba = followed.predict_proba(_torch(X))
    chosen = MLPClassifier(max_iter=10, random_state=0, backend="torch").fit(X, y)
    for a, b in zip(followed.coefs_, chosen.coefs_, strict=True):
        np.testing.assert_array_equal(a.numpy(), b)
    np.testing.assert_array_equal(proba.numpy(), chosen.predict_proba(X))


def test_a_verbose_fit_names_its_backend_and_dtype(capsys):
    X, y = _data()
    MLPClassifier(max_iter=1, verbose=2, random_state=0).fit(X, y)
    assert "MLPClassifier: 'numpy', float32" in capsys.readouterr().out


def test_str_of_a_fitted_model_says_the_dtype_its_repr_stays_the_constructor_call():
    """dtype=None follows X, so the repr alone cannot say what the fit used: ``str``
    (``print``) of a fitted model adds it, while the repr stays the call scikit-learn
    prints inside a Pipeline."""
    X, y = _data(dtype="float64")
    model = MLPClassifier(max_iter=1, random_state=0)
    assert str(model) == repr(model) == "MLPClassifier(max_iter=1, random_state=0)"
    model.fit(X.astype(np.float32), y)
    assert str(model).endswith("  # fitted: 'numpy', float32, eager")
    model.fit(X, y)
    assert str(model) == repr(model) + "  # fitted: 'numpy', float64, eager"
    assert repr(model) == "MLPClassifier(max_iter=1, random_state=0)"
    assert "#" not in repr(make_pipeline(StandardScaler(), model))


def test_dask_input_under_dispatch_keeps_the_host_block_path():
    da = pytest.importorskip("dask.array")
    X, y = _data()
    Xd, yd = da.from_array(X, chunks=20), da.from_array(y, chunks=20)
    with sklearn.config_context(array_api_dispatch=True):
        model = MLPClassifier(max_iter=3, random_state=0).fit(Xd, yd)
        predicted = model.predict(Xd)
    assert isinstance(model.coefs_[0], np.ndarray) and model.dtype_ == "float32"
    assert isinstance(predicted, da.Array) and predicted.shape == (60,)
