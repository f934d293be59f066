"""Model files: the array container (atomic writes, a loader that refuses bad files)
and ``xpnet.save`` / ``xpnet.load`` across backends."""

from __future__ import annotations

import io as pyio
import json
import os
import zipfile

import numpy as np
import pytest

import xpnet
from xpnet import io

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


def assert_refused(path: str, *fragments: str) -> io.ModelFileError:
    with pytest.raises(io.ModelFileError) as info:
        io.load_arrays(path)
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


def test_object_array_is_refused_without_unpickling(tmp_path, monkeypatch):
    """An npz holding a pickled object array whose unpickling would run code."""
    ran = []

    class Payload:
        def __reduce__(self):
            return (ran.append, ("code ran",))

    data = npz_bytes(
        {"W0": np.array([Payload()], dtype=object)}, good_header()
    )  # numpy pickles it when writing
    import pickle

    monkeypatch.setattr(pickle, "loads", lambda *a, **k: ran.append("loads"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: ran.append("load"))
    assert_refused(write(tmp_path, data), "object", "never unpickled")
    assert ran == []


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
    monkeypatch.setattr(io, "MAX_MEMBERS", 3)
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
