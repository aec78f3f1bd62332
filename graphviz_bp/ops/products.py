"""Products: matmul (``@``) in all rank combinations, ``np.dot``, ``np.einsum`` and the products
written with it (inner, tensordot), outer and vdot."""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, register
from ._broadcast import broadcast_shapes
from ._scatter import scatter


def _matmul_shape(shapes, params):
    a, b = shapes
    if not a or not b:
        raise ValueError("matmul does not take scalar (0-d) operands; use * for scaling")
    k_a = a[-1]
    k_b = b[0] if len(b) == 1 else b[-2]
    if k_a != k_b:
        which_b = "its only axis" if len(b) == 1 else "its axis -2"
        raise ValueError(f"inner dimensions differ: {k_a} (last axis of the left operand) != {k_b} "
                         f"({which_b} of the right operand)")
    batch = broadcast_shapes(a[:-2], b[:-2]) if len(a) > 2 or len(b) > 2 else ()
    return batch + a[-2:-1] + b[-1:] if len(b) > 1 else batch + a[-2:-1]


def _as_matrices(g, a, b):
    """Promote 1-d operands to matrices, as matmul does, and give g the matching axes."""
    if a.ndim == 1:
        a = a[np.newaxis, :]
        g = g[..., np.newaxis, :] if b.ndim > 1 else g[..., np.newaxis]
    if b.ndim == 1:
        b = b[:, np.newaxis]
        g = g[..., np.newaxis]
    return g, a, b


def _matmul_vjp0(g, ans, args, params):
    a, b = args
    if a.ndim == 2 and b.ndim == 2:
        return g @ b.T
    if a.ndim == 2 and b.ndim == 1:  # A v: the message to A is ḡ vᵀ
        return np.outer(g, b)
    if a.ndim == 1 and b.ndim == 2:  # uᵀB: the message to u is B ḡ
        return b @ g
    if a.ndim == 1 and b.ndim == 1:  # uᵀv: ḡ v
        return g * b
    g2, a2, b2 = _as_matrices(g, a, b)
    out = g2 @ np.swapaxes(b2, -1, -2)
    return out[..., 0, :] if a.ndim == 1 else out


def _matmul_vjp1(g, ans, args, params):
    a, b = args
    if a.ndim == 2 and b.ndim in (1, 2):  # A B or A v: Aᵀ ḡ
        return a.T @ g
    if a.ndim == 1 and b.ndim == 2:  # uᵀB: the message to B is u ḡᵀ
        return np.outer(a, g)
    if a.ndim == 1 and b.ndim == 1:  # uᵀv: ḡ u
        return g * a
    g2, a2, b2 = _as_matrices(g, a, b)
    out = np.swapaxes(a2, -1, -2) @ g2
    return out[..., 0] if b.ndim == 1 else out


_MATMUL_EXAMPLES = (
    Example(((3, 4), (4, 2))),
    Example(((3, 4), (4,))),
    Example(((4,), (4, 2))),
    Example(((4,), (4,))),
    Example(((2, 3, 4), (4, 5))),
    Example(((2, 1, 3, 4), (5, 4, 2))),
    Example(((4,), (2, 4, 3))),
)

register(Op(
    name="matmul", symbol="@", forward=np.matmul, vjps=(_matmul_vjp0, _matmul_vjp1),
    shape=_matmul_shape, numpy=(np.matmul,), examples=_MATMUL_EXAMPLES, family="linalg",
))


# np.dot: a product over the last axis of a and the second-to-last of b (the only axis of a 1-d b);
# a scalar operand makes it a plain product.
def _dot_shape(shapes, params):
    a, b = shapes
    if not a or not b:
        return broadcast_shapes(a, b) if not a and not b else (a or b)
    k_b = b[0] if len(b) == 1 else b[-2]
    if a[-1] != k_b:
        which_b = "its only axis" if len(b) == 1 else "its axis -2"
        raise ValueError(f"inner dimensions differ: {a[-1]} (last axis of the left operand) != {k_b} "
                         f"({which_b} of the right operand)")
    return a[:-1] if len(b) == 1 else a[:-1] + b[:-2] + b[-1:]


def _dot_vjp0(g, ans, args, params):
    a, b = args
    if a.ndim == 0 or b.ndim == 0:
        return g * b
    if b.ndim == 1:
        return g[..., np.newaxis] * b
    g_axes = list(range(a.ndim - 1, g.ndim))
    b_axes = list(range(b.ndim - 2)) + [b.ndim - 1]
    return np.tensordot(g, b, axes=(g_axes, b_axes))


def _dot_vjp1(g, ans, args, params):
    a, b = args
    if a.ndim == 0 or b.ndim == 0:
        return g * a
    lead = list(range(a.ndim - 1))
    out = np.tensordot(a, g, axes=(lead, lead))  # (k,) + b.shape[:-2] + (m,), or (k,) for 1-d b
    return out if b.ndim == 1 else np.moveaxis(out, 0, -2)


def _bind_dot(a, b, out=None):
    if out is not None:
        raise UnsupportedOpError("np.dot(..., out=...) is not supported: graphviz_bp records new "
                                 "values and never writes into existing arrays")
    return (a, b), {}


register(Op(
    name="dot", symbol="dot", forward=np.dot, vjps=(_dot_vjp0, _dot_vjp1), shape=_dot_shape,
    numpy=(np.dot,), family="linalg", methods=("dot",),
    bind=_bind_dot,
    examples=_MATMUL_EXAMPLES[:4] + (
        Example(((2, 3, 4), (5, 4, 2))),
        Example(((), (3, 2))),
        Example(((3,), ())),
    ),
))


# --- einsum and the products written with it ----------------------------------------------------------
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _shape_of(a):
    return tuple(a.shape) if hasattr(a, "shape") else np.shape(a)


def _explicit(subscripts: str, shapes) -> tuple[tuple[str, ...], str]:
    """Einsum subscripts in explicit form with ``...`` replaced by letters: (inputs, output)."""
    subscripts = subscripts.replace(" ", "")
    ins_text, arrow, out = subscripts.partition("->")
    ins = ins_text.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum subscripts name {len(ins)} operands, {len(shapes)} given")
    free = [c for c in _LETTERS if c not in subscripts]
    n_ell = max([len(s) - (len(t) - 3) for t, s in zip(ins, shapes) if "..." in t], default=0)
    ell = "".join(free[:n_ell])
    expanded = []
    for t, s in zip(ins, shapes):
        if "..." in t:
            k = len(s) - (len(t) - 3)
            t = t.replace("...", ell[n_ell - k:] if k else "")
        if len(t) != len(s) or not all(c in _LETTERS for c in t):
            raise ValueError(f"einsum subscripts {t!r} do not fit an operand of shape {s}")
        expanded.append(t)
    if arrow:
        out = out.replace("...", ell)
    else:
        counts = {c: "".join(expanded).count(c) for c in "".join(expanded)}
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    return tuple(expanded), out


def _letter_sizes(ins, shapes):
    sizes: dict[str, int] = {}
    for t, s in zip(ins, shapes):
        for c, d in zip(t, s):
            if sizes.get(c, 1) not in (1, d) and d != 1:
                raise ValueError(f"index {c!r} has size {sizes[c]} in one operand and {d} in another")
            if d != 1 or c not in sizes:
                sizes[c] = d
    return sizes


def _einsum_shape(shapes, params):
    ins, out = _explicit(params["subscripts"], shapes)
    sizes = _letter_sizes(ins, shapes)
    return tuple(sizes[c] for c in out)


def einsum_grad(ins, out, args, g, argnum):
    """∂(einsum)/∂(operand argnum) applied to g: an einsum of g with the other operands.

    Indices that only operand ``argnum`` carries (summed within it) get the gradient broadcast along
    them; an index repeated within the operand (a diagonal) gets it on that diagonal only.
    """
    mine = ins[argnum]
    others = [(t, a) for j, (t, a) in enumerate(zip(ins, args)) if j != argnum]
    unique = "".join(dict.fromkeys(mine))
    available = set(out).union(*(set(t) for t, _ in others))
    target = "".join(c for c in unique if c in available)
    spec = ",".join([out] + [t for t, _ in others]) + "->" + target
    r = np.einsum(spec, g, *[a for _, a in others])
    sizes = dict(zip(mine, args[argnum].shape))
    sizes.update({c: max(sizes[c], d) for c, d in zip(target, r.shape)})  # a broadcast length-1 axis
    missing = [i for i, c in enumerate(unique) if c not in available]
    if missing:
        r = np.broadcast_to(np.expand_dims(r, tuple(missing)), tuple(sizes[c] for c in unique))
    if len(unique) == len(mine):
        return np.transpose(r, [unique.index(c) for c in mine]) if unique != mine else r
    # r on the diagonal: one index array per subscript of the operand, over the grid of its letters
    index = tuple(np.arange(sizes[c]).reshape([-1 if u == c else 1 for u in unique]) for c in mine)
    return scatter(r, tuple(sizes[c] for c in mine), index, text=f"einsum {mine}->{unique}", unique=True)


def _bind_einsum(subscripts, *operands, out=None, optimize=False, **kwargs):
    if not isinstance(subscripts, str):
        raise UnsupportedOpError("np.einsum in the (operand, sublist, ...) form is not supported; "
                                 "pass a subscripts string such as 'ij,jk->ik'")
    if out is not None or kwargs:
        raise UnsupportedOpError("np.einsum(..., out=/dtype=/casting=) is not supported")
    ins, outs = _explicit(subscripts, [_shape_of(a) for a in operands])
    return operands, {"subscripts": subscripts, "inputs": ins, "output": outs}


def _einsum_forward(*operands, subscripts, inputs, output):
    return np.einsum(subscripts, *operands)


def _einsum_vjp(g, ans, args, params, argnum):
    return einsum_grad(params["inputs"], params["output"], args, g, argnum)


def _es(shapes, subscripts):
    """An einsum example: params as the binder makes them, and the NumPy call a user writes."""
    ins, out = _explicit(subscripts, shapes)
    return Example(shapes, {"subscripts": subscripts, "inputs": ins, "output": out},
                   call=lambda fn, *ops: fn(subscripts, *ops))


register(Op(
    name="einsum", symbol="einsum", forward=_einsum_forward, vjps=(_einsum_vjp,), shape=_einsum_shape,
    numpy=(np.einsum,), bind=_bind_einsum, family="linalg", variadic=True,
    label=lambda params, constants: f"einsum {params['subscripts']}" if params.get("subscripts") else "einsum",
    examples=(
        _es(((3, 4), (4, 2)), "ij,jk->ik"),
        _es(((3, 4),), "ij->j"),
        _es(((3, 3),), "ii"),
        _es(((3, 3), (3,)), "ii,i->i"),
        _es(((2, 3, 4), (2, 4, 5)), "bij,bjk->bik"),
        _es(((2, 3, 4), (4,)), "...j,j->..."),
        _es(((3,), (4,), (3, 4)), "i,j,ij"),
    ),
))


def _product(name, symbol, numpy_fn, spec_of, examples):
    """A product declared as an einsum whose subscripts depend on the operands' ranks."""
    def bind(a, b, out=None):
        if out is not None:
            raise UnsupportedOpError(f"np.{name}(..., out=...) is not supported")
        ins, outs = spec_of(len(_shape_of(a)), len(_shape_of(b)))
        return (a, b), {"inputs": ins, "output": outs}

    def shape(shapes, params):
        sizes = _letter_sizes(params["inputs"], shapes)
        return tuple(sizes[c] for c in params["output"])

    register(Op(
        name=name, symbol=symbol, forward=lambda a, b, inputs, output: numpy_fn(a, b),
        vjps=tuple((lambda k: lambda g, ans, args, p: einsum_grad(p["inputs"], p["output"], args, g, k))(k)
                   for k in (0, 1)),
        shape=shape, numpy=(numpy_fn,), bind=bind, family="linalg",
        examples=tuple(Example(s, dict(zip(("inputs", "output"), spec_of(len(s[0]), len(s[1])))),
                               call=lambda fn, a, b: fn(a, b)) for s in examples),
    ))


def _inner_spec(p, q):
    if p == 0 or q == 0:
        a, b = _LETTERS[:p], _LETTERS[p:p + q]
        return (a, b), a + b
    a, b = _LETTERS[:p - 1] + "z", _LETTERS[p - 1:p + q - 2] + "z"
    return (a, b), a[:-1] + b[:-1]


_product("inner", "⟨·,·⟩", np.inner, _inner_spec, (((4,), (4,)), ((3, 4), (4,)), ((3, 4), (2, 4)), ((), (3,))))


def _tensordot_axes(axes, p, q):
    if isinstance(axes, (int, np.integer)):
        return list(range(p - axes, p)), list(range(axes))
    a_axes, b_axes = axes
    a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else list(a_axes)
    b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else list(b_axes)
    return [int(x) % p for x in a_axes], [int(x) % q for x in b_axes]


def _bind_tensordot(a, b, axes=2):
    p, q = len(_shape_of(a)), len(_shape_of(b))
    a_axes, b_axes = _tensordot_axes(axes, p, q)
    if len(a_axes) != len(b_axes):
        raise ValueError(f"tensordot axes {axes!r} pair {len(a_axes)} axes of a with {len(b_axes)} of b")
    la = list(_LETTERS[:p])
    lb = list(_LETTERS[p:p + q])
    for i, j in zip(a_axes, b_axes):
        lb[j] = la[i]
    out = "".join(c for i, c in enumerate(la) if i not in a_axes) + "".join(c for j, c in enumerate(lb) if j not in b_axes)
    return (a, b), {"axes": (tuple(a_axes), tuple(b_axes)), "inputs": ("".join(la), "".join(lb)), "output": out}


def _tensordot_shape(shapes, params):
    sizes = _letter_sizes(params["inputs"], shapes)
    for (t, s) in zip(params["inputs"], shapes):
        for c, d in zip(t, s):
            if sizes[c] != d:
                raise ValueError(f"contracted axes differ in length ({sizes[c]} and {d})")
    return tuple(sizes[c] for c in params["output"])


register(Op(
    name="tensordot", symbol="tensordot", forward=lambda a, b, axes, inputs, output: np.tensordot(a, b, axes),
    vjps=tuple((lambda k: lambda g, ans, args, p: einsum_grad(p["inputs"], p["output"], args, g, k))(k) for k in (0, 1)),
    shape=_tensordot_shape, numpy=(np.tensordot,), bind=_bind_tensordot, family="linalg",
    examples=tuple(Example(s, _bind_tensordot(np.empty(s[0]), np.empty(s[1]), ax)[1],
                           call=(lambda ax: lambda fn, a, b: fn(a, b, ax))(ax)) for s, ax in (
        (((2, 3, 4), (3, 4, 5)), 2), (((2, 3), (3, 2)), ([1, 0], [0, 1])), (((3,), (4,)), 0),
        (((2, 3, 4), (4, 3)), ([1, 2], [1, 0])))),
))


def _outer_vjp(k):
    def rule(g, ans, args, p):
        a, b = args
        return (g @ b.ravel()).reshape(a.shape) if k == 0 else (a.ravel() @ g).reshape(b.shape)
    return rule


register(Op(
    name="outer", symbol="⊗", forward=np.outer, vjps=(_outer_vjp(0), _outer_vjp(1)),
    shape=lambda s, p: (math.prod(s[0]), math.prod(s[1])), numpy=(np.outer,), family="linalg",
    bind=lambda a, b, out=None: ((a, b), {}) if out is None else _no_out("outer"),
    examples=(Example(((3,), (4,))), Example(((2, 2), (3,))), Example(((), (2,)))),
))


def _vdot_shape(shapes, params):
    if math.prod(shapes[0]) != math.prod(shapes[1]):
        raise ValueError(f"vdot needs operands of equal size, got {math.prod(shapes[0])} and {math.prod(shapes[1])}")
    return ()


register(Op(
    name="vdot", symbol="·", forward=np.vdot, shape=_vdot_shape, numpy=(np.vdot,), family="linalg",
    vjps=(lambda g, ans, a, p: g * a[1].reshape(a[0].shape), lambda g, ans, a, p: g * a[0].reshape(a[1].shape)),
    examples=(Example(((4,), (4,))), Example(((2, 3), (6,)))),
))


def _no_out(name):
    raise UnsupportedOpError(f"np.{name}(..., out=...) is not supported")
