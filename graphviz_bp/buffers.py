"""Buffers: arrays the traced function allocates itself become traced when a traced value is written
into them, as NumPy would show the written values.

While a trace runs, in its thread only, ``np.zeros``, ``np.empty``, ``np.ones``, ``np.full``, their
``*_like`` forms, ``np.copy`` and ``np.array`` called from the user's code return a ``Buffer``: an
ndarray that behaves as a plain array until a traced value is written into it (``out[:, t] = h``,
``dW += x.T @ g``, ``np.copyto(out, h)``). At that write its root (the array that owns the memory)
becomes a traced constant (drawn as ``np.zeros 2×3``) updated by a ``setitem``, and from then on
the buffer, and every view of it, reads as that traced value: operators, ndarray methods and NumPy
functions on it are recorded. Its memory is kept equal to the traced value's, so code that reads
it as a plain array sees the right numbers. When the trace ends every buffer is plain again.

``np.asarray`` of a traced value is the value itself, and ``np.array([...])`` of traced values
stacks them. The wrappers are installed in NumPy's namespace while at least one trace runs (a
reference count under a lock) and removed after; in any other thread, or when called by NumPy or
graphviz_bp itself, they call NumPy's own function and return its result unchanged.
"""

from __future__ import annotations

import copy
import functools
import os
import sys
import threading
import zlib
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from .errors import GraphvizBPError, TraceError, UnsupportedOpError
from .graph import Source
from .ops import format_shape

if TYPE_CHECKING:
    from .tracer import _Tape

__all__ = ["Buffer", "allocating", "buffer_like", "holds_traced", "operand", "plain_buffer", "traced_full",
           "traced_of", "tracing"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep

#: NumPy's allocators that give buffers, by their name in the ``numpy`` namespace.
ALLOCATORS = ("zeros", "empty", "ones", "full", "zeros_like", "empty_like", "ones_like", "full_like",
              "copy", "eye", "identity", "arange", "linspace")
#: Conversions: ``np.array`` copies (a buffer), ``np.asarray`` and ``np.asanyarray`` do not.
CONVERSIONS = ("array", "asarray", "asanyarray")
#: NumPy functions whose dispatch ignores an argument that may be traced (``np.select``'s
#: ``default``): a call with a traced value anywhere goes to the tracer's own version of them.
UNDISPATCHED = ("select", "require")
#: NumPy functions of the values alone (no gradient) that answer False when NumPy refuses a traced
#: value inside a list (``np.array_equal([a, b], [a, b])``): with a traced value anywhere, they are
#: given the values.
VALUES_ONLY = ("array_equal", "array_equiv")
#: NumPy's index tricks that join arrays, each with its axis, least number of axes and where a
#: 1-d array's axis goes (``np.c_`` makes columns): with a traced item, joined by the tracer's ops.
CONCATENATORS = {"r_": (0, 1, -1), "c_": (-1, 2, 0)}

_local = threading.local()  # .tape: the trace running in this thread (None outside traces)
_lock = threading.Lock()
_installed = 0
_found: dict[str, Any] = {}  # NumPy's functions as found when the wrappers were installed
_wrappers: dict[str, Callable[..., Any]] = {}


def _tape() -> _Tape | None:
    return getattr(_local, "tape", None)


def tracing() -> bool:
    """Whether a trace is running in this thread."""
    return getattr(_local, "tape", None) is not None


def _from_user(depth: int = 2) -> bool:
    """Whether the code calling the wrapper is the user's (not NumPy's or graphviz_bp's own)."""
    return not sys._getframe(depth).f_code.co_filename.startswith((_PACKAGE_DIR, _NUMPY_DIR))


def _source(depth: int) -> Source | None:
    f: Any = sys._getframe(depth)
    while f is not None and f.f_code.co_filename.startswith((_PACKAGE_DIR, _NUMPY_DIR)):
        f = f.f_back
    return None if f is None else Source(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


class allocating:
    """``with allocating(tape):`` the function traced on ``tape`` gets buffers from NumPy's
    allocators, in this thread; on exit NumPy's namespace is as it was and the buffers are plain."""

    def __init__(self, tape: _Tape) -> None:
        self.tape = tape

    def __enter__(self) -> None:
        self._previous = _tape()
        _local.tape = self.tape
        _install()

    def __exit__(self, *exc: Any) -> None:
        _local.tape = self._previous
        _uninstall()
        for root in self.tape.buffers:  # plain arrays again, showing the traced values
            root._gb_traced = None
        self.tape.buffers.clear()


def _install() -> None:
    global _installed
    with _lock:
        if _installed == 0:
            for name in ALLOCATORS + CONVERSIONS + UNDISPATCHED + VALUES_ONLY + tuple(CONCATENATORS):
                _found[name] = getattr(np, name)
                setattr(np, name, _wrappers[name])
            _found["vectorize.__call__"] = np.vectorize.__dict__["__call__"]
            np.vectorize.__call__ = vectorized_call  # type: ignore[method-assign]
            _found["stride_tricks.as_strided"] = np.lib.stride_tricks.as_strided
            np.lib.stride_tricks.as_strided = _as_strided
        _installed += 1


def _uninstall() -> None:
    global _installed
    with _lock:
        _installed -= 1
        if _installed == 0:
            for name, original in _found.items():
                if name == "vectorize.__call__":
                    if np.vectorize.__dict__["__call__"] is vectorized_call:
                        np.vectorize.__call__ = original  # type: ignore[method-assign]
                elif name == "stride_tricks.as_strided":
                    if np.lib.stride_tricks.as_strided is _as_strided:
                        np.lib.stride_tricks.as_strided = original
                elif getattr(np, name) is _wrappers[name]:  # left alone if someone replaced it meanwhile
                    setattr(np, name, original)


def _allocator(name: str) -> Callable[..., Any]:
    original = getattr(np, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if name in ("full", "full_like") and _tape() is not None and _from_user():
            fill = args[1] if len(args) > 1 else kwargs.get("fill_value")
            if holds_traced(fill):  # np.full(shape, traced): zeros of the same kind, then written
                return traced_full(name, args, kwargs, operand(fill))
        out = _found.get(name, original)(*args, **kwargs)
        if type(out) is not np.ndarray or _tape() is None or not _from_user():
            return out
        if name in ("empty", "empty_like"):
            out.fill(0)  # NumPy leaves any numbers there; zeros keep every drawing the same
        return plain_buffer(out, f"np.{name}", _source(2))
    return wrapper


def traced_full(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], fill: Any) -> Buffer:
    """``np.full(shape, fill)`` or ``np.full_like(a, fill)`` with a traced ``fill``: a buffer of
    zeros (of the dtype NumPy would give) with the value written into all of it."""
    rest = dict(zip(("dtype", "order"), args[2:]), **{k: v for k, v in kwargs.items() if k != "fill_value"})
    if name == "full" and rest.get("dtype") is None:
        rest["dtype"] = fill.dtype
    zeros = _found.get("zeros" if name == "full" else "zeros_like") or getattr(np, "zeros" if name == "full" else "zeros_like")
    made = plain_buffer(zeros(args[0], **rest), f"np.{name}", _source(3))
    made[...] = fill
    return made


def _conversion(name: str) -> Callable[..., Any]:
    original = getattr(np, name)

    @functools.wraps(original)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if _tape() is not None and type(obj) is not np.ndarray and holds_traced(obj):
            return _traced_array(obj, name == "array", *args, **kwargs)
        if name != "array" and isinstance(obj, Buffer) and not args and not kwargs:
            return obj  # np.asarray(b): b itself, so a write into it reaches b
        out = _found.get(name, original)(obj, *args, **kwargs)
        if name != "array" or type(out) is not np.ndarray or out is obj or _tape() is None or not _from_user():
            return out
        return plain_buffer(out, "np.array", _source(2))
    return wrapper


def _undispatched(name: str) -> Callable[..., Any]:
    original = getattr(np, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _tape() is not None and (any(holds_traced(a) for a in args) or any(holds_traced(v) for v in kwargs.values())):
            from .traced import run_composed

            return run_composed(original, args, kwargs)
        return _found.get(name, original)(*args, **kwargs)
    return wrapper


def _values_only(name: str) -> Callable[..., Any]:
    original = getattr(np, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _tape() is not None and (any(holds_traced(a) for a in args)
                                    or any(holds_traced(v) for v in kwargs.values())):
            args, kwargs = tuple(_plain_all(args)), dict(zip(kwargs, _plain_all(list(kwargs.values()))))
        return _found.get(name, original)(*args, **kwargs)
    return wrapper


@functools.wraps(np.lib.stride_tricks.as_strided)
def _as_strided(x: Any, shape: Any = None, strides: Any = None, subok: bool = False, writeable: bool = True) -> Any:
    """``np.lib.stride_tricks.as_strided`` while a trace runs (not a NumPy array function: it converts
    ``x`` itself): of a traced ``x``, the windows read by indexing (``ops.composed.shapes.strided``)."""
    if _tape() is not None and holds_traced(x):
        from .ops.composed.shapes import strided
        from .traced import _at_caller

        try:  # a buffer's memory is laid out as it was allocated (order="F", a view's .T): read as such
            return strided(operand(x), shape, strides, layout=x if isinstance(x, Buffer) else None)
        except (UnsupportedOpError, ValueError) as exc:
            raise type(exc)(f"{exc}{_at_caller()}") from None
    return _found.get("stride_tricks.as_strided", _AS_STRIDED)(x, shape, strides, subok, writeable)


_AS_STRIDED = np.lib.stride_tricks.as_strided


for _name in ALLOCATORS:
    _wrappers[_name] = _allocator(_name)
for _name in CONVERSIONS:
    _wrappers[_name] = _conversion(_name)
for _name in UNDISPATCHED:
    _wrappers[_name] = _undispatched(_name)
for _name in VALUES_ONLY:
    _wrappers[_name] = _values_only(_name)


def _joiner(name: str) -> Any:
    """``np.r_`` or ``np.c_`` while a trace runs: an object of the same class (its ``axis``, ``ndmin``
    and the rest as NumPy's) whose items, when a traced value is among them, are joined by the
    tracer's ops (``ops.composed.joined_items``); others by NumPy's own."""
    own = getattr(np, name)

    class Joiner(type(own)):  # type: ignore[misc]
        __slots__ = ()

        def __getitem__(self, key: Any) -> Any:
            if _tape() is not None and holds_traced(key):
                from .ops.composed import joined_items
                from .traced import _at_caller

                try:
                    return joined_items(f"np.{name}", key, *CONCATENATORS[name])
                except UnsupportedOpError as exc:
                    raise UnsupportedOpError(f"{exc}{_at_caller()}") from None
            return own[key]

    Joiner.__name__ = Joiner.__qualname__ = type(own).__name__
    return Joiner()


for _name in CONCATENATORS:
    _wrappers[_name] = _joiner(_name)


def holds_traced(obj: Any) -> bool:
    """Whether ``obj`` is, or (in nested lists and tuples) holds, a traced value or a traced buffer."""
    if type(obj) is Traced:
        return obj._tape.active  # (a value kept from a finished trace is its numbers)
    if isinstance(obj, Buffer):
        return obj._gb_root._gb_traced is not None
    if isinstance(obj, (list, tuple)):
        return any(holds_traced(o) for o in obj)
    return False


def _traced_array(obj: Any, copies: bool, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``np.array(obj)`` (``copy``) or ``np.asarray(obj)`` of traced values: the value itself, a
    recorded copy, or the items stacked (``np.array([a, b])``), cast to ``dtype`` when given."""
    if args or any(v is not None and k not in ("copy", "order", "subok", "ndmin") for k, v in kwargs.items()):
        from .traced import _at_caller

        extra = ", ".join(sorted(k for k, v in kwargs.items() if v is not None)) or "positional arguments"
        raise UnsupportedOpError(f"np.array/np.asarray of traced values with {extra} is not supported; "
                                 f"give the values and at most dtype=, copy=, subok=, ndmin={_at_caller()}")
    if kwargs.get("copy") is False:
        copies = False
    value = operand(obj)
    if type(value) is Traced and copies and type(obj) is not list and type(obj) is not tuple:
        value = value.copy()
    if dtype is not None and np.dtype(dtype) != value.dtype:
        value = value.astype(dtype)
    ndmin = kwargs.get("ndmin") or 0
    if value.ndim < ndmin:  # axes of length 1 in front, as NumPy adds them
        value = value.reshape((1,) * (ndmin - value.ndim) + value.shape)
    return value


def operand(obj: Any) -> Any:
    """``obj`` as an operand: a buffer as its traced value once written, else as a plain array of
    its memory (a constant leaf copies it); a nested list holding traced values as those values
    stacked; anything else as it is."""
    if isinstance(obj, Buffer):
        traced = traced_of(obj)
        return traced if traced is not None else _plain_view(obj)
    if type(obj) in (list, tuple) and holds_traced(obj):
        items = [operand(o) for o in obj]
        try:  # the dtype NumPy gives the list: 1.1 beside a float32 value makes float64 (1.1 kept exact)
            dtype = _ARRAY(_plain_all(obj)).dtype
        except ValueError:  # ragged: np.stack says which shapes
            return np.stack(items)
        return np.stack([(item if item.dtype == dtype else item.astype(dtype)) if type(item) is Traced else
                         _ARRAY(item, dtype=dtype) for item in items])
    return obj


_ARRAY = np.array  # NumPy's own (np.array is wrapped while a trace runs)


# ------------------------------------------------------------------------------------------------
class Buffer(np.ndarray):
    """An array allocated inside the traced function: plain until a traced value is written into it
    (or into a view of it), then traced. A root owns its memory (``_gb_root`` is itself); a view's
    ``_gb_root`` is the root whose memory it shows."""

    _gb_root: Buffer
    _gb_traced: Any  # roots: the Traced value it shows once written (None while plain)
    _gb_label: str
    _gb_source: Source | None
    _gb_read: Any  # views: (root node, Traced) read last, so repeated reads record one gather
    _gb_key: Any  # views taken as root[key] with a basic index: that key (else None)

    #: Above a plain array's: NumPy's own code that makes a result from a buffer (``X.dot(b)``)
    #: makes it a Buffer, so ``__array_finalize__`` sees a traced buffer read as plain numbers.
    __array_priority__ = 1.0

    def __array_finalize__(self, obj: Any) -> None:
        root = getattr(obj, "_gb_root", None)
        if root is not None and root._gb_traced is not None:  # NumPy's code read its memory as numbers
            raise TraceError(conversion_advice(sys._getframe(1)))  # (a compiled sampler's: the user's frame)
        if root is not None and _overlaps(self, root):
            self._gb_root = root  # a view: reshape, .T, x[0], x[1:]...
            self._gb_read = None
            self._gb_key = None
        else:  # a new array (a copy, x[mask], x.astype(...)): a buffer of its own
            self._gb_root = self
            self._gb_traced = None
            self._gb_label = "copy"
            self._gb_source = getattr(root, "_gb_source", None)

    # writes -----------------------------------------------------------------------------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        root = self._gb_root
        if root.dtype.kind not in "biuf" or (root._gb_traced is None and not holds_traced(value)
                                             and not holds_traced(key)):  # numbers, or Python objects
            if self is root and root.dtype.kind in "biuf":
                kept = _remember(root, _plain_key(key), _plain(value))
            else:
                np.ndarray.__setitem__(_plain_view(self), _plain_key(key), _plain(value))
                kept = False
            _overwritten(self, kept)
            return
        if isinstance(value, Buffer) and value._gb_root is root and _same_memory(self, key, value):
            return  # b[i] = b[i]: the values are there already (the end of b[i] += v)
        _write(self, key, value)

    def fill(self, value: Any) -> None:
        self[...] = value

    def sort(self, axis: int = -1, kind: Any = None, order: Any = None, **kw: Any) -> None:
        if self._gb_root._gb_traced is None:
            np.ndarray.sort(_plain_view(self), axis, kind, order, **kw)
        else:
            self[...] = np.sort(traced_of(self), axis)

    # reads ---------------------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        traced = traced_of(self)
        if traced is not None:
            return traced[_plain_key(key)]
        out = np.ndarray.__getitem__(self, _plain_key(key))
        if isinstance(out, Buffer) and out._gb_root is self._gb_root and self is self._gb_root:
            out._gb_key = key  # a view of the root by this index: a write into it all is root[key] = v
        return out

    def __iter__(self) -> Iterator[Any]:
        """Its rows, each read when it is reached (``for r in M: r += v``: the first write makes M
        traced, and the rows after are read from its traced value)."""
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        return repr(_plain_view(self))

    def __str__(self) -> str:
        return str(_plain_view(self))

    def __reduce__(self) -> Any:
        return _plain_view(self).__reduce__()

    # NumPy protocols -----------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "at" and isinstance(inputs[0], Buffer):
            target, root = inputs[0], inputs[0]._gb_root
            rest = [_swap(a) for a in inputs[2:]]
            if root._gb_traced is not None or holds_traced(rest):  # np.add.at(b, i, v): recorded
                traced = _promote(root, _tape_of(rest))
                key = _plain_key(inputs[1])
                if target is not root:
                    key = tuple(i[key] for i in _index_in(target, root))
                ufunc.at(traced, key, *rest, **kwargs)
                return None
        out = kwargs.pop("out", None)
        args = [_swap(a) for a in inputs]
        traced = any(type(a) is Traced for a in args)
        targets = [o for o in out or () if isinstance(o, Buffer)]
        if targets and (traced or any(t._gb_root._gb_traced is not None for t in targets)):
            if method != "__call__" or len(out) != 1:
                raise UnsupportedOpError(f"np.{ufunc.__name__}.{method}(..., out=...) into an array the "
                                         f"traced function made is not supported; compute a new value")
            for t in targets:  # read as traced values from here on: x += y reads x once
                _promote(t._gb_root, _tape_of(args))
            _write(out[0], Ellipsis, ufunc(*[_swap(a) for a in inputs], **kwargs))
            return out[0]
        if out is not None:
            kwargs["out"] = tuple(_plain_view(o) if isinstance(o, Buffer) else o for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        for o in ([inputs[0]] if method == "at" else []) + list(out or ()):  # written with plain numbers
            if isinstance(o, Buffer):
                _overwritten(o)
        if out is not None:  # NumPy returns the arrays written into: the buffers themselves
            return out[0] if len(out) == 1 else out
        if type(result) is np.ndarray and _tape() is not None:  # made from a buffer: a buffer too
            return plain_buffer(result, f"np.{ufunc.__name__}", _source(2))
        return result

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is _COPYTO and args and isinstance(args[0], Buffer):
            dst = args[0]
            src = args[1] if len(args) > 1 else kwargs.get("src")
            if dst._gb_root._gb_traced is not None or holds_traced(src):
                if len(args) > 2 or set(kwargs) - {"src", "casting"}:
                    raise UnsupportedOpError("np.copyto(..., where=...) into a traced buffer is not "
                                             "supported; write dst[mask] = src[mask]")
                _write(dst, Ellipsis, src)
                return None
        out = kwargs.get("out")
        if isinstance(out, Buffer):  # np.dot(a, b, out=buffer), np.clip(..., out=buffer)...
            kwargs = {k: v for k, v in kwargs.items() if k != "out"}
            args2, kwargs2 = _swap(args), _swap(kwargs)
            if out._gb_root._gb_traced is not None or holds_traced([args2, list(kwargs2.values())]):
                _promote(out._gb_root, _tape_of([args2, list(kwargs2.values())]))
                out[...] = func(*_swap(args), **_swap(kwargs))
                return out
            _overwritten(out)
            return func(*args2, **kwargs2, out=_plain_view(out))
        if func is _PUT_ALONG_AXIS and args and args[0] is getattr(args[0], "_gb_root", None) and \
                (args[0]._gb_traced is not None or holds_traced(list(args[1:]) + list(kwargs.values()))):
            traced = _promote(args[0], _tape_of(_swap(list(args[1:]))))
            return func(traced, *_swap(args[1:]), **_swap(kwargs))  # recorded, as NumPy writes it
        if func is _FILL_DIAGONAL and args and isinstance(args[0], Buffer) and \
                (args[0]._gb_root._gb_traced is not None or holds_traced(list(args[1:]) + list(kwargs.values()))):
            return _fill_diagonal(*args, **kwargs)  # its diagonal written, as a[i, i] = val writes it
        if func in _WRITES_INTO and args and isinstance(args[0], Buffer) and \
                (args[0]._gb_root._gb_traced is not None or holds_traced(list(args[1:]))):
            raise UnsupportedOpError(f"np.{func.__name__} writes into its first argument in place, which "
                                     f"graphviz_bp does not record for a traced array; write "
                                     f"a[index] = values instead")
        result = _adopt(func(*_swap(args), **_swap(kwargs)), args, kwargs)
        if (func is _COPYTO or func in _WRITES_INTO) and args and isinstance(args[0], Buffer):
            _overwritten(args[0])  # (with plain numbers: traced ones are recorded or refused above)
        if type(result) is np.ndarray and _tape() is not None:  # a new array made from a buffer
            return plain_buffer(result, f"np.{getattr(func, '__name__', 'array')}", _source(2))
        return result

    # the value in Python's protocols -------------------------------------------------------------
    def __float__(self) -> float:
        return float(traced_of(self) if traced_of(self) is not None else _plain_view(self))

    def __int__(self) -> int:
        return int(traced_of(self) if traced_of(self) is not None else _plain_view(self))

    def __index__(self) -> int:
        traced = traced_of(self)
        return traced.__index__() if traced is not None else _plain_view(self).__index__()

    def __bool__(self) -> bool:
        return bool(_plain_view(self))

    def _gb_sync(self) -> None:
        """Make the memory of this root show its traced value (after a write into it)."""
        np.copyto(_plain_view(self), self._gb_traced._node.value, casting="unsafe")

    def __copy__(self) -> Any:
        traced = traced_of(self)
        return traced.copy() if traced is not None else np.ndarray.__copy__(self)

    def __deepcopy__(self, memo: Any) -> Any:
        return self.__copy__()


def _delegate(name: str) -> Any:
    """The ndarray attribute ``name`` of a buffer: the traced value's once written, else NumPy's."""
    own = np.ndarray.__dict__[name]
    if hasattr(own, "__get__") and not callable(own):  # a property (x.T, x.real...)
        def get(self: Buffer) -> Any:
            traced = traced_of(self)
            return getattr(traced, name) if traced is not None else own.__get__(self, type(self))
        return property(get, doc=getattr(own, "__doc__", None))

    function = getattr(np, name, None)  # the NumPy function of the same name (b.dot: np.dot)

    @functools.wraps(own)
    def method(self: Buffer, *args: Any, **kwargs: Any) -> Any:
        traced = traced_of(self)
        if traced is not None:
            return getattr(traced, name)(*args, **kwargs)
        if function is not None and holds_traced([args, list(kwargs.values())]):
            return function(self, *args, **kwargs)  # b.dot(w) with a traced w: np.dot(b, w), recorded
        return own(self, *args, **kwargs)
    return method


#: Attributes the same for a buffer and its traced value (kept as NumPy's); or handled above.
_KEPT = {"shape", "dtype", "ndim", "size", "itemsize", "nbytes", "strides", "flags", "fill", "sort",
         "device"}

#: NumPy functions that write into their first argument.
_WRITES_INTO = frozenset([np.put, np.place, np.putmask, np.fill_diagonal, np.put_along_axis])
# NumPy's own, as its dispatch passes them (taken at import: NumPy's namespace may hold another
# function of the name by the time a trace runs)
_COPYTO, _PUT_ALONG_AXIS, _FILL_DIAGONAL = np.copyto, np.put_along_axis, np.fill_diagonal


def _same_memory(b: Buffer, key: Any, value: Buffer) -> bool:
    """Whether ``b[key]`` is a view showing the very entries ``value`` shows."""
    try:
        target = np.ndarray.__getitem__(_plain_view(b), _plain_key(key))
    except (IndexError, TypeError, ValueError):
        return False
    return (type(target) is np.ndarray and target.shape == value.shape and target.strides == value.strides
            and target.__array_interface__["data"][0] == value.__array_interface__["data"][0])


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the memory of ``a`` and ``b`` may overlap (their byte ranges meet)."""
    if not a.size or not b.size:
        return False
    return _bounds(b)[0] <= _bounds(a)[0] < _bounds(b)[1] or _bounds(a)[0] <= _bounds(b)[0] < _bounds(a)[1]


def _bounds(a: np.ndarray) -> tuple[int, int]:
    start = a.__array_interface__["data"][0]
    low = start + sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s < 0)
    high = start + sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s > 0) + a.itemsize
    return low, high


def _plain_view(b: Any) -> np.ndarray:
    return np.ndarray.view(b, np.ndarray)


def _plain(value: Any) -> Any:
    return _plain_view(value) if isinstance(value, Buffer) else value


def _plain_key(key: Any) -> Any:
    """An index with each buffer in it as its numbers (a copy: an index must not change later)."""
    if isinstance(key, tuple):
        return tuple(_plain_key(k) for k in key)
    if isinstance(key, Buffer):
        traced = traced_of(key)
        return traced if traced is not None else np.array(_plain_view(key))
    return key


def _swap(items: Any) -> Any:
    """Arguments with each buffer replaced: by its traced value once written, else by a plain
    ndarray showing its memory (so NumPy computes on it as on any array)."""
    if isinstance(items, Buffer):
        traced = traced_of(items)
        return traced if traced is not None else _plain_view(items)
    if type(items) in (list, tuple):
        return type(items)(_swap(i) for i in items)
    if type(items) is dict:
        return {k: _swap(v) for k, v in items.items()}
    return items


def _adopt(result: Any, args: Any, kwargs: Any) -> Any:
    """A NumPy function's result, with each plain array in it that shows a buffer's memory (as
    ``np.transpose(b)`` and ``np.split(b, 2)`` do) made a view of that buffer."""
    if isinstance(result, (list, tuple)) and any(type(r) is np.ndarray for r in result):
        items = [_adopt(r, args, kwargs) for r in result]
        # (NumPy's named tuples, eigh's EighResult and svd's SVDResult, take their fields one by one)
        return type(result)(*items) if hasattr(result, "_fields") else type(result)(items)
    if type(result) is not np.ndarray:
        return result
    for root in _roots([args, list(kwargs.values())]):
        if _overlaps(result, root):
            view = result.view(Buffer)
            view._gb_root = root
            view._gb_read = None
            view._gb_key = None
            return view
    return result


def _roots(items: Any) -> Iterator[Buffer]:
    if isinstance(items, Buffer):
        yield items._gb_root
    elif type(items) in (list, tuple):
        for i in items:
            yield from _roots(i)


def plain_buffer(array: np.ndarray, label: str, source: Source | None) -> Buffer:
    """``array`` (just allocated) as a buffer, drawn as ``label`` with its shape if it is ever
    written with traced values."""
    b = array.view(Buffer)
    b._gb_root = b
    b._gb_traced = None
    b._gb_label = label
    b._gb_source = source
    tape = _tape()
    b._gb_born = len(tape.nodes) if tape is not None else -1
    b._gb_recent = None
    return b


def buffer_like(array: Any, func: Any) -> Any:
    """What ``np.zeros_like(x)`` (``func``) gives for a traced ``x``: a buffer of NumPy's result."""
    if type(array) is not np.ndarray or _tape() is None:
        return array
    if func is np.empty_like or func is _found.get("empty_like"):
        array.fill(0)  # NumPy leaves any numbers there; zeros keep every drawing the same
    return plain_buffer(array, f"np.{func.__name__}", _source(3))


def traced_of(b: Buffer) -> Any:
    """The traced value buffer ``b`` shows once a traced value was written into it (None before)."""
    root = b._gb_root
    traced = root._gb_traced
    if traced is None or b is root:
        return traced
    last = b._gb_read
    if last is not None and last[0] is traced._node:
        return last[1]
    read = traced[_index_in(b, root)]
    b._gb_read = (traced._node, read)
    return read


def _index_in(view: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, ...]:
    """For each entry of ``view``, its index in ``root`` (a dense array it shows the memory of), as
    a tuple of integer arrays of ``view``'s shape."""
    item = root.itemsize
    if view.dtype != root.dtype:
        raise TraceError(f"a {view.dtype} view of a {root.dtype} array (x.view(dtype)) cannot be traced; "
                         f"use x.astype(...)")
    start = view.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    offsets = np.full(view.shape, start, dtype=np.intp)
    for axis, (n, s) in enumerate(zip(view.shape, view.strides)):
        offsets += (np.arange(n, dtype=np.intp) * s).reshape((1,) * axis + (n,) + (1,) * (view.ndim - axis - 1))
    flat = offsets // item
    index: list[Any] = [np.zeros(view.shape, dtype=np.intp)] * root.ndim
    for axis in sorted((a for a in range(root.ndim) if root.shape[a] > 1), key=lambda a: -abs(root.strides[a])):
        index[axis], flat = np.divmod(flat, root.strides[axis] // item)
    return tuple(index)


def _tape_of(items: Any) -> Any:
    """The tape of the first traced value in ``items`` (nested lists and tuples), else this thread's."""
    if type(items) is Traced and items._tape.active:  # (a value kept from a finished trace: numbers)
        return items._tape
    if type(items) in (list, tuple):
        for i in items:
            tape = _tape_of(i)
            if tape is not None:
                return tape
        return None if items else _tape()
    return _tape()


def _overwritten(b: Buffer, remembered: bool = False) -> None:
    """``b``'s memory written with plain numbers: its root no longer holds what it was made as
    (``np.empty``), and is drawn as the numbers it holds once it is traced. A write not
    ``remembered`` (``_remember``) ends the run of those that were: they are its numbers too."""
    root = b._gb_root
    root._gb_label = ""
    if not remembered:
        root._gb_recent = None


RECENT = 16  # plain writes a buffer remembers in a run (see ``_remember``): past this many, none
REMEMBERED_BYTES = 1 << 20  # buffers this big at most remember theirs (and 2 MiB of numbers written)
RUNS = 8  # runs a buffer remembers, at most: after them it is no step's scratch buffer
BUDGET = 64 << 20  # bytes a trace copies and reads to remember plain writes it then never records
# (buffers that do not become traced): past this, it remembers no more


def _remember(root: Buffer, key: Any, value: Any) -> bool:
    """Write plain numbers into buffer ``root`` (not yet traced) as NumPy does, and note the write
    if it is part of the buffer's last run of plain writes: those made with no op recorded between
    them, after an op was recorded since the buffer was allocated. If the buffer becomes traced,
    they are recorded as the ``setitem`` ops they are (see ``_promote``): an RNN step that fills a
    scratch buffer (``xh[:, :D] = x_t`` with data, then ``xh[:, D:] = h``) then makes the same ops
    at its second step as at the later ones, where the buffer is already traced, and its steps fold
    together. A run keeps the numbers the buffer held before it, and for each write where, what,
    the user's line, its scope and a checksum of the numbers after it. A buffer stops noting its
    writes after ``RUNS`` runs (it is not filled step by step before a traced write), and a run after
    ``RECENT`` writes. Returns whether the write was noted (or its run had too many): other writes
    end the run."""
    plain = _plain_view(root)
    tape = _tape()
    born = root.__dict__.get("_gb_born", -1)
    stamp = len(tape.nodes) if tape is not None else born
    if stamp == born or born < 0:  # filled as soon as allocated: part of what it is made as
        np.ndarray.__setitem__(plain, key, value)
        return False
    recent = root._gb_recent
    if recent is None or recent[0] != stamp:  # a new run, from the numbers it holds now
        runs = root._gb_runs = root.__dict__.get("_gb_runs", 0) + 1
        if runs > RUNS or root.nbytes > REMEMBERED_BYTES or tape.remembered > BUDGET:  # type: ignore[union-attr]
            root._gb_born = -1  # (not noted again)
            np.ndarray.__setitem__(plain, key, value)
            return False
        recent = root._gb_recent = [stamp, [], plain.copy(order="K"), tape.nodes[-1], 0, 0]  # type: ignore[union-attr]
    elif recent[1] is None:  # too many in this run: its writes are the buffer's numbers
        np.ndarray.__setitem__(plain, key, value)
        return True
    try:
        value = np.array(value, copy=True)  # (once: an object's __array__ may give other numbers each time)
    except Exception:  # noqa: BLE001 - NumPy's write says why, or makes it as it can
        np.ndarray.__setitem__(plain, key, value)
        return False
    np.ndarray.__setitem__(plain, key, value)  # (NumPy refusing it: not noted)
    writes = recent[1]
    recent[4] += value.nbytes
    spent = root.nbytes * (2 if not writes else 1) + value.nbytes  # (a run's copy; a checksum each)
    recent[5] += spent
    tape.remembered += spent  # type: ignore[union-attr]
    if len(writes) == RECENT or recent[4] > 2 * REMEMBERED_BYTES:
        recent[1] = None
        return True
    writes.append((copy.deepcopy(key), value, _source(3), tape.scoper.current(), _checksum(plain)))  # type: ignore[union-attr]
    return True


def _promote(root: Buffer, tape: Any) -> Any:
    """The traced value of buffer ``root``: made at the first write of a traced value, a constant of
    the numbers it holds then (drawn as ``np.zeros 3×4``, at the line that allocated it; as any
    constant, ``const ℝ²ˣ⁷`` and its range, when plain numbers were written into it first). The
    plain writes it remembers (``_remember``) are recorded as ``setitem`` ops on the numbers it held
    before them, each at its own line and in its own scope, placed among the ops where it was made."""
    traced = root._gb_traced
    if traced is not None:
        return traced
    if tape is None:
        raise TraceError("a traced value was written into an array after its trace finished")
    recent = getattr(root, "_gb_recent", None)
    root._gb_recent = None
    if recent is not None and recent[1] and _replays(recent[2], recent[1], _plain_view(root)):
        traced = _replayed(root, tape, recent)
        if traced is not None:
            tape.remembered -= recent[5]  # spent on writes recorded: the budget is for runs never used
            return traced
    label = f"{root._gb_label} {format_shape(root.shape)}" if root._gb_label else None
    node = tape.leaf("const", _plain_view(root), source=root._gb_source, label=label)
    traced = root._gb_traced = Traced(node, tape)
    tape.buffers.append(root)
    return traced


def _replays(before: np.ndarray, writes: list[Any], now: np.ndarray) -> bool:
    """Whether the ``writes`` made into numbers ``before`` give the numbers the buffer held after
    each (their checksums), and ``now`` at the end: nothing else wrote into it meanwhile (``b.sort()``,
    ``b.flat[i] = v``)."""
    again = before.copy(order="K")
    for key, value, _, _, checksum in writes:
        again[key] = value
        if _checksum(again) != checksum:
            return False
    return bool(np.array_equal(again, now, equal_nan=now.dtype.kind in "fc"))


def _checksum(a: np.ndarray) -> int:
    """A checksum of ``a``'s numbers (in C order, whatever its layout)."""
    return zlib.crc32(np.ascontiguousarray(a))


def _replayed(root: Buffer, tape: Any, recent: list[Any]) -> Any:
    """The traced value of ``root``: a constant of the numbers it held before its remembered plain
    writes, updated by each, recorded at its own line and scope, placed after the op recorded just
    before it was made. None (nothing recorded, the buffer's memory as it was) if the trace's
    memory limit or the tracer refuses them, or they do not give the numbers NumPy holds."""
    _, writes, before, anchor, _, _ = recent
    start, held, memory = len(tape.nodes), tape.held, _plain_view(root).copy(order="K")
    label = f"{root._gb_label} {format_shape(root.shape)}" if root._gb_label else None
    try:
        leaf = tape.leaf("const", before, source=root._gb_source, label=label)
        leaf.scope = writes[0][3]
        traced = root._gb_traced = Traced(leaf, tape)
        tape.buffers.append(root)
        for key, value, source, scope, _ in writes:
            made = len(tape.nodes)
            with at(source) if source is not None else _nowhere:
                traced[key] = value
            for node in tape.nodes[made:]:
                node.scope = scope
        same = traced._node.value.dtype == memory.dtype and np.array_equal(
            traced._node.value, memory, equal_nan=memory.dtype.kind in "fc")
    except GraphvizBPError:
        same = False
    made = tape.nodes[start:]
    del tape.nodes[start:]
    if not same:
        tape.held = held
        if root in tape.buffers:
            tape.buffers.remove(root)
        root._gb_traced = None
        np.copyto(_plain_view(root), memory)
        return None
    # after the op recorded just before the writes (none since reads the buffer, plain until now)
    k = len(tape.nodes) - 1
    while k >= 0 and tape.nodes[k] is not anchor:
        k -= 1
    tape.nodes[k + 1:k + 1] = made
    return traced


class _Nowhere:
    """A ``with`` block that does nothing (a write whose line is not known)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


_nowhere = _Nowhere()


def _write(b: Buffer, key: Any, value: Any) -> None:
    """``b[key] = value`` where the value is traced or ``b`` already is: recorded as a ``setitem`` on
    the traced value of ``b``'s root (made from the root's numbers at the first such write); the
    root's memory then shows the new values."""
    root = b._gb_root
    value = operand(value)
    traced = _promote(root, _tape_of(value))
    key = _plain_key(key)
    if b is root:
        traced[key] = value  # writes.write keeps the memory up to date (Buffer._gb_sync)
    elif b._gb_key is not None and key is Ellipsis:  # root[i] += v: drawn as root[i] ← ...
        traced[_plain_key(b._gb_key)] = value
    else:
        where = _index_in(b, root)
        traced[tuple(i[key] for i in where)] = value


for _attr in sorted(set(dir(np.ndarray)) - _KEPT):
    if not _attr.startswith("_") and _attr in np.ndarray.__dict__:
        setattr(Buffer, _attr, _delegate(_attr))


# The value type, imported last: traced.py makes buffers for np.zeros_like(x) and friends.
from .tracer import at  # noqa: E402
from .traced import Traced, _fill_diagonal, _plain_all, conversion_advice  # noqa: E402
from .vectorized import vectorized_call  # noqa: E402
