"""Data larger than memory for ``xpnet train``, opened lazily with Dask.

- A directory of Parquet files (``dask.dataframe.read_parquet``): one block per
  partition; ``--target`` names the target column (default: the last), every other
  column is a feature.
- A Zarr store: a group with arrays ``X`` (2-D) and ``y`` (1-D), as in an ``.npz``, or
  one 2-D array; the blocks are its row chunks.
- ``PATH.npy``: one 2-D array, memory-mapped, in blocks of ``--block-rows`` rows.

In a single 2-D array (Zarr or ``.npy``) ``--target`` is the target column's index
(default -1, the last). The test set is whole blocks, ``round(test_size * n_blocks)``
of them (at least one), drawn by ``--seed``; the standardization
(``standardization_``, applied to each block in float64) uses the training blocks'
means and standard deviations (one pass). Nothing is read into memory whole: the fit
and the scores go block by block (:mod:`xpnet.dask.blocks`).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np

from ..backend import Backend
from ..dask.arrays import blocks_of, frame_to_array, partition_lengths
from ..estimators.scaling import Standardization
from ..files.messages import brief
from .datasets import DataError, MissingExtraError
from .fitting import estimator_for, fit_with_progress

FILES_HINT = 'pip install "xpnet[dask,dask-files]"'
BLOCK_BYTES = 32 * 2**20  # default block: about 32 MiB of features


@dataclass(frozen=True)
class LazyDataset:
    """Features ``X`` (n_samples, n_features) and target ``y`` (n_samples,) as Dask
    arrays with the same row chunks, and their names."""

    X: da.Array
    y: da.Array
    name: str
    feature_names: list[str]
    target_name: str

    @property
    def task(self) -> str:
        """``"regression"`` for a floating target, else ``"classification"``."""
        return "regression" if self.y.dtype.kind == "f" else "classification"


def open_lazy(
    source: str, kind: str, target: str | None, block_rows: int | None
) -> LazyDataset:
    """Open ``source`` (``kind`` from :func:`xpnet.command.datasets.lazy_kind`).

    Raises
    ------
    DataError
        Malformed store, bad target column, non-numeric features, empty data.
    MissingExtraError
        pyarrow or zarr is not installed.
    """
    if kind == "parquet":
        data = _parquet(source, target)
    elif kind == "zarr":
        data = _zarr(source, target)
    else:
        data = _columns(_npy(source, block_rows), source, target)
    if data.X.dtype.kind not in "biuf" or 0 in data.X.shape:
        raise DataError(
            f"{source!r}: features must be a non-empty numeric matrix; got "
            f"{data.X.dtype} of shape {data.X.shape}"
        )
    if block_rows is not None:
        data = LazyDataset(
            data.X.rechunk({0: block_rows}),
            data.y.rechunk({0: block_rows}),
            data.name,
            data.feature_names,
            data.target_name,
        )
    return data


def _parquet(path: str, target: str | None) -> LazyDataset:
    try:
        import dask.dataframe as dd

        _check_parquet_columns(path)
        frame = dd.read_parquet(path)
    except ImportError as exc:
        raise MissingExtraError(
            f"reading Parquet needs dask's dataframe and pyarrow ({exc}); install "
            f"them with: {FILES_HINT}"
        ) from None
    names = [str(c) for c in frame.columns]
    column = names[-1] if target is None else target
    if column not in names:
        raise DataError(
            f"target column {column!r} is not in {path!r}; its columns are {names}"
        )
    features = [c for c in names if c != column]
    if not features:
        raise DataError(
            f"{path!r} has no feature columns besides the target column {column!r}"
        )
    text = [c for c in features if frame[c].dtype.kind not in "biuf"]
    if text:
        raise DataError(f"{path!r}: feature columns must be numeric; {text} are not")
    # Dask may merge partitions differently for different columns: one pass each.
    X = frame_to_array(frame[features], partition_lengths(frame[features]))
    y = frame_to_array(frame[column], partition_lengths(frame[column]))
    return LazyDataset(X, y.rechunk({0: X.chunks[0]}), path, features, column)


def _check_parquet_columns(path: str) -> None:
    """Every Parquet file of the directory readable, all with the same columns
    (Dask reads the first file's and fails mid-training on another's)."""
    import pyarrow.parquet as pq

    first: tuple[str, list[str]] | None = None
    for name in sorted(n for n in os.listdir(path) if n.endswith(".parquet")):
        try:
            columns = pq.read_schema(os.path.join(path, name)).names
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is both
            raise DataError(
                f"{path!r}: {name!r} is not a readable Parquet file ({brief(str(exc))})"
            ) from None
        if first is None:
            first = (name, columns)
        elif set(columns) != set(first[1]):
            raise DataError(
                f"{path!r}: the Parquet files disagree on their columns: {first[0]!r} "
                f"has {brief(first[1])}, {name!r} has {brief(columns)}; every file "
                "must have the same columns"
            )


def _zarr(path: str, target: str | None) -> LazyDataset:
    try:
        import zarr
    except ImportError:
        raise MissingExtraError(
            f"reading a Zarr store needs zarr; install it with: {FILES_HINT}"
        ) from None
    try:
        store = zarr.open(path, mode="r")
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise DataError(
            f"{path!r} is not a readable Zarr store ({type(exc).__name__}: "
            f"{brief(str(exc))})"
        ) from None
    if isinstance(store, zarr.Array):
        return _columns(_zarr_blocks(store, path, None), path, target)
    members = set(store.array_keys())
    if not {"X", "y"} <= members:
        raise DataError(
            f"{path!r} must be a Zarr array or a group with arrays 'X' and 'y'; it "
            f"holds {sorted(members)}"
        )
    if target is not None:
        raise DataError(f"{path!r} holds its target as 'y'; --target does not apply")
    X = _zarr_blocks(store["X"], path, "X")
    y = _zarr_blocks(store["y"], path, "y")
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise DataError(
            f"{path!r}: X must be 2-D and y 1-D with one target per row of X; got X "
            f"of shape {X.shape} and y of shape {y.shape}"
        )
    names = [f"x{i}" for i in range(X.shape[1])]
    return LazyDataset(X, y.rechunk({0: X.chunks[0]}), path, names, "y")


def _zarr_blocks(array: Any, path: str, name: str | None) -> da.Array:
    """A Zarr array as a Dask array whose every chunk is stored (a missing one
    would read as the fill value) and whose read errors name the store."""
    _check_chunks_stored(array, path, name)
    return da.from_array(_ZarrReader(array, path, name), chunks=array.chunks)


def _check_chunks_stored(array: Any, path: str, name: str | None) -> None:
    directory = path if name is None else os.path.join(path, name)
    stored = {
        os.path.relpath(os.path.join(root, file), directory).replace(os.sep, "/")
        for root, _, files in os.walk(directory)
        for file in files
    }
    sizes = array.shards or array.chunks  # a shard is one stored object
    grid = [math.ceil(n / c) for n, c in zip(array.shape, sizes, strict=True)]
    fill = np.asarray(array.fill_value).item()
    for coords in itertools.product(*map(range, grid)) if array.ndim else ():
        key = array.metadata.encode_chunk_key(coords)
        if key not in stored:
            raise DataError(
                f"{path!r}: chunk {key!r} of array {name or 'the array'!r} (chunk "
                f"{coords}) is missing from the store; it would read as the fill "
                f"value {brief(fill)}. The store is damaged, or was "
                "written with write_empty_chunks=False (zarr's default), which "
                "leaves out chunks equal to the fill value: rewrite it with "
                "config={'write_empty_chunks': True}"
            )


class _ZarrReader:
    """A Zarr array for ``da.from_array``: a chunk that cannot be read (damaged,
    undecodable) raises :class:`DataError` naming the store and the rows."""

    def __init__(self, array: Any, path: str, name: str | None) -> None:
        self.array, self.path, self.name = array, path, name
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.array[key]
        except Exception as exc:  # the codecs' errors: RuntimeError, ValueError...
            rows = key[0] if isinstance(key, tuple) and key else key
            where = f"rows {rows.start}:{rows.stop}" if isinstance(rows, slice) else ""
            raise DataError(
                f"{self.path!r}: cannot read {where} of array "
                f"{self.name or 'the array'!r}: the store is damaged "
                f"({type(exc).__name__}: {brief(str(exc))})"
            ) from None

    def __dask_tokenize__(self) -> Any:
        return ("xpnet-zarr", self.path, self.name, self.shape, str(self.dtype))


def _npy(path: str, block_rows: int | None) -> da.Array:
    """An ``.npy`` file's 2-D array in blocks of rows, each task reading its rows
    through a memory map of the file (the graph holds the path, not the data)."""
    shape, dtype = _npy_header(path)
    if len(shape) != 2:
        raise DataError(f"{path!r} must hold a 2-D array; got shape {shape}")
    rows = block_rows or max(1, BLOCK_BYTES // max(1, shape[1] * dtype.itemsize))
    starts = range(0, shape[0], rows)
    return da.concatenate(
        [
            da.from_delayed(
                dask.delayed(_npy_rows)(path, start, min(start + rows, shape[0])),
                (min(start + rows, shape[0]) - start, shape[1]),
                dtype=dtype,
            )
            for start in starts
        ]
    )


def _npy_header(path: str) -> tuple[tuple[int, ...], np.dtype]:
    """The array's shape and dtype, read from the header; a file too short for
    them (empty, truncated) or holding Python objects is refused."""
    size = os.path.getsize(path)
    if size == 0:
        raise DataError(f"{path!r} is empty (0 bytes); it must be an .npy file")
    try:
        with open(path, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0
            if major > 1:
                read = np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
            offset = fh.tell()
    except (ValueError, EOFError) as exc:
        raise DataError(
            f"{path!r} is not a readable .npy file: its header is damaged or cut "
            f"short ({brief(str(exc))})"
        ) from None
    if dtype.hasobject:
        raise DataError(f"{path!r} holds Python objects; xpnet reads numbers only")
    expected = dtype.itemsize * math.prod(shape)
    if size - offset < expected:
        raise DataError(
            f"{path!r} is truncated: its header declares a {dtype} array of shape "
            f"{shape} ({expected:,} bytes of data), the file holds "
            f"{size - offset:,}"
        )
    return shape, dtype


def _npy_rows(path: str, start: int, stop: int) -> np.ndarray:
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def _columns(matrix: da.Array, path: str, target: str | None) -> LazyDataset:
    """One 2-D array: the target column and the rest as features."""
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise DataError(
            f"{path!r} must hold a 2-D array with the target and at least one "
            f"feature column; got shape {matrix.shape}"
        )
    n_columns = matrix.shape[1]
    try:
        column = -1 if target is None else int(target)
    except ValueError:
        raise DataError(
            f"--target for {path!r} must be a column index; got {target!r}"
        ) from None
    if not -n_columns <= column < n_columns:
        raise DataError(
            f"target column index {column} is out of range for {path!r}, which has "
            f"{n_columns} columns"
        )
    column %= n_columns
    features = [i for i in range(n_columns) if i != column]
    return LazyDataset(
        matrix[:, features],
        matrix[:, column],
        path,
        [f"column {i}" for i in features],
        f"column {column}",
    )


def train_lazy(
    args: argparse.Namespace, backend: Backend, kind: str | None, reducer: Any
) -> tuple[Any, LazyDataset, str, Any, dict[str, float], str]:
    """``xpnet train`` on data opened lazily: (model, data, task, fitted, scores,
    the summary's split line).

    Raises
    ------
    DataError
        ``--scheduler`` without lazily opened data, or with ``--distributed``.
    """
    if kind is None or reducer is not None:
        raise DataError(
            "--scheduler needs data opened lazily with Dask (a directory of Parquet "
            "files, a Zarr store or an .npy file), and --distributed data in memory; "
            f"got {args.data!r}" + (" with --distributed" if reducer else "")
        )
    if args.solver == "lbfgs":
        raise DataError(
            f"--solver lbfgs takes full-batch gradients over data in memory; "
            f"{args.data!r} is opened lazily and trains block by block: use --solver "
            "adam or sgd"
        )
    with connected(args.scheduler):
        data = open_lazy(args.data, kind, args.target, args.block_rows)
        task = args.task or data.task
        X_train, y_train, X_test, y_test, line = _split(data, task, args)
        model = estimator_for(task, args, backend)
        if args.scale == "standard":
            model.standardization_ = _standardization(X_train, y_train, task)
        fitted = fit_with_progress(model, X_train, y_train, quiet=args.quiet)
        scores = {"train": model.score(X_train, y_train)}
        if X_test is not None:
            scores["test"] = model.score(X_test, y_test)
    return model, data, task, fitted, scores, line


def _split(data: LazyDataset, task: str, args: argparse.Namespace) -> tuple[Any, ...]:
    """Whole blocks for the test set: (X_train, y_train, X_test, y_test, line)."""
    n_blocks = data.X.numblocks[0]
    test_size, seed = args.test_size, args.seed
    n_test = 0 if test_size == 0 else max(1, round(test_size * n_blocks))
    if n_test >= n_blocks:
        raise DataError(
            f"--test-size {test_size} holds out whole blocks: {n_test} of "
            f"{data.name!r}'s {n_blocks} blocks, leaving none to train on; use "
            "--block-rows for smaller blocks, or --test-size 0"
        )
    y = data.y
    if task == "regression":
        if y.dtype.kind not in "biuf":
            raise DataError(
                f"task regression needs numeric targets; the target of {data.name!r} "
                f"has dtype {y.dtype}"
            )
        y = y.astype(np.float64)
    order = np.random.default_rng(seed).permutation(n_blocks)
    train, test = np.sort(order[n_test:]), np.sort(order[:n_test])
    X_train, y_train = blocks_of(data.X, train), blocks_of(y, train)
    X_test = blocks_of(data.X, test) if n_test else None
    y_test = blocks_of(y, test) if n_test else None
    line = (
        f"{X_train.shape[0]} train ({n_blocks - n_test} blocks), "
        f"{0 if X_test is None else X_test.shape[0]} test ({n_test} blocks, seed "
        f"{seed})"
    )
    return X_train, y_train, X_test, y_test, line


def _standardization(X: da.Array, y: da.Array, task: str) -> Standardization:
    """Column means and standard deviations of the training blocks (one pass),
    constant columns at scale 1, as ``Standardization.fit`` computes them."""
    columns = [X] + ([y[:, None]] if task == "regression" else [])
    columns = [c.astype(np.float64) for c in columns]  # float64, as on the host
    moments = dask.compute(*[(c.mean(axis=0), c.std(axis=0)) for c in columns])
    values = [
        array for mean, std in moments for array in (mean, np.where(std > 0, std, 1.0))
    ]
    return Standardization(*values)


@contextlib.contextmanager
def connected(address: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` on the scheduler at ``address`` while the block is
    running (dask's ``scheduler`` setting, not the process's default client: a
    Client that fails to connect stays registered as the default, and every later
    compute in the process would wait on it); without an address, dask's local
    scheduler."""
    if address is None:
        yield None
        return
    from distributed import Client

    try:
        client = Client(address, timeout="30s", set_as_default=False)
    except OSError as exc:
        raise DataError(f"cannot reach the Dask scheduler {address!r}: {exc}") from None
    except Exception as exc:  # something answered, but not Dask's protocol (a
        # web server's reply read as a frame length asks for exabytes)
        raise DataError(
            f"{address!r} did not answer as a Dask scheduler ({type(exc).__name__}); "
            "give the address a scheduler prints (tcp://HOST:8786)"
        ) from None
    with client, dask.config.set(scheduler=client.get):
        yield client
