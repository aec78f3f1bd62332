"""Text: how numbers, shapes, values and names are written, and how text is escaped for DOT.

Pure functions of their arguments; the Scene's texts are made with them, and ``render`` escapes
them with ``label_text`` and ``attribute_text``. No Graphviz here.
"""

from __future__ import annotations

import functools
import html
import itertools
import math
import re
from typing import Iterator, Sequence, TypeVar

import numpy as np

from ..graph import Node
from ..ops import format_shape  # one definition, shared with the ops' drawing labels

__all__ = ["NAME_LENGTH", "TOOLTIP_LIMIT", "TOOLTIP_NAME", "TOOLTIP_NUMBERS", "WRAP", "ArrayText", "ArrayTexts",
           "Verbatim", "attribute_text", "constant_lines", "format_number", "format_shape", "full_text", "label_text",
           "shown", "space_of", "subscript", "summarize", "summary_lines", "tooltip", "tooltip_joined", "tooltip_parts",
           "visible"]

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


_VISIBLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(c: str) -> str:
    o = ord(c)
    return _VISIBLE.get(c) or (f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")


def visible(text: str) -> str:
    r"""``text`` with unprintable characters written as escapes, so a name shows as it was typed.

    >>> print(visible("a\nb\x1f c"))
    a\nb\x1f c
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


NAME_LENGTH = 40  # characters of a name drawn in a label; the tooltip has the whole name
TOOLTIP_NAME = 1000  # ... up to this many characters


TOOLTIP_LIMIT = 15000  # dot refuses a quoted string longer than 16,384 bytes (UTF-8), once escaped


def tooltip(lines: Sequence[str]) -> str:
    r"""Tooltip text from ``lines``, cut short with ``…`` when escaping it for DOT (``\`` four
    times, ``&`` as ``&amp;``, ``"`` as ``\"``) could take it past what dot accepts.

    >>> len(tooltip(["\\" * 10000])) < 4000, tooltip(["a", "b"])
    (True, 'a\nb')
    """
    text = "\n".join(lines)
    if len(text) * 5 <= TOOLTIP_LIMIT:  # a character escaped is at most 5 bytes (& as &amp;; UTF-8: 4)
        return text
    while True:
        size = len(text.encode("utf-8")) + 3 * text.count("\\") + 4 * text.count("&") + text.count('"')
        if size <= TOOLTIP_LIMIT:
            return text
        text = text[: len(text) * TOOLTIP_LIMIT // size - 2] + "\n…"


class Verbatim(str):
    """Tooltip text that escaping leaves as it is: printable but for line breaks, and without ``&``,
    backslashes or quotes (an array's numbers). ``tooltip_parts`` keeps it a part of its own, so that
    ``render`` passes it through instead of reading it character by character."""

    __slots__ = ()


_BREAK = Verbatim("\n")


def tooltip_parts(lines: Sequence[str]) -> tuple[str, ...] | str:
    r"""``tooltip(lines)``, as its parts when it is short enough to need no cut, else as ``tooltip``
    writes it. The parts are the ``Verbatim`` lines and, between them, the other lines, each run of
    them one part with the line breaks around it (``render`` escapes a part at a time).

    >>> tooltip_parts(["a", Verbatim("[1 2]"), "b", "c"]), tooltip_parts(["&" * 5000])[-2:]
    (('a\n', '[1 2]', '\nb\nc'), '\n…')
    """
    if (sum(map(len, lines)) + len(lines)) * 5 > TOOLTIP_LIMIT:  # escaping at most quintuples a character
        return tooltip(lines)                                      # (& as &amp;)
    parts: list[str] = []
    run: list[str] = []
    for line in lines:
        if type(line) is not Verbatim:
            run.append(line)
        else:
            if run:
                parts.append(("\n" if parts else "") + "\n".join(run) + "\n")
                run = []
            elif parts:
                parts.append(_BREAK)
            parts.append(line)
    if run:
        parts.append(("\n" if parts else "") + "\n".join(run))
    return tuple(parts)


def tooltip_joined(parts: list[str]) -> list[str] | str:
    r"""``tooltip`` of the text ``parts`` make together (their line breaks written in them), as
    ``tooltip_parts`` gives it: the parts themselves when the text is short enough to need no cut
    (for a caller that puts each array's ``Verbatim`` text in a part of its own).

    >>> tooltip_joined(["a\n", Verbatim("[1 2]"), "\nb"]), tooltip_joined(["&" * 5000])[-2:]
    (['a\n', '[1 2]', '\nb'], '\n…')
    """
    if sum(map(len, parts)) * 5 > TOOLTIP_LIMIT:  # escaping at most quintuples a character
        return tooltip(["".join(parts)])
    return parts


def shown(node: Node) -> str:
    """A node's name as displayed: visible, and shortened with … past ``NAME_LENGTH`` characters
    (dot refuses a label longer than 16,384 characters).

    >>> from graphviz_bp.graph import Node
    >>> shown(Node("input", np.zeros(1), name="x" * 100))[-3:], len(shown(Node("input", np.zeros(1), name="x" * 100)))
    ('xx…', 40)
    """
    text = visible(node.name)
    return text if len(text) <= NAME_LENGTH else text[:NAME_LENGTH - 1] + "…"


def subscript(k: int) -> str:
    """``k`` in subscript digits.

    >>> subscript(12)
    '₁₂'
    """
    return str(k).translate(_SUBSCRIPTS)


_SUPERSCRIPT = str.maketrans("0123456789×", "⁰¹²³⁴⁵⁶⁷⁸⁹ˣ")


@functools.lru_cache(maxsize=1024)
def space_of(shape: tuple[int, ...], kind: str = "f") -> str:
    """A shape as the space its value lives in, in Unicode superscripts (the same glyphs in every
    renderer, unlike raised text), by the kind of its dtype (``kind``): integers in ℤ, complex
    numbers in ℂ, and booleans as a mask of that shape.

    >>> space_of((3, 5)), space_of((64,)), space_of(()), space_of((50,), "i"), space_of((2, 3), "b")
    ('ℝ³ˣ⁵', 'ℝ⁶⁴', 'ℝ', 'ℤ⁵⁰', 'mask 2×3')
    """
    if kind == "b":
        return f"mask {format_shape(shape)}" if len(shape) else "bool"
    field = "ℤ" if kind in "iu" else "ℂ" if kind == "c" else "ℝ"
    return field + format_shape(shape).translate(_SUPERSCRIPT) if len(shape) else field


def format_number(x: float) -> str:
    """Three significant digits, a true minus sign, no trailing noise.

    >>> format_number(-0.000123456), format_number(2.0), format_number(1234567.0)
    ('−0.000123', '2', '1.23e+06')
    """
    if type(x) is float:
        v = x
    else:
        c = complex(x)
        if c.imag:
            return f"{format_number(c.real)}{'+' if c.imag >= 0 else '−'}{format_number(abs(c.imag))}j"
        v = c.real
    if v != v:
        return "nan"
    if v in (math.inf, -math.inf):
        return "∞" if v > 0 else "−∞"
    return f"{v + 0.0:.3g}".replace("-", "−")  # (+ 0.0: −0 is 0, an IEEE sign a reader has no use for)


WRAP = 26  # characters: longer summaries go on two lines, which keeps nodes and labels narrow


def _range(a: np.ndarray) -> tuple[float, float, float] | None:
    """``(norm, min, max)`` of a real array with entries, as NumPy's ``linalg.norm``, ``min`` and
    ``max`` give them (nan or ±∞ when entries are not finite); None for other arrays. One pass each."""
    if a.size == 0 or a.dtype.kind not in "biuf":
        return None
    x = a.astype(float, copy=False).ravel(order="K")
    # argmin and argmax cost a fraction of min and max (NumPy's reductions carry microseconds of
    # overhead a call); they find a nan as min and max do, and a zero of either sign is asked again
    lo, hi = float(x[x.argmin()]), float(x[x.argmax()])
    if lo == 0:
        lo = float(x.min())
    if hi == 0:
        hi = float(x.max())
    m = max(-lo, hi)
    if 0 < m < _UNDERFLOWS:  # (a vanishing gradient: its squares would underflow, scaled at once)
        return _scaled_norm(x, m), lo, hi
    norm = math.sqrt(x.dot(x))
    return (_scaled_norm(x, m) if norm == math.inf and math.isfinite(m) else norm), lo, hi


_UNDERFLOWS = 1e-150  # entries all below this: their squares sum to a subnormal number or to 0


def _scaled_norm(x: np.ndarray, m: float) -> float:
    """The norm of ``x`` computed on ``x`` scaled by ``m``, its largest magnitude: where the sum of
    squares underflows (entries below ``_UNDERFLOWS``) or overflows though every entry is finite.

    >>> _scaled_norm(np.array([3e-200, 4e-200]), 4e-200)
    5e-200
    """
    y = x / m
    return m * math.sqrt(float(y.dot(y)))


def _large_summary(a: np.ndarray, stats: tuple[float, float, float] | None) -> list[str]:
    """``summary_lines`` of an array with more entries than are written out."""
    if stats is None:
        if a.dtype.kind == "c":
            return [f"complex, norm {format_number(float(np.linalg.norm(a)))}"]
        return [f"{a.size} entries"]
    norm, lo, hi = stats
    if lo == 0 and hi == 0:
        return ["all 0"]
    if not (np.isfinite(lo) and np.isfinite(hi)):  # min and max are nan or ±∞ exactly when some entry is
        return _nonfinite_summary(a.astype(float, copy=False).ravel())
    return [f"norm {format_number(norm)},", f"range [{format_number(lo)}, {format_number(hi)}]"]


def _nonfinite_summary(x: np.ndarray) -> list[str]:
    """An array with nan or ±∞ entries: how many of each there are, then the range of the others.

    >>> _nonfinite_summary(np.array([-np.inf, 1.0, np.nan, -np.inf, 2.5]))
    ['2 −∞, 1 nan of 5,', 'the rest in [1, 2.5]']
    """
    nan, pos, neg = int(np.isnan(x).sum()), int(np.isposinf(x).sum()), int(np.isneginf(x).sum())
    counts = ", ".join(f"{k} {what}" for k, what in ((neg, "−∞"), (pos, "∞"), (nan, "nan")) if k)
    rest = x[np.isfinite(x)]
    if not rest.size:
        return [f"{counts} of {x.size}"]
    return [f"{counts} of {x.size},", f"the rest in [{format_number(float(rest.min()))}, "
                                      f"{format_number(float(rest.max()))}]"]


def _small(a: np.ndarray) -> bool:
    return a.size <= (5 if a.ndim == 1 else 4)


def _numbers_lines(a: np.ndarray) -> list[str]:
    """``summary_lines`` of an array of at most a few numbers, written out."""
    if a.size == 0:
        return ["[]"]
    if a.ndim == 0:
        return [_nested(a[()])]
    text = _nested(a.tolist())
    if len(text) <= WRAP:
        return [text]
    if a.ndim == 1:
        items = [format_number(v) for v in a.tolist()]
        half = (len(items) + 1) // 2  # never a line with just "]"
        return ["[" + ", ".join(items[:half]) + ",", ", ".join(items[half:]) + "]"]
    rows = [_nested(r) for r in a.reshape(a.shape[0], -1).tolist()] if a.ndim == 2 else [text]
    return ["[" + rows[0] + ","] + [r + "," for r in rows[1:-1]] + [rows[-1] + "]"] if len(rows) > 1 else rows


def summarize(value: np.ndarray) -> str:
    """``summary_lines`` on one line.

    >>> summarize(np.float64(0.5)), summarize(np.array([1.0, -2.0]))
    ('0.5', '[1, −2]')
    >>> summarize(np.array([[1.0, 2.0], [3.0, 4.0]]))
    '[[1, 2], [3, 4]]'
    >>> summarize(np.arange(12.0).reshape(3, 4))
    'norm 22.5, range [0, 11]'
    >>> summarize(np.zeros((3, 3)))
    'all 0'
    """
    return " ".join(summary_lines(value))


def constant_lines(value: np.ndarray) -> list[str]:
    """What a constant's label says: its numbers when there are few (up to 4), else what it is and
    where it lives (``all 1, ℝ⁵⁰``; ``0.1 I, ℝ⁵ˣ⁵``; ``const ℝ⁵⁰`` and its range on a second line;
    ``mask 2×3`` and how many of its entries are true): never a bare shape, which reads as a number.

    >>> constant_lines(np.ones(50)), constant_lines(0.1 * np.eye(5)), constant_lines(np.linspace(0, 1, 50))
    (['all 1, ℝ⁵⁰'], ['0.1 I, ℝ⁵ˣ⁵'], ['const ℝ⁵⁰', 'range [0, 1]'])
    >>> constant_lines(np.array([2.0, 0.5]))
    ['[2, 0.5]']
    """
    v = np.asarray(value)
    if v.dtype.kind == "b" and v.ndim:  # a mask: its entries, or how much of it holds
        return [space_of(v.shape, "b"), summarize(v) if v.size <= 4 else _mask_text(v)]
    if v.size <= 4:
        return [summarize(v)]
    space = space_of(v.shape, v.dtype.kind)
    if v.dtype.kind not in "iuf":
        return [f"const {space}"]
    first = v.flat[0]
    if np.all(v == first):
        return [f"all {format_number(float(first))}, {space}"]
    if v.ndim == 2 and v.shape[0] == v.shape[1]:
        scale = v[0, 0]
        if scale and np.all(v == np.diag(np.diagonal(v))) and np.all(np.diagonal(v) == scale):  # c·I
            return [("I" if scale == 1 else f"{format_number(float(scale))} I") + f", {space}"]
    lo, hi = float(v.min()), float(v.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):  # (a nan or ∞: its tooltip says which)
        return [f"const {space}"]
    return [f"const {space}", f"range [{format_number(float(lo))}, {format_number(float(hi))}]"]


def _nested(x: object) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_nested(v) for v in x) + "]"
    if isinstance(x, (bool, np.bool_)):  # a mask's entries: true and false, not 1 and 0
        return "true" if x else "false"
    return format_number(x)  # type: ignore[arg-type]


def _mask_text(a: np.ndarray) -> str:
    """How much of a boolean array holds: ``3 of 8 true``."""
    return f"{np.count_nonzero(a)} of {a.size} true"


TOOLTIP_NUMBERS = 400  # entries a tooltip writes out: all of an array this size or smaller, else its corners
_PRINT = {"precision": 4, "suppress_small": True, "max_line_width": 100, "threshold": TOOLTIP_NUMBERS}
_TINY = 5e-5  # entries written all smaller than this (none 0 to 4 decimals): written with exponents
_PRINT_TINY = {**_PRINT, "suppress_small": False}


def _numpy_text(a: np.ndarray, edge: int) -> str:
    """``a`` as NumPy writes it (``edge`` entries at each end of a long axis) with ``_PRINT``; when
    every entry written is below ``_TINY`` but not all are 0 (a vanishing gradient), with exponents:
    to 4 decimals they would all read 0."""
    shown = a.reshape(-1).take(_corners(a.shape, edge)) if a.size > TOOLTIP_NUMBERS else a
    tiny = False
    if shown.size and a.dtype.kind in "fc":
        with np.errstate(all="ignore"):
            top = float(np.max(np.abs(shown)))
        tiny = 0 < top < _TINY
    return np.array2string(a, edgeitems=edge, **(_PRINT_TINY if tiny else _PRINT))  # type: ignore[arg-type]


def full_text(value: np.ndarray) -> str:
    """A value for a tooltip, bounded whatever its size: every entry of an array of up to
    ``TOOLTIP_NUMBERS`` entries, as NumPy prints it (4 decimals); for a larger one, its shape,
    norm, min and max, then its corners (the first and last entries along each axis, at most
    ``TOOLTIP_NUMBERS`` numbers).

    >>> print(full_text(np.array([[1.0, -0.5], [0.25, 2.0]])))
    [[ 1.   -0.5 ]
     [ 0.25  2.  ]]
    >>> print(full_text(np.arange(1000.0).reshape(10, 100)))
    10×100, norm 1.82e+04, min 0, max 999 (36 of 1000 entries shown)
    [[  0.   1.   2. ...  97.  98.  99.]
     [100. 101. 102. ... 197. 198. 199.]
     [200. 201. 202. ... 297. 298. 299.]
     ...
     [700. 701. 702. ... 797. 798. 799.]
     [800. 801. 802. ... 897. 898. 899.]
     [900. 901. 902. ... 997. 998. 999.]]
    """
    return ArrayText(value).full_text()


_shape_text = functools.lru_cache(maxsize=1024)(format_shape)  # shapes recur on every layer


@functools.lru_cache(maxsize=1024)
def _shown_count(shape: tuple[int, ...], edge: int) -> int:
    """How many entries NumPy writes of an elided array of ``shape``."""
    return math.prod(min(n, 2 * edge) for n in shape)


@functools.lru_cache(maxsize=1024)
def _edgeitems(shape: tuple[int, ...]) -> int:
    """Entries written at each end of an axis of an array too big to write out: NumPy's 3, fewer
    when that would write more than ``TOOLTIP_NUMBERS`` numbers in all (0: not even one per end)."""
    for edge in (3, 2, 1):
        if math.prod(min(n, 2 * edge) for n in shape) <= TOOLTIP_NUMBERS:
            return edge
    return 0


@functools.lru_cache(maxsize=1024)
def _elided(shape: tuple[int, ...]) -> tuple[int, str, str]:
    """For an array of ``shape`` too big to write out: the edge items its tooltip writes, and the
    texts before and after its norm, min and max."""
    edge = _edgeitems(shape)
    return edge, f"{format_shape(shape)}, ", f" ({_shown_count(shape, edge)} of {math.prod(shape)} entries shown)\n"


_BLANK = "\x00"  # stands for the digits of an entry in a layout; never in NumPy's own output


@functools.lru_cache(maxsize=512)
def _layout(shape: tuple[int, ...], width: int, edge: int, decimals: int) -> str:
    """How NumPy lays out an array of ``shape`` whose entries are all ``width`` characters wide (as
    its float format makes them), with a ``%`` format of ``decimals`` decimals where each entry goes:
    brackets, separators, line breaks and the ``...`` of elided entries are NumPy's own (its
    ``formatter`` hook writes them)."""
    blank = _BLANK * width
    text = np.array2string(np.broadcast_to(np.zeros(()), shape), formatter={"float_kind": lambda _: blank},
                           edgeitems=edge, **_PRINT)  # type: ignore[arg-type]
    spec = f"%{width}.{decimals}f" if decimals else f"%#{width}.0f"  # '#': "2." keeps its point
    return text.replace("%", "%%").replace(blank, spec)


@functools.lru_cache(maxsize=512)
def _corners(shape: tuple[int, ...], edge: int) -> np.ndarray:
    """The flat (C-order) positions of the entries NumPy writes when it elides an array of ``shape``
    with ``edge`` entries at each end of a long axis, in the order it writes them."""
    axes = [np.r_[0:edge, n - edge:n] if n > 2 * edge else np.arange(n) for n in shape]
    return np.ravel_multi_index(np.ix_(*axes), shape).ravel()


_FAST_LIMIT = {np.dtype(np.float64): 1e8, np.dtype(np.float32): 256.0}
"""Where ``%.4f`` on the exact value writes what NumPy writes (the shortest digits that identify the
value, cut at 4 decimals): float64 below 10⁸ (NumPy's switch to exponents), float32 below 256."""


def _fast_text(a: np.ndarray, edge: int) -> str | None:
    """``np.array2string(a, edgeitems=edge, **_PRINT)`` in one string formatting (all entries of
    NumPy's positional float format have one width, so the layout depends only on that width and is
    kept); None where it might differ (other dtypes, entries not finite or ≥ 10⁸) or where every entry
    is tiny (``_numpy_text`` writes exponents), and the caller asks NumPy."""
    limit = _FAST_LIMIT.get(a.dtype)
    if limit is None or a.size == 0:
        return None
    shown = a.reshape(-1).take(_corners(a.shape, edge)) if a.size > TOOLTIP_NUMBERS else a
    numbers = shown.ravel().tolist()
    total = sum(numbers)
    if total != total or total in (math.inf, -math.inf):  # nan or ∞ (or a sum past the float range)
        return None
    lo, hi = min(numbers), max(numbers)
    if not (-limit < lo and hi < limit) or 0 < max(hi, -lo) < _TINY:  # (tiny: _numpy_text writes exponents)
        return None
    digits = max(len(f"{lo:.4f}".partition(".")[0]), len(f"{hi:.4f}".partition(".")[0]))
    if lo == 0 and digits == 1 and np.signbit(shown).any():
        digits = 2  # −0 is written with its sign
    # NumPy writes as many decimals as the entry that needs most (up to 4), and drops the trailing
    # zeros of the others (spaces keep the columns; none at a line's end)
    decimals = 4 if max(hi, -lo) >= 0.00005 else 0  # else every entry is ±0 to 4 decimals
    while True:
        text = _layout(a.shape, digits + 1 + decimals, edge, decimals) % tuple(numbers) + "\n"  # before " ]\n"
        zeros = text.count("0 ") + text.count("0]") + text.count("0\n") if decimals else 0
        if zeros < len(numbers):
            break
        decimals -= 1  # every entry ends in 0: one decimal fewer writes the same digits
    while zeros:
        text = text.replace("0 ", "  ").replace("0]", " ]").replace("0\n", "\n")
        zeros = text.count("0 ") + text.count("0]") + text.count("0\n")
    return text[:-1]


_NORMAL = float(np.finfo(np.float64).tiny)  # the smallest normal float64
_DECIMALS = re.compile(r"\.(\d*?)0*e")  # an entry's decimals, its trailing zeros dropped
_FOURTH = re.compile(r"[1-9]e")  # an entry whose fourth decimal is not 0
_EXPONENT = re.compile(r"e[-+](\d+)")
_THREE = re.compile(r"e[-+]\d\d\d")  # an exponent of three digits


def _exponent_text(a: np.ndarray, edge: int) -> str | None:
    """``np.array2string(a, edgeitems=edge, **_PRINT_TINY)`` for a float64 array whose entries written
    are all finite and below ``_TINY``, not all 0 (a vanishing gradient), in one string formatting:
    NumPy writes each with exponents, its digits cut at 4 decimals and trailing zeros dropped, then
    all with as many decimals as the longest needs, their exponents with as many digits as the
    widest (the entries are as wide, so ``_page`` lays them out); None for other arrays (NumPy's
    own calls cost half a millisecond an array: a deep net's vanishing gradients are most of them)."""
    if a.dtype != np.float64 or a.size == 0:
        return None
    shown = a.reshape(-1).take(_corners(a.shape, edge)) if a.size > TOOLTIP_NUMBERS else a
    numbers = shown.ravel().tolist()
    total = sum(numbers)
    if total != total or total in (math.inf, -math.inf) or not 0 < max(map(abs, numbers)) < _TINY:
        return None  # a nan or an ∞ (the sum is one), entries that are not tiny, or all 0
    return _exponents(numbers, a.shape, edge)


def _subnormal_exponents(numbers: list[float], shape: tuple[int, ...], edge: int) -> str:
    """``_exponents`` where some number is subnormal (below 2.2e-308: NumPy writes the fewer digits
    that identify it), with NumPy's own formatter of one number, called as NumPy's array printing
    calls it (a few microseconds a number, where printing the array costs half a millisecond)."""
    cut = [np.format_float_scientific(x, precision=4, unique=True, trim=".") for x in numbers]
    decimals = max(len(c.partition("e")[0].partition(".")[2]) for c in cut)
    digits = max(len(c.partition("e")[2]) - 1 for c in cut)
    left = max(len(c.partition(".")[0]) for c in cut)
    entries = [np.format_float_scientific(x, precision=decimals, min_digits=decimals, unique=True, trim="k",
                                          pad_left=left, exp_digits=digits) for x in numbers]
    text = _page(shape, left, decimals + digits + 2, edge)[3] % tuple(entries)
    return "\n".join(line.rstrip() for line in text.split("\n")) if " \n" in text else text


def _exponents(numbers: list[float], shape: tuple[int, ...], edge: int) -> str:
    """``_exponent_text`` of the ``numbers`` NumPy writes of an array of ``shape``. Written once at 4
    decimals with a place for a sign (one formatting of them all, read as one string): most
    gradients need the 4 decimals and two-digit exponents, and are then as NumPy writes them."""
    if min(map(abs, numbers)) < _NORMAL and any(0 < abs(x) < _NORMAL for x in numbers):
        return _subnormal_exponents(numbers, shape, edge)
    n = len(numbers)
    cut = ("% #.4e\0" * n) % tuple(numbers)  # each entry's digits at 4 decimals, as NumPy cuts them
    negative = "-" in cut.replace("e-", "")
    if not negative:  # no entry needs a place for a sign: NumPy leaves none
        cut = cut[1:].replace("\0 ", "\0")
    decimals = 4 if _FOURTH.search(cut) else max(map(len, _DECIMALS.findall(cut)))
    digits = 2 if _THREE.search(cut) is None else max(map(len, _EXPONENT.findall(cut)))
    left = 2 if negative else 1
    width = left + decimals + digits + 3  # sign and digit, point, decimals, "e", the exponent's sign and digits
    if decimals == 4 and digits == 2:
        entries = cut.split("\0")[:-1]
    elif digits == 2:  # (Python writes exponents with two digits at least: as wide as they need here)
        entries = ((f"%#{width}.{decimals}e\0" * n) % tuple(numbers)).split("\0")[:-1]
    else:
        entries = []
        for x in numbers:
            mantissa, _, exponent = f"{x:#.{decimals}e}".partition("e")
            entries.append(f"{mantissa}e{exponent[0]}{exponent[1:].rjust(digits, '0')}".rjust(width))
    form = _page(shape, left, width - left - 1, edge)[3]
    text = form % tuple(entries)
    # where NumPy breaks a long row it strips the spaces that end the line (none end an entry here)
    return "\n".join(line.rstrip() for line in text.split("\n")) if " \n" in text else text


_STACK = 1 << 13  # entries copied together at most: 64 kB of float64 (a larger temporary is mapped
# afresh, page by page, every time)
_STACKED = 1024  # arrays of at most this many entries are copied to be reduced (larger: one by one, no copy)
_TOGETHER = 200  # entries to write: fewer in all are written one by one (writing together costs ~50 µs)
_LAYOUT = 256  # characters in one layout: fewer are put in place one array at a time (a page costs ~15 µs)


@functools.lru_cache(maxsize=None)
def _digits(part: str) -> np.ndarray:
    """Widths, one entry per value 0 … 9999: for ``part="int_width"``, the characters of the integer
    part (sign aside); for ``"frac_width"``, the decimals without trailing zeros."""
    v = np.arange(10000)
    if part == "int_width":
        return 1 + (v >= 10) + (v >= 100) + (v >= 1000)  # type: ignore[no-any-return]
    return 4 - (v % 10 == 0) - (v % 100 == 0) - (v % 1000 == 0) - (v == 0)  # type: ignore[no-any-return]


@functools.cache
def _characters(part: str) -> np.ndarray:
    """Characters, one row per value 0 … 9999: for ``part="int"``, the sign and four digits of the
    integer part, right-aligned (rows 10000 … 19999: the same, negative); for ``"frac"``, the four
    decimals, trailing zeros as spaces; for ``"frac_digits"``, the four decimals, zeros as zeros."""
    v = np.arange(10000)
    digits = np.stack([v // 1000, v // 100 % 10, v // 10 % 10, v % 10], axis=1)
    chars = (digits + ord("0")).astype(np.uint8)
    if part == "frac_digits":
        return chars
    zero = digits == 0
    if part == "frac":
        chars[np.logical_and.accumulate(zero[:, ::-1], axis=1)[:, ::-1]] = ord(" ")  # the zeros that end it
        return chars
    leading = np.logical_and.accumulate(zero, axis=1)  # the zeros before the first digit
    leading[:, 3] = False  # 0 is written "0"
    field = np.full((20000, 5), ord(" "), np.uint8)
    field[:, 1:] = np.where(leading, ord(" "), chars)[np.r_[0:10000, 0:10000]]
    field[10000 + v, leading.sum(axis=1)] = ord("-")
    return field


@functools.cache
def _entry_tables() -> tuple[np.ndarray, np.ndarray]:
    """The characters of an entry, in two halves of 8 bytes (as integers: NumPy looks them up much
    faster than rows of characters): its integer part right-aligned with its sign in the last 5 bytes
    of the first (``_characters("int")``, by the same rows), and its point and four decimals, trailing
    zeros as spaces, in the first 5 of the second (rows 0 … 9999). An entry of ``left`` integer and
    ``right`` decimal characters is the bytes ``8 - left`` to ``8 + right`` of its 16."""
    ints = np.zeros((20000, 8), np.uint8)
    ints[:, 3:] = _characters("int")
    fracs = np.zeros((10000, 8), np.uint8)
    fracs[:, 0] = ord(".")
    fracs[:, 1:5] = _characters("frac")
    return ints.view(np.uint64).ravel(), fracs.view(np.uint64).ravel()


@functools.lru_cache(maxsize=512)
def _page(shape: tuple[int, ...], left: int, right: int, edge: int, stride: int = 16) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, str, bool]:
    """``_layout`` for entries of ``left`` integer and ``right`` decimal characters: as bytes, the
    positions of the entries' characters (points included) in it, and where each comes from in the
    array's entries of ``stride`` bytes (``_entry_tables``: 16; ``_write_tiny``: 24), each
    entry's point at its byte 8; as a ``%s`` format; and whether an entry may end a line (where NumPy
    wraps a long row; it strips the spaces that end a line there)."""
    width = left + 1 + right
    blank = _BLANK * width
    text = np.array2string(np.broadcast_to(np.zeros(()), shape), formatter={"float_kind": lambda _: blank},
                           edgeitems=edge, **_PRINT)  # type: ignore[arg-type]
    layout = np.frombuffer(text.encode("ascii"), np.uint8).copy()
    slots = np.flatnonzero(layout == 0)
    source = (np.arange(len(slots) // width)[:, None] * stride + np.arange(8 - left, 9 + right)).ravel()
    return layout, slots, source, text.replace("%", "%%").replace(blank, "%s"), blank + "\n" in text


def _write_many(arrays: Sequence[np.ndarray], edges: Sequence[int], counts: Sequence[int]) -> list[str | None]:
    """Each of ``arrays`` (float64 or float32; ``counts`` entries written of each) as
    ``np.array2string(a, edgeitems=edge, **_PRINT)`` writes it, by ``_fast_text``'s rules, all at once
    (NumPy's calls cost microseconds each, whatever their size): the entries NumPy writes of every
    array are rounded and looked up in the character tables together; then the arrays that share a
    layout (shape and widths) are written together; a float64 array whose entries are all tiny (a
    vanishing gradient) with exponents (``_exponents``). None where ``_FAST_LIMIT`` or an integer part
    of five digits is reached, an entry is not finite, or a float32 array's every entry is tiny: the
    caller asks ``_fast_text``."""
    # (concatenate flattens each part in C order, as take does: no reshape per array)
    v = np.concatenate([a if n == a.size else a.take(_corners(a.shape, edge)) for a, edge, n in
                        zip(arrays, edges, counts)], axis=None).astype(float, copy=False)
    sizes = np.array(counts)
    starts = sizes.cumsum() - sizes  # (array methods: NumPy's functions add a Python call each)
    a = np.abs(v)
    top = np.maximum.reduceat(a, starts)
    ok = (top < [_FAST_LIMIT[x.dtype] for x in arrays]) & ((top >= _TINY) | (top == 0))  # nan, ∞: False too
    scaled = (a if ok.all() else np.where(ok.repeat(sizes), a, 0.0)) * 1e4
    r = np.rint(scaled)
    # the product may have rounded across a half (or be one): those entries are rounded as
    # printf rounds the exact value, which is what NumPy writes
    for k in (np.abs(scaled - np.floor(scaled) - 0.5) <= scaled * 2.3e-16).nonzero()[0].tolist():
        r[k] = float(f"{a[k]:.4f}".replace(".", ""))
    whole, frac = np.divmod(r.astype(np.int64), 10000)
    ok &= np.maximum.reduceat(whole, starts) < 10000
    if not ok.all():
        whole[whole >= 10000] = 0  # in arrays not written here
    negative = np.signbit(v)
    # NumPy's pad_left is the widest integer part (sign included), its pad_right the most decimals
    left = np.maximum.reduceat(_digits("int_width").take(whole) + negative, starts).tolist()
    right = np.maximum.reduceat(_digits("frac_width").take(frac), starts).tolist()
    whole += negative * 10000  # the row of the negative integer part
    # every entry's characters, of which each layout takes its widths (one lookup for all layouts)
    ints, fracs = _entry_tables()
    chars = np.empty((len(v), 2), np.uint64)
    chars[:, 0] = ints.take(whole)
    chars[:, 1] = fracs.take(frac)
    chars = chars.view(np.uint8).reshape(-1)
    layouts: dict[tuple[tuple[int, ...], int, int, int], list[int]] = {}
    for i in ok.nonzero()[0].tolist():
        layouts.setdefault((arrays[i].shape, edges[i], left[i], right[i]), []).append(i)
    out: list[str | None] = [None] * len(arrays)
    _place(out, layouts, chars, 16, (starts * 16).tolist(), counts)
    # vanishing gradients (every entry below _TINY, not all 0): with exponents, from the same numbers
    tiny = ((top > 0) & (top < _TINY)).nonzero()[0].tolist()
    tiny = [i for i in tiny if arrays[i].dtype == np.float64]
    if tiny:
        _write_tiny(out, tiny, v, starts.tolist(), arrays, edges, counts)
    return out


def _place(out: list[str | None], layouts: dict[tuple[tuple[int, ...], int, int, int], list[int]],
           chars: np.ndarray, stride: int, at: Sequence[int] | dict[int, int], counts: Sequence[int]) -> None:
    """Write in ``out`` the arrays of each layout (shape, edge items, integer and decimal characters:
    the arrays' indices), their entries' characters ``stride`` bytes each in ``chars``, those of
    array ``i`` from ``at[i]``: on one page, a row an array, or one at a time when they are few."""
    for (shape, edge, p, d), rows in layouts.items():
        layout, slots, source, form, wraps = _page(shape, p, d, edge, stride)
        if len(rows) * len(source) < _LAYOUT:  # few characters: put in place one array at a time
            w = p + 1 + d
            texts = []
            for i in rows:
                entries = chars[at[i]:at[i] + stride * counts[i]].tobytes().decode("ascii")
                texts.append(form % tuple([entries[k:k + w] for k in range(8 - p, len(entries), stride)]))
        else:  # one page, a row of characters an array
            page = np.empty((len(rows), len(layout)), np.uint8)
            page[:] = layout
            page[:, slots] = chars.take(np.array([at[i] for i in rows])[:, None] + source)
            text = page.tobytes().decode("ascii")
            size = len(layout)
            texts = [text[k:k + size] for k in range(0, len(text), size)]
        if wraps:  # where NumPy breaks a long row it strips the spaces that end the line
            texts = ["\n".join(line.rstrip() for line in t.split("\n")) if " \n" in t else t for t in texts]
        for i, t in zip(rows, texts):
            out[i] = t


_POWERS = 10.0 ** np.arange(165)  # to 10¹⁶⁴, half the shift of 4.9e-324 (a table: NumPy's power of an
# array of exponents costs 10× more)


def _tiny_digits(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For finite float64 entries, as printf's ``%.4e`` rounds each exact value: its five significant
    digits as one integer (10000 … 99999; 0 for ±0) and its power of ten (0 for ±0). Scaled by powers
    of ten (a few ulp off; for a subnormal entry too, the product being normal): an entry that may be
    within that of a half is written by Python instead."""
    a = np.abs(x)
    zero = a == 0
    a[zero] = 1.0
    power = np.floor(np.log10(a)).astype(np.int64)
    shift = 4 - power  # up to 328 for 4.9e-324: in two factors, each within the float range
    half = shift >> 1
    s = a * _POWERS.take(half) * _POWERS.take(shift - half)
    low = s < 10000  # log10 may round across a power of ten
    s[low] *= 10
    power -= low
    high = s >= 100000
    s[high] /= 10
    power += high
    r = np.rint(s)
    carry = r == 100000  # 9.99995… rounds to 10.0000: 1.0000 at the next power
    r[carry] = 10000
    power += carry
    for k in (np.abs(s - np.floor(s) - 0.5) <= s * 1e-14).nonzero()[0].tolist():
        mantissa, _, exponent = f"{a[k]:.4e}".partition("e")
        r[k], power[k] = float(mantissa.replace(".", "")), int(exponent)
    r[zero] = 0
    power[zero] = 0
    return r.astype(np.int64), power


_COARSE = 2.0 ** -1055  # below this, subnormal numbers are at least a millionth of themselves apart


def _subnormal_digits(x: np.ndarray, sizes: np.ndarray, first: np.ndarray, digits: np.ndarray,
                      power: np.ndarray) -> np.ndarray:
    """``digits`` and ``power`` (``_tiny_digits`` of the entries ``x``, arrays of ``sizes`` entries
    from ``first``) where NumPy writes a subnormal entry otherwise, and the decimals each array
    keeps. NumPy writes the fewest digits that identify an entry (Python's repr) up to 4 decimals,
    then every entry of the array to as many decimals as the longest needs, from its exact value: a
    number below ``_COARSE`` may need fewer than 4 and read otherwise with more (5e-324 is
    ``5.e-324`` alone, but ``4.9e-324`` beside an entry with one decimal). Above it, a repr of at
    most 5 digits is within a millionth of the value, far from where ``%.4e`` rounds otherwise: the
    digits are ``_tiny_digits``'s. Each distinct value is written once."""
    at = ((x != 0) & (np.abs(x) < _COARSE)).nonzero()[0]
    values, which = np.unique(np.abs(x[at]), return_inverse=True)
    shortest = []
    for value in values.tolist():
        mantissa, _, exponent = repr(value).partition("e")
        if len(mantissa) > 6:  # more than 4 decimals: cut at 4, as printf rounds
            mantissa, _, exponent = f"{value:.4e}".partition("e")
        shortest.append((int(mantissa.replace(".", "").ljust(5, "0")), int(exponent)))
    table = np.array(shortest, np.int64).reshape(-1, 2)
    digits[at], power[at] = table[which, 0], table[which, 1]
    decimals = np.maximum.reduceat(_digits("frac_width").take(digits % 10000), first)
    pairs, again = np.unique(which * 5 + decimals.repeat(sizes)[at], return_inverse=True)
    exact = []
    for pair in pairs.tolist():
        mantissa, _, exponent = f"{values[pair // 5]:.{pair % 5}e}".partition("e")
        exact.append((int(mantissa.replace(".", "").ljust(5, "0")), int(exponent)))
    table = np.array(exact, np.int64).reshape(-1, 2)
    digits[at], power[at] = table[again, 0], table[again, 1]
    return decimals


@functools.cache
def _tiny_tables() -> tuple[np.ndarray, np.ndarray]:
    """The characters of an entry with exponents before them, in 8-byte halves (as ``_entry_tables``):
    its sign (a space if none) and digit in the last 2 bytes of the first (rows 0 … 9; 10 … 19:
    negative), its point and four decimals, zeros kept, in the first 5 of the second (rows 0 … 9999)."""
    leads = np.zeros((20, 8), np.uint8)
    leads[:, 6] = [ord(" ")] * 10 + [ord("-")] * 10
    leads[:, 7] = np.arange(20) % 10 + ord("0")
    fracs = np.zeros((10000, 8), np.uint8)
    fracs[:, 0] = ord(".")
    fracs[:, 1:5] = _characters("frac_digits")
    return leads.view(np.uint64).ravel(), fracs.view(np.uint64).ravel()


def _write_tiny(out: list[str | None], tiny: list[int], v: np.ndarray, starts: list[int],
                arrays: Sequence[np.ndarray], edges: Sequence[int], counts: Sequence[int]) -> None:
    """Write in ``out`` the float64 arrays ``tiny`` (their indices), every entry below ``_TINY`` and not
    all 0 (vanishing gradients; their entries in ``v`` from ``starts``), as ``_exponents`` writes each,
    all together: NumPy's exponent format, its digits cut at 4 decimals with the trailing zeros all
    entries share dropped, its exponents as wide as the widest, a place for a sign if any has one."""
    x = np.concatenate([v[starts[i]:starts[i] + counts[i]] for i in tiny])
    sizes = np.array([counts[i] for i in tiny])
    first = sizes.cumsum() - sizes
    digits, power = _tiny_digits(x)
    if np.abs(x).min() < _COARSE and ((x != 0) & (np.abs(x) < _COARSE)).any():
        decimals = _subnormal_digits(x, sizes, first, digits, power)
        lead, frac = np.divmod(digits, 10000)
    else:
        lead, frac = np.divmod(digits, 10000)
        decimals = np.maximum.reduceat(_digits("frac_width").take(frac), first)
    negative = np.signbit(x)
    wide = np.maximum.reduceat(power <= -100, first)
    # each entry's characters in 24 bytes, its point at byte 8 (as _page reads them): its sign and
    # digit, the point and 4 decimals, then from the last decimal its array keeps, "e", the
    # exponent's sign and its 2 or 3 digits
    count = len(x)
    leads, fracs = _tiny_tables()
    words = np.zeros((count, 3), np.uint64)
    words[:, 0] = leads.take(lead + negative * 10)
    words[:, 1] = fracs.take(frac)
    chars = words.view(np.uint8).reshape(-1)
    three = wide.repeat(sizes)
    base = np.arange(9, 24 * count, 24) + decimals.repeat(sizes)
    chars[base] = ord("e")
    chars[base + 1] = np.where(power < 0, ord("-"), ord("+"))
    e = np.abs(power)
    chars[base + 2] = np.where(three, e // 100, e // 10) + ord("0")
    chars[base + 3] = np.where(three, e // 10 % 10, e % 10) + ord("0")
    chars[base[three] + 4] = e[three] % 10 + ord("0")
    layouts: dict[tuple[tuple[int, ...], int, int, int], list[int]] = {}
    rights = (decimals + 4 + wide).tolist()
    lefts = (1 + np.maximum.reduceat(negative, first)).tolist()
    for i, left, right in zip(tiny, lefts, rights):
        layouts.setdefault((arrays[i].shape, edges[i], left, right), []).append(i)
    _place(out, layouts, chars, 24, dict(zip(tiny, (first * 24).tolist())), counts)


def _ranges(values: Sequence[np.ndarray], sizes: Sequence[int]) -> list[tuple[float, float, float]]:
    """``_range`` of each of ``values`` (real arrays with entries, ``sizes`` entries each), reduced
    together from one copy."""
    if len(values) == 1:
        return [_range(values[0])]  # type: ignore[list-item]
    starts = np.array(list(itertools.accumulate(sizes[:-1], initial=0)))
    x = np.concatenate(values, axis=None).astype(float, copy=False)  # (each flattened in C order)
    lows, highs = np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)
    norms = np.sqrt(np.add.reduceat(x * x, starts))
    # where the sum of squares underflowed (or all but did) or overflowed with finite entries: the
    # entries scaled by their largest magnitude, summed again, all together
    top = np.maximum(-lows, highs)
    again = ((top > 0) & (top < _UNDERFLOWS)) | (np.isinf(norms) & np.isfinite(top))
    if again.any():
        scale = np.where(again, top, 1.0)
        y = x / scale.repeat(sizes)
        norms = np.where(again, scale * np.sqrt(np.add.reduceat(y * y, starts)), norms)
    return list(zip(norms.tolist(), lows.tolist(), highs.tolist()))


_T = TypeVar("_T")


def _runs(items: list[_T], sizes: list[int]) -> Iterator[list[_T]]:
    """``items`` in runs of at most ``_STACK`` entries in all (by ``sizes``); a larger item alone."""
    run: list[_T] = []
    total = 0
    for item, n in zip(items, sizes):
        if run and total + n > _STACK:
            yield run
            run, total = [], 0
        run.append(item)
        total += n
    if run:
        yield run


class ArrayText:
    """The texts of one array, each made when first asked for and then kept: its summary for a label
    (``summary_lines``) and its bounded text for a tooltip (``full_text``). ``ArrayTexts`` makes
    them for many arrays together."""

    __slots__ = ("value", "_stats", "_words", "_lines", "_full")

    def __init__(self, value: np.ndarray) -> None:
        self.value = np.asarray(value)
        self._stats: tuple[float, float, float] | None | bool = False  # False: not computed yet
        self._words: tuple[str, str, str] | None = None  # norm, min and max written, when finite
        self._lines: list[str] | None = None
        self._full: str | None = None

    def stats(self) -> tuple[float, float, float] | None:
        """``(norm, min, max)`` of a real array with entries, else None."""
        if self._stats is False:
            with np.errstate(all="ignore"):  # a norm may overflow: it is written ∞
                self._stats = _range(self.value)
        return self._stats  # type: ignore[return-value]

    def _finite_words(self) -> tuple[str, str, str] | None:
        """Norm, min and max written (once, for the label and the tooltip), when all are finite."""
        if self._words is None:
            stats = self.stats()
            if stats is None or not (math.isfinite(stats[1]) and math.isfinite(stats[2])):
                return None
            self._words = (format_number(stats[0]), format_number(stats[1]), format_number(stats[2]))
        return self._words

    def summary_lines(self) -> list[str]:
        if self._lines is None:
            a = self.value
            if _small(a):
                self._lines = _numbers_lines(a)
            elif a.dtype.kind == "b":
                self._lines = [_mask_text(a)]
            else:
                words = self._finite_words()
                if words is None or (self._stats[1] == 0 and self._stats[2] == 0):  # type: ignore[index]
                    self._lines = _large_summary(a, self.stats())
                else:
                    self._lines = [f"norm {words[0]},", f"range [{words[1]}, {words[2]}]"]
        return self._lines

    def full_text(self) -> str:
        if self._full is None:
            with np.errstate(all="ignore"):
                self._full = self._complete(None)
        return self._full

    def _complete(self, body: str | None) -> str:
        """The tooltip text around ``body`` (the entries as NumPy writes them; None: write them here):
        ``Verbatim`` for numbers (NumPy writes nothing that needs escaping)."""
        a = self.value
        if a.size <= TOOLTIP_NUMBERS:
            text = body or _fast_text(a, 3) or _exponent_text(a, 3) or _numpy_text(a, 3)
        else:
            edge, before, after = _elided(a.shape)
            if edge == 0:
                text = before + self._describe() + " (too many axes to show entries)"
            else:
                body = body or _fast_text(a, edge) or _exponent_text(a, edge) or _numpy_text(a, edge)
                text = before + self._describe() + after + body
        return Verbatim(text) if a.dtype.kind in "biufc" else text

    def _describe(self) -> str:
        """Norm, min and max (or what stands for them) on one line, for a tooltip."""
        if self.value.dtype.kind == "b":
            return _mask_text(self.value)
        words = self._finite_words()
        if words is None or (self._stats[1] == 0 and self._stats[2] == 0):  # type: ignore[index]
            return " ".join(_large_summary(self.value, self.stats()))
        return f"norm {words[0]}, min {words[1]}, max {words[2]}"


class ArrayTexts:
    """The texts of the arrays one drawing shows, one ``ArrayText`` per array (by identity: a node's
    gradient is also the message on its only outgoing edge), each made once. The arrays ``add``-ed
    before the first text is asked for are handled together, whatever their shapes: copied into one
    buffer (64 kB at a time), reduced (norm, min, max) together, and written together.

    >>> texts = ArrayTexts()
    >>> x = texts.add(np.arange(12.0).reshape(3, 4))
    >>> texts.summary_lines(x), texts.full_text(x).splitlines()[0]
    (['norm 22.5,', 'range [0, 11]'], '[[ 0.  1.  2.  3.]')
    """

    __slots__ = ("_by_id", "_new", "_others", "_unwritten")

    def __init__(self) -> None:
        self._by_id: dict[int, ArrayText] = {}  # the text keeps its array, so that its id is not reused
        self._others: list[object] = []
        self._new: list[ArrayText] = []  # added, not yet reduced
        self._unwritten: list[ArrayText] = []  # reduced, their tooltips not yet written

    def add(self, value: np.ndarray) -> np.ndarray:
        """Note ``value`` as one the drawing shows (once per array); returns it."""
        if id(value) not in self._by_id:
            self._added(value)
        return value

    def _added(self, value: np.ndarray) -> ArrayText:
        text = self._by_id[id(value)] = ArrayText(value)
        if text.value is not value:  # not an array: kept too, so that its id is not reused meanwhile
            self._others.append(value)
        self._new.append(text)
        return text

    def summary_lines(self, value: np.ndarray) -> list[str]:
        """``summary_lines(value)``, for a label (a list kept: do not change it). Values that overflow
        or are not finite are written as they are, without NumPy's warnings."""
        text = self._by_id.get(id(value)) or self._added(value)
        if text._lines is None:
            if text._stats is False and self._new:
                self._reduce()
            return text.summary_lines()
        return text._lines

    def full_text(self, value: np.ndarray) -> str:
        """``full_text(value)``, for a tooltip (without NumPy's warnings, as ``summary_lines``)."""
        text = self._by_id.get(id(value)) or self._added(value)
        if text._full is None:
            if self._new:
                self._reduce()
            if self._unwritten:
                self._write()
            return text.full_text()
        return text._full

    def _reduce(self) -> None:
        """Norm, min and max of the new arrays, and the entries their tooltips write, shape by shape."""
        with np.errstate(all="ignore"):
            self._reduce_all()

    def _reduce_all(self) -> None:
        alone: list[ArrayText] = []  # to reduce one by one, without a copy: more than _STACKED entries
        small: list[ArrayText] = []  # to reduce together: real, with more entries than a label writes out
        sizes: list[int] = []
        for t in self._new:
            a = t.value
            n = a.size
            if n and a.dtype.kind in "biuf":
                if a.dtype in _FAST_LIMIT:  # float32, float64: by _write_many (others one by one, when asked)
                    self._unwritten.append(t)
                if t._stats is False and (n > 5 or (n == 5 and a.ndim != 1)):  # not _small(a)
                    if n > _STACKED:
                        alone.append(t)
                    else:
                        small.append(t)
                        sizes.append(n)
        self._new = []
        for t in alone:
            t._stats = _range(t.value)
        for run in _runs(list(range(len(small))), sizes):
            for k, stats in zip(run, _ranges([small[k].value for k in run], [sizes[k] for k in run])):
                small[k]._stats = stats
        finite = [t for t in alone + small if math.isfinite(t._stats[0]) and math.isfinite(t._stats[1])  # type: ignore
                  and math.isfinite(t._stats[2])]  # type: ignore[index]
        # format_number for all the norms, minima and maxima at once (finite, real: %.3g and a minus),
        # and the summary lines from them, as summary_lines writes them
        text = ("%.3g %.3g %.3g\0" * len(finite) % tuple([x + 0.0 for t in finite for x in t._stats])).replace("-", "−")  # type: ignore
        for t, words in zip(finite, text.split("\0")):
            norm, lo, hi = t._words = tuple(words.split(" "))  # type: ignore[assignment]
            if (t._stats[1] or t._stats[2]) and t.value.dtype.kind != "b":  # type: ignore[index]  # else all 0
                # (summary_lines says so) or a mask (it says how much of it is true)
                t._lines = ["norm " + norm + ",", "range [" + lo + ", " + hi + "]"]

    def _write(self) -> None:
        """The tooltip texts of the arrays reduced together (the others are written when asked for)."""
        with np.errstate(all="ignore"):
            self._write_all()

    def _write_all(self) -> None:
        due = [t for t in self._unwritten if t._full is None]
        self._unwritten = []
        shown = [_tooltip_entries(t.value.shape) for t in due]
        if sum(n for _, n in shown) >= _TOGETHER:  # else a few numbers: one by one costs less
            written = [(t, edge, n) for t, (edge, n) in zip(due, shown) if edge]  # (edge 0: no entries written)
            for run in _runs(written, [n for _, _, n in written]):
                bodies = _write_many([t.value for t, _, _ in run], [edge for _, edge, _ in run],
                                     [n for _, _, n in run])
                for (t, _, _), body in zip(run, bodies):
                    t._full = t._complete(body)
        for t in due:
            if t._full is None:
                t._full = t._complete(None)


@functools.lru_cache(maxsize=1024)
def _tooltip_entries(shape: tuple[int, ...]) -> tuple[int, int]:
    """The edge items (0: none) and the number of entries a tooltip writes of an array of ``shape``."""
    size = math.prod(shape)
    if size <= TOOLTIP_NUMBERS:
        return 3, size
    edge = _edgeitems(shape)
    return edge, _shown_count(shape, edge) if edge else 0


def summary_lines(value: np.ndarray) -> list[str]:
    """A value in one or two short lines: its numbers when there are few (up to 5 in a vector, 4 in
    a matrix), else its norm and range.

    >>> summary_lines(np.array([-0.732, -0.544, -0.316, 0.412, 1.04]))
    ['[−0.732, −0.544, −0.316,', '0.412, 1.04]']
    >>> summary_lines(np.array([7.97e-10, 7.97e-10, 7.97e-10]))
    ['[7.97e−10, 7.97e−10,', '7.97e−10]']
    >>> summary_lines(np.arange(12.0).reshape(3, 4))
    ['norm 22.5,', 'range [0, 11]']
    """
    return list(ArrayText(value).summary_lines())


# ------------------------------------------------------------------------------------------------
# Escaping for DOT

_MARKUP = re.compile(r"[&<>\"'\\]")  # what label_text changes in printable text, "]" aside


def label_text(s: str) -> str:
    r"""Text for an HTML-like label: markup escaped, control characters shown as escapes, backslashes
    doubled (dot reads a doubled backslash in an HTML label as one, even as entities), ``]`` as a
    character reference (dot 2.43 rejects a text that is just ``]``), and spaces at either end or
    beside another no-break spaces: dot writes each run of text as an SVG text of its own, where
    browsers and librsvg drop them (``∂L/∂W`` then `` =`` read ``∂L/∂W=``; ``m₁`` `` + `` ``m₂``
    read ``m₁+ m₂``), though dot made room for them.

    >>> print(label_text("<a> & b\\]"), label_text(" = "), label_text("a  b"))
    &lt;a&gt; &amp; b\\&#93; &#160;=&#160; a&#160;&#160;b
    """
    if s.isprintable() and _MARKUP.search(s) is None:
        text = s.replace("]", "&#93;") if "]" in s else s
    else:
        text = html.escape(visible(s), quote=True).replace("\\", "\\\\").replace("]", "&#93;")
    if text[:1] == " " or text[-1:] == " " or "  " in text:
        text = _SPACES.sub(lambda m: "&#160;" * len(m.group()), text)
    return text


_SPACES = re.compile(r"^ +| +$| {2,}")  # the spaces SVG would drop: at either end, or in a run


def attribute_text(s: str) -> str:
    r"""Text for an ordinary attribute such as a tooltip, shown literally: ``&`` as an entity (dot
    passes entities through) and each backslash written four times (dot 2.43 unescapes tooltips
    twice: ``\N`` would become the node's name); line breaks kept. ``tooltip`` bounds the length
    this gives.

    >>> print(attribute_text("a\\N & b"))
    a\\\\N &amp; b
    """
    text = s if s.replace("\n", "").isprintable() else "\n".join(visible(line) for line in s.split("\n"))
    if "&" in text:
        text = text.replace("&", "&amp;")
    return text.replace("\\", "\\" * 4) if "\\" in text else text
