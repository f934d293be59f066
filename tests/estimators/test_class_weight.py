"""``class_weight`` of MLPClassifier (issue 29): scikit-learn's meaning, multiplied
into ``sample_weight``, per output for multilabel, saved with the model."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet import MLPClassifier
from xpnet.estimators.class_weight import class_sample_weight

quiet = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


def _data(n_samples=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    y = np.array(["a"] * 40 + ["b"] * 14 + ["c"] * 6)
    return X, y


def _balanced(y):
    """scikit-learn's formula written out: n / (n_classes * count)."""
    classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
    return (len(y) / (len(classes) * counts.astype(np.float64)))[index]


def _same_fit(a, b):
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(p, q)
    assert a.loss_curve_ == b.loss_curve_


@quiet
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_balanced_equals_the_equivalent_sample_weight_bit_for_bit(backend, solver):
    X, y = _data()
    kwargs = {"solver": solver, "max_iter": 5, "random_state": 0, "backend": backend}
    weighted = MLPClassifier((4,), class_weight="balanced", **kwargs).fit(X, y)
    plain = MLPClassifier((4,), **kwargs).fit(X, y, sample_weight=_balanced(y))
    _same_fit(weighted, plain)
    unweighted = MLPClassifier((4,), **kwargs).fit(X, y)
    assert weighted.loss_curve_ != unweighted.loss_curve_


@quiet
def test_dict_times_sample_weight_and_early_stopping():
    X, y = _data()
    sw = np.linspace(0.5, 2.0, len(y))
    kwargs = {"max_iter": 4, "random_state": 0, "early_stopping": True}
    weighted = MLPClassifier((4,), class_weight={"c": 3.0}, **kwargs)
    weighted.fit(X, y, sample_weight=sw)
    expected = sw * np.where(y == "c", 3.0, 1.0)
    plain = MLPClassifier((4,), **kwargs).fit(X, y, sample_weight=expected)
    _same_fit(weighted, plain)
    assert weighted.validation_scores_ == plain.validation_scores_


def test_balanced_matches_scikit_learn():
    utils = pytest.importorskip("sklearn.utils.class_weight")
    _, y = _data()
    classes = np.unique(y)
    Y = (y[:, None] == classes).astype(float)
    ours = class_sample_weight("balanced", classes, Y, "multiclass", incremental=False)
    np.testing.assert_array_equal(ours, utils.compute_sample_weight("balanced", y))
    Y2 = np.random.default_rng(1).integers(0, 2, size=(30, 3)).astype(float)
    multi = class_sample_weight(
        "balanced", np.arange(3), Y2, "multilabel-indicator", incremental=False
    )
    np.testing.assert_allclose(
        multi, utils.compute_sample_weight("balanced", Y2), rtol=1e-15
    )
    dicts = [{0: 1.0, 1: 2.0}, {1: 0.5}, {0: 3.0}]
    np.testing.assert_allclose(
        class_sample_weight(
            dicts, np.arange(3), Y2, "multilabel-indicator", incremental=False
        ),
        utils.compute_sample_weight(dicts, Y2),
    )


@pytest.mark.parametrize(
    ("class_weight", "match"),
    [
        ({"z": 2.0}, "label 'z'"),
        ({"a": -1.0}, "class_weight\\['a'\\]"),
        ("heavy", "class_weight must be"),
        ({"a": 0.0, "b": 0.0, "c": 0.0}, "all zero"),
    ],
)
def test_bad_class_weight_is_refused(class_weight, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        MLPClassifier((3,), max_iter=1, class_weight=class_weight).fit(X, y)


def test_partial_fit_refuses_balanced():
    X, y = _data()
    model = MLPClassifier((3,), class_weight="balanced")
    with pytest.raises(ValueError, match="partial_fit"):
        model.partial_fit(X, y, classes=["a", "b", "c"])


@quiet
def test_class_weight_is_saved_with_the_model(tmp_path):
    X, y = _data()
    model = MLPClassifier((3,), max_iter=2, class_weight={"c": 2.5, "a": 1.0})
    model.fit(X, y)
    xpnet.save(model, tmp_path / "m.safetensors")
    loaded = xpnet.load(tmp_path / "m.safetensors")
    assert loaded.class_weight == {"c": 2.5, "a": 1.0}
    Ym = (np.random.default_rng(0).random((60, 2)) > 0.5).astype(int)
    multi = MLPClassifier((3,), max_iter=2, class_weight=[{1: 2.0}])
    with pytest.raises(ValueError, match="list of 2 dicts"):
        multi.fit(X, Ym)
    multi.set_params(class_weight=[{1: 2.0}, {0: 0.5}]).fit(X, Ym)
    xpnet.save(multi, tmp_path / "m2.safetensors")
    assert xpnet.load(tmp_path / "m2.safetensors").class_weight == [{1: 2.0}, {0: 0.5}]
