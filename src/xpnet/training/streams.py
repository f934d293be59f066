"""Stream ordering between CuPy and torch around a torch.distributed collective.

A collective (NCCL) starts after the work queued on torch's current stream and its
result is ordered on that stream again. CuPy queues its work on *its* current stream,
which need not be torch's: the sums must be ordered before CuPy's next reads.
"""

from __future__ import annotations

from typing import Any

from ..backend import Backend


class CupyStreams:
    """Orders a collective's result, which is ordered on torch's current stream,
    before the work CuPy queues next on its current stream: an event recorded on
    torch's stream, waited for on CuPy's (on the device; the host does not wait).

    Without it CuPy is right only when both libraries use the legacy default
    stream; on a CuPy stream, a per-thread default stream or in a captured graph it
    could read the gradients before NCCL has written them.
    """

    def __init__(self, torch: Any, cupy: Any, device_index: int) -> None:
        self._torch, self._cupy, self._index = torch, cupy, device_index

    def order_after_collective(self) -> None:
        """Make CuPy's current stream wait for torch's current stream."""
        producer = self._torch.cuda.current_stream(self._index).cuda_stream
        consumer = self._cupy.cuda.get_current_stream()
        if consumer.ptr == producer:  # one stream: already in order
            return
        event = self._cupy.cuda.Event(disable_timing=True)
        event.record(self._cupy.cuda.ExternalStream(producer))
        consumer.wait_event(event)


def stream_order(backend: Backend, torch: Any, device_index: int) -> CupyStreams | None:
    """The stream ordering a backend's arrays need after a collective (CuPy only)."""
    if backend.library != "cupy":
        return None
    return CupyStreams(torch, backend.xp_module(), device_index)
