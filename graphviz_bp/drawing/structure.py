"""The structure a drawing shows: the graph's ops grouped by the scopes they were made in (calls,
``gb.group`` blocks, loops and their iterations), and the runs of structurally identical sibling
groups (the layers of a deep net, the steps of an RNN), found by a signature of their ops, shapes and
wiring, never by their names."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from ..graph import DAG, Node
from ..scopes import Scope

__all__ = ["Cycle", "Group", "Repeat", "group_tree", "main_chain", "repeats"]


@dataclass(eq=False)
class Group:
    """The ops made in ``scope`` (the root group: ``scope`` None, the traced function's body):
    ``own`` directly in it, ``children`` the groups of the scopes directly inside it, in the order
    the code ran them."""

    scope: Scope | None
    own: list[Node] = field(default_factory=list)
    children: list[Group] = field(default_factory=list)
    parent: Group | None = None
    _signature: Any = None
    _nodes: list[Node] | None = None

    @property
    def depth(self) -> int:
        return 0 if self.scope is None else self.scope.depth + 1

    @property
    def title(self) -> str:
        return "" if self.scope is None else self.scope.title

    def nodes(self) -> list[Node]:
        """Every node of the group and of the groups inside it, in trace order."""
        if self._nodes is None:
            out: list[Node] = []
            stack = [self]
            while stack:
                g = stack.pop()
                out.extend(g.own)
                stack.extend(g.children)
            out.sort(key=lambda n: n.index)
            self._nodes = out
        return self._nodes

    def core(self) -> list[Node]:
        """``nodes()`` without the constants: what two repetitions must have alike (the first step
        of an RNN may read a constant zero state where the others read the previous step)."""
        return [n for n in self.nodes() if n.kind != "const"]

    def walk(self) -> Iterator[Group]:
        """This group and every group inside it, outer first."""
        stack = [self]
        while stack:
            g = stack.pop()
            yield g
            stack.extend(reversed(g.children))

    @property
    def signature(self) -> Any:
        """What two repetitions of one block have in common: their ops in order, with their params,
        shapes and dtypes; which operand of which op each edge feeds, from inside the group or from
        outside (by the outside value's shape: the first layer's input is an input, the others' an
        op); the calls and nested groups by kind; which value is the output (the step that makes
        it is drawn). Names, values and loop indices are left out, and so is what uses a group's
        values outside it: an RNN's last step, whose state no next step reads, folds with the others."""
        if self._signature is None:
            self._signature = _signature_of(self.core(), self.scope)
        return self._signature


def _signature_of(nodes: list[Node], scope: Scope | None) -> Any:
    """``Group.signature`` of the group of ``scope`` with these nodes (a constant counts as a value
    from outside, by its shape)."""
    local = {n.index: k for k, n in enumerate(nodes)}
    items: list[Any] = []
    ragged = _ragged(nodes)
    for n in nodes:
        if n.kind == "op":
            wires = tuple(("in", local[e.src.index]) if e.src.index in local else
                          ("out", e.src.shape, e.src.dtype.str) for e in n.in_edges)
            shape = ("ragged", len(n.shape)) if n.index in ragged else n.shape
            item: tuple[Any, ...] = ("op", n.op.name, _frozen(n.params), shape, n.dtype.str, wires)
        else:
            item = (n.kind, n.shape, n.dtype.str)
        items.append(item + (n.dag is not None and n is n.dag.output, _shape_of_scopes(n.scope, scope)))
    return (scope.kind if scope else "", tuple(items))


def _ragged(nodes: list[Node]) -> set[int]:
    """Of ``nodes`` (in trace order), the values as long as a mask has entries: ``x[x >= 0]`` and
    what is made from it elementwise (a stable sigmoid's ``exp(-x[pos_mask])``), by index."""
    ragged: set[int] = set()
    for n in nodes:
        if n.kind == "op" and (_masked(n) or (n.op.family == "elementwise"  # type: ignore[union-attr]
                                              and any(e.src.index in ragged for e in n.in_edges))):
            ragged.add(n.index)
    return ragged


def _masked(n: Node) -> bool:
    """Whether ``n`` gathers with a boolean mask (``x[pos_mask]``): its length is the mask's count of
    True, which differs from one repetition to the next whatever the code does alike."""
    if n.op is None or n.op.name != "index":
        return False
    index = n.params.get("index")
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, np.ndarray) and i.dtype == bool for i in parts) or \
        any(e.src.dtype == bool for e in n.in_edges[1:])


def _shape_of_scopes(scope: Scope | None, top: Scope | None) -> tuple[Any, ...]:
    """The scopes between ``top`` and a node's own scope, by kind (a call also by its function)."""
    out = []
    s = scope
    while s is not None and s is not top:
        out.append((s.kind, s.label if s.kind == "call" else ""))
        s = s.parent
    return tuple(out)


def _frozen(params: dict[str, Any]) -> Any:
    """The params as a signature sees them: an index by its form only (``Ws[i]`` in every layer is
    the same block whatever ``i`` is; the result's shape is in the signature), labels left out."""
    if not params:
        return ()
    from ..symbolic.expr import freeze

    return freeze({k: (_form(v) if k == "index" else v) for k, v in params.items()
                   if k not in ("label", "text", "var")})


def _form(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_form(i) for i in index)
    if isinstance(index, slice):
        return "slice"
    if isinstance(index, np.ndarray):
        return ("array", index.shape, index.dtype.kind)
    if isinstance(index, (int, np.integer)):
        return "int"
    return index


class Cycle(Scope):
    """A run of ``period`` consecutive iterations of one loop, which the drawing takes as one
    repetition: layers listed alternately (``[Dense, Tanh] * 30``, one call per iteration) repeat
    every two iterations, never from one to the next. Made by ``group_tree``, never by a trace: no
    node's scope is one. ``index`` is its first iteration's, ``last`` its last one's."""

    __slots__ = ("last", "period")

    def __init__(self, loop: Scope, first: Scope, last: Scope, period: int, number: int) -> None:
        super().__init__("cycle", loop.label, loop, first.index, number, loop.source)
        self.last = last.index
        self.period = period

    @property
    def title(self) -> str:
        return f"iterations {self.index}…{self.last}"


PERIOD = 8  # the most iterations a repetition of a loop may span (a residual block's conv, batch norm,
# ReLU, conv, batch norm, add, ReLU, one layer object each)
_CYCLES = 1 << 40  # the numbers of cycles start here, past any trace's scopes


def group_tree(dag: DAG, periodic: bool = False) -> Group:
    """The graph's groups: the root (the traced function's body, with the inputs) and, nested, one
    group per scope that made a node the drawing keeps. ``periodic``: a loop whose iterations
    repeat every 2 to ``PERIOD`` iterations (and not every one) gets a ``Cycle`` group around each
    run, so that the runs are consecutive siblings alike (a repeat)."""
    root = Group(None)
    made: dict[int, Group] = {}

    def group_of(scope: Scope | None) -> Group:
        if scope is None:
            return root
        got = made.get(scope.number)
        if got is None:
            parent = group_of(scope.parent)
            got = made[scope.number] = Group(scope, parent=parent)
            parent.children.append(got)
        return got

    for n in dag.nodes:
        group_of(_home_scope(n, dag)).own.append(n)
    for g in root.walk():
        g.children.sort(key=lambda c: min(n.index for n in c.nodes()))
    if periodic:
        numbers = iter(range(_CYCLES, _CYCLES << 1))
        for g in list(root.walk()):
            if g.scope is not None and g.scope.kind == "loop" and len(g.children) >= 4:
                g.children = _cycled(g, numbers)
    return root


def _home_scope(n: Node, dag: DAG) -> Scope | None:
    """The scope whose group holds ``n``: its own; none for an input; for the output made in a
    loop (``loss = loss + term``, returned), the scope around the outermost loop: the last
    iteration, without it, folds with the others (see ``_tail``), and the output is drawn after."""
    if n.kind == "input":
        return None
    scope = n.scope
    if n is dag.output:
        s, looped, outside = scope, False, None
        while s is not None:
            if s.kind == "loop":
                looped, outside = True, s.parent
            s = s.parent
        if looped:
            return outside
    return scope


def _cycled(loop: Group, numbers: Iterator[int]) -> list[Group]:
    """``loop``'s iterations, each run that repeats every few iterations (see ``group_tree``) in
    ``Cycle`` groups, one per repetition. The run that covers the most iterations is taken first,
    then the same in what is left on either side: a stem layer and three residual blocks of five
    layers each are the stem and the blocks × 3, not the stem with half a block, every 2 iterations,
    × 3 (the most at the start)."""
    kids = loop.children
    ids: dict[Any, int] = {}
    sigs = [ids.setdefault(k.signature, len(ids)) for k in kids]  # (ints compare at once)
    pieces: list[tuple[int, list[Group]]] = []  # (first iteration, the groups for it on)
    start = 0
    for i, period, count in _runs_taken(sigs):
        pieces.append((start, kids[start:i]))
        start = i + count * period
        if period == 1:  # iterations alike from one to the next: a repeat as they are
            pieces.append((i, kids[i:start]))
            continue
        cycles = []
        for k in range(count):
            part = kids[i + k * period:i + (k + 1) * period]
            assert loop.scope is not None and part[0].scope is not None and part[-1].scope is not None
            cycle = Group(Cycle(loop.scope, part[0].scope, part[-1].scope, period, next(numbers)), parent=loop)
            cycle.children = part
            for c in part:
                c.parent = cycle
            cycles.append(cycle)
        pieces.append((i, cycles))
    pieces.append((start, kids[start:]))
    return [g for _, groups in pieces for g in groups]


def _runs_taken(sigs: list[int]) -> list[tuple[int, int, int]]:
    """The runs of two or more repetitions of a block of 1 to ``PERIOD`` signatures to draw, in
    order, none overlapping another: (start, the block's length, the repetitions). The run that
    covers the most is taken first (the shorter block on a tie, then the earlier run); a run that
    overlaps one taken is cut to what is left of it, and taken if it still repeats. Every run is
    found in one pass over ``sigs`` per block length."""
    heap: list[tuple[int, int, int, int]] = []  # (-coverage, period, start, end of the run)
    n = len(sigs)
    for period in range(1, PERIOD + 1):
        i = 0
        while i + period < n:
            if sigs[i] != sigs[i + period]:
                i += 1
                continue
            j = i
            while j + period < n and sigs[j] == sigs[j + period]:
                j += 1
            count = (j - i + period) // period  # sigs[i:j + period] repeats every ``period``
            if count * period == n:  # all of them: no run covers more (a deep net's layers)
                return [(0, period, count)]
            if count >= 2:
                heap.append((-count * period, period, i, j + period))
            i = j + 1
    heapq.heapify(heap)
    free = [True] * n
    taken: list[tuple[int, int, int]] = []
    while heap:
        _, period, lo, hi = heapq.heappop(heap)
        if all(free[lo:hi]):
            count = (hi - lo) // period
            taken.append((lo, period, count))
            free[lo:lo + count * period] = [False] * (count * period)
            continue
        k = lo
        while k < hi:  # the parts of the run still free: each a run of its own, if it repeats
            while k < hi and not free[k]:
                k += 1
            m = k
            while m < hi and free[m]:
                m += 1
            if (m - k) // period >= 2:
                heapq.heappush(heap, (-((m - k) // period) * period, period, k, m))
            k = m
    taken.sort()
    return taken


@dataclass(eq=False)
class Repeat:
    """Consecutive sibling groups with one signature (at least two): drawn once, "× N". The last
    may be a ``tail``: the others' ops but for those that only feed the next repetition, which the
    last one does not have (``h_prev = h.copy()`` at the end of an RNN step): by the id of its
    group, its ops in the places of the first repetition's (None where it has none)."""

    groups: list[Group]
    tails: dict[int, list[Node | None]] = field(default_factory=dict)
    _norms: list[float | None] | None = field(default=None, repr=False)  # made once (frame, box, page)

    def core(self, k: int) -> list[Node | None]:
        """Repetition ``k``'s ``Group.core()``, each node in the place of its counterpart in the
        first repetition's (None where a tail has none)."""
        g = self.groups[k]
        return self.tails.get(id(g)) or g.core()  # type: ignore[return-value]

    @property
    def count(self) -> int:
        return len(self.groups)

    @property
    def first(self) -> Group:
        return self.groups[0]

    @property
    def last(self) -> Group:
        return self.groups[-1]

    def outputs(self, k: int) -> list[Node]:
        """The values of repetition ``k`` used outside it (an RNN step's h), in trace order."""
        mine = {n.index for n in self.groups[k].nodes()}
        return [n for n in self.groups[k].nodes() if any(e.dst.index not in mine for e in n.out_edges)]

    def norms(self) -> list[float | None]:
        """Per repetition, the norm of ∂L/∂(the state it hands on): the message that reaches it from
        the loss (None where none does). Along a deep net this is how gradients vanish or explode.
        Each part of the state counts the messages it receives but those that reach it through
        another part made in the same step: where a step makes q from the new p (a leapfrog step),
        p's whole gradient holds that path too, and the bars read otherwise than the messages on the
        edges between repetitions (a falling last bar where they rose).

        A buffer written row by row (``H[t] = h``) is carried from one repetition to the next too,
        but its gradient holds the message of every row written before as well: it grows with t,
        whatever the recurrence does. So the norm is of the state the repetitions carry otherwise,
        by place: what every repetition but the last sends on (an RNN's h, in the last one too, where
        only the buffer, or also a value the code after the loop reads, leaves it); of every output
        where the buffer is all they carry.

        A running sum carried beside the state (``loss += ...``, a penalty summed layer by layer)
        has the loss's own gradient in every repetition: counted in, a bar read √(‖∂L/∂h‖² + 1),
        and three decades of vanishing gradient were drawn flat. It is left out unless it is all
        they carry. Where the last repetition's value is the output (drawn outside its frame), its
        gradient is the output's."""
        if self._norms is None:
            self._norms = self._made_norms()
        return list(self._norms)

    def _made_norms(self) -> list[float | None]:
        slots: list[int] | None = None  # places in a repetition's core of what each repetition but the
        for k in range(max(1, self.count - 1)):  # last sends on, buffers aside (the last sends what the
            leaving = {n.index for n in self.outputs(k)}  # loop's after reads: its own internal values too)
            mine = [p for p, n in enumerate(self.core(k)) if n is not None and n.index in leaving
                    and (n.op is None or n.op.name not in _WRITES)]
            slots = mine if slots is None else [p for p in slots if p in set(mine)]
        if slots and self.count >= 2:
            carried = [p for p in slots if not self._running_sum(p)]
            slots = carried or slots
        out: list[float | None] = []
        for k in range(self.count):
            mine = {n.index for n in self.groups[k].nodes()}
            if slots:
                core = self.core(k)
                made = [core[p] if p < len(core) else None for p in slots]
                if k == self.count - 1 and None in made:
                    made = [n if n is not None else self._output_at(p) for n, p in zip(made, slots)]
            else:
                made = list(self.outputs(k))
            state = {n.index for n in made if n is not None}
            parts = [m for m in _received([n for n in made if n is not None], mine, state) if m is not None]
            if not parts:
                out.append(None)
                continue
            out.append(scaled_norm(np.concatenate(parts)))
        return out


    def _next(self, k: int, p: int) -> Node | None:
        """The value in place ``p`` of repetition ``k + 1``; for the last repetition's missing one
        (the graph's output, drawn outside the frame), the output."""
        core = self.core(k + 1)
        n = core[p] if p < len(core) else None
        return n if n is not None or k + 2 < self.count else self._output_at(p)

    def _output_at(self, p: int) -> Node | None:
        """The graph's output, when it is the last repetition's value in place ``p``: made in the
        last repetition (drawn outside its frame) by the op the others make there."""
        first = self.core(0)
        if p >= len(first) or first[p] is None or first[p].op is None or first[p].dag is None:
            return None
        out = first[p].dag.output
        last = self.groups[-1].scope
        if out.op is None or out.op.name != first[p].op.name or out.scope is None or last is None:
            return None
        return out if any(s is last for s in out.scope.chain) else None

    def _running_sum(self, p: int) -> bool:
        """Whether the value in place ``p`` is a running sum: in each repetition but the last, read
        only by the addition (or subtraction) that makes the next repetition's."""
        for k in range(self.count - 1):
            n, after = self.core(k)[p], self._next(k, p)
            if n is None or after is None or after.op is None or after.op.name not in _SUMS:
                return False
            if any(e.dst is not after for e in n.out_edges):
                return False
        return True


def _received(parts: list[Node], mine: set[int], state: set[int]) -> list[np.ndarray | None]:
    """For each of ``parts`` (a repetition's ``state``, node indices; ``mine``: the repetition's
    nodes), ∂L/∂(that part) with the state's parts apart: the messages it receives, but what
    reaches it through another part made in the same step; flat, None where nothing reaches it.
    The output (read by nothing): its gradient. Where no part leads to another within the step
    (most loops), each is the sum of the messages on its edges; else the step is run backward
    from the messages its values receive from outside it, the other parts cut off (an op
    leading to both another part and a running cost keeps the cost's share)."""
    out: list[np.ndarray | None] = []
    cut = False
    for n in parts:
        if n.dag is not None and n is n.dag.output:
            out.append(None if n.adjoint is None else np.ravel(n.adjoint))
            continue
        others = state - {n.index}
        if others and any(e.dst.index in mine and _leads(e.dst, others, mine) for e in n.out_edges):
            cut = True
            break
        sent = [e.message for e in n.out_edges if e.message is not None]
        out.append(np.ravel(sent[0] if len(sent) == 1 else np.add.reduce(sent)) if sent else None)
    if not cut:
        return out
    from ..backward import message  # (drawing reads the pass's messages; this one step is run again)

    dag = parts[0].dag
    assert dag is not None
    g: dict[int, np.ndarray | None] = {}
    for i in sorted(mine | {n.index for n in parts}, reverse=True):  # (indices: the order ops were made)
        node = dag.nodes[i]
        total = None
        for e in node.out_edges:
            d = e.dst
            if d.index in state and d is not node:  # another part of the state: cut off
                continue
            if d.index in mine:
                cotangent = g.get(d.index)
                m = None if cotangent is None else message(e, cotangent)
            else:
                m = e.message  # from outside the step: as the pass computed it
            if m is not None:
                total = m if total is None else total + m
        g[i] = total
    return [None if n.adjoint is None else np.ravel(n.adjoint) if n.dag is not None and n is n.dag.output
            else None if g.get(n.index) is None else np.ravel(g[n.index]) for n in parts]


def _leads(n: Node, targets: set[int], mine: set[int]) -> bool:
    """Whether ``n`` is one of ``targets`` or leads to one along ops within ``mine`` (a target
    outside it, the graph's output drawn outside the last repetition's frame, too)."""
    if n.index in targets:
        return True
    seen: set[int] = set()
    todo = [n]
    while todo:
        m = todo.pop()
        for e in m.out_edges:
            d = e.dst
            if d.index in targets:
                return True
            if d.index in mine and d.index not in seen:
                seen.add(d.index)
                todo.append(d)
    return False


_SUMS = frozenset(("add", "subtract"))
_WRITES = frozenset(("setitem", "add_at", "put_along_axis"))  # ops that give a buffer back, updated


def scaled_norm(x: np.ndarray) -> float:
    """‖x‖, scaled by the largest entry first: norms near 1e-200 do not underflow to 0 (nor large
    ones overflow)."""
    x = np.asarray(x, dtype=float)
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return m * float(np.sqrt(np.sum(np.square(x / m)))) if m and np.isfinite(m) else m


def repeats(root: Group, least: int = 2) -> list[Repeat]:
    """Every run of at least ``least`` consecutive sibling groups with equal signatures, outermost
    first (a run inside a repeated group is found in each repetition), and the group after it when
    that is the run's tail (``Repeat``; see ``_tail``)."""
    found: list[Repeat] = []
    for g in root.walk():
        kids = g.children
        k = 0
        while k < len(kids):
            j = k + 1
            while j < len(kids) and kids[j].signature == kids[k].signature:
                j += 1
            # the loop's last iteration, after two or more alike: it may lack what feeds the next
            tail = _tail(kids[k], kids[k + 1], kids[j]) if j == len(kids) - 1 and j - k >= 2 and \
                kids[j].scope is not None and kids[j].scope.kind == "iteration" else None
            if tail is not None:
                j += 1
            if j - k >= least:
                found.append(Repeat(kids[k:j], {id(kids[j - 1]): tail} if tail is not None else {}))
            k = j
    return found


def _tail(first: Group, second: Group, last: Group) -> list[Node | None] | None:
    """``last``'s nodes in the places of ``first``'s when ``last`` is ``first``'s ops but for some
    whose values only feed the repetition after it (``second``: after ``first``), directly or
    through one another, which the graph does not keep in the last repetition: no repetition
    follows to use them (``h_prev = h.copy()``; ``h`` itself is kept when the code reads it after
    the loop). Else None."""
    nodes, mine = first.core(), last.core()
    if not 0 < len(nodes) - len(mine) < len(nodes):
        return None
    later = {n.index for n in second.nodes()}
    ragged, ragged_mine = _ragged(nodes), _ragged([n for n in mine if n is not None])
    feeding: set[int] = set()  # ops of ``first`` whose values only go on to ``second``
    for n in reversed(nodes):
        if n.kind == "op" and n.out_edges and not (n.dag is not None and n is n.dag.output) and all(
                e.dst.index in feeding or e.dst.index in later for e in n.out_edges):
            feeding.add(n.index)
    # ``last``'s ops matched in order with ``first``'s, skipping ops that only feed the next repetition
    aligned: list[Node | None] = []
    given = iter(mine)
    waiting = next(given, None)
    for n in nodes:
        if waiting is not None and _kind_of(waiting, last.scope, ragged_mine) == _kind_of(n, first.scope, ragged):
            aligned.append(waiting)
            waiting = next(given, None)
        elif n.index in feeding:
            aligned.append(None)
        else:
            return None
    if waiting is not None:
        return None
    # what it lacks the trace made and dropped (no repetition follows to use it): not code that ran
    # otherwise, as a last layer without its activation (``if i < depth - 1: h = tanh(h)``)
    dag = mine[0].dag
    lacking = Counter(n.op.name for n, m in zip(nodes, aligned) if m is None)  # type: ignore[union-attr]
    made = Counter(name for scope, name in (dag.dropped if dag is not None else ()) if _inside(scope, last.scope))
    output = dag.output if dag is not None else None
    if output is not None and output.op is not None and _inside(output.scope, last.scope):
        made[output.op.name] += 1  # the output made in the last iteration is drawn after the loop
    if lacking - made:
        return None
    kept = [n for n, m in zip(nodes, aligned) if m is not None]
    ours = {n.index for n in kept}
    if any(e.src.index not in ours and e.src.index in feeding for n in kept for e in n.in_edges):
        return None  # a kept op reads one left out: that one was not unused, the code ran otherwise
    return aligned if _signature_of(kept, first.scope) == last.signature else None


def _inside(scope: Scope | None, outer: Scope | None) -> bool:
    """Whether ``scope`` is ``outer`` or inside it."""
    while scope is not None:
        if scope is outer:
            return True
        scope = scope.parent
    return False


def _kind_of(n: Node, scope: Scope | None, ragged: set[int] | frozenset[int] = frozenset()) -> Any:
    """A node as ``_signature_of`` sees it, but for what it reads (``ragged``: ``_ragged``'s)."""
    shape = ("ragged", len(n.shape)) if n.index in ragged else n.shape
    return (n.kind, n.op.name if n.op is not None else None, _frozen(n.params) if n.kind == "op" else (), shape,
            n.dtype.str, _shape_of_scopes(n.scope, scope))


def main_chain(dag: DAG) -> list[int]:
    """The ops of the graph's main chain, by index: the longest run of ops from an input to the
    output (in a deep net, its layers; in an RNN, the state from step to step), the later operand
    on a tie. Drawn as one straight column. Only these: with every op in one DOT group, Graphviz 2.43
    fails to lay out some graphs ("trouble in init_rank"), e.g. an RNN whose steps branch (a
    softmax beside the state) inside nested frames."""
    ops = [0] * len(dag.nodes)  # the most ops on a path from an input to each node, itself included
    for n in dag.nodes:  # (loops, not max() of a list: a call less per node)
        if n.kind == "op":
            most = 0
            for e in n.in_edges:
                if ops[e.src.index] > most:
                    most = ops[e.src.index]
            ops[n.index] = most + 1
    chain: list[int] = []
    last: Node | None = dag.output
    while last is not None and last.kind == "op":
        chain.append(last.index)
        operands, last, most = last.in_edges, None, (-1, -1)
        for e in operands:  # the op operand with the most ops before it (the later one on a tie)
            s = e.src
            if s.kind == "op" and (ops[s.index], s.index) > most:
                last, most = s, (ops[s.index], s.index)
    return chain
