"""Moving, splitting and joining: np.moveaxis, the flips, np.rot90, np.append, np.delete, np.insert,
np.diagflat, the splits, np.atleast_*d, np.block, np.meshgrid, np.broadcast_arrays, np.require, the
index tricks np.r_ and np.c_, and the windows of np.lib.stride_tricks (sliding_window_view,
as_strided)."""

from __future__ import annotations

import operator
from typing import Any, Callable

import numpy as np

from ...errors import UnsupportedOpError
from ._registry import _traced, _value, _composed, _axis, _ndim


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


@_composed(np.block, sequences=(None,))
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


@_composed(np.insert, framed=True)
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


# ------------------------------------------------------------------------------------------------
# Windows (the stride tricks of vectorized convolutions): read by indexing, which is recorded

@_composed(np.lib.stride_tricks.sliding_window_view)
def _sliding_window_view(name: str, x: Any, window_shape: Any, axis: Any, subok: Any, writeable: Any) -> Any:
    """The windows as NumPy lays them out (its own function on the entries' positions), read from
    ``x`` by indexing: a copy, not a view (``writeable=True``, to write through it, is refused)."""
    if writeable:
        raise UnsupportedOpError(f"{name}(..., writeable=True) is not supported: the windows are read by "
                                 f"indexing, a copy; write into the array itself")
    positions = np.arange(int(np.prod(np.shape(x)))).reshape(np.shape(x))
    return np.reshape(x, -1)[np.lib.stride_tricks.sliding_window_view(positions, window_shape, axis=axis)]


def strided(x: Any, shape: Any = None, strides: Any = None, name: str = "np.lib.stride_tricks.as_strided",
            layout: np.ndarray | None = None) -> Any:
    """``as_strided(x, shape, strides)`` of a traced ``x``: the entry each position reads taken by
    indexing, a copy. ``x``'s memory is its value's, laid out as NumPy laid it out (C order, or a
    transpose's: ``np.maximum(0, z.T)`` keeps ``z.T``'s), so its ``strides`` are the ones the code
    reads; each position's byte offset names the entry stored there. A window reading between
    entries or outside them is refused (NumPy would read other memory), and so is a value whose
    entries are not one block of memory (a strided slice: the gaps are another array's).
    ``layout``: the array whose memory the code reads, when it is not ``x``'s value (a buffer
    written with traced values: its own strides)."""
    value = _value(x)
    laid = value if layout is None else layout
    shape = laid.shape if shape is None else tuple(shape)
    strides = laid.strides if strides is None else tuple(strides)
    if len(strides) != len(shape):
        raise ValueError(f"{name}: mismatch in length of strides and shape")
    held = _offsets(laid.shape, laid.strides).ravel()  # where each entry of x (in C order) is stored
    slots, between = np.divmod(held, value.itemsize)
    first = int(slots.min()) if slots.size else 0
    entry = np.full(value.size, -1, np.int64)  # the entry stored in each slot, from the first
    if slots.size:
        entry[np.clip(slots - first, 0, value.size - 1)] = np.arange(value.size)
    if between.any() or (slots.size and (int(slots.max()) - first != value.size - 1 or (entry < 0).any())):
        raise UnsupportedOpError(f"{name} of a traced value whose entries are not one block of memory (a "
                                 f"strided slice, a broadcast) is not supported; take x.copy() first")
    index, between = np.divmod(_offsets(shape, strides), value.itemsize)
    index = index - first
    if between.any() or (index.size and (index.min() < 0 or index.max() >= value.size)):
        raise UnsupportedOpError(f"{name}: shape {shape} with strides {strides} reads outside the traced "
                                 f"array of shape {value.shape} or between its entries (NumPy would read other memory)")
    return np.reshape(x, -1)[entry[index]]


def _offsets(shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """The byte offset of each position of an array of ``shape`` and ``strides``, in C order."""
    offsets = np.zeros((), np.int64)
    for n, step in zip(shape, strides):
        offsets = offsets[..., np.newaxis] + np.arange(operator.index(n), dtype=np.int64) * operator.index(step)
    return offsets
