"""Losses that return their own hand-written gradients, written the way course code is: a softmax
classifier, a two-layer ReLU net filling a grads dict, the autoencoder 0.5‖WᵀWx − x‖². Some are
right, some carry the mistakes students make (a forgotten path, a sign, a factor, a transpose).
The tests check them with ``gb.check_backward`` and ``graphviz-bp check --backward``; the command
line imports this file, so it holds only functions."""

import numpy as np


# --- a softmax classifier, with L2 regularisation --------------------------------------------------

def softmax_loss(W, X, y, reg=0.1):
    """Cross-entropy of softmax(XW) with labels y, plus ½·reg·‖W‖²; returns (loss, dW)."""
    num_train = X.shape[0]
    scores = X @ W
    scores = scores - np.max(scores, axis=1, keepdims=True)  # for numerical stability
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    data_loss = -np.sum(np.log(probs[np.arange(num_train), y])) / num_train
    loss = data_loss + 0.5 * reg * np.sum(W * W)

    dscores = probs.copy()
    dscores[np.arange(num_train), y] -= 1
    dscores /= num_train
    dW = X.T @ dscores + reg * W
    return loss, dW


def softmax_loss_no_reg_grad(W, X, y, reg=0.1):
    """The same loss; the gradient forgets the regulariser."""
    num_train = X.shape[0]
    scores = X @ W
    scores = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(num_train), y])) / num_train + 0.5 * reg * np.sum(W * W)

    dscores = probs.copy()
    dscores[np.arange(num_train), y] -= 1
    dscores /= num_train
    dW = X.T @ dscores  # + reg * W is missing
    return loss, dW


# --- a two-layer net: affine - ReLU - affine - softmax, gradients in a dict -------------------------

def two_layer_net(W1, b1, W2, b2, X, y, reg=0.05):
    """Returns (loss, grads) with grads keyed by parameter name, as the assignment asks."""
    N = X.shape[0]
    hidden = np.maximum(0, X @ W1 + b1)
    scores = hidden @ W2 + b2
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    loss = -np.mean(log_probs[np.arange(N), y]) + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

    grads = {}
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads["W2"] = hidden.T @ dscores + reg * W2
    grads["b2"] = np.sum(dscores, axis=0)
    dhidden = dscores @ W2.T
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T @ dhidden + reg * W1
    grads["b1"] = np.sum(dhidden, axis=0)
    return loss, grads


def two_layer_net_bugs(W1, b1, W2, b2, X, y, reg=0.05):
    """The same net with three bugs: db2 has the wrong sign, dW1 is transposed, dW2 is doubled."""
    N = X.shape[0]
    hidden = np.maximum(0, X @ W1 + b1)
    scores = hidden @ W2 + b2
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    loss = -np.mean(log_probs[np.arange(N), y]) + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

    grads = {}
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads["W2"] = 2 * (hidden.T @ dscores + reg * W2)
    grads["b2"] = -np.sum(dscores, axis=0)
    dhidden = dscores @ W2.T
    dhidden[hidden <= 0] = 0
    grads["W1"] = dhidden.T @ X + reg * W1.T
    grads["b1"] = np.sum(dhidden, axis=0)
    return loss, grads


# --- the autoencoder: W is used twice, so ∂L/∂W has two terms ---------------------------------------

def autoencoder(W, x):
    """0.5‖WᵀWx − x‖²; returns (loss, dW, dx), both terms of dW included."""
    r = W.T @ (W @ x) - x
    loss = 0.5 * np.sum(r ** 2)
    dW = W @ np.outer(r, x) + np.outer(W @ x, r)
    dx = W.T @ (W @ r) - r
    return loss, dW, dx


def autoencoder_one_term(W, x):
    """The same loss; dW keeps only the term of W in Wx and forgets the one through Wᵀ."""
    r = W.T @ (W @ x) - x
    loss = 0.5 * np.sum(r ** 2)
    dW = W @ np.outer(r, x)
    dx = W.T @ (W @ r) - r
    return loss, dW, dx


def autoencoder_dx_only(W, x):
    """(loss, dx): one gradient, so it needs grads="x" (W is a float input too)."""
    r = W.T @ (W @ x) - x
    return 0.5 * np.sum(r ** 2), W.T @ (W @ r) - r


def noisy_gradient(w):
    """A gradient with noise drawn on every call: not the same twice."""
    return np.sum(w ** 2), 2 * w + 1e-3 * np.random.standard_normal(w.shape)


def sum_of_squares(w):
    """One input: the single returned array is its gradient."""
    return np.sum(w ** 2), 2 * w


def autoencoder_named_grads(W, x):
    """Gradients in a dict keyed dW, dx (not by input name): needs grads={"dW": "W", "dx": "x"}."""
    r = W.T @ (W @ x) - x
    return 0.5 * np.sum(r ** 2), {"dW": W @ np.outer(r, x) + np.outer(W @ x, r), "dx": W.T @ (W @ r) - r}
