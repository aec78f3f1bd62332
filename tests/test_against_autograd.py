"""Composite expressions: our gradients against an independent autodiff (HIPS autograd, test-only)."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import graphviz_bp as gb

# Each composite is written once against a NumPy-like module ``m`` so that the same code runs under
# graphviz_bp (plain numpy) and under autograd (autograd.numpy).


def autoencoder(m, W, x):
    return 0.5 * m.sum((W.T @ W @ x - x) ** 2)


def swish_mlp(m, W1, b1, W2, b2, x, y):
    z = W1 @ x + b1
    h = z * (1 / (1 + m.exp(-z)))
    return 0.5 * m.sum((W2 @ h + b2 - y) ** 2)


def tanh_mlp_batch(m, W1, b1, W2, X):
    H = m.tanh(W1 @ X + b1)
    return m.mean(m.sum(H * (W2 @ H), axis=0))


def relu_broadcast(m, A, b, c):
    Z = m.maximum(A * b + c, 0.0)
    return m.sum(m.sqrt(Z ** 2 + 1.0) / (1.0 + m.exp(-Z))) - m.mean(m.log(A ** 2 + 1), axis=(0, 1))


def shapes_and_dots(m, A, v):
    B = m.reshape(A, (2, 6))
    C = m.transpose(m.reshape(A, (3, 2, 2)), (2, 0, 1))
    return m.dot(m.dot(v, B), m.dot(v, B)) + m.sum(m.square(C) * m.exp(-C.sum(axis=-1, keepdims=True)))


def power_tower(m, a, p):
    return m.sum(a ** p + (a * 2.0) ** 0.5 - 1.0 / a)


def softmax_cross_entropy(m, X, W, b):
    logits = X @ W + b
    z = logits - m.max(logits, axis=1, keepdims=True)
    logp = z - m.log(m.sum(m.exp(z), axis=1, keepdims=True))
    y = np.array([0, 2, 1, 2])
    return -m.mean(logp[np.arange(4), y])


def layer_norm(m, x, gamma, beta):
    mu = m.mean(x, axis=-1, keepdims=True)
    h = (x - mu) / m.sqrt(m.var(x, axis=-1, keepdims=True) + 1e-5) * gamma + beta
    return m.sum(m.tanh(h) ** 2) + 0.01 * (m.sum(gamma ** 2) + m.linalg.norm(beta))  # weight decay


def attention(m, Q, K, V):
    s = Q @ K.T / np.sqrt(Q.shape[-1])
    e = m.exp(s - m.max(s, axis=-1, keepdims=True))
    a = e / m.sum(e, axis=-1, keepdims=True)
    return m.sum(m.einsum("ij,jk->ik", a, V) ** 2)


def rnn(m, W, U, h0, X):
    h = h0
    for t in range(3):
        h = m.tanh(W @ h + U @ X[t])
    return m.sum(h ** 2)


def gplvm(m, X, Y):
    N, D = Y.shape
    K = X @ X.T + 0.5 * np.eye(N)
    sign, logdet = m.linalg.slogdet(K)
    return 0.5 * D * logdet + 0.5 * m.trace(m.linalg.solve(K, Y @ Y.T))


def gplvm_cholesky(m, X, Y):
    N, D = Y.shape
    L = m.linalg.cholesky(X @ X.T + 0.5 * np.eye(N))
    A = m.linalg.solve(L, Y)
    return D * m.sum(m.log(m.diag(L))) + 0.5 * m.sum(A ** 2)


def assorted(m, a, b):
    c = m.concatenate([a, b], axis=0)
    s = m.stack([a, b], axis=1)
    return (m.prod(m.clip(c, -1.0, 1.5) + 2.0) + m.sum(m.where(s > 0, s, 0.1 * s))
            + m.sum(m.logaddexp(a, b)) + m.min(m.outer(a, b)) + m.std(c) + m.sum(m.sin(a) * m.cos(b))
            + m.inner(a, b) + m.sum(m.tensordot(m.reshape(c, (2, 4)), m.reshape(s, (4, 2)), 1)))


def pca_eigh(m, X, A):
    Xc = X - m.mean(X, axis=0)
    w, V = m.linalg.eigh(Xc.T @ Xc / 9.0)  # a covariance: its top two directions
    top = V[:, -2:]
    S = A + A.T  # a symmetric matrix read through its upper triangle
    u, U = m.linalg.eigh(S, UPLO="U")
    return (m.sum((Xc - Xc @ top @ top.T) ** 2) + m.sum(w[-2:])
            + m.sum(u ** 3) + m.sum(U[:, 0] ** 4) + m.sum(m.linalg.eigh(A)[0] * m.arange(4.0)))


def low_rank_svd(m, X, Y):
    U, S, Vt = m.linalg.svd(X, full_matrices=False)  # tall: U is 6×3
    approx = U[:, :2] @ m.diag(S[:2]) @ Vt[:2]
    u, s, vt = m.linalg.svd(Y, full_matrices=False)  # wide: Vᵀ is 3×5
    return (m.sum((X - approx) ** 2) + m.sum(S ** 3) + m.sum(U[:2, 0] * Vt[0, :2]) ** 2
            + m.sum(vt[1] ** 4) + m.sum(u[0] * s) + m.sum(m.linalg.svd(Y, compute_uv=False)))


CASES = {
    "autoencoder": (autoencoder, dict(W=(3, 5), x=(5,))),
    "swish_mlp": (swish_mlp, dict(W1=(4, 3), b1=(4,), W2=(2, 4), b2=(2,), x=(3,), y=(2,))),
    "tanh_mlp_batch": (tanh_mlp_batch, dict(W1=(4, 3), b1=(4, 1), W2=(4, 4), X=(3, 6))),
    "relu_broadcast": (relu_broadcast, dict(A=(3, 4), b=(4,), c=(3, 1))),
    "shapes_and_dots": (shapes_and_dots, dict(A=(3, 4), v=(2,))),
    "power_tower": (power_tower, dict(a=(5,), p=(5,))),
    "softmax_cross_entropy": (softmax_cross_entropy, dict(X=(4, 5), W=(5, 3), b=(3,))),
    "layer_norm_weight_decay": (layer_norm, dict(x=(3, 6), gamma=(6,), beta=(6,))),
    "attention": (attention, dict(Q=(4, 3), K=(5, 3), V=(5, 2))),
    "rnn_shared_weights": (rnn, dict(W=(4, 4), U=(4, 2), h0=(4,), X=(3, 2))),
    "gplvm_slogdet_solve": (gplvm, dict(X=(5, 2), Y=(5, 3))),
    "gplvm_cholesky": (gplvm_cholesky, dict(X=(5, 2), Y=(5, 3))),
    "assorted": (assorted, dict(a=(4,), b=(4,))),
    "pca_eigh": (pca_eigh, dict(X=(10, 4), A=(4, 4))),
    "low_rank_svd": (low_rank_svd, dict(X=(6, 3), Y=(3, 5))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_match_hips_autograd(case):
    fn, shapes = CASES[case]
    rng = np.random.default_rng(7)
    inputs = {k: rng.uniform(0.3, 1.5, size=s) if case == "power_tower" else rng.normal(size=s)
              for k, s in shapes.items()}
    g = gb.trace(lambda **kw: fn(np, **kw), **inputs)
    names = list(inputs)
    expected_value = fn(anp, **inputs)
    assert g.value == pytest.approx(float(expected_value), rel=1e-12)
    for i, key in enumerate(names):
        ref = autograd.grad(lambda *args: fn(anp, **dict(zip(names, args))), i)(*inputs.values())
        np.testing.assert_allclose(g.grad(key), ref, rtol=1e-10, atol=1e-12, err_msg=f"{case}: {key}")
