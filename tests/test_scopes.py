"""Scopes: every op knows the function calls, ``gb.group`` blocks and loop iterations it was made
in, as the user's code has them (issue 13: groups and folding are built on this)."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import graphviz_bp as gb

RNG = np.random.default_rng(5)


def chain(n):
    return [(s.kind, s.title) for s in n.scope.chain] if n.scope is not None else []


def ops_of(g, name):
    return [n for n in g.nodes if n.kind == "op" and n.op.name == name]


def layer(W, b, h):
    return np.tanh(W @ h + b)


def mlp(X, Ws, bs):
    h = X
    for i in range(len(Ws)):
        h = layer(Ws[i], bs[i], h)
    return 0.5 * np.sum(h ** 2)


def test_a_layer_written_as_a_function_is_one_call_scope_per_call_inside_its_iteration():
    g = gb.trace(mlp, X=RNG.normal(size=(4, 2)), Ws=RNG.normal(size=(3, 4, 4)), bs=RNG.normal(size=(3, 4, 1)))
    tanhs = ops_of(g, "tanh")
    assert [chain(n) for n in tanhs] == [
        [("loop", "for i in range(len(Ws)):"), ("iteration", f"iteration {k}"), ("call", "layer()")]
        for k in range(3)]
    calls = [n.scope for n in tanhs]
    assert len({id(c) for c in calls}) == 3  # three calls, three scopes
    loop = {id(c.parent.parent) for c in calls}
    assert len(loop) == 1  # one run of one loop
    for n in ops_of(g, "matmul") + ops_of(g, "add"):  # the whole layer is inside its call
        assert n.scope.kind == "call"
    for n in g.nodes:
        if n.kind == "input":
            assert n.scope is None
    loss = [n for n in g.nodes if n.kind == "op" and n.op.name in ("power", "sum", "multiply")]
    assert loss and all(n.scope is None for n in loss)  # the traced function's own body
    assert calls[0].source.function == "layer" and calls[0].source.lineno == layer.__code__.co_firstlineno


def test_groups_nest_with_loops_as_the_source_nests_them():
    def f(x):
        with gb.group("encoder"):
            for i in range(2):
                with gb.group(f"block {i}"):
                    x = np.tanh(x)
                x = x * 2.0
        with gb.group("head"):
            return np.sum(x)

    g = gb.trace(f, x=RNG.normal(size=3))
    assert [chain(n) for n in ops_of(g, "tanh")] == [
        [("group", "encoder"), ("loop", "for i in range(2):"), ("iteration", f"iteration {k}"),
         ("group", f"block {k}")] for k in range(2)]
    assert [chain(n)[-1] for n in ops_of(g, "multiply")] == [("iteration", "iteration 0"),
                                                            ("iteration", "iteration 1")]
    assert chain(ops_of(g, "sum")[0]) == [("group", "head")]


def test_each_pass_through_a_loop_is_an_iteration_even_when_its_body_is_one_call():
    def f(h):
        for _ in range(4):
            h = np.tanh(h)
        k = 0
        while k < 3:
            h = np.sin(h)
            k += 1
        return np.sum(h)

    g = gb.trace(f, h=RNG.normal(size=2))
    assert [chain(n)[-1] for n in ops_of(g, "tanh")] == [("iteration", f"iteration {k}") for k in range(4)]
    assert [chain(n) for n in ops_of(g, "sin")] == [[("loop", "while k < 3:"), ("iteration", f"iteration {k}")]
                                                    for k in range(3)]


def test_a_loop_inside_an_iteration_starts_again_in_each_outer_iteration():
    def f(h):
        for t in range(2):
            h = h * 2.0
            for _ in range(3):
                h = np.tanh(h)
        return np.sum(h)

    g = gb.trace(f, h=RNG.normal(size=2))
    got = [chain(n) for n in ops_of(g, "tanh")]
    assert got == [[("loop", "for t in range(2):"), ("iteration", f"iteration {t}"),
                    ("loop", "for _ in range(3):"), ("iteration", f"iteration {k}")]
                   for t in range(2) for k in range(3)]
    inner_runs = {id(n.scope.parent) for n in ops_of(g, "tanh")}
    assert len(inner_runs) == 2


def test_a_generator_expressions_passes_are_iterations_and_it_is_no_call():
    def f(x):
        Ws = [np.eye(2), 2 * np.eye(2), 3 * np.eye(2)]
        return sum(np.sum(np.tanh(W @ x)) for W in Ws)

    g = gb.trace(f, x=RNG.normal(size=2))
    assert [chain(n)[-1] for n in ops_of(g, "tanh")] == [("iteration", f"iteration {k}") for k in range(3)]
    assert all(s.kind != "call" for n in ops_of(g, "tanh") for s in n.scope.chain)
    np.testing.assert_allclose(g.value, f(np.asarray(g.node("x").value)))


def test_nested_calls_give_nested_call_scopes():
    def inner(h):
        return np.tanh(h)

    def outer(h):
        return inner(h) * 2.0

    def f(x):
        return np.sum(outer(x))

    g = gb.trace(f, x=RNG.normal(size=2))
    assert chain(ops_of(g, "tanh")[0]) == [("call", "outer()"), ("call", "inner()")]
    assert chain(ops_of(g, "multiply")[0]) == [("call", "outer()")]


def test_scopes_are_deterministic_and_gradients_do_not_change():
    X, Ws, bs = RNG.normal(size=(4, 2)), RNG.normal(size=(3, 4, 4)), RNG.normal(size=(3, 4, 1))
    a, b = gb.trace(mlp, X=X, Ws=Ws, bs=bs), gb.trace(mlp, X=X, Ws=Ws, bs=bs)
    assert [(chain(n), n.scope.number if n.scope else 0) for n in a.nodes] == \
        [(chain(n), n.scope.number if n.scope else 0) for n in b.nodes]
    assert a.draw().to_dot() == b.draw().to_dot()
    assert gb.check(mlp, {"X": X, "Ws": Ws, "bs": bs}).passed


def test_a_group_outside_a_trace_does_nothing_and_needs_a_label():
    with gb.group("plain"):
        assert float(np.sum(np.ones(2))) == 2.0
    for bad in ("", "  ", None, 3):
        with pytest.raises(TypeError, match="non-empty string"):
            gb.group(bad)


def test_groups_of_two_threads_do_not_mix():
    results: dict[str, list] = {}
    barrier = threading.Barrier(2)

    def run(label):
        def f(x):
            with gb.group(label):
                barrier.wait(timeout=10)
                y = np.tanh(x)
                barrier.wait(timeout=10)
            return np.sum(y)

        g = gb.trace(f, x=np.ones(2))
        results[label] = [chain(n) for n in ops_of(g, "tanh")]

    threads = [threading.Thread(target=run, args=(k,)) for k in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"left": [[("group", "left")]], "right": [[("group", "right")]]}


def test_an_expression_of_the_command_line_has_no_scopes():
    from graphviz_bp.expr.check import parse

    expression = parse("sum(tanh(W @ x))")
    g = gb.trace(expression, {"W": RNG.normal(size=(2, 2)), "x": RNG.normal(size=2)})
    assert len(g.nodes) == 5 and all(n.scope is None for n in g.nodes)


def test_nested_loops_with_nothing_between_them_still_nest():
    """``for t: for l: h = f(h)``: the bytecode offsets cannot tell the inner loop going round
    from the outer one going round and the inner one starting again; the outer loop's variable can."""
    def f(h, Ws):
        for t in range(3):
            for k, W in enumerate(Ws):
                h = np.tanh(W @ h)
        return np.sum(h)

    g = gb.trace(f, h=RNG.normal(size=2), Ws=RNG.normal(size=(2, 2, 2)))
    got = [chain(n) for n in ops_of(g, "tanh")]
    assert got == [[("loop", "for t in range(3):"), ("iteration", f"iteration {t}"),
                    ("loop", "for k, W in enumerate(Ws):"), ("iteration", f"iteration {k}")]
                   for t in range(3) for k in range(2)]
    from graphviz_bp.drawing.structure import group_tree, repeats

    (outer, *_) = repeats(group_tree(g._dag))
    assert outer.count == 3  # the three passes of the outer loop repeat


def test_a_generator_read_by_sum_has_one_iteration_per_item_past_cpythons_specialization():
    # logp[y[t], 0, t] calls Traced.__getitem__; after a few runs CPython specializes the instruction
    # and the frame reports the offset of its inline cache instead: the same op, the same place
    def f(z):
        y = [4, 0, 2, 0, 3, 5, 1, 6, 2, 2, 0, 4, 3, 1]
        return -sum(z[y[t], 0, t] for t in range(len(y)))

    g = gb.trace(f, z=RNG.normal(size=(7, 1, 14)))
    picks = [n for n in g.nodes if n.kind == "op" and n.op.name == "index"]
    assert [chain(n)[-1] for n in picks] == [("iteration", f"iteration {t}") for t in range(14)]


def test_a_loop_calling_a_layer_twenty_times_has_twenty_iterations_of_one_call_each():
    def net(X, Ws, bs):
        h = X
        for k in range(len(Ws)):
            h = layer(Ws[k], bs[k], h)  # a call CPython specializes after a few runs
        return np.sum(h)

    g = gb.trace(net, X=RNG.normal(size=(3, 2)), Ws=RNG.normal(size=(20, 3, 3)), bs=RNG.normal(size=(20, 3, 1)))
    tanhs = ops_of(g, "tanh")
    assert [chain(n)[1] for n in tanhs] == [("iteration", f"iteration {k}") for k in range(20)]
    assert all(chain(n)[-1] == ("call", "layer()") for n in tanhs)


def test_zip_over_two_traced_stacks_takes_one_item_of_each_per_iteration():
    def net(X, Ws, bs):
        h = X
        for W, b in zip(Ws, bs):  # each step advances two generators, at one instruction
            h = layer(W, b, h)
        return 0.5 * np.sum(h ** 2)

    depth = 30
    Ws, bs = RNG.normal(size=(depth, 4, 4)) / 2, RNG.normal(size=(depth, 4, 1))
    g = gb.trace(net, X=RNG.normal(size=(4, 3)), Ws=Ws, bs=bs)
    iterations = {}
    for n in g.nodes:
        if n.scope is not None:
            step = [s for s in n.scope.chain if s.kind == "iteration"][0]
            iterations.setdefault(step.title, []).append(n.op.name)
    assert list(iterations) == [f"iteration {k}" for k in range(depth)]
    assert all(ops == ["index", "index", "matmul", "add", "tanh"] for ops in iterations.values())
    assert "× 30, drawn once" in g.to_dot()  # and so the net folds
    h = np.asarray(g.node("X").value)
    for W, b in zip(Ws, bs):
        h = np.tanh(W @ h + b)
    np.testing.assert_allclose(g.value, 0.5 * np.sum(h ** 2))


def test_a_layer_written_as_a_class_is_titled_with_its_class():
    class Dense:
        def __init__(self, W):
            self.W = W

        def forward(self, h):
            return np.tanh(self.W @ h)

    class Net:
        def __init__(self, Ws):
            self.layers = [Dense(W) for W in Ws]

        def forward(self, h):
            for layer_ in self.layers:
                h = layer_.forward(h)
            return np.sum(h)

    def loss(W1, W2, x):
        return Net([W1, W2]).forward(x)

    g = gb.trace(loss, W1=RNG.normal(size=(3, 3)), W2=RNG.normal(size=(3, 3)), x=RNG.normal(size=3))
    titles = [[t for kind, t in chain(n) if kind == "call"] for n in ops_of(g, "tanh")]
    assert titles == [["Net.forward()", "Dense.forward()"]] * 2


def test_nested_while_loops_count_the_outer_loops_iterations():
    def conv(img, w):  # as from-scratch CNNs slide a filter: two while loops, nothing between their ops
        out = np.zeros((3, 3))
        y = oy = 0
        while y + 2 <= 4:
            x = ox = 0
            while x + 2 <= 4:
                out[oy, ox] = np.sum(img[y:y + 2, x:x + 2] * w)
                x += 1
                ox += 1
            y += 1
            oy += 1
        return np.sum(out ** 2)

    g = gb.trace(conv, img=RNG.normal(size=(4, 4)), w=RNG.normal(size=(2, 2)))
    steps = [tuple(s.index for s in n.scope.chain if s.kind == "iteration") for n in ops_of(g, "multiply")]
    assert steps == [(a, b) for a in range(3) for b in range(3)]


def test_a_while_loop_whose_body_starts_with_a_for_is_titled_with_its_while():
    """k-means' fit: the while loop's frames took its body's first line, the inner for's header."""
    def fit(X):
        c = np.zeros((2, 2))
        count = 0
        while count < 2:
            for i in range(2):
                c[i, :] = X[i::2].mean(axis=0) * (count + 1)
            count += 1
        return np.sum(c ** 2)

    g = gb.trace(fit, X=RNG.normal(size=(4, 2)))
    titles = [(s.kind, s.label) for n in ops_of(g, "multiply") for s in n.scope.chain if s.kind == "iteration"]
    assert {label for _, label in titles} == {"while count < 2:", "for i in range(2):"}
    chains = [[s.label for s in n.scope.chain if s.kind == "iteration"] for n in ops_of(g, "multiply")]
    assert all(c == ["while count < 2:", "for i in range(2):"] for c in chains), chains


def test_a_loop_header_on_two_lines_is_quoted_whole():
    """It was quoted by its first line: "for (t,"."""
    def f(W, xs):
        h = np.zeros(3)
        for (t,
             x) in enumerate(xs):  # a header on two lines
            h = np.tanh(W @ h + x)
        for k in range(2): h = h * 2.0  # noqa: E701 - one line: the next line is not its header's
        return np.sum(h)

    g = gb.trace(f, W=np.eye(3) * 0.5, xs=np.ones((4, 3)))
    labels = {s.label for n in g.nodes if n.scope for s in n.scope.chain}
    assert labels == {"for (t, x) in enumerate(xs):", "for k in range(2): h = h * 2.0"}


def test_a_loops_title_leaves_its_comment_out():
    def f(h):
        for t in range(3):  # three steps, as the comment says
            h = np.tanh(h)
        return np.sum(h)

    g = gb.trace(f, h=RNG.normal(size=2))
    assert {chain(n)[0] for n in ops_of(g, "tanh")} == {("loop", "for t in range(3):")}


def test_a_continue_is_no_loop_of_its_own():
    def f(x):
        U = 0.0
        for j in range(1, 4):
            r = x[j] - x[0]
            r2 = np.dot(r, r)
            if r2.value == 0.0:
                continue  # a second jump back to the loop's head, after the op
            U += r2
        return U

    g = gb.trace(f, x=RNG.normal(size=(4, 2)))
    assert [chain(n) for n in ops_of(g, "dot")] == [[("loop", "for j in range(1, 4):"), ("iteration", f"iteration {j}")]
                                                     for j in range(1, 4)]  # (numbered by j)


def test_iterations_of_a_counted_loop_are_numbered_by_its_counter():
    """``for i, layer in enumerate(layers)`` where layers[0] makes no op (it reads plain data only):
    the others were numbered 0, 1, 2 by the passes that made ops, and read as layers[0] to [2]."""
    X = RNG.normal(size=(2, 3))

    def f(W1, W2):
        layers = [lambda h: h + 1.0, lambda h: np.tanh(h @ W1), lambda h: np.tanh(h @ W2)]
        h = X
        for i, layer in enumerate(layers):
            h = layer(h)
        for k in range(2):  # and a plain range, every pass making ops: 0, 1 as before
            h = h * 2.0
        return np.sum(h)

    g = gb.trace(f, W1=RNG.normal(size=(3, 3)), W2=RNG.normal(size=(3, 3)))
    assert [[s for s in chain(n) if s[0] == "iteration"] for n in ops_of(g, "tanh")] == [
        [("iteration", "iteration 1")], [("iteration", "iteration 2")]]
    assert [[s for s in chain(n) if s[0] == "iteration"] for n in ops_of(g, "multiply")] == [
        [("iteration", "iteration 0")], [("iteration", "iteration 1")]]


def steps_of(g, name):
    """For each op ``name``: the indices of the iterations it is in, outermost first."""
    return [tuple(s.index for s in n.scope.chain if s.kind == "iteration") for n in ops_of(g, name)]


def test_iterations_that_take_other_branches_of_an_if_are_iterations_of_their_own():
    """The second iteration's op is further on in the code than the first's: the loop's variable
    says the loop went round."""
    def f(W, h):
        for i in range(6):
            if i % 2 == 0:
                h = np.tanh(W @ h)
            else:
                h = np.sin(W @ h)
        return np.sum(h)

    g = gb.trace(f, W=RNG.normal(size=(3, 3)) / 2, h=RNG.normal(size=3))
    assert steps_of(g, "matmul") == [(k,) for k in range(6)]
    assert steps_of(g, "tanh") == [(0,), (2,), (4,)] and steps_of(g, "sin") == [(1,), (3,), (5,)]


def test_a_branch_inside_a_layer_call_and_a_conditional_expression_split_iterations_too():
    def f(W, h):
        for k, scale in enumerate([1.0, 2.0, 3.0, 4.0]):
            h = layer(W, h, h) if k % 2 else np.cos(W @ h) * scale
        return np.sum(h)

    g = gb.trace(f, W=RNG.normal(size=(3, 3)) / 2, h=RNG.normal(size=(3, 1)))
    assert steps_of(g, "matmul") == [(k,) for k in range(4)]


def test_an_outer_loop_over_one_weight_three_times_has_three_iterations():
    """``for M in [W, W, W]``: the outer variable holds the same array each time; the inner loop's
    counter starting again at 0 says the outer loop went round."""
    def f(W, h):
        for M in [W, W, W]:
            for j in range(2):
                h = np.tanh(M @ h)
        return np.sum(h)

    g = gb.trace(f, W=RNG.normal(size=(3, 3)) / 2, h=RNG.normal(size=3))
    assert steps_of(g, "tanh") == [(a, b) for a in range(3) for b in range(2)]


def test_nested_loops_that_share_their_variable_count_each_loops_iterations():
    def f(h):
        for _ in range(4):
            for _ in range(3):
                h = np.tanh(h)
        return np.sum(h)

    g = gb.trace(f, h=RNG.normal(size=2))
    assert steps_of(g, "tanh") == [(a, b) for a in range(4) for b in range(3)]


def test_an_inner_loop_that_meets_its_first_weight_again_is_not_a_new_outer_iteration():
    def f(W1, W2, h):
        for epoch in range(2):
            for W in [W1, W2, W1]:  # tied weights: W1 comes back within one run
                h = np.tanh(W @ h)
        return np.sum(h)

    g = gb.trace(f, W1=RNG.normal(size=(3, 3)) / 2, W2=RNG.normal(size=(3, 3)) / 2, h=RNG.normal(size=3))
    assert steps_of(g, "tanh") == [(a, b) for a in range(2) for b in range(3)]


def test_a_loop_whose_body_assigns_its_own_variable_still_counts_by_the_code():
    def f(h, xs):
        for i in range(3):
            x = xs[i]
            if i % 2:
                x = x * 2.0  # not the loop's variable: the loop's is i
            for x2 in (x,):
                x2 = np.sin(x2)  # the inner variable, assigned again in its body
                h = h + x2
        return np.sum(h)

    g = gb.trace(f, h=RNG.normal(size=2), xs=RNG.normal(size=(3, 2)))
    assert steps_of(g, "sin") == [(a, 0) for a in range(3)]


def test_what_sum_adds_of_a_generators_items_is_in_the_iteration_that_made_each_item():
    """``sum(np.sum(W * W) for W in Ws)``: builtin sum adds each item as it comes, at the caller's
    line; the adds belonged to no iteration, so a 30-layer regulariser was a chain of 30 adds."""
    def f(Ws):
        return 0.01 * sum(np.sum(W * W) for W in Ws)

    def layers(Ws):
        for W in Ws:
            yield np.sum(np.tanh(W))

    def g_(Ws):
        total = 0.0
        for t in range(2):
            total = total + sum(layers(Ws)) * (t + 1.0)
        return total

    Ws = RNG.normal(size=(5, 3, 3))
    g = gb.trace(f, Ws=Ws)
    assert steps_of(g, "add") == [(k,) for k in range(5)]
    assert steps_of(g, "sum") == [(k,) for k in range(5)]
    np.testing.assert_allclose(g.grad("Ws"), 0.02 * Ws)
    g = gb.trace(g_, Ws=Ws)
    adds = [chain(n) for n in ops_of(g, "add")]
    driven = [c for c in adds if ("call", "layers()") in c]
    assert [[s for s in c if s[0] == "iteration"] for c in driven] == [
        [("iteration", f"iteration {t}"), ("iteration", f"iteration {k}")] for t in range(2) for k in range(5)]
    assert len(adds) == len(driven) + 2  # the loop's own total + ..., once per pass
    want = sum(np.sum(np.tanh(W)) for W in Ws) * 3.0
    np.testing.assert_allclose(g.value, want)


def test_another_branch_is_another_iteration_whatever_the_loop_variable_holds():
    """The code cannot run from one arm of an ``if`` to the other without going round the loop:
    that tells iterations apart where the loop's variable cannot (the same object each time, a
    variable a closure reads, a ``while`` loop)."""
    def same_object(W, h):
        k = 0
        for M in [W, W, W, W]:
            k += 1
            if k % 2:
                h = np.tanh(M @ h)
            else:
                h = np.sin(M @ h)
        return np.sum(h)

    def captured(W, h):
        for i in range(4):
            scale = lambda: float(i + 1)  # noqa: E731 - i is a cell now, not a plain local
            if i % 2:
                h = np.tanh(W @ h) * scale()
            else:
                h = np.sin(W @ h)
        return np.sum(h)

    def while_loop(W, h):
        i = 0
        while i < 6:
            if i % 2:
                h = np.tanh(W @ h)
            else:
                h = np.sin(W @ h)
            i += 1
        return np.sum(h)

    def inner_branch(W, h):
        for M in [W, W, W]:
            for j in range(2):
                if j == 1:
                    h = np.tanh(M @ h)
                else:
                    h = h * 2.0
        return np.sum(h)

    W, h = RNG.normal(size=(3, 3)) / 2, RNG.normal(size=3)
    assert steps_of(gb.trace(same_object, W=W, h=h), "matmul") == [(k,) for k in range(4)]
    assert steps_of(gb.trace(captured, W=W, h=h), "matmul") == [(k,) for k in range(4)]
    assert steps_of(gb.trace(while_loop, W=W, h=h), "matmul") == [(k,) for k in range(6)]
    g = gb.trace(inner_branch, W=W, h=h)
    assert steps_of(g, "multiply") == [(a, 0) for a in range(3)] and steps_of(g, "tanh") == [(a, 1) for a in range(3)]


def test_a_generator_functions_items_are_made_in_the_iteration_that_reads_them():
    def items(Ms, x):
        for M in Ms:
            yield np.tanh(M @ x)

    def f(W, V, U, x):
        acc = 0.0
        for y in items([W, V, U], x):
            acc = acc + np.sum(y * y)
        return acc

    g = gb.trace(f, W=RNG.normal(size=(2, 2)), V=RNG.normal(size=(2, 2)), U=RNG.normal(size=(2, 2)),
                 x=RNG.normal(size=2))
    assert [chain(n)[:3] for n in ops_of(g, "tanh")] == [
        [("loop", "for y in items([W, V, U], x):"), ("iteration", f"iteration {k}"), ("call", "items()")]
        for k in range(3)]


def test_the_loops_of_one_comprehension_are_titled_by_their_own_clauses():
    def f(A, B):
        params = [(A, B), (B, A)]
        flat = np.concatenate([np.ravel(v) for Wb in params for v in Wb])
        return np.sum(flat ** 2)

    g = gb.trace(f, A=RNG.normal(size=(2, 2)), B=RNG.normal(size=(2, 2)))
    titles = {tuple(t for kind, t in chain(n) if kind == "loop") for n in ops_of(g, "ravel")}
    assert titles == {("for Wb in params", "for v in Wb")}, titles
    g = gb.trace(lambda x: sum(np.sum(np.tanh(r)) for r in x), x=RNG.normal(size=(3, 2)))
    assert {chain(n)[0][1] for n in ops_of(g, "tanh")} == {
        "g = gb.trace(lambda x: sum(np.sum(np.tanh(r)) for r in x), x=RNG.normal(size=(3, 2)))"}  # one clause: the line


def test_an_inner_loop_over_a_list_that_repeats_a_number_is_no_new_outer_iteration():
    """Only a counter of ``range`` or ``enumerate`` takes each value once in a run: ``for k in
    [1, 2, 1]`` meeting 1 again is its third iteration, not the outer loop going round."""
    def f(x):
        for _ in range(1):
            for k in [1, 2, 1]:
                x = np.tanh(x * k)
        return np.sum(x)

    g = gb.trace(f, x=RNG.normal(size=3))
    assert steps_of(g, "tanh") == [(0, 0), (0, 1), (0, 2)]


def test_two_comprehensions_on_one_line_with_one_variable_keep_their_own_titles():
    def f(A, B):
        return np.sum(sum([np.tanh(W) for W in [A, B]]) + sum([np.sin(W) for W in [B, A]]))

    g = gb.trace(f, A=RNG.normal(size=2), B=RNG.normal(size=2))
    tanh = {t for n in ops_of(g, "tanh") for kind, t in chain(n) if kind == "loop"}
    sin = {t for n in ops_of(g, "sin") for kind, t in chain(n) if kind == "loop"}
    if sys.version_info < (3, 11):  # no columns in the bytecode: the whole line, for both
        line = "        return np.sum(sum([np.tanh(W) for W in [A, B]]) + sum([np.sin(W) for W in [B, A]]))".strip()
        assert tanh == sin == {line}, (tanh, sin)
    else:
        assert tanh == {"for W in [A, B]"} and sin == {"for W in [B, A]"}, (tanh, sin)


class _Module:
    """A from-scratch framework's base class: calling a layer runs its ``forward``."""

    def __call__(self, *args):
        return self.forward(*args)


class _TanhLayer(_Module):
    def __init__(self, W):
        self.W = W

    def forward(self, x):
        return np.tanh(x @ self.W)


class _Net(_Module):
    def __init__(self, W1, W2):
        self.l1, self.l2 = _TanhLayer(W1), _TanhLayer(W2)

    def forward(self, x):
        return self.l2(self.l1(x))


def test_a_call_that_only_calls_another_is_not_a_scope_of_its_own():
    """``Module.__call__`` returning ``self.forward(x)`` framed every layer twice, and counted twice
    in ``depth``: the layer's ``forward`` takes its place."""
    W1, W2, x = RNG.normal(size=(3, 3)), RNG.normal(size=(3, 2)), RNG.normal(size=(2, 3))
    g = gb.trace(lambda W1, W2, x: np.sum(_Net(W1, W2)(x)), W1=W1, W2=W2, x=x)
    assert {tuple(chain(n)) for n in ops_of(g, "tanh")} == {(("call", "_Net.forward()"), ("call", "_TanhLayer.forward()"))}
    for n in ops_of(g, "tanh"):
        assert [s.depth for s in n.scope.chain] == [0, 1]
    scene = g.draw(depth=1).scene()  # the layers are one level down: each a box
    boxes = [n for n in scene.nodes if n.id.startswith("box_")]
    assert sorted(b.text.splitlines()[0] for b in boxes) == ["_TanhLayer.forward()"] * 2
    h = np.tanh(x @ W1)
    np.testing.assert_allclose(g.grad("W2"), h.T @ (1 - np.tanh(h @ W2) ** 2))


def _block(x, W):
    return np.tanh(W @ x)


def _encoder(x, W):
    return _block(x, W)


def _outer(x, W):
    return _encoder(x, W)


def test_a_wrapper_of_the_users_is_named_in_the_title_of_the_call_it_makes():
    g = gb.trace(lambda W, x: np.sum(_encoder(x, W)), W=RNG.normal(size=(3, 3)), x=RNG.normal(size=3))
    (n,) = ops_of(g, "tanh")
    assert chain(n) == [("call", "_encoder() → _block()")]
    g = gb.trace(lambda W, x: np.sum(_outer(x, W)), W=RNG.normal(size=(3, 3)), x=RNG.normal(size=3))
    (n,) = ops_of(g, "tanh")
    assert chain(n) == [("call", "_outer() → _encoder() → _block()")]


def _scaled(x, W):
    return 2.0 * _block(x, W)  # an op of its own


def _twice(x, W):
    return _block(_block(x, W), W)  # two calls


@pytest.mark.parametrize("fn", [_scaled, _twice])
def test_a_call_that_makes_an_op_or_two_calls_is_a_scope_of_its_own(fn):
    g = gb.trace(lambda W, x: np.sum(fn(x, W)), W=RNG.normal(size=(3, 3)), x=RNG.normal(size=3))
    assert {tuple(chain(n)[:2]) for n in ops_of(g, "tanh")} == {(("call", f"{fn.__name__}()"), ("call", "_block()"))}


def _logged(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args)
    return wrapper


@_logged
def _logged_dense(x, W):
    return np.tanh(W @ x)


_sigma = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731 - as utils modules write activations


def test_wrappers_that_say_nothing_of_their_own_are_left_out_of_titles():
    """A decorator's wrapper around each layer titled every frame ``wrapper() → dense()``, and
    ``functools.reduce(lambda h, layer: layer(h), ...)`` ``<lambda>() → Dense.forward()``; a
    lambda bound to a name is titled with it."""
    import functools

    x, W1, W2 = RNG.normal(size=3), RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3))
    g = gb.trace(lambda W1, W2, x: np.sum(_logged_dense(_logged_dense(x, W1), W2)), W1=W1, W2=W2, x=x)
    assert {tuple(chain(n)) for n in ops_of(g, "tanh")} == {(("call", "_logged_dense()"),)}
    layers = [_TanhLayer(W1), _TanhLayer(W2)]

    def net(W1, W2, x):
        layers[0].W, layers[1].W = W1, W2
        return np.sum(functools.reduce(lambda h, layer: layer(h), layers, x[None, :]))

    g = gb.trace(net, W1=W1, W2=W2, x=x)
    assert {tuple(chain(n)) for n in ops_of(g, "tanh")} == {(("call", "_TanhLayer.forward()"),)}
    g = gb.trace(lambda x: np.sum(_sigma(x)), x=x)
    assert {tuple(chain(n)) for n in ops_of(g, "exp")} == {(("call", "_sigma()"),)}
    np.testing.assert_allclose(g.grad("x"), _sigma(x) * (1 - _sigma(x)))


def _apply(x, fn):
    return fn(x)


def _make_encoder(block):
    def encoder(x):  # a factory's closure over a function, named: not a decorator's wrapper
        return block(x)
    return encoder


def test_a_lambda_is_titled_with_its_own_binding_and_a_named_closure_keeps_its_name():
    from typing import Callable

    W = RNG.normal(size=(3, 3)) * 0.5

    def annotated(W):
        act: Callable = lambda x: np.tanh(W @ x)  # noqa: E731 - "act", not the annotation
        return np.sum(act(np.ones(3)))

    def two_on_a_line(W):
        act = lambda x: np.sin(_apply(W @ x, lambda y: np.tanh(y) * 2))  # noqa: E731
        return np.sum(act(np.ones(3)))

    def factory(W):
        def block_fn(x):
            return np.tanh(W @ x)
        return np.sum(_make_encoder(block_fn)(np.ones(3)))

    assert {tuple(chain(n)) for n in ops_of(gb.trace(annotated, W=W), "tanh")} == {(("call", "act()"),)}
    g = gb.trace(two_on_a_line, W=W)
    assert [tuple(chain(n)) for n in ops_of(g, "sin")] == [(("call", "act()"),)]
    assert [tuple(chain(n)) for n in ops_of(g, "tanh")] == [(("call", "act()"), ("call", "_apply() → <lambda>()"))]
    g = gb.trace(factory, W=W)
    assert [tuple(chain(n)) for n in ops_of(g, "tanh")] == [(("call", "encoder() → block_fn()"),)]


def test_an_enumerate_with_its_items_unpacked_is_numbered_by_its_counter():
    X = RNG.normal(size=(2, 3))

    def f(W):
        h = X
        for i, (a, b) in enumerate(zip([0.0, 1.0, 2.0], [3.0, 4.0, 5.0])):
            if i > 0:  # the first pass makes no op
                h = np.tanh(h @ W) * a + b
        return np.sum(h)

    g = gb.trace(f, W=RNG.normal(size=(3, 3)))
    assert [[s for s in chain(n) if s[0] == "iteration"] for n in ops_of(g, "tanh")] == [
        [("iteration", "iteration 1")], [("iteration", "iteration 2")]]


def test_a_counted_loop_is_numbered_by_its_counter_however_its_header_is_written():
    """``for (i) in range(5, 8)``, a header over two lines: numbered 5, 6, 7 from the bytecode, not
    from the header's text; ``zip(ks, range(3))`` is no counter of its own (numbered by passes)."""
    X = RNG.normal(size=3)

    def parenthesized(x):
        h = x
        for (i) in range(5, 8):
            h = np.tanh(h) * i
        return np.sum(h)

    def two_lines(x):
        h = x
        for i in \
                range(5, 8):
            h = np.tanh(h) * i
        return np.sum(h)

    def zipped(x):
        h = x
        for k, i in zip([5, 7, 9], range(3)):
            h = np.tanh(h) * k
        return np.sum(h)

    for f, want in ((parenthesized, [5, 6, 7]), (two_lines, [5, 6, 7]), (zipped, [0, 1, 2])):
        g = gb.trace(f, x=X)
        assert [[s for s in chain(n) if s[0] == "iteration"] for n in ops_of(g, "tanh")] == [
            [("iteration", f"iteration {k}")] for k in want], f.__name__


def test_a_counted_loop_over_a_traced_array_is_numbered_by_its_counter():
    """``for t, x in enumerate(X, start=1)`` over a traced X: each pass's first op is the header's
    ``X[k]``, made before the header assigns ``t``; the pass is numbered by ``t`` once its body
    runs (it was numbered 0, 1, 2 by passes beside states named h1, h2, h3)."""
    def f(W, X):
        h = np.zeros(3)
        for t, x in enumerate(X, start=1):
            h = np.tanh(W @ h + x)
        return np.sum(h)

    def ranged(W, X):
        h = np.zeros(3)
        for t in range(4, 7):  # no header op: as before
            h = np.tanh(W @ h + X[t - 4])
        return np.sum(h)

    def skipping(W, X):  # a pass whose body makes no op: numbered when the next pass starts
        h = np.zeros(3)
        for t, x in enumerate(X, start=1):
            if t == 2:
                continue
            h = np.tanh(W @ h + x)
        return np.sum(h)

    W, X = RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3))
    g = gb.trace(f, W=W, X=X)
    assert steps_of(g, "tanh") == [(1,), (2,), (3,)]
    assert steps_of(g, "index") == [(1,), (2,), (3,)]  # the header's op is in its pass, numbered alike
    assert steps_of(gb.trace(ranged, W=W, X=X), "tanh") == [(4,), (5,), (6,)]
    assert steps_of(gb.trace(skipping, W=W, X=X), "tanh") == [(1,), (3,)]


def _header_then_return(X):
    h = np.zeros(3)
    last = None
    for t, x in enumerate(X, start=1):
        last = x  # the last pass's only op is its header's
        if t < 3:
            h = np.tanh(h + x)
    return h, last


def test_a_pass_only_its_header_made_ops_in_is_numbered_after_the_loop_too():
    """The last pass makes no op after its header's: it was numbered by the counter at the frame's
    next op, which a later loop had reassigned (iteration 10), or, when the loop ended its function,
    never (iteration 2 twice)."""
    def reused(X):
        h, last = np.zeros(3), None
        for t, x in enumerate(X, start=1):
            last = x
            if t < 3:
                h = np.tanh(h + x)
        for t in range(10, 11):
            h = np.sin(h + last)
        return np.sum(h)

    def called(X):
        h, last = _header_then_return(X)
        return np.sum(h * last)

    def kept(X):  # pass 1 makes only its header's op: pass 2's header op was taken for pass 1's
        h, xs = np.zeros(3), []
        for t, x in enumerate(X, start=1):
            xs.append(x)
            if t == 1:
                h = np.tanh(h + x)
        return np.sum(h * xs[1] * xs[2])

    def nested(X):  # each inner pass makes only its header's op; a new run of it, a new generator
        keep = []
        for s in range(2):
            for t, x in enumerate(X):
                keep.append(x)
        return np.sum(np.stack(keep) ** 2)

    X = RNG.normal(size=(3, 3))
    for f in (reused, called, kept):
        g = gb.trace(f, X=X)
        assert steps_of(g, "index") == [(1,), (2,), (3,)], f.__name__
        titles = [s.title for n in ops_of(g, "index") for s in n.scope.chain if s.kind == "iteration"]
        assert len(set(titles)) == 3
    assert steps_of(gb.trace(nested, X=X), "index") == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]


def test_a_loop_with_a_long_body_is_numbered_by_its_counter(tmp_path):
    """A ``for`` loop whose body is long (its FOR_ITER jumps over 255 instruction units, so an
    EXTENDED_ARG comes before it, where the loop jumps back to): taken for a while loop, numbered
    by passes, ``for t in range(1, T)`` read iteration 0, 1, … (amaas/stanford-ctc's recursion)."""
    import importlib.util
    body = "".join(f"        h = h * 1.0 + {k}.0 * 0.0\n" for k in range(120))
    src = tmp_path / "long_body.py"
    src.write_text("import numpy as np\n\n\ndef f(x):\n    h = x\n    for t in range(1, 4):\n"
                   f"        h = np.tanh(h) * t\n{body}    return np.sum(h)\n")
    spec = importlib.util.spec_from_file_location("long_body", src)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import dis
    assert any(i.opname == "EXTENDED_ARG" for i in dis.get_instructions(module.f))  # (what the test is about)
    g = gb.trace(module.f, x=RNG.normal(size=3))
    assert steps_of(g, "tanh") == [(1,), (2,), (3,)]


def _rows(X):
    for k in range(4):
        yield None if k == 2 else X[k] * 2.0  # pass 2 makes no op


def _uneven(X, w):
    h, last = w, None
    for i, x in enumerate(_rows(X)):
        if x is None:
            continue
        if i == 3:
            last = x  # the last pass: only its header (the generator) made an op
            continue
        h = h * x
    return np.sum(h) + np.sum(last * w)


def test_an_iteration_is_said_to_be_numbered_by_its_counter_only_where_it_was_read():
    """The last pass, settled past the loop, is numbered by a guess from the run's numbers (2,
    where i was 3): it was drawn "from i = 2 only", as if read from the counter."""
    rng = np.random.default_rng(0)
    g = gb.trace(_uneven, X=rng.normal(size=(4, 3)), w=rng.normal(size=3))
    iterations = {}
    for n in g.nodes:
        s = n.scope
        while s is not None:
            if s.kind == "iteration" and s.label.startswith("for i, x in enumerate"):
                iterations[s.number] = s
            s = s.parent
    named = sorted((s.index, s.counter) for s in iterations.values())
    assert named[:2] == [(0, "i"), (1, "i")]  # read from i while the loop ran
    assert all(counter is None for index, counter in named[2:]), named  # (guessed past the loop)
