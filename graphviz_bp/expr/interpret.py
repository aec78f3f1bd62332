"""Evaluating a checked expression: each part recorded as made at its column of the text."""

from __future__ import annotations

import ast
from typing import Any, Callable, Mapping

import numpy as np

from .. import ops
from ..errors import ShapeError, UnsupportedOpError
from ..graph import ExpressionSource
from ..limits import DEFAULT_MEMORY_LIMIT
from ..tracer import Traced, at
from .language import FUNCTIONS
from .source import ExprError, column, is_int_literal, token

BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a ** b,
    ast.MatMult: lambda a, b: a @ b,
}
_BINOP_OPS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide",
              ast.Pow: "power", ast.MatMult: "matmul"}


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


def _literal(node: ast.AST) -> Any:
    """The Python value of a checked literal."""
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.UnaryOp):
        v = _literal(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    return node.value  # type: ignore[attr-defined]


def _numbers(node: ast.AST) -> np.ndarray:
    """An array constant written as a list: integers stay integers (an index), else floats."""
    values = _literal(node)
    try:
        arr = np.array(values)
    except ValueError:  # ragged
        raise ExprError(f"the list {values!r} is not a rectangular array of numbers") from None
    if arr.dtype == object or arr.dtype.kind not in "iuf":
        if arr.size == 0:
            return np.zeros(arr.shape, dtype=np.intp)
        raise ExprError(f"the list {values!r} is not a rectangular array of numbers")
    return arr


class _Interpreter:
    """Evaluates a checked tree. Numbers become float64 NumPy scalars, so ``2 ** 10**9`` is ``inf``,
    not a Python integer computation that never ends. Each op is recorded as made by its part of
    the expression (column and text), for error messages and the drawing's tooltips. Work on
    constants only (``outer(arange(n), arange(n))``) is held to the trace's memory limit too."""

    def __init__(self, values: Mapping[str, Any], text: str) -> None:
        self.values = values
        self.text = text
        self.tape = next((v._tape for v in values.values() if type(v) is Traced), None)

    def _source(self, node: ast.AST) -> ExpressionSource:
        return ExpressionSource(column(self.text, node), token(self.text, node))

    def _budget(self) -> int | None:
        if self.tape is None:
            return DEFAULT_MEMORY_LIMIT
        return None if self.tape.limit is None else self.tape.limit - self.tape.held

    def _admit(self, op: ops.Op, operands: Any, params: Any, node: ast.AST) -> None:
        """Refuse an op on constants whose result would be over the memory limit (as the trace
        refuses one on traced values), before NumPy computes it."""
        if any(type(o) is Traced for o in operands):
            return  # recorded: the trace checks it
        if self.tape is not None:
            self.tape.admit(op, [np.asarray(o) for o in operands], dict(params), self._source(node))

    def run(self, node: ast.AST) -> Any:
        """Evaluate ``node``; a shape error is located in the expression, not in Python code."""
        try:
            return self._run(node)
        except ShapeError as exc:
            if exc.location is not None and exc.location.startswith("expression"):
                raise
            raise ShapeError(exc.detail, str(self._source(node))) from None

    def value(self, node: ast.AST) -> Any:
        """``run``, refusing a tuple (``slogdet``'s result) where an array is needed."""
        v = self.run(node)
        if isinstance(v, (tuple, list)):
            raise ExprError(f"{token(self.text, node)!r} is a {type(v).__name__}; index it, e.g. "
                            f"slogdet(K)[1] or split(x, 2)[0]",
                            column(self.text, node), token(self.text, node))
        return v

    def _run(self, node: ast.AST) -> Any:
        # Nesting is bounded by MAX_DEPTH, so recursion here is shallow; a flat chain a + b + c + ...
        # (a deep left spine in the tree) is walked in a loop.
        if isinstance(node, ast.BinOp):
            spine = []
            while isinstance(node, ast.BinOp):
                spine.append(node)
                node = node.left
            acc = self.value(node)
            for b in reversed(spine):
                right = self.value(b.right)
                self._admit(ops.get(_BINOP_OPS[type(b.op)]), (acc, right), {}, b)
                with at(self._source(b)):
                    acc = BINOPS[type(b.op)](acc, right)
            return acc
        if isinstance(node, ast.UnaryOp):
            v = self.value(node.operand)
            if isinstance(node.op, ast.UAdd):
                return v
            with at(self._source(node)):
                return -v
        if isinstance(node, ast.Constant):
            return np.float64(node.value)
        if isinstance(node, ast.Name):
            return self.values[node.id]
        if isinstance(node, (ast.List, ast.Tuple)):
            return _numbers(node)
        if isinstance(node, ast.Attribute):  # .T or .mT, checked
            v = self.value(node.value)
            with at(self._source(node)):
                if isinstance(v, (np.floating, float)):
                    if node.attr == "mT":
                        raise ShapeError("x.mT needs at least two dimensions; this value is a number",
                                         str(self._source(node)))
                    return v
                return v.T if node.attr == "T" else v.mT
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise AssertionError(f"unchecked node {type(node).__name__}")  # _check refuses these

    def _index_part(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Slice):
            bound = [None if p is None else _literal(p) for p in (node.lower, node.upper, node.step)]
            return slice(*bound)
        if is_int_literal(node) or isinstance(node, ast.Constant):
            return _literal(node)
        if isinstance(node, ast.List):
            return _numbers(node)
        return self.value(node)

    def _subscript(self, node: ast.Subscript) -> Any:
        base = self.run(node.value)
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        key = tuple(self._index_part(p) for p in parts)
        if isinstance(base, (tuple, list)):  # slogdet(K)[1], split(x, 2)[0]
            if len(key) != 1 or type(key[0]) not in (int, slice):
                raise ExprError(f"{token(self.text, node.value)!r} is a {type(base).__name__}: index it "
                                f"with one integer",
                                column(self.text, node.slice), token(self.text, node.slice))
            try:
                return base[key[0]]
            except IndexError:
                raise ExprError(f"{token(self.text, node.value)!r} has {len(base)} items; index "
                                f"{key[0]} is out of range", column(self.text, node.slice),
                                token(self.text, node.slice)) from None
        if isinstance(base, (np.floating, float)):
            base = np.asarray(base)
        if not any(type(k) is Traced for k in key):
            self._admit(ops.get("index"), (base,), {"index": key}, node)
        with at(self._source(node)):
            return base[key if len(key) > 1 or isinstance(node.slice, ast.Tuple) else key[0]]

    def _call(self, node: ast.Call) -> Any:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr  # type: ignore[attr-defined]
        spec = FUNCTIONS[name]
        kwargs = {kw.arg: _literal(kw.value) for kw in node.keywords}
        if spec.op is None and spec.arrays == 0:  # a constructor: literals only, size checked first
            args = [_literal(a) for a in node.args]
            with at(self._source(node)):
                return spec.fn(*args, _budget=self._budget(), **kwargs)
        if spec.op is None:  # a comparison, logic or argsort: no gradient
            values = [self.value(a) for a in node.args[:spec.arrays]] + [_literal(a) for a in node.args[spec.arrays:]]
            with at(self._source(node)):
                return spec.fn(*values, **kwargs)
        if spec.arrays is None:
            first = node.args[0]
            if isinstance(first, (ast.List, ast.Tuple)):
                args = [[self.value(e) for e in first.elts]] + [_literal(a) for a in node.args[1:]]
                operands = args[0]
            else:
                args = [_literal(first)] + [self.value(a) for a in node.args[1:]]
                operands = args[1:]
        else:
            args = ([self.value(a) for a in node.args[:spec.arrays]]
                    + [_literal(a) for a in node.args[spec.arrays:]])
            operands = args[:spec.arrays]
        if not any(type(o) is Traced for o in operands):
            op = spec.op
            try:
                bound_operands, params = op.bind(*args, **kwargs) if op.bind is not None else (operands, kwargs)
            except UnsupportedOpError:
                if op.grows:
                    raise
                # (arguments the op does not record, made of other ops: norm's other orders; on
                # constants NumPy computes them, no larger than their operands: nothing to admit)
            else:
                self._admit(op, bound_operands, params, node)
        with at(self._source(node)):
            return spec.fn(*args, **kwargs)
