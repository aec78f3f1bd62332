"""The graphviz-bp command line, driven in-process (CliRunner) and once as a real subprocess."""

from __future__ import annotations

import os
import re
import shutil
import stat
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
from graphviz_bp.cli import main
from graphviz_bp.gallery import EXAMPLES
from .dotgraph import all_nodes

AE = "0.5*sum((W.T@W@x - x)**2)"


def run(*args: str, **kw):
    return CliRunner().invoke(main, list(args), **kw)


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    err = result.stderr.strip()
    assert err.startswith("graphviz-bp: error: ") and "\n" not in err, err
    assert "Traceback (most recent call last)" not in result.output + result.stderr
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
        assert "norm 3.19," in r.stdout  # ‖W‖ = sqrt(Σ k² / 100, k < 15) = 3.186: W's values, not random ones
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
    assert '<FONT COLOR="#1a1a1a"><I>z</I></FONT>' in r.stdout  # the name gb.name gave, drawn in italics
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
    # a file's function: what to change there (the command line cannot wrap it)
    (tmp_path / "vector.py").write_text("import numpy as np\n\ndef model(x):\n    return np.tanh(x) * 2\n")
    err = one_line_error(run("check", f"{tmp_path / 'vector.py'}:model", "-i", "x=3"), 1)
    assert "shape (3,), not a scalar" in err and "make model return one, e.g. np.sum(...)" in err and "--loss" in err


@pytest.mark.parametrize("expression", ["sum(norm(W, 2, axis=1))", "sum(norm(W, None, 1, True))",
                                        "sum(norm(W, 1, axis=0))", "norm(W, 'nuc') + sum(norm(ones((2, 3)), 1e999, axis=1))"])
def test_norms_of_every_order_check_in_the_language(expression):
    # the finite differences run the expression on plain arrays, bound by the norm op's binder (NumPy's
    # arguments, in NumPy's order): "got multiple values for argument 'axis'"
    r = run("check", expression, "-i", "W=3x4")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert next(line for line in r.stdout.splitlines() if line.startswith("W ")).endswith("yes")


def test_check_through_float32_values_says_what_a_float32_check_takes(tmp_path):
    src = tmp_path / "cache.py"
    src.write_text("import numpy as np\n\n"
                   "def loss(W, x):\n"
                   "    h = np.tanh(W @ x).astype(np.float32)\n"
                   "    return np.sum(np.exp(h))\n")
    r = run("check", f"{src}:loss", "-i", "W=3x4", "-i", "x=4")
    assert r.exit_code == 1 and "rtol 1e-06, eps 1e-06" in r.stdout.splitlines()[0]
    assert r.stdout.splitlines()[-1] == ("the function computes with float32 values: their rounding can make central "
                                         "differences of step 1e-06 disagree with a right gradient; a float32 "
                                         "check is --eps 0.005 --rtol 0.003")
    r = run("check", f"{src}:loss", "-i", "W=3x4", "-i", "x=4", "--eps", "5e-3", "--rtol", "3e-3")
    assert r.exit_code == 0, r.stdout


def test_usage_errors_exit_2_in_one_line():
    for args, words in [
        (["render", "sum(x)", "-i", "x=3", "-o", "out.gif"], "cannot tell the format"),
        (["render", "sum(x)", "-i", "x=three", "-o", "-"], "not a shape"),
        (["render", "sum(x)", "-i", "x", "-o", "-"], "is not NAME=SHAPE"),
        (["render", "sum(x)", "-i", "x=3", "-i", "x=4", "-o", "-"], "given twice"),
        (["render", "sum(y)", "-i", "x=3", "-o", "-"], "no input for y"),
        (["render", "sum(x)", "-i", "x=3"], "say where to write: -o PATH"),
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
    "np.linalg.eig(x)",  # not a function of the language (np.linalg.inv is, since issue 10)
    "np.random.seed(0)",
    "np.fft.fft(x)",
    "x[x.__class__]",
    "sum(x, axis=x)",
    "x['a']",
    "einsum('ij;import os', x)",
    "sum(x, axis=10**400)",
    "take(x, [sum])",
    "np.inv(x)",
    "x.shape",
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
    lines = r.stderr.splitlines()
    assert any(line.startswith("graphviz-bp: warning: overflow encountered in") for line in lines)
    assert all(line.startswith("graphviz-bp: warning: ") for line in lines)
    assert "∞" in r.stdout  # the value, drawn
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


# hardening (issue 9) --------------------------------------------------------------------------------

def dot_of(result) -> "pydot.Dot":
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    (graph,) = pydot.graph_from_dot_data(result.stdout)
    return graph


def labels(graph) -> str:
    return " ".join(str(n.get("label")) for n in all_nodes(graph))


@pytest.mark.parametrize("args", [
    ["render", "-mean(log(softmax(x)))", "-i", "x=3", "-o", "-", "-f", "dot"],
    ["render", "-i", "x=3", "-o", "-", "-f", "dot", "-mean(log(softmax(x)))"],
    ["render", "--", "-mean(log(softmax(x)))", "-i", "x=3", "-o", "-", "-f", "dot"],
    ["render", "-i", "x=3", "-o", "-", "-f", "dot", "--", "-mean(log(softmax(x)))"],
    ["render", "-ix=3", "-o-", "-fdot", "-mean(log(softmax(x)))"],
])
def test_an_expression_may_start_with_a_minus_sign(args):
    graph = dot_of(run(*args))
    ops = labels(graph)
    assert "softmax" in ops and "log" in ops and "mean" in ops and "−" in ops  # the negation is drawn


def test_leading_minus_in_check_and_unknown_options_still_refused():
    r = run("check", "-sum(x*x)", "-i", "x=3")
    assert r.exit_code == 0 and "value -" in r.stdout  # −‖x‖², checked
    err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", "-", "--nope"), 2)
    assert "No such option" in err and "--nope" in err
    err = one_line_error(run("render", "-mean(x", "-i", "x=3", "-o", "-"), 2)
    assert "syntax error" in err and "column" in err


@pytest.mark.parametrize("name", ["seed", "memory_limit", "fn", "inputs", "self", "output", "timeout"])
def test_any_identifier_is_an_input_name(name):
    graph = dot_of(run("render", f"sum({name}*y)", "-i", f"{name}=3", "-i", "y=3", "-o", "-", "-f", "dot"))
    assert f"<B>{name}</B>" in labels(graph)
    r = run("check", f"sum({name}*{name})", "-i", f"{name}=3")
    assert r.exit_code == 0 and r.stdout.splitlines()[2].startswith(f"{name} ")


def test_input_names_are_normalised_like_python_identifiers():
    graph = dot_of(run("render", "sum(𝑥)", "-i", "𝑥=3", "-o", "-", "-f", "dot"))  # NFKC: 𝑥 is x
    assert "<B>x</B>" in labels(graph)


def test_an_intermediate_over_the_memory_limit_is_refused_before_it_is_made():
    import tracemalloc

    tracemalloc.start()
    err = one_line_error(run("render", "sum(a+b)", "-i", "a=100000x1", "-i", "b=1x100000", "-o", "-"), 1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20  # nothing near the 74.5 GiB the sum would take was allocated
    assert "add (+) on shapes (100000, 1) and (1, 100000)" in err and "(100000, 100000)" in err
    assert "74.5 GiB" in err and "memory limit of 1 GiB" in err and "--memory-limit" in err
    assert "column 5: a+b" in err and "internal error" not in err
    r = run("render", "sum(a+b)", "-i", "a=1000x1", "-i", "b=1x1000", "-o", "-", "-f", "dot",
            "--memory-limit", "64M")
    assert r.exit_code == 0
    err = one_line_error(run("render", "sum(a+b)", "-i", "a=1000x1", "-i", "b=1x1000", "-o", "-",
                             "--memory-limit", "1M"), 1)
    assert "7.63 MiB" in err and "1 MiB" in err
    err = one_line_error(run("render", "sum(x)", "-i", "x=1000", "-o", "-", "--memory-limit", "1K"), 2)
    assert "memory limit of 1 KiB" in err
    for bad in ("0", "lots", "-5M", "1e9"):
        err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", "-", "--memory-limit", bad), 2)
        assert "--memory-limit" in err


def _npy_header_only(path: Path, shape: tuple[int, ...]) -> None:
    """A .npy file whose header claims ``shape`` but that holds no data (a lie the header check
    must catch before reading)."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": shape})


def test_an_input_read_from_a_pipe_is_an_array_and_a_folder_is_refused(tmp_path):
    # -i x=@<(make_x) hands the command /dev/fd/63, a pipe: it was "no such file"
    import io
    import os
    import threading

    pipe = tmp_path / "x.pipe"
    os.mkfifo(pipe)
    values = np.array([1.0, -2.0, 3.0])

    def write():
        made = io.BytesIO()
        np.save(made, values)
        with open(pipe, "wb") as f:
            f.write(made.getvalue())

    writer = threading.Thread(target=write)
    writer.start()
    r = run("render", "sum(x*x)", "-i", f"x=@{pipe}", "-f", "dot", "-o", "-")
    writer.join(timeout=10)
    if writer.is_alive():  # the command never opened the pipe: open it here (that cannot wait for a
        fd = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # writer), so that the writer ends
        os.set_blocking(fd, True)
        while os.read(fd, 1 << 16):
            pass
        os.close(fd)
        writer.join()
    assert r.exit_code == 0, r.output
    assert "14" in r.stdout  # Σx² of the piped values
    err = one_line_error(run("render", "sum(x*x)", "-i", f"x=@{tmp_path}", "-o", str(tmp_path / "a.svg")), 2)
    assert "is a folder, not a .npy or .npz file" in err


def test_input_files_are_checked_from_their_header_and_corrupt_ones_are_usage_errors(tmp_path):
    import zipfile

    _npy_header_only(tmp_path / "big.npy", (20000, 20000))
    err = one_line_error(run("render", "sum(W)", "-i", f"W=@{tmp_path / 'big.npy'}", "-o", "-"), 2)
    assert "20000×20000" in err and "2.98 GiB" in err and "memory limit of 1 GiB" in err
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("W.npy", "w") as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                          "shape": (150_000_000,)})
            member.write(b"\0" * 1_000_000)
    assert (tmp_path / "bomb.npz").stat().st_size < 10_000  # small on disk, 1.1 GiB in memory
    err = one_line_error(run("render", "sum(W)", "-i", f"W=@{tmp_path / 'bomb.npz'}", "-o", "-"), 2)
    assert "150000000" in err and "memory limit" in err
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04" + b"\xff" * 100)
    np.save(tmp_path / "short.npy", np.arange(10.0))
    (tmp_path / "short.npy").write_bytes((tmp_path / "short.npy").read_bytes()[:-20])
    for name in ("junk.npy", "junk.npz", "short.npy"):
        err = one_line_error(run("render", "sum(W)", "-i", f"W=@{tmp_path / name}", "-o", "-"), 2)
        assert "cannot read" in err and "internal error" not in err, err


USER_CODE = """
import sys
import numpy as np

def lookup(x):
    table = {"a": x}
    return np.sum(table["key"])

def quits(x):
    sys.exit(3)

def divides(x):
    return np.sum(x) / 0 if False else int("nope")
"""


def test_the_users_own_errors_are_located_in_their_code(tmp_path):
    src = tmp_path / "model.py"
    src.write_text(textwrap.dedent(USER_CODE))
    for func, words in [("lookup", "model.py:7 in lookup: KeyError: 'key'"),
                        ("quits", "model.py:10 in quits: called sys.exit(3)"),
                        ("divides", "model.py:13 in divides: ValueError: invalid literal for int()")]:
        for command in ("render", "check"):
            args = [command, f"{src}:{func}", "-i", "x=3"] + (["-o", "-"] if command == "render" else [])
            err = one_line_error(run(*args), 1)
            assert words in err and "internal error" not in err, (func, command, err)


def test_stderr_has_only_one_line_per_message():
    r = run("render", "sum(x**x)", "-i", "x=3", "-o", "-", "-f", "dot")  # x<0: nan, warned once
    assert r.exit_code == 0
    lines = r.stderr.splitlines()
    assert lines and all(line.startswith("graphviz-bp: warning: ") for line in lines), lines
    assert not any(".py" in line for line in lines)
    err = one_line_error(run("render", "sum(x) + 1(2)", "-i", "x=3", "-o", "-"), 2)  # a SyntaxWarning in ast
    assert "cannot be called" in err


def test_error_columns_count_characters_and_flat_sums_are_not_nesting():
    err = one_line_error(run("render", "éé + y // 2", "-i", "éé=3", "-i", "y=3", "-o", "-"), 2)
    assert "'//'" in err and "column 8" in err
    err = one_line_error(run("render", "sum(éé.foo)", "-i", "éé=3", "-o", "-"), 2)
    assert "'.foo'" in err and "column 7" in err
    err = one_line_error(run("render", "sum(x, **{})", "-i", "x=3", "-o", "-"), 2)
    assert "column 8" in err
    flat = "+".join(["x"] * 120)
    graph = dot_of(run("render", f"sum({flat})", "-i", "x=3", "-o", "-", "-f", "dot"))
    assert labels(graph).count("<B>+</B>") == 119


@pytest.mark.parametrize("args,words", [
    (["-i", "x=" + "x".join(["1"] * 65)], "65 dimensions, more than 32"),
    (["-i", "x=3", "--seed", "-1"], "--seed"),
    (["-i", "x=3", "--timeout", "-2"], "--timeout"),
    (["-i", "x=3", "--timeout", "soon"], "--timeout"),
])
def test_bad_numbers_are_usage_errors(args, words):
    err = one_line_error(run("render", "sum(x)", *args, "-o", "-"), 2)
    assert words in err


def test_output_paths_are_checked_before_tracing_and_are_usage_errors(tmp_path):
    err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", str(tmp_path / "no" / "a.svg")), 2)
    assert "there is no directory" in err and str(tmp_path / "no") in err
    err = one_line_error(run("render", "sum(y)", "-i", "x=3", "-o", str(tmp_path / "no" / "a.svg")), 2)
    assert "there is no directory" in err  # before the expression is even looked at
    err = one_line_error(run("gallery", "autoencoder", "-o", "/dev/null"), 2)
    assert "'/dev/null' is not a directory" in err
    (tmp_path / "file").write_text("")
    err = one_line_error(run("gallery", "autoencoder", "-o", str(tmp_path / "file" / "sub")), 2)
    assert "not a directory" in err


def test_an_output_path_where_no_file_can_be_made_is_a_usage_error_even_for_root():
    """/proc lets root "write" to it (os.access says yes) but makes no file: the render failed
    after the trace and Graphviz, with exit 1, where other bad paths are 2."""
    err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", "/proc/graphviz-bp-test.svg"), 2)
    assert "-o: cannot write '/proc/graphviz-bp-test.svg': no file can be created in '/proc'" in err, err


def test_gallery_prints_one_line(tmp_path, dot_executable):
    r = run("gallery", "autoencoder", "shared_x", "-o", str(tmp_path / "new" / "dir"))
    assert r.exit_code == 0 and r.stderr.splitlines() == [f"wrote 2 file(s) to {tmp_path / 'new' / 'dir'}"]


def test_render_writes_through_a_symlink_and_keeps_the_mode(tmp_path, dot_executable):
    target = tmp_path / "real.svg"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.svg"
    link.symlink_to(target)
    r = run("render", "sum(x*x)", "-i", "x=3", "-o", str(link))
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and target.read_text().lstrip().startswith("<?xml")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.svg", "real.svg"]


def test_a_hung_dot_is_stopped_by_the_timeout(tmp_path, monkeypatch):
    from .test_dot import alive, install_fake_dot

    bindir = install_fake_dot(tmp_path, monkeypatch, "sleep 60\n")
    out = tmp_path / "out.svg"
    err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", str(out), "--timeout", "1"), 1)
    assert "did not finish within 1 s" in err and "--timeout" in err
    assert not out.exists()
    assert not alive(int((bindir / "dot.pid").read_text()))


def test_expression_nodes_say_where_in_the_expression_they_come_from():
    graph = dot_of(run("render", "sum(W@x) + 1", "-i", "W=2x3", "-i", "x=3", "-o", "-", "-f", "dot"))
    tips = [str(n.get("tooltip")) for n in all_nodes(graph) if n.get("tooltip")]
    assert any("expression column 5: W@x" in t for t in tips)
    assert any("expression column 1: sum(W@x) + 1" in t for t in tips)
    assert not any("click" in t or "core.py" in t for t in tips)


def test_what_is_printed_stays_one_line_whatever_the_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a\nb.dot", "a\rb.dot", "a\x1b[31mb.dot"):
        r = run("render", "sum(x)", "-i", "x=3", "-f", "dot", "-o", name)
        assert r.exit_code == 0 and len(r.stderr.splitlines()) == 1, repr(r.stderr)
        assert "\x1b" not in r.stderr and "\r" not in r.stderr
        assert (tmp_path / name).read_text().startswith("digraph")
    err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", "no\ndir/\x1b[2Jx.svg"), 2)
    assert "\x1b" not in err and "\\x1b" in err


def test_an_option_without_its_value_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = one_line_error(run("render", "-f", "dot", "sum(x)", "-i", "x=3", "-o"), 2)
    assert "'-o' requires an argument" in err
    assert list(tmp_path.iterdir()) == []  # no file called "--"


def test_undecodable_bytes_are_usage_errors_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = b"x\xff".decode("utf-8", "surrogateescape")  # as Python gives argv bytes that are not UTF-8
    err = one_line_error(run("render", f"sum({bad})", "-i", "x=3", "-o", "-"), 2)
    assert "not valid UTF-8 at column 6" in err
    err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", "out.dot", "--markdown", "--alt", bad), 2)
    assert "--alt" in err
    assert list(tmp_path.iterdir()) == []


def test_an_input_the_function_does_not_take_is_a_usage_error(tmp_path):
    src = tmp_path / "model.py"
    src.write_text("import numpy as np\n\ndef loss(W, x, scale=1.0):\n    return np.sum(W @ x) * scale\n")
    err = one_line_error(run("render", f"{src}:loss", "-i", "W=2x3", "-i", "x=3", "-i", "extra=2", "-o", "-"), 2)
    assert "takes no input named extra (its inputs: W, x, scale)" in err
    r = run("check", f"{src}:loss", "-i", "W=2x3", "-i", "x=3", "-i", "scale=scalar")
    assert r.exit_code == 0 and "scale" in r.stdout


def test_debug_is_the_groups_flag_not_a_word_in_a_value():
    r = run("render", "sum(W@x)", "-i", "W=3x5", "-i", "x=3", "-o", "-", "--markdown", "--alt", "--debug")
    one_line_error(r, 2)  # --markdown with -o -: a usage error, told in one line, no traceback
    r = run("render", "sum(W@x)", "-i", "W=3x5", "-i", "x=3", "-o", "-", "--alt", "--debug")
    one_line_error(r, 1)  # the shape error in one line: "--debug" here is alt text
    r = run("--debug", "render", "sum(W@x)", "-i", "W=3x5", "-i", "x=3", "-o", "-")
    assert isinstance(r.exception, gb.ShapeError)


# one home per op (issue 10): the language says everything the registry computes ----------------------

GPLVM = "0.5*slogdet(X@X.T + 0.1*eye(6))[1] + 0.5*trace(solve(X@X.T + 0.1*eye(6), Y@Y.T))"


def test_the_gplvm_on_the_command_line_matches_its_closed_form(tmp_path):
    r = run("check", GPLVM, "-i", "X=6x2", "-i", "Y=6x3", "--seed", "4")
    assert r.exit_code == 0, r.stdout + r.stderr  # every gradient agrees with central differences
    out = tmp_path / "gplvm.dot"
    assert run("render", GPLVM, "-i", "X=6x2", "-i", "Y=6x3", "-o", str(out)).exit_code == 0
    ops = labels(pydot.graph_from_dot_data(out.read_text())[0])
    assert "log|det|" in ops and "solve" in ops and "tr" in ops
    from graphviz_bp.expr import parse

    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(6, 2)), rng.normal(size=(6, 3))
    expr = parse(GPLVM)
    g = gb.trace(lambda X, Y: expr(X=X, Y=Y), X=X, Y=Y)
    Ki = np.linalg.inv(X @ X.T + 0.1 * np.eye(6))
    np.testing.assert_allclose(g.grad("X"), Ki @ X - Ki @ Y @ Y.T @ Ki @ X, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("expr,inputs", [
    ("-mean(log_softmax(z, axis=1)[arange(4), [0, 2, 1, 2]])", ["z=4x3"]),
    ("np.sum(np.max(x, axis=0, keepdims=True)) + np.linalg.norm(x)", ["x=3x2"]),
    ("sum(einsum('ij,jk->ik', W, x.T)) + sum(concatenate([W, W], axis=0))", ["W=2x3", "x=4x3"]),
    ("sum(x[1:, ::-1] ** 2) + sum(x[None, ..., 0]) + sum(take(x, [0, 0], axis=1))", ["x=3x2"]),
    ("sum(reshape(x, (2, 3)).mT @ repeat(x, 2, axis=1)[:2])", ["x=3x2"]),
    ("sum(cumsum(x, axis=0) * cumprod(x, axis=1)) + trace(diagonal(x.T @ x) * eye(2)) + std(x) + var(x, ddof=1)",
     ["x=3x2"]),
    ("det(A) + sum(inv(A)) + sum(cholesky(A @ A.T + eye(3), upper=True)) + sum(sort(x)) + sum(clip(x, -1, 1))",
     ["A=3x3", "x=3"]),
    ("sum(transpose(x, (1, 0)) * ones((2, 3))) + sum(full((3, 2), 0.5) * abs(x)) + sum(swapaxes(x, 0, 1))",
     ["x=3x2"]),
])
def test_expressions_reach_the_whole_registry(expr, inputs):
    args = [a for spec in inputs for a in ("-i", spec)]
    r = run("check", expr, *args, "--seed", "2")
    assert r.exit_code == 0, r.stdout + r.stderr


@pytest.mark.parametrize("expr,words", [
    ("sum(x, dtype=1)", "keyword dtype= is not allowed in sum() (it takes axis= keepdims=)"),
    ("sum(x, axis=y)", "literals"),
    ("np.inv(x)", "write np.linalg.inv"),
    ("np.linalg.sum(x)", "write np.sum"),
    ("summ(x)", "did you mean sum?"),
    ("x['a']", "is not an index"),
    ("x[1.5]", "is not an index"),
    ("x[0:y]", "slice bounds must be integers"),
    ("x.mt", "attribute '.mt'"),
    ("ones(10**9)", "not allowed here"),
])
def test_what_the_language_refuses_is_named_with_its_column(expr, words):
    err = one_line_error(run("render", expr, "-i", "x=3", "-i", "y=3", "-o", "-"), 2)
    assert words in err and "column" in err, err


def test_constants_made_in_an_expression_are_held_to_the_limits():
    err = one_line_error(run("render", "sum(x) + sum(ones((2000, 2000)))", "-i", "x=3", "-o", "-"), 1)
    assert "ones() would make 4,000,000 elements" in err
    err = one_line_error(run("render", "sum(x) + sum(outer(arange(100000), arange(100000)))", "-i", "x=3",
                             "-o", "-"), 1)
    assert "outer" in err and "memory limit" in err
    err = one_line_error(run("render", "sum(slogdet(x))", "-i", "x=3", "-o", "-"), 1)
    assert "slogdet" in err
    err = one_line_error(run("render", "sum(x) + slogdet(eye(2))[2]", "-i", "x=3", "-o", "-"), 1)
    assert "has 2 items" in err


def test_render_help_says_where_the_functions_are_listed():
    from graphviz_bp.expr import FUNCTIONS

    text = " ".join(run("render", "--help").output.split())
    assert all(f"{name}," in text for name in ("slogdet", "solve", "einsum", "cumsum"))
    assert "README" in text and "graphviz_bp.expr.FUNCTIONS" in text and len(FUNCTIONS) > 60


def test_a_long_layout_reports_progress_and_a_failure_is_one_line(tmp_path, monkeypatch):
    from graphviz_bp import dot as dot_mod

    from .test_dot import install_fake_dot

    monkeypatch.setattr(dot_mod, "PROGRESS_DELAY", 0.2)
    real = shutil.which("dot")
    install_fake_dot(tmp_path, monkeypatch, f"sleep 1\nexec {real} \"$@\"\n")  # a slow layout
    r = run("render", "sum(x*x)", "-i", "x=3", "-o", str(tmp_path / "out.svg"))
    assert r.exit_code == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith("graphviz-bp: laying out ") and "time limit 300 s" in lines[0]
    assert lines[-1] == f"wrote {tmp_path / 'out.svg'}"
    # a warning (log of a negative number) and then a failure: only the failure's line
    err = one_line_error(run("render", "sum(log(x))", "-i", "x=3", "-o", "-", "--timeout", "0.05"), 1)
    assert "did not finish within 0.05 s" in err
    r = run("render", "sum(log(x))", "-i", "x=3", "-o", "-", "-f", "dot")
    assert r.exit_code == 0 and r.stderr.splitlines() == ["graphviz-bp: warning: invalid value encountered in log"]


def test_fold_and_depth_flags(tmp_path):
    expr = "sum(tanh(W @ tanh(W @ tanh(W @ x))))"
    out = tmp_path / "g.dot"
    r = run("render", expr, "-i", "W=3x3", "-i", "x=3", "--fold", "on", "--depth", "all", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert "cluster_" not in out.read_text()  # an expression has no scopes: nothing to frame or fold
    r = run("render", expr, "-i", "W=3x3", "-i", "x=3", "--depth", "deep", "-o", str(out))
    assert r.exit_code == 2 and "depth must be a whole number of levels" in r.stderr
    r = run("render", expr, "-i", "W=3x3", "-i", "x=3", "--fold", "maybe", "-o", str(out))
    assert r.exit_code == 2 and "maybe" in r.stderr


def test_a_loop_in_a_file_is_folded_by_default_and_drawn_whole_with_fold_off(tmp_path):
    (tmp_path / "deep.py").write_text(
        "import numpy as np\n\n"
        "def loss(x, Ws):\n"
        "    for W in Ws:\n"
        "        x = np.tanh(W @ x)\n"
        "    return np.sum(x)\n")
    out = tmp_path / "g.dot"
    args = ("render", f"{tmp_path / 'deep.py'}:loss", "-i", "x=3", "-i", "Ws=60x3x3", "-o", str(out))
    assert run(*args).exit_code == 0
    assert "× 60, drawn once" in out.read_text()
    assert run(*args, "--fold", "off").exit_code == 0
    assert out.read_text().count(">tanh<") == 60


def test_the_readmes_refused_expression_fails_as_the_readme_says():
    """The README quoted an older message (column 18, without .mT) for its example of an expression
    that is never run."""
    import shlex

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    command, said = re.search(r"^\$ (graphviz-bp render \"__import__.*)\n(graphviz-bp: error: .*)$", readme, re.M).groups()
    args = shlex.split(command)[1:]
    err = one_line_error(run(*args), 2)
    assert err == said.replace("'graphviz-bp render --help'", "'main render --help'"), err


def test_debug_after_the_command_says_where_it_goes():
    err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", "-", "--debug"), 2)
    assert err.endswith("(--debug goes before the command: 'main --debug render ...')"), err
    err = one_line_error(run("render", "sum(x)", "-i", "x=3", "-o", "-", "--dbug"), 2)
    assert "goes before" not in err and "(see 'main render --help')" in err


def test_errors_in_a_users_file_name_it_as_the_user_would_from_here(tmp_path, monkeypatch):
    """A ShapeError named the file by its absolute path (/tmp/.../raises.py:3), an exception the
    code raised by its base name alone, wherever it was."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "raises.py").write_text(
        "import numpy as np\ndef f(W, x):\n    return np.sum(W @ x)\ndef g(x):\n    raise ValueError('bad')\n")
    monkeypatch.chdir(tmp_path)
    err = one_line_error(run("render", "models/raises.py:f", "-i", "W=3x5", "-i", "x=3", "-o", "-"), 1)
    assert err.endswith(" at models/raises.py:3 in f: return np.sum(W @ x)"), err
    err = one_line_error(run("render", "models/raises.py:g", "-i", "x=3", "-o", "-"), 1)
    assert err == "graphviz-bp: error: models/raises.py:5 in g: ValueError: bad", err
    monkeypatch.chdir(tmp_path / "models")
    err = one_line_error(run("render", "raises.py:f", "-i", "W=3x5", "-i", "x=3", "-o", "-"), 1)
    assert err.endswith(" at raises.py:3 in f: return np.sum(W @ x)"), err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    target = str(tmp_path / "models" / "raises.py")
    err = one_line_error(run("render", f"{target}:g", "-i", "x=3", "-o", "-"), 1)
    assert err == f"graphviz-bp: error: {target}:5 in g: ValueError: bad", err


def test_a_format_that_contradicts_the_files_suffix_is_refused(tmp_path):
    """-o a.svg -f png wrote PNG bytes into a.svg, which no viewer opens."""
    out = tmp_path / "a.svg"
    err = one_line_error(run("render", AE, "-i", "W=3x5", "-i", "x=5", "-o", str(out), "-f", "png"), 2)
    assert "-f png would write png into" in err and "name it .png" in err
    assert list(tmp_path.iterdir()) == []


def test_choices_are_read_whatever_their_case(tmp_path):
    """--fold true was read, --fold True refused; --direction lr too."""
    out = tmp_path / "x.dot"
    r = run("render", "sum(x*x)", "-i", "x=3", "-o", str(out), "--fold", "True", "--direction", "lr")
    assert r.exit_code == 0, r.stderr
    assert "rankdir=LR" in out.read_text()


def test_ctrl_c_exits_as_the_shell_counts_an_interrupt(tmp_path, monkeypatch):
    """Click turns Ctrl-C into an Abort, which exited 1 "aborted", as a failure does."""
    import graphviz_bp.cli.commands as commands

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "_prepare", interrupted)
    err = one_line_error(run("render", AE, "-i", "W=3x5", "-i", "x=5", "-o", str(tmp_path / "a.svg")), 130)
    assert err == "graphviz-bp: error: interrupted" and list(tmp_path.iterdir()) == []
