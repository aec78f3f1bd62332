"""Formulas: matrix expressions with shapes (``expr``), evaluated with NumPy (``evaluate``), printed
as Unicode, LaTeX and the expression language (``printing``), simplified by rules (``simplify``),
and the symbolic pass over a traced graph that verifies each formula numerically (``formulas``)."""

from __future__ import annotations

from .formulas import Formula, SymbolicPass, Term

__all__ = ["Formula", "SymbolicPass", "Term"]
