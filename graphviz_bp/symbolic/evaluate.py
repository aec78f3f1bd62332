"""Evaluating an expression with NumPy: each call runs its op's forward (the registry's, or a
pseudo-op's), leaves take their values from an environment; iterative, so deep formulas work."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .expr import Expr

__all__ = ["evaluate"]


def evaluate(expr: Expr, env: Mapping[str, Any], memo: dict[int, Any] | None = None) -> np.ndarray:
    """The value of ``expr`` with ``env`` giving each symbol's array by name. A named value or an
    adjoint missing from ``env`` is evaluated from its definition. ``memo`` (by expression identity)
    may be shared by several calls with the same ``env`` and expressions that stay alive, so that
    the parts they share are computed once.

    >>> from graphviz_bp.symbolic.expr import sym
    >>> W = sym("W", (2, 2), "input")
    >>> evaluate(W.T @ W, {"W": np.array([[1.0, 2.0], [0.0, 1.0]])}).tolist()
    [[1.0, 2.0], [2.0, 5.0]]
    """
    done: dict[int, Any] = {} if memo is None else memo  # a memo shared by calls with the same env
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        e, expanded = stack.pop()
        if id(e) in done:
            continue
        if e.kind == "num":
            done[id(e)] = np.asarray(e.value, dtype=float)
        elif e.kind == "array":
            done[id(e)] = e.value
        elif e.kind == "sym":
            if e.name in env:
                done[id(e)] = np.asarray(env[e.name])
            elif e.definition is None:
                raise KeyError(f"no value for {e.name!r}")
            elif expanded:
                done[id(e)] = done[id(e.definition)]
            else:
                stack.append((e, True))
                stack.append((e.definition, False))
        elif expanded:
            args = [done[id(a)] for a in e.args]
            done[id(e)] = np.asarray(e.op.forward(*args, **e.params))
        else:
            stack.append((e, True))
            stack.extend((a, False) for a in reversed(e.args) if id(a) not in done)
    return done[id(expr)]
