"""Reverse mode that keeps every message: one VJP per edge, adjoints as sums, one contribution per path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import NonScalarOutputError, PathLimitError, ShapeError
from .graph import DAG, Edge, Node, count_text
from .ops._broadcast import unbroadcast

__all__ = ["Contribution", "backward", "contributions", "message"]


def message(edge: Edge, g: np.ndarray, args: list[np.ndarray] | None = None) -> np.ndarray | None:
    """The VJP that ``edge.dst`` sends to ``edge.src`` when its own cotangent is ``g`` (None when the
    op does not differentiate that operand, e.g. the condition of ``np.where``).

    ``args`` (the values of dst's operands) may be passed when the caller already has them.
    """
    dst, src = edge.dst, edge.src
    if args is None:
        args = [e.src.value for e in dst.in_edges]
    m = dst.op.vjp(edge.argnum, g, dst.value, args, dst.params)  # type: ignore[union-attr]
    if m is None:
        return None
    if type(m) is not np.ndarray:
        m = np.asarray(m)
    if m.shape != src.shape:
        m = unbroadcast(m, src.shape)
    if m.dtype != src.dtype and src.dtype.kind == "f":
        m = m.astype(src.dtype)
    return m


def _seed(dag: DAG, seed: Any) -> np.ndarray:
    out = dag.output
    if seed is None:
        if out.shape != ():
            raise NonScalarOutputError(
                f"the output has shape {out.shape}, not a scalar: reverse mode needs the output's "
                f"cotangent; pass seed=<array of shape {out.shape}> (e.g. np.ones({out.shape}) to "
                f"differentiate the sum of the outputs)", out.shape)
        return np.ones((), dtype=out.dtype if out.dtype.kind == "f" else float)
    s = np.asarray(seed, dtype=out.dtype if out.dtype.kind == "f" else float)
    if s.shape != out.shape:
        raise ShapeError(f"seed has shape {s.shape} but the output has shape {out.shape}; "
                         f"they must be equal")
    return s


def backward(dag: DAG, seed: Any = None) -> None:
    """Fill in every edge's message and every node's adjoint, iteratively, in reverse trace order."""
    out = dag.output
    for n in dag.nodes:
        n.adjoint = None
        for e in n.in_edges:
            e.message = None
    for n in reversed(dag.nodes):
        if not n.differentiable:
            continue
        if n is out:
            g = _seed(dag, seed)
        else:
            msgs = [e.message for e in n.out_edges if e.message is not None]
            if not msgs:
                g = np.zeros(n.shape, n.dtype)
            else:
                g = msgs[0]
                for m in msgs[1:]:
                    g = g + m
        n.adjoint = g
        if n.kind == "op":
            args = [e.src.value for e in n.in_edges]
            for e in n.in_edges:
                if e.src.differentiable:
                    e.message = message(e, g, args)


@dataclass(frozen=True)
class Contribution:
    """What one path (its edges, input first) gives to the input's gradient."""

    path: tuple[Edge, ...]
    value: np.ndarray

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The path's nodes, from the input to the output."""
        if not self.path:
            return ()
        return (self.path[0].src,) + tuple(e.dst for e in self.path)

    def __repr__(self) -> str:
        names = " → ".join(n.name for n in self.nodes) or "(output itself)"
        return f"<Contribution {names} shape={self.value.shape}>"


def contributions(dag: DAG, node: Node, limit: int = 256) -> list[Contribution]:
    """One Contribution per distinct path from ``node`` to the output; they sum to ``node.adjoint``.

    Each is the chain of VJPs along its path alone. Suffixes shared by several paths are computed
    once. Raises PathLimitError when there are more than ``limit`` paths.
    """
    if node.adjoint is None:
        raise ValueError(f"{node.name!r} does not depend on a differentiable input: no gradient flows")
    total = dag.count_paths(node)
    if total > limit:
        raise PathLimitError(f"{node.name!r} reaches the output by {count_text(total)} paths, more than "
                             f"limit={limit}; pass a larger limit to enumerate them all")
    out = dag.output
    if node is out:
        return [Contribution((), out.adjoint)]
    on_path = dag.descendants(node)
    found: list[tuple[tuple[tuple[int, int], ...], Contribution]] = []
    # Depth-first from the output back to node; a stack, not recursion. ``link`` is the path so far
    # as a linked list (edge, rest), so extending it costs O(1).
    stack: list[tuple[Node, np.ndarray, tuple | None]] = [(out, out.adjoint, None)]
    while stack:
        n, g, link = stack.pop()
        if n is node:
            path = []
            while link is not None:
                path.append(link[0])
                link = link[1]
            key = tuple((e.dst.index, e.argnum) for e in path)
            found.append((key, Contribution(tuple(path), g)))
            continue
        for e in n.in_edges:
            if e.src in on_path:
                m = message(e, g)
                if m is not None:
                    stack.append((e.src, m, (e, link)))
    found.sort(key=lambda kv: kv[0])
    return [c for _, c in found]
