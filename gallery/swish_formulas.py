"""The Swish net's messages as formulas, next to the textbook derivative.

z = W1 x + b1 is used twice by swish(z) = z·σ(z): once as the factor z and once inside σ. The drawing
shows the two messages at z, `ḡ ⊙ σ(z)` and `ḡ ⊙ z ⊙ σ(z) ⊙ (1 − σ(z))` with ḡ = ∂L/∂h1, and
their sum is the textbook form `∂L/∂z = σ(z)(z − zσ(z) + 1) ⊙ W2ᵀ ∂L/∂z2`: checked below by stating
that form as a claim.
"""

import numpy as np

import graphviz_bp as gb


def loss(W1, b1, W2, b2, x, y):
    z = W1 @ x + b1
    h1 = z * gb.sigmoid(z)
    z2 = W2 @ h1 + b2
    return 0.5 * np.sum((z2 - y) ** 2)


def inputs():
    rng = np.random.default_rng(1)
    return {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=4), "W2": rng.normal(size=(2, 4)),
            "b2": rng.normal(size=2), "x": rng.normal(size=3), "y": rng.normal(size=2)}


OPTIONS: dict = {"detail": "formulas", "data": ("x", "y")}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())


TEXTBOOK = "sigmoid(z) * (z - z * sigmoid(z) + 1) * (W2.T @ (z2 - y))"


def notes() -> str:
    g = graph()
    terms = g.formula("b1").terms
    verdict = g.check_claim("b1", TEXTBOOK)
    return "\n".join([
        "- ∂L/∂b1 = ∂L/∂z, one term per use of z: " + "; ".join(f"`{t.text}`" for t in terms),
        f"- the textbook form `{TEXTBOOK}` as a claim for ∂L/∂b1: {verdict.message}",
    ])
