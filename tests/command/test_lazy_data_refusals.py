"""``xpnet train`` on data opened lazily: damaged or inconsistent stores, and a
``--scheduler`` that is not a Dask scheduler, are one line and exit code 2.

Each case was a raw traceback, a library's own words or, for a Zarr store with a
missing chunk, a run that trained on the fill value and exited 0 (issue 24).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading

import numpy as np
import pytest

from xpnet.command import cli

pytest.importorskip("dask.array", reason="dask is the optional xpnet[dask]")
zarr = pytest.importorskip("zarr", reason="zarr is the optional xpnet[dask-files]")

COMMON = ["--quiet", "--epochs", "2", "--hidden", "4"]


def _data(n_samples=600, n_features=5):
    X = np.random.default_rng(0).normal(size=(n_samples, n_features))
    return X, (X[:, 0] > 0).astype(np.int64)


def _zarr_store(path, n_targets=600, **options):
    X, y = _data()
    group = zarr.open_group(str(path), mode="w")
    group.create_array("X", data=X, chunks=(100, 5), **options)
    group.create_array("y", data=y[:n_targets], chunks=(100,), **options)
    return str(path)


def _one_line_error(capsys, argv):
    code = cli.main(["train", "--data", *argv, *COMMON])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("xpnet: error: ") and err.count("\n") == 1, err
    return err


def test_a_missing_zarr_chunk_is_refused_naming_store_and_chunk(tmp_path, capsys):
    """Item 9: the chunk read as zeros and training exited 0."""
    store = _zarr_store(tmp_path / "data.zarr")
    os.remove(tmp_path / "data.zarr" / "X" / "c" / "3" / "0")
    err = _one_line_error(capsys, [store])
    assert repr(store) in err and "'c/3/0'" in err and "'X'" in err
    assert "missing" in err and "write_empty_chunks" in err


def test_a_missing_chunk_of_a_single_zarr_array_is_refused(tmp_path, capsys):
    X, y = _data()
    store = str(tmp_path / "matrix.zarr")
    zarr.create_array(store, data=np.column_stack([X, y]), chunks=(100, 6))
    shutil.rmtree(tmp_path / "matrix.zarr" / "c" / "5")
    err = _one_line_error(capsys, [store])
    assert repr(store) in err and "'c/5/0'" in err


def test_a_zarr_store_with_every_chunk_stored_trains(tmp_path, capsys):
    """A chunk that equals the fill value is kept when written with
    write_empty_chunks=True, and then the store trains."""
    X, _ = _data()
    y = np.repeat([0, 1], 300)  # the first chunks hold only the fill value 0
    group = zarr.open_group(str(tmp_path / "data.zarr"), mode="w")
    config = {"write_empty_chunks": True}
    group.create_array("X", data=X, chunks=(100, 5), config=config)
    group.create_array("y", data=y, chunks=(100,), config=config)
    argv = ["train", "--data", str(tmp_path / "data.zarr"), *COMMON]
    assert cli.main(argv) == 0, capsys.readouterr().err


def test_a_damaged_zarr_chunk_is_one_line(tmp_path, capsys):
    """Item 16: zstd's RuntimeError came out as a traceback."""
    store = _zarr_store(tmp_path / "data.zarr")
    with open(tmp_path / "data.zarr" / "X" / "c" / "2" / "0", "r+b") as chunk:
        chunk.seek(10)
        chunk.write(b"\xff" * 20)
    err = _one_line_error(capsys, [store, "--test-size", "0.2"])
    assert repr(store) in err and "rows 200:300" in err and "damaged" in err


def test_zarr_x_and_y_of_different_lengths_are_named(tmp_path, capsys):
    store = _zarr_store(tmp_path / "data.zarr", n_targets=500)
    err = _one_line_error(capsys, [store])
    assert repr(store) in err and "(600, 5)" in err and "(500,)" in err
    assert "one target per row" in err


def _parquet_directory(path, rename_in_second=None, columns=None):
    pytest.importorskip("pyarrow", reason="pyarrow is the optional xpnet[dask-files]")
    import pandas as pd

    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    frame["label"] = y
    frame = frame[columns] if columns else frame
    path.mkdir()
    frame.iloc[:300].to_parquet(path / "0.parquet")
    second = frame.iloc[300:].rename(columns=rename_in_second or {})
    second.to_parquet(path / "1.parquet")
    return str(path)


def test_parquet_files_that_disagree_on_a_column_are_named(tmp_path, capsys):
    """Item 16: a KeyError traceback from pandas, mid-training."""
    directory = _parquet_directory(tmp_path / "pq", rename_in_second={"f2": "g2"})
    err = _one_line_error(capsys, [directory])
    assert repr(directory) in err and "'1.parquet'" in err and "'g2'" in err
    assert "disagree on their columns" in err


def test_a_target_only_parquet_directory_is_named(tmp_path, capsys):
    directory = _parquet_directory(tmp_path / "pq", columns=["label"])
    err = _one_line_error(capsys, [directory])
    assert repr(directory) in err and "no feature columns" in err


@pytest.mark.parametrize(
    "cut, words",
    [
        (0, "is empty (0 bytes)"),
        (60, "header is damaged or cut short"),
        (0.5, "is truncated: its header declares a float64 array of shape (600, 6)"),
    ],
    ids=["empty", "cut-in-header", "cut-in-data"],
)
def test_empty_or_truncated_npy_files_are_named(tmp_path, capsys, cut, words):
    X, y = _data()
    np.save(tmp_path / "full.npy", np.column_stack([X, y]))
    data = (tmp_path / "full.npy").read_bytes()
    length = int(len(data) * cut) if isinstance(cut, float) else cut
    (tmp_path / "data.npy").write_bytes(data[:length])
    err = _one_line_error(capsys, [str(tmp_path / "data.npy")])
    assert repr(str(tmp_path / "data.npy")) in err and words in err


@contextlib.contextmanager
def _not_a_scheduler():
    """A TCP server on 127.0.0.1 (a free port) answering like a web server."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:  # the timeout: look at stop again
                continue
            with connection:
                connection.settimeout(5)
                with contextlib.suppress(OSError):
                    connection.recv(4096)
                    connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" * 4)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=10)
        server.close()


def test_a_scheduler_address_that_is_not_dask_is_one_line(tmp_path, capsys):
    """Item 16: the reply read as a frame length asked for 3.07 EiB. The failed
    Client must not stay the process's scheduler (later computes waited on it)."""
    pytest.importorskip("distributed", reason="xpnet[dask] installs it")
    import dask

    X, y = _data()
    np.save(tmp_path / "data.npy", np.column_stack([X, y]))
    scheduler = dask.config.get("scheduler", None)
    with _not_a_scheduler() as address:
        err = _one_line_error(
            capsys, [str(tmp_path / "data.npy"), "--scheduler", address]
        )
    assert repr(address) in err and "did not answer as a Dask scheduler" in err
    assert "EiB" not in err
    assert dask.config.get("scheduler", None) == scheduler
    assert float(dask.array.ones(4).sum().compute(timeout=30)) == 4.0
