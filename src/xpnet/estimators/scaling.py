"""Standardization kept outside the network, exact in float64 on the host.

``xpnet train`` standardizes features (and regression targets) with train-set
statistics. Folding that into a float32 first layer cancels catastrophically when the
features have a large offset (timestamps, prices, coordinates: ``x - mean`` computed
inside ``x @ W`` in float32 loses every digit), so the estimator keeps it as
``standardization_`` instead: features become ``(x - x_mean) / x_scale`` in float64
before the cast to the model's dtype, and a regressor's outputs
``out * y_scale + y_mean``. It is saved with the model (tensors ``x_mean``,
``x_scale``, ``y_mean``, ``y_scale``, float64) and exported to ONNX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NAMES = ("x_mean", "x_scale", "y_mean", "y_scale")


@dataclass(frozen=True)
class Standardization:
    """Per-column ``(x - x_mean) / x_scale``; ``y_*`` for regression targets.

    Attributes
    ----------
    x_mean, x_scale : ndarray float64 (n_features,)
    y_mean, y_scale : ndarray float64 (n_outputs,), or None
    """

    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray | None = None
    y_scale: np.ndarray | None = None

    @classmethod
    def fit(cls, X: Any, Y: Any = None) -> Standardization:
        """Column means and standard deviations (constant columns keep scale 1) of
        ``X`` (n_samples, n_features) and, optionally, ``Y`` (n_samples, n_outputs)."""
        x_mean, x_scale = _moments(X)
        if Y is None:
            return cls(x_mean, x_scale)
        return cls(x_mean, x_scale, *_moments(Y))

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """Standardized float64 copy of host ``X`` (n_samples, n_features)."""
        return (np.asarray(X, dtype=np.float64) - self.x_mean) / self.x_scale

    def targets(self, Y: np.ndarray) -> np.ndarray:
        """Standardized float64 targets (n_samples, n_outputs), if ``y_*`` is set."""
        if self.y_mean is None or self.y_scale is None:
            return Y
        return (np.asarray(Y, dtype=np.float64) - self.y_mean) / self.y_scale

    def outputs(self, out: np.ndarray) -> np.ndarray:
        """Network outputs (n_samples, n_outputs) back in the targets' units."""
        if self.y_mean is None or self.y_scale is None:
            return out
        return out * self.y_scale + self.y_mean

    def arrays(self) -> dict[str, np.ndarray]:
        """The tensors of a model file: ``x_mean``, ``x_scale`` (, ``y_*``)."""
        values = dict(
            zip(
                NAMES,
                (self.x_mean, self.x_scale, self.y_mean, self.y_scale),
                strict=True,
            )
        )
        return {name: array for name, array in values.items() if array is not None}

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], n_features: int, n_outputs: int
    ) -> Standardization | None:
        """The inverse of :meth:`arrays`, checked (shapes, float64, finite, scales
        > 0); None when the file holds none. ValueError names what is wrong."""
        present = [name for name in NAMES if name in arrays]
        if not present:
            return None
        if present not in (list(NAMES[:2]), list(NAMES)):
            raise ValueError(
                f"standardization tensors must be x_mean and x_scale, optionally with "
                f"y_mean and y_scale; got {present}"
            )
        sizes = {"x": n_features, "y": n_outputs}
        for name in present:
            array = arrays[name]
            shape = (sizes[name[0]],)
            if array.shape != shape or array.dtype != np.float64:
                raise ValueError(
                    f"tensor {name} must be float64 of shape {shape}; got "
                    f"{array.dtype} of shape {array.shape}"
                )
            if not np.isfinite(array).all() or (
                name.endswith("scale") and not (array > 0).all()
            ):
                raise ValueError(f"tensor {name} must be finite (scales > 0)")
        return cls(
            arrays["x_mean"],
            arrays["x_scale"],
            arrays.get("y_mean"),
            arrays.get("y_scale"),
        )


def _moments(data: Any) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(data, dtype=np.float64)
    scale = data.std(axis=0)
    return data.mean(axis=0), np.where(scale > 0, scale, 1.0)
