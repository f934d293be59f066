"""The fit driver of both estimators: intake, targets, the run, training, hooks.

``fit`` and ``partial_fit`` come here (:class:`FitDriver`, a mixin of
:class:`~xpnet.estimators.base.MLPBase`): X, y and the weights go through the intake
(:mod:`xpnet.data`, or :mod:`xpnet.dask` for Dask collections), the run is built
from plain values (:mod:`xpnet.training.setup`), trained
(:func:`xpnet.training.loop.train` or L-BFGS) and its weights and history copied
back onto the estimator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple, cast

import numpy as np

from .. import caller
from ..backend import Backend, check_dtype
from ..data import Weights, as_sample_weight
from ..data.namespace import Route, fit_route
from ..maths import losses
from ..maths.optim import Optimizer
from ..memory import data_size
from ..training import setup
from ..training.checkpoint import checkpoint_writer, data_fingerprint
from ..training.compiled import CompiledEpochs, say_eager
from ..training.distributed import check_replicas, reducer_for
from ..training.loop import DivergenceError, History, Run, train
from . import resume
from .callbacks import attach
from .settings import checked_every, checked_settings
from .validation import hold_out, validation_set

Callback = Callable[[Any, History], Any]


class FitDriver:
    """``_fit`` and what it calls (a mixin of MLPBase)."""

    _optimizer: Optimizer | None

    def _fit(
        self: Any,
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
        validation: tuple[Any, Any] = (None, None),
    ) -> Any:
        """``fit`` and ``partial_fit``: set up a :class:`Run` and train it
        (``validation``: ``fit``'s ``validation_data`` and ``scoring``).

        A fit that fails leaves the estimator as it was (its ``__dict__`` before the
        call, history lists and optimizer untouched: the run works on copies), except
        after Ctrl-C (the last completed step is kept) and ``DivergenceError`` (the
        weights of the last good epoch are kept), as documented in ``fit``.
        """
        route = fit_route(X, self.backend, y, sample_weight)
        on_dask = route.dask
        options = (sample_weight, distributed, resume_from, checkpoint, on_dask)
        _check_solver_options(self, *options, validation)
        backend = route.backend
        no_group = distributed is None or distributed is False
        reducer = None if no_group else reducer_for(distributed, backend)
        before = _snapshot(self)
        run = None
        with route.backend.context():  # CuPy: allocate on this backend's device
            try:
                run, data = self._prepare(
                    route,
                    X,
                    y,
                    sample_weight,
                    incremental,
                    classes,
                    resume_from,
                    resume_on_other_data,
                    fingerprint=checkpoint is not None,
                    on_dask=on_dask,
                    validation=validation,
                )
                if reducer is not None:
                    run.reducer = reducer
                    run.settings.verbose = run.settings.verbose and reducer.rank == 0
                    check_replicas(reducer, run, self._export_params())
                    if reducer.rank != 0:
                        checkpoint = None  # rank 0 writes the checkpoints
                self._add_hooks(run, callbacks, checkpoint, checkpoint_every, data)
                if self.solver == "lbfgs":
                    self._fit_lbfgs(run, callbacks)
                else:
                    train(run)
                if run.compiled is None:  # none asked, or its capture failed
                    self.compiled_ = "eager"
            except BaseException as exc:
                self._after_failure(exc, run, before)
                raise
            self._store(run)
        return self

    def _after_failure(
        self: Any, exc: BaseException, run: Run | None, before: dict[str, Any]
    ) -> None:
        """What a failed fit leaves: after Ctrl-C the last completed step, after
        ``DivergenceError`` the last good epoch (as documented), else the estimator
        as it was (``before``, from :func:`_snapshot`)."""
        if isinstance(exc, KeyboardInterrupt) and run is not None:
            self._store(run)
        elif isinstance(exc, DivergenceError) and run is not None:
            self._store(run)
            self._optimizer = None  # its state holds the non-finite steps
        else:
            _restore(self, before)

    def _prepare(
        self: Any,
        route: Route,
        X: Any,
        y: Any,
        sample_weight: Any,
        incremental: bool,
        classes: Any,
        resume_from: Any,
        resume_on_other_data: bool,
        *,
        fingerprint: bool,
        on_dask: bool,
        validation: tuple[Any, Any] = (None, None),
    ) -> tuple[Run, dict[str, Any] | None]:
        """The run of a fit on ``backend`` (data on the device, or in blocks when X, y
        or the weights are Dask collections; weights, optimizer, the checkpoint's
        state) and, when ``fingerprint`` or resuming, the data's fingerprint."""
        settings, hidden_sizes = checked_settings(self)
        settings.incremental = incremental
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        saved = None if resume_from is None else resume.read(self, resume_from)
        first_pass = saved is None and (
            "coefs_" not in self.__dict__ or (not self.warm_start and not incremental)
        )
        backend = route.backend
        dtype = _record_route(self, route, first_pass)
        data = self._data(
            backend,
            X,
            y,
            sample_weight,
            dtype,
            first_pass,
            incremental,
            classes,
            on_dask,
        )
        prints = None
        if fingerprint or saved is not None:
            prints = data.fingerprint(backend)
        if saved is not None and not resume_on_other_data:
            resume.check_same_data(saved, prints, resume_from)
            if data.blocks is not None:  # each block checked as it is computed
                data.blocks.expect(saved.data["blocks"] or {}, resume_from)
        rng = _host_rng(self.random_state)
        if saved is not None:
            rng.bit_generator.state = saved.rng_split
        fresh = hidden_sizes if first_pass else None
        run = self._new_run(backend, data, settings, rng, incremental, fresh)
        if not isinstance(self.learning_rate, str):  # a schedule (checked)
            run.schedule = self.learning_rate
        if self.solver == "lbfgs":  # full batch: no split, no batches
            return run, prints
        with backend.on_device(lambda: _data_message(X, dtype)):
            self._validation(run, backend, dtype, rng, data.Y_host, validation)
        n_samples = (run.X if run.rows is None else run.rows).shape[0]
        run.settings.batch_size = _batch_size(self.batch_size, n_samples)
        if saved is not None:
            resume.restore_run(saved, run)
        return run, prints

    def _validation(
        self: Any,
        run: Run,
        backend: Backend,
        dtype: str,
        rng: np.random.Generator,
        Y_host: Any,
        validation: tuple[Any, Any],
    ) -> None:
        """The run's validation score: of ``validation_data`` (recorded; it stops
        training with early stopping), else of a held-out fraction (early stopping)."""
        validation_data, scoring = validation
        if validation_data is not None:
            validation_set(self, run, backend, dtype, validation_data, scoring)
            run.validation_stops = bool(self.early_stopping)
            if self.early_stopping:
                setup.start_best(run, self.__dict__.get("_best_params_host"), dtype)
            elif run.state.history.validation_scores is None:
                run.state.history.validation_scores = []
        elif callable(scoring):
            raise ValueError("a callable scoring needs validation_data=(X_val, y_val)")
        elif self.early_stopping:
            hold_out(self, run, rng, Y_host, scoring)
        elif scoring is not None:
            raise ValueError(
                "scoring needs validation_data or early_stopping=True; got "
                f"scoring={scoring!r} without either"
            )

    def _data(
        self: Any,
        backend: Backend,
        X: Any,
        y: Any,
        sample_weight: Any,
        dtype: str,
        first_pass: bool,
        incremental: bool,
        classes: Any,
        on_dask: bool,
    ) -> FitData:
        """X, y and the weights through the intake, on the device (or as Dask
        blocks); the targets encoded (``classes_``, ``out_activation_`` set)."""
        if on_dask:
            from .dask_input import dask_blocks

            if getattr(self, "class_weight", None) is not None:
                raise ValueError(
                    "class_weight needs data in memory; with a Dask array pass "
                    "sample_weight (the class weight of each row)"
                )
            X_dask = self._features(
                X, backend, dtype, reset=first_pass, dask_rows=(y, sample_weight)
            )
            blocks = dask_blocks(
                self,
                X_dask,
                y,
                backend,
                dtype,
                first_pass,
                incremental,
                classes,
                sample_weight,
            )
            return FitData(blocks.X, blocks.Y, None, None, blocks)
        data_fits = partial(backend.on_device, lambda: _data_message(X, dtype))
        with data_fits():
            X_dev = self._features(X, backend, dtype, reset=first_pass)
        Y_host = self._targets(y, X_dev.shape[0], first_pass, incremental, classes)
        weights = None  # none given: nothing to take in
        if sample_weight is not None:
            weights = as_sample_weight(sample_weight, backend, X_dev.shape[0], dtype)
        if getattr(self, "class_weight", None) is not None:
            weights = self._class_weighted(weights, Y_host, backend, dtype, incremental)
        with data_fits():
            Y_dev = backend.asarray(Y_host, dtype)
        return FitData(X_dev, Y_dev, Y_host, weights, None)

    def _fit_lbfgs(self: Any, run: Run, callbacks: Sequence[Callback] | None) -> None:
        """Full-batch L-BFGS (SciPy); ``loss_`` is the final loss, as scikit-learn's."""
        from ..training.lbfgs import fit_lbfgs

        if callbacks:
            attach(self, list(callbacks), run)
        run.state.history.loss_curve = []
        fit_lbfgs(run, int(self.max_fun))

    def _add_hooks(
        self: Any,
        run: Run,
        callbacks: Sequence[Callback] | None,
        checkpoint: Any,
        checkpoint_every: int | None,
        data: dict[str, Any] | None,
    ) -> None:
        """The run's epoch callback, checkpoint writer and compiled epochs, where
        asked for (``compiled_`` says which epochs run); with ``verbose``, the fit's
        summary line (where it computes, in what dtype, compiled or eager)."""
        if callbacks:
            attach(self, list(callbacks), run)
        if checkpoint is not None:
            describe = resume.describer(self)
            run.checkpoint = checkpoint_writer(checkpoint, describe, data)
            run.checkpoint_every = checked_every(checkpoint_every, run.epoch_steps())
        self.compiled_ = "eager"
        if self.compile and self.solver == "lbfgs":
            say_eager("solver 'lbfgs' (SciPy's optimizer drives the steps)")
        elif self.compile:
            run.compiled = CompiledEpochs.for_run(run)
            if run.compiled is not None:
                self.compiled_ = run.compiled.name
        if run.settings.verbose:
            print(f"{type(self).__name__}: {self._fit_summary()}")

    def _fit_summary(self: Any) -> str:
        """Where the fit computes, in what dtype, compiled or eager, e.g.
        ``'numpy', float64, eager`` (a verbose fit's first line, ``str`` of a fitted
        model)."""
        path = self.__dict__.get("compiled_", "eager")
        return f"{self._fitted_backend().name!r}, {self.dtype_}, {path}"

    def __str__(self: Any) -> str:
        """The repr (the constructor call, as scikit-learn's); once fitted, followed
        by ``# fitted: 'numpy', float64, eager``: where, in what dtype and how the
        fit ran (``dtype=None`` follows X, so the repr alone does not say)."""
        if not self.__sklearn_is_fitted__():
            return repr(self)
        return f"{self!r}  # fitted: {self._fit_summary()}"


def _record_route(model: Any, route: Route, first_pass: bool) -> str:
    """Record where the fit computes (weights kept in X's namespace where it
    follows X) and its dtype, which it returns: the parameter's, else the fitted
    one, else X's."""
    model._backend_name, model._follows = route.backend.name, route.follows
    if model.dtype is not None:
        model.dtype_ = check_dtype(model.dtype)
    elif first_pass or "dtype_" not in model.__dict__:
        model.dtype_ = route.dtype
    return str(model.dtype_)


def _host_rng(random_state: Any) -> np.random.Generator:
    """The host generator for weights, splits and shuffles, from ``random_state``
    (checked with the settings): a seed or None gives a fresh Generator, a
    Generator is used as is, a RandomState seeds a Generator (advancing it, as
    scikit-learn's use would)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**32, dtype=np.uint64))
    return np.random.default_rng(random_state)


def _batch_size(batch_size: int | str, n_samples: int) -> int:
    """scikit-learn's rule: ``"auto"`` is min(200, n); more than n is clipped."""
    if batch_size == "auto":
        return min(200, n_samples)
    batch_size = cast(int, batch_size)
    if batch_size > n_samples:
        caller.warn(
            f"batch_size={batch_size} is larger than the {n_samples} training "
            f"samples; it is clipped to {n_samples}",
            UserWarning,
        )
        return n_samples
    return int(batch_size)


def _check_solver_options(
    model: Any,
    sample_weight: Any,
    distributed: Any,
    resume_from: Any,
    checkpoint: Any,
    on_dask: bool,
    validation: tuple[Any, Any] = (None, None),
) -> None:
    """Refuse what Dask input, lbfgs, sample weights and a user's loss do not
    combine with (yet)."""
    solver = model.solver
    validating = any(value is not None for value in validation)
    if validating and (on_dask or solver == "lbfgs"):
        raise ValueError(
            "validation_data and scoring need a stochastic solver ('sgd' or "
            "'adam') and data in memory"
        )
    if (
        sample_weight is not None
        and model._loss in losses.LOSSES
        and not losses.LOSSES[model._loss].weighted
    ):
        raise ValueError(
            f"sample_weight cannot be used with loss {model._loss!r}: a loss "
            "registered with xpnet.register_loss is unweighted"
        )
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


class FitData(NamedTuple):
    """A fit's data: X and Y on the device (or Dask arrays giving the shapes, with
    ``blocks``), the encoded host targets and the sample weights."""

    X: Any
    Y: Any
    Y_host: np.ndarray | None
    weights: Weights | None
    blocks: Any

    def fingerprint(self: Any, backend: Backend) -> dict[str, Any]:
        """The checkpoint's record of this data."""
        if self.blocks is not None:
            return self.blocks.fingerprint()
        weights = None if self.weights is None else self.weights.host
        return data_fingerprint(backend, self.X, cast(np.ndarray, self.Y_host), weights)


def _snapshot(model: Any) -> dict[str, Any]:
    """The estimator's attributes, to put back after a failed fit (the run copies
    the history lists and the optimizer it changes, so a shallow copy suffices)."""
    return dict(model.__dict__)


def _restore(model: Any, before: dict[str, Any]) -> None:
    """Put back the attributes of :func:`_snapshot`."""
    model.__dict__.clear()
    model.__dict__.update(before)


def _data_message(X: Any, dtype: str) -> str:
    return (
        f"the data does not fit: X {data_size(X, dtype)} and its targets; fit "
        "fewer samples per call (partial_fit on chunks), use dtype='float32', or a "
        "device with more memory"
    )
