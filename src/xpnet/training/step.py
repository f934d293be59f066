"""One training step: loss and gradients of a batch, the L2 term, the update.

The run's parameters are one flat vector while it trains (:class:`FlatParams`, views
of it in ``run.params``); :class:`Step` is what the loop calls per batch, with every
per-fit choice (the optimizer's update form, L2, the data-parallel reducer) made once
when it is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..backend import Array
from ..maths import network
from ..maths.flat import Layout
from ..maths.step import clip_by_global_norm

if TYPE_CHECKING:
    from .batches import Minibatch
    from .loop import Run


@dataclass
class FlatParams:
    """The run's parameters as one vector (see :mod:`xpnet.maths.flat`); while it
    trains, ``run.params`` holds views of it. ``decay`` is 1 over the weights and 0
    over the biases (with L2 only): L2 then costs a few whole-vector operations."""

    layout: Layout
    vector: Array
    decay: Array | None

    @classmethod
    def of(cls, run: Run) -> FlatParams:
        xp, params, n_layers = run.backend.xp, run.state.params, len(run.activations)
        layout, vector, views = Layout.bound(xp, params)
        decay = None
        if run.settings.alpha:
            ones = [xp.ones_like(p) for p in params[:n_layers]]
            masks = ones + [xp.zeros_like(b) for b in params[n_layers:]]
            decay = xp.concat([xp.reshape(m, (-1,)) for m in masks])
        params[:] = views
        return cls(layout, vector, decay)

    def moved_to(self, vector: Array, run: Run) -> None:
        """After an update: where arrays are immutable (JAX) the vector is a new
        array, and ``run.params`` are cut from it afresh."""
        if vector is not self.vector:
            self.vector = vector
            run.state.params[:] = self.layout.views(run.backend.xp, vector)


class Step:
    """``step(batch, total)``: one update of the run's parameters from a
    :class:`~xpnet.training.batches.Minibatch`; returns ``total`` plus the batch's
    loss times its ``weight`` (and its L2 term).

    The batch's ``share`` is this rank's part of the global batch (1 in one
    process); its ``l2_factor`` and ``l2_loss`` scale the L2 gradient and loss (see
    :func:`xpnet.training.batches.plan`).
    """

    def __init__(self, run: Run, flat: FlatParams | None = None) -> None:
        # The run's flat parameters are made here unless given (one call less).
        self.run, self.flat = run, FlatParams.of(run) if flat is None else flat
        self.xp, self.n_layers = run.backend.xp, len(run.activations)
        self.half_alpha = 0.5 * run.settings.alpha
        self.scale: float = 1.0
        self.update: Any = None
        self.clip: float | None = None

    def begin(self) -> None:
        """Read the optimizer's update form: before each block (the learning rate
        changes between epochs). Plain SGD: -lr folded into backprop,
        the gradients come out as updates."""
        optimizer = self.run.state.optimizer
        factor = optimizer.update_factor()
        self.scale = 1.0 if factor is None else factor
        self.update = optimizer.step_flat if factor is None else optimizer.apply_flat
        bound = self.run.settings.max_grad_norm
        # the gradient's norm is compared in the units of what backprop gave
        # (times -lr where plain SGD folded it in)
        self.clip = None if bound is None else bound * abs(self.scale)

    def __call__(self, batch: Minibatch, total: Array) -> Array:
        run, flat, xp, scale = self.run, self.flat, self.xp, self.scale
        n_layers, params = self.n_layers, run.state.params
        X, Y, weights, share, _, weight, l2_factor, l2_loss = batch
        value, grads, _ = network.loss_and_gradients(
            xp,
            params[:n_layers],
            params[n_layers:],
            run.activations,
            X,
            Y,
            run.loss,
            delta_scale=scale * share,
            sample_weight=weights,
        )
        grad = flat.layout.flatten(xp, grads.weights + (grads.biases or []))
        if run.reducer is not None:  # sums of the ranks' shares: the global batch's
            reduced = [grad]
            value = run.reducer(reduced, value * share if share else 0.0)
            grad = reduced[0]
        total = total + value * weight
        if self.half_alpha:
            decay = flat.vector * flat.decay  # the weights, biases zeroed
            grad += (scale * l2_factor) * decay
            # the sum of squared weights as a dot product (vecdot would conj a copy
            # on CuPy)
            total = total + (self.half_alpha * l2_loss) * (decay @ flat.vector)
        if self.clip is not None:
            (grad,) = clip_by_global_norm(xp, [grad], self.clip)
        flat.moved_to(self.update(flat.vector, grad), run)
        return total
