"""The formulas level of the drawing: every message-carrying edge shows its verified formula, a
shared node its sum m₁ + m₂ with each message written out, the legend the notation; a formula
that fails its check is not drawn (the numbers are); the glyphs render in SVG, PDF and PNG with
the DejaVu fonts. Needs Graphviz's dot (the test fails, never skips, without it)."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphviz_bp as gb
from graphviz_bp.symbolic.simplify import simplify

RNG = np.random.default_rng(3)
W0, X0 = RNG.normal(size=(2, 3)), RNG.normal(size=3)


def autoencoder(W, x):
    r = W.T @ (W @ x) - x
    return 0.5 * np.sum(r ** 2)


def swish_net(W1, b1, W2, b2, x, y):
    z = W1 @ x + b1
    h1 = z * gb.sigmoid(z)
    z2 = W2 @ h1 + b2
    return 0.5 * np.sum((z2 - y) ** 2)


@pytest.fixture()
def ae():
    return gb.trace(autoencoder, W=W0, x=X0)


def test_each_edge_shows_its_verified_formula_and_w_its_two_messages_written_out(ae):
    scene = ae.draw(detail="formulas").scene()
    carrying = [e for e in ae.edges if e.message is not None]
    for e in carrying:
        se = next(s for s in scene.edges if (s.src, s.dst) == (e.src.id, e.dst.id) and s.id.endswith(f"_{e.argnum}"))
        assert e.formula.verified and e.formula.text in se.text, (se.text, e.formula.text)
    w = scene.node(ae.node("W").id)
    lines = w.text.split("\n")
    assert "∂L/∂W = m₁ + m₂" in lines
    assert {"m₁ = (Wx) rᵀ", "m₂ = (Wr) xᵀ"} <= set(lines)
    into_w = {s.text.split("\n")[-1] for s in scene.edges_from(ae.node("W").id)}
    assert into_w == {"▲ m₁ = ḡᵀ", "▲ m₂ = ḡ xᵀ"}
    r = next(n for n in ae.nodes if n.op is not None and n.op.name == "subtract")
    assert "r" in scene.node(r.id).text.split("\n") and "= WᵀWx − x" in scene.node(r.id).text
    legend = scene.legend.text
    assert "ḡ = ∂L/∂(the value the edge enters)" in legend and "ᵀ ⊙ ⊘ transpose; elementwise × and ÷" in legend


def test_the_numbers_stay_in_the_tooltips(ae):
    scene = ae.draw(detail="formulas").scene()
    edge = next(e for e in ae.edges if e.src.name == "W" and e.dst.op.name == "matmul")
    se = next(s for s in scene.edges if (s.src, s.dst) == (edge.src.id, edge.dst.id))
    tip = str(se.tooltip)
    assert "formula: ḡ xᵀ" in tip and "verified" in tip
    numbers = [float(v) for v in re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", tip.split("pulled back to W) =")[1])]
    np.testing.assert_allclose(numbers, edge.message.ravel(), rtol=1e-3)  # the whole message, as at values


def test_a_formula_that_fails_its_check_is_not_drawn_the_numbers_are(monkeypatch):
    from graphviz_bp.symbolic import formulas
    from graphviz_bp.symbolic.expr import Expr

    def drop_transposes(e):
        if e.kind == "call" and e.op.name == "transpose":
            return drop_transposes(e.args[0])
        if e.kind == "call":
            return Expr("call", e.shape, op=e.op, args=tuple(drop_transposes(a) for a in e.args), params=e.params)
        return e

    monkeypatch.setattr(formulas, "simplify", lambda e: simplify(drop_transposes(e)))
    W = RNG.normal(size=(3, 3))
    g = gb.trace(autoencoder, W=W, x=RNG.normal(size=3))
    wrong = [e for e in g.edges if e.formula is not None and not e.formula.verified]
    assert wrong
    scene = g.draw(detail="formulas").scene()
    for e in wrong:
        se = next(s for s in scene.edges if (s.src, s.dst) == (e.src.id, e.dst.id) and s.id.endswith(f"_{e.argnum}"))
        assert e.formula.text not in se.text and re.search(r"norm|\[", se.text), se.text
        assert "not shown: the formula differs from the numeric message" in str(se.tooltip)
    assert "m₁ = " not in scene.node(g.node("W").id).text  # W's gradient: not verified, not written out


def test_the_swish_nets_z_is_named_and_its_messages_written_out():
    inputs = dict(W1=RNG.normal(size=(3, 2)), b1=RNG.normal(size=3), W2=RNG.normal(size=(2, 3)),
                  b2=RNG.normal(size=2), x=RNG.normal(size=2), y=RNG.normal(size=2))
    g = gb.trace(swish_net, **inputs)
    scene = g.draw(detail="formulas", data=("x", "y")).scene()
    z = next(n for n in g.nodes if n.is_shared and n.op is not None)
    text = scene.node(z.id).text
    assert "∂L/∂z = m₁ + m₂" in text and "m₂ = W2ᵀ (z2 − y) ⊙ σ(z)" in text
    b1 = scene.node(g.node("b1").id).text.split("\n")
    assert b1[2].startswith("∂L/∂b1 = ") and b1[3].startswith("+ ")  # one term per line


GLYPHS = "ḡᵀ⊙₁₂−σ√⁻¹½∂"


def _dejavu_covers(chars: str) -> set[str]:
    """The characters DejaVu Sans has glyphs for (fc-query reads the font's charset)."""
    out = subprocess.run(["fc-query", "--format=%{charset}", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"],
                         capture_output=True, text=True, check=True).stdout
    covered = set()
    for part in out.split():
        low, _, high = part.partition("-")
        for c in chars:
            if int(low, 16) <= ord(c) <= int(high or low, 16):
                covered.add(c)
    return covered


def test_the_formula_glyphs_render_in_svg_pdf_and_png_with_dejavu(tmp_path, dot_executable):
    inputs = dict(W1=RNG.normal(size=(3, 2)), b1=RNG.normal(size=3), W2=RNG.normal(size=(2, 3)),
                  b2=RNG.normal(size=2), x=RNG.normal(size=2), y=RNG.normal(size=2))
    g = gb.trace(swish_net, **inputs)
    used = set()
    for e in g.edges:
        if e.formula is not None:
            used |= set(e.formula.text)
    used |= set(g.formula("b1").text)
    special = {c for c in used if ord(c) > 127}
    assert set("ḡᵀ⊙σ−") <= special  # the formulas use them
    assert special <= _dejavu_covers("".join(special) + "\u0304"), special - _dejavu_covers("".join(special))
    svg = g.pipe("svg", detail="formulas")
    drawn = "".join(t.text or "" for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text"))
    for c in "ḡᵀ⊙σ":
        assert c in drawn
    pdf = tmp_path / "f.pdf"
    g.render(pdf, detail="formulas")
    data = pdf.read_bytes()
    assert b"DejaVuSans" in data and b"/Type3" not in data  # embedded DejaVu, no bitmap fallback font
    png = g.pipe("png", detail="formulas")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def _rnn_for_formulas(W, U, X):
    h = np.zeros(3)
    for x in X:
        h = np.tanh(W @ h + U @ x)
    return np.sum(h ** 2)


def test_a_weight_read_by_many_is_summed_at_the_formulas_level_as_at_the_values_level():
    """Folded, W's box wrote out m₁ = … through m₃₀ = …, as tall as the frame."""
    rng = np.random.default_rng(6)
    g = gb.trace(_rnn_for_formulas, W=rng.normal(size=(3, 3)) * 0.5, U=rng.normal(size=(3, 2)),
                 X=rng.normal(size=(30, 2)))
    text = g.draw(detail="formulas", fold=True).scene().node(g.node("W").id).text
    assert "Σ of 30 messages m₁ … m₃₀" in text and "m₁₂ =" not in text


def test_an_input_that_does_not_reach_the_output_is_drawn_at_the_formulas_level():
    # its gradient has no terms: the label read the first of none (IndexError)
    g = gb.trace(lambda x0, x1: np.sum(x1 ** 2), x0=np.ones(3), x1=np.arange(3.0))
    scene = g.draw(detail="formulas").scene()
    assert scene.node(g._dag.node("x0").id).text.splitlines()[-1] == "no path to L: unused"
    assert "∂L/∂x1 = 2 x1" in scene.node(g._dag.node("x1").id).text
