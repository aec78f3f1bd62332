"""Gradient checking: the traced gradient of each input against central finite differences, and
a function's own hand-written gradients against the traced ones.

``check(fn, ...)`` traces ``fn`` and compares; ``compare(fn, values, grads)`` compares gradients
obtained elsewhere (a traced graph's, or a hand-written gradient). ``check_backward(fn, ...)``
checks the gradients ``fn`` returns with its loss, each with the diagnosis of a claimed gradient
(``claims``): correct, or the path it misses, a sign, a factor, a transpose. Results are data
(``CheckResult``, ``BackwardCheck``) that front ends print.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .api import Graph, trace
from .backward import PATH_LIMIT
from .claims import DRAWS, ClaimVerdict, Draws, check_values, squeezed, with_unrun
from .errors import GraphvizBPError
from .limits import DEFAULT_MEMORY_LIMIT
from .tracer import Traced, pick_output

__all__ = ["TOLERANCES", "BackwardCheck", "CheckResult", "GradientMatchError", "InputCheck", "check",
           "check_backward", "check_returned", "compare", "not_finite", "precision"]


@dataclass(frozen=True)
class InputCheck:
    """One input's gradient against central differences, over ``coords`` of its ``size`` entries.

    ``error`` is ‖analytic − numeric‖ / max(‖analytic‖, ‖numeric‖) over the checked entries; ``worst``
    is the entry where they differ most, with both values there. An input that is not
    differentiated (integer or boolean) has ``differentiated`` False and passes.
    """

    name: str
    shape: tuple[int, ...]
    differentiated: bool
    analytic_norm: float = 0.0
    numeric_norm: float = 0.0
    error: float = 0.0
    worst: tuple[int, ...] | None = None
    worst_analytic: float = 0.0
    worst_numeric: float = 0.0
    coords: int = 0
    size: int = 0
    passed: bool = True
    noise: float = 0.0  # failed: how far central differences of steps eps and 10·eps disagree, relative
    # to the gradient, where they scatter more than larger steps and the gradient is off by about as
    # much (rounding's mark)


@dataclass(frozen=True)
class CheckResult:
    """Every input's ``InputCheck``, with the function's value and the tolerances used."""

    value: float
    rtol: float
    eps: float
    inputs: tuple[InputCheck, ...]
    precision: str = "float64"  # the least precise floats the gradient goes through (see ``precision``)
    not_finite: str = ""  # where the traced gradient first stops being finite (see ``not_finite``)
    again: float | None = None  # the value at the same inputs, called again, when it was not the same

    @property
    def hint(self) -> str:
        """Why the check failed, when it can tell: the op where the traced gradient first stops
        being finite; or, for a function that computes with float32 (or float16) values, that
        their rounding can fail a right gradient, and what to try. '' when it passed."""
        if self.passed:
            return ""
        if self.again is not None:
            return (f"the function gave {self.again:.6g}, not {self.value:.6g}, when called again at the same "
                    f"inputs: it draws random numbers (np.random.* unseeded?); seed them inside it "
                    f"(rng = np.random.default_rng(0)) or pass them as inputs, so that central differences "
                    f"compare one draw with itself")
        if self.not_finite:
            return self.not_finite
        noisy = max((c.noise for c in self.inputs if not c.passed), default=0.0)
        if noisy > self.rtol and (self.precision not in TOLERANCES or self.precision == "float64"):
            return (f"central differences of steps {self.eps:g} and {10 * self.eps:g} disagree among themselves "
                    f"by {noisy:.2g} of the gradient, more than larger steps do: rounding (large inputs, or "
                    f"large values they meet) swamps the step; check with a larger one, e.g. "
                    f"eps={min(1000 * self.eps, 1e-2):g}")
        if self.precision not in TOLERANCES or self.precision == "float64":
            return ""
        eps, rtol = TOLERANCES[self.precision]
        if self.eps >= eps and self.rtol >= rtol:  # (its settings taken already: saying them again tells nothing)
            return (f"the function computes with {self.precision} values, and this check already takes "
                    f"{self.precision}'s step and tolerance (eps={self.eps:g}, rtol={self.rtol:g}): their rounding "
                    f"can still swamp central differences of this loss; check the function in float64 (its "
                    f"inputs, and the arrays it makes as {self.precision}, in float64), or with a larger rtol")
        return (f"the function computes with {self.precision} values: their rounding can make central "
                f"differences of step {self.eps:g} disagree with a right gradient; a {self.precision} "
                f"check is eps={max(eps, self.eps):g}, rtol={max(rtol, self.rtol):g}")  # (none tighter than asked)

    @property
    def passed(self) -> bool:
        """True when every input's relative error is within ``rtol`` (and the function gives the
        same value when called again at the same inputs)."""
        return self.again is None and all(c.passed for c in self.inputs)

    def __getitem__(self, name: str) -> InputCheck:
        for c in self.inputs:
            if c.name == name:
                return c
        raise KeyError(f"no input named {name!r}; inputs: {', '.join(c.name for c in self.inputs)}")

    def __repr__(self) -> str:
        failed = [c.name for c in self.inputs if not c.passed] or ["a different value each call"]
        verdict = "passed" if self.passed else "FAILED: " + ", ".join(failed)
        hint = f" ({self.hint})" if self.hint else ""
        return f"<CheckResult {verdict}; rtol {self.rtol:g}{hint}>"


#: A step and tolerance for central differences of a function that computes with floats of each
#: precision: step 1e-6 sees float32's rounding (1e-7 of the loss) as a thousandth of the gradient;
#: about the cube root of its epsilon balances rounding against the curvature. ``check`` keeps
#: float64's whatever the precision (a float32 side term would loosen the check of everything
#: else), and says in its ``hint`` what a check at the lower precision takes.
TOLERANCES = {"float64": (1e-6, 1e-6), "float32": (5e-3, 3e-3), "float16": (1e-1, 1e-1)}


def precision(g: Graph) -> str:
    """The least precise float dtype among the values the gradient goes through (``float64``
    unless the function computes some of them in float32 or float16: a float32 cache, an
    ``astype(np.float32)``, float32 inputs)."""
    worst = np.dtype(np.float64)
    for n in g._dag.nodes:
        dtype = n.value.dtype
        if n.differentiable and dtype.kind == "f" and dtype.itemsize < worst.itemsize:
            worst = dtype
    return worst.name


def check(fn: Callable[..., Any], inputs: Mapping[str, Any] | None = None, /, *, rtol: float = 1e-6,
          eps: float = 1e-6, max_coords: int = 2000, coords_seed: int = 0,
          memory_limit: int | str | None = DEFAULT_MEMORY_LIMIT, output: Any = None,
          **kw_inputs: Any) -> CheckResult:
    """Trace ``fn`` (inputs as for ``trace``; the output must be a scalar) and compare each input's
    gradient with central differences of step ``eps`` on at most ``max_coords`` entries per input
    (chosen at random with ``coords_seed`` when there are more). Where they disagree, an entry is
    differenced again with steps 10, 100 and 1000 times larger, for an entry x larger than 1 (whose
    digits round a small step) with steps ``eps·|x|`` and ``10·eps·|x|``, for one smaller than
    ``100·eps`` with steps of a ten-thousandth and a thousandth of it: where the estimates of a run
    of steps (with Richardson's extrapolations) agree among themselves to a thousandth, the one
    nearest the gradient stands for the entry. An entry passes within ``rtol`` (or, the whole within
    ``rtol`` by the norms, within a thousand times it), or within what its estimate's step can tell
    at this loss (the loss's rounding over the step); where no run of steps agrees, a gradient
    that small (vanished) passes. ``output`` picks the loss when ``fn`` returns several values, as
    for ``trace``. When the gradient goes through float32 (or float16) values, a failed result's
    ``hint`` says so, with the step and tolerance that precision allows (``TOLERANCES``).

    >>> import numpy as np
    >>> r = check(lambda W, x: 0.5 * np.sum((W @ x) ** 2), W=np.eye(2), x=np.array([1.0, 2.0]))
    >>> r.passed, r["x"].error < 1e-8
    (True, True)
    """
    g = trace(fn, inputs, memory_limit=memory_limit, output=output, **kw_inputs)
    values = {name: node.value for name, node in g.inputs.items()}
    grads = {name: node.adjoint for name, node in g.inputs.items()}
    result = compare(fn, values, grads, rtol=rtol, eps=eps, max_coords=max_coords, coords_seed=coords_seed,
                     output=output, precision=precision(g))
    return dataclasses.replace(result, not_finite=not_finite(g)) if not result.passed else result


def not_finite(g: Graph) -> str:
    """Where the loss stopped being finite, when it is not (the first op whose value is not finite
    from finite operands); else where the backward pass first made a message that is not finite from
    a finite gradient (the op, its line, the input it sends to); '' when every message is finite. An op's local
    derivative is infinite or undefined there: ``exp`` overflowing in a branch ``np.where`` does
    not take (its zero message times ``exp(800) = inf`` is NaN), ``sqrt`` or ``log`` at 0."""
    dag = g._dag
    if not np.all(np.isfinite(dag.output.value)):  # the loss itself: where what it is made of stopped
        node = dag.output                                # being finite, back through values not finite
        while True:
            bad = [e.src for e in node.in_edges if not np.all(np.isfinite(e.src.value))]
            if not bad:
                break
            node = bad[0]
        loss = "NaN" if np.isnan(dag.output.value).any() else "infinite"
        what = "NaN" if np.isnan(node.value).any() else "infinite"
        if node.op is None:  # an input, or a constant, holds it
            return f"the loss is {loss}: {'input ' if node.kind == 'input' else ''}{node.name} holds {what} values"
        where = f" at line {node.source.lineno}" if node.source is not None else ""
        code = f" ({node.source.line})" if node.source is not None and node.source.line else ""
        return (f"the loss is {loss}: {node.name}{where}{code} is {what} from finite operands (exp "
                f"overflowing past 709, a division by 0, log of 0 or of a negative number), and so is "
                f"what is computed from it")
    for node in reversed(dag.nodes):  # the order the backward pass went in
        if node.op is None:
            continue
        adjoint = node.adjoint
        if adjoint is None or not np.all(np.isfinite(adjoint)):
            continue
        for e in node.in_edges:
            message = e.message
            if message is not None and not np.all(np.isfinite(message)):
                where = f" at line {node.source.lineno}" if node.source is not None else ""
                code = f" ({node.source.line})" if node.source is not None and node.source.line else ""
                bad = "NaN" if np.isnan(message).any() else "infinite"
                return (f"the gradient is {bad} from {node.name}{where}{code}: its message to {e.src.name} is "
                        f"{bad} from a finite gradient, as where exp overflows in a branch np.where does not "
                        f"take (0 · inf), or sqrt or log at 0")
    return ""


def compare(fn: Callable[..., Any], values: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray | None],
            *, rtol: float = 1e-6, eps: float = 1e-6, max_coords: int = 2000,
            coords_seed: int = 0, output: Any = None, precision: str = "float64") -> CheckResult:
    """Compare ``grads`` (by input name; None: not differentiated) with central differences of
    ``fn(**values)`` (its item ``output`` when it returns several values). ``fn`` is called with
    plain arrays, twice per checked entry. ``precision``: the least precise floats ``fn``
    computes with (see ``CheckResult.hint``)."""
    if not (eps > 0 and rtol > 0 and max_coords > 0):
        raise ValueError("eps, rtol and max_coords must be positive")
    rng = np.random.default_rng(coords_seed)
    values = dict(values)

    name = getattr(fn, "__name__", "the function")

    def f(**vals: np.ndarray) -> float:  # on copies: the function may write into its inputs
        copies = {k: v.copy(order="K") if isinstance(v, np.ndarray) else v for k, v in vals.items()}
        return float(pick_output(fn(**copies), output, name)[0])

    results = []
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the user's code, evaluated 2n times: its warnings were shown once
        value = f(**values)
        again = f(**values)  # the same, unless it draws random numbers: then differences mean nothing
        changed = again if again != value and not (again != again and value != value) else None
        for name, v in values.items():
            grad = grads.get(name)
            shape = tuple(np.shape(v))
            if grad is None:
                results.append(InputCheck(name, shape, differentiated=False, size=int(np.size(v))))
                continue
            results.append(_compare_one(f, values, name, np.asarray(grad, dtype=float), eps, rtol,
                                        max_coords, rng))
    return CheckResult(value, rtol, eps, tuple(results), precision if precision in TOLERANCES else "float64",
                       again=changed)


_AGREE = 1e-3  # how far central differences of several steps may disagree and still tell a gradient
_RETRIED = 500  # entries (the worst) whose central difference is taken again with larger steps when
# the check fails: an entry passes where the gradient lies within the differences' spread


def _disagreement(ana: np.ndarray, numeric: np.ndarray) -> tuple[np.ndarray, float]:
    """Entry by entry, and as the relative error of the whole (by the larger norm)."""
    denom = max(float(np.linalg.norm(numeric)), float(np.linalg.norm(ana)), float(np.finfo(float).tiny))
    return np.abs(ana - numeric), float(np.linalg.norm(ana - numeric) / denom)


def _compare_one(f: Callable[..., float], values: dict[str, np.ndarray], name: str, analytic: np.ndarray,
                 eps: float, rtol: float, max_coords: int, rng: np.random.Generator) -> InputCheck:
    base = np.array(values[name], dtype=float)
    coords = list(np.ndindex(base.shape))
    if not coords:  # an empty array: nothing to compare
        return InputCheck(name, base.shape, True, size=0)
    if len(coords) > max_coords:
        picked = rng.choice(len(coords), size=max_coords, replace=False)
        coords = [coords[i] for i in sorted(picked)]
    numeric = np.empty(len(coords))

    def difference(k: int, step: float) -> float:
        idx = coords[k]
        up, down = base.copy(order="K"), base.copy(order="K")  # (laid out as given: order='A' reads it)
        step = max(step, 16 * float(np.spacing(abs(float(base[idx])))))  # (x ± 1e-6 is x past 2^34)
        up[idx] += step
        down[idx] -= step
        # (divided by the step as the floats took it: up and down are rounded to the entry's digits)
        return (f(**{**values, name: up}) - f(**{**values, name: down})) / float(up[idx] - down[idx])

    for k in range(len(coords)):
        numeric[k] = difference(k, eps)
    ana = np.array([analytic[idx] for idx in coords])
    loss = abs(float(f(**values)))
    rounding = 10 * np.finfo(float).eps * loss  # what the loss's rounding makes of a difference, times its step
    used = np.full(len(coords), eps)  # the step of each entry's estimate
    told = np.zeros(len(coords), bool)  # retried, and a run of steps agreed on an estimate
    noise = 0.0
    diff = np.abs(ana - numeric)
    size = np.maximum(np.abs(ana), np.abs(numeric))
    # each entry on its own (a wrong small entry beside a large one is no rounding of the norm): those
    # that disagree are differenced again with larger steps (rounding may swamp a small one: a log of
    # 1 − x + 1e-7, an orbit's 5e6 m)
    off = np.flatnonzero(~(diff <= rtol * size))  # (nan included)
    for k in off[np.argsort(-np.nan_to_num(diff[off], nan=np.inf))][:_RETRIED].tolist():
        plain = [numeric[k], difference(k, 10 * eps), difference(k, 100 * eps), difference(k, 1000 * eps)]
        series = [(eps * 10 ** j, plain[j:]) for j in range(3)]  # the smallest steps may be noise alone
        size_of = abs(float(base[coords[k]]))
        if 0 < size_of < 100 * eps:  # an entry near 0 (sqrt at 1e-5): the first step meets curvature
            series.append((size_of * 1e-4, [difference(k, size_of * 1e-4), difference(k, size_of * 1e-3)]))
        if size_of > 1:  # a large entry rounds a small step: steps of its own size too
            series.append((eps * size_of, [difference(k, eps * size_of), difference(k, 10 * eps * size_of)]))
        found = _told(series, float(ana[k]))
        if not found:  # the largest step may cross a kink (a floor 5e-4 away) or meet curvature beside
            # a tiny entry: the runs of neighbouring steps below it
            found = _told([(eps * 10 ** j, plain[j:m]) for j in range(3) for m in range(j + 2, 4)], float(ana[k]))
        if found:  # of the series that tell, the one that agrees most closely
            _, numeric[k], used[k] = min(found)
            told[k] = True
        elif np.isfinite(plain[-1]):  # none tells: the largest step's, the least rounded, for the floor
            numeric[k], used[k] = plain[-1], 1000 * eps
        # still off, by about as much as the smallest steps scatter, which scatter more than the
        # largest, and no series told: rounding, not the gradient (nor the curvature a large step meets)
        entry = max(abs(ana[k]), abs(numeric[k]), np.finfo(float).tiny)
        small, large = abs(plain[0] - plain[1]), abs(plain[2] - plain[3])
        if not told[k] and abs(numeric[k] - ana[k]) > rtol * entry and small > large and small > rtol * entry \
                and abs(numeric[k] - ana[k]) <= 10 * small:
            noise = max(noise, small / entry)
    diff = np.abs(ana - numeric)
    size = np.maximum(np.abs(ana), np.abs(numeric))
    with np.errstate(over="ignore", invalid="ignore"):
        _, error = _disagreement(ana, numeric)
    # an entry agrees within rtol, or within the rounding of the estimate that stands for it, the
    # loss's rounding over its step: what a difference can tell (a vanished gradient, 1e-10 under a
    # loss of 8, is 0 to it; with no run of steps agreeing, the largest step's estimate stands)
    floors = diff <= rounding / used  # within what the estimate's step can tell at this loss
    # every entry so, or the whole within rtol (by the norms, as error says) with no entry off by more
    # than a thousand times rtol (a small entry's sign flipped beside a large one, 1e7·x₀ + x₁²/2)
    passed = bool(np.all((diff <= rtol * size) | floors)) or \
        bool(error <= rtol and np.all((diff <= 1000 * rtol * size) | floors))
    k = int(np.nanargmax(diff)) if np.isfinite(diff).any() else 0
    return InputCheck(name, base.shape, True, float(np.linalg.norm(ana)), float(np.linalg.norm(numeric)),
                      error, tuple(int(i) for i in coords[k]), float(ana[k]), float(numeric[k]),
                      len(coords), base.size, passed, 0.0 if passed else noise)


def _told(series: list[tuple[float, list[float]]], analytic: float) -> list[tuple[float, float, float]]:
    """``(spread, estimate, step)`` of each series of central differences (its smallest step, its
    estimates by increasing step) that tells the gradient: with Richardson's extrapolation of each
    pair (a central difference's error goes as step²), where they agree among themselves to a
    thousandth, their estimate nearest ``analytic`` stands for the entry; estimates further apart,
    curvature or noise, tell nothing."""
    found = []
    for step, estimates in series:
        if not all(np.isfinite(estimates)):  # (a step past where the function is defined: sqrt at 1e-5)
            continue
        steps = estimates + [(100 * a - b) / 99 for a, b in zip(estimates, estimates[1:])]
        spread = max(steps) - min(steps)
        best = min(steps, key=lambda v: abs(v - analytic))
        if spread <= _AGREE * max(abs(analytic), abs(best)):
            found.append((spread, best, step))
    return found


# --------------------------------------------------------------------------------------------------
# hand-written gradients


class GradientMatchError(GraphvizBPError, ValueError):
    """The gradients a function returned cannot be matched to its inputs (a key that is not an
    input, more or fewer gradients than inputs, a wrong shape). The message is written with
    ``{option}`` where the choice is named; ``explain`` fills it in (``grads=`` in the API,
    ``--grads`` on the command line)."""

    def __init__(self, template: str, hint: tuple[str, str] = ("", "")) -> None:
        self.template = template
        self.hint = hint  # how to say it: in the API, on the command line
        super().__init__(self.explain("grads="))

    def explain(self, option: str) -> str:
        """The message, naming ``option`` (``grads=`` or ``--grads``) as the way to say which input
        each gradient is for."""
        hint = self.hint[1] if option.startswith("-") else self.hint[0]
        return self.template.replace("{option}", option).replace("{hint}", hint)


@dataclass(frozen=True)
class BackwardCheck:
    """The verdict on each gradient a function returned with its loss (``verdicts``, one
    ``ClaimVerdict`` per gradient, in the order returned; ``verdict.claim`` says where in the
    returned value it was), and the loss ``value``. Printed, one line per gradient."""

    value: float
    verdicts: tuple[ClaimVerdict, ...]

    @property
    def ok(self) -> bool:
        """True when every returned gradient is correct."""
        return all(v.ok for v in self.verdicts)

    def __getitem__(self, name: str) -> ClaimVerdict:
        for v in self.verdicts:
            if v.name == name:
                return v
        raise KeyError(f"no gradient was returned for {name!r}; returned: "
                       f"{', '.join(v.name for v in self.verdicts) or 'none'}")

    def lines(self) -> list[str]:
        """One line per gradient: ``∂L/∂W (returned[1]['W']): correct: ...``."""
        return [f"∂L/∂{v.name} ({v.claim}): {v.message}" for v in self.verdicts]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        verdict = "all correct" if self.ok else "WRONG: " + ", ".join(v.name for v in self.verdicts if not v.ok)
        return f"<BackwardCheck {verdict}>"


def _numbers(value: Any) -> np.ndarray:
    """A returned gradient as an array of floats, in its own precision (float32 stays float32: the
    claim is compared at the rounding it was computed with)."""
    a = np.asarray(value)
    return a if a.dtype.kind in "fc" else a.astype(float)


def check_backward(fn: Callable[..., Any], inputs: Mapping[str, Any] | None = None, /, *, output: Any = 0,
                   grads: Any = None, memory_limit: int | str | None = DEFAULT_MEMORY_LIMIT, limit: int = PATH_LIMIT,
                   **kw_inputs: Any) -> BackwardCheck:
    """Check the gradients ``fn`` computes by hand and returns with its loss: ``(loss, dx)``,
    ``(loss, dW, db)``, ``(loss, {"W": dW, ...})`` (``output`` is the loss's index or key, as for
    ``trace``). Each is compared with the traced gradient, and with each path's contribution, at
    the inputs (given as for ``trace``) and at fresh inputs near them, where ``fn`` is called again
    on plain arrays; the verdict says it is correct or what is wrong with it, as ``check_claim``
    does (the path it misses, a sign, a factor, a transpose, the entry that disagrees most).

    A dict is matched to the inputs by key; one array belongs to the only float input; a tuple or
    list follows the float inputs' order. ``grads`` says otherwise: an input's name (one array),
    names in order (a tuple; for a dict, the keys to check) or ``{key: input}`` for a dict keyed
    differently. What cannot be matched, or has the wrong shape, raises ``GradientMatchError``.
    Past ``limit`` paths to an input, its gradient is still compared, without naming missing paths.

    >>> import numpy as np
    >>> def f(x):
    ...     return np.sum(x ** 2), 2 * x
    >>> print(check_backward(f, x=np.array([1.0, 2.0])))
    ∂L/∂x (returned[1]): correct: the hand-written gradient equals ∂L/∂x at the traced inputs and at 2 fresh ones
    """
    g = trace(fn, inputs, memory_limit=memory_limit, output=output, **kw_inputs)
    return check_returned(g, fn, output=output, grads=grads, limit=limit, memory_limit=memory_limit)


def check_returned(g: Graph, fn: Callable[..., Any], *, output: Any = 0, grads: Any = None,
                   limit: int = PATH_LIMIT, memory_limit: int | str | None = DEFAULT_MEMORY_LIMIT) -> BackwardCheck:
    """``check_backward`` on a graph already traced from ``fn`` with ``output=`` (its ``extra`` holds
    the hand-written gradients at the traced inputs); ``memory_limit`` as it was traced with (``fn``
    is traced again at fresh inputs where it may have branched otherwise)."""
    fn_name = getattr(fn, "__name__", "the function")
    inputs = g.inputs
    returned = _Returned(g.extra, output)
    matched = _match(returned, inputs, grads, fn_name)
    for name, key in matched:
        _usable(returned.get(g.extra, key), returned.label(key), name, inputs[name].shape)
    sp = g._dag.formulas
    draws = Draws(sp)
    values: dict[str, list[Any]] = {name: [] for name, _ in matched}

    def call(d: int) -> tuple[Any, Any]:
        copies = {k: v.copy(order="K") if isinstance(v, np.ndarray) else v for k, v in draws.inputs(d).items()}
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its warnings were shown when it was traced
            return pick_output(fn(**copies), output, fn_name)

    # the function at each fresh draw; a draw where it computes another loss than the graph replayed
    # there is left out: the code branched on values (a ReLU's mask h[h <= 0] = 0, a max-pool's
    # argmax) and the graph, replayed with those frozen, is no longer the function
    def same_branches(d: int) -> bool:
        """Whether the function at draw ``d`` is the graph replayed there: the same loss, and traced
        there, the same ops reading the same masks and indices (a ReLU whose input is within 1e-2
        of 0 changes sides and the loss by less than its rounding; its gradient by more)."""
        if not _same_loss(calls[d][0], draws.output(d)):
            return False
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                again = trace(fn, {k: v.copy(order="K") for k, v in draws.inputs(d).items()}, output=output,
                              memory_limit=memory_limit)
            except Exception:  # noqa: BLE001 - it traces otherwise there (raises where the trace did not)
                return False
        return _same_graph(g._dag, again._dag)

    calls = {0: call(0)}
    kept = [0]
    for d in range(1, len(draws)):
        calls[d] = call(d)
        same = same_branches(d)
        for scale in NEARER:  # nearer, where fewer of a net's ReLUs change sides (30 % moved every mask)
            if same or not draws.redraw(d, scale):
                break
            calls[d] = call(d)
            same = same_branches(d)
        if same:
            kept.append(d)
    left_out = len(draws) - len(kept)
    draws.keep(kept)
    again = calls[0][1]  # the same inputs, on plain arrays: the function must give the same gradients
    for name, key in matched:
        first = _numbers(returned.get(g.extra, key))
        try:
            second = _numbers(returned.get(again, key))
            same = second.shape == first.shape and bool(np.allclose(second, first, rtol=1e-8, atol=1e-12,
                                                                    equal_nan=True))
        except (KeyError, IndexError, TypeError, ValueError):
            same = False
        if not same:
            raise GradientMatchError(f"{fn_name}'s {returned.label(key)} changed when it was called again at "
                                     f"the same inputs: does it draw random numbers? Seed them inside "
                                     f"{fn_name}, or pass them as inputs")
        values[name].append(first)
    for d in kept[1:]:
        rest = calls[d][1]
        for name, key in matched:
            try:
                values[name].append(_numbers(returned.get(rest, key)))
            except (KeyError, IndexError, TypeError, ValueError):
                raise GradientMatchError(f"{fn_name} returned no usable {returned.label(key)} at inputs "
                                         f"near the given ones") from None
    verdicts = tuple(check_values(sp, draws, g.node(name), values[name], returned.label(key),
                                  "the hand-written gradient", limit) for name, key in matched)
    if left_out:  # say why a right gradient was compared at fewer inputs than asked
        note = (f" (not at {left_out} fresh input{'s' if left_out > 1 else ''} near them: the function took "
                f"other branches there than the trace recorded, a ReLU's mask or a max's choice, so the "
                f"graph is not its gradient there)")
        verdicts = tuple(dataclasses.replace(v, message=v.message + note) if v.ok else v for v in verdicts)
    unrun = DRAWS - (len(kept) + left_out)  # fresh draws the graph could not be replayed at
    verdicts = tuple(with_unrun(v, unrun) for v in verdicts)
    return BackwardCheck(float(g.value), verdicts)


#: How far fresh inputs are drawn again, in turn, where the function branched otherwise than the
#: trace recorded (a fraction of each input's size): near enough that a net's ReLU masks mostly hold,
#: far enough that a gradient right only at the traced inputs is told apart
NEARER = (1e-2, 1e-3, 1e-4)


def _same_graph(dag: Any, other: Any) -> bool:
    """Whether ``other`` (the function traced at other inputs) records what ``dag`` does: the same
    ops on the same operands with the same parameters, and the same constants (a mask computed from
    the values, ``h > 0``, is one; so is a boolean index of a write, ``h[h <= 0] = 0``)."""
    if len(dag.nodes) != len(other.nodes):
        return False
    for a, b in zip(dag.nodes, other.nodes):
        if a.kind != b.kind or a.op is not b.op or \
                [e.src.index for e in a.in_edges] != [e.src.index for e in b.in_edges]:
            return False
        if a.kind == "const" and not _same_value(a.value, b.value):
            return False
        if a.params.keys() != b.params.keys() or not all(_same_value(a.params[k], b.params[k]) for k in a.params):
            return False
    return True


def _same_value(a: Any, b: Any) -> bool:
    """Equal parameters or constants: arrays entry by entry (a traced index by its numbers), NaN
    equal to NaN (``np.pad(x, 1, constant_values=np.nan)``), sequences item by item."""
    a, b = (x.value if type(x) is Traced else x for x in (a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)) and a != a and b != b:
        return True
    try:
        same = a == b
        return bool(same) if isinstance(same, (bool, np.bool_)) else a is b
    except (TypeError, ValueError):
        return a is b


def _same_loss(loss: Any, replayed: Any) -> bool:
    try:
        a, b = np.asarray(loss, dtype=float), np.asarray(replayed, dtype=float)
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))
    except (TypeError, ValueError):
        return False


class _Returned:
    """Where the gradients are in what the function returned besides its loss (``rest``, as
    ``pick_output`` gives it): ``root`` is the container of gradients (or the one gradient), a
    gradient is reached from ``rest`` by ``prefix + key``, and labelled by its place in the value
    the function returned (``returned[1]['W']``)."""

    def __init__(self, rest: Any, output: Any) -> None:
        self.output = output
        self.prefix: tuple[Any, ...] = ()
        root = rest
        if isinstance(rest, (tuple, list)) and len(rest) == 1:
            self.prefix, root = (0,), rest[0]
        elif isinstance(rest, dict) and len(rest) == 1 and isinstance(next(iter(rest.values())), dict):
            key = next(iter(rest))
            self.prefix, root = (key,), rest[key]
        self.root = root

    def get(self, rest: Any, key: tuple[Any, ...]) -> Any:
        value = rest
        for k in (*self.prefix, *key):
            value = value[k]
        return value

    def label(self, key: tuple[Any, ...]) -> str:
        parts = []
        for depth, k in enumerate((*self.prefix, *key)):
            if depth == 0 and type(k) is int and type(self.output) is int and k >= self.output >= 0:
                k += 1  # the loss was taken out before it
            parts.append(f"[{k!r}]")
        return "returned" + "".join(parts)


def _match(returned: _Returned, inputs: Mapping[str, Any], grads: Any,
           fn_name: str) -> list[tuple[str, tuple[Any, ...]]]:
    """``(input name, key)`` for each returned gradient to check, in the order returned."""
    floats = [n for n, node in inputs.items() if node.differentiable]
    root = returned.root
    if grads is not None and not isinstance(grads, (str, Mapping, Sequence)):
        raise TypeError(f"grads= must be an input's name, a sequence of names or a mapping of keys to "
                        f"names, got {type(grads).__name__}")

    def known(name: Any, what: str) -> str:
        if name not in inputs:
            raise GradientMatchError(f"{what} {name!r}, which is not an input of {fn_name} (its inputs: "
                                     f"{', '.join(inputs) or 'none'})")
        if name not in floats:
            raise GradientMatchError(f"{what} {name!r}, an input with an integer or boolean dtype: it has no "
                                     f"gradient to check")
        return name

    matched: list[tuple[str, tuple[Any, ...]]] = []
    if isinstance(root, dict):
        if isinstance(grads, Mapping):
            absent = [k for k in grads if k not in root]
            pairs = [(key, grads[key], f"{{option}} maps {key!r} to") for key in root if key in grads]
        else:
            chosen = None if grads is None else [grads] if isinstance(grads, str) else list(grads)
            absent = [k for k in chosen or () if k not in root]
            pairs = [(key, key, f"{fn_name} returned a gradient keyed") for key in root
                     if chosen is None or key in chosen]
        if absent:
            raise GradientMatchError(f"{fn_name} returned no gradient keyed {absent[0]!r} (its keys: "
                                     f"{', '.join(map(repr, root)) or 'none'})")
        for key, name, what in pairs:
            if name not in inputs and not isinstance(grads, Mapping):
                example = floats[0] if floats else "NAME"
                raise GradientMatchError(
                    f"{fn_name} returned a gradient keyed {key!r}, which is not an input (its inputs: "
                    f"{', '.join(inputs) or 'none'}); say which input each key is for with {{hint}}",
                    (f"grads={{{key!r}: {example!r}, ...}}", f"--grads {key}={example},..."))
            matched.append((known(name, what), (key,)))
    elif isinstance(root, (tuple, list)):
        if isinstance(grads, Mapping):
            raise GradientMatchError(f"{{option}} is a mapping, but {fn_name} returned its gradients as a "
                                     f"{type(root).__name__}: name their inputs in order instead")
        names = floats if grads is None else [grads] if isinstance(grads, str) else list(grads)
        if len(names) != len(root):
            if grads is None:
                example = (floats + ["NAME"] * len(root))[:len(root)]
                raise GradientMatchError(f"{fn_name} returned {len(root)} gradients but has {len(floats)} "
                                         f"float inputs ({', '.join(floats) or 'none'}); name the inputs "
                                         f"they are for, in order, with {{hint}}",
                                         (f"grads={tuple(example)!r}", f"--grads {','.join(example)}"))
            raise GradientMatchError(f"{{option}} names {_count(len(names), 'input')} but {fn_name} "
                                     f"returned {_count(len(root), 'gradient')}")
        matched = [(known(name, "{option} names"), (k,)) for k, name in enumerate(names)]
    else:
        if grads is None:
            if len(floats) != 1:
                example = floats[0] if floats else "NAME"
                raise GradientMatchError(f"{fn_name} returned one gradient but has {len(floats)} float "
                                         f"inputs ({', '.join(floats) or 'none'}); say which it is for "
                                         f"with {{hint}}", (f"grads={example!r}", f"--grads {example}"))
            name = floats[0]
        elif isinstance(grads, str) or (not isinstance(grads, Mapping) and len(grads) == 1):
            name = known(grads if isinstance(grads, str) else list(grads)[0], "{option} names")
        else:
            raise GradientMatchError(f"{{option}} names {_count(len(grads), 'input')} but {fn_name} returned "
                                     f"one gradient")
        matched = [(name, ())]
    seen: set[str] = set()
    for name, _ in matched:
        if name in seen:
            raise GradientMatchError(f"two of the returned gradients are for {name!r}")
        seen.add(name)
    return matched


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _usable(value: Any, label: str, name: str, shape: tuple[int, ...]) -> None:
    """Refuse a returned gradient that is not an array of numbers shaped like its input (its
    transpose, or the same entries with axes of length 1 added or dropped, passes: that is a verdict)."""
    if value is None:
        raise GradientMatchError(f"{label}, the gradient for {name}, is None")
    try:
        got = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise GradientMatchError(f"{label}, the gradient for {name}, is a {type(value).__name__}, not an "
                                 f"array of numbers") from None
    if got.shape != shape and not (got.ndim == 2 and got.shape == shape[::-1]) and not (
            got.size == int(np.prod(shape)) and squeezed(got.shape) == squeezed(shape)):
        raise GradientMatchError(f"{label}, the gradient for {name}, has shape {got.shape} but {name} has "
                                 f"shape {shape}")
