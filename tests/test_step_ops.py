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
        array = type(strict.asarray(0.0))
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
    print(solver, sum(ops.values()), dict(ops))
    assert sum(syncs.values()) == 0  # no step waits for the device
    assert sum(ops.values()) <= budget, dict(ops)
