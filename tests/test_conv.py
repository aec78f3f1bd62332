"""Convolution written as course code writes it, traced unchanged: a naive loop over output
positions (np.pad and slicing) and an im2col version; gradients against central differences and
against HIPS autograd (neither version writes into an array: autograd does not support that)."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import graphviz_bp as gb

from .numerics import numerical_grads


def conv2d_naive(x, w, b, pad=1, stride=1, np=np):
    """x: (C_in, H, W), w: (C_out, C_in, kh, kw), b: (C_out,) -> (C_out, H_out, W_out)."""
    c_out, c_in, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), "constant")
    h_out = (xp.shape[1] - kh) // stride + 1
    w_out = (xp.shape[2] - kw) // stride + 1
    rows = []
    for i in range(h_out):
        row = []
        for j in range(w_out):
            window = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
            row.append(np.sum(w * window, axis=(1, 2, 3)) + b)  # one output pixel, every channel
        rows.append(np.stack(row, axis=-1))
    return np.stack(rows, axis=1)


def im2col(xp, kh, kw, stride=1, np=np):
    """The windows of xp (C, H, W) as the columns of a (C*kh*kw, H_out*W_out) matrix."""
    c, h, w = xp.shape
    cols = []
    for i in range(0, h - kh + 1, stride):
        for j in range(0, w - kw + 1, stride):
            cols.append(xp[:, i:i + kh, j:j + kw].reshape(-1, 1))
    return np.concatenate(cols, axis=1)


def conv2d_im2col(x, w, b, pad=1, stride=1, np=np):
    c_out, c_in, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), "constant")
    h_out = (xp.shape[1] - kh) // stride + 1
    w_out = (xp.shape[2] - kw) // stride + 1
    cols = im2col(xp, kh, kw, stride, np=np)
    out = w.reshape(c_out, -1) @ cols + b.reshape(-1, 1)
    return out.reshape(c_out, h_out, w_out)


def _loss(conv, pad, stride, np):
    def loss(x, w, b):
        out = conv(x, w, b, pad=pad, stride=stride, np=np)
        weights = np.cos(np.arange(out.size).reshape(out.shape))  # a fixed, uneven cotangent
        return np.sum(np.tanh(out) * weights)
    return loss


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(2, 5, 4)), "w": rng.normal(size=(3, 2, 3, 3)) * 0.5,
            "b": rng.normal(size=3)}


@pytest.mark.parametrize("conv", [conv2d_naive, conv2d_im2col], ids=["naive", "im2col"])
@pytest.mark.parametrize("pad,stride", [(1, 1), (0, 1), (2, 2)])
def test_convolution_traces_unchanged_and_matches_differences_and_autograd(conv, pad, stride):
    inputs = _inputs()
    g = gb.trace(_loss(conv, pad, stride, np), **inputs)
    assert g.value == pytest.approx(_loss(conv, pad, stride, np)(**inputs), rel=1e-12)
    fd = numerical_grads(_loss(conv, pad, stride, np), inputs)
    ag = autograd.grad(_loss(conv, pad, stride, anp), argnum=(0, 1, 2))(*inputs.values())
    for key, expected in zip(inputs, ag):
        np.testing.assert_allclose(g.grad(key), fd[key], rtol=1e-6, atol=1e-8, err_msg=key)
        np.testing.assert_allclose(g.grad(key), expected, rtol=1e-10, atol=1e-12, err_msg=key)


def test_the_two_convolutions_agree_and_record_what_was_written():
    inputs = _inputs(1)
    naive = gb.trace(_loss(conv2d_naive, 1, 1, np), **inputs)
    cols = gb.trace(_loss(conv2d_im2col, 1, 1, np), **inputs)
    assert naive.value == pytest.approx(cols.value, rel=1e-12)
    for key in inputs:
        np.testing.assert_allclose(naive.grad(key), cols.grad(key), rtol=1e-10, atol=1e-12)
    names = [n.op.name for n in cols.nodes if n.op is not None]
    assert names[0] == "pad" and names.count("index") == 5 * 4 and "concatenate" in names
    # x is padded once and read by every window: one message per window, summed at the padded node
    padded = next(n for n in naive.nodes if n.op is not None and n.op.name == "pad")
    assert len([e for e in naive.edges if e.src is padded]) == 5 * 4
