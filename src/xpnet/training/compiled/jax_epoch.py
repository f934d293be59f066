"""A whole epoch as one XLA program (JAX): a loop over the batches, parameters
donated.

The program is built once per network and settings (:func:`program`: activations,
loss, optimizer kind, L2, batch size) and JAX compiles it once per input shapes and
dtype; both are kept for the life of the process, so fits with the same shapes (a
``GridSearchCV``) reuse the compiled program. Its inputs have fixed shapes however
many rows a fit has: the data is padded to :func:`.plan.bucket` rows, the plan to a
fixed number of steps, and the number of full batches and the short last batch's
size are arguments (a ``fori_loop`` with a traced bound), so folds of slightly
different sizes do not recompile either. The short last batch runs in the same
program, padded to a full batch with its extra rows' weights set to 0. The flat
parameter vector and optimizer buffers go in (donated) and come out whole: cutting
them into layers happens inside the program, not as a string of eager operations.

With batch callbacks the same program runs one step per call (its first step is an
argument too): the host calls it once per batch and the callback runs between
calls, so the steps' numbers are the whole epoch's.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import numpy as np

from ...maths.flat import Layout
from ...maths.step import make_step
from .plan import EpochPlan, Handover, step_hyper

TRACES: collections.Counter[str] = collections.Counter()
"""How many times an epoch program was traced (and so compiled): ``TRACES["jax"]``."""

_PROGRAMS: dict[tuple[Any, ...], Any] = {}


def program(
    key: tuple[Any, ...], handover: Handover, batch_size: int, layout: Layout
) -> Any:
    """The jitted epoch for ``key`` = (activations, loss, optimizer key, l2,
    clip, batch size) and the parameters' ``layout``, built on first use and kept."""
    if (key, layout) not in _PROGRAMS:
        _PROGRAMS[key, layout] = _build(key, handover, batch_size, layout)
    return _PROGRAMS[key, layout]


def _build(
    key: tuple[Any, ...], handover: Handover, batch_size: int, layout: Layout
) -> Any:
    import jax
    import jax.numpy as jnp
    from jax import lax

    activations, loss, _, l2, clip = key[:5]
    step = make_step(jnp, activations, loss, handover.pair, l2=l2, clip=clip)

    def batch(data: Any, order: Any, i: Any) -> tuple[Any, Any, Any]:
        rows = lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
        X, Y, W = data
        take = lambda a: a.at[rows].get(mode="promise_in_bounds")  # noqa: E731
        return take(X), take(Y), None if W is None else take(W)

    def epoch(vector, buffers, data, order, table, constants, steps, total):
        # Full batches first to n_full - 1, then the short one of remainder rows
        # (steps = (first, n_full, remainder)). The flat vectors are cut and packed
        # inside the program, where it is free.
        first, n_full, remainder = steps
        TRACES["jax"] += 1  # runs while tracing only: once per compilation
        params = tuple(layout.views(jnp, vector))
        state = handover.state_of(tuple(tuple(layout.views(jnp, b)) for b in buffers))

        def body(i: Any, carry: Any) -> Any:
            params, state, total = carry
            X, Y, W = batch(data, order, i)
            hyper = step_hyper(handover, table[i], constants)
            params, state, value = step(params, state, X, Y, W, hyper)
            return params, state, total + value

        def last(carry: Any) -> Any:  # the short batch, padded, extra rows weighed 0
            params, state, total = carry
            X, Y, W = batch(data, order, n_full)
            mask = jnp.astype(jnp.arange(batch_size) < remainder, total.dtype)
            W = mask if W is None else W * mask
            hyper = step_hyper(handover, table[n_full], constants)
            params, state, value = step(params, state, X, Y, W, hyper)
            return params, state, total + value

        carry = lax.fori_loop(first, n_full, body, (params, state, total))
        params, state, total = lax.cond(remainder > 0, last, lambda c: c, carry)
        flats = tuple(layout.flatten(jnp, list(arrays)) for arrays in state)
        return layout.flatten(jnp, list(params)), flats, params, total

    return jax.jit(epoch, donate_argnums=(0, 1))


def run_epoch(
    compiled: Any,
    vector: Any,
    buffers: tuple[Any, ...],
    data: tuple[Any, Any, Any],
    plan: EpochPlan,
    constants: tuple[Any, ...],
    epoch_loss: float,
    device: Any,
    report: Callable[[int, Any, Any, Any], None] | None = None,
) -> tuple[Any, tuple[Any, ...], tuple[Any, ...], Any]:
    """One epoch of ``plan`` through the compiled program, from the flat parameter
    vector and the optimizer's flat buffers (both donated): (vector, buffers,
    per-array parameters, summed loss). The plan goes to the device in two copies
    (rows and the step table); nothing else runs outside the program. With
    ``report(step, total before, total after, params)`` (batch callbacks), one call
    per step, ``report`` after each."""
    import jax

    dtype = vector.dtype
    order = jax.device_put(plan.order, device)
    table = jax.device_put(np.asarray(plan.table, dtype=dtype), device)
    total = np.asarray(epoch_loss, dtype=dtype)
    n_full, remainder = plan.n_full, plan.remainder
    if report is None:
        calls = [(0, n_full, remainder)]
    else:  # one step a call: a full batch, then the short one
        calls = [(i, i + 1, 0) for i in range(n_full)]
        calls += [(n_full, n_full, remainder)] if remainder else []
    for i, steps in enumerate(calls):
        before = total
        vector, buffers, params, total = compiled(
            vector,
            buffers,
            data,
            order,
            table,
            constants,
            tuple(np.int32(n) for n in steps),
            total,
        )
        if report is not None:
            report(i, before, total, params)
    return vector, buffers, params, total
