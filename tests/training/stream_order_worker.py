"""One rank of test_stream_order.py: a 2-process gloo fit whose CuPy stream ordering
is done by the real :class:`CupyStreams` on recording fakes of torch and CuPy.

``python tests/training/stream_order_worker.py RANK PORT OUTFILE`` fits a regressor
data-parallel (4 steps) and writes, in order, what happened each step: the
all_reduce, the event recorded on torch's stream, the wait for it on CuPy's stream,
and the optimizer's read of the reduced gradients.
"""

from __future__ import annotations

import datetime
import json
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import torch.distributed as dist

import xpnet
from xpnet.maths.optim import Optimizer
from xpnet.training import distributed
from xpnet.training.streams import CupyStreams

TORCH_STREAM, CUPY_STREAM = 7, 9  # fake stream pointers: two different streams
LOG: list[list] = []


class FakeStream:
    def __init__(self, name: str, ptr: int) -> None:
        self.name, self.ptr = name, ptr

    def wait_event(self, event: FakeEvent) -> None:
        LOG.append(["wait", self.name, event.recorded_on])


class FakeEvent:
    def __init__(self, disable_timing: bool = False) -> None:
        self.recorded_on = None

    def record(self, stream: FakeStream) -> None:
        self.recorded_on = stream.name
        LOG.append(["record", stream.name])


def fake_libraries() -> tuple[SimpleNamespace, SimpleNamespace]:
    cupy_stream = FakeStream("cupy current", CUPY_STREAM)
    torch_cuda = SimpleNamespace(
        current_stream=lambda index: SimpleNamespace(cuda_stream=TORCH_STREAM)
    )
    cupy_cuda = SimpleNamespace(
        get_current_stream=lambda: cupy_stream,
        Event=FakeEvent,
        ExternalStream=lambda ptr: FakeStream(f"torch {ptr}", ptr),
    )
    return SimpleNamespace(cuda=torch_cuda), SimpleNamespace(cuda=cupy_cuda)


def install_recorders() -> None:
    fake_torch, fake_cupy = fake_libraries()
    distributed.stream_order = lambda backend, torch, index: CupyStreams(
        fake_torch, fake_cupy, index
    )
    all_reduce = distributed.GradientReducer._all_reduce

    def recorded_all_reduce(self, tensor):
        LOG.append(["all_reduce"])
        all_reduce(self, tensor)
        LOG.append(["all_reduce returned"])

    distributed.GradientReducer._all_reduce = recorded_all_reduce
    step_flat = Optimizer.step_flat

    def recorded_step(self, params, grads):
        LOG.append(["read gradients"])
        return step_flat(self, params, grads)

    Optimizer.step_flat = recorded_step


def main() -> None:
    rank, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=20),
    )
    try:
        install_recorders()
        rng = np.random.default_rng(0)
        X = rng.normal(size=(32, 3))
        model = xpnet.MLPRegressor(
            (4,), batch_size=8, max_iter=1, alpha=0.0, random_state=0, backend="numpy"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
            model.fit(X, X[:, 0], distributed=True)
    finally:
        dist.destroy_process_group()
    with open(out, "w") as f:
        json.dump(LOG, f)


if __name__ == "__main__":
    main()
