"""The estimators in model files: their config and arrays for :mod:`xpnet.files`.

A fitted ``MLPClassifier``/``MLPRegressor`` becomes a JSON-able config (its
parameters, dtype, layer sizes, output activation, history and, for the classifier,
its classes) plus host arrays ``W{l}``, ``b{l}``; :func:`import_estimator` checks such
a pair and turns it back into an equal fitted estimator.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..backend import Backend, check_dtype
from ..files.model_file import check_config, layer_parameters, parameter_arrays
from ..training.loop import History
from ..validation import check_choice, check_hidden_sizes, check_layer_sizes
from .params import not_fitted
from .settings import checked_settings

_KEYS = ("kind", "params", "dtype", "layer_sizes", "out_activation_", "history")


def export_estimator(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON-able config, host arrays ``W{l}``, ``b{l}`` in the model's dtype)."""
    if not model.__sklearn_is_fitted__():
        raise not_fitted(f"cannot save an unfitted {type(model).__name__}")
    dtype = check_dtype(model.dtype)
    config = {
        "kind": type(model).__name__,
        "params": export_params(model),
        "dtype": dtype,
        "layer_sizes": [int(model.n_features_in_)]
        + [int(np.shape(c)[1]) for c in model.coefs_],
        "out_activation_": model.out_activation_,
        "history": model._history().to_json(),
        **model._export_extra(),
    }
    weights = [np.asarray(c, dtype=dtype) for c in model.coefs_]
    biases = [np.asarray(b, dtype=dtype) for b in model.intercepts_]
    return config, parameter_arrays(weights, biases)


def export_params(model: Any) -> dict[str, Any]:
    """``model.get_params()`` in JSON form (a generator random_state becomes None)."""
    params = model.get_params()
    params["hidden_layer_sizes"] = check_hidden_sizes(model.hidden_layer_sizes)
    params["backend"] = backend_name(model.backend)
    if not isinstance(model.random_state, (numbers.Integral, type(None))):
        params["random_state"] = None
    elif model.random_state is not None:
        params["random_state"] = int(model.random_state)
    for name, value in params.items():
        if isinstance(value, np.generic):
            params[name] = value.item()
    return params


def import_estimator(
    cls: type, config: dict[str, Any], arrays: dict[str, np.ndarray], backend: Any
) -> Any:
    """A fitted ``cls`` from :func:`export_estimator`'s output, set to run on
    ``backend`` (a spec or Backend; None keeps the saved one). ValueError or
    TypeError name what does not fit."""
    check_config(config, _KEYS + cls._extra_keys)
    if config["kind"] != cls.__name__:
        raise ValueError(f"kind must be {cls.__name__!r}; got {config['kind']!r}")
    model = cls(**_constructor_params(cls, config["params"], backend))
    checked_settings(model)
    dtype = check_dtype(config["dtype"])
    if dtype != check_dtype(model.dtype):
        raise ValueError(f"dtype {dtype!r} disagrees with params {model.dtype!r}")
    sizes = check_layer_sizes(config["layer_sizes"])
    hidden = check_hidden_sizes(model.hidden_layer_sizes)
    if sizes[1:-1] != hidden:
        raise ValueError(
            f"layer_sizes {sizes} disagree with hidden_layer_sizes {hidden}"
        )
    model.coefs_, model.intercepts_ = layer_parameters(arrays, sizes, True, dtype)
    model.n_features_in_ = sizes[0]
    model.out_activation_ = check_choice(
        config["out_activation_"], "out_activation_", cls._out_activations
    )
    model._set_history(_history(config["history"]))
    model._optimizer = None
    model._best_params_host = None
    model._import_extra(config)
    return model


def backend_name(backend: Any) -> str | None:
    """A backend spec as a string (a Backend object becomes its name)."""
    return backend.name if isinstance(backend, Backend) else backend


def _constructor_params(cls: type, params: Any, backend: Any) -> dict[str, Any]:
    """The saved parameters as ``cls(**params)`` takes them, ``backend`` swapped in."""
    names = cls._get_param_names()
    if not isinstance(params, dict) or set(params) != set(names):
        raise ValueError(f"params must name exactly {sorted(names)}; got {params!r}")
    params = dict(params)
    if isinstance(params["hidden_layer_sizes"], list):  # JSON has no tuples
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    if backend is not None:
        params["backend"] = backend_name(backend)
    return params


def _history(saved: Any) -> History:
    if not isinstance(saved, dict):
        raise TypeError(f"history must be an object; got {saved!r}")
    try:
        return History.from_json(saved)
    except TypeError as exc:
        raise ValueError(f"history is malformed: {exc}") from None
