"""scikit-learn's surface: ``MLPClassifier`` and ``MLPRegressor`` on any backend.

May import every layer below (maths, backend, top level, training, files); must not
import the command. scikit-learn itself stays optional: it is imported only where a
check or a tag needs it; so does Dask (``dask_input``, ``dask_predict``), imported only
when an estimator is handed a Dask collection.
"""

from .classifier import MLPClassifier
from .params import NotFittedError
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "NotFittedError"]
