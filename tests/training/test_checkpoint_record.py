"""A checkpoint's record word for word: the data fingerprint and the record as
written (a snapshot of Dask's growing block hashes), what ``read_checkpoint``
returns for a well-formed record (old files without the optional keys included),
and the exact message of each refusal and failure."""

from __future__ import annotations

import copy
import errno
from types import SimpleNamespace

import numpy as np
import pytest

from xpnet.backend import get_backend
from xpnet.files.tensor_file import ModelFileError, save_tensors
from xpnet.maths.optim import Adam
from xpnet.training import checkpoint
from xpnet.training.checkpoint import read_checkpoint, read_record
from xpnet.training.state import FitState, History, Position

PATH = "run.safetensors"
SPLIT = np.random.default_rng(0).bit_generator.state
EPOCH = np.random.default_rng(1).bit_generator.state
DATA = {
    "X": {"shape": [6, 3], "dtype": "<f8", "crc32": 1},
    "y": {"shape": [6, 1], "dtype": "<f4", "crc32": 2},
}


def _valid(early_stopping=False):
    """A record and tensors of a float32 Adam fit of a 3-2-1 network, 10 steps in."""
    model = {
        "W0": np.ones((3, 2), np.float32),
        "W1": np.ones((2, 1), np.float32),
        "b0": np.zeros(2, np.float32),
        "b1": np.zeros(1, np.float32),
    }
    params = [model[k] for k in ("W0", "W1", "b0", "b1")]
    arrays = dict(model)
    for group, fill in (("opt.ms.", 0.5), ("opt.vs.", 0.25)):
        arrays |= {f"{group}{i}": np.full_like(p, fill) for i, p in enumerate(params)}
    if early_stopping:
        arrays |= {f"best.{i}": np.full_like(p, 2.0) for i, p in enumerate(params)}
    record = {
        "model": {"kind": "MLPRegressor"},
        "optimizer": {"kind": "adam", "scalars": {"learning_rate": 0.001, "t": 10}},
        "rng_split": copy.deepcopy(SPLIT),
        "position": {"step": 2, "epoch_loss": 1.5, "rng_state": copy.deepcopy(EPOCH)},
        "steps": 10,
        "has_best": early_stopping,
        "data": copy.deepcopy(DATA),
    }
    return record, arrays


def _read(record, arrays, early_stopping=False):
    return read_checkpoint(
        PATH, record, arrays, solver="adam", early_stopping=early_stopping
    )


def test_a_well_formed_record_is_read_whole():
    record, arrays = _valid()
    saved = _read(record, arrays)
    assert saved.model == {"kind": "MLPRegressor"}
    assert sorted(saved.arrays) == ["W0", "W1", "b0", "b1"]
    assert saved.optimizer_kind == "adam"
    assert saved.scalars == {"learning_rate": 0.001, "t": 10}
    assert sorted(saved.state) == ["ms", "vs"]
    for name, fill in (("ms", 0.5), ("vs", 0.25)):
        assert [a.shape for a in saved.state[name]] == [(3, 2), (2, 1), (2,), (1,)]
        assert all((a == fill).all() for a in saved.state[name])
    assert saved.rng_split == SPLIT
    assert saved.position == Position(step=2, epoch_loss=1.5, rng_state=EPOCH)
    assert saved.steps == 10
    assert saved.best is None
    assert saved.data == {**DATA, "sample_weight": None, "blocks": None}


def test_early_stopping_best_weights_are_not_optimizer_state():
    record, arrays = _valid(early_stopping=True)
    saved = _read(record, arrays, early_stopping=True)
    assert sorted(saved.state) == ["ms", "vs"]
    assert [float(b.flat[0]) for b in saved.best] == [2.0] * 4


def _edited(edit):
    record, arrays = _valid()
    edit(record, arrays)
    return record, arrays


def _set(where, **values):
    return lambda r, a: where(r).update(values)


def _scalars(r):
    return r["optimizer"]["scalars"]


def _position(r):
    return r["position"]


# values at the edge of their ranges, read as they are
ACCEPTED = {
    "second moments 0": lambda r, a: a["opt.vs.1"].fill(0.0),
    "learning rate 0": _set(_scalars, learning_rate=0.0),
    "epoch loss at float32's max": _set(
        _position, epoch_loss=float(np.finfo(np.float32).max)
    ),
    "data with X and y only": lambda r, a: None,
    "data with every key": lambda r, a: r["data"].update(
        sample_weight=DATA["X"], blocks={"0": 0, "7": 2**32 - 1}
    ),
}


@pytest.mark.parametrize("edit", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_values_at_the_edge_of_their_range_are_read(edit):
    record, arrays = _edited(edit)
    saved = _read(record, arrays)
    assert saved.data == {"sample_weight": None, "blocks": None, **record["data"]}


def _drop(key):
    return lambda r, a: r.pop(key)


def _missing_state(r, a):
    for key in [k for k in a if k.startswith("opt.")]:
        del a[key]
    a |= {f"opt.z.{i}": a["b1"] for i in range(7)}


def _no_weights(r, a):
    for key in ("W0", "W1"):
        del a[key]


REFUSED = {
    "record keys": (
        _drop("steps"),
        "checkpoint must have keys ['data', 'has_best', 'model', 'optimizer', "
        "'position', 'rng_split', 'steps']",
    ),
    "optimizer keys": (
        lambda r, a: r["optimizer"].pop("scalars"),
        "optimizer must be an object with keys ['kind', 'scalars']",
    ),
    "optimizer kind": (
        lambda r, a: r["optimizer"].update(kind="sgd"),
        "optimizer kind must be 'adam'; got 'sgd'",
    ),
    "has_best": (
        lambda r, a: r.update(has_best=1),
        "has_best must be False (early_stopping); got 1",
    ),
    "state tensors": (
        _missing_state,
        "state tensors missing ['opt.ms.0', 'opt.ms.1', 'opt.ms.2', 'opt.ms.3', "
        "'opt.vs.0', 'opt.vs.1'], unexpected ['opt.z.0', 'opt.z.1', 'opt.z.2', "
        "'opt.z.3', 'opt.z.4', 'opt.z.5']",
    ),
    "second moments negative": (
        lambda r, a: a["opt.vs.2"].fill(-1e-9),
        "tensor opt.vs (Adam's second moments) holds values < 0",
    ),
    "state reshaped": (
        lambda r, a: a.update({"opt.ms.1": np.ones((1, 2), np.float32)}),
        "tensor opt.ms.1 must be float32 of shape (2, 1); got float32 of shape (1, 2)",
    ),
    "state NaN": (
        lambda r, a: a["opt.ms.3"].fill(np.nan),
        "tensor opt.ms.3 holds NaN or inf",
    ),
    "a bias missing": (
        lambda r, a: a.pop("b1"),
        "model tensors missing ['b1']",
    ),
    "no weights": (_no_weights, "model tensors missing ['W0']"),
    "steps text": (
        lambda r, a: r.update(steps="10"),
        "steps must be an int >= 0; got '10'",
    ),
    "steps negative": (
        lambda r, a: r.update(steps=-1),
        "steps must be an int >= 0; got -1",
    ),
    "steps past 2**53": (
        lambda r, a: r.update(steps=2**53 + 1),
        "steps must be an int in [0, 9007199254740992]; got 9007199254740993",
    ),
    "steps 10**30": (
        lambda r, a: r.update(steps=10**30),
        "steps must be an int in [0, 9007199254740992]; got an int of 31 digits",
    ),
    "steps just under 10**30": (
        lambda r, a: r.update(steps=10**30 - 1),
        f"steps must be an int in [0, 9007199254740992]; got {10**30 - 1}",
    ),
    "position keys": (
        lambda r, a: r["position"].pop("epoch_loss"),
        "position must be an object with keys ['epoch_loss', 'rng_state', 'step']",
    ),
    "position step above steps": (
        _set(_position, step=11),
        "position step must be an int in [0, steps (10)]; got 11",
    ),
    "epoch loss past float32": (
        _set(_position, epoch_loss=1e39),
        "position epoch_loss must be within the range of the model's dtype float32 "
        "(|x| <= 3.403e+38); got 1e+39",
    ),
    "position rng_state a list": (
        _set(_position, rng_state=[1]),
        "position rng_state must be a generator state object",
    ),
    "position rng_state garbage": (
        _set(_position, rng_state={"bit_generator": "MT19937"}),
        "position rng_state is not a NumPy generator state (",
    ),
    "rng_split a list": (
        lambda r, a: r.update(rng_split=[1]),
        "rng_split must be a generator state object",
    ),
    "rng_split garbage": (
        lambda r, a: r.update(rng_split={"bit_generator": "MT19937"}),
        "rng_split is not a NumPy generator state (",
    ),
    "scalars keys": (
        lambda r, a: _scalars(r).pop("t"),
        "adam optimizer scalars must be an object with keys ['learning_rate', 't']",
    ),
    "t negative": (
        _set(_scalars, t=-1),
        "optimizer t must be an int >= 0; got -1",
    ),
    "t above steps": (
        _set(_scalars, t=11),
        "optimizer t must be an int in [0, steps (10)]; got 11",
    ),
    "learning rate text": (
        _set(_scalars, learning_rate="0.1"),
        "optimizer learning_rate must be a finite number; got '0.1'",
    ),
    "learning rate long text": (
        _set(_scalars, learning_rate="x" * 60),
        "optimizer learning_rate must be a finite number; got '" + "x" * 39,  # cut
    ),
    "learning rate negative": (
        _set(_scalars, learning_rate=-0.5),
        "optimizer learning_rate must be >= 0",
    ),
    "data not an object": (
        lambda r, a: r.update(data=None),
        "data must be an object with keys ['X', 'y']",
    ),
    "data without y": (
        lambda r, a: r["data"].pop("y"),
        "data must be an object with keys ['X', 'y']",
    ),
}
BLOCKS = "data blocks must map block numbers to CRC-32 values"
for name, blocks in {
    "a list": [1],
    "a name": {"a": 1},
    "text": {"0": "1"},
    "negative": {"0": -1},
    "2**32": {"0": 2**32},
    "a bool": {"0": True},
}.items():
    REFUSED[f"blocks {name}"] = (
        lambda r, a, blocks=blocks: r["data"].update(blocks=blocks),
        BLOCKS,
    )
NUMPY_WORDS = {"position rng_state garbage", "rng_split garbage"}


@pytest.mark.parametrize(("edit", "message"), list(REFUSED.values()), ids=list(REFUSED))
def test_a_malformed_record_is_refused_word_for_word(request, edit, message):
    record, arrays = _edited(edit)
    with pytest.raises(ModelFileError) as info:
        _read(record, arrays)
    assert info.value.path == PATH
    got, message = info.value.problem, f"malformed checkpoint: {message}"
    if request.node.callspec.id in NUMPY_WORDS:  # then numpy's own words
        assert got.startswith(message), got
    else:
        assert got == message


def test_the_data_fingerprint_names_shape_dtype_and_crc32():
    X = np.arange(6.0).reshape(2, 3)
    y = np.array([[1], [0]], np.float32)
    numpy = get_backend("numpy")
    assert checkpoint.data_fingerprint(numpy, X, y) == {
        "X": {"shape": [2, 3], "dtype": "<f8", "crc32": 4046127385},
        "y": {"shape": [2, 1], "dtype": "<f4", "crc32": 1491330278},
        "sample_weight": None,
    }
    weights = checkpoint.data_fingerprint(numpy, X, y, np.array([1.0, 2.0]))
    assert weights["sample_weight"] == {
        "shape": [2],
        "dtype": "<f8",
        "crc32": 2074315103,
    }


def _run():
    numpy = get_backend("numpy")
    params = [np.ones((3, 2), np.float32), np.zeros(2, np.float32)]
    state = FitState(params, Adam(np, params), History(), np.random.default_rng(0))
    state.rng_split = copy.deepcopy(SPLIT)
    return SimpleNamespace(state=state, backend=numpy)


def _describe(run):
    return {"kind": "test"}, {"W0": run.state.params[0], "b0": run.state.params[1]}


def test_the_record_written_is_a_snapshot_of_the_data(tmp_path, monkeypatch):
    """Dask's block hashes grow while training: the header holds them as they were."""
    written = []
    monkeypatch.setattr(checkpoint, "save_tensors", lambda *a: written.append(a))
    data = {**DATA, "sample_weight": None, "blocks": {"0": 7}}
    write = checkpoint.checkpoint_writer(tmp_path / "c", _describe, data)
    write(_run())
    data["blocks"]["1"] = 8
    ((_, header, arrays),) = written
    assert header["checkpoint"]["data"] == {
        **DATA,
        "sample_weight": None,
        "blocks": {"0": 7},
    }
    assert sorted(arrays) == [
        "W0",
        "b0",
        "opt.ms.0",
        "opt.ms.1",
        "opt.vs.0",
        "opt.vs.1",
    ]


def test_a_record_without_data_reads_back(tmp_path):
    path = tmp_path / "c.safetensors"
    checkpoint.checkpoint_writer(path, _describe, None)(_run())
    record, arrays = read_record(path)
    assert record["data"] is None
    assert record["position"] == {"step": 0, "epoch_loss": 0.0, "rng_state": None}
    assert record["rng_split"] == SPLIT


def test_a_failed_write_names_the_checkpoint(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_tensors", full)
    path = str(tmp_path / "c.safetensors")
    write = checkpoint.checkpoint_writer(path, _describe, None)
    with pytest.raises(OSError) as info:
        write(_run())
    assert (info.value.errno, info.value.filename) == (errno.ENOSPC, path)
    assert info.value.strerror == (
        f"cannot write checkpoint {path!r}: No space left on device; training "
        "stopped (the estimator is left as it was before fit, the file holds its "
        "previous checkpoint: resume from it)"
    )


def test_a_header_without_a_model_object_is_no_checkpoint(tmp_path):
    path = str(tmp_path / "c.safetensors")
    save_tensors(path, {"checkpoint": {"model": [1]}}, {"W0": np.ones(2)})
    with pytest.raises(ModelFileError) as info:
        read_record(path)
    assert info.value.problem == "malformed checkpoint: no model object"


def test_the_data_check_leaves_out_block_hashes():
    saved = SimpleNamespace(data={**DATA, "sample_weight": None, "blocks": {"0": 5}})
    grown = {**DATA, "sample_weight": None, "blocks": {"0": 5, "1": 6}}
    checkpoint.check_same_data(saved, grown, "c")
    checkpoint.check_same_data(saved, {**DATA}, "c")  # no weights: the same
    other = {**DATA, "sample_weight": DATA["X"]}
    with pytest.raises(ValueError) as info:
        checkpoint.check_same_data(saved, other, "c")
    theirs = {**DATA, "sample_weight": None}
    mine = {"sample_weight": DATA["X"], **DATA}  # in the order the check makes it
    assert str(info.value) == (
        f"resume_from 'c' was written while training on other data (checkpoint: "
        f"{theirs}, this fit: {mine}); resume on the same X and y, or pass "
        "resume_on_other_data=True to continue anyway"
    )


def test_a_position_past_the_epoch_is_refused_on_restore():
    saved = SimpleNamespace(position=Position(step=3))
    run = SimpleNamespace(epoch_steps=lambda: 2)
    with pytest.raises(ValueError) as info:
        checkpoint.restore_run(saved, run, History())
    assert str(info.value) == "resume_from is 3 steps into an epoch of 2 steps"
