"""Model files: :func:`save` and :func:`load` for every xpnet model class.

A model file is a :mod:`xpnet.files.tensor_file` (safetensors: tensors plus a JSON
header, never pickle) whose header holds ``model``, the configuration its class
exported. :func:`save` refuses, before writing anything, a model that :func:`load`
would refuse.

A model class takes part through two methods: ``_export(self) -> (config, arrays)``
with ``config["kind"]`` its class name, and the classmethod
``_import(cls, config, arrays, backend)``, which raises ``ValueError`` or ``TypeError``
for a bad configuration or bad arrays (:func:`load` adds the file name). Only the
classes of :data:`_KINDS` are ever looked up; a file cannot name any other code.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

import numpy as np

from ..backend import Backend, get_backend
from .messages import brief
from .tensor_file import (  # noqa: F401 - the file format's names, also reachable here
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_HEADER_BYTES,
    MAX_TENSORS,
    METADATA_KEY,
    ModelFileError,
    load_tensors,
    save_tensors,
)

# The model classes a file may name, and the xpnet module that defines each.
_KINDS = {
    "MLP": "xpnet.mlp",
    "MLPClassifier": "xpnet.estimators",
    "MLPRegressor": "xpnet.estimators",
}


def save(model: Any, path: str | os.PathLike[str]) -> None:
    """Save an xpnet model to ``path`` (one safetensors file, written atomically).

    Parameters
    ----------
    model : MLP, MLPClassifier or MLPRegressor
        Its configuration goes to the JSON header, its parameters (host copies, in
        the model's dtype) to tensors ``W0..Wn`` and ``b0..bn``.
    path : str or path-like
        The file to write, used exactly as given (no suffix is appended); a symlink
        is written through, an existing file keeps its permissions.

    Raises
    ------
    TypeError
        ``model`` is not one of xpnet's models.
    ValueError
        :func:`load` would refuse the file (e.g. a parameter set to an invalid
        value after fitting, or NaN weights); nothing is written.
    NotRegularFileError
        ``path`` (or what a symlink there points to) exists and is not a regular
        file: a directory, FIFO, device or socket; nothing is written.
    OSError
        Writing failed (e.g. a full disk; ``filename`` is ``path``); a file already
        at ``path`` is left as it was.
    """
    config, arrays = exported(model)
    save_tensors(path, {"model": config}, arrays)


def exported(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The configuration and tensors :func:`save` writes for ``model``, refused
    (TypeError, ValueError) unless :func:`load` would accept them."""
    config, arrays = _export(model)
    check_loadable(type(model), config, arrays)
    return config, arrays


def check_loadable(
    cls: Any, config: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    """Raise ValueError unless :func:`load` accepts this export of a ``cls`` (its
    config read back from JSON, as :func:`load` reads it)."""
    kind = config["kind"]
    try:
        text = json.dumps(config, allow_nan=False)
        cls._import(json.loads(text), arrays, None)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"cannot save this {kind}: load would refuse it: {exc}"
        ) from None


def load(path: str | os.PathLike[str], backend: str | Backend | None = None) -> Any:
    """Load a model saved by :func:`save` onto ``backend``, whatever it was saved from.

    Parameters
    ----------
    path : str or path-like
    backend : str or Backend, optional
        See :func:`xpnet.get_backend`; default ``$XPNET_BACKEND`` or ``numpy``.

    Returns
    -------
    MLP, MLPClassifier or MLPRegressor
        The model, its parameters on ``backend`` in the saved dtype.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    BackendError
        ``backend`` cannot run here (checked before the file is read).
    ModelFileError
        The file is not a valid model file: see :func:`load_tensors`; also a missing
        or unknown model kind, a bad configuration, missing or extra arrays, arrays
        whose shapes or dtype disagree with the configuration, or NaN or inf values.
    """
    backend = get_backend(backend)
    header, arrays = load_tensors(path)
    config = header.get("model")
    if not isinstance(config, dict):
        raise ModelFileError(
            path,
            f"header has no 'model' object (got {brief(config)}); not a saved model",
        )
    kind = config.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ModelFileError(
            path, f"unknown model kind {brief(kind)}; expected one of {sorted(_KINDS)}"
        )
    cls = _model_class(kind)
    if cls is None:
        raise ModelFileError(
            path, f"model kind {kind!r} needs {_KINDS[kind]}, which this xpnet lacks"
        )
    try:
        return cls._import(config, arrays, backend)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(path, f"invalid {kind}: {exc}") from exc


def check_config(
    config: dict[str, Any], keys: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    """Raise ValueError unless ``config`` has every one of ``keys`` and nothing but
    them and the ``optional`` keys (fields added within a format version; the
    reader supplies their default, see ``FORMAT_VERSION``)."""
    missing = [key for key in keys if key not in config]
    extra = sorted(set(config) - set(keys) - set(optional))
    if missing or extra:
        raise ValueError(
            f"configuration must have keys {list(keys)}; missing {missing}, "
            f"unknown {extra}"
        )


def parameter_arrays(
    weights: list[np.ndarray], biases: list[np.ndarray] | None
) -> dict[str, np.ndarray]:
    """Host parameters as arrays ``W{l}`` (fan_in, fan_out) and ``b{l}`` (fan_out,)."""
    arrays = {f"W{layer}": w for layer, w in enumerate(weights)}
    if biases is not None:
        arrays.update({f"b{layer}": b for layer, b in enumerate(biases)})
    return arrays


def layer_parameters(
    arrays: dict[str, np.ndarray],
    layer_sizes: list[int],
    bias: bool,
    dtype: str,
    *,
    extra: tuple[str, ...] = (),
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """The weights and biases of :func:`parameter_arrays`, checked against a config.

    The file must hold exactly the arrays ``W{l}`` (and ``b{l}`` with ``bias``) plus
    the names in ``extra``; every ``W{l}`` must be (layer_sizes[l], layer_sizes[l+1])
    and every ``b{l}`` (layer_sizes[l+1],), all of ``dtype`` and finite.

    Raises
    ------
    ValueError
        Naming the missing, unexpected or wrong array and what is wrong.
    """
    n_layers = len(layer_sizes) - 1
    if n_layers * (2 if bias else 1) + len(extra) > MAX_TENSORS:  # before any list
        raise ValueError(
            f"{n_layers:,} layers need more than the {MAX_TENSORS} arrays a file "
            "may hold"
        )
    fans = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=True))
    names = [f"W{layer}" for layer in range(len(fans))]
    names += [f"b{layer}" for layer in range(len(fans))] if bias else []
    missing = [name for name in [*names, *extra] if name not in arrays]
    unexpected = sorted(set(arrays) - {*names, *extra})
    if missing or unexpected:
        raise ValueError(
            f"the file must hold arrays {brief([*names, *extra])}; missing "
            f"{brief(missing)}, unexpected {brief(unexpected)}"
        )
    weights = [
        _parameter(arrays, f"W{layer}", fan, dtype) for layer, fan in enumerate(fans)
    ]
    if not bias:
        return weights, None
    return weights, [
        _parameter(arrays, f"b{layer}", fan[1:], dtype)
        for layer, fan in enumerate(fans)
    ]


def _parameter(
    arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...], dtype: str
) -> np.ndarray:
    array = arrays[name]
    if array.shape != shape:
        raise ValueError(
            f"array {name} must have shape {shape} for the configured layer sizes; "
            f"got {array.shape}"
        )
    if array.dtype.name != dtype:
        raise ValueError(
            f"array {name} must have the configured dtype {dtype}; got {array.dtype}"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"array {name} must be finite; it holds NaN or inf")
    return array


def _export(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's export, refused unless it is of the class its kind names."""
    if callable(getattr(model, "_export", None)):
        config, arrays = model._export()
        kind = config.get("kind") if isinstance(config, dict) else None
        cls = _model_class(kind) if isinstance(kind, str) and kind in _KINDS else None
        if cls is not None and isinstance(model, cls):
            return config, arrays
    raise TypeError(
        f"model must be an xpnet {', '.join(_KINDS)}; got {type(model).__name__}"
    )


def _model_class(kind: str) -> Any:
    """The class for a kind of :data:`_KINDS`, or None where its module is absent."""
    module_name = _KINDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
    return getattr(module, kind, None)
