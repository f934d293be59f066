"""The container of model files and checkpoints: one safetensors file.

A file is plain `safetensors <https://huggingface.co/docs/safetensors>`_ (a
length-prefixed JSON header, then raw little-endian tensors at checked offsets; no
code, no compression), written and read with ``safetensors.numpy``. Every tensor is a
float32 or float64 array; xpnet's own JSON header is one string in the safetensors
metadata, under the key ``"xpnet"``, and always carries ``format``,
``format_version``, ``xpnet_version`` and ``crc32``: the CRC-32 of the rest of the
header (compact JSON, sorted keys) and of every tensor's name, dtype, shape and bytes
in name order, so any damaged byte is caught (safetensors has no checksum of its
own). Writes are atomic
(:mod:`xpnet.files.atomic`). Reading never runs code; every malformed file raises
:class:`ModelFileError` naming the file and the problem. What the header and the
tensors mean is :mod:`xpnet.files.model_file`'s business.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import zlib
from typing import Any

import numpy as np

from .._version import __version__
from .atomic import write_atomically
from .messages import brief, cap

FORMAT_NAME = "xpnet-model"
FORMAT_VERSION = 2
"""The one version of model files and checkpoints (2 since 0.3.0: checkpoints hold a
fit state). Within a version, a field added to a header is optional, with the value
a file without it means (``OPTIONAL_KEYS`` of :mod:`xpnet.training.checkpoint`, the
``optional`` keys of :func:`xpnet.files.model_file.check_config`), so files written
before it still read; a field removed, renamed or changed in meaning bumps it."""
METADATA_KEY = "xpnet"
"""The safetensors metadata key whose value is xpnet's JSON header."""
RESERVED_HEADER_KEYS = ("format", "format_version", "xpnet_version", "crc32")
MAX_HEADER_BYTES = 1 << 24
"""Largest JSON header read (16 MiB); a model's is a few hundred bytes, a
checkpoint's grows by about 20 bytes an epoch."""
MAX_TENSORS = 4096
"""Most tensors in one file."""
DTYPES = {"F32": "float32", "F64": "float64"}
"""The safetensors dtypes xpnet writes and reads, with their NumPy names."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}")


class ModelFileError(ValueError):
    """A file is not a valid xpnet model file; the message names the file and why
    (the problem shortened by :func:`xpnet.files.messages.cap`)."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = cap(problem)
        super().__init__(f"model file {self.path!r}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.path, self.problem)


def save_tensors(
    path: str | os.PathLike[str], header: dict[str, Any], arrays: dict[str, Any]
) -> None:
    """Write ``arrays`` and the JSON ``header`` to ``path`` as safetensors, atomically.

    Parameters
    ----------
    path : str or path-like
        The file to write, used exactly as given (a symlink is written through).
    header : dict
        JSON-able metadata (no NaN or inf). ``format``, ``format_version`` and
        ``xpnet_version`` are reserved: they are added here.
    arrays : dict of str to array_like
        float32 or float64 host arrays of any shape; names match
        ``[A-Za-z_][A-Za-z0-9_.-]*`` (at most 128 characters).

    Raises
    ------
    TypeError, ValueError
        A header that is not a JSON-able dict, a bad name, or another dtype.
    FileNotFoundError
        The directory of ``path`` does not exist.
    """
    write_atomically(path, encode(_full_header(header), _host_arrays(arrays)))


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes of a file holding ``header`` (with its ``crc32`` added) and the
    host ``arrays``; nothing is checked (tests build odd files with it)."""
    from safetensors.numpy import save

    header = {**header, "crc32": checksum(header, arrays)}
    text = json.dumps(header, allow_nan=False, sort_keys=True)
    return save(arrays, metadata={METADATA_KEY: text})


def checksum(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> int:
    """CRC-32 of ``header`` (less its ``crc32``) and every array, in name order."""
    rest = {key: value for key, value in header.items() if key != "crc32"}
    text = json.dumps(rest, allow_nan=False, sort_keys=True, separators=(",", ":"))
    crc = zlib.crc32(text.encode("utf-8"))
    for name in sorted(arrays):
        array = arrays[name]
        crc = zlib.crc32(f"{name}:{array.dtype.str}:{array.shape}".encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(array).view(np.uint8).data, crc)
    return crc


def load_tensors(
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by :func:`save_tensors`.

    Returns
    -------
    header : dict
        The JSON header, with ``format``, ``format_version`` and ``xpnet_version``.
    arrays : dict of str to numpy.ndarray
        Every tensor, by name (float32 or float64).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        Anything else wrong: not a regular file, not safetensors, truncated or
        corrupt, no xpnet header, a header that is not a JSON object, the wrong
        format name or an unsupported format version, too many tensors, a tensor
        name or dtype xpnet never writes.
    """
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    _check_regular_file(path)
    try:
        with safe_open(path, framework="np") as handle:
            header = _parse_header(handle.metadata(), path)
            names = list(handle.keys())
            _check_tensors(handle, names, path)
            arrays = {name: handle.get_tensor(name) for name in names}
        _check_checksum(header, arrays, path)
    except ModelFileError:
        raise
    except (SafetensorError, OSError, ValueError, TypeError, MemoryError) as exc:
        raise ModelFileError(
            path, f"not a readable safetensors file ({type(exc).__name__}: {exc})"
        ) from None
    return header, arrays


def _check_regular_file(path: str) -> None:
    """Refuse directories, FIFOs, devices and sockets before anything is opened."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(2, "no model file at this path", path) from None
    if not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ModelFileError(path, f"is {what} (a FIFO, device or socket?)")


def _check_tensors(handle: Any, names: list[str], path: str) -> None:
    if len(names) > MAX_TENSORS:
        raise ModelFileError(path, f"{len(names)} tensors; at most {MAX_TENSORS}")
    for name in names:
        if not _NAME.fullmatch(name):
            raise ModelFileError(path, f"unexpected tensor name {name[:64]!r}")
        dtype = handle.get_slice(name).get_dtype()
        if dtype not in DTYPES:
            raise ModelFileError(
                path,
                f"tensor {name!r} has dtype {dtype}; xpnet files hold only "
                f"{sorted(DTYPES)}",
            )


def _check_checksum(
    header: dict[str, Any], arrays: dict[str, np.ndarray], path: str
) -> None:
    if header.get("crc32") != checksum(header, arrays):
        raise ModelFileError(
            path,
            f"checksum mismatch (crc32 {brief(header.get('crc32'))}): the file is "
            "damaged or was edited",
        )


def _full_header(header: Any) -> dict[str, Any]:
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
        json.dumps(full, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"header must be JSON-able, without NaN or inf; {exc}"
        ) from None
    return full


def _host_arrays(arrays: Any) -> dict[str, np.ndarray]:
    if not isinstance(arrays, dict):
        raise TypeError(f"arrays must be a dict of name to array; got {arrays!r}")
    host = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(
                f"array names must match [A-Za-z_][A-Za-z0-9_.-]* (at most 128 "
                f"characters); got {name!r}"
            )
        array = np.asarray(value)
        if array.dtype.name not in DTYPES.values():
            raise TypeError(
                f"arrays[{name!r}] must be float32 or float64; got dtype {array.dtype}"
            )
        host[name] = np.ascontiguousarray(array)
    return host


def _parse_header(metadata: Any, path: str) -> dict[str, Any]:
    text = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    if not isinstance(text, str):
        raise ModelFileError(
            path,
            f"no xpnet header (safetensors metadata key {METADATA_KEY!r}); a "
            "safetensors file, but not an xpnet model file",
        )
    if len(text) > MAX_HEADER_BYTES:
        raise ModelFileError(
            path, f"header of {len(text)} characters; at most {MAX_HEADER_BYTES}"
        )
    try:
        header = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite_float
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
            f"format must be {FORMAT_NAME!r}; got {brief(header.get('format'))} "
            "(not an xpnet model file)",
        )
    version = header.get("format_version")
    if type(version) is int and 1 <= version < FORMAT_VERSION:
        raise ModelFileError(
            path,
            f"format_version {version} was written by an older xpnet; this xpnet "
            f"reads format_version {FORMAT_VERSION} only: fit the model again (or "
            "load it with the xpnet that wrote it and use its weights) and save it",
        )
    if type(version) is not int or version != FORMAT_VERSION:
        raise ModelFileError(
            path,
            f"unsupported format_version {brief(version)}; this xpnet reads "
            f"format_version {FORMAT_VERSION} (a newer xpnet may read it)",
        )
    if not isinstance(header.get("xpnet_version"), str):
        raise ModelFileError(
            path,
            f"xpnet_version must be a string; got {brief(header.get('xpnet_version'))}",
        )
    return header


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in the header")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows to {value}")
    return value
