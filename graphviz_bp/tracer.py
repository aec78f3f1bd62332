"""Tracing: ``record`` runs a function on traced values and builds the DAG; ``apply`` and ``call``
record one op each, on the tape of the trace, within its memory limit."""

from __future__ import annotations

import contextvars
import math
import os
import sys
from typing import Any, Callable, Mapping

import numpy as np

from .errors import (GraphvizBPError, MemoryLimitError, OpError, OutputChoiceError, ShapeError, TraceError,
                     UnsupportedOpError)
from .graph import DAG, Edge, Node, Source, finish
from .ops import Op
from .scopes import Scoper, merge_wrappers

__all__ = ["Traced", "apply", "at", "call", "name", "pick_output", "plain", "record"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep


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


def called_from() -> str:
    """When the line an error names (``_caller``) is an installed library's (scipy's ``logpdf``
    converting its argument), the end of the message naming the line outside the libraries that
    called it, the user's: "called from loss.py:7 in f: ..."; else ""."""
    if _SOURCE.get() is not None:
        return ""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith((_PACKAGE_DIR, _NUMPY_DIR)):
        f = f.f_back
    if f is None or not _installed(f.f_code.co_filename):
        return ""
    while f is not None and (_installed(f.f_code.co_filename) or f.f_code.co_filename.startswith(_NUMPY_DIR)):
        f = f.f_back
    # graphviz_bp's own frame there: the traced function is the library's own, called by the tracer
    if f is None or f.f_code.co_filename.startswith(_PACKAGE_DIR):
        return ""
    return f"\n  called from {Source(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)}"


def _installed(filename: str) -> bool:
    """Whether ``filename`` is an installed package's (under a site-packages or dist-packages
    folder) or the standard library's."""
    parts = filename.split(os.sep)
    return "site-packages" in parts or "dist-packages" in parts or filename.startswith(_STDLIB)


_STDLIB = os.path.dirname(os.__file__) + os.sep


def _locate(exc: BaseException) -> None:
    """Give ``exc``, raised by the tracer on the user's code without saying where (``x.view(dtype)``,
    ``np.add.reduce``, NumPy's own code such as ``np.ma.log`` calling them), the user's line it was
    raised under: the innermost frame of its traceback outside graphviz_bp and NumPy."""
    if not isinstance(exc, GraphvizBPError) or len(exc.args) != 1 or not isinstance(exc.args[0], str) \
            or "\n  at " in exc.args[0] or str(exc) != exc.args[0]:
        return
    frames = _traceback(exc)
    k = _innermost_user(frames)
    # (raised by graphviz_bp itself: an error class of ours the user raised is left as it is)
    if k is not None and frames[-1][0].f_code.co_filename.startswith(_PACKAGE_DIR):
        exc.args = (f"{exc.args[0]}\n  at {_source_of(*frames[k])}",)


def _traceback(exc: BaseException) -> list[tuple[Any, int]]:
    """The frames of ``exc``'s traceback, outermost first, each with the line it was at."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


# graphviz_bp's files, NumPy's, and the compiled parts of NumPy a traceback names by their sources
# (``numpy/random/_generator.pyx``)
_NOT_USERS = (_PACKAGE_DIR, _NUMPY_DIR, "numpy/", "numpy" + os.sep)


def _innermost_user(frames: list[tuple[Any, int]]) -> int | None:
    """The index of the innermost of ``frames`` outside graphviz_bp and NumPy (None: none is)."""
    users = [k for k, (f, _) in enumerate(frames) if not f.f_code.co_filename.startswith(_NOT_USERS)]
    return users[-1] if users else None


def _source_of(frame: Any, lineno: int) -> Source:
    return Source(frame.f_code.co_filename, lineno, frame.f_code.co_name)


_MASKED_DIR = os.path.join(_NUMPY_DIR, "ma") + os.sep


def _masked(exc: BaseException) -> UnsupportedOpError | None:
    """The error to give for ``exc`` when NumPy's masked arrays (``np.ma``) raised it on a traced
    value, at the user's line that called them; else None."""
    frames = _traceback(exc)
    k = _innermost_user(frames)
    if k is None:
        return None
    # NumPy's masked code, called by the user's innermost line, given a traced value
    inside = [f for f, _ in frames[k + 1:] if f.f_code.co_filename.startswith(_MASKED_DIR)]
    if not any(type(v) is Traced for f in inside for v in f.f_locals.values()):
        return None
    return UnsupportedOpError(
        "numpy.ma (masked arrays) is not supported on traced values; write the mask with np.where, e.g. "
        "np.where(m, np.log(np.where(m, x, 1)), 0) for np.ma.log(x) filled with 0 where it is masked"
        f"\n  at {_source_of(*frames[k])}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Tape:
    """The nodes of one trace, in the order they were made (a topological order)."""

    __slots__ = ("nodes", "active", "limit", "held", "inputs", "written", "buffers", "scoper", "remembered")

    def __init__(self, limit: int | None = None) -> None:
        self.nodes: list[Node] = []
        self.inputs: dict[str, Traced] = {}  # by keyword: a write into one checks it shares no memory
        self.written: list[tuple[str, np.ndarray]] = []  # the input arrays written into, by keyword
        self.active = True
        self.limit = limit  # bytes the trace may create (None: no limit)
        self.held = 0       # bytes created so far
        self.buffers: list[Any] = []  # the buffers written with traced values (see buffers.py)
        self.remembered = 0  # bytes buffers copied and read to remember their plain writes (buffers.py)
        self.scoper = Scoper(record.__code__)  # the calls, groups and loop iterations ops are made in

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

    def leaf(self, kind: str, value: Any, name: str | None = None, source: Source | None = None,
             label: str | None = None, var: str | None = None) -> Node:
        """A leaf node (an input or a constant; ``label``: how a constant is drawn; ``var``: the
        user's variable that holds it, ``X``). A constant is a copy of a writable array, so that a
        later write into the array cannot change it."""
        at = f"\n  at {source}" if source is not None else ""
        if type(value) in (list, tuple) and holds_traced(value):  # (apply stacks them: not a constant)
            raise TraceError(f"a list holding traced values cannot be a constant: {_short(value)}{at}")
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            what = "complex numbers are not supported" if arr.dtype.kind == "c" else \
                "only real numbers and numeric arrays can be traced"
            raise TraceError(f"cannot use {type(value).__name__} value {_short(value)} as an array "
                             f"(dtype {arr.dtype}): {what}{at}")
        if self.written and type(value) is np.ndarray:
            for key, original in self.written:
                if np.shares_memory(arr, original):
                    raise TraceError(
                        f"this NumPy array shares memory with the array passed as input {key!r}, which "
                        f"the function wrote into; NumPy would show the write through it, which "
                        f"graphviz_bp does not follow (the arrays passed in are never written): use the "
                        f"traced {key} instead, or pass a copy ({key}=arr.copy())")
        if kind == "const" and isinstance(value, np.ndarray) and arr.flags.writeable:
            arr = arr.copy(order="K")  # (laid out as it was: x.T * (x.T > 0) keeps NumPy's layout)
        differentiable = kind == "input" and arr.dtype.kind == "f"
        node = Node(kind, arr, name=name, differentiable=differentiable, source=source,
                    params={"label": label} if label else {"var": var} if var else None)
        if kind == "const":
            node.scope = self.scoper.current()
        self.nodes.append(node)
        return node


def _describe(op: Op, shapes: list[tuple[int, ...]]) -> str:
    shown = " and ".join(str(s) for s in shapes) if len(shapes) > 1 else str(shapes[0])
    return f"{op.name} ({op.symbol}) on shape{'s' if len(shapes) > 1 else ''} {shown}"


def _op_error(op: Op, values: list[np.ndarray], params: dict[str, Any], source: Source | None,
              numpy_error: Exception) -> GraphvizBPError:
    """A ShapeError when the op's shape rule refuses the shapes (its reason names the axes), else
    an OpError with NumPy's reason (a singular matrix, say). Raised in an installed library's code
    (scipy's), it names the user's line that called the library too."""
    shapes = [v.shape for v in values]
    where = str(source) + called_from() if source is not None else None
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
            if not a._tape.active:  # kept from a finished trace (running statistics, a cache): its numbers
                return apply(op, *[kept_numbers(b) if type(b) is Traced and not b._tape.active else b
                                   for b in operands], **params)
            if tape is None:
                tape = a._tape
            elif a._tape is not tape:
                raise TraceError(f"{op.name}: operands come from two different traces")
        elif type(a) is Buffer or (type(a) in (list, tuple) and holds_traced(a)):
            # an array the function made (its traced value once written), or a list holding traced
            # values beside a traced operand (np.concatenate([a, [b[0], b[1]]])): stacked, as NumPy
            # makes an array of it
            return apply(op, *[operand(b) for b in operands], **params)
    if tape is None:  # nothing traced: just compute (so graphviz_bp.functions work on arrays)
        return op.forward(*[np.asarray(a) for a in operands], **params)

    source = _SOURCE.get()
    scope = tape.scoper.current()
    if source is None:
        f = tape.scoper.innermost
        source = Source(f.f_code.co_filename, f.f_lineno, f.f_code.co_name) if f is not None else _caller()
    srcs = []
    values = []
    differentiable = False
    for a in operands:
        n = a._node if type(a) is Traced else tape.leaf("const", _constant(a, operands), source=source,
                                                        var=_bound_name(a, tape.scoper.innermost))
        srcs.append(n)
        values.append(n.value)
        differentiable = differentiable or n.differentiable
    tape.admit(op, values, params, source)
    try:
        out = op.forward(*values, **params)
    except (ValueError, IndexError) as exc:  # NumPy's reason is terse; the shape rule names axes
        raise _op_error(op, values, params, source, exc) from None
    scalar = type(out) is not np.ndarray  # NumPy gave a scalar (np.sum, a[0, 1]): += rebinds it
    if scalar:
        out = np.asarray(out)
    owns = out.flags.owndata
    if owns:  # a view (transpose, reshape) takes no new memory
        tape.held += out.nbytes
    node = Node("op", out, op=op, params=params, source=source,
                differentiable=differentiable and out.dtype.kind == "f")
    node.scope = scope
    node.in_edges = [Edge(src, node, i) for i, src in enumerate(srcs)]
    tape.nodes.append(node)
    result = Traced(node, tape)
    if scalar:
        result._scalar = True
    elif not owns:  # maybe a view of an operand: writes must follow
        note_view(result, op, operands, values, params)
    else:
        for v in values:
            if v is out:  # the operand's array itself (astype(copy=False))
                note_view(result, op, operands, values, params)
                break
    return result


def _bound_name(value: Any, frame: Any) -> str | None:
    """The name the user's frame binds the array ``value`` to (its locals, then its module's
    globals: data a loss reads from its module, ``X @ W - Y``), if any; a private name (``_cache``)
    is none."""
    if type(value) is not np.ndarray or frame is None:
        return None
    for names in (frame.f_locals, frame.f_globals):
        for key, bound in names.items():
            if bound is value and key.isidentifier() and not key.startswith("_"):
                return key
    return None


def _constant(value: Any, operands: tuple[Any, ...]) -> Any:
    """A Python number takes the dtype NumPy would give it beside the traced operands (so a float32
    array times 2.0 stays float32, as in NumPy); anything else is used as it is."""
    if type(value) in (int, float, complex, bool):
        return np.asarray(value, dtype=np.result_type(value, *(a._node.value for a in operands
                                                               if type(a) is Traced)))
    return value


def call(op: Op, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Record ``op`` for a NumPy call ``fn(*args, **kwargs)`` (or the method ``args[0].m(...)``):
    bound by the op's binder as NumPy binds it; a call the op declares gradient-free (``astype(int)``)
    is computed on the values and gives a plain array."""
    if op.bind is not None:
        args, kwargs = op.bind(*args, **kwargs)
    if op.constant is not None and op.constant(kwargs):
        return op.forward(*_plain_all(args), **kwargs)
    out = apply(op, *args, **kwargs)
    if op.result is not None:
        return op.result(out, [_plain(a) for a in args])
    return out


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


def _not_an_array(key: str, value: Any, why: str) -> str:
    return (f"input {key!r} is not an array of numbers ({type(value).__name__}; {why}); inputs are what "
            f"is differentiated: arrays or numbers. Other data (token lists, sentences, dicts) can stay "
            f"out of the inputs: let the function read it from outside, e.g. a closure or a default argument")


def record(fn: Callable[..., Any], inputs: Mapping[str, Any], memory_limit: int | None = None) -> DAG:
    """Call ``fn(**traced_inputs)`` and return the DAG of everything the output depends on.

    ``memory_limit`` bounds the bytes of the arrays the trace creates (see ``_Tape.admit``).
    """
    tape = _Tape(memory_limit)
    traced = {}
    for key, value in inputs.items():
        if type(value) is Traced:
            raise TraceError(f"input {key!r} is already a traced value; pass its array instead")
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:  # ragged lists: NumPy cannot make one array of them
            raise TraceError(_not_an_array(key, value, f"NumPy cannot make one array of it: {exc}")) from None
        if arr.dtype.kind not in "biufc":
            raise TraceError(_not_an_array(key, value, f"it holds {arr.dtype} data"))
        if arr.dtype.kind in "biu" and not isinstance(value, np.ndarray):
            arr = arr.astype(float)  # Python numbers and lists: differentiate as floats
        traced[key] = Traced(tape.leaf("input", arr, name=key), tape)
        if arr.ndim == 0 and not isinstance(value, np.ndarray):
            traced[key]._scalar = True  # a number: x += 1 rebinds x, as it would in Python
    tape.inputs = traced
    try:
        with allocating(tape):
            out = fn(**traced)
            if type(out) is Buffer:  # an array it made: its traced value if traced values were written
                written = traced_of(out)
                out = out.view(np.ndarray) if written is None else written
    except ValueError as exc:  # NumPy's own words for a traced value stored into a plain array
        advice = stored_outside(exc)
        if advice is None:
            _locate(exc)
            raise
        raise advice from None
    except (UnsupportedOpError, TraceError) as exc:
        masked = _masked(exc)
        if masked is not None:
            raise masked from None
        _locate(exc)
        raise
    except TypeError as exc:  # NumPy's masked arrays take a traced value for an ndarray
        masked = _masked(exc)
        if masked is not None:
            raise masked from None
        raise
    finally:
        tape.active = False
        tape.scoper.close()
        tape.inputs = {}  # the inputs' Traced refer to the tape: no cycle left for the collector
    if type(out) is not Traced:
        name = getattr(fn, "__name__", "the function")
        if isinstance(out, (tuple, list, dict)):
            which = "a key" if isinstance(out, dict) else "an index"
            example = repr(next(iter(out), "loss")) if isinstance(out, dict) else "0"
            raise OutputChoiceError(f"{name} returned a {type(out).__name__} of {len(out)} values; say "
                                    f"which is the loss with {{option}} ({which}, e.g. {{option}}{example})")
        raise TraceError(
            f"{name} returned {type(out).__name__}, not a value "
            f"computed from its inputs ({', '.join(inputs) or 'none given'}); return one array "
            f"computed with NumPy operations on them")
    dag = finish(tape.nodes, out._node)
    merge_wrappers(dag.nodes)
    return dag


def pick_output(result: Any, output: Any, name: str) -> tuple[Any, Any]:
    """``(loss, rest)`` from what a traced function returned: ``result[output]`` and the other
    items of its tuple, list or dict (in their own container type). With ``output`` None, ``result``
    is the loss and there is no rest."""
    if output is None:
        return result, None
    if isinstance(result, dict):
        if output not in result:
            keys = ", ".join(repr(k) for k in result)
            raise OutputChoiceError(f"{{option}}{output!r} is not a key of what {name} returned (keys: {keys})")
        return result[output], {k: v for k, v in result.items() if k != output}
    if isinstance(result, (tuple, list)):
        if type(output) is not int or not -len(result) <= output < len(result):
            raise OutputChoiceError(f"{{option}}{output!r} is not an index of the {len(result)} values "
                                    f"{name} returned")
        i = output % len(result)
        return result[i], type(result)(v for k, v in enumerate(result) if k != i)
    raise OutputChoiceError(f"{{option}}{output!r} picks the loss from a tuple, list or dict, but {name} "
                            f"returned one {type(result).__name__}")


def plain(value: Any) -> Any:
    """``value`` with every traced value in it (also inside tuples, lists and dicts) replaced by
    its array: what a traced function returned besides its loss, kept after the trace."""
    if type(value) is Traced:
        return value._node.value
    if type(value) is Buffer:  # plain again after the trace, showing the traced values
        return value.view(np.ndarray)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(plain(v) for v in value)
    return value


# The value type, imported last: its methods call apply and call, and apply makes Traced values.
from .traced import Traced, _plain, _plain_all, kept_numbers, stored_outside  # noqa: E402
from .buffers import Buffer, allocating, holds_traced, operand, traced_of  # noqa: E402
from .writes import note_view  # noqa: E402
