"""What ``MLPClassifier`` and ``MLPRegressor`` share: parameters, the fit driver,
prediction and the fitted state.

Data moves to the device once per ``fit``; ``coefs_`` and ``intercepts_`` are host
NumPy copies (X's namespace after a fit that followed X under scikit-learn's
``array_api_dispatch``, :mod:`xpnet.data.namespace`), synchronised after every fit
(set them, then fit with ``warm_start``, to continue from them); a fit or a
prediction runs them as an :class:`xpnet.MLP` on its backend (its forward pass
predicts). A subclass supplies
the loss, its targets (``_targets``), its validation score on the device
(``_device_score``) and its output activations.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar, cast

import numpy as np

from ..backend import Backend
from ..data.namespace import Route, is_dask_collection, predict_route
from ..memory import data_size
from ..training.loop import (
    History,
)
from .fit import FitDriver
from .fitted import FittedState
from .model_export import export_estimator, export_params, import_estimator
from .params import EstimatorAPI, with_keyword

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


def keyword_init(name: str, default: Any) -> Callable[..., None]:
    """An ``__init__`` taking MLPBase's parameters and one more keyword-only
    parameter ``name`` (what ``get_params`` and scikit-learn read)."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        value = kwargs.pop(name, default)
        MLPBase.__init__(self, *args, **kwargs)
        setattr(self, name, value)

    __init__.__signature__ = with_keyword(  # type: ignore[attr-defined]
        MLPBase.__init__, name, default
    )
    return __init__


class MLPBase(FitDriver, FittedState, EstimatorAPI):
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
        max_fun: int = 15000,
        backend: str | Backend | None = None,
        dtype: str | None = None,
        compile: bool = False,
        max_grad_norm: float | None = None,
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
        self.compile = compile
        self.max_grad_norm = max_grad_norm

    def __getstate__(self) -> dict[str, Any]:
        # Copying (e.g. joblib in GridSearchCV) needs host data only: the optimizer's
        # device state travels as NumPy arrays.
        live = self.__dict__.get("_live_run")
        if live is not None:  # copied inside a callback: the weights now
            self._store_params(live)
        state = self.__dict__.copy()
        state.pop("_live_run", None)
        optimizer = state.pop("_optimizer", None)
        if live is not None:
            optimizer = live.state.optimizer
        if optimizer is not None:
            backend = self._fitted_backend()
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
            backend = self._fitted_backend()
            with backend.context():
                net = self._network(backend)
                params = [*net.weights, *(net.biases or [])]
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
        validation_data: Any = None,
        scoring: Any = None,
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
            fingerprint of X, y and the sample weights (shape, dtype, CRC-32; for
            Dask input, the CRC-32 of each block's bytes, checked on resume as each
            block is computed).
        checkpoint_every : int, optional
            Steps (minibatches) between checkpoints; default: one epoch's steps.
        resume_from : path, optional
            A checkpoint written by ``fit(..., checkpoint=...)`` on the same data and
            parameters: training continues from it exactly as the interrupted run
            would have (same weights, optimizer, shuffles and stopping). The whole
            file is checked first: a bad checkpoint raises ``ModelFileError`` and
            a failed resume leaves the estimator as it was.
        resume_on_other_data : bool, default False
            Resume even though X, y or the weights differ from the checkpoint's
            (refused otherwise: the shuffles and the split would not be the ones
            replayed).
        distributed : bool or torch.distributed ProcessGroup, optional
            Data-parallel training over the ranks of a torch.distributed process
            group (True: the default group; call ``init_process_group`` first). Every
            rank calls ``fit`` with the same X, y and parameters (an int
            ``random_state``) and takes its share of every global batch; gradients
            and loss are summed over the ranks, so every rank ends with the weights
            one process would reach. Only rank 0 writes ``checkpoint`` and prints
            progress; every rank can ``resume_from`` it. Backends: numpy, torch,
            cupy (see :mod:`xpnet.training.distributed`).
        validation_data : (X_val, y_val) or (X_val, y_val, sample_weight), optional
            Scored after every epoch (``validation_scores_``); with
            ``early_stopping=True`` it decides the stop and the best weights instead
            of a held-out ``validation_fraction``. ``sgd`` and ``adam``, data in
            memory (:mod:`xpnet.estimators.validation`).
        scoring : {"accuracy", "log_loss", "r2"} or callable, optional
            The validation score (default: the estimator's ``score``); a callable is
            a scikit-learn scorer ``scoring(model, X_val, y_val)``, run on the host.

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

        Any other exception (bad data found in a later Dask block, a callback or a
        checkpoint write failing, ...) leaves the estimator exactly as it was
        before the call.
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
            validation=(validation_data, scoring),
        )

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

    _stratify_split = False

    # ---- data in, predictions out -----------------------------------------------

    def _forward(self, X: Any, method: str) -> tuple[np.ndarray, Route]:
        """The network's outputs for X, host (n_samples, n_outputs) in the model's
        dtype, and the route of ``method``'s answer
        (:func:`xpnet.data.namespace.predict_route`)."""
        self._check_is_fitted()
        route = predict_route(X, self, self.backend, self._fitted_backend(), method)
        backend, dtype = route.backend, self._model_dtype()
        widths = [int(np.shape(c)[-1]) for c in self.coefs_]
        with backend.on_device(
            lambda: (
                f"predicting on X {data_size(X, dtype)} at once with layer "
                f"widths {widths} does not fit; predict on fewer rows per call"
            )
        ):
            X_dev = self._features(X, backend, dtype, reset=False)
            out = np.asarray(backend.to_numpy(self._network(backend).outputs(X_dev)))
        scaling = self.__dict__.get("standardization_")
        return (out if scaling is None else scaling.outputs(out)), route

    def _host_outputs(self, X: Any) -> np.ndarray:
        """The network's outputs for X as host float64 (scores reduce over them)."""
        return self._forward(X, "score")[0].astype(np.float64)

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
