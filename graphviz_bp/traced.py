"""The traced value: ``Traced`` stands in for an array, and every operator, ndarray method and NumPy
function on it records its op (or refuses, saying what to write instead)."""

from __future__ import annotations

import builtins
import dis
import linecache
import os
import sys
import threading
import types
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import ops
from .errors import ShapeError, TraceError, UnsupportedOpError
from .graph import Node, Source
from .ops import Op
from .indices import index_key, same_basic_index, source_gather, source_index
from .ops.indexing import fill

if TYPE_CHECKING:
    from .tracer import _Tape

_ADD, _SUB, _MUL, _DIV, _POW, _NEG, _MATMUL, _TRANSPOSE, _MOD, _ABS, _COPY, _INDEX, _SETITEM, _ASTYPE, _ADD_AT = (
    ops.get(n) for n in ("add", "subtract", "multiply", "divide", "power", "negative", "matmul",
                         "transpose", "remainder", "abs", "copy", "index", "setitem", "astype", "add_at")
)


def _at_caller() -> str:
    """The end of an error message: a new line "  at" the user's line that called (its file, number and
    code), or "" when there is none. When NumPy's own code ran on traced values that the user's line
    gave it in a list (``np.percentile([a, b], 30)``: its dispatch does not look inside lists), the
    cause first."""
    where = _caller()
    if where is None:
        return ""
    listed = _list_argument(where.line or "") if _numpy_frame() else None
    if listed is not None:
        return (f" ({listed} was given a list holding traced values, which NumPy's own code took "
                f"in; make each such list an array first, e.g. {listed}(np.array([...])))\n  at {where}")
    return f"\n  at {where}{called_from()}"


def _numpy_frame() -> bool:
    """Whether NumPy's own code is running between the user's line and here."""
    f: Any = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith((_PACKAGE_DIR, _NUMPY_DIR)):
        if f.f_code.co_filename.startswith(_NUMPY_DIR):
            return True
        f = f.f_back
    return False


def _read_by_user(frame: Any) -> bool:
    """Whether ``frame``, reading a traced value by an index, is the user's code, or an array the
    user's function made (``z[neg]`` of a buffer) reading it for the user's code; not NumPy's own
    code (``np.piecewise``) nor graphviz_bp's."""
    if frame.f_code.co_name == "__getitem__" and frame.f_code.co_filename == _PACKAGE_DIR + "buffers.py":
        frame = frame.f_back
    return frame is not None and not frame.f_code.co_filename.startswith((_PACKAGE_DIR, _NUMPY_DIR))


def _refuse(what: str, instead: str = "keep it an array and use NumPy functions",
            outside: str | None = None) -> Callable[..., Any]:
    """A method refused while its trace runs; after it (a value kept on an object or in a global),
    ``outside`` names the method of its numbers that answers instead, as NumPy would. Integer and
    boolean values (labels, indices), and what is made from them alone (n[0] / 2): no gradient ever
    flows through them, and they answer so during the trace too: ``int(y[i])``, ``range(y[i])``,
    ``y.tolist()``."""
    def method(self: Traced, *args: Any, **kwargs: Any) -> Any:
        if outside is not None and not self._tape.active:
            return getattr(kept_numbers(self), outside)(*args, **kwargs)
        if outside is not None and not self._node.differentiable:
            return getattr(self._node.value, outside)(*args, **kwargs)
        caller = sys._getframe(1)  # (NumPy's store into a plain array asks for the number, then says
        while caller is not None and caller.f_code.co_filename.startswith(_PACKAGE_DIR):  # only "setting an
            caller = caller.f_back  # array element with a sequence": where it asked, the user's frame)
        _refused.at = (id(caller), caller.f_lasti) if caller is not None else None
        raise TraceError(f"{what} of a traced value would drop it from the graph "
                         f"(its gradient would be lost); {instead}" + _at_caller())
    return method


_DISCRETE = "biu"  # dtype kinds no gradient flows through: a 0-d one hashes as its number
_FLOAT_REFUSED = _refuse("float()", "use it in array arithmetic as it is (a 0-d value), or read "
                                    "x.value for the number, which is not traced", "__float__")
_INT_REFUSED = _refuse("int()", "read x.value for the number (not traced), or use x.astype(int) for "
                                "an integer array (a constant)", "__int__")
_REMAINDER = ({dis.opmap["BINARY_OP"]: {6, 19}} if "BINARY_OP" in dis.opmap else  # (NB_REMAINDER, its %=)
              {dis.opmap["BINARY_MODULO"]: None, dis.opmap["INPLACE_MODULO"]: None})


def _formatting(frame: Any) -> bool:
    """Whether ``frame`` is running ``%``, asking a traced value for its number: string formatting
    (``"%.3f" % loss``, logging's ``msg % args``); a number's ``%`` would be the traced ``__mod__``."""
    code = frame.f_code.co_code
    at = frame.f_lasti
    if not 0 <= at < len(code) - 1:
        return False
    args = _REMAINDER.get(code[at], False)
    return args is None or (args is not False and code[at + 1] in args)


def _in_place(symbol: str, operator: str) -> Callable[..., Any]:
    return _refuse(f"In-place {symbol}", f"write x = x {operator} y instead (a new value, recorded)")


def _update(op: Op, symbol: str) -> Callable[..., Any]:
    """``x op= y`` as NumPy does it: ``x`` (and every value sharing its memory) now shows
    ``x op y`` (of x's shape), cast to ``x``'s dtype under NumPy's same-kind rule; a NumPy scalar is rebound."""
    def method(self: Traced, o: Any) -> Traced:
        out = apply(op, self, o)
        if self._scalar or not self._tape.active:  # a NumPy scalar is immutable, and a value kept from
            return out  # a finished trace read-only: Python rebinds the name to the result (x = x + y)
        where = _caller()
        if out.shape != self.shape:
            raise ShapeError(f"x {symbol} y: the result has shape {out.shape} but x has shape "
                             f"{self.shape}, and an in-place update cannot change x's shape (as in "
                             f"NumPy); write x = x {symbol[:-1]} y for a new value",
                             str(where) if where is not None else None)
        if out.dtype != self.dtype:
            if not np.can_cast(out.dtype, self.dtype, casting="same_kind"):
                raise TraceError(f"x {symbol} y: cannot cast the result from {out.dtype} to x's dtype "
                                 f"{self.dtype} with casting rule 'same_kind' (as in NumPy); write "
                                 f"x = x {symbol[:-1]} y for a new value"
                                 + (f" ({where})" if where is not None else ""))
            out = apply(_ASTYPE, out, dtype=self.dtype)
        write(self, out, None)
        return self
    method.__name__ = f"__i{op.name}__"
    return method


def _unsupported(name: str, why: str) -> Callable[..., Any]:
    def method(self: Traced, *args: Any, **kwargs: Any) -> Any:
        raise UnsupportedOpError(f"x.{name}() is not supported on traced values: {why}")
    method.__name__ = name
    return method


class Traced:
    """Stands in for an array during tracing; NumPy operators and functions on it are recorded.

    Every ndarray method exists: the differentiable ones record their op (generated from the
    registry's ``Op.methods``), the gradient-free ones (``argmax``, ``any``...) compute on the
    values, and those that would leave the graph (``item``, ``tolist``, ``x.sort()``) raise a
    TraceError saying what to write instead. Assignment and ``+=`` (``-=``, ``*=``, ``/=``, ``**=``,
    ``%=``, ``@=``) update it as NumPy does: the Traced is pointed at the new node, and the values sharing
    its memory follow (``writes.py``).
    """

    __slots__ = ("_node", "_tape", "_view", "_views", "_scalar", "__weakref__")
    __array_priority__ = 1000.0

    def __init__(self, node: Node, tape: _Tape) -> None:
        self._node = node  # what it shows now: an in-place update points it at a new node
        self._tape = tape
        self._view: View | None = None  # whose memory it shares (see writes.py)
        self._views: list[Any] | None = None  # weak references to the views of it, when a root
        self._scalar = False  # a NumPy scalar (np.sum's result, a[0, 1]): += rebinds it

    # array-like attributes ---------------------------------------------------------------------
    @property
    def value(self) -> np.ndarray:
        """The forward value this stands for."""
        return self._node.value

    @property
    def shape(self) -> tuple[int, ...]:
        return self._node.value.shape

    @shape.setter
    def shape(self, new: Any) -> None:
        frame = sys._getframe(1)  # (NumPy's compiled samplers add no frame: the user's line calling one)
        advice = _sampler_advice(frame, _caller_line(frame) or "")
        raise TraceError(advice or "assigning x.shape reshapes in place; write x = x.reshape(...) instead")

    ndim = property(lambda self: self._node.value.ndim)
    size = property(lambda self: self._node.value.size)
    dtype = property(lambda self: self._node.value.dtype)
    itemsize = property(lambda self: self._node.value.itemsize)
    nbytes = property(lambda self: self._node.value.nbytes)
    strides = property(lambda self: self._node.value.strides)
    flags = property(lambda self: self._node.value.flags)
    device = property(lambda self: "cpu")
    T = property(lambda self: _of_scalar(self, apply(_TRANSPOSE, self, axes=None)))
    real = property(lambda self: self, doc="The value itself: traced values are real.")
    imag = property(lambda self: np.zeros_like(self._node.value),
                    doc="Zeros (traced values are real): a constant, no gradient.")

    @property
    def mT(self) -> Traced:
        """The matrix transpose: the last two axes swapped (``.T`` for a matrix)."""
        nd = self._node.value.ndim
        if nd < 2:
            raise ShapeError(f"x.mT needs at least two dimensions; this value has shape {self.shape}",
                             str(_caller()) if _caller() is not None else None)
        return apply(_TRANSPOSE, self, axes=None if nd == 2 else tuple(range(nd - 2)) + (nd - 1, nd - 2))

    def __len__(self) -> int:
        if not self._node.value.ndim:
            raise TraceError("len() of a 0-d traced value (a scalar has no length)")
        return len(self._node.value)

    def __repr__(self) -> str:
        n = self._node
        name = n.name or (n.op.name if n.op is not None else n.kind)  # (op nodes are named when the trace ends)
        return f"Traced({name}, {np.array_repr(n.value)})"

    def __str__(self) -> str:
        """The numbers, as NumPy prints them: ``print(loss)`` in traced code prints the loss."""
        return str(self._node.value)

    def __format__(self, spec: str) -> str:
        return format(self._node.value, spec) if spec else str(self)

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
    def __mod__(self, o): return apply(_MOD, self, o)
    def __rmod__(self, o): return apply(_MOD, o, self)
    def __neg__(self): return apply(_NEG, self)
    def __pos__(self): return Traced(self._node, self._tape)  # +x is a copy in NumPy
    def __abs__(self): return apply(_ABS, self)

    # floor division, rounding and bitwise operators are piecewise constant: computed on the values,
    # they give plain arrays (constants in the graph), as comparisons do
    def __floordiv__(self, o): return self._node.value // _plain(o)
    def __rfloordiv__(self, o): return _plain(o) // self._node.value
    def __divmod__(self, o): return (self // o, self % o)
    def __rdivmod__(self, o): return (o // self, o % self)
    def __round__(self, ndigits=None): return np.round(self._node.value, ndigits or 0)
    def __and__(self, o): return self._node.value & _plain(o)
    def __rand__(self, o): return _plain(o) & self._node.value
    def __or__(self, o): return self._node.value | _plain(o)
    def __ror__(self, o): return _plain(o) | self._node.value
    def __xor__(self, o): return self._node.value ^ _plain(o)
    def __rxor__(self, o): return _plain(o) ^ self._node.value
    def __lshift__(self, o): return self._node.value << _plain(o)
    def __rlshift__(self, o): return _plain(o) << self._node.value
    def __rshift__(self, o): return self._node.value >> _plain(o)
    def __rrshift__(self, o): return _plain(o) >> self._node.value
    def __invert__(self): return ~self._node.value

    # comparisons give plain boolean arrays: they are not differentiable and not recorded
    def __lt__(self, o): return self._node.value < _plain(o)
    def __le__(self, o): return self._node.value <= _plain(o)
    def __gt__(self, o): return self._node.value > _plain(o)
    def __ge__(self, o): return self._node.value >= _plain(o)
    def __eq__(self, o): return self._node.value == _plain(o)  # type: ignore[override]
    def __ne__(self, o): return self._node.value != _plain(o)  # type: ignore[override]
    def __hash__(self) -> int:
        # a label's entry (y[i]) hashes as its number, as NumPy's integers do: set(y), Counter(y) and
        # weights[y[i]] count and find it; other traced values are distinct objects
        v = self._node.value
        return hash(v.item()) if v.ndim == 0 and v.dtype.kind in _DISCRETE else object.__hash__(self)

    def __contains__(self, item: Any) -> bool:
        return _plain(item) in self._node.value

    def __bool__(self) -> bool:
        return bool(self._node.value)

    def __float__(self) -> float:
        if not self._tape.active:
            return _FLOAT_REFUSED(self)  # (kept from a finished trace: its number)
        if _formatting(sys._getframe(1)):  # "%.3f" % loss: printed, as f"{loss:.3f}" is
            return float(self._node.value)
        where = _caller()
        if where is not None and ".fill(" in where.line:  # plain.fill(traced): NumPy asks for a number
            raise TraceError(f"{STORE_ADVICE}\n  at {where}")
        return _FLOAT_REFUSED(self)
    def __int__(self, *args: Any) -> int:
        if self._tape.active and not args and _formatting(sys._getframe(1)):  # "%d" % step
            return int(self._node.value)
        return _INT_REFUSED(self, *args)
    __complex__ = _refuse("complex()", "graphviz_bp traces real numbers only", "__complex__")
    __index__ = _refuse("Using as an index", "index with a traced integer array, x[y], which is recorded",
                        "__index__")

    def __getitem__(self, key: Any) -> Traced:
        index, arrays, text = index_key(key)
        if (any(isinstance(k, np.ndarray) and k.dtype == bool for k in index) or any(a.dtype == bool for a in arrays)) \
                and _read_by_user(sys._getframe(1)):
            text = source_gather(text)  # a mask the user's line reads, which its numbers do not say: as written
        return apply(_INDEX, self, *arrays, index=index, text=text)

    def __setitem__(self, key: Any, value: Any) -> None:
        """``x[key] = value`` as NumPy does it, recorded as ``setitem`` (a new node that x, and every
        value sharing x's memory, now shows)."""
        if self._scalar:
            raise TraceError(f"a NumPy scalar ({self.dtype}) does not support item assignment; it is "
                             f"a copy (a[0, 1], np.sum(a)): assign into the array it came from")
        if not self._tape.active:
            raise _kept_read_only("x[...] = v", "copy it first: x = np.array(x), then write into the copy")
        index, arrays, text = index_key(key, operands=2)
        view = value._view if type(value) is Traced else None
        if view is not None and view.base is self and view.op is _INDEX and not arrays \
                and same_basic_index(view.params["index"], index):
            return  # x[i] = x[i]: the values are there already (the end of x[i] += v)
        if not arrays and type(value) is Traced and value.shape == self.shape and value.dtype == self.dtype \
                and all(k is Ellipsis or (type(k) is slice and k == slice(None)) for k in index) \
                and any(e.src is self._node for e in value._node.in_edges):
            # x[...] = f(x, ...), every entry (a buffer's y += b): x shows the new value, as y = y + b
            # would; a setitem would read x's old values a second time, all overwritten (a zero message)
            write(self, value, None)
            return
        if type(value) in (int, float, bool):  # NumPy converts a number to x's dtype, checked
            value = np.array(value, dtype=self.dtype)
        if arrays or any(isinstance(k, np.ndarray) for k in index):  # a mask or indices: as written
            text = source_index(text)
        new = apply(_SETITEM, self, value, *arrays, index=index, text=text)
        write(self, new, fill(index, (None, None, *(a._node.value for a in arrays))))

    def __iter__(self) -> Any:
        if not self.shape:
            raise TraceError("iteration over a 0-d traced value (a scalar has no items)")
        return (self[i] for i in range(self.shape[0]))

    __delitem__ = _refuse("Deleting items", "index the items to keep instead")
    __iadd__ = _update(_ADD, "+=")
    __isub__ = _update(_SUB, "-=")
    __imul__ = _update(_MUL, "*=")
    __itruediv__ = _update(_DIV, "/=")
    __ipow__ = _update(_POW, "**=")
    __imod__ = _update(_MOD, "%=")
    __imatmul__ = _update(_MATMUL, "@=")
    __ifloordiv__ = _in_place("//=", "//")
    __iand__ = _in_place("&=", "&")
    __ior__ = _in_place("|=", "|")
    __ixor__ = _in_place("^=", "^")
    __ilshift__ = _in_place("<<=", "<<")
    __irshift__ = _in_place(">>=", ">>")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if not self._tape.active or not self._node.differentiable or \
                _sampling(sys._getframe(1), self._node.value):
            # kept from a finished trace, labels or indices (np.eye(C)[y]: no gradient flows through
            # them), or given to a sampler: its numbers, as the array NumPy made
            value = kept_numbers(self) if not self._tape.active else self._node.value
            return np.array(value, dtype=dtype, copy=True) if copy or (dtype is not None and dtype != value.dtype) \
                else value
        raise TraceError(conversion_advice(sys._getframe(1)))

    def _refused_array(self, *args: Any) -> Any:
        raise TraceError(conversion_advice())

    def _array_protocol(self) -> Any:
        if not self._tape.active or not self._node.differentiable or \
                _sampling(sys._getframe(1), self._node.value):
            raise AttributeError("__array_interface__")  # (NumPy then asks __array__)
        caller = sys._getframe(1).f_code
        if caller.co_name == "as_strided" and caller.co_filename.startswith(_NUMPY_DIR):
            raise UnsupportedOpError(  # (the one np.lib.stride_tricks.as_strided reads is traced)
                "as_strided imported by name before the trace (from numpy.lib.stride_tricks import "
                "as_strided) is NumPy's own, which reads memory; call np.lib.stride_tricks.as_strided(...), "
                "which the trace reads by indexing, or np.lib.stride_tricks.sliding_window_view" + _at_caller())
        raise TraceError(conversion_advice(sys._getframe(1)))

    __array_interface__ = property(_array_protocol)
    __array_struct__ = property(_array_protocol)
    __array_wrap__ = _refused_array
    __array_finalize__ = _refused_array
    __array_namespace__ = _refuse("The array API namespace", "call NumPy functions (np.*) on it, "
                                                              "which graphviz_bp records")
    __dlpack__ = _refuse("Exporting with DLPack")
    __dlpack_device__ = _refuse("Exporting with DLPack")

    # values that end tracing --------------------------------------------------------------------
    item = _refuse("x.item()", "index it (x[i]) or keep a 0-d array; x.value.item() reads the number "
                               "without tracing", "item")
    tolist = _refuse("x.tolist()", "iterate over it or index it (x[i]), which is recorded; "
                                   "x.value.tolist() reads the numbers without tracing", "tolist")
    tobytes = _refuse("x.tobytes()", "x.value.tobytes() reads the bytes without tracing", "tobytes")
    tofile = _refuse("x.tofile()", "save x.value (np.save) after tracing", "tofile")
    dump = _refuse("x.dump()", "save x.value (np.save) after tracing", "dump")
    dumps = _refuse("x.dumps()", "pickle x.value after tracing", "dumps")
    __reduce__ = _refuse("Pickling", "pickle x.value after tracing", "__reduce__")  # (kept: its numbers)
    __reduce_ex__ = _refuse("Pickling", "pickle x.value after tracing", "__reduce_ex__")
    __setstate__ = _refuse("Unpickling into")
    flat = property(_refuse("x.flat", "use x.ravel() or x.reshape(-1), which are recorded"))
    base = property(_refuse("x.base (the array it shares memory with)", "use x itself"))
    data = property(_refuse("x.data (its memory buffer)", "read x.value after tracing"))
    ctypes = property(_refuse("x.ctypes (its memory)", "read x.value after tracing"))

    # in-place and low-level methods ------------------------------------------------------------
    def sort(self, axis: int = -1, kind: Any = None, order: Any = None, *, stable: Any = None) -> None:
        """``x.sort()`` sorts in place, as NumPy does: ``x[...] = np.sort(x, axis)``."""
        if order is not None:
            raise UnsupportedOpError("x.sort(order=...) (structured arrays) is not supported")
        if self._scalar or not self.ndim:
            raise np.exceptions.AxisError(axis, 0)
        self[...] = call(ops.get("sort"), (self, axis), {})

    def fill(self, value: Any) -> None:
        """``x.fill(value)`` sets every entry in place, as NumPy does: ``x[...] = value``."""
        if self._scalar:
            return  # NumPy fills a temporary array made from the scalar: the scalar does not change
        self[...] = value
    partition = _refuse("x.partition() (in place)", "write x = np.sort(x), which is recorded")
    put = _refuse("x.put() (in place)", "build the new value with np.where or np.concatenate")
    resize = _refuse("x.resize() (in place)", "use x.reshape(...) or indexing")
    setfield = _refuse("x.setfield() (in place)")
    setflags = _refuse("x.setflags()")
    byteswap = _refuse("x.byteswap()")
    getfield = _unsupported("getfield", "it reinterprets the memory; use x.astype(...)")
    choose = _unsupported("choose", "use np.where(condition, a, b)")
    compress = _unsupported("compress", "index with a boolean mask, x[mask], which is recorded")

    def copy(self, order: str = "C") -> Traced:
        """``x.copy()``: ``np.copy(x, order="C")`` (the method's default order, unlike np.copy's)."""
        return _of_scalar(self, call(_COPY, (self, order), {}))

    def flatten(self, order: str = "C") -> Traced:
        """``x.flatten()``: ``np.ravel(x)`` that is always a copy, as in NumPy (a write into it
        never reaches x)."""
        flat = call(ops.get("ravel"), (self, order), {})
        if type(flat) is not Traced:  # (kept from a finished trace: its numbers)
            return np.array(flat)
        return Traced(flat._node, flat._tape)  # the same node, but not a view of x

    def view(self, dtype: Any = None, type: Any = None) -> Traced:
        """The value itself (traced values are never written in place, so a view is the value), as
        ``x.view()``, ``x.view(np.ndarray)`` and ``x.view(x.dtype)`` are; a view as another dtype
        reinterprets the bytes, and a view as a subclass of ndarray makes another kind of array: refused."""
        if isinstance(dtype, builtins.type) and issubclass(dtype, np.ndarray):
            if type is not None:
                raise TypeError("Cannot specify output type twice.")  # (NumPy's words)
            dtype, type = None, dtype  # (as NumPy: a subclass of ndarray given first is the type)
        if type is not None and type is not np.ndarray:
            raise UnsupportedOpError(f"x.view({getattr(type, '__name__', type)}) makes another kind of array "
                                     f"and is not supported; traced values are plain arrays")
        if dtype is not None and np.dtype(dtype) != self.dtype:
            raise UnsupportedOpError(f"x.view({np.dtype(dtype).name}) reinterprets the bytes of {self.dtype.name} "
                                     f"values and is not supported; use x.astype(np.{np.dtype(dtype).name})")
        return self

    def to_device(self, device: Any, /, *, stream: Any = None) -> Traced:
        if device != "cpu":
            raise UnsupportedOpError(f"x.to_device({device!r}): traced values live on 'cpu' only")
        return self

    def __copy__(self) -> Traced:
        return call(_COPY, (self,), {})

    def __deepcopy__(self, memo: Any) -> Traced:
        return call(_COPY, (self,), {})

    def __class_getitem__(cls, item: Any) -> Any:
        return types.GenericAlias(cls, item)

    # NumPy protocols -------------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if not self._tape.active:  # kept from a finished trace: NumPy's answer on its numbers
            return getattr(ufunc, method)(*_kept_values(inputs), **dict(zip(kwargs, _kept_values(kwargs.values()))))
        if method == "at":
            return _ufunc_at(ufunc, *inputs, **kwargs)
        if method != "__call__":
            raise UnsupportedOpError(
                f"np.{ufunc.__name__}.{method} (a ufunc method) is not supported; call "
                f"np.{ufunc.__name__}(...) or a function such as np.sum")
        if "out" in kwargs:
            if any(isinstance(o, Buffer) for o in kwargs["out"] or ()):
                return NotImplemented  # an array the function made: the buffer writes it (buffers.py)
            if not any(type(o) is Traced for o in kwargs["out"] or ()):  # a plain array written in place
                raise UnsupportedOpError(
                    f"a traced value cannot be written in place (a += x, or np.{ufunc.__name__}(..., "
                    f"out=a)) into this NumPy array, {MADE_OUTSIDE}, or compute a new value (a = a + x)"
                    + _at_caller())
            out = kwargs.pop("out")
            if len(out) != 1 or type(out[0]) is not Traced or out[0]._scalar:
                raise UnsupportedOpError(f"np.{ufunc.__name__}(..., out=...) with several outputs, or "
                                         f"into a NumPy scalar, is not supported")
            out[0][...] = self.__array_ufunc__(ufunc, method, *inputs, **kwargs)  # written as NumPy does
            return out[0]
        if ufunc in ops.CONSTANT_FUNCTIONS:
            return ufunc(*[_plain(a) for a in inputs], **kwargs)
        if ufunc in _COMPOSED:  # made of other functions (np.fmax: where and maximum)
            return run_composed(ufunc, inputs, kwargs)
        if kwargs:
            raise UnsupportedOpError(f"np.{ufunc.__name__}(...) with {', '.join(sorted(kwargs))}= "
                                     f"is not supported")
        return apply(ops.lookup(ufunc), *inputs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if not self._tape.active:  # kept from a finished trace: NumPy's answer on its numbers
            return func(*_kept_values(args), **dict(zip(kwargs, _kept_values(kwargs.values()))))
        out = kwargs.get("out")
        if isinstance(out, Buffer):
            return NotImplemented  # np.dot(a, b, out=buffer): the buffer writes it (buffers.py)
        if type(out) is Traced and not out._scalar:  # np.dot(a, b, out=t): written as NumPy does
            out[...] = self.__array_function__(func, types, args, {k: v for k, v in kwargs.items() if k != "out"})
            return out
        if func is _COPYTO:
            return _copyto(*args, **kwargs)
        if func is _PUT_ALONG_AXIS:
            return _put_along_axis(*args, **kwargs)
        if func is _FULL_LIKE:
            fill = args[1] if len(args) > 1 else kwargs.get("fill_value")
            if type(fill) is Traced:  # np.full_like(x, traced): a buffer written with it
                return traced_full("full_like", args, kwargs, fill)
        if func in ops.CONSTANT_FUNCTIONS:  # no gradient flows through these: compute on values
            out = func(*_plain_all(args), **dict(zip(kwargs, _plain_all(kwargs.values()))))
            return buffer_like(out, func) if func in _LIKE else out
        if func is _FILL_DIAGONAL:
            return _fill_diagonal(*args, **kwargs)
        if func in _COMPOSED:  # made of other functions, which record themselves
            return run_composed(func, args, kwargs)
        try:
            op = ops.lookup(func)
        except UnsupportedOpError as exc:
            raise UnsupportedOpError(f"{exc}{_at_caller()}") from None
        if op.pieces is not None:  # np.split: a list of arrays, one node per piece
            args, kwargs = op.bind(*args, **kwargs)  # type: ignore[misc]
            count = op.pieces(kwargs)
            if count is None:  # this call returns one array (np.linalg.svd(..., compute_uv=False))
                return apply(op, *args, **kwargs)
            pieces = [apply(op, *args, **kwargs, piece=k) for k in range(count)]
            return op.result(pieces, ()) if op.result is not None else pieces
        out = call(op, args, kwargs)
        return _of_scalar(args[0], out) if op in _BY_METHOD and args and type(args[0]) is Traced else out


#: NumPy functions that call their argument's own method: on a NumPy scalar, a 0-d result is a
#: scalar again (np.reshape(s, ()), np.transpose(s)), where on a 0-d array it is a 0-d array.
_BY_METHOD = frozenset(ops.get(n) for n in ("reshape", "transpose", "squeeze", "astype"))
#: Allocators like another array: np.zeros_like(x) of a traced x is a buffer (see buffers.py).
_LIKE = frozenset([np.zeros_like, np.ones_like, np.empty_like, np.full_like])
_FULL_LIKE = np.full_like  # NumPy's own (np.full_like is wrapped while a trace runs: see buffers.py)
_COPYTO = np.copyto
_COMPOSED = ops.composed.COMPOSED  # NumPy functions made of other functions (np.median: sort, slice, mean)
_FRAMED = ops.composed.FRAMED


def run_composed(func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """NumPy's ``func`` made of other functions (``ops.composed``) on traced values: its ops drawn as a
    group titled with its name when it makes several, and a refusal naming the user's line."""
    try:
        if func in _FRAMED:
            with called(ops.numpy_name(func)):
                return _COMPOSED[func](*args, **kwargs)
        return _COMPOSED[func](*args, **kwargs)
    except UnsupportedOpError as exc:
        raise UnsupportedOpError(f"{exc}{_at_caller()}") from None
_PUT_ALONG_AXIS = np.put_along_axis
_FILL_DIAGONAL = np.fill_diagonal


def _fill_diagonal(a: Any, val: Any, wrap: bool = False) -> None:
    """``np.fill_diagonal(a, val)`` on a traced ``a``: its diagonal written, as ``a[i, i] = val`` is
    (t-SNE and kernel code zero it: ``np.fill_diagonal(P, 0.0)``)."""
    shape = np.shape(a)
    if len(shape) < 2 or (len(shape) > 2 and len(set(shape)) != 1):
        raise ValueError("np.fill_diagonal: the array must be at least 2-d, and all its dimensions equal "
                         "past 2-d")
    if wrap and len(shape) == 2 and shape[0] > shape[1] + 1:
        raise UnsupportedOpError("np.fill_diagonal(..., wrap=True) on a tall traced matrix is not supported; "
                                 "write the entries with a[rows, cols] = val" + _at_caller())
    k = np.arange(min(shape))
    if np.ndim(val):  # as NumPy writes a.flat[::step] = val: val flattened, repeated or cut to length
        val = np.ravel(val)
        size = np.shape(val)[0]
        if size and size < len(k):
            val = np.tile(val, -(-len(k) // size))
        val = val[:len(k)]
    a[(k,) * len(shape)] = val


def _ufunc_at(ufunc: np.ufunc, a: Any, indices: Any, b: Any = None) -> None:
    """``np.add.at(a, indices, b)`` (and ``np.subtract.at``) as NumPy does it: ``a`` updated in
    place, each repeated index adding again; recorded as ``add_at``. Other ufuncs' ``at`` refused."""
    at = _at_caller()
    if ufunc not in (np.add, np.subtract) or b is None:
        raise UnsupportedOpError(f"np.{ufunc.__name__}.at(...) is not supported (np.add.at and np.subtract.at "
                                 f"are); build the new value instead, e.g. with np.where{at}")
    if type(a) is not Traced:
        raise TraceError(f"a traced value cannot be added in place (np.{ufunc.__name__}.at) into this NumPy "
                         f"array, {MADE_OUTSIDE}{at}")
    if a._scalar:
        raise TraceError(f"np.{ufunc.__name__}.at into a NumPy scalar (a copy) is not possible{at}")
    index, arrays, text = index_key(indices, operands=2)
    if arrays or any(isinstance(k, np.ndarray) for k in index):
        text = source_index(text)
    value = -b if ufunc is np.subtract else b
    write(a, apply(_ADD_AT, a, value, *arrays, index=index, text=text), None)


def _put_along_axis(arr: Any, indices: Any, values: Any, axis: Any) -> None:
    """``np.put_along_axis(arr, indices, values, axis)`` as NumPy does it: ``arr`` updated in place."""
    if type(arr) is not Traced or arr._scalar:
        raise TraceError(f"a traced value cannot be put (np.put_along_axis) into this NumPy array, "
                         f"{MADE_OUTSIDE}" + _at_caller())
    write(arr, call(ops.get("put_along_axis"), (arr, indices, values), {"axis": axis}), None)


def _copyto(dst: Any, src: Any, casting: str = "same_kind", where: Any = True) -> None:
    """``np.copyto(dst, src)`` with a traced value: ``dst[...] = src`` into a traced ``dst``; into a
    plain array (also inside NumPy's ``np.full_like(plain, traced)``) refused, saying why."""
    if type(dst) is not Traced:
        where_now = _caller()
        raise TraceError(f"{STORE_ADVICE}" + (f"\n  at {where_now}" if where_now is not None else ""))
    if where is not True:
        dst[...] = call(ops.get("where"), (where, src, dst), {})
    else:
        dst[...] = src


def _op_method(op: Op, name: str) -> Callable[..., Any]:
    def method(self: Traced, *args: Any, **kwargs: Any) -> Any:
        return _of_scalar(self, call(op, (self, *args), kwargs))
    spelled = ops.numpy_name(op.numpy[0]) if op.numpy else op.name
    method.__name__ = name
    method.__qualname__ = f"Traced.{name}"
    method.__doc__ = f"``x.{name}(...)`` is ``{spelled}(x, ...)``: records {op.name}."
    return method


def _constant_method(name: str) -> Callable[..., Any]:
    def method(self: Traced, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._node.value, name)(*_plain_all(args), **dict(zip(kwargs, _plain_all(kwargs.values()))))
    method.__name__ = name
    method.__qualname__ = f"Traced.{name}"
    method.__doc__ = f"``x.{name}(...)`` on the values: no gradient flows through it (a plain array)."
    return method


for _op in ops.all_ops():
    for _name in _op.methods:
        if _name in Traced.__dict__:
            raise RuntimeError(f"ndarray method {_name!r} is declared by op {_op.name!r} and by Traced")
        setattr(Traced, _name, _op_method(_op, _name))
for _name in sorted(ops.CONSTANT_METHODS):
    setattr(Traced, _name, _constant_method(_name))


def _of_scalar(self: Traced, out: Any) -> Any:
    """A method's result on a NumPy scalar: a scalar again when it is 0-d (NumPy's scalar methods
    return scalars: ``s.copy()``, ``s.T``), so ``+=`` on it rebinds and ``[...] =`` is refused."""
    if self._scalar and type(out) is Traced and not out._node.value.ndim:
        out._scalar = True
    return out


# NumPy's samplers of discrete values (np.random.choice(n, p=probs), rng.multinomial(1, probs)): given
# a traced value, they draw with its numbers, and what they draw is a constant, with no gradient (a
# policy gradient samples its action so, and writes the gradient of its log-probability itself).
# Continuous ones (normal(mu, sigma)) are not: their draw has a gradient, mu + sigma * eps.
_SAMPLERS = frozenset(("choice", "multinomial", "binomial", "poisson", "geometric", "negative_binomial",
                       "hypergeometric", "multivariate_hypergeometric"))
_PASSED = frozenset(("PRECALL", "KW_NAMES", "CACHE", "NOP", "EXTENDED_ARG"))


def _sampling(frame: Any, value: np.ndarray) -> bool:
    """Whether ``frame`` (the code asking for a traced value's numbers, from C) is calling one of
    NumPy's discrete samplers (``_SAMPLERS``), by the name of the function its current call calls,
    with ``value`` as a distribution's parameter. ``choice`` and ``multinomial`` also take arrays to
    draw elements of (``np.random.choice(x)`` picks entries of x: a path for the gradient), so for them
    ``value`` must be probabilities: 1-D, at least 0, summing to 1."""
    if frame is None or frame.f_code.co_filename.startswith(_NUMPY_DIR):
        return False
    name = _callee(frame)
    if name not in _SAMPLERS or f"{name}(" not in (_caller_line(frame) or "").replace(" (", "("):
        return False
    if name in ("choice", "multinomial"):
        with np.errstate(all="ignore"):
            return value.ndim == 1 and value.dtype.kind == "f" and bool(np.all(value >= 0)) and \
                abs(float(np.sum(value)) - 1.0) <= 1e-6
    return True


def _callee(frame: Any) -> str | None:
    """The name of what ``frame``'s current call calls (``choice`` for ``np.random.choice(n, p=p)`` or
    ``rng.choice(...)``), read from its bytecode back from the call past its arguments; None when it
    cannot tell (a call through ``*args``, a jump among the arguments)."""
    instructions = list(dis.get_instructions(frame.f_code))
    at = max((k for k, i in enumerate(instructions) if i.offset <= frame.f_lasti), default=-1)
    if at < 0 or not instructions[at].opname.startswith("CALL") or instructions[at].opname == "CALL_FUNCTION_EX":
        return None
    depth = instructions[at].arg or 0  # the arguments on the stack above the callable
    if instructions[at].opname in ("CALL_FUNCTION_KW", "CALL_KW"):  # (3.10, 3.13: the keywords' names too)
        depth += 1
    k = at - 1
    while k >= 0 and instructions[k].opname in _PASSED:  # this call's own PRECALL, KW_NAMES
        k -= 1
    for j in range(k, -1, -1):
        ins = instructions[j]
        if ins.opname in ("CACHE", "NOP", "EXTENDED_ARG"):
            continue
        if ins.opcode in dis.hasjrel or ins.opcode in dis.hasjabs:
            return None
        try:
            depth -= dis.stack_effect(ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None)
        except ValueError:
            return None
        if depth < 0:  # the callable, or the object whose attributes lead to it (np, then .log)
            while j + 1 <= k and instructions[j + 1].opname in ("LOAD_ATTR", "LOAD_METHOD"):
                j += 1
            name = instructions[j].argval
            return name if isinstance(name, str) else None
    return None


def _caller_line(frame: Any) -> str | None:
    return linecache.getline(frame.f_code.co_filename, frame.f_lineno) or None


# NumPy's continuous samplers, each with its draw written so that the graph keeps the path to the
# parameters (the reparameterization): refused with a traced parameter, saying how to write it
_CONTINUOUS = {
    "normal": "loc + scale * rng.standard_normal(size)",
    "uniform": "low + (high - low) * rng.random(size)",
    "exponential": "scale * rng.standard_exponential(size)",
    "lognormal": "np.exp(mean + sigma * rng.standard_normal(size))",
    "laplace": "loc + scale * rng.laplace(0.0, 1.0, size)",
    "logistic": "loc + scale * rng.logistic(0.0, 1.0, size)",
    "gumbel": "loc + scale * rng.gumbel(0.0, 1.0, size)",
    "multivariate_normal": "mean + rng.standard_normal(size) @ np.linalg.cholesky(cov).T",
    "rayleigh": "scale * rng.rayleigh(1.0, size)",
    "weibull": "rng.standard_exponential(size) ** (1 / a)",
}
_OTHER_CONTINUOUS = frozenset(("gamma", "beta", "dirichlet", "chisquare", "standard_t", "f", "pareto", "vonmises",
                               "wald", "triangular", "power", "noncentral_chisquare", "noncentral_f",
                               "standard_gamma", "standard_cauchy"))


def _sampler_advice(frame: Any, line: str) -> str | None:
    """Advice for a continuous sampler given a traced parameter (``np.random.normal(mu, 1.0)``), when
    ``frame``'s current call is one, on ``line``."""
    if frame is None or frame.f_code.co_filename.startswith(_NUMPY_DIR):
        return None
    called = _callee(frame)
    if called is None or f"{called}(" not in line.replace(" (", "("):
        return None
    name: str | None = called
    if f".{called}(" not in line.replace(" (", "("):  # a bare name (draw = rng.normal): what it is bound to
        bound = frame.f_locals.get(called, frame.f_globals.get(called))
        owner = getattr(bound, "__self__", None)
        numpy_own = isinstance(owner, (np.random.Generator, np.random.RandomState)) or \
            (getattr(bound, "__module__", None) or "").startswith("numpy.random")
        name = getattr(bound, "__name__", None) if numpy_own else None
    if name is None or (name not in _CONTINUOUS and name not in _OTHER_CONTINUOUS):
        return None
    how = (f"write the draw from fixed ones, e.g. {_CONTINUOUS[name]} (rng = np.random.default_rng(seed)), "
           f"whose gradient the graph keeps" if name in _CONTINUOUS else
           "draw with fixed ones and transform the draw with the traced values, or pass the draw in as an input")
    return (f"{name}() draws numbers with no path back to its traced parameters (NumPy's sampler reads "
            f"their numbers only), which would drop them from the graph; {how}")


def conversion_advice(frame: Any = None) -> str:
    """Why a traced value cannot become a plain array, with advice for what the user's line does
    (``X.dot(W)`` with a plain X, a traced value written into a plain buffer, a continuous sampler
    given a traced parameter: ``frame``, the code asking for its numbers) and where it is."""
    where = _caller()
    line = where.line if where is not None else ""
    text = ("converting a traced value to a NumPy array (np.asarray, np.array or a function "
            "graphviz_bp does not support) would drop it from the graph; use the NumPy functions "
            "graphviz_bp records (graphviz_bp.supported()), or read x.value after tracing; a list of "
            "traced values given to a NumPy function is converted by NumPy itself: write "
            "np.array([...]) around it")
    listed = None if ".dot(" in line or _assigns_into_subscript(line) else \
        _list_argument(line) or _numpy_function(frame)
    if listed is not None:
        text = (f"{listed} of a list holding traced values: NumPy converts the list itself, out of "
                f"the tracer's sight (its dispatch does not look inside lists), which would drop them from "
                f"the graph; make each such list an array first, e.g. {listed}(np.array([...]))")
    elif ".dot(" in line:
        text = ("a plain array's .dot() cannot take a traced value (NumPy converts it, dropping it from "
                "the graph): write X @ W or np.dot(X, W), or pass X as an input")
    elif _assigns_into_subscript(line):
        text = STORE_ADVICE
    else:
        text = _sampler_advice(frame, line) or text
    return text + (f"\n  at {where}{called_from()}" if where is not None else "")


def _list_argument(line: str) -> str | None:
    """The NumPy function (``np.mean``) that ``line`` calls with a list or tuple display as its first
    argument (``np.mean([a, b])``), if any: NumPy converts such a list itself."""
    if "np." not in line:
        return None
    import ast

    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], (ast.List, ast.Tuple)):
            name = ast.unparse(node.func)
            if name.startswith("np."):
                return name
    return None


def _numpy_function(frame: Any) -> str | None:
    """The public NumPy function (``np.sum``, ``np.linalg.norm``) whose code, called by the user's
    line, asks for a traced value's numbers (``frame``: the code asking), if any: a traced value
    given to it directly would have reached the tracer, so it came inside a list or tuple."""
    outermost = None
    f = frame
    while f is not None and f.f_code.co_filename.startswith(_NUMPY_DIR):
        outermost = f
        f = f.f_back
    if outermost is None or f is None or outermost.f_code.co_name.startswith(("_", "<")):
        return None
    name, where = outermost.f_code.co_name, outermost.f_code.co_filename
    for space, module in (("linalg", np.linalg), ("fft", np.fft), ("", np)):
        if (not space or f"{os.sep}{space}{os.sep}" in where) and callable(getattr(module, name, None)) \
                and not isinstance(getattr(module, name), types.ModuleType):
            return f"np.{space + '.' if space else ''}{name}"
    return None



#: Why a traced value cannot be stored into a plain array, and what to write instead.
MADE_OUTSIDE = ("which was made where graphviz_bp cannot follow it (before the trace, by a function "
                "imported with from numpy import zeros, by a plain array's .copy() method, or by a "
                "NumPy function that does not allocate buffers), so the value would drop out of the "
                "graph; make the array inside the traced function with np.zeros, np.empty, np.ones, "
                "np.full, their _like forms, np.eye, np.arange, np.copy or np.array, which become "
                "traced when a traced value is written into them")
STORE_ADVICE = (f"a traced value cannot be stored into this NumPy array, {MADE_OUTSIDE}, or collect the "
                f"pieces and join them (np.stack, np.concatenate)")


def stored_outside(exc: BaseException) -> TraceError | None:
    """NumPy's "setting an array element with a sequence" when the user's line stores a traced value
    into one entry of a plain array (``out[i, j] = np.sum(...)``): our advice, naming the line."""
    if type(exc) is not ValueError or str(exc) != "setting an array element with a sequence.":
        return None
    tb, where, storing = exc.__traceback__, None, False
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith((_PACKAGE_DIR, _NUMPY_DIR)):
            where = Source(code.co_filename, tb.tb_lineno, code.co_name)
            # (by its bytecode too, where a traced value was just asked for its number there: a
            # function made by exec of a string has no line to read)
            storing = 0 <= tb.tb_lasti < len(code.co_code) and code.co_code[tb.tb_lasti] == _STORE_SUBSCR \
                and getattr(_refused, "at", None) == (id(tb.tb_frame), tb.tb_lasti)
        tb = tb.tb_next
    if where is None or not (storing or _assigns_into_subscript(where.line) or ".fill(" in where.line):
        return None
    return TraceError(f"{STORE_ADVICE}\n  at {where}")


_STORE_SUBSCR = dis.opmap["STORE_SUBSCR"]
_refused = threading.local()  # .at: (the frame, its instruction) where a traced value last refused its number


def _assigns_into_subscript(line: str) -> bool:
    """Whether ``line`` is an assignment into an indexed target (``out[i, j] = ...``)."""
    import ast

    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return False
    return any(isinstance(stmt, (ast.Assign, ast.AugAssign)) and any(
        isinstance(t, ast.Subscript) for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]))
        for stmt in tree.body)


def _plain(o: Any) -> Any:
    return o._node.value if type(o) is Traced else o


def kept_numbers(x: Traced) -> np.ndarray:
    """The numbers of a value kept from a finished trace, read-only: they are its graph's (a write
    into them would change what the graph shows)."""
    numbers = x._node.value.view()
    numbers.flags.writeable = False
    return numbers


def _kept_values(items: Any) -> list[Any]:
    """``items`` with every value kept from a finished trace (also inside lists and tuples) replaced
    by its numbers; values of a running trace left as they are."""
    return [type(x)(_kept_values(x)) if isinstance(x, (list, tuple)) else
            kept_numbers(x) if type(x) is Traced and not x._tape.active else x for x in items]


def _kept_read_only(what: str, instead: str) -> TraceError:
    return TraceError(f"{what}: a value kept from a finished trace (on an object, in a global) is read-only, "
                      f"its numbers being its graph's; {instead}" + _at_caller())


def _plain_all(items: Any) -> list[Any]:
    """Values with every traced value (also inside lists and tuples) replaced by its array."""
    return [type(x)(_plain_all(x)) if isinstance(x, (list, tuple)) else _plain(x) for x in items]


# The recording core, imported last: apply makes Traced values, so it imports this module.
from .tracer import _NUMPY_DIR, _PACKAGE_DIR, _caller, apply, call, called_from  # noqa: E402
from .scopes import called  # noqa: E402
from .writes import View, write  # noqa: E402
from .buffers import Buffer, buffer_like, traced_full  # noqa: E402
