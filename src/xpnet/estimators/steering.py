"""Callbacks that steer: hyperparameters a callback changes with ``set_params``.

After each epoch's callbacks, the estimator's parameters are compared with what
they were before them. A change to one of :data:`STEERABLE` is checked and handed
to the run (its optimizer or settings): it takes effect from the next epoch. A
change to any other parameter (the network's shape, the solver, the batches, the
data split, the backend) cannot take effect mid-fit and raises ValueError naming
it; as any failed fit, that leaves the estimator as it was before ``fit``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..data.checks import check_flag, check_int, check_real
from ..training.loop import Run

_NON_NEGATIVE = {"low": 0.0}
_FRACTION = {"low": 0.0, "high": 1.0}
_OPEN_FRACTION = {"low": 0.0, "high": 1.0, "open_high": True}


def _real(**bounds: Any) -> Callable[[Any, str], None]:
    return lambda value, name: check_real(value, name, **bounds)


def _iterations(value: Any, name: str) -> None:
    if value != math.inf:
        check_int(value, name, "an int >= 1 or inf")


CHECKS: dict[str, Callable[[Any, str], None]] = {
    "learning_rate_init": _real(**_NON_NEGATIVE),  # 0 (frozen weights) allowed here
    "momentum": _real(**_FRACTION),
    "nesterovs_momentum": check_flag,
    "power_t": _real(**_NON_NEGATIVE),
    "beta_1": _real(**_OPEN_FRACTION),
    "beta_2": _real(**_OPEN_FRACTION),
    "epsilon": _real(low=0.0, open_low=True),
    "tol": _real(**_NON_NEGATIVE),
    "n_iter_no_change": _iterations,
    "max_iter": lambda value, name: check_int(value, name, "an int >= 1"),
    "max_grad_norm": lambda value, name: (
        None if value is None else check_real(value, name, low=0.0, open_low=True)
    ),
}
STEERABLE = tuple(CHECKS)
"""What a callback may change mid-fit (from the next epoch)."""


def snapshot(model: Any) -> dict[str, Any]:
    """The parameters as they are before the callbacks run."""
    return model.get_params(deep=False)


def apply_changes(model: Any, before: dict[str, Any], run: Run) -> None:
    """Hand what the callbacks changed to ``run``; ValueError naming a parameter
    that cannot change mid-fit (or a steerable one set to a bad value)."""
    after = model.get_params(deep=False)
    changed = [name for name in after if not _same(after[name], before[name])]
    if not changed:
        return
    fixed = [name for name in changed if name not in CHECKS]
    if fixed or model.solver == "lbfgs":
        names = fixed or changed
        raise ValueError(
            f"a callback changed {', '.join(map(repr, names))} during fit; "
            + (
                "solver='lbfgs' runs one SciPy minimisation, so no parameter can "
                "change mid-fit"
                if not fixed
                else "only these can change mid-fit (from the next epoch): "
                f"{', '.join(STEERABLE)}"
            )
        )
    for name in changed:
        CHECKS[name](after[name], name)
    for name in changed:
        _apply(name, after[name], run)


def _apply(name: str, value: Any, run: Run) -> None:
    optimizer, settings = run.state.optimizer, run.settings
    if name == "learning_rate_init":
        optimizer.set_learning_rate_init(float(value), run.state.history.t)
    elif name in ("momentum", "beta_1", "beta_2", "epsilon"):
        if hasattr(optimizer, name):
            setattr(optimizer, name, float(value))
    elif name == "nesterovs_momentum":
        if hasattr(optimizer, "nesterov"):
            optimizer.nesterov = bool(value)
    elif name == "power_t":
        if hasattr(optimizer, "power_t"):
            optimizer.power_t = float(value)
            optimizer.set_learning_rate_init(
                optimizer.learning_rate_init, run.state.history.t
            )
    elif name == "max_grad_norm":
        settings.max_grad_norm = None if value is None else float(value)
    elif name == "tol":
        settings.tol = float(value)
    elif name in ("max_iter", "n_iter_no_change"):
        setattr(settings, name, value if value == math.inf else int(value))


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return False
