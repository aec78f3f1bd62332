"""NumPy functions recorded as the primitives they are made of: ``np.median`` is a sort, a slice and
a mean; ``np.cov`` a mean, a subtraction and a product; ``np.nansum`` a ``where`` and a sum. They
have no VJP rule or formula of their own (their parts have), and each computes what NumPy computes,
in NumPy's order of operations (the same numbers, to the last bit where NumPy's own code is written
in NumPy). Each binds NumPy's signature and refuses by name the keywords it does not handle.

What a function decides from the values (where the NaNs are, the order ``np.partition`` puts the
entries in) is read from them and enters the graph as a constant, as ``np.argmax`` does.
The tracer hands a call to ``COMPOSED[func]`` when one of its arguments is traced; the functions
call NumPy on the traced values, which records their parts.
"""

from __future__ import annotations

import inspect
import math
import operator
from typing import Any, Callable

import numpy as np

from ..errors import UnsupportedOpError

__all__ = ["COMPOSED"]

COMPOSED: dict[Callable[..., Any], Callable[..., Any]] = {}
#: The ones whose several ops a drawing frames as one group, titled with the function's name (those
#: that record one op or two, a transpose or a where, are drawn as those ops); filled at the end.
FRAMED: frozenset[Callable[..., Any]] = frozenset()


def _traced(a: Any) -> bool:
    """Whether ``a`` is a traced value (it has the ``value`` it stands for; an array has none)."""
    return hasattr(type(a), "value") and not isinstance(a, np.ndarray)


def _value(a: Any) -> np.ndarray:
    """The array ``a`` stands for: a traced value's (its ``value``), else ``a`` itself as an array."""
    return a.value if _traced(a) else np.asarray(a)


def _name(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", "") or ""
    return f"np.linalg.{func.__name__}" if module.startswith("numpy.linalg") else f"np.{func.__name__}"


def _composed(*funcs: Callable[..., Any], refuse: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Any]:
    """Register the decorated function for each of ``funcs`` (NumPy's callables that exist in this
    NumPy): called with NumPy's arguments bound by NumPy's own signature (its errors as NumPy's, named),
    each argument in ``refuse`` refused by name when given other than its default."""
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for func in funcs:
            if func is not None:  # (None: not in this NumPy, e.g. np.linalg.vector_norm before 2.0)
                COMPOSED[func] = _bound(func, fn, refuse)
        return fn
    return register


def _since(name: str) -> Callable[..., Any] | None:
    """NumPy's function ``np.name`` (``linalg.name``), or None where this NumPy has none."""
    space, _, leaf = name.rpartition(".")
    return getattr(np.linalg if space == "linalg" else np, leaf, None)


def _bound(func: Callable[..., Any], fn: Callable[..., Any], refuse: tuple[str, ...]) -> Callable[..., Any]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without one in this NumPy: the parameters fn takes
        own = inspect.signature(fn)
        signature = own.replace(parameters=list(own.parameters.values())[1:])
    name = _name(func)

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}: {exc}") from None
        for key in refuse:
            if key in bound.arguments and not _default(bound.arguments[key], signature.parameters[key].default):
                raise UnsupportedOpError(f"{name}(..., {key}=...) is not supported")
        bound.apply_defaults()
        given = {k: (None if v is np._NoValue else v) for k, v in bound.arguments.items()}
        return fn(name, **given)
    call.__name__ = func.__name__
    return call


def _default(value: Any, default: Any) -> bool:
    if value is default or value is None or value is np._NoValue:
        return True
    return isinstance(value, (bool, int, float, str)) and type(value) is type(default) and value == default


def _axis(axis: Any, ndim: int, name: str) -> int:
    try:
        return operator.index(axis) % ndim if -ndim <= operator.index(axis) < ndim else _out_of_range(axis, ndim)
    except TypeError:
        raise TypeError(f"{name}: an axis must be an integer, got {axis!r}") from None


def _out_of_range(axis: Any, ndim: int) -> int:
    raise np.exceptions.AxisError(axis, ndim)


def _axes(axis: Any, ndim: int, name: str) -> tuple[int, ...]:
    """``axis`` (None: all; an int; a tuple) as sorted non-negative axes, each once."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(_axis(a, ndim, name) for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: repeated axis")
    return tuple(sorted(axes))


def _ndim(a: Any) -> int:
    return len(np.shape(a))


# --- reductions that skip NaNs ---------------------------------------------------------------------

def _nan_reduction(reduce: Callable[..., Any], fill: float) -> Callable[..., Any]:
    def composed(name: str, a: Any, axis: Any = None, keepdims: Any = None, **_: Any) -> Any:
        """The reduction of ``a`` with its NaNs replaced (by what leaves it unchanged: 0 for a sum,
        ∓∞ for a maximum or minimum); a mean divided by the entries that are not NaN; the maximum of
        a slice of NaNs NaN, as NumPy gives. The NaNs get no gradient."""
        keepdims = bool(keepdims)
        missing = np.isnan(_value(a))
        if not missing.any():
            return reduce(a, axis=axis, keepdims=keepdims)
        kept = np.where(missing, fill, a)
        if name == "np.nanmean":
            return _by_count(np.sum(kept, axis=axis, keepdims=keepdims), np.sum(~missing, axis=axis, keepdims=keepdims))
        out = reduce(kept, axis=axis, keepdims=keepdims)
        empty = np.all(missing, axis=axis, keepdims=keepdims)  # a slice of NaNs only: NaN, as NumPy gives
        return np.where(empty, np.nan, out) if name != "np.nansum" and np.any(empty) else out
    return composed


_NAN_REFUSED = ("dtype", "out", "initial", "where")


def _by_count(total: Any, count: Any) -> Any:
    """``total / count`` as NumPy's nan-functions divide by a count of entries: in float64, then
    back in the total's own type (float32 stays float32)."""
    dtype = _value(total).dtype
    if dtype == np.float64 or dtype.kind != "f":
        return total / count
    return (total.astype(np.float64) / count).astype(dtype)
_composed(np.nansum, refuse=_NAN_REFUSED)(_nan_reduction(np.sum, 0.0))
_composed(np.nanmean, refuse=_NAN_REFUSED)(_nan_reduction(np.mean, 0.0))
_composed(np.nanmax, refuse=_NAN_REFUSED)(_nan_reduction(np.max, -np.inf))
_composed(np.nanmin, refuse=_NAN_REFUSED)(_nan_reduction(np.min, np.inf))


def _nan_scan(scan: Callable[..., Any], fill: float) -> Callable[..., Any]:
    def composed(name: str, a: Any, axis: Any = None, **_: Any) -> Any:
        """The scan of ``a`` with its NaNs replaced by ``fill`` (0 for a sum, 1 for a product)."""
        missing = np.isnan(_value(a)) if _value(a).dtype.kind in "fc" else None
        return scan(a if missing is None or not missing.any() else np.where(missing, fill, a), axis=axis)
    return composed


_composed(np.nancumsum, refuse=("dtype", "out"))(_nan_scan(np.cumsum, 0.0))
_composed(np.nancumprod, refuse=("dtype", "out"))(_nan_scan(np.cumprod, 1.0))


@_composed(np.nanprod, refuse=_NAN_REFUSED)
def _nanprod(name: str, a: Any, axis: Any, dtype: Any, out: Any, keepdims: Any, initial: Any, where: Any) -> Any:
    missing = np.isnan(_value(a)) if _value(a).dtype.kind in "fc" else None
    return np.prod(a if missing is None or not missing.any() else np.where(missing, 1.0, a), axis=axis,
                   keepdims=bool(keepdims))


def _nanvar(name: str, a: Any, axis: Any, ddof: Any, keepdims: Any) -> Any:
    """The variance of each slice's entries that are not NaN, as NumPy's nanvar computes it: their
    mean, then the mean square of the deviations, divided by the count less ``ddof``."""
    keepdims = bool(keepdims)
    missing = np.isnan(_value(a)) if _value(a).dtype.kind in "fc" else None
    if missing is None or not missing.any():
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


@_composed(np.nanvar, refuse=_NAN_MOMENTS)
def _nan_variance(name: str, a: Any, axis: Any, dtype: Any, out: Any, ddof: Any, keepdims: Any, **_: Any) -> Any:
    return _nanvar(name, a, axis, ddof, keepdims)


@_composed(np.nanstd, refuse=_NAN_MOMENTS)
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


# --- order statistics --------------------------------------------------------------------------------

def _along_last(name: str, a: Any, axis: Any) -> tuple[Any, tuple[int, ...], tuple[int, ...]]:
    """``a`` with the axes ``axis`` reduces moved to the end and merged into one (``a`` flattened
    for None), the reduced axes, and the shape of what is kept."""
    ndim = _ndim(a)
    if ndim == 0:
        return np.reshape(a, (1,)), (), ()
    axes = _axes(axis, ndim, name)
    shape = np.shape(a)
    rest = tuple(i for i in range(ndim) if i not in axes)
    kept = tuple(shape[i] for i in rest)
    if axes != tuple(range(ndim - len(axes), ndim)):
        a = np.transpose(a, rest + axes)
    merged = kept + (math.prod(shape[i] for i in axes),)
    return (np.reshape(a, merged) if merged != np.shape(a) else a), axes, kept


def _keep(out: Any, ndim: int, axes: tuple[int, ...], extra: int = 0) -> Any:
    """``out`` with the reduced ``axes`` put back as length 1 (``extra`` leading axes: the quantiles')."""
    shape = list(np.shape(out))
    for ax in axes:
        shape.insert(extra + ax, 1)
    return np.reshape(out, tuple(shape))


def _nan_slices(a: Any, axis: int = -1) -> np.ndarray | None:
    """Where a slice along ``axis`` holds a NaN (NumPy's quantiles are NaN there), or None."""
    missing = np.isnan(_value(a)) if _value(a).dtype.kind in "fc" else None
    if missing is None or not missing.any():
        return None
    return np.any(missing, axis=axis)


@_composed(np.median, refuse=("out",))
def _median(name: str, a: Any, axis: Any, out: Any, overwrite_input: Any, keepdims: Any) -> Any:
    """The mean of the middle one or two of the sorted entries, as NumPy takes it."""
    flat, axes, kept = _along_last(name, a, axis)
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
    s = np.sort(flat, axis=-1)  # NaNs last
    values = _value(flat)
    missing = np.isnan(values) if values.dtype.kind in "fc" else None
    if skip_nan and missing is not None and missing.any():
        result = _slice_quantiles(s, np.sum(~missing, axis=-1), qs, kept, method, weak)
    else:
        result = _quantiles(s, n, qs, kept, method, weak)
        nan = np.any(missing, axis=-1) if missing is not None and missing.any() else None
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


@_composed(np.percentile, refuse=("out", "weights", "interpolation"))
def _percentile(name: str, a: Any, q: Any, axis: Any, out: Any, overwrite_input: Any, method: Any,
                keepdims: Any, weights: Any = None, interpolation: Any = None) -> Any:
    return _quantile(name, a, q, axis, method, keepdims, True)


@_composed(np.quantile, refuse=("out", "weights", "interpolation"))
def _quantile_of(name: str, a: Any, q: Any, axis: Any, out: Any, overwrite_input: Any, method: Any,
                 keepdims: Any, weights: Any = None, interpolation: Any = None) -> Any:
    return _quantile(name, a, q, axis, method, keepdims, False)


@_composed(np.nanpercentile, refuse=("out", "weights", "interpolation"))
def _nanpercentile(name: str, a: Any, q: Any, axis: Any, out: Any, overwrite_input: Any, method: Any,
                   keepdims: Any, weights: Any = None, interpolation: Any = None) -> Any:
    return _quantile(name, a, q, axis, method, keepdims, True, skip_nan=True)


@_composed(np.nanquantile, refuse=("out", "weights", "interpolation"))
def _nanquantile(name: str, a: Any, q: Any, axis: Any, out: Any, overwrite_input: Any, method: Any,
                 keepdims: Any, weights: Any = None, interpolation: Any = None) -> Any:
    return _quantile(name, a, q, axis, method, keepdims, False, skip_nan=True)


@_composed(np.nanmedian, refuse=("out",))
def _nanmedian(name: str, a: Any, axis: Any, out: Any, overwrite_input: Any, keepdims: Any) -> Any:
    """The median of each slice's entries that are not NaN (NaN for a slice of NaNs)."""
    flat, axes, kept = _along_last(name, a, axis)
    values = _value(flat)
    missing = np.isnan(values) if values.dtype.kind in "fc" else None
    if missing is None or not missing.any():
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


@_composed(np.ptp, refuse=("out",))
def _ptp(name: str, a: Any, axis: Any, out: Any, keepdims: Any) -> Any:
    return np.max(a, axis=axis, keepdims=bool(keepdims)) - np.min(a, axis=axis, keepdims=bool(keepdims))


# --- means, differences, integrals -----------------------------------------------------------------

@_composed(np.average)
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
            axes = tuple(_axis(x, len(shape), name) for x in (axis if isinstance(axis, (tuple, list)) else (axis,)))
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


@_composed(np.diff)
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
    later = tuple(slice(1, None) if i == axis else slice(None) for i in range(ndim))
    earlier = tuple(slice(None, -1) if i == axis else slice(None) for i in range(ndim))
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
    later = tuple(slice(1, None) if i == axis else slice(None) for i in range(ndim))
    earlier = tuple(slice(None, -1) if i == axis else slice(None) for i in range(ndim))
    return np.sum(d * (y[later] + y[earlier]) / 2.0, axis=axis)


_composed(_since("trapezoid"), _since("trapz"))(_trapezoid)


# --- matrices ------------------------------------------------------------------------------------------

def _triangle(lower: bool) -> Callable[..., Any]:
    def composed(name: str, m: Any, k: Any) -> Any:
        """``m`` with the entries above (below) its ``k``-th diagonal 0, as NumPy writes it: a where."""
        shape = np.shape(m)
        mask = np.tri(*shape[-2:], k=k if lower else k - 1, dtype=bool)
        zero = np.zeros(1, _value(m).dtype)
        return np.where(mask, m, zero) if lower else np.where(mask, zero, m)
    return composed


_composed(np.tril)(_triangle(True))
_composed(np.triu)(_triangle(False))


@_composed(np.kron)
def _kron(name: str, a: Any, b: Any) -> Any:
    """Every product ``a[i] b[j]``, laid out as NumPy's kron lays them out."""
    nda, ndb = _ndim(a), _ndim(b)
    if nda == 0 or ndb == 0:
        return np.multiply(a, b)
    nd = max(nda, ndb)
    sa = (1,) * (nd - nda) + tuple(np.shape(a))
    sb = (1,) * (nd - ndb) + tuple(np.shape(b))
    left = np.reshape(a, tuple(x for n in sa for x in (n, 1)))
    right = np.reshape(b, tuple(x for n in sb for x in (1, n)))
    return np.reshape(left * right, tuple(i * j for i, j in zip(sa, sb)))


@_composed(np.cov, refuse=("dtype",))
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


@_composed(np.corrcoef, refuse=("dtype",))
def _corrcoef(name: str, x: Any, y: Any, rowvar: Any, bias: Any = None, ddof: Any = None, dtype: Any = None) -> Any:
    c = np.cov(x, y, rowvar)
    if _ndim(c) == 0:
        return c / c
    stddev = np.sqrt(np.diagonal(c))
    c = c / stddev[:, None]
    c = c / stddev[None, :]
    return np.clip(c, -1, 1)


@_composed(np.linalg.matrix_power)
def _matrix_power(name: str, a: Any, n: Any) -> Any:
    """``a`` multiplied by itself ``n`` times, by NumPy's squarings (``n < 0``: of its inverse)."""
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name}: exponent must be an integer") from None
    shape = np.shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    if n == 0:
        return np.broadcast_to(np.eye(shape[-1], dtype=_value(a).dtype), shape).copy()  # no gradient
    if n < 0:
        a, n = np.linalg.inv(a), -n
    if n == 1:
        return a
    if n == 2:
        return a @ a
    if n == 3:
        return (a @ a) @ a
    z = result = None
    while n > 0:
        z = a if z is None else z @ z
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else result @ z
    return result


@_composed(np.linalg.multi_dot, refuse=("out",))
def _multi_dot(name: str, arrays: Any, out: Any = None) -> Any:
    """The product of ``arrays`` in the order NumPy's multi_dot chooses (the cheapest)."""
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError(f"{name}: expecting at least two arrays")
    if len(arrays) == 2:
        return np.dot(arrays[0], arrays[1])
    first, last = _ndim(arrays[0]), _ndim(arrays[-1])
    if first == 1:
        arrays[0] = np.reshape(arrays[0], (1, -1))
    if last == 1:
        arrays[-1] = np.reshape(arrays[-1], (-1, 1))
    for a in arrays:
        if _ndim(a) != 2:
            raise np.linalg.LinAlgError(f"{_ndim(a)}-dimensional array given. Array must be two-dimensional")
    if len(arrays) == 3:
        a, b, c = arrays
        (a0, a1b0), (b1c0, c1) = np.shape(a), np.shape(c)
        result = (a @ b) @ c if a0 * b1c0 * (a1b0 + c1) < a1b0 * c1 * (a0 + b1c0) else a @ (b @ c)
    else:
        result = _chain(arrays, _chain_order(arrays), 0, len(arrays) - 1)
    if first == 1 and last == 1:
        return result[0, 0]
    return np.ravel(result) if first == 1 or last == 1 else result


def _chain_order(arrays: list[Any]) -> np.ndarray:
    """Where to split each run of the chain (NumPy's dynamic programme, ties to the first split)."""
    n = len(arrays)
    p = [np.shape(a)[0] for a in arrays] + [np.shape(arrays[-1])[1]]
    cost = np.zeros((n, n), dtype=np.double)
    split = np.empty((n, n), dtype=np.intp)
    for span in range(1, n):
        for i in range(n - span):
            j = i + span
            cost[i, j] = np.inf
            for k in range(i, j):
                c = cost[i, k] + cost[k + 1, j] + p[i] * p[k + 1] * p[j + 1]
                if c < cost[i, j]:
                    cost[i, j] = c
                    split[i, j] = k
    return split


def _chain(arrays: list[Any], split: np.ndarray, i: int, j: int) -> Any:
    if i == j:
        return arrays[i]
    k = int(split[i, j])
    return _chain(arrays, split, i, k) @ _chain(arrays, split, k + 1, j)


@_composed(np.polyval)
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


@_composed(np.sinc)
def _sinc(name: str, x: Any) -> Any:
    """``sin(πx) / (πx)``, with NumPy's stand-in for 0 (where its gradient is 0)."""
    y = np.pi * np.where(_value(x) == 0, 1.0e-20, x)
    return np.sin(y) / y


@_composed(np.cross)
def _cross(name: str, a: Any, b: Any, axisa: Any, axisb: Any, axisc: Any, axis: Any) -> Any:
    if axis is not None:
        axisa = axisb = axisc = axis
    a = np.moveaxis(a, axisa, -1)
    b = np.moveaxis(b, axisb, -1)
    na, nb = np.shape(a)[-1], np.shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"{name}: incompatible dimensions for cross product (dimension must be 2 or 3)")
    if na == 2 or nb == 2:
        raise UnsupportedOpError(f"{name} of 2-element vectors (deprecated by NumPy) is not supported")
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    c = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(c, -1, axisc)


# --- moving and reshaping ---------------------------------------------------------------------------------

@_composed(np.moveaxis)
def _moveaxis(name: str, a: Any, source: Any, destination: Any) -> Any:
    ndim = _ndim(a)
    src = [_axis(s, ndim, name) for s in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [_axis(d, ndim, name) for d in (destination if isinstance(destination, (tuple, list)) else (destination,))]
    for axes, what in ((src, "source"), (dst, "destination")):
        if len(set(axes)) != len(axes):
            raise ValueError(f"repeated axis in `{what}` argument")
    if len(src) != len(dst):
        raise ValueError(f"{name}: `source` and `destination` arguments must have the same number of elements")
    order = [n for n in range(ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return np.transpose(a, order)


@_composed(_since("matrix_transpose"), _since("linalg.matrix_transpose"))
def _matrix_transpose(name: str, x: Any) -> Any:
    if _ndim(x) < 2:
        raise ValueError(f"{name}: input array must be at least 2-dimensional, but it is {_ndim(x)}")
    return np.swapaxes(x, -1, -2)


def _at_least(k: int) -> Callable[..., Any]:
    shapes = {1: {0: (1,)}, 2: {0: (1, 1), 1: (1, -1)}, 3: {0: (1, 1, 1), 1: (1, -1, 1), 2: None}}[k]

    def composed(name: str, arys: Any) -> Any:
        out = []
        for a in arys:
            nd = _ndim(a)
            if nd >= k:
                out.append(a)
            elif k == 3 and nd == 2:
                out.append(np.reshape(a, tuple(np.shape(a)) + (1,)))
            else:
                out.append(np.reshape(a, shapes[nd]))
        return out[0] if len(out) == 1 else tuple(out)
    return composed


_composed(np.atleast_1d)(_at_least(1))
_composed(np.atleast_2d)(_at_least(2))
_composed(np.atleast_3d)(_at_least(3))


@_composed(np.fliplr)
def _fliplr(name: str, m: Any) -> Any:
    if _ndim(m) < 2:
        raise ValueError("Input must be >= 2-d.")
    return np.flip(m, 1)


@_composed(np.flipud)
def _flipud(name: str, m: Any) -> Any:
    if _ndim(m) < 1:
        raise ValueError("Input must be >= 1-d.")
    return np.flip(m, 0)


@_composed(np.rot90)
def _rot90(name: str, m: Any, k: Any, axes: Any) -> Any:
    axes = tuple(axes)
    ndim = _ndim(m)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == ndim:
        raise ValueError("Axes must be different.")
    if not all(-ndim <= ax < ndim for ax in axes):
        raise ValueError(f"Axes={axes} out of range for array of ndim={ndim}.")
    k = operator.index(k) % 4
    if k == 0:
        return m[:]
    if k == 2:
        return np.flip(np.flip(m, axes[0]), axes[1])
    order = list(range(ndim))
    order[axes[0]], order[axes[1]] = order[axes[1]], order[axes[0]]
    return np.transpose(np.flip(m, axes[1]), order) if k == 1 else np.flip(np.transpose(m, order), axes[1])


@_composed(np.append)
def _append(name: str, arr: Any, values: Any, axis: Any) -> Any:
    if axis is None:
        if _ndim(arr) != 1:
            arr = np.ravel(arr)
        values = np.ravel(values)
        axis = _ndim(arr) - 1
    return np.concatenate((arr, values), axis=axis)


@_composed(np.delete)
def _delete(name: str, arr: Any, obj: Any, axis: Any) -> Any:
    """The entries NumPy's delete keeps (found by deleting from their positions): one take."""
    if axis is None:
        arr, axis = np.ravel(arr), 0
    axis = _axis(axis, _ndim(arr), name)
    if _traced(obj):
        obj = _value(obj)
    kept = np.delete(np.arange(np.shape(arr)[axis]), obj)
    return np.take(arr, kept, axis=axis)


@_composed(np.diagflat)
def _diagflat(name: str, v: Any, k: Any) -> Any:
    return np.diag(np.ravel(v), k)


def _split_along(axis: int, least: int) -> Callable[..., Any]:
    def composed(name: str, ary: Any, indices_or_sections: Any) -> Any:
        nd = _ndim(ary)
        if nd < least:
            raise ValueError(f"{name} only works on arrays of {least} or more dimensions")
        return np.split(ary, indices_or_sections, axis=axis if nd > 1 or least > 1 else 0)
    return composed


_composed(np.hsplit)(_split_along(1, 1))
_composed(np.vsplit)(_split_along(0, 2))
_composed(np.dsplit)(_split_along(2, 3))


@_composed(np.select)
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


@_composed(_since("linalg.vector_norm"))
def _vector_norm(name: str, x: Any, axis: Any, keepdims: Any, ord: Any) -> Any:
    if ord not in (2, 2.0):
        raise UnsupportedOpError(f"{name}(..., ord={ord!r}) is not supported; graphviz_bp supports the 2-norm")
    ndim = _ndim(x)
    if axis is None or isinstance(axis, (tuple, list)):
        flat, axes, kept = _along_last(name, x, axis)
        res = np.linalg.norm(flat, axis=-1)
    else:
        axes = (_axis(axis, ndim, name),)
        res = np.linalg.norm(x, axis=axes[0])
    return _keep(res, ndim, axes) if keepdims else res


@_composed(_since("linalg.matrix_norm"))
def _matrix_norm(name: str, x: Any, keepdims: Any, ord: Any) -> Any:
    if ord != "fro":
        raise UnsupportedOpError(f"{name}(..., ord={ord!r}) is not supported; graphviz_bp supports the "
                                 f"Frobenius norm")
    return np.linalg.norm(x, axis=(-2, -1), keepdims=bool(keepdims))


@_composed(_since("linalg.outer"))
def _linalg_outer(name: str, x1: Any, x2: Any) -> Any:
    if _ndim(x1) != 1 or _ndim(x2) != 1:
        raise ValueError(f"{name}: input arrays must be one-dimensional")
    return np.outer(x1, x2)


@_composed(_since("linalg.trace"), refuse=("dtype",))
def _linalg_trace(name: str, x: Any, offset: Any, dtype: Any) -> Any:
    return np.trace(x, offset, axis1=-2, axis2=-1)


@_composed(_since("linalg.diagonal"))
def _linalg_diagonal(name: str, x: Any, offset: Any) -> Any:
    return np.diagonal(x, offset, axis1=-2, axis2=-1)


# --- signals ---------------------------------------------------------------------------------------------

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


@_composed(np.correlate)
def _correlate(name: str, a: Any, v: Any, mode: Any) -> Any:
    return _correlated(name, a, v, mode)


@_composed(np.convolve)
def _convolve(name: str, a: Any, v: Any, mode: Any) -> Any:
    if _ndim(a) > 1 or _ndim(v) > 1:
        raise ValueError(f"{name}: object too deep for desired array")
    a, v = np.reshape(a, (-1,)), np.reshape(v, (-1,))
    if np.shape(v)[0] > np.shape(a)[0]:
        a, v = v, a
    if np.shape(a)[0] == 0 or np.shape(v)[0] == 0:
        raise ValueError(f"{name}: {'a' if np.shape(a)[0] == 0 else 'v'} cannot be empty")
    return _correlated(name, a, v[::-1], mode)


# --- least squares and interpolation --------------------------------------------------------------------

@_composed(np.linalg.lstsq)
def _lstsq(name: str, a: Any, b: Any, rcond: Any) -> Any:
    """``(x, residuals, rank, s)`` as NumPy's lstsq returns them, ``x = pinv(a) b`` with lstsq's cutoff
    for small singular values (LAPACK's solver gets the same numbers up to rounding); ``rank`` is a
    number."""
    if _ndim(a) != 2 or _ndim(b) not in (1, 2):
        raise np.linalg.LinAlgError(f"{name}: a must be two-dimensional and b one- or two-dimensional")
    (m, n), m2 = np.shape(a), np.shape(b)[0]
    if m != m2:
        raise np.linalg.LinAlgError("Incompatible dimensions")
    dtype = np.result_type(_value(a), _value(b), np.float64 if _value(a).dtype.kind in "biu" else _value(a).dtype)
    if rcond is None:
        rcond = np.finfo(dtype).eps * max(n, m)
    x = np.linalg.pinv(a, rcond=rcond) @ b
    s = np.linalg.svd(a, compute_uv=False)
    values = _value(s)
    rank = int(np.count_nonzero(values > rcond * values.max())) if values.size else 0
    if rank == n and m > n:
        r = a @ x - b
        residuals = np.sum(r * r, axis=0)
        if _ndim(b) == 1:
            residuals = np.reshape(residuals, (1,))
    else:
        residuals = np.array([], dtype=dtype)
    return x, residuals, np.int32(rank), s


@_composed(np.interp, refuse=("period",))
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


# --- ufuncs ------------------------------------------------------------------------------------------------

def _composed_ufunc(ufunc: np.ufunc) -> Callable[[Callable[..., Any]], Any]:
    """Register the decorated function for ``ufunc``, called with its inputs (keywords refused)."""
    name = f"np.{ufunc.__name__}"

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*inputs: Any, **kwargs: Any) -> Any:
            if kwargs:
                raise UnsupportedOpError(f"{name}(..., {sorted(kwargs)[0]}=...) is not supported")
            if len(inputs) != ufunc.nin:
                raise TypeError(f"{name}() takes {ufunc.nin} arguments, got {len(inputs)}")
            return fn(name, *inputs)
        call.__name__ = ufunc.__name__
        COMPOSED[ufunc] = call
        return fn
    return register


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


# --- selections and layouts ---------------------------------------------------------------------------------

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


@_composed(np.choose, refuse=("out",))
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


@_composed(np.piecewise)
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


@_composed(np.block)
def _block(name: str, arrays: Any) -> Any:
    """Nested lists of arrays joined as NumPy's block joins them: the innermost lists along the last
    axis, each list out along the axis before."""
    def depth(a: Any) -> int:
        if type(a) is tuple:
            raise TypeError(f"{name}: arrays is a tuple. Only lists can be used to arrange blocks, and np.block "
                            f"does not allow implicit conversion from tuple to ndarray.")
        if type(a) is list:
            if not a:
                raise ValueError(f"{name}: lists cannot be empty")
            depths = {depth(x) for x in a}
            if len(depths) != 1:
                raise ValueError(f"{name}: list depths are mismatched")
            return 1 + depths.pop()
        return 0

    def leaves(a: Any) -> list[Any]:
        return [y for x in a for y in leaves(x)] if type(a) is list else [a]

    levels = depth(arrays)
    ndim = max(levels, max(_ndim(x) for x in leaves(arrays)))

    def join(a: Any, level: int) -> Any:
        if type(a) is not list:
            return np.reshape(a, (1,) * (ndim - _ndim(a)) + tuple(np.shape(a))) if _ndim(a) < ndim else a
        parts = [join(x, level + 1) for x in a]
        return np.concatenate(parts, axis=-(levels - level)) if len(parts) > 1 else parts[0]
    return join(arrays, 0)


@_composed(np.meshgrid)
def _meshgrid(name: str, xi: Any, copy: Any, sparse: Any, indexing: Any) -> Any:
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ndim = len(xi)
    shapes = [(1,) * i + (-1,) + (1,) * (ndim - i - 1) for i in range(ndim)]
    if indexing == "xy" and ndim > 1:
        shapes[0], shapes[1] = (1, -1) + (1,) * (ndim - 2), (-1, 1) + (1,) * (ndim - 2)
    out = [np.reshape(x, s) for x, s in zip(xi, shapes)]
    if not sparse:
        full = np.broadcast_shapes(*[np.shape(o) for o in out])
        out = [np.broadcast_to(o, full) for o in out]
    return tuple(out)


@_composed(np.broadcast_arrays)
def _broadcast_arrays(name: str, args: Any, subok: Any) -> Any:
    shape = np.broadcast_shapes(*[np.shape(a) for a in args])
    return tuple(a if np.shape(a) == shape else np.broadcast_to(a, shape) for a in args)


@_composed(np.insert)
def _insert(name: str, arr: Any, obj: Any, values: Any, axis: Any) -> Any:
    """The entries and the values where NumPy's insert puts them: NumPy inserts numbered markers
    into the entries' positions (so its rules for ``obj`` and for broadcasting ``values`` are its
    own), then each entry of the result is gathered from ``arr`` or from ``values``."""
    if axis is None:
        arr, axis = (np.ravel(arr) if _ndim(arr) != 1 else arr), 0
    ndim = _ndim(arr)
    axis = _axis(axis, ndim, name)
    if _traced(obj):
        obj = _value(obj)
    dtype = _value(arr).dtype
    if _value(values).dtype != dtype:  # NumPy casts the values to the array's type
        values = values.astype(dtype) if _traced(values) else np.asarray(values, dtype=dtype)
    shape = np.shape(arr)
    positions = np.broadcast_to(np.arange(shape[axis]).reshape(tuple(-1 if i == axis else 1 for i in range(ndim))),
                                shape)
    markers = -1 - np.arange(max(np.size(_value(values)), 1)).reshape(np.shape(values) or ())
    where = np.insert(positions, obj, markers, axis=axis)
    from_arr = np.take_along_axis(arr, np.clip(where, 0, None), axis=axis) if shape[axis] else None
    from_values = np.ravel(values)[np.clip(-1 - where, 0, None)]
    if from_arr is None or (where < 0).all():
        return from_values
    return np.where(where >= 0, from_arr, from_values) if (where < 0).any() else from_arr


@_composed(np.ediff1d)
def _ediff1d(name: str, ary: Any, to_end: Any, to_begin: Any) -> Any:
    flat = np.ravel(ary)
    d = flat[1:] - flat[:-1]
    parts = [np.ravel(p) for p in (to_begin,) if p is not None] + [d] + [np.ravel(p) for p in (to_end,) if p is not None]
    return np.concatenate(parts) if len(parts) > 1 else d


@_composed(np.gradient)
def _gradient(name: str, f: Any, varargs: Any, axis: Any, edge_order: Any) -> Any:
    """NumPy's differences: central inside, one-sided (``edge_order`` 1 or 2) at the ends; for
    uniform spacings (numbers) only."""
    ndim = _ndim(f)
    axes = tuple(range(ndim)) if axis is None else tuple(_axis(a, ndim, name) for a in
                                                        (axis if isinstance(axis, (tuple, list)) else (axis,)))
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


@_composed(np.linalg.cond)
def _cond(name: str, x: Any, p: Any) -> Any:
    """The ratio of the largest singular value to the smallest (``p=-2``: the inverse)."""
    if p not in (None, 2, -2):
        raise UnsupportedOpError(f"{name}(..., p={p!r}) is not supported; graphviz_bp supports p=None, 2 and -2")
    s = np.linalg.svd(x, compute_uv=False)
    r = s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    values = _value(r)
    bad = np.isnan(values) & ~np.isnan(_value(x)).any(axis=(-2, -1))
    return np.where(bad, np.inf, r) if np.any(bad) else r


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


FRAMED = frozenset(f for f in (
    np.median, np.percentile, np.quantile, np.nanmedian, np.nanpercentile, np.nanquantile, np.nanvar, np.nanstd,
    np.ptp, np.average, np.diff, _since("trapezoid"), _since("trapz"), np.kron, np.cov,
    np.corrcoef, np.linalg.matrix_power, np.linalg.multi_dot, np.polyval, np.sinc, np.cross, np.convolve,
    np.correlate, np.linalg.lstsq, np.interp, np.gradient, np.linalg.cond, np.piecewise,
    np.choose, np.insert, np.ediff1d) if f is not None)


# --- np.r_, np.c_, np.require ---------------------------------------------------------------------------

def joined_items(name: str, key: Any, axis: int, ndmin: int, trans1d: int) -> Any:
    """``np.r_[...]`` (``np.c_[...]``) of items among which some are traced, as NumPy's index tricks
    join them: slices as ranges, numbers and arrays given at least ``ndmin`` axes (a 1-d array of
    ``np.c_`` as a column), all in one type, concatenated along ``axis``. A directive string is
    refused by name."""
    items = key if isinstance(key, tuple) else (key,)
    objs, types = [], []
    for item in items:
        if isinstance(item, slice):
            start = 0 if item.start is None else item.start
            step = 1 if item.step is None else item.step
            new = np.linspace(start, item.stop, num=int(abs(step))) if isinstance(step, (complex, np.complexfloating)) \
                else np.arange(start, item.stop, step)
            if ndmin > 1:
                new = np.array(new, ndmin=ndmin)
                if trans1d != -1:
                    new = new.swapaxes(-1, trans1d)
            objs.append(new)
            types.append(new.dtype)
        elif isinstance(item, str):
            raise UnsupportedOpError(f"{name}[{item!r}, ...] (a directive string) with traced values is not supported; "
                                     f"use np.concatenate or np.stack")
        elif type(item) in (int, float, complex, bool) or isinstance(item, np.generic):
            objs.append(item)
            types.append(item)
        else:
            nd = _ndim(item)
            new = item if _traced(item) else np.asarray(item)
            if nd < ndmin:
                new = np.reshape(new, (1,) * (ndmin - nd) + tuple(np.shape(new)))
                if trans1d != -1:
                    k2, k1 = ndmin - nd, trans1d if trans1d >= 0 else trans1d + ndmin - nd + 1
                    order = list(range(ndmin))
                    new = np.transpose(new, order[:k1] + order[k2:] + order[k1:k2])
            objs.append(new)
            types.append(_value(new).dtype)
    dtype = np.result_type(*types)
    final = []
    for obj in objs:
        if not _traced(obj):
            obj = np.array(obj, ndmin=ndmin, dtype=dtype)
        elif _value(obj).dtype != dtype:
            obj = obj.astype(dtype)
        final.append(obj)
    return np.concatenate(final, axis=axis)


@_composed(np.require)
def _require(name: str, a: Any, dtype: Any, requirements: Any, like: Any = None) -> Any:
    """A traced value as it is (its memory layout is not NumPy's to choose), cast to ``dtype``."""
    if dtype is not None and np.dtype(dtype) != _value(a).dtype:
        return a.astype(dtype)
    return a
