"""Central finite differences: the reference every gradient test compares against; and ``verify``,
which checks a traced function's value against NumPy and its gradients against central differences
and HIPS autograd."""

from __future__ import annotations

from typing import Any, Callable

import autograd
import numpy as np

import graphviz_bp as gb


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


def verify(f: Callable[..., Any], inputs: dict[str, Any], output: Any = None, ag: Callable[..., Any] | None = None,
           rtol: float = 1e-6) -> gb.Graph:
    """Trace ``f``; its value must be NumPy's (on copies of the inputs: ``f`` may write into them),
    every float input's gradient must match central differences (``gb.check``) and autograd's
    gradient of ``ag`` (the same function, written for autograd: without item assignment)."""
    g = gb.trace(f, inputs, output=output)
    expected = f(**{k: np.array(v, copy=True) for k, v in inputs.items()})
    if output is not None:
        expected = expected[output]
    np.testing.assert_allclose(np.asarray(g.value), np.asarray(expected), rtol=1e-12, atol=1e-12)
    r = gb.check(f, inputs, output=output, rtol=rtol)
    assert r.passed, [(c.name, c.error) for c in r.inputs]
    floats = [k for k, v in inputs.items() if np.asarray(v).dtype.kind == "f"]
    for k in floats:
        assert r[k].differentiated and r[k].coords == np.size(inputs[k])
    if ag is not None:
        names = list(inputs)
        argnum = tuple(names.index(k) for k in floats)
        grads = autograd.grad(lambda *a: ag(**dict(zip(names, a))), argnum=argnum)(*inputs.values())
        for k, expected_grad in zip(floats, grads):
            np.testing.assert_allclose(g.grad(k), expected_grad, rtol=1e-9, atol=1e-12, err_msg=k)
    return g
