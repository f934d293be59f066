"""The CUDA-graph path (training/compiled/cuda_graph.py) on the CPU, with a fake CuPy
(tests/fake_cupy.py) that refuses cuBLAS calls while a stream captures, as CuPy
does (cupy/cupy#6290), and replays captured segments on NumPy. Not GPU tests: what
they show holds for CuPy as far as the fake is faithful to it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fake_cupy import CUBLAS_REFUSAL, FakeCupy, Recorded
from test_compiled import CASES, _assert_matches_eager, _data, _fit

from xpnet import MLPClassifier
from xpnet.files import tensor_file
from xpnet.maths import optimizers
from xpnet.maths.activations import get_activation
from xpnet.maths.step import StepHyper, make_step
from xpnet.testing import require_backend
from xpnet.training import compiled
from xpnet.training.compiled import CompileWarning, cuda_graph
from xpnet.training.compiled.plan import EpochPlan, Handover

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


def _stub(xp, rng):
    # What CompiledEpochs hands cuda_graph: a 3-2 tanh network, Adam, batches of 5.
    acts = [get_activation("tanh"), get_activation("identity")]
    handover = Handover(optimizers.adam(xp), (0.9, 0.1, 0.999, 0.001, 1e-8), ("adam",))

    class Compiled:
        pass

    stub = Compiled()
    stub.xp, stub.device, stub.batch_size, stub.handover = xp, "cpu", 5, handover
    stub.data = _on_device((rng.normal(size=(23, 3)), rng.normal(size=(23, 2)), None))
    stub.constants = tuple(np.float64(c) for c in handover.constants)
    return stub, acts


def test_replayed_segments_equal_the_pure_step_run_eagerly(monkeypatch):
    """Each replay reads its batch's rows and factors from the static buffers and
    every GEMM's operands and output from the buffers the capture kept; the
    warm-up leaves the parameters as they were; an epoch equals the pure step,
    clipping included (inside the graphs); each step is reported after it."""
    fake = FakeCupy()
    monkeypatch.setattr(cuda_graph, "_cupy", lambda: fake)
    xp = require_backend("numpy").xp
    rng = np.random.default_rng(0)
    stub, acts = _stub(xp, rng)
    params = (
        rng.normal(size=(3, 4)),
        rng.normal(size=(4, 2)),
        np.zeros(4),
        np.zeros(2),
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
    stub.captured = cuda_graph.capture(stub, key, params, state, np.float64(0.0))
    # 2 forward, 2 + 1 backward, the clipping norm's 4 dot products
    gemms = 5 + 4
    assert len(stub.captured.segments.gemms) == gemms
    reports = []
    got_params, got_state, total = cuda_graph.run_epoch(
        stub,
        params,
        state,
        plan,
        np.float64(0.0),
        key,
        lambda i, before, after, params: reports.append(
            (i, float(after - before), [np.array(p) for p in params])
        ),
    )
    assert [g.launches for g in fake.graphs] == [4] * (gemms + 1)  # short one eagerly
    assert fake.gemms == 2 * gemms + 4 * gemms  # warm-up, capture pass, 4 replays

    pair = stub.handover.pair
    step = make_step(xp, acts, "squared_error", pair, l2=True, clip=True)
    free = make_step(xp, acts, "squared_error", pair, l2=True)
    ref_params, ref_state, ref_total = params, state, 0.0
    X, Y, _ = stub.data
    bites = []
    for i in range(5):
        rows = order[i * 5 : i * 5 + (5 if i < 4 else 3)]
        hyper = StepHyper(
            stub.handover.hyper(np.float64(table[i, 3]), stub.constants),
            *(np.float64(v) for v in table[i, :3]),
            np.float64(table[i, 4]),
        )
        unclipped, _, _ = free(ref_params, ref_state, X[rows], Y[rows], None, hyper)
        ref_params, ref_state, value = step(
            ref_params, ref_state, X[rows], Y[rows], None, hyper
        )
        ref_total = ref_total + value
        # each step reported after it, with the parameters it left
        assert reports[i][0] == i
        assert reports[i][1] == pytest.approx(float(value), rel=1e-12)
        for got, expected in zip(reports[i][2], ref_params, strict=True):
            np.testing.assert_array_equal(got, expected)
        pairs = zip(unclipped, ref_params, strict=True)
        bites.append(any(not np.array_equal(u, p) for u, p in pairs))
    assert len(reports) == 5 and any(bites)  # the bound changed a step
    for got, expected in zip(got_params, ref_params, strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got_state.vs[0], ref_state.vs[0])
    assert total == ref_total


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
