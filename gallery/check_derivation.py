"""Check my derivation: a student's ∂L/∂W that misses a path.

A student differentiates the autoencoder loss `½‖WᵀWx − x‖²` and writes `∂L/∂W = W r xᵀ` with
`r = WᵀWx − x`: the path through W, but not the one through Wᵀ. `g.check_claim` (or `graphviz-bp
check ... --claim "W=..."`) evaluates the claim at the traced inputs and at fresh ones, compares it
with each path's contribution, and names the path that is missing and the term it adds. The
drawing shows both paths into W.
"""

import numpy as np

import graphviz_bp as gb


def loss(W, x):
    r = W.T @ (W @ x) - x
    return 0.5 * np.sum(r ** 2)


def inputs():
    rng = np.random.default_rng(5)
    return {"W": rng.normal(size=(2, 4)), "x": rng.normal(size=4)}


OPTIONS: dict = {"detail": "formulas"}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())


CLAIMS = ("W @ outer(r, x)", "W @ outer(r, x) + outer(W @ x, r)", "outer(r, W @ x)")


def notes() -> str:
    g = graph()
    return "\n".join(f"- claim `∂L/∂W = {c}`: {g.check_claim('W', c).message}" for c in CLAIMS)
