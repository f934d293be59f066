"""scikit-learn's estimator protocol, written by hand so scikit-learn stays optional.

``get_params``, ``set_params`` and the repr follow ``sklearn.base.BaseEstimator``
(parameters are the ``__init__`` arguments, stored unchanged). ``__sklearn_tags__``
imports scikit-learn only when scikit-learn itself asks for the tags.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from collections.abc import Callable
from typing import Any


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (scikit-learn's contract: both types).

    When scikit-learn is already imported, the error raised is also an instance of
    ``sklearn.exceptions.NotFittedError``.
    """


def not_fitted(message: str) -> NotFittedError:
    """A NotFittedError, also scikit-learn's when scikit-learn is imported."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    if sklearn_exceptions is None:
        return NotFittedError(message)
    return _with_sklearn_base(sklearn_exceptions.NotFittedError)(message)


@functools.cache
def _with_sklearn_base(base: type) -> type:
    return type("NotFittedError", (NotFittedError, base), {"__module__": __name__})


class stochastic_only:  # noqa: N801 (a decorator, named as scikit-learn's)
    """A method that exists only with a stochastic ``solver`` (scikit-learn's
    ``available_if``): with ``solver="lbfgs"``, ``hasattr(model, name)`` is False and
    calling it raises AttributeError saying why."""

    def __init__(self, method: Callable[..., Any]) -> None:
        self.method = method
        functools.update_wrapper(self, method)  # type: ignore[arg-type]

    def __get__(self, model: Any, owner: type | None = None) -> Any:
        if model is None:
            return self.method
        if model.solver == "lbfgs":  # an unknown solver is refused at the call
            raise AttributeError(
                f"{self.method.__name__} is only available for stochastic optimizers "
                f"(solver 'sgd' or 'adam'); {model.solver!r} is not stochastic"
            )
        return types.MethodType(self.method, model)


def with_keyword(
    init: Callable[..., Any], name: str, default: Any
) -> inspect.Signature:
    """``init``'s signature with one more keyword-only string parameter ``name``,
    first of the keyword-only ones (what ``get_params`` and scikit-learn read)."""
    signature = inspect.signature(init)
    params = list(signature.parameters.values())
    at = next(i for i, p in enumerate(params) if p.kind is p.KEYWORD_ONLY)
    keyword = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
    params.insert(at, keyword)
    return signature.replace(parameters=params)


class EstimatorAPI:
    """``get_params``/``set_params``/``repr``/tags for classes whose ``__init__``
    stores each argument under its own name; fitted once ``_fitted_attribute`` is set.
    """

    _fitted_attribute = "coefs_"
    _estimator_type: str | None = None

    @classmethod
    def _get_param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters as a dict (scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> EstimatorAPI:
        """Set constructor parameters by name; returns self."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator "
                    f"{type(self).__name__}. Valid parameters are: {sorted(valid)!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not _same_value(value, defaults[name].default)
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, self._fitted_attribute)

    def _check_is_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise not_fitted(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                "with appropriate arguments before using this estimator."
            )

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=True, multi_output=True),
            input_tags=InputTags(sparse=True),
            array_api_support=True,  # X's namespace in, the same namespace out
        )


def _same_value(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return a is b
