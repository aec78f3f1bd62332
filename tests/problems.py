"""The origin problems written as a user would write them (plain NumPy), shared by several tests."""

from __future__ import annotations

import numpy as np

import graphviz_bp as gb


def autoencoder(W, x):
    return 0.5 * np.sum((W.T @ W @ x - x) ** 2)


def autoencoder_right(W, x):
    return 0.5 * np.sum((W.T @ (W @ x) - x) ** 2)


def swish_net(W1, b1, W2, b2, x, y):
    z = gb.name(W1 @ x + b1, "z")
    h1 = gb.name(z * (1 / (1 + np.exp(-z))), "h1")
    z2 = gb.name(W2 @ h1 + b2, "z2")
    return 0.5 * np.sum((z2 - y) ** 2)


def swish_inputs(rng):
    return dict(W1=rng.normal(size=(4, 3)), b1=rng.normal(size=4), W2=rng.normal(size=(2, 4)),
                b2=rng.normal(size=2), x=rng.normal(size=3), y=rng.normal(size=2))


def swish_by_hand(W1, b1, W2, b2, x, y):
    """Forward and backward written out, with swish'(z) = σ(z)(z − zσ(z) + 1)."""
    z = W1 @ x + b1
    s = 1 / (1 + np.exp(-z))
    h1 = z * s
    z2 = W2 @ h1 + b2
    dz2 = z2 - y
    dW2 = np.outer(dz2, h1)
    db2 = dz2
    dh1 = W2.T @ dz2
    dz = dh1 * s * (z - z * s + 1)
    return {"W1": np.outer(dz, x), "b1": dz, "W2": dW2, "b2": db2, "z": dz, "h1": dh1, "z2": dz2}


def deep_mlp(depth):
    """A tanh MLP of ``depth`` layers, each with its own inputs ``W{i}`` and ``b{i}``."""
    def loss(X, **p):
        h = X
        for i in range(depth):
            h = np.tanh(p[f"W{i}"] @ h + p[f"b{i}"])
        return 0.5 * np.sum(h ** 2)
    return loss


def deep_mlp_inputs(rng, depth, width=6):
    inputs = {"X": rng.normal(size=(width, 2))}
    for i in range(depth):
        inputs[f"W{i}"] = rng.normal(size=(width, width)) / np.sqrt(width)
        inputs[f"b{i}"] = rng.normal(size=(width, 1)) * 0.1
    return inputs


def examples_through_layers(X, depth, power=1):
    """A loss summed over the examples (rows of X), each sent through ``depth`` tanh layers whose
    weights ``w0``, ``w1``, ... every example shares: Σₓ Σ (tanh(w_{d−1} … tanh(w₀ x)))^power."""
    def loss(**p):
        cost = 0.0
        for x in X:
            for k in range(depth):
                x = np.tanh(p[f"w{k}"] @ x)
            cost = cost + np.sum(x ** power)
        return cost
    return loss
