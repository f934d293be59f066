"""The host/device edges of training, made so that no step waits for the device.

- :func:`upload`: a host array onto torch CUDA through page-locked (pinned) memory
  with a non-blocking copy on a side stream that the consumer's stream then waits
  for. A copy from ordinary (pageable) memory makes the host wait for the device
  first; this one lets the copy overlap the work already queued.
- :func:`read_floats`: several 0-d device arrays read back in one device-to-host
  copy (one wait for the device instead of one per value).

On the CPU backends :func:`upload` is not used. (Batch rows are gathered with
``index_select`` on torch: :mod:`xpnet.training.batches`.)
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .backend import Backend

Array = Any


def is_torch_cuda(backend: Backend) -> bool:
    """Whether ``backend`` is torch on a CUDA device."""
    return backend.library == "torch" and getattr(backend.device, "type", "") == "cuda"


def upload(torch: Any, host: np.ndarray, device: Any) -> Any:
    """``host`` (NumPy) as a tensor on the CUDA ``device``, without a host wait.

    The values go into pinned memory (a host copy), then a non-blocking copy on a side
    stream carries them over; the current stream waits for that stream (an event,
    on the device) and the result is marked as used there, so the caching allocator
    neither reuses it early nor frees the pinned block before the copy has run.
    """
    dtype = torch.from_numpy(np.empty(0, host.dtype)).dtype
    pinned = torch.empty(host.shape, dtype=dtype, pin_memory=True)
    pinned.numpy()[...] = host  # the one host copy, straight into pinned memory
    side = _copy_stream(torch, device)
    with torch.cuda.stream(side):
        result = pinned.to(device, non_blocking=True)
    consumer = torch.cuda.current_stream(device)
    consumer.wait_stream(side)
    result.record_stream(consumer)
    return result


@functools.cache
def _copy_stream(torch: Any, device: Any) -> Any:
    # One side stream per device, made on first use (a stream costs a little).
    return torch.cuda.Stream(device)


def read_floats(backend: Backend, *arrays: Array) -> list[float]:
    """The 0-d ``arrays`` (one dtype) as Python floats, in one device-to-host copy."""
    xp = backend.xp
    if all(type(a) is np.ndarray or isinstance(a, np.generic) for a in arrays):
        return [float(a) for a in arrays]  # NumPy's: on the host already
    if len(arrays) == 1:
        return [float(backend.to_numpy(arrays[0]))]
    host = backend.to_numpy(xp.stack(list(arrays)))
    return [float(v) for v in np.asarray(host)]
