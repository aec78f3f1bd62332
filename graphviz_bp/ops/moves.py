"""Ops that move entries to other places: flip, roll, take_along_axis, put_along_axis (a functional
update: ``graphviz_bp.put_along_axis`` returns the updated array), and nan_to_num.

flip and roll move entries of their operand, so their VJP moves the cotangent back;
take_along_axis gathers them, so its VJP puts the cotangent back where each entry was read
(``scatter``). ``np.put_along_axis`` writes into its argument in place and returns None, which the
tracer does not record: it is refused, naming the functional spelling.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, register
from ._broadcast import normalize_axis
from ._scatter import scatter


def _axis_param(axis):
    if axis is None or isinstance(axis, (int, np.integer)):
        return None if axis is None else int(axis)
    return tuple(int(a) for a in axis)


def _same_shape(shapes, params):
    s = shapes[0]
    if params.get("axis") is not None:
        normalize_axis(params["axis"], len(s))  # raises for a bad axis
    return s


def _axes_text(axis):
    return "" if axis is None else f" axis {axis}"


# --- flip and roll -------------------------------------------------------------------------------------
register(Op(
    name="flip", symbol="flip", forward=lambda m, axis=None: np.flip(m, axis),
    vjps=(lambda g, ans, a, p: np.flip(g, p.get("axis")),), shape=_same_shape, numpy=(np.flip,),
    bind=lambda m, axis=None: ((m,), {"axis": _axis_param(axis)}), family="moves",
    label=lambda params, constants: "flip" + _axes_text(params.get("axis")),
    examples=(Example(((4,),), {"axis": None}), Example(((3, 4),), {"axis": None}),
              Example(((3, 4),), {"axis": 1}), Example(((2, 3, 4),), {"axis": (0, -1)}),
              Example(((),), {"axis": None})),
))


def _bind_roll(a, shift, axis=None):
    s = np.asarray(shift)
    if s.dtype.kind not in "iu" or s.ndim > 1:
        raise TypeError(f"np.roll: shift must be an integer or a sequence of integers, got {shift!r}")
    return (a,), {"shift": int(s) if s.ndim == 0 else tuple(int(v) for v in s), "axis": _axis_param(axis)}


def _roll_shape(shapes, params):
    s, axis = shapes[0], params.get("axis")
    for a in (() if axis is None else (axis,) if isinstance(axis, int) else axis):
        normalize_axis(a, len(s))  # raises for a bad axis; roll may repeat an axis
    return s


def _roll_vjp(g, ans, args, p):
    shift = p["shift"]
    back = -shift if isinstance(shift, int) else tuple(-s for s in shift)
    return np.roll(g, back, p.get("axis"))


register(Op(
    name="roll", symbol="roll", forward=lambda a, shift, axis=None: np.roll(a, shift, axis),
    vjps=(_roll_vjp,), shape=_roll_shape, numpy=(np.roll,), bind=_bind_roll, family="moves",
    label=lambda params, constants: f"roll {params['shift']}" + _axes_text(params.get("axis")),
    examples=(Example(((5,),), {"shift": 2, "axis": None}),
              Example(((3, 4),), {"shift": -1, "axis": None}),
              Example(((3, 4),), {"shift": 5, "axis": 1}),
              Example(((2, 3, 4),), {"shift": (1, -2), "axis": (0, 2)}),
              Example(((3, 4),), {"shift": (1, 2), "axis": (1, 1)}),  # the shifts add up
              Example(((),), {"shift": 3, "axis": None})),
))


# --- take_along_axis and put_along_axis: the indices are an operand, never differentiated ---------------
def _as_indices(indices):
    return indices if hasattr(indices, "dtype") else np.asarray(indices)


def _along(shape, index_shape, axis):
    """The shape check NumPy makes: the indices have the array's dimensions (1 for axis None)."""
    if axis is None:
        if len(index_shape) != 1:
            raise ValueError(f"with axis=None the indices must be 1-d, got shape {index_shape}")
        return
    ax = normalize_axis(axis, len(shape))[0]
    if len(index_shape) != len(shape):
        raise ValueError(f"indices of shape {index_shape} and an array of shape {shape} have different "
                         f"numbers of dimensions")
    for i, (d, e) in enumerate(zip(shape, index_shape)):
        if i != ax and d != e and 1 not in (d, e):
            raise ValueError(f"indices of shape {index_shape} do not broadcast against the array of "
                             f"shape {shape} outside axis {axis}")


def _take_along_shape(shapes, params):
    s, idx, axis = shapes[0], shapes[1], params.get("axis")
    _along(s, idx, axis)
    if axis is None:
        return tuple(idx)
    ax = normalize_axis(axis, len(s))[0]
    return tuple(e if i == ax else max(d, e) if 1 in (d, e) else d for i, (d, e) in enumerate(zip(s, idx)))


def _bind_take_along(arr, indices, axis=-1):
    return (arr, _as_indices(indices)), {"axis": None if axis is None else int(axis)}


def _take_along_vjp(g, ans, args, p):
    """g added back where each entry was read: at ``indices`` along the axis, at the same place
    along the others (the indices may be computed in a formula, so they are not read here)."""
    x, idx, axis = args[0], args[1], p.get("axis")
    text = _take_along_label(p, ())
    if axis is None:
        return scatter(g, (x.size,), (idx,), text=text).reshape(x.shape)
    ax = normalize_axis(axis, x.ndim)[0]
    index = tuple(idx if d == ax else np.arange(n).reshape([-1 if e == d else 1 for e in range(x.ndim)])
                  for d, n in enumerate(x.shape))
    return scatter(g, x.shape, index, text=text)


def _take_along_label(params, constants):
    return "take_along" + _axes_text(params.get("axis"))


_IDX = np.array([[0, 2], [1, 1], [3, 0]])
register(Op(
    name="take_along_axis", symbol="take_along_axis",
    forward=lambda arr, indices, axis: np.take_along_axis(arr, indices, axis),
    vjps=(_take_along_vjp, None), shape=_take_along_shape, numpy=(np.take_along_axis,),
    bind=_bind_take_along, family="moves", label=_take_along_label,
    examples=(Example(((3, 4), (3, 2)), {"axis": 1}, consts={1: _IDX}),
              Example(((4, 3), (2, 3)), {"axis": 0}, consts={1: _IDX.T}),
              Example(((3, 4), (3, 1)), {"axis": -1}, consts={1: np.array([[3], [-1], [0]])}),
              Example(((6,), (4,)), {"axis": None}, consts={1: np.array([5, 0, 5, -2])}),
              Example(((2, 3, 4), (2, 1, 4)), {"axis": 1}, consts={1: np.full((2, 1, 4), 2)})),
))


def _put_along(arr, indices, values, axis):
    out = np.array(arr, copy=True)
    np.put_along_axis(out, indices, values, axis)
    return out


def _writes(shape, idx, n_values_shape, axis):
    """Which value lands where: an array of ``shape`` holding, at each written entry, the number of
    the value that NumPy leaves there (the last write wins, as in NumPy: found by NumPy itself),
    and -1 where nothing is written; and the numbers of the values, in the indices' shape."""
    numbers = np.arange(np.prod(n_values_shape), dtype=np.intp).reshape(n_values_shape)
    winner = np.full(shape, -1, dtype=np.intp)
    target = winner.reshape(-1) if axis is None else winner
    np.put_along_axis(target, idx, numbers, axis)
    return winner, numbers


def _values_shape(idx, values):
    return np.broadcast_shapes(idx.shape, values.shape)


def _put_along_arr_vjp(g, ans, args, p):
    x, idx, v = args[0], np.asarray(args[1]), args[2]
    winner, _ = _writes(x.shape, idx, _values_shape(idx, v), p.get("axis"))
    return np.where(winner >= 0, 0, g).astype(g.dtype, copy=False)


def _put_along_values_vjp(g, ans, args, p):
    x, idx, v, axis = args[0], np.asarray(args[1]), args[2], p.get("axis")
    shape = _values_shape(idx, v)
    winner, numbers = _writes(x.shape, idx, shape, axis)
    flat = (lambda a: a.reshape(-1)) if axis is None else (lambda a: a)
    won = np.take_along_axis(flat(winner), np.broadcast_to(idx, shape), axis) == numbers
    return np.where(won, np.take_along_axis(flat(g), np.broadcast_to(idx, shape), axis), 0).astype(g.dtype, copy=False)


def _put_along_shape(shapes, params):
    s, idx, v = shapes
    _along(s, idx, params.get("axis"))
    np.broadcast_shapes(idx, v)
    return tuple(s)


register(Op(
    name="put_along_axis", symbol="put_along_axis", forward=_put_along,
    vjps=(_put_along_arr_vjp, None, _put_along_values_vjp), shape=_put_along_shape,
    bind=lambda arr, indices, values, axis: ((arr, _as_indices(indices), values),
                                             {"axis": None if axis is None else int(axis)}),
    family="moves", label=lambda params, constants: "put_along" + _axes_text(params.get("axis")),
    examples=(Example(((3, 4), (3, 2), (3, 2)), {"axis": 1}, consts={1: _IDX}),
              Example(((3, 4), (3, 2), ()), {"axis": 1}, consts={1: _IDX}),  # values broadcast
              Example(((4, 3), (2, 3), (1, 3)), {"axis": 0}, consts={1: np.array([[1, 1, 0], [1, 3, 0]])}),
              Example(((6,), (4,), (4,)), {"axis": None}, consts={1: np.array([5, 0, 5, -1])})),
))


# --- nan_to_num ------------------------------------------------------------------------------------------
def _bind_nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    if not copy:
        raise UnsupportedOpError("np.nan_to_num(x, copy=False) replaces in place, which is not "
                                 "recorded; write x = np.nan_to_num(x) instead")
    for what, v in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        if type(v).__name__ == "Traced":
            raise UnsupportedOpError(f"np.nan_to_num(..., {what}=<traced value>) is not supported: the "
                                     f"replacements are constants")
    return (x,), {"nan": float(nan), "posinf": None if posinf is None else float(posinf),
                  "neginf": None if neginf is None else float(neginf)}


_NONFINITE = np.array([[1.5, np.nan, -0.5, np.inf], [-np.inf, 2.0, np.nan, 0.25], [0.0, -1.0, 3.0, np.inf]])
register(Op(
    name="nan_to_num", symbol="nan_to_num",
    forward=lambda x, nan=0.0, posinf=None, neginf=None: np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf),
    vjps=(lambda g, ans, a, p: np.where(np.isfinite(a[0]), g, 0).astype(g.dtype, copy=False),),
    shape=lambda s, p: s[0], numpy=(np.nan_to_num,), bind=_bind_nan_to_num, family="elementwise",
    # (an infinity becomes the largest float by default, too large for a finite-difference check)
    examples=(Example(((3, 4),), {"nan": 0.0, "posinf": None, "neginf": None}, call=lambda fn, a: fn(a),
                      make={0: lambda r: np.where(np.isinf(_NONFINITE), np.nan, _NONFINITE)}),
              Example(((3, 4),), {"nan": -1.0, "posinf": 9.0, "neginf": -9.0}, make={0: lambda r: _NONFINITE.copy()}),
              Example(((5,),), {"nan": 0.0, "posinf": None, "neginf": None}),
              Example(((),), {"nan": 2.0, "posinf": None, "neginf": None}, make={0: lambda r: np.array(np.nan)})),
))
