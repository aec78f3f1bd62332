"""``np.vectorize`` on traced values: the Python function applied to each entry (a 0-d traced
value), the results stacked, as NumPy's loop does; installed with the buffers' wrappers while a
trace runs (see ``buffers.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import UnsupportedOpError

__all__ = ["vectorized_call"]

#: NumPy's own ``np.vectorize.__call__``.
NUMPY_CALL = np.vectorize.__call__


def vectorized_call(self: np.vectorize, *args: Any, **kwargs: Any) -> Any:
    """``f(*args)`` for ``f = np.vectorize(pyfunc)``: NumPy's own call, unless this thread is
    tracing and a traced value is among the arguments; then ``pyfunc`` runs on each entry of the
    broadcast arguments (traced entries as 0-d traced values) and the results are stacked."""
    if not tracing() or not holds_traced([list(args), list(kwargs.values())]):
        return NUMPY_CALL(self, *args, **kwargs)
    if kwargs or self.excluded or self.signature is not None:
        raise UnsupportedOpError("np.vectorize with keyword arguments, excluded= or signature= is not "
                                 "supported on traced values; call the function on the array itself")
    values = [operand(a) for a in args]
    shape = np.broadcast_shapes(*(np.shape(v) for v in values))
    flat = [np.broadcast_to(v, shape).reshape(-1) for v in values]
    size = int(np.prod(shape))
    results = [self.pyfunc(*(f[i] for f in flat)) for i in range(size)]
    if any(isinstance(r, tuple) for r in results):
        raise UnsupportedOpError("np.vectorize of a function returning several values is not supported "
                                 "on traced values")
    if not results:
        return NUMPY_CALL(self, *(np.zeros(np.shape(v)) for v in values))
    out = np.stack([operand(r) for r in results]).reshape(shape)
    if self.otypes:
        out = out.astype(self.otypes[0])
    return out


from .buffers import holds_traced, operand, tracing  # noqa: E402
