"""Texts of a folded drawing: the title of a group's frame, a repeat's "× N" and its strip of
message norms (one bar per repetition, on a log scale: vanishing and exploding gradients show as a
slope), and a collapsed group's box."""

from __future__ import annotations

import math

from ..graph import Node
from .fold import Box, Fold
from .structure import Cycle, Group

__all__ = ["STRIP_WIDTH", "box_lines", "clipped", "group_title", "strip"]

TITLE_LENGTH = 60  # characters of the code a frame's title quotes (a generator's whole return line)
STRIP_WIDTH = 32  # bars at most: more repetitions share a bar (the largest norm among them)
_BARS = "▁▂▃▄▅▆▇█"


def strip(norms: list[float | None], width: int = STRIP_WIDTH) -> str:
    """One bar per repetition (per run of repetitions, beyond ``width``), its height the log of the
    norm between the smallest and the largest, over a decade at least, the largest at the top: norms
    a few percent apart (or equal but for rounding) stand level, not from the bottom to the top, and
    a ramp means a factor of 10 or more; a blank where no message reached; ``0`` where it was 0.

    >>> strip([1.0, 10.0, 100.0]), strip([1e-29, 1.0, 1e-20])
    ('▁▅█', '▁█▃')
    >>> strip([2.0, 2.0, None]), strip([1.78, 1.75, 1.73]), strip([3.0882290336106846, 3.088229033610685])
    ('██ ', '███', '██')
    >>> strip([1.0, 3.0])
    '▅█'
    """
    norms = _bars(norms, width)
    positive = [v for v in norms if v is not None and v > 0 and math.isfinite(v)]
    if not positive:
        return "".join(" " if v is None else "0" if v == 0 else "!" for v in norms)
    hi = math.log10(max(positive))
    lo = min(math.log10(min(positive)), hi - 1.0)  # a decade at least
    out = []
    for v in norms:
        if v is None:
            out.append(" ")
        elif v == 0:
            out.append("0")
        elif not math.isfinite(v):
            out.append("!")
        else:
            out.append(_BARS[round((math.log10(v) - lo) / (hi - lo) * (len(_BARS) - 1))])
    return "".join(out)


def _bars(norms: list[float | None], width: int) -> list[float | None]:
    """The norm each bar of a strip stands for: ``norms`` as they are, or past ``width`` of them the
    largest of each run, or a run's norm that is not finite (nan or ∞: shown, not lost in the max)."""
    if len(norms) <= width:
        return norms
    per = len(norms) / width
    out: list[float | None] = []
    for k in range(width):
        run = [v for v in norms[int(k * per):max(int((k + 1) * per), int(k * per) + 1)] if v is not None]
        odd = [v for v in run if not math.isfinite(v)]
        out.append(odd[0] if odd else max(run, default=None))
    return out


def strip_key(norms: list[float | None], width: int = STRIP_WIDTH) -> str:
    """What the marks of ``strip(norms)`` other than bars mean, when it has any: ``; 0: a message
    of 0``, ``; !: not finite``; and ``; a bar: the largest of k`` where one bar stands for several.

    >>> strip_key([1.0, 0.0, 2.0]), strip_key([1.0, 2.0]), strip_key([1.0] * 64, 32), strip_key([1.0] * 37, 32)
    ('; 0: a message of 0', '', '; a bar: the largest of 2', '; a bar: the largest of up to 2')
    >>> strip_key([1.0, 0.0] * 32, 32), strip([math.inf] * 3), strip_key([math.inf] * 3)
    ('; a bar: the largest of 2', '!!!', '; !: not finite')
    """
    keys = []
    bars = _bars(norms, width)  # (the marks strip draws: a 0 in a run of several is not one)
    if any(v == 0 for v in bars):
        keys.append("0: a message of 0")
    if any(v is not None and not math.isfinite(v) for v in bars):
        keys.append("!: not finite")
    if len(norms) > width:
        most = math.ceil(len(norms) / width)
        keys.append(f"a bar: the largest of {'' if len(norms) % width == 0 else 'up to '}{most}")
    return "".join("; " + k for k in keys)


def clipped(text: str) -> str:
    """``text`` cut to ``TITLE_LENGTH`` characters, with … (a frame as wide as the line it quotes).

    >>> clipped("for t in range(T):"), len(clipped("x" * 100))
    ('for t in range(T):', 60)
    """
    return text if len(text) <= TITLE_LENGTH else text[:TITLE_LENGTH - 1] + "…"


def group_title(g: Group, fold: Fold | None, stands: list[int] | None = None, outer: int = 1) -> list[str]:
    """The lines of a group's frame: what it is (a call, a block, a loop's iteration) and, for a
    repeat drawn once, "× N" and its strip of message norms. ``stands``: the iterations a loop's
    iteration is drawn for (in a repeat of several iterations at a time, drawn once: one in each).
    ``outer``: the repetitions of the repeats drawn once around this one (a layer's heads, in each of
    3 layers: "× 2 in each of 3"; its strip is the first's)."""
    assert g.scope is not None
    scope = g.scope
    label = clipped(scope.label)
    if fold is None:
        if scope.kind == "iteration" and stands is not None and len(stands) > 1:
            written = ", ".join(map(str, stands)) if len(stands) <= 3 else \
                f"{stands[0]}, {stands[1]}, …, {stands[-1]}"
            return [f"{label} — iterations {written}"]
        if scope.kind == "iteration":
            return [f"{label} — iteration {scope.index}"]
        if scope.kind == "cycle":
            return [f"{label} — {clipped(scope.title)}"]
        if scope.kind == "loop":
            return [label]
        return [clipped(scope.title)]
    n = fold.count
    first, last = fold.repeat.first.scope, fold.repeat.last.scope
    assert first is not None and last is not None
    if scope.kind == "iteration":
        what = f"{label} — iterations {first.index}…{last.index}"
    elif isinstance(first, Cycle) and isinstance(last, Cycle):
        what = f"{label} — iterations {first.index}…{last.last}, {first.period} at a time"
    else:
        what = f"{clipped(scope.title)} — {n} calls" if scope.kind == "call" else f"{clipped(scope.title)} and {n - 1} more like it"
    each = f" in each of {outer} ({n * outer} in all)" if outer > 1 else ""
    lines = [f"{what}   × {n}{each}, drawn once"]
    norms = fold.repeat.norms()
    known = [v for v in norms if v is not None]
    if known:
        lines.append(strip(norms))
        lines.append(f"‖message in‖ per repetition{', in the first of ' + str(outer) if outer > 1 else ''}, log "
                     f"scale: {_short(norms[0])} (first) → {_short(norms[-1])} (last){strip_key(norms)}")
    return lines


def box_lines(box: Box, fold: Fold | None = None) -> list[str]:
    """A collapsed group's box: its title (a repeat drawn once: which repetitions, "× N" and the
    strip of their message norms), its ops, and the groups inside it."""
    ops = [n for n in box.nodes if n.kind == "op"]
    names: list[str] = []
    for n in ops:
        assert n.op is not None
        if n.op.name not in names:
            names.append(n.op.name)
    shown = ", ".join(names[:4]) + (", …" if len(names) > 4 else "")
    inner = sum(1 for g in box.group.walk()) - 1
    what = f"{len(ops)} op{'s' if len(ops) != 1 else ''}: {shown}"
    title = group_title(box.group, fold) if box.group.scope is not None else [box.group.title]
    lines = [title[0], what]
    loop = box.group.scope if box.group.scope is not None and box.group.scope.kind == "loop" else None
    # a loop: how many of its passes made ops (a GPT's "for block in blocks:" box, × 12); folded ones
    # are in cycles of a few passes each, which are no groups of the code's
    passes = sum(1 for g in box.group.walk() if g.scope is not None and g.scope.kind == "iteration"
                 and g.scope.parent is loop) if loop is not None else 0
    if passes:
        more = inner - passes - sum(1 for g in box.group.walk() if g.scope is not None and g.scope.kind == "cycle")
        lines.append(f"{passes} iteration{'s' if passes != 1 else ''}"
                     + (f", {more} group{'s' if more != 1 else ''} in them" if more else ""))
    elif inner:
        lines.append(f"{inner} group{'s' if inner != 1 else ''} inside")
    if len(title) < 3 or fold is None:
        return lines
    # the strip, under the box's contents, and its first and last norms (the frame's caption is too
    # long for a box: without them the bars said nothing of scale)
    norms = fold.repeat.norms()
    return lines + [title[1], f"‖message in‖ {_short(norms[0])} → {_short(norms[-1])}"]


def _short(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.3g}".replace("-", "−")


def owned_name(names: list[Node]) -> str:
    """A folded input's name: ``W0 … W39`` (the first and the last repetition's)."""
    return names[0].name if len(names) == 1 else f"{names[0].name} … {names[-1].name}"
