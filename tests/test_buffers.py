"""Buffers (``buffers.py``): arrays the traced function allocates itself (np.zeros, np.empty, np.ones,
np.full, their ``_like`` forms, np.copy, np.array) become traced when a traced value is written into
them, through views too; NumPy's namespace is wrapped only while a trace runs and only the tracing
thread gets buffers; after the trace they are plain arrays holding the forward values.

Every test proves values: the traced value equals the same function run by NumPy on copies of the
inputs, every gradient equals central differences (``gb.check``, relative error 1e-6) and HIPS
autograd on an equivalent functional version (autograd has no item assignment: ``ag_set`` below
places values with a constant one-hot matrix), or a closed form written here."""

from __future__ import annotations

import re
import threading

import autograd
import autograd.numpy as anp
import numpy as np
import pydot
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy import full_like as imported_full_like  # bound at import: NumPy's own, never wrapped
from numpy import zeros as imported_zeros

import graphviz_bp as gb
from graphviz_bp import buffers
from graphviz_bp.errors import TraceError, UnsupportedOpError

from .numerics import verify
from .dotgraph import all_nodes, frame_title

RTOL = 1e-6
THIS_FILE = "test_buffers.py"

#: The names NumPy's namespace has wrapped during a trace (a literal, so a change to buffers.py is noticed).
WRAPPED = ("zeros", "empty", "ones", "full", "zeros_like", "empty_like", "ones_like", "full_like", "copy",
           "eye", "identity", "arange", "linspace", "array", "asarray", "asanyarray")


# --- helpers ---------------------------------------------------------------------------------------

def normal(*shape, seed=0):
    """Inputs drawn the same whatever tests ran before."""
    return np.random.default_rng(seed).normal(size=shape)


def ops_named(g, name):
    return [n for n in g.nodes if n.op is not None and n.op.name == name]


def labelled_leaves(g):
    """The constant leaves drawn with a label: the promoted buffers."""
    return [n for n in g.nodes if n.kind == "const" and n.params.get("label")]


def ag_set(a, key, value):
    """``a[key] = value`` for autograd, without item assignment: the entries ``a[key]`` selects are
    dropped and ``value`` (broadcast to their shape) is placed there by a constant one-hot matrix.
    The key must select each entry at most once."""
    shape = anp.shape(a)
    size = int(np.prod(shape))
    where = np.arange(size).reshape(shape)[key]
    flat = np.ravel(where)
    assert np.unique(flat).size == flat.size, "ag_set needs a key without repeats"
    onehot = np.zeros((size, flat.size))
    onehot[flat, np.arange(flat.size)] = 1.0
    keep = 1.0 - onehot.sum(axis=1)
    placed = anp.dot(onehot, anp.reshape(value * np.ones(where.shape), (-1,)))
    return anp.reshape(anp.reshape(a, (-1,)) * keep + placed, shape)


def ag_iadd(a, key, value):
    return ag_set(a, key, a[key] + value)


def ag_imul(a, key, value):
    return ag_set(a, key, a[key] * value)


def test_ag_set_places_values_as_numpy_item_assignment_does():
    a = np.arange(12.0).reshape(3, 4)
    for key, value in [((0, 1), -1.0), (1, np.array([9.0, 8.0, 7.0, 6.0])), ((slice(None), 2), 5.0),
                       (a > 6, -2.0), (([0, 2], 3), np.array([10.0, 20.0]))]:
        expected = a.copy()
        expected[key] = value
        np.testing.assert_array_equal(ag_set(a, key, value), expected)


P = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])  # a plain array made before any trace
NESTED = [[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]]
K8 = np.arange(8.0).reshape(2, 4)  # constant weights
K4 = np.array([1.0, -2.0, 3.0, 0.5])  # constant weights


# --- 1. every allocator spelling, in a time-step loop ----------------------------------------------

# (how the function allocates its (3, 2) buffer, its contents before the first write (None: the numbers
# np.empty leaves, so every row is written), the label the promoted buffer is drawn with)
ALLOCATIONS = [
    pytest.param(lambda x: np.zeros((3, 2)), 0.0, "np.zeros 3×2", id="zeros"),
    pytest.param(lambda x: np.empty((3, 2)), None, "np.empty 3×2", id="empty"),
    pytest.param(lambda x: np.ones((3, 2)), 1.0, "np.ones 3×2", id="ones"),
    pytest.param(lambda x: np.full((3, 2), 2.5), 2.5, "np.full 3×2", id="full"),
    pytest.param(lambda x: np.zeros_like(x), 0.0, "np.zeros_like 3×2", id="zeros_like-traced"),
    pytest.param(lambda x: np.zeros_like(P), 0.0, "np.zeros_like 3×2", id="zeros_like-plain"),
    pytest.param(lambda x: np.empty_like(x), None, "np.empty_like 3×2", id="empty_like-traced"),
    pytest.param(lambda x: np.empty_like(P), None, "np.empty_like 3×2", id="empty_like-plain"),
    pytest.param(lambda x: np.ones_like(x), 1.0, "np.ones_like 3×2", id="ones_like-traced"),
    pytest.param(lambda x: np.ones_like(P), 1.0, "np.ones_like 3×2", id="ones_like-plain"),
    pytest.param(lambda x: np.full_like(x, -1.5), -1.5, "np.full_like 3×2", id="full_like-traced"),
    pytest.param(lambda x: np.full_like(P, 3.0), 3.0, "np.full_like 3×2", id="full_like-plain"),
    pytest.param(lambda x: np.copy(P), P, "np.copy 3×2", id="copy-plain"),
    pytest.param(lambda x: np.array(P), P, "np.array 3×2", id="array-plain"),
    pytest.param(lambda x: np.array(NESTED), P, "np.array 3×2", id="array-nested-list"),
]


def loop_program(make, start):
    def f(x):
        junk = P * 7.0  # memory of the buffer's size, freed with numbers in it: np.empty may get it back
        del junk
        out = make(x)
        for t in range(start, 3):  # a time-step loop writing rows
            out[t] = np.tanh(x[t]) * (t + 1)
        out[:2, 1:] += x[1:, :1] * x[:2, 1:]  # += into a slice, reaching row 0 too
        return np.sum(out * out) + np.sum(out[0] * x[0])
    return f


def loop_program_ag(initial, start):
    def f(x):
        rows = [initial[t] for t in range(start)] + [anp.tanh(x[t]) * (t + 1) for t in range(start, 3)]
        out = anp.stack(rows)
        out = ag_iadd(out, (slice(None, 2), slice(1, None)), x[1:, :1] * x[:2, 1:])
        return anp.sum(out * out) + anp.sum(out[0] * x[0])
    return f


@pytest.mark.parametrize("make, initial, label", ALLOCATIONS)
def test_every_allocator_gives_a_buffer_traced_when_written_in_a_loop(make, initial, label):
    start = 0 if initial is None else 1  # np.empty's numbers are unspecified: write every row
    initial = np.broadcast_to(np.asarray(0.0 if initial is None else initial, dtype=float), (3, 2))
    x = normal(3, 2)
    before = P.copy()
    g = verify(loop_program(make, start), {"x": x}, ag=loop_program_ag(initial, start))
    (leaf,) = labelled_leaves(g)
    assert leaf.params["label"] == label
    np.testing.assert_array_equal(leaf.value, initial)  # the numbers it held at the first traced write
    assert leaf.source.function == "<lambda>" and leaf.source.filename.endswith(THIS_FILE)
    assert len(ops_named(g, "setitem")) == (3 - start) + 1
    np.testing.assert_array_equal(P, before)  # np.copy(P), np.array(P): copies, P is not written


# --- 2. overwritten entries get no gradient --------------------------------------------------------

def _overwritten_by_constant(x, y):
    buf = np.zeros(3)
    buf[:] = x
    buf[1] = 5.0
    return np.sum(buf * buf) + np.sum(y)


def _overwritten_by_other_input(x, y):
    buf = np.zeros(3)
    buf[:] = x
    buf[0] = y[0] * 3.0
    return np.sum(buf * buf)


def _overwritten_through_a_view(x, y):
    buf = np.zeros(3)
    tail = buf[1:]
    buf[:] = x
    tail[:] = 7.0
    return np.sum(buf * buf) + np.sum(y)


def _overwritten_then_partly_rewritten(x, y):
    buf = np.ones(3)
    buf[:] = x * y
    buf[...] = 2.0
    buf[2] = x[0]
    return np.sum(buf * buf)


X3, Y3 = np.array([0.5, -2.0, 3.0]), np.array([1.5, 0.25, -1.0])


@pytest.mark.parametrize("f, value, grad_x, grad_y", [
    (_overwritten_by_constant, 0.25 + 25.0 + 9.0 + 0.75, [1.0, 0.0, 6.0], [1.0, 1.0, 1.0]),
    (_overwritten_by_other_input, 20.25 + 4.0 + 9.0, [0.0, -4.0, 6.0], [27.0, 0.0, 0.0]),
    (_overwritten_through_a_view, 0.25 + 49.0 + 49.0 + 0.75, [1.0, 0.0, 0.0], [1.0, 1.0, 1.0]),
    (_overwritten_then_partly_rewritten, 4.0 + 4.0 + 0.25, [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
], ids=lambda v: getattr(v, "__name__", "")[1:] or None)
def test_overwritten_entries_get_no_gradient(f, value, grad_x, grad_y):
    g = verify(f, {"x": X3, "y": Y3})
    assert float(g.value) == pytest.approx(value, rel=1e-14)
    np.testing.assert_allclose(g.grad("x"), grad_x, rtol=1e-14, atol=0)
    np.testing.assert_allclose(g.grad("y"), grad_y, rtol=1e-14, atol=0)


# --- 3. views of a buffer, taken before its first traced write --------------------------------------

# (id, the view; ``m`` is numpy in the traced function, autograd.numpy in its equivalent)
VIEWS = [
    ("T", lambda o, m: o.T),
    ("row", lambda o, m: o[1]),
    ("block", lambda o, m: o[:, 1:3]),
    ("np.transpose", lambda o, m: m.transpose(o)),
    ("np.split", lambda o, m: m.split(o, 2, axis=1)[1]),
    ("reshape", lambda o, m: o.reshape(4, 2)),
    ("reshape-flat", lambda o, m: o.reshape(-1)),
    ("ravel", lambda o, m: m.ravel(o)),
    ("reversed-strided", lambda o, m: o[::-1, ::-2]),
    ("np.swapaxes", lambda o, m: m.swapaxes(o, 0, 1)),
    ("newaxis", lambda o, m: o[None, :, 1]),
    ("np.diagonal", lambda o, m: np.diagonal(o) if m is np else o[[0, 1], [0, 1]]),
    ("np.asarray", lambda o, m: np.asarray(o) if m is np else o),
    ("np.expand_dims", lambda o, m: m.expand_dims(o, 0)),
]


@pytest.mark.parametrize("view", [v[1] for v in VIEWS], ids=[v[0] for v in VIEWS])
def test_a_view_taken_before_the_first_traced_write_shows_the_writes(view):
    probe = np.zeros((2, 4))
    assert np.shares_memory(view(probe, np), probe)  # NumPy gives a view: the test is about views

    def f(x):
        out = np.zeros((2, 4))
        v = view(out, np)  # taken while the buffer is plain
        out[:] = x * 2.0
        out[0, 0] = x[1, 3] ** 2
        first = np.sum(np.sin(v) * v)  # read after the writes
        out[1] = x[0] * 3.0
        return first + np.sum(v * v)  # read again after one more write: shows it

    def f_ag(x):
        out = ag_set(x * 2.0, (0, 0), x[1, 3] ** 2)
        first = anp.sum(anp.sin(view(out, anp)) * view(out, anp))
        out = ag_set(out, 1, x[0] * 3.0)
        return first + anp.sum(view(out, anp) * view(out, anp))

    verify(f, {"x": normal(2, 4)}, ag=f_ag)


def test_views_taken_before_the_first_write_all_read_the_same_buffer():
    def f(x):
        out = np.zeros((2, 4))
        t, row, block, tr, (left, right), flat = out.T, out[1], out[:, 1:3], np.transpose(out), \
            np.split(out, 2, axis=1), out.reshape(8)
        out[...] = x
        out[1, 2] = x[0, 0] * 5.0
        return (np.sum(t * K8.T) + np.sum(row ** 2) + np.sum(block * 3.0) + np.sum(tr[2]) + np.sum(left * right)
                + np.sum(flat ** 3))

    def f_ag(x):
        out = ag_set(x, (1, 2), x[0, 0] * 5.0)
        return (anp.sum(out.T * K8.T) + anp.sum(out[1] ** 2) + anp.sum(out[:, 1:3] * 3.0) + anp.sum(out.T[2])
                + anp.sum(out[:, :2] * out[:, 2:]) + anp.sum(anp.reshape(out, (8,)) ** 3))

    g = verify(f, {"x": normal(2, 4)}, ag=f_ag)
    assert [n.params["label"] for n in labelled_leaves(g)] == ["np.zeros 2×4"]  # one buffer, many views
    assert len(ops_named(g, "setitem")) == 2


# --- 3b. writes through views reach the buffer, as in NumPy -----------------------------------------

def _through_block(x):
    out = np.zeros((2, 4))
    col = out[:, 1:3]
    col[:] = x[:, :2] * 2.0
    col[0, 0] = x[1, 3] ** 2
    return np.sum(out * out * K8) + np.sum(col)


def _through_block_ag(x):
    out = ag_set(np.zeros((2, 4)), (slice(None), slice(1, 3)), x[:, :2] * 2.0)
    out = ag_set(out, (0, 1), x[1, 3] ** 2)
    return anp.sum(out * out * K8) + anp.sum(out[:, 1:3])


def _through_a_view_taken_after_the_first_write(x):
    out = np.zeros((2, 4))
    out[0] = x[1]
    col = out[:, 1:3]
    col[1, 1] = x[0, 0] * 5.0
    col += x[:, 2:]
    return np.sum(out ** 3 * K8)


def _through_a_view_taken_after_the_first_write_ag(x):
    out = ag_set(np.zeros((2, 4)), 0, x[1])
    out = ag_set(out, (1, 2), x[0, 0] * 5.0)
    out = ag_iadd(out, (slice(None), slice(1, 3)), x[:, 2:])
    return anp.sum(out ** 3 * K8)


def _through_T(x):
    out = np.ones((2, 4))
    t = out.T
    t[0] = x[:, 0] * 3.0
    t[1:3, 1] += x[0, :2]
    return np.sum(out ** 2 * K8)


def _through_T_ag(x):
    out = ag_set(np.ones((2, 4)), (slice(None), 0), x[:, 0] * 3.0)
    out = ag_iadd(out, (1, slice(1, 3)), x[0, :2])
    return anp.sum(out ** 2 * K8)


def _through_reshape(x):
    out = np.zeros((2, 4))
    r = out.reshape(8)
    r[3] = x[0, 0]
    r[5:] = x[1, 1:] * x[0, 1:]
    return np.sum(out ** 2 * K8)


def _through_reshape_ag(x):
    out = ag_set(np.zeros((2, 4)), (0, 3), x[0, 0])
    out = ag_set(out, (1, slice(1, None)), x[1, 1:] * x[0, 1:])
    return anp.sum(out ** 2 * K8)


def _through_split(x):
    out = np.zeros((2, 4))
    a, b = np.split(out, 2, axis=1)
    b[:] = x[:, :2]
    a[0] = x[1, 2:] ** 2
    return np.sum(out ** 2 * K8)


def _through_split_ag(x):
    out = ag_set(np.zeros((2, 4)), (slice(None), slice(2, None)), x[:, :2])
    out = ag_set(out, (0, slice(None, 2)), x[1, 2:] ** 2)
    return anp.sum(out ** 2 * K8)


def _through_a_view_of_a_view(x):
    out = np.zeros((2, 4))
    r = out[1]
    rr = r[1::2]
    rr[:] = x[0, :2]
    out[1, 1] += x[1, 1]
    return np.sum(rr ** 2 * np.array([1.0, 2.0])) + np.sum(out * K8)


def _through_a_view_of_a_view_ag(x):
    out = ag_set(np.zeros((2, 4)), (1, slice(1, None, 2)), x[0, :2])
    out = ag_iadd(out, (1, 1), x[1, 1])
    return anp.sum(out[1, 1::2] ** 2 * np.array([1.0, 2.0])) + anp.sum(out * K8)


def _through_reversed(x):
    out = np.zeros((2, 4))
    r = out[::-1, ::-1]
    r[0] = x[0] * 2.0
    r[1, ::2] = x[1, :2]
    return np.sum(out ** 2 * K8)


def _through_reversed_ag(x):
    out = ag_set(np.zeros((2, 4)), 1, x[0, ::-1] * 2.0)
    out = ag_set(out, (0, [3, 1]), x[1, :2])
    return anp.sum(out ** 2 * K8)


def _through_copyto_and_fill_of_views(x):
    out = np.zeros((2, 4))
    np.copyto(out[:, 1], x[:, 0] * 2.0)
    out[1, 2:].fill(x[0, 3])
    return np.sum(out ** 2 * K8)


def _through_copyto_and_fill_of_views_ag(x):
    out = ag_set(np.zeros((2, 4)), (slice(None), 1), x[:, 0] * 2.0)
    out = ag_set(out, (1, slice(2, None)), x[0, 3])
    return anp.sum(out ** 2 * K8)


def _through_asarray_and_transpose(x):
    out = np.zeros((2, 4))
    a = np.asarray(out)  # the buffer itself
    t = np.transpose(out)
    a[0] = x[1] * 2.0
    t[3] = x[:, 0]  # out[:, 3]
    return np.sum(out ** 2 * K8)


def _through_asarray_and_transpose_ag(x):
    out = ag_set(np.zeros((2, 4)), 0, x[1] * 2.0)
    out = ag_set(out, (slice(None), 3), x[:, 0])
    return anp.sum(out ** 2 * K8)


THROUGH_VIEWS = [
    (_through_block, _through_block_ag),
    (_through_a_view_taken_after_the_first_write, _through_a_view_taken_after_the_first_write_ag),
    (_through_T, _through_T_ag),
    (_through_reshape, _through_reshape_ag),
    (_through_split, _through_split_ag),
    (_through_a_view_of_a_view, _through_a_view_of_a_view_ag),
    (_through_reversed, _through_reversed_ag),
    (_through_copyto_and_fill_of_views, _through_copyto_and_fill_of_views_ag),
    (_through_asarray_and_transpose, _through_asarray_and_transpose_ag),
]


@pytest.mark.parametrize("f, f_ag", THROUGH_VIEWS, ids=[f.__name__[9:] for f, _ in THROUGH_VIEWS])
def test_writes_through_views_reach_the_buffer(f, f_ag):
    g = verify(f, {"x": normal(2, 4)}, ag=f_ag)
    assert len(labelled_leaves(g)) == 1  # the views' writes update the one buffer


# --- 4. in-place forms ------------------------------------------------------------------------------

def _iadd_whole(x):
    buf = np.ones((2, 3))
    buf += x
    buf *= x
    buf /= x[0] + 4.0
    buf -= x[1]
    return np.sum(buf * buf)


def _iadd_whole_ag(x):
    return anp.sum(((1.0 + x) * x / (x[0] + 4.0) - x[1]) ** 2)


def _iadd_column(x):
    buf = np.ones((2, 3))
    buf[:, 0] += x[:, 0] * 2.0
    buf[:, 0] += x[:, 1]
    return np.sum(buf ** 3)


def _iadd_column_ag(x):
    buf = ag_iadd(np.ones((2, 3)), (slice(None), 0), x[:, 0] * 2.0)
    return anp.sum(ag_iadd(buf, (slice(None), 0), x[:, 1]) ** 3)


def _iadd_fancy(x):
    buf = np.ones((3, 3))
    buf[[0, 2], 1] += x[0, :2]
    buf[[0, 2], 1] *= x[1, 1:]
    return np.sum(buf ** 2 * np.arange(9.0).reshape(3, 3))


def _iadd_fancy_ag(x):
    buf = ag_iadd(np.ones((3, 3)), ([0, 2], 1), x[0, :2])
    buf = ag_imul(buf, ([0, 2], 1), x[1, 1:])
    return anp.sum(buf ** 2 * np.arange(9.0).reshape(3, 3))


def _ufunc_out(x):
    buf = np.ones((2, 3))
    np.add(buf, x, out=buf)
    np.multiply(buf, x, out=buf)
    return np.sum(buf ** 2)


def _ufunc_out_ag(x):
    return anp.sum(((1.0 + x) * x) ** 2)


def _copyto(x):
    buf = np.zeros((2, 3))
    np.copyto(buf, x)
    buf[0] *= 2.0
    row = np.zeros((2, 3))
    np.copyto(row, x[1] ** 2)  # broadcast to every row
    return np.sum(buf * row)


def _copyto_ag(x):
    buf = ag_imul(x, 0, 2.0)
    return anp.sum(buf * (x[1] ** 2 * np.ones((2, 3))))


def _fill(x):
    buf = np.zeros((2, 3))
    buf.fill(x[0, 0])
    buf[1] += x[1]
    return np.sum(buf ** 2 * np.arange(6.0).reshape(2, 3))


def _fill_ag(x):
    buf = ag_iadd(x[0, 0] * np.ones((2, 3)), 1, x[1])
    return anp.sum(buf ** 2 * np.arange(6.0).reshape(2, 3))


SIGNS = np.array([[1.0, -1.0, 2.0], [-3.0, 0.5, 1.5]])


def _sort(x):
    buf = np.zeros((2, 3))
    buf[:] = x * SIGNS
    buf.sort()
    return np.sum(buf * np.arange(6.0).reshape(2, 3))


def _sort_ag(x):  # autograd sorts 1-d arrays only: row by row
    return anp.sum(anp.stack([anp.sort(row) for row in x * SIGNS]) * np.arange(6.0).reshape(2, 3))


def _accumulator(x):
    acc = np.zeros(())
    for i in range(2):
        acc += np.sum(x[i] ** 2) * (i + 1)
    return acc


def _accumulator_ag(x):
    return anp.sum(x[0] ** 2) + 2.0 * anp.sum(x[1] ** 2)


def _full_of_traced(x):
    b = np.full((2, 3), x[0, 1])
    b[1] *= x[1]
    return np.sum(b ** 2)


def _full_of_traced_ag(x):
    return anp.sum(ag_imul(x[0, 1] * np.ones((2, 3)), 1, x[1]) ** 2)


def _full_like_of_traced(x):
    b = np.full_like(x, x[0, 1])
    b[1] *= x[1]
    c = imported_full_like(x, x[1, 2])  # bound at import: NumPy's own function
    c[0, 0] = x[0, 0]
    return np.sum(b ** 2) + np.sum(c * K8[:, :3])


def _full_like_of_traced_ag(x):
    c = ag_set(x[1, 2] * np.ones((2, 3)), (0, 0), x[0, 0])
    return anp.sum(ag_imul(x[0, 1] * np.ones((2, 3)), 1, x[1]) ** 2) + anp.sum(c * K8[:, :3])


def _accumulate_products(x):
    dW = np.zeros_like(x.T @ x)
    for i in range(2):
        dW += x[i:i + 1].T @ x[i:i + 1] * (i + 1)
    return np.sum(dW * dW)


def _accumulate_products_ag(x):
    dW = anp.dot(x[0:1].T, x[0:1]) + 2.0 * anp.dot(x[1:2].T, x[1:2])
    return anp.sum(dW * dW)


IN_PLACE = [
    (_iadd_whole, _iadd_whole_ag), (_iadd_column, _iadd_column_ag), (_iadd_fancy, _iadd_fancy_ag),
    (_ufunc_out, _ufunc_out_ag), (_copyto, _copyto_ag), (_fill, _fill_ag), (_sort, _sort_ag),
    (_accumulator, _accumulator_ag), (_full_of_traced, _full_of_traced_ag),
    (_full_like_of_traced, _full_like_of_traced_ag), (_accumulate_products, _accumulate_products_ag),
]


@pytest.mark.parametrize("f, f_ag", IN_PLACE, ids=[f.__name__[1:] for f, _ in IN_PLACE])
def test_in_place_forms_on_buffers(f, f_ag):
    verify(f, {"x": normal(2, 3) + 0.5}, ag=f_ag)


def _ufunc_traced_first(x):
    buf = np.zeros((2, 4))
    np.add(x, buf, out=buf)  # the traced operand before the buffer
    return np.sum(buf ** 2)


def _ufunc_traced_only(x):
    buf = np.zeros((2, 4))
    np.multiply(x, 2.0, out=buf)
    np.maximum(buf, 0.0, out=buf)
    return np.sum(buf ** 2)


def _dot_out(x):
    buf = np.zeros((2, 2))
    np.dot(x, x.T, out=buf)
    return np.sum(buf ** 2)


@pytest.mark.parametrize("f, f_ag", [(_ufunc_traced_first, lambda x: anp.sum(x ** 2)),
                                     (_ufunc_traced_only, lambda x: anp.sum(anp.maximum(2.0 * x, 0.0) ** 2)),
                                     (_dot_out, lambda x: anp.sum(anp.dot(x, x.T) ** 2))],
                         ids=["np.add(x, buf, out=buf)", "np.multiply-maximum(x, out=buf)", "np.dot(x, x.T, out=buf)"])
def test_out_equals_a_buffer_with_a_traced_operand_first(f, f_ag):
    g = verify(f, {"x": normal(2, 4)}, ag=f_ag)
    assert len(labelled_leaves(g)) == 1


def test_a_method_of_a_plain_buffer_takes_a_traced_buffer():
    def f(x):
        buf = np.zeros((4, 2))
        buf[0] = x[:, 0]
        X = np.ones((3, 4))  # made inside the function, never written with a traced value
        return np.sum(X.dot(buf)) + np.sum(x)

    x = np.arange(1.0, 9.0).reshape(2, 4) / 7.0
    g = verify(f, {"x": x}, ag=lambda x: 3.0 * anp.sum(x[:, 0]) + anp.sum(x))
    np.testing.assert_allclose(g.grad("x"), [[4.0, 1.0, 1.0, 1.0], [4.0, 1.0, 1.0, 1.0]], rtol=1e-14)


def test_full_of_a_traced_scalar_is_drawn_as_its_allocation():
    def f(x):
        b = np.full((2, 3), x[0, 1])
        c = np.full_like(x, x[1, 0])
        return np.sum(b * c)

    g = verify(f, {"x": normal(2, 3)}, ag=lambda x: 6.0 * x[0, 1] * x[1, 0])
    assert sorted(n.params["label"] for n in labelled_leaves(g)) == ["np.full 2×3", "np.full_like 2×3"]
    for leaf in labelled_leaves(g):
        np.testing.assert_array_equal(leaf.value, np.zeros((2, 3)))  # zeros, then the value written


def test_np_array_stacks_traced_values_and_asarray_gives_the_value_itself():
    seen = {}

    def f(x):
        s = np.array([x[0], x[1] * 2.0, 1.0])
        seen["asarray"] = np.asarray(x) is x and np.asanyarray(x) is x
        nested = np.array([[x[0], 2.0], [3.0, x[1]]])
        return np.sum(s * s * np.array([1.0, 2.0, 3.0])) + np.sum(nested * np.array([[1.0, 5.0], [7.0, 11.0]]))

    x = np.array([0.7, -1.3])
    gb.trace(f, {"x": x})
    assert seen["asarray"] is True  # seen inside the trace
    g = verify(f, {"x": x}, ag=lambda x: x[0] ** 2 + 8.0 * x[1] ** 2 + 3.0 + x[0] + 10.0 + 21.0 + 11.0 * x[1])
    assert float(g.value) == pytest.approx(0.49 + 8 * 1.69 + 3.0 + 0.7 + 31.0 - 14.3, rel=1e-14)


def test_a_float32_buffer_keeps_its_dtype_as_in_numpy():
    def f(x):
        b = np.zeros(3, dtype=np.float32)
        b[:] = x * 3.0  # float64 values stored as float32, as NumPy casts them
        b += x[::-1]
        return np.sum(b * b)

    x = np.array([0.1, -0.7, 1.3])
    g = gb.trace(f, {"x": x})
    expected = f(x.copy())
    assert g.value.dtype == expected.dtype == np.float32
    assert g.value == expected
    b = (x * 3.0).astype(np.float32) + x[::-1].astype(np.float32)
    grad = 2 * 3.0 * b + (2 * b)[::-1]  # closed form: ∂/∂x of Σ (3x + reversed x)²
    np.testing.assert_allclose(g.grad("x"), grad, rtol=1e-6)


def test_reads_of_a_traced_buffer_by_iteration_methods_and_matmul():
    def f(x):
        out = np.zeros((3, 2))
        out[1] = x[0]
        out[2, 1] = x[1, 0] * 4.0
        total = 0.0
        for row in out:  # iteration reads rows of the traced value
            total = total + np.sum(row * row)
        return total + np.sum(out.sum(axis=0) * np.array([1.0, 3.0])) + np.sum(out.T @ x)

    def f_ag(x):
        out = anp.stack([np.zeros(2), x[0], anp.stack([0.0, x[1, 0] * 4.0])])
        return (anp.sum(out * out) + anp.sum(anp.sum(out, axis=0) * np.array([1.0, 3.0]))
                + anp.sum(anp.dot(out.T, x)))

    verify(f, {"x": normal(3, 2)}, ag=f_ag)


# --- 5. graph structure -----------------------------------------------------------------------------

def test_a_promoted_buffer_is_one_constant_leaf_updated_by_one_setitem_per_write():
    def f(x):
        buf = np.zeros((3, 2))
        scale = np.ones(2) * 0.5  # a buffer never written with a traced value: a plain constant
        for t in range(3):
            buf[t] += x[t] * (t + 1)  # += on an entry: one setitem, no write-back
        buf[0] = x[1]
        buf[:, 1] *= scale[0]
        return np.sum(buf * buf)

    def f_ag(x):
        buf = anp.stack([x[1], x[1] * 2.0, x[2] * 3.0])
        return anp.sum(ag_imul(buf, (slice(None), 1), 0.5) ** 2)

    g = verify(f, {"x": normal(3, 2)}, ag=f_ag)
    (leaf,) = labelled_leaves(g)
    assert leaf.params["label"] == "np.zeros 3×2" and leaf.shape == (3, 2)
    assert leaf.source.function == "f" and leaf.source.line == "buf = np.zeros((3, 2))"
    np.testing.assert_array_equal(leaf.value, np.zeros((3, 2)))
    setitems = ops_named(g, "setitem")
    assert len(setitems) == 5
    assert setitems[0].in_edges[0].src is leaf  # a chain: each write updates the previous value
    for before, after in zip(setitems, setitems[1:]):
        assert after.in_edges[0].src is before
    assert [n.op.name for n in g.nodes if n.op is not None].count("add") == 3  # the three +=
    (dot,) = pydot.graph_from_dot_data(g.to_dot())
    labels = [n.get_label() or "" for n in all_nodes(dot)]
    assert sum("np.zeros 3×2" in label for label in labels) == 1


def test_several_buffers_are_several_labelled_leaves_in_the_order_they_were_first_written():
    def f(x):
        a = np.ones(4)
        b = np.zeros((2, 2))
        b[0] = x[:2]
        a[1:3] = x[2:]
        b[1] = x[:2] * a[1:3]
        return np.sum(a) + np.sum(b * b)

    g = verify(f, {"x": normal(4)},
               ag=lambda x: 2.0 + anp.sum(x[2:]) + anp.sum(x[:2] ** 2) + anp.sum((x[:2] * x[2:]) ** 2))
    assert [n.params["label"] for n in labelled_leaves(g)] == ["np.zeros 2×2", "np.ones 4"]
    assert len(ops_named(g, "setitem")) == 3


# --- 6. NumPy's namespace ---------------------------------------------------------------------------

def test_the_wrapped_names_are_the_allocators_and_conversions():
    assert tuple(buffers.ALLOCATORS) + tuple(buffers.CONVERSIONS) == WRAPPED


def test_numpy_is_wrapped_only_while_a_trace_runs_and_restored_after_it_even_when_it_raises():
    original = {name: getattr(np, name) for name in buffers.ALLOCATORS + buffers.CONVERSIONS}
    inside = {}

    def f(x):
        for name, fn in original.items():
            wrapper = getattr(np, name)
            inside[name] = (wrapper is not fn, wrapper.__wrapped__ is fn, wrapper.__name__ == fn.__name__)
        return np.sum(x)

    gb.trace(f, {"x": np.ones(2)})
    assert inside == {name: (True, True, True) for name in original}
    assert all(getattr(np, name) is fn for name, fn in original.items())

    def raises(x):
        out = np.zeros(2)
        out[0] = x[0]
        raise RuntimeError("the user's own error")

    with pytest.raises(RuntimeError, match="the user's own error"):
        gb.trace(raises, {"x": np.ones(2)})
    assert all(getattr(np, name) is fn for name, fn in original.items())

    def refused(x):
        out = np.zeros(2)
        np.multiply.at(out, [0, 0], x)  # only np.add.at and np.subtract.at are recorded
        return np.sum(out)

    with pytest.raises(UnsupportedOpError):
        gb.trace(refused, {"x": np.ones(2)})
    assert all(getattr(np, name) is fn for name, fn in original.items())
    assert type(np.zeros(2)) is np.ndarray and type(np.array([1.0])) is np.ndarray


def test_a_trace_inside_a_traced_function_keeps_both_traces_right():
    inner_seen = {}
    original_zeros = np.zeros

    def inner(y):
        b = np.zeros(3)
        b[:] = y * 2.0
        return np.sum(b * b)

    def outer(x):
        out = np.zeros(3)
        out[0] = x[0]
        gi = gb.trace(inner, {"y": np.array([1.0, 2.0, 3.0])})
        inner_seen["grad"] = gi.grad("y")
        inner_seen["still wrapped"] = np.zeros is not original_zeros
        out[1] = x[1] * 3.0
        return np.sum(out * out)

    g = gb.trace(outer, {"x": np.array([0.5, -1.0, 2.0])})
    np.testing.assert_array_equal(inner_seen["grad"], [8.0, 16.0, 24.0])
    assert inner_seen["still wrapped"] is True  # the outer trace still runs after the inner one ends
    assert np.zeros is original_zeros
    np.testing.assert_array_equal(g.grad("x"), [1.0, -18.0, 0.0])
    verify(outer, {"x": np.array([0.5, -1.0, 2.0])}, ag=lambda x: x[0] ** 2 + 9.0 * x[1] ** 2)


def test_numpys_own_calls_inside_a_trace_get_plain_arrays():
    seen = {}

    def f(x):
        padded = np.pad(P, 1)  # np.pad calls np.empty itself
        seen["type"] = type(padded)
        seen["values"] = padded.copy()
        return np.sum(x * padded[1:-1, 1:-1])

    g = gb.trace(f, {"x": normal(3, 2)})
    assert seen["type"] is np.ndarray  # seen inside the trace
    verify(f, {"x": normal(3, 2)}, ag=lambda x: anp.sum(x * P))
    expected = np.zeros((5, 4))
    expected[1:-1, 1:-1] = P
    np.testing.assert_array_equal(seen["values"], expected)
    np.testing.assert_array_equal(g.grad("x"), P)


# --- 7. threads -------------------------------------------------------------------------------------

def test_another_thread_gets_plain_numpy_results_during_a_trace():
    original = {name: getattr(np, name) for name in buffers.ALLOCATORS + buffers.CONVERSIONS}
    trace_running, worker_done = threading.Event(), threading.Event()
    seen = {}

    def worker():
        try:
            assert trace_running.wait(10)
            seen["wrapped"] = np.zeros is not original["zeros"] and np.array is not original["array"]
            a = np.zeros((2, 3))
            b = np.ones(3)
            c = np.array([[1.0, 2.0], [3.0, 4.0]])
            d = np.copy(c)
            e = np.full(2, 3.0)
            z = np.zeros_like(c)
            a[0] = b * 2.0
            a[1] += c[0].sum()
            d[0, 0] = 10.0
            z += c
            seen["types"] = [type(v) for v in (a, b, c, d, e, z, np.asarray(c), np.empty(3), np.ones_like(c),
                                               np.empty_like(c), np.full_like(c, 2.0))]
            seen["values"] = (a, d @ c, e, z, c)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            seen["error"] = exc
        finally:
            worker_done.set()

    def f(x):
        out = np.zeros((2, 3))
        out[0] = x[1]
        trace_running.set()  # the worker runs now, while this trace is running
        assert worker_done.wait(10)
        out[1] = x[0] * out[0]
        return np.sum(out * out)

    thread = threading.Thread(target=worker)
    thread.start()
    x = normal(2, 3)
    g = gb.trace(f, {"x": x})
    thread.join(10)
    assert "error" not in seen, seen.get("error")
    assert seen["wrapped"] is True  # the overlap really happened
    assert seen["types"] == [np.ndarray] * 11
    a, dc, e, z, c = seen["values"]
    np.testing.assert_array_equal(a, [[2.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    np.testing.assert_array_equal(dc, [[16.0, 28.0], [15.0, 22.0]])  # [[10, 2], [3, 4]] @ [[1, 2], [3, 4]]
    np.testing.assert_array_equal(e, [3.0, 3.0])
    np.testing.assert_array_equal(z, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(c, [[1.0, 2.0], [3.0, 4.0]])  # np.copy copied
    grad = np.stack([2 * x[0] * x[1] ** 2, 2 * x[1] + 2 * x[0] ** 2 * x[1]])  # of Σ x1² + Σ (x0 x1)²
    np.testing.assert_allclose(g.grad("x"), grad, rtol=1e-12)
    assert all(getattr(np, name) is fn for name, fn in original.items())


def test_two_traces_running_at_once_in_two_threads():
    original = {name: getattr(np, name) for name in buffers.ALLOCATORS + buffers.CONVERSIONS}
    barrier = threading.Barrier(2, timeout=10)
    results = {}
    x = normal(2, 4)

    def traced(scale):
        def f(x):
            b = np.zeros((2, 4))
            b[0] = x[0] * scale
            barrier.wait()  # both traces have a promoted buffer now
            b[1] = x[1] ** 2
            barrier.wait()
            return np.sum(b * b)
        return f

    def run(key, scale):
        try:
            g = gb.trace(traced(scale), {"x": x})
            results[key] = (g.grad("x"), float(g.value), [n.params["label"] for n in labelled_leaves(g)])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            results[key] = exc

    threads = [threading.Thread(target=run, args=(key, scale)) for key, scale in (("a", 2.0), ("b", 3.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    for key, scale in (("a", 2.0), ("b", 3.0)):
        assert not isinstance(results[key], BaseException), results[key]
        grad, value, labels = results[key]
        np.testing.assert_allclose(grad, np.stack([2 * scale ** 2 * x[0], 4 * x[1] ** 3]), rtol=1e-12)
        assert value == pytest.approx(scale ** 2 * np.sum(x[0] ** 2) + np.sum(x[1] ** 4), rel=1e-12)
        assert labels == ["np.zeros 2×4"]
    assert all(getattr(np, name) is fn for name, fn in original.items())


# --- 8. after the trace -----------------------------------------------------------------------------

class _Holder:
    pass


def test_buffers_are_plain_arrays_holding_the_forward_values_after_the_trace():
    holder = _Holder()

    def f(x):
        out = np.zeros((2, 3))
        out[0] = x[1] * 2.0
        acc = np.zeros(())
        acc += np.sum(x)
        holder.buf = out
        return np.sum(out ** 2), out, {"row": out[0], "acc": acc, "untouched": np.ones(2)}

    x = np.array([[1.0, 2.0, 3.0], [0.5, -0.25, 4.0]])
    verify(f, {"x": x}, output=0, ag=lambda x: 4.0 * anp.sum(x[1] ** 2))
    g = gb.trace(f, {"x": x}, output=0)  # last, so holder.buf is this trace's buffer
    out, rest = g.extra
    assert type(out) is np.ndarray and type(rest["row"]) is np.ndarray and type(rest["acc"]) is np.ndarray
    np.testing.assert_array_equal(out, [[1.0, -0.5, 8.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(rest["row"], [1.0, -0.5, 8.0])
    assert float(rest["acc"]) == 10.25
    np.testing.assert_array_equal(rest["untouched"], [1.0, 1.0])

    stashed = holder.buf  # the buffer itself, kept by the user's object
    assert isinstance(stashed, buffers.Buffer)  # (so this test is about a buffer, not a plain run's array)
    np.testing.assert_array_equal(stashed, [[1.0, -0.5, 8.0], [0.0, 0.0, 0.0]])
    stashed[1, 1] = 5.0  # a plain write: no trace, no error
    stashed[1] += 1.0
    total = np.sum(stashed)
    assert type(total) is np.float64 and total == 1.0 - 0.5 + 8.0 + 1.0 + 6.0 + 1.0
    assert type(stashed * 2.0) is np.ndarray
    np.testing.assert_array_equal(stashed @ np.ones(3), [8.5, 8.0])
    assert float(stashed[0, 2]) == 8.0
    assert repr(stashed).startswith("array(")


# --- 9. refusals ------------------------------------------------------------------------------------

GLOBAL_BUFFER = np.zeros((2, 4))
PLAIN_X = np.ones((3, 4))


def _add_at(x):
    buf = np.zeros(4)
    np.add.at(buf, [0, 1, 1], x[0, :3])  # index 1 twice: both values are added, as in NumPy
    return np.sum(buf * K4)


def _add_at_after_a_traced_write(x):
    buf = np.zeros(4)
    buf[:] = x[1]
    np.add.at(buf, [0, 1, 1], 1.0)
    np.subtract.at(buf, [3, 3], x[0, :2])
    return np.sum(buf * K4)


def _add_at_through_a_view(x):
    buf = np.zeros((2, 4))
    row = buf[1]  # taken before the first traced write
    np.add.at(row, [2, 2, 0], x[0, :3])
    return np.sum(buf[1] * K4)


@pytest.mark.parametrize("f, ag", [
    (_add_at, lambda x: anp.sum(anp.array([1.0, 0.0, 0.0, 0.0]) * x[0, 0] * K4[0])
     + (x[0, 1] + x[0, 2]) * K4[1]),
    (_add_at_after_a_traced_write, lambda x: anp.sum(x[1] * K4) + K4[0] + 2.0 * K4[1]
     - (x[0, 0] + x[0, 1]) * K4[3]),
    (_add_at_through_a_view, lambda x: (x[0, 0] + x[0, 1]) * K4[2] + x[0, 2] * K4[0]),
], ids=["into a buffer", "after a traced write", "through a view"])
def test_np_add_at_into_a_buffer_adds_once_per_index_occurrence_as_numpy(f, ag):
    g = verify(f, {"x": normal(2, 4)}, ag=ag)
    assert [n.op.name for n in g.nodes if n.op is not None].count("add_at") >= 1


def test_np_put_into_a_buffer_is_refused():
    def f(x):
        buf = np.zeros(4)
        np.put(buf, [0, 1], x[0, :2])
        return np.sum(buf)

    with pytest.raises(UnsupportedOpError, match=r"np.put writes into its first argument.*a\[index\] = values"):
        gb.trace(f, {"x": normal(2, 4)})


def test_a_plain_arrays_dot_of_a_traced_buffer_gives_the_dot_advice():
    def uses_dot(x):
        buf = np.zeros((4, 2))
        buf[0] = x[:, 0]
        return np.sum(PLAIN_X.dot(buf))

    with pytest.raises(TraceError) as info:
        gb.trace(uses_dot, {"x": normal(2, 4)})
    message = str(info.value)
    assert "a plain array's .dot() cannot take a traced value" in message
    assert "write X @ W or np.dot(X, W)" in message
    assert THIS_FILE in message and "in uses_dot" in message and "PLAIN_X.dot(buf)" in message


def _into_module_array(x):
    GLOBAL_BUFFER[0] = x[0]
    return np.sum(GLOBAL_BUFFER)


def _into_module_array_entry(x):
    GLOBAL_BUFFER[1, 2] = np.sum(x)
    return np.sum(GLOBAL_BUFFER)


def _into_copy_method(x):
    c = PLAIN_X.copy()
    c[1] = x[0]
    return np.sum(c)


def _into_imported_zeros(x):
    z = imported_zeros((2, 4))
    z[0, 0] = np.sum(x)
    return np.sum(z)


def _in_place_into_module_array(x):
    GLOBAL_BUFFER[0] += x[0]
    return np.sum(GLOBAL_BUFFER)


@pytest.mark.parametrize("f, kind, says, line", [
    (_into_module_array, TraceError, "cannot be stored into this NumPy array", "GLOBAL_BUFFER[0] = x[0]"),
    (_into_module_array_entry, TraceError, "cannot be stored into this NumPy array",
     "GLOBAL_BUFFER[1, 2] = np.sum(x)"),
    (_into_copy_method, TraceError, "by a plain array's .copy() method", "c[1] = x[0]"),
    (_into_imported_zeros, TraceError, "imported with from numpy import zeros", "z[0, 0] = np.sum(x)"),
    (_in_place_into_module_array, UnsupportedOpError, "cannot be written in place", "GLOBAL_BUFFER[0] += x[0]"),
], ids=lambda v: getattr(v, "__name__", "")[1:] or None)
def test_writing_into_an_array_made_outside_the_function_is_refused_naming_the_line(f, kind, says, line):
    before = GLOBAL_BUFFER.copy()
    with pytest.raises(kind) as info:
        gb.trace(f, {"x": normal(2, 4)})
    message = str(info.value)
    assert says in message
    assert "make the array inside the traced function with np.zeros" in message  # what to write instead
    assert THIS_FILE in message and f"in {f.__name__}" in message and line in message
    np.testing.assert_array_equal(GLOBAL_BUFFER, before)  # nothing was written into it


# --- 10. object dtype -------------------------------------------------------------------------------

def test_an_object_buffer_holds_traced_values_as_python_objects():
    seen = {}

    def f(x):
        c = np.empty(2, dtype=object)
        c[0] = (x, 2.0 * x)
        c[1] = x[0]
        a, b = c[0]
        seen["kept"] = a is x
        return np.sum(a * b) + np.sum(c[1] ** 2)

    x = np.array([0.5, -1.5, 2.0])
    gb.trace(f, {"x": x})
    assert seen["kept"] is True  # the traced value itself, seen inside the trace
    g = verify(f, {"x": x}, ag=lambda x: anp.sum(2.0 * x * x) + x[0] ** 2)
    assert labelled_leaves(g) == []  # nothing numeric was written: no buffer leaf
    np.testing.assert_allclose(g.grad("x"), [3.0, -6.0, 8.0], rtol=1e-14)


# --- 11. np.empty inside a trace ------------------------------------------------------------------

def test_np_empty_inside_a_trace_is_zeros_so_the_drawing_is_the_same_every_time():
    def f(x):
        junk = P * 7.0  # freed memory that np.empty gets back (NumPy caches small blocks), with 7s in it
        del junk
        b = np.empty((3, 2))
        b[1] = x[0]
        return np.sum(b * b)

    x = np.array([[0.5, -2.0], [1.0, 3.0]])
    g1 = gb.trace(f, {"x": x})
    g2 = gb.trace(f, {"x": x})
    assert g1.to_dot() == g2.to_dot()
    (leaf,) = labelled_leaves(g1)
    assert leaf.params["label"] == "np.empty 3×2"
    np.testing.assert_array_equal(leaf.value, np.zeros((3, 2)))
    assert float(g1.value) == 4.25  # the rows never written are zeros inside the trace
    np.testing.assert_array_equal(g1.grad("x"), [[1.0, -4.0], [0.0, 0.0]])


def test_np_empty_like_of_a_traced_input_is_zeros_inside_a_trace():
    """NumPy's own np.empty_like runs (x is traced, so NumPy dispatches to it), but its numbers are zeroed."""
    def f(x):
        junk = P * 7.0
        del junk
        b = np.empty_like(x)
        b[1] = x[0]
        return np.sum(b * b)

    g = gb.trace(f, {"x": np.array([[0.5, -2.0], [1.0, 3.0], [2.0, 1.0]])})
    (leaf,) = labelled_leaves(g)
    np.testing.assert_array_equal(leaf.value, np.zeros((3, 2)))
    assert float(g.value) == 4.25
    assert g.to_dot() == gb.trace(f, {"x": np.array([[0.5, -2.0], [1.0, 3.0], [2.0, 1.0]])}).to_dot()


# --- 12. random programs of writes ---------------------------------------------------------------

WEIGHTS = np.array([[0.5, -1.0, 2.0, 0.25], [1.5, 0.75, -0.5, 1.0], [-2.0, 0.3, 1.25, -0.8]])


@st.composite
def keys(draw):
    kind = draw(st.sampled_from(["int", "pair", "slice", "mask", "rows", "rows-col"]))
    if kind == "int":
        return draw(st.integers(-3, 2))
    if kind == "pair":
        return (draw(st.integers(0, 2)), draw(st.integers(-4, 3)))
    if kind == "slice":
        r0, r1 = sorted(draw(st.lists(st.integers(0, 3), min_size=2, max_size=2)))
        c0, c1 = sorted(draw(st.lists(st.integers(0, 4), min_size=2, max_size=2)))
        return (slice(r0, r1 + 1), slice(c0, c1 + 1, draw(st.integers(1, 2))))
    if kind == "mask":
        return np.array(draw(st.lists(st.booleans(), min_size=12, max_size=12))).reshape(3, 4)
    rows = np.array(draw(st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True)))
    return rows if kind == "rows" else (rows, draw(st.integers(0, 3)))


steps = st.lists(st.tuples(keys(), st.sampled_from(["=", "+=", "*="]), st.sampled_from([0.5, -1.5, 2.0, 3.0]),
                           st.booleans(), st.booleans()), min_size=1, max_size=5)


def run_program(program, x):
    buf = np.zeros((3, 4))
    total = 0.0
    for key, op, c, flip, read in program:
        value = ((x[::-1, ::-1] if flip else x) * c)[key]
        if op == "=":
            buf[key] = value
        elif op == "+=":
            buf[key] += value
        else:
            buf[key] *= value
        if read:
            total = total + np.sum(buf * buf) * 0.1
    return total + np.sum(buf * WEIGHTS)


def run_program_ag(program, x):
    buf = np.zeros((3, 4))
    total = 0.0
    for key, op, c, flip, read in program:
        value = ((x[::-1, ::-1] if flip else x) * c)[key]
        buf = ag_set(buf, key, value) if op == "=" else ag_iadd(buf, key, value) if op == "+=" else \
            ag_imul(buf, key, value)
        if read:
            total = total + anp.sum(buf * buf) * 0.1
    return total + anp.sum(buf * WEIGHTS)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_programs_of_writes_into_a_buffer(program):
    x = np.array([[0.3, -1.2, 0.8, 1.7], [-0.4, 0.9, -1.1, 0.6], [1.3, -0.7, 0.2, -1.6]])

    def f(x):
        return run_program(program, x)

    g = gb.trace(f, {"x": x})
    assert float(g.value) == pytest.approx(float(run_program(program, x.copy())), rel=1e-12, abs=1e-12)
    r = gb.check(f, {"x": x}, rtol=RTOL)
    assert r.passed, r["x"].error
    expected = autograd.grad(lambda x: run_program_ag(program, x))(x)
    np.testing.assert_allclose(g.grad("x"), expected, rtol=1e-9, atol=1e-12)


# --- 13. real code, in course styles -----------------------------------------------------------------

def conv_forward_naive(x, w, b, conv_param):
    """The naive forward pass of a convolutional layer: x (N, C, H, W), w (F, C, HH, WW), b (F,)."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    out = np.zeros((N, F, H_out, W_out))
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    cache = (x, w, b, conv_param)
    return out, cache


def conv_forward_ag(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    x_pad = anp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), "constant")
    return anp.stack([anp.stack([anp.stack([anp.stack([
        anp.sum(x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW] * w[f]) + b[f]
        for j in range(W_out)]) for i in range(H_out)]) for f in range(F)]) for n in range(N)])


def max_pool_forward_naive(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride
    out = np.zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw]
            out[:, :, i, j] = np.max(window, axis=(2, 3))
    return out, (x, pool_param)


def max_pool_forward_ag(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride
    return anp.stack([anp.stack([
        anp.max(x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw], axis=(2, 3))
        for j in range(W_out)], axis=-1) for i in range(H_out)], axis=-2)


CONV_PARAM = {"stride": 2, "pad": 1}
CONV_G = normal(2, 3, 3, 3, seed=1)  # the upstream gradient, a constant


def test_conv_forward_naive():
    inputs = {"x": normal(2, 2, 5, 5, seed=2), "w": normal(3, 2, 3, 3, seed=3) * 0.5, "b": normal(3, seed=4)}

    def loss(x, w, b):
        out, _ = conv_forward_naive(x, w, b, CONV_PARAM)
        return np.sum(out * CONV_G)

    g = verify(loss, inputs, ag=lambda x, w, b: anp.sum(conv_forward_ag(x, w, b, CONV_PARAM) * CONV_G))
    assert [n.params["label"] for n in labelled_leaves(g)] == ["np.zeros 2×3×3×3"]
    assert len(ops_named(g, "setitem")) == 2 * 3 * 3 * 3


@pytest.mark.parametrize("stride", [2, 1])  # 1: overlapping windows, a max reached twice
def test_max_pool_forward_naive(stride):
    x = np.random.default_rng(5).permutation(64).reshape(2, 2, 4, 4) / 10.0  # distinct values: no ties
    param = {"pool_height": 2, "pool_width": 2, "stride": stride}
    weights = normal(*max_pool_forward_naive(x, param)[0].shape, seed=6)

    def loss(x):
        out, _ = max_pool_forward_naive(x, param)
        return np.sum(out * weights)

    verify(loss, {"x": x}, ag=lambda x: anp.sum(max_pool_forward_ag(x, param) * weights))


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = h0.shape[1]
    h = np.zeros((N, T, H))
    prev_h = h0
    for t in range(T):
        next_h = np.tanh(x[:, t, :].dot(Wx) + prev_h.dot(Wh) + b)
        h[:, t, :] = next_h
        prev_h = next_h
    return h, None


def rnn_forward_ag(x, h0, Wx, Wh, b):
    hs, prev = [], h0
    for t in range(x.shape[1]):
        prev = anp.tanh(anp.dot(x[:, t, :], Wx) + anp.dot(prev, Wh) + b)
        hs.append(prev)
    return anp.stack(hs, axis=1)


RNN_N, RNN_T, RNN_D, RNN_H = 2, 4, 3, 5
RNN_INPUTS = {"x": normal(RNN_N, RNN_T, RNN_D, seed=7), "h0": normal(RNN_N, RNN_H, seed=8) * 0.5,
              "Wx": normal(RNN_D, RNN_H, seed=9) * 0.4, "Wh": normal(RNN_H, RNN_H, seed=10) * 0.4,
              "b": normal(RNN_H, seed=11) * 0.1}
RNN_G = normal(RNN_N, RNN_T, RNN_H, seed=12)


def test_rnn_forward_storing_each_step_into_a_zeros_buffer():
    def loss(x, h0, Wx, Wh, b):
        h, _ = rnn_forward(x, h0, Wx, Wh, b)
        return np.sum(h * RNN_G)

    g = verify(loss, RNN_INPUTS, ag=lambda x, h0, Wx, Wh, b: anp.sum(rnn_forward_ag(x, h0, Wx, Wh, b) * RNN_G))
    assert [n.params["label"] for n in labelled_leaves(g)] == [f"np.zeros {RNN_N}×{RNN_T}×{RNN_H}"]
    assert len(ops_named(g, "setitem")) == RNN_T


def rnn_loss_and_grads(x, h0, Wx, Wh, b):
    """Forward, then the backward pass by hand into np.zeros_like buffers: returns (loss, grads)."""
    N, T, D = x.shape
    H = h0.shape[1]
    h = np.zeros((N, T, H))
    prev = h0
    for t in range(T):
        prev = np.tanh(x[:, t, :].dot(Wx) + prev.dot(Wh) + b)
        h[:, t, :] = prev
    loss = np.sum(h * RNN_G)
    dx, dWx, dWh, db = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dprev = np.zeros((N, H))
    for t in reversed(range(T)):
        h_prev = h[:, t - 1, :] if t > 0 else h0
        da = (RNN_G[:, t, :] + dprev) * (1 - h[:, t, :] ** 2)
        dx[:, t, :] = da.dot(Wx.T)
        dWx += x[:, t, :].T.dot(da)
        dWh += h_prev.T.dot(da)
        db += da.sum(axis=0)
        dprev = da.dot(Wh.T)
    return loss, {"x": dx, "h0": dprev, "Wx": dWx, "Wh": dWh, "b": db}


def test_a_hand_written_rnn_backward_into_buffers_returns_its_gradients_as_plain_arrays():
    def ag(x, h0, Wx, Wh, b):
        return anp.sum(rnn_forward_ag(x, h0, Wx, Wh, b) * RNN_G)

    g = verify(rnn_loss_and_grads, RNN_INPUTS, output=0, ag=ag)
    names = list(RNN_INPUTS)
    expected = autograd.grad(ag, argnum=tuple(range(len(names))))(*RNN_INPUTS.values())
    (grads,) = g.extra
    assert sorted(grads) == sorted(names)
    for name, grad in zip(names, expected):
        assert type(grads[name]) is np.ndarray, name
        np.testing.assert_allclose(grads[name], grad, rtol=1e-9, atol=1e-12, err_msg=name)  # the forward values


# --- bugs found when these tests were written, now fixed ------------------------------------------

def test_a_function_may_return_its_buffer():
    def f(x):
        b = np.zeros(2)
        b[:] = x * 3.0
        return b

    g = gb.trace(f, {"x": np.array([0.5, 2.0])}, seed=np.array([1.0, -2.0]))
    np.testing.assert_array_equal(g.value, [1.5, 6.0])
    np.testing.assert_array_equal(g.grad("x"), [3.0, -6.0])


def test_a_function_may_return_a_zero_valued_accumulator():
    def f(x):
        acc = np.zeros(())
        acc += x[0] * 3.0
        return acc

    g = gb.trace(f, {"x": np.array([0.0, 2.0])})
    assert float(g.value) == 0.0
    np.testing.assert_array_equal(g.grad("x"), [3.0, 0.0])


def test_returning_an_unwritten_buffer_names_it_as_the_user_knows_it():
    def f(x):
        return np.zeros(2)

    with pytest.raises(TraceError) as info:
        gb.trace(f, {"x": np.ones(2)})
    assert "returned ndarray" in str(info.value) and "Buffer" not in str(info.value)


def _copyto_into_module_array(x):
    np.copyto(GLOBAL_BUFFER, x)
    return np.sum(GLOBAL_BUFFER)


def _fill_module_array(x):
    GLOBAL_BUFFER.fill(x[0, 0])
    return np.sum(GLOBAL_BUFFER)


def _imported_full_like_of_a_plain_array(x):
    b = imported_full_like(PLAIN_X, x[0, 0])
    return np.sum(b)


@pytest.mark.parametrize("f", [_copyto_into_module_array, _fill_module_array, _imported_full_like_of_a_plain_array],
                         ids=["np.copyto", "fill", "imported full_like"])
def test_other_writes_into_an_array_made_outside_the_function_say_what_to_write(f):
    with pytest.raises((TraceError, UnsupportedOpError)) as info:
        gb.trace(f, {"x": normal(2, 4)})
    message = str(info.value)
    assert "make the array inside the traced function with np.zeros" in message
    assert THIS_FILE in message and f"in {f.__name__}" in message


@pytest.mark.parametrize("alias", [lambda b: b[1:], lambda b: b[...], lambda b: np.asarray(b),
                                   lambda b: b.reshape(-1)], ids=["b[1:]", "b[...]", "np.asarray(b)", "b.reshape(-1)"])
def test_writes_through_a_view_taken_after_the_first_write_reach_the_buffers_memory(alias):
    shown = []

    def f(x):
        buf = np.zeros(3)
        buf[0] = x[0]
        view = alias(buf)  # the buffer is traced now
        view[-2:] += x[1:]
        shown.append(str(buf))
        return np.sum(buf * buf), buf

    x = np.array([1.0, 2.0, 3.0])
    g = gb.trace(f, {"x": x}, output=0)
    assert float(g.value) == 14.0
    np.testing.assert_array_equal(g.grad("x"), [2.0, 4.0, 6.0])  # the graph is right
    assert shown[-1] == "[1. 2. 3.]"  # as print(buf) shows it in NumPy
    (after,) = g.extra
    np.testing.assert_array_equal(after, [1.0, 2.0, 3.0])


def test_out_equals_a_view_of_a_traced_buffer():
    def f(x):
        buf = np.zeros((2, 4))
        buf[:] = x
        np.negative(buf[0], out=buf[0])
        return np.sum(buf * K8)

    verify(f, {"x": normal(2, 4)}, ag=lambda x: anp.sum(anp.stack([-x[0], x[1]]) * K8))


def test_arrays_made_inside_from_eye_arange_or_computed_from_a_buffer_become_traced_when_written():
    def f(x):
        identity = np.eye(3)
        identity[0, 1] = x[0]  # np.eye: a buffer
        steps = np.arange(3.0)
        steps[2] = x[1] * 2.0  # np.arange: a buffer
        halves = np.zeros(3) + 0.5  # computed from a buffer: a buffer of its own
        halves[1] = x[2]
        return np.sum(identity @ steps) + np.sum(halves * x)

    def f_ag(x):
        identity = anp.eye(3) + x[0] * anp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        steps = anp.array([0.0, 1.0, 0.0]) + x[1] * 2.0 * anp.array([0.0, 0.0, 1.0])
        halves = anp.array([0.5, 0.0, 0.5]) + x[2] * anp.array([0.0, 1.0, 0.0])
        return anp.sum(anp.dot(identity, steps)) + anp.sum(halves * x)

    g = verify(f, {"x": normal(3)}, ag=f_ag)
    labels = sorted(n.params.get("label") for n in g.nodes if n.kind == "const" and n.params.get("label"))
    assert labels == ["np.add 3", "np.arange 3", "np.eye 3×3"]


def test_a_buffer_filled_with_plain_numbers_first_is_drawn_as_the_numbers_it_holds():
    """PLivdan/numpy-cnn's RNN step: ``xh = np.empty(...)``, then ``xh[:, :D] = X[:, t]`` (data) and
    ``xh[:, D:] = h`` (traced). The constant it starts from holds the data: it was drawn as
    "np.empty 2×7", which reads as an empty (zero) array."""
    X = normal(2, 3)

    def f(h):
        xh = np.empty((2, 5))
        xh[:, :3] = X
        xh[:, 3:] = np.tanh(h)
        return np.sum(xh ** 2)

    g = verify(f, {"h": normal(2, 2)})
    (leaf,) = [n for n in g.nodes if n.kind == "const" and n.shape == (2, 5)]
    assert not leaf.params.get("label")
    np.testing.assert_array_equal(leaf.value[:, :3], X)
    line = g.draw().scene().node(leaf.id).text.splitlines()
    assert line[0] == "const ℝ²ˣ⁵" and line[1].startswith("range [")
    g = gb.trace(lambda h: np.sum(_filled_then_traced(h)), h=normal(2, 2))
    assert [n.params["label"] for n in labelled_leaves(g)] == ["np.zeros 2×2"]


_XS = normal(2, 6, 3, seed=5)


def _scratch_rnn(W):
    """PLivdan/numpy-cnn's RNN: a scratch buffer refilled each step, first with data."""
    h = np.zeros((2, 7, 4))
    xh = np.empty((2, 7))
    for t in range(6):
        xh[:, :3] = _XS[:, t]
        xh[:, 3:] = h[:, t]
        h[:, t + 1] = np.tanh(xh @ W)
    return np.sum(h[:, -1] ** 2)


def _ag_scratch_rnn(W):
    h = anp.zeros((2, 4))
    for t in range(6):
        h = anp.tanh(anp.concatenate([_XS[:, t], h], axis=1) @ W)
    return anp.sum(h ** 2)


def test_a_scratch_buffer_refilled_each_step_makes_the_same_ops_at_every_step_it_is_traced_in():
    """The buffer becomes traced at step 1 (the first write of a traced state): step 1's write of
    data was made while it was plain, and was no op, so step 1 differed from steps 2… and the RNN
    folded as "iteration 0", "iteration 1", "iterations 2…5". That write is now recorded as the
    ``setitem`` it is, at its own line and in its place among the ops."""
    g = verify(_scratch_rnn, {"W": normal(7, 4, seed=6) / 2}, ag=_ag_scratch_rnn)
    steps: dict[int, list[tuple[str, int]]] = {}
    for n in g.nodes:
        if n.op is not None and n.scope is not None:
            (t,) = [s.index for s in n.scope.chain if s.kind == "iteration"]
            steps.setdefault(t, []).append((n.op.name, n.source.lineno))
    assert len({tuple(ops) for t, ops in steps.items() if t >= 1}) == 1, steps
    first = steps[1][0]
    assert first[0] == "setitem" and "xh[:, :3] = _XS[:, t]" in _line_of(first[1])
    writes = ops_named(g, "setitem")
    data = [n for n in writes if "_XS" in _line_of(n.source.lineno)]
    assert len(data) == 5  # steps 1…5 (step 0's was made before any op: the buffer's first numbers)
    for t, n in enumerate(data, start=1):  # each writes step t's data into what the buffer held before
        np.testing.assert_array_equal(n.value[:, :3], _XS[:, t])
        base = n.in_edges[0].src.value
        np.testing.assert_array_equal(base[:, :3], _XS[:, t - 1])
    frames = sorted({c.get("label") for c in _frames(g.to_dot(fold=True, depth=None))})
    assert [f for f in frames if "iteration" in f] == ["for t in range(6): — iteration 0",
                                                      "for t in range(6): — iterations 1…5"], frames


def _line_of(lineno):
    import linecache
    return linecache.getline(__file__, lineno)


def _frames(src):
    (graph,) = pydot.graph_from_dot_data(src)
    out = []
    stack = [graph]
    while stack:
        gr = stack.pop()
        for sub in gr.get_subgraphs():
            label = re.sub(r"<[^>]*>", "", frame_title(sub)).replace("&#160;", " ").strip("<> ")
            out.append({"label": re.sub(r"\s+×.*", "", label)})
            stack.append(sub)
    return out


def test_many_plain_writes_or_writes_before_any_op_are_the_buffers_numbers():
    """Past ``RECENT`` plain writes in a row, or when no op was made since the buffer was allocated,
    the buffer starts as the numbers it holds (no ops for its plain writes)."""
    def many(x):
        b = np.zeros(40)
        y = np.tanh(x)  # an op since the buffer was made
        for i in range(buffers.RECENT + 1):
            b[i] = float(i)
        b[39] = y[0]
        return np.sum(b * x)

    def few(x):
        b = np.zeros(40)
        y = np.tanh(x)
        for i in range(3):
            b[i] = float(i)
        b[39] = y[0]
        return np.sum(b * x)

    g = verify(many, {"x": normal(40)})
    assert len(ops_named(g, "setitem")) == 1
    g = verify(few, {"x": normal(40)})
    assert [n.in_edges[1].src.value.tolist() for n in ops_named(g, "setitem")][:3] == [0.0, 1.0, 2.0]
    (leaf,) = [n for n in g.nodes if n.kind == "const" and n.shape == (40,)]
    assert not leaf.value.any()  # the numbers before the three writes: np.zeros, drawn as that
    assert leaf.params.get("label") is None or leaf.params["label"] == "np.zeros 40"

    def at_once(x):  # no op between np.zeros and its writes: its first numbers, as before
        b = np.zeros(40)
        for i in range(3):
            b[i] = float(i)
        b[39] = np.tanh(x)[0]
        return np.sum(b * x)

    g = verify(at_once, {"x": normal(40)})
    assert len(ops_named(g, "setitem")) == 1
    (leaf,) = [n for n in g.nodes if n.kind == "const" and n.shape == (40,)]
    np.testing.assert_array_equal(leaf.value[:3], [0.0, 1.0, 2.0])


def _sorted_between(x):
    b = np.zeros(5)
    y = np.tanh(x)
    b[0] = 5.0
    b[1] = -1.0
    b.sort()  # moves the remembered writes' numbers: they are not replayed
    b[4] = y[0]
    return np.sum(b * x)


def _cast_into_ints(x):
    b = np.zeros(5, dtype=int)
    y = np.tanh(x)
    b[0] = 2.7  # NumPy keeps 2
    b[4] = y[0]
    return np.sum(b * x)


def _out_between(x):
    b = np.zeros(5)
    y = np.tanh(x)
    b[0] = 5.0
    np.add(b, 1.0, out=b)  # a plain write not remembered: what came before is the buffer's numbers
    b[2] = 7.0
    b[4] = y[0]
    return np.sum(b * x)


def _through_a_view(x):
    b = np.zeros((2, 5))
    y = np.tanh(x)
    b[0, 0] = 5.0
    v = b[1]
    v[1] = 3.0
    b[0, 4] = y[0]
    return np.sum(b[0] * x) + np.sum(b[1] ** 2)


def _fancy(x):
    b = np.zeros(5)
    y = np.tanh(x)
    b[np.array([True, False, True, False, False])] = 9.0
    b[[1, 1]] = 4.0
    b[4] = y[0]
    return np.sum(b * x)


def _from_a_buffer_changed_after(x):
    b = np.zeros(5)
    c = np.ones(5)
    y = np.tanh(x)
    b[:] = c
    c[0] = 100.0  # the number b got was 1
    b[4] = y[0]
    return np.sum(b * x)


@pytest.mark.parametrize("f", [_sorted_between, _cast_into_ints, _out_between, _through_a_view, _fancy,
                               _from_a_buffer_changed_after], ids=lambda f: f.__name__.strip("_"))
def test_remembered_plain_writes_give_numpys_numbers_whatever_else_writes_into_the_buffer(f):
    g = verify(f, {"x": normal(5, seed=8)})
    assert [n for n in g.nodes if n.op is not None and n.op.name == "setitem"]


def _written_at(g, text):
    """The setitem ops recorded at the line of this file that holds ``text``."""
    return [n for n in ops_named(g, "setitem") if text in _line_of(n.source.lineno)]


def _refused_then_caught(x):
    b = np.zeros(4)
    y = np.tanh(x)
    try:
        b[0:2] = [1.0, 2.0, 3.0]  # NumPy refuses it: nothing written
    except ValueError:
        pass
    b[3] = y[0]
    return np.sum(b * x)


def _key_changed_after(x):
    b = np.zeros(4)
    y = np.tanh(x)
    idx = [0, 1]
    b[idx] = 5.0  # (idx then)
    idx.append(2)
    b[3] = y[0]
    return np.sum(b * x)


def _in_a_helper(b, v):
    b[:2] = v  # a plain write in a call of its own


def _helper_fills(x):
    b = np.zeros(4)
    y = np.tanh(x)
    _in_a_helper(b, np.array([1.0, 2.0]))
    b[3] = y[0]
    return np.sum(b * x)


def _flat_between(x):
    b = np.zeros(4)
    y = np.tanh(x)
    b[0] = 1.0
    b.flat[1] = 7.0  # not seen: the writes are not replayed
    b[3] = y[0]
    return np.sum(b * x)


def _two_buffers(x):
    a = np.zeros(4)
    b = np.zeros(4)
    y = np.tanh(x)
    a[0] = 1.0
    z = np.sin(x)
    w = np.cos(x)
    b[0] = 2.0
    e = np.exp(x)
    a[3] = y[0]
    b[3] = z[0]
    return np.sum(a * x) + np.sum(b * x) + np.sum(w) + np.sum(e)


def test_remembered_plain_writes_are_recorded_as_numpy_made_them():
    """Review of the remembered writes: a refused write (caught) crashed the trace; an index list
    changed after the write was replayed as changed; a write in a helper took the scope of the
    traced write; ``b.flat[1] = 7`` between the writes was folded into the numbers before them;
    the second buffer's writes were placed before ops NumPy ran earlier."""
    x = normal(4, seed=9)
    verify(_refused_then_caught, {"x": x})
    g = verify(_key_changed_after, {"x": x})
    (w,) = _written_at(g, "b[idx] = 5.0")
    np.testing.assert_array_equal(w.value, [5.0, 5.0, 0.0, 0.0])
    g = verify(_helper_fills, {"x": x})
    (w,) = _written_at(g, "b[:2] = v")
    assert [s.title for s in w.scope.chain] == ["_in_a_helper()"]
    g = verify(_flat_between, {"x": x})
    assert not _written_at(g, "b[0] = 1.0")
    (leaf,) = [n for n in g.nodes if n.kind == "const" and n.shape == (4,)]
    np.testing.assert_array_equal(leaf.value, [1.0, 7.0, 0.0, 0.0])  # NumPy's numbers then
    g = verify(_two_buffers, {"x": x})
    order = [n.op.name for n in g.nodes if n.op is not None][:7]
    assert order == ["tanh", "setitem", "sin", "cos", "setitem", "exp", "index"], order


def test_remembered_writes_respect_the_memory_limit_and_call_array_once():
    """Sixteen writes replayed into a 0.9 MB buffer take more than an 8 MB limit: the trace keeps the
    buffer's numbers instead of failing (it traced before). A value's ``__array__`` is called once
    per write, as NumPy calls it."""
    def rows(x):
        b = np.zeros((340, 340))
        y = np.tanh(x)
        for i in range(16):
            b[i] = float(i)
        b[339, 0] = y[0]
        return np.sum(b[:2] * x)

    g = gb.trace(rows, x=np.ones(340), memory_limit="8M")
    assert g.value == pytest.approx(rows(np.ones(340)))
    assert len(ops_named(g, "setitem")) == 1

    calls = []

    class Counted:
        def __array__(self, dtype=None, copy=None):
            calls.append(1)
            return np.full(2, float(len(calls)))

    def once(x):
        b = np.zeros(4)
        y = np.tanh(x)
        b[:2] = Counted()
        b[3] = y[0]
        return np.sum(b * x)

    g = gb.trace(once, x=normal(4))
    assert len(calls) == 1
    (w,) = _written_at(g, "b[:2] = Counted()")
    np.testing.assert_array_equal(w.value[:2], [1.0, 1.0])


def _filled_then_traced(h):
    out = np.zeros((2, 2))  # never written with plain numbers: still "np.zeros 2×2"
    out[0] = np.tanh(h[0])
    return out


@pytest.mark.parametrize("fill", [
    pytest.param(lambda b: b.__iadd__(5.0), id="+="),
    pytest.param(lambda b: np.copyto(b, np.full(3, 5.0)), id="copyto"),
    pytest.param(lambda b: np.add(np.zeros(3), 5.0, out=b), id="out="),
    pytest.param(lambda b: np.put(b, [0, 1, 2], 5.0), id="put"),
    pytest.param(lambda b: np.add.at(b, [0, 1, 2], 5.0), id="add.at"),
])
def test_a_buffer_written_with_plain_numbers_in_any_way_is_drawn_as_them(fill):
    def f(x):
        b = np.zeros(3)
        fill(b)  # b holds 5, 5, 5: no longer np.zeros
        b[2] = x[0]
        return np.sum(b * x)

    g = verify(f, {"x": normal(3)})
    (leaf,) = [n for n in g.nodes if n.kind == "const" and n.shape == (3,)]
    assert not leaf.params.get("label")
    assert g.draw().scene().node(leaf.id).text.splitlines()[0] == "[5, 5, 5]"


def test_remembering_plain_writes_stops_past_the_traces_budget(monkeypatch):
    """Each remembered write reads its buffer (a checksum) and each run copies it: a loop making a
    fresh 1 MiB buffer each step with plain writes after an op took 19 times NumPy's trace. Past
    ``BUDGET`` bytes a trace remembers no more (here none: step 1's write of data is no op, as before)."""
    monkeypatch.setattr(buffers, "BUDGET", -1)
    g = verify(_scratch_rnn, {"W": normal(7, 4, seed=6) / 2}, ag=_ag_scratch_rnn)
    assert len([n for n in ops_named(g, "setitem") if "_XS" in _line_of(n.source.lineno)]) == 4  # steps 2…5
    monkeypatch.setattr(buffers, "BUDGET", 64 << 20)
    g = verify(_scratch_rnn, {"W": normal(7, 4, seed=6) / 2}, ag=_ag_scratch_rnn)
    assert len([n for n in ops_named(g, "setitem") if "_XS" in _line_of(n.source.lineno)]) == 5
    # the budget counts writes remembered in vain only: a fresh scratch buffer each step, each
    # becoming traced, is remembered at every step (it stopped part way, and the steps folded in two)
    monkeypatch.setattr(buffers, "BUDGET", 1)

    def fresh_each_step(W):
        h = np.zeros((2, 4))
        for t in range(6):
            xh = np.empty((2, 7))
            y = np.tanh(h)  # an op since it was made
            xh[:, :3] = _XS[:, t]
            xh[:, 3:] = y
            h = np.tanh(xh @ W)
        return np.sum(h ** 2)

    g = verify(fresh_each_step, {"W": normal(7, 4, seed=6) / 2})  # (step 0 makes no op before its writes)
    assert len([n for n in ops_named(g, "setitem") if "_XS" in _line_of(n.source.lineno)]) == 5


def _filled_then_added(x, b):
    y = np.zeros((2, 3))
    y[0] = x[0]
    y[1] = x[1]
    y += b  # every entry: y now shows y + b, as y = y + b would
    return np.sum(y ** 2)


def test_an_in_place_update_of_a_filled_buffer_reads_it_once():
    """``y += b`` on a filled buffer was recorded as the add and then a write of every entry that
    read y's old values again: y drawn as shared, its second message all 0."""
    x, b = normal(2, 3), normal(3)
    g = gb.trace(_filled_then_added, x=x, b=b)
    assert not [n for n in g.shared_nodes() if n.kind == "op"]
    np.testing.assert_allclose(g.grad("x"), 2 * (x + b), rtol=1e-12)
    np.testing.assert_allclose(g.grad("b"), 2 * (x + b).sum(axis=0), rtol=1e-12)
    assert g.value == pytest.approx(_filled_then_added(x, b))


def _rows_written(W, x):
    M = np.zeros((3, 3))
    for r in M:  # rows are views of M: the first write makes M traced
        r += np.tanh(W @ x)
    for k, r in enumerate(M):
        r *= k + 1.0
    return np.sum(M ** 2)


def test_the_rows_of_a_buffer_written_while_iterating_over_them():
    """It stopped at the last row with a ShapeError: NumPy's row iterator reads until an IndexError."""
    W, x = normal(3, 3) * 0.5, normal(3)
    g = gb.trace(_rows_written, W=W, x=x)
    assert g.value == pytest.approx(_rows_written(W, x))
    t = np.tanh(W @ x)
    np.testing.assert_allclose(g.grad("W"), np.outer(2 * 14.0 * t * (1 - t ** 2), x), rtol=1e-10)


def _diagonal_of_zeros(x):
    a = np.zeros((3, 3))
    np.fill_diagonal(a, x)
    return np.sum(a @ a + a)


def _diagonal_of_eye(x):
    a = np.eye(3) * 2.0
    np.fill_diagonal(a, x)
    return np.sum(a @ a.T)


def _diagonal_zeroed_after_a_row(x):
    a = np.ones((3, 3))
    a[0] = x
    np.fill_diagonal(a, 0.0)
    return np.sum((a @ a) ** 2)


def _diagonal_of_a_wide_buffer(x):
    a = np.zeros((2, 4))
    np.fill_diagonal(a, x[:2], wrap=True)
    return np.sum(a @ a.T) + np.sum(a[:, 3])


def _diagonal_repeating_a_short_value(x):
    a = np.zeros((3, 3))
    np.fill_diagonal(a, x[:2])  # NumPy repeats it: x0, x1, x0
    return np.sum(a * np.arange(1.0, 10.0).reshape(3, 3))


def _diagonal_of_a_column_cut_short(x):
    a = np.zeros((2, 2))
    np.fill_diagonal(a, x[:, None])  # flattened, and cut to the diagonal's length: x0, x1
    return np.sum(a * np.arange(1.0, 5.0).reshape(2, 2))


@pytest.mark.parametrize("f, ag", [
    (_diagonal_repeating_a_short_value, lambda x: x[0] * 1.0 + x[1] * 5.0 + x[0] * 9.0),
    (_diagonal_of_a_column_cut_short, lambda x: x[0] * 1.0 + x[1] * 4.0),
    (_diagonal_of_zeros, lambda x: anp.sum(anp.diag(x) @ anp.diag(x) + anp.diag(x))),
    (_diagonal_of_eye, lambda x: anp.sum(anp.diag(x) @ anp.diag(x).T)),
    (_diagonal_zeroed_after_a_row,
     lambda x: anp.sum((anp.concatenate([(x * (1 - anp.eye(3)[0]))[None], 1 - anp.eye(3)[1:]]) @
                        anp.concatenate([(x * (1 - anp.eye(3)[0]))[None], 1 - anp.eye(3)[1:]])) ** 2)),
    (_diagonal_of_a_wide_buffer, lambda x: anp.sum(x[:2] ** 2)),
])
def test_fill_diagonal_writes_a_buffer_the_function_made_with_traced_values(f, ag):
    """np.fill_diagonal(a, x) into the function's own np.zeros was refused ("writes into its first
    argument in place ... for a traced array"), though a[i, i] = x traces."""
    verify(f, {"x": np.array([1.0, -2.0, 0.5])}, ag=ag)


def _eigh_of_a_made_matrix(x):
    a = np.eye(3) * 2.0  # the function's own array, plain numbers
    a[0, 1] = a[1, 0] = 0.5
    w, v = np.linalg.eigh(a)  # NumPy's EighResult, a named tuple
    u, s, vh = np.linalg.svd(a)  # SVDResult
    return np.sum(x * w) + np.sum(x * s) + np.sum(v[0] * x) + np.sum(u[:, 0] * x)


def test_numpys_named_tuple_results_of_a_made_array_come_back_whole():
    """eigh and svd of an array the function made raised TypeError: SVDResult.__new__() missing 2
    required positional arguments (the result was rebuilt from one generator)."""
    x = np.array([1.0, -2.0, 0.5])
    g = gb.trace(_eigh_of_a_made_matrix, x=x)
    assert g.value == pytest.approx(_eigh_of_a_made_matrix(x), rel=1e-14)
    a = np.eye(3) * 2.0
    a[0, 1] = a[1, 0] = 0.5
    w, v = np.linalg.eigh(a)
    u, s, _ = np.linalg.svd(a)
    np.testing.assert_allclose(g.grad("x"), w + s + v[0] + u[:, 0], rtol=1e-14)


def test_a_store_into_a_plain_array_is_named_where_the_function_has_no_source_to_read():
    # a function made by exec of a string (a notebook runner, python -c): NumPy's bare "setting an
    # array element with a sequence." came out, with no line, where a file's function got the advice
    source = "def f(w):\n    out = Y.copy()\n    out[0] = np.sum(w * w)\n    return np.sum(out ** 2)\n"
    namespace = {"np": np, "Y": np.linspace(0.0, 1.0, 3)}
    exec(source, namespace)  # noqa: S102 - the case itself
    with pytest.raises(TraceError, match=r"cannot be stored into this NumPy array.*\n  at <string>:3 in f$"):
        gb.trace(namespace["f"], w=np.array([0.3, 0.4]))
    # a store of plain numbers of the wrong shape there is NumPy's error, not this advice
    exec("def g(w):\n    out = np.zeros(3)\n    out[0] = np.ones(2)\n    return np.sum(w)\n", namespace)  # noqa: S102
    with pytest.raises(ValueError, match=r"^setting an array element with a sequence"):
        gb.trace(namespace["g"], w=np.array([0.3, 0.4]))
