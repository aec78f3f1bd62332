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
