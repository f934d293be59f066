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


# ---- what a write leaves, names and refuses (atomic.py, issue 27) --------------------


def _temporary_names(monkeypatch) -> list[str]:
    """The temporary file of every write from now on, as ``os.replace`` sees it."""
    names: list[str] = []
    real_replace = os.replace

    def recording(source, target):
        names.append(source)
        real_replace(source, target)

    monkeypatch.setattr(atomic.os, "replace", recording)
    return names


def test_the_temporary_is_named_for_the_target_next_to_it(tmp_path, monkeypatch):
    """``.NAME.PID.RANDOM.tmp`` in the target's directory: the pattern that the
    next save's clean-up recognises."""
    names = _temporary_names(monkeypatch)
    tensor_file.save_tensors(tmp_path / "m.safetensors", {}, {})
    (name,) = names
    assert os.path.dirname(name) == str(tmp_path)
    assert re.fullmatch(
        rf"\.m\.safetensors\.{os.getpid()}\.[0-9a-f]{{12}}\.tmp", os.path.basename(name)
    )


def test_a_taken_temporary_name_is_skipped(tmp_path, monkeypatch):
    """O_EXCL finds the first random name taken (by a save of ours in another
    thread): the write draws another and leaves the other file alone."""
    taken = tmp_path / f".m.safetensors.{os.getpid()}.{'0' * 12}.tmp"
    taken.write_bytes(b"another thread's")
    draws = iter(["0" * 12, "1" * 12])
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda n: next(draws))
    names = _temporary_names(monkeypatch)
    tensor_file.save_tensors(tmp_path / "m.safetensors", {}, {})
    assert [os.path.basename(name) for name in names] == [
        f".m.safetensors.{os.getpid()}.{'1' * 12}.tmp"
    ]
    assert taken.read_bytes() == b"another thread's"


def test_a_new_file_gets_read_and_write_bits_less_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        tensor_file.save_tensors(tmp_path / "m.safetensors", {}, {})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.safetensors").st_mode) == 0o644


def test_temporaries_of_live_or_unknown_processes_are_kept(tmp_path):
    """Ours (another thread may be saving), a live process's (sent no signal: it
    keeps running) and a pid that cannot be asked about (too large for kill)
    stay."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kept = [
            tmp_path / f".m.safetensors.{pid}.0123456789ab.tmp"
            for pid in (os.getpid(), child.pid, 10**30)
        ]
        for path in kept:
            path.write_bytes(b"partial")
        tensor_file.save_tensors(tmp_path / "m.safetensors", {}, {})
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["m.safetensors", *(path.name for path in kept)]
        )
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.3)  # a signal other than 0 would have ended it
    finally:
        child.kill()
        child.wait()


def _pathconf_saying(name_max):
    """``os.pathconf`` of a file system whose names hold ``name_max`` bytes."""

    def pathconf(path, name):
        if name != "PC_NAME_MAX":
            raise ValueError("unrecognized configuration name")
        return name_max

    return pathconf


def _no_pathconf(path, name):
    raise OSError(errno.EINVAL, "no limit")


@pytest.mark.parametrize(
    ("pathconf", "base", "stem"),
    [
        (_pathconf_saying(255), "m" * 300, "m" * 226),
        (_pathconf_saying(35), "model.safetensors", "model."),  # 35 - 29 bytes
        (_pathconf_saying(30), "model.safetensors", "m"),  # a 10-digit pid just fits
        (_pathconf_saying(20), "model.safetensors", "m"),  # never empty
        (_pathconf_saying(35), "é" * 5, "ééé"),  # bytes, not characters
        (_no_pathconf, "m" * 300, "m" * 226),  # 255 assumed
        (None, "m" * 300, "m" * 226),  # no os.pathconf (Windows): 255 assumed
    ],
)
def test_the_temporary_name_fits_the_directory(monkeypatch, pathconf, base, stem):
    if pathconf is None:
        monkeypatch.delattr(atomic.os, "pathconf")
    else:
        monkeypatch.setattr(atomic.os, "pathconf", pathconf)
    assert atomic._stem("/anywhere", base) == stem


def test_a_missing_directory_is_file_not_found_naming_the_path(tmp_path):
    path = tmp_path / "no" / "m.safetensors"
    with pytest.raises(FileNotFoundError) as info:
        tensor_file.save_tensors(path, {}, {})
    assert info.value.errno == errno.ENOENT and info.value.filename == str(path)
    assert str(info.value) == (
        f"[Errno 2] cannot save: directory {str(tmp_path / 'no')!r} does not exist: "
        f"{str(path)!r}"
    )


@needs_fifo
def test_a_fifo_made_during_the_write_is_refused_naming_the_path(tmp_path, monkeypatch):
    """The target is checked again just before the rename: a FIFO that appeared
    meanwhile stays, and the error names the path as given."""
    path = tmp_path / "m.safetensors"
    real_fsync = os.fsync

    def fsync_then_a_fifo(fd):
        real_fsync(fd)
        if not path.exists():
            os.mkfifo(path)

    monkeypatch.setattr(atomic.os, "fsync", fsync_then_a_fifo)
    with pytest.raises(atomic.NotRegularFileError) as info:
        tensor_file.save_tensors(path, {}, {})
    assert info.value.filename == str(path) and repr(str(path)) in str(info.value)
    assert os.listdir(tmp_path) == ["m.safetensors"]
    assert stat.S_ISFIFO(os.stat(path).st_mode)


def test_the_refusal_is_eexist_and_says_what_to_do():
    error = atomic.NotRegularFileError("/tmp/p", "a FIFO (named pipe)")
    assert error.errno == errno.EEXIST and error.filename == "/tmp/p"
    assert str(error) == (
        "cannot write '/tmp/p': it is a FIFO (named pipe), not a regular file; xpnet "
        "replaces only regular files (remove it or choose another path)"
    )


def test_a_file_of_no_known_kind_is_not_a_file():
    """A type that ``stat`` has no predicate for here (a Solaris door, say)."""
    assert atomic.file_kind(os.stat_result((0o600, *(0,) * 9))) == "not a file"
