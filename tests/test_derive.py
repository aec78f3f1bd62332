"""graphviz-bp derive: per input, the per-path terms (each marked verified, with its path), their sum
and the named intermediates, in Unicode (also into a pipe), LaTeX and Markdown; one-line errors."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import graphviz_bp as gb
from graphviz_bp.cli import main
from graphviz_bp.cli.derivations import as_text

from . import handwritten as hw

AE = "0.5*sum((W.T@W@x - x)**2)"
FILE = str(Path(hw.__file__))


def run(*args: str):
    return CliRunner().invoke(main, ["derive", *args])


def blocks(output: str) -> dict[str, list[str]]:
    """The printed text's lines, grouped under each ``∂L/∂NAME = ...`` line."""
    out: dict[str, list[str]] = {}
    name = None
    for line in output.splitlines():
        if line.startswith("∂L/∂"):
            name = line[4:].split(" = ")[0]
            out[name] = [line]
        elif line.startswith("  ") and name:
            out[name].append(line)
        else:
            name = None
    return out


def test_the_autoencoder_expression_has_two_verified_terms_per_input():
    r = run(AE, "-i", "W=3x5", "-i", "x=5")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"L = {AE}"
    b = blocks(r.output)
    assert list(b) == ["W", "x"]
    for name in b:
        terms = [line for line in b[name] if line.startswith("  ✓ ")]
        assert len(terms) == 2 and not any("✗" in line for line in b[name])
    # the terms of W, one per use of W, and the paths they take (Wᵀ, and W inside WᵀW)
    assert b["W"][0] == "∂L/∂W = W x (WᵀWx − x)ᵀ + W (WᵀWx − x) xᵀ"
    assert [line.split("   path through ")[1] for line in b["W"][1:]] == ["Wᵀ", "WᵀW"]
    assert lines[-1].startswith("✓ verified: the term equals its path's contribution")


def test_a_function_uses_its_named_intermediate_and_wrt_picks_inputs():
    r = run(f"{FILE}:autoencoder", "-i", "W=3x5", "-i", "x=5", "--loss", "0", "--wrt", "W")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == f"L = autoencoder(W, x) in {FILE}"
    assert blocks(r.output) == {"W": ["∂L/∂W = (Wx) rᵀ + (Wr) xᵀ",
                                      "  where r = WᵀWx − x",
                                      "  ✓ (Wx) rᵀ   path through Wᵀ",
                                      "  ✓ (Wr) xᵀ   path through Wx"]}


def test_wrt_takes_a_value_named_with_gb_name(tmp_path):
    (tmp_path / "net.py").write_text(
        "import numpy as np\nimport graphviz_bp as gb\n\n"
        "def loss(W, x):\n    h = gb.name(np.tanh(W @ x), 'h')\n    return np.sum(h * h)\n")
    r = run(f"{tmp_path / 'net.py'}:loss", "-i", "W=2x3", "-i", "x=3", "--wrt", "h", "--wrt", "x")
    assert r.exit_code == 0, r.output
    b = blocks(r.output)
    assert list(b) == ["h", "x"]
    assert b["h"][0] == "∂L/∂h = h + h"  # h * h: one term per operand
    assert b["h"][1] == "  where h = tanh(Wx)"
    assert [line.split("path through ")[1] for line in b["h"][2:]] == ["h ⊙ h (first operand)",
                                                                       "h ⊙ h (second operand)"]
    assert [line.split("path through ")[1] for line in b["x"][2:]] == ["Wx, then h ⊙ h (first operand)",
                                                                       "Wx, then h ⊙ h (second operand)"]


def test_the_terms_printed_are_the_terms_of_the_formula():
    """The CLI prints what g.formula says; each term there equals its path's numeric contribution
    (the closed forms (Wx)rᵀ and W r xᵀ, evaluated here with NumPy)."""
    import numpy as np

    rng = np.random.default_rng(0)  # the CLI's --seed 0 draws W, then x
    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    g = gb.trace(lambda W, x: hw.autoencoder(W, x)[0], W=W, x=x)
    r = W.T @ W @ x - x
    closed = {"(Wx) rᵀ": np.outer(W @ x, r), "(Wr) xᵀ": np.outer(W @ r, x)}
    d = g.derivation("W")
    for t, through in zip(d.formula.terms, d.through):
        contribution = [c.value for c in g.contributions("W") if c.path == t.path][0]
        np.testing.assert_allclose(closed[t.text], contribution, rtol=1e-10)
    printed = run(f"{FILE}:autoencoder", "-i", "W=3x5", "-i", "x=5", "--loss", "0", "--wrt", "W").output
    for t, through in zip(d.formula.terms, d.through):
        assert f"  ✓ {t.text}   path through {through}" in printed


def test_latex_is_an_align_block_with_a_brace_per_path():
    r = run(f"{FILE}:autoencoder", "-i", "W=3x5", "-i", "x=5", "--loss", "0", "--latex")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"% L = autoencoder(W, x) in {FILE}"
    assert lines[2] == "\\begin{align*}" and lines[-1] == "\\end{align*}"
    body = "\n".join(lines[3:-1])
    assert ("\\frac{\\partial L}{\\partial W} &= \\underbrace{\\left(W x\\right) r^\\top}_{\\text{through } "
            "W^\\top}\n    + \\underbrace{\\left(W r\\right) x^\\top}_{\\text{through } W x} \\\\") in body
    assert body.count("\\underbrace{") == 4
    assert body.endswith("\\text{where}\\quad r &= W^\\top W x - x")  # once, for both gradients


def test_markdown_uses_dollar_math_and_a_bullet_per_path():
    r = run(AE, "-i", "W=3x5", "-i", "x=5", "--markdown", "--wrt", "W")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"For $L$ = `{AE}`, one term per path, each checked numerically:"
    assert lines[2].startswith("$$\\frac{\\partial L}{\\partial W} = ") and lines[2].endswith("$$")
    bullets = [line for line in lines if line.startswith("- ")]
    assert bullets[0].startswith("- through $W^\\top$: $") and bullets[0].endswith("$ (✓ verified)")
    assert len(bullets) == 2


def test_a_term_that_is_not_verified_is_marked_and_the_exit_status_is_1(monkeypatch):
    import numpy as np

    g = gb.trace(lambda W, x: hw.autoencoder(W, x)[0], W=np.ones((2, 3)), x=np.ones(3))
    d = g.derivation("W")
    bad = dataclasses.replace(d.formula.terms[0], verified=False, why="the formula differs (test)")
    broken = dataclasses.replace(d, formula=dataclasses.replace(d.formula, terms=(bad, *d.formula.terms[1:])))
    text = as_text("L", [broken])
    assert "  ✗ (Wx) rᵀ   path through Wᵀ   not verified: the formula differs (test)" in text
    assert not broken.verified
    monkeypatch.setattr(gb.Graph, "derivation", lambda self, name, limit=64: broken)
    r = run(AE, "-i", "W=2x3", "-i", "x=3", "--wrt", "W")
    assert r.exit_code == 1 and "✗" in r.output


@pytest.mark.parametrize("env", [{}, {"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "LANG": "C"}])
def test_unicode_also_into_a_pipe(env):
    p = subprocess.run([sys.executable, "-m", "graphviz_bp", "derive", AE, "-i", "W=2x3", "-i", "x=3"],
                       capture_output=True, env={**os.environ, **env}, timeout=120)
    assert p.returncode == 0, p.stderr
    text = p.stdout.decode("utf-8")
    assert "∂L/∂W = W x (WᵀWx − x)ᵀ + W (WᵀWx − x) xᵀ" in text and "  ✓ " in text


def one_line_error(r, code: int) -> str:
    assert r.exit_code == code, (r.exit_code, r.output, r.stderr)
    err = r.stderr.strip()
    assert err.startswith("graphviz-bp: error: ") and "\n" not in err, err
    assert "Traceback" not in r.output + r.stderr
    return err


@pytest.mark.parametrize("args, code, words", [
    ([AE, "-i", "W=3x5", "-i", "x=5", "--latex", "--markdown"], 2, "--latex and --markdown are two formats"),
    ([AE, "-i", "W=3x5", "-i", "x=5", "--wrt", "V"], 2, "'V' is not an input or a named value"),
    (["sum(x[y])", "-i", "x=3", "-i", f"y=@{Path(__file__).parent / 'nonexistent.npy'}"], 2, "no such file"),
    ([AE, "-i", "W=3x5"], 2, "no input for x"),
    (["sum(x*(", "-i", "x=3"], 2, "Invalid value for EXPR"),
    ([AE, "-i", "W=3x5", "-i", "x=5", "--max-paths", "1"], 1,
     "W reaches the loss by 2 paths, more than --max-paths 1: raise it, or leave W out with --wrt"),
    (["W@x", "-i", "W=3x5", "-i", "x=5"], 1, "not a scalar"),
    (["W@x", "-i", "W=3x4", "-i", "x=5"], 1, "inner dimensions differ"),
])
def test_errors_are_one_line_with_the_usual_exit_codes(args, code, words):
    assert words in one_line_error(run(*args), code)


def test_an_integer_input_is_not_derived(tmp_path):
    import numpy as np

    y = tmp_path / "y.npy"
    np.save(y, np.array([0, 2, 1]))
    r = run("sum(x[y])", "-i", "x=4", "-i", f"y=@{y}")
    assert r.exit_code == 0 and list(blocks(r.output)) == ["x"], r.output
    assert "integer" in one_line_error(run("sum(x[y])", "-i", "x=4", "-i", f"y=@{y}", "--wrt", "y"), 2)


def test_help_has_examples():
    r = CliRunner().invoke(main, ["derive", "--help"])
    assert r.exit_code == 0 and "Examples:" in r.output and "--latex" in r.output
