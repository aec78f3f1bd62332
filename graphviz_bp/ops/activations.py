"""One-node activations and losses: sigmoid, relu, swish, softmax, log_softmax, logsumexp.

Each is drawn as a single labelled node (textbook style) with its own VJP rule, not as the subgraph
of the ops it could be written with. They have no NumPy callable: the public functions in
``graphviz_bp.functions`` record them.
"""

from __future__ import annotations

import numpy as np

from . import Example, Op, register
from ._broadcast import normalize_axis
from .reductions import _reduced_shape


def _sigmoid(x):
    # stable on both tails: exp of a non-positive number only
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _swish(x):
    return x * _sigmoid(x)


def _swish_vjp(g, ans, args, params):
    x = args[0]
    s = _sigmoid(x)
    return g * s * (x - x * s + 1)  # swish'(z) = σ(z)(z − zσ(z) + 1)


def _keep(x, axis):
    return np.max(x, axis=axis, keepdims=True) if x.size else x


def _logsumexp(x, axis=None, keepdims=False):
    m = _keep(x, axis)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=normalize_axis(axis, x.ndim))


def _softmax(x, axis=-1):
    e = np.exp(x - _keep(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    return x - _logsumexp(x, axis=axis, keepdims=True)


def _same_shape_with_axis(shapes, params):
    normalize_axis(params.get("axis", -1), len(shapes[0]))  # raises for a bad axis
    return shapes[0]


def _expand(g, x, params):
    if params.get("keepdims"):
        return g
    return np.expand_dims(g, normalize_axis(params.get("axis"), x.ndim))


_UNARY = (Example(((),)), Example(((3, 4),)))
_AXIS = (Example(((5,),)), Example(((3, 4),)), Example(((3, 4),), {"axis": 0}))

register(Op(
    name="sigmoid", symbol="σ", forward=_sigmoid, shape=lambda s, p: s[0], examples=_UNARY,
    vjps=(lambda g, ans, a, p: g * ans * (1 - ans),), family="activations",
))
register(Op(
    name="relu", symbol="relu", forward=lambda x: np.maximum(x, 0), shape=lambda s, p: s[0],
    examples=_UNARY, family="activations",
    vjps=(lambda g, ans, a, p: g * (a[0] > 0),),  # 0 at x = 0 (a subgradient), as in PyTorch
))
register(Op(
    name="swish", symbol="swish", forward=_swish, shape=lambda s, p: s[0], examples=_UNARY,
    vjps=(_swish_vjp,), family="activations",
))
register(Op(
    name="softmax", symbol="softmax", forward=_softmax, shape=_same_shape_with_axis, examples=_AXIS,
    vjps=(lambda g, ans, a, p: ans * (g - np.sum(g * ans, axis=p.get("axis", -1), keepdims=True)),),
    family="activations",
))
register(Op(
    name="log_softmax", symbol="log softmax", forward=_log_softmax, shape=_same_shape_with_axis,
    examples=_AXIS, family="activations",
    vjps=(lambda g, ans, a, p: g - np.exp(ans) * np.sum(g, axis=p.get("axis", -1), keepdims=True),),
))
register(Op(
    name="logsumexp", symbol="log Σ exp", forward=_logsumexp, shape=_reduced_shape,
    examples=(Example(((5,),)), Example(((3, 4),), {"axis": 1}),
              Example(((2, 3, 4),), {"axis": (0, 2), "keepdims": True})),
    family="activations",
    vjps=(lambda g, ans, a, p: _expand(g, a[0], p) * np.exp(a[0] - _expand(ans, a[0], p)),),
))
