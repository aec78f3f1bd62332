"""Scene: what to draw, as plain data (nodes, edges, their texts, classes, colours and tooltips).

Texts are the unescaped strings a reader sees; ``render`` escapes them. Tooltips are ``Deferred``:
their text is made when it is read (by ``render``, once, in parts), not when the Scene is built. Nodes may
name a cluster (``group``) and a time step (``step``); the Scene lists its clusters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

__all__ = ["Cluster", "Deferred", "Line", "Once", "Repetitions", "Scene", "SceneEdge", "SceneNode", "Span", "line_text"]


class Span(NamedTuple):
    """A run of text in one style (a named tuple: a drawing makes many, quickly)."""

    text: str
    color: str | None = None
    bold: bool = False
    italic: bool = False
    size: float | None = None


Line = tuple[Span, ...]


class Once(tuple):  # type: ignore[type-arg]
    """A Line made for one drawing only (a value's numbers): ``render`` writes it without keeping
    what it wrote for the next drawing, as it does for the lines annotate shares. Equal to the plain
    tuple of its spans."""

    __slots__ = ()


class Deferred:
    """Text made when it is read: ``str(d)`` calls ``make(*args)``, which returns the text or its
    parts in order (``parts()`` gives them as made). Nothing is kept, so a Scene stays small; equal
    when the texts are equal.

    >>> d = Deferred(" + ".join, ["a", "b"])
    >>> str(d), d == "a + b", Deferred(tuple, "ab").parts()
    ('a + b', True, ('a', 'b'))
    """

    __slots__ = ("_make", "_args")

    def __init__(self, make: Callable[..., str | Sequence[str]], *args: Any) -> None:
        self._make = make
        self._args = args

    def __str__(self) -> str:
        made = self._make(*self._args)
        return made if isinstance(made, str) else "".join(made)

    def parts(self) -> tuple[str, ...]:
        """The text in the parts it was made of (one part when it was made whole)."""
        made = self._make(*self._args)
        return (made,) if isinstance(made, str) else tuple(made)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Deferred, str)):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return f"Deferred({str(self)!r})"


_set = object.__setattr__


@dataclass(frozen=True, init=False)
class SceneNode:
    """A box or ellipse. ``group``: the id of the Cluster it is drawn in; ``step``: its time step."""

    id: str
    classes: tuple[str, ...]
    lines: tuple[Line, ...]
    shape: str
    fill: str
    border: str
    tooltip: Deferred | str
    style: str = "filled"
    peripheries: int = 1
    penwidth: float = 1.0
    group: str | None = None
    step: int | None = None
    back: tuple[int, int] = (0, 0)  # the lines [start, stop) that tell the backward pass (its gradient)

    def __init__(self, id: str, classes: tuple[str, ...], lines: tuple[Line, ...], shape: str, fill: str,
                 border: str, tooltip: Deferred | str, style: str = "filled", peripheries: int = 1,
                 penwidth: float = 1.0, group: str | None = None, step: int | None = None,
                 back: tuple[int, int] = (0, 0)) -> None:
        # the fields at once (the __init__ dataclasses writes sets each through object.__setattr__,
        # a call per field: a drawing makes a node for each value); tests check it matches the fields
        _set(self, "__dict__", {"id": id, "classes": classes, "lines": lines, "shape": shape, "fill": fill,
                                "border": border, "tooltip": tooltip, "style": style, "peripheries": peripheries,
                                "penwidth": penwidth, "group": group, "step": step, "back": back})

    @property
    def text(self) -> str:
        """What the label reads, one line per line, styles dropped."""
        return "\n".join(line_text(line) for line in self.lines)


@dataclass(frozen=True, init=False)
class SceneEdge:
    id: str
    src: str
    dst: str
    classes: tuple[str, ...]
    lines: tuple[Line, ...]
    color: str
    tooltip: Deferred | str
    style: str = "solid"
    penwidth: float = 1.2
    head: str = ""  # a mark at the arrow's head: which operand of a non-commutative op (①, ②)
    back: tuple[int, int] = (0, 0)  # the lines [start, stop) that tell the backward pass (its message)

    def __init__(self, id: str, src: str, dst: str, classes: tuple[str, ...], lines: tuple[Line, ...], color: str,
                 tooltip: Deferred | str, style: str = "solid", penwidth: float = 1.2, head: str = "",
                 back: tuple[int, int] = (0, 0)) -> None:
        # the fields at once, as SceneNode's
        _set(self, "__dict__", {"id": id, "src": src, "dst": dst, "classes": classes, "lines": lines,
                                "color": color, "tooltip": tooltip, "style": style, "penwidth": penwidth,
                                "head": head, "back": back})

    @property
    def text(self) -> str:
        """What the label reads, one line per line, styles dropped."""
        return "\n".join(line_text(line) for line in self.lines)


@dataclass(frozen=True)
class Cluster:
    """A group of nodes drawn in one frame (a function call, a ``gb.group`` block, a loop step);
    ``parent`` is the id of the cluster it sits in."""

    id: str
    lines: tuple[Line, ...] = ()
    parent: str | None = None
    classes: tuple[str, ...] = ()
    step: int | None = None


@dataclass(frozen=True)
class Repetitions:
    """A repeat drawn once in the cluster of the same id: for each repetition, its label
    (``iteration 7``), the graph's nodes it holds (their indices) and the norm of the message that
    reaches it (None: none does)."""

    labels: tuple[str, ...]
    nodes: tuple[tuple[int, ...], ...]
    norms: tuple[float | None, ...]


@dataclass(frozen=True)
class Scene:
    nodes: tuple[SceneNode, ...]
    edges: tuple[SceneEdge, ...]
    legend: SceneNode | None
    direction: str
    font: str
    background: str
    text_color: str
    clusters: tuple[Cluster, ...] = field(default=())
    # what each drawn node and edge stands for: the graph's node indices (by node id) and edge indices
    # (by edge id), several for a folded repeat or a collapsed box
    stands_for: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False)
    repeats: dict[str, Repetitions] = field(default_factory=dict, compare=False)  # by cluster id
    # the drawn ops of the main chain (from the output back to an input), kept in one straight column
    chain: frozenset[str] = field(default=frozenset(), compare=False)

    def node(self, id: str) -> SceneNode:
        """The node with ``id`` (``n0``, ``n1``, ... as in the graph; ``legend``)."""
        if self.legend is not None and self.legend.id == id:
            return self.legend
        for n in self.nodes:
            if n.id == id:
                return n
        raise KeyError(id)

    def edges_from(self, id: str) -> list[SceneEdge]:
        """The edges leaving the node ``id``, in order."""
        return [e for e in self.edges if e.src == id]


def line_text(line: Line) -> str:
    """The text of a line, styles dropped.

    >>> line_text((Span("∂L/∂x", bold=True), Span(" = 1")))
    '∂L/∂x = 1'
    """
    return "".join(s.text for s in line)
