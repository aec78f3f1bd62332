"""Drawing: what is drawn asserted on the Scene; DOT parsed structurally for escaping and Graphviz
acceptance; rendered outputs checked, options, errors, files on success only."""

from __future__ import annotations

import functools
import json
import os
import re
import stat
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pydot
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphviz_bp as gb
from graphviz_bp import dot as dot_mod
from graphviz_bp.drawing import render as render_mod
from graphviz_bp.drawing.text import visible
from graphviz_bp.drawing import annotate as annotate_mod

from .problems import autoencoder, swish_inputs, swish_net
from .test_dot import install_fake_dot


@pytest.fixture
def ae():
    rng = np.random.default_rng(0)
    return gb.trace(autoencoder, W=rng.normal(size=(3, 5)), x=rng.normal(size=5))


def parse(dot_source: str) -> pydot.Dot:
    (graph,) = pydot.graph_from_dot_data(dot_source)
    return graph


def nodes_of(graph: pydot.Dot) -> dict[str, pydot.Node]:
    out = {}
    for n in graph.get_nodes() + [n for sg in graph.get_subgraphs() for n in sg.get_nodes()]:
        name = n.get_name().strip('"')
        if name not in ("node", "edge", "graph"):
            out[name] = n
    return out


def classes(item) -> set[str]:
    return set((item.get("class") or "").strip('"').split())


def label(item) -> str:
    return item.get("label") or ""


def text_of(html_label: str) -> str:
    """The visible text of an HTML-like label (tags dropped, entities decoded)."""
    import html
    return html.unescape(re.sub(r"<[^>]+>", "", html_label))


def test_autoencoder_has_one_shared_W_with_two_fanout_edges(ae):
    scene = ae.draw().scene()
    w_id = ae.node("W").id
    ws = [n for n in scene.nodes if n.lines and n.text.split("\n")[0] == "W"]
    assert [n.id for n in ws] == [w_id]
    w = scene.node(w_id)
    assert {"input", "shared"} <= set(w.classes)
    out = scene.edges_from(w_id)
    assert len(out) == 2 and all("fanout" in e.classes for e in out)
    # the accumulation at W names both messages, and each fan-out edge carries one of them
    assert "∂L/∂W = m₁ + m₂" in w.text
    assert sorted(re.search(r"m[₁₂]", e.text).group(0) for e in out) == ["m₁", "m₂"]
    assert len({e.color for e in out}) == 2  # each message in its own colour


def test_every_node_has_its_role_as_class_and_every_edge_its_jacobian(ae):
    scene = ae.draw().scene()
    numbers = annotate_mod.absorbed_constants(ae._dag)  # ½ and 2: drawn inside × ½ and (·)²
    assert sorted(ae.nodes[k].value.item() for k in numbers) == [0.5, 2.0]
    drawn = [n for n in ae.nodes if n.index not in numbers]
    assert [n.id for n in scene.nodes] == [n.id for n in drawn]
    for n, sn in zip(drawn, scene.nodes):
        role = "output" if n is ae.output else n.kind
        assert role in sn.classes, (n, sn.classes)
        assert ("shared" in sn.classes) == n.is_shared
    edges = [e for e in ae.edges if e.src.index not in numbers]
    assert len(scene.edges) == len(edges)
    for e, se in zip(edges, scene.edges):
        assert (se.src, se.dst) == (e.src.id, e.dst.id)
        if e.src.kind != "const":
            assert "J " + ("×".join(map(str, e.jacobian_shape)) or "scalar") in se.text
        assert ("fanout" in se.classes) == e.src.is_shared
    assert scene.legend is not None and scene.legend.text.startswith("How to read this graph")


def test_labels_show_the_computed_numbers():
    g = gb.trace(lambda x: np.sum(x * x) + np.sum(x), x=np.array([1.0, -2.0, 0.5]))
    scene = g.draw().scene()
    x_text = scene.node(g.node("x").id).text
    assert "∂L/∂x = m₁ + m₂ + m₃" in x_text and "= [3, −3, 2]" in x_text  # 2x + 1
    assert "[1, −2, 0.5]" in x_text and "ℝ³" in x_text  # value, and shape ℝ³
    out_text = scene.node(g.output.id).text
    assert "4.75" in out_text and "∂L/∂L = 1" in out_text


def test_data_inputs_are_muted_and_show_no_gradient():
    g = gb.trace(swish_net, **swish_inputs(np.random.default_rng(0)))
    scene = g.draw(data=("x", "y")).scene()
    x = scene.node(g.node("x").id)
    assert {"input", "data"} <= set(x.classes) and "∂L" not in x.text
    w1 = scene.node(g.node("W1").id)
    assert {"input", "parameter"} <= set(w1.classes)
    # the gradient under its name; by hand (tests/problems.swish_by_hand): norm 2.2094, range [-1.4165, -0.0192]
    assert "∂L/∂W1 =\nnorm 2.21,\nrange [−1.42, −0.0192]" in w1.text
    z = scene.node(g.node("z").id)
    assert "z" in z.text and "shared" in z.classes
    assert "∂L/∂x" not in str(x.tooltip) and "∂L/∂W1 =" in str(w1.tooltip)


def test_a_bad_option_is_refused_by_draw_with_the_choices():
    g = gb.trace(lambda W, x: np.sum(W @ x), W=np.ones((2, 3)), x=np.ones(3))
    with pytest.raises(ValueError, match=r"^data=\['nope'\] names no input; inputs are W, x$"):
        g.draw(data=["nope"])
    with pytest.raises(ValueError, match="names no input"):
        g.to_dot(data="nope")
    with pytest.raises(ValueError, match=r"^theme must be one of color, grey; got 'neon'$"):
        g.draw(theme="neon")
    with pytest.raises(ValueError, match=r"^direction must be one of TB, LR, RL, BT \(or top-bottom, left-right\)"):
        g.draw(direction="up")
    with pytest.raises(ValueError, match="^detail must be one of structure, shapes, values, formulas; got 3$"):
        g.draw(detail=3)
    with pytest.raises(ValueError, match="^data must be a name or a sequence of names; got 3$"):
        g.draw(data=["x", 3])
    with pytest.raises(TypeError, match="^no drawing option 'colour'; the options are direction, detail, theme, fold, depth, data$"):
        g.draw(colour="grey")
    with pytest.raises(ValueError, match="^fold must be one of auto, on, off"):
        g.draw(fold="sometimes")
    with pytest.raises(ValueError, match="^depth must be a whole number of levels"):
        g.draw(depth=-1)
    with pytest.raises(ValueError, match="^depth must be a whole number of levels"):
        g.draw(depth=True)
    assert g.draw(direction="left-right", data="x").options == gb.Graph.draw(g, direction="LR", data=["x"]).options


def test_shared_input_tooltip_lists_each_paths_contribution(ae):
    tooltip = str(ae.draw().scene().node(ae.node("W").id).tooltip)
    contribs = ae.contributions("W")
    assert "2 paths to the output; their contributions sum to the gradient:" in tooltip
    assert len(contribs) == 2
    # closed forms, r = WᵀWx − x: through Wᵀ, (Wx)rᵀ (norm 15.996, range [−9.4405, 9.0141]);
    # straight into the product, W r xᵀ (norm 17.832, range [−12.182, 8.5565])
    assert "path 1: W → (·)ᵀ → @ → @ → − → (·)² → Σ → ×: norm 16, range [−9.44, 9.01]" in tooltip
    assert "path 2: W → @ → @ → − → (·)² → Σ → ×: norm 17.8, range [−12.2, 8.56]" in tooltip


def test_accumulation_skips_uses_that_send_no_message():
    # c is both where()'s condition (no message) and its first value (a message): "∂L/∂c = m₂"
    g = gb.trace(lambda c: np.sum(np.where(c, c, 0.0)) + np.sum(c), c=np.array([1.0, 0.0, 2.0]))
    text = g.draw().scene().node(g.node("c").id).text
    assert "∂L/∂c = m₂ + m₃" in text and "=  +" not in text


def test_detail_levels(ae):
    def labels(detail):  # what is drawn, tooltips aside (they always hold the full values)
        scene = ae.draw(detail=detail).scene()
        return "\n".join(item.text for item in scene.nodes + scene.edges)

    structure, shapes, values = labels("structure"), labels("shapes"), labels("values")
    assert "J " not in structure and "ℝ" not in structure and "norm" not in structure
    assert "∂L/∂W = m₁ + m₂" in structure  # the accumulation is structure
    assert "J 5×3×3×5" in shapes and "ℝ³ˣ⁵" in shapes and "▲ m₁" in shapes and "norm" not in shapes
    assert "norm" in values and "∂L/∂W = m₁ + m₂" in values and "▲ m₁ norm" in values


def test_direction_and_themes(ae):
    assert ae.draw().scene().direction == "TB" and ae.draw(direction="LR").scene().direction == "LR"
    assert "rankdir=TB" in ae.to_dot() and "rankdir=LR" in ae.to_dot(direction="LR")  # render passes it on
    grey = ae.draw(theme="grey").scene()
    colours = {c for n in grey.nodes for c in (n.fill, n.border)} | {e.color for e in grey.edges} \
        | {s.color for item in grey.nodes + grey.edges for line in item.lines for s in line}
    colours -= {None, "none"}
    assert colours and all(c[1:3] == c[3:5] == c[5:7] for c in colours), colours
    # in greyscale the fan-out messages are told apart by line style instead
    fan = [e for e in grey.edges if "fanout" in e.classes]
    assert len(fan) == 4
    for src in {e.src for e in fan}:
        styles = [e.style for e in fan if e.src == src]
        assert len(set(styles)) == len(styles) == 2


def test_fonts_are_set_for_nodes_and_edges(ae):
    src = ae.to_dot()
    for kind in ("graph", "node", "edge"):
        assert re.search(rf'^\s*{kind} \[.*fontname="DejaVu Sans"', src, re.M), kind


def test_dot_is_deterministic(ae):
    rng = np.random.default_rng(0)
    again = gb.trace(autoencoder, W=rng.normal(size=(3, 5)), x=rng.normal(size=5))
    assert ae.to_dot() == again.to_dot()
    assert [n.id for n in ae.nodes] == [f"n{i}" for i in range(len(ae.nodes))]


def test_label_rows_are_remembered_by_line_but_never_taken_for_another_line():
    # rows are remembered from drawing to drawing by the id of their line; a line made, drawn and
    # dropped, again and again, would hand its id to the next one if the table did not keep it
    from graphviz_bp.drawing.scene import Span

    for k in range(3 * render_mod._REMEMBERED):
        line = (Span(f"value {k}", "#000000", False, False, 10),)
        assert f">value {k}<" in render_mod._label((line,), 11)


def test_a_line_drawn_once_is_written_as_any_line_and_is_not_remembered():
    from graphviz_bp.drawing.scene import Once, Span

    spans = (Span("range [−1, 2]", "#c0392b", False, False, 9), Span("<b> & ]", None, True, False, None))
    for k in (1, 2):
        line = (spans[0],) if k == 1 else spans
        once = tuple.__new__(Once, line)
        assert once == line and hash(once) == hash(line)
        render_mod._ROWS.pop((9, "LEFT"), None)
        written = render_mod._label((once,), 9, "LEFT")
        assert '<FONT COLOR="#c0392b">range [−1, 2&#93;</FONT>' in written
        assert ("<B>&lt;b&gt; &amp; &#93;</B>" in written) == (k == 2)
        assert render_mod._ROWS[9, "LEFT"] == {}  # not kept for the next drawing
        assert render_mod._label((line,), 9, "LEFT") == written
        assert len(render_mod._ROWS[9, "LEFT"]) == 1  # a plain line is


def test_svg_is_valid_xml_with_classes_ids_and_tooltips(ae, dot_executable):
    svg = ae.pipe("svg")
    root = ET.fromstring(svg)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    groups = {g.get("id"): g for g in root.iter("{http://www.w3.org/2000/svg}g")}
    w = groups[ae.node("W").id]
    assert set(w.get("class").split()) >= {"node", "input", "shared"}
    fanout = [g for g in groups.values() if "fanout" in (g.get("class") or "").split()]
    assert len(fanout) == 4  # W's two edges and x's two
    titles = [a.get("{http://www.w3.org/1999/xlink}title") for a in root.iter("{http://www.w3.org/2000/svg}a")]
    assert any(t and t.startswith("W: input") and "∂L/∂W =" in t for t in titles)
    texts = "".join(t.text or "" for t in root.iterfind(".//svg:text", ns))
    assert "∂L/∂W" in texts and "How to read this graph" in texts


def test_svg_keeps_the_spaces_between_runs_of_a_label(ae, dot_executable):
    """dot writes each run of a label's text (``∂L/∂W``, `` = ``, ``m₁``) as an SVG text of its own;
    browsers drop a plain space at either end of one and librsvg any, so ``∂L/∂W = m₁ + m₂`` read
    ``∂L/∂W= m₁+ m₂``. The spaces are no-break ones, and the SVG says to keep them."""
    root = ET.fromstring(ae.pipe("svg"))
    assert root.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"
    runs = [t for t in root.iter("{http://www.w3.org/2000/svg}text")]
    k = next(i for i, t in enumerate(runs) if t.text == "∂L/∂W")
    assert [t.text for t in runs[k:k + 5]] == ["∂L/∂W", "\xa0=\xa0", "m₁", "\xa0+\xa0", "m₂"]
    xs = [float(t.get("x")) for t in runs[k:k + 5]]
    assert xs == sorted(xs) and len(set(xs)) == 5  # each run placed after the one before
    assert any(t.text == "\xa0" * 4 + "shaped like the edge's input" for t in runs)  # the legend's indent
    assert not [t.text for t in runs if t.text and (t.text[0] == " " or t.text[-1] == " ")]


def test_pdf_and_png(ae, dot_executable):
    pdf = ae.pipe("pdf")
    assert pdf.startswith(b"%PDF")
    assert b"/FontFile2" in pdf or b"/FontFile3" in pdf, "fonts are not embedded"
    assert b"DejaVu" in pdf
    assert ae.pipe("png").startswith(b"\x89PNG\r\n\x1a\n")
    assert ae.pipe("dot").decode() == ae.to_dot()


def test_dot_accepts_the_source_and_keeps_every_edge(ae, dot_executable):
    out = subprocess.run([dot_executable, "-Tjson"], input=ae.to_dot().encode(), capture_output=True,
                         check=True)
    data = json.loads(out.stdout)
    numbers = annotate_mod.absorbed_constants(ae._dag)  # written in their ops' symbols
    assert len(data["edges"]) == len(ae.edges) - len(numbers)
    names = {o["name"] for o in data["objects"]}
    assert {n.id for n in ae.nodes if n.index not in numbers} | {"legend"} <= names
    assert not {ae.nodes[k].id for k in numbers} & names


@pytest.mark.parametrize("suffix,magic", [(".svg", b"<?xml"), (".pdf", b"%PDF"), (".png", b"\x89PNG"),
                                          (".dot", b"digraph")])
def test_render_picks_the_format_from_the_suffix(ae, tmp_path, suffix, magic, dot_executable):
    path = ae.render(tmp_path / f"ae{suffix}")
    assert path == tmp_path / f"ae{suffix}"
    assert path.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    assert path.stat().st_mode & 0o044  # readable like any new file, not private


def test_failed_render_leaves_no_file(ae, tmp_path, monkeypatch):
    install_fake_dot(tmp_path, monkeypatch, "cat > /dev/null; echo 'Error: syntax error in line 3' >&2; exit 1\n")
    out = tmp_path / "out"
    out.mkdir()
    target = out / "ae.svg"
    with pytest.raises(render_mod.RenderError, match=r"^dot -Tsvg failed \(exit 1\): Error: syntax error in line 3$"):
        ae.render(target)
    assert list(out.iterdir()) == []
    with pytest.raises(ValueError, match=r"\.svg, \.pdf, \.png, \.dot"):
        ae.render(out / "ae.gif")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("suffix", [".svg", ".pdf", ".png"])
def test_garbage_from_dot_writes_nothing_and_keeps_the_old_file(ae, tmp_path, monkeypatch, suffix):
    install_fake_dot(tmp_path, monkeypatch, "cat > /dev/null; echo 'not a picture'\n")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(render_mod.RenderError, match="produced no valid"):
        ae.render(out / f"new{suffix}")
    assert list(out.iterdir()) == []
    old = out / f"old{suffix}"
    old.write_bytes(b"old")
    with pytest.raises(render_mod.RenderError, match="produced no valid"):
        ae.render(old)
    assert old.read_bytes() == b"old" and list(out.iterdir()) == [old]


def test_existing_file_is_replaced_only_when_rendering_succeeds(ae, tmp_path, monkeypatch, dot_executable):
    target = tmp_path / "ae.svg"
    target.write_text("old")
    os.chmod(target, 0o640)
    with monkeypatch.context() as m:
        install_fake_dot(tmp_path, m, "cat > /dev/null; exit 3\n")
        with pytest.raises(render_mod.RenderError, match=r"exit 3\): no message"):
            ae.render(target)
    assert target.read_text() == "old"
    ae.render(target)  # the real dot
    assert target.read_bytes().startswith(b"<?xml") and stat.S_IMODE(target.stat().st_mode) == 0o640


def test_bad_output_path_fails_before_dot_runs(ae, tmp_path, monkeypatch):
    bindir = install_fake_dot(tmp_path, monkeypatch, "exec sleep 60\n")
    (tmp_path / "dir").mkdir()
    cases = [(tmp_path / "nodir" / "a.svg", FileNotFoundError, "there is no directory"),
             (tmp_path / "dir", IsADirectoryError, "it is a directory")]
    for path, kind, why in cases:
        with pytest.raises(kind, match=f"^cannot write {re.escape(repr(str(path)))}: {why}"):
            render_mod.render(ae.to_dot(), path, "svg", timeout=60)
    assert not (bindir / "dot.pid").exists()  # dot never started


def test_timeout_and_progress_reach_dot(ae, tmp_path, monkeypatch):
    install_fake_dot(tmp_path, monkeypatch, "exec sleep 60\n")
    heard = []
    monkeypatch.setattr(dot_mod, "PROGRESS_THRESHOLD", 10)
    with pytest.raises(render_mod.RenderTimeoutError, match="^dot did not finish within 0.5 s laying out 19 "):
        render_mod.render(ae.to_dot(), tmp_path / "ae.svg", timeout=0.5, progress=heard.append)
    assert heard == ["laying out 19 nodes and edges with dot; this may take a while (time limit 0.5 s)"]
    assert (len(ae.nodes), len(ae.edges)) == (11, 12)  # 9 nodes and 10 edges drawn (½ and 2 in their ops)
    with pytest.raises(render_mod.RenderTimeoutError):
        render_mod.pipe(ae.to_dot(), "png", timeout=0.5)
    assert not (tmp_path / "ae.svg").exists()


def test_positional_calls_keep_working(ae, tmp_path, dot_executable):
    assert render_mod.pipe(ae.to_dot(), "svg").startswith(b"<?xml")
    path = render_mod.render(ae.to_dot(), str(tmp_path / "x.out"), "pdf")
    assert path == tmp_path / "x.out" and path.read_bytes().startswith(b"%PDF-")


def test_missing_dot_is_one_named_error_with_an_install_hint(ae, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(gb.GraphvizNotFoundError, match="apt-get install graphviz") as err:
        ae.pipe("svg")
    assert isinstance(err.value, gb.GraphvizBPError)
    assert ae.to_dot().startswith("digraph")  # DOT needs no Graphviz


def test_jupyter_displays_svg(ae, dot_executable):
    bundle = ae._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    ET.fromstring(bundle["image/svg+xml"].encode())
    assert set(ae.draw(direction="LR")._repr_mimebundle_(include=["image/svg+xml"])) == {"image/svg+xml"}


HOSTILE = ["<lambda>", "a\nb", "a\\nb", '"q"', "{}|", "trailing\\", "&amp; & <b>x</b>", "ünï¢ødé ∂ 🙂",
           "\\", "]]>", "'", "x;y=z", "-- comment", "\t", "a\\\\b", "\\\\\\", "\\\x1f", "&#92;", "]", "[", "]]"]


def _named(label: str):
    def f(x):
        return np.sum(gb.name(x * x, label) + 1.0)
    # the input's name is one no generated label takes (a label equal to it would become "label#2")
    return gb.trace(lambda **kw: f(kw["in put"]), {"in put": np.array([1.0, 2.0])})


# dot's SVG writer keeps a run of spaces visible by writing all but its first as no-break spaces
def _svg_text(svg: bytes) -> str:
    root = ET.fromstring(svg)
    return "\n".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")).replace("\xa0", " ")


def _svg_titles(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    return [(a.get("{http://www.w3.org/1999/xlink}title") or "").replace("\xa0", " ")
            for a in root.iter("{http://www.w3.org/2000/svg}a")]


@pytest.mark.parametrize("name", HOSTILE + ["x\\N\\G", "\\E\\T\\H\\L", "&amp;", "q\\\"r"])
def test_hostile_names_render_literally_in_labels_and_tooltips(name, dot_executable):
    g = _named(name)
    src = g.to_dot()
    parse(src)
    shown = visible(name)  # control characters shown as escapes: "a\nb" → a\nb
    assert shown == name.replace("\n", "\\n").replace("\t", "\\t").replace("\x1f", "\\x1f")
    svg = g.pipe("svg")
    assert shown.strip() in _svg_text(svg)
    titles = _svg_titles(svg)
    assert any(t.startswith(f"{shown}: op (multiply)") for t in titles), titles  # the node's tooltip
    assert any(t.startswith(f"{shown} → ") for t in titles)  # the tooltip of the edge out of it


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters() | st.sampled_from('\\<>&"\'{}|;[]\n'), min_size=1, max_size=24))
def test_any_name_gives_dot_that_parses_and_renders(name):
    g = _named(name)
    src = g.to_dot()
    assert parse(src) is not None
    out = subprocess.run(["dot", "-Tsvg"], input=src.encode(), capture_output=True)
    assert out.returncode == 0, out.stderr.decode()
    shown = visible(name)[:39].strip()  # a long name is drawn shortened, with its start kept
    if shown:
        assert shown in _svg_text(out.stdout)
    assert any(t.startswith(f"{visible(name)}: op (multiply)") for t in _svg_titles(out.stdout))


@pytest.mark.parametrize("length", [5000, 20000])
def test_very_long_names_are_shortened_in_labels_and_kept_in_tooltips(length, dot_executable):
    name = "w" * (length - 1) + "z"
    g = gb.trace(lambda **kw: np.sum(gb.name(kw[name] * 2.0, name + "2")), {name: np.array([1.0, 2.0])})
    svg = g.pipe("svg")  # dot refuses labels and quoted strings past 16,384 characters
    text = _svg_text(svg)
    assert "w" * 30 in text and "z" not in text.replace("DejaVu", "")  # shortened, with an ellipsis
    assert "…" in text
    titles = _svg_titles(svg)
    assert any(t.startswith("w" * 999) for t in titles)  # the tooltip names it at length
    assert all(len(t) < 16384 for t in titles)


def test_a_value_used_hundreds_of_times_writes_its_sum_short():
    def many(x):
        y = x
        for _ in range(300):
            y = y * x
        return np.sum(y)

    g = gb.trace(many, x=np.full(2, 1.001))
    text = g.draw().scene().node(g.node("x").id).text
    assert "Σ of 301 messages m₁ … m₃₀₁" in text and "m₁₀₀ " not in text
    assert len(text) < 400
    # the largest three are named, largest first, with their norms
    norms = [float(np.linalg.norm(e.message)) for e in g.node("x").out_edges]
    named = text.split("largest messages: ")[1].split("\n")[0].split(", ")
    assert len(named) == 3
    picked = []
    for item in named:
        tag, value = item.split(" ")
        k = int(tag[1:].translate(str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789"))) - 1
        assert value == f"‖{norms[k]:.3g}‖".replace("-", "−")
        picked.append(k)
    others = [v for k, v in enumerate(norms) if k not in picked]
    assert min(norms[k] for k in picked) >= max(others) * (1 - 1e-12)


def _text_boxes(ops):
    """The boxes (x0, y0, x1, y1) of the texts an xdot drawing list writes."""
    size, boxes = 14.0, []
    for op in ops or ():
        if op["op"] == "F":
            size = op["size"]
        elif op["op"] == "T":
            (x, y), w = op["pt"], op["width"]
            x0 = {"l": x, "c": x - w / 2, "r": x - w}[op["align"]]
            boxes.append((x0, y - 0.2 * size, x0 + w, y + 0.75 * size))
    return boxes


def _overlap(a, b, slack=0.5):
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


def _layer(W, h, b):
    return np.tanh(W @ h - b)


def _two_layers(W1, W2, x, b):
    h = _layer(W1, x, b)
    h = _layer(W2, h, b)
    return np.sum((h - x) ** 2)


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_operand_marks_overlap_no_text_of_the_drawing(direction, dot_executable):
    """① and ② beside the arrow heads of − and @ never sit on an edge's message, a node's text or
    a frame's title (they sat on the message of short edges, and on the title of a call's frame)."""
    rng = np.random.default_rng(3)
    g = gb.trace(_two_layers, W1=rng.normal(size=(3, 3)), W2=rng.normal(size=(3, 3)), x=rng.normal(size=3),
                 b=rng.normal(size=3))
    out = subprocess.run([dot_executable, "-Tjson"], input=g.to_dot(direction=direction).encode(),
                         capture_output=True, check=True)
    data = json.loads(out.stdout)
    marks = [box for e in data["edges"] for box in _text_boxes(e.get("_hldraw_"))]
    assert len(marks) == 10  # ① and ② into @ and − of each call, and into the last −
    texts = [box for e in data["edges"] for box in _text_boxes(e.get("_ldraw_"))]
    texts += [box for o in data["objects"] for box in _text_boxes(o.get("_ldraw_"))]  # nodes, frame titles
    assert texts and not [(m, t) for m in marks for t in texts if _overlap(m, t)]


def test_a_slow_layout_with_the_chain_grouped_among_frames_is_laid_out_again_without_it(monkeypatch, dot_executable):
    """dot takes minutes on some drawings whose main chain is grouped among frames (60 iterations
    drawn whole, one weight read by each); past HINTED seconds the layout is made without the group."""
    def f(x, W):
        h = x
        for t in range(12):
            h = np.tanh(W @ h) * 0.9
        return np.sum(h)

    g = gb.trace(f, x=np.ones(3), W=np.eye(3) * 0.5)
    source = g.to_dot(fold=False)
    assert " group=chain" in source and "subgraph cluster_" in source
    sent = []
    real = render_mod._dot.run

    def timed(src, **kw):
        sent.append((b" group=chain" in src, kw.get("timeout")))
        if b" group=chain" in src:
            raise render_mod.RenderTimeoutError("dot took too long")
        return real(src, **kw)

    monkeypatch.setattr(render_mod._dot, "run", timed)
    svg = render_mod.pipe(source, "svg", timeout=60)
    assert svg.startswith(b"<?xml") and sent == [(True, render_mod.HINTED), (False, 60 - render_mod.HINTED)]
    sent.clear()
    with pytest.raises(render_mod.RenderTimeoutError):  # a timeout shorter than the budget: no second try
        render_mod.pipe(source, "svg", timeout=5)
    assert sent == [(True, 5)]


def test_network_simplex_is_bounded_only_for_big_drawings():
    small = gb.trace(lambda x: np.sum(np.tanh(x)), x=np.ones(3)).to_dot()
    assert "nslimit" not in small
    deep = gb.trace(lambda x: np.sum(functools.reduce(lambda h, _: np.tanh(h), range(400), x)), x=np.ones(3))
    big = deep.to_dot(fold=False, depth=None)
    header = re.search(r"graph \[([^\]]*)\]", big).group(1)
    assert big.count("\n") > 300 and {"mclimit=0.2", "nslimit=0.005", "nslimit1=2", "splines=line"} <= set(
        header.split())
    small_header = re.search(r"graph \[([^\]]*)\]", small).group(1).split()
    assert not {"mclimit", "splines"} & {a.split("=")[0] for a in small_header}
    medium = gb.trace(lambda x: np.sum(functools.reduce(lambda h, _: np.tanh(h), range(200), x)), x=np.ones(3))
    header = re.search(r"graph \[([^\]]*)\]", medium.to_dot(fold=False, depth=None)).group(1).split()
    assert "nslimit=1" in header and not [a for a in header if a.startswith(("mclimit", "splines", "nslimit1"))]


def _shared_weight_rnn(steps):
    def f(W, U, X):
        h = np.zeros(4)
        for t in range(steps):
            h = np.tanh(W @ h + U @ X[t])
        return np.sum(h ** 2)
    return f


@pytest.mark.parametrize("steps, bounded", [(20, False), (30, True)])
def test_a_drawing_whose_edges_span_many_ranks_is_bounded_though_small(steps, bounded):
    """A 30-step RNN drawn whole, 156 nodes, its weights sent to every step from the top: dot took
    12 s routing splines past the steps' frames (50 steps: 85 s); bounded, 0.14 s. 20 steps (1,160
    ranks spanned, 0.6 s) keep the full search and curved edges."""
    rng = np.random.default_rng(0)
    g = gb.trace(_shared_weight_rnn(steps), W=rng.normal(size=(4, 4)) * .5, U=rng.normal(size=(4, 3)),
                 X=rng.normal(size=(steps, 3)))
    source = g.to_dot(fold=False, depth=None)
    graph = pydot.graph_from_dot_data(source)[0]
    nodes = [n for n in graph.get_node_list() if n.get_name().startswith("n")]
    nodes += [n for sub in graph.get_subgraph_list() for n in _all_nodes(sub)]
    assert 100 < len({n.get_name() for n in nodes}) < 300  # (below LIMITED: bounded for its edges alone)
    fanned = [e for e in graph.get_edge_list() if e.get_source() in (g.node("W").id, g.node("U").id)]
    assert len(fanned) == 2 * steps  # each weight into every step, from the top
    header = set(re.search(r"graph \[([^\]]*)\]", source).group(1).split())
    assert ({"mclimit=0.2", "nslimit=0.005", "nslimit1=2", "splines=line"} <= header) == bounded
    assert ("splines=line" in header) == bounded


def _rescaled(steps, k):
    def f(h0, **w):
        h = h0
        for t in range(steps):
            for j in range(k):
                h = h * w[f"w{j}"]  # each step reads k shared weights, drawn at the top
            h = np.tanh(h)
        return np.sum(h)
    return f


def test_a_small_drawing_whose_edges_span_many_ranks_is_bounded():
    """117 nodes, 28 steps each reading three shared weights: 4,536 ranks spanned, 10 s in dot (0.09 s
    bounded); the bound began at 120 nodes."""
    w = {f"w{j}": np.array([0.9, 1.1]) for j in range(3)}
    g = gb.trace(_rescaled(28, 3), h0=np.array([0.5, -0.5]), **w)
    source = g.to_dot(fold=False, depth=None)
    assert source.count(" -> ") < 200 and "splines=line" in re.search(r"graph \[([^\]]*)\]", source).group(1)


def _all_nodes(graph):
    return graph.get_node_list() + [n for sub in graph.get_subgraph_list() for n in _all_nodes(sub)]


def test_a_mask_and_integers_are_not_drawn_as_real_numbers():
    """np.where's condition, a boolean constant, read "const ℝ²ˣ³ range [0, 1]"; integers read ℝ."""
    m = np.array([[1, 0, 1, 1], [0, 1, 1, 0]])

    def f(x):
        return np.sum(np.where(m == 0, 0.0, x) ** 2) + np.sum(x[0] * np.arange(4))

    g = gb.trace(f, x=np.ones((2, 4)))
    texts = [n.text for n in g.draw().scene().nodes]
    assert "mask 2×4\n3 of 8 true" in texts and not [t for t in texts if "range [0, 1]" in t and "const" in t]
    assert "[0, 1, 2, 3]" in texts  # (few integers: their numbers)
    few = gb.trace(lambda x: np.sum(np.where(np.array([True, False, True]), x, 0.0)), x=np.ones(3))
    assert "mask 3\n[true, false, true]" in [n.text for n in few.draw().scene().nodes]
    given = gb.trace(lambda x, m: np.sum(x * m), x=np.ones(8), m=np.arange(8) % 3 > 0)
    assert given.draw().scene().node(given.node("m").id).text == "m\nmask 8\n5 of 8 true"
    comparison = gb.trace(lambda x: np.sum(x * (x > 0.5)), x=np.array([0.2, 0.7, 0.9, 0.1, 0.6]))
    assert "mask 5\n3 of 5 true" in [n.text for n in comparison.draw().scene().nodes]  # (x > 0.5: a constant)


def test_a_constant_is_labelled_by_what_it_is_never_by_a_bare_shape():
    """A constant of many entries read "const 50" (a number, to a reader): it says where it lives,
    its range, or that it is all one number or a multiple of the identity."""
    rng = np.random.default_rng(4)
    grid, steps = np.linspace(-1.0, 2.5, 50), np.arange(7)
    noise = 0.25 * np.eye(4)
    wild = np.array([1.0, np.nan, 3.0, 4.0, 5.0])

    def f(x, A):
        return (np.sum((x - grid) ** 2) + np.sum(x * np.full(50, 3.0)) + np.sum(A + noise) + np.sum(A @ np.eye(4))
                + np.sum(x[:7] * steps) + np.sum(x[:5] * wild))

    g = gb.trace(f, x=rng.normal(size=50), A=rng.normal(size=(4, 4)))
    for options, ranges in (({}, True), ({"detail": "structure"}, False)):
        drawn = nodes_of(parse(g.to_dot(**options)))
        consts = sorted(text_of(label(n)[1:-1]) for n in drawn.values() if "const" in classes(n))
        # (under the name of the variable that holds it, where one does: grid, steps, noise, wild)
        expected = ["I, ℝ⁴ˣ⁴", "noise0.25 I, ℝ⁴ˣ⁴", "all 3, ℝ⁵⁰", "wildconst ℝ⁵",
                    "gridconst ℝ⁵⁰" + ("range [−1, 2.5]" if ranges else ""),
                    "stepsconst ℤ⁷" + ("range [0, 6]" if ranges else "")]  # (np.arange(7): integers)
        assert consts == sorted(expected), options


def _stacked_weights(W, x):
    h = x
    for i in range(W.shape[0]):
        h = np.tanh(W[i] @ h)  # one stacked input read by every layer
    return np.sum(h ** 2)


def test_a_layout_whose_edges_span_millions_of_ranks_is_refused_before_dot_runs(monkeypatch):
    """1,000 layers drawn whole, each reading W[i] of one stacked W: dot passed 19 GB of memory
    before its time limit. 400 layers (479,200 ranks) took 79 s and 3.2 GB."""
    from graphviz_bp.drawing import render as render_mod

    called = []
    monkeypatch.setattr(render_mod._dot, "run", lambda *a, **k: called.append(k) or b"<svg/>")
    big = gb.trace(_stacked_weights, W=np.zeros((1500, 2, 2)), x=np.ones(2))
    with pytest.raises(gb.RenderError, match=r"span 2,2\d\d,\d{3} ranks .* draw it folded \(the default\)"):
        big.pipe("svg", fold=False)
    assert called == []
    assert big.pipe("svg").startswith(b"<svg")  # folded: drawn
    small = gb.trace(_stacked_weights, W=np.zeros((200, 2, 2)), x=np.ones(2))  # (39,800 ranks)
    small.pipe("svg", fold=False)
    assert called[-1]["spanned"] > render_mod._dot.SPANNED_THRESHOLD  # told as dot starts


def _xdot_width(dot_executable: str, text: str, size: float, bold: bool = False) -> float:
    """The width dot measures for ``text`` in DejaVu Sans at ``size`` points (its ``_ldraw_``)."""
    label = f"<B>{text}</B>" if bold else text
    source = (f'digraph {{ node [shape=plaintext margin=0] a [fontname="DejaVu Sans" fontsize={size:g} '
              f'label=<{label}>] }}')
    out = subprocess.run([dot_executable, "-Txdot"], input=source.encode(), capture_output=True, check=True).stdout
    return float(re.search(rb'_ldraw_="[^"]*? T [-\d.]+ [-\d.]+ -?\d+ ([\d.]+) ', out)[1])


def test_svg_text_is_drawn_no_wider_than_dot_measured_it(dot_executable):
    """dot measures text with advances rounded to whole pixels, browsers draw it unrounded: DejaVu
    Sans digits at 10 pt 5 % wider than measured, the widest line of a label past its box. Each
    text's size in the SVG is made small enough that its width unrounded (dot's at 100 pt, scaled)
    is within what dot measured, for texts that are not among the samples measured."""
    g = gb.trace(lambda W, x: 0.5 * np.sum(np.tanh(W @ x) ** 2), W=np.full((3, 3), 0.0692), x=np.ones(3))
    svg = g.draw().pipe("svg")
    root = ET.fromstring(svg)  # (well formed)
    sizes = {(t.get("font-weight") == "bold", float(t.get("font-size"))) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    source = g.draw().to_dot()
    written = {float(v) for v in re.findall(r'POINT-SIZE="([\d.]+)"', source)} | {11.0, 9.0}
    assert all(any(abs(size - w) / w < 0.06 and size <= w for w in written) for _, size in sizes), sizes
    assert any(size < 10 for bold, size in sizes if not bold)  # the 10 pt lines: made smaller here
    fitted = dot_mod._shortfall(frozenset({("DejaVu Sans", False, False, 10.0), ("DejaVu Sans", True, False, 14.0)}))
    for text, size, bold in (("norm 0.0879, range [−1.91e−56, 1.08e−56]", 10.0, False),
                             ("Σ of 300 messages m₁ … m₃₀₀, 0123456789", 10.0, False), ("∂L/∂W0123", 14.0, True)):
        measured = _xdot_width(dot_executable, text, size, bold)
        drawn = _xdot_width(dot_executable, text, 100, bold) * size * fitted["DejaVu Sans", bold, False, size] / 100
        assert drawn <= measured + 0.5, (text, size, drawn, measured)
