"""Out of memory, on a device or the host: the error xpnet raises, how to recognise
each library's own, and the sizes its messages quote."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class DeviceMemoryError(MemoryError):
    """The device ran out of memory; the message says what did not fit (the data or
    one batch of work) and what to change."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says a device (or the host) ran out of memory.

    NumPy raises MemoryError, CuPy its OutOfMemoryError (a MemoryError) or a
    CUDARuntimeError "cudaErrorMemoryAllocation: out of memory", torch
    ``torch.OutOfMemoryError`` (a RuntimeError), JAX an error saying
    RESOURCE_EXHAUSTED.
    """
    text = str(exc)
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or (isinstance(exc, RuntimeError) and "out of memory" in text.lower())
        or "RESOURCE_EXHAUSTED" in text
    )


def data_size(data: Any, dtype: Any) -> str:
    """Shape, dtype and size of ``data`` (an array, or host data such as a list) as
    a model of ``dtype`` holds it, for messages: ``"(60000, 784) float32 (179.4
    MiB)"``."""
    shape = getattr(data, "shape", None)
    shape = tuple(np.shape(data) if shape is None else shape)
    name = str(getattr(dtype, "name", dtype)).replace("torch.", "")
    itemsize = 8 if "64" in name else 4  # the model dtypes: float32, float64
    mib = math.prod(shape) * itemsize / 2**20
    return f"{shape} {name} ({mib:.1f} MiB)"
