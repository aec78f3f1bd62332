"""Checking a claimed gradient ("here is what I derived; is it right?"): the claim, written in the
expression language, is evaluated at the traced inputs and at fresh inputs near them and compared
with the gradient and with each path's contribution, and the verdict names what is wrong: a missing
path, a sign, a constant factor, a transpose, a shape, or the entry that disagrees most."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .graph import Edge, Node
from .symbolic.formulas import Replay, SymbolicPass
from .symbolic.printing import text

__all__ = ["ClaimVerdict", "check_claim"]

RTOL = 1e-6
DRAWS = 3  # the traced inputs and two fresh draws
MOST_SUBSETS = 1 << 10


@dataclass(frozen=True)
class ClaimVerdict:
    """What a claimed gradient is: ``kind`` is "correct", "missing paths", "extra paths", "sign",
    "factor", "transposed", "shape" or "wrong"; ``message`` says it in a sentence; ``ok`` only when
    correct. ``missing`` lists the paths the claim leaves out (each a ``(description, formula)``),
    ``factor`` the constant it is off by, ``worst`` the entry that disagrees most with both values."""

    name: str
    claim: str
    kind: str
    message: str
    missing: tuple[tuple[str, str], ...] = ()
    factor: float | None = None
    worst: tuple[tuple[int, ...], float, float] | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "correct"

    def __str__(self) -> str:
        return self.message


def _describe(sp: SymbolicPass, path: tuple[Edge, ...]) -> str:
    """A path named by the value it first goes through: "the path through Wᵀ"."""
    if not path:
        return "the output itself"
    first = path[0].dst
    return f"the path through {text(sp.forward(first))}"


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=RTOL, atol=1e-9 * scale))


def check_claim(sp: SymbolicPass, node: Node, claim: str, evaluate: Any, limit: int = 64) -> ClaimVerdict:
    """The verdict on ``claim`` (an expression in the inputs, the graph's constants and its named
    intermediates) as ∂L/∂``node``. ``evaluate(claim, env)`` evaluates the expression language."""
    contributions = sp.bp.contributions(node, limit)
    paths = [tuple(c.path) for c in contributions]
    draws: list[tuple[np.ndarray, np.ndarray, list[np.ndarray]]] = []  # (claim, gradient, path terms)
    replay = Replay(sp)
    for d in range(DRAWS):
        got = replay.fresh(seed=1000 + d, scales=(0.3, 0.1, 0.03)) if d else None
        if d and got is None:
            continue
        if d:
            env, rp = got
            terms = [np.asarray(rp.path_value(p), dtype=float) for p in paths]
        else:
            env = sp._env()
            for n in sp.dag.nodes:
                e = sp._forward.get(n.index)
                if e is not None and e.kind == "sym" and e.role == "named":
                    env[e.name] = n.value
            terms = [np.asarray(c.value, dtype=float) for c in contributions]
        value = np.asarray(evaluate(claim, env), dtype=float)
        gradient = np.sum(terms, axis=0) if terms else np.zeros(node.shape)
        draws.append((value, gradient, terms))
    name = node.name
    value, gradient, terms = draws[0]
    shape = gradient.shape
    if value.shape != shape:
        if value.ndim == 2 and value.shape == shape[::-1] and all(_close(v.T, g) for v, g, _ in draws):
            return ClaimVerdict(name, claim, "transposed", f"the claim is the transpose of ∂L/∂{name}: it has "
                                f"shape {value.shape}, the gradient {shape}; transpose it")
        return ClaimVerdict(name, claim, "shape", f"the claim has shape {value.shape} but ∂L/∂{name} has "
                            f"shape {shape} (the shape of {name})")
    if all(_close(v, g) for v, g, _ in draws):
        return ClaimVerdict(name, claim, "correct", f"correct: the claim equals ∂L/∂{name} at the traced "
                            f"inputs and at {len(draws) - 1} fresh ones")
    if all(_close(v, -g) for v, g, _ in draws):
        return ClaimVerdict(name, claim, "sign", f"wrong sign: the claim is −∂L/∂{name}", factor=-1.0)
    if value.ndim == 2 and value.shape[0] == value.shape[1] and all(_close(v.T, g) for v, g, _ in draws):
        return ClaimVerdict(name, claim, "transposed", f"the claim is the transpose of ∂L/∂{name}; "
                            f"transpose it")
    matches = _subsets(draws, len(paths))
    if matches:
        found = matches[0]
        formula_terms = None
        try:
            formula_terms = sp.formula(node, limit).terms
        except Exception:  # noqa: BLE001 - the paths are named without their formulas then
            pass
        missing = tuple((_describe(sp, paths[k]), formula_terms[k].text if formula_terms and
                         formula_terms[k].verified else "") for k in range(len(paths)) if k not in found)
        have = " and ".join(_describe(sp, paths[k]) for k in sorted(found))
        adds = "; ".join(f"{d}, which adds {f}" if f else d for d, f in missing)
        also = (" (another choice of paths gives the same sum here: their contributions are equal)"
                if len(matches) > 1 else "")
        return ClaimVerdict(name, claim, "missing paths",
                            f"the claim has {have} but misses {len(missing)} of the {len(paths)} paths to "
                            f"{name}: {adds}{also}", missing=missing)
    factor = _factor(draws)
    if factor is not None:
        return ClaimVerdict(name, claim, "factor", f"off by a constant factor: the claim is {factor:.6g} "
                            f"times ∂L/∂{name}", factor=factor)

    diff = np.abs(value - gradient)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape)) if diff.size else ()
    return ClaimVerdict(name, claim, "wrong",
                        f"wrong: at {name}{list(worst) if worst else ''} the claim gives "
                        f"{float(value[worst]):.6g} but ∂L/∂{name} is {float(gradient[worst]):.6g}",
                        worst=(worst, float(value[worst]), float(gradient[worst])))


def _factor(draws: list[tuple[np.ndarray, np.ndarray, list[np.ndarray]]]) -> float | None:
    """c when the claim is c times the gradient at every draw (c the same, not 0 or ±1)."""
    cs = []
    for v, g, _ in draws:
        norm = float(np.vdot(g, g))
        if norm == 0:
            return None
        cs.append(float(np.vdot(v, g)) / norm)
    c = cs[0]
    if abs(c) < 1e-12 or abs(c - 1) < 1e-9 or abs(c + 1) < 1e-9:
        return None
    if all(abs(x - c) <= 1e-6 * abs(c) for x in cs) and all(_close(v, c * g) for v, g, _ in draws):
        return c
    return None


def _subsets(draws: list[tuple[np.ndarray, np.ndarray, list[np.ndarray]]], count: int) -> list[set[int]]:
    """The largest proper, non-empty sets of paths whose contributions sum to the claim at every draw."""
    if count < 2 or (1 << count) > MOST_SUBSETS:
        return []
    for size in range(count - 1, 0, -1):
        found = [set(subset) for subset in itertools.combinations(range(count), size)
                 if all(_close(v, np.sum([terms[k] for k in subset], axis=0)) for v, _, terms in draws)]
        if found:
            return found
    return []
