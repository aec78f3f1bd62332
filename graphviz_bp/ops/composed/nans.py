"""Reductions and scans that skip NaNs (np.nansum, np.nanvar, np.nancumsum, ...): the plain function
of the array with its NaNs replaced, the NaNs getting no gradient; and NumPy 2's cumulative_sum and
cumulative_prod."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._registry import _value, _composed, _since, _axis, _ndim, _missing


def _nan_reduction(reduce: Callable[..., Any], fill: float, empty_nan: bool = True,
                   by_count: bool = False) -> Callable[..., Any]:
    def composed(name: str, a: Any, axis: Any = None, keepdims: Any = None, **_: Any) -> Any:
        """The reduction of ``a`` with its NaNs replaced (by what leaves it unchanged: 0 for a sum,
        ∓∞ for a maximum or minimum); a mean (``by_count``) divided by the entries that are not NaN;
        the maximum of a slice of NaNs NaN (``empty_nan``), as NumPy gives. The NaNs get no gradient."""
        keepdims = bool(keepdims)
        missing = _missing(a)
        if missing is None:
            return reduce(a, axis=axis, keepdims=keepdims)
        kept = np.where(missing, fill, a)
        if by_count:  # (a flag, not a comparison with np.mean: a user's code may wrap np.mean)
            return _by_count(np.sum(kept, axis=axis, keepdims=keepdims), np.sum(~missing, axis=axis, keepdims=keepdims))
        out = reduce(kept, axis=axis, keepdims=keepdims)
        empty = np.all(missing, axis=axis, keepdims=keepdims)  # a slice of NaNs only: NaN, as NumPy gives
        return np.where(empty, np.nan, out) if empty_nan and np.any(empty) else out
    return composed


_NAN_REFUSED = ("dtype", "out", "initial", "where")


def _by_count(total: Any, count: Any) -> Any:
    """``total / count`` as NumPy's nan-functions divide by a count of entries: in float64, then
    back in the total's own type (float32 stays float32)."""
    dtype = _value(total).dtype
    if dtype == np.float64 or dtype.kind != "f":
        return total / count
    return (total.astype(np.float64) / count).astype(dtype)


_composed(np.nansum, refuse=_NAN_REFUSED)(_nan_reduction(np.sum, 0.0, empty_nan=False))


_composed(np.nanmean, refuse=_NAN_REFUSED)(_nan_reduction(np.mean, 0.0, by_count=True))


_composed(np.nanmax, refuse=_NAN_REFUSED)(_nan_reduction(np.max, -np.inf))


_composed(np.nanmin, refuse=_NAN_REFUSED)(_nan_reduction(np.min, np.inf))


def _nan_scan(scan: Callable[..., Any], fill: float) -> Callable[..., Any]:
    def composed(name: str, a: Any, axis: Any = None, **_: Any) -> Any:
        """The scan of ``a`` with its NaNs replaced by ``fill`` (0 for a sum, 1 for a product)."""
        missing = _missing(a)
        return scan(a if missing is None else np.where(missing, fill, a), axis=axis)
    return composed


_composed(np.nancumsum, refuse=("dtype", "out"))(_nan_scan(np.cumsum, 0.0))


_composed(np.nancumprod, refuse=("dtype", "out"))(_nan_scan(np.cumprod, 1.0))


@_composed(np.nanprod, refuse=_NAN_REFUSED)
def _nanprod(name: str, a: Any, axis: Any, dtype: Any, out: Any, keepdims: Any, initial: Any, where: Any) -> Any:
    missing = _missing(a)
    return np.prod(a if missing is None else np.where(missing, 1.0, a), axis=axis, keepdims=bool(keepdims))


def _nanvar(name: str, a: Any, axis: Any, ddof: Any, keepdims: Any) -> Any:
    """The variance of each slice's entries that are not NaN, as NumPy's nanvar computes it: their
    mean, then the mean square of the deviations, divided by the count less ``ddof``."""
    keepdims = bool(keepdims)
    missing = _missing(a)
    if missing is None:
        return np.var(a, axis=axis, ddof=ddof, keepdims=keepdims)
    kept = np.where(missing, 0.0, a)
    counts = np.sum(~missing, axis=axis, keepdims=True)
    deviation = np.where(missing, 0.0, kept - _by_count(np.sum(kept, axis=axis, keepdims=True), counts))
    variance = np.sum(deviation * deviation, axis=axis, keepdims=keepdims)
    dof = (counts if keepdims else np.sum(~missing, axis=axis)) - ddof
    if np.any(dof <= 0):
        import warnings

        warnings.warn("Degrees of freedom <= 0 for slice.", RuntimeWarning, stacklevel=4)
        return np.where(dof <= 0, np.nan, _by_count(variance, np.where(dof <= 0, 1, dof)))
    return _by_count(variance, dof)


_NAN_MOMENTS = ("dtype", "out", "where", "mean", "correction")


@_composed(np.nanvar, refuse=_NAN_MOMENTS, framed=True)
def _nan_variance(name: str, a: Any, axis: Any, dtype: Any, out: Any, ddof: Any, keepdims: Any, **_: Any) -> Any:
    return _nanvar(name, a, axis, ddof, keepdims)


@_composed(np.nanstd, refuse=_NAN_MOMENTS, framed=True)
def _nan_deviation(name: str, a: Any, axis: Any, dtype: Any, out: Any, ddof: Any, keepdims: Any, **_: Any) -> Any:
    return np.sqrt(_nanvar(name, a, axis, ddof, keepdims))


def _cumulative(scan: Callable[..., Any], identity: float) -> Callable[..., Any]:
    def composed(name: str, x: Any, axis: Any, dtype: Any, out: Any, include_initial: Any) -> Any:
        """NumPy 2's cumulative_sum and cumulative_prod: the scan, after the identity when asked."""
        if _ndim(x) == 0:
            x = np.reshape(x, (1,))
        if axis is None:
            if _ndim(x) >= 2:
                raise ValueError(f"{name}: for arrays which have more than one dimension ``axis`` argument "
                                 f"is required.")
            axis = 0
        result = scan(x, axis=axis)
        if not include_initial:
            return result
        shape = list(np.shape(result))
        shape[_axis(axis, len(shape), name)] = 1
        return np.concatenate([np.full(shape, identity, dtype=_value(result).dtype), result], axis=axis)
    return composed


_composed(_since("cumulative_sum"), refuse=("dtype", "out"))(_cumulative(np.cumsum, 0))


_composed(_since("cumulative_prod"), refuse=("dtype", "out"))(_cumulative(np.cumprod, 1))
