"""The CLI's and Sphinx directive's expression language: the NumPy subset written in papers.

An expression is parsed with ``ast`` and checked against an allow-list of node types (``check``),
then interpreted (``interpret``); it is never passed to ``eval`` or ``exec``, and no attribute is
looked up on anything except ``.T`` and ``.mT``. Allowed: input names, numbers, ``+ - * / ** @``,
unary ``-`` and ``+``, ``.T``, ``.mT``, parentheses, indexing (``x[0]``, ``x[1:3, ::-1]``,
``x[None]``, ``x[..., 0]``, ``x[[0, 2]]``, ``logp[arange(n), y]``, ``slogdet(K)[1]``) and calls to
the functions in ``FUNCTIONS``, bare or as ``np.f`` / ``numpy.f`` (``np.linalg.f`` for the
functions of ``np.linalg``). ``FUNCTIONS`` (``language``) is made from the op registry: every op by
its NumPy name (``ops.Op.expr_name``), the activations of ``graphviz_bp.functions``, and the
constructors ``eye ones zeros arange full``. Arguments other than the arrays (axes, shapes,
repeats, offsets, ``keepdims=``, einsum subscripts) are literals: integers, numbers, tuples and
lists of them, ``None``, ``True``/``False`` and short strings. Length, size, nesting, integers and
constant arrays are bounded (``source``), and anything outside the language raises ``ExprError``
naming the token and its column. The package may import ``tracer``, ``ops``, ``graph``,
``errors``, ``functions`` and ``limits``; never the drawing stage or a front end.
"""

from __future__ import annotations

from .check import parse
from .interpret import Expression
from .language import FUNCTIONS, function_list
from .source import ExprError

__all__ = ["ExprError", "FUNCTIONS", "Expression", "function_list", "parse"]
