"""``class_weight`` of ``MLPClassifier``, with scikit-learn's meaning, without it.

``None``: every class weighs 1. A dict ``{label: weight}``: the labels named weigh
that much, the others 1. ``"balanced"``: ``n_samples / (n_classes * count)`` per
class, as ``sklearn.utils.class_weight.compute_class_weight`` computes it. For a
multilabel indicator ``y`` every column is an output with classes 0 and 1: a list of
one dict per column, or ``"balanced"`` per column, and a row's weight is the product
over the columns (``sklearn.utils.class_weight.compute_sample_weight``). The row
weights multiply ``sample_weight``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..files.messages import brief


def class_sample_weight(
    class_weight: Any,
    classes: np.ndarray,
    Y: np.ndarray,
    kind: str,
    *,
    incremental: bool,
) -> np.ndarray | None:
    """The weight of each row (n_samples,) float64 from ``class_weight`` and the
    encoded targets ``Y`` (n_samples, n_outputs); None for ``class_weight=None``."""
    if class_weight is None:
        return None
    if isinstance(class_weight, str) and class_weight == "balanced" and incremental:
        raise ValueError(
            "class_weight='balanced' is not supported by partial_fit (the class "
            "counts of one chunk are not the data's): pass a dict of the weights "
            "computed on the whole data"
        )
    if kind == "multilabel-indicator":
        return _per_output(class_weight, Y)
    index = np.argmax(Y, axis=1) if kind == "multiclass" else Y[:, 0].astype(np.intp)
    return _class_weights(class_weight, classes, index)[index]


def _per_output(class_weight: Any, Y: np.ndarray) -> np.ndarray:
    n_outputs = Y.shape[1]
    if isinstance(class_weight, str) and class_weight == "balanced":
        weights = [class_weight] * n_outputs
    elif isinstance(class_weight, (list, tuple)) and len(class_weight) == n_outputs:
        weights = list(class_weight)
    else:
        raise ValueError(
            "class_weight for a multilabel y must be 'balanced' or a list of "
            f"{n_outputs} dicts (one per column, classes 0 and 1); got "
            f"{brief(class_weight)}"
        )
    product = np.ones(Y.shape[0])
    for column, weight in enumerate(weights):
        index = Y[:, column].astype(np.intp)
        if isinstance(weight, dict):  # the column's classes are 0 and 1
            product *= _class_weights(weight, np.arange(2), index)[index]
        else:  # balanced over the classes present, as scikit-learn's
            present, index = np.unique(index, return_inverse=True)
            product *= _class_weights(weight, present, index)[index]
    return product


def _class_weights(
    class_weight: Any, classes: np.ndarray, index: np.ndarray
) -> np.ndarray:
    """Weight per class (n_classes,) float64; ``index`` is each row's class."""
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = np.bincount(index, minlength=len(classes))
        if np.any(counts == 0):
            missing = classes[counts == 0].tolist()
            raise ValueError(
                f"class_weight='balanced' needs every class in y; {missing} absent"
            )
        # scikit-learn's expression, for the same rounding
        return len(index) / (len(classes) * counts.astype(np.float64))
    if not isinstance(class_weight, dict):
        raise ValueError(
            "class_weight must be None, 'balanced' or a dict {label: weight}; got "
            f"{brief(class_weight)}"
        )
    weights = np.ones(len(classes))
    known = classes.tolist()
    for label, weight in class_weight.items():
        key = label.item() if isinstance(label, np.generic) else label
        if key not in known:
            raise ValueError(
                f"class_weight names the label {brief(label)}, which is not one of "
                f"the classes {known}"
            )
        if not isinstance(weight, numbers.Real) or not float(weight) >= 0:
            raise ValueError(
                f"class_weight[{brief(label)}] must be a number >= 0; got "
                f"{brief(weight)}"
            )
        weights[known.index(key)] = float(weight)
    return weights


def class_weight_to_json(class_weight: Any) -> Any:
    """A JSON-able form: dicts as ``{"labels": [...], "weights": [...]}``."""
    if isinstance(class_weight, dict):
        labels = [k.item() if isinstance(k, np.generic) else k for k in class_weight]
        return {"labels": labels, "weights": [float(w) for w in class_weight.values()]}
    if isinstance(class_weight, (list, tuple)):
        return [class_weight_to_json(w) for w in class_weight]
    return class_weight


def class_weight_from_json(saved: Any) -> Any:
    """The inverse of :func:`class_weight_to_json` (checked when the model fits)."""
    if isinstance(saved, dict):
        if set(saved) != {"labels", "weights"} or not (
            isinstance(saved["labels"], list)
            and isinstance(saved["weights"], list)
            and len(saved["labels"]) == len(saved["weights"])
        ):
            raise ValueError(
                "class_weight must be {'labels': [...], 'weights': [...]} of one length"
            )
        return dict(zip(saved["labels"], saved["weights"], strict=True))
    if isinstance(saved, list):
        return [class_weight_from_json(w) for w in saved]
    if saved is None or saved == "balanced":
        return saved
    raise ValueError(
        "class_weight must be None, 'balanced' or labels and weights; got "
        f"{brief(saved)}"
    )
