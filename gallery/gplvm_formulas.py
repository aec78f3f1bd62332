"""The GP-LVM's gradient as formulas: four paths to X, and why they collapse to 2K̄X.

X reaches K = XXᵀ + 0.5·I twice (as X and as Xᵀ), and K reaches the loss twice (log det and the
solve), so ∂L/∂X has four terms, one per path. Grouped by the use of X they are K̄X and K̄ᵀX with
K̄ = ∂L/∂K = ½D·K⁻¹ − ½K⁻¹YYᵀK⁻¹; K̄ is symmetric, so the two groups are equal and the gradient is
2K̄X. Below, that grouped form and the form that forgets the paths through Xᵀ are checked as claims.
"""

import numpy as np

import graphviz_bp as gb


def loss(X, Y):
    N, D = Y.shape
    K = X @ X.T + 0.5 * np.eye(N)
    sign, logdet = np.linalg.slogdet(K)
    return 0.5 * D * logdet + 0.5 * np.trace(np.linalg.solve(K, Y @ Y.T))


def inputs():
    rng = np.random.default_rng(2)
    return {"X": rng.normal(size=(5, 2)), "Y": rng.normal(size=(5, 3))}


OPTIONS: dict = {"detail": "formulas", "data": ("Y",)}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())


KBAR = "(1.5 * inv(K) - 0.5 * inv(K) @ Y @ Y.T @ inv(K))"


def notes() -> str:
    g = graph()
    formula = g.formula("X")
    lines = [f"- ∂L/∂X has {len(formula.terms)} terms: " + "; ".join(f"`{t.text}`" for t in formula.terms)]
    for claim in (f"2 * {KBAR} @ X", f"{KBAR} @ X"):
        lines.append(f"- claim `{claim}`: {g.check_claim('X', claim).message}")
    return "\n".join(lines)
