"""A small, deterministic, rule-based simplifier (no search): constants folded, scalar factors
collected in front (``½·2 = 1``, ``1·X = X``), transposes pushed through products (``(AB)ᵀ =
BᵀAᵀ``, ``(uvᵀ)ᵀ = vuᵀ``, ``(Aᵀ)ᵀ = A``), signs normalised, no-op reshapes, broadcasts, sums,
casts to floats and einsums dropped, and products of vectors and matrices that ``np.dot``'s rules
write with ``tensordot`` or ``x[..., newaxis] * y`` read as matrix products (``ḡ xᵀ``). A gather's
message is not folded into a constant even when its cotangent is one: ``−1 → [i]`` says where
the −1s go, ``C`` would not. Every rule keeps the value: the pass checks each formula numerically
anyway."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .expr import GATHER_BACK, SCATTER, SUM_TO, Expr, array_const, call, num

__all__ = ["simplify"]

_T = ops.get("transpose")
_MUL, _ADD, _SUB, _NEG, _MATMUL, _OUTER, _DIV, _INV = (ops.get(n) for n in (
    "multiply", "add", "subtract", "negative", "matmul", "outer", "divide", "inv"))


def simplify(e: Expr) -> Expr:
    """``e`` rewritten by the rules, bottom-up, until none applies.

    >>> from graphviz_bp.symbolic.expr import sym
    >>> from graphviz_bp.symbolic.printing import text
    >>> A, B = sym("A", (2, 3), "input"), sym("B", (3, 2), "input")
    >>> text(simplify(((A @ B).T).T)), text(simplify((A @ B).T)), text(simplify(0.5 * (2 * A)))
    ('AB', 'BᵀAᵀ', 'A')
    """
    memo: dict[int, Expr] = {}
    return _simplify(e, memo, [])


def _simplify(e: Expr, memo: dict[int, Expr], alive: list[Expr]) -> Expr:
    # iterative post-order over the tree, so deep formulas do not hit the recursion limit; the memo
    # is by identity (``alive`` keeps the keys' objects alive while it is used)
    stack: list[tuple[Expr, bool]] = [(e, False)]
    while stack:
        x, ready = stack.pop()
        if id(x) in memo:
            continue
        if x.simple:  # simplified already (a cotangent built by an earlier step): as it is
            memo[id(x)] = x
            alive.append(x)
            continue
        if x.kind != "call":  # a leaf (a name stays a name: its definition is simplified where made)
            memo[id(x)] = x
            alive.append(x)
            continue
        if not ready:
            stack.append((x, True))
            stack.extend((a, False) for a in x.args if id(a) not in memo)
            continue
        args = tuple(memo[id(a)] for a in x.args)
        rebuilt = x if all(a is b for a, b in zip(args, x.args)) else \
            Expr("call", x.shape, op=x.op, args=args, params=x.params)
        for _ in range(50):
            if rebuilt.kind != "call":
                break
            nxt = _rewrite(rebuilt)
            if nxt is rebuilt:
                break
            nxt = _simplify(nxt, memo, alive) if nxt.kind == "call" and any(id(a) not in memo for a in nxt.args) \
                else nxt
            rebuilt = nxt
        rebuilt.simple = True
        memo[id(x)] = rebuilt
        alive.append(x)
    return memo[id(e)]


def _is_num(e: Expr, value: float | None = None) -> bool:
    return e.kind == "num" and (value is None or float(e.value) == value)


def _const(e: Expr) -> bool:
    return e.kind in ("num", "array")


def _uniform(e: Expr) -> float | None:
    """The one value of a constant whose entries are all equal."""
    if e.kind == "num":
        return float(e.value)
    if e.kind == "array" and e.value.size and np.all(e.value == e.value.flat[0]):
        return float(e.value.flat[0])
    return None


def _scale(c: float, x: Expr) -> Expr:
    if c == 1:
        return x
    return Expr("call", x.shape, op=_MUL, args=(num(c), x))


def _split(e: Expr) -> tuple[float, Expr]:
    """(c, X) with e = c·X, c a number."""
    if e.kind == "call" and e.op is _MUL and e.args[0].kind == "num" and e.shape == e.args[1].shape:
        return float(e.args[0].value), e.args[1]
    if e.kind == "call" and e.op is _NEG:
        c, x = _split(e.args[0])
        return -c, x
    return 1.0, e


def _rewrite(e: Expr) -> Expr:
    """One rule applied at the top of ``e``, or ``e`` itself."""
    op, args = e.op, e.args
    if all(_const(a) for a in args) and (op.name != "index" or not args[0].shape) and \
            op.name not in _KEPT:  # fold constants
        try:
            value = np.asarray(op.forward(*[a.value if a.kind == "array" else np.asarray(a.value, dtype=float)
                                            for a in args], **e.params), dtype=float)
        except Exception:  # noqa: BLE001 - keep the call as written
            return e
        return array_const(value)
    name = op.name
    if (name in _LINEAR_IN_ALL and any(_uniform(a) == 0 for a in args)) or \
            (name in _LINEAR_IN_FIRST and args and _uniform(args[0]) == 0):
        return array_const(np.zeros(e.shape))  # 0·X, 0 ⊘ X, −0, a zero message put back: 0
    if name == "transpose" and e.params.get("axes") is not None and \
            tuple(e.params["axes"]) == tuple(reversed(range(e.ndim))):  # all axes reversed: plain ᵀ
        return call(_T, args, {"axes": None})
    if name == "transpose" and e.params.get("axes") is None:
        (x,) = args
        if x.ndim < 2:
            return x
        if x.kind == "call" and x.op is _T and x.params.get("axes") is None:
            return x.args[0]
        if x.kind == "call" and x.op is _MATMUL and x.args[0].ndim == 2 and x.args[1].ndim == 2:
            return call(_MATMUL, (_t(x.args[1]), _t(x.args[0])))
        if x.kind == "call" and x.op is _OUTER:
            return call(_OUTER, (x.args[1], x.args[0]))
        c, inner = _split(x)
        if c != 1:
            return _scale(c, _t(inner))
        return e
    if name == "multiply":
        a, b = args
        for p, q in ((a, b), (b, a)):  # x[..., newaxis] * y: xyᵀ for vectors, a scaling for a number
            x = p.args[0] if p.kind == "call" and p.op.name == "index" and _is_newaxis(p.params["index"]) else None
            if x is not None and q.ndim == 1:
                if x.ndim == 1:
                    return call(_OUTER, (x, q))
                if x.ndim == 0:
                    return call(_MUL, (x, q))
        for p, q in ((a, b), (b, a)):
            u = _uniform(p)
            if u is not None and q.shape == e.shape:
                if u == 1:
                    return q
                if p.kind != "num" or p is b:  # the number goes first
                    return _scale(u, q)
        ca, xa = _split(a)
        cb, xb = _split(b)
        if (ca != 1 or cb != 1) and a.kind != "num":
            return _scale(ca * cb, call(_MUL, (xa, xb)))
        if a.kind == "num" and b.kind == "call" and b.op is _MUL and b.args[0].kind == "num":
            return _scale(float(a.value) * float(b.args[0].value), b.args[1])
        if a.kind == "num" and b.kind == "call" and b.op is _NEG:
            return _scale(-float(a.value), b.args[0])
        return e
    if name == "matmul":
        a, b = args
        for p, q, other_first in ((a, b, False), (b, a, True)):
            c = _scaled_identity(p)
            if c is not None and q.shape == e.shape:
                return _scale(c, q)
    if name == "solve":
        a, b = args
        c = _scaled_identity(b)
        if c is not None and b.shape == a.shape:  # A⁻¹(cI) = c A⁻¹
            return _scale(c, call(_INV, (a,)))
    if name == "tensordot" and args[0].ndim <= 2 and args[1].ndim <= 2:
        a, b = args
        (axes_a, axes_b) = e.params["axes"]
        if len(axes_a) == 1 and a.ndim and b.ndim:  # one axis contracted: a matrix product
            left = _t(a) if a.ndim == 2 and axes_a[0] == 0 else a
            return call(_MATMUL, (left, _t(b) if b.ndim == 2 and axes_b[0] == 1 else b))
        if not axes_a and a.ndim <= 1 and b.ndim <= 1:  # none: an outer product or a scaling
            return call(_OUTER if a.ndim and b.ndim else _MUL, (a, b))
        return e
    if name in ("matmul", "outer"):
        a, b = args
        if name == "matmul" and a.ndim == 1 and b.ndim == 2:  # uᵀB as the column Bᵀu
            return call(_MATMUL, (_t(b), a))
        ca, xa = _split(a)
        cb, xb = _split(b)
        if ca != 1 or cb != 1:
            return _scale(ca * cb, call(op, (xa, xb)))
        return e
    if name == "negative":
        (x,) = args
        if x.kind == "call" and x.op is _NEG:
            return x.args[0]
        if x.kind == "call" and x.op is _MUL and x.args[0].kind == "num":
            return _scale(-float(x.args[0].value), x.args[1])
        if x.kind == "call" and x.op is _SUB:
            return call(_SUB, (x.args[1], x.args[0]))
        return e
    if name == "add":
        a, b = args
        if _uniform(b) == 0 and a.shape == e.shape:
            return a
        if _uniform(a) == 0 and b.shape == e.shape:
            return b
        cb, xb = _split(b)
        if cb < 0:
            return call(_SUB, (a, _scale(-cb, xb)))
        ca, xa = _split(a)
        if ca < 0:
            return call(_SUB, (b, _scale(-ca, xa)))
        return e
    if name == "subtract":
        a, b = args
        if _uniform(b) == 0 and a.shape == e.shape:
            return a
        cb, xb = _split(b)
        if cb < 0:
            return call(_ADD, (a, _scale(-cb, xb)))
        return e
    if name == "divide":
        a, b = args
        if b.kind == "num" and float(b.value) != 0 and a.shape == e.shape:
            return _scale(1.0 / float(b.value), a)
        return e
    if name == "power":
        a, b = args
        if _is_num(b, 1.0):
            return a
        return e
    if name == "inv" and args[0].kind == "call" and args[0].op is _T:  # (Aᵀ)⁻¹ = (A⁻¹)ᵀ
        return _t(call(op, (args[0].args[0],)))
    if name == "swapaxes" and e.ndim == 2:
        return _t(args[0])
    if name == "index" and len(args) == 1 and _whole(e.params["index"]) and args[0].shape == e.shape:
        return args[0]  # x[...], x[:, :]: x itself
    if name == "setitem" and len(args) == 2 and _whole(e.params["index"]) and args[1].shape == e.shape:
        return args[1]  # (a with [...] ← v): every entry overwritten, v (a buffer's += or [:] =)
    if name in ("broadcast_to", SUM_TO.name, "reshape", "squeeze", "expand_dims", "copy"):
        if args[0].shape == e.shape:
            return args[0]
        return e
    if name == "astype":  # an expression's values are floats: a cast to floats changes nothing
        return args[0] if np.dtype(e.params["dtype"]).kind == "f" and args[0].shape == e.shape else e
    if name == "einsum" and len(args) == 1:
        ins, out = e.params["inputs"][0], e.params["output"]
        return args[0] if ins == out and len(set(ins)) == len(ins) else e  # 'ij->ij'
    if name == "where":
        c, a, b = args
        u = _uniform(c)
        if u is not None:
            chosen = a if u else b
            if chosen.shape == e.shape:
                return chosen
        return e
    return e


_KEPT = (SCATTER.name, GATHER_BACK.name)
# ops that are 0 when any operand is 0, and ops that are 0 when their first operand is (the others
# are indices, divisors, shapes)
_LINEAR_IN_ALL = frozenset({"multiply", "matmul", "outer", "tensordot", "einsum", "dot", "inner", "kron"})
_LINEAR_IN_FIRST = frozenset({"divide", "negative", "transpose", "sum", SUM_TO.name, "reshape", "broadcast_to",
                              "index", SCATTER.name, GATHER_BACK.name, "squeeze", "expand_dims", "swapaxes",
                              "moveaxis", "trace", "diagonal", "take", "take_along_axis", "repeat", "tile",
                              "flip", "roll", "rot90", "cumsum"})


def _whole(index: Any) -> bool:
    """Whether ``index`` reads every entry as it is: ``...``, ``:`` or several ``:`` (one ``...``)."""
    items = index if isinstance(index, tuple) else (index,)
    return sum(i is Ellipsis for i in items) <= 1 and \
        all(i is Ellipsis or (type(i) is slice and i == slice(None)) for i in items)


def _is_newaxis(index: Any) -> bool:
    return isinstance(index, tuple) and len(index) == 2 and index[0] is Ellipsis and index[1] is None


def _scaled_identity(e: Expr) -> float | None:
    """c when ``e`` is the constant c·I (a square matrix)."""
    if e.kind != "array" or e.ndim != 2 or e.shape[0] != e.shape[1] or not e.shape[0]:
        return None
    c = float(e.value[0, 0])
    return c if np.array_equal(e.value, c * np.eye(e.shape[0])) else None


def _t(x: Expr) -> Expr:
    return x if x.ndim < 2 else call(_T, (x,), {"axes": None})
