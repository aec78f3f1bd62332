"""In-place updates as NumPy makes them: a write into a traced value (``a[i] = v``, ``a += v``) is
recorded as a functional update, and every live traced value that would share the written memory
in NumPy (its base, the views of it, their views) is brought up to date, or the write is refused.

How views are known: when an op's result is not a fresh array, NumPy made it from an operand's
memory (``x.T``, ``x[0]``, ``x.reshape(...)``); ``note_view`` records that operand as the result's
base, with the op to re-derive it, and files the result, by a weak reference, under the family's
root (the value that is no one's view). Only views are filed, and dead ones are dropped, so a
temporary view (``W @ h[t - 1]``) costs nothing at the next write. At a write, each member of the
family gets the positions it covers in the root (the op chain replayed on ``arange``): the written
value's bases take a ``setitem`` of the new value, and each other member that covers a written
position is re-derived from its (updated) base, as NumPy would show it.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from . import ops
from .errors import OpError, TraceError
from .ops.indexing import Slot

if TYPE_CHECKING:
    from .ops import Op
    from .traced import Traced

__all__ = ["note_view", "write"]

_SETITEM = ops.get("setitem")
_INDEX = ops.get("index")


class View:
    """How a traced value was made from the memory of its ``base``: ``op`` on ``args`` (the base
    among them, the rest constants); ``op`` None when it cannot be replayed (a write then refuses);
    ``same``: the op returned the base's array itself (``astype(copy=False)``)."""

    __slots__ = ("base", "op", "args", "params", "root", "same")

    def __init__(self, base: Traced | None, op: Op | None, args: tuple[Any, ...], params: dict[str, Any],
                 same: bool = False) -> None:
        self.base = base
        self.op = op
        self.args = args
        self.params = params
        self.same = same
        self.root = None if base is None else (base if base._view is None else base._view.root)


def note_view(result: Traced, op: Op, operands: tuple[Any, ...], values: list[np.ndarray],
              params: dict[str, Any]) -> None:
    """Record that ``result`` (an op's result that is not a fresh array) is a view of the operand
    whose memory it shares, if any; file it under that operand's family."""
    from .traced import Traced

    out = result._node.value
    sharing = [i for i, v in enumerate(values) if v is out or np.may_share_memory(out, v)]
    if len(sharing) > 1:
        sharing = [i for i in sharing if values[i] is out or np.shares_memory(out, values[i])]
    # a NumPy scalar has no memory to share: what NumPy makes from it (s[...], s.reshape(1)) is new
    sharing = [i for i in sharing if not (type(operands[i]) is Traced and operands[i]._scalar)]
    if not sharing:
        return  # made from a temporary of the op's own, or from a scalar: a fresh array after all
    bases = [operands[i] for i in sharing if type(operands[i]) is Traced]
    replayable = (len(sharing) == 1 and len(bases) == 1
                  and sum(type(a) is Traced for a in operands) == 1)
    if not bases:  # a view of a NumPy array that is not traced: a write into it is refused
        result._view = View(None, None, (), {})
        return
    for base in bases:
        if base._view is not None and base._view.base is None:  # a view of an untraced array's view
            result._view = base._view
            return
        view = View(base, op if replayable else None, tuple(operands), params,
                    same=any(values[i] is out for i in sharing))
        root = view.root
        if root._views is None:
            root._views = []
        root._views.append(weakref.ref(result))
        if base is bases[0]:
            result._view = view


def _members(root: Traced) -> list[Traced]:
    """The live views filed under ``root``, in the order they were made (bases before views)."""
    if not root._views:
        return []
    live = [m for m in (r() for r in root._views) if m is not None]
    root._views[:] = [weakref.ref(m) for m in live]  # drop the dead
    return live


def _line(t: Traced) -> str:
    source = t._node.source
    return f" (line {source.lineno})" if source is not None else ""


def _where_now() -> str:
    from .tracer import _caller

    source = _caller()
    return f" (line {source.lineno}: {source.line})" if source is not None and source.line else \
        (f" (line {source.lineno})" if source is not None else "")


def _positions(member: Traced, root: Traced, known: dict[int, np.ndarray]) -> np.ndarray:
    """The positions in ``root`` (flat) that ``member`` shows, by replaying its op chain on them."""
    got = known.get(id(member))
    if got is not None:
        return got
    view = member._view
    assert view is not None and view.op is not None and view.base is not None
    below = _positions(view.base, root, known)
    if view.same:
        known[id(member)] = below
        return below
    args = [below if a is view.base else a for a in view.args]  # the others are constants
    got = np.asarray(view.op.forward(*args, **view.params))
    if got.shape != member.shape or got.dtype.kind not in "iu":
        raise TraceError(f"{view.op.name}: cannot follow which entries a view of it shows")
    known[id(member)] = got
    return got


def _check_inputs(root: Traced) -> None:
    """At the first write into an input: if it shares memory with another input, that one would
    change too (refused); NumPy arrays made later that share its memory are refused (``_Tape.leaf``)."""
    tape = root._tape
    mine = next((k for k, v in tape.inputs.items() if v is root and v._node.kind == "input"), None)
    if mine is None:
        return
    for key, other in tape.inputs.items():
        if other is not root and other._node.kind == "input" and np.shares_memory(other._node.value, root._node.value):
            raise TraceError(
                f"input {mine!r} shares memory with input {key!r}, so a write into {mine!r}{_where_now()} "
                f"would change {key!r} too in NumPy, which graphviz_bp does not follow; pass a copy "
                f"({key}=arr.copy())")
    tape.written.append((mine, root._node.value))


def write(target: Traced, new: Traced, where: tuple[Any, ...] | None) -> None:
    """Make ``target`` show ``new``'s values (same shape and dtype) after a write at ``where`` (an
    index into ``target``; None: everywhere), updating every live value that shares the memory."""
    if not target._node.value.flags.writeable:
        from .tracer import _caller

        where_now = _caller()
        raise OpError(f"assignment destination is read-only: {_name(target)}{_line(target)} is a "
                      f"read-only view (as in NumPy: np.broadcast_to, np.diagonal); copy it first "
                      f"(x = x.copy())", str(where_now) if where_now is not None else None)
    view = target._view
    if view is None and _layout(new) != _layout(target):  # NumPy writes in place: the layout stays
        new = _apply(_SETITEM, target, new, index=(Ellipsis,), text="[...]")
    if view is None and (not target._views or not _members(target)):  # no base, no live views
        if target._node.kind == "input":
            _check_inputs(target)
        target._node = new._node
        for buffer in target._tape.buffers:  # an array the function made shows its new numbers
            if buffer._gb_traced is target:
                buffer._gb_sync()
        return
    if view is not None and view.base is None:
        raise TraceError(f"{_name(target)}{_line(target)} is a view of a NumPy array that is not traced; "
                         f"the write{_where_now()} would change that array, which graphviz_bp does not "
                         f"follow: copy it first (x = x.copy())")
    root = target if view is None else view.root
    members = _members(root)
    for m in members + ([target] if view is not None else []):
        if m._view.op is None:
            raise TraceError(
                f"{_name(m)}{_line(m)} shares memory with {_name(target)} in a way graphviz_bp does not "
                f"follow; after the write{_where_now()} NumPy would show the change through it: "
                f"make it a copy (.copy()) or take it after the write")
    if root._node.kind == "input":
        _check_inputs(root)
    known: dict[int, np.ndarray] = {id(root): np.arange(root._node.value.size).reshape(root.shape)}
    try:
        mine = _positions(target, root, known)
        hit = np.zeros(root._node.value.size, dtype=bool)
        hit[(mine if where is None else mine[where]).ravel()] = True
        touched = [m for m in members if m is not target and hit[_positions(m, root, known)].any()]
    except TraceError as exc:
        raise TraceError(f"{exc}: the write{_where_now()} into {_name(target)} cannot be followed to the "
                         f"values sharing its memory; copy the view first (x = x.copy())") from None
    # up the chain: each base takes the new value of its view with a setitem
    path = []
    t = target
    while t is not root:
        path.append(t)
        t = t._view.base
    value = new
    relayout = path and _layout(new) != _layout(target)  # then target is taken from its base again
    for t in path:
        base, vw = t._view.base, t._view
        if vw.same:  # the base's array itself: it shows the new value as it is
            t._node = value._node
            continue
        if vw.op is _INDEX and len(vw.args) == 1 and \
                not any(isinstance(p, (np.ndarray, Slot)) for p in vw.params["index"]):  # basic: same index
            index, text = vw.params["index"], vw.params.get("text", "")
        else:
            index = np.unravel_index(_positions(t, base, {id(base): np.arange(base._node.value.size)
                                                            .reshape(base.shape)}), base.shape)
            text = f"[{vw.op.name}]"
        updated = _apply(_SETITEM, base, value, index=index, text=text)
        t._node = value._node
        value = updated
    root._node = value._node
    for buffer in root._tape.buffers:  # an array the function made shows its new numbers
        if buffer._gb_traced is root:
            buffer._gb_sync()
    on_path = set(map(id, path[1:] if relayout else path))
    if relayout:
        again = set(map(id, touched)) | {id(target)}
        touched = [m for m in members if id(m) in again]  # in the order they were made
    for m in touched:  # in the order they were made: each base is current before its views
        if id(m) not in on_path and m is not root:
            vw = m._view
            m._node = vw.base._node if vw.same else _apply(vw.op, *vw.args, **vw.params)._node


def _layout(t: Traced) -> tuple[int, ...]:
    """The strides that matter (of the axes longer than 1): NumPy's reshape makes a view or a copy
    by them, so a written value must keep them."""
    v = t._node.value
    return tuple(s for n, s in zip(v.shape, v.strides) if n > 1)


def _name(t: Traced) -> str:
    node = t._node
    if node.name:
        return node.name
    source = node.source
    return f"the value made by {source.line!r}" if source is not None and source.line else "a value"


def _apply(op: Op, *args: Any, **params: Any) -> Traced:
    from .tracer import apply

    return apply(op, *args, **params)
