"""Parsing an expression and checking its syntax tree against the language's allow-list."""

from __future__ import annotations

import ast
import re
import warnings

from .interpret import BINOPS, Expression
from .language import FUNCTIONS
from .source import (MAX_DEPTH, MAX_INT, MAX_LENGTH, MAX_NODES, ExprError, column, end_column,
                     is_int_literal, operator_column, token)

_SYMBOLS = {ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
            ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~"}
_NAMESPACES = ("np", "numpy")
_ATTRIBUTES = {"T": "the transpose", "mT": "the matrix transpose"}
_STRING = re.compile(r"^[A-Za-z0-9 ,.\->_]{0,100}$")  # einsum subscripts, ord='fro', mode='wrap'


#: The limits ``gb.evaluate`` parses with: a formula written by graphviz_bp may be long (its text
#: comes from the program, not from a command line), but its nesting stays bounded.
FORMULA_LIMITS = (1_000_000, 1_000_000, 150)


def parse(text: str, *, limits: tuple[int, int, int] | None = None) -> Expression:
    """Parse and check ``text``; raises ExprError (naming the token and column) for anything else.
    ``limits``: (characters, parts, nesting) instead of the command line's (``FORMULA_LIMITS``)."""
    most_length, most_nodes, most_depth = limits or (MAX_LENGTH, MAX_NODES, MAX_DEPTH)
    if not isinstance(text, str):
        raise ExprError(f"an expression must be text, not {type(text).__name__}")
    if len(text) > most_length:
        raise ExprError(f"expression is longer than {most_length} characters")
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
    names = _check(text, tree, most_nodes, most_depth)
    return Expression(text, tree, names)


_KINDS = {ast.Lambda: "lambda", ast.ListComp: "comprehension", ast.GeneratorExp: "generator",
          ast.Subscript: "indexing", ast.Compare: "comparison", ast.BoolOp: "and/or",
          ast.IfExp: "if-else", ast.NamedExpr: ":=", ast.JoinedStr: "f-string",
          ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set",
          ast.SetComp: "comprehension", ast.DictComp: "comprehension", ast.Await: "await",
          ast.Starred: "*", ast.Slice: "slice"}


def _refuse(text: str, node: ast.AST, what: str = "") -> ExprError:
    tok = token(text, node)
    kind = _KINDS.get(type(node), type(node).__name__)
    return ExprError(f"{kind} is not allowed{what}: {tok!r}", column(text, node), tok)


def _check(text: str, tree: ast.Expression, most_nodes: int = MAX_NODES,
           most_depth: int = MAX_DEPTH) -> tuple[str, ...]:
    """Walk the tree (iteratively) and refuse every node outside the language. Returns input names.

    Each node is checked in a role: ``value`` (an array expression), ``literal`` (an axis, shape,
    repeat count or keyword: numbers, tuples, lists, None, booleans, short strings), ``numbers``
    (a list of numbers that is an array constant), or ``index`` (a part of a subscript).
    """
    names: list[str] = []
    count = 0
    stack: list[tuple[ast.AST, int, str]] = [(tree.body, 1, "value")]
    while stack:
        node, depth, role = stack.pop()
        count += 1
        if count > most_nodes:
            raise ExprError(f"expression has more than {most_nodes} parts")
        if depth > most_depth:
            raise ExprError(f"expression is nested more than {most_depth} levels deep", column(text, node))
        if role == "literal":
            _check_literal(text, node, depth, stack)
        elif role == "numbers":
            _check_numbers(text, node, depth, stack)
        elif role == "index":
            _check_index(text, node, depth, stack)
        else:
            _check_value(text, node, depth, stack, names)
    return tuple(names)


def _check_number(text: str, node: ast.AST, what: str) -> None:
    """``node`` is a number literal, possibly signed; integers within ``MAX_INT``."""
    inner = node.operand if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) else node
    if not (isinstance(inner, ast.Constant) and type(inner.value) in (int, float)):
        tok = token(text, node)
        raise ExprError(f"{what} must be numbers, got {tok!r}", column(text, node), tok)
    if type(inner.value) is int and abs(inner.value) >= MAX_INT:
        raise ExprError("integer too large", column(text, node), token(text, node)[:20])


def _check_literal(text: str, node: ast.AST, depth: int, stack: list) -> None:
    if isinstance(node, (ast.Tuple, ast.List)):
        stack += [(e, depth + 1, "literal") for e in reversed(node.elts)]
    elif isinstance(node, ast.Constant) and (node.value is None or type(node.value) is bool):
        pass
    elif isinstance(node, ast.Constant) and type(node.value) is str:
        if not _STRING.match(node.value):
            tok = token(text, node)
            raise ExprError(f"string {tok} is not allowed (strings are einsum subscripts or names such "
                            f"as 'fro': letters, digits, ',', '.', '-', '>')", column(text, node), tok)
    else:
        tok = token(text, node)
        if isinstance(node, ast.UnaryOp) or (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
            _check_number(text, node, "axes, shapes and counts")
            return
        raise ExprError(f"{tok!r} is not allowed here: axes, shapes, counts and keywords are written as "
                        f"literals (integers, tuples of integers, None, True, False)", column(text, node), tok)


def _check_numbers(text: str, node: ast.AST, depth: int, stack: list) -> None:
    if isinstance(node, (ast.Tuple, ast.List)):
        stack += [(e, depth + 1, "numbers") for e in reversed(node.elts)]
    else:
        _check_number(text, node, "the items of an array written as a list")


def _check_index(text: str, node: ast.AST, depth: int, stack: list) -> None:
    if isinstance(node, ast.Slice):
        for part in (node.lower, node.upper, node.step):
            if part is not None and not (isinstance(part, ast.Constant) and part.value is None):
                if not is_int_literal(part):
                    tok = token(text, part)
                    raise ExprError(f"slice bounds must be integers, got {tok!r}", column(text, part), tok)
                _check_number(text, part, "slice bounds")
    elif is_int_literal(node):
        _check_number(text, node, "indices")
    elif isinstance(node, ast.Constant) and (node.value is None or node.value is Ellipsis):
        pass
    elif isinstance(node, ast.List):
        stack.append((node, depth + 1, "numbers"))
    elif isinstance(node, (ast.Name, ast.Call, ast.Subscript, ast.Attribute, ast.BinOp, ast.UnaryOp)):
        stack.append((node, depth, "value"))  # an index array: an input, arange(...)...
    else:
        tok = token(text, node)
        raise ExprError(f"{tok!r} is not an index (indices are integers, slices, None, ..., lists of "
                        f"integers and integer arrays)", column(text, node), tok)


def _check_value(text: str, node: ast.AST, depth: int, stack: list, names: list[str]) -> None:
    tok = token(text, node)
    if isinstance(node, ast.BinOp):
        if type(node.op) not in BINOPS:
            sym = _SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise ExprError(f"operator {sym!r} is not allowed (allowed: + - * / ** @)",
                            operator_column(text, node, sym), sym)
        # a chain a + b + c + ... is flat to a reader: its left spine does not count as nesting
        stack += [(node.right, depth + 1, "value"), (node.left, depth, "value")]
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            sym = _SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise ExprError(f"operator {sym!r} is not allowed", column(text, node), sym)
        stack.append((node.operand, depth + 1, "value"))
    elif isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise ExprError(f"{tok} is not allowed: only numbers and input names are values",
                            column(text, node), tok)
        if type(node.value) is int and abs(node.value) > 10 ** 308:
            raise ExprError("number too large (beyond the float range)", column(text, node), tok[:20])
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS or node.id in _NAMESPACES:
            raise ExprError(f"{node.id!r} is a function, not a value: call it, e.g. {node.id}(x)"
                            if node.id in FUNCTIONS else f"{node.id!r} alone is not a value",
                            column(text, node), node.id)
        if node.id.startswith("__"):
            raise ExprError(f"name {node.id!r} is not allowed", column(text, node), node.id)
        if node.id not in names:
            names.append(node.id)
    elif isinstance(node, ast.Attribute):
        if node.attr not in _ATTRIBUTES:
            raise ExprError(f"attribute {'.' + node.attr!r} is not allowed (only .T, the transpose, and "
                            f".mT)", end_column(text, node) - len(node.attr) - 1, "." + node.attr)
        stack.append((node.value, depth + 1, "value"))
    elif isinstance(node, ast.Subscript):
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        stack += [(p, depth + 1, "index") for p in reversed(parts)]
        stack.append((node.value, depth + 1, "value"))
    elif isinstance(node, (ast.List, ast.Tuple)):
        stack.append((node, depth, "numbers"))  # an array constant such as [0, 2]
    elif isinstance(node, ast.Call):
        _check_call(text, node, depth, stack)
    else:
        raise _refuse(text, node)


def _check_call(text: str, node: ast.Call, depth: int, stack: list) -> None:
    tok = token(text, node)
    fname = _function_name(text, node.func)
    spec = FUNCTIONS[fname]
    for a in node.args:
        if isinstance(a, ast.Starred):
            raise ExprError("*arguments are not allowed", column(text, a), "*")
    n = len(node.args)
    least = 1 if spec.arrays is None or (spec.op is None and spec.arrays == 0) else spec.arrays
    if n < least or (spec.max_args is not None and n > spec.max_args):
        if spec.max_args == least:
            want = f"{least} argument{'s' if least != 1 else ''}"
        elif spec.max_args is None:
            want = f"at least {least} argument{'s' if least != 1 else ''}"
        else:
            want = f"{least} to {spec.max_args} arguments"
        raise ExprError(f"{fname}() takes {want}, got {n}", column(text, node), tok)
    for kw in node.keywords:
        if kw.arg is None or kw.arg not in spec.keywords:
            what = "**" if kw.arg is None else f"{kw.arg}="
            allowed = (f"it takes {' '.join(k + '=' for k in sorted(spec.keywords))}" if spec.keywords
                       else "it takes no keywords")
            raise ExprError(f"keyword {what} is not allowed in {fname}() ({allowed})",
                            max(1, column(text, kw.value) - len(what)) if kw.arg else column(text, kw), what)
        stack.append((kw.value, depth + 1, "literal"))
    args = list(node.args)
    if spec.arrays is None:  # variadic: [a, b, ...] (or a tuple), or einsum's 'ij,jk' then arrays
        first = args[0]
        if isinstance(first, (ast.List, ast.Tuple)):
            stack += [(e, depth + 2, "value") for e in reversed(first.elts)]
            stack += [(a, depth + 1, "literal") for a in reversed(args[1:])]
        else:
            stack.append((first, depth + 1, "literal"))
            stack += [(a, depth + 1, "value") for a in reversed(args[1:])]
        return
    stack += [(a, depth + 1, "literal") for a in reversed(args[spec.arrays:])]
    stack += [(a, depth + 1, "value") for a in reversed(args[:spec.arrays])]


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
        spec = FUNCTIONS.get(name)
        in_linalg = isinstance(func.value, ast.Attribute)
        if spec is not None and (spec.linalg_only if not in_linalg else not spec.in_linalg):
            tok = token(text, func)
            where = "np.linalg." + name if spec.linalg_only else "np." + name
            raise ExprError(f"{tok!r} is not a NumPy function; write {where} or {name}", column(text, func), tok)
    elif isinstance(func, ast.Attribute):
        raise ExprError(f"attribute {'.' + func.attr!r} is not allowed (only .T, the transpose, and .mT)",
                        end_column(text, func) - len(func.attr) - 1, "." + func.attr)
    else:
        tok = token(text, func)
        raise ExprError(f"{tok!r} cannot be called: only the functions of the language (graphviz-bp "
                        f"render --help lists them)", column(text, func), tok)
    if name not in FUNCTIONS:
        import difflib

        close = difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else " (graphviz-bp render --help lists the functions)"
        raise ExprError(f"{name!r} is not an allowed function{hint}", column(text, func), name)
    return name
