"""Linear algebra primitives: matmul (``@``) in all rank combinations, and ``np.dot``."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, register
from ._broadcast import broadcast_shapes


def _matmul_shape(shapes, params):
    a, b = shapes
    if not a or not b:
        raise ValueError("matmul does not take scalar (0-d) operands; use * for scaling")
    k_a = a[-1]
    k_b = b[0] if len(b) == 1 else b[-2]
    if k_a != k_b:
        which_b = "its only axis" if len(b) == 1 else "its axis -2"
        raise ValueError(f"inner dimensions differ: {k_a} (last axis of the left operand) != {k_b} "
                         f"({which_b} of the right operand)")
    batch = broadcast_shapes(a[:-2], b[:-2]) if len(a) > 2 or len(b) > 2 else ()
    return batch + a[-2:-1] + b[-1:] if len(b) > 1 else batch + a[-2:-1]


def _as_matrices(g, a, b):
    """Promote 1-d operands to matrices, as matmul does, and give g the matching axes."""
    if a.ndim == 1:
        a = a[np.newaxis, :]
        g = g[..., np.newaxis, :] if b.ndim > 1 else g[..., np.newaxis]
    if b.ndim == 1:
        b = b[:, np.newaxis]
        g = g[..., np.newaxis]
    return g, a, b


def _matmul_vjp0(g, ans, args, params):
    a, b = args
    if a.ndim == 2 and b.ndim == 2:
        return g @ b.T
    g2, a2, b2 = _as_matrices(g, a, b)
    out = g2 @ np.swapaxes(b2, -1, -2)
    return out[..., 0, :] if a.ndim == 1 else out


def _matmul_vjp1(g, ans, args, params):
    a, b = args
    if a.ndim == 2 and b.ndim == 2:
        return a.T @ g
    g2, a2, b2 = _as_matrices(g, a, b)
    out = np.swapaxes(a2, -1, -2) @ g2
    return out[..., 0] if b.ndim == 1 else out


_MATMUL_EXAMPLES = (
    Example(((3, 4), (4, 2))),
    Example(((3, 4), (4,))),
    Example(((4,), (4, 2))),
    Example(((4,), (4,))),
    Example(((2, 3, 4), (4, 5))),
    Example(((2, 1, 3, 4), (5, 4, 2))),
    Example(((4,), (2, 4, 3))),
)

register(Op(
    name="matmul", symbol="@", forward=np.matmul, vjps=(_matmul_vjp0, _matmul_vjp1),
    shape=_matmul_shape, numpy=(np.matmul,), examples=_MATMUL_EXAMPLES, family="linalg",
))


# np.dot: a product over the last axis of a and the second-to-last of b (the only axis of a 1-d b);
# a scalar operand makes it a plain product.
def _dot_shape(shapes, params):
    a, b = shapes
    if not a or not b:
        return broadcast_shapes(a, b) if not a and not b else (a or b)
    k_b = b[0] if len(b) == 1 else b[-2]
    if a[-1] != k_b:
        which_b = "its only axis" if len(b) == 1 else "its axis -2"
        raise ValueError(f"inner dimensions differ: {a[-1]} (last axis of the left operand) != {k_b} "
                         f"({which_b} of the right operand)")
    return a[:-1] if len(b) == 1 else a[:-1] + b[:-2] + b[-1:]


def _dot_vjp0(g, ans, args, params):
    a, b = args
    if a.ndim == 0 or b.ndim == 0:
        return g * b
    if b.ndim == 1:
        return g[..., np.newaxis] * b
    g_axes = list(range(a.ndim - 1, g.ndim))
    b_axes = list(range(b.ndim - 2)) + [b.ndim - 1]
    return np.tensordot(g, b, axes=(g_axes, b_axes))


def _dot_vjp1(g, ans, args, params):
    a, b = args
    if a.ndim == 0 or b.ndim == 0:
        return g * a
    lead = list(range(a.ndim - 1))
    out = np.tensordot(a, g, axes=(lead, lead))  # (k,) + b.shape[:-2] + (m,), or (k,) for 1-d b
    return out if b.ndim == 1 else np.moveaxis(out, 0, -2)


def _bind_dot(a, b, out=None):
    if out is not None:
        raise UnsupportedOpError("np.dot(..., out=...) is not supported: graphviz_bp records new "
                                 "values and never writes into existing arrays")
    return (a, b), {}


register(Op(
    name="dot", symbol="·", forward=np.dot, vjps=(_dot_vjp0, _dot_vjp1), shape=_dot_shape,
    numpy=(np.dot,), family="linalg",
    bind=_bind_dot,
    examples=_MATMUL_EXAMPLES[:4] + (
        Example(((2, 3, 4), (5, 4, 2))),
        Example(((), (3, 2))),
        Example(((3,), ())),
    ),
))

