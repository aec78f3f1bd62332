"""Reductions over axes: sum and mean (with ``axis`` and ``keepdims``)."""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, register
from ._broadcast import normalize_axis


def _bind_reduction(name):
    def bind(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
        if out is not None:
            raise UnsupportedOpError(f"np.{name}(..., out=...) is not supported: graphviz_bp records "
                                     f"new values and never writes into existing arrays")
        if dtype is not None:
            raise UnsupportedOpError(f"np.{name}(..., dtype=...) is not supported: cast the input "
                                     f"before reducing")
        unknown = {k: v for k, v in rest.items() if v is not np._NoValue}
        if unknown:
            raise UnsupportedOpError(f"np.{name}(...) with {', '.join(sorted(unknown))}= is not supported")
        return (a,), {"axis": axis, "keepdims": bool(keepdims)}
    return bind


def _reduced_shape(shapes, params):
    shape = shapes[0]
    axes = normalize_axis(params.get("axis"), len(shape))
    if params.get("keepdims"):
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _spread(g, x, params):
    """Broadcast the reduced cotangent ``g`` back over the reduced axes of ``x``."""
    if not params.get("keepdims"):
        axes = normalize_axis(params.get("axis"), x.ndim)
        g = np.expand_dims(g, axes) if axes else g
    return np.broadcast_to(g, x.shape)


def _count(x, params):
    axes = normalize_axis(params.get("axis"), x.ndim)
    return math.prod(x.shape[i] for i in axes)


_EXAMPLES = (
    Example(((3, 4),)),
    Example(((3, 4),), {"axis": 0}),
    Example(((2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
    Example(((2, 3, 4),), {"axis": -1}),
    Example(((),)),
)

register(Op(
    name="sum", symbol="Σ",
    forward=lambda x, axis=None, keepdims=False: np.sum(x, axis=axis, keepdims=keepdims),
    vjps=(lambda g, ans, a, p: _spread(g, a[0], p),),
    shape=_reduced_shape, numpy=(np.sum,), bind=_bind_reduction("sum"),
    examples=_EXAMPLES, family="reductions",
))
register(Op(
    name="mean", symbol="mean",
    forward=lambda x, axis=None, keepdims=False: np.mean(x, axis=axis, keepdims=keepdims),
    vjps=(lambda g, ans, a, p: _spread(g / _count(a[0], p), a[0], p),),
    shape=_reduced_shape, numpy=(np.mean,), bind=_bind_reduction("mean"),
    examples=_EXAMPLES, family="reductions",
))


def _bind_norm(x, ord=None, axis=None, keepdims=False):
    if ord not in (None, 2, "fro") or (ord == 2 and axis is None and np.ndim(x) > 1):
        raise UnsupportedOpError(f"np.linalg.norm(..., ord={ord!r}) is not supported; graphviz_bp "
                                 f"supports the 2-norm of vectors and the Frobenius norm")
    if isinstance(axis, tuple) and len(axis) > 2:
        raise UnsupportedOpError("np.linalg.norm with more than two axes is not supported")
    return (x,), {"axis": axis, "keepdims": bool(keepdims)}


def _norm(x, axis=None, keepdims=False):
    """The 2-norm over ``axis`` (all axes for None: Frobenius), as np.linalg.norm computes it."""
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def _norm_vjp(g, ans, args, params):
    x = args[0]
    n = ans if params.get("keepdims") else np.expand_dims(ans, normalize_axis(params.get("axis"), x.ndim))
    gx = g if params.get("keepdims") else np.expand_dims(g, normalize_axis(params.get("axis"), x.ndim))
    safe = np.where(n == 0, 1, n)
    return gx * np.where(n == 0, 0, x / safe)


register(Op(
    name="norm", symbol="‖·‖", forward=_norm, vjps=(_norm_vjp,), shape=_reduced_shape,
    numpy=(np.linalg.norm,), bind=_bind_norm, family="reductions",
    examples=(Example(((5,),)), Example(((3, 4),)), Example(((3, 4),), {"axis": 1}),
              Example(((2, 3, 4),), {"axis": (1, 2), "keepdims": True})),
))
