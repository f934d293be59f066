"""Model files: the array container (atomic writes, a loader that refuses bad files)
and ``xpnet.save`` / ``xpnet.load`` across backends."""

from __future__ import annotations

import io as pyio
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from helpers import assert_close

import xpnet
from xpnet.files import array_file
from xpnet.files import model_file as io
from xpnet.testing import require_backend

# ---------------------------------------------------------------- helpers


def npz_bytes(arrays: dict, header: object = None, *, raw_header=None) -> bytes:
    """An npz written by numpy itself, with a header member built by hand."""
    members = dict(arrays)
    if raw_header is not None:
        members[io.HEADER_KEY] = raw_header
    elif header is not None:
        text = json.dumps(header).encode("utf-8")
        members[io.HEADER_KEY] = np.frombuffer(text, dtype=np.uint8)
    buffer = pyio.BytesIO()
    np.savez(buffer, **members)
    return buffer.getvalue()


def good_header(**extra) -> dict:
    return {"format": "xpnet-model", "format_version": 1, "xpnet_version": "0", **extra}


def write(tmp_path, data: bytes, name="m.npz") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def assert_refused(
    path: str, *fragments: str, load=io.load_arrays
) -> io.ModelFileError:
    """``load(path)`` raises ModelFileError naming ``path`` and every fragment."""
    with pytest.raises(io.ModelFileError) as info:
        load(path)
    message = str(info.value)
    assert path in message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


# ---------------------------------------------------------------- save_arrays / load


def test_save_load_arrays_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "W0": rng.normal(size=(3, 2)),
        "b0": rng.normal(size=2).astype(np.float32),
        "classes": np.array([3, 5, 7]),
        "flag": np.array(True),
    }
    path = tmp_path / "m.npz"
    io.save_arrays(path, {"kind": "test", "nested": {"a": [1, 2.5, None]}}, arrays)
    header, loaded = io.load_arrays(path)
    assert header["nested"] == {"a": [1, 2.5, None]}
    assert header["format"] == io.FORMAT_NAME
    assert header["format_version"] == io.FORMAT_VERSION
    assert header["xpnet_version"] == xpnet.__version__
    assert list(loaded) == list(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind


def test_save_arrays_is_a_plain_npz_numpy_reads(tmp_path):
    path = tmp_path / "m.npz"
    io.save_arrays(path, {}, {"W0": np.eye(2)})
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(["W0", io.HEADER_KEY])
        header = json.loads(npz[io.HEADER_KEY].tobytes().decode("utf-8"))
    assert header["format"] == "xpnet-model"


@pytest.mark.parametrize(
    ("header", "arrays", "error", "fragment"),
    [
        ([], {}, TypeError, "header must be a dict"),
        ({"format": "x"}, {}, ValueError, "reserved"),
        ({"x": float("nan")}, {}, ValueError, "JSON-able"),
        ({"x": object()}, {}, ValueError, "JSON-able"),
        ({}, {"a b": np.zeros(1)}, ValueError, "array names"),
        ({}, {io.HEADER_KEY: np.zeros(1)}, ValueError, "array names"),
        ({}, {"o": np.array([None], dtype=object)}, TypeError, "numeric"),
        ({}, {"s": np.array(["x"])}, TypeError, "numeric"),
    ],
)
def test_save_arrays_refuses_bad_input(tmp_path, header, arrays, error, fragment):
    with pytest.raises(error, match=fragment):
        io.save_arrays(tmp_path / "m.npz", header, arrays)
    assert os.listdir(tmp_path) == []


def test_save_arrays_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.save_arrays(tmp_path / "no" / "m.npz", {}, {})


@pytest.mark.parametrize("stage", ["savez", "fsync", "replace"])
def test_failed_save_keeps_old_file_and_leaves_no_temporary(
    tmp_path, monkeypatch, stage
):
    path = tmp_path / "m.npz"
    io.save_arrays(path, {"generation": 1}, {"W0": np.ones((2, 2))})
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(f"simulated failure in {stage}")

    if stage == "savez":

        def half_written(fh, **kwargs):  # some bytes reach the temporary file first
            fh.write(b"PK\x03\x04 partial")
            fail()

        monkeypatch.setattr(io.np, "savez", half_written)
    else:
        monkeypatch.setattr(io.os, stage, fail)
    with pytest.raises(OSError, match="simulated"):
        io.save_arrays(path, {"generation": 2}, {"W0": np.zeros((5, 5))})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]
    monkeypatch.undo()
    assert io.load_arrays(path)[0]["generation"] == 1


def test_interrupted_save_removes_temporary(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        io.save_arrays(tmp_path / "m.npz", {}, {"W0": np.ones(1)})
    assert os.listdir(tmp_path) == []


def test_load_arrays_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "absent.npz")
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        io.load_arrays(path)


def test_model_file_error_is_a_value_error_and_pickles_by_value():
    error = io.ModelFileError("m.npz", "broken")
    assert isinstance(error, ValueError)
    copy = type(error)(*error.__reduce__()[1])
    assert str(copy) == str(error) == "model file 'm.npz': broken"


# ---------------------------------------------------------------- malformed containers


def test_directory_is_refused(tmp_path):
    assert_refused(str(tmp_path), "directory")


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, world\n", b"\x93NUMPY\x01\x00", b"\x80\x04\x95" + b"\x00" * 40],
    ids=["empty", "text", "npy-magic", "pickle-protocol"],
)
def test_non_npz_files_are_refused(tmp_path, data):
    assert_refused(write(tmp_path, data), "not an npz")


def test_plain_npy_file_is_refused(tmp_path):
    buffer = pyio.BytesIO()
    np.save(buffer, np.ones(3))
    assert_refused(write(tmp_path, buffer.getvalue()), "not an npz")


def test_every_truncation_is_refused(tmp_path):
    data = npz_bytes({"W0": np.ones((4, 3))}, good_header())
    for cut in range(0, len(data), 7):
        assert_refused(write(tmp_path, data[:cut]))


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (None, "no header"),
        ([1, 2], "JSON object"),
        ("text", "JSON object"),
        ({"format_version": 1, "xpnet_version": "0"}, "format must be"),
        (good_header(format="numpy"), "format must be"),
        (good_header(format_version=2), "unsupported format_version 2"),
        (good_header(format_version=0), "unsupported format_version 0"),
        (good_header(format_version="1"), "unsupported format_version '1'"),
        (good_header(format_version=True), "unsupported format_version True"),
        (good_header(xpnet_version=1), "xpnet_version"),
    ],
)
def test_bad_headers_are_refused(tmp_path, header, fragment):
    assert_refused(write(tmp_path, npz_bytes({"W0": np.ones(2)}, header)), fragment)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (np.frombuffer(b"{not json", dtype=np.uint8), "not valid JSON"),
        (np.frombuffer(b'{"a": NaN}', dtype=np.uint8), "not valid JSON"),
        (np.frombuffer(b'{"a": 1e999}', dtype=np.uint8), "not valid JSON"),
        (np.frombuffer(b"\xff\xfe{}", dtype=np.uint8), "not valid JSON"),
        (np.frombuffer(b"[" * 100_000, dtype=np.uint8), "not valid JSON"),
        (np.frombuffer(b"{}", dtype=np.uint8).astype(np.int64), "1-D uint8"),
        (np.zeros((2, 2), dtype=np.uint8), "1-D uint8"),
        (np.full(io.MAX_HEADER_BYTES + 1, ord(" "), np.uint8), "header of"),
    ],
)
def test_malformed_header_member_is_refused(tmp_path, raw, fragment):
    assert_refused(write(tmp_path, npz_bytes({}, raw_header=raw)), fragment)


CODE_RAN: list[str] = []


def run_code(note: str) -> str:
    """What the malicious pickle below calls when it is unpickled."""
    CODE_RAN.append(note)
    return note


class Payload:
    def __reduce__(self):
        return (run_code, ("unpickled",))


def test_pickle_payload_runs_code_when_unpickled():
    """The payload is real: unpickling it calls run_code."""
    CODE_RAN.clear()
    pickle.loads(pickle.dumps(Payload()))
    assert CODE_RAN == ["unpickled"]


def test_object_array_is_refused_without_unpickling(tmp_path, monkeypatch):
    """An npz holding a pickled object array (numpy pickles it when writing)."""
    data = npz_bytes({"W0": np.array([Payload()], dtype=object)}, good_header())
    assert b"run_code" in data
    unpickler_calls = []
    monkeypatch.setattr(pickle, "load", lambda *a, **k: unpickler_calls.append(a))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: unpickler_calls.append(a))
    CODE_RAN.clear()
    assert_refused(write(tmp_path, data), "object", "never unpickled")
    with pytest.raises(io.ModelFileError):
        xpnet.load(tmp_path / "m.npz")
    assert CODE_RAN == [] and unpickler_calls == []


@pytest.mark.parametrize(
    "array", [np.array(["text"]), np.array([b"bytes"]), np.zeros(2, "f8,i4")]
)
def test_non_numeric_arrays_are_refused(tmp_path, array):
    assert_refused(write(tmp_path, npz_bytes({"x": array}, good_header())), "dtype")


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = pyio.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy_bytes(array) -> bytes:
    buffer = pyio.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def header_member() -> bytes:
    return npy_bytes(np.frombuffer(json.dumps(good_header()).encode(), np.uint8))


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        ({"readme.txt": b"hi"}, "unexpected member"),
        ({"../evil.npy": npy_bytes(np.ones(1))}, "unexpected member"),
        ({"W0.npy": b"not an npy"}, "corrupt"),
        ({"W0.npy": npy_bytes(np.ones(4))[:-8]}, "needs 32 bytes"),
        ({"W0.npy": npy_bytes(np.ones(4)) + b"\x00" * 8}, "needs 32 bytes"),
    ],
)
def test_odd_zip_members_are_refused(tmp_path, members, fragment):
    data = zip_bytes({**members, "xpnet_header.npy": header_member()})
    assert_refused(write(tmp_path, data), fragment)


def test_duplicate_member_is_refused(tmp_path):
    buffer = pyio.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("W0.npy", npy_bytes(np.ones(1)))
        archive.writestr("W0.npy", npy_bytes(np.ones(2)))
    assert_refused(write(tmp_path, buffer.getvalue()), "twice")


def test_absurd_sizes_are_refused_before_reading(tmp_path):
    # A deflated member far larger than deflate can produce from its bytes.
    data = zip_bytes({"W0.npy": npy_bytes(np.ones(4))}, zipfile.ZIP_DEFLATED)
    record = data.rindex(b"PK\x01\x02")  # central directory entry of W0.npy
    size_field = record + 24  # uncompressed size
    forged = data[:size_field] + (2**31).to_bytes(4, "little") + data[size_field + 4 :]
    assert_refused(write(tmp_path, forged), "claims")
    # More data than the caller allows.
    path = tmp_path / "big.npz"
    io.save_arrays(path, {}, {"W0": np.ones(1000)})
    with pytest.raises(io.ModelFileError, match="at most 100"):
        io.load_arrays(path, max_bytes=100)


def test_too_many_members_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(array_file, "MAX_MEMBERS", 3)
    arrays = {f"a{i}": np.ones(1) for i in range(4)}
    assert_refused(write(tmp_path, npz_bytes(arrays, good_header())), "members")


def test_compressed_npz_loads(tmp_path):
    buffer = pyio.BytesIO()
    text = json.dumps(good_header()).encode()
    np.savez_compressed(
        buffer, W0=np.arange(6.0), xpnet_header=np.frombuffer(text, np.uint8)
    )
    _, arrays = io.load_arrays(write(tmp_path, buffer.getvalue()))
    np.testing.assert_array_equal(arrays["W0"], np.arange(6.0))


def test_flipped_data_byte_is_caught_by_the_checksum(tmp_path):
    data = bytearray(npz_bytes({"W0": np.ones(64)}, good_header()))
    data[data.index(b"\x00\x00\xf0\x3f") + 3] ^= 0x10  # inside W0's float data
    assert_refused(write(tmp_path, bytes(data)), "corrupt")


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
    path = tmp_path / "model.npz"
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
    xpnet.save(model, tmp_path / "m.npz")
    loaded = xpnet.load(tmp_path / "m.npz")
    X, y = np.ones((4, 2)), np.zeros((4, 1))
    _, w_grads, b_grads = loaded.loss_and_gradients(X, y)
    loaded.sgd_step(w_grads, b_grads, 0.5)
    model.sgd_step(*model.loss_and_gradients(X, y)[1:], 0.5)
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_model_file_layout(tmp_path):
    """The documented format: arrays W0.., b0.. and the JSON header."""
    model = xpnet.MLP([3, 2], output_activation="sigmoid", dtype="float64", seed=0)
    xpnet.save(model, tmp_path / "m.npz")
    header, arrays = io.load_arrays(tmp_path / "m.npz")
    assert header == {
        "format": "xpnet-model",
        "format_version": 1,
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
        xpnet.save({"W0": np.ones(2)}, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_load_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        xpnet.load(tmp_path / "absent.npz")


def test_load_checks_the_backend_before_reading(tmp_path):
    with pytest.raises(xpnet.BackendError, match="unknown backend"):
        xpnet.load(tmp_path / "absent.npz", backend="nonsense")


def exported(**config_changes):
    """A valid MLP export, float64 [3, 4, 2] with biases, then config edits."""
    model = xpnet.MLP([3, 4, 2], dtype="float64", seed=0)
    config, arrays = model._export()
    return {**config, **config_changes}, arrays


def save_raw(tmp_path, config, arrays) -> str:
    path = str(tmp_path / "m.npz")
    io.save_arrays(path, {"model": config}, arrays)
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
    path = str(tmp_path / "m.npz")
    io.save_arrays(path, {"note": "a checkpoint, say"}, {"W0": np.ones((2, 2))})
    assert_load_refused(path, "no 'model'")


def test_estimator_kind_without_estimators_gives_a_clear_error(tmp_path):
    config, arrays = exported(kind="MLPClassifier")
    assert_load_refused(save_raw(tmp_path, config, arrays), "MLPClassifier")


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
        (lambda a: a.update(b1=np.array([1, 2])), ["b1", "dtype float64"]),
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
    header = {**good_header(format_version=2), "model": config}
    path = write(tmp_path, npz_bytes(arrays, header))
    assert_load_refused(path, "unsupported format_version 2")


def test_save_refuses_look_alikes(tmp_path):
    class LookAlike:
        def _export(self):
            return xpnet.MLP([2, 1], seed=0)._export()

    with pytest.raises(TypeError, match="got LookAlike"):
        xpnet.save(LookAlike(), tmp_path / "m.npz")


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
