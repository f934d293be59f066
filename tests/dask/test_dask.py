"""Dask input: out-of-core fit and partial_fit, predict and score block by block,
dask-ml's Incremental and joblib-dask sweeps on a LocalCluster.

The cluster (2 worker processes, 1 thread each, on 127.0.0.1) is started once for the
module and closed at its end; ``faulthandler`` ends the run if it hangs.
"""

from __future__ import annotations

import faulthandler
import importlib
import importlib.util
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import xpnet
from xpnet.command import cli
from xpnet.maths.optim import Adam

da = pytest.importorskip("dask.array", reason="dask is the optional xpnet[dask]")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed", reason="xpnet[dask] installs it")

COMMON = dict(hidden_layer_sizes=(6,), batch_size=8, max_iter=3, random_state=0)


@pytest.fixture(scope="module")
def client():
    """A Client on a LocalCluster of 2 worker processes with 1 thread each."""
    faulthandler.dump_traceback_later(240, exit=True)  # a hung cluster ends the run
    try:
        with (
            dask.config.set({"distributed.comm.timeouts.connect": "30s"}),
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                scheduler_port=0,
                dashboard_address="127.0.0.1:0",  # a free port: 8787 may be taken
                death_timeout=60,
                env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
            ) as cluster,
            distributed.Client(cluster, timeout="30s") as client,
        ):
            if importlib.util.find_spec("dask_ml") is not None:
                # The workers import dask-ml (seconds) while the first tests run.
                distributed.fire_and_forget(
                    [
                        client.submit(
                            importlib.import_module,
                            "dask_ml.wrappers",
                            workers=[worker],
                            pure=False,
                        )
                        for worker in client.scheduler_info()["workers"]
                    ]
                )
            yield client
    finally:
        faulthandler.cancel_dump_traceback_later()


def _classification(n_samples=96, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    return X, y


def _regression(n_samples=96, n_features=4, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    return X, np.stack([X @ np.arange(1.0, 5.0), np.sin(X[:, 0])], axis=1)


def _params(model):
    return [*model.coefs_, *model.intercepts_]


def _assert_same_fit(a, b):
    for p, q in zip(_params(a), _params(b), strict=True):
        np.testing.assert_array_equal(p, q)
    assert a.loss_curve_ == b.loss_curve_ and a.t_ == b.t_


def _blocks(array, rows):
    return da.from_array(array, chunks=(rows, *array.shape[1:]))


# ---- bit for bit ---------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_one_block_fit_equals_the_in_memory_fit(kind, shuffle):
    X, y = _classification() if kind == "classifier" else _regression()
    cls = xpnet.MLPClassifier if kind == "classifier" else xpnet.MLPRegressor
    memory = cls(shuffle=shuffle, **COMMON).fit(X, y)
    blocked = cls(shuffle=shuffle, **COMMON).fit(_blocks(X, 96), _blocks(y, 96))
    _assert_same_fit(blocked, memory)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_one_block_fit_applies_the_standardization_as_in_memory():
    """``standardization_`` (as ``xpnet train`` sets it) scales each block's X and
    the regression targets in float64, as for host data."""
    from xpnet.estimators.scaling import Standardization

    X, y = _regression()
    X = X * 1e3 + 1e6  # a large offset: float32 would lose it unscaled
    fits = []
    for data in ((X, y), (_blocks(X, 96), _blocks(y, 96))):
        model = xpnet.MLPRegressor(**COMMON)
        model.standardization_ = Standardization.fit(X, y)
        fits.append(model.fit(*data))
    _assert_same_fit(fits[1], fits[0])
    np.testing.assert_array_equal(
        fits[1].predict(_blocks(X, 32)).compute(), fits[0].predict(X)
    )
    with pytest.raises(ValueError, match="distributed= trains on data in memory"):
        xpnet.MLPRegressor(**COMMON).fit(
            _blocks(X, 96), _blocks(y, 96), distributed=True
        )


def test_partial_fit_over_blocks_equals_the_numpy_blocks():
    X, y = _classification()
    Xd, yd = _blocks(X, 32), _blocks(y, 32)
    on_numpy, on_dask = xpnet.MLPClassifier(**COMMON), xpnet.MLPClassifier(**COMMON)
    for i in range(Xd.numblocks[0]):
        rows = slice(32 * i, 32 * (i + 1))
        on_numpy.partial_fit(X[rows], y[rows], classes=["a", "b", "c"])
        on_dask.partial_fit(Xd.blocks[i], yd.blocks[i], classes=["a", "b", "c"])
    _assert_same_fit(on_dask, on_numpy)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_weighted_one_block_fit_equals_the_in_memory_fit(kind, shuffle):
    X, y = _classification() if kind == "classifier" else _regression()
    weights = np.random.default_rng(3).uniform(0.0, 2.0, size=96)
    cls = xpnet.MLPClassifier if kind == "classifier" else xpnet.MLPRegressor
    memory = cls(shuffle=shuffle, **COMMON).fit(X, y, sample_weight=weights)
    for given in (_blocks(weights, 96), weights):  # Dask or host weights
        blocked = cls(shuffle=shuffle, **COMMON).fit(
            _blocks(X, 96), _blocks(y, 96), sample_weight=given
        )
        _assert_same_fit(blocked, memory)
    unweighted = cls(shuffle=shuffle, **COMMON).fit(_blocks(X, 96), _blocks(y, 96))
    assert unweighted.loss_curve_ != memory.loss_curve_, "the weights count"


def test_weighted_partial_fit_over_blocks_equals_the_numpy_blocks():
    X, y = _regression()
    weights = np.random.default_rng(4).uniform(0.0, 2.0, size=96)
    Xd, yd, wd = _blocks(X, 32), _blocks(y, 32), _blocks(weights, 32)
    on_numpy, on_dask = xpnet.MLPRegressor(**COMMON), xpnet.MLPRegressor(**COMMON)
    for i in range(Xd.numblocks[0]):
        rows = slice(32 * i, 32 * (i + 1))
        on_numpy.partial_fit(X[rows], y[rows], sample_weight=weights[rows])
        on_dask.partial_fit(Xd.blocks[i], yd.blocks[i], sample_weight=wd.blocks[i])
    _assert_same_fit(on_dask, on_numpy)
    # One partial_fit over all four blocks: each block's batches weighted by its own
    # rows' weights, as four calls on the NumPy blocks (no shuffle: same order).
    whole = xpnet.MLPRegressor(**{**COMMON, "shuffle": False})
    whole.partial_fit(Xd, yd, sample_weight=wd)
    per_block = xpnet.MLPRegressor(**{**COMMON, "shuffle": False})
    for i in range(Xd.numblocks[0]):
        rows = slice(32 * i, 32 * (i + 1))
        per_block.partial_fit(X[rows], y[rows], sample_weight=weights[rows])
    for p, q in zip(_params(whole), _params(per_block), strict=True):
        np.testing.assert_array_equal(p, q)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_weighted_early_stopping_scores_the_held_out_blocks_with_their_weights(
    monkeypatch,
):
    from xpnet.estimators import dask_input

    X, y = _classification(n_samples=100)
    weights = np.arange(1.0, 101.0) ** 2  # row r weighs (r + 1)**2: rows are known
    scored = []
    original = dask_input.dask_score

    def spy(model, X_held, y_held, W_held):
        scored.append(W_held.compute())
        return original(model, X_held, y_held, W_held)

    monkeypatch.setattr(dask_input, "dask_score", spy)
    model = xpnet.MLPClassifier(
        **{**COMMON, "early_stopping": True, "validation_fraction": 0.25}
    )
    model.fit(_blocks(X, 25), _blocks(y, 25), sample_weight=_blocks(weights, 25))
    rows = np.sqrt(scored[0]).astype(int) - 1
    assert len(rows) == 25 and rows[0] % 25 == 0 and np.all(np.diff(rows) == 1)
    assert all(np.array_equal(w, scored[0]) for w in scored), "the same block"
    held = model.score(X[rows], y[rows], sample_weight=weights[rows])
    assert model.best_validation_score_ == pytest.approx(held, abs=1e-12)
    assert held != model.score(X[rows], y[rows]), "weights that change the score"


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.r_[np.ones(13), -1.0, np.ones(6)], r"block 1: rows 10 to 19.*non-negative"),
        (np.r_[np.ones(5), np.nan, np.ones(14)], r"block 0: rows 0 to 9.*finite"),
        (np.ones((20, 2)), "1-D with one weight per sample"),
        (np.ones(19), "must have 20 rows"),
    ],
)
def test_bad_dask_sample_weights_are_named(weights, message):
    X, y = _regression(n_samples=20)
    with pytest.raises(ValueError, match=message):
        xpnet.MLPRegressor(**COMMON).fit(
            _blocks(X, 10), _blocks(y, 10), sample_weight=weights
        )


def test_lbfgs_refuses_dask_input():
    X, y = _classification()
    with pytest.raises(ValueError, match="solver='lbfgs' computes full-batch"):
        xpnet.MLPClassifier(solver="lbfgs").fit(_blocks(X, 32), y)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_dataframes_train_one_block_per_partition():
    dd = pytest.importorskip("dask.dataframe", reason="dask[dataframe] not installed")
    import pandas as pd

    X, y = _regression()
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcd")), npartitions=3)
    target = dd.from_pandas(pd.Series(y[:, 0]), npartitions=3)
    on_frames = xpnet.MLPRegressor(**COMMON).fit(frame, target)
    on_arrays = xpnet.MLPRegressor(**COMMON).fit(_blocks(X, 32), _blocks(y[:, 0], 32))
    _assert_same_fit(on_frames, on_arrays)
    np.testing.assert_array_equal(
        on_frames.predict(frame).compute(), on_arrays.predict(X)
    )


# ---- out of core ---------------------------------------------------------------------


class _Reads:
    """An array that records the rows of every read (``da.from_array`` reads
    through it), to show which blocks a fit computes and when."""

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.ndim = (
            array,
            array.shape,
            array.dtype,
            2,
        )
        self.rows = []
        self.threads = []
        self.lock = threading.Lock()

    def __getitem__(self, key):
        with self.lock:
            self.rows.append((key[0].start, key[0].stop))
            self.threads.append(threading.current_thread().name)
        return self.array[key]


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_each_epoch_computes_one_block_at_a_time_in_a_seeded_order():
    X, y = _classification(n_samples=100)

    def reads(random_state):
        spy = _Reads(X)
        Xd = da.from_array(spy, chunks=(25, -1), meta=np.empty((0, 0)))
        model = xpnet.MLPClassifier(**{**COMMON, "random_state": random_state})
        with dask.config.set(scheduler="threads"):
            model.fit(Xd, _blocks(y, 25))
        return spy.rows, model

    rows, model = reads(0)
    blocks = {(s, s + 25) for s in range(0, 100, 25)}
    assert len(rows) == 3 * 4, "every block once per epoch, never all of X"
    epochs = [rows[4 * e : 4 * e + 4] for e in range(3)]
    assert all(set(epoch) == blocks for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1, "the order changes per epoch"
    assert reads(0)[0] == rows and reads(1)[0] != rows, "the order is random_state's"
    assert model.t_ == 300 and len(model.loss_curve_) == 3


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_the_next_block_is_computed_in_the_background_while_one_trains(monkeypatch):
    """On the local scheduler, dask.compute runs in the loader thread, and block
    k + 1 is read before block k's last step."""
    X, y = _classification(n_samples=100)
    spy = _Reads(X)
    Xd = da.from_array(spy, chunks=(25, -1), meta=np.empty((0, 0)))
    reads_at_step = []
    original = Adam.step_flat

    def step(optimizer, params, grads):
        reads_at_step.append(len(spy.rows))
        return original(optimizer, params, grads)

    monkeypatch.setattr(Adam, "step_flat", step)
    with dask.config.set(scheduler="sync"):  # tasks run in the thread that computes
        xpnet.MLPClassifier(**{**COMMON, "max_iter": 1}).fit(Xd, _blocks(y, 25))
    assert spy.threads and all(name.startswith("xpnet-block") for name in spy.threads)
    # 4 blocks of 25 rows at batch 8: 4 steps each. By block 0's last step the
    # loader has read block 1 too (it starts when block 0 arrives; the step waits
    # for nothing, so allow it to be late by the block's own 4 steps only).
    assert len(reads_at_step) == 16 and reads_at_step[-1] == 4
    assert max(reads_at_step[4:8]) >= 2, "block 1 was read while block 0 trained"


@pytest.mark.parametrize(
    "cores, blas, during",
    [(2, 2, 1), (4, 4, 3), (4, 2, 2), (1, 1, 1)],
    ids=["2 cores", "4 cores", "user's lower limit kept", "1 core"],
)
@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_blas_leaves_the_block_loader_a_core(monkeypatch, cores, blas, during):
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="scikit-learn's")
    from xpnet.dask import blocks as dask_blocks

    def blas_threads():
        pools = threadpoolctl.threadpool_info()
        return max(p["num_threads"] for p in pools if p["user_api"] == "blas")

    X, y = _classification(n_samples=60)
    seen = []
    original = Adam.step_flat

    def step(optimizer, params, grads):
        seen.append(blas_threads())
        return original(optimizer, params, grads)

    monkeypatch.setattr(Adam, "step_flat", step)
    monkeypatch.setattr(dask_blocks, "_cores", lambda: cores)
    with threadpoolctl.threadpool_limits(blas, user_api="blas"):
        xpnet.MLPClassifier(**COMMON).fit(_blocks(X, 20), _blocks(y, 20))
        after = blas_threads()
    assert set(seen) == {during} and after == blas


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blocks_train_on_each_backend(backend, dtype):
    """Each block moved to the backend's device in turn (on cupy and torch:cuda, the
    GPU; ``-m xpnet_backend`` selects this where Dask is installed): one block equals
    the in-memory fit on that backend bit for bit; four blocks agree with NumPy's at
    ``TOLERANCES``."""
    from xpnet.check import TOLERANCES

    X, y = _classification(n_samples=100)
    common = dict(COMMON, dtype=dtype)
    on_device = dict(common, backend=backend.name)
    one_block = xpnet.MLPClassifier(**on_device).fit(_blocks(X, 100), _blocks(y, 100))
    _assert_same_fit(one_block, xpnet.MLPClassifier(**on_device).fit(X, y))
    blocks = xpnet.MLPClassifier(**on_device).fit(_blocks(X, 25), _blocks(y, 25))
    reference = xpnet.MLPClassifier(**common).fit(_blocks(X, 25), _blocks(y, 25))
    tol = TOLERANCES[dtype]
    for got, want in zip(_params(blocks), _params(reference), strict=True):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_array_equal(
        blocks.predict(_blocks(X, 25)).compute(), blocks.predict(X)
    )


def test_float64_blocks_too_large_for_float32_are_named():
    X = np.ones((20, 3))
    X[13, 1] = 1e39  # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"block 1: rows 10 to 19.*too large"):
        xpnet.MLPRegressor(**COMMON, dtype="float32").fit(
            _blocks(X, 10), _blocks(np.zeros(20), 10)
        )


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
@pytest.mark.parametrize("weighted", [False, True])
def test_resume_mid_epoch_over_blocks_is_identical(monkeypatch, tmp_path, weighted):
    """Blocks of 20, 20, 20, 10 rows at batch 8: 3 + 3 + 3 + 2 steps an epoch. Stop
    at step 17, resume from the step-16 checkpoint (inside the epoch's 2nd block)."""
    X, y = _regression(n_samples=70)
    Xd, yd = _blocks(X, 20), _blocks(y, 20)
    weights = np.random.default_rng(5).uniform(0.5, 2.0, size=70) if weighted else None
    wd = None if weights is None else _blocks(weights, 20)
    common = dict(COMMON, dtype="float64", max_iter=4, tol=0.0)

    def fit(**options):
        return xpnet.MLPRegressor(**common).fit(Xd, yd, sample_weight=wd, **options)

    whole = fit()
    steps = {"n": 0}
    original = Adam.step_flat

    def step(optimizer, params, grads):
        steps["n"] += 1
        if steps["n"] == 17:
            raise KeyboardInterrupt
        return original(optimizer, params, grads)

    monkeypatch.setattr(Adam, "step_flat", step)
    with pytest.raises(KeyboardInterrupt):
        fit(checkpoint=tmp_path / "run.npz", checkpoint_every=4)
    monkeypatch.undo()
    _assert_same_fit(fit(resume_from=tmp_path / "run.npz"), whole)
    # The default checkpoint ends an epoch: resuming computes no block of that epoch.
    steps["n"] = 0
    monkeypatch.setattr(Adam, "step_flat", step)
    with pytest.raises(KeyboardInterrupt):
        fit(checkpoint=tmp_path / "epoch.npz")
    monkeypatch.undo()
    _assert_same_fit(fit(resume_from=tmp_path / "epoch.npz"), whole)
    if weighted:
        assert whole.loss_curve_ != xpnet.MLPRegressor(**common).fit(Xd, yd).loss_curve_


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_early_stopping_holds_out_whole_blocks():
    X, y = _classification(n_samples=120)
    Xd, yd = _blocks(X, 20), _blocks(y, 20)
    model = xpnet.MLPClassifier(
        **dict(COMMON, max_iter=4), early_stopping=True, validation_fraction=0.3
    )
    seen = []
    model.fit(Xd, yd, callbacks=[lambda m, h: seen.append(m.predict(X)) and False])
    assert model.t_ == 4 * 80, "ceil(0.3 * 6) = 2 blocks held out, 4 trained on"
    assert len(model.validation_scores_) == 4 == len(seen)
    best = int(np.argmax(model.validation_scores_))
    assert model.best_validation_score_ == model.validation_scores_[best]
    np.testing.assert_array_equal(model.predict(X), seen[best])
    with pytest.raises(ValueError, match="holds out whole blocks.*rechunk"):
        xpnet.MLPClassifier(**COMMON, early_stopping=True).fit(
            _blocks(X, 120), _blocks(y, 120)
        )


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.zeros((10, 2)), None, "requires y"),
        (da.zeros((10,), chunks=5), np.zeros(10), "2-D Dask array"),
        (da.zeros((10, 2), chunks=5), np.zeros(9), "must have 10 rows"),
        (da.zeros((10, 2), chunks=5)[da.arange(10, chunks=5) > 3], np.zeros(6), "un"),
        (da.full((10, 2), np.nan, chunks=5), np.zeros(10), r"block 0: rows 0 to 4"),
    ],
)
def test_bad_dask_input_is_named(X, y, message):
    y = None if y is None else da.from_array(y, chunks=5)
    with pytest.raises(ValueError, match=message):
        xpnet.MLPRegressor(**COMMON).fit(X, y)


# ---- on the cluster ------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
@pytest.mark.slow
def test_fit_predict_score_on_the_cluster(client):
    X, y = _classification()
    Xd, yd = _blocks(X, 30), _blocks(y, 30)  # 30, 30, 30, 6 rows
    with dask.config.set(scheduler="sync"):
        local = xpnet.MLPClassifier(**COMMON).fit(Xd, yd)
    model = xpnet.MLPClassifier(**COMMON).fit(Xd, yd)  # the client is the default
    _assert_same_fit(model, local)
    predicted = model.predict(Xd)
    assert isinstance(predicted, da.Array) and predicted.chunks == (Xd.chunks[0],)
    np.testing.assert_array_equal(predicted.compute(), model.predict(X))
    proba = model.predict_proba(Xd)
    assert proba.chunks == (Xd.chunks[0], (3,))
    np.testing.assert_array_equal(proba.compute(), model.predict_proba(X))
    assert model.score(Xd, yd) == pytest.approx(model.score(X, y), abs=1e-15)
    weights = np.linspace(0.0, 1.0, 96)
    assert model.score(Xd, yd, sample_weight=weights) == pytest.approx(
        model.score(X, y, sample_weight=weights), abs=1e-15
    )

    Xr, Yr = _regression()
    regressor = xpnet.MLPRegressor(**COMMON).fit(_blocks(Xr, 40), _blocks(Yr, 40))
    np.testing.assert_array_equal(
        regressor.predict(_blocks(Xr, 40)).compute(), regressor.predict(Xr)
    )
    for weights in (None, np.linspace(0.0, 1.0, 96)):
        np.testing.assert_allclose(
            regressor.score(_blocks(Xr, 40), _blocks(Yr, 40), sample_weight=weights),
            regressor.score(Xr, Yr, sample_weight=weights),
            rtol=1e-12,
        )


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_on_a_client_the_next_block_is_submitted_before_this_one_is_gathered(
    client, monkeypatch
):
    X, y = _classification(n_samples=90)
    calls = []
    compute, gather = client.compute, client.gather

    def spy_compute(collections, *args, **kwargs):
        calls.append("compute")
        return compute(collections, *args, **kwargs)

    def spy_gather(futures, *args, **kwargs):
        calls.append("gather")
        return gather(futures, *args, **kwargs)

    monkeypatch.setattr(client, "compute", spy_compute)
    monkeypatch.setattr(client, "gather", spy_gather)
    model = xpnet.MLPClassifier(**{**COMMON, "max_iter": 2})
    model.fit(_blocks(X, 30), _blocks(y, 30))  # 3 blocks, 2 epochs
    monkeypatch.undo()
    epoch = ["compute", "compute", "gather", "compute", "gather", "gather"]
    training = calls[calls.index("compute") :]  # before it: the labels' pass over y
    assert training == 2 * epoch, calls


def test_dask_ml_incremental_fits_and_scores_without_scoring(client):
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml not installed")
    X, y = _classification()
    Xd, yd = _blocks(X, 32), _blocks(y, 32)
    incremental = wrappers.Incremental(
        xpnet.MLPClassifier(**COMMON), shuffle_blocks=False
    )
    incremental.fit(Xd, yd, classes=["a", "b", "c"])
    reference = xpnet.MLPClassifier(**COMMON)
    for i in range(3):
        reference.partial_fit(
            X[32 * i : 32 * (i + 1)], y[32 * i : 32 * (i + 1)], classes=["a", "b", "c"]
        )
    _assert_same_fit(incremental.estimator_, reference)
    assert incremental.score(Xd, yd) == pytest.approx(reference.score(X, y), abs=1e-15)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_grid_search_runs_on_the_cluster_through_joblib(client):
    joblib = pytest.importorskip("joblib")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = _classification()
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (8,)]}

    def search(n_jobs):
        return model_selection.GridSearchCV(
            xpnet.MLPClassifier(**COMMON), grid, cv=2, n_jobs=n_jobs
        ).fit(X, y)

    with joblib.parallel_backend("dask"), distributed.get_task_stream() as tasks:
        on_cluster = search(-1)
    in_process = search(1)
    np.testing.assert_array_equal(
        on_cluster.cv_results_["mean_test_score"],
        in_process.cv_results_["mean_test_score"],
    )
    assert on_cluster.best_params_ == in_process.best_params_
    workers = {task["worker"] for task in tasks.data}
    assert workers and workers <= set(client.scheduler_info()["workers"]), (
        "the fits ran on the cluster's workers"
    )


# ---- the command ----------------------------------------------------------------


def _summary_metrics(capsys, argv):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return [line for line in out.splitlines() if "R^2" in line or "accuracy" in line]


def test_train_command_on_npy_zarr_and_parquet(client, capsys, tmp_path):
    pytest.importorskip("zarr")
    pytest.importorskip("pyarrow")
    import pandas as pd
    import zarr

    X, y = _regression(n_samples=600)
    np.save(tmp_path / "data.npy", np.column_stack([X, y[:, 0]]).astype(np.float32))
    common = ["--hidden", "8", "--epochs", "3", "--quiet", "--block-rows", "100"]
    npy = ["train", "--data", str(tmp_path / "data.npy"), *common]
    with dask.config.set(scheduler="threads"):
        local = _summary_metrics(capsys, npy)
    saved = str(tmp_path / "model.safetensors")
    on_cluster = _summary_metrics(
        capsys, [*npy, "--scheduler", client.scheduler.address, "--save", saved]
    )
    assert on_cluster == local and len(local) == 2  # train and test R^2
    model = xpnet.load(saved)  # the standardization is saved with it, in float64
    assert model.standardization_.x_scale.dtype == np.float64

    Xc, yc = _classification(n_samples=600)
    group = zarr.open_group(str(tmp_path / "data.zarr"), mode="w")
    group.create_array("X", data=Xc, chunks=(100, 5))
    group.create_array("y", data=(yc == "a").astype(np.int64), chunks=(100,))
    with dask.config.set(scheduler="threads"):  # the files on the local scheduler
        zarr_lines = _summary_metrics(
            capsys, ["train", "--data", str(tmp_path / "data.zarr"), *common[:-2]]
        )
    assert [line.split()[:2] for line in zarr_lines] == [
        ["train", "accuracy:"],
        ["test", "accuracy:"],
    ]

    (tmp_path / "pq").mkdir()
    frame = pd.DataFrame(Xc, columns=[f"f{i}" for i in range(5)])
    frame.insert(0, "label", yc)  # the target first: --target names it
    for i in range(3):
        frame.iloc[200 * i : 200 * (i + 1)].to_parquet(tmp_path / "pq" / f"{i}.parquet")
    with dask.config.set(scheduler="threads"):
        code = cli.main(
            ["train", "--data", str(tmp_path / "pq"), "--target", "label", *common[:-2]]
        )
    out = capsys.readouterr().out
    assert code == 0 and "600 samples, 5 features; classification, 3 classes" in out
    assert "400 train (2 blocks), 200 test (1 blocks" in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--scheduler", "tcp://127.0.0.1:1"], "needs data opened lazily"),
        (["--block-rows", "600"], "leaving none to train on"),
        (["--target", "9"], "out of range"),
        (["--solver", "lbfgs"], "--solver lbfgs takes full-batch gradients"),
    ],
)
def test_train_command_names_bad_lazy_input(capsys, tmp_path, extra, message):
    np.save(tmp_path / "data.npy", np.ones((600, 3)))
    data = str(tmp_path / ("data.csv" if "--scheduler" in extra else "data.npy"))
    (tmp_path / "data.csv").write_text("1,2\n3,4\n")
    assert cli.main(["train", "--data", data, "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_predict_command_names_lazy_data_as_train_only(capsys, tmp_path):
    np.save(tmp_path / "data.npy", np.ones((10, 3)))
    model = tmp_path / "m.safetensors"
    xpnet.save(xpnet.MLPRegressor(max_iter=1).fit(np.ones((10, 3)), np.ones(10)), model)
    assert cli.main(["predict", str(model), str(tmp_path / "data.npy")]) == 2
    assert "only `xpnet train` reads" in capsys.readouterr().err


# ---- without dask ---------------------------------------------------------------


def test_xpnet_works_and_never_imports_dask_without_it(tmp_path):
    """Dask blocked from import: xpnet imports, fits, predicts and scores; with dask
    installed, the same run never imports it either."""
    script = (
        "import sys\n"
        "if sys.argv[1] == 'blocked':\n"
        "    for name in ('dask', 'dask.array', 'distributed'):\n"
        "        sys.modules[name] = None\n"
        "import numpy as np, xpnet\n"
        "X = np.random.default_rng(0).normal(size=(40, 3)); y = X[:, 0] > 0\n"
        "m = xpnet.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X, y)\n"
        "m.predict_proba(X); m.score(X, y)\n"
        "xpnet.MLPRegressor(max_iter=2).partial_fit(X, X[:, 0]).predict(X)\n"
        "assert not [n for n in sys.modules if n.split('.')[0] in ('dask', "
        "'distributed') and sys.modules[n] is not None], 'dask was imported'\n"
    )
    for mode in ("blocked", "installed"):
        done = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", script, mode],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        )
        assert done.returncode == 0, done.stderr
