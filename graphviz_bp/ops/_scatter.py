"""Putting a cotangent back where a gather read it: ``scatter`` and ``gather_back``, the VJPs of the
ops that copy entries of their operand (indexing, take, take_along_axis, repeat, split, diagonal,
sort, pad, tile). Like NumPy's own functions, each hands the call to the ``__array_function__`` of
a cotangent that is not an array (a formula's expression), so a rule written with them gives its
symbolic message too."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def overridable(fn: F) -> F:
    """``fn`` made overridable as NumPy's functions are: when its first argument is not an array but
    has ``__array_function__``, that method is handed the call (with the wrapped function as
    ``func``); arrays take the plain path, which costs one type check."""
    @functools.wraps(fn)
    def wrapper(first: Any, *args: Any, **kwargs: Any) -> Any:
        if type(first) is not np.ndarray and not isinstance(first, (np.ndarray, np.generic)) \
                and hasattr(type(first), "__array_function__"):
            return first.__array_function__(wrapper, (type(first),), (first, *args), kwargs)
        return fn(first, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


@overridable
def scatter(g: np.ndarray, shape: tuple[int, ...], index: tuple[Any, ...], text: str = "",
            unique: bool = False) -> np.ndarray:
    """The VJP of ``x[index]`` for ``x`` of ``shape``: zeros with ``g`` added at ``index``, where an
    entry read more than once adds each time (``unique``: no entry is read twice, so ``g`` is
    simply written there). ``text`` says what was read, for the formula (``[1:4]``).

    >>> scatter(np.array([1.0, 2.0, 3.0]), (3,), (np.array([0, 2, 0]),))
    array([4., 0., 2.])
    """
    out = np.zeros(shape, dtype=g.dtype)
    if unique:
        out[index] = g
    elif all(isinstance(i, (slice, int, np.integer)) or i is None or i is Ellipsis for i in index):
        out[index] += g  # a basic index reads each entry once: the same sums, far faster than add.at
    else:
        np.add.at(out, index, g)  # repeated indices accumulate
    return out


@overridable
def gather_back(g: np.ndarray, shape: tuple[int, ...], index: np.ndarray, text: str = "") -> np.ndarray:
    """The VJP of ``x.ravel()[index]`` (with ``-1`` for an entry that reads no input): ``g`` summed
    into the entries of ``x`` (of ``shape``) it was read from. ``text`` names the gather, for the
    formula (``pad 1×1 edge``).

    >>> gather_back(np.array([1.0, 2.0, 3.0]), (2,), np.array([1, 1, -1]))
    array([0., 3.])
    """
    index = np.broadcast_to(index, g.shape).ravel()
    read = index >= 0
    out = np.bincount(index[read], weights=np.ravel(g)[read], minlength=math.prod(shape))
    return out.reshape(shape).astype(g.dtype, copy=False)


def positions(shape: tuple[int, ...]) -> np.ndarray:
    """Each entry's position in the flattened array, in an array of ``shape``."""
    return np.arange(math.prod(shape), dtype=np.intp).reshape(shape)
