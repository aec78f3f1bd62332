"""A 50-layer tanh MLP, folded: one layer drawn, × 50, with each layer's message norm.

`h_{k+1} = tanh(W_k h_k + b_k)` for k = 0 … 49 and `L = ½‖h₅₀‖²`. The graph has 256 values; drawn
in full it is a column of specks. Folded (the default past 150 nodes), the fifty layers, which have
the same ops, shapes and wiring, are drawn once, with each layer's own weights `W0 … W49` and
`b0 … b49` inside the frame. The strip in the frame's title is the norm of ∂L/∂h per layer, on a log
scale: with these small weights the gradient shrinks on its way down, layer after layer, until the
first layer's is about 10⁻⁴ of the last's: the vanishing gradient. `fold=False` draws all 256 values.
"""

import numpy as np

import graphviz_bp as gb

DEPTH, WIDTH = 50, 8


def loss(X, **params):
    h = X
    for k in range(DEPTH):
        h = np.tanh(params[f"W{k}"] @ h + params[f"b{k}"])
    return 0.5 * np.sum(h ** 2)


def inputs():
    rng = np.random.default_rng(7)
    values = {"X": rng.normal(size=(WIDTH, 4))}
    for k in range(DEPTH):
        values[f"W{k}"] = rng.normal(size=(WIDTH, WIDTH)) * 0.9 / np.sqrt(WIDTH)
        values[f"b{k}"] = rng.normal(size=(WIDTH, 1)) * 0.1
    return values


OPTIONS: dict = {"data": ("X",)}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())
