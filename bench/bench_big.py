"""Benchmark (not a test): big graphs end to end, trace -> SVG, against torchviz in the same process.

    python bench/bench_big.py [--depths 10 100 1000 10000] [--unfolded 1000] [--steps 100]
                              [--repeat 3] [--seconds 60] [--torchviz-limit 60] [--no-torchviz]
                              [--keep DIR]

Models: the tanh MLP of bench/bench_mlp.py (width 64, batch 8, ``h = tanh(W_i @ h + b_i)``, loss
``0.5*sum(h**2)``), and an RNN unrolled over ``--steps`` steps (``h = tanh(W @ h + U @ x_t)``,
hidden 32, input 8, ``h`` starting at zeros, same loss). Measured, each the best of up to
``--repeat`` runs (no new run is started once ``--seconds`` have gone on one measurement):

- NumPy: the hand-written forward + backward of bench_mlp.by_hand;
- trace+backward: ``gb.trace(...)`` (forward and backward, every edge's message kept);
- graphviz_bp -> SVG: ``gb.trace(...)`` then ``g.render("x.svg")`` with the default options (a
  drawing past about 150 nodes is folded and collapsed), or ``fold=False, depth=None`` (every node
  drawn) for the ``--unfolded`` depths; the SVG's size, the nodes it draws (the legend not counted)
  and its canvas (the SVG's width and height, pt -> inches);
- torchviz -> SVG: the same model in torch (float64, the same values), ``make_dot(loss,
  params=...)`` (no backward call), and Graphviz on its source: what ``.pipe(format="svg")`` runs
  (``dot -Kdot -Tsvg``, the source on stdin), called here directly so that it can be stopped after
  ``--torchviz-limit`` seconds; the torch forward is counted, as the trace is for graphviz_bp.
  Without torch or torchviz those columns say "not installed".

Prints Markdown: a table for the MLP, one for the other drawings, and the targets of issue 13
(met or not met). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import graphviz_bp as gb  # noqa: E402
from bench_mlp import by_hand, make_params, mlp  # noqa: E402

HIDDEN, INPUT = 32, 8
NOT_INSTALLED = "not installed"

#: a drawn node's group in the SVG; the legend is a node too and is not counted
_NODE = re.compile(r'<g id="[^"]*" class="node(?: (?![^"]*\blegend\b)[^"]*)?"')
_CANVAS = re.compile(rb'<svg\b[^>]*?\bwidth="([\d.]+)pt" height="([\d.]+)pt"')


# ------------------------------------------------------------------------------------------- models
def make_rnn(steps: int, rng: np.random.Generator) -> tuple[Callable[..., Any], dict[str, np.ndarray]]:
    inputs = {"W": rng.normal(size=(HIDDEN, HIDDEN)) / np.sqrt(HIDDEN),
              "U": rng.normal(size=(HIDDEN, INPUT)) / np.sqrt(INPUT),
              "xs": rng.normal(size=(steps, INPUT))}

    def rnn(W, U, xs):
        h = np.zeros(HIDDEN)
        for t in range(steps):
            h = np.tanh(W @ h + U @ xs[t])
        return 0.5 * np.sum(h ** 2)
    return rnn, inputs


def torch_mlp(torch: Any, inputs: dict[str, np.ndarray], depth: int) -> tuple[Any, dict[str, Any]]:
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    h = tp["X"]
    for i in range(depth):
        h = torch.tanh(tp[f"W{i}"] @ h + tp[f"b{i}"])
    return 0.5 * torch.sum(h ** 2), tp


def torch_rnn(torch: Any, inputs: dict[str, np.ndarray], steps: int) -> tuple[Any, dict[str, Any]]:
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    h = torch.zeros(HIDDEN, dtype=torch.float64)
    for t in range(steps):
        h = torch.tanh(tp["W"] @ h + tp["U"] @ tp["xs"][t])
    return 0.5 * torch.sum(h ** 2), tp


# ---------------------------------------------------------------------------------------- measuring
def best_of(fn: Callable[[], Any], repeat: int, seconds: float) -> tuple[float, Any, int]:
    """The shortest time of up to ``repeat`` runs of ``fn`` (at least one; none started once
    ``seconds`` have gone), what the last run returned, and the number of runs. Garbage is
    collected between runs, untimed."""
    times: list[float] = []
    result = None
    spent = 0.0
    while not times or (len(times) < repeat and spent < seconds):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
    return min(times), result, len(times)


def svg_facts(svg: bytes) -> dict[str, Any]:
    m = _CANVAS.search(svg)
    canvas = (float(m.group(1)) / 72, float(m.group(2)) / 72) if m else None
    return {"bytes": len(svg), "nodes": len(_NODE.findall(svg.decode("utf-8", "replace"))),
            "canvas": canvas}


def graphviz_bp_svg(loss: Callable[..., Any], inputs: dict[str, np.ndarray], path: Path,
                    repeat: int, seconds: float, **options: Any) -> dict[str, Any]:
    def run() -> None:
        g = gb.trace(loss, **inputs)
        g.render(path, **options)
    t, _, runs = best_of(run, repeat, seconds)
    return {"seconds": t, "runs": runs, "repeat": repeat, "nodes_traced": len(gb.trace(loss, **inputs).nodes),
            **svg_facts(path.read_bytes())}


def _with_deep_stack(fn: Callable[[], Any], depth: int) -> Any:
    """``fn()`` in a thread with a large stack and recursion limit: make_dot recurses once per
    autograd node."""
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # handed to the caller
            error.append(exc)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * depth + 1000))
    size = threading.stack_size(512 * 2 ** 20)
    try:
        worker = threading.Thread(target=target)
        worker.start()
        worker.join()
    finally:
        threading.stack_size(size)
        sys.setrecursionlimit(limit)
    if error:
        raise error[0]
    return result[0]


def torchviz_svg(build: Callable[[Any], tuple[Any, dict[str, Any]]], depth: int, repeat: int,
                 seconds: float, limit: float) -> dict[str, Any]:
    """torchviz on the model ``build(torch)`` makes: {"seconds", "bytes", "nodes", "canvas"}, or
    {"skipped": why}."""
    try:
        import torch
        from torchviz import make_dot
    except ImportError:
        return {"skipped": NOT_INSTALLED}

    def run() -> bytes:
        loss, params = build(torch)
        source = make_dot(loss, params=params).source
        return subprocess.run(["dot", "-Kdot", "-Tsvg"], input=source.encode("utf-8"),
                              capture_output=True, check=True, timeout=limit).stdout
    try:
        t, svg, runs = _with_deep_stack(lambda: best_of(run, repeat, seconds), depth)
    except subprocess.TimeoutExpired:
        return {"skipped": f"stopped after {limit:g} s"}
    return {"seconds": t, "runs": runs, "repeat": repeat, **svg_facts(svg)}


# ------------------------------------------------------------------------------------------ writing
def fmt_s(t: float) -> str:
    return f"{t * 1e3:.3g} ms" if t < 1 else f"{t:.2f} s" if t < 10 else f"{t:.1f} s"


def fmt_bytes(n: int) -> str:
    return f"{n / 1e3:.0f} kB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def fmt_canvas(canvas: tuple[float, float] | None) -> str:
    return "—" if canvas is None else f"{canvas[0]:,.0f} × {canvas[1]:,.0f} in"


def drawing_cells(r: dict[str, Any], canvas: bool = True) -> list[str]:
    if "skipped" in r:
        return [r["skipped"]] + ["—"] * (3 if canvas else 2)
    runs = r["runs"]
    few = f" ({runs} run{'s' if runs > 1 else ''})" if runs < r["repeat"] else ""
    cells = [fmt_s(r["seconds"]) + few, fmt_bytes(r["bytes"]), f"{r['nodes']:,}"]
    return cells + [fmt_canvas(r["canvas"])] if canvas else cells


def table(cols: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--unfolded", type=int, nargs="*", default=[1000],
                        help="MLP depths also drawn with fold=False, depth=None")
    parser.add_argument("--steps", type=int, default=100, help="RNN steps (0: no RNN)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement, at most")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="no new run of a measurement is started after this many seconds on it")
    parser.add_argument("--torchviz-limit", type=float, default=60.0,
                        help="seconds Graphviz may take on torchviz's drawing; larger depths are skipped once hit")
    parser.add_argument("--no-torchviz", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the SVGs graphviz_bp draws in this folder")
    args = parser.parse_args()

    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory()
    folder = args.keep or Path(tmp.name)
    rep, sec = args.repeat, args.seconds
    torchviz_off: str | None = "not run" if args.no_torchviz else None

    mlp_too_big = False  # torchviz's drawing of a shallower MLP was stopped

    def torchviz(build: Callable[[Any], tuple[Any, dict[str, Any]]], depth: int, is_mlp: bool) -> dict[str, Any]:
        nonlocal torchviz_off, mlp_too_big
        if torchviz_off:
            return {"skipped": torchviz_off}
        if is_mlp and mlp_too_big:
            return {"skipped": f"not run (> {args.torchviz_limit:g} s at a smaller depth)"}
        r = torchviz_svg(build, depth, rep, sec, args.torchviz_limit)
        if r.get("skipped") == NOT_INSTALLED:
            torchviz_off = NOT_INSTALLED
        elif "skipped" in r and is_mlp:
            mlp_too_big = True
        return r

    rng = np.random.default_rng(0)
    mlp_rows: list[list[str]] = []
    other_rows: list[list[str]] = []
    facts: dict[int, Any] = {}
    for depth in args.depths:
        params = make_params(depth, rng)
        loss = mlp(depth)
        log(f"MLP depth {depth}: NumPy, trace+backward")
        g = gb.trace(loss, **params)  # the two agree before they are timed
        for k, v in by_hand(params, depth).items():
            np.testing.assert_allclose(g.grad(k), v, rtol=1e-9, atol=1e-12)
        del g
        t_np = best_of(lambda: by_hand(params, depth), max(rep, 5), sec)[0]
        t_tb = best_of(lambda: gb.trace(loss, **params), max(rep, 5), sec)[0]
        log(f"MLP depth {depth}: graphviz_bp -> SVG")
        ours = graphviz_bp_svg(loss, params, folder / f"mlp_{depth}.svg", rep, sec)
        log(f"MLP depth {depth}: torchviz")
        theirs = torchviz(lambda torch: torch_mlp(torch, params, depth), depth, True)
        facts[depth] = {"numpy": t_np, "trace": t_tb, "ours": ours, "theirs": theirs}
        mlp_rows.append([f"{depth:,} ({ours['nodes_traced']:,})", fmt_s(t_np), fmt_s(t_tb),
                         f"{t_tb / t_np:.2f}×", *drawing_cells(ours), *drawing_cells(theirs, canvas=False)])
        if depth in args.unfolded:
            log(f"MLP depth {depth}: graphviz_bp -> SVG, fold=False, depth=None")
            flat = graphviz_bp_svg(loss, params, folder / f"mlp_{depth}_unfolded.svg", rep, sec,
                                   fold=False, depth=None)
            facts[depth]["unfolded"] = flat
            other_rows.append([f"MLP, depth {depth:,}, `fold=False, depth=None`", f"{flat['nodes_traced']:,}",
                               *drawing_cells(flat), "(torchviz does not fold: as in the MLP table)"])
    if args.steps:
        log(f"RNN, {args.steps} steps")
        loss, inputs = make_rnn(args.steps, rng)
        ours = graphviz_bp_svg(loss, inputs, folder / f"rnn_{args.steps}.svg", rep, sec)
        theirs = torchviz(lambda torch: torch_rnn(torch, inputs, args.steps), args.steps, False)
        other_rows.append([f"RNN, {args.steps} steps, default options", f"{ours['nodes_traced']:,}",
                           *drawing_cells(ours), " · ".join(drawing_cells(theirs, canvas=False))])

    tv = "torchviz (not installed)" if torchviz_off == NOT_INSTALLED else "torchviz"
    print(f"tanh MLP, width 64, batch 8; best of up to {rep} runs (5 for NumPy and trace+backward); "
          f"numpy {np.__version__}\n")
    print(table(["depth (nodes traced)", "NumPy fwd+bwd by hand", "trace+backward", "ratio",
                 "graphviz_bp → SVG", "SVG", "nodes drawn", "canvas",
                 f"{tv} → SVG", "SVG", "nodes drawn"], mlp_rows))
    if other_rows:
        print()
        print(table(["drawing", "nodes traced", "graphviz_bp → SVG", "SVG", "nodes drawn", "canvas",
                     f"{tv} → SVG · SVG · nodes drawn"], other_rows))
    print()
    for line in targets(facts):
        print(line)
    tmp.cleanup()


def targets(facts: dict[int, dict[str, Any]]) -> list[str]:
    """Issue 13's targets, each met or not met, for the depths measured."""
    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"
    out = []
    if 1000 in facts:
        r = facts[1000]["ours"]
        out.append(f"- 1000-layer MLP, trace → SVG at most 3 s: {fmt_s(r['seconds'])}, {verdict(r['seconds'] <= 3)}")
        out.append(f"- 1000-layer MLP, SVG under 1 MB: {fmt_bytes(r['bytes'])}, {verdict(r['bytes'] < 1e6)}")
    if 10000 in facts:
        r = facts[10000]
        ratio = r["trace"] / r["numpy"]
        out.append(f"- 10,000-layer MLP, trace → SVG at most 10 s: {fmt_s(r['ours']['seconds'])}, "
                   f"{verdict(r['ours']['seconds'] <= 10)}")
        out.append(f"- 10,000-layer MLP, trace+backward at most 2.5× NumPy: {ratio:.2f}×, {verdict(ratio <= 2.5)}")
    for depth, r in facts.items():
        if "unfolded" in r:
            flat = r["unfolded"]
            out.append(f"- {depth}-layer MLP unfolded (`fold=False`): {fmt_s(flat['seconds'])}, "
                       f"{fmt_bytes(flat['bytes'])}, canvas {fmt_canvas(flat['canvas'])}")
    return out


if __name__ == "__main__":
    main()
