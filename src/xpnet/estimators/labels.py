"""Class labels to network targets and back, on the host, without scikit-learn.

The rules are scikit-learn's ``LabelBinarizer`` as ``MLPClassifier`` uses it: labels of
any type (ints, strings, bools) are sorted into ``classes_``; two classes give one
logistic output (1 for ``classes_[1]``), more give a one-hot softmax target; a 2-D 0/1
indicator matrix is multilabel (``classes_`` is ``0 .. n_labels - 1``, one logistic
output per label). A single class is ``binary`` too, as in scikit-learn: every target
is 0 and every prediction that class.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..data.intake import as_label_array

__all__ = ["as_label_array"]  # re-exported: the intake checks labels

KINDS = ("binary", "multiclass", "multilabel-indicator")


def target_kind(labels: np.ndarray, name: str = "y") -> tuple[str, np.ndarray]:
    """(``binary`` (one or two classes), ``multiclass`` or ``multilabel-indicator``,
    the sorted distinct labels); errors for the rest."""
    classes = check_label_values(labels, name)
    if labels.ndim == 2:
        return "multilabel-indicator", classes
    return ("binary" if len(classes) <= 2 else "multiclass"), classes


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
    else:
        unseen = ~np.isin(labels, classes)
        if unseen.any():
            raise ValueError(
                f"y has labels not in classes_ {classes.tolist()}: "
                f"{np.unique(labels[unseen]).tolist()}; pass every class in "
                "`classes` at the first partial_fit, or refit"
            )
    return _encoded(labels, classes, kind)


def fit_targets(labels: np.ndarray) -> tuple[str, np.ndarray, np.ndarray]:
    """A first fit's targets in one pass: their kind and classes
    (:func:`target_kind`) and the network's targets (as :func:`encode` gives them,
    without its check: every label is one of the classes just found)."""
    kind, classes = target_kind(labels)
    return kind, classes, _encoded(labels, classes, kind)


def _encoded(labels: np.ndarray, classes: np.ndarray, kind: str) -> np.ndarray:
    if kind == "multilabel-indicator":
        return labels.astype(np.float64)
    index = np.searchsorted(classes, labels)
    if kind == "binary":
        return (index == 1).astype(np.float64)[:, None]
    return np.eye(len(classes))[index]


def decode(outputs: np.ndarray, classes: np.ndarray, kind: str) -> np.ndarray:
    """Predicted labels from the network's outputs (probabilities)."""
    if kind == "multiclass":
        return classes[np.argmax(outputs, axis=1)]
    if kind == "binary":
        positive = (outputs[:, 0] > 0.5).astype(np.intp)
        return classes[np.minimum(positive, len(classes) - 1)]  # one class: always it
    return (outputs > 0.5).astype(np.int64)


MAX_LABEL_WIDTH = 256
"""Widest string dtype a file may declare beyond its longest label."""


def classes_to_json(classes: np.ndarray) -> dict[str, Any]:
    """A JSON-able record of ``classes_`` that :func:`classes_from_json` restores:
    bytes as latin-1 text, datetimes and timedeltas as their int64 counts."""
    if classes.dtype.kind == "S":
        values = [value.decode("latin-1") for value in classes.tolist()]
    elif classes.dtype.kind in "Mm":
        values = classes.view(np.int64).tolist()
    else:
        values = classes.tolist()
    return {"values": values, "dtype": classes.dtype.str}


_VALUE_TYPES = {"b": (bool,), "i": (int,), "u": (int,), "f": (int, float)}


def classes_from_json(record: Any, n_classes: int) -> np.ndarray:
    """``classes_`` as it was, dtype included (object arrays of str stay object).

    Every value is checked before anything is allocated from the record: exactly
    ``n_classes`` labels, each of the dtype's type, a string width no wider than
    needed (up to :data:`MAX_LABEL_WIDTH`), strictly increasing (as ``classes_`` is
    sorted and distinct; a permuted or repeated list would relabel predictions).

    Raises
    ------
    ValueError, TypeError
        Naming what is wrong.
    """
    if not isinstance(record, dict) or set(record) != {"values", "dtype"}:
        raise ValueError("classes_ must be {'values': [...], 'dtype': str}")
    values, name = record["values"], record["dtype"]
    if not isinstance(values, list) or not isinstance(name, str) or len(name) > 32:
        raise TypeError("classes_ must hold a list and a dtype name")
    if len(values) != n_classes:
        raise ValueError(
            f"classes_ must hold {n_classes} labels for the output layer; got "
            f"{len(values)}"
        )
    try:
        dtype = np.dtype(name)
    except (TypeError, ValueError):
        raise ValueError(f"classes_ dtype {name!r} is not a NumPy dtype") from None
    _check_label_types(values, dtype)
    if dtype.kind == "O":
        classes = np.empty(len(values), dtype=object)
        classes[:] = values
    elif dtype.kind == "S":
        classes = np.array([value.encode("latin-1") for value in values], dtype=dtype)
    elif dtype.kind in "Mm":
        try:
            classes = np.array(values, dtype=np.int64).view(dtype)
        except OverflowError:
            raise ValueError(f"classes_ values do not fit dtype {dtype}") from None
    else:
        try:
            classes = np.array(values, dtype=dtype)
        except OverflowError:
            raise ValueError(f"classes_ values do not fit dtype {dtype}") from None
    if any(not a < b for a, b in zip(values[:-1], values[1:], strict=True)):
        raise ValueError(
            "classes_ must be sorted and distinct, as fit makes them; got "
            f"{values[:8]!r}"
        )
    if dtype.kind not in "OSMm" and classes.tolist() != values:
        raise ValueError(f"classes_ values do not fit dtype {dtype}")
    return classes


def _check_label_types(values: list[Any], dtype: np.dtype) -> None:
    kind = dtype.kind
    if kind in _VALUE_TYPES:
        types: tuple[type, ...] = _VALUE_TYPES[kind]
        bad = [
            v
            for v in values
            if not isinstance(v, types)
            or (kind != "b" and isinstance(v, bool))
            or (isinstance(v, float) and not math.isfinite(v))
        ]
    elif kind in "Mm":
        bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool)]
    elif kind in "USO":
        bad = [v for v in values if not isinstance(v, str)]
        longest = max((len(v) for v in values if isinstance(v, str)), default=0)
        width = dtype.itemsize // (4 if kind == "U" else 1)
        if kind != "O" and width > max(MAX_LABEL_WIDTH, longest):
            raise ValueError(
                f"classes_ dtype {dtype} is wider than its labels need ({longest})"
            )
        if kind == "S":
            bad += [
                v for v in values if isinstance(v, str) and max(v, default="") > "\xff"
            ]
    else:
        raise ValueError(
            f"classes_ dtype must be bool, int, float, str, bytes or datetime; got "
            f"{dtype}"
        )
    if bad:
        raise TypeError(f"classes_ of dtype {dtype} cannot hold {bad[0]!r}")
