"""``MLP``: a network's parameters on one backend, with the maths of ``network.py``.

The research-facing object: build or load weights, run forward, get the loss and the
gradients, take a plain SGD step. Training loops, optimizers and the scikit-learn
style estimators live elsewhere and use this object.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import array_api_compat
import numpy as np

from .backend import Array, Backend, check_dtype, get_backend
from .data.checks import (
    check_layer_sizes,
    check_matrix,
    check_positive,
    check_random_state,
    is_traced,
)
from .data.intake import as_network_targets, host_arrays
from .data.sparse import SparseRows
from .files.messages import brief
from .files.model_file import check_config, layer_parameters, parameter_arrays
from .init import initial_params
from .maths import network
from .maths.activations import Activation, get_activation
from .maths.losses import Loss, get_loss
from .memory import data_size


class MLP:
    """A multi-layer perceptron whose parameters live on a backend.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from inputs to outputs, e.g. ``[4, 3, 2, 1]`` for the seed's network.
    hidden_activation, output_activation : str
        ``identity``, ``sigmoid`` (alias ``logistic``), ``tanh``, ``relu``, ``softmax``.
    bias : bool
        Whether layers have biases.
    init : str
        ``glorot_uniform`` (scikit-learn's), ``seed_normal`` (the seed's
        ``normal(0, fan_in**-0.5)``) or ``he_normal``.
    dtype : str
        ``float32`` or ``float64``.
    backend : str or Backend, optional
        See :func:`xpnet.get_backend`; default ``$XPNET_BACKEND`` or ``numpy``.
    seed : int, optional
        Seed of the host NumPy generator that draws the initial weights.

    Attributes
    ----------
    weights : list of arrays on the backend, ``weights[l]`` (fan_in, fan_out)
    biases : list of arrays (fan_out,), or None without biases
    """

    def __init__(
        self,
        layer_sizes: Any,
        *,
        hidden_activation: str = "relu",
        output_activation: str = "identity",
        bias: bool = True,
        init: str = "glorot_uniform",
        dtype: str = "float32",
        backend: str | Backend | None = None,
        seed: int | None = None,
    ) -> None:
        sizes = check_layer_sizes(layer_sizes)
        hidden, output = _activation_pair(hidden_activation, output_activation)
        acts = [hidden] * (len(sizes) - 2) + [output]
        check_random_state(seed, "seed")
        weights, biases = initial_params(sizes, [a.name for a in acts], init, seed)
        self._setup(weights, biases if bias else None, acts, dtype, backend)

    @classmethod
    def from_weights(
        cls,
        weights: list[Any],
        biases: list[Any] | None = None,
        *,
        hidden_activation: str = "relu",
        output_activation: str = "identity",
        dtype: str = "float32",
        backend: str | Backend | None = None,
    ) -> MLP:
        """A network with the given weights, each (fan_in, fan_out) as in the seed.

        ``weights`` (and ``biases``, a list of (fan_out,) arrays, or None for a
        network without them) are host data or arrays of ``backend``; they must be
        real and finite.
        """
        backend = get_backend(backend)
        host_w = host_arrays(backend, weights, "weights")
        host_b = None if biases is None else host_arrays(backend, biases, "biases")
        _check_weight_shapes(host_w, host_b)
        hidden, output = _activation_pair(hidden_activation, output_activation)
        acts = [hidden] * (len(host_w) - 1) + [output]
        net = cls.__new__(cls)
        net._setup(host_w, host_b, acts, dtype, backend)
        return net

    @classmethod
    def on_device(
        cls,
        weights: list[Array],
        biases: list[Array] | None,
        activations: list[Activation],
        dtype: str,
        backend: Backend,
    ) -> MLP:
        """A network over parameters already on ``backend`` in ``dtype``, held as
        they are (not copied, not checked: the caller checked them). The estimators
        hold their parameters so (:mod:`xpnet.estimators.fitted`)."""
        net = cls.__new__(cls)
        net.backend, net.dtype, net.activations = backend, dtype, activations
        net.layer_sizes = [int(weights[0].shape[0])] + [
            int(w.shape[1]) for w in weights
        ]
        net.weights, net.biases = weights, biases
        return net

    def _setup(
        self,
        weights: list[np.ndarray],
        biases: list[np.ndarray] | None,
        activations: list[Activation],
        dtype: str,
        backend: str | Backend | None,
    ) -> None:
        self.backend = get_backend(backend)
        self.dtype = check_dtype(dtype)
        self.activations = activations
        self.layer_sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
        self.weights = [self.backend.asarray(w, self.dtype) for w in weights]
        self.biases = (
            None
            if biases is None
            else [self.backend.asarray(b, self.dtype) for b in biases]
        )

    def __repr__(self) -> str:
        acts = [a.name for a in self.activations]
        return (
            f"MLP(layer_sizes={self.layer_sizes}, activations={acts}, "
            f"bias={self.biases is not None}, dtype={self.dtype!r}, "
            f"backend={self.backend.name!r})"
        )

    @property
    def xp(self) -> Any:
        """The backend's array namespace."""
        return self.backend.xp

    def forward(self, X: Any, *, check_finite: bool = True) -> Array:
        """The network's output (n_samples, n_outputs) as an array of the backend.

        ``check_finite=False`` skips the NaN/inf check of X when X is already an
        array of the backend (the check waits for the device; host data is always
        checked).
        """
        with self._on_device(X):
            return self.outputs(self._inputs(X, check_finite))

    def outputs(self, X: Array | SparseRows) -> Array:
        """The network's output (n_samples, n_outputs) for X as the intake gives it
        (:func:`xpnet.data.as_features`): an array of the backend in the network's
        dtype, not checked again, or sparse rows, run chunk by chunk."""
        return outputs(self.xp, self.weights, self.biases, self.activations, X)

    def loss_and_gradients(
        self,
        X: Any,
        y: Any,
        loss: str | Loss = "squared_error",
        *,
        check_finite: bool = True,
    ) -> tuple[float, list[Array], list[Array] | None]:
        """Loss (a Python float) and batch-mean gradients for (X, y).

        ``check_finite=False`` skips the NaN/inf checks of X and y when they are
        arrays of the backend already: in a loop over device batches, the only wait
        for the device is then the loss read back as a float.

        Under ``jax.jit`` (X a tracer) the loss is a 0-d array: a compiled function
        cannot read it back to the host.

        Returns
        -------
        loss : float
        weight_grads : list of arrays, each shaped like its weight (fan_in, fan_out)
        bias_grads : list of arrays (fan_out,), or None without biases
        """
        value, grads, _ = self.backprop(X, y, loss, check_finite=check_finite)
        if is_traced(value):  # under jax.jit: the loss stays a 0-d array
            return value, grads.weights, grads.biases
        with self._on_device(X):
            return float(value), grads.weights, grads.biases

    def backprop(
        self,
        X: Any,
        y: Any,
        loss: str | Loss = "squared_error",
        *,
        keep_all: bool = False,
        check_finite: bool = True,
    ) -> tuple[Array, network.Gradients, network.ForwardPass]:
        """One full forward and backward pass, returning what the maths computed.

        With ``keep_all`` the forward pass keeps every layer's input and the gradients
        keep every layer's error and error term (what the walkthrough prints).
        ``check_finite`` as in :meth:`loss_and_gradients`.
        """
        found = get_loss(loss, self.activations[-1])
        with self._on_device(X):
            X = self._inputs(X, check_finite)
            y = self._targets(y, X.shape[0], check_finite)
            return network.loss_and_gradients(
                self.xp,
                self.weights,
                self.biases,
                self.activations,
                X,
                y,
                found,
                keep_errors=keep_all,
            )

    def _on_device(self, X: Any) -> AbstractContextManager[None]:
        """The backend's device context; out of memory raised as DeviceMemoryError."""
        return self.backend.on_device(
            lambda: (
                f"X {data_size(X, self.dtype)} with layer sizes "
                f"{self.layer_sizes} does not fit at once; pass fewer rows per call"
            )
        )

    def sgd_step(
        self, weight_grads: list[Array], bias_grads: list[Array] | None, lr: float
    ) -> None:
        """The plain update ``w -= lr * g`` for every weight (and bias), in place."""
        lr = check_positive(lr, "lr")
        self._check_grads(weight_grads, self.weights, "weight_grads")
        if self.biases is not None:  # all checked before anything changes
            self._check_grads(bias_grads, self.biases, "bias_grads")
        with self.backend.context():
            for layer, grad in enumerate(weight_grads):
                self.weights[layer] -= lr * grad
            if self.biases is not None and bias_grads is not None:
                for layer, grad in enumerate(bias_grads):
                    self.biases[layer] -= lr * grad

    def get_weights(self) -> list[np.ndarray]:
        """Host NumPy copies of the weights, ``[l]`` shaped (fan_in, fan_out)."""
        return [np.array(self.backend.to_numpy(w)) for w in self.weights]

    def get_biases(self) -> list[np.ndarray] | None:
        """Host NumPy copies of the biases, or None for a network without them."""
        if self.biases is None:
            return None
        return [np.array(self.backend.to_numpy(b)) for b in self.biases]

    def _export(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Configuration and host parameters for :func:`xpnet.save`."""
        config = {
            "kind": "MLP",
            "layer_sizes": [int(size) for size in self.layer_sizes],
            "activations": [activation.name for activation in self.activations],
            "bias": self.biases is not None,
            "dtype": self.dtype,
        }
        return config, parameter_arrays(self.get_weights(), self.get_biases())

    @classmethod
    def _import(
        cls, config: dict[str, Any], arrays: dict[str, np.ndarray], backend: Backend
    ) -> MLP:
        """The network :meth:`_export` described, on ``backend``; ValueError or
        TypeError naming the problem when config and arrays do not fit together."""
        check_config(config, ("kind", "layer_sizes", "activations", "bias", "dtype"))
        sizes = check_layer_sizes(config["layer_sizes"])
        names, bias, dtype = config["activations"], config["bias"], config["dtype"]
        if not isinstance(names, list) or len(names) != len(sizes) - 1:
            raise ValueError(
                f"activations must be a list of {len(sizes) - 1} names, one per "
                f"layer; got {brief(names)}"
            )
        if not all(isinstance(name, str) for name in names):
            raise TypeError(f"activations must be names; got {brief(names)}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be true or false; got {brief(bias)}")
        if not isinstance(dtype, str):
            raise TypeError(f"dtype must be a name; got {brief(dtype)}")
        dtype = check_dtype(dtype)
        acts = [
            get_activation(name, f"activations[{layer}]")
            for layer, name in enumerate(names)
        ]
        weights, biases = layer_parameters(arrays, sizes, bias, dtype)
        net = cls.__new__(cls)
        net._setup(weights, biases, acts, dtype, backend)
        return net

    def _inputs(self, X: Any, check_finite: bool = True) -> Array:
        return check_matrix(
            self.backend,
            X,
            "X",
            self.dtype,
            n_columns=self.layer_sizes[0],
            check_finite=check_finite,
        )

    def _targets(self, y: Any, n_samples: int, check_finite: bool = True) -> Array:
        return as_network_targets(
            self.backend,
            y,
            self.dtype,
            n_outputs=self.layer_sizes[-1],
            n_samples=n_samples,
            check_finite=check_finite,
        )

    def _check_grads(self, grads: Any, params: list[Array], name: str) -> None:
        if grads is None or len(grads) != len(params):
            raise ValueError(
                f"{name} must be a list of {len(params)} arrays, one per layer; got "
                f"{type(grads).__name__}"
                + ("" if grads is None else f" of length {len(grads)}")
            )
        for layer, (grad, param) in enumerate(zip(grads, params, strict=True)):
            if not self.backend.owns(grad):
                raise TypeError(
                    f"{name}[{layer}] must be an array of backend "
                    f"{self.backend.name!r} on device {self.backend.device}; "
                    f"got {type(grad).__module__}.{type(grad).__name__}"
                    + _device_of(grad)
                )
            if tuple(grad.shape) != tuple(param.shape):
                raise ValueError(
                    f"{name}[{layer}] must have shape {tuple(param.shape)}; got "
                    f"{tuple(grad.shape)}"
                )


def outputs(
    xp: Any,
    weights: list[Array],
    biases: list[Array] | None,
    activations: list[Activation],
    X: Array | SparseRows,
) -> Array:
    """:func:`xpnet.maths.network.predict` of X as the intake gives it: an array
    of the backend, or sparse rows chunk by chunk (:meth:`MLP.outputs`; the
    training loop's validation score runs it over the run's parameters)."""
    if isinstance(X, SparseRows):
        return X.map_batches(
            lambda batch: network.predict(xp, weights, biases, activations, batch)
        )
    return network.predict(xp, weights, biases, activations, X)


def _activation_pair(hidden: Any, output: Any) -> tuple[Activation, Activation]:
    return (
        get_activation(hidden, "hidden_activation"),
        get_activation(output, "output_activation"),
    )


def _device_of(array: Any) -> str:
    try:
        return f" on device {array_api_compat.device(array)}"
    except (TypeError, AttributeError, ValueError):
        return ""


def _check_weight_shapes(
    weights: list[np.ndarray], biases: list[np.ndarray] | None
) -> None:
    if not weights:
        raise ValueError(
            "weights must hold at least one (fan_in, fan_out) matrix; got []"
        )
    for layer, w in enumerate(weights):
        if w.ndim != 2 or 0 in w.shape:
            raise ValueError(
                f"weights[{layer}] must be a non-empty 2-D (fan_in, fan_out) array; "
                f"got shape {w.shape}"
            )
        if layer and w.shape[0] != weights[layer - 1].shape[1]:
            raise ValueError(
                f"weights[{layer}] must have {weights[layer - 1].shape[1]} rows to "
                f"follow weights[{layer - 1}] {weights[layer - 1].shape}; got {w.shape}"
            )
    if biases is None:
        return
    if len(biases) != len(weights):
        raise ValueError(
            f"biases must hold {len(weights)} arrays, one per layer; got {len(biases)}"
        )
    for layer, (b, w) in enumerate(zip(biases, weights, strict=True)):
        if b.shape != (w.shape[1],):
            raise ValueError(
                f"biases[{layer}] must have shape ({w.shape[1]},); got {b.shape}"
            )
