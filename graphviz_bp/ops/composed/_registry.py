"""The table of NumPy functions made of other functions, the decorators that fill it (binding
NumPy's own signature, refusing keywords by name) and the helpers the modules of this package share."""

from __future__ import annotations

import inspect
import math
import operator
from typing import Any, Callable

import numpy as np

from ...errors import UnsupportedOpError


#: The tracer's version of each NumPy function made of others, by NumPy's callable.
COMPOSED: dict[Callable[..., Any], Callable[..., Any]] = {}
#: The ones whose several ops a drawing frames as one group, titled with the function's name (those
#: that record one op or two, a transpose or a where, are drawn as those ops).
FRAMED: set[Callable[..., Any]] = set()


def _traced(a: Any) -> bool:
    """Whether ``a`` is a traced value (it has the ``value`` it stands for; an array has none)."""
    return hasattr(type(a), "value") and not isinstance(a, np.ndarray)


def _value(a: Any) -> np.ndarray:
    """The array ``a`` stands for: a traced value's (its ``value``), else ``a`` itself as an array."""
    return a.value if _traced(a) else np.asarray(a)


def _name(func: Callable[..., Any]) -> str:
    from .. import numpy_name  # (defined before this package is imported)

    return numpy_name(func)


def _composed(*funcs: Callable[..., Any] | None, refuse: tuple[str, ...] = (), framed: bool = False,
              sequences: tuple[str | None, ...] = ()) -> Callable[[Callable[..., Any]], Any]:
    """Register the decorated function for each of ``funcs`` (NumPy's callables that exist in this
    NumPy): called with NumPy's arguments bound by NumPy's own signature (its errors as NumPy's, named),
    each argument in ``refuse`` refused by name when given other than its default; ``framed``: its
    ops are drawn as a group (``FRAMED``). A list or tuple holding traced values is stacked, as NumPy
    makes one array of it (``np.average(x, weights=[w, 1.0])``); in ``sequences`` (and ``*args``),
    a sequence of arrays (``np.linalg.multi_dot([A, B])``), each item is. ``None`` in
    ``sequences``: no argument is (``np.block``'s nested lists are its own)."""
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for func in funcs:
            if func is not None:  # (None: not in this NumPy, e.g. np.linalg.vector_norm before 2.0)
                COMPOSED[func] = _bound(func, fn, refuse, sequences)
                if framed:
                    FRAMED.add(func)
        return fn
    return register


def _since(name: str) -> Callable[..., Any] | None:
    """NumPy's function ``np.name`` (``linalg.name``), or None where this NumPy has none."""
    space, _, leaf = name.rpartition(".")
    return getattr(np.linalg if space == "linalg" else np, leaf, None)


def _bound(func: Callable[..., Any], fn: Callable[..., Any], refuse: tuple[str, ...],
           sequences: tuple[str | None, ...] = ()) -> Callable[..., Any]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without one in this NumPy: the parameters fn takes
        own = inspect.signature(fn)
        signature = own.replace(parameters=list(own.parameters.values())[1:])
    name = _name(func)

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}: {exc}") from None
        for key in refuse:
            if key in bound.arguments and not _default(bound.arguments[key], signature.parameters[key].default):
                raise UnsupportedOpError(f"{name}(..., {key}=...) is not supported")
        if None not in sequences:
            _stack_lists(bound, signature, sequences)
        bound.apply_defaults()
        given = {k: (None if v is np._NoValue else v) for k, v in bound.arguments.items()}
        return fn(name, **given)
    call.__name__ = func.__name__
    return call


def _stack_lists(bound: inspect.BoundArguments, signature: inspect.Signature,
                 sequences: tuple[str | None, ...]) -> None:
    """The lists and tuples in ``bound`` that hold traced values, stacked (in ``sequences`` and
    ``*args``: each item)."""
    from ...buffers import holds_traced, operand  # (buffers imports the ops: imported when called)

    for key, value in bound.arguments.items():
        if type(value) not in (list, tuple) or not holds_traced(value):
            continue
        if key in sequences or signature.parameters[key].kind is inspect.Parameter.VAR_POSITIONAL:
            bound.arguments[key] = type(value)(operand(v) if type(v) in (list, tuple) else v for v in value)
        else:
            bound.arguments[key] = operand(value)


def _default(value: Any, default: Any) -> bool:
    if value is default or value is None or value is np._NoValue:
        return True
    return isinstance(value, (bool, int, float, str)) and type(value) is type(default) and value == default


def _axis(axis: Any, ndim: int, name: str) -> int:
    try:
        return operator.index(axis) % ndim if -ndim <= operator.index(axis) < ndim else _out_of_range(axis, ndim)
    except TypeError:
        raise TypeError(f"{name}: an axis must be an integer, got {axis!r}") from None


def _out_of_range(axis: Any, ndim: int) -> int:
    raise np.exceptions.AxisError(axis, ndim)


def _axes(axis: Any, ndim: int, name: str, given: bool = False) -> tuple[int, ...]:
    """``axis`` (None: all; an int; a tuple or list) as non-negative axes, each once: sorted, or in
    the order given (``given``)."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(_axis(a, ndim, name) for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: repeated axis")
    return axes if given else tuple(sorted(axes))


def _ndim(a: Any) -> int:
    return len(np.shape(a))


def _missing(a: Any) -> np.ndarray | None:
    """Where ``a``'s values are NaN, when some are (None: none is, or it cannot hold NaNs)."""
    values = _value(a)
    if values.dtype.kind not in "fc":
        return None
    missing = np.isnan(values)
    return missing if missing.any() else None


def _shifted(ndim: int, axis: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """The indices of the later and the earlier of each two neighbours along ``axis`` (``a[1:]``, ``a[:-1]``)."""
    return (tuple(slice(1, None) if i == axis else slice(None) for i in range(ndim)),
            tuple(slice(None, -1) if i == axis else slice(None) for i in range(ndim)))


def _along_last(name: str, a: Any, axis: Any) -> tuple[Any, tuple[int, ...], tuple[int, ...]]:
    """``a`` with the axes ``axis`` reduces moved to the end and merged into one (``a`` flattened
    for None), the reduced axes, and the shape of what is kept."""
    ndim = _ndim(a)
    if ndim == 0:
        return np.reshape(a, (1,)), (), ()
    axes = _axes(axis, ndim, name)
    shape = np.shape(a)
    rest = tuple(i for i in range(ndim) if i not in axes)
    kept = tuple(shape[i] for i in rest)
    if axes != tuple(range(ndim - len(axes), ndim)):
        a = np.transpose(a, rest + axes)
    merged = kept + (math.prod(shape[i] for i in axes),)
    return (np.reshape(a, merged) if merged != np.shape(a) else a), axes, kept


def _keep(out: Any, ndim: int, axes: tuple[int, ...], extra: int = 0) -> Any:
    """``out`` with the reduced ``axes`` put back as length 1 (``extra`` leading axes: the quantiles')."""
    shape = list(np.shape(out))
    for ax in axes:
        shape.insert(extra + ax, 1)
    return np.reshape(out, tuple(shape))


def _composed_ufunc(ufunc: np.ufunc) -> Callable[[Callable[..., Any]], Any]:
    """Register the decorated function for ``ufunc``, called with its inputs (keywords refused)."""
    name = f"np.{ufunc.__name__}"

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*inputs: Any, **kwargs: Any) -> Any:
            if kwargs:
                raise UnsupportedOpError(f"{name}(..., {sorted(kwargs)[0]}=...) is not supported")
            if len(inputs) != ufunc.nin:
                raise TypeError(f"{name}() takes {ufunc.nin} arguments, got {len(inputs)}")
            return fn(name, *inputs)
        call.__name__ = ufunc.__name__
        COMPOSED[ufunc] = call
        return fn
    return register
