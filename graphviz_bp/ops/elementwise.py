"""Elementwise primitives (NumPy ufuncs): arithmetic operators, exp/log/tanh/sqrt, maximum."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, register
from ._broadcast import broadcast_shapes

_DIGITS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _same(shapes, params):
    return shapes[0]


def _broadcast(shapes, params):
    return broadcast_shapes(*shapes)


def _unary(name, symbol, ufunc, vjp, low=-2.0, high=2.0, also=(), **more):
    register(Op(
        name=name, symbol=symbol, forward=ufunc, vjps=(vjp,), shape=_same, numpy=(ufunc, *also),
        examples=(Example(((),), low=low, high=high), Example(((3, 4),), low=low, high=high)),
        family="elementwise", **more,
    ))


def _binary(name, symbol, ufunc, vjp0, vjp1, low=-2.0, high=2.0, **more):
    register(Op(
        name=name, symbol=symbol, forward=ufunc, vjps=(vjp0, vjp1), shape=_broadcast,
        numpy=(ufunc,), family="elementwise", **more,
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


def _power_label(params, constants):
    """``(·)²`` for a constant exponent 0..9, else ``(·)^(·)``."""
    k = constants[1] if len(constants) > 1 else None
    if k is not None and np.asarray(k).dtype.kind in "biuf":
        k = float(k)
        if k.is_integer() and 0 <= k < 10:
            return "(·)" + str(int(k)).translate(_DIGITS)
    return "(·)^(·)"


_binary("power", "^", np.power,
        lambda g, ans, a, p: g * a[1] * np.power(a[0], np.where(a[1] == 0, 1, a[1] - 1)),  # x**0: 0, not nan
        lambda g, ans, a, p: g * ans * _log_base(a[0]),
        low=0.5, high=2.0, label=_power_label)
# the same power, computed in float64 whatever the operands' types
_binary("float_power", "^", np.float_power,
        lambda g, ans, a, p: g * a[1] * np.float_power(a[0], np.where(a[1] == 0, 1, a[1] - 1)),
        lambda g, ans, a, p: g * ans * _log_base(a[0]),
        low=0.5, high=2.0, label=_power_label)
# x % y = x - floor(x/y)·y: the floor is piecewise constant, so only its two linear terms remain.
_binary("remainder", "mod", np.remainder,
        lambda g, ans, a, p: g,
        lambda g, ans, a, p: -g * np.floor_divide(a[0], a[1]),
        low=0.5, high=2.0)
_unary("negative", "−(·)", np.negative, lambda g, ans, a, p: -g)
_unary("positive", "+(·)", np.positive, lambda g, ans, a, p: g)


# --- transcendental -------------------------------------------------------------------------------
_unary("exp", "exp", np.exp, lambda g, ans, a, p: g * ans)
_unary("log", "log", np.log, lambda g, ans, a, p: g / a[0], low=0.2, high=3.0)
_unary("tanh", "tanh", np.tanh, lambda g, ans, a, p: g * (1 - ans * ans))
_unary("sqrt", "√", np.sqrt, lambda g, ans, a, p: g * 0.5 / ans, low=0.2, high=3.0)
_unary("square", "(·)²", np.square, lambda g, ans, a, p: g * 2 * a[0])
_unary("abs", "|·|", np.absolute, lambda g, ans, a, p: g * np.sign(a[0]))  # 0 at x = 0
_unary("reciprocal", "1/(·)", np.reciprocal, lambda g, ans, a, p: -g * ans * ans, low=0.5, high=2.0)
_unary("expm1", "exp(·)−1", np.expm1, lambda g, ans, a, p: g * (ans + 1))
_unary("log1p", "log(1+·)", np.log1p, lambda g, ans, a, p: g / (1 + a[0]), low=-0.5, high=2.0)
_unary("sin", "sin", np.sin, lambda g, ans, a, p: g * np.cos(a[0]))
_unary("cos", "cos", np.cos, lambda g, ans, a, p: -g * np.sin(a[0]))
_unary("sinh", "sinh", np.sinh, lambda g, ans, a, p: g * np.cosh(a[0]))
_unary("cosh", "cosh", np.cosh, lambda g, ans, a, p: g * np.sinh(a[0]))
_unary("arctan", "arctan", np.arctan, lambda g, ans, a, p: g / (1 + a[0] * a[0]))
_unary("tan", "tan", np.tan, lambda g, ans, a, p: g * (1 + ans * ans), low=-1.2, high=1.2)
_unary("arcsin", "arcsin", np.arcsin, lambda g, ans, a, p: g / np.sqrt(1 - a[0] * a[0]), low=-0.9, high=0.9)
_unary("arccos", "arccos", np.arccos, lambda g, ans, a, p: -g / np.sqrt(1 - a[0] * a[0]), low=-0.9, high=0.9)
_unary("arcsinh", "arsinh", np.arcsinh, lambda g, ans, a, p: g / np.sqrt(a[0] * a[0] + 1))
_unary("arccosh", "arcosh", np.arccosh, lambda g, ans, a, p: g / np.sqrt(a[0] * a[0] - 1), low=1.2, high=3.0)
_unary("arctanh", "artanh", np.arctanh, lambda g, ans, a, p: g / (1 - a[0] * a[0]), low=-0.9, high=0.9)
_unary("log2", "log₂", np.log2, lambda g, ans, a, p: g / (a[0] * np.log(2.0)), low=0.2, high=3.0)
_unary("log10", "log₁₀", np.log10, lambda g, ans, a, p: g / (a[0] * np.log(10.0)), low=0.2, high=3.0)
_unary("exp2", "2^(·)", np.exp2, lambda g, ans, a, p: g * ans * np.log(2.0))
_unary("cbrt", "∛", np.cbrt, lambda g, ans, a, p: g / (3 * ans * ans), low=0.2, high=3.0)  # ∞ at 0, as x ** (1/3)
_unary("deg2rad", "× π/180", np.deg2rad, lambda g, ans, a, p: g * (np.pi / 180), also=(np.radians,))
_unary("rad2deg", "× 180/π", np.rad2deg, lambda g, ans, a, p: g * (180 / np.pi), also=(np.degrees,))
# arctan2(y, x): the angle of the point (x, y); its gradient is (x, −y) / (x² + y²), whatever the quadrant
_binary("arctan2", "arctan2", np.arctan2,
        lambda g, ans, a, p: g * a[1] / (a[0] * a[0] + a[1] * a[1]),
        lambda g, ans, a, p: -g * a[0] / (a[0] * a[0] + a[1] * a[1]),
        low=0.5, high=2.0)
_binary("hypot", "hypot", np.hypot,
        lambda g, ans, a, p: g * a[0] / ans,
        lambda g, ans, a, p: g * a[1] / ans,
        low=0.5, high=2.0)
_unary("conj", "conj", np.conjugate, lambda g, ans, a, p: g,  # the identity on real values
       methods=("conj", "conjugate"))


# --- piecewise ------------------------------------------------------------------------------------
def _winner(x, y):
    """1 where x wins the comparison, 0 where it loses, 1/2 on ties (the gradient is split evenly)."""
    return np.where(x == y, 0.5, (x > y).astype(np.result_type(x, y, np.float16)))


_binary("maximum", "max(·, ·)", np.maximum,
        lambda g, ans, a, p: g * _winner(a[0], a[1]),
        lambda g, ans, a, p: g * _winner(a[1], a[0]))
_binary("minimum", "min(·, ·)", np.minimum,
        lambda g, ans, a, p: g * _winner(a[1], a[0]),
        lambda g, ans, a, p: g * _winner(a[0], a[1]))
_binary("logaddexp", "log(eᵃ+eᵇ)", np.logaddexp,
        lambda g, ans, a, p: g * np.exp(a[0] - ans),
        lambda g, ans, a, p: g * np.exp(a[1] - ans))
_binary("logaddexp2", "log₂(2ᵃ+2ᵇ)", np.logaddexp2,
        lambda g, ans, a, p: g * np.exp2(a[0] - ans),
        lambda g, ans, a, p: g * np.exp2(a[1] - ans))
# nextafter(x, y): the float after x towards y, x moved by at most one unit in the last place: its
# slope in x is 1 (scipy's solve_ivp steps by it), and nothing flows to the direction y
_binary("nextafter", "nextafter", np.nextafter,
        lambda g, ans, a, p: g,
        None)
# heaviside(x, h0): 0 below 0, 1 above, h0 at 0; nothing flows to x (its derivative is 0 or undefined),
# and to h0 only where x is 0
_binary("heaviside", "H", np.heaviside,
        None,
        lambda g, ans, a, p: g * (a[0] == 0))


def _bind_clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **rest):
    if out is not None or rest:
        raise UnsupportedOpError("np.clip(..., out=...) and ufunc keywords are not supported")
    lo = a_min if a_min is not None and a_min is not np._NoValue else min
    hi = a_max if a_max is not None and a_max is not np._NoValue else max
    if lo is None and hi is None:
        raise ValueError("np.clip needs a lower or an upper bound")
    return (a, -np.inf if lo is None else lo, np.inf if hi is None else hi), {}


# np.clip(a, lo, hi) is minimum(maximum(a, lo), hi) (hi wins when lo > hi); the rules follow that.
def _clip_vjp(g, ans, a, p, which):
    x, lo, hi = a
    below_hi = np.maximum(x, lo) <= hi
    mask = {0: (x >= lo) & below_hi, 1: (x < lo) & below_hi, 2: ~below_hi}[which]
    return g * mask


register(Op(
    name="clip", symbol="clip", forward=np.clip, shape=_broadcast, numpy=(np.clip,), bind=_bind_clip,
    family="elementwise", methods=("clip",),
    vjps=(lambda g, ans, a, p: _clip_vjp(g, ans, a, p, 0),
          lambda g, ans, a, p: _clip_vjp(g, ans, a, p, 1),
          lambda g, ans, a, p: _clip_vjp(g, ans, a, p, 2)),
    examples=(Example(((3, 4), (), ())), Example(((3, 4), (4,), ()), consts={2: 1.0}),
              Example(((5,), (), ()), consts={1: -0.5, 2: 0.5})),
))


def _bind_where(condition, x=None, y=None):
    if x is None or y is None:
        raise UnsupportedOpError("np.where(condition) with one argument (the indices) is not "
                                 "supported; use np.where(condition, x, y)")
    return (condition, x, y), {}


def _where_shape(shapes, params):
    return broadcast_shapes(*shapes)


register(Op(
    name="where", symbol="where", forward=np.where, shape=_where_shape, numpy=(np.where,),
    bind=_bind_where, family="elementwise",
    vjps=(None,  # the condition is not differentiated
          lambda g, ans, a, p: g * a[0].astype(bool),
          lambda g, ans, a, p: g * ~a[0].astype(bool)),
    examples=(Example(((3, 4), (3, 4), (3, 4)), consts={0: np.array([[True, False, True, False]] * 3)}),
              Example(((3, 4), (4,), ()), consts={0: np.eye(3, 4, dtype=bool)})),
))
