"""``MLPClassifier`` and ``MLPRegressor`` (:mod:`.classifier`, :mod:`.regressor`):
this module keeps the 0.1 import path."""

from .classifier import MLPClassifier
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
