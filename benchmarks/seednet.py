"""Per-step overhead on the seed notebook's 4-3-2-1 network.

Sigmoid hidden layers, identity output, no biases, squared error, one sample per
step, float64, weights ``normal(0, fan_in**-0.5)``: the notebook's own setting.
Each builder returns ``run(k)``, which takes k forward + backward + update steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import xpnet
from xpnet.maths import network

SIZES = [4, 3, 2, 1]
X = np.array([[0.5, -0.2, 0.1, 0.3]])
Y = np.array([[0.4]])
LR = 0.5


def initial_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        rng.normal(0.0, fan_in**-0.5, (fan_in, fan_out))
        for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:], strict=True)
    ]


def raw_numpy() -> Callable[[int], None]:
    """The notebook's step written out in NumPy, as a reader of it would loop it."""
    w1, w2, w3 = initial_weights()
    x, y = X[0], Y[0]

    def run(k: int) -> None:
        nonlocal w1, w2, w3
        for _ in range(k):
            h1 = 1 / (1 + np.exp(-np.dot(x, w1)))
            h2 = 1 / (1 + np.exp(-np.dot(h1, w2)))
            out = np.dot(h2, w3)
            e3 = y - out
            e2 = np.dot(e3, w3.T) * h2 * (1 - h2)
            e1 = np.dot(e2, w2.T) * h1 * (1 - h1)
            w3 += LR * e3 * h2[:, None]
            w2 += LR * e2 * h1[:, None]
            w1 += LR * e1 * x[:, None]

    return run


def _xpnet_model(backend: str) -> xpnet.MLP:
    return xpnet.MLP.from_weights(
        initial_weights(),
        None,
        hidden_activation="sigmoid",
        output_activation="identity",
        dtype="float64",
        backend=backend,
    )


def xpnet_network(backend: str = "numpy") -> Callable[[int], None]:
    """The step xpnet's training loop takes with plain SGD: ``-lr`` folded into
    ``network.loss_and_gradients`` (``delta_scale``), then ``w += g`` in place."""
    model = _xpnet_model(backend)
    xp, weights, acts = model.xp, model.weights, model.activations
    Xd, Yd = model.backend.asarray(X, "float64"), model.backend.asarray(Y, "float64")

    def run(k: int) -> None:
        for _ in range(k):
            _, grads, _ = network.loss_and_gradients(
                xp, weights, None, acts, Xd, Yd, "squared_error", delta_scale=-LR
            )
            for layer, update in enumerate(grads.weights):
                weights[layer] += update

    return run


def xpnet_mlp(backend: str = "numpy") -> Callable[[int], None]:
    """The research API: ``MLP.loss_and_gradients`` then ``MLP.sgd_step``, with
    their argument checks, from host arrays."""
    model = _xpnet_model(backend)

    def run(k: int) -> None:
        for _ in range(k):
            _, weight_grads, bias_grads = model.loss_and_gradients(X, Y)
            model.sgd_step(weight_grads, bias_grads, LR)

    return run


def torch_autograd() -> Callable[[int], None]:
    """torch eager: nn.Sequential without biases, autograd, optim.SGD."""
    import torch

    layers: list = []
    for W in initial_weights():
        linear = torch.nn.Linear(*W.shape, bias=False).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T))
        layers += [linear, torch.nn.Sigmoid()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = torch.from_numpy(X), torch.from_numpy(Y)

    def run(k: int) -> None:
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            loss = 0.5 * ((model(x) - y) ** 2).sum()
            loss.backward()
            opt.step()

    return run
