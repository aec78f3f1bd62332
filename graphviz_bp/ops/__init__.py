"""The op registry: one declaration per primitive (callable, symbol, forward, VJP rules, shape rule)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import UnsupportedOpError

Shape = tuple[int, ...]
Params = Mapping[str, Any]
#: A VJP rule: ``rule(g, ans, args, params) -> message`` for one argument. ``g`` is the cotangent of
#: the op's output, ``ans`` its value, ``args`` the values of all operands. The message may keep the
#: output's broadcast shape: the backward pass undoes broadcasting once, with ``unbroadcast``.
VJP = Callable[[np.ndarray, np.ndarray, Sequence[np.ndarray], Params], np.ndarray]
#: A shape rule: ``rule(shapes, params) -> output shape``; raises ValueError with a reason.
ShapeRule = Callable[[Sequence[Shape], Params], Shape]
#: Turns a NumPy call's ``(*args, **kwargs)`` into ``(operands, params)``.
Binder = Callable[..., tuple[tuple[Any, ...], dict[str, Any]]]


@dataclass(frozen=True)
class Example:
    """Operand shapes (and params) on which the registry-wide finite-difference test checks an op.

    Operands are drawn uniformly from ``[low, high]``; ``make`` maps operand positions to functions
    of a random generator that build that operand instead (e.g. a well-conditioned matrix);
    ``consts`` maps operand positions to fixed values used as constants (not differentiated).
    """

    shapes: tuple[Shape, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    low: float = -2.0
    high: float = 2.0
    consts: Mapping[int, Any] = field(default_factory=dict)
    make: Mapping[int, Callable[[np.random.Generator], np.ndarray]] = field(default_factory=dict)
    #: How user code calls the NumPy function on the operands, when not ``fn(*operands, **params)``.
    call: Callable[..., Any] | None = None


@dataclass(frozen=True, eq=False)
class Op:
    """A primitive the tracer records and the backward pass differentiates."""

    name: str
    symbol: str
    forward: Callable[..., Any]
    vjps: tuple[VJP | None, ...]
    shape: ShapeRule
    examples: tuple[Example, ...]
    numpy: tuple[Callable[..., Any], ...] = ()
    bind: Binder | None = None
    family: str = ""
    #: A variadic op (concatenate, stack) has one rule for all operands, called with ``argnum=``.
    variadic: bool = False
    #: What a NumPy call returns, built from the traced result and the operand values (e.g.
    #: slogdet's ``(sign, logabsdet)``); None: the traced result itself.
    result: Callable[[Any, Sequence[np.ndarray]], Any] | None = None

    def __repr__(self) -> str:
        return f"Op({self.name!r}, symbol={self.symbol!r})"

    @property
    def arity(self) -> int | None:
        """Number of operands (None for a variadic op)."""
        return None if self.variadic else len(self.vjps)

    def vjp(self, argnum: int, g: np.ndarray, ans: np.ndarray, args: Sequence[np.ndarray],
            params: Params) -> np.ndarray | None:
        """The message for operand ``argnum`` (None when that operand is not differentiable)."""
        if self.variadic:
            return self.vjps[0](g, ans, args, params, argnum=argnum)  # type: ignore[call-arg]
        rule = self.vjps[argnum]
        return None if rule is None else rule(g, ans, args, params)


_BY_NAME: dict[str, Op] = {}
_BY_CALLABLE: dict[Any, Op] = {}


def register(op: Op) -> Op:
    """Add ``op`` to the registry; each name and NumPy callable may be declared once."""
    if op.name in _BY_NAME:
        raise ValueError(f"op {op.name!r} is already registered")
    for fn in op.numpy:
        if fn in _BY_CALLABLE:
            raise ValueError(f"{fn!r} already maps to op {_BY_CALLABLE[fn].name!r}")
    _BY_NAME[op.name] = op
    for fn in op.numpy:
        _BY_CALLABLE[fn] = op
    return op


def get(name: str) -> Op:
    """The registered op called ``name``."""
    return _BY_NAME[name]


def all_ops() -> tuple[Op, ...]:
    """Every registered op, in declaration order."""
    return tuple(_BY_NAME.values())


def numpy_name(fn: Any) -> str:
    """How the user spells a NumPy callable, e.g. ``np.linalg.slogdet`` or ``np.add``."""
    name = getattr(fn, "__name__", repr(fn))
    module = getattr(fn, "__module__", None) or "numpy"
    sub = module.split(".")[1] if module.startswith("numpy.") else ""
    if sub in ("linalg", "fft", "random"):
        return f"np.{sub}.{name}"
    return f"np.{name}"


def lookup(fn: Any) -> Op:
    """The op recorded for the NumPy callable ``fn``; UnsupportedOpError naming it otherwise."""
    op = _BY_CALLABLE.get(fn)
    if op is None:
        supported = ", ".join(sorted(numpy_name(f) for f in _BY_CALLABLE))
        raise UnsupportedOpError(
            f"{numpy_name(fn)} is not supported by graphviz_bp's tracer (supported: {supported})"
        )
    return op


from . import activations, elementwise, linalg, reductions, shape  # noqa: E402,F401  (declarations register themselves)
