"""Matrix functions: trace, diag, and ``np.linalg``'s inv, solve, det, slogdet, cholesky, eigh, eigvalsh,
svd and qr."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UnsupportedOpError
from . import Example, Op, register
from ._broadcast import broadcast_shapes
from ._scatter import scatter


# --- trace and diag -------------------------------------------------------------------------------------
def _bind_trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if dtype is not None or out is not None:
        raise UnsupportedOpError("np.trace(..., dtype=/out=) is not supported")
    return (a,), {"offset": int(offset), "axis1": int(axis1), "axis2": int(axis2)}


def _trace_shape(shapes, params):
    s = shapes[0]
    if len(s) < 2:
        raise ValueError("trace needs an array of at least two dimensions")
    a1, a2 = params["axis1"] % len(s), params["axis2"] % len(s)
    if a1 == a2:
        raise ValueError("axis1 and axis2 must differ")
    return tuple(d for i, d in enumerate(s) if i not in (a1, a2))


def _trace_vjp(g, ans, args, p):
    x = args[0]
    if x.ndim == 2 and p["offset"] == 0 and x.shape[0] == x.shape[1]:  # tr(A): ḡ I
        return g * np.eye(x.shape[0])
    a1, a2 = p["axis1"] % x.ndim, p["axis2"] % x.ndim
    mask = np.eye(x.shape[a1], x.shape[a2], k=p["offset"], dtype=g.dtype)
    if x.ndim == 2:  # g times the 0/1 matrix of the summed entries
        return g * (mask if a1 < a2 else mask.T)
    full = g[..., np.newaxis, np.newaxis] * mask  # the two axes last
    return np.moveaxis(full, (-2, -1), (a1, a2))


register(Op(
    name="trace", symbol="tr", forward=lambda a, offset, axis1, axis2: np.trace(a, offset, axis1, axis2),
    vjps=(_trace_vjp,), shape=_trace_shape, numpy=(np.trace,), bind=_bind_trace, family="linalg",
    methods=("trace",),
    examples=(Example(((3, 3),), {"offset": 0, "axis1": 0, "axis2": 1}),
              Example(((3, 4),), {"offset": 1, "axis1": 0, "axis2": 1}),
              Example(((2, 3, 3),), {"offset": 0, "axis1": 1, "axis2": 2})),
))


def _diag_shape(shapes, params):
    s, k = shapes[0], params["k"]
    if len(s) == 1:
        return (s[0] + abs(k),) * 2
    if len(s) == 2:
        return (max(0, min(s[0] + min(k, 0), s[1] - max(k, 0))),)
    raise ValueError("np.diag takes a 1-d or 2-d array")


def _diag_vjp(g, ans, args, p):
    x, k = args[0], p["k"]
    if x.ndim == 1:
        return np.diagonal(g, k).copy()
    if k == 0 and x.shape[0] == x.shape[1]:  # the matrix diag(g)
        return np.diag(g)
    idx = np.arange(len(g))
    return scatter(g, x.shape, (idx + max(-k, 0), idx + max(k, 0)), text=f"diag {k:+d}" if k else "diag",
                   unique=True)


register(Op(
    name="diag", symbol="diag", forward=lambda v, k: np.diag(v, k), vjps=(_diag_vjp,), shape=_diag_shape,
    numpy=(np.diag,), bind=lambda v, k=0: ((v,), {"k": int(k)}), family="linalg", grows=True,
    examples=(Example(((3,),), {"k": 0}), Example(((3,),), {"k": -1}), Example(((3, 4),), {"k": 0}),
              Example(((3, 4),), {"k": 1}), Example(((4, 3),), {"k": -2})),
))


# --- np.linalg ------------------------------------------------------------------------------------------
def _spd(n):
    def make(rng):
        m = rng.normal(size=(n, n))
        return m @ m.T + n * np.eye(n)
    return make


def _well_conditioned(*shape):
    def make(rng):
        return rng.normal(size=shape) * 0.3 + np.eye(shape[-1])
    return make


def _swap(a):
    return a.T if a.ndim == 2 else np.swapaxes(a, -1, -2)


def _square(shapes, params):
    s = shapes[0]
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"needs square matrices (shape (..., M, M)), got {s}")
    return s


def _det_shape(shapes, params):
    return _square(shapes, params)[:-2]


def _solve_shape(shapes, params):
    a, b = shapes
    _square([a], params)
    if len(b) == 1:
        if b[0] != a[-1]:
            raise ValueError(f"the vector has length {b[0]}, the matrix is {a[-1]}×{a[-1]}")
        return a[:-1]
    if b[-2] != a[-1]:
        raise ValueError(f"the right-hand side has {b[-2]} rows, the matrix is {a[-1]}×{a[-1]}")
    return broadcast_shapes(a[:-2], b[:-2]) + b[-2:]


def _solve_vjp(k):
    def rule(g, x, args, p):
        a, b = args
        if a.ndim == 2 and b.ndim == 1:  # A⁻¹b: to b A⁻ᵀḡ, to A −(A⁻ᵀḡ) xᵀ
            gb = np.linalg.solve(a.T, g)
            return gb if k == 1 else -np.outer(gb, x)
        if b.ndim == 1:
            gb = np.linalg.solve(_swap(a), g[..., np.newaxis])[..., 0]
            return gb if k == 1 else -gb[..., :, np.newaxis] * x[..., np.newaxis, :]
        gb = np.linalg.solve(_swap(a), g)
        return gb if k == 1 else -gb @ _swap(x)
    return rule


def _cholesky_vjp(g, L, args, p):
    """∂L/∂A for NumPy's cholesky, which reads only A's lower triangle (Murray 2016, arXiv:1602.07527).

    With S = L⁻ᵀ Φ(Lᵀ Ḡ) L⁻¹ (Φ: lower triangle, halved diagonal), the gradient for a symmetric
    perturbation is (S + Sᵀ)/2; for the lower triangle NumPy reads it is tril(S + Sᵀ) − diag(S).
    """
    if p.get("upper"):
        L, g = _swap(L), _swap(g)
    n = L.shape[-1]
    phi = np.tril(_swap(L) @ g) * (1 - 0.5 * np.eye(n))
    Linv = np.linalg.inv(L)
    S = _swap(Linv) @ phi @ Linv
    lower = np.tril(S + _swap(S)) - S * np.eye(n)
    return _swap(lower) if p.get("upper") else lower


class SlogdetResult(tuple):
    """``(sign, logabsdet)`` like NumPy's: ``sign`` is a constant, ``logabsdet`` is traced."""

    __slots__ = ()

    def __new__(cls, sign, logabsdet):
        return super().__new__(cls, (sign, logabsdet))

    sign = property(lambda self: self[0])
    logabsdet = property(lambda self: self[1])


register(Op(
    name="inv", symbol="(·)⁻¹", forward=np.linalg.inv, shape=_square, numpy=(np.linalg.inv,), family="linalg",
    vjps=(lambda g, ans, a, p: -_swap(ans) @ g @ _swap(ans),),
    examples=(Example(((3, 3),), make={0: _well_conditioned(3, 3)}),
              Example(((2, 3, 3),), make={0: _well_conditioned(2, 3, 3)})),
))
def _bind_pinv(a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    if hermitian:
        raise UnsupportedOpError("np.linalg.pinv(..., hermitian=True) is not supported; the default computes the "
                                 "same pseudo-inverse")
    if rcond is not None and rtol is not np._NoValue:
        raise ValueError("np.linalg.pinv: `rtol` and `rcond` can't be both set.")
    if rcond is not None:
        return (a,), {"rcond": rcond}
    return (a,), ({} if rtol is np._NoValue else {"rtol": rtol})


def _pinv_shape(shapes, params):
    s = shapes[0]
    if len(s) < 2:
        raise ValueError(f"np.linalg.pinv needs a matrix (shape (..., M, N)), got {s}")
    return s[:-2] + (s[-1], s[-2])


def _pinv_vjp(g, ans, a, p):
    """∂L/∂A of P = A⁺ where its rank does not change (Golub and Pereyra 1973):
    −Pᵀ Ḡ Pᵀ + (I − A P) Ḡᵀ P Pᵀ + Pᵀ P Ḡᵀ (I − P A). No division by differences of singular
    values, so equal ones (A = 2I) are fine."""
    A, P = a[0], ans
    m, n = A.shape[-2], A.shape[-1]
    return (-_swap(P) @ g @ _swap(P) + (np.eye(m) - A @ P) @ _swap(g) @ P @ _swap(P)
            + _swap(P) @ P @ _swap(g) @ (np.eye(n) - P @ A))


register(Op(
    name="pinv", symbol="(·)⁺", forward=np.linalg.pinv, shape=_pinv_shape, numpy=(np.linalg.pinv,),
    bind=_bind_pinv, family="linalg", vjps=(_pinv_vjp,),
    examples=(Example(((4, 3),)), Example(((3, 4),)), Example(((3, 3),), make={0: _well_conditioned(3, 3)}),
              Example(((2, 3, 2),))),
))
register(Op(
    name="solve", symbol="solve", forward=np.linalg.solve, shape=_solve_shape, numpy=(np.linalg.solve,),
    family="linalg", vjps=(_solve_vjp(0), _solve_vjp(1)),
    examples=(Example(((3, 3), (3,)), make={0: _well_conditioned(3, 3)}),
              Example(((3, 3), (3, 2)), make={0: _well_conditioned(3, 3)}),
              Example(((2, 3, 3), (3,)), make={0: _well_conditioned(2, 3, 3)}),
              Example(((2, 3, 3), (2, 3, 4)), make={0: _well_conditioned(2, 3, 3)})),
))
def _cofactors(a: np.ndarray) -> np.ndarray:
    """The cofactor matrix adj(A)ᵀ (the gradient of det A), also where A is singular (det A · A⁻ᵀ
    is not defined there; NumPy's det is 0): from A = U S Vᵀ, det U det V · U diag(∏ⱼ≠ᵢ sⱼ) Vᵀ,
    each product of the other singular values made without dividing."""
    u, s, vt = np.linalg.svd(a)
    ones = np.ones(s.shape[:-1] + (1,), s.dtype)
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return sign[..., np.newaxis, np.newaxis] * (u * (before * after)[..., np.newaxis, :]) @ vt


def _det_vjp(g: Any, ans: Any, a: Any) -> Any:
    """g · adj(A)ᵀ: numbers from the cofactors, formulas as det(A) · A⁻ᵀ (equal where A is invertible)."""
    if isinstance(a, np.ndarray):
        return np.asarray(g)[..., np.newaxis, np.newaxis] * _cofactors(a)
    return (g * ans) * np.linalg.inv(a).T if a.ndim == 2 else \
        (g * ans)[..., np.newaxis, np.newaxis] * _swap(np.linalg.inv(a))


register(Op(
    name="det", symbol="det", forward=np.linalg.det, shape=_det_shape, numpy=(np.linalg.det,), family="linalg",
    vjps=(lambda g, ans, a, p: _det_vjp(g, ans, a[0]),),
    examples=(Example(((3, 3),), make={0: _well_conditioned(3, 3)}),
              Example(((2, 2, 2),), make={0: _well_conditioned(2, 2, 2)})),
))
register(Op(
    name="slogdet", symbol="log|det|", forward=lambda a: np.linalg.slogdet(a)[1], shape=_det_shape,
    numpy=(np.linalg.slogdet,), family="linalg",
    vjps=(lambda g, ans, a, p: g * np.linalg.inv(a[0]).T if a[0].ndim == 2
          else g[..., np.newaxis, np.newaxis] * _swap(np.linalg.inv(a[0])),),
    result=lambda traced, values: SlogdetResult(np.linalg.slogdet(values[0])[0], traced),
    examples=tuple(Example((s,), make={0: m}, call=lambda fn, a: fn(a)[1]) for s, m in (
        ((3, 3), _spd(3)), ((3, 3), lambda r: -_spd(3)(r)), ((2, 3, 3), _well_conditioned(2, 3, 3)))),
))
register(Op(
    name="cholesky", symbol="chol", forward=lambda a, upper=False: np.linalg.cholesky(a, upper=upper) if upper
    else np.linalg.cholesky(a), shape=_square, numpy=(np.linalg.cholesky,), family="linalg",
    bind=lambda a, upper=False: ((a,), {"upper": bool(upper)} if upper else {}), vjps=(_cholesky_vjp,),
    examples=(Example(((3, 3),), make={0: _spd(3)}), Example(((4, 4),), make={0: _spd(4)})),
))


# --- eigh and eigvalsh: the symmetric eigendecomposition ------------------------------------------------
class EighResult(tuple):
    """``(eigenvalues, eigenvectors)`` like NumPy's ``EighResult``, each a node of its own."""

    __slots__ = ()

    def __new__(cls, eigenvalues, eigenvectors):
        return super().__new__(cls, (eigenvalues, eigenvectors))

    eigenvalues = property(lambda self: self[0])
    eigenvectors = property(lambda self: self[1])


def _bind_eigh(a, UPLO="L"):  # noqa: N803 - NumPy's name
    if UPLO not in ("L", "U"):
        raise ValueError(f"UPLO must be 'L' or 'U', got {UPLO!r}")
    return (a,), {"UPLO": UPLO}


def _eigh_shape(shapes, params):
    s = _square(shapes, params)
    return s[:-1] if params.get("piece", 0) == 0 else s


def _read_triangle(S, uplo):
    """∂f/∂A from the gradient ``S`` for a symmetric perturbation, when only ``uplo``'s triangle of
    A is read (the mirror of an entry read is the entry itself): the diagonal once, each read
    off-diagonal entry twice the symmetric part, the other triangle 0."""
    n = S.shape[-1]
    both = S + _swap(S)
    lower = np.tril(both) - S * np.eye(n)
    return lower if uplo == "L" else _swap(np.tril(_swap(both)) - _swap(S) * np.eye(n))


def _eigh_vjp(g, ans, args, p):
    """Eigenvalues w̄: V diag(w̄) Vᵀ. Eigenvectors V̄: V (F ⊙ VᵀV̄) Vᵀ, with F_ij = 1/(w_j − w_i) off the
    diagonal (Magnus 1985; Giles 2008, "An extended collection of matrix derivative results"): not
    finite where two eigenvalues are equal, as the eigenvectors are then not determined. Then read
    back onto the triangle NumPy reads (``_read_triangle``)."""
    w, V = np.linalg.eigh(args[0], UPLO=p["UPLO"])
    if p.get("piece", 0) == 0:
        inner = V @ np.diag(g) if V.ndim == 2 else g[..., np.newaxis, :] * V  # V diag(w̄)
    else:
        gap = w[..., np.newaxis, :] - w[..., :, np.newaxis]  # w_j − w_i
        n = w.shape[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            F = np.where(np.eye(n, dtype=bool), 0.0, 1.0 / np.where(np.eye(n, dtype=bool), 1.0, gap))
        inner = V @ (F * (_swap(V) @ g))
    return _read_triangle(inner @ _swap(V), p["UPLO"])


register(Op(
    name="eigh", symbol="eigh", forward=lambda a, UPLO="L", piece=0: np.linalg.eigh(a, UPLO=UPLO)[piece],
    vjps=(_eigh_vjp,), shape=_eigh_shape, numpy=(np.linalg.eigh,), bind=_bind_eigh, family="linalg",
    pieces=lambda params: 2, label=lambda params, constants: "eigh → λ" if params.get("piece", 0) == 0 else "eigh → V",
    result=lambda pieces, values: EighResult(*pieces),
    examples=tuple(Example((s,), {"UPLO": u, "piece": k}, make={0: m},
                           call=(lambda u, k: lambda fn, a: fn(a, UPLO=u)[k])(u, k))
                   for s, m in (((3, 3), _spd(3)), ((2, 4, 4), lambda r: r.normal(size=(2, 4, 4))))
                   for u in ("L", "U") for k in (0, 1)),
))


def _eigvalsh_vjp(g, ans, args, p):
    return _eigh_vjp(g, ans, args, {"UPLO": p["UPLO"], "piece": 0})


register(Op(
    name="eigvalsh", symbol="eigvalsh", forward=lambda a, UPLO="L": np.linalg.eigvalsh(a, UPLO=UPLO),
    vjps=(_eigvalsh_vjp,), shape=lambda shapes, params: _square(shapes, params)[:-1],
    numpy=(np.linalg.eigvalsh,), bind=_bind_eigh, family="linalg",
    examples=(Example(((3, 3),), {"UPLO": "L"}, make={0: _spd(3)}),
              Example(((2, 4, 4),), {"UPLO": "U"})),
))


# --- svd: the thin singular value decomposition ----------------------------------------------------------
class SVDResult(tuple):
    """``(U, S, Vh)`` like NumPy's ``SVDResult``, each a node of its own."""

    __slots__ = ()

    def __new__(cls, U, S, Vh):  # noqa: N803 - NumPy's names
        return super().__new__(cls, (U, S, Vh))

    U = property(lambda self: self[0])
    S = property(lambda self: self[1])
    Vh = property(lambda self: self[2])


def _bind_svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    shape = np.shape(a.value if hasattr(a, "value") else a)
    if hermitian:
        raise UnsupportedOpError("np.linalg.svd(..., hermitian=True) is not supported; use np.linalg.eigh "
                                 "(its eigenvalues' absolute values are the singular values)")
    if full_matrices and compute_uv and len(shape) >= 2 and shape[-1] != shape[-2]:
        raise UnsupportedOpError(
            f"np.linalg.svd of a {'×'.join(map(str, shape[-2:]))} matrix with full_matrices=True (NumPy's "
            f"default) is not supported: the extra columns of U or V are not determined by the matrix, and "
            f"neither is their gradient; pass full_matrices=False")
    return (a,), {"compute_uv": bool(compute_uv)}


def _matrix_dims(s, name):
    """M, N and min(M, N) of a stack of matrices of shape ``s``; a ValueError naming ``name`` else."""
    if len(s) < 2:
        raise ValueError(f"np.linalg.{name} needs a matrix (shape (..., M, N)), got {s}")
    m, n = s[-2:]
    return m, n, min(m, n)


def _svd_shape(shapes, params):
    s = shapes[0]
    m, n, k = _matrix_dims(s, "svd")
    piece = params.get("piece", 1)
    return s[:-2] + ((m, k), (k,), (k, n))[piece]


def _svd_forward(a, compute_uv=True, piece=1):
    if not compute_uv:
        return np.linalg.svd(a, compute_uv=False)
    return np.linalg.svd(a, full_matrices=False)[piece]


def _cols(M, d):
    """``M diag(d)``: each column of M times an entry of d."""
    return M @ np.diag(d) if d.ndim == 1 else M * d[..., np.newaxis, :]


def _rows(d, M):
    """``diag(d) M``: each row of M times an entry of d."""
    return np.diag(d) @ M if d.ndim == 1 else d[..., :, np.newaxis] * M


def _svd_vjp(g, ans, args, p):
    """The thin SVD A = U diag(s) Vᵀ (Townsend 2016, "Differentiating the singular value
    decomposition"), with F_ij = 1/(s_j² − s_i²) off the diagonal: from s̄, U diag(s̄) Vᵀ; from Ū,
    U (F ⊙ (UᵀŪ − ŪᵀU)) diag(s) Vᵀ + (I − UUᵀ) Ū diag(s)⁻¹ Vᵀ; from V̄ᵀ likewise. Not finite where two
    singular values are equal (their vectors are not determined), nor, for U and V, at a zero one."""
    U, s, Vh = np.linalg.svd(args[0], full_matrices=False)
    piece = p.get("piece", 1) if p.get("compute_uv", True) else 1
    if piece == 1:
        return _cols(U, g) @ Vh
    k = s.shape[-1]
    diagonal = np.eye(k, dtype=bool)
    s2 = s * s
    with np.errstate(divide="ignore", invalid="ignore"):
        F = np.where(diagonal, 0.0, 1.0 / np.where(diagonal, 1.0, s2[..., np.newaxis, :] - s2[..., :, np.newaxis]))
    if piece == 0:  # g is Ū, m×k
        out = U @ _cols(F * (_swap(U) @ g - _swap(g) @ U), s) @ Vh
        if U.shape[-2] > k:  # the part of Ū outside U's columns
            out = out + _cols(g - U @ (_swap(U) @ g), 1.0 / s) @ Vh
        return out
    V = _swap(Vh)  # g is the cotangent of Vᵀ, k×n: V̄ᵀ
    out = U @ _rows(s, F * (Vh @ _swap(g) - g @ V)) @ Vh
    if Vh.shape[-1] > k:  # the part of V̄ outside V's columns
        out = out + U @ _rows(1.0 / s, g - (g @ V) @ Vh)
    return out


def _svd_label(params, constants):
    return "svd → " + ("S" if not params.get("compute_uv", True) else ("U", "S", "Vᵀ")[params.get("piece", 1)])


register(Op(
    name="svd", symbol="svd", forward=_svd_forward, vjps=(_svd_vjp,), shape=_svd_shape,
    numpy=(np.linalg.svd,), bind=_bind_svd, family="linalg", label=_svd_label,
    pieces=lambda params: 3 if params.get("compute_uv", True) else None,
    result=lambda pieces, values: SVDResult(*pieces),
    examples=tuple(Example((s,), {"compute_uv": True, "piece": k}, low=-1.0, high=1.0,
                           call=(lambda k: lambda fn, a: fn(a, full_matrices=False)[k])(k))
                   for s in ((3, 3), (4, 2), (2, 4), (2, 3, 2)) for k in (0, 1, 2))
    + (Example(((4, 3),), {"compute_uv": False}, call=lambda fn, a: fn(a, compute_uv=False)),),
))


# --- qr: the reduced QR decomposition --------------------------------------------------------------------
class QRResult(tuple):
    """``(Q, R)`` like NumPy's ``QRResult``, each a node of its own."""

    __slots__ = ()

    def __new__(cls, Q, R):  # noqa: N803 - NumPy's names
        return super().__new__(cls, (Q, R))

    Q = property(lambda self: self[0])
    R = property(lambda self: self[1])


def _bind_qr(a, mode="reduced"):
    shape = np.shape(a.value if hasattr(a, "value") else a)
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(f"np.linalg.qr: unrecognized mode {mode!r}")
    if mode == "raw":
        raise UnsupportedOpError("np.linalg.qr(..., mode='raw') (LAPACK's Householder reflectors) is not "
                                 "supported; use mode='reduced'")
    if mode == "complete" and len(shape) >= 2 and shape[-2] > shape[-1]:
        raise UnsupportedOpError(
            f"np.linalg.qr of a {'×'.join(map(str, shape[-2:]))} matrix with mode='complete' is not "
            f"supported: the extra columns of Q are not determined by the matrix, and neither is their "
            f"gradient; use mode='reduced' (the default)")
    return (a,), {"r_only": mode == "r"}


def _qr_shape(shapes, params):
    s = shapes[0]
    m, n, k = _matrix_dims(s, "qr")
    return s[:-2] + ((m, k), (k, n))[params.get("piece", 1)]


def _qr_forward(a, r_only=False, piece=1):
    if r_only:
        return np.linalg.qr(a, mode="r")
    return np.linalg.qr(a)[piece]


def _qr_vjp(g, ans, args, p):
    """A = QR (Q with orthonormal columns, R upper triangular): for a tall or square A (m ≥ n), with
    M = R R̄ᵀ − Q̄ᵀQ and copyltu(M) = tril(M) + tril(M, −1)ᵀ, Ā = (Q̄ + Q copyltu(M)) R⁻ᵀ (Walter and
    Lehmann 2018; Seeger et al. 2017). A wide A = [X Y] = Q [U V] (U square): X = QU by that rule with
    Q̄ + Y V̄ᵀ for Q̄ (Q reaches the loss through V = QᵀY too), and Ȳ = Q V̄. Not finite where R is
    singular."""
    a = args[0]
    Q, R = np.linalg.qr(a)
    piece = 1 if p.get("r_only") else p.get("piece", 1)
    Qbar = g if piece == 0 else np.zeros_like(Q)
    Rbar = g if piece == 1 else np.zeros_like(R)
    m, n = a.shape[-2:]
    if m >= n:
        return _qr_square_vjp(Q, R, Qbar, Rbar)
    X_bar = _qr_square_vjp(Q, R[..., :, :m], Qbar + a[..., :, m:] @ _swap(Rbar[..., :, m:]), Rbar[..., :, :m])
    return np.concatenate([X_bar, Q @ Rbar[..., :, m:]], axis=-1)


def _qr_square_vjp(Q, R, Qbar, Rbar):
    """Ā for A = QR with R square (n×n) and invertible."""
    M = R @ _swap(Rbar) - _swap(Qbar) @ Q
    sym = np.tril(M) + _swap(np.tril(M, -1))
    B = Qbar + Q @ sym  # Ā Rᵀ = B: Āᵀ = R⁻¹ Bᵀ
    return _swap(np.linalg.solve(R, _swap(B)))


def _qr_label(params, constants):
    return "qr → " + ("R" if params.get("r_only") else ("Q", "R")[params.get("piece", 1)])


register(Op(
    name="qr", symbol="qr", forward=_qr_forward, vjps=(_qr_vjp,), shape=_qr_shape,
    numpy=(np.linalg.qr,), bind=_bind_qr, family="linalg", label=_qr_label,
    pieces=lambda params: None if params.get("r_only") else 2,
    result=lambda pieces, values: QRResult(*pieces),
    examples=tuple(Example((s,), {"r_only": False, "piece": k}, low=-1.0, high=1.0,
                           call=(lambda k: lambda fn, a: fn(a)[k])(k))
                   for s in ((3, 3), (4, 2), (2, 4), (2, 3, 2), (2, 2, 3)) for k in (0, 1))
    + (Example(((4, 3),), {"r_only": True}, call=lambda fn, a: fn(a, mode="r")),),
))
