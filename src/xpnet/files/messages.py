"""Short error messages about values read from files.

A file is anyone's: a header listing 1.5 million layer sizes must not become a 67 MB
message. A message that shows a value read from a file shows :func:`brief` of it,
which never builds the whole ``repr`` of a big list or string; :func:`cap` shortens
whatever message is left (:class:`~xpnet.files.tensor_file.ModelFileError` and the
command's one-line errors pass through it).
"""

from __future__ import annotations

import itertools
from typing import Any

BRIEF_CHARS = 200
"""Longest :func:`brief` (about)."""
MESSAGE_CHARS = 2000
"""Longest message :func:`cap` lets through."""
_ITEMS = 8  # items of a list, tuple or dict shown before "..."
_INT_DIGITS = 60  # a longer int is shown by its size (str() refuses over 4300 digits)


def brief(value: Any, limit: int = BRIEF_CHARS) -> str:
    """``repr(value)`` in at most about ``limit`` characters.

    Lists, tuples, sets and dicts show their first items and their length, strings
    their start and length, huge ints their number of digits; nothing is built
    whole (cost proportional to ``limit``, not to the value).
    """
    return cap(_short(value, limit, 0), limit)


def cap(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    note = f"... ({len(text):,} characters)"
    return text[: max(0, limit - len(note))] + note


def _short(value: Any, limit: int, depth: int) -> str:
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return _container(value, limit, depth)
    if isinstance(value, (str, bytes)) and len(value) > limit // 2:
        return f"{value[: limit // 2]!r}... ({len(value):,} characters)"
    if isinstance(value, int) and value.bit_length() > _INT_DIGITS * 10 // 3:
        return f"<an int of about {int(value.bit_length() * 0.30103):,} digits>"
    return repr(value)


def _container(value: Any, limit: int, depth: int) -> str:
    brackets = "[]" if isinstance(value, list) else "{}"
    brackets = "()" if isinstance(value, tuple) else brackets
    if isinstance(value, (set, frozenset)) and not value:
        return repr(value)
    if depth >= 3:
        return f"{brackets[0]}...{brackets[1]}"
    items = value.items() if isinstance(value, dict) else value
    parts = []
    for item in itertools.islice(items, _ITEMS):
        if isinstance(value, dict):
            key, entry = item
            text = f"{_short(key, limit, depth + 1)}: {_short(entry, limit, depth + 1)}"
        else:
            text = _short(item, limit, depth + 1)
        parts.append(cap(text, limit))
    if len(value) > _ITEMS:
        parts.append(f"... ({len(value):,} items)")
    comma = "," if isinstance(value, tuple) and len(value) == 1 else ""
    return f"{brackets[0]}{', '.join(parts)}{comma}{brackets[1]}"
