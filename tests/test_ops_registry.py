"""Every op in the registry: VJP rules against central finite differences, shape rule against NumPy."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import graphviz_bp as gb
from graphviz_bp import ops
from graphviz_bp.tracer import apply

from .numerics import numerical_grad

CASES = [(op, i, ex) for op in ops.all_ops() for i, ex in enumerate(op.examples)]


def _case_id(case):
    op, i, ex = case
    return f"{op.name}-{i}-{'x'.join(str(s) for s in ex.shapes)}"


def _operands(op, i, ex):
    rng = np.random.default_rng(zlib.crc32(f"{op.name}/{i}".encode()))
    return {f"a{k}": ex.make[k](rng) if k in ex.make else rng.uniform(ex.low, ex.high, size=shape)
            for k, shape in enumerate(ex.shapes) if k not in ex.consts}, rng


def _call(op, ex, kw, use_numpy):
    args = [ex.consts[k] if k in ex.consts else kw[f"a{k}"] for k in range(len(ex.shapes))]
    if use_numpy and op.numpy:  # through NumPy's dispatch, as user code calls it
        return ex.call(op.numpy[0], *args) if ex.call else op.numpy[0](*args, **ex.params)
    return apply(op, *args, **ex.params)


def test_every_op_has_examples_and_one_rule_per_argument():
    for op in ops.all_ops():
        assert op.examples, f"{op.name} has no examples, so nothing tests its VJP rules"
        for ex in op.examples:
            assert op.arity is None or len(ex.shapes) == op.arity, f"{op.name}: example arity {len(ex.shapes)}"


def _reference(op, ex, values):
    """The op's value computed without graphviz_bp: by the NumPy function it stands for, called as
    user code calls it (so a forward or a binder that drifted from NumPy is caught), or by its own
    forward for the ops that have no NumPy counterpart (activations, indexing)."""
    args = [ex.consts[k] if k in ex.consts else values[f"a{k}"] for k in range(len(ex.shapes))]
    if op.numpy:
        return np.asarray(ex.call(op.numpy[0], *args) if ex.call else op.numpy[0](*args, **ex.params))
    return np.asarray(op.forward(*args, **ex.params))


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_vjp_matches_central_differences(case):
    op, i, ex = case
    inputs, rng = _operands(op, i, ex)
    expected_out = _reference(op, ex, inputs)
    seed = rng.normal(size=expected_out.shape)
    g = gb.trace(lambda **kw: _call(op, ex, kw, use_numpy=False), seed=seed, **inputs)
    np.testing.assert_allclose(g.value, expected_out, rtol=1e-12, atol=1e-12)
    shapes = [np.shape(ex.consts[k]) if k in ex.consts else ex.shapes[k] for k in range(len(ex.shapes))]
    assert op.shape(shapes, ex.params) == expected_out.shape, f"{op.name}: shape rule disagrees with NumPy"
    for key, value in inputs.items():
        def f(v, key=key):
            return float(np.sum(seed * _reference(op, ex, {**inputs, key: v})))
        fd = numerical_grad(f, value)
        assert g.grad(key).shape == value.shape
        np.testing.assert_allclose(g.grad(key), fd, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{op.name} VJP for {key} disagrees with finite differences")


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_numpy_callable_dispatches_to_op(case):
    op, i, ex = case
    inputs, _ = _operands(op, i, ex)
    expected = _reference(op, ex, inputs)
    g = gb.trace(lambda **kw: _call(op, ex, kw, use_numpy=True), seed=np.ones(expected.shape), **inputs)
    assert g.output.op is op
    np.testing.assert_allclose(g.output.value, expected, rtol=1e-12, atol=1e-12)  # the binder kept every argument
    assert [e.argnum for e in g.output.in_edges] == list(range(len(ex.shapes)))


def test_registry_rejects_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        ops.register(ops.get("add"))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_only_ops_declared_to_grow_make_results_larger_than_their_operands(case):
    """The memory limit skips the shape rule when the product of the operand sizes bounds the
    result; an op whose result can be larger must say so (``grows=True``)."""
    op, i, ex = case
    if op.grows:
        return
    kw, _ = _operands(op, i, ex)
    args = [np.asarray(ex.consts[k] if k in ex.consts else kw[f"a{k}"]) for k in range(len(ex.shapes))]
    out = np.asarray(op.forward(*args, **ex.params))
    bound = 1
    for a in args:
        bound *= max(a.size, 1)
    for p in ex.params.values():
        for part in (p if type(p) is tuple else (p,)):
            if type(part) is np.ndarray:
                bound *= max(part.size, 1)
    assert out.size <= bound, (op.name, [a.shape for a in args], out.shape)
