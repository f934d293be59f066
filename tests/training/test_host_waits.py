"""No training step waits for the device: host waits and scalar uploads, counted.

A ``TorchFunctionMode`` sees every torch call of a torch-backend fit on the CPU. The
calls that on a CUDA device make the host wait (``.item()``, ``bool()``/``float()``/
``int()`` of a tensor, ``.tolist()``, ``.cpu()``, ``.numpy()``, ``__array__``) or
upload a Python scalar (``torch.asarray``/``tensor``/``as_tensor`` of one, a blocking
copy) are counted over a one-epoch fit of 10 and of 20 steps: the difference, per
step, must be 0. Per-epoch reads and fit set-up cancel out in the difference.
"""

from __future__ import annotations

import contextlib
import socket
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pytest

import xpnet

torch = pytest.importorskip("torch", reason="torch is not installed")
from torch.overrides import TorchFunctionMode  # noqa: E402

BATCH = 8
_SCALARS = (bool, int, float, complex)
_WAITS = {
    "item",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "tolist",
    "cpu",
    "numpy",
    "__array__",
}
_UPLOADS = {torch.asarray, torch.tensor, torch.as_tensor}


class HostWaitCounter(TorchFunctionMode):
    """Counts torch calls that wait for the device or upload a Python scalar."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if func in _UPLOADS and args and isinstance(args[0], _SCALARS):
            self.counts[f"scalar upload ({name})"] += 1
        elif name in _WAITS:
            self.counts[f"host wait ({name})"] += 1
        return func(*args, **(kwargs or {}))


def _data(n_samples: int, task: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, 5))
    y = (X[:, 0] > 0).astype(int) if task == "classify" else X[:, 0] * 2.0
    return X, y


CASES: dict[str, dict[str, Any]] = {
    "adam": {},
    "adam, regressor": {"task": "regress"},
    "adam, logistic": {"activation": "logistic"},
    "sgd, momentum": {"solver": "sgd", "nesterovs_momentum": False},
    "sgd, Nesterov": {"solver": "sgd"},
    "sgd, plain": {"solver": "sgd", "momentum": 0.0},
    "adam, L2": {"alpha": 1e-3},
    "adam, sample weights": {"weights": True},
    "adam, early stopping": {"early_stopping": True},
    "adam, sparse X": {"sparse": True},
    "adam, data-parallel": {"distributed": True},
}


def _fit_counts(n_steps: int, case: dict[str, Any]) -> Counter[str]:
    case = dict(case)
    task = case.pop("task", "classify")
    weights, sparse = case.pop("weights", False), case.pop("sparse", False)
    distributed = case.pop("distributed", False)
    n_samples = n_steps * BATCH
    if case.get("early_stopping"):  # 10% held out: the training rows stay n_steps
        n_samples = n_steps * BATCH * 10 // 9 + 1
        case["validation_fraction"] = 0.1
    X, y = _data(n_samples, task)
    if sparse:
        scipy_sparse = pytest.importorskip("scipy.sparse", reason="needs SciPy")
        X = scipy_sparse.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    fit_kwargs: dict[str, Any] = {}
    if weights:
        fit_kwargs["sample_weight"] = np.linspace(0.5, 1.5, n_samples)
    if distributed:
        fit_kwargs["distributed"] = True
    cls = xpnet.MLPClassifier if task == "classify" else xpnet.MLPRegressor
    settings = {"alpha": 0.0, **case}
    model = cls(
        hidden_layer_sizes=(7,),
        batch_size=BATCH,
        max_iter=1,
        shuffle=True,
        random_state=0,
        backend="torch",
        **settings,
    )
    counter = HostWaitCounter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        with counter:
            model.fit(X, y, **fit_kwargs)
    return counter.counts


def per_step(case: dict[str, Any]) -> dict[str, float]:
    """Waits and uploads per step: (20-step epoch - 10-step epoch) / 10."""
    short, long = _fit_counts(10, case), _fit_counts(20, case)
    return {k: (long[k] - short[k]) / 10 for k in long | short}


@contextlib.contextmanager
def _one_rank_group():
    dist = pytest.importorskip("torch.distributed", reason="needs torch.distributed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("name", list(CASES))
def test_no_host_wait_or_scalar_upload_per_step(name):
    case = CASES[name]
    group = _one_rank_group() if case.get("distributed") else contextlib.nullcontext()
    with group:
        counts = per_step(case)
    assert {k: v for k, v in counts.items() if v} == {}, name


def test_counter_sees_what_it_counts():
    # The counter is not blind: a read and a scalar upload are both seen.
    counter = HostWaitCounter()
    t = torch.ones(2)
    with counter:
        float(t[0])
        torch.asarray(0.5)
        t.index_select(0, torch.zeros(1, dtype=torch.int64))
    assert counter.counts == {
        "host wait (__float__)": 1,
        "scalar upload (asarray)": 1,
    }
