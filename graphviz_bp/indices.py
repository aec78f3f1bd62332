"""Index keys: a Python index (``x[1:, mask]``, ``a[np.arange(n), y]``) as an op's params, with
traced index arrays as operands, and as text for the drawing."""

from __future__ import annotations

import ast
import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import TraceError
from .ops.indexing import Slot

if TYPE_CHECKING:
    from .traced import Traced

__all__ = ["index_key", "same_basic_index", "source_index"]


def index_key(key: Any, operands: int = 1) -> tuple[tuple[Any, ...], list[Traced], str]:
    """An index as a tuple NumPy accepts, with each traced index array replaced by a ``Slot`` (those
    arrays become operands after the op's ``operands`` others: drawn as edges, never
    differentiated), and as text for the drawing, e.g. ``[arange(4), y]``."""
    from .traced import Traced  # the value type, which calls this from its __getitem__

    parts = key if isinstance(key, tuple) else (key,)
    index: list[Any] = []
    arrays: list[Traced] = []
    texts: list[str] = []
    for k in parts:
        if type(k) is Traced:
            if k.dtype.kind not in "biu":
                raise TraceError(f"an index must be integers or booleans, not {k.dtype} ({k._node.name})")
            arrays.append(k)
            index.append(Slot(len(arrays) + operands - 1, k.dtype.kind == "b"))
            texts.append(k._node.name or "index")
        elif isinstance(k, slice):
            if any(type(v) is Traced for v in (k.start, k.stop, k.step)):
                bounds = [v for v in (k.start, k.stop, k.step) if type(v) is Traced]
                if any(v.ndim or v.dtype.kind not in "iu" for v in bounds):
                    raise TraceError("slice bounds cannot be traced values, but for integers (a length n[0] "
                                     "given as an input), which are read as numbers")
                # an integer bound (x[:n[0]]): its number, as NumPy reads it (no gradient flows through it)
                k = slice(*(int(v._node.value) if type(v) is Traced else v for v in (k.start, k.stop, k.step)))
            index.append(k)
            texts.append(":".join("" if v is None else str(v) for v in (k.start, k.stop)) +
                         ("" if k.step is None else f":{k.step}"))
        elif k is None or k is Ellipsis:
            index.append(k)
            texts.append("newaxis" if k is None else "...")
        elif isinstance(k, (int, np.integer)):
            index.append(k)
            texts.append(str(k))
        else:
            arr = np.asarray(k)
            if arr.dtype.kind not in "biu":
                raise TraceError(f"an index must be integers, slices or booleans, not {arr.dtype}")
            index.append(arr)
            kind = "mask" if arr.dtype.kind == "b" else "indices"
            texts.append(str(arr.tolist()) if arr.size <= 4 and arr.ndim <= 1
                         else f"{kind} {'×'.join(map(str, arr.shape))}")
    return tuple(index), arrays, "[" + ", ".join(texts) + "]"


def same_basic_index(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two indices are the same basic index (ints, slices, None, ...); False when either
    holds an array."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, (bool, np.bool_)) or isinstance(y, (bool, np.bool_)):
            return False  # a 0-d mask, not an integer
        if isinstance(x, (int, np.integer)) and isinstance(y, (int, np.integer)):
            if x != y:
                return False
        elif isinstance(x, slice) and isinstance(y, slice):
            if x != y:
                return False
        elif not (x is y and (x is None or x is Ellipsis)):
            return False  # arrays, or different kinds of index
    return True


def source_index(text: str) -> str:
    """The index as the user wrote it on the line being run, when that line is one assignment
    ``name[...] = ...`` or ``name[...] op= ...`` (``[h < 0]``), else ``text``."""
    from .tracer import _caller

    source = _caller()
    line = source.line if source is not None and not hasattr(source, "column") else ""
    if not line:
        return text
    try:
        tree = ast.parse(line)
    except SyntaxError:
        return text
    if len(tree.body) != 1:
        return text
    stmt = tree.body[0]
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] \
        if isinstance(stmt, ast.AugAssign) else []
    if len(targets) != 1 or not isinstance(targets[0], ast.Subscript):
        return text
    segment = ast.get_source_segment(line, targets[0].slice)
    return f"[{segment}]" if segment and len(segment) <= 40 else text


def source_gather(text: str) -> str:
    """A gather's index as the user wrote it (``[pos_mask]``, where ``text`` would be ``[mask 2×4]``),
    when the line being run reads one index only, outside what it assigns into; else ``text``."""
    from .tracer import _caller

    source = _caller()
    line = source.line if source is not None and not hasattr(source, "column") else ""
    read = _read_indices(line.strip()) if line else ()
    return f"[{read[0]}]" if len(read) == 1 and len(read[0]) <= 40 else text


@functools.lru_cache(maxsize=1024)  # a loop's line, read once
def _read_indices(line: str) -> tuple[str, ...]:
    """The distinct indices ``line`` reads with ``a[...]``, those of its assignment's targets aside."""
    try:
        tree = ast.parse(line)
    except SyntaxError:
        return ()
    if len(tree.body) != 1:
        return ()
    stmt = tree.body[0]
    # (an augmented assignment's target is read too: x[m] += v reads x[m])
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
    written = {id(t) for t in targets}
    seen: dict[str, None] = {}
    for node in ast.walk(stmt):
        if isinstance(node, ast.Subscript) and id(node) not in written:
            segment = ast.get_source_segment(line, node.slice)
            if segment:
                seen[segment] = None
    return tuple(seen)
