"""Out of device memory anywhere: a DeviceMemoryError saying what did not fit.

The libraries' own exception types (CuPy's OutOfMemoryError and CUDARuntimeError,
torch's OutOfMemoryError) are raised at each place that allocates, on the CPU.
"""

from __future__ import annotations

import tracemalloc

import array_api_compat
import numpy as np
import pytest

import xpnet
from xpnet import DeviceMemoryError
from xpnet.backend import Backend
from xpnet.command import cli
from xpnet.maths import network as network_module


def _out_of_memory_errors():
    errors = {"MemoryError": lambda: MemoryError("host out of memory")}
    try:
        import cupy
        from cupy_backends.cuda.api import runtime
    except ImportError:
        pass
    else:
        errors["cupy.OutOfMemoryError"] = lambda: cupy.cuda.memory.OutOfMemoryError(
            2**31, 2**33, 2**34
        )
        # 2 is cudaErrorMemoryAllocation: "out of memory"
        errors["cupy.CUDARuntimeError"] = lambda: runtime.CUDARuntimeError(2)
    try:
        import torch
    except ImportError:
        pass
    else:
        errors["torch.OutOfMemoryError"] = lambda: torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB"
        )
    return errors


ERRORS = _out_of_memory_errors()


class FaultyNamespace:
    """NumPy's array API namespace whose ``name`` raises ``error()`` on its
    ``nth`` call (1-based)."""

    def __init__(self, name: str, error, nth: int = 1) -> None:
        self._xp = array_api_compat.array_namespace(np.empty(0))
        self.__name__ = self._xp.__name__
        self._name, self._error, self._left = name, error, nth

    def __getattr__(self, name: str):
        value = getattr(self._xp, name)
        if name != self._name:
            return value

        def faulty(*args, **kwargs):
            self._left -= 1
            if self._left == 0:
                raise self._error()
            return value(*args, **kwargs)

        return faulty


def _faulty_backend(name, error, nth=1):
    return Backend("numpy", FaultyNamespace(name, error, nth), "cpu", "numpy")


def _data(n_samples=60):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_samples, 4))
    return X, (X[:, 0] > 0).astype(int)


def _fitted(**kwargs):
    X, y = _data()
    return xpnet.MLPClassifier((5,), max_iter=2, random_state=0, **kwargs).fit(X, y)


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
@pytest.mark.parametrize("error", ERRORS)
def test_upload_and_hold_out_split_say_the_data_does_not_fit(error):
    X, y = _data()
    for where, early_stopping in (("asarray", False), ("take", True)):
        model = xpnet.MLPClassifier(
            (5,),
            max_iter=2,
            early_stopping=early_stopping,
            backend=_faulty_backend(where, ERRORS[error]),
        )
        with pytest.raises(DeviceMemoryError, match="the data does not fit") as info:
            model.fit(X, y)
        assert "(60, 4) float64" in str(info.value)  # float64 X: a float64 model
        assert "partial_fit on chunks" in str(info.value)
        assert type(info.value.__cause__).__name__ == error.split(".")[-1]


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_predict_and_score_say_to_predict_fewer_rows(monkeypatch, error, method):
    model = _fitted()
    X, y = _data()

    def out_of_memory(*args, **kwargs):
        raise ERRORS[error]()

    monkeypatch.setattr(network_module, "predict", out_of_memory)
    with pytest.raises(DeviceMemoryError, match="fewer rows per call") as info:
        getattr(model, method)(*((X, y) if method == "score" else (X,)))
    assert "(60, 4) float64" in str(info.value)  # float64 X: a float64 model


@pytest.mark.parametrize("error", ERRORS)
def test_research_api_says_what_does_not_fit(monkeypatch, error):
    X, y = _data()
    net = xpnet.MLP([4, 5, 1], seed=0)

    def out_of_memory(*args, **kwargs):
        raise ERRORS[error]()

    monkeypatch.setattr(network_module, "predict", out_of_memory)
    monkeypatch.setattr(network_module, "loss_and_gradients", out_of_memory)
    for call in (lambda: net.forward(X), lambda: net.loss_and_gradients(X, y)):
        with pytest.raises(DeviceMemoryError, match=r"layer sizes \[4, 5, 1\]"):
            call()


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_other_runtime_errors_pass_through(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED")

    monkeypatch.setattr(network_module, "predict", broken)
    with pytest.raises(RuntimeError, match="CUBLAS") as info:
        _fitted().predict(_data()[0])
    assert not isinstance(info.value, MemoryError)


@pytest.mark.parametrize("error", ERRORS)
def test_command_prints_one_line_not_a_traceback(monkeypatch, tmp_path, capsys, error):
    rng = np.random.default_rng(0)
    data = tmp_path / "reg.csv"
    np.savetxt(data, rng.normal(size=(40, 3)), delimiter=",", header="a,b,y")
    argv = ["train", "--data", str(data), "--quiet", "--hidden", "4", "--epochs", "2"]

    def out_of_memory(*args, **kwargs):
        raise ERRORS[error]()

    model = tmp_path / "model.npz"
    assert cli.main([*argv, "--save", str(model)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(network_module, "loss_and_gradients", out_of_memory)
    monkeypatch.setattr(network_module, "predict", out_of_memory)
    predict = ["predict", str(model), str(data), "--target", "y"]
    for command in (argv, predict):
        assert cli.main(command) == cli.EXIT_FAILED
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert err.startswith("xpnet: error: out of memory on backend 'numpy'")
        assert len(err.strip().splitlines()) == 1


@pytest.mark.filterwarnings("ignore::xpnet.ConvergenceWarning")
def test_early_stopping_holds_no_training_copy_of_x():
    # float32 upload of 4 MiB; before the fix the training and validation copies
    # (0.9 X + 0.1 X) sat beside it: a peak over 2 X.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, 100)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    model = xpnet.MLPClassifier(
        (4,), max_iter=1, batch_size=100, early_stopping=True, random_state=0
    )
    tracemalloc.start()
    try:
        model.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # New memory only (NumPy uses the float32 host X as is): the 10% validation
    # copy, index arrays, one batch of work; a training copy would add 0.9 X.
    assert peak < 0.4 * X.nbytes
