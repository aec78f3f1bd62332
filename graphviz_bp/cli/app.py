"""The program: the click group, its one-line error reporting and warnings, ``--debug``."""

from __future__ import annotations

import sys
import warnings
from typing import Any, Sequence

import click

from .. import __version__
from ..drawing.text import visible
from ..errors import GraphvizBPError, MemoryLimitError, OutputChoiceError

__all__ = ["line", "main", "warn"]


class _Group(click.Group):
    """A group whose failures are always one line on stderr (click's usage block is dropped)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        debug = _group_flag(argv, "--debug")
        _PENDING.clear()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                warnings.showwarning = _show_warning  # one line each, no file paths
                rv = super().main(argv, prog_name or "graphviz-bp", complete_var, standalone_mode=False,
                                  **extra)
            code = rv if isinstance(rv, int) else 0
            for text in _PENDING:  # a failure is told in its one line alone
                click.echo(f"graphviz-bp: warning: {text}", err=True)
        except click.UsageError as exc:
            code = _fail(2, exc.format_message() + _hint(exc), debug)
        except click.ClickException as exc:
            code = _fail(exc.exit_code, exc.format_message(), debug)
        except click.Abort as exc:  # (click makes Ctrl-C an Abort: interrupted, as a shell counts it)
            code = _fail(130, "interrupted", debug) if isinstance(exc.__context__, KeyboardInterrupt) \
                else _fail(1, "aborted", debug)
        except KeyboardInterrupt:  # Ctrl-C: dot has been stopped, no file written
            code = _fail(130, "interrupted", debug)
        except MemoryLimitError as exc:
            if debug:
                raise
            code = _fail(1, exc.explain("--memory-limit"), debug)
        except OutputChoiceError as exc:
            if debug:
                raise
            code = _fail(1, exc.explain("--loss "), debug)
        except (GraphvizBPError, OSError, ValueError, LookupError, ArithmeticError, TypeError) as exc:
            if debug:
                raise
            code = _fail(1, _one_line(exc), debug)
        except Exception as exc:  # a bug of ours: still one line, and a way to see more
            if debug:
                raise
            code = _fail(1, f"internal error: {type(exc).__name__}: {_one_line(exc)} (run with --debug "
                            f"for the traceback, and please report it)", debug)
        if standalone_mode:
            sys.exit(code)
        return code


def _group_flag(argv: list[str], flag: str) -> bool:
    """Whether the group's own ``flag`` is given: before the command name, not as some option's
    value (``render ... --alt --debug`` is alt text)."""
    for a in argv:
        if a == flag:
            return True
        if a == "--" or not a.startswith("-"):
            return False
    return False


_PENDING: list[str] = []  # the current command's warnings, shown once it has succeeded


def warn(message: str) -> None:
    """Keep a warning for the end of the command: one line each, each text once, shown only when
    the command succeeds (a failure is one line on stderr, nothing else)."""
    text = line(message)
    if text not in _PENDING:
        _PENDING.append(text)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, source_line: str | None = None) -> None:
    """Python's warnings, as ``warn`` keeps them (no file paths, no source lines)."""
    warn(str(message))


def _hint(exc: click.UsageError) -> str:
    ctx = exc.ctx
    if isinstance(exc, click.NoSuchOption) and exc.option_name == "--debug" and ctx is not None \
            and ctx.parent is not None:  # ``render ... --debug``: the program's flag, given to a command
        return f" (--debug goes before the command: '{ctx.parent.command_path} --debug {ctx.info_name} ...')"
    return f" (see '{ctx.command_path} --help')" if ctx is not None else ""


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and not isinstance(exc, GraphvizBPError) and exc.args:
        return f"KeyError: {exc.args[0]!r}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def line(text: str) -> str:
    """``text`` as one printable line: whitespace runs become one space, and control characters
    and undecodable bytes (from a file name, say) are shown as escapes, never sent to the terminal."""
    return visible(" ".join(str(text).split()))


def _fail(code: int, message: str, debug: bool) -> int:
    click.echo(f"graphviz-bp: error: {line(message)}", err=True)
    return code


# --------------------------------------------------------------------------------------------------
# inputs and targets


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="graphviz-bp")
@click.option("--debug", is_flag=True, help="show the traceback of an error instead of one line")
def main(debug: bool) -> None:
    """Backpropagation diagrams from NumPy-style code: every edge's Jacobian shape and backward message.

    \b
    Examples:
      graphviz-bp render "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5 -o ae.svg
      graphviz-bp check  "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5
      graphviz-bp derive "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5 --latex
      graphviz-bp check  model.py:loss_and_grads -i W=3x5 -i x=5 --backward
      graphviz-bp render model.py:loss -i W=@weights.npy -i x=5 -o loss.pdf
      graphviz-bp gallery --all -o out/
    """
