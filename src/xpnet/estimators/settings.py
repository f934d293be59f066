"""The estimators' constructor parameters checked, as the training loop's settings.

scikit-learn checks parameters at ``fit``, not in ``__init__``; so does xpnet:
:func:`checked_settings` runs at the start of every fit (and when a model file is
read) and raises ValueError/TypeError naming the parameter, the expectation and the
value.
"""

from __future__ import annotations

import math
from typing import Any

from ..data.checks import (
    check_all,
    check_choice,
    check_flag,
    check_hidden_sizes,
    check_int,
    check_random_state,
    check_real,
)
from ..maths import losses
from ..maths.activations import user_activations
from ..maths.optim import OPTIMIZERS, SCHEDULES
from ..training.loop import Settings
from ..training.schedules import is_schedule

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
REGRESSION_LOSSES = ("squared_error", "poisson")
_FLAGS = (
    "shuffle",
    "verbose",
    "warm_start",
    "nesterovs_momentum",
    "early_stopping",
    "compile",
)


def checked_settings(model: Any) -> tuple[Settings, list[int]]:
    """Validate every constructor parameter of ``model`` (in one pass, in this
    order); returns the loop's settings (``batch_size`` left 0: it depends on the
    data) and the hidden widths (a first fit draws its weights with them)."""
    m = model
    activations: tuple[str, ...] = HIDDEN_ACTIVATIONS
    if not (isinstance(m.activation, str) and m.activation in activations):
        activations += user_activations()  # a registered one, or an error
    checks: list[tuple[Any, ...]] = [
        (check_hidden_sizes, m.hidden_layer_sizes),  # first: its result is kept
        (check_choice, m.activation, "activation", activations),
        (check_choice, m.solver, "solver", (*OPTIMIZERS, "lbfgs")),
    ]
    if "loss" in vars(m):  # the regressor's
        checks.append((check_regression_loss, m.loss))
    checks += [
        (check_choice, m.learning_rate, "learning_rate", SCHEDULES)
        if isinstance(m.learning_rate, str)
        else (_check_schedule, m.learning_rate),
        (
            check_real,
            m.alpha,
            "alpha",
            {"low": 0.0, "high": math.inf, "open_high": True},
        ),
    ]
    if not (isinstance(m.batch_size, str) and m.batch_size == "auto"):
        checks.append((check_int, m.batch_size, "batch_size", "'auto' or an int >= 1"))
    checks += [
        (check_real, m.learning_rate_init, "learning_rate_init", _OPEN_POSITIVE),
        (check_real, m.power_t, "power_t", _NON_NEGATIVE),
        (check_int, m.max_iter, "max_iter", "an int >= 1"),
        (check_int, m.max_fun, "max_fun", "an int >= 1"),
        (check_real, m.tol, "tol", _NON_NEGATIVE),
        (check_real, m.momentum, "momentum", _FRACTION),
        (check_real, m.validation_fraction, "validation_fraction", _FRACTION),
        (check_real, m.beta_1, "beta_1", _OPEN_FRACTION),
        (check_real, m.beta_2, "beta_2", _OPEN_FRACTION),
        (check_real, m.epsilon, "epsilon", _OPEN_POSITIVE),
    ]
    if m.n_iter_no_change != math.inf:
        checks.append(
            (check_int, m.n_iter_no_change, "n_iter_no_change", "an int >= 1 or inf")
        )
    if m.max_grad_norm is not None:
        checks.append((check_real, m.max_grad_norm, "max_grad_norm", _OPEN_POSITIVE))
    checks += [(check_flag, getattr(m, name), name) for name in _FLAGS]
    checks.append((check_random_state, m.random_state))
    hidden_sizes = check_all(checks)[0]
    settings = Settings(
        batch_size=0,
        max_iter=int(m.max_iter),
        shuffle=bool(m.shuffle),
        tol=float(m.tol),
        n_iter_no_change=m.n_iter_no_change,
        alpha=float(m.alpha),
        verbose=int(m.verbose),
        max_grad_norm=None if m.max_grad_norm is None else float(m.max_grad_norm),
    )
    return settings, hidden_sizes


_NON_NEGATIVE = {"low": 0.0}
_FINITE_NON_NEGATIVE = {"low": 0.0, "high": math.inf, "open_high": True}
_OPEN_POSITIVE = {"low": 0.0, "open_low": True}
_FRACTION = {"low": 0.0, "high": 1.0}
_OPEN_FRACTION = {"low": 0.0, "high": 1.0, "open_high": True}


def check_regression_loss(loss: Any) -> str:
    """A built-in regression loss or a name registered with ``xpnet.register_loss``
    (checked at fit and when a model file is read)."""
    found = losses.LOSSES.get(loss) if isinstance(loss, str) else None
    if found is not None and (loss in REGRESSION_LOSSES or loss not in losses.BUILT_IN):
        return loss
    choices = [*REGRESSION_LOSSES, *losses.user_losses()]
    raise ValueError(
        f"loss must be one of {choices} or a name "
        f"registered with xpnet.register_loss; got {loss!r} (register a user's loss "
        "in this process before fitting or loading a model that uses it)"
    )


def _check_schedule(value: Any) -> None:
    """A schedule (:mod:`xpnet.training.schedules`): an object with ``factor``."""
    if not is_schedule(value):
        raise TypeError(
            f"learning_rate must be one of {list(SCHEDULES)} or a schedule with a "
            f"method factor(epoch, history) (xpnet.schedules); got {value!r}"
        )


def checked_every(every: int | None, epoch_steps: int) -> int:
    """Steps between checkpoints: ``every``, checked, or one epoch's steps."""
    if every is None:
        return epoch_steps
    check_int(every, "checkpoint_every", "an int >= 1 (steps)")
    return int(every)
