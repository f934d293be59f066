"""Compiled epochs (training/compiled): a compiled fit equals the eager NumPy fit
after one epoch; programs are compiled once per shapes and reused across fits; the
CUDA-graph path on a fake CuPy is tested in test_cuda_graph.py; backends without a
compiler say so."""

from __future__ import annotations

import os
import signal
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from xpnet import MLPClassifier, MLPRegressor, get_backend
from xpnet.data.sparse import SparseRows
from xpnet.testing import require_backend
from xpnet.testing.assertions import host_copy
from xpnet.training.compiled import COMPILERS, CompileWarning, jax_epoch
from xpnet.training.compiled.plan import bucket

TOLERANCE = {"float32": 1e-4, "float64": 1e-10}
"""Per layer: max |compiled - eager| <= TOLERANCE * max |eager weight|."""


def _data(n_samples=230, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
    return X, y, rng.uniform(0.5, 2.0, n_samples)


CASES = {
    "adam": dict(solver="adam"),
    "sgd-nesterov": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    "sgd-momentum": dict(solver="sgd", momentum=0.8, nesterovs_momentum=False),
    "sgd-plain": dict(solver="sgd", momentum=0.0),
    "l2": dict(solver="adam", alpha=0.05),
    "weights": dict(solver="sgd", alpha=0.01, sample_weight=True),
    "early-stopping": dict(solver="adam", early_stopping=True),
    "no-partial-batch": dict(solver="adam", n_samples=200),
    "one-row-last-batch": dict(solver="adam", n_samples=201),
    "clipped": dict(solver="adam", alpha=0.05, max_grad_norm=0.1),
    "clipped-sgd-plain": dict(solver="sgd", momentum=0.0, max_grad_norm=0.1),
}


def _fit(backend, dtype, case, compile=False, n_samples=None, **extra):
    """One epoch; by default 230 rows in batches of 50: 4 full and one of 30."""
    settings = {"random_state": 0, "batch_size": 50, **CASES[case], **extra}
    n_samples = settings.pop("n_samples", n_samples or 230)
    weighted = settings.pop("sample_weight", False)
    X, y, w = _data(n_samples)
    model = MLPClassifier(
        hidden_layer_sizes=(16, 8),
        max_iter=1,
        backend=backend,
        dtype=dtype,
        compile=compile,
        **settings,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # max_iter=1
        model.fit(X, y, sample_weight=w if weighted else None)
    library = backend.partition(":")[0]  # "torch:cuda" compiles with torch's compiler
    assert model.compiled_ == (COMPILERS.get(library, "eager") if compile else "eager")
    return model


def _assert_matches_eager(model, reference, dtype):
    pairs = zip(
        model.coefs_ + model.intercepts_,
        reference.coefs_ + reference.intercepts_,
        strict=True,
    )
    for layer, (got, expected) in enumerate(pairs):
        scale = np.max(np.abs(expected))
        difference = np.max(np.abs(host_copy(got).astype(np.float64) - expected))
        assert difference <= TOLERANCE[dtype] * scale, (layer, difference, scale)
    np.testing.assert_allclose(
        model.loss_curve_, reference.loss_curve_, rtol=TOLERANCE[dtype]
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_jax_compiled_fit_matches_the_eager_numpy_fit(case, dtype):
    require_backend("jax")
    reference = _fit("numpy", dtype, case)
    model = _fit("jax", dtype, case, compile=True)
    _assert_matches_eager(model, reference, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ["adam", "sgd-nesterov", "l2", "weights", "clipped"])
def test_torch_compiled_fit_matches_the_eager_numpy_fit(case, dtype):
    require_backend("torch")  # torch.compile: about 5 s per compile on a CPU
    reference = _fit("numpy", dtype, case)
    model = _fit("torch", dtype, case, compile=True)
    _assert_matches_eager(model, reference, dtype)


def test_a_second_fit_with_the_same_shapes_does_not_compile_again():
    require_backend("jax")
    _fit("jax", "float32", "adam", compile=True, n_samples=1000)
    traced = jax_epoch.TRACES["jax"]
    # another number of batches (21 against 20) and another short batch, in the same
    # bucket of rows; another learning rate: the same program
    assert bucket(1000) == bucket(1010) == 1024
    _fit("jax", "float32", "adam", compile=True, n_samples=1010)
    _fit("jax", "float32", "adam", compile=True, n_samples=1000, learning_rate_init=0.1)
    assert jax_epoch.TRACES["jax"] == traced
    _fit("jax", "float32", "adam", compile=True, n_samples=1000, batch_size=40)
    assert jax_epoch.TRACES["jax"] == traced + 1  # new shapes: one more program


@pytest.mark.slow  # 19 fits
def test_a_grid_search_compiles_once_per_shapes():
    require_backend("jax")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y, _ = _data(n_samples=300)
    traced = jax_epoch.TRACES["jax"]
    search = model_selection.GridSearchCV(
        MLPClassifier(
            hidden_layer_sizes=(7, 5),  # shapes no other test compiles
            max_iter=1,
            batch_size=32,
            random_state=0,
            backend="jax",
            compile=True,
        ),
        {"learning_rate_init": [1e-3, 1e-2, 0.1], "alpha": [1e-4, 1e-3]},
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # max_iter=1
        search.fit(X, y)
    # 18 fits on folds of 200 rows and one refit on 300: two buckets of rows
    assert jax_epoch.TRACES["jax"] - traced == 2


@pytest.mark.slow
def test_torch_compiles_the_step_once_for_fits_of_any_size():
    require_backend("torch")
    from torch._dynamo.utils import counters

    before = counters["stats"]["unique_graphs"]
    _fit("torch", "float32", "sgd-momentum", compile=True, n_samples=230)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs == before + 1  # the whole step in one graph: no graph break
    _fit("torch", "float32", "sgd-momentum", compile=True, n_samples=410)
    _fit("torch", "float32", "sgd-momentum", compile=True, learning_rate_init=0.3)
    assert counters["stats"]["unique_graphs"] == graphs


def test_torch_compiles_the_step_with_fixed_shapes_and_cuda_graphs_only_on_cuda(
    monkeypatch,
):
    # torch.compile stood in by a recorder (the step then runs uncompiled): what each
    # step asks of the compiler, without compiling (a CUDA device is not needed)
    require_backend("torch")
    import torch

    from xpnet.maths import optimizers
    from xpnet.training.compiled import torch_step
    from xpnet.training.compiled.plan import Handover

    asked = []

    def record(step, **options):
        asked.append(options)
        return step

    monkeypatch.setattr(torch, "compile", record)
    monkeypatch.setattr(torch_step, "_STEPS", {})
    model = _fit("torch", "float32", "adam", compile=True)
    np.testing.assert_allclose(
        model.coefs_[0], _fit("numpy", "float32", "adam").coefs_[0], rtol=1e-5
    )
    assert asked == [{"dynamic": False, "mode": None}]  # on the CPU: Inductor alone
    ((key, (pure, compiled)),) = torch_step._STEPS.items()
    assert key[-1] is False and compiled is pure
    xp = get_backend("torch").xp
    handover = Handover(optimizers.adam(xp), (), ("adam",))
    on_cuda = (*key[:-1], True)
    torch_step.steps(on_cuda, xp, handover, cuda=True)
    assert asked[1:] == [{"dynamic": False, "mode": "reduce-overhead"}]
    torch_step.steps(on_cuda, xp, handover, cuda=True)
    assert len(asked) == 2  # kept: asked once per key


def test_several_epochs_compiled_match_eager():
    require_backend("jax")
    X, y, _ = _data()
    kwargs = dict(
        hidden_layer_sizes=(8,), max_iter=4, batch_size=64, random_state=1, tol=0.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        reference = MLPRegressor(backend="numpy", dtype="float64", **kwargs).fit(X, y)
        model = MLPRegressor(backend="jax", dtype="float64", compile=True, **kwargs)
        model.fit(X, y)
    assert model.n_iter_ == reference.n_iter_ == 4
    _assert_matches_eager(model, reference, "float64")


def test_backends_without_a_compiler_say_so_once_and_run_eagerly(monkeypatch):
    from xpnet.training import compiled

    monkeypatch.setattr(compiled, "_SAID", set())
    X, y, _ = _data()
    model = MLPClassifier(
        hidden_layer_sizes=(4,), max_iter=1, random_state=0, compile=True
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
        model.fit(X, y)
    said = [w for w in caught if issubclass(w.category, CompileWarning)]
    assert len(said) == 1, said
    assert "backend 'numpy' has no compiler" in str(said[0].message)
    assert model.n_iter_ == 1 and model.compiled_ == "eager"


def _compilable_run(**changes):
    """A run every compiler takes (JAX, 10 rows in memory, one process, a weighted
    loss, no checkpoint; 5 steps an epoch), with ``changes``."""
    settings = dict(
        backend=SimpleNamespace(library="jax", name="jax"),
        blocks=None,
        reducer=None,
        X=np.zeros((10, 2)),
        checkpoint=None,
        checkpoint_every=0,
        epoch_steps=lambda: 5,
        loss=SimpleNamespace(weighted=True),
    )
    return SimpleNamespace(**{**settings, **changes})


EAGER_REASONS = {
    "no-compiler": (
        dict(backend=SimpleNamespace(library="numpy", name="numpy")),
        "backend 'numpy' has no compiler",
    ),
    "dask": (dict(blocks=object()), "the data comes in blocks (Dask)"),
    "data-parallel": (dict(reducer=object()), "data-parallel training runs eagerly"),
    "sparse": ("sparse", "sparse X is cut into batches on the host"),
    "checkpoint": (
        dict(checkpoint=print, checkpoint_every=7),
        "checkpoint_every is not a whole number of epochs",
    ),
    "user-loss": (
        dict(loss=SimpleNamespace(weighted=False)),
        "a user-registered loss takes no sample weights (the padded last batch)",
    ),
}


@pytest.mark.parametrize("case", list(EAGER_REASONS))
def test_a_run_that_cannot_be_compiled_says_why_once(case, monkeypatch):
    """The warning's words, once per reason and process; no compiled epochs."""
    from xpnet.training import compiled

    monkeypatch.setattr(compiled, "_SAID", set())
    changes, reason = EAGER_REASONS[case]
    if changes == "sparse":
        sparse = pytest.importorskip("scipy.sparse")
        matrix = sparse.random(10, 2, density=0.5, random_state=0)
        changes = dict(X=SparseRows(get_backend("numpy"), matrix, "float64"))
    run = _compilable_run(**changes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert compiled.CompiledEpochs.for_run(run) is None
        assert compiled.CompiledEpochs.for_run(run) is None
    assert [(w.category, str(w.message)) for w in caught] == [
        (CompileWarning, f"compile=True: {reason}; training runs eagerly")
    ]


def test_ctrl_c_during_a_compiled_epoch_is_raised_after_it(monkeypatch):
    require_backend("jax")
    from xpnet.training.compiled import CompiledEpochs

    epoch = CompiledEpochs.__call__

    def interrupted(self, run, flat):
        os.kill(os.getpid(), signal.SIGINT)  # held until the epoch ends
        return epoch(self, run, flat)

    monkeypatch.setattr(CompiledEpochs, "__call__", interrupted)
    X, y, _ = _data()
    model = MLPClassifier(
        hidden_layer_sizes=(4,),
        max_iter=3,
        batch_size=50,
        random_state=0,
        backend="jax",
        compile=True,
    )
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    assert model.compiled_ == "jax.jit"
    assert model.t_ == 0  # the epoch ran, its end (history) did not


def test_compiled_fits_write_checkpoints_at_epoch_ends_and_resume(
    tmp_path, monkeypatch
):
    require_backend("jax")
    from xpnet.training import compiled

    monkeypatch.setattr(compiled, "_SAID", set())
    X, y, _ = _data()
    path = str(tmp_path / "run.safetensors")
    settings = dict(
        hidden_layer_sizes=(6,), batch_size=50, random_state=0, backend="jax"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # max_iter reached
        whole = MLPClassifier(max_iter=3, compile=True, **settings).fit(X, y)
        first = MLPClassifier(max_iter=2, compile=True, **settings)
        first.fit(X, y, checkpoint=path)  # every epoch (5 steps): at epoch ends
        assert first.compiled_ == "jax.jit"
        resumed = MLPClassifier(max_iter=3, compile=True, **settings)
        resumed.fit(X, y, resume_from=path)
    assert resumed.n_iter_ == 3 and len(resumed.loss_curve_) == 3
    # the checkpoint came after epoch 2's last step, before its end: the resumed
    # fit ends that epoch on the eager path (no step left), then compiles epoch 3
    assert resumed.epoch_paths_ == ["jax.jit", "eager", "jax.jit"]
    for a, b in zip(resumed.coefs_, whole.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.warns(CompileWarning, match="not a whole number of epochs"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Stochastic", UserWarning)
            first.fit(X, y, checkpoint=path, checkpoint_every=3)
    assert first.compiled_ == "eager"
    assert first.epoch_paths_ == ["eager", "eager"]


def test_the_history_says_how_each_epoch_ran(monkeypatch):
    require_backend("jax")
    from xpnet.training import compiled

    real, calls = compiled.CompiledEpochs.__call__, []

    def first_epoch_eager(self, run, flat):  # as an epoch a resume starts mid-way
        calls.append(run.state.history.n_iter)
        return None if len(calls) == 1 else real(self, run, flat)

    monkeypatch.setattr(compiled.CompiledEpochs, "__call__", first_epoch_eager)
    X, y, _ = _data()
    seen = []
    model = MLPClassifier(
        hidden_layer_sizes=(6,), max_iter=3, tol=0.0, backend="jax", compile=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # max_iter reached
        model.fit(X, y, callbacks=[lambda m, h: seen.append(list(h.epoch_paths))])
    assert model.epoch_paths_ == ["eager", "jax.jit", "jax.jit"]
    assert seen == [["eager"], ["eager", "jax.jit"], model.epoch_paths_]


@pytest.mark.parametrize("case", ["adam", "sgd-nesterov"])
def test_the_optimizers_constants_are_in_the_models_dtype_and_device(case, monkeypatch):
    """float32 stays float32 in the compiled step: beta_1, momentum... (0-d arrays
    made once per fit) take the parameters' dtype and device."""
    require_backend("jax")
    from xpnet.training.compiled import CompiledEpochs

    epoch, seen = CompiledEpochs.__call__, []

    def watched(self, run, flat):
        seen.append((self.constants, run.params[0]))
        return epoch(self, run, flat)

    monkeypatch.setattr(CompiledEpochs, "__call__", watched)
    _fit("jax", "float32", case, compile=True)
    constants, param = seen[0]
    assert len(constants) == (5 if case == "adam" else 1)
    for c in constants:
        assert c.shape == () and c.dtype == param.dtype == np.float32
        assert c.devices() == param.devices()


def test_bucket_is_at_most_a_sixteenth_larger():
    for n in [1, 31, 32, 33, 200, 801, 20_000, 60_000, 1_000_003]:
        assert n <= bucket(n) <= max(32, n + n / 16), n
    assert bucket(800) == 800 and bucket(801) == bucket(830) == 832


TORCH_CUDA_CASES = [("adam", "float64")] + [
    (case, "float32")
    for case in ("adam", "sgd-nesterov", "weights", "early-stopping", "clipped")
]
"""torch:cuda compiles once per case (Inductor, seconds each): the cases whose step
maths differ, in float32, and Adam in float64."""


@pytest.mark.xpnet_backend  # ci/gpu-check selects the backend tests
@pytest.mark.parametrize(
    ("spec", "case", "dtype"),
    [("cupy", case, dtype) for case in CASES for dtype in ("float32", "float64")]
    + [("torch:cuda", case, dtype) for case, dtype in TORCH_CUDA_CASES],
)
def test_a_compiled_fit_on_a_gpu_matches_the_eager_numpy_fit(spec, case, dtype):
    require_backend(spec)  # CUDA graphs on CuPy; torch.compile "reduce-overhead"
    reference = _fit("numpy", dtype, case)
    model = _fit(spec, dtype, case, compile=True)
    _assert_matches_eager(model, reference, dtype)
