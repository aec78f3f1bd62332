"""What the front ends share (CLI, Sphinx directive): reading inputs and finding the function to trace.

No click and no Sphinx here: errors are ``InputError`` (bad inputs or target: a usage error) and the
package's own errors. User text given as an expression is parsed by ``expr``, never run.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .errors import GraphvizBPError
from .expr import ExprError, parse

__all__ = ["InputError", "MAX_ELEMENTS", "Target", "parse_inputs", "resolve"]

MAX_ELEMENTS = 1_000_000  # per input given by shape
_SHAPE = re.compile(r"^\d+(x\d+)*$")
_FILE_TARGET = re.compile(r"^(?P<file>.+\.py):(?P<func>[A-Za-z_]\w*)$")
_MODULE_TARGET = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<func>[A-Za-z_]\w*)$")


class InputError(GraphvizBPError, ValueError):
    """An input specification or a target that cannot be used; ``what`` says which part."""

    def __init__(self, message: str, what: str = "input") -> None:
        self.what = what
        super().__init__(message)


def _load_array(spec: str, name: str, base: Path) -> np.ndarray:
    """``@file.npy``, ``@file.npz`` (the array called ``name``, or the only one) or ``@file.npz:key``."""
    text = spec[1:]
    path, key = text, ""
    if text.count(":") == 1 and not re.match(r"^[A-Za-z]:[\\/]", text):
        path, key = text.split(":")
    p = Path(path) if Path(path).is_absolute() else base / path
    if not p.is_file():
        raise InputError(f"{name}: no such file {path!r}")
    try:
        data = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{name}: cannot read {path!r} as .npy/.npz ({' '.join(str(exc).split())})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            keys = list(data.keys())
            choice = key or (name if name in keys else (keys[0] if len(keys) == 1 else None))
            if choice not in keys:
                raise InputError(f"{name}: {path!r} holds {', '.join(keys) or 'nothing'}; say which "
                                 f"with {name}=@{path}:KEY")
            data = data[choice]
    elif key:
        raise InputError(f"{name}: {path!r} is a .npy file; ':{key}' is for .npz files")
    if data.dtype.kind not in "biuf":
        raise InputError(f"{name}: {path!r} holds {data.dtype} values, not numbers")
    return data


def parse_inputs(items: Sequence[str], seed: int = 0, base: Path | None = None) -> dict[str, np.ndarray]:
    """``NAME=SHAPE`` (``3x5``, ``5``, ``scalar``: random normal values from ``seed``) or
    ``NAME=@file.npy`` / ``@file.npz[:KEY]`` (relative to ``base``) items, as arrays by name."""
    rng = np.random.default_rng(seed)
    base = base or Path.cwd()
    inputs: dict[str, np.ndarray] = {}
    for item in items:
        name, eq, spec = item.partition("=")
        name, spec = name.strip(), spec.strip()
        if not eq or not name.isidentifier() or not spec:
            raise InputError(f"{item!r} is not NAME=SHAPE (e.g. W=3x5, x=5, s=scalar) or NAME=@file.npy")
        if name in inputs:
            raise InputError(f"input {name!r} is given twice")
        if spec.startswith("@"):
            inputs[name] = _load_array(spec, name, base)
            continue
        if spec == "scalar":
            shape: tuple[int, ...] = ()
        elif _SHAPE.match(spec):
            shape = tuple(int(d) for d in spec.split("x"))
        else:
            raise InputError(f"{name}: {spec!r} is not a shape; write dimensions joined by x (3x5, 5) "
                             f"or 'scalar'")
        if any(d == 0 for d in shape):
            raise InputError(f"{name}: shape {spec} has a zero dimension")
        size = 1
        for d in shape:
            size *= d
            if size > MAX_ELEMENTS:
                raise InputError(f"{name}: shape {spec} has more than {MAX_ELEMENTS:,} elements; use a "
                                 f"smaller shape or load values from a file")
        inputs[name] = rng.normal(size=shape)
    return inputs


class Target:
    """A function to trace, the input names it needs (None: its signature decides) and a label."""

    def __init__(self, fn: Callable[..., Any], needs: list[str] | None, label: str) -> None:
        self.fn = fn
        self.needs = needs
        self.label = label

    def missing(self, inputs: dict[str, Any]) -> list[str]:
        return [n for n in (self.needs or []) if n not in inputs]


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
        raise InputError(f"{path} called exit({exc.code}) while loading", "function") from None
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
    return Target(fn, _required(fn), f"{where}:{func}")


def _required(fn: Callable[..., Any]) -> list[str] | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
