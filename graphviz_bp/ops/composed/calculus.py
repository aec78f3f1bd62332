"""Differences, integrals and signals: np.diff, np.ediff1d, np.gradient, np.trapezoid, np.polyval,
np.sinc, np.interp, np.convolve and np.correlate."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ...errors import UnsupportedOpError
from ._registry import _traced, _value, _composed, _since, _axis, _axes, _ndim, _shifted


@_composed(np.diff, framed=True)
def _diff(name: str, a: Any, n: Any, axis: Any, prepend: Any, append: Any) -> Any:
    n = operator.index(n)
    if n == 0:
        return a
    if n < 0:
        raise ValueError(f"{name}: order must be non-negative but got {n!r}")
    ndim = _ndim(a)
    if ndim == 0:
        raise ValueError(f"{name} requires input that is at least one dimensional")
    axis = _axis(axis, ndim, name)
    parts = []
    for extra in (prepend, a, append):
        if extra is None:
            continue
        if extra is not a and _ndim(extra) == 0:
            shape = list(np.shape(a))
            shape[axis] = 1
            extra = np.broadcast_to(extra, tuple(shape))
        parts.append(extra)
    if len(parts) > 1:
        a = np.concatenate(parts, axis=axis)
    later, earlier = _shifted(ndim, axis)
    for _ in range(n):
        a = a[later] - a[earlier]
    return a


def _trapezoid(name: str, y: Any, x: Any, dx: Any, axis: Any) -> Any:
    ndim = _ndim(y)
    axis = _axis(axis, ndim, name)
    if x is None:
        d = dx
    elif _ndim(x) == 1:
        d = np.diff(x)
        d = np.reshape(d, tuple(np.shape(d)[0] if i == axis else 1 for i in range(ndim)))
    else:
        d = np.diff(x, axis=axis)
    later, earlier = _shifted(ndim, axis)
    return np.sum(d * (y[later] + y[earlier]) / 2.0, axis=axis)


_composed(_since("trapezoid"), _since("trapz"), framed=True)(_trapezoid)


@_composed(np.polyval, framed=True)
def _polyval(name: str, p: Any, x: Any) -> Any:
    """Horner's rule, as NumPy runs it: ``y = y x + p[i]`` from the highest power down."""
    if not _traced(p):
        p = np.asarray(p)  # (a poly1d: its coefficients, highest power first)
    if _ndim(p) == 0:
        raise TypeError(f"{name}: iteration over a 0-d array")
    y = np.zeros(np.shape(x), dtype=np.result_type(_value(x), 0))
    for k in range(np.shape(p)[0]):
        y = y * x + p[k]
    return y


@_composed(np.sinc, framed=True)
def _sinc(name: str, x: Any) -> Any:
    """``sin(πx) / (πx)``, with NumPy's stand-in for 0 (where its gradient is 0)."""
    y = np.pi * np.where(_value(x) == 0, 1.0e-20, x)
    return np.sin(y) / y


_MODES = {"valid": 0, "same": 1, "full": 2, 0: 0, 1: 1, 2: 2, "v": 0, "s": 1, "f": 2}


def _correlated(name: str, a: Any, v: Any, mode: Any) -> Any:
    """``c[k] = Σₙ a[n + k] v[n]`` over the positions ``mode`` keeps, as NumPy's correlate keeps them:
    the full correlation from one gather and one product, then NumPy's part of it."""
    if _ndim(a) != 1 or _ndim(v) != 1:
        raise ValueError(f"{name}: object too deep for desired array" if max(_ndim(a), _ndim(v)) > 1 else
                         f"{name}: object of too small depth for desired array")
    m, n = np.shape(a)[0], np.shape(v)[0]
    if m == 0 or n == 0:
        raise ValueError(f"{name}: {'a' if m == 0 else 'v'} cannot be empty")
    if mode not in _MODES:
        raise ValueError(f"{name}: mode must be one of 'valid', 'same', or 'full' (got {mode!r})")
    zeros = np.zeros(n - 1, dtype=_value(a).dtype)
    padded = np.concatenate([zeros, a, zeros]) if n > 1 else a
    windows = padded[np.arange(m + n - 1)[:, None] + np.arange(n)[None, :]]
    if np.isfinite(_value(v)).all():
        full = windows @ v
    else:  # an ∞ or NaN in v would meet the padding (∞ · 0): only the entries that overlap are multiplied
        overlap = np.arange(m + n - 1)[:, None] + np.arange(n)[None, :]
        overlap = (overlap >= n - 1) & (overlap < m + n - 1)
        full = np.sum(windows * np.where(overlap, v, 0), axis=1)
    short = min(m, n)
    left = {0: 0, 1: short >> 1, 2: short - 1}[_MODES[mode]]
    right = {0: 0, 1: short - (short >> 1) - 1, 2: short - 1}[_MODES[mode]]
    length = max(m, n) - short + 1 + left + right
    if m >= n:
        start = n - 1 - left
        return full[start:start + length]
    reverse = full[::-1]  # NumPy swaps the operands and reverses what it keeps
    start = m - 1 - left
    return reverse[start:start + length][::-1]


@_composed(np.correlate, framed=True)
def _correlate(name: str, a: Any, v: Any, mode: Any) -> Any:
    return _correlated(name, a, v, mode)


@_composed(np.convolve, framed=True)
def _convolve(name: str, a: Any, v: Any, mode: Any) -> Any:
    if _ndim(a) > 1 or _ndim(v) > 1:
        raise ValueError(f"{name}: object too deep for desired array")
    a, v = np.reshape(a, (-1,)), np.reshape(v, (-1,))
    if np.shape(v)[0] > np.shape(a)[0]:
        a, v = v, a
    if np.shape(a)[0] == 0 or np.shape(v)[0] == 0:
        raise ValueError(f"{name}: {'a' if np.shape(a)[0] == 0 else 'v'} cannot be empty")
    return _correlated(name, a, v[::-1], mode)


@_composed(np.interp, refuse=("period",), framed=True)
def _interp(name: str, x: Any, xp: Any, fp: Any, left: Any, right: Any, period: Any) -> Any:
    """NumPy's piecewise-linear interpolation: on each piece ``slope (x − xp[j]) + fp[j]``, at a
    knot its ``fp``, outside ``left`` and ``right`` (``fp``'s ends by default); the piece of each
    point is read from the values."""
    xp, fp = (a if _traced(a) else np.asarray(a) for a in (xp, fp))  # (lists: arrays, as NumPy reads them)
    xv, xpv = np.asarray(_value(x), dtype=float), np.asarray(_value(xp), dtype=float)
    if xpv.ndim != 1 or np.ndim(_value(fp)) != 1:
        raise ValueError(f"{name}: xp and fp must be 1-D sequences")
    k = xpv.shape[0]
    if k == 0 or np.shape(fp)[0] != k:
        raise ValueError(f"{name}: fp and xp are not of the same length" if k else f"{name}: array of sample "
                         f"points is empty")
    if _value(fp).dtype.kind == "c":
        raise UnsupportedOpError(f"{name} of complex values is not supported")
    lo = fp[0] if left is None else left
    hi = fp[k - 1] if right is None else right
    j = np.searchsorted(xpv, xv, side="right") - 1
    at = np.clip(j, 0, k - 1)
    if k > 1:
        piece = np.clip(j, 0, k - 2)
        slope = (fp[piece + 1] - fp[piece]) / (xp[piece + 1] - xp[piece])
        inside = slope * (x - xp[piece]) + fp[piece]
        knot = (j == k - 1) | (xpv[at] == xv)
        result = np.where(knot, fp[at], inside)
    else:
        result = np.where(xv == xpv[0], fp[at], fp[at])
    result = np.where(xv > xpv[k - 1], hi, np.where(xv < xpv[0], lo, result))
    return np.where(np.isnan(xv), x, result) if np.isnan(xv).any() else result


@_composed(np.ediff1d, framed=True)
def _ediff1d(name: str, ary: Any, to_end: Any, to_begin: Any) -> Any:
    flat = np.ravel(ary)
    d = flat[1:] - flat[:-1]
    parts = [np.ravel(p) for p in (to_begin,) if p is not None] + [d] + [np.ravel(p) for p in (to_end,) if p is not None]
    return np.concatenate(parts) if len(parts) > 1 else d


@_composed(np.gradient, framed=True)
def _gradient(name: str, f: Any, varargs: Any, axis: Any, edge_order: Any) -> Any:
    """NumPy's differences: central inside, one-sided (``edge_order`` 1 or 2) at the ends; for
    uniform spacings (numbers) only."""
    ndim = _ndim(f)
    axes = _axes(axis, ndim, name, given=True)
    spacing = list(varargs) or [1.0]
    if len(spacing) == 1:
        spacing = spacing * len(axes)
    if len(spacing) != len(axes) or any(np.ndim(_value(d)) != 0 for d in spacing):
        raise UnsupportedOpError(f"{name} with coordinate arrays or mismatched spacings is not supported; "
                                 f"give one number per axis")
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    out = []
    for ax, dx in zip(axes, spacing):
        n = np.shape(f)[ax]
        if n < edge_order + 1:
            raise ValueError("Shape of array too small to calculate a numerical gradient, at least "
                             "(edge_order + 1) elements are required.")

        def at(sl: slice, ax: int = ax) -> tuple[slice, ...]:
            return tuple(sl if i == ax else slice(None) for i in range(ndim))
        inner = (f[at(slice(2, None))] - f[at(slice(None, -2))]) / (2.0 * dx)
        if edge_order == 1:
            first = (f[at(slice(1, 2))] - f[at(slice(0, 1))]) / dx
            last = (f[at(slice(-1, None))] - f[at(slice(-2, -1))]) / dx
        else:
            first = (-1.5 / dx) * f[at(slice(0, 1))] + (2.0 / dx) * f[at(slice(1, 2))] + (-0.5 / dx) * f[at(slice(2, 3))]
            last = (0.5 / dx) * f[at(slice(-3, -2))] + (-2.0 / dx) * f[at(slice(-2, -1))] + (1.5 / dx) * f[at(slice(-1, None))]
        out.append(np.concatenate([first, inner, last], axis=ax))
    return out[0] if len(out) == 1 else tuple(out)
