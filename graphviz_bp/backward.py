"""Reverse mode as a value: ``backward`` returns a ``BackwardPass`` with every message, how it was
formed, every adjoint, the ordered steps, and the per-path contributions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import NonScalarOutputError, PathLimitError, ShapeError
from .graph import DAG, Edge, Node, count_text
from .ops._broadcast import unbroadcast

PATH_LIMIT = 256  # paths enumerated by default (contributions, formulas, derivations, claims)

__all__ = ["PATH_LIMIT", "BackwardPass", "Contribution", "Message", "Step", "backward", "contributions", "message",
           "summed_axes"]


@dataclass(frozen=True, slots=True, eq=False)
class Message:
    """The message one edge carries back, and how it was formed.

    Attributes:
        edge: the edge; the message goes from ``edge.dst`` back to ``edge.src``.
        value: the message, ∂output/∂src along this edge: src's shape (and float dtype). What
            ``Edge.message`` returns.
        raw: what dst's VJP rule returned, before broadcasting was undone; the very same object as
            ``value`` when there was nothing to undo (arrays are shared, never copied).
        summed_axes: the axes of ``raw`` that undoing broadcasting summed over, so that ``value``
            is ``raw.sum(axis=summed_axes, keepdims=True)`` reshaped to src's shape (leading axes
            dropped) and cast to src's dtype; ``()`` when none. (A rule's result with fewer
            dimensions than src, e.g. a scalar for an array operand, is broadcast instead.)
        step: the index of the ``Step`` that produced the message (the step of ``edge.dst``).
    """

    edge: Edge
    value: np.ndarray
    raw: np.ndarray
    summed_axes: tuple[int, ...]
    step: int

    def __repr__(self) -> str:
        how = f" summed over axes {self.summed_axes} of {self.raw.shape}" if self.summed_axes else ""
        return (f"<Message {self.edge.dst.name!r} -> {self.edge.src.name!r} arg {self.edge.argnum} "
                f"step {self.step} shape={self.value.shape}{how}>")


@dataclass(frozen=True, slots=True, eq=False)
class Step:
    """One step of the backward pass: a node's adjoint is complete, and its VJP rules run.

    Steps go in reverse trace order (a reverse topological order), one per node that depends on a
    differentiable input, starting at the output; ``index`` counts from 1 (step 0 is the forward
    pass, before any message). A node's consumers come after it in trace order, so every message it
    receives was produced at an earlier step.

    Attributes:
        index: the step's number, from 1; ``BackwardPass.steps[k - 1].index == k``.
        node: the node whose adjoint is complete at this step.
        adjoint: that adjoint: the seed at the output, else the sum of ``received`` in their order.
        received: the messages summed into the adjoint, in the order of ``node.out_edges``.
        sent: the messages produced at this step, on ``node.in_edges`` in argument order (constants
            and operands the op does not differentiate get none).
    """

    index: int
    node: Node
    adjoint: np.ndarray
    received: tuple[Message, ...]
    sent: tuple[Message, ...]

    def __repr__(self) -> str:
        return (f"<Step {self.index} {self.node.name!r}: {len(self.received)} received, "
                f"{len(self.sent)} sent>")


@dataclass(frozen=True)
class Contribution:
    """What one path (its edges, input first) gives to the input's gradient.

    ``messages[i]`` is the message that travels back along ``path[i]`` for this path alone (the
    chain of VJPs from the output's seed down to that edge), so ``messages[0]`` is ``value``. Where
    the path's suffix is the only route back (a node with one consumer), it equals the edge's
    message in the backward pass and is that same array.
    """

    path: tuple[Edge, ...]
    value: np.ndarray
    messages: tuple[np.ndarray, ...] = ()

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The path's nodes, from the input to the output."""
        if not self.path:
            return ()
        return (self.path[0].src,) + tuple(e.dst for e in self.path)

    def __repr__(self) -> str:
        names = " → ".join(n.name for n in self.nodes) or "(output itself)"
        return f"<Contribution {names} shape={self.value.shape}>"


def summed_axes(raw_shape: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of an array of ``raw_shape`` that undoing broadcasting to ``shape`` sums over.

    >>> summed_axes((3, 4), (3, 1)), summed_axes((2, 3), (3,)), summed_axes((5, 2, 3), (5, 1, 3))
    ((1,), (0,), (1,))
    >>> summed_axes((3,), (3,)), summed_axes((), (2,))
    ((), ())
    """
    extra = len(raw_shape) - len(shape)
    if extra < 0:
        return ()
    return tuple(range(extra)) + tuple(extra + i for i, d in enumerate(shape)
                                       if d == 1 and raw_shape[extra + i] != 1)


def _form(edge: Edge, g: np.ndarray, args: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """``(raw, message)`` for ``edge`` when its dst's cotangent is ``g``; None when not differentiated."""
    dst, src = edge.dst, edge.src
    raw = dst.op.vjp(edge.argnum, g, dst.value, args, dst.params)  # type: ignore[union-attr]
    if raw is None:
        return None
    if type(raw) is not np.ndarray:
        raw = np.asarray(raw)
    m = raw if raw.shape == src.shape else unbroadcast(raw, src.shape)
    if m.dtype != src.dtype and src.dtype.kind == "f":
        m = m.astype(src.dtype)
    return raw, m


def message(edge: Edge, g: np.ndarray, args: list[np.ndarray] | None = None) -> np.ndarray | None:
    """The VJP that ``edge.dst`` sends to ``edge.src`` when its own cotangent is ``g`` (None when the
    op does not differentiate that operand, e.g. the condition of ``np.where``).

    ``args`` (the values of dst's operands) may be passed when the caller already has them. This
    runs the VJP rule; a finished pass's messages are read with ``BackwardPass.message``.
    """
    if args is None:
        args = [e.src.value for e in edge.dst.in_edges]
    formed = _form(edge, g, args)
    return None if formed is None else formed[1]


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


def backward(dag: DAG, seed: Any = None) -> BackwardPass:
    """Run reverse mode over ``dag`` and return the pass; ``dag`` itself is not changed.

    Iterative, in reverse trace order: each node that depends on a differentiable input sums the
    messages on its outgoing edges into its adjoint (the output takes ``seed``, default 1 for a
    scalar output), then runs its op's VJP rule for every differentiable operand, one message per
    edge. Each VJP rule runs once per edge. (The loop spells out ``_form``: it is the hot path.)
    """
    nodes = dag.nodes
    out = dag.output
    values: list[np.ndarray | None] = [None] * len(dag.edges)
    adjoints: list[np.ndarray | None] = [None] * len(nodes)
    raws: dict[int, np.ndarray] = {}
    order: list[int] = []
    for n in reversed(nodes):
        if not n.differentiable:
            continue
        if n is out:
            g = _seed(dag, seed)
        else:
            g = None
            for e in n.out_edges:
                m = values[e.index]
                if m is not None:
                    g = m if g is None else g + m
            if g is None:  # an input that does not reach the output
                g = np.zeros(n.shape, n.dtype)
        adjoints[n.index] = g
        order.append(n.index)
        if n.kind == "op":
            op, ans, params = n.op, n.value, n.params
            args = [e.src.value for e in n.in_edges]
            for e in n.in_edges:
                src = e.src
                if not src.differentiable:
                    continue
                raw = op.vjp(e.argnum, g, ans, args, params)  # type: ignore[union-attr]
                if raw is None:
                    continue
                if type(raw) is not np.ndarray:
                    raw = np.asarray(raw)
                m = raw if raw.shape == src.shape else unbroadcast(raw, src.shape)
                if m.dtype != src.dtype and src.dtype.kind == "f":
                    m = m.astype(src.dtype)
                values[e.index] = m
                if m is not raw:
                    raws[e.index] = raw  # the summed axes follow from the shapes, when asked for
    return BackwardPass(dag, adjoints[out.index], values, adjoints, raws, order)  # type: ignore[arg-type]


class BackwardPass:
    """The result of ``backward(dag)``: every edge's message and how it was formed, every node's
    adjoint, the ordered steps, and per-path contributions, computed once.

    Built by ``backward``; nothing in it changes afterwards except caches filled on first use (the
    ``Message`` and ``Step`` records and the contributions), which are then returned as the same
    objects every time. Arrays are shared with the pass, not copied: do not modify them in place.
    Nodes and edges are looked up by their position (``Node.index``, ``Edge.index``) in the DAG.
    """

    __slots__ = ("_dag", "_seed", "_values", "_adjoints", "_raws", "_order", "_step_of",
                 "_records", "_steps", "_contributions", "_path_counts")

    def __init__(self, dag: DAG, seed: np.ndarray | None, values: list[np.ndarray | None],
                 adjoints: list[np.ndarray | None], raws: dict[int, np.ndarray], order: list[int]) -> None:
        self._dag = dag
        self._seed = seed
        self._values = tuple(values)
        self._adjoints = tuple(adjoints)
        self._raws = raws
        self._order = tuple(order)
        step_of = [0] * len(dag.nodes)
        for k, i in enumerate(order, 1):
            step_of[i] = k
        self._step_of = tuple(step_of)
        self._records: list[Message | None] | None = None
        self._steps: tuple[Step, ...] | None = None
        self._contributions: dict[int, tuple[Contribution, ...]] = {}
        self._path_counts: list[int] | None = None

    # the pass's data --------------------------------------------------------------------------
    @property
    def dag(self) -> DAG:
        """The graph this pass differentiates."""
        return self._dag

    @property
    def seed(self) -> np.ndarray | None:
        """The output's cotangent the pass started from (1 for a scalar output by default); None when
        the output does not depend on a differentiable input."""
        return self._seed

    def adjoint(self, node: Node) -> np.ndarray | None:
        """∂output/∂node: the sum of the messages on its outgoing edges (the seed at the output);
        None when the node does not depend on a differentiable input."""
        return self._adjoints[node.index]

    @property
    def adjoints(self) -> tuple[np.ndarray | None, ...]:
        """Every node's adjoint (or None), in the order of ``dag.nodes``."""
        return self._adjoints

    @property
    def message_values(self) -> tuple[np.ndarray | None, ...]:
        """Every edge's message as an array (``Message.value``, or None), in the order of ``dag.edges``."""
        return self._values

    def message(self, edge: Edge) -> Message | None:
        """The message ``edge`` carries (None when no gradient flows along it)."""
        if self._values[edge.index] is None:
            return None
        records = self._records
        if records is None:
            records = self._records = [None] * len(self._values)
        m = records[edge.index]
        if m is None:
            m = records[edge.index] = self._record(edge)
        return m

    def _record(self, edge: Edge) -> Message:
        value = self._values[edge.index]
        raw = self._raws.get(edge.index)
        if raw is None:  # nothing was undone: the rule's result is the message
            raw, axes = value, ()
        else:
            axes = summed_axes(raw.shape, edge.src.shape)
        return Message(edge, value, raw, axes, self._step_of[edge.dst.index])  # type: ignore[arg-type]

    @property
    def messages(self) -> tuple[Message | None, ...]:
        """Every edge's message (or None), in the order of ``dag.edges``."""
        return tuple(self.message(e) for e in self._dag.edges)

    # the order of the pass --------------------------------------------------------------------
    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps in the order the pass ran them: reverse trace order, the output first."""
        if self._steps is None:
            nodes = self._dag.nodes
            steps = []
            for k, i in enumerate(self._order, 1):
                n = nodes[i]
                received = tuple(m for m in map(self.message, n.out_edges) if m is not None)
                sent = tuple(m for m in map(self.message, n.in_edges) if m is not None)
                steps.append(Step(k, n, self._adjoints[i], received, sent))  # type: ignore[arg-type]
            self._steps = tuple(steps)
        return self._steps

    def step_of(self, node: Node) -> int:
        """The step at which ``node``'s adjoint is complete (0: it has none, no gradient flows)."""
        return self._step_of[node.index]

    def received(self, node: Node, until: int | Step | None = None) -> tuple[Message, ...]:
        """The messages summed into ``node``'s adjoint, in the order of its outgoing edges; with
        ``until`` (a step's index, or the ``Step``), only those produced at steps up to it (their
        sum is the partial adjoint after that step; all of them have arrived by ``step_of(node)``)."""
        if isinstance(until, Step):
            until = until.index
        elif until is not None and (isinstance(until, bool) or not isinstance(until, (int, np.integer))):
            raise TypeError(f"until is a step's index or a Step, not {type(until).__name__}")
        msgs = (self.message(e) for e in node.out_edges)
        return tuple(m for m in msgs if m is not None and (until is None or m.step <= until))

    # paths ------------------------------------------------------------------------------------
    def path_count(self, node: Node) -> int:
        """How many distinct edge paths lead from ``node`` to the output (``DAG.count_paths``). The
        first call counts them for every node at once, in one sweep, so asking for each of many
        nodes costs one pass over the graph, not one per node."""
        counts = self._path_counts
        if counts is None:
            counts = self._path_counts = _paths_to_output(self._dag)
        return counts[node.index]

    def contributions(self, node: Node, limit: int = PATH_LIMIT) -> list[Contribution]:
        """One Contribution per distinct path from ``node`` to the output; they sum to its adjoint.

        Each is the chain of VJPs along its path alone, in a fixed order (by the consumers' trace
        positions and argument numbers, from the output back). Computed on first use and cached per
        node, so later calls return the same Contribution objects and run no VJP rule. Messages are
        reused, not recomputed, where a path's suffix is the only way back (the per-path cotangent
        is then the node's adjoint), and suffixes shared by several paths are computed once. Raises
        PathLimitError, before any work, when there are more than ``limit`` paths.
        """
        if self.adjoint(node) is None:
            raise ValueError(f"{node.name!r} does not depend on a differentiable input: no gradient flows")
        total = self.path_count(node)
        if total > limit:
            raise PathLimitError(f"{node.name!r} reaches the output by {count_text(total)} paths, more "
                                 f"than limit={limit}; pass a larger limit to enumerate them all")
        found = self._contributions.get(node.index)
        if found is None:
            found = self._contributions[node.index] = self._enumerate(node)
        return list(found)

    def _enumerate(self, node: Node) -> tuple[Contribution, ...]:
        dag, adjoints, values = self._dag, self._adjoints, self._values
        out = dag.output
        if node is out:
            return (Contribution((), self._seed),)
        on_path = dag.descendants(node)
        found: list[tuple[tuple[tuple[int, int], ...], Contribution]] = []
        # Depth-first from the output back to node; a stack, not recursion. ``link`` is the path so
        # far as a linked list (edge, message, rest), so extending it costs O(1).
        stack: list[tuple[Node, np.ndarray, tuple | None]] = [(out, self._seed, None)]
        while stack:
            n, g, link = stack.pop()
            if n is node:
                path, msgs = [], []
                while link is not None:
                    path.append(link[0])
                    msgs.append(link[1])
                    link = link[2]
                key = tuple((e.dst.index, e.argnum) for e in path)
                found.append((key, Contribution(tuple(path), g, tuple(msgs))))
                continue
            whole = g is adjoints[n.index]  # the only way back: the pass's messages are this path's
            args = None if whole else [e.src.value for e in n.in_edges]
            for e in n.in_edges:
                if e.src in on_path:
                    m = values[e.index] if whole else message(e, g, args)
                    if m is not None:
                        stack.append((e.src, m, (e, m, link)))
        found.sort(key=lambda kv: kv[0])
        return tuple(c for _, c in found)

    def __repr__(self) -> str:
        n_msgs = sum(1 for v in self._values if v is not None)
        return f"<BackwardPass {len(self._order)} steps, {n_msgs} messages>"


def _paths_to_output(dag: DAG) -> list[int]:
    """For each node (by index), how many distinct edge paths lead from it to the output: one sweep
    in reverse trace order, each node's count the sum of its consumers' over its outgoing edges
    (``x * x`` counts twice)."""
    counts = [0] * len(dag.nodes)
    counts[dag.output.index] = 1
    for n in reversed(dag.nodes[:dag.output.index]):
        c = 0
        for e in n.out_edges:
            c += counts[e.dst.index]
        counts[n.index] = c
    return counts


def contributions(dag: DAG, node: Node, limit: int = PATH_LIMIT) -> list[Contribution]:
    """``BackwardPass.contributions`` of the pass attached to ``dag`` (see ``DAG.attach``)."""
    bp = dag.backward_pass
    if bp is None:
        raise ValueError("no backward pass is attached to this graph: run backward(dag) and attach it")
    return bp.contributions(node, limit)
