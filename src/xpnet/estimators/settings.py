"""The estimators' constructor parameters checked, as the training loop's settings.

scikit-learn checks parameters at ``fit``, not in ``__init__``; so does xpnet:
:func:`checked_settings` runs at the start of every fit (and when a model file is
read) and raises ValueError/TypeError naming the parameter, the expectation and the
value.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..data.checks import (
    check_choice,
    check_hidden_sizes,
    check_int,
    check_random_state,
    check_real,
)
from ..maths.activations import user_activations
from ..maths.optim import OPTIMIZERS, SCHEDULES
from ..training.loop import Settings

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
REGRESSION_LOSSES = ("squared_error", "poisson")
_FLAGS = ("shuffle", "verbose", "warm_start", "nesterovs_momentum", "early_stopping")


def checked_settings(model: Any) -> Settings:
    """Validate every constructor parameter of ``model``; returns the loop's settings
    (``batch_size`` left 0: it depends on the data)."""
    check_hidden_sizes(model.hidden_layer_sizes)
    check_choice(
        model.activation, "activation", HIDDEN_ACTIVATIONS + user_activations()
    )
    check_choice(model.solver, "solver", (*OPTIMIZERS, "lbfgs"))
    if hasattr(model, "loss"):  # the regressor's
        check_choice(model.loss, "loss", REGRESSION_LOSSES)
    check_choice(model.learning_rate, "learning_rate", SCHEDULES)
    check_real(model.alpha, "alpha", low=0.0, high=math.inf, open_high=True)
    if not (isinstance(model.batch_size, str) and model.batch_size == "auto"):
        check_int(model.batch_size, "batch_size", "'auto' or an int >= 1")
    check_real(model.learning_rate_init, "learning_rate_init", low=0.0, open_low=True)
    check_real(model.power_t, "power_t", low=0.0)
    check_int(model.max_iter, "max_iter", "an int >= 1")
    check_int(model.max_fun, "max_fun", "an int >= 1")
    check_real(model.tol, "tol", low=0.0)
    check_real(model.momentum, "momentum", low=0.0, high=1.0)
    check_real(model.validation_fraction, "validation_fraction", low=0.0, high=1.0)
    check_real(model.beta_1, "beta_1", low=0.0, high=1.0, open_high=True)
    check_real(model.beta_2, "beta_2", low=0.0, high=1.0, open_high=True)
    check_real(model.epsilon, "epsilon", low=0.0, open_low=True)
    if model.n_iter_no_change != math.inf:
        check_int(model.n_iter_no_change, "n_iter_no_change", "an int >= 1 or inf")
    for name in _FLAGS:
        value = getattr(model, name)
        if not isinstance(value, (bool, np.bool_, numbers.Integral)):
            raise TypeError(f"{name} must be a bool; got {value!r}")
    check_random_state(model.random_state)
    return Settings(
        batch_size=0,
        max_iter=int(model.max_iter),
        shuffle=bool(model.shuffle),
        tol=float(model.tol),
        n_iter_no_change=model.n_iter_no_change,
        alpha=float(model.alpha),
        verbose=int(model.verbose),
    )


def checked_every(every: int | None, epoch_steps: int) -> int:
    """Steps between checkpoints: ``every``, checked, or one epoch's steps."""
    if every is None:
        return epoch_steps
    check_int(every, "checkpoint_every", "an int >= 1 (steps)")
    return int(every)
