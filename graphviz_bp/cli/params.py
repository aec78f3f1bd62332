"""Parameters shared by the commands: sizes, seconds, the input and drawing options (generated
from their declarations), and the command class whose expression may start with a minus sign."""

from __future__ import annotations

from typing import Any, Callable

import click

from ..dot import DEFAULT_TIMEOUT
from ..drawing.options import OPTIONS as DRAWING_OPTIONS
from ..drawing.page import OUTPUTS
from ..expr import ExprError, parse
from ..limits import DEFAULT_MEMORY_LIMIT, parse_size, size_text

__all__ = ["ExprCommand", "Seconds", "common_options", "drawing_options"]


_INPUT_HELP = ("NAME=SHAPE (3x5, 5, scalar: random normal values) or NAME=@file.npy / "
               "@file.npz[:KEY]; repeat for each input")


class _Size(click.ParamType):
    name = "SIZE"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Seconds(click.ParamType):
    """Seconds, or 0 / none for no limit."""

    name = "SECONDS"

    def convert(self, value: Any, param: Any, ctx: Any) -> float | None:
        if value is None or isinstance(value, float):
            return value
        if str(value).strip().lower() in ("0", "none", "off"):
            return None
        try:
            seconds = float(value)
        except ValueError:
            self.fail(f"{str(value)[:40]!r} is not a number of seconds", param, ctx)
        if not 0 < seconds < float("inf"):
            self.fail(f"{str(value)[:40]!r} is not a positive number of seconds (0 for no limit)", param, ctx)
        return seconds


class _Key(click.ParamType):
    """An index (an integer) or a dict key (any other text)."""

    name = "INDEX|KEY"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | str:
        if isinstance(value, int):
            return value
        text = str(value)
        return int(text) if text.lstrip("-").isdigit() and len(text) < 20 else text


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options of every command that traces: inputs, seed, memory limit, which value is the loss."""
    f = click.option("--loss", "loss", type=_Key(), default=None, metavar="INDEX|KEY",
                     help="when FUNC returns several values (return loss, grads), the index or dict key "
                          "of the loss")(f)
    f = click.option("--memory-limit", "memory_limit", type=_Size(), default=size_text(DEFAULT_MEMORY_LIMIT),
                     show_default=True,
                     help="largest total size of the arrays a trace may create (and of each input), "
                          "e.g. 512M, 4G")(f)
    f = click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="seed of the random input values")(f)
    f = click.option("-i", "--input", "inputs", multiple=True, metavar="NAME=SHAPE|@FILE", help=_INPUT_HELP)(f)
    return f


def drawing_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--timeout", type=Seconds(), default=DEFAULT_TIMEOUT, show_default=True,
                     help="seconds Graphviz may take to lay out the drawing (0: no limit)")(f)
    for option in reversed(DRAWING_OPTIONS):  # generated from the declaration, in its order
        if option.type is int:  # a number or a choice
            f = click.option(f"--{option.name}", option.name, type=_Level(option), default=option.default,
                             show_default=True, metavar=f"{option.metavar}|{'|'.join(option.choices)}",
                             help=option.help)(f)
        elif option.choices:
            f = click.option(f"--{option.name}", option.name,
                             type=click.Choice(option.spellings, case_sensitive=False),  # (--fold True, lr)
                             default=option.default, show_default=True, help=option.help)(f)
        else:  # a list of names: the option repeated
            f = click.option(f"--{option.name}", option.name, multiple=True, metavar=option.metavar,
                             help=f"{option.help} (repeatable)")(f)
    return f


class _Level(click.ParamType):
    """A drawing option that is a number of levels or one of its choices (``--depth 2``, ``auto``)."""

    name = "level"

    def __init__(self, option: Any) -> None:
        self.option = option

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return self.option.check(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class ExprCommand(click.Command):
    """A command whose argument is an expression, which may start with ``-`` (a negative
    log-likelihood: ``-mean(log(p))``): a token that is not one of the command's options is the
    expression, wherever it stands; ``--`` before it works too."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _expression_last(self, ctx, args))


def _expression_last(cmd: click.Command, ctx: click.Context, args: list[str]) -> list[str]:
    """``args`` with the command's one argument moved after ``--`` at the end, where click takes it
    as an argument even when it starts with ``-``."""
    takes_value: dict[str, bool] = {}
    for p in cmd.get_params(ctx):
        if isinstance(p, click.Option):
            for o in (*p.opts, *p.secondary_opts):
                takes_value[o] = not (p.is_flag or p.count)
    rest: list[str] = []
    target: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            if target is None and i < len(args):
                target, i = args[i], i + 1
                continue
            rest += [a, *args[i:]]
            break
        if not a.startswith("-") or a == "-":
            if target is None:
                target = a
            else:
                rest.append(a)
            continue
        name = a.split("=", 1)[0] if a.startswith("--") else a
        if name in takes_value:  # -o PATH, --output PATH, --output=PATH, --debug
            rest.append(a)
            if takes_value[name] and a == name:
                if i == len(args):  # else the "--" added below would become its value
                    raise click.UsageError(f"Option '{a}' requires an argument.", ctx)
                rest.append(args[i])
                i += 1
            continue
        short = a[:2]
        if not a.startswith("--") and takes_value.get(short) and _attached_value(short, a[2:], a):
            rest.append(a)  # -iW=3x5, -opath.svg, -fsvg
            continue
        if target is None and (not a.startswith("--") or _parses(a)):
            target = a  # -mean(log(p)), -x, --x (the parser explains a bad one)
            continue
        rest.append(a)  # an unknown option: click says so
    return rest + (["--", target] if target is not None else [])


def _attached_value(option: str, value: str, token: str) -> bool:
    """Whether ``-Xvalue`` is option -X with its value rather than an expression such as ``-fx``."""
    if option == "-i":
        return "=" in value
    if option == "-f":
        return value.lower() in OUTPUTS
    return True


def _parses(text: str) -> bool:
    try:
        parse(text)
    except ExprError:
        return False
    return True
