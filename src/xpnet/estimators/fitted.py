"""The estimators' fitted state: host ``coefs_``/``intercepts_`` and history,
their device copies (an :class:`xpnet.MLP`, whose forward pass predicts), the
optimizer, and X's recorded features.

``coefs_`` and ``intercepts_`` stay plain host attributes (scikit-learn's: set by
hand, edited in place, found by ``check_is_fitted``, pickled as they are); a fit or a
prediction builds the network from them on its backend (:meth:`FittedState._network`)
and a fit copies its weights back.

A mixin of :class:`~xpnet.estimators.base.MLPBase` (:class:`FittedState`).
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import Array, Backend, check_dtype, get_backend
from ..data import Seen, as_features
from ..data.namespace import to_host
from ..init import glorot_layers
from ..maths import losses
from ..maths.activations import layer_activations
from ..maths.optim import Optimizer, new_optimizer
from ..mlp import MLP
from ..training.loop import FitState, History, Run, Settings

if TYPE_CHECKING:
    from .fit import FitData


class FittedState:
    """Parameters, history and features of a fitted estimator (a mixin of
    MLPBase)."""

    _optimizer: Optimizer | None
    _best_params_host: list[np.ndarray] | None

    def _store(self: Any, run: Run) -> None:
        """Copy the run's weights and history onto the estimator (host NumPy)."""
        self.__dict__.pop("_live_run", None)
        self._store_params(run)
        self._set_history(run.state.history)
        self._optimizer = run.state.optimizer
        if run.state.best_params is not None:
            self._best_params_host = _to_host(run.backend, run.state.best_params)

    def _store_params(self: Any, run: Run) -> None:
        """``coefs_`` and ``intercepts_`` as copies of the run's parameters: host
        NumPy, or in X's namespace and device where the fit followed X."""
        params = _to_host(run.backend, run.state.params)
        if self.__dict__.get("_follows"):
            params = [run.backend.asarray(p) for p in params]
        n_layers = len(run.activations)
        self.coefs_, self.intercepts_ = params[:n_layers], params[n_layers:]

    def _fitted_backend(self: Any) -> Backend:
        """The fit's backend: X's where the fit followed X, else the ``backend``
        parameter's (``$XPNET_BACKEND`` or NumPy when None)."""
        if not self.__dict__.get("_follows"):
            return get_backend(self.backend)
        return get_backend(self._backend_name)

    def _model_dtype(self: Any) -> str:
        """The dtype of the weights: the fit's, else the parameter's, else float64."""
        dtype = self.__dict__.get("dtype_", self.dtype)
        if dtype in ("float32", "float64"):  # the fit's, checked when it was set
            return str(dtype)
        return check_dtype("float64" if dtype is None else dtype)

    @property
    def _fit_array(self: Any) -> Any:
        """The first weight matrix: what ``check_same_namespace`` compares X with."""
        return self.coefs_[0]

    def _set_history(self: Any, h: History) -> None:
        """The history as scikit-learn's attributes (``loss_curve_``, ``t_``, ...)."""
        self.loss_curve_ = h.loss_curve
        self.loss_ = h.loss_curve[-1] if h.loss_curve else None
        self.validation_scores_ = h.validation_scores
        self.best_loss_ = h.best_loss
        self.best_validation_score_ = h.best_validation_score
        self._no_improvement_count = h.no_improvement_count
        self.n_iter_ = h.n_iter
        self.t_ = h.t
        self.epoch_paths_ = h.epoch_paths

    def _history(self: Any) -> History:
        # Attributes set by hand (scikit-learn's test_fit) may leave some out.
        # Copies: a run appends to its history, and a failed fit must leave these.
        scores = self.__dict__.get("validation_scores_")
        return History(
            loss_curve=list(self.loss_curve_),
            validation_scores=None if scores is None else list(scores),
            best_loss=self.best_loss_,
            best_validation_score=self.__dict__.get("best_validation_score_"),
            no_improvement_count=self._no_improvement_count,
            n_iter=self.n_iter_,
            t=self.t_,
            epoch_paths=list(self.__dict__.get("epoch_paths_", [])),
        )

    def _initialize(self: Any, rng: np.random.Generator, sizes: list[int]) -> None:
        """Fresh Glorot weights of these layer ``sizes`` (drawn as scikit-learn does)
        and an empty history."""
        self.coefs_, self.intercepts_ = glorot_layers(rng, sizes, self.activation)
        self._optimizer = None
        self._best_params_host = None
        self._set_history(History.fresh(bool(self.early_stopping)))

    def _new_run(
        self: Any,
        backend: Backend,
        data: FitData,
        settings: Settings,
        rng: np.random.Generator,
        incremental: bool,
        fresh: list[int] | None = None,
    ) -> Run:
        """The run over ``data`` from the estimator's parameters and history: fresh
        ones of these hidden widths (:meth:`_initialize`, drawn from ``rng``) when
        ``fresh`` is not None."""
        if fresh is not None:
            self._initialize(rng, [data.X.shape[1], *fresh, data.Y.shape[1]])
        rng_split = dict(rng.bit_generator.state)
        history = self._history()
        history.n_iter = 0
        if history.best_loss is None and not self.early_stopping:
            history.best_loss = math.inf  # warm start after a fit with early stopping
        with backend.on_device(lambda: _network_message(self)):
            net = self._network(backend)
            params = [*net.weights, *net.biases]
            optimizer = self.__dict__.get("_optimizer")
            if not incremental or optimizer is None:
                optimizer = self._new_optimizer(backend, params)
            else:  # the run changes a copy: a failed fit keeps the estimator's
                optimizer = _copied(backend, optimizer)
        weights, loss = data.weights, losses.LOSSES[self._loss]
        return Run(
            backend=backend,
            activations=net.activations,
            loss=loss,
            loss_scale=1.0 / data.Y.shape[1] if loss.per_output else 1.0,
            state=FitState(params, optimizer, history, rng, rng_split),
            X=data.X,
            Y=data.Y,
            settings=settings,
            host_sample_weight=None if weights is None else weights.host,
            sample_weight=None if weights is None else weights.device,
            blocks=data.blocks,
        )

    def _network(self: Any, backend: Backend) -> MLP:
        """The estimator's network on ``backend``: ``coefs_`` and ``intercepts_``
        (shapes checked) copied onto the device in the model's dtype, with the
        layers' activations."""
        if len(self.intercepts_) != len(self.coefs_) or not self.coefs_:
            raise ValueError(
                f"coefs_ and intercepts_ must hold one array per layer; got "
                f"{len(self.coefs_)} and {len(self.intercepts_)}"
            )
        sizes = [self.n_features_in_] + [np.shape(c)[-1] for c in self.coefs_]
        fans = list(zip(sizes[:-1], sizes[1:], strict=True))
        dtype = self._model_dtype()
        coefs = [
            _host_param(array, f"coefs_[{layer}]", fan, dtype)
            for layer, (array, fan) in enumerate(zip(self.coefs_, fans, strict=True))
        ]
        intercepts = [
            _host_param(array, f"intercepts_[{layer}]", fan[1:], dtype)
            for layer, (array, fan) in enumerate(
                zip(self.intercepts_, fans, strict=True)
            )
        ]
        params, n_layers = _to_device(backend, coefs + intercepts), len(coefs)
        activations = layer_activations(
            self.activation, self.out_activation_, n_layers - 1
        )
        return MLP.on_device(
            params[:n_layers], params[n_layers:], activations, dtype, backend
        )

    def _new_optimizer(self: Any, backend: Backend, params: list[Array]) -> Optimizer:
        return new_optimizer(self.solver, backend.xp, params, self.__dict__)

    def _features(
        self: Any,
        X: Any,
        backend: Backend,
        dtype: str,
        *,
        reset: bool,
        dask_rows: tuple[Any, ...] = (),
    ) -> Any:
        """X through the intake (:func:`xpnet.data.as_features`): checked against
        what the fit saw unless ``reset``, which records it. Another library's array
        is copied over the host first; Dask input (X, or ``dask_rows``: y and the
        weights) stays a lazy Dask array."""
        features = as_features(
            X,
            backend,
            dtype,
            seen=None if reset else self._seen(),
            scaling=self.__dict__.get("standardization_"),
            dask_rows=dask_rows,
        )
        if reset:
            self._record(features.names, features.n_features)
        return features.data

    def _seen(self: Any) -> Seen:
        """What the fit recorded of X (feature count and names)."""
        return Seen(
            self.n_features_in_,
            self.__dict__.get("feature_names_in_"),
            type(self).__name__,
        )

    def _record(self: Any, names: np.ndarray | None, n_features: int) -> None:
        """Keep X's feature count and names (``n_features_in_``,
        ``feature_names_in_``) as a first fit does."""
        if names is not None:
            self.feature_names_in_ = names
        elif "feature_names_in_" in self.__dict__:
            del self.feature_names_in_
        self.n_features_in_ = n_features


def _copied(backend: Backend, optimizer: Optimizer) -> Optimizer:
    """``optimizer`` with its own copy of its state buffers."""
    copied = copy.copy(optimizer)
    copied.buffers = {
        name: backend.xp.asarray(buffer, copy=True)
        for name, buffer in optimizer.buffers.items()
    }
    return copied


def _host_param(
    array: Any, name: str, shape: tuple[int, ...], dtype: str
) -> np.ndarray:
    """One of ``coefs_``/``intercepts_`` checked against ``shape``, in ``dtype``."""
    host = array if isinstance(array, np.ndarray) else np.asarray(to_host(array))
    if host.shape != shape or host.dtype.kind not in "fiu":
        raise ValueError(
            f"{name} must be a real array of shape {shape}; got {host.dtype} of shape "
            f"{host.shape}"
        )
    return np.array(host, dtype=dtype)


def _to_device(backend: Backend, hosts: list[np.ndarray]) -> list[Array]:
    """Host arrays of one dtype on the device, in one copy (cut into views)."""
    vector = backend.asarray(np.concatenate([h.reshape(-1) for h in hosts]))
    xp, out, start = backend.xp, [], 0
    for host in hosts:
        out.append(xp.reshape(vector[start : start + host.size], host.shape))
        start += host.size
    return out


def _to_host(backend: Backend, params: list[Array]) -> list[np.ndarray]:
    """Device arrays of one dtype as host NumPy copies, in one copy."""
    xp = backend.xp
    vector = xp.concat([xp.reshape(p, (-1,)) for p in params])
    flat = np.asarray(backend.to_numpy(vector))
    out, start = [], 0
    for p in params:
        shape = tuple(int(n) for n in p.shape)
        size = int(np.prod(shape))
        out.append(flat[start : start + size].reshape(shape).copy())
        start += size
    return out


def _network_message(model: Any) -> str:
    widths = [int(np.shape(c)[-1]) for c in model.coefs_]
    n_weights = sum(int(np.size(c)) for c in model.coefs_)
    return (
        f"the network does not fit: layer widths {widths} ({n_weights:,} weights); "
        "use narrower layers"
    )
