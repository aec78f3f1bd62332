"""The op registry: one declaration per primitive (callables, spellings, label, forward, VJP rules, shape rule).

Each primitive is declared once, in the module of its family (``elementwise``, ``reductions``,
``activations``, ``products``, ``linalg``, ``shape``, ``indexing``, ``joining``, ``moves``): its NumPy callables and
ndarray method names, its name in the expression language, its drawing label, its forward, one VJP
rule per argument, its shape rule and the example shapes on which the registry-wide tests check it. Broadcasting is undone once,
by ``_broadcast.unbroadcast``. The package is the core's bottom layer: it imports NumPy and
``errors`` only, never the graph, the tracer, the drawing stage or a front end.
"""

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
#: A drawing label: ``label(params, operand_constants) -> text``; ``operand_constants[i]`` is the
#: value of operand ``i`` when it is a constant scalar (a 0-d constant leaf), else None.
Label = Callable[[Params, Sequence[Any]], str]


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
    #: The result can be larger than the product of the operands' sizes (``np.diag`` of a vector,
    #: ``broadcast_to``): the memory limit then asks the shape rule for its size.
    grows: bool = False
    #: The ndarray methods that record this op (``x.sum(...)``), bound by ``bind`` with the array
    #: first, exactly as the NumPy function is (``x.sum(axis=0)`` is ``np.sum(x, axis=0)``).
    methods: tuple[str, ...] = ()
    #: The expression language's name for the op: "" for its NumPy name (the op's name when it has
    #: no NumPy callable); None when the language writes it otherwise (indexing: ``x[...]``).
    spelling: str | None = ""
    #: The drawing's symbol where it depends on the params or on constant operands (``Σ axis 0``,
    #: ``(·)²``); None: always ``symbol``. See ``display_label``.
    label: Label | None = None
    #: ``constant(params)`` True: this call carries no gradient (``astype(int)``); the result is
    #: computed on the values and enters the graph as a constant. None: always differentiable.
    constant: Callable[[Params], bool] | None = None
    #: ``pieces(params)``: the NumPy call returns a list of this many arrays (``np.split``); each
    #: piece is its own node, recorded with the extra param ``piece=k`` (``pieces`` returning None:
    #: this call returns one array, recorded without ``piece``). None: one result.
    pieces: Callable[[Params], int] | None = None

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

    @property
    def expr_name(self) -> str | None:
        """How the expression language calls this op (None: it has no function spelling)."""
        if self.spelling is None:
            return None
        return self.spelling or (getattr(self.numpy[0], "__name__", self.name) if self.numpy else self.name)


def display_label(op: Op, params: Params, operand_constants: Sequence[Any] = ()) -> str:
    """The symbol a drawing shows for ``op`` with ``params``: the op's ``label`` when it has one
    (which may read the constant scalars among its operands), else its ``symbol``.

    ``operand_constants[i]`` is operand ``i``'s value when that operand is a constant scalar, else
    None (missing entries count as None).

    >>> display_label(get("power"), {}, [None, 2.0]), display_label(get("power"), {}, [None, 0.5])
    ('(·)²', '(·)^(·)')
    >>> display_label(get("sum"), {"axis": 0, "keepdims": False}), display_label(get("sum"), {"axis": None})
    ('Σ axis 0', 'Σ')
    >>> display_label(get("reshape"), {"shape": (2, 3)}), display_label(get("exp"), {})
    ('reshape 2×3', 'exp')
    """
    return op.symbol if op.label is None else op.label(params, operand_constants)


def format_shape(dims: Sequence[int]) -> str:
    """A shape as a reader writes it, as the drawing does: ``3×5``, ``5``, ``scalar``.

    >>> format_shape((3, 5)), format_shape((5,)), format_shape(())
    ('3×5', '5', 'scalar')
    """
    return "×".join(str(d) for d in dims) if len(dims) else "scalar"


def axis_label(symbol: str) -> Label:
    """A label ``'<symbol> axis <axis>'`` when the op has an ``axis`` param that is not None."""
    def label(params: Params, constants: Sequence[Any]) -> str:
        axis = params.get("axis")
        return symbol if axis is None else f"{symbol} axis {axis}"
    return label


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
    if module.startswith(("numpy.lib.stride_tricks", "numpy.lib._stride_tricks")):  # (not in np itself)
        return f"np.lib.stride_tricks.{name}"
    return f"np.{name}"


#: NumPy functions whose result carries no gradient (shapes, predicates, comparisons, rounding:
#: derivative zero or undefined). On traced values they are computed on the values and give plain
#: arrays, which enter the graph as constants.
CONSTANT_FUNCTIONS = frozenset([
    np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.shape, np.ndim, np.size,
    np.isfinite, np.isnan, np.isinf, np.signbit, np.sign, np.floor, np.ceil, np.rint, np.trunc,
    np.round, np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor, np.argmax, np.argmin, np.argsort,
    np.nonzero, np.allclose, np.isclose, np.array_equal, np.any, np.all, np.count_nonzero,
    np.around, np.floor_divide, np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert,
    np.left_shift, np.right_shift, np.argpartition, np.searchsorted, np.imag,
    np.nanargmax, np.nanargmin, np.argwhere, np.flatnonzero, np.diag_indices_from,  # indices
    np.isin, np.isposinf, np.isneginf, np.isreal, np.iscomplex, np.array_equiv, np.digitize, np.lexsort,
    np.spacing, np.angle, np.linalg.matrix_rank,
    np.result_type, np.min_scalar_type, np.can_cast, np.iscomplexobj, np.isrealobj,  # dtypes only
])

#: ndarray methods whose result carries no gradient: on traced values they are computed on the
#: values (the NumPy method of the same name) and give plain arrays.
CONSTANT_METHODS = frozenset(["argmax", "argmin", "argsort", "argpartition", "nonzero", "any", "all",
                              "round", "searchsorted"])

#: Suggestions for functions a user may reach for, where the supported spelling differs.
_ALTERNATIVES = {
    "true_divide": "np.divide", "amax": "np.max",
    "amin": "np.min", "negative": "unary -", "logsumexp": "graphviz_bp.logsumexp",
    "expit": "graphviz_bp.sigmoid", "tanh": "np.tanh",
    "put_along_axis": "arr = graphviz_bp.put_along_axis(arr, indices, values, axis) (it returns the "
                      "updated array; NumPy's writes into arr in place, which is not recorded)",
    "matvec": "@", "vecdot": "np.sum(a * b, axis=-1)",
    "flatten": "np.ravel",
    "apply_along_axis": "a loop over the axis, or the same operation written on the whole array",
    "unique": "np.unique on the values only (x.value), outside the loss",
}


def suggestion(fn: Any) -> str:
    """A closest supported alternative to ``fn``, as advice ('' when there is none)."""
    import difflib

    name = getattr(fn, "__name__", "")
    if name in _ALTERNATIVES:
        alt = _ALTERNATIVES[name]
        return f"; use {alt} instead" if alt else ""
    names = {getattr(f, "__name__", ""): numpy_name(f) for f in _BY_CALLABLE}
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.75)
    return f"; did you mean {names[close[0]]}?" if close else ""


def lookup(fn: Any) -> Op:
    """The op recorded for the NumPy callable ``fn``; UnsupportedOpError naming it otherwise."""
    op = _BY_CALLABLE.get(fn)
    if op is None:
        raise UnsupportedOpError(f"{numpy_name(fn)} is not supported by graphviz_bp's tracer"
                                 f"{suggestion(fn)} (graphviz_bp.supported() lists what is)")
    return op


def supported() -> list[str]:
    """Every NumPy function the tracer records (as its own op, or as the ops it is made of: see
    ``composed``), under each name NumPy gives it (``np.abs`` and ``np.absolute``), sorted."""
    recorded = {id(f): f for f in (*_BY_CALLABLE, *composed.COMPOSED)}
    names = {numpy_name(f) for f in recorded.values()}
    for prefix, space in (("np.", np), ("np.linalg.", np.linalg)):
        names.update(prefix + key for key, obj in vars(space).items()
                     if not key.startswith("_") and id(obj) in recorded)
    return sorted(names)


# the declarations register themselves; all_ops() keeps this order, so it is not alphabetical
from . import activations, elementwise, products, linalg, reductions, shape, indexing  # noqa: E402,F401
from . import joining, moves  # noqa: E402,F401
from . import composed  # noqa: E402  (NumPy functions made of the ops above)
