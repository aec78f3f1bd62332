"""Drawing options, declared once: name, type, default, choices and help of each.

``DrawOptions`` is built and checked from ``OPTIONS``; the CLI's options, the Sphinx directive's
options and ``Graph.draw``'s documentation are generated from it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

__all__ = ["DATA", "DEPTH", "DETAIL", "DIRECTION", "FOLD", "OPTIONS", "THEME", "DrawOptions", "Option", "describe"]


@dataclass(frozen=True)
class Option:
    """One drawing option. ``type`` is ``str`` (one of ``choices``, or an alias of one; a Python
    bool means the first alias of "true" or "false"), ``int`` (a whole number 0 or more, or one of
    ``choices``; None means the second choice) or ``tuple`` (any number of names, given as one
    string or a sequence of strings)."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()  # (other spelling, the choice it means)
    metavar: str | None = None

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every accepted value: the choices, then their aliases."""
        return self.choices + tuple(a for a, _ in self.aliases)

    def check(self, value: Any) -> Any:
        """``value`` in canonical form, or ValueError naming what is accepted.

        >>> DIRECTION.check("left-right"), DATA.check("x"), DATA.check(["x", "y"])
        ('LR', ('x',), ('x', 'y'))
        >>> DETAIL.check("all")
        Traceback (most recent call last):
        ValueError: detail must be one of structure, shapes, values, formulas; got 'all'
        """
        if self.type is int:
            return self._level(value)
        if isinstance(value, bool):
            value = "true" if value else "false"
        if self.type is tuple:
            items = (value,) if isinstance(value, str) else value
            try:
                items = tuple(items)
            except TypeError:
                items = (items,)
            bad = [v for v in items if not isinstance(v, str)]
            if bad:
                raise ValueError(f"{self.name} must be a name or a sequence of names; got {bad[0]!r}")
            return items
        if isinstance(value, str):
            if value in self.choices:
                return value
            low = value.strip().lower()  # (True as the shell spells it, lr for LR)
            for choice in self.choices:
                if choice.lower() == low:
                    return choice
            for alias, choice in self.aliases:
                if alias.lower() == low:
                    return choice
        also = f" (or {', '.join(a for a, _ in self.aliases)})" if self.aliases else ""
        raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}{also}; got {value!r}")

    def _level(self, value: Any) -> int | str:
        """A number of levels: an int 0 or more (also as text), or a choice (None: the second).

        >>> DEPTH.check(2), DEPTH.check("3"), DEPTH.check(None), DEPTH.check("auto")
        (2, 3, 'all', 'auto')
        """
        if value is None:
            return self.choices[1]
        if isinstance(value, str) and value.strip() in self.choices:
            return value.strip()
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return int(value)
        raise ValueError(f"{self.name} must be a whole number of levels (0 or more) or one of "
                         f"{', '.join(self.choices)}; got {value!r}")


DIRECTION = Option(
    "direction", str, "TB", "TB: top to bottom; LR: left to right; RL and BT reverse them",
    choices=("TB", "LR", "RL", "BT"), aliases=(("top-bottom", "TB"), ("left-right", "LR")))
DETAIL = Option(
    "detail", str, "values",
    "what labels show: structure; shapes (of values and local Jacobians); values (shapes, forward "
    "values and backward messages); formulas (shapes, and each message and gradient as a formula "
    "checked numerically; the numbers in the tooltips)",
    choices=("structure", "shapes", "values", "formulas"))
THEME = Option(
    "theme", str, "color", "grey is print-friendly: messages told apart by line style, not colour",
    choices=("color", "grey"))
FOLD = Option(
    "fold", str, "auto",
    "draw repeated blocks (the layers of a deep net, the steps of an RNN) once, marked × N, with "
    "the message norm of each repetition; auto: when the graph has more than 150 nodes",
    choices=("auto", "on", "off"), aliases=(("true", "on"), ("false", "off"), ("yes", "on"), ("no", "off")))
DEPTH = Option(
    "depth", int, "auto",
    "groups (function calls, gb.group blocks, loops) nested deeper than this many levels are drawn "
    "as one box each, with the messages that cross their boundary; all: every group open; auto: "
    "the deepest that keeps the drawing within 150 nodes", choices=("auto", "all"), metavar="N")
DATA = Option(
    "data", tuple, (), "an input that is data, not a parameter: drawn muted, no gradient shown",
    metavar="NAME")

#: Every drawing option, in the order they are documented.
OPTIONS: tuple[Option, ...] = (DIRECTION, DETAIL, THEME, FOLD, DEPTH, DATA)


@dataclass(frozen=True)
class DrawOptions:
    """How to draw: each field is the option of that name in ``OPTIONS``, checked and made
    canonical on construction (``direction="left-right"`` becomes ``"LR"``)."""

    direction: str = DIRECTION.default
    detail: str = DETAIL.default
    theme: str = THEME.default
    fold: str = FOLD.default
    depth: int | str = DEPTH.default
    data: tuple[str, ...] = DATA.default

    def __post_init__(self) -> None:
        for option in OPTIONS:
            object.__setattr__(self, option.name, option.check(getattr(self, option.name)))

    @classmethod
    def from_keywords(cls, inputs: Iterable[str] | None = None, **values: Any) -> DrawOptions:
        """Options from keywords, as ``Graph.draw`` takes them: an unknown keyword is a TypeError,
        a bad value a ValueError, both naming what is accepted; with ``inputs``, ``data`` must name
        some of them."""
        unknown = [k for k in values if k not in _NAMES]
        if unknown:
            raise TypeError(f"no drawing option {unknown[0]!r}; the options are {', '.join(_NAMES)}")
        options = cls(**values)
        if inputs is not None:
            options.check_inputs(inputs)
        return options

    def check_inputs(self, inputs: Iterable[str]) -> None:
        """ValueError unless every name in ``data`` is one of ``inputs``."""
        names = list(inputs)
        unknown = [d for d in self.data if d not in names]
        if unknown:
            raise ValueError(f"data={unknown!r} names no input; inputs are {', '.join(names) or 'none'}")

    @property
    def folding(self) -> bool | str:
        """``fold`` as the fold plan takes it: True, False or "auto"."""
        return {"on": True, "off": False}.get(self.fold, "auto")

    @property
    def levels(self) -> int | str | None:
        """``depth`` as the fold plan takes it: a number, None (every group open) or "auto"."""
        return None if self.depth == "all" else self.depth

    @property
    def shows_shapes(self) -> bool:
        return self.detail in ("shapes", "values", "formulas")

    @property
    def shows_formulas(self) -> bool:
        return self.detail == "formulas"

    @property
    def shows_values(self) -> bool:
        return self.detail == "values"


_NAMES = tuple(o.name for o in OPTIONS)  # DrawOptions has one field per option (tests check it)


def describe(indent: str = "") -> str:
    """The options as documentation: one paragraph each, with choices and default.

    >>> print(describe().splitlines()[2])
    theme: "color", "grey"; default "color". Grey is print-friendly: messages told apart by line style, not colour.
    """
    out = []
    for o in OPTIONS:
        if o.type is int:
            what = f'a number of levels (0 or more), "auto" or "all" (None in Python); default "{o.default}"'
        elif o.choices:
            what = ", ".join(f'"{c}"' for c in o.choices)
            if o.aliases:
                what += f" (or {', '.join(f'{chr(34)}{a}{chr(34)}' for a, _ in o.aliases)})"
            what += (" (True and False in Python)" if "true" in dict(o.aliases) else "") + f'; default "{o.default}"'
        else:
            what = "a name or a list of names; default none"
        out.append(f"{indent}{o.name}: {what}. {o.help[0].upper()}{o.help[1:]}.")
    return "\n".join(out)
