"""What xpnet's writers refuse to replace, long target names, short messages.

Every writer (``save``, ``save_tensors``, ``export_onnx``, ``fit(checkpoint=...)``,
``xpnet train --save``, ``xpnet export --onnx``) goes through
:func:`xpnet.files.atomic.write_atomically`, which refuses a target that exists and is
not a regular file before writing anything. The targets here are FIFOs, directories
and symlinks made in ``tmp_path``; devices and sockets are only ever stat results
(never opened, never written).
"""

from __future__ import annotations

import errno
import os
import pathlib
import re
import stat
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpnet
from xpnet.command import cli
from xpnet.files import atomic, tensor_file

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")


def _regressor() -> xpnet.MLPRegressor:
    X = np.random.default_rng(0).normal(size=(20, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs do not converge
        return xpnet.MLPRegressor((4,), max_iter=2, random_state=0).fit(X, X[:, 0])


def _blobs_csv(path) -> str:
    rng = np.random.default_rng(0)
    rows = [(*rng.normal(size=2) + 3 * label, label) for label in (0, 1) * 15]
    path.write_text("a,b,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    return str(path)


def _fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    return tmp_path / "pipe"


def _symlink_to_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link").symlink_to(tmp_path / "pipe")
    return tmp_path / "link"


def _directory(tmp_path):
    (tmp_path / "folder").mkdir()
    return tmp_path / "folder"


TARGETS = {"fifo": _fifo, "symlink to a fifo": _symlink_to_fifo, "dir": _directory}
KINDS = {"fifo": "FIFO", "symlink to a fifo": "FIFO", "dir": "directory"}


def _write_with(writer, target):
    if writer == "save":
        xpnet.save(_regressor(), target)
    elif writer == "save_tensors":
        tensor_file.save_tensors(target, {}, {"W0": np.ones(2)})
    elif writer == "export_onnx":
        pytest.importorskip("onnx", reason="onnx is the optional xpnet[onnx]")
        from xpnet.files.onnx_export import export_onnx

        export_onnx(_regressor(), target)
    else:  # fit(checkpoint=...)
        X = np.random.default_rng(0).normal(size=(20, 3))
        model = xpnet.MLPRegressor((4,), max_iter=2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
            model.fit(X, X[:, 0], checkpoint=target)


@needs_fifo
@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("writer", ["save", "save_tensors", "export_onnx", "fit"])
def test_writers_refuse_targets_that_are_not_regular_files(tmp_path, writer, target):
    """Item 5 of issue 24: a FIFO (or what a symlink points to) was replaced by a
    regular file; now refused, naming the path, and nothing is written."""
    path = TARGETS[target](tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(atomic.NotRegularFileError) as info:
        _write_with(writer, path)
    message = str(info.value)
    assert repr(str(path)) in message and KINDS[target] in message
    assert info.value.filename == str(path)
    assert sorted(os.listdir(tmp_path)) == before  # no temporary left either
    if target != "dir":
        assert stat.S_ISFIFO(os.stat(path).st_mode)


@needs_fifo
@pytest.mark.parametrize("option", ["--save", "--onnx"])
def test_commands_refuse_a_fifo_output_before_any_work(tmp_path, capsys, option):
    fifo = _fifo(tmp_path)
    if option == "--save":
        argv = ["train", "--data", _blobs_csv(tmp_path / "d.csv"), "--quiet"]
    else:
        pytest.importorskip("onnx", reason="onnx is the optional xpnet[onnx]")
        xpnet.save(_regressor(), tmp_path / "m.safetensors")
        argv = ["export", str(tmp_path / "m.safetensors")]
    assert cli.main([*argv, option, str(fifo)]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and repr(str(fifo)) in err and "FIFO" in err
    assert option in err and out == ""  # refused before training or exporting
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_character_device_target_is_refused_without_touching_it(
    tmp_path, monkeypatch
):
    """The device is a stat result: the target path is a plain file that
    ``os.stat`` reports as a character device; it must stay as it was."""
    path = tmp_path / "device"
    path.write_bytes(b"untouched")
    real_stat = os.stat
    device = os.stat_result((stat.S_IFCHR | 0o666, *real_stat(path)[1:]))

    def fake_stat(name, *args, **kwargs):
        return (
            device if os.fspath(name) == str(path) else real_stat(name, *args, **kwargs)
        )

    monkeypatch.setattr(atomic.os, "stat", fake_stat)
    with pytest.raises(atomic.NotRegularFileError, match="a character device"):
        xpnet.save(_regressor(), path)
    monkeypatch.undo()
    assert path.read_bytes() == b"untouched" and os.listdir(tmp_path) == ["device"]


def test_the_predicate_names_every_kind_of_file():
    assert atomic.file_kind(os.stat("/dev/null")) == "a character device"  # read only
    assert atomic.file_kind(os.stat(__file__)) is None
    for mode, words in [
        (stat.S_IFDIR, "a directory"),
        (stat.S_IFIFO, "a FIFO (named pipe)"),
        (stat.S_IFBLK, "a block device"),
        (stat.S_IFSOCK, "a socket"),
    ]:
        info = os.stat_result((mode | 0o600, *(0,) * 9))
        assert atomic.file_kind(info) == words


ENTRIES = ["absent", "regular", "fifo", "dir", "dangling"]


def _make(path, entry):
    if entry == "regular":
        path.write_bytes(b"old")
    elif entry == "fifo":
        os.mkfifo(path)
    elif entry == "dir":
        path.mkdir()
    elif entry == "dangling":
        path.symlink_to(path.parent / "nowhere")


def _kinds(directory):
    return {p.name: stat.S_IFMT(os.lstat(p).st_mode) for p in directory.iterdir()}


@needs_fifo
@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    entry=st.sampled_from(ENTRIES),
    links=st.integers(0, 2),
    writer=st.sampled_from(["save", "save_tensors", "fit"]),
)
def test_a_write_succeeds_exactly_where_a_regular_file_or_nothing_is(
    entry, links, writer
):
    """Whatever sits at the end of a chain of 0 to 2 symlinks: a write either
    leaves a loadable regular file there, or is refused leaving every entry as
    it was (no temporary either)."""
    import tempfile

    with tempfile.TemporaryDirectory() as name:
        directory = pathlib.Path(name)
        path = directory / "end"
        _make(path, entry)
        for link in range(links):
            (directory / f"link{link}").symlink_to(path)
            path = directory / f"link{link}"
        before = _kinds(directory)
        if entry in ("fifo", "dir"):
            with pytest.raises(
                atomic.NotRegularFileError, match=re.escape(repr(str(path)))
            ):
                _write_with(writer, path)
            assert _kinds(directory) == before
        else:
            _write_with(writer, path)
            assert os.path.isfile(path) and tensor_file.load_tensors(path)
            assert sorted(_kinds(directory)) == sorted(
                {*before, *(["nowhere"] if entry == "dangling" else [])}
                | ({"end"} if entry == "absent" else set())
            )


def test_regular_files_dangling_symlinks_and_new_paths_are_written(tmp_path):
    (tmp_path / "old").write_bytes(b"old")
    (tmp_path / "dangling").symlink_to(tmp_path / "made")
    for name in ("old", "dangling", "new"):
        tensor_file.save_tensors(tmp_path / name, {"n": 1}, {})
        assert tensor_file.load_tensors(tmp_path / name)[0]["n"] == 1
    assert (tmp_path / "dangling").is_symlink() and (tmp_path / "made").is_file()


def test_refusal_pickles_by_value(tmp_path):
    import pickle

    error = atomic.NotRegularFileError(str(tmp_path / "p"), "a FIFO (named pipe)")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.filename == error.filename


# ---- long names (item 17) --------------------------------------------------------


@pytest.mark.parametrize("length", [239, 255])
def test_save_to_the_longest_file_names_the_directory_allows(tmp_path, length):
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    if name_max < length:
        pytest.skip(f"this file system allows names of {name_max} bytes")
    path = tmp_path / ("m" * (length - 12) + ".safetensors")
    model = _regressor()
    xpnet.save(model, path)
    xpnet.save(model, path)  # and over itself
    assert os.listdir(tmp_path) == [path.name]
    np.testing.assert_array_equal(xpnet.load(path).coefs_[0], model.coefs_[0])


def test_stale_temporaries_of_long_names_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    path = tmp_path / ("m" * 243 + ".safetensors")
    stem = atomic._stem(str(tmp_path), path.name)
    assert len(stem) < len(path.name)
    stale = tmp_path / f".{stem}.{int(dead.stdout)}.0123456789ab.tmp"
    stale.write_bytes(b"partial")
    tensor_file.save_tensors(path, {}, {})
    assert os.listdir(tmp_path) == [path.name]


# ---- a full disk -------------------------------------------------------------------


class _FullDisk:
    """``os.fdopen`` whose file takes a few bytes, then finds the disk full."""

    real_fdopen = staticmethod(os.fdopen)

    def __init__(self, fd, mode):
        self.fh = self.real_fdopen(fd, mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def write(self, data):
        self.fh.write(data[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    monkeypatch.setattr(atomic.os, "fdopen", _FullDisk)
    with pytest.raises(OSError) as info:
        xpnet.save(_regressor(), path)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert str(path) in str(info.value) and os.listdir(tmp_path) == []


def test_train_save_on_a_full_disk_names_the_path(tmp_path, monkeypatch, capsys):
    data = _blobs_csv(tmp_path / "d.csv")
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"the previous model")
    monkeypatch.setattr(atomic.os, "fdopen", _FullDisk)
    assert cli.main(["train", "--data", data, "--quiet", "--save", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--save" in err and repr(str(path)) in err
    assert os.strerror(errno.ENOSPC) in err
    assert path.read_bytes() == b"the previous model"
    assert sorted(os.listdir(tmp_path)) == ["d.csv", "m.safetensors"]
