"""Annotate: turn a differentiated DAG into a Scene, a plain description of what to draw.

Everything a reader sees is decided here (texts, number formatting, colours, which edges are
highlighted); ``render`` only turns the Scene into DOT. No Graphviz here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .backward import contributions
from .graph import DAG, Edge, Node, count_text

__all__ = ["DrawOptions", "Line", "Scene", "SceneEdge", "SceneNode", "Span", "annotate",
           "format_number", "format_shape", "summarize"]

DIRECTIONS = {"LR": "LR", "TB": "TB", "left-right": "LR", "top-bottom": "TB", "RL": "RL", "BT": "BT"}
DETAILS = ("structure", "shapes", "values")
THEMES = ("color", "grey")


@dataclass(frozen=True)
class DrawOptions:
    """How to draw. ``data`` names inputs that are data rather than parameters: drawn muted, with no
    gradient shown for them."""

    direction: str = "TB"
    detail: str = "values"
    theme: str = "color"
    data: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}; got {self.direction!r}")
        object.__setattr__(self, "direction", DIRECTIONS[self.direction])
        if self.detail not in DETAILS:
            raise ValueError(f"detail must be one of {', '.join(DETAILS)}; got {self.detail!r}")
        if self.theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)}; got {self.theme!r}")
        data = (self.data,) if isinstance(self.data, str) else tuple(self.data)
        object.__setattr__(self, "data", data)

    @property
    def shows_shapes(self) -> bool:
        return self.detail in ("shapes", "values")

    @property
    def shows_values(self) -> bool:
        return self.detail == "values"


# ------------------------------------------------------------------------------------------------
# Scene: plain data. Texts are unescaped user-visible strings; render escapes them.

@dataclass(frozen=True)
class Span:
    """A run of text in one style."""

    text: str
    color: str | None = None
    bold: bool = False
    italic: bool = False
    size: float | None = None


Line = tuple[Span, ...]


@dataclass(frozen=True)
class SceneNode:
    id: str
    classes: tuple[str, ...]
    lines: tuple[Line, ...]
    shape: str
    fill: str
    border: str
    tooltip: str
    style: str = "filled"
    peripheries: int = 1
    penwidth: float = 1.0


@dataclass(frozen=True)
class SceneEdge:
    id: str
    src: str
    dst: str
    classes: tuple[str, ...]
    lines: tuple[Line, ...]
    color: str
    tooltip: str
    style: str = "solid"
    penwidth: float = 1.2


@dataclass(frozen=True)
class Scene:
    nodes: tuple[SceneNode, ...]
    edges: tuple[SceneEdge, ...]
    legend: SceneNode | None
    direction: str
    font: str
    background: str
    text_color: str


# ------------------------------------------------------------------------------------------------
# Number and shape formatting

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


_VISIBLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(c: str) -> str:
    o = ord(c)
    return _VISIBLE.get(c) or (f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")


def visible(text: str) -> str:
    r"""``text`` with unprintable characters written as escapes, so a name shows as it was typed.

    >>> print(visible("a\nb\x1f c"))
    a\nb\x1f c
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


NAME_LENGTH = 40  # characters of a name drawn in a label; the tooltip has the whole name
TOOLTIP_NAME = 1000  # ... up to this many characters


TOOLTIP_LIMIT = 15000  # dot refuses a quoted string longer than 16,384 characters, once escaped


def tooltip(lines: Sequence[str]) -> str:
    r"""Tooltip text from ``lines``, cut short with ``…`` when escaping it for DOT (``\`` four
    times, ``&`` as ``&amp;``, ``"`` as ``\"``) could take it past what dot accepts.

    >>> len(tooltip(["\\" * 10000])) < 4000, tooltip(["a", "b"])
    (True, 'a\nb')
    """
    text = "\n".join(lines)
    while True:
        size = len(text) + 3 * text.count("\\") + 4 * text.count("&") + text.count('"')
        if size <= TOOLTIP_LIMIT:
            return text
        text = text[: len(text) * TOOLTIP_LIMIT // size - 2] + "\n…"


def shown(node: Node) -> str:
    """A node's name as displayed: visible, and shortened with … past ``NAME_LENGTH`` characters
    (dot refuses a label longer than 16,384 characters).

    >>> from graphviz_bp.graph import Node
    >>> shown(Node("input", np.zeros(1), name="x" * 100))[-3:], len(shown(Node("input", np.zeros(1), name="x" * 100)))
    ('xx…', 40)
    """
    text = visible(node.name)
    return text if len(text) <= NAME_LENGTH else text[:NAME_LENGTH - 1] + "…"


def subscript(k: int) -> str:
    """``k`` in subscript digits.

    >>> subscript(12)
    '₁₂'
    """
    return str(k).translate(_SUBSCRIPTS)


def format_shape(shape: Sequence[int]) -> str:
    """A shape as a reader writes it.

    >>> format_shape((3, 5)), format_shape((5,)), format_shape(())
    ('3×5', '5', 'scalar')
    """
    return "×".join(str(d) for d in shape) if len(shape) else "scalar"


_SUPERSCRIPT = str.maketrans("0123456789×", "⁰¹²³⁴⁵⁶⁷⁸⁹ˣ")


def space_of(shape: Sequence[int]) -> str:
    """A shape as the space its value lives in, in Unicode superscripts (the same glyphs in every
    renderer, unlike raised text).

    >>> space_of((3, 5)), space_of((64,)), space_of(())
    ('ℝ³ˣ⁵', 'ℝ⁶⁴', 'ℝ')
    """
    return "ℝ" + format_shape(shape).translate(_SUPERSCRIPT) if len(shape) else "ℝ"


def format_number(x: float) -> str:
    """Three significant digits, a true minus sign, no trailing noise.

    >>> format_number(-0.000123456), format_number(2.0), format_number(1234567.0)
    ('−0.000123', '2', '1.23e+06')
    """
    x = complex(x)
    if x.imag:
        return f"{format_number(x.real)}{'+' if x.imag >= 0 else '−'}{format_number(abs(x.imag))}j"
    v = x.real
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "∞" if v > 0 else "−∞"
    return f"{v:.3g}".replace("-", "−")


WRAP = 26  # characters: longer summaries go on two lines, which keeps nodes and labels narrow


def summary_lines(value: np.ndarray) -> list[str]:
    """A value in one or two short lines: its numbers when there are few (up to 5 in a vector, 4 in
    a matrix), else its norm and range.

    >>> summary_lines(np.array([-0.732, -0.544, -0.316, 0.412, 1.04]))
    ['[−0.732, −0.544, −0.316,', '0.412, 1.04]']
    >>> summary_lines(np.array([7.97e-10, 7.97e-10, 7.97e-10]))
    ['[7.97e−10, 7.97e−10,', '7.97e−10]']
    >>> summary_lines(np.arange(12.0).reshape(3, 4))
    ['norm 22.5,', 'range [0, 11]']
    """
    a = np.asarray(value)
    if a.size == 0:
        return ["[]"]
    if a.ndim == 0:
        return [format_number(a[()])]
    if a.size <= (5 if a.ndim == 1 else 4):
        text = _nested(a.tolist())
        if len(text) <= WRAP:
            return [text]
        if a.ndim == 1:
            items = [format_number(v) for v in a.tolist()]
            half = (len(items) + 1) // 2  # never a line with just "]"
            return ["[" + ", ".join(items[:half]) + ",", ", ".join(items[half:]) + "]"]
        rows = [_nested(r) for r in a.reshape(a.shape[0], -1).tolist()] if a.ndim == 2 else [text]
        return ["[" + rows[0] + ","] + [r + "," for r in rows[1:-1]] + [rows[-1] + "]"] if len(rows) > 1 else rows
    if a.dtype.kind in "biuf" and not a.any():
        return ["all 0"]
    if a.dtype.kind == "c":
        return [f"complex, norm {format_number(float(np.linalg.norm(a)))}"]
    flat = a.astype(float, copy=False)
    if not np.isfinite(flat).all():
        return [f"{np.isnan(flat).sum()} nan, {np.isinf(flat).sum()} ∞ of {flat.size}"]
    return [f"norm {format_number(float(np.linalg.norm(flat)))},",
            f"range [{format_number(float(flat.min()))}, {format_number(float(flat.max()))}]"]


def summarize(value: np.ndarray) -> str:
    """``summary_lines`` on one line.

    >>> summarize(np.float64(0.5)), summarize(np.array([1.0, -2.0]))
    ('0.5', '[1, −2]')
    >>> summarize(np.array([[1.0, 2.0], [3.0, 4.0]]))
    '[[1, 2], [3, 4]]'
    >>> summarize(np.arange(12.0).reshape(3, 4))
    'norm 22.5, range [0, 11]'
    >>> summarize(np.zeros((3, 3)))
    'all 0'
    """
    return " ".join(summary_lines(value))


def _nested(x: object) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_nested(v) for v in x) + "]"
    return format_number(x)  # type: ignore[arg-type]


def full_text(value: np.ndarray) -> str:
    """The whole value, for a tooltip (very large arrays are elided by NumPy's own summariser)."""
    return np.array2string(np.asarray(value), precision=4, suppress_small=True, max_line_width=100,
                           threshold=400)


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


# ------------------------------------------------------------------------------------------------
# The scene

def _display_symbol(node: Node) -> str:
    """The op's symbol, specialised where a textbook would write it differently."""
    op = node.op
    assert op is not None
    if op.name == "power":
        exp = node.in_edges[1].src
        k = float(exp.value) if exp.kind == "const" and exp.shape == () and exp.dtype.kind in "biuf" else None
        if k is not None and k.is_integer() and 0 <= k < 10:
            return "(·)" + str(int(k)).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
        return "(·)^(·)"
    if op.name == "sum" and node.params.get("axis") is not None:
        return f"Σ axis {node.params['axis']}"
    if op.name == "mean" and node.params.get("axis") is not None:
        return f"mean axis {node.params['axis']}"
    if op.name == "transpose" and node.params.get("axes") is not None:
        return f"(·)ᵀ axes {tuple(node.params['axes'])}"
    if op.name == "index" and node.params.get("text"):
        return node.params["text"]
    if op.name in ("einsum",) and node.params.get("subscripts"):
        return f"einsum {node.params['subscripts']}"
    if op.name == "reshape":
        return f"reshape {format_shape(node.params['shape'])}"
    return op.symbol


def _output_name(dag: DAG) -> str:
    out = dag.output
    return shown(out) if out.user_named or out.kind == "input" else "L"


TITLE, SMALL, EDGE = 14, 10, 9  # point sizes: a node's symbol or name, its details, edge labels


def annotate(dag: DAG, options: DrawOptions | None = None) -> Scene:
    """The Scene for ``dag`` (already differentiated) under ``options``. Values that overflow or
    are not finite are drawn as they are (∞, nan), without NumPy's warnings."""
    with np.errstate(all="ignore"):
        return _annotate(dag, options or DrawOptions())


def _annotate(dag: DAG, opts: DrawOptions) -> Scene:
    unknown = [d for d in opts.data if d not in dag.inputs]
    if unknown:
        raise ValueError(f"data={unknown!r} names no input; inputs are {', '.join(dag.inputs)}")
    pal = COLOR if opts.theme == "color" else GREY
    L = _output_name(dag)
    arrow = {"LR": "◀", "RL": "▶", "TB": "▲", "BT": "▼"}[opts.direction]
    # Values that depend on some parameter carry gradient emphasis; the rest (data, constants, and
    # what is computed from them only) are drawn muted, without messages.
    live: set[Node] = set()
    for n in dag.inputs.values():
        if n.differentiable and n.name not in opts.data:
            live |= dag.descendants(n)

    # Messages on the edges out of a shared value are numbered m₁, m₂, ... in edge order, each in
    # its own colour; the node then shows their sum.
    edge_tag: dict[Edge, tuple[str, str, str]] = {}
    for n in dag.nodes:
        if n.is_shared and n in live:
            for k, e in enumerate(n.out_edges):
                edge_tag[e] = (f"m{subscript(k + 1)}", pal.fanout[k % len(pal.fanout)],
                               pal.fanout_styles[k % len(pal.fanout_styles)])

    nodes = tuple(_scene_node(n, dag, opts, pal, live, L, edge_tag) for n in dag.nodes)
    edges = tuple(_scene_edge(e, opts, pal, live, L, arrow, edge_tag) for e in dag.edges)
    legend = _legend(dag, opts, pal, arrow, live) if opts.detail != "structure" or dag.shared_nodes() else None
    return Scene(nodes=nodes, edges=edges, legend=legend, direction=opts.direction,
                 font="DejaVu Sans", background=pal.background, text_color=pal.text)


MAX_TERMS = 8  # messages written out in a shared node's sum


def _gradient_lines(n: Node, opts: DrawOptions, pal: Palette, L: str,
                    edge_tag: dict[Edge, tuple[str, str, str]]) -> list[Line]:
    """∂L/∂v, written as the sum of its messages at a shared node, with its value."""
    lines: list[Line] = []
    head = Span(f"∂{L}/∂{shown(n)}", color=pal.text, bold=True)
    if n.is_shared:
        terms: list[Span] = [head, Span(" = ")]
        tagged = [edge_tag[e] for e in n.out_edges if e.message is not None]
        if len(tagged) > MAX_TERMS:  # m₁ + m₂ + … + m₉₉: the label stays short
            tagged = tagged[:MAX_TERMS - 1] + [("…", pal.text, "")] + tagged[-1:]
        for tag, color, _ in tagged:
            if len(terms) > 2:
                terms.append(Span(" + "))
            terms.append(Span(tag, color=color, bold=True))
        lines.append(tuple(terms))
        if opts.shows_values and n.adjoint is not None:
            lines += _value_lines(n.adjoint, pal.message, SMALL, prefix="= ")
    elif opts.shows_values and n.adjoint is not None:  # the value under its name, as at shared nodes
        lines.append((head, Span(" =", color=pal.text)))
        lines += _value_lines(n.adjoint, pal.message, SMALL)
    return lines


def _value_lines(value: np.ndarray, color: str, size: float, prefix: str = "") -> list[Line]:
    parts = summary_lines(value)
    return [(Span((prefix if i == 0 else "") + p, color=color, size=size),) for i, p in enumerate(parts)]


PATHS_IN_TOOLTIP = 16


def _path_tips(dag: DAG, n: Node) -> list[str]:
    """For a shared input: what each path to the output contributes (they sum to its gradient)."""
    count = dag.count_paths(n)
    if count > PATHS_IN_TOOLTIP:
        return [f"{count_text(count)} paths to the output (Graph.contributions lists them)"]
    tips = [f"{count} paths to the output; their contributions sum to the gradient:"]
    for k, c in enumerate(contributions(dag, n, PATHS_IN_TOOLTIP), 1):
        route = " → ".join(shown(m) if m.user_named or m.kind == "input" else _display_symbol(m)
                           for m in c.nodes)
        tips.append(f"path {k}: {route}: {summarize(c.value)}")
    return tips


def _scene_node(n: Node, dag: DAG, opts: DrawOptions, pal: Palette, live: set[Node], L: str,
                edge_tag: dict[Edge, tuple[str, str, str]]) -> SceneNode:
    is_out = n is dag.output
    role = "output" if is_out and n.kind == "op" else n.kind
    classes = ["op", "output"] if role == "output" else [role]
    if n.kind == "input":
        classes.append("data" if n not in live else "parameter")
    if n.is_shared:
        classes.append("shared")
    lines: list[Line] = []
    tip = [f"{visible(n.name[:TOOLTIP_NAME])}: {n.kind}{' (' + n.op.name + ')' if n.op else ''}, shape "
           f"{format_shape(n.shape)}, {n.dtype}"]

    if n.kind == "const":
        text = summarize(n.value) if n.value.size <= 4 else f"const {format_shape(n.shape)}"
        lines.append((Span(text, color=pal.muted_text),))
        tip.append(full_text(n.value))
        return SceneNode(id=n.id, classes=tuple(classes), lines=tuple(lines), shape="plaintext",
                         fill="none", border=pal.const_edge, tooltip=tooltip(tip), style="solid")

    muted = n not in live
    text_color = pal.muted_text if muted else pal.text
    if n.kind == "input":
        lines.append((Span(shown(n), color=text_color, bold=True, size=TITLE),))
    else:
        lines.append((Span(_display_symbol(n), color=text_color, bold=True, size=TITLE),))
        if n.user_named or is_out:
            name = shown(n) if n.user_named else L
            lines.append((Span(name, color=text_color, italic=True),))
    if opts.shows_shapes:
        lines.append((Span(space_of(n.shape), color=pal.muted_text, size=SMALL + 1),))
    if opts.shows_values:
        lines += _value_lines(n.value, text_color, SMALL)
    tip.append("value =\n" + full_text(n.value))
    if n.adjoint is not None and not muted:
        if is_out:
            if opts.shows_values:
                lines += _value_lines(n.adjoint, pal.message, SMALL, prefix=f"∂{L}/∂{L} = ")
        elif n.kind == "input" or n.is_shared:
            lines.extend(_gradient_lines(n, opts, pal, L, edge_tag))
        tip.append(f"∂{L}/∂{shown(n)} =\n" + full_text(n.adjoint))
        if n.kind == "input" and n.is_shared:
            tip.extend(_path_tips(dag, n))
    if n.source is not None:
        tip.append(n.source.short())

    if n.kind == "input":
        fill, border = (pal.data_fill, pal.data_border) if muted else (pal.param_fill, pal.param_border)
        shape = "box"
    elif is_out:
        fill, border, shape = pal.output_fill, pal.output_border, "box"
    else:
        fill, border, shape = pal.op_fill, pal.data_border if muted else pal.op_border, "ellipse"
    if n.is_shared and not muted:
        border = pal.shared_border
    return SceneNode(
        id=n.id, classes=tuple(classes), lines=tuple(lines), shape=shape, fill=fill, border=border,
        tooltip=tooltip(tip), style="filled,rounded" if shape == "box" else "filled",
        peripheries=2 if is_out else 1, penwidth=2.0 if n.is_shared and not muted else 1.0,
    )


def _scene_edge(e: Edge, opts: DrawOptions, pal: Palette, live: set[Node], L: str, arrow: str,
                edge_tag: dict[Edge, tuple[str, str, str]]) -> SceneEdge:
    src, dst = e.src, e.dst
    classes = ["fanout"] if src.is_shared else []
    from_const = src.kind == "const"
    muted = src not in live
    if from_const:
        classes.append("const")
    tag = edge_tag.get(e)
    color, style, penwidth = pal.edge, "solid", 1.2
    if muted:
        color = pal.const_edge
    elif tag is not None:
        color, style, penwidth = tag[1], tag[2], 2.2
    lines: list[Line] = []
    if opts.shows_shapes and not from_const and src.dtype.kind in "fc":  # integer/boolean: no Jacobian
        lines.append((Span(f"J {format_shape(e.jacobian_shape)}", color=pal.jacobian, size=EDGE - 1),))
    if opts.shows_values and e.message is not None and not muted:
        name = f"{tag[0]} " if tag else ""
        msg_color = tag[1] if tag else pal.message
        first, *rest = summary_lines(e.message)
        lines.append((Span(f"{arrow} {name}", color=msg_color, bold=True, size=EDGE),
                      Span(first, color=msg_color, size=EDGE)))
        lines += [(Span(r, color=msg_color, size=EDGE),) for r in rest]
    elif opts.shows_shapes and tag is not None and not muted:
        lines.append((Span(f"{arrow} {tag[0]}", color=tag[1], bold=True, size=EDGE),))
    tip = [f"{shown(src)} → {shown(dst)} (argument {e.argnum})", f"Jacobian ∂{shown(dst)}/∂{shown(src)}: "
           f"{format_shape(e.jacobian_shape)}"]
    if e.message is not None:
        tip.append(f"message {tag[0] if tag else ''} (∂{L}/∂{shown(dst)} pulled back to {shown(src)}) =\n"
                   + full_text(e.message))
    return SceneEdge(id=f"e{src.index}_{dst.index}_{e.argnum}", src=src.id, dst=dst.id,
                     classes=tuple(classes), lines=tuple(lines), color=color, tooltip=tooltip(tip),
                     style=style, penwidth=penwidth)


def _legend(dag: DAG, opts: DrawOptions, pal: Palette, arrow: str, live: set[Node]) -> SceneNode:
    L = _output_name(dag)
    rows: list[Line] = [(Span("How to read this graph", bold=True, color=pal.text),)]

    def row(key: str, color: str, text: str, *more: Span) -> None:
        rows.append((Span(key + " ", color=color, bold=True), *more, Span(text, color=pal.text)))

    row("■", pal.param_border, f"parameter: value and gradient ∂{L}/∂·")
    if any(n not in live for n in dag.inputs.values()):
        row("■", pal.data_border, "data: no gradient shown")
    row("◯", pal.op_border, "operation: symbol and value")
    row("▣", pal.output_border, f"output {L}: the backward pass starts at 1")
    if opts.shows_shapes:
        row(space_of((3, 5)), pal.muted_text, "shape of the value")
        row("J", pal.jacobian, "shape of the local Jacobian")
    if opts.shows_values:
        row(arrow, pal.message, "backward message (a VJP),")
        rows.append((Span("    shaped like the edge's input", color=pal.text),))
    if dag.shared_nodes():
        k = max(len(n.out_edges) for n in dag.shared_nodes())
        tags = tuple(Span(f"m{subscript(i + 1)} ", color=pal.fanout[i % len(pal.fanout)], bold=True)
                     for i in range(min(k, 3)))
        rows.append(tags + (Span("one message per use of a value;", color=pal.text),))
        rows.append((Span(f"    ∂{L}/∂v is their sum", color=pal.text),))
    if opts.shows_values:
        row("norm", pal.muted_text, "of a larger array; hover (SVG)")
        rows.append((Span("    for every entry", color=pal.text),))
    return SceneNode(id="legend", classes=("legend",), lines=tuple(rows), shape="box", fill="#fafafa",
                     border="#c8c8c8", tooltip="legend", style="filled,rounded")
