"""The structure a drawing folds: groups from scopes, and runs of repeated blocks found by their
signature (ops, shapes, wiring), not their names; each repetition's message norm is ∂L/∂(its output)."""

from __future__ import annotations

import numpy as np

import graphviz_bp as gb
from graphviz_bp.drawing.structure import group_tree, repeats

RNG = np.random.default_rng(9)


def dag(g):
    return g._dag


def deep(X, Ws, bs):
    h = X
    for i in range(len(Ws)):
        h = np.tanh(Ws[i] @ h + bs[i])
    return 0.5 * np.sum(h ** 2)


def test_the_layers_of_a_deep_net_are_one_repeat_and_their_norms_are_backprops():
    depth = 12
    X, Ws, bs = RNG.normal(size=(5, 3)), RNG.normal(size=(depth, 5, 5)) / 2, RNG.normal(size=(depth, 5, 1))
    g = gb.trace(deep, X=X, Ws=Ws, bs=bs)
    root = group_tree(dag(g))
    (loop,) = root.children
    assert loop.scope.kind == "loop" and len(loop.children) == depth
    (rep,) = repeats(root)
    assert rep.count == depth and rep.groups == loop.children
    # by hand: hs[k] is layer k's output; ∂L/∂hs[k] backpropagated
    hs = [X]
    for i in range(depth):
        hs.append(np.tanh(Ws[i] @ hs[-1] + bs[i]))
    dh = [None] * (depth + 1)
    dh[depth] = hs[depth]
    for i in reversed(range(1, depth)):
        dh[i] = Ws[i].T @ (dh[i + 1] * (1 - hs[i + 1] ** 2))
    np.testing.assert_allclose(rep.norms(), [np.linalg.norm(dh[k + 1]) for k in range(depth)], rtol=1e-10)
    # each repetition's outputs: its h (and the index ops that read Ws[i], bs[i] are inside it)
    for k in range(depth):
        (out,) = rep.outputs(k)
        np.testing.assert_allclose(out.value, hs[k + 1])


def test_blocks_repeat_by_structure_not_by_name():
    def f(x):
        for i in range(5):
            with gb.group(f"block {i}"):
                x = np.sin(x) * 2.0
        return np.sum(x)

    root = group_tree(dag(gb.trace(f, x=RNG.normal(size=3))))
    (rep,) = repeats(root)
    assert rep.count == 5 and [gr.title for gr in rep.groups] == [f"iteration {k}" for k in range(5)]
    inner = [r for r in repeats(rep.first)]  # one group in an iteration: nothing repeats inside it
    assert inner == []


def test_a_different_block_splits_the_run():
    def f(x):
        for i in range(6):
            x = np.tanh(x)
            if i == 2:
                x = x * 3.0  # iteration 2 has one more op
        return np.sum(x)

    root = group_tree(dag(gb.trace(f, x=RNG.normal(size=3))))
    assert [(r.count, r.first.scope.index) for r in repeats(root)] == [(2, 0), (3, 3)]


def test_a_change_of_shape_splits_the_run():
    def f(x, Ws):
        h = x
        for W in Ws:
            h = np.tanh(W @ h)
        return np.sum(h)

    def net(x, W0, W1, W2, W3):
        return f(x, [W0, W1, W2, W3])

    Ws = [RNG.normal(size=(4, 3)), RNG.normal(size=(4, 4)), RNG.normal(size=(4, 4)), RNG.normal(size=(2, 4))]
    g = gb.trace(net, x=RNG.normal(size=3), W0=Ws[0], W1=Ws[1], W2=Ws[2], W3=Ws[3])
    reps = repeats(group_tree(dag(g)))
    assert [(r.count, r.first.scope.index) for r in reps] == [(2, 1)]


def test_an_rnns_steps_repeat_and_the_shared_weight_is_outside_them():
    def rnn(W, h0, xs):
        h = h0
        for x in xs:
            h = np.tanh(W @ h + x)
        return np.sum(h)

    W, h0, xs = RNG.normal(size=(3, 3)) / 2, RNG.normal(size=3), RNG.normal(size=(8, 3))
    g = gb.trace(rnn, W=W, h0=h0, xs=xs)
    root = group_tree(dag(g))
    (rep,) = repeats(root)
    assert rep.count == 8
    assert all(gr.signature == rep.first.signature for gr in rep.groups)
    assert [n.name for n in root.own if n.kind == "input"] == ["W", "h0", "xs"]  # outside every step
    assert [n.op.name for n in root.own if n.kind == "op"] == ["sum"]
    assert all(len(gr.nodes()) == 4 for gr in rep.groups)  # xs[t], W @ h, + x, tanh


def _rnn_with_a_copy(Wx, Wh, X):
    h_prev = np.zeros(4)
    for t in range(len(X)):
        h = np.tanh(Wx @ X[t] + Wh @ h_prev)
        h_prev = h.copy()  # the last iteration's copy feeds nothing: the graph does not keep it
    return np.sum(h ** 2)


def _filter_with_an_unused_update(A, X, P, x):
    for t in range(len(X)):
        x = np.tanh(A @ x + X[t])
        x = x + P @ x * 0.01
        P = A @ P @ A.T + 0.1 * P  # the last covariance update is unused, as a Kalman filter's
    return np.sum(x ** 2)


def test_a_loops_last_iteration_without_what_only_feeds_the_next_is_the_repeats_tail():
    """The last iteration lacks the ops whose values only the next iteration would read (the graph
    keeps only what reaches the loss): it still repeats the others, each of its nodes in the place of
    its counterpart in the first (it was split off: "iterations 0…38 × 39" and "iteration 39")."""
    T = 7
    g = gb.trace(_rnn_with_a_copy, Wx=RNG.normal(size=(4, 2)), Wh=RNG.normal(size=(4, 4)), X=RNG.normal(size=(T, 2)))
    (rep,) = repeats(group_tree(dag(g)))
    assert rep.count == T
    ops = [[n.op.name for n in g.core()] for g in rep.groups]
    step = ["index", "matmul", "matmul", "add", "tanh"]
    assert ops[:-1] == [step + ["copy"]] * (T - 1) and ops[-1] == step
    aligned = rep.core(T - 1)
    assert [n.op.name if n is not None else None for n in aligned] == step + [None]
    assert aligned[:-1] == rep.groups[-1].core()
    # drawn: one frame for all T, the copy's edge on to the next repetition for T - 1 of them
    scene = g.draw(fold=True).scene()
    (title,) = [c.lines[0] for c in scene.clusters if "folded" in c.classes]
    assert f"iterations 0…{T - 1}" in "".join(s.text for s in title) and f"× {T}" in "".join(s.text for s in title)
    copy = next(n for n in scene.nodes if n.text.startswith("copy"))
    assert len(scene.stands_for[copy.id]) == T - 1
    (carry,) = [e for e in scene.edges if e.src == copy.id]
    assert f"× {T - 1} (to the next repetition)" in carry.text and "recurrence" in carry.classes
    power = next(n for n in g.nodes if n.op is not None and n.op.name == "power")
    (out,) = [e for e in scene.edges if e.dst == power.id]  # from the tanh drawn for all T
    assert scene.stands_for[out.src] == tuple(n.index for n in g.nodes if n.op is not None and n.op.name == "tanh")


def test_a_chain_of_ops_unused_after_the_last_iteration_is_left_out_of_the_tail_too():
    T = 6
    g = gb.trace(_filter_with_an_unused_update, A=RNG.normal(size=(3, 3)) * 0.5, X=RNG.normal(size=(T, 3)),
                 P=np.eye(3), x=np.zeros(3))
    (rep,) = repeats(group_tree(dag(g)))
    assert rep.count == T
    assert len(rep.groups[0].core()) - len(rep.groups[-1].core()) >= 3  # A @ P, · @ A.T, + 0.1 P ...
    assert sum(n is None for n in rep.core(T - 1)) == len(rep.groups[0].core()) - len(rep.groups[-1].core())


def test_a_last_iteration_lacking_an_op_its_own_ops_read_is_not_a_tail():
    def f(x):
        for i in range(6):
            y = np.sin(x) if i < 5 else x  # the last iteration's tanh reads x itself
            x = np.tanh(y)
        return np.sum(x)

    root = group_tree(dag(gb.trace(f, x=RNG.normal(size=3))))
    assert [(r.count, r.first.scope.index, r.tails) for r in repeats(root)] == [(5, 0, {})]


def test_a_last_iteration_that_ran_other_code_is_not_a_tail():
    """A last layer without its activation (``if i < depth - 1``) lacks an op the trace never made:
    not one the graph dropped. It stays apart."""
    def mlp(X, Ws):
        h = X
        for i in range(len(Ws)):
            h = Ws[i] @ h
            if i < len(Ws) - 1:
                h = np.tanh(h)
        return np.sum(h ** 2)

    root = group_tree(dag(gb.trace(mlp, X=RNG.normal(size=(3, 2)), Ws=RNG.normal(size=(6, 3, 3)))))
    assert [(r.count, r.tails) for r in repeats(root)] == [(5, {})]


def _rnn_with_gains(W, X, **g):
    h_prev = np.zeros(3)
    for t in range(len(X)):
        h = np.tanh(W @ h_prev + X[t])
        h_prev = g[f"g{t}"] * h  # the last gain's product feeds nothing: dropped
    return np.sum(h ** 2)


def test_the_inputs_each_repetition_owns_are_drawn_as_one_when_the_tail_lacks_the_op_reading_its_own():
    T = 6
    g = gb.trace(_rnn_with_gains, W=RNG.normal(size=(3, 3)), X=RNG.normal(size=(T, 3)),
                 **{f"g{t}": RNG.normal(size=3) for t in range(T)})
    scene = g.draw(fold=True).scene()
    names = [n.text.splitlines()[0] for n in scene.nodes]
    assert f"g0 … g{T - 2}" in names  # (g5 reads nothing: an input of its own)
    (title,) = [c.lines[0][0].text for c in scene.clusters]
    assert f"× {T}" in title
