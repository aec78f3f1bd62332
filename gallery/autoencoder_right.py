"""The same autoencoder, bracketed as `Wᵀ(Wx)`.

The product is now computed right to left: `W @ x` first (a vector), then `W.T @` that vector. The
graph has a different shape and smaller Jacobians on the inner edges, but W still has exactly two
outgoing edges, and the two messages at W are the same two terms as before: the gradient does not
depend on how the product is bracketed.
"""

import numpy as np

import graphviz_bp as gb


def loss(W, x):
    return 0.5 * np.sum((W.T @ (W @ x) - x) ** 2)


def inputs():
    rng = np.random.default_rng(0)
    return {"W": rng.normal(size=(3, 5)) * 0.5, "x": rng.normal(size=5)}


OPTIONS: dict = {}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())

