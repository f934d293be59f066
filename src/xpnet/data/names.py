"""``feature_names_in_``: scikit-learn's convention for DataFrame columns.

``fit`` records the columns of a DataFrame whose column names are all strings
(:func:`xpnet.data.as_features` reads them, the estimator keeps them);
``predict``, ``score`` and ``partial_fit`` check that X has the same names in the
same order, and refuse other names or another order (a model must not predict from
the wrong columns). Mixing named and unnamed data only warns, as in scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import caller


def feature_names(X: Any) -> np.ndarray | None:
    """The column names of a DataFrame-like X as an object array, or None when X has
    no columns or not all of them are strings."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    kinds = sorted({type(name).__qualname__ for name in names})
    if len(kinds) > 1 and "str" in kinds:
        raise TypeError(
            "Feature names are only supported if all input features have string "
            f"names, but your input has {kinds} as feature name / column name "
            "types. Convert the column names to strings, e.g. X.columns = "
            "X.columns.astype(str)"
        )
    return names if kinds == ["str"] else None


def check_feature_names(
    fitted: np.ndarray | None, names: np.ndarray | None, estimator: str
) -> None:
    """Check X's column ``names`` against the ``fitted`` ones (``feature_names_in_``)
    of ``estimator`` (its class name): a mismatch raises, named data meeting unnamed
    only warns, as in scikit-learn."""
    if fitted is None or names is None:
        if names is not None:
            caller.warn(
                f"X has feature names, but {estimator} was fitted without feature "
                "names",
                UserWarning,
            )
        elif fitted is not None:
            caller.warn(
                f"X does not have valid feature names, but {estimator} was fitted "
                "with feature names",
                UserWarning,
            )
        return
    if len(fitted) == len(names) and np.all(fitted == names):
        return
    unseen = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))
    message = "The feature names should match those that were passed during fit.\n"
    for title, group in (
        ("Feature names unseen at fit time:", unseen),
        ("Feature names seen at fit time, yet now missing:", missing),
    ):
        if group:
            message += title + "\n" + "".join(f"- {name}\n" for name in group)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)
