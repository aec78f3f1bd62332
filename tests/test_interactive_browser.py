"""The interactive page in a real browser (headless Chromium, ``tests/browser.py``): stepping through
the autoencoder's backward pass and asserting what is on screen at each step, against the backward
pass worked out here from the graph; picking W and its two paths; an edge's heat-map; keyboard-only
use; the grey theme telling steps apart without colour; pan and zoom; a folded deep net."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import graphviz_bp as gb
from graphviz_bp.drawing.text import summarize

from .browser import png_pixels
from .problems import autoencoder, deep_mlp, deep_mlp_inputs


@pytest.fixture(scope="module")
def ae():
    rng = np.random.default_rng(2024)
    return gb.trace(autoencoder, W=rng.normal(size=(3, 5)) * 0.5, x=rng.normal(size=5))


def sending_order(g):
    return [n for n in reversed(g.nodes) if n.kind == "op" and any(e.message is not None for e in n.in_edges)]


def edge_id(e):
    return f"e{e.src.index}_{e.dst.index}_{e.argnum}"


def open_page(browser, tmp_path, g, name="ae.html", **options):
    path = g.render(tmp_path / name, **options)
    browser.open(path)
    browser.wait_until("window.graphvizBP !== undefined")
    return path


def click_at(browser, x, y):
    """A real click at the viewport point (x, y), as a mouse makes it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionChains(browser.driver)
    ActionBuilder(browser.driver).pointer_action.move_to_location(int(x), int(y))
    builder = ActionBuilder(browser.driver)
    builder.pointer_action.move_to_location(int(x), int(y)).click()
    builder.perform()
    del actions


def click_edge(browser, ident):
    """Click an edge where its line is: halfway along it (its box's middle may be off the curve)."""
    x, y = browser.run("""
        const p = document.querySelector('#' + arguments[0] + ' path');
        const pt = p.getPointAtLength(p.getTotalLength() / 2).matrixTransform(p.getScreenCTM());
        return [pt.x, pt.y];""", ident)
    click_at(browser, x, y)


def state(browser):
    """What the drawing shows now: the current, future and done edges; which backward texts are
    visible, faint or hidden; the step."""
    return browser.run("""
        const ids = (sel) => Array.from(document.querySelectorAll(sel)).map((g) => g.id).sort();
        const texts = Array.from(document.querySelectorAll('svg text[data-s]'));
        const shown = (t) => getComputedStyle(t).opacity;
        const at = (id, o) => Array.from(document.querySelectorAll('#' + id + ' text[data-s]'))
            .filter((t) => o(+shown(t))).map((t) => t.textContent.trim());
        return {step: graphvizBP.step, current: ids('g.edge.current'), future: ids('g.edge.future'),
                done: ids('g.edge.done'), currentNodes: ids('g.node.current'),
                visible: texts.filter((t) => shown(t) === '1').map((t) => t.textContent.trim()),
                faint: texts.filter((t) => +shown(t) > 0 && +shown(t) < 1).map((t) => t.textContent.trim()),
                W: {visible: at('n0', (o) => o === 1), faint: at('n0', (o) => o > 0 && o < 1)},
                counter: document.getElementById('counter').textContent,
                now: document.getElementById('now').textContent};
    """)


def test_stepping_through_the_autoencoder_shows_each_message_as_it_is_sent(browser, tmp_path, ae):
    open_page(browser, tmp_path, ae)
    order = sending_order(ae)
    W = ae.node("W")
    s = state(browser)
    assert s["step"] == 0 and s["counter"] == f"step 0 of {len(order)}: forward pass"
    assert s["current"] == [] and s["done"] == [] and s["visible"] == [] and s["faint"] == []
    assert len(s["future"]) == sum(1 for e in ae._dag.edges if e.message is not None)
    sent_before: set[str] = set()
    for k, node in enumerate(order, 1):
        browser.press("ArrowRight")
        s = state(browser)
        sent = sorted(edge_id(e) for e in node.in_edges if e.message is not None)
        assert s["step"] == k and s["counter"] == f"step {k} of {len(order)}"
        assert s["current"] == sent, f"step {k}"
        assert s["currentNodes"] == [node.id]
        assert s["done"] == sorted(sent_before)
        assert f"Step {k} of {len(order)}" in s["now"]
        for e in node.in_edges:  # each message's numbers, as summarized, are on its edge and in the panel
            if e.message is not None:
                assert summarize(e.message) in s["now"]
        sent_before |= set(sent)
        if W.id in {e.src.id for e in node.in_edges}:
            w_step = k
            break
    # W's first message has arrived (m₂, straight into the product), m₁ not yet
    s = state(browser)
    m1, m2 = W.out_edges  # m₁ through Wᵀ, m₂ into the product: the edge order at W
    assert re.search(r"At W: ∂L/∂W = m₂ \+ … \(1 of 2 messages so far\)", s["now"])
    assert summarize(m2.message) in s["now"]
    assert s["W"] == {"visible": ["∂L/∂W", "=", "+", "m₂"], "faint": ["m₁"]}
    assert browser.text("#n0 > .badge text") == "1/2"
    assert browser.run("return document.getElementById('n0').classList.contains('partial')")
    browser.press("ArrowRight")
    s = state(browser)
    assert s["step"] == w_step + 1 == len(order)
    assert re.search(r"At W: ∂L/∂W = m₁ \+ m₂ complete \(2 of 2 messages\)", s["now"])
    assert summarize(ae.grad("W")) in s["now"]
    assert s["W"]["faint"] == [] and {"m₁", "m₂"} <= set(s["W"]["visible"])
    assert browser.text("#n0 > .badge text") == "2/2 ✓" and browser.text("#n1 > .badge text") == "2/2 ✓"
    assert s["future"] == []
    # back, and the ends
    browser.press("ArrowLeft")
    assert state(browser)["step"] == len(order) - 1 and browser.text("#n0 > .badge text") == "1/2"
    browser.press("Home")
    assert state(browser)["visible"] == []
    browser.press("End")
    assert state(browser)["step"] == len(order)
    browser.click("#prev")
    assert state(browser)["step"] == len(order) - 1
    browser.click("#next")
    assert state(browser)["step"] == len(order)
    assert browser.console_errors() == []


def test_the_slider_moves_through_the_steps(browser, tmp_path, ae):
    open_page(browser, tmp_path, ae)
    browser.click("#slider")  # focus
    browser.press("Home", selector="#slider")
    assert state(browser)["step"] == 0
    browser.press("ArrowRight", "ArrowRight", "ArrowRight", selector="#slider")
    assert state(browser)["step"] == 3
    assert browser.run("return document.getElementById('slider').value") == "3"


def test_clicking_W_lights_both_paths_and_its_contributions_sum_to_its_gradient(browser, tmp_path, ae):
    open_page(browser, tmp_path, ae)
    browser.press("End")
    browser.click("#n0")
    contributions = ae.contributions("W")
    assert len(contributions) == 2
    on_path = set(browser.run("return Array.from(document.querySelectorAll('g.edge.on-path')).map((g) => g.id)"))
    assert on_path == {edge_id(e) for c in contributions for e in c.path}
    assert browser.run("return document.querySelector('#view svg').classList.contains('picking')")
    items = browser.run("return Array.from(document.querySelectorAll('#detail ul.paths li')).map((li) => li.textContent)")
    assert len(items) == 2
    for text, c in zip(items, contributions):
        assert summarize(c.value) in text
    check = browser.element("#sum-check")
    assert "equals ∂L/∂W" in check.text and "ok" in check.get_attribute("class")
    assert float(check.get_attribute("data-worst")) < 1e-12
    # the numbers listed under each path, read back from the page, add up to the gradient
    listed = browser.run("""return Array.from(document.querySelectorAll('#detail ul.paths li .num'))
                            .map((d) => d.textContent)""")
    arrays = [np.array([float(v) for v in t.split(", ")]) for t in listed]
    np.testing.assert_allclose(sum(arrays), ae.grad("W").ravel(), rtol=1e-3, atol=1e-4)  # 4 digits shown
    # picking one path lights only its edges
    browser.click("#detail ul.paths li[data-path='0']")
    lit = set(browser.run("return Array.from(document.querySelectorAll('g.edge.on-path')).map((g) => g.id)"))
    assert lit == {edge_id(e) for e in contributions[0].path}
    browser.press("Escape")
    assert browser.run("return document.querySelectorAll('.on-path').length") == 0
    assert browser.console_errors() == []


def test_clicking_an_edge_shows_its_jacobian_shape_and_its_message_as_a_heat_map(browser, tmp_path, ae):
    open_page(browser, tmp_path, ae)
    W = ae.node("W")
    e = W.out_edges[1]  # W into the product
    browser.click("#fit")  # the whole drawing on screen
    click_edge(browser, edge_id(e))
    detail = browser.text("#detail")
    assert "W → @" in detail and "shape 5×5×3×5" in detail
    assert summarize(e.message) in detail and "not yet at this step" in detail
    cells = browser.run("return Array.from(document.querySelectorAll('#detail svg.heat rect'))"
                        ".map((r) => [r.getAttribute('fill'), +r.querySelector('title').textContent])")
    assert len(cells) == e.message.size == 15
    values = np.array([v for _, v in cells])
    np.testing.assert_allclose(values, e.message.ravel(), rtol=1e-3)
    biggest = int(np.argmax(np.abs(e.message.ravel())))
    assert cells[biggest][0].endswith(",1)")  # the largest |entry| at full strength


def test_keyboard_only_use(browser, tmp_path, ae):
    """Tab reaches the controls and every node; Enter picks a node; the search box finds one."""
    open_page(browser, tmp_path, ae)
    reached = []
    for _ in range(60):
        browser.press("Tab")
        active = browser.run("const a = document.activeElement; return [a.tagName, a.id, a.getAttribute('class')]")
        reached.append(active)
        if active[1] == "n0":
            break
    ids = [a[1] for a in reached]
    assert "next" in ids and "slider" in ids and "search" in ids and ids[-1] == "n0"
    browser.press("Enter")
    assert "W" in browser.text("#detail h2") and browser.run("return graphvizBP.picked") == "n0"
    browser.press("Escape")
    browser.element("#search").send_keys("x")
    browser.press("Enter", selector="#search")
    assert browser.run("return graphvizBP.picked") == ae.node("x").id
    assert browser.console_errors() == []


def test_the_grey_theme_tells_steps_apart_without_colour(browser, tmp_path, ae):
    open_page(browser, tmp_path, ae, "grey.html", theme="grey")
    browser.press("End", "ArrowLeft")
    styles = browser.run("""
        const out = {};
        for (const k of ['current', 'done', 'future']) {
          out[k] = Array.from(document.querySelectorAll('g.edge.' + k + ' path:not(.hit)')).map((p) => {
            const s = getComputedStyle(p); return [s.stroke, parseFloat(s.strokeWidth), s.strokeDasharray]; });
        }
        return out;""")
    assert styles["current"] and styles["done"] and styles["future"]
    widths = {k: {w for _, w, _ in v} for k, v in styles.items()}
    assert min(widths["current"]) > max(widths["done"] | widths["future"])  # this step: thicker
    assert {d for _, _, d in styles["future"]} == {"2px, 4px"}              # to come: thin and dotted
    assert max(widths["future"]) < min(widths["done"])
    assert all(d != "2px, 4px" for _, _, d in styles["current"] + styles["done"])  # (m₂ keeps its dashes)
    grey = re.compile(r"rgb\((\d+), \1, \1\)")
    assert all(grey.fullmatch(c) for v in styles.values() for c, _, _ in v)  # no hue anywhere
    # and the picture itself: the drawing's pixels are greys
    shot = png_pixels(browser.driver.get_screenshot_as_png())[:, :, :3].astype(int)
    left = int(browser.run("return document.getElementById('view').getBoundingClientRect().left"))
    top = int(browser.run("return document.getElementById('view').getBoundingClientRect().top"))
    view = shot[top:, left:]
    hue = np.max(view, axis=2) - np.min(view, axis=2)
    assert np.mean(hue > 24) < 0.001


def test_pan_and_zoom(browser, tmp_path, ae):
    open_page(browser, tmp_path, ae)
    box = lambda: [float(v) for v in browser.run(  # noqa: E731
        "return document.querySelector('#view svg').getAttribute('viewBox')").split()]
    home = [float(v) for v in browser.run("return document.querySelector('#view svg').dataset.home").split()]
    browser.click("#fit")
    assert box() == pytest.approx(home, abs=0.01)
    browser.click("#zoom-in")
    zoomed = box()
    assert zoomed[2] < home[2] and zoomed[3] < home[3]
    browser.run("""const s = document.querySelector('#view svg'), r = s.getBoundingClientRect();
                   s.dispatchEvent(new WheelEvent('wheel', {deltaY: -100, clientX: r.left + 50, clientY: r.top + 50,
                                                             bubbles: true, cancelable: true}));""")
    assert box()[2] < zoomed[2]
    from selenium.webdriver.common.action_chains import ActionChains

    view = browser.element("#view")
    before = box()
    ActionChains(browser.driver).move_to_element_with_offset(view, 0, 0).click_and_hold() \
        .move_by_offset(80, 40).release().perform()
    after = box()
    assert after[0] < before[0] and after[1] < before[1] and after[2:] == before[2:]
    browser.click("#fit")
    assert box() == pytest.approx(home, abs=0.01)


def test_a_folded_deep_net_steps_to_the_end_without_errors(browser, tmp_path):
    rng = np.random.default_rng(9)
    g = gb.trace(deep_mlp(60), **deep_mlp_inputs(rng, 60))
    open_page(browser, tmp_path, g, "deep.html")
    steps = browser.run("return graphvizBP.data.steps.length")
    assert steps == len(sending_order(g))
    browser.press("End")
    s = state(browser)
    assert s["step"] == steps and s["future"] == []
    # a folded edge carries each layer's message in turn: current at each of its steps
    for k in range(1, steps + 1):
        browser.run(f"graphvizBP.setStep({k})")
        sent = browser.run(f"return graphvizBP.data.steps[{k - 1}].sent.map((m) => m.edge).filter((e) => e)")
        assert sorted(set(sent)) == state(browser)["current"], f"step {k}"
    assert browser.console_errors() == []


def test_screenshots_of_the_steps_differ_and_show_the_drawing(browser, tmp_path, ae):
    open_page(browser, tmp_path, ae)
    shots = []
    for k in (0, 4, 6, 7):
        browser.run(f"graphvizBP.setStep({k})")
        shots.append(browser.screenshot(tmp_path / f"step-{k}.png").read_bytes())
    assert len(set(shots)) == 4
    first = png_pixels(shots[0])
    assert first.shape[:2] == (1000, 1400) and first.std() > 10  # not a blank page


def test_the_jupyter_view_runs_inside_its_frame(browser, tmp_path, ae):
    """What ``g.interactive()`` hands Jupyter (``_repr_html_``), put in a page as a notebook puts an
    output: its sandboxed frame runs the script, so stepping works with no notebook extension."""
    host = tmp_path / "notebook.html"
    host.write_text(f"<!DOCTYPE html><html><body><div class='output'>{ae.interactive()._repr_html_()}</div>"
                    f"</body></html>", encoding="utf-8")
    browser.open(host)
    frame = browser.element("iframe")
    browser.driver.switch_to.frame(frame)
    try:
        browser.wait_until("window.graphvizBP !== undefined")
        browser.click("#next")
        browser.click("#next")
        assert browser.run("return graphvizBP.step") == 2
        assert state(browser)["current"] == sorted(
            edge_id(e) for e in sending_order(ae)[1].in_edges if e.message is not None)
    finally:
        browser.driver.switch_to.default_content()
    assert browser.console_errors() == []


def test_a_folded_block_opens_into_its_repetitions(browser, tmp_path):
    """Clicking a folded repeat's frame lists every repetition with the norm of the message that
    reaches it and its steps; a row takes the page to that repetition's first step."""
    rng = np.random.default_rng(4)
    depth = 30
    g = gb.trace(deep_mlp(depth), **deep_mlp_inputs(rng, depth))
    open_page(browser, tmp_path, g, "deep.html", fold=True)
    data = browser.run("return graphvizBP.data.groups")
    (cid, group), = data.items()
    assert group["count"] == depth
    browser.click("#fit")
    frame = browser.element(f"#cluster_{cid}")
    box = browser.run("const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width];", frame)
    click_at(browser, box[0] + 6, box[1] + 30)  # on the frame, beside its nodes
    norms = browser.run("return Array.from(document.querySelectorAll('#detail tr[data-rep] td.num'))"
                        ".map((td) => +td.textContent)")
    assert len(norms) == depth
    # each row's norm is the norm of ∂L/∂(that layer's output), worked out here from the graph
    outputs = [n for n in g.nodes if n.kind == "op" and n.op.name == "tanh"]
    assert len(outputs) == depth
    for shown, n in zip(norms, outputs):
        assert shown == pytest.approx(np.linalg.norm(n.adjoint), rel=1e-3)
    browser.click("#detail tr[data-rep='4']")
    step = browser.run("return graphvizBP.step")
    assert step == group["reps"][4]["steps"][0]
    assert f"repetition 5 of {depth}" in browser.text("#now")
    # the frame's title (a node at its top: edges go around it) opens the list too, and is not
    # dimmed while a value is picked
    title = browser.element(f"#title_{cid}")
    browser.run("graphvizBP.pickNode(arguments[0])", outputs[0].id)
    assert browser.run("return document.querySelector('#view > svg').classList.contains('picking')")
    assert browser.run("return getComputedStyle(arguments[0]).opacity", title) == "1"
    assert browser.run("return document.querySelectorAll('#detail tr[data-rep]').length") == 0
    box = browser.run("const r = arguments[0].querySelector('text').getBoundingClientRect();"
                      "return [r.left, r.top, r.width, r.height];", title)
    click_at(browser, box[0] + box[2] / 2, box[1] + box[3] / 2)  # on its first line's letters
    assert browser.run("return document.querySelectorAll('#detail tr[data-rep]').length") == depth
    assert browser.console_errors() == []


def test_a_step_in_a_repeat_folded_inside_another_names_where_it_is_in_both(browser, tmp_path):
    """Two RNN layers folded, their 30 time steps folded inside: every step's caption named the
    layer alone ("in iteration 1, repetition 2 of 2 of a block drawn once"), never the time step."""
    from .test_drawing_fold import _stacked_layers  # (30 steps in each of 2 layers)

    rng = np.random.default_rng(2)
    inputs = {"x": rng.normal(size=(30, 4)), **{k: rng.normal(size=(4, 4)) * .5 for k in ("W0", "U0", "W1", "U1")}}
    g = gb.trace(_stacked_layers, **inputs)
    open_page(browser, tmp_path, g, "stacked.html", fold=True)
    steps = browser.run("return graphvizBP.data.steps")
    order = sending_order(g)
    checked = set()
    for k, n in enumerate(order, 1):
        loops = [s for s in n.scope.chain if s.kind == "iteration"] if n.scope is not None else []
        if len(loops) != 2 or n.op.name != "tanh":
            continue
        layer, t = loops[0].index, loops[1].index
        browser.run(f"graphvizBP.setStep({k})")
        assert f"in iteration {layer} ({layer + 1} of 2) › t = {t} ({t + 1} of 30) of blocks drawn once" \
            in browser.text("#now"), (k, browser.text("#now"))
        assert [r["index"] for r in steps[k - 1]["reps"]] == [layer, t]
        checked.add((layer, t))
    assert checked == {(a, b) for a in range(2) for b in range(30)}
    assert browser.console_errors() == []


def _encoded(W, x):
    with gb.group("encoder"):
        s = np.sum(np.exp(W @ x))
    return np.log(s)


def test_a_step_inside_a_collapsed_box_says_which_box(browser, tmp_path):
    """depth=0: "Step 3: at exp" named an op not drawn, the box around it lit with no word of it."""
    rng = np.random.default_rng(0)
    g = gb.trace(_encoded, W=rng.normal(size=(3, 3)), x=rng.normal(size=3))
    open_page(browser, tmp_path, g, "boxed.html", depth=0)
    order = sending_order(g)
    for k, n in enumerate(order, 1):
        browser.run(f"graphvizBP.setStep({k})")
        inside = n.scope is not None and n.scope.label == "encoder"
        assert ("inside the box encoder" in browser.text("#now")) == inside, (k, n.name)
    assert sum(n.scope is not None for n in order) == 3 and browser.console_errors() == []


def _grouped_steps(W, x):
    h = x
    for i in range(12):
        with gb.group("attn"):
            h2 = np.tanh(W[i] @ h) * h
        with gb.group("ffn"):
            h = np.tanh(h2)
    return np.sum(h ** 2)


def test_a_step_in_a_box_drawn_once_for_a_folded_loop_says_both_in_one_line(browser, tmp_path):
    """depth=1 over a folded loop: "inside the box for i in range(12): — iterations 0…11 × 12, drawn
    once" ran into "in iteration 11, repetition 12 of 12 of a block drawn once"."""
    rng = np.random.default_rng(0)
    g = gb.trace(_grouped_steps, W=rng.normal(size=(12, 4, 4)) * .5, x=rng.normal(size=4))
    open_page(browser, tmp_path, g, "grouped.html", fold=True, depth=1)
    browser.run("graphvizBP.setStep(3)")
    text = browser.text("#now")
    assert text.count("inside the box") == 1 and "× 12, drawn once, in i = 11 (12 of 12)" in text, text
    assert "of a block drawn once" not in browser.text("#now") and browser.console_errors() == []


def test_a_page_with_no_step_says_so(browser, tmp_path):
    """Every input drawn as data: no message is shown, so the page has step 0 only."""
    g = gb.trace(lambda x: np.sum(np.tanh(x)), x=np.arange(3.0))
    open_page(browser, tmp_path, g, "data.html", data=["x"])
    s = state(browser)
    assert s["step"] == 0 and s["counter"] == "step 0 of 0: forward pass" and s["future"] == []
    assert browser.run("return document.getElementById('next').disabled")
    browser.press("ArrowRight")
    assert state(browser)["step"] == 0
    assert browser.console_errors() == []


def test_the_view_follows_the_step_on_a_tall_drawing(browser, tmp_path):
    """A drawing too tall to read whole opens at life size at the output; each step's node is then
    panned into view, unless "follow" is off."""
    rng = np.random.default_rng(8)
    g = gb.trace(deep_mlp(14), **deep_mlp_inputs(rng, 14))
    open_page(browser, tmp_path, g, "tall.html", fold=False)
    on_screen = """const svg = document.querySelector('#view svg'), v = svg.getBoundingClientRect();
        return Array.from(document.querySelectorAll('g.node.current')).every((g) => {
          const r = g.getBoundingClientRect();
          return r.left >= v.left - 1 && r.right <= v.right + 1 && r.top >= v.top - 1 && r.bottom <= v.bottom + 1; });"""
    home = [float(v) for v in browser.run("return document.querySelector('#view svg').dataset.home").split()]
    start = [float(v) for v in browser.run("return document.querySelector('#view svg').getAttribute('viewBox')").split()]
    assert start[3] < home[3] / 2  # not the whole drawing, which would be too small to read
    steps = browser.run("return graphvizBP.data.steps.length")
    for _ in range(steps):
        browser.press("ArrowRight")
        assert browser.run(on_screen), browser.run("return graphvizBP.step")
    browser.click("#follow")
    view = browser.run("return document.querySelector('#view svg').getAttribute('viewBox')")
    browser.press("Home")
    assert browser.run("return document.querySelector('#view svg').getAttribute('viewBox')") == view


@pytest.mark.parametrize("name", ["autoencoder", "gplvm", "swish_formulas", "long_rnn", "deep_mlp", "check_derivation"])
def test_gallery_pages_step_and_pick_everything_without_an_error(browser, name):
    """The committed gallery pages: every step, then every value, edge and folded block picked."""
    from graphviz_bp.gallery import default_dir

    browser.open(default_dir() / f"{name}.html")
    browser.wait_until("window.graphvizBP !== undefined")
    n = browser.run("return graphvizBP.data.steps.length")
    for k in range(n + 1):
        browser.run(f"graphvizBP.setStep({k})")
    counts = browser.run("""const d = graphvizBP.data;
        for (const id in d.nodes) graphvizBP.pickNode(id);
        for (const id in d.edges) graphvizBP.pickEdge(id);
        for (const id in d.groups) graphvizBP.pickGroup(id);
        return [Object.keys(d.nodes).length, Object.keys(d.edges).length, document.querySelectorAll('#detail h2').length];""")
    assert counts[0] > 3 and counts[1] > 3 and counts[2] == 1
    assert browser.console_errors() == []


def test_the_panel_hides_for_a_wider_drawing(browser, tmp_path, ae):
    open_page(browser, tmp_path, ae)
    width = lambda: browser.run("return document.getElementById('view').getBoundingClientRect().width")  # noqa: E731
    before = width()
    browser.press("p")
    assert width() > before + 300 and browser.run("return getComputedStyle(document.getElementById('panel')).display") == "none"
    browser.press("ArrowRight")  # stepping goes on without the panel
    assert state(browser)["step"] == 1
    browser.click("#panel-toggle")
    assert width() == pytest.approx(before, abs=1)


def test_the_badges_of_values_at_the_drawings_edge_stay_in_its_view(browser, tmp_path, ae):
    """W at the drawing's top: its "1/2" badge sits above its box, past Graphviz's bounds, and was
    cut off under the toolbar in the whole view (fit) and when stepping panned to W."""
    open_page(browser, tmp_path, ae)
    inside = """const svg = document.querySelector('#view svg'), m = svg.getScreenCTM();
        const h = svg.dataset.home.split(' ').map(Number);
        const a = new DOMPoint(h[0], h[1]).matrixTransform(m), b = new DOMPoint(h[0] + h[2], h[1] + h[3]).matrixTransform(m);
        const badges = Array.from(document.querySelectorAll('#view .badge'));
        return [badges.length, badges.every((g) => { const r = g.getBoundingClientRect();
          return r.top >= a.y - 1 && r.left >= a.x - 1 && r.right <= b.x + 1 && r.bottom <= b.y + 1; })];"""
    browser.press("End")
    browser.click("#fit")
    count, fits = browser.run(inside)
    assert count == 2 and fits  # W's and x's, both complete


def _three_steps(W, h0):
    h = h0
    total = 0.0
    for t in range(3):
        h = np.tanh(W @ h)  # each step's tanh read twice: by the next step and by the loss
        total = total + np.sum(h ** 2)
    return total


def test_values_of_one_name_in_the_list_of_sums_are_told_apart(browser, tmp_path):
    """An RNN drawn whole listed "tanh", "tanh", … under "Values used more than once" (autograd's
    rnn.py: dot, tanh, advect()), nothing telling them apart."""
    rng = np.random.default_rng(0)
    g = gb.trace(_three_steps, W=rng.normal(size=(3, 3)) * 0.5, h0=rng.normal(size=3))
    open_page(browser, tmp_path, g, "steps.html", fold=False)
    browser.run(f"graphvizBP.setStep({len(sending_order(g))})")
    items = browser.run("return [...document.querySelectorAll('ul.sums li')].map((li) => li.textContent)")
    tanh = [t.split("): ")[0] + ")" for t in items if t.startswith("tanh")]
    line = inspect.getsourcelines(_three_steps)[1] + 4
    assert tanh == [f"tanh (test_interactive_browser.py:{line} in _three_steps, #{k})" for k in (1, 2)], items
    assert any(t.startswith("W: ") for t in items) and browser.console_errors() == []
