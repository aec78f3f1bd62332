"""Central finite differences: the reference every gradient test compares against."""

from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂x by central differences, one coordinate at a time (x is not modified)."""
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        orig = x[i]
        x[i] = orig + eps
        up = f(x.copy())
        x[i] = orig - eps
        down = f(x.copy())
        x[i] = orig
        grad[i] = (up - down) / (2 * eps)
    return grad


def numerical_grads(f: Callable[..., float], inputs: dict[str, np.ndarray], eps: float = 1e-6) -> dict[str, np.ndarray]:
    """∂f/∂input for every keyword input of ``f``."""
    out = {}
    for key, value in inputs.items():
        def partial(v, key=key):
            return float(f(**{**inputs, key: v}))
        out[key] = numerical_grad(partial, value, eps)
    return out
