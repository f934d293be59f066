"""Full-batch training with L-BFGS: scikit-learn's ``solver="lbfgs"``.

As scikit-learn does, SciPy's ``minimize(method="L-BFGS-B", jac=True)`` drives the
search over the flattened weights then biases, with ``maxiter=max_iter``,
``maxfun=max_fun`` and ``gtol=tol``. The loss and its gradient are computed on the
device; each function evaluation costs one host-to-device copy of the flat
parameters and one device-to-host copy of the flat gradient (``n_params`` numbers
each way, plus a sync to read the loss): small next to the forward and backward pass
over the whole data set, except for tiny data on a GPU. Sparse X goes whole (SciPy's
sparse products on NumPy; densified once on other backends). SciPy is imported only
here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import caller
from ..data.sparse import SparseRows
from ..maths import network
from ..maths.flat import Layout
from .loop import DIVERGED, DivergenceError, Run, convergence_warning


def _scipy_minimize() -> Any:
    try:
        from scipy.optimize import minimize
    except ImportError:
        raise ImportError(
            "solver='lbfgs' needs SciPy, which is not installed: "
            "pip install 'xpnet[lbfgs]' (or pip install scipy)"
        ) from None
    return minimize


def objective(run: Run) -> tuple[Callable, Callable]:
    """``(f, unflatten)`` for SciPy.

    ``f(flat) -> (loss, gradient)``: the regularised loss (float) and its gradient
    (float64, shaped as ``flat``) at the flat host parameters ``flat`` (weights then
    biases), computed on the device over the whole of ``run.X`` with scikit-learn's
    numbers: weighted means with sample weights, the L2 term ``alpha / 2 * ||W||^2``
    over the weight sum, the squared error's value (not its gradient) averaged over
    outputs. ``unflatten(flat)``: the device parameters (views of one copy of flat).
    """
    backend, xp = run.backend, run.backend.xp
    layout = Layout.of(run.state.params)
    n_layers, alpha = run.n_layers, run.settings.alpha
    dtype = (
        "float64"
        if run.state.params[0].dtype == backend.dtype("float64")
        else "float32"
    )
    sw, host_sw = run.sample_weight, run.host_sample_weight
    X = run.X.whole() if isinstance(run.X, SparseRows) else run.X
    sw_sum = run.X.shape[0] if host_sw is None else float(np.sum(host_sw))

    def loss_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        params = unflatten(flat)
        coefs = params[:n_layers]
        value, grads, _ = network.loss_and_gradients(
            xp,
            coefs,
            params[n_layers:],
            run.activations,
            X,
            run.Y,
            run.loss,
            sample_weight=sw,
        )
        squares = 0.0
        for i, W in enumerate(coefs):
            column = xp.reshape(W, (-1,))
            squares = squares + xp.vecdot(column, column)
            grads.weights[i] += (alpha / sw_sum) * W
        loss = value * run.loss_scale + (0.5 * alpha) * squares / sw_sum
        gradient = layout.flatten(xp, [*grads.weights, *(grads.biases or [])])
        return float(loss), np.asarray(backend.to_numpy(gradient), dtype=np.float64)

    def unflatten(flat: np.ndarray) -> list[Any]:
        return layout.views(xp, backend.asarray(np.asarray(flat), dtype))

    return loss_and_gradient, unflatten


def fit_lbfgs(run: Run, max_fun: int) -> None:
    """Minimise the run's loss with L-BFGS from ``run.params``; ``run.params`` and
    ``run.history`` (``n_iter``; ``loss_curve``: the loss after each iteration) hold
    the result.

    Warns :class:`ConvergenceWarning` when SciPy stops before convergence
    (``max_iter`` iterations, ``max_fun`` evaluations, or a failed line search), as
    scikit-learn does; raises :class:`DivergenceError` on non-finite weights or loss.
    """
    minimize = _scipy_minimize()
    backend, history = run.backend, run.state.history
    f, unflatten = objective(run)
    flat = Layout.of(run.state.params).flatten(backend.xp, run.state.params)
    start = np.asarray(backend.to_numpy(flat), dtype=np.float64)
    history.n_iter = 0

    def each_iteration(intermediate_result: Any) -> None:
        history.n_iter += 1
        history.loss_curve.append(float(intermediate_result.fun))
        if run.on_epoch_end is not None and run.on_epoch_end(history):
            raise StopIteration
        if run.settings.verbose:
            print(f"Iteration {history.n_iter}, loss = {history.loss_curve[-1]:.8f}")

    with np.errstate(all="ignore"):
        result = minimize(
            f,
            start,
            method="L-BFGS-B",
            jac=True,
            callback=each_iteration,
            options={
                "maxfun": max_fun,
                "maxiter": run.settings.max_iter,
                "gtol": run.settings.tol,
            },
        )
    if not (math.isfinite(result.fun) and np.isfinite(result.x).all()):
        raise DivergenceError(
            f"L-BFGS diverged: the loss is {result.fun}; the model keeps its starting "
            f"weights. {DIVERGED}: scale the inputs or raise alpha"
        )
    run.state.params[:] = [
        backend.xp.asarray(p, copy=True) for p in unflatten(result.x)
    ]
    history.n_iter = min(int(result.nit), run.settings.max_iter)
    if not history.loss_curve or history.loss_curve[-1] != result.fun:
        history.loss_curve.append(float(result.fun))
    if result.status != 0 and not _stopped_by_callback(result):
        caller.warn(
            f"lbfgs failed to converge after {history.n_iter} iteration(s) "
            f"(status={result.status}): {result.message}. Increase the number of "
            f"iterations (max_iter={run.settings.max_iter}) or of function "
            f"evaluations (max_fun={max_fun}), or scale the data",
            convergence_warning(),
        )


def _stopped_by_callback(result: Any) -> bool:
    # SciPy reports a StopIteration raised by the callback with status 99.
    return result.status == 99
