"""scikit-learn's surface: ``MLPClassifier`` and ``MLPRegressor`` on any backend.

``base`` (:class:`MLPBase`: parameters, prediction, pickling), ``fit`` (the fit
driver), ``fitted`` (coefs_/intercepts_ and their network, an :class:`xpnet.MLP`;
history, features), ``classifier`` and
``regressor``, ``labels``, ``settings`` (the parameters checked), ``params``
(get_params/set_params without scikit-learn), ``model_export`` (model files),
``resume`` (checkpoints), ``scaling`` (the command's standardization), and the Dask
glue ``dask_input``/``dask_predict`` (the estimators' label and target rules on Dask
input; the Dask arrays and blocks themselves are :mod:`xpnet.dask`'s).

May import every layer below (maths, backend, top level, training, files, dask);
must not import the command. scikit-learn itself stays optional: it is imported only
where a check or a tag needs it; so does Dask, imported only when an estimator is
handed a Dask collection. Only this folder reads the estimators' private members.
"""

from .classifier import MLPClassifier
from .params import NotFittedError
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "NotFittedError"]
