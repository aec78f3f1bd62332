"""Linear autoencoder: two paths to W.

`L = ½‖WᵀWx − x‖²` with W 3×5. W reaches the loss twice, once as `W.T` and once as `W`, so the
drawing splits ∂L/∂W into two colour-coded messages, m₁ through the transpose and m₂ straight into
the product, and writes their sum at W. Those two messages are the two terms of the textbook answer
`W(WᵀWx − x)xᵀ + (Wx)(WᵀWx − x)ᵀ`. x is shared as well, by the product and the subtraction.
"""

import numpy as np

import graphviz_bp as gb


def loss(W, x):
    return 0.5 * np.sum((W.T @ W @ x - x) ** 2)


def inputs():
    rng = np.random.default_rng(0)
    return {"W": rng.normal(size=(3, 5)) * 0.5, "x": rng.normal(size=5)}


OPTIONS: dict = {}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())

