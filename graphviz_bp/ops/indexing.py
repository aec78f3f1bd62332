"""Indexing (``x[...]``, ``np.take``), assignment (``x[...] = v`` as a functional update,
``setitem``) and the other ops that copy or gather values: copy, astype, diagonal, repeat, sort."""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, register
from ._broadcast import normalize_axis
from ._scatter import overridable, scatter


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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Slot) and (self.k, self.mask) == (other.k, other.mask)

    def __hash__(self) -> int:
        return hash((Slot, self.k, self.mask))


def fill(index, args):
    """``index`` with each ``Slot`` replaced by the operand it stands for (``args``: all operands)."""
    return tuple(args[part.k] if isinstance(part, Slot) else part for part in index)


def _index_forward(a, *arrays, index, text=""):
    return a[fill(index, (a,) + arrays)]


def _stand_ins(shapes, index, first):
    """Arrays of ``shapes`` standing in for the index operands from ``first`` on: for a traced
    boolean mask, all True (the true length depends on the mask's values), which is enough to
    explain a mask of the wrong shape."""
    masks = {part.k for part in index if isinstance(part, Slot) and part.mask}
    return [None] * first + [np.ones(s, dtype=bool) if k in masks else np.zeros(s, dtype=np.intp)
                             for k, s in enumerate(shapes[first:], start=first)]


def _index_shape(shapes, params):
    """The result's shape (see ``_stand_ins`` for traced masks)."""
    try:
        return np.empty(shapes[0], dtype=np.bool_)[fill(params["index"], _stand_ins(shapes, params["index"], 1))].shape
    except IndexError as exc:
        raise ValueError(str(exc)) from None


def _index_vjp(g, ans, args, p, argnum):
    if argnum:
        return None  # the index arrays are not differentiated
    return scatter(g, args[0].shape, fill(p["index"], args), text=p.get("text", ""))  # repeats add


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


# --- assignment: out = a.copy(); out[index] = v ------------------------------------------------------
# Operands: a, v, then the traced index arrays (Slot(2), Slot(3)...). NumPy itself does the
# assignment, so broadcasting, masks, repeated indices (the last write wins) and casting are NumPy's.
def _setitem_forward(a, v, *arrays, index, text=""):
    out = same_layout(a)
    out[fill(index, (a, v) + arrays)] = v
    return out


@overridable
def assigned(a, v, index, text=""):
    """``a`` with ``a[index] = v``, in a fresh array (``a`` may be a broadcast cotangent, whose
    entries share memory): setitem's value with its index filled in, ``text`` the index as the
    drawing writes it. A formula's expression gets the setitem op."""
    out = np.array(a, copy=True)
    out[index] = v
    return out


def same_layout(a):
    """A copy of ``a`` with its very strides (NumPy writes in place, so a written array keeps its
    layout, which decides whether a later reshape is a view or a copy).

    >>> b = same_layout(np.arange(12.0).reshape(3, 4)[:, ::-2])
    >>> b.strides, b.tolist() == np.arange(12.0).reshape(3, 4)[:, ::-2].tolist()
    ((32, -16), True)
    """
    if a.size > 1 and 0 in a.strides:  # a broadcast array (entries sharing memory): a plain copy
        return np.array(a)
    out = np.empty_like(a)
    if out.strides != a.strides and a.size > 1 and a.itemsize and \
            all(s % a.itemsize == 0 for s in a.strides):
        low = sum(min(0, (n - 1) * s) for n, s in zip(a.shape, a.strides)) // a.itemsize
        high = sum(max(0, (n - 1) * s) for n, s in zip(a.shape, a.strides)) // a.itemsize
        buffer = np.empty(high - low + 1, dtype=a.dtype)
        out = np.lib.stride_tricks.as_strided(buffer[-low:], a.shape, a.strides, writeable=True)
    out[...] = a
    return out


def _setitem_shape(shapes, params):
    """``a``'s shape, once NumPy agrees that ``v`` fits the indexed entries (see ``_stand_ins``)."""
    into = np.zeros(shapes[0], dtype=np.bool_)
    try:
        into[fill(params["index"], _stand_ins(shapes, params["index"], 2))] = np.zeros(shapes[1], dtype=np.bool_)
    except (IndexError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    return tuple(shapes[0])


def _setitem_vjp(g, ans, args, p, argnum):
    """To ``a``: ``g`` with the overwritten entries zeroed. To ``v``: for each entry of ``v``
    broadcast to the indexed entries, ``g`` at its target if it is the value NumPy left there (for
    repeated indices, found by NumPy itself: the same assignment of the entries' numbers), else 0;
    the backward pass sums it back to ``v``'s shape."""
    if argnum == 0:
        return assigned(g, 0, fill(p["index"], args), text=p.get("text", ""))
    if argnum != 1:
        return None  # the index arrays are not differentiated
    index = fill(p["index"], list(args[:2]) + [np.asarray(a) for a in args[2:]])
    target = g[index]
    numbers = np.arange(target.size, dtype=np.intp).reshape(target.shape)
    winner = np.full(g.shape, -1, dtype=np.intp)
    winner[index] = numbers
    won = winner[index] == numbers
    out = target if won.all() else np.where(won, target, 0).astype(g.dtype, copy=False)
    extra = args[1].ndim - out.ndim  # NumPy drops leading length-1 axes of v: give them back
    return out.reshape((1,) * extra + out.shape) if extra > 0 else out


register(Op(
    name="setitem", symbol="[·] ←", forward=_setitem_forward, vjps=(_setitem_vjp,), variadic=True,
    shape=_setitem_shape, family="shape", spelling=None,
    label=lambda params, constants: (params.get("text") or "[·]") + " ←",
    examples=(
        Example(((4, 3), (3,)), {"index": (slice(1, 3),), "text": "[1:3]"}),  # v broadcast over rows
        Example(((4, 3), ()), {"index": (np.array([[True, False, True]] * 4),)}),  # a mask, a scalar v
        Example(((5,), (4,)), {"index": (np.array([0, 2, 0, 4]),)}),  # repeated: the last write wins
        Example(((3, 4), (3,)), {"index": (np.array([1, 1, 2]), np.array([0, 0, 3]))}),
        Example(((4, 3), (2, 3), (2,)), {"index": (Slot(2),)}, consts={2: np.array([3, 3])}),
        Example(((2, 3, 4), (1, 1, 4)), {"index": (Ellipsis, 0, slice(None))}),  # v has extra 1-axes
        Example(((3,), ()), {"index": (1,)}),
        Example(((), ()), {"index": ()}),
    ),
))


# --- add_at: np.add.at(a, index, v), recorded as a functional update ---------------------------------
def _add_at_forward(a, v, *arrays, index, text=""):
    out = same_layout(a)
    np.add.at(out, fill(index, (a, v) + arrays), v)
    return out


def _add_at_vjp(g, ans, args, p, argnum):
    """To ``a``: ``g`` (every entry keeps its old value in the sum). To ``v``: ``g`` at each entry's
    target (repeated indices each get their target's ``g``: every one of them was added)."""
    if argnum == 0:
        return g
    if argnum != 1:
        return None  # the index arrays are not differentiated
    out = g[fill(p["index"], args)]
    extra = args[1].ndim - out.ndim  # v may have leading length-1 axes
    return out.reshape((1,) * extra + out.shape) if extra > 0 else out


register(Op(
    name="add_at", symbol="add.at", forward=_add_at_forward, vjps=(_add_at_vjp,), variadic=True,
    shape=_setitem_shape, family="shape", spelling=None,
    label=lambda params, constants: "add.at " + (params.get("text") or "[·]"),  # not a[i] +=: repeats add
    examples=(
        Example(((5,), (4,)), {"index": (np.array([0, 2, 0, 4]),)}),  # repeated: each one adds
        Example(((3, 4), (3,)), {"index": (np.array([1, 1, 2]), np.array([0, 0, 3]))}),
        Example(((4, 3), (3,)), {"index": (slice(1, 3),)}),  # v broadcast over rows
        Example(((4, 3), (2, 3), (2,)), {"index": (Slot(2),)}, consts={2: np.array([3, 3])}),
        Example(((4, 3), ()), {"index": (np.array([2, 0, 2]), 1)}),
    ),
))


# --- copies and gathers -----------------------------------------------------------------------------
def _bind_copy(a, order="K", subok=False):
    if order not in ("C", "F", "A", "K"):
        raise ValueError(f"copy: order must be one of 'C', 'F', 'A', 'K', not {order!r}")
    return (a,), ({} if order == "K" else {"order": order})  # the layout: a reshape's view or copy


# ``x.copy()`` is ``np.copy(x, order="C")`` (the method's default differs): see ``Traced.copy``
register(Op(
    name="copy", symbol="copy", forward=lambda a, order="K": np.copy(a, order=order),
    vjps=(lambda g, ans, a, p: g,), shape=lambda s, p: s[0],
    numpy=(np.copy,), bind=_bind_copy, family="shape",
    examples=(Example(((),)), Example(((3, 4),))),
))


def _bind_astype(a, dtype, order="K", casting="unsafe", subok=True, copy=True, *, device=None):
    dt = np.dtype(dtype)
    if dt.kind not in "biuf":
        raise UnsupportedOpError(f"astype({dt}) is not supported: graphviz_bp traces real numbers only")
    if not copy and dt == a.dtype:  # NumPy returns the array itself: writes into one change the other
        return (a,), {"dtype": dt, "same": True}
    return (a,), {"dtype": dt}


def _astype(a, dtype, same=False):
    if not same:
        return a.astype(dtype)
    if a.dtype.kind == "f":
        return a  # the array itself, as in NumPy (the tracer follows it as a view)
    out = a.view()  # to integers, computed on the values: this plain array must not write into the graph
    out.flags.writeable = False
    return out


register(Op(
    name="astype", symbol="astype", forward=_astype,
    vjps=(lambda g, ans, a, p: g.astype(a[0].dtype, copy=False),), shape=lambda s, p: s[0],
    numpy=(np.astype,), bind=_bind_astype, family="shape", methods=("astype",),
    label=lambda params, constants: f"astype {params['dtype']}",
    constant=lambda params: params["dtype"].kind != "f",  # to integers or booleans: no gradient
    examples=(Example(((3, 4),), {"dtype": np.dtype(np.float64)}, call=lambda fn, a: fn(a, np.float64)),
              Example(((),), {"dtype": np.dtype(np.float64)}, call=lambda fn, a: fn(a, "float64")),
              Example(((3,),), {"dtype": np.dtype(np.float64), "same": True},
                      call=lambda fn, a: fn(a, np.float64, copy=False))),
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
    if x.ndim == 2 and k == 0 and x.shape[0] == x.shape[1]:  # the matrix diag(g)
        return np.diag(g)
    index: list = [None] * x.ndim  # an index array per axis of x, each broadcast to g's shape
    for j, d in enumerate(i for i in range(x.ndim) if i not in (a1, a2)):  # g's axis j is x's axis d
        index[d] = np.arange(x.shape[d]).reshape((-1,) + (1,) * (g.ndim - 1 - j))
    i = np.arange(g.shape[-1])
    index[a1], index[a2] = i + max(-k, 0), i + max(k, 0)
    return scatter(g, x.shape, tuple(index), text=_diagonal_label(p, ()), unique=True)


def _diagonal_label(params, constants):
    k, axes = params["offset"], (params["axis1"], params["axis2"])
    return "diagonal" + (f" {k:+d}" if k else "") + ("" if axes == (0, 1) else f" axes {axes}")


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
    text = _repeat_label(p, ())
    if axis is None:
        return scatter_flat(g, x.shape, np.repeat(np.arange(x.size), r), text)  # from x.ravel()
    ax = normalize_axis(axis, x.ndim)[0]
    return scatter(g, x.shape, (slice(None),) * ax + (np.repeat(np.arange(x.shape[ax]), r),), text=text)


def _repeat_label(params, constants):
    r, axis = params["repeats"], params.get("axis")
    return f"repeat {r}" + ("" if axis is None else f" axis {axis}")


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
    x, idx, axis = args[0], args[1], p.get("axis")  # the indices may be computed in a formula
    n = x.size if axis is None else x.shape[normalize_axis(axis, x.ndim)[0]]
    idx = np.clip(idx, 0, n - 1) if p.get("mode") == "clip" else idx % max(n, 1)
    text = "take " + (str(idx.tolist()) if isinstance(idx, np.ndarray) and idx.ndim <= 1 and idx.size <= 4 else
                      f"indices {'×'.join(map(str, idx.shape))}") + ("" if axis is None else f" axis {axis}")
    if axis is None:
        return scatter_flat(g, x.shape, idx, text)
    ax = normalize_axis(axis, x.ndim)[0]
    return scatter(g, x.shape, (slice(None),) * ax + (idx,), text=text)


def scatter_flat(g, shape, flat, text):
    """The VJP of ``x.ravel()[flat]`` for ``x`` of ``shape`` (``flat`` in range; computed in a
    formula, it has no values to unravel)."""
    if not shape or not isinstance(flat, np.ndarray):
        return scatter(g, (math.prod(shape),), (flat,), text=text).reshape(shape)
    return scatter(g, shape, np.unravel_index(flat, shape), text=text)


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
    """g put back where each sorted value came from: at ``argsort(x)`` along the axis."""
    x, axis = args[0], p.get("axis")
    flat = x.reshape(-1) if axis is None else x
    ax = normalize_axis(-1 if axis is None else axis, flat.ndim)[0]
    order = np.argsort(flat, axis=ax, kind="stable")  # the same order np.sort's values come in
    index = tuple(order if d == ax else np.arange(n).reshape([-1 if e == d else 1 for e in range(flat.ndim)])
                  for d, n in enumerate(flat.shape))
    out = scatter(g, flat.shape, index, text="sort" + ("" if axis is None else f" axis {axis}"), unique=True)
    return out.reshape(x.shape)


register(Op(
    name="sort", symbol="sort", forward=lambda a, axis: np.sort(a, axis=axis), vjps=(_sort_vjp,),
    shape=_sort_shape, numpy=(np.sort,), bind=_bind_sort, family="shape",
    examples=(Example(((5,),), {"axis": -1}), Example(((3, 4),), {"axis": 0}),
              Example(((3, 4),), {"axis": None})),
))
