"""Keeping big expressions readable: a formula whose parts repeat (an unrolled recurrence writes the
earlier steps again in every later one) names each repeated part once as a temporary (``t₁``,
``t₂``: printed once, under "where"), as matrixcalculus.org does; a label that must stay short
writes its deepest parts as ``…``. Both work on the expression as a graph (each distinct part once),
so their cost is linear in its distinct parts, however long its printed form would be."""

from __future__ import annotations

from typing import Iterable, Sequence

from .expr import Expr, sym

__all__ = ["SHARED", "elide", "printed_size", "share"]

SHARED = "shared"  # the role of a temporary made by ``share``
ELIDED = "elided"  # the role of ``…`` in an elided expression
MIN_SHARED = 20  # characters: a repeated part shorter than this is written out at each use
CAP = 10**12  # sizes are capped (an unrolled recurrence's printed size grows exponentially)


class _Key:
    """An expression as a dictionary key, compared by structure (``==`` on an ``Expr`` builds a
    comparison)."""

    __slots__ = ("e",)

    def __init__(self, e: Expr) -> None:
        self.e = e

    def __hash__(self) -> int:
        return hash(self.e)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.e.same(other.e)


def _own(e: Expr) -> int:
    """The characters a call adds to its operands' when printed (an estimate)."""
    if len(e.args) >= 2:
        return 3
    name = getattr(e.op, "name", "")
    return 1 if name in ("transpose", "negative", "power") else len(name) + 2


def _leaf(e: Expr) -> int:
    if e.kind == "sym":
        return max(1, len(e.name))
    return 1 if e.kind == "num" else 2


def _order(roots: Iterable[Expr]) -> list[Expr]:
    """The distinct parts of ``roots`` (by identity; not inside named values' definitions),
    operands before the calls that use them."""
    out: list[Expr] = []
    seen: set[int] = set()
    for root in roots:
        stack: list[tuple[Expr, bool]] = [(root, False)]
        while stack:
            e, ready = stack.pop()
            if ready:
                out.append(e)
                continue
            if id(e) in seen:
                continue
            seen.add(id(e))
            stack.append((e, True))
            if e.kind == "call":
                stack.extend((a, False) for a in reversed(e.args) if id(a) not in seen)
    return out


def _sizes(order: Sequence[Expr]) -> dict[int, int]:
    size: dict[int, int] = {}
    for e in order:
        if e.kind == "call":
            size[id(e)] = min(CAP, _own(e) + sum(size[id(a)] for a in e.args))
        else:
            size[id(e)] = _leaf(e)
    return size


def printed_size(e: Expr) -> int:
    """About how many characters ``e`` prints to, written out in full (capped at 10¹²)."""
    return _sizes(_order([e]))[id(e)]


SLACK = 8  # an expression estimated to print to at most this many times the budget is kept whole


def elide(e: Expr, budget: int) -> Expr:
    """``e`` with its deepest parts written ``…`` so that it prints to about ``budget`` characters
    (the top of the formula, which says what the message is made of), when written out in full it
    would be far longer; else ``e`` (a caller cuts the text at ``budget``)."""
    size = _sizes(_order([e]))
    if size[id(e)] <= SLACK * budget:
        return e
    budget *= 2

    def cut(x: Expr, room: int) -> Expr:
        if size[id(x)] <= room or x.kind != "call":
            return x
        if room < 4:
            return sym("…", x.shape, ELIDED)
        room -= _own(x)
        small = sum(size[id(a)] for a in x.args if size[id(a)] <= room // len(x.args))
        big = [a for a in x.args if size[id(a)] > room // len(x.args)]
        each = max(1, (room - small) // max(1, len(big)))
        args = tuple(cut(a, each) for a in x.args)
        return Expr("call", x.shape, op=x.op, args=args, params=x.params)

    return cut(e, max(budget, 4))


def _repeated(first: dict[_Key, Expr], parents: dict[_Key, list[_Key]], root: Expr,
              chosen: set[_Key]) -> tuple[set[_Key], dict[_Key, int]]:
    """The chosen parts printed at least twice once the chosen parts printed twice are named (each
    printed once, in its definition), and how often each part is used."""
    printed: dict[_Key, int] = {}
    uses: dict[_Key, int] = {}
    named: set[_Key] = set()
    for k in reversed(list(first)):  # users before their parts
        refs = 1 if first[k] is root or not parents[k] else min(CAP, sum(printed[p] for p in parents[k]))
        uses[k] = refs
        if k in chosen and refs >= 2:
            named.add(k)
            printed[k] = 1
        else:
            printed[k] = refs
    return named, uses


def _not_worth(chars: int, uses: int, min_chars: int) -> bool:
    """A temporary for a part of ``chars`` characters used ``uses`` times makes the formula harder to
    read: the part is a name and a symbol or two (``t₉ᵀ``), or short and seldom used."""
    return chars < 8 or (chars < min_chars and chars * uses < 2 * min_chars)


def _local_size(e: Expr, key_of: dict[int, _Key], named: set[_Key]) -> int:
    """The characters ``e`` prints to with the named parts written as temporaries."""
    total, stack = 0, [(e, True)]
    while stack and total < CAP:
        x, top = stack.pop()
        if not top and key_of[id(x)] in named:
            total += 2
        elif x.kind == "call":
            total += _own(x)
            stack.extend((a, False) for a in x.args)
        else:
            total += _leaf(x)
    return total


def share(root: Expr, also: Sequence[Expr] = (), taken: Iterable[str] = (),
          min_chars: int = MIN_SHARED) -> tuple[Expr, list[Expr], list[Expr]]:
    """``root`` with each part that it would print at least twice, and that prints to at least
    ``min_chars`` characters, replaced by a temporary: a symbol (role ``"shared"``, named ``t1``,
    ``t2``… avoiding ``taken``) whose ``definition`` is the part. ``also`` (parts of ``root``, such
    as its terms) are rewritten with the same temporaries. Returns (root, also, temporaries), the
    temporaries in the order they are defined (each uses only earlier ones)."""
    order = _order([root])
    if not order:
        return root, list(also), []
    size = _sizes(order)
    # how often each distinct part (by structure) is printed, the root printed once
    key_of: dict[int, _Key] = {id(e): _Key(e) for e in order}
    first: dict[_Key, Expr] = {}
    for e in order:
        first.setdefault(key_of[id(e)], e)
    parents: dict[_Key, list[_Key]] = {k: [] for k in first}
    for k, e in first.items():
        if e.kind == "call":
            for a in e.args:
                parents[key_of[id(a)]].append(k)
    chosen = {k for k, e in first.items() if e.kind == "call" and size[id(e)] >= min_chars}
    named: set[_Key] = set()
    for _ in range(4):  # a part written with its own temporaries may turn out too short to name
        named, printed = _repeated(first, parents, root, chosen)
        short = {k for k in named if _not_worth(_local_size(first[k], key_of, named), printed[k], min_chars)}
        if not short:
            break
        chosen -= short
    if not named:
        return root, list(also), []
    used = set(taken) | {e.name for e in order if e.kind == "sym"}
    prefix = next(p for p in ("t", "u", "s", "q", "tmp") if not any(
        n.startswith(p) and n[len(p):].isdigit() for n in used))
    temporaries: list[Expr] = []
    rewritten: dict[_Key, Expr] = {}
    for k, e in first.items():  # parts before their users: a temporary's definition uses earlier ones
        if e.kind == "call":
            args = tuple(rewritten[key_of[id(a)]] if id(a) in key_of else a for a in e.args)
            e = e if all(a is b for a, b in zip(args, e.args)) else \
                Expr("call", e.shape, op=e.op, args=args, params=e.params)
            e.simple = first[k].simple
        if k in named:
            t = sym(f"{prefix}{len(temporaries) + 1}", e.shape, SHARED, definition=e)
            temporaries.append(t)
            e = t
        rewritten[k] = e

    def apply(x: Expr) -> Expr:
        got = rewritten.get(_Key(x))
        if got is not None:
            return got
        sub = _order([x])
        mine: dict[int, Expr] = {}
        for y in sub:
            hit = rewritten.get(_Key(y))
            if hit is not None:
                mine[id(y)] = hit
            elif y.kind == "call":
                args = tuple(mine[id(a)] for a in y.args)
                mine[id(y)] = y if all(a is b for a, b in zip(args, y.args)) else \
                    Expr("call", y.shape, op=y.op, args=args, params=y.params)
            else:
                mine[id(y)] = y
        return mine[id(x)]

    return rewritten[key_of[id(root)]], [apply(x) for x in also], temporaries
