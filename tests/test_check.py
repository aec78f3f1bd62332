"""Gradient checking as a core function: values against closed forms and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphviz_bp as gb

from graphviz_bp.check import compare, not_finite, precision


def ae(W, x):
    return 0.5 * np.sum((W.T @ W @ x - x) ** 2)


@pytest.fixture
def ae_inputs():
    rng = np.random.default_rng(3)
    return {"W": rng.normal(size=(3, 5)), "x": rng.normal(size=5)}


def test_a_correct_gradient_passes_with_norms_of_the_closed_form(ae_inputs):
    W, x = ae_inputs["W"], ae_inputs["x"]
    r = W.T @ W @ x - x
    closed_W = W @ np.outer(r, x) + np.outer(W @ x, r)  # one term per path to W
    result = gb.check(ae, ae_inputs)
    assert result.passed and result.value == pytest.approx(0.5 * r @ r)
    assert result["W"].analytic_norm == pytest.approx(np.linalg.norm(closed_W))
    assert result["W"].numeric_norm == pytest.approx(np.linalg.norm(closed_W), rel=1e-6)
    assert result["W"].error < 1e-7 and result["W"].coords == 15 == result["W"].size
    assert result["x"].shape == (5,) and result["x"].differentiated


def test_a_gradient_missing_one_path_fails_and_names_the_worst_entry(ae_inputs):
    W, x = ae_inputs["W"], ae_inputs["x"]
    r = W.T @ W @ x - x
    one_path = np.outer(W @ x, r)  # forgets W r xᵀ, the path through Wᵀ
    result = compare(ae, ae_inputs, {"W": one_path, "x": None})
    assert not result.passed and not result["W"].passed and result["x"].passed
    missing = W @ np.outer(r, x)
    worst = np.unravel_index(np.argmax(np.abs(missing)), missing.shape)
    assert result["W"].worst == tuple(int(i) for i in worst)
    assert result["W"].worst_numeric - result["W"].worst_analytic == pytest.approx(missing[worst], rel=1e-5)
    assert result["W"].error == pytest.approx(np.linalg.norm(missing) / np.linalg.norm(one_path + missing), rel=1e-5)


def test_a_kink_fails_and_integer_inputs_are_not_differentiated():
    result = gb.check(lambda x, k: np.sum(gb.relu(x)) + 0.0 * np.sum(x[k]),
                      {"x": np.array([0.0, 1.0]), "k": np.array([1])})
    assert not result["x"].passed and result["x"].worst == (0,)  # relu at 0: analytic 0, numeric 1/2
    assert result["x"].worst_numeric == pytest.approx(0.5)
    assert not result["k"].differentiated and result["k"].passed


def test_many_entries_are_sampled(ae_inputs):
    result = gb.check(lambda A: np.sum(np.tanh(A)), A=np.linspace(-1, 1, 400).reshape(20, 20), max_coords=50)
    assert result["A"].coords == 50 and result["A"].size == 400 and result.passed
    with pytest.raises(ValueError, match="positive"):
        gb.check(ae, ae_inputs, eps=0)


def test_a_function_that_writes_into_its_inputs_is_checked_on_copies():
    def f(x, w):
        x -= np.max(x, axis=1, keepdims=True)
        x *= 2.0
        return np.sum(np.tanh(x @ w))

    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    x0 = x.copy()
    result = gb.check(f, x=x, w=w)
    assert result.passed and result["x"].error < 1e-7 and result["w"].error < 1e-7
    assert np.array_equal(x, x0)  # the caller's array is left as it was


_RELU_RNG = np.random.default_rng(0)
_RELU_X = _RELU_RNG.standard_normal(6)
_RELU_W = _RELU_RNG.standard_normal((5, 6)) * 0.2  # pre-activations near 0


def _relu_net(W, factor=2.0):
    x = _RELU_X
    h = W @ x
    h[h <= 0] = 0  # the code branches on values: a fresh draw near these W flips some of the mask
    dh = factor * h
    dh[h <= 0] = 0
    return np.sum(h ** 2), np.outer(dh, x)


def test_a_backward_that_branches_on_values_is_judged_where_the_graph_still_is_the_function():
    W, x = _RELU_W, _RELU_X
    g = gb.trace(_relu_net, W=W, output=0)
    from graphviz_bp.claims import Draws

    draws = Draws(g._dag.formulas)
    flips = [int(np.sum((draws.inputs(d)["W"] @ x > 0) != (W @ x > 0))) for d in range(1, len(draws))]
    assert any(flips)  # so the replay, with the mask frozen, is another function at some draw
    verdict = gb.check_backward(_relu_net, W=W).verdicts[0]
    assert verdict.kind == "correct", verdict.message
    wrong = gb.check_backward(lambda W: _relu_net(W, factor=3.0), W=W).verdicts[0]
    assert wrong.kind == "factor" and wrong.factor == pytest.approx(1.5), wrong.message


def _saturated_bce(z):
    x = 1 / (1 + np.exp(-z))  # a saturated sigmoid: 1 − x + 1e-7 cancels, rounding swamps a 1e-6 step
    return -np.sum(np.log(1 - x + 1e-7)) * 3.0


def test_a_check_looks_past_rounding_in_finite_differences_but_still_finds_a_wrong_gradient():
    z = np.linspace(8.0, 12.0, 12)
    assert gb.check(_saturated_bce, z=z).passed  # failed at eps 1e-6 alone: the differences were noise
    g = gb.trace(_saturated_bce, z=z)
    right = g.grad("z")
    assert compare(_saturated_bce, {"z": z}, {"z": right}).passed
    assert not compare(_saturated_bce, {"z": z}, {"z": right * 1.001}).passed  # 0.1 % off: still caught
    assert not compare(_saturated_bce, {"z": z}, {"z": right + 1e-3 * right[::-1]}).passed


def _deep_sigmoids(b0, W):
    a = np.ones(6) + b0
    for _ in range(60):  # saturating layers: ∂L/∂b0 vanishes (about 1e-40) under a loss of about 8
        a = 1.0 / (1.0 + np.exp(-(W @ a)))
    return 40 * np.sum(a ** 2)


def test_a_vanished_gradient_passes_and_a_wrong_one_above_the_rounding_floor_still_fails():
    """Central differences at a loss of 8 cannot tell entries apart below |f|·ε/step (about 2e-8):
    a gradient of 1e-40 against a difference of 0 failed with relative error 1."""
    rng = np.random.default_rng(0)
    values = {"b0": rng.normal(size=6), "W": rng.normal(size=(6, 6)) / np.sqrt(6)}
    result = gb.check(_deep_sigmoids, **values)
    assert result.passed and result["b0"].analytic_norm < 1e-20
    right = gb.trace(_deep_sigmoids, **values).grad("b0")
    assert compare(_deep_sigmoids, values, {**{k: gb.trace(_deep_sigmoids, **values).grad(k) for k in values},
                                            "b0": right + 1e-6}).passed is False  # 50× the floor: caught


def _centred(x, b, y, scale):
    """Batch norm's centring after a bias: the bias cancels, its gradient is 0 up to rounding in
    messages of size ``scale``; returns the loss and the hand-written gradients."""
    z = x + b
    zc = z - z.mean(axis=0)
    loss = scale * np.sum(zc * y)
    dzc = scale * y
    dz = dzc - dzc.mean(axis=0)
    return loss, {"x": dz, "b": dzc.sum(axis=0) - len(y) * dzc.mean(axis=0)}  # rounded in its own order


def test_check_backward_judges_a_cancelled_gradient_at_the_rounding_of_its_paths_not_of_its_value():
    """cs231n's batch-norm net: a bias's gradient is exactly 0 (batch norm cancels it), the
    hand-written one is −1.9e-9 of rounding in messages of 1e5, and it was called wrong."""
    rng = np.random.default_rng(7)
    x, b, y = rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=(6, 3))
    scale = 1e8
    _, grads = _centred(x, b, y, scale)
    reference = gb.trace(lambda x, b: _centred(x, b, y, scale)[0], x=x, b=b).grad("b")
    assert 1e-12 < np.max(np.abs(grads["b"] - reference)) < 1e-5  # rounding, both of them
    result = gb.check_backward(lambda x, b: _centred(x, b, y, scale), x=x, b=b)
    assert result.ok, str(result)

    def forgets_the_mean(x, b):  # the path through the batch's mean left out: wrong by about 1e8
        loss, grads = _centred(x, b, y, scale)
        return loss, {**grads, "b": scale * y.sum(axis=0)}

    result = gb.check_backward(forgets_the_mean, x=x, b=b)
    assert not result.ok
    (verdict,) = [v for v in result.verdicts if v.name == "b"]
    assert "misses" in verdict.message, verdict.message

    def off_by_five_percent(x, b):  # a gradient of 1 under paths of 1e8 that cancel: 5 % off is still wrong
        loss, grads = _centred(x, b, y, scale)
        return loss + np.sum(b), {**grads, "b": grads["b"] + 1.05}

    c = 1e6 + 1e-6 * np.arange(4.0)  # a gradient of 1e-6 under paths of 1e6: 1e4 times its rounding

    def flipped(x):
        return np.sum(c * (x - np.mean(x))), -(c - np.mean(c))

    verdict = gb.check_backward(flipped, x=np.array([0.3, -1.2, 0.5, 2.0])).verdicts[0]
    assert verdict.kind == "sign", verdict.message
    result = gb.check_backward(off_by_five_percent, x=x, b=b)
    (verdict,) = [v for v in result.verdicts if v.name == "b"]
    assert not verdict.ok, verdict.message
    right = gb.check_backward(lambda x, b: (_centred(x, b, y, scale)[0] + np.sum(b),
                                            {**_centred(x, b, y, scale)[1], "b": _centred(x, b, y, scale)[1]["b"] + 1}),
                              x=x, b=b)
    assert right.ok, str(right)


def test_a_missing_path_in_a_deep_net_is_named_in_a_line_one_can_read():
    """The course's 12-layer net with the L2 term's gradient forgotten: each path was named by the
    whole forward formula of the layer it goes through, 1,283 characters a line."""
    rng = np.random.default_rng(4)
    depth = 30
    Ws = {f"W{k}": rng.normal(size=(3, 3)) / 2 for k in range(depth)}
    x = rng.normal(size=(3, 2))

    def fn(**W):
        hs = [x]
        for k in range(depth):
            hs.append(np.tanh(W[f"W{k}"] @ hs[-1]))
        cost = np.sum(hs[-1]) + 0.1 * sum(np.sum(W[f"W{k}"] ** 2) for k in range(depth))
        grads, d = {}, np.ones_like(hs[-1])
        for k in reversed(range(depth)):
            dz = d * (1 - hs[k + 1] ** 2)
            grads[f"W{k}"] = dz @ hs[k].T  # forgot + 0.2 * W
            d = W[f"W{k}"].T @ dz
        return cost, grads

    result = gb.check_backward(fn, **Ws)
    (last,) = [v for v in result.verdicts if v.name == f"W{depth - 1}"]
    assert "misses 1 of the 2 paths" in last.message, last.message
    assert max(len(line) for line in str(result).splitlines()) < 250, max(map(len, str(result).splitlines()))


def test_a_gradient_with_axes_of_length_one_dropped_gets_a_verdict_not_an_error():
    """The course's linear_backward squeezes db to shape () for a b of shape (1, 1): that aborted
    the whole check, so the wrong gradients beside it went unreported."""
    rng = np.random.default_rng(8)
    W, b, x = rng.normal(size=(1, 3)), rng.normal(size=(1, 1)), rng.normal(size=(3, 4))

    def fn(W, b):
        z = W @ x + b
        loss = np.sum(z ** 2)
        dz = 2 * z
        return loss, {"W": dz @ x.T * 1.5, "b": np.squeeze(np.sum(dz, axis=1, keepdims=True))}

    result = gb.check_backward(fn, W=W, b=b)
    verdicts = {v.name: v for v in result.verdicts}
    assert verdicts["b"].kind == "shape" and not verdicts["b"].ok
    assert "has shape () but ∂L/∂b has shape (1, 1)" in verdicts["b"].message
    assert "its entries are right" in verdicts["b"].message
    assert verdicts["W"].kind == "factor", verdicts["W"].message  # still reported: off by 1.5

    def wrong_b(W, b):
        loss, grads = fn(W, b)
        return loss, {**grads, "b": grads["b"] * 0.0 + 1.0}

    message = {v.name: v for v in gb.check_backward(wrong_b, W=W, b=b).verdicts}["b"].message
    assert "reshape it; as entries, wrong" in message, message
    with pytest.raises(gb.GradientMatchError, match="has shape"):  # other sizes are still refused
        gb.check_backward(lambda W, b: (np.sum(W @ x + b), {"W": np.ones(3), "b": np.ones(2)}), W=W, b=b)


def _float32_cache(W, x):
    cache = np.zeros((4, 3), dtype=np.float32)  # a KV cache made with dtype=np.float32
    h = x
    for t in range(4):
        cache[t] = np.tanh(W @ h)
        h = cache[t] + h
    return np.sum(cache ** 2)


def _float32_lstm(Wh, Wx):  # deep-learning-from-scratch-2's TimeLSTM: float32 buffers, a 20-step loop
    xs = np.random.default_rng(1).normal(size=(20, 6)).astype("f")
    h, c = np.zeros(6, dtype="f"), np.zeros(6, dtype="f")
    hs = np.empty((20, 6), dtype="f")
    for t in range(20):
        f, g, i, o = np.split(Wh @ h + Wx @ xs[t], 4)
        f, i, o = 1 / (1 + np.exp(-f)), 1 / (1 + np.exp(-i)), 1 / (1 + np.exp(-o))
        c = f * c + np.tanh(g) * i
        h = o * np.tanh(c)
        hs[t] = h
    return np.mean(np.log(1 + hs ** 2))


def test_a_float32_check_that_fails_at_float32s_settings_does_not_suggest_them_again():
    """Run with eps=5e-3, rtol=3e-3 as the hint says, a right gradient through 20 float32 steps
    failed, and the hint said to check with eps=0.005, rtol=0.003."""
    rng = np.random.default_rng(1)
    Wh, Wx = (rng.normal(size=(24, 6)) / np.sqrt(6)).astype("f"), (rng.normal(size=(24, 6)) / np.sqrt(6)).astype("f")
    r = gb.check(_float32_lstm, Wh=Wh, Wx=Wx, eps=5e-3, rtol=3e-3)
    assert not r.passed and r.precision == "float32"
    assert "eps=0.005, rtol=0.003" in r.hint and "already takes float32's step and tolerance" in r.hint
    assert "check the function in float64" in r.hint
    assert gb.check(_float32_lstm, Wh=Wh, Wx=Wx, eps=1e-2, rtol=3e-2).passed  # (the gradient is right)


def test_a_check_through_float32_values_says_what_a_float32_check_takes():
    """Central differences of step 1e-6 through a float32 cache disagreed with the (right) traced
    gradient by 1e-3 and the check failed, saying nothing of why. It still fails (its defaults are
    float64's: a float32 side value must not loosen the check of the rest), and says why and what
    to try; with that, the right gradient passes and one a percent off does not."""
    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(3, 3)), rng.normal(size=3)
    g = gb.trace(_float32_cache, W=W, x=x)
    assert precision(g) == "float32"
    r = gb.check(_float32_cache, W=W, x=x)
    assert not r.passed and r.precision == "float32" and (r.eps, r.rtol) == (1e-6, 1e-6)
    assert "float32 values" in r.hint and "eps=0.005, rtol=0.003" in r.hint and r.hint in repr(r)
    assert gb.check(_float32_cache, W=W, x=x, eps=5e-3, rtol=3e-3).passed
    grads = {k: n.adjoint for k, n in g.inputs.items()}
    wrong = dict(grads, W=grads["W"] * 1.01)  # one percent off
    assert not compare(_float32_cache, {"W": W, "x": x}, wrong, eps=5e-3, rtol=3e-3).passed

    def side(W, x):  # float64 but for a small float32 term: no looser check for the rest
        return np.sum(np.tanh(W @ x)) + 1e-4 * np.sum(W.astype(np.float32) ** 2)

    g = gb.trace(side, W=W, x=x)
    grads = {k: n.adjoint for k, n in g.inputs.items()}
    wrong = dict(grads, W=grads["W"] * 1.003)
    assert not compare(side, {"W": W, "x": x}, wrong, precision=precision(g)).passed
    r = gb.check(lambda W, x: np.sum(np.tanh(W @ x)), W=W, x=x)  # float64 throughout
    assert r.passed and r.precision == "float64" and r.hint == "" and repr(r) == "<CheckResult passed; rtol 1e-06>"


def _stable_sigmoid_sum(x):
    # EpyNN's sigmoid: both branches evaluated; the one not taken overflows (NumPy warns)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sum(np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x))))


def test_a_check_failed_by_a_gradient_that_is_not_finite_says_where_it_stopped_being_finite():
    """0 · inf in the branch np.where does not take made the gradient NaN at x = ±800, and the
    check said nothing of where: it names the op, its line and the input it sends NaN to."""
    x = np.array([-800.0, -1.0, 0.0, 1.0, 800.0])
    with np.errstate(over="ignore", invalid="ignore"):
        r = gb.check(_stable_sigmoid_sum, x=x)
        g = gb.trace(_stable_sigmoid_sum, x=x)
    assert not r.passed and np.isnan(g.grad("x")[[0, 4]]).all()
    (first,) = [n for n in g._dag.nodes if n.op is not None and n.name in r.hint.split(" from ")[1].split()[0:1]]
    assert first.adjoint is not None and np.isfinite(first.adjoint).all()
    assert any(e.message is not None and np.isnan(e.message).any() for e in first.in_edges)
    assert f"at line {first.source.lineno}" in r.hint and "0 · inf" in r.hint
    assert not_finite(gb.trace(lambda x: np.sum(np.tanh(x)), x=x)) == ""


def test_a_function_that_draws_new_random_numbers_each_call_fails_the_check_saying_so():
    """Central differences of a function drawing unseeded random numbers compare different draws:
    the check says so, and how to seed them, instead of reporting gradient errors."""
    def noisy(w):
        return np.sum(w * np.random.normal(size=w.shape))

    result = gb.check(noisy, w=np.ones(3))
    assert not result.passed and "when called again at the same inputs: it draws random numbers (np.random.* unseeded?)" in result.hint
    assert "FAILED" in repr(result)

    def seeded(w):
        return np.sum(w * np.random.default_rng(0).normal(size=w.shape))

    assert gb.check(seeded, w=np.ones(3)).passed


def _naive_softmax_nll(W, s):
    z = s @ W
    e = np.exp(z)  # overflows for z = 800
    p = e / np.sum(e)
    return -np.log(p[0])


def test_a_loss_that_is_not_finite_is_said_so_naming_where_it_stopped_being_finite():
    """It blamed the gradient of the last log, guessing 0 · inf in a branch np.where does not take."""
    with np.errstate(all="ignore"):
        result = gb.check(_naive_softmax_nll, W=np.array([[800.0, 0.0], [0.0, 1.0]]), s=np.ones(2))
    assert not result.passed
    assert result.hint.startswith("the loss is NaN: exp#") and "(e = np.exp(z)" in result.hint
    assert "is infinite from finite operands" in result.hint


def _where_then_divide(x):
    safe = np.where(x > 0, np.log(x), 0.0)  # log(0) is -inf in the branch where does not take
    d = x - x
    return np.sum(safe) + np.sum(d / d)  # 0 / 0: what makes the loss NaN


def test_a_loss_that_is_not_finite_is_traced_back_through_what_is_not_finite():
    with np.errstate(all="ignore"):
        result = gb.check(_where_then_divide, x=np.array([0.0, 1.0]))
        data = gb.check(lambda x: np.sum(x ** 2), x=np.array([np.nan, 1.0]))
    assert result.hint.startswith("the loss is NaN: divide#") and "(return np.sum(safe) + np.sum(d / d)" in result.hint
    assert data.hint == "the loss is NaN: input x holds NaN values"


def _orbit(p0, v0):
    """Verlet steps of an orbit around Mars (positions about 5e6 m), as cam-ia-mars-lander takes them."""
    gm, target = 6.673e-11 * 6.42e23, np.array([1.2e5, 4.99e6, 0.0])
    prev, pos = p0, p0 + v0
    for _ in range(40):
        a = -gm * pos / np.sqrt(np.sum(pos ** 2)) ** 3
        prev, pos = pos, 2 * pos - prev + a
    return np.sum((pos - target) ** 2) * 1e-6


def test_a_right_gradient_of_large_inputs_passes_with_steps_their_size():
    """A step of 1e-6 on 5e6 is rounded to the entry's last digits: the orbit's right gradient
    FAILED with relative errors of 4e-5 and 4e-6 and no hint."""
    inputs = {"p0": np.array([1000.0, 5.0e6, 0.0]), "v0": np.array([3200.0, 0.0, 0.0])}
    r = gb.check(_orbit, **inputs)
    assert r.passed, r
    assert r["p0"].error < 1e-6 and r["v0"].error < 1e-6
    # a wrong gradient still fails: the gradient of the same orbit, half of it
    g = gb.trace(_orbit, **inputs)
    wrong = compare(_orbit, inputs, {"p0": g.grad("p0"), "v0": g.grad("v0") * 0.5})
    assert not wrong.passed and not wrong["v0"].passed and wrong["p0"].passed
    assert wrong.hint == ""  # the differences agree among themselves: the gradient is wrong, not the step


def test_a_check_whose_differences_disagree_among_themselves_says_to_take_a_larger_step():
    """Values of 1e10 squared: no step up to 1000·eps sees past their rounding, and the check says
    so (it gave no hint)."""
    big = np.array([1e10, -2e10])
    r = gb.check(lambda v: np.sum((big + v) ** 2) - np.sum(big ** 2), v=np.array([0.5, 0.25]))
    assert not r.passed
    assert "disagree among themselves" in r.hint and "eps=0.001" in r.hint, r.hint
    assert r["v"].noise > 1e-6


_LOWER = np.tril(np.ones((3, 3), dtype=bool))
_COST = np.arange(9.0).reshape(3, 3)


def _causal_softmax(s):
    """A causal mask before a softmax, -inf by design (at any inputs), and its gradient by hand."""
    z = np.where(_LOWER, s, -np.inf)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return np.sum(p * _COST), p * (_COST - np.sum(_COST * p, axis=-1, keepdims=True))


def _at_the_edge(x):
    """log(x − 1) a millionth above 1: inputs near it fall below 1, where the log is NaN."""
    return np.sum(np.log(x - 1.0)), 1.0 / (x - 1.0)


def test_a_value_infinite_by_design_keeps_the_checks_at_fresh_inputs():
    """A causal mask's −inf made every fresh draw fail, silently: the check and the formulas said
    "at the traced inputs" (or claimed fresh ones in the tooltip) with no reason."""
    s = np.random.default_rng(0).normal(size=(3, 3))
    r = gb.check_backward(_causal_softmax, s=s)
    assert r.ok and r["s"].message.endswith("at the traced inputs and at 2 fresh ones"), r["s"].message
    g = gb.trace(lambda s: _causal_softmax(s)[0], s=s)
    assert g.formula("s").verified and g.formula("s").fresh
    wrong = gb.check_backward(lambda s: (_causal_softmax(s)[0], _causal_softmax(s)[1] * 1.01), s=s)
    assert not wrong.ok


def test_a_check_that_could_not_run_at_fresh_inputs_says_so():
    x = np.full(8, 1.0 + 1e-6)
    r = gb.check_backward(_at_the_edge, x=x)
    said = "(not at 2 fresh inputs near them: the graph could not be run there, a value turned infinite or NaN"
    assert r.ok and said in r["x"].message, r["x"].message
    g = gb.trace(lambda x: _at_the_edge(x)[0], x=x)
    assert g.formula("x").verified and not g.formula("x").fresh
    assert said in g.check_claim("x", "1/(x - 1)").message
    tips = [str(e.tooltip) for e in g.draw(detail="formulas").scene().edges if e.tooltip is not None]
    assert any("verified: equal to the message at the traced inputs (the graph could not be run at fresh ones"
               in t for t in tips)
    assert not any("and at fresh ones" in t for t in tips)


@pytest.mark.parametrize("offset", [1e3, 1e5, 1e6, 5e6])
def test_a_large_input_with_curvature_at_its_own_scale_passes_and_a_wrong_gradient_gets_no_rounding_hint(offset):
    """Steps of eps·|x| (0.1 to 5 here) met sin's curvature: right gradients failed; and a
    gradient 10 % off was told that rounding swamped the step."""
    f = lambda p: np.sum(np.sin(p - offset))  # noqa: E731
    p = offset + np.array([0.3, 1.1, -0.7])
    assert gb.check(f, p=p).passed
    wrong = compare(f, {"p": p}, {"p": 0.9 * np.cos(p - offset)})
    assert not wrong.passed and wrong.hint == "" and wrong["p"].error > 0.03


_NO_KEYS = np.array([[False, False, False], [True, False, False], [True, True, False]])  # row 0: none


def _masked_rows(bad):
    def f(s):
        z = np.where(_NO_KEYS, s, -np.inf)
        e = np.exp(z - np.max(z, axis=-1, keepdims=True))  # row 0: -inf - -inf, NaN
        p = e / np.sum(e, axis=-1, keepdims=True)
        q = np.where(np.isnan(p), 0.0, p)
        g = np.where(_NO_KEYS, q * (_COST - np.sum(_COST * q, axis=-1, keepdims=True)), 0.0)
        g[0] = bad
        return np.sum(q * _COST), g
    return f


def test_a_traced_gradient_nan_in_a_masked_row_is_named_where_it_is_and_matches_nan():
    """NaN in the traced gradient made every tolerance NaN: a check said "wrong at s[2, 1]: gives
    0.242204094226039 but ∂L/∂s is 0.24220409422604", the same number."""
    s = np.random.default_rng(0).normal(size=(3, 3))
    with np.errstate(invalid="ignore"):
        g = gb.trace(lambda s: _masked_rows(0.0)(s)[0], s=s)
    assert np.isnan(g.grad("s")[0]).all() and np.isfinite(g.grad("s")[1:]).all()
    for bad in (0.0, 5.0):
        with np.errstate(invalid="ignore"):
            r = gb.check_backward(_masked_rows(bad), s=s)
        message = r["s"].message
        assert not r.ok and message.startswith(f"wrong: at s[0, 0] the hand-written gradient gives {bad:g} but "
                                               "∂L/∂s is nan (the traced gradient is NaN there"), message
    with np.errstate(invalid="ignore"):
        r = gb.check_backward(_masked_rows(np.nan), s=s)  # NaN where the graph's is: they agree
    assert r.ok, r["s"].message


def _doubling(steps):
    def f(x):
        h = x
        for _ in range(steps):
            h = (h + h) * 0.5  # two edges from h: the paths double each step
        return np.sum(h ** 2), 2 * x + np.array([0.0, 1.0])  # wrong in its second entry
    return f


def test_a_wrong_gradient_reached_by_astronomically_many_paths_gets_its_verdict_with_the_count_in_powers_of_ten():
    """The count was printed whole (a 121-digit number), and past 10^4300 paths Python refused to
    print it: no verdict at all, a ValueError."""
    for steps, said in ((400, "about 10^120 paths"), (14500, "about 10^4365 paths")):
        r = gb.check_backward(_doubling(steps), x=np.array([1.0, 2.0]))
        assert not r.ok and r["x"].message.startswith("wrong: at x[1] the hand-written gradient gives 5 but "
                                                      "∂L/∂x is 4")
        assert f"(x reaches the loss by {said}, too many to look for a missing one)" in r["x"].message


@pytest.mark.parametrize("f, grad, x", [
    (lambda x: np.sum(x ** 2) / 2, lambda x: x, np.array([1e9, -2e9, 3e9])),
    (lambda x: np.sum(np.abs(x)), np.sign, np.array([1e9, -2e9, 3e9])),
    (lambda x: np.sum(np.log(x)), lambda x: 1 / x, np.array([7e6, 6.9e6])),
    (lambda x: -np.sum(4.3e13 / x), lambda x: 4.3e13 / x ** 2, np.array([7e6, 6.9e6])),  # an orbit's potential
])
def test_a_wrong_gradient_of_large_inputs_fails_and_the_right_one_passes(f, grad, x):
    """Wrong gradients passed: sign-flipped at x ≈ 1e9, 1 % off in an orbit's potential. The loss's
    rounding at a step of 1e-6 (its 'vanished gradient' floor) covered gradients that steps of the
    entries' own size tell exactly, and noisy estimates' spread covered any gradient."""
    assert compare(f, {"x": x}, {"x": grad(x)}).passed
    for wrong in (-1.0, 0.0, 0.5, 0.99):
        r = compare(f, {"x": x}, {"x": wrong * grad(x)})
        assert not r.passed, wrong
        assert r.hint == "", r.hint  # steps of the entry's size told: the gradient is off, not the step


def _sqrt_below_zero(x):
    return np.sum(np.sqrt(x) * 3), np.sqrt(x) * 123.0  # NaN loss, NaN gradient, a wrong formula


def test_a_gradient_nan_at_every_entry_judges_no_claim_correct():
    """NaN agreed with NaN: any claim that made NaN there was 'correct' (123·sqrt(x), log(x) − 7)."""
    x = np.array([-1.0, -2.0])
    with np.errstate(invalid="ignore"):
        r = gb.check_backward(_sqrt_below_zero, x=x)
        g = gb.trace(lambda x: _sqrt_below_zero(x)[0], x=x)
        claims = [g.check_claim("x", c) for c in ("123 * sqrt(x)", "log(x) - 7")]
    assert not r.ok and r["x"].message == ("not judged: ∂L/∂x is nan at every entry, so the hand-written "
                                           "gradient cannot be compared with it")
    assert all(not c.ok and c.message.startswith("not judged: ∂L/∂x is nan at every entry") for c in claims)


def test_entries_past_2_to_the_34_are_stepped_not_divided_by_zero():
    """x ± 1e-6 rounds back to x past 2^34: ZeroDivisionError."""
    for x in (np.array([1.8e10, 2.0]), np.array([3e15, 2.0])):
        assert gb.check(lambda x: np.sum(np.log(x)), x=x).passed


def test_entries_smaller_than_the_step_are_stepped_by_their_size():
    """sqrt at 1e-5 and 3e-6: steps of 1e-6 meet its curvature, larger ones leave its domain."""
    f = lambda x: np.sum(np.sqrt(x))  # noqa: E731
    x = np.array([1e-5, 3e-6])
    assert gb.check(f, x=x).passed
    assert not compare(f, {"x": x}, {"x": 0.49 / np.sqrt(x)}).passed


def test_a_small_entry_wrong_beside_a_large_one_fails():
    """The norm's relative error hid x₁'s flipped sign beside 1e7 in x₀'s."""
    f = lambda x: 1e7 * x[0] + 0.5 * x[1] ** 2  # noqa: E731
    x = np.array([0.3, 0.7])
    assert compare(f, {"x": x}, {"x": np.array([1e7, 0.7])}).passed
    assert not compare(f, {"x": x}, {"x": np.array([1e7, -0.7])}).passed


def test_under_a_loss_too_large_for_the_step_a_larger_step_tells_the_gradients_apart():
    """Least squares near its optimum, a loss of 2e8 and gradients of 0.02 to 0.1: they were all
    "vanished" below the loss's rounding at 1e-6, and a sign-flipped, a zero, a 3× gradient passed."""
    rng = np.random.default_rng(1)
    A, z = rng.normal(size=(200, 5)), rng.normal(size=200)
    r = z - A @ np.linalg.lstsq(A, z, rcond=None)[0]
    b = A @ np.full(5, 0.1) + 1e3 * r
    f = lambda w: np.sum((A @ w - b) ** 2)  # noqa: E731
    w = np.full(5, 0.1) + 2e-4 * rng.normal(size=5)
    g = 2 * A.T @ (A @ w - b)
    for wrong in (-g, 0 * g, 3 * g):
        assert not compare(f, {"w": w}, {"w": wrong}).passed
    assert compare(f, {"w": w}, {"w": g}).passed  # told by a step of 1e-3, within what it can tell


def _tiny_entry_beside_curvature(x):
    # ∂/∂x₀ = 6e-8 + 0.005 (x₀ − 0.5)²: 6e-8 at x₀ = 0.5, where the third derivative is 0.01
    return 0.6 + 6e-8 * x[0] + (0.01 / 6) * (x[0] - 0.5) ** 3 + x[1]


def _a_floor_nearby(x):
    # slope 1 between the jumps of the floor; the nearest is 5e-4 away from x = 0.5005
    return 1e6 + x[0] + 1e-3 * np.floor(1000 * x[0])


@pytest.mark.parametrize("f,x,wrong", [
    (_tiny_entry_beside_curvature, np.array([0.5, 0.3]), np.array([6.2e-8, 1.0])),
    (_a_floor_nearby, np.array([0.5005]), np.array([1.001])),
])
def test_a_right_gradient_passes_when_the_largest_retried_step_meets_curvature_or_a_kink(f, x, wrong):
    """A tiny entry beside curvature (ML-From-Scratch's MLP, W3[2, 1] = −6.13e-8), or a floor within
    the largest step the retry takes (autograd's fluidsim, advect's np.floor): the steps below it
    agree with the gradient, but every series retried ended with that step, and failing all, its
    estimate (2.0 against a slope of 1) stood for the entry. A gradient off by a few percent, or by
    a thousandth of the slope, still fails."""
    result = gb.check(f, x=x)
    assert result.passed, result["x"]
    assert not compare(f, {"x": x}, {"x": wrong}).passed
