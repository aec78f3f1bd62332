"""The drawing stage's parts: options declared once, liveness, deferred tooltips, clusters in DOT."""

from __future__ import annotations

import dataclasses
import re
import inspect
import subprocess

import click
import numpy as np
import pytest

import graphviz_bp as gb
from graphviz_bp import cli, sphinx
from graphviz_bp.drawing import annotate as annotate_mod
from graphviz_bp.drawing import text as text_mod
from graphviz_bp.drawing.options import OPTIONS, DrawOptions
from graphviz_bp.drawing.render import to_dot
from graphviz_bp.drawing.scene import Cluster, Deferred, Scene, SceneEdge, SceneNode, Span

from .problems import autoencoder, swish_inputs, swish_net


def test_draw_options_have_one_field_per_declared_option_with_its_default():
    fields = dataclasses.fields(DrawOptions)
    assert [f.name for f in fields] == [o.name for o in OPTIONS]
    assert [f.default for f in fields] == [o.default for o in OPTIONS]
    for o in OPTIONS:  # every declared spelling is accepted, and the default is one of them
        assert o.help and (o.type is tuple or o.default in o.choices)
        for spelling in o.spellings:
            DrawOptions(**{o.name: spelling})
    assert set(annotate_mod.PALETTES) == set(next(o for o in OPTIONS if o.name == "theme").choices)


@pytest.mark.parametrize("cls", [SceneNode, SceneEdge])
def test_scene_items_written_init_takes_their_fields_with_their_defaults(cls):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    assert [p.default for p in params] == [inspect.Parameter.empty if f.default is dataclasses.MISSING
                                           else f.default for f in fields]
    values = {f.name: f"v{k}" for k, f in enumerate(fields)}
    item = cls(**values)
    assert dataclasses.asdict(item) == values and dataclasses.replace(item, id="x").id == "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.id = "y"  # type: ignore[misc]


def test_cli_and_sphinx_options_come_from_the_declaration():
    params = {p.name: p for p in cli.render.params}
    for o in OPTIONS:
        p = params[o.name]
        assert p.help.startswith(o.help)
        if o.type is int:  # a number of levels or a choice, checked by the declaration
            assert p.default == o.default
            assert [p.type.convert(v, p, None) for v in ("0", "3", *o.choices)] == [0, 3, *o.choices]
            with pytest.raises(click.BadParameter, match="whole number"):
                p.type.convert("-1", p, None)
        elif o.choices:
            assert isinstance(p.type, click.Choice) and tuple(p.type.choices) == o.spellings
            assert p.default == o.default
        else:
            assert p.multiple
        assert o.name in sphinx.BackpropGraph.option_spec
    assert sphinx.BackpropGraph.option_spec["direction"]("Left-Right") == "left-right"
    assert sphinx.BackpropGraph.option_spec["depth"](" 2 ") == 2
    assert sphinx.BackpropGraph.option_spec["depth"]("All") == "all"
    with pytest.raises(ValueError, match="whole number"):
        sphinx.BackpropGraph.option_spec["depth"]("two")
    for o in OPTIONS:  # draw()'s documentation lists them
        assert f"{o.name}: " in gb.Graph.draw.__doc__


def _descendants_union(g, data):
    live = set()
    for n in g.inputs.values():
        if n.differentiable and n.name not in data:
            stack, seen = [n], {n}
            while stack:
                m = stack.pop()
                for e in m.out_edges:
                    if e.dst not in seen:
                        seen.add(e.dst)
                        stack.append(e.dst)
            live |= seen
    return live


@pytest.mark.parametrize("data", [(), ("x",), ("x", "y"), ("W1", "W2", "b1", "b2")])
def test_liveness_in_one_sweep_is_every_value_computed_from_a_parameter(data):
    g = gb.trace(swish_net, **swish_inputs(np.random.default_rng(0)))
    got = annotate_mod.live_nodes(g._dag, data)
    assert got == _descendants_union(g, data)
    assert all(g.node(d) not in got for d in data)


def test_an_edge_tooltip_names_its_message_by_its_tag_with_single_spaces():
    rng = np.random.default_rng(0)
    g = gb.trace(autoencoder, W=rng.normal(size=(3, 5)), x=rng.normal(size=5))
    scene = g.draw().scene()
    tips = {e.id: str(e.tooltip) for e in scene.edges}
    tagged = [t for t in tips.values() if "message m" in t]
    plain = [t for t in tips.values() if "message (" in t]
    assert tagged and plain  # W and x are shared (m₁, m₂); the edges between ops are not
    assert all("  " not in t.split("=")[0] for t in tips.values())
    assert all(t.split("\n")[2].startswith(("message m₁ (∂L/∂", "message m₂ (∂L/∂")) for t in tagged)


def test_tooltips_are_made_only_when_read_and_each_array_is_written_once(monkeypatch):
    rng = np.random.default_rng(0)
    g = gb.trace(autoencoder, W=rng.normal(size=(3, 5)), x=rng.normal(size=5))
    calls = []
    real = text_mod.ArrayText._complete
    monkeypatch.setattr(text_mod.ArrayText, "_complete", lambda self, body: calls.append(id(self.value)) or real(self, body))
    scene = g.draw().scene()
    assert calls == [] and isinstance(scene.node("n0").tooltip, Deferred)
    tip = str(scene.node(g.node("W").id).tooltip)
    assert tip.startswith("W: input, shape 3×5, float64") and calls
    calls.clear()
    g.to_dot()
    # a gradient that is also the message on the only edge out of its node is written once
    numbers = annotate_mod.absorbed_constants(g._dag)  # ½ and 2, written in their ops' symbols
    assert len(numbers) == 2
    shown = {id(a) for n in g.nodes if n.index not in numbers for a in (n.value, n.adjoint) if a is not None} \
        | {id(e.message) for e in g.edges if e.message is not None and e.src.index not in numbers}
    assert sorted(calls) == sorted(shown)
    assert len(shown) < sum(2 if n.adjoint is not None else 1 for n in g.nodes) + sum(
        1 for e in g.edges if e.message is not None)


def _node(id: str, group: str | None = None) -> SceneNode:
    return SceneNode(id=id, classes=("op",), lines=((Span(id),),), shape="box", fill="white", border="black",
                     tooltip=Deferred(str.upper, id), group=group)


def test_clusters_are_drawn_as_nested_subgraphs(dot_executable):
    scene = Scene(nodes=(_node("a"), _node("b", "f"), _node("c", "g")), edges=(), legend=None, direction="TB",
                  font="DejaVu Sans", background="white", text_color="black",
                  clusters=(Cluster("f", ((Span("f(x)"),),)), Cluster("g", parent="f", classes=("step",))))
    src = to_dot(scene)
    assert src.index("subgraph cluster_f") < src.index("\tb [") < src.index("subgraph cluster_g") \
        < src.index("\tc [")
    assert 'tooltip=A' in src
    subprocess.run([dot_executable, "-Tsvg"], input=src.encode(), capture_output=True, check=True)
    plain = dataclasses.replace(scene, clusters=(), nodes=(_node("a"), _node("b"), _node("c")))
    assert "subgraph" not in to_dot(plain)
    with pytest.raises(ValueError, match="not a cluster of the scene"):
        to_dot(dataclasses.replace(scene, clusters=()))
    with pytest.raises(ValueError, match="cycle"):
        to_dot(dataclasses.replace(scene, clusters=(Cluster("f", parent="g"), Cluster("g", parent="f"))))


def _tanh_times(r):
    return np.tanh(r) * r


def test_a_shared_ops_gradient_is_written_without_its_internal_id():
    """A value read twice gets ``∂L/∂· = m₁ + m₂`` and the sum's norm (``matmul#2`` is the API's id,
    kept for tooltips); named by the user's ``r = ...`` line, ``∂L/∂r``, at every level."""
    def f(W, x):
        r = W @ x
        return np.sum(np.tanh(r) * r)

    def unnamed(W, x):
        return np.sum(_tanh_times(W @ x))

    W, x = np.random.default_rng(3).normal(size=(3, 3)), np.random.default_rng(4).normal(size=3)
    r = W @ x
    want = np.tanh(r) + r * (1 - np.tanh(r) ** 2)  # ∂L/∂r along both uses
    for fn, name in ((f, "r"), (unnamed, "·")):
        g = gb.trace(fn, W=W, x=x)
        (shared,) = [n for n in g.nodes if n.kind == "op" and n.op.name == "matmul"]
        text = g.draw().scene().node(shared.id).text
        assert f"∂L/∂{name} = m₁ + m₂" in text.splitlines()
        assert (name in text.splitlines()[:2]) == (name == "r")  # the name under the symbol
        assert "#" not in text
        shown = re.search(r"= \[([^\]]*)\]", text.split(f"∂L/∂{name}")[1]).group(1)
        np.testing.assert_allclose([float(v.replace("−", "-")) for v in shown.split(",")], want, rtol=5e-3)
        assert f"∂L/∂{name} = m₁ + m₂" in g.draw(detail="formulas").scene().node(shared.id).text
        assert f"∂L/∂{name} = m₁ + m₂" in g.draw(detail="structure").scene().node(shared.id).text
        tip = str(g.draw().scene().node(shared.id).tooltip)
        assert f"∂L/∂{name if name == 'r' else shared.name} =" in tip  # the op's id, which g.node() reads
        assert tip.startswith(f"r ({shared.name}): op (matmul)" if name == "r" else f"{shared.name}: op (matmul)")
        into = [str(e.tooltip) for e in g.draw().scene().edges if str(e.tooltip).startswith("W → ")]
        said = "r" if name == "r" else shared.name
        assert len(into) == 1 and into[0].startswith(f"W → {said} (argument 0)\nJacobian ∂{said}/∂W: 3×3×3")
        assert f"(∂L/∂{said} pulled back to W)" in into[0]


def _layers(W, x):
    z = W @ x
    h = x
    for _ in range(3):
        h = np.tanh(W @ h)
    return np.sum(h * z)


def test_a_loops_line_names_only_the_value_it_leaves():
    """``z = W @ h`` names z; ``h = tanh(W @ h)`` in a loop names the last tanh h, the value h holds
    after the loop, not the others (h before them)."""
    rng = np.random.default_rng(8)
    g = gb.trace(_layers, W=rng.normal(size=(3, 3)), x=rng.normal(size=3))
    scene = g.draw(fold=False, depth=None).scene()
    tanhs = [n for n in g.nodes if n.kind == "op" and n.op.name == "tanh"]
    names = [scene.node(n.id).text.splitlines()[1] for n in tanhs]
    assert names[:2] == ["ℝ³"] * 2 and names[2] == "h", names
    z = next(n for n in g.nodes if n.kind == "op" and n.op.name == "matmul")
    assert scene.node(z.id).text.splitlines()[:2] == ["@", "z"]


def _gains_in_a_loop(x, W, **g):
    h = carry = x
    for i in range(5):
        h = np.tanh(W @ carry)
        carry = h * g[f"g{i}"]  # the last step's carry feeds nothing: g4 has no path to the loss
    return np.sum(h ** 2)


def test_an_input_with_no_path_to_the_loss_says_so():
    """Drawn as a lone box with ∂L/∂g4 = [0, 0, 0] and nothing to say why."""
    rng = np.random.default_rng(3)
    inputs = dict(x=rng.normal(size=3), W=rng.normal(size=(3, 3)), **{f"g{i}": rng.normal(size=3) for i in range(5)})
    g = gb.trace(_gains_in_a_loop, **inputs)
    np.testing.assert_array_equal(g.grad("g4"), 0.0)
    for options in ({}, {"fold": True}, {"detail": "structure"}):
        scene = g.draw(**options).scene()
        assert scene.node(g.node("g4").id).text.splitlines()[-1] == "no path to L: unused", options
        assert not any("unused" in n.text for n in scene.nodes if n.id != g.node("g4").id)


def _named_L(W, x):
    L = W @ x
    return np.sum(L * L)


def _a_list(W, x):
    hs = [np.tanh(W @ x * k) for k in (1.0, 2.0)]
    return np.sum(hs[0] + hs[1])


def _a_lambda(W, x):
    f = lambda z: z * 2.0  # noqa: E731
    return np.sum(f(W @ x))


def _twice(W, x):
    h = W @ x
    h = np.tanh(h)
    return np.sum(h * h)


def _keyword(W, x):
    out = np.clip(
        a=W @ x,
        a_min=-1.0, a_max=1.0)
    return np.sum(out)


def _last_keyword(W, x):
    out = np.clip(
        a_min=-1.0, a_max=1.0,
        a=W @ x
    )
    return np.sum(out)


def _updated_in_place(W, x):
    p = np.exp(W @ x)
    p /= np.sum(p)  # numpy-gpt's softmax: p is now the quotient, the exp is no longer p
    return -np.log(p[0])


def _extended(W, x):
    losses = []
    losses += [np.sum(np.tanh(W @ x))]  # the list extended: its item is not "losses"
    return losses[0] * 2.0


def _entry_updated(W, x):
    y = W @ x
    y[0] += np.sum(x)  # y is now the array written: the product before it is not "y"
    return np.sum(np.tanh(y))


def _ligature(W, x):
    ﬁx = W @ x  # noqa: PLC2401 - Python reads it as "fix"
    return np.sum(ﬁx ** 2)


@pytest.mark.parametrize("fn, names", [
    (_named_L, {}),  # not a second L, whose ∂L/∂L is no 1
    (_a_list, {}),  # hs is the list, not its last item
    (_a_lambda, {}),
    (_twice, {"tanh": "h"}),  # the value h holds after, not before, the second line
    (_keyword, {}),  # a=W @ x, is a keyword argument
    (_last_keyword, {}),  # and so is a=W @ x alone on its line, without a comma
    (_ligature, {"matmul": "ﬁx"}),
    (_updated_in_place, {"divide": "p"}),
    (_extended, {}),
    (_entry_updated, {"setitem": "y"}),
])
def test_a_value_is_named_by_the_line_that_assigns_it_and_by_no_other(fn, names):
    rng = np.random.default_rng(1)
    g = gb.trace(fn, W=rng.normal(size=(3, 3)), x=rng.normal(size=3))
    scene = g.draw().scene()
    got = {}
    for n in g.nodes:
        if n.kind == "op" and n is not g.output:
            second = scene.node(n.id).text.splitlines()[1]
            if not second.startswith("ℝ"):
                got[n.op.name] = second
    assert got == names


def _two_masks(x, W):
    s = x.dot(W)
    pos_mask = s >= 0
    neg_mask = s < 0
    z = np.zeros_like(s)
    z[pos_mask] = np.exp(-s[pos_mask])
    z[neg_mask] = np.exp(s[neg_mask])
    return np.sum(1 / (1 + z))


def test_gathers_by_a_named_mask_are_titled_by_it_and_dot_is_spelled_out():
    """x[pos_mask] and x[neg_mask] were both titled "[mask 2×4]" beside writes titled "[pos_mask] ←";
    X.dot(W) was titled "·", a speck beside "∂L/∂·"."""
    rng = np.random.default_rng(0)
    g = gb.trace(_two_masks, x=rng.normal(size=(2, 3)), W=rng.normal(size=(3, 4)))
    titles = sorted(n.text.splitlines()[0] for n in g.draw().scene().nodes if n.id.startswith("n"))
    assert {"[pos_mask]", "[neg_mask]", "[pos_mask] ←", "[neg_mask] ←", "dot"} <= set(titles), titles
    assert "[mask 2×4]" not in titles


def _buffer_read_by_mask(x):
    neg = x < 0
    z = np.zeros_like(x)
    z[neg] = np.exp(x[neg])
    top = np.ones_like(x)
    top[neg] = z[neg]  # z is an array the function made and wrote: read through it
    return np.sum(top / (1 + z))


def test_a_gather_by_a_mask_from_an_array_the_function_wrote_is_titled_as_written():
    """z[neg] read from a buffer written in place was titled by the mask's numbers,
    "[[False, True, False, False]]", and, folded, by two such masks."""
    g = gb.trace(_buffer_read_by_mask, x=np.array([1.0, -2.0, 3.0, -4.0]))
    gathers = [n for n in g.nodes if n.op is not None and n.op.name == "index"]
    assert len(gathers) == 2
    titles = {n.id: n.text.splitlines()[0] for n in g.draw().scene().nodes}
    assert [titles[n.id] for n in gathers] == ["[neg]", "[neg]"]


def _piecewise_line(x, w):
    return np.sum(np.piecewise(x, [x < 0], [lambda v: -v, lambda v: v ** 2]) * w[1])


def test_a_mask_gather_inside_numpys_code_is_not_titled_by_the_users_other_index():
    """np.piecewise's own x[cond] gathers were titled "[1]", from w[1] on the user's line."""
    g = gb.trace(_piecewise_line, x=np.array([-1.0, 0.5, 2.0, -0.3]), w=np.array([1.0, 2.0]))
    titles = [n.text.splitlines()[0] for n in g.draw().scene().nodes]
    gathers = [n for n in g.nodes if n.op is not None and n.op.name == "index" and n.shape != ()]
    assert gathers and titles.count("[1]") == 1, titles  # w[1] alone


def _some_uses_zero(x):
    s = 0.0
    for i in range(12):
        s = s + (x[i % 4] * 0.0 if i % 3 == 0 else x[i % 4] ** 2)  # every third use: a message of 0
    return s


def test_a_strip_of_message_norms_says_what_its_zeros_mean():
    """"‖m‖ by use 0▆▇0▄▆0█▄0▇█": the 0s read as digits, and nothing on the drawing said what they are."""
    g = gb.trace(_some_uses_zero, x=np.arange(1.0, 5.0))
    messages = [e.message for e in g.out_edges("x")]
    zero = [not np.any(m) for m in messages]
    assert len(messages) == 12 and sum(zero) == 4
    lines = g.draw().scene().node(g.node("x").id).text.splitlines()
    at = next(k for k, t in enumerate(lines) if t.startswith("‖m‖ by use "))
    bars = lines[at][len("‖m‖ by use "):]
    assert [b == "0" for b in bars] == zero
    assert lines[at + 1] == "0: a message of 0"


def test_a_strips_key_names_only_the_marks_it_draws():
    """Past 32 uses a bar is the largest of a run: a 0 in it is no mark, yet the key said
    "0: a message of 0" (the gallery's long RNN); messages that overflowed were drawn as 0s."""
    from graphviz_bp.drawing.folded import strip, strip_key

    halves = [1.0, 0.0] * 32
    assert "0" not in strip(halves) and "0:" not in strip_key(halves)
    assert strip([float("inf")] * 3) == "!!!" and "!: not finite" in strip_key([float("inf")] * 3)
    assert strip([1.0, float("nan")] * 32)[0] == "!"  # (a run's nan shown, not lost in its max)
    assert strip([1.0, 0.0, 2.0])[1] == "0" and "0: a message of 0" in strip_key([1.0, 0.0, 2.0])
