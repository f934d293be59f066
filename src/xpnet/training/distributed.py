"""Synchronous data parallelism on ``torch.distributed``.

Every process (rank) holds a replica of the model and the whole training set, draws
the same epoch permutation, and takes its own contiguous share of every global batch
(:meth:`GradientReducer.shard`). Each rank's gradients, weighted by its share of the
batch, are summed across ranks by one ``all_reduce`` per step (with the loss for the
curve), so every replica makes the update one process makes on the global batch and
the replicas stay bit-identical.

The arrays travel without copies between libraries: torch tensors as they are, NumPy
arrays through ``torch.from_numpy`` (gloo), CuPy arrays through DLPack (NCCL). JAX and
array-api-strict have no such path and are refused. torch is imported here only, and
only when a reducer is made.

With CuPy, the two libraries' streams are ordered explicitly and without a host wait:
DLPack orders CuPy's pending work before torch's current stream (on which the
collective starts), and after the collective an event recorded on torch's stream is
waited for by CuPy's current stream (:mod:`xpnet.training.streams`), so CuPy reads
the sums only once they are written, whichever stream CuPy is on.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..backend import Array, Backend, get_backend
from .streams import stream_order

if TYPE_CHECKING:
    from .loop import Run

T = TypeVar("T")

CENSUS_SECONDS = 3.0
"""After a failed collective, how long a rank waits for the others to report alive."""

# The device type each library's arrays live on (torch: the tensor's own device).
_LIBRARY_DEVICE = {"numpy": "cpu", "cupy": "cuda", "torch": None}
# The device types each torch.distributed backend carries.
_CARRIES = {"gloo": {"cpu", "cuda"}, "nccl": {"cuda"}, "mpi": {"cpu"}, "ucc": {"cpu"}}
_serials = itertools.count()


class DistributedError(RuntimeError):
    """Data-parallel training cannot start or cannot go on: no process group, a
    backend without a torch.distributed path, ranks that disagree, a rank that died.
    The message names the ranks and the cause."""


class GradientReducer:
    """Sums arrays (gradients, a loss) across the ranks of a torch.distributed group.

    Parameters
    ----------
    backend : Backend
        Where the arrays live: ``numpy`` (a group with gloo), ``torch`` on the CPU
        (gloo) or CUDA (NCCL or gloo), ``cupy`` (NCCL or gloo).
    group : ProcessGroup, optional
        The process group (default: the one ``init_process_group`` made).

    Attributes
    ----------
    rank, world_size : int
        This process's rank in the group and the group's size.
    torch_backend : str
        The group's torch.distributed backend, e.g. ``"gloo"``, ``"nccl"``.

    Raises
    ------
    DistributedError
        torch is not installed, the process group is not initialised, or the group's
        backend cannot carry the backend's arrays (e.g. jax, NCCL with NumPy).
    """

    def __init__(self, backend: Backend, group: Any = None) -> None:
        device_type = _device_type(backend)
        self._torch, dist = _initialised_dist()
        self.backend = backend
        self._dist = dist
        self._group = dist.group.WORLD if group is None else group
        self.rank = int(dist.get_rank(self._group))
        self.world_size = int(dist.get_world_size(self._group))
        self.torch_backend = str(dist.get_backend(self._group))
        _check_carries(self.torch_backend, device_type, backend.name)
        self._serial = next(_serials)
        index = _cuda_index(backend) if backend.library == "cupy" else 0
        self._streams = stream_order(backend, self._torch, index)

    def shard(self, start: int, stop: int) -> tuple[int, int, float]:
        """This rank's rows ``[lo, hi)`` of the global batch ``[start, stop)`` and its
        share ``(hi - lo) / (stop - start)``: contiguous parts, sizes differing by at
        most one row (a batch smaller than the group leaves some ranks none)."""
        n_rows = stop - start
        lo = start + n_rows * self.rank // self.world_size
        hi = start + n_rows * (self.rank + 1) // self.world_size
        return lo, hi, (hi - lo) / n_rows

    def __call__(
        self, arrays: list[Array], loss: Array | float | None = None
    ) -> Array | None:
        """Sum ``arrays`` (and ``loss``) over the ranks, with one ``all_reduce``.

        Each rank hands in its *contribution*: gradient sums over its rows, or its
        batch-mean gradients times its :meth:`shard` share, so the sums are the
        global batch's gradients. The arrays are packed into one buffer (as
        DistributedDataParallel's buckets: one collective costs a quarter of one per
        array over gloo), summed in place, and the slots of ``arrays`` are rebound
        to views of the result (same shapes).

        Parameters
        ----------
        arrays : list of arrays of this backend, one dtype
        loss : 0-d array or float, optional
            This rank's contribution to the loss; its sum is returned.

        Returns
        -------
        The summed loss as a 0-d array (None without ``loss``); identical on every
        rank.

        Raises
        ------
        DistributedError
            The all_reduce failed: the message names the ranks that did not report
            alive (dead or hung) within :data:`CENSUS_SECONDS`.
        """
        xp, device = self.backend.xp, self.backend.device
        parts = [xp.reshape(a, (-1,)) for a in arrays]
        if loss is not None:
            dtype = arrays[0].dtype
            part = (  # a Python float is filled in on the device, not uploaded
                xp.full((1,), loss, dtype=dtype, device=device)
                if isinstance(loss, (int, float))
                else xp.reshape(xp.asarray(loss, dtype=dtype, device=device), (1,))
            )
            parts.append(part)
        flat = xp.concat(parts)
        tensor = self._tensor(flat)
        self._collective("the gradient all_reduce", lambda: self._all_reduce(tensor))
        if self._streams is not None:  # CuPy reads the sums after they are written
            self._streams.order_after_collective()
        offset = 0
        for i, array in enumerate(arrays):
            size = math.prod(array.shape)
            arrays[i] = xp.reshape(flat[offset : offset + size], array.shape)
            offset += size
        return flat[-1] if loss is not None else None

    def check_same(self, items: dict[str, Any]) -> None:
        """Every rank must hand in equal ``items`` (name: a small JSON-able value).

        Raises
        ------
        DistributedError
            On every rank: which ranks differ from rank 0 in which items, with both
            values.
        """
        gathered: list[Any] = [None] * self.world_size
        self._collective(
            "the check that the ranks agree",
            lambda: self._gather_objects(gathered, items),
        )
        first = gathered[0]
        differ = [
            f"rank {rank} has {name} {theirs[name]!r} where rank 0 has {first[name]!r}"
            for rank, theirs in enumerate(gathered)
            for name in first
            if theirs.get(name) != first[name]
        ]
        if differ:
            raise DistributedError(
                "data-parallel training needs the same data, model, parameters and "
                "random_state (an int, the same on every rank) on every rank: "
                + "; ".join(differ)
            )

    # ---- torch.distributed, with the failures reported ---------------------------

    def _tensor(self, flat: Array) -> Any:
        """A torch tensor sharing ``flat``'s memory."""
        torch = self._torch
        library = self.backend.library
        if library == "torch":
            return flat
        if library == "numpy":
            return torch.from_numpy(flat)
        # CuPy: DLPack hands torch's current stream to CuPy, which orders its pending
        # work before it; the way back is CupyStreams.order_after_collective.
        return torch.from_dlpack(flat)

    def _all_reduce(self, tensor: Any) -> None:
        self._dist.all_reduce(tensor, op=self._dist.ReduceOp.SUM, group=self._group)

    def _gather_objects(self, out: list[Any], items: dict[str, Any]) -> None:
        device = getattr(self.backend.device, "type", None) or _LIBRARY_DEVICE.get(
            self.backend.library
        )
        if device == "cuda":  # the object collective runs on torch's current device
            with self._torch.cuda.device(_cuda_index(self.backend)):
                self._dist.all_gather_object(out, items, group=self._group)
        else:
            self._dist.all_gather_object(out, items, group=self._group)

    def _collective(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except RuntimeError as exc:  # torch's DistBackendError is a RuntimeError
            raise DistributedError(self._failure(what, exc)) from exc

    def _failure(self, what: str, exc: Exception) -> str:
        """The message for a failed collective, naming the ranks that are gone."""
        head = (
            f"data-parallel training stopped on rank {self.rank} of "
            f"{self.world_size} ({self.torch_backend}): {what} failed"
        )
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        try:
            silent = self._census()
        except Exception as store_exc:  # the store went with the rank hosting it
            return (
                f"{head}, and the rendezvous store is unreachable too ({store_exc}); "
                "rank 0 (which hosts the store when init_method is tcp:// or env://) "
                f"has probably died. torch.distributed said: {cause}"
            )
        if not silent:
            return (
                f"{head}, though every rank is alive. torch.distributed said: {cause}"
            )
        names = ", ".join(map(str, silent))
        return (
            f"{head}: rank{'s' if len(silent) > 1 else ''} {names} did not report "
            f"alive within {CENSUS_SECONDS:g} s (dead or hung; see its log). "
            f"torch.distributed said: {cause}"
        )

    def _census(self) -> list[int]:
        """Report alive in the group's store; the ranks that do not within
        :data:`CENSUS_SECONDS`."""
        store = self._group.get_group_store()
        key = f"xpnet/alive/{self._serial}/"
        store.set(f"{key}{self.rank}", "1")
        deadline = time.monotonic() + CENSUS_SECONDS
        silent = [r for r in range(self.world_size) if r != self.rank]
        while silent and time.monotonic() < deadline:
            time.sleep(0.05)
            silent = [r for r in silent if not store.check([f"{key}{r}"])]
        return silent


def reducer_for(distributed: Any, backend: Backend) -> GradientReducer | None:
    """The reducer for ``fit(..., distributed=...)``: None/False (one process), True
    (the default process group) or a ``torch.distributed.ProcessGroup``."""
    if distributed is None or distributed is False:
        return None
    if distributed is True:
        return GradientReducer(backend)
    if type(distributed).__name__ == "ProcessGroup":
        return GradientReducer(backend, distributed)
    raise TypeError(
        "distributed must be None, False, True (the default torch.distributed "
        f"process group) or a torch.distributed ProcessGroup; got {distributed!r}"
    )


def check_replicas(
    reducer: GradientReducer, run: Run, parameters: dict[str, Any]
) -> None:
    """Before training: every rank has the same data, model, ``parameters`` (the
    estimator's, JSON-able; ``verbose`` and ``backend`` may differ), random state
    and position (a resumed run), or every rank raises DistributedError."""
    backend, position = run.backend, run.position
    reducer.check_same(
        {
            **{
                f"parameter {name}": value
                for name, value in parameters.items()
                if name not in ("verbose", "backend")
            },
            "X shape": (run.n_samples, *run.X.shape[1:]),  # the training rows'
            "y shape": (run.n_samples, *run.Y.shape[1:]),
            "data fingerprint": [_fingerprint(backend, a) for a in (run.X, run.Y)],
            "layer shapes": [tuple(p.shape) for p in run.params],
            "weights fingerprint": [_fingerprint(backend, p) for p in run.params],
            "random state": _digest(run.rng.bit_generator.state),
            "position (epochs, samples, steps)": (
                len(run.history.loss_curve),
                run.history.t,
                run.steps,
                position.step,
            ),
        }
    )


TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@contextmanager
def torchrun_group(backend_spec: str | None) -> Iterator[GradientReducer]:
    """The process group of a ``torchrun`` worker, for ``xpnet train --distributed``.

    Joins the group from torchrun's environment (gloo for CPU backends, NCCL for
    CUDA ones; a CUDA backend named without a device index takes device
    ``LOCAL_RANK``) and yields a reducer for this rank's backend; leaves the group
    at the end. A group that is already initialised is used as it is, and kept.

    Raises
    ------
    DistributedError
        Not started by torchrun (its variables are missing), or no torch.
    """
    backend = get_backend(backend_spec)
    torch, dist = _torch_dist()
    if dist.is_initialized():
        yield GradientReducer(backend)
        return
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise DistributedError(
            "--distributed runs in the processes torchrun starts, but the variables "
            f"it sets are missing ({', '.join(missing)}); run: torchrun "
            "--nproc-per-node N -m xpnet train ... --distributed"
        )
    backend = _local_device(backend, backend_spec, int(os.environ["LOCAL_RANK"]))
    if _device_type(backend) == "cuda":
        if not dist.is_nccl_available():
            raise DistributedError(
                f"backend {backend.name!r} needs NCCL, which this torch build "
                f"({torch.__version__}) lacks; install a CUDA build of torch"
            )
        torch.cuda.set_device(_cuda_index(backend))  # NCCL's device for this rank
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    try:
        yield GradientReducer(backend)
    finally:
        dist.destroy_process_group()


def _local_device(backend: Backend, spec: str | None, local_rank: int) -> Backend:
    """A CUDA backend named without an index moves to device ``local_rank``."""
    on_cuda = backend.library == "cupy" or getattr(backend.device, "type", "") == "cuda"
    if not on_cuda or re.search(r":\d+$", spec or ""):
        return backend
    return get_backend(
        f"{'cupy' if backend.library == 'cupy' else 'torch:cuda'}:{local_rank}"
    )


def _fingerprint(backend: Backend, array: Any) -> list[float]:
    """Row sums weighted by row number and column sums weighted by column number
    (float64): sensitive to the values and the order of rows and of columns (two
    swapped columns keep every row sum). Sparse X (``SparseRows``) on the host."""
    matrix = getattr(array, "matrix", None)  # SparseRows: host CSR
    if matrix is not None:
        # products with float64 ones: SciPy's sum(dtype=float64) sums in float32
        by = [m @ np.ones(m.shape[1]) for m in (matrix, matrix.T)]
        return [float(s @ np.arange(1.0, s.shape[0] + 1)) for s in by]
    xp, rows = backend.xp, backend.xp.reshape(array, (array.shape[0], -1))
    out = []
    for axis in (1, 0):
        sums = xp.sum(rows, axis=axis, dtype=xp.float64)
        ramp = xp.arange(1, sums.shape[0] + 1, dtype=xp.float64, device=backend.device)
        out.append(float(xp.vecdot(sums, ramp)))
    return out


def _digest(value: Any) -> str:
    """A short checksum of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, default=repr)
    return f"{zlib.crc32(text.encode()):08x}"


def _device_type(backend: Backend) -> str:
    device_type = _LIBRARY_DEVICE.get(backend.library, "none")
    if device_type == "none":
        raise DistributedError(
            f"backend {backend.name!r} has no torch.distributed path: its arrays "
            "cannot be handed to torch without a copy; data-parallel training runs "
            "on backend 'numpy' (gloo), 'torch' or 'torch:cuda' (gloo/NCCL) and "
            "'cupy' (NCCL, through DLPack)"
        )
    if device_type is None:  # torch: the device of its tensors
        device_type = getattr(backend.device, "type", "cpu")
    return device_type


def _torch_dist() -> tuple[Any, Any]:
    """``torch`` and ``torch.distributed``, imported here."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError:
        raise DistributedError(
            'data-parallel training needs torch: pip install "xpnet[torch]"'
        ) from None
    if not dist.is_available():
        raise DistributedError(
            f"this build of torch ({torch.__version__}) has no torch.distributed"
        )
    return torch, dist


def _initialised_dist() -> tuple[Any, Any]:
    """``torch`` and ``torch.distributed``, with a process group initialised."""
    torch, dist = _torch_dist()
    if not dist.is_initialized():
        raise DistributedError(
            "data-parallel training needs a torch.distributed process group, but "
            "none is initialised in this process: call "
            "torch.distributed.init_process_group('gloo') (CPU) or ('nccl') (GPU) "
            "first, in every process (torchrun sets the environment it reads)"
        )
    return torch, dist


def _check_carries(torch_backend: str, device_type: str, backend_name: str) -> None:
    """The group's backend (``"gloo"`` or ``"cpu:gloo,cuda:nccl"``) must carry
    tensors of ``device_type``."""
    if ":" in torch_backend:
        carried = {part.split(":")[0] for part in torch_backend.split(",")}
    else:
        carried = _CARRIES.get(torch_backend, {device_type})
    if device_type not in carried:
        raise DistributedError(
            f"backend {backend_name!r} keeps its arrays on {device_type!r} but the "
            f"process group's torch.distributed backend {torch_backend!r} carries "
            f"only {sorted(carried)}; use init_process_group('gloo') for CPU arrays, "
            "'nccl' for CUDA arrays"
        )


def _cuda_index(backend: Backend) -> int:
    device = backend.device
    index = getattr(device, "index", None)
    if index is None:
        index = getattr(device, "id", 0)
    return int(index or 0)
