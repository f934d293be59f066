"""Arrays on another device of the model's own library are refused, by name, at every
boundary of :class:`xpnet.MLP` (the estimators move them: tests/estimators/
test_array_api.py).
"""

from __future__ import annotations

import pytest
from bad_inputs import (
    ESTIMATORS,
    Bad,
    F,
    W,
    X,
    Y,
    assert_bad,
    fitted,
    fresh,
    gradients,
    partial_fit,
)

import xpnet
from xpnet import MLP
from xpnet.testing.plugin import selected_backends

# ---- arrays on another device of the model's own library ----------------------------

DEVICE_PAIRS = [
    ("array_api_strict", "array_api_strict:device1"),
    ("array_api_strict:device1", "array_api_strict"),
    ("torch", "torch:cuda"),
    ("torch:cuda", "torch"),
    ("cupy", "cupy:1"),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device_pair" in metafunc.fixturenames:
        chosen = selected_backends(metafunc.config)
        pairs = [pair for pair in DEVICE_PAIRS if pair[0] in chosen]
        metafunc.parametrize("device_pair", pairs, ids=["-".join(p) for p in pairs])


DEVICE_CALLS = [
    ("reg.fit X", lambda m, net, on: m["reg"]().fit(on(X), Y["reg"])),
    ("reg.fit y", lambda m, net, on: m["reg"]().fit(X, on(Y["reg"]))),
    ("clf.partial_fit X", lambda m, net, on: partial_fit(m["clf"](), on(X), Y["clf"])),
    ("clf.partial_fit y", lambda m, net, on: partial_fit(m["clf"](), X, on(Y["clf"]))),
    ("reg.predict", lambda m, net, on: m["reg fitted"]().predict(on(X))),
    ("clf.predict_proba", lambda m, net, on: m["clf fitted"]().predict_proba(on(X))),
    ("clf.score X", lambda m, net, on: m["clf fitted"]().score(on(X), Y["clf"])),
    ("reg.score y", lambda m, net, on: m["reg fitted"]().score(X, on(Y["reg"]))),
    ("MLP.forward", lambda m, net, on: net.forward(on(X))),
    (
        "MLP.loss_and_gradients X",
        lambda m, net, on: net.loss_and_gradients(on(X), Y["reg"]),
    ),
    (
        "MLP.loss_and_gradients y",
        lambda m, net, on: net.loss_and_gradients(X, on(Y["reg"])),
    ),
    (
        "MLP.from_weights",
        lambda m, net, on: MLP.from_weights([on(W[0]), W[1]], backend=net.backend),
    ),
]


# The estimators compute where their backend is and answer on X's device (issue 22).
MLP_CALLS = [call for call in DEVICE_CALLS if call[0].startswith("MLP")]


@pytest.mark.xpnet_backend
@pytest.mark.parametrize("call", MLP_CALLS, ids=[c[0] for c in MLP_CALLS])
def test_arrays_on_another_device_are_refused(device_pair, call):
    try:
        model_backend, other = (xpnet.get_backend(spec) for spec in device_pair)
    except xpnet.BackendError as exc:
        pytest.skip(f"needs backends {device_pair}: {exc}")
    models = {
        kind: (lambda kind=kind: fresh(kind, model_backend)) for kind in ESTIMATORS
    } | {
        f"{kind} fitted": (lambda kind=kind: fitted(kind, model_backend))
        for kind in ESTIMATORS
    }
    net = MLP([F, 3, 1], seed=0, backend=model_backend)
    bad = Bad(ValueError, r"\b(X|y)\b|weights\[0\]", r"model is on", r"is on device")
    assert_bad(lambda: call[1](models, net, other.asarray), bad)


@pytest.mark.xpnet_backend
def test_gradients_on_another_device_are_refused(device_pair):
    try:
        model_backend, other = (xpnet.get_backend(spec) for spec in device_pair)
    except xpnet.BackendError as exc:
        pytest.skip(f"needs backends {device_pair}: {exc}")
    net = MLP([F, 3, 1], seed=0, backend=model_backend)
    weight_grads, bias_grads = gradients(net)
    moved = [other.asarray(model_backend.to_numpy(g)) for g in weight_grads]
    bad = Bad(
        TypeError,
        r"weight_grads\[0\]",
        r"on device <device>",
        r"on device <other>",
    )
    assert_bad(
        lambda: net.sgd_step(moved, bias_grads, 0.1),
        bad,
        device=str(model_backend.device),
        other=str(other.device),
    )
