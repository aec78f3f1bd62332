"""Running Graphviz's ``dot``: a time limit, checked output, progress, dying with its parent, a Sphinx wrapper."""

from __future__ import annotations

import hashlib
import html
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from .errors import GraphvizBPError
from .files import write_atomic

__all__ = ["DEFAULT_TIMEOUT", "GraphvizNotFoundError", "RenderError", "RenderTimeoutError", "fit_svg_text",
           "run", "wrapper", "wrapper_main"]

#: Seconds dot may take by default; None or 0 means no limit.
DEFAULT_TIMEOUT = 300.0
#: Nodes plus edges from which progress is reported as dot starts: with dot 2.43 a deep net of 3,000
#: nodes drawn whole (6,000 items) took 2.9 s, one of 5,000 6.5 s; denser drawings of that size take longer
#: (a 48-block GPT drawn whole, 7,900 items, 38 s).
PROGRESS_THRESHOLD = 6_000
#: Ranks spanned by a graph's edges past their first (dot's virtual nodes) from which progress is
#: reported as dot starts: a 100-layer net drawn whole with one stacked weight read by every layer
#: spans 29,800 (2.5 s), 200 layers 119,600 (12 s, 0.8 GB)
SPANNED_THRESHOLD = 20_000
#: Seconds after which a smaller graph is reported too: layout time is not size alone (50 steps
#: sharing one weight, 254 items, took 10 s; 25 steps took 0.2 s).
PROGRESS_DELAY = 5.0
#: Seconds between "still laying out" reports.
PROGRESS_INTERVAL = 20.0
_STDERR_CHARS = 300


class GraphvizNotFoundError(GraphvizBPError, RuntimeError):
    """Graphviz's ``dot`` executable is not installed (or not on PATH)."""


class RenderError(GraphvizBPError, RuntimeError):
    """``dot`` ran but failed, or printed something that is not the asked-for format."""


class RenderTimeoutError(RenderError):
    """``dot`` did not finish within the time limit (and was stopped)."""


INSTALL_HINT = ("Graphviz's 'dot' executable was not found on PATH; graphviz_bp needs it to draw. "
                "Install Graphviz: 'sudo apt-get install graphviz fonts-dejavu-core' (Debian/Ubuntu), "
                "'brew install graphviz' (macOS), 'conda install -c conda-forge graphviz', or see "
                "https://graphviz.org/download/ — then check that 'dot -V' works. "
                "to_dot() needs no Graphviz.")


def _limit(timeout: float | None) -> float | None:
    if timeout is None or timeout == 0:
        return None
    if not timeout > 0:  # also NaN
        raise ValueError(f"timeout must be a positive number of seconds, or 0 or None for no limit; got {timeout!r}")
    return float(timeout)


def _seconds(limit: float | None) -> str:
    return "no time limit" if limit is None else f"time limit {limit:g} s"


_SAME: Any = object()  # run's ``said``: the timeout itself


def run(source: bytes, fmt: str, *, renderer: str | None = None, timeout: float | None = DEFAULT_TIMEOUT,
        progress: Callable[[str], None] | None = None, size_hint: int = 0, spanned: int = 0,
        said: float | None = _SAME, begun: float | None = None, told: bool = False) -> bytes:
    """Run ``dot -T{fmt}[:renderer]`` on ``source`` and return its checked output.

    ``timeout`` seconds (None or 0: no limit) bound the run: past it dot is killed and
    RenderTimeoutError raised. ``size_hint`` is the graph's number of nodes plus edges: from
    PROGRESS_THRESHOLD on (or ``spanned``, the ranks its edges span past their first, from
    SPANNED_THRESHOLD on), ``progress`` is told as dot starts that layout may take a while (any
    graph still laying out after PROGRESS_DELAY seconds is told then), and every PROGRESS_INTERVAL
    seconds after that it goes on. dot's warnings on success are dropped, but for a bitmap it had to
    shrink (a UserWarning); its failure is one RenderError line.

    A layout tried in parts (a first try given part of the time): ``said`` is the time limit the
    messages name (the whole, not this try's part); a later try gets ``begun`` (``time.monotonic()``
    as the first began: "still laying out" counts from there) and ``told`` (the first said it
    starts: not said again).
    """
    limit = _limit(timeout)
    named = limit if said is _SAME else _limit(said)
    exe = shutil.which("dot")  # PATH as it is now
    if exe is None:
        raise GraphvizNotFoundError(INSTALL_HINT)
    flag = f"-T{fmt}:{renderer}" if renderer else f"-T{fmt}"
    try:
        proc = subprocess.Popen([exe, flag], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, preexec_fn=_die_with_parent(), start_new_session=True)
    except OSError as exc:
        raise GraphvizNotFoundError(f"{INSTALL_HINT} (running {exe!r} failed: {exc.strerror or exc})") from None
    out, err = _wait(proc, source, limit, progress, size_hint, spanned if spanned >= SPANNED_THRESHOLD else 0,
                     named, begun, told)
    if proc.returncode != 0:
        raise RenderError(f"dot {flag} {_failure(proc.returncode)}: {_one_line(err) or 'no message'}")
    problem = _check_output(fmt, out)
    if problem:
        raise RenderError(f"dot {flag} produced no valid {problem} (it printed: {_excerpt(out, err)})")
    scaled = _SCALED.search(err)
    if scaled:  # (dot's other warnings on success are dropped: this one changes what is written)
        warnings.warn(f"the drawing is too large for a {fmt.upper()} bitmap: Graphviz scaled it by "
                      f"{scaled.group(1).decode()} to fit, which may leave its text unreadable; write SVG or PDF "
                      "instead", UserWarning, stacklevel=2)
    return out


_SCALED = re.compile(rb"too large for cairo-renderer bitmaps\. Scaling by ([0-9.]+)")


def _wait(proc: subprocess.Popen[bytes], source: bytes, limit: float | None,
          report: Callable[[str], None] | None, size_hint: int, long: int = 0, named: float | None = None,
          begun: float | None = None, told: bool = False) -> tuple[bytes, bytes]:
    """dot's stdout and stderr once it exits; killed and reaped on timeout or on any exception
    (``long``: the ranks the graph's edges span, when that is what makes the layout long; ``named``,
    ``begun``, ``told``: see ``run``)."""
    start = time.monotonic()
    since = start if begun is None else begun
    deadline = None if limit is None else start + limit
    announced = report is not None and (told or size_hint >= PROGRESS_THRESHOLD or long > 0)
    next_report = start + (PROGRESS_INTERVAL if announced else PROGRESS_DELAY)
    data: bytes | None = source
    try:
        if announced and not told:
            report(_announcement(size_hint, named, long))
        while True:
            now = time.monotonic()
            waits = [t - now for t in (deadline, next_report if report else None) if t is not None]
            try:
                return proc.communicate(data, timeout=max(min(waits), 0.0) if waits else None)
            except subprocess.TimeoutExpired:
                data = None  # sent (or being sent); communicate keeps it across retries
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    raise RenderTimeoutError(
                        f"dot did not finish within {limit:g} s laying out "
                        f"{f'{size_hint} nodes and edges' if size_hint else 'the graph'}; raise the limit with "
                        "--timeout (timeout= in the API, :timeout: in Sphinx) or draw less") from None
                if report is not None and now >= next_report:
                    report(f"still laying out: {now - since:.0f} s" if announced else
                           _announcement(size_hint, named, long))
                    announced = True
                    next_report = now + PROGRESS_INTERVAL
    except BaseException:
        _stop(proc)
        raise


def _announcement(size_hint: int, limit: float | None, spanned: int = 0) -> str:
    """What stderr hears as a long layout starts; for one whose edges span many ranks, why, and a
    measured example of what that costs (``SPANNED_EXAMPLE``: the cost per rank varies tenfold
    with the drawing, so no estimate is made)."""
    what = f"{size_hint} nodes and edges" if size_hint else "the graph"
    if spanned:
        return (f"laying out {what} with dot; its edges span {spanned:,} ranks (a value read by layers or steps "
                f"far apart, drawn whole), and dot's time and memory grow with them ({SPANNED_EXAMPLE}) "
                f"({_seconds(limit)}); drawn folded, or with its groups collapsed, it takes a moment")
    return f"laying out {what} with dot; this may take a while ({_seconds(limit)})"


#: A layout's cost for the ranks its edges span, measured with dot 2.43: a 400-layer net drawn whole,
#: one stacked weight read by every layer (``for W in Ws``); 1,000 such layers, 999,000 ranks, took 137 s
SPANNED_EXAMPLE = "159,600 ranks took 11 s and 1.1 GB"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill and reap ``proc`` and its process group (dot runs in a session of its own, so a
    wrapper script's children go too), closing its pipes (a grandchild holding them cannot make us wait)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, AttributeError):
        try:
            proc.kill()
        except OSError:
            pass
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def _failure(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"failed (exit {returncode})"


_NODE_DUMP = re.compile(r"%\d+ \d+")


def _one_line(stderr: bytes) -> str:
    """dot's messages on one short line: the first lines, control characters dropped, cut at ~300 chars."""
    head = stderr[: _STDERR_CHARS * 4].decode("utf-8", "replace")
    lines = [" ".join("".join(c if c.isprintable() else " " for c in ln).split()) for ln in head.splitlines()]
    # ("trouble in init_rank" is followed by lines such as "%0 27" per node: no help to a reader)
    text = " / ".join(ln for ln in lines if ln and not _NODE_DUMP.fullmatch(ln))
    if len(text) > _STDERR_CHARS or len(stderr) > _STDERR_CHARS * 4:
        text = text[:_STDERR_CHARS].rstrip() + " …"
    return text


def _excerpt(out: bytes, err: bytes) -> str:
    if not out:
        return f"nothing; {_one_line(err)}" if err.strip() else "nothing"
    text = "".join(c if c.isprintable() else "?" for c in out[:80].decode("utf-8", "replace"))
    return repr(text + ("..." if len(out) > 80 else ""))


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _check_output(fmt: str, out: bytes) -> str | None:
    """The name of the format ``out`` fails to be, or None when it looks whole."""
    if fmt == "svg":
        if not out.lstrip().startswith((b"<?xml", b"<svg", b"<!DOCTYPE")) or not out.rstrip().endswith(b"</svg>"):
            return "SVG"
    elif fmt == "pdf":
        if not out.startswith(b"%PDF-") or b"%%EOF" not in out[-1024:]:
            return "PDF"
    elif fmt == "png":
        if not out.startswith(b"\x89PNG\r\n\x1a\n") or not out.endswith(_PNG_END):
            return "PNG"
    elif not out:
        return fmt.upper()
    return None


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn making the child get SIGKILL when our thread dies (Linux prctl), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork, only called after
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _set_own_death_signal() -> None:
    """Make this process get SIGKILL when its parent dies (the wrapper under Sphinx), on Linux."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


# --- text in SVG, as dot measured it -----------------------------------------------------------

_TEXT = re.compile(rb'<text ([^>]*?)font-family="([^"]*)"((?: font-weight="bold")?)((?: font-style="italic")?) '
                   rb'font-size="([0-9.]+)"')  # (the match ends with the size's closing quote)


def fit_svg_text(svg: bytes) -> bytes:
    """dot's SVG with each text's font size made as much smaller as dot measured such text short.
    dot measures text with its advances rounded to whole pixels (Graphviz's Pango layout hints
    metrics), browsers and librsvg draw it unrounded: DejaVu Sans digits at 10 pt are drawn 5 %
    wider than measured, and the widest line of a label ran past its box ("range [−0.0692,
    0.0487]", a strip of message norms). Each size, weight and style is measured once, by dot,
    against its measure at 100 pt (``_shortfall``)."""
    styles = {(m[2].decode(), bool(m[3]), bool(m[4]), float(m[5])) for m in _TEXT.finditer(svg)}
    factors = _shortfall(frozenset(styles))
    if all(f == 1.0 for f in factors.values()):
        return svg

    def fitted(m: re.Match[bytes]) -> bytes:
        size = float(m[5])
        factor = factors.get((m[2].decode(), bool(m[3]), bool(m[4]), size), 1.0)
        return m[0] if factor == 1.0 else m[0][:m.start(5) - m.start(0)] + f'{size * factor:.2f}"'.encode()
    return _TEXT.sub(fitted, svg)


# text that labels carry: digits and brackets (dot measures them shortest), words, symbols, a strip
_SAMPLES = ("range [−0.0692, 0.0487] norm 22.9, 0.0378", "largest messages: m₄₁ ‖0.0378‖, m₃₉",
            "∂L/∂W0 = Σ of 100 messages m₁ … m₁₀₀ ℝ⁶⁴ˣ⁸", "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "‖m‖ by use 0▁▂▃▄▅▆▇█████ (·) ÷ × ⊙ − + @ [0] … [99]")
_FACTORS: dict[tuple[str, bool, bool, float], float] = {}


def _shortfall(styles: frozenset[tuple[str, bool, bool, float]]) -> dict[tuple[str, bool, bool, float], float]:
    """For each (font, bold, italic, size) of ``styles``: the least, over ``_SAMPLES``, of the width
    dot measures for the text at that size over its width measured at 100 pt and scaled (where
    rounding to pixels is a hundredth of a pixel a letter, no more), at most 1; a little less for
    dot's own rounding of a width to points. Asked of dot once per process for each style; 1 where
    dot cannot say."""
    new = sorted(styles - _FACTORS.keys())
    if new:
        lines = ["digraph {", "\tnode [shape=plaintext margin=0]"]
        for k, (font, bold, italic, size) in enumerate(new):
            for j, sample in enumerate(_SAMPLES):
                text = html.escape(sample).replace("]", "&#93;")
                text = f"<I>{text}</I>" if italic else text
                text = f"<B>{text}</B>" if bold else text
                for tag, points in (("s", size), ("r", 100)):
                    lines.append(f'\t{tag}{k}_{j} [fontname="{html.escape(font)}" fontsize={points:g} label=<{text}>]')
        lines.append("}")
        try:
            xdot = run("\n".join(lines).encode("utf-8"), fmt="xdot", timeout=30).decode("utf-8")
        except Exception:  # noqa: BLE001 - dot could not say (not run, failed): the text as it is
            xdot = ""
        widths = {m[1]: float(m[2]) for m in re.finditer(r'(?m)^\t([sr]\d+_\d+)\s+\[_ldraw_="[^"]*? T [-\d.]+ '
                                                          r'[-\d.]+ -?\d+ ([\d.]+) ', xdot)}
        for k, style in enumerate(new):
            ratios = [widths[f"s{k}_{j}"] / (widths[f"r{k}_{j}"] * style[3] / 100) - 0.5 / widths[f"s{k}_{j}"]
                      for j in range(len(_SAMPLES)) if widths.get(f"s{k}_{j}") and widths.get(f"r{k}_{j}")]
            _FACTORS[style] = min([1.0, *ratios]) if len(ratios) == len(_SAMPLES) else 1.0
    return {style: _FACTORS[style] for style in styles}


def wrapper(directory: Path, timeout: float | None, dot: str = "dot") -> Path:
    """An executable in ``directory`` that runs ``dot`` with its arguments under ``timeout`` seconds.

    For tools that run dot themselves (``sphinx.ext.graphviz``): set their dot command to this path.
    Written once (atomically) per Python, dot and timeout; its name is a hash of its content.
    """
    lines = [
        f"# graphviz_bp: runs {dot!r} with a time limit of {timeout!r} s (see graphviz_bp.dot.wrapper)",
        "import sys",
        f"sys.path.append({str(Path(__file__).resolve().parent.parent)!r})",
        "from graphviz_bp.dot import wrapper_main",
        f"sys.exit(wrapper_main({dot!r}, {timeout!r}, sys.argv[1:]))",
    ]
    python = sys.executable
    if len(python) < 120 and not any(c.isspace() for c in python):
        head = f"#!{python}"
    else:  # a shebang cannot hold it: sh runs python, and python reads the exec line as a string
        head = f"#!/bin/sh\n\"exec\" {shlex.quote(python)} \"$0\" \"$@\""
    text = "\n".join([head, *lines, ""]).encode("utf-8")
    path = Path(directory) / f"gbp-dot-{hashlib.sha256(text).hexdigest()[:12]}"
    try:
        if path.read_bytes() == text and os.access(path, os.X_OK):
            return path
    except OSError:
        pass
    Path(directory).mkdir(parents=True, exist_ok=True)
    write_atomic(path, text, mode=0o777)
    if not os.access(path, os.X_OK):  # an older copy with its mode kept
        os.chmod(path, os.stat(path).st_mode | 0o111)
    return path


def wrapper_main(dot: str, timeout: float | None, argv: list[str]) -> int:
    """Run ``dot`` with ``argv`` (stdin, stdout and stderr passed through) under ``timeout``; its exit status.

    On timeout dot is killed and one line goes to stderr (exit 1); dot and this process die with
    their parent.
    """
    _set_own_death_signal()
    limit = _limit(timeout)
    exe = dot if os.sep in dot else shutil.which(dot)
    if exe is None:
        print(f"graphviz_bp: {INSTALL_HINT}", file=sys.stderr)
        return 127
    try:
        proc = subprocess.Popen([exe, *argv], preexec_fn=_die_with_parent(), start_new_session=True)
    except OSError as exc:
        print(f"graphviz_bp: cannot run {exe!r}: {exc.strerror or exc}", file=sys.stderr)
        return 127
    try:
        status = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        _stop(proc)
        print(f"dot did not finish within {limit:g} s (raise :timeout: or backprop_graph_timeout in conf.py)",
              file=sys.stderr)
        return 1
    except BaseException:
        _stop(proc)
        raise
    if status == 0:
        _fit_written_svg(argv)
    return status if status >= 0 else 128 - status


def _fit_written_svg(argv: list[str]) -> None:
    """After ``dot -Tsvg -o FILE`` (as sphinx.ext.graphviz runs it): FILE's text fitted as
    ``fit_svg_text`` fits it (left as dot wrote it where it cannot be read or written)."""
    formats = [a[2:] for a in argv if a.startswith("-T")]
    outputs = [a[2:] or (argv[k + 1] if k + 1 < len(argv) else "") for k, a in enumerate(argv) if a.startswith("-o")]
    if formats != ["svg"] or len(outputs) != 1 or not outputs[0]:
        return
    try:
        svg = Path(outputs[0]).read_bytes()
        fitted = fit_svg_text(svg)
        if fitted is not svg:
            write_atomic(Path(outputs[0]), fitted)
    except OSError:
        pass
