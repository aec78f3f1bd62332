"""The autoencoder's gradient as formulas: one term per path.

The same loss, drawn with `detail="formulas"`: every edge carries its message as a formula of `ḡ`,
the cotangent of the value the edge enters, and W shows `∂L/∂W = m₁ + m₂` with each message written
out, `r` being the residual named on its line. Each formula was evaluated and compared with the
numbers at the traced inputs and at fresh ones before it was drawn. Bracketing the product the other
way gives a different graph but the same two terms, below.
"""

import numpy as np

import graphviz_bp as gb


def loss(W, x):
    r = W.T @ (W @ x) - x
    return 0.5 * np.sum(r ** 2)


def loss_left(W, x):
    r = W.T @ W @ x - x
    return 0.5 * np.sum(r ** 2)


def inputs():
    rng = np.random.default_rng(0)
    return {"W": rng.normal(size=(3, 5)) * 0.5, "x": rng.normal(size=5)}


OPTIONS: dict = {"detail": "formulas"}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())


def notes() -> str:
    """The terms at W for both bracketings, each checked."""
    lines = []
    for f, how in ((loss, "`Wᵀ(Wx)`"), (loss_left, "`(WᵀW)x`")):
        formula = gb.trace(f, **inputs()).formula("W")
        terms = ", ".join(f"`{t.text}`" + (" ✓" if t.verified else " (not verified)") for t in formula.terms)
        where = "; ".join(f"`{k} = {v}`" for k, v in formula.where().items())
        lines.append(f"- bracketed as {how}: ∂L/∂W has {len(formula.terms)} terms, {terms}, where {where}")
    return "\n".join(lines)
