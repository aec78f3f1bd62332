"""The graphviz-bp command line, driven in-process (CliRunner) and once as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pydot
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphviz_bp as gb
from graphviz_bp.annotate import format_number
from graphviz_bp.cli import main
from graphviz_bp.gallery import EXAMPLES

AE = "0.5*sum((W.T@W@x - x)**2)"


def run(*args: str, **kw):
    return CliRunner().invoke(main, list(args), **kw)


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    err = result.stderr.strip()
    assert err.startswith("graphviz-bp: error: ") and "\n" not in err, err
    assert "Traceback" not in result.output + result.stderr
    return err


def test_version_and_help_with_examples_on_every_command():
    r = run("--version")
    assert r.exit_code == 0 and gb.__version__ in r.output
    for cmd in ([], ["render"], ["check"], ["gallery"]):
        r = run(*cmd, "--help")
        assert r.exit_code == 0 and "Examples:" in r.output, cmd
    assert "does run" in run("render", "--help").output  # FILE.py:FUNC runs the user's code


@pytest.mark.parametrize("suffix,magic", [("svg", b"<?xml"), ("pdf", b"%PDF"), ("png", b"\x89PNG"),
                                          ("dot", b"digraph")])
def test_render_expression_to_each_format(tmp_path, suffix, magic, dot_executable):
    out = tmp_path / f"ae.{suffix}"
    r = run("render", AE, "-i", "W=3x5", "-i", "x=5", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes().startswith(magic)
    assert list(tmp_path.iterdir()) == [out]


def test_render_draws_the_same_graph_as_the_api(tmp_path):
    out = tmp_path / "ae.dot"
    assert run("render", AE, "-i", "W=3x5", "-i", "x=5", "--seed", "3", "-o", str(out)).exit_code == 0
    rng = np.random.default_rng(3)
    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    api = gb.trace(lambda W, x: 0.5 * np.sum((W.T @ W @ x - x) ** 2), W=W, x=x)
    (cli_graph,) = pydot.graph_from_dot_data(out.read_text())
    (api_graph,) = pydot.graph_from_dot_data(api.to_dot())
    strip = lambda g: sorted((e.get_source(), e.get_destination(), e.get("label")) for e in g.get_edges())
    assert strip(cli_graph) == strip(api_graph)  # same structure, same messages
    w = cli_graph.get_node(api.node("W").id)[0]
    assert "shared" in w.get("class")


def test_seed_changes_values_and_is_reproducible():
    a = run("render", AE, "-i", "W=3x5", "-i", "x=5", "-o", "-", "-f", "dot").stdout
    b = run("render", AE, "-i", "W=3x5", "-i", "x=5", "-o", "-", "-f", "dot").stdout
    c = run("render", AE, "-i", "W=3x5", "-i", "x=5", "-o", "-", "-f", "dot", "--seed", "9").stdout
    assert a == b and a != c


def test_stdout_output_defaults_to_svg(dot_executable):
    r = run("render", "sum(x*x)", "-i", "x=3", "-o", "-")
    assert r.exit_code == 0 and r.stdout.lstrip().startswith("<?xml") and "</svg>" in r.stdout


def test_drawing_flags_reach_the_drawing():
    r = run("render", "sum(tanh(W@x))", "-i", "W=2x3", "-i", "x=3", "-o", "-", "-f", "dot",
            "--direction", "LR", "--detail", "shapes", "--theme", "grey", "--data", "x")
    assert r.exit_code == 0, r.stderr
    assert "rankdir=LR" in r.stdout and "norm" not in r.stdout and "#c0392b" not in r.stdout
    assert "input data" in r.stdout
    err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", "-", "--data", "y"), 2)
    assert "y is not an input" in err


def test_values_from_npy_and_npz(tmp_path):
    W = np.arange(15.0).reshape(3, 5) / 10
    np.save(tmp_path / "W.npy", W)
    np.savez(tmp_path / "p.npz", W=W, other=np.ones(2))
    for spec in (f"W=@{tmp_path / 'W.npy'}", f"W=@{tmp_path / 'p.npz'}", f"W=@{tmp_path / 'p.npz'}:W"):
        r = run("render", AE, "-i", spec, "-i", "x=5", "-o", "-", "-f", "dot")
        assert r.exit_code == 0, r.stderr
        assert f"norm {format_number(np.linalg.norm(W))}," in r.stdout  # W's values, not random ones
        assert "range [0, 1.4&#93;" in r.stdout
    err = one_line_error(run("render", AE, "-i", f"W=@{tmp_path / 'p.npz'}:nope", "-i", "x=5", "-o", "-"), 2)
    assert "holds W, other" in err
    err = one_line_error(run("render", AE, "-i", f"W=@{tmp_path / 'missing.npy'}", "-i", "x=5", "-o", "-"), 2)
    assert "no such file" in err


def test_function_from_a_file(tmp_path):
    src = tmp_path / "model.py"
    src.write_text(textwrap.dedent("""
        import numpy as np
        import graphviz_bp as gb

        def loss(W, x):
            z = gb.name(W @ x, "z")
            return np.sum(np.tanh(z) ** 2)
    """))
    r = run("render", f"{src}:loss", "-i", "W=2x3", "-i", "x=3", "-o", "-", "-f", "dot")
    assert r.exit_code == 0, r.stderr
    assert ">z<" in r.stdout.replace("<I>", "").replace("</I>", "") or "z</I>" in r.stdout
    r = run("check", f"{src}:loss", "-i", "W=2x3", "-i", "x=3")
    assert r.exit_code == 0 and "W" in r.stdout
    err = one_line_error(run("render", f"{src}:loss", "-i", "W=2x3", "-o", "-"), 2)
    assert "no input for x" in err
    err = one_line_error(run("render", f"{src}:nothere", "-i", "W=2x3", "-o", "-"), 2)
    assert "defines no function 'nothere'" in err
    err = one_line_error(run("render", f"{src}:loss", "-i", "W=2x4", "-i", "x=3", "-o", "-"), 1)
    assert "matmul" in err and "model.py" in err  # the user's own line


def test_check_passes_for_correct_gradients_and_fails_for_a_kink(tmp_path):
    r = run("check", AE, "-i", "W=3x5", "-i", "x=5")
    assert r.exit_code == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split()[:5] == ["input", "shape", "‖analytic‖", "‖numeric‖", "rel."]
    w = next(line for line in lines if line.startswith("W "))
    assert w.endswith("yes") and float(w.split()[4]) < 1e-6
    np.save(tmp_path / "z.npy", np.array([0.0, 1.0]))  # relu at 0: analytic 0, central difference 1/2
    r = run("check", "sum(relu(x))", "-i", f"x=@{tmp_path / 'z.npy'}")
    assert r.exit_code == 1 and "NO" in r.stdout
    err = one_line_error(run("check", "W@x", "-i", "W=2x3", "-i", "x=3"), 1)
    assert "shape (2,), not a scalar" in err and "sum(...)" in err


def test_usage_errors_exit_2_in_one_line():
    for args, words in [
        (["render", "sum(x)", "-i", "x=3", "-o", "out.gif"], "cannot tell the format"),
        (["render", "sum(x)", "-i", "x=three", "-o", "-"], "not a shape"),
        (["render", "sum(x)", "-i", "x", "-o", "-"], "is not NAME=SHAPE"),
        (["render", "sum(x)", "-i", "x=3", "-i", "x=4", "-o", "-"], "given twice"),
        (["render", "sum(y)", "-i", "x=3", "-o", "-"], "no input for y"),
        (["render", "sum(x)", "-i", "x=3"], "Missing option"),
        (["render", "sum(x) +", "-i", "x=3", "-o", "-"], "syntax error"),
        (["render", "sum(x)", "-i", "x=3", "-o", "-", "--theme", "neon"], "neon"),
        (["nope"], "No such command"),
    ]:
        err = one_line_error(run(*args), 2)
        assert words in err, (args, err)


def test_domain_errors_exit_1_in_one_line_and_debug_shows_the_traceback(tmp_path):
    out = tmp_path / "bad.svg"
    err = one_line_error(run("render", "sum(W@x)", "-i", "W=3x5", "-i", "x=3", "-o", str(out)), 1)
    assert "matmul (@) on shapes (3, 5) and (3,)" in err and "column 5: W@x" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    r = run("--debug", "render", "sum(W@x)", "-i", "W=3x5", "-i", "x=3", "-o", str(out))
    assert isinstance(r.exception, gb.ShapeError)


def test_missing_dot_exits_1_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "ae.svg"
    err = one_line_error(run("render", AE, "-i", "W=3x5", "-i", "x=5", "-o", str(out)), 1)
    assert "'dot' executable was not found" in err and "apt-get install graphviz" in err
    assert not out.exists()


HOSTILE = [
    "__import__('os').system('touch CANARY')",
    "open('CANARY', 'w')",
    "x.__class__.__bases__[0].__subclasses__()",
    "().__class__",
    "(lambda: __import__('os'))()",
    "[y for y in x]",
    "{k: 1 for k in x}",
    "x.__dict__['a']",
    "x['__class__']",
    "globals()",
    "np.__builtins__",
    "sum.__globals__",
    "exec('import os')",
    "eval('1')",
    "sum(x, **{'axis': 0})",
    "sum(*x)",
    "(y := x)",
    "f'{x}'",
    "x if x else x",
    "x < 1",
    "x // 2",
    "x ** 9" + "9" * 5000,
    "1" + "0" * 100_000,
    "(" * 1000 + "x" + ")" * 1000,
    "x" + "+x" * 10_000,
    "sum(x\x00)",
    "np.linalg.inv(x)",
    "np.random.seed(0)",
]


@pytest.mark.parametrize("expr", HOSTILE, ids=[h[:30] for h in HOSTILE])
def test_hostile_expressions_are_rejected_and_run_nothing(expr, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("render", expr, "-i", "x=3", "-o", "out.svg")
    one_line_error(r, 2)
    assert list(tmp_path.iterdir()) == []  # no CANARY, no output


def test_enormous_values_are_computed_not_hung():
    r = run("render", "sum(x ** 10 ** 10 ** 10)", "-i", "x=3", "-o", "-", "-f", "dot")
    assert r.exit_code == 0  # float arithmetic: inf, not a Python integer with 10**10 digits
    assert "warning: overflow" in r.stderr or "inf" in r.stdout or "∞" in r.stdout
    one_line_error(run("render", "sum(x)", "-i", "x=100000x100000", "-o", "-"), 2)
    one_line_error(run("render", "sum(x)", "-i", "x=" + "9" * 30, "-o", "-"), 2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.sampled_from("xyW+-*/@().T,=0123456789 _asumexptnhlogrqiTabc'[]{}:;!~<>") |
               st.characters(), max_size=40))
def test_random_text_only_ever_exits_cleanly(text):
    r = CliRunner().invoke(main, ["render", text, "-i", "x=3", "-i", "y=3", "-i", "W=3x3", "-o", "-",
                                  "-f", "dot"])
    assert r.exit_code in (0, 1, 2), (text, r.exit_code)
    assert r.exception is None or isinstance(r.exception, SystemExit), (text, repr(r.exception))
    if r.exit_code:
        assert "internal error" not in one_line_error(r, r.exit_code)


def test_gallery_lists_and_renders_with_progress(tmp_path, dot_executable):
    r = run("gallery")
    assert r.exit_code == 0 and r.stdout.splitlines()[0].startswith("autoencoder ")
    assert [line.split()[0] for line in r.stdout.splitlines()] == list(EXAMPLES)
    r = run("gallery", "--all", "-o", str(tmp_path), "-f", "svg", "-f", "pdf")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.{f}" for n in EXAMPLES for f in ("svg", "pdf"))
    assert f"wrote {2 * len(EXAMPLES)} file(s)" in r.stderr
    r = run("gallery", "rnn", "-o", str(tmp_path / "one"))
    assert r.exit_code == 0 and [p.name for p in (tmp_path / "one").iterdir()] == ["rnn.svg"]
    one_line_error(run("gallery", "nope"), 2)


def test_real_subprocess(tmp_path, dot_executable):
    out = tmp_path / "ae.svg"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    p = subprocess.run([sys.executable, "-m", "graphviz_bp", "render", AE, "-i", "W=3x5", "-i", "x=5",
                        "-o", str(out)], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert out.read_text().lstrip().startswith("<?xml")
    p = subprocess.run([sys.executable, "-m", "graphviz_bp", "render", "x.__class__", "-i", "x=3", "-o", "-"],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 2 and p.stdout == "" and len(p.stderr.strip().splitlines()) == 1
    assert "attribute '.__class__' is not allowed" in p.stderr


def test_a_broken_user_file_is_a_usage_error_not_our_bug(tmp_path):
    (tmp_path / "bad.py").write_text("def loss(x)\n    return x\n")
    err = one_line_error(run("check", f"{tmp_path / 'bad.py'}:loss", "-i", "x=3"), 2)
    assert "cannot load" in err and "line 1" in err and "SyntaxError" in err and "internal error" not in err
    (tmp_path / "imp.py").write_text("import not_a_module_at_all\n\ndef loss(x):\n    return x\n")
    err = one_line_error(run("render", f"{tmp_path / 'imp.py'}:loss", "-i", "x=3", "-o", "-"), 2)
    assert "ModuleNotFoundError" in err and "not_a_module_at_all" in err


def test_huge_integer_literals_are_refused_when_parsed():
    err = one_line_error(run("check", "x * 1" + "0" * 400, "-i", "x=3"), 2)
    assert "number too large" in err


def test_output_that_is_a_directory_is_a_usage_error(tmp_path):
    err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", str(tmp_path), "-f", "svg"), 2)
    assert "is a directory" in err and ".tmp" not in err
    assert list(tmp_path.iterdir()) == []
