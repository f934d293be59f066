"""One rank of the data-parallel checks in test_distributed.py (2 gloo processes).

``python tests/distributed_worker.py RANK PORT OUTDIR`` joins a 2-process gloo group on
127.0.0.1:PORT and runs every check in one process, since importing torch costs
seconds: the CASES fitted data-parallel (weights saved per rank), a checkpoint and a
resume from rank 0's file, ranks with different data, the reducer on its own,
``xpnet train --distributed``, and last a rank that dies (rank 1 exits; rank 0
records the error and how long it took). Results go to OUTDIR/rank{RANK}.json.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import sys
import time
import warnings

import numpy as np

import xpnet
from xpnet.command.cli import main as cli_main
from xpnet.training.distributed import (
    CENSUS_SECONDS,
    DistributedError,
    GradientReducer,
)

TIMEOUT_S = 20
"""gloo's timeout for every collective (init_process_group's ``timeout``)."""
HUNG_TIMEOUT_S = 2
"""The timeout of the group on which rank 1 stalls."""


def classification(n_samples: int, n_classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 5))
    y = np.argmax(X[:, :n_classes] + 0.5 * rng.normal(size=(n_samples, n_classes)), 1)
    return X, y


def regression(n_samples: int, n_outputs: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4))
    return X, np.sin(X @ rng.normal(size=(4, n_outputs)))


# name: (estimator, its parameters, data); each is fitted data-parallel by both ranks
# and by one process in the test. Batches leave uneven shards, and the classifier's
# last batch has one row (rank 0 gets none of it).
CASES = {
    "classifier_adam_early_stopping": (
        "MLPClassifier",
        dict(
            hidden_layer_sizes=(8,),
            batch_size=16,
            alpha=1e-3,
            early_stopping=True,
            validation_fraction=0.2,
            n_iter_no_change=2,
            max_iter=6,
            learning_rate_init=0.01,
            dtype="float64",
            backend="numpy",
        ),
        lambda: classification(102, 3),
    ),
    "regressor_nesterov_invscaling_torch": (
        "MLPRegressor",
        dict(
            hidden_layer_sizes=(8, 6),
            solver="sgd",
            learning_rate="invscaling",
            learning_rate_init=0.05,
            power_t=0.25,
            batch_size=10,
            max_iter=5,
            dtype="float64",
            backend="torch",
        ),
        lambda: regression(47, 2),
    ),
    "regressor_plain_sgd_float32": (
        "MLPRegressor",
        dict(
            hidden_layer_sizes=(6,),
            solver="sgd",
            momentum=0.0,
            learning_rate="adaptive",
            learning_rate_init=0.05,
            batch_size=7,
            max_iter=5,
            dtype="float32",
            backend="numpy",
        ),
        lambda: regression(60, 1),
    ),
    "classifier_binary_float32_torch": (
        "MLPClassifier",
        dict(
            hidden_layer_sizes=(7,),
            batch_size=9,
            max_iter=4,
            learning_rate_init=0.02,
            dtype="float32",
            backend="torch",
        ),
        lambda: classification(50, 2),
    ),
}
RESUME = CASES["classifier_adam_early_stopping"]
WARM_START_EPOCHS = 2  # the binary case is fitted again with warm_start for these


def estimator(name: str, max_iter: int | None = None, **changes):
    """A fresh estimator of case ``name`` (random_state 0)."""
    kind, params, _ = CASES[name]
    params = {**params, "random_state": 0, **changes}
    if max_iter is not None:
        params["max_iter"] = max_iter
    return getattr(xpnet, kind)(**params)


def fit_case(name: str, **fit_options):
    """Fit case ``name`` (the binary case: once more with warm_start; the
    regressor on torch: then two partial_fit epochs)."""
    X, y = CASES[name][2]()
    model = estimator(name).fit(X, y, **fit_options)
    if name == "classifier_binary_float32_torch":
        model.set_params(warm_start=True, max_iter=WARM_START_EPOCHS)
        model.fit(X, y, **fit_options)
    if name == "regressor_nesterov_invscaling_torch":
        for _ in range(2):
            model.partial_fit(X, y, **fit_options)
    return model


def _save(out: str, name: str, model) -> None:
    arrays = {f"p{i}": p for i, p in enumerate(model.coefs_ + model.intercepts_)}
    np.savez(os.path.join(out, name), loss_curve=model.loss_curve_, **arrays)


def _error(call) -> str:
    try:
        call()
    except DistributedError as exc:
        return str(exc)
    return "no error"


def run(rank: int, out: str) -> dict:
    results: dict = {}
    tag = f"rank{rank}"
    for name in CASES:
        _save(out, f"{name}.{tag}.npz", fit_case(name, distributed=True))
    # rank 0 writes the checkpoints; both ranks resume from rank 0's
    first = estimator("classifier_adam_early_stopping", max_iter=3)
    X, y = RESUME[2]()
    first.fit(X, y, distributed=True, checkpoint=f"{out}/ckpt.{tag}.npz",
              checkpoint_every=4)  # fmt: skip
    resumed = estimator("classifier_adam_early_stopping")
    resumed.fit(X, y, distributed=True, resume_from=f"{out}/ckpt.rank0.npz")
    _save(out, f"resumed.{tag}.npz", resumed)
    # rank 1 holds one row more
    X_other = X if rank == 0 else np.concatenate([X, X[:1]])
    y_other = y if rank == 0 else np.concatenate([y, y[:1]])
    results["data_mismatch"] = _error(
        lambda: estimator("classifier_adam_early_stopping").fit(
            X_other, y_other, distributed=True
        )
    )
    # rank 1 has two columns swapped: every row sum is the same (issue 24, item 10)
    X_swapped = X if rank == 0 else X[:, [1, 0, *range(2, X.shape[1])]]
    results["column_mismatch"] = _error(
        lambda: estimator("classifier_adam_early_stopping").fit(
            X_swapped, y, distributed=True
        )
    )
    # sparse X trains data-parallel as dense X does (issue 24, item 15)
    import scipy.sparse

    X_dense, y_dense = CASES["regressor_plain_sgd_float32"][2]()
    for name, data in (
        ("dense", X_dense),
        ("sparse", scipy.sparse.csr_matrix(X_dense)),
    ):
        model = estimator("regressor_plain_sgd_float32", max_iter=2)
        _save(out, f"{name}.{tag}.npz", model.fit(data, y_dense, distributed=True))
    results["seed_mismatch"] = _error(
        lambda: estimator("classifier_adam_early_stopping", random_state=rank).fit(
            X, y, distributed=True
        )
    )
    results["reducer"] = reducer_checks(rank)
    results["verbose"] = _captured(
        lambda: estimator("regressor_plain_sgd_float32", max_iter=2, verbose=True).fit(
            *CASES["regressor_plain_sgd_float32"][2](), distributed=True
        )
    )
    results["cli"] = cli_check(out, rank)
    results["hung_rank"] = hung_rank(rank)
    return results


def reducer_checks(rank: int) -> dict:
    """The research API: shares of a batch, sums of every backend's arrays."""
    found: dict = {}
    for name in ("numpy", "torch"):
        backend = xpnet.get_backend(name)
        reducer = GradientReducer(backend)
        grads = [backend.asarray(np.full((2, 3), rank + 1.0)), backend.asarray([rank])]
        loss = reducer(grads, backend.asarray(10.0 * (rank + 1)))
        found[name] = {
            "sums": [backend.to_numpy(g).tolist() for g in grads],
            "loss": float(loss),
        }
    reducer = GradientReducer(xpnet.get_backend("numpy"))
    found["research_weights"] = [w.tolist() for w in research_steps(reducer)]
    found["shards"] = [reducer.shard(0, 5), reducer.shard(5, 6), reducer.shard(6, 10)]
    found["world"] = [reducer.rank, reducer.world_size, reducer.torch_backend]
    return found


def research_steps(reducer: GradientReducer | None = None, steps: int = 3) -> list:
    """The docs' research-API loop: ``steps`` SGD steps of an MLP on 13 rows, each
    rank computing its share (one process: all rows); the final weights."""
    net = xpnet.MLP([4, 8, 2], hidden_activation="tanh", dtype="float64", seed=0)
    X, y = regression(13, 2, seed=5)
    for _ in range(steps):
        lo, hi, share = (0, 13, 1.0) if reducer is None else reducer.shard(0, 13)
        loss, gw, gb = net.loss_and_gradients(X[lo:hi], y[lo:hi])
        grads = [g * share for g in gw + gb]
        if reducer is not None:
            reducer(grads)
        net.sgd_step(grads[: len(gw)], grads[len(gw) :], lr=0.1)
    return net.get_weights() + net.get_biases()


def cli_check(out: str, rank: int) -> dict:
    """``xpnet train --distributed`` in this process (the group exists already)."""
    X, y = classification(90, 3, seed=3)
    path = os.path.join(out, "data.csv")
    if not os.path.exists(path):  # both ranks write the same bytes
        np.savetxt(f"{path}.{os.getpid()}", np.column_stack([X, y]), delimiter=",")
        os.replace(f"{path}.{os.getpid()}", path)
    save = os.path.join(out, f"cli.rank{rank}.npz")
    args = ["train", "--data", path, "--task", "classification", "--hidden", "8",
            "--epochs", "3", "--dtype", "float64", "--batch-size", "16", "--save",
            save, "--distributed"]  # fmt: skip
    found = _captured(lambda: cli_main(args))
    return {"code": found.pop("result"), **found}


def _captured(call) -> dict:
    """What ``call()`` returned (if JSON-able) and printed on stdout and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        result = call()
    return {
        "result": result if isinstance(result, int) else None,
        "stdout": stdout.getvalue(),
        "stderr": stderr.getvalue(),
    }


def hung_rank(rank: int) -> dict:
    """On a group with a short timeout, rank 1 stalls after one epoch (past rank 0's
    timeout and census); rank 0 must stop with an error naming it."""
    import torch.distributed as dist

    group = dist.new_group(timeout=datetime.timedelta(seconds=HUNG_TIMEOUT_S))

    def stall(model, history):
        if rank == 1 and history.n_iter == 1:
            time.sleep(HUNG_TIMEOUT_S + CENSUS_SECONDS + 2)

    X, y = CASES["regressor_plain_sgd_float32"][2]()
    model = estimator("regressor_plain_sgd_float32", max_iter=3)
    started = time.monotonic()
    message = _error(lambda: model.fit(X, y, distributed=group, callbacks=[stall]))
    return {"error": message, "seconds": time.monotonic() - started}


def dead_rank(rank: int) -> dict:
    """Rank 1 exits after one epoch; rank 0 must stop with an error naming it."""

    def die(model, history):
        if rank == 1:
            os._exit(3)

    started = time.monotonic()
    message = _error(
        lambda: estimator("regressor_plain_sgd_float32", max_iter=50).fit(
            *CASES["regressor_plain_sgd_float32"][2](),
            distributed=True,
            callbacks=[die],
        )
    )
    return {"error": message, "seconds": time.monotonic() - started}


def _write(out: str, name: str, results: dict) -> None:
    with open(os.path.join(out, name), "w") as fh:
        json.dump(results, fh)


def main() -> None:
    rank, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    import torch.distributed as dist

    warnings.simplefilter("ignore")  # ConvergenceWarning: a few epochs on purpose
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        os.environ.pop(name, None)  # the group is made here, not from torchrun's
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=TIMEOUT_S),
    )
    _write(out, f"rank{rank}.json", run(rank, out))
    _write(out, f"dead_rank.rank{rank}.json", dead_rank(rank))  # rank 1 exits in it
    os._exit(0)  # the group is broken by the dead rank: no orderly teardown


if __name__ == "__main__":
    main()
