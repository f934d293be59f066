"""Fitting for the command: the estimator its options describe, fitted with a
progress bar and the command's errors. Used by :mod:`.commands` (data in memory) and
:mod:`.lazy_data` (data opened lazily with Dask).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

from ..backend import Backend
from ..estimators import MLPClassifier, MLPRegressor
from ..training.distributed import DistributedError
from .datasets import MissingExtraError


class TrainingError(RuntimeError):
    """Training could not finish (the loss diverged); the message says what to try."""


@dataclass
class Fitted:
    """What a training run produced, for the summary."""

    model: Any
    seconds: float
    epochs: int
    n_train: int


def estimator_for(task: str, args: argparse.Namespace, backend: Backend) -> Any:
    cls = MLPClassifier if task == "classification" else MLPRegressor
    return cls(
        hidden_layer_sizes=tuple(args.hidden),
        activation=args.activation,
        solver=args.solver,
        alpha=args.alpha,
        batch_size=args.batch_size,
        learning_rate_init=args.lr,
        max_iter=args.epochs,
        random_state=args.seed,
        backend=backend.name,
        dtype=args.dtype,
        compile=getattr(args, "compile", False),
    )


class ProgressBar:
    """A tqdm bar over epochs, fed by the estimator's epoch callback: the epoch, the
    epoch's training loss and samples per second, on stderr."""

    def __init__(self, total: int, n_samples: int) -> None:
        try:
            from tqdm import tqdm
        except ImportError:
            raise MissingExtraError(
                "the progress bar needs tqdm, which is not installed; install it "
                "with: pip install tqdm (an xpnet dependency), or pass --quiet"
            ) from None
        self.bar = tqdm(
            total=total,
            desc="training",
            unit="epoch",
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self.n_samples = n_samples
        self.last = time.perf_counter()

    def __call__(self, model: Any, history: Any) -> bool:
        """The epoch callback: update the bar; never asks training to stop."""
        now = time.perf_counter()
        rate = self.n_samples / max(now - self.last, 1e-9)
        self.last = now
        loss = history.loss_curve[-1]
        self.bar.set_postfix_str(
            f"loss {loss:.4g}, {rate:,.0f} samples/s", refresh=False
        )
        self.bar.update(1)
        return False

    def close(self) -> None:
        self.bar.close()


def fit_with_progress(
    model: Any,
    X: Any,
    y: Any,
    *,
    quiet: bool = False,
    distributed: bool = False,
) -> Fitted:
    """``model.fit(X, y)`` with a :class:`ProgressBar`, unless ``quiet``
    (``distributed``: data-parallel over the default process group).

    Warnings are printed as one-line notes, except the convergence warning:
    ``--epochs`` asked for that many epochs.

    Raises
    ------
    TrainingError
        The loss became NaN or infinite, the device ran out of memory, or
        data-parallel training failed (a rank died).
    MissingExtraError
        The fit needs an optional library that is not installed.
    """
    bar = None if quiet else ProgressBar(model.max_iter, X.shape[0])
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(
                X,
                y,
                callbacks=None if bar is None else [bar],
                distributed=distributed or None,
            )
    except FloatingPointError as exc:  # xpnet's DivergenceError
        raise TrainingError(f"{exc}; try a smaller --lr") from None
    except DistributedError as exc:  # a rank died or the ranks disagree
        raise TrainingError(str(exc)) from None
    except MemoryError as exc:
        raise TrainingError(_memory_hint(model, X.shape[1], exc)) from None
    except ImportError as exc:  # an optional library the fit needs (SciPy for lbfgs)
        raise MissingExtraError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    for message in dict.fromkeys(
        str(w.message) for w in caught if w.category.__name__ != "ConvergenceWarning"
    ):
        print(f"note: {message}", file=sys.stderr)
    return Fitted(model, seconds, model.n_iter_, X.shape[0])


def _memory_hint(model: Any, n_features: int, exc: MemoryError) -> str:
    """What ran out of memory, and which option to change."""
    if type(exc).__name__ == "DeviceMemoryError":  # during the steps: the batches
        return f"{exc}; try a smaller --batch-size or narrower --hidden layers"
    sizes = [n_features, *model.hidden_layer_sizes]
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return (
        f"out of memory creating the network ({exc}): --hidden "
        f"{' '.join(map(str, model.hidden_layer_sizes))} on {n_features} features "
        f"needs at least {n_weights:,} weights; try narrower --hidden layers"
    )
