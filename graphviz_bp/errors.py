"""Exceptions raised by graphviz_bp: one base class, each subclass also a builtin exception."""

from __future__ import annotations

__all__ = [
    "GraphvizBPError",
    "NonScalarOutputError",
    "OpError",
    "PathLimitError",
    "ShapeError",
    "TraceError",
    "UnsupportedOpError",
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


class NonScalarOutputError(GraphvizBPError, ValueError):
    """Reverse mode on a non-scalar output without a ``seed`` (the output cotangent)."""


class PathLimitError(GraphvizBPError, ValueError):
    """More input-to-output paths than the ``limit`` allows enumerating."""
