"""``fit(..., validation_data=, scoring=)`` (issue 29): one score per epoch, equal to
``score(X_val, y_val)`` at that epoch's weights; early stopping stops on them."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet import MLPClassifier, MLPRegressor

quiet = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


def _classification(n_samples=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4))
    y = np.where(X[:, 0] + 0.8 * rng.normal(size=n_samples) > 0, "pos", "neg")
    return X, y


def _regression(n_samples=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    return X, np.sin(X @ rng.normal(size=3))


def _scores_at_each_epoch(X_val, y_val, **score_kwargs):
    seen = []

    def record(model, history):
        seen.append((history.validation_scores[-1], model.score(X_val, y_val)))

    return seen, record


@quiet
def test_classifier_scores_equal_score_at_each_epoch(backend):
    X, y = _classification()
    X_val, y_val = _classification(40, seed=1)
    seen, record = _scores_at_each_epoch(X_val, y_val)
    model = MLPClassifier((5,), max_iter=6, random_state=0, backend=backend)
    model.fit(X, y, validation_data=(X_val, y_val), callbacks=[record])
    assert len(model.validation_scores_) == model.n_iter_ == 6
    for recorded, scored in seen:  # the device's float32 count / n
        assert recorded == pytest.approx(scored, rel=1e-7)
    assert model.validation_scores_ == [r for r, _ in seen]


@quiet
def test_regressor_r2_and_a_callable_scorer(backend):
    X, y = _regression()
    X_val, y_val = _regression(30, seed=1)
    seen, record = _scores_at_each_epoch(X_val, y_val)
    model = MLPRegressor(
        (5,), max_iter=4, random_state=0, backend=backend, dtype="float64"
    )
    model.fit(X, y, validation_data=(X_val, y_val), callbacks=[record])
    for recorded, scored in seen:
        assert recorded == pytest.approx(scored, rel=1e-10)

    def neg_mse(m, X_, y_):
        return -float(np.mean((m.predict(X_) - y_) ** 2))

    seen2 = []

    def record2(m, history):
        seen2.append((history.validation_scores[-1], neg_mse(m, X_val, y_val)))

    model.fit(
        X, y, validation_data=(X_val, y_val), scoring=neg_mse, callbacks=[record2]
    )
    assert len(seen2) == 4 and all(a == b for a, b in seen2)


@quiet
def test_log_loss_scoring_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    X, y = _classification()
    X_val, y_val = _classification(40, seed=1)
    seen = []

    def record(m, history):
        expected = -metrics.log_loss(y_val, m.predict_proba(X_val), labels=m.classes_)
        seen.append((history.validation_scores[-1], expected))

    MLPClassifier((5,), max_iter=3, random_state=0, dtype="float64").fit(
        X, y, validation_data=(X_val, y_val), scoring="log_loss", callbacks=[record]
    )
    for recorded, expected in seen:
        assert recorded == pytest.approx(expected, rel=1e-9)


@quiet
def test_early_stopping_stops_where_the_recorded_scores_say():
    X, y = _classification(120)
    X_val, y_val = _classification(60, seed=3)
    model = MLPClassifier(
        (8,),
        max_iter=200,
        random_state=0,
        early_stopping=True,
        n_iter_no_change=3,
        tol=0.0,
        learning_rate_init=0.05,
    )
    model.fit(X, y, validation_data=(X_val, y_val))
    scores = model.validation_scores_
    assert model.n_iter_ == len(scores) < 200
    best = int(np.argmax(scores))  # the first best
    # stopped after n_iter_no_change + 1 epochs without a better score
    assert len(scores) == best + 1 + 3 + 1
    assert model.best_validation_score_ == scores[best]
    # the best epoch's weights were restored
    assert model.score(X_val, y_val) == pytest.approx(scores[best], rel=1e-7)


@quiet
def test_without_early_stopping_the_loss_still_decides():
    X, y = _classification()
    X_val, y_val = _classification(40, seed=1)
    a = MLPClassifier((5,), max_iter=5, random_state=0).fit(X, y)
    b = MLPClassifier((5,), max_iter=5, random_state=0)
    b.fit(X, y, validation_data=(X_val, y_val))
    assert a.loss_curve_ == b.loss_curve_ and a.validation_scores_ is None
    assert len(b.validation_scores_) == 5


def test_bad_validation_arguments_are_refused():
    X, y = _classification()
    model = MLPClassifier((3,), max_iter=1)
    with pytest.raises(ValueError, match="validation_data must be"):
        model.fit(X, y, validation_data=X)
    with pytest.raises(ValueError, match="scoring must be one of"):
        model.fit(X, y, validation_data=(X, y), scoring="r2")
    with pytest.raises(ValueError, match="scoring needs validation_data"):
        model.fit(X, y, scoring="accuracy")
    with pytest.raises(ValueError, match="y_val must have"):
        model.fit(X, y, validation_data=(X, y[:5]))
