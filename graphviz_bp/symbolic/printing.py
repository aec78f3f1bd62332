"""Printing expressions: as mathematics in Unicode (``W r xᵀ``) and LaTeX (``W r x^\\top``), with
1-d arrays read as columns, and in the CLI's expression language (``W @ outer(r, x)``), which
``gb.evaluate`` runs.

Beyond the usual notation:

- ``[z > 0]`` is an Iverson bracket: 1 where the statement holds, else 0 (``[a ∧ b]`` both,
  ``[a ∨ b]`` either, ``[a ≰ b]`` not ``a ≤ b``, ``[|x| < ∞]`` where ``x`` is finite); ``⌊x / y⌋``
  rounds down; ``C`` is a constant array, ``I`` the identity.
- ``ḡ → [1:4]`` is the message of a gather: ``ḡ`` put back where the op read its operand, in zeros
  of the operand's shape, an entry read several times receiving the sum of its parts. What follows
  the arrow is the index (``ḡ → [arange(4), y]``: ``ḡ[k]`` goes to row ``k``, column ``y[k]``), or
  the op as the drawing labels it (``ḡ → pad 1×1 edge``, ``ḡ → take_along axis 1``,
  ``ḡ → repeat 3 axis 0``). In linear-algebra terms it is Pᵀḡ, for P the 0/1 matrix of the gather.
- ``(ḡ with [1:3] ← 0)`` is ``ḡ`` with the entries ``[1:3]`` replaced (the message to an array whose
  entries ``[1:3]`` were overwritten).

In the expression language the brackets are the mask functions (``greater(z, 0)``,
``logical_and(a, b)``, ``logical_not(a)``); a gather's message is zeros padded around ``ḡ`` for a
basic index, else ``ḡ`` contracted with one-hot matrices (``einsum('ai,a->i', eye(4)[[0, 2, 0]],
g)``: Pᵀḡ); ``(ḡ with … ← 0)``, ``|x| < ∞``, ``⌊x / y⌋`` and ``tril`` have no spelling there:
``expression`` raises ValueError, as for the other pseudo-ops."""

from __future__ import annotations

import keyword
import math
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from .sharing import ELIDED, SHARED, elide
from .expr import AND, COMPARE, FLOOR_DIVIDE, GATHER_BACK, ISFINITE, NOT, OPAQUE, OR, SCATTER, SIGN, SUM_TO, \
    TRIL, Expr

__all__ = ["text", "latex", "expression", "number"]

# precedences: a part is parenthesised inside a tighter context (ARROW: ``ḡ → [i]``)
ARROW, SUM, HADAMARD, PRODUCT, UNARY, POSTFIX, ATOM = range(0, 7)

_ULP = 2.0 ** -52
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_SUBSCRIPT = str.maketrans("0123456789,-", "₀₁₂₃₄₅₆₇₈₉,₋")
_FRACTIONS = {Fraction(1, 2): "½", Fraction(1, 3): "⅓", Fraction(2, 3): "⅔", Fraction(1, 4): "¼",
              Fraction(3, 4): "¾", Fraction(1, 5): "⅕", Fraction(1, 8): "⅛"}


class _Style:
    """The tokens of one notation."""

    def __init__(self, latex: bool) -> None:
        self.latex = latex
        self.T = "^\\top" if latex else "ᵀ"
        self.hadamard = " \\odot " if latex else " ⊙ "
        self.hdivide = " \\oslash " if latex else " ⊘ "
        self.minus = "-" if latex else "−"
        self.times = " " if latex else " "
        self.sigma = "\\sigma" if latex else "σ"
        self.sum = "\\sum" if latex else "Σ"
        self.inverse = "^{-1}" if latex else "⁻¹"
        self.seed = "\\bar{g}" if latex else "ḡ"

    def paren(self, s: str) -> str:
        return f"\\left({s}\\right)" if self.latex else f"({s})"

    def sup(self, k: int) -> str:
        return f"^{{{k}}}" if self.latex else str(k).translate(_SUPERSCRIPT)

    def sub(self, s: str) -> str:
        return f"_{{{s}}}" if self.latex else s.translate(_SUBSCRIPT)

    def fn(self, name: str) -> str:
        if not self.latex:
            return name
        if name in ("exp", "log", "tanh", "sin", "cos", "tan", "sinh", "cosh", "det", "max", "min", "arctan", "arcsin",
                    "arccos"):
            return f"\\{name}"
        if name in ("log2", "log10"):
            return f"\\log_{{{name[3:]}}}"
        return "\\operatorname{" + name.replace("_", "\\_") + "}"

    def words(self, t: str) -> str:
        """Plain text (an index, an op's label) inside a formula."""
        if not self.latex:
            return t
        return "\\text{" + "".join(_LATEX_TEXT.get(c, c) for c in t) + "}"

    def name(self, n: str) -> str:
        if not self.latex:
            return n
        if len(n) == 1:
            return n
        head = n.rstrip("0123456789")
        return f"{head}_{{{n[len(head):]}}}" if head and head != n and len(head) == 1 else f"\\mathrm{{{n}}}"

    def bar(self, n: str) -> str:
        if self.latex:
            return f"\\bar{{{self.name(n)}}}" if len(n) <= 2 else f"\\overline{{{self.name(n)}}}"
        return n + "\u0304" if len(n) == 1 else f"∂L/∂{n}"


_LATEX_TEXT = {"\\": "\\textbackslash{}", "{": "\\{", "}": "\\}", "_": "\\_", "%": "\\%", "&": "\\&",
               "#": "\\#", "$": "\\$", "^": "\\^{}", "~": "\\~{}", "×": "$\\times$", "…": "\\dots{}",
               "·": "$\\cdot$"}
_UNICODE, _LATEX = _Style(False), _Style(True)


def text(e: Expr, limit: int | None = None) -> str:
    """``e`` in Unicode mathematics: 1-d arrays are columns (``u vᵀ`` is an outer product), ``⊙``
    and ``⊘`` are elementwise, ``Σ₀`` sums over axis 0, ``[z > 0]`` is 1 where true. With
    ``limit``, parts deep enough to make it longer than about ``limit`` characters are ``…``.

    >>> from graphviz_bp.symbolic.expr import sym
    >>> W, x = sym("W", (2, 3), "input"), sym("x", (3,), "input")
    >>> text(W @ x), text(0.5 * (W.T @ W @ x - x) ** 2)
    ('Wx', '½(WᵀWx − x)²')
    """
    if limit is not None:
        e = elide(e, limit)
    return _deep(lambda: _Printer(_UNICODE).run(e)[0])


def latex(e: Expr, limit: int | None = None) -> str:
    """``e`` in LaTeX (``\\top`` for transposes, ``\\odot`` elementwise); ``limit`` as in ``text``."""
    if limit is not None:
        e = elide(e, limit)
    return _deep(lambda: _Printer(_LATEX).run(e)[0])


def _deep(print_it: Callable[[], str]) -> str:
    """``print_it()``; for a formula nested deeper than Python's recursion limit (a chain of
    hundreds of layers), run again in a thread with a large stack and a high limit."""
    try:
        return print_it()
    except RecursionError:
        pass
    import sys
    import threading

    result: list[Any] = []
    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    try:
        sys.setrecursionlimit(max(old_limit, 200_000))
        threading.stack_size(512 * 1024 * 1024)
        worker = threading.Thread(target=lambda: result.append(_attempt(print_it)))
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_stack)
        sys.setrecursionlimit(old_limit)
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _attempt(print_it: Callable[[], str]) -> Any:
    try:
        return print_it()
    except Exception as exc:  # noqa: BLE001 - raised again in the caller's thread
        return exc


def number(v: float) -> str:
    """A number as formulas write it: ``½``, ``2``, ``0.1``, ``−3``, ``1.235e+04``.

    >>> number(0.5), number(2.0), number(-0.25), number(0.1), number(float("-inf")), number(0.1 ** 2)
    ('½', '2', '−¼', '0.1', '−∞', '0.01')
    """
    return _number(float(v), _UNICODE)


def _number(v: float, style: _Style) -> str:
    if v != v:
        return "\\mathrm{nan}" if style.latex else "nan"
    if not math.isfinite(v):  # np.clip(z, 0, np.inf): a bound may be infinite
        return (style.minus if v < 0 else "") + ("\\infty" if style.latex else "∞")
    f = Fraction(v).limit_denominator(16)
    negative = v < 0
    f = abs(f)
    exact = abs(float(f) - abs(v)) <= 4 * _ULP * abs(v)  # a few ulps: 1e-15 is not 0, 1 − 1e-15 not 1
    if exact and f.denominator == 1:
        body = str(f.numerator)
    elif exact and f in _FRACTIONS:
        body = f"\\frac{{{f.numerator}}}{{{f.denominator}}}" if style.latex else _FRACTIONS[f]
    elif len(repr(abs(v))) <= 6:  # a short decimal: 0.1, 1.25
        body = repr(abs(v))
    elif exact:
        body = f"\\frac{{{f.numerator}}}{{{f.denominator}}}" if style.latex else f"{f.numerator}/{f.denominator}"
    else:
        body = f"{abs(v):.4g}"
        # a number that would read as a whole one it is not, or a power of ten (Adam's 1 − 0.9¹⁰⁰ =
        # 0.99997 as "÷ 1", a guard 1 − 1e-15, 9999.99 as "1e+04"), is written with the digits that
        # tell it apart; one within a computation's rounding of a short decimal as that (0.1 ** 2 =
        # 0.010000000000000002 is 0.01, 1 − 0.999² = 0.001998999999999973 is 0.001999), one further
        # off in full (0.1 + 1e-10)
        digits = 4
        while "." not in body.split("e")[0] and float(body) != abs(v) and digits < 17:
            digits += 1
            body = f"{abs(v):.{digits}g}"
        if 1e-12 * abs(v) < abs(float(body) - abs(v)) <= 1e-9 * abs(v):
            body = repr(abs(v))
    return (style.minus if negative else "") + body


def _literal_number(v: Any) -> str:
    """A number in the expression language: Python's literal, ±∞ as ``±1e999`` (which reads as
    infinity: ``np.clip(z, 0, np.inf)``); nan has no spelling.

    >>> _literal_number(0.5), _literal_number(float("-inf"))
    ('0.5', '-1e999')
    """
    if not isinstance(v, float):
        return repr(v)
    v = float(v)
    if v != v:
        raise ValueError("nan has no spelling in the expression language")
    return repr(v) if math.isfinite(v) else ("1e999" if v > 0 else "-1e999")


def _param(v: Any) -> str:
    """A parameter of a call as a formula shows it: an array by its shape, not its entries.

    >>> _param((slice(None), np.array([[0], [1]]))), _param(2)
    ('(:, array 2×1)', '2')
    """
    if isinstance(v, np.ndarray):
        return f"array {'×'.join(map(str, v.shape)) or 'scalar'}"
    if isinstance(v, slice):
        return ":".join("" if x is None else str(x) for x in (v.start, v.stop, v.step)).rstrip(":") or ":"
    if isinstance(v, tuple):
        return "(" + ", ".join(_param(x) for x in v) + ")"
    return str(v)


def _is_letter(s: str) -> bool:
    """A single letter, maybe with a bar, a transpose or a superscript: written next to its
    neighbours without a space in a product (``WᵀWx``)."""
    core = s.rstrip("ᵀ⁻¹²³\u0304")
    if core.endswith("⁻"):
        core = core[:-1]
    return len(core) == 1 and core.isalpha()


class _Printer:
    def __init__(self, style: _Style) -> None:
        self.s = style

    def run(self, e: Expr) -> tuple[str, int]:
        s = self.s
        if e.kind == "num":
            return _number(float(e.value), s), (ATOM if e.value >= 0 else UNARY)
        if e.kind == "array":
            v = e.value
            if not v.any():
                return "0", ATOM
            if np.all(v == v.flat[0]):  # one number, broadcast
                return _number(float(v.flat[0]), s), (ATOM if v.flat[0] >= 0 else UNARY)
            if v.ndim == 2 and v.shape[0] == v.shape[1] and v.size and \
                    np.array_equal(v, v[0, 0] * np.eye(v.shape[0])):  # c·I
                c = float(v[0, 0])
                return ("I" if c == 1 else _number(c, s) + "I"), (ATOM if c == 1 else PRODUCT)
            return "C", ATOM
        if e.kind == "sym":
            if e.role == "seed":
                return s.seed, ATOM
            if e.role == "adjoint":
                return s.bar(e.name), ATOM
            if e.role == "cotangent":  # the consumer's cotangent in an edge's local formula
                return s.seed, ATOM
            if e.role == SHARED:  # a temporary: t₁
                head = e.name.rstrip("0123456789")
                return head + s.sub(e.name[len(head):]), ATOM
            if e.role == ELIDED:
                return ("\\dots" if s.latex else "…"), ATOM
            return s.name(e.name), ATOM
        handler = _HANDLERS.get(e.op.name)
        if handler is not None:
            got = handler(self, e)
            if got is not None:
                return got
        return self.call(e)

    def wrap(self, e: Expr, at_least: int) -> str:
        t, p = self.run(e)
        return t if p >= at_least else self.s.paren(t)

    def factor(self, e: Expr, at_least: int) -> str:
        """``wrap``, for an operand after another: a negative one in parentheses too (``2(−x)``,
        ``a ⊙ (−b)``, ``a − (−b)``: ``2 −x`` would read as a difference)."""
        t, p = self.run(e)
        return t if p >= at_least and not t.startswith(self.s.minus) else self.s.paren(t)

    def call(self, e: Expr, name: str | None = None) -> tuple[str, int]:
        args = [self.run(a)[0] for a in e.args]
        text = e.params.get("text")
        params = [(self.s.words(text) if k == "index" and text else f"{k}={_param(v)}") for k, v in e.params.items()
                  if k not in ("text",) and v is not None and not (k == "keepdims" and v is False)]
        label = name or getattr(e.op, "expr_name", None) or e.op.name
        return f"{self.s.fn(label)}{self.s.paren(', '.join(args + params))}", POSTFIX

    def product(self, parts: list[Expr]) -> tuple[str, int]:
        """Factors side by side: single letters touch (``WᵀWx``), except in a product with an outer
        product's row, where every factor stands apart (``W r xᵀ``, ``(Wx) rᵀ``)."""
        texts = [(self.factor if k else self.wrap)(p, PRODUCT if p.kind != "call" or p.op is not _ROW else POSTFIX)
                 for k, p in enumerate(parts)]
        spaced = any(p.kind == "call" and p.op is _ROW for p in parts)
        out = texts[0]
        for prev, t in zip(texts, texts[1:]):
            # (a group touches what follows, a call does not: "(Wx)(Wr)", but "diag(w) (Vᵀ)")
            tight = (_is_letter(prev) or (prev.endswith(")") and prev.startswith("("))) and \
                (_is_letter(t) or t.startswith("("))
            out += ("" if tight and not spaced and not self.s.latex else " ") + t
        return out, PRODUCT


def _add(p: _Printer, e: Expr) -> tuple[str, int]:
    a, b = e.args
    right, prec = p.run(b)
    if prec < SUM:  # (a message put back where a gather read, ``ḡ → [0]``: in parentheses, as on the left)
        return f"{p.wrap(a, SUM)} + {p.s.paren(right)}", SUM
    if right.startswith(p.s.minus) and prec >= UNARY:
        return f"{p.wrap(a, SUM)} {p.s.minus} {right[len(p.s.minus):]}", SUM
    return f"{p.wrap(a, SUM)} + {right}", SUM


def _subtract(p: _Printer, e: Expr) -> tuple[str, int]:
    a, b = e.args
    return f"{p.wrap(a, SUM)} {p.s.minus} {p.factor(b, HADAMARD)}", SUM


def _negative(p: _Printer, e: Expr) -> tuple[str, int]:
    return f"{p.s.minus}{p.factor(e.args[0], PRODUCT)}", UNARY


def _multiply(p: _Printer, e: Expr) -> tuple[str, int]:
    a, b = e.args
    if a.kind == "num" or b.kind == "num":
        c, x = (a, b) if a.kind == "num" else (b, a)
        if c.value == -1:
            return f"{p.s.minus}{p.factor(x, PRODUCT)}", UNARY
        coefficient = _number(float(c.value), p.s)
        body = p.factor(x, PRODUCT)
        joint = "" if (_is_letter(body) or body.startswith("(")) and not p.s.latex else " "
        if p.s.latex and body.startswith("\\left("):
            joint = ""
        return coefficient + joint + body, (UNARY if c.value < 0 else PRODUCT)
    if not a.shape or not b.shape:  # a scalar times an array: juxtaposed
        return p.product([a, b] if not a.shape else [b, a])
    return f"{p.wrap(a, HADAMARD)}{p.s.hadamard}{p.factor(b, HADAMARD + 1)}", HADAMARD


def _divide(p: _Printer, e: Expr) -> tuple[str, int]:
    a, b = e.args
    if p.s.latex and (not b.shape):
        return f"\\frac{{{p.run(a)[0]}}}{{{p.run(b)[0]}}}", ATOM
    if not b.shape:
        return f"{p.wrap(a, PRODUCT)} / {p.wrap(b, POSTFIX)}", PRODUCT
    return f"{p.wrap(a, HADAMARD)}{p.s.hdivide}{p.factor(b, HADAMARD + 1)}", HADAMARD


def _power(p: _Printer, e: Expr) -> tuple[str, int] | None:
    a, b = e.args
    if b.kind != "num":
        return None
    v = float(b.value)
    if v == 0.5:
        return ("\\sqrt{" + p.run(a)[0] + "}" if p.s.latex else "√" + p.wrap(a, POSTFIX)), POSTFIX
    if v.is_integer() and -9 <= v <= 9:
        return p.wrap(a, ATOM) + p.s.sup(int(v)), POSTFIX
    return f"{p.wrap(a, ATOM)}^{p.wrap(b, ATOM)}", POSTFIX


def _square(p: _Printer, e: Expr) -> tuple[str, int]:
    """``x²``, as ``x ** 2`` prints."""
    return p.wrap(e.args[0], ATOM) + p.s.sup(2), POSTFIX


def _sqrt(p: _Printer, e: Expr) -> tuple[str, int]:
    """``√x``, as ``x ** 0.5`` prints."""
    a = e.args[0]
    return ("\\sqrt{" + p.run(a)[0] + "}" if p.s.latex else "√" + p.wrap(a, POSTFIX)), POSTFIX


def _reciprocal(p: _Printer, e: Expr) -> tuple[str, int]:
    """``x⁻¹`` for a number, ``1 ⊘ X`` entry by entry for an array."""
    a = e.args[0]
    if not a.shape:
        return p.wrap(a, ATOM) + p.s.sup(-1), POSTFIX
    return f"1{p.s.hdivide}{p.factor(a, HADAMARD + 1)}", HADAMARD


def _norm(p: _Printer, e: Expr) -> tuple[str, int] | None:
    """``‖x‖``: the 2-norm over every axis (a vector's, a matrix's Frobenius norm); over some axes:
    ``norm(…, axis=…)``."""
    if e.params.get("axis") is not None:
        return None
    inner = p.run(e.args[0])[0]
    return (f"\\left\\|{inner}\\right\\|" if p.s.latex else f"‖{inner}‖"), ATOM


def _matmul(p: _Printer, e: Expr) -> tuple[str, int]:
    a, b = e.args
    if a.ndim == 1 and b.ndim == 1:  # uᵀv
        return p.product([_t(a), b])
    if a.ndim == 1 and b.ndim == 2:  # (uᵀB)ᵀ = Bᵀu: the result is a column
        return p.product([_t(b), a])
    if a.ndim > 2 or b.ndim > 2:
        return p.call(e, "matmul")
    return p.product(_factors(a) + _factors(b))


def _factors(e: Expr) -> list[Expr]:
    """The factors of a matrix product, flattened (A(BC) prints as ABC)."""
    if e.kind == "call" and e.op.name == "matmul" and e.args[0].ndim == 2 and e.args[1].ndim in (1, 2):
        return _factors(e.args[0]) + _factors(e.args[1])
    if e.kind == "call" and e.op.name == "outer":
        return [_Group.of(e.args[0]), _t(e.args[1])]
    return [e]


class _Marker:
    """A printing-only wrapper around a part (never evaluated, never in a formula's tree): the
    identity on values, it says how to print the part."""

    def __init__(self, name: str) -> None:
        self.name = name

    def shape(self, shapes: Any, params: Any) -> Any:
        return shapes[0]

    @staticmethod
    def forward(x: np.ndarray) -> np.ndarray:
        return x


_GROUP = _Marker("__group__")  # a compound column in an outer product, kept together: ``(Wx) rᵀ``
_ROW = _Marker("__row__")  # a column printed as a row: ``vᵀ``


class _Group:
    @staticmethod
    def of(e: Expr) -> Expr:
        if e.kind == "call" and e.op.name == "matmul":
            return Expr("call", e.shape, op=_GROUP, args=(e,))
        return e


def _group(p: "_Printer", e: Expr) -> tuple[str, int]:
    return p.s.paren(p.run(e.args[0])[0]), ATOM


def _t(e: Expr) -> Expr:
    from .expr import call
    from .. import ops

    if e.ndim <= 1:  # a column printed as a row: transpose is the identity on 1-d arrays
        return Expr("call", e.shape, op=_ROW, args=(e,))
    return call(ops.get("transpose"), (e,), {"axes": None})


def _row(p: _Printer, e: Expr) -> tuple[str, int]:
    return p.wrap(e.args[0], ATOM) + p.s.T, POSTFIX


def _outer(p: _Printer, e: Expr) -> tuple[str, int]:
    return p.product(_factors(e))


def _transpose(p: _Printer, e: Expr) -> tuple[str, int] | None:
    x = e.args[0]
    if e.params.get("axes") is not None and x.ndim > 2:
        return None
    if x.ndim < 2:
        return p.run(x)
    if x.kind == "call" and x.op.name == "inv":  # (A⁻¹)ᵀ = A⁻ᵀ
        return p.wrap(x.args[0], ATOM) + ("^{-\\top}" if p.s.latex else "⁻ᵀ"), POSTFIX
    return p.wrap(x, ATOM) + p.s.T, POSTFIX


def _axes_text(axes: Any) -> str:
    if axes is None:
        return ""
    axes = axes if isinstance(axes, tuple) else (axes,)
    return ",".join(str(a) for a in axes)


def _sum(p: _Printer, e: Expr) -> tuple[str, int]:
    axes = _axes_text(e.params.get("axis"))
    head = p.s.sum + (p.s.sub(axes) if axes else "")
    return head + " " + p.wrap(e.args[0], POSTFIX) if p.s.latex else head + p.wrap(e.args[0], POSTFIX), UNARY


def _sum_to(p: _Printer, e: Expr) -> tuple[str, int]:
    from ..backward import summed_axes

    x = e.args[0]
    axes = summed_axes(x.shape, tuple(e.params["shape"]))
    head = p.s.sum + p.s.sub(",".join(str(a) for a in axes))
    return (head + " " if p.s.latex else head) + p.wrap(x, POSTFIX), UNARY


def _function(symbol: str) -> Callable[[_Printer, Expr], tuple[str, int]]:
    def handler(p: _Printer, e: Expr) -> tuple[str, int]:
        name = p.s.sigma if symbol == "σ" else p.s.fn(symbol)
        return f"{name}{p.s.paren(p.run(e.args[0])[0])}", POSTFIX
    return handler


def _inverse(p: _Printer, a: Expr) -> str:
    """A⁻¹, or A⁻ᵀ for a transposed A."""
    if a.kind == "call" and a.op.name == "transpose" and a.args[0].ndim == 2:
        return p.wrap(a.args[0], ATOM) + ("^{-\\top}" if p.s.latex else "⁻ᵀ")
    return p.wrap(a, ATOM) + p.s.inverse


def _inv(p: _Printer, e: Expr) -> tuple[str, int]:
    return _inverse(p, e.args[0]), POSTFIX


def _solve(p: _Printer, e: Expr) -> tuple[str, int]:
    a, b = e.args
    right = p.factor(b, PRODUCT)
    return _inverse(p, a) + ("" if _is_letter(right) and not p.s.latex else " ") + right, PRODUCT


def _trace(p: _Printer, e: Expr) -> tuple[str, int] | None:
    if e.args[0].ndim != 2 or e.params.get("offset", 0) != 0 or \
            sorted((e.params.get("axis1", 0) % 2, e.params.get("axis2", 1) % 2)) != [0, 1]:
        return None
    return f"{p.s.fn('tr')}{p.s.paren(p.run(e.args[0])[0])}", POSTFIX


def _slogdet(p: _Printer, e: Expr) -> tuple[str, int]:
    inner = p.wrap(e.args[0], POSTFIX)
    return (f"\\log\\left|\\det {inner}\\right|" if p.s.latex else f"log|det {inner}|"), POSTFIX


def _index(p: _Printer, e: Expr) -> tuple[str, int]:
    return p.wrap(e.args[0], ATOM) + p.s.words(e.params.get("text") or "[·]"), POSTFIX


def _broadcast(p: _Printer, e: Expr) -> tuple[str, int]:
    return p.run(e.args[0])  # broadcasting is implicit, as in NumPy


_RELATIONS_LATEX = {"≥": "\\geq", "≤": "\\leq", "≠": "\\neq", "≯": "\\ngtr", "≱": "\\ngeq", "≮": "\\nless",
                    "≰": "\\nleq"}
_NEGATED = {">": "≯", "≥": "≱", "<": "≮", "≤": "≰", "=": "≠", "≠": "="}  # exact, also for NaN
_BRACKETS = {c.name for c in COMPARE.values()} | {AND.name, OR.name, NOT.name, ISFINITE.name}


def _statement(p: _Printer, e: Expr, negated: bool = False) -> str:
    """What an Iverson bracket says (``z > 0``), or its negation (``z ≯ 0``)."""
    name = e.op.name if e.kind == "call" else ""
    if name in _NEGATED:
        relation = _NEGATED[name] if negated else name
        relation = _RELATIONS_LATEX.get(relation, relation) if p.s.latex else relation
        return f"{p.run(e.args[0])[0]} {relation} {p.run(e.args[1])[0]}"
    if name == NOT.name:
        return _statement(p, e.args[0], not negated)
    if negated:
        return ("\\lnot" if p.s.latex else "¬") + p.s.paren(_statement(p, e))
    if name in (AND.name, OR.name):
        join = {AND.name: ("∧", "\\land"), OR.name: ("∨", "\\lor")}[name][p.s.latex]
        return f" {join} ".join(_statement(p, a) for a in e.args)
    if name == ISFINITE.name:
        inner = p.run(e.args[0])[0]
        return f"\\left|{inner}\\right| < \\infty" if p.s.latex else f"|{inner}| < ∞"
    return p.run(e)[0] + (" \\neq 0" if p.s.latex else " ≠ 0")


def _compare(p: _Printer, e: Expr) -> tuple[str, int]:
    """An Iverson bracket: ``[z > 0]``, ``[x ≥ a ∧ x ≤ b]``, ``[|x| < ∞]``."""
    return f"[{_statement(p, e)}]", ATOM


def _floor_divide(p: _Printer, e: Expr) -> tuple[str, int]:
    if p.s.latex:
        a, b = (p.run(x)[0] for x in e.args)
        return f"\\left\\lfloor \\frac{{{a}}}{{{b}}} \\right\\rfloor", ATOM
    return f"⌊{p.wrap(e.args[0], PRODUCT)} / {p.wrap(e.args[1], POSTFIX)}⌋", ATOM


def _scatter(p: _Printer, e: Expr) -> tuple[str, int]:
    """``ḡ → [1:4]``: the cotangent put back where a gather read (see the module docstring)."""
    arrow = " \\to " if p.s.latex else " → "
    return p.wrap(e.args[0], PRODUCT) + arrow + p.s.words(e.params.get("text") or "[·]"), ARROW


def _setitem(p: _Printer, e: Expr) -> tuple[str, int]:
    """``(ḡ with [1:3] ← 0)``: ``ḡ`` with those entries replaced."""
    a, v = e.args[:2]
    arrow = " \\leftarrow " if p.s.latex else " ← "
    body = p.wrap(a, PRODUCT) + p.s.words(" with " + (e.params.get("text") or "[·]")) + arrow + p.wrap(v, PRODUCT)
    return p.s.paren(body), ATOM


def _diagonal(p: _Printer, e: Expr) -> tuple[str, int] | None:
    """``diag(X)``: a matrix's diagonal (``diagonal``), or the matrix with a vector on its diagonal
    (``diag``); ``diag(X, k)`` the k-th one."""
    if e.op.name == "diagonal" and (e.args[0].ndim != 2 or (e.params.get("axis1"), e.params.get("axis2")) != (0, 1)):
        return None
    k = e.params.get("offset", e.params.get("k", 0))
    return f"{p.s.fn('diag')}{p.s.paren(p.run(e.args[0])[0] + (f', {k}' if k else ''))}", POSTFIX


def _named(name: str) -> Callable[[_Printer, Expr], tuple[str, int]]:
    """``name(a, b)``, without the params."""
    def handler(p: _Printer, e: Expr) -> tuple[str, int]:
        return f"{p.s.fn(name)}{p.s.paren(', '.join(p.run(a)[0] for a in e.args))}", POSTFIX
    return handler


def _einsum(p: _Printer, e: Expr) -> tuple[str, int]:
    """``einsum('ik,jk->ij', ḡ, y)``, as NumPy is called."""
    spec = e.params.get("subscripts") or ",".join(e.params["inputs"]) + "->" + e.params["output"]
    args = [p.s.words(repr(spec))] + [p.run(a)[0] for a in e.args]
    return f"{p.s.fn('einsum')}{p.s.paren(', '.join(args))}", POSTFIX


def _tensordot(p: _Printer, e: Expr) -> tuple[str, int]:
    """``tensordot(ḡ, y, axes=((2, 3), (0, 2)))``, as NumPy is called."""
    args = [p.run(a)[0] for a in e.args] + [p.s.words(f"axes={e.params['axes']}")]
    return f"{p.s.fn('tensordot')}{p.s.paren(', '.join(args))}", POSTFIX


def _split(p: _Printer, e: Expr) -> tuple[str, int]:
    """A piece of a split, as NumPy gives it: ``split(x, 2)[1]``."""
    sections, axis = e.params["sections"], e.params.get("axis", 0)
    inner = f"{p.run(e.args[0])[0]}, {sections}" + (f", axis={axis}" if axis else "")
    return f"{p.s.fn(e.op.name)}{p.s.paren(inner)}[{e.params.get('piece', 0)}]", POSTFIX


def _decomposition(p: _Printer, e: Expr) -> tuple[str, int]:
    """A piece of a matrix decomposition, as NumPy gives it: ``eigh(S)[1]``, ``eigvalsh(S)``
    (``UPLO='U'`` written when it is used), ``svd(A)[1]`` (the thin SVD; its singular values
    alone are ``svd(A)[1]`` too)."""
    upper = ", UPLO='U'" if e.params.get("UPLO") == "U" else ""
    inner = p.s.paren(p.run(e.args[0])[0] + (p.s.words(upper) if upper else ""))
    default = 1 if e.op.name == "svd" else 0
    piece = f"[{e.params.get('piece', default)}]" if e.op.name in ("eigh", "svd") else ""
    return f"{p.s.fn(e.op.name)}{inner}{piece}", POSTFIX


def _tril(p: _Printer, e: Expr) -> tuple[str, int]:
    k = e.params.get("k", 0)
    return f"{p.s.fn('tril')}{p.s.paren(p.run(e.args[0])[0] + (f', {k}' if k else ''))}", POSTFIX


def _opaque(p: _Printer, e: Expr) -> tuple[str, int]:
    op = e.params["op"]
    args = ", ".join(p.run(a)[0] for a in e.args)
    return f"{p.s.fn('vjp_' + op.name)}{p.s.paren(args)}", POSTFIX


def _abs(p: _Printer, e: Expr) -> tuple[str, int]:
    inner = p.run(e.args[0])[0]
    return (f"\\left|{inner}\\right|" if p.s.latex else f"|{inner}|"), ATOM


_HANDLERS: dict[str, Callable[[_Printer, Expr], Any]] = {
    "add": _add, "subtract": _subtract, "negative": _negative, "multiply": _multiply, "divide": _divide,
    "power": _power, "square": _square, "sqrt": _sqrt, "reciprocal": _reciprocal, "norm": _norm,
    "matmul": _matmul, "outer": _outer, "transpose": _transpose, "sum": _sum,
    SUM_TO.name: _sum_to, "sigmoid": _function("σ"), "exp": _function("exp"), "log": _function("log"),
    "tanh": _function("tanh"), "sin": _function("sin"), "cos": _function("cos"),
    "sinh": _function("sinh"), "cosh": _function("cosh"), "inv": _inv, "solve": _solve, "trace": _trace,
    "index": _index, "broadcast_to": _broadcast, OPAQUE.name: _opaque, "abs": _abs, "__row__": _row,
    "__group__": _group, "expand_dims": _broadcast, "squeeze": _broadcast,
    SIGN.name: _function("sign"), "det": _function("det"), "slogdet": _slogdet,
    **{name: _compare for name in _BRACKETS},
    FLOOR_DIVIDE.name: _floor_divide, SCATTER.name: _scatter, GATHER_BACK.name: _scatter, "setitem": _setitem,
    "diagonal": _diagonal, "diag": _diagonal, "maximum": _named("max"), "minimum": _named("min"),
    "einsum": _einsum, "tensordot": _tensordot, TRIL.name: _tril, "split": _split, "array_split": _split,
    "eigh": _decomposition, "eigvalsh": _decomposition, "svd": _decomposition,
}


# ------------------------------------------------------------------------------------------------
def expression(e: Expr, constants: dict[str, np.ndarray] | None = None) -> str:
    """``e`` in the CLI's expression language (``gb.evaluate`` runs it): operators and the
    registry's function names, with every number written in full.

    >>> from graphviz_bp.symbolic.expr import sym
    >>> W, x = sym("W", (2, 3), "input"), sym("x", (3,), "input")
    >>> expression(0.5 * (W.T @ W @ x - x))
    '0.5 * (W.T @ W @ x - x)'
    """
    return _deep(lambda: _Expression(constants).run(e)[0])


_BINARY = {"add": (" + ", SUM), "subtract": (" - ", SUM), "multiply": (" * ", PRODUCT),
           "divide": (" / ", PRODUCT), "matmul": (" @ ", PRODUCT), "power": (" ** ", POSTFIX)}


class _Expression:
    def __init__(self, constants: dict[str, np.ndarray] | None = None) -> None:
        #: where an unnamed constant array is given a name (``k1``...), when the caller supplies it
        self.constants = constants

    def name_constant(self, value: np.ndarray) -> str:
        """A name for a constant array the language cannot write, added to ``constants``."""
        if self.constants is None:
            raise ValueError("an unnamed constant array has no spelling in the expression language")
        for name, known in self.constants.items():
            if known is value or (known.shape == value.shape and known.dtype == value.dtype
                                  and np.array_equal(known, value)):
                return name
        name = f"k{sum(1 for n in self.constants if n.startswith('k')) + 1}"
        while name in self.constants:
            name += "_"
        self.constants[name] = value
        return name

    def run(self, e: Expr) -> tuple[str, int]:
        if e.kind == "num":
            return _literal_number(e.value), (ATOM if e.value >= 0 else UNARY)
        if e.kind == "sym":
            if e.role in ("cotangent", "adjoint"):
                raise ValueError("a cotangent has no spelling in the expression language")
            if not e.name.isidentifier() or keyword.iskeyword(e.name):
                raise ValueError(f"the name {e.name!r} is not an identifier, so the expression language "
                                 f"cannot spell a formula that uses it")
            return e.name, ATOM
        if e.kind == "array":
            v = e.value
            if v.dtype.kind == "f" and v.size and np.all(v == v.flat[0]):  # one number, broadcast
                return f"full({_literal(v.shape)}, {_literal_number(float(v.flat[0]))})", POSTFIX
            if v.ndim == 2 and v.shape[0] == v.shape[1] and v.size and \
                    np.array_equal(v, v[0, 0] * np.eye(v.shape[0])):  # c·I
                return f"{float(v[0, 0])!r} * eye({v.shape[0]})", PRODUCT
            return self.name_constant(v), ATOM
        name = e.op.name
        if name in _BINARY:
            token, prec = _BINARY[name]
            a, b = e.args
            left = self.wrap(a, prec if name != "power" else ATOM)
            right = self.wrap(b, prec + 1 if name not in ("add", "multiply") else prec + 1)
            return left + token + right, prec
        if name == "negative":
            return "-" + self.wrap(e.args[0], POSTFIX), UNARY
        if name == "transpose" and e.params.get("axes") is None:
            return self.wrap(e.args[0], ATOM) + ".T", POSTFIX
        if name == "index":
            return self.wrap(e.args[0], ATOM) + self.index(e.params["index"], e.args[1:]), POSTFIX
        if name == "sum_to":  # undoing broadcasting: sums over the added and the stretched axes
            x, shape = e.args[0], tuple(e.params["shape"])
            extra = x.ndim - len(shape)
            body = self.run(x)[0]
            if extra > 0:
                body = f"sum({body}, axis={_literal(tuple(range(extra)))})"
            stretched = tuple(i for i, d in enumerate(shape) if d == 1 and x.shape[extra + i] != 1)
            if stretched:
                body = f"sum({body}, axis={_literal(stretched)}, keepdims=True)"
            if x.ndim < len(shape) or (not stretched and extra <= 0):
                body = f"broadcast_to({body}, {_literal(shape)})"
            return body, POSTFIX
        if name == "argsort":
            axis = e.params.get("axis", -1)
            return f"argsort({self.run(e.args[0])[0]}, axis={axis!r})", POSTFIX
        if name == "setitem":
            return self.setitem(e), POSTFIX
        if name == "scatter":
            return self.scatter(e), POSTFIX
        if name == "gather_back":
            return self.gather_back(e), POSTFIX
        spelled = getattr(e.op, "expr_name", None)
        if not spelled:
            raise ValueError(f"{name} has no spelling in the expression language")
        args = [self.run(a)[0] for a in e.args]
        if "piece" in e.params:  # one of the arrays a call returns: split(x, 3)[1], svd(A, ...)[0]
            params = {k: v for k, v in e.params.items() if k != "piece"}
            if name == "svd":
                params = {"full_matrices": False}  # (the thin SVD, as the tracer records every svd)
            whole = Expr("call", e.shape, op=e.op, args=e.args, params=params)
            return f"{self.run(whole)[0]}[{e.params['piece']}]", POSTFIX
        if getattr(e.op, "variadic", False) and name != "einsum":  # stack, concatenate: a list first
            args = ["[" + ", ".join(args) + "]"]
        args += [_literal(e.params[k]) for k in _POSITIONAL.get(name, ()) if k in e.params]
        params = [f"{k}={_literal(v)}" for k, v in e.params.items()
                  if v is not None and k not in _POSITIONAL.get(name, ())]
        return f"{spelled}({', '.join(args + params)})", POSTFIX

    def wrap(self, e: Expr, at_least: int) -> str:
        t, p = self.run(e)
        return t if p >= at_least else f"({t})"

    def index(self, index: Any, operands: tuple[Expr, ...]) -> str:
        """An index as the language writes it: slices, integers, None, ..., integer arrays as list
        literals (a named constant when large), index operands by their spelling."""
        from ..ops.indexing import Slot

        parts = []
        for p in index:
            if p is None:
                parts.append("None")
            elif p is Ellipsis:
                parts.append("...")
            elif isinstance(p, slice):
                parts.append(":".join("" if v is None else str(v) for v in (p.start, p.stop))
                             + ("" if p.step is None else f":{p.step}"))
            elif isinstance(p, Slot):
                parts.append(self.run(operands[p.k - 1])[0])
            elif isinstance(p, np.ndarray) and p.dtype.kind == "b":  # a mask: its positions, axis by axis
                parts += [_literal_array(q) if q.size <= 1000 else self.name_constant(q) for q in np.nonzero(p)]
            elif isinstance(p, np.ndarray):
                parts.append(_literal_array(p) if p.size <= 1000 else self.name_constant(p))
            else:
                parts.append(str(int(p)))
        return "[" + ", ".join(parts) + ("," if len(parts) == 1 and parts[0] == "..." else "") + "]"

    def scatter(self, e: Expr) -> str:
        """``ḡ → [index]`` as the language writes it: a basic index (slices of step 1, integers) by
        padding with zeros; integer arrays on the leading axes by one-hot matrices, ``eye(n)[i]``,
        contracted with ḡ (repeated indices add up, as in the sum)."""
        from ..ops.indexing import Slot

        g, operands = e.args[0], e.args[1:]
        shape, index = tuple(e.params["shape"]), tuple(e.params["index"])
        if any(isinstance(p, np.ndarray) and p.dtype.kind == "b" for p in index):  # a mask: its positions
            index = tuple(q for p in index for q in
                          (np.nonzero(p) if isinstance(p, np.ndarray) and p.dtype.kind == "b" else (p,)))
        ellipsis = [k for k, p in enumerate(index) if p is Ellipsis]
        if ellipsis:
            at = ellipsis[0]
            consumed = sum(1 for p in index if p is not None and p is not Ellipsis)
            index = index[:at] + (slice(None),) * (len(shape) - consumed) + index[at + 1:]
        arrays = [p for p in index if isinstance(p, (Slot, np.ndarray))]
        if not arrays:  # basic: zeros around ḡ (an axis None added is summed away first)
            body = self.run(g)[0]
            added = tuple(k for k, p in enumerate(p for p in index if not isinstance(p, (int, np.integer)))
                          if p is None)
            if added:
                body = f"sum({body}, axis={_literal(added)})"
                index = tuple(p for p in index if p is not None)
            if len(index) > len(shape):
                raise ValueError("the expression language cannot spell the transpose of this index")
            index = index + (slice(None),) * (len(shape) - len(index))
            widths = []
            for axis, (part, n) in enumerate(zip(index, shape)):
                if isinstance(part, slice):
                    start, stop, step = part.indices(n)
                    if step != 1:
                        raise ValueError("the expression language cannot spell the transpose of a strided slice")
                    widths.append((start, n - max(stop, start)))
                else:
                    i = int(part) % n
                    body = f"expand_dims({body}, axis={axis})"
                    widths.append((i, n - i - 1))
            return f"pad({body}, {_literal(tuple(widths))})"
        index = index + (slice(None),) * (len(shape) - len(index))
        kinds = ["a" if isinstance(p, (Slot, np.ndarray)) else ("s" if p == slice(None) else "x")
                 for p in index]
        block = "".join(kinds).strip("s")
        if "x" in kinds or "s" in block or len(index) > len(shape):
            raise ValueError("the expression language cannot spell the transpose of this index "
                             "(arrays with partial slices, or arrays apart)")
        first = kinds.index("a")
        pre, count = first, kinds.count("a")
        spelled = []
        for part in (p for p in index if isinstance(p, (Slot, np.ndarray))):
            if isinstance(part, Slot):
                spelled.append(self.run(operands[part.k - 1])[0])
            else:
                if part.dtype.kind == "b" or part.size > 10_000:
                    raise ValueError("the expression language cannot spell the transpose of this index")
                spelled.append(_literal_array(part))
        arrays_at = [k for k, kind in enumerate(kinds) if kind == "a"]
        dims = max(np.ndim(index[k]) if isinstance(index[k], np.ndarray) else operands[index[k].k - 1].ndim
                   for k in arrays_at)
        letters = "abcdefgh"[:dims]
        outs = "ijklmnop"[:count]
        before = "qrstuvw"[:pre]
        after = "..." if len(shape) > pre + count else ""
        onehots = ", ".join(f"eye({shape[k]})[{spelled[j]}]" for j, k in enumerate(arrays_at))
        subscripts = ",".join(letters + o for o in outs) + \
            f",{before}{letters}{after}->{before}{outs}{after}"
        return f"einsum({subscripts!r}, {onehots}, {self.run(g)[0]})"

    def setitem(self, e: Expr) -> str:
        """``a`` with ``[index] = v``: ``where(mask, v, a)``, the mask being ones scattered to
        ``index`` (spelled as a gather's message is), for a ``v`` that is one number."""
        from .. import ops
        from .expr import SCATTER, array_const, call

        from ..ops.indexing import Slot

        a, v, operands = e.args[0], e.args[1], e.args[2:]
        index = tuple(e.params["index"])
        picked = ops.get("index").shape([a.shape, *(o.shape for o in operands)], {"index": index})
        ones = Expr("call", a.shape, op=SCATTER, args=(array_const(np.ones(picked)), *operands),
                    params={"shape": a.shape, "index": index, "text": "", "unique": False})
        mask = f"greater({self.scatter(ones)}, 0)"
        if v.kind == "num" or (v.kind == "array" and v.value.size and np.all(v.value == v.value.flat[0])):
            value = float(v.value if v.kind == "num" else v.value.flat[0])
            return f"where({mask}, {value!r}, {self.run(a)[0]})"
        if any(isinstance(p, Slot) for p in index):
            raise ValueError("the expression language cannot spell an assignment of an array at traced indices")
        written = np.zeros(a.shape, dtype=int)
        np.add.at(written, index, 1)
        if written.max(initial=0) > 1:  # an entry written twice: NumPy keeps the last value, a sum would add
            raise ValueError("the expression language cannot spell an assignment that writes an entry twice")
        placed = Expr("call", a.shape, op=SCATTER,
                      args=(call(ops.get("broadcast_to"), (v,), {"shape": tuple(picked)}), *operands),
                      params={"shape": a.shape, "index": index, "text": "", "unique": False})
        return f"where({mask}, {self.scatter(placed)}, {self.run(a)[0]})"

    def gather_back(self, e: Expr) -> str:
        """ḡ summed back into the flat positions it was read from: a one-hot matrix of the positions
        (``-1``, read from no entry, gives a zero row), contracted with ḡ and reshaped."""
        g = e.args[0]
        shape = tuple(e.params["shape"])
        positions = np.broadcast_to(np.asarray(e.params["index"]), g.shape)
        size = int(np.prod(shape))
        if positions.size > 10_000 or (size + 1) ** 2 > 1_000_000:
            raise ValueError("the expression language cannot spell this gather's transpose (too large)")
        axes = tuple(range(g.ndim))
        onehot = f"eye({size + 1})[{_literal_array(positions + 1)}][..., 1:]"
        summed = f"tensordot({onehot}, {self.run(g)[0]}, axes=({_literal(axes)}, {_literal(axes)}))"
        return f"reshape({summed}, {_literal(shape)})"


#: Params the language takes positionally, after the arrays (NumPy's own positional parameters).
_POSITIONAL = {"pad": ("pad_width",), "tile": ("reps",), "astype": ("dtype",), "argsort": (), "split": ("sections",),
               "array_split": ("sections",)}


def _literal_array(a: np.ndarray) -> str:
    """An integer array as a (nested) list literal of the language."""
    return repr(np.asarray(a).tolist())


def _literal(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)
