"""Two-layer net with Swish, in the textbook's names z, h1, z2.

`z = W1 x + b1`, `h1 = swish(z) = z·σ(z)`, `z2 = W2 h1 + b2`, `L = ½‖z2 − y‖²`. The inputs x and y
are data (drawn muted, no gradient shown); W1, b1, W2, b2 are parameters. z is used twice by Swish,
as the factor z and inside σ(z): its two messages add up to `∂L/∂z = ∂L/∂h1 · σ(z)(z − zσ(z) + 1)`,
swish's derivative. The bias edges show broadcasting undone: the message to b1 is ∂L/∂z itself.
"""

import numpy as np

import graphviz_bp as gb


def loss(W1, b1, W2, b2, x, y):
    z = gb.name(W1 @ x + b1, "z")
    h1 = gb.name(z * (1 / (1 + np.exp(-z))), "h1")
    z2 = gb.name(W2 @ h1 + b2, "z2")
    return 0.5 * np.sum((z2 - y) ** 2)


def inputs():
    rng = np.random.default_rng(1)
    return {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=4), "W2": rng.normal(size=(2, 4)),
            "b2": rng.normal(size=2), "x": rng.normal(size=3), "y": rng.normal(size=2)}


OPTIONS: dict = {"data": ("x", "y")}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())

