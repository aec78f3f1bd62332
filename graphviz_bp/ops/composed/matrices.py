"""Matrix functions made of others: np.tril, np.triu, np.kron, np.cross, np.linalg.matrix_power,
multi_dot, lstsq, cond, np.linalg.norm's other orders, NumPy 2's linalg norms, outer, trace,
diagonal and matrix_transpose."""

from __future__ import annotations

import operator
from typing import Any, Callable

import numpy as np

from ...errors import UnsupportedOpError
from ._registry import _value, _composed, _since, _axis, _ndim, _along_last, _keep


def _triangle(lower: bool) -> Callable[..., Any]:
    def composed(name: str, m: Any, k: Any) -> Any:
        """``m`` with the entries above (below) its ``k``-th diagonal 0, as NumPy writes it: a where."""
        shape = np.shape(m)
        mask = np.tri(*shape[-2:], k=k if lower else k - 1, dtype=bool)
        zero = np.zeros(1, _value(m).dtype)
        return np.where(mask, m, zero) if lower else np.where(mask, zero, m)
    return composed


_composed(np.tril)(_triangle(True))


_composed(np.triu)(_triangle(False))


@_composed(np.kron, framed=True)
def _kron(name: str, a: Any, b: Any) -> Any:
    """Every product ``a[i] b[j]``, laid out as NumPy's kron lays them out."""
    nda, ndb = _ndim(a), _ndim(b)
    if nda == 0 or ndb == 0:
        return np.multiply(a, b)
    nd = max(nda, ndb)
    sa = (1,) * (nd - nda) + tuple(np.shape(a))
    sb = (1,) * (nd - ndb) + tuple(np.shape(b))
    left = np.reshape(a, tuple(x for n in sa for x in (n, 1)))
    right = np.reshape(b, tuple(x for n in sb for x in (1, n)))
    return np.reshape(left * right, tuple(i * j for i, j in zip(sa, sb)))


@_composed(np.linalg.matrix_power, framed=True)
def _matrix_power(name: str, a: Any, n: Any) -> Any:
    """``a`` multiplied by itself ``n`` times, by NumPy's squarings (``n < 0``: of its inverse)."""
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name}: exponent must be an integer") from None
    shape = np.shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    if n == 0:
        return np.broadcast_to(np.eye(shape[-1], dtype=_value(a).dtype), shape).copy()  # no gradient
    if n < 0:
        a, n = np.linalg.inv(a), -n
    if n == 1:
        return a
    if n == 2:
        return a @ a
    if n == 3:
        return (a @ a) @ a
    z = result = None
    while n > 0:
        z = a if z is None else z @ z
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else result @ z
    return result


@_composed(np.linalg.multi_dot, refuse=("out",), framed=True, sequences=("arrays",))
def _multi_dot(name: str, arrays: Any, out: Any = None) -> Any:
    """The product of ``arrays`` in the order NumPy's multi_dot chooses (the cheapest)."""
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError(f"{name}: expecting at least two arrays")
    if len(arrays) == 2:
        return np.dot(arrays[0], arrays[1])
    first, last = _ndim(arrays[0]), _ndim(arrays[-1])
    if first == 1:
        arrays[0] = np.reshape(arrays[0], (1, -1))
    if last == 1:
        arrays[-1] = np.reshape(arrays[-1], (-1, 1))
    for a in arrays:
        if _ndim(a) != 2:
            raise np.linalg.LinAlgError(f"{_ndim(a)}-dimensional array given. Array must be two-dimensional")
    if len(arrays) == 3:
        a, b, c = arrays
        (a0, a1b0), (b1c0, c1) = np.shape(a), np.shape(c)
        result = (a @ b) @ c if a0 * b1c0 * (a1b0 + c1) < a1b0 * c1 * (a0 + b1c0) else a @ (b @ c)
    else:
        result = _chain(arrays, _chain_order(arrays), 0, len(arrays) - 1)
    if first == 1 and last == 1:
        return result[0, 0]
    return np.ravel(result) if first == 1 or last == 1 else result


def _chain_order(arrays: list[Any]) -> np.ndarray:
    """Where to split each run of the chain (NumPy's dynamic programme, ties to the first split)."""
    n = len(arrays)
    p = [np.shape(a)[0] for a in arrays] + [np.shape(arrays[-1])[1]]
    cost = np.zeros((n, n), dtype=np.double)
    split = np.empty((n, n), dtype=np.intp)
    for span in range(1, n):
        for i in range(n - span):
            j = i + span
            cost[i, j] = np.inf
            for k in range(i, j):
                c = cost[i, k] + cost[k + 1, j] + p[i] * p[k + 1] * p[j + 1]
                if c < cost[i, j]:
                    cost[i, j] = c
                    split[i, j] = k
    return split


def _chain(arrays: list[Any], split: np.ndarray, i: int, j: int) -> Any:
    if i == j:
        return arrays[i]
    k = int(split[i, j])
    return _chain(arrays, split, i, k) @ _chain(arrays, split, k + 1, j)


@_composed(np.cross, framed=True)
def _cross(name: str, a: Any, b: Any, axisa: Any, axisb: Any, axisc: Any, axis: Any) -> Any:
    if axis is not None:
        axisa = axisb = axisc = axis
    a = np.moveaxis(a, axisa, -1)
    b = np.moveaxis(b, axisb, -1)
    na, nb = np.shape(a)[-1], np.shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"{name}: incompatible dimensions for cross product (dimension must be 2 or 3)")
    if na == 2 or nb == 2:
        raise UnsupportedOpError(f"{name} of 2-element vectors (deprecated by NumPy) is not supported")
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    c = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(c, -1, axisc)


@_composed(_since("matrix_transpose"), _since("linalg.matrix_transpose"))
def _matrix_transpose(name: str, x: Any) -> Any:
    if _ndim(x) < 2:
        raise ValueError(f"{name}: input array must be at least 2-dimensional, but it is {_ndim(x)}")
    return np.swapaxes(x, -1, -2)


@_composed(np.linalg.norm)
def _linalg_norm(name: str, x: Any, ord: Any, axis: Any, keepdims: Any) -> Any:
    """``np.linalg.norm`` as NumPy computes it, order by order: the 2-norm of vectors and the
    Frobenius norm of matrices are the ``norm`` op (``‖·‖``); the others are made of the ops NumPy
    uses (``ord=1``: a sum of magnitudes; ``inf``: their max; ``ord=2`` of a matrix: its largest
    singular value; ``"nuc"``: their sum; any ``p``: ``Σ|x|ᵖ`` to the ``1/p``), drawn as a group
    titled with the call (``np.linalg.norm(ord=1)``)."""
    from ...scopes import called  # (the scopes import the ops: imported when called)

    if isinstance(ord, np.generic):  # (a NumPy number: as a Python one, so that x's dtype is kept)
        ord = ord.item()
    if _value(x).size == 0:  # no entries: NumPy's numbers (0, or its refusal), no gradient
        return np.linalg.norm(_value(x), ord=ord, axis=axis, keepdims=keepdims)
    if _value(x).dtype.kind not in "fc":
        x = x.astype(float)  # (as NumPy: integers are measured as floats)
    nd = _ndim(x)
    keepdims = bool(keepdims)
    if axis is None:
        if ord is None or (ord in ("f", "fro") and nd == 2) or (ord == 2 and nd == 1):
            return _two_norm(x, None, keepdims)
        axis = tuple(range(nd))
    elif not isinstance(axis, tuple):
        try:
            axis = (int(axis),)  # (as NumPy: 1.0 is axis 1)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: 'axis' must be None, an integer or a tuple of integers") from None
    if len(axis) == 1:
        ax = _axis(axis[0], nd, name)
        if isinstance(ord, str):
            raise ValueError(f"{name}: invalid norm order '{ord}' for vectors")
        if ord is None or ord == 2:
            return _two_norm(x, ax, keepdims)
        with called(f"{name}(ord={ord!r})"):
            return _vector_norm_of(x, ord, ax, keepdims)
    if len(axis) != 2:
        raise ValueError(f"{name}: improper number of dimensions to norm")
    row, col = (_axis(a, nd, name) for a in axis)
    if row == col:
        raise ValueError(f"{name}: duplicate axes given")
    if ord in (None, "f", "fro"):
        return _two_norm(x, (row, col), keepdims)
    if ord not in (2, -2, "nuc", 1, -1, np.inf, -np.inf):
        raise ValueError(f"{name}: invalid norm order {ord!r} for matrices")
    with called(f"{name}(ord={ord!r})"):
        ret = _matrix_norm_of(x, ord, row, col)
        return _keep(ret, nd, tuple(sorted((row, col)))) if keepdims else ret


def _vector_norm_of(x: Any, ord: Any, ax: int, keepdims: bool) -> Any:
    """The norm of order ``ord`` (not 2) of the vectors along axis ``ax``, as NumPy computes it."""
    if ord == 0:  # how many entries are not 0: a count, no gradient
        return np.sum(np.not_equal(_value(x), 0).astype(_value(x).real.dtype), axis=ax, keepdims=keepdims)
    size = np.abs(x)
    if ord == np.inf:
        return np.max(size, axis=ax, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(size, axis=ax, keepdims=keepdims)
    if ord == 1:
        return np.sum(size, axis=ax, keepdims=keepdims)
    return np.sum(size ** ord, axis=ax, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm_of(x: Any, ord: Any, row: int, col: int) -> Any:
    """The norm of order ``ord`` (2, -2, "nuc", ±1, ±inf) of the matrices on axes ``row`` and
    ``col``, as NumPy computes it."""
    if ord in (2, -2, "nuc"):  # of the singular values: the largest, the smallest, their sum
        nd = _ndim(x)
        s = np.linalg.svd(x if (row, col) == (nd - 2, nd - 1) else np.moveaxis(x, (row, col), (-2, -1)),
                          compute_uv=False)
        return np.max(s, axis=-1) if ord == 2 else np.min(s, axis=-1) if ord == -2 else np.sum(s, axis=-1)
    if ord in (1, -1):  # the largest (smallest) column sum of magnitudes
        sums = np.sum(np.abs(x), axis=row)
        return (np.max if ord == 1 else np.min)(sums, axis=col - 1 if col > row else col)
    sums = np.sum(np.abs(x), axis=col)  # ±inf: of the row sums
    return (np.max if ord == np.inf else np.min)(sums, axis=row - 1 if row > col else row)


def _two_norm(x: Any, axis: Any, keepdims: bool) -> Any:
    """The ``norm`` op (``‖·‖``): the 2-norm over ``axis`` (all axes for None)."""
    from ...tracer import call  # (the tracer imports the ops: imported when called)
    from .. import get

    return call(get("norm"), (x,), {"axis": axis, "keepdims": keepdims})


@_composed(_since("linalg.vector_norm"))
def _vector_norm(name: str, x: Any, axis: Any, keepdims: Any, ord: Any) -> Any:
    ndim = _ndim(x)
    if axis is None or isinstance(axis, (tuple, list)):
        flat, axes, _ = _along_last(name, x, axis)
        res = _linalg_norm(name, flat, ord, -1, False)
    else:
        axes = (_axis(axis, ndim, name),)
        res = _linalg_norm(name, x, ord, axes[0], False)
    return _keep(res, ndim, axes) if keepdims else res


@_composed(_since("linalg.matrix_norm"))
def _matrix_norm(name: str, x: Any, keepdims: Any, ord: Any) -> Any:
    return _linalg_norm(name, x, ord, (-2, -1), keepdims)


@_composed(_since("linalg.outer"))
def _linalg_outer(name: str, x1: Any, x2: Any) -> Any:
    if _ndim(x1) != 1 or _ndim(x2) != 1:
        raise ValueError(f"{name}: input arrays must be one-dimensional")
    return np.outer(x1, x2)


@_composed(_since("linalg.trace"), refuse=("dtype",))
def _linalg_trace(name: str, x: Any, offset: Any, dtype: Any) -> Any:
    return np.trace(x, offset, axis1=-2, axis2=-1)


@_composed(_since("linalg.diagonal"))
def _linalg_diagonal(name: str, x: Any, offset: Any) -> Any:
    return np.diagonal(x, offset, axis1=-2, axis2=-1)


@_composed(np.linalg.lstsq, framed=True)
def _lstsq(name: str, a: Any, b: Any, rcond: Any) -> Any:
    """``(x, residuals, rank, s)`` as NumPy's lstsq returns them, ``x = pinv(a) b`` with lstsq's cutoff
    for small singular values (LAPACK's solver gets the same numbers up to rounding); ``rank`` is a
    number."""
    if _ndim(a) != 2 or _ndim(b) not in (1, 2):
        raise np.linalg.LinAlgError(f"{name}: a must be two-dimensional and b one- or two-dimensional")
    (m, n), m2 = np.shape(a), np.shape(b)[0]
    if m != m2:
        raise np.linalg.LinAlgError("Incompatible dimensions")
    dtype = np.result_type(_value(a), _value(b), np.float64 if _value(a).dtype.kind in "biu" else _value(a).dtype)
    if rcond is None:
        rcond = np.finfo(dtype).eps * max(n, m)
    x = np.linalg.pinv(a, rcond=rcond) @ b
    s = np.linalg.svd(a, compute_uv=False)
    values = _value(s)
    rank = int(np.count_nonzero(values > rcond * values.max())) if values.size else 0
    if rank == n and m > n:
        r = a @ x - b
        residuals = np.sum(r * r, axis=0)
        if _ndim(b) == 1:
            residuals = np.reshape(residuals, (1,))
    else:
        residuals = np.array([], dtype=dtype)
    return x, residuals, np.int32(rank), s


@_composed(np.linalg.cond, framed=True)
def _cond(name: str, x: Any, p: Any) -> Any:
    """The ratio of the largest singular value to the smallest (``p=-2``: the inverse); for the other
    orders, as NumPy: the norm of ``x`` times the norm of its inverse."""
    if p not in (None, 2, -2):
        if _ndim(x) < 2 or np.shape(x)[-1] != np.shape(x)[-2]:
            raise np.linalg.LinAlgError(f"{name}: p={p!r} needs square matrices")
        # a singular matrix (or one with an entry not finite) has NumPy's number, inf or nan, and no
        # gradient: the identity stands in for it, as its inverse does not exist
        with np.errstate(all="ignore"):
            want = np.linalg.cond(_value(x), p)
        bad = ~np.isfinite(want)
        if np.any(bad):
            x = np.where(np.reshape(bad, np.shape(bad) + (1, 1)), np.eye(np.shape(x)[-1]), x)
        r = _linalg_norm(name, x, p, (-2, -1), False) * _linalg_norm(name, np.linalg.inv(x), p, (-2, -1), False)
        return np.where(bad, want, r) if np.any(bad) else r
    s = np.linalg.svd(x, compute_uv=False)
    r = s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    values = _value(r)
    bad = np.isnan(values) & ~np.isnan(_value(x)).any(axis=(-2, -1))
    return np.where(bad, np.inf, r) if np.any(bad) else r
