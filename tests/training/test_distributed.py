"""Data-parallel training on torch.distributed: 2 gloo processes on 127.0.0.1.

The two ranks (tests/distributed_worker.py) are started once for the module and run
every check; the tests here read what they wrote and compare it with one process
fitting the same global batches.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from distributed_worker import (  # tests/, on sys.path
    CASES,
    HUNG_TIMEOUT_S,
    TIMEOUT_S,
    fit_case,
    research_steps,
)

import xpnet
from xpnet.check import TOLERANCES
from xpnet.command.cli import main as cli_main
from xpnet.training.distributed import (
    CENSUS_SECONDS,
    DistributedError,
    GradientReducer,
)

WORKER = os.path.join(os.path.dirname(__file__), "distributed_worker.py")
WORLD_SIZE = 2
pytestmark = [
    pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning"),
    pytest.mark.slow,  # each test starts 2 processes (about 5-15 s)
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run both ranks to the end; the folder they wrote into."""
    pytest.importorskip("torch.distributed", reason="torch is not installed")
    out = tmp_path_factory.mktemp("distributed")
    port = str(_free_port())
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, str(rank), port, str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(WORLD_SIZE)
    ]
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=180)[0])
    finally:
        for proc in procs:
            proc.kill()
    # rank 1 exits with 3 on purpose (the dead rank, last); anything else failed
    if [p.returncode for p in procs] != [0, 3]:
        tails = "\n".join(f"rank {r}: ...{log[-2000:]}" for r, log in enumerate(logs))
        pytest.fail(f"the ranks failed: {[p.returncode for p in procs]}\n{tails}")
    return out


def _results(out, rank: int, name: str = "") -> dict:
    with open(out / f"{name}rank{rank}.json") as fh:
        return json.load(fh)


def _params(out, name: str, rank: int) -> list[np.ndarray]:
    with np.load(out / f"{name}.rank{rank}.npz") as saved:
        count = len(saved.files) - 1
        return [saved[f"p{i}"] for i in range(count)] + [saved["loss_curve"]]


def _assert_close(actual, expected, dtype):
    """float64: 1e-12 relative (to the array's largest value); float32: the
    cross-backend tolerance of xpnet.check."""
    rtol = 1e-12 if dtype == "float64" else TOLERANCES[dtype]
    for a, b in zip(actual, expected, strict=True):
        scale = float(np.max(np.abs(b))) if np.size(b) else 1.0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("name", ["resumed", *CASES])
def test_ranks_end_bit_identical(ranks, name):
    for a, b in zip(_params(ranks, name, 0), _params(ranks, name, 1), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_one_process_on_the_global_batches(ranks, name):
    one = fit_case(name)  # here, in one process, on the same backend and dtype
    expected = one.coefs_ + one.intercepts_ + [np.asarray(one.loss_curve_)]
    _assert_close(_params(ranks, name, 0), expected, CASES[name][1]["dtype"])


def test_resume_from_rank_0s_checkpoint_continues_to_the_same_result(ranks):
    assert (ranks / "ckpt.rank0.npz").exists()
    assert not (ranks / "ckpt.rank1.npz").exists()  # rank 0 alone writes
    uninterrupted = _params(ranks, "classifier_adam_early_stopping", 0)
    for rank in range(WORLD_SIZE):
        for a, b in zip(_params(ranks, "resumed", rank), uninterrupted, strict=True):
            np.testing.assert_array_equal(a, b)


def test_ranks_that_disagree_stop_every_rank_naming_the_difference(ranks):
    for rank in range(WORLD_SIZE):
        found = _results(ranks, rank)
        assert (
            "rank 1 has X shape (82, 5) where rank 0 has (81, 5)"
            in (found["data_mismatch"])
        )
        assert (
            "rank 1 has parameter random_state 1 where rank 0 has 0"
            in (found["seed_mismatch"])
        )
        assert "rank 1 has data fingerprint" in found["column_mismatch"]


def test_sparse_x_trains_data_parallel_as_dense_x(ranks):
    for rank in range(WORLD_SIZE):
        dense, sparse = (_params(ranks, name, rank) for name in ("dense", "sparse"))
        for a, b in zip(sparse, dense, strict=True):
            np.testing.assert_allclose(a, b, rtol=TOLERANCES["float32"])


def test_reducer_sums_arrays_of_each_backend_and_shards_batches(ranks):
    for rank in range(WORLD_SIZE):
        found = _results(ranks, rank)["reducer"]
        for name in ("numpy", "torch"):  # rank r hands in r + 1, [r], 10 (r + 1)
            assert found[name] == {"sums": [[[3.0] * 3] * 2, [1.0]], "loss": 30.0}
        assert found["world"] == [rank, WORLD_SIZE, "gloo"]
    shards = [_results(ranks, rank)["reducer"]["shards"] for rank in (0, 1)]
    assert shards == [
        [[0, 2, 0.4], [5, 5, 0.0], [6, 8, 0.5]],
        [[2, 5, 0.6], [5, 6, 1.0], [8, 10, 0.5]],
    ]


def test_research_api_steps_match_one_process(ranks):
    expected = research_steps()
    for rank in range(WORLD_SIZE):
        found = _results(ranks, rank)["reducer"]["research_weights"]
        _assert_close([np.asarray(w) for w in found], expected, "float64")


def test_train_command_prints_and_saves_on_rank_0_only(ranks):
    lead, other = (_results(ranks, rank)["cli"] for rank in (0, 1))
    assert lead["code"] == other["code"] == 0
    assert "parallel: world size 2, torch.distributed gloo" in lead["stdout"]
    assert "training:" in lead["stderr"]  # the progress bar
    assert other["stdout"] == other["stderr"] == ""
    assert (ranks / "cli.rank0.npz").exists()
    assert not (ranks / "cli.rank1.npz").exists()


def test_verbose_fit_prints_on_rank_0_only(ranks):
    lead, other = (_results(ranks, rank)["verbose"] for rank in (0, 1))
    assert "loss" in lead["stdout"] + lead["stderr"]
    assert other["stdout"] == other["stderr"] == ""


def test_a_rank_that_dies_stops_the_others_naming_it(ranks):
    found = _results(ranks, 0, "dead_rank.")
    assert "stopped on rank 0 of 2 (gloo)" in found["error"]
    assert "rank 1 did not report alive" in found["error"]
    assert found["seconds"] < TIMEOUT_S


def test_a_rank_that_hangs_stops_the_others_after_the_groups_timeout(ranks):
    found = _results(ranks, 0)["hung_rank"]
    assert "stopped on rank 0 of 2 (gloo)" in found["error"]
    assert "rank 1 did not report alive" in found["error"]
    assert "Timed out" in found["error"]  # gloo's timeout, not a closed connection
    assert HUNG_TIMEOUT_S < found["seconds"] < HUNG_TIMEOUT_S + CENSUS_SECONDS + 8


# ---- in this process ----------------------------------------------------------------


def test_train_command_joins_and_leaves_torchruns_group(monkeypatch, capsys):
    dist = pytest.importorskip("torch.distributed", reason="torch is not installed")
    env = dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
    for name, value in dict(env, MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(name, value)  # as torchrun --nproc-per-node 1 sets them
    args = ["train", "--data", "iris", "--hidden", "4", "--epochs", "2", "--quiet"]
    assert cli_main([*args, "--distributed"]) == 0
    assert "parallel: world size 1, torch.distributed gloo" in capsys.readouterr().out
    assert not dist.is_initialized()  # left again


def test_no_process_group_is_a_clear_error():
    pytest.importorskip("torch.distributed", reason="torch is not installed")
    with pytest.raises(
        DistributedError, match="none is initialised.*init_process_group"
    ):
        GradientReducer(xpnet.get_backend("numpy"))
    X, y = CASES["regressor_plain_sgd_float32"][2]()
    with pytest.raises(DistributedError, match="none is initialised"):
        xpnet.MLPRegressor(max_iter=1).fit(X, y, distributed=True)


def test_backend_without_a_torch_distributed_path_is_refused():
    backend = xpnet.get_backend("array_api_strict")
    with pytest.raises(
        DistributedError, match="'array_api_strict' has no torch.distri"
    ):
        GradientReducer(backend)


def test_distributed_argument_is_checked():
    X, y = CASES["regressor_plain_sgd_float32"][2]()
    with pytest.raises(TypeError, match="distributed must be None, False, True.*'yes'"):
        xpnet.MLPRegressor(max_iter=1).fit(X, y, distributed="yes")


def test_train_command_outside_torchrun_says_how_to_launch(monkeypatch, capsys):
    pytest.importorskip("torch.distributed", reason="torch is not installed")
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    code = cli_main(["train", "--data", "iris", "--epochs", "1", "--distributed"])
    assert code == 3
    assert "torchrun --nproc-per-node N -m xpnet train" in capsys.readouterr().err
