"""The public surface: what ``graphviz_bp`` exports, and that the package ships its type marker."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import re

import pytest

import graphviz_bp
from graphviz_bp import api, backward, claims, errors, functions, graph, limits
from graphviz_bp.drawing import folded, options, scene, text
from graphviz_bp.ops import _broadcast

ROOT = pathlib.Path(__file__).resolve().parent.parent
check = importlib.import_module("graphviz_bp.check")  # the module; graphviz_bp.check is the function


def test_exported_names_are_what_we_mean_to_export():
    assert graphviz_bp.__all__ == sorted(graphviz_bp.__all__)
    assert set(graphviz_bp.__all__) == {
        "BackwardCheck", "BackwardPass", "CheckResult", "ClaimVerdict", "Contribution", "Drawing", "InputCheck", "Interactive", "check", "check_backward", "Edge", "Formula", "Term", "evaluate", "GradientMatchError", "Graph", "GraphvizBPError", "GraphvizNotFoundError", "MemoryLimitError",
        "Message", "Node", "NonScalarOutputError", "OpError", "PathLimitError", "RenderError", "RenderTimeoutError",
        "Scope", "ShapeError", "Step", "TraceError", "UnknownNodeError", "UnsupportedOpError", "UserCodeError",
        "__version__", "group", "log_softmax", "logsumexp", "name", "put_along_axis", "relu", "sigmoid", "softmax", "supported", "swish", "trace",
    }
    for name in graphviz_bp.__all__:
        assert hasattr(graphviz_bp, name)


def test_errors_share_one_base_and_a_builtin():
    for name, builtin in [("ShapeError", ValueError), ("UnsupportedOpError", NotImplementedError),
                          ("TraceError", TypeError), ("NonScalarOutputError", ValueError), ("OpError", ValueError),
                          ("PathLimitError", ValueError), ("UnknownNodeError", KeyError),
                          ("GraphvizNotFoundError", RuntimeError), ("RenderError", RuntimeError),
                          ("RenderTimeoutError", RuntimeError), ("MemoryLimitError", MemoryError),
                          ("UserCodeError", RuntimeError), ("GradientMatchError", ValueError)]:
        cls = getattr(graphviz_bp, name)
        assert issubclass(cls, graphviz_bp.GraphvizBPError) and issubclass(cls, builtin)


def test_version_matches_pyproject_and_py_typed_ships():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1) == graphviz_bp.__version__
    assert (ROOT / "graphviz_bp" / "py.typed").is_file()
    assert 'graphviz_bp = ["py.typed", "drawing/assets/*"]' in pyproject


def test_every_subpackage_ships():
    """A wheel holds the packages pyproject lists, not the ones on disk: each must be listed."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "graphviz_bp").rglob("__init__.py")}
    assert on_disk - listed == set()


@pytest.mark.parametrize("module", [api, backward, check, claims, folded, functions, _broadcast, errors, graph, limits,
                                    options, scene, text],
                         ids=lambda m: m.__name__)
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_each_library_is_imported_by_one_stage_only():
    """Data flows one way: only the drawing stage's render imports graphviz, only cli click, only
    sphinx Sphinx/docutils; the core (graph, ops, tracer, backward) imports neither the drawing stage
    nor a front end; the drawing stage imports no tracer and no front end, and its render reads only
    the Scene (never the graph or annotate); the expression language (a front end's, package
    ``expr``) imports the core and the activations, never the drawing stage or another front end."""
    import ast

    owners = {"graphviz": {"drawing/render.py"}, "click": {"cli/app.py", "cli/params.py", "cli/commands.py"},
              "sphinx": {"sphinx.py"}, "docutils": {"sphinx.py"}, "pydot": set()}
    core = {"graph.py", "tracer.py", "traced.py", "indices.py", "writes.py", "buffers.py", "vectorized.py", "scopes.py",
            "backward.py",
            "errors.py"}
    front = {"drawing", "annotate", "render", "api", "cli", "expr", "frontend", "sphinx", "gallery", "check",
             "symbolic"}  # the core does not import the stages after it
    symbolic_may = {"graph", "ops", "backward", "errors", "indices"}
    drawing_may = {"graph", "backward", "ops", "errors", "dot", "files", "symbolic", "scopes"}
    render_may = {"scene", "text", "dot", "files", "errors"}
    expr_may = {"tracer", "ops", "graph", "errors", "functions", "limits"}
    package = ROOT / "graphviz_bp"
    drawing = sorted(p.name for p in (package / "drawing").glob("*.py"))
    assert {"__init__.py", "annotate.py", "options.py", "render.py", "scene.py", "text.py"} <= set(drawing)
    expr = sorted(p.name for p in (package / "expr").glob("*.py"))
    assert {"__init__.py", "check.py", "interpret.py", "language.py", "source.py"} <= set(expr)
    for path in package.rglob("*.py"):
        where = path.relative_to(package).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [("." * node.level) + node.module]
            elif isinstance(node, ast.ImportFrom):  # from . import annotate
                names = [("." * node.level) + a.name for a in node.names]
            else:
                continue
            for name in names:
                top = name.lstrip(".").split(".")[0]
                if not name.startswith(".") and top in owners:
                    assert where in owners[top], f"{where} imports {top}"
                if (path.name in core and path.parent == package or "ops" in path.parts) and name.startswith("."):
                    assert top not in front, f"{where} (core) imports the front end {top}"
                if where.startswith("drawing/") and name.startswith(".."):  # outside the stage
                    assert top in drawing_may, f"{where} (drawing) imports {top}"
                if where.startswith("expr/") and name.startswith(".."):  # outside the language
                    assert top in expr_may, f"{where} (expr) imports {top}"
                if where.startswith("symbolic/") and name.startswith(".."):  # outside the stage
                    assert top in symbolic_may, f"{where} (symbolic) imports {top}"
                if where == "drawing/render.py" and name.startswith("."):
                    assert top in render_may, f"{where} imports {top}: render reads only the Scene"
