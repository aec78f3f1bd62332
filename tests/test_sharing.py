"""Big formulas stay readable and cheap: a part a formula would print several times is named once as
a temporary (``t₁``, listed by ``where``), a label's formula writes its deepest parts ``…``; both
keep the formula's value, and the printed size of an unrolled recurrence grows linearly with the
number of steps, not exponentially."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphviz_bp as gb
from graphviz_bp.symbolic.evaluate import evaluate
from graphviz_bp.symbolic.expr import num, sym
from graphviz_bp.symbolic.printing import latex, text
from graphviz_bp.symbolic.sharing import SHARED, elide, printed_size, share
from graphviz_bp.symbolic.simplify import simplify

from .numerics import verify

RNG = np.random.default_rng(11)


def sig(z):
    return 1 / (1 + np.exp(-z))


def lstm(T):
    c0 = np.zeros((2, 3))

    def f(W, h0):
        h, c = h0, c0
        for _ in range(T):
            a = h @ W
            i, fg, o, gg = sig(a[:, :3]), sig(a[:, 3:6]), sig(a[:, 6:9]), np.tanh(a[:, 9:])
            c = fg * c + i * gg
            h = o * np.tanh(c)
        return np.sum(h)

    return f


def _unshared(e, memo=None):
    """``e`` with every temporary written out (a check independent of the library's inliner; each
    distinct part rebuilt once, so an exponentially long formula stays a small graph)."""
    from graphviz_bp.symbolic.expr import Expr

    memo = {} if memo is None else memo
    if id(e) in memo:
        return memo[id(e)]
    if e.kind == "sym" and e.role == SHARED:
        out = _unshared(e.definition, memo)
    elif e.kind != "call":
        out = e
    else:
        out = Expr("call", e.shape, op=e.op, args=tuple(_unshared(a, memo) for a in e.args), params=e.params)
    memo[id(e)] = out
    return out


def _temporaries_in(e):
    out, stack = set(), [e]
    while stack:
        x = stack.pop()
        if x.kind == "sym" and x.role == SHARED:
            out.add(x.name)
        stack.extend(x.args)
    return out


def test_an_unrolled_recurrence_names_its_repeated_parts_and_keeps_every_terms_value():
    W, h0 = RNG.normal(size=(3, 12)) * 0.5, RNG.normal(size=(2, 3))
    g = gb.trace(lstm(2), W=W, h0=h0)
    F = g.formula("W", limit=200)
    assert F.verified and F.shared, "the terms repeat the first step's gates: temporaries expected"
    where = F.where()
    names = [text(t) for t in F.shared]
    assert names[:3] == ["t₁", "t₂", "t₃"] and all(n in where for n in names)
    # every temporary's definition uses only temporaries defined before it
    order = {t.name: k for k, t in enumerate(F.shared)}
    for k, t in enumerate(F.shared):
        used = _temporaries_in(t.definition)
        assert all(order[n] < k for n in used), (t.name, used)
    assert _temporaries_in(F.tree) <= set(order)
    env = {"W": W, "h0": h0}
    path_values = {tuple(e.index for e in c.path): c.value for c in g.contributions("W", limit=200)}
    for term in F.terms:  # the shared tree still evaluates to the path's numeric contribution
        np.testing.assert_allclose(evaluate(term.tree, env), path_values[tuple(e.index for e in term.path)],
                                   rtol=1e-9, atol=1e-12)
        assert evaluate(_unshared(term.tree), env).shape == W.shape
    np.testing.assert_allclose(F.evaluate(W=W, h0=h0), g.grad("W"), rtol=1e-9)
    verify(lstm(2), {"W": W, "h0": h0})


def test_the_printed_size_of_a_recurrences_gradient_grows_linearly_with_its_steps():
    W, h0 = RNG.normal(size=(3, 12)) * 0.5, RNG.normal(size=(2, 3))
    per_term, saved = [], []
    for T in (2, 3, 4):
        g = gb.trace(lstm(T), W=W, h0=h0)
        paths = g.backward_pass.path_count(g.node("W"))
        F = g.formula("W", limit=paths)
        body = len(F.text) + sum(len(k) + len(v) for k, v in F.where().items())
        per_term.append(body / paths)
        saved.append(printed_size(_unshared(F.tree)) / body)  # written out in full / with temporaries
    assert max(per_term) < 2 * min(per_term), per_term  # a bounded size per term
    assert saved[0] > 5 and saved[2] > 20 * saved[0], saved  # written out, it grows exponentially


def test_small_formulas_get_no_temporaries():
    def f(W, x):
        return 0.5 * np.sum((W.T @ W @ x - x) ** 2)

    W, x = RNG.normal(size=(2, 3)), RNG.normal(size=3)
    F = gb.trace(f, W=W, x=x).formula("W")
    assert F.shared == () and F.where() == {}
    assert all("WᵀWx − x" in t.text and "t₁" not in t.text for t in F.terms), [t.text for t in F.terms]


def test_a_temporary_prints_in_latex_with_a_subscript():
    x = sym("x", (3,), "input")
    part = (x * x + 2.0 * x - x ** 3) / (1.0 + x * x)
    root = simplify(part * part + np.exp(part))
    shared, _, temporaries = share(root)
    assert len(temporaries) == 1 and text(shared).count("t₁") == 3
    assert "t_{1}" in latex(shared)
    env = {"x": RNG.normal(size=3)}
    np.testing.assert_allclose(evaluate(shared, env), evaluate(root, env))


@st.composite
def _dags(draw):
    """A random expression built from a few leaves, each step reusing earlier parts (so parts
    repeat when printed)."""
    x, y = sym("x", (3,), "input"), sym("y", (3,), "input")
    parts = [x, y, num(2.0)]
    for _ in range(draw(st.integers(3, 14))):
        a = parts[draw(st.integers(0, len(parts) - 1))]
        b = parts[draw(st.integers(0, len(parts) - 1))]
        kind = draw(st.sampled_from(["add", "mul", "sub", "tanh", "exp"]))
        new = {"add": lambda: a + b, "mul": lambda: a * b, "sub": lambda: a - b,
               "tanh": lambda: np.tanh(a), "exp": lambda: np.exp(0.1 * a)}[kind]()
        parts.append(new)
    return parts[-1] + parts[-2] * parts[-1]


@settings(max_examples=60, deadline=None)
@given(_dags(), st.integers(4, 40))
def test_sharing_and_eliding_keep_the_expression(e, min_chars):
    env = {"x": RNG.normal(size=3) * 0.3, "y": RNG.normal(size=3) * 0.3}
    shared, _, temporaries = share(e, min_chars=min_chars)
    if e.shape == ():
        return
    assert _unshared(shared).same(e)  # written out again, the same expression
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(evaluate(shared, env), evaluate(e, env), equal_nan=True)
    names = {text(t) for t in temporaries}
    printed = text(shared)
    for t in temporaries:  # each temporary is used at least twice in the text and its definitions
        uses = printed.count(text(t)) + sum(text(u.definition).count(text(t)) for u in temporaries)
        assert uses >= 2 or any(text(t) + d in printed for d in "₀₁₂₃₄₅₆₇₈₉"), (text(t), printed)
    assert len(names) == len(temporaries)
    short = text(e, limit=10)
    assert len(short) <= max(len(text(e)), 400)
    if "…" not in short:
        assert short == text(e)


def test_a_label_writes_the_deepest_parts_of_a_huge_formula_as_an_ellipsis():
    x = sym("x", (3,), "input")
    e = x
    for _ in range(40):  # printed in full, 2⁴⁰ copies of x
        e = e * np.tanh(e)
    assert printed_size(e) > 10**12 - 1
    started = time.perf_counter()
    short = text(e, limit=40)
    assert time.perf_counter() - started < 5  # a generous bound against a hang, not a benchmark
    assert "…" in short and len(short) < 400 and short.count("tanh") >= 1
    small = x * np.tanh(x)
    assert text(small, limit=40) == text(small) and elide(small, 40) is small


@pytest.mark.parametrize("T", [3, 5])
def test_drawing_an_unrolled_recurrence_at_the_formulas_level_stays_small(T):
    W, h0 = RNG.normal(size=(3, 12)) * 0.5, RNG.normal(size=(2, 3))
    g = gb.trace(lstm(T), W=W, h0=h0)
    dot = g.draw(detail="formulas").to_dot()
    import pydot

    (graph,) = pydot.graph_from_dot_data(dot)
    formulas = [line for e in graph.get_edges() for line in re.split(r"\\n|\n", str(e.get("tooltip") or ""))
                if line.startswith("formula: ")]
    assert len(formulas) > len(g.nodes) // 2 and max(len(f) for f in formulas) < 800
    assert len(dot) < 4000 * len(g.nodes), len(dot)


def test_zero_times_anything_is_zero():
    x = sym("x", (3,), "input")
    zero = simplify(np.zeros(3) * np.exp(x))
    assert zero.kind == "array" and not zero.value.any() and zero.shape == (3,)
    assert text(simplify(np.zeros((3,)) / (1.0 + x))) == "0"
    assert text(simplify(-(np.zeros((2, 3)) @ sym("W", (3, 3), "input")))) == "0"


def test_a_tanh_rnns_temporaries_are_its_hidden_states_and_its_terms_are_bptts():
    """docs/formulas.md's example: the terms are backpropagation through time's, one per step."""
    def rnn(W, h0, xs):
        h = h0
        for x in xs:
            h = np.tanh(W @ h + x)
        return np.sum(h)

    W, h0, xs = RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=3), RNG.normal(size=(3, 3))
    f = gb.trace(rnn, W=W, h0=h0, xs=xs).formula("W")
    h = [h0]
    for x in xs:
        h.append(np.tanh(W @ h[-1] + x))
    delta = [None, None, None, 1 - h[3] ** 2]
    for k in (2, 1):
        delta[k] = (W.T @ delta[k + 1]) * (1 - h[k] ** 2)
    bptt = {k: np.outer(delta[k], h[k - 1]) for k in (1, 2, 3)}
    env = {"W": W, "h0": h0, "xs": xs}
    assert len(f.terms) == 3 and f.verified
    got = sorted((evaluate(t.tree, env) for t in f.terms), key=lambda v: float(v[0, 0]))
    want = sorted(bptt.values(), key=lambda v: float(v[0, 0]))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    states = [t for t in f.shared if t.definition.op.name == "tanh"]
    assert [text(t) for t in states] == ["t₁", "t₂", "t₃"]
    for t, want_h in zip(states, h[1:]):
        np.testing.assert_allclose(evaluate(t, env), want_h, rtol=1e-12)
    assert all(len(t.text) <= 30 for t in f.terms), [t.text for t in f.terms]
