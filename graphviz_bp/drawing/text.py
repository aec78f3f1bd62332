"""Text: how numbers, shapes, values and names are written, and how text is escaped for DOT.

Pure functions of their arguments; the Scene's texts are made with them, and ``render`` escapes
them with ``label_text`` and ``attribute_text``. No Graphviz here.
"""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np

from ..graph import Node
from ..ops import format_shape  # one definition, shared with the ops' drawing labels

__all__ = ["NAME_LENGTH", "TOOLTIP_LIMIT", "TOOLTIP_NAME", "WRAP", "attribute_text", "format_number",
           "format_shape", "full_text", "label_text", "shown", "space_of", "subscript", "summarize",
           "summary_lines", "tooltip", "visible"]

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


TOOLTIP_LIMIT = 15000  # dot refuses a quoted string longer than 16,384 characters, once escaped


def tooltip(lines: Sequence[str]) -> str:
    r"""Tooltip text from ``lines``, cut short with ``…`` when escaping it for DOT (``\`` four
    times, ``&`` as ``&amp;``, ``"`` as ``\"``) could take it past what dot accepts.

    >>> len(tooltip(["\\" * 10000])) < 4000, tooltip(["a", "b"])
    (True, 'a\nb')
    """
    text = "\n".join(lines)
    while True:
        size = len(text) + 3 * text.count("\\") + 4 * text.count("&") + text.count('"')
        if size <= TOOLTIP_LIMIT:
            return text
        text = text[: len(text) * TOOLTIP_LIMIT // size - 2] + "\n…"


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


def space_of(shape: Sequence[int]) -> str:
    """A shape as the space its value lives in, in Unicode superscripts (the same glyphs in every
    renderer, unlike raised text).

    >>> space_of((3, 5)), space_of((64,)), space_of(())
    ('ℝ³ˣ⁵', 'ℝ⁶⁴', 'ℝ')
    """
    return "ℝ" + format_shape(shape).translate(_SUPERSCRIPT) if len(shape) else "ℝ"


def format_number(x: float) -> str:
    """Three significant digits, a true minus sign, no trailing noise.

    >>> format_number(-0.000123456), format_number(2.0), format_number(1234567.0)
    ('−0.000123', '2', '1.23e+06')
    """
    x = complex(x)
    if x.imag:
        return f"{format_number(x.real)}{'+' if x.imag >= 0 else '−'}{format_number(abs(x.imag))}j"
    v = x.real
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "∞" if v > 0 else "−∞"
    return f"{v:.3g}".replace("-", "−")


WRAP = 26  # characters: longer summaries go on two lines, which keeps nodes and labels narrow


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
    a = np.asarray(value)
    if a.size == 0:
        return ["[]"]
    if a.ndim == 0:
        return [format_number(a[()])]
    if a.size <= (5 if a.ndim == 1 else 4):
        text = _nested(a.tolist())
        if len(text) <= WRAP:
            return [text]
        if a.ndim == 1:
            items = [format_number(v) for v in a.tolist()]
            half = (len(items) + 1) // 2  # never a line with just "]"
            return ["[" + ", ".join(items[:half]) + ",", ", ".join(items[half:]) + "]"]
        rows = [_nested(r) for r in a.reshape(a.shape[0], -1).tolist()] if a.ndim == 2 else [text]
        return ["[" + rows[0] + ","] + [r + "," for r in rows[1:-1]] + [rows[-1] + "]"] if len(rows) > 1 else rows
    if a.dtype.kind in "biuf" and not a.any():
        return ["all 0"]
    if a.dtype.kind == "c":
        return [f"complex, norm {format_number(float(np.linalg.norm(a)))}"]
    flat = a.astype(float, copy=False)
    if not np.isfinite(flat).all():
        return [f"{np.isnan(flat).sum()} nan, {np.isinf(flat).sum()} ∞ of {flat.size}"]
    return [f"norm {format_number(float(np.linalg.norm(flat)))},",
            f"range [{format_number(float(flat.min()))}, {format_number(float(flat.max()))}]"]


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


def _nested(x: object) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_nested(v) for v in x) + "]"
    return format_number(x)  # type: ignore[arg-type]


def full_text(value: np.ndarray) -> str:
    """The whole value, for a tooltip (very large arrays are elided by NumPy's own summariser)."""
    return np.array2string(np.asarray(value), precision=4, suppress_small=True, max_line_width=100,
                           threshold=400)


# ------------------------------------------------------------------------------------------------
# Escaping for DOT

def label_text(s: str) -> str:
    r"""Text for an HTML-like label: markup escaped, control characters shown as escapes, backslashes
    doubled (dot reads a doubled backslash in an HTML label as one, even as entities) and ``]`` as a
    character reference (dot 2.43 rejects a text that is just ``]``).

    >>> print(label_text("<a> & b\\]"))
    &lt;a&gt; &amp; b\\&#93;
    """
    return html.escape(visible(s), quote=True).replace("\\", "\\\\").replace("]", "&#93;")


def attribute_text(s: str) -> str:
    r"""Text for an ordinary attribute such as a tooltip, shown literally: ``&`` as an entity (dot
    passes entities through) and each backslash written four times (dot 2.43 unescapes tooltips
    twice: ``\N`` would become the node's name); line breaks kept. ``tooltip`` bounds the length
    this gives.

    >>> print(attribute_text("a\\N & b"))
    a\\\\N &amp; b
    """
    text = "\n".join(visible(line) for line in s.split("\n"))
    return text.replace("&", "&amp;").replace("\\", "\\" * 4)
