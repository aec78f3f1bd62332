"""An RNN unrolled over 100 steps, folded: one step drawn, × 100, and W's hundred messages.

`h_t = tanh(W h_{t−1} + U x_t)` for t = 1 … 100 and `L = ½‖h₁₀₀‖²`. Every step has the same ops and
shapes, so the hundred steps are drawn once; the dashed edge carries h to the next step. W and U are
used at every step: each has a hundred outgoing messages, and ∂L/∂W is their sum (backpropagation
through time), with the largest named. The strip is the norm of the message reaching each step:
it falls by orders of magnitude from the last step to the first, the vanishing gradient that made
plain RNNs forget.
"""

import numpy as np

import graphviz_bp as gb

STEPS, HIDDEN, INPUT = 100, 8, 3


def loss(W, U, h0, X):
    h = h0
    for x in X:
        h = np.tanh(W @ h + U @ x)
    return 0.5 * np.sum(h ** 2)


def inputs():
    rng = np.random.default_rng(11)
    return {"W": rng.normal(size=(HIDDEN, HIDDEN)) * 0.5 / np.sqrt(HIDDEN), "U": rng.normal(size=(HIDDEN, INPUT)),
            "h0": np.zeros(HIDDEN), "X": rng.normal(size=(STEPS, INPUT))}


OPTIONS: dict = {"data": ("h0", "X")}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())
