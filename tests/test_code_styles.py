"""Real code patterns in the styles course code is written in, each traced unchanged and more than
once: loops over time steps, forward and backward in one function returning ``(loss, grads)``,
parameters held in ``self.params``, ``for i in range(len(...))`` index loops, scalar loss
accumulators, in-place updates on traced arrays, buffers built from traced values, SVM and softmax
losses vectorised and with loops, and an RNN sharing its weights across time steps.

Every test proves values: the traced value equals the same function run on plain NumPy arrays, the
gradients equal central differences (``gb.check``, relative error 1e-6) and HIPS autograd where
autograd can express the function (it has no item assignment: those get an equivalent functional
version)."""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import graphviz_bp as gb

from .numerics import numerical_grads, verify

RTOL = 1e-6


def _plain(f, inputs, **kw):
    """NumPy's own run, on copies (the function may write into what it is given)."""
    return f(**{k: np.array(v, copy=True) for k, v in inputs.items()}, **kw)


def ops_named(g, name):
    return [n for n in g.nodes if n.op is not None and n.op.name == name]


RNG = np.random.default_rng(231)
N, D, H, C, T = 5, 4, 6, 3, 4
X = RNG.normal(size=(N, D))
Y = np.array([0, 2, 1, 2, 0])
W = RNG.normal(size=(D, C)) * 0.5
W1, B1 = RNG.normal(size=(D, H)) * 0.5, RNG.normal(size=H) * 0.1
W2, B2 = RNG.normal(size=(H, C)) * 0.5, RNG.normal(size=C) * 0.1


# --- SVM and softmax losses, with loops and vectorised ---------------------------------------------

def svm_loss_naive(W, X, y, reg=0.1, np=np):
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = np.dot(X[i], W)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1  # note delta = 1
            if margin > 0:
                loss += margin
    loss /= num_train
    loss += reg * np.sum(W * W)
    return loss


def svm_loss_vectorized(W, X, y, reg=0.1):
    num_train = X.shape[0]
    scores = X.dot(W)
    correct_class_scores = scores[np.arange(num_train), y]
    margins = scores - correct_class_scores[:, np.newaxis] + 1.0
    margins[margins < 0] = 0
    margins[np.arange(num_train), y] = 0
    loss = np.sum(margins) / num_train
    loss += reg * np.sum(W * W)
    return loss


def svm_loss_functional(W, X, y, reg=0.1, np=anp):
    """The vectorised SVM without item assignment, for autograd."""
    scores = np.dot(X, W)
    correct = scores[np.arange(X.shape[0]), y]
    margins = np.maximum(0.0, scores - correct[:, None] + 1.0) * (1 - np.eye(W.shape[1])[y])
    return np.sum(margins) / X.shape[0] + reg * np.sum(W * W)


def softmax_loss_naive(W, X, y, reg=0.1, np=np):
    cost = np.float64(0)
    num_train = X.shape[0]
    for i in range(len(y)):
        f = np.dot(X[i], W)
        f = f - np.max(f)  # numeric stability
        log_sum = np.log(np.sum(np.exp(f)))
        cost += -f[y[i]] + log_sum
    cost /= num_train
    cost += 0.5 * reg * np.sum(W ** 2)
    return cost


def softmax_loss_vectorized(W, X, y, reg=0.1):
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores)
    probs /= np.sum(probs, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(num_train), y])) / num_train
    loss += 0.5 * reg * np.sum(W ** 2)
    return loss


def softmax_loss_functional(W, X, y, reg=0.1, np=anp):
    scores = np.dot(X, W)
    scores = scores - np.max(scores, axis=1, keepdims=True)
    logp = scores - np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(X.shape[0]), y]) + 0.5 * reg * np.sum(W ** 2)


def _lossinputs(seed):
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(D, C)) * 0.5, "X": rng.normal(size=(N, D)), "y": rng.integers(0, C, N)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_svm_loss_with_loops_and_vectorised(seed):
    inputs = _lossinputs(seed)
    naive = verify(svm_loss_naive, inputs, ag=lambda **a: svm_loss_naive(**a, np=anp))
    vec = verify(svm_loss_vectorized, inputs, ag=svm_loss_functional)
    assert naive.value == pytest.approx(vec.value, rel=1e-12)
    for k in ("W", "X"):
        np.testing.assert_allclose(naive.grad(k), vec.grad(k), rtol=1e-10, atol=1e-12)
    masks = [n.params["text"] for n in ops_named(vec, "setitem")]
    assert masks == ["[margins < 0]", "[np.arange(num_train), y]"]
    # the naive loop reads one row of X per example: N index nodes on X, one message each
    assert len(naive.out_edges("X")) == N


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_loss_with_loops_and_vectorised(seed):
    inputs = _lossinputs(seed)
    naive = verify(softmax_loss_naive, inputs, ag=lambda **a: softmax_loss_naive(**a, np=anp))
    vec = verify(softmax_loss_vectorized, inputs, ag=softmax_loss_functional)
    assert naive.value == pytest.approx(vec.value, rel=1e-12)
    for k in ("W", "X"):
        np.testing.assert_allclose(naive.grad(k), vec.grad(k), rtol=1e-10, atol=1e-12)
    assert [n.op.name for n in vec.nodes if n.op is not None][:3] == ["dot", "max", "subtract"]


def test_the_scalar_accumulators_start_as_plain_numbers_and_become_traced():
    def float_start(x):
        loss = 0.0
        for i in range(len(x)):
            loss += np.sum(x[i] ** 2) * (i + 1)
        return loss

    def numpy_start(x):
        cost = np.float64(0)
        for row in x:  # iteration over rows
            cost += np.tanh(np.sum(row))
        cost *= 2.0
        return cost

    x = RNG.normal(size=(4, 3))
    g = verify(float_start, {"x": x}, ag=float_start)
    np.testing.assert_allclose(g.grad("x"), 2 * x * np.arange(1.0, 5.0)[:, None])  # closed form
    g = verify(numpy_start, {"x": x}, ag=numpy_start)
    np.testing.assert_allclose(g.grad("x"), np.repeat(2 / np.cosh(x.sum(1, keepdims=True)) ** 2, 3, axis=1))


# --- in-place updates on traced arrays -------------------------------------------------------------

def test_in_place_softmax_normalisation_and_relu_by_mask():
    def f(W1, b1, W2, X):
        h = X.dot(W1) + b1
        h[h < 0] = 0
        x = h.dot(W2)
        x -= np.max(x, axis=1, keepdims=True)
        probs = np.exp(x)
        probs /= np.sum(probs, axis=1, keepdims=True)
        return -np.sum(np.log(probs[np.arange(len(Y)), Y])) / len(Y)

    def functional(W1, b1, W2, X):
        h = anp.maximum(anp.dot(X, W1) + b1, 0.0)
        x = anp.dot(h, W2)
        logp = x - anp.log(anp.sum(anp.exp(x), axis=1, keepdims=True))
        return -anp.mean(logp[anp.arange(len(Y)), Y])

    g = verify(f, {"W1": W1, "b1": B1, "W2": W2, "X": X}, ag=functional)
    labels = [n.params["text"] for n in ops_named(g, "setitem")]
    assert labels == ["[h < 0]"]
    assert [n.op.name for n in g.nodes if n.op is not None].count("divide") == 2  # probs /= and / len(Y)


def test_in_place_updates_on_a_traced_input_leave_the_callers_array():
    def f(x, w):
        x -= np.max(x, axis=1, keepdims=True)
        x[x < -1.0] = -1.0
        return np.sum(np.tanh(x.dot(w)))

    x, w = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2))
    before = x.copy()
    g = gb.trace(f, x=x, w=w)
    np.testing.assert_array_equal(x, before)
    assert g.value == pytest.approx(_plain(f, {"x": x, "w": w}), rel=1e-12)

    def functional(x, w):
        x = x - anp.max(x, axis=1, keepdims=True)
        x = anp.maximum(x, -1.0)
        return anp.sum(anp.tanh(anp.dot(x, w)))

    fd = numerical_grads(lambda x, w: _plain(f, {"x": x, "w": w}), {"x": x, "w": w})
    gx, gw = autograd.grad(functional, argnum=(0, 1))(x, w)
    np.testing.assert_allclose(g.grad("x"), fd["x"], rtol=RTOL, atol=1e-8)
    np.testing.assert_allclose(g.grad("w"), fd["w"], rtol=RTOL, atol=1e-8)
    np.testing.assert_allclose(g.grad("x"), gx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g.grad("w"), gw, rtol=1e-10, atol=1e-12)


# --- a traced buffer filled row by row, and the np.zeros buffer that is refused -------------------

def test_a_buffer_made_from_a_traced_value_filled_in_a_loop():
    def column(x, w):
        h = x[:, 0:1] * 0.0  # (T, 1), traced
        for t in range(x.shape[0]):
            h[t] = np.tanh(x[t].dot(w))
        return np.sum(h ** 2)

    def states(x, Wh):
        hs = x * 0.0  # one row per time step
        prev = x[0]
        for t in range(1, x.shape[0]):
            hs[t] = np.tanh(x[t] + prev.dot(Wh))
            prev = hs[t]
        return np.sum(hs * x)

    def column_ag(x, w):
        return anp.sum(anp.tanh(anp.dot(x, w)) ** 2)

    def states_ag(x, Wh):
        prev, total = x[0], 0.0
        for t in range(1, x.shape[0]):
            prev = anp.tanh(x[t] + anp.dot(prev, Wh))
            total = total + anp.sum(prev * x[t])
        return total

    x = RNG.normal(size=(T, 3))
    g = verify(column, {"x": x, "w": RNG.normal(size=3)}, ag=column_ag)
    assert len(ops_named(g, "setitem")) == T
    g = verify(states, {"x": x, "Wh": RNG.normal(size=(3, 3)) * 0.5}, ag=states_ag)
    assert len(ops_named(g, "setitem")) == T - 1


def test_traced_values_written_into_np_zeros_buffers_in_loops_are_traced():
    def rows(x):
        h = np.zeros((x.shape[0], 2))
        for t in range(x.shape[0]):
            h[t] = np.tanh(x[t])
        return np.sum(h * h)

    def accumulated(W):
        dW = np.zeros_like(W)
        for t in range(3):
            dW += W * t
        return np.sum(dW * W)

    g = verify(rows, {"x": RNG.normal(size=(3, 2))}, ag=lambda x: anp.sum(anp.tanh(x) ** 2))
    assert len(ops_named(g, "setitem")) == 3
    g = verify(accumulated, {"W": RNG.normal(size=(2, 2))}, ag=lambda W: anp.sum(3 * W * W))
    assert [n.params.get("label") for n in g.nodes if n.kind == "const" and n.shape == (2, 2)] == \
        ["np.zeros_like 2×2"]


# --- forward and backward in one function: (loss, grads) ------------------------------------------

def two_layer_loss_and_grads(W1, b1, W2, b2, X, y, reg=0.05):
    """Forward pass, then the hand-written backward pass; returns (loss, grads)."""
    N = X.shape[0]
    hidden = np.maximum(0, X.dot(W1) + b1)
    scores = hidden.dot(W2) + b2
    scores -= np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores)
    probs /= np.sum(probs, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

    grads = {}
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads["W2"] = hidden.T.dot(dscores) + reg * W2
    grads["b2"] = np.sum(dscores, axis=0)
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T.dot(dhidden) + reg * W1
    grads["b1"] = np.sum(dhidden, axis=0)
    return loss, grads


def svm_loss_and_grad_naive(W, X, y, reg=0.1):
    dW = W * 0.0
    loss = 0.0
    for i in range(X.shape[0]):
        scores = X[i].dot(W)
        for j in range(W.shape[1]):
            if j == y[i]:
                continue
            margin = scores[j] - scores[y[i]] + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= X.shape[0]
    dW /= X.shape[0]
    return loss + reg * np.sum(W * W), dW + 2 * reg * W


@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_grads_in_one_function(seed):
    rng = np.random.default_rng(seed)
    inputs = {"W1": rng.normal(size=(D, H)) * 0.5, "b1": rng.normal(size=H) * 0.1,
              "W2": rng.normal(size=(H, C)) * 0.5, "b2": rng.normal(size=C) * 0.1,
              "X": rng.normal(size=(N, D)), "y": rng.integers(0, C, N)}

    def functional(W1, b1, W2, b2, X, y, reg=0.05):
        hidden = anp.maximum(0.0, anp.dot(X, W1) + b1)
        s = anp.dot(hidden, W2) + b2
        s = s - anp.max(s, axis=1, keepdims=True)
        logp = s - anp.log(anp.sum(anp.exp(s), axis=1, keepdims=True))
        return -anp.mean(logp[anp.arange(len(y)), y]) + 0.5 * reg * (anp.sum(W1 * W1) + anp.sum(W2 * W2))

    g = verify(two_layer_loss_and_grads, inputs, output=0, ag=functional)
    (grads,) = g.extra
    assert sorted(grads) == ["W1", "W2", "b1", "b2"]
    for k in grads:
        assert type(grads[k]) is np.ndarray
        np.testing.assert_allclose(grads[k], g.grad(k), rtol=1e-10, atol=1e-12, err_msg=k)

    svm_inputs = _lossinputs(seed)
    g = verify(svm_loss_and_grad_naive, svm_inputs, output=0, ag=lambda **a: svm_loss_naive(**a, np=anp))
    (dW,) = g.extra
    np.testing.assert_allclose(dW, g.grad("W"), rtol=1e-10, atol=1e-12)


# --- a model class holding its parameters in self.params --------------------------------------------

class TwoLayerNet:
    """input - fully connected - ReLU - fully connected - softmax."""

    def __init__(self, input_size, hidden_size, output_size, std=1e-1, seed=0):
        rs = np.random.RandomState(seed)
        self.params = {}
        self.params["W1"] = std * rs.randn(input_size, hidden_size)
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = std * rs.randn(hidden_size, output_size)
        self.params["b2"] = np.zeros(output_size)

    def loss(self, X, y=None, reg=0.0):
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        N, D = X.shape
        h = X.dot(W1) + b1
        h[h < 0] = 0
        scores = h.dot(W2) + b2
        if y is None:
            return scores
        scores -= np.max(scores, axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= np.sum(probs, axis=1, keepdims=True)
        loss = 0.0
        for i in range(N):
            loss += -np.log(probs[i, y[i]])
        loss /= N
        loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        grads = {}
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads["W2"] = h.T.dot(dscores) + 2 * reg * W2
        grads["b2"] = np.sum(dscores, axis=0)
        dh = dscores.dot(W2.T)
        dh[h <= 0] = 0
        grads["W1"] = X.T.dot(dh) + 2 * reg * W1
        grads["b1"] = np.sum(dh, axis=0)
        return loss, grads


def _net_loss(reg):
    def loss(W1, b1, W2, b2, X, y):
        net = TwoLayerNet(D, H, C)
        net.params.update(W1=W1, b1=b1, W2=W2, b2=b2)  # the traced inputs, in a fresh instance
        return net.loss(X, y, reg=reg)
    return loss


def _net_functional(reg):
    def loss(W1, b1, W2, b2, X, y):
        h = anp.maximum(anp.dot(X, W1) + b1, 0.0)
        s = anp.dot(h, W2) + b2
        logp = s - anp.log(anp.sum(anp.exp(s - anp.max(s, axis=1, keepdims=True)), axis=1, keepdims=True)) \
            - anp.max(s, axis=1, keepdims=True)
        return -anp.mean(logp[anp.arange(len(y)), y]) + reg * (anp.sum(W1 * W1) + anp.sum(W2 * W2))
    return loss


@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_a_model_class_reading_self_params(reg):
    net = TwoLayerNet(D, H, C, std=0.5, seed=3)
    inputs = {**net.params, "b1": B1, "b2": B2, "X": X, "y": Y}
    g = verify(_net_loss(reg), inputs, output=0, ag=_net_functional(reg))
    (grads,) = g.extra
    for k in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(grads[k], g.grad(k), rtol=1e-10, atol=1e-12, err_msg=k)
    assert [n.params["text"] for n in ops_named(g, "setitem")][0] == "[h < 0]"
    # the accumulator reads probs once per example: N messages meet at probs (the hand-written
    # backward's probs.copy() does not lead to the loss, so it is no edge of the graph)
    probs = [n for n in g.nodes if n.op is not None and n.op.name == "divide"][0]
    assert [e.dst.op.name for e in g.edges if e.src is probs] == ["index"] * N


def test_the_model_class_scores_without_labels_need_a_seed():
    net = TwoLayerNet(D, H, C, std=0.5, seed=4)

    def scores(W1, b1, W2, b2, X):
        model = TwoLayerNet(D, H, C)
        model.params.update(W1=W1, b1=b1, W2=W2, b2=b2)
        return model.loss(X)

    seed = RNG.normal(size=(N, C))
    inputs = {**net.params, "X": X}
    g = gb.trace(scores, inputs, seed=seed)
    np.testing.assert_allclose(g.value, _plain(scores, inputs), rtol=1e-12)
    fd = numerical_grads(lambda **a: np.sum(_plain(scores, a) * seed), inputs)
    for k in inputs:
        np.testing.assert_allclose(g.grad(k), fd[k], rtol=RTOL, atol=1e-8, err_msg=k)


# --- loops over time steps: an RNN sharing its weights ---------------------------------------------

def rnn_loss(x, h0, Wx, Wh, b, Wy, y, np=np):
    """A vanilla RNN over T steps with a softmax loss at every step, summed into a scalar."""
    h = h0
    loss = 0.0
    for t in range(len(x)):
        h = np.tanh(np.dot(x[t], Wx) + np.dot(h, Wh) + b)
        scores = np.dot(h, Wy)
        scores = scores - np.max(scores)
        loss += np.log(np.sum(np.exp(scores))) - scores[y[t]]
    return loss / len(x)


def rnn_step_dicts(x, hprev, Wxh, Whh, Why, targets):
    """The dict-per-step style: xs[t], hs[t], ps[t] with column vectors, hs[-1] the initial state."""
    xs, hs, ps = {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    for t in range(len(targets)):
        xs[t] = x[t].reshape(-1, 1)
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]))
        ys = np.dot(Why, hs[t])
        ps[t] = np.exp(ys) / np.sum(np.exp(ys))
        loss += -np.log(ps[t][targets[t], 0])
    return loss


def _rnn_inputs(seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(T, D)), "h0": rng.normal(size=H) * 0.5, "Wx": rng.normal(size=(D, H)) * 0.4,
            "Wh": rng.normal(size=(H, H)) * 0.4, "b": rng.normal(size=H) * 0.1,
            "Wy": rng.normal(size=(H, C)) * 0.4, "y": rng.integers(0, C, T)}


@pytest.mark.parametrize("seed", [0, 1])
def test_rnn_over_time_steps_keeps_one_message_per_use_of_the_shared_weight(seed):
    inputs = _rnn_inputs(seed)
    g = verify(rnn_loss, inputs, ag=lambda **a: rnn_loss(**a, np=anp))
    for name in ("Wh", "Wx", "Wy", "b"):
        edges = g.out_edges(name)
        assert len(edges) == T, name  # one use per time step
        assert all(e.message.shape == inputs[name].shape for e in edges)
        np.testing.assert_allclose(sum(e.message for e in edges), g.grad(name), rtol=1e-12, atol=1e-14)
    assert [e.dst.op.name for e in g.out_edges("Wh")] == ["dot"] * T
    contributions = g.contributions("Wh", limit=10_000)
    assert len(contributions) > T  # each use reaches the loss by more than one path
    np.testing.assert_allclose(sum(c.value for c in contributions), g.grad("Wh"), rtol=1e-10, atol=1e-12)
    assert {c.path[0] for c in contributions} == set(g.out_edges("Wh"))  # every use is a path's start
    assert len(g.out_edges("h0")) == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_rnn_in_the_dict_per_step_style(seed):
    rng = np.random.default_rng(seed)
    inputs = {"x": rng.normal(size=(T, D)), "hprev": rng.normal(size=(H, 1)) * 0.5,
              "Wxh": rng.normal(size=(H, D)) * 0.4, "Whh": rng.normal(size=(H, H)) * 0.4,
              "Why": rng.normal(size=(C, H)) * 0.4, "targets": rng.integers(0, C, T)}

    def for_autograd(x, hprev, Wxh, Whh, Why, targets):
        h, loss = hprev, 0.0
        for t in range(len(targets)):
            h = anp.tanh(anp.dot(Wxh, anp.reshape(x[t], (-1, 1))) + anp.dot(Whh, h))
            ys = anp.dot(Why, h)
            loss = loss - anp.log(anp.exp(ys[targets[t], 0]) / anp.sum(anp.exp(ys)))
        return loss

    g = verify(rnn_step_dicts, inputs, ag=for_autograd)
    assert len(g.out_edges("Whh")) == T and len(g.out_edges("Wxh")) == T
    np.testing.assert_allclose(sum(e.message for e in g.out_edges("Whh")), g.grad("Whh"), rtol=1e-12)
    np.testing.assert_allclose(sum(c.value for c in g.contributions("Whh", limit=10_000)), g.grad("Whh"),
                               rtol=1e-10, atol=1e-12)
    assert g.node("hprev").kind == "input" and len(g.out_edges("hprev")) == 1  # np.copy(hprev)


def test_a_buffer_not_yet_written_takes_traced_operands_in_its_methods_and_as_out():
    """An RNN that reads the previous state from its states buffer with the .dot() method before any
    state was written (at t = 0 the buffer holds zeros), and results written with out= into
    buffers the function made, the traced operand coming first."""
    W0 = RNG.normal(size=(3, 3)) * 0.5

    def states_rnn(W):
        states = np.zeros((2, 4, 3))
        for t in range(3):
            states[:, t] = np.tanh(states[:, t - 1].dot(W.T) + 1.0)
        return np.sum(states ** 2)

    def states_ag(W):
        prev, total = anp.zeros((2, 3)), 0.0
        for _ in range(3):
            prev = anp.tanh(anp.dot(prev, W.T) + 1.0)
            total = total + anp.sum(prev ** 2)
        return total

    verify(states_rnn, {"W": W0}, ag=states_ag)

    def written_with_out(A, W):
        relu = np.empty_like(A)
        np.maximum(A, 0, out=relu)
        product = np.zeros((A.shape[0], W.shape[1]))
        np.dot(A, W, out=product)
        clipped = np.zeros_like(A)
        np.clip(A, -0.5, 0.5, out=clipped)
        return np.sum(relu * product[:, :1]) + np.sum(clipped * A)

    def written_ag(A, W):
        return anp.sum(anp.maximum(A, 0) * anp.dot(A, W)[:, :1]) + anp.sum(anp.clip(A, -0.5, 0.5) * A)

    verify(written_with_out, {"A": RNG.normal(size=(3, 4)), "W": RNG.normal(size=(4, 2))}, ag=written_ag)


_OUTSIDE_VECTORIZED = np.vectorize(lambda v, c: v * c if v > 0 else 0.0)  # made at import


def test_np_vectorize_runs_the_python_function_on_each_entry_made_inside_or_outside_the_function():
    numpy_call = np.vectorize.__dict__["__call__"]

    def two_layer(X, W1, W2):
        activation = np.vectorize(lambda x: x * (x > 0))  # a course's ReLU, made inside the loss
        hidden = activation(X @ W1)
        return np.sum((hidden @ W2) ** 2) + np.sum(_OUTSIDE_VECTORIZED(X, 3.0))

    def two_layer_ag(X, W1, W2):
        return anp.sum((anp.dot(anp.maximum(anp.dot(X, W1), 0.0), W2)) ** 2) + anp.sum(anp.maximum(X, 0.0) * 3.0)

    g = verify(two_layer, {"X": RNG.normal(size=(3, 2)), "W1": RNG.normal(size=(2, 4)),
                           "W2": RNG.normal(size=(4, 1))}, ag=two_layer_ag)
    assert len(ops_named(g, "stack")) == 2
    assert np.vectorize.__dict__["__call__"] is numpy_call  # NumPy's class as it was
    assert _OUTSIDE_VECTORIZED(np.array([-1.0, 2.0]), 3.0).tolist() == [0.0, 6.0]

    with pytest.raises(gb.UnsupportedOpError, match="signature= is not supported on traced values"):
        gb.trace(lambda x: np.sum(np.vectorize(lambda r: r * 2, signature="(n)->(n)")(x)), x=np.ones((2, 2)))
