"""The CUDA-graph path (training/compiled/cuda_graph.py) on the CPU, with a fake CuPy
(tests/fake_cupy.py) that refuses cuBLAS calls while a stream captures, as CuPy
does (cupy/cupy#6290), and replays captured segments on NumPy. Not GPU tests: what
they show holds for CuPy as far as the fake is faithful to it."""

from __future__ import annotations

import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from fake_cupy import CUBLAS_REFUSAL, FakeCupy, Recorded
from test_compiled import CASES, _assert_matches_eager, _data, _fit

from xpnet import MLPClassifier
from xpnet.files import tensor_file
from xpnet.maths import optimizers
from xpnet.maths.activations import get_activation
from xpnet.maths.step import make_step
from xpnet.testing import require_backend
from xpnet.training import compiled
from xpnet.training.compiled import CompileWarning, cuda_graph
from xpnet.training.compiled.plan import EpochPlan, Handover, step_hyper

N_GEMMS = 8
"""GEMMs of a step of a network of three layers: 3 forward, 3 weight gradients and
2 errors propagated back."""


def _on_device(data):
    # X, Y and the weights as the fake's arrays (np.take dispatches on X, not rows).
    return tuple(None if a is None else a.view(Recorded) for a in data)


@pytest.fixture
def fake_cupy(monkeypatch):
    """NumPy fits with ``compile=True`` take the CUDA-graph path, on a fake CuPy."""
    fake = FakeCupy()
    monkeypatch.setitem(compiled.COMPILERS, "numpy", "CUDA graph")
    init = compiled.CompiledEpochs.__init__

    def as_cupy(self, run):
        init(self, run)
        self.library = "cupy"
        self.data = _on_device(self.data)

    monkeypatch.setattr(compiled.CompiledEpochs, "__init__", as_cupy)
    monkeypatch.setattr(cuda_graph, "_cupy", lambda: fake)
    monkeypatch.setattr(compiled, "_SAID", set())
    return fake


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_segmented_capture_fits_as_the_eager_fit(fake_cupy, case, dtype):
    reference = _fit("numpy", dtype, case)
    model = _fit("numpy", dtype, case, compile=True)  # compiled_ == "CUDA graph"
    # the pure step's tolerance (bit for bit: the replays equal the pure step, below)
    _assert_matches_eager(model, reference, dtype)
    # one graph before each GEMM and one after the last, each launched once per
    # full batch (4 of 50 rows; the short last batch runs eagerly); clipping's norm
    # adds a dot product per parameter array (3 weights, 3 biases)
    gemms = N_GEMMS + (6 if "max_grad_norm" in CASES[case] else 0)
    assert len(fake_cupy.graphs) == gemms + 1
    assert [g.launches for g in fake_cupy.graphs] == [4] * (gemms + 1)


def _fits(max_iter=3):
    # An eager fit and a compiled one of several epochs: (reference, model, caught).
    X, y, _ = _data()
    settings = dict(
        hidden_layer_sizes=(16, 8), max_iter=max_iter, batch_size=50, random_state=0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reference = MLPClassifier(**settings).fit(X, y)
        model = MLPClassifier(compile=True, **settings).fit(X, y)
    said = [w for w in caught if issubclass(w.category, CompileWarning)]
    return reference, model, said


def _assert_same_fit(model, reference):
    assert model.n_iter_ == reference.n_iter_
    assert model.loss_curve_ == reference.loss_curve_
    pairs = zip(
        model.coefs_ + model.intercepts_,
        reference.coefs_ + reference.intercepts_,
        strict=True,
    )
    for got, expected in pairs:
        np.testing.assert_array_equal(got, expected)


def test_later_epochs_replay_the_graphs_captured_in_the_first(fake_cupy):
    reference, model, said = _fits(max_iter=3)
    assert said == [] and model.compiled_ == "CUDA graph"
    assert model.epoch_paths_ == ["CUDA graph"] * 3
    assert len(fake_cupy.graphs) == N_GEMMS + 1  # captured once
    assert [g.launches for g in fake_cupy.graphs] == [12] * (N_GEMMS + 1)
    # host-side launches per replayed step: 9 graphs and 8 GEMMs (the warm-up and
    # the capture pass ran the GEMMs once each)
    assert fake_cupy.gemms == 2 * N_GEMMS + 12 * N_GEMMS
    assert model.n_iter_ == reference.n_iter_ == 3
    _assert_matches_eager(model, reference, model.dtype_)


@pytest.mark.parametrize("library", ["jax", "cupy"])
def test_compiled_epochs_count_their_steps_for_checkpoints(library, request, tmp_path):
    """A checkpoint every 10 steps (two epochs of 5): written after epoch 2 only,
    its record saying 10 steps; the JAX program and the CUDA graphs count alike."""
    if library == "cupy":
        request.getfixturevalue("fake_cupy")  # "numpy" takes the CUDA-graph path
    else:
        require_backend("jax")
    X, y, _ = _data()
    path = tmp_path / "run.safetensors"
    model = MLPClassifier(
        hidden_layer_sizes=(6,),
        batch_size=50,
        random_state=0,
        backend="jax" if library == "jax" else "numpy",
        compile=True,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Stochastic", UserWarning)  # max_iter
        model.set_params(max_iter=1).fit(
            X, y, checkpoint=str(path), checkpoint_every=10
        )
        assert not path.exists()  # 5 steps: none due
        model.set_params(max_iter=3).fit(
            X, y, checkpoint=str(path), checkpoint_every=10
        )
    assert model.epoch_paths_ == [model.compiled_] * 3 and model.compiled_ != "eager"
    assert tensor_file.load_tensors(str(path))[0]["checkpoint"]["steps"] == 10


def test_the_whole_step_as_one_graph_meets_cupys_cublas_refusal_and_runs_eagerly(
    fake_cupy, monkeypatch
):
    """What the first GPU run (H200, CuPy 14.2) met: the unsegmented capture stops
    at the first GEMM. The fit goes on eagerly, with the eager fit's numbers."""
    monkeypatch.setattr(cuda_graph, "SEGMENT_AT_GEMMS", False)
    reference, model, said = _fits()
    assert len(said) == 1, said
    message = str(said[0].message)
    assert "cupy/cupy#6290" in message and CUBLAS_REFUSAL in message, message
    assert model.compiled_ == "eager" and model.epoch_paths_ == ["eager"] * 3
    assert not fake_cupy.capturing  # the failed capture was ended, never launched
    assert [g.launches for g in fake_cupy.graphs] == [0]
    _assert_same_fit(model, reference)


def test_a_cuda_error_at_capture_runs_the_fit_eagerly(fake_cupy):
    fake_cupy.fail_begin = RuntimeError(
        "cudaErrorStreamCaptureUnsupported: operation not permitted when stream is "
        "capturing"
    )
    reference, model, said = _fits()
    assert len(said) == 1, said
    assert "the CUDA graph capture failed (RuntimeError: cudaErrorStream" in str(
        said[0].message
    )
    assert said[0].filename == __file__  # _fits's fit, not the capture's frame
    assert model.compiled_ == "eager"
    _assert_same_fit(model, reference)


def test_the_fake_refuses_what_cupy_refuses_during_a_capture():
    fake = FakeCupy()
    stream = fake.cuda.Stream(non_blocking=True)
    a = fake.array(np.ones((2, 2)))
    with stream:
        stream.begin_capture()
        b = a * 2.0  # recorded, not refused
        with pytest.raises(NotImplementedError, match=CUBLAS_REFUSAL):
            fake.matmul(a, b)
        with pytest.raises(RuntimeError, match="synchronous API calls"):
            float(b[0, 0])
        graph = stream.end_capture()
    a[...] = 3.0
    graph.launch(stream)
    np.testing.assert_array_equal(b, 6.0)  # the replay wrote the captured output
    np.testing.assert_array_equal(fake.matmul(a, b), 36.0)  # outside a capture


def _stub(xp, rng, dtype="float64", device="cpu"):
    # What CompiledEpochs hands cuda_graph: a 3-2 tanh network, Adam, batches of 5.
    acts = [get_activation("tanh"), get_activation("identity")]
    handover = Handover(optimizers.adam(xp), (0.9, 0.1, 0.999, 0.001, 1e-8), ("adam",))

    class Compiled:
        pass

    stub = Compiled()
    stub.xp, stub.device, stub.batch_size, stub.handover = xp, device, 5, handover
    data = (rng.normal(size=(23, 3)), rng.normal(size=(23, 2)))
    stub.data = (
        *(xp.asarray(a, dtype=getattr(xp, dtype), device=device) for a in data),
        None,
    )
    if device == "cpu":
        stub.data = _on_device(stub.data)
    stub.constants = tuple(
        xp.asarray(c, dtype=getattr(xp, dtype), device=device)
        for c in handover.constants
    )
    return stub, acts


def _epoch_case(rng, dtype="float64", xp=None, device="cpu"):
    """A stub of CompiledEpochs, its parameters and Adam state (``dtype``), a plan
    of 4 full batches of 5 rows and a short one of 3, clipping on, and the key."""
    xp = require_backend("numpy").xp if xp is None else xp
    stub, acts = _stub(xp, rng, dtype, device)
    shapes = ((3, 4), (4, 2))
    params = tuple(
        xp.asarray(a, dtype=getattr(xp, dtype), device=device)
        for a in (*(rng.normal(size=s) for s in shapes), np.zeros(4), np.zeros(2))
    )
    order = np.zeros(25, np.int32)
    order[:23] = rng.permutation(23)
    table = np.zeros((5, 5))
    table[:, 0], table[4, 0] = 5.0, 3.0  # loss weights
    table[:, 1], table[:, 2], table[:, 3] = 0.01, 0.005, [0.1, 0.09, 0.08, 0.07, 0.06]
    table[:, 4] = 0.5  # max_grad_norm
    plan = EpochPlan(order, table, 4, 3)
    state = stub.handover.pair.init(params)
    key = (tuple(acts), "squared_error", ("adam",), True, True, 5)  # l2, clip
    return stub, params, state, plan, key


def _captured(monkeypatch, dtype="float64", moved=False):
    # _epoch_case's stub with its step captured on a fake CuPy: (fake, case...);
    # moved: Adam's moments as mid-fit (a capture again), not zeros.
    fake = FakeCupy()
    monkeypatch.setattr(cuda_graph, "_cupy", lambda: fake)
    rng = np.random.default_rng(0)
    stub, params, state, plan, key = _epoch_case(rng, dtype)
    if moved:
        state = type(state)(*(tuple(rng.random(a.shape) for a in g) for g in state))
    total = stub.xp.asarray(0.0, dtype=dtype)
    stub.captured = cuda_graph.capture(stub, key, params, state, total)
    return fake, stub, params, state, plan, key


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_replayed_segments_equal_the_pure_step_run_eagerly(monkeypatch, dtype):
    """Each replay reads its batch's rows and factors from the static buffers and
    every GEMM's operands and output from the buffers the capture kept; the
    warm-up leaves the parameters as they were; an epoch equals the pure step,
    clipping included (inside the graphs), bit for bit and in the parameters'
    dtype (the factors' and the loss's buffers too); each step is reported after
    it."""
    fake, stub, params, state, plan, key = _captured(monkeypatch, dtype)
    xp, order, table = stub.xp, plan.order, plan.table
    # 2 forward, 2 + 1 backward, the clipping norm's 4 dot products
    gemms = 5 + 4
    assert len(stub.captured.segments.gemms) == gemms
    reports = []
    got_params, got_state, total = cuda_graph.run_epoch(
        stub,
        params,
        state,
        plan,
        xp.asarray(0.0, dtype=dtype),
        key,
        lambda i, before, after, params: reports.append(
            (i, float(after - before), [np.array(p) for p in params])
        ),
    )
    assert [g.launches for g in fake.graphs] == [4] * (gemms + 1)  # short one eagerly
    assert fake.gemms == 2 * gemms + 4 * gemms  # warm-up, capture pass, 4 replays

    pair, acts = stub.handover.pair, list(key[0])
    step = make_step(xp, acts, "squared_error", pair, l2=True, clip=True)
    free = make_step(xp, acts, "squared_error", pair, l2=True)
    ref_params, ref_state, ref_total = params, state, xp.asarray(0.0, dtype=dtype)
    X, Y, _ = stub.data
    bites = []
    for i in range(5):
        rows = order[i * 5 : i * 5 + (5 if i < 4 else 3)]
        hyper = step_hyper(
            stub.handover, xp.asarray(table[i], dtype=dtype), stub.constants
        )
        unclipped, _, _ = free(ref_params, ref_state, X[rows], Y[rows], None, hyper)
        ref_params, ref_state, value = step(
            ref_params, ref_state, X[rows], Y[rows], None, hyper
        )
        before = ref_total
        ref_total = ref_total + value
        # each step reported after it, with the parameters it left
        assert reports[i][0] == i
        assert reports[i][1] == float(ref_total - before)
        for got, expected in zip(reports[i][2], ref_params, strict=True):
            np.testing.assert_array_equal(got, expected)
        pairs = zip(unclipped, ref_params, strict=True)
        bites.append(any(not np.array_equal(u, p) for u, p in pairs))
    assert len(reports) == 5 and any(bites)  # the bound changed a step
    for got, expected in zip(got_params, ref_params, strict=True):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got_state.vs[0], ref_state.vs[0])
    assert total.dtype == dtype and total == ref_total


def test_clipping_turned_on_by_a_callback_captures_the_graphs_again(fake_cupy):
    """Clipping and batch callbacks on the CUDA-graph path: a callback turning
    clipping on after the first epoch makes a new capture (the norm's dot products
    cut more segments), the fit matches the eager one, and the batch callback is
    told every step of every epoch."""
    X, y, _ = _data()

    class Watch:
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, model, history):  # clipping on after the first
            if history.n_iter == 1:
                model.set_params(max_grad_norm=0.05)

        def on_batch_end(self, model, batch):
            self.seen.append((batch.epoch, batch.step, batch.loss))

    settings = dict(
        hidden_layer_sizes=(16, 8), max_iter=3, batch_size=50, random_state=0
    )
    fits, seen = {}, {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Stochastic", UserWarning)  # max_iter
        for name, compile in (("eager", False), ("compiled", True)):
            watch = Watch()
            model = MLPClassifier(compile=compile, **settings)
            fits[name], seen[name] = model.fit(X, y, callbacks=[watch]), watch.seen
    model, reference = fits["compiled"], fits["eager"]
    assert model.epoch_paths_ == ["CUDA graph"] * 3
    clipped = N_GEMMS + 6  # the norm's dot products: 3 weights, 3 biases
    assert len(fake_cupy.graphs) == (N_GEMMS + 1) + (clipped + 1)
    launches = [g.launches for g in fake_cupy.graphs]
    assert launches == [4] * (N_GEMMS + 1) + [8] * (clipped + 1)
    _assert_matches_eager(model, reference, model.dtype_)
    steps = [(s[0], s[1]) for s in seen["eager"]]
    assert [(s[0], s[1]) for s in seen["compiled"]] == steps
    assert len(steps) == 3 * 5  # 4 full batches and a short one per epoch
    for got, expected in zip(seen["compiled"], seen["eager"], strict=True):
        assert got[2] == pytest.approx(expected[2], rel=1e-5)


def test_the_cupy_module_is_cupy(monkeypatch):
    cupy = object()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    assert cuda_graph._cupy() is cupy


@pytest.mark.parametrize(
    ("exc", "why"),
    [
        (
            NotImplementedError(CUBLAS_REFUSAL),
            "the CUDA graph capture failed: CuPy refuses library calls (cuBLAS, "
            "cuRAND, cuSPARSE, cuSOLVER) while a stream captures, cupy/cupy#6290 "
            f"(NotImplementedError: {CUBLAS_REFUSAL})",
        ),
        (
            MemoryError("out of memory allocating 512 bytes"),
            "the CUDA graph capture failed "
            "(MemoryError: out of memory allocating 512 bytes)",
        ),
    ],
)
def test_a_failed_capture_says_why(exc, why):
    """The CompileWarning's reason, word for word: CuPy's refusal of library calls
    named with its issue, any other error as it came."""
    assert cuda_graph._why(exc) == why


def test_the_capture_leaves_the_buffers_as_it_found_them(monkeypatch):
    """The warm-up step moves the buffers (with the factors' buffer still zeros,
    Adam's moments decay); the capture puts the parameters and the optimizer
    state back as they were handed in."""
    _, stub, params, state, _, _ = _captured(monkeypatch, moved=True)
    captured = stub.captured
    assert len(captured.params) == len(params) and len(captured.state) == len(state)
    for buffers, arrays in zip(captured._groups(), [params, *state], strict=True):
        for buffer, array in zip(buffers, arrays, strict=True):
            np.testing.assert_array_equal(buffer, array)


def test_the_capture_stream_waits_for_the_current_one_and_uses_its_own_pool(
    monkeypatch,
):
    """The capture stream does not wait for the current stream by itself: the
    capture and each epoch make it wait for an event recorded there; the warm-up
    and the captured pass allocate from the step's private pool (what the graphs'
    temporaries keep)."""
    fake, stub, params, state, plan, key = _captured(monkeypatch)
    captured, default = stub.captured, fake.cuda.default
    assert captured.stream.waited == [default]
    # warm-up and captured pass, one output per GEMM each
    assert fake.gemm_allocators == [captured.pool.malloc] * (2 * 9)
    total = stub.xp.asarray(0.0)
    cuda_graph.run_epoch(stub, params, state, plan, total, key)
    assert captured.stream.waited == [default, default]


@pytest.mark.parametrize("stop", ["end", "abandon"])
def test_a_segmenter_no_longer_cuts_after_its_capture_ends(stop):
    """After ``end`` (or ``abandon`` of a failed capture) a ``matmul`` runs as a
    plain GEMM: no graph ended, none begun."""
    fake = FakeCupy()
    stream = fake.cuda.Stream(non_blocking=True)
    segments = cuda_graph.Segmenter(require_backend("numpy").xp, fake, stream)
    a = fake.array(np.eye(2))
    with stream:
        segments.begin()
        getattr(segments, stop)()
        graphs = list(fake.graphs)
        np.testing.assert_array_equal(segments.matmul(a, a), np.eye(2))
    assert fake.graphs == graphs and not fake.capturing


def test_an_epoch_hands_back_copies_not_the_buffers(monkeypatch):
    """The parameters and state an epoch returns are its own arrays: the next
    epoch's replays, which move the buffers, leave them as they were."""
    _, stub, params, state, plan, key = _captured(monkeypatch)
    plan = EpochPlan(plan.order, plan.table, plan.n_full, 0)  # no eager last batch
    total = stub.xp.asarray(0.0)
    first = cuda_graph.run_epoch(stub, params, state, plan, total, key)
    kept = [[np.array(a) for a in g] for g in [first[0], *first[1]]]
    cuda_graph.run_epoch(stub, first[0], first[1], plan, first[2], key)
    for arrays, copies in zip([first[0], *first[1]], kept, strict=True):
        for array, copy in zip(arrays, copies, strict=True):
            np.testing.assert_array_equal(array, copy)


@pytest.mark.parametrize("drop", ["a parameter array", "a state group"])
def test_an_epoch_refuses_arrays_that_do_not_match_the_buffers(monkeypatch, drop):
    """The loop's parameters and state go into the captured buffers one for one:
    one array or one group fewer is an error, not a silently stale buffer."""
    _, stub, params, state, plan, key = _captured(monkeypatch)
    if drop == "a parameter array":
        params = params[:-1]
    else:
        state = tuple(state)[:-1]
    total = stub.xp.asarray(0.0)
    with pytest.raises(ValueError, match="shorter than argument 1"):
        cuda_graph.run_epoch(stub, params, state, plan, total, key)


def test_the_short_last_batch_runs_on_the_datas_device():
    """The last batch's rows and factors go to ``compiled.device`` (array-api-strict's
    second device here): an array left on the default device would meet the data
    on another and raise."""
    backend = require_backend("array_api_strict:device1")
    xp, device = backend.xp, backend.device
    stub, params, state, plan, key = _epoch_case(
        np.random.default_rng(0), xp=xp, device=device
    )
    activations, loss, _, l2, clip = key[:5]

    step = make_step(xp, list(activations), loss, stub.handover.pair, l2=l2, clip=clip)
    captured = SimpleNamespace(step=step)  # what _last uses of a CapturedStep

    total = xp.asarray(0.0, dtype=xp.float64, device=device)
    got_params, got_state, total = cuda_graph._last(
        stub, captured, params, state, plan, total
    )
    assert all(a.device == device for a in [*got_params, *got_state.ms, total])


class _OneDevice:
    """``xp`` where arrays made from host data must name ``device`` (the data's):
    without it they would land on the default device, another one."""

    def __init__(self, xp, device):
        self._xp, self.device = xp, device

    def __getattr__(self, name):
        return getattr(self._xp, name)

    def asarray(self, obj, *, device=None, **kwargs):
        if device is None and not isinstance(obj, Recorded):
            raise ValueError("host data placed on the default device")
        assert device in (None, self.device)
        return self._xp.asarray(obj, device=device, **kwargs)


def test_an_epoch_puts_the_plans_rows_and_factors_on_the_datas_device(monkeypatch):
    """The plan's rows and factors (host arrays) go to ``compiled.device`` before
    the replays read them."""
    fake, stub, params, state, plan, key = _captured(monkeypatch)
    stub.xp = _OneDevice(stub.xp, stub.device)
    plan = EpochPlan(plan.order, plan.table, plan.n_full, 0)  # the replays only
    total = stub.xp.asarray(0.0, device=stub.device)
    cuda_graph.run_epoch(stub, params, state, plan, total, key)
    assert [g.launches for g in fake.graphs] == [4] * 10


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_graphs_sum_the_epoch_loss_in_the_models_dtype(
    fake_cupy, monkeypatch, dtype
):
    """The running loss the graphs add to is a 0-d array of the parameters' dtype
    (as the JAX program's), whatever the resumed loss's host float."""
    run_epoch, seen = cuda_graph.run_epoch, []

    def watched(compiled, params, state, plan, total, key, report):
        seen.append((total.shape, total.dtype, params[0].dtype))
        return run_epoch(compiled, params, state, plan, total, key, report)

    monkeypatch.setattr(cuda_graph, "run_epoch", watched)
    _fit("numpy", dtype, "adam", compile=True)
    assert seen == [((), np.dtype(dtype), np.dtype(dtype))]
