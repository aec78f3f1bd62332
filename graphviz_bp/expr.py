"""The CLI's expression language: the NumPy subset written in papers, interpreted from its AST.

An expression is parsed with ``ast`` and interpreted by walking an allow-list of node types; it is
never passed to ``eval`` or ``exec``, and no attribute is looked up on anything except ``.T``.
Allowed: input names, numbers, ``+ - * / ** @``, unary ``-`` and ``+``, ``.T``, parentheses, and
calls to the functions in ``FUNCTIONS`` (bare or as ``np.f`` / ``numpy.f``) with the keyword
``axis=`` where the function takes one.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from . import functions
from .errors import GraphvizBPError, ShapeError
from .graph import ExpressionSource
from .tracer import at

__all__ = ["ExprError", "FUNCTIONS", "Expression", "parse"]

MAX_LENGTH = 2000  # characters
MAX_NODES = 500    # AST nodes
MAX_DEPTH = 60     # nesting


class ExprError(GraphvizBPError, ValueError):
    """An expression that is not in the language; names the offending token and its column (1-based)."""

    def __init__(self, message: str, column: int | None = None, token: str | None = None) -> None:
        self.column = column
        self.token = token
        where = f" at column {column}" if column is not None else ""
        super().__init__(f"{message}{where}")


@dataclass(frozen=True)
class _Function:
    fn: Callable[..., Any]
    nargs: int
    axis: bool = False


FUNCTIONS: dict[str, _Function] = {
    "sum": _Function(np.sum, 1, axis=True),
    "mean": _Function(np.mean, 1, axis=True),
    "exp": _Function(np.exp, 1),
    "log": _Function(np.log, 1),
    "tanh": _Function(np.tanh, 1),
    "sqrt": _Function(np.sqrt, 1),
    "abs": _Function(np.abs, 1),
    "sigmoid": _Function(functions.sigmoid, 1),
    "relu": _Function(functions.relu, 1),
    "swish": _Function(functions.swish, 1),
    "softmax": _Function(functions.softmax, 1, axis=True),
    "maximum": _Function(np.maximum, 2),
    "norm": _Function(np.linalg.norm, 1, axis=True),
    "transpose": _Function(np.transpose, 1),
}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a ** b,
    ast.MatMult: lambda a, b: a @ b,
}
_SYMBOLS = {ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
            ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~"}
_NAMESPACES = ("np", "numpy")


def _chars(text: str, lineno: int | None, byte_offset: int | None) -> int:
    """A 0-based character offset in ``text``'s line ``lineno`` from ``ast``'s UTF-8 byte offset."""
    lines = text.split("\n")
    line = lines[lineno - 1] if lineno and 0 < lineno <= len(lines) else ""
    return len(line.encode("utf-8")[: byte_offset or 0].decode("utf-8", "ignore"))


def _col(text: str, node: ast.AST) -> int:
    """The 1-based character column where ``node`` starts."""
    return _chars(text, getattr(node, "lineno", 1), getattr(node, "col_offset", 0)) + 1


def _end_col(text: str, node: ast.AST) -> int:
    """The 1-based character column just after ``node``."""
    return _chars(text, getattr(node, "end_lineno", 1), getattr(node, "end_col_offset", 0)) + 1


def _operator_col(text: str, node: ast.BinOp, sym: str) -> int:
    """The column of ``node``'s operator symbol (between its operands)."""
    start, end = _end_col(text, node.left) - 1, _col(text, node.right) - 1
    line = text.split("\n")[(getattr(node.left, "end_lineno", 1) or 1) - 1]
    found = line.find(sym, start, end if getattr(node.right, "lineno", 1) == getattr(node.left, "end_lineno", 1) else None)
    return found + 1 if found >= 0 else _col(text, node)


def _token(text: str, node: ast.AST) -> str:
    seg = ast.get_source_segment(text, node) or type(node).__name__
    return seg if len(seg) <= 40 else seg[:37] + "..."


class Expression:
    """A parsed, checked expression; ``names`` are the inputs it reads, ``evaluate`` runs it."""

    def __init__(self, text: str, tree: ast.Expression, names: tuple[str, ...]) -> None:
        self.text = text
        self._tree = tree
        self.names = names

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The expression's value with ``values`` for its names (arrays or traced values)."""
        missing = [n for n in self.names if n not in values]
        if missing:
            raise ExprError(f"no value for {', '.join(missing)}")
        return _Interpreter(values, self.text).run(self._tree.body)

    def __call__(self, /, **values: Any) -> Any:
        return self.evaluate(values)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def parse(text: str) -> Expression:
    """Parse and check ``text``; raises ExprError (naming the token and column) for anything else."""
    if not isinstance(text, str):
        raise ExprError(f"an expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExprError("expression is empty")
    if "\x00" in text:
        raise ExprError("expression contains a NUL character", text.index("\x00") + 1, "\\x00")
    bad = next((i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:  # bytes that were not UTF-8 on the command line
        raise ExprError("expression contains bytes that are not valid UTF-8", bad + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings ("'int' object is not callable"...)
            tree = ast.parse(text.strip() if "\n" not in text.strip() else text, mode="eval")
    except SyntaxError as exc:
        col = exc.offset if exc.lineno in (None, 1) else None
        raise ExprError(f"syntax error: {exc.msg}", col) from None
    except (ValueError, MemoryError, RecursionError) as exc:  # e.g. an integer of 5000 digits
        raise ExprError(f"cannot parse the expression: {exc}") from None
    text = text.strip() if "\n" not in text.strip() else text
    names = _check(text, tree)
    return Expression(text, tree, names)


def _check(text: str, tree: ast.Expression) -> tuple[str, ...]:
    """Walk the tree (iteratively) and refuse every node outside the language. Returns input names."""
    names: list[str] = []
    count = 0
    stack: list[tuple[ast.AST, int, str]] = [(tree.body, 1, "value")]
    while stack:
        node, depth, role = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExprError(f"expression has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise ExprError(f"expression is nested more than {MAX_DEPTH} levels deep", _col(text, node))
        tok = _token(text, node)
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                sym = _SYMBOLS.get(type(node.op), type(node.op).__name__)
                raise ExprError(f"operator {sym!r} is not allowed (allowed: + - * / ** @)",
                                _operator_col(text, node, sym), sym)
            # a chain a + b + c + ... is flat to a reader: its left spine does not count as nesting
            stack += [(node.right, depth + 1, "value"), (node.left, depth, "value")]
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                sym = _SYMBOLS.get(type(node.op), type(node.op).__name__)
                raise ExprError(f"operator {sym!r} is not allowed", _col(text, node), sym)
            stack.append((node.operand, depth + 1, "value"))
        elif isinstance(node, ast.Constant):
            if type(node.value) not in (int, float):
                raise ExprError(f"{tok} is not allowed: only numbers and input names are values",
                                _col(text, node), tok)
            if type(node.value) is int and abs(node.value) > 10 ** 308:
                raise ExprError("number too large (beyond the float range)", _col(text, node), tok[:20])
        elif isinstance(node, ast.Name):
            if node.id in FUNCTIONS or node.id in _NAMESPACES:
                raise ExprError(f"{node.id!r} is a function, not a value: call it, e.g. {node.id}(x)"
                                if node.id in FUNCTIONS else f"{node.id!r} alone is not a value",
                                _col(text, node), node.id)
            if node.id.startswith("__"):
                raise ExprError(f"name {node.id!r} is not allowed", _col(text, node), node.id)
            if node.id not in names:
                names.append(node.id)
        elif isinstance(node, ast.Attribute):
            if node.attr != "T":
                raise ExprError(f"attribute {'.' + node.attr!r} is not allowed (only .T, the "
                                f"transpose)", _end_col(text, node) - len(node.attr) - 1, "." + node.attr)
            stack.append((node.value, depth + 1, "value"))
        elif isinstance(node, ast.Call):
            fname = _function_name(text, node.func)
            spec = FUNCTIONS[fname]
            if len(node.args) != spec.nargs:
                raise ExprError(f"{fname}() takes {spec.nargs} argument{'s' if spec.nargs > 1 else ''}, "
                                f"got {len(node.args)}", _col(text, node), tok)
            for kw in node.keywords:
                if kw.arg != "axis" or not spec.axis:
                    what = "**" if kw.arg is None else f"{kw.arg}="
                    allowed = "axis= is its only keyword" if spec.axis else "it takes no keywords"
                    raise ExprError(f"keyword {what} is not allowed in {fname}() ({allowed})",
                                    max(1, _col(text, kw.value) - len(what)) if kw.arg else _col(text, kw), what)
                _check_axis(text, kw.value)
            for a in node.args:
                if isinstance(a, ast.Starred):
                    raise ExprError("*arguments are not allowed", _col(text, a), "*")
            stack += [(a, depth + 1, "value") for a in reversed(node.args)]
        else:
            kind = {ast.Lambda: "lambda", ast.ListComp: "comprehension", ast.GeneratorExp: "generator",
                    ast.Subscript: "indexing", ast.Compare: "comparison", ast.BoolOp: "and/or",
                    ast.IfExp: "if-else", ast.NamedExpr: ":=", ast.JoinedStr: "f-string",
                    ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set",
                    ast.SetComp: "comprehension", ast.DictComp: "comprehension", ast.Await: "await",
                    ast.Starred: "*"}.get(type(node), type(node).__name__)
            raise ExprError(f"{kind} is not allowed: {tok!r}", _col(text, node), tok)
    return tuple(names)


def _is_namespace(node: ast.AST) -> bool:
    """``np``, ``numpy``, ``np.linalg`` or ``numpy.linalg``."""
    if isinstance(node, ast.Name):
        return node.id in _NAMESPACES
    return (isinstance(node, ast.Attribute) and node.attr == "linalg" and isinstance(node.value, ast.Name)
            and node.value.id in _NAMESPACES)


def _function_name(text: str, func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        name = func.id
    elif isinstance(func, ast.Attribute) and _is_namespace(func.value):
        name = func.attr
        if isinstance(func.value, ast.Attribute) and name != "norm":
            tok = _token(text, func)
            raise ExprError(f"{tok!r} is not an allowed function (from linalg only norm)", _col(text, func), tok)
    elif isinstance(func, ast.Attribute):
        raise ExprError(f"attribute {'.' + func.attr!r} is not allowed (only .T, the transpose)",
                        _end_col(text, func) - len(func.attr) - 1, "." + func.attr)
    else:
        tok = _token(text, func)
        raise ExprError(f"{tok!r} cannot be called: only the functions {', '.join(sorted(FUNCTIONS))}",
                        _col(text, func), tok)
    if name not in FUNCTIONS:
        raise ExprError(f"{name!r} is not an allowed function (allowed: {', '.join(sorted(FUNCTIONS))})",
                        _col(text, func), name)
    return name


def _check_axis(text: str, node: ast.AST) -> None:
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    for item in items:
        inner = item.operand if isinstance(item, ast.UnaryOp) and isinstance(item.op, ast.USub) else item
        if not (isinstance(inner, ast.Constant) and type(inner.value) is int and abs(inner.value) < 64):
            tok = _token(text, item)
            raise ExprError(f"axis must be an integer or a tuple of integers, got {tok!r}", _col(text, item), tok)


def _axis_value(node: ast.AST) -> Any:
    if isinstance(node, ast.Tuple):
        return tuple(_axis_value(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp):
        return -_axis_value(node.operand)
    return node.value  # type: ignore[attr-defined]


class _Interpreter:
    """Evaluates a checked tree. Numbers become float64 NumPy scalars, so ``2 ** 10**9`` is ``inf``,
    not a Python integer computation that never ends. Each op is recorded as made by its part of
    the expression (column and text), for error messages and the drawing's tooltips."""

    def __init__(self, values: Mapping[str, Any], text: str) -> None:
        self.values = values
        self.text = text

    def _source(self, node: ast.AST) -> ExpressionSource:
        return ExpressionSource(_col(self.text, node), _token(self.text, node))

    def run(self, node: ast.AST) -> Any:
        """Evaluate ``node``; a shape error is located in the expression, not in Python code."""
        try:
            return self._run(node)
        except ShapeError as exc:
            if exc.location is not None and exc.location.startswith("expression"):
                raise
            raise ShapeError(exc.detail, str(self._source(node))) from None

    def _run(self, node: ast.AST) -> Any:
        # Nesting is bounded by MAX_DEPTH, so recursion here is shallow; a flat chain a + b + c + ...
        # (a deep left spine in the tree) is walked in a loop.
        if isinstance(node, ast.BinOp):
            spine = []
            while isinstance(node, ast.BinOp):
                spine.append(node)
                node = node.left
            acc = self.run(node)
            for b in reversed(spine):
                right = self.run(b.right)
                with at(self._source(b)):
                    acc = _BINOPS[type(b.op)](acc, right)
            return acc
        if isinstance(node, ast.UnaryOp):
            v = self.run(node.operand)
            if isinstance(node.op, ast.UAdd):
                return v
            with at(self._source(node)):
                return -v
        if isinstance(node, ast.Constant):
            return np.float64(node.value)
        if isinstance(node, ast.Name):
            return self.values[node.id]
        if isinstance(node, ast.Attribute):  # .T, checked
            v = self.run(node.value)
            with at(self._source(node)):
                return np.transpose(v) if isinstance(v, np.floating) else v.T
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr  # type: ignore[attr-defined]
            spec = FUNCTIONS[name]
            kwargs = {kw.arg: _axis_value(kw.value) for kw in node.keywords}
            args = [self.run(a) for a in node.args]
            with at(self._source(node)):
                return spec.fn(*args, **kwargs)
        raise AssertionError(f"unchecked node {type(node).__name__}")  # _check refuses these
