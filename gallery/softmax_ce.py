"""Softmax cross-entropy for a batch of four.

`L = −(1/n) Σᵢ log softmax(XW + b)[i, yᵢ]`: the logits of each example, a log-softmax drawn as one
node, and a gather that picks each example's true class (`[arange(4), y]`). Backward, the gather
sends −1/n to the picked entries and zero elsewhere, and the log-softmax turns that into the
textbook `∂L/∂logits = (softmax − onehot(y)) / n`. The bias b is broadcast over the batch, so its
message sums over the four examples.
"""

import numpy as np

import graphviz_bp as gb


def loss(X, W, b, y):
    logits = gb.name(X @ W + b, "logits")
    logp = gb.log_softmax(logits, axis=1)
    return -np.mean(logp[np.arange(len(y)), y])


def inputs():
    rng = np.random.default_rng(4)
    return {"X": rng.normal(size=(4, 5)), "W": rng.normal(size=(5, 3)) * 0.5, "b": np.zeros(3),
            "y": np.array([0, 2, 1, 2])}


OPTIONS: dict = {"data": ("X", "y")}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())
