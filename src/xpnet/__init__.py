"""xpnet: multi-layer perceptrons with hand-written backprop, written once against the
Python array API standard, so the same maths runs on NumPy, CuPy, torch, JAX or
array-api-strict.
"""

from .backend import Backend, BackendError, get_backend
from .estimator_api import NotFittedError
from .estimators import MLPClassifier, MLPRegressor
from .io import ModelFileError, load, save
from .mlp import MLP
from .train import ConvergenceWarning, DeviceMemoryError, DivergenceError, History

__all__ = [
    "MLP",
    "Backend",
    "BackendError",
    "ConvergenceWarning",
    "DeviceMemoryError",
    "DivergenceError",
    "History",
    "MLPClassifier",
    "MLPRegressor",
    "ModelFileError",
    "NotFittedError",
    "get_backend",
    "load",
    "save",
]
__version__ = "0.1.0"
