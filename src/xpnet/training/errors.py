"""How training ends badly: :class:`DivergenceError`, :class:`ConvergenceWarning`."""

from __future__ import annotations

import functools
import sys


class ConvergenceWarning(UserWarning):
    """Training stopped at ``max_iter`` epochs before the loss stopped improving.

    When scikit-learn is imported, the warning issued is also an instance of
    ``sklearn.exceptions.ConvergenceWarning`` (see :func:`convergence_warning`).
    """


class DivergenceError(FloatingPointError, ValueError):
    """The loss became NaN or inf; the model keeps the last good epoch's weights.

    A ValueError too, as scikit-learn's error for non-finite weights.
    """


DIVERGED = (
    "Solver produced non-finite parameter weights. The input data may contain "
    "large values and need to be preprocessed"
)
"""scikit-learn's words for a diverged fit, which every DivergenceError repeats."""


def convergence_warning() -> type[ConvergenceWarning]:
    """The category to warn with: :class:`ConvergenceWarning`, also a subclass of
    scikit-learn's when scikit-learn is imported (so its filters and
    ``pytest.warns`` catch it)."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    if sklearn_exceptions is None:
        return ConvergenceWarning
    return _with_sklearn_base(sklearn_exceptions.ConvergenceWarning)


@functools.cache
def _with_sklearn_base(base: type) -> type[ConvergenceWarning]:
    return type("ConvergenceWarning", (ConvergenceWarning, base), {})
