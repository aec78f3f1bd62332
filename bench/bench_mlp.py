"""Benchmark (not a test): trace + backward of a tanh MLP against hand-written NumPy, same process.

    python bench/bench_mlp.py [--depths 10 100 1000] [--repeat 5] [--no-autograd]

Width 64, batch 8. Prints best-of-N wall times (garbage collected between runs, untimed) and the
ratios to the hand-written NumPy forward + backward; graphviz_bp keeps every edge's message, the
hand-written code keeps only the gradients.
HIPS autograd (if installed) is timed on the same workload for reference.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import graphviz_bp as gb  # noqa: E402

WIDTH, BATCH = 64, 8


def make_params(depth: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    params = {"X": rng.normal(size=(WIDTH, BATCH))}
    for i in range(depth):
        params[f"W{i}"] = rng.normal(size=(WIDTH, WIDTH)) / np.sqrt(WIDTH)
        params[f"b{i}"] = rng.normal(size=(WIDTH, 1)) * 0.1
    return params


def mlp(depth: int):
    def loss(X, **p):
        h = X
        for i in range(depth):
            h = np.tanh(p[f"W{i}"] @ h + p[f"b{i}"])
        return 0.5 * np.sum(h ** 2)
    return loss


def by_hand(params: dict[str, np.ndarray], depth: int) -> dict[str, np.ndarray]:
    """Forward and backward of the same MLP, written out in NumPy."""
    hs = [params["X"]]
    for i in range(depth):
        hs.append(np.tanh(params[f"W{i}"] @ hs[-1] + params[f"b{i}"]))
    grads = {}
    dh = hs[-1]  # d(0.5*sum(h^2))/dh
    for i in reversed(range(depth)):
        dz = dh * (1 - hs[i + 1] ** 2)
        grads[f"W{i}"] = dz @ hs[i].T
        grads[f"b{i}"] = dz.sum(axis=1, keepdims=True)
        dh = params[f"W{i}"].T @ dz
    grads["X"] = dh
    return grads


def with_autograd(params: dict[str, np.ndarray], depth: int):
    import autograd
    import autograd.numpy as anp

    def loss(plist):
        h = plist[0]
        for i in range(depth):
            h = anp.tanh(plist[1 + 2 * i] @ h + plist[2 + 2 * i])
        return 0.5 * anp.sum(h ** 2)

    plist = [params["X"]] + [params[k] for i in range(depth) for k in (f"W{i}", f"b{i}")]
    return autograd.grad(loss)(plist)


def best_of(fn, repeat: int) -> float:
    """The shortest of ``repeat`` runs; garbage (the graphs of earlier runs, whose nodes and edges
    refer to each other) is collected before each, untimed, so that no run pays for another's."""
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-autograd", action="store_true")
    args = parser.parse_args()
    try:
        import autograd  # noqa: F401
        have_autograd = not args.no_autograd
    except ImportError:
        have_autograd = False

    rng = np.random.default_rng(0)
    print(f"tanh MLP, width {WIDTH}, batch {BATCH}; best of {args.repeat}; numpy {np.__version__}")
    header = f"{'depth':>6} {'numpy (ms)':>11} {'graphviz_bp (ms)':>17} {'ratio':>6} {'µs/layer':>9}"
    if have_autograd:
        header += f" {'autograd (ms)':>14} {'ratio':>6}"
    print(header)
    per_layer = {}
    for depth in args.depths:
        params = make_params(depth, rng)
        loss = mlp(depth)
        g = gb.trace(loss, **params)  # check the two agree before timing them
        ref = by_hand(params, depth)
        for k, v in ref.items():
            np.testing.assert_allclose(g.grad(k), v, rtol=1e-9, atol=1e-12)
        t_np = best_of(lambda: by_hand(params, depth), args.repeat)
        t_gb = best_of(lambda: gb.trace(loss, **params), args.repeat)
        per_layer[depth] = t_gb / depth
        row = (f"{depth:>6} {t_np * 1e3:>11.2f} {t_gb * 1e3:>17.2f} {t_gb / t_np:>6.2f} "
               f"{t_gb / depth * 1e6:>9.1f}")
        if have_autograd:
            t_ag = best_of(lambda: with_autograd(params, depth), max(1, args.repeat // 2))
            row += f" {t_ag * 1e3:>14.2f} {t_ag / t_np:>6.2f}"
        print(row, flush=True)
    if len(per_layer) > 1:
        lo, hi = sorted(per_layer)[-2:]  # the smallest depth is dominated by fixed costs
        print(f"time per layer, depth {hi} vs depth {lo}: {per_layer[hi] / per_layer[lo]:.2f}x "
              f"(1.0 = linear growth)")


if __name__ == "__main__":
    main()
