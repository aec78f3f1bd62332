"""Stacking, splitting, padding and tiling: hstack, vstack, column_stack, dstack, split, array_split,
pad, tile.

The stacks are their own ops (drawn ``hstack``, ``vstack``...), not concatenations with reshapes
before them: the drawing shows the one call the user wrote. Each piece of a split is a node of its
own (``split[k]``). pad and tile copy entries of their operand to new places, so their VJP is one
rule (``gather_back``): the index of the source entry is found by applying the same function to
the array of indices, and the cotangent is summed back by those indices (a constant pad's VJP is
simply the block of the cotangent where the array was put).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, format_shape, register
from ._broadcast import normalize_axis
from ._scatter import gather_back, scatter
from ._scatter import positions as _positions


# --- hstack, vstack, column_stack, dstack: one node each, one operand per array ---------------------
def _as_column(s):
    return (1, 1) if len(s) == 0 else (s[0], 1) if len(s) == 1 else s


# name -> (how each operand's shape is promoted, the axis joined, given the promoted ndim)
_STACKS = {
    "hstack": (lambda s: s or (1,), lambda nd: 0 if nd == 1 else 1),
    "vstack": (lambda s: (1,) * (2 - len(s)) + s if len(s) < 2 else s, lambda nd: 0),
    "column_stack": (_as_column, lambda nd: 1),
    "dstack": (lambda s: (1, 1, 1) if len(s) == 0 else (1, s[0], 1) if len(s) == 1
               else s + (1,) if len(s) == 2 else s, lambda nd: 2),
}


def _stack_layout(name, shapes):
    """The promoted operand shapes and the joined axis of ``np.<name>``."""
    promote, axis = _STACKS[name]
    promoted = [tuple(promote(tuple(s))) for s in shapes]
    return promoted, axis(len(promoted[0]))


def _stack_shape(name):
    def rule(shapes, params):
        promoted, axis = _stack_layout(name, shapes)
        first = promoted[0]
        for s in promoted[1:]:
            if len(s) != len(first) or any(d != e for i, (d, e) in enumerate(zip(s, first)) if i != axis):
                raise ValueError(f"shapes {' and '.join(map(str, shapes))} differ outside the joined axis "
                                 f"{axis} (after np.{name} gives them {len(first)} dimensions)")
        return first[:axis] + (sum(s[axis] for s in promoted),) + first[axis + 1:]
    return rule


def _stack_vjp(name):
    def rule(g, ans, args, p, argnum):
        promoted, axis = _stack_layout(name, [a.shape for a in args])
        start = sum(s[axis] for s in promoted[:argnum])
        index = [slice(None)] * g.ndim
        index[axis] = slice(start, start + promoted[argnum][axis])
        return np.reshape(g[tuple(index)], args[argnum].shape)
    return rule


def _bind_stack(name):
    def bind(tup, *, dtype=None, casting="same_kind"):
        if dtype is not None:
            raise UnsupportedOpError(f"np.{name}(..., dtype=...) is not supported; cast the arrays first")
        arrays = tuple(tup)
        if not arrays:
            raise ValueError(f"np.{name} needs at least one array")
        return arrays, {}
    return bind


for _name, _examples in (
    ("hstack", (((3,), (2,)), ((2, 3), (2, 1), (2, 2)), ((), (2,)))),
    ("vstack", (((3,), (3,)), ((2, 3), (1, 3), (3,)), ((), ()))),
    ("column_stack", (((3,), (3,)), ((3, 2), (3,)), ((), ()))),
    ("dstack", (((3,), (3,)), ((2, 3), (2, 3, 2)), ((), ()))),
):
    register(Op(
        name=_name, symbol=_name, forward=(lambda f: lambda *a: f(a))(getattr(np, _name)),
        vjps=(_stack_vjp(_name),), shape=_stack_shape(_name), numpy=(getattr(np, _name),),
        bind=_bind_stack(_name), family="joining", variadic=True, grows=True,  # of scalars: larger
        examples=tuple(Example(s, call=lambda fn, *a: fn(a)) for s in _examples),
    ))


# --- split and array_split: a list of pieces, one node each ---------------------------------------
def _split_points(n, sections, even, name):
    """The pieces' (start, stop) along an axis of length ``n``, as NumPy's split loop slices them."""
    if isinstance(sections, int):
        if sections <= 0:
            raise ValueError(f"np.{name}: the number of sections must be larger than 0")
        if even and n % sections:
            raise ValueError(f"np.{name}: an axis of length {n} does not split into {sections} equal sections")
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        points = [0] + [int(v) for v in np.cumsum(sizes)]
    else:
        points = [0, *sections, n]
    return list(zip(points[:-1], points[1:]))


def _split_slice(ndim, params, n, name):
    axis = normalize_axis(params["axis"], ndim)[0]
    start, stop = _split_points(n, params["sections"], name == "split", name)[params.get("piece", 0)]
    index = [slice(None)] * ndim
    index[axis] = slice(start, stop)
    return tuple(index)


def _bind_split(name):
    def bind(ary, indices_or_sections, axis=0):
        s = indices_or_sections
        if isinstance(s, numbers.Integral) or (isinstance(s, np.ndarray) and s.ndim == 0):
            sections = int(s)
        else:
            sections = tuple(int(v) for v in np.asarray(s).reshape(-1))
        params = {"sections": sections, "axis": int(axis)}
        shape = np.shape(ary.value if hasattr(ary, "value") else ary)
        _split_points(shape[normalize_axis(params["axis"], len(shape))[0]] if shape else 0,
                      sections, name == "split", name)  # refuse an uneven np.split before recording
        return (ary,), params
    return bind


def _split_shape(name):
    def rule(shapes, params):
        s = shapes[0]
        if not s:
            raise ValueError(f"np.{name} needs an array of at least one dimension")
        axis = normalize_axis(params["axis"], len(s))[0]
        index = _split_slice(len(s), params, s[axis], name)[axis]
        return s[:axis] + (len(range(s[axis])[index]),) + s[axis + 1:]
    return rule


def _split_forward(name):
    def forward(a, sections, axis, piece=0):
        p = {"sections": sections, "axis": axis, "piece": piece}
        return a[_split_slice(a.ndim, p, a.shape[normalize_axis(axis, a.ndim)[0]], name)]
    return forward


def _split_vjp(name):
    def rule(g, ans, args, p):
        x = args[0]  # the piece's cotangent, in zeros where the other pieces were
        return scatter(g, x.shape, _split_slice(x.ndim, p, x.shape[normalize_axis(p["axis"], x.ndim)[0]], name),
                       unique=True)
    return rule


def _split_label(name):
    def label(params, constants):
        axis = params.get("axis", 0)
        return f"{name}[{params.get('piece', 0)}]" + (f" axis {axis}" if axis else "")
    return label


def _pieces(params):
    s = params["sections"]
    return s if isinstance(s, int) else len(s) + 1


for _name, _examples in (
    ("split", ((((6,),), 3, 0, 1), (((2, 6),), 3, 1, 2), (((5, 2),), (1, 3), 0, 0),
               (((5, 2),), (1, 3), 0, 2), (((4, 3),), (-1,), 0, 0), (((4, 3),), (3, 1), 0, 1))),
    ("array_split", ((((5,),), 3, 0, 0), (((5,),), 3, 0, 2), (((3, 7),), 2, -1, 1),
                     (((2, 5),), (2,), 1, 1), (((2, 3),), 4, 1, 3))),
):
    register(Op(
        name=_name, symbol=_name, forward=_split_forward(_name), vjps=(_split_vjp(_name),),
        shape=_split_shape(_name), numpy=(getattr(np, _name),), bind=_bind_split(_name),
        family="joining", label=_split_label(_name), pieces=_pieces,
        examples=tuple(Example(shapes, {"sections": s, "axis": ax, "piece": k},
                               call=(lambda s, ax, k: lambda fn, a: fn(a, list(s) if isinstance(s, tuple)
                                                                         else s, axis=ax)[k])(s, ax, k))
                       for shapes, s, ax, k in _examples),
    ))


# --- pad ---------------------------------------------------------------------------------------------
#: The modes that copy entries of the array (a gather, so ``gather_back`` is their VJP); ``constant``
#: also writes constants, which take no gradient.
_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _pairs(value, ndim, what):
    """``pad_width`` or ``constant_values`` as one ``(before, after)`` pair per axis, as NumPy
    broadcasts it (an int, a pair, or one pair per axis)."""
    arr = np.asarray(value)
    try:
        pairs = np.broadcast_to(arr, (ndim, 2))
    except ValueError:
        raise ValueError(f"np.pad: {what} {value!r} does not fit an array of {ndim} dimensions") from None
    return tuple(tuple(v.item() for v in row) for row in pairs)


def _bind_pad(array, pad_width, mode="constant", **kwargs):
    if callable(mode) or mode not in _PAD_MODES:
        raise UnsupportedOpError(f"np.pad(..., mode={mode!r}) is not supported; graphviz_bp supports "
                                 f"the modes {', '.join(map(repr, _PAD_MODES))}")
    allowed = {"constant": {"constant_values"}, "reflect": {"reflect_type"},
               "symmetric": {"reflect_type"}}.get(mode, set())
    for key, value in kwargs.items():
        if key not in allowed:
            raise TypeError(f"np.pad: unsupported keyword argument {key!r} for mode {mode!r}")
        if type(value).__name__ == "Traced":
            raise UnsupportedOpError("np.pad(..., constant_values=<traced value>) is not supported: "
                                     "the padding values are constants; pad with 0 and add them")
    if kwargs.get("reflect_type", "even") != "even":
        raise UnsupportedOpError("np.pad(..., reflect_type='odd') is not supported; only 'even' is")
    ndim = len(np.shape(array.value if hasattr(array, "value") else array))
    widths = _pairs(pad_width, ndim, "pad_width")
    if any(not isinstance(w, numbers.Integral) for row in widths for w in row):
        raise TypeError(f"np.pad: pad_width must be integers, got {pad_width!r}")
    if any(w < 0 for row in widths for w in row):
        raise ValueError(f"np.pad: pad_width {pad_width!r} has negative values")
    params = {"pad_width": widths, "mode": mode}
    if mode == "constant":
        params["constant_values"] = _pairs(kwargs.get("constant_values", 0), ndim, "constant_values")
    return (array,), params


def _pad_forward(a, pad_width, mode="constant", constant_values=0):
    if a.ndim == 0:  # nothing to pad (NumPy's own pad returns a copy)
        return a.copy()
    if mode == "constant":
        return np.pad(a, pad_width, mode, constant_values=constant_values)
    return np.pad(a, pad_width, mode)


def _pad_shape(shapes, params):
    s, widths = shapes[0], params["pad_width"]
    if len(widths) != len(s):
        raise ValueError(f"pad_width has {len(widths)} pairs for an array of {len(s)} dimensions")
    if params.get("mode", "constant") != "constant" and any(d == 0 and (b or a) for d, (b, a) in zip(s, widths)):
        raise ValueError(f"can't extend an empty axis using mode {params['mode']!r}")
    return tuple(d + b + a for d, (b, a) in zip(s, widths))


def _pad_vjp(g, ans, args, p):
    shape = args[0].shape
    if not shape:
        return g
    mode = p.get("mode", "constant")
    if mode == "constant":  # the array is a block of the result: its message is that block of g
        block = tuple(slice(before, before + d) for (before, _), d in zip(p["pad_width"], shape))
        return g[block] + 0.0  # a fresh array (and 0, not −0, where g is −0, as the sums give)
    return gather_back(g, shape, np.pad(_positions(shape), p["pad_width"], mode), text=_pad_label(p, ()))


def _pad_label(params, constants):
    """``pad 1`` (every axis, both sides), ``pad 1 on axes 2, 3`` (an image batch's height and
    width), ``pad (2, 1)`` (two before, one after), else NumPy's widths, ``pad ((1, 1), (2, 0))``;
    then the mode if not constant, or the constant if not 0 (``with 5``). (Not ``pad 0×0×1×1``,
    which reads as a shape.)"""
    widths = [tuple(int(w) for w in pair) for pair in params["pad_width"]]
    padded = [k for k, pair in enumerate(widths) if pair != (0, 0)]
    sides = {widths[k] for k in padded}
    if not padded:  # (a 0-d array, or widths 0: a copy)
        shown = "0"
    elif len(sides) == 1:  # the same on every axis padded
        (b, a), = sides
        shown = (str(b) if b == a else f"({b}, {a})") + (
            "" if len(padded) == len(widths) else f" on axis {padded[0]}" if len(padded) == 1 else
            f" on axes {', '.join(map(str, padded))}")
    else:
        shown = "(" + ", ".join(f"({b}, {a})" for b, a in widths) + ")"
    mode = params.get("mode", "constant")
    if mode != "constant":
        return f"pad {shown} {mode}"
    values = {format(float(v), "g") for pair, width in zip(params.get("constant_values", ()), widths)
              for v, w in zip(pair, width) if w}  # (the sides padded only; nan once)
    return f"pad {shown}" if values <= {"0", "-0"} else \
        f"pad {shown} with {values.pop()}" if len(values) == 1 else f"pad {shown} with constants"


def _pad(shape, widths, **kw):
    return Example((shape,), {"pad_width": widths, "mode": "constant", "constant_values": ((0, 0),) * len(shape),
                              **kw}, call=lambda fn, a: fn(a, widths))


register(Op(
    name="pad", symbol="pad", forward=_pad_forward, vjps=(_pad_vjp,), shape=_pad_shape, numpy=(np.pad,),
    bind=_bind_pad, family="joining", grows=True, label=_pad_label,
    examples=(
        _pad((3, 4), ((1, 1), (1, 1))),
        Example(((3, 4),), {"pad_width": ((1, 1), (1, 1)), "mode": "constant",
                            "constant_values": ((0, 0), (0, 0))}, call=lambda fn, a: fn(a, 1)),
        Example(((4,),), {"pad_width": ((2, 1),), "mode": "constant", "constant_values": ((0, 0),)},
                call=lambda fn, a: fn(a, (2, 1))),
        Example(((2, 3, 4),), {"pad_width": ((0, 0), (1, 2), (2, 0)), "mode": "constant",
                               "constant_values": ((1.5, 1.5), (1.5, 1.5), (1.5, 1.5))},
                call=lambda fn, a: fn(a, ((0, 0), (1, 2), (2, 0)), constant_values=1.5)),
        Example(((2, 3),), {"pad_width": ((1, 0), (0, 2)), "mode": "constant",
                            "constant_values": ((-1.0, 2.0), (3.0, 4.0))},
                call=lambda fn, a: fn(a, ((1, 0), (0, 2)), "constant", constant_values=((-1.0, 2.0), (3.0, 4.0)))),
        Example(((), ), {"pad_width": (), "mode": "constant", "constant_values": ()},
                call=lambda fn, a: fn(a, 2)),
        Example(((3, 2),), {"pad_width": ((2, 1), (1, 1)), "mode": "edge"}, call=lambda fn, a: fn(a, ((2, 1), (1, 1)), "edge")),
        Example(((4,),), {"pad_width": ((3, 2),), "mode": "reflect"}, call=lambda fn, a: fn(a, (3, 2), "reflect")),
        Example(((3,),), {"pad_width": ((4, 5),), "mode": "symmetric"}, call=lambda fn, a: fn(a, (4, 5), "symmetric")),
        Example(((2, 3),), {"pad_width": ((1, 1), (4, 2)), "mode": "wrap"}, call=lambda fn, a: fn(a, ((1, 1), (4, 2)), "wrap")),
    ),
))


# --- tile --------------------------------------------------------------------------------------------
def _bind_tile(A, reps):
    r = np.asarray(reps)
    if r.dtype.kind not in "iu" or r.ndim > 1:
        raise TypeError(f"np.tile: reps must be an integer or a sequence of integers, got {reps!r}")
    if np.any(r < 0):
        raise ValueError("np.tile: reps may not be negative")
    return (A,), {"reps": tuple(int(v) for v in r.reshape(-1))}


def _tile_shape(shapes, params):
    s, reps = tuple(shapes[0]), params["reps"]
    d = max(len(s), len(reps))
    s, reps = (1,) * (d - len(s)) + s, (1,) * (d - len(reps)) + tuple(reps)
    return tuple(a * b for a, b in zip(s, reps))


def _tile_label(params, constants):
    return f"tile {format_shape(params['reps'])}"


register(Op(
    name="tile", symbol="tile", forward=lambda a, reps: np.tile(a, reps), shape=_tile_shape,
    vjps=(lambda g, ans, a, p: gather_back(g, a[0].shape, np.tile(_positions(a[0].shape), p["reps"]),
                                           text=_tile_label(p, ())),),
    numpy=(np.tile,), bind=_bind_tile, family="joining", grows=True, label=_tile_label,
    examples=(Example(((3,),), {"reps": (2,)}, call=lambda fn, a: fn(a, 2)),
              Example(((2, 3),), {"reps": (2, 1)}, call=lambda fn, a: fn(a, (2, 1))),
              Example(((3,),), {"reps": (2, 2)}, call=lambda fn, a: fn(a, (2, 2))),
              Example(((2, 1, 3),), {"reps": (3,)}, call=lambda fn, a: fn(a, 3)),
              Example(((),), {"reps": (2, 3)}, call=lambda fn, a: fn(a, [2, 3])),
              Example(((2, 2),), {"reps": (0, 2)}, call=lambda fn, a: fn(a, (0, 2)))),
))
