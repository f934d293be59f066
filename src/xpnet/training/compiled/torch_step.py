"""The step under ``torch.compile`` (``mode="reduce-overhead"`` on CUDA, which
replays it as a CUDA graph).

Each full batch is gathered eagerly (one ``index_select`` each for X, Y and the
weights), so the compiled step sees only (batch_size, ...) arrays and compiles once
per network, batch size and dtype, whatever the data's size. The step function and
its compiled form are kept per network and settings for the life of the process:
fits with the same shapes reuse the compiled code. The short last batch of an epoch
runs the same pure step uncompiled (compiling its shape would cost more than the
one step it runs). The epoch's loop runs on the host, so batch callbacks run between
the compiled steps.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from ...maths.step import make_step
from .plan import EpochPlan, Handover, step_hyper

_STEPS: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def steps(
    key: tuple[Any, ...], xp: Any, handover: Handover, cuda: bool
) -> tuple[Any, Any]:
    """(the pure step, its compiled form) for ``key`` = (activations, loss,
    optimizer key, l2, clip, batch size, cuda), built on first use and kept."""
    if key not in _STEPS:
        import torch

        activations, loss, _, l2, clip = key[:5]
        step = make_step(xp, activations, loss, handover.pair, l2=l2, clip=clip)
        mode = "reduce-overhead" if cuda else None
        with _quiet_torch():
            _STEPS[key] = (step, torch.compile(step, dynamic=False, mode=mode))
    return _STEPS[key]


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    # torch.compile imports parts of torch that warn of torch's own deprecations
    # (torch.jit.script_method), on first use and when it compiles: not the user's
    # to act on.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch")
        warnings.filterwarnings(
            "ignore", category=DeprecationWarning, message=".*torch.jit"
        )
        yield


@_quiet_torch()
def run_epoch(
    pure_and_compiled: tuple[Any, Any],
    handover: Handover,
    params: tuple[Any, ...],
    state: Any,
    data: tuple[Any, Any, Any],
    plan: EpochPlan,
    constants: tuple[Any, ...],
    total: Any,
    batch_size: int,
    report: Callable[[int, Any, Any, Any], None] | None = None,
) -> tuple[tuple[Any, ...], Any, Any]:
    """One epoch of ``plan``: (params, state, total); ``report(step, total before,
    total after, params)`` after each step (batch callbacks), where given."""
    import torch

    pure, compiled = pure_and_compiled
    X, Y, W = data
    device = X.device
    order = torch.from_numpy(plan.order).to(device=device, dtype=torch.int64)
    table = torch.from_numpy(plan.table).to(device=device, dtype=total.dtype)
    for i in range(plan.n_steps):
        stop = batch_size if i < plan.n_full else plan.remainder
        rows = order[i * batch_size : i * batch_size + stop]
        hyper = step_hyper(handover, table[i], constants)
        weights = None if W is None else W.index_select(0, rows)
        batch = (X.index_select(0, rows), Y.index_select(0, rows), weights)
        step = compiled if i < plan.n_full else pure
        params, state, value = step(params, state, *batch, hyper)
        before, total = total, total + value
        if report is not None:
            report(i, before, total, params)
    return params, state, total
