"""Annotate: build the Scene for a differentiated DAG, a plain description of what to draw.

Everything a reader sees is decided here (texts, colours, which values are live, which edges are
highlighted); ``render`` only turns the Scene into DOT. No Graphviz here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backward import contributions
from ..graph import DAG, Edge, Node, Source, count_text
from ..ops import display_label
from ..scopes import Scope
from ..symbolic.formulas import assigned_names
from .fold import Box, Fold, Plan, group_id, plan
from .folded import box_lines, clipped, group_title, owned_name, strip, strip_key
from .options import DrawOptions
from .scene import Cluster, Deferred, Line, Once, Repetitions, Scene, SceneEdge, SceneNode, Span
from .structure import Group, scaled_norm
from .text import (
    TOOLTIP_NAME,
    ArrayTexts,
    constant_lines,
    format_number,
    format_shape,
    shown,
    space_of,
    subscript,
    summarize,
    tooltip_joined,
    tooltip_parts,
    visible,
)

__all__ = ["PALETTES", "Palette", "annotate", "live_nodes"]


# ------------------------------------------------------------------------------------------------
# Palettes

@dataclass(frozen=True)
class Palette:
    text: str
    muted_text: str
    background: str
    edge: str
    const_edge: str
    message: str          # messages on edges out of values with one consumer
    fanout: tuple[str, ...]  # one per outgoing edge of a shared value
    fanout_styles: tuple[str, ...]
    param_fill: str
    param_border: str
    data_fill: str
    data_border: str
    op_fill: str
    op_border: str
    output_fill: str
    output_border: str
    shared_border: str
    jacobian: str


# Okabe–Ito colours (distinguishable with the common colour-vision deficiencies), red kept for
# single messages so that every backward message reads as "red = gradient", CS231n-style.
COLOR = Palette(
    text="#1a1a1a", muted_text="#808080", background="white", edge="#555555", const_edge="#b0b0b0",
    message="#c0392b",
    fanout=("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#8c564b", "#7f7f00"),
    fanout_styles=("solid",),
    param_fill="#dbeafe", param_border="#1d4ed8", data_fill="#f1f1f1", data_border="#a0a0a0",
    op_fill="#ffffff", op_border="#404040", output_fill="#fff4c2", output_border="#a16207",
    shared_border="#7c3aed", jacobian="#6b7280",
)
GREY = Palette(
    text="#000000", muted_text="#707070", background="white", edge="#404040", const_edge="#a8a8a8",
    message="#000000",
    fanout=("#000000", "#505050", "#000000", "#505050", "#000000", "#505050", "#000000"),
    fanout_styles=("solid", "dashed", "dotted", "bold", "dashed", "dotted", "bold"),
    param_fill="#e8e8e8", param_border="#000000", data_fill="#ffffff", data_border="#a0a0a0",
    op_fill="#ffffff", op_border="#000000", output_fill="#d0d0d0", output_border="#000000",
    shared_border="#000000", jacobian="#505050",
)
PALETTES = {"color": COLOR, "grey": GREY}  # one per choice of the theme option


# ------------------------------------------------------------------------------------------------
# Building the scene

def _display_symbol(node: Node, absorbed: frozenset[int] | set[int] = frozenset()) -> str:
    """The op's symbol as its declaration draws it (``ops.display_label``), which may read the
    constant scalars among the operands (the exponent of a power); with the constant operands in
    ``absorbed`` (node indices) written into it: ``× ½``, ``1 + (·)``, ``(·) − 1``."""
    assert node.op is not None
    mine = [e for e in node.in_edges if e.src.index in absorbed]
    if mine and node.op.name == "clip":  # clip(·, 0, ∞): its bounds written in
        bounds = [_number(float(e.src.value)) if e in mine else "·" for e in node.in_edges[1:]]
        return f"clip(·, {', '.join(bounds)})"
    if mine:
        return _with_constant(node, mine[0])
    if node.op.label is None:  # the op's symbol, whatever its operands
        return node.op.symbol
    constants = [e.src.value[()] if e.src.kind == "const" and e.src.shape == () and e.src.dtype.kind in "biuf"
                 else None for e in node.in_edges]
    return display_label(node.op, node.params, constants)


def _varying(first: str, members: list[Node], absorbed: frozenset[int] | set[int]) -> str:
    """The symbol of an op drawn once for one per repetition (``first``, the first's): where the
    repetitions' symbols differ, the first and the last (``(·)¹ … (·)³``, ``[0] … [59]``), so that
    the drawing does not show the first's numbers as everyone's."""
    symbols = [_display_symbol(m, absorbed) for m in members[1:]]
    if all(s == first for s in symbols):
        return first
    return f"{first} … {symbols[-1]}" if symbols[-1] != first else f"{first} … (varies)"


# ops whose constant scalar operand is drawn inside their symbol, not as a node of its own
_INLINE = {"add": "+", "subtract": "−", "multiply": "×", "divide": "÷", "power": "^", "maximum": "max",
           "minimum": "min"}
# ops whose operands may be swapped: the others' incoming edges are marked ①, ② at their heads
_COMMUTATIVE = frozenset({"add", "multiply", "maximum", "minimum", "hypot", "logaddexp", "logaddexp2", "fmax",
                          "fmin", "equal", "not_equal", "logical_and", "logical_or", "logical_xor"})
_MARKS = "①②③④⑤⑥⑦⑧⑨"


def absorbed_constants(dag: DAG) -> set[int]:
    """The constant scalars drawn inside the op that uses them (``½`` in ``× ½``): a finite number
    used once, by an op that writes it in its symbol, beside one traced operand; and the bounds of
    ``clip`` (``clip(·, 0, ∞)``)."""
    out: set[int] = set()
    for n in dag.nodes:
        if n.kind != "const" or n.shape != () or n.dtype.kind not in "biuf" or len(n.out_edges) != 1:
            continue
        user = n.out_edges[0].dst
        if user.op is not None and user.op.name == "clip" and n.out_edges[0].argnum in (1, 2) \
                and len(user.in_edges) == 3 and user.in_edges[0].src.kind != "const" and not np.isnan(n.value):
            out.add(n.index)  # a bound, ±∞ too (np.clip(z, 0, np.inf): a ReLU)
            continue
        if user.op is None or user.op.name not in _INLINE or len(user.in_edges) != 2:
            continue
        other = user.in_edges[1 - n.out_edges[0].argnum].src
        if other.kind != "const" and np.isfinite(n.value):
            out.add(n.index)
    return out


@functools.lru_cache(maxsize=1024)
def _number(v: float) -> str:
    """A constant as formulas write it (``symbolic.printing.number``: ``½``), remembered: the same
    constants recur from layer to layer and from drawing to drawing."""
    from ..symbolic.printing import number

    return number(v)


def _with_constant(node: Node, edge: Edge) -> str:
    """``node``'s symbol with the constant on ``edge`` written in: ``× ½``, ``(·)²``, ``1 − (·)``."""
    assert node.op is not None
    name, c = node.op.name, _number(float(edge.src.value))
    first = edge.argnum == 0
    if name == "multiply":
        return f"× ({c})" if c.startswith("−") else f"× {c}"
    if name == "power":
        if not first:
            label = display_label(node.op, node.params, [None, edge.src.value[()]])
            return label if label != "(·)^(·)" else f"(·)^{c}"
        return f"{c}^(·)"
    if name in ("maximum", "minimum"):
        return f"{_INLINE[name]}({c}, ·)"
    sign = _INLINE[name]
    return f"{c} {sign} (·)" if first else f"(·) {sign} {'(' + c + ')' if c.startswith('−') else c}"  # (·) − (−0.5)


def _output_name(dag: DAG) -> str:
    out = dag.output
    return shown(out) if out.user_named or out.kind == "input" else "L"


TITLE, SMALL, EDGE = 14, 10, 9  # point sizes: a node's symbol or name, its details, edge labels


def annotate(dag: DAG, options: DrawOptions | None = None) -> Scene:
    """The Scene for ``dag`` (already differentiated) under ``options``. Values that overflow or
    are not finite are drawn as they are (∞, nan), without NumPy's warnings."""
    with np.errstate(all="ignore"):
        return _annotate(dag, options or DrawOptions())


def live_nodes(dag: DAG, data: tuple[str, ...] = ()) -> set[Node]:
    """The values that depend on some parameter (a differentiable input not named in ``data``):
    they carry gradient emphasis; the rest (data, constants, and what is computed from them only)
    are drawn muted, without messages. One sweep in topological order."""
    live: set[Node] = set()
    for n in dag.nodes:
        if n.kind == "input" and n.differentiable and n.name not in data:
            live.add(n)
            continue
        for e in n.in_edges:  # (a loop, not any() of a generator: a call less per node)
            if e.src in live:
                live.add(n)
                break
    return live


class _Ctx:
    """What every node and edge of one drawing is drawn with: the options and palette, liveness,
    the messages' tags and the arrays' texts."""

    __slots__ = ("dag", "opts", "pal", "live", "L", "arrow", "arrow_span", "edge_tag", "texts", "shapes", "values",
                 "formulas", "adjoints", "messages", "absorbed", "sources", "boxed", "around", "assigned", "gathered")

    def __init__(self, dag: DAG, opts: DrawOptions, drawn: list[Node] | None = None,
                 drawn_edges: list[Edge] | None = None, absorbed: set[int] | None = None) -> None:
        self.dag, self.opts = dag, opts
        self.absorbed = absorbed_constants(dag) if absorbed is None else absorbed
        self.pal = pal = PALETTES[opts.theme]
        self.L = _output_name(dag)
        self.arrow = {"LR": "◀", "RL": "▶", "TB": "▲", "BT": "▼"}[opts.direction]
        self.arrow_span = _line(f"{self.arrow} ", pal.message, True, False, EDGE)[0]  # before an untagged message
        self.live = live = live_nodes(dag, opts.data)
        self.assigned = assigned_names(dag)  # ``r = ...``: the value r names, written under its op
        self.shapes, self.values, self.formulas = opts.shows_shapes, opts.shows_values, opts.shows_formulas
        bp = dag.backward_pass
        self.adjoints = bp.adjoints if bp is not None else (None,) * len(dag.nodes)
        self.messages = bp.message_values if bp is not None else (None,) * len(dag.edges)
        self.sources: dict[tuple[str, int, str], str] = {}  # the source lines the tooltips quote, by place
        self.boxed: dict[str, set[int]] = {}  # the nodes in each collapsed box (its own, not its repeats')
        self.around: dict[str, frozenset[int]] = {}  # the folded repeats each box is drawn once for (_around)
        self.gathered: frozenset[str] = frozenset()  # inputs drawn as one, read by one box alone (Plan.gathered)
        # Messages on the edges out of a shared value are numbered m₁, m₂, ... in edge order, each in
        # its own colour; the node then shows their sum.
        self.edge_tag: dict[Edge, tuple[str, str, str]] = {}
        for n in dag.nodes:
            if len(n.out_edges) >= 2 and n in live:
                for k, e in enumerate(n.out_edges):
                    self.edge_tag[e] = (f"m{subscript(k + 1)}", pal.fanout[k % len(pal.fanout)],
                                        pal.fanout_styles[k % len(pal.fanout_styles)])
        # every array drawn, known before any is written, so that they are reduced and written together
        self.texts = texts = ArrayTexts()
        for n in dag.nodes if drawn is None else drawn:
            texts.add(n.value)
            adjoint = self.adjoints[n.index]
            if adjoint is not None:
                texts.add(adjoint)
        messages = self.messages
        for e in dag.edges if drawn_edges is None else drawn_edges:
            m = messages[e.index]
            if m is not None:
                texts.add(m)


_LINES: dict[tuple[object, ...], Line] = {}  # lines made, by text and style; at most _REMEMBERED
_REMEMBERED = 4096                            # (then made afresh)


@functools.lru_cache(maxsize=1024)
def _named(head: Span, color: str) -> Line:
    """``∂L/∂W =``: the line above a gradient's value, made once (``render`` writes it once)."""
    return head, Span(" =", color)


def _line(text: str, color: str | None = None, bold: bool = False, italic: bool = False,
          size: float | None = None) -> Line:
    """A line of one span, made once for each text and style: the same object from layer to layer
    and from drawing to drawing, which ``render`` writes once (a Span is immutable)."""
    key = (text, color, bold, italic, size)
    line = _LINES.get(key)
    if line is None:
        if len(_LINES) > _REMEMBERED:
            _LINES.clear()
        line = _LINES[key] = (Span(text, color, bold, italic, size),)
    return line


def _annotate(dag: DAG, opts: DrawOptions) -> Scene:
    opts.check_inputs(dag.inputs)
    P = plan(dag, opts.folding, opts.levels, data=tuple(opts.data))
    absorbed = absorbed_constants(dag)
    lanes: dict[tuple[str, str, int], list[Edge]] = {}  # drawn edge -> the graph's edges it stands for
    around: dict[str, frozenset[int]] = {}
    shown, boxes = P.shown, P.boxes
    for e in dag.edges:
        a, b = shown[e.src.index], shown[e.dst.index]
        # inside a box, or a number written in its op: not drawn; from one repetition to the next
        # between values drawn as one node (a residual net's h = h + f(h), a loss += ...), or
        # between the boxes of two repetitions drawn as one (h = block(h) collapsed): a loop
        if (a != b or (a in P.stands_for and len(P.stands_for[a]) > 1 and
                       (a not in boxes or _between_repetitions(e, P, _around(P, a, around))))) \
                and e.src.index not in absorbed:
            key = (a, b, -1 if b in boxes else e.argnum)
            lane = lanes.get(key)
            if lane is None:
                lanes[key] = [e]
            else:
                lane.append(e)
    lanes = _fans_merged(_values_apart(lanes, P), P)
    for es in lanes.values():  # the edge drawn for a lane is one from the value drawn for its start, if
        a = shown[es[0].src.index]  # any (tied weights drawn as the first in the inputs' order: its uses)
        if a[0] == "n" and es[0].src.id != a:
            mine = next((k for k, m in enumerate(es) if m.src.id == a), 0)
            if mine:
                es.insert(0, es.pop(mine))
    kept = P.stands_for
    # the drawn nodes that stand for numbers written in their ops only (looked up from those numbers)
    gone = {k for k in {shown[i] for i in absorbed} if all(m.index in absorbed for m in kept[k])}
    if gone:
        kept = {k: members for k, members in kept.items() if k not in gone}
    drawn = [dag.nodes[int(k[1:])] for k in kept if k not in P.boxes]
    drawn_edges = [es[0] for es in lanes.values()]
    ctx = _Ctx(dag, opts, drawn, drawn_edges, absorbed)
    ctx.around, ctx.gathered = around, P.gathered
    into: dict[str, int] = {}  # drawn operands of each drawn node
    for (a, b, argnum) in lanes:
        into[b] = into.get(b, 0) + 1
    framed = len(kept) <= FRAMED  # a drawing this big (unfolded on request) gets no frames: dot would
    nodes: list[SceneNode] = []   # spend minutes nesting them; its chain is drawn straight instead
    for key, members in kept.items():
        home = P.cluster_of[key] if framed else None
        group = group_id(home) if home is not None else None
        nodes.append(_box_node(P.boxes[key], ctx, group, P.folds.get(group_id(P.boxes[key].group)))
                     if key in P.boxes else
                     _scene_node(dag.nodes[int(key[1:])], ctx, members, group))
    edges = tuple([_scene_edge(es[0], ctx, key, es, P, into.get(key[1], 0)) for key, es in lanes.items()])
    clusters = tuple(_cluster(g, P, ctx) for g in sorted(P.groups.values(), key=lambda g: g.scope.number)) \
        if framed else ()
    pal = ctx.pal
    legend = _legend(dag, opts, pal, ctx.arrow, ctx.live, P, absorbed, drawn_edges) \
        if opts.detail != "structure" or dag.shared_nodes() or P.folds or P.boxes else None
    repeats = {fid: _repetitions(fold) for fid, fold in P.folds.items()} if framed else {}
    stands_for = {key: _indices(members) for key, members in kept.items()}
    stands_for.update([(e.id, _indices(es)) for e, es in zip(edges, lanes.values())])
    drawn_ops = {n.id for n in nodes if "op" in n.classes or "box" in n.classes}  # (a box holds ops)
    return Scene(nodes=tuple(nodes), edges=edges, legend=legend, direction=opts.direction,
                 font="DejaVu Sans", background=pal.background, text_color=pal.text, clusters=clusters,
                 stands_for=stands_for, repeats=repeats,
                 chain=frozenset(i for i in (P.shown[k] for k in P.chain) if i in drawn_ops))


def _indices(items: list[Node] | list[Edge]) -> tuple[int, ...]:
    """The indices of ``items`` (most often one: a node or edge drawn for itself)."""
    return (items[0].index,) if len(items) == 1 else tuple([m.index for m in items])


FAN = 3  # operands of one op from one node drawn for many repetitions: this many or more are one edge


def _fans_merged(lanes: dict[tuple[str, str, int], list[Edge]], P: Plan) -> dict[tuple[str, str, int], list[Edge]]:
    """The drawn edges, those from a node drawn once for every repetition of a folded block, or from
    a collapsed box, into ``FAN`` or more operands of one op (``np.concatenate([np.ravel(w) for w
    in ws])``, a decoder's ``np.array(outputs)``: one operand per repetition) as one edge, "× N"
    (argnum -2), not a fan of N edges (60 from a decoder's box made its drawing 6,700 pt wide)."""
    fans: dict[tuple[str, str], int] = {}
    sources: dict[tuple[str, str], set[int]] = {}  # the values the operands come from: one each
    shared: set[tuple[str, str]] = set()  # one value read as two operands (np.stack([z, z, z])): no fan
    for (a, b, argnum), es in lanes.items():
        if argnum >= 0 and len(P.stands_for.get(a, ())) > 1:
            mine = {e.src.index for e in es}
            seen = sources.setdefault((a, b), set())
            if mine & seen:
                shared.add((a, b))
            seen |= mine
            fans[a, b] = fans.get((a, b), 0) + 1
    fans = {pair: count for pair, count in fans.items() if count >= FAN and pair not in shared}
    # from a box: only one value of each iteration of a loop (its steps' outputs), not a call's
    # different results (q, k and v into one np.concatenate: each its own edge, its own message)
    fans = {pair: count for pair, count in fans.items() if pair[0] not in P.boxes or _steps_apart(
        [e.src for (a, b, argnum), es in lanes.items() if (a, b) == pair and argnum >= 0 for e in es])}
    if not fans:
        return lanes
    merged: dict[tuple[str, str, int], list[Edge]] = {}
    for (a, b, argnum), es in lanes.items():
        key = (a, b, -2) if argnum >= 0 and (a, b) in fans else (a, b, argnum)
        merged.setdefault(key, []).extend(es)
    return merged


def _steps_apart(values: list[Node]) -> bool:
    """Whether ``values`` were each made in another iteration of one loop."""
    seen = set()
    loop = None
    for v in values:
        s = v.scope
        while s is not None and s.kind != "iteration":
            s = s.parent
        if s is None or (loop is not None and s.parent is not loop) or id(s) in seen:
            return False
        loop = s.parent
        seen.add(id(s))
    return True


def _values_apart(lanes: dict[tuple[str, str, int], list[Edge]], P: Plan) -> dict[tuple[str, str, int], list[Edge]]:
    """The edges from one collapsed box into another, one drawn edge per value that crosses (an
    RNN step's state and its scratch buffer): each carries the sum of its own value's messages. As
    one edge, it carried the first value's only (``m₂ all 0`` where the state's had norm 0.675).
    A value of a later repetition of a folded box counts as its first repetition's (argnum -3 - the
    index of the value drawn for it, when two or more values cross)."""
    boxes, stand = P.boxes, P.stand
    if not boxes or not any(a in boxes and b in boxes for a, b, _ in lanes):
        return lanes
    out: dict[tuple[str, str, int], list[Edge]] = {}
    for (a, b, argnum), es in lanes.items():
        if a not in boxes or b not in boxes:
            out[a, b, argnum] = es
            continue
        values = {stand.get(e.src.index, e.src).index for e in es}
        if len(values) == 1:  # one value: one edge, as any edge into a box
            out[a, b, argnum] = es
            continue
        for e in es:
            out.setdefault((a, b, -3 - stand.get(e.src.index, e.src).index), []).append(e)
    return out


def _repetitions(fold: Fold) -> Repetitions:
    """What a folded repeat's frame stands for, repetition by repetition."""
    groups = fold.repeat.groups
    labels = tuple(g.scope.title if g.scope is not None else f"repetition {k}" for k, g in enumerate(groups))
    return Repetitions(labels, tuple(tuple(n.index for n in g.nodes()) for g in groups), tuple(fold.repeat.norms()))


def _cluster(g: Group, P: Plan, ctx: _Ctx) -> Cluster:
    """A group's frame: its title, and for a repeat drawn once its count and norm strip."""
    fold = P.folds.get(group_id(g))
    stands, named = None, None
    around = P.folds.get(group_id(g.parent)) if g.parent is not None and g.parent.scope is not None else None
    if fold is None and around is not None and g.scope is not None and g.scope.kind == "iteration" \
            and g.parent.scope.kind == "cycle":  # type: ignore[union-attr]
        # an iteration of a repeat of several at a time: drawn for the same one of each
        place = g.parent.children.index(g)  # type: ignore[union-attr]
        stands = [c.children[place].scope.index for c in around.repeat.groups if len(c.children) > place]
    elif fold is None and around is not None and g.scope is not None and g.scope.kind == "group":
        # a gb.group block in a repeat drawn once: labelled in each repetition, "layer 0 … layer 2"
        place = g.parent.children.index(g)  # type: ignore[union-attr]
        labels = [c.children[place].scope.label for c in around.repeat.groups
                  if len(c.children) > place and c.children[place].scope is not None]
        if labels and labels[-1] != labels[0]:  # (line by line: "layer 0 … layer 2" over "encoder")
            first, last = labels[0].split("\n"), labels[-1].split("\n")
            rows = [a if a == b else f"{a} … {b}" for a, b in zip(first, last)]
            named = "\n".join(rows) if len(first) == len(last) else \
                " ".join(labels[0].split()) + " … " + " ".join(labels[-1].split())
    outer = 1  # a repeat drawn once inside another (a layer's heads): the repetitions around it
    if fold is not None:
        first = fold.repeat.first.nodes()
        nesting = P.repetitions.get(first[0].index, []) if first else []  # outermost first
        folds = list(P.folds.values())
        mine = next((k for k, f in enumerate(folds) if f is fold), None)
        for number, _ in nesting:
            if number == mine:  # (those after it: the repeats inside it, which its first node may start)
                break
            outer *= folds[number].count
    lines = group_title(g, fold, stands, outer) if named is None else [clipped(r) for r in named.split("\n")]
    parent = g.parent
    while parent is not None and parent.scope is not None and parent.scope.kind == "loop":
        parent = parent.parent  # loops are not framed: their iterations are
    parent = parent if parent is not None and parent.scope is not None else None
    color = ctx.pal.shared_border if fold is not None else ctx.pal.muted_text
    # a title written over several lines (``gb.group("layer 3\\nencoder")``): a row each
    return Cluster(group_id(g), tuple(_line(part, color, k == 0 and fold is not None, False, SMALL)
                                      for k, t in enumerate(lines) for part in t.split("\n")),
                   group_id(parent) if parent is not None else None,
                   ("group", g.scope.kind) + (("folded",) if fold is not None else ()))


def _box_node(box: Box, ctx: _Ctx, group: str | None = None, fold: Fold | None = None) -> SceneNode:
    """A group collapsed to one box, drawn in the cluster ``group``: what it is (``fold``: a repeat
    drawn once, its count) and what it holds; the messages that cross its boundary are on its edges."""
    pal = ctx.pal
    title, *rest = box_lines(box, fold)
    lines = [_line(t, pal.text, True, False, TITLE - 2) for t in title.split("\n")] + \
        [_line(t, pal.muted_text, False, False, SMALL) for t in rest]
    return SceneNode(box.id, ("box", box.group.scope.kind if box.group.scope else "group"), tuple(lines), "box",
                     "#f4f4f5", pal.op_border, Deferred(_box_tip, box, title), "filled,rounded", 2, 1.0, group)


def _box_tip(box: Box, title: str) -> str:
    ops = [n for n in box.nodes if n.kind == "op"]
    tip = [f"{title}: {len(ops)} ops, drawn as one box (depth option)"]
    tip += [f"{shown(n)}: {n.op.name if n.op else n.kind}, shape {_shape_text(n.shape)}" for n in ops[:40]]
    if len(ops) > 40:
        tip.append(f"… and {len(ops) - 40} more")
    if box.group.scope is not None and box.group.scope.source is not None:
        tip.append(box.group.scope.source.short())
    return tooltip_parts(tip)


MAX_TERMS = 8  # messages written out in a shared node's sum
DRAWN_PATHS = 64  # a gradient reached by more paths is drawn as numbers, not as a formula of so many terms
FRAMED = 300  # nodes drawn: a larger drawing has no group frames (Graphviz's layout of nested
# clusters grows much faster than linearly: 115 s for a 1000-layer net drawn whole, 10 s without)


FORMULA_LENGTH = 40  # characters of a formula drawn in a label
TIP_FORMULA_LENGTH = 600  # characters of a formula in a tooltip (deeper parts: …)


def _short(text: str, length: int = FORMULA_LENGTH) -> str:
    return text if len(text) <= length else text[:length - 1] + "…"


def _gradient_lines(n: Node, ctx: _Ctx, adjoint: np.ndarray | None) -> list[Line]:
    """∂L/∂v, written as the sum of its messages at a shared node, with its value (or, at the
    formulas level, each message written out as a verified formula)."""
    opts, pal, L, edge_tag, texts = ctx.opts, ctx.pal, ctx.L, ctx.edge_tag, ctx.texts
    lines: list[Line] = []
    head = Span(f"∂{L}/∂{_name(n, ctx.assigned)}", pal.text, True)
    if opts.shows_formulas:
        written = _written_out(n)
        if written is not None and not n.is_shared and written[0][1]:  # (no terms: no path, its zeros below)
            terms = written[0][1]
            lines.append((head, Span(" = " + _short(terms[0]), color=pal.message)))
            lines += [(Span(_plus(t), color=pal.message),) for t in terms[1:MAX_TERMS]]
            return lines
        if written is not None and n.is_shared and len(written) <= MAX_TERMS:  # (more: summed as values are)
            sum_line: list[Span] = [head, Span(" = ")]
            for e, _ in written:
                tag, color, _style = edge_tag[e]
                sum_line += ([Span(" + ")] if len(sum_line) > 2 else []) + [Span(tag, color=color, bold=True)]
            lines.append(tuple(sum_line))
            for e, terms in written:
                tag, color, _style = edge_tag[e]
                lines.append((Span(tag, color=color, bold=True), Span(" = " + _short(terms[0]), color=color)))
                lines += [(Span("  " + _plus(t), color=color),) for t in terms[1:MAX_TERMS]]
            return lines
    if n.is_shared:
        carrying = [e for e in n.out_edges if e.message is not None]
        if len(carrying) > MAX_TERMS:  # Σ of 1000 messages, the largest named
            lines.append((head, Span(f" = Σ of {len(carrying)} messages m₁ … m{subscript(len(carrying))}")))
            if ctx.values and adjoint is not None:
                lines += _value_lines(texts.summary_lines(adjoint), pal.message, SMALL, prefix="= ")
            each = [scaled_norm(e.message) if e.message is not None else None
                    for e in n.out_edges]
            lines.append((Span(f"‖m‖ by use {strip(each)}", color=pal.message, size=SMALL),))
            key = strip_key(each)
            if key:  # what its 0s, !s and bars of several uses mean
                lines.append((Span(key[2:], color=pal.muted_text, size=SMALL),))
            # the largest first; on a tie, the first use
            norms = sorted((-v, k) for k, v in enumerate(each) if v is not None)[:3]
            largest = ", ".join(f"m{subscript(k + 1)} ‖{-v:.3g}‖" for v, k in norms).replace("-", "−")  # (e−16)
            lines.append((Span("largest messages: " + largest,
                               color=pal.muted_text, size=SMALL),))
            return lines
        terms: list[Span] = [head, Span(" = ")]
        tagged = [edge_tag[e] for e in carrying]
        for tag, color, _ in tagged:
            if len(terms) > 2:
                terms.append(Span(" + "))
            terms.append(Span(tag, color=color, bold=True))
        lines.append(tuple(terms))
        if ctx.values and adjoint is not None:
            lines += _value_lines(texts.summary_lines(adjoint), pal.message, SMALL, prefix="= ")
    elif ctx.values and adjoint is not None:  # the value under its name, as at shared nodes
        lines.append(_named(head, pal.text))
        lines += _value_lines(texts.summary_lines(adjoint), pal.message, SMALL)
    return lines


def _written_out(n: Node) -> list[tuple[Edge | None, list[str]]] | None:
    """∂L/∂n as verified formulas: one per outgoing edge (the sum of the path terms that leave by
    it) at a shared node, else the whole gradient; None when a formula is not verified, or there
    are too many paths."""
    formulas = n.dag.formulas if n.dag is not None else None
    if formulas is None:
        return None
    try:
        f = formulas.formula(n, DRAWN_PATHS)
    except Exception:  # noqa: BLE001 - too many paths: the drawing keeps the numbers
        return None
    if not f.verified:
        return None
    if not n.is_shared:
        return [(None, [t.short(FORMULA_LENGTH) for t in f.terms[:MAX_TERMS]])]
    by_edge: dict[int, list[str]] = {}
    for t in f.terms:
        mine = by_edge.setdefault(t.path[0].index, [])
        if len(mine) < MAX_TERMS:
            mine.append(t.short(FORMULA_LENGTH))
    return [(e, by_edge[e.index]) for e in n.out_edges if e.index in by_edge]


def _plus(term: str) -> str:
    """A further term of a sum on its own line: ``+ a`` or ``− a``."""
    return "− " + _short(term[1:]) if term.startswith("−") else "+ " + _short(term)


def _name(n: Node, assigned: dict[int, str]) -> str:
    """A node's name as drawn in ``∂L/∂…``: an input's or a value the user named, or a name from
    the user's ``r = ...`` line (``assigned``; drawn under the op's symbol); else ``·``, this node's
    value, as the legend writes it (an op's id, ``matmul#8``, is for the API and tooltips)."""
    if n.kind != "op" or n.user_named:
        return shown(n)
    name = assigned.get(n.index)
    return visible(name) if name else "·"


def _forward_line(n: Node, pal: Palette) -> Line | None:
    """``= Wx`` under an op's symbol: the value as a formula of the inputs and named values."""
    formulas = n.dag.formulas if n.dag is not None else None
    if formulas is None or n.kind != "op":
        return None
    from ..symbolic.printing import text as formula_text

    e = formulas.shown_forward(n)
    body = formula_text(e.definition if e.kind == "sym" and e.definition is not None else e, limit=FORMULA_LENGTH)
    return (Span("= " + _short(body), color=pal.muted_text, size=SMALL),)


_new = tuple.__new__  # a Span made as a tuple: half the cost of Span(...), which runs a Python __new__
# (and a line of a value's numbers as a tuple marked Once: render writes it without keeping it)


def _nonzero_last(first: Any, last: Any) -> np.ndarray | None:
    """``last`` when ``first`` (a folded block's first repetition's value or message) is all 0 and
    ``last`` (its last repetition's) is not: drawn beside it, so that "all 0" is not read as every
    repetition's (an RNN from a zero state: its first step's ``Wh @ h`` and the message to ``Wh``)."""
    if type(first) is not np.ndarray or type(last) is not np.ndarray or first.dtype.kind not in "fc" \
            or first.any() or not last.any():
        return None
    return last


def _value_lines(parts: list[str], color: str, size: float, prefix: str = "") -> list[Line]:
    lines = [_new(Once, ((_new(Span, (p, color, False, False, size)),))) for p in parts]
    if prefix:
        lines[0] = _new(Once, ((Span(prefix + parts[0], color, False, False, size),)))
    return lines


PATHS_IN_TOOLTIP = 16
ROUTE = 12  # values of a path written in a tooltip; a longer path is written by its ends


def _path_tips(dag: DAG, n: Node) -> list[str]:
    """For a shared input: what each path to the output contributes (they sum to its gradient)."""
    bp = dag.backward_pass
    assert bp is not None
    count = bp.path_count(n)
    if count > PATHS_IN_TOOLTIP:
        return [f"{count_text(count)} paths to the output (Graph.contributions lists them)"]
    tips = [f"{count} paths to the output; their contributions sum to the gradient:"]
    for k, c in enumerate(contributions(dag, n, PATHS_IN_TOOLTIP), 1):
        steps = [shown(m) if m.user_named or m.kind == "input" else _display_symbol(m)
                 for m in (c.nodes if len(c.nodes) <= ROUTE else c.nodes[:ROUTE // 2] + c.nodes[-ROUTE // 2:])]
        if len(c.nodes) > ROUTE:  # a path through a deep net: its ends
            steps.insert(ROUTE // 2, f"… {len(c.nodes) - 2 * (ROUTE // 2)} more …")
        tips.append(f"path {k}: {' → '.join(steps)}: {summarize(c.value)}")
    return tips


def _scene_node(n: Node, ctx: _Ctx, members: list[Node] | None = None, group: str | None = None) -> SceneNode:
    """``n`` drawn, in the cluster ``group``; ``members``: the nodes it stands for in a folded
    repeat (itself first)."""
    pal, texts, L = ctx.pal, ctx.texts, ctx.L
    many = members is not None and len(members) > 1
    is_out = n is ctx.dag.output
    kind = n.kind
    shared = len(n.out_edges) >= 2  # n.is_shared
    adjoint = ctx.adjoints[n.index]
    muted = n not in ctx.live
    told = n  # the node whose gradient is written (its messages tagged m₁, m₂ …)
    if muted and many:  # the first repetition's value is made from data, a later one's needs a gradient
        later = next((m for m in members if m in ctx.live), None)  # type: ignore[union-attr]
        if later is not None:
            muted, adjoint, told = False, ctx.adjoints[later.index], later
    if is_out and kind == "op":
        classes: tuple[str, ...] = ("op", "output", "shared") if shared else ("op", "output")
    elif kind == "input":
        classes = (kind, "parameter" if not muted else "data") + (("shared",) if shared else ())
    else:
        classes = (kind, "shared") if shared else (kind,)
    tip = Deferred(_node_tip, told, ctx, muted, members if many else None)
    if kind == "const":
        label = n.params.get("label")
        texts_ = [label] if label else constant_lines(n.value)
        if ctx.formulas and not label and n.dag is not None and n.dag.formulas is not None:
            from ..symbolic.printing import text as formula_text

            e = n.dag.formulas.forward(n)
            if e.kind in ("num", "array") and formula_text(e) != "C":  # 0.1I, ½, 1: as formulas write it
                texts_ = [formula_text(e)]
        lines = [_line(texts_[0], pal.muted_text)] + [_line(t, pal.muted_text, size=SMALL) for t in texts_[1:]
                                                     if ctx.values]
        var = n.params.get("var")
        if var and not label:  # the user's variable that holds it (X, read from the module), above what it is
            lines.insert(0, _line(visible(var), pal.muted_text, True))
        return SceneNode(id=n.id, classes=classes, lines=tuple(lines), shape="plaintext",
                         fill="none", border=pal.const_edge, tooltip=tip, style="solid", group=group)

    text_color = pal.muted_text if muted else pal.text
    if kind == "input":
        lines = [_line(visible(owned_name(members)) if many and members else shown(n), text_color, True, False,
                          TITLE)]
    else:
        symbol = _display_symbol(n, ctx.absorbed)
        if many:  # one op per repetition: where theirs differ (an exponent, a scale, W[i]), the range
            symbol = _varying(symbol, members, ctx.absorbed)  # type: ignore[arg-type]
        lines = [_line(symbol, text_color, True, False, TITLE)]
        assigned = ctx.assigned.get(n.index)
        if n.user_named or is_out or assigned:
            name = shown(n) if n.user_named else (L if is_out else visible(assigned))
            lines.append(_line(name, text_color, False, True))
    value = told.value  # (a later repetition's, with its gradient, where the first reads data only)
    if ctx.shapes:
        spread = _spread([m.value.shape for m in members]) if many else None  # type: ignore[union-attr]
        field = value.dtype.kind
        text = space_of(value.shape, field) if spread is None else \
            f"{space_of(spread[0], field)} … {space_of(spread[1], field)}"
        lines.append(_line(text, pal.muted_text, False, False, SMALL + 1))
    if many and n.id in ctx.gathered and ctx.values:  # inputs the box alone reads: whose numbers are drawn
        lines.append(_line(f"{len(members)} inputs: {shown(n)}'s numbers", pal.muted_text, False, True, SMALL))  # type: ignore[arg-type]
    if told is not n and members and ctx.values:  # say so: the drawing's other numbers are the first's
        nth = members.index(told) + 1
        before = "the 1st" if nth == 2 else f"the first {nth - 1}"
        lines.append(_line(f"the {_ordinal(nth)} repetition's ({before}: data only)", pal.muted_text,
                           False, True, SMALL))
    if ctx.formulas and not muted:
        forward = _forward_line(n, pal)
        if forward is not None:
            lines.append(forward)
    if ctx.values:
        lines += _value_lines(texts.summary_lines(value), text_color, SMALL)
        later = _nonzero_last(value, members[-1].value) if many else None  # type: ignore[index]
        if later is not None:  # the first repetition's all 0 (an RNN's zero state): not the others'
            lines += _value_lines(texts.summary_lines(later), pal.muted_text, SMALL, prefix="the last: ")
    back = len(lines)
    if adjoint is not None and not muted:
        if is_out:
            if ctx.values:
                lines += _value_lines(texts.summary_lines(adjoint), pal.message, SMALL, prefix=f"∂{L}/∂{L} = ")
        elif kind == "input" or shared:
            lines += _gradient_lines(told, ctx, adjoint)
    if kind == "input" and not n.out_edges and not is_out and not many and n.differentiable:
        # read by nothing the loss depends on (a gain only the loop's dropped last step read): its
        # gradient is 0 because no path leads from it, which a student may not have meant (integer
        # inputs, labels, may be read as plain numbers: no edge, yet used)
        lines.append(_line(f"no path to {L}: unused", pal.muted_text, False, True, SMALL))

    if kind == "input":
        fill, border = (pal.data_fill, pal.data_border) if muted else (pal.param_fill, pal.param_border)
        shape = "box"
    elif is_out:
        fill, border, shape = pal.output_fill, pal.output_border, "box"
    else:
        fill, border, shape = pal.op_fill, pal.data_border if muted else pal.op_border, "ellipse"
    if shared and not muted:
        border = pal.shared_border
    return SceneNode(n.id, classes, tuple(lines), shape, fill, border, tip,
                     "filled,rounded" if shape == "box" else "filled", 2 if is_out else 1,
                     2.0 if shared and not muted else 1.0, group, back=(back, len(lines)))


def _node_tip(n: Node, ctx: _Ctx, muted: bool, members: list[Node] | None = None) -> list[str] | str:
    """A node's tooltip: what it is, its value and gradient (every entry of a small array; the
    summary and corners of a large one), the paths to a shared input; for a node that stands for
    one value per repetition of a folded block, the last repetition's too."""
    value, texts, L = n.value, ctx.texts, ctx.L
    # written in parts, each array's text one of its own (render passes it through unescaped)
    said = ctx.assigned.get(n.index)  # ``q = x @ Wq``: "q (matmul#3)", the id the API reads
    head = (f"{visible(said)} ({visible(n.name[:TOOLTIP_NAME])})" if said else visible(n.name[:TOOLTIP_NAME])) + \
        _what(n.kind, n.op.name if n.op else None, value.shape, value.dtype)
    if n.kind == "const":
        return tooltip_joined([head + "\n", texts.full_text(value)])
    tip = [head + "\nvalue =\n", texts.full_text(value)]
    more: list[str] = []  # the lines after the arrays
    adjoint = ctx.adjoints[n.index]
    if adjoint is not None and not muted:
        tip += (f"\n∂{L}/∂{visible(said) if said else shown(n)} =\n", texts.full_text(adjoint))
        if n.kind == "input" and n.is_shared:
            with np.errstate(all="ignore"):  # made when render reads it, outside annotate()'s errstate
                more += _path_tips(ctx.dag, n)
    if members:
        last = members[-1]
        why = "inputs only the box beside it reads (depth option)" if n.id in ctx.gathered else \
            "values, one per repetition"
        more += [f"drawn once for {len(members)} {why}; the last, {visible(last.name)}:",
                 f"value: {summarize(last.value)}"]
        adjoint = ctx.adjoints[last.index]
        if adjoint is not None and not muted:
            more.append(f"∂{L}/∂{shown(last)}: {summarize(adjoint)}")
    if n.source is not None:
        more.append(_where(n.source, ctx.sources))
    if more:
        tip.append("\n" + "\n".join(more))
    return tooltip_joined(tip)


def _ordinal(k: int) -> str:
    """``2nd``, ``3rd``, ``11th``."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _where(source: Source, seen: dict[tuple[str, int, str], str]) -> str:
    """``source.short()``, read once per line of code in a drawing (a loop's body, on every layer)."""
    if type(source) is not Source:  # an expression's: its own text
        return source.short()
    key = (source.filename, source.lineno, source.function)
    text = seen.get(key)
    if text is None:
        text = seen[key] = source.short()
    return text


@functools.lru_cache(maxsize=1024)  # the same few kinds of value on every layer
def _what(kind: str, op: str | None, shape: tuple[int, ...], dtype: np.dtype) -> str:
    """``: op (add), shape 64×8, float64``: what a value is, after its name in a tooltip."""
    return f": {kind}{' (' + op + ')' if op else ''}, shape {format_shape(shape)}, {dtype}"


_shape_text = functools.lru_cache(maxsize=1024)(format_shape)  # shapes recur on every layer


def _scene_edge(e: Edge, ctx: _Ctx, key: tuple[str, str, int] | None = None, members: list[Edge] | None = None,
                P: Plan | None = None, operands: int = 0) -> SceneEdge:
    """``e`` drawn, standing for ``members`` (the graph's edges between the drawn ends ``key``:
    one per repetition of a folded block, or every edge into a collapsed box from one value)."""
    pal = ctx.pal
    src, dst = e.src, e.dst
    message = ctx.messages[e.index]
    many = members is not None and len(members) > 1
    summed = _summed(e, members, P, key, ctx) if many else []  # one value's uses inside a collapsed box: their sum crosses
    if summed:
        message = ctx.texts.add(np.add.reduce([ctx.messages[m.index] for m in summed]))
    from_const = src.kind == "const"
    if len(src.out_edges) >= 2:
        classes: tuple[str, ...] = ("fanout", "const") if from_const else ("fanout",)
    else:
        classes = ("const",) if from_const else ()
    muted = src not in ctx.live
    tag = ctx.edge_tag.get(e)
    shown_e, silent = e, 0  # the edge whose message is drawn; the repetitions before it, which carry none
    if many and not summed and (muted or message is None):
        # the first repetition carries no message (its input is data, the later ones' a value with
        # a gradient): the first one that does is drawn, and how many before it carry none
        shown_e = next((m for m in members if m.src in ctx.live and ctx.messages[m.index] is not None), e)  # type: ignore[union-attr]
        if shown_e is not e:
            silent = members.index(shown_e)  # type: ignore[union-attr]
            message, muted, tag = ctx.messages[shown_e.index], False, ctx.edge_tag.get(shown_e)
    if summed:  # no one use's message: their sum, named by their tags
        names = [ctx.edge_tag[m][0] for m in summed if m in ctx.edge_tag]
        tag = ((" + ".join(names) if len(names) <= 3 else f"Σ of {len(names)} messages") if len(names) == len(summed)
               else f"Σ of {len(summed)} messages", pal.message, "solid")
    color, style, penwidth = pal.edge, "solid", 1.2
    if muted:
        color = pal.const_edge
    elif tag is not None:
        color, style, penwidth = tag[1], tag[2], 2.2
    lines: list[Line] = []
    into_box = key is not None and key[1].startswith("box_")  # the Jacobian of many ops: not written
    if ctx.shapes and not from_const and src.value.dtype.kind in "fc" and not into_box:  # integer/boolean: none
        spread = _spread([m.dst.value.shape + m.src.value.shape for m in members]) if many else None  # type: ignore[union-attr]
        lines.append(_jacobian_line(dst.value.shape + src.value.shape, pal.jacobian) if spread is None else
                     _line(f"J {format_shape(spread[0])} … {format_shape(spread[1])}", pal.jacobian, False, False,
                           EDGE - 1))
    back = len(lines)
    formula = shown_e.formula if ctx.formulas and message is not None and not muted and not summed else None
    if formula is not None and formula.verified:
        name = f"{tag[0]} = " if tag else ""
        msg_color = tag[1] if tag else pal.message
        lines.append((Span(f"{ctx.arrow} {name}", color=msg_color, bold=True, size=EDGE),
                      Span(_short(formula.short(FORMULA_LENGTH)), color=msg_color, size=EDGE)))
    elif (ctx.values or ctx.formulas) and message is not None and not muted:
        arrow = _line(f"{ctx.arrow} {tag[0]} ", tag[1], True, False, EDGE)[0] if tag else ctx.arrow_span
        msg_color = arrow.color
        parts = ctx.texts.summary_lines(message)
        lines.append(_new(Once, ((arrow, _new(Span, (parts[0], msg_color, False, False, EDGE))))))
        for r in parts[1:]:
            lines.append(_new(Once, ((_new(Span, (r, msg_color, False, False, EDGE)),))))
        later = _nonzero_last(message, ctx.messages[members[-1].index]) if many and not summed else None  # type: ignore[index]
        if later is not None:  # the first repetition's message all 0 (from an RNN's zero state)
            lines += _value_lines(ctx.texts.summary_lines(later), pal.muted_text, EDGE, prefix="the last: ")
    elif ctx.shapes and tag is not None and not muted:
        lines.append(_line(f"{ctx.arrow} {tag[0]}", tag[1], True, False, EDGE))
    back = (back, len(lines))
    own = src.id, dst.id
    a, b = (key[0], key[1]) if key is not None else own
    # an edge into some repetitions of a block drawn once
    some = _some_repetitions(members or [e], P, b) if P is not None and len(P.stands_for.get(b, ())) > 1 else ""
    if P is not None and len(P.stands_for.get(a, ())) > 1 and not _later(members or [e], P):
        off = _some_sources(members or [e], P, a)  # out of some repetitions only: which
        some = f"{off}, {some}" if some and off else some or off
    if summed:
        lines.append(_line(f"its {len(summed)} uses in the box, summed", color, False, True, EDGE))
        where = _later(members, P, _around(P, b, ctx.around)) if P is not None and b in P.boxes else ""  # type: ignore[arg-type]
        if where:  # each repetition's value into a later one's box
            sources = len({id(m.src) for m in members})  # type: ignore[union-attr]
            lines.append(_line(f"× {sources}{where}" if sources > 1 else where.strip(" ()"), color, False, True,
                               EDGE))
            classes = classes + ("recurrence",)
            style = "dashed"
        elif len(summed) == len(members or ()):
            if some:  # into iteration 0 only
                lines.append(_line(some, color, False, True, EDGE))
        elif P is not None and members:
            # a box drawn once for each repetition of a folded block: the first one's uses summed,
            # and what the edge stands for in all (not "× 7" after a sum of three)
            reps = _repetitions_reached(members, P, key[1]) if key is not None else len(members)
            what = _merged_tags(members, ctx.edge_tag).rstrip(", ") or f"{len(members)} uses"
            lines.append(_line(f"{what} into its {reps} repetitions" if reps != 1 else f"{what} into one repetition",
                               color, False, True, EDGE))
    elif many:
        # to a later repetition: every edge goes from one repetition of a folded repeat to a later
        # one (an edge from a weight outside into each repetition does not; at a collapsed box, of
        # the repeats folded around it: those inside are its inside)
        boxed = None if P is None else b if b in P.boxes else a if a in P.boxes else None
        where = _later(members, P, None if boxed is None else _around(P, boxed, ctx.around)) if P is not None else ""
        across = bool(where)
        what = _merged_tags(members, ctx.edge_tag)
        none = "" if not silent else "; none in the first" if silent == 1 else f"; none in the first {silent}"
        lines.append(_line(f"{what}× {len(members)}{where or (f' ({some})' if some else '')}{none}", color, False,
                           True, EDGE))
        if across:
            classes = classes + ("recurrence",)
            style = "dashed"
    elif P is not None and P.repetitions and not a.startswith("box_") and not b.startswith("box_") \
            and _later([e], P):  # one value carried on (a skip connection across repetitions)
        lines.append(_line(_later([e], P).strip(" ()"), color, False, True, EDGE))
        classes = classes + ("recurrence",)
        style = "dashed"
    elif some:
        lines.append(_line(some, color, False, True, EDGE))
    ident = f"e{src.index}_{dst.index}_{e.argnum}" if key is None or (a, b) == own else \
        f"e{a}_{b}_{key[2] if key[2] >= 0 else 'in' if key[2] == -1 else 'each' if key[2] == -2 else f'in{-3 - key[2]}'}"
    mark = ""
    if operands >= 2 and dst.op is not None and dst.op.name not in _COMMUTATIVE and not b.startswith("box_") \
            and e.argnum < len(_MARKS) and (key is None or key[2] >= 0):
        mark = _MARKS[e.argnum]  # the order of a non-commutative op's operands: ① − ②, ① @ ②
    return SceneEdge(ident, a, b, classes, tuple(lines), color,
                     Deferred(_edge_tip, shown_e, message, tag[0] if tag else "", ctx.L, ctx.texts, ctx.formulas,
                              max(members, key=_place) if members else None, len(members) if members else 1,
                              len(summed), ctx.assigned),
                     style, penwidth, mark, back)


def _summed(e: Edge, members: list[Edge] | None, P: Plan | None, key: tuple[str, str, int] | None,
            ctx: _Ctx) -> list[Edge]:
    """The edges an edge into a collapsed box stands for that carry one value into the box itself
    (not into the repeats it stands for), when there are two or more: the message that crosses the
    box's boundary is their sum. Else []."""
    if P is None or key is None or members is None or len(members) < 2 or key[1] not in P.boxes:
        return []
    inside = ctx.boxed.get(key[1])
    if inside is None:
        inside = ctx.boxed[key[1]] = {n.index for n in P.boxes[key[1]].nodes}
    same = [m for m in members if m.src is e.src and m.dst.index in inside]
    if not same:  # carried into the box of a later repetition: its uses in that one
        folds = _around(P, key[1], ctx.around)
        there = _within(P.repetitions.get(e.dst.index, ()), folds)
        same = [m for m in members if m.src is e.src and _within(P.repetitions.get(m.dst.index, ()), folds) == there]
    messages = ctx.messages
    return same if len(same) >= 2 and all(messages[m.index] is not None for m in same) else []


def _around(P: Plan, box: str, known: dict[str, frozenset[int]]) -> frozenset[int]:
    """The folded repeats (their numbers, as in ``P.repetitions``) that the box ``box`` is drawn
    once for each repetition of (not those folded inside it), kept in ``known``."""
    got = known.get(box)
    if got is None:
        group = P.boxes[box].group
        around = set()
        for number, f in enumerate(P.folds.values()):
            g = group
            while g is not None and g is not f.repeat.first:
                g = g.parent
            if g is not None:
                around.add(number)
        got = known[box] = frozenset(around)
    return got


def _within(where: tuple[tuple[int, int], ...], folds: frozenset[int]) -> tuple[tuple[int, int], ...]:
    """The repetitions ``where`` of the folded repeats ``folds`` only."""
    return tuple(w for w in where if w[0] in folds)


def _apart(e: Edge, P: Plan, folds: frozenset[int] | None = None) -> int:
    """``P.repetitions_apart`` of ``e``'s ends, counting only the repeats ``folds`` (None: all)."""
    if folds is None:
        return P.repetitions_apart(e.src, e.dst)
    mine = dict(_within(P.repetitions.get(e.src.index, ()), folds))
    for fold, k in reversed(_within(P.repetitions.get(e.dst.index, ()), folds)):
        if fold in mine and mine[fold] != k:
            return k - mine[fold]
    return 0


def _between_repetitions(e: Edge, P: Plan, folds: frozenset[int]) -> bool:
    """Whether ``e`` goes from one repetition of the folded repeats ``folds`` to another."""
    mine = P.repetitions.get(e.src.index)
    return mine != P.repetitions.get(e.dst.index) and mine is not None and _apart(e, P, folds) > 0


def _later(members: list[Edge], P: Plan, folds: frozenset[int] | None = None) -> str:
    """Where edges that each go from one repetition of a folded repeat (of ``folds``, if given) to a
    later one go: `` (to the next repetition)``, `` (3 repetitions on)``, `` (to later
    repetitions)``; '' when some edge does not (a weight outside into each repetition)."""
    apart = {_apart(m, P, folds) for m in members} if P.repetitions else {0}
    if min(apart) <= 0:
        return ""
    return " (to the next repetition)" if apart == {1} else \
        f" ({next(iter(apart))} repetitions on)" if len(apart) == 1 else " (to later repetitions)"


def _repetitions_reached(members: list[Edge], P: Plan, box: str) -> int:
    """The repetitions of the folded blocks around the box ``box`` (drawn once for each) that the
    edges ``members`` go into: not those of a loop folded inside the box."""
    around = _around(P, box, {}) if box in P.boxes else frozenset()
    return len({_within(P.repetitions.get(m.dst.index, ()), around) for m in members})


def _some_repetitions(members: list[Edge], P: Plan | None, b: str) -> str:
    """For an edge into a node drawn once for every repetition of a folded block that reaches only
    some of them (the input a loop starts from, a constant only its first iteration adds): which
    ones, ``into iteration 0 only`` or ``into 3 of 4 repetitions``; else ''."""
    if P is not None and b in P.boxes:
        return _some_boxes(members, P, b)
    targets = P.stands_for.get(b) if P is not None else None
    if targets is None or len(targets) < 2:
        return ""
    reached = {m.dst.index for m in members}
    if len(reached) >= len(targets):
        return ""
    where = [P.repetitions.get(i, []) for i in reached]  # type: ignore[union-attr]
    if all(len(w) == 1 for w in where) and len({w[0][0] for w in where}) == 1:
        # in one repeat (not one inside another): the iterations it goes into, when they are a
        # loop's (an iteration each, or cycles of them: then the iterations its ends are in)
        groups = list(P.folds.values())[where[0][0][0]].repeat.groups  # type: ignore[union-attr]
        if len(targets) == len(groups):
            named = _iterations_named(members, groups)
            if named:
                return named
    if len(reached) == 1 and len(where[0]) > 1:  # one of the iterations of loops in loops: which
        named = _in_loops(members[0].dst, "into")
        if named:
            return named
    return f"into {len(reached)} of {len(targets)} repetitions"


def _some_boxes(members: list[Edge], P: Plan, box: str) -> str:
    """``_some_repetitions`` for a box drawn once for every repetition of the one folded block
    around it: the repetitions whose box the edges go into, if not all."""
    around = _around(P, box, {})
    if len(around) != 1:
        return ""
    (number,) = around
    groups = list(P.folds.values())[number].repeat.groups
    reached = {k for m in members for n, k in P.repetitions.get(m.dst.index, ()) if n == number}
    if not reached or len(reached) >= len(groups):
        return ""
    return _iterations_named(members, groups) or f"into {len(reached)} of {len(groups)} repetitions"


def _place(e: Edge) -> tuple[int, int]:
    """Where an edge is in the trace: by the op it goes into, then which operand (the last of the
    edges a drawn edge stands for is the last repetition's)."""
    return e.dst.index, e.argnum


def _some_sources(members: list[Edge], P: Plan | None, a: str) -> str:
    """For an edge out of a node drawn once for every repetition of a folded block that leaves only
    some of them (the last iteration's state, read after the loop): which ones, ``from iteration 39
    only`` or ``from 1 of 40 repetitions``; else ''."""
    sources = P.stands_for.get(a) if P is not None and a not in P.boxes else None
    if sources is None or len(sources) < 2:
        return ""
    left = {m.src.index for m in members}
    if len(left) >= len(sources):
        return ""
    if sources[0].kind == "input":  # a layer's weights drawn as one (W0 … W5): which of them
        ks = [k for k, n in enumerate(sources) if n.index in left]
        if len(ks) == 1:
            return f"from {shown(sources[ks[0]])} only"
        if ks == list(range(ks[0], ks[-1] + 1)):
            return f"from {shown(sources[ks[0]])} … {shown(sources[ks[-1]])}"
        return f"from {len(ks)} of {len(sources)}"
    # the innermost folded repeat the drawn node is in (its repetitions outermost first; a loop in a
    # folded one is folded in the first repetition's run only: the others' are drawn by it)
    place = P.repetitions.get(sources[0].index)  # type: ignore[union-attr]
    if place:
        number = place[-1][0]
        if any(f == number for m in members for f, _ in P.repetitions.get(m.dst.index, ())):  # type: ignore[union-attr]
            return ""  # within the block (h into a copy the last repetition does not make): not out of it
        folds = list(P.folds.values())  # type: ignore[union-attr]
        around = 1  # the repetitions of the folds around this one: a loop inside runs once in each
        for f, _ in place:
            if f == number:
                break
            around *= folds[f].count
        if len(left) == 1 and around > 1:  # one of all the runs' iterations: which, in every loop
            named = _in_loops(members[0].src, "from")
        else:
            named = _iterations_named(members, folds[number].repeat.groups, "from")  # (in each run)
        if named:
            return named
    return f"from {len(left)} of {len(sources)} repetitions"


def _in_loops(n: Node, way: str) -> str:
    """``from i = 2, j = 3 only``: the iteration of each loop around ``n`` it was made in, by the
    loop's counter where its header names one (``for i in ...``); '' when it is in no loop."""
    parts = []
    s = n.scope
    while s is not None:
        if s.kind == "iteration":
            parts.append(f"{s.counter} = {s.index}" if s.counter else f"iteration {s.index}")  # (numbered by it)
        s = s.parent
    return f"{way} {', '.join(reversed(parts))} only" if parts else ""


def _iterations_named(members: list[Edge], groups: list[Group], way: str = "into") -> str:
    """The iterations of the loop whose passes are ``groups`` (a folded block's repetitions) that
    ``members`` go into (``way`` "from": leave from): ``into iteration 0 only``, ``into iterations
    2…5``, ``from iteration 39 only``; '' when the repetitions are no loop's iterations."""
    loop = groups[0].scope.parent if groups[0].scope is not None else None
    if loop is None or loop.kind != "loop":
        return ""
    found = {_iteration_in(m.src if way == "from" else m.dst, loop) for m in members}
    if None in found:
        return ""
    ks = sorted(found)  # type: ignore[type-var]
    steps = {j - i for i, j in zip(ks, ks[1:])}
    if len(ks) == 1:
        return f"{way} iteration {ks[0]} only"
    if steps == {1}:
        return f"{way} iterations {ks[0]}…{ks[-1]}"
    if len(ks) <= 3:
        return f"{way} iterations {', '.join(map(str, ks[:-1]))} and {ks[-1]}"
    if len(steps) == 1:
        return f"{way} iterations {ks[0]}, {ks[1]}, …, {ks[-1]}"
    return ""


def _iteration_in(n: Node, loop: Scope | None) -> int | None:
    """The number of the iteration of ``loop`` that ``n`` was made in, or of a run of the same loop
    (its header at the same line: a loop inside a folded one runs once per repetition); None: none.
    Numbers may be negative, a loop's counter's: ``range(-1, 3)``."""
    s = n.scope
    while s is not None and s.parent is not loop and not (
            s.parent is not None and loop is not None and s.parent.kind == "loop" and s.parent.label == loop.label
            and s.parent.source is not None and loop.source is not None
            and (s.parent.source.filename, s.parent.source.lineno) == (loop.source.filename, loop.source.lineno)):
        s = s.parent
    return s.index if s is not None and s.kind == "iteration" else None


_DIGITS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


def _merged_tags(members: list[Edge], edge_tag: dict[Edge, tuple[str, str, str]]) -> str:
    """The tags of the messages an edge drawn once stands for, before its count: ``m₁ … m₁₀₀, ``
    for the uses m₁ to m₁₀₀ of one value; ``m₁, m₃, `` or ``5 of m₁ … m₉, `` when they are not a
    run (or some member is no tagged use); ``m₂ of each, `` for one use of each repetition's own
    value, ``m₁ … m₃ of each, `` for the same few (a loop inside the repetition reads it three
    times); else nothing (the count says how many)."""
    tagged = [m for m in members if m in edge_tag]
    if len(tagged) < 2:
        return ""
    names = [edge_tag[m][0] for m in tagged]
    src = tagged[0].src
    if any(m.src is not src for m in tagged):  # a value of each repetition, each with its own tags
        if len(tagged) != len(members):
            return ""
        each: dict[int, list[str]] = {}
        for m in tagged:
            each.setdefault(id(m.src), []).append(edge_tag[m][0])
        uses = {tuple(v) for v in each.values()}  # the same uses of each: m₂, or m₁ … m₃ (a loop inside)
        if len(uses) != 1:
            return ""
        (mine,) = uses
        if len(mine) == 1:
            return f"{mine[0]} of each, "
        mine = tuple(sorted(mine, key=lambda t: int(t[1:].translate(_DIGITS))))
        at = [int(t[1:].translate(_DIGITS)) for t in mine]
        steps = {j - i for i, j in zip(at, at[1:])}
        if steps == {1} and len(mine) > 2:
            return f"{mine[0]} … {mine[-1]} of each, "
        if len(mine) <= 3:
            return f"{', '.join(mine)} of each, "
        if len(steps) == 1:  # every third use (m₃, m₆, … m₉₀): a label that does not grow with the loop
            return f"{mine[0]}, {mine[1]}, … {mine[-1]} of each, "
        return f"{len(mine)} of {mine[0]} … {mine[-1]} of each, "
    position = {id(e): k for k, e in enumerate(src.out_edges)}
    at = [position[id(m)] for m in tagged]
    if len(tagged) == len(members) and at == list(range(at[0], at[0] + len(at))) and len(names) > 2:
        return f"{names[0]} … {names[-1]}, "
    return ", ".join(names) + ", " if len(names) <= 3 else f"{len(names)} of {names[0]} … {names[-1]}, "


def _spread(shapes: list[tuple[int, ...]]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The smallest and the largest of the shapes of the values (or Jacobians) one folded node (or
    edge) stands for, when they differ (a gather by a mask, ``x[x < 0]``, in each repetition: as many
    entries as that repetition's mask holds); else None."""
    first = shapes[0]
    if all(s == first for s in shapes):
        return None
    order = sorted(set(shapes), key=lambda s: (math.prod(s), s))  # (by size, then by shape: 1×3 and 3×1)
    return order[0], order[-1]


@functools.lru_cache(maxsize=1024)  # shapes recur on every layer
def _jacobian_line(shape: tuple[int, ...], color: str) -> Line:
    return _line(f"J {format_shape(shape)}", color, False, False, EDGE - 1)


def _edge_tip(e: Edge, message: np.ndarray | None, tag: str, L: str, texts: ArrayTexts, formulas: bool = False,
              last: Edge | None = None, count: int = 1, summed: int = 0,
              assigned: dict[int, str] | None = None) -> list[str] | str:
    """An edge's tooltip: which argument it is, its Jacobian's shape, its message (every entry of a
    small array; the summary and corners of a large one) and, at the formulas level, its formula and
    whether it was verified; for an edge drawn once for ``count`` edges, the ``last`` one's message.
    Its ends are named as drawn (``assigned``: the user's ``q = ...``), else by their ids."""
    src, dst = e.src, e.dst
    s, d = _said(src, assigned), _said(dst, assigned)
    # written in parts, the message's text one of its own (render passes it through unescaped)
    head = f"{s} → {d} (argument {e.argnum})\nJacobian ∂{d}/∂{s}: {_shape_text(dst.value.shape + src.value.shape)}"
    formula = e.formula if formulas and message is not None else None
    if formula is not None:
        written = _short(formula.short(TIP_FORMULA_LENGTH), TIP_FORMULA_LENGTH)
        head += (f"\nformula: {written}   (ḡ = ∂{L}/∂{d})\n"
                 + (("verified: equal to the message at the traced inputs and at fresh ones" if formula.fresh else
                     "verified: equal to the message at the traced inputs (the graph could not be run at fresh "
                     "ones near them: a value turned infinite, or an index out of range)") if formula.verified
                    else f"not shown: {formula.why}"))
    if message is not None and summed:
        tip = [head + f"\nmessage {tag}: the sum of the {summed} messages from {s}'s uses in the box, its gradient "
               "from there =\n", texts.full_text(message)]
    elif message is not None:
        tip = [head + f"\nmessage {tag + ' ' if tag else ''}(∂{L}/∂{d} pulled back to {s}) =\n",
               texts.full_text(message)]
    else:
        tip = [head]
    if last is not None and count > 1 and count != summed:
        ends = f"{_said(last.src, assigned)} → {_said(last.dst, assigned)}"
        tip.append(f"\ndrawn once for {count} edges; the last, {ends}, carries "
                   + (summarize(last.message) if last.message is not None else "no message"))
    return tooltip_joined(tip)


def _said(n: Node, assigned: dict[int, str] | None) -> str:
    """``n`` in a tooltip: the name of the user's ``q = ...`` line, else its name or id."""
    name = assigned.get(n.index) if assigned else None
    return visible(name) if name else shown(n)


def _legend(dag: DAG, opts: DrawOptions, pal: Palette, arrow: str, live: set[Node], P: Plan | None = None,
            absorbed: set[int] | frozenset[int] = frozenset(), drawn_edges: list[Edge] | None = None) -> SceneNode:
    """The key to the drawing: what its marks and colours mean (only those it uses; ``drawn_edges``:
    the edges drawn, whose formulas it reads; default every edge)."""
    operands = any(n.op is not None and n.op.name not in _COMMUTATIVE and (P is None or P.shown[n.index] == n.id)
                   and sum(1 for e in n.in_edges if e.src.index not in absorbed) >= 2 for n in dag.nodes)
    shared = dag.shared_nodes()
    drawn = [_short(e.formula.short(FORMULA_LENGTH)) for e in (dag.edges if drawn_edges is None else drawn_edges)
             if e.message is not None
             and e.src in live and e.formula is not None and e.formula.verified] if opts.shows_formulas else []
    return _legend_node(
        _output_name(dag), pal, arrow, any(n not in live for n in dag.inputs.values()), operands,
        opts.shows_shapes, opts.shows_values, opts.shows_formulas,
        max(len(n.out_edges) for n in shared) if shared else 0,
        P is not None and _folds_drawn(P), P is not None and bool(P.boxes), P.depth if P is not None else None,
        any("→" in t for t in drawn),
        any("[" in t and ("<" in t or ">" in t or "≥" in t or "≤" in t) for t in drawn),
        any("…" in t for t in drawn), P is not None and bool(P.gathered))


def _folds_drawn(P: Plan) -> bool:
    """Whether a repeat drawn once is seen (in a frame, as a box "× N", or unframed in a drawing of
    too many frames: its edges say "× N"); not one inside a collapsed box, which the legend would
    explain where nothing shows it."""
    boxed = {id(b.group) for b in P.boxes.values()}
    for f in P.folds.values():
        g = f.repeat.first.parent
        while g is not None and id(g) not in boxed:
            g = g.parent
        if g is None:
            return True
    return False


@functools.lru_cache(maxsize=256)  # the same few legends, drawing after drawing
def _legend_node(L: str, pal: Palette, arrow: str, data: bool, operands: bool, shapes: bool, values: bool,
                 formulas: bool, fanout: int, folds: bool, boxes: bool, depth: int | None, scatter: bool,
                 indicator: bool, cut: bool, gathered: bool = False) -> SceneNode:
    rows: list[Line] = [(Span("How to read this graph", bold=True, color=pal.text),)]

    def row(key: str, color: str, text: str, *more: Span) -> None:
        rows.append((Span(key + " ", color=color, bold=True), *more, Span(text, color=pal.text)))

    row("■", pal.param_border, f"parameter: value and gradient ∂{L}/∂·")
    if data:
        row("■", pal.data_border, "data: no gradient shown")
    row("◯", pal.op_border, "operation: symbol and value")
    if operands:
        row("① ②", pal.text, "first, second operand (− ÷ @ …)")
    row("▣", pal.output_border, f"output {L}: the backward pass starts at 1")
    if shapes:
        row(space_of((3, 5)), pal.muted_text, "shape of the value")
        row("J", pal.jacobian, "shape of the local Jacobian")
    if values:
        row(arrow, pal.message, "backward message (a VJP),")
        rows.append((Span("    shaped like the edge's input", color=pal.text),))
    if fanout:
        tags = tuple(Span(f"m{subscript(i + 1)} ", color=pal.fanout[i % len(pal.fanout)], bold=True)
                     for i in range(min(fanout, 3)))
        rows.append(tags + (Span("one message per use of a value;", color=pal.text),))
        rows.append((Span(f"    ∂{L}/∂v is their sum", color=pal.text),))
    if folds:
        row("× N", pal.shared_border, "a block repeated N times, drawn once")
        rows.append((Span("    (its first repetition's numbers)", color=pal.text),))
        row("▁▃▆█", pal.shared_border, "norm of the message into each")
        rows.append((Span("    repetition, log scale", color=pal.text),))
    if boxes:
        row("▭", pal.op_border, f"a group drawn as one box (depth={depth})")
    if gathered:  # (named by the first and the last: W0 … W199; the edge may say × N, or their sum)
        row("x₀ … xₙ", pal.param_border, "inputs only one box reads, alike,")
        rows.append((Span("    drawn as one (the first's numbers)", color=pal.text),))
    if values:
        row("norm", pal.muted_text, "of a larger array; hover (SVG)")
        rows.append((Span("    for every entry", color=pal.text),))
    if formulas:
        row(arrow, pal.message, "backward message as a formula;")
        rows.append((Span(f"    ḡ = ∂{L}/∂(the value the edge enters)", color=pal.text),))
        row("ᵀ ⊙ ⊘", pal.text, "transpose; elementwise × and ÷")
        row("u vᵀ", pal.text, "1-d arrays are columns (outer product)")
        row("Σ₀", pal.text, "sum over axis 0 (broadcasting undone)")
        if scatter:
            row("ḡ → [i]", pal.text, "ḡ put back where the op read,")
            rows.append((Span("    0 elsewhere; entries read twice add", color=pal.text),))
        if indicator:
            row("[z > 0]", pal.text, "1 where true, 0 elsewhere")
        if cut:
            row("…", pal.text, "more of the formula (hover, in SVG)")
        rows.append((Span("every formula was checked against the numbers", color=pal.muted_text),))
        rows.append((Span("(hover an edge in SVG for them)", color=pal.muted_text),))
    return SceneNode(id="legend", classes=("legend",), lines=tuple(rows), shape="box", fill="#fafafa",
                     border="#c8c8c8", tooltip="legend", style="filled,rounded")
