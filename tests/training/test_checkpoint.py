"""Checkpoints that cannot be trusted blindly: every part of the file is checked
before the estimator is touched, a failed resume changes nothing, resuming on other
data is refused, write failures name the checkpoint, and Ctrl-C is never swallowed."""

from __future__ import annotations

import copy
import errno
import os
import signal
import stat
import warnings

import numpy as np
import pytest

import xpnet
from xpnet import MLPClassifier
from xpnet.files import atomic, tensor_file

quiet = pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")


def _data(n_samples=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    return X, np.where(X[:, 0] + 0.5 * rng.normal(size=n_samples) > 0, "b", "a")


COMMON = dict(
    hidden_layer_sizes=(5,), max_iter=3, batch_size=20, random_state=0, dtype="float32"
)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(path, header, tensors) of an adam checkpoint and an early-stopping one."""
    directory = tmp_path_factory.mktemp("checkpoints")
    X, y = _data()
    made = {}
    for name, extra in (("adam", {}), ("early", {"early_stopping": True})):
        path = directory / f"{name}.safetensors"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MLPClassifier(**COMMON, **extra).fit(X, y, checkpoint=path)
        made[name] = (path, *tensor_file.load_tensors(path))
    return made


def _fitted(extra=None):
    X, y = _data(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPClassifier(**COMMON, **(extra or {})).fit(X, y)


def _state(model) -> dict:
    return copy.deepcopy({k: v for k, v in vars(model).items() if k != "_optimizer"})


def _assert_unchanged(model, before) -> None:
    after = _state(model)
    assert sorted(after) == sorted(before)
    for key, value in before.items():
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            for a, b in zip(after[key], value, strict=True):
                np.testing.assert_array_equal(a, b)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[key], value)
        else:
            assert after[key] == value, key


def _record(header):
    return header["checkpoint"]


def _other_dtype(array: np.ndarray) -> type:
    return np.float32 if array.dtype == np.float64 else np.float64


TAMPERINGS = {
    "optimizer state missing": lambda h, a: a.pop("opt.ms.1"),
    "optimizer state reshaped": lambda h, a: a.update({"opt.vs.0": np.ones((2, 2))}),
    "optimizer state of the other dtype": lambda h, a: a.update(
        {"opt.vs.0": a["opt.vs.0"].astype(_other_dtype(a["opt.vs.0"]))}
    ),
    "optimizer state NaN": lambda h, a: a["opt.ms.0"].__setitem__((0, 0), np.nan),
    "optimizer state extra": lambda h, a: a.update({"opt.velocities.0": a["W0"]}),
    "scalar named like an attribute": lambda h, a: _record(h)["optimizer"][
        "scalars"
    ].update({"xp": 0}),
    "scalar t negative": lambda h, a: _record(h)["optimizer"]["scalars"].update(
        {"t": -1}
    ),
    "scalar learning_rate text": lambda h, a: _record(h)["optimizer"]["scalars"].update(
        {"learning_rate": "0.1"}
    ),
    "scalars missing": lambda h, a: _record(h)["optimizer"].pop("scalars"),
    "optimizer kind sgd": lambda h, a: _record(h)["optimizer"].update(kind="sgd"),
    "has_best without best arrays": lambda h, a: _record(h).update(has_best=True),
    "position step text": lambda h, a: _record(h)["position"].update(step="3"),
    "position rng garbage": lambda h, a: _record(h)["position"].update(
        rng_state={"bit_generator": "MT19937"}
    ),
    "rng_split missing": lambda h, a: _record(h).pop("rng_split"),
    "steps negative": lambda h, a: _record(h).update(steps=-4),
    "data fingerprint missing": lambda h, a: _record(h).pop("data"),
    "history with a dict": lambda h, a: _record(h)["model"]["history"].update(
        loss_curve={"a": 1}
    ),
    "classes flipped": lambda h, a: _record(h)["model"]["classes_"].update(
        values=["b", "a"]
    ),
    "weights missing": lambda h, a: a.pop("W0"),
    # value ranges (issue 24, item 12): each was accepted and failed later
    "scalar t 10**400": lambda h, a: _record(h)["optimizer"]["scalars"].update(
        {"t": 10**400}
    ),
    "scalar t above steps": lambda h, a: _record(h)["optimizer"]["scalars"].update(
        {"t": _record(h)["steps"] + 1}
    ),
    "second moments negative": lambda h, a: a["opt.vs.0"].__setitem__((0, 0), -1.0),
    "n_iter above max_iter": lambda h, a: _record(h)["model"]["history"].update(
        n_iter=99
    ),
    "epoch loss 1e308": lambda h, a: _record(h)["position"].update(epoch_loss=1e308),
    "loss curve 1e308": lambda h, a: _record(h)["model"]["history"].update(
        loss_curve=[1e308]
    ),
    "history t 2**70": lambda h, a: _record(h)["model"]["history"].update(t=2**70),
    "position step above steps": lambda h, a: _record(h)["position"].update(
        step=_record(h)["steps"] + 1
    ),
    "steps 2**64": lambda h, a: _record(h).update(steps=2**64),
    "learning rate 10**400": lambda h, a: _record(h)["optimizer"]["scalars"].update(
        {"learning_rate": 10**400}
    ),
}
EARLY_TAMPERINGS = {
    "best arrays missing": lambda h, a: a.pop("best.0"),
    "best arrays reshaped": lambda h, a: a.update({"best.2": np.ones(7)}),
    "has_best false with best arrays": lambda h, a: _record(h).update(has_best=False),
}


def _tampered(tmp_path, checkpoint, edit) -> str:
    _, header, arrays = checkpoint
    header = copy.deepcopy(header)
    arrays = {k: v.copy() for k, v in arrays.items()}
    edit(header, arrays)
    path = tmp_path / "tampered.safetensors"
    path.write_bytes(tensor_file.encode(header, arrays))  # a valid checksum
    return str(path)


@pytest.mark.parametrize(
    ("name", "kind", "edit"),
    [(n, "adam", e) for n, e in TAMPERINGS.items()]
    + [(n, "early", e) for n, e in EARLY_TAMPERINGS.items()],
    ids=[*TAMPERINGS, *EARLY_TAMPERINGS],
)
def test_tampered_checkpoint_is_refused_and_changes_nothing(
    tmp_path, checkpoints, name, kind, edit
):
    path = _tampered(tmp_path, checkpoints[kind], edit)
    model = _fitted({"early_stopping": True} if kind == "early" else None)
    before = _state(model)
    X, y = _data()
    with pytest.raises(xpnet.ModelFileError, match="malformed checkpoint") as info:
        model.fit(X, y, resume_from=path)
    assert path in str(info.value)
    _assert_unchanged(model, before)


@quiet
def test_untampered_checkpoint_resumes(checkpoints):
    X, y = _data()
    for name in ("adam", "early"):
        extra = {"early_stopping": True} if name == "early" else {}
        model = MLPClassifier(**COMMON, **extra)
        model.set_params(max_iter=4)
        model.fit(X, y, resume_from=checkpoints[name][0])
        assert len(model.loss_curve_) == 4


@pytest.mark.parametrize(
    "other",
    ["reversed rows", "fewer rows", "one value changed", "other labels"],
)
def test_resume_on_other_data_is_refused_unless_allowed(checkpoints, other):
    X, y = _data()
    if other == "reversed rows":
        X, y = X[::-1], y[::-1]
    elif other == "fewer rows":
        X, y = X[:50], y[:50]
    elif other == "one value changed":
        X = X.copy()
        X[17, 2] += 1e-6
    else:
        y = y.copy()
        y[3] = "a" if y[3] == "b" else "b"
    model = _fitted()
    before = _state(model)
    with pytest.raises(ValueError, match="other data") as info:
        model.fit(X, y, resume_from=checkpoints["adam"][0])
    assert "resume_on_other_data=True" in str(info.value)
    _assert_unchanged(model, before)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.set_params(max_iter=4)
        model.fit(X, y, resume_from=checkpoints["adam"][0], resume_on_other_data=True)
    assert len(model.loss_curve_) == 4


def test_failed_resume_after_reading_leaves_the_estimator_unchanged(checkpoints):
    """The checkpoint is fine, but this data has other features: the estimator
    keeps its own fit (the checkpoint had already been applied to it)."""
    X, y = _data()
    model = _fitted()
    before = _state(model)
    with pytest.raises(ValueError, match="features"):
        model.fit(X[:, :2], y, resume_from=checkpoints["adam"][0])
    _assert_unchanged(model, before)


@quiet
def test_disk_full_while_checkpointing_names_the_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.safetensors"
    X, y = _data()
    calls = []

    real_fsync = os.fsync

    def full(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            calls.append(fd)
        if len(calls) >= 2:  # the second checkpoint finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", full)
    model = MLPClassifier(**COMMON)
    with pytest.raises(OSError, match="cannot write checkpoint") as info:
        model.fit(X, y, checkpoint=path)
    assert info.value.errno == errno.ENOSPC and str(path) in str(info.value)
    monkeypatch.undo()
    assert tensor_file.load_tensors(path)[0]["checkpoint"]["steps"] == 3  # epoch 1
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert not hasattr(model, "loss_curve_")  # a failed fit leaves it as it was


def _sigint():
    os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("phase", ["callback", "validation", "checkpoint"])
def test_ctrl_c_in_the_last_phase_of_fit_is_re_raised(tmp_path, monkeypatch, phase):
    """SIGINT after the last step (in the last epoch's callback, its validation or
    the final checkpoint write) still interrupts fit."""
    X, y = _data()
    model = MLPClassifier(**{**COMMON, "max_iter": 2}, early_stopping=True)
    kwargs = {}
    if phase == "callback":
        kwargs["callbacks"] = [lambda m, h: h.n_iter == 2 and _sigint()]
    elif phase == "validation":
        real = MLPClassifier._device_score
        calls = []

        def score(self, xp, out, Y, weights=None):
            calls.append(1)
            if len(calls) == 2:
                _sigint()
            return real(self, xp, out, Y, weights)

        monkeypatch.setattr(MLPClassifier, "_device_score", score)
    else:
        real_save = tensor_file.save_tensors
        saves = []

        def save(*args):
            saves.append(1)
            real_save(*args)
            if len(saves) == 2:
                _sigint()

        monkeypatch.setattr(
            "xpnet.training.checkpoint.save_tensors", save, raising=True
        )
        kwargs["checkpoint"] = tmp_path / "c.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y, **kwargs)
    assert model.n_iter_ == 2  # the epoch ran to its end first
