"""Gradient checking: the traced gradient of each input against central finite differences.

``check(fn, ...)`` traces ``fn`` and compares; ``compare(fn, values, grads)`` compares gradients
obtained elsewhere (a traced graph's, or a hand-written gradient). The result is data
(``CheckResult``, one ``InputCheck`` per input) that front ends print; later stages build claimed-
gradient diagnosis on it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .api import trace
from .limits import DEFAULT_MEMORY_LIMIT
from .tracer import pick_output

__all__ = ["CheckResult", "InputCheck", "check", "compare"]


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


@dataclass(frozen=True)
class CheckResult:
    """Every input's ``InputCheck``, with the function's value and the tolerances used."""

    value: float
    rtol: float
    eps: float
    inputs: tuple[InputCheck, ...]

    @property
    def passed(self) -> bool:
        """True when every input's relative error is within ``rtol``."""
        return all(c.passed for c in self.inputs)

    def __getitem__(self, name: str) -> InputCheck:
        for c in self.inputs:
            if c.name == name:
                return c
        raise KeyError(f"no input named {name!r}; inputs: {', '.join(c.name for c in self.inputs)}")

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else "FAILED: " + ", ".join(c.name for c in self.inputs if not c.passed)
        return f"<CheckResult {verdict}; rtol {self.rtol:g}>"


def check(fn: Callable[..., Any], inputs: Mapping[str, Any] | None = None, /, *, rtol: float = 1e-6,
          eps: float = 1e-6, max_coords: int = 2000, coords_seed: int = 0,
          memory_limit: int | str | None = DEFAULT_MEMORY_LIMIT, output: Any = None,
          **kw_inputs: Any) -> CheckResult:
    """Trace ``fn`` (inputs as for ``trace``; the output must be a scalar) and compare each input's
    gradient with central differences of step ``eps`` on at most ``max_coords`` entries per input
    (chosen at random with ``coords_seed`` when there are more). ``output`` picks the loss when
    ``fn`` returns several values, as for ``trace``.

    >>> import numpy as np
    >>> r = check(lambda W, x: 0.5 * np.sum((W @ x) ** 2), W=np.eye(2), x=np.array([1.0, 2.0]))
    >>> r.passed, r["x"].error < 1e-8
    (True, True)
    """
    g = trace(fn, inputs, memory_limit=memory_limit, output=output, **kw_inputs)
    values = {name: node.value for name, node in g.inputs.items()}
    grads = {name: node.adjoint for name, node in g.inputs.items()}
    return compare(fn, values, grads, rtol=rtol, eps=eps, max_coords=max_coords, coords_seed=coords_seed,
                   output=output)


def compare(fn: Callable[..., Any], values: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray | None],
            *, rtol: float = 1e-6, eps: float = 1e-6, max_coords: int = 2000,
            coords_seed: int = 0, output: Any = None) -> CheckResult:
    """Compare ``grads`` (by input name; None: not differentiated) with central differences of
    ``fn(**values)`` (its item ``output`` when it returns several values). ``fn`` is called with
    plain arrays, twice per checked entry."""
    if not (eps > 0 and rtol > 0 and max_coords > 0):
        raise ValueError("eps, rtol and max_coords must be positive")
    rng = np.random.default_rng(coords_seed)
    values = dict(values)

    name = getattr(fn, "__name__", "the function")

    def f(**vals: np.ndarray) -> float:  # on copies: the function may write into its inputs
        copies = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in vals.items()}
        return float(pick_output(fn(**copies), output, name)[0])

    results = []
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the user's code, evaluated 2n times: its warnings were shown once
        value = f(**values)
        for name, v in values.items():
            grad = grads.get(name)
            shape = tuple(np.shape(v))
            if grad is None:
                results.append(InputCheck(name, shape, differentiated=False, size=int(np.size(v))))
                continue
            results.append(_compare_one(f, values, name, np.asarray(grad, dtype=float), eps, rtol,
                                        max_coords, rng))
    return CheckResult(value, rtol, eps, tuple(results))


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
    for k, idx in enumerate(coords):
        up, down = base.copy(), base.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[k] = (f(**{**values, name: up}) - f(**{**values, name: down})) / (2 * eps)
    ana = np.array([analytic[idx] for idx in coords])
    diff = np.abs(ana - numeric)
    denom = max(float(np.linalg.norm(numeric)), float(np.linalg.norm(ana)), float(np.finfo(float).tiny))
    error = float(np.linalg.norm(ana - numeric) / denom)
    k = int(np.nanargmax(diff)) if np.isfinite(diff).any() else 0
    return InputCheck(name, base.shape, True, float(np.linalg.norm(ana)), float(np.linalg.norm(numeric)),
                      error, tuple(int(i) for i in coords[k]), float(ana[k]), float(numeric[k]),
                      len(coords), base.size, bool(np.isfinite(error) and error <= rtol))
