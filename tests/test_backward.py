"""Reverse mode: gradients against closed forms and finite differences, messages, adjoints, paths."""

from __future__ import annotations

import numpy as np
import pytest

import graphviz_bp as gb

from .numerics import numerical_grads
from .problems import autoencoder, autoencoder_right, swish_by_hand, swish_inputs, swish_net


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _ae_terms(W, x):
    r = W.T @ W @ x - x
    return W @ np.outer(r, x), np.outer(W @ x, r)


@pytest.mark.parametrize("fn", [autoencoder, autoencoder_right], ids=["WtW_x", "Wt_(W_x)"])
def test_autoencoder_gradient_is_the_closed_form(fn, rng):
    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    g = gb.trace(fn, W=W, x=x)
    term_a, term_b = _ae_terms(W, x)
    np.testing.assert_allclose(g.grad("W"), term_a + term_b, rtol=0, atol=1e-12)
    fd = numerical_grads(fn, {"W": W, "x": x})
    np.testing.assert_allclose(g.grad("W"), fd["W"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g.grad("x"), fd["x"], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn", [autoencoder, autoencoder_right], ids=["WtW_x", "Wt_(W_x)"])
def test_autoencoder_W_has_one_contribution_per_closed_form_term(fn, rng):
    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    g = gb.trace(fn, W=W, x=x)
    contribs = g.contributions("W")
    assert len(contribs) == 2
    term_a, term_b = _ae_terms(W, x)
    values = [c.value for c in contribs]
    matched = (np.allclose(values[0], term_a, atol=1e-12) and np.allclose(values[1], term_b, atol=1e-12)) or \
              (np.allclose(values[0], term_b, atol=1e-12) and np.allclose(values[1], term_a, atol=1e-12))
    assert matched, "the two path contributions are not the two closed-form terms"
    # exactly one of the paths goes through the transpose
    through_T = [any(e.dst.op is not None and e.dst.op.name == "transpose" for e in c.path) for c in contribs]
    assert sorted(through_T) == [False, True]
    for c in contribs:
        assert c.path[0].src is g.node("W") and c.path[-1].dst is g.output
        for a, b in zip(c.path, c.path[1:]):
            assert a.dst is b.src
    np.testing.assert_allclose(sum(values), g.grad("W"), atol=1e-12)
    # W is shared: two outgoing edges whose messages sum to its adjoint
    out = g.out_edges("W")
    assert len(out) == 2 and g.node("W").is_shared
    np.testing.assert_allclose(out[0].message + out[1].message, g.grad("W"), atol=1e-12)


def test_autoencoder_x_reaches_the_loss_by_two_paths(rng):
    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    g = gb.trace(autoencoder, W=W, x=x)
    contribs = g.contributions("x")
    assert len(contribs) == 2
    r = W.T @ W @ x - x
    # through the product: (WᵀW)ᵀ r ; through the subtraction: −r
    values = sorted((c.value for c in contribs), key=lambda v: float(v @ r))
    np.testing.assert_allclose(values[0], -r, atol=1e-12)
    np.testing.assert_allclose(values[1], W.T @ W @ r, atol=1e-12)


def test_edges_carry_jacobian_shapes_and_messages_shaped_like_their_source(rng):
    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    g = gb.trace(lambda W, x: np.sum(np.tanh(W @ x)), W=W, x=x)
    (w_edge,) = g.out_edges("W")
    assert w_edge.jacobian_shape == (3, 3, 5)
    assert g.out_edges("x")[0].jacobian_shape == (3, 5)
    z = W @ x
    np.testing.assert_allclose(w_edge.message, np.outer(1 - np.tanh(z) ** 2, x), atol=1e-12)
    for e in g.edges:
        assert e.jacobian_shape == e.dst.shape + e.src.shape
        if e.src.differentiable:
            assert e.message.shape == e.src.shape
        else:
            assert e.message is None


def test_every_adjoint_is_the_sum_of_its_outgoing_messages(rng):
    inputs = swish_inputs(rng)
    g = gb.trace(swish_net, **inputs)
    for n in g.nodes:
        if n is g.output or not n.differentiable:
            continue
        total = sum(e.message for e in n.out_edges)
        np.testing.assert_allclose(n.adjoint, total, atol=1e-14)
    assert g.output.adjoint == 1.0


def test_swish_net_matches_the_hand_derived_backward(rng):
    inputs = swish_inputs(rng)
    g = gb.trace(swish_net, **inputs)
    expected = swish_by_hand(**inputs)
    for key in ("W1", "b1", "W2", "b2", "z", "h1", "z2"):  # parameters and the named intermediates
        np.testing.assert_allclose(g.grad(key), expected[key], rtol=1e-12, atol=1e-12, err_msg=key)
    fd = numerical_grads(swish_net, inputs)
    for key in inputs:
        np.testing.assert_allclose(g.grad(key), fd[key], rtol=1e-5, atol=1e-8, err_msg=key)
    # the textbook names are on the nodes, and z is shared (used twice by swish)
    z_uses = sorted((e.dst.op.name, e.argnum) for e in g.out_edges("z"))
    assert z_uses == [("multiply", 0), ("negative", 0)]  # z · σ(z): z itself, and −z inside σ
    assert [g.node(n).shape for n in ("z", "h1", "z2")] == [(4,), (4,), (2,)]


@pytest.mark.parametrize("expr", [lambda x: np.sum(x * x), lambda x: np.sum(x + x) ** 2 / 4,
                                  lambda x: np.dot(x, x)], ids=["x*x", "x+x", "dot(x,x)"])
def test_same_value_twice_records_two_edges_and_two_paths(expr, rng):
    x = rng.normal(size=4)
    g = gb.trace(expr, x=x)
    out = g.out_edges("x")
    assert [e.argnum for e in out] == [0, 1]
    assert out[0].dst is out[1].dst
    contribs = g.contributions("x")
    assert len(contribs) == 2
    np.testing.assert_allclose(contribs[0].value + contribs[1].value, g.grad("x"), atol=1e-12)
    fd = numerical_grads(expr, {"x": x})["x"]
    np.testing.assert_allclose(g.grad("x"), fd, rtol=1e-6, atol=1e-8)


def test_x_times_x_paths_each_give_half():
    x = np.array([1.0, -2.0, 3.0])
    g = gb.trace(lambda x: np.sum(x * x), x=x)
    for c in g.contributions("x"):
        np.testing.assert_allclose(c.value, x)  # each factor's path gives x; together 2x


def test_broadcasting_gradients_are_summed_back_to_the_input_shape(rng):
    def f(A, b, c, s):
        return np.sum(np.tanh(A * b + c) * s)  # A (3,4), b (4,), c (3,1), s scalar

    inputs = dict(A=rng.normal(size=(3, 4)), b=rng.normal(size=4), c=rng.normal(size=(3, 1)),
                  s=np.float64(0.7))
    g = gb.trace(f, **inputs)
    fd = numerical_grads(f, inputs)
    for key, value in inputs.items():
        assert g.grad(key).shape == np.shape(value)
        np.testing.assert_allclose(g.grad(key), fd[key], rtol=1e-6, atol=1e-8, err_msg=key)


def test_non_scalar_output_needs_a_seed(rng):
    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    with pytest.raises(gb.NonScalarOutputError, match=r"shape \(3,\).*seed=") as err:
        gb.trace(lambda W, x: W @ x, W=W, x=x)
    assert isinstance(err.value, ValueError)
    seed = rng.normal(size=3)
    g = gb.trace(lambda W, x: W @ x, W=W, x=x, seed=seed)
    np.testing.assert_allclose(g.grad("W"), np.outer(seed, x), atol=1e-12)
    np.testing.assert_allclose(g.grad("x"), W.T @ seed, atol=1e-12)
    with pytest.raises(gb.ShapeError, match=r"seed has shape \(2,\).*\(3,\)"):
        gb.trace(lambda W, x: W @ x, W=W, x=x, seed=np.ones(2))


def test_hundred_thousand_op_chain_traces_and_differentiates_without_recursion():
    def chain(x):
        y = x
        for _ in range(100_000):
            y = np.tanh(y)
        return y

    x0 = 0.9
    g = gb.trace(chain, x=x0)
    assert len(g.nodes) == 100_001
    # d/dx of the 100,000-fold tanh: the product of (1 - y_k^2) along the chain, computed directly
    y, d = x0, 1.0
    for _ in range(100_000):
        y = np.tanh(y)
        d *= 1 - y * y
    assert g.value == pytest.approx(y, rel=1e-12)
    assert g.grad("x") == pytest.approx(d, rel=1e-9)
    (c,) = g.contributions("x")
    assert len(c.path) == 100_000 and c.value == pytest.approx(d, rel=1e-9)
    # one path: its messages are the pass's, read not recomputed; one step per node, output first
    assert c.messages[0] is c.value is g.grad("x") and c.messages[-1] is g.edges[-1].message
    steps = g.backward_pass.steps
    assert len(steps) == 100_001 and steps[0].node is g.output and steps[-1].node is g.node("x")
    assert [s.sent[0].edge for s in steps[:3]] == [n.in_edges[0] for n in g.nodes[-1:-4:-1]]


def test_exponentially_many_paths_are_counted_and_limited():
    def doubling(x):
        y = x
        for _ in range(12):
            y = y + y  # every level doubles the number of paths
        return y

    g = gb.trace(doubling, x=1.5)
    assert g.grad("x") == pytest.approx(2.0 ** 12)
    with pytest.raises(gb.PathLimitError, match="4096 paths.*limit=256"):
        g.contributions("x")
    contribs = g.contributions("x", limit=4096)
    assert len(contribs) == 4096
    assert all(c.value == 1.0 for c in contribs)
    assert len({tuple((e.dst.index, e.argnum) for e in c.path) for c in contribs}) == 4096


def test_inputs_that_do_not_reach_the_output_get_zero_gradient_and_no_paths(rng):
    g = gb.trace(lambda a, b: np.sum(a ** 2), a=rng.normal(size=3), b=rng.normal(size=2))
    np.testing.assert_array_equal(g.grad("b"), np.zeros(2))
    assert g.contributions("b") == []


def test_dead_code_is_not_kept(rng):
    def f(a):
        unused = np.exp(a) * 3  # noqa: F841
        return np.sum(a)

    g = gb.trace(f, a=rng.normal(size=3))
    assert [n.op.name for n in g.nodes if n.kind == "op"] == ["sum"]


def test_float32_inputs_get_float32_messages():
    W = np.ones((2, 3), dtype=np.float32)
    x = np.arange(3, dtype=np.float32)
    g = gb.trace(lambda W, x: np.sum(np.tanh(W @ x) * 2.0), W=W, x=x)
    assert g.grad("W").dtype == np.float32 and g.grad("x").dtype == np.float32
    assert all(e.message.dtype == np.float32 for e in g.edges if e.message is not None)


def test_integer_array_inputs_are_not_differentiated():
    g = gb.trace(lambda x, k: np.sum(x * k), x=np.ones(3), k=np.array([1, 2, 3]))
    np.testing.assert_array_equal(g.grad("x"), [1.0, 2.0, 3.0])
    with pytest.raises(gb.TraceError, match="'k' has no gradient.*integer"):
        g.grad("k")
    # Python numbers are differentiated as floats
    assert gb.trace(lambda x: x * x, x=3).grad("x") == 6.0


def test_constants_are_leaves_without_messages():
    g = gb.trace(lambda x: 0.5 * np.sum(x ** 2 + np.ones(2)), x=np.array([1.0, 2.0]))
    consts = [n for n in g.nodes if n.kind == "const"]
    assert sorted(float(n.value) for n in consts if n.shape == ()) == [0.5, 2.0]
    assert [n.shape for n in consts if n.shape != ()] == [(2,)]
    for n in consts:
        assert n.adjoint is None and all(e.message is None for e in n.out_edges)
        with pytest.raises(gb.TraceError):
            g.grad(n.name)


def test_tracing_is_deterministic(rng):
    inputs = swish_inputs(rng)

    def snapshot():
        g = gb.trace(swish_net, **inputs)
        return ([(n.id, n.name, n.kind, n.shape) for n in g.nodes],
                [(e.src.id, e.dst.id, e.argnum) for e in g.edges],
                [e.message.tobytes() for e in g.edges if e.message is not None])

    assert snapshot() == snapshot()


def test_max_and_min_split_ties_evenly():
    g = gb.trace(lambda x: np.max(x), x=np.array([1.0, 3.0, 3.0]))
    np.testing.assert_array_equal(g.grad("x"), [0.0, 0.5, 0.5])
    g = gb.trace(lambda x: np.sum(np.min(x, axis=1)), x=np.array([[2.0, 2.0, 5.0], [1.0, 4.0, 1.0]]))
    np.testing.assert_array_equal(g.grad("x"), [[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]])
    g = gb.trace(lambda x: np.sum(np.maximum(x, 1.0)), x=np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g.grad("x"), [0.5, 1.0])


def test_prod_gradient_with_zeros():
    x = np.array([0.0, 2.0, 3.0])
    g = gb.trace(lambda x: np.prod(x), x=x)
    np.testing.assert_array_equal(g.grad("x"), [6.0, 0.0, 0.0])
    g = gb.trace(lambda x: np.prod(x), x=np.array([0.0, 0.0, 3.0]))
    np.testing.assert_array_equal(g.grad("x"), [0.0, 0.0, 0.0])


def test_power_with_a_zero_exponent_at_zero_has_a_finite_gradient():
    g = gb.trace(lambda x: np.sum(x[:, None] ** np.arange(3.0)), x=np.array([0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(g.grad("x"), [1.0, 3.0, 5.0])  # d/dx (1 + x + x²)
    g = gb.trace(lambda x, y: np.sum(x ** y), x=np.array([0.0, 2.0]), y=np.array([0.0, 0.0]))
    np.testing.assert_array_equal(g.grad("x"), [0.0, 0.0])


def test_non_scalar_output_error_prints_its_message_and_keeps_the_shape(rng):
    with pytest.raises(gb.NonScalarOutputError) as err:
        gb.trace(lambda x: x * 2.0, x=rng.normal(size=(2, 3)))
    assert str(err.value).startswith("the output has shape (2, 3), not a scalar")
    assert err.value.shape == (2, 3)


def test_astronomically_many_paths_are_a_path_limit_error_not_a_formatting_crash():
    def doubling(x):
        y = x
        for _ in range(15_000):
            y = y + y  # 2**15000 paths: a number of 4516 digits
        return y * 0.0  # messages of 0, so no overflow on the way back

    g = gb.trace(doubling, x=0.0)
    with pytest.raises(gb.PathLimitError, match=r"about 10\^451[45] paths, more than limit=256"):
        g.contributions("x")
    src = g.to_dot()  # the drawing's tooltip counts the paths too
    assert "about 10^451" in src


# the backward pass as a value -------------------------------------------------------------------

def test_autoencoder_steps_run_in_reverse_topological_order_and_W_is_complete_after_both_messages(rng):
    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    g = gb.trace(autoencoder, W=W, x=x)
    bp = g.backward_pass
    steps = bp.steps
    assert [s.index for s in steps] == list(range(1, len(steps) + 1))
    # one step per node a gradient flows to, the output first, then backwards in trace order
    assert [s.node for s in steps] == [n for n in reversed(g.nodes) if n.differentiable]
    assert steps[0].node is g.output and steps[0].received == () and steps[0].adjoint == 1.0
    for s in steps:
        assert bp.step_of(s.node) == s.index
        # every consumer ran before: all messages the node receives were produced earlier
        assert all(bp.step_of(e.dst) < s.index for e in s.node.out_edges)
        assert all(m.step < s.index for m in s.received)
        assert [m.edge for m in s.sent] == [e for e in s.node.in_edges if e.src.differentiable]
        assert all(m.step == s.index and m.edge.dst is s.node for m in s.sent)
    assert all(bp.step_of(n) == 0 for n in g.nodes if not n.differentiable)
    # W is shared: its adjoint is complete only once both of its messages have arrived
    Wn = g.node("W")
    (w_step,) = [s for s in steps if s.node is Wn]
    first, second = sorted(w_step.received, key=lambda m: m.step)
    assert first.step < second.step < w_step.index == len(steps)  # W is the first input: the last step
    assert bp.received(Wn, until=first.step - 1) == ()
    assert bp.received(Wn, until=second.step - 1) == (first,)
    assert set(bp.received(Wn, until=second.step)) == {first, second} == set(bp.received(Wn))
    # the Step itself, as steps gives it (it raised: '<=' not supported between int and Step)
    assert bp.received(Wn, until=steps[second.step - 2]) == (first,)
    assert set(bp.received(Wn, until=steps[second.step - 1])) == {first, second}
    with pytest.raises(TypeError, match="a step's index or a Step, not str"):
        bp.received(Wn, until="3")
    term_a, term_b = _ae_terms(W, x)
    np.testing.assert_allclose(w_step.adjoint, term_a + term_b, atol=1e-12)
    np.testing.assert_allclose(first.value + second.value, term_a + term_b, atol=1e-12)
    assert w_step.adjoint is g.grad("W") and w_step.sent == ()


def test_x_times_x_sends_both_messages_at_one_step():
    g = gb.trace(lambda x: np.sum(x * x), x=np.array([1.0, -2.0, 3.0]))
    bp = g.backward_pass
    mul = g.out_edges("x")[0].dst
    (step,) = [s for s in bp.steps if s.node is mul]
    assert [m.edge.argnum for m in step.sent] == [0, 1]
    for m in step.sent:
        np.testing.assert_array_equal(m.value, [1.0, -2.0, 3.0])  # each factor's message is the other
    assert bp.received(g.node("x")) == step.sent


def test_broadcast_add_keeps_the_raw_vjp_result_and_the_summed_axes(rng):
    A, b, c = rng.normal(size=(3, 4)), rng.normal(size=(3, 1)), rng.normal(size=4)
    g = gb.trace(lambda A, b, c: np.sum(np.sin(A + b + c)), A=A, b=b, c=c)
    bp = g.backward_pass
    cos = np.cos(A + b + c)  # d/dz sum(sin z), computed independently
    (eb,) = g.out_edges("b")
    mb = bp.message(eb)
    assert mb.edge is eb and mb.raw.shape == (3, 4) and mb.summed_axes == (1,)
    np.testing.assert_allclose(mb.raw, cos, atol=1e-12)
    np.testing.assert_array_equal(mb.value, mb.raw.sum(axis=1, keepdims=True))
    assert mb.value.shape == (3, 1) and eb.message is mb.value
    (ec,) = g.out_edges("c")
    mc = bp.message(ec)
    assert mc.raw.shape == (3, 4) and mc.summed_axes == (0,) and mc.value.shape == (4,)
    np.testing.assert_array_equal(mc.value, mc.raw.sum(axis=0, keepdims=True).reshape(4))
    np.testing.assert_allclose(mc.value, cos.sum(axis=0), atol=1e-12)
    # A has the sum's shape: nothing was undone, and the raw result is the message itself
    (ea,) = g.out_edges("A")
    ma = bp.message(ea)
    assert ma.summed_axes == () and ma.raw is ma.value is ea.message
    np.testing.assert_allclose(ma.value, cos, atol=1e-12)
    assert bp.message(ea) is ma  # one record per edge
    assert bp.messages == tuple(bp.message(e) for e in g.edges)


def test_backward_does_not_change_the_graph_and_two_seeds_give_two_passes(rng):
    from graphviz_bp.backward import backward
    from graphviz_bp.graph import Edge, Node
    from graphviz_bp.tracer import record

    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    dag = record(lambda W, x: np.tanh(W) @ x, {"W": W, "x": x})
    assert "adjoint" not in Node.__slots__ and "message" not in Edge.__slots__

    def state():
        return [(s, getattr(n, s)) for n in dag.nodes for s in Node.__slots__] + \
               [(s, getattr(e, s)) for e in dag.edges for s in Edge.__slots__]

    before = state()
    s1, s2 = rng.normal(size=3), rng.normal(size=3)
    p1, p2 = backward(dag, s1), backward(dag, s2)
    after = state()
    assert len(before) == len(after) and all(a[0] == b[0] and a[1] is b[1] for a, b in zip(before, after))
    assert dag.backward_pass is None
    assert all(n.adjoint is None for n in dag.nodes) and all(e.message is None for e in dag.edges)
    Wn, xn = dag.node("W"), dag.node("x")
    sech2 = 1 - np.tanh(W) ** 2
    for p, s in ((p1, s1), (p2, s2)):
        np.testing.assert_allclose(p.seed, s)
        np.testing.assert_allclose(p.adjoint(Wn), np.outer(s, x) * sech2, atol=1e-12)
        np.testing.assert_allclose(p.adjoint(xn), np.tanh(W).T @ s, atol=1e-12)
    assert p1.adjoint(Wn) is not p2.adjoint(Wn)
    # the holder attaches one pass, once; the nodes and edges then read it
    dag.attach(p2)
    dag.attach(p2)  # the same pass again is harmless
    with pytest.raises(ValueError, match="attached once"):
        dag.attach(p1)
    assert Wn.adjoint is p2.adjoint(Wn) and xn.out_edges[0].message is p2.message(xn.out_edges[0]).value
    np.testing.assert_allclose(p1.adjoint(Wn), np.outer(s1, x) * sech2, atol=1e-12)  # p1 unchanged
    other = record(lambda W, x: np.sum(W @ x), {"W": W, "x": x})
    with pytest.raises(ValueError, match="another graph"):
        other.attach(p1)


def test_contributions_are_cached_and_reuse_the_pass_messages(rng, monkeypatch):
    from graphviz_bp import backward as backward_module
    from graphviz_bp.ops import Op

    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    g = gb.trace(autoencoder, W=W, x=x)
    calls = []
    vjp = Op.vjp
    monkeypatch.setattr(Op, "vjp", lambda self, *a, **k: calls.append(self.name) or vjp(self, *a, **k))
    first = g.contributions("W")
    n_first = len(calls)
    second = g.contributions("W")
    assert len(second) == 2 and all(a is b for a, b in zip(first, second))
    assert backward_module.contributions(g._dag, g.node("W"), 2)[1] is first[1]  # what the drawing calls
    assert len(calls) == n_first  # the second time runs no VJP rule
    term_a, term_b = _ae_terms(W, x)
    assert sorted([float(np.sum(c.value * term_a)) for c in first]) == \
        pytest.approx(sorted([float(np.sum(term_a * term_a)), float(np.sum(term_b * term_a))]))
    bp = g.backward_pass
    for c in first:
        assert len(c.messages) == len(c.path) and c.messages[0] is c.value
        for e, m in zip(c.path, c.messages):
            assert m.shape == e.src.shape
        # the output's cotangent is the seed on every path: the last edges carry the pass's messages
        assert c.messages[-1] is c.path[-1].message is bp.message(c.path[-1]).value
    # every node past W has one consumer, so each path's messages are the pass's: no VJP rule ran,
    # and the two contributions are the messages on W's two edges
    assert n_first == 0
    assert sorted(id(c.value) for c in first) == sorted(id(e.message) for e in g.out_edges("W"))

    # exp(x) is shared: below it each path carries its own cotangent, so exp's rule runs once per path
    calls.clear()
    x = rng.normal(size=4)

    def square_of_exp(x):
        y = np.exp(x)
        return np.sum(y * y)

    k = gb.trace(square_of_exp, x=x)
    calls.clear()
    paths = k.contributions("x")
    assert calls == ["exp", "exp"]
    calls.clear()
    assert all(a is b for a, b in zip(k.contributions("x"), paths)) and calls == []
    for c in paths:
        np.testing.assert_allclose(c.value, np.exp(2 * x), rtol=1e-12)  # each factor's path: e^x · e^x

    # a chain has one path: its contribution is read from the pass, with no VJP rule run at all
    calls.clear()
    h = gb.trace(lambda x: np.sum(np.tanh(np.exp(x) * 2.0)), x=rng.normal(size=4))
    n_trace = len(calls)
    (c,) = h.contributions("x")
    assert len(calls) == n_trace
    assert all(m is e.message for e, m in zip(c.path, c.messages)) and c.value is h.grad("x")


def test_the_pass_and_its_records_are_read_only(rng):
    import dataclasses

    g = gb.trace(lambda x: np.sum(x * x), x=rng.normal(size=3))
    bp = g.backward_pass
    m = bp.message(g.edges[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.value = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        bp.steps[0].node = None
    with pytest.raises(AttributeError):
        bp.seed = np.ones(())
    with pytest.raises(AttributeError):
        g.edges[0].message = None
    assert g.backward_pass is bp and g.output.dag.backward_pass is bp
