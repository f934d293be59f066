"""What a running fit shows and how it stops: the progress bar and the deferred Ctrl-C.

:class:`Progress` is a tqdm bar over epochs when ``verbose`` (scikit-learn's plain
"Iteration N" lines with ``verbose >= 2`` or without tqdm); :class:`DeferredInterrupt`
holds Ctrl-C until the running step ends, so the model keeps the weights of the last
completed step.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .state import History


class DeferredInterrupt:
    """Holds Ctrl-C until the running step ends (main thread only); twice: at once."""

    def __init__(self) -> None:
        self.pending = False
        self._installed = False
        self._previous: Any = None

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def __exit__(self, *exc: object) -> None:
        if self._installed:  # None: a handler set outside Python; restore Python's
            previous = self._previous
            signal.signal(
                signal.SIGINT,
                signal.default_int_handler if previous is None else previous,
            )
        if self.pending and exc[0] is None:  # Ctrl-C after the last step: the last
            raise KeyboardInterrupt  # callback, validation or checkpoint write


class Progress:
    """A tqdm bar over ``total`` epochs (from ``initial``) when ``verbose`` is 1;
    scikit-learn's plain "Iteration N" lines with ``verbose >= 2`` or without tqdm;
    else silent."""

    def __init__(self, verbose: int, total: int, initial: int) -> None:
        self.verbose = verbose
        self.total = total
        self.initial = initial
        self.bar: Any = None

    def __enter__(self) -> Progress:
        if self.verbose == 1:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return self
            self.bar = tqdm(
                total=self.total, initial=self.initial, unit="epoch", file=sys.stderr
            )
        return self

    def epoch(self, history: History) -> None:
        """Show the epoch just ended."""
        if not self.verbose:
            return
        loss = history.loss_curve[-1]
        if self.bar is None:
            print(f"Iteration {history.n_iter}, loss = {loss:.8f}")
        else:
            self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
            self.bar.update(1)

    def say(self, message: str) -> None:
        """Print a line (beside the bar, when there is one)."""
        if not self.verbose:
            return
        if self.bar is None:
            print(message)
        else:
            self.bar.write(message, file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def watching(
    verbose: int, total: int, initial: int
) -> Iterator[tuple[DeferredInterrupt, Progress]]:
    """A run's :class:`DeferredInterrupt` and :class:`Progress` as one context (Ctrl-C
    held first, the bar closed first): ``with watching(...) as (interrupt,
    progress)``."""
    with (
        DeferredInterrupt() as interrupt,
        Progress(verbose, total, initial) as progress,
    ):
        yield interrupt, progress
