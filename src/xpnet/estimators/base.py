"""What ``MLPClassifier`` and ``MLPRegressor`` share: parameters, the fit driver,
prediction and the fitted state.

Data moves to the device once per ``fit``; ``coefs_`` and ``intercepts_`` are host
NumPy copies, synchronised after every fit (set them, then fit with ``warm_start``, to
continue from them). A subclass supplies the loss, its targets (``_targets``), its
validation score on the device (``_device_score``) and its output activations.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Sequence
from functools import partial, wraps
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np

from ..backend import Array, Backend, check_dtype, data_size, get_backend
from ..data import Seen, Weights, as_features, as_sample_weight
from ..data.checks import check_hidden_sizes, is_dask_collection
from ..data.intake import feature_count
from ..init import glorot_uniform
from ..maths.activations import get_activation
from ..maths.optim import Optimizer
from ..training import setup
from ..training.checkpoint import checkpoint_writer, data_fingerprint
from ..training.distributed import check_replicas, reducer_for
from ..training.loop import (
    DivergenceError,
    FitState,
    History,
    Run,
    Settings,
    host_rng,
    train,
)
from . import resume
from .model_export import export_estimator, export_params, import_estimator
from .params import EstimatorAPI
from .settings import checked_every, checked_settings

Callback = Callable[[Any, History], Any]
Method = TypeVar("Method", bound=Callable[..., Any])


def dask_aware(method: Method) -> Method:
    """Hand a call whose X, y or sample_weight is a Dask collection to
    :mod:`xpnet.estimators.dask_predict` (imported only then)."""

    @wraps(method)
    def wrapper(self: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
        if any(map(is_dask_collection, (X, *args, *kwargs.values()))):
            from .dask_predict import dask_method

            return dask_method(self, method.__name__, X, *args, **kwargs)
        return method(self, X, *args, **kwargs)

    return cast(Method, wrapper)


class MLPBase(EstimatorAPI):
    """What both estimators share: parameters, the fit driver, prediction, state."""

    _loss = "squared_error"
    _optimizer: Optimizer | None
    _best_params_host: list[np.ndarray] | None

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
        max_fun: int = 15000,
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
        self.max_fun = max_fun
        self.backend = backend
        self.dtype = dtype

    def __getstate__(self) -> dict[str, Any]:
        # Copying (e.g. joblib in GridSearchCV) needs host data only: the optimizer's
        # device state travels as NumPy arrays.
        if "_live_run" in self.__dict__:  # copied inside a callback: the weights now
            self._store_params(self._live_run)
        state = self.__dict__.copy()
        state.pop("_live_run", None)
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
            with backend.context():
                params = self._device_params(backend)
                self._optimizer = self._new_optimizer(backend, params)
                _kind, scalars, host = saved
                self._optimizer.load(
                    scalars,
                    {k: [backend.asarray(a) for a in v] for k, v in host.items()},
                )

    @property
    def n_layers_(self) -> int:
        """Layers counted as scikit-learn does: input, hidden and output."""
        return len(self.coefs_) + 1

    @n_layers_.setter
    def n_layers_(self, value: int) -> None:
        """Derived from ``coefs_``; setting it (as scikit-learn's tests do) is a
        no-op."""

    @property
    def n_outputs_(self) -> int:
        """Width of the output layer."""
        if not len(self.coefs_):
            raise ValueError(
                "coefs_ must hold one (fan_in, fan_out) array per layer; got an "
                "empty list"
            )
        return int(np.shape(self.coefs_[-1])[-1])

    @n_outputs_.setter
    def n_outputs_(self, value: int) -> None:
        """Derived from ``coefs_``; setting it is a no-op, as for ``n_layers_``."""

    # ---- fitting ---------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        callbacks: Sequence[Callback] | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        resume_from: str | os.PathLike | None = None,
        resume_on_other_data: bool = False,
        distributed: Any = None,
    ) -> MLPBase:
        """Train on (X, y) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Host data (NumPy, lists), an array of this estimator's backend, or a
            Dask array or dataframe, trained on block by block
            (:mod:`xpnet.estimators.dask_input`).
        y : array of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier; a 0/1 indicator matrix for multilabel) or
            targets (regressor); a Dask array if X is one, or host data.
        sample_weight : array of shape (n_samples,), optional
            Non-negative weights: the loss, its gradients and the early-stopping
            validation score become weighted means (an integer weight counts as
            that many copies of the row; 0 drops it). With Dask input, a Dask array
            with X's row chunks, host data or one number; each block's weights are
            checked as the block is computed.
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
            random generator's state, the history, the position in the epoch and a
            fingerprint of X and y (shape, dtype, CRC-32).
        checkpoint_every : int, optional
            Steps (minibatches) between checkpoints; default: one epoch's steps.
        resume_from : path, optional
            A checkpoint written by ``fit(..., checkpoint=...)`` on the same data and
            parameters: training continues from it exactly as the interrupted run
            would have (same weights, optimizer, shuffles and stopping). The whole
            file is checked first: a bad checkpoint raises ``ModelFileError`` and
            a failed resume leaves the estimator as it was.
        resume_on_other_data : bool, default False
            Resume even though X or y differ from the checkpoint's (refused
            otherwise: the shuffles and the split would not be the ones replayed).
        distributed : bool or torch.distributed ProcessGroup, optional
            Data-parallel training over the ranks of a torch.distributed process
            group (True: the default group; call ``init_process_group`` first). Every
            rank calls ``fit`` with the same X, y and parameters (an int
            ``random_state``) and takes its share of every global batch; gradients
            and loss are summed over the ranks, so every rank ends with the weights
            one process would reach. Only rank 0 writes ``checkpoint`` and prints
            progress; every rank can ``resume_from`` it. Backends: numpy, torch,
            cupy (see :mod:`xpnet.training.distributed`).

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
        DistributedError
            With ``distributed``: no process group, a backend torch.distributed
            cannot carry, ranks that disagree, or a rank that died (named).
        """
        return self._fit(
            X,
            y,
            sample_weight,
            incremental=False,
            callbacks=callbacks,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume_from=resume_from,
            resume_on_other_data=resume_on_other_data,
            distributed=distributed,
        )

    def _fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        incremental: bool,
        classes: Any = None,
        callbacks: Sequence[Callback] | None = None,
        checkpoint: Any = None,
        checkpoint_every: int | None = None,
        resume_from: Any = None,
        resume_on_other_data: bool = False,
        distributed: Any = None,
    ) -> MLPBase:
        """``fit`` and ``partial_fit``: set up a :class:`Run` and train it.

        A resume that fails before training starts leaves the estimator as it was.
        """
        on_dask = any(map(is_dask_collection, (X, y, sample_weight)))
        _check_solver_options(
            self.solver, sample_weight, distributed, resume_from, checkpoint, on_dask
        )
        backend = get_backend(self.backend)
        reducer = reducer_for(distributed, backend)
        before = dict(self.__dict__)
        with backend.context():  # CuPy: allocate on this backend's device
            try:
                run, data = self._setup(
                    backend,
                    X,
                    y,
                    sample_weight,
                    incremental,
                    classes,
                    resume_from,
                    resume_on_other_data,
                    fingerprint=checkpoint is not None,
                )
                if reducer is not None:
                    run.reducer = reducer
                    run.settings.verbose = run.settings.verbose and reducer.rank == 0
                    check_replicas(reducer, run, self._export_params())
                    if reducer.rank != 0:
                        checkpoint = None  # rank 0 writes the checkpoints
                self._add_hooks(run, callbacks, checkpoint, checkpoint_every, data)
            except BaseException:
                if resume_from is not None:
                    self.__dict__.clear()
                    self.__dict__.update(before)
                raise
            if self.solver == "lbfgs":
                return self._fit_lbfgs(run, callbacks)
            try:
                train(run)
            except DivergenceError:
                self._optimizer = None  # its state holds the non-finite steps
                raise
            finally:
                self._store(run)
        return self

    def _setup(
        self,
        backend: Backend,
        X: Any,
        y: Any,
        sample_weight: Any,
        incremental: bool,
        classes: Any,
        resume_from: Any,
        resume_on_other_data: bool,
        *,
        fingerprint: bool,
    ) -> tuple[Run, dict[str, Any] | None]:
        """The run of a fit on ``backend`` (data on the device, or in blocks when X, y
        or the weights are Dask collections; weights, optimizer, the checkpoint's
        state) and, when ``fingerprint`` or resuming, the data's fingerprint."""
        settings = checked_settings(self)
        settings.incremental = incremental
        dtype = check_dtype(self.dtype)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        saved = None if resume_from is None else resume.read(self, resume_from)
        first_pass = saved is None and (
            not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        )
        data = self._data(
            backend, X, y, sample_weight, dtype, first_pass, incremental, classes
        )
        prints = None
        if fingerprint or saved is not None:
            prints = data.fingerprint(backend)
        if saved is not None and not resume_on_other_data:
            resume.check_same_data(saved, prints, resume_from)
        rng = host_rng(self.random_state)
        if first_pass:
            self._initialize(rng, data.X.shape[1], data.Y.shape[1])
        if saved is not None:
            rng.bit_generator.state = saved.rng_split
        run = self._new_run(backend, data, settings, rng, incremental)
        if self.solver == "lbfgs":  # full batch: no split, no batches
            return run, prints
        if self.early_stopping:
            with backend.on_device(lambda: _data_message(X, dtype)):
                self._hold_out(run, rng, data.Y_host)
        run.settings.batch_size = setup.batch_size_for(self.batch_size, run.n_samples)
        if saved is not None:
            resume.restore_run(saved, run)
        return run, prints

    def _data(
        self,
        backend: Backend,
        X: Any,
        y: Any,
        sample_weight: Any,
        dtype: str,
        first_pass: bool,
        incremental: bool,
        classes: Any,
    ) -> _Data:
        """X, y and the weights through the intake, on the device (or as Dask
        blocks); the targets encoded (``classes_``, ``out_activation_`` set)."""
        if any(map(is_dask_collection, (X, y, sample_weight))):
            from .dask_input import dask_blocks

            blocks = dask_blocks(
                self,
                X,
                y,
                backend,
                dtype,
                first_pass,
                incremental,
                classes,
                sample_weight,
            )
            return _Data(blocks.X, blocks.Y, None, None, blocks)
        data_fits = partial(backend.on_device, lambda: _data_message(X, dtype))
        with data_fits():
            X_dev = self._features(X, backend, dtype, reset=first_pass)
        Y_host = self._targets(y, X_dev.shape[0], first_pass, incremental, classes)
        weights = as_sample_weight(sample_weight, backend, X_dev.shape[0], dtype)
        with data_fits():
            Y_dev = backend.asarray(Y_host, dtype)
        return _Data(X_dev, Y_dev, Y_host, weights, None)

    def _new_run(
        self,
        backend: Backend,
        data: _Data,
        settings: Settings,
        rng: np.random.Generator,
        incremental: bool,
    ) -> Run:
        """The run over ``data`` from the estimator's parameters and history."""
        rng_split = dict(rng.bit_generator.state)
        history = self._history()
        history.n_iter = 0
        if history.best_loss is None and not self.early_stopping:
            history.best_loss = math.inf  # warm start after a fit with early stopping
        with backend.on_device(lambda: _network_message(self)):
            params = self._device_params(backend)
            optimizer = getattr(self, "_optimizer", None)
            if not incremental or optimizer is None:
                optimizer = self._optimizer = self._new_optimizer(backend, params)
        weights = data.weights
        return Run(
            backend=backend,
            activations=self._activations(),
            loss=self._loss,
            loss_scale=1.0 / data.Y.shape[1] if self._loss == "squared_error" else 1.0,
            state=FitState(params, optimizer, history, rng, rng_split),
            X=data.X,
            Y=data.Y,
            settings=settings,
            host_sample_weight=None if weights is None else weights.host,
            sample_weight=None if weights is None else weights.device,
            blocks=data.blocks,
        )

    def _fit_lbfgs(self, run: Run, callbacks: Sequence[Callback] | None) -> MLPBase:
        """Full-batch L-BFGS (SciPy); ``loss_`` is the final loss, as scikit-learn's."""
        from ..training.lbfgs import fit_lbfgs

        if callbacks:
            run.on_epoch_end = self._callback_runner(list(callbacks), run)
        run.state.history.loss_curve = []
        try:
            fit_lbfgs(run, int(self.max_fun))
        finally:
            self._store(run)
        return self

    def _add_hooks(
        self,
        run: Run,
        callbacks: Sequence[Callback] | None,
        checkpoint: Any,
        checkpoint_every: int | None,
        data: dict[str, Any] | None,
    ) -> None:
        """The run's epoch callback and checkpoint writer, where asked for."""
        if callbacks:
            run.on_epoch_end = self._callback_runner(list(callbacks), run)
        if checkpoint is not None:
            describe = resume.describer(self)
            run.checkpoint = checkpoint_writer(checkpoint, describe, data)
            run.checkpoint_every = checked_every(checkpoint_every, run.epoch_steps())

    def _hold_out(self, run: Run, rng: np.random.Generator, Y_host: Any) -> None:
        """Split a validation set off the run's data; set up scoring, best weights.

        Blocks of a Dask array are held out whole (:mod:`.dask_input`); data
        on the device is split by rows (:func:`xpnet.training.setup.hold_out_rows`).
        """
        if run.blocks is not None:
            from .dask_input import hold_out_blocks

            run.validate = hold_out_blocks(self, run, rng)
        else:
            setup.hold_out_rows(
                run,
                rng,
                Y_host,
                self.validation_fraction,
                self._stratify_split,
                self._device_score,
            )
        best = getattr(self, "_best_params_host", None)
        setup.start_best(run, best, self.dtype)

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
            # The weights are copied to the host only if a callback reads them.
            self._set_history(history)
            self._live_run = run
            self.__dict__.pop("coefs_", None)
            self.__dict__.pop("intercepts_", None)
            stop = False
            for hook in hooks:
                stop = bool(hook(self, history)) or stop
            return stop

        return on_epoch_end

    def __getattr__(self, name: str) -> Any:
        # Only for attributes not set: coefs_ and intercepts_ while a callback runs.
        run = self.__dict__.get("_live_run")
        if run is None or name not in ("coefs_", "intercepts_"):
            descriptor = inspect.getattr_static(type(self), name, None)
            if hasattr(descriptor, "__get__"):  # it raised: repeat its reason
                return descriptor.__get__(self, type(self))
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}"
            )
        self._store_params(run)
        return self.__dict__[name]

    def _store(self, run: Run) -> None:
        """Copy the run's weights and history onto the estimator (host NumPy)."""
        self.__dict__.pop("_live_run", None)
        self._store_params(run)
        self._set_history(run.state.history)
        if run.state.best_params is not None:
            self._best_params_host = [
                np.array(run.backend.to_numpy(p)) for p in run.state.best_params
            ]

    def _store_params(self, run: Run) -> None:
        """``coefs_`` and ``intercepts_`` as host copies of the run's parameters."""
        host = [np.array(run.backend.to_numpy(p)) for p in run.state.params]
        self.coefs_, self.intercepts_ = host[: run.n_layers], host[run.n_layers :]

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
        # Attributes set by hand (scikit-learn's test_fit) may leave some out.
        return History(
            loss_curve=self.loss_curve_,
            validation_scores=getattr(self, "validation_scores_", None),
            best_loss=self.best_loss_,
            best_validation_score=getattr(self, "best_validation_score_", None),
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
        fans = list(zip(sizes[:-1], sizes[1:], strict=True))
        dtype = check_dtype(self.dtype)
        coefs = [
            _device_param(backend, array, f"coefs_[{layer}]", fan, dtype)
            for layer, (array, fan) in enumerate(zip(self.coefs_, fans, strict=True))
        ]
        intercepts = [
            _device_param(backend, array, f"intercepts_[{layer}]", fan[1:], dtype)
            for layer, (array, fan) in enumerate(
                zip(self.intercepts_, fans, strict=True)
            )
        ]
        return coefs + intercepts

    def _new_optimizer(self, backend: Backend, params: list[Array]) -> Optimizer:
        return setup.new_optimizer(self.solver, backend.xp, params, self.__dict__)

    def _activations(self) -> list[Any]:
        hidden = get_activation(self.activation)
        n_hidden = len(self.coefs_) - 1
        return [hidden] * n_hidden + [get_activation(self.out_activation_)]

    _stratify_split = False

    # ---- data in, predictions out -----------------------------------------------

    def _features(self, X: Any, backend: Backend, dtype: str, *, reset: bool) -> Any:
        """X through the intake (:func:`xpnet.data.as_features`): checked against
        what the fit saw unless ``reset``, which records it."""
        features = as_features(
            X,
            backend,
            dtype,
            seen=None if reset else self._seen(),
            scaling=getattr(self, "standardization_", None),
        )
        if reset:
            self._record(features.names, features.n_features)
        return features.data

    def _seen(self) -> Seen:
        """What the fit recorded of X (feature count and names)."""
        return Seen(
            self.n_features_in_,
            getattr(self, "feature_names_in_", None),
            type(self).__name__,
        )

    def _check_feature_count(self, shape: tuple[int, ...], *, reset: bool) -> None:
        """X's feature count recorded (``reset``) or checked (Dask input)."""
        if reset:
            self.n_features_in_ = int(shape[1])
        else:
            feature_count(shape, self._seen())

    def _record(self, names: np.ndarray | None, n_features: int) -> None:
        """Keep X's feature count and names (``n_features_in_``,
        ``feature_names_in_``) as a first fit does."""
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_features_in_ = n_features

    def _forward(self, X: Any) -> np.ndarray:
        """The network's outputs for X, host float64 (n_samples, n_outputs)."""
        self._check_is_fitted()
        backend, dtype = get_backend(self.backend), check_dtype(self.dtype)
        widths = [int(np.shape(c)[-1]) for c in self.coefs_]
        with backend.on_device(
            lambda: (
                f"predicting on X {data_size(X, dtype)} at once with layer "
                f"widths {widths} does not fit; predict on fewer rows per call"
            )
        ):
            X_dev = self._features(X, backend, dtype, reset=False)
            params = self._device_params(backend)
            n_layers = len(self.coefs_)
            out = setup.predict(
                backend.xp,
                params[:n_layers],
                params[n_layers:],
                self._activations(),
                X_dev,
            )
            out = np.asarray(backend.to_numpy(out), dtype=np.float64)
        scaling = getattr(self, "standardization_", None)
        return out if scaling is None else scaling.outputs(out)

    # ---- model files (xpnet.files, xpnet.training.checkpoint) -----------------------

    def _export(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """See :func:`xpnet.estimators.model_export.export_estimator`."""
        return export_estimator(self)

    def _export_params(self) -> dict[str, Any]:
        """See :func:`xpnet.estimators.model_export.export_params`."""
        return export_params(self)

    @classmethod
    def _import(
        cls, config: dict[str, Any], arrays: dict[str, np.ndarray], backend: Any = None
    ) -> MLPBase:
        """See :func:`xpnet.estimators.model_export.import_estimator`."""
        return import_estimator(cls, config, arrays, backend)

    def _export_extra(self) -> dict[str, Any]:
        """Config entries of the subclass (named in ``_extra_keys``)."""
        return {}

    _extra_keys: tuple[str, ...] = ()
    _out_activations: tuple[str, ...] = ("identity", "exp")

    def _import_extra(self, config: dict[str, Any]) -> None:
        """Read back what :meth:`_export_extra` wrote."""


def _check_solver_options(
    solver: str,
    sample_weight: Any,
    distributed: Any,
    resume_from: Any,
    checkpoint: Any,
    on_dask: bool,
) -> None:
    """Refuse what Dask input, lbfgs and sample weights do not combine with (yet)."""
    if on_dask and distributed not in (None, False):
        raise ValueError(
            "distributed= trains on data in memory; a Dask array trains block "
            "by block in one process (its blocks computed on the cluster): "
            f"leave distributed unset; got distributed={distributed!r}"
        )
    if on_dask and solver == "lbfgs":
        raise ValueError(
            "solver='lbfgs' computes full-batch gradients over data in memory; "
            "a Dask array trains block by block with solver='adam' or 'sgd' "
            "(or compute it into memory first: X.compute())"
        )
    if solver == "lbfgs" and (resume_from, checkpoint, distributed) != (None,) * 3:
        raise ValueError(
            "checkpoint, resume_from and distributed need a stochastic solver ('sgd' "
            "or 'adam'); solver='lbfgs' runs one SciPy minimisation"
        )
    if sample_weight is not None and distributed not in (None, False):
        raise ValueError(
            "sample_weight is not supported with distributed training yet; repeat "
            "rows for integer weights, or train in one process"
        )


class _Data(NamedTuple):
    """A fit's data: X and Y on the device (or Dask arrays giving the shapes, with
    ``blocks``), the encoded host targets and the sample weights."""

    X: Any
    Y: Any
    Y_host: np.ndarray | None
    weights: Weights | None
    blocks: Any

    def fingerprint(self, backend: Backend) -> dict[str, Any]:
        """The checkpoint's record of this data."""
        if self.blocks is not None:
            return self.blocks.fingerprint()
        return data_fingerprint(backend, self.X, cast(np.ndarray, self.Y_host))


def _network_message(model: MLPBase) -> str:
    widths = [int(np.shape(c)[-1]) for c in model.coefs_]
    n_weights = sum(int(np.size(c)) for c in model.coefs_)
    return (
        f"the network does not fit: layer widths {widths} ({n_weights:,} weights); "
        "use narrower layers"
    )


def _data_message(X: Any, dtype: str) -> str:
    return (
        f"the data does not fit: X {data_size(X, dtype)} and its targets; fit "
        "fewer samples per call (partial_fit on chunks), use dtype='float32', or a "
        "device with more memory"
    )


def _device_param(
    backend: Backend, array: Any, name: str, shape: tuple[int, ...], dtype: str
) -> Array:
    """One of ``coefs_``/``intercepts_`` checked against ``shape``, on the device."""
    host = np.asarray(array)
    if host.shape != shape or host.dtype.kind not in "fiu":
        raise ValueError(
            f"{name} must be a real array of shape {shape}; got {host.dtype} of shape "
            f"{host.shape}"
        )
    return backend.asarray(np.array(host, dtype=dtype))


def check_rows(labels: np.ndarray, n_samples: int) -> None:
    """ValueError unless ``labels`` has ``n_samples`` rows."""
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"y must have {n_samples} rows, one per sample of X; got shape "
            f"{labels.shape}"
        )
