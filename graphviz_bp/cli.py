"""The ``graphviz-bp`` command line (click). Only this module imports click.

Every failure ends in one line on stderr: usage errors exit 2, domain errors exit 1; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import click
import numpy as np

from . import __version__
from . import gallery as gallery_mod
from .api import Graph, trace
from .check import InputCheck, compare
from .dot import DEFAULT_TIMEOUT
from .errors import GraphvizBPError, MemoryLimitError, NonScalarOutputError
from .expr import ExprError, parse
from .files import check_output_path, ensure_directory
from .frontend import InputError, call_user, parse_inputs, resolve
from .limits import DEFAULT_MEMORY_LIMIT, parse_size, size_text
from .drawing.options import OPTIONS as DRAWING_OPTIONS
from .drawing.render import FORMATS
from .drawing.text import format_shape, visible


class _Group(click.Group):
    """A group whose failures are always one line on stderr (click's usage block is dropped)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        debug = _group_flag(argv, "--debug")
        _SHOWN.clear()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                warnings.showwarning = _show_warning  # one line each, no file paths
                rv = super().main(argv, prog_name or "graphviz-bp", complete_var, standalone_mode=False,
                                  **extra)
            code = rv if isinstance(rv, int) else 0
        except click.UsageError as exc:
            code = _fail(2, exc.format_message() + _hint(exc), debug)
        except click.ClickException as exc:
            code = _fail(exc.exit_code, exc.format_message(), debug)
        except click.Abort:
            code = _fail(1, "aborted", debug)
        except KeyboardInterrupt:  # Ctrl-C: dot has been stopped, no file written
            code = _fail(130, "interrupted", debug)
        except MemoryLimitError as exc:
            if debug:
                raise
            code = _fail(1, exc.explain("--memory-limit"), debug)
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


_SHOWN: set[str] = set()  # warning texts shown by the current command


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """A warning as one line on stderr, each text once."""
    text = _line(str(message))
    if text not in _SHOWN:
        _SHOWN.add(text)
        click.echo(f"graphviz-bp: warning: {text}", err=True)


def _hint(exc: click.UsageError) -> str:
    ctx = exc.ctx
    return f" (see '{ctx.command_path} --help')" if ctx is not None else ""


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and not isinstance(exc, GraphvizBPError) and exc.args:
        return f"KeyError: {exc.args[0]!r}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _line(text: str) -> str:
    """``text`` as one printable line: whitespace runs become one space, and control characters
    and undecodable bytes (from a file name, say) are shown as escapes, never sent to the terminal."""
    return visible(" ".join(str(text).split()))


def _fail(code: int, message: str, debug: bool) -> int:
    click.echo(f"graphviz-bp: error: {_line(message)}", err=True)
    return code


# --------------------------------------------------------------------------------------------------
# inputs and targets

def _prepare(target: str, items: Sequence[str], seed: int,
             memory_limit: int) -> tuple[Callable[..., Any], dict[str, np.ndarray], str]:
    try:
        resolved = resolve(target)
    except InputError as exc:
        hint = "EXPR" if exc.what == "expression" else "FILE.py:FUNC"
        raise click.BadParameter(str(exc), param_hint=hint) from None
    try:
        inputs = parse_inputs(items, seed, memory_limit=memory_limit)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="-i") from None
    missing = resolved.missing(inputs)
    if missing:
        raise click.UsageError(f"no input for {', '.join(missing)}: add "
                               + " ".join(f"-i {n}=SHAPE" for n in missing))
    unexpected = resolved.unexpected(inputs)
    if unexpected:
        raise click.BadParameter(f"{resolved.label} takes no input named {', '.join(unexpected)} (its "
                                 f"inputs: {', '.join(resolved.accepts or []) or 'none'})", param_hint="-i")
    return resolved.fn, inputs, resolved.label


def _trace(fn: Callable[..., Any], inputs: dict[str, np.ndarray], memory_limit: int) -> Graph:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            g = call_user(trace, fn, inputs, memory_limit=memory_limit)
        except NonScalarOutputError as exc:
            raise click.ClickException(
                f"the value has shape {exc.shape}, not a scalar: the backward pass starts from a scalar "
                f"loss; wrap it, e.g. sum(...) or mean(...)") from None
    for message in sorted({_line(str(w.message)) for w in caught}):
        click.echo(f"graphviz-bp: warning: {message}", err=True)
    return g


def _progress(line: str) -> None:
    click.echo(f"graphviz-bp: {_line(line)}", err=True)


def _encodable(text: str) -> bool:
    """Whether ``text`` can be written to standard output as it is set up (undecodable bytes from
    the command line, held as surrogates, cannot)."""
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def markdown_image(alt: str, path: Path) -> str:
    r"""``![alt](path)`` with the alt text's brackets and the path's spaces escaped.

    >>> print(markdown_image("Two paths [to W]", Path("figs/my ae.svg")))
    ![Two paths \[to W\]](figs/my%20ae.svg)
    """
    text = " ".join(alt.split()).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"![{text}]({path.as_posix().replace(' ', '%20').replace('(', '%28').replace(')', '%29')})"


# --------------------------------------------------------------------------------------------------
# commands

_INPUT_HELP = ("NAME=SHAPE (3x5, 5, scalar: random normal values) or NAME=@file.npy / "
               "@file.npz[:KEY]; repeat for each input")


class _Size(click.ParamType):
    name = "SIZE"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _Seconds(click.ParamType):
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


def _common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options of every command that traces: inputs, seed, memory limit."""
    f = click.option("--memory-limit", "memory_limit", type=_Size(), default=size_text(DEFAULT_MEMORY_LIMIT),
                     show_default=True,
                     help="largest total size of the arrays a trace may create (and of each input), "
                          "e.g. 512M, 4G")(f)
    f = click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="seed of the random input values")(f)
    f = click.option("-i", "--input", "inputs", multiple=True, metavar="NAME=SHAPE|@FILE", help=_INPUT_HELP)(f)
    return f


def _drawing_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--timeout", type=_Seconds(), default=DEFAULT_TIMEOUT, show_default=True,
                     help="seconds Graphviz may take to lay out the drawing (0: no limit)")(f)
    for option in reversed(DRAWING_OPTIONS):  # generated from the declaration, in its order
        if option.choices:
            f = click.option(f"--{option.name}", option.name, type=click.Choice(option.spellings),
                             default=option.default, show_default=True, help=option.help)(f)
        else:  # a list of names: the option repeated
            f = click.option(f"--{option.name}", option.name, multiple=True, metavar=option.metavar,
                             help=f"{option.help} (repeatable)")(f)
    return f


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="graphviz-bp")
@click.option("--debug", is_flag=True, help="show the traceback of an error instead of one line")
def main(debug: bool) -> None:
    """Backpropagation diagrams from NumPy-style code: every edge's Jacobian shape and backward message.

    \b
    Examples:
      graphviz-bp render "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5 -o ae.svg
      graphviz-bp check  "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5
      graphviz-bp render model.py:loss -i W=@weights.npy -i x=5 -o loss.pdf
      graphviz-bp gallery --all -o out/
    """


class _ExprCommand(click.Command):
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
        return value.lower() in FORMATS
    return True


def _parses(text: str) -> bool:
    try:
        parse(text)
    except ExprError:
        return False
    return True


@main.command(cls=_ExprCommand)
@click.argument("target", metavar="EXPR|FILE.py:FUNC")
@_common_options
@click.option("-o", "--output", required=True, metavar="PATH|-",
              help="file to write (.svg .pdf .png .dot), or - for standard output")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="output format (default: from the suffix of -o; svg for -)")
@click.option("--markdown", is_flag=True,
              help="after writing the file, print a Markdown image snippet for it on stdout")
@click.option("--alt", default=None, metavar="TEXT",
              help="alt text of the Markdown image (default: 'Backpropagation graph of EXPR')")
@_drawing_options
def render(target: str, inputs: tuple[str, ...], output: str, fmt: str | None, seed: int, memory_limit: int,
           markdown: bool, alt: str | None, direction: str, detail: str, theme: str, data: tuple[str, ...],
           timeout: float | None) -> None:
    """Trace EXPR (or FUNC in FILE.py) and draw its backward pass.

    EXPR is NumPy-style: input names, numbers, + - * / ** @, unary -, .T, .mT, parentheses,
    indexing (x[0], x[1:, ::-1], logp[arange(4), y], slogdet(K)[1]) and every NumPy function
    graphviz_bp records, by its NumPy name, bare or as np.f / np.linalg.f (sum, solve, slogdet,
    einsum, cumsum, take, ...), the activations (sigmoid, relu, softmax, ...) and eye ones zeros
    arange full, with their keywords (axis=, keepdims=, ...) as literals. The full list is in the
    README ("The expression language") and in graphviz_bp.expr.FUNCTIONS. It is parsed, never
    run as Python; it may start with a minus sign. FILE.py:FUNC imports FILE.py and calls FUNC:
    that is your own code, and it does run.

    \b
    Examples:
      graphviz-bp render "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5 -o ae.svg
      graphviz-bp render "sum(tanh(W@x + b))" -i W=4x3 -i x=3 -i b=4 --direction LR -o net.pdf
      graphviz-bp render "-mean(log(softmax(z)))" -i z=4 -o nll.svg
      graphviz-bp render "mean(relu(X@W))" -i X=8x3 -i W=3x2 --data X -o - > net.svg
      graphviz-bp render model.py:loss -i W=@weights.npz:W -i x=5 -o loss.png
      graphviz-bp render "sum(x*x)" -i x=3 -o docs/xx.svg --markdown >> README.md
    """
    if markdown and output == "-":
        raise click.BadParameter("--markdown needs a file to link to, not -", param_hint="-o")
    if markdown and not _encodable(markdown_image(alt or target, Path(output))):
        raise click.BadParameter("the Markdown line cannot be printed in this terminal's encoding "
                                 f"({sys.stdout.encoding}); give plain --alt text", param_hint="--alt")
    if output == "-":
        fmt = fmt or "svg"
    else:
        try:
            check_output_path(output)
        except OSError as exc:
            raise click.BadParameter(str(exc), param_hint="-o") from None
        if fmt is None:
            suffix = Path(output).suffix.lstrip(".").lower()
            if suffix not in FORMATS:
                raise click.BadParameter(f"cannot tell the format from {output!r}: use a .svg, .pdf, "
                                         f".png or .dot file, or -f", param_hint="-o")
            fmt = suffix
    fn, values, label = _prepare(target, inputs, seed, memory_limit)
    unknown = [d for d in data if d not in values]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} is not an input", param_hint="--data")
    drawing = _trace(fn, values, memory_limit).draw(direction=direction, detail=detail, theme=theme,
                                                    data=data)
    if output == "-":
        out = drawing.pipe(fmt, timeout=timeout, progress=_progress)
        sys.stdout.flush()
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
    else:
        path = drawing.render(output, fmt, timeout=timeout, progress=_progress)
        click.echo(f"wrote {_line(str(path))}", err=True)
        if markdown:
            click.echo(markdown_image(alt if alt is not None else f"Backpropagation graph of {label}", path))


@main.command(cls=_ExprCommand)
@click.argument("target", metavar="EXPR|FILE.py:FUNC")
@_common_options
@click.option("--rtol", type=click.FloatRange(min=0, min_open=True), default=1e-6, show_default=True,
              help="largest relative error ‖analytic − numeric‖ / ‖numeric‖ that passes")
@click.option("--eps", type=click.FloatRange(min=0, min_open=True), default=1e-6, show_default=True,
              help="central-difference step")
@click.option("--max-coords", type=click.IntRange(min=1), default=2000, show_default=True,
              help="per input, check at most this many randomly chosen coordinates")
def check(target: str, inputs: tuple[str, ...], seed: int, memory_limit: int, rtol: float, eps: float,
          max_coords: int) -> int:
    """Compare the gradient with central finite differences, per input.

    Prints each input's analytic gradient norm, the finite-difference estimate's norm and their
    relative error; exits 0 when every error is within --rtol, 1 otherwise. The output must be a
    scalar. EXPR and FILE.py:FUNC are as for render.

    \b
    Examples:
      graphviz-bp check "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5
      graphviz-bp check "-mean(log(softmax(z)))" -i z=4
      graphviz-bp check model.py:loss -i W=@weights.npy -i x=5 --rtol 1e-5
    """
    if not (np.isfinite(eps) and np.isfinite(rtol)):
        raise click.UsageError("--eps and --rtol must be finite")
    fn, values, label = _prepare(target, inputs, seed, memory_limit)
    g = _trace(fn, values, memory_limit)
    grads = {name: g.node(name).adjoint for name in values}
    result = call_user(compare, fn, values, grads, rtol=rtol, eps=eps, max_coords=max_coords,
                       coords_seed=seed + 1)
    click.echo(f"{label}: value {float(g.value):.6g}; rtol {rtol:g}, eps {eps:g}")
    header = ("input", "shape", "‖analytic‖", "‖numeric‖", "rel. error")
    rows = [_check_row(c) for c in result.inputs]
    widths = [max(len(str(r[i])) for r in [*rows, header]) for i in range(5)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  ok")
    for r, c in zip(rows, result.inputs):
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(r, widths)) + ("  yes" if c.passed else "  NO"))
    for c in result.inputs:
        if not c.passed and c.worst is not None:
            click.echo(f"{c.name}: worst entry {c.name}[{', '.join(map(str, c.worst))}]: analytic "
                       f"{c.worst_analytic:.6g}, numeric {c.worst_numeric:.6g}")
    return 0 if result.passed else 1


def _check_row(c: InputCheck) -> tuple[str, str, str, str, str]:
    if not c.differentiated:
        return (c.name, format_shape(c.shape), "-", "-", "not differentiated")
    note = "" if c.coords == c.size else f" ({c.coords} of {c.size} coords)"
    return (c.name, format_shape(c.shape), f"{c.analytic_norm:.6g}", f"{c.numeric_norm:.6g}",
            f"{c.error:.2e}{note}")


@main.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "render_all", is_flag=True, help="render every example")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), default=Path("."),
              show_default=True, help="directory for the rendered files (made if missing)")
@click.option("-f", "--format", "fmts", type=click.Choice(FORMATS), multiple=True,
              help="formats to write (repeatable; default svg)")
@click.option("--timeout", type=_Seconds(), default=DEFAULT_TIMEOUT, show_default=True,
              help="seconds Graphviz may take to lay out each drawing (0: no limit)")
def gallery(names: tuple[str, ...], render_all: bool, out_dir: Path, fmts: tuple[str, ...],
            timeout: float | None) -> None:
    """List the gallery, or render examples from it.

    Without NAME or --all, lists the examples with their titles. The examples are the Python files
    in the source tree's gallery/ folder ($GRAPHVIZ_BP_GALLERY to use another).

    \b
    Examples:
      graphviz-bp gallery
      graphviz-bp gallery autoencoder -o figs/ -f pdf
      graphviz-bp gallery --all -o figs/ -f svg -f pdf
    """
    if not names and not render_all:
        for name in gallery_mod.EXAMPLES:
            click.echo(f"{name:<20} {gallery_mod.load(name).title}")
        return
    unknown = [n for n in names if n not in gallery_mod.EXAMPLES]
    if unknown:
        raise click.BadParameter(f"no example named {', '.join(unknown)[:200]}; the examples are "
                                 f"{', '.join(gallery_mod.EXAMPLES)}", param_hint="NAME")
    chosen = list(gallery_mod.EXAMPLES) if render_all else list(dict.fromkeys(names))
    try:
        ensure_directory(out_dir)
    except OSError as exc:
        raise click.BadParameter(str(exc), param_hint="-o") from None
    fmts = fmts or ("svg",)
    for name in chosen:
        drawing = gallery_mod.load(name).drawing()
        for fmt in fmts:
            drawing.render(out_dir / f"{name}.{fmt}", fmt, timeout=timeout, progress=_progress)
    click.echo(f"wrote {len(chosen) * len(fmts)} file(s) to {_line(str(out_dir))}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
