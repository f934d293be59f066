"""CuPy and NCCL: the reduced gradients are read only after the collective's end is
ordered on CuPy's stream. Two gloo processes on 127.0.0.1 run the real reducer and
:class:`CupyStreams` on recording fakes of torch's and CuPy's streams
(tests/training/stream_order_worker.py); no GPU is needed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest

from xpnet.training.streams import CupyStreams, stream_order

WORKER = os.path.join(os.path.dirname(__file__), "stream_order_worker.py")
STEP = [
    ["all_reduce"],
    ["all_reduce returned"],
    ["record", "torch 7"],  # an event on torch's stream, after the collective
    ["wait", "cupy current", "torch 7"],  # CuPy's stream waits for it
    ["read gradients"],  # only then does the optimizer read the sums
]


def ordered_steps(log: list[list]) -> int:
    """The number of steps in ``log``, each in STEP's order; raises otherwise."""
    steps, rest = 0, list(log)
    while rest:
        assert rest[: len(STEP)] == STEP, rest[: len(STEP)]
        rest, steps = rest[len(STEP) :], steps + 1
    return steps


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gradients_are_read_after_the_collective_is_ordered_on_cupys_stream(
    tmp_path,
):
    pytest.importorskip("torch.distributed", reason="torch is not installed")
    port = str(_free_port())
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    outs = [tmp_path / f"rank{rank}.json" for rank in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, str(rank), port, str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank, out in enumerate(outs)
    ]
    for proc in procs:
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, output
    for out in outs:
        assert ordered_steps(json.loads(out.read_text())) == 4  # 32 rows, batch 8


def test_the_order_check_fails_without_the_wait():
    # A log where the optimizer reads before CuPy's stream waits must not pass.
    racy = [STEP[0], STEP[1], STEP[4], STEP[2], STEP[3]]
    with pytest.raises(AssertionError):
        ordered_steps(racy)


def test_one_stream_needs_no_event():
    log = []
    torch, cupy = _recording_fakes(log, torch_stream=0, cupy_stream=0)
    CupyStreams(torch, cupy, 0).order_after_collective()
    # both on the legacy default stream: already in order, no event and no wait
    assert log == [("torch stream of device", 0)]


def _recording_fakes(log, torch_stream=7, cupy_stream=3):
    """torch on ``torch_stream`` of each device, CuPy on ``cupy_stream``: fakes
    recording what is asked of them."""

    class Event:
        def __init__(self, **kwargs):
            log.append(("event", kwargs))

        def record(self, stream):
            log.append(("record", stream))

    consumer = SimpleNamespace(
        ptr=cupy_stream,
        wait_event=lambda event: log.append(("wait", type(event).__name__)),
    )

    def current_stream(index):
        log.append(("torch stream of device", index))
        return SimpleNamespace(cuda_stream=torch_stream)

    torch = SimpleNamespace(cuda=SimpleNamespace(current_stream=current_stream))
    cupy = SimpleNamespace(
        cuda=SimpleNamespace(
            get_current_stream=lambda: consumer,
            Event=Event,
            ExternalStream=lambda ptr: f"external {ptr}",
        )
    )
    return torch, cupy


def test_cupys_stream_waits_for_an_event_on_torchs():
    log = []
    torch, cupy = _recording_fakes(log)
    backend = SimpleNamespace(library="cupy", xp_module=lambda: cupy)
    stream_order(backend, torch, 2).order_after_collective()
    assert log == [
        ("torch stream of device", 2),
        ("event", {"disable_timing": True}),
        ("record", "external 7"),
        ("wait", "Event"),
    ]
    assert stream_order(SimpleNamespace(library="numpy"), torch, 2) is None
