"""Atomic file writes: a file is either the old one or the whole new one, never half.

The bytes go to a temporary file in the target's directory (named
``.NAME.PID.RANDOM.tmp``), are flushed and fsynced, and the temporary file is renamed
over the target; the directory is then fsynced so the rename itself is durable. A
symlink is written through (its target is replaced, the link stays), an existing
file keeps its permission bits, and temporary files that a killed save of this
naming left behind (their process is gone) are removed on the next save.
"""

from __future__ import annotations

import os
import re
import secrets
import stat

_TEMPORARY = re.compile(r"\.(?P<base>.+)\.(?P<pid>\d+)\.[0-9a-f]{12}\.tmp")


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at ``path`` by ``data`` atomically (see the module docstring).

    Raises
    ------
    FileNotFoundError
        The directory of ``path`` does not exist.
    OSError
        Writing failed (e.g. ENOSPC); ``path`` is left as it was and the temporary
        file is removed.
    """
    target = os.path.realpath(os.fspath(path))  # through symlinks, to the real file
    directory, base = os.path.split(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            2, f"cannot save: directory {directory!r} does not exist", os.fspath(path)
        )
    _remove_stale_temporaries(directory, base)
    mode = _existing_mode(target)
    tmp, fd = _open_temporary(directory, base)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if mode is not None and hasattr(os, "fchmod"):  # POSIX
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_directory(directory)


def _existing_mode(target: str) -> int | None:
    """The permission bits of the regular file at ``target``, or None."""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def _open_temporary(directory: str, base: str) -> tuple[str, int]:
    """A new file next to the target, created with O_EXCL (so the umask applies)."""
    while True:
        name = f".{base}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        tmp = os.path.join(directory, name)
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue


def _remove_stale_temporaries(directory: str, base: str) -> None:
    """Remove ``.BASE.PID.*.tmp`` files whose process no longer runs."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = _TEMPORARY.fullmatch(name)
        if match and match["base"] == base and not _running(int(match["pid"])):
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
