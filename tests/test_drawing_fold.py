"""Folded and grouped drawings, read back from their DOT: one frame per group, a repeat drawn once
with "× N" and its strip of message norms, a group collapsed to a box with the messages that cross
its boundary, and ``fold=False`` / ``depth=None`` drawing everything."""

from __future__ import annotations

import re

import numpy as np
import pydot
import pytest

import graphviz_bp as gb
from graphviz_bp.drawing.annotate import absorbed_constants
from graphviz_bp.drawing.folded import strip

from .dotgraph import all_nodes, clusters, frame_title
from .numerics import numerical_grad
from .problems import deep_mlp, deep_mlp_inputs, examples_through_layers
from .test_formulas import _stable_sigmoid  # cs231n's rnn_layers.sigmoid: boolean-mask gathers and writes

RNG = np.random.default_rng(21)


def parse(src):
    (graph,) = pydot.graph_from_dot_data(src)
    return graph


def label_text(x):
    return frame_title(x) if isinstance(x, pydot.Subgraph) else str(x.get("label") or "")


def test_a_deep_net_is_drawn_as_one_folded_layer_with_its_norm_strip():
    depth = 60
    g = gb.trace(deep_mlp(depth), **deep_mlp_inputs(RNG, depth))
    graph = parse(g.to_dot())
    nodes = all_nodes(graph)
    assert len(nodes) < 20  # 301 values drawn as about a dozen boxes
    (frame,) = [c for c in clusters(graph) if "folded" in str(c.get("class"))]
    title = label_text(frame)
    assert "× 60" in title and "iterations 0…59" in title
    norms = [float(np.linalg.norm(n.adjoint)) for n in g.nodes if n.kind == "op" and n.op.name == "tanh"]
    assert strip(norms) in title  # the bars are this net's ∂L/∂h per layer
    assert f"{norms[0]:.3g} (first) → {norms[-1]:.3g} (last)".replace("-", "−") in title
    inside = {n.get_name() for n in frame.get_nodes()}
    assert g.node("W0").id in inside and g.node("b0").id in inside
    assert "W0 … W59" in label_text(next(n for n in nodes if n.get_name() == g.node("W0").id))
    back = [e for e in graph.get_edges() if "recurrence" in str(e.get("class"))]
    # from the layer's tanh back to the next layer's @: written downwards, from @ to tanh, its arrow
    # drawn at @, ranked as the block's own edges, its label beside it
    symbol = {n.get_name(): m.group(1) for n in nodes if (m := re.search(r"<B>([^<]*)</B>", label_text(n)))}
    assert len(back) == 1 and (symbol[back[0].get_source()], symbol[back[0].get_destination()]) == ("@", "tanh")
    assert back[0].get("dir") == "back" and back[0].get("constraint") is None
    assert "× 59" in label_text(back[0]) and back[0].get("xlabel") is None
    # the tooltip of an edge drawn for all 60 layers names the last layer's message too
    w_edge = next(e for e in graph.get_edges() if e.get_source().strip('"') == g.node("W0").id)
    last = g.node("W59").out_edges[0]
    assert f"drawn once for 60 edges; the last, W59 → {last.dst.name}" in str(w_edge.get("tooltip"))
    assert f"norm {np.linalg.norm(last.message):.3g}" in str(w_edge.get("tooltip"))


def test_fold_false_draws_every_node_in_one_frame_per_iteration():
    depth = 40
    g = gb.trace(deep_mlp(depth), **deep_mlp_inputs(RNG, depth))
    graph = parse(g.to_dot(fold=False, detail="structure"))
    numbers = absorbed_constants(g._dag)  # ½ and 2: in × ½ and (·)²
    assert len(numbers) == 2
    assert len([n for n in all_nodes(graph) if re.fullmatch(r"n\d+", n.get_name())]) == len(g.nodes) - 2
    assert len(graph.get_edges()) == len(g.edges) - 2
    frames = clusters(graph)
    assert len(frames) == depth and all("iteration" in label_text(c) for c in frames)


def test_depth_zero_collapses_the_loop_to_one_box_with_the_crossing_messages():
    depth = 5
    g = gb.trace(deep_mlp(depth), **deep_mlp_inputs(RNG, depth))
    graph = parse(g.to_dot(fold=False, depth=0))
    boxes = [n for n in all_nodes(graph) if n.get_name().startswith('"box_') or n.get_name().startswith("box_")]
    assert len(boxes) == 1
    box = boxes[0].get_name().strip('"')
    assert "for i in range(depth):" in label_text(boxes[0]) and "15 ops" in label_text(boxes[0])
    into = [e for e in graph.get_edges() if e.get_destination().strip('"') == box]
    out = [e for e in graph.get_edges() if e.get_source().strip('"') == box]
    assert len(into) == 1 + 2 * depth and len(out) == 1  # X, every W and b; the last h
    last = [n for n in g.nodes if n.kind == "op" and n.op.name == "tanh"][-1]
    assert f"{np.linalg.norm(last.adjoint):.3g}" in label_text(out[0])  # ∂L/∂h leaving the box


def test_an_rnns_shared_weight_sums_a_hundred_messages_and_names_the_largest():
    def rnn(W, h0, X):
        h = h0
        for x in X:
            h = np.tanh(W @ h + x)
        return np.sum(h)

    g = gb.trace(rnn, W=RNG.normal(size=(4, 4)) * 0.5, h0=np.zeros(4), X=RNG.normal(size=(100, 4)))
    graph = parse(g.to_dot(data=("h0", "X")))
    w = next(n for n in all_nodes(graph) if n.get_name() == g.node("W").id)
    assert "Σ of 100 messages m₁ … m₁₀₀" in label_text(w)
    biggest = max(range(100), key=lambda k: np.linalg.norm(g.node("W").out_edges[k].message))
    sub = "".join("₀₁₂₃₄₅₆₇₈₉"[int(c)] for c in str(biggest + 1))
    assert f"largest messages: m{sub} ‖" in label_text(w)
    per_use = [float(np.linalg.norm(e.message)) for e in g.node("W").out_edges]
    assert f"‖m‖ by use {strip(per_use)}" in label_text(w)  # the hundred messages' norms, step by step
    (frame,) = [c for c in clusters(graph) if "folded" in str(c.get("class"))]
    assert "× 100" in label_text(frame)
    np.testing.assert_allclose(sum(e.message for e in g.node("W").out_edges), g.grad("W"))


@pytest.mark.parametrize("bad", ["sometimes", 2])
def test_a_bad_fold_is_refused(bad):
    g = gb.trace(deep_mlp(2), **deep_mlp_inputs(RNG, 2))
    with pytest.raises(ValueError, match="fold must be one of"):
        g.to_dot(fold=bad)


def test_a_small_graph_with_a_function_call_is_framed_by_it():
    def layer(W, x):
        return np.tanh(W @ x)

    def f(W, x):
        return np.sum(layer(W, x) ** 2)

    graph = parse(gb.trace(f, W=RNG.normal(size=(3, 3)), x=RNG.normal(size=3)).to_dot())
    (frame,) = clusters(graph)
    assert "layer()" in label_text(frame)
    assert len(frame.get_nodes()) == 2  # @ and tanh


def test_numbers_are_written_in_their_ops_and_operand_order_is_marked():
    def f(x, y):
        return 0.5 * np.sum((x - y) ** 2) + np.sum(1.0 - x / y)

    g = gb.trace(f, x=RNG.normal(size=3), y=RNG.normal(size=3) + 3.0)
    graph = parse(g.to_dot())
    labels = {n.get_name(): label_text(n) for n in all_nodes(graph)}
    assert not any(re.fullmatch(r"n\d+", k) and g._dag.nodes[int(k[1:])].kind == "const" for k in labels)
    symbols = " | ".join(labels.values())
    for written in ("× ½", "(·)²", "1 − (·)", "÷", "−"):
        assert written in symbols, written
    sub = next(n for n in g.nodes if n.kind == "op" and n.op.name == "subtract" and n.in_edges[0].src.kind == "input")
    div = next(n for n in g.nodes if n.kind == "op" and n.op.name == "divide")
    for op in (sub, div):
        marks = {e.get_source().strip('"'): e.get("headlabel").strip('"') for e in graph.get_edges()
                 if e.get_destination().strip('"') == op.id}
        assert marks == {g.node("x").id: "①", g.node("y").id: "②"}
    adds = [e for e in graph.get_edges() if e.get("headlabel") and e.get_destination().strip('"') in
            {n.id for n in g.nodes if n.op is not None and n.op.name == "add"}]
    assert adds == []  # + is commutative: no marks


@pytest.mark.parametrize("depth", [3, 20, 40])
def test_an_unfolded_net_is_drawn_as_a_straight_chain_with_its_weights_beside_it(depth, dot_executable):
    g = gb.trace(deep_mlp(depth), **deep_mlp_inputs(RNG, depth))
    source = g.to_dot(fold=False, depth=None)
    graph = parse(source)
    ops = [n for n in all_nodes(graph) if re.fullmatch(r"n\d+", n.get_name())
           and g._dag.nodes[int(n.get_name()[1:])].kind == "op"]
    others = [n for n in all_nodes(graph) if re.fullmatch(r"n\d+", n.get_name())
              and g._dag.nodes[int(n.get_name()[1:])].kind != "op"]
    assert ops and all(n.get("group") == "chain" for n in ops)
    assert all(n.get("group") is None for n in others)  # W and b go to its sides
    # laid out: the layers' tanh nodes stand in one column, and the drawing is no wider for more layers
    import json
    import subprocess

    laid = json.loads(subprocess.run([dot_executable, "-Tjson"], input=source.encode(), capture_output=True,
                                     check=True).stdout)
    x = {o["name"]: float(o["pos"].split(",")[0]) for o in laid["objects"] if "pos" in o}
    tanhs = [x[n.id] for n in g.nodes if n.kind == "op" and n.op.name == "tanh"]
    # points: an inch at most (frames and the widths of the labels nudge it: 14 to 46 at depth 40 over
    # eight seeds), where it drifted a layer at a time (a 20-layer net drawn 31 in wide)
    assert max(tanhs) - min(tanhs) < 72
    width = float(laid["bb"].split(",")[2])
    assert width < 9 * 72  # points: 9 inches at any depth


def _stable_softmax(z):
    e = np.exp(z - np.max(z, axis=1, keepdims=True))  # z used twice inside the call
    return e / np.sum(e, axis=1, keepdims=True)


def _dense(X, W, b):
    return X @ W + b


def _softmax_loss(W, b, X, Y):
    return -np.sum(Y * np.log(_stable_softmax(_dense(X, W, b))))


def _loss_fn(h):
    return 0.5 * np.sum(h ** 2)


def _two_layers_then_a_loss(W0, W1, x):
    h = np.tanh(W0 @ x)
    h = np.tanh(W1 @ h)
    return _loss_fn(h)


def test_the_output_drawn_beside_its_collapsed_call_is_not_counted_in_it():
    # depth=0: the call computing the output is one box and the output is drawn beside it (the backward
    # pass starts there); the box counted the output among its ops ("3 ops: power, sum, multiply")
    rng = np.random.default_rng(8)
    g = gb.trace(_two_layers_then_a_loss, W0=rng.normal(size=(3, 3)), W1=rng.normal(size=(3, 3)), x=rng.normal(size=3))
    scene = g.draw(depth=0).scene()
    (box,) = [n for n in scene.nodes if "box" in n.classes]
    out = g._dag.output
    assert out.op.name == "multiply" and scene.stands_for[out.id] == (out.index,)
    inside = [g._dag.nodes[i] for i in scene.stands_for[box.id]]
    ops = [n.op.name for n in inside if n.kind == "op"]
    assert sorted(ops) == ["power", "sum"]
    assert "2 ops: power, sum" in box.text.split("\n")
    assert "multiply" not in box.text and "multiply" not in str(box.tooltip)


def _dot_with_a_made_constant(h):
    c = np.linspace(0.0, 1.0, 6)  # a constant made inside the call, read by the output alone
    return np.dot(c, h)


def _model_then_dot(W, x):
    return _dot_with_a_made_constant(np.tanh(W @ x))


def test_a_call_whose_only_op_is_the_output_is_not_drawn_as_a_box():
    # its box read "0 ops: ", standing for the constant alone, beside the output drawn as itself
    rng = np.random.default_rng(9)
    g = gb.trace(lambda W, x: _model_then_dot(W, x), W=rng.normal(size=(6, 3)), x=rng.normal(size=3))
    for depth in (0, 1):
        scene = g.draw(depth=depth).scene()
        boxes = [n for n in scene.nodes if "box" in n.classes]
        assert all("0 ops" not in n.text for n in boxes)
        assert all(any(g._dag.nodes[i].kind == "op" for i in scene.stands_for[n.id]) for n in boxes)
        const = next(n for n in g._dag.nodes if n.kind == "const" and n.value.shape == (6,))
        drawn = [n.id for n in scene.nodes if const.index in scene.stands_for[n.id]]
        assert drawn == ([const.id] if depth == 1 else [b.id for b in boxes]), (depth, drawn)


def test_edges_into_a_collapsed_call_are_plain_edges_not_recurrences(dot_executable):
    # a value used twice inside a collapsed call is one edge "× 2" into its box; it used to be drawn
    # as the dashed, unranked edge back to a folded repeat's start ("to the next repetition"), and
    # Graphviz 2.43 crashed laying out a box reached by such edges only
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(4, 3)), np.eye(2)[[0, 1, 1, 0]]
    g = gb.trace(_softmax_loss, W=rng.normal(size=(3, 2)), b=np.zeros(2), X=X, Y=Y)
    source = g.to_dot(depth=0)
    graph = parse(source)
    boxes = {n.get_name().strip('"') for n in all_nodes(graph) if n.get_name().strip('"').startswith("box_")}
    into = [e for e in graph.get_edges() if e.get_destination().strip('"') in boxes]
    assert boxes and into
    twice = [e for e in into if "its 2 uses in the box, summed" in label_text(e)]
    assert twice  # z into softmax's box: two uses inside it
    for e in into:
        assert "recurrence" not in str(e.get("class") or "") and e.get("constraint") is None
        assert "next repetition" not in label_text(e) and "xlabel" not in e.get_attributes()
    import subprocess

    laid = subprocess.run([dot_executable, "-Tsvg"], input=source.encode(), capture_output=True)
    assert laid.returncode == 0, laid.stderr.decode()
    # a folded repeat's edge to the next repetition is still one
    depth_mlp = 5
    folded = parse(gb.trace(deep_mlp(depth_mlp), **deep_mlp_inputs(RNG, depth_mlp)).to_dot(fold=True))
    assert any("recurrence" in str(e.get("class") or "") for e in folded.get_edges())


def _softmax(x):
    xt = np.exp(x - np.max(x))
    return xt / np.sum(xt)


def _rnnlm_forward(U, W, V, x):
    s = np.zeros((len(x) + 1, 6))  # preallocated states, s[-1] the initial one
    o = np.zeros((len(x), 12))
    for t in np.arange(len(x)):
        s[t] = np.tanh(U[:, x[t]] + W.dot(s[t - 1]))
        o[t] = _softmax(V.dot(s[t]))
    return o


_RS = np.random.RandomState(1)
_SENTENCES = [(x, _RS.randint(0, 12, size=len(x))) for x in (_RS.randint(0, 12, size=5), _RS.randint(0, 12, size=7))]


def _rnnlm_loss(U, V, W):
    L = 0
    for x, y in _SENTENCES:
        o = _rnnlm_forward(U, W, V, x)
        L += -np.sum(np.log(o[np.arange(len(y)), y]))
    return L


def test_an_rnn_language_model_drawn_whole_lays_out_with_its_state_chain_straight(dot_executable):
    # every op in one DOT group made Graphviz 2.43 fail here ("trouble in init_rank"): only the main
    # chain is grouped, the longest run of ops (the state from step to step, then the loss)
    rng = np.random.default_rng(0)
    g = gb.trace(_rnnlm_loss, U=rng.normal(size=(6, 12)), V=rng.normal(size=(12, 6)), W=rng.normal(size=(6, 6)))
    source = g.to_dot(fold=False, depth=None)
    grouped = {n.get_name() for n in all_nodes(parse(source)) if n.get("group") == "chain"}
    tanhs = [n.id for n in g.nodes if n.op is not None and n.op.name == "tanh"]
    assert set(tanhs[-7:]) <= grouped  # the second sentence's states
    assert g._dag.output.id in grouped
    ops = {n.id for n in g.nodes if n.kind == "op"}
    assert grouped < ops
    import subprocess

    laid = subprocess.run([dot_executable, "-Tsvg"], input=source.encode(), capture_output=True)
    assert laid.returncode == 0, laid.stderr.decode()[:300]


def _max_pool(X):
    n, rows, cols, channels = X.shape
    Y = np.zeros((n, 3, 3, channels))
    for m in range(n):  # four nested loops filling a buffer, as from-scratch pooling layers are written
        for i in range(3):
            for j in range(3):
                for c in range(channels):
                    Y[m, i, j, c] = np.max(X[m, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c])
    return np.sum(Y ** 2)


def test_nested_loops_fold_into_one_block_drawn_once():
    X = np.random.default_rng(0).normal(size=(2, 6, 6, 3))
    g = gb.trace(_max_pool, X=X)
    assert len(g.nodes) > 150  # folded by default
    graph = parse(g.to_dot())
    drawn = [n for n in all_nodes(graph) if re.fullmatch(r"n\d+", n.get_name())]
    # the innermost body once (slice, max, write), the buffer, the square, the sum and X: before, the
    # outer loops' later iterations were folded onto the first one's inner iterations and drawn
    assert len(drawn) <= 8, [label_text(n) for n in drawn]
    frames = clusters(graph)
    assert len(frames) == 4 and all("drawn once" in label_text(c) for c in frames)
    counts = sorted(int(re.search(r"× (\d+)", label_text(c)).group(1)) for c in frames)
    assert counts == [2, 3, 3, 3]
    # X's gradient: 2·max at the argmax of each window, 0 elsewhere
    expected = np.zeros_like(X)
    for m, i, j, c in np.ndindex(2, 3, 3, 3):
        window = X[m, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c]
        r, s = np.unravel_index(np.argmax(window), window.shape)
        expected[m, 2 * i + r, 2 * j + s, c] = 2 * window[r, s]
    np.testing.assert_allclose(g.grad("X"), expected)


def test_a_layout_graphviz_fails_on_is_laid_out_again_without_its_hints(dot_executable):
    # the same RNN with every op in the chain's group: dot 2.43 stops with "trouble in init_rank";
    # pipe then lays it out with one global ranking, no group and every edge ranked
    from graphviz_bp.drawing import render
    import subprocess

    rng = np.random.default_rng(0)
    g = gb.trace(_rnnlm_loss, U=rng.normal(size=(6, 12)), V=rng.normal(size=(12, 6)), W=rng.normal(size=(6, 6)))
    source = g.to_dot(fold=False, depth=None)
    ops = {n.id for n in g.nodes if n.kind == "op"}
    lines = [line.replace(" id=", " group=chain id=", 1)
             if re.match(r"\t+(n\d+) ", line) and re.match(r"\t+(n\d+) ", line).group(1) in ops
             and "group=chain" not in line else line for line in source.split("\n")]
    hinted = "\n".join(lines)
    failed = subprocess.run([dot_executable, "-Tsvg"], input=hinted.encode(), capture_output=True)
    assert failed.returncode != 0 and b"init_rank" in failed.stderr  # the bug this works around
    svg = render.pipe(hinted, "svg").decode()
    assert svg.count('class="node') >= len(ops) and "</svg>" in svg


def _rnn_outputs(W, U, V, xs):
    h = np.zeros(6)
    ys = []
    for t in range(len(xs)):
        h = np.tanh(W @ h + U @ xs[t])  # the last step's state is read by no next step
        ys.append(V @ h)
    return 0.5 * sum(np.sum(y ** 2) for y in ys)


def _rnn_running_loss(W, U, V, xs):
    h = np.zeros(6)
    loss = 0.0
    for t in range(len(xs)):
        h = np.tanh(W @ h + U @ xs[t])
        loss += 0.5 * np.sum((V @ h) ** 2)  # the last step makes the output
    return loss


def test_an_rnns_last_step_folds_with_the_others_also_when_it_makes_the_output():
    rng = np.random.default_rng(4)
    inputs = dict(W=rng.normal(size=(6, 6)) / 3, U=rng.normal(size=(6, 3)), V=rng.normal(size=(2, 6)),
                  xs=rng.normal(size=(40, 3)))
    g = gb.trace(_rnn_outputs, **inputs)
    frames = [label_text(c) for c in clusters(parse(g.to_dot()))]
    steps = [f for f in frames if "for t in range(len(xs)):" in f]
    assert len(steps) == 1 and "× 40, drawn once" in steps[0], frames
    g = gb.trace(_rnn_running_loss, **inputs)
    graph = parse(g.to_dot())
    frames = [c for c in clusters(graph) if "for t in range(len(xs)):" in label_text(c)]
    # (it was drawn as 39 steps and a 40th: the output, made in it, told it apart)
    assert len(frames) == 1 and "× 40, drawn once" in label_text(frames[0]), [label_text(c) for c in frames]
    # the output is drawn after the loop, from its last two values
    out = [n for n in all_nodes(graph) if n.get_name() == g._dag.output.id]
    assert out and "output" in str(out[0].get("class"))
    assert g._dag.output.id not in {n.get_name() for n in frames[0].get_nodes()}
    into = sorted(label_text(e) for e in graph.get_edges() if e.get_destination() == g._dag.output.id)
    assert any("from iteration 38 only" in t for t in into) and any("from iteration 39 only" in t for t in into)


def test_clips_scalar_bounds_are_written_in_it_infinite_ones_too():
    W = np.array([[1.0, -2.0], [3.0, 0.5]])
    g = gb.trace(lambda W: np.sum(np.clip(W, 0, np.inf) ** 2), W=W)  # numpy-ml's ReLU
    graph = parse(g.to_dot())
    drawn = [n for n in all_nodes(graph) if re.fullmatch(r"n\d+", n.get_name())]
    assert not [n for n in drawn if "const" in str(n.get("class"))]  # 0 and ∞ are no nodes of their own
    assert any("clip(·, 0, ∞)" in label_text(n) for n in drawn)
    np.testing.assert_allclose(g.grad("W"), 2 * np.clip(W, 0, None))
    g = gb.trace(lambda W, hi: np.sum(np.clip(W, -1.0, hi) ** 2), W=W, hi=np.array(2.0))
    assert any("clip(·, −1, ·)" in label_text(n) for n in all_nodes(parse(g.to_dot())))  # hi is traced


_SIZES = [5, 1, 3, 3, 3, 4, 2, 5, 5, 1, 4, 2]  # a window size per step, as word2vec's SGD wrapper draws them


def _windows_step(W, n):
    total = 0.0
    for k in range(n):
        total += np.sum(np.tanh(W[k % 2] * (k + 1)) ** 2)
    return total


def _windows_loss(W):
    total = 0.0
    for n in _SIZES:
        total += _windows_step(W, n) / len(_SIZES)
    return total


def test_a_repeat_collapsed_to_a_box_says_which_iterations_it_stands_for():
    g = gb.trace(_windows_loss, W=np.linspace(-1, 1, 6).reshape(2, 3))
    graph = parse(g.to_dot(fold=True, depth=1))
    boxes = [label_text(n) for n in all_nodes(graph) if n.get_name().strip('"').startswith("box_")]
    # runs of equal iterations: 2…4 (n = 3) and 7…8 (n = 5); every other iteration its own box
    assert sum("iterations 2…4" in b and "× 3, drawn once" in b for b in boxes) == 1
    assert sum("iterations 7…8" in b and "× 2, drawn once" in b for b in boxes) == 1
    singles = sorted(int(m) for b in boxes for m in re.findall(r"— iteration (\d+)<", b))
    assert singles == [0, 1, 5, 6, 9, 10, 11]  # with the runs: all 12 iterations accounted for


def _unrolled_forward(W, x):
    hs = np.zeros((4, 3))
    h = x
    for t in range(4):
        h = np.tanh(W @ h)
        hs[t] = h
    return hs, h


def _unrolled_backward(W, hs, h):
    g = h
    for t in reversed(range(4)):
        g = W.T @ (g * (1 - hs[t] ** 2))
    return g


def _through_both(W, x):
    hs, h = _unrolled_forward(W, x)
    return np.sum(_unrolled_backward(W, hs, h) ** 2)


def test_an_edge_between_collapsed_boxes_is_never_one_to_the_next_repetition():
    rng = np.random.default_rng(0)
    g = gb.trace(_through_both, W=0.5 * rng.normal(size=(3, 3)), x=rng.normal(size=3))
    assert "next repetition" in g.to_dot(fold=True)  # folded and open: the loops' recurrences
    collapsed = parse(g.to_dot(fold=True, depth=0))  # the two calls as boxes, their loops inside
    between = [e for e in collapsed.get_edges() if e.get_source().strip('"').startswith("box_")
               and e.get_destination().strip('"').startswith("box_")]
    assert between and all("recurrence" not in str(e.get("class") or "") and "next repetition" not in label_text(e)
                           for e in between)


def _loss_made_inside(W, x):
    def inner(h):
        return np.sum(np.tanh(W @ h) ** 2)
    return inner(x)


def test_the_output_is_drawn_itself_when_the_call_that_made_it_is_collapsed():
    g = gb.trace(_loss_made_inside, W=np.full((2, 2), 0.3), x=np.ones(2))
    graph = parse(g.to_dot(depth=0))
    out = [n for n in all_nodes(graph) if n.get_name() == g._dag.output.id]
    assert out and "output" in str(out[0].get("class")) and "∂L/∂L = 1" in label_text(out[0])
    assert not clusters(graph)  # beside the box, not in a frame of its own
    (box,) = [e for e in graph.get_edges() if e.get_destination() == g._dag.output.id]
    assert box.get_source().strip('"').startswith("box_")


def _merged_labels(g, **options):
    """The count line of every edge drawn once for several, by the names of its ends."""
    graph = parse(g.to_dot(**options))
    names = {n.get_name(): n for n in all_nodes(graph)}
    texts = {(e.get_source(), e.get_destination()): str(e.get("label") or e.get("xlabel") or "")
             for e in graph.get_edges() if e.get_source() in names}  # (xlabel: an edge to the next repetition)
    return {ends: re.search(r">([^<>]*× \d+[^<>]*)<", text).group(1) for ends, text in texts.items()
            if re.search(r"× \d+", text)}


def test_an_edge_drawn_once_names_the_messages_it_stands_for_as_they_are():
    """The tags on an edge that stands for several: a run of one value's uses (m₁ … m₆), uses that
    are not a run (W read twice per step: every other tag), and one use of each step's own value.
    It wrote the first and last tag found whatever they were: "m₁ … m₁" for per-step values, and
    a run for tags with gaps."""
    def rnn(W, U, h0, X):
        h = h0
        for x in X:
            h = np.tanh(W @ h + U @ x) + 0.1 * (W.T @ h)  # W read twice a step; h twice
        return np.sum(h)

    g = gb.trace(rnn, W=RNG.normal(size=(4, 4)) * 0.3, U=RNG.normal(size=(4, 3)), h0=np.zeros(4),
                 X=RNG.normal(size=(6, 3)))
    labels = _merged_labels(g, data=("h0", "X"), fold=True)
    w, u = g.node("W").id, g.node("U").id
    from_w = [text for (a, _), text in labels.items() if a == w]
    from_u = [text for (a, _), text in labels.items() if a == u]
    uses = g.node("W").out_edges
    # W's uses alternate between W @ h and Wᵀ: each drawn edge stands for every other one
    assert len(uses) == 12 and len(from_w) == 2, labels
    assert sorted(from_w) == sorted(["6 of m₁ … m₁₁, × 6", "6 of m₂ … m₁₂, × 6"]), from_w
    assert from_u == ["m₁ … m₆, × 6"], from_u
    # each step's h: used by the next step's W @ h and Wᵀh (m₁, m₂ of each h; h0 is data, untagged)
    from_h = [text for text in labels.values() if " of each" in text]
    assert sorted(from_h) and all(re.fullmatch(r"(?s).*m[₁₂] of each, × \d+( \(to the next repetition\))?", t)
                                  for t in from_h), labels
    assert not any(re.search(r"(m[₀-₉]+) … \1,", t) for t in labels.values()), labels  # never "m₁ … m₁"


def _recursive_layer(h, W, n):
    return h if n == 0 else _recursive_layer(np.tanh(W @ h), W, n - 1)


def _nesting(source):
    """The deepest nesting of frames in DOT written by to_dot (each level one more tab; pydot's
    parser takes minutes on frames nested this deep)."""
    return max((len(m.group(1)) for m in re.finditer(r"^(\t+)subgraph cluster_", source, re.M)), default=0)


def test_a_recursion_a_hundred_calls_deep_is_framed_to_a_bounded_depth_and_boxed_below(dot_executable):
    """Every call of a 100-deep recursion was a frame inside the last: Graphviz took minutes (220 s)
    on the default drawing. Frames nest at most FRAME_DEPTH levels; the rest is one box."""
    from graphviz_bp.drawing.fold import FRAME_DEPTH

    g = gb.trace(lambda W, x: np.sum(_recursive_layer(x, W, 100) ** 2), W=RNG.normal(size=(3, 3)) * 0.5,
                 x=RNG.normal(size=3))
    scene = g.draw().scene()
    assert 1 < _nesting(g.to_dot()) <= FRAME_DEPTH
    boxes = [n for n in scene.nodes if "box" in n.classes]
    assert len(boxes) == 1 and "_recursive_layer()" in boxes[0].text
    assert g.pipe("svg").startswith(b"<?xml")
    whole = g.draw(depth=None).scene()  # every call open: still framed no deeper
    assert _nesting(g.to_dot(depth=None)) == FRAME_DEPTH
    assert not [n for n in whole.nodes if "box" in n.classes] and len(whole.nodes) >= 200


def test_frames_past_the_most_dot_lays_out_quickly_drop_their_innermost_levels(dot_executable):
    """fold=False on 31 blocks of 3 calls drew 248 frames nested 4 deep: dot had not finished after
    two minutes. The outer levels stay framed (each block of each iteration), the inner go."""
    from graphviz_bp.drawing.fold import MAX_FRAMES

    def cell(h, W):
        return np.tanh(W @ h) * 0.9

    def f(x, W):
        h = x
        for t in range(31):
            with gb.group("block"):
                for j in range(3):
                    h = cell(h, W)
        return np.sum(h)

    g = gb.trace(f, x=RNG.normal(size=3), W=RNG.normal(size=(3, 3)) * 0.5)
    scene = g.draw(fold=False).scene()
    titles = [" ".join(s.text for line in c.lines for s in line) for c in scene.clusters]
    assert len(scene.clusters) <= MAX_FRAMES
    assert sum("iteration" in t and "block" not in t for t in titles) == 31  # every outer iteration
    assert sum(t == "block" for t in titles) == 31 and not any("cell" in t for t in titles)
    assert len(scene.nodes) == len({n.id for n in scene.nodes}) and len(scene.nodes) > 280  # every node
    assert g.draw(fold=False).pipe("svg").startswith(b"<?xml")


def test_a_value_carried_from_a_repetition_to_the_next_between_nodes_drawn_as_one_is_a_loop():
    """h = h + tanh(W @ h): the skip connection goes from each + to the next +, both drawn as the
    folded +. It was dropped (its two ends are one drawn node), so ∂L/∂h's m₂ had no edge; and the
    loss += ... chain of an accumulator had no edge at all."""
    def resnet(h0, *Ws):
        h = h0
        for W in Ws:
            h = h + np.tanh(W @ h)
        total = 0.0
        for k in range(len(Ws)):
            total += np.sum(h ** 2) * (k + 1.0)
        return total

    Ws = [RNG.normal(size=(4, 4)) * 0.1 for _ in range(60)]
    g = gb.trace(lambda h0, **kw: resnet(h0, *[kw[f"W{k}"] for k in range(60)]), h0=RNG.normal(size=4),
                 **{f"W{k}": W for k, W in enumerate(Ws)})
    scene = g.draw().scene()
    loops = sorted((e for e in scene.edges if e.src == e.dst), key=lambda e: len(scene.stands_for[e.id]))
    assert len(loops) == 2, [e.text for e in loops]
    # the accumulator's first += adds to the number 0 (a repetition of its own): 58 steps between the rest
    for e, count in zip(loops, (58, 59)):
        assert "recurrence" in e.classes and f"× {count} (to the next repetition)" in e.text, e.text
        members = scene.stands_for[e.id]
        assert len(members) == count and all(g.edges[i].src is not g.edges[i].dst for i in members)
        assert g.nodes[int(e.src[1:])].op.name == "add"
    assert "m₂ of each" in loops[1].text  # the skip connection: h's second use, in every layer
    graph = parse(g.to_dot())
    assert sum(1 for e in graph.get_edges() if e.get_source() == e.get_destination()) == 2


def test_the_norm_strip_of_a_shared_weights_messages_does_not_underflow_to_zero():
    """A weight shared by 1000 layers gets messages near 1e-179 from the first layers: their norms,
    squared, underflowed to 0, and the strip drew them as exactly zero."""
    def f(x, W, b):
        h = x
        for _ in range(1000):
            h = np.tanh(W @ h + b)
        return np.sum(h ** 2)

    rng = np.random.default_rng(9)
    g = gb.trace(f, x=rng.normal(size=3), W=rng.normal(size=(3, 3)) * 0.3, b=rng.normal(size=3) * 0.1)
    messages = [e.message for e in g.out_edges("W")]
    assert 0 < np.max(np.abs(messages[0])) < 1e-150
    (line,) = [t for t in g.draw().scene().node(g.node("W").id).text.splitlines() if "by use" in t]
    assert "0" not in line.split("by use")[1]
    norms = [np.max(np.abs(m)) * np.linalg.norm(m / np.max(np.abs(m))) for m in messages]
    assert line.endswith(strip(norms))


def test_edges_between_repetitions_say_how_far_they_go_and_edges_from_outside_are_not_recurrences():
    """A skip connection two blocks back read "(to the next repetition)", and the edges from each
    layer's weight into the layer of every later example were drawn dashed, as if carried state."""
    def skip(x, W):
        prev, h = x, x
        for _ in range(30):
            prev, h = h, np.tanh(W @ h) + h + 0.5 * prev
        return np.sum(h ** 2)

    g = gb.trace(skip, x=RNG.normal(size=3), W=RNG.normal(size=(3, 3)) * 0.1)
    scene = g.draw(fold=True).scene()
    later = {e.text.splitlines()[-1] for e in scene.edges if "recurrence" in e.classes}
    assert later == {"m₁ of each, × 29 (to the next repetition)", "m₂ of each, × 29 (to the next repetition)",
                     "m₃ of each, × 28 (2 repetitions on)"}, later

    g = gb.trace(examples_through_layers(RNG.normal(size=(4, 3)), 6),
                 **{f"w{k}": RNG.normal(size=(3, 3)) for k in range(6)})
    scene = g.draw(fold=True).scene()
    weights = {g.node(f"w{k}").id for k in range(6)} | {n.id for n in scene.nodes if "parameter" in n.classes}
    assert not [e.text for e in scene.edges if e.src in weights and "recurrence" in e.classes]
    assert all(e.style != "dashed" for e in scene.edges if e.src in weights)


def test_an_op_drawn_once_shows_the_range_of_its_repetitions_symbols_where_they_differ():
    """Repetitions that differ only in a number written into the op's symbol fold (same ops,
    shapes, wiring), and the block showed the first repetition's as everyone's: (·)¹ × 3 for
    h ** p with p = 1, 2, 3; [0] for W[i]."""
    def powers(x, W):
        h = x
        for p in (1, 2, 3):
            h = np.tanh(W @ h) ** p
        return np.sum(h)

    def stacked(x, Ws):
        h = x
        for i in range(5):
            h = np.tanh(Ws[i] @ h) * 2.0
        return np.sum(h)

    g = gb.trace(powers, x=RNG.normal(size=3), W=RNG.normal(size=(3, 3)))
    symbols = [n.text.split("\n")[0] for n in g.draw(fold=True).scene().nodes]
    assert "(·)¹ … (·)³" in symbols and "tanh" in symbols, symbols
    g = gb.trace(stacked, x=RNG.normal(size=3), Ws=RNG.normal(size=(5, 3, 3)))
    symbols = [n.text.split("\n")[0] for n in g.draw(fold=True).scene().nodes]
    assert "[0] … [4]" in symbols and "× 2" in symbols, symbols  # the same scale: written once


def test_an_edge_into_only_some_repetitions_of_a_block_drawn_once_says_which():
    """A loop's first iteration adds a constant where the others add an input: one block, drawn
    once, with both edges into its ``+``. The constant's edge read as if every iteration added it."""
    def f(x, b):
        h, c = x, np.full(3, 5.0)
        for i in range(4):
            h = np.tanh(h + (c if i == 0 else b))
        return np.sum(h)

    def alternate(x, b):
        h, c = x, np.full(3, 5.0)
        for i in range(4):
            h = np.tanh(h + (c if i % 2 == 0 else b))
        return np.sum(h)

    def into(scene, src_class=None, src=None):
        return [e.text.splitlines()[-1] for e in scene.edges
                if (src is None or e.src == src) and (src_class is None or src_class in scene.node(e.src).classes)]

    g = gb.trace(f, x=RNG.normal(size=3), b=RNG.normal(size=3))
    scene = g.draw(fold=True).scene()
    assert into(scene, src=g.node("x").id) == ["into iteration 0 only"]  # the loop starts from x
    assert into(scene, src_class="const") == ["into iteration 0 only"]
    assert into(scene, src=g.node("b").id) == ["m₁ … m₃, × 3 (into iterations 1…3)"]
    plus = [n.id for n in scene.nodes if n.text.startswith("+")]
    assert not [e for e in scene.edges if e.dst in plus and "into" in e.text and e.src not in
                (g.node("x").id, g.node("b").id) and "const" not in scene.node(e.src).classes]
    g = gb.trace(alternate, x=RNG.normal(size=3), b=RNG.normal(size=3))
    scene = g.draw(fold=True).scene()
    assert into(scene, src=g.node("b").id) == ["m₁, m₂, × 2 (into iterations 1 and 3)"]
    assert into(scene, src_class="const") == ["× 2 (into iterations 0 and 2)"]
    # every edge within the block reaches every repetition: no such line
    g = gb.trace(deep_mlp(12), **deep_mlp_inputs(RNG, 12))
    lines = [line for e in g.draw(fold=True).scene().edges for line in e.text.splitlines() if "into" in line]
    assert lines == ["into iteration 0 only"], lines  # only the net's input, into the first layer


def test_an_edge_into_a_collapsed_box_carries_the_sum_of_its_values_messages_from_inside():
    """x is read three times in the box and once after it: the edge into the box showed the first
    use's message; what crosses the boundary is the sum of the three."""
    def block(x, W):
        return np.tanh(W @ x) + np.sin(x) * x

    def f(x, W, x_out=None):
        with gb.group("block"):
            h = block(x, W)
        return np.sum(h ** 2) + np.sum(np.cos(x if x_out is None else x_out))

    x, W = RNG.normal(size=4), RNG.normal(size=(4, 4))
    g = gb.trace(f, x=x, W=W)
    scene = g.draw(depth=0).scene()
    (edge,) = [e for e in scene.edges if e.src == g.node("x").id and e.dst.startswith("box_")]
    assert edge.text.splitlines()[-1] == "its 3 uses in the box, summed"
    assert edge.text.splitlines()[0].startswith("▲ m₁ + m₂ + m₃ [")
    tip = str(edge.tooltip)
    shown = np.array([float(t) for t in re.findall(r"-?\d+\.\d*(?:e[-+]\d+)?", tip.split("=")[-1])])
    # the message from inside: the derivative with x outside the box held fixed (central differences)
    want = numerical_grad(lambda xi: f(xi, W, x_out=x), x)
    np.testing.assert_allclose(shown, want, rtol=1e-3, atol=1e-4)
    assert not np.allclose(want, g.grad("x"), atol=1e-3)  # not the whole gradient: the use outside is not in it


def test_weights_a_regulariser_also_reads_are_still_each_layers_own():
    """cs231n's and Nielsen's nets add ``reg * sum(W * W)`` over every layer after the forward
    pass: each W was then read outside its layer, owned by no repetition, and a 30-layer net drew
    30 weight boxes beside its one folded layer."""
    depth = 30

    def net(X, **p):
        h = X
        Ws = [p[f"W{k}"] for k in range(depth)]
        for W in Ws:
            h = np.tanh(W @ h)
        return 0.5 * np.sum(h ** 2) + 0.01 * sum(np.sum(W * W) for W in Ws)

    params = {f"W{k}": RNG.normal(size=(4, 4)) / 2 for k in range(depth)}
    X = RNG.normal(size=(4, 2))
    g = gb.trace(net, X=X, **params)
    scene = g.draw().scene()
    weights = [n for n in scene.nodes if "parameter" in n.classes and n.text.startswith("W")]
    assert [n.text.splitlines()[0] for n in weights] == [f"W0 … W{depth - 1}"]
    assert len(scene.nodes) < 16, [n.text.splitlines()[0] for n in scene.nodes]
    (w,) = weights
    assert set(scene.stands_for[w.id]) == {g.node(f"W{k}").index for k in range(depth)}
    # the first layer's gradient: its use in the net (m₁) and in the regulariser (m₂, m₃: W * W)
    assert "m₁" in w.text and "m₂" in w.text and "m₃" in w.text
    num = numerical_grad(lambda W0: net(X, **{**params, "W0": W0}), params["W0"])
    np.testing.assert_allclose(g.grad("W0"), num, rtol=1e-5, atol=1e-8)


class _Dense:
    def __init__(self, W):
        self.W = W

    def forward(self, x):
        return self.W @ x


class _Tanh:
    def forward(self, x):
        return np.tanh(x)


class _Scale:
    def forward(self, x):
        return 0.9 * x


def _stacked(layers_of):
    """A net written as from-scratch frameworks write it: a list of layer objects, one call each."""
    def net(X, **p):
        h = X
        for layer in layers_of(p):
            h = layer.forward(h)
        return 0.5 * np.sum(h ** 2)
    return net


def test_a_list_of_layers_that_alternate_folds_every_two_iterations():
    """``[Dense, Tanh] * 30`` run one layer per iteration: no iteration is like the next, so the
    net never folded (60 frames, 94 nodes); it repeats every two iterations."""
    depth = 30
    net = _stacked(lambda p: [layer for k in range(depth) for layer in (_Dense(p[f"W{k}"]), _Tanh())])
    params = {f"W{k}": RNG.normal(size=(4, 4)) / 2 for k in range(depth)}
    X = RNG.normal(size=(4, 2))
    g = gb.trace(net, X=X, **params)
    scene = g.draw(fold=True).scene()
    assert len(scene.nodes) <= 8, [n.text.splitlines()[0] for n in scene.nodes]
    (frame,) = [c for c in scene.clusters if "folded" in c.classes]
    assert frame.lines[0][0].text == "for layer in layers_of(p): — iterations 0…59, 2 at a time   × 30, drawn once"
    inner = [c.lines[0][0].text for c in scene.clusters if c.parent == frame.id]
    # each inner frame is drawn for one of each pair (it read "iteration 0" and "iteration 1")
    assert inner == ["for layer in layers_of(p): — iterations 0, 2, …, 58",
                     "for layer in layers_of(p): — iterations 1, 3, …, 59"]
    assert len(scene.repeats[frame.id].labels) == 30 and scene.repeats[frame.id].labels[1] == "iterations 2…3"
    assert [e.text.splitlines()[-1] for e in scene.edges if e.src == g.node("X").id] == ["into iteration 0 only"]
    weights = [n for n in scene.nodes if "parameter" in n.classes and n.text.startswith("W")]
    assert [n.text.splitlines()[0] for n in weights] == ["W0 … W29"]
    back = [e.text.splitlines()[-1] for e in scene.edges if "recurrence" in e.classes]
    assert back == ["× 29 (to the next repetition)"]
    assert len(scene.repeats[frame.id].norms) == 30  # the strip: one norm per pair of iterations
    num = numerical_grad(lambda W0: net(X, **{**params, "W0": W0}), params["W0"])
    np.testing.assert_allclose(g.grad("W0"), num, rtol=1e-5, atol=1e-9)
    assert not [c for c in g.draw(fold=False).scene().clusters if "cycle" in c.classes]  # drawn whole: as run


def test_a_cycle_of_three_layers_folds_and_a_last_layer_unlike_them_stays_apart():
    depth = 8
    net = _stacked(lambda p: [layer for k in range(depth) for layer in (_Dense(p[f"W{k}"]), _Scale(), _Tanh())]
                   + [_Dense(p["Wout"])])
    params = {f"W{k}": RNG.normal(size=(3, 3)) / 2 for k in range(depth)}
    g = gb.trace(net, X=RNG.normal(size=(3, 2)), Wout=RNG.normal(size=(2, 3)), **params)
    scene = g.draw(fold=True).scene()
    titles = [c.lines[0][0].text for c in scene.clusters]
    assert "for layer in layers_of(p): — iterations 0…23, 3 at a time   × 8, drawn once" in titles
    assert "for layer in layers_of(p): — iteration 24" in titles  # the output layer, drawn as it is
    assert [f"for layer in layers_of(p): — iterations {k}, {k + 3}, …, {k + 21}" for k in range(3)] == \
        [t for t in titles if ", …, " in t]
    from graphviz_bp.drawing.structure import group_tree, repeats

    assert [(r.count, len(r.first.children)) for r in repeats(group_tree(g._dag, periodic=True))
            if r.first.scope.kind == "cycle"] == [(8, 3)]
    # a run of one layer after another is a repeat as it is, not cut into cycles
    g = gb.trace(_stacked(lambda p: [_Tanh()] * 6 + [_Scale(), _Tanh()] * 2), X=RNG.normal(size=(3, 2)))
    kinds = [(r.first.scope.kind, r.count) for r in repeats(group_tree(g._dag, periodic=True))]
    assert kinds == [("iteration", 6), ("cycle", 2)], kinds


def test_into_which_iterations_names_the_iterations_an_edge_goes_into_not_its_repetitions():
    """Folded two iterations at a time, an input read by iteration 1 only read "into iterations
    0…1 only"; in a repeat inside a repeat, "into iteration 1" named the outer loop's iteration
    for an edge into one inner iteration of it."""
    def chunks(W, x, b, c):
        h = x
        for i in range(8):
            if i % 2:
                h = np.tanh(W @ h) + (c if i == 1 else b)
            else:
                h = np.sin(W @ h) + b
        return np.sum(h)

    def nested(W, x, b, c):
        h = x
        for i in range(3):
            for j in range(2):
                h = np.tanh(W @ h + (c if (i, j) == (1, 1) else b))
        return np.sum(h)

    W, x, b, c = RNG.normal(size=(2, 2)) / 2, RNG.normal(size=2), RNG.normal(size=2), RNG.normal(size=2)
    g = gb.trace(chunks, W=W, x=x, b=b, c=c)
    scene = g.draw(fold=True).scene()
    names = {n.id: n.text.split("\n")[0] for n in scene.nodes}
    got = sorted((names[e.src], e.text.splitlines()[-1]) for e in scene.edges if names.get(e.src) in ("x", "c", "b"))
    assert got == [("b", "4 of m₁ … m₆, × 4"), ("b", "m₃, m₅, m₇, × 3 (into iterations 3, 5 and 7)"),
                   ("c", "into iteration 1 only"), ("x", "into iteration 0 only")], got
    g = gb.trace(nested, W=W, x=x, b=b, c=c)
    scene = g.draw(fold=True).scene()
    names = {n.id: n.text.split("\n")[0] for n in scene.nodes}
    into_c = [e.text.splitlines()[-1] for e in scene.edges if names.get(e.src) == "c"]
    assert into_c == ["into 1 of 6 repetitions"], into_c


def test_a_folded_value_read_once_per_repetition_by_one_op_is_one_edge_and_weights_stay_in_their_layer():
    """HIPS autograd's neural_net.py: the prior flattens every layer's W (``np.concatenate([np.ravel(w)
    for w in ws])``), before the layers run. The folded ravel sent one edge per layer into concatenate,
    and the weights were drawn in the prior's frame, which ran first."""
    depth = 20
    params = {f"W{i}": RNG.normal(size=(6, 6)) * 0.4 for i in range(depth)}
    x = RNG.normal(size=(5, 6))

    def loss(**W):
        ws = [W[f"W{i}"] for i in range(depth)]
        flat = np.concatenate([np.ravel(w) for w in ws])
        h = x
        for w in ws:
            h = np.tanh(h @ w)
        return np.sum(h ** 2) + 0.1 * np.dot(flat, flat)

    g = gb.trace(loss, **params)
    scene = g.draw(fold=True).scene()
    concat = next(n.id for n in scene.nodes if n.text.startswith("concat"))
    (fan,) = [e for e in scene.edges if e.dst == concat]
    assert fan.text.splitlines()[-1] == f"× {depth}" and fan.head == ""
    assert set(scene.stands_for[fan.id]) == {e.index for e in g._dag.edges if e.dst.op is not None
                                            and e.dst.op.name == "concatenate"}
    (w,) = [n for n in scene.nodes if n.text.startswith("W0 … W19")]
    tanh = next(n for n in scene.nodes if n.text.startswith("tanh"))
    frames = {c.id: c for c in scene.clusters}
    assert w.group == frames[tanh.group].id or frames[tanh.group].parent == w.group, (w.group, tanh.group)
    np.testing.assert_allclose(g.grad("W3"), numerical_grad(lambda W3: loss(**{**params, "W3": W3}), params["W3"]),
                               rtol=1e-5, atol=1e-9)


def test_a_layers_weights_are_drawn_beside_its_box_when_the_layer_is_collapsed():
    """depth=1 collapsed the loop of blocks to a box, and left its folded frame around the weights
    alone; the edges into the box read the Jacobian of the first op inside it."""
    def block(x, W1, W2):
        return x + np.tanh(x @ W1) @ W2

    def loss(**p):
        x = X
        for W1, W2 in [(p[f"A{i}"], p[f"B{i}"]) for i in range(3)]:
            x = block(x, W1, W2)
        return np.sum(x ** 2)

    X = RNG.normal(size=(2, 4))
    g = gb.trace(loss, **{f"{k}{i}": RNG.normal(size=(4, 4)) * 0.5 for i in range(3) for k in "AB"})
    scene = g.draw(depth=0, fold=True).scene()
    (box,) = [n for n in scene.nodes if n.id.startswith("box_")]
    weights = [n for n in scene.nodes if "parameter" in n.classes]
    assert sorted(n.text.splitlines()[0] for n in weights) == ["A0 … A2", "B0 … B2"]
    assert all(n.group == box.group for n in weights)
    assert not [c for c in scene.clusters if "folded" in c.classes]  # no frame left around the weights alone
    into = [e for e in scene.edges if e.dst == box.id]
    assert into and not [e for e in into if e.text.startswith("J ")]


def test_one_value_read_as_several_operands_in_each_repetition_keeps_an_edge_per_operand():
    """``np.stack([z, z, z])`` in a folded loop: three uses of one value, three messages (m₁, m₂,
    m₃), not one fan edge showing m₁'s."""
    def f(v, x):
        h = x
        for _ in range(6):
            z = np.tanh(h)
            h = v @ np.stack([z, z, z])
        return np.sum(h)

    g = gb.trace(f, v=np.array([1.0, -2.0, 3.0]), x=RNG.normal(size=3))
    scene = g.draw(fold=True).scene()
    stack = next(n.id for n in scene.nodes if n.text.startswith("stack"))
    into = sorted(e.text.splitlines()[-1] for e in scene.edges if e.dst == stack)
    assert into == ["m₁ of each, × 6", "m₂ of each, × 6", "m₃ of each, × 6"], into


class _Linear:
    def __init__(self, W):
        self.W = W

    def forward(self, x):
        return x @ self.W


def _attention(Wq, Wk, Wv, x):
    """One attention head as from-scratch transformers write it: three projections, side by side."""
    q, k, v = _Linear(Wq).forward(x), _Linear(Wk).forward(x), _Linear(Wv).forward(x)
    s = q @ k.T
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)) @ v


def _gradient_norm(node_text):
    """The norm a parameter's box gives for its gradient (the norm after "∂L/∂...=")."""
    return float(re.search(r"∂L/∂\w+ ?=.*?norm ([0-9.e+−-]+)", node_text, re.S).group(1).replace("−", "-"))


def test_projections_side_by_side_are_not_folded_into_one_block():
    """The query, key and value projections are three calls alike, but each goes elsewhere: drawn
    once ("Wq … Wv"), ``q @ k.T`` read as ``x @ xᵀ`` and the three gradients as one."""
    shapes = {"Wq": (3, 2), "Wk": (3, 2), "Wv": (3, 2), "x": (4, 3)}
    inputs = {k: RNG.normal(size=s) for k, s in shapes.items()}

    def f(Wq, Wk, Wv, x):
        return np.sum(_attention(Wq, Wk, Wv, x) ** 2)

    g = gb.trace(f, **inputs)
    scene = g.draw(fold=True).scene()
    assert not scene.repeats and not any("× 3" in line for c in scene.clusters for line in map(str, c.lines))
    for name in ("Wq", "Wk", "Wv"):
        node = scene.node(g.node(name).id)
        assert scene.stands_for[node.id] == (g.node(name).index,)
        want = numerical_grad(lambda W: f(**{**inputs, name: W}), inputs[name])
        assert _gradient_norm(node.text) == pytest.approx(np.linalg.norm(want), rel=2e-3)
    # q @ k.T: its operands come from two drawn nodes, q's projection and the transpose of k's
    (score,) = [n for n in g.nodes if n.kind == "op" and n.op.name == "matmul" and n.in_edges[1].src.kind == "op"
                and n.in_edges[1].src.op.name == "transpose"]
    into = [e for e in scene.edges if e.dst == score.id]
    assert sorted(e.src for e in into) == sorted({score.in_edges[0].src.id, score.in_edges[1].src.id})


def test_heads_joined_into_one_array_are_still_folded():
    """Heads side by side whose outputs are the items of one ``np.concatenate``: drawn once, × 4,
    with each head's three projections drawn apart inside it."""
    H = 4
    inputs = {f"W{c}{h}": RNG.normal(size=(3, 2)) for h in range(H) for c in "qkv"}
    inputs["x"] = RNG.normal(size=(4, 3))

    def f(x, **p):
        heads = [_attention(p[f"Wq{h}"], p[f"Wk{h}"], p[f"Wv{h}"], x) for h in range(H)]
        return np.sum(np.concatenate(heads, axis=1) ** 2)

    g = gb.trace(f, **inputs)
    scene = g.draw(fold=True).scene()
    (reps,) = scene.repeats.values()
    assert len(reps.labels) == H
    for c in "qkv":
        node = scene.node(g.node(f"W{c}0").id)
        assert node.text.splitlines()[0] == f"W{c}0 … W{c}{H - 1}"
        assert set(scene.stands_for[node.id]) == {g.node(f"W{c}{h}").index for h in range(H)}
        want = numerical_grad(lambda W: f(**{**inputs, f"W{c}0": W}), inputs[f"W{c}0"])
        assert _gradient_norm(node.text) == pytest.approx(np.linalg.norm(want), rel=2e-3)  # the first head's


def test_calls_with_other_ops_between_them_are_not_folded():
    """``tanh(dense(h, W1))`` written out three times: the calls are alike, but each goes to its own
    ``tanh`` outside them; drawn once, three tanh nodes fed and feeding the one block read as a
    tangle."""
    def dense(h, W):
        return W @ h

    def f(W1, W2, W3, x):
        h = np.tanh(dense(x, W1))
        h = np.tanh(dense(h, W2))
        return np.sum(np.tanh(dense(h, W3)) ** 2)

    g = gb.trace(f, **{k: RNG.normal(size=(3, 3)) for k in ("W1", "W2", "W3")}, x=RNG.normal(size=3))
    scene = g.draw(fold=True).scene()
    assert not scene.repeats
    assert sorted(str(c.lines[0][0].text) for c in scene.clusters) == ["dense()"] * 3
    assert len(scene.nodes) == len(g.nodes) - len(absorbed_constants(g))


def test_items_each_read_by_the_same_op_of_a_later_loops_folded_passes_are_folded():
    """``outs = [layer(x, W) for W in Ws]`` then ``sum(np.sum(o ** 2) for o in outs)``: each item
    goes to the same op of its own pass of the sum, and the passes fold, the last too (the output it
    makes is drawn after them): the layers fold, all five."""
    def layer(x, W):
        return np.tanh(W @ x)

    def f(x, **p):
        outs = [layer(x, p[f"W{i}"]) for i in range(5)]
        return sum(np.sum(o ** 2) for o in outs)

    inputs = {f"W{i}": RNG.normal(size=(3, 3)) for i in range(5)}
    g = gb.trace(f, x=RNG.normal(size=3), **inputs)
    scene = g.draw(fold=True).scene()
    assert scene.node(g.node("W0").id).text.splitlines()[0] == "W0 … W4"
    assert [n.text.splitlines()[0] for n in scene.nodes].count("tanh") == 1


def test_blocks_that_feed_blocks_drawn_apart_are_drawn_apart():
    """The projections each go to a call of one helper, alike; but those calls go elsewhere and
    are drawn apart, so the projections are too (folded, one block fed all three helpers)."""
    def lin(x, W):
        return x @ W

    def split(h):
        return np.tanh(h)

    def f(Wq, Wk, Wv, x):
        q, k, v = lin(x, Wq), lin(x, Wk), lin(x, Wv)
        q, k, v = split(q), split(k), split(v)
        return np.sum(((q @ k.T) @ v) ** 2)

    g = gb.trace(f, **{k: RNG.normal(size=(3, 2)) for k in ("Wq", "Wk", "Wv")}, x=RNG.normal(size=(4, 3)))
    scene = g.draw(fold=True).scene()
    assert not scene.repeats
    assert sorted(str(c.lines[0][0].text) for c in scene.clusters) == ["lin()"] * 3 + ["split()"] * 3


def test_items_summed_one_by_one_fold_but_the_first():
    """``acc = outs[0]``, then ``acc = acc + o`` for the others: the first item is the add's first
    operand, the others its second; all but the first fold, × 29, beside the adds' loop, × 29."""
    N = 30

    def layer(x, W):
        return np.tanh(W @ x)

    def f(x, Ws):
        outs = [layer(x, Ws[i]) for i in range(N)]
        acc = outs[0]
        for o in outs[1:]:
            acc = acc + o
        return np.sum(acc ** 2)

    x, Ws = RNG.normal(size=3), RNG.normal(size=(N, 3, 3))
    g = gb.trace(f, x=x, Ws=Ws)
    scene = g.draw(fold=True, depth=None).scene()
    assert sorted(len(r.labels) for r in scene.repeats.values()) == [N - 1, N - 1]
    assert len(scene.nodes) < 15
    want = sum(np.outer((1 - np.tanh(W @ x) ** 2) * 2 * sum(np.tanh(V @ x) for V in Ws), x) for W in Ws[:1])
    np.testing.assert_allclose(g.grad("Ws")[0], want)


def _inner(h, x):
    return np.tanh(h * x + x)


def _layer_reading_x(h, x, W):
    return _inner(W @ h, x)


def test_an_edge_into_a_box_drawn_once_for_each_repetition_sums_the_first_ones_uses():
    """x read three times in the first iteration's box and twice in each later one: the edge says
    it carries the first repetition's three messages summed, and what it stands for in all (it read
    "m₁ + m₂ + m₃" over "m₁ … m₇, × 7")."""
    def f(x, W0, W1, W2, x_later=None):
        h = x
        for k, W in enumerate((W0, W1, W2)):
            h = _layer_reading_x(h, x if k == 0 or x_later is None else x_later, W)
        return np.sum(h ** 2)

    inputs = {"x": RNG.normal(size=3), **{f"W{k}": RNG.normal(size=(3, 3)) for k in range(3)}}
    g = gb.trace(f, **inputs)
    scene = g.draw(fold=True, depth=1).scene()
    (edge,) = [e for e in scene.edges if e.src == g.node("x").id]
    lines = edge.text.splitlines()
    assert lines[0].startswith("▲ m₁ + m₂ + m₃ [")
    assert lines[1:] == ["its 3 uses in the box, summed", "m₁ … m₇ into its 3 repetitions"]
    shown = [float(v.replace("−", "-")) for v in re.search(r"\[(.*)\]", lines[0]).group(1).split(",")]
    # the first iteration's uses alone (central differences), the later iterations' x held fixed
    want = numerical_grad(lambda x0: f(**{**inputs, "x": x0}, x_later=inputs["x"]), inputs["x"])
    np.testing.assert_allclose(shown, want, rtol=3e-3, atol=1e-4)
    assert not np.allclose(want, g.grad("x"), atol=1e-3)


def test_each_value_crossing_from_box_to_box_is_an_edge_with_its_own_message():
    """An RNN that fills buffers (PLivdan/numpy-cnn's GRU): its scratch buffer ``xh`` and its state
    ``h`` both cross from one collapsed step into the next. Drawn as one edge, it carried the
    buffer's message alone (all zeros), hiding the state's."""
    N, T, D, H = 2, 6, 3, 4
    X = RNG.normal(size=(N, T, D))

    def f(W):
        h = np.zeros((N, T + 1, H))
        xh = np.empty((N, D + H))
        for t in range(T):
            xh[:, :D] = X[:, t]
            xh[:, D:] = h[:, t]
            h[:, t + 1] = np.tanh(xh @ W)
        return np.sum(h[:, -1] ** 2)

    g = gb.trace(f, W=0.5 * RNG.normal(size=(D + H, H)))
    scene = g.draw(fold=False, depth=1).scene()  # each step a box (steps 1… fold: not here)
    crossing = [e for e in scene.edges if e.src.startswith("box_") and e.dst.startswith("box_")]
    checked = 0
    for (a, b) in {(e.src, e.dst) for e in crossing}:
        drawn = [e for e in crossing if (e.src, e.dst) == (a, b)]
        graph_edges = [g._dag.edges[i] for e in drawn for i in scene.stands_for[e.id]]
        values = {ge.src.index for ge in graph_edges}
        assert len(drawn) == len({scene.stands_for[e.id][0] for e in drawn})
        for e in drawn:
            mine = [g._dag.edges[i] for i in scene.stands_for[e.id]]
            src = mine[0].src
            inside = {i for i in scene.stands_for[b]}
            want = sum(m.message for m in mine if m.src is src and m.dst.index in inside)
            text = e.text.splitlines()
            if np.linalg.norm(want) > 0:
                norm = float(re.search(r"norm ([0-9.e−-]+),", e.text).group(1).replace("−", "-"))
                assert norm == pytest.approx(np.linalg.norm(want), rel=5e-3), text  # (3 digits)
                checked += 1
            else:
                assert "all 0" in text[0], text
        if len(values) > 1:
            assert len(drawn) > 1  # the state and the buffer: an edge each
    assert checked >= 2  # nonzero state messages are drawn, from step to step


class _Skip:
    """Adds the output from five layers back (a residual block's end, as layer lists write it)."""

    def forward(self, x, outs):
        return x + outs[-5]


class _DenseOf:
    def __init__(self, key, params):
        self.key, self.params = key, params

    def forward(self, x, outs):
        return x @ self.params[self.key]


class _TanhOf:
    def forward(self, x, outs):
        return np.tanh(x)


def test_a_stem_and_blocks_of_five_layers_fold_as_the_blocks():
    """A stem (Dense, Tanh) and three residual blocks of five layer objects: the loop's longest
    repeat is the blocks, five iterations at a time, × 3. It folded the stem with half the first
    block, two at a time, × 3 ("W0 … B0": the stem's weight drawn as the blocks')."""
    params = {}
    layers = [_DenseOf("W0", params), _TanhOf()]
    for b in range(3):
        layers += [_DenseOf(f"A{b}", params), _TanhOf(), _DenseOf(f"B{b}", params), _TanhOf(), _Skip()]
    X = RNG.normal(size=(2, 4))

    def f(**W):
        params.update(W)
        h, outs = X, []
        for layer in layers:
            h = layer.forward(h, outs)
            outs.append(h)
        return np.sum(h ** 2)

    W = {k: 0.5 * RNG.normal(size=(4, 4)) for k in ["W0"] + [f"{p}{b}" for b in range(3) for p in "AB"]}
    g = gb.trace(f, **W)
    scene = g.draw(fold=True, depth=None).scene()
    (reps,) = scene.repeats.values()
    assert reps.labels == ("iterations 2…6", "iterations 7…11", "iterations 12…16")
    names = {n.text.splitlines()[0] for n in scene.nodes if "parameter" in n.classes}
    assert names == {"W0", "A0 … A2", "B0 … B2"}
    want = numerical_grad(lambda A: f(**{**W, "A1": A}), W["A1"])
    np.testing.assert_allclose(g.grad("A1"), want, rtol=1e-5, atol=1e-8)


_LEVELS = [np.tanh, np.sin, np.cos, np.arctan, np.sinh, np.arcsinh, np.square, np.cbrt, np.exp, np.expm1]


def _level(k, x):
    return _LEVELS[k](x)


def test_pairs_feeding_pairs_level_after_level_are_all_drawn_apart():
    """Ten levels of two calls side by side, each feeding the next level's pair, the last ``a @ b``:
    each level is seen to go to two places only once the level after it is drawn apart, a pass of
    the plan per level (it stopped after eight: the first two levels stayed folded)."""
    def f(a, b):
        for k in range(len(_LEVELS)):
            a, b = _level(k, a), _level(k, b)
        return np.sum(a @ b)

    g = gb.trace(f, a=np.full((2, 2), 0.1), b=np.full((2, 2), 0.2))
    scene = g.draw(fold=True, depth=None).scene()
    assert not scene.repeats
    assert len(scene.nodes) == len(g.nodes) - len(absorbed_constants(g))


def _inner_step(h, x, W):
    return np.tanh(W @ h * x + x)


def _block_of_steps(h, x, W):
    for _ in range(4):
        h = _inner_step(h, x, W)
    return h


def test_an_edge_into_a_box_counts_the_repetitions_around_the_box_not_inside_it():
    """The box stands for 3 repetitions of the outer loop; a loop folded inside it made the edge
    say "into its 6 repetitions"."""
    def f(x, W0, W1, W2):
        h = x
        for W in (W0, W1, W2):
            h = _block_of_steps(h, x, W)
        return np.sum(h ** 2)

    g = gb.trace(f, x=RNG.normal(size=3), **{f"W{k}": RNG.normal(size=(3, 3)) * 0.5 for k in range(3)})
    scene = g.draw(fold=True, depth=1).scene()
    (box,) = [n for n in scene.nodes if n.id.startswith("box_")]
    assert "× 3, drawn once" in box.text.splitlines()[0]
    (edge,) = [e for e in scene.edges if e.src == g.node("x").id]
    assert edge.text.splitlines()[-1].endswith("into its 3 repetitions")


def _self_attention(x, Wq, Wk, Wv):  # x used three times
    s = (x @ Wq) @ (x @ Wk).T
    return np.tanh(s) @ (x @ Wv)


def _self_attention_block(x, Wq, Wk, Wv):
    return np.tanh(x + _self_attention(x, Wq, Wk, Wv))


def _self_attention_stack(x, Wq, Wk, Wv):
    h = x
    for i in range(3):
        h = _self_attention_block(h, Wq, Wk, Wv)
    return np.sum(h ** 2)


def test_a_value_carried_into_the_next_repetitions_box_shows_its_uses_summed():
    """A loop of blocks folded, each block's attention() collapsed: the value one repetition hands
    to the next repetition's box, used three times in it, read "m₁ × 6" (its first use's message
    alone, drawn solid). It carries the sum of its three uses, to the next repetition (dashed)."""
    rng = np.random.default_rng(0)
    inputs = dict(x=rng.normal(size=(4, 3)), Wq=rng.normal(size=(3, 3)) * .5, Wk=rng.normal(size=(3, 3)) * .5,
                  Wv=rng.normal(size=(3, 3)) * .5)
    g = gb.trace(_self_attention_stack, **inputs)
    scene = g.draw(fold=True, depth=3).scene()
    (box,) = [n.id for n in scene.nodes if n.id.startswith("box_")]
    (carry,) = [e for e in scene.edges if e.dst == box and g._dag.nodes[int(e.src[1:])].op is not None]
    lines = carry.text.splitlines()
    assert lines[0].startswith("▲ m₁ + m₂ + m₃ norm ")
    assert lines[-2:] == ["its 3 uses in the box, summed", "× 2 (to the next repetition)"]
    assert carry.style == "dashed" and "recurrence" in carry.classes
    # the sum of the three messages from the first repetition's output into the second's box
    members = [g._dag.edges[i] for i in scene.stands_for[carry.id]]
    first = [m for m in members if m.src is members[0].src]
    assert len(first) == 3 and len(members) == 6
    norm = float(re.search(r"norm ([0-9.]+),", lines[0]).group(1))
    assert norm == pytest.approx(np.linalg.norm(sum(m.message for m in first)), rel=5e-3)


def _residual_block(h, W):
    return np.tanh(W @ h) + h


def _residual_loop(x, W):
    h = x
    for i in range(4):
        h = _residual_block(h, W)
    return np.sum(h ** 2)


def test_a_loop_whose_body_is_one_box_carries_its_value_to_the_next_repetition():
    """``h = block(h)`` folded with the block collapsed (depth=2): no edge carried h from one
    repetition's box to the next (the edges of a box to itself were taken for its inside), and the
    edge from x did not say it goes into iteration 0 only; the frame read as four blocks each
    reading x."""
    rng = np.random.default_rng(0)
    g = gb.trace(_residual_loop, x=rng.normal(size=3), W=rng.normal(size=(3, 3)) * .5)
    scene = g.draw(fold=True, depth=2).scene()
    (box,) = [n.id for n in scene.nodes if n.id.startswith("box_")]
    (loop,) = [e for e in scene.edges if e.src == box and e.dst == box]
    assert loop.style == "dashed" and "recurrence" in loop.classes
    lines = loop.text.splitlines()
    assert lines[-2:] == ["its 2 uses in the box, summed", "× 3 (to the next repetition)"]
    members = [g._dag.edges[i] for i in scene.stands_for[loop.id]]
    assert len(members) == 6 and {m.src.op.name for m in members} == {"add"}
    first = [m for m in members if m.src is members[0].src]
    shown = [float(v.replace("−", "-")) for v in re.search(r"\[(.*)\]", lines[0]).group(1).split(",")]
    np.testing.assert_allclose(shown, sum(m.message for m in first), rtol=5e-3)
    (entering,) = [e for e in scene.edges if e.dst == box and e.src == g.node("x").id]
    assert entering.text.splitlines()[-2:] == ["its 2 uses in the box, summed", "into iteration 0 only"]


def _two_back(x, W1):
    hs = [x, x]
    for i in range(5):
        hs.append(np.tanh(hs[-2] @ W1) + hs[-2] * hs[-2])
    return np.sum(hs[-1] ** 2) + np.sum(hs[-2] ** 2)


def test_one_value_carried_two_repetitions_on_into_a_box_is_a_recurrence():
    """One repetition's value used by the repetition after next, each repetition collapsed: drawn
    solid, read "into iteration 2 only", as if it came from outside. It is carried on (dashed)."""
    rng = np.random.default_rng(0)
    g = gb.trace(_two_back, x=rng.normal(size=3) * .5, W1=rng.normal(size=(3, 3)) * .5)
    scene = g.draw(fold=True, depth=1).scene()
    loops = [e for e in scene.edges if e.src == e.dst]
    assert loops, [e.text for e in scene.edges]
    for e in loops:
        members = [g._dag.edges[i] for i in scene.stands_for[e.id]]
        assert e.style == "dashed" and "recurrence" in e.classes
        assert e.text.splitlines()[-1] in ("2 repetitions on", f"× {len({m.src.index for m in members})} (2 repetitions on)")


def _decoded(W, h0):
    res = [np.zeros((4, 1))]
    h = h0
    while len(res) < 30:
        h = np.tanh(W @ h)
        res.append(h)
    return np.sum(np.array(res) ** 2)


def test_a_collapsed_loops_outputs_stacked_are_one_edge():
    """A decoder's loop collapsed to a box, its outputs stacked (``np.array(res)``): 29 edges ran from
    the box into the stack, one per step, each labelled (60 steps: 6,700 pt wide). One edge, × 29."""
    rng = np.random.default_rng(0)
    g = gb.trace(_decoded, W=rng.normal(size=(4, 4)) * .5, h0=rng.normal(size=(4, 1)))
    scene = g.draw(fold=True, depth=1).scene()
    (box,) = [n.id for n in scene.nodes if n.id.startswith("box_")]
    (stack,) = [n.id for n in scene.nodes if n.text.splitlines()[0] == "stack"]
    (edge,) = [e for e in scene.edges if e.src == box and e.dst == stack]
    members = [g._dag.edges[i] for i in scene.stands_for[edge.id]]
    assert len(members) == 29 and len({m.argnum for m in members}) == 29
    assert edge.text.splitlines()[-1].endswith("× 29")
    first = min(members, key=lambda m: m.argnum)
    shown = [float(v) for v in re.findall(r"-?[0-9.]+(?:e[-+]?[0-9]+)?", edge.text.splitlines()[1].replace("−", "-"))[:1]]
    assert shown and shown[0] == pytest.approx(first.message.ravel()[0], rel=5e-3)


def _stacked_layers(x, W0, U0, W1, U1):
    seq = x
    for W, U in [(W0, U0), (W1, U1)]:
        h = np.zeros(4)
        out = []
        for t in range(30):
            h = np.tanh(W @ h + U @ seq[t])
            out.append(h)
        seq = np.stack(out)
    return np.sum(seq[-1] ** 2)


def test_a_folded_loops_outputs_stacked_in_a_folded_block_are_one_edge():
    """Two RNN layers, each stacking its 30 states (``out.append(h)``; ``np.stack(out)``), the steps
    folded inside the folded layers: 30 edges ran into the stack drawn once for both layers, each
    "from iteration k only", 91 in wide, their operand marks stopping at ⑨. One edge, × 60."""
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(30, 4)), **{k: rng.normal(size=(4, 4)) * .5 for k in ("W0", "U0", "W1", "U1")}}
    g = gb.trace(_stacked_layers, **inputs)
    scene = g.draw().scene()
    (stack,) = [n.id for n in scene.nodes if n.text.splitlines()[0] == "stack"]
    into = [e for e in scene.edges if e.dst == stack]
    assert len(into) == 1, [e.text for e in into]
    members = [g._dag.edges[i] for i in scene.stands_for[into[0].id]]
    assert len(members) == 60 and {m.argnum for m in members} == set(range(30))
    assert into[0].text.splitlines()[-1].endswith("× 60") and not into[0].head
    first = min(members, key=lambda m: (m.dst.index, m.argnum))
    shown = float(re.findall(r"-?[0-9.]+(?:e[-+]?[0-9]+)?", into[0].text.splitlines()[1].replace("−", "-"))[0])
    assert shown == pytest.approx(first.message.ravel()[0], rel=5e-3)


def _projections(x, Wq, Wk, Wv):
    return np.tanh(Wq @ x), np.sin(Wk @ x), Wv @ x


def _joined_projections(x, Wq, Wk, Wv):
    q, k, v = _projections(x, Wq, Wk, Wv)
    return np.sum(np.concatenate([q, k, v]) ** 2)


def test_a_calls_different_results_joined_keep_an_edge_each():
    """A collapsed call's three results (q, k, v) joined by np.concatenate are three values, each
    with its own message: not one edge "× 3" showing q's (only one value per iteration of a loop,
    a decoder's outputs, is drawn as one edge)."""
    rng = np.random.default_rng(0)
    g = gb.trace(_joined_projections, x=rng.normal(size=3), **{k: rng.normal(size=(3, 3)) for k in ("Wq", "Wk", "Wv")})
    scene = g.draw(fold=True, depth=0).scene()
    (box,) = [n.id for n in scene.nodes if n.id.startswith("box_")]
    out = [e for e in scene.edges if e.src == box]
    assert len(out) == 3 and not any(re.search(r"× \d+$", e.text) for e in out)
    for e in out:
        (i,) = scene.stands_for[e.id]
        shown = float(re.search(r"\[(−?[0-9.]+)", e.text).group(1).replace("−", "-"))
        assert shown == pytest.approx(g._dag.edges[i].message[0], rel=5e-3)


def _inner_then_add(x, W):
    h = x
    for s in range(3):
        for t in range(2):
            h = np.tanh(W @ h)
        h = h + x
    return np.sum(h ** 2)


def test_a_value_used_once_in_the_next_repetitions_box_is_carried_on_too():
    """Each outer repetition's sum goes into the next one's inner loop, collapsed: it read "× 2 (into
    iterations 1…2)", solid, as if it came from outside; used twice it was already dashed."""
    rng = np.random.default_rng(0)
    g = gb.trace(_inner_then_add, x=rng.normal(size=3), W=rng.normal(size=(3, 3)) * .5)
    scene = g.draw(fold=True, depth=2).scene()
    (box,) = [n.id for n in scene.nodes if n.id.startswith("box_")]
    (carry,) = [e for e in scene.edges if e.dst == box and scene.node(e.src).text.splitlines()[0] == "+"]
    assert carry.style == "dashed" and "recurrence" in carry.classes
    assert carry.text.splitlines()[-1] == "× 2 (to the next repetition)"
    members = [g._dag.edges[i] for i in scene.stands_for[carry.id]]
    shown = [float(v.replace("−", "-")) for v in re.search(r"\[(.*)\]", carry.text).group(1).split(",")]
    np.testing.assert_allclose(shown, members[0].message, rtol=5e-3)


def _carried_twice(W, V):
    h = np.ones(3)
    L = 0
    for _ in range(8):
        L = L + np.sum(V @ h)  # h read by an op that does not lead to the next h
        h = np.tanh(W @ h)     # ... and by one that does
    return L


def _carried_into_a_difference(W):
    h = np.ones(3)
    L = 0
    for _ in range(8):
        new = np.tanh(W @ h)
        L = L + np.sum((new - h) ** 2)  # the next repetition's − reads the h this one's − reads too
        h = new
    return L


def _laid_out(dot_executable, source):
    import json
    import subprocess

    return json.loads(subprocess.run([dot_executable, "-Tjson"], input=source.encode(), capture_output=True,
                                     check=True).stdout)


def _label_boxes(edge):
    """The boxes (x0, y0, x1, y1, points) of the texts of a laid-out edge's label."""
    boxes, size = [], 9.0
    for op in edge.get("_ldraw_", []):
        if op["op"] == "F":
            size = float(op["size"])
        elif op["op"] == "T":
            x, y = op["pt"]
            left = x - {"l": 0, "c": op["width"] / 2, "r": op["width"]}[op["align"]]
            boxes.append((left, y - 0.2 * size, left + op["width"], y + 0.8 * size))
    return boxes


def test_edges_to_the_next_repetition_are_ranked_with_their_labels_beside_them_inside_the_frame(dot_executable):
    """An edge from a folded block's end to the next repetition's op is written downwards, from that
    op to the value, with its arrow at the op (dir=back): dot ranks it as the block's own edges and
    places its label as theirs, inside the frame and off the nodes. Unranked (constraint=false), it had
    an external label that dot laid across its own edge or a node."""
    g = gb.trace(_carried_twice, W=RNG.normal(size=(3, 3)), V=RNG.normal(size=(3, 3)))
    scene = g.draw(fold=True).scene()
    back = {e.id: e for e in scene.edges if "recurrence" in e.classes}
    heads = {scene.node(e.dst).text.splitlines()[0] for e in back.values()}
    assert len(back) == 3 and heads == {"@", "0 + (·) … +"}  # h into W @ h and V @ h; L into L + ·
    source = g.to_dot(fold=True)
    graph = parse(source)
    for e in graph.get_edges():
        mine = back.get(str(e.get("id")).strip('"'))
        if mine is not None:
            assert (e.get_source(), e.get_destination()) == (mine.dst, mine.src), mine.id
            assert e.get("dir") == "back" and e.get("constraint") is None and e.get("xlabel") is None
            assert "(to the next repetition)" in label_text(e)
    _labels_inside_the_frame_and_off_the_nodes(_laid_out(dot_executable, source), set(back))
    # a deep net's: the label beside the edge from tanh back to @ crossed the frame's right side by 16
    # points (dot leaves edge labels out of a frame's bounds)
    depth = 50
    net = gb.trace(deep_mlp(depth), **deep_mlp_inputs(np.random.default_rng(5), depth))
    ids = {e.id for e in net.draw().scene().edges if "recurrence" in e.classes}
    assert len(ids) == 1
    _labels_inside_the_frame_and_off_the_nodes(_laid_out(dot_executable, net.to_dot()), ids)


def _labels_inside_the_frame_and_off_the_nodes(laid, ids):
    (frame,) = [o for o in laid["objects"] if o["name"].startswith("cluster_") and "folded" in o.get("class", "")]
    fx0, fy0, fx1, fy1 = map(float, frame["bb"].split(","))
    nodes = []
    for o in laid["objects"]:
        if "pos" in o:
            x, y = map(float, o["pos"].split(","))
            w, h = float(o["width"]) * 36, float(o["height"]) * 36
            nodes.append((o["name"], x - w, y - h, x + w, y + h))
    edges = [e for e in laid["edges"] if e.get("id") in ids]
    assert len(edges) == len(ids)
    for e in edges:
        for x0, y0, x1, y1 in _label_boxes(e):
            assert fx0 <= x0 and x1 <= fx1 and fy0 <= y0 and y1 <= fy1, (e["id"], (x0, x1), (fx0, fx1))
            hit = [n for n, a0, b0, a1, b1 in nodes if x0 < a1 and a0 < x1 and y0 < b1 and b0 < y1]
            assert not hit, (e["id"], hit)


def test_an_edge_to_the_next_repetition_that_would_close_a_cycle_keeps_an_external_label():
    """When the value leads, within the block, to the op that reads it in the next repetition (the
    difference of this h and the last), ranking the edge upwards would close a cycle: it stays
    unranked, from the value to the op, with its label placed beside it after the layout."""
    g = gb.trace(_carried_into_a_difference, W=RNG.normal(size=(3, 3)))
    scene = g.draw(fold=True).scene()
    back = {e.id: e for e in scene.edges if "recurrence" in e.classes}
    graph = parse(g.to_dot(fold=True))
    kept = [e for e in graph.get_edges() if str(e.get("id")).strip('"') in back and e.get("dir") is None]
    (e,) = kept
    mine = back[str(e.get("id")).strip('"')]
    assert scene.node(mine.dst).text.splitlines()[0] == "−" and scene.node(mine.src).text.splitlines()[0] == "tanh"
    assert (e.get_source(), e.get_destination()) == (mine.src, mine.dst)
    assert e.get("constraint") == "false" and "(to the next repetition)" in str(e.get("xlabel"))
    assert e.get("label") is None
    # the others (h into W @ h, L into L + ·) are ranked
    assert len(back) == 3 and all(x.get("dir") == "back" for x in graph.get_edges()
                                  if str(x.get("id")).strip('"') in set(back) - {mine.id})


def _padded_layers(x, **W):
    h = x
    for i in range(len(W)):
        p = np.pad(h, 1)[1:-1]  # an op on h before the layer's weight (im2col's pad)
        h = np.tanh(W[f"W{i}"] @ p)
    return np.sum(h ** 2)


def test_a_folded_op_whose_first_repetition_reads_data_is_drawn_with_the_messages_of_the_others():
    """The first repetition's pad reads the data x (no gradient), the 29 others the layer before
    (which has one): the folded pad is not greyed as data, and its edges draw the second
    repetition's message, saying the first carries none (they were grey, with no message)."""
    W = {f"W{i}": RNG.normal(size=(4, 4)) * 0.5 for i in range(30)}
    g = gb.trace(_padded_layers, x=RNG.normal(size=4), **W)
    scene = g.draw(data=["x"]).scene()
    pads = [n for n in g.nodes if n.op is not None and n.op.name == "pad"]
    (pad,) = [n for n in scene.nodes if n.text.startswith("pad 1")]
    assert scene.stands_for[pad.id] == tuple(n.index for n in pads)
    assert "data" not in pad.classes and pad.lines[0][0].color == "#1a1a1a"  # the palette's text, not muted
    (out,) = [e for e in scene.edges if e.src == pad.id]
    second = pads[1].out_edges[0]
    assert f"norm {np.linalg.norm(second.message):.3g}".replace("-", "−") in out.text
    assert "× 30; none in the first" in out.text and out.color != "#b0b0b0"
    assert f"{second.src.name} → {second.dst.name}" in str(out.tooltip)
    # x itself is still data, and its edge into the first repetition carries nothing
    (into,) = [e for e in scene.edges if e.src == g.node("x").id]
    assert "▲" not in into.text and "into iteration 0 only" in into.text
    # with x a parameter every repetition carries a message: drawn as before
    (out,) = [e for e in g.draw().scene().edges if e.src == pad.id]
    assert "none in the first" not in out.text
    assert f"norm {np.linalg.norm(pads[0].out_edges[0].message):.3g}".replace("-", "−") in out.text


def _rnn_read_after(Wx, Wh, Wo, X):
    h = np.zeros(4)
    outs = []
    for t in range(len(X)):
        h = np.tanh(Wx @ X[t] + Wh @ h)
        outs.append(Wo @ h)
    return np.sum((Wo @ h) ** 2) + np.sum(np.stack(outs) ** 2)  # the last h; every step's output


def test_an_edge_out_of_a_folded_loop_says_which_repetitions_it_leaves():
    """The node drawn for a folded loop's values shows the first repetition's numbers; the edge that
    carries the last one's value on after the loop says so (as the edge into the first says "into
    iteration 0 only"). Edges from every repetition, or within the block, say nothing of the kind."""
    T = 9
    g = gb.trace(_rnn_read_after, Wx=RNG.normal(size=(4, 2)), Wh=RNG.normal(size=(4, 4)) * 0.5,
                 Wo=RNG.normal(size=(3, 4)), X=RNG.normal(size=(T, 2)))
    scene = g.draw(fold=True).scene()
    tanhs = [n for n in g.nodes if n.op is not None and n.op.name == "tanh"]
    (tanh,) = [k for k, v in scene.stands_for.items() if v == tuple(n.index for n in tanhs)]
    outside = [e for e in scene.edges if e.src == tanh and len(scene.stands_for[e.dst]) == 1]
    assert len(outside) == 1 and f"from iteration {T - 1} only" in outside[0].text
    (last,) = [e.index for e in tanhs[-1].out_edges if e.dst.scope is None]
    assert scene.stands_for[outside[0].id] == (last,)
    stacked = next(n for n in g.nodes if n.op is not None and n.op.name == "stack")
    (into,) = [e for e in scene.edges if e.dst == stacked.id]  # from every repetition
    assert f"× {T}" in into.text and "from iteration" not in into.text
    inside = [e for e in scene.edges if e.src == tanh and e not in outside]
    assert inside and not any("from iteration" in e.text for e in inside)


def test_a_number_one_rounding_off_a_short_decimal_is_written_short_and_a_guard_in_full():
    """``softening ** 2`` with softening 0.1 is 0.010000000000000002: drawn ``(·) + 0.01``; a guard
    1 − 1e-15 is not 1 and stays written in full."""
    softening = 0.1

    def f(x):
        return np.sum(np.sqrt(x ** 2 + softening ** 2)) + np.sum(np.minimum(x, 1 - 1e-15))

    g = gb.trace(f, x=np.array([0.5, 1.0, 2.0]))
    symbols = " | ".join(label_text(n) for n in all_nodes(parse(g.to_dot())))
    assert "(·) + 0.01<" in symbols and "0.0100000" not in symbols
    assert "min(0.999999999999999" in symbols


def test_a_constant_near_a_whole_number_is_not_written_as_it_and_rounding_noise_is_not_written_out():
    # Adam's bias correction m / (1 − 0.9¹⁰⁰) was drawn "(·) ÷ 1", a no-op; 1 − 0.999² =
    # 0.001998999999999973 was drawn with its 19 digits
    g = gb.trace(lambda w: np.sum(w / (1 - 0.9 ** 100)) + np.sum(w / (1 - 0.999 ** 2)) + np.sum(w * 2.00001),
                 w=np.array([1.0, 2.0]))
    symbols = " | ".join(label_text(n) for n in all_nodes(parse(g.to_dot())))
    assert "(·) ÷ 0.99997<" in symbols and "(·) ÷ 1<" not in symbols
    assert "(·) ÷ 0.001999<" in symbols and "0.00199899" not in symbols
    assert "× 2.00001<" in symbols


def _tied_autoencoder(x, **W):
    h = x
    for i in range(len(W)):  # the encoder reads W0 … W4
        h = np.tanh(W[f"W{i}"] @ h)
    for i in reversed(range(len(W))):  # the decoder their transposes, in reverse
        h = np.tanh(W[f"W{i}"].T @ h)
    return np.sum((h - x) ** 2)


def _two_loops_one_unfolded(x, **A):
    g = x
    for i in reversed(range(len(A))):  # reads each A three times, in a loop of its own
        z = g
        for _ in range(3):
            z = g - np.tanh(A[f"A{i}"] @ z)
        g = z
    total = 0
    for i in range(len(A)):  # its first iteration adds to the number 0: drawn apart
        g = np.tanh(A[f"A{i}"] @ g)
        total += np.log(1 + g ** 2)
    return np.sum(g ** 2) + np.sum(total)


def _norm_text(a):
    return f"norm {np.linalg.norm(a):.3g}".replace("-", "−")


def test_weights_tied_across_two_folded_loops_are_drawn_as_the_first_in_the_inputs_order():
    """Weights read by two folded loops (an encoder's and, in reverse, a decoder's) have no one first
    repetition: drawn as W0, its uses tagged m₁ (the encoder's) and m₂ (the decoder's), each edge
    "m₁ of each" and carrying W0's message, the sum W0's gradient. It was drawn as the first of one
    loop's and the last of the other's (A1 … A0), with a sum smaller than one of its own terms."""
    L = 5
    W = {f"W{i}": RNG.normal(size=(3, 3)) * 0.5 for i in range(L)}
    g = gb.trace(_tied_autoencoder, x=RNG.normal(size=3), **W)
    scene = g.draw(fold=True).scene()
    (w,) = [n for n in scene.nodes if n.text.startswith("W")]
    assert w.text.splitlines()[0] == f"W0 … W{L - 1}" and w.id == g.node("W0").id
    assert scene.stands_for[w.id] == tuple(g.node(f"W{i}").index for i in range(L))
    assert "∂L/∂W0 = m₁ + m₂" in w.text and _norm_text(g.grad("W0")) in w.text
    first, second = g.node("W0").out_edges
    out = {e.text.splitlines()[-1]: e for e in scene.edges if e.src == w.id}
    assert set(out) == {f"m₁ of each, × {L}", f"m₂ of each, × {L}"}
    assert _norm_text(first.message) in out[f"m₁ of each, × {L}"].text
    assert _norm_text(second.message) in out[f"m₂ of each, × {L}"].text


def test_a_weight_read_in_a_loop_inside_each_repetition_and_by_one_unfolded_iteration_says_so():
    N = 4
    A = {f"A{i}": RNG.normal(size=(3, 3)) * 0.5 for i in range(N)}
    g = gb.trace(_two_loops_one_unfolded, x=RNG.normal(size=3), **A)
    scene = g.draw(fold=True).scene()
    (a,) = [n for n in scene.nodes if n.text.startswith("A")]
    assert a.text.splitlines()[0] == f"A0 … A{N - 1}" and "∂L/∂A0 = m₁ + m₂ + m₃ + m₄" in a.text
    assert _norm_text(g.grad("A0")) in a.text
    texts = sorted(e.text.splitlines()[-1] for e in scene.edges if e.src == a.id)
    # the three reads of each in the inner loop; A0's read by the forward loop's first iteration,
    # drawn apart; the others' by its folded repetitions
    assert texts == [f"from A0 only", f"m₁ … m₃ of each, × {3 * N}", f"m₄ of each, × {N - 1} (from A1 … A{N - 1})"]
    (apart,) = [e for e in scene.edges if e.src == a.id and e.text.endswith("from A0 only")]
    assert _norm_text(g.node("A0").out_edges[3].message) in apart.text and "m₄" in apart.text


def _rnn_from_zero(W, U, X):
    h = np.zeros(8)
    for x in X:
        h = np.tanh(W @ h + U @ x)
    return np.sum(h ** 2)


def test_a_folded_value_all_0_in_the_first_repetition_also_shows_the_last():
    """From a zero state an RNN's first step reads W @ 0: its folded node read "all 0" and the
    message to W "m₁ all 0", as if nothing flowed. Beside them: the last repetition's numbers."""
    T = 12
    g = gb.trace(_rnn_from_zero, W=RNG.normal(size=(8, 8)) * 0.4, U=RNG.normal(size=(8, 2)), X=RNG.normal(size=(T, 2)))
    scene = g.draw(fold=True).scene()
    products = [n for n in g.nodes if n.op is not None and n.op.name == "matmul" and n.in_edges[0].src is g.node("W")]
    (drawn,) = [n for n in scene.nodes if scene.stands_for[n.id] == tuple(p.index for p in products)]
    assert "all 0" in drawn.text and _norm_text(products[-1].value) in drawn.text.split("the last: ")[1]
    (to_w,) = [e for e in scene.edges if e.src == g.node("W").id]
    last = g.node("W").out_edges[-1]
    assert "▲ m₁ all 0" in to_w.text and f"the last: {_norm_text(last.message)}" in to_w.text
    # nothing all 0 in a deep net's first layer: nothing more written
    net = gb.trace(deep_mlp(20), **deep_mlp_inputs(RNG, 20))
    assert not [x for x in (*net.draw().scene().nodes, *net.draw().scene().edges) if "the last:" in x.text]


def _summed_in_one_line(x, **W):
    return sum(np.sum(np.tanh(W[f"W{i}"] @ x) ** 2) * 0.5 + np.sum(np.abs(W[f"W{i}"])) * 0.001 for i in range(len(W)))


def test_a_frame_quoting_a_long_line_quotes_its_start():
    """A generator's frame is titled with the line it is on: the whole return line made the frame
    as wide as the line. It is cut at 60 characters, with …."""
    g = gb.trace(_summed_in_one_line, x=RNG.normal(size=3), **{f"W{i}": RNG.normal(size=(3, 3)) for i in range(6)})
    titles = [c.lines[0][0].text for c in g.draw(fold=True).scene().clusters]
    assert titles and all(t.startswith('return sum(np.sum(np.tanh(W[f"W{i}"] @ x) ** 2) * 0.5 + np.… — ') for t in titles)


def _doubled_from_data(W, x):
    h = x
    for _ in range(6):
        p = h * 2.0
        h = np.tanh(W @ p) + p  # p used twice: a shared value, whose first repetition reads data
    return np.sum(h)


def test_a_shared_value_whose_first_repetition_reads_data_is_drawn_with_a_later_ones_uses():
    """It crashed (KeyError): its gradient was written from the first repetition's edges, which
    carry no message when x is data."""
    g = gb.trace(_doubled_from_data, W=RNG.normal(size=(3, 3)) * 0.3, x=RNG.normal(size=3))
    scene = g.draw(fold=True, data=["x"]).scene()
    doubled = [n for n in g.nodes if n.op is not None and n.op.name == "multiply"]
    (p,) = [n for n in scene.nodes if scene.stands_for[n.id] == tuple(m.index for m in doubled)]
    assert "∂L/∂· = m₁ + m₂" in p.text and f"= [{doubled[1].adjoint[0]:.3g}, ".replace("-", "−") in p.text


def _two_states(W, V):
    x, y, L = np.ones(3), np.ones(3), 0
    for _ in range(8):
        x_new, y_new = np.tanh(W @ x), np.tanh(V @ y)
        A = x + y_new  # this x and the next y
        B = y + x_new  # this y and the next x
        L = L + np.sum(A * B)
        x, y = x_new, y_new
    return L


def test_the_edges_reversed_to_the_next_repetition_never_close_a_cycle_together():
    """Each reversal is checked against the drawing's edges and the reversals before it: two states
    that feed each other were both reversed, a cycle dot broke where it liked."""
    g = gb.trace(_two_states, W=RNG.normal(size=(3, 3)), V=RNG.normal(size=(3, 3)))
    graph = parse(g.to_dot(fold=True))
    ranked: dict[str, list[str]] = {}
    for e in graph.get_edges():
        if e.get("constraint") == "false":
            continue
        s, d = e.get_source().strip('"'), e.get_destination().strip('"')
        if s != d:
            ranked.setdefault(s, []).append(d)
    assert any(e.get("dir") == "back" for e in graph.get_edges())
    state: dict[str, int] = {}

    def acyclic(u):
        state[u] = 1
        for v in ranked.get(u, ()):
            if state.get(v) == 1 or (v not in state and not acyclic(v)):
                return False
        state[u] = 2
        return True

    assert all(acyclic(u) for u in list(ranked) if u not in state)


def _inner_then_outer(W, U, X):
    cost = 0.0
    for xs in X:
        h = np.zeros(3)
        for x in xs:
            h = np.tanh(W @ h + U @ x)
        cost = cost + np.sum(h ** 2)
    return cost


def test_the_edge_out_of_a_loop_inside_a_folded_loop_says_it_leaves_its_last_iteration():
    g = gb.trace(_inner_then_outer, W=RNG.normal(size=(3, 3)) / 2, U=RNG.normal(size=(3, 2)),
                 X=RNG.normal(size=(4, 5, 2)))
    scene = g.draw(fold=True).scene()
    out = [e for e in scene.edges if scene.node(e.src).text.startswith("tanh")
           and scene.node(e.dst).text.startswith("(·)²")]
    assert out and all("from iteration 4 only" in e.text for e in out)


def test_the_tooltip_of_an_edge_drawn_for_tied_weights_names_the_last_repetitions():
    L = 5
    W = {f"W{i}": RNG.normal(size=(3, 3)) * 0.5 for i in range(L)}
    g = gb.trace(_tied_autoencoder, x=RNG.normal(size=3), **W)
    scene = g.draw(fold=True).scene()
    (w,) = [n for n in scene.nodes if n.text.startswith("W")]
    decoder = next(e for e in scene.edges if e.src == w.id and "m₂" in e.text)
    last = max((e for i in range(L) for e in g.node(f"W{i}").out_edges[1:]), key=lambda e: e.dst.index)
    assert f"the last, {last.src.name} → {last.dst.name}," in str(decoder.tooltip)


def _heads_in_layers(x, Wq, Wk):
    for _ in range(3):
        q, k = np.split(x @ Wq, 2, axis=-1), np.split(x @ Wk, 2, axis=-1)
        heads = [np.tanh(qh @ kh.T) @ qh for qh, kh in zip(q, k)]
        x = x + np.hstack(heads)
    return np.sum(x ** 2)


def test_a_repeat_drawn_once_inside_another_says_its_count_is_in_each():
    """The heads' frame read "× 2" beside edges "into 3 of 6 repetitions": 2 in each of 3 layers."""
    g = gb.trace(_heads_in_layers, x=RNG.normal(size=(3, 4)), Wq=RNG.normal(size=(4, 4)) * 0.3,
                 Wk=RNG.normal(size=(4, 4)) * 0.3)
    titles = {c.id: [s.text for line in c.lines for s in line] for c in g.draw(fold=True).scene().clusters
              if "folded" in c.classes}
    texts = ["\n".join(t) for t in titles.values()]
    assert any("× 3, drawn once" in t and "in each" not in t for t in texts)
    (inner,) = [t for t in texts if "× 2 in each of 3 (6 in all), drawn once" in t]
    assert "per repetition, in the first of 3, log scale" in inner


def _heads_summed(W, X):
    L = 0.0
    for layer in range(3):
        for head in range(2):
            L = L + np.sum(np.tanh(W @ X[layer, head]))
    return L


def test_only_the_repeats_around_a_fold_count_in_its_title():
    """A fold whose first node also starts the fold inside it counted that one as around it: the
    layers' loop read "× 2 in each of 2"."""
    g = gb.trace(_heads_summed, W=RNG.normal(size=(3, 3)), X=RNG.normal(size=(3, 2, 3)))
    titles = [c.lines[0][0].text for c in g.draw(fold=True).scene().clusters if "drawn once" in c.lines[0][0].text]
    layers = [t for t in titles if t.startswith("for layer")]
    assert layers and not any("in each of" in t for t in layers), titles


def _scaled_chain(x, a):
    for _ in range(30):
        x = a * x
    return np.sum(x)


def test_a_strip_ramps_only_where_norms_grow_tenfold_or_more():
    """Scaled between its smallest and largest norm, a drift of 3 % (a = 1.001) and an explosion of
    10²⁹ (a = 10) drew the same ramp, and rounding made a constant norm flicker from bottom to top."""
    strips = {}
    for a in (1.001, 10.0, 1.0):
        g = gb.trace(_scaled_chain, x=np.ones(3), a=np.array(a))
        (frame,) = [c for c in g.draw(fold=True).scene().clusters if "folded" in c.classes]
        strips[a] = frame.lines[1][0].text
    assert set(strips[1.001]) == {"█"} and set(strips[1.0]) == {"█"}
    assert strips[10.0][0] == "█" and strips[10.0][-1] == "▁" and len(set(strips[10.0])) == 8  # (from the loss back)


def test_a_negative_number_after_an_operator_is_written_in_parentheses():
    """It read "(·) − −0.4726" and "(·) + −½"."""
    def f(x):
        return np.sum(((x - (-0.4726)) + (-0.5)) * -2.0)

    symbols = " | ".join(label_text(n) for n in all_nodes(parse(gb.trace(f, x=np.ones(3)).to_dot())))
    assert "(·) − (−0.4726)" in symbols and "(·) + (−½)" in symbols and "× (−2)" in symbols
    assert "− −" not in symbols and "+ −" not in symbols


def test_the_largest_messages_are_written_with_the_minus_sign_of_every_other_number():
    def tiny(x):
        y = x
        for _ in range(12):
            y = y * x
        return np.sum(y)

    g = gb.trace(tiny, x=np.full(2, 0.02))
    text = g.draw().scene().node(g.node("x").id).text
    line = text.split("largest messages: ")[1].split("\n")[0]
    assert "e−" in line and "-" not in line


def _grid(w):
    out = np.zeros((3, 4))
    for i in range(3):
        for j in range(4):
            out[i, j] = np.sum(w[i:i + 2] * w[j:j + 2])
    return np.sum(out ** 2)


def test_an_edge_into_or_out_of_one_iteration_of_loops_in_loops_names_each_loops():
    """One of 12 passes of a loop in a loop read "from iteration 3 only" (there are three of them)
    and "into 1 of 12 repetitions"."""
    g = gb.trace(_grid, w=np.linspace(0.1, 0.9, 6))
    texts = [e.text.splitlines()[-1] for e in g.draw(fold=True).scene().edges]
    assert any(t.endswith("from i = 2, j = 3 only") for t in texts), texts
    assert any(t.endswith("into i = 0, j = 0 only") for t in texts), texts
    assert not any(t.endswith("from iteration 3 only") for t in texts)


def _labelled_layers(W, h):
    for i in range(3):
        with gb.group(f"layer {i}"):
            h = np.tanh(W @ h)
    return np.sum(h ** 2)


def test_a_group_in_a_folded_loop_is_titled_with_its_first_and_last_labels():
    """It read "layer 0" alone inside "iterations 0…2 × 3"."""
    g = gb.trace(_labelled_layers, W=RNG.normal(size=(3, 3)), h=RNG.normal(size=3))
    titles = [c.lines[0][0].text for c in g.draw(fold=True).scene().clusters]
    assert "layer 0 … layer 2" in titles and "layer 0" not in titles, titles


def _two_line_groups(W, h):
    with gb.group("encoder\nstage 1"):
        for _ in range(2):
            with gb.group("block\nA"):
                h = np.tanh(W @ h)
    return np.sum(h ** 2)


def test_a_group_label_written_over_two_lines_is_drawn_as_two_rows():
    """A newline in a group's label was drawn as a literal ``\\n`` in its frame and in its box."""
    g = gb.trace(_two_line_groups, W=RNG.normal(size=(3, 3)), h=RNG.normal(size=3))
    rows = [[t.text for t in line] for c in g.draw(depth=None, fold=False).scene().clusters for line in c.lines]
    assert ["encoder"] in rows and ["stage 1"] in rows and ["block"] in rows and ["A"] in rows, rows
    boxes = [n for n in g.draw(depth=0).scene().nodes if "box" in n.classes]
    assert [[t.text for t in line] for line in boxes[0].lines][:2] == [["encoder"], ["stage 1"]]
    for src in (g.draw(depth=0).to_dot(), g.draw(depth=None, fold=False).to_dot()):
        labels = re.findall(r"label=(<<.*?</TABLE>>)", src)
        assert any("encoder</" in t for t in labels) and not any("encoder\\" in t for t in labels)
        parse(src)


def _grouped_loop(x, W):
    h = x
    for _ in range(6):
        with gb.group("layer"):
            h = np.tanh(W @ h)
        h = h * 0.9
    return np.sum(h ** 2)


def test_depth_counts_a_loop_and_its_iterations_as_two_levels_as_the_readme_says():
    g = gb.trace(_grouped_loop, x=np.ones(3), W=np.eye(3) * 0.5)
    boxes = {d: [n.lines[0][0].text for n in g.draw(depth=d, fold=False).scene().nodes if "box" in n.classes]
             for d in (0, 1, 2)}
    assert boxes[0] == ["for _ in range(6):"]
    assert boxes[1] == [f"for _ in range(6): — iteration {i}" for i in range(6)]
    assert boxes[2] == ["layer"] * 6


def _data_first(x, **W):
    h = x
    for i in range(6):
        hh = h[None]  # the first repetition's is made from data alone
        h = np.tanh(hh @ W[f"W{i}"])[0] + np.sin(hh)[0] + hh[0] ** 2 * 0.1
    return np.sum(h)


def test_a_folded_value_whose_first_repetition_reads_data_shows_one_repetitions_numbers():
    """Its label showed the first repetition's value (x's numbers) beside the second's gradient,
    under one name, with nothing to say so; its tooltip, the first's gradient."""
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(4, 3)), **{f"W{i}": rng.normal(size=(3, 3)) for i in range(6)}}
    g = gb.trace(_data_first, **inputs)
    scene = g.draw(fold=True, data=["x"]).scene()
    reps = [n for n in g.nodes if n.op is not None and n.op.name == "index" and n.shape == (1, 4, 3)]
    assert len(reps) == 6
    drawn = scene.node(reps[0].id)
    text = drawn.text.splitlines()
    assert "the 2nd repetition's (the 1st: data only)" in text
    norms = [float(t.split()[1].rstrip(",")) for t in text if t.startswith("norm ")]
    assert norms[0] == pytest.approx(np.linalg.norm(reps[1].value), rel=5e-3)  # the value: the 2nd's
    assert norms[0] != pytest.approx(np.linalg.norm(reps[0].value), rel=5e-3)
    grad = next(t for t in text if t.startswith("= norm "))
    assert float(grad.split()[2].rstrip(",")) == pytest.approx(np.linalg.norm(reps[1].adjoint), rel=5e-3)
    tip = str(drawn.tooltip)
    assert tip.startswith(reps[1].name) and f"∂L/∂{reps[1].name} =" in tip
    # with a gradient in the first repetition (no data= input), nothing is said
    assert "data only)" not in g.draw(fold=True).scene().node(reps[0].id).text
    # the first two data alone (W0 data too): the 3rd's numbers, and the first two said to be data
    text = g.draw(fold=True, data=["x", "W0"]).scene().node(reps[0].id).text.splitlines()
    assert "the 3rd repetition's (the first 2: data only)" in text, text


def _rnn_into_a_buffer(W, X):
    H = np.zeros(X.shape)
    h = np.zeros(X.shape[1])
    for t in range(len(X)):
        h = np.tanh(W @ h + X[t])
        H[t] = h  # a preallocated output buffer, as GRU and LSTM course code writes it
    return np.sum(H * np.linspace(1.0, 2.0, X.size).reshape(X.shape))


def test_the_strip_of_a_loop_writing_a_buffer_shows_the_recurrence_not_the_buffer():
    """The buffer's gradient holds every row written before: the strip grew like √t (2.34 → 15.5)
    while ‖∂L/∂hₜ‖ went 1.2 → 2."""
    from graphviz_bp.drawing.fold import plan

    rng = np.random.default_rng(0)
    W, X = rng.normal(size=(4, 4)) * 0.3, rng.normal(size=(40, 4))
    g = gb.trace(_rnn_into_a_buffer, W=W, X=X)
    (fold,) = plan(g._dag, True, None).folds.values()
    hs = [n for n in g.nodes if n.op is not None and n.op.name == "tanh"]
    assert fold.count == len(hs) == 40
    np.testing.assert_allclose(fold.repeat.norms(), [np.linalg.norm(h.adjoint) for h in hs], rtol=1e-12)
    title = "\n".join(line[0].text for c in g.draw(fold=True).scene().clusters for line in c.lines)
    first, last = np.linalg.norm(hs[0].adjoint), np.linalg.norm(hs[-1].adjoint)
    assert f"log scale: {first:.3g} (first) → {last:.3g} (last)" in title, title


def _rnn_whose_a_is_read_after(W, X):
    h = np.zeros(4)
    for t in range(len(X)):
        a = W @ h + X[t]
        h = np.tanh(a)
    return np.sum(h ** 2) + 0.1 * np.sum(a)  # the last step's a is read after the loop too


def test_the_strip_follows_the_state_when_the_last_repetition_also_sends_an_inner_value():
    """a leaves the last repetition: every repetition's norm counted its ∂L/∂aₜ too."""
    from graphviz_bp.drawing.fold import plan

    rng = np.random.default_rng(0)
    g = gb.trace(_rnn_whose_a_is_read_after, W=rng.normal(size=(4, 4)) * 0.3, X=rng.normal(size=(12, 4)))
    (fold,) = plan(g._dag, True, None).folds.values()
    hs = [n for n in g.nodes if n.op is not None and n.op.name == "tanh"][-fold.count:]
    np.testing.assert_allclose(fold.repeat.norms(), [np.linalg.norm(h.adjoint) for h in hs], rtol=1e-12)


def _two_line_layers(W, h):
    for i in range(3):
        with gb.group(f"layer {i}\nencoder"):
            h = np.tanh(W @ h)
    return np.sum(h ** 2)


def test_a_two_line_group_label_in_a_folded_loop_is_ranged_line_by_line_and_named_whole_on_the_page():
    """Titled "layer 0" / "encoder … layer 2" / "encoder"; the page named a box by its first row."""
    from graphviz_bp.drawing.walkthrough import walk

    g = gb.trace(_two_line_layers, W=RNG.normal(size=(3, 3)), h=RNG.normal(size=3))
    rows = [[[t.text for t in line] for line in c.lines] for c in g.draw(fold=True).scene().clusters]
    assert [["layer 0 … layer 2"], ["encoder"]] in rows, rows
    g2 = gb.trace(_two_line_groups, W=RNG.normal(size=(3, 3)), h=RNG.normal(size=3))
    scene = g2.draw(depth=0).scene()
    (box,) = [n for n in scene.nodes if "box" in n.classes]
    assert walk(g2._dag, scene).nodes[box.id]["name"] == "encoder stage 1"


def _masked_recurrence(W, h0, xs):
    h = h0
    for t in range(xs.shape[0]):
        h = _stable_sigmoid(xs[t] + h @ W)
    return np.sum(h)


def test_a_recurrence_through_boolean_mask_gathers_folds_though_their_lengths_differ():
    """x[pos_mask] is as long as the mask has True entries, different at each step: no two steps
    matched, and a 30-step cs231n LSTM was drawn as 30 boxes, 10,000 px square."""
    rng = np.random.default_rng(0)
    inputs = dict(W=rng.normal(size=(4, 4)), h0=rng.normal(size=(2, 4)), xs=rng.normal(size=(40, 2, 4)))
    g = gb.trace(_masked_recurrence, **inputs)
    gathers = [n for n in g.nodes if n.op is not None and n.op.name == "index" and n.dtype.kind == "f"
               and n.shape != (2, 4)]
    assert len({n.shape for n in gathers}) > 1  # the lengths do differ
    scene = g.draw().scene()
    titles = [line[0].text for c in scene.clusters for line in c.lines]
    assert any("iterations 0…39   × 40, drawn once" in t for t in titles), titles
    assert len(scene.nodes) < 30
    assert gb.check(_masked_recurrence, **inputs).passed


def test_a_folded_gather_by_masks_of_different_lengths_shows_the_range_of_its_shapes():
    """Drawn once for 40 gathers of 0 to 8 entries, it read the first's shape alone (ℝ⁰ where the
    first step's mask was empty), and its edges the first's Jacobian."""
    rng = np.random.default_rng(0)
    inputs = dict(W=rng.normal(size=(4, 4)), h0=rng.normal(size=(2, 4)), xs=rng.normal(size=(40, 2, 4)))
    g = gb.trace(_masked_recurrence, **inputs)
    scene = g.draw().scene()
    checked = 0
    for node in scene.nodes:
        members = [g.nodes[i] for i in scene.stands_for.get(node.id, ())]
        sizes = {m.value.size for m in members}
        if len(sizes) > 1:  # a value of as many entries as a mask holds
            low, high = min(sizes), max(sizes)
            up = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
            assert f"ℝ{str(low).translate(up)} … ℝ{str(high).translate(up)}" in node.text.splitlines(), node.text
            checked += 1
    assert checked >= 2
    spans = 0
    for edge in scene.edges:
        members = [g.edges[i] for i in scene.stands_for.get(edge.id, ())]
        shapes = {m.dst.value.shape + m.src.value.shape for m in members}
        if len(shapes) > 1 and "J" in edge.text:
            first = edge.text.splitlines()[0]
            low = min(shapes, key=lambda s: int(np.prod(s)))
            high = max(shapes, key=lambda s: int(np.prod(s)))
            assert first == f"J {'×'.join(map(str, low))} … {'×'.join(map(str, high))}", first
            spans += 1
    assert spans >= 2


def _dense_net(x, **W):
    feats = x
    for i in range(len(W)):
        new = np.tanh(feats @ W[f"W{i}"])
        feats = np.concatenate([feats, new], axis=1)  # each layer reads all before it: no two alike
    return np.sum(feats ** 2)


def test_a_dense_nets_layers_of_different_shapes_fit_the_default_drawing_their_weights_drawn_as_one():
    """Layers each of its own shape, nothing folds; collapsed to one box, 200 weight leaves
    stayed beside it: 204 nodes in a row 399 in wide, past what rsvg-convert can show."""
    rng = np.random.default_rng(0)
    W = {f"W{i}": rng.normal(size=(3 + 2 * i, 2)) * 0.3 for i in range(160)}
    g = gb.trace(_dense_net, x=rng.normal(size=(4, 3)), **W)
    scene = g.draw().scene()
    assert len(scene.nodes) <= 150
    (gathered,) = [n for n in scene.nodes if n.text.startswith("W0 … W159")]
    members = [g.nodes[i] for i in scene.stands_for[gathered.id]]
    assert [m.name for m in members] == [f"W{i}" for i in range(160)]
    assert "160 inputs: W0's numbers" in gathered.text and "ℝ³ˣ² … ℝ³²¹ˣ²" in gathered.text
    (edge,) = [e for e in scene.edges if e.src == gathered.id]
    assert sorted(scene.stands_for[edge.id]) == sorted(e.index for m in members for e in m.out_edges)
    assert edge.text.splitlines()[-1] == "× 160"
    assert "drawn once for 160 inputs only the box beside it reads" in str(gathered.tooltip)
    # collapsed on request, they are gathered too (a row of 160 inputs into one box is unreadable);
    # fold=False draws each
    assert sum(n.text.startswith("W0 … W159") for n in g.draw(depth=0).scene().nodes) == 1
    for options in ({"fold": False}, {"fold": False, "depth": 0}):
        assert sum(n.text.splitlines()[0].startswith("W") for n in g.draw(**options).scene().nodes) == 160
    g.draw().html()  # the page reads what the gathered node stands for


def _dense_block(feats, V, Ws):
    h = np.tanh(feats @ V)
    for W in Ws:  # alike iterations: folded, W{i}_0 drawn for W{i}_0 … W{i}_3
        h = np.tanh(h @ W)
    return h


def _dense_blocks(x, **P):
    feats = x
    for i in range(sum(k.startswith("V") for k in P)):  # each layer of its own shape: not folded
        feats = np.concatenate([feats, _dense_block(feats, P[f"V{i}"], [P[f"W{i}_{k}"] for k in range(4)])], axis=1)
    return np.sum(feats ** 2)


def test_inputs_drawn_for_a_folded_layers_are_not_gathered_again():
    """The first of each folded layer's inputs (drawn for W{i}_0 … W{i}_3) was gathered with the
    others' first: their other inputs were dropped, and 100 edges came from ids no node had (dot drew
    them as bare ellipses)."""
    rng = np.random.default_rng(0)
    P = {}
    for i in range(100):
        P[f"V{i}"] = rng.normal(size=(3 + 2 * i, 2)) * .3
        P.update({f"W{i}_{k}": rng.normal(size=(2, 2)) * .5 for k in range(4)})
    g = gb.trace(_dense_blocks, x=rng.normal(size=(4, 3)), **P)
    scene = g.draw().scene()
    ids = {n.id for n in scene.nodes}
    assert all(e.src in ids and e.dst in ids for e in scene.edges)
    drawn_for = sorted(i for n in scene.nodes for i in scene.stands_for.get(n.id, ()))
    absorbed = absorbed_constants(g._dag)  # (the 2 of feats ** 2, written in its op)
    assert drawn_for == [i for i in range(len(g.nodes)) if i not in absorbed]  # every value drawn once
    (gathered,) = [n for n in scene.nodes if n.text.startswith("V0 … V99")]
    assert [g.nodes[i].name for i in scene.stands_for[gathered.id]] == [f"V{i}" for i in range(100)]


def test_inputs_gathered_are_of_one_kind_and_named_alike():
    """Drawn as one: W0 as data with W1 … W159 as parameters (its label then read "the 2nd
    repetition's"), and V0 … U79, V and U read alike."""
    rng = np.random.default_rng(0)
    W = {f"W{i}": rng.normal(size=(3 + 2 * i, 2)) * 0.3 for i in range(160)}
    g = gb.trace(_dense_net, x=rng.normal(size=(4, 3)), **W)
    scene = g.draw(data=("W0",)).scene()
    titles = {n.text.splitlines()[0]: n for n in scene.nodes}
    assert "W0" in titles and "W1 … W159" in titles and "data" in titles["W0"].classes
    assert "parameter" in titles["W1 … W159"].classes and "repetition" not in titles["W1 … W159"].text

    def two_kinds(x, **P):
        feats = x
        for i in range(80):
            feats = np.concatenate([feats, np.tanh(feats @ P[f"V{i}"]) @ P[f"U{i}"]], axis=1)
        return np.sum(feats ** 2)

    P = {}
    for i in range(80):
        P[f"V{i}"], P[f"U{i}"] = rng.normal(size=(3 + 2 * i, 3)) * .3, rng.normal(size=(3, 2)) * .3
    scene = gb.trace(two_kinds, x=rng.normal(size=(4, 3)), **P).draw().scene()
    titles = sorted(n.text.splitlines()[0] for n in scene.nodes if "input" in n.classes)
    assert titles == ["U0 … U79", "V0 … V79", "x"], titles


def _lstm_step(x, prev_h, prev_c, Wx, Wh, b):  # cs231n's lstm_step_forward
    H = prev_h.shape[1]
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    i, f, o = _stable_sigmoid(a[:, :H]), _stable_sigmoid(a[:, H:2 * H]), _stable_sigmoid(a[:, 2 * H:3 * H])
    next_c = f * prev_c + i * np.tanh(a[:, 3 * H:])
    return o * np.tanh(next_c), next_c


def _cs231n_lstm(x, h0, Wx, Wh, b):  # cs231n's lstm_forward, into preallocated h and c
    N, T, _ = x.shape
    h, c = np.zeros((N, T, h0.shape[1])), np.zeros((N, T, h0.shape[1]))
    for t in range(T):
        if t == 0:
            h[:, t, :], c[:, t, :] = _lstm_step(x[:, t, :], h0, np.zeros(h0.shape), Wx, Wh, b)
        else:
            h[:, t, :], c[:, t, :] = _lstm_step(x[:, t, :], h[:, t - 1, :], c[:, t - 1, :], Wx, Wh, b)
    return np.sum(h * np.linspace(0.5, 1.5, h.size).reshape(h.shape))


def test_a_cs231n_lstm_folds_its_last_step_with_the_others():
    """The last step lacks its write into c, which no step reads after it: its masks' lengths made
    it no tail of the others (the alignment compared their shapes), and it was drawn apart."""
    rng = np.random.default_rng(5)
    inputs = dict(x=rng.normal(size=(2, 9, 3)), h0=rng.normal(size=(2, 4)), Wx=rng.normal(size=(3, 16)) * 0.5,
                  Wh=rng.normal(size=(4, 16)) * 0.5, b=rng.normal(size=16) * 0.1)
    g = gb.trace(_cs231n_lstm, **inputs)
    titles = [c.lines[0][0].text for c in g.draw(fold=True).scene().clusters]
    assert any("iterations 1…8   × 8, drawn once" in t for t in titles), titles
    assert not any(t.endswith("— iteration 8") for t in titles)


def test_a_folded_value_of_shapes_of_one_size_shows_both():
    """Repetitions 1×3 and 3×1 (a ragged outer product) read "ℝ³ˣ¹ … ℝ³ˣ¹": the ends were picked by size alone."""
    from graphviz_bp.drawing.annotate import _spread

    assert _spread([(1, 3), (3, 1), (1, 3)]) == ((1, 3), (3, 1))
    assert _spread([(2, 2), (2, 2)]) is None and _spread([(0, 4), (4, 4), (2, 4)]) == ((0, 4), (4, 4))


def _regularised_steps(Wa, Wb, Wc, Wd, x):
    model = dict(Wa=Wa, Wb=Wb, Wc=Wc, Wd=Wd)
    h, L = x, 0.0
    for t in range(30):
        h = np.tanh(Wa @ h + Wb @ h + Wc @ h + Wd @ h)
        L = L + np.sum(h) + np.sum(np.array([0.5 * np.sum(model[k] * model[k]) for k in model]))  # hipsternet's
    return L


def test_a_folded_edge_of_every_third_use_of_each_weight_is_labelled_by_its_pattern():
    """Each weight read twice by a regulariser in every step: the edge read "m₃, m₆, m₉, …, m₉₀ of
    each, × 120", every tag written out (1,177 characters at 200 steps, 11,922 pt wide)."""
    rng = np.random.default_rng(0)
    g = gb.trace(_regularised_steps, x=rng.normal(size=3), **{k: rng.normal(size=(3, 3)) * .3 for k in
                                                                ("Wa", "Wb", "Wc", "Wd")})
    scene = g.draw().scene()
    labels = [e.text.splitlines()[-1] for e in scene.edges if "of each, × 120" in e.text]
    assert sorted(labels) == ["m₂, m₅, … m₈₉ of each, × 120", "m₃, m₆, … m₉₀ of each, × 120"], labels


def _layer(h, W, b):
    return np.tanh(W @ h + b)


def _uneven_net(x, **p):
    h = x
    for i in range(len(p) // 2):
        h = _layer(h, p[f"W{i}"], p[f"b{i}"])
    return 0.5 * np.sum(h ** 2)


def _uneven_layers(rng, count):
    """W0, b0 … of ``count`` layers of random widths 3 to 8 (from 4 inputs): runs of alike layers only."""
    sizes = [4] + [int(v) for v in rng.integers(3, 9, count)]
    p = {}
    for i in range(count):
        p[f"W{i}"] = rng.normal(size=(sizes[i + 1], sizes[i])) * 0.5
        p[f"b{i}"] = rng.normal(size=sizes[i + 1])
    return p


def test_inputs_of_repeats_inside_a_collapsed_box_are_gathered_with_the_others():
    """Layers of uneven widths: runs of alike iterations fold, the others not. Collapsed to one box,
    the box's 60 weights and 60 biases were 110 nodes in a row (26,000 px wide): the ones drawn for
    a folded run stayed apart, and W0 … W59 stood for 51 of them. The legend explained neither the
    repeats nor the operand marks hidden in the box."""
    rng = np.random.default_rng(3)
    g = gb.trace(_uneven_net, x=rng.normal(size=4), **_uneven_layers(rng, 60))
    assert g.draw(depth=None, fold=True).scene().repeats  # some runs fold
    for options in ({}, {"depth": 0}):
        scene = g.draw(**options).scene()
        inputs = [n for n in scene.nodes if "input" in n.classes]
        assert [n.text.splitlines()[0] for n in inputs] == ["x", "W0 … W59", "b0 … b59"]
        for n, stem in zip(inputs[1:], "Wb"):
            assert [g.nodes[i].name for i in scene.stands_for[n.id]] == [f"{stem}{i}" for i in range(60)]
            assert "60 inputs" in n.text
            (edge,) = [e for e in scene.edges if e.src == n.id]
            assert edge.text.splitlines()[-1] == "× 60"
        legend = scene.legend.text
        assert "repeated N times" not in legend and "operand" not in legend
        assert "x₀ … xₙ inputs only one box reads, alike," in legend  # W0 … W59, b0 … b59
    # opened one level, the folded runs are boxes "× N": the legend explains them
    legend = g.draw(depth=1).scene().legend.text
    assert "a block repeated N times, drawn once" in legend
    assert "operand" in g.draw(depth=None).scene().legend.text


def _data_rnn(W, U, X):
    h = np.zeros(W.shape[0])
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
    return np.sum(h ** 2)


def _nested_blocks(x, W1, W2, V):
    h = x
    for t in range(12):
        with gb.group("block"):
            h = h + np.tanh(W1 @ np.tanh(W2 @ h))
        for k in range(3):
            h = np.tanh(V @ h)
    return 0.5 * np.sum(h ** 2)


def _bezier_points(draw):
    """Points along each cubic Bézier curve of an xdot ``_draw_`` list (dot -Tjson), 20 a segment."""
    out = []
    for op in draw:
        if op["op"] in ("b", "B"):
            pts = op["points"]
            for k in range(0, len(pts) - 3, 3):
                (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts[k:k + 4]
                for t in np.linspace(0, 1, 21):
                    u = 1 - t
                    out.append((u ** 3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t ** 3 * x3,
                                u ** 3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t ** 3 * y3))
    return out


@pytest.mark.parametrize("case", ["rnn", "nested"])
def test_no_edge_or_edge_label_crosses_a_folded_frames_title_and_strip(case, dot_executable):
    """A folded block's title and strip of message norms were its frame's label, which dot lets edges
    cross: the data X's edge into the folded step ran through "iterations 0…59 × 60", the strip and
    its scale line. Drawn as a node at the frame's top, above all it holds, edges go around it."""
    import json
    import subprocess

    rng = np.random.default_rng(11)
    if case == "rnn":
        g = gb.trace(_data_rnn, W=rng.normal(size=(8, 8)) / 3, U=rng.normal(size=(8, 3)), X=rng.normal(size=(60, 3)))
    else:
        g = gb.trace(_nested_blocks, x=rng.normal(size=(6, 2)), W1=rng.normal(size=(6, 6)) * 0.3,
                     W2=rng.normal(size=(6, 6)) * 0.3, V=rng.normal(size=(6, 6)) * 0.3)
    scene = g.draw(fold=True).scene()
    folded = [c for c in scene.clusters if "folded" in c.classes]
    assert len(folded) == (1 if case == "rnn" else 2) and all(c.lines for c in folded)
    source = g.to_dot(fold=True)
    graph = parse(source)
    titled = {c.get_name().strip('"')[len("cluster_"):]: c for c in clusters(graph) if "folded" in str(c.get("class"))}
    assert set(titled) == {c.id for c in folded}
    for cid, frame in titled.items():
        assert str(frame.get("label")).strip('"') == ""  # the title is the node's, not the frame's
        assert "drawn once" in frame_title(frame)
        (node,) = [n for n in frame.get_nodes() if n.get_name() == f"title_{cid}"]
        assert "drawn once" in node.get("tooltip") and "per repetition" in node.get("tooltip")  # not its id
    laid = json.loads(subprocess.run([dot_executable, "-Tjson"], input=source.encode(), capture_output=True,
                                     check=True).stdout)
    objects = {o["name"]: o for o in laid["objects"]}
    boxes = {}
    for name, o in objects.items():
        if "pos" in o:
            x, y = map(float, o["pos"].split(","))
            w, h = float(o["width"]) * 36, float(o["height"]) * 36
            boxes[name] = (x - w, y - h, x + w, y + h)
    held = {c.id: [n.id for n in scene.nodes if n.group == c.id or _inside(scene, n.group, c.id)] for c in folded}
    for c in folded:
        x0, y0, x1, y1 = boxes[f"title_{c.id}"]
        fx0, fy0, fx1, fy1 = map(float, objects[f"cluster_{c.id}"]["bb"].split(","))
        assert fx0 <= x0 and x1 <= fx1 and fy0 <= y0 and y1 <= fy1  # inside its frame
        assert all(boxes[i][3] <= y0 for i in held[c.id])  # above all it holds (dot's y grows upwards)
        for e in laid.get("edges", []):
            if e.get("style") == "invis":
                continue
            crossing = [p for p in _bezier_points(e.get("_draw_", [])) if x0 + 1 < p[0] < x1 - 1 and y0 + 1 < p[1] < y1 - 1]
            assert not crossing, (c.id, e.get("id"), crossing[:3])
            for key in ("lp", "xlp", "head_lp"):
                if key in e:
                    lx, ly = map(float, e[key].split(","))
                    assert not (x0 < lx < x1 and y0 < ly < y1), (c.id, e.get("id"), key)


def _inside(scene, group, outer):
    """Whether the cluster ``group`` is inside the cluster ``outer`` (at any depth)."""
    parent = {c.id: c.parent for c in scene.clusters}
    while group is not None:
        group = parent.get(group)
        if group == outer:
            return True
    return False


def _net_with_penalty(x, Ws):
    h, reg = x, 0.0
    for k in range(Ws.shape[0]):
        h = np.tanh(Ws[k] @ h)
        reg = reg + 1e-4 * np.sum(Ws[k] ** 2)  # a running sum beside the state
    return 0.5 * np.sum(h ** 2) + reg


def _rnn_loss_summed(W, U, X):
    h, loss = np.zeros(W.shape[0]), 0.0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
        loss += np.sum(h ** 2)  # min-char-rnn's loss += ...: what the function returns
    return loss


def _total_cost(W, X, Y):
    cost = 0.0
    for x, y in zip(X, Y):  # Nielsen's network2.total_cost: the repetitions carry the cost alone
        a = np.tanh(W @ x)
        cost += 0.5 * np.sum((a - y) ** 2) / len(X)
    return cost


def test_the_strip_is_the_states_message_not_a_running_sum_carried_beside_it():
    """A penalty or a loss summed in the loop is carried from step to step too, with the loss's own
    gradient, 1: each bar was √(‖∂L/∂h‖² + 1), and a gradient vanishing over three decades was drawn
    flat (and the last bar, where the sum is the output, was ‖∂L/∂h‖ alone). A loop carrying the sum
    alone has it for its strip, its last bar too (it was blank, "–": the last sum is the output,
    drawn outside the frame)."""
    rng = np.random.default_rng(5)
    cases = [
        (_net_with_penalty, {"x": rng.normal(size=(8, 2)), "Ws": rng.normal(size=(40, 8, 8)) * 0.25}),
        (_rnn_loss_summed, {"W": rng.normal(size=(8, 8)) * 0.9, "U": rng.normal(size=(8, 3)), "X": rng.normal(size=(30, 3))}),
    ]
    for fn, inputs in cases:
        g = gb.trace(fn, **inputs)
        scene = g.draw(fold=True).scene()
        (rep,) = scene.repeats.values()
        tanhs = [n for n in g.nodes if n.op is not None and n.op.name == "tanh"]
        assert len(tanhs) == len(rep.norms)
        np.testing.assert_allclose(rep.norms, [np.linalg.norm(n.adjoint) for n in tanhs], rtol=1e-12)
    # the penalty's net vanishes: its bars span decades
    g = gb.trace(_net_with_penalty, **cases[0][1])
    (rep,) = g.draw(fold=True).scene().repeats.values()
    assert rep.norms[0] < 1e-2 * rep.norms[-1]
    g = gb.trace(_total_cost, W=rng.normal(size=(6, 6)), X=rng.normal(size=(40, 6)), Y=rng.normal(size=(40, 6)))
    scene = g.draw(fold=True).scene()
    (rep,) = scene.repeats.values()
    assert rep.norms == (1.0,) * 40  # ∂L/∂(the cost after each sample)
    (frame,) = [c for c in scene.clusters if c.id in scene.repeats]
    assert "1 (first) → 1 (last)" in frame.lines[-1][0].text


def test_a_loop_collapsed_to_a_box_says_how_many_times_it_ran():
    """picoGPT at depth=1: "for block in blocks: 768 ops … 252 groups inside", never × 12."""
    rng = np.random.default_rng(8)
    g = gb.trace(_uneven_net, x=rng.normal(size=4), **_uneven_layers(rng, 20))
    (box,) = [n for n in g.draw(depth=0).scene().nodes if "box" in n.classes]
    assert box.text.splitlines()[1:] == ["60 ops: matmul, add, tanh", "20 iterations, 20 groups in them"]
    g = gb.trace(_data_rnn, W=rng.normal(size=(4, 4)), U=rng.normal(size=(4, 2)), X=rng.normal(size=(7, 2)))
    (box,) = [n for n in g.draw(depth=0).scene().nodes if "box" in n.classes]
    assert box.text.splitlines()[-1] == "7 iterations"


_stem_and_layers = _stacked(lambda p: [_Dense(p["S"])] + [layer for k in range(p["Ws"].shape[0])
                                                          for layer in (_Dense(p["Ws"][k]), _Tanh())])


def _branchy(x, W):
    h = x
    for t in range(10):
        h = np.tanh(W @ h)
        if t % 3 == 0:
            h = h * 0.5
        h = h + 0.1
    return np.sum(h ** 2)


def test_a_collapsed_loop_counts_its_iterations_also_when_they_fold_a_few_at_a_time():
    """Folded, a loop's iterations sit in cycles of two or three: its box said "1 iteration, 151
    groups in them" for 61 iterations."""
    rng = np.random.default_rng(9)
    g = gb.trace(_stem_and_layers, X=rng.normal(size=4), S=rng.normal(size=(4, 4)), Ws=rng.normal(size=(30, 4, 4)) * .5)
    h = gb.trace(_branchy, x=rng.normal(size=4), W=rng.normal(size=(4, 4)) * .5)
    for options in ({"depth": 0}, {"depth": 0, "fold": True}):
        texts = [n.text.splitlines() for n in g.draw(**options).scene().nodes if "box" in n.classes]
        assert ["for layer in layers_of(p):", "61 ops: matmul, tanh", "61 iterations, 61 groups in them"] in texts, texts
        (box,) = [n for n in h.draw(**options).scene().nodes if "box" in n.classes]
        assert box.text.splitlines()[-1] == "10 iterations"


def _many_parts_then_an_rnn(x, W, **p):
    total = 0.0
    for i in range(85):
        with gb.group(f"part{i}"):
            total = total + np.sum(np.tanh(p[f"a{i}"]) ** 2)  # each of its own shape: none folds
    with gb.group("rnn"):
        h = x
        for t in range(20):
            h = np.tanh(W @ h)
    return total + np.sum(h ** 2)


def test_the_legend_explains_a_repeat_drawn_once_also_when_too_many_frames_leave_its_frame_out():
    rng = np.random.default_rng(0)
    p = {f"a{i}": rng.normal(size=i + 1) for i in range(85)}
    g = gb.trace(_many_parts_then_an_rnn, x=rng.normal(size=4), W=rng.normal(size=(4, 4)) * .4, **p)
    scene = g.draw(fold=True, depth=None).scene()
    assert not [c for c in scene.clusters if "folded" in c.classes]  # past the frames drawn at most
    assert any("× 19 (to the next repetition)" in e.text for e in scene.edges)
    assert "a block repeated N times, drawn once" in scene.legend.text


def _scaled_layers(x, **p):
    h = x
    for i in range(len(p) // 2):
        h = _layer(h, p[f"W{i}"], p[f"b{i}"])
        h = h * 0.9
    return 0.5 * np.sum(h ** 2)


def test_a_folded_loops_own_inputs_read_by_a_box_inside_its_frame_are_not_called_gathered():
    """At depth=2 a layer call inside a folded loop is a box in the frame: W0 … W39, drawn once for
    the 40 repetitions, were said to be "40 inputs only the box beside it reads (depth option)"."""
    rng = np.random.default_rng(0)
    p = {}
    for i in range(40):
        p[f"W{i}"] = rng.normal(size=(5, 5)) * .5
        p[f"b{i}"] = rng.normal(size=5)
    g = gb.trace(_scaled_layers, x=rng.normal(size=5), **p)
    scene = g.draw(depth=2).scene()
    assert [n.text.splitlines()[0] for n in scene.nodes if "box" in n.classes] == ["_layer()"]
    (w,) = [n for n in scene.nodes if n.text.startswith("W0 … W39")]
    assert "inputs" not in w.text
    assert "drawn once for 40 values, one per repetition" in str(w.tooltip)


_EPS, _STEPS = 0.3, 6


def _symplectic_euler(q, p, A):
    for _ in range(_STEPS):
        p = p - _EPS * (A @ q)
        q = q + _EPS * p  # q made from the new p within the step
    return np.sum(q ** 2) + 0.5 * np.sum(p ** 2)


def test_the_strip_of_a_step_that_makes_one_part_of_its_state_from_another_is_the_states_gradient():
    """minimc's naive integrator: each bar was ‖(∂L/∂qₖ, ∂L/∂pₖ)‖ with p's gradient holding the path
    through q within the step: drawn 3.67 → 3.61, falling at the end, where the state's gradient
    rises 3.38 → 3.93 (as the messages on the edges between the repetitions say)."""
    import autograd
    import autograd.numpy as anp

    rng = np.random.default_rng(0)
    M = rng.normal(size=(3, 3))
    A = M @ M.T / 3 + np.eye(3)
    q0, p0 = rng.normal(size=3), rng.normal(size=3)
    g = gb.trace(_symplectic_euler, q=q0, p=p0, A=A)
    (rep,) = g.draw(fold=True).scene().repeats.values()

    def rest(q, p, k):  # the loss from the state after step k
        for _ in range(k + 1, _STEPS):
            p = p - _EPS * (A @ q)
            q = q + _EPS * p
        return anp.sum(q ** 2) + 0.5 * anp.sum(p ** 2)

    q, p, expected = q0, p0, []
    for k in range(_STEPS):
        p = p - _EPS * (A @ q)
        q = q + _EPS * p
        gq, gp = autograd.grad(rest, argnum=(0, 1))(q, p, k)
        expected.append(np.sqrt(np.sum(gq ** 2) + np.sum(gp ** 2)))
    assert len(rep.norms) == _STEPS
    np.testing.assert_allclose(rep.norms, expected, rtol=1e-12)
    assert expected[-1] > expected[0]


_KF_F = np.array([[1.0, 0.5], [0.0, 1.0]])
_KF_H = np.array([[1.0, 0.0]])
_KF_Z = np.linspace(0.0, 1.0, 6)[:, None]


def _kalman_step(x, P, Q, R, z):
    x = _KF_F @ x
    P = _KF_F @ P @ _KF_F.T + Q
    S = _KF_H @ P @ _KF_H.T + R
    K = P @ _KF_H.T @ np.linalg.inv(S)
    x = x + K @ (z - _KF_H @ x)
    P = P - K @ _KF_H @ P
    return x, P


def _kalman_loss(x0, P0, Q, R):
    x, P, loss = x0, P0, 0.0
    for t in range(6):
        x, P = _kalman_step(x, P, Q, R, _KF_Z[t])
        loss = loss + np.sum(x ** 2)  # a running cost beside the state (x, P)
    return loss


def test_a_folded_loop_collapsed_to_a_box_keeps_its_loops_labels_off_the_box_and_says_its_strips_ends(dot_executable):
    """A Kalman filter's loop at depth=1: one box × 6 with three edges from the box to itself (x, P
    and the cost to the next repetition). Their labels, placed after the layout, fell on the box's
    title; the box's strip had no numbers."""
    import json
    import subprocess

    from graphviz_bp.drawing.fold import plan

    g = gb.trace(_kalman_loss, x0=np.zeros(2), P0=np.eye(2), Q=0.1 * np.eye(2) + 0.01, R=np.array([[0.05]]))
    scene = g.draw(depth=1).scene()
    (box,) = [n for n in scene.nodes if "box" in n.classes]

    (fold,) = plan(g._dag, "auto", 1).folds.values()
    norms = fold.repeat.norms()
    short = lambda v: f"{v:.3g}".replace("-", "−")  # noqa: E731
    assert box.text.splitlines()[-1] == f"‖message in‖ {short(norms[0])} → {short(norms[-1])}"
    loops = [e for e in scene.edges if e.src == e.dst == box.id]
    assert len(loops) == 3
    source = g.to_dot(depth=1)
    laid = json.loads(subprocess.run([dot_executable, "-Tjson"], input=source.encode(), capture_output=True,
                                     check=True).stdout)
    (o,) = [o for o in laid["objects"] if o["name"] == box.id]
    x, y = map(float, o["pos"].split(","))
    w, h = float(o["width"]) * 36, float(o["height"]) * 36
    edges = [e for e in laid["edges"] if e.get("id") in {s.id for s in loops}]
    assert len(edges) == 3
    for e in edges:  # a label, or an external label (_xldraw_) placed after the layout
        labels = _label_boxes(e) + _label_boxes({"_ldraw_": e.get("_xldraw_", [])})
        assert labels
        for x0, y0, x1, y1 in labels:
            assert x1 <= x - w or x0 >= x + w or y1 <= y - h or y0 >= y + h, (e["id"], (x0, y0, x1, y1))


def _fed_back_sum(x, acc, W):
    for _ in range(6):
        x = np.tanh(W @ x + acc)
        acc = acc + np.sum(x)  # read by the next step: state, not a running sum; the last is the output
    return acc


def _damped(h):
    for _ in range(6):
        h = 0.5 * h + np.sin(h)  # the last is the output, made from the step before's h through two ops
    return h


def test_the_strips_last_bar_where_the_last_repetitions_value_is_the_output():
    """The output is drawn outside the last repetition's frame: the path to it through another part
    of the state was counted (the last bar doubled, 1 → 2, where the gradient is flat), and an output
    made from the step before's value through two ops was not found (the last bar blank, "–")."""
    import autograd
    import autograd.numpy as anp

    rng = np.random.default_rng(1)
    W, x0 = rng.normal(size=(3, 3)) * 0.6, rng.normal(size=3)
    g = gb.trace(_fed_back_sum, x=x0, acc=np.float64(0.0), W=W)
    (rep,) = g.draw(fold=True).scene().repeats.values()

    def rest(x, acc, k):  # the loss from the state after step k, its parts apart
        for _ in range(k + 1, 6):
            x = anp.tanh(anp.dot(W, x) + acc)
            acc = acc + anp.sum(x)
        return acc

    x, acc, expected = x0, 0.0, []
    for k in range(6):
        x = np.tanh(W @ x + acc)
        acc = acc + np.sum(x)
        gx, ga = autograd.grad(rest, argnum=(0, 1))(x, acc, k)
        expected.append(np.sqrt(np.sum(gx ** 2) + ga ** 2))
    np.testing.assert_allclose(rep.norms, expected, rtol=1e-9)
    assert rep.norms[-1] == 1.0
    h = gb.trace(_damped, h=np.float64(0.3))
    (rep,) = h.draw(fold=True).scene().repeats.values()
    assert rep.norms[-1] == 1.0 and None not in rep.norms
    (box,) = [n for n in h.draw(fold=True, depth=1).scene().nodes if "box" in n.classes]
    assert box.text.splitlines()[-1].endswith("→ 1")


def _leapfrog_with_a_cost(q, p, W):
    loss = 0.0
    for _ in range(_STEPS):
        p = p - _EPS * (W @ q)
        u = np.tanh(p)
        q = q + _EPS * u  # q made from p within the step, through u
        loss = loss + np.sum(u ** 2)  # u also feeds a running cost
    return loss + np.sum(q ** 2)


def test_an_op_leading_to_another_part_of_the_state_and_to_a_running_cost_keeps_the_costs_share():
    """tanh(p) feeds q (another part of the state) and the running cost: its whole message was left
    out of p's, the cost's share with it, where a step whose cost reads p apart kept that share."""
    import autograd
    import autograd.numpy as anp

    rng = np.random.default_rng(4)
    W, q0, p0 = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3), rng.normal(size=3)
    g = gb.trace(_leapfrog_with_a_cost, q=q0, p=p0, W=W)
    (rep,) = g.draw(fold=True).scene().repeats.values()

    def after(q, p, k):  # step k's own cost read from p, then the steps after k (the parts apart)
        loss = anp.sum(anp.tanh(p) ** 2)
        for _ in range(k + 1, _STEPS):
            p = p - _EPS * anp.dot(W, q)
            u = anp.tanh(p)
            q = q + _EPS * u
            loss = loss + anp.sum(u ** 2)
        return loss + anp.sum(q ** 2)

    q, p, expected = q0, p0, []
    for k in range(_STEPS):
        p = p - _EPS * (W @ q)
        q = q + _EPS * np.tanh(p)
        gq, gp = autograd.grad(after, argnum=(0, 1))(q, p, k)
        expected.append(np.sqrt(np.sum(gq ** 2) + np.sum(gp ** 2)))
    np.testing.assert_allclose(rep.norms, expected, rtol=1e-9)
