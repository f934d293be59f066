"""The estimators in model files: their config and arrays for :mod:`xpnet.files`.

A fitted ``MLPClassifier``/``MLPRegressor`` becomes a JSON-able config (its
parameters, dtype, layer sizes, output activation, history and, for the classifier,
its classes) plus host arrays ``W{l}``, ``b{l}`` (and the standardization's ``x_mean``,
``x_scale``, ``y_mean``, ``y_scale`` where it has one); :func:`import_estimator`
checks every value of such a pair (type, size, consistency with the arrays) and turns
it back into an equal fitted estimator.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..backend import Backend, check_dtype
from ..data.checks import check_choice, check_hidden_sizes, check_layer_sizes
from ..data.namespace import to_host
from ..files.messages import brief
from ..files.model_file import check_config, layer_parameters, parameter_arrays
from ..training.compiled import COMPILERS
from ..training.loop import History
from ..training.schedules import schedule_from_json, schedule_to_json
from .class_weight import class_weight_from_json, class_weight_to_json
from .params import not_fitted
from .scaling import NAMES as SCALING_NAMES
from .scaling import Standardization
from .settings import checked_settings

_ADDED_PARAMS = {
    "max_fun": 15000,
    "loss": "squared_error",
    "class_weight": None,
    "max_grad_norm": None,
}
_KEYS = ("kind", "params", "dtype", "layer_sizes", "out_activation_", "history")
_OPTIONAL_KEYS = ("feature_names_in_",)
"""Config keys added within format_version 2; a file without one means None (a
model fitted without feature names)."""


def export_estimator(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON-able config, host arrays ``W{l}``, ``b{l}`` in the model's dtype).

    ``params["hidden_layer_sizes"]`` is that of the fitted layers, whatever
    ``set_params`` changed since: the file describes the network that predicts.
    """
    if not model.__sklearn_is_fitted__():
        raise not_fitted(f"cannot save an unfitted {type(model).__name__}")
    dtype = model._model_dtype()
    params = export_params(model)
    params["hidden_layer_sizes"] = [int(np.shape(c)[1]) for c in model.coefs_[:-1]]
    config = {
        "kind": type(model).__name__,
        "params": params,
        "dtype": dtype,
        "layer_sizes": [int(model.n_features_in_)]
        + [int(np.shape(c)[1]) for c in model.coefs_],
        "out_activation_": model.out_activation_,
        "history": model._history().to_json(),
        **model._export_extra(),
    }
    names = model.__dict__.get("feature_names_in_")
    if names is not None:  # optional within format_version 2
        config["feature_names_in_"] = [str(name) for name in names]
    weights = [np.asarray(to_host(c), dtype=dtype) for c in model.coefs_]
    biases = [np.asarray(to_host(b), dtype=dtype) for b in model.intercepts_]
    arrays = parameter_arrays(weights, biases)
    scaling = getattr(model, "standardization_", None)
    return config, arrays if scaling is None else arrays | scaling.arrays()


def export_params(model: Any) -> dict[str, Any]:
    """``model.get_params()`` in JSON form (a generator random_state becomes None,
    ``n_iter_no_change=inf`` the string ``"inf"``)."""
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
    if params["n_iter_no_change"] == math.inf:
        params["n_iter_no_change"] = "inf"
    params["learning_rate"] = schedule_to_json(params["learning_rate"])
    if "class_weight" in params:  # dict keys may be labels of any type
        params["class_weight"] = class_weight_to_json(params["class_weight"])
    return params


def import_estimator(
    cls: Any, config: dict[str, Any], arrays: dict[str, np.ndarray], backend: Any
) -> Any:
    """A fitted ``cls`` from :func:`export_estimator`'s output, set to run on
    ``backend`` (a spec or Backend; None keeps the saved one). ValueError or
    TypeError name what does not fit."""
    check_config(config, _KEYS + cls._extra_keys, _OPTIONAL_KEYS)
    if config["kind"] != cls.__name__:
        raise ValueError(f"kind must be {cls.__name__!r}; got {brief(config['kind'])}")
    model = cls(**_constructor_params(cls, config["params"], backend))
    hidden = checked_settings(model)[1]
    dtype = check_dtype(config["dtype"])
    if model.dtype is not None and dtype != check_dtype(model.dtype):
        raise ValueError(f"dtype {dtype!r} disagrees with params {model.dtype!r}")
    model.dtype_ = dtype
    sizes = check_layer_sizes(config["layer_sizes"])
    if sizes[1:-1] != hidden:
        raise ValueError(
            f"layer_sizes {sizes} disagree with hidden_layer_sizes {hidden}"
        )
    scaling_names = tuple(name for name in SCALING_NAMES if name in arrays)
    model.coefs_, model.intercepts_ = layer_parameters(
        arrays, sizes, True, dtype, extra=scaling_names
    )
    model.standardization_ = Standardization.from_arrays(arrays, sizes[0], sizes[-1])
    if cls._estimator_type == "classifier" and "y_mean" in scaling_names:
        raise ValueError("a classifier's file must not hold y_mean or y_scale")
    model.n_features_in_ = sizes[0]
    if config.get("feature_names_in_") is not None:
        model.feature_names_in_ = _feature_names(config["feature_names_in_"], sizes[0])
    model.out_activation_ = check_choice(
        config["out_activation_"], "out_activation_", cls._out_activations
    )
    model._set_history(_history(config["history"], dtype))
    model._optimizer = None
    model._best_params_host = None
    model._import_extra(config)
    return model


def _feature_names(names: Any, n_features: int) -> np.ndarray:
    """The saved column names: ``n_features`` strings."""
    if (
        not isinstance(names, list)
        or len(names) != n_features
        or not all(isinstance(name, str) for name in names)
    ):
        raise ValueError(
            f"feature_names_in_ must be a list of {n_features} strings, one per "
            "input of the first layer"
        )
    return np.asarray(names, dtype=object)


def backend_name(backend: Any) -> str | None:
    """A backend spec as a string (a Backend object becomes its name)."""
    return backend.name if isinstance(backend, Backend) else backend


def _constructor_params(cls: Any, params: Any, backend: Any) -> dict[str, Any]:
    """The saved parameters as ``cls(**params)`` takes them, ``backend`` swapped in."""
    names = cls._get_param_names()
    if isinstance(params, dict):  # files written before 0.2.0 lack these
        params = {k: v for k, v in _ADDED_PARAMS.items() if k in names} | params
    if not isinstance(params, dict) or set(params) != set(names):
        raise ValueError(
            f"params must name exactly {sorted(names)}; got {brief(params)}"
        )
    params = dict(params)
    if isinstance(params["hidden_layer_sizes"], list):  # JSON has no tuples
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    if params["n_iter_no_change"] == "inf":  # nor infinities
        params["n_iter_no_change"] = math.inf
    params["learning_rate"] = schedule_from_json(params["learning_rate"])
    if "class_weight" in params:
        params["class_weight"] = class_weight_from_json(params["class_weight"])
    if backend is not None:
        params["backend"] = backend_name(backend)
    return params


_HISTORY_COUNTS = ("no_improvement_count", "n_iter", "t")


EPOCH_PATHS = {"eager", *COMPILERS.values()}
"""What ``History.epoch_paths`` may hold."""

MAX_COUNT = 2**53
"""The largest history count (epochs, samples) read: exact as a float."""


def _history(saved: Any, dtype: str) -> History:
    """The saved history, every value checked: numbers within the range of the
    model's ``dtype`` (its losses and scores are computed in it; "inf" and "-inf"
    only for the best loss and score), counts in [0, 2**53]."""
    fields = set(History.__dataclass_fields__)
    if isinstance(saved, dict) and "epoch_paths" not in saved:  # a file before 0.3.0
        saved = {**saved, "epoch_paths": []}
    if not isinstance(saved, dict) or set(saved) != fields:
        raise ValueError(f"history must be an object with keys {sorted(fields)}")
    paths = saved["epoch_paths"]
    if not isinstance(paths, list) or not all(
        isinstance(p, str) and p in EPOCH_PATHS for p in paths
    ):
        raise ValueError(
            f"history epoch_paths must be a list of {sorted(EPOCH_PATHS)}; "
            f"got {brief(paths)}"
        )
    _check_numbers(saved["loss_curve"], "history loss_curve", dtype)
    if saved["validation_scores"] is not None:
        _check_numbers(saved["validation_scores"], "history validation_scores", dtype)
    for name, infinity in (("best_loss", "inf"), ("best_validation_score", "-inf")):
        value = saved[name]
        if value is not None and value != infinity:
            _check_numbers([value], f"history {name}", dtype)
    for name in _HISTORY_COUNTS:
        value = saved[name]
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not 0 <= value <= MAX_COUNT
        ):
            raise ValueError(
                f"history {name} must be an int in [0, 2**53]; got {brief(value)}"
            )
    return History.from_json(saved)


def _check_numbers(values: Any, name: str, dtype: str) -> None:
    limit = float(np.finfo(dtype).max)
    if not isinstance(values, list) or not all(
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and abs(v) <= limit  # False for NaN; ints past float's range overflow
        for v in values
    ):
        raise ValueError(
            f"{name} must be a list of finite numbers within the range of the "
            f"model's dtype {dtype} (|x| <= {limit:.4g})"
        )
