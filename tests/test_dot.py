"""Running dot: time limit, killed with its parent, output checked, short errors, progress, Sphinx wrapper."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from graphviz_bp import dot
from graphviz_bp.dot import GraphvizNotFoundError, RenderError, RenderTimeoutError

SMALL = b"digraph { a -> b }"
ROOT = Path(__file__).resolve().parent.parent


def install_fake_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """A ``dot`` (shell script) first on PATH; it writes its pid to ``dot.pid`` beside it."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "dot"
    exe.write_text(f"#!/bin/sh\necho $$ > '{bindir}/dot.pid'\n{textwrap.dedent(script)}")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return bindir


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper that never comes is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def read_pid(bindir: Path, seconds: float = 10.0) -> int:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        text = (bindir / "dot.pid").read_text() if (bindir / "dot.pid").exists() else ""
        if text.strip():
            return int(text)
        time.sleep(0.05)
    raise AssertionError("the fake dot never started")


def kill_if_alive(pid: int) -> None:
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_runs_dot_and_returns_checked_svg(dot_executable):
    svg = dot.run(SMALL, "svg")
    assert svg.startswith(b"<?xml") and svg.rstrip().endswith(b"</svg>") and b">a</text>" in svg


def test_timeout_kills_dot_and_says_how_to_raise_the_limit(tmp_path, monkeypatch):
    bindir = install_fake_dot(tmp_path, monkeypatch, "exec sleep 60\n")
    start = time.monotonic()
    try:
        with pytest.raises(RenderTimeoutError) as err:
            dot.run(SMALL, "svg", timeout=1, size_hint=1234)
        assert time.monotonic() - start < 20  # generous: the limit is 1 s, the sleep 60 s
        assert str(err.value) == (
            "dot did not finish within 1 s laying out 1234 nodes and edges; raise the limit with --timeout "
            "(timeout= in the API, :timeout: in Sphinx) or draw less")
        assert isinstance(err.value, RenderError)
        pid = read_pid(bindir)
        assert not alive(pid)  # killed and reaped before the error was raised
    finally:
        kill_if_alive(read_pid(bindir))


@pytest.mark.parametrize("timeout", [None, 0])
def test_no_timeout_means_no_limit(tmp_path, monkeypatch, timeout):
    install_fake_dot(tmp_path, monkeypatch, "sleep 1.5; cat > /dev/null; echo '<svg></svg>'\n")
    monkeypatch.setattr(dot, "DEFAULT_TIMEOUT", 0.1)  # not consulted
    assert dot.run(SMALL, "svg", timeout=timeout) == b"<svg></svg>\n"
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        dot.run(SMALL, "svg", timeout=-1)


def test_dot_dies_with_its_parent(tmp_path, monkeypatch):
    bindir = install_fake_dot(tmp_path, monkeypatch, "exec sleep 60\n")
    parent = subprocess.Popen(
        [sys.executable, "-c", "from graphviz_bp import dot; dot.run(b'digraph {}', 'svg', timeout=120)"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        pid = read_pid(bindir)
        assert alive(pid)
        parent.kill()
        parent.wait()
        assert wait_gone(pid), "dot outlived its parent"
    finally:
        parent.kill()
        parent.wait()
        kill_if_alive(read_pid(bindir))


def test_interrupt_while_waiting_kills_dot(tmp_path, monkeypatch):
    bindir = install_fake_dot(tmp_path, monkeypatch, "exec sleep 60\n")

    def interrupt(message):
        if message.startswith("still"):
            raise KeyboardInterrupt

    monkeypatch.setattr(dot, "PROGRESS_INTERVAL", 0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            dot.run(SMALL, "svg", timeout=60, progress=interrupt, size_hint=10**6)
        assert not alive(read_pid(bindir))
    finally:
        kill_if_alive(read_pid(bindir))


@pytest.mark.parametrize("fmt,kind", [("svg", "SVG"), ("pdf", "PDF"), ("png", "PNG")])
def test_garbage_output_is_refused(tmp_path, monkeypatch, fmt, kind):
    install_fake_dot(tmp_path, monkeypatch, "cat > /dev/null; printf 'garbage\\001 from a broken dot'\n")
    with pytest.raises(RenderError) as err:
        dot.run(SMALL, fmt)
    assert str(err.value) == (f"dot -T{fmt} produced no valid {kind} "
                              f"(it printed: 'garbage? from a broken dot')")


@pytest.mark.parametrize("fmt,data", [
    ("svg", b"<?xml version='1.0'?>\n<svg>\n<g></g>\n"),  # cut short
    ("pdf", b"%PDF-1.5\n1 0 obj\n"),  # no %%EOF
    ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),  # no IEND
])
def test_truncated_output_is_refused(tmp_path, monkeypatch, fmt, data):
    (tmp_path / "out").write_bytes(data)
    install_fake_dot(tmp_path, monkeypatch, f"cat > /dev/null; cat '{tmp_path / 'out'}'\n")
    with pytest.raises(RenderError, match=f"produced no valid {fmt.upper()}"):
        dot.run(SMALL, fmt)


def test_empty_output_is_refused_with_dots_message(tmp_path, monkeypatch):
    install_fake_dot(tmp_path, monkeypatch, "cat > /dev/null; echo 'Warning: out of memory' >&2\n")
    with pytest.raises(RenderError) as err:
        dot.run(SMALL, "svg")
    assert str(err.value) == "dot -Tsvg produced no valid SVG (it printed: nothing; Warning: out of memory)"


def test_huge_stderr_becomes_one_short_line(tmp_path, monkeypatch):
    install_fake_dot(tmp_path, monkeypatch, """\
        cat > /dev/null
        echo "Error: <stdin>: syntax error in line 3 near '}'" >&2
        head -c 5000000 /dev/zero | tr '\\0' x >&2
        exit 1
        """)
    with pytest.raises(RenderError) as err:
        dot.run(SMALL, "svg")
    message = str(err.value)
    assert message.startswith("dot -Tsvg failed (exit 1): Error: <stdin>: syntax error in line 3 near '}' / xxx")
    assert "\n" not in message and len(message) < 400 and message.endswith(" …")


def test_killed_dot_is_said(tmp_path, monkeypatch):
    install_fake_dot(tmp_path, monkeypatch, "cat > /dev/null; kill -9 $$\n")
    with pytest.raises(RenderError, match=r"^dot -Tpdf:cairo was killed by SIGKILL: no message$"):
        dot.run(SMALL, "pdf", renderer="cairo")


def test_warnings_on_success_are_not_printed(tmp_path, monkeypatch, capfd):
    install_fake_dot(tmp_path, monkeypatch, "cat > /dev/null; echo 'Warning: no fonts' >&2; echo '<svg/></svg>'\n")
    assert dot.run(SMALL, "svg") == b"<svg/></svg>\n"
    out, err = capfd.readouterr()
    assert "Warning" not in out + err


def test_big_output_does_not_deadlock(tmp_path, monkeypatch):
    # dot writes 8 MB to stdout and 1 MB to stderr before reading all of its input
    install_fake_dot(tmp_path, monkeypatch, """\
        printf '<svg>'
        head -c 8000000 /dev/zero | tr '\\0' ' '
        head -c 1000000 /dev/zero | tr '\\0' w >&2
        cat > /dev/null
        printf '</svg>'
        """)
    out = dot.run(b"x" * 4_000_000, "svg", timeout=60)
    assert len(out) == 8_000_011


def test_missing_dot_is_graphviz_not_found_and_path_is_read_at_each_call(tmp_path, monkeypatch, dot_executable):
    assert dot.run(SMALL, "svg").startswith(b"<?xml")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
        dot.run(SMALL, "svg")


def test_progress_for_big_graphs_only(tmp_path, monkeypatch):
    install_fake_dot(tmp_path, monkeypatch, "cat > /dev/null; sleep 1.2; echo '<svg></svg>'\n")
    monkeypatch.setattr(dot, "PROGRESS_INTERVAL", 0.25)
    heard: list[str] = []
    assert dot.run(SMALL, "svg", timeout=30, progress=heard.append, size_hint=dot.PROGRESS_THRESHOLD)
    assert heard[0] == (f"laying out {dot.PROGRESS_THRESHOLD} nodes and edges with dot; this may take a "
                        "while (time limit 30 s)")
    assert len(heard) >= 3 and all(m.startswith("still laying out: ") and m.endswith(" s") for m in heard[1:])
    assert [m for m in heard if m.startswith("laying out")] == heard[:1]  # said once
    quiet: list[str] = []  # a small graph: nothing said while dot is quick
    dot.run(SMALL, "svg", timeout=30, progress=quiet.append, size_hint=dot.PROGRESS_THRESHOLD - 1)
    assert quiet == []


def test_progress_for_small_graphs_that_take_long(tmp_path, monkeypatch):
    install_fake_dot(tmp_path, monkeypatch, "cat > /dev/null; sleep 1.2; echo '<svg></svg>'\n")
    monkeypatch.setattr(dot, "PROGRESS_DELAY", 0.3)
    monkeypatch.setattr(dot, "PROGRESS_INTERVAL", 0.3)
    heard: list[str] = []
    dot.run(SMALL, "svg", timeout=None, progress=heard.append, size_hint=254)
    assert heard[0] == "laying out 254 nodes and edges with dot; this may take a while (no time limit)"
    assert len(heard) >= 2 and all(m.startswith("still laying out: ") for m in heard[1:])


def test_a_layout_long_for_the_ranks_its_edges_span_says_why(tmp_path, monkeypatch):
    """A 1,000-layer net drawn whole, one stacked weight read by every layer: "still laying out" for
    2 min 17 s, never saying why."""
    install_fake_dot(tmp_path, monkeypatch, "cat > /dev/null; echo '<svg></svg>'\n")
    heard: list[str] = []
    dot.run(SMALL, "svg", timeout=300, progress=heard.append, size_hint=3000, spanned=999_000)
    assert heard == ["laying out 3000 nodes and edges with dot; its edges span 999,000 ranks (a value read by "
                     "layers or steps far apart, drawn whole), and dot's time and memory grow with them "
                     f"({dot.SPANNED_EXAMPLE}) (time limit 300 s); drawn folded, or with its groups collapsed, "
                     "it takes a moment"]
    heard.clear()
    dot.run(SMALL, "svg", timeout=None, progress=heard.append, size_hint=900, spanned=dot.SPANNED_THRESHOLD)
    assert heard and "span 20,000 ranks" in heard[0] and heard[0].endswith("(no time limit); drawn folded, or "
                                                                            "with its groups collapsed, it takes a moment")
    heard.clear()  # below the threshold: nothing said while dot is quick
    dot.run(SMALL, "svg", timeout=None, progress=heard.append, size_hint=900, spanned=dot.SPANNED_THRESHOLD - 1)
    assert heard == []


def test_a_layout_tried_in_two_parts_is_announced_once_with_the_whole_time_limit(tmp_path, monkeypatch):
    """The main chain grouped among frames: the first try gets 10 s, the second the rest. The
    announcement named "time limit 10 s" (the layout would outrun it), then came again."""
    from graphviz_bp.drawing import render as render_mod

    install_fake_dot(tmp_path, monkeypatch, "cat > /dev/null; sleep 0.6; echo '<svg></svg>'\n")
    monkeypatch.setattr(render_mod, "HINTED", 0.3)
    monkeypatch.setattr(dot, "PROGRESS_INTERVAL", 0.25)
    source = ("digraph { graph [rankdir=TB]\n\tsubgraph cluster_s1 {\n\t\ta [label=x group=chain]\n\t}\n"
              + "".join(f"\tn{k} [label=x]\n" for k in range(dot.PROGRESS_THRESHOLD)) + "}\n")
    heard: list[str] = []
    render_mod.pipe(source, "svg", timeout=30, progress=heard.append)
    assert heard[0] == (f"laying out {dot.PROGRESS_THRESHOLD} nodes and edges with dot; this may take a while "
                        "(time limit 30 s)")
    assert [m for m in heard if m.startswith("laying out")] == heard[:1]  # said once
    later = [float(m.split(": ")[1][:-2]) for m in heard[1:]]
    assert later and all(m.startswith("still laying out: ") for m in heard[1:])
    assert later == sorted(later) and later[-1] >= 0.5  # counted from the first try's start


def test_wrapper_runs_dot_with_its_arguments(tmp_path, dot_executable):
    script = dot.wrapper(tmp_path / "bin", timeout=60)
    assert os.access(script, os.X_OK) and script.parent == tmp_path / "bin"
    assert dot.wrapper(tmp_path / "bin", timeout=60) == script  # idempotent
    assert dot.wrapper(tmp_path / "bin", timeout=61) != script
    out = tmp_path / "g.svg"
    done = subprocess.run([str(script), "-Tsvg", f"-o{out}"], input=SMALL, capture_output=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"<?xml") and b">b</text>" in out.read_bytes()
    bad = subprocess.run([str(script), "-Tsvg"], input=b"digraph {", capture_output=True)
    assert bad.returncode == 1 and b"syntax error" in bad.stderr  # dot's own status and message


def test_wrapper_stops_a_slow_dot(tmp_path, monkeypatch):
    bindir = install_fake_dot(tmp_path, monkeypatch, "exec sleep 60\n")
    script = dot.wrapper(tmp_path / "bin", timeout=1, dot=str(bindir / "dot"))
    start = time.monotonic()
    try:
        done = subprocess.run([str(script), "-Tsvg", "-oout.svg"], input=SMALL, capture_output=True,
                              cwd=tmp_path, timeout=60)
        assert time.monotonic() - start < 30
        assert done.returncode == 1
        assert done.stderr.decode() == ("dot did not finish within 1 s (raise :timeout: or "
                                        "backprop_graph_timeout in conf.py)\n")
        assert not alive(read_pid(bindir))
    finally:
        kill_if_alive(read_pid(bindir))


def test_killing_the_wrappers_parent_kills_wrapper_and_dot(tmp_path, monkeypatch):
    bindir = install_fake_dot(tmp_path, monkeypatch, "exec sleep 60\n")
    script = dot.wrapper(tmp_path / "bin", timeout=120, dot=str(bindir / "dot"))
    # the parent (standing in for Sphinx) runs the wrapper, which runs dot
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess; subprocess.run([{str(script)!r}])"],
                              stdin=subprocess.DEVNULL)
    try:
        pid = read_pid(bindir)
        parent.kill()
        parent.wait()
        assert wait_gone(pid), "dot outlived Sphinx"
    finally:
        parent.kill()
        parent.wait()
        kill_if_alive(read_pid(bindir))


def test_dots_node_dump_after_a_ranking_failure_is_left_out_of_the_message():
    from graphviz_bp.dot import _one_line

    assert _one_line(b"Error: trouble in init_rank\n\t%0 2\n\t%0 10\n\t%0 27\n") == "Error: trouble in init_rank"


def test_a_bitmap_graphviz_had_to_shrink_is_warned_of(dot_executable):
    """A PNG past cairo's 32,767 pixels was scaled down (to 165 px wide, unreadable) and dot's notice dropped."""
    with pytest.warns(UserWarning, match=r"too large for a PNG bitmap: Graphviz scaled it by 0\.\d+ .* write SVG"):
        out = dot.run(b"digraph { a [width=600 height=1 fixedsize=true] }", "png", renderer="cairo")
    assert out.startswith(b"\x89PNG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a bitmap that fits: nothing said
        dot.run(b"digraph { a }", "png", renderer="cairo")
