"""The training loop: stopping, faults (divergence, interrupt, out of memory),
callbacks, checkpoint/resume, warm_start and partial_fit, progress, input checks."""

from __future__ import annotations

import os
import re
import signal
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import xpnet
from xpnet import (
    ConvergenceWarning,
    DeviceMemoryError,
    DivergenceError,
    MLPClassifier,
    MLPRegressor,
)
from xpnet.estimators import fit as fit_module
from xpnet.maths import network as network_module
from xpnet.maths.optim import SGD, Adam
from xpnet.testing import require_backend
from xpnet.training.errors import DIVERGED
from xpnet.training.loop import Run, _memory_message, stratified_split, train

quiet = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


def _regression(n_samples=40, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    return X, np.sin(X @ rng.normal(size=n_features))


def _classification(n_samples=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4))
    y = np.where(X[:, 0] + 0.8 * rng.normal(size=n_samples) > 0, "pos", "neg")
    return X, y


def _snapshots():
    """A callback recording every epoch's coefs_ and intercepts_ (host copies)."""
    seen = []

    def record(model, history):
        seen.append([p.copy() for p in model.coefs_ + model.intercepts_])

    return seen, record


def _params(model):
    return model.coefs_ + model.intercepts_


def _assert_params_equal(actual, expected, rtol=0.0):
    for a, b in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


class _StepSpy:
    """Wraps an optimizer's ``step_flat``: records parameters after each step and can
    raise an exception (or send SIGINT) at step ``at``, before or during it."""

    def __init__(self, monkeypatch, cls, *, at=None, fault=None, backend=None):
        self.after = []
        self.calls = 0
        original = cls.step_flat
        spy = self

        def step_flat(optimizer, params, grads):
            spy.calls += 1
            if spy.calls == at and fault == "raise":
                raise KeyboardInterrupt
            if spy.calls == at and fault == "sigint":
                os.kill(os.getpid(), signal.SIGINT)  # held until this step ends
            params = original(optimizer, params, grads)
            views = optimizer.layout.views(optimizer.xp, params)
            spy.after.append([np.array(p, copy=True) for p in views])
            return params

        monkeypatch.setattr(cls, "step_flat", step_flat)


# ---- stopping -----------------------------------------------------------------------


def test_stratified_split_keeps_class_shares():
    labels = np.array([0] * 180 + [1] * 20)
    rng = np.random.default_rng(0)
    train_idx, val_idx = stratified_split(rng, labels, 20)
    assert sorted(np.concatenate([train_idx, val_idx]).tolist()) == list(range(200))
    assert np.bincount(labels[val_idx]).tolist() == [18, 2]


def test_early_stopping_restores_best_weights():
    X, y = _classification(n_samples=120)
    seen, record = _snapshots()
    model = MLPClassifier(
        hidden_layer_sizes=(16,),
        learning_rate_init=0.05,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=3,
        max_iter=200,
        random_state=0,
        dtype="float64",
    )
    model.fit(X, y, callbacks=[record])
    scores = model.validation_scores_
    assert len(scores) == model.n_iter_ == len(seen) < 200
    best = int(np.argmax(scores))  # the first epoch with the highest score
    assert best < len(scores) - 1, "the test needs a best epoch before the last"
    assert model.best_validation_score_ == scores[best]
    assert model.best_loss_ is None
    _assert_params_equal(_params(model), seen[best])
    assert not np.allclose(_params(model)[0], seen[-1][0])


def test_partial_fit_refuses_early_stopping():
    X, y = _regression()
    with pytest.raises(ValueError, match="partial_fit does not support early_stop"):
        MLPRegressor(early_stopping=True).partial_fit(X, y)


def test_convergence_warning_only_at_max_iter():
    X, y = _regression()
    with pytest.warns(ConvergenceWarning, match=r"maximum iterations \(3\)"):
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=500, tol=0.5)
        model.fit(X, y)  # stops on tol long before max_iter: no warning
    assert model.n_iter_ < 500


# ---- faults -------------------------------------------------------------------------


def test_divergence_names_the_epoch_and_keeps_last_good_weights():
    X, y = _regression()
    seen, record = _snapshots()

    def blow_up_after_two(model, history):
        record(model, history)
        if history.n_iter == 2:
            model._optimizer.learning_rate = float("inf")  # epoch 3 blows up

    model = MLPRegressor(
        hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=0.01, max_iter=10
    )
    with pytest.raises(DivergenceError, match=r"epoch 3.*smaller learning_rate_init"):
        model.fit(X, y, callbacks=[blow_up_after_two])
    assert len(model.loss_curve_) == 2
    assert all(np.isfinite(p).all() for p in _params(model))
    _assert_params_equal(_params(model), seen[-1])
    assert np.isfinite(model.predict(X)).all()
    model.partial_fit(X, y)  # usable: a fresh optimizer at a sane rate
    assert model.n_iter_ == 1


@quiet
def test_interrupt_between_epochs_leaves_completed_steps(monkeypatch):
    X, y = _regression()  # 40 samples, batches of 10: 4 steps per epoch
    settings = dict(hidden_layer_sizes=(6,), batch_size=10, max_iter=5, random_state=1)
    reference = MLPRegressor(**settings, dtype="float64").set_params(max_iter=2)
    reference.fit(X, y)
    _StepSpy(monkeypatch, Adam, at=9, fault="raise")
    model = MLPRegressor(**settings, dtype="float64")
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    assert model.n_iter_ == 2 and model.t_ == 80
    np.testing.assert_array_equal(model.loss_curve_, reference.loss_curve_)
    _assert_params_equal(_params(model), _params(reference))


@pytest.mark.parametrize("fault", ["raise", "sigint"])
def test_interrupt_mid_epoch_keeps_the_last_completed_step(monkeypatch, fault):
    """A raise inside step 7 keeps step 6; Ctrl-C during step 7 finishes step 7."""
    X, y = _classification(n_samples=40)
    settings = dict(hidden_layer_sizes=(6,), solver="sgd", batch_size=10, max_iter=3)
    spy = _StepSpy(monkeypatch, SGD)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(**settings, random_state=2, dtype="float64").fit(X, y)
    reference = spy.after
    _StepSpy(monkeypatch, SGD, at=7, fault=fault)
    model = MLPClassifier(**settings, random_state=2, dtype="float64")
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    kept = 6 if fault == "raise" else 7
    _assert_params_equal(_params(model), reference[kept - 1])
    assert model.n_iter_ == 1 and len(model.loss_curve_) == 1
    assert model.predict(X).shape == (40,)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("error", ["MemoryError", "OutOfMemoryError"])
def test_device_out_of_memory_names_batch_and_data_size(monkeypatch, backend, error):
    X, y = _regression()
    # NumPy's MemoryError, or a torch/CuPy-style error class of that name.
    exc_type = (
        MemoryError if error == "MemoryError" else type(error, (RuntimeError,), {})
    )

    def out_of_memory(*args, **kwargs):
        raise exc_type("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(network_module, "loss_and_gradients", out_of_memory)
    model = MLPRegressor(hidden_layer_sizes=(5,), batch_size=16, backend=backend.name)
    with pytest.raises(DeviceMemoryError, match=r"batch_size=16.*\(40, 3\)") as info:
        model.fit(X, y)
    assert isinstance(info.value.__cause__, exc_type)
    assert "smaller batch_size" in str(info.value)


# ---- callbacks and progress ---------------------------------------------------------


def test_callback_objects_and_bad_callbacks():
    X, y = _regression()

    class Recorder:
        def __init__(self):
            self.losses = []

        def on_epoch_end(self, model, history):
            self.losses.append(history.loss_curve[-1])

    recorder = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPRegressor((3,), max_iter=2).fit(X, y, callbacks=[recorder])
    assert recorder.losses == model.loss_curve_
    with pytest.raises(TypeError, match="callbacks must be callables"):
        MLPRegressor((3,), max_iter=2).fit(X, y, callbacks=[42])


def test_callback_returning_true_stops_training():
    X, y = _regression()
    calls = []

    def stop_at_three(model, history):
        calls.append((history.n_iter, len(history.loss_curve)))
        np.testing.assert_array_equal(model.loss_curve_, history.loss_curve)
        return history.n_iter == 3

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stopped by the callback: no warning
        model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, tol=0.0)
        model.fit(X, y, callbacks=[stop_at_three])
    assert calls == [(1, 1), (2, 2), (3, 3)]
    assert model.n_iter_ == 3


@quiet
def test_verbose_shows_progress(capsys):
    X, y = _regression()
    MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, verbose=True).fit(X, y)
    err = capsys.readouterr().err
    assert "2/2" in err and "loss=" in err


# ---- checkpoint and resume ----------------------------------------------------------


@quiet
@pytest.mark.parametrize(
    "kind, settings",
    [
        ("classifier", dict(solver="adam", early_stopping=True)),
        ("regressor", dict(solver="sgd", learning_rate="invscaling", momentum=0.5)),
    ],
)
def test_resume_from_checkpoint_is_identical(monkeypatch, tmp_path, kind, settings):
    """Stop inside epoch 3 (step 13), resume from the step-12 checkpoint: the final
    weights and history equal an uninterrupted run's, in float64."""
    if kind == "classifier":
        X, y = _classification(n_samples=80)  # 72 training samples: 5 steps
        cls = MLPClassifier
    else:
        X, y = _regression(n_samples=72)
        cls = MLPRegressor
    common = dict(
        hidden_layer_sizes=(7, 5),
        batch_size=16,
        max_iter=6,
        tol=0.0,
        random_state=0,
        dtype="float64",
        **settings,
    )
    whole = cls(**common).fit(
        X, y, checkpoint=tmp_path / "a.safetensors", checkpoint_every=3
    )
    optimizer = Adam if settings["solver"] == "adam" else SGD
    _StepSpy(monkeypatch, optimizer, at=13, fault="raise")
    interrupted = cls(**common)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X, y, checkpoint=tmp_path / "b.safetensors", checkpoint_every=3)
    monkeypatch.undo()
    assert interrupted.n_iter_ == 2
    spy = _StepSpy(monkeypatch, optimizer)
    resumed = cls(**common).fit(X, y, resume_from=tmp_path / "b.safetensors")
    assert spy.calls == 6 * 5 - 12  # only the steps after the checkpoint ran
    _assert_params_equal(_params(resumed), _params(whole))  # bit for bit
    assert resumed.loss_curve_ == whole.loss_curve_
    assert resumed.n_iter_ == whole.n_iter_ and resumed.t_ == whole.t_
    if kind == "classifier":
        assert resumed.validation_scores_ == whole.validation_scores_
        np.testing.assert_array_equal(resumed.predict(X), whole.predict(X))
    assert not list(tmp_path.glob("*.tmp*")), "no temporary files left behind"


def test_resume_refuses_files_that_are_not_checkpoints(tmp_path):
    X, y = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPRegressor(hidden_layer_sizes=(3,), max_iter=1).fit(X, y)
    xpnet.save(model, tmp_path / "model.safetensors")
    with pytest.raises(xpnet.ModelFileError, match="not an xpnet checkpoint"):
        MLPRegressor(hidden_layer_sizes=(3,)).fit(
            X, y, resume_from=tmp_path / "model.safetensors"
        )
    xpnet.files.tensor_file.save_tensors(
        tmp_path / "bad.safetensors", {"checkpoint": {"version": 1}}, {}
    )
    with pytest.raises(xpnet.ModelFileError, match="malformed checkpoint"):
        MLPRegressor(hidden_layer_sizes=(3,)).fit(
            X, y, resume_from=tmp_path / "bad.safetensors"
        )


@quiet
def test_resume_refuses_other_parameters(tmp_path):
    X, y = _regression()
    MLPRegressor(hidden_layer_sizes=(4,), max_iter=1).fit(
        X, y, checkpoint=tmp_path / "c.safetensors"
    )
    with pytest.raises(ValueError, match=r"different parameters \['alpha'\]"):
        MLPRegressor(hidden_layer_sizes=(4,), alpha=0.5).fit(
            X, y, resume_from=tmp_path / "c.safetensors"
        )


# ---- warm_start and partial_fit -----------------------------------------------------


@quiet
def test_warm_start_keeps_weights_and_starts_a_fresh_optimizer():
    X, y = _regression()
    first = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    first.set_params(warm_start=True, batch_size=10, dtype="float64").fit(X, y)
    again = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    again.set_params(warm_start=True, batch_size=10, dtype="float64")
    again.fit(X, y)
    # A model given first's weights by hand and fitted with warm_start: the same.
    by_hand = MLPRegressor(hidden_layer_sizes=(5,), max_iter=1, random_state=5)
    by_hand.set_params(batch_size=10, dtype="float64").fit(X, y)
    by_hand.coefs_ = [c.copy() for c in again.coefs_]
    by_hand.intercepts_ = [b.copy() for b in again.intercepts_]
    by_hand.set_params(warm_start=True, max_iter=3, random_state=0)
    by_hand.fit(X, y)
    first.fit(X, y)
    _assert_params_equal(_params(first), _params(by_hand))
    assert first._optimizer.t == 12  # 3 epochs of 4 steps: a fresh Adam
    assert first.t_ == 6 * 40 and len(first.loss_curve_) == 6
    assert first.n_iter_ == 3
    cold = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    cold.set_params(batch_size=10, dtype="float64")
    cold.fit(X, y)
    cold.fit(X, y)  # no warm_start: starts over from the same random weights
    _assert_params_equal(_params(cold), _params(again))


@quiet
def test_warm_start_may_switch_early_stopping():
    X, y = _classification(n_samples=60)
    model = MLPClassifier((4,), max_iter=3, warm_start=True, random_state=0)
    model.set_params(early_stopping=True).fit(X, y)
    assert model.best_loss_ is None and len(model.validation_scores_) == 3
    model.set_params(early_stopping=False).fit(X, y)
    assert model.best_loss_ == min(model.loss_curve_[3:])
    model.set_params(early_stopping=True).fit(X, y)
    assert len(model.validation_scores_) == 6


def test_convergence_warning_points_at_the_callers_fit():
    X, y = _regression()
    with pytest.warns(ConvergenceWarning) as record:
        MLPRegressor(hidden_layer_sizes=(3,), max_iter=1).fit(X, y)
    assert record[0].filename == __file__


def test_partial_fit_keeps_the_optimizer():
    X, y = _classification(n_samples=40)
    model = MLPClassifier(hidden_layer_sizes=(5,), batch_size=20, dtype="float64")
    for _ in range(3):
        model.partial_fit(X, y, classes=["neg", "pos"])
        assert model.n_iter_ == 1
    assert model._optimizer.t == 6
    assert model.t_ == 120 and len(model.loss_curve_) == 3
    with pytest.raises(ValueError, match=r"labels not in classes_.*'maybe'"):
        model.partial_fit(X[:2], ["neg", "maybe"])
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)


# ---- input checks -------------------------------------------------------------------


BAD_SETTINGS = [
    (dict(activation="softplus"), ValueError, "activation must be one of"),
    (dict(solver="newton"), ValueError, r"solver must be one of \['sgd', 'adam', 'lb"),
    (dict(hidden_layer_sizes=(4, 0)), ValueError, "hidden_layer_sizes must hold"),
    (dict(batch_size=0), ValueError, "batch_size must be"),
    (dict(learning_rate_init=-0.1), ValueError, "learning_rate_init must be in"),
    (dict(learning_rate="cyclic"), ValueError, "learning_rate must be one of"),
    (dict(momentum=1.5), ValueError, "momentum must be in"),
    (dict(max_iter=0), ValueError, "max_iter must be"),
    (dict(dtype="int32"), ValueError, "dtype must be 'float32' or 'float64'"),
    (dict(dtype="complex64"), ValueError, "dtype must be"),
    (dict(backend="tensorflow"), xpnet.BackendError, "unknown backend"),
    (dict(alpha="big"), TypeError, "alpha must be a real number"),
]


@pytest.mark.parametrize("settings, error, message", BAD_SETTINGS)
def test_bad_settings_are_named(settings, error, message):
    X, y = _regression()
    with pytest.raises(error, match=message):
        MLPRegressor(**settings).fit(X, y)


BAD_DATA = [
    ("1-D X", lambda X, y: (X[:, 0], y), ValueError, "2-D.*[Rr]eshape"),
    ("3-D X", lambda X, y: (X[:, :, None], y), ValueError, "3-D shape"),
    ("rows", lambda X, y: (X, y[:-1]), ValueError, "y must have 40 rows"),
    ("empty", lambda X, y: (X[:0], y[:0]), ValueError, "0 sample|must not be empty"),
    ("NaN", lambda X, y: (np.where(X > 1, np.nan, X), y), ValueError, "NaN or inf"),
    ("inf y", lambda X, y: (X, np.where(y > 0.5, np.inf, y)), ValueError, "NaN or inf"),
]


@pytest.mark.parametrize("name, spoil, error, message", BAD_DATA)
def test_bad_data_is_named(backend, name, spoil, error, message):
    """The same errors for host data and for arrays of the model's backend."""
    X, y = spoil(*_regression())
    for data in (X, backend.asarray(X)):
        with pytest.raises(error, match=message):
            MLPRegressor(backend=backend.name).fit(data, y)


def test_text_data_is_refused():
    X, y = _regression()
    with pytest.raises(TypeError, match="real numbers.*could not convert"):
        MLPRegressor().fit(X.astype(str).astype(object) + "x", y)


@quiet
def test_float_labels_round_trip(tmp_path):
    X, y = _regression()
    model = MLPClassifier((3,), max_iter=2).fit(X, np.where(y > 0, 1.0, -1.0))
    xpnet.save(model, tmp_path / "f.npz")
    loaded = xpnet.load(tmp_path / "f.npz")
    assert loaded.classes_.tolist() == [-1.0, 1.0]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@quiet
def test_batch_size_larger_than_data_is_clipped_with_a_warning():
    X, y = _regression()
    with pytest.warns(UserWarning, match="batch_size=100 .* clipped to 40"):
        MLPRegressor(hidden_layer_sizes=(3,), batch_size=100, max_iter=1).fit(X, y)


@quiet
def test_foreign_arrays_and_wrong_feature_count(backend):
    X, y = _regression()
    model = MLPRegressor(hidden_layer_sizes=(3,), max_iter=1, backend=backend.name)
    model.fit(backend.asarray(X), y)  # the model's own arrays are accepted
    with pytest.raises(ValueError, match="X has 2 features, but MLPRegressor is exp"):
        model.predict(X[:, :2])
    other = "array_api_strict" if backend.library != "array_api_strict" else "numpy"
    if other == "numpy":
        return  # host NumPy data is always accepted
    foreign = require_backend(other).asarray(X)  # computed here, answered there
    answer = model.predict(foreign)
    assert type(answer) is type(foreign)
    np.testing.assert_array_equal(
        require_backend(other).to_numpy(answer), model.predict(X)
    )


# ---- what a fit says: exact messages, lines and stopping boundaries -----------------


def _printed(capsys):
    """The lines a ``verbose=2`` fit printed, after the model's own first line."""
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("MLP")  # "MLPRegressor: 'numpy', float64, eager"
    return lines[1:]


@quiet
@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_lines_say_each_epoch_and_why_training_stopped(capsys, early_stopping):
    X, y = _classification()
    model = MLPClassifier(
        hidden_layer_sizes=(4,),
        max_iter=50,
        tol=0.5,
        n_iter_no_change=2,
        early_stopping=early_stopping,
        verbose=2,
        random_state=0,
        dtype="float64",
    ).fit(X, y)
    assert model.n_iter_ == 4
    expected = []
    for i, loss in enumerate(model.loss_curve_):
        expected.append(f"Iteration {i + 1}, loss = {loss:.8f}")
        if early_stopping:
            expected.append(f"Validation score: {model.validation_scores_[i]:f}")
    what = "Validation score" if early_stopping else "Training loss"
    expected.append(
        f"{what} did not improve more than tol=0.500000 for 2 consecutive epochs. "
        "Stopping."
    )
    assert _printed(capsys) == expected


def test_callback_stopping_early_says_so(capsys):
    X, y = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stopped by the callback: no warning
        model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=10, verbose=2)
        model.fit(X, y, callbacks=[lambda model, history: history.n_iter == 2])
    assert model.n_iter_ == 2
    assert _printed(capsys) == [
        *(
            f"Iteration {i + 1}, loss = {loss:.8f}"
            for i, loss in enumerate(model.loss_curve_)
        ),
        "A callback asked to stop. Stopping.",
    ]


class _Frozen:
    """A schedule holding the rate at 0: every epoch's loss and score repeat exactly
    (with one batch per epoch)."""

    def factor(self, epoch, history):
        return 0.0


@quiet
@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_repeated_loss_or_score_with_tol_0_is_no_stall(early_stopping):
    """scikit-learn's rules: no improvement is ``loss > best_loss - tol`` and
    ``score < best_score + tol``; with tol=0 an equal value resets the count."""
    X, y = _classification(n_samples=40)
    model = MLPClassifier(
        hidden_layer_sizes=(3,),
        learning_rate=_Frozen(),  # batch_size "auto": one batch
        tol=0.0,
        n_iter_no_change=1,
        max_iter=5,
        early_stopping=early_stopping,
        random_state=0,
        dtype="float64",
    ).fit(X, y)
    curve = model.validation_scores_ if early_stopping else model.loss_curve_
    assert len(set(curve)) == 1, "the test needs one repeated value"
    assert model.n_iter_ == 5


def test_convergence_warning_message():
    X, y = _regression()
    message = (
        "Stochastic optimizer: maximum iterations (2) reached and the optimization "
        "hasn't converged yet; raise max_iter or tol"
    )
    with pytest.warns(ConvergenceWarning, match=f"^{re.escape(message)}$"):
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=2).fit(X, y)


@pytest.mark.parametrize("batch_size", [10, 40])
def test_divergence_message_names_the_loss_or_the_weights(batch_size):
    """Several batches: the batches after the blow-up have a NaN loss; one batch: its
    loss (before the update) is finite, the weights after it are not."""
    X, y = _regression()

    def blow_up_after_two(model, history):
        if history.n_iter == 2:
            model._optimizer.learning_rate = float("inf")

    model = MLPRegressor(
        hidden_layer_sizes=(5,),
        solver="sgd",
        learning_rate_init=0.01,
        batch_size=batch_size,
        max_iter=10,
    )
    what = "the loss is nan" if batch_size == 10 else "the weights became NaN or inf"
    message = (
        f"training diverged in epoch 3: {what}; the model keeps the weights of the "
        f"last good epoch. {DIVERGED}: scale the inputs, use a smaller "
        "learning_rate_init (now 0.01) or raise alpha"
    )
    with pytest.raises(DivergenceError, match=f"^{re.escape(message)}$"):
        model.fit(X, y, callbacks=[blow_up_after_two])


@quiet
def test_float32_epoch_loss_is_summed_in_float32():
    """The epoch's sum starts in the parameters' dtype: each epoch's total (64
    rows: the mean times 64 is exact) is a float32 number."""
    X, y = _regression(n_samples=64)
    model = MLPRegressor(
        hidden_layer_sizes=(5,), batch_size=8, max_iter=8, dtype="float32"
    ).fit(X, y)
    totals = np.array(model.loss_curve_) * 64
    np.testing.assert_array_equal(totals.astype(np.float32), totals)


def test_out_of_memory_message_names_everything():
    X = np.zeros((40, 3), dtype=np.float32)
    Y = np.zeros((40, 2), dtype=np.float64)
    params = [np.zeros((3, 7)), np.zeros((7, 2)), np.zeros(7), np.zeros(2)]
    run = SimpleNamespace(
        state=SimpleNamespace(params=params),
        n_layers=2,
        settings=SimpleNamespace(batch_size=16),
        X=X,
        Y=Y,
    )
    assert _memory_message(run) == (
        "one batch of work does not fit while training with batch_size=16 (layer "
        "widths [7, 2]) beside X (40, 3) float32 (0.0 MiB) and y (40, 2) float64 "
        "(0.0 MiB) on the device; use a smaller batch_size, fewer samples per fit "
        "(partial_fit on chunks) or narrower layers"
    )


def test_run_reads_and_sets_its_fit_state_fields():
    names = ["params", "optimizer", "history", "rng", "position", "steps"]
    names.append("best_params")
    state = SimpleNamespace(**{name: object() for name in names})
    run = Run(None, [], None, 1.0, state, None, None, None)
    for name in names:
        assert getattr(run, name) is getattr(state, name)
        value = object()
        setattr(run, name, value)
        assert getattr(state, name) is value
        assert getattr(Run, name).__doc__ == f"``state.{name}``."


def test_an_interrupted_run_records_how_far_its_epoch_got(monkeypatch):
    """Ctrl-C during step 7 (the 3rd of epoch 2): the run's position holds the 3
    steps and their summed loss, as a checkpoint of it would."""
    X, y = _classification(n_samples=40)
    runs = []

    def train_and_keep(run):
        runs.append(run)
        train(run)

    monkeypatch.setattr(fit_module, "train", train_and_keep)
    _StepSpy(monkeypatch, SGD, at=7, fault="sigint")
    model = MLPClassifier(
        hidden_layer_sizes=(6,), solver="sgd", batch_size=10, max_iter=3
    )
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    position = runs[0].state.position
    assert position.step == 3
    assert type(position.epoch_loss) is float and position.epoch_loss > 0
