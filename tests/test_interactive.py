"""The interactive page and the frames, read back without a browser: the steps against the backward
pass computed independently (autograd, and sums of the edges' messages), the page's self-containment
and its marks on the drawing, the frames' one layout (``dot -Tjson``), the CLI and Jupyter routes.
The page driven in a real browser: ``test_interactive_browser.py``."""

from __future__ import annotations

import html
import json
import re
import subprocess

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from click.testing import CliRunner

import graphviz_bp as gb
from graphviz_bp.cli import main
from graphviz_bp.drawing.annotate import absorbed_constants, annotate
from graphviz_bp.drawing.page import frame, page
from graphviz_bp.drawing.render import to_dot
from graphviz_bp.drawing.text import subscript, summarize
from graphviz_bp.drawing.walkthrough import grid, walk

from .problems import autoencoder, deep_mlp, deep_mlp_inputs, swish_inputs, swish_net

RNG = np.random.default_rng(314)


def ae_graph(rng=RNG):
    return gb.trace(autoencoder, W=rng.normal(size=(3, 5)) * 0.5, x=rng.normal(size=5))


def page_data(text):
    m = re.search(r'<script type="application/json" id="walk">(.*?)</script>', text, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def sending_order(g):
    """The ops that send messages, in the order reverse mode runs them (worked out here from the
    DAG: reverse trace order, ops with an operand that carries a message)."""
    return [n for n in reversed(g.nodes) if n.kind == "op" and any(e.message is not None for e in n.in_edges)]


# --- the steps ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_each_steps_partial_sums_are_the_messages_arrived_so_far(seed):
    rng = np.random.default_rng(seed)
    g = ae_graph(rng)
    dag = g._dag
    scene = annotate(dag)
    w = walk(dag, scene)
    order = sending_order(g)
    assert [s["node"] for s in w.steps] == [n.id for n in order]
    at = {n.index: k for k, n in enumerate(order, 1)}
    W, x = dag.node("W"), dag.node("x")
    for k, step in enumerate(w.steps, 1):
        for s in step["sums"]:
            node = dag.nodes[int(s["node"][1:])]
            arrived = [e.message for e in node.out_edges if at[e.dst.index] <= k]
            assert s["have"] == len(arrived) and s["of"] == len(node.out_edges) == 2
            assert s["complete"] == (len(arrived) == 2)
            assert s["partial"] == summarize(sum(arrived[1:], arrived[0]))
    # the last arrival completes each shared input: its partial sum is then autograd's gradient
    grads = autograd.grad(lambda W_, x_: 0.5 * anp.sum((W_.T @ W_ @ x_ - x_) ** 2), (0, 1))(W.value, x.value)
    for node, ref in zip((W, x), grads):
        done = w.complete[node.id]
        assert done == max(at[e.dst.index] for e in node.out_edges)
        msgs = [e.message for e in node.out_edges]
        np.testing.assert_allclose(msgs[0] + msgs[1], ref, rtol=1e-12)
        assert w.arrivals[node.id] == sorted(at[e.dst.index] for e in node.out_edges)


def test_a_value_used_by_every_layer_sums_its_messages_step_by_step():
    # W read by each of 12 layers (its slice W[i]), and h * h: two messages at one step
    def f(W, x):
        h = x * x
        for i in range(12):
            h = np.tanh(W[i] @ h)
        return np.sum(h * h)

    rng = np.random.default_rng(5)
    g = gb.trace(f, W=rng.normal(size=(12, 3, 3)), x=rng.normal(size=3))
    dag = g._dag
    w = walk(dag, annotate(dag))
    order = sending_order(g)
    at = {n.index: k for k, n in enumerate(order, 1)}
    seen = set()
    for k, step in enumerate(w.steps, 1):
        for s in step["sums"]:
            node = dag.nodes[int(s["node"][1:])]
            seen.add(node.kind + str(len(node.out_edges)))
            uses = [j for j, e in enumerate(node.out_edges) if at[e.dst.index] <= k]
            arrived = [node.out_edges[j].message for j in uses]
            assert s["have"] == len(arrived) and s["of"] == len(node.out_edges)
            assert s["complete"] == (len(arrived) == len(node.out_edges))
            assert s["partial"] == summarize(sum(arrived[1:], arrived[0]))
            names = [f"m{subscript(j + 1)}" for j in uses]
            if len(names) > 8:
                names = names[:3] + ["…"] + names[-2:]
            assert s["terms"] == " + ".join(names) + ("" if s["complete"] else " + …")
    assert seen >= {"input12", "input2"}
    # the last sum of W is its gradient
    last = [s for step in w.steps for s in step["sums"] if s["name"] == "W"][-1]
    assert last["complete"] and last["partial"] == summarize(dag.backward_pass.adjoint(dag.node("W")))


def test_a_complete_sum_reads_as_the_gradient_drawn_where_the_terms_cancel():
    # 0.1 + 0.2 − 0.3: summed as the messages arrive (the last use first) it is 2.78e−17, as the
    # backward pass sums them 5.55e−17, the gradient drawn on x
    g = gb.trace(lambda x: np.sum(0.1 * x) + np.sum(0.2 * x) + np.sum(-0.3 * x), x=np.array([1.0]))
    dag = g._dag
    w = walk(dag, annotate(dag))
    last = [s for step in w.steps for s in step["sums"] if s["name"] == "x"][-1]
    assert last["complete"] and last["partial"] == summarize(g.grad("x")) == "[5.55e−17]"


def test_messages_appear_on_their_edges_at_the_step_that_sends_them():
    g = ae_graph()
    dag = g._dag
    scene = annotate(dag)
    w = walk(dag, scene)
    order = sending_order(g)
    for e in scene.edges:
        (i,) = scene.stands_for[e.id]
        edge = dag.edges[i]
        if edge.message is None:
            assert e.id not in w.edge_step
            assert all(t == 0 for line in w.reveal[e.id] for t in line)
            continue
        step = order.index(edge.dst) + 1
        assert w.edge_step[e.id] == step
        start, stop = e.back
        assert stop > start  # the message's lines
        for j, when in enumerate(w.reveal[e.id]):
            assert set(when) == ({step} if start <= j < stop else {0})
    # W's sum: its name at the first arrival, each term when it arrives, faint before
    W = dag.node("W")
    node = scene.node(W.id)
    first, last = w.arrivals[W.id]
    line = node.lines[node.back[0]]
    when = dict(zip([s.text.strip() for s in line], w.reveal[W.id][node.back[0]]))
    terms = {f"m{'₁₂'[k]}": order.index(e.dst) + 1 for k, e in enumerate(W.out_edges)}
    for tag, step in terms.items():
        assert when[tag] == [first, step]
    assert when["∂L/∂W"] == first
    assert all(t == last for line_when in w.reveal[W.id][node.back[0] + 1:node.back[1]] for t in line_when)


def test_rules_are_the_verified_formulas_and_the_numbers_are_the_messages():
    g = ae_graph()
    dag = g._dag
    w = walk(dag, annotate(dag))
    seen = 0
    for step in w.steps:
        for m in step["sent"]:
            (i,) = annotate(dag).stands_for[m["edge"]]
            e = dag.edges[i]
            assert m["rule"] == e.formula.short(120) and e.formula.verified
            assert m["value"] == summarize(e.message)
            seen += 1
    assert seen == sum(1 for e in dag.edges if e.message is not None)


def test_clicking_a_value_lists_contributions_that_sum_to_its_gradient():
    rng = np.random.default_rng(5)
    inputs = swish_inputs(rng)
    g = gb.trace(swish_net, **inputs)
    dag = g._dag
    w = walk(dag, annotate(dag))
    for name in ("W1", "x"):
        node = dag.node(name)
        info = w.nodes[node.id]
        grad = g.grad(name)
        assert info["gradient"]["numbers"] == pytest.approx(grad.ravel().tolist(), rel=1e-15, abs=0)
        assert info["pathCount"] == len(g.contributions(name)) == len(info["paths"])
        total = np.sum([np.array(p["numbers"]) for p in info["paths"]], axis=0)
        np.testing.assert_allclose(total, grad.ravel(), rtol=1e-12, atol=1e-14)
        for p, c in zip(info["paths"], g.contributions(name)):
            assert p["numbers"] == c.value.ravel().tolist()
            assert p["edges"] == [f"e{e.src.index}_{e.dst.index}_{e.argnum}" for e in c.path]
        # the page finds the edges to light from each edge's ends
        ends = {(e["src"], e["dst"]) for e in w.edges.values()}
        assert ends == {(e.src.id, e.dst.id) for e in dag.edges if e.src.index not in absorbed_constants(dag)}


def test_heat_map_grids_are_block_means():
    a = RNG.normal(size=(96, 7))
    gr = grid(a)
    assert (gr["rows"], gr["cols"]) == (48, 7) and "2 × 1 block" in gr["note"]
    np.testing.assert_allclose(np.array(gr["data"]).reshape(48, 7), a.reshape(48, 2, 7).mean(axis=1), rtol=5e-4)
    ragged = grid(a[:95])  # blocks of 2 rows, the last of one row
    assert ragged["rows"] == 48
    np.testing.assert_allclose(ragged["data"][-7:], a[94], rtol=5e-4)
    v = grid(np.arange(3.0))
    assert (v["rows"], v["cols"], v["data"], v["max"]) == (1, 3, [0.0, 1.0, 2.0], 2.0)
    row = grid(np.arange(5000.0), side=10)  # one row of at most side² cells
    assert (row["rows"], row["cols"]) == (1, 100) and row["data"][0] == 24.5
    t = grid(np.ones((2, 3, 4)))
    assert (t["rows"], t["cols"]) == (2, 12) and "flattened" in t["note"]
    odd = grid(np.array([np.inf, -1.0, np.nan]))
    assert odd["data"] == ["inf", -1.0, "nan"] and odd["max"] == 1.0



def test_a_cell_of_a_block_with_an_entry_not_finite_is_not_finite_and_says_nothing():
    # sph-python's gradient, NaN at one entry of 300 × 300: the block's mean left it out (nanmean, with
    # NaN as padding), and a block of NaN alone made NumPy warn "Mean of empty slice"
    a = np.ones((95, 300))
    a[0, 0], a[94, 299] = np.nan, np.inf
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gr = grid(a)
        nan_only = grid(np.full((300, 300), np.nan))
    cells = np.array([np.nan if x == "nan" else np.inf if x == "inf" else x for x in gr["data"]], float)
    cells = cells.reshape(gr["rows"], gr["cols"])
    assert np.isnan(cells[0, 0]) and cells[-1, -1] == np.inf  # (the last row's block: of one row)
    assert np.isnan(cells).sum() == 1 and np.isinf(cells).sum() == 1 and np.all(cells[1:-1] == 1.0)
    assert set(nan_only["data"]) == {"nan"}


# --- the page -----------------------------------------------------------------------------------------

def test_the_page_is_self_contained_and_small(tmp_path):
    g = ae_graph()
    path = g.render(tmp_path / "ae.html")
    text = path.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) < 300_000
    assert text.startswith("<!DOCTYPE html>")
    # nothing fetched: no external scripts, styles, images, fonts or links
    assert not re.search(r"<(script|img|link|iframe)[^>]*\ssrc=", text)
    assert not re.search(r"<link\b|@import|url\(", text)
    refs = set(re.findall(r'(?:href|src)="([^"#][^"]*)"', text))
    assert refs == set()
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text)) - {"http://www.w3.org/2000/svg",
                                                                "http://www.w3.org/1999/xlink"}
    assert urls == set()
    data = page_data(text)
    svg_ids = set(re.findall(r'<g id="([^"]+)" class="(?:node|edge)', text))
    assert set(data["edgeStep"]) <= svg_ids and set(data["nodes"]) <= svg_ids and set(data["edges"]) <= svg_ids
    assert len(data["steps"]) == len(sending_order(g))


def test_every_backward_text_on_the_drawing_is_marked_with_its_step():
    g = ae_graph()
    dag = g._dag
    scene = annotate(dag)
    w = walk(dag, scene)
    svg = subprocess.run(["dot", "-Tsvg"], input=to_dot(scene).encode(), capture_output=True, check=True).stdout.decode()
    text = page(svg, scene, w)
    marked = re.findall(r'<text (data-s="(\d+)"(?: data-d="(\d+)")?)[^>]*>([^<]*)</text>', text)
    expected = []
    for el in list(scene.nodes) + list(scene.edges):
        for line, when in zip(el.lines, w.reveal.get(el.id, [])):
            for span, t in zip(line, when):
                if t and span.text.strip():
                    expected.append((html.unescape(span.text).strip(), t if isinstance(t, list) else [None, t]))
    got = [(html.unescape(body).replace("\xa0", " ").strip(), [int(d) if d else None, int(s)])
           for _, s, d, body in marked]
    assert sorted(map(str, got)) == sorted(map(str, expected))
    assert len(got) > 20


def test_a_page_of_many_arrays_stays_small():
    """Every drawn value and message on an unfolded 100-layer net: the arrays share a budget, so
    the page grows with the drawing, not with the drawing times its depth."""
    rng = np.random.default_rng(6)
    small = gb.trace(deep_mlp(10), **deep_mlp_inputs(rng, 10, width=40)).draw(fold=False).html()
    big = gb.trace(deep_mlp(100), **deep_mlp_inputs(rng, 100, width=40)).draw(fold=False).html()
    assert len(big.encode()) < 8_000_000
    assert len(big) < 14 * len(small)  # 10 times the layers
    data = page_data(big)
    grids = [n["value"]["grid"] for n in data["nodes"].values()]
    assert max(g["rows"] * g["cols"] for g in grids) <= 48 * 48


def test_a_folded_deep_net_steps_through_every_layer(tmp_path):
    rng = np.random.default_rng(3)
    g = gb.trace(deep_mlp(40), **deep_mlp_inputs(rng, 40))
    text = g.draw().html()
    data = page_data(text)
    assert len(data["steps"]) == len(sending_order(g))
    # steps of every layer land on the one drawn layer: the drawn edges stand for 40 each
    drawn = {s["node"] for s in data["steps"]}
    assert len(drawn) < len(data["steps"]) / 10
    assert any(e.get("count") == 40 for e in data["edges"].values())
    assert len(text.encode()) < 2_000_000


def _rnn_page(W, U, X):
    h = np.zeros(3)
    for x in X:
        h = np.tanh(W @ h + U @ x)
    return np.sum(h ** 2)


def test_a_folded_edges_message_is_said_sent_at_the_step_that_sends_it():
    """A folded edge showed the first repetition's message "sent at step 7", the step of the last
    repetition's (the first the backward pass reaches): that step's panel sent other numbers."""
    rng = np.random.default_rng(5)
    g = gb.trace(_rnn_page, W=rng.normal(size=(3, 3)) * 0.5, U=rng.normal(size=(3, 2)), X=rng.normal(size=(30, 2)))
    drawing = g.draw(fold=True)
    data, scene = page_data(drawing.html()), drawing.scene()
    folded = {eid: e for eid, e in data["edges"].items() if e.get("count", 1) > 1 and "message" in e}
    assert len(folded) >= 4
    for eid, e in folded.items():
        first = g._dag.edges[scene.stands_for[eid][0]]  # the first repetition's, whose numbers are drawn
        sent = [x["value"] for x in data["steps"][e["step"] - 1]["sent"] if x["edge"] == eid]
        assert summarize(first.message) in sent, (eid, e["step"], sent)
        assert e["step"] == max(data["edgeSteps"][eid])  # the pass reaches the first repetition last


def test_the_rules_in_the_panel_are_cut_to_a_line():
    """A message's formula through 30 steps was written out whole: 667 characters in the panel."""
    from graphviz_bp.drawing.walkthrough import RULE_LENGTH

    rng = np.random.default_rng(5)
    g = gb.trace(_rnn_page, W=rng.normal(size=(3, 3)) * 0.5, U=rng.normal(size=(3, 2)), X=rng.normal(size=(30, 2)))
    data = page_data(g.draw(fold=True).html())
    rules = [x["rule"] for s in data["steps"] for x in s["sent"] if x["rule"]]
    assert rules and max(map(len, rules)) <= RULE_LENGTH and any(r.endswith("…") for r in rules)


def _running_loss(W, X):
    h, loss = np.zeros(3), 0.0
    for x in X:
        h = np.tanh(W @ h + x)
        loss = loss + np.sum(h ** 2)
    return loss


def test_a_node_drawn_for_several_is_named_on_the_page_as_drawn():
    """The folded running sum is drawn "0 + (·) … +" (its first and last): the page named it "0 + (·)"."""
    rng = np.random.default_rng(7)
    g = gb.trace(_running_loss, W=rng.normal(size=(3, 3)) * 0.5, X=rng.normal(size=(12, 3)))
    drawing = g.draw(fold=True)
    data, scene = page_data(drawing.html()), drawing.scene()
    several = [n for n in scene.nodes if len(scene.stands_for[n.id]) > 1 and n.id in data["nodes"]]
    assert any(" … " in n.text.split("\n")[0] for n in several)
    for n in several:
        assert data["nodes"][n.id]["name"] == n.text.split("\n")[0]
    for eid, e in data["edges"].items():
        if e.get("src") in {n.id for n in several} and "from" in e:
            assert e["from"] == scene.node(e["src"]).text.split("\n")[0]


def test_jupyter_shows_the_page_in_a_frame_of_its_own():
    g = ae_graph()
    view = g.interactive()
    shown = view._repr_html_()
    m = re.fullmatch(r'<iframe srcdoc="([^"]*)" [^>]*sandbox="allow-scripts"[^>]*></iframe>', shown)
    assert m is not None and html.unescape(m.group(1)) == view.html
    assert page_data(view.html)["steps"]


# --- frames ----------------------------------------------------------------------------------------

def layout(source):
    """Where dot puts each node and edge (and edge label) of ``source``."""
    out = json.loads(subprocess.run(["dot", "-Tjson"], input=source.encode(), capture_output=True,
                                    check=True).stdout)
    nodes = {o["name"]: (o.get("pos"), o.get("width"), o.get("height")) for o in out.get("objects", [])}
    edges = [(e.get("pos"), e.get("lp")) for e in out.get("edges", [])]
    return nodes, edges, out["bb"]


def test_frames_share_one_layout_and_differ_in_what_they_show():
    g = ae_graph()
    dag = g._dag
    scene = annotate(dag)
    w = walk(dag, scene)
    sources = [to_dot(frame(scene, w, k)) for k in range(len(w.steps) + 1)]
    first = layout(sources[0])
    for k, src in enumerate(sources[1:], 1):
        assert layout(src) == first, f"frame {k} moved"
    assert len(set(sources)) == len(sources)
    # step 0 shows no message; the last frame shows every message as the plain drawing does
    assert "transparent" in sources[0]
    assert all(span.color != "transparent" for n in frame(scene, w, len(w.steps)).nodes for line in n.lines
               for span in line)


def test_frames_are_written_as_complete_pictures(tmp_path):
    g = ae_graph()
    paths = g.frames(tmp_path / "slides", "png")
    steps = len(sending_order(g))
    pngs = sorted(p for p in paths if p.suffix == ".png")
    assert [p.name for p in pngs] == [f"step-{k}.png" for k in range(steps + 1)]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    index = (tmp_path / "slides" / "steps.txt").read_text(encoding="utf-8").splitlines()
    assert len(index) == steps + 1 and index[1].startswith("step-1.png: step 1: at × ½")
    # a shorter set in the same place leaves no stale frame behind
    small = gb.trace(lambda x: np.sum(x * x), x=np.ones(3))
    small.frames(tmp_path / "slides", "png")
    left = sorted(p.name for p in (tmp_path / "slides").iterdir())
    assert left == ["step-0.png", "step-1.png", "step-2.png", "steps.txt"]
    with pytest.raises(ValueError, match="svg, png or pdf"):
        g.frames(tmp_path / "x", "dot")
    with pytest.raises(ValueError, match="7 steps: 8 frames, more than limit=5"):
        g.frames(tmp_path / "y", limit=5)
    assert not (tmp_path / "y").exists()


def test_cli_writes_the_page_and_the_frames(tmp_path):
    r = CliRunner().invoke(main, ["render", "0.5*sum((W.T@W@x - x)**2)", "-i", "W=3x5", "-i", "x=5",
                                  "-o", str(tmp_path / "ae.html"), "--frames", str(tmp_path / "f"), "-f", "png"])
    assert r.exit_code == 0, r.output
    data = page_data((tmp_path / "ae.html").read_text(encoding="utf-8"))
    assert len(data["steps"]) == 7
    assert len(list((tmp_path / "f").glob("step-*.png"))) == 8
    r = CliRunner().invoke(main, ["render", "sum(x*x)", "-i", "x=3"])
    assert r.exit_code == 2 and "--frames DIR" in r.output
    r = CliRunner().invoke(main, ["render", "sum(x*x)", "-i", "x=3", "--frames", str(tmp_path / "g"), "-f", "html"])
    assert r.exit_code == 2 and "svg, png or pdf" in r.output and not (tmp_path / "g").exists()
    deep = tmp_path / "deep.py"
    deep.write_text("import numpy as np\n\ndef f(x):\n    for _ in range(320):\n        x = np.tanh(x)\n"
                    "    return np.sum(x)\n")
    r = CliRunner().invoke(main, ["render", f"{deep}:f", "-i", "x=3", "--frames", str(tmp_path / "h")])
    assert r.exit_code == 2 and "321 steps" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "h").exists()  # the folder made for the frames is gone again


def test_the_page_gives_the_norm_of_a_vanishing_gradient_not_0():
    """np.linalg.norm squares the entries: below 1e-162 their squares are 0, and a gradient of norm
    3e-170 read 0 on the page (and wrong near 1e-160)."""
    x = np.array([3e-170, -4e-170, 1e-171])
    g = gb.trace(lambda x: np.sum(x * np.array([1.0, 2.0, 3.0]) * 1e-170), x=x)
    w = walk(g._dag, annotate(g._dag))
    info = w.nodes[g.node("x").id]
    grad = g.grad("x")
    expected = np.abs(grad).max() * np.linalg.norm(grad / np.abs(grad).max())
    assert info["gradient"]["norm"] == pytest.approx(expected, rel=1e-12, abs=0) and expected > 0
    assert info["value"]["norm"] == pytest.approx(np.sqrt(25.01) * 1e-170, rel=1e-12, abs=0)


def _attention_scores(x, Wq, Wk):
    q = x @ Wq
    k = x @ Wk
    return np.sum((q @ k.T) ** 2) + np.sum(q)


def test_the_page_names_a_value_by_the_line_that_assigns_it_as_the_drawing_does():
    """``q = x @ Wq``: the drawing writes q under the op and ∂L/∂q; the page said "@" and, in a
    shared value's sum, "At matmul#3: ∂L/∂matmul#3"."""
    rng = np.random.default_rng(5)
    g = gb.trace(_attention_scores, x=rng.normal(size=(4, 3)), Wq=rng.normal(size=(3, 3)),
                 Wk=rng.normal(size=(3, 3)))
    q = next(n for n in g.nodes if n.kind == "op" and n.op.name == "matmul" and n.in_edges[1].src.name == "Wq")
    scene = annotate(g._dag)
    assert "∂L/∂q = m₁ + m₂" in scene.node(q.id).text.splitlines()
    w = walk(g._dag, scene)
    at_q = [s for s in w.steps if s["node"] == q.id]
    assert [(s["name"], s["cotangent"]) for s in at_q] == [("q", "∂L/∂q")]
    assert {m["toName"] for s in w.steps for m in s["sent"] if m["to"] == q.id} == {"q"}
    sums = [x["name"] for s in w.steps for x in s["sums"] if x["node"] == q.id]
    assert sums and set(sums) == {"q"}
    assert "#" not in json.dumps([s["sums"] for s in w.steps])


def _euler(x):
    h = x
    for _ in range(60):
        h = h + 1e-3 * np.sin(h)  # h reaches the next step twice: 2^60 paths from x
    return np.sum(h ** 2)


def test_the_page_writes_a_count_of_paths_past_javascripts_integers_as_a_power_of_ten():
    """The count went into the page's JSON whole: past 10^4300 paths json.dumps raised, and past
    1e308 the page would read Infinity."""
    g = gb.trace(_euler, x=np.array([0.3, 0.7]))
    w = walk(g._dag, annotate(g._dag))
    assert w.nodes[g.node("x").id]["pathCount"] == str(2 ** 60)  # (JavaScript would round the number)
    assert f'"pathCount": "{2 ** 60}"' in json.dumps(w.data())


def _two_runs(x, W0, W1):
    out = 0
    for W in [W0, W1]:  # W0 3×3, W1 5×5: the outer iterations differ, not folded; each inner loop folds
        h = np.zeros(W.shape[0])
        for t in range(10):
            h = np.tanh(W @ h + x[t, :W.shape[0]])
        out = out + np.sum(h ** 2)
    return out


def _backwards(x, W):
    h = np.zeros(3)
    for t in reversed(range(12)):  # numbered by passes, not by t
        h = np.tanh(W @ h + x[t])
    return np.sum(h ** 2)


def test_a_steps_place_names_each_fold_it_is_in_once_and_a_counter_only_where_it_numbers_the_steps():
    """A step of a loop folded in each of two runs of an unfolded loop was placed in both runs'
    folds ("t = 9 (10 of 10) › t = 9 (10 of 10)"); one of reversed(range(12)) read "t = 11" where t
    was 0."""
    from graphviz_bp.drawing.walkthrough import walk

    rng = np.random.default_rng(0)
    g = gb.trace(_two_runs, x=rng.normal(size=(10, 5)), W0=rng.normal(size=(3, 3)) * .5,
                 W1=rng.normal(size=(5, 5)) * .5)
    w = walk(g._dag, g.draw(fold=True).scene())
    placed = [st["reps"] for st in w.steps if st.get("reps")]
    assert len(placed) >= 40 and all(len(reps) == 1 for reps in placed)
    assert {reps[0]["named"] for reps in placed} >= {f"t = {t}" for t in range(1, 10)}
    for f in (_backwards, _enumerated_reassigned):  # numbered by passes, not by the counter
        g = gb.trace(f, x=rng.normal(size=(12, 3)), W=rng.normal(size=(3, 3)) * .5)
        w = walk(g._dag, g.draw(fold=True).scene())
        named = {st["reps"][0]["named"] for st in w.steps if st.get("reps")}
        assert named and all(n.startswith("iteration ") for n in named), (f.__name__, named)


def _enumerated_reassigned(x, W):
    h = np.zeros(3)
    for i, row in enumerate(x):
        if i < 2:
            continue  # i = 0, 1 make no op
        row = row * 0.5  # the body assigns the item: its iterations are numbered by passes (0 where i is 2)
        h = np.tanh(W @ h + row)
    return np.sum(h ** 2)


def test_a_node_drawn_for_several_inputs_counts_the_messages_of_them_all():
    """W0 … W1, one node for both layers' weights, listed "0 of 30 messages" through the second
    layer's steps, which send W1 its 30: it counted W0's alone, and was "complete" at 30 of 60."""
    from graphviz_bp.drawing.walkthrough import walk

    from .test_drawing_fold import _stacked_layers

    rng = np.random.default_rng(2)
    inputs = {"x": rng.normal(size=(30, 4)), **{k: rng.normal(size=(4, 4)) * .5 for k in ("W0", "U0", "W1", "U1")}}
    g = gb.trace(_stacked_layers, **inputs)
    scene = g.draw(fold=True).scene()
    (node,) = [n for n in scene.nodes if n.text.startswith("W0 … W1")]
    w = walk(g._dag, scene)
    sent = sorted(k for k, st in enumerate(w.steps, 1) for m in st["sent"] if m["toName"] in ("W0", "W1"))
    assert len(sent) == 60 and w.arrivals[node.id] == sent
