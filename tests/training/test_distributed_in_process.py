"""GradientReducer and its helpers in this process, on a stand-in for
``torch.distributed``: a group of several ranks whose other ranks are simulated (each
hands in what this rank hands in, or what a test says), so the sums, the checks that
the ranks agree and the failure messages are seen without starting processes.

The real collectives on 2 gloo processes are in test_distributed.py (slow).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

import xpnet
from xpnet.data.sparse import SparseRows
from xpnet.training import distributed
from xpnet.training.distributed import (
    CENSUS_SECONDS,
    DistributedError,
    GradientReducer,
    reducer_for,
)

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("torch.distributed", reason="torch is not installed")


class ProcessGroup:
    """Rank ``rank`` of a group of ``size`` ranks on ``backend`` (named as torch's
    class, which ``fit(distributed=...)`` recognises by name). The other ranks of
    ``alive`` report to the census; ``others`` maps a rank to the items it hands to
    ``check_same`` (default: the same as this rank's)."""

    def __init__(self, rank, size, backend="gloo", alive=None, others=None):
        self.rank, self.size, self.backend = rank, size, backend
        self.alive = set(range(size)) if alive is None else set(alive)
        self.others = others or {}
        self.store = torch.distributed.HashStore()

    def get_group_store(self):
        return _CensusStore(self)


class _CensusStore:
    """The group's store, in which the live ranks report alive whenever this rank
    does (under the same key, ending with the rank)."""

    def __init__(self, group):
        self._group = group

    def set(self, key, value):
        group = self._group
        group.store.set(key, value)
        stem = key[: -len(str(group.rank))]
        for rank in group.alive - {group.rank}:
            group.store.set(f"{stem}{rank}", value)

    def check(self, keys):
        return self._group.store.check(keys)


class FakeDist:
    """``torch.distributed`` as one rank sees it; ``group=None`` is the world group,
    as in torch. ``all_reduce`` sums what every rank hands in: the same tensor."""

    ReduceOp = SimpleNamespace(SUM="sum")

    def __init__(self, world, fail=None):
        self.group = SimpleNamespace(WORLD=world)
        self.fail = fail  # an exception every collective raises
        self.reduced = []  # (numel, op, group) of each all_reduce

    def _group(self, group):
        return self.group.WORLD if group is None else group

    def get_rank(self, group=None):
        return self._group(group).rank

    def get_world_size(self, group=None):
        return self._group(group).size

    def get_backend(self, group=None):
        return self._group(group).backend

    def all_reduce(self, tensor, op="sum", group=None):
        if self.fail is not None:
            raise self.fail
        group = self._group(group)
        self.reduced.append((tensor.numel(), op, group))
        assert op == "sum"
        tensor.mul_(group.size)  # every rank hands in the same

    def all_gather_object(self, out, obj, group=None):
        if self.fail is not None:
            raise self.fail
        group = self._group(group)
        out[:] = [
            obj if r == group.rank else group.others.get(r, obj)
            for r in range(group.size)
        ]


WORLD = ProcessGroup(0, 1, "mpi")  # the world: differs from every test's group


@pytest.fixture
def fake_dist(monkeypatch):
    """Install a FakeDist over WORLD as the initialised torch.distributed."""
    dist = FakeDist(WORLD)
    monkeypatch.setattr(distributed, "_initialised_dist", lambda: (torch, dist))
    return dist


def _reducer(rank=1, size=3, backend="numpy", **group_settings):
    return GradientReducer(
        xpnet.get_backend(backend), ProcessGroup(rank, size, **group_settings)
    )


# ---- the group ------------------------------------------------------------------


def test_the_reducer_reads_rank_size_and_backend_of_its_group(fake_dist):
    reducer = _reducer(rank=2, size=3)
    assert (reducer.rank, reducer.world_size, reducer.torch_backend) == (2, 3, "gloo")


@pytest.mark.parametrize(
    ("start", "stop", "expected"),
    [
        (10, 17, [(10, 12, 2 / 7), (12, 14, 2 / 7), (14, 17, 3 / 7)]),
        (4, 6, [(4, 4, 0.0), (4, 5, 0.5), (5, 6, 0.5)]),  # fewer rows than ranks
    ],
)
def test_shards_are_contiguous_and_cover_the_batch(fake_dist, start, stop, expected):
    shards = [_reducer(rank, 3).shard(start, stop) for rank in range(3)]
    assert shards == expected


# ---- the sums -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("as_array", [False, True])
def test_the_arrays_and_the_loss_are_summed_in_one_all_reduce(
    fake_dist, backend, as_array
):
    """Rank 1 of 3, each rank handing in the same: the sums are 3 times this rank's
    arrays (of their shapes and dtype) and loss, in one all_reduce of the group."""
    reducer = _reducer(backend=backend)
    xp = reducer.backend.xp
    shapes = [(2, 3), (3,), (1, 2)]
    values = [
        np.arange(np.prod(s), dtype=np.float32).reshape(s) + 10 * i
        for i, s in enumerate(shapes)
    ]
    arrays = [xp.asarray(v, dtype=xp.float32) for v in values]
    loss = xp.asarray(2.5, dtype=xp.float64) if as_array else 2.5  # cast to float32
    total = reducer(arrays, loss)
    for array, value in zip(arrays, values, strict=True):
        assert array.dtype == xp.float32
        np.testing.assert_array_equal(np.asarray(array), 3 * value)
    assert total.dtype == xp.float32
    assert float(total) == 7.5
    group = reducer._group
    assert fake_dist.reduced == [(6 + 3 + 2 + 1, "sum", group)]


def test_without_a_loss_only_the_arrays_are_summed(fake_dist):
    reducer = _reducer()
    arrays = [np.ones((2, 2)), np.full(3, 2.0)]
    assert reducer(arrays) is None
    np.testing.assert_array_equal(arrays[0], np.full((2, 2), 3.0))
    np.testing.assert_array_equal(arrays[1], np.full(3, 6.0))
    assert fake_dist.reduced == [(7, "sum", reducer._group)]


# ---- ranks that disagree ----------------------------------------------------------


def test_ranks_that_disagree_are_named_with_both_values(fake_dist):
    agreeing = {0: {"a": 1, "b": [2]}}
    _reducer(rank=1, size=3, others=agreeing).check_same({"a": 1, "b": [2]})
    others = {0: {"a": 1, "b": [2]}, 2: {"a": 5, "b": [3]}}
    with pytest.raises(DistributedError) as info:
        _reducer(rank=1, size=3, others=others).check_same({"a": 1, "b": [4]})
    assert str(info.value) == (
        "data-parallel training needs the same data, model, parameters and "
        "random_state (an int, the same on every rank) on every rank: "
        "rank 1 has b [4] where rank 0 has [2]; rank 2 has a 5 where rank 0 has 1; "
        "rank 2 has b [3] where rank 0 has [2]"
    )


def _fit_items(monkeypatch, dist, group, estimator, **params):
    """The items each rank hands to check_same when ``estimator`` is fitted on
    ``group``; the fit stops at the check (rank 0 reports other data)."""
    seen = {}

    def gather(out, obj, group=None):
        seen.update(obj)
        raise RuntimeError("stop here")

    monkeypatch.setattr(dist, "all_gather_object", gather)
    X = np.random.default_rng(0).normal(size=(20, 4))
    y = X[:, 0] > 0 if estimator is xpnet.MLPClassifier else X[:, :2]
    with pytest.raises(DistributedError, match="stop here"):
        estimator(hidden_layer_sizes=(3,), **params).fit(X, y, distributed=group)
    return seen


def test_fit_checks_data_model_parameters_and_random_state(monkeypatch, fake_dist):
    group = ProcessGroup(1, 2)
    items = _fit_items(
        monkeypatch, fake_dist, group, xpnet.MLPRegressor, alpha=0.5, random_state=0
    )
    parameters = {k for k in items if k.startswith("parameter ")}
    assert {"parameter alpha", "parameter random_state"} <= parameters
    assert "parameter verbose" not in parameters  # these may differ
    assert "parameter backend" not in parameters
    assert items["parameter alpha"] == 0.5
    assert set(items) - parameters == {
        "X shape",
        "y shape",
        "data fingerprint",
        "layer shapes",
        "weights fingerprint",
        "random state",
        "position (epochs, samples, steps)",
    }
    assert items["X shape"] == (20, 4)
    assert items["y shape"] == (20, 2)
    assert items["layer shapes"] == [(4, 3), (3, 2), (3,), (2,)]
    assert items["position (epochs, samples, steps)"] == (0, 0, 0, 0)
    other = _fit_items(
        monkeypatch, fake_dist, group, xpnet.MLPRegressor, alpha=0.5, random_state=1
    )
    assert other["random state"] != items["random state"]


# ---- failures ---------------------------------------------------------------------


class _Clock:
    """time for the census: each poll's sleep moves the clock on by 1 s."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += 1.0


@pytest.fixture
def clock(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(distributed, "time", clock)
    return clock


HEAD = "data-parallel training stopped on rank 1 of 4 (gloo): "


@pytest.mark.parametrize(
    ("alive", "error", "message", "polls"),
    [
        (
            {0, 1, 2, 3},
            RuntimeError("Connection closed\nat gloo/pair.cc"),
            "the gradient all_reduce failed, though every rank is alive. "
            "torch.distributed said: Connection closed",
            1,
        ),
        (
            {0, 1, 3},
            RuntimeError(""),
            "the gradient all_reduce failed: rank 2 did not report alive within "
            f"{CENSUS_SECONDS:g} s (dead or hung; see its log). "
            "torch.distributed said: RuntimeError",
            CENSUS_SECONDS,
        ),
        (
            {1, 3},
            RuntimeError("Timed out"),
            "the gradient all_reduce failed: ranks 0, 2 did not report alive within "
            f"{CENSUS_SECONDS:g} s (dead or hung; see its log). "
            "torch.distributed said: Timed out",
            CENSUS_SECONDS,
        ),
    ],
)
def test_a_failed_all_reduce_names_the_ranks_that_are_gone(
    fake_dist, clock, alive, error, message, polls
):
    """The census polls every 0.05 s until every rank reported alive or
    CENSUS_SECONDS passed (the fake clock moves 1 s per poll)."""
    reducer = _reducer(rank=1, size=4, alive=alive)
    fake_dist.fail = error
    with pytest.raises(DistributedError) as info:
        reducer([np.ones(2)], 1.0)
    assert str(info.value) == HEAD + message
    assert info.value.__cause__ is error
    assert clock.sleeps == [0.05] * int(polls)


def test_a_failed_check_names_it_and_the_unreachable_store(fake_dist, clock):
    reducer = _reducer(rank=1, size=4)
    reducer._group.get_group_store = lambda: _raise(ConnectionError("refused"))
    fake_dist.fail = RuntimeError("Connection reset by peer")
    with pytest.raises(DistributedError) as info:
        reducer.check_same({"a": 1})
    assert str(info.value) == (
        HEAD + "the check that the ranks agree failed, and the rendezvous store is "
        "unreachable too (refused); rank 0 (which hosts the store when init_method "
        "is tcp:// or env://) has probably died. torch.distributed said: "
        "Connection reset by peer"
    )


def _raise(exc):
    raise exc


def test_each_census_counts_only_the_ranks_alive_now(fake_dist, clock):
    """A rank alive at one failure and dead at the next is named at the next (each
    census has keys of its own in the store)."""
    group = ProcessGroup(1, 4)
    backend = xpnet.get_backend("numpy")
    fake_dist.fail = RuntimeError("x")
    with pytest.raises(DistributedError, match="every rank is alive"):
        GradientReducer(backend, group)([np.ones(2)])
    group.alive.discard(2)
    with pytest.raises(DistributedError, match="rank 2 did not report alive"):
        GradientReducer(backend, group)([np.ones(2)])


# ---- what a reducer can be made for ------------------------------------------------


def test_fit_distributed_takes_none_false_true_or_a_process_group(fake_dist):
    backend = xpnet.get_backend("numpy")
    assert reducer_for(None, backend) is None
    assert reducer_for(False, backend) is None
    world = reducer_for(True, backend)
    assert (world.rank, world.world_size, world.torch_backend) == (0, 1, "mpi")
    group = ProcessGroup(2, 3)
    reducer = reducer_for(group, backend)
    assert (reducer.backend, reducer.rank, reducer.world_size) == (backend, 2, 3)
    with pytest.raises(TypeError) as info:
        reducer_for("yes", backend)
    assert str(info.value) == (
        "distributed must be None, False, True (the default torch.distributed "
        "process group) or a torch.distributed ProcessGroup; got 'yes'"
    )


def _refusal():
    """The message of the DistributedError a NumPy reducer is refused with."""
    with pytest.raises(DistributedError) as info:
        GradientReducer(xpnet.get_backend("numpy"))
    return str(info.value)


def test_no_process_group_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    assert _refusal() == (
        "data-parallel training needs a torch.distributed process group, but "
        "none is initialised in this process: call "
        "torch.distributed.init_process_group('gloo') (CPU) or ('nccl') (GPU) "
        "first, in every process (torchrun sets the environment it reads)"
    )


def test_no_torch_or_no_torch_distributed_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.distributed, "is_available", lambda: False)
    assert _refusal() == (
        f"this build of torch ({torch.__version__}) has no torch.distributed"
    )
    monkeypatch.setitem(sys.modules, "torch.distributed", None)
    assert _refusal() == (
        'data-parallel training needs torch: pip install "xpnet[torch]"'
    )


def test_a_backend_without_a_torch_distributed_path_is_refused(fake_dist):
    backend = xpnet.get_backend("array_api_strict")
    with pytest.raises(DistributedError) as info:
        GradientReducer(backend)
    assert str(info.value) == (
        "backend 'array_api_strict' has no torch.distributed path: its arrays "
        "cannot be handed to torch without a copy; data-parallel training runs "
        "on backend 'numpy' (gloo), 'torch' or 'torch:cuda' (gloo/NCCL) and "
        "'cupy' (NCCL, through DLPack)"
    )


def _cuda_backend(library="torch", index=1):
    """A stand-in for backend 'torch:cuda:INDEX' or 'cupy:INDEX' (no GPU needed)."""
    if library == "cupy":  # cupy.cuda.Device: an id, no type
        device = SimpleNamespace(id=index)
    else:
        device = torch.device("cuda", index)
    name = f"{'cupy' if library == 'cupy' else 'torch:cuda'}:{index}"
    return SimpleNamespace(name=name, library=library, device=device)


@pytest.mark.parametrize(
    ("backend", "group_backend", "carried"),
    [
        ("numpy", "nccl", "only ['cuda']"),
        ("numpy", "cuda:nccl", "only ['cuda']"),
        ("cuda", "mpi", "only ['cpu']"),
        ("cuda", "cpu:gloo", "only ['cpu']"),
        ("numpy", "fake", "only ['cpu']"),  # unknown: assumed to carry the arrays
        ("numpy", "cpu:gloo,cuda:nccl", None),
        ("cuda", "cpu:gloo,cuda:nccl", None),
        ("cuda", "nccl", None),
        ("cuda", "gloo", None),
    ],
)
def test_the_groups_backend_must_carry_the_arrays(
    fake_dist, backend, group_backend, carried
):
    backend = _cuda_backend() if backend == "cuda" else xpnet.get_backend(backend)
    device = "cuda" if backend.name.startswith("torch:cuda") else "cpu"
    if group_backend == "fake":  # torch names a third-party backend as it is
        GradientReducer(backend, ProcessGroup(0, 2, group_backend))
        return
    if carried is None:
        reducer = GradientReducer(backend, ProcessGroup(0, 2, group_backend))
        assert reducer.torch_backend == group_backend
        return
    with pytest.raises(DistributedError) as info:
        GradientReducer(backend, ProcessGroup(0, 2, group_backend))
    assert str(info.value) == (
        f"backend {backend.name!r} keeps its arrays on {device!r} but the process "
        f"group's torch.distributed backend {group_backend!r} carries {carried}; "
        "use init_process_group('gloo') for CPU arrays, 'nccl' for CUDA arrays"
    )


# ---- CUDA devices, without a GPU -------------------------------------------------


@pytest.mark.parametrize(
    ("device", "index"),
    [
        (torch.device("cuda", 2), 2),
        (torch.device("cuda", 0), 0),
        (torch.device("cuda"), 0),  # no index: the current device, 0 here
        (SimpleNamespace(id=3), 3),  # cupy.cuda.Device
        (SimpleNamespace(index=None, id=None), 0),
    ],
)
def test_the_cuda_index_of_a_device(device, index):
    assert distributed._cuda_index(SimpleNamespace(device=device)) == index


@pytest.mark.parametrize("library", ["torch", "cupy"])
def test_cuda_arrays_are_checked_on_their_device(monkeypatch, library):
    """all_gather_object runs on torch's current device: the backend's, for NCCL;
    the CuPy stream ordering gets the same device."""
    dist = FakeDist(WORLD)
    entered = []

    class Device:
        def __init__(self, index):
            self.index = index

        def __enter__(self):
            entered.append(self.index)

        def __exit__(self, *exc):
            entered.append(None)

    fake_torch = SimpleNamespace(cuda=SimpleNamespace(device=Device))
    monkeypatch.setattr(distributed, "_initialised_dist", lambda: (fake_torch, dist))
    orders = []
    monkeypatch.setattr(
        distributed, "stream_order", lambda *args: orders.append(args) or None
    )
    backend = _cuda_backend(library, index=2)
    reducer = GradientReducer(backend, ProcessGroup(1, 2, "nccl"))
    [(ordered, torch_module, index)] = orders
    assert (ordered, torch_module) == (backend, fake_torch)
    if library == "cupy":  # the index matters to CuPy's stream ordering only
        assert index == 2
    gathered = []
    monkeypatch.setattr(
        dist,
        "all_gather_object",
        lambda out, obj, group=None: (
            gathered.append((list(entered), obj, group))
            or out.__setitem__(slice(None), [obj, obj])
        ),
    )
    reducer.check_same({"a": 1})
    assert gathered == [([2], {"a": 1}, reducer._group)]
    assert entered == [2, None]


def test_cpu_arrays_are_checked_without_selecting_a_device(monkeypatch, fake_dist):
    calls = []
    monkeypatch.setattr(torch.cuda, "device", lambda index: calls.append(index))
    for name in ("numpy", "torch"):
        _reducer(rank=1, size=2, backend=name, others={0: {"a": 1}}).check_same(
            {"a": 1}
        )
    assert calls == []


@pytest.mark.parametrize(
    ("library", "spec", "moved_to"),
    [
        ("cupy", "cupy", "cupy:3"),
        ("cupy", None, "cupy:3"),  # the default backend, on CuPy
        ("cupy", "cupy:1", None),
        ("torch", "torch:cuda", "torch:cuda:3"),
        ("torch", "torch:cuda:0", None),
    ],
)
def test_torchrun_moves_a_cuda_backend_without_index_to_local_rank(
    monkeypatch, library, spec, moved_to
):
    moves = []
    monkeypatch.setattr(distributed, "get_backend", lambda s: moves.append(s) or s)
    backend = _cuda_backend(library, index=0)
    moved = distributed._local_device(backend, spec, 3)
    assert moves == ([] if moved_to is None else [moved_to])
    assert moved == (backend if moved_to is None else moved_to)


@pytest.mark.parametrize("spec", ["numpy", "torch", None, "torch:cpu:0"])
def test_torchrun_keeps_a_cpu_backend(monkeypatch, spec):
    monkeypatch.setattr(distributed, "get_backend", pytest.fail)
    backend = xpnet.get_backend(spec if spec != "torch:cpu:0" else "torch")
    assert distributed._local_device(backend, spec, 3) is backend


# ---- fingerprints -------------------------------------------------------------------


def test_a_digest_is_of_the_value_not_of_its_key_order():
    assert distributed._digest({"a": 1, "b": 2}) == distributed._digest(
        {"b": 2, "a": 1}
    )
    assert distributed._digest({"a": 1}) != distributed._digest({"a": 2})
    state = {"key": np.arange(3)}  # MT19937's state holds an array
    assert distributed._digest(state) != distributed._digest({"key": np.arange(4)})


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_fingerprints_sum_in_float64(backend):
    """float32 data whose float32 sums would lose the 1s."""
    backend = xpnet.get_backend(backend)
    host = np.array([[1e8, 1.0, 0.0], [1.0, 0.0, 0.0], [-1e8, 0.0, 1.0]], np.float32)
    exact = host.astype(np.float64)
    expected = [
        float(exact.sum(axis=1) @ np.arange(1.0, 4.0)),
        float(exact.sum(axis=0) @ np.arange(1.0, 4.0)),
    ]
    dense = backend.xp.asarray(host, dtype=backend.xp.float32)
    assert distributed._fingerprint(backend, dense) == expected
    if backend.name == "numpy":  # sparse X: a host CSR matrix, whatever the backend
        sparse = pytest.importorskip("scipy.sparse")
        rows = SparseRows(backend, sparse.csr_array(host), "float32")
        assert distributed._fingerprint(backend, rows) == expected


def test_cupy_arrays_go_through_dlpack_and_are_read_after_the_collective(
    monkeypatch, fake_dist
):
    """A stand-in for CuPy: NumPy arrays that claim library 'cupy' travel to torch
    through DLPack (sharing memory), and CuPy's stream is ordered after the
    all_reduce, before the sums are read."""
    numpy = xpnet.get_backend("numpy")
    backend = SimpleNamespace(name="cupy", library="cupy", xp=numpy.xp, device=None)
    events = []

    class Streams:
        def order_after_collective(self):
            events.append(("ordered", len(fake_dist.reduced)))

    monkeypatch.setattr(distributed, "stream_order", lambda *args: Streams())
    monkeypatch.setattr(torch, "from_numpy", pytest.fail)  # DLPack, not from_numpy
    reducer = GradientReducer(backend, ProcessGroup(1, 2, "nccl"))
    arrays = [np.ones(3), np.full(2, 2.0)]
    assert float(reducer(arrays, 1.5)) == 3.0
    np.testing.assert_array_equal(arrays[0], np.full(3, 2.0))
    np.testing.assert_array_equal(arrays[1], np.full(2, 4.0))
    assert events == [("ordered", 1)]
