"""What the front ends share (CLI, Sphinx directive): reading inputs and finding the function to trace.

No click and no Sphinx here: errors are ``InputError`` (bad inputs or target: a usage error) and the
package's own errors. User text given as an expression is parsed by ``expr``, never run.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import io
import os
import re
import sys
import sysconfig
import unicodedata
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from .errors import GraphvizBPError, UserCodeError, format_bytes
from .expr import ExprError, parse
from .graph import shown_path
from .limits import DEFAULT_MEMORY_LIMIT

__all__ = ["InputError", "MAX_DIMENSIONS", "MAX_ELEMENTS", "Target", "call_user", "parse_inputs", "resolve"]

MAX_ELEMENTS = 1_000_000  # per input given by shape
MAX_DIMENSIONS = 32       # NumPy 1.x's limit; NumPy 2 allows 64, no drawing needs more than a few
_SHAPE = re.compile(r"^[0-9]{1,18}(x[0-9]{1,18})*$")
_FILE_TARGET = re.compile(r"^(?P<file>.+\.py):(?P<func>[A-Za-z_]\w*)$")
_MODULE_TARGET = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<func>[A-Za-z_]\w*)$")


class InputError(GraphvizBPError, ValueError):
    """An input specification or a target that cannot be used; ``what`` says which part."""

    def __init__(self, message: str, what: str = "input") -> None:
        self.what = what
        super().__init__(message)


def _npy_header(f: Any, what: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype in a .npy header, read without reading the data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"{what} is a .npy file of format version {version[0]}.{version[1]}, which "
                         f"is not supported here; save it with numpy.save")
    return tuple(shape), dtype


def _check_size(name: str, what: str, shape: tuple[int, ...], dtype: np.dtype, limit: int) -> None:
    if dtype.kind not in "biuf":
        raise InputError(f"{name}: {what} holds {dtype} values, not numbers")
    if len(shape) > MAX_DIMENSIONS:
        raise InputError(f"{name}: {what} has {len(shape)} dimensions, more than {MAX_DIMENSIONS}")
    nbytes = int(np.prod(shape, dtype=object)) * max(dtype.itemsize, 8)  # kept as float64
    if nbytes > limit:
        raise InputError(f"{name}: {what} holds a {'×'.join(map(str, shape)) or 'scalar'} {dtype} "
                         f"array ({format_bytes(nbytes)} as float64), over the memory limit of "
                         f"{format_bytes(limit)}; raise the limit or load a smaller array")


_HEADER_ROOM = 1 << 20  # bytes a file may hold besides its arrays' (headers, a zip's directory)


def _load_array(spec: str, name: str, base: Path, limit: int) -> np.ndarray:
    """``@file.npy``, ``@file.npz`` (the array called ``name``, or the only one) or ``@file.npz:key``.

    The array's header is read first: its size is checked against ``limit`` before any data is read
    (a small compressed file can hold a huge array). Unreadable files are input errors.
    """
    text = spec[1:]
    path, key = text, ""
    if text.count(":") == 1 and not re.match(r"^[A-Za-z]:[\\/]", text):
        path, key = text.split(":")
    p = Path(path) if Path(path).is_absolute() else base / path
    if not p.exists():
        raise InputError(f"{name}: no such file {path!r}")
    if p.is_dir():
        raise InputError(f"{name}: {path!r} is a folder, not a .npy or .npz file")
    what = repr(path)
    try:
        source: Path | io.BytesIO = p
        if not p.is_file():  # a pipe (-i x=@<(make_x)): read once, as far as the memory limit allows
            with open(p, "rb") as stream:
                raw = stream.read(limit + _HEADER_ROOM + 1)
            if len(raw) > limit + _HEADER_ROOM:
                raise InputError(f"{name}: {path!r} holds more than the memory limit of {format_bytes(limit)}")
            source = io.BytesIO(raw)
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                keys = [k[:-4] for k in zf.namelist() if k.endswith(".npy")]
                choice = key or (name if name in keys else (keys[0] if len(keys) == 1 else None))
                if choice not in keys:
                    raise InputError(f"{name}: {path!r} holds {', '.join(keys) or 'no arrays'}; say "
                                     f"which with {name}=@{path}:KEY")
                what = f"{path!r} (array {choice!r})"
                with zf.open(choice + ".npy") as f:
                    shape, dtype = _npy_header(f, what)
                    _check_size(name, what, shape, dtype, limit)
                with zf.open(choice + ".npy") as f:
                    data = np.lib.format.read_array(f, allow_pickle=False)
        else:
            if key:
                raise InputError(f"{name}: {path!r} is not a .npz file; ':{key}' is for .npz files")
            with (open(p, "rb") if isinstance(source, Path) else source) as f:
                f.seek(0)
                shape, dtype = _npy_header(f, what)
                _check_size(name, what, shape, dtype, limit)
                f.seek(0)
                data = np.load(f, allow_pickle=False)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the input's problem
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(f"{name}: cannot read {path!r} as .npy/.npz ({reason})") from None
    return data


def parse_inputs(items: Sequence[str], seed: int = 0, base: Path | None = None,
                 memory_limit: int = DEFAULT_MEMORY_LIMIT) -> dict[str, np.ndarray]:
    """``NAME=SHAPE`` (``3x5``, ``5``, ``scalar``: random normal values from ``seed``) or
    ``NAME=@file.npy`` / ``@file.npz[:KEY]`` (relative to ``base``) items, as arrays by name.

    Names are NFKC-normalised, as Python normalises identifiers (so ``𝑥=3`` is the ``x`` of an
    expression or a function's parameter). Each array must fit ``memory_limit``.
    """
    if seed < 0:
        raise InputError(f"the seed must be 0 or more, got {seed}")
    rng = np.random.default_rng(seed)
    base = base or Path.cwd()
    inputs: dict[str, np.ndarray] = {}
    for item in items:
        name, eq, spec = item.partition("=")
        name, spec = unicodedata.normalize("NFKC", name.strip()), spec.strip()
        if not eq or not name.isidentifier() or not spec:
            shown = item if len(item) <= 60 else item[:57] + "..."
            raise InputError(f"{shown!r} is not NAME=SHAPE (e.g. W=3x5, x=5, s=scalar) or NAME=@file.npy")
        if name in inputs:
            raise InputError(f"input {name!r} is given twice")
        if spec.startswith("@"):
            inputs[name] = _load_array(spec, name, base, memory_limit)
            continue
        if spec == "scalar":
            shape: tuple[int, ...] = ()
        elif re.fullmatch(r"[0-9]+(x[0-9]+)*", spec) and not _SHAPE.match(spec):
            raise InputError(f"{name}: shape {_clip(spec)} has more than {MAX_ELEMENTS:,} elements; "
                             f"use a smaller shape or load values from a file")
        elif _SHAPE.match(spec):
            shape = tuple(int(d) for d in spec.split("x"))
        else:
            raise InputError(f"{name}: {_clip(spec)!r} is not a shape; write dimensions joined by x "
                             f"(3x5, 5) or 'scalar'")
        if len(shape) > MAX_DIMENSIONS:
            raise InputError(f"{name}: shape {_clip(spec)} has {len(shape)} dimensions, more than "
                             f"{MAX_DIMENSIONS}")
        if any(d == 0 for d in shape):
            raise InputError(f"{name}: shape {_clip(spec)} has a zero dimension")
        size = 1
        for d in shape:
            size *= d
            if size > MAX_ELEMENTS:
                raise InputError(f"{name}: shape {_clip(spec)} has more than {MAX_ELEMENTS:,} elements; "
                                 f"use a smaller shape or load values from a file")
        if size * 8 > memory_limit:
            raise InputError(f"{name}: shape {_clip(spec)} needs {format_bytes(size * 8)}, over the "
                             f"memory limit of {format_bytes(memory_limit)}")
        inputs[name] = rng.normal(size=shape)
    return inputs


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


class Target:
    """A function to trace, the input names it needs and those it accepts (None: its signature
    does not say), and a label."""

    def __init__(self, fn: Callable[..., Any], needs: list[str] | None, label: str,
                 accepts: list[str] | None = None) -> None:
        self.fn = fn
        self.needs = needs
        self.label = label
        self.accepts = accepts

    def missing(self, inputs: dict[str, Any]) -> list[str]:
        """Inputs the function needs that ``inputs`` lacks."""
        return [n for n in (self.needs or []) if n not in inputs]

    def unexpected(self, inputs: dict[str, Any]) -> list[str]:
        """Names in ``inputs`` the function has no parameter for (an expression ignores unused ones)."""
        return [] if self.accepts is None else [n for n in inputs if n not in self.accepts]


def resolve(target: str, allow_files: bool = True, allow_modules: bool = False) -> Target:
    """An expression (parsed, never run), a ``FILE.py:FUNC`` or an importable ``module:func``."""
    text = target.strip()
    m = _FILE_TARGET.match(text) if allow_files else None
    if m:
        return _from_file(Path(m["file"]), m["func"])
    m = _MODULE_TARGET.match(text) if allow_modules else None
    if m:
        try:
            module = importlib.import_module(m["module"])
        except SystemExit as exc:
            raise InputError(f"importing {m['module']!r} called exit({exc.code!r})", "function") from None
        except Exception as exc:  # noqa: BLE001 - any failure to import is the target's problem
            raise InputError(f"cannot import {m['module']!r}: {type(exc).__name__}: "
                             f"{' '.join(str(exc).split())}", "function") from None
        return _function(module, m["func"], m["module"])
    try:
        expr = parse(target)
    except ExprError as exc:
        raise InputError(str(exc), "expression") from None
    return Target(expr, list(expr.names), target)


def _from_file(path: Path, func: str) -> Target:
    if not path.is_file():
        raise InputError(f"no such file {str(path)!r}", "function")
    spec = importlib.util.spec_from_file_location(f"graphviz_bp_user_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:
        raise InputError(f"{path} {_where(exc, path)}called exit({exc.code!r}) while loading",
                         "function") from None
    except Exception as exc:  # the user's file does not load: their error, told as such
        raise InputError(f"cannot load {path}: {_where(exc, path)}{type(exc).__name__}: "
                         f"{' '.join(str(exc).split())}", "function") from None
    finally:
        sys.path.pop(0)
    return _function(module, func, str(path))


def _where(exc: BaseException, path: Path) -> str:
    """``line N: `` of the user's file where ``exc`` arose, when known."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"line {exc.lineno}: "
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"line {line}: " if line else ""


def _function(module: Any, func: str, where: str) -> Target:
    fn = getattr(module, func, None)
    if not callable(fn):
        raise InputError(f"{where} defines no function {func!r}", "function")
    needs, accepts = _parameters(fn)
    return Target(fn, needs, f"{where}:{func}", accepts)


def _parameters(fn: Callable[..., Any]) -> tuple[list[str] | None, list[str] | None]:
    """The keyword parameters ``fn`` needs and those it accepts (None when its signature is
    unknown or takes ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None, None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None, None
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return [p.name for p in named if p.default is p.empty], [p.name for p in named]


# --------------------------------------------------------------------------------------------------
# the user's own code

_T = TypeVar("_T")
_OURS = tuple(os.path.dirname(os.path.abspath(m)) + os.sep for m in (__file__, np.__file__)) + tuple(
    os.path.abspath(p) + os.sep for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})


_INSTALLED = tuple(os.path.abspath(p) + os.sep for p in {sysconfig.get_paths()["purelib"],
                                                         sysconfig.get_paths()["platlib"]})


def _user_frame(exc: BaseException) -> str | None:
    """``file:line in function`` of the innermost frame of ``exc``'s traceback that is the user's
    code: not graphviz_bp, NumPy or the standard library, and preferably not an installed package
    their code called. None when there is none."""
    mine = installed = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        filename = os.path.abspath(code.co_filename)
        if not filename.startswith(_OURS) and not code.co_filename.startswith("<frozen"):
            where = f"{shown_path(filename)}:{tb.tb_lineno} in {code.co_name}"
            if filename.startswith(_INSTALLED):
                installed = where
            else:
                mine = where
        tb = tb.tb_next
    return mine or installed


def call_user(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """``fn(*args, **kwargs)``, where ``fn`` runs the user's code (a traced function, say).

    An exception raised while the user's code is on the stack becomes a ``UserCodeError`` naming
    their file, line and function (graphviz_bp's own errors pass unchanged); ``sys.exit`` in their
    code becomes one too, instead of ending the program.
    """
    try:
        return fn(*args, **kwargs)
    except GraphvizBPError:
        raise
    except SystemExit as exc:
        where = _user_frame(exc)
        raise UserCodeError(f"called sys.exit({exc.code!r})", where, exc) from None
    except Exception as exc:
        where = _user_frame(exc)
        if where is None:
            raise
        text = " ".join(str(exc).split())
        detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        if isinstance(exc, KeyError) and exc.args:
            detail = f"KeyError: {exc.args[0]!r} (no such key)"
        raise UserCodeError(detail[:500], where, exc) from None
