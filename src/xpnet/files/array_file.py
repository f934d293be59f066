"""The container of model files and checkpoints: arrays plus a JSON header in one
``.npz``, never pickle.

A file is a ZIP archive as written by :func:`numpy.savez`: one ``NAME.npy`` member per
array, plus the member ``xpnet_header.npy``, a 1-D ``uint8`` array holding the UTF-8
JSON header. The header always carries ``format``, ``format_version`` and
``xpnet_version``. Writes are atomic (a temporary file in the same directory, fsync,
rename); reads never unpickle and never run code, check every size before reading,
and every malformed file raises :class:`ModelFileError` naming the file and the
problem. What the header and arrays mean is :mod:`xpnet.files.model_file`'s business.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import struct
import zipfile
import zlib
from typing import IO, Any

import numpy as np

from .._version import __version__

FORMAT_NAME = "xpnet-model"
FORMAT_VERSION = 1
HEADER_KEY = "xpnet_header"
RESERVED_HEADER_KEYS = ("format", "format_version", "xpnet_version")

MAX_HEADER_BYTES = 1 << 20
"""Largest JSON header read (1 MiB); real headers are a few hundred bytes."""
MAX_MEMBERS = 4096
"""Most arrays in one file."""
MAX_BYTES = 1 << 34
"""Largest total array data read from one file (16 GiB)."""
_MAX_DEFLATE_RATIO = 1100  # deflate cannot expand data more than about 1032:1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}")
_NUMERIC_KINDS = "biufc"
_NPY_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}

# What a damaged archive can raise from zipfile, zlib, struct and numpy's npy parser.
_PARSE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    NotImplementedError,  # an unknown compression method
    RuntimeError,  # an encrypted member; RecursionError on absurdly nested JSON
)


class ModelFileError(ValueError):
    """A file is not a valid xpnet model file; the message names the file and why."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"model file {self.path!r}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.path, self.problem)


def save_arrays(
    path: str | os.PathLike[str],
    header: dict[str, Any],
    arrays: dict[str, Any],
) -> None:
    """Write ``arrays`` and the JSON ``header`` to ``path`` atomically.

    The data goes to a temporary file in the same directory, is flushed and fsynced,
    then renamed over ``path``; on any failure the temporary file is removed and
    ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The file to write, used exactly as given (no ``.npz`` is appended).
    header : dict
        JSON-able metadata (no NaN or inf). ``format``, ``format_version`` and
        ``xpnet_version`` are reserved: they are added here.
    arrays : dict of str to array_like
        Numeric host arrays of any shape; names match ``[A-Za-z_][A-Za-z0-9_.-]*``
        (at most 128 characters) and ``xpnet_header`` is reserved.

    Raises
    ------
    TypeError, ValueError
        A header that is not a JSON-able dict, a bad name, or a non-numeric array.
    FileNotFoundError
        The directory of ``path`` does not exist.
    """
    text = _header_text(header)
    host = _host_arrays(arrays)
    host[HEADER_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"cannot save to {path!r}: directory {directory!r} does not exist"
        )
    tmp, fh = _open_temporary(directory, os.path.basename(path))
    try:
        with fh:
            np.savez(fh, allow_pickle=False, **host)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_directory(directory)


def load_arrays(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by :func:`save_arrays`, without pickle.

    Parameters
    ----------
    path : str or path-like
    max_bytes : int
        Refuse files whose arrays would take more memory than this.

    Returns
    -------
    header : dict
        The JSON header, with ``format``, ``format_version`` and ``xpnet_version``.
    arrays : dict of str to numpy.ndarray
        Every array but the header, by name, in file order.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        Anything else wrong with the file: not an npz, truncated or corrupt, too
        large, no header, a header that is not a JSON object, the wrong format name
        or an unsupported format version, or an object or non-numeric array.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "no model file at this path", path)
    if os.path.isdir(path):
        raise ModelFileError(path, "is a directory, not a model file")
    with open(path, "rb") as fh:
        try:
            arrays = _read_npz(fh, path, max_bytes)
        except ModelFileError:
            raise
        except MemoryError:
            raise ModelFileError(path, "arrays too large for memory") from None
        except _PARSE_ERRORS as exc:
            raise ModelFileError(
                path, f"corrupt or truncated npz ({type(exc).__name__}: {exc})"
            ) from None
    if HEADER_KEY not in arrays:
        raise ModelFileError(
            path, f"no header (member {HEADER_KEY}.npy); not an xpnet model file"
        )
    header = _parse_header(arrays.pop(HEADER_KEY), path)
    return header, arrays


def _header_text(header: Any) -> str:
    if not isinstance(header, dict):
        raise TypeError(f"header must be a dict; got {type(header).__name__}")
    taken = [key for key in RESERVED_HEADER_KEYS if key in header]
    if taken:
        raise ValueError(f"header keys {taken} are reserved; they are set on save")
    full = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "xpnet_version": __version__,
        **header,
    }
    try:
        return json.dumps(full, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"header must be JSON-able, without NaN or inf; {exc}"
        ) from None


def _host_arrays(arrays: Any) -> dict[str, np.ndarray]:
    if not isinstance(arrays, dict):
        raise TypeError(f"arrays must be a dict of name to array; got {arrays!r}")
    host = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name == HEADER_KEY:
            raise ValueError(
                f"array names must match [A-Za-z_][A-Za-z0-9_.-]* (at most 128 "
                f"characters) and not be {HEADER_KEY!r}; got {name!r}"
            )
        array = np.asarray(value)
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(
                f"arrays[{name!r}] must be numeric; got dtype {array.dtype}"
            )
        host[name] = array
    return host


def _open_temporary(directory: str, base: str) -> tuple[str, IO[bytes]]:
    """A new file next to the target, created with O_EXCL (so the umask applies)."""
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return tmp, os.fdopen(fd, "wb")


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


def _read_npz(fh: IO[bytes], path: str, max_bytes: int) -> dict[str, np.ndarray]:
    """Every member as an array; all sizes and npy headers are checked before any
    data is read, and the data goes through numpy's reader with pickle refused."""
    if not zipfile.is_zipfile(fh):
        size = os.fstat(fh.fileno()).st_size
        what = (
            "an empty file"
            if size == 0
            else f"{size} bytes without a ZIP end-of-archive record"
        )
        raise ModelFileError(
            path,
            f"must be an npz file (a ZIP archive); got {what}: not an npz file, or "
            "truncated",
        )
    fh.seek(0)
    with zipfile.ZipFile(fh) as archive:
        infos = archive.infolist()
        names = _check_members(infos, path, max_bytes, os.fstat(fh.fileno()).st_size)
        for info in infos:
            _check_member_header(archive, info, path)
        return {
            name: _read_member(archive, info)
            for name, info in zip(names, infos, strict=True)
        }


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as member:
        array = np.lib.format.read_array(member, allow_pickle=False)
        member.read()  # reaching the end makes zipfile verify the CRC-32
    return array


def _check_members(
    infos: list[zipfile.ZipInfo], path: str, max_bytes: int, file_size: int
) -> list[str]:
    """Array names from the ZIP directory, refusing odd names and absurd sizes.

    Sizes are checked before anything is read or allocated: stored data must lie
    inside the file, and deflated data cannot expand beyond deflate's limit.
    """
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(path, f"{len(infos)} members; at most {MAX_MEMBERS}")
    names, total = [], 0
    for info in infos:
        stem = info.filename.removesuffix(".npy")
        if stem == info.filename or not _NAME.fullmatch(stem):
            raise ModelFileError(
                path, f"unexpected member {info.filename!r} (expected NAME.npy)"
            )
        if stem in names:
            raise ModelFileError(path, f"member {info.filename!r} appears twice")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(
                path, f"member {info.filename!r} uses compression {info.compress_type}"
            )
        if info.header_offset + info.compress_size > file_size:
            raise ModelFileError(
                path,
                f"member {info.filename!r} extends past the end of the file "
                f"({file_size} bytes); the file is truncated",
            )
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or (
            info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 64
        ):
            raise ModelFileError(
                path,
                f"member {info.filename!r} claims {info.file_size} bytes from "
                f"{info.compress_size} stored bytes",
            )
        total += info.file_size
        names.append(stem)
    if total > max_bytes:
        raise ModelFileError(
            path, f"arrays would take {total} bytes; at most {max_bytes} are read"
        )
    return names


def _check_member_header(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str
) -> None:
    """The npy header: a numeric dtype and data exactly as long as the member."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in _NPY_READERS:
            raise ModelFileError(
                path, f"member {info.filename!r} has npy format version {version}"
            )
        shape, _, dtype = _NPY_READERS[version](member)
        offset = member.tell()
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
        raise ModelFileError(
            path,
            f"array {info.filename.removesuffix('.npy')!r} has dtype {dtype}; only "
            "numeric arrays are allowed (object arrays are never unpickled)",
        )
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != info.file_size - offset:
        raise ModelFileError(
            path,
            f"array {info.filename.removesuffix('.npy')!r} of shape {shape} needs "
            f"{nbytes} bytes; the member holds {info.file_size - offset}",
        )
    if info.filename == f"{HEADER_KEY}.npy" and nbytes > MAX_HEADER_BYTES:
        raise ModelFileError(
            path, f"header of {nbytes} bytes; at most {MAX_HEADER_BYTES} are read"
        )


def _parse_header(raw: np.ndarray, path: str) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(
            path, f"header must be 1-D uint8; got {raw.dtype} shape {raw.shape}"
        )
    try:
        header = json.loads(
            raw.tobytes().decode("utf-8"),
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(path, f"header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ModelFileError(
            path, f"header must be a JSON object; got {type(header).__name__}"
        )
    if header.get("format") != FORMAT_NAME:
        raise ModelFileError(
            path,
            f"format must be {FORMAT_NAME!r}; got {header.get('format')!r} "
            "(not an xpnet model file)",
        )
    version = header.get("format_version")
    if type(version) is not int or not 1 <= version <= FORMAT_VERSION:
        raise ModelFileError(
            path,
            f"unsupported format_version {version!r}; this xpnet reads versions 1 "
            f"to {FORMAT_VERSION} (a newer xpnet may read it)",
        )
    if not isinstance(header.get("xpnet_version"), str):
        raise ModelFileError(
            path, f"xpnet_version must be a string; got {header.get('xpnet_version')!r}"
        )
    return header


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in the header")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows to {value}")
    return value
