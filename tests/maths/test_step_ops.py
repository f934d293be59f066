"""Array operations per training step: each one is a kernel launch on a GPU.

array-api-strict's namespace functions and array operators are wrapped with a
counter; a training step is the difference between epochs of 3 and 2 batches. The
budgets are for scikit-learn's default network on MNIST, 784-256-128-10 at batch 200.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest

import xpnet

strict = pytest.importorskip("array_api_strict", reason="array-api-strict is missing")

OPERATORS = [
    f"__{name}__"
    for base in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul")
    for name in (base, f"r{base}", f"i{base}")
] + [
    f"__{name}__"
    for name in ("neg", "pos", "abs", "invert", "and", "or", "xor", "lt", "le")
    + ("gt", "ge", "eq", "ne", "getitem", "setitem")
]
SYNCS = ["__float__", "__bool__", "__int__", "__index__", "__array__", "__dlpack__"]
NOT_OPERATIONS = {"Device", "finfo", "iinfo", "isdtype", "result_type", "can_cast"}
"""Namespace names that launch no work: dtype and device facts."""


class OpCounter:
    """Counts the outermost calls of strict's functions and operators."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ops: Counter[str] = Counter()
        self.syncs: Counter[str] = Counter()
        self._depth = 0
        array = type(strict.asarray(0.0))
        for name in dir(strict):
            value = getattr(strict, name)
            if (
                name.startswith("_")
                or name in NOT_OPERATIONS
                or isinstance(value, type)
                or not callable(value)
            ):
                continue
            monkeypatch.setattr(strict, name, self._wrap(value, name, self.ops))
        for name in OPERATORS + SYNCS:
            if hasattr(array, name):
                table = self.syncs if name in SYNCS else self.ops
                monkeypatch.setattr(
                    array, name, self._wrap(getattr(array, name), name, table)
                )

    def _wrap(self, function, name, table):
        def counted(*args, **kwargs):
            if self._depth == 0:
                table[name] += 1
            self._depth += 1
            try:
                return function(*args, **kwargs)
            finally:
                self._depth -= 1

        return counted


def _counts(monkeypatch, solver, n_batches, **params):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200 * n_batches, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=200 * n_batches)
    model = xpnet.MLPClassifier(
        (256, 128),
        solver=solver,
        max_iter=1,
        random_state=0,
        backend="array_api_strict",
        **params,
    )
    with monkeypatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        counter = OpCounter(patch)
        model.fit(X, y)
    return counter.ops, counter.syncs


def _per_step(monkeypatch, solver, **params):
    ops_2, syncs_2 = _counts(monkeypatch, solver, 2, **params)
    ops_3, syncs_3 = _counts(monkeypatch, solver, 3, **params)
    return ops_3 - ops_2, syncs_3 - syncs_2


@pytest.mark.parametrize(
    ("solver", "params", "budget"),
    [
        ("adam", {}, 75),  # scikit-learn's default: Adam with L2 (alpha=1e-4)
        ("sgd", {"momentum": 0.0, "alpha": 0.0}, 45),  # plain SGD
    ],
)
def test_operations_per_step_within_budget(monkeypatch, solver, params, budget):
    ops, syncs = _per_step(monkeypatch, solver, **params)
    assert sum(syncs.values()) == 0  # no step waits for the device
    assert sum(ops.values()) <= budget, dict(ops)


def test_research_api_on_device_data_waits_only_for_the_loss(monkeypatch):
    rng = np.random.default_rng(0)
    net = xpnet.MLP([20, 16, 3], backend="array_api_strict", seed=0)
    X = net.backend.asarray(rng.normal(size=(32, 20)), "float32")
    y = net.backend.asarray(rng.normal(size=(32, 3)), "float32")
    with monkeypatch.context() as patch:
        counter = OpCounter(patch)
        net.forward(X, check_finite=False)
        net.loss_and_gradients(X, y, check_finite=False)
    assert counter.syncs == Counter({"__float__": 1})  # the loss, as a float
    assert counter.ops["asarray"] == 0  # neither data nor weights uploaded again
    with monkeypatch.context() as patch:
        counter = OpCounter(patch)
        net.loss_and_gradients(X, y)
    assert counter.syncs["__bool__"] == 2  # the default checks X and y


@pytest.mark.parametrize("reads_weights", [False, True])
def test_callbacks_copy_weights_to_the_host_only_when_read(monkeypatch, reads_weights):
    copies = Counter()
    to_numpy = xpnet.Backend.to_numpy

    def counted(backend, array):
        copies["to_numpy"] += 1
        return to_numpy(backend, array)

    monkeypatch.setattr(xpnet.Backend, "to_numpy", counted)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 4)), rng.normal(size=50)
    seen = []

    def callback(model, history):
        seen.append(model.coefs_[0].copy() if reads_weights else history.n_iter)

    model = xpnet.MLPRegressor((5,), max_iter=6, random_state=0, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.ConvergenceWarning)
        model.fit(X, y, callbacks=[callback])
    # weights and biases go to the host as one vector, once at the end of fit
    assert copies["to_numpy"] == 1 + 6 * reads_weights
    if reads_weights:  # each epoch's own weights, not the last ones
        assert not np.array_equal(seen[0], seen[-1])
        np.testing.assert_array_equal(seen[-1], model.coefs_[0])
