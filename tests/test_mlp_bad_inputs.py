"""Every bad input to :class:`xpnet.MLP` (constructor, ``from_weights``, ``forward``,
``loss_and_gradients``, ``sgd_step``) gets a clear error naming the argument, what
was expected and what was given.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from bad_inputs import (
    BACKEND_AND_DTYPE,
    DTYPE,
    FOREIGN,
    X_CASES,
    Y_CASES,
    B,
    Bad,
    F,
    W,
    X,
    Y,
    assert_bad,
    foreign,
    forms,
    gradients,
    spoiled_X,
    spoiled_y,
)

import xpnet
from xpnet import MLP


@pytest.mark.parametrize(
    "case, method",
    [
        pytest.param(case, method, id=f"MLP.{method}: {case[0]}")
        for case in X_CASES
        for method in ("forward", "loss_and_gradients")
    ],
)
def test_mlp_refuses_bad_X(backend, case, method):
    _, spoil, est_bad, mlp_bad, host_only = case
    net = MLP([F, 3, 1], seed=0, backend=backend)
    for data in spoiled_X(spoil, backend, host_only):
        call = (
            partial(net.forward, data)
            if method == "forward"
            else partial(net.loss_and_gradients, data, Y["reg"])
        )
        assert_bad(call, mlp_bad or est_bad, backend=backend.name)


@pytest.mark.parametrize("method", ["forward", "loss_and_gradients"])
def test_mlp_refuses_the_wrong_number_of_features(backend, method):
    net = MLP([F, 3, 1], seed=0, backend=backend)
    bad = Bad(ValueError, r"\bX\b", r"must have 4 columns", r"\(20, 3\)")
    for data in forms(backend, X[:, :3]):
        arguments = (data,) if method == "forward" else (data, Y["reg"])
        assert_bad(partial(getattr(net, method), *arguments), bad)


@pytest.mark.parametrize("case", Y_CASES, ids=[f"MLP: {c[0]}" for c in Y_CASES])
def test_mlp_refuses_bad_y(backend, case):
    _, spoil, _, bad, host_only = case
    net = MLP([F, 3, 1], seed=0, backend=backend)
    for data in spoiled_y(spoil, Y["reg"], backend, host_only):
        call = partial(net.loss_and_gradients, X, data)
        assert_bad(call, bad, backend=backend.name)


# ---- MLP: constructor, from_weights, sgd_step ---------------------------------------

MLP_SETTINGS = [
    # id, constructor arguments, error
    (
        "layer size zero",
        dict(layer_sizes=[F, 0, 1]),
        Bad(ValueError, r"\blayer_sizes\b", r">= 1", r"got 0"),
    ),
    (
        "no layer sizes",
        dict(layer_sizes=[]),
        Bad(ValueError, r"\blayer_sizes\b", r"at least 2 sizes", r"got \[\]"),
    ),
    (
        "layer size negative",
        dict(layer_sizes=[F, -2, 1]),
        Bad(ValueError, r"\blayer_sizes\b", r">= 1", r"got -2"),
    ),
    (
        "unknown hidden activation",
        dict(hidden_activation="softplus"),
        Bad(ValueError, r"\bhidden_activation\b", r"one of \[", r"'softplus'"),
    ),
    (
        "unknown output activation",
        dict(output_activation="gelu"),
        Bad(ValueError, r"\boutput_activation\b", r"one of \[", r"'gelu'"),
    ),
    (
        "negative seed",
        dict(seed=-1),
        Bad(ValueError, r"\bseed\b", r"int in \[0, 2\*\*32\)", r"got -1"),
    ),
    *BACKEND_AND_DTYPE,
]


@pytest.mark.parametrize("case", MLP_SETTINGS, ids=[c[0] for c in MLP_SETTINGS])
def test_mlp_constructor_refuses_bad_settings(backend, case):
    _, changes, bad = case
    arguments = dict(layer_sizes=[F, 3, 1], seed=0, backend=backend.name) | changes
    assert_bad(lambda: MLP(**arguments), bad)


FROM_WEIGHTS = [
    # id, arguments made from (backend, W, B), error
    (
        "weights 1-D",
        lambda b, W, B: dict(weights=[W[0].ravel(), W[1]]),
        Bad(ValueError, r"weights\[0\]", r"2-D \(fan_in, fan_out\)", r"shape \(12,\)"),
    ),
    (
        "weights 3-D",
        lambda b, W, B: dict(weights=[W[0][:, :, None], W[1]]),
        Bad(ValueError, r"weights\[0\]", r"2-D \(fan_in, fan_out\)", r"\(4, 3, 1\)"),
    ),
    (
        "no weights",
        lambda b, W, B: dict(weights=[]),
        Bad(ValueError, r"\bweights\b", r"at least one", r"got \[\]"),
    ),
    (
        "empty weights",
        lambda b, W, B: dict(weights=[W[0][:0], W[1]]),
        Bad(ValueError, r"weights\[0\]", r"non-empty", r"\(0, 3\)"),
    ),
    (
        "weights that do not chain",
        lambda b, W, B: dict(weights=[W[0], W[1][:2]]),
        Bad(ValueError, r"weights\[1\]", r"3 rows", r"got \(2, 1\)"),
    ),
    (
        "biases of the wrong shape",
        lambda b, W, B: dict(weights=W, biases=[B[0][:2], B[1]]),
        Bad(ValueError, r"biases\[0\]", r"shape \(3,\)", r"got \(2,\)"),
    ),
    (
        "weights with NaN",
        lambda b, W, B: dict(weights=[np.where(W[0] > 0, np.nan, W[0]), W[1]]),
        Bad(ValueError, r"weights\[0\]", r"finite", r"NaN or inf"),
    ),
    (
        "biases with inf",
        lambda b, W, B: dict(weights=W, biases=[B[0] + np.inf, B[1]]),
        Bad(ValueError, r"biases\[0\]", r"finite", r"NaN or inf"),
    ),
    (
        "weights of text",
        lambda b, W, B: dict(weights=[np.full(W[0].shape, "a"), W[1]]),
        Bad(TypeError, r"weights\[0\]", r"real numbers", r"dtype <U1"),
    ),
    (
        "complex weights",
        lambda b, W, B: dict(weights=[W[0] + 1j, W[1]]),
        Bad(TypeError, r"weights\[0\]", r"real numbers", r"complex128"),
    ),
    (
        "weights of another library",
        lambda b, W, B: dict(weights=[foreign(b, W[0]), W[1]]),
        Bad(
            TypeError,
            r"weights\[0\]",
            r"host NumPy data or an array of '<backend>'",
            FOREIGN,
        ),
    ),
    (
        "unknown activation",
        lambda b, W, B: dict(weights=W, hidden_activation="swish"),
        Bad(ValueError, r"\bhidden_activation\b", r"one of \[", r"'swish'"),
    ),
    (
        "int dtype",
        lambda b, W, B: dict(weights=W, dtype="int64"),
        Bad(ValueError, r"\bdtype\b", DTYPE, r"int64"),
    ),
    (
        "complex dtype",
        lambda b, W, B: dict(weights=W, dtype="complex64"),
        Bad(ValueError, r"\bdtype\b", DTYPE, r"complex64"),
    ),
    (
        "unknown backend",
        lambda b, W, B: dict(weights=W, backend="tpu"),
        Bad(xpnet.BackendError, r"\bbackend\b", r"choose one of numpy", r"'tpu'"),
    ),
]


@pytest.mark.parametrize("case", FROM_WEIGHTS, ids=[c[0] for c in FROM_WEIGHTS])
def test_mlp_from_weights_refuses_bad_weights(backend, case):
    _, make, bad = case
    arguments = dict(biases=B, backend=backend.name) | make(backend, W, B)
    assert_bad(lambda: MLP.from_weights(**arguments), bad, backend=backend.name)


SGD_STEPS = [
    # id, arguments made from (backend, net, weight grads, bias grads), error
    (
        "negative lr",
        lambda b, net, gw, gb: (gw, gb, -0.1),
        Bad(ValueError, r"\blr\b", r"> 0", r"-0\.1"),
    ),
    (
        "zero lr",
        lambda b, net, gw, gb: (gw, gb, 0.0),
        Bad(ValueError, r"\blr\b", r"> 0", r"got 0\.0"),
    ),
    (
        "NaN lr",
        lambda b, net, gw, gb: (gw, gb, float("nan")),
        Bad(ValueError, r"\blr\b", r"finite number > 0", r"nan"),
    ),
    (
        "gradients of the wrong shape",
        lambda b, net, gw, gb: (gw[::-1], gb, 0.1),
        Bad(ValueError, r"weight_grads\[0\]", r"shape \(4, 3\)", r"got \(3, 1\)"),
    ),
    (
        "gradients missing a layer",
        lambda b, net, gw, gb: (gw[:1], gb, 0.1),
        Bad(ValueError, r"\bweight_grads\b", r"list of 2 arrays", r"length 1"),
    ),
    (
        "bias gradients missing",
        lambda b, net, gw, gb: (gw, None, 0.1),
        Bad(ValueError, r"\bbias_grads\b", r"list of 2 arrays", r"got NoneType"),
    ),
    (
        "gradients of another library",  # e.g. NumPy gradients into a torch MLP
        lambda b, net, gw, gb: (
            [
                foreign(b, b.to_numpy(g)) if b.library == "numpy" else b.to_numpy(g)
                for g in gw
            ],
            gb,
            0.1,
        ),
        Bad(
            TypeError,
            r"weight_grads\[0\]",
            r"an array of backend '<backend>'",
            r"got (numpy\.ndarray|torch\.Tensor|array_api_strict\.\S*Array)",
        ),
    ),
]


@pytest.mark.parametrize("case", SGD_STEPS, ids=[c[0] for c in SGD_STEPS])
def test_mlp_sgd_step_refuses_bad_arguments(backend, case):
    _, make, bad = case
    net = MLP([F, 3, 1], seed=0, backend=backend)
    before = net.get_weights()
    arguments = make(backend, net, *gradients(net))
    assert_bad(lambda: net.sgd_step(*arguments), bad, backend=backend.name)
    for kept, old in zip(net.get_weights(), before, strict=True):
        np.testing.assert_array_equal(kept, old)  # refused before any update
