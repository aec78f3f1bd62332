"""Elementwise primitives (NumPy ufuncs): arithmetic operators, exp/log/tanh/sqrt, maximum."""

from __future__ import annotations

import numpy as np

from . import Example, Op, register
from ._broadcast import broadcast_shapes


def _same(shapes, params):
    return shapes[0]


def _broadcast(shapes, params):
    return broadcast_shapes(*shapes)


def _unary(name, symbol, ufunc, vjp, low=-2.0, high=2.0):
    register(Op(
        name=name, symbol=symbol, forward=ufunc, vjps=(vjp,), shape=_same, numpy=(ufunc,),
        examples=(Example(((),), low=low, high=high), Example(((3, 4),), low=low, high=high)),
        family="elementwise",
    ))


def _binary(name, symbol, ufunc, vjp0, vjp1, low=-2.0, high=2.0):
    register(Op(
        name=name, symbol=symbol, forward=ufunc, vjps=(vjp0, vjp1), shape=_broadcast,
        numpy=(ufunc,), family="elementwise",
        examples=(
            Example(((3, 4), (3, 4)), low=low, high=high),
            Example(((3, 4), (4,)), low=low, high=high),
            Example(((2, 1, 4), (3, 1)), low=low, high=high),
            Example(((), (3,)), low=low, high=high),
        ),
    ))


# --- arithmetic -----------------------------------------------------------------------------------
_binary("add", "+", np.add,
        lambda g, ans, a, p: g,
        lambda g, ans, a, p: g)
_binary("subtract", "−", np.subtract,
        lambda g, ans, a, p: g,
        lambda g, ans, a, p: -g)
_binary("multiply", "×", np.multiply,
        lambda g, ans, a, p: g * a[1],
        lambda g, ans, a, p: g * a[0])
_binary("divide", "÷", np.divide,
        lambda g, ans, a, p: g / a[1],
        lambda g, ans, a, p: -g * ans / a[1],
        low=0.5, high=2.0)


def _log_base(x):
    # log(x) where it is defined; at x == 0 the term it multiplies (x**y) is 0, so use 0 there.
    return np.log(np.where(x == 0, 1, x))


_binary("power", "^", np.power,
        lambda g, ans, a, p: g * a[1] * np.power(a[0], a[1] - 1),
        lambda g, ans, a, p: g * ans * _log_base(a[0]),
        low=0.5, high=2.0)
_unary("negative", "−(·)", np.negative, lambda g, ans, a, p: -g)


# --- transcendental -------------------------------------------------------------------------------
_unary("exp", "exp", np.exp, lambda g, ans, a, p: g * ans)
_unary("log", "log", np.log, lambda g, ans, a, p: g / a[0], low=0.2, high=3.0)
_unary("tanh", "tanh", np.tanh, lambda g, ans, a, p: g * (1 - ans * ans))
_unary("sqrt", "√", np.sqrt, lambda g, ans, a, p: g * 0.5 / ans, low=0.2, high=3.0)
_unary("square", "(·)²", np.square, lambda g, ans, a, p: g * 2 * a[0])
_unary("abs", "|·|", np.absolute, lambda g, ans, a, p: g * np.sign(a[0]))  # 0 at x = 0


# --- piecewise ------------------------------------------------------------------------------------
def _winner(x, y):
    """1 where x wins the comparison, 0 where it loses, 1/2 on ties (the gradient is split evenly)."""
    return np.where(x == y, 0.5, (x > y).astype(np.result_type(x, y, np.float16)))


_binary("maximum", "max", np.maximum,
        lambda g, ans, a, p: g * _winner(a[0], a[1]),
        lambda g, ans, a, p: g * _winner(a[1], a[0]))
