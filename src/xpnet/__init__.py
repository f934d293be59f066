"""xpnet: multi-layer perceptrons with hand-written backprop, written once against the
Python array API standard, so the same maths runs on NumPy, CuPy, torch, JAX or
array-api-strict.
"""

from ._version import __version__
from .backend import Backend, BackendError, get_backend
from .estimators import MLPClassifier, MLPRegressor, NotFittedError
from .files.model_file import ModelFileError, load, save
from .files.onnx_export import OnnxExportError, export_onnx
from .files.onnx_skl2onnx import register_skl2onnx
from .maths.activations import Activation, register_activation
from .maths.losses import register_loss
from .memory import DeviceMemoryError
from .mlp import MLP
from .training import schedules
from .training.distributed import DistributedError
from .training.loop import (
    ConvergenceWarning,
    DivergenceError,
    History,
)

__all__ = [
    "MLP",
    "__version__",
    "Activation",
    "Backend",
    "BackendError",
    "ConvergenceWarning",
    "DeviceMemoryError",
    "DistributedError",
    "DivergenceError",
    "History",
    "MLPClassifier",
    "MLPRegressor",
    "ModelFileError",
    "NotFittedError",
    "OnnxExportError",
    "export_onnx",
    "get_backend",
    "load",
    "register_activation",
    "register_loss",
    "register_skl2onnx",
    "save",
    "schedules",
]
