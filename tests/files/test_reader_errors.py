"""The model-file reader maps what goes wrong inside it to ModelFileError naming the
file: an OSError (permission denied: simulated, as the tests may run as root) and a
ValueError or TypeError from the tensor reader, for models and checkpoints alike."""

from __future__ import annotations

import json

import numpy as np
import pytest

import xpnet
from xpnet.files import tensor_file
from xpnet.files.tensor_file import ModelFileError

safetensors = pytest.importorskip("safetensors", reason="xpnet[files] installs it")


def _saved_model(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    model = xpnet.MLPRegressor((4,), max_iter=2, random_state=0)
    with pytest.warns(xpnet.ConvergenceWarning):
        model.fit(X, y)
    path = tmp_path / "model.safetensors"
    xpnet.save(model, path)
    return path


def _reader_failing_with(monkeypatch, error):
    """``safetensors.safe_open`` (where the reader opens the file) fails as given;
    a ``safe_open`` imported into the reader's module is replaced too."""

    def failing(path, *args, **kwargs):
        raise error

    monkeypatch.setattr(safetensors, "safe_open", failing)
    monkeypatch.setattr(tensor_file, "safe_open", failing, raising=False)


class _BadHandle:
    """A safetensors handle whose tensors cannot be read."""

    def __init__(self, real, error):
        self._real, self._error = real, error

    def __enter__(self):
        self._inner = self._real.__enter__()
        return self

    def __exit__(self, *exc):
        return self._real.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def get_tensor(self, name):
        raise self._error


def _tensors_failing_with(monkeypatch, error):
    real = safetensors.safe_open

    def opened(path, *args, **kwargs):
        return _BadHandle(real(path, *args, **kwargs), error)

    monkeypatch.setattr(safetensors, "safe_open", opened)
    monkeypatch.setattr(tensor_file, "safe_open", opened, raising=False)


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(13, "Permission denied"),
        OSError(5, "Input/output error"),
    ],
)
def test_an_os_error_opening_the_file_is_a_model_file_error(
    monkeypatch, tmp_path, error
):
    path = _saved_model(tmp_path)
    _reader_failing_with(monkeypatch, error)
    with pytest.raises(ModelFileError) as info:
        xpnet.load(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    assert type(error).__name__ in str(info.value)


@pytest.mark.parametrize(
    "error", [ValueError("bad offsets"), TypeError("not a tensor")]
)
def test_a_value_or_type_error_reading_tensors_is_a_model_file_error(
    monkeypatch, tmp_path, error
):
    path = _saved_model(tmp_path)
    _tensors_failing_with(monkeypatch, error)
    with pytest.raises(ModelFileError) as info:
        xpnet.load(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value) and str(error) in str(info.value)


def test_an_unreadable_checkpoint_is_a_model_file_error(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    path = tmp_path / "run.ckpt"
    model = xpnet.MLPRegressor((4,), max_iter=1, random_state=0)
    with pytest.warns(xpnet.ConvergenceWarning):
        model.fit(X, y, checkpoint=path, checkpoint_every=1)
    assert path.exists()
    _reader_failing_with(monkeypatch, PermissionError(13, "Permission denied"))
    with pytest.raises(ModelFileError, match="PermissionError") as info:
        xpnet.MLPRegressor((4,), max_iter=2, random_state=0).fit(X, y, resume_from=path)
    assert info.value.path == str(path)


def test_a_tensor_reshaped_in_the_file_fails_the_checksum(tmp_path):
    """The checksum covers each tensor's shape: the same bytes under another shape
    (an edited safetensors header) are refused by the tensor reader itself."""
    from safetensors.numpy import save

    path = _saved_model(tmp_path)
    header, arrays = tensor_file.load_tensors(path)
    arrays["W0"] = arrays["W0"].reshape(arrays["W0"].shape[::-1])
    text = json.dumps(header, sort_keys=True)
    edited = tmp_path / "edited.safetensors"
    edited.write_bytes(save(arrays, metadata={tensor_file.METADATA_KEY: text}))
    with pytest.raises(ModelFileError, match="checksum mismatch") as info:
        tensor_file.load_tensors(edited)
    assert info.value.path == str(edited)
