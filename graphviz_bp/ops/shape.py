"""Shape primitives: transpose (``.T``, ``np.transpose`` with axes) and reshape."""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, register


def _axes(params, ndim):
    axes = params.get("axes")
    return tuple(range(ndim))[::-1] if axes is None else tuple(int(a) % ndim for a in axes)


def _transpose_shape(shapes, params):
    shape = shapes[0]
    axes = params.get("axes")
    if axes is not None and sorted(int(a) % max(len(shape), 1) for a in axes) != list(range(len(shape))):
        raise ValueError(f"axes {tuple(axes)} are not a permutation of the {len(shape)} axes")
    return tuple(shape[i] for i in _axes(params, len(shape)))


def _bind_transpose(a, axes=None):
    return (a,), {"axes": None if axes is None else tuple(axes)}


register(Op(
    name="transpose", symbol="(·)ᵀ",
    forward=lambda x, axes=None: np.transpose(x, axes),
    vjps=(lambda g, ans, a, p: np.transpose(g, np.argsort(_axes(p, a[0].ndim))),),
    shape=_transpose_shape, numpy=(np.transpose,), bind=_bind_transpose, family="shape",
    examples=(Example(((3, 4),)), Example(((4,),)), Example(((2, 3, 4),), {"axes": (1, 2, 0)})),
))


def _reshape_shape(shapes, params):
    shape, new = shapes[0], params["shape"]
    size = math.prod(shape)
    unknown = [i for i, d in enumerate(new) if d == -1]
    if len(unknown) > 1 or any(d < -1 for d in new):
        raise ValueError(f"invalid target shape {new}")
    if unknown:
        known = math.prod(d for d in new if d != -1)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape {size} elements into shape {new}")
        new = tuple(size // known if d == -1 else d for d in new)
    if math.prod(new) != size:
        raise ValueError(f"cannot reshape {size} elements into shape {new}")
    return tuple(new)


def _bind_reshape(a, *args, shape=None, newshape=None, order="C", copy=None):
    if args and isinstance(args[-1], str) and args[-1] in "CFA":
        *args, order = args
    new = shape if shape is not None else newshape
    if args:
        new = args[0] if len(args) == 1 else tuple(args)
    if new is None:
        raise TypeError("reshape needs a target shape")
    if order != "C":
        raise UnsupportedOpError(f"reshape(order={order!r}) is not supported; only order='C' is")
    new = (int(new),) if isinstance(new, (int, np.integer)) else tuple(int(d) for d in new)
    return (a,), {"shape": new}


register(Op(
    name="reshape", symbol="reshape",
    forward=lambda x, shape: np.reshape(x, shape),
    vjps=(lambda g, ans, a, p: np.reshape(g, a[0].shape),),
    shape=_reshape_shape, numpy=(np.reshape,), bind=_bind_reshape, family="shape",
    examples=(Example(((3, 4),), {"shape": (2, 6)}), Example(((3, 4),), {"shape": (-1,)}),
              Example(((6,),), {"shape": (3, -1, 1)})),
))
