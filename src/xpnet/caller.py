"""Warnings that name the caller's line: the frame that called into xpnet.

A fixed ``stacklevel`` is right for one path only: ``fit`` and ``partial_fit``,
``predict`` and ``score`` reach the same check at different depths. :func:`warn`
walks the stack to the outermost frame in xpnet and names the line that called it:
the user's, or scikit-learn's where it drives the estimator.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType

PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
"""xpnet's folder, as its frames' file names begin."""


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` at the line that called into xpnet."""
    frame: FrameType | None = sys._getframe(0)  # warnings.warn's stacklevel 1
    level = outermost = 0
    while frame is not None:
        level += 1
        if frame.f_code.co_filename.startswith(PACKAGE):
            outermost = level
        frame = frame.f_back
    warnings.warn(message, category, stacklevel=outermost + 1)
