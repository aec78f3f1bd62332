"""Exceptions raised by graphviz_bp: one base class, each subclass also a builtin exception."""

from __future__ import annotations

__all__ = [
    "GraphvizBPError",
    "MemoryLimitError",
    "NonScalarOutputError",
    "OpError",
    "OutputChoiceError",
    "PathLimitError",
    "ShapeError",
    "TraceError",
    "UnsupportedOpError",
    "UserCodeError",
]


class GraphvizBPError(Exception):
    """Base class of every error graphviz_bp raises on purpose."""


class ShapeError(GraphvizBPError, ValueError):
    """An operation got operands whose shapes do not fit (names the op, the shapes, the line).

    ``detail`` is the message without the location; ``location`` says where (the user's line).
    """

    def __init__(self, detail: str, location: str | None = None) -> None:
        self.detail = detail
        self.location = location
        super().__init__(f"{detail}\n  at {location}" if location else detail)


class OpError(GraphvizBPError, ValueError):
    """An operation NumPy refused for its values, not its shapes (a singular matrix, an index out
    of range...); names the op, the shapes and the user's line."""

    def __init__(self, detail: str, location: str | None = None) -> None:
        self.detail = detail
        self.location = location
        super().__init__(f"{detail}\n  at {location}" if location else detail)


class UnsupportedOpError(GraphvizBPError, NotImplementedError):
    """A NumPy function, ufunc method or argument that the tracer cannot record or differentiate."""


class TraceError(GraphvizBPError, TypeError):
    """The traced function used a traced value in a way that would silently drop it from the graph."""


class OutputChoiceError(TraceError):
    """A traced function returned several values and ``output=`` did not pick one of them. The
    message is written with ``{option}`` where the choice is named; ``explain`` fills it in
    (``output=`` in the API, ``--loss`` on the command line)."""

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(self.explain("output="))

    def explain(self, option: str) -> str:
        """The message, naming ``option`` as the way to choose."""
        return self.template.replace("{option}", option)


class NonScalarOutputError(GraphvizBPError, ValueError):
    """Reverse mode on a non-scalar output without a ``seed`` (the output cotangent); ``shape`` is
    the output's shape."""

    def __init__(self, message: str, shape: tuple[int, ...] = ()) -> None:
        self.shape = tuple(shape)
        super().__init__(message)


class MemoryLimitError(GraphvizBPError, MemoryError):
    """An array would take the trace past its memory limit; refused before NumPy allocates it.

    ``what`` names the op, its operand shapes and the result's shape; ``needed``, ``held`` (what
    the trace already created) and ``limit`` are in bytes; ``location`` is the user's line. The
    message names the API's keyword ``memory_limit=``; front ends re-word it with ``explain``.
    """

    def __init__(self, what: str, needed: int, limit: int, held: int = 0, location: str | None = None) -> None:
        self.what, self.needed, self.limit, self.held, self.location = what, needed, limit, held, location
        super().__init__(self.explain("memory_limit="))

    def explain(self, option: str) -> str:
        """The message, naming ``option`` as the way to raise the limit."""
        held = f" (the trace already holds {format_bytes(self.held)})" if self.held else ""
        text = (f"{self.what} needs {format_bytes(self.needed)}{held}, over the memory limit of "
                f"{format_bytes(self.limit)}; raise it with {option} or use smaller arrays")
        return f"{text}\n  at {self.location}" if self.location else text


class UserCodeError(GraphvizBPError, RuntimeError):
    """The user's own code raised an exception (or called ``sys.exit``) while it was traced or
    loaded; ``where`` is its file, line and function when known, ``error`` the original exception."""

    def __init__(self, message: str, where: str | None = None, error: BaseException | None = None) -> None:
        self.where = where
        self.error = error
        super().__init__(f"{where}: {message}" if where else message)


class PathLimitError(GraphvizBPError, ValueError):
    """More input-to-output paths than the ``limit`` allows enumerating."""


def format_bytes(n: int) -> str:
    """A byte count for people.

    >>> format_bytes(512), format_bytes(3 * 2**30), format_bytes(80 * 10**9)
    ('512 bytes', '3 GiB', '74.5 GiB')
    """
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"
