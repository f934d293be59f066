"""Class labels to network targets and back, on the host, without scikit-learn.

The rules are scikit-learn's ``LabelBinarizer`` as ``MLPClassifier`` uses it: labels of
any type (ints, strings, bools) are sorted into ``classes_``; two classes give one
logistic output (1 for ``classes_[1]``), more give a one-hot softmax target; a 2-D 0/1
indicator matrix is multilabel (``classes_`` is ``0 .. n_labels - 1``, one logistic
output per label).
"""

from __future__ import annotations

from typing import Any

import numpy as np

KINDS = ("binary", "multiclass", "multilabel-indicator")


def as_label_array(y: Any, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D label array or a 2-D indicator matrix (a column is raveled)."""
    if y is None:
        raise ValueError(
            "this estimator requires y to be passed, but the target y is None"
        )
    try:
        labels = np.asarray(y)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be an array of labels; {exc}") from None
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D labels (n_samples,) or a 2-D 0/1 indicator matrix; "
            f"got shape {labels.shape}"
        )
    if labels.shape[0] == 0:
        raise ValueError(f"{name} must not be empty; got shape {labels.shape}")
    if labels.dtype.kind == "c":
        raise ValueError(
            f"{name} must hold real labels; got dtype {labels.dtype} (Complex data "
            "not supported)"
        )
    return labels


def target_kind(labels: np.ndarray, name: str = "y") -> tuple[str, np.ndarray]:
    """(``binary``, ``multiclass`` or ``multilabel-indicator``, the sorted distinct
    labels); errors for the rest."""
    classes = check_label_values(labels, name)
    if labels.ndim == 2:
        return "multilabel-indicator", classes
    if len(classes) < 2:
        raise ValueError(
            f"{name} must hold at least 2 classes to train a classifier; got 1 class "
            f"({labels[0]!r})"
        )
    return ("binary" if len(classes) == 2 else "multiclass"), classes


def check_label_values(labels: np.ndarray, name: str = "y") -> np.ndarray:
    """Refuse continuous, non-finite, mixed or non-indicator 2-D labels; return
    :func:`unique_labels`."""
    if labels.ndim == 2:
        if labels.dtype.kind in "biuf" and np.isin(labels, (0, 1)).all():
            return unique_labels(labels, name)
        raise ValueError(
            f"{name} as a 2-D array must be a 0/1 multilabel indicator matrix; "
            f"got values {np.unique(labels)[:5]}... (multiclass-multioutput "
            "targets are not supported)"
        )
    values = labels
    if labels.dtype == object and not all(isinstance(v, str) for v in labels):
        try:
            values = labels.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"Unknown label type: {name} mixes strings and other objects"
            ) from None
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise ValueError(f"{name} must hold finite labels; it contains NaN or inf")
        if not np.array_equal(values, np.round(values)):
            raise ValueError(
                f"Unknown label type: continuous. {name} holds non-integer numbers "
                "(a regression target?); a classifier needs class labels"
            )
    return unique_labels(labels, name)


def unique_labels(labels: np.ndarray, name: str = "y") -> np.ndarray:
    """The sorted distinct labels (``0 .. n_labels - 1`` for an indicator matrix)."""
    if labels.ndim == 2:
        return np.arange(labels.shape[1])
    try:
        return np.unique(labels)
    except TypeError:
        raise ValueError(
            f"Unknown label type: {name} mixes labels that cannot be sorted together"
        ) from None


def encode(labels: np.ndarray, classes: np.ndarray, kind: str) -> np.ndarray:
    """Targets (n_samples, n_outputs) of 0.0 and 1.0 for the network; float64.

    Raises
    ------
    ValueError
        A label is not in ``classes``.
    """
    if kind == "multilabel-indicator":
        if labels.ndim != 2 or labels.shape[1] != len(classes):
            raise ValueError(
                f"y must be a 0/1 indicator matrix with {len(classes)} columns; got "
                f"shape {labels.shape}"
            )
        return labels.astype(np.float64)
    unseen = ~np.isin(labels, classes)
    if unseen.any():
        raise ValueError(
            f"y has labels not in classes_ {classes.tolist()}: "
            f"{np.unique(labels[unseen]).tolist()}; pass every class in `classes` "
            "at the first partial_fit, or refit"
        )
    index = np.searchsorted(classes, labels)
    if kind == "binary":
        return (index == 1).astype(np.float64)[:, None]
    return np.eye(len(classes))[index]


def decode(outputs: np.ndarray, classes: np.ndarray, kind: str) -> np.ndarray:
    """Predicted labels from the network's outputs (probabilities)."""
    if kind == "multiclass":
        return classes[np.argmax(outputs, axis=1)]
    if kind == "binary":
        return classes[(outputs[:, 0] > 0.5).astype(np.intp)]
    return (outputs > 0.5).astype(np.int64)


def classes_to_json(classes: np.ndarray) -> dict[str, Any]:
    """A JSON-able record of ``classes_`` that :func:`classes_from_json` restores."""
    return {"values": classes.tolist(), "dtype": classes.dtype.str}


def classes_from_json(record: Any) -> np.ndarray:
    """``classes_`` as it was, dtype included (object arrays of str stay object)."""
    if not isinstance(record, dict) or set(record) != {"values", "dtype"}:
        raise ValueError(
            f"classes_ must be {{'values': [...], 'dtype': str}}; got {record!r}"
        )
    if not isinstance(record["values"], list) or not isinstance(record["dtype"], str):
        raise TypeError(f"classes_ must hold a list and a dtype name; got {record!r}")
    dtype = np.dtype(record["dtype"])
    if dtype.kind not in "biufUO":
        raise ValueError(f"classes_ dtype must be bool, int, float or str; got {dtype}")
    if dtype.kind == "O":
        classes = np.empty(len(record["values"]), dtype=object)
        classes[:] = record["values"]
        return classes
    return np.asarray(record["values"], dtype=dtype)
