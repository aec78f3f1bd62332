"""Activations and losses drawn as one node each: use them like NumPy functions, traced or not.

>>> import numpy as np
>>> sigmoid(np.array([0.0]))
array([0.5])
"""

from __future__ import annotations

from typing import Any

from . import ops
from .tracer import apply, call

__all__ = ["log_softmax", "logsumexp", "put_along_axis", "relu", "sigmoid", "softmax", "swish"]


def sigmoid(x: Any) -> Any:
    """σ(x) = 1 / (1 + e^(−x)), computed stably; one node ``σ`` in the drawing."""
    return apply(ops.get("sigmoid"), x)


def relu(x: Any) -> Any:
    """max(x, 0); its gradient at 0 is taken as 0."""
    return apply(ops.get("relu"), x)


def swish(x: Any) -> Any:
    """x·σ(x), with swish'(x) = σ(x)(x − xσ(x) + 1)."""
    return apply(ops.get("swish"), x)


def softmax(x: Any, axis: int = -1) -> Any:
    """e^x / Σ e^x along ``axis``, shifted by the maximum for stability."""
    return apply(ops.get("softmax"), x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x − logsumexp(x) along ``axis``."""
    return apply(ops.get("log_softmax"), x, axis=axis)


def logsumexp(x: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    """log Σ e^x over ``axis`` (all axes for None), computed stably."""
    return apply(ops.get("logsumexp"), x, axis=axis, keepdims=keepdims)


def put_along_axis(arr: Any, indices: Any, values: Any, axis: int | None) -> Any:
    """``arr`` with ``values`` written at ``indices`` along ``axis``, as a new array: what
    ``np.put_along_axis(arr, indices, values, axis)`` leaves in ``arr`` (NumPy writes in place; this
    returns the result, so write ``arr = put_along_axis(arr, ...)``). Where two values go to one
    entry the last wins, as in NumPy; the entries written over get no gradient.

    >>> import numpy as np
    >>> put_along_axis(np.zeros((2, 3)), np.array([[2], [0]]), 1.0, axis=1)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    return call(ops.get("put_along_axis"), (arr, indices, values), {"axis": axis})
