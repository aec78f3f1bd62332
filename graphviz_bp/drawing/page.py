"""The interactive page and the frames for slides: the backward pass, step by step, on one layout.

``page`` wraps the drawing's SVG (laid out once by ``dot``) with the steps (``walkthrough``), a script
and a style sheet into one self-contained HTML file: nothing is fetched, it works from ``file://``.
Each label's text carries the step it appears at (``data-s``; faint from ``data-d``), so stepping only
restyles what is there and the drawing never moves. ``frame`` restyles the Scene itself for one step:
every frame has the same texts and sizes, so ``dot`` lays each one out exactly as the others.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from importlib import resources
from typing import Any

from .scene import Line, Scene, SceneEdge, SceneNode
from .walkthrough import Walk

__all__ = ["OUTPUTS", "caption", "frame", "mark_svg", "page"]

OUTPUTS = ("svg", "pdf", "png", "dot", "html")  # what a drawing is written as: Graphviz's, and the page

_OBJECT = re.compile(r'<g id="([^"]+)" class="(node|edge|cluster)[^"]*">')
_TEXT = re.compile(r"<text ([^>]*)>(.*?)</text>", re.S)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _plain(text: str) -> str:
    """A span's or an SVG text's words, compared loosely (Graphviz writes spaces as &#160;)."""
    return " ".join(html.unescape(text).replace("\xa0", " ").split())


def mark_svg(svg: str, scene: Scene, walk: Walk) -> str:
    """``svg`` (the Scene laid out by dot) with each label text marked with the step it appears at.
    Raises RuntimeError when a label's texts cannot be matched to the Scene's spans."""
    starts = list(_OBJECT.finditer(svg))
    elements: dict[str, SceneNode | SceneEdge] = {e.id: e for e in scene.edges}
    elements.update((n.id, n) for n in scene.nodes)
    out: list[str] = []
    at = 0
    for k, m in enumerate(starts):
        end = starts[k + 1].start() if k + 1 < len(starts) else len(svg)
        reveal = walk.reveal.get(m.group(1)) if m.group(2) != "cluster" else None
        if reveal is None:
            continue
        element = elements[m.group(1)]
        out.append(svg[at:m.start()])
        out.append(_mark(svg[m.start():end], element.lines, reveal, m.group(1)))
        at = end
    out.append(svg[at:])
    return "".join(out)


def _mark(part: str, lines: tuple[Line, ...], reveal: list[list[Any]], ident: str) -> str:
    texts = list(_TEXT.finditer(part))
    marks: dict[int, Any] = {}
    t = 0
    for line, when in zip(lines, reveal):
        for span, w in zip(line, when):
            words = _plain(span.text)
            if not words:
                continue
            while t < len(texts) and _plain(texts[t].group(2)) != words:
                t += 1
            if t == len(texts):
                raise RuntimeError(f"the SVG of {ident} has no text {words!r} where the drawing put it")
            if w:
                marks[t] = w
            t += 1
    if not marks:
        return part
    out, at = [], 0
    for t, w in marks.items():
        m = texts[t]
        attrs = f'data-s="{w[1]}" data-d="{w[0]}"' if isinstance(w, list) else f'data-s="{w}"'
        out += [part[at:m.start()], f"<text {attrs} ", part[m.start() + 6:m.end()]]
        at = m.end()
    out.append(part[at:])
    return "".join(out)


def _json(data: Any) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def page(svg: str, scene: Scene, walk: Walk, theme: str = "color") -> str:
    """The self-contained HTML page: the marked drawing, the steps, the controls."""
    marked = mark_svg(svg, scene, walk)
    marked = marked[marked.index("<svg"):]  # no XML prolog or doctype inside HTML
    title = html.escape(walk.title or "backward pass")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="graphviz_bp">\n'
            f"<title>{title}: backward pass, step by step</title>\n<style>\n{_asset('page.css')}</style>\n</head>\n"
            f'<body class="theme-{html.escape(theme)}">\n{_asset("page.html").replace("{{title}}", title)}'
            f'<div id="view" tabindex="-1">\n{marked}\n</div>\n</main>\n'
            f'<script type="application/json" id="walk">{_json(walk.data())}</script>\n'
            f"<script>\n{_asset('page.js')}</script>\n</body>\n</html>\n")


# --- frames ------------------------------------------------------------------------------------------

_GHOST = {"color": "#c8c8c8", "grey": "#c8c8c8"}  # a term still to come
_FUTURE = {"color": "#d4d4d8", "grey": "#d4d4d4"}  # an edge whose message is still to come
_NOW = {"color": "#d62728", "grey": "#000000"}      # what this step does
_NOW_FILL = {"color": "#fff3bf", "grey": "#e6e6e6"}


def _spans(line: Line, when: list[Any], step: int, theme: str) -> Line:
    out = []
    for span, w in zip(line, when):
        full, faint = (w[1], w[0]) if isinstance(w, list) else (w, None)
        if step >= full:
            out.append(span)
        elif faint is not None and step >= faint:
            out.append(span._replace(color=_GHOST[theme]))
        else:
            out.append(span._replace(color="transparent"))
    return tuple(out)


def frame(scene: Scene, walk: Walk, step: int, theme: str = "color") -> Scene:
    """``scene`` as it stands after ``step`` (0: the forward pass): texts not yet produced are
    transparent (so every frame keeps the same layout), the edges whose messages are still to come
    light and dotted, this step's node and messages thick."""
    nodes = []
    for n in scene.nodes:
        reveal = walk.reveal.get(n.id)
        lines = tuple(_spans(line, when, step, theme) for line, when in zip(n.lines, reveal)) if reveal else n.lines
        if step > 0 and step in walk.node_steps.get(n.id, ()):
            n = replace(n, lines=lines, border=_NOW[theme], penwidth=3.5, fill=_NOW_FILL[theme])
        else:
            n = replace(n, lines=lines)
        nodes.append(n)
    edges = []
    for e in scene.edges:
        reveal = walk.reveal.get(e.id)
        lines = tuple(_spans(line, when, step, theme) for line, when in zip(e.lines, reveal)) if reveal else e.lines
        at = walk.edge_step.get(e.id)
        if at is not None and step < at:
            e = replace(e, lines=lines, color=_FUTURE[theme], style="dotted", penwidth=1.0)
        elif at is not None and step in walk.edge_steps[e.id]:
            e = replace(e, lines=lines, penwidth=4.0, color=_NOW[theme] if not e.classes or "fanout" not in e.classes
                        else e.color)
        else:
            e = replace(e, lines=lines)
        edges.append(e)
    return replace(scene, nodes=tuple(nodes), edges=tuple(edges))


def caption(walk: Walk, step: int) -> str:
    """One line saying what ``step`` does (for a frame's file list and the page's announcements)."""
    if step == 0:
        return "forward pass: every value computed from the inputs"
    s = walk.steps[step - 1]
    sent = "; ".join(f"{m['tag'] + ' ' if m['tag'] else ''}to {m['toName']}"
                     + (f" = {m['rule']}" if m.get("rule") else "") for m in s["sent"])
    done = [f"{x['name']} complete" for x in s["sums"] if x["complete"]]
    return f"step {step}: at {s['name']}, {s['cotangent']} is complete; sends {sent}" + \
        ("; " + ", ".join(done) if done else "")

