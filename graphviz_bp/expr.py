"""The CLI's expression language: the NumPy subset written in papers, interpreted from its AST.

An expression is parsed with ``ast`` and interpreted by walking an allow-list of node types; it is
never passed to ``eval`` or ``exec``, and no attribute is looked up on anything except ``.T`` and
``.mT``. Allowed: input names, numbers, ``+ - * / ** @``, unary ``-`` and ``+``, ``.T``, ``.mT``,
parentheses, indexing (``x[0]``, ``x[1:3, ::-1]``, ``x[None]``, ``x[..., 0]``, ``x[[0, 2]]``,
``logp[arange(n), y]``, ``slogdet(K)[1]``) and calls to the functions in ``FUNCTIONS``, bare or as
``np.f`` / ``numpy.f`` (``np.linalg.f`` for the functions of ``np.linalg``). ``FUNCTIONS`` is made
from the op registry: every op by its NumPy name (``ops.Op.expr_name``), the activations of
``graphviz_bp.functions``, and the constructors ``eye ones zeros arange full``. Arguments other
than the arrays (axes, shapes, repeats, offsets, ``keepdims=``, einsum subscripts) are literals:
integers, numbers, tuples and lists of them, ``None``, ``True``/``False`` and short strings.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from . import functions, ops
from .errors import GraphvizBPError, MemoryLimitError, ShapeError
from .graph import ExpressionSource
from .limits import DEFAULT_MEMORY_LIMIT
from .tracer import Traced, at

__all__ = ["ExprError", "FUNCTIONS", "Expression", "function_list", "parse"]

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


@dataclass(frozen=True)
class _Function:
    """A function of the language and how its arguments are read."""

    fn: Callable[..., Any]
    #: Leading positional arguments that are arrays (values); the rest are literals. None: the op
    #: is variadic (its first argument is a list of arrays, or einsum's subscripts then arrays).
    arrays: int | None
    #: Most positional arguments (None: no limit).
    max_args: int | None
    #: Keywords it takes (each a literal).
    keywords: frozenset[str] = frozenset()
    #: The op it records (None for a constructor, which makes a constant).
    op: ops.Op | None = None
    #: Spelled ``np.linalg.f`` only (``np.f`` is refused).
    linalg_only: bool = False
    #: ``np.linalg.f`` is this function.
    in_linalg: bool = False


#: Keywords the language passes on (all take literals); others (``out=``, ``dtype=``, ``where=``...)
#: are refused when parsed.
_KEYWORDS = frozenset(["axis", "keepdims", "ddof", "offset", "axis1", "axis2", "k", "axes", "shape",
                       "repeats", "ord", "upper", "mode", "M", "stop", "step", "fill_value"])


def _positional(fn: Callable[..., Any]) -> tuple[int | None, frozenset[str]]:
    """(most positional arguments or None, keyword names) of ``fn``'s signature."""
    if isinstance(fn, np.ufunc):
        return fn.nin, frozenset()
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: positional only
        return None, frozenset()
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        most = None
    else:
        most = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    names = frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return most, names & _KEYWORDS


def _spellings() -> dict[int, list[tuple[str, bool]]]:
    """Every name under which an object lives in ``np`` or ``np.linalg``: id -> [(name, in linalg)]."""
    out: dict[int, list[tuple[str, bool]]] = {}
    for linalg, space in ((False, np), (True, np.linalg)):
        for key, obj in sorted(vars(space).items()):
            if not key.startswith("_") and callable(obj):
                out.setdefault(id(obj), []).append((key, linalg))
    return out


def _constructor(name: str, fn: Callable[..., Any], count: Callable[..., int]) -> Callable[..., Any]:
    def make(*args: Any, _budget: int | None = None, **kwargs: Any) -> np.ndarray:
        for v in list(args) + list(kwargs.values()):
            for part in (v if isinstance(v, (tuple, list)) else (v,)):
                if not isinstance(part, (int, float)) or isinstance(part, bool):
                    raise ExprError(f"{name}() takes integers and tuples of integers, got {part!r}")
        try:
            n = count(*args, **kwargs)
        except TypeError as exc:
            raise ExprError(f"{name}(): {exc}") from None
        if n > MAX_CONSTANT_ELEMENTS:
            raise ExprError(f"{name}() would make {n:,} elements, more than {MAX_CONSTANT_ELEMENTS:,}")
        if _budget is not None and 8 * n > _budget:
            raise MemoryLimitError(f"{name}() of {n:,} elements", 8 * n, _budget)
        return fn(*args, **kwargs)
    make.__name__ = name
    return make


def _shape_size(shape: Any, *rest: Any, **kw: Any) -> int:
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(not isinstance(d, int) or d < 0 for d in dims):
        raise TypeError(f"a shape is non-negative integers, got {shape!r}")
    return math.prod(dims)


def _eye_size(N: int, M: int | None = None, k: int = 0) -> int:
    return max(N, 0) * max(N if M is None else M, 0)


def _arange_size(start: float, stop: float | None = None, step: float = 1) -> int:
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise TypeError("step must not be zero")
    return max(0, math.ceil((stop - start) / step))


_CONSTRUCTORS = {
    "eye": (_constructor("eye", np.eye, _eye_size), 3, frozenset(["M", "k"])),
    "ones": (_constructor("ones", np.ones, _shape_size), 1, frozenset(["shape"])),
    "zeros": (_constructor("zeros", np.zeros, _shape_size), 1, frozenset(["shape"])),
    "arange": (_constructor("arange", np.arange, _arange_size), 3, frozenset(["stop", "step"])),
    "full": (_constructor("full", np.full, _shape_size), 2, frozenset(["shape", "fill_value"])),
}


def _build_functions() -> dict[str, _Function]:
    """The language's functions, generated from the op registry (plus the constructors)."""
    names = _spellings()
    table: dict[str, _Function] = {}
    for op in ops.all_ops():
        if op.expr_name is None:
            continue
        if op.numpy:
            spelled = [(op.expr_name, op.numpy[0])]
            spelled += [(key, fn) for fn in op.numpy for key, _ in names.get(id(fn), [])]
        else:
            fn = getattr(functions, op.name, None)
            if fn is None:
                continue
            spelled = [(op.expr_name, fn)]
        for key, fn in spelled:
            if key in table:
                continue
            where = {linalg for k, linalg in names.get(id(fn), []) if k == key}
            most, keywords = _positional(fn)
            table[key] = _Function(fn, op.arity, most, keywords, op, linalg_only=where == {True},
                                   in_linalg=True in where)
    for key, (fn, most, keywords) in _CONSTRUCTORS.items():
        table[key] = _Function(fn, 0, most, keywords)
    return dict(sorted(table.items()))


FUNCTIONS: dict[str, _Function] = _build_functions()


def function_list(width: int = 96) -> str:
    """The functions of the language, sorted, wrapped to ``width`` columns (for help texts)."""
    import textwrap

    return "\n".join(textwrap.wrap(" ".join(FUNCTIONS), width))


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a ** b,
    ast.MatMult: lambda a, b: a @ b,
}
_BINOP_OPS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide",
              ast.Pow: "power", ast.MatMult: "matmul"}
_SYMBOLS = {ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
            ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~"}
_NAMESPACES = ("np", "numpy")
_ATTRIBUTES = {"T": "the transpose", "mT": "the matrix transpose"}
_STRING = re.compile(r"^[A-Za-z0-9 ,.\->_]{0,100}$")  # einsum subscripts, ord='fro', mode='wrap'


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


_KINDS = {ast.Lambda: "lambda", ast.ListComp: "comprehension", ast.GeneratorExp: "generator",
          ast.Subscript: "indexing", ast.Compare: "comparison", ast.BoolOp: "and/or",
          ast.IfExp: "if-else", ast.NamedExpr: ":=", ast.JoinedStr: "f-string",
          ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set",
          ast.SetComp: "comprehension", ast.DictComp: "comprehension", ast.Await: "await",
          ast.Starred: "*", ast.Slice: "slice"}


def _refuse(text: str, node: ast.AST, what: str = "") -> ExprError:
    tok = _token(text, node)
    kind = _KINDS.get(type(node), type(node).__name__)
    return ExprError(f"{kind} is not allowed{what}: {tok!r}", _col(text, node), tok)


def _check(text: str, tree: ast.Expression) -> tuple[str, ...]:
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
        if count > MAX_NODES:
            raise ExprError(f"expression has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise ExprError(f"expression is nested more than {MAX_DEPTH} levels deep", _col(text, node))
        if role == "literal":
            _check_literal(text, node, depth, stack)
        elif role == "numbers":
            _check_numbers(text, node, depth, stack)
        elif role == "index":
            _check_index(text, node, depth, stack)
        else:
            _check_value(text, node, depth, stack, names)
    return tuple(names)


def _int_literal(node: ast.AST) -> bool:
    inner = node.operand if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) else node
    return isinstance(inner, ast.Constant) and type(inner.value) is int


def _check_number(text: str, node: ast.AST, what: str) -> None:
    """``node`` is a number literal, possibly signed; integers within ``MAX_INT``."""
    inner = node.operand if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) else node
    if not (isinstance(inner, ast.Constant) and type(inner.value) in (int, float)):
        tok = _token(text, node)
        raise ExprError(f"{what} must be numbers, got {tok!r}", _col(text, node), tok)
    if type(inner.value) is int and abs(inner.value) >= MAX_INT:
        raise ExprError("integer too large", _col(text, node), _token(text, node)[:20])


def _check_literal(text: str, node: ast.AST, depth: int, stack: list) -> None:
    if isinstance(node, (ast.Tuple, ast.List)):
        stack += [(e, depth + 1, "literal") for e in reversed(node.elts)]
    elif isinstance(node, ast.Constant) and (node.value is None or type(node.value) is bool):
        pass
    elif isinstance(node, ast.Constant) and type(node.value) is str:
        if not _STRING.match(node.value):
            tok = _token(text, node)
            raise ExprError(f"string {tok} is not allowed (strings are einsum subscripts or names such "
                            f"as 'fro': letters, digits, ',', '.', '-', '>')", _col(text, node), tok)
    else:
        tok = _token(text, node)
        if isinstance(node, ast.UnaryOp) or (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
            _check_number(text, node, "axes, shapes and counts")
            return
        raise ExprError(f"{tok!r} is not allowed here: axes, shapes, counts and keywords are written as "
                        f"literals (integers, tuples of integers, None, True, False)", _col(text, node), tok)


def _check_numbers(text: str, node: ast.AST, depth: int, stack: list) -> None:
    if isinstance(node, (ast.Tuple, ast.List)):
        stack += [(e, depth + 1, "numbers") for e in reversed(node.elts)]
    else:
        _check_number(text, node, "the items of an array written as a list")


def _check_index(text: str, node: ast.AST, depth: int, stack: list) -> None:
    if isinstance(node, ast.Slice):
        for part in (node.lower, node.upper, node.step):
            if part is not None and not (isinstance(part, ast.Constant) and part.value is None):
                if not _int_literal(part):
                    tok = _token(text, part)
                    raise ExprError(f"slice bounds must be integers, got {tok!r}", _col(text, part), tok)
                _check_number(text, part, "slice bounds")
    elif _int_literal(node):
        _check_number(text, node, "indices")
    elif isinstance(node, ast.Constant) and (node.value is None or node.value is Ellipsis):
        pass
    elif isinstance(node, ast.List):
        stack.append((node, depth + 1, "numbers"))
    elif isinstance(node, (ast.Name, ast.Call, ast.Subscript, ast.Attribute, ast.BinOp, ast.UnaryOp)):
        stack.append((node, depth, "value"))  # an index array: an input, arange(...)...
    else:
        tok = _token(text, node)
        raise ExprError(f"{tok!r} is not an index (indices are integers, slices, None, ..., lists of "
                        f"integers and integer arrays)", _col(text, node), tok)


def _check_value(text: str, node: ast.AST, depth: int, stack: list, names: list[str]) -> None:
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
        if node.attr not in _ATTRIBUTES:
            raise ExprError(f"attribute {'.' + node.attr!r} is not allowed (only .T, the transpose, and "
                            f".mT)", _end_col(text, node) - len(node.attr) - 1, "." + node.attr)
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
    tok = _token(text, node)
    fname = _function_name(text, node.func)
    spec = FUNCTIONS[fname]
    for a in node.args:
        if isinstance(a, ast.Starred):
            raise ExprError("*arguments are not allowed", _col(text, a), "*")
    n = len(node.args)
    least = 1 if spec.arrays is None or spec.op is None else spec.arrays
    if n < least or (spec.max_args is not None and n > spec.max_args):
        if spec.max_args == least:
            want = f"{least} argument{'s' if least != 1 else ''}"
        elif spec.max_args is None:
            want = f"at least {least} argument{'s' if least != 1 else ''}"
        else:
            want = f"{least} to {spec.max_args} arguments"
        raise ExprError(f"{fname}() takes {want}, got {n}", _col(text, node), tok)
    for kw in node.keywords:
        if kw.arg is None or kw.arg not in spec.keywords:
            what = "**" if kw.arg is None else f"{kw.arg}="
            allowed = (f"it takes {' '.join(k + '=' for k in sorted(spec.keywords))}" if spec.keywords
                       else "it takes no keywords")
            raise ExprError(f"keyword {what} is not allowed in {fname}() ({allowed})",
                            max(1, _col(text, kw.value) - len(what)) if kw.arg else _col(text, kw), what)
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
            tok = _token(text, func)
            where = "np.linalg." + name if spec.linalg_only else "np." + name
            raise ExprError(f"{tok!r} is not a NumPy function; write {where} or {name}", _col(text, func), tok)
    elif isinstance(func, ast.Attribute):
        raise ExprError(f"attribute {'.' + func.attr!r} is not allowed (only .T, the transpose, and .mT)",
                        _end_col(text, func) - len(func.attr) - 1, "." + func.attr)
    else:
        tok = _token(text, func)
        raise ExprError(f"{tok!r} cannot be called: only the functions of the language (graphviz-bp "
                        f"render --help lists them)", _col(text, func), tok)
    if name not in FUNCTIONS:
        import difflib

        close = difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else " (graphviz-bp render --help lists the functions)"
        raise ExprError(f"{name!r} is not an allowed function{hint}", _col(text, func), name)
    return name


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
        return ExpressionSource(_col(self.text, node), _token(self.text, node))

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
        if isinstance(v, tuple):
            raise ExprError(f"{_token(self.text, node)!r} is a tuple; index it, e.g. slogdet(K)[1]",
                            _col(self.text, node), _token(self.text, node))
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
                    acc = _BINOPS[type(b.op)](acc, right)
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
        if _int_literal(node) or isinstance(node, ast.Constant):
            return _literal(node)
        if isinstance(node, ast.List):
            return _numbers(node)
        return self.value(node)

    def _subscript(self, node: ast.Subscript) -> Any:
        base = self.run(node.value)
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        key = tuple(self._index_part(p) for p in parts)
        if isinstance(base, tuple):  # slogdet(K)[1]
            if len(key) != 1 or type(key[0]) not in (int, slice):
                raise ExprError(f"{_token(self.text, node.value)!r} is a tuple: index it with one integer",
                                _col(self.text, node.slice), _token(self.text, node.slice))
            try:
                return base[key[0]]
            except IndexError:
                raise ExprError(f"{_token(self.text, node.value)!r} has {len(base)} items; index "
                                f"{key[0]} is out of range", _col(self.text, node.slice),
                                _token(self.text, node.slice)) from None
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
        if spec.op is None:  # a constructor: literals only, size checked before it is made
            args = [_literal(a) for a in node.args]
            with at(self._source(node)):
                return spec.fn(*args, _budget=self._budget(), **kwargs)
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
            bound_operands, params = op.bind(*args, **kwargs) if op.bind is not None else (operands, kwargs)
            self._admit(op, bound_operands, params, node)
        with at(self._source(node)):
            return spec.fn(*args, **kwargs)
