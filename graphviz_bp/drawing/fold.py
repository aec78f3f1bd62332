"""Which nodes a drawing shows, and where: the plan that folds repeated blocks (drawn once, "× N")
and collapses groups nested deeper than ``depth`` (one box each), automatically until the drawing
has at most about ``budget`` nodes. Pure: from the graph's groups to a mapping of every node to what
stands for it in the picture."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from ..graph import DAG, Node
from ..scopes import Scope
from .structure import Group, Repeat, group_tree, main_chain, repeats

__all__ = ["BUDGET", "Box", "Fold", "Plan", "group_id", "plan"]

BUDGET = 150  # nodes: a larger drawing is folded and collapsed until it fits (fold="auto", depth="auto")
MAX_FRAMES = 80  # frames drawn at most: the deepest levels go unframed past this (Graphviz took 0.5 to
# 2 s to lay out 80 frames, 4 s for 120 and more than 60 s for 160)
FRAME_DEPTH = 24  # scope levels framed at most: Graphviz's time grows steeply with frames nested in
# frames (a recursion 30 calls deep took 0.3 s to lay out, 45: 1.5 s, 60: 10 s, 75: minutes); deeper
# groups are drawn in the frame at this level, and depth="auto" collapses no deeper than it


@dataclass(eq=False)
class Fold:
    """A repeat drawn once: ``repeat``'s first repetition stands for all of them; ``owned`` are the
    inputs each repetition has to itself (its layer's W and b), by repetition (None where a tail
    lacks the op that read one)."""

    repeat: Repeat
    owned: list[list[Node | None]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return self.repeat.count


@dataclass(eq=False)
class Box:
    """A group drawn as one box: its nodes, the id it is drawn with."""

    id: str
    group: Group
    nodes: list[Node]


@dataclass(eq=False)
class Plan:
    """``shown[i]``: the id drawn for node ``i`` (``n5``: itself or the node that stands for it in
    a folded repeat; ``box_s3``: the box of its collapsed group). ``stands_for[id]``: the nodes a
    drawn id stands for, in trace order. ``cluster_of[id]``: the group a drawn node sits in (None:
    none). ``folds``: by the id of the group drawn for a repeat. ``depth``: the depth used (None:
    all groups open). ``stand[i]``: the node drawn for node ``i`` of a later repetition of a folded
    repeat (its counterpart in the first); absent for a node drawn as itself (or in a box)."""

    shown: dict[int, str]
    stands_for: dict[str, list[Node]]
    cluster_of: dict[str, Group | None]
    groups: dict[str, Group]
    folds: dict[str, Fold]
    boxes: dict[str, Box]
    depth: int | None
    root: Group
    stand: dict[int, Node] = field(default_factory=dict)
    # ``repetitions[i]``: for each folded repeat node ``i`` is in, (the repeat's place in ``folds``,
    # its repetition's number), outermost first
    repetitions: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    chain: list[int] = field(default_factory=list)  # the graph's main chain (``structure.main_chain``)
    gathered: frozenset[str] = frozenset()  # drawn inputs standing for the inputs only one box reads

    def repetitions_apart(self, src: Node, dst: Node) -> int:
        """How many repetitions of a folded repeat an edge from ``src`` to ``dst`` goes forward (in
        the innermost repeat whose repetitions its ends are in and differ); 0: none (an end outside
        every repeat, or both in one repetition)."""
        mine, theirs = dict(self.repetitions.get(src.index, ())), self.repetitions.get(dst.index, ())
        for fold, k in reversed(theirs):
            if fold in mine and mine[fold] != k:
                return k - mine[fold]
        return 0

    @property
    def size(self) -> int:
        """The number of nodes drawn."""
        return len(self.stands_for)


def group_id(g: Group) -> str:
    """The id of a group's frame in the Scene (``s3``; DOT's subgraph is ``cluster_s3``)."""
    return "root" if g.scope is None else f"s{g.scope.number}"


def plan(dag: DAG, fold: bool | str = "auto", depth: int | str | None = "auto", budget: int = BUDGET,
         data: tuple[str, ...] = ()) -> Plan:
    """The plan of a drawing. ``fold``: True, False or "auto" (fold when the graph has more than
    ``budget`` nodes); ``depth``: an int, None (every group open) or "auto" (the deepest that fits in
    ``budget`` nodes, when the graph is larger than that and ``fold`` is not False: ``fold=False``
    alone draws every node). ``data``: the inputs drawn as data (never drawn as one with parameters)."""
    if depth != "auto" and depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be a whole number of levels (0 or more), None or 'auto'; got {depth!r}")
    if fold not in (True, False, "auto"):
        raise ValueError(f"fold must be True, False or 'auto'; got {fold!r}")
    big = len(dag.nodes) > budget
    folding = big if fold == "auto" else bool(fold)
    root = group_tree(dag, periodic=folding)  # folding: loops that repeat every few iterations too
    folds = _folds(root, dag) if folding else []
    places = _repetitions(folds)  # (the same for every depth tried)
    chain = main_chain(dag)
    # where groups are collapsed, the inputs one box alone reads, alike, are drawn as one node (a
    # dense net's W0 … W199 beside its box; drawn apart, 120 inputs into one box made a picture
    # 26,000 px wide), unless fold=False asks for every node
    gather = None if fold is False else frozenset(data)
    if depth == "auto":
        if big and fold is not False:  # fold=False: every node drawn
            deepest = min(max((g.depth for g in root.walk()), default=0), FRAME_DEPTH)
            levels = [None, *range(deepest, -1, -1)]
            for d in levels:  # the deepest that fits (or the most collapsed)
                made = _make(dag, root, folds, d, places, chain, gather)
                if made.size <= budget:
                    break
            return made
        return _make(dag, root, folds, None, places, chain, gather)
    return _make(dag, root, folds, depth, places, chain, gather)  # type: ignore[arg-type]


def _folds(root: Group, dag: DAG) -> list[Fold]:
    """The repeats to fold (``_folded``), each with the inputs its repetitions own."""
    chosen: list[Fold] = []
    for r in _folded(repeats(root)):
        owner: dict[int, int] = {}  # each input the repetitions read: the one that reads it (-1: several)
        for k, g in enumerate(r.groups):
            for n in g.core():
                for e in n.in_edges:
                    if e.src.kind == "input" and owner.setdefault(e.src.index, k) != k:
                        owner[e.src.index] = -1
        slots = [_owned_inputs(r.core(k), k, owner) for k in range(r.count)]
        tail = [id(g) in r.tails for g in r.groups]  # (a tail may lack an op, and the input it read)
        common = [slot for slot in slots[0] if all(
            other[slot].shape == slots[0][slot].shape if slot in other else tail[k]
            for k, other in enumerate(slots[1:], 1))]
        owned = [[mine.get(slot) for slot in common] for mine in slots]
        chosen.append(Fold(r, owned))
    return chosen


def _folded(found: list[Repeat]) -> list[Repeat]:
    """Of ``found`` (outermost first), the repeats drawn once: the outermost (a repeat inside a
    repetition folded away is not drawn), and of those only the ones whose picture tells what each
    repetition does. A chain (each repetition reads the one before: a deep net's layers, an RNN's
    steps) folds whole. Repetitions side by side fold in runs that each send their values to the
    same places as drawn (``_sent``): an attention block's query, key and value projections each go
    elsewhere and are drawn apart (folded, ``q @ k.T`` would read ``x @ xᵀ``); the heads joined by
    one ``np.concatenate`` fold; of items summed one by one (``acc = outs[0]``, then ``acc + o``),
    all but the first. Where each goes depends on what else folds: the plan is made again with the
    folds found until it no longer changes."""
    taken = _outermost(found, lambda r: [r])
    for _ in range(len(found) + 1):  # (each pass settles a level at least: blocks feeding blocks)
        drawn = _drawn_as(taken)
        again = _outermost(found, lambda r: [r] if _chain(r) else _alike_runs(r, drawn))
        if [r.groups for r in again] == [r.groups for r in taken]:
            break
        taken = again
    return taken


def _outermost(found: list[Repeat], runs: Callable[[Repeat], list[Repeat]]) -> list[Repeat]:
    """The runs (``runs(r)``) of the repeats in ``found`` not inside a repetition already folded away."""
    taken: list[Repeat] = []
    inside: set[int] = set()  # scope numbers of groups folded away (not the first repetition)
    for r in found:
        if any(_within(g, inside) for g in r.groups):
            continue
        for run in runs(r):
            taken.append(run)
            for g in run.groups[1:]:
                for sub in g.walk():
                    if sub.scope is not None:
                        inside.add(sub.scope.number)
    return taken


def _drawn_as(folded: list[Repeat]) -> dict[int, int]:
    """For each node of a later repetition of a folded repeat, the node drawn for it (its
    counterpart in the first repetition, through folds nested in folds)."""
    stand: dict[int, int] = {}
    for r in folded:
        first = r.first.core()
        for k in range(1, r.count):
            for n, s in zip(r.core(k), first):
                if n is not None:
                    stand[n.index] = s.index
    for i in list(stand):  # (a nested fold's first repetition stands in turn for the outer one's)
        s = stand[i]
        for _ in folded:
            if s not in stand:
                break
            s = stand[s]
        stand[i] = s
    return stand


# ops that join their operands in order, each in the same role (an item of the list they are given)
_JOINS = frozenset(("concatenate", "stack", "hstack", "vstack", "dstack", "column_stack"))


def _chain(r: Repeat) -> bool:
    """Whether each repetition of ``r`` reads the one before (a deep net's layers, an RNN's steps):
    drawn once, with the edge on to the next repetition."""
    return all(_reads(r.groups[k], r.groups[k - 1]) or id(r.groups[k]) in r.tails  # (a tail may lack
               for k in range(1, r.count))                                          # the op that read it)


def _reads(g: Group, before: Group) -> bool:
    """Whether an op of ``g`` reads a value made in ``before``."""
    made = {n.index for n in before.nodes()}
    return any(e.src.index in made for n in g.nodes() for e in n.in_edges)


def _alike_runs(r: Repeat, drawn: dict[int, int]) -> list[Repeat]:
    """The runs of two or more consecutive repetitions of ``r`` that send their values out of it to
    the same places (as drawn: ``drawn``), each a repeat of its own."""
    within = {n.index for g in r.groups for n in g.nodes()}
    sent = [_sent(r.core(k), within, drawn) for k in range(r.count)]
    runs: list[Repeat] = []
    k = 0
    while k < len(sent):
        j = k + 1
        while j < len(sent) and sent[j] == sent[k]:
            j += 1
        if j - k >= 2:
            runs.append(r if j - k == r.count else Repeat(r.groups[k:j], r.tails))
        k = j
    return runs


def _sent(mine: list[Node | None], within: set[int], drawn: dict[int, int]) -> frozenset[tuple[int, int, int | None]]:
    """Where a repetition of a repeat whose nodes are ``within`` sends its values out of the repeat
    (``mine``: its ``Repeat.core``, constants left out as the signature leaves them: the first
    step's zero state): (the value's place, the node drawn for the one it goes to, which operand;
    any, for an item of a joined list)."""
    local = {n.index: k for k, n in enumerate(mine) if n is not None}
    out = set()
    for n in mine:
        if n is None:
            continue
        for e in n.out_edges:
            d = e.dst
            if d.index in within:
                continue
            joined = d.op is not None and d.op.name in _JOINS
            out.add((local[n.index], drawn.get(d.index, d.index), None if joined else e.argnum))
    return frozenset(out)


def _within(g: Group, numbers: set[int]) -> bool:
    s = g.scope
    while s is not None:
        if s.number in numbers:
            return True
        s = s.parent
    return False


def _constant_slots(g: Group, core: list[Node | None]) -> dict[tuple[int, int], Node]:
    """``g``'s constants by where they are used: (the using op's place among ``core``, its
    ``Repeat.core``, operand)."""
    local = {n.index: k for k, n in enumerate(core) if n is not None}
    return {(local[c.out_edges[0].dst.index], c.out_edges[0].argnum): c for c in g.nodes()
            if c.kind == "const" and c.out_edges and c.out_edges[0].dst.index in local}


def _owned_inputs(nodes: list[Node | None], k: int, owner: dict[int, int]) -> dict[tuple[tuple[int, int], ...], Node]:
    """The inputs repetition ``k`` of a repeat (``nodes``: its ``Repeat.core``) uses and no other
    repetition does (``owner``: the repetition that reads each input, -1 for several): a layer's W
    and b, also when a regulariser after the loop reads them. By where it uses them: the (op,
    operand) places, counted within the repetition, so that each one's W is matched with the others' W."""
    local = {n.index: j for j, n in enumerate(nodes) if n is not None}
    uses: dict[int, list[tuple[int, int]]] = {}
    inputs: dict[int, Node] = {}
    for n in nodes:
        if n is None:
            continue
        for e in n.in_edges:
            if e.src.kind == "input":
                uses.setdefault(e.src.index, []).append((local[n.index], e.argnum))
                inputs[e.src.index] = e.src
    return {tuple(uses[i]): inputs[i] for i in sorted(inputs) if owner[i] == k}


def _make(dag: DAG, root: Group, folds: list[Fold], depth: int | None,
          places: dict[int, list[tuple[int, int]]], chain: list[int], gather: frozenset[str] | None = None) -> Plan:
    stand: dict[int, Node] = {}  # node index -> the node drawn for it in a folded repeat
    home: dict[int, Group] = {g_n.index: g for g in root.walk() for g_n in g.own}
    folded: dict[str, Fold] = {}
    # a layer's own W is drawn inside the layer: in the repeat on the main chain (the net's layers)
    # when a regulariser's loop owns it too, whichever ran first; else in the first that owns it
    housed: set[int] = set()
    on_chain = set(chain)
    for f in sorted(folds, key=lambda f: not any(n.index in on_chain for n in f.repeat.first.nodes())):
        for s in f.owned[0]:
            if s.index not in housed:
                home[s.index] = f.repeat.first
                housed.add(s.index)
    for f in folds:  # repetition k's node i (and owned input j) is drawn as the first repetition's
        first = f.repeat.first.core()
        slots = _constant_slots(f.repeat.first, first)  # type: ignore[arg-type]
        for k, g in enumerate(f.repeat.groups):
            core = f.repeat.core(k)
            for n, s in zip(core, first):
                if n is not None:
                    stand[n.index] = s
            for n, s in zip(f.owned[k], f.owned[0]):
                if n is not None:
                    stand[n.index] = s
            if k:
                for slot, c in _constant_slots(g, core).items():  # its constants: the first one's in their place
                    if slot in slots:
                        stand[c.index] = slots[slot]
                    else:
                        home[c.index] = f.repeat.first  # a constant of its own: drawn in the frame
        folded[group_id(f.repeat.first)] = f
    # a repeat inside a repeat's first repetition: the outer loop's iteration j stands for its first,
    # whose inner iteration c stands in turn for the inner loop's first (one step per nested fold)
    for i, s in stand.items():
        for _ in folds:
            if stand.get(s.index, s) is s:
                break
            s = stand[s.index]
        stand[i] = s
    # inputs owned by the repetitions of two folds (tied weights read by an encoder's loop and by a
    # decoder's, in reverse): no one first repetition; drawn as the first of them in the inputs' order
    # (W0 … W5), whose uses their tags count (it was the first of one fold's and the last of the other's)
    owners: dict[int, int] = {}
    for number, f in enumerate(folds):
        for mine in f.owned:
            for n in mine:
                if n is not None:
                    owners[n.index] = -1 if owners.get(n.index, number) != number else number
    tied: dict[int, list[int]] = {}
    for i, s in stand.items():
        if i in owners:
            tied.setdefault(s.index, [s.index]).append(i)
    for members in tied.values():
        if any(owners.get(i) == -1 for i in members) or len({owners.get(i) for i in members}) > 1:
            first = dag.nodes[min(members)]
            for i in members:
                stand[i] = first
            stand.pop(first.index, None)
    by_number = {g.scope.number: g for g in root.walk() if g.scope is not None}
    boxes: dict[str, Box] = {}
    shown: dict[int, str] = {}
    stands_for: dict[str, list[Node]] = {}
    above: dict[int, Scope] = {}  # a scope's enclosing scope at ``depth`` (by number; walked once each)
    for n in dag.nodes:
        s = stand.get(n.index, n)
        drawn = s.id
        if depth is not None and s.scope is not None and s.kind != "input" and s.scope.depth >= depth:
            top = by_number[_at_depth(s.scope, depth, above).number]  # its group at depth + 1: collapsed
            if n is dag.output:  # drawn itself, where the backward pass starts: beside the box
                home[n.index] = top.parent
            else:
                drawn = f"box_s{top.scope.number}"  # type: ignore[union-attr]
                if drawn not in boxes:
                    # (the output is drawn itself, beside the box: not counted among its ops)
                    boxes[drawn] = Box(drawn, top, [m for m in top.nodes() if m is not dag.output])
        shown[n.index] = drawn
        got = stands_for.get(drawn)
        if got is None:
            stands_for[drawn] = [n]
        else:
            got.append(n)
    for key, box in list(boxes.items()):  # a group whose only op is the output: no box (its constants drawn)
        if not any(n.kind == "op" for n in box.nodes):
            del boxes[key]
            for n in stands_for.pop(key, []):
                shown[n.index] = n.id
                stands_for[n.id] = [n]
                home[n.index] = box.group.parent
    gathered = _gather_inputs(dag, shown, stands_for, stand, boxes, gather) if gather is not None and boxes \
        else frozenset()
    for f in folds:  # a layer's own inputs in the order of the repetitions (W0 … W9), not of the inputs
        for j, s in enumerate(f.owned[0]):
            got = stands_for.get(shown[s.index])
            if got is not None and len(got) > 1:
                order = {mine[j].index: k for k, mine in enumerate(f.owned) if mine[j] is not None}
                if all(n.index in order and owners.get(n.index) != -1 for n in got):
                    got.sort(key=lambda n: order[n.index])  # (owned by two folds: in the inputs' order)
    homes = {drawn: boxes[drawn].group.parent if drawn in boxes else home.get(stand.get(nodes[0].index, nodes[0]).index)
             for drawn, nodes in stands_for.items()}
    if boxes:  # a node drawn beside a box (a layer's own W, its layer collapsed): in the box's frame
        boxed = {id(b.group) for b in boxes.values()}
        homes = {drawn: _outside(h, boxed) for drawn, h in homes.items()}
    cluster_of, groups = _frames(homes, FRAME_DEPTH)
    if len(groups) > MAX_FRAMES:  # the outer levels framed, as many as fit
        levels = sorted(g.scope.depth for g in groups.values())  # type: ignore[union-attr]
        cluster_of, groups = _frames(homes, levels[MAX_FRAMES])
    return Plan(shown, stands_for, cluster_of, groups, folded, boxes, depth, root,
                {i: s for i, s in stand.items() if s.index != i}, places, chain, gathered)


GATHERED = 3  # inputs read by one box alone: this many or more are drawn as one node, when gathering
_STEM = re.compile(r"\d+")  # the numbers in an input's name: W0 … W199 are alike, V0 and U0 not


def _gather_inputs(dag: DAG, shown: dict[int, str], stands_for: dict[str, list[Node]], stand: dict[int, Node],
                   boxes: dict[str, Box], data: frozenset[str]) -> frozenset[str]:
    """Draw the inputs that only one collapsed box reads, alike (by the same ops, as the same
    operand), ``GATHERED`` or more of them, as one node (``W0 … W199``: a dense net's layers, each
    of its own shape, none folded), the first standing for the others (in the inputs' order), as a
    folded layer's are; their edges into the box are one. Returns the ids of the nodes drawn so."""
    into: dict[tuple[object, ...], list[Node]] = {}
    for n in dag.nodes:  # (a node drawn for the inputs of a repeat the box holds is gathered with them)
        if n.kind != "input" or not n.out_edges or shown[n.index] != n.id or n is dag.output:
            continue
        targets = {shown[e.dst.index] for e in n.out_edges}
        if len(targets) == 1:
            (box,) = targets
            if box in boxes:  # read alike (the layers' W by their matmuls, not the data x beside them),
                uses = tuple(sorted({(e.dst.op.name if e.dst.op is not None else e.dst.kind, e.argnum)
                                     for e in n.out_edges}))  # of one kind (parameters or data), named alike
                kind = n.differentiable and n.name not in data
                into.setdefault((box, uses, kind, _STEM.sub("", n.name)), []).append(n)
    gathered = []
    for drawn in into.values():
        members = sorted((m for n in drawn for m in stands_for[n.id]), key=lambda m: m.index)
        if len(members) < GATHERED or len(drawn) < 2:  # (one node drawn for a repeat's inputs: left so)
            continue
        first = drawn[0]
        for n in drawn[1:]:
            for m in stands_for.pop(n.id):
                shown[m.index] = first.id
                stand[m.index] = first
        stands_for[first.id] = members
        gathered.append(first.id)
    return frozenset(gathered)


def _outside(g: Group | None, boxed: set[int]) -> Group | None:
    """``g``, or when it is drawn as a box or inside one (by ``id`` in ``boxed``), the group around
    the outermost such box."""
    found, s = g, g
    while s is not None:
        if id(s) in boxed:
            found = s.parent
        s = s.parent
    return found


def _repetitions(folds: list[Fold]) -> dict[int, list[tuple[int, int]]]:
    """``Plan.repetitions``: for each node, the folded repeats it is in and its repetition in each."""
    places: dict[int, list[tuple[int, int]]] = {}
    for number, f in enumerate(folds):
        for k, g in enumerate(f.repeat.groups):
            for n in g.nodes():
                places.setdefault(n.index, []).append((number, k))
    return places


def _frames(homes: dict[str, Group | None], levels: int) -> tuple[dict[str, Group | None], dict[str, Group]]:
    """The frame each drawn node is in (by its id; ``homes``: the group it belongs to) and the
    frames drawn, by id, framing groups less than ``levels`` deep."""
    cluster_of: dict[str, Group | None] = {}
    groups: dict[str, Group] = {}
    found: dict[int, Group | None] = {}  # the frame of each home, by its id (most nodes share a home)
    for drawn, home in homes.items():
        if id(home) in found:
            cluster_of[drawn] = found[id(home)]
            continue
        g = cluster_of[drawn] = found[id(home)] = _framed(home, levels)
        while g is not None and group_id(g) not in groups:  # (the frames around a listed one are listed)
            groups[group_id(g)] = g
            g = _framed(g.parent, levels)
    return cluster_of, groups


def _framed(g: Group | None, levels: int = FRAME_DEPTH) -> Group | None:
    """The group whose frame a node in ``g`` is drawn in: ``g``, or the nearest around it that is
    not a loop (a loop's iterations are framed, each titled with the loop, not the loop itself) and
    is less than ``levels`` deep."""
    while g is not None and g.scope is not None and (g.scope.kind == "loop" or g.scope.depth >= levels):
        g = g.parent
    return None if g is None or g.scope is None else g


def _at_depth(scope: Scope, depth: int, above: dict[int, Scope]) -> Scope:
    """The scope around ``scope`` (or itself) at ``depth``; ``above`` remembers the answers."""
    walked: list[Scope] = []
    s = scope
    while s.depth > depth and s.number not in above:
        walked.append(s)
        s = s.parent  # type: ignore[assignment]
    found = above.get(s.number, s) if s.depth > depth else s
    for w in walked:
        above[w.number] = found
    return found
