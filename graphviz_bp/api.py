"""The facade users hold: ``trace()`` and the ``Graph`` it returns, composing trace and backward."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import render as _render
from .annotate import DrawOptions, annotate
from .backward import Contribution, backward, contributions
from .errors import TraceError
from .graph import DAG, Edge, Node
from .tracer import record

__all__ = ["Drawing", "Graph", "trace"]


def trace(fn: Callable[..., Any], /, *, seed: Any = None, **inputs: Any) -> Graph:
    """Trace ``fn(**inputs)`` written with plain NumPy, and run the backward pass keeping every message.

    Each keyword becomes an input node named by it; ``fn`` is called with traced stand-ins under the
    same keywords. For a non-scalar output, ``seed`` is the output's cotangent (same shape).

    >>> import numpy as np
    >>> g = trace(lambda x: np.sum(x * x), x=np.array([1.0, 2.0]))
    >>> g.value, g.grad("x")
    (np.float64(5.0), array([2., 4.]))
    """
    if not callable(fn):
        raise TypeError(f"trace() needs a function first, got {type(fn).__name__}")
    dag = record(fn, inputs)
    backward(dag, seed)
    return Graph(dag)


class Graph:
    """A traced computation with its backward pass: values, messages, adjoints, per-path contributions."""

    def __init__(self, dag: DAG) -> None:
        self._dag = dag

    @property
    def value(self) -> Any:
        """The output's value (a NumPy scalar for a scalar output)."""
        v = self._dag.output.value
        return v[()] if v.shape == () else v

    @property
    def output(self) -> Node:
        return self._dag.output

    @property
    def nodes(self) -> tuple[Node, ...]:
        """All nodes in topological (trace) order."""
        return self._dag.nodes

    @property
    def edges(self) -> tuple[Edge, ...]:
        """All edges, grouped by consumer in topological order, then by argument position."""
        return self._dag.edges

    @property
    def inputs(self) -> dict[str, Node]:
        """The input nodes by keyword, in the order they were passed."""
        return dict(self._dag.inputs)

    def node(self, name: str | Node) -> Node:
        """The node called ``name``: an input's keyword, a ``name()``-d value, or an auto name like ``tanh#3``."""
        return self._dag.node(name)

    def out_edges(self, name: str | Node) -> list[Edge]:
        """The edges leaving a node, one per use of its value (so ``x * x`` gives two)."""
        return list(self._dag.node(name).out_edges)

    def in_edges(self, name: str | Node) -> list[Edge]:
        """The edges entering a node, in argument order."""
        return list(self._dag.node(name).in_edges)

    def shared_nodes(self) -> list[Node]:
        """Nodes whose value feeds two or more edges: where messages are accumulated."""
        return self._dag.shared_nodes()

    def grad(self, name: str | Node) -> np.ndarray:
        """∂output/∂node (the seed-weighted VJP for a non-scalar output), shaped like the node."""
        node = self._dag.node(name)
        if node.adjoint is None:
            why = ("it has an integer or boolean dtype" if node.kind == "input"
                   else "it does not depend on a differentiable input")
            raise TraceError(f"{node.name!r} has no gradient: {why}")
        return node.adjoint

    def contributions(self, name: str | Node, limit: int = 256) -> list[Contribution]:
        """One Contribution per distinct path from the node to the output; they sum to ``grad(name)``."""
        return contributions(self._dag, self._dag.node(name), limit)

    # drawing ---------------------------------------------------------------------------------------
    def draw(self, *, direction: str = "TB", detail: str = "values", theme: str = "color",
             data: Sequence[str] | str = ()) -> Drawing:
        """A drawing of this graph with the given options (see ``Drawing``); displays in Jupyter.

        direction: "TB" (top to bottom, default) or "LR" (left to right). detail: "structure", "shapes" or
        "values" (shapes plus forward values and backward messages). theme: "color" or "grey"
        (print-friendly). data: inputs that are data, not parameters (drawn muted, no gradient).
        """
        return Drawing(self._dag, DrawOptions(direction=direction, detail=detail, theme=theme,
                                              data=tuple([data] if isinstance(data, str) else data)))

    def to_dot(self, **options: Any) -> str:
        """DOT source of the drawing (options as for ``draw``); needs no Graphviz installed."""
        return self.draw(**options).to_dot()

    def pipe(self, format: str = "svg", **options: Any) -> bytes:
        """The drawing rendered by Graphviz: ``format`` is svg, pdf, png or dot."""
        return self.draw(**options).pipe(format)

    def render(self, path: str | os.PathLike[str], format: str | None = None, **options: Any) -> Path:
        """Write the drawing to ``path`` (format from the suffix: .svg .pdf .png .dot), atomically."""
        return self.draw(**options).render(path, format)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, str]:
        return self.draw()._repr_mimebundle_(include, exclude)

    def __repr__(self) -> str:
        n_ops = sum(1 for n in self.nodes if n.kind == "op")
        return (f"<Graph {n_ops} ops, inputs {', '.join(self._dag.inputs) or 'none'}; "
                f"output shape {self.output.shape}>")


class Drawing:
    """A Graph drawn with fixed options: DOT source, rendered bytes and files, Jupyter display (SVG)."""

    def __init__(self, dag: DAG, options: DrawOptions) -> None:
        self._dag = dag
        self.options = options
        self._source: str | None = None

    def to_dot(self) -> str:
        if self._source is None:
            self._source = _render.to_dot(annotate(self._dag, self.options))
        return self._source

    def pipe(self, format: str = "svg") -> bytes:
        return _render.pipe(self.to_dot(), format)

    def render(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        return _render.render(self.to_dot(), path, format)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, str]:
        bundle = {"image/svg+xml": self.pipe("svg").decode("utf-8"), "text/plain": repr(self)}
        if include:
            bundle = {k: v for k, v in bundle.items() if k in include}
        if exclude:
            bundle = {k: v for k, v in bundle.items() if k not in exclude}
        return bundle

    def __repr__(self) -> str:
        o = self.options
        return (f"<Drawing of {len(self._dag.nodes)} nodes: direction={o.direction}, detail={o.detail}, "
                f"theme={o.theme}, data={list(o.data)}>")
