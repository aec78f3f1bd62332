"""The commands: ``render``, ``check``, ``derive`` and ``gallery``."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import click
import numpy as np

from .. import gallery as gallery_mod
from ..api import Graph, trace
from ..check import GradientMatchError, InputCheck, check_returned, compare, not_finite, precision
from ..dot import DEFAULT_TIMEOUT
from ..drawing.page import OUTPUTS
from ..drawing.render import FORMATS
from ..drawing.text import format_shape
from ..expr import Expression
from ..errors import GraphvizBPError, NonScalarOutputError, PathLimitError
from ..files import check_output_path, ensure_directory
from ..graph import count_text
from ..frontend import InputError, call_user, parse_inputs, resolve
from .app import line, main, warn
from .derivations import as_latex, as_markdown, as_text
from .params import ExprCommand, Seconds, common_options, drawing_options

__all__ = ["check", "derive", "gallery", "main", "markdown_image", "render"]


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


def _trace(fn: Callable[..., Any], inputs: dict[str, np.ndarray], memory_limit: int, loss: Any) -> Graph:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            g = call_user(trace, fn, inputs, memory_limit=memory_limit, output=loss)
        except NonScalarOutputError as exc:
            name = getattr(fn, "__name__", "")
            how = (f"make {name} return one, e.g. np.sum(...) or np.mean(...) of it, or return (loss, ...) "
                   f"and pick it with --loss" if isinstance(fn, types.FunctionType) and name else
                   "wrap it, e.g. sum(...) or mean(...)")
            raise click.ClickException(
                f"the value has shape {exc.shape}, not a scalar: the backward pass starts from a scalar "
                f"loss; {how}") from None
    for message in sorted({str(w.message) for w in caught}):
        warn(message)
    return g


def _progress(text: str) -> None:
    click.echo(f"graphviz-bp: {line(text)}", err=True)


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


@main.command(cls=ExprCommand)
@click.argument("target", metavar="EXPR|FILE.py:FUNC")
@common_options
@click.option("-o", "--output", default=None, metavar="PATH|-",
              help="file to write (.svg .pdf .png .dot, or .html: the interactive page), or - for standard output")
@click.option("-f", "--format", "fmt", type=click.Choice(OUTPUTS), default=None,
              help="output format (default: from the suffix of -o; svg for -); with --frames, the "
                   "frames' format (svg, png, pdf)")
@click.option("--frames", "frames_dir", default=None, metavar="DIR",
              help="also write one picture per step of the backward pass into DIR (step-0.svg, ...; -f png or pdf)")
@click.option("--markdown", is_flag=True,
              help="after writing the file, print a Markdown image snippet for it on stdout")
@click.option("--alt", default=None, metavar="TEXT",
              help="alt text of the Markdown image (default: 'Backpropagation graph of EXPR')")
@drawing_options
def render(target: str, inputs: tuple[str, ...], output: str | None, fmt: str | None, frames_dir: str | None,
           seed: int, memory_limit: int, loss: Any, markdown: bool, alt: str | None, direction: str, detail: str,
           theme: str, fold: str, depth: int | str, data: tuple[str, ...],
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
      graphviz-bp render "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5 -o ae.html
      graphviz-bp render "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5 --frames slides/ -f png
    """
    if output is None and frames_dir is None:
        raise click.UsageError("say where to write: -o PATH (or -o - for standard output), or --frames DIR")
    if frames_dir is not None and (fmt or "svg") not in ("svg", "png", "pdf"):
        raise click.BadParameter(f"frames are written as svg, png or pdf, not {fmt}", param_hint="-f")
    if markdown and (output is None or output == "-"):
        raise click.BadParameter("--markdown needs a file to link to, not -", param_hint="-o")
    if markdown and not _encodable(markdown_image(alt or target, Path(output))):
        raise click.BadParameter("the Markdown line cannot be printed in this terminal's encoding "
                                 f"({sys.stdout.encoding}); give plain --alt text", param_hint="--alt")
    out_fmt = fmt if frames_dir is None else None  # with --frames, -f is the frames' format
    if out_fmt is not None and output not in (None, "-"):
        suffix = Path(output).suffix.lstrip(".").lower()
        suffix = "html" if suffix == "htm" else suffix
        if suffix in OUTPUTS and suffix != out_fmt:  # (a .svg file holding a PNG: no viewer opens it)
            raise click.BadParameter(f"-f {out_fmt} would write {out_fmt} into {output!r}, a .{suffix} file: "
                                     f"name it .{out_fmt}, or leave -f out", param_hint="-f")
    if output == "-":
        out_fmt = out_fmt or "svg"
    elif output is not None:
        try:
            check_output_path(output)
        except OSError as exc:
            raise click.BadParameter(str(exc), param_hint="-o") from None
        if out_fmt is None:
            suffix = Path(output).suffix.lstrip(".").lower()
            suffix = "html" if suffix == "htm" else suffix
            if suffix not in OUTPUTS:
                raise click.BadParameter(f"cannot tell the format from {output!r}: use a .svg, .pdf, "
                                         f".png, .dot or .html file, or -f", param_hint="-o")
            out_fmt = suffix
    made = frames_dir is not None and not Path(frames_dir).exists()
    if frames_dir is not None:
        try:
            ensure_directory(frames_dir)
        except OSError as exc:
            raise click.BadParameter(str(exc), param_hint="--frames") from None
    fn, values, label = _prepare(target, inputs, seed, memory_limit)
    unknown = [d for d in data if d not in values]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} is not an input", param_hint="--data")
    drawing = _trace(fn, values, memory_limit, loss).draw(direction=direction, detail=detail, theme=theme,
                                                    fold=fold, depth=depth, data=data)
    drawing.title = label  # the expression, or FILE.py:FUNC: the page's title
    if frames_dir is not None:
        try:
            paths = drawing.frames(frames_dir, fmt or "svg", timeout=timeout, progress=_progress)
        except ValueError as exc:
            if made:  # nothing left behind: the folder was made for these frames
                with contextlib.suppress(OSError):
                    Path(frames_dir).rmdir()
            raise click.BadParameter(str(exc).replace("limit=None", "the Python API's frames(limit=None)"),
                                     param_hint="--frames") from None
        click.echo(f"wrote {len(paths) - 1} frames and steps.txt to {line(str(frames_dir))}", err=True)
    if output == "-":
        out = drawing.pipe(out_fmt or "svg", timeout=timeout, progress=_progress)
        sys.stdout.flush()
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
    elif output is not None:
        path = drawing.render(output, out_fmt, timeout=timeout, progress=_progress)
        click.echo(f"wrote {line(str(path))}", err=True)
        if markdown:
            click.echo(markdown_image(alt if alt is not None else f"Backpropagation graph of {label}", path))


@main.command(cls=ExprCommand)
@click.argument("target", metavar="EXPR|FILE.py:FUNC")
@common_options
@click.option("--rtol", type=click.FloatRange(min=0, min_open=True), default=1e-6, show_default=True,
              help="largest relative error ‖analytic − numeric‖ / ‖numeric‖ that passes")
@click.option("--eps", type=click.FloatRange(min=0, min_open=True), default=1e-6, show_default=True,
              help="central-difference step")
@click.option("--max-coords", type=click.IntRange(min=1), default=2000, show_default=True,
              help="per input, check at most this many randomly chosen coordinates")
@click.option("--claim", "claims", multiple=True, metavar="NAME=EXPR",
              help="a claimed gradient to check, e.g. 'W=W@outer(r, x)' (repeatable; split at the first =); "
                   "the verdict names a missed path, a sign, a factor or a transpose")
@click.option("--backward", is_flag=True,
              help="FUNC returns its loss with its own hand-written gradients (return loss, dW, db / "
                   "return loss, grads): check each of them as --claim does (--loss defaults to 0)")
@click.option("--grads", "grads", default=None, metavar="NAME,...|KEY=NAME,...",
              help="with --backward: the inputs the returned gradients are for, in order (a tuple, or "
                   "the dict keys to check), or KEY=NAME for a dict keyed otherwise")
def check(target: str, inputs: tuple[str, ...], seed: int, memory_limit: int, loss: Any, rtol: float,
          eps: float, max_coords: int, claims: tuple[str, ...], backward: bool, grads: str | None) -> int:
    """Compare the gradient with central finite differences, per input.

    Prints each input's analytic gradient norm, the finite-difference estimate's norm and their
    relative error; exits 0 when every error is within --rtol (and every --claim and, with
    --backward, every returned gradient is correct), 1 otherwise. The output must be a scalar.
    EXPR and FILE.py:FUNC are as for render.

    \b
    Examples:
      graphviz-bp check "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5
      graphviz-bp check "-mean(log(softmax(z)))" -i z=4
      graphviz-bp check model.py:loss -i W=@weights.npy -i x=5 --rtol 1e-5
      graphviz-bp check "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5 --claim "W=W@outer(W.T@W@x - x, x)"
      graphviz-bp check model.py:loss_and_grads -i W=3x5 -i x=5 --backward
    """
    if grads is not None and not backward:
        raise click.UsageError("--grads says which inputs returned gradients are for: it needs --backward")
    if backward and loss is None:
        loss = 0
    parsed = []
    for claim in claims:
        name, sep, text = claim.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise click.BadParameter(f"{claim!r} is not NAME=EXPR", param_hint="--claim")
        parsed.append((name.strip(), text.strip()))
    if not (np.isfinite(eps) and np.isfinite(rtol)):
        raise click.UsageError("--eps and --rtol must be finite")
    fn, values, label = _prepare(target, inputs, seed, memory_limit)
    if backward and isinstance(fn, Expression):
        raise click.UsageError("--backward checks the gradients a function returns with its loss: give "
                               "FILE.py:FUNC, not an expression")
    chosen = _parse_grads(grads, values) if backward else None
    g = _trace(fn, values, memory_limit, loss)
    _check_claims_are_usable(g, parsed)
    returned = None
    if backward:
        try:
            returned = call_user(check_returned, g, fn, output=loss, grads=chosen, memory_limit=memory_limit)
        except GradientMatchError as exc:
            raise click.ClickException(exc.explain("--grads")) from None
    grads = {name: g.node(name).adjoint for name in values}
    result = call_user(compare, fn, values, grads, rtol=rtol, eps=eps, max_coords=max_coords,
                       coords_seed=seed + 1, output=loss, precision=precision(g))
    if not result.passed:
        result = dataclasses.replace(result, not_finite=not_finite(g))
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
    if result.hint:  # (as options: --eps and --rtol)
        click.echo(line(result.hint.replace("eps=", "--eps ").replace(", rtol=", " --rtol ")))
    held = True
    for name, text in parsed:
        verdict = call_user(g.check_claim, name, text)
        click.echo(f"claim ∂L/∂{name} = {text}: {verdict.message}")
        held = held and verdict.ok
    if returned is not None:
        for text in returned.lines():
            click.echo(line(text))
        held = held and returned.ok
    return 0 if result.passed and held else 1


def _parse_grads(text: str | None, values: dict[str, np.ndarray]) -> Any:
    """--grads as check_backward's ``grads=``: names in order, or a mapping of dict keys to names;
    every name must be a float input."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise click.BadParameter(f"{text!r} is not NAME,... or KEY=NAME,...", param_hint="--grads")
    pairs = [item.partition("=") for item in items]
    mapping = any(sep for _, sep, _ in pairs)
    if mapping and not all(sep and key.strip() and name.strip() for key, sep, name in pairs):
        raise click.BadParameter(f"{text!r} mixes NAME and KEY=NAME: write KEY=NAME for each", param_hint="--grads")
    names = [name.strip() for _, _, name in pairs] if mapping else items
    for name in names:
        if name not in values:
            raise click.BadParameter(f"{name!r} is not an input (inputs: {', '.join(values) or 'none'})",
                                     param_hint="--grads")
        if np.asarray(values[name]).dtype.kind != "f":
            raise click.BadParameter(f"{name!r} has an integer or boolean dtype: it has no gradient",
                                     param_hint="--grads")
    if len(set(names)) != len(names):
        raise click.BadParameter(f"{text!r} names an input twice", param_hint="--grads")
    if mapping:
        return {key.strip(): name.strip() for key, _, name in pairs}
    return tuple(names)


def _has_gradient(g: Any, name: str, what: str, option: str) -> None:
    """A usage error unless ``name`` is a value of ``g`` that has a gradient."""
    try:
        g.grad(name)
    except KeyError:
        raise click.BadParameter(f"{name!r} is not an input or a named value of {what}",
                                 param_hint=option) from None
    except GraphvizBPError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _check_claims_are_usable(g: Any, claims: list[tuple[str, str]]) -> None:
    """Refuse, before anything is printed, a claim about a value the graph does not have, or one
    that does not parse or uses a name with no value."""
    from ..expr import ExprError, parse

    named = {n.name for n in g.nodes if n.kind == "input" or getattr(n, "user_named", False)}
    named |= set(g._dag.formulas.assigned_names())
    for name, text in claims:
        _has_gradient(g, name, "the graph", "--claim")
        try:
            unknown = sorted(set(parse(text).names) - named - set(g._dag.formulas.constants))
        except ExprError as exc:
            raise click.BadParameter(f"{name}={text}: {exc}", param_hint="--claim") from None
        if unknown:
            raise click.BadParameter(f"{name}={text}: no value for {', '.join(unknown)}", param_hint="--claim")


def _check_row(c: InputCheck) -> tuple[str, str, str, str, str]:
    if not c.differentiated:
        return (c.name, format_shape(c.shape), "-", "-", "not differentiated")
    note = "" if c.coords == c.size else f" ({c.coords} of {c.size} coords)"
    return (c.name, format_shape(c.shape), f"{c.analytic_norm:.6g}", f"{c.numeric_norm:.6g}",
            f"{c.error:.2e}{note}")


@main.command(cls=ExprCommand)
@click.argument("target", metavar="EXPR|FILE.py:FUNC")
@common_options
@click.option("--wrt", "wrt", multiple=True, metavar="NAME",
              help="derive ∂L/∂NAME only: an input or a named intermediate (repeatable; default: every "
                   "float input)")
@click.option("--latex", "as_tex", is_flag=True, help="print LaTeX (an align* block) for notes")
@click.option("--markdown", "as_md", is_flag=True, help="print Markdown with $…$ math for docs")
@click.option("--max-paths", type=click.IntRange(min=1, max=100_000), default=64, show_default=True,
              help="refuse a gradient with more paths than this (one term each)")
def derive(target: str, inputs: tuple[str, ...], seed: int, memory_limit: int, loss: Any, wrt: tuple[str, ...],
           as_tex: bool, as_md: bool, max_paths: int) -> int:
    """Print each gradient as a sum of one term per path, every term checked numerically.

    For each float input (or each --wrt NAME): ∂L/∂NAME as a formula, the named intermediates it
    uses (from gb.name or lines like r = ...), then each path's term, marked ✓ when it equals that
    path's numeric contribution at the traced inputs and at fresh ones, and the value the path
    first goes through. Unicode by default (also into a pipe or file); --latex and --markdown for
    notes and docs. Exits 0 when every term is verified, 1 otherwise. EXPR and FILE.py:FUNC are
    as for render; the output must be a scalar.

    \b
    Examples:
      graphviz-bp derive "0.5*sum((W.T@W@x - x)**2)" -i W=3x5 -i x=5
      graphviz-bp derive model.py:autoencoder -i W=3x5 -i x=5 --wrt W --latex
      graphviz-bp derive "sum(tanh(W@x + b))" -i W=4x3 -i x=3 -i b=4 --markdown >> notes.md
    """
    if as_tex and as_md:
        raise click.UsageError("--latex and --markdown are two formats: choose one")
    fn, values, label = _prepare(target, inputs, seed, memory_limit)
    g = _trace(fn, values, memory_limit, loss)
    names = list(dict.fromkeys(wrt)) or [n for n, node in g.inputs.items() if node.differentiable]
    if not names:
        raise click.ClickException(f"{label} has no float input: there is no gradient to derive")
    for name in names:
        _has_gradient(g, name, label, "--wrt")
    derivations = []
    for name in names:
        try:
            derivations.append(g.derivation(name, max_paths))
        except PathLimitError:
            count = g.backward_pass.path_count(g.node(name))
            raise click.ClickException(f"{name} reaches the loss by {count_text(count)} paths, more than "
                                       f"--max-paths {max_paths}: raise it, or leave {name} out with --wrt") from None
    source = None
    if isinstance(fn, Expression):
        loss_text = label
    else:
        source, _, func = label.rpartition(":")
        loss_text = f"{func}({', '.join(values)})"
    style = as_latex if as_tex else as_markdown if as_md else as_text
    _print_utf8(style(loss_text, derivations, source))
    return 0 if all(d.verified for d in derivations) else 1


def _print_utf8(text: str) -> None:
    """``text`` on standard output, in its encoding when it can hold the text, else as UTF-8 bytes
    (formulas are Unicode wherever the output goes)."""
    if _encodable(text):
        click.echo(text)
        return
    sys.stdout.flush()
    sys.stdout.buffer.write((text + "\n").encode("utf-8"))
    sys.stdout.buffer.flush()


@main.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "render_all", is_flag=True, help="render every example")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), default=Path("."),
              show_default=True, help="directory for the rendered files (made if missing)")
@click.option("-f", "--format", "fmts", type=click.Choice(FORMATS), multiple=True,
              help="formats to write (repeatable; default svg)")
@click.option("--timeout", type=Seconds(), default=DEFAULT_TIMEOUT, show_default=True,
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
    click.echo(f"wrote {len(chosen) * len(fmts)} file(s) to {line(str(out_dir))}", err=True)


