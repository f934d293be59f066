"""``MLPClassifier``: scikit-learn's MLP classifier on any array backend.

Parameters, attributes and solvers follow ``sklearn.neural_network.MLPClassifier``
(``sgd``, ``adam`` and ``lbfgs``), plus ``backend`` and ``dtype``; what it shares with
the regressor is :class:`xpnet.estimators.base.MLPBase`. Here: its labels (see
:mod:`.labels`), log-loss and accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import Array, Backend
from ..data import Weights, as_sample_weight, as_targets
from ..data.checks import check_choice
from ..data.intake import as_score_weight
from ..data.namespace import Route, answer
from ..maths.metrics import accuracy
from . import labels as _labels
from .base import MLPBase, dask_aware, keyword_init
from .class_weight import class_sample_weight
from .params import stochastic_only


class MLPClassifier(MLPBase):
    """Multi-layer perceptron classifier, trained with log-loss (scikit-learn's).

    Softmax output for more than two classes; one logistic output for two classes and
    one per label for a multilabel 0/1 indicator ``y``. Labels may be of any sortable
    type (ints, strings, bools). Parameters as ``sklearn.neural_network.MLPClassifier``
    (solvers ``sgd``, ``adam`` and ``lbfgs``), plus:

    backend : str or Backend, optional
        Where training runs (see :func:`xpnet.get_backend`); default: X's namespace
        and device under scikit-learn's ``array_api_dispatch``, else
        ``$XPNET_BACKEND`` or ``numpy`` (see :mod:`xpnet.data.namespace`).
    dtype : {"float32", "float64"} or None, default None
        The precision of the weights and the maths; None: X's (float32 X in
        float32, anything else in float64), as scikit-learn.
    compile : bool, default False
        Run each epoch compiled where the backend has a compiler (JAX: one XLA
        program per epoch; torch: ``torch.compile``; CuPy: CUDA graphs cut at each
        GEMM), with the eager fit's numbers up to rounding; elsewhere, or where a
        CUDA graph capture fails, say so once and run eagerly. ``compiled_`` says
        which ran.
    class_weight : dict, list of dicts, "balanced" or None, keyword-only
        scikit-learn's meaning (see :mod:`xpnet.estimators.class_weight`): each row
        weighs its class's weight times its ``sample_weight``; saved with the model.

    Attributes
    ----------
    classes_ : ndarray of labels (``0 .. n_labels - 1`` for multilabel)
    coefs_, intercepts_ : lists of arrays, (fan_in, fan_out) and (fan_out,): host
        NumPy, or X's namespace after a fit that followed X under dispatch
    dtype_ : str, the dtype the fit used
    loss_curve_, validation_scores_, best_loss_, best_validation_score_, loss_
    n_iter_, t_, n_features_in_, n_outputs_, n_layers_, out_activation_
    compiled_ : str
        How the last fit ran: ``"jax.jit"``, ``"torch.compile"``, ``"CUDA graph"``
        or ``"eager"``.
    epoch_paths_ : list of str
        How each epoch of ``loss_curve_`` ran (the same names), saved with the model.
    """

    _loss = "log_loss"
    _stratify_split = True
    _estimator_type = "classifier"

    # MLPBase's parameters and ``class_weight`` (keyword-only).
    __init__ = keyword_init("class_weight", None)

    def _class_weighted(
        self,
        weights: Weights | None,
        Y_host: np.ndarray,
        backend: Backend,
        dtype: str,
        incremental: bool,
    ) -> Weights | None:
        """``sample_weight`` (checked) times the rows' class weights."""
        rows = class_sample_weight(
            self.class_weight,
            self.classes_,
            Y_host,
            self._target_kind,
            incremental=incremental,
        )
        if rows is None:
            return weights
        if weights is not None:
            rows = weights.host * rows
        return as_sample_weight(rows, backend, Y_host.shape[0], dtype)

    def _targets(
        self,
        y: Any,
        n_samples: int,
        first_pass: bool,
        incremental: bool,
        classes: Any,
    ) -> np.ndarray:
        labels = as_targets(y)
        check_rows(labels, n_samples)
        Y: np.ndarray | None = None
        if incremental:
            self._check_partial_fit_classes(labels, classes)
        elif first_pass:  # the classes found and the targets encoded in one pass
            self._target_kind, self.classes_, Y = _labels.fit_targets(labels)
        else:
            seen = _labels.unique_labels(labels)
            if set(seen.tolist()) != set(self.classes_.tolist()):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as "
                    f"in the previous call to fit. Previously got {self.classes_}, "
                    f"`y` has {seen} (resume_from too needs the same classes)"
                )
        self.out_activation_ = (
            "softmax" if self._target_kind == "multiclass" else "logistic"
        )
        if Y is None:
            Y = _labels.encode(labels, self.classes_, self._target_kind)
        return Y

    def _device_score(
        self, xp: Any, out: Array, Y: Array, weights: Array | None = None
    ) -> Array:
        """Accuracy on the device (subset accuracy for multilabel), weighted by
        ``weights`` (n_samples,) when given."""
        if self._target_kind == "multiclass":
            hits = xp.argmax(out, axis=1) == xp.argmax(Y, axis=1)
        else:
            hits = xp.all((out > 0.5) == (Y > 0.5), axis=1)
        return accuracy(xp, xp.astype(hits, out.dtype), weights)

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
            given = _labels.unique_labels(as_targets(classes, name="classes"))
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

    @stochastic_only
    def partial_fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        classes: Any = None,
        *,
        distributed: Any = None,
    ) -> MLPClassifier:
        """One epoch over (X, y), keeping the optimizer's state between calls.

        ``classes`` (every label that will ever appear) is required on the first call;
        ``sample_weight`` and ``distributed`` as in :meth:`fit`. Not available with
        ``solver="lbfgs"``.
        """
        self._fit(
            X,
            y,
            sample_weight,
            incremental=True,
            classes=classes,
            distributed=distributed,
        )
        return self

    @dask_aware
    def predict(self, X: Any) -> Any:
        """Predicted labels (n_samples,), or a 0/1 matrix for multilabel; numeric
        labels in X's namespace (see :mod:`xpnet.data.namespace`), strings NumPy."""
        return answer(*self._labels(X, "predict"))

    def _labels(self, X: Any, method: str) -> tuple[np.ndarray, Route]:
        out, route = self._forward(X, method)
        return _labels.decode(out, self.classes_, self._target_kind), route

    @dask_aware
    def predict_proba(self, X: Any) -> Any:
        """Class probabilities (n_samples, n_classes) in the model's dtype, in X's
        namespace (see :mod:`xpnet.data.namespace`)."""
        return answer(*self._proba(X, "predict_proba"))

    def _proba(self, X: Any, method: str) -> tuple[np.ndarray, Route]:
        out, route = self._forward(X, method)
        if self._target_kind == "binary":
            return np.hstack([1 - out, out]), route
        return out, route

    @dask_aware
    def predict_log_proba(self, X: Any) -> Any:
        """``log(predict_proba(X))``."""
        proba, route = self._proba(X, "predict_log_proba")
        with np.errstate(divide="ignore"):
            return answer(np.log(proba), route)

    @dask_aware
    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy (subset accuracy for multilabel)."""
        predicted, _ = self._labels(X, "score")
        truth = as_targets(y)
        check_rows(truth, predicted.shape[0])
        _labels.check_label_values(truth)
        hits = predicted == truth
        if hits.ndim == 2:
            hits = hits.all(axis=1)
        weights = as_score_weight(sample_weight, None, predicted.shape[0])
        return float(np.average(hits, weights=weights))

    _extra_keys = ("classes_", "target_kind")
    _out_activations = ("softmax", "logistic")

    def _export_extra(self) -> dict[str, Any]:
        return {
            "classes_": _labels.classes_to_json(self.classes_),
            "target_kind": self._target_kind,
        }

    def _import_extra(self, config: dict[str, Any]) -> None:
        kind = check_choice(config["target_kind"], "target_kind", _labels.KINDS)
        n_outputs = self.n_outputs_
        n_classes = 2 if kind == "binary" else n_outputs
        if (kind == "binary") != (n_outputs == 1) or (
            kind == "multiclass" and n_outputs < 3
        ):
            raise ValueError(
                f"target_kind {kind!r} does not fit an output layer of {n_outputs}"
            )
        self.classes_ = _labels.classes_from_json(config["classes_"], n_classes)
        if kind == "multilabel-indicator" and self.classes_.tolist() != list(
            range(n_outputs)
        ):
            raise ValueError(f"multilabel classes_ must be 0 .. {n_outputs - 1}")
        expected = "softmax" if kind == "multiclass" else "logistic"
        if self.out_activation_ != expected:
            raise ValueError(f"{kind} needs out_activation_ {expected!r}")
        self._target_kind = kind

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags

        tags = super().__sklearn_tags__()
        tags.classifier_tags = ClassifierTags(multi_label=True)
        return tags


def check_rows(labels: np.ndarray, n_samples: int) -> None:
    """ValueError unless ``labels`` has ``n_samples`` rows."""
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"y must have {n_samples} rows, one per sample of X; got shape "
            f"{labels.shape}"
        )
