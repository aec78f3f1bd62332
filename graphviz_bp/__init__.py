"""graphviz_bp: backpropagation diagrams from plain NumPy code, with the message on every edge."""

from __future__ import annotations

from .api import Drawing, Graph, Interactive, evaluate, trace
from .backward import BackwardPass, Contribution, Message, Step
from .check import BackwardCheck, CheckResult, GradientMatchError, InputCheck, check, check_backward
from .claims import ClaimVerdict
from .errors import (
    GraphvizBPError,
    MemoryLimitError,
    NonScalarOutputError,
    OpError,
    PathLimitError,
    ShapeError,
    TraceError,
    UnsupportedOpError,
    UserCodeError,
)
from .functions import log_softmax, logsumexp, put_along_axis, relu, sigmoid, softmax, swish
from .graph import Edge, Node, UnknownNodeError
from .ops import supported
from .drawing.render import GraphvizNotFoundError, RenderError, RenderTimeoutError
from .scopes import Scope, group
from .tracer import name
from .symbolic import Formula, Term

__version__ = "0.1.0"

__all__ = [
    "BackwardCheck",
    "BackwardPass",
    "CheckResult",
    "ClaimVerdict",
    "Contribution",
    "Drawing",
    "Edge",
    "Formula",
    "GradientMatchError",
    "Graph",
    "GraphvizBPError",
    "GraphvizNotFoundError",
    "InputCheck",
    "Interactive",
    "MemoryLimitError",
    "Message",
    "Node",
    "NonScalarOutputError",
    "OpError",
    "PathLimitError",
    "RenderError",
    "RenderTimeoutError",
    "Scope",
    "ShapeError",
    "Step",
    "Term",
    "TraceError",
    "UnknownNodeError",
    "UnsupportedOpError",
    "UserCodeError",
    "__version__",
    "check",
    "check_backward",
    "evaluate",
    "group",
    "log_softmax",
    "logsumexp",
    "name",
    "put_along_axis",
    "relu",
    "sigmoid",
    "softmax",
    "supported",
    "swish",
    "trace",
]
