"""Shape primitives: transpose, reshape, joins, indexing, and the copies and gathers of values
(copy, astype, diagonal, repeat, take, sort)."""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, format_shape, register
from ._broadcast import normalize_axis


def _axes(params, ndim):
    axes = params.get("axes")
    return tuple(range(ndim))[::-1] if axes is None else tuple(int(a) % ndim for a in axes)


def _transpose_shape(shapes, params):
    shape = shapes[0]
    axes = params.get("axes")
    if axes is not None and sorted(int(a) % max(len(shape), 1) for a in axes) != list(range(len(shape))):
        raise ValueError(f"axes {tuple(axes)} are not a permutation of the {len(shape)} axes")
    return tuple(shape[i] for i in _axes(params, len(shape)))


def _bind_transpose(a, *args, axes=None):
    """``np.transpose(a, axes)`` and the method's ``x.transpose(1, 0)`` / ``x.transpose((1, 0))``."""
    if args:
        if axes is not None:
            raise TypeError("transpose: axes given twice")
        one = len(args) == 1 and (args[0] is None or not isinstance(args[0], (int, np.integer)))
        axes = args[0] if one else args
    return (a,), {"axes": None if axes is None else tuple(int(x) for x in axes)}


def _transpose_label(params, constants):
    axes = params.get("axes")
    return "(·)ᵀ" if axes is None else f"(·)ᵀ axes {tuple(axes)}"


register(Op(
    name="transpose", symbol="(·)ᵀ",
    forward=lambda x, axes=None: np.transpose(x, axes),
    vjps=(lambda g, ans, a, p: np.transpose(g, np.argsort(_axes(p, a[0].ndim))),),
    shape=_transpose_shape, numpy=(np.transpose,), bind=_bind_transpose, family="shape",
    methods=("transpose",), label=_transpose_label,
    examples=(Example(((3, 4),)), Example(((4,),)), Example(((2, 3, 4),), {"axes": (1, 2, 0)})),
))


def _reshape_shape(shapes, params):
    shape, new = shapes[0], params["shape"]
    size = math.prod(shape)
    unknown = [i for i, d in enumerate(new) if d == -1]
    if len(unknown) > 1 or any(d < -1 for d in new):
        raise ValueError(f"invalid target shape {new}")
    if unknown:
        known = math.prod(d for d in new if d != -1)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape {size} elements into shape {new}")
        new = tuple(size // known if d == -1 else d for d in new)
    if math.prod(new) != size:
        raise ValueError(f"cannot reshape {size} elements into shape {new}")
    return tuple(new)


def _bind_reshape(a, *args, shape=None, newshape=None, order="C", copy=None):
    if args and isinstance(args[-1], str) and args[-1] in "CFA":
        *args, order = args
    new = shape if shape is not None else newshape
    if args:
        new = args[0] if len(args) == 1 else tuple(args)
    if new is None:
        raise TypeError("reshape needs a target shape")
    if order != "C":
        raise UnsupportedOpError(f"reshape(order={order!r}) is not supported; only order='C' is")
    new = (int(new),) if isinstance(new, (int, np.integer)) else tuple(int(d) for d in new)
    return (a,), {"shape": new}


register(Op(
    name="reshape", symbol="reshape",
    forward=lambda x, shape: np.reshape(x, shape),
    vjps=(lambda g, ans, a, p: np.reshape(g, a[0].shape),),
    shape=_reshape_shape, numpy=(np.reshape,), bind=_bind_reshape, family="shape", methods=("reshape",),
    label=lambda params, constants: f"reshape {format_shape(params['shape'])}",
    examples=(Example(((3, 4),), {"shape": (2, 6)}), Example(((3, 4),), {"shape": (-1,)}),
              Example(((6,),), {"shape": (3, -1, 1)})),
))


def _reshaped_back(g, ans, args, p):
    return np.reshape(g, args[0].shape)


register(Op(
    name="ravel", symbol="ravel", forward=np.ravel, vjps=(_reshaped_back,), family="shape",
    shape=lambda s, p: (math.prod(s[0]),), numpy=(np.ravel,), methods=("ravel", "flatten"),
    bind=lambda a, order="C": ((a,), {}) if order == "C" else _refuse_order("ravel", order),
    examples=(Example(((3, 4),)), Example(((2, 3, 2),))),
))


def _refuse_order(name, order):
    raise UnsupportedOpError(f"{name}(order={order!r}) is not supported; only order='C' is")


def _swapaxes_shape(shapes, params):
    s = list(shapes[0])
    i, j = params["axis1"], params["axis2"]
    for a in (i, j):
        if not -len(s) <= a < len(s):
            raise ValueError(f"axis {a} is out of bounds for an array of dimension {len(s)}")
    s[i], s[j] = s[j], s[i]
    return tuple(s)


register(Op(
    name="swapaxes", symbol="swapaxes", forward=lambda a, axis1, axis2: np.swapaxes(a, axis1, axis2),
    vjps=(lambda g, ans, a, p: np.swapaxes(g, p["axis1"], p["axis2"]),), shape=_swapaxes_shape,
    numpy=(np.swapaxes,), bind=lambda a, axis1, axis2: ((a,), {"axis1": int(axis1), "axis2": int(axis2)}),
    family="shape", methods=("swapaxes",), examples=(Example(((2, 3, 4),), {"axis1": 0, "axis2": 2}),
                              Example(((3, 4),), {"axis1": -1, "axis2": 0})),
))


def _expand_dims_shape(shapes, params):
    axis = params["axis"]
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    n = len(shapes[0]) + len(axes)
    norm = sorted(int(a) % n if -n <= a < n else _bad_axis(a, n) for a in axes)
    it = iter(shapes[0])
    return tuple(1 if i in norm else next(it) for i in range(n))


def _bad_axis(a, n):
    raise ValueError(f"axis {a} is out of bounds for an array of dimension {n}")


register(Op(
    name="expand_dims", symbol="expand_dims", forward=lambda a, axis: np.expand_dims(a, axis),
    vjps=(_reshaped_back,), shape=_expand_dims_shape, numpy=(np.expand_dims,),
    bind=lambda a, axis: ((a,), {"axis": axis if isinstance(axis, (int, np.integer)) else tuple(axis)}),
    family="shape", examples=(Example(((3,),), {"axis": 0}), Example(((3, 4),), {"axis": (0, -1)})),
))


def _squeeze_shape(shapes, params):
    s, axis = shapes[0], params.get("axis")
    if axis is None:
        return tuple(d for d in s if d != 1)
    axes = normalize_axis(axis, len(s))
    for a in axes:
        if s[a] != 1:
            raise ValueError(f"cannot squeeze axis {a}: its length is {s[a]}, not 1")
    return tuple(d for i, d in enumerate(s) if i not in axes)


register(Op(
    name="squeeze", symbol="squeeze", forward=lambda a, axis=None: np.squeeze(a, axis),
    vjps=(_reshaped_back,), shape=_squeeze_shape, numpy=(np.squeeze,),
    bind=lambda a, axis=None: ((a,), {"axis": axis if axis is None or isinstance(axis, (int, np.integer)) else tuple(axis)}),
    family="shape", methods=("squeeze",),
    examples=(Example(((1, 3, 1),)), Example(((1, 3, 1),), {"axis": 2})),
))


def _broadcast_to_shape(shapes, params):
    s, target = shapes[0], tuple(params["shape"])
    if len(s) > len(target) or any(d not in (1, t) for d, t in zip(s[::-1], target[::-1])):
        raise ValueError(f"cannot broadcast shape {s} to {target}")
    return target


register(Op(
    name="broadcast_to", symbol="broadcast", forward=lambda a, shape: np.broadcast_to(a, shape),
    vjps=(lambda g, ans, a, p: g,),  # the backward pass sums over the broadcast axes
    shape=_broadcast_to_shape, numpy=(np.broadcast_to,), family="shape", grows=True,
    bind=lambda array, shape, subok=False: ((array,), {"shape": (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)}),
    examples=(Example(((3,),), {"shape": (2, 3)}), Example(((3, 1),), {"shape": (2, 3, 4)})),
))


# --- joining: variadic ops, one operand per array joined -----------------------------------------
def _bind_join(name):
    def bind(arrays, axis=0, out=None, **kwargs):
        if out is not None or kwargs.get("dtype") is not None:
            raise UnsupportedOpError(f"np.{name}(..., out=/dtype=) is not supported")
        if axis is None:
            raise UnsupportedOpError(f"np.{name}(..., axis=None) is not supported; ravel the arrays first")
        arrays = tuple(arrays)
        if not arrays:
            raise ValueError(f"np.{name} needs at least one array")
        return arrays, {"axis": int(axis)}
    return bind


def _concatenate_shape(shapes, params):
    first = shapes[0]
    if not first:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    axis = normalize_axis(params["axis"], len(first))[0]
    for s in shapes[1:]:
        if len(s) != len(first) or any(d != e for i, (d, e) in enumerate(zip(s, first)) if i != axis):
            raise ValueError(f"shapes {' and '.join(map(str, shapes))} differ outside axis {params['axis']}")
    return first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1:]


def _concatenate_vjp(g, ans, args, p, argnum):
    axis = normalize_axis(p["axis"], g.ndim)[0]
    start = sum(a.shape[axis] for a in args[:argnum])
    index = [slice(None)] * g.ndim
    index[axis] = slice(start, start + args[argnum].shape[axis])
    return g[tuple(index)]


def _stack_shape(shapes, params):
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"all arrays must have the same shape, got {' and '.join(map(str, shapes))}")
    axis = normalize_axis(params["axis"], len(shapes[0]) + 1)[0]
    return shapes[0][:axis] + (len(shapes),) + shapes[0][axis:]


def _stack_vjp(g, ans, args, p, argnum):
    return np.take(g, argnum, axis=normalize_axis(p["axis"], g.ndim)[0])


register(Op(
    name="concatenate", symbol="concat", forward=lambda *a, axis: np.concatenate(a, axis=axis),
    vjps=(_concatenate_vjp,), shape=_concatenate_shape, numpy=(np.concatenate,),
    bind=_bind_join("concatenate"), family="shape", variadic=True,
    examples=(Example(((2, 3), (4, 3)), {"axis": 0}, call=lambda fn, *a: fn(a, axis=0)),
              Example(((2, 3), (2, 1), (2, 2)), {"axis": -1}, call=lambda fn, *a: fn(a, axis=-1))),
))
register(Op(
    name="stack", symbol="stack", forward=lambda *a, axis: np.stack(a, axis=axis),
    vjps=(_stack_vjp,), shape=_stack_shape, numpy=(np.stack,),
    bind=_bind_join("stack"), family="shape", variadic=True,
    examples=(Example(((3,), (3,), (3,)), {"axis": 0}, call=lambda fn, *a: fn(a)),
              Example(((2, 3), (2, 3)), {"axis": -1}, call=lambda fn, *a: fn(a, axis=-1))),
))


# --- indexing -------------------------------------------------------------------------------------
class Slot:
    """Stands in an index for the index array that is operand ``k`` (a traced integer or mask
    array: drawn as an edge into the indexing node, never differentiated)."""

    __slots__ = ("k", "mask")

    def __init__(self, k: int, mask: bool = False) -> None:
        self.k = k
        self.mask = mask

    def __repr__(self) -> str:
        return f"Slot({self.k}{', mask' if self.mask else ''})"


def _fill(index, arrays):
    return tuple(arrays[part.k - 1] if isinstance(part, Slot) else part for part in index)


def _index_forward(a, *arrays, index, text=""):
    return a[_fill(index, arrays)]


def _index_shape(shapes, params):
    """The result's shape; for a traced boolean mask it assumes every entry True (the true length
    depends on the mask's values), which is enough to explain a mask of the wrong shape."""
    masks = {part.k for part in params["index"] if isinstance(part, Slot) and part.mask}
    arrays = [np.ones(s, dtype=bool) if k in masks else np.zeros(s, dtype=np.intp)
              for k, s in enumerate(shapes[1:], start=1)]
    try:
        return np.empty(shapes[0], dtype=np.bool_)[_fill(params["index"], arrays)].shape
    except IndexError as exc:
        raise ValueError(str(exc)) from None


def _index_vjp(g, ans, args, p, argnum):
    if argnum:
        return None  # the index arrays are not differentiated
    out = np.zeros(args[0].shape, dtype=g.dtype)
    np.add.at(out, _fill(p["index"], args[1:]), g)  # repeated indices accumulate
    return out


register(Op(
    name="index", symbol="[·]", forward=_index_forward, vjps=(_index_vjp,), variadic=True,
    shape=_index_shape, family="shape", spelling=None,
    label=lambda params, constants: params.get("text") or "[·]",
    examples=(
        Example(((5,),), {"index": (slice(1, 4),)}),
        Example(((4, 3),), {"index": (slice(None), 1)}),
        Example(((4, 3),), {"index": (np.array([0, 2, 0]),)}),  # repeated: messages accumulate
        Example(((4, 3),), {"index": (np.arange(4), np.array([0, 2, 1, 2]))}),  # logp[np.arange(n), y]
        Example(((4, 3), (4,)), {"index": (np.arange(4), Slot(1))}, consts={1: np.array([0, 2, 2, 1])}),
        Example(((4, 3),), {"index": (np.array([[True, False, True]] * 4),)}),
        Example(((2, 3, 4),), {"index": (Ellipsis, None, slice(None, None, -2))}),
    ),
))


# --- copies and gathers -----------------------------------------------------------------------------
def _bind_copy(a, order="K", subok=False):
    if order not in ("C", "F", "A", "K"):
        raise ValueError(f"copy: order must be one of 'C', 'F', 'A', 'K', not {order!r}")
    return (a,), {}


register(Op(
    name="copy", symbol="copy", forward=np.copy, vjps=(lambda g, ans, a, p: g,), shape=lambda s, p: s[0],
    numpy=(np.copy,), bind=_bind_copy, family="shape", methods=("copy",),
    examples=(Example(((),)), Example(((3, 4),))),
))


def _bind_astype(a, dtype, order="K", casting="unsafe", subok=True, copy=True, *, device=None):
    dt = np.dtype(dtype)
    if dt.kind not in "biuf":
        raise UnsupportedOpError(f"astype({dt}) is not supported: graphviz_bp traces real numbers only")
    return (a,), {"dtype": dt}


register(Op(
    name="astype", symbol="astype", forward=lambda a, dtype: a.astype(dtype),
    vjps=(lambda g, ans, a, p: g.astype(a[0].dtype, copy=False),), shape=lambda s, p: s[0],
    numpy=(np.astype,), bind=_bind_astype, family="shape", methods=("astype",),
    label=lambda params, constants: f"astype {params['dtype']}",
    constant=lambda params: params["dtype"].kind != "f",  # to integers or booleans: no gradient
    examples=(Example(((3, 4),), {"dtype": np.dtype(np.float64)}, call=lambda fn, a: fn(a, np.float64)),
              Example(((),), {"dtype": np.dtype(np.float64)}, call=lambda fn, a: fn(a, "float64"))),
))


def _bind_diagonal(a, offset=0, axis1=0, axis2=1):
    return (a,), {"offset": int(offset), "axis1": int(axis1), "axis2": int(axis2)}


def _diagonal_axes(ndim, params):
    if ndim < 2:
        raise ValueError("diagonal needs an array of at least two dimensions")
    a1, a2 = normalize_axis(params["axis1"], ndim)[0], normalize_axis(params["axis2"], ndim)[0]
    if a1 == a2:
        raise ValueError("axis1 and axis2 cannot be the same")
    return a1, a2


def _diagonal_length(n1, n2, k):
    return max(0, min(n1 + min(k, 0), n2 - max(k, 0)))


def _diagonal_shape(shapes, params):
    s = shapes[0]
    a1, a2 = _diagonal_axes(len(s), params)
    rest = tuple(d for i, d in enumerate(s) if i not in (a1, a2))
    return rest + (_diagonal_length(s[a1], s[a2], params["offset"]),)


def _diagonal_vjp(g, ans, args, p):
    x, k = args[0], p["offset"]
    a1, a2 = _diagonal_axes(x.ndim, p)
    out = np.zeros(x.shape, dtype=g.dtype)
    moved = np.moveaxis(out, (a1, a2), (-2, -1))  # a writeable view
    i = np.arange(g.shape[-1])
    moved[..., i + max(-k, 0), i + max(k, 0)] = g
    return out


register(Op(
    name="diagonal", symbol="diagonal",
    forward=lambda a, offset, axis1, axis2: np.diagonal(a, offset, axis1, axis2),
    vjps=(_diagonal_vjp,), shape=_diagonal_shape, numpy=(np.diagonal,), bind=_bind_diagonal,
    family="shape", methods=("diagonal",),
    examples=(Example(((3, 3),), {"offset": 0, "axis1": 0, "axis2": 1}),
              Example(((3, 4),), {"offset": 1, "axis1": 0, "axis2": 1}),
              Example(((4, 3),), {"offset": -2, "axis1": 0, "axis2": 1}),
              Example(((2, 3, 4),), {"offset": 0, "axis1": 2, "axis2": 0})),
))


def _bind_repeat(a, repeats, axis=None):
    r = np.asarray(repeats)
    if r.dtype.kind not in "iub" or r.ndim > 1:
        raise TypeError(f"repeat: repeats must be an integer or a 1-d sequence of integers, got {repeats!r}")
    if np.any(r < 0):
        raise ValueError("repeat: repeats may not be negative")
    return (a,), {"repeats": int(r) if r.ndim == 0 else tuple(int(v) for v in r),
                  "axis": None if axis is None else int(axis)}


def _repeat_shape(shapes, params):
    s, r, axis = shapes[0], params["repeats"], params.get("axis")
    n = math.prod(s) if axis is None else s[normalize_axis(axis, len(s))[0]]
    if isinstance(r, tuple) and len(r) not in (1, n):
        raise ValueError(f"repeats has {len(r)} entries for an axis of length {n}")
    total = n * (r if isinstance(r, int) else r[0]) if isinstance(r, int) or len(r) == 1 else sum(r)
    if axis is None:
        return (total,)
    ax = normalize_axis(axis, len(s))[0]
    return s[:ax] + (total,) + s[ax + 1:]


def _repeat_vjp(g, ans, args, p):
    x, r, axis = args[0], p["repeats"], p.get("axis")
    if axis is None:
        out = np.zeros(x.size, dtype=g.dtype)
        np.add.at(out, np.repeat(np.arange(x.size), r), g)
        return out.reshape(x.shape)
    ax = normalize_axis(axis, x.ndim)[0]
    out = np.zeros(x.shape, dtype=g.dtype)
    np.add.at(np.moveaxis(out, ax, 0), np.repeat(np.arange(x.shape[ax]), r), np.moveaxis(g, ax, 0))
    return out


register(Op(
    name="repeat", symbol="repeat", forward=lambda a, repeats, axis: np.repeat(a, repeats, axis),
    vjps=(_repeat_vjp,), shape=_repeat_shape, numpy=(np.repeat,), bind=_bind_repeat, family="shape",
    methods=("repeat",), grows=True,
    examples=(Example(((3,),), {"repeats": 2, "axis": None}),
              Example(((2, 3),), {"repeats": (1, 0, 3), "axis": 1}),
              Example(((2, 3),), {"repeats": 3, "axis": 0}),
              Example(((2, 2),), {"repeats": (2, 1, 0, 1), "axis": None})),
))


# np.take(a, indices): the indices are an operand (an edge into the node), never differentiated.
def _bind_take(a, indices, axis=None, out=None, mode="raise"):
    if out is not None:
        raise UnsupportedOpError("np.take(..., out=...) is not supported: graphviz_bp records new "
                                 "values and never writes into existing arrays")
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', not {mode!r}")
    if not hasattr(indices, "dtype"):
        indices = np.asarray(indices)
    return (a, indices), {"axis": None if axis is None else int(axis), "mode": mode}


def _take_shape(shapes, params):
    s, idx, axis = shapes[0], shapes[1], params.get("axis")
    if axis is None:
        return idx
    ax = normalize_axis(axis, len(s))[0]
    return s[:ax] + idx + s[ax + 1:]


def _take_vjp(g, ans, args, p):
    x, idx, axis = args[0], np.asarray(args[1]), p.get("axis")
    n = x.size if axis is None else x.shape[normalize_axis(axis, x.ndim)[0]]
    idx = np.clip(idx, 0, n - 1) if p.get("mode") == "clip" else idx % max(n, 1)
    if axis is None:
        out = np.zeros(x.size, dtype=g.dtype)
        np.add.at(out, idx, g)
        return out.reshape(x.shape)
    ax = normalize_axis(axis, x.ndim)[0]
    out = np.zeros(x.shape, dtype=g.dtype)
    np.add.at(out, (slice(None),) * ax + (idx,), g)
    return out


register(Op(
    name="take", symbol="take", forward=lambda a, indices, axis, mode: np.take(a, indices, axis, mode=mode),
    vjps=(_take_vjp, None), shape=_take_shape, numpy=(np.take,), bind=_bind_take, family="shape",
    methods=("take",),
    examples=(Example(((5,), (4,)), {"axis": None, "mode": "raise"}, consts={1: np.array([0, 4, 4, -1])}),
              Example(((3, 4), (2, 2)), {"axis": 1, "mode": "raise"}, consts={1: np.array([[0, 3], [3, 1]])}),
              Example(((3, 4), (3,)), {"axis": 0, "mode": "wrap"}, consts={1: np.array([5, -1, 0])}),
              Example(((3, 4), ()), {"axis": None, "mode": "clip"}, consts={1: np.array(20)})),
))


def _bind_sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise UnsupportedOpError("np.sort(..., order=...) (structured arrays) is not supported")
    return (a,), {"axis": None if axis is None else int(axis)}


def _sort_shape(shapes, params):
    s, axis = shapes[0], params.get("axis")
    if axis is None:
        return (math.prod(s),)
    normalize_axis(axis, len(s))
    return s


def _sort_vjp(g, ans, args, p):
    x, axis = args[0], p.get("axis")
    flat = x.reshape(-1) if axis is None else x
    ax = -1 if axis is None else axis
    order = np.argsort(flat, axis=ax, kind="stable")  # the same order np.sort's values come in
    out = np.zeros(flat.shape, dtype=g.dtype)
    np.put_along_axis(out, order, g, axis=ax)
    return out.reshape(x.shape)


register(Op(
    name="sort", symbol="sort", forward=lambda a, axis: np.sort(a, axis=axis), vjps=(_sort_vjp,),
    shape=_sort_shape, numpy=(np.sort,), bind=_bind_sort, family="shape",
    examples=(Example(((5,),), {"axis": -1}), Example(((3, 4),), {"axis": 0}),
              Example(((3, 4),), {"axis": None})),
))
