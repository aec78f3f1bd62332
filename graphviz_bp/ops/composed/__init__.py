"""NumPy functions recorded as the primitives they are made of: ``np.median`` is a sort, a slice and
a mean; ``np.cov`` a mean, a subtraction and a product; ``np.nansum`` a ``where`` and a sum. They
have no VJP rule or formula of their own (their parts have), and each computes what NumPy computes,
in NumPy's order of operations (the same numbers, to the last bit where NumPy's own code is written
in NumPy). Each binds NumPy's signature and refuses by name the keywords it does not handle.

What a function decides from the values (where the NaNs are, the order ``np.partition`` puts the
entries in) is read from them and enters the graph as a constant, as ``np.argmax`` does.
The tracer hands a call to ``COMPOSED[func]`` when one of its arguments is traced; the functions
call NumPy on the traced values, which records their parts.

Modules: ``_registry`` (the table, the decorators that fill it, shared helpers), ``nans`` (reductions
and scans that skip NaNs), ``order`` (median, quantiles, partition), ``statistics`` (average, cov,
corrcoef), ``calculus`` (differences, integrals, interpolation, convolution), ``matrices``,
``shapes`` (moving, splitting, joining; ``np.r_``, ``np.c_``) and ``selections`` (select, choose,
piecewise; copysign, fmax, fmin, fabs).
"""

from __future__ import annotations

from . import calculus, matrices, nans, order, selections, shapes, statistics  # noqa: F401 (they register themselves)
from ._registry import COMPOSED, FRAMED
from .shapes import joined_items

__all__ = ["COMPOSED", "FRAMED", "joined_items"]
