"""Scopes: where in the structure of the user's code an op was made. The function calls it is inside
(a layer written as a function), the ``with gb.group("layer 3"):`` blocks, and the loop iterations
(the same lines executed again) form a chain of ``Scope`` records, from the outermost; the traced
function itself is the root (no scope)."""

from __future__ import annotations

import contextvars
import dis
import inspect
import linecache
import os
import re
import sys
import weakref
from types import CodeType, FrameType
from typing import Any, Sequence

import numpy as np

from .graph import Source

__all__ = ["Scope", "Scoper", "group"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep
_SKIP = (_PACKAGE_DIR, _NUMPY_DIR)
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)
_SUSPENDS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_COMPREHENSIONS = ("<listcomp>", "<genexpr>", "<dictcomp>", "<setcomp>")

class Scope:
    """A part of the user's code that made ops: ``kind`` is ``"call"`` (a call of the function
    ``label``), ``"group"`` (a ``with gb.group(label):`` block), ``"loop"`` (one run of the loop
    whose header is ``label``) or ``"iteration"`` (a pass through that loop's body that made ops,
    numbered by the loop's counter in a loop over ``range`` or ``enumerate``, else by the passes
    that made ops before it: passes that made none, a ``continue`` before any op, are not counted).
    ``parent`` is the enclosing scope (None: the traced function), ``number`` orders scopes by
    creation, ``source`` is where it starts (a call's line, a loop's header, a ``with`` line)."""

    __slots__ = ("kind", "label", "parent", "index", "number", "source", "depth", "via", "glue", "counter")

    def __init__(self, kind: str, label: str, parent: Scope | None, index: int, number: int,
                 source: Source | None) -> None:
        self.kind = kind
        self.label = label
        self.parent = parent
        self.index = index
        self.number = number
        self.source = source
        self.depth = 0 if parent is None else parent.depth + 1
        self.via: tuple[str, ...] = ()  # a call's callers that only called it (see ``merge_wrappers``)
        self.glue = False  # a call of a function that says nothing of its own as a wrapper (``_glue``)
        self.counter: str | None = None  # an iteration numbered by its loop's counter: the counter's name

    @property
    def chain(self) -> tuple[Scope, ...]:
        """The scopes from the outermost to this one."""
        out: list[Scope] = []
        s: Scope | None = self
        while s is not None:
            out.append(s)
            s = s.parent
        return tuple(reversed(out))

    @property
    def title(self) -> str:
        """How a drawing names it: ``layer()``, ``layer 3``, ``for i in range(4):``, ``iteration 2``."""
        if self.kind == "call":
            if not self.via:
                return f"{self.label}()"
            via = self.via if len(self.via) < 3 else (self.via[0], "…")
            return " → ".join([f"{v}()" if v != "…" else v for v in via] + [f"{self.label}()"])
        if self.kind == "iteration":
            return f"iteration {self.index}"
        return self.label

    def __repr__(self) -> str:
        return f"Scope({self.kind!r}, {self.title!r}, depth={self.depth})"


def merge_wrappers(nodes: Sequence[Any]) -> None:
    """Drop the calls that only call another: no op made in them but in one call they make (a
    from-scratch framework's ``Module.__call__`` that returns ``self.forward(x)``; ``encoder(x)``
    returning ``block(x)``). Each would be a frame holding only the frame of that call, doubling
    the drawing's nesting and its ``depth`` levels. The call inside takes its place; it is titled
    with the callers it had (``encoder() → block()``), except those that say nothing the call
    inside does not (``_glue``: ``Module.__call__``, a decorator's wrapper, a lambda)."""
    own: set[int] = set()  # scopes an op was made in directly
    children: dict[int, list[Scope]] = {}
    place: dict[int, int] = {}  # a scope's place among its parent's children
    scopes: dict[int, Scope] = {}
    for n in nodes:
        s = n.scope
        if s is None:
            continue
        own.add(s.number)
        while s is not None and s.number not in scopes:
            scopes[s.number] = s
            if s.parent is not None:
                kids = children.setdefault(s.parent.number, [])
                place[s.number] = len(kids)
                kids.append(s)
            s = s.parent
    merged = False
    for s in sorted(scopes.values(), key=lambda s: -s.depth):  # innermost first: wrappers of wrappers
        kids = children.get(s.number, ())
        if s.kind != "call" or s.number in own or len(kids) != 1 or kids[0].kind != "call":
            continue
        (inner,) = kids
        inner.parent = s.parent
        if not s.glue:
            inner.via = (s.label,) + inner.via
        if s.parent is not None:
            children[s.parent.number][place[s.number]] = inner
            place[inner.number] = place[s.number]
        merged = True
    if merged:
        for s in sorted(scopes.values(), key=lambda s: s.number):  # (a parent is made before its scopes)
            s.depth = 0 if s.parent is None else s.parent.depth + 1


# --- with gb.group(...) ---------------------------------------------------------------------------

class _Open:
    """A ``with gb.group(label):`` block being run: its label, the frame that opened it and the
    offset of its ``with`` there (which says whether it is inside a loop of that frame)."""

    __slots__ = ("label", "frame", "offset", "source")

    def __init__(self, label: str, frame: FrameType) -> None:
        self.label = label
        self.frame = frame
        self.offset = _lasti(frame)
        self.source = Source(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


_GROUPS: contextvars.ContextVar[tuple[_Open, ...]] = contextvars.ContextVar("graphviz_bp_groups", default=())


class group:
    """``with gb.group("layer 3"):``: the ops made inside are drawn together, as one group (a
    cluster; one box when a drawing's ``depth`` collapses it). Groups nest, inside function calls
    and loop iterations too. Outside a trace it does nothing."""

    __slots__ = ("label", "_token")

    def __init__(self, label: str) -> None:
        if not isinstance(label, str) or not label.strip():
            raise TypeError(f"group() needs a non-empty string label, got {label!r}")
        self.label = label

    def __enter__(self) -> group:
        self._token = _GROUPS.set(_GROUPS.get() + (_Open(self.label, sys._getframe(1)),))
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None:  # (None: a ``called`` that opened none)
            _GROUPS.reset(self._token)


class _Called(_Open):
    """A NumPy function made of others (``ops.composed``) being run: a group like ``_Open``'s."""

    __slots__ = ()


def user_frame(f: FrameType | None) -> FrameType | None:
    """``f`` or the innermost frame around it outside graphviz_bp and NumPy: the user's."""
    while f is not None and f.f_code.co_filename.startswith(_SKIP):
        f = f.f_back
    return f


class called(group):
    """``with called("np.median"):`` around a NumPy function made of others (``ops.composed``): the
    ops it records are a group titled with its name, as if the user's line that called it were
    inside ``with gb.group("np.median"):``. One called inside another (np.cov's np.average) opens
    none: its ops are the outer one's."""

    __slots__ = ()

    def __enter__(self) -> called:
        blocks = _GROUPS.get()
        frame = user_frame(sys._getframe(1))
        inside = blocks and type(blocks[-1]) is _Called and blocks[-1].frame is frame
        self._token = None if frame is None or inside else _GROUPS.set(blocks + (_Called(self.label, frame),))
        return self


# --- the loops of a code object ---------------------------------------------------------------------

_LOOPS: weakref.WeakKeyDictionary[CodeType, list[Any]] = weakref.WeakKeyDictionary()


def _loops(code: CodeType) -> list[tuple[int, int, str, int, tuple[str, ...], bool, bool, bool, bool]]:
    """The loops of ``code`` as ``(start, end, header line's text, header line number, names,
    counted, branches, ranged, counting)``, outermost first: the offsets from a backward jump's target to the
    jump; the names that change from one iteration to the next (a ``for`` loop's target; see
    ``_counters`` for the others); ``counted``: a ``for`` loop whose target only its header assigns
    (its value is the loop's own); ``branches``: its body jumps forward (an ``if``), so that an
    iteration's first op may come further on in the code than the last one's (see ``_reaches``);
    ``ranged``: such a loop over ``range(...)`` or ``enumerate(...)``, whose int counter takes each
    value once in a run (see ``_outer``); ``counting``: over a call of one of them itself, its
    target's first name the counter (see ``_counter``)."""
    got = _LOOPS.get(code)
    if got is None:
        instructions = list(dis.get_instructions(code))
        lines: dict[int, int] = {}
        line = code.co_firstlineno
        for ins in instructions:
            positions = getattr(ins, "positions", None)  # Python 3.11+; before, starts_line
            start = positions.lineno if positions is not None else ins.starts_line
            if isinstance(start, int) and start > 0:
                line = start
            lines[ins.offset] = line
        loops = []
        at = {ins.offset: k for k, ins in enumerate(instructions)}
        for ins in instructions:
            if ins.opcode in _JUMPS and isinstance(ins.argval, int) and ins.argval <= ins.offset:
                start = int(ins.argval)
                k = at.get(start)
                while k is not None and instructions[k].opname == "EXTENDED_ARG":  # (before a FOR_ITER
                    k += 1                                                          # whose jump is far)
                    start = instructions[k].offset
                header = _header(code, lines.get(start, code.co_firstlineno),
                                 k is not None and instructions[k].opname == "FOR_ITER")
                text = _header_text(code.co_filename, header) or f"loop at line {header}"
                target = _target(instructions, at.get(start))
                if code.co_name in _COMPREHENSIONS and target:  # [... for Wb in params for v in Wb]: its clause
                    text = _clause(linecache.getline(code.co_filename, header), target,
                                   _column(instructions, at.get(start))) or text
                loops.append((start, ins.offset, text, header, target))
        loops.sort(key=lambda r: (r[0], -r[1]))
        # a `continue` jumps back to its loop's head too: one loop per head, to its last jump
        loops = [lp for k, lp in enumerate(loops) if k == 0 or lp[0] != loops[k - 1][0]]
        got = _LOOPS[code] = [_kind(instructions, lp, loops, at) for lp in loops]
    return got


def _kind(instructions: list[dis.Instruction], loop: tuple[Any, ...], loops: list[tuple[Any, ...]],
          at: dict[int, int]) -> tuple[Any, ...]:
    """``loop`` (start, end, text, header line, target) with its names, ``counted`` and
    ``branches`` (see ``_loops``)."""
    start, end, target = loop[0], loop[1], loop[4]
    body = [i for i in instructions if start < i.offset < end]
    branches = any(i.opcode in _JUMPS and i.opname != "FOR_ITER" and isinstance(i.argval, int)
                   and i.argval > i.offset for i in body)
    if branches and getattr(dis, "_parse_exception_table", None) is None \
            and any(i.opname in ("SETUP_FINALLY", "SETUP_WITH", "SETUP_ASYNC_WITH") for i in body):
        branches = False  # Python 3.10: what raises inside a try cannot be told from the bytecode's jumps
    if not target:
        return loop[:4] + (_counters(instructions, loop, loops), False, branches, False, False)
    k = at[start]
    header = {i.offset for i in _target_stores(instructions, k)}
    again = any(i.opname in ("STORE_FAST", "DELETE_FAST") and str(i.argval) in target and i.offset not in header
                for i in instructions if start < i.offset <= end)
    if again:  # the body (or a loop inside it) assigns the target too: its value says nothing
        return loop[:4] + (_counters(instructions, loop, loops), False, branches, False, False)
    return loop[:5] + (True, branches, _ranged(instructions, k), _counting(instructions, k))


def _counting(instructions: list[dis.Instruction], k: int) -> bool:
    """Whether the ``for`` loop whose FOR_ITER is instruction ``k`` iterates over a call of the
    builtin ``range`` or ``enumerate`` itself (not ``zip(xs, range(n))``): then its target's first
    name is its counter. The iterable is the shortest run of instructions before its GET_ITER that
    leaves one value; the call's function is loaded first."""
    k = _before_prefixes(instructions, k)
    if k < 1 or instructions[k - 1].opname != "GET_ITER":
        return False
    left = 0
    for j in range(k - 2, -1, -1):
        ins = instructions[j]
        try:
            left += dis.stack_effect(ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None)
        except ValueError:
            return False
        if left >= 1:
            return ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and str(ins.argval) in ("range", "enumerate")
    return False


def _before_prefixes(instructions: list[dis.Instruction], k: int) -> int:
    """The index of the first of the EXTENDED_ARG instructions just before instruction ``k`` (``k``
    if there are none): where what comes before the instruction itself ends."""
    while k > 0 and instructions[k - 1].opname == "EXTENDED_ARG":
        k -= 1
    return k


def _ranged(instructions: list[dis.Instruction], k: int) -> bool:
    """Whether the ``for`` loop whose FOR_ITER is instruction ``k`` iterates over a call of the
    builtin ``range`` or ``enumerate`` (the iterable made on the header's line, just before)."""
    k = _before_prefixes(instructions, k)
    if k < 1 or instructions[k - 1].opname != "GET_ITER":
        return False
    line = None
    for ins in reversed(instructions[:k - 1]):
        positions = getattr(ins, "positions", None)
        here = positions.lineno if positions is not None else ins.starts_line
        if line is None:
            line = here
        elif here is not None and here != line:
            break
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and str(ins.argval) in ("range", "enumerate"):
            return True
    return False


_STOPS = frozenset(("RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS", "RERAISE", "JUMP_FORWARD", "JUMP_BACKWARD",
                    "JUMP_ABSOLUTE", "JUMP_BACKWARD_NO_INTERRUPT", "JUMP"))  # no way on to the next instruction
_FLOW: weakref.WeakKeyDictionary[CodeType, dict[int, tuple[int, ...]]] = weakref.WeakKeyDictionary()
_REACH: weakref.WeakKeyDictionary[CodeType, dict[tuple[int, int, int], bool]] = weakref.WeakKeyDictionary()


def _flow(code: CodeType) -> dict[int, tuple[int, ...]]:
    """Each instruction's successors (by offset): the next one unless it jumps or returns for
    sure, where it jumps, and the handlers of the ``try`` blocks it is in."""
    got = _FLOW.get(code)
    if got is None:
        instructions = list(dis.get_instructions(code))
        after: dict[int, list[int]] = {}
        for k, ins in enumerate(instructions):
            nxt = after[ins.offset] = []
            if ins.opname not in _STOPS and k + 1 < len(instructions):
                nxt.append(instructions[k + 1].offset)
            if ins.opcode in _JUMPS and isinstance(ins.argval, int):
                nxt.append(int(ins.argval))
        parse = getattr(dis, "_parse_exception_table", None)  # Python 3.11+ (3.10: SETUP_FINALLY jumps)
        for entry in parse(code) if parse is not None and getattr(code, "co_exceptiontable", b"") else ():
            for offset in after:
                if entry.start <= offset < entry.end:
                    after[offset].append(entry.target)
        got = _FLOW[code] = {k: tuple(v) for k, v in after.items()}
    return got


def _reaches(code: CodeType, loop: tuple[Any, ...], a: int, b: int) -> bool:
    """Whether the code at offset ``b`` can run after that at ``a`` in one pass through ``loop``'s
    body (without going back to its head). When it cannot, the loop went round in between: the
    two ops are in different iterations, though ``b`` comes further on in the code (``if i % 2:
    tanh(h) else: sin(h)``)."""
    cache = _REACH.setdefault(code, {})
    key = (loop[0], a, b)
    got = cache.get(key)
    if got is None:
        flow, head = _flow(code), loop[0]
        seen, todo = {a}, [a]
        while todo and b not in seen:
            for nxt in flow.get(todo.pop(), ()):
                if nxt not in seen and nxt != head:  # not round through the head
                    seen.add(nxt)
                    todo.append(nxt)
        got = cache[key] = b in seen
    return got


def _column(instructions: list[dis.Instruction], k: int | None) -> int | None:
    """The column where the target of the ``for`` whose FOR_ITER is instruction ``k`` starts
    (Python 3.11+; None before, or when not known)."""
    if k is None or k + 1 >= len(instructions):
        return None
    positions = getattr(instructions[k + 1], "positions", None)
    return positions.col_offset if positions is not None else None


def _clause(line: str, target: tuple[str, ...], column: int | None = None) -> str | None:
    """In a line with two or more ``for`` clauses, the one whose target is ``target`` (``for v in
    Wb``) and, when ``column`` is known, starts there, which tells its loop from the others; else
    None (also when the target does not say which: two clauses with one target, no column).

    >>> _clause("flat = np.concatenate([np.ravel(v) for Wb in params for v in Wb])", ("v",))
    'for v in Wb'
    """
    import io
    import tokenize

    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(line + "\n").readline)
                  if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.COMMENT)]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    depth, fors = 0, []
    for k, t in enumerate(tokens):  # the ``for`` keywords and their bracket depths
        if t.string in "([{":
            depth += 1
        elif t.string in ")]}":
            depth -= 1
        elif t.type == tokenize.NAME and t.string in ("for", "in", "if"):
            fors.append((k, t.string, depth))
    clauses = [k for k, word, _ in fors if word == "for"]
    if len(clauses) < 2:
        return None
    found = []
    for k in clauses:
        d = next(dd for kk, _, dd in fors if kk == k)
        into = next((kk for kk, word, dd in fors if kk > k and word == "in" and dd == d), None)
        if into is None or tuple(t.string for t in tokens[k + 1:into] if t.type == tokenize.NAME) != target:
            continue
        if column is not None and tokens[k + 1].start[1] != column:
            continue
        end, level = len(tokens), 0
        for kk in range(into + 1, len(tokens)):
            t = tokens[kk]
            if t.string in "([{":
                level += 1
            elif t.string in ")]}":
                if level == 0:
                    end = kk
                    break
                level -= 1
            elif level == 0 and t.type == tokenize.NAME and t.string in ("for", "if"):
                end = kk
                break
        found.append(line[tokens[k].start[1]:tokens[end - 1].end[1]])
    return found[0] if len(found) == 1 else None


def _header_text(filename: str, line: int) -> str:
    """A loop's header, without its comment: its first line, and while a bracket is open (or a line
    ends with a backslash) the lines it goes on to (``for (i,`` then ``j) in pairs:``), joined (at
    most 8 lines)."""
    parts: list[str] = []
    depth = 0
    for k in range(line, line + 8):
        text = _without_comment(linecache.getline(filename, k))
        if not text:
            break
        parts.append(text.rstrip("\\").rstrip())
        depth += sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")
        if depth <= 0 and not text.endswith("\\"):
            break
    return " ".join(parts)


def _without_comment(line: str) -> str:
    """A line of code stripped, without its comment (a frame's title).

    >>> _without_comment("    for t in range(T):   # each step  ")
    'for t in range(T):'
    """
    import io
    import tokenize

    text = line.strip()
    if "#" not in text:
        return text
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text + "\n").readline):
            if tok.type == tokenize.COMMENT:
                return text[:tok.start[1]].rstrip()
    except (tokenize.TokenError, SyntaxError, IndentationError):  # a header cut from its body
        pass
    return text


def _target(instructions: list[dis.Instruction], k: int | None) -> tuple[str, ...]:
    """The local names a ``for`` loop whose header is instruction ``k`` (its FOR_ITER) assigns, in
    order (``for i, (a, b) in ...``: i, a, b); () unless they are all plain local names."""
    stores = _target_stores(instructions, k)
    return tuple(str(i.argval) for i in stores) if stores else ()


def _target_stores(instructions: list[dis.Instruction], k: int | None) -> list[dis.Instruction]:
    """The instructions that store a ``for`` loop's target (after its FOR_ITER, instruction ``k``),
    through nested unpacking; [] unless each is a store to a plain local name."""
    if k is None or instructions[k].opname != "FOR_ITER":
        return []
    stores: list[dis.Instruction] = []
    j, wanted = k + 1, 1  # the values still to store
    while wanted and j < len(instructions):
        ins = instructions[j]
        if ins.opname == "STORE_FAST":
            stores.append(ins)
            wanted -= 1
        elif ins.opname == "UNPACK_SEQUENCE":
            wanted += int(ins.arg or 0) - 1
        elif ins.opname != "EXTENDED_ARG":  # (before an instruction whose argument is over 255)
            return []
        j += 1
    return stores if not wanted else []


def _counters(instructions: list[dis.Instruction], loop: tuple[Any, ...], loops: list[tuple[Any, ...]]) \
        -> tuple[str, ...]:
    """For a ``while`` loop (no target): the local names its body assigns outside the loops inside
    it (``y += 1`` around ``while x …: x += 1``), which change from one of its iterations to the
    next, as a ``for`` loop's target does."""
    start, end = loop[0], loop[1]
    inner = [lp for lp in loops if lp is not loop and start <= lp[0] and lp[1] <= end]
    stored = {str(i.argval) for i in instructions if i.opname == "STORE_FAST" and start <= i.offset <= end
              and not any(lp[0] <= i.offset <= lp[1] for lp in inner)}
    again = {str(i.argval) for i in instructions if i.opname == "STORE_FAST"
             and any(lp[0] <= i.offset <= lp[1] for lp in inner)}
    return tuple(sorted(stored - again))


def _values(frame: FrameType, target: tuple[str, ...]) -> tuple[Any, ...] | None:
    """What a loop's target names hold now (None: not a ``for`` loop over plain local names)."""
    if not target:
        return None
    local = frame.f_locals
    return tuple(local.get(name) for name in target)


def _same(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> bool:
    return a is None or b is None or (len(a) == len(b) and all(x is y for x, y in zip(a, b)))


def _names(frame: FrameType, loop: tuple[Any, ...], offset: int, wanted: bool) -> tuple[Any, ...] | None:
    """What ``loop``'s names hold at ``offset``; None: not ``wanted``, no names, or an op its header
    made (``for W in Ws`` over a traced stack) before the header assigned them."""
    if not wanted or not loop[4] or (loop[5] and offset == loop[0]):
        return None
    return _values(frame, loop[4])


def _counter(frame: FrameType, loop: tuple[Any, ...], offset: int, passes: int) -> tuple[int, str | None]:
    """The number of an iteration of ``loop``: its counter's value in a loop over ``range`` or
    ``enumerate`` (``for i, layer in enumerate(layers)``: ``i``, also when a pass made no op, an
    identity layer's), else ``passes``, the passes that made ops before it. (Not when the header
    itself made the op: its target does not yet hold this pass's value.) With the counter's name
    when it numbers it, else None."""
    if not loop[8] or offset == loop[0]:
        return passes, None
    value = frame.f_locals.get(loop[4][0])  # (range's target; enumerate's first)
    return (value, loop[4][0]) if type(value) is int else (passes, None)


def _again(now: tuple[Any, ...], first: tuple[Any, ...]) -> bool:
    """A counted loop's names hold what they held in its run's first iteration, and one of them is a
    counter (an int: ``range`` and ``enumerate`` give each value once in a run): the loop started again."""
    return len(now) == len(first) and any(type(v) is int for v in now) and all(
        v is w or (type(v) is int and type(w) is int and v == w) for v, w in zip(now, first))


def _header(code: CodeType, line: int, iterating: bool = False) -> int:
    """The line of the ``for`` or ``while`` whose backward jump goes to ``line``, or ``line``: a
    ``for`` loop's goes to its header (``iterating``: to its FOR_ITER), a ``while`` loop's to its
    body, whose first line may be a ``for`` of its own (``while n < 2:`` then ``for i in ...``)."""
    text = linecache.getline(code.co_filename, line)
    if iterating or text.lstrip().startswith("while ") or not text.strip():
        return line
    indent = len(text) - len(text.lstrip())
    for k in range(line - 1, max(code.co_firstlineno, line - 200) - 1, -1):
        above = linecache.getline(code.co_filename, k)
        if not above.strip():
            continue
        if len(above) - len(above.lstrip()) < indent:
            return k if above.lstrip().startswith("while ") else line
    return line


_SPANS: weakref.WeakKeyDictionary[CodeType, dict[Any, tuple[Any, ...]]] = weakref.WeakKeyDictionary()
_STARTS: weakref.WeakKeyDictionary[CodeType, dict[int, int]] = weakref.WeakKeyDictionary()


def _starts(code: CodeType) -> dict[int, int]:
    """The offsets inside an instruction's inline caches (Python 3.11+), each mapped to the
    instruction's own. Once CPython specializes an instruction that calls Python code (an item read
    through ``__getitem__``, a call of the user's function), the frame reports the offset of its last
    cache entry instead: the same op, run again, must read as the same place."""
    table = _STARTS.get(code)
    if table is None:
        table = _STARTS[code] = {}
        ops = [i.offset for i in dis.get_instructions(code)] + [len(code.co_code)]
        for start, end in zip(ops, ops[1:]):
            for offset in range(start + 2, end, 2):
                table[offset] = start
    return table


def _call_name(code: CodeType, frame: FrameType | None = None) -> str:
    """How a call is titled: the function's name, and a method's class (``EncoderLayer.forward``:
    layers written as classes all have a ``forward``), from its qualified name without the
    functions it is defined in (Python 3.11+; before, from ``frame``'s ``self`` or ``cls``).

    >>> class Dense:
    ...     def forward(self): return _call_name(sys._getframe().f_code, sys._getframe())
    >>> Dense().forward()
    'Dense.forward'
    """
    qualname = getattr(code, "co_qualname", None)
    if qualname is None:  # Python 3.10: a method's class from its first argument, self or cls
        first = code.co_varnames[0] if code.co_argcount and code.co_varnames else None
        owner = frame.f_locals.get(first) if frame is not None and first in ("self", "cls") else None
        qualname = code.co_name if owner is None else \
            f"{(owner if isinstance(owner, type) else type(owner)).__name__}.{code.co_name}"
    parts = qualname.split(".")
    if "<locals>" in parts:
        parts = parts[len(parts) - parts[::-1].index("<locals>"):]
    if parts[-1] == "<lambda>":  # ``sigma = lambda x: ...``: sigma
        return _bound_name(code) or "<lambda>"
    return ".".join(parts[-2:])


_BINDS = re.compile(r"(?:^|[\s.(,;])([A-Za-z_]\w*)\s*(?::[^=]*)?=\s*$")  # ``act: Callable = `` before it
_LAMBDA = re.compile(r"\blambda\b")


def _bound_name(code: CodeType) -> str | None:
    """The name a lambda is bound to on the line that makes it (``h = lambda x: ...``,
    ``self.act: Callable = lambda x: ...``), else None: the ``lambda`` keyword nearest before where
    its body starts on that line, and the assignment just before it (``act = lambda x: f(x, lambda
    y: ...)``: the inner lambda is not ``act``)."""
    line = linecache.getline(code.co_filename, code.co_firstlineno)
    columns = [p[2] for p in getattr(code, "co_positions", lambda: ())() if p[0] == code.co_firstlineno
               and p[2]]  # (RESUME's is 0: not the body's)
    keywords = [m.start() for m in _LAMBDA.finditer(line)]
    if columns:  # (Python 3.11+: where the body starts)
        keywords = [k for k in keywords if k < min(columns)]
    elif len(keywords) != 1:
        return None
    if not keywords:
        return None
    bound = _BINDS.search(line[:keywords[-1]])
    return bound.group(1) if bound else None


# a decorator's wrapper, as decorators name it (functools.wraps gives the function the wrapped one's
# name, not its code): a closure of one of these names over a function is no call of its own
_WRAPPERS = frozenset(("wrapper", "wrapped", "_wrapper", "_wrapped", "inner", "_inner", "wrap", "decorated",
                       "new_func", "func_wrapper", "wrapper_func"))


def _glue(code: CodeType, frame: FrameType) -> bool:
    """Whether a call of ``code`` says nothing of its own when all it does is call another: a
    special method (``Module.__call__`` returning ``self.forward(x)``), an unnamed lambda
    (``functools.reduce(lambda h, layer: layer(h), ...)``) or a decorator's wrapper (a closure over
    a function, named as decorators name them: a factory's ``encoder`` calling ``block_fn`` keeps
    its name)."""
    name = code.co_name
    if name.startswith("__") and name.endswith("__") or name == "<lambda>" and _bound_name(code) is None:
        return True
    if code.co_freevars and name in _WRAPPERS:
        try:
            values = [frame.f_locals.get(v) for v in code.co_freevars]
        except Exception:  # noqa: BLE001 - a frame's locals may fail to read; then it is no wrapper
            return False
        return any(inspect.isfunction(v) or inspect.ismethod(v) for v in values)
    return False


def _suspends(frame: FrameType | None) -> bool:
    """A generator's (or coroutine's) frame: one frame object, resumed again and again."""
    return frame is not None and bool(frame.f_code.co_flags & _SUSPENDS)


def _lasti(frame: FrameType) -> int:
    """``frame.f_lasti``, at the start of its instruction (see ``_starts``)."""
    offset = frame.f_lasti
    return _starts(frame.f_code).get(offset, offset)


def _spans(state: _Frame, offset: int) -> tuple[Any, ...]:
    """The loops of ``state``'s code that hold ``offset``, outermost first; one tuple per set of
    loops, so that two offsets in the same loops give the same object."""
    inside = tuple(lp for lp in state.loops if lp[0] <= offset <= lp[1])
    spans = state.spans  # keyed by offset, and by each set of loops for the one tuple of it
    inside = spans[offset] = spans.setdefault(inside, inside)
    return inside


class _Frame:
    """What the scoper remembers of one frame of the user's code: its call scope, its last offset,
    and the scopes of the loops and groups it is in."""

    __slots__ = ("frame", "scope", "last", "child", "runs", "groups", "base", "blocks", "inside", "result",
                 "loops", "spans", "starts", "along", "branches", "pending")
    # ``child``: the frame it was calling at its last op (a frame of the user's, of NumPy's or of
    # graphviz_bp's); the same instruction calling a new frame is that instruction run again

    def __init__(self, frame: FrameType, scope: Scope | None) -> None:
        self.frame = frame
        self.scope = scope
        self.last: int | None = None
        self.child: FrameType | None = None
        # loop -> [loop scope, iteration scope, k, its names at the iteration's start, and at the run's]
        self.runs: dict[tuple[int, int], list[Any]] = {}
        self.groups: dict[tuple[_Open, int], Scope] = {}  # (the open block, parent number) -> scope
        # the last answer, and what it was computed from (the scope around the frame, the open
        # groups, the loops the offset was in)
        self.base: Scope | None = None
        self.blocks: tuple[_Open, ...] | None = None
        self.inside: tuple[Any, ...] | None = None
        self.result: Scope | None = None
        self.loops = _loops(frame.f_code)
        self.spans = _SPANS.setdefault(frame.f_code, {})  # offset -> the loops it is in (see _spans)
        self.starts = _starts(frame.f_code)  # (see offset())
        # the generators advanced by the instruction at an offset in this iteration: (offset, *frames)
        self.along: tuple[Any, ...] = (-1,)
        self.branches = False  # the loops it is in now include one whose body branches (see ``_loops``)
        # an iteration of a counted loop begun by an op its header made (``for t, x in enumerate(X)``
        # over a traced X), before the header assigned the counter: (the iteration, the loop, the
        # numbers of the run's iterations before it, the counter then), numbered later (``_settle``)
        self.pending: tuple[Scope, tuple[Any, ...], tuple[int, ...], Any] | None = None


    def offset(self) -> int:
        """Where the frame is: ``_lasti``, from the frame's own table."""
        offset = self.frame.f_lasti
        return self.starts.get(offset, offset)


class Scoper:
    """The scopes of one trace: ``current()`` is the scope of the op being recorded."""

    def __init__(self, stop: CodeType) -> None:
        self.stop = stop  # the tracer's own frame that calls the traced function
        self.chain: list[_Frame] = []
        self.count = 0
        self.innermost: FrameType | None = None  # the user's frame that made the last op
        self.suspended: dict[FrameType, _Frame] = {}  # generators' frames, between two resumptions

    def close(self) -> None:
        for state in self.chain + list(self.suspended.values()):
            if state.pending is not None:
                _settle(state, None)
        self.chain = []  # frames keep their locals alive
        self.innermost = None
        self.suspended = {}

    def _new(self, kind: str, label: str, parent: Scope | None, index: int, source: Source | None) -> Scope:
        self.count += 1
        return Scope(kind, label, parent, index, self.count, source)

    def current(self) -> Scope | None:
        """The scope of the op being recorded (None: the traced function's own body); sets
        ``innermost`` to the user's frame that made it."""
        stop, skip = self.stop, _SKIP
        below: FrameType | None = None
        f: FrameType | None = sys._getframe(1)
        while f is not None and f.f_code is not stop and f.f_code.co_filename.startswith(skip):
            below = f  # graphviz_bp's and NumPy's frames, down to the user's innermost
            f = f.f_back
        chain = self.chain
        if f is not None and chain and chain[-1].frame is f and not f.f_code.co_flags & _SUSPENDS:
            # the same call of the user's as the last op: the frames around it are the same too
            self.innermost = f
            state = chain[-1]
            base = state.scope if state.scope is not None else (chain[-2].result if len(chain) > 1 else None)
            blocks = _GROUPS.get()
            last = state.last
            if base is state.base and blocks is state.blocks and last is not None:
                offset = state.offset()
                if offset > last or (offset == last and below is state.child):
                    inside = state.spans.get(offset)
                    if inside is None:
                        inside = _spans(state, offset)
                    if inside is state.inside and not state.branches and state.pending is None:
                        # further on in the same iteration (an iteration pending: see ``_inside``)
                        state.last = offset
                        state.child = below
                        return state.result
            driven = self._driven(state)
            if driven is not None:
                return driven
            return self._inside(state, base, below, blocks)
        frames: list[FrameType] = []
        callees: list[FrameType | None] = []  # the frame each one is calling (a new one: a new call)
        below = None
        f = sys._getframe(1)
        while f is not None:
            code = f.f_code
            if code is stop:
                break
            if not code.co_filename.startswith(skip):
                frames.append(f)
                callees.append(below)
            below = f
            f = f.f_back
        if f is None or not frames:
            self.innermost = None
            return None
        self.innermost = frames[0]
        callees.reverse()
        frames.reverse()  # the traced function first
        chain = self.chain
        same = 0
        while same < len(frames) and same < len(chain) and chain[same].frame is frames[same]:
            same += 1
        if same < len(chain):
            for state in chain[same:]:  # a generator's frame comes back where it left off
                if state.frame.f_code.co_flags & _SUSPENDS:
                    self.suspended[state.frame] = state
                elif state.pending is not None:  # the call returned
                    _settle(state, None)
            chain = self.chain = chain[:same]
        scope: Scope | None = None
        open_blocks = _GROUPS.get()
        for k, frame in enumerate(frames):
            child = callees[k]
            if k == len(frames) - 1 and k < same:
                driven = self._driven(chain[k])
                if driven is not None:
                    return driven
            if k < same:
                state = chain[k]
            elif frame in self.suspended:
                state = self.suspended.pop(frame)
                chain.append(state)
                call = state.scope
                if call is not None and call.parent is not scope:
                    # a generator function resumed in another scope (the next iteration of the loop
                    # that reads it): what it makes now is made there, in a call of its own
                    state.scope = self._new("call", call.label, scope, 0, call.source)
                    state.scope.glue = call.glue
            else:
                code = frame.f_code
                call = None
                if k > 0 and code.co_name not in _COMPREHENSIONS:
                    call = self._new("call", _call_name(code, frame), scope, 0,
                                     Source(code.co_filename, code.co_firstlineno, code.co_name))
                    call.glue = _glue(code, frame)
                state = _Frame(frame, call)
                chain.append(state)
            base = scope if state.scope is None else state.scope
            if base is state.base and open_blocks is state.blocks and state.offset() == state.last \
                    and child is state.child:
                scope = state.result  # the same call still running: nothing changed
                continue
            scope = self._inside(state, base, child, open_blocks)
        return scope

    def _driven(self, state: _Frame) -> Scope | None:
        """When the instruction of ``state``'s frame that drives a generator makes an op between two
        of its items (``sum(np.sum(W * W) for W in Ws)`` adds each item as it comes): the scope of the
        generator's iteration that made the item, as if the loop itself added it. Else None."""
        child = state.child
        if child is None or child not in self.suspended or state.last is None or state.offset() != state.last:
            return None
        return self.suspended[child].result

    def _inside(self, state: _Frame, scope: Scope | None, child: FrameType | None,
                open_blocks: tuple[_Open, ...]) -> Scope | None:
        """The innermost scope of ``state``'s frame at its current offset (its loops' iterations and
        its open groups, nested as in the source), updating its loops' iteration counts."""
        base = scope
        frame = state.frame
        offset = state.offset()
        last = state.last
        if state.pending is not None and offset != state.pending[1][0]:
            _settle(state, offset)
        again = last is not None and (offset < last or (offset == last and child is not state.child))
        if again and offset == last and state.along[0] == offset and _suspends(child) \
                and child not in state.along:
            # one instruction advancing several generators (``for W, b in zip(Ws, bs)`` over traced
            # arrays: an item of each) is one iteration, until one of them comes again
            again = False
            state.along += (child,)
        pending = state.pending
        if not again and pending is not None and offset == last == pending[1][0] and \
                frame.f_locals.get(pending[1][4][0], _UNSET) is not pending[3]:
            # the header made an op again and its counter moved: a pass that made no other op
            # (whatever generator it advanced: a new run of an inner loop makes a new one)
            again = True
            state.along = (-1,)
        inside = state.spans.get(offset)
        if inside is None:
            inside = _spans(state, offset)
        turned = None  # the loop that went round: the innermost that holds both offsets
        if not again and last is not None and state.branches:
            holds = [lp for lp in inside if lp[0] <= last <= lp[1]]
            if holds and holds[-1][6] and not _reaches(frame.f_code, holds[-1], last, offset):
                again = True  # the innermost loop holding both went round: another branch of an if
        if not again and inside is state.inside and scope is state.base and open_blocks is state.blocks \
                and last is not None:
            state.last = offset  # further on in the same iteration
            state.child = child
            return state.result
        if again and turned is None:
            for lp in inside:
                if lp[0] <= last <= lp[1]:  # type: ignore[operator]
                    turned = lp
            if turned is not None and turned is not inside[0]:
                turned = _outer(state, frame, inside, turned)
        mine = [b for b in open_blocks if b.frame is frame]
        reset = False
        for lp in inside:
            for block in [b for b in mine if _outside_of_inner(b, lp, inside)]:  # a group holding the loop
                scope = self._group(state, block, scope)
                mine.remove(block)
            key = (lp[0], lp[1])
            run = state.runs.get(key)
            if reset or run is None or last is None or not (lp[0] <= last <= lp[1]):
                loop = self._new("loop", lp[2], scope, 0, Source(frame.f_code.co_filename, lp[3],
                                                                  frame.f_code.co_name))
                run = state.runs[key] = self._run(state, lp, loop, offset, inside)
                reset = True  # the loops inside it start again too
            elif lp is turned:
                if state.pending is not None:  # a pass only its header made ops in: the counter is still its
                    _settle(state, offset)
                run[2] += 1
                run[5] = (run[5] + (run[1].index,))[-2:]
                index, counter = _counter(frame, lp, offset, run[2])
                run[1] = self._new("iteration", lp[2], run[0], index, run[0].source)
                run[1].counter = counter
                state.pending = (run[1], lp, run[5], frame.f_locals.get(lp[4][0], _UNSET)) \
                    if lp[8] and offset == lp[0] else None
                run[3] = _names(frame, lp, offset, len(inside) > 1)
                reset = True
            if run[0].parent is not scope:  # an enclosing scope changed: a new run of this loop
                run = state.runs[key] = self._run(state, lp, self._new("loop", lp[2], scope, 0, run[0].source),
                                                  offset, inside)
                reset = True
            scope = run[1]
        for block in mine:
            scope = self._group(state, block, scope)
        if again or state.along[0] != offset:  # the generators this instruction advanced, from now
            state.along = (offset, child) if _suspends(child) else (-1,)
        state.last = offset
        state.child = child
        state.inside = inside
        state.branches = any(lp[6] for lp in inside)
        state.base = base
        state.blocks = open_blocks
        state.result = scope
        return scope

    def _run(self, state: _Frame, lp: tuple[Any, ...], loop: Scope, offset: int,
             inside: tuple[Any, ...]) -> list[Any]:
        """A new run of the loop ``lp`` (its scope ``loop``), in its first iteration."""
        names = _names(state.frame, lp, offset, len(inside) > 1)
        if state.pending is not None:
            _settle(state, offset)
        index, counter = _counter(state.frame, lp, offset, 0)
        first = self._new("iteration", lp[2], loop, index, loop.source)
        first.counter = counter
        if lp[8] and offset == lp[0]:
            state.pending = (first, lp, (), state.frame.f_locals.get(lp[4][0], _UNSET))
        # (the numbers of its last two iterations before the current one: see ``_settle``)
        return [loop, first, 0, names, names, ()]

    def _group(self, state: _Frame, block: _Open, parent: Scope | None) -> Scope:
        key = (block, parent.number if parent is not None else 0)
        got = state.groups.get(key)
        if got is None:
            got = state.groups[key] = self._new("group", block.label, parent, 0, block.source)
        return got


_UNSET = object()  # a counter not assigned yet


def _settle(state: _Frame, offset: int | None) -> None:
    """Number the pending iteration of ``state`` (begun by its loop's header), the frame now at
    ``offset`` (None: it returned, or the trace ended). Still in the loop (the pass's next op is
    further on, or the next pass's header makes one), the header has assigned the counter: its
    number. Past the loop, the counter may have been assigned again since (a later loop over
    ``t``): the number after the run's last two (1 after the last), or the counter when the run
    had no other. Left numbered by passes when the counter is not an int."""
    iteration, loop, before, _ = state.pending  # type: ignore[misc]
    state.pending = None
    inside = offset is not None and loop[0] <= offset <= loop[1]
    if before and not inside:  # (a guess from the run's numbers: not said to be the counter's value)
        iteration.index = before[-1] + (before[-1] - before[-2] if len(before) > 1 else 1)
        return
    value = state.frame.f_locals.get(loop[4][0])
    if type(value) is int:
        iteration.index = value
        if inside:  # (past the loop, a later loop may have assigned it since)
            iteration.counter = loop[4][0]


def _outer(state: _Frame, frame: FrameType, inside: tuple[Any, ...], turned: tuple[Any, ...]) -> tuple[Any, ...]:
    """The loop that went round when the code went back inside ``turned``, a loop in another:
    ``turned``, or a loop around it that went round while ``turned`` started again. The offsets
    alone cannot tell ``for t: for l: op`` from one long loop; an outer loop's names that changed
    can, and so can ``turned``'s counter back at its first value (``for M in [W, W, W]``)."""
    k = inside.index(turned)
    for lp in inside[:k]:
        run = state.runs.get((lp[0], lp[1]))
        if lp[4] and run is not None and not _same(run[3], _values(frame, lp[4])):
            return lp
    run = state.runs.get((turned[0], turned[1]))
    if turned[7] and run is not None and run[4] is not None and _again(_values(frame, turned[4]), run[4]):
        return inside[k - 1]
    return turned


def _outside_of_inner(block: _Open, loop: tuple[int, int, str, int], inside: list[tuple[int, int, str, int]]) -> bool:
    """A group opened in this frame goes just outside ``loop`` when its ``with`` is not in ``loop``
    (the block holds the loop) but is in every loop around it."""
    if loop[0] <= block.offset <= loop[1]:
        return False
    outer = [lp for lp in inside if lp[0] <= loop[0] and lp[1] >= loop[1] and lp is not loop]
    return all(lp[0] <= block.offset <= lp[1] for lp in outer)
