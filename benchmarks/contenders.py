"""The contenders: each builds, outside any timing, what one epoch or step needs.

A trainer has ``epoch()`` (shuffle, then one pass in batches) and ``steps(k)`` (k
batch steps on the first samples, no shuffle: for the scaling curves). All use
relu hidden layers, a softmax output, log-loss and plain SGD (no momentum, no L2).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import handwritten
import numpy as np
from common import onehot

import xpnet
from xpnet.maths import network


@dataclass
class Config:
    hidden: tuple[int, ...] = (256, 128)
    batch_size: int = 256
    lr: float = 0.01
    backend: str = "numpy"
    extra: dict = field(default_factory=dict)


def layer_sizes(X: np.ndarray, labels: np.ndarray, cfg: Config) -> list[int]:
    return [X.shape[1], *cfg.hidden, int(labels.max()) + 1]


def step_rows(n_samples: int, batch_size: int, k: int) -> list[slice]:
    """The rows of ``steps(k)``'s batches: consecutive, unshuffled, wrapping round."""
    last = n_samples - batch_size + 1
    return [
        slice(start, start + batch_size)
        for start in ((i * batch_size) % last for i in range(k))
    ]


class NumpyLoop:
    """The hand-written NumPy loop of ``handwritten.py`` (``gather_once``: the
    variant that gathers each shuffled epoch whole, then slices it)."""

    def __init__(self, X, labels, cfg: Config, gather_once: bool = False) -> None:
        sizes = layer_sizes(X, labels, cfg)
        self.X, self.Y = X, onehot(labels, sizes[-1], X.dtype.name)
        self.weights, self.biases = handwritten.init_params(sizes, X.dtype)
        self.cfg, self.rng = cfg, np.random.default_rng(0)
        self.gather_once = gather_once

    def epoch(self) -> None:
        handwritten.train_epoch(
            self.weights,
            self.biases,
            self.X,
            self.Y,
            self.cfg.lr,
            self.cfg.batch_size,
            self.rng,
            self.gather_once,
        )

    def steps(self, k: int) -> None:
        for rows in step_rows(self.X.shape[0], self.cfg.batch_size, k):
            handwritten.sgd_step(
                self.weights, self.biases, self.X[rows], self.Y[rows], self.cfg.lr
            )

    def predict(self, X) -> np.ndarray:
        return handwritten.forward(self.weights, self.biases, X)[-1]


class XpnetNetwork:
    """xpnet's own pieces: MLP parameters, ``network.loss_and_gradients`` with -lr
    folded in (``delta_scale``) and the updates added in place; data on the device
    once, a host permutation per epoch, each batch gathered by ``xp.take`` of its
    rows. What the estimator's loop does with plain SGD, minus its bookkeeping."""

    def __init__(self, X, labels, cfg: Config) -> None:
        sizes = layer_sizes(X, labels, cfg)
        dtype = X.dtype.name
        self.model = xpnet.MLP(
            sizes,
            hidden_activation="relu",
            output_activation="softmax",
            dtype=dtype,
            backend=cfg.backend,
            seed=0,
        )
        self.backend, self.xp = self.model.backend, self.model.xp
        self.X = self.backend.asarray(X, dtype)
        self.Y = self.backend.asarray(onehot(labels, sizes[-1], dtype), dtype)
        self.cfg, self.rng = cfg, np.random.default_rng(0)

    def _step(self, X, Y) -> None:
        model, lr = self.model, self.cfg.lr
        _, grads, _ = network.loss_and_gradients(
            self.xp,
            model.weights,
            model.biases,
            model.activations,
            X,
            Y,
            "log_loss",
            delta_scale=-lr,
        )
        for params, updates in (
            (model.weights, grads.weights),
            (model.biases, grads.biases),
        ):
            for layer, update in enumerate(updates):
                params[layer] += update

    def epoch(self) -> None:
        xp, n, b = self.xp, self.X.shape[0], self.cfg.batch_size
        order = self.backend.asarray(self.rng.permutation(n))
        for start in range(0, n, b):
            rows = order[start : start + b]
            self._step(xp.take(self.X, rows, axis=0), xp.take(self.Y, rows, axis=0))

    def steps(self, k: int) -> None:
        for rows in step_rows(self.X.shape[0], self.cfg.batch_size, k):
            self._step(self.X[rows], self.Y[rows])

    def predict(self, X):
        return self.model.forward(X)


def _estimator_params(labels, cfg: Config) -> dict:
    return dict(
        hidden_layer_sizes=cfg.hidden,
        activation="relu",
        solver="sgd",
        batch_size=cfg.batch_size,
        learning_rate_init=cfg.lr,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        max_iter=1,
        shuffle=True,
        random_state=0,
    )


class EstimatorEpoch:
    """One ``fit(max_iter=1)`` is one epoch (with the estimator's setup included)."""

    def __init__(self, X, labels, cfg: Config) -> None:
        self.X, self.labels, self.cfg = X, labels, cfg
        self.fitted = None

    def make(self):
        raise NotImplementedError

    def epoch(self) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"(?is).*converge.*")
            self.fitted = self.make().fit(self.X, self.labels)

    def predict(self, X):
        if self.fitted is None:
            self.epoch()
        return self.fitted.predict_proba(X)


class XpnetEstimator(EstimatorEpoch):
    """``xpnet.MLPClassifier(solver="sgd", max_iter=1, ...).fit``."""

    def make(self):
        return xpnet.MLPClassifier(
            **_estimator_params(self.labels, self.cfg),
            dtype=self.X.dtype.name,
            backend=self.cfg.backend,
        )


class SklearnEstimator(EstimatorEpoch):
    """scikit-learn's ``MLPClassifier`` with the same settings."""

    def make(self):
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(**_estimator_params(self.labels, self.cfg))


class TorchLoop:
    """PyTorch eager: nn.Sequential, CrossEntropyLoss, autograd, optim.SGD."""

    def __init__(self, X, labels, cfg: Config, device: str = "cpu") -> None:
        import torch

        self.torch = torch
        sizes = layer_sizes(X, labels, cfg)
        torch.manual_seed(0)
        dtype = getattr(torch, X.dtype.name)
        layers: list = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1]).to(device=device, dtype=dtype)
        self.X = torch.from_numpy(np.ascontiguousarray(X)).to(device)
        self.y = torch.from_numpy(labels.astype(np.int64)).to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.lr)
        self.loss = torch.nn.CrossEntropyLoss()
        self.gen = torch.Generator().manual_seed(0)
        self.cfg = cfg

    def _step(self, X, y) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.model(X), y).backward()
        self.opt.step()

    def epoch(self) -> None:
        n, b = self.X.shape[0], self.cfg.batch_size
        order = self.torch.randperm(n, generator=self.gen).to(self.X.device)
        X, y = self.X[order], self.y[order]
        for start in range(0, n, b):
            self._step(X[start : start + b], y[start : start + b])

    def steps(self, k: int) -> None:
        for rows in step_rows(self.X.shape[0], self.cfg.batch_size, k):
            self._step(self.X[rows], self.y[rows])

    def predict(self, X):
        with self.torch.no_grad():
            return self.torch.softmax(self.model(X), dim=1)


def has_xpnet_estimator() -> bool:
    return hasattr(xpnet, "MLPClassifier")


def has_module(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def timed_fit(X, labels, epochs: int, **params):
    """One ``MLPClassifier(**params)`` fit of ``epochs`` epochs (float32, seed 0, no
    early stop), timed from its callbacks: (the first epoch's seconds, with set-up
    and any compile; the later epochs' seconds; ``compiled_``). Why a compiled fit
    ran eagerly (its ``CompileWarning``) goes to stderr."""
    import sys
    import time

    stamps = [time.perf_counter()]
    model = xpnet.MLPClassifier(
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**6,
        dtype="float32",
        random_state=0,
        **params,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # kept; only CompileWarnings are shown
        model.fit(
            X, labels, callbacks=[lambda m, h: stamps.append(time.perf_counter())]
        )
    for said in caught:  # a failed capture, a backend without a compiler, ...
        if said.category.__name__ == "CompileWarning":
            print(f"{params.get('backend')}: {said.message}", file=sys.stderr)
    times = [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]
    return times[0], times[1:], model.compiled_
