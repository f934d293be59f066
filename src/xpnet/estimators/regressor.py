"""``MLPRegressor``: scikit-learn's MLP regressor on any array backend.

Parameters, attributes and solvers follow ``sklearn.neural_network.MLPRegressor``,
plus ``backend`` and ``dtype``; what it shares with the classifier is
:class:`xpnet.estimators.base.MLPBase`. Here: real targets, half squared error (or
the half Poisson deviance) and R².
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import Array
from ..data import as_real_targets
from ..data.intake import as_score_weight
from ..data.namespace import answer
from ..maths.metrics import r2_per_output
from .base import MLPBase, dask_aware
from .params import stochastic_only, with_keyword
from .settings import check_regression_loss


class MLPRegressor(MLPBase):
    """Multi-layer perceptron regressor, trained with half squared error or, with
    ``loss="poisson"``, the half Poisson deviance.

    Identity output (exp for Poisson); one or several outputs. Parameters as
    ``sklearn.neural_network.MLPRegressor``, plus ``backend``, ``dtype`` and
    ``compile`` (see :class:`MLPClassifier`). Same attributes, without ``classes_``.
    """

    _estimator_type = "regressor"

    def __init__(self, *args: Any, loss: str = "squared_error", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss = loss

    # MLPBase's parameters and ``loss``, keyword-only (scikit-learn takes it first;
    # xpnet keeps hidden_layer_sizes first, as in its 0.1 releases).
    __init__.__signature__ = with_keyword(  # type: ignore[attr-defined]
        MLPBase.__init__, "loss", "squared_error"
    )

    @property
    def _loss(self) -> str:  # type: ignore[override]
        return self.loss

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
        if check_regression_loss(self.loss) == "poisson":
            if np.any(Y < 0):
                raise ValueError(
                    "y must be non-negative for loss='poisson' (counts or rates); "
                    f"got a minimum of {Y.min()!r}"
                )
            self.out_activation_ = "exp"
        else:
            self.out_activation_ = "identity"
        scaling = self.__dict__.get("standardization_")
        return Y if scaling is None else scaling.targets(Y)

    def _checked_y(self, y: Any, n_samples: int) -> np.ndarray:
        """Targets as finite host float64 (n_samples, n_outputs)."""
        return as_real_targets(y, None, n_samples)

    def _device_score(
        self, xp: Any, out: Array, Y: Array, weights: Array | None = None
    ) -> Array:
        """R² on the device, averaged over outputs (scikit-learn's finite rules),
        weighted by ``weights`` (n_samples,) when given."""
        column = None if weights is None else xp.reshape(weights, (-1, 1))
        return xp.mean(r2_per_output(xp, out, Y, column))

    @stochastic_only
    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, *, distributed: Any = None
    ) -> MLPRegressor:
        """One epoch over (X, y), keeping the optimizer's state between calls
        (``sample_weight`` and ``distributed`` as in :meth:`fit`). Not available with
        ``solver="lbfgs"``.
        """
        self._fit(X, y, sample_weight, incremental=True, distributed=distributed)
        return self

    @dask_aware
    def predict(self, X: Any) -> Any:
        """Predictions (n_samples,) for one output, else (n_samples, n_outputs), in
        the model's dtype and X's namespace (see :mod:`xpnet.data.namespace`)."""
        out, route = self._forward(X, "predict")
        return answer(out[:, 0] if out.shape[1] == 1 else out, route)

    @dask_aware
    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination R², averaged over outputs."""
        predicted = self._host_outputs(X)
        truth = self._checked_y(y, predicted.shape[0])
        if truth.shape[1] != predicted.shape[1]:
            raise ValueError(
                f"y must have {predicted.shape[1]} outputs, as the model predicts; got "
                f"shape {np.shape(y)}"
            )
        weights = as_score_weight(sample_weight, None, predicted.shape[0])
        if weights is not None:
            weights = weights[:, None]
        return float(np.mean(r2_per_output(np, predicted, truth, weights)))

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags

        tags = super().__sklearn_tags__()
        tags.regressor_tags = RegressorTags()
        return tags
