"""The Sphinx directive: a tiny project built in a temporary directory, from .rst and MyST .md."""

from __future__ import annotations

import io
import re
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sphinx.application import Sphinx
from sphinx.util.docutils import docutils_namespace

CONF = """
import sys
sys.path.insert(0, {here!r})
extensions = ["myst_parser", "graphviz_bp.sphinx"]
"""

INDEX_RST = """
Test
====

.. backprop-graph:: 0.5*sum((W.T@W@x - x)**2)
   :inputs: W=3x5 x=5
   :caption: Two paths to W
   :alt: The autoencoder, two messages to W & their sum

.. toctree::

   page
   other
"""

PAGE_MD = """
# MyST page

```{backprop-graph} sum(tanh(W@x))
:inputs: W=2x3 x=3
:caption: A tanh layer
:direction: LR
:data: x
```

```{backprop-graph}
:function: mymodel:loss
:inputs: A=2x2
:alt: my own function
```
"""

MODEL = """
import numpy as np
import graphviz_bp as gb

def loss(A):
    return np.sum(gb.name(A @ A, "AA") ** 2)
"""


def make_project(root: Path, extra_rst: str = "") -> Path:
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "conf.py").write_text(CONF.format(here=str(src)))
    (src / "index.rst").write_text(textwrap.dedent(INDEX_RST) + extra_rst)
    (src / "page.md").write_text(textwrap.dedent(PAGE_MD))
    (src / "other.rst").write_text("Other\n=====\n\nNo diagram here.\n")
    (src / "mymodel.py").write_text(textwrap.dedent(MODEL))
    return src


def build(src: Path, builder: str = "html", fresh: bool = True) -> tuple[Path, str]:
    out = src.parent / "out" / builder
    warnings = io.StringIO()
    with docutils_namespace():  # several builds in one process: restore docutils' registries after each
        app = Sphinx(str(src), str(src), str(out), str(src.parent / "doctrees" / builder), builder,
                     status=io.StringIO(), warning=warnings, freshenv=fresh)
        app.build()
    assert app.statuscode == 0
    return out, warnings.getvalue()


def svg_files(out: Path, page: str) -> list[Path]:
    html = (out / page).read_text(encoding="utf-8")
    return [out / m for m in re.findall(r'<object data="([^"]+\.svg)" type="image/svg\+xml"', html)]


def svg_text(path: Path) -> str:
    root = ET.fromstring(path.read_bytes())
    return "\n".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))


@pytest.fixture
def project(tmp_path, dot_executable):
    return make_project(tmp_path)


def test_rst_directive_renders_svg_with_caption_and_alt(project):
    out, warnings = build(project)
    assert "WARNING" not in warnings, warnings
    html = (out / "index.html").read_text(encoding="utf-8")
    (svg,) = svg_files(out, "index.html")
    text = svg_text(svg)
    assert "∂L/∂W" in text and "m₁" in text and "How to read this graph" in text
    assert re.search(r'<figcaption>\s*<p><span class="caption-text">Two paths to W</span>', html)
    assert "The autoencoder, two messages to W &amp; their sum" in html  # alt text, escaped
    # its text sized as Drawing.pipe sizes it, to be drawn within the widths dot measured (Sphinx
    # runs dot itself, through graphviz_bp's wrapper)
    from graphviz_bp.dot import _shortfall

    styles = {("DejaVu Sans", bold, italic, size) for size in (8.0, 9.0, 10.0, 11.0, 14.0)
              for bold in (False, True) for italic in (False, True)}
    fitted = {(bold, italic, f"{size * factor:.2f}") for (_, bold, italic, size), factor in _shortfall(frozenset(styles)).items()}
    texts = list(ET.fromstring(svg.read_bytes()).iter("{http://www.w3.org/2000/svg}text"))
    assert texts and all((t.get("font-weight") == "bold", t.get("font-style") == "italic", t.get("font-size")) in fitted
                         for t in texts), {t.get("font-size") for t in texts}


def test_myst_directive_and_function_option(project):
    out, warnings = build(project)
    assert "WARNING" not in warnings, warnings
    html = (out / "page.html").read_text(encoding="utf-8")
    layer, own = svg_files(out, "page.html")
    assert "tanh" in svg_text(layer) and "A tanh layer" in html
    assert 'class="node input data"' in layer.read_text() or "input data" in layer.read_text()
    assert "AA" in svg_text(own) and "my own function" in html


def test_bad_directives_are_located_warnings_and_the_build_goes_on(tmp_path, dot_executable):
    bad = textwrap.dedent("""

    .. backprop-graph:: sum(W@@x)
       :inputs: W=3x5 x=5

    .. backprop-graph:: sum(W@x)
       :inputs: W=3x5 x=3

    .. backprop-graph:: __import__('os').system('touch CANARY')
       :inputs: x=3

    .. backprop-graph:: sum(y)
       :inputs: x=3

    .. backprop-graph::
       :function: mymodel:nothing
    """)
    src = make_project(tmp_path, bad)
    out, warnings = build(src)
    lines = [w for w in warnings.splitlines() if "WARNING" in w]
    assert len(lines) == 5, warnings
    assert all(re.search(r"index\.rst:\d+: WARNING: backprop-graph: ", w) for w in lines), lines
    assert "syntax error" in lines[0] and "matmul (@) on shapes (3, 5) and (3,)" in lines[1]
    assert "not allowed" in lines[2] and "no input for y" in lines[3] and "defines no function" in lines[4]
    line_numbers = [int(re.search(r"index\.rst:(\d+)", w).group(1)) for w in lines]
    assert line_numbers == sorted(line_numbers) and len(set(line_numbers)) == 5
    assert not (src / "CANARY").exists() and not Path("CANARY").exists()
    assert len(svg_files(out, "index.html")) == 1  # the good diagram is still there


def test_rebuilds_do_not_render_unchanged_diagrams_again(project):
    out, _ = build(project)
    images = sorted((out / "_images").glob("*.svg"))
    stamps = {p.name: p.stat().st_mtime_ns for p in images}
    (project / "other.rst").write_text("Other\n=====\n\nChanged text.\n")
    build(project, fresh=False)
    assert {p.name: p.stat().st_mtime_ns for p in sorted((out / "_images").glob("*.svg"))} == stamps
    index = project / "index.rst"
    index.write_text(index.read_text().replace("W=3x5 x=5", "W=2x5 x=5"))
    build(project, fresh=False)
    after = {p.name for p in (out / "_images").glob("*.svg")}
    assert len(after - set(stamps)) == 1  # only the changed diagram is new


def test_latex_builder_gets_a_pdf(project):
    out, warnings = build(project, "latex")
    assert "WARNING" not in warnings, warnings
    pdfs = list(out.glob("graphviz-*.pdf"))
    assert len(pdfs) == 3 and all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    tex = next(out.glob("*.tex")).read_text(encoding="utf-8")
    assert "Two paths to W" in tex and "graphviz-" in tex


EXITING = """
import sys
import numpy as np

def quits(x):
    sys.exit(3)

def fails(x):
    return {"a": 1}["missing"]

def needs_seed(seed, x):
    return np.sum(seed * x)
"""


def test_user_code_that_exits_or_fails_is_a_located_warning_and_the_build_goes_on(tmp_path, dot_executable):
    extra = textwrap.dedent("""

    .. backprop-graph::
       :function: exiting:quits
       :inputs: x=3

    .. backprop-graph::
       :function: exiting:fails
       :inputs: x=3

    .. backprop-graph::
       :function: exits_on_import:f
       :inputs: x=3

    .. backprop-graph::
       :function: exiting:needs_seed
       :inputs: seed=3 x=3
    """)
    src = make_project(tmp_path, extra)
    (src / "exiting.py").write_text(textwrap.dedent(EXITING))
    (src / "exits_on_import.py").write_text("import sys\nsys.exit(0)\n")
    out, warnings = build(src)
    lines = [w for w in warnings.splitlines() if "WARNING" in w]
    assert len(lines) == 3, warnings
    assert "exiting.py:6 in quits: called sys.exit(3)" in lines[0]
    assert "exiting.py:9 in fails: KeyError: 'missing'" in lines[1]
    assert "importing 'exits_on_import' called exit(0)" in lines[2]
    assert (out / "index.html").is_file()
    assert len(svg_files(out, "index.html")) == 2  # the autoencoder, and the input named seed


def test_dot_runs_under_the_time_limit(tmp_path, dot_executable, monkeypatch):
    extra = textwrap.dedent("""

    .. backprop-graph:: sum(x*x)
       :inputs: x=3
       :timeout: 1
    """)
    src = make_project(tmp_path, extra)
    (src / "conf.py").write_text(CONF.format(here=str(src)) + "backprop_graph_timeout = 1\n")
    from .test_dot import install_fake_dot

    install_fake_dot(tmp_path, monkeypatch, "sleep 60\n")  # a dot that hangs
    started = time.monotonic()
    out, warnings = build(src)
    assert time.monotonic() - started < 30  # three diagrams on index.rst and page.md, 1 s each
    lines = [w for w in warnings.splitlines() if "WARNING" in w]
    assert lines and all("did not finish within 1 s" in w for w in lines), warnings
    # each at its directive's document and line (sphinx.ext.graphviz gives none)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", w) for w in lines]  # (colours, when the terminal has them)
    text = (src / "index.rst").read_text(encoding="utf-8").splitlines()
    line = next(k for k, t in enumerate(text, 1) if t.startswith(".. backprop-graph:: sum(x*x)"))
    assert any(w.startswith(f"{src / 'index.rst'}:{line}: WARNING: backprop-graph: dot did not finish")
               for w in lines), warnings
    assert all(re.match(r"\S+\.(rst|md):\d+: WARNING", w) for w in lines), warnings


def test_memory_limit_option(tmp_path, dot_executable):
    extra = textwrap.dedent("""

    .. backprop-graph:: sum(a + b)
       :inputs: a=1000x1 b=1x1000
       :memory-limit: 1M
    """)
    src = make_project(tmp_path, extra)
    out, warnings = build(src)
    lines = [w for w in warnings.splitlines() if "WARNING" in w]
    assert len(lines) == 1, warnings
    assert "add (+) on shapes (1000, 1) and (1, 1000)" in lines[0] and ":memory-limit:" in lines[0]
    assert "expression column 5: a + b" in lines[0]


def test_the_formulas_detail_and_the_derivation_as_latex_math(tmp_path, dot_executable):
    extra = """
.. backprop-graph:: 0.5*sum((W.T@W@x - x)**2)
   :inputs: W=2x3 x=3
   :detail: formulas
   :derivation: W

.. backprop-graph:: sum(x**2)
   :inputs: x=3
   :derivation: nothing
"""
    src = make_project(tmp_path, extra)
    out, warnings = build(src)
    html = (out / "index.html").read_text(encoding="utf-8")
    maths = re.findall(r'<div class="math[^"]*">\s*(.*?)</div>', html, re.S)
    assert len(maths) == 1
    latex = maths[0]
    assert r"\frac{\partial L}{\partial W}" in latex and latex.count(r"\underbrace") == 2  # two paths
    assert r"\text{through } W^\top" in latex
    drawn = "\n".join(svg_text(p) for p in svg_files(out, "index.html"))
    assert "ḡ xᵀ" in drawn or "ḡ" in drawn  # the formulas level draws messages as formulas
    assert "index.rst" in warnings and ":derivation: nothing" in warnings  # an unknown name: a located warning


def test_the_fold_and_depth_options(tmp_path, dot_executable):
    """A deep net drawn folded by default, unfolded with ``:fold: off`` and collapsed to a box with
    ``:depth: 0``; a bad depth is a located error of the directive, and the build goes on."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "deepnet.py").write_text(textwrap.dedent("""
        import numpy as np
        import graphviz_bp as gb

        def graph():
            rng = np.random.default_rng(0)
            Ws = rng.normal(size=(60, 3, 3)) / 2

            def loss(x, Ws):
                for W in Ws:
                    x = np.tanh(W @ x)
                return np.sum(x)
            return gb.trace(loss, x=rng.normal(size=3), Ws=Ws)
        """))
    extra = textwrap.dedent("""

    .. backprop-graph::
       :function: deepnet:graph

    .. backprop-graph::
       :function: deepnet:graph
       :fold: off
       :depth: all

    .. backprop-graph::
       :function: deepnet:graph
       :fold: off
       :depth: 0

    .. backprop-graph::
       :function: deepnet:graph
       :depth: two
    """)
    src = make_project(tmp_path, extra)
    out, warnings = build(src)
    assert 'index.rst:29: ERROR: Error in "backprop-graph" directive' in warnings  # located, as docutils says it
    assert "depth must be a whole number of levels (0 or more) or one of auto, all; got 'two'" in warnings
    ae, folded, unfolded, boxed = svg_files(out, "index.html")
    assert "× 60, drawn once" in svg_text(folded)
    assert svg_text(unfolded).count("tanh") == 60
    assert "for W in Ws:\n180 ops: index, matmul, tanh" in svg_text(boxed)
    assert svg_text(boxed).count("tanh") == 1  # named in the box, not drawn


def test_the_interactive_option_embeds_or_links_the_page(tmp_path, dot_executable):
    """``:interactive:`` puts the step-through page beside the picture: an iframe (embed, the
    default) or a link, to a page written under ``_interactive/`` when the build finishes; a
    document in a sub-folder reaches it with ``../``; the LaTeX build shows none of it."""
    src = make_project(tmp_path, textwrap.dedent("""

    .. backprop-graph:: 0.5*sum((W.T@W@x - x)**2)
       :inputs: W=3x5 x=5
       :interactive:

    .. backprop-graph:: sum(x*x)
       :inputs: x=3
       :interactive: link
    """))
    (src / "sub").mkdir()
    (src / "sub" / "deep.rst").write_text(textwrap.dedent("""
    Deep
    ====

    .. backprop-graph:: sum(tanh(W@x))
       :inputs: W=4x3 x=3
       :interactive: link
    """))
    (src / "index.rst").write_text((src / "index.rst").read_text() + "\n.. toctree::\n\n   sub/deep\n")
    out, warnings = build(src)
    assert "WARNING" not in warnings and "ERROR" not in warnings, warnings
    index = (out / "index.html").read_text(encoding="utf-8")
    (embedded,) = re.findall(r'<iframe class="backprop-interactive" src="(_interactive/[0-9a-f]{16}\.html)"', index)
    linked = re.findall(r'<a href="(_interactive/[0-9a-f]{16}\.html)">Step through', index)
    assert len(linked) == 1
    deep = (out / "sub" / "deep.html").read_text(encoding="utf-8")
    (up,) = re.findall(r'<a href="\.\./(_interactive/[0-9a-f]{16}\.html)">Step through', deep)
    for page in (embedded, linked[0], up):
        text = (out / page).read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and 'id="walk"' in text
    ae = (out / embedded).read_text(encoding="utf-8")
    assert '"steps":[' in ae and ae.count('"cotangent"') == 7  # the autoencoder's 7 steps
    assert "0.5*sum((W.T@W@x - x)**2)" in ae  # titled by its expression
    out, warnings = build(src, "latex")
    assert "iframe" not in "".join(p.read_text(encoding="utf-8") for p in out.glob("*.tex"))


def test_a_failed_dot_is_warned_of_at_each_directive_that_made_it_included_files_too(tmp_path, dot_executable,
                                                                                    monkeypatch):
    """Two directives with the same drawing were both warned of at the first; one in an included
    file at a line of the including document that does not exist."""
    extra = textwrap.dedent("""

    .. backprop-graph:: sum(x*x*x)
       :inputs: x=3
       :caption: first

    .. include:: part.inc
    """)
    src = make_project(tmp_path, extra)
    (src / "conf.py").write_text(CONF.format(here=str(src)) + "exclude_patterns = ['part.inc']\n")
    (src / "other.rst").write_text("Other\n=====\n\n.. backprop-graph:: sum(x*x*x)\n   :inputs: x=3\n"
                                   "   :caption: again\n")
    (src / "part.inc").write_text("Included\n--------\n\n.. backprop-graph:: sum(sin(x))\n   :inputs: x=3\n")
    from .test_dot import install_fake_dot

    install_fake_dot(tmp_path, monkeypatch, "echo 'Error: a fake dot failure' >&2\nexit 1\n")
    out, warnings = build(src)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", w) for w in warnings.splitlines() if "a fake dot failure" in w]
    index = (src / "index.rst").read_text(encoding="utf-8").splitlines()
    first = next(k for k, t in enumerate(index, 1) if t.startswith(".. backprop-graph:: sum(x*x*x)"))
    for where in (f"{src / 'index.rst'}:{first}", f"{src / 'other.rst'}:4", f"{src / 'part.inc'}:4"):
        assert sum(w.startswith(f"{where}: WARNING: backprop-graph: Error: a fake dot failure") for w in lines) == 1, \
            (where, warnings)
