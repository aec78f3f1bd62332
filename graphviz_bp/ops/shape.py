"""Shape primitives: transpose, reshape, ravel, swapaxes, expand_dims, squeeze, broadcast_to, and
the joins (concatenate, stack)."""

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
    new = (int(new),) if isinstance(new, (int, np.integer)) else tuple(int(d) for d in new)
    if str(order).upper() == "K":
        raise ValueError("reshape: order must be one of 'C', 'F', 'A' (got 'K')")
    return (a,), {"shape": new, **_order(order, "reshape", a)}


def _order(order, name, a):
    """The params of an ``order=``: none for "C" (NumPy's default), else "F" (Fortran's: the first
    index fastest). "A" is F for ``a`` laid out in Fortran's order, else C, and "K" (ravel's) the
    order of its memory: each made one of those here, by ``a``'s layout (a view written through then
    shows the entries NumPy's does); NumPy takes the letters in either case."""
    order = "C" if order is None else str(order).upper()
    if order in ("A", "K"):
        value = getattr(getattr(a, "_node", None), "value", a)
        order = "F" if np.isfortran(np.asarray(value)) else "C"
    if order == "C":
        return {}
    if order == "F":
        return {"order": order}
    raise ValueError(f"{name}: order must be one of 'C', 'F', 'A'{', K' if name == 'ravel' else ''} (got {order!r})")


register(Op(
    name="reshape", symbol="reshape",
    forward=lambda x, shape, order="C": np.reshape(x, shape, order=order),
    vjps=(lambda g, ans, a, p: np.reshape(g, a[0].shape, order=p.get("order", "C")),),
    shape=_reshape_shape, numpy=(np.reshape,), bind=_bind_reshape, family="shape", methods=("reshape",),
    label=lambda params, constants: f"reshape {format_shape(params['shape'])}"
                                    + (f" ({params['order']} order)" if params.get("order") else ""),
    examples=(Example(((3, 4),), {"shape": (2, 6)}), Example(((3, 4),), {"shape": (-1,)}),
              Example(((6,),), {"shape": (3, -1, 1)}),
              Example(((3, 4),), {"shape": (2, 6), "order": "F"}, call=lambda fn, a: fn(a, (2, 6), order="F")),
              Example(((2, 3, 2),), {"shape": (3, 4), "order": "F"}, call=lambda fn, a: fn(a, (3, 4), order="F"))),
))


def _reshaped_back(g, ans, args, p):
    return np.reshape(g, args[0].shape, order=p.get("order", "C"))  # (read back in the order read)


register(Op(
    name="ravel", symbol="ravel", forward=lambda x, order="C": np.ravel(x, order=order), vjps=(_reshaped_back,),
    family="shape", shape=lambda s, p: (math.prod(s[0]),), numpy=(np.ravel,), methods=("ravel",),
    bind=lambda a, order="C": ((a,), _order(order, "ravel", a)),
    label=lambda params, constants: "ravel" + (f" ({params['order']} order)" if params.get("order") else ""),
    examples=(Example(((3, 4),)), Example(((2, 3, 2),)),
              Example(((2, 3, 2),), {"order": "F"}, call=lambda fn, a: fn(a, order="F"))),
))


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
    bind=_bind_join("concatenate"), family="shape", variadic=True, grows=True,  # of 1-element arrays: larger than their product
    examples=(Example(((2, 3), (4, 3)), {"axis": 0}, call=lambda fn, *a: fn(a, axis=0)),
              Example(((2, 3), (2, 1), (2, 2)), {"axis": -1}, call=lambda fn, *a: fn(a, axis=-1))),
))
register(Op(
    name="stack", symbol="stack", forward=lambda *a, axis: np.stack(a, axis=axis),
    vjps=(_stack_vjp,), shape=_stack_shape, numpy=(np.stack,),
    bind=_bind_join("stack"), family="shape", variadic=True, grows=True,
    examples=(Example(((3,), (3,), (3,)), {"axis": 0}, call=lambda fn, *a: fn(a)),
              Example(((2, 3), (2, 3)), {"axis": -1}, call=lambda fn, *a: fn(a, axis=-1))),
))
