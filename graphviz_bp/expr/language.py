"""The language's functions, generated from the op registry, and the keywords each one takes."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import functions, ops
from ..errors import MemoryLimitError
from .source import MAX_CONSTANT_ELEMENTS, ExprError


@dataclass(frozen=True)
class _Function:
    """A function of the language and how its arguments are read."""

    fn: Callable[..., Any]
    #: Leading positional arguments that are arrays (values); the rest are literals. None: the op
    #: is variadic (its first argument is a list of arrays, or einsum's subscripts then arrays).
    arrays: int | None
    #: Most positional arguments (None: no limit).
    max_args: int | None
    #: Keywords it takes (each a literal).
    keywords: frozenset[str] = frozenset()
    #: The op it records (None for a constructor, which makes a constant).
    op: ops.Op | None = None
    #: Spelled ``np.linalg.f`` only (``np.f`` is refused).
    linalg_only: bool = False
    #: ``np.linalg.f`` is this function.
    in_linalg: bool = False


#: Keywords the language passes on (all take literals); others (``out=``, ``dtype=``, ``where=``...)
#: are refused when parsed.
_KEYWORDS = frozenset(["axis", "keepdims", "ddof", "offset", "axis1", "axis2", "k", "axes", "shape",
                       "repeats", "ord", "upper", "mode", "M", "stop", "step", "fill_value",
                       "constant_values", "shift", "nan", "posinf", "neginf", "UPLO",
                       "full_matrices", "compute_uv", "order"])


#: Keywords a NumPy function takes through ``**kwargs`` (its signature does not name them).
_MORE_KEYWORDS = {np.pad: frozenset(["constant_values"])}


def _positional(fn: Callable[..., Any]) -> tuple[int | None, frozenset[str]]:
    """(most positional arguments or None, keyword names) of ``fn``'s signature."""
    if isinstance(fn, np.ufunc):
        return fn.nin, frozenset()
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: positional only
        return None, frozenset()
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        most = None
    else:
        most = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    names = frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return most, (names | _MORE_KEYWORDS.get(fn, frozenset())) & _KEYWORDS


def _spellings() -> dict[int, list[tuple[str, bool]]]:
    """Every name under which an object lives in ``np`` or ``np.linalg``: id -> [(name, in linalg)]."""
    out: dict[int, list[tuple[str, bool]]] = {}
    for linalg, space in ((False, np), (True, np.linalg)):
        for key, obj in sorted(vars(space).items()):
            if not key.startswith("_") and callable(obj):
                out.setdefault(id(obj), []).append((key, linalg))
    return out


def _constructor(name: str, fn: Callable[..., Any], count: Callable[..., int]) -> Callable[..., Any]:
    def make(*args: Any, _budget: int | None = None, **kwargs: Any) -> np.ndarray:
        for v in list(args) + list(kwargs.values()):
            for part in (v if isinstance(v, (tuple, list)) else (v,)):
                if not isinstance(part, (int, float)) or isinstance(part, bool):
                    raise ExprError(f"{name}() takes integers and tuples of integers, got {part!r}")
        try:
            n = count(*args, **kwargs)
        except TypeError as exc:
            raise ExprError(f"{name}(): {exc}") from None
        if n > MAX_CONSTANT_ELEMENTS:
            raise ExprError(f"{name}() would make {n:,} elements, more than {MAX_CONSTANT_ELEMENTS:,}")
        if _budget is not None and 8 * n > _budget:
            raise MemoryLimitError(f"{name}() of {n:,} elements", 8 * n, _budget)
        return fn(*args, **kwargs)
    make.__name__ = name
    return make


def _shape_size(shape: Any, *rest: Any, **kw: Any) -> int:
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(not isinstance(d, int) or d < 0 for d in dims):
        raise TypeError(f"a shape is non-negative integers, got {shape!r}")
    return math.prod(dims)


def _eye_size(N: int, M: int | None = None, k: int = 0) -> int:
    return max(N, 0) * max(N if M is None else M, 0)


def _arange_size(start: float, stop: float | None = None, step: float = 1) -> int:
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise TypeError("step must not be zero")
    return max(0, math.ceil((stop - start) / step))


_CONSTRUCTORS = {
    "eye": (_constructor("eye", np.eye, _eye_size), 3, frozenset(["M", "k"])),
    "ones": (_constructor("ones", np.ones, _shape_size), 1, frozenset(["shape"])),
    "zeros": (_constructor("zeros", np.zeros, _shape_size), 1, frozenset(["shape"])),
    "arange": (_constructor("arange", np.arange, _arange_size), 3, frozenset(["stop", "step"])),
    "full": (_constructor("full", np.full, _shape_size), 2, frozenset(["shape", "fill_value"])),
}


def _build_functions() -> dict[str, _Function]:
    """The language's functions, generated from the op registry (plus the constructors)."""
    names = _spellings()
    table: dict[str, _Function] = {}
    for op in ops.all_ops():
        if op.expr_name is None:
            continue
        if op.numpy:
            spelled = [(op.expr_name, op.numpy[0])]
            spelled += [(key, fn) for fn in op.numpy for key, _ in names.get(id(fn), [])]
        else:
            fn = getattr(functions, op.name, None)
            if fn is None:
                continue
            spelled = [(op.expr_name, fn)]
        for key, fn in spelled:
            if key in table:
                continue
            where = {linalg for k, linalg in names.get(id(fn), []) if k == key}
            most, keywords = _positional(fn)
            table[key] = _Function(fn, op.arity, most, keywords, op, linalg_only=where == {True},
                                   in_linalg=True in where)
    for key, (fn, most, keywords) in _CONSTRUCTORS.items():
        table[key] = _Function(fn, 0, most, keywords)
    for key, fn in _MASKS.items():
        table[key] = _Function(fn, fn.nin, fn.nin)
    table["argsort"] = _Function(np.argsort, 1, 2, frozenset(["axis"]))  # an order: no gradient
    return dict(sorted(table.items()))


#: Comparisons and logic: functions of arrays that carry no gradient (a 0/1 mask, the Iverson
#: bracket ``[z > 0]`` of a formula); comparison operators themselves stay out of the language.
_MASKS = {fn.__name__: fn for fn in (np.greater, np.greater_equal, np.less, np.less_equal, np.equal,
                                      np.not_equal, np.logical_and, np.logical_or, np.logical_not,
                                      np.isfinite, np.floor_divide)}


FUNCTIONS: dict[str, _Function] = _build_functions()


def function_list(width: int = 96) -> str:
    """The functions of the language, sorted, wrapped to ``width`` columns (for help texts)."""
    import textwrap

    return "\n".join(textwrap.wrap(" ".join(FUNCTIONS), width))
