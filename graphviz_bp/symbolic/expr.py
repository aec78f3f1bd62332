"""Matrix expressions with shapes: leaves (inputs, named values, constants, numbers) and calls of
registry ops. An ``Expr`` speaks NumPy: operators, ``.T``, indexing, methods and NumPy functions on
it build calls of the op NumPy's function is recorded as, so a VJP rule written with NumPy, run on
expressions, gives its symbolic message. Expressions are immutable and compared by structure.

What a rule needs that no registry op is, is a pseudo-op: comparisons, ``&``, ``~``, ``np.isfinite``
and ``np.floor_divide`` (constant masks and arrays, Iverson brackets in print), ``np.tril``, and the
transposes of gathers (``ops._scatter``'s ``scatter`` and ``gather_back``: the cotangent put back
where the entries were read). A constant integer or boolean array (an index, a mask) is a value a
rule may read; anything else read as an array raises ``SymbolicError``."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .. import ops
from ..errors import UnsupportedOpError
from ..ops import Op
from ..ops._scatter import gather_back as _gather_back_rule
from ..ops._scatter import scatter as _scatter_rule
from ..ops.indexing import Slot, assigned, fill

__all__ = ["Expr", "Pseudo", "call", "num", "sym", "array_const", "freeze", "SymbolicError"]


class SymbolicError(Exception):
    """A rule cannot be written as an expression (it reads values, or calls an unsupported function)."""


class Pseudo:
    """An operation that is not a registry op but appears in formulas: a comparison (an Iverson
    bracket ``[z > 0]``), undoing broadcasting (a sum over axes), an opaque VJP. ``expr_name`` is its
    function in the expression language, when it has one (``greater``)."""

    __slots__ = ("name", "forward", "shape_rule", "symbol", "expr_name")

    def __init__(self, name: str, forward: Callable[..., Any], shape_rule: Callable[..., tuple[int, ...]],
                 symbol: str = "", expr_name: str | None = None) -> None:
        self.name = name
        self.forward = forward
        self.shape_rule = shape_rule
        self.symbol = symbol or name
        self.expr_name = expr_name

    def shape(self, shapes: Sequence[tuple[int, ...]], params: dict[str, Any]) -> tuple[int, ...]:
        return tuple(self.shape_rule(shapes, params))

    def __repr__(self) -> str:
        return f"Pseudo({self.name!r})"


def freeze(value: Any) -> Any:
    """A hashable stand-in for a param value (arrays by their bytes, slices by their bounds)."""
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.dtype.str, value.tobytes())
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    if isinstance(value, (tuple, list)):
        return (type(value).__name__,) + tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple((k, freeze(v)) for k, v in sorted(value.items()))
    if isinstance(value, np.dtype):
        return ("dtype", value.str)
    if isinstance(value, type):
        return ("type", value.__name__)
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value


def _first(e: Expr) -> Expr:
    """The earliest expression known to equal ``e`` (``Expr.same``), the path to it shortened."""
    first = e._same
    if first is e:
        return e
    while first._same is not first:
        first = first._same
    while e._same is not first:
        e._same, e = first, e._same
    return first


class Expr:
    """A matrix expression with a shape.

    ``kind`` is ``"sym"`` (a named leaf: an input, a named intermediate, a constant, an adjoint;
    ``role`` says which, ``definition`` is what a named value or adjoint stands for), ``"num"`` (a
    scalar number, ``value``), ``"array"`` (an unnamed constant array, ``value``) or ``"call"``
    (``op`` on ``args`` with ``params``).
    """

    __slots__ = ("kind", "op", "args", "params", "shape", "name", "role", "value", "definition", "_key",
                 "_hash", "simple", "_same", "__weakref__")
    __array_priority__ = 2000.0

    def __init__(self, kind: str, shape: tuple[int, ...], *, op: Any = None, args: tuple[Expr, ...] = (),
                 params: dict[str, Any] | None = None, name: str = "", role: str = "",
                 value: Any = None, definition: Expr | None = None) -> None:
        self.kind = kind
        self.shape = tuple(int(d) for d in shape)
        self.op = op
        self.args = args
        self.params = params or {}
        self.name = name
        self.role = role
        self.value = value
        self.definition = definition
        self.simple = False  # made by the simplifier: no rule applies anywhere inside it
        self._key: Any = None
        self._same: Expr = self  # an equal expression met before (see ``same``), or itself
        if kind == "call":  # from the children's hashes: constant time, however deep
            self._hash = hash(("call", op.name, tuple(a._hash for a in args), freeze(self.params)))
        else:
            self._hash = hash(self.key)

    @property
    def key(self) -> Any:
        """The expression's structure as a nested tuple (equal keys: equal expressions)."""
        if self._key is None:
            if self.kind == "call":
                self._key = ("call", self.op.name, tuple(a.key for a in self.args), freeze(self.params))
            elif self.kind == "num":
                self._key = ("num", float(self.value))
            elif self.kind == "array":
                self._key = ("array",) + freeze(np.asarray(self.value))[1:]
            else:
                self._key = ("sym", self.role, self.name, self.shape)
        return self._key

    def __hash__(self) -> int:
        return self._hash

    def same(self, other: Any) -> bool:
        """Structural equality (``==`` builds a comparison, as on arrays). Two expressions found
        equal remember it: the later one points to the earlier (``_same``), so that comparing them, or
        trees holding them, again stops there. (Comparing whole keys walked every equal subtree
        each time: sharing the formulas of an RNN's weights took 40 s.) A loop, not recursion: a
        chain of thousands of ops is compared as quickly."""
        if not isinstance(other, Expr):
            return False
        a, b = _first(self), _first(other)
        if a is b:
            return True
        if a._hash != b._hash:
            return False
        pending = [(a, b)]
        equal: list[tuple[Expr, Expr]] = []
        while pending:
            x, y = pending.pop()
            x, y = _first(x), _first(y)
            if x is y:
                continue
            if x._hash != y._hash or x.kind != y.kind or x.shape != y.shape:
                return False
            if x.kind == "call":
                if x.op.name != y.op.name or len(x.args) != len(y.args) or \
                        ((x.params or y.params) and freeze(x.params) != freeze(y.params)):
                    return False
                pending.extend(zip(x.args, y.args))
            elif x.key != y.key:
                return False
            equal.append((x, y))
        for x, y in equal:
            y._same = x
        return True

    # array-like attributes ---------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(float)

    @property
    def T(self) -> Expr:
        return call(ops.get("transpose"), (self,), {"axes": None})

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d expression")
        return self.shape[0]

    def __repr__(self) -> str:
        from .printing import text

        return f"Expr({text(self)}, shape={self.shape})"

    def __bool__(self) -> bool:
        raise SymbolicError("the truth value of an expression is not known without its values")

    # operators -----------------------------------------------------------------------------------
    def __add__(self, o: Any) -> Expr: return call(_op("add"), (self, o))
    def __radd__(self, o: Any) -> Expr: return call(_op("add"), (o, self))
    def __sub__(self, o: Any) -> Expr: return call(_op("subtract"), (self, o))
    def __rsub__(self, o: Any) -> Expr: return call(_op("subtract"), (o, self))
    def __mul__(self, o: Any) -> Expr: return call(_op("multiply"), (self, o))
    def __rmul__(self, o: Any) -> Expr: return call(_op("multiply"), (o, self))
    def __truediv__(self, o: Any) -> Expr: return call(_op("divide"), (self, o))
    def __rtruediv__(self, o: Any) -> Expr: return call(_op("divide"), (o, self))
    def __mod__(self, o: Any) -> Expr: return call(_op("remainder"), (self, o))
    def __rmod__(self, o: Any) -> Expr: return call(_op("remainder"), (o, self))
    def __pow__(self, o: Any) -> Expr: return call(_op("power"), (self, o))
    def __rpow__(self, o: Any) -> Expr: return call(_op("power"), (o, self))
    def __matmul__(self, o: Any) -> Expr: return call(_op("matmul"), (self, o))
    def __rmatmul__(self, o: Any) -> Expr: return call(_op("matmul"), (o, self))
    def __neg__(self) -> Expr: return call(_op("negative"), (self,))
    def __pos__(self) -> Expr: return self
    def __abs__(self) -> Expr: return call(_op("abs"), (self,))
    def __gt__(self, o: Any) -> Expr: return call(COMPARE[">"], (self, o))
    def __ge__(self, o: Any) -> Expr: return call(COMPARE["≥"], (self, o))
    def __lt__(self, o: Any) -> Expr: return call(COMPARE["<"], (self, o))
    def __le__(self, o: Any) -> Expr: return call(COMPARE["≤"], (self, o))
    def __eq__(self, o: Any) -> Expr: return call(COMPARE["="], (self, o))  # type: ignore[override]
    def __ne__(self, o: Any) -> Expr: return call(COMPARE["≠"], (self, o))  # type: ignore[override]
    def __and__(self, o: Any) -> Expr: return call(AND, (self, o))
    def __rand__(self, o: Any) -> Expr: return call(AND, (o, self))
    def __or__(self, o: Any) -> Expr: return call(OR, (self, o))
    def __ror__(self, o: Any) -> Expr: return call(OR, (o, self))
    def __invert__(self) -> Expr: return call(NOT, (self,))

    def copy(self, order: str = "K") -> Expr:
        """The expression itself (a copy has the same value)."""
        return self

    def __getitem__(self, key: Any) -> Expr:
        from ..indices import index_key

        index, arrays, text = index_key(key)
        if arrays:
            raise SymbolicError("indexing with a traced index array")
        return call(_op("index"), (self,), {"index": index, "text": text})

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def __float__(self) -> float:
        if self.kind == "num":
            return float(self.value)
        raise SymbolicError("float() of an expression")

    __int__ = __index__ = lambda self: _refuse_number()  # noqa: E731

    # NumPy protocols -----------------------------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self.kind == "array" and self.value.dtype.kind in "biu":  # an index or a mask: a constant
            return np.asarray(self.value, dtype=dtype)
        raise SymbolicError("an expression cannot become an array (the rule reads values)")

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or kwargs:
            raise SymbolicError(f"np.{ufunc.__name__}.{method} with {sorted(kwargs)}")
        if ufunc in _UFUNC_COMPARE:
            return call(COMPARE[_UFUNC_COMPARE[ufunc]], inputs)
        if ufunc is np.sign:
            return call(SIGN, inputs)
        if ufunc in _UFUNC_PSEUDO:
            return call(_UFUNC_PSEUDO[ufunc], inputs)
        try:
            op = ops.lookup(ufunc)
        except UnsupportedOpError:
            raise SymbolicError(f"np.{ufunc.__name__}") from None
        return call(op, inputs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        special = _FUNCTIONS.get(func)
        if special is not None:
            return special(*args, **kwargs)
        try:
            op = ops.lookup(func)
        except UnsupportedOpError:
            raise SymbolicError(f"{ops.numpy_name(func)}") from None
        return apply_numpy(op, args, kwargs)


def _refuse_number() -> Any:
    raise SymbolicError("an expression used as a Python number")


def _op(name: str) -> Op:
    return ops.get(name)


def apply_numpy(op: Op, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``op`` for a NumPy call, bound as the tracer binds it."""
    if op.bind is not None:
        args, kwargs = op.bind(*args, **kwargs)
    if op.constant is not None and op.constant(kwargs):
        if all(not isinstance(a, Expr) or a.kind in ("array", "num") for a in args):  # of constants: one
            values = [a.value if isinstance(a, Expr) else a for a in args]
            return array_const(np.asarray(op.forward(*values, **kwargs)))
        raise SymbolicError(f"{op.name} without a gradient")
    count = op.pieces(kwargs) if op.pieces is not None else None
    if count is not None:  # np.split, np.linalg.eigh: an expression per piece, as the tracer makes nodes
        pieces = [call(op, tuple(args), {**kwargs, "piece": k}) for k in range(count)]
        return op.result(pieces, ()) if op.result is not None else pieces
    if op.pieces is not None:  # this call returns one array (np.linalg.svd(..., compute_uv=False))
        return call(op, tuple(args), dict(kwargs))
    if op.result is not None:
        raise SymbolicError(f"{op.name} returns several values")
    return call(op, tuple(args), dict(kwargs))


def _method(op: Op) -> Callable[..., Any]:
    def method(self: Expr, *args: Any, **kwargs: Any) -> Any:
        return apply_numpy(op, (self, *args), kwargs)
    return method


for _o in ops.all_ops():
    for _m in _o.methods:
        if not hasattr(Expr, _m):
            setattr(Expr, _m, _method(_o))


# leaves ------------------------------------------------------------------------------------------
def num(value: float) -> Expr:
    """A scalar number."""
    v = float(value)
    return Expr("num", (), value=int(v) if v.is_integer() and abs(v) < 1e15 else v)


def sym(name: str, shape: tuple[int, ...], role: str, definition: Expr | None = None) -> Expr:
    """A named leaf: ``role`` is "input", "named" (an intermediate the user named; ``definition``
    is its expression), "const" (an array from outside the function), "adjoint" or "seed"."""
    return Expr("sym", shape, name=name, role=role, definition=definition)


def array_const(value: Any) -> Expr:
    """An unnamed constant array (a float scalar becomes a number; integer and boolean arrays, such
    as indices and masks, keep their dtype)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biu":
        arr = arr.astype(float)
        if arr.ndim == 0:
            return num(float(arr))
    return Expr("array", arr.shape, value=arr)


def as_expr(value: Any) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, (bool, np.bool_)):
        return num(float(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return num(float(value))
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return array_const(value)
    raise SymbolicError(f"a {type(value).__name__} operand")


def call(op: Any, operands: Iterable[Any], params: dict[str, Any] | None = None) -> Expr:
    """``op`` on ``operands`` (expressions, numbers or arrays), with its result's shape."""
    args = tuple(as_expr(a) for a in operands)
    params = params or {}
    if isinstance(op, Op) and _integer_constants(args):  # index arithmetic: computed, kept integers
        value = np.asarray(op.forward(*[a.value for a in args], **params))
        if value.dtype.kind in "biu":
            return array_const(value)
    try:
        shape = op.shape([a.shape for a in args], params)
    except (ValueError, IndexError, TypeError) as exc:
        raise SymbolicError(f"{op.name}: {exc}") from None
    return Expr("call", tuple(shape), op=op, args=args, params=params)


def _integer_constants(args: Sequence[Expr]) -> bool:
    """Constants only, at least one an integer or boolean array, every number a whole one."""
    return bool(args) and any(a.kind == "array" and a.value.dtype.kind in "biu" for a in args) and \
        all(a.kind == "array" or (a.kind == "num" and isinstance(a.value, int)) for a in args)


# pseudo-ops ----------------------------------------------------------------------------------------
def _broadcast_shape(shapes: Sequence[tuple[int, ...]], params: dict[str, Any]) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(*shapes))


def _compare(name: str, fn: Callable[..., Any]) -> Pseudo:
    return Pseudo(name, lambda a, b: fn(a, b).astype(float), _broadcast_shape, symbol=name, expr_name=fn.__name__)


COMPARE = {s: _compare(s, f) for s, f in
           ((">", np.greater), ("≥", np.greater_equal), ("<", np.less), ("≤", np.less_equal),
            ("=", np.equal), ("≠", np.not_equal))}
_UFUNC_COMPARE = {np.greater: ">", np.greater_equal: "≥", np.less: "<", np.less_equal: "≤",
                  np.equal: "=", np.not_equal: "≠"}
SIGN = Pseudo("sign", np.sign, lambda shapes, p: shapes[0], symbol="sign")


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    from ..ops._broadcast import unbroadcast

    return np.asarray(unbroadcast(g, tuple(shape)), dtype=float)


#: Undoing broadcasting: the sum over the axes broadcasting added or stretched, to ``shape``.
SUM_TO = Pseudo("sum_to", _sum_to, lambda shapes, p: tuple(p["shape"]), symbol="Σ")


def _opaque_forward(*args: np.ndarray, op: Op, argnum: int, count: int, params: dict[str, Any],
                    **shape: Any) -> np.ndarray:
    g, ans, operands = args[0], args[1], args[2:]
    return np.asarray(op.vjp(argnum, g, ans, list(operands), dict(params)), dtype=float)


#: The message of an op with no formula: its VJP as a named map of the cotangent and the operands.
OPAQUE = Pseudo("vjp", _opaque_forward, lambda shapes, p: tuple(p["shape"]), symbol="vjp")


def _where(condition: Any, a: Any = None, b: Any = None) -> Expr:
    if a is None or b is None:
        raise SymbolicError("np.where with one argument")
    return call(_op("where"), (condition, a, b))


def _zeros_like(a: Any, dtype: Any = None, **kw: Any) -> Any:
    return array_const(np.zeros(np.shape(a) if not isinstance(a, Expr) else a.shape))


def _ones_like(a: Any, dtype: Any = None, **kw: Any) -> Any:
    return array_const(np.ones(a.shape if isinstance(a, Expr) else np.shape(a)))


def _shape(a: Any) -> tuple[int, ...]:
    return a.shape if isinstance(a, Expr) else np.shape(a)


def _ndim(a: Any) -> int:
    return len(_shape(a))


def _asarray(a: Any, dtype: Any = None, **kw: Any) -> Any:
    return a


def _result_type(*args: Any) -> np.dtype:
    return np.result_type(*[a.dtype if isinstance(a, Expr) else a for a in args])


def _elementwise(name: str, fn: Callable[..., Any], symbol: str = "", expr_name: str | None = None) -> Pseudo:
    return Pseudo(name, lambda *a: np.asarray(fn(*a), dtype=float), _broadcast_shape, symbol=symbol or name,
                  expr_name=expr_name)


#: Masks and constant arrays (no gradient flows through them): ``&``, ``|``, ``~`` of masks,
#: ``np.isfinite``, ``np.floor_divide``; each is 0 or 1, or whole numbers, as a float array.
AND = _elementwise("and", np.logical_and, "∧", "logical_and")
OR = _elementwise("or", np.logical_or, "∨", "logical_or")
NOT = _elementwise("not", np.logical_not, "¬", "logical_not")
ISFINITE = _elementwise("isfinite", np.isfinite, expr_name="isfinite")
FLOOR_DIVIDE = _elementwise("floor_divide", np.floor_divide, "⌊/⌋", "floor_divide")
_UFUNC_PSEUDO = {np.logical_and: AND, np.bitwise_and: AND, np.logical_or: OR, np.bitwise_or: OR,
                 np.logical_not: NOT, np.invert: NOT, np.isfinite: ISFINITE, np.floor_divide: FLOOR_DIVIDE}

#: The lower triangle (``np.tril``; ``k`` as NumPy's).
TRIL = Pseudo("tril", lambda a, k=0: np.tril(a, k), lambda shapes, p: shapes[0], symbol="tril")


def _tril(a: Any, k: int = 0) -> Expr:
    return call(TRIL, (a,), {"k": int(k)} if k else {})


#: The order that sorts ``a`` along ``axis`` (``np.argsort``): indices, a constant of the formula.
ARGSORT = Pseudo("argsort", lambda a, axis=-1, kind=None: np.argsort(a, axis=axis, kind=kind),
                 lambda shapes, p: shapes[0] if p.get("axis") is not None else (math.prod(shapes[0]),),
                 symbol="argsort")


def _argsort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *, stable: Any = None) -> Expr:
    if order is not None:
        raise SymbolicError("np.argsort with order=")
    kind = "stable" if stable else kind
    return call(ARGSORT, (a,), {"axis": None if axis is None else int(axis), "kind": kind})


def _moveaxis(a: Any, source: Any, destination: Any) -> Expr:
    """``np.moveaxis`` as the transpose with those axes."""
    from ..ops._broadcast import normalize_axis

    e = as_expr(a)
    src = [normalize_axis(s, e.ndim)[0] for s in np.atleast_1d(source).tolist()]
    dst = [normalize_axis(d, e.ndim)[0] for d in np.atleast_1d(destination).tolist()]
    if len(src) != len(dst):
        raise SymbolicError("np.moveaxis: source and destination differ in length")
    order = [n for n in range(e.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    if order == list(range(e.ndim)):
        return e
    return call(_op("transpose"), (e,), {"axes": tuple(order)})


# the transposes of gathers ---------------------------------------------------------------------------
def _operand_index(index: Any, first: int) -> tuple[tuple[Any, ...], list[Expr]]:
    """An index for a pseudo-op's params: constant arrays as their values, other expressions (an
    index computed in the formula) as operands from position ``first`` on, a ``Slot`` each."""
    parts: list[Any] = []
    operands: list[Expr] = []
    for part in index if isinstance(index, tuple) else (index,):
        if isinstance(part, Expr) and part.kind == "array":
            parts.append(part.value)
        elif isinstance(part, Expr):
            operands.append(part)
            parts.append(Slot(first + len(operands) - 1))
        else:
            parts.append(part)
    return tuple(parts), operands


def _scatter_forward(g: np.ndarray, *arrays: np.ndarray, shape: tuple[int, ...], index: tuple[Any, ...],
                     text: str = "", unique: bool = False) -> np.ndarray:
    return _scatter_rule(g, shape, fill(index, (g, *(_as_index(a) for a in arrays))), text, unique)


def _as_index(a: np.ndarray) -> np.ndarray:
    """An index computed in a formula, as integers (numbers evaluate as floats: ``i % 5``)."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        if not np.array_equal(a, np.round(a)):
            raise ValueError("an index that is not a whole number")
        return a.astype(np.intp)
    return a


#: ``ḡ`` put at ``index`` in zeros of ``shape`` (repeated entries adding): the VJP of ``x[index]``,
#: take, take_along_axis, repeat, split, diagonal, sort (``ops._scatter.scatter`` evaluates it).
SCATTER = Pseudo("scatter", _scatter_forward, lambda shapes, p: tuple(p["shape"]), symbol="→")

#: ``ḡ`` summed back into the flat positions ``index`` of zeros of ``shape`` (-1: no entry): the VJP
#: of pad's other modes and tile (``ops._scatter.gather_back``).
GATHER_BACK = Pseudo("gather_back", lambda g, shape, index, text="": _gather_back_rule(g, shape, index, text),
                     lambda shapes, p: tuple(p["shape"]), symbol="→")


def _index_text(index: tuple[Any, ...]) -> str:
    from ..indices import index_key

    try:
        return index_key(index)[2]
    except Exception:  # noqa: BLE001 - an index with computed parts: say so
        return "[·]"


def _scatter(g: Any, shape: Any, index: Any, text: str = "", unique: bool = False) -> Expr:
    parts, operands = _operand_index(index, 1)
    if not text:
        text = _index_text(parts) if not operands else "[·]"
    return call(SCATTER, (g, *operands), {"shape": tuple(int(d) for d in shape), "index": parts,
                                         "text": text, "unique": bool(unique)})


def _gather_back(g: Any, shape: Any, index: Any, text: str = "") -> Expr:
    return call(GATHER_BACK, (g,), {"shape": tuple(int(d) for d in shape), "index": np.asarray(index),
                                    "text": text or "gather"})


def _assigned(a: Any, v: Any, index: Any, text: str = "") -> Expr:
    """``a`` with ``[index] = v``: the setitem op."""
    parts, operands = _operand_index(index, 2)
    return call(_op("setitem"), (a, v, *operands), {"index": parts, "text": text or _index_text(parts)})


_FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.where: _where, np.zeros_like: _zeros_like, np.ones_like: _ones_like, np.shape: _shape,
    np.ndim: _ndim, np.asarray: _asarray, np.result_type: _result_type,
    np.sign: lambda a: call(SIGN, (a,)), np.isfinite: lambda a: call(ISFINITE, (a,)),
    np.moveaxis: _moveaxis, np.tril: _tril, np.argsort: _argsort,
    _scatter_rule: _scatter, _gather_back_rule: _gather_back, assigned: _assigned,
}
