"""Dask arrays as a batch source: the training loop takes X and y one block at a time.

:class:`DaskBlocks` is a :class:`~xpnet.training.batches.Blocks`: the blocks are X's
row chunks (its columns joined into one chunk, y and the weights rechunked to
match). Each epoch visits the blocks in an order drawn from ``random_state`` and
computes one block at a time (as futures on the active ``distributed`` client when
there is one, else by ``dask.compute`` on dask's local scheduler in a background
thread, with BLAS leaving that thread a core), checks it, moves it to the model's
device and draws shuffled minibatches from it, while the next block is computed.
This process holds the block in training and the next one plus the model, whatever
the size of X.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import zlib
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import get_scheduler
from dask.delayed import Delayed
from dask.optimization import cull

from ..backend import Backend
from ..data.checks import check_weights_fit, host_matrix, host_weights
from ..data.intake import Block
from .arrays import blocks_of


class DaskBlocks:
    """X, the network's targets Y and the sample weights W as Dask arrays with the
    same row chunks, loaded block by block onto ``backend`` (see
    :class:`xpnet.training.loop.Blocks`); with a ``scaling`` (the estimator's
    ``standardization_``), each block of X standardized in float64 before the cast,
    as host data is.

    Attributes
    ----------
    X : dask.array.Array (n_samples, n_features)
    Y : dask.array.Array (n_samples, n_outputs), float64 targets for the network
    y : dask.array.Array (n_samples,) or (n_samples, n_outputs), y as given
    W : dask.array.Array (n_samples,) float64, or None: the sample weights
    sizes : tuple of int, the rows of each block
    """

    def __init__(
        self,
        X: da.Array,
        Y: da.Array,
        y: da.Array,
        backend: Backend,
        dtype: str,
        scaling: Any = None,
        W: da.Array | None = None,
        *,
        numbers: Sequence[int] | None = None,
        hashes: BlockHashes | None = None,
    ) -> None:
        self.X, self.Y, self.y, self.W = X, Y, y, W
        self.backend, self.dtype, self.scaling = backend, dtype, scaling
        self.sizes: Sequence[int] = X.chunks[0]
        # Each block's number in the whole arrays (a subset keeps them), and the
        # hashes of the blocks computed, once a fingerprint is asked for.
        self.numbers = list(range(len(self.sizes)) if numbers is None else numbers)
        self.hashes = hashes

    @functools.cached_property
    def _starts(self) -> list[int]:
        """The first row of each block."""
        return np.cumsum([0, *self.sizes[:-1]]).tolist()

    @property
    def _arrays(self) -> list[da.Array]:
        """X, Y and, with weights, W: what each block computes."""
        return [self.X, self.Y] + ([] if self.W is None else [self.W])

    @functools.cached_property
    def _graph(self) -> tuple[dict[Any, Any], list[list[Any]]]:
        """The arrays' graphs optimized once together (shared sources read once per
        block) as one task dict, and each block's key in each array."""
        optimized = dask.optimize(*self._arrays)
        graph = {
            key: task for a in optimized for key, task in a.__dask_graph__().items()
        }
        rows = [_row_keys(a) for a in optimized]
        return graph, [list(keys) for keys in zip(*rows, strict=True)]

    def _tasks(self, block: int) -> list[Delayed]:
        """This block of each array as tasks of the few graph entries they need: on
        dask's local schedulers computing them hands back the block itself, where
        computing ``X.blocks[b]`` would rebuild and optimize a graph and copy the
        result (a quarter of the load time). Not for a ``distributed`` client:
        there, tasks of these pre-optimized graphs that several blocks share were
        now and then lost (``KeyError``) when two blocks were in flight."""
        graph, keys = self._graph
        needed, _ = cull(graph, keys[block])
        return [Delayed(key, needed) for key in keys[block]]

    def load(self, order: Sequence[int]) -> Generator[Block, None, None]:
        """Blocks ``order[0], order[1], ...`` on the device, the next one computed
        while the caller trains on this one: on the ``distributed`` client's
        workers when one is active, else by ``dask.compute`` in a background
        thread. This process holds at most the block in training and the next."""
        if not order:
            return
        client = _active_client()
        computed = self._on_cluster(client, order) if client else self._local(order)
        for X, Y, W in computed:
            yield Block(
                self.backend.asarray(X, self.dtype),
                self.backend.asarray(Y, self.dtype),
                None if W is None else self.backend.asarray(W, self.dtype),
                W,
            )
            del X, Y, W  # the host copies go before the next block arrives

    def _local(self, order: Sequence[int]) -> Generator[tuple[Any, ...], None, None]:
        """The blocks, each computed and checked in a background thread while the
        one before is in use (the next one starts once this one is handed over),
        with a core left to that thread (:func:`leave_a_core`)."""
        with (
            leave_a_core(),
            ThreadPoolExecutor(1, thread_name_prefix="xpnet-block") as pool,
        ):
            pending = pool.submit(self._compute, order[0])
            for block in order[1:]:
                done = pending.result()
                pending = pool.submit(self._compute, block)
                yield done
                del done
            yield pending.result()

    def _on_cluster(
        self, client: Any, order: Sequence[int]
    ) -> Generator[tuple[Any, ...], None, None]:
        """The blocks as futures on ``client``'s workers, the next one asked for
        before this one is gathered. Dropping a future releases it on the cluster
        (cancelling could also cancel a later epoch's compute of the same key)."""

        def compute(block: int) -> list[Any]:
            return client.compute([a.blocks[block] for a in self._arrays])

        pending = compute(order[0])
        for k, block in enumerate(order):
            ahead = compute(order[k + 1]) if k + 1 < len(order) else []
            yield self._checked(block, *client.gather(pending))
            pending = ahead

    def _compute(self, block: int) -> tuple[Any, ...]:
        """This block of X, Y and W on the host by ``dask.compute``, checked."""
        return self._checked(block, *dask.compute(*self._tasks(block)))

    def _checked(
        self, block: int, X: np.ndarray, Y: np.ndarray, W: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """A computed block, checked (X finite and fitting the dtype, weights finite
        and non-negative) and standardized when the estimator standardizes."""
        start = self._starts[block]
        rows = f"block {block}: rows {start} to {start + X.shape[0] - 1}"
        X = host_matrix(X, f"X ({rows})", dtype=self.dtype)
        if self.hashes is not None:
            self.hashes.check(self.numbers[block], rows, X, Y, W)
        if W is not None:
            W = host_weights(W, f"sample_weight ({rows})")
            check_weights_fit(W, f"sample_weight ({rows})", self.dtype)
        return (X if self.scaling is None else self.scaling.inputs(X)), Y, W

    def fingerprint(self) -> dict[str, Any]:
        """The checkpoint's record of the data: shapes and dtypes of X, Y and the
        weights, and ``blocks``, the CRC-32 of each block's bytes (X, Y and W) by
        block number, filled in as the blocks are computed. Dask's array names are
        not used: a store rewritten in place (rows reversed, same chunks) keeps
        its name."""
        if self.hashes is None:
            self.hashes = BlockHashes()
        return {
            name: None if a is None else {"shape": list(a.shape), "dtype": a.dtype.str}
            for name, a in (("X", self.X), ("y", self.Y), ("sample_weight", self.W))
        } | {"blocks": self.hashes.seen}

    def expect(self, blocks: dict[str, int], path: Any) -> None:
        """Check every block computed from now on against ``blocks`` (a
        checkpoint's hashes, written while training on ``path``'s data)."""
        if self.hashes is None:
            self.hashes = BlockHashes()
        self.hashes.expected, self.hashes.path = dict(blocks), path
        self.hashes.seen.update(blocks)

    def subset(self, blocks: Sequence[int]) -> DaskBlocks:
        """These blocks only, in this order."""
        X, Y, y = (blocks_of(a, blocks) for a in (self.X, self.Y, self.y))
        W = None if self.W is None else blocks_of(self.W, blocks)
        numbers = [self.numbers[b] for b in blocks]
        return DaskBlocks(
            X,
            Y,
            y,
            self.backend,
            self.dtype,
            self.scaling,
            W,
            numbers=numbers,
            hashes=self.hashes,
        )

    def hold_out(
        self, fraction: float, rng: np.random.Generator
    ) -> tuple[DaskBlocks, DaskBlocks]:
        """(training, held out): ``ceil(fraction * n_blocks)`` whole blocks drawn by
        ``rng`` are held out, each part in block order.

        Raises
        ------
        ValueError
            Fewer than one block to hold out, or none left to train on.
        """
        n_blocks = len(self.sizes)
        n_val = math.ceil(fraction * n_blocks)
        if not 1 <= n_val < n_blocks:
            raise ValueError(
                "early_stopping on a Dask array holds out whole blocks: "
                f"validation_fraction={fraction} of {n_blocks} blocks "
                f"gives {n_val} validation blocks, and at least 1 must be left to "
                "train on; rechunk X into more blocks (X.rechunk({0: rows}))"
            )
        order = rng.permutation(n_blocks)
        held_out = self.subset(np.sort(order[:n_val]).tolist())
        return self.subset(np.sort(order[n_val:]).tolist()), held_out


class BlockHashes:
    """CRC-32 of each computed block's bytes (X, Y and W), by block number
    (``seen``); a block whose number is in ``expected`` (a checkpoint's, on
    resume) must hash the same."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.expected: dict[str, int] = {}
        self.path: Any = None

    def check(self, number: int, rows: str, *arrays: np.ndarray | None) -> None:
        """Hash a computed block; ValueError if it differs from the expected."""
        crc = 0
        for array in arrays:
            if array is not None:
                crc = zlib.crc32(np.ascontiguousarray(array).view(np.uint8).data, crc)
        key = str(number)
        if key in self.expected and self.expected[key] != crc:
            raise ValueError(
                f"resume_from {os.fspath(self.path)!r} was written while training on "
                f"other data: {rows} differ from the checkpoint's (the store was "
                "rewritten, or X, y or sample_weight changed); resume on the same "
                "data, or pass resume_on_other_data=True to continue anyway"
            )
        self.seen[key] = crc


def _row_keys(array: da.Array) -> list[Any]:
    """The key of each row block of a Dask array with one column chunk."""
    keys = array.__dask_keys__()
    return [k[0] if isinstance(k, list) else k for k in keys]


def leave_a_core() -> contextlib.AbstractContextManager[Any]:
    """BLAS limited to one thread fewer than this process's cores while it lasts,
    when BLAS would use them all (a lower limit set by the user is kept).

    OpenBLAS's threads spin while they wait for the next product, so with every core
    theirs the block loader waits for a core: on 2 cores one epoch of
    ``benchmarks/dask_out_of_core.py --gib 1`` took 1.44 s with one BLAS thread
    against 1.93 s with two. A no-op without threadpoolctl (a dependency of
    scikit-learn) or on one core.
    """
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    cores = _cores()
    blas = [
        pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"
    ]
    if cores < 2 or not blas or max(blas) < cores:
        return contextlib.nullcontext()
    return threadpool_limits(cores - 1, user_api="blas")


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _active_client() -> Any:
    """The ``distributed`` client that ``dask.compute`` would use now (dask's
    ``scheduler`` setting first, then the default client), or None."""
    client = getattr(get_scheduler(), "__self__", None)
    return client if hasattr(client, "gather") else None
