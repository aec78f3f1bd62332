"""Gaussian-process latent variable model: two paths through XXᵀ.

`L = ½·D·log det K + ½·tr(K⁻¹YYᵀ)` with `K = XXᵀ + s·I`, X the 5×2 latent positions and Y the 5×3
observations (data, drawn muted). X reaches K twice, as X and as Xᵀ, so ∂L/∂X is the sum of two
messages; since K is symmetric they are equal, and together they give the textbook
`∂L/∂X = (D·K⁻¹ − K⁻¹YYᵀK⁻¹) X`. K itself is used by log det and by the solve: its adjoint
`½(D·K⁻¹ − K⁻¹YYᵀK⁻¹)` is accumulated from those two messages.
"""

import numpy as np

import graphviz_bp as gb


def loss(X, Y):
    N, D = Y.shape
    K = gb.name(X @ X.T + 0.5 * np.eye(N), "K")
    sign, logdet = np.linalg.slogdet(K)
    return 0.5 * D * logdet + 0.5 * np.trace(np.linalg.solve(K, Y @ Y.T))


def inputs():
    rng = np.random.default_rng(2)
    return {"X": rng.normal(size=(5, 2)), "Y": rng.normal(size=(5, 3))}


OPTIONS: dict = {"data": ("Y",)}


def graph() -> gb.Graph:
    return gb.trace(loss, **inputs())
