"""Entries picked by conditions or indices, and signs: np.select, np.choose, np.piecewise,
np.extract, np.compress, np.real, np.bincount with weights; the ufuncs np.copysign, np.fmax,
np.fmin and np.fabs."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...errors import UnsupportedOpError
from ._registry import _traced, _value, _composed, _ndim, _composed_ufunc


@_composed(np.select, sequences=("condlist", "choicelist"))
def _select(name: str, condlist: Any, choicelist: Any, default: Any) -> Any:
    """The first choice whose condition holds, else ``default``: nested wheres, the last first."""
    condlist, choicelist = list(condlist), list(choicelist)
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if len(condlist) == 0:
        raise ValueError("select with an empty condition list is not possible")
    conditions = [np.asarray(_value(c)) for c in condlist]
    for i, c in enumerate(conditions):
        if c.dtype.type is not np.bool_:
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray")
    shape = np.broadcast_shapes(*[c.shape for c in conditions], *[np.shape(c) for c in choicelist],
                                np.shape(default))
    result = default
    for cond, choice in zip(reversed(conditions), reversed(choicelist)):
        result = np.where(cond, choice, result)
    return np.broadcast_to(result, shape) if np.shape(result) != shape else result


@_composed_ufunc(np.copysign)
def _copysign(name: str, x1: Any, x2: Any) -> Any:
    """``|x1|`` with the sign of ``x2`` (read from the values: no gradient reaches ``x2``)."""
    return np.abs(x1) * np.where(np.signbit(_value(x2)), -1.0, 1.0).astype(np.result_type(_value(x1), 1.0))


def _nan_ignoring(pick: Callable[..., Any]) -> Callable[..., Any]:
    def composed(name: str, x1: Any, x2: Any) -> Any:
        """``np.maximum`` (``minimum``) of the two, the other one where one is NaN, as fmax (fmin)."""
        a, b = np.isnan(_value(x1)), np.isnan(_value(x2))
        if not a.any() and not b.any():
            return pick(x1, x2)
        return np.where(b, x1, np.where(a, x2, pick(np.where(a, 0, x1), np.where(b, 0, x2))))
    return composed


@_composed_ufunc(np.fabs)
def _fabs(name: str, x: Any) -> Any:
    """``np.abs`` in the floating type fabs gives (which has no integer loops: int8 gives float16)."""
    dtype = np.fabs(np.zeros((), _value(x).dtype)).dtype
    return np.abs(x if _value(x).dtype == dtype else x.astype(dtype) if _traced(x) else np.asarray(x, dtype))


_composed_ufunc(np.fmax)(_nan_ignoring(np.maximum))


_composed_ufunc(np.fmin)(_nan_ignoring(np.minimum))


@_composed(np.real)
def _real(name: str, val: Any) -> Any:
    if _value(val).dtype.kind == "c":
        raise UnsupportedOpError(f"{name} of a complex value is not supported")
    return val


@_composed(np.real_if_close)
def _real_if_close(name: str, a: Any, tol: Any) -> Any:
    return _real(name, a)


@_composed(np.extract)
def _extract(name: str, condition: Any, arr: Any) -> Any:
    return np.ravel(arr)[np.flatnonzero(_value(condition))]


@_composed(np.compress, refuse=("out",))
def _compress(name: str, condition: Any, a: Any, axis: Any, out: Any) -> Any:
    kept = np.flatnonzero(np.ravel(_value(condition)))
    if axis is None:
        return np.ravel(a)[kept]
    return np.take(a, kept, axis=axis)


@_composed(np.choose, refuse=("out",), framed=True, sequences=("choices",))
def _choose(name: str, a: Any, choices: Any, out: Any, mode: Any) -> Any:
    """``choices[a[i]][i]``: the choices stacked, then one gather (``a`` read from the values)."""
    index = np.asarray(_value(a))
    choices = list(choices)
    n = len(choices)
    if mode == "raise" and (np.any(index < 0) or np.any(index >= n)):
        raise ValueError("invalid entry in choice array")
    index = np.clip(index, 0, n - 1) if mode == "clip" else index % n if mode == "wrap" else index
    shape = np.broadcast_shapes(index.shape, *[np.shape(c) for c in choices])
    stacked = np.stack([np.broadcast_to(c, shape) for c in choices])
    return np.take_along_axis(stacked, np.broadcast_to(index, shape)[None], axis=0)[0]


@_composed(np.piecewise, framed=True, sequences=("condlist", "funclist"))
def _piecewise(name: str, x: Any, condlist: Any, funclist: Any, args: Any, kw: Any) -> Any:
    """NumPy's piecewise: each function on the entries its condition picks, written into an array of
    zeros shaped like ``x`` (which the trace records as item assignments)."""
    n2 = len(funclist)
    if np.isscalar(condlist) or (not isinstance(condlist[0], (list, np.ndarray)) and _ndim(x) != 0):
        condlist = [condlist]
    conditions = np.asarray([np.asarray(_value(c), dtype=bool) for c in condlist])
    n = len(conditions)
    if n == n2 - 1:  # the otherwise case
        conditions = np.concatenate([conditions, ~np.any(conditions, axis=0, keepdims=True)], axis=0)
        n += 1
    elif n != n2:
        raise ValueError(f"with {n} condition(s), either {n} or {n + 1} functions are expected")
    y = np.zeros_like(x)
    for cond, func in zip(conditions, funclist):
        if not callable(func):
            y[cond] = func
        else:
            vals = x[cond]
            if np.size(_value(vals)) > 0:
                y[cond] = func(vals, *args, **kw)
    return y


@_composed(np.bincount)
def _bincount(name: str, x: Any, weights: Any, minlength: Any) -> Any:
    """The sum of the weights at each index, added in order (``np.add.at`` into zeros), as NumPy's."""
    index = np.asarray(_value(x))
    if weights is None or not _traced(weights):
        return np.bincount(index, weights=None if weights is None else _value(weights), minlength=minlength)
    if index.ndim != 1 or np.shape(weights) != index.shape:
        raise ValueError(f"{name}: the weights and list don't have the same length.")
    if index.size and index.min() < 0:
        raise ValueError(f"{name}: 'list' argument must have no negative elements")
    size = max(int(index.max()) + 1 if index.size else 0, minlength)
    out = np.zeros_like(weights, dtype=np.float64, shape=(size,))  # (of a traced array: a buffer the trace follows)
    np.add.at(out, index, weights)
    return out
