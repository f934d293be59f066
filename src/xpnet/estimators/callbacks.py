"""A fit's callbacks: per epoch (they may steer, :mod:`.steering`) and per batch.

``callbacks`` holds callables ``f(model, history)`` or objects with
``on_epoch_end(model, history)`` and/or ``on_batch_end(model, batch)``. Epoch
callbacks run after each epoch (True stops training); batch callbacks after each
minibatch step, with a :class:`~xpnet.training.loop.BatchEnd` whose ``loss`` waits
for the device when read. Without batch callbacks the loop checks one None per step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..training.loop import BatchEnd, History, Run
from . import steering


def attach(model: Any, callbacks: list[Any], run: Run) -> None:
    """Set ``run.on_epoch_end`` (and ``run.on_batch_end`` where a callback has
    one) to call ``callbacks`` with ``model``; TypeError for anything else."""
    epoch_hooks: list[Callable[..., Any]] = []
    batch_hooks: list[Callable[..., Any]] = []
    for callback in callbacks:
        epoch = getattr(callback, "on_epoch_end", None)
        batch = getattr(callback, "on_batch_end", None)
        if epoch is None and batch is None and callable(callback):
            epoch = callback
        if not (callable(epoch) or callable(batch)):
            raise TypeError(
                "callbacks must be callables f(model, history) or objects with an "
                "on_epoch_end(model, history) or on_batch_end(model, batch) method; "
                f"got {callback!r}"
            )
        if callable(epoch):
            epoch_hooks.append(epoch)
        if callable(batch):
            batch_hooks.append(batch)
    before = steering.snapshot(model)

    def live() -> None:
        # The weights are copied to the host only if a callback reads them.
        model._live_run = run
        model.__dict__.pop("coefs_", None)
        model.__dict__.pop("intercepts_", None)

    def on_epoch_end(history: History) -> bool:
        nonlocal before
        model._set_history(history)
        model._optimizer = run.state.optimizer
        live()
        stop = False
        for hook in epoch_hooks:
            stop = bool(hook(model, history)) or stop
        # what the epoch's (and its batches') callbacks changed, from the next epoch
        steering.apply_changes(model, before, run)
        before = steering.snapshot(model)
        return stop

    def on_batch_end(batch: BatchEnd) -> None:
        live()
        for hook in batch_hooks:
            hook(model, batch)

    run.on_epoch_end = on_epoch_end
    if batch_hooks:
        run.on_batch_end = on_batch_end
