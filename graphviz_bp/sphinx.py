"""Sphinx extension: the ``backprop-graph`` directive, for reStructuredText and MyST Markdown.

Add ``"graphviz_bp.sphinx"`` to ``extensions`` in conf.py. The directive traces an expression (the
CLI's language) or a function, and hands the DOT to ``sphinx.ext.graphviz``, which renders it at
build time: SVG (or PNG) files for HTML, PDF for LaTeX, named by a hash of the source so that
unchanged diagrams are not rendered again. Errors become located Sphinx warnings, never a crash.

.. code-block:: rst

    .. backprop-graph:: 0.5*sum((W.T@W@x - x)**2)
       :inputs: W=3x5 x=5
       :caption: Two paths to W

``:interactive:`` adds the interactive page (stepping through the backward pass, see
``Graph.interactive``) under the picture: ``:interactive: embed`` (or no value) embeds it in the
page, ``:interactive: link`` links to it. HTML builders only; each page is a file of its own under
``_interactive/`` in the output, written when the build finishes.

Graphviz runs under a time limit (``:timeout:`` seconds, default ``backprop_graph_timeout`` in
conf.py, 300) and a trace under a memory limit (``:memory-limit:``, default
``backprop_graph_memory_limit``, 1G). The user's code failing, or calling ``sys.exit``, is a
located warning like any other.
"""

from __future__ import annotations

import ast
import hashlib
import html
import logging as std_logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.ext.graphviz import figure_wrapper, graphviz
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from . import __version__
from .drawing.options import OPTIONS as DRAWING_OPTIONS
from .api import Graph, trace
from .dot import DEFAULT_TIMEOUT, wrapper
from .errors import GraphvizBPError, MemoryLimitError, OutputChoiceError
from .files import write_atomic
from .frontend import InputError, call_user, parse_inputs, resolve
from .limits import DEFAULT_MEMORY_LIMIT, parse_size

__all__ = ["BackpropGraph", "setup"]

logger = logging.getLogger(__name__)


def _size(argument: str | None) -> int:
    try:
        return parse_size(directives.unchanged_required(argument))
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def _seconds(argument: str | None) -> float | None:
    """Seconds, or 0 / none for no limit."""
    text = directives.unchanged_required(argument).strip().lower()
    if text in ("0", "none", "off"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a number of seconds") from None
    if not 0 < seconds < float("inf"):
        raise ValueError(f"{text[:40]!r} is not a positive number of seconds (0 for no limit)")
    return seconds


def _choice(values: Any) -> Any:
    """An option validator accepting ``values`` in any letter case, giving the canonical spelling."""
    canonical = {v.lower(): v for v in values}

    def validate(argument: str) -> str:
        return canonical[directives.choice(argument, tuple(canonical))]
    return validate


def _level(option: Any) -> Any:
    """An option validator for a number of levels or one of ``option``'s choices (``:depth: 2``)."""
    def validate(argument: str | None) -> Any:
        return option.check((argument or "").strip().lower())
    return validate


class BackpropGraph(SphinxDirective):
    """``.. backprop-graph:: EXPR`` or ``.. backprop-graph::`` with ``:function: module:function``."""

    has_content = False
    optional_arguments = 1
    final_argument_whitespace = True
    option_spec = {
        "function": directives.unchanged_required,
        "inputs": directives.unchanged,
        "seed": directives.nonnegative_int,
        "loss": directives.unchanged_required,
        "caption": directives.unchanged,
        "alt": directives.unchanged,
        # the drawing options, from their declaration (a list of names is one text: "x, y" or "x y")
        **{o.name: _level(o) if o.type is int else _choice(o.spellings) if o.choices else directives.unchanged
           for o in DRAWING_OPTIONS},
        "name": directives.unchanged,
        "class": directives.class_option,
        "align": _choice(("left", "center", "right")),
        "timeout": _seconds,
        "memory-limit": _size,
        "derivation": directives.unchanged,
        "interactive": lambda argument: _choice(("embed", "link"))(argument or "embed"),
    }

    def run(self) -> list[nodes.Node]:
        try:
            graph, label = self._graph()
            drawing = {o.name: self.options[o.name] for o in DRAWING_OPTIONS if o.name in self.options}
            if "data" in drawing:  # one text: "x, y" or "x y"
                drawing["data"] = drawing["data"].replace(",", " ").split()
            dot = graph.to_dot(**drawing)  # the declared defaults for the rest
            page = self._page(graph, drawing, label) if "interactive" in self.options else []
        except MemoryLimitError as exc:
            return self._warn(" ".join(exc.explain(":memory-limit:").split()))
        except OutputChoiceError as exc:
            return self._warn(" ".join(exc.explain(":loss: ").split()))
        except (GraphvizBPError, ValueError, TypeError, LookupError, ArithmeticError) as exc:
            return self._warn(" ".join(str(exc).split()) or type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a directive must never stop the build
            return self._warn(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")

        node = graphviz()
        # where the directive is (an included file's line too), as a comment in the source:
        # sphinx.ext.graphviz warns of a failed dot with the source alone
        source, line = self.get_source_info()  # (an included file's, relative to the working directory)
        place = " ".join(f"{os.path.abspath(source)}:{line}".split()) if source else ""
        node["code"] = dot.replace(_HEAD, f"{_HEAD}\t// {_PLACE}{place}\n", 1) if place else dot
        timeout = self.options.get("timeout", self.config.backprop_graph_timeout)
        # sphinx.ext.graphviz runs dot itself, with no time limit: it runs our wrapper instead
        node["options"] = {"docname": self.env.docname, "graphviz_dot": str(wrapper(
            Path(self.env.doctreedir) / "graphviz_bp", timeout, self.config.graphviz_dot))}
        node["alt"] = html.escape(self.options.get("alt") or f"Backpropagation graph of {label}")
        if "align" in self.options:
            node["align"] = self.options["align"]
        node["classes"] = ["backprop-graph", *self.options.get("class", [])]
        math = self._derivation(graph) if "derivation" in self.options else []
        if "caption" not in self.options:
            self.add_name(node)
            return [node, *page, *math]
        figure = figure_wrapper(self, node, self.options["caption"])
        self.add_name(figure)
        return [figure, *page, *math]

    def _page(self, graph: Graph, drawing: dict[str, Any], label: str) -> list[nodes.Node]:
        """The interactive page, kept in the environment (written at the end of the build) and
        embedded in an iframe or linked; raw HTML, which only HTML builders show."""
        d = graph.draw(**drawing)
        d.title = label
        text = d.html(timeout=self.options.get("timeout", self.config.backprop_graph_timeout))
        name = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] + ".html"
        pages = getattr(self.env, "graphviz_bp_pages", None)
        if pages is None:
            pages = self.env.graphviz_bp_pages = {}  # type: ignore[attr-defined]
        pages.setdefault(self.env.docname, {})[name] = text
        up = "../" * self.env.docname.count("/")
        src = f"{up}{PAGES}/{name}"
        title = html.escape(f"the backward pass of {label}, step by step")
        if self.options["interactive"] == "link":
            markup = (f'<p class="backprop-interactive"><a href="{src}">Step through the backward pass ▶</a> '
                      f'(an interactive page: arrow keys, click a value for its paths)</p>')
        else:
            markup = (f'<iframe class="backprop-interactive" src="{src}" title="{title}" loading="lazy" '
                      f'style="width:100%;height:640px;border:1px solid #ddd"></iframe>\n'
                      f'<p class="backprop-interactive"><a href="{src}">open it on a page of its own</a></p>')
        return [nodes.raw("", markup, format="html")]

    def _derivation(self, graph: Graph) -> list[nodes.Node]:
        """``:derivation: W x`` (empty: every parameter): each gradient as LaTeX math, one term per
        path under a brace naming the path, then the named intermediates; only verified formulas."""
        names = self.options["derivation"].replace(",", " ").split() or \
            [n for n, node in graph.inputs.items() if node.differentiable]
        out: list[nodes.Node] = []
        for name in names:
            try:
                d = graph.derivation(name)
            except (GraphvizBPError, KeyError) as exc:
                return self._warn(f":derivation: {name}: {' '.join(str(exc).split())}")
            if not d.verified:
                self._warn(f":derivation: the formula for ∂L/∂{name} is not shown: {d.formula.why}")
                continue
            terms = d.formula.terms
            parts = [t.latex if len(terms) == 1 else f"\\underbrace{{{t.latex}}}_{{\\text{{through }} {through}}}"
                     for t, through in zip(terms, d.through_latex)]
            latex = f"\\frac{{\\partial L}}{{\\partial {d.name_latex}}} = " + " + ".join(parts)
            if d.where_latex:
                latex += " \\qquad \\text{where } " + ", \\quad ".join(f"{n} = {v}" for n, v in d.where_latex)
            out.append(nodes.math_block(latex, latex, nowrap=False, number=None))
        return out

    def _graph(self) -> tuple[Graph, str]:
        expression = self.arguments[0] if self.arguments else None
        function = self.options.get("function")
        if bool(expression) == bool(function):
            raise InputError("give either an expression as the argument or a :function: option, not "
                             + ("both" if expression else "neither"))
        doc_dir = Path(self.env.doc2path(self.env.docname)).parent
        items = self.options.get("inputs", "").split()
        limit = self.options.get("memory-limit") or parse_size(self.config.backprop_graph_memory_limit)
        inputs = parse_inputs(items, self.options.get("seed", 0), base=doc_dir, memory_limit=limit)
        for item in items:  # a changed data file must re-read this document
            if "=@" in item:
                self.env.note_dependency(str(doc_dir / item.split("=@", 1)[1].split(":")[0]))
        target = resolve(function or expression or "", allow_files=False, allow_modules=bool(function))
        if function:
            module = sys.modules.get(function.split(":")[0])
            if module is not None and getattr(module, "__file__", None):
                self.env.note_dependency(module.__file__)
        missing = target.missing(inputs)
        if missing:
            raise InputError(f"no input for {', '.join(missing)}: add them to :inputs:, e.g. "
                             + " ".join(f"{n}=3x5" for n in missing))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # inf/nan show in the drawing itself
            if function and not inputs and target.needs == []:
                made = call_user(target.fn)
                if isinstance(made, Graph):
                    return made, target.label
                raise InputError(f"{target.label}() returned {type(made).__name__}; a function without "
                                 f"inputs must return a graphviz_bp.Graph (else give :inputs:)")
            loss = self.options.get("loss")
            if loss is not None and loss.lstrip("-").isdigit():
                loss = int(loss)  # an index; other text is a dict key
            return call_user(trace, target.fn, inputs, memory_limit=limit, output=loss), target.label

    def _warn(self, message: str) -> list[nodes.Node]:
        logger.warning(f"backprop-graph: {message}", location=self.get_location(), type="backprop_graph")
        return []


def _prefer_svg(app: Sphinx, config: Config) -> None:
    """SVG keeps the diagrams' tooltips; use it unless conf.py chose a format."""
    if "graphviz_output_format" not in getattr(config, "_raw_config", {}):
        config.graphviz_output_format = "svg"


class _ShortDotWarnings(std_logging.Filter):
    """sphinx.ext.graphviz warns about a failed dot with the whole DOT source (kilobytes) and no
    place; for our diagrams, keep only dot's (or our wrapper's) one-line reason, at the document and
    line of the directive that made that source (a comment in it says where)."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str) \
                and args[0].startswith("digraph backprop {"):
            record.msg, record.args = "backprop-graph: %s", (_dot_reason(args[1]),)
            head = args[0].split("\n", 2)[1] if args[0].count("\n") >= 2 else ""
            if head.startswith(f"\t// {_PLACE}") and getattr(record, "location", None) is None:
                record.location = head[len(_PLACE) + 4:]  # type: ignore[attr-defined]
        return True


_HEAD = "digraph backprop {\n"  # a drawing's first line
_PLACE = "backprop-graph at "  # the comment after it, saying where its directive is


def _dot_reason(error: object) -> str:
    """The first line dot wrote on stderr, from sphinx.ext.graphviz's error text."""
    text = str(error)
    head, _, rest = text.partition("[stderr]\n")
    reason = head.strip()
    if rest:
        try:
            stderr = ast.literal_eval(rest.partition("\n[stdout]")[0])
            reason = " ".join(bytes(stderr).decode("utf-8", "replace").split())
        except (ValueError, SyntaxError, TypeError):
            pass
    return (reason or "dot failed")[:300]


PAGES = "_interactive"  # the interactive pages' folder in an HTML build's output


def _purge_pages(app: Sphinx, env: Any, docname: str) -> None:
    getattr(env, "graphviz_bp_pages", {}).pop(docname, None)


def _merge_pages(app: Sphinx, env: Any, docnames: set[str], other: Any) -> None:
    pages = getattr(env, "graphviz_bp_pages", None)
    if pages is None:
        pages = env.graphviz_bp_pages = {}
    pages.update({d: p for d, p in getattr(other, "graphviz_bp_pages", {}).items() if d in docnames})


def _write_pages(app: Sphinx, exception: BaseException | None) -> None:
    """Write the interactive pages of every document into ``_interactive/`` (HTML builders)."""
    if exception is not None or app.builder.format != "html":
        return
    pages = getattr(app.env, "graphviz_bp_pages", {})
    if not any(pages.values()):
        return
    folder = Path(app.outdir) / PAGES
    folder.mkdir(parents=True, exist_ok=True)
    for per_doc in pages.values():
        for name, text in per_doc.items():
            target = folder / name
            if not target.exists():  # named by a hash of the text: an existing file is this one
                write_atomic(target, text.encode("utf-8"))


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.graphviz")
    app.add_config_value("backprop_graph_timeout", DEFAULT_TIMEOUT, "env", types=frozenset({int, float, type(None)}))
    app.add_config_value("backprop_graph_memory_limit", DEFAULT_MEMORY_LIMIT, "env", types=frozenset({int, str}))
    app.add_directive("backprop-graph", BackpropGraph)
    app.connect("config-inited", _prefer_svg)
    app.connect("env-purge-doc", _purge_pages)
    app.connect("env-merge-info", _merge_pages)
    app.connect("build-finished", _write_pages)
    graphviz_logger = std_logging.getLogger("sphinx.sphinx.ext.graphviz")
    if not any(isinstance(f, _ShortDotWarnings) for f in graphviz_logger.filters):
        graphviz_logger.addFilter(_ShortDotWarnings())
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
