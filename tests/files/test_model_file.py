"""Model files: the safetensors container (atomic writes, a loader that refuses bad
files) and ``xpnet.save`` / ``xpnet.load`` across backends."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import stat
import struct
import subprocess
import sys

import numpy as np
import pytest
from helpers import assert_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file
from safetensors.numpy import save as safetensors_bytes

import xpnet
from xpnet.files import atomic, tensor_file
from xpnet.files import model_file as io
from xpnet.testing import require_backend

# ---------------------------------------------------------------- helpers


def st_bytes(arrays: dict, header: object = None, *, metadata=None) -> bytes:
    """A safetensors file written by safetensors itself, with an xpnet header."""
    if metadata is None and header is not None:
        metadata = {io.METADATA_KEY: json.dumps(header)}
    return safetensors_bytes(arrays, metadata=metadata)


def raw_st(header_json: bytes, data: bytes = b"") -> bytes:
    """A safetensors file with a hand-made JSON header (length prefix, header, data)."""
    return struct.pack("<Q", len(header_json)) + header_json + data


def good_header(**extra) -> dict:
    return {"format": "xpnet-model", "format_version": 2, "xpnet_version": "0", **extra}


def write(tmp_path, data: bytes, name="m.safetensors") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def assert_refused(
    path: str, *fragments: str, load=io.load_tensors
) -> io.ModelFileError:
    """``load(path)`` raises ModelFileError naming ``path`` and every fragment."""
    with pytest.raises(io.ModelFileError) as info:
        load(path)
    message = str(info.value)
    assert path in message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


# ---------------------------------------------------------------- save_tensors / load


def test_save_load_tensors_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "W0": rng.normal(size=(3, 2)),
        "b0": rng.normal(size=2).astype(np.float32),
        "opt.ms.0": rng.normal(size=(0, 4)),
    }
    path = tmp_path / "m.safetensors"
    io.save_tensors(path, {"kind": "test", "nested": {"a": [1, 2.5, None]}}, arrays)
    header, loaded = io.load_tensors(path)
    assert header["nested"] == {"a": [1, 2.5, None]}
    assert header["format"] == io.FORMAT_NAME
    assert header["format_version"] == io.FORMAT_VERSION
    assert header["xpnet_version"] == xpnet.__version__
    assert sorted(loaded) == sorted(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype
        assert loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)
    assert os.listdir(tmp_path) == ["m.safetensors"]  # no temporary file left behind


def test_saved_file_is_plain_safetensors(tmp_path):
    """safetensors alone reads the tensors, and the header is one metadata string."""
    path = tmp_path / "m.safetensors"
    io.save_tensors(path, {"note": "hi"}, {"W0": np.eye(2)})
    np.testing.assert_array_equal(load_file(path)["W0"], np.eye(2))
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    metadata = json.loads(data[8 : 8 + length])["__metadata__"]
    assert list(metadata) == ["xpnet"]
    assert json.loads(metadata["xpnet"])["note"] == "hi"


@pytest.mark.parametrize(
    ("header", "arrays", "error", "fragment"),
    [
        ([], {}, TypeError, "header must be a dict"),
        ({"format": "x"}, {}, ValueError, "reserved"),
        ({"x": float("nan")}, {}, ValueError, "JSON-able"),
        ({"x": object()}, {}, ValueError, "JSON-able"),
        ({}, {"a b": np.zeros(1)}, ValueError, "array names"),
        ({}, {"o": np.array([None], dtype=object)}, TypeError, "float32 or float64"),
        ({}, {"s": np.array(["x"])}, TypeError, "float32 or float64"),
        ({}, {"i": np.arange(3)}, TypeError, "float32 or float64"),
    ],
)
def test_save_tensors_refuses_bad_input(tmp_path, header, arrays, error, fragment):
    with pytest.raises(error, match=fragment):
        io.save_tensors(tmp_path / "m.safetensors", header, arrays)
    assert os.listdir(tmp_path) == []


def test_save_tensors_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.save_tensors(tmp_path / "no" / "m.safetensors", {}, {})


@pytest.mark.parametrize("stage", ["write", "fsync", "replace"])
def test_failed_save_keeps_old_file_and_leaves_no_temporary(
    tmp_path, monkeypatch, stage
):
    path = tmp_path / "m.safetensors"
    io.save_tensors(path, {"generation": 1}, {"W0": np.ones((2, 2))})
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, f"simulated failure in {stage}")

    if stage == "write":
        real_fdopen = atomic.os.fdopen

        class HalfWritten:  # some bytes reach the temporary file, then the disk is full
            def __init__(self, fd, mode):
                self.fh = real_fdopen(fd, mode)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()

            def write(self, data):
                self.fh.write(data[:10])
                fail()

        monkeypatch.setattr(atomic.os, "fdopen", HalfWritten)
    else:
        monkeypatch.setattr(atomic.os, stage, fail)
    with pytest.raises(OSError, match="simulated"):
        io.save_tensors(path, {"generation": 2}, {"W0": np.zeros((5, 5))})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]
    monkeypatch.undo()
    assert io.load_tensors(path)[0]["generation"] == 1


def test_interrupted_save_removes_temporary(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        io.save_tensors(tmp_path / "m.safetensors", {}, {"W0": np.ones(1)})
    assert os.listdir(tmp_path) == []


def test_save_through_a_symlink_replaces_its_target(tmp_path):
    real = tmp_path / "real.safetensors"
    io.save_tensors(real, {"generation": 1}, {})
    link = tmp_path / "link.safetensors"
    link.symlink_to(real)
    io.save_tensors(link, {"generation": 2}, {})
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert io.load_tensors(real)[0]["generation"] == 2


def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "m.safetensors"
    io.save_tensors(path, {}, {})
    path.chmod(0o600)
    io.save_tensors(path, {"generation": 2}, {})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_stale_temporaries_of_dead_saves_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".m.safetensors.{dead_pid}.0123456789ab.tmp"
    # ours (a live process other than ours is in test_write_targets.py: signalling
    # the parent here would hit the test runner under mutation testing)
    alive = tmp_path / f".m.safetensors.{os.getpid()}.0123456789ab.tmp"
    other = tmp_path / f".other.{dead_pid}.0123456789ab.tmp"
    mine = tmp_path / "notes.tmp"
    for path in (stale, alive, other, mine):
        path.write_bytes(b"partial")
    io.save_tensors(tmp_path / "m.safetensors", {}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["m.safetensors", alive.name, other.name, mine.name]
    )


def test_load_tensors_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "absent.safetensors")
    with pytest.raises(FileNotFoundError) as info:
        io.load_tensors(path)
    assert info.value.errno == 2 and info.value.filename == path
    assert str(info.value) == f"[Errno 2] no model file at this path: {path!r}"


def test_model_file_error_is_a_value_error_and_pickles_by_value():
    error = io.ModelFileError("m.safetensors", "broken")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is io.ModelFileError
    assert str(copy) == str(error) == "model file 'm.safetensors': broken"
    assert (copy.path, copy.problem) == ("m.safetensors", "broken")


# ---------------------------------------------------------------- malformed files


def test_directory_is_refused(tmp_path):
    error = assert_refused(str(tmp_path))
    assert error.problem == "is a directory (a FIFO, device or socket?)"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX)")
def test_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "pipe.safetensors"
    os.mkfifo(path)
    error = assert_refused(str(path))
    assert error.problem == "is not a regular file (a FIFO, device or socket?)"


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, world\n", b"\x93NUMPY\x01\x00", b"PK\x03\x04" + b"\x00" * 40],
    ids=["empty", "text", "npy-magic", "zip"],
)
def test_non_safetensors_files_are_refused(tmp_path, data):
    assert_refused(write(tmp_path, data), "not a readable safetensors file")


def test_every_truncation_is_refused(tmp_path):
    data = st_bytes({"W0": np.ones((4, 3))}, good_header())
    for cut in range(0, len(data), 5):
        assert_refused(write(tmp_path, data[:cut]))


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (None, "no xpnet header"),
        ([1, 2], "JSON object"),
        ("text", "JSON object"),
        ({"format_version": 2, "xpnet_version": "0"}, "format must be"),
        (good_header(format="numpy"), "format must be"),
        (good_header(format_version=3), "unsupported format_version 3"),
        (good_header(format_version=0), "unsupported format_version 0"),
        (good_header(format_version="1"), "unsupported format_version '1'"),
        (good_header(format_version=True), "unsupported format_version True"),
        (good_header(xpnet_version=1), "xpnet_version"),
    ],
)
def test_bad_headers_are_refused(tmp_path, header, fragment):
    assert_refused(write(tmp_path, st_bytes({"W0": np.ones(2)}, header)), fragment)


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({"xpnet": "{not json"}, "not valid JSON"),
        ({"xpnet": '{"a": NaN}'}, "not valid JSON"),
        ({"xpnet": '{"a": 1e999}'}, "not valid JSON"),
        ({"xpnet": "[" * 100_000}, "not valid JSON"),
        ({"other": "{}"}, "no xpnet header"),
        ({"xpnet": " " * (tensor_file.MAX_HEADER_BYTES + 1)}, "header of"),
    ],
)
def test_malformed_header_is_refused(tmp_path, metadata, fragment):
    assert_refused(write(tmp_path, st_bytes({}, metadata=metadata)), fragment)


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}, "dtype I64"),
        ({"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}, "dtype BF16"),
        ({"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}, "safetensors"),
        ({"dtype": "F64", "shape": [1], "data_offsets": [0, 16]}, "safetensors"),
        ({"dtype": "F64", "shape": [2**62, 4], "data_offsets": [0, 8]}, "safetensors"),
        ({"dtype": "XX", "shape": [1], "data_offsets": [0, 8]}, "safetensors"),
    ],
)
def test_inconsistent_tensor_entries_are_refused(tmp_path, entry, fragment):
    header = {"__metadata__": {"xpnet": json.dumps(good_header())}, "W0": entry}
    data = raw_st(json.dumps(header).encode(), b"\x00" * 8)
    assert_refused(write(tmp_path, data), fragment)


def test_flipped_data_byte_is_caught_by_the_checksum(tmp_path):
    path = tmp_path / "m.safetensors"
    io.save_tensors(path, {"note": "x"}, {"W0": np.ones(64)})
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x10  # inside W0's float data: safetensors itself cannot tell
    assert_refused(write(tmp_path, bytes(data)), "checksum mismatch")


def test_edited_header_or_missing_checksum_is_refused(tmp_path):
    header = {**good_header(), "note": "x", "crc32": 0}
    assert_refused(write(tmp_path, st_bytes({}, header)), "checksum mismatch")
    del header["crc32"]
    assert_refused(write(tmp_path, st_bytes({}, header)), "checksum mismatch")
    intact = tensor_file.encode(header, {"W0": np.ones(2)})
    assert io.load_tensors(write(tmp_path, intact))[0]["note"] == "x"
    edited = intact.replace(b'\\"note\\": \\"x\\"', b'\\"note\\": \\"y\\"')
    assert edited != intact
    assert_refused(write(tmp_path, edited), "checksum mismatch")


def test_odd_tensor_names_and_counts_are_refused(tmp_path, monkeypatch):
    assert_refused(
        write(tmp_path, st_bytes({"../W0": np.ones(1)}, good_header())), "tensor name"
    )
    monkeypatch.setattr(tensor_file, "MAX_TENSORS", 3)
    arrays = {f"a{i}": np.ones(1) for i in range(4)}
    assert_refused(write(tmp_path, st_bytes(arrays, good_header())), "tensors")


def refusal(path: str) -> str:
    """The message of ``load_tensors(path)``'s ModelFileError."""
    return str(assert_refused(path))


@pytest.mark.parametrize(
    ("header", "metadata", "problem"),
    [
        (
            None,
            {"other": "{}"},
            "no xpnet header (safetensors metadata key 'xpnet'); "
            "a safetensors file, but not an xpnet model file",
        ),
        (
            None,
            {"xpnet": '{"a": NaN}'},
            "header is not valid JSON (NaN is not allowed in the header)",
        ),
        (
            None,
            {"xpnet": '{"a": 1e999}'},
            "header is not valid JSON (1e999 overflows to inf)",
        ),
        ([1, 2], None, "header must be a JSON object; got list"),
        (
            good_header(format="numpy"),
            None,
            "format must be 'xpnet-model'; got 'numpy' (not an xpnet model file)",
        ),
        (
            good_header(format_version=1),
            None,
            "format_version 1 was written by an older xpnet; this xpnet reads "
            "format_version 2 only: fit the model again (or load it with the xpnet "
            "that wrote it and use its weights) and save it",
        ),
        (good_header(xpnet_version=1), None, "xpnet_version must be a string; got 1"),
        (
            {**good_header(), "crc32": 0},
            None,
            "checksum mismatch (crc32 0): the file is damaged or was edited",
        ),
    ],
)
def test_bad_headers_are_refused_word_for_word(tmp_path, header, metadata, problem):
    path = write(tmp_path, st_bytes({"W0": np.ones(2)}, header, metadata=metadata))
    assert refusal(path) == f"model file {path!r}: {problem}"


def test_a_header_of_the_largest_size_loads(tmp_path, monkeypatch):
    """MAX_HEADER_BYTES characters are read; one more is refused."""
    arrays = {"W0": np.ones(2)}
    header = {**good_header(), "crc32": tensor_file.checksum(good_header(), arrays)}
    text = json.dumps(header)
    monkeypatch.setattr(tensor_file, "MAX_HEADER_BYTES", len(text) + 10)
    at_limit = write(tmp_path, st_bytes(arrays, metadata={"xpnet": text + " " * 10}))
    assert io.load_tensors(at_limit)[0] == header
    over = write(tmp_path, st_bytes(arrays, metadata={"xpnet": text + " " * 11}), "o")
    assert refusal(over) == (
        f"model file {over!r}: header of {len(text) + 11} characters; at most "
        f"{len(text) + 10}"
    )


def test_the_most_tensors_a_file_may_hold_load(tmp_path):
    arrays = {f"a{i}": np.ones(1) for i in range(io.MAX_TENSORS + 1)}
    path = str(tmp_path / "m.safetensors")
    io.save_tensors(path, {}, arrays)
    assert refusal(path) == f"model file {path!r}: 4097 tensors; at most 4096"
    del arrays["a0"]
    io.save_tensors(path, {}, arrays)
    assert len(io.load_tensors(path)[1]) == io.MAX_TENSORS


def test_an_odd_tensor_name_is_shown_to_64_characters(tmp_path):
    name = "../" + "x" * 100
    path = write(tmp_path, st_bytes({name: np.ones(1)}, good_header()))
    assert refusal(path) == f"model file {path!r}: unexpected tensor name {name[:64]!r}"


@pytest.mark.parametrize(
    ("header", "arrays", "error", "message"),
    [
        ([], {}, TypeError, "header must be a dict; got list"),
        ({}, [1], TypeError, "arrays must be a dict of name to array; got [1]"),
    ],
)
def test_save_tensors_refuses_bad_input_word_for_word(
    tmp_path, header, arrays, error, message
):
    with pytest.raises(error) as info:
        io.save_tensors(tmp_path / "m.safetensors", header, arrays)
    assert str(info.value) == message


def test_the_checksum_refuses_nan_like_the_header(tmp_path):
    """A header with NaN or inf has no checksum (JSON cannot hold it)."""
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="Out of range float values"):
            tensor_file.checksum({"x": value}, {})


def test_the_file_bytes_do_not_depend_on_the_header_key_order():
    arrays = {"W0": np.ones(2)}
    first = tensor_file.encode({**good_header(), "a": 1, "b": 2}, arrays)
    assert first == tensor_file.encode({"b": 2, "a": 1, **good_header()}, arrays)


# ---------------------------------------------------------------- xpnet.save / load

LOAD_ON = ["numpy", "array_api_strict"]


@pytest.mark.parametrize("load_on", LOAD_ON)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("sizes", "hidden", "output", "bias"),
    [([4, 3, 2], "relu", "identity", True), ([3, 5, 4, 3], "tanh", "softmax", False)],
)
def test_saved_model_loads_on_every_backend(
    backend, tmp_path, dtype, sizes, hidden, output, bias, load_on
):
    model = xpnet.MLP(
        sizes,
        hidden_activation=hidden,
        output_activation=output,
        bias=bias,
        dtype=dtype,
        backend=backend,
        seed=3,
    )
    X = np.random.default_rng(1).normal(size=(6, sizes[0]))
    expected = backend.to_numpy(model.forward(X))
    path = tmp_path / "model.safetensors"
    xpnet.save(model, path)
    for target in [require_backend(load_on), backend]:
        loaded = xpnet.load(path, backend=target)
        assert type(loaded) is xpnet.MLP
        assert loaded.backend == target
        assert loaded.layer_sizes == sizes
        assert [a.name for a in loaded.activations] == [
            a.name for a in model.activations
        ]
        assert loaded.dtype == dtype
        for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)  # bit for bit
        if bias:
            for got, want in zip(loaded.get_biases(), model.get_biases(), strict=True):
                np.testing.assert_array_equal(got, want)
        else:
            assert loaded.biases is None
        assert_close(loaded.backend, loaded.forward(X), expected, dtype)


def test_loaded_model_keeps_training(tmp_path):
    """The loaded parameters are the model's own: an SGD step changes them."""
    model = xpnet.MLP([2, 3, 1], dtype="float64", seed=0)
    xpnet.save(model, tmp_path / "m.safetensors")
    loaded = xpnet.load(tmp_path / "m.safetensors")
    X, y = np.ones((4, 2)), np.zeros((4, 1))
    _, w_grads, b_grads = loaded.loss_and_gradients(X, y)
    loaded.sgd_step(w_grads, b_grads, 0.5)
    model.sgd_step(*model.loss_and_gradients(X, y)[1:], 0.5)
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_model_file_layout(tmp_path):
    """The documented format: arrays W0.., b0.. and the JSON header."""
    model = xpnet.MLP([3, 2], output_activation="sigmoid", dtype="float64", seed=0)
    xpnet.save(model, tmp_path / "m.safetensors")
    header, arrays = io.load_tensors(tmp_path / "m.safetensors")
    assert header.pop("crc32") == tensor_file.checksum(header, arrays)
    assert header == {
        "format": "xpnet-model",
        "format_version": 2,
        "xpnet_version": xpnet.__version__,
        "model": {
            "kind": "MLP",
            "layer_sizes": [3, 2],
            "activations": ["sigmoid"],
            "bias": True,
            "dtype": "float64",
        },
    }
    assert sorted(arrays) == ["W0", "b0"]
    np.testing.assert_array_equal(arrays["W0"], model.get_weights()[0])


def test_save_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="model must be an xpnet MLP"):
        xpnet.save({"W0": np.ones(2)}, tmp_path / "m.safetensors")
    assert os.listdir(tmp_path) == []


def test_load_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        xpnet.load(tmp_path / "absent.safetensors")


def test_load_checks_the_backend_before_reading(tmp_path):
    with pytest.raises(xpnet.BackendError, match="unknown backend"):
        xpnet.load(tmp_path / "absent.safetensors", backend="nonsense")


def exported(**config_changes):
    """A valid MLP export, float64 [3, 4, 2] with biases, then config edits."""
    model = xpnet.MLP([3, 4, 2], dtype="float64", seed=0)
    config, arrays = model._export()
    return {**config, **config_changes}, arrays


def save_raw(tmp_path, config, arrays) -> str:
    path = str(tmp_path / "m.safetensors")
    io.save_tensors(path, {"model": config}, arrays)
    return path


def assert_load_refused(path: str, *fragments: str) -> None:
    assert_refused(path, *fragments, load=xpnet.load)


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"kind": "os.system"}, ["unknown model kind 'os.system'"]),
        ({"kind": "__import__"}, ["unknown model kind"]),
        ({"kind": ["MLP"]}, ["unknown model kind"]),
        ({"layer_sizes": [3, 0, 2]}, ["layer_sizes", ">= 1"]),
        ({"layer_sizes": [3, 4.5, 2]}, ["layer_sizes", "ints"]),
        ({"layer_sizes": [3, True, 2]}, ["layer_sizes", "ints"]),
        ({"layer_sizes": [3]}, ["layer_sizes", "at least 2"]),
        ({"layer_sizes": "342"}, ["layer_sizes"]),
        ({"activations": ["relu", "swish"]}, ["activation", "'swish'"]),
        ({"activations": ["relu"]}, ["activations must be a list of 2"]),
        ({"activations": ["relu", 3]}, ["activations must be names"]),
        ({"activations": "relu"}, ["activations must be a list"]),
        ({"bias": 1}, ["bias must be true or false"]),
        ({"dtype": "int32"}, ["dtype", "'int32'"]),
        ({"dtype": ["float64"]}, ["dtype must be a name"]),
        ({"seed": 3}, ["unknown ['seed']"]),
    ],
)
def test_bad_model_config_is_refused(tmp_path, changes, fragments):
    config, arrays = exported(**changes)
    assert_load_refused(save_raw(tmp_path, config, arrays), *fragments)


def test_missing_config_key_is_refused(tmp_path):
    config, arrays = exported()
    del config["bias"]
    assert_load_refused(save_raw(tmp_path, config, arrays), "missing ['bias']")


def test_file_without_model_is_refused(tmp_path):
    path = str(tmp_path / "m.safetensors")
    io.save_tensors(path, {"note": "a checkpoint, say"}, {"W0": np.ones((2, 2))})
    assert_load_refused(path, "no 'model'")


def test_estimator_kind_without_estimators_gives_a_clear_error(tmp_path, monkeypatch):
    """With xpnet.estimators unimportable (None in sys.modules makes every import of
    it raise ModuleNotFoundError), a saved estimator is refused with that reason."""
    X = np.random.default_rng(0).normal(size=(12, 3))
    model = xpnet.MLPRegressor((2,), max_iter=1)
    with pytest.warns(xpnet.ConvergenceWarning):
        model.fit(X, X[:, 0])
    path = str(tmp_path / "r.safetensors")
    xpnet.save(model, path)
    monkeypatch.setitem(sys.modules, "xpnet.estimators", None)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("xpnet.estimators")
    assert_load_refused(
        path, "model kind 'MLPRegressor' needs xpnet.estimators, which this xpnet lacks"
    )
    xpnet.save(xpnet.MLP([3, 2], seed=0), tmp_path / "mlp.safetensors")
    assert isinstance(xpnet.load(tmp_path / "mlp.safetensors"), xpnet.MLP)  # still


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (lambda a: a.pop("W1"), ["missing ['W1']"]),
        (lambda a: a.pop("b0"), ["missing ['b0']"]),
        (lambda a: a.update(W2=np.ones((2, 2))), ["unexpected ['W2']"]),
        (lambda a: a.update(extra=np.ones(1)), ["unexpected ['extra']"]),
        (lambda a: a.update(W1=a["W1"].T), ["W1", "shape (4, 2)", "(2, 4)"]),
        (lambda a: a.update(W0=np.ones((3, 5))), ["W0", "shape (3, 4)"]),
        (lambda a: a.update(b1=np.ones((1, 2))), ["b1", "shape (2,)"]),
        (lambda a: a.update(b0=np.ones(5)), ["b0", "shape (4,)"]),
        (lambda a: a.update(W0=a["W0"].astype("f4")), ["W0", "dtype float64"]),
        (lambda a: a.update(b1=np.array([1.0, 2], "f4")), ["b1", "dtype float64"]),
        (lambda a: a["W1"].__setitem__((0, 0), np.nan), ["W1", "finite"]),
        (lambda a: a["b0"].__setitem__(2, -np.inf), ["b0", "finite"]),
    ],
)
def test_bad_model_arrays_are_refused(tmp_path, edit, fragments):
    config, arrays = exported()
    edit(arrays)
    assert_load_refused(save_raw(tmp_path, config, arrays), *fragments)


def test_bias_arrays_in_a_model_without_bias_are_refused(tmp_path):
    config, arrays = exported(bias=False)
    assert_load_refused(save_raw(tmp_path, config, arrays), "unexpected ['b0', 'b1']")


def test_newer_format_version_of_a_real_file_is_refused(tmp_path):
    config, arrays = exported()
    header = {**good_header(format_version=3), "model": config}
    path = write(tmp_path, st_bytes(arrays, header))
    assert_load_refused(path, "unsupported format_version 3")


def test_older_format_version_is_refused_naming_both_versions(tmp_path):
    config, arrays = exported()
    header = {**good_header(format_version=1), "model": config}
    path = write(tmp_path, st_bytes(arrays, header))
    assert_load_refused(
        path,
        "format_version 1 was written by an older xpnet; this xpnet reads "
        "format_version 2 only",
    )


def test_save_refuses_look_alikes(tmp_path):
    class LookAlike:
        def _export(self):
            return xpnet.MLP([2, 1], seed=0)._export()

    with pytest.raises(TypeError, match="got LookAlike"):
        xpnet.save(LookAlike(), tmp_path / "m.safetensors")


@pytest.mark.parametrize(
    "config", [None, [1], {}, {"kind": None}, {"kind": ["MLP"]}, {"kind": "os.system"}]
)
def test_save_refuses_look_alikes_of_any_export(tmp_path, config):
    """Whatever an object's ``_export`` returns, it is not saved: one TypeError."""

    class LookAlike:
        def _export(self):
            return config, {}

    with pytest.raises(TypeError) as info:
        xpnet.save(LookAlike(), tmp_path / "m.safetensors")
    assert str(info.value) == (
        "model must be an xpnet MLP, MLPClassifier, MLPRegressor; got LookAlike"
    )
    assert os.listdir(tmp_path) == []


def test_a_module_without_its_class_gives_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "mlp.safetensors"
    xpnet.save(xpnet.MLP([3, 2], seed=0), path)
    monkeypatch.delattr(importlib.import_module("xpnet.mlp"), "MLP")
    assert_load_refused(
        str(path), "model kind 'MLP' needs xpnet.mlp, which this xpnet lacks"
    )


def test_a_header_whose_model_is_not_an_object_is_refused(tmp_path):
    path = str(tmp_path / "m.safetensors")
    io.save_tensors(path, {"model": [1, 2]}, {})
    assert_load_refused(
        path, "header has no 'model' object (got [1, 2]); not a saved model"
    )


def test_save_refuses_nan_in_the_configuration_as_json_does(tmp_path):
    """NaN would not survive the JSON header: refused for that reason, before any
    check of the value itself."""
    model = fitted_classifier()
    model.set_params(alpha=float("nan"))
    with pytest.raises(ValueError) as info:
        xpnet.save(model, tmp_path / "m.safetensors")
    assert str(info.value).startswith(
        "cannot save this MLPClassifier: load would refuse it: Out of range float "
        "values are not JSON compliant"
    )
    assert os.listdir(tmp_path) == []


def _layers(n_layers: int, bias: bool, extra: tuple[str, ...]) -> dict:
    """Arrays of a net of ``n_layers`` layers of width 1, plus ``extra``."""
    arrays = {f"W{layer}": np.ones((1, 1)) for layer in range(n_layers)}
    if bias:
        arrays.update({f"b{layer}": np.ones(1) for layer in range(n_layers)})
    return {**arrays, **{name: np.ones(1) for name in extra}}


@pytest.mark.parametrize(
    ("n_layers", "bias", "extra"),
    [(2048, True, ()), (4096, False, ()), (2046, True, ("x", "y", "z", "w"))],
)
def test_layers_up_to_the_tensor_limit_are_read(n_layers, bias, extra):
    """Exactly MAX_TENSORS arrays: weights, biases and the extra ones."""
    arrays = _layers(n_layers, bias, extra)
    assert len(arrays) == io.MAX_TENSORS
    weights, biases = io.layer_parameters(
        arrays, [1] * (n_layers + 1), bias, "float64", extra=extra
    )
    assert len(weights) == n_layers
    assert (biases is None) if not bias else len(biases) == n_layers


@pytest.mark.parametrize(
    ("n_layers", "bias", "extra"),
    [(2049, True, ()), (4097, False, ()), (2047, True, ("x", "y", "z"))],
)
def test_one_tensor_over_the_limit_is_refused_before_any_list(n_layers, bias, extra):
    with pytest.raises(ValueError) as info:
        io.layer_parameters({}, [1] * (n_layers + 1), bias, "float64", extra=extra)
    assert str(info.value) == (
        f"{n_layers:,} layers need more than the 4096 arrays a file may hold"
    )


@pytest.mark.parametrize("kind", ["os", "subprocess.run", "MLP", "MLPRegressor"])
def test_loader_imports_only_xpnet_modules(tmp_path, monkeypatch, kind):
    imported = []
    real_import = io.importlib.import_module

    def spy(name, *args):
        imported.append(name)
        return real_import(name, *args)

    monkeypatch.setattr(io.importlib, "import_module", spy)
    config, arrays = exported(kind=kind)
    path = save_raw(tmp_path, config, arrays)
    if kind == "MLP":
        assert isinstance(xpnet.load(path), xpnet.MLP)
    else:
        assert_load_refused(path, kind)
    assert set(imported) <= {"xpnet.mlp", "xpnet.estimators"}
    assert bool(imported) == (kind in ("MLP", "MLPRegressor"))


# ---------------------------------------------------------------- estimators' files


def _iris_like(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)


_FITTED: dict = {}


def fitted_classifier(**params):
    key = tuple(sorted(params.items()))
    if key not in _FITTED:
        X, y = _iris_like()
        model = xpnet.MLPClassifier((4, 3), max_iter=3, random_state=0, **params)
        with pytest.warns(xpnet.ConvergenceWarning):
            _FITTED[key] = model.fit(X, y)
    return _copy(_FITTED[key])


def _copy(model):
    return pickle.loads(pickle.dumps(model))


def save_classifier_file(tmp_path, edit) -> str:
    """A fitted classifier's file with its configuration edited (valid checksum)."""
    config, arrays = fitted_classifier()._export()
    edit(config)
    path = tmp_path / "clf.safetensors"
    header = {**good_header(), "model": config}
    path.write_bytes(tensor_file.encode(header, arrays))
    return str(path)


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (lambda c: c["classes_"].update(dtype="<U1000000"), ["wider than"]),
        (lambda c: c["classes_"].update(values=[0, 2, 1]), ["sorted and distinct"]),
        (lambda c: c["classes_"].update(values=[0, 0, 1]), ["sorted and distinct"]),
        (lambda c: c["classes_"].update(values=[0, 1]), ["must hold 3 labels"]),
        (lambda c: c["classes_"].update(values=[0, 1, {"a": 1}]), ["cannot hold"]),
        (lambda c: c["classes_"].update(values=[0, 1, 2.5]), ["cannot hold"]),
        (lambda c: c["classes_"].update(values=[0, 1, True]), ["cannot hold"]),
        (lambda c: c["classes_"].update(values=[0, 1, 2**70]), ["do not fit"]),
        (lambda c: c["classes_"].update(dtype="V8"), ["dtype must be"]),
        (lambda c: c["classes_"].update(dtype="f8,i4"), ["dtype must be"]),
        (lambda c: c["classes_"].update(dtype="no"), ["not a NumPy dtype"]),
        (lambda c: c.update(classes_={"a": 1}), ["classes_ must be"]),
        (lambda c: c.update(classes_=[0, 1, 2]), ["classes_ must be"]),
        (lambda c: c.update(target_kind="binary"), ["does not fit"]),
        (lambda c: c.update(out_activation_="logistic"), ["needs out_activation_"]),
        (lambda c: c["history"].update(loss_curve={"a": 1}), ["loss_curve"]),
        (lambda c: c["history"].update(loss_curve=[1.0, "nan"]), ["loss_curve"]),
        (lambda c: c["history"].update(n_iter=-1), ["n_iter"]),
        (lambda c: c["history"].update(t=True), ["history t"]),
        (lambda c: c["history"].update(best_loss="nan"), ["best_loss"]),
        (lambda c: c["history"].pop("t"), ["history must be"]),
        (lambda c: c["history"].update(epoch_paths="eager"), ["epoch_paths"]),
        (lambda c: c["history"].update(epoch_paths=["eager", "xla"]), ["epoch_paths"]),
        (lambda c: c["history"].update(epoch_paths=[["eager"]]), ["epoch_paths"]),
        (lambda c: c["params"].update(hidden_layer_sizes=[7]), ["disagree"]),
        (lambda c: c["params"].update(alpha=[1]), ["alpha"]),
    ],
)
def test_estimator_header_values_are_checked_before_use(tmp_path, edit, fragments):
    path = save_classifier_file(tmp_path, edit)
    assert_refused(path, *fragments, load=xpnet.load)


def test_epoch_paths_round_trip_and_a_file_without_them_loads(tmp_path):
    model = fitted_classifier()
    assert model.epoch_paths_ == ["eager"] * model.n_iter_
    path = tmp_path / "m.safetensors"
    xpnet.save(model, path)
    assert xpnet.load(path).epoch_paths_ == model.epoch_paths_
    older = save_classifier_file(tmp_path, lambda c: c["history"].pop("epoch_paths"))
    assert xpnet.load(older).epoch_paths_ == []  # written before 0.3.0


def test_huge_declared_label_width_is_refused_without_allocating(tmp_path):
    """A 52 KB file declaring classes_ of dtype <U1000000 for 2000 labels would need
    7.45 GiB; it is refused before anything is allocated."""
    config, arrays = fitted_classifier(dtype="float32")._export()
    arrays = {"W0": np.ones((4, 4)), "b0": np.ones(4), "W1": np.ones((4, 3))}
    arrays |= {"W2": np.ones((3, 2000)), "b1": np.ones(3), "b2": np.ones(2000)}
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    config["classes_"] = {"values": [str(i) for i in range(2000)], "dtype": "<U1000000"}
    config["layer_sizes"] = [4, 4, 3, 2000]
    path = tmp_path / "bomb.safetensors"
    path.write_bytes(tensor_file.encode({**good_header(), "model": config}, arrays))
    assert path.stat().st_size < 60_000  # 2000 labels of 4 GB each would be 7.45 GiB
    assert_refused(str(path), "wider than its labels need", load=xpnet.load)


@pytest.mark.parametrize(
    "labels",
    [
        np.array([b"no", b"yes", b"\xffmaybe"]),
        np.array(["2026-01-01", "2026-06-01", "2027-01-01"], dtype="datetime64[D]"),
        np.array([10, 20, 30], dtype="timedelta64[s]"),
        np.array([False, True, True]),
        np.array(["b", "a", "c"], dtype=object),
        np.array([0.5, 1.5, 2.5]) * 2,
    ],
    ids=["bytes", "datetime64", "timedelta64", "bool", "object", "float"],
)
def test_labels_of_any_dtype_save_and_load(tmp_path, labels):
    X, y = _iris_like()
    y = labels[np.minimum(y, len(np.unique(labels)) - 1)]
    with pytest.warns(xpnet.ConvergenceWarning):
        model = xpnet.MLPClassifier((3,), max_iter=2, random_state=0).fit(X, y)
    xpnet.save(model, tmp_path / "m.safetensors")
    loaded = xpnet.load(tmp_path / "m.safetensors")
    assert loaded.classes_.dtype == model.classes_.dtype
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda m: m.set_params(learning_rate_init=-5), "learning_rate_init"),
        (lambda m: m.set_params(activation="swish"), "activation"),
        (lambda m: m.set_params(dtype="float16"), "dtype"),
        (lambda m: m.set_params(max_iter=0), "max_iter"),
        (lambda m: m.coefs_[1].__setitem__((0, 0), np.nan), "finite"),
        (lambda m: setattr(m, "coefs_", m.coefs_[:1]), "must hold arrays"),
        (lambda m: setattr(m, "classes_", np.array([2, 1, 0])), "sorted"),
    ],
)
def test_save_refuses_what_load_would_refuse(tmp_path, change, fragment):
    model = fitted_classifier()
    change(model)
    with pytest.raises((ValueError, TypeError), match=fragment):
        xpnet.save(model, tmp_path / "m.safetensors")
    assert os.listdir(tmp_path) == []


def test_infinite_patience_saves_and_loads(tmp_path):
    model = fitted_classifier()
    model.set_params(n_iter_no_change=float("inf"))
    xpnet.save(model, tmp_path / "m.safetensors")
    assert xpnet.load(tmp_path / "m.safetensors").n_iter_no_change == float("inf")


def test_save_writes_the_fitted_network_whatever_set_params_changed(tmp_path):
    model = fitted_classifier()
    X, _ = _iris_like(seed=1)
    expected = model.predict_proba(X)
    model.set_params(hidden_layer_sizes=(7,))
    xpnet.save(model, tmp_path / "m.safetensors")
    loaded = xpnet.load(tmp_path / "m.safetensors")
    assert loaded.hidden_layer_sizes == (4, 3)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


CHANGES = st.sampled_from(
    [
        ("hidden_layer_sizes", st.sampled_from([(7,), (4, 3), 3, (), (0,)])),
        ("activation", st.sampled_from(["tanh", "logistic", "identity", "swish"])),
        ("alpha", st.sampled_from([0.0, 1.5, -1.0, float("inf"), float("nan")])),
        ("learning_rate_init", st.sampled_from([1e-9, 2.0, -5.0, 0.0])),
        ("dtype", st.sampled_from(["float32", "float64", "int32"])),
        ("batch_size", st.sampled_from([1, "auto", 0, 10**6])),
        ("n_iter_no_change", st.sampled_from([1, float("inf"), 0])),
        ("random_state", st.sampled_from([None, 7, np.random.default_rng(0), -1])),
        ("momentum", st.sampled_from([0.0, 1.0, 2.0, True])),
        ("solver", st.sampled_from(["sgd", "adam", "lbfgs"])),
        ("coefs_", st.sampled_from(["nan", "float64", "drop", "transpose"])),
        ("classes_", st.sampled_from(["reversed", "strings", "one"])),
        ("out_activation_", st.sampled_from(["softmax", "logistic", "relu"])),
    ]
)


def _apply(model, name, value) -> None:
    if name == "coefs_":
        coefs = list(model.coefs_)
        if value == "nan":
            coefs[0] = coefs[0].copy()
            coefs[0][0, 0] = np.nan
        elif value == "float64":
            coefs = [c.astype(np.float64) for c in coefs]
        elif value == "drop":
            coefs = coefs[:-1]
        else:
            coefs[-1] = coefs[-1].T
        model.coefs_ = coefs
    elif name == "classes_":
        model.classes_ = {
            "reversed": model.classes_[::-1],
            "strings": np.array(["x", "y", "z"]),
            "one": model.classes_[:1],
        }[value]
    elif name == "out_activation_":
        model.out_activation_ = value
    else:
        model.set_params(**{name: value})


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(changes=st.lists(CHANGES.flatmap(lambda c: st.tuples(st.just(c[0]), c[1]))))
def test_every_model_save_accepts_loads_with_equal_predictions(tmp_path, changes):
    """Whatever was changed on a fitted estimator, ``save`` either refuses it and
    writes nothing, or ``load`` gives back a model with the same predictions."""
    model = fitted_classifier()
    for name, value in changes:
        _apply(model, name, value)
    path = tmp_path / "m.safetensors"
    if path.exists():
        path.unlink()
    X, _ = _iris_like(seed=2)
    try:
        expected = (model.predict(X), model.predict_proba(X))
    except Exception:  # noqa: BLE001 - any failure: it cannot predict
        expected = None  # a model that cannot predict must not be saved either
    try:
        xpnet.save(model, path)
    except (ValueError, TypeError):
        assert not path.exists()
        return
    assert expected is not None, "saved a model that cannot predict"
    loaded = xpnet.load(path)
    np.testing.assert_array_equal(loaded.predict(X), expected[0])
    np.testing.assert_array_equal(loaded.predict_proba(X), expected[1])


def test_safetensors_alone_loads_the_weights_and_torch_rebuilds_the_net(tmp_path):
    """What the docs promise a PyTorch user: ``safetensors.numpy.load_file`` gives
    the tensors, the metadata the configuration, and ``torch.nn`` the same
    predictions (the command's standardization included)."""
    torch = pytest.importorskip("torch")
    from safetensors import safe_open

    from xpnet.estimators.scaling import Standardization

    X, y = _iris_like()
    X = X * 50 + 1e4
    model = xpnet.MLPClassifier(
        (6, 5), activation="tanh", max_iter=3, random_state=0, dtype="float32"
    )
    model.standardization_ = Standardization.fit(X)
    with pytest.warns(xpnet.ConvergenceWarning):
        model.fit(X, y)
    path = tmp_path / "clf.safetensors"
    xpnet.save(model, path)

    tensors = load_file(path)
    with safe_open(path, framework="np") as handle:
        config = json.loads(handle.metadata()["xpnet"])["model"]
    hidden = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[
        config["params"]["activation"]
    ]
    layers = []
    for layer in range(len(config["layer_sizes"]) - 1):
        W, b = tensors[f"W{layer}"], tensors[f"b{layer}"]  # (fan_in, fan_out)
        linear = torch.nn.Linear(*W.shape, dtype=torch.float32)
        linear.weight.data = torch.from_numpy(W.T.copy())  # torch: (fan_out, fan_in)
        linear.bias.data = torch.from_numpy(b)
        layers += [linear, hidden()]
    net = torch.nn.Sequential(*layers[:-1], torch.nn.Softmax(dim=1))
    scaled = (X - tensors["x_mean"]) / tensors["x_scale"]  # float64, then the cast
    with torch.no_grad():
        proba = net(torch.from_numpy(scaled.astype(np.float32))).numpy()
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=1e-5, atol=1e-6)
    classes = np.array(config["classes_"]["values"])
    np.testing.assert_array_equal(classes[proba.argmax(axis=1)], model.predict(X))
