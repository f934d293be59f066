"""Atomic file writes: a file is either the old one or the whole new one, never half.

The bytes go to a temporary file in the target's directory (named
``.NAME.PID.RANDOM.tmp``), are flushed and fsynced, and the temporary file is renamed
over the target; the directory is then fsynced so the rename itself is durable. A
symlink is written through (its target is replaced, the link stays), an existing
file keeps its permission bits, and temporary files that a killed save of this
naming left behind (their process is gone) are removed on the next save.

A target that exists and is not a regular file (a directory, FIFO, device or socket,
directly or through a symlink) is refused before anything is written
(:class:`NotRegularFileError`): ``os.replace`` would swap it for a regular file (run
as root, ``/dev/null`` would become one). A base name too long for the temporary
name's suffix is shortened in the temporary name only (within the directory's
``NAME_MAX``). A failed write names the target.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from typing import Any

_TEMPORARY = re.compile(r"\.(?P<base>.+)\.(?P<pid>\d+)\.[0-9a-f]{12}\.tmp")
_SUFFIX_BYTES = len(".") + len(".4294967295.") + 12 + len(".tmp")
"""The bytes a temporary name adds to the base (a pid of up to 10 digits)."""
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(OSError):
    """The target exists and is not a regular file; nothing was written."""

    def __init__(self, path: str, kind: str) -> None:
        self.kind = kind
        super().__init__(
            errno.EEXIST,
            f"cannot write {path!r}: it is {kind}, not a regular file; xpnet "
            "replaces only regular files (remove it or choose another path)",
            path,
        )

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.filename, self.kind)


def file_kind(info: os.stat_result) -> str | None:
    """What ``info`` describes, in words, or None for a regular file."""
    if stat.S_ISREG(info.st_mode):
        return None
    return next((kind for test, kind in _KINDS if test(info.st_mode)), "not a file")


def check_target(path: str | os.PathLike[str]) -> None:
    """Raise :class:`NotRegularFileError` if ``path`` (through symlinks) exists and
    is not a regular file; a missing path is fine."""
    try:
        info = os.stat(os.path.realpath(os.fspath(path)))
    except (FileNotFoundError, NotADirectoryError):
        return
    kind = file_kind(info)
    if kind is not None:
        raise NotRegularFileError(os.fspath(path), kind)


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at ``path`` by ``data`` atomically (see the module docstring).

    Raises
    ------
    FileNotFoundError
        The directory of ``path`` does not exist.
    NotRegularFileError
        ``path`` exists and is not a regular file; nothing is written.
    OSError
        Writing failed (e.g. ENOSPC); the error's ``filename`` is ``path``, which is
        left as it was, and the temporary file is removed.
    """
    target = os.path.realpath(os.fspath(path))  # through symlinks, to the real file
    directory, base = os.path.split(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            2, f"cannot save: directory {directory!r} does not exist", os.fspath(path)
        )
    mode = _existing_mode(target, os.fspath(path))
    stem = _stem(directory, base)
    _remove_stale_temporaries(directory, stem)
    tmp, fd = _open_temporary(directory, stem)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if mode is not None and hasattr(os, "fchmod"):  # POSIX
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        _existing_mode(target, os.fspath(path))  # again: it may have appeared since
        os.replace(tmp, target)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = os.fspath(path)  # ENOSPC and the like name no file
        raise
    _fsync_directory(directory)


def _existing_mode(target: str, path: str) -> int | None:
    """The permission bits of the regular file at ``target``, None where there is
    none; :class:`NotRegularFileError` (naming ``path``) for anything else."""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return None
    kind = file_kind(info)
    if kind is not None:
        raise NotRegularFileError(path, kind)
    return stat.S_IMODE(info.st_mode)


def _stem(directory: str, base: str) -> str:
    """``base``, shortened until a temporary name built on it fits the directory's
    NAME_MAX (a long target name stays valid; only its temporary is shortened)."""
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no limit
        name_max = 255
    budget = max(1, name_max - _SUFFIX_BYTES)
    stem = base
    while len(os.fsencode(stem)) > budget:
        stem = stem[:-1]
    return stem


def _open_temporary(directory: str, stem: str) -> tuple[str, int]:
    """A new file next to the target, created with O_EXCL (so the umask applies)."""
    while True:
        name = f".{stem}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        tmp = os.path.join(directory, name)
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue


def _remove_stale_temporaries(directory: str, stem: str) -> None:
    """Remove ``.STEM.PID.*.tmp`` files whose process no longer runs."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = _TEMPORARY.fullmatch(name)
        if match and match["base"] == stem and not _running(int(match["pid"])):
            _remove_quietly(os.path.join(directory, name))


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of ours may be saving
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or cannot tell: keep the file
    return True


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable where the platform allows it (POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
