"""Checking a claimed gradient: each verdict on the autoencoder (two paths to W), the GP-LVM (four
paths to X) and a claim in terms of a named intermediate. The claims are written here from the
textbook answers, independently of graphviz_bp's formulas."""

from __future__ import annotations

import numpy as np
import pytest

import graphviz_bp as gb

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
