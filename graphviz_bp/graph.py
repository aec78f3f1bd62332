"""The traced DAG: ``Node`` and ``Edge`` records and ``DAG``, its structure and queries."""

from __future__ import annotations

import linecache
import os
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .errors import GraphvizBPError

if TYPE_CHECKING:
    from .backward import BackwardPass
    from .ops import Op

__all__ = ["DAG", "Edge", "ExpressionSource", "Node", "Source", "UnknownNodeError", "count_text"]


class UnknownNodeError(GraphvizBPError, KeyError):
    """No node of the graph has the name asked for."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def shown_path(filename: str) -> str:
    """``filename`` as an error names it: relative to the working directory when it is inside it
    (``loss.py``, ``models/mlp.py``), else as it is."""
    try:
        here = os.getcwd()
        rel = os.path.relpath(filename, here)
    except (OSError, ValueError):  # no working directory any more; another drive (Windows)
        return filename
    outside = rel.startswith(os.pardir) or os.path.isabs(rel) or os.path.dirname(here) == here  # (in /)
    return filename if outside else rel


class Source:
    """Where in the user's code a node was made: file, line and function."""

    __slots__ = ("filename", "lineno", "function")

    def __init__(self, filename: str, lineno: int, function: str) -> None:
        self.filename = filename
        self.lineno = lineno
        self.function = function

    @property
    def line(self) -> str:
        """The source line's text, stripped ('' when the file cannot be read)."""
        return linecache.getline(self.filename, self.lineno).strip()

    def __str__(self) -> str:  # (an error's: the file as the user would name it from here)
        return self.describe(shown_path(self.filename))

    def short(self) -> str:
        """As ``str`` but with the file's base name only (drawings must not depend on the machine)."""
        return self.describe(os.path.basename(self.filename))

    def describe(self, filename: str) -> str:
        where = f"{filename}:{self.lineno} in {self.function}"
        line = self.line
        return f"{where}: {line}" if line else where

    def __repr__(self) -> str:
        return f"Source({self.filename!r}, {self.lineno}, {self.function!r})"


class ExpressionSource(Source):
    """Where in an expression (the CLI's or a Sphinx directive's) a node was made: column and text."""

    __slots__ = ("column", "segment")

    def __init__(self, column: int, segment: str) -> None:
        super().__init__("<expression>", 1, "<expression>")
        self.column = column
        self.segment = segment

    @property
    def line(self) -> str:
        return self.segment

    def describe(self, filename: str) -> str:
        return f"expression column {self.column}: {self.segment}"

    def __repr__(self) -> str:
        return f"ExpressionSource({self.column}, {self.segment!r})"


class Node:
    """A value in the graph: an input, a constant, or the result of an op.

    ``dag`` is the DAG the node belongs to (set once, when the DAG is built; None while tracing).
    The node holds no gradient itself: ``adjoint`` reads it from the backward pass attached to
    ``dag`` (see ``DAG.attach``).
    """

    __slots__ = ("index", "name", "kind", "op", "params", "value", "in_edges", "out_edges",
                 "dag", "differentiable", "source", "user_named", "scope")

    def __init__(self, kind: str, value: np.ndarray, op: Op | None = None,
                 params: dict[str, Any] | None = None, name: str | None = None,
                 differentiable: bool = False, source: Source | None = None) -> None:
        self.index = -1
        self.name = name
        self.kind = kind  # "input", "const" or "op"
        self.op = op
        self.params = params or {}
        self.value = value
        self.in_edges: list[Edge] = []
        self.out_edges: list[Edge] = []
        self.dag: DAG | None = None
        self.differentiable = differentiable
        self.source = source
        self.user_named = False
        self.scope: Any = None  # the scopes.Scope it was made in (None: the traced function itself)

    @property
    def id(self) -> str:
        """Stable identifier, from the node's position in trace order (``n0``, ``n1``, ...)."""
        return f"n{self.index}"

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def adjoint(self) -> np.ndarray | None:
        """∂output/∂(this value), read from the DAG's backward pass: the sum of the messages on the
        node's outgoing edges (the seed at the output). None for values that do not depend on a
        differentiable input, and when no backward pass is attached to the node's DAG.
        """
        dag = self.dag
        bp = None if dag is None else dag.backward_pass
        return None if bp is None else bp.adjoint(self)

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def inputs(self) -> list[Node]:
        """The nodes this one was computed from, in argument order."""
        return [e.src for e in self.in_edges]

    @property
    def is_shared(self) -> bool:
        """True when the value feeds two or more edges (its adjoint is a sum of messages)."""
        return len(self.out_edges) >= 2

    def __repr__(self) -> str:
        what = self.op.name if self.op is not None else self.kind
        return f"<Node {self.id} {self.name!r} {what} shape={self.shape}>"


class Edge:
    """``src`` is argument ``argnum`` of ``dst``; ``message`` is the VJP sent back from dst to src.

    ``index`` is the edge's position in ``DAG.edges`` (-1 before the DAG is built).
    """

    __slots__ = ("src", "dst", "argnum", "index")

    def __init__(self, src: Node, dst: Node, argnum: int) -> None:
        self.src = src
        self.dst = dst
        self.argnum = argnum
        self.index = -1

    @property
    def message(self) -> np.ndarray | None:
        """The VJP dst sends back to src, read from the DAG's backward pass (``Message.value``).

        It has src's shape; it is None when src does not depend on a differentiable input
        (constants) or the op does not differentiate this operand, and when no backward pass is
        attached to the DAG.
        """
        dag = self.dst.dag
        bp = None if dag is None else dag.backward_pass
        m = None if bp is None else bp.message(self)
        return None if m is None else m.value

    @property
    def formula(self) -> Any:
        """The symbolic message on this edge (a ``Formula``: ``.text``, ``.latex``, ``.expr``,
        ``.verified``), in terms of its consumer's cotangent ``ḡ``; None when no message flows or no
        symbolic pass is attached."""
        dag = self.dst.dag
        formulas = None if dag is None else dag.formulas
        return None if formulas is None else formulas.edge_formula(self)

    @property
    def jacobian_shape(self) -> tuple[int, ...]:
        """Shape of the local Jacobian ∂dst/∂src: dst's shape followed by src's shape."""
        return self.dst.shape + self.src.shape

    def __repr__(self) -> str:
        return f"<Edge {self.src.name!r} -> {self.dst.name!r} arg {self.argnum}>"


class DAG:
    """Nodes in topological (trace) order, the output last among them, and queries over them.

    The DAG is not changed by differentiating it: ``backward(dag)`` returns a ``BackwardPass``
    and leaves the DAG as it was. The object users hold (``api.Graph``) owns one pass and links
    it to the DAG once with ``attach``; ``Node.adjoint`` and ``Edge.message`` read that pass
    through ``backward_pass``, so they are None until a pass is attached.
    """

    def __init__(self, nodes: Iterable[Node], output: Node) -> None:
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.output = output
        self.edges: tuple[Edge, ...] = tuple(e for n in self.nodes for e in n.in_edges)
        for i, e in enumerate(self.edges):
            e.index = i
        for n in self.nodes:
            n.dag = self
        self._by_name = {n.name: n for n in self.nodes}
        self.inputs: dict[str, Node] = {n.name: n for n in self.nodes if n.kind == "input"}
        self._pass: BackwardPass | None = None
        # the ops the trace made that the output does not depend on, with the scope that made each
        # (an RNN's last h_prev = h.copy()), as (scope, op name): ``finish`` notes them, for the drawing
        self.dropped: list[tuple[Any, str]] = []
        self._formulas_factory: Any = None
        self._formulas: Any = None

    @property
    def formulas(self) -> Any:
        """The symbolic pass ``Edge.formula`` reads (made on first use by the factory the facade
        attached with ``attach_formulas``; None when none is attached)."""
        if self._formulas is None and self._formulas_factory is not None:
            self._formulas = self._formulas_factory()
        return self._formulas

    def attach_formulas(self, factory: Any) -> None:
        """Attach a zero-argument factory of the symbolic pass over this DAG (it runs on first use)."""
        self._formulas_factory = factory

    @property
    def backward_pass(self) -> BackwardPass | None:
        """The backward pass ``Node.adjoint`` and ``Edge.message`` read (None until one is attached)."""
        return self._pass

    def attach(self, backward_pass: BackwardPass) -> None:
        """Make ``backward_pass`` (a pass over this DAG) the one its nodes and edges read; once only.

        Raises ValueError when the pass belongs to another DAG or a different pass is attached already.
        """
        if backward_pass.dag is not self:
            raise ValueError("this backward pass was computed for another graph")
        if self._pass is not None and self._pass is not backward_pass:
            raise ValueError("a backward pass is attached to this graph already; it is attached once")
        self._pass = backward_pass

    def node(self, name: str | Node) -> Node:
        """The node called ``name`` (a Node is returned as is)."""
        if isinstance(name, Node):
            return name
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            named = [n.name for n in self.nodes if n.kind == "input" or n.user_named]
            raise UnknownNodeError(
                f"no node named {name!r}; inputs and named values: {', '.join(named) or 'none'}"
            ) from None

    def shared_nodes(self) -> list[Node]:
        """Nodes whose value feeds two or more edges, in topological order."""
        return [n for n in self.nodes if n.is_shared]

    def descendants(self, node: Node) -> set[Node]:
        """``node`` and every node computed from it."""
        return reachable(node, downstream=True)

    def count_paths(self, node: Node) -> int:
        """How many distinct edge paths lead from ``node`` to the output."""
        counts = {node: 1}
        for n in self.nodes[node.index + 1:]:
            c = sum(counts.get(e.src, 0) for e in n.in_edges)
            if c:
                counts[n] = c
        return counts.get(self.output, 0)


def count_text(n: int) -> str:
    """A count for a message; astronomically large ones (path counts grow exponentially with
    depth) as a power of ten, since Python refuses to print integers of more than 4300 digits.

    >>> count_text(4096), count_text(2 ** 20000)
    ('4096', 'about 10^6020')
    """
    if n.bit_length() <= 64:
        return str(n)
    return f"about 10^{int(n.bit_length() * 0.30102999566398120)}"


def reachable(start: Node, downstream: bool) -> set[Node]:
    """``start`` and every node reached from it along edges (downstream) or against them; iterative."""
    seen = {start}
    stack = [start]
    while stack:
        n = stack.pop()
        for nxt in ([e.dst for e in n.out_edges] if downstream else [e.src for e in n.in_edges]):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def finish(nodes: list[Node], output: Node) -> DAG:
    """Keep the inputs and the nodes the output depends on, number them, link outgoing edges, name them."""
    needed = reachable(output, downstream=False)
    kept = [n for n in nodes if n in needed or n.kind == "input"]
    dropped: list[tuple[Any, str]] = []  # the ops traced but not kept: their scopes and names
    if len(kept) < len(nodes):
        dropped = [(n.scope, n.op.name) for n in nodes  # type: ignore[union-attr]
                   if n.kind == "op" and n not in needed and n.scope is not None]
    for i, n in enumerate(kept):
        n.index = i
        n.out_edges = []
    for n in kept:
        for e in n.in_edges:
            e.src.out_edges.append(e)
    _assign_names(kept)
    dag = DAG(kept, output)
    dag.dropped = dropped
    return dag


def _assign_names(nodes: list[Node]) -> None:
    """Inputs keep their keyword, named values their name (made unique with #2, #3...); others get op#index."""
    taken: set[str] = {n.name for n in nodes if n.kind == "input"}
    for n in nodes:
        if n.kind == "input":
            continue
        if n.user_named and n.name is not None:
            base = n.name
        else:
            base = f"{n.op.name if n.op is not None else n.kind}#{n.index}"
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}#{k}"
        taken.add(name)
        n.name = name
