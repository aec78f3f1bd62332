"""Render: Scene -> DOT source -> SVG / PDF / PNG through Graphviz's ``dot``.

Reads only the Scene (never the graph): what is drawn was decided by ``annotate``.
"""

from __future__ import annotations

import functools
import os
import re
import time
from pathlib import Path
from typing import Callable

from .. import dot as _dot
from ..dot import DEFAULT_TIMEOUT, GraphvizNotFoundError, RenderError, RenderTimeoutError
from ..files import check_output_path, write_atomic
from .scene import Cluster, Deferred, Line, Once, Scene, SceneEdge, SceneNode, Span, line_text
from .text import Verbatim, attribute_text, label_text

__all__ = ["DEFAULT_TIMEOUT", "FORMATS", "GraphvizNotFoundError", "RenderError", "RenderTimeoutError", "pipe",
           "render", "to_dot", "write_atomic"]

FORMATS = ("svg", "pdf", "png", "dot")
_RENDERERS = {"pdf": "cairo", "png": "cairo"}  # cairo embeds fonts in PDF and antialiases PNG


_ID = re.compile(r"(?:[a-zA-Z_][a-zA-Z0-9_]*|-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?))$")
_KEYWORDS = frozenset(("node", "edge", "graph", "digraph", "subgraph", "strict"))


def _quote(text: str) -> str:
    r"""``text`` as a DOT attribute value, as the graphviz package writes it: an ID (a name or a
    number, not a keyword) as it is, anything else in double quotes, each quote escaped unless an
    odd run of backslashes already escapes it. Never an HTML string: labels are written without this.

    >>> print(_quote("n12"), _quote("#fff"), _quote('say "hi"'), _quote('an \"escaped\" one'))
    n12 "#fff" "say \"hi\"" "an \"escaped\" one"
    """
    if (text.isascii() and text.isidentifier() or _ID.match(text)) and text.lower() not in _KEYWORDS:
        return text  # (an ASCII identifier is a name _ID matches, found without the regex)
    if '"' not in text:
        return f'"{text}"'
    parts = text.split('"')
    for i, part in enumerate(parts[:-1]):
        if (len(part) - len(part.rstrip("\\"))) % 2 == 0:
            parts[i] = part + "\\"
    return '"' + '"'.join(parts) + '"'


_quote_short = functools.lru_cache(maxsize=4096)(_quote)  # colours, styles, classes: few, repeated


@functools.lru_cache(maxsize=1024)  # a few styles, shared by many spans
def _style(color: str | None, bold: bool, italic: bool, size: float | None, default_size: float,
           align: str | None = None) -> tuple[str, str]:
    """The tags before and after a span's text in this style (with ``align``: and those of a row
    that is this span alone)."""
    start, end = ("<I><B>", "</B></I>") if bold and italic else ("<B>", "</B>") if bold else \
        ("<I>", "</I>") if italic else ("", "")
    if size and size != default_size:
        start, end = (f'<FONT COLOR="{color}" POINT-SIZE="{size:g}">' if color else
                      f'<FONT POINT-SIZE="{size:g}">') + start, end + "</FONT>"
    elif color:
        start, end = f'<FONT COLOR="{color}">' + start, end + "</FONT>"
    return (start, end) if align is None else (f'<TR><TD ALIGN="{align}">' + start, end + "</TD></TR>")


def _span(span: Span, default_size: float) -> str:
    text, color, bold, italic, size = span
    start, end = _style(color, bold, italic, size, default_size)
    return start + label_text(text) + end


_REMEMBERED = 4096  # rows kept for reuse, at most (a small table stays in the CPU's caches)
# Rows written, for each size and alignment, by the id of their line, each with its line (kept alive
# by the table, so that no other line takes its id meanwhile). Annotate shares the lines that recur
# from layer to layer and from drawing to drawing: each is written once; the ones seen once are
# forgotten now and then (the ones that recur come back at once). A line marked ``Once`` (a value's
# numbers, made for one drawing) is written each time, not kept: it would not come back.
_ROWS: dict[tuple[float, str], dict[int, tuple[Line, str]]] = {}
_TABLE = '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'


def _label(lines: tuple[Line, ...], default_size: float, align: str = "CENTER") -> str:
    """An HTML-like label of ``lines``, one row each."""
    rows = _ROWS.get((default_size, align))
    if rows is None or len(rows) > _REMEMBERED:
        rows = _ROWS[default_size, align] = {}
    body = "".join([_row(line, default_size, align) if type(line) is Once else
                    (rows.get(id(line)) or _kept(line, default_size, align, rows))[1] for line in lines])
    return f"{_TABLE}{body}</TABLE>>"


def _kept(line: Line, default_size: float, align: str, rows: dict[int, tuple[Line, str]]) -> tuple[Line, str]:
    """``_row(line)``, kept in ``rows`` by the line's id (with the line: its id is not reused meanwhile)."""
    entry = rows[id(line)] = (line, _row(line, default_size, align))
    return entry


def _row(line: Line, default_size: float, align: str) -> str:
    if len(line) == 1:  # most rows: one span, its tags and the row's from one table
        text, color, bold, italic, size = line[0]
        start, end = _style(color, bold, italic, size, default_size, align)
        return start + label_text(text) + end
    return f'<TR><TD ALIGN="{align}">{"".join([_span(span, default_size) for span in line])}</TD></TR>'


def _plain(s: object) -> str:
    """An ordinary attribute such as a tooltip (made now, if it was deferred), shown literally, quoted.
    (``attribute_text`` writes every backslash four times, so every quote follows an even run of
    them and ``_quote`` escapes each: a replace does the same. Both change characters one by one, so
    the parts of a deferred text are escaped one by one; a ``Verbatim`` part needs nothing.)"""
    if isinstance(s, Deferred):
        text = "".join([p if type(p) is Verbatim else _escaped(p) for p in s.parts()])
    else:
        text = _escaped(str(s))
    if _ID.match(text) and text.lower() not in _KEYWORDS:
        return text
    return f'"{text}"'


@functools.lru_cache(maxsize=4096)  # "value =", a source line: the same on every layer
def _escaped(text: str) -> str:
    """``attribute_text``, with its quotes escaped as ``_quote`` escapes them."""
    text = attribute_text(text)
    return text.replace('"', '\\"') if '"' in text else text


# Node and edge statements are written as the graphviz package writes them: the label first, then
# the other attributes sorted by name, each value quoted (``_quote``; HTML-like labels as they are).

def _node(n: SceneNode, chain: frozenset[str] = frozenset()) -> str:
    label = _label(n.lines, 11, "LEFT" if n.id == "legend" else "CENTER")
    name = _quote_short(n.id)
    head, tail = _node_style(tuple(n.classes), n.border, n.fill, n.penwidth, n.peripheries, n.shape, n.style)
    if n.id in chain:
        head += " group=chain"
    return f"\t{name} [label={label} {head} id={name}{tail} tooltip={_plain(n.tooltip)}]\n"


@functools.lru_cache(maxsize=1024)  # a few styles, shared by every node of a kind
def _node_style(classes: tuple[str, ...], border: str, fill: str, penwidth: float, peripheries: int, shape: str,
                style: str) -> tuple[str, str]:
    """A node's attributes written before its id, and those between its id and its tooltip."""
    q = _quote_short
    margin = " margin=0.02" if shape == "plaintext" else ""
    more = f" peripheries={peripheries}" if peripheries != 1 else ""
    return (f"class={q(' '.join(classes))} color={q(border)} fillcolor={q(fill)}",
            f"{margin} penwidth={q(f'{penwidth:g}')}{more} shape={q(shape)} style={q(style)}")


def _edge(e: SceneEdge, upward: frozenset[str] = frozenset()) -> str:
    tip = _plain(e.tooltip)
    src, dst = _endpoint(e.src), _endpoint(e.dst)
    if e.id in upward:
        # an edge to the next repetition, back up to where the block starts: written downwards, from
        # its head to its tail, and drawn with its arrow at the tail (dir=back), so that dot ranks it
        # as the block's own edges and places its label beside it, inside the block's frame
        src, dst, kind, end = dst, src, "label", "taillabel"
        head, tail = _edge_style(tuple(e.classes), e.color, e.penwidth, e.style, True)
    else:
        # one whose tail leads to its head is not ranked (constraint=false), and dot put such an
        # edge's label across the block's frame: an external label is placed beside it instead
        kind, end = ("xlabel" if "recurrence" in e.classes and e.src != e.dst else "label"), "headlabel"
        head, tail = _edge_style(tuple(e.classes), e.color, e.penwidth, e.style)
    if e.head:  # which operand: a mark beside the arrow's head
        head += f" {end}={_quote_short(e.head)} labelangle=35 labeldistance=1.5 labelfontcolor={_quote_short(e.color)} labelfontsize=11"
    label = f" {kind}={_label(e.lines, 9, 'LEFT')}" if e.lines else ""
    return (f"\t{src} -> {dst} [{head} id={_quote(e.id)}{label} "
            f"labeltooltip={tip} {tail} tooltip={tip}]\n")


@functools.lru_cache(maxsize=1024)
def _edge_style(classes: tuple[str, ...], color: str, penwidth: float, style: str,
                upward: bool = False) -> tuple[str, str]:
    """An edge's attributes written before its id, and those between its label tooltip and tooltip
    (``upward``: an edge to the next repetition written from its head to its tail)."""
    q = _quote_short
    more = f" class={q(' '.join(classes))}" if classes else ""
    lax = " dir=back" if upward else " constraint=false" if "recurrence" in classes else ""
    return f"arrowsize=0.7{more} color={q(color)}{lax}", f"penwidth={q(f'{penwidth:g}')} style={q(style)}"


def _upward(scene: Scene) -> frozenset[str]:
    """The edges to the next repetition that can be drawn downwards with their arrow reversed, as
    dot draws a block's own edges: each in turn, unless its tail leads to its head along the
    drawing's other edges and those reversed before it (a value used in the next repetition by an
    op that also reads it, or a value made from it, in this one; two states that feed each other),
    which would close a cycle. A node's edge to itself is one of them. Only edges within a frame are
    reversed, and the search stays in the frame's nodes (nothing after a repeated block leads back
    into it): a drawing of many folded loops is searched loop by loop."""
    back = [e for e in scene.edges if "recurrence" in e.classes]
    if not back or not scene.clusters:
        return frozenset()
    parent = {c.id: c.parent for c in scene.clusters}
    home = {n.id: n.group for n in scene.nodes}
    below: dict[str, list[str]] = {}
    for e in scene.edges:
        if "recurrence" not in e.classes:
            below.setdefault(e.src.partition(":")[0], []).append(e.dst.partition(":")[0])
    inside: dict[str, set[str | None]] = {}  # the frames in each frame (itself too), made when asked
    upward = []
    for e in back:
        tail, head = e.src.partition(":")[0], e.dst.partition(":")[0]
        if tail == head:
            upward.append(e.id)
            continue
        frame = _around_both(home.get(tail), home.get(head), parent)
        if frame is None:
            continue
        frames = inside.get(frame)
        if frames is None:
            frames = inside[frame] = {c for c in parent if _within(c, frame, parent)}
        seen, todo = {tail}, [tail]
        while todo and head not in seen:
            for n in below.get(todo.pop(), ()):
                if n not in seen and home.get(n) in frames:
                    seen.add(n)
                    todo.append(n)
        if head not in seen:
            upward.append(e.id)
            below.setdefault(head, []).append(tail)  # ranked from now on: head above tail
    return frozenset(upward)


def _around_both(a: str | None, b: str | None, parent: dict[str, str | None]) -> str | None:
    """The innermost frame around both frames ``a`` and ``b`` (None: none)."""
    around = set()
    while a is not None:
        around.add(a)
        a = parent.get(a)
    while b is not None and b not in around:
        b = parent.get(b)
    return b


def _within(c: str | None, frame: str, parent: dict[str, str | None]) -> bool:
    while c is not None:
        if c == frame:
            return True
        c = parent.get(c)
    return False


@functools.lru_cache(maxsize=4096)  # a node's id is the end of all its edges
def _endpoint(name: str) -> str:
    """An edge's end as the graphviz package writes it: ``node[:port[:compass]]``, each part quoted."""
    node, _, rest = name.partition(":")
    if not rest:
        return _quote(node)
    port, _, compass = rest.partition(":")
    return ":".join([_quote(node), _quote(port)] + ([compass] if compass else []))




LIMITED = 300  # nodes drawn: past this many, dot's searches are bounded and edges are drawn straight.
# Ranking's network simplex stops after 2 × nodes iterations (nslimit1), placing's after 0.005 × the
# nodes of its own graph (nslimit), crossing minimisation after a fifth of its passes (mclimit), and
# edges are straight lines: HIPS autograd's RNN drawn whole over 100 steps (1,904 nodes, its weights
# fanning out to every step) took 16 s in crossing minimisation, 34 s placing and over 5 minutes
# routing splines; bounded, 5.6 s in all. A deep net's chain stays as straight; a small drawing keeps
# the full search and curved edges, which are tidier.
_BOUNDED = (("mclimit", "0.2"), ("nslimit", "0.005"), ("nslimit1", "2"), ("splines", "line"))
PLACED = 150  # nodes drawn: past this many, placing's network simplex stops after as many iterations as
# its graph has nodes (nslimit=1). HIPS autograd's neural_net.py drawn whole at 30 layers (225 nodes)
# took 10.6 s there (29,601 iterations over 13,268 nodes), 1 s bounded; the gallery's drawings, all
# smaller, are laid out the same either way except three, so small drawings keep the full search
_PLACED = (("nslimit", "1"),)
SPANNED = 40  # nodes drawn: from this many on, a drawing whose edges span many ranks is bounded too
LONG = 2000  # ranks spanned past their first by all edges (dot's virtual nodes): past this, bounded.
# A 30-step RNN drawn whole (156 nodes), its weights fanning out to every step, spans 2,640: dot
# took 12 s routing its splines (50 steps: 85 s), 0.14 s bounded; 25 steps (1,825) took 1.2 s. 28
# steps each reading three shared weights (117 nodes, 4,536) took 10 s, 0.09 s bounded


def to_dot(scene: Scene) -> str:
    """The DOT source of ``scene``: deterministic, ready for ``dot``. Written line by line as the
    graphviz package writes it (a ``Digraph``'s source), without building one."""
    # the main chain's ops in one DOT group: the chain stays straight, weights and biases go to its sides
    # (without it a deep net drifts sideways layer after layer: a 20-layer MLP drawn whole was 31 in wide)
    chain = scene.chain
    size = len(scene.nodes)
    bounded = size > LIMITED or (size >= SPANNED and _spanned(scene) > LONG)
    out = [_header(scene.background, scene.text_color, scene.font, scene.direction,
                   _BOUNDED if bounded else _PLACED if size > PLACED else ())]
    _nodes(out, scene, chain)
    upward = _upward(scene)
    out += [_edge(e, upward) for e in scene.edges]
    if scene.legend is not None:  # on the last rank, beside the output
        out += ["\tsubgraph legend_rank {\n", "\t\trank=sink\n", "\t" + _node(scene.legend), "\t}\n"]
    out.append("}\n")
    return "".join(out)


def _spanned(scene: Scene) -> int:
    """How many ranks the edges of ``scene`` span past their first, in all: the virtual nodes dot
    makes to route long edges (a weight used at every step of a loop, from the top), whose splines
    it routes past every frame on the way (see ``_ranks_spanned``)."""
    return _ranks_spanned([n.id for n in scene.nodes], [(e.src, e.dst) for e in scene.edges])


_EDGE = re.compile(r"^\t+(\w+) -> (\w+) \[", re.M)


def _spanned_source(source: str) -> int:
    """``_spanned`` of the drawing ``to_dot`` wrote as ``source`` (an edge drawn back up is written
    from its head: no cycle)."""
    pairs = _EDGE.findall(source)
    return _ranks_spanned(list(dict.fromkeys(i for pair in pairs for i in pair)), pairs)


def _ranks_spanned(ids: list[str], pairs: list[tuple[str, str]]) -> int:
    """The ranks the edges ``pairs`` between the nodes ``ids`` span past their first, in all. Ranks
    by the longest path from the sources, each source then placed just above its first use, as
    dot's ranking places an input."""
    succ: dict[str, list[str]] = {i: [] for i in ids}
    into = dict.fromkeys(succ, 0)
    for a, b in pairs:
        if a != b and a in succ and b in succ:
            succ[a].append(b)
            into[b] += 1
    rank = dict.fromkeys(succ, 0)
    sources = [i for i, k in into.items() if k == 0]
    order, left = list(sources), dict(into)
    for u in order:  # (a cycle, an edge drawn back up: its nodes keep rank 0)
        for v in succ[u]:
            if rank[u] + 1 > rank[v]:
                rank[v] = rank[u] + 1
            left[v] -= 1
            if left[v] == 0:
                order.append(v)
    for u in sources:
        if succ[u]:
            rank[u] = min(rank[v] for v in succ[u]) - 1
    return sum(max(0, rank[v] - rank[u] - 1) for u, vs in succ.items() for v in vs)


@functools.lru_cache(maxsize=64)  # the same few, drawing after drawing
def _header(background: str, color: str, font: str, direction: str, limits: tuple[tuple[str, str], ...] = ()) -> str:
    """The first lines: the graph's defaults for itself, its nodes and its edges (``limits``: on
    dot's searches, see ``LIMITED`` and ``PLACED``)."""
    bounds = dict(limits)
    return "".join([
        "digraph backprop {\n",
        f"\tgraph [{_attributes(bgcolor=background, fontcolor=color, fontname=font, nodesep='0.35', pad='0.2', rankdir=direction, ranksep='0.45', **bounds)}]\n",
        f"\tnode [{_attributes(fontcolor=color, fontname=font, fontsize='11', margin='0.08,0.04')}]\n",
        f"\tedge [{_attributes(fontcolor=color, fontname=font, fontsize='9')}]\n"])


_HTML = re.compile(r"<.*>$", re.DOTALL)


def _attributes(**values: str) -> str:
    """``name=value ...`` sorted by name, each value quoted (an HTML-like label as it is)."""
    return " ".join(f"{k}={v if _HTML.match(v) else _quote(v)}" for k, v in sorted(values.items()))


def _nodes(out: list[str], scene: Scene, chain: frozenset[str]) -> None:
    """The nodes, each inside its cluster (a ``cluster_`` subgraph, nested as the clusters are)."""
    members: dict[str | None, list[SceneNode]] = {None: []}
    inner: dict[str | None, list[Cluster]] = {None: []}
    for c in scene.clusters:
        members[c.id], inner[c.id] = [], []
    for c in scene.clusters:
        if c.parent not in inner:
            raise ValueError(f"cluster {c.id!r} is inside {c.parent!r}, which is not a cluster of the scene")
        inner[c.parent].append(c)
    for n in scene.nodes:
        if n.group not in members:
            raise ValueError(f"node {n.id!r} is in {n.group!r}, which is not a cluster of the scene")
        members[n.group].append(n)

    drawn: list[Cluster] = []
    _emit(out, "", None, members, inner, drawn, chain)
    if len(drawn) != len(scene.clusters):
        raise ValueError("the scene's clusters are nested in a cycle")


def _emit(out: list[str], indent: str, key: str | None, members: dict[str | None, list[SceneNode]],
          inner: dict[str | None, list[Cluster]], drawn: list[Cluster], chain: frozenset[str]) -> None:
    """The nodes of cluster ``key`` (None: the graph itself), then its clusters, each a subgraph,
    indented one more tab for each level. (A function of the module, not a closure: a closure
    calling itself would be a reference cycle, keeping every node of the scene until the cycle
    collector runs.)"""
    if indent:
        out += [indent + _node(n, chain) for n in members[key]]
    else:
        out += [_node(n, chain) for n in members[key]]
    for c in inner[key]:
        drawn.append(c)
        name = _quote(f"cluster_{c.id}")
        head, tail = _frame_style(c.classes)
        # as _attributes writes them: sorted by name
        label = '""' if _titled(c) or not c.lines else _label(c.lines, 11)
        out += [f"{indent}\tsubgraph {name} {{\n", f"{indent}\t\t{head} id={name} label={label} {tail}\n"]
        if _titled(c):
            title = _quote(f"title_{c.id}")
            held = _held(c.id, members, inner)
            spine = [i for i in held if i in chain]
            anchor = min(spine, key=_made) if spine else held[0] if held else None
            tip = _plain("\n".join(line_text(line) for line in c.lines))  # (hovered: not the id title_s2)
            out.append(f"{indent}\t\t{title} [label={_label(c.lines, 11, 'LEFT')} class=\"frame-title\" "
                       f"id={title} margin=0 shape=plaintext tooltip={tip}]\n")
            # drawn over the first made of the main chain's nodes in the frame (else its first node),
            # above the frame's own nodes and the titles of the folded frames in it (weight 0: they do
            # not pull it aside; edges to every node of the frames inside, or a pull toward a weight
            # drawn at the frame's side, made a GPT's frame a third again as wide); written as edges
            # to sets, which _spanned_source does not count among the drawing's edges
            if anchor is not None:
                out.append(f"{indent}\t\t{title} -> {{{_quote(anchor)}}} [style=invis]\n")
            rest = [_quote(n.id) for n in members[c.id] if n.id != anchor] + \
                [_quote(f"title_{k.id}") for k in inner[c.id] if _titled(k)]
            if rest:
                out.append(f"{indent}\t\t{title} -> {{{' '.join(rest)}}} [style=invis weight=0]\n")
        _emit(out, indent + "\t", c.id, members, inner, drawn, chain)
        out.append(f"{indent}\t}}\n")


def _titled(c: Cluster) -> bool:
    """Whether a frame's title is drawn as a node at its top, not as its label: a folded block's
    (its title and strip of message norms), which dot would let the edges that enter the frame
    cross (an edge is routed around nodes only). Drawn above what the frame holds, it makes the
    drawing a little taller; other frames' titles, a line of grey, stay labels (as nodes, their
    frames were drawn in a staircase, 30 % wider)."""
    return bool(c.lines) and "folded" in c.classes


def _made(node_id: str) -> int:
    """When a drawn node's value was made: its index in the graph (``n12``); a box's, after all."""
    return int(node_id[1:]) if node_id[1:].isdigit() else 1 << 62


def _held(key: str, members: dict[str | None, list[SceneNode]], inner: dict[str | None, list[Cluster]]) -> list[str]:
    """The ids of the nodes of cluster ``key`` and of the clusters inside it, in the scene's order."""
    ids = [n.id for n in members[key]]
    for c in inner[key]:
        ids += _held(c.id, members, inner)
    return ids


@functools.lru_cache(maxsize=256)  # a few kinds of frame
def _frame_style(classes: tuple[str, ...]) -> tuple[str, str]:
    """A frame's attributes written before its id, and those after its label. (A folded block's
    frame keeps 28 pt around what it holds, not dot's 8: dot leaves edge labels out of a frame's
    bounds, and the label beside an edge to the next repetition crossed it by up to 16 pt.)"""
    folded = "folded" in classes
    more = f"class={_quote(' '.join(classes))} " if classes else ""
    return (f"{more}color={_quote('#7c3aed' if folded else '#c8c8c8')} "
            f"fillcolor={_quote('#faf7ff' if folded else 'white')}",
            f"labeljust=l{' margin=28' if folded else ''} penwidth={'1.5' if folded else '1'} style={_quote('rounded,filled' if folded else 'rounded')}")


def pipe(source: str, fmt: str, *, timeout: float | None = DEFAULT_TIMEOUT,
         progress: Callable[[str], None] | None = None) -> bytes:
    """Run ``dot`` on ``source`` and return the output in ``fmt`` (svg, pdf, png; dot returns the source).

    ``timeout``: seconds dot may take (None or 0: no limit), else RenderTimeoutError. ``progress``
    hears about the layout of a big graph (see ``graphviz_bp.dot.run``).
    """
    fmt = _check_format(fmt)
    if fmt == "dot":
        return source.encode("utf-8")
    spanned = _spanned_source(source)
    if spanned > TOO_LONG:
        raise RenderError(
            f"the drawing's edges span {spanned:,} ranks (a value read by every one of many layers or steps, drawn "
            f"whole): Graphviz would take about {spanned * 7e-6:.0f} GB of memory and many minutes to lay it out; "
            "draw it folded (the default) or with its groups collapsed to a depth, or write its DOT and run dot on "
            "it yourself")
    run = functools.partial(_dot.run, fmt=fmt, renderer=_RENDERERS.get(fmt), timeout=timeout, progress=progress,
                            size_hint=_size(source), spanned=spanned)
    # the main chain grouped among frames: dot usually lays it out in well under a second, but takes
    # minutes on some (60 loop iterations drawn whole, one weight read by each): past HINTED seconds
    # it lays out again without the group, which takes it a fraction of a second there
    hinted = " group=chain" in source and "\tsubgraph cluster_" in source and (not timeout or timeout > HINTED)
    heard: list[str] = []  # what the first try said (its messages name the whole time limit; the
    begun = time.monotonic()  # second's go on from there, not starting again)
    told = (lambda message: heard.append(message) or progress(message)) if progress is not None else None
    try:
        data = run(source.encode("utf-8"), timeout=HINTED, said=timeout, progress=told) if hinted else \
            run(source.encode("utf-8"))
    except RenderTimeoutError:
        if not hinted:
            raise
        data = run(source.replace(" group=chain", "").encode("utf-8"), timeout=timeout - HINTED if timeout else None,
                   said=timeout, begun=begun, told=bool(heard))
    except RenderError as exc:
        plain = _plainer(source) if _LAYOUT_BUG.search(str(exc)) else None
        if plain is None:
            raise
        try:  # Graphviz 2.43's ranking fails on some graphs with frames: lay out without its hints
            data = run(plain.encode("utf-8"))
        except RenderError:
            raise exc from None
    return _reproducible_pdf(data) if fmt == "pdf" else _dot.fit_svg_text(_spaces_kept(data)) if fmt == "svg" else data


def _spaces_kept(svg: bytes) -> bytes:
    """dot's SVG with ``xml:space="preserve"``: dot writes each run of a label's text as a text of its
    own, placed where dot measured it, and librsvg drops spaces at either end of each, no-break ones
    too (``label_text`` writes those, which browsers keep), unless told to keep them."""
    return svg.replace(b"<svg ", b'<svg xml:space="preserve" ', 1) if b"<svg xml:space" not in svg else svg


HINTED = 10.0  # seconds for a layout with the main chain grouped among frames, before one without
TOO_LONG = 1_000_000  # ranks spanned past their first (dot's virtual nodes): past this, no layout is tried.
# dot takes about 7 kB and 0.17 ms per rank spanned: a 400-layer net drawn whole, one stacked weight read
# by every layer (479,200), took 79 s and 3.2 GB; 1,000 layers (3 million) passed 19 GB

# dot's own failures in laying out a valid graph: an assertion in its ranking with clusters, or a crash
_LAYOUT_BUG = re.compile(r"trouble in init_rank|killed by SIG|Assertion|assertion")


def _plainer(source: str) -> str | None:
    """``source`` (as ``to_dot`` writes it) laid out more simply: one global ranking across frames
    (``newrank``), no group for the main chain, every edge ranked; None if it already is."""
    if "\tgraph [newrank=true " in source:
        return None
    return source.replace("\tgraph [", "\tgraph [newrank=true ", 1).replace(" group=chain", "") \
        .replace(" constraint=false", "")


_STATEMENT = re.compile(r"^\t(?!(?:graph|node|edge) \[)(?:\w+ -> \w+|\w+) \[", re.M)


def _size(source: str) -> int:
    """Nodes plus edges in DOT written by ``to_dot`` (one statement per line, each starting with a tab)."""
    return len(_STATEMENT.findall(source))


_PDF_DATE = re.compile(rb"/CreationDate \(D:(\d{14})")


def _reproducible_pdf(data: bytes) -> bytes:
    """Honour SOURCE_DATE_EPOCH (reproducible builds): cairo stamps the PDF with the current time."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch or not epoch.isdigit():
        return data
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(int(epoch))).encode()
    return _PDF_DATE.sub(lambda m: b"/CreationDate (D:" + stamp, data, count=1)


def render(source: str, path: str | os.PathLike[str], fmt: str | None = None, *,
           timeout: float | None = DEFAULT_TIMEOUT, progress: Callable[[str], None] | None = None) -> Path:
    """Write ``source`` rendered to ``path`` (format from its suffix unless ``fmt``); return ``path``.

    The path is checked before dot runs, and written (atomically) only once dot's output is checked.
    """
    path = Path(path)
    fmt = _check_format(fmt or path.suffix.lstrip(".") or "", path)
    check_output_path(path)
    return write_atomic(path, pipe(source, fmt, timeout=timeout, progress=progress))


def _check_format(fmt: str, path: Path | None = None) -> str:
    f = fmt.lower()
    if f not in FORMATS:
        what = f"the suffix of {str(path)!r}" if path is not None and fmt else f"format {fmt!r}"
        raise ValueError(f"cannot tell the output format from {what}; use one of "
                         f"{', '.join('.' + x for x in FORMATS)}")
    return f
