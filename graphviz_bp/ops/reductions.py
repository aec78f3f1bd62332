"""Reductions over axes (sum, mean, prod, max, min, var, std, norm) and scans (cumsum, cumprod)."""

from __future__ import annotations

import inspect
import math

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, axis_label, register
from ._broadcast import normalize_axis


def _bind_reduction(name, extra=()):
    """Binder for np.<name>: binds the call as NumPy's own signature does, keeps ``axis``,
    ``keepdims`` and the ``extra`` params (such as ``ddof``), and refuses the rest (``out=``,
    ``dtype=``, ``initial=``, ``where=``...) rather than ignoring them."""
    signature = inspect.signature(getattr(np, name))

    def bind(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"np.{name}: {exc}") from None
        given = {k: v for k, v in bound.arguments.items() if v is not np._NoValue}
        dtype = given.get("dtype")
        a = given.get("a")
        if dtype is not None and "dtype" not in extra and hasattr(a, "dtype") and a.dtype.kind == "f" \
                and np.dtype(dtype).kind == "f":  # np.mean(x, dtype=np.float64): reduced as its cast
            if np.dtype(dtype) != a.dtype:
                given["a"] = a.astype(dtype)
            del given["dtype"]
        refused = sorted(k for k, v in given.items()
                         if k not in ("a", "axis", "keepdims", *extra) and v is not None)
        if refused:
            why = {"out": "graphviz_bp records new values and never writes into existing arrays",
                   "dtype": "cast the input before reducing"}
            raise UnsupportedOpError(f"np.{name}(..., {refused[0]}=...) is not supported"
                                     + (f": {why[refused[0]]}" if refused[0] in why else ""))
        params = {"axis": given.get("axis"), "keepdims": bool(given.get("keepdims", False))}
        params.update({k: given[k] for k in extra if k in given})
        return (given["a"],), params
    return bind


def _reduced_shape(shapes, params):
    shape = shapes[0]
    axes = normalize_axis(params.get("axis"), len(shape))
    if params.get("keepdims"):
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _spread(g, x, params):
    """Broadcast the reduced cotangent ``g`` back over the reduced axes of ``x``."""
    if not params.get("keepdims"):
        axes = normalize_axis(params.get("axis"), x.ndim)
        g = np.expand_dims(g, axes) if axes else g
    return np.broadcast_to(g, x.shape)


def _count(x, params):
    axes = normalize_axis(params.get("axis"), x.ndim)
    return math.prod(x.shape[i] for i in axes)


_EXAMPLES = (
    Example(((3, 4),)),
    Example(((3, 4),), {"axis": 0}),
    Example(((2, 3, 4),), {"axis": (0, 2), "keepdims": True}),
    Example(((2, 3, 4),), {"axis": -1}),
    Example(((),)),
)

register(Op(
    name="sum", symbol="Σ",
    forward=lambda x, axis=None, keepdims=False: np.sum(x, axis=axis, keepdims=keepdims),
    vjps=(lambda g, ans, a, p: _spread(g, a[0], p),),
    shape=_reduced_shape, numpy=(np.sum,), bind=_bind_reduction("sum"),
    examples=_EXAMPLES, family="reductions", methods=("sum",), label=axis_label("Σ"),
))
register(Op(
    name="mean", symbol="mean",
    forward=lambda x, axis=None, keepdims=False: np.mean(x, axis=axis, keepdims=keepdims),
    vjps=(lambda g, ans, a, p: _spread(g / _count(a[0], p), a[0], p),),
    shape=_reduced_shape, numpy=(np.mean,), bind=_bind_reduction("mean"),
    examples=_EXAMPLES, family="reductions", methods=("mean",), label=axis_label("mean"),
))


def _bind_norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm's arguments, for the 2-norm this op computes: of vectors (``ord`` None or 2
    over one axis) and the Frobenius norm (``ord`` None, "fro" or "f" over two). The other orders
    are made of other ops (``ops.composed.matrices._linalg_norm``, where a traced call goes): this
    op refuses them (a symbolic or constant call that reaches it must not be read as ``‖·‖``)."""
    ndim = len(x.shape) if hasattr(x, "shape") else np.ndim(x)
    n_axes = ndim if axis is None else (len(axis) if isinstance(axis, (tuple, list)) else 1)
    two = ord is None or (ord == 2 and n_axes == 1 and not isinstance(ord, str)) or \
        (ord in ("fro", "f") and n_axes == 2)
    if not two:
        raise UnsupportedOpError(f"np.linalg.norm(..., ord={ord!r}) over {n_axes} axes is made of other ops, "
                                 f"not the 2-norm ‖·‖")
    if ord is None and axis is not None and n_axes > 2:
        raise UnsupportedOpError("np.linalg.norm over more than two axes is not supported")
    return (x,), {"axis": tuple(axis) if isinstance(axis, list) else axis, "keepdims": bool(keepdims)}


def _norm(x, axis=None, keepdims=False):
    """The 2-norm over ``axis`` (all axes for None: Frobenius), as np.linalg.norm computes it."""
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def _norm_vjp(g, ans, args, params):
    x = args[0]
    n = ans if params.get("keepdims") else np.expand_dims(ans, normalize_axis(params.get("axis"), x.ndim))
    gx = g if params.get("keepdims") else np.expand_dims(g, normalize_axis(params.get("axis"), x.ndim))
    safe = np.where(n == 0, 1, n)
    return gx * np.where(n == 0, 0, x / safe)


register(Op(
    name="norm", symbol="‖·‖", forward=_norm, vjps=(_norm_vjp,), shape=_reduced_shape,
    numpy=(np.linalg.norm,), bind=_bind_norm, family="reductions",
    examples=(Example(((5,),)), Example(((3, 4),)), Example(((3, 4),), {"axis": 1}),
              Example(((2, 3, 4),), {"axis": (1, 2), "keepdims": True})),
))


def _expand(v, x, params):
    """``v`` (reduced over params' axes) with the reduced axes put back as length 1."""
    if params.get("keepdims"):
        return v
    axes = normalize_axis(params.get("axis"), x.ndim)
    return np.expand_dims(v, axes) if axes else v


def _prod_vjp(g, ans, args, params):
    """Product of all the other factors, computed without dividing (so zeros are fine)."""
    x = args[0]
    axes = normalize_axis(params.get("axis"), x.ndim)
    rest = [i for i in range(x.ndim) if i not in axes]
    perm = rest + list(axes)
    xt = np.transpose(x, perm)
    flat = xt.reshape(xt.shape[:len(rest)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), dtype=x.dtype)
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = np.transpose((left * right).reshape(xt.shape), np.argsort(perm))
    return _spread(g, x, params) * others


def _extreme_vjp(g, ans, args, params):
    """To the entries equal to the max (min); ties share the gradient evenly."""
    x = args[0]
    hits = (x == _expand(ans, x, params))
    count = np.sum(hits, axis=normalize_axis(params.get("axis"), x.ndim), keepdims=True)
    return _spread(g, x, params) * hits / count


def _centered(x, params):
    return x - np.mean(x, axis=params.get("axis"), keepdims=True)


def _dof(x, params):
    return _count(x, params) - params.get("ddof", 0)


def _var_vjp(g, ans, args, params):
    x = args[0]
    return _spread(g, x, params) * 2 * _centered(x, params) / _dof(x, params)


def _std_vjp(g, ans, args, params):
    x = args[0]
    s = _expand(ans, x, params)
    return _spread(g, x, params) * np.where(s == 0, 0, _centered(x, params) / (_dof(x, params) * np.where(s == 0, 1, s)))


register(Op(
    name="prod", symbol="∏", forward=lambda x, axis=None, keepdims=False: np.prod(x, axis=axis, keepdims=keepdims),
    vjps=(_prod_vjp,), shape=_reduced_shape, numpy=(np.prod,), bind=_bind_reduction("prod"),
    examples=_EXAMPLES + (Example(((3, 4),), {"axis": 1}, consts={}, make={0: lambda r: np.array(
        [[0.0, 1.5, -2.0, 0.5], [1.0, 0.0, 0.0, 2.0], [0.5, -1.0, 1.5, 1.0]])}),), family="reductions",
    methods=("prod",),
))
for _name, _fn, _sym in (("max", np.max, "max"), ("min", np.min, "min")):
    register(Op(
        name=_name, symbol=_sym,
        forward=(lambda f: lambda x, axis=None, keepdims=False: f(x, axis=axis, keepdims=keepdims))(_fn),
        vjps=(_extreme_vjp,), shape=_reduced_shape, numpy=(_fn, getattr(np, "a" + _name)),
        bind=_bind_reduction(_name), examples=_EXAMPLES, family="reductions", methods=(_name,),
        label=axis_label(_sym),  # (max axis 1, as Σ axis 1: not the elementwise max(·, ·))
    ))
register(Op(
    name="var", symbol="var",
    forward=lambda x, axis=None, keepdims=False, ddof=0: np.var(x, axis=axis, keepdims=keepdims, ddof=ddof),
    vjps=(_var_vjp,), shape=_reduced_shape, numpy=(np.var,), bind=_bind_reduction("var", ("ddof",)),
    examples=_EXAMPLES[:4] + (Example(((3, 4),), {"axis": 1, "ddof": 1}),), family="reductions",
    methods=("var",),
))
register(Op(
    name="std", symbol="std",
    forward=lambda x, axis=None, keepdims=False, ddof=0: np.std(x, axis=axis, keepdims=keepdims, ddof=ddof),
    vjps=(_std_vjp,), shape=_reduced_shape, numpy=(np.std,), bind=_bind_reduction("std", ("ddof",)),
    examples=_EXAMPLES[:4] + (Example(((3, 4),), {"axis": 1, "ddof": 1}),), family="reductions",    methods=("std",),
))


# --- scans: cumsum and cumprod (axis None: over the flattened array) -----------------------------------
def _bind_scan(name):
    def bind(a, axis=None, dtype=None, out=None):
        if dtype is not None or out is not None:
            raise UnsupportedOpError(f"np.{name}(..., dtype=/out=) is not supported")
        return (a,), {"axis": None if axis is None else int(axis)}
    return bind


def _scan_shape(shapes, params):
    s, axis = shapes[0], params.get("axis")
    if axis is None:
        return (math.prod(s),)
    normalize_axis(axis, len(s))  # raises for a bad axis
    return s


def _reverse_cumsum(g, axis):
    return np.flip(np.cumsum(np.flip(g, axis), axis), axis)


def _cumsum_vjp(g, ans, args, p):
    x, axis = args[0], p.get("axis")
    if axis is None:
        return _reverse_cumsum(g, 0).reshape(x.shape)
    return _reverse_cumsum(g, axis)


def _cumprod_vjp(g, ans, args, p):
    """∂/∂x_i of Σ_j g_j·Π_{k≤j} x_k = L_i·S_i with L_i = Π_{k<i} x_k and S_i = g_i + x_{i+1}·S_{i+1};
    with no zeros this is the reverse cumsum of g·ans over x, otherwise the recurrence (no division).
    On expressions (a formula), ``_cumprod_vjp_matrix``: no division, no branch on the values."""
    x, axis = args[0], p.get("axis")
    if not isinstance(x, np.ndarray):
        return _cumprod_vjp_matrix(g, x, axis)
    flat = axis is None
    xs, gs, ys = (x.reshape(-1), g, ans) if flat else (x, g, ans)
    ax = 0 if flat else normalize_axis(axis, x.ndim)[0]
    if np.all(xs != 0):
        out = _reverse_cumsum(gs * ys, ax) / xs
    else:
        xm, gm = np.moveaxis(xs, ax, 0), np.moveaxis(gs, ax, 0)
        n = xm.shape[0]
        left = np.concatenate([np.ones_like(xm[:1]), np.cumprod(xm[:-1], axis=0)], axis=0)
        acc = np.zeros_like(gm)
        s = np.zeros_like(gm[0])
        for i in range(n - 1, -1, -1):
            s = gm[i] + (xm[i + 1] * s if i + 1 < n else 0)
            acc[i] = s
        out = np.moveaxis(left * acc, 0, ax)
    return out.reshape(x.shape) if flat else out


def _cumprod_vjp_matrix(g, x, axis):
    """The message of cumprod as a matrix product: ∂/∂x_i = Σ_{j≥i} g_j·Π_{k≤j, k≠i} x_k, that is
    (C ⊙ [j ≥ i]) g with row i of C the cumprod of x with x_i replaced by 1."""
    flat = axis is None
    xs = x.reshape(-1) if flat else x
    ax = 0 if flat else normalize_axis(axis, x.ndim)[0]
    xm, gm = np.moveaxis(xs, ax, -1), np.moveaxis(g, ax, -1)
    n = xm.shape[-1]
    upper = np.triu(np.ones((n, n)))  # [j ≥ i]
    if xm.ndim == 1:
        out = (np.cumprod(np.where(np.eye(n, dtype=bool), 1.0, xm), axis=1) * upper) @ gm
    else:
        rows = np.where(np.eye(n, dtype=bool), 1.0, xm[..., None, :])  # row i: x with x_i = 1
        out = np.moveaxis(((np.cumprod(rows, axis=-1) * upper) @ gm[..., None])[..., 0], -1, ax)
    return out.reshape(x.shape) if flat else out


_SCANS = (Example(((5,),)), Example(((3, 4),)), Example(((3, 4),), {"axis": 0}),
          Example(((2, 3, 4),), {"axis": -1}), Example(((),)))

register(Op(
    name="cumsum", symbol="cumsum", forward=lambda a, axis=None: np.cumsum(a, axis=axis),
    vjps=(_cumsum_vjp,), shape=_scan_shape, numpy=(np.cumsum,), bind=_bind_scan("cumsum"),
    family="reductions", methods=("cumsum",), label=axis_label("cumsum"), examples=_SCANS,
))
register(Op(
    name="cumprod", symbol="cumprod", forward=lambda a, axis=None: np.cumprod(a, axis=axis),
    vjps=(_cumprod_vjp,), shape=_scan_shape, numpy=(np.cumprod,), bind=_bind_scan("cumprod"),
    family="reductions", methods=("cumprod",), label=axis_label("cumprod"),
    examples=_SCANS + (Example(((3, 4),), {"axis": 1}, make={0: lambda r: np.array(
        [[0.0, 1.5, -2.0, 0.5], [1.0, 0.0, 0.0, 2.0], [0.5, -1.0, 1.5, 0.0]])}),
        Example(((6,),), make={0: lambda r: np.array([1.5, 0.0, -1.0, 2.0, 0.0, 0.5])})),
))
