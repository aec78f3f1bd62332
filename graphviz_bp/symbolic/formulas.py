"""The symbolic pass: a formula for every edge's message and for each path's contribution to a
node's gradient, built by running the ops' VJP rules on expressions, simplified, and shown only
after it was evaluated and found equal to the numeric message, at the traced values and at fresh
inputs near them."""

from __future__ import annotations

import ast
import functools
import linecache
import tokenize
import weakref
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from ..backward import PATH_LIMIT, BackwardPass
from ..graph import DAG, Edge, Node
from ..ops._broadcast import unbroadcast
from .evaluate import evaluate
from .expr import OPAQUE, SUM_TO, Expr, SymbolicError, array_const, call, num, sym
from .printing import expression, latex, text
from .printing import latex as _latex
from .sharing import SHARED, share
from .simplify import _simplify, simplify

__all__ = ["Formula", "Replay", "SymbolicPass", "Term", "assigned_names"]

RTOL, ATOL = 1e-6, 1e-9
_COTANGENT = "ḡ:"  # the environment's key prefix for a cotangent (never a user's name)


class _Printed:
    """The spellings of a formula held in ``tree``."""

    tree: Expr

    @property
    def text(self) -> str:
        """In Unicode: ``(Wx) rᵀ``."""
        return text(self.tree)

    @property
    def latex(self) -> str:
        """In LaTeX: ``\\left(W x\\right) r^\\top``."""
        return latex(self.tree)

    def short(self, limit: int) -> str:
        """``text`` for a label of about ``limit`` characters: temporaries written out and the
        deepest parts written ``…`` (``W(… ⊙ …)xᵀ``), named intermediates kept."""
        return text(_inline(self.tree, roles=(SHARED,)), limit=limit)

    @property
    def expr(self) -> str:
        """In the expression language, named intermediates written out: ``outer(W @ x, ...)``.
        Constant arrays it cannot write out are named (``c1``, ``k1``): ``constants`` has them."""
        constants = getattr(self, "constants", None)
        tree = _inline(self.tree)
        size = _written_size(tree)
        if size > EXPR_NODES:
            raise ValueError(f"this formula, written out in the expression language, would repeat its shared "
                             f"parts to {size:.3g} operations (the language has no names for them): use "
                             f"its .evaluate(...) or .text instead")
        return expression(tree, constants if isinstance(constants, dict) else None)


EXPR_NODES = 100_000  # operations a formula written out in the expression language may have


def _written_size(e: Expr) -> int:
    """How many operations ``e`` has once every shared part is written out at each use (a tree
    shares its parts: an RNN's gradient uses one step's state on many paths). One pass, memoized."""
    sizes: dict[int, int] = {}
    stack = [e]
    while stack:
        x = stack[-1]
        if id(x) in sizes:
            stack.pop()
            continue
        todo = [a for a in x.args if id(a) not in sizes]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        sizes[id(x)] = 1 + sum(sizes[id(a)] for a in x.args)
    return sizes[id(e)]


@dataclass(frozen=True)
class Term(_Printed):
    """One path's contribution to a gradient: ``path`` (edges, the node first), the formula."""

    path: tuple[Edge, ...]
    tree: Expr
    verified: bool
    why: str | None = None


@dataclass(frozen=True)
class Formula(_Printed):
    """A symbolic message or gradient: ``text`` (Unicode), ``latex``, ``expr`` (the expression
    language, in the inputs and the graph's constants only), ``terms`` (one per path; their sum is
    the gradient), and whether it was verified numerically (``why`` says what failed; ``fresh``,
    whether also at fresh inputs: False when the graph could not be replayed near the traced ones)."""

    tree: Expr
    terms: tuple[Term, ...] = ()
    verified: bool = False
    why: str | None = None
    constants: Mapping[str, np.ndarray] = field(default_factory=dict)
    names: Mapping[str, Expr] = field(default_factory=dict)
    shared: tuple[Expr, ...] = ()
    fresh: bool = True

    @property
    def inlined(self) -> str:
        """``text`` with every named intermediate and temporary written out."""
        return text(_inline(self.tree))

    def where(self, latex: bool = False) -> dict[str, str]:
        """The named intermediates the text uses, then its temporaries (``t₁``: a part the formula
        would otherwise write out several times), each as its formula (``{"r": "WᵀWx − x"}``; in
        LaTeX with ``latex=True``)."""
        used: dict[str, str] = {}
        spell = _latex if latex else text
        for e in _walk(self.tree):
            if e.kind == "sym" and e.role == "named" and e.definition is not None:
                used[e.name] = spell(e.definition)
        for t in self.shared:
            used[spell(t)] = spell(t.definition)
        return used

    def evaluate(self, **inputs: Any) -> np.ndarray:
        """The formula's value at ``inputs`` (the graph's constants are supplied)."""
        return evaluate(_inline(self.tree), {**self.constants, **inputs})

    def __str__(self) -> str:
        return self.text


def _walk(e: Expr) -> list[Expr]:
    out, stack, seen = [], [e], set()
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        out.append(x)
        stack.extend(x.args)
        if x.definition is not None:
            stack.append(x.definition)
    return out


def _inline(e: Expr, roles: tuple[str, ...] = ("named", SHARED)) -> Expr:
    """``e`` with named intermediates and temporaries (or the symbols of ``roles``) replaced by
    their definitions, simplified (only when named intermediates are replaced: a temporary's
    definition is simplified already)."""
    memo: dict[int, Expr] = {}
    stack: list[tuple[Expr, bool]] = [(e, False)]
    while stack:
        x, ready = stack.pop()
        if id(x) in memo:
            continue
        if x.kind == "sym" and x.role in roles and x.definition is not None:
            if ready:
                memo[id(x)] = memo[id(x.definition)]
            else:
                stack.append((x, True))
                stack.append((x.definition, False))
            continue
        if x.kind != "call":
            memo[id(x)] = x
            continue
        if not ready:
            stack.append((x, True))
            stack.extend((a, False) for a in x.args)
            continue
        args = tuple(memo[id(a)] for a in x.args)
        memo[id(x)] = x if all(a is b for a, b in zip(args, x.args)) else \
            Expr("call", x.shape, op=x.op, args=args, params=x.params)
    return simplify(memo[id(e)]) if "named" in roles else memo[id(e)]


def assigned_names(dag: DAG) -> dict[int, str]:
    """Names from the user's source, by node index: the value of a line ``r = <expression>`` (the
    last node made on that line, when that line made nodes once) is called ``r``. The drawing writes
    them at every detail, the page and the formulas use them: found once per graph (do not change
    the dict returned)."""
    names = _NAMES.get(dag)
    if names is None:
        names = _NAMES[dag] = _assigned_names(dag)
    return names


_NAMES: weakref.WeakKeyDictionary[DAG, dict[int, str]] = weakref.WeakKeyDictionary()  # by graph


def _assigned_names(dag: DAG) -> dict[int, str]:
    taken = {n.name for n in dag.nodes if n.kind == "input" or getattr(n, "user_named", False)}
    taken.add("L")  # the output's name in ∂L/∂…: a value named L by the user's line is not the output
    last: dict[tuple[str, int], list[Node]] = {}
    calling: set[tuple[str, int]] = set()  # lines whose value a function they call made
    run: list[Node] = []
    nodes = [n for n in dag.nodes if n.kind == "op"]
    for n in nodes:  # consecutive nodes from one execution of a line
        if run and (n.source is None or run[-1].source is None
                    or (n.source.filename, n.source.lineno) != (run[-1].source.filename, run[-1].source.lineno)):
            src = run[-1].source
            if src is not None:
                last.setdefault((src.filename, src.lineno), []).append(run[-1])
                if _calls(n) - _calls(run[-1]):  # ``dX = helper(out - 1)``: helper's nodes follow the
                    calling.add((src.filename, src.lineno))  # argument's: dX is not ``out - 1``
            run = []
        run.append(n)
    if run and run[-1].source is not None:
        last.setdefault((run[-1].source.filename, run[-1].source.lineno), []).append(run[-1])
    names: dict[int, str] = {}
    used: dict[str, int] = {}  # each name, the node it names
    for (filename, lineno), made in last.items():
        if len(made) != 1 or getattr(made[0], "user_named", False) or (filename, lineno) in calling:
            continue  # a loop's line, a value the user named, or a line whose value a call made
        if made[0].op.pieces is not None and _piece(made[0].source.line) != made[0].params.get("piece", 0):
            continue  # ``r = np.linalg.eigh(S)``: r is every piece, not the last one made
        target = _target(made[0].source.line)
        if target and target not in taken and not _continues(filename, lineno):
            if target in used:  # ``h = W @ x`` then ``h = np.tanh(h)``: h is the value the later line gave it
                del names[used[target]]
            names[made[0].index] = target
            used[target] = made[0].index
    return names


def _calls(n: Node) -> set[int]:
    """The call scopes ``n`` was made in (by identity)."""
    return {id(s) for s in n.scope.chain if s.kind == "call"} if n.scope is not None else set()


def _finite_as_traced(value: np.ndarray, traced: np.ndarray) -> bool:
    """Whether ``value`` (a replay's) is finite, or not finite just where ``traced`` is, and alike
    there (a causal mask's −inf before a softmax, by design at any inputs)."""
    finite = np.isfinite(value)
    if finite.all():
        return True
    traced = np.asarray(traced)
    return traced.shape == value.shape and bool(np.array_equal(finite, np.isfinite(traced))) and \
        bool(np.array_equal(value[~finite], traced[~finite], equal_nan=True))


@functools.lru_cache(maxsize=4096)  # a line's text: parsed once, however many drawings read it
def _piece(line: str) -> int | None:
    """k for a line ``r = f(...)[k]`` (one piece of a call that returns several), else None."""
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return None
    value = tree.body[0].value if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign) else None
    if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Call) and \
            isinstance(value.slice, ast.Constant) and type(value.slice.value) is int:
        return value.slice.value
    return None


@functools.lru_cache(maxsize=4096)
def _target(line: str) -> str | None:
    """``r`` for a line ``r = <expression>`` whose value is the expression's array: not a list, tuple
    or comprehension of them, nor a lambda (nor ``a=W @ x,``, a call's keyword argument read alone);
    or ``r += <expression>`` and ``r[i] = <expression>`` (``r`` is then what the line made: ``p /=
    np.sum(p)``, the quotient; ``y[0] += s``, the array written); spelled as written (Python reads
    the identifier ``ﬁx`` as ``fix``)."""
    text = line.strip()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    if len(tree.body) != 1:
        return None
    statement = tree.body[0]
    name = None
    target = statement.targets[0] if isinstance(statement, ast.Assign) and len(statement.targets) == 1 else \
        statement.target if isinstance(statement, ast.AugAssign) else None
    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
        name = target.value
    elif isinstance(target, ast.Name) and not isinstance(statement.value, _NOT_ONE):  # (losses += [loss]:
        name = target  # the list, not its item)
    if name is None:
        return None
    return text.encode("utf-8")[name.col_offset:name.end_col_offset].decode("utf-8", "replace") or name.id


def _continues(filename: str, lineno: int) -> bool:
    """Whether line ``lineno`` of ``filename`` continues a statement begun on an earlier line: a
    call's last keyword argument alone on its line, ``a=W @ x`` (without its comma), reads as an
    assignment. False where the file cannot be read or tokenized."""
    lines = linecache.getlines(filename)
    known = _STARTS.get(filename)
    if known is None or known[0] is not lines:  # (linecache keeps one list while the file is unchanged)
        if len(_STARTS) >= 256:  # (files read by many traces: forgotten now and then, not kept alive)
            _STARTS.clear()
        known = _STARTS[filename] = (lines, _statement_starts(lines))
    return known[1] is not None and lineno not in known[1]


_STARTS: dict[str, tuple[list[str], frozenset[int] | None]] = {}  # by file: its lines, where its statements start


def _statement_starts(lines: list[str]) -> frozenset[int] | None:
    """The numbers of the lines on which a logical line (a statement) begins; None where the text
    cannot be tokenized (or is empty)."""
    if not lines:
        return None
    starts = set()
    begun = False
    skip = (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER)
    try:
        for tok in tokenize.generate_tokens(iter(lines).__next__):
            if tok.type == tokenize.NEWLINE:
                begun = False
            elif tok.type not in skip and not begun:
                starts.add(tok.start[0])
                begun = True
    except (tokenize.TokenError, SyntaxError, StopIteration):
        return None
    return frozenset(starts)


_NOT_ONE = (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
            ast.Lambda)  # a value a line's last node is not


class SymbolicPass:
    """Formulas over one traced graph and its backward pass (computed on demand, cached)."""

    def __init__(self, dag: DAG, bp: BackwardPass, seed: np.ndarray | None = None) -> None:
        self.dag = dag
        self.bp = bp
        self._forward: dict[int, Expr] = {}
        self._assigned = assigned_names(dag)
        self.constants: dict[str, np.ndarray] = {}
        self._const_names: dict[int, str] = {}
        self._in_use: set[str] | None = None  # names constants may not take (``_const_name``)
        out = dag.output
        self.seed_value = bp.adjoint(out)
        self.seed = num(1.0) if out.shape == () and float(np.asarray(self.seed_value)) == 1.0 \
            else sym("seed", out.shape, "seed")
        self.forward(out)  # every node's expression, so the constants are all named
        self._edges: dict[int, Formula | None] = {}
        self._nodes: dict[int, Formula] = {}
        self._suffixes: dict[tuple[int, int], tuple[int, Expr]] = {}
        self._eval_memo: dict[int, Any] = {}  # evaluations at the traced values, shared by all checks
        self._shown: tuple[dict[int, Expr], list[Expr]] = ({}, [])  # simplified forward parts, shared

    def shown_forward(self, node: Node) -> Expr:
        """``forward(node)`` simplified, as labels and derivations write it (``0 + 2Xᵀy`` as
        ``2Xᵀy``); the parts nodes share are simplified once."""
        memo, alive = self._shown
        return _simplify(self.forward(node), memo, alive)

    def assigned_name(self, node: Node) -> str | None:
        """The name of ``node`` taken from the user's ``r = ...`` line, if any."""
        return self._assigned.get(node.index)

    def assigned_names(self) -> list[str]:
        """The names taken from the user's ``r = ...`` lines."""
        return sorted(self._assigned.values())

    # forward expressions --------------------------------------------------------------------------
    def forward(self, node: Node) -> Expr:
        """The node's value as an expression of the inputs, constants and named intermediates."""
        got = self._forward.get(node.index)
        if got is not None:
            return got
        pending = [node]
        while pending:
            n = pending[-1]
            if n.index in self._forward:
                pending.pop()
                continue
            missing = [e.src for e in n.in_edges if e.src.index not in self._forward]
            if missing:
                pending.extend(missing)
                continue
            pending.pop()
            self._forward[n.index] = self._make(n)
        return self._forward[node.index]

    def _const_name(self, n: Node) -> str:
        """A constant's name in formulas: the user's variable that held it (``X``), unless an input,
        a named value or another constant takes that name; else ``c1``, ``c2``, …"""
        if self._in_use is None:  # the inputs' names and the named values' (found once)
            self._in_use = {*self.dag.inputs, *self._assigned.values(),
                           *(m.name for m in self.dag.nodes if getattr(m, "user_named", False))}
        var = n.params.get("var")
        if var and var not in self._in_use and \
                (var not in self.constants or np.array_equal(self.constants[var], n.value)):
            return var
        k = len(self._const_names) + 1
        while f"c{k}" in self.constants or f"c{k}" in self._in_use:
            k += 1
        return f"c{k}"

    def _make(self, n: Node) -> Expr:
        if n.kind == "input":
            return sym(n.name, n.shape, "input")
        if n.kind == "const":
            v = n.value
            if v.ndim == 0 or v.dtype.kind in "biu" or (v.size and np.all(v == v.flat[0])) or \
                    (v.ndim == 2 and v.shape[0] == v.shape[1] and np.array_equal(v, v[0, 0] * np.eye(len(v)))):
                return array_const(v)  # a number, a mask or indices, c·I: written as they are
            name = self._const_names.get(n.index)
            if name is None:
                name = self._const_names[n.index] = self._const_name(n)
                self.constants[name] = v
            return sym(name, n.shape, "const")
        expr = call(n.op, [self._forward[e.src.index] for e in n.in_edges], dict(n.params))
        label = n.name if getattr(n, "user_named", False) else self._assigned.get(n.index)
        if label:
            return sym(label, n.shape, "named", definition=simplify(expr))
        return expr

    # messages ----------------------------------------------------------------------------------------
    def _vjp(self, edge: Edge, g: Expr) -> Expr:
        """The symbolic message along ``edge`` when dst's cotangent is ``g``: the op's VJP rule run on
        expressions (an opaque ``vjp_op`` when the rule reads values), broadcasting undone."""
        dst, src = edge.dst, edge.src
        args = [self.forward(e.src) for e in dst.in_edges]
        ans = self.forward(dst)
        try:
            raw = dst.op.vjp(edge.argnum, g, ans, args, dict(dst.params))
            if not isinstance(raw, Expr):
                raise SymbolicError("the rule gave no expression")
        except (SymbolicError, TypeError, ValueError, IndexError, AttributeError, NotImplementedError):
            raw = call(OPAQUE, (g, ans, *args), {"op": dst.op, "argnum": edge.argnum, "count": len(args),
                                                 "params": dict(dst.params), "shape": _raw_shape(edge)})
        if raw.shape != src.shape:
            raw = call(SUM_TO, (raw,), {"shape": src.shape})
        return simplify(raw)

    def cotangent(self, node: Node) -> Expr:
        """``node``'s cotangent as the symbol ``ḡ`` of an edge's local formula (the seed at the
        output); evaluated as ``node``'s adjoint."""
        if node is self.dag.output:
            return self.seed
        return sym(_COTANGENT + node.name, node.shape, "cotangent")

    def edge_formula(self, edge: Edge) -> Formula | None:
        """The message on ``edge`` in terms of its consumer's cotangent (``ḡ xᵀ``, ``z̄ ⊙ σ(z)…``),
        checked against the numeric message; None when no message flows."""
        if edge.index in self._edges:
            return self._edges[edge.index]
        m = self.bp.message(edge)
        if m is None:
            self._edges[edge.index] = None
            return None
        tree = self._vjp(edge, self.cotangent(edge.dst))
        env = self._env()
        env[_COTANGENT + edge.dst.name] = self.bp.adjoint(edge.dst)
        ok, why = _close(tree, env, m.value)
        fresh = self._fresh_pass()
        at_fresh = fresh is not None and edge.index in fresh[2]
        if ok and at_fresh:
            env, adjoints, messages = fresh
            ok, why = _close(tree, {**env, _COTANGENT + edge.dst.name: adjoints[edge.dst.index]},
                             messages[edge.index], "at fresh inputs")
        tree, _, temporaries = share(tree, taken=self._taken())
        formula = self._edges[edge.index] = Formula(tree, verified=ok, why=why, constants=dict(self.constants),
                                                    shared=tuple(temporaries), fresh=at_fresh)
        return formula

    def _taken(self) -> set[str]:
        """The names a temporary must not take: inputs, constants, named intermediates."""
        return {e.name for e in self._forward.values() if e.kind == "sym"}

    def _replay(self) -> tuple[dict[str, Any], Replay, dict[int, Any]] | None:
        """The graph at fresh inputs near the traced ones (made once): its environment, the
        replay, and a memo for evaluations there."""
        if not hasattr(self, "_fresh_replay"):
            got = Replay(self).fresh()
            self._fresh_replay = None if got is None else (got[0], got[1], {})
        return self._fresh_replay

    def _fresh_pass(self) -> tuple[dict[str, Any], dict[int, np.ndarray], dict[int, np.ndarray]] | None:
        """The graph's backward pass at fresh inputs near the traced ones (computed once)."""
        if not hasattr(self, "_fresh"):
            got = self._replay()
            self._fresh = None if got is None else (got[0], *got[1].messages())
        return self._fresh

    def _env(self) -> dict[str, Any]:
        env: dict[str, Any] = dict(self.constants)
        env.update({n.name: n.value for n in self.dag.inputs.values()})
        if self.seed.kind == "sym":
            env["seed"] = self.seed_value
        return env

    # gradients, one term per path ----------------------------------------------------------------
    def term(self, path: tuple[Edge, ...]) -> Expr:
        """The path's contribution as a formula: the VJP rules composed from the output down. Paths
        that share their end share its formula (a trie of composed suffixes), so the terms of a deep
        chain cost linear, not quadratic, time."""
        g, at = self.seed, 0
        for edge in reversed(path):
            got = self._suffixes.get((at, edge.index))
            if got is None:
                g = self._vjp(edge, g)
                got = self._suffixes[(at, edge.index)] = (len(self._suffixes) + 1, g)
            at, g = got
        return g

    def formula(self, node: Node, limit: int = PATH_LIMIT) -> Formula:
        """∂L/∂node as one term per path from ``node`` to the output, each checked numerically at
        the traced values and at fresh inputs; their sum is the gradient. PathLimitError past
        ``limit`` paths (also when the formula was made before, with a larger limit)."""
        contributions = self.bp.contributions(node, limit)  # (cached: it refuses before any work)
        if node.index in self._nodes:
            return self._nodes[node.index]
        env = self._env()
        fresh = self._replay()
        terms = []
        for c in contributions:
            tree = self.term(c.path)
            ok, why = _close(tree, env, c.value, memo=self._eval_memo)
            if ok and fresh is not None:
                ok, why = _close(tree, fresh[0], fresh[1].path_value(c.path), "at fresh inputs", fresh[2])
            terms.append(Term(tuple(c.path), tree, ok, why))
        total = _sum([t.tree for t in terms]) if terms else array_const(np.zeros(node.shape))
        verified = all(t.verified for t in terms)
        why = next((t.why for t in terms if t.why), None)
        total, trees, temporaries = share(total, [t.tree for t in terms], self._taken())
        terms = [replace(t, tree=tree) for t, tree in zip(terms, trees)]
        formula = self._nodes[node.index] = Formula(total, tuple(terms), verified, why, dict(self.constants),
                                                    shared=tuple(temporaries), fresh=fresh is not None)
        return formula


from .. import ops  # noqa: E402

_ADD = ops.get("add")


def _sum(trees: list[Expr]) -> Expr:
    """The terms added in order, as a balanced tree (so thousands of terms print without deep
    recursion)."""
    while len(trees) > 1:
        trees = [call(_ADD, (trees[k], trees[k + 1])) if k + 1 < len(trees) else trees[k]
                 for k in range(0, len(trees), 2)]
    return trees[0]


def _raw_shape(edge: Edge) -> tuple[int, ...]:
    bp = edge.dst.dag.backward_pass if edge.dst.dag is not None else None
    m = None if bp is None else bp.message(edge)
    return tuple(m.raw.shape) if m is not None else tuple(edge.src.shape)


def _close(tree: Expr, env: Mapping[str, Any], expected: np.ndarray, where: str = "at the traced values",
           memo: dict[int, Any] | None = None) -> tuple[bool, str | None]:
    try:
        with np.errstate(all="ignore"):
            got = np.asarray(evaluate(tree, env, memo), dtype=float)
    except Exception as exc:  # noqa: BLE001 - a formula that cannot be evaluated is not shown
        return False, f"the formula could not be evaluated {where}: {type(exc).__name__}: {exc}"
    expected = np.asarray(expected, dtype=float)
    if got.shape == expected.shape and np.any(~np.isfinite(got) & np.isfinite(expected)):
        return False, f"the formula is not finite {where} where the message is (a division by zero?)"
    if got.shape != expected.shape:
        try:
            got = np.broadcast_to(got, expected.shape)
        except ValueError:
            return False, f"the formula has shape {got.shape}, the message {expected.shape} ({where})"
    finite = np.abs(expected[np.isfinite(expected)])  # an infinite entry must match exactly, not set the scale
    scale = max(1.0, float(np.max(finite)) if finite.size else 1.0)
    if np.allclose(got, expected, rtol=RTOL, atol=ATOL * scale, equal_nan=True):
        return True, None
    worst = float(np.max(np.abs(got - expected))) if expected.size else 0.0
    return False, f"the formula differs from the numeric message {where} (by up to {worst:.3g})"


class Replay:
    """The graph run again at inputs near the traced ones: values, and each path's numeric term."""

    def __init__(self, sp: SymbolicPass) -> None:
        self.sp = sp
        self.values: dict[int, np.ndarray] = {}

    def fresh(self, seed: int = 1234, scales: tuple[float, ...] = (0.05, 0.01)) \
            -> tuple[dict[str, Any], Replay] | None:
        """Inputs moved randomly by about ``scale`` of their size (the first scale at which every
        value stays finite, or not finite just where and as it was traced: a causal mask's −inf),
        the graph run on them: ``(environment, self)``, or None."""
        rng = np.random.default_rng(seed)
        sp = self.sp
        for scale in scales:
            env = dict(sp._env())
            values: dict[int, np.ndarray] = {}
            ok = True
            for n in sp.dag.nodes:
                if n.kind == "input":
                    v = n.value
                    if v.dtype.kind == "f":
                        spread = float(np.mean(np.abs(v))) if v.size else 1.0
                        v = v * (1 + scale * rng.standard_normal(v.shape)) + \
                            scale * (spread or 1.0) * rng.standard_normal(v.shape)
                        env[n.name] = v
                    values[n.index] = v
                elif n.kind == "const":
                    values[n.index] = n.value
                else:
                    try:
                        with np.errstate(all="ignore"):
                            out = n.op.forward(*[values[e.src.index] for e in n.in_edges], **n.params)
                    except Exception:  # noqa: BLE001 - data-dependent ops may refuse new inputs
                        ok = False
                        break
                    values[n.index] = np.asarray(out)
                    if values[n.index].dtype.kind == "f" and not _finite_as_traced(values[n.index], n.value):
                        ok = False
                        break
            if ok:
                self.values = values
                if sp.seed.kind == "sym":
                    env["seed"] = sp.seed_value
                for n in sp.dag.nodes:  # the named intermediates, as a claim may use them
                    e = sp._forward.get(n.index)
                    if e is not None and e.kind == "sym" and e.role == "named":
                        env[e.name] = values[n.index]
                return env, self
        return None

    def messages(self) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """The backward pass at these inputs: (adjoints by node index, messages by edge index)."""
        adjoints: dict[int, np.ndarray] = {}
        messages: dict[int, np.ndarray] = {}
        out = self.sp.dag.output
        for n in reversed(self.sp.dag.nodes):
            if not n.differentiable:
                continue
            if n is out:
                g = np.asarray(self.sp.seed_value)
            else:
                parts = [messages[e.index] for e in n.out_edges if e.index in messages]
                if not parts:
                    continue
                g = np.sum(parts, axis=0) if len(parts) > 1 else parts[0]
            adjoints[n.index] = g
            if n.kind != "op":
                continue
            args = [self.values[e.src.index] for e in n.in_edges]
            for e in n.in_edges:
                if not e.src.differentiable:
                    continue
                raw = n.op.vjp(e.argnum, g, self.values[n.index], args, n.params)
                if raw is not None:
                    messages[e.index] = unbroadcast(np.asarray(raw), e.src.shape)
        return adjoints, messages

    def path_value(self, path: tuple[Edge, ...]) -> np.ndarray:
        """The path's contribution at these inputs: the numeric VJPs composed from the output down
        (suffixes shared by several paths computed once)."""
        if not hasattr(self, "_suffixes"):
            self._suffixes: dict[tuple[int, int], tuple[int, np.ndarray]] = {}
        g, at = np.asarray(self.sp.seed_value), 0
        for edge in reversed(path):
            got = self._suffixes.get((at, edge.index))
            if got is None:
                dst = edge.dst
                args = [self.values[e.src.index] for e in dst.in_edges]
                raw = dst.op.vjp(edge.argnum, g, self.values[dst.index], args, dst.params)
                got = self._suffixes[(at, edge.index)] = (len(self._suffixes) + 1,
                                                          unbroadcast(np.asarray(raw), edge.src.shape))
            at, g = got
        return g
