"""Checking a claimed gradient: each verdict on the autoencoder (two paths to W), the GP-LVM (four
paths to X) and a claim in terms of a named intermediate. The claims are written here from the
textbook answers, independently of graphviz_bp's formulas. Then gb.check_backward on course code
that returns its own gradients (tests/handwritten.py): the same verdicts, how returned gradients
are matched to inputs, and the errors when they cannot be."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphviz_bp as gb

from . import handwritten as hw
from .numerics import numerical_grads

RNG = np.random.default_rng(11)
W0, X0 = RNG.normal(size=(2, 3)), RNG.normal(size=3)


def autoencoder(W, x):
    r = W.T @ (W @ x) - x
    return 0.5 * np.sum(r ** 2)


RIGHT = "W @ outer(W.T @ W @ x - x, x) + outer(W @ x, W.T @ W @ x - x)"


@pytest.fixture(scope="module")
def g():
    return gb.trace(autoencoder, W=W0, x=X0)


def test_the_right_answer_in_the_inputs_or_with_a_named_intermediate_is_correct(g):
    for claim in (RIGHT, "W @ outer(r, x) + outer(W @ x, r)"):
        verdict = g.check_claim("W", claim)
        assert verdict.ok and verdict.kind == "correct", verdict.message
    assert g.check_claim("x", "W.T @ W @ r - r").ok


@pytest.mark.parametrize("claim, missing, adds", [
    ("W @ outer(r, x)", "the path through Wᵀ", "(Wx) rᵀ"),
    ("outer(W @ x, r)", "the path through Wx", "(Wr) xᵀ"),
])
def test_a_claim_with_one_path_names_the_path_it_misses_and_what_it_adds(g, claim, missing, adds):
    verdict = g.check_claim("W", claim)
    assert verdict.kind == "missing paths" and not verdict.ok
    assert verdict.missing == ((missing, adds),)
    assert f"misses 1 of the 2 paths to W: {missing}, which adds {adds}" in verdict.message


@pytest.mark.parametrize("claim, kind, words", [
    (f"-({RIGHT})", "sign", "wrong sign"),
    (f"2 * ({RIGHT})", "factor", "2 times"),
    (f"({RIGHT}).T", "transposed", "transpose of ∂L/∂W"),
    ("outer(r, x)", "shape", "shape (3, 3) but ∂L/∂W has shape (2, 3)"),
    (f"{RIGHT} + 0.001", "wrong", "the claim gives"),
])
def test_each_kind_of_mistake_is_named(g, claim, kind, words):
    verdict = g.check_claim("W", claim)
    assert verdict.kind == kind and not verdict.ok, verdict.message
    assert words in verdict.message
    if kind == "factor":
        assert verdict.factor == pytest.approx(2.0)
    if kind == "wrong":
        index, claimed, true = verdict.worst
        assert claimed - true == pytest.approx(0.001)


def test_a_square_transposed_claim_is_called_transposed_not_wrong():
    def f(A, v):
        return np.sum((A @ v) ** 2)

    A, v = RNG.normal(size=(3, 3)), RNG.normal(size=3)
    g = gb.trace(f, A=A, v=v)
    assert g.check_claim("A", "2 * outer(A @ v, v)").ok
    assert g.check_claim("A", "2 * outer(v, A @ v)").kind == "transposed"


def gplvm(X, Y):
    K = X @ X.T + 0.1 * np.eye(X.shape[0])
    return 0.5 * np.linalg.slogdet(K)[1] + 0.5 * np.trace(np.linalg.solve(K, Y @ Y.T))


def test_the_gplvm_claim_of_one_use_of_x_misses_the_paths_through_xt():
    X, Y = RNG.normal(size=(4, 2)), RNG.normal(size=(4, 3))
    g = gb.trace(gplvm, X=X, Y=Y)
    Kbar = "(0.5 * inv(K) - 0.5 * inv(K) @ Y @ Y.T @ inv(K))"
    assert g.check_claim("X", f"2 * {Kbar} @ X").ok  # K̄ is symmetric: K̄X + K̄ᵀX = 2K̄X
    verdict = g.check_claim("X", f"{Kbar} @ X")  # the student forgot Xᵀ
    assert verdict.kind == "missing paths" and len(verdict.missing) == 2, verdict.message
    assert "another choice of paths" in verdict.message  # K̄ is symmetric: either pair of uses sums to K̄X
    # the four paths start through Xᵀ or XXᵀ and part at K: each is named by both
    assert sorted(g.derivation("X").through) == ["XXᵀ, then K⁻¹ YYᵀ", "XXᵀ, then log|det K|",
                                                 "Xᵀ, then K⁻¹ YYᵀ", "Xᵀ, then log|det K|"]
    assert {d for d, _ in verdict.missing} in ({"the path through Xᵀ, then log|det K|",
                                                "the path through Xᵀ, then K⁻¹ YYᵀ"},
                                               {"the path through XXᵀ, then log|det K|",
                                                "the path through XXᵀ, then K⁻¹ YYᵀ"})


def test_the_cli_checks_each_claim_and_exits_1_unless_all_hold():
    from click.testing import CliRunner

    from graphviz_bp.cli import main

    expr = "0.5*sum((W.T@W@x - x)**2)"
    run = lambda *claims: CliRunner().invoke(main, ["check", expr, "-i", "W=2x3", "-i", "x=3",  # noqa: E731
                                                    *[a for c in claims for a in ("--claim", c)]])
    r = run("W=W@outer(W.T@W@x - x, x) + outer(W@x, W.T@W@x - x)")
    assert r.exit_code == 0, r.output
    assert "claim ∂L/∂W = W@outer(W.T@W@x - x, x) + outer(W@x, W.T@W@x - x): correct" in r.output
    r = run("W=W@outer(W.T@W@x - x, x)", "x=W.T@W@(W.T@W@x - x) - (W.T@W@x - x)")
    assert r.exit_code == 1
    assert "misses 1 of the 2 paths to W: the path through Wᵀ, which adds" in r.output
    assert "claim ∂L/∂x = W.T@W@(W.T@W@x - x) - (W.T@W@x - x): correct" in r.output
    for bad, words in (("W", "is not NAME=EXPR"), ("y=2*x", "'y' is not an input or a named value"),
                       ("W=2*y", "no value for y"), ("W=2*(W", "syntax error")):
        r = run(bad)
        assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output, r.output


# --- hand-written gradients: gb.check_backward ------------------------------------------------------
# The functions (tests/handwritten.py) are course code returning (loss, gradients); the correct ones
# are first checked against central differences, so a "correct" verdict is not taken on trust.

A0, V0 = RNG.normal(size=(2, 3)), RNG.normal(size=3)
N_, D_, H_, C_ = 5, 4, 6, 3
NET = {"W1": RNG.normal(size=(D_, H_)), "b1": RNG.normal(size=H_), "W2": RNG.normal(size=(H_, C_)),
       "b2": RNG.normal(size=C_), "X": RNG.normal(size=(N_, D_)), "y": np.array([0, 2, 1, 1, 0])}
SOFTMAX = {"W": RNG.normal(size=(D_, C_)), "X": NET["X"], "y": NET["y"]}


def _fd_partial(fn, inputs, names):
    """Central differences of fn's loss for each of ``names``, the other inputs held."""
    out = {}
    for k in names:
        out[k] = numerical_grads(lambda **a: float(fn(**{**inputs, **a})[0]), {k: inputs[k]})[k]
    return out


@pytest.mark.parametrize("fn, inputs, grads, returned", [
    (hw.softmax_loss, SOFTMAX, "W", {"W": lambda r: r[1]}),
    (hw.two_layer_net, NET, None, {k: (lambda r, k=k: r[1][k]) for k in ("W2", "b2", "W1", "b1")}),  # as returned
    (hw.autoencoder, {"W": A0, "x": V0}, None, {"W": lambda r: r[1], "x": lambda r: r[2]}),
    (hw.sum_of_squares, {"w": V0}, None, {"w": lambda r: r[1]}),
], ids=["softmax", "two-layer-dict", "autoencoder-tuple", "one-input"])
def test_correct_hand_written_gradients_are_called_correct(fn, inputs, grads, returned):
    fd = _fd_partial(fn, inputs, list(returned))
    got = fn(**inputs)
    for name, pick in returned.items():  # the hand-written gradients are right: central differences
        np.testing.assert_allclose(pick(got), fd[name], rtol=1e-6, atol=1e-8, err_msg=name)
    result = gb.check_backward(fn, inputs, grads=grads)
    assert result.ok and [v.name for v in result.verdicts] == list(returned), str(result)
    for v in result.verdicts:
        assert v.kind == "correct" and "at the traced inputs and at 2 fresh ones" in v.message


def test_the_autoencoder_gradient_with_one_term_misses_the_path_through_wt():
    result = gb.check_backward(hw.autoencoder_one_term, W=A0, x=V0)
    assert not result.ok
    w = result["W"]
    assert w.kind == "missing paths" and w.claim == "returned[1]"
    assert w.missing == (("the path through Wᵀ", "(Wx) rᵀ"),)
    assert w.message == ("the hand-written gradient has the path through Wx but misses 1 of the 2 paths to W: "
                         "the path through Wᵀ, which adds (Wx) rᵀ")
    assert result["x"].ok and result["x"].claim == "returned[2]"
    assert str(result).splitlines() == [f"∂L/∂W (returned[1]): {w.message}",
                                        f"∂L/∂x (returned[2]): {result['x'].message}"]
    assert repr(result) == "<BackwardCheck WRONG: W>"
    with pytest.raises(KeyError, match="no gradient was returned for 'b'"):
        result["b"]


def test_a_softmax_gradient_without_its_regulariser_misses_both_uses_of_w():
    result = gb.check_backward(hw.softmax_loss_no_reg_grad, SOFTMAX, grads="W")
    v = result["W"]
    assert v.kind == "missing paths", v.message
    # ½·reg·Σ W⊙W with reg = 0.1: each use of W adds 0.05W
    assert v.missing == (("the path through W ⊙ W (first operand)", "0.05W"),
                         ("the path through W ⊙ W (second operand)", "0.05W"))
    assert "has 4 of the 6 paths to W but misses 2" in v.message


def test_each_kind_of_bug_in_a_gradients_dict_is_named():
    result = gb.check_backward(hw.two_layer_net_bugs, NET)
    kinds = {v.name: v.kind for v in result.verdicts}
    assert kinds == {"W2": "factor", "b2": "sign", "W1": "transposed", "b1": "correct"}
    assert result["W2"].factor == pytest.approx(2.0)
    assert result["W2"].claim == "returned[1]['W2']"
    assert "shape (6, 4), the gradient (4, 6); transpose it" in result["W1"].message


def test_a_wrong_entry_is_named_with_both_values():
    E = np.zeros((2, 3))
    E[1, 2] = 0.01

    def f(A, v):
        return np.sum((A @ v) ** 2), 2 * np.outer(A @ v, v) + E

    v = gb.check_backward(f, A=A0, v=V0, grads="A")["A"]
    assert v.kind == "wrong"
    index, claimed, true = v.worst
    assert index == (1, 2) and claimed - true == pytest.approx(0.01)
    assert true == pytest.approx(2 * (A0 @ V0)[1] * V0[2])  # the closed form 2(Av)vᵀ
    assert v.message.startswith("wrong: at A[1, 2] the hand-written gradient gives")


@pytest.mark.parametrize("scale", [1.0, 1e-8, 1e-13, 1e-17])
def test_a_vanishing_gradient_is_judged_at_its_own_scale(scale):
    """A gradient that vanishes through a deep net (1e-17 in a 42-layer sigmoid autoencoder's first
    layers) is checked as any other: a claim 6 times too large, or 0, was called correct below 1e-9."""
    def right(A, v):
        return scale * np.sum((A @ v) ** 2), scale * 2 * np.outer(A @ v, v)

    def six(A, v):
        return scale * np.sum((A @ v) ** 2), scale * 12 * np.outer(A @ v, v)

    def zero(A, v):
        return scale * np.sum((A @ v) ** 2), 0 * A

    def entry(A, v):  # one entry off by a millionth of the gradient's largest
        E = np.zeros_like(A)
        E[1, 2] = 1e-6 * scale * np.max(np.abs(2 * np.outer(A @ v, v)))
        return scale * np.sum((A @ v) ** 2), scale * 2 * np.outer(A @ v, v) + E

    assert gb.check_backward(right, A=A0, v=V0, grads="A")["A"].kind == "correct"
    verdict = gb.check_backward(six, A=A0, v=V0, grads="A")["A"]
    assert verdict.kind == "factor" and verdict.factor == pytest.approx(6.0)
    assert gb.check_backward(zero, A=A0, v=V0, grads="A")["A"].kind == "wrong"
    verdict = gb.check_backward(entry, A=A0, v=V0, grads="A")["A"]
    assert verdict.kind == "wrong" and verdict.worst[0] == (1, 2)


def _float32_bptt(W, U, X, scale=1.0):
    """A float32 RNN (as course code is: astype('f')) and its hand-written backward through time;
    ``scale`` multiplies ∂L/∂U (1: right)."""
    h = np.zeros((X.shape[1], W.shape[0]), dtype=np.float32)
    hs = []
    for t in range(len(X)):
        h = np.tanh(h @ W + X[t] @ U)
        hs.append(h)
    dW, dU, dh = np.zeros_like(W), np.zeros_like(U), 2 * h
    for t in reversed(range(len(X))):
        da = dh * (1 - hs[t] ** 2)
        dW += (hs[t - 1] if t else np.zeros_like(h)).T @ da
        dU += X[t].T @ da
        dh = da @ W.T
    return np.sum(h ** 2), dW, dU * np.float32(scale)


def test_a_float32_gradient_is_judged_at_float32_rounding():
    """A right float32 BPTT gradient was called wrong ("gives 1.13256 but ∂L/∂U is 1.13256"): it is
    compared at float32's rounding. A factor or a wrong entry is still found, and a wrong entry's
    numbers are written with the digits that tell them apart."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4, 6)).astype(np.float32)
    W, U = [(rng.normal(size=(6, 6)) * 0.4).astype(np.float32) for _ in range(2)]
    right = gb.check_backward(lambda W, U: _float32_bptt(W, U, X), W=W, U=U)
    assert [v.kind for v in right.verdicts] == ["correct", "correct"], [v.message for v in right.verdicts]
    off = gb.check_backward(lambda W, U: _float32_bptt(W, U, X, 1.001), W=W, U=U)["U"]  # 0.1 % off
    assert off.kind == "factor" and off.factor == pytest.approx(1.001, rel=1e-4)

    def entry(W, U):
        loss, dW, dU = _float32_bptt(W, U, X)
        dU[0, 3] *= np.float32(1.002)
        return loss, dW, dU

    verdict = gb.check_backward(entry, W=W, U=U)["U"]
    assert verdict.kind == "wrong" and verdict.worst[0] == (0, 3) and "compared as float32" in verdict.message
    mine, true = re.search(r"gives (\S+) but ∂L/∂U is (\S+) ", verdict.message).groups()
    assert mine != true and float(mine) == pytest.approx(verdict.worst[1], rel=1e-5)
    # the same code in float64 is judged at float64's rounding: 1e-5 off is wrong there
    W64, U64, X64 = W.astype(float), U.astype(float), X.astype(float)
    close = gb.check_backward(lambda W, U: _float32_bptt(W, U, X64, 1 + 1e-5), W=W64, U=U64)["U"]
    assert close.kind == "factor"


def test_float32_rounding_is_taken_from_what_the_gradient_goes_through_and_what_returned_it():
    """A float32 term on another input does not loosen W's check (a missing weight decay of 2e-6 was
    called correct); a float32 gradient returned for a float64 loss is compared at float32's
    rounding, also when it comes back reshaped."""
    rng = np.random.default_rng(1)
    W, x, v = rng.normal(size=(4, 5)), rng.normal(size=5), rng.normal(size=3)

    def decay_forgotten(W, x, v):
        z = W @ x
        L = np.sum(np.tanh(z)) + 2e-6 * np.sum(W ** 2) + np.sum(v.astype(np.float32) ** 2)
        return L, {"W": np.outer(1 - np.tanh(z) ** 2, x)}  # forgot the decay's 4e-6 W

    assert gb.check_backward(decay_forgotten, W=W, x=x, v=v, grads={"W": "W"})["W"].kind == "missing paths"

    A, y = rng.normal(size=(200, 300)), rng.normal(size=300)

    def float32_backward(A, y):
        dz = (1 - np.tanh(A @ y) ** 2).astype(np.float32)
        dy = A.astype(np.float32).T @ dz
        return np.sum(np.tanh(A @ y)), {"y": dy, "y_row": dy[None, :]}

    assert gb.check_backward(float32_backward, A=A, y=y, grads={"y": "y"})["y"].kind == "correct"
    row = gb.check_backward(float32_backward, A=A, y=y, grads={"y_row": "y"})["y"]
    assert row.kind == "shape" and "its entries are right" in row.message


def test_a_factor_near_1_is_written_apart_from_1_and_a_number_has_no_entry_named():
    """A hand-written gradient 1.000004 times the true one (a loss's epsilon left out) read "1 times";
    a wrong gradient of a number read "there the hand-written gradient gives …"."""
    def near(w):
        return np.sum(w ** 2), 1.000004 * 2 * w

    verdict = gb.check_backward(near, w=np.array([1.0, 2.0]))["w"]
    assert verdict.kind == "factor" and "is 1.000004 times ∂L/∂w" in verdict.message

    def number(b):
        return 3.0 * b ** 2, np.array(7.0)

    verdict = gb.check_backward(number, b=np.array(0.5))["b"]
    assert verdict.kind in ("wrong", "factor")
    verdict = gb.check_backward(lambda b: (np.sin(b), np.array(7.0)), b=np.array(0.5))["b"]
    assert verdict.message.startswith("wrong: the hand-written gradient gives 7 but ∂L/∂b is 0.877583")


def _relu_layer(W, x):
    h = W @ x
    h[h <= 0] = 0  # a mask from the values: at other inputs, other entries
    return np.sum(h ** 2), np.outer(2 * h, x)


def test_a_right_gradient_compared_at_the_traced_inputs_only_says_why():
    """At fresh inputs a mask differs from the trace's (here at any move: it compares with 0.5): those
    draws are left out, which the verdict says (it read only "correct … at the traced inputs")."""
    def f(W):
        return np.sum(np.where(W == 0.5, 2 * W, W) ** 2), np.where(W == 0.5, 8 * W, 2 * W)

    verdict = gb.check_backward(f, W=np.array([[0.5, -1.0], [2.0, 0.5]]))["W"]
    assert verdict.ok and "equals ∂L/∂W at the traced inputs (not at 2 fresh inputs" in verdict.message
    assert "took other branches there than the trace recorded" in verdict.message


def test_a_relu_nets_gradient_is_compared_at_fresh_inputs_drawn_near_enough_to_keep_its_masks():
    # drawn 30 % away every mask of a net moved (autograd's and ML-From-Scratch's ReLU nets were
    # judged at the traced inputs alone); nearer, the function is the graph again
    rng = np.random.default_rng(0)
    verdict = gb.check_backward(_relu_layer, W=rng.normal(size=(5, 3)), x=rng.normal(size=3), grads="W")["W"]
    assert verdict.ok and verdict.message.endswith("at the traced inputs and at 2 fresh ones"), verdict.message
    W0, X = rng.normal(size=(60, 20)), rng.normal(size=(20, 32))

    def net(W, X, frozen=None):  # 1,920 ReLUs, their masks computed from the values
        h = W @ X
        mask = h > 0
        a = h * mask
        return 0.5 * np.sum(a ** 2), ((a * mask) @ X.T if frozen is None else frozen)

    verdict = gb.check_backward(net, W=W0, X=X, grads="W")["W"]
    assert verdict.ok and "at the traced inputs and at" in verdict.message, verdict.message
    # a gradient right at the traced inputs alone (their numbers, returned for every W): wrong there
    frozen = net(W0, X)[1]
    verdict = gb.check_backward(lambda W, X: net(W, X, frozen), W=W0, X=X, grads="W")["W"]
    assert verdict.kind == "wrong" and "but not at fresh inputs near them" in verdict.message


def test_a_gradient_right_only_at_the_traced_inputs_is_wrong_at_fresh_ones():
    def f(v):  # the gradient of Σv² evaluated once, at V0, and returned for every v
        return np.sum(v ** 2), 2 * V0

    verdict = gb.check_backward(f, v=V0)["v"]
    assert verdict.kind == "wrong"
    assert "equals ∂L/∂v at the traced inputs but not at fresh inputs near them" in verdict.message


def test_beyond_the_path_limit_the_gradient_is_still_checked_without_naming_paths():
    def f(x):  # y is used twice per step: 2⁹ = 512 paths (past the limit of 256), and y = 2⁹x
        y = x
        for _ in range(9):
            y = 0.5 * y + 1.5 * y
        return np.sum(y), np.full(x.shape, 512.0)

    assert gb.check_backward(f, x=V0)["x"].ok

    def g(x):
        y = x
        for _ in range(9):
            y = 0.5 * y + 1.5 * y
        return np.sum(y), np.array([512.0, 512.0, 511.0])

    v = gb.check_backward(g, x=V0)["x"]
    assert v.kind == "wrong" and v.worst[0] == (2,)
    assert "x reaches the loss by 512 paths, too many to look for a missing one" in v.message


@pytest.mark.parametrize("how", ["tuple order", "grads order", "mapping", "dict under a key"])
def test_returned_gradients_are_matched_as_told(how):
    if how == "tuple order":
        fn, kw = hw.autoencoder, {}
    elif how == "grads order":
        fn, kw = (lambda W, x: (lambda l, dW, dx: (l, dx, dW))(*hw.autoencoder(W, x))), {"grads": ("x", "W")}
    elif how == "mapping":
        fn, kw = hw.autoencoder_named_grads, {"grads": {"dW": "W", "dx": "x"}}
    else:
        def fn(W, x):
            loss, dW, dx = hw.autoencoder(W, x)
            return {"loss": loss, "grads": {"W": dW, "x": dx}}
        kw = {"output": "loss"}
    result = gb.check_backward(fn, W=A0, x=V0, **kw)
    assert result.ok and sorted(v.name for v in result.verdicts) == ["W", "x"], str(result)
    if how == "dict under a key":
        assert result["W"].claim == "returned['grads']['W']"


def test_one_array_belongs_to_the_only_float_input():
    def f(w, k):  # k is an integer input: not differentiated
        return np.sum(w ** 2 * k), 2 * w * k

    assert gb.check_backward(f, w=V0, k=np.array([1, 2, 3]))["w"].ok
    assert gb.check_backward(hw.autoencoder_dx_only, W=A0, x=V0, grads="x")["x"].ok


@pytest.mark.parametrize("fn, kw, words", [
    (hw.autoencoder_dx_only, {}, "autoencoder_dx_only returned one gradient but has 2 float inputs (W, x); "
                                 "say which it is for with grads='W'"),
    (hw.autoencoder, {"grads": ("W",)}, "grads= names 1 input but autoencoder returned 2 gradients"),
    (hw.autoencoder_named_grads, {}, "autoencoder_named_grads returned a gradient keyed 'dW', which is not an "
                                     "input (its inputs: W, x); say which input each key is for with "
                                     "grads={'dW': 'W', ...}"),
    (hw.autoencoder, {"grads": ("W", "V")}, "grads= names 'V', which is not an input of autoencoder"),
    (hw.autoencoder, {"grads": ("W", "W")}, "two of the returned gradients are for 'W'"),
    (hw.autoencoder_named_grads, {"grads": ("dW", "dz")}, "returned no gradient keyed 'dz'"),
    (lambda W, x: (hw.autoencoder(W, x)[0], hw.autoencoder(W, x)[1][0], hw.autoencoder(W, x)[2]), {},
     "returned[1], the gradient for W, has shape (3,) but W has shape (2, 3)"),
    (lambda W, x: (hw.autoencoder(W, x)[0], None, hw.autoencoder(W, x)[2]), {},
     "returned[1], the gradient for W, is None"),
    (lambda W, x: (hw.autoencoder(W, x)[0], "dW", hw.autoencoder(W, x)[2]), {},
     "returned[1], the gradient for W, is a str, not an array of numbers"),
])
def test_gradients_that_cannot_be_matched_say_why_in_one_sentence(fn, kw, words):
    with pytest.raises(ValueError) as info:
        gb.check_backward(fn, W=A0, x=V0, **kw)
    assert isinstance(info.value, gb.GraphvizBPError)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_an_integer_input_has_no_gradient_to_check_and_random_gradients_are_refused():
    def f(w, k):
        return np.sum(w * k), {"w": k * np.ones(3), "k": w}

    with pytest.raises(ValueError, match="'k', an input with an integer or boolean dtype"):
        gb.check_backward(f, w=V0, k=np.array([1, 2, 3]))
    np.random.seed(0)
    with pytest.raises(ValueError, match=r"noisy_gradient's returned\[1\] changed when it was called again"):
        gb.check_backward(hw.noisy_gradient, w=V0)


def test_the_cli_checks_returned_gradients_with_backward():
    from click.testing import CliRunner

    from graphviz_bp.cli import main

    path = str(__import__("pathlib").Path(hw.__file__))
    run = lambda *a: CliRunner().invoke(main, ["check", *a])  # noqa: E731
    r = run(f"{path}:autoencoder_one_term", "-i", "W=2x3", "-i", "x=3", "--backward")
    assert r.exit_code == 1, r.output
    assert ("∂L/∂W (returned[1]): the hand-written gradient has the path through Wx but misses 1 of the 2 "
            "paths to W: the path through Wᵀ, which adds (Wx) rᵀ") in r.output
    assert "∂L/∂x (returned[2]): correct" in r.output
    r = run(f"{path}:autoencoder", "-i", "W=2x3", "-i", "x=3", "--loss", "0", "--backward")
    assert r.exit_code == 0 and r.output.count(": correct: the hand-written gradient") == 2, r.output
    r = run(f"{path}:autoencoder_dx_only", "-i", "W=2x3", "-i", "x=3", "--backward", "--grads", "x")
    assert r.exit_code == 0 and "∂L/∂x (returned[1]): correct" in r.output, r.output
    r = run(f"{path}:autoencoder_named_grads", "-i", "W=2x3", "-i", "x=3", "--backward", "--grads", "dW=W,dx=x")
    assert r.exit_code == 0 and "∂L/∂W (returned[1]['dW']): correct" in r.output, r.output
    for args, code, words in [
        (["autoencoder_dx_only"], 1, "say which it is for with --grads W"),
        (["autoencoder_named_grads"], 1, "say which input each key is for with --grads dW=W,..."),
        (["autoencoder", "--grads", "W"], 1, "--grads names 1 input but autoencoder returned 2 gradients"),
        (["autoencoder", "--grads", "V"], 2, "'V' is not an input (inputs: W, x)"),
        (["autoencoder", "--grads", "W,W"], 2, "names an input twice"),
        (["autoencoder", "--grads", "dW=W,x"], 2, "mixes NAME and KEY=NAME"),
        (["noisy_gradient"], 1, "does it draw random numbers?"),
    ]:
        func, *rest = args
        inputs = ["-i", "w=3"] if func == "noisy_gradient" else ["-i", "W=2x3", "-i", "x=3"]
        r = run(f"{path}:{func}", *inputs, "--backward", *rest)
        assert r.exit_code == code and words in r.stderr, (args, r.output, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.output + r.stderr
    r = run("sum(x*x)", "-i", "x=3", "--backward")
    assert r.exit_code == 2 and "give FILE.py:FUNC, not an expression" in r.stderr
    r = run(f"{path}:autoencoder", "-i", "W=2x3", "-i", "x=3", "--loss", "0", "--grads", "W")
    assert r.exit_code == 2 and "it needs --backward" in r.stderr


def test_a_path_is_named_by_a_bounded_formula_of_the_value_it_goes_through():
    """Each path is named by the value it first goes through, written as a formula; the formula of
    a value deep in a net where each layer reads its input twice doubles with each layer (a batch
    norm's x − mean(x)): check_backward on cs231n's 8-layer net took 222 s writing them out."""
    def f(x, W):
        h = x
        for _ in range(24):  # 2²⁴ copies of x in h's formula written out
            h = h - np.mean(h) * h
        return np.sum(W @ h)

    g = gb.trace(f, x=np.linspace(0.1, 0.2, 3), W=np.ones((2, 3)))
    d = g.derivation("W")
    assert len(d.formula.terms) == 1 and d.through and all(len(t) < 200 for t in d.through), d.through
    lengths = [len(definition) for _, definition in d.where]  # h's definition, when h is named
    assert all(n < 5000 for n in lengths), lengths  # (written out: some 10⁸ characters)
    assert "…" in "".join(d.through) + "".join(definition for _, definition in d.where)


def test_a_factor_that_holds_at_the_traced_inputs_only_is_said_so():
    """hipsternet's GRU: its hand-written ∂L/∂bh was exactly 20 times the gradient at every entry
    of the traced inputs, clipped at fresh ones; the verdict cited a traced entry 20 times off as
    plainly "wrong"."""
    from graphviz_bp.claims import Draw, diagnose

    g1, g2 = np.array([0.01, -0.02, 0.015]), np.array([0.04, -0.01, 0.02])
    verdict = diagnose("b", "db", [Draw(20 * g1, g1), Draw(np.clip(20 * g2, -0.5, 0.5), g2)], subject="db")
    assert verdict.kind == "wrong"
    assert verdict.message.startswith("wrong: db is 20 times ∂L/∂b at the traced inputs, but not at fresh inputs "
                                      "near them (at b[0] it gives 0.5 where ∂L/∂b is 0.04)"), verdict.message
    assert diagnose("b", "db", [Draw(20 * g1, g1), Draw(20 * g2, g2)]).kind == "factor"


def test_a_factor_at_the_traced_inputs_only_needs_entries_of_different_sizes_and_never_stops_the_check():
    """At x = ones every entry of the gradient is equal, and any claim of equal entries was "0.5
    times ∂L/∂x at the traced inputs"; a fresh draw within rounding of the factor raised
    StopIteration."""
    from graphviz_bp.claims import Draw, diagnose

    g = np.full(3, 2.0)
    verdict = diagnose("x", "c", [Draw(np.ones(3), g), Draw(np.array([1.0, 2.0, 3.0]), np.array([2.0, 1.0, 2.0]))])
    assert verdict.message == "wrong: at x[0] the claim gives 1 but ∂L/∂x is 2", verdict.message
    b = np.array([0.01, -0.02, 0.015])
    inf = np.array([np.inf, 0.5, 1.0])
    verdict = diagnose("b", "db", [Draw(20 * b, b), Draw(20 * inf, inf)], subject="db")
    assert verdict.kind == "factor" and "20 times" in verdict.message
    verdict = diagnose("b", "db", [Draw(20 * b, b), Draw(np.array([0.4, 0.3, 0.2]), np.array([0.02, 0.5, -0.3]))],
                       subject="db")  # (every entry off at the fresh inputs: no factor kept)
    assert verdict.message.startswith("wrong: at b"), verdict.message


def test_a_factor_within_rounding_of_1_is_no_factor():
    """A hand-written BCE gradient leaving out a loss's +1e-7 is 1 + 1e-7 … 1e-6 times the gradient,
    entry by entry: it read "off by a constant factor: 1.0000004 times"."""
    from graphviz_bp.claims import Draw, diagnose

    g = np.array([1.0, 2.0, 3.0, 4.0])
    claim = g * (1 + np.array([2e-7, 9e-7, 1.3e-6, 5e-7]))
    verdict = diagnose("x", "c", [Draw(claim, g)])
    assert verdict.kind == "wrong" and verdict.message.startswith("wrong: at x[2]"), verdict.message


def _rnn_without_recurrence(W, U):  # its hand-written BPTT never sends the gradient back through h
    xs, rs = np.random.default_rng(0).normal(size=(6, 2)), np.random.default_rng(1).normal(size=(6, 3))
    h = np.zeros(3)
    hs = [h]
    loss = 0.0
    for t in range(6):
        h = np.tanh(W @ h + U @ xs[t])
        hs.append(h)
        loss = loss + np.sum(h * rs[t])
    dW, dU = np.zeros_like(W), np.zeros_like(U)
    for t in reversed(range(6)):
        da = rs[t] * (1 - hs[t + 1] ** 2)  # no "+ W.T @ da_next"
        dW += np.outer(da, hs[t])
        dU += np.outer(da, xs[t])
    return loss, {"W": dW, "U": dU}


def test_missing_paths_past_the_sets_a_search_reaches_are_solved_for_or_said_not_found():
    """A BPTT without the recurrence lacks 10 of W's 21 paths: past the 4,096 sets tried it read
    "wrong" at an entry, saying nothing of the search; U's 21 paths, over 6 entries, cannot be told apart."""
    rng = np.random.default_rng(0)
    inputs = dict(W=0.8 * rng.normal(size=(3, 3)), U=rng.normal(size=(3, 2)))
    verdicts = gb.check_backward(_rnn_without_recurrence, inputs)
    w = verdicts["W"]
    assert w.kind == "missing paths" and "has 11 of the 21 paths to W but misses 10" in w.message, w.message
    assert len(w.missing) == 10 and w.message.count("which adds") == 3 and "and 7 more" in w.message
    g = gb.trace(_rnn_without_recurrence, inputs, output=0)
    paths = g.contributions("W")
    direct = [c.value for c in paths if sum(n.op is not None and n.op.name == "matmul" for n in c.nodes) == 1]
    assert len(paths) == 21 and len(direct) == 6  # (one per step; the rest go on through W @ h)
    np.testing.assert_allclose(np.sum(direct, axis=0), _rnn_without_recurrence(**inputs)[1]["W"], rtol=1e-12)
    assert "no set of missing paths among the 4,096 tried of U's 21 paths" in verdicts["U"].message


def _labels_by_list(S, y, S0=None):
    # the labels indexed through list(y): the gather's index holds the traced labels
    z = S - S.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.sum(np.log(p[range(len(y)), list(y)])) / len(y)
    dS = p.copy()
    dS[np.arange(len(y)), y] -= 1
    dS /= len(y)
    return loss, (dS if S0 is None else dS + 0.3 * (S - S0) ** 2)  # (the second: right at S0 alone)


def _padded_with_nan(x, x0=None):
    loss = np.nansum(np.pad(x, 1, constant_values=np.nan) ** 2)  # a parameter that is NaN
    return loss, (2 * x if x0 is None else 2 * x + 3 * (x - x0))


@pytest.mark.parametrize("f, inputs", [
    (_labels_by_list, {"S": np.random.default_rng(4).normal(size=(4, 3)), "y": np.array([0, 2, 1, 2])}),
    (_padded_with_nan, {"x": np.array([0.3, -0.7, 1.2, 0.4])}),
], ids=["labels-by-list", "nan-parameter"])
def test_a_function_traced_again_alike_is_compared_at_its_fresh_inputs(f, inputs):
    """Traced again at fresh inputs, a graph whose parameters hold a traced index or a NaN compared
    unequal to itself: every fresh draw was left out as "other branches", and a gradient right at
    the traced inputs alone passed."""
    first = next(iter(inputs))
    right = gb.check_backward(f, inputs, grads=first)[first]
    assert right.ok and right.message.endswith("at the traced inputs and at 2 fresh ones"), right.message
    at = inputs[first].copy()
    stale = gb.check_backward(lambda **kw: f(**kw, **{("S0" if first == "S" else "x0"): at}), inputs, grads=first)[first]
    assert stale.kind == "wrong" and "but not at fresh inputs near them" in stale.message


def test_a_mask_that_flips_within_rounding_of_the_loss_leaves_that_draw_out():
    """A ReLU whose input is 0 at the traced inputs changes sides at fresh ones, the loss (of 1e9)
    by less than its rounding: compared there, the right gradient (with the flipped mask) read
    "wrong". Traced again there, the function reads another mask: that draw is left out."""
    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(6, 4)), rng.normal(size=4)
    W[5] = 0.0

    def relu_net(W, x):
        h = W @ x
        mask = h > 0
        a = h * mask
        return 1e9 * np.sum(x ** 2) + np.sum(a ** 2), {"W": 2 * np.outer(a * mask, x)}

    verdict = gb.check_backward(relu_net, W=W, x=x, grads="W")["W"]
    assert verdict.ok and "took other branches there" in verdict.message, verdict.message
