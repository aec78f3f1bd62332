"""One value, several uses: `x * x`, and x again.

`L = Σ(x·x) + Σx` uses x three times: twice as the two factors of `x * x` (two distinct edges into
the same ×, argument 0 and argument 1) and once in the second sum. Each use sends its own message:
x·1 from each factor and 1 from the sum, so ∂L/∂x = m₁ + m₂ + m₃ = 2x + 1.
"""

import numpy as np

import graphviz_bp as gb


def loss(x):
    return np.sum(x * x) + np.sum(x)


def inputs():
    return {"x": np.array([1.0, -2.0, 0.5])}


OPTIONS: dict = {}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())

