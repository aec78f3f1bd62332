"""NumPy's floating-point warnings during a trace and its backward pass, told at the user's line.

NumPy warns at the Python line that called the ufunc: in a trace that is graphviz_bp's (an op's
forward in the tracer, its gradient rule in the backward pass), never the user's. While ``told()``
is active, every error NumPy would warn about calls ``_heard`` instead, which finds the op in the
stack and warns at the line of the user's code that made it, naming the op, and the gradient when
the backward pass met it::

    loss.py:3: RuntimeWarning: invalid value encountered in the gradient of sqrt
      r = np.sqrt(x ** 2)

What the program set stays so: errors it ignores or raises are not touched, and those it sends to
its own callback (``np.errstate(call=f)``, 'call' or 'log') still go there.
"""

from __future__ import annotations

import contextlib
import dis
import os
import sys
import warnings
from typing import Any, Iterator

import numpy as np

from .backward import backward
from .tracer import apply

__all__ = ["told"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_FORWARD = apply.__code__
_BACKWARD = backward.__code__
_KINDS = {"divide by zero": "divide", "overflow": "over", "underflow": "under", "invalid value": "invalid"}

# what each active told() found: the program's settings and its own callback (innermost last)
_ACTIVE: list[tuple[dict[str, str], Any]] = []


@contextlib.contextmanager
def told() -> Iterator[None]:
    """NumPy's floating-point warnings told at the user's line while the block runs (a trace and
    its backward pass): see the module's documentation."""
    settings = {k: v for k, v in np.geterr().items() if k in _KINDS.values()}
    if "warn" not in settings.values():  # nothing is warned about: nothing to move
        yield
        return
    # every kind the program warns about, calls or logs comes here (NumPy has one callback for all)
    moved = {k: ("call" if v in ("warn", "call", "log") else v) for k, v in settings.items()}
    _ACTIVE.append((settings, np.geterrcall()))
    try:
        with np.errstate(call=_heard, **moved):
            yield
    finally:
        _ACTIVE.pop()


def _heard(err: str, flag: int) -> None:
    """NumPy's call for a floating-point error ``err`` ("divide by zero"): what the program set for
    its kind (its own callback, or its log), or, where it warns, a RuntimeWarning at the user's line
    naming the op (found in the stack: the tracer's or the backward pass's frame)."""
    settings, theirs = _ACTIVE[-1] if _ACTIVE else ({}, None)
    kind = settings.get(_KINDS.get(err, ""), "warn")
    if kind == "call" and theirs is not None:
        theirs(err, flag)
        return
    frame = sys._getframe(1)
    if kind == "log" and theirs is not None:
        what = _ufunc(frame)
        theirs.write(f"Warning: {err} encountered in {what}\n" if what else f"Warning: {err} encountered\n")
        return
    user = None
    while frame is not None:
        code = frame.f_code
        if code is _FORWARD or code is _BACKWARD:
            names = frame.f_locals
            op, source = (names.get("op"), names.get("source")) if code is _FORWARD else \
                (getattr(names.get("n"), "op", None), getattr(names.get("n"), "source", None))
            if op is not None and source is not None:
                what = op.name if code is _FORWARD else f"the gradient of {op.name}"
                _warn(f"{err} encountered in {what}", source.filename, source.lineno)
                return
        if user is None and not code.co_filename.startswith(_PACKAGE):
            user = frame
        frame = frame.f_back
    what = _ufunc(sys._getframe(1))  # the user's own NumPy, on values not traced: what it called
    message = f"{err} encountered in {what}" if what else f"{err} encountered"
    if user is not None:
        _warn(message, user.f_code.co_filename, user.f_lineno, user.f_globals)
    else:
        warnings.warn(message, RuntimeWarning, stacklevel=2)


_OPERATORS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "//": "floor_divide", "%": "remainder",
              "**": "power", "@": "matmul"}


def _ufunc(frame: Any) -> str | None:
    """The NumPy function ``frame`` is calling (``np.log(x)``: log; ``x ** 3``: power), as NumPy
    names it in its warnings; None when the bytecode does not tell."""
    from .traced import _callee  # (the tracer's reading of a call, which imports this module's users)

    ufunc = frame.f_locals.get("ufunc")  # NumPy's dispatch to an array type's __array_ufunc__
    if isinstance(ufunc, np.ufunc):
        return ufunc.__name__
    name = _callee(frame)
    if name is not None:
        return name
    for ins in dis.get_instructions(frame.f_code):
        if ins.offset == frame.f_lasti and ins.opname == "BINARY_OP":
            return _OPERATORS.get(ins.argrepr.rstrip("="))
    return None


_REGISTRIES: dict[str, dict[Any, Any]] = {}  # warnings already shown, by file (as each module's own)


def _warn(message: str, filename: str, lineno: int, module_globals: dict[str, Any] | None = None) -> None:
    """A RuntimeWarning at ``filename:lineno``, shown once per place as Python's default does, and
    filtered by its module's name as a warning of that module (``filterwarnings(module=...)``)."""
    if module_globals is None:
        module_globals = _module_at(filename)
    registry = module_globals.setdefault("__warningregistry__", {}) if module_globals is not None else \
        _REGISTRIES.setdefault(filename, {})
    module = module_globals.get("__name__") if module_globals is not None else None
    if module is None:  # (passing module=None would match no filter, and show nothing)
        warnings.warn_explicit(message, RuntimeWarning, filename, lineno, registry=registry)
    else:
        warnings.warn_explicit(message, RuntimeWarning, filename, lineno, module=module, registry=registry)


def _module_at(filename: str) -> dict[str, Any] | None:
    """The globals of the loaded module whose file is ``filename`` (None: none is)."""
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) == filename:
            return vars(module)
    main = sys.modules.get("__main__")
    return vars(main) if main is not None and getattr(main, "__file__", None) == filename else None
