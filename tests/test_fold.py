"""The fold plan: what a big drawing shows. Repeated blocks are drawn once with their own inputs,
groups deeper than ``depth`` are one box each, and "auto" folds and collapses until the drawing has
at most 150 nodes. Every node of the graph is stood for by exactly one drawn node."""

from __future__ import annotations

import numpy as np
import pytest

import graphviz_bp as gb
from graphviz_bp.drawing.fold import BUDGET, plan

from .problems import deep_mlp, deep_mlp_inputs

RNG = np.random.default_rng(13)


def _partition(g, P):
    """Every node stood for exactly once, by the id ``shown`` gives it."""
    seen = sorted(n.index for nodes in P.stands_for.values() for n in nodes)
    assert seen == [n.index for n in g.nodes]
    for drawn, nodes in P.stands_for.items():
        assert all(P.shown[n.index] == drawn for n in nodes)


def test_a_deep_net_folds_to_one_layer_with_its_own_weights():
    depth = 40
    g = gb.trace(deep_mlp(depth), **deep_mlp_inputs(RNG, depth))
    assert len(g.nodes) > BUDGET
    P = plan(g._dag)  # auto: the graph is big
    _partition(g, P)
    (fold,) = P.folds.values()
    assert fold.count == depth and P.depth is None
    assert P.size == len(g.nodes) - (depth - 1) * 5  # one layer: W, b, matmul, add, tanh
    W0 = g.node("W0")
    assert [n.name for n in P.stands_for[W0.id]] == [f"W{i}" for i in range(depth)]
    assert P.cluster_of[W0.id] is fold.repeat.first  # drawn inside the folded layer
    assert P.stands_for[g.node("X").id] == [g.node("X")]  # the first layer's input is its own
    for n in g.nodes:
        if n.kind == "op" and n.op.name == "tanh":
            assert P.shown[n.index] == fold.repeat.first.nodes()[-1].id


def test_folding_off_and_every_group_open_draws_every_node():
    depth = 40
    g = gb.trace(deep_mlp(depth), **deep_mlp_inputs(RNG, depth))
    P = plan(g._dag, fold=False, depth=None)
    assert P.size == len(g.nodes) and not P.folds and not P.boxes
    _partition(g, P)


def test_depth_zero_collapses_each_top_level_group_to_one_box():
    depth = 5
    g = gb.trace(deep_mlp(depth), **deep_mlp_inputs(RNG, depth))
    P = plan(g._dag, fold=False, depth=0)
    _partition(g, P)
    (box,) = P.boxes.values()
    assert box.group.scope.kind == "loop"
    assert sorted(n.index for n in P.stands_for[box.id]) == sorted(n.index for n in box.nodes)
    assert {n.op.name for n in box.nodes} == {"matmul", "add", "tanh"}
    assert P.cluster_of[box.id] is None


def test_auto_collapses_until_the_drawing_fits():
    def block(k):
        def run(h):
            for _ in range(k):  # blocks of different lengths: nothing repeats
                h = np.sin(h) * 1.5
            return h
        return run

    def f(x):
        for k in range(1, 12):
            with gb.group(f"part {k}"):
                x = block(k)(x)
        return np.sum(x)

    g = gb.trace(f, x=RNG.normal(size=3))
    assert len(g.nodes) > BUDGET
    assert plan(g._dag, fold=False).size == len(g.nodes)  # fold=False alone: every node
    P = plan(g._dag, fold=True, depth="auto")
    _partition(g, P)
    assert P.size <= BUDGET
    unfolded = plan(g._dag, fold=False, depth=P.depth)
    assert unfolded.size >= P.size


def test_a_small_graph_is_left_as_it_is_unless_asked():
    depth = 3
    g = gb.trace(deep_mlp(depth), **deep_mlp_inputs(RNG, depth))
    assert plan(g._dag).size == len(g.nodes)
    P = plan(g._dag, fold=True, depth=None)
    assert P.size == len(g.nodes) - 2 * 5 and list(P.folds.values())[0].count == 3


@pytest.mark.parametrize("bad", [-1, "deep"])
def test_a_bad_depth_is_refused(bad):
    g = gb.trace(deep_mlp(2), **deep_mlp_inputs(RNG, 2))
    with pytest.raises((ValueError, TypeError)):
        plan(g._dag, depth=bad)


def test_auto_depth_is_the_deepest_that_fits_when_folding_is_not_enough():
    def f(x):
        total = 0.0
        for k in range(1, 30):
            with gb.group(f"part {k}"):
                y = np.outer(np.ones(k), x)  # a shape of its own: parts do not repeat
                for _ in range(3):
                    y = np.sin(y) * 1.5 + y
                total = total + np.sum(y)
        return total

    g = gb.trace(f, x=RNG.normal(size=3))
    folded_only = plan(g._dag, fold=True, depth=None)
    assert folded_only.size > BUDGET  # the parts differ: folding their inner loops is not enough
    P = plan(g._dag)
    _partition(g, P)
    assert P.size <= BUDGET and P.depth is not None and P.folds
    assert plan(g._dag, fold=True, depth=P.depth + 1).size > BUDGET  # the deepest that fits
    for box in P.boxes.values():
        assert box.group.depth == P.depth + 1
