"""Benchmark (not a test): graph -> DOT text of a deep tanh MLP, per node, against torchviz in the same run.

    python bench/bench_draw.py [--depths 1 10 100 1000 10000] [--details default values structure]
                               [--seconds 2] [--no-torchviz] [--markdown]

The MLP of bench/bench_mlp.py (width 64, batch 8, ``h = tanh(W_i @ h + b_i)``, loss
``0.5*sum(h**2)``; about 5 nodes per layer). Only the drawing is timed, never the trace or the
backward pass: ``g.draw(detail=...).to_dot()`` (a fresh Drawing each time, so nothing of it is
reused; the drawing modules' memos of texts that recur, ``∂L/∂W =``, a shape, a style, stay filled
as in a session that has drawn before); the same with those memos emptied first ("first
µs/node": a session's first drawing, its tables of characters aside); and its two parts, annotate
(graph -> Scene, tooltips made when read) and render (Scene -> DOT text, every tooltip made; the
first render of a Scene, as to_dot does it). Every node is drawn:
where the drawing options fold repeats or collapse groups, the bench passes ``fold=False`` and
``depth=None``. Each time is the best of as many runs as fit in ``--seconds`` (at least three). The
last lines compare the time per node at the largest depth with that at depth 100 (about 500
nodes): 1.0 is linear growth.

When torch and torchviz are importable, torchviz's ``make_dot`` (and its ``.source``) is timed on
the same model and values, float64, for reference; it draws no values or messages.
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import graphviz_bp as gb  # noqa: E402
from bench_mlp import make_params, mlp  # noqa: E402
from graphviz_bp.drawing import annotate, fold, render, scene, structure, text  # noqa: E402
from graphviz_bp.symbolic import formulas  # noqa: E402
from graphviz_bp.drawing.options import OPTIONS  # noqa: E402

_DRAWING_MODULES = (annotate, fold, render, scene, structure, text, formulas)

#: draw every node: no folding of repeats, no collapsed groups (when the options exist)
UNFOLDED = {k: v for k, v in (("fold", False), ("depth", None)) if k in {o.name for o in OPTIONS}}


RUNS = 3  # at least: the first run of a big drawing pays for memory the process has not had yet


def best_of(fn, seconds: float) -> float:
    """The shortest of repeated runs of ``fn`` within about ``seconds`` (at least ``RUNS``: each
    size measured alike, a small drawing's runs by the dozen and a big one's as well as it can be);
    ``fn`` may return its own time (when part of what it does is not to be counted)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < RUNS or (time.perf_counter() - start < seconds and len(times) < 50):
        t0 = time.perf_counter()
        own = fn()
        times.append(own if isinstance(own, float) else time.perf_counter() - t0)
    return min(times)


def torchviz_time(params: dict[str, np.ndarray], depth: int, seconds: float) -> float | None:
    """Seconds for torchviz's make_dot(...).source on the same MLP, or None without torch/torchviz."""
    try:
        import torch
        from torchviz import make_dot
    except ImportError:
        return None
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = tp["X"]
    for i in range(depth):
        h = torch.tanh(tp[f"W{i}"] @ h + tp[f"b{i}"])
    loss = 0.5 * torch.sum(h ** 2)
    # make_dot recurses once per autograd node: give it the depth (and the stack) it needs
    result: list[float] = []
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * depth + 1000))
    size = threading.stack_size(512 * 2 ** 20)
    try:
        worker = threading.Thread(target=lambda: result.append(
            best_of(lambda: make_dot(loss, params=tp).source, seconds)))
        worker.start()
        worker.join()
    finally:
        threading.stack_size(size)
        sys.setrecursionlimit(limit)
    return result[0] if result else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 10, 100, 1000, 10000])
    parser.add_argument("--details", nargs="+", default=["default", "values"],
                        help="detail levels to time; 'default' is draw() without detail=")
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per measurement")
    parser.add_argument("--no-torchviz", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    cols = ["depth", "nodes", "detail", "to_dot ms", "µs/node", "first µs/node", "annotate µs/node",
            "render µs/node", "DOT MB"]
    if not args.no_torchviz:
        cols += ["torchviz ms", "torchviz µs/node"]
    print(f"tanh MLP, width 64, batch 8; graph -> DOT, best of runs within {args.seconds:g} s; "
          f"numpy {np.__version__}" + (f"; draw({', '.join(f'{k}={v}' for k, v in UNFOLDED.items())})"
                                       if UNFOLDED else ""))
    rows: list[list[str]] = []
    per_node: dict[tuple[str, int], float] = {}
    for depth in args.depths:
        params = make_params(depth, rng)
        g = gb.trace(mlp(depth), **params)
        n = len(g.nodes)
        tv = None if args.no_torchviz else torchviz_time(params, depth, args.seconds)
        for detail in args.details:
            kw = dict(UNFOLDED) if detail == "default" else {**UNFOLDED, "detail": detail}
            gc.collect()
            t_all = best_of(lambda: g.draw(**kw).to_dot(), args.seconds)
            t_first = best_of(lambda: _first_drawing(g, kw), args.seconds)
            t_ann = best_of(lambda: g.draw(**kw).scene(), args.seconds)
            t_ren = best_of(lambda: _render_fresh(g, kw), args.seconds)
            size = len(g.draw(**kw).to_dot().encode("utf-8")) / 1e6
            per_node[detail, depth] = t_all / n
            row = [str(depth), str(n), detail, f"{t_all * 1e3:.1f}", f"{t_all / n * 1e6:.1f}",
                   f"{t_first / n * 1e6:.1f}", f"{t_ann / n * 1e6:.1f}", f"{t_ren / n * 1e6:.1f}", f"{size:.2f}"]
            if not args.no_torchviz:
                row += ["—", "—"] if tv is None else [f"{tv * 1e3:.1f}", f"{tv / n * 1e6:.1f}"]
            rows.append(row)
            _print_row(row, cols, args.markdown, first=len(rows) == 1)
    for detail in args.details:
        depths = [d for d in args.depths if (detail, d) in per_node]
        base = 100 if 100 in depths else (depths[0] if depths else None)
        if base is not None and depths[-1] != base:
            ratio = per_node[detail, depths[-1]] / per_node[detail, base]
            print(f"{detail}: µs/node at depth {depths[-1]} vs depth {base}: {ratio:.2f}x (1.0 = linear)")


def _first_drawing(g, kw: dict) -> float:
    """Seconds for ``to_dot`` with the drawing modules' memos emptied first (their bounded
    ``functools.lru_cache``-s, the tables of lines and rows, the names found for the graph's values
    and the source lines read for them; not the unbounded tables of characters and layouts, built
    once per process); the emptying is not counted."""
    for module in _DRAWING_MODULES:
        for value in vars(module).values():
            params = getattr(value, "cache_parameters", None)
            if params is not None and params()["maxsize"] is not None:
                value.cache_clear()
    annotate._LINES.clear()
    render._ROWS.clear()
    formulas._NAMES.clear()  # (the names a graph's lines give its values, found once per graph)
    formulas._STARTS.clear()
    t0 = time.perf_counter()
    g.draw(**kw).to_dot()
    return time.perf_counter() - t0


def _render_fresh(g, kw: dict) -> float:
    """Seconds to render a Scene made just now (its tooltips not yet made), the collector paused as
    ``Drawing.to_dot`` pauses it; the Scene's making is not counted."""
    gc.disable()
    try:
        scene = g.draw(**kw).scene()
        t0 = time.perf_counter()
        render.to_dot(scene)
        return time.perf_counter() - t0
    finally:
        gc.enable()


def _print_row(row: list[str], cols: list[str], markdown: bool, first: bool) -> None:
    widths = [max(len(c), 8) for c in cols]
    if markdown:
        if first:
            print("| " + " | ".join(cols) + " |")
            print("|" + "|".join("---" for _ in cols) + "|")
        print("| " + " | ".join(row) + " |", flush=True)
    else:
        if first:
            print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)), flush=True)


if __name__ == "__main__":
    main()
