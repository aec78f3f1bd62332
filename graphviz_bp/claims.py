"""Checking a claimed gradient ("here is what I derived; is it right?"): the claimed values at the
traced inputs and at fresh inputs near them are compared with the gradient and with each path's
contribution there, and the verdict names what is wrong: a missing path, a sign, a constant factor,
a transpose, a shape, or the entry that disagrees most. The claim may be an expression
(``check_claim``) or any values computed at those inputs (``check_values``: a function's own
hand-written gradient). Paths are named here once ("the path through Wᵀ"), for verdicts and for
printed derivations (``derivation``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from .backward import PATH_LIMIT
from .errors import PathLimitError
from .graph import Edge, Node, count_text, reachable
from .symbolic.expr import Expr
from .symbolic.formulas import Formula, Replay, SymbolicPass
from .symbolic.printing import latex, text

__all__ = ["ClaimVerdict", "Derivation", "Draw", "Draws", "check_claim", "check_values", "derivation",
           "diagnose", "path_labels"]

Path = tuple[Edge, ...]
# at one draw: the gradient, each path's term, and the largest entry of the gradients of the values
# the node feeds (what its gradient is summed from: the size of its rounding, see ``_close``)
Reference = tuple[np.ndarray, tuple[np.ndarray, ...], float]

RTOL = 1e-6
# rounding a claim and the gradient may differ by, for each precision they are computed in: relative,
# absolute as a fraction of the gradient's largest entry, and of what it is summed from (``_close``).
# float32 code (``astype('f')``, as course code and float32 caches are) rounds at 6e-8, not 1e-16: a
# right float32 BPTT gradient was called wrong, at entries equal to 6 digits
TOLERANCES = {"float64": (RTOL, 1e-9, 1e-13), "float32": (1e-4, 1e-5, 1e-5), "float16": (1e-2, 1e-2, 1e-2)}
DRAWS = 3  # the traced inputs and two fresh draws
MOST_SUBSET_TESTS = 4096  # sets of missing paths tried, fewest missing first (then solved for: _missing_solved)
SAID_MISSING = 3  # missing paths a verdict's message writes out (its ``missing`` holds them all)


@dataclass(frozen=True)
class ClaimVerdict:
    """What a claimed gradient is: ``kind`` is "correct", "missing paths", "sign", "factor",
    "transposed", "shape" or "wrong"; ``message`` says it in a sentence; ``ok`` only when correct.
    ``claim`` is the claim's text (or where a hand-written gradient came from). ``missing`` lists the
    paths the claim leaves out (each a ``(description, formula)``), ``factor`` the constant it is
    off by, ``worst`` the entry that disagrees most with both values."""

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


@dataclass(frozen=True)
class Draw:
    """One point of comparison: the claimed value, the gradient, and each path's contribution
    (empty when the paths were too many to enumerate), all at the same inputs."""

    claim: np.ndarray
    gradient: np.ndarray
    terms: tuple[np.ndarray, ...] = ()
    scale: float = 0.0  # the largest entry of the gradients of the values it feeds
    precision: str = "float64"  # the least precise float either side computed in (see ``TOLERANCES``)


# --------------------------------------------------------------------------------------------------
# the inputs a claim is compared at


class Draws:
    """The traced inputs and fresh inputs near them (each float input moved randomly), the graph
    replayed at each; a draw whose replay fails (a value turns infinite, an index goes out of
    range) is left out. ``envs[d]`` holds draw ``d``'s inputs, the graph's constants and its named
    intermediates (what a claim may use); ``inputs(d)`` the inputs alone."""

    def __init__(self, sp: SymbolicPass, count: int = DRAWS) -> None:
        self.sp = sp
        env = sp._env()
        for n in sp.dag.nodes:  # the named intermediates at the traced values
            e = sp._forward.get(n.index)
            if e is not None and e.kind == "sym" and e.role == "named":
                env[e.name] = n.value
        self.envs: list[dict[str, Any]] = [env]
        self._replays: list[Replay | None] = [None]
        self._adjoints: dict[int, dict[int, np.ndarray]] = {}
        for d in range(1, count):
            got = Replay(sp).fresh(seed=1000 + d, scales=(0.3, 0.1, 0.03))
            if got is not None:
                self.envs.append(got[0])
                self._replays.append(got[1])

    def __len__(self) -> int:
        return len(self.envs)

    def redraw(self, d: int, scale: float) -> bool:
        """Draw ``d`` again, nearer the traced inputs (moved by about ``scale`` of their size):
        whether the graph could be replayed there (else the draw is as it was)."""
        got = Replay(self.sp).fresh(seed=1000 + d, scales=(scale,))
        if got is None:
            return False
        self.envs[d], self._replays[d] = got
        self._adjoints.pop(d, None)
        return True

    def output(self, d: int) -> np.ndarray:
        """The graph's output replayed at draw ``d`` (0: as traced)."""
        replay = self._replays[d]
        out = self.sp.dag.output
        return out.value if replay is None else replay.values[out.index]

    def keep(self, draws: Sequence[int]) -> None:
        """Keep only ``draws`` (0, the traced inputs, among them), in their order."""
        self.envs = [self.envs[d] for d in draws]
        self._replays = [self._replays[d] for d in draws]
        self._adjoints = {}

    def inputs(self, d: int) -> dict[str, np.ndarray]:
        """The inputs of draw ``d`` (0: the traced ones), by name, in the graph's order."""
        return {name: self.envs[d][name] for name in self.sp.dag.inputs}

    def reference(self, node: Node, limit: int) -> tuple[list[Path], list[Reference]]:
        """The paths from ``node`` to the output (none when there are more than ``limit``) and, per
        draw, the gradient and each path's contribution."""
        bp = self.sp.bp
        try:
            contributions = bp.contributions(node, limit)
        except PathLimitError:
            contributions = None
        paths = [tuple(c.path) for c in contributions] if contributions is not None else []
        consumers = {e.dst.index: e.dst for e in node.out_edges}
        out = []
        for d, replay in enumerate(self._replays):
            if replay is None:
                gradient = np.asarray(bp.adjoint(node), dtype=float)
                terms = tuple(np.asarray(c.value, dtype=float) for c in contributions or ())
                after = [bp.adjoint(c) for c in consumers.values()]
            else:
                adjoints = self._adjoints.get(d)
                if adjoints is None:
                    adjoints = self._adjoints[d] = replay.messages()[0]
                gradient = np.asarray(adjoints.get(node.index, np.zeros(node.shape)), dtype=float)
                terms = tuple(np.asarray(replay.path_value(p), dtype=float) for p in paths)
                after = [adjoints.get(i) for i in consumers]
            scale = max([0.0] + [_largest(a) for a in after
                                 if a is not None and np.size(a) and np.issubdtype(np.asarray(a).dtype, np.number)])
            out.append((gradient, terms, scale))
        return paths, out


# --------------------------------------------------------------------------------------------------
# naming paths


_ORDINALS = ("first", "second", "third", "fourth", "fifth")


def _ordinal(k: int) -> str:
    return _ORDINALS[k] if k < len(_ORDINALS) else f"{k + 1}th"


LABEL_LENGTH = 60  # characters of a value's formula naming a path (deeper parts: …)
DEFINITION_LENGTH = 2000  # characters of a named value's definition (a value read twice by each of 24
# layers has 2²⁴ copies of the input in its formula written out)


def path_labels(sp: SymbolicPass, paths: Sequence[tuple[Edge, ...]], math: bool = False) -> list[str]:
    """Each path named by the value it first goes through (``Wᵀ``), in Unicode or LaTeX
    (``math``). Paths that begin alike are told apart where they part: by the value they then go
    through (``XXᵀ, then log|K|``), or by the operand they are (``W ⊙ W (second operand)``)."""
    write = latex if math else text
    cache: dict[int, str] = {}

    def show(e: Expr) -> str:  # bounded: a value's formula can double with each layer (batch norm)
        written = write(e, limit=LABEL_LENGTH)
        if not math and len(written) > LABEL_LENGTH + 20:  # the elided formula is still long (a deep chain)
            written = written[:LABEL_LENGTH].rstrip() + " …"
        return written

    def node(n: Node) -> str:
        if n.index not in cache:
            cache[n.index] = show(sp.shown_forward(n))
        return cache[n.index]

    labels = []
    for p in paths:
        if not p:
            labels.append(show(sp.shown_forward(sp.dag.output)))
            continue
        parts: dict[int, str] = {0: node(p[0].dst)}
        operand: set[int] = set()
        for q in paths:
            if q is p or not q or node(q[0].dst) != parts[0]:
                continue
            i = next((k for k in range(min(len(p), len(q))) if node(p[k].dst) != node(q[k].dst)
                      or (p[k].dst is q[k].dst and p[k].argnum != q[k].argnum)), None)
            if i is None:
                continue  # written alike all the way: nothing to tell them apart by
            parts.setdefault(i, node(p[i].dst))
            if p[i].dst is q[i].dst:
                operand.add(i)
        words = []
        for i in sorted(parts):
            which = f"{_ordinal(p[i].argnum)} operand"
            note = (f"\\ (\\text{{{which}}})" if math else f" ({which})") if i in operand else ""
            words.append(parts[i] + note)
        sep = ",\\ \\text{then}\\ " if math else ", then "
        labels.append(sep.join(words))
    return labels


# --------------------------------------------------------------------------------------------------
# the diagnosis, on numbers


def squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` without its axes of length 1: what a gradient's shape may differ from its input's
    by and still have the same entries (``()`` for ``(1, 1)``)."""
    return tuple(d for d in shape if d != 1)


def _close(a: np.ndarray, b: np.ndarray, draw: Draw | None = None) -> bool:
    """``a`` equals ``b`` up to rounding: relatively, and absolutely at 1e-9 of ``b``'s largest
    entry, or at ``CANCELLED`` of the largest of what ``draw``'s gradient is summed from: the paths'
    contributions, the gradients of the values it feeds (a gradient they cancel, a bias batch norm
    centres away, is 0 up to their rounding). No floor of its own: a gradient that vanishes through
    a deep net (1e-17) is judged at its own scale, where a floor of 1e-9 passed any claim."""
    rtol, floor, cancelled = TOLERANCES[draw.precision if draw is not None else "float64"]
    atol = floor * _largest(b)
    if draw is not None:
        atol = max([atol, cancelled * draw.scale] + [cancelled * _largest(t) for t in draw.terms])
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _largest(x: np.ndarray) -> float:
    """The largest finite |entry| of ``x`` (0 when none): a gradient NaN in a row a mask leaves empty
    must not make every tolerance NaN, which judged equal numbers unequal."""
    x = np.abs(np.asarray(x, dtype=float))
    finite = x[np.isfinite(x)] if x.size else x
    return float(np.max(finite)) if finite.size else 0.0


CANCELLED = 1e-13  # rounding relative to what a sum cancels: float64's ε is 2.2e-16, with room for depth


def diagnose(name: str, claim: str, draws: Sequence[Draw], paths: Sequence[str] = (),
             formulas: Callable[[], Sequence[str]] | None = None, subject: str = "the claim",
             unnamed_paths: int | None = None) -> ClaimVerdict:
    """The verdict on claimed values of ∂L/∂``name`` from numbers alone: at each draw (the traced
    inputs first) the claimed value, the gradient and each path's contribution. ``paths`` names
    the paths (``"Wᵀ"``: the path through Wᵀ), ``formulas()`` gives each path's formula ("" when
    it has none), computed only when a path is missing. ``subject`` is what the message calls the
    claim; ``unnamed_paths`` counts the paths when there were too many to enumerate.

    >>> g = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> diagnose("W", "G", [Draw(-g, g)]).message
    'wrong sign: the claim is −∂L/∂W'
    >>> t1, t2 = np.array([1.0, 0.0]), np.array([0.5, 2.0])
    >>> diagnose("b", "db", [Draw(t1, t1 + t2, (t1, t2))], ["z", "h"], lambda: ["u", "v"],
    ...          subject="db").message
    'db has the path through z but misses 1 of the 2 paths to b: the path through h, which adds v'
    """
    value, gradient = draws[0].claim, draws[0].gradient
    shape = gradient.shape
    if gradient.size and not np.isfinite(gradient).any():  # NaN agreeing with NaN would tell nothing
        return ClaimVerdict(name, claim, "wrong", f"not judged: ∂L/∂{name} is {gradient.flat[0]:g} at every "
                            f"entry, so {subject} cannot be compared with it")
    fresh = len(draws) - 1
    where = f"at the traced inputs and at {fresh} fresh one{'s' if fresh != 1 else ''}" if fresh else \
        "at the traced inputs"
    if value.shape != shape:
        if value.ndim == 2 and value.shape == shape[::-1] and all(_close(d.claim.T, d.gradient, d)
                                                                   for d in draws):
            return ClaimVerdict(name, claim, "transposed", f"{subject} is the transpose of ∂L/∂{name}: it has "
                                f"shape {value.shape}, the gradient {shape}; transpose it")
        if value.size == gradient.size and squeezed(value.shape) == squeezed(shape):
            # its entries as the gradient's (db of shape () for a b of shape (1, 1)): what they are
            entries = diagnose(name, claim, [Draw(d.claim.reshape(shape), d.gradient, d.terms, d.scale, d.precision) for d in draws],
                               paths, formulas, subject, unnamed_paths)
            what = f"its entries are right {where}" if entries.ok else f"as entries, {entries.message}"
            return replace(entries, kind="shape", message=f"{subject} has shape {value.shape} but ∂L/∂{name} "
                           f"has shape {shape} (the shape of {name}): reshape it; {what}")
        return ClaimVerdict(name, claim, "shape", f"{subject} has shape {value.shape} but ∂L/∂{name} has "
                            f"shape {shape} (the shape of {name})")
    if all(_close(d.claim, d.gradient, d) for d in draws):
        return ClaimVerdict(name, claim, "correct", f"correct: {subject} equals ∂L/∂{name} {where}")
    if all(_close(d.claim, -d.gradient, d) for d in draws):
        return ClaimVerdict(name, claim, "sign", f"wrong sign: {subject} is −∂L/∂{name}", factor=-1.0)
    if value.ndim == 2 and value.shape[0] == value.shape[1] and all(_close(d.claim.T, d.gradient, d)
                                                                    for d in draws):
        return ClaimVerdict(name, claim, "transposed", f"{subject} is the transpose of ∂L/∂{name}; "
                            f"transpose it")
    count = len(paths)
    matches = _missing(draws, count) if all(len(d.terms) == count for d in draws) else []
    if matches:
        lacking = matches[0]
        texts = list(formulas()) if formulas is not None else [""] * count
        missing = tuple((f"the path through {paths[k]}", texts[k]) for k in lacking)
        present = [k for k in range(count) if k not in lacking]
        has = (" and ".join(f"the path through {paths[k]}" for k in present) + f" but misses {len(missing)} "
               f"of the {count} paths to {name}") if len(present) <= 2 else \
            f"{len(present)} of the {count} paths to {name} but misses {len(missing)}"
        adds = "; ".join(f"{d}, which adds {f}" if f else d for d, f in missing[:SAID_MISSING])
        if len(missing) > SAID_MISSING:  # (each path's route and formula: a drawing's worth; the rest listed by the API)
            adds += f"; and {len(missing) - SAID_MISSING} more (the verdict's .missing lists them)"
        also = (" (another choice of paths gives the same sum here: their contributions are equal)"
                if len(matches) > 1 else "")
        return ClaimVerdict(name, claim, "missing paths", f"{subject} has {has}: {adds}{also}", missing=missing)
    factor = _factor(draws)
    if factor is not None:
        written, _ = _apart(factor, 1.0)  # (1.000004, not 1)
        return ClaimVerdict(name, claim, "factor", f"off by a constant factor: {subject} is {written} "
                            f"times ∂L/∂{name}", factor=factor)
    # a factor at every entry of the traced inputs (entries of two magnitudes or more: equal ones
    # are a multiple of any claim of equal entries), which fresh ones break at some entries only (a
    # clip, a branch)
    alone = _factor(draws[:1]) if len(draws) > 1 and _magnitudes(draws[0].gradient) >= 2 else None
    if alone is not None:
        k = next((k for k, d in enumerate(draws) if not _close(d.claim, alone * d.gradient, d)), None)
        if k is None:  # within rounding of the factor at every draw, if not of _factor's agreement
            written, _ = _apart(alone, 1.0)
            return ClaimVerdict(name, claim, "factor", f"off by a constant factor: {subject} is {written} "
                                f"times ∂L/∂{name}", factor=alone)
        value, gradient = draws[k].claim, draws[k].gradient
        off = ~_entries_close(value, alone * gradient, draws[k])
        if off.mean() <= 0.5:  # most entries still keep the factor
            diff = np.where(off, np.abs(value - alone * gradient), -1.0)
            diff[np.isnan(diff)] = np.inf  # (a number against NaN: differs most)
            worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape)) if diff.ndim else ()
            written, _ = _apart(alone, 1.0)
            mine, true = _apart(float(value[worst]), float(gradient[worst]))
            at = f"at {name}{list(worst)} " if worst else ""
            return ClaimVerdict(name, claim, "wrong", f"wrong: {subject} is {written} times ∂L/∂{name} at the "
                                f"traced inputs, but not at fresh inputs near them ({at}it gives {mine} where "
                                f"∂L/∂{name} is {true}): a factor, and something that depends on the inputs, such "
                                f"as a clip or a branch", worst=(worst, float(value[worst]), float(gradient[worst])))
    first = next(k for k, d in enumerate(draws) if not _close(d.claim, d.gradient, d))
    value, gradient = draws[first].claim, draws[first].gradient
    diff = np.abs(value - gradient)
    apart = np.isnan(gradient) != np.isnan(value)  # a number against NaN: the entry that differs, first
    if apart.any():
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(apart)), diff.shape))
    else:
        worst = tuple(int(i) for i in np.unravel_index(int(np.nanargmax(diff)), diff.shape)) \
            if diff.size and not np.all(np.isnan(diff)) else ((0,) * diff.ndim if diff.size else ())
    at = f"at {name}{list(worst)} " if worst else ""  # (a number: no entry to name)
    lead = "" if first == 0 else f"{subject} equals ∂L/∂{name} at the traced inputs but not at fresh inputs " \
                                 f"near them: "
    gives = f"{subject} gives" if first == 0 else "it gives"
    note = "" if unnamed_paths is None else \
        f" ({name} reaches the loss by {count_text(unnamed_paths)} paths, too many to look for a missing one)"
    if unnamed_paths is None and 2 ** count - 2 > MOST_SUBSET_TESTS:  # (the sets tried, then solved for)
        note = (f" (no set of missing paths among the {MOST_SUBSET_TESTS:,} tried of {name}'s {count} paths, nor one "
                f"solved for over its entries, gives it)")
    mine, true = _apart(float(value[worst]), float(gradient[worst]))
    if diff.size and np.isnan(gradient[worst]) and not np.isnan(value[worst]):
        note += (" (the traced gradient is NaN there: NaN computed on the way, a masked-out row's softmax "
                 "or a 0/0, and left out of the value by np.where or a mask, still flows back, as NaN × 0 is NaN)")
    rough = draws[first].precision
    if rough != "float64":
        note += f" (compared as {rough}: within {TOLERANCES[rough][0]:g} relatively)"
    return ClaimVerdict(name, claim, "wrong", f"wrong: {lead}{at}{gives} {mine} but ∂L/∂{name} is {true}{note}",
                        worst=(worst, float(value[worst]), float(gradient[worst])))


def _apart(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` written with 6 significant digits, or as many more as tell them apart.

    >>> _apart(1.1325601, 1.1325649), _apart(0.5, 0.25)
    (('1.13256', '1.132565'), ('0.5', '0.25'))
    """
    for digits in range(6, 18):
        x, y = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if x != y:
            return x, y
    return x, y


def _magnitudes(g: np.ndarray) -> int:
    """How many different magnitudes the nonzero finite entries of ``g`` have (to 9 digits)."""
    a = np.abs(np.asarray(g, dtype=float))
    a = a[np.isfinite(a) & (a != 0)]
    return len(np.unique(np.round(a / a.max(), 9))) if a.size else 0


def _entries_close(a: np.ndarray, b: np.ndarray, draw: Draw) -> np.ndarray:
    """``_close``, entry by entry."""
    rtol, floor, cancelled = TOLERANCES[draw.precision]
    atol = max([floor * _largest(b), cancelled * draw.scale] + [cancelled * _largest(t) for t in draw.terms])
    with np.errstate(invalid="ignore"):
        return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def _factor(draws: Sequence[Draw]) -> float | None:
    """c when the claim is c times the gradient at every draw (c the same, not 0 or ±1)."""
    cs = []
    for d in draws:
        norm = float(np.vdot(d.gradient, d.gradient))
        if norm == 0 or not np.all(np.isfinite(d.claim)):
            return None
        cs.append(float(np.vdot(d.claim, d.gradient)) / norm)
    c = cs[0]
    rtol = TOLERANCES[draws[0].precision][0]  # (a factor within rounding of 1: no factor, entries off by it)
    if abs(c) < 1e-12 or abs(c - 1) < rtol or abs(c + 1) < 1e-9:
        return None
    if all(abs(x - c) <= 1e-6 * abs(c) for x in cs) and all(_close(d.claim, c * d.gradient, d) for d in draws):
        return c
    return None


def _missing(draws: Sequence[Draw], count: int) -> list[tuple[int, ...]]:
    """The smallest non-empty sets of paths (not all of them) whose contributions the claim lacks:
    the claim equals the sum of the others at every draw. Fewest missing paths are tried first,
    at most ``MOST_SUBSET_TESTS`` sets in all."""
    if count < 2:
        return []
    tests = 0
    for size in range(1, count):
        found = []
        for lacking in itertools.combinations(range(count), size):
            tests += 1
            if tests > MOST_SUBSET_TESTS:
                return found or _missing_solved(draws, count)
            if all(_close(d.claim, np.sum([d.terms[k] for k in range(count) if k not in lacking], axis=0), d)
                   for d in draws):
                found.append(lacking)
        if found:
            return found
    return []


def _missing_solved(draws: Sequence[Draw], count: int) -> list[tuple[int, ...]]:
    """``_missing`` for more missing paths than a search of sets reaches (an RNN's hand-written BPTT
    that drops the recurrence lacks half its paths): the claim solved, over every entry of every
    draw, as a sum of the paths' contributions each taken 0 or 1 times; the paths taken 0 times,
    when the least-squares solution is that (when it is not the only one, the contributions being
    dependent, a second, empty, set says that another choice fits too), else none. A path whose
    contribution is 0 at every draw (through a zero state) is never said to be missing."""
    A = np.stack([np.concatenate([np.ravel(d.terms[k]) for d in draws]) for k in range(count)], axis=1)
    b = np.concatenate([np.ravel(d.claim) for d in draws])
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
        return []
    live = np.flatnonzero(np.any(A != 0, axis=0))
    if len(live) < 2 or A.shape[0] < len(live):
        return []
    a, _, rank, _ = np.linalg.lstsq(A[:, live], b, rcond=None)
    taken = np.round(a)
    if np.any(np.abs(a - taken) > 1e-6) or not set(taken.tolist()) <= {0.0, 1.0}:
        return []
    lacking = tuple(int(live[k]) for k in np.flatnonzero(taken == 0))
    if not lacking or len(lacking) == len(live) or not all(
            _close(d.claim, np.sum([d.terms[k] for k in range(count) if k not in lacking], axis=0), d) for d in draws):
        return []
    return [lacking] if rank == len(live) else [lacking, ()]


def _precision(node: Node, values: Sequence[Any]) -> str:
    """The least precise float dtype (a key of ``TOLERANCES``) among the claimed ``values`` and the
    values ∂L/∂``node`` goes through (``node`` and what is computed from it: a float32 term
    elsewhere in the loss does not loosen the check of this gradient)."""
    sizes = {np.dtype(t).itemsize: t for t in TOLERANCES}
    worst = 8
    for v in values:
        dtype = np.asarray(v).dtype
        if dtype.kind in "fc":
            worst = min(worst, dtype.itemsize // (2 if dtype.kind == "c" else 1))
    for n in reachable(node, downstream=True):
        if n.differentiable and n.value.dtype.kind == "f":
            worst = min(worst, n.value.dtype.itemsize)
    return sizes.get(worst, "float16")


# --------------------------------------------------------------------------------------------------
# claims about a traced graph


def check_values(sp: SymbolicPass, draws: Draws, node: Node, values: Sequence[Any], claim: str,
                 subject: str = "the claim", limit: int = PATH_LIMIT) -> ClaimVerdict:
    """The verdict on ``values`` claimed for ∂L/∂``node``, one per draw of ``draws`` (the traced
    inputs first). ``claim`` says where they came from; ``subject`` is what the message calls them."""
    paths, reference = draws.reference(node, limit)
    rough = _precision(node, values)
    points = [Draw(np.asarray(v, dtype=float), g, t, scale, rough) for v, (g, t, scale) in zip(values, reference)]
    labels = path_labels(sp, paths)

    def formulas() -> list[str]:
        try:
            terms = sp.formula(node, limit).terms
        except Exception:  # noqa: BLE001 - the paths are named without their formulas then
            return [""] * len(paths)
        return [t.text if t.verified else "" for t in terms]

    unnamed = None if paths or sp.bp.adjoint(node) is None else sp.bp.path_count(node)
    return diagnose(node.name, claim, points, labels, formulas, subject,
                    unnamed if unnamed and unnamed > limit else None)


def check_claim(sp: SymbolicPass, node: Node, claim: str, evaluate: Any, limit: int = PATH_LIMIT) -> ClaimVerdict:
    """The verdict on ``claim`` (an expression in the inputs, the graph's constants and its named
    intermediates) as ∂L/∂``node``. ``evaluate(claim, env)`` evaluates the expression language."""
    draws = Draws(sp)
    values = [evaluate(claim, env) for env in draws.envs]
    verdict = check_values(sp, draws, node, values, claim, "the claim", limit)
    return with_unrun(verdict, DRAWS - len(draws))


def with_unrun(verdict: ClaimVerdict, unrun: int) -> ClaimVerdict:
    """``verdict``, a correct one saying why it was judged at fewer fresh inputs than asked: ``unrun``
    draws where the graph could not be replayed."""
    if not verdict.ok or not unrun:
        return verdict
    return replace(verdict, message=verdict.message + f" (not at {unrun} fresh input{'s' if unrun > 1 else ''} "
                   f"near them: the graph could not be run there, a value turned infinite or NaN, or an "
                   f"index went out of range)")


# --------------------------------------------------------------------------------------------------
# derivations, for printing


@dataclass(frozen=True)
class Derivation:
    """∂L/∂``name`` as a teacher writes it out: the ``formula`` (its ``.terms`` one per path, each
    ``.verified``), the value each term's path first goes through (``through``: ``"Wᵀ"``, and in
    LaTeX), and the named intermediates the formula uses, in the order they were computed, as
    ``(name, definition)`` pairs in Unicode (``where``) and LaTeX."""

    name: str
    name_latex: str
    formula: Formula
    through: tuple[str, ...]
    through_latex: tuple[str, ...]
    where: tuple[tuple[str, str], ...]
    where_latex: tuple[tuple[str, str], ...]

    @property
    def verified(self) -> bool:
        return all(t.verified for t in self.formula.terms)


def derivation(sp: SymbolicPass, node: Node, limit: int = PATH_LIMIT) -> Derivation:
    """The derivation of ∂L/∂``node`` (PathLimitError past ``limit`` paths)."""
    formula = sp.formula(node, limit)
    paths = [t.path for t in formula.terms]
    used = _named(formula.tree)
    where, where_latex = [], []
    for n in sp.dag.nodes:  # in trace order: a definition comes before its uses
        e = sp._forward.get(n.index)
        if e is not None and e.kind == "sym" and e.role == "named" and e.name in used \
                and e.definition is not None:
            where.append((text(e), text(e.definition, limit=DEFINITION_LENGTH)))
            where_latex.append((latex(e), latex(e.definition, limit=DEFINITION_LENGTH)))
            used.discard(e.name)
    for t in formula.shared:  # temporaries: parts the formula would write out several times
        where.append((text(t), text(t.definition, limit=DEFINITION_LENGTH)))
        where_latex.append((latex(t), latex(t.definition, limit=DEFINITION_LENGTH)))
    me = sp.shown_forward(node)
    return Derivation(node.name, latex(me), formula, tuple(path_labels(sp, paths)),
                      tuple(path_labels(sp, paths, math=True)), tuple(where), tuple(where_latex))


def _named(e: Expr) -> set[str]:
    """The named intermediates ``e`` uses, also inside their definitions."""
    names, stack, seen = set(), [e], set()
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if x.kind == "sym" and x.role == "named":
            names.add(x.name)
        stack.extend(x.args)
        if x.definition is not None:
            stack.append(x.definition)
    return names
