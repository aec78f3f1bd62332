"""An expression's text: the limits on it, the error that points into it, its parts' columns and tokens."""

from __future__ import annotations

import ast
import functools

from ..errors import GraphvizBPError

MAX_LENGTH = 2000  # characters
MAX_NODES = 500    # AST nodes
MAX_DEPTH = 60     # nesting
MAX_INT = 2**62    # integer literals that are axes, shapes, repeats or indices
MAX_CONSTANT_ELEMENTS = 1_000_000  # an array made by eye/ones/zeros/arange/full (as an input by shape)


class ExprError(GraphvizBPError, ValueError):
    """An expression that is not in the language; names the offending token and its column (1-based)."""

    def __init__(self, message: str, column: int | None = None, token: str | None = None) -> None:
        self.column = column
        self.token = token
        where = f" at column {column}" if column is not None else ""
        super().__init__(f"{message}{where}")


@functools.lru_cache(maxsize=8)
def _lines(text: str) -> list[tuple[bytes, bool]]:
    """``text``'s lines as UTF-8 bytes, each with whether it is ASCII (split once per text)."""
    return [(line.encode("utf-8", "surrogatepass"), line.isascii()) for line in text.split("\n")]


def _chars(text: str, lineno: int | None, byte_offset: int | None) -> int:
    """A 0-based character offset in ``text``'s line ``lineno`` from ``ast``'s UTF-8 byte offset."""
    lines = _lines(text)
    line, ascii_only = lines[lineno - 1] if lineno and 0 < lineno <= len(lines) else (b"", True)
    if ascii_only:
        return min(byte_offset or 0, len(line))
    return len(line[: byte_offset or 0].decode("utf-8", "ignore"))


def column(text: str, node: ast.AST) -> int:
    """The 1-based character column where ``node`` starts."""
    return _chars(text, getattr(node, "lineno", 1), getattr(node, "col_offset", 0)) + 1


def end_column(text: str, node: ast.AST) -> int:
    """The 1-based character column just after ``node``."""
    return _chars(text, getattr(node, "end_lineno", 1), getattr(node, "end_col_offset", 0)) + 1


def operator_column(text: str, node: ast.BinOp, sym: str) -> int:
    """The column of ``node``'s operator symbol (between its operands)."""
    start, end = end_column(text, node.left) - 1, column(text, node.right) - 1
    line = text.split("\n")[(getattr(node.left, "end_lineno", 1) or 1) - 1]
    found = line.find(sym, start, end if getattr(node.right, "lineno", 1) == getattr(node.left, "end_lineno", 1) else None)
    return found + 1 if found >= 0 else column(text, node)


@functools.lru_cache(maxsize=8)
def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def token(text: str, node: ast.AST) -> str:
    """``node``'s text for a message, shortened to 40 characters (a one-line node is cut from the
    text's UTF-8 bytes directly, so checking a long expression stays linear)."""
    lineno, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
    if lineno == end == 1 and "\n" not in text:
        start, stop = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        seg = _encoded(text)[start:min(stop, start + 160)].decode("utf-8", "replace") if stop is not None else ""
        seg = seg or type(node).__name__
    else:
        seg = ast.get_source_segment(text, node) or type(node).__name__
    return seg if len(seg) <= 40 else seg[:37] + "..."


def is_int_literal(node: ast.AST) -> bool:
    """``node`` is an integer literal, possibly signed."""
    inner = node.operand if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) else node
    return isinstance(inner, ast.Constant) and type(inner.value) is int
