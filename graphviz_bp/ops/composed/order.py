"""Order statistics: np.median, np.percentile, np.quantile and their nan-forms (a sort, the entries at
the quantiles and NumPy's interpolation between them), np.partition, np.ptp."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import UnsupportedOpError
from ._registry import _traced, _value, _composed, _ndim, _missing, _along_last, _keep


def _nan_slices(a: Any, axis: int = -1) -> np.ndarray | None:
    """Where a slice along ``axis`` holds a NaN (NumPy's quantiles are NaN there), or None."""
    missing = _missing(a)
    return None if missing is None else np.any(missing, axis=axis)


@_composed(np.median, refuse=("out",), framed=True)
def _median(name: str, a: Any, axis: Any, out: Any, overwrite_input: Any, keepdims: Any) -> Any:
    """The mean of the middle one or two of the sorted entries, as NumPy takes it."""
    flat, axes, _ = _along_last(name, a, axis)
    n = np.shape(flat)[-1]
    if n == 0:
        result = np.mean(flat, axis=-1)  # NaN, with NumPy's warning
    else:
        half = n // 2
        result = np.mean(np.sort(flat, axis=-1)[..., half - 1 + n % 2:half + 1], axis=-1)
        nan = _nan_slices(flat)
        if nan is not None:
            result = np.where(nan, np.nan, result)
    return _keep(result, _ndim(a), axes) if keepdims else result


_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def _quantile(name: str, a: Any, q: Any, axis: Any, method: Any, keepdims: Any, percent: bool,
              skip_nan: bool = False) -> Any:
    """NumPy's quantiles of ``a`` at ``q`` (``percent``: in percent), from its sorted entries, with
    NumPy's interpolation; ``skip_nan``: of each slice's entries that are not NaN (nanquantile)."""
    if method not in _METHODS:
        raise UnsupportedOpError(f"{name}(..., method={method!r}) is not supported; graphviz_bp supports "
                                 f"{', '.join(repr(m) for m in _METHODS)}")
    weak = type(q) in (int, float)  # NumPy's weak promotion: a Python number keeps float32 float32
    qs = np.true_divide(q, 100) if percent else q if _traced(q) else np.asanyarray(q)  # (a traced q: its gradient too)
    if _value(qs).dtype.kind not in "biuf" or not (np.all(0 <= _value(qs)) and np.all(_value(qs) <= 1)):
        raise ValueError(f"{name}: percentiles must be in the range [0, 100]" if percent else
                         f"{name}: quantiles must be in the range [0, 1]")
    flat, axes, kept = _along_last(name, a, axis)
    n = np.shape(flat)[-1]
    if n == 0:  # no entries: NumPy's error, and NaN where it skips NaNs (the mean of nothing)
        if skip_nan:
            return np.nanmean(a, axis=axis, keepdims=bool(keepdims))
        raise IndexError("index -1 is out of bounds for axis 0 with size 0")
    s = np.sort(flat, axis=-1)  # NaNs last
    missing = _missing(flat)
    if skip_nan and missing is not None:
        result = _slice_quantiles(s, np.sum(~missing, axis=-1), qs, kept, method, weak)
    else:
        result = _quantiles(s, n, qs, kept, method, weak)
        nan = np.any(missing, axis=-1) if missing is not None else None
        if nan is not None:  # a NaN in a slice: its quantiles are NaN, as NumPy's
            result = np.where(nan, np.nan, result)
    if keepdims:
        return _keep(result, _ndim(a), axes, extra=qs.ndim)
    return result


def _virtual(counts: Any, qs: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Where each quantile falls among ``counts`` sorted entries: (the entry, for the methods that
    take one; the entry below and the weight of the one above, for the others) as NumPy finds them."""
    virtual = (counts - 1) * qs
    if method in ("lower", "higher", "nearest"):
        return (np.floor if method == "lower" else np.ceil if method == "higher" else np.around)(virtual), None
    if method == "midpoint":
        virtual = 0.5 * (np.floor(virtual) + np.ceil(virtual))
    below = np.floor(virtual)
    gamma = virtual - below
    if method == "midpoint":
        gamma = np.where(gamma == 0, 0.0, 0.5)
    return below, gamma


def _lerp(previous: Any, after: Any, t: Any) -> Any:
    """NumPy's interpolation: from the nearer end (only the branch every entry takes, when one does)."""
    difference = after - previous
    near = np.asarray(_value(t)) >= 0.5
    if near.all():
        return after - difference * (1 - t)
    if not near.any():
        return previous + difference * t
    return np.where(near, after - difference * (1 - t), previous + difference * t)


def _quantiles(s: Any, n: int, qs: np.ndarray, kept: tuple[int, ...], method: str, weak: bool) -> Any:
    """The quantiles ``qs`` of the sorted last axis of ``s`` (``n`` entries each): ``qs.shape + kept``."""
    if kept:
        s = np.moveaxis(s, -1, 0)  # the sorted entries along the first axis
    below, gamma = _virtual(n, qs, method)
    if gamma is None:
        return s[np.clip(below.astype(np.intp), 0, n - 1)]
    below = below.astype(np.intp)
    previous, after = s[np.clip(below, 0, n - 1)], s[np.clip(below + 1, 0, n - 1)]
    t = float(gamma) if weak else np.reshape(gamma, np.shape(qs) + (1,) * len(kept))
    return _lerp(previous, after, t)


def _slice_quantiles(s: Any, counts: np.ndarray, qs: np.ndarray, kept: tuple[int, ...], method: str,
                     weak: bool) -> Any:
    """The quantiles ``qs`` of each slice of the sorted last axis of ``s`` among its first ``counts``
    entries (the others NaN, sorted last); NaN where a slice has none: ``qs.shape + kept``."""
    counts_q = np.broadcast_to(counts, qs.shape + counts.shape)
    below, gamma = _virtual(counts_q, np.reshape(qs, qs.shape + (1,) * counts.ndim), method)
    top = np.maximum(counts_q - 1, 0)
    if gamma is None:
        result = _gather(s, np.clip(below.astype(np.intp), 0, top), qs.shape)
    else:
        below = below.astype(np.intp)
        if weak:  # one Python number q: the weights in the entries' own type, as NumPy's weak promotion
            gamma = gamma.astype(_value(s).dtype, copy=False)
        result = _lerp(_gather(s, np.clip(below, 0, top), qs.shape), _gather(s, np.clip(below + 1, 0, top), qs.shape),
                       gamma)
    return np.where(counts_q == 0, np.nan, result) if not counts.all() else result


def _gather(s: Any, index: np.ndarray, qshape: tuple[int, ...]) -> Any:
    """``s[..., index]`` slice by slice: ``index`` is ``qshape + kept`` (one entry per quantile and slice)."""
    kept = index.shape[len(qshape):]
    flat = np.moveaxis(np.reshape(index, (-1,) + kept), 0, -1)  # kept + (quantiles,)
    got = np.take_along_axis(s, flat, axis=-1)
    if kept:
        got = np.moveaxis(got, -1, 0)
    return np.reshape(got, qshape + kept)


@_composed(np.percentile, refuse=("out", "weights", "interpolation"), framed=True)
def _percentile(name: str, a: Any, q: Any, axis: Any, out: Any, overwrite_input: Any, method: Any,
                keepdims: Any, weights: Any = None, interpolation: Any = None) -> Any:
    return _quantile(name, a, q, axis, method, keepdims, True)


@_composed(np.quantile, refuse=("out", "weights", "interpolation"), framed=True)
def _quantile_of(name: str, a: Any, q: Any, axis: Any, out: Any, overwrite_input: Any, method: Any,
                 keepdims: Any, weights: Any = None, interpolation: Any = None) -> Any:
    return _quantile(name, a, q, axis, method, keepdims, False)


@_composed(np.nanpercentile, refuse=("out", "weights", "interpolation"), framed=True)
def _nanpercentile(name: str, a: Any, q: Any, axis: Any, out: Any, overwrite_input: Any, method: Any,
                   keepdims: Any, weights: Any = None, interpolation: Any = None) -> Any:
    return _quantile(name, a, q, axis, method, keepdims, True, skip_nan=True)


@_composed(np.nanquantile, refuse=("out", "weights", "interpolation"), framed=True)
def _nanquantile(name: str, a: Any, q: Any, axis: Any, out: Any, overwrite_input: Any, method: Any,
                 keepdims: Any, weights: Any = None, interpolation: Any = None) -> Any:
    return _quantile(name, a, q, axis, method, keepdims, False, skip_nan=True)


@_composed(np.nanmedian, refuse=("out",), framed=True)
def _nanmedian(name: str, a: Any, axis: Any, out: Any, overwrite_input: Any, keepdims: Any) -> Any:
    """The median of each slice's entries that are not NaN (NaN for a slice of NaNs)."""
    flat, axes, _ = _along_last(name, a, axis)
    missing = _missing(flat)
    if missing is None:
        return np.median(a, axis=axis, keepdims=bool(keepdims))
    counts = np.sum(~missing, axis=-1)
    s = np.sort(flat, axis=-1)
    top = np.maximum(counts - 1, 0)
    low = np.take_along_axis(s, np.clip((counts - 1) // 2, 0, top)[..., None], axis=-1)
    high = np.take_along_axis(s, np.clip(counts // 2, 0, top)[..., None], axis=-1)
    result = np.mean(np.concatenate([low, high], axis=-1), axis=-1)
    if not counts.all():
        result = np.where(counts == 0, np.nan, result)
    return _keep(result, _ndim(a), axes) if keepdims else result


@_composed(np.partition, refuse=("order",))
def _partition(name: str, a: Any, kth: Any, axis: Any, kind: Any, order: Any) -> Any:
    """The entries in the order NumPy's partition puts them: each entry of ``np.partition`` of the
    values is read from the entry of the same rank (ties and NaNs: in order)."""
    if axis is None:
        a, axis = np.ravel(a), 0
    values = _value(a)
    target = np.partition(values, kth, axis=axis, kind=kind)
    rank = np.argsort(np.argsort(target, axis=axis, kind="stable"), axis=axis, kind="stable")
    index = np.take_along_axis(np.argsort(values, axis=axis, kind="stable"), rank, axis=axis)
    return np.take_along_axis(a, index, axis=axis)


@_composed(np.ptp, refuse=("out",), framed=True)
def _ptp(name: str, a: Any, axis: Any, out: Any, keepdims: Any) -> Any:
    return np.max(a, axis=axis, keepdims=bool(keepdims)) - np.min(a, axis=axis, keepdims=bool(keepdims))
