"""Many arrays as one flat vector, and the vector as per-array views.

An optimizer that updates every parameter with a few whole-vector operations, instead
of a loop over layers, launches a few kernels per step instead of a few per layer.
``Layout`` remembers the shapes: ``flatten`` packs arrays into a new vector (one
``concat``), ``views`` cuts a vector into arrays of those shapes.

On NumPy, CuPy, torch and array-api-strict the views share the vector's memory, so an
in-place update of the vector (``flat += update``) moves every view. JAX's arrays are
immutable: there ``flat += update`` binds a new array, and a caller that sees
``new is not old`` takes fresh views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Array = Any


@dataclass(frozen=True)
class Layout:
    """The shapes of a list of arrays, in order, as one flat vector holds them."""

    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, arrays: list[Array]) -> Layout:
        """The layout of ``arrays``."""
        return cls(tuple(tuple(a.shape) for a in arrays))

    @property
    def size(self) -> int:
        """Length of the flat vector."""
        return sum(math.prod(shape) for shape in self.shapes)

    @classmethod
    def packed(cls, xp: Any, arrays: list[Array]) -> tuple[Layout, Array]:
        """The layout of ``arrays`` and the flat vector holding them, in one call."""
        layout = cls.of(arrays)
        return layout, layout.flatten(xp, arrays)

    @classmethod
    def bound(cls, xp: Any, arrays: list[Array]) -> tuple[Layout, Array, list[Array]]:
        """:meth:`packed`, with views of the vector to use in place of ``arrays``
        (they move with it), in one call."""
        layout, flat = cls.packed(xp, arrays)
        return layout, flat, layout.views(xp, flat)

    def flatten(self, xp: Any, arrays: list[Array]) -> Array:
        """A new vector (size,) holding ``arrays`` one after the other."""
        return xp.concat([a if a.ndim == 1 else xp.reshape(a, (-1,)) for a in arrays])

    def views(self, xp: Any, flat: Array) -> list[Array]:
        """``flat`` (size,) cut into arrays of the layout's shapes (views where the
        library has them)."""
        parts, start = [], 0
        for shape in self.shapes:
            stop = start + math.prod(shape)
            part = flat[start:stop]
            parts.append(part if len(shape) == 1 else xp.reshape(part, shape))
            start = stop
        return parts
