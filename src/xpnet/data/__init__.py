"""The intake: user data in, checked once, described once (see :mod:`.intake`).

``intake`` (``as_features``, ``as_targets``, ``as_sample_weight``), ``checks`` (the
argument and array checks every boundary uses, with messages naming the argument),
``names`` (DataFrame column names, scikit-learn's ``feature_names_in_`` rules),
``namespace`` (where a call computes and answers: X's namespace and device under
scikit-learn's ``array_api_dispatch``, the dtype a fit takes from X) and ``sparse``
(sparse X served by rows).

May import the backend, NumPy and :mod:`xpnet.dask` (SciPy and Dask only lazily,
when handed their objects: the intake describes Dask input with
:mod:`xpnet.dask.arrays`); must not import training, the estimators or the command.
"""

from .intake import (
    Features,
    Seen,
    Weights,
    as_features,
    as_real_targets,
    as_sample_weight,
    as_targets,
)

__all__ = [
    "Features",
    "Seen",
    "Weights",
    "as_features",
    "as_real_targets",
    "as_sample_weight",
    "as_targets",
]
