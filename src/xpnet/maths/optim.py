"""Optimizers with scikit-learn's update rules: SGD (momentum, Nesterov), Adam.

An optimizer works on flat vectors (:mod:`.flat`): ``step_flat(params, grads)``
moves the parameter vector (n_params,) in place by the update computed from the
gradient vector, with a few whole-vector operations however many layers there are
(each operation is one kernel launch on a GPU). Its state (velocities, moments) is
flat too; ``state`` shows it per parameter, shaped like the parameters. Each
optimizer overrides ``_update(grad)``, which returns the update vector. The gradients
handed to a step belong to the optimizer afterwards: it may overwrite them.
``step(params, grads)`` is the same step on lists of per-layer arrays.

Rounding matches scikit-learn's ``_stochastic_optimizers.py`` operation for operation,
so the same gradients give the same parameters to the last bit in float64. Where the
update is a fixed multiple of the gradient (plain SGD), ``update_factor`` offers that
multiple for the training loop to fold into backprop, and ``apply_flat`` takes the
updates that come out; that path equals ``step_flat`` up to rounding.

These classes are the eager loop's in-place fast path; :mod:`.optimizers` has the same
updates as pure ``init``/``update`` pairs for compiled steps (the same bits on NumPy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .flat import Layout

Array = Any

SCHEDULES = ("constant", "invscaling", "adaptive")
MIN_ADAPTIVE_LR = 1e-6
"""``adaptive`` stops training once the learning rate is at or below this."""


class Optimizer:
    """The shared step: ``params += _update(grads)`` on flat vectors.

    Parameters
    ----------
    params : list of arrays
        The parameters (weights then biases); only their shapes, dtype and device
        are read here, to create the state.
    learning_rate_init : float
    """

    kind = "base"
    state_names: tuple[str, ...] = ()

    def __init__(self, xp: Any, params: list[Array], learning_rate_init: float) -> None:
        self.xp = xp
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.rate_factor: float | None = None  # a schedule's, set each epoch
        if self.state_names:  # the layout and a vector to shape the buffers on
            self.layout, flat = Layout.packed(xp, params)
        else:
            self.layout, flat = Layout.of(params), None
        self.buffers: dict[str, Array] = {
            name: xp.zeros_like(flat) for name in self.state_names
        }

    @property
    def state(self) -> dict[str, list[Array]]:
        """The state per parameter, ``{name: [array shaped like params[i]]}``."""
        return {
            name: self.layout.views(self.xp, flat)
            for name, flat in self.buffers.items()
        }

    def step_flat(self, params: Array, grads: Array) -> Array:
        """Update the parameter vector (n_params,) in place with the gradient vector;
        returns it (a new array where arrays are immutable, as in JAX)."""
        self._begin_step()
        params += self._update(grads)
        return params

    def step(self, params: list[Array], grads: list[Array]) -> None:
        """:meth:`step_flat` on lists: ``params[i]`` become views of the result."""
        self._on_lists(self.step_flat, params, grads)

    def update_factor(self) -> float | None:
        """``c`` when every step moves every parameter by exactly ``c * grad`` (plain
        SGD: ``-learning_rate``), else None; constant until ``iteration_ends`` or
        ``trigger_stopping`` (the end of an epoch).

        The loop can then fold ``c`` into backprop's first error term, a small
        (batch, outputs) array, and hand the gradients that come out to
        ``apply_flat``: they are the updates, and no pass over the weights is spent
        scaling them. The result equals ``step_flat``'s up to rounding (the product
        is taken earlier).
        """
        return None

    def apply_flat(self, params: Array, updates: Array) -> Array:
        """``params += updates`` (flat vectors, updates made with ``update_factor``);
        returns params as :meth:`step_flat` does."""
        params += updates
        return params

    def apply(self, params: list[Array], updates: list[Array]) -> None:
        """:meth:`apply_flat` on lists: ``params[i]`` become views of the result."""
        self._on_lists(self.apply_flat, params, updates)

    def _on_lists(self, flat_step: Any, params: list[Array], grads: list[Array]):
        flatten = self.layout.flatten
        result = flat_step(flatten(self.xp, params), flatten(self.xp, grads))
        params[:] = self.layout.views(self.xp, result)

    def set_learning_rate_init(self, value: float, time_step: int) -> None:
        """A new base rate mid-fit (a callback's): used from the next step."""
        self.learning_rate_init = value
        self.learning_rate = self._base_rate()

    def set_rate_factor(self, factor: float) -> None:
        """A schedule's multiple of ``learning_rate_init`` for the next epoch."""
        self.rate_factor = float(factor)
        self.learning_rate = self._base_rate()

    def _base_rate(self) -> float:
        if self.rate_factor is None:
            return self.learning_rate_init
        return self.learning_rate_init * self.rate_factor

    def _begin_step(self) -> None:
        """Per-step scalar bookkeeping, before any parameter moves."""

    def _update(self, grad: Array) -> Array:
        raise NotImplementedError

    def iteration_ends(self, time_step: int) -> None:
        """End of an epoch; ``time_step`` counts the samples seen so far."""

    def trigger_stopping(self) -> tuple[bool, str]:
        """No improvement for too long: (stop?, what was done, for verbose output)."""
        return True, "Stopping."

    def scalars(self) -> dict[str, float | int]:
        """The scalar state (for checkpoints)."""
        return {"learning_rate": self.learning_rate}

    def load(self, scalars: dict[str, Any], state: dict[str, list[Array]]) -> None:
        """Restore ``scalars`` and ``state`` (per-parameter arrays on the device, as
        :attr:`state` gives them)."""
        for name, value in scalars.items():
            setattr(self, name, value)
        for name in self.state_names:
            self.buffers[name] = self.layout.flatten(self.xp, list(state[name]))


class SGD(Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum and a learning-rate
    schedule.

    ``velocity = momentum * velocity - lr * grad``; the update is the velocity, or with
    Nesterov ``momentum * velocity - lr * grad`` once more. Schedules: ``constant``;
    ``invscaling``, ``lr = learning_rate_init / (t + 1) ** power_t`` after each epoch
    with ``t`` the samples seen; ``adaptive``, divide by 5 when progress stalls.
    """

    kind = "sgd"
    state_names = ("velocities",)

    def __init__(
        self,
        xp: Any,
        params: list[Array],
        learning_rate_init: float = 0.1,
        lr_schedule: str = "constant",
        momentum: float = 0.9,
        nesterov: bool = True,
        power_t: float = 0.5,
    ) -> None:
        super().__init__(xp, params, learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.power_t = float(power_t)

    def _update(self, grad: Array) -> Array:
        grad *= self.learning_rate  # lr * grad, the term both formulas share
        velocity = self.buffers["velocities"]
        velocity *= self.momentum
        velocity -= grad
        self.buffers["velocities"] = velocity
        if not self.nesterov:
            return velocity
        update = velocity * self.momentum
        update -= grad
        return update

    def update_factor(self) -> float | None:
        return None if self.momentum else -self.learning_rate

    def apply_flat(self, params: Array, updates: Array) -> Array:
        # Without momentum the velocity is the last update, as in ``_update``.
        self.buffers["velocities"] = updates
        return super().apply_flat(params, updates)

    def iteration_ends(self, time_step: int) -> None:
        if self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** (
                self.power_t
            )

    def set_learning_rate_init(self, value: float, time_step: int) -> None:
        # The schedule's rate from the new base: invscaling's formula at the
        # samples seen, adaptive's divisions by 5 so far kept.
        old, self.learning_rate_init = self.learning_rate_init, value
        if self.lr_schedule == "invscaling" and time_step:
            self.learning_rate = value / (time_step + 1) ** self.power_t
        elif self.lr_schedule == "adaptive" and old:
            self.learning_rate = self.learning_rate / old * value
        else:
            self.learning_rate = self._base_rate()

    def trigger_stopping(self) -> tuple[bool, str]:
        if self.lr_schedule != "adaptive":
            return True, "Stopping."
        if self.learning_rate <= MIN_ADAPTIVE_LR:
            return True, "Learning rate too small. Stopping."
        self.learning_rate /= 5.0
        return False, f"Setting learning rate to {self.learning_rate:f}"


class Adam(Optimizer):
    """Adam (Kingma and Ba), with scikit-learn's bias correction folded into the rate.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``,
    ``update = -lr_t m / (sqrt(v) + eps)`` with
    ``lr_t = lr * sqrt(1 - b2**t) / (1 - b1**t)``.
    """

    kind = "adam"
    state_names = ("ms", "vs")

    def __init__(
        self,
        xp: Any,
        params: list[Array],
        learning_rate_init: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        super().__init__(xp, params, learning_rate_init)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0

    def _begin_step(self) -> None:
        self.t += 1
        # optimizers.adam_rate's formula, inline (tests/maths/test_optimizers.py
        # holds the two equal)
        self.learning_rate = (
            self._base_rate()
            * math.sqrt(1 - self.beta_2**self.t)
            / (1 - self.beta_1**self.t)
        )

    def _update(self, grad: Array) -> Array:
        m, v = self.buffers["ms"], self.buffers["vs"]
        m *= self.beta_1
        m += (1 - self.beta_1) * grad
        v *= self.beta_2
        grad *= grad
        grad *= 1 - self.beta_2
        v += grad
        self.buffers["ms"], self.buffers["vs"] = m, v
        denominator = self.xp.sqrt(v)
        denominator += self.epsilon
        update = m * -self.learning_rate
        update /= denominator
        return update

    def scalars(self) -> dict[str, float | int]:
        return {"learning_rate": self.learning_rate, "t": self.t}


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}


def new_optimizer(
    solver: str, xp: Any, params: list[Array], options: Mapping[str, Any]
) -> Optimizer:
    """The optimizer of ``solver`` ("sgd", else Adam) over ``params``, its
    hyperparameters read from ``options`` (scikit-learn's parameter names)."""
    if solver == "sgd":
        return SGD(
            xp,
            params,
            options["learning_rate_init"],
            # a schedule object sets the rate each epoch: "constant" between
            options["learning_rate"]
            if isinstance(options["learning_rate"], str)
            else "constant",
            options["momentum"],
            options["nesterovs_momentum"],
            options["power_t"],
        )
    return Adam(
        xp,
        params,
        options["learning_rate_init"],
        options["beta_1"],
        options["beta_2"],
        options["epsilon"],
    )
