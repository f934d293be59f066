""":func:`xpnet.load` refuses every bad model file with an error that names the file,
the field and what was wrong.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from bad_inputs import (
    DTYPE,
    Bad,
    assert_bad,
    fitted,
    raw_file,
)

import xpnet
from xpnet import MLP
from xpnet.files import model_file, tensor_file

# ---- xpnet.load ---------------------------------------------------------------------


def _mlp_file(directory, edit_config=None, edit_arrays=None) -> str:
    config, arrays = MLP([3, 4, 2], dtype="float64", seed=0)._export()
    if edit_config:
        edit_config(config)
    if edit_arrays:
        edit_arrays(arrays)
    return _write(directory, config, arrays)


def _estimator_file(directory, edit_params) -> str:
    config, arrays = fitted("clf", xpnet.get_backend("numpy"))._export()
    edit_params(config["params"])
    return _write(directory, config, arrays)


def _write(directory, config, arrays) -> str:
    """A model file with a valid checksum, whatever its configuration and tensors."""
    header = {
        "format": model_file.FORMAT_NAME,
        "format_version": 2,
        "xpnet_version": "0",
        "model": config,
    }
    path = directory / f"model{len(list(directory.iterdir()))}.safetensors"
    path.write_bytes(tensor_file.encode(header, arrays))
    return str(path)


def _set(key, value):
    return lambda mapping: mapping.__setitem__(key, value)


ARRAY_SHAPE = r"shape \(3, 4\)"
LOAD_CASES = [
    # id, file made in a directory, backend given to load, error
    (
        "W0 1-D",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones(12))),
        None,
        Bad(ValueError, r"array W0", ARRAY_SHAPE, r"got \(12,\)"),
    ),
    (
        "W0 3-D",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones((3, 4, 1)))),
        None,
        Bad(ValueError, r"array W0", ARRAY_SHAPE, r"got \(3, 4, 1\)"),
    ),
    (
        "W0 empty",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones((0, 4)))),
        None,
        Bad(ValueError, r"array W0", ARRAY_SHAPE, r"got \(0, 4\)"),
    ),
    (
        "W0 with NaN",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.full((3, 4), np.nan))),
        None,
        Bad(ValueError, r"array W0", r"finite", r"NaN or inf"),
    ),
    (
        "b1 with inf",
        lambda d: _mlp_file(d, edit_arrays=_set("b1", np.full(2, np.inf))),
        None,
        Bad(ValueError, r"array b1", r"finite", r"NaN or inf"),
    ),
    (
        "W0 of ints",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones((3, 4), dtype=int))),
        None,
        Bad(ValueError, r"tensor 'W0'", r"only \['F32', 'F64'\]", r"dtype I64"),
    ),
    (
        "W0 float16",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones((3, 4), "f2"))),
        None,
        Bad(ValueError, r"tensor 'W0'", r"only \['F32', 'F64'\]", r"dtype F16"),
    ),
    (
        "W0 float32",
        lambda d: _mlp_file(d, edit_arrays=_set("W0", np.ones((3, 4), "f4"))),
        None,
        Bad(ValueError, r"array W0", r"dtype float64", r"got float32"),
    ),
    (
        "W2 extra",
        lambda d: _mlp_file(d, edit_arrays=_set("W2", np.ones((2, 2)))),
        None,
        Bad(ValueError, r"arrays", r"must hold arrays \['W0'", r"unexpected \['W2'\]"),
    ),
    (
        "unknown activation",
        lambda d: _mlp_file(d, _set("activations", ["relu", "swish"])),
        None,
        Bad(ValueError, r"activations\[1\]", r"one of \[", r"'swish'"),
    ),
    (
        "int dtype",
        lambda d: _mlp_file(d, _set("dtype", "int64")),
        None,
        Bad(ValueError, r"\bdtype\b", DTYPE, r"'int64'"),
    ),
    (
        "complex dtype",
        lambda d: _mlp_file(d, _set("dtype", "complex128")),
        None,
        Bad(ValueError, r"\bdtype\b", DTYPE, r"'complex128'"),
    ),
    (
        "unknown dtype",
        lambda d: _mlp_file(d, _set("dtype", "float16")),
        None,
        Bad(ValueError, r"\bdtype\b", DTYPE, r"'float16'"),
    ),
    (
        "layer size zero",
        lambda d: _mlp_file(d, _set("layer_sizes", [3, 0, 2])),
        None,
        Bad(ValueError, r"\blayer_sizes\b", r">= 1", r"got 0"),
    ),
    (
        "layer size negative",
        lambda d: _mlp_file(d, _set("layer_sizes", [3, -4, 2])),
        None,
        Bad(ValueError, r"\blayer_sizes\b", r">= 1", r"got -4"),
    ),
    (
        "estimator: unknown solver",
        lambda d: _estimator_file(d, _set("solver", "newton")),
        None,
        Bad(
            ValueError, r"\bsolver\b", r"one of \['sgd', 'adam', 'lbfgs'\]", r"'newton'"
        ),
    ),
    (
        "estimator: unknown activation",
        lambda d: _estimator_file(d, _set("activation", "softplus")),
        None,
        Bad(ValueError, r"\bactivation\b", r"one of \['identity'", r"'softplus'"),
    ),
    (
        "estimator: hidden size zero",
        lambda d: _estimator_file(d, _set("hidden_layer_sizes", [0])),
        None,
        Bad(ValueError, r"hidden_layer_sizes", r">= 1", r"got 0"),
    ),
    (
        "estimator: batch_size zero",
        lambda d: _estimator_file(d, _set("batch_size", 0)),
        None,
        Bad(ValueError, r"\bbatch_size\b", r"int >= 1", r"got 0"),
    ),
    (
        "estimator: negative learning rate",
        lambda d: _estimator_file(d, _set("learning_rate_init", -1.0)),
        None,
        Bad(ValueError, r"learning_rate_init", r"\(0\.0, inf\]", r"-1\.0"),
    ),
    (
        "estimator: int dtype",
        lambda d: _estimator_file(d, _set("dtype", "int32")),
        None,
        Bad(ValueError, r"\bdtype\b", DTYPE, r"'int32'"),
    ),
    (
        "empty file",
        lambda d: raw_file(d, b""),
        None,
        Bad(
            ValueError, r"model file '.*raw\d+\.safetensors'", r"safetensors", r"header"
        ),
    ),
    (
        "text file",
        lambda d: raw_file(d, b"hello\n"),
        None,
        Bad(
            ValueError, r"model file '.*raw\d+\.safetensors'", r"safetensors", r"header"
        ),
    ),
    (
        "unknown backend",
        lambda d: _mlp_file(d),
        "tpu",
        Bad(xpnet.BackendError, r"\bbackend\b", r"choose one of numpy", r"'tpu'"),
    ),
]


@pytest.mark.parametrize("case", LOAD_CASES, ids=[c[0] for c in LOAD_CASES])
def test_load_refuses_bad_files(backend, tmp_path, case):
    _, make, spec, bad = case
    path = make(tmp_path)
    assert_bad(lambda: xpnet.load(path, backend=spec or backend.name), bad)
    if spec is None:  # a file problem: ModelFileError names the file too
        with pytest.raises(xpnet.ModelFileError, match=re.escape(repr(path))):
            xpnet.load(path, backend=backend.name)
