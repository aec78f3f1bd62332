"""One home per op: every op's NumPy call, ndarray method and expression-language spelling record the
same graph with the same gradients; every ndarray attribute works on traced values or is refused
with what to write instead; the drawing labels declared on the ops."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphviz_bp as gb
from graphviz_bp import functions, ops
from graphviz_bp.expr import FUNCTIONS, parse
from graphviz_bp.tracer import apply

from .test_ops_registry import CASES, _operands


def _case_id(case):
    op, i, ex = case
    return f"{op.name}-{i}"


def _inputs(op, i, ex):
    """The registry test's operands for this example (the same random values)."""
    return _operands(op, i, ex)[0]


def _args(ex, kw):
    return [ex.consts[k] if k in ex.consts else kw[f"a{k}"] for k in range(len(ex.shapes))]


def _numpy_call(op, ex, kw):
    """The op called as user code calls the NumPy function (or the public activation)."""
    args = _args(ex, kw)
    fn = op.numpy[0] if op.numpy else getattr(functions, op.name, None)
    if fn is None:
        return apply(op, *args, **ex.params)
    return ex.call(fn, *args) if ex.call else fn(*args, **ex.params)


def _method_call(op, name, ex, kw):
    args = _args(ex, kw)
    method = lambda self, *rest, **kwargs: getattr(self, name)(*rest, **kwargs)  # noqa: E731
    if ex.call:
        return ex.call(method, *args)
    if name in ("transpose", "swapaxes", "reshape"):  # ndarray takes these positionally only
        return method(*args, *ex.params.values())
    return method(*args, **ex.params)


def _ops(g):
    return [n.op.name for n in g.nodes if n.kind == "op"]


def _trace(fn, values):
    out = None

    def loss(**kw):
        nonlocal out
        out = fn(kw)
        return np.sum(out * np.linspace(0.5, 1.5, out.size).reshape(out.shape))

    return gb.trace(loss, values), out


def _same(g, h, keys):
    assert _ops(g) == _ops(h)
    assert g.value == pytest.approx(h.value, rel=1e-12, abs=1e-12)
    for key in keys:
        np.testing.assert_allclose(g.grad(key), h.grad(key), rtol=1e-12, atol=1e-12)


METHOD_CASES = [(op, i, ex, m) for op, i, ex in CASES for m in op.methods]


@pytest.mark.parametrize("case", METHOD_CASES, ids=[f"{c[3]}-{c[0].name}-{c[1]}" for c in METHOD_CASES])
def test_method_spelling_records_the_same_graph_as_the_numpy_call(case):
    op, i, ex, name = case
    kw = _inputs(op, i, ex)
    g, _ = _trace(lambda v: _numpy_call(op, ex, v), kw)
    h, out = _trace(lambda v: _method_call(op, name, ex, v), kw)
    _same(g, h, kw)
    assert op.name in _ops(h)
    # and the method computes what ndarray's own method computes
    np.testing.assert_allclose(out.value, _method_call(op, name, ex, kw), rtol=1e-12, atol=1e-12)


class _Name:
    """A placeholder operand that prints as its name in the expression."""

    def __init__(self, name):
        self.name = name


class _Call:
    def __init__(self, args, kwargs):
        self.args, self.kwargs, self.item = args, kwargs, None

    def __getitem__(self, k):
        self.item = k
        return self


def _literal(v):
    if isinstance(v, _Name):
        return v.name
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_literal(x) for x in v)
        return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
    if v is None or isinstance(v, (bool, int, float, str)):
        return repr(v)
    raise TypeError(f"no literal for {v!r}")


def _expression(op, ex):
    """The example written in the expression language, or None where it has no literal spelling."""
    names = [_Name(f"a{k}" if k not in ex.consts else f"c{k}") for k in range(len(ex.shapes))]
    capture = lambda *a, **k: _Call(a, k)  # noqa: E731
    call = ex.call(capture, *names) if ex.call else _Call(tuple(names), dict(ex.params))
    try:
        parts = [_literal(a) for a in call.args] + [f"{k}={_literal(v)}" for k, v in call.kwargs.items()]
    except TypeError:
        return None
    return f"{op.expr_name}({', '.join(parts)})" + ("" if call.item is None else f"[{call.item!r}]")


# An example whose call has no literal spelling (a dtype object, as in astype's first example) is
# left out; test_every_op_with_a_spelling_is_reachable_from_an_expression checks that every op
# with a spelling still has at least one example written in the language.
EXPR_CASES = [(op, i, ex) for op, i, ex in CASES if op.expr_name is not None and _expression(op, ex) is not None]


@pytest.mark.parametrize("case", EXPR_CASES, ids=[_case_id(c) for c in EXPR_CASES])
def test_expression_spelling_records_the_same_graph_as_the_numpy_call(case):
    op, i, ex = case
    text = _expression(op, ex)
    kw = _inputs(op, i, ex)
    consts = {f"c{k}": np.asarray(v) for k, v in ex.consts.items()}
    expr = parse(text)
    g, _ = _trace(lambda v: _numpy_call(op, ex, v), kw)
    h, _ = _trace(lambda v: expr.evaluate(v), {**kw, **consts})
    _same(g, h, kw)


def test_every_op_with_a_spelling_is_reachable_from_an_expression():
    spelled = {op.name for op, i, ex in EXPR_CASES if _expression(op, ex) is not None}
    assert spelled == {op.name for op in ops.all_ops() if op.expr_name is not None}
    assert {op.expr_name for op in ops.all_ops() if op.expr_name} <= set(FUNCTIONS)
    assert {"eye", "ones", "zeros", "arange", "full", "abs", "norm", "slogdet", "solve"} <= set(FUNCTIONS)


# every ndarray attribute ------------------------------------------------------------------------------

#: Python's object protocol and NumPy's internals: what any object has.
_OBJECT = {"__class__", "__delattr__", "__dir__", "__doc__", "__getattribute__", "__init__",
           "__init_subclass__", "__new__", "__setattr__", "__sizeof__", "__subclasshook__", "__getstate__",
           "__hash__", "__repr__", "__str__", "__format__", "__array_priority__", "__eq__", "__ne__"}
#: Refused when called: each says what to write instead.
_REFUSED = {"item", "tolist", "tobytes", "tofile", "dump", "dumps", "partition", "put",
            "resize", "setfield", "setflags", "byteswap", "getfield", "choose", "compress", "__reduce__",
            "__reduce_ex__", "__setstate__", "__array_namespace__", "__dlpack__", "__dlpack_device__",
            "__float__", "__int__", "__complex__", "__index__", "__delitem__", "__array__",
            "__array_wrap__", "__array_finalize__", "__ifloordiv__", "__iand__", "__ior__",
            "__ixor__", "__ilshift__", "__irshift__"}
#: Refused when read.
_REFUSED_ATTRIBUTES = {"flat", "base", "data", "ctypes", "__array_interface__", "__array_struct__"}


@pytest.mark.parametrize("name", sorted(dir(np.ndarray)))
def test_every_ndarray_attribute_works_or_is_refused_with_advice(name):
    def f(x, i):
        if name in _REFUSED_ATTRIBUTES:
            with pytest.raises((gb.TraceError, gb.UnsupportedOpError), match="instead|use|read|after"):
                getattr(x, name)
            return np.sum(x)
        attr = getattr(x, name)  # never a bare AttributeError
        if name in _REFUSED:
            with pytest.raises((gb.TraceError, gb.UnsupportedOpError)) as err:
                attr(*([0] if name in ("__setitem__", "__delitem__") else []),
                     *([1.0] if name.startswith("__i") or name == "__setitem__" else []))
            text = str(err.value)
            assert re.search(r"[;:] \w", text), text  # what to do instead, after the reason
            assert not isinstance(err.value, AttributeError)
        return np.sum(x)

    gb.trace(f, x=np.arange(6.0).reshape(2, 3), i=np.array([1, 0]))


def test_ndarray_python_protocols_work_on_traced_values():
    x0 = np.array([[1.5, -2.25, 0.5], [3.0, 0.25, -1.0]])

    def f(x):
        assert len(x) == 2 and x.ndim == 2 and x.size == 6 and x.shape == (2, 3) and x.dtype == np.float64
        assert np.array_equal(round(x), np.round(x0)) and np.array_equal(x // 1, x0 // 1)
        assert np.array_equal(x.argmax(axis=1), x0.argmax(axis=1)) and x.any() and x.all()
        assert np.array_equal(x.nonzero()[0], x0.nonzero()[0]) and np.array_equal(x.argsort(), x0.argsort())
        assert 0.5 in x and f"{x[0, 0]:.2f}" == "1.50" and x.real is x and not np.any(x.imag)
        assert np.array_equal(x.astype(int), x0.astype(int))  # to integers: a constant
        q, r = divmod(x, 2.0)
        return np.sum(abs(x)) + np.sum(x.mT @ x) + np.sum(r) + np.sum(x % 1.5) + np.sum(x.conj() * x.copy())

    g = gb.trace(f, x=x0)
    h = gb.trace(lambda x: np.sum(np.abs(x)) + np.sum(x.T @ x) + np.sum(x % 2.0) + np.sum(x % 1.5) + np.sum(x * x), x=x0)
    np.testing.assert_allclose(g.grad("x"), h.grad("x"))
    assert g.value == pytest.approx(h.value)
    assert [n for n in ("abs", "transpose", "remainder", "conj", "copy") if n not in
            [m.op.name for m in g.nodes if m.op]] == []


@pytest.mark.parametrize("misuse,words", [
    (lambda x: x.item(), "x.value.item()"),
    (lambda x: x.tolist(), "index it"),
    (lambda x: x.tobytes(), "x.value.tobytes()"),
    (lambda x: float(x[0]), "use it in array arithmetic"),
    (lambda x: int(x[0]), "x.astype(int)"),
    (lambda x: x.partition(1), "np.sort(x)"),
    (lambda x: x.__ifloordiv__(1), "x = x // y"),
    (lambda x: x.flat, "x.ravel()"),
])
def test_what_ends_tracing_says_what_to_write_instead(misuse, words):
    with pytest.raises(gb.TraceError, match="drop it from the graph") as err:
        gb.trace(misuse, x=np.ones(3))
    assert words in str(err.value)


def test_mT_needs_two_axes_and_swaps_the_last_two():
    g = gb.trace(lambda x: np.sum(x.mT * np.arange(6.0).reshape(3, 2, 1)), x=np.ones((3, 1, 2)))
    np.testing.assert_array_equal(g.grad("x"), np.arange(6.0).reshape(3, 1, 2))
    assert [n.params.get("axes") for n in g.nodes if n.op is not None and n.op.name == "transpose"] == [(0, 2, 1)]
    with pytest.raises(gb.ShapeError, match="at least two dimensions"):
        gb.trace(lambda x: np.sum(x.mT), x=np.ones(3))


def test_astype_to_float_is_recorded_and_to_int_is_a_constant():
    g = gb.trace(lambda x: np.sum(x.astype(np.float32) * 2) + np.sum(x * x.astype(np.int64)), x=np.array([1.5, 2.5]))
    assert [n.op.name for n in g.nodes if n.op] == ["astype", "multiply", "sum", "multiply", "sum", "add"]
    np.testing.assert_allclose(g.grad("x"), [2 + 1, 2 + 2])


# drawing labels --------------------------------------------------------------------------------------

@pytest.mark.parametrize("op,params,consts,label", [
    ("power", {}, [None, 2.0], "(·)²"),
    ("power", {}, [None, np.float64(3)], "(·)³"),
    ("power", {}, [None, np.int64(0)], "(·)⁰"),
    ("power", {}, [None, 10.0], "(·)^(·)"),
    ("power", {}, [None, 0.5], "(·)^(·)"),
    ("power", {}, [None, -1.0], "(·)^(·)"),
    ("power", {}, [None, None], "(·)^(·)"),
    ("power", {}, [], "(·)^(·)"),
    ("sum", {"axis": 0, "keepdims": False}, [None], "Σ axis 0"),
    ("sum", {"axis": (0, 2), "keepdims": True}, [None], "Σ axis (0, 2)"),
    ("sum", {"axis": None, "keepdims": False}, [None], "Σ"),
    ("mean", {"axis": -1, "keepdims": False}, [None], "mean axis -1"),
    ("mean", {"axis": None}, [None], "mean"),
    ("transpose", {"axes": (1, 0)}, [None], "(·)ᵀ axes (1, 0)"),
    ("transpose", {"axes": [2, 0, 1]}, [None], "(·)ᵀ axes (2, 0, 1)"),
    ("transpose", {"axes": None}, [None], "(·)ᵀ"),
    ("index", {"index": (slice(1, 3), 0), "text": "[1:3, 0]"}, [None], "[1:3, 0]"),
    ("index", {"index": (0,), "text": ""}, [None], "[·]"),
    ("einsum", {"subscripts": "ij,jk->ik"}, [None, None], "einsum ij,jk->ik"),
    ("reshape", {"shape": (2, 3)}, [None], "reshape 2×3"),
    ("reshape", {"shape": (6,)}, [None], "reshape 6"),
    ("reshape", {"shape": ()}, [None], "reshape scalar"),
    ("max", {"axis": 0, "keepdims": False}, [None], "max axis 0"),
    ("max", {"axis": None, "keepdims": False}, [None], "max"),
    ("maximum", {}, [None, None], "max(·, ·)"),
    ("matmul", {}, [None, None], "@"),
    ("exp", {}, [None], "exp"),
])
def test_display_label_is_the_textbook_symbol(op, params, consts, label):
    assert ops.display_label(ops.get(op), params, consts) == label


def test_display_label_matches_the_recorded_nodes():
    def f(x, W):
        return np.sum(x ** 2) + np.sum(np.mean(W.reshape(3, 2).T, axis=0)) + np.sum(W[1:, 0])

    g = gb.trace(f, x=np.ones(3), W=np.ones((2, 3)))
    labels = []
    for n in g.nodes:
        if n.op is not None:
            consts = [e.src.value if e.src.kind == "const" and e.src.value.shape == () else None for e in n.in_edges]
            labels.append(ops.display_label(n.op, n.params, consts))
    assert labels == ["(·)²", "Σ", "reshape 3×2", "(·)ᵀ", "mean axis 0", "Σ", "+", "[1:, 0]", "Σ", "+"]


def test_the_readme_lists_every_function_of_the_language():
    from pathlib import Path

    from graphviz_bp.expr import function_list

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- functions:", 1)[1].split("```", 2)[1]
    assert block.strip() == function_list().strip()


def test_comparisons_and_logic_make_masks_that_carry_no_gradient():
    z = np.array([-1.0, 2.0, 0.5])
    np.testing.assert_array_equal(gb.evaluate("z * greater(z, 0)", z=z), [0.0, 2.0, 0.5])
    np.testing.assert_array_equal(gb.evaluate("logical_and(greater(z, 0), less(z, 1))", z=z),
                                  [False, False, True])
    g = gb.trace(parse("sum(z ** 2 * greater_equal(z, 0.5))"), z=z)
    np.testing.assert_array_equal(g.grad("z"), [0.0, 4.0, 1.0])  # 2z where z ≥ 0.5: the mask is a constant
    with pytest.raises(gb.GraphvizBPError, match=r"greater\(\) takes 2 arguments, got 1"):
        parse("greater(z)")
