"""What ``graphviz-bp derive`` prints: each gradient as the sum of its per-path terms, each term with
the path it follows and whether it was verified, and the named intermediates used; as Unicode text,
as LaTeX (an ``align*`` block for notes) or as Markdown with ``$…$`` math (for docs)."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from ..claims import Derivation  # what Graph.derivation returns

__all__ = ["as_latex", "as_markdown", "as_text"]

CHECK, CROSS = "✓", "✗"
WIDTH = 80  # a term and its path side by side while together they fit in about this many columns
LEGEND = "verified: the term equals its path's contribution at the traced inputs and at fresh ones near them"


def _width(s: str) -> int:
    """Columns ``s`` takes in a terminal (combining marks take none)."""
    return sum(0 if unicodedata.combining(c) else 1 for c in s)


def _pad(s: str, width: int) -> str:
    return s + " " * (width - _width(s))


def _one_line(s: str | None) -> str:
    return " ".join(str(s or "").split())


def _where_from(source: str | None) -> str:
    return f" in {source}" if source else ""


def as_text(loss: str, derivations: Sequence[Derivation], source: str | None = None) -> str:
    """Unicode, for the terminal (and pipes)::

        L = 0.5*sum((W.T@W@x - x)**2)

        ∂L/∂W = (Wx) rᵀ + (Wr) xᵀ
          where r = WᵀWx − x
          ✓ (Wx) rᵀ   path through Wᵀ
          ✓ (Wr) xᵀ   path through Wx
    """
    out = [f"L = {loss}{_where_from(source)}"]
    for d in derivations:
        out.append("")
        terms = d.formula.terms
        if not terms:
            out.append(f"∂L/∂{d.name} = 0   ({d.name} does not reach L)")
            continue
        out.append(f"∂L/∂{d.name} = {d.formula.text}")
        for k, (n, definition) in enumerate(d.where):
            out.append(f"  {'where' if k == 0 else '     '} {n} = {definition}")
        width = max(_width(t.text) for t in terms)
        side_by_side = width + max(_width(s) for s in d.through) <= WIDTH
        for t, through in zip(terms, d.through):
            mark = CHECK if t.verified else CROSS
            if side_by_side:
                line = f"  {mark} {_pad(t.text, width)}   path through {through}"
            else:  # long terms: the path, then its term below it
                out.append(f"  {mark} path through {through}:")
                line = f"      {t.text}"
            out.append(line if t.verified else f"{line}   not verified: {_one_line(t.why)}")
    out += ["", f"{CHECK} {LEGEND}"]
    return "\n".join(out)


def _frac(d: Derivation) -> str:
    return f"\\frac{{\\partial L}}{{\\partial {d.name_latex}}}"


def _term_latex(d: Derivation, k: int, braces: bool) -> str:
    t = d.formula.terms[k]
    if not braces:
        return t.latex
    note = "" if t.verified else r"\text{, not verified}"
    return f"\\underbrace{{{t.latex}}}_{{\\text{{through }} {d.through_latex[k]}{note}}}"


def as_latex(loss: str, derivations: Sequence[Derivation], source: str | None = None) -> str:
    """An ``align*`` block: each gradient with its terms under braces naming their paths, then the
    named intermediates (``\\text{where}\\quad r &= W^\\top W x - x``)."""
    out = [f"% L = {_one_line(loss + _where_from(source))}",
           "% graphviz-bp derive: one term per path, each checked numerically"]
    for d in derivations:
        for t, through in zip(d.formula.terms, d.through):
            if not t.verified:
                out.append(f"% not verified (path through {through}): {_one_line(t.why)}")
    out.append("\\begin{align*}")
    rows: list[str] = []
    where: dict[str, str] = {}
    for d in derivations:
        terms = d.formula.terms
        if not terms:
            rows.append(f"  {_frac(d)} &= 0")
            continue
        braces = len(terms) > 1
        parts = [_term_latex(d, k, braces) for k in range(len(terms))]
        rows.append(f"  {_frac(d)} &= " + "\n    + ".join(parts))
        for n, definition in d.where_latex:
            where.setdefault(n, definition)
    rows += [f"  \\text{{where}}\\quad {n} &= {definition}" if i == 0 else f"  {n} &= {definition}"
             for i, (n, definition) in enumerate(where.items())]
    out.append(" \\\\\n".join(rows))
    out.append("\\end{align*}")
    return "\n".join(out)


def _code(s: str) -> str:
    """``s`` as a Markdown code span, whatever backticks it holds."""
    s = _one_line(s)
    run = longest = 0
    for c in s:
        run = run + 1 if c == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def as_markdown(loss: str, derivations: Sequence[Derivation], source: str | None = None) -> str:
    """Markdown with ``$…$`` math: each gradient displayed, then one bullet per path."""
    where = f" in {_code(source)}" if source else ""
    out = [f"For $L$ = {_code(loss)}{where}, one term per path, each checked numerically:"]
    for d in derivations:
        out.append("")
        terms = d.formula.terms
        if not terms:
            out.append(f"$${_frac(d)} = 0$$ (${d.name_latex}$ does not reach $L$)")
            continue
        out.append(f"$${_frac(d)} = {d.formula.latex}$$")
        if d.where_latex:
            out += ["", "where " + ", ".join(f"${n} = {definition}$" for n, definition in d.where_latex)]
        out.append("")
        for k, t in enumerate(terms):
            mark = f"{CHECK} verified" if t.verified else f"{CROSS} not verified: {_one_line(t.why)}"
            out.append(f"- through ${d.through_latex[k]}$: ${t.latex}$ ({mark})")
    return "\n".join(out)
