"""Count the calls and module crossings inside xpnet of a one-step fit.

Issue 21's measure of how far a newcomer must read: ``MLPClassifier(
hidden_layer_sizes=(8,), max_iter=1, batch_size=100).fit(X, y)`` on 100x4 NumPy data,
traced with :func:`sys.setprofile`. A *call* is a Python function of xpnet called; a
*crossing* is such a call from a function of another xpnet module (calls from the
user's code into xpnet, and from xpnet into other libraries, are not counted).

    python benchmarks/crossings.py [--by-module]

prints ``calls N crossings M`` (and with ``--by-module`` the crossings by caller
and callee). The fit runs once untraced first, so imports are not counted.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import warnings

import numpy as np


def _module(filename: str, root: str) -> str | None:
    """The xpnet module of a source file, or None outside xpnet."""
    if not filename.startswith(root):
        return None
    name = filename[len(root) :].removesuffix(".py").replace(os.sep, ".")
    return "xpnet" + ("" if name == "__init__" else "." + name)


def trace_fit() -> tuple[int, collections.Counter]:
    """(calls, crossings by (caller module, callee module)) of the one-step fit."""
    import xpnet

    root = os.path.dirname(xpnet.__file__) + os.sep
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    y = (X[:, 0] > 0).astype(int)

    def fit() -> None:
        model = xpnet.MLPClassifier(
            hidden_layer_sizes=(8,), max_iter=1, batch_size=100, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)

    fit()  # imports and caches outside the trace
    calls = 0
    crossings: collections.Counter = collections.Counter()

    def profile(frame, event, arg):  # noqa: ANN001 (sys.setprofile's signature)
        nonlocal calls
        if event != "call":
            return
        callee = _module(frame.f_code.co_filename, root)
        if callee is None:
            return
        calls += 1
        back = frame.f_back
        caller = None if back is None else _module(back.f_code.co_filename, root)
        if caller is not None and caller != callee:
            crossings[caller, callee] += 1

    sys.setprofile(profile)
    try:
        fit()
    finally:
        sys.setprofile(None)
    return calls, crossings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--by-module", action="store_true")
    args = parser.parse_args(argv)
    calls, crossings = trace_fit()
    print(f"calls {calls} crossings {sum(crossings.values())}")
    if args.by_module:
        for (caller, callee), count in crossings.most_common():
            print(f"{count:4} {caller} -> {callee}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
