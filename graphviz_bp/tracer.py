"""Tracing: ``Traced`` stands in for an array, records every op it meets, and ``record`` builds a DAG."""

from __future__ import annotations

import contextvars
import math
import os
import sys
from typing import Any, Callable, Mapping

import numpy as np

from . import ops
from .errors import (GraphvizBPError, MemoryLimitError, OpError, ShapeError, TraceError,
                     UnsupportedOpError)
from .graph import DAG, Edge, Node, Source, finish
from .ops import Op
from .ops.shape import Slot

__all__ = ["Traced", "apply", "at", "name", "record"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep
_ADD, _SUB, _MUL, _DIV, _POW, _NEG, _MATMUL, _TRANSPOSE, _SUM, _MEAN, _RESHAPE, _DOT, _INDEX = (
    ops.get(n) for n in ("add", "subtract", "multiply", "divide", "power", "negative", "matmul",
                         "transpose", "sum", "mean", "reshape", "dot", "index")
)


#: Where ops are being made when that is not a Python line of the user's (an expression of the CLI
#: or of a Sphinx directive, being interpreted): set by ``at``.
_SOURCE: contextvars.ContextVar[Source | None] = contextvars.ContextVar("graphviz_bp_source", default=None)


class at:
    """``with at(source):`` ops recorded inside are attributed to ``source`` (an expression's part)
    instead of the Python line that runs them."""

    __slots__ = ("source", "_token")

    def __init__(self, source: Source) -> None:
        self.source = source

    def __enter__(self) -> Source:
        self._token = _SOURCE.set(self.source)
        return self.source

    def __exit__(self, *exc: Any) -> None:
        _SOURCE.reset(self._token)


def _caller() -> Source | None:
    """The innermost frame outside graphviz_bp and NumPy: the user's line that made the op (or the
    expression part set by ``at``)."""
    source = _SOURCE.get()
    if source is not None:
        return source
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith((_PACKAGE_DIR, _NUMPY_DIR)):
        f = f.f_back
    if f is None:
        return None
    return Source(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Tape:
    """The nodes of one trace, in the order they were made (a topological order)."""

    __slots__ = ("nodes", "active", "limit", "held")

    def __init__(self, limit: int | None = None) -> None:
        self.nodes: list[Node] = []
        self.active = True
        self.limit = limit  # bytes the trace may create (None: no limit)
        self.held = 0       # bytes created so far

    def admit(self, op: Op, values: list[np.ndarray], params: dict[str, Any], source: Source | None) -> None:
        """Refuse, before NumPy allocates it, a result that would take the trace over its limit.

        The product of the operands' sizes (and of index arrays among the params) bounds the
        result's size for every op not declared to grow (``Op.grows``: ``diag``, ``broadcast_to``);
        only when that bound is over the limit is the op's shape rule asked for the exact size, so
        the common case costs a few multiplications.
        """
        limit = self.limit
        if limit is None:
            return
        room = limit - self.held
        bound = 16  # bytes: the widest real dtype (float128); the exact check below uses the real one
        for v in values:
            bound *= v.size or 1
        if params:
            for p in params.values():
                for part in (p if type(p) is tuple else (p,)):
                    if type(part) is np.ndarray:
                        bound *= part.size or 1
        if bound <= room and not op.grows:
            return
        itemsize = max([8] + [v.itemsize for v in values])
        try:
            shape = tuple(op.shape([v.shape for v in values], params))
        except Exception:  # noqa: BLE001 - the op itself will fail and explain why
            return
        size = math.prod(shape)
        if size * itemsize > room:
            what = f"{_describe(op, [v.shape for v in values])}: its result, of shape {shape},"
            raise MemoryLimitError(what, size * itemsize, limit, self.held,
                                   str(source) if source is not None else None)

    def leaf(self, kind: str, value: Any, name: str | None = None, source: Source | None = None) -> Node:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            what = "complex numbers are not supported" if arr.dtype.kind == "c" else \
                "only real numbers and numeric arrays can be traced"
            raise TraceError(f"cannot use {type(value).__name__} value {_short(value)} as an array "
                             f"(dtype {arr.dtype}): {what}")
        differentiable = kind == "input" and arr.dtype.kind == "f"
        node = Node(kind, arr, name=name, differentiable=differentiable, source=source)
        self.nodes.append(node)
        return node


def _describe(op: Op, shapes: list[tuple[int, ...]]) -> str:
    shown = " and ".join(str(s) for s in shapes) if len(shapes) > 1 else str(shapes[0])
    return f"{op.name} ({op.symbol}) on shape{'s' if len(shapes) > 1 else ''} {shown}"


def _op_error(op: Op, values: list[np.ndarray], params: dict[str, Any], source: Source | None,
              numpy_error: Exception) -> GraphvizBPError:
    """A ShapeError when the op's shape rule refuses the shapes (its reason names the axes), else
    an OpError with NumPy's reason (a singular matrix, say)."""
    shapes = [v.shape for v in values]
    where = str(source) if source is not None else None
    try:
        op.shape(shapes, params)
    except (ValueError, IndexError) as exc:
        return ShapeError(f"{_describe(op, shapes)}: {exc}", where)
    return OpError(f"{_describe(op, shapes)} failed: {numpy_error}", where)


def apply(op: Op, *operands: Any, **params: Any) -> Any:
    """Record ``op`` on ``operands`` (Traced values, arrays or numbers) and return the Traced result.

    Plain arrays and numbers become constant leaves. If no operand is traced, the op is just computed.
    """
    tape = None
    for a in operands:
        if type(a) is Traced:
            if tape is None:
                tape = a._tape
            elif a._tape is not tape:
                raise TraceError(f"{op.name}: operands come from two different traces")
    if tape is None:  # nothing traced: just compute (so graphviz_bp.functions work on arrays)
        return op.forward(*[np.asarray(a) for a in operands], **params)
    if not tape.active:
        raise TraceError(f"{op.name}: a traced value was used after its trace finished")

    source = _caller()
    srcs = []
    values = []
    differentiable = False
    for a in operands:
        n = a._node if type(a) is Traced else tape.leaf("const", _constant(a, operands), source=source)
        srcs.append(n)
        values.append(n.value)
        differentiable = differentiable or n.differentiable
    tape.admit(op, values, params, source)
    try:
        out = op.forward(*values, **params)
    except (ValueError, IndexError) as exc:  # NumPy's reason is terse; the shape rule names axes
        raise _op_error(op, values, params, source, exc) from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if out.flags.owndata:  # a view (transpose, reshape) takes no new memory
        tape.held += out.nbytes
    node = Node("op", out, op=op, params=params, source=source,
                differentiable=differentiable and out.dtype.kind == "f")
    node.in_edges = [Edge(src, node, i) for i, src in enumerate(srcs)]
    tape.nodes.append(node)
    return Traced(node, tape)


def _constant(value: Any, operands: tuple[Any, ...]) -> Any:
    """A Python number takes the dtype NumPy would give it beside the traced operands (so a float32
    array times 2.0 stays float32, as in NumPy); anything else is used as it is."""
    if type(value) in (int, float, complex, bool):
        return np.asarray(value, dtype=np.result_type(value, *(a._node.value for a in operands
                                                               if type(a) is Traced)))
    return value


def _refuse(what: str) -> Callable[..., Any]:
    def method(self: Traced, *args: Any, **kwargs: Any) -> Any:
        raise TraceError(f"{what} of a traced value would drop it from the graph "
                         f"(its gradient would be lost); keep it an array and use NumPy functions")
    return method


class Traced:
    """Stands in for an array during tracing; NumPy operators and functions on it are recorded."""

    __slots__ = ("_node", "_tape")
    __array_priority__ = 1000.0

    def __init__(self, node: Node, tape: _Tape) -> None:
        self._node = node
        self._tape = tape

    # array-like attributes ---------------------------------------------------------------------
    @property
    def value(self) -> np.ndarray:
        """The forward value this stands for."""
        return self._node.value

    shape = property(lambda self: self._node.value.shape)
    ndim = property(lambda self: self._node.value.ndim)
    size = property(lambda self: self._node.value.size)
    dtype = property(lambda self: self._node.value.dtype)
    T = property(lambda self: apply(_TRANSPOSE, self, axes=None))

    def __len__(self) -> int:
        return len(self._node.value)

    def __repr__(self) -> str:
        v = self._node.value
        return f"Traced({self._node.name or self._node.kind}, shape={v.shape}, dtype={v.dtype})"

    # operators -------------------------------------------------------------------------------------
    def __add__(self, o): return apply(_ADD, self, o)
    def __radd__(self, o): return apply(_ADD, o, self)
    def __sub__(self, o): return apply(_SUB, self, o)
    def __rsub__(self, o): return apply(_SUB, o, self)
    def __mul__(self, o): return apply(_MUL, self, o)
    def __rmul__(self, o): return apply(_MUL, o, self)
    def __truediv__(self, o): return apply(_DIV, self, o)
    def __rtruediv__(self, o): return apply(_DIV, o, self)
    def __pow__(self, o): return apply(_POW, self, o)
    def __rpow__(self, o): return apply(_POW, o, self)
    def __matmul__(self, o): return apply(_MATMUL, self, o)
    def __rmatmul__(self, o): return apply(_MATMUL, o, self)
    def __neg__(self): return apply(_NEG, self)
    def __pos__(self): return self

    # comparisons give plain boolean arrays: they are not differentiable and not recorded
    def __lt__(self, o): return self._node.value < _plain(o)
    def __le__(self, o): return self._node.value <= _plain(o)
    def __gt__(self, o): return self._node.value > _plain(o)
    def __ge__(self, o): return self._node.value >= _plain(o)
    def __eq__(self, o): return self._node.value == _plain(o)  # type: ignore[override]
    def __ne__(self, o): return self._node.value != _plain(o)  # type: ignore[override]
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return bool(self._node.value)

    __float__ = _refuse("float()")
    __int__ = _refuse("int()")
    __complex__ = _refuse("complex()")
    __index__ = _refuse("Using as an index")
    def __getitem__(self, key: Any) -> Traced:
        index, arrays, text = _index_key(key)
        return apply(_INDEX, self, *arrays, index=index, text=text)

    def __iter__(self) -> Any:
        if not self.shape:
            raise TypeError("iteration over a 0-d traced value")
        return (self[i] for i in range(self.shape[0]))

    __setitem__ = _refuse("Assigning into")
    __iadd__ = _refuse("In-place +=")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TraceError("converting a traced value to a NumPy array (np.asarray, np.array or a "
                         "function graphviz_bp does not support) would drop it from the graph")

    # methods ---------------------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False): return apply(_SUM, self, axis=axis, keepdims=bool(keepdims))
    def mean(self, axis=None, keepdims=False): return apply(_MEAN, self, axis=axis, keepdims=bool(keepdims))
    def dot(self, o): return apply(_DOT, self, o)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
            axes = axes[0]
        return apply(_TRANSPOSE, self, axes=tuple(axes) if axes else None)

    def reshape(self, *shape, order="C"):
        operands, params = _RESHAPE.bind(self, *shape, order=order)
        return apply(_RESHAPE, *operands, **params)

    # NumPy protocols -------------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__":
            raise UnsupportedOpError(
                f"np.{ufunc.__name__}.{method} (a ufunc method) is not supported; call "
                f"np.{ufunc.__name__}(...) or a function such as np.sum")
        if "out" in kwargs:
            raise UnsupportedOpError(f"np.{ufunc.__name__}(..., out=...) is not supported: graphviz_bp "
                                     f"records new values and never writes into existing arrays")
        if ufunc in ops.CONSTANT_FUNCTIONS:
            return ufunc(*[_plain(a) for a in inputs], **kwargs)
        if kwargs:
            raise UnsupportedOpError(f"np.{ufunc.__name__}(...) with {', '.join(sorted(kwargs))}= "
                                     f"is not supported")
        return apply(ops.lookup(ufunc), *inputs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in ops.CONSTANT_FUNCTIONS:  # no gradient flows through these: compute on values
            return func(*_plain_all(args), **dict(zip(kwargs, _plain_all(kwargs.values()))))
        op = ops.lookup(func)
        if op.bind is not None:
            args, kwargs = op.bind(*args, **kwargs)
        out = apply(op, *args, **kwargs)
        if op.result is not None:
            return op.result(out, [_plain(a) for a in args])
        return out


def _index_key(key: Any) -> tuple[tuple[Any, ...], list[Traced], str]:
    """An index as a tuple NumPy accepts, with each traced index array replaced by a ``Slot`` (those
    arrays become operands: drawn as edges, never differentiated), and as text for the drawing,
    e.g. ``[arange(4), y]``."""
    parts = key if isinstance(key, tuple) else (key,)
    index: list[Any] = []
    arrays: list[Traced] = []
    texts: list[str] = []
    for k in parts:
        if type(k) is Traced:
            if k.dtype.kind not in "biu":
                raise TraceError(f"an index must be integers or booleans, not {k.dtype} ({k._node.name})")
            arrays.append(k)
            index.append(Slot(len(arrays), k.dtype.kind == "b"))
            texts.append(k._node.name or "index")
        elif isinstance(k, slice):
            if any(type(v) is Traced for v in (k.start, k.stop, k.step)):
                raise TraceError("slice bounds cannot be traced values")
            index.append(k)
            texts.append(":".join("" if v is None else str(v) for v in (k.start, k.stop)) +
                         ("" if k.step is None else f":{k.step}"))
        elif k is None or k is Ellipsis:
            index.append(k)
            texts.append("newaxis" if k is None else "...")
        elif isinstance(k, (int, np.integer)):
            index.append(k)
            texts.append(str(k))
        else:
            arr = np.asarray(k)
            if arr.dtype.kind not in "biu":
                raise TraceError(f"an index must be integers, slices or booleans, not {arr.dtype}")
            index.append(arr)
            kind = "mask" if arr.dtype.kind == "b" else "indices"
            texts.append(str(arr.tolist()) if arr.size <= 4 and arr.ndim <= 1
                         else f"{kind} {'×'.join(map(str, arr.shape))}")
    return tuple(index), arrays, "[" + ", ".join(texts) + "]"


def _plain(o: Any) -> Any:
    return o._node.value if type(o) is Traced else o


def _plain_all(items: Any) -> list[Any]:
    """Values with every traced value (also inside lists and tuples) replaced by its array."""
    return [type(x)(_plain_all(x)) if isinstance(x, (list, tuple)) else _plain(x) for x in items]


def name(value: Any, label: str) -> Any:
    """Give a traced intermediate a display name (``z = name(W1 @ x + b1, "z")``); returns ``value``.

    Plain arrays are returned unchanged, so the function still runs outside ``trace``.
    """
    if not isinstance(label, str) or not label:
        raise TypeError(f"name() needs a non-empty string label, got {label!r}")
    if type(value) is Traced:
        node = value._node
        if node.kind == "input":
            if label != node.name:
                raise TraceError(f"input {node.name!r} is named by its keyword; it cannot be renamed "
                                 f"to {label!r}")
        else:
            node.name = label
            node.user_named = True
    return value


def record(fn: Callable[..., Any], inputs: Mapping[str, Any], memory_limit: int | None = None) -> DAG:
    """Call ``fn(**traced_inputs)`` and return the DAG of everything the output depends on.

    ``memory_limit`` bounds the bytes of the arrays the trace creates (see ``_Tape.admit``).
    """
    tape = _Tape(memory_limit)
    traced = {}
    for key, value in inputs.items():
        if type(value) is Traced:
            raise TraceError(f"input {key!r} is already a traced value; pass its array instead")
        arr = np.asarray(value)
        if arr.dtype.kind in "biu" and not isinstance(value, np.ndarray):
            arr = arr.astype(float)  # Python numbers and lists: differentiate as floats
        traced[key] = Traced(tape.leaf("input", arr, name=key), tape)
    try:
        out = fn(**traced)
    finally:
        tape.active = False
    if type(out) is not Traced:
        raise TraceError(
            f"{getattr(fn, '__name__', 'the function')} returned {type(out).__name__}, not a value "
            f"computed from its inputs ({', '.join(inputs) or 'none given'}); return one array "
            f"computed with NumPy operations on them")
    return finish(tape.nodes, out._node)
