"""Weighted means and covariances: np.average, np.cov, np.corrcoef, as NumPy computes them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import UnsupportedOpError
from ._registry import _traced, _value, _composed, _axes, _ndim


@_composed(np.average, framed=True)
def _average(name: str, a: Any, axis: Any, weights: Any, returned: Any, keepdims: Any) -> Any:
    """``Σ a w / Σ w`` over ``axis`` (``weights`` may be traced); without weights, the mean."""
    keepdims = bool(keepdims)
    if isinstance(axis, list):
        axis = tuple(axis)
    if weights is None:
        avg = np.mean(a, axis=axis, keepdims=keepdims)
        scale = np.asarray(np.size(_value(a)) / max(np.size(_value(avg)), 1), dtype=_value(avg).dtype)
    else:
        shape, wshape = np.shape(a), np.shape(weights)
        result = np.result_type(_value(a), _value(weights), *(["f8"] if _value(a).dtype.kind in "biu" else []))
        if shape != wshape:  # weights along the axes reduced, as NumPy lays them out
            if axis is None:
                raise TypeError(f"{name}: axis must be specified when shapes of a and weights differ.")
            axes = _axes(axis, len(shape), name, given=True)
            if wshape != tuple(shape[x] for x in axes):
                raise ValueError(f"{name}: shape of weights must be consistent with shape of a along specified "
                                 f"axis.")
            if list(axes) != sorted(axes):
                weights = np.transpose(weights, tuple(np.argsort(axes)))
            weights = np.reshape(weights, tuple(n if i in axes else 1 for i, n in enumerate(shape)))
        scale = np.sum(weights, axis=axis, keepdims=keepdims)
        if _value(scale).dtype != result:
            scale = scale.astype(result) if _traced(scale) else np.asarray(scale, dtype=result)
        if np.any(_value(scale) == 0):
            raise ZeroDivisionError(f"{name}: weights sum to zero, can't be normalized")
        product = a * weights
        if _value(product).dtype != result:
            product = product.astype(result) if _traced(product) else np.asarray(product, dtype=result)
        avg = np.sum(product, axis=axis, keepdims=keepdims) / scale
    if not returned:
        return avg
    if np.shape(scale) != np.shape(avg):
        scale = np.broadcast_to(scale, np.shape(avg))
    return avg, scale


@_composed(np.cov, refuse=("dtype",), framed=True)
def _cov(name: str, m: Any, y: Any, rowvar: Any, bias: Any, ddof: Any, fweights: Any, aweights: Any,
         dtype: Any = None) -> Any:
    """The covariance of the rows (variables) of ``m`` (and ``y``), as NumPy's cov computes it (in
    float64, or wider); frequency and importance weights as numbers."""
    if ddof is not None and ddof != int(ddof):
        raise ValueError(f"{name}: ddof must be integer")
    if _ndim(m) > 2 or (y is not None and _ndim(y) > 2):
        raise ValueError(f"{name}: {'m' if _ndim(m) > 2 else 'y'} has more than 2 dimensions")
    if _traced(fweights) or _traced(aweights):
        raise UnsupportedOpError(f"{name} with traced fweights or aweights is not supported: give them as numbers")
    x = _as_float64(_at_least_2d(m))
    if not rowvar and _ndim(m) != 1:
        x = np.transpose(x)
    if np.shape(x)[0] == 0:
        return np.array([]).reshape(0, 0)
    if y is not None:
        y = _as_float64(_at_least_2d(y))
        if not rowvar and np.shape(y)[0] != 1:
            y = np.transpose(y)
        x = np.concatenate((x, y), axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    w = _cov_weights(np.shape(x)[1], fweights, aweights)
    avg, w_sum = np.average(x, axis=1, weights=w, returned=True)
    w_sum = _value(w_sum)[0]
    if w is None:
        fact = np.shape(x)[1] - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * sum(w * np.asarray(aweights, dtype=float)) / w_sum
    if fact <= 0:
        import warnings

        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=3)
        fact = 0.0
    x = x - avg[:, None]
    c = (x @ np.transpose(x if w is None else x * w)) * np.true_divide(1, fact)
    return np.squeeze(c) if 1 in np.shape(c) else c


def _cov_weights(n: int, fweights: Any, aweights: Any) -> np.ndarray | None:
    """NumPy's cov's weights: the frequencies times the importances, checked as NumPy checks them."""
    w = None
    for what, given in (("fweights", fweights), ("aweights", aweights)):
        if given is None:
            continue
        v = np.asarray(given, dtype=float)
        if what == "fweights" and not np.all(v == np.around(v)):
            raise TypeError("fweights must be integer")
        if v.ndim > 1:
            raise RuntimeError(f"cannot handle multidimensional {what}")
        if v.shape[0] != n:
            raise RuntimeError(f"incompatible numbers of samples and {what}")
        if any(v < 0):
            raise ValueError(f"{what} cannot be negative")
        w = v if w is None else w * v
    return w


def _as_float64(a: Any) -> Any:
    dtype = np.result_type(_value(a), np.float64)
    return a.astype(dtype) if _value(a).dtype != dtype else a


def _at_least_2d(a: Any) -> Any:
    shape = np.shape(a)
    return np.reshape(a, (1,) * (2 - len(shape)) + tuple(shape)) if len(shape) < 2 else a


@_composed(np.corrcoef, refuse=("dtype",), framed=True)
def _corrcoef(name: str, x: Any, y: Any, rowvar: Any, bias: Any = None, ddof: Any = None, dtype: Any = None) -> Any:
    c = np.cov(x, y, rowvar)
    if _ndim(c) == 0:
        return c / c
    stddev = np.sqrt(np.diagonal(c))
    c = c / stddev[:, None]
    c = c / stddev[None, :]
    return np.clip(c, -1, 1)
