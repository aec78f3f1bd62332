"""The facade users hold: ``trace()`` and the ``Graph`` it returns, composing trace and backward."""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from .drawing import render as _render
from .drawing.annotate import annotate
from .drawing.options import DrawOptions, describe
from .drawing.page import caption, frame, page
from .drawing.scene import Scene
from .drawing.walkthrough import Walk, walk
from .files import check_output_path, write_atomic, write_files
from .claims import ClaimVerdict, Derivation, check_claim, derivation
from .symbolic.formulas import Formula, SymbolicPass
from .backward import PATH_LIMIT, BackwardPass, Contribution, backward
from .floating import told
from .dot import DEFAULT_TIMEOUT
from .errors import TraceError
from .graph import DAG, Edge, Node
from .limits import DEFAULT_MEMORY_LIMIT, parse_size
from .tracer import pick_output, plain, record

__all__ = ["Drawing", "Graph", "evaluate", "trace"]


#: trace()'s own keywords. An input with one of these names must be passed in the mapping.
TRACE_KEYWORDS = ("seed", "memory_limit", "output")
_DEFAULTS = {"seed": None, "memory_limit": DEFAULT_MEMORY_LIMIT, "output": None}
_MEANINGS = {"seed": "output cotangent", "memory_limit": "memory limit", "output": "choice of the loss"}


def trace(fn: Callable[..., Any], inputs: Mapping[str, Any] | None = None, /, *, seed: Any = None,
          memory_limit: int | str | None = DEFAULT_MEMORY_LIMIT, output: Any = None, **kw_inputs: Any) -> Graph:
    """Trace ``fn(**inputs)`` written with plain NumPy, and run the backward pass keeping every message.

    Inputs are given as keywords (``trace(loss, W=W, x=x)``) or as a mapping (``trace(loss, {"W": W,
    "x": x})``), which also takes names that are trace()'s own keywords, such as ``seed``. Each
    becomes an input node named by its key; ``fn`` is called with traced stand-ins under the same
    keywords. For a non-scalar output, ``seed`` is the output's cotangent (same shape).
    ``memory_limit`` (bytes, or text like ``"512M"``; None for no limit) bounds the arrays the trace
    creates: an op whose result would go over it is refused before NumPy allocates it. When ``fn``
    returns several values (``return loss, grads``), ``output`` (an index, or a key of a dict) says
    which is the loss; the rest, with arrays for traced values, is kept as ``Graph.extra``.

    >>> import numpy as np
    >>> g = trace(lambda x: np.sum(x * x), x=np.array([1.0, 2.0]))
    >>> g.value, g.grad("x")
    (np.float64(5.0), array([2., 4.]))
    """
    if not callable(fn):
        raise TypeError(f"trace() needs a function first, got {type(fn).__name__}")
    if inputs is not None and not isinstance(inputs, Mapping):
        raise TypeError(f"trace()'s inputs must be a mapping of names to arrays, got {type(inputs).__name__}")
    given = dict(inputs or {})
    twice = sorted(set(given) & set(kw_inputs))
    if twice:
        raise TraceError(f"input {twice[0]!r} is given both in the mapping and as a keyword")
    given.update(kw_inputs)
    if inputs is None:
        _check_keyword_clash(fn, given, seed=seed, memory_limit=memory_limit, output=output)
    limit = None if memory_limit is None else parse_size(memory_limit)
    rest: list[Any] = [None]
    if output is not None:
        user_fn = fn

        @functools.wraps(user_fn)
        def fn(**values: Any) -> Any:  # the loss from what the user's function returns
            loss, rest[0] = pick_output(user_fn(**values), output, getattr(user_fn, "__name__", "the function"))
            return loss

    with _collector_paused(), told():  # (NumPy's warnings at the user's line, not graphviz_bp's)
        dag = record(fn, given, memory_limit=limit)
        bp = backward(dag, seed)
    return Graph(dag, bp, extra=plain(rest[0]), name=getattr(fn, "__name__", ""))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a trace and its backward pass run: every node and edge
    refers to the other, so on a graph of 50,000 nodes the collector would walk them again and again
    (a fifth to two fifths of the trace); they are freed with the graph, collected as usual after.
    The objects made meanwhile are then moved to the oldest generation unscanned (``gc.freeze`` and
    ``gc.unfreeze``, unless the program has frozen objects of its own): a later full collection
    looks at them, as it would after they had survived the younger ones."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if not gc.get_freeze_count():  # (a program that freezes objects itself keeps them frozen)
                # what was made meanwhile goes to the oldest generation without a scan: else the first
                # allocation after enable() scans it all at once (a seventh of a 10,000-layer trace)
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _check_keyword_clash(fn: Callable[..., Any], inputs: dict[str, Any], **options: Any) -> None:
    """Refuse a call where one of trace()'s keywords may have been meant as an input: ``fn`` has a
    parameter of that name which no input fills."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    for key in TRACE_KEYWORDS:
        p = params.get(key)
        if p is None or key in inputs or p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        given = options[key] is not _DEFAULTS[key]
        if not given and p.default is not p.empty:
            continue  # the function's own default is used: nothing is ambiguous
        how = "was given to trace()" if given else "is trace()'s own keyword"
        name = getattr(fn, "__name__", "the function")
        raise TraceError(f"{name}() takes an input named {key!r}, but {key}= {how} (its "
                        f"{_MEANINGS[key]}); pass the inputs as a mapping instead: "
                        f"trace({name}, {{{key!r}: ..., ...}})")


MAX_FRAMES = 300  # frames written at most unless asked for more (each is a run of Graphviz)


class Graph:
    """A traced computation with its backward pass: values, messages, adjoints, per-path contributions.

    The Graph owns one ``BackwardPass`` over its DAG and attaches it to the DAG once, here (see
    ``DAG.attach``), so that ``Node.adjoint`` and ``Edge.message`` read it; the pass itself never
    changes the DAG.
    """

    def __init__(self, dag: DAG, backward_pass: BackwardPass, extra: Any = None, name: str = "") -> None:
        self._dag = dag
        self._pass = backward_pass
        self._extra = extra
        self.name = name if name and not name.startswith("<") else ""  # the traced function's (a title)
        dag.attach(backward_pass)
        dag.attach_formulas(lambda: SymbolicPass(dag, backward_pass))

    @property
    def extra(self) -> Any:
        """What the traced function returned besides the loss picked with ``trace(..., output=)``
        (its other tuple items, or dict entries), with arrays for traced values; None otherwise."""
        return self._extra

    @property
    def backward_pass(self) -> BackwardPass:
        """The backward pass: a ``Message`` per edge, an adjoint per node, the steps in order."""
        return self._pass

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

    def formula(self, name: str | Node, limit: int = PATH_LIMIT) -> Formula:
        """∂output/∂node as a formula with one term per path from the node to the output (``.terms``,
        each with its ``.path``), every term evaluated and checked against the numeric contribution
        at the traced values and at fresh inputs near them (``.verified``; ``.why`` says what
        failed). ``.text`` is Unicode (``(Wx) rᵀ + (Wr) xᵀ``), ``.latex`` LaTeX, ``.expr`` the
        expression language in the inputs only (``gb.evaluate(f.expr, **inputs)``), ``.where()``
        the named intermediates it uses. Takes any name ``grad`` takes; at most ``limit`` paths."""
        node = self._dag.node(name)
        self.grad(node)  # the same refusal when no gradient flows
        return self._dag.formulas.formula(node, limit)

    def check_claim(self, name: str | Node, claim: str) -> ClaimVerdict:
        """Check a claimed ∂output/∂node, written in the expression language in the inputs (and the
        named intermediates, e.g. ``"W @ outer(r, x)"``), at the traced inputs and at fresh ones. The
        verdict (``.ok``, ``.kind``, ``.message``) says it is correct, or what is wrong with it: the
        path(s) it misses ("the path through Wᵀ adds (Wx) rᵀ"), a wrong sign, a constant factor, a
        transpose, a wrong shape, or the entry that disagrees most."""
        node = self._dag.node(name)
        self.grad(node)
        return check_claim(self._dag.formulas, node, claim, lambda text, env: evaluate(text, **env))

    def derivation(self, name: str | Node, limit: int = PATH_LIMIT) -> Derivation:
        """∂output/∂node written out, as ``graphviz-bp derive`` prints it: the ``formula`` (one
        verified term per path), the value each term's path first goes through (``through``, e.g.
        ``"Wᵀ"``; ``through_latex``), and the named intermediates it uses with their definitions
        (``where``, ``where_latex``: ``(("r", "WᵀWx − x"),)``). At most ``limit`` paths."""
        node = self._dag.node(name)
        self.grad(node)
        return derivation(self._dag.formulas, node, limit)

    def grad(self, name: str | Node) -> np.ndarray:
        """∂output/∂node (the seed-weighted VJP for a non-scalar output), shaped like the node."""
        node = self._dag.node(name)
        adjoint = self._pass.adjoint(node)
        if adjoint is None:
            why = ("it has an integer or boolean dtype" if node.kind == "input"
                   else "it does not depend on a differentiable input")
            raise TraceError(f"{node.name!r} has no gradient: {why}")
        return adjoint

    def contributions(self, name: str | Node, limit: int = PATH_LIMIT) -> list[Contribution]:
        """One Contribution per distinct path from the node to the output; they sum to ``grad(name)``."""
        return self._pass.contributions(self._dag.node(name), limit)

    # drawing ---------------------------------------------------------------------------------------
    def draw(self, **options: Any) -> Drawing:
        return Drawing(self._dag, DrawOptions.from_keywords(self._dag.inputs, **options), self.name)

    draw.__doc__ = f"""A drawing of this graph with the given options (see ``Drawing``); displays in Jupyter.

        A bad value, or a ``data`` name that is not an input, is refused here (ValueError, naming
        what is accepted); an unknown option is a TypeError. The options, all keywords:

{describe(" " * 8)}
        """

    def to_dot(self, **options: Any) -> str:
        """DOT source of the drawing (options as for ``draw``); needs no Graphviz installed."""
        return self.draw(**options).to_dot()

    def pipe(self, format: str = "svg", *, timeout: float | None = DEFAULT_TIMEOUT,
             progress: Callable[[str], None] | None = None, **options: Any) -> bytes:
        """The drawing rendered by Graphviz: ``format`` is svg, pdf, png or dot. ``timeout`` (seconds,
        None for none) limits Graphviz's layout; ``progress`` is called with a line of text now and
        then while a large layout runs."""
        return self.draw(**options).pipe(format, timeout=timeout, progress=progress)

    def render(self, path: str | os.PathLike[str], format: str | None = None, *,
               timeout: float | None = DEFAULT_TIMEOUT, progress: Callable[[str], None] | None = None,
               **options: Any) -> Path:
        """Write the drawing to ``path`` (format from the suffix: .svg .pdf .png .dot), atomically; a
        device, pipe or symlink's target is written in place. ``timeout`` and ``progress`` as for ``pipe``."""
        return self.draw(**options).render(path, format, timeout=timeout, progress=progress)

    def interactive(self, **options: Any) -> Interactive:
        """The backward pass as an interactive page (options as for ``draw``): step through it, click
        a value for its paths to the output, an edge for its message. Displays inline in Jupyter
        (no extension needed); ``.save("page.html")`` writes it, as ``render("page.html")`` does."""
        return Interactive(self.draw(**options).html())

    def frames(self, directory: str | os.PathLike[str], format: str = "svg", *, limit: int | None = MAX_FRAMES,
               timeout: float | None = DEFAULT_TIMEOUT, progress: Callable[[str], None] | None = None,
               **options: Any) -> list[Path]:
        """One picture per step of the backward pass, for slides: ``step-0.svg`` (the forward pass),
        ``step-1.svg``, ... in ``directory`` (made if missing), each complete and laid out exactly as
        the others, and ``steps.txt`` saying what each step does. ``format``: svg, png or pdf. A pass
        of more than ``limit`` steps (None: no limit) is refused before anything is drawn: each
        frame is a run of Graphviz."""
        return self.draw(**options).frames(directory, format, limit=limit, timeout=timeout, progress=progress)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, str]:
        return self.draw()._repr_mimebundle_(include, exclude)

    def __repr__(self) -> str:
        n_ops = sum(1 for n in self.nodes if n.kind == "op")
        return (f"<Graph {n_ops} ops, inputs {', '.join(self._dag.inputs) or 'none'}; "
                f"output shape {self.output.shape}>")


class Drawing:
    """A Graph drawn with fixed options: DOT source, rendered bytes and files, Jupyter display (SVG)."""

    def __init__(self, dag: DAG, options: DrawOptions, title: str = "") -> None:
        self._dag = dag
        self.options = options
        self.title = title
        self._source: str | None = None

    def scene(self) -> Scene:
        """What is drawn, as plain data (nodes, edges, their texts, classes and tooltips)."""
        with _collector_paused():
            return annotate(self._dag, self.options)

    def to_dot(self) -> str:
        if self._source is None:
            with _collector_paused():  # the Scene and the DOT text add objects by the hundred thousand
                self._source = _render.to_dot(self.scene())
        return self._source

    def pipe(self, format: str = "svg", *, timeout: float | None = DEFAULT_TIMEOUT,
             progress: Callable[[str], None] | None = None) -> bytes:
        """Rendered by Graphviz (see ``Graph.pipe``); ``html``: the interactive page."""
        if format.lower() == "html":
            return self.html(timeout=timeout, progress=progress).encode("utf-8")
        return _render.pipe(self.to_dot(), format, timeout=timeout, progress=progress)

    def render(self, path: str | os.PathLike[str], format: str | None = None, *,
               timeout: float | None = DEFAULT_TIMEOUT, progress: Callable[[str], None] | None = None) -> Path:
        """Written to ``path`` (see ``Graph.render``); a .html file is the interactive page."""
        fmt = (format or Path(path).suffix.lstrip(".")).lower()
        if fmt in ("html", "htm"):
            target = check_output_path(path)
            return write_atomic(target, self.html(timeout=timeout, progress=progress).encode("utf-8"))
        return _render.render(self.to_dot(), path, format, timeout=timeout, progress=progress)

    def _walk(self) -> tuple[Scene, Walk]:
        with _collector_paused():
            scene = annotate(self._dag, self.options)
            return scene, walk(self._dag, scene, self.title, self.options.data)

    def html(self, *, timeout: float | None = DEFAULT_TIMEOUT, progress: Callable[[str], None] | None = None) -> str:
        """The interactive page: one self-contained HTML file (see ``Graph.interactive``)."""
        scene, steps = self._walk()
        svg = _render.pipe(_render.to_dot(scene), "svg", timeout=timeout, progress=progress).decode("utf-8")
        return page(svg, scene, steps, self.options.theme)

    def frames(self, directory: str | os.PathLike[str], format: str = "svg", *, limit: int | None = MAX_FRAMES,
               timeout: float | None = DEFAULT_TIMEOUT, progress: Callable[[str], None] | None = None) -> list[Path]:
        """One picture per step (see ``Graph.frames``)."""
        fmt = format.lower()
        if fmt not in ("svg", "png", "pdf"):
            raise ValueError(f"frames are written as svg, png or pdf, not {format!r}")
        scene, steps = self._walk()
        if limit is not None and len(steps.steps) + 1 > limit:
            raise ValueError(f"the backward pass has {len(steps.steps)} steps: {len(steps.steps) + 1} frames, more "
                             f"than limit={limit} (each is a run of Graphviz); frames are for slides of a small "
                             f"graph: step through a large one in its interactive page (.html), or pass limit=None")
        files: dict[str, bytes] = {}
        width = len(str(len(steps.steps)))
        for k in range(len(steps.steps) + 1):
            source = _render.to_dot(frame(scene, steps, k, self.options.theme))
            files[f"step-{k:0{width}d}.{fmt}"] = _render.pipe(source, fmt, timeout=timeout, progress=progress)
        files["steps.txt"] = "".join(f"step-{k:0{width}d}.{fmt}: {caption(steps, k)}\n"
                                     for k in range(len(steps.steps) + 1)).encode("utf-8")
        return write_files(directory, files)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, str]:
        renderers: dict[str, Callable[[], str]] = {
            "image/svg+xml": lambda: self.pipe("svg").decode("utf-8"), "text/plain": lambda: repr(self)}
        wanted = [k for k in renderers if (not include or k in include) and not (exclude and k in exclude)]
        return {k: renderers[k]() for k in wanted}  # Graphviz runs only when the SVG is wanted

    def __repr__(self) -> str:
        o = self.options
        return (f"<Drawing of {len(self._dag.nodes)} nodes: direction={o.direction}, detail={o.detail}, "
                f"theme={o.theme}, data={list(o.data)}>")


def evaluate(expr: str, /, **inputs: Any) -> Any:
    """The value of ``expr``, written in the CLI's expression language (``"W @ outer(r, x)"``, a
    ``Formula.expr``), at ``inputs``; the text is parsed and interpreted, never run as Python. Longer
    texts than on the command line are accepted (a formula may run to many terms), nested at most
    150 levels (``Formula.evaluate`` has no such limit).

    >>> import numpy as np
    >>> evaluate("W.T @ x", W=np.eye(2), x=np.array([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    from .expr.check import FORMULA_LIMITS, parse

    return parse(expr, limits=FORMULA_LIMITS).evaluate(inputs)


class Interactive:
    """The interactive page of a Graph (``Graph.interactive``): ``html`` is the page; in Jupyter it
    displays inline, in a frame of its own, so its script runs without any notebook extension."""

    def __init__(self, html: str) -> None:
        self.html = html

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` (atomically)."""
        return write_atomic(check_output_path(path), self.html.encode("utf-8"))

    def _repr_html_(self) -> str:
        import html as _html

        return (f'<iframe srcdoc="{_html.escape(self.html, quote=True)}" style="width:100%;height:720px;'
                f'border:1px solid #ddd" sandbox="allow-scripts" title="backward pass, step by step"></iframe>')

    def __repr__(self) -> str:
        return f"<Interactive page, {len(self.html.encode('utf-8')) // 1024} KB>"
