"""No training step waits for the device, counted on a recording namespace that
stands in for CuPy where no GPU is present.

The namespace is NumPy's (array-api-compat) with every result viewed as an array
type that counts what makes CuPy wait for the device: ``bool()``, ``float()``,
``int()``, ``.item()``, ``.tolist()``, and a host copy (``to_numpy``, CuPy's
``.get()``); ``asarray`` of a Python scalar (an upload) is counted too. Per step: the
difference between one-epoch fits of 20 and of 10 steps, over 10; it must be 0.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from typing import Any

import array_api_compat.numpy as compat_numpy
import numpy as np
import pytest

import xpnet
from xpnet.backend import Backend

COUNTS: Counter[str] = Counter()
BATCH = 8


class Recorded(np.ndarray):
    """A NumPy array that counts the reads a CuPy array would wait for."""

    def __bool__(self) -> bool:
        COUNTS["bool()"] += 1
        return super().__bool__()

    def __float__(self) -> float:
        COUNTS["float()"] += 1
        return super().__float__()

    def __int__(self) -> int:
        COUNTS["int()"] += 1
        return super().__int__()

    def __index__(self) -> int:
        COUNTS["index"] += 1
        return super().__index__()

    def item(self, *args: Any) -> Any:
        COUNTS["item()"] += 1
        return super().item(*args)

    def tolist(self) -> Any:
        COUNTS["tolist()"] += 1
        return super().tolist()


def _recorded(value: Any) -> Any:
    if type(value) is np.ndarray:
        return value.view(Recorded)
    if isinstance(value, (list, tuple)):
        return type(value)(_recorded(v) for v in value)
    return value


class RecordingNamespace:
    """array-api-compat's NumPy namespace, returning :class:`Recorded` arrays."""

    __name__ = compat_numpy.__name__

    def __getattr__(self, name: str) -> Any:
        value = getattr(compat_numpy, name)
        if not callable(value) or isinstance(value, type):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "asarray" and isinstance(args[0], (bool, int, float)):
                COUNTS["asarray(Python scalar)"] += 1
            return _recorded(value(*args, **kwargs))

        return call


class RecordingBackend(Backend):
    """NumPy's backend on the recording namespace; host copies are counted."""

    def to_numpy(self, array: Any) -> np.ndarray:
        if isinstance(array, Recorded):
            COUNTS["host copy"] += 1
            return np.asarray(array).view(np.ndarray)
        return super().to_numpy(array)


BACKEND = RecordingBackend("numpy", RecordingNamespace(), "cpu", "numpy")
CASES: dict[str, dict[str, Any]] = {
    "adam": {},
    "adam, regressor": {"task": "regress"},
    "sgd, momentum": {"solver": "sgd", "nesterovs_momentum": False},
    "sgd, Nesterov": {"solver": "sgd"},
    "sgd, plain": {"solver": "sgd", "momentum": 0.0},
    "adam, L2": {"alpha": 1e-3},
    "adam, sample weights": {"weights": True},
    "adam, early stopping": {"early_stopping": True, "validation_fraction": 0.1},
}


def fit_counts(n_steps: int, case: dict[str, Any], max_iter: int = 1) -> Counter[str]:
    case = dict(case)
    task, weights = case.pop("task", "classify"), case.pop("weights", False)
    n_samples = n_steps * BATCH
    if case.get("early_stopping"):  # the training rows stay n_steps batches
        n_samples = n_steps * BATCH * 10 // 9 + 1
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, 5))
    y = (X[:, 0] > 0).astype(int) if task == "classify" else X[:, 0]
    cls = xpnet.MLPClassifier if task == "classify" else xpnet.MLPRegressor
    model = cls(
        (7,),
        batch_size=BATCH,
        max_iter=max_iter,
        random_state=0,
        backend=BACKEND,
        **{"alpha": 0.0, **case},
    )
    kwargs = {"sample_weight": np.linspace(0.5, 1.5, n_samples)} if weights else {}
    COUNTS.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        model.fit(X, y, **kwargs)
    return Counter(COUNTS)


@pytest.mark.parametrize("name", list(CASES))
def test_no_host_wait_per_step_on_a_cupy_like_namespace(name):
    short, long = fit_counts(10, CASES[name]), fit_counts(20, CASES[name])
    per_step = {k: (long[k] - short[k]) / 10 for k in long | short}
    assert {k: v for k, v in per_step.items() if v} == {}
    assert sum(long.values()) > 0  # the counter sees the epoch's own read


def test_one_read_per_epoch():
    one, two = fit_counts(10, {}, max_iter=1), fit_counts(10, {}, max_iter=2)
    assert two - one == {"host copy": 1}  # the loss and the finite check together


def test_the_recording_namespace_counts_a_read():
    with contextlib.ExitStack():
        COUNTS.clear()
        total = BACKEND.xp.sum(BACKEND.xp.ones(3))
        float(total)
        BACKEND.xp.asarray(0.5)
    assert COUNTS == {"float()": 1, "asarray(Python scalar)": 1}
