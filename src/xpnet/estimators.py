"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's MLPs on any array backend.

Parameters, attributes and solvers follow ``sklearn.neural_network`` (``sgd`` and
``adam``; scikit-learn's update rules, schedules, L2 form and stopping rules), plus
``backend`` and ``dtype``. scikit-learn is not needed: ``get_params``/``set_params``
are written here and ``__sklearn_tags__`` imports it only when scikit-learn asks.

Data moves to the device once per ``fit``; ``coefs_`` and ``intercepts_`` are host
NumPy copies, synchronised after every fit (set them, then fit with ``warm_start``, to
continue from them).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence
from typing import Any

import array_api_compat
import numpy as np

from . import labels as _labels
from . import network
from .activations import get_activation
from .backend import Array, Backend, check_dtype, get_backend
from .estimator_api import EstimatorAPI, not_fitted
from .init import glorot_uniform
from .io import check_config, layer_parameters, parameter_arrays
from .optim import OPTIMIZERS, SCHEDULES, Optimizer
from .train import (
    DivergenceError,
    History,
    Run,
    Settings,
    batch_size_for,
    host_rng,
    stratified_split,
    train,
)
from .validation import (
    check_choice,
    check_hidden_sizes,
    check_int,
    check_layer_sizes,
    check_matrix,
    check_random_state,
    check_real,
    host_features,
    host_matrix,
)

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
Callback = Callable[[Any, History], Any]


class _MLPBase(EstimatorAPI):
    """What both estimators share: parameters, the fit driver, prediction, state."""

    _loss = "squared_error"

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        backend: str | Backend | None = None,
        dtype: str = "float32",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.dtype = dtype

    def __getstate__(self) -> dict[str, Any]:
        # Copying (e.g. joblib in GridSearchCV) needs host data only: the optimizer's
        # device state travels as NumPy arrays.
        state = self.__dict__.copy()
        optimizer = state.pop("_optimizer", None)
        if optimizer is not None:
            backend = get_backend(self.backend)
            state["_optimizer_host"] = (
                optimizer.kind,
                optimizer.scalars(),
                {
                    k: [backend.to_numpy(a) for a in v]
                    for k, v in optimizer.state.items()
                },
            )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_optimizer_host", None)
        self.__dict__.update(state)
        if saved is not None:
            backend = get_backend(self.backend)
            params = self._device_params(backend)
            self._optimizer = self._new_optimizer(backend, params)
            _kind, scalars, host = saved
            self._optimizer.load(
                scalars,
                {k: [backend.asarray(a) for a in v] for k, v in host.items()},
            )

    # ---- fitting ---------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        callbacks: Sequence[Callback] | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        resume_from: str | os.PathLike | None = None,
    ) -> _MLPBase:
        """Train on (X, y) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Host data (NumPy, lists) or an array of this estimator's backend.
        y : array of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier; a 0/1 indicator matrix for multilabel) or
            targets (regressor).
        callbacks : sequence, optional
            Callables ``callback(model, history)``, or objects with a method
            ``on_epoch_end(model, history)``, called after every epoch with this
            estimator (``coefs_`` and ``loss_curve_`` up to date) and the live
            :class:`History` (read it, do not change it). Returning True stops
            training after that epoch (early stopping still restores the best
            weights; no ConvergenceWarning).
        checkpoint : path, optional
            Where to write checkpoints (atomically: a temporary file, then
            ``os.replace``). A checkpoint holds the weights, the optimizer state, the
            random generator's state, the history and the position in the epoch.
        checkpoint_every : int, optional
            Steps (minibatches) between checkpoints; default: one epoch's steps.
        resume_from : path, optional
            A checkpoint written by ``fit(..., checkpoint=...)`` on the same data and
            parameters: training continues from it exactly as the interrupted run
            would have (same weights, optimizer, shuffles and stopping).

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            The loss or the weights became NaN or inf; the model keeps the weights of
            the last good epoch.
        DeviceMemoryError
            The device ran out of memory (the message names batch and data sizes).
        KeyboardInterrupt
            Re-raised after the running step: the model holds the weights and
            history of the last completed step (and can be fitted further).
        """
        return self._fit(
            X,
            y,
            incremental=False,
            callbacks=callbacks,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume_from=resume_from,
        )

    def _fit(
        self,
        X: Any,
        y: Any,
        *,
        incremental: bool,
        classes: Any = None,
        callbacks: Sequence[Callback] | None = None,
        checkpoint: Any = None,
        checkpoint_every: int | None = None,
        resume_from: Any = None,
    ) -> _MLPBase:
        settings = self._checked_params()
        settings.incremental = incremental
        backend, dtype = get_backend(self.backend), check_dtype(self.dtype)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        saved = None
        if resume_from is not None:
            from .checkpoint import read_checkpoint

            saved = read_checkpoint(resume_from, self)
        first_pass = saved is None and (
            not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        )
        X_dev = self._device_X(X, backend, dtype, reset=first_pass)
        Y_host = self._targets(y, X_dev.shape[0], first_pass, incremental, classes)
        rng = host_rng(self.random_state)
        if first_pass:
            self._initialize(rng, X_dev.shape[1], Y_host.shape[1])
        if saved is not None:
            rng.bit_generator.state = saved["rng_split"]
        rng_split = rng.bit_generator.state
        history = self._history()
        history.n_iter = 0
        if history.best_loss is None and not self.early_stopping:
            history.best_loss = math.inf  # warm start after a fit with early stopping
        params = self._device_params(backend)
        if not incremental or getattr(self, "_optimizer", None) is None:
            self._optimizer = self._new_optimizer(backend, params)
        Y_dev = backend.asarray(Y_host, dtype)
        run = Run(
            backend=backend,
            activations=self._activations(),
            loss=self._loss,
            loss_scale=1.0 / Y_host.shape[1] if self._loss == "squared_error" else 1.0,
            params=params,
            optimizer=self._optimizer,
            X=X_dev,
            Y=Y_dev,
            settings=settings,
            history=history,
            rng=rng,
        )
        if self.early_stopping:
            self._hold_out(run, rng, Y_host)
        run.settings.batch_size = batch_size_for(self.batch_size, run.X.shape[0])
        if saved is not None:
            from .checkpoint import restore_run

            restore_run(saved, run)
        if callbacks:
            run.on_epoch_end = self._callback_runner(list(callbacks), run)
        if checkpoint is not None:
            from .checkpoint import checkpoint_writer

            run.checkpoint = checkpoint_writer(checkpoint, self, rng_split)
            run.checkpoint_every = _checked_every(
                checkpoint_every, run.X.shape[0], run.settings.batch_size
            )
        try:
            train(run)
        except DivergenceError:
            self._optimizer = None  # its state holds the non-finite steps
            raise
        finally:
            self._store(run)
        return self

    def _hold_out(self, run: Run, rng: np.random.Generator, Y_host: np.ndarray):
        """Split a validation set off the run's data; set up scoring, best weights."""
        backend, history = run.backend, run.history
        train_idx, val_idx = self._split(rng, Y_host)
        take = backend.xp.take
        train_idx, val_idx = backend.asarray(train_idx), backend.asarray(val_idx)
        X_val, Y_val = take(run.X, val_idx, axis=0), take(run.Y, val_idx, axis=0)
        run.X, run.Y = take(run.X, train_idx, axis=0), take(run.Y, train_idx, axis=0)
        run.validate = self._validator(backend, run.activations, X_val, Y_val)
        if history.validation_scores is None:  # warm start after a fit without it
            history.validation_scores, history.best_validation_score = [], -math.inf
        best = getattr(self, "_best_params_host", None)
        run.best_params = (
            [backend.asarray(np.array(p, dtype=self.dtype)) for p in best]
            if best is not None
            else [backend.xp.asarray(p, copy=True) for p in run.params]
        )

    def _callback_runner(
        self, callbacks: list[Callback], run: Run
    ) -> Callable[[History], bool]:
        hooks = [getattr(callback, "on_epoch_end", callback) for callback in callbacks]
        for callback, hook in zip(callbacks, hooks, strict=True):
            if not callable(hook):
                raise TypeError(
                    "callbacks must be callables f(model, history) or objects with an "
                    f"on_epoch_end(model, history) method; got {callback!r}"
                )

        def on_epoch_end(history: History) -> bool:
            self._store(run)
            stop = False
            for hook in hooks:
                stop = bool(hook(self, history)) or stop
            return stop

        return on_epoch_end

    def _store(self, run: Run) -> None:
        """Copy the run's weights and history onto the estimator (host NumPy)."""
        backend, n_layers = run.backend, run.n_layers
        host = [np.array(backend.to_numpy(p)) for p in run.params]
        self.coefs_, self.intercepts_ = host[:n_layers], host[n_layers:]
        self._set_history(run.history)
        if run.best_params is not None:
            self._best_params_host = [
                np.array(backend.to_numpy(p)) for p in run.best_params
            ]

    def _set_history(self, h: History) -> None:
        """The history as scikit-learn's attributes (``loss_curve_``, ``t_``, ...)."""
        self.loss_curve_ = h.loss_curve
        self.loss_ = h.loss_curve[-1] if h.loss_curve else None
        self.validation_scores_ = h.validation_scores
        self.best_loss_ = h.best_loss
        self.best_validation_score_ = h.best_validation_score
        self._no_improvement_count = h.no_improvement_count
        self.n_iter_ = h.n_iter
        self.t_ = h.t

    def _history(self) -> History:
        return History(
            loss_curve=self.loss_curve_,
            validation_scores=self.validation_scores_,
            best_loss=self.best_loss_,
            best_validation_score=self.best_validation_score_,
            no_improvement_count=self._no_improvement_count,
            n_iter=self.n_iter_,
            t=self.t_,
        )

    def _initialize(self, rng: np.random.Generator, n_features: int, n_outputs: int):
        """Fresh Glorot weights (drawn as scikit-learn does) and an empty history."""
        sizes = [n_features, *check_hidden_sizes(self.hidden_layer_sizes), n_outputs]
        pairs = [
            glorot_uniform(rng, fan_in, fan_out, self.activation)
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        self.coefs_ = [w for w, _ in pairs]
        self.intercepts_ = [b for _, b in pairs]
        self.n_layers_ = len(sizes)
        self.n_outputs_ = n_outputs
        self._optimizer = None
        self._best_params_host = None
        self._set_history(History.fresh(bool(self.early_stopping)))

    def _device_params(self, backend: Backend) -> list[Array]:
        """``coefs_ + intercepts_`` copied onto the device, shapes checked."""
        if len(self.intercepts_) != len(self.coefs_) or not self.coefs_:
            raise ValueError(
                f"coefs_ and intercepts_ must hold one array per layer; got "
                f"{len(self.coefs_)} and {len(self.intercepts_)}"
            )
        sizes = [self.n_features_in_] + [np.shape(c)[-1] for c in self.coefs_]
        dtype = check_dtype(self.dtype)
        params = []
        for name, arrays in (
            ("coefs_", self.coefs_),
            ("intercepts_", self.intercepts_),
        ):
            for layer, array in enumerate(arrays):
                host = np.asarray(array)
                shape = (
                    (sizes[layer], sizes[layer + 1])
                    if name == "coefs_"
                    else (sizes[layer + 1],)
                )
                if host.shape != shape or host.dtype.kind not in "fiu":
                    raise ValueError(
                        f"{name}[{layer}] must be a real array of shape {shape}; got "
                        f"{host.dtype} of shape {host.shape}"
                    )
                params.append(backend.asarray(np.array(host, dtype=dtype)))
        return params

    def _new_optimizer(self, backend: Backend, params: list[Array]) -> Optimizer:
        xp = backend.xp
        if self.solver == "sgd":
            return OPTIMIZERS["sgd"](
                xp,
                params,
                self.learning_rate_init,
                self.learning_rate,
                self.momentum,
                self.nesterovs_momentum,
                self.power_t,
            )
        return OPTIMIZERS["adam"](
            xp, params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon
        )

    def _activations(self) -> list[Any]:
        hidden = get_activation(self.activation)
        n_hidden = len(self.coefs_) - 1
        return [hidden] * n_hidden + [get_activation(self.out_activation_)]

    def _split(
        self, rng: np.random.Generator, Y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Train and validation indices; stratified for a single-output classifier.

        As scikit-learn: ``ceil(validation_fraction * n)`` validation samples,
        stratified only when the classifier has one output (binary), at least 2 of them.
        """
        n_samples = Y.shape[0]
        n_val = math.ceil(self.validation_fraction * n_samples)
        if n_val < 2 or n_val >= n_samples:
            raise ValueError(
                "The validation set is too small (or leaves no training data): "
                f"validation_fraction={self.validation_fraction} of {n_samples} "
                f"samples gives {n_val}; increase validation_fraction or the data"
            )
        if self._stratify_split and Y.shape[1] == 1:
            return stratified_split(rng, Y[:, 0], n_val)
        order = rng.permutation(n_samples)
        return order[n_val:], order[:n_val]

    _stratify_split = False

    def _validator(
        self, backend: Backend, activations: list[Any], X_val: Array, Y_val: Array
    ) -> Callable[[list[Array]], float]:
        xp, n_layers, score = backend.xp, len(activations), self._device_score

        def validate(params: list[Array]) -> float:
            out = network.predict(
                xp, params[:n_layers], params[n_layers:], activations, X_val
            )
            value = score(xp, out, Y_val)
            finite = xp.all(xp.isfinite(out))
            return float(xp.where(finite, value, xp.nan))

        return validate

    # ---- checks ----------------------------------------------------------------------

    def _checked_params(self) -> Settings:
        """Validate every constructor parameter; returns the loop's settings."""
        check_hidden_sizes(self.hidden_layer_sizes)
        check_choice(self.activation, "activation", HIDDEN_ACTIVATIONS)
        check_choice(self.solver, "solver", tuple(OPTIMIZERS))
        check_choice(self.learning_rate, "learning_rate", SCHEDULES)
        check_real(self.alpha, "alpha", low=0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_int(self.batch_size, "batch_size", "'auto' or an int >= 1")
        check_real(
            self.learning_rate_init, "learning_rate_init", low=0.0, open_low=True
        )
        check_real(self.power_t, "power_t", low=0.0)
        check_int(self.max_iter, "max_iter", "an int >= 1")
        check_real(self.tol, "tol", low=0.0)
        check_real(self.momentum, "momentum", low=0.0, high=1.0)
        check_real(self.validation_fraction, "validation_fraction", low=0.0, high=1.0)
        check_real(self.beta_1, "beta_1", low=0.0, high=1.0, open_high=True)
        check_real(self.beta_2, "beta_2", low=0.0, high=1.0, open_high=True)
        check_real(self.epsilon, "epsilon", low=0.0, open_low=True)
        if self.n_iter_no_change != math.inf:
            check_int(self.n_iter_no_change, "n_iter_no_change", "an int >= 1 or inf")
        for name in (
            "shuffle",
            "verbose",
            "warm_start",
            "nesterovs_momentum",
            "early_stopping",
        ):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_, numbers.Integral)):
                raise TypeError(f"{name} must be a bool; got {value!r}")
        check_random_state(self.random_state)
        return Settings(
            batch_size=0,
            max_iter=int(self.max_iter),
            shuffle=bool(self.shuffle),
            tol=float(self.tol),
            n_iter_no_change=self.n_iter_no_change,
            alpha=float(self.alpha),
            verbose=bool(self.verbose),
        )

    def _device_X(self, X: Any, backend: Backend, dtype: str, *, reset: bool) -> Array:
        """X checked (2-D, numeric, finite, feature count) and on the device."""
        on_device = array_api_compat.is_array_api_obj(X) and not isinstance(
            X, np.ndarray
        )
        if on_device:
            X = backend.device_array(X, "X")
            shape = tuple(X.shape)
        else:
            X = host_features(X)
            shape = X.shape
        self._check_feature_count(shape, reset=reset)
        if on_device:
            return check_matrix(backend, X, "X", dtype)
        return backend.asarray(host_matrix(X, "X"), dtype)

    def _check_feature_count(self, shape: tuple[int, ...], *, reset: bool) -> None:
        if len(shape) != 2:
            return  # host_matrix / check_matrix explain the wrong number of dimensions
        if reset:
            self.n_features_in_ = int(shape[1])
        elif shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )

    def _host_y(self, y: Any) -> Any:
        """y as host data: an array of this backend is copied back, others refused."""
        if array_api_compat.is_array_api_obj(y) and not isinstance(y, np.ndarray):
            backend = get_backend(self.backend)
            return backend.to_numpy(backend.device_array(y, "y"))
        return y

    def _forward(self, X: Any) -> np.ndarray:
        """The network's outputs for X, host float64 (n_samples, n_outputs)."""
        self._check_is_fitted()
        backend = get_backend(self.backend)
        X_dev = self._device_X(X, backend, check_dtype(self.dtype), reset=False)
        params = self._device_params(backend)
        n_layers = len(self.coefs_)
        out = network.predict(
            backend.xp, params[:n_layers], params[n_layers:], self._activations(), X_dev
        )
        return np.asarray(backend.to_numpy(out), dtype=np.float64)

    # ---- model files (xpnet.io) ------------------------------------------------------

    def _export(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able config, host arrays ``W{l}``, ``b{l}`` in the model's dtype) that
        :meth:`_import` turns back into an equal fitted estimator."""
        if not self.__sklearn_is_fitted__():
            raise not_fitted(f"cannot save an unfitted {type(self).__name__}")
        dtype = check_dtype(self.dtype)
        config = {
            "kind": type(self).__name__,
            "params": self._export_params(),
            "dtype": dtype,
            "layer_sizes": [int(self.n_features_in_)]
            + [int(np.shape(c)[1]) for c in self.coefs_],
            "out_activation_": self.out_activation_,
            "history": self._history().to_json(),
            **self._export_extra(),
        }
        weights = [np.asarray(c, dtype=dtype) for c in self.coefs_]
        biases = [np.asarray(b, dtype=dtype) for b in self.intercepts_]
        return config, parameter_arrays(weights, biases)

    def _export_params(self) -> dict[str, Any]:
        """``get_params()`` in JSON form (a generator random_state becomes None)."""
        params = self.get_params()
        params["hidden_layer_sizes"] = check_hidden_sizes(self.hidden_layer_sizes)
        params["backend"] = _backend_name(self.backend)
        if not isinstance(self.random_state, (numbers.Integral, type(None))):
            params["random_state"] = None
        elif self.random_state is not None:
            params["random_state"] = int(self.random_state)
        for name, value in params.items():
            if isinstance(value, np.generic):
                params[name] = value.item()
        return params

    def _export_extra(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _import(
        cls, config: dict[str, Any], arrays: dict[str, np.ndarray], backend: Any = None
    ) -> _MLPBase:
        """A fitted estimator from :meth:`_export`'s output, set to run on ``backend``
        (a spec or Backend; None keeps the saved one). ValueError or TypeError name
        what does not fit."""
        keys = ("kind", "params", "dtype", "layer_sizes", "out_activation_", "history")
        check_config(config, keys + cls._extra_keys)
        if config["kind"] != cls.__name__:
            raise ValueError(f"kind must be {cls.__name__!r}; got {config['kind']!r}")
        params = config["params"]
        if not isinstance(params, dict) or set(params) != set(cls._get_param_names()):
            raise ValueError(
                f"params must name exactly {sorted(cls._get_param_names())}; got "
                f"{params!r}"
            )
        params = dict(params)
        if isinstance(params["hidden_layer_sizes"], list):  # JSON has no tuples
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        if backend is not None:
            params["backend"] = _backend_name(backend)
        model = cls(**params)
        model._checked_params()
        dtype = check_dtype(config["dtype"])
        if dtype != check_dtype(model.dtype):
            raise ValueError(f"dtype {dtype!r} disagrees with params {model.dtype!r}")
        sizes = check_layer_sizes(config["layer_sizes"])
        hidden = check_hidden_sizes(model.hidden_layer_sizes)
        if sizes[1:-1] != hidden:
            raise ValueError(
                f"layer_sizes {sizes} disagree with hidden_layer_sizes {hidden}"
            )
        model.coefs_, model.intercepts_ = layer_parameters(arrays, sizes, True, dtype)
        model.n_features_in_, model.n_outputs_ = sizes[0], sizes[-1]
        model.n_layers_ = len(sizes)
        model.out_activation_ = check_choice(
            config["out_activation_"], "out_activation_", model._out_activations
        )
        history = config["history"]
        if not isinstance(history, dict):
            raise TypeError(f"history must be an object; got {history!r}")
        try:
            model._set_history(History.from_json(history))
        except TypeError as exc:
            raise ValueError(f"history is malformed: {exc}") from None
        model._optimizer = None
        model._best_params_host = None
        model._import_extra(config)
        return model

    _extra_keys: tuple[str, ...] = ()
    _out_activations: tuple[str, ...] = ("identity",)

    def _import_extra(self, config: dict[str, Any]) -> None:
        pass


class MLPClassifier(_MLPBase):
    """Multi-layer perceptron classifier, trained with log-loss (scikit-learn's).

    Softmax output for more than two classes; one logistic output for two classes and
    one per label for a multilabel 0/1 indicator ``y``. Labels may be of any sortable
    type (ints, strings, bools). Parameters as ``sklearn.neural_network.MLPClassifier``
    (solvers ``sgd`` and ``adam``), plus:

    backend : str or Backend, optional
        Where training runs (see :func:`xpnet.get_backend`); default
        ``$XPNET_BACKEND`` or ``numpy``.
    dtype : {"float32", "float64"}, default "float32"
        The precision of the weights and the maths.

    Attributes
    ----------
    classes_ : ndarray of labels (``0 .. n_labels - 1`` for multilabel)
    coefs_, intercepts_ : lists of host NumPy arrays, (fan_in, fan_out) and (fan_out,)
    loss_curve_, validation_scores_, best_loss_, best_validation_score_, loss_
    n_iter_, t_, n_features_in_, n_outputs_, n_layers_, out_activation_
    """

    _loss = "log_loss"
    _stratify_split = True
    _estimator_type = "classifier"

    def _targets(
        self,
        y: Any,
        n_samples: int,
        first_pass: bool,
        incremental: bool,
        classes: Any,
    ) -> np.ndarray:
        labels = _labels.as_label_array(self._host_y(y))
        _check_rows(labels, n_samples)
        if incremental:
            self._check_partial_fit_classes(labels, classes)
        elif first_pass:
            self._target_kind = _labels.target_kind(labels)
            self.classes_ = _labels.unique_labels(labels)
        else:
            seen = _labels.unique_labels(labels)
            if set(seen.tolist()) != set(self.classes_.tolist()):
                raise ValueError(
                    "y must have the same classes as the fit it continues (warm_start "
                    f"or resume_from): previously {self.classes_.tolist()}, y has "
                    f"{seen.tolist()}"
                )
        self.out_activation_ = (
            "softmax" if self._target_kind == "multiclass" else "logistic"
        )
        return _labels.encode(labels, self.classes_, self._target_kind)

    def _device_score(self, xp: Any, out: Array, Y: Array) -> Array:
        """Accuracy on the device (subset accuracy for multilabel)."""
        if self._target_kind == "multiclass":
            hits = xp.argmax(out, axis=1) == xp.argmax(Y, axis=1)
        else:
            hits = xp.all((out > 0.5) == (Y > 0.5), axis=1)
        return xp.mean(xp.astype(hits, out.dtype))

    def _check_partial_fit_classes(self, labels: np.ndarray, classes: Any) -> None:
        """First call: ``classes`` defines ``classes_``; later: it must not change."""
        _labels.check_label_values(labels)
        if classes is None:
            if not hasattr(self, "classes_"):
                raise ValueError(
                    "classes must be passed on the first call to partial_fit; got None"
                )
            return
        if labels.ndim == 2:
            given, kind = np.arange(labels.shape[1]), "multilabel-indicator"
        else:
            given = _labels.unique_labels(_labels.as_label_array(classes, "classes"))
            kind = "binary" if len(given) == 2 else "multiclass"
            if len(given) < 2:
                raise ValueError(
                    f"classes must hold at least 2 classes; got {given.tolist()}"
                )
        if hasattr(self, "classes_") and not np.array_equal(given, self.classes_):
            raise ValueError(
                f"classes={given.tolist()} is not the same as on the last call to "
                f"partial_fit, was: {self.classes_.tolist()}"
            )
        self.classes_, self._target_kind = given, kind

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over (X, y), keeping the optimizer's state between calls.

        ``classes`` (every label that will ever appear) is required on the first call.
        """
        return self._fit(X, y, incremental=True, classes=classes)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (n_samples,), or a 0/1 matrix for multilabel."""
        return _labels.decode(self._forward(X), self.classes_, self._target_kind)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), host float64."""
        out = self._forward(X)
        if self._target_kind == "binary":
            return np.hstack([1 - out, out])
        return out

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy (subset accuracy for multilabel)."""
        predicted = self.predict(X)
        truth = _labels.as_label_array(self._host_y(y))
        _check_rows(truth, predicted.shape[0])
        _labels.check_label_values(truth)
        hits = predicted == truth
        if hits.ndim == 2:
            hits = hits.all(axis=1)
        return float(np.average(hits, weights=sample_weight))

    _extra_keys = ("classes_", "target_kind")
    _out_activations = ("softmax", "logistic")

    def _export_extra(self) -> dict[str, Any]:
        return {
            "classes_": _labels.classes_to_json(self.classes_),
            "target_kind": self._target_kind,
        }

    def _import_extra(self, config: dict[str, Any]) -> None:
        self.classes_ = _labels.classes_from_json(config["classes_"])
        self._target_kind = check_choice(
            config["target_kind"], "target_kind", _labels.KINDS
        )
        n_outputs = 1 if self._target_kind == "binary" else len(self.classes_)
        if n_outputs != self.n_outputs_:
            raise ValueError(
                f"{len(self.classes_)} classes ({self._target_kind}) need "
                f"{n_outputs} outputs; the layers have {self.n_outputs_}"
            )

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags

        tags = super().__sklearn_tags__()
        tags.classifier_tags = ClassifierTags(multi_label=True)
        return tags


class MLPRegressor(_MLPBase):
    """Multi-layer perceptron regressor, trained with half squared error.

    Identity output; one or several outputs. Parameters as
    ``sklearn.neural_network.MLPRegressor`` (solvers ``sgd`` and ``adam``), plus
    ``backend`` and ``dtype`` (see :class:`MLPClassifier`). Same attributes, without
    ``classes_``.
    """

    _loss = "squared_error"
    _estimator_type = "regressor"

    def _targets(
        self,
        y: Any,
        n_samples: int,
        first_pass: bool,
        incremental: bool,
        classes: Any,
    ) -> np.ndarray:
        Y = self._checked_y(y, n_samples)
        if not first_pass and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y must have {self.n_outputs_} outputs as in the previous fit; got "
                f"shape {Y.shape}"
            )
        self.out_activation_ = "identity"
        return Y

    def _checked_y(self, y: Any, n_samples: int) -> np.ndarray:
        """Targets as finite host float64 (n_samples, n_outputs)."""
        if y is None:
            raise ValueError(
                "this estimator requires y to be passed, but the target y is None"
            )
        host = np.asarray(self._host_y(y))
        if host.dtype.kind == "c":
            raise ValueError(
                f"y must hold real numbers; got dtype {host.dtype} (Complex data not "
                "supported)"
            )
        if host.dtype.kind == "O":
            try:
                host = host.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"y must hold real numbers; got objects: {exc}"
                ) from None
        if host.ndim == 1:
            host = host[:, None]
        return host_matrix(host, "y", n_rows=n_samples).astype(np.float64)

    def _device_score(self, xp: Any, out: Array, Y: Array) -> Array:
        """R² on the device, averaged over outputs (scikit-learn's finite rules)."""
        return xp.mean(_r2_per_output(xp, out, Y))

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over (X, y), keeping the optimizer's state between calls."""
        return self._fit(X, y, incremental=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions (n_samples,) for one output, else (n_samples, n_outputs)."""
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination R², averaged over outputs."""
        predicted = self._forward(X)
        truth = self._checked_y(y, predicted.shape[0])
        if truth.shape[1] != predicted.shape[1]:
            raise ValueError(
                f"y must have {predicted.shape[1]} outputs, as the model predicts; got "
                f"shape {np.shape(y)}"
            )
        weights = None if sample_weight is None else np.asarray(sample_weight)[:, None]
        mean = np.average(
            truth, axis=0, weights=None if weights is None else weights[:, 0]
        )
        w = 1.0 if weights is None else weights
        ss_res = np.sum(w * (truth - predicted) ** 2, axis=0)
        ss_tot = np.sum(w * (truth - mean) ** 2, axis=0)
        safe = np.where(ss_tot != 0, ss_tot, 1.0)
        r2 = np.where(ss_tot != 0, 1 - ss_res / safe, np.where(ss_res == 0, 1.0, 0.0))
        return float(np.mean(r2))

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags

        tags = super().__sklearn_tags__()
        tags.regressor_tags = RegressorTags()
        return tags


def _r2_per_output(xp: Any, out: Array, Y: Array) -> Array:
    diff = Y - out
    ss_res = xp.sum(diff * diff, axis=0)
    centred = Y - xp.mean(Y, axis=0)
    ss_tot = xp.sum(centred * centred, axis=0)
    nonzero = ss_tot != 0
    safe = xp.where(nonzero, ss_tot, xp.ones_like(ss_tot))
    fallback = xp.where(ss_res == 0, xp.ones_like(ss_res), xp.zeros_like(ss_res))
    return xp.where(nonzero, 1 - ss_res / safe, fallback)


def _check_rows(labels: np.ndarray, n_samples: int) -> None:
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"y must have {n_samples} rows, one per sample of X; got shape "
            f"{labels.shape}"
        )


def _checked_every(every: int | None, n_samples: int, batch_size: int) -> int:
    if every is None:
        return math.ceil(n_samples / batch_size)
    check_int(every, "checkpoint_every", "an int >= 1 (steps)")
    return int(every)


def _backend_name(backend: Any) -> str | None:
    """A backend spec as a string (a Backend object becomes its name)."""
    return backend.name if isinstance(backend, Backend) else backend
