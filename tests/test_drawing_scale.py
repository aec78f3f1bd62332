"""Drawing big graphs: bounded tooltips that still hold every number of a small array, arrays written
together exactly as NumPy writes them one by one, and the one-pass queries (liveness, path counts)
made once per drawing. Structural proxies only: no timing here (bench/bench_draw.py times it)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pydot
import pytest
from graphviz import quoting
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphviz_bp as gb
from graphviz_bp import backward as backward_mod
from graphviz_bp.drawing import annotate as annotate_mod
from graphviz_bp.drawing import render as render_mod
from graphviz_bp.drawing.text import TOOLTIP_LIMIT, ArrayTexts, Verbatim, attribute_text, full_text, tooltip
from .dotgraph import all_nodes
from .problems import examples_through_layers

NUMPY = {"precision": 4, "suppress_small": True, "max_line_width": 100}  # what tooltips wrote before


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d*(?:e[+-]?\d+)?|nan|inf", text)


def test_a_small_array_is_written_entry_for_entry():
    assert full_text(np.array([[1.0, -0.5], [0.25, 2.0]])) == "[[ 1.   -0.5 ]\n [ 0.25  2.  ]]"
    assert full_text(np.array([0.12345, -3e-7, 12.5])) == "[ 0.1235 -0.     12.5   ]"
    assert full_text(np.arange(6.0).reshape(2, 3) / 8) == "[[0.    0.125 0.25 ]\n [0.375 0.5   0.625]]"


def test_up_to_400_entries_every_number_is_in_the_tooltip():
    x = np.linspace(-1, 1, 400).reshape(20, 20)
    text = full_text(x)
    assert text == np.array2string(x, **NUMPY, threshold=400)
    assert len(_numbers(text)) == 400 and "..." not in text


def test_a_huge_array_is_its_summary_and_corners():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 1000))
    text = full_text(x)
    head, body = text.split("\n", 1)
    norm, lo, hi = np.linalg.norm(x), x.min(), x.max()
    assert head == (f"1000×1000, norm {norm:.3g}, min {lo:.3g}, max {hi:.3g} "
                    "(36 of 1000000 entries shown)").replace("-", "−")
    assert body == np.array2string(x, **NUMPY, threshold=400, edgeitems=3)
    assert len(_numbers(body)) == 36
    assert body.startswith(f"[[{x[0, 0]: .4f}".rstrip("0")) and len(text) < 1000


def test_arrays_of_many_axes_show_fewer_corner_entries_and_stay_bounded():
    x = np.arange(4.0 ** 6).reshape((4,) * 6)  # 3 entries a side would be 4**6 = 4096 numbers
    head, body = full_text(x).split("\n", 1)
    assert head.endswith("(64 of 4096 entries shown)")
    assert body == np.array2string(x, **NUMPY, threshold=400, edgeitems=1)
    assert len(_numbers(body)) == 64
    many = full_text(np.zeros((2,) * 12))  # even one entry a side is 4096 numbers: the summary alone
    assert many == "2×2×2×2×2×2×2×2×2×2×2×2, all 0 (too many axes to show entries)"


def test_a_tooltip_stays_under_what_dot_accepts():
    assert len(tooltip(["&" * 100_000])) * 5 <= TOOLTIP_LIMIT + 10
    # dot's limit is in bytes: "→" is 3 of them (15,000 of these characters were let through)
    assert len(tooltip(["path: " + " → ".join(["tanh"] * 3000)]).encode("utf-8")) <= TOOLTIP_LIMIT + 10


def test_a_weight_reached_through_hundreds_of_layers_draws_its_paths_by_their_ends(dot_executable):
    """Each example's path to the loss crosses 120 layers: the tooltip listed every step, and with
    its arrows (3 bytes each) went past dot's 16,384 bytes ("syntax error ... longer than 16384?")."""
    rng = np.random.default_rng(2)
    Ws = {f"w{k}": 0.5 * rng.normal(size=(3, 3)) for k in range(120)}
    g = gb.trace(examples_through_layers(rng.normal(size=(5, 3)), 120, power=2), **Ws)
    assert g.backward_pass.path_count(g.node("w0")) == 5
    svg = g.pipe("svg").decode()
    root = ET.fromstring(svg)
    titles = [a.get("{http://www.w3.org/1999/xlink}title") or "" for a in root.iter("{http://www.w3.org/2000/svg}a")]
    (w0,) = {t for t in titles if t.startswith("w0: input")}  # (a node and its label: one text)
    routes = [line for line in w0.splitlines() if line.startswith("path ")]
    assert len(routes) == 5 and all(r.startswith("path ") and "more …" in r for r in routes)
    assert all(len(r.split(" → ")) == 13 for r in routes), routes  # 12 values and the "… N more …"


def _written_together(arrays: list[np.ndarray]) -> tuple[list[str], list[list[str]]]:
    texts = ArrayTexts()
    for a in arrays:
        texts.add(a)
    lines = [texts.summary_lines(a) for a in arrays]
    return [texts.full_text(a) for a in arrays], lines


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")


def _numpy_text(a: np.ndarray) -> str:
    """What a tooltip writes of ``a``: NumPy's text, 4 decimals, no exponents; but where every
    number written reads 0 and some is not (a vanishing gradient), NumPy's text with exponents."""
    edge = {} if a.size <= 400 else {"edgeitems": 3 if np.prod(np.minimum(a.shape, 6)) <= 400 else
                                     2 if np.prod(np.minimum(a.shape, 4)) <= 400 else 1}
    text = np.array2string(a, **NUMPY, threshold=400, **edge)
    exact = np.array2string(a, **{**NUMPY, "suppress_small": False}, threshold=400, **edge)
    if "nan" not in exact and "inf" not in exact and all(float(v) == 0 for v in _NUMBER.findall(text)) \
            and any(float(v) != 0 for v in _NUMBER.findall(exact)):
        return exact
    return text


@pytest.mark.parametrize("shape", [(64, 8), (64, 1), (64,), (64, 64), (3, 40), (7, 9, 11), (150,), (2, 300)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_arrays_written_together_read_as_numpy_writes_each(shape, dtype):
    rng = np.random.default_rng(abs(hash((shape, dtype.__name__))) % 2**32)
    arrays = []
    for k in range(12):
        scale = 10.0 ** (k % 7 - 4)
        a = (rng.normal(size=shape) * scale).astype(dtype)
        if k % 3 == 0:
            a = np.round(a, k % 5)  # trailing zeros: NumPy writes fewer decimals
        if k % 4 == 1:
            a.flat[0] = -0.0
        if k == 5:
            a = (np.round(a * 2e4) / 2e4).astype(dtype)  # halves at the fifth decimal
        if k == 7:
            a.flat[-1] = np.nan
        if k == 8:
            a = np.zeros(shape, dtype)
        if k == 9:
            a.flat[0] = 12345.678  # an integer part of five digits
        arrays.append(a if k != 10 or len(shape) != 2 else np.ascontiguousarray(a.T).T)
    with np.errstate(all="ignore"):
        fulls, lines = _written_together(arrays)
    for a, text, summary in zip(arrays, fulls, lines):
        body = text if a.size <= 400 else text.split("\n", 1)[1]
        assert body == _numpy_text(a), (a.dtype, a.shape)
        if not np.isfinite(a).all() or not a.any():
            continue
        x = a.astype(float)
        assert summary == [f"norm {np.linalg.norm(x):.3g},".replace("-", "−"),
                           f"range [{x.min():.3g}, {x.max():.3g}]".replace("-", "−")]


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.sampled_from([(5, 4), (30,), (64, 1), (9, 50)]),
                  elements=st.floats(-1e7, 1e7, allow_subnormal=True)))
def test_any_finite_floats_are_written_as_numpy_writes_them(x):
    fulls, _ = _written_together([x, x + 0, -x, x * 1e-4])
    for a, text in zip([x, x + 0, -x, x * 1e-4], fulls):
        assert (text if a.size <= 400 else text.split("\n", 1)[1]) == _numpy_text(a)


def _mlp(depth: int, width: int = 6):
    rng = np.random.default_rng(0)
    params = {"X": rng.normal(size=(width, 2))}
    for i in range(depth):
        params[f"W{i}"] = rng.normal(size=(width, width)) / np.sqrt(width)
        params[f"b{i}"] = rng.normal(size=(width, 1)) * 0.1

    def loss(X, **p):
        h = X
        for i in range(depth):
            h = np.tanh(p[f"W{i}"] @ h + p[f"b{i}"])
        return 0.5 * np.sum(h ** 2)

    return gb.trace(loss, **params)


def test_liveness_and_path_counts_are_computed_once_per_drawing(monkeypatch):
    # every layer uses its W twice (W and Wᵀ), so each W is a shared input whose tooltip counts paths
    rng = np.random.default_rng(0)
    params = {"x": rng.normal(size=4), **{f"W{i}": rng.normal(size=(4, 4)) / 2 for i in range(12)}}

    def tied(x, **p):
        for i in range(12):
            x = np.tanh(p[f"W{i}"].T @ (p[f"W{i}"] @ x))
        return np.sum(x ** 2)

    g = gb.trace(tied, **params)
    calls = {"live": 0, "paths": 0, "count_paths": 0}
    live, paths = annotate_mod.live_nodes, backward_mod._paths_to_output
    monkeypatch.setattr(annotate_mod, "live_nodes", lambda *a: calls.__setitem__("live", calls["live"] + 1) or live(*a))
    monkeypatch.setattr(backward_mod, "_paths_to_output",
                        lambda *a: calls.__setitem__("paths", calls["paths"] + 1) or paths(*a))
    monkeypatch.setattr(type(g._dag), "count_paths", lambda *a: calls.__setitem__("count_paths", 1))
    src = g.to_dot()
    assert calls == {"live": 1, "paths": 1, "count_paths": 0}
    assert src.count("2 paths to the output; their contributions sum to the gradient:") == 12
    # the counts are those of the graph: W₀ reaches the loss along two paths
    assert g.backward_pass.path_count(g.node("W0")) == 2 and g.backward_pass.path_count(g.node("x")) == 1


def test_a_deep_drawing_parses_with_every_node_edge_and_bounded_tooltip():
    g = _mlp(40, width=24)  # 24×24 weights: 576 entries, written as summary and corners
    src = g.to_dot(fold=False)  # every node drawn (by default a graph this size is folded)
    assert src == g.to_dot(fold=False)  # deterministic, also when its arrays are written together
    (dot,) = pydot.graph_from_dot_data(src)
    nodes = [n for n in all_nodes(dot) if re.fullmatch(r"n\d+", n.get_name())]
    numbers = 2  # ½ and 2, written in × ½ and (·)²
    assert len(nodes) == len(g.nodes) - numbers and len(dot.get_edges()) == len(g.edges) - numbers
    tips = {n.get_name(): n.get("tooltip") for n in nodes}
    w = tips[g.node("W7").id]
    assert "24×24, norm " in w and "(36 of 576 entries shown)" in w and len(w) < 2000
    b = tips[g.node("b7").id]  # 24 entries: every one, as NumPy writes it
    assert np.array2string(g.node("b7").value, **NUMPY, threshold=400).replace("\n", "\\n") in b.replace("\n", "\\n")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab\\" n<>-.0_#', max_size=14))
def test_statements_quote_values_as_the_graphviz_package_does(text):
    if quoting.FINAL_ODD_BACKSLASHES.search(text):
        return  # the package warns: such a value is never written
    assert render_mod._quote(text) == quoting.quote(quoting.nohtml(text))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int32, np.bool_, np.complex128])
def test_numbers_need_no_escaping_so_render_passes_them_through(dtype):
    rng = np.random.default_rng(1)
    for shape in [(), (3,), (64, 8), (30, 30), (2, 3, 70)]:
        with np.errstate(all="ignore"):
            a = (rng.normal(size=shape) * 1e3).astype(dtype)
        text = full_text(a)
        assert isinstance(text, Verbatim)
        assert attribute_text(text) == text and '"' not in text


def test_a_tooltip_in_parts_reads_as_the_whole_text_escaped():
    rng = np.random.default_rng(0)
    g = gb.trace(lambda x: np.sum(gb.name(x * 2.0, 'say "a&b" \\ \x1f') ** 2), x=rng.normal(size=(30, 30)))
    scene = g.draw().scene()
    for item in scene.nodes + scene.edges:
        whole = str(item.tooltip)
        assert "".join(item.tooltip.parts()) == whole
        quoted = render_mod._plain(item.tooltip)
        assert quoted == quoting.quote(quoting.nohtml(attribute_text(whole)))


def test_a_vanishing_gradient_is_written_with_exponents_not_as_zeros():
    """To 4 decimals every entry of a gradient of norm 1e-8 read 0 (or −0): the tooltip of a
    vanishing gradient showed nothing but zeros under a label saying "norm 1.2e−08"."""
    tiny = np.random.default_rng(8).normal(size=(64, 8)) * 1e-9
    for texts in ([full_text(tiny)], _written_together([tiny, tiny * 1e-20, np.ones((64, 8))])[0][:2]):
        for text in texts:
            numbers = [float(v) for v in _NUMBER.findall(text.split("\n", 1)[1])]
            assert "e-" in text and numbers and all(v != 0 for v in numbers), text
    assert full_text(np.array([0.0, -0.0, 1e-3])) == "[ 0.    -0.     0.001]"  # not all tiny: as before
    assert full_text(np.zeros(3)) == "[0. 0. 0.]"
