"""One-node activations: values against direct formulas, one node each, gradients against autograd."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import graphviz_bp as gb

X = np.array([[-30.0, -1.0, 0.0, 2.0], [0.5, 40.0, -3.0, 1.0]])

DIRECT = {
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), {}),
    "relu": (lambda x: np.maximum(x, 0), {}),
    "swish": (lambda x: x / (1 + np.exp(-x)), {}),
    "softmax": (lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True), {}),
    "log_softmax": (lambda x: x - np.log(np.exp(x).sum(axis=-1, keepdims=True)), {}),
    "logsumexp": (lambda x: np.log(np.exp(x).sum(axis=1)), {"axis": 1}),
}


@pytest.mark.parametrize("fname", sorted(DIRECT))
def test_values_on_plain_arrays_and_one_node_when_traced(fname):
    fn = getattr(gb, fname)
    direct, kw = DIRECT[fname]
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(fn(X, **kw), direct(X), rtol=1e-12, atol=1e-300)
    weights = np.random.default_rng(0).normal(size=np.shape(fn(X, **kw)))
    g = gb.trace(lambda x: np.sum(fn(x, **kw) * weights), x=X)
    ops = [n.op.name for n in g.nodes if n.kind == "op"]
    assert ops.count(fname) == 1 and "exp" not in ops  # drawn as one node, not a subgraph
    assert np.isfinite(g.grad("x")).all()


def test_softmax_is_stable_for_large_inputs():
    out = gb.softmax(np.array([1000.0, 1000.0]))
    np.testing.assert_allclose(out, [0.5, 0.5])
    assert gb.logsumexp(np.array([1000.0, 1000.0])) == pytest.approx(1000 + np.log(2))


def test_softmax_cross_entropy_gradient_matches_autograd():
    rng = np.random.default_rng(3)
    logits, onehot = rng.normal(size=(4, 3)), np.eye(3)[[0, 2, 1, 2]]

    def ours(z):
        return -np.mean(np.sum(onehot * gb.log_softmax(z, axis=1), axis=1))

    def theirs(z):
        return -anp.mean(anp.sum(onehot * (z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))), axis=1))

    g = gb.trace(ours, z=logits)
    np.testing.assert_allclose(g.grad("z"), autograd.grad(theirs)(logits), rtol=1e-10, atol=1e-12)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(g.grad("z"), (p - onehot) / 4, atol=1e-12)  # the textbook (p − y)/n
