"""The backward pass as steps to show one at a time (the interactive page, the frames for slides).

Built from a drawn Scene and the graph it was drawn from. Step 0 is the forward pass; step k is the
k-th op of the backward pass that sends messages: its cotangent ḡ is complete, and its rule sends one
message along each of its differentiable operands' edges. A value used several times sums the
messages on its outgoing edges as they arrive, and is complete when the last one has.

``reveal`` says when each piece of text on the drawing appears: the messages on an edge at the step
that sends them; at a shared value, ``∂L/∂W =`` at the first arrival, each term ``mₖ`` when it
arrives (shown faint before), the sum's numbers when the last one has. Everything else is the
forward pass, shown from step 0. Plain data throughout (JSON for the page), nothing drawn here.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..errors import PathLimitError
from ..graph import DAG, Edge, Node, count_text
from ..symbolic.formulas import assigned_names
from .annotate import _display_symbol, absorbed_constants, live_nodes
from .scene import Scene, SceneEdge, SceneNode
from .text import _range, format_shape, shown, subscript, summarize, visible

__all__ = ["Walk", "grid", "walk"]

PATHS = 16        # contributions listed for a clicked value; past this, their count only
NUMBERS = 400     # entries of an array given in full (a larger one: its summary and a heat-map grid)
GRID = 48         # a heat-map's rows and columns, at most (larger arrays: means of blocks)
BUDGET = 150_000  # numbers a page holds in all: with many arrays, each gets a coarser grid and fewer
PATH_EDGES = 400  # edges a value's listed paths may name in all (past that, its paths light together)
ROUTE = 12        # nodes a path's route names in full (a longer one: its ends, and "…")
FORMULA_EDGES = 400  # edges past which rules are shown as numbers only (formulas take time to verify)


@dataclass
class Walk:
    """What the page and the frames need: ``steps[k - 1]`` describes step k; ``reveal[id]`` gives,
    for each line of a drawn node or edge's label, for each span, the step it appears at, or a pair
    (faint from, full from); ``nodes`` and ``edges`` what clicking a drawn node or edge shows;
    ``edge_step[id]`` the first step whose message a drawn edge carries (absent: no message),
    ``edge_steps[id]`` all of them (several when it stands for one edge per repetition)."""

    title: str
    steps: list[dict[str, Any]]
    reveal: dict[str, list[list[Any]]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[str, dict[str, Any]] = field(default_factory=dict)
    edge_step: dict[str, int] = field(default_factory=dict)
    # every step of a drawn edge or op that stands for several (a folded repeat: one per repetition)
    edge_steps: dict[str, list[int]] = field(default_factory=dict)
    node_steps: dict[str, list[int]] = field(default_factory=dict)
    complete: dict[str, int] = field(default_factory=dict)    # a drawn value's gradient is complete
    arrivals: dict[str, list[int]] = field(default_factory=dict)  # a shared value: each message's step
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # a folded repeat, by its frame's id

    def data(self) -> dict[str, Any]:
        """Everything, as JSON-ready data."""
        return {"title": self.title, "steps": self.steps, "reveal": self.reveal, "nodes": self.nodes,
                "edges": self.edges, "edgeStep": self.edge_step,
                "edgeSteps": self.edge_steps, "nodeSteps": self.node_steps,
                "complete": self.complete, "arrivals": self.arrivals, "groups": self.groups}


def _number(x: float) -> float | str:
    """A float for JSON: as it is (round-trips exactly); infinities and nan as strings."""
    x = float(x)
    return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))


def grid(a: np.ndarray, side: int = GRID) -> dict[str, Any]:
    """An array as a heat-map grid of at most ``side`` × ``side`` cells: a 1-d array as one row (of
    at most ``side²``), more dimensions as (first axis) × (the rest); larger grids are means of blocks
    (``note`` says so). Cells are written to 4 significant digits."""
    a = np.asarray(a, dtype=float)
    m = a.reshape(1, -1) if a.ndim <= 1 else a.reshape(a.shape[0], -1)
    note = ""
    if a.ndim > 2:
        note = f"shown as {m.shape[0]} × {m.shape[1]} (the last {a.ndim - 1} axes flattened)"
    rows, cols = m.shape
    limit_r, limit_c = (1, side * side) if rows == 1 else (side, side)
    if rows > limit_r or cols > limit_c:
        br, bc = math.ceil(rows / limit_r), math.ceil(cols / limit_c)
        pr, pc = -rows % br, -cols % bc
        # the padding adds 0 and is not counted; an entry that is not finite makes its cell so (nanmean
        # padded with NaN dropped a NaN gradient from its cell, and warned of a block of them)
        blocks = (rows + pr) // br, br, (cols + pc) // bc, bc
        total = np.pad(m, ((0, pr), (0, pc))).reshape(blocks).sum(axis=(1, 3))
        count = np.pad(np.ones(m.shape), ((0, pr), (0, pc))).reshape(blocks).sum(axis=(1, 3))
        with np.errstate(all="ignore"):
            m = total / count
        note = (note + "; " if note else "") + f"each cell the mean of a {br} × {bc} block"
    data = [_number(float(f"{x:.4g}")) if math.isfinite(x) else _number(x) for x in m.ravel().tolist()]
    top = max((abs(x) for x in data if isinstance(x, float)), default=0.0)  # of the cells as written
    return {"rows": int(m.shape[0]), "cols": int(m.shape[1]), "data": data, "max": top, "note": note}


class _Arrays:
    """Arrays for the page, within BUDGET numbers in all: ``count`` arrays share it, so a page of
    many arrays gives each a coarser heat-map and lists fewer of them in full."""

    def __init__(self, count: int) -> None:
        each = max(16, min(GRID * GRID, BUDGET // max(count, 1)))
        self.side = max(4, min(GRID, math.isqrt(each)))
        self.numbers = min(NUMBERS, each)

    def __call__(self, a: np.ndarray) -> dict[str, Any]:
        """Shape, summary, norm, heat-map grid, and every entry when there are few (exactly)."""
        a = np.asarray(a)
        out: dict[str, Any] = {"shape": format_shape(a.shape), "summary": summarize(a), "grid": grid(a, self.side)}
        with np.errstate(all="ignore"):
            stats = _range(a) if a.size else None  # (the labels' norm: scaled where squares underflow)
            out["norm"] = _number(stats[0]) if stats else 0.0
        if a.size <= self.numbers:
            out["numbers"] = [_number(x) for x in np.asarray(a, dtype=float).ravel().tolist()]
        return out


class _Index:
    """Which drawn node or edge stands for each of the graph's nodes and edges."""

    def __init__(self, scene: Scene) -> None:
        self.node: dict[int, str] = {}
        self.edge: dict[int, str] = {}
        drawn_edges = {e.id for e in scene.edges}
        for key, members in scene.stands_for.items():
            table = self.edge if key in drawn_edges else self.node
            for i in members:
                table.setdefault(i, key)


def walk(dag: DAG, scene: Scene, title: str = "", data: tuple[str, ...] = ()) -> Walk:
    """The steps of ``dag``'s backward pass, on ``scene`` (``annotate(dag, ...)``, drawn with the
    inputs ``data`` as data: no message is shown flowing to them, or to what only they feed)."""
    bp = dag.backward_pass
    if bp is None:
        raise ValueError("the graph has no backward pass to step through")
    index = _Index(scene)
    names = _Names(absorbed_constants(dag), assigned_names(dag))
    live = live_nodes(dag, data)
    L = shown(dag.output) if dag.output.user_named or dag.output.kind == "input" else "L"
    page_step: dict[int, int] = {}  # the pass's step -> the page's
    sending = [s for s in bp.steps if any(m.edge.src in live for m in s.sent)]
    for k, s in enumerate(sending, 1):
        page_step[s.index] = k
    with_formulas = len(dag.edges) <= FORMULA_EDGES
    w = Walk(title=title, steps=[])

    boxes = {node.id: _title(node) for node in scene.nodes if "box" in node.classes}  # (by id: their titles)
    sums_at: dict[int, _Sum] = {}  # a value used several times: what it has received so far
    for k, s in enumerate(sending, 1):
        n = s.node
        drawn = index.node.get(n.index)
        if drawn is not None:
            w.node_steps.setdefault(drawn, []).append(k)
        sent = []
        for m in s.sent:
            e = m.edge
            if e.src not in live:
                continue
            eid = index.edge.get(e.index)
            if eid is not None:
                w.edge_step.setdefault(eid, k)
                steps = w.edge_steps.setdefault(eid, [])
                if not steps or steps[-1] != k:
                    steps.append(k)
            sent.append(_sent(e, m.value, eid, index, with_formulas, names))
        sums = []
        for rec in dict.fromkeys(m.edge.src for m in s.sent):
            if len(rec.out_edges) < 2 or rec not in live:
                continue
            acc = sums_at.get(rec.index)
            if acc is None:
                acc = sums_at[rec.index] = _Sum(rec)
            acc.add([m for m in s.sent if m.edge.src is rec])
            complete = acc.have == acc.total  # (then the gradient drawn: summed in the pass's order)
            sums.append({"node": index.node.get(rec.index), "name": _name(rec, names), "have": acc.have,
                         "of": acc.total, "terms": acc.terms(),
                         "partial": summarize(bp.adjoint(rec) if complete else acc.partial), "complete": complete})
        name = _name(n, names)
        step = {"node": drawn, "name": name, "cotangent": f"∂{L}/∂{L if n is dag.output else name}",
                "adjoint": summarize(s.adjoint), "seed": n is dag.output, "sent": sent, "sums": sums}
        if drawn is not None and drawn in boxes:  # an op inside a group drawn as one box: which
            step["box"] = boxes[drawn]
        w.steps.append(step)

    # when each value's gradient is complete: the last message it receives
    for n in dag.nodes:
        got = [page_step.get(bp.step_of(e.dst), 0) for e in n.out_edges if e.message is not None]
        drawn = index.node.get(n.index)
        if drawn is None or n not in live:
            continue
        if n is dag.output:
            w.complete.setdefault(drawn, 1)
        elif got:
            w.complete[drawn] = min(w.complete.get(drawn, max(got)), max(got))
            if len(n.out_edges) >= 2:  # (a node drawn for several, W0 … W2: the messages of them all)
                w.arrivals[drawn] = sorted(w.arrivals.get(drawn, []) + got)

    rep_of: dict[int, list[tuple[str, int]]] = {}  # a node in folded repeats -> (each frame, repetition)
    for cid, reps in scene.repeats.items():
        rows = []
        for k, (label, members, norm) in enumerate(zip(reps.labels, reps.nodes, reps.norms)):
            steps = sorted(page_step[bp.step_of(dag.nodes[i])] for i in members
                           if bp.step_of(dag.nodes[i]) in page_step)
            for i in members:
                rep_of.setdefault(i, []).append((cid, k))
            rows.append({"label": label, "steps": [steps[0], steps[-1]] if steps else None,
                         "norm": _number(norm) if norm is not None else None})
        w.groups[cid] = {"count": len(rows), "reps": rows}
    loops = _folded_loops(scene, dag)
    parents = {c.id: c.parent for c in scene.clusters}
    for k, s in enumerate(sending, 1):
        places = rep_of.get(s.node.index)
        if places:
            w.steps[k - 1]["reps"] = _places(s.node, places, loops, w.groups, parents)

    arrays = _Arrays(2 * len(scene.nodes) + len(scene.edges) + PATHS * len(w.arrivals))
    for node in scene.nodes:
        if node.id in scene.stands_for:
            w.reveal[node.id] = _node_reveal(node, dag, scene, w, page_step)
            w.nodes[node.id] = _node_info(node, dag, scene, index, names, live, arrays)
    titles = {n.id: _title(n) for n in scene.nodes if len(scene.stands_for.get(n.id, ())) > 1}
    for edge in scene.edges:
        # a drawn edge's numbers are one of its edges' (the first repetition's message, drawn): it is
        # written, and said sent, at that one's step, not the first of them all (the last repetition's)
        members = [dag.edges[i] for i in scene.stands_for.get(edge.id, ())]
        told = next((m for m in members if m.src in live and m.message is not None), None)
        at = page_step.get(bp.step_of(told.dst), w.edge_step.get(edge.id)) if told is not None else None
        w.reveal[edge.id] = _edge_reveal(edge, at or 0)
        w.edges[edge.id] = _edge_info(edge, dag, scene, w, with_formulas, names, live, arrays, told, at, titles)
    return w


def _folded_loops(scene: Scene, dag: DAG) -> dict[str, tuple[int, tuple[str, int, str] | None]]:
    """The folded repeats, by frame: the depth of their repetitions' scope and, where those are a
    loop's iterations, the loop's header (file, line and text)."""
    loops: dict[str, tuple[int, tuple[str, int, str] | None]] = {}
    for cid, reps in scene.repeats.items():
        first = dag.nodes[reps.nodes[0][0]] if reps.nodes and reps.nodes[0] else None
        if first is None or first.scope is None or not cid[1:].isdigit():
            continue
        scope = next((c for c in first.scope.chain if c.number == int(cid[1:])), None)
        if scope is None:
            continue
        loop = scope.parent if scope.kind == "iteration" else None
        header = (loop.source.filename, loop.source.lineno, loop.label) if loop is not None and \
            loop.source is not None else None
        loops[cid] = (scope.depth, header)
    return loops


def _places(n: Node, places: list[tuple[str, int]], loops: dict[str, tuple[int, tuple[str, int, str] | None]],
            groups: dict[str, Any], parents: dict[str, str | None]) -> list[dict[str, Any]]:
    """Where in the folded repeats ``n`` is, outermost first: each frame, the repetition (its index
    in the frame's list, or None) and its label. A loop folded inside a folded repeat lists the
    repetitions of its run in the first repetition only: in a later one (``places`` has it at
    repetition 1 or on), ``n``'s iteration of that loop is named by its label (``iteration 15``),
    placed in the list where one repetition has that label."""
    out = [{"group": cid, "index": k, "count": groups[cid]["count"], "label": groups[cid]["reps"][k]["label"]}
           for cid, k in places]
    known = {cid for cid, _ in places}
    later = [cid for cid, k in places if k > 0]  # the folds n is in a later repetition of
    chain = n.scope.chain if n.scope is not None else ()
    for cid, (depth, header) in loops.items():
        if cid in known or header is None or not any(_inside(cid, outer, parents) for outer in later):
            continue
        for s in chain:  # the iteration of a run of that loop that n was made in, at the frame's depth
            loop = s.parent
            if s.kind == "iteration" and s.depth == depth and loop is not None and loop.source is not None \
                    and (loop.source.filename, loop.source.lineno, loop.label) == header:
                labels = [r["label"] for r in groups[cid]["reps"]]
                label = s.title
                out.append({"group": cid, "index": labels.index(label) if labels.count(label) == 1 else None,
                            "count": groups[cid]["count"], "label": label})
                break
    at_depth = {s.depth: s for s in chain}
    for r in out:  # named by the loop's counter where it numbers the iteration: "t = 15"
        s = at_depth.get(loops.get(r["group"], (-1, None))[0])
        r["named"] = f"{s.counter} = {s.index}" if s is not None and s.kind == "iteration" and s.counter \
            and r["label"] == s.title else r["label"]
    return sorted(out, key=lambda r: loops.get(r["group"], (0, None))[0])


def _inside(cid: str, outer: str, parents: dict[str, str | None]) -> bool:
    """Whether the frame ``cid`` is drawn inside the frame ``outer`` (``parents``: each frame's)."""
    p = parents.get(cid)
    while p is not None:
        if p == outer:
            return True
        p = parents.get(p)
    return False


def _title(node: SceneNode) -> str:
    """A drawn node's title: its first line, and the bold lines after it (a box titled by a group
    whose label has two lines, "encoder" over "stage 1"), on one line."""
    rows = [node.lines[0]] + list(itertools.takewhile(lambda line: bool(line) and line[0].bold, node.lines[1:]))
    return " ".join("".join(span.text for span in row) for row in rows)


class _Names(NamedTuple):
    """What a value is called on the page: the constants drawn inside their ops (``absorbed``), the
    names from the user's ``r = ...`` lines (``assigned``, by node index)."""

    absorbed: set[int] | frozenset[int]
    assigned: dict[int, str]


def _name(n: Node, names: _Names) -> str:
    """A value as the drawing names it: an input's or a user's name, or the ``r`` of ``r = ...``;
    else its op's symbol."""
    if n.user_named or n.op is None:
        return shown(n)
    name = names.assigned.get(n.index)
    return visible(name) if name else _display_symbol(n, names.absorbed)


RULE_LENGTH = 120  # characters of a message's formula in the page's panel


def _rule(e: Edge, with_formulas: bool) -> str | None:
    if not with_formulas:
        return None
    try:
        f = e.formula
        if f is None or not f.verified:
            return None
        text = f.short(RULE_LENGTH)  # (short() bounds the formula's depth, not its length: cut it too,
        if len(text) <= RULE_LENGTH:  # between its words: "… + b20 − mea…" read as a name)
            return text
        cut = text.rfind(" ", 0, RULE_LENGTH - 1)
        return (text[:cut] if cut > RULE_LENGTH // 2 else text[:RULE_LENGTH - 2]) + " …"
    except Exception:  # noqa: BLE001 - a formula that cannot be built or printed: the numbers still are
        return None


def _sent(e: Edge, value: np.ndarray, eid: str | None, index: _Index, with_formulas: bool,
          names: _Names) -> dict[str, Any]:
    src = e.src
    k = next((i for i, o in enumerate(src.out_edges) if o is e), 0)
    tag = f"m{subscript(k + 1)}" if len(src.out_edges) >= 2 else ""
    return {"edge": eid, "to": index.node.get(src.index), "toName": _name(src, names), "argnum": e.argnum,
            "tag": tag, "rule": _rule(e, with_formulas), "value": summarize(value)}


class _Sum:
    """The messages a value used several times has received so far, step by step: their sum, how
    many, and which (by their places among its uses). Each step adds what it sends, so a value used
    by every one of n layers costs n additions over the pass, not one sum of all it has so far at
    each step (n² additions of its whole shape: 41 s for a 2,000-layer page)."""

    __slots__ = ("_place", "partial", "have", "total", "_arrived")

    def __init__(self, n: Node) -> None:
        self._place = {id(e): k for k, e in enumerate(n.out_edges)}
        self.partial: np.ndarray | None = None
        self.have = 0
        self.total = sum(1 for e in n.out_edges if e.message is not None)
        self._arrived: list[int] = []  # the uses whose messages have arrived, in order

    def add(self, messages: list[Any]) -> None:
        """The ``Message``-s that arrive at one step (in order of the receiving op's operands)."""
        for m in messages:
            self.partial = m.value.copy() if self.partial is None else self.partial + m.value
            bisect.insort(self._arrived, self._place[id(m.edge)])
        self.have += len(messages)

    def terms(self) -> str:
        """``m₁ + m₂ + …``: the terms arrived, and ``…`` while some are missing."""
        places = self._arrived if len(self._arrived) <= 8 else self._arrived[:3] + [-1] + self._arrived[-2:]
        names = ["…" if k < 0 else f"m{subscript(k + 1)}" for k in places]
        return " + ".join(names) + (" + …" if self.have < self.total else "")


def _node_reveal(node: SceneNode, dag: DAG, scene: Scene, w: Walk, page_step: dict[int, int]) -> list[list[Any]]:
    """When each span of a drawn node's label appears: its gradient's lines when it is complete; in
    a sum's line, ``∂L/∂W =`` at the first arrival and each term when it arrives (faint before)."""
    start, stop = node.back
    done = w.complete.get(node.id, 0)
    members = [dag.nodes[i] for i in scene.stands_for[node.id]]
    n = members[0]
    bp = dag.backward_pass
    assert bp is not None
    arrivals: dict[str, int] = {}  # a term's name -> the step it arrives
    for k, e in enumerate(n.out_edges):
        if e.message is not None:
            arrivals[f"m{subscript(k + 1)}"] = page_step.get(bp.step_of(e.dst), 0)
    first = min(arrivals.values()) if arrivals else done
    out: list[list[Any]] = []
    for i, line in enumerate(node.lines):
        if not start <= i < stop:
            out.append([0] * len(line))
            continue
        tags = [arrivals.get(s.text.strip()) for s in line]
        if i == start and any(t is not None for t in tags):
            spans: list[Any] = []
            for j, t in enumerate(tags):
                if t is not None:
                    spans.append([first, t])
                else:  # " + " goes with the term after it; the name and " = " with the first
                    after = next((x for x in tags[j + 1:] if x is not None), None)
                    spans.append([first, after] if after is not None and j > 0 and tags[j - 1] is not None
                                 else first)
            out.append(spans)
        else:
            out.append([done] * len(line))
    return out


def _edge_reveal(edge: SceneEdge, at: int) -> list[list[Any]]:
    start, stop = edge.back
    return [[at if start <= i < stop else 0] * len(line) for i, line in enumerate(edge.lines)]


def _route(nodes: tuple[Node, ...], names: _Names) -> str:
    said = [_name(m, names) for m in nodes]
    if len(said) > ROUTE:
        said = said[:ROUTE // 2] + [f"… {len(said) - ROUTE + 2} more …"] + said[-(ROUTE // 2 - 1):]
    return " → ".join(said)


def _node_info(node: SceneNode, dag: DAG, scene: Scene, index: _Index,
               names: _Names, live: set[Node], arrays: _Arrays) -> dict[str, Any]:
    """What clicking a drawn node shows: its value, its gradient, and for a value that depends on a
    parameter the paths to the output, each path's contribution; they sum to the gradient. (The
    page lights the edges on its paths itself: all the edges downstream of it.) A value with one
    path lists none: that path's contribution is the gradient."""
    members = [dag.nodes[i] for i in scene.stands_for[node.id]]
    n = members[0]
    bp = dag.backward_pass
    assert bp is not None
    title = _title(node)  # a box's group, a constant's value, as drawn
    # a box's group, a constant's value, a node drawn for several (0 + (·) … +): as drawn
    info: dict[str, Any] = {"name": title if node.id.startswith("box_") or n.kind == "const" or len(members) > 1
                            else _name(n, names),
                            "kind": n.kind, "op": n.op.name if n.op is not None else None,
                            "count": len(members), "value": arrays(n.value)}
    if n.source is not None:
        info["source"] = n.source.short()
    adjoint = bp.adjoint(n)
    if adjoint is None or node.id.startswith("box_") or n not in live:  # data: drawn without gradient
        return info
    info["gradient"] = arrays(adjoint)
    total = bp.path_count(n)
    # (a number while JavaScript holds it exactly; past that "about 10^4365", as messages write it:
    # JSON cannot hold more than 4300 digits, nor JavaScript a number past 1e308)
    info["pathCount"] = total if total <= 2 ** 53 else count_text(total)
    if total < 2 or total > PATHS or total * len(dag.descendants(n)) > PATH_EDGES:
        return info
    try:
        found = bp.contributions(n, limit=PATHS)
    except PathLimitError:
        return info
    paths = []
    for c in found:
        edges = [index.edge[e.index] for e in c.path if e.index in index.edge]
        paths.append({"edges": list(dict.fromkeys(edges)), "route": _route(c.nodes, names), **arrays(c.value)})
    info["paths"] = paths
    with np.errstate(all="ignore"):
        total_sum = sum((c.value for c in found[1:]), found[0].value.copy()) if found else None
        if total_sum is not None:
            info["sumCheck"] = _number(np.max(np.abs(total_sum - adjoint)) if adjoint.size else 0.0)
    return info


def _edge_info(edge: SceneEdge, dag: DAG, scene: Scene, w: Walk, with_formulas: bool,
               names: _Names, live: set[Node], arrays: _Arrays,
               told: Edge | None = None, at: int | None = None,
               titles: dict[str, str] | None = None) -> dict[str, Any]:
    """What the page says of a drawn edge; ``told``: the edge whose message it shows (its first
    with one), sent at page step ``at``; ``titles``: the drawn nodes that stand for several, by
    id, as their labels name them."""
    ends = {"src": edge.src.partition(":")[0], "dst": edge.dst.partition(":")[0]}  # drawn ids, no port
    members = [dag.edges[i] for i in scene.stands_for.get(edge.id, ())]
    if not members:
        return ends
    e = members[0]
    drawn = titles or {}  # the ends drawn for several: named as drawn
    info: dict[str, Any] = {**ends, "from": drawn.get(ends["src"]) or _name(e.src, names),
                            "to": drawn.get(ends["dst"]) or _name(e.dst, names),
                            "argnum": e.argnum, "count": len(members),
                            "jacobian": format_shape(e.dst.shape + e.src.shape)}
    if told is not None:
        e = told
        info["message"] = arrays(e.message)
        info["step"] = at
        rule = _rule(e, with_formulas)
        if rule is not None:
            info["rule"] = rule
    return info
