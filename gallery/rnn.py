"""A recurrent net unrolled three steps: one weight, three uses.

`h_t = tanh(W h_{t−1} + U x_t)` for t = 1, 2, 3, and `L = ½‖h₃‖²`. The recurrent matrix W is the same
at every step, so it has three outgoing edges, one per time step; backpropagation through time is
exactly the sum of their messages, `∂L/∂W = m₁ + m₂ + m₃`. U is shared the same way; the inputs
x_t (rows of X) are data.
"""

import numpy as np

import graphviz_bp as gb


def loss(W, U, h0, X):
    h = h0
    for t, x in enumerate(X, start=1):
        h = gb.name(np.tanh(W @ h + U @ x), f"h{t}")
    return 0.5 * np.sum(h ** 2)


def inputs():
    rng = np.random.default_rng(3)
    return {"W": rng.normal(size=(3, 3)) * 0.6, "U": rng.normal(size=(3, 2)), "h0": np.zeros(3),
            "X": rng.normal(size=(3, 2))}


OPTIONS: dict = {"data": ("h0", "X")}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())
