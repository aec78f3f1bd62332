"""NumPy functions recorded as the ops they are made of (``graphviz_bp.ops.composed``) and the
elementwise ufuncs added with them: each gives NumPy's numbers, and gradients that match central
differences (and HIPS autograd where it has the function)."""

from __future__ import annotations

import warnings

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphviz_bp as gb
from graphviz_bp.drawing.scene import line_text
from graphviz_bp.ops.composed import COMPOSED

from .numerics import numerical_grad

RNG = np.random.default_rng(7)


def _data(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return RNG.uniform(low, high, size=shape)


def _check(fn, inputs: dict[str, np.ndarray], exact: bool = True, atol: float = 1e-6) -> gb.Graph:
    """``fn(**inputs)`` traced: its value NumPy's (to the last bit when ``exact``), and the gradient
    of ``Σ fn(...) ⊙ R`` (a fixed random R, so every entry of the result counts) for every input
    equal to central differences."""
    want = fn(**{k: v.copy() for k, v in inputs.items()})
    weights = RNG.standard_normal(np.shape(want))
    g = gb.trace(lambda **kw: np.sum(fn(**kw) * weights), inputs)
    traced = gb.trace(lambda **kw: fn(**kw) * 1.0, inputs, seed=np.ones(np.shape(want)))
    if exact:
        np.testing.assert_array_equal(np.asarray(traced.value), np.asarray(want) * 1.0)
    else:
        np.testing.assert_allclose(np.asarray(traced.value), np.asarray(want), rtol=1e-12, atol=1e-12)
    for name, value in inputs.items():
        if value.dtype.kind != "f":
            continue
        numeric = numerical_grad(lambda v, name=name: float(np.sum(fn(**{**inputs, name: v}) * weights)), value)
        np.testing.assert_allclose(g.grad(name), numeric, rtol=1e-6, atol=atol, err_msg=name)
    return g


# --- order statistics ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,axis,keepdims", [
    ((7,), None, False), ((6,), None, True), ((4, 5), 0, False), ((4, 6), 1, True), ((3, 4, 5), (0, 2), False),
    ((3, 4, 2), (2, 0), True), ((3, 4), -1, False), ((2, 3), None, False)])
def test_median_is_numpys_and_its_gradient_goes_to_the_middle_entries(shape, axis, keepdims):
    x = _data(*shape)
    g = _check(lambda x: np.median(x, axis=axis, keepdims=keepdims), {"x": x})
    assert any(n.op is not None and n.op.name == "sort" for n in g.nodes)


def test_median_of_a_slice_with_a_nan_is_nan_and_of_an_even_count_the_mean_of_the_middle_two():
    x = np.array([[3.0, np.nan, 1.0, 2.0], [4.0, 1.0, 3.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g = gb.trace(lambda x: np.median(x, axis=1) * 1.0, x=x, seed=np.ones(2))
    np.testing.assert_array_equal(g.value, np.median(x, axis=1))
    assert np.isnan(g.value[0]) and g.value[1] == 2.5
    ok = gb.trace(lambda x: np.median(x[1]), x=x)
    np.testing.assert_array_equal(ok.grad("x"), [[0, 0, 0, 0], [0, 0, 0.5, 0.5]])


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint"])
@pytest.mark.parametrize("q,axis,keepdims", [(37.5, None, False), ([10, 50, 90], 0, False), (np.array([[0, 25], [75, 100]]), 1, True),
                                             (66.6, (0, 1), False), (0, -1, True)])
def test_percentile_and_quantile_are_numpys_for_each_method(method, q, axis, keepdims):
    x = _data(5, 6)
    _check(lambda x: np.percentile(x, q, axis=axis, method=method, keepdims=keepdims), {"x": x})
    _check(lambda x: np.quantile(x, np.asarray(q) / 100, axis=axis, method=method, keepdims=keepdims), {"x": x})


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 9), st.integers(1, 5), st.floats(0, 100), st.sampled_from([None, 0, 1]),
       st.sampled_from(["linear", "midpoint", "nearest"]))
def test_percentile_of_fresh_shapes_and_ties_is_numpys(n, m, q, axis, method):
    x = np.round(_data(n, m), 1)  # ties: rounded to one decimal
    want = np.percentile(x, q, axis=axis, method=method)
    got = gb.trace(lambda x: np.percentile(x, q, axis=axis, method=method) * 1.0, x=x, seed=np.ones(np.shape(want))).value
    np.testing.assert_array_equal(got, want)


def test_percentile_refuses_what_it_does_not_compute_by_name():
    x = _data(4)
    with pytest.raises(gb.UnsupportedOpError, match=r"np.percentile\(..., method='weibull'\) is not supported"):
        gb.trace(lambda x: np.percentile(x, 50, method="weibull"), x=x)
    with pytest.raises(ValueError, match=r"range \[0, 100\]"):
        gb.trace(lambda x: np.percentile(x, 101), x=x)
    made_before = np.zeros(())  # (one made inside the trace is a buffer, which takes the result)
    with pytest.raises(gb.UnsupportedOpError, match=r"np.median\(..., out=...\) is not supported\n  at ") as info:
        gb.trace(lambda x: np.median(x, out=made_before), x=x)
    assert "made_before" in str(info.value)  # the user's line
    g = gb.trace(lambda x: np.sum(np.median(x, out=np.zeros(())) * x), x=x)
    assert g.value == pytest.approx(np.median(x) * np.sum(x))


def test_partition_puts_the_entries_where_numpy_does_and_sends_each_gradient_back():
    ties = np.round(_data(3, 9), 1)
    x = _data(3, 9)
    for kth, axis in ((4, -1), ((1, 5), 1), (2, 0), (3, None)):
        got = gb.trace(lambda x: np.partition(x, kth, axis=axis) * 1.0, x=ties,
                       seed=np.ones(np.partition(ties, kth, axis=axis).shape)).value
        np.testing.assert_array_equal(got, np.partition(ties, kth, axis=axis))
        _check(lambda x: np.partition(x, kth, axis=axis), {"x": x})
    k = 3
    smallest = gb.trace(lambda x: np.sum(np.partition(x.ravel(), k)[:k]), x=x)
    mask = np.zeros(x.size)
    mask[np.argsort(x.ravel(), kind="stable")[:k]] = 1
    assert smallest.value == pytest.approx(np.sort(x.ravel())[:k].sum())
    assert smallest.grad("x").sum() == k and set(np.unique(smallest.grad("x"))) <= {0.0, 1.0}


def test_ptp_is_the_maximum_minus_the_minimum():
    x = _data(4, 5)
    _check(lambda x: np.ptp(x, axis=1), {"x": x})
    _check(lambda x: np.ptp(x, keepdims=True), {"x": x})


# --- means, differences, integrals ----------------------------------------------------------------------

@pytest.mark.parametrize("case", ["plain", "axis", "weights same shape", "weights 1-d", "keepdims"])
def test_average_with_traced_weights_is_numpys(case):
    x, w, w1 = _data(3, 4), _data(3, 4, low=0.5), _data(4, low=0.5)
    if case == "plain":
        _check(lambda x: np.average(x), {"x": x})
    elif case == "axis":
        _check(lambda x: np.average(x, axis=0), {"x": x})
    elif case == "weights same shape":
        _check(lambda x, w: np.average(x, weights=w), {"x": x, "w": w})
    elif case == "weights 1-d":
        _check(lambda x, w1: np.average(x, axis=1, weights=w1), {"x": x, "w1": w1})
    else:
        _check(lambda x, w: np.average(x, axis=1, weights=w, keepdims=True), {"x": x, "w": w})


def test_average_returned_gives_the_sum_of_weights_and_refuses_what_numpy_refuses():
    x, w1 = _data(3, 4), _data(4, low=0.5)
    g = gb.trace(lambda x, w: np.sum(np.average(x, axis=1, weights=w, returned=True)[1] * x[:, 0]), x=x, w=w1)
    want_avg, want_scale = np.average(x, axis=1, weights=w1, returned=True)
    assert g.value == pytest.approx(np.sum(want_scale * x[:, 0]))
    np.testing.assert_allclose(g.grad("w"), np.full(4, np.sum(x[:, 0])))
    with pytest.raises(TypeError, match="axis must be specified"):
        gb.trace(lambda x, w: np.average(x, weights=w), x=x, w=w1)
    with pytest.raises(ZeroDivisionError):
        gb.trace(lambda x: np.average(x, axis=1, weights=np.array([1.0, -1.0, 0.0, 0.0])), x=x)


@pytest.mark.parametrize("kw", [{}, {"n": 2}, {"axis": 0}, {"n": 3, "axis": 1}, {"prepend": 0.0},
                                {"append": np.array([[1.0], [2.0], [3.0]])}, {"n": 0}])
def test_diff_is_numpys_for_each_order_and_axis(kw):
    _check(lambda x: np.diff(x, **kw), {"x": _data(3, 6)})


def test_a_smoothness_penalty_with_diff_and_a_traced_prepend():
    x, p = _data(8), _data(1)
    _check(lambda x, p: np.sum(np.diff(x, n=2, prepend=p) ** 2) + np.sum(np.diff(x) ** 2), {"x": x, "p": p})


@pytest.mark.parametrize("which", ["dx", "x 1-d", "x like y"])
def test_trapezoid_is_numpys(which):
    y, t = _data(4, 6), np.sort(_data(6))
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    if which == "dx":
        _check(lambda y: trapezoid(y, dx=0.25), {"y": y})
    elif which == "x 1-d":
        _check(lambda y, t: trapezoid(y, t), {"y": y, "t": t})
    else:
        t2 = np.sort(_data(4, 6), axis=0)
        _check(lambda y: trapezoid(y, t2, axis=0), {"y": y}, exact=False)


# --- matrices -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [-1, 0, 2])
def test_tril_and_triu_keep_numpys_triangles_and_only_those_entries_get_gradient(k):
    m = _data(4, 5)
    g = _check(lambda m: np.tril(m, k), {"m": m})
    _check(lambda m: np.triu(m, k), {"m": m})
    _check(lambda m: np.tril(m, k), {"m": _data(2, 3, 4)})
    ones = gb.trace(lambda m: np.sum(np.tril(m, k)), m=m)
    np.testing.assert_array_equal(ones.grad("m"), np.tri(4, 5, k))
    assert g.value is not None


@pytest.mark.parametrize("sa,sb", [((2, 3), (3, 2)), ((3,), (2,)), ((2, 2), (3,)), ((), (2, 3)), ((2, 1, 2), (2, 2))])
def test_kron_is_numpys(sa, sb):
    _check(lambda a, b: np.kron(a, b), {"a": _data(*sa), "b": _data(*sb)})


@pytest.mark.parametrize("kw", [{}, {"rowvar": False}, {"bias": True}, {"ddof": 2}, {"y": "y"}])
def test_cov_and_corrcoef_are_numpys(kw):
    x, y = _data(3, 7), _data(2, 7)
    if kw.get("y"):
        _check(lambda x, y: np.cov(x, y), {"x": x, "y": y})
        _check(lambda x, y: np.corrcoef(x, y), {"x": x, "y": y})
        return
    _check(lambda x: np.cov(x, **kw), {"x": x})
    if "ddof" not in kw and "bias" not in kw:
        _check(lambda x: np.corrcoef(x, **kw), {"x": x})


def test_cov_of_one_variable_is_its_variance_and_traced_weights_are_refused():
    v = _data(9)
    _check(lambda v: np.cov(v), {"v": v})
    _check(lambda v: np.corrcoef(v, v[::-1] ** 2), {"v": v})
    with pytest.raises(gb.UnsupportedOpError, match=r"np.cov with traced fweights or aweights"):
        gb.trace(lambda v: np.cov(v, aweights=v ** 2), v=v)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, -2])
def test_matrix_power_is_numpys_squarings(n):
    a = _data(3, 3) / 2 + np.eye(3)
    _check(lambda a: np.linalg.matrix_power(a, n), {"a": a}, exact=n >= 0)


def test_the_zeroth_matrix_power_is_the_identity_with_no_gradient():
    a = _data(2, 3, 3)
    g = gb.trace(lambda a: np.sum(np.linalg.matrix_power(a, 0) * a), a=a)
    np.testing.assert_array_equal(g.grad("a"), np.broadcast_to(np.eye(3), a.shape))


def test_matrix_power_refuses_what_numpy_refuses():
    with pytest.raises(TypeError, match="exponent must be an integer"):
        gb.trace(lambda a: np.linalg.matrix_power(a, 1.5), a=np.eye(2))
    with pytest.raises(np.linalg.LinAlgError):
        gb.trace(lambda a: np.linalg.matrix_power(a, 2), a=np.ones((2, 3)))


@pytest.mark.parametrize("shapes", [[(2, 3), (3, 4)], [(5, 2), (2, 6), (6, 1)], [(1, 8), (8, 2), (2, 9)],
                                    [(3,), (3, 4), (4, 5), (5, 2)], [(2, 4), (4, 3), (3, 6), (6,)],
                                    [(4,), (4, 4), (4,)], [(6, 2), (2, 7), (7, 3), (3, 8), (8, 2)]])
def test_multi_dot_multiplies_in_numpys_order(shapes):
    inputs = {f"a{i}": _data(*s) for i, s in enumerate(shapes)}
    _check(lambda **kw: np.linalg.multi_dot([kw[f"a{i}"] for i in range(len(shapes))]), inputs)


def test_polyval_with_traced_coefficients_and_points():
    _check(lambda p, x: np.polyval(p, x), {"p": _data(4), "x": _data(5)})
    _check(lambda x: np.polyval([1.5, -2.0, 0.5], x), {"x": _data(2, 3)})


def test_sinc_is_numpys_and_its_gradient_at_zero_is_zero():
    x = np.array([-1.5, -0.3, 0.0, 0.2, 2.0])
    g = gb.trace(lambda x: np.sum(np.sinc(x)), x=x)
    assert g.value == pytest.approx(np.sum(np.sinc(x)), rel=1e-15)
    with np.errstate(all="ignore"):
        want = np.where(x == 0, 0.0, (np.cos(np.pi * x) * np.pi * x - np.sin(np.pi * x)) / (np.pi * x ** 2))
    np.testing.assert_allclose(g.grad("x"), want, atol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"axisa": 0, "axisb": 0}, {"axis": 0}, {"axisc": 0}])
def test_cross_of_three_vectors_is_numpys(kw):
    if "axis" in kw or "axisa" in kw:
        a, b = _data(3, 4), _data(3, 4)
    else:
        a, b = _data(4, 3), _data(4, 3)
    _check(lambda a, b: np.cross(a, b, **kw), {"a": a, "b": b})


# --- moving and reshaping ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda x: np.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, [0, 1], [-1, 0]), lambda x: np.fliplr(x),
    lambda x: np.flipud(x), lambda x: np.rot90(x), lambda x: np.rot90(x, 2), lambda x: np.rot90(x, -1, axes=(1, 2)),
    lambda x: np.append(x, x[:1], axis=0), lambda x: np.append(x, 7.0), lambda x: np.delete(x, 1, axis=1),
    lambda x: np.delete(x, [0, 5, 9]), lambda x: np.delete(x, slice(None, None, 2), axis=2),
    lambda x: np.diagflat(x[0, 0]), lambda x: np.diagflat(x[0, :2, 0], k=1), lambda x: np.hsplit(x, 3)[1],
    lambda x: np.vsplit(x, [1])[1], lambda x: np.dsplit(x, [1])[0], lambda x: np.atleast_1d(x[0, 0, 0]),
    lambda x: np.atleast_2d(x[0, 0]), lambda x: np.atleast_3d(x[0]), lambda x: np.linalg.matrix_transpose(x),
    lambda x: np.linalg.diagonal(x, offset=1), lambda x: np.linalg.trace(x), lambda x: np.linalg.outer(x[0, 0], x[1, 1]),
    lambda x: np.linalg.vector_norm(x), lambda x: np.linalg.vector_norm(x, axis=1, keepdims=True),
    lambda x: np.linalg.matrix_norm(x),
])
def test_moving_and_reshaping_functions_are_numpys(fn):
    _check(fn, {"x": _data(2, 3, 4)})


def test_vector_norm_over_two_axes_matches_numpy():
    _check(lambda x: np.linalg.vector_norm(x, axis=(0, 2)), {"x": _data(2, 3, 4)}, exact=False)


@pytest.mark.parametrize("ord", [None, 1, 2, 3, -1, -2, 0.5, np.inf, -np.inf])
@pytest.mark.parametrize("shape,axis,keepdims", [((6,), None, False), ((3, 5), 1, False), ((2, 3, 4), -1, True)])
def test_every_vector_norm_order_is_numpys(ord, shape, axis, keepdims):
    g = _check(lambda x: np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims), {"x": _data(*shape)}, exact=False)
    ops = {n.op.name for n in g.nodes if n.op is not None}
    assert ("norm" in ops) == (ord in (None, 2))  # the 2-norm is one op, ‖·‖; the others what NumPy does
    if shape == (6,) and ord in (None, 2, 3):  # (the orders autograd differentiates)
        x = _data(6)
        want = autograd.grad(lambda v: anp.linalg.norm(v, ord=ord))(x)
        np.testing.assert_allclose(gb.trace(lambda x: np.linalg.norm(x, ord=ord), x=x).grad("x"), want, rtol=1e-10)


@pytest.mark.parametrize("ord", [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
@pytest.mark.parametrize("shape,axis,keepdims", [((3, 5), None, False), ((3, 4, 5), (2, 0), False), ((2, 3, 4), (0, 1), True)])
def test_every_matrix_norm_order_is_numpys(ord, shape, axis, keepdims):
    _check(lambda x: np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims), {"x": _data(*shape)}, exact=False)


def test_the_other_norm_functions_take_every_order_and_norm_refuses_as_numpy_does():
    x = _data(2, 3, 3)
    _check(lambda x: np.linalg.vector_norm(x, ord=1, axis=(0, 2), keepdims=True), {"x": x}, exact=False)
    _check(lambda x: np.linalg.vector_norm(x, ord=-np.inf), {"x": x}, exact=False)
    _check(lambda x: np.linalg.matrix_norm(x, ord="nuc"), {"x": x}, exact=False)
    for p in (1, -1, np.inf, -np.inf, "fro", "nuc"):
        _check(lambda x: np.linalg.cond(x, p), {"x": x}, exact=False, atol=1e-5)
    # ord=0 counts the entries that are not 0: a number, through which no gradient flows
    g = gb.trace(lambda x: np.sum(x) * np.linalg.norm(x, 0), x=np.array([0.0, 2.0, -1.0]))
    assert g.value == 2.0 and np.array_equal(g.grad("x"), [2.0, 2.0, 2.0])
    for kw, error in [({"ord": "nuc"}, "improper number of dimensions"), ({"ord": "bad", "axis": (0, 1)}, "invalid norm order"),
                      ({"ord": "fro", "axis": 0}, "invalid norm order 'fro' for vectors"), ({"axis": (1, 1), "ord": 1}, "duplicate axes")]:
        with pytest.raises(ValueError, match=f"(?i){error}"):
            np.linalg.norm(x, **kw)  # NumPy's refusal, and the trace's
        with pytest.raises(ValueError, match=f"np.linalg.norm: {error}"):
            gb.trace(lambda x: np.linalg.norm(x, **kw), x=x)


def test_norms_at_the_edges_numpy_answers_as_numpy_does():
    rng = np.random.default_rng(11)  # (its own: the shared RNG's later draws stay as they were)
    x32 = rng.uniform(-2, 2, 3).astype(np.float32)
    for order in (np.float64(3), np.int64(3), 3):  # a NumPy number as the order: x's dtype kept
        g = gb.trace(lambda x: np.linalg.norm(x, order) * 1.0, x=x32)
        assert g.value.dtype == np.float32 and g.value == np.linalg.norm(x32, order)
    x = rng.uniform(-2, 2, (2, 3))
    g = gb.trace(lambda x: np.sum(np.linalg.norm(x, 1, axis=1.0)), x=x)  # (NumPy reads axis 1.0 as 1)
    assert g.value == pytest.approx(np.sum(np.linalg.norm(x, 1, axis=1)))
    # no entries: NumPy's 0, a constant
    for shape, order, axis in (((0,), np.inf, None), ((0, 3), 2, None), ((2, 0), np.inf, 1), ((0, 3), "nuc", None)):
        g = gb.trace(lambda x, y: np.sum(y) + np.sum(np.linalg.norm(x, order, axis)), x=np.ones(shape), y=np.ones(2))
        assert g.value == 2.0 and g.grad("x").shape == shape
    # cond of a singular matrix, or one with an entry not finite: NumPy's inf (and nan), no gradient to it
    stack = np.array([[[2.0, 1.0], [1.0, 3.0]], [[1.0, 2.0], [2.0, 4.0]], [[1.0, np.inf], [0.0, 1.0]]])
    with pytest.raises(np.linalg.LinAlgError):  # (NumPy's SVD of a singular matrix's "inverse" fails: alike)
        gb.trace(lambda x: np.linalg.cond(x, "nuc") * 1.0, x=stack, seed=np.ones(3))
    for p in (1, np.inf, "fro"):
        with np.errstate(all="ignore"):
            want = np.linalg.cond(stack, p)
            g = gb.trace(lambda x: np.linalg.cond(x, p) * 1.0, x=stack, seed=np.eye(len(stack))[0])
        np.testing.assert_allclose(g.value, want, rtol=1e-12)
        assert np.all(g.grad("x")[1:] == 0) and np.all(np.isfinite(g.grad("x")[0]))


def test_select_picks_the_first_choice_that_holds():
    x = _data(3, 4)
    _check(lambda x: np.select([x > 1, x < -1], [x ** 2, -x], default=0.5), {"x": x})
    _check(lambda x: np.select([x > 0], [x], default=x * 3), {"x": x})


# --- signals ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("m,n", [(7, 3), (3, 7), (5, 5), (6, 1), (1, 4), (6, 4), (4, 6)])
def test_convolve_and_correlate_are_numpys_for_each_mode_and_order(mode, m, n):
    a, v = _data(m), _data(n)
    _check(lambda a, v: np.convolve(a, v, mode), {"a": a, "v": v}, exact=False)
    _check(lambda a, v: np.correlate(a, v, mode), {"a": a, "v": v}, exact=False)


# --- against autograd, which has many of them -------------------------------------------------------------

@pytest.mark.parametrize("ours,theirs", [
    (lambda x: np.tril(x, -1), lambda x: anp.tril(x, -1)),
    (lambda x: np.triu(x, 1), lambda x: anp.triu(x, 1)),
    (lambda x: np.diff(x, axis=0), lambda x: anp.diff(x, axis=0)),
    (lambda x: np.kron(x, x[:2, :2]), lambda x: anp.kron(x, x[:2, :2])),
    (lambda x: np.rot90(x), lambda x: anp.rot90(x)),
    (lambda x: np.cross(x[:, :3], x[:, 1:4]), lambda x: anp.cross(x[:, :3], x[:, 1:4])),
    (lambda x: np.linalg.matrix_power(x[:, :4] + 2 * np.eye(4), 3),
     lambda x: anp.dot(anp.dot(x[:, :4] + 2 * anp.eye(4), x[:, :4] + 2 * anp.eye(4)), x[:, :4] + 2 * anp.eye(4))),
    (lambda x: np.arctan2(x, x[::-1] + 3), lambda x: anp.arctan2(x, x[::-1] + 3)),
    (lambda x: np.hypot(x, 1.5), lambda x: anp.hypot(x, 1.5)),
    (lambda x: np.log2(np.abs(x) + 1) + np.log10(np.abs(x) + 1), lambda x: anp.log2(anp.abs(x) + 1) + anp.log10(anp.abs(x) + 1)),
    (lambda x: np.tan(x / 4) + np.arcsin(x / 3) + np.arccos(x / 3), lambda x: anp.tan(x / 4) + anp.arcsin(x / 3) + anp.arccos(x / 3)),
    (lambda x: np.arcsinh(x) + np.arctanh(x / 3) + np.arccosh(np.abs(x) + 1.5),
     lambda x: anp.arcsinh(x) + anp.arctanh(x / 3) + anp.arccosh(anp.abs(x) + 1.5)),
    (lambda x: np.exp2(x) + np.logaddexp2(x, 0.5), lambda x: anp.exp2(x) + anp.logaddexp2(x, 0.5)),
    (lambda x: np.deg2rad(x) * np.rad2deg(x), lambda x: anp.deg2rad(x) * anp.rad2deg(x)),
])
def test_gradients_agree_with_autograd(ours, theirs):
    x = _data(4, 5)
    weights = RNG.standard_normal(np.shape(ours(x)))
    g = gb.trace(lambda x: np.sum(ours(x) * weights), x=x)
    np.testing.assert_allclose(g.grad("x"), autograd.grad(lambda x: anp.sum(theirs(x) * weights))(x),
                               rtol=1e-9, atol=1e-12)


def test_every_composed_function_is_listed_as_supported():
    from graphviz_bp.ops import numpy_name

    listed = set(gb.supported())
    for func in COMPOSED:
        assert numpy_name(func) in listed, func
    for name in ("np.median", "np.percentile", "np.quantile", "np.cov", "np.corrcoef", "np.tril", "np.kron",
                 "np.diff", "np.average", "np.linalg.matrix_power", "np.linalg.multi_dot", "np.arctan2",
                 "np.log2", "np.hypot", "np.convolve", "np.nansum"):
        assert name in listed, name


def test_a_composed_function_draws_its_parts_with_the_users_line():
    def loss(x):
        return np.sum(np.median(x, axis=1) ** 2)  # the line

    g = gb.trace(loss, x=_data(3, 5))
    made = [n for n in g.nodes if n.op is not None]
    assert {n.op.name for n in made} >= {"sort", "mean"}
    assert all(n.source is not None and "# the line" in n.source.short() for n in made)
    inside = [n for n in made if n.scope is not None]
    assert {n.op.name for n in inside} == {"sort", "index", "mean"} and {n.scope.label for n in inside} == {"np.median"}


# --- NaNs skipped, scans, dtypes -------------------------------------------------------------------------

def _with_nans(dtype=np.float64) -> np.ndarray:
    x = _data(4, 6)
    x[0, 1] = np.nan
    x[2, :] = np.nan  # a slice of NaNs only
    x[3, [0, 2, 5]] = np.nan
    return x.astype(dtype)


_NAN_CASES = [
    lambda x: np.nanmedian(x, axis=1), lambda x: np.nanmedian(x, axis=0), lambda x: np.nanmedian(x),
    lambda x: np.nanmedian(x, axis=1, keepdims=True), lambda x: np.nanpercentile(x, [5, 50, 95], axis=1),
    lambda x: np.nanquantile(x, 0.3, axis=0), lambda x: np.nanquantile(x, 0.3, axis=1, method="midpoint"),
    lambda x: np.nanquantile(x, [0.3, 0.9], axis=1, method="nearest"), lambda x: np.nanvar(x, axis=1),
    lambda x: np.nanstd(x, axis=0, ddof=1), lambda x: np.nanvar(x), lambda x: np.nanvar(x, axis=1, keepdims=True),
    lambda x: np.nanprod(x, axis=1), lambda x: np.nancumsum(x, axis=1), lambda x: np.nancumprod(x),
]


@pytest.mark.parametrize("k", range(len(_NAN_CASES)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_functions_that_skip_nans_give_numpys_numbers_and_types(k, dtype):
    fn, x = _NAN_CASES[k], _with_nans(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = fn(x)
        got = gb.trace(lambda x: fn(x) * 1, x=x, seed=np.ones(np.shape(want), dtype=want.dtype)).value
    assert np.asarray(got).dtype == want.dtype
    if dtype is np.float64:
        np.testing.assert_array_equal(got, want)
    else:  # (float32 quantiles of slices with NaNs: NumPy interpolates slice by slice, at times in float64)
        np.testing.assert_allclose(got, want, rtol=3e-7)


@pytest.mark.parametrize("k", range(len(_NAN_CASES)))
def test_functions_that_skip_nans_send_no_gradient_to_the_nans(k):
    fn, x = _NAN_CASES[k], _with_nans()
    x[2, 3] = 0.25  # every slice has a number, so that every result is finite
    weights = RNG.standard_normal(np.shape(fn(x)))
    g = gb.trace(lambda x: np.sum(fn(x) * weights), x=x)
    grad = g.grad("x")
    assert np.all(grad[np.isnan(x)] == 0)
    finite = ~np.isnan(x)
    numeric = numerical_grad(lambda v: float(np.sum(fn(np.where(finite, v, np.nan)) * weights)), np.where(finite, x, 0))
    np.testing.assert_allclose(grad[finite], numeric[finite], rtol=1e-6, atol=1e-6)


def test_cumulative_sum_and_prod_with_their_initial_entry():
    x = _data(3, 4)
    _check(lambda x: np.cumulative_sum(x, axis=1, include_initial=True), {"x": x})
    _check(lambda x: np.cumulative_prod(x[1]), {"x": x})
    with pytest.raises(ValueError, match="axis"):
        gb.trace(lambda x: np.sum(np.cumulative_sum(x)), x=x)


def test_percentile_keeps_float32_for_one_number_and_widens_for_a_list_as_numpy():
    x = _data(9).astype(np.float32)
    for q in (37.0, [10, 55.5], 50):
        want = np.percentile(x, q)
        got = gb.trace(lambda x: np.percentile(x, q) * 1, x=x,
                       seed=np.ones(np.shape(want), dtype=want.dtype) if np.ndim(want) else None).value
        assert np.asarray(got).dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_cov_of_float32_or_integers_is_computed_in_float64_as_numpys():
    for x in (_data(3, 5).astype(np.float32), np.arange(15.0).reshape(3, 5).astype(np.float32)):
        g = gb.trace(lambda x: np.cov(x) * 1, x=x, seed=np.ones((3, 3)))
        np.testing.assert_array_equal(g.value, np.cov(x))
        assert g.value.dtype == np.float64 and g.grad("x").dtype == np.float32


# --- least squares and interpolation ----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 3), (3, 6), (4, 4), (2, 5, 3)])
def test_pinv_is_numpys_and_its_gradient_autograds(shape):
    a = _data(*shape)
    _check(lambda a: np.linalg.pinv(a), {"a": a}, exact=False)
    if len(shape) == 2:
        w = RNG.standard_normal(shape[::-1])
        g = gb.trace(lambda a: np.sum(np.linalg.pinv(a) * w), a=a)
        np.testing.assert_allclose(g.grad("a"), autograd.grad(lambda a: anp.sum(anp.linalg.pinv(a) * w))(a),
                                   rtol=1e-9, atol=1e-12)


def test_pinv_drops_small_singular_values_as_numpy_and_sends_no_nan_back():
    a = np.outer(_data(4), _data(3))  # rank 1
    g = gb.trace(lambda a: np.sum(np.linalg.pinv(a) ** 2), a=a)
    assert g.value == pytest.approx(np.sum(np.linalg.pinv(a) ** 2), rel=1e-12)
    assert np.all(np.isfinite(g.grad("a")))


@pytest.mark.parametrize("rhs", [(6,), (6, 2)])
def test_lstsq_returns_numpys_four_values_with_gradients_for_the_solution_and_residuals(rhs):
    a, b = _data(6, 3), _data(*rhs)
    x, residuals, rank, s = np.linalg.lstsq(a, b)
    got = gb.trace(lambda a, b: np.sum(np.linalg.lstsq(a, b)[0]), a=a, b=b)
    assert got.value == pytest.approx(np.sum(x), rel=1e-10)
    for k in (0, 1, 3):
        _check(lambda a, b: np.linalg.lstsq(a, b)[k], {"a": a, "b": b}, exact=False)
    under = np.linalg.lstsq(a[:2], b[:2])
    traced = gb.trace(lambda a, b: np.sum(np.linalg.lstsq(a, b)[0]) + np.linalg.lstsq(a, b)[2], a=a[:2], b=b[:2])
    assert traced.value == pytest.approx(np.sum(under[0]) + under[2]) and under[1].shape == (0,)


def test_interp_is_numpys_inside_at_knots_and_outside():
    xp, fp = np.array([0.0, 1.0, 2.5, 4.0]), _data(4)
    x = np.array([-1.0, 0.0, 0.3, 1.0, 2.0, 2.5, 3.9, 4.0, 5.0])
    for left, right in ((None, None), (-7.0, 9.0)):
        g = gb.trace(lambda x, fp: np.interp(x, xp, fp, left, right) * 1, x=x, fp=fp, seed=np.ones(9))
        np.testing.assert_array_equal(g.value, np.interp(x, xp, fp, left, right))
    _check(lambda x, fp, xp: np.interp(x, xp, fp), {"x": x + 0.05, "fp": fp, "xp": xp})
    slopes = gb.trace(lambda x: np.sum(np.interp(x, xp, fp)), x=np.array([0.5, 3.0])).grad("x")
    np.testing.assert_allclose(slopes, [fp[1] - fp[0], (fp[3] - fp[2]) / 1.5])


# --- selections, layouts, signs ------------------------------------------------------------------------------

_LAYOUT_CASES = {
    "copysign": (lambda x: np.copysign(x, x[::-1]), "x"),
    "fmax with nans": (lambda x: np.fmax(x, np.where(x > 0.5, np.nan, 0.2)), "x"),
    "fmin with nans": (lambda x: np.fmin(np.where(x > 0.5, np.nan, x), 0.2), "x"),
    "real": (lambda x: np.real(x) * 2, "x"),
    "extract": (lambda x: np.extract(x > 0, x), "x"),
    "compress axis": (lambda x: np.compress([True, False, True], x, axis=0), "x"),
    "compress flat": (lambda x: np.compress(np.ravel(x) > 0, x), "x"),
    "choose": (lambda x: np.choose(np.array([[0, 1, 2, 0]] * 3), [x, x * 2, -x]), "x"),
    "choose clip": (lambda x: np.choose(np.array([0, 3, 1, -1]), [x[0], x[1], x[2]], mode="clip"), "x"),
    "piecewise": (lambda x: np.piecewise(x, [x < 0, x >= 0], [lambda t: -t, lambda t: t ** 2]), "x"),
    "piecewise otherwise": (lambda x: np.piecewise(x, [x < -0.5], [0.0, lambda t: np.exp(t)]), "x"),
    "block": (lambda x: np.block([[x, x[:, :2]], [x[:1], x[:1, :2]]]), "x"),
    "block 1-d": (lambda v: np.block([v, v[:2], 3.0]), "v"),
    "insert": (lambda v: np.insert(v, 2, 5.0), "v"),
    "insert values": (lambda v: np.insert(v, [1, 4], v[:2] * 3), "v"),
    "insert a run": (lambda v: np.insert(v, 3, v[:3]), "v"),
    "insert flattens": (lambda x: np.insert(x, 1, 7.0), "x"),
    "ediff1d": (lambda v: np.ediff1d(v, to_end=[1.0, 2.0], to_begin=v[0]), "v"),
    "gradient": (lambda v: np.gradient(v), "v"),
    "gradient second order": (lambda v: np.gradient(v, 0.5, edge_order=2), "v"),
    "gradient axis": (lambda x: np.gradient(x, axis=1), "x"),
    "cond": (lambda x: np.linalg.cond(x[:, :3] + 2 * np.eye(3)), "x"),
    "bincount": (lambda v: np.bincount(np.array([0, 2, 2, 5, 1, 0]), weights=v, minlength=8), "v"),
}


@pytest.mark.parametrize("case", list(_LAYOUT_CASES))
def test_selections_layouts_and_signs_are_numpys(case):
    fn, arg = _LAYOUT_CASES[case]
    _check(fn, {arg: _data(3, 4) if arg == "x" else _data(6)}, exact=case not in ("cond",))


@pytest.mark.parametrize("case", ["meshgrid xy", "meshgrid ij sparse", "broadcast_arrays", "gradient two axes"])
def test_functions_that_return_several_arrays_are_numpys(case):
    v, x = _data(6), _data(3, 4)
    fn, inputs = {
        "meshgrid xy": (lambda v: np.meshgrid(v[:3], v[3:]), {"v": v}),
        "meshgrid ij sparse": (lambda v: np.meshgrid(v[:3], v[3:], v[:2], indexing="ij", sparse=True), {"v": v}),
        "broadcast_arrays": (lambda x, v: np.broadcast_arrays(x[:, :1], v[:4]), {"x": x, "v": v}),
        "gradient two axes": (lambda x: np.gradient(x, 2.0, 0.5), {"x": x}),
    }[case]
    want = fn(**inputs)
    for k, w in enumerate(want):
        _check(lambda **kw: fn(**kw)[k], inputs)
        assert np.shape(w) == np.shape(fn(**inputs)[k])


def test_functions_of_values_only_are_constants_and_supported_lists_every_spelling():
    x = _data(3, 4)
    g = gb.trace(lambda x: np.sum(x * np.isin(np.round(x), [1.0]) + x * ~np.isposinf(x) + np.digitize(x, [0.0])), x=x)
    np.testing.assert_array_equal(g.grad("x"), np.isin(np.round(x), [1.0]) + 1.0)
    listed = gb.supported()
    for name in ("np.abs", "np.absolute", "np.acos", "np.concat", "np.pow", "np.fmax", "np.linalg.pinv"):
        assert name in listed, name
    with pytest.raises(gb.UnsupportedOpError, match=r"np.fmax\(..., where=...\) is not supported"):
        gb.trace(lambda x: np.sum(np.fmax(x, 0.0, where=x > 0)), x=x)


# --- found by a hostile review -------------------------------------------------------------------------------

def test_a_traced_quantile_gets_its_gradient():
    v = _data(7)
    for method in ("linear", "midpoint", "nearest"):
        g = gb.trace(lambda v, q: np.percentile(v, q, method=method), v=v, q=np.array(37.0))
        assert g.value == np.percentile(v, 37.0, method=method)
        assert gb.check(lambda v, q: np.percentile(v, q, method=method), {"v": v, "q": np.array(37.0)}).passed
    slope = gb.trace(lambda v, q: np.quantile(v, q), v=v, q=np.array(0.37)).grad("q")
    s = np.sort(v)
    assert slope == pytest.approx((s[3] - s[2]) * 6)


def test_polyval_of_a_poly1d_uses_its_coefficients_and_a_number_is_refused_as_numpy():
    x = np.array([0.5, -1.0, 2.0])
    g = gb.trace(lambda x: np.polyval(np.poly1d([1, 2]), x) * 1, x=x, seed=np.ones(3))
    np.testing.assert_array_equal(g.value, np.polyval(np.poly1d([1, 2]), x))
    with pytest.raises(TypeError, match="0-d"):
        gb.trace(lambda x: np.sum(np.polyval(np.array(2.0), x)), x=x)


def test_cov_follows_numpy_for_rowvar_false_on_one_row_and_for_weights_and_refuses_what_numpy_refuses():
    m = _data(1, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.cov(m, rowvar=False)
        got = gb.trace(lambda m: np.cov(m, rowvar=False) * 1, m=m, seed=np.ones(want.shape)).value
    np.testing.assert_array_equal(got, want)
    x, f, a = _data(3, 6), np.array([1, 2, 1, 3, 1, 1]), _data(6, low=0.1, high=1.0)
    for kw in ({"fweights": f}, {"aweights": a}, {"fweights": f, "aweights": a, "ddof": 0}, {"aweights": a, "bias": True}):
        _check(lambda x: np.cov(x, **kw), {"x": x}, exact=False)
    with pytest.raises(ValueError, match="more than 2 dimensions"):
        gb.trace(lambda x: np.sum(np.cov(x)), x=_data(2, 3, 4))
    with pytest.raises(ValueError, match="ddof must be integer"):
        gb.trace(lambda x: np.sum(np.cov(x, ddof=1.5)), x=x)


def test_select_with_only_the_default_traced_clips_as_numpy():
    x = np.array([-0.5, 0.3, 1.2, 2.0])
    g = gb.trace(lambda x: np.sum(np.select([x < 0, x > 1], [0.0, 1.0], default=x) * np.arange(1, 5)), x=x)
    assert g.value == pytest.approx(np.sum(np.select([x < 0, x > 1], [0.0, 1.0], default=x) * np.arange(1, 5)))
    np.testing.assert_array_equal(g.grad("x"), [0, 2, 0, 0])


def test_partition_with_nans_is_in_numpys_order():
    for seed in range(20):
        v = np.random.default_rng(seed).normal(size=9)
        v[seed % 9] = np.nan
        got = gb.trace(lambda v: np.partition(v, 4) * 1, v=v, seed=np.ones(9)).value
        np.testing.assert_array_equal(got, np.partition(v, 4))


def test_convolve_and_correlate_with_infinities_in_the_kernel_are_numpys_without_warnings():
    a = np.array([1.0, 2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = gb.trace(lambda a: np.convolve(a, [1, np.inf]) * 1, a=a, seed=np.ones(4)).value
        np.testing.assert_array_equal(got, np.convolve(a, [1, np.inf]))
    got = gb.trace(lambda a: np.correlate(a, np.array([np.nan, 1.0]), "full") * 1, a=a, seed=np.ones(4)).value
    np.testing.assert_array_equal(got, np.correlate(a, [np.nan, 1.0], "full"))
    with pytest.raises(ValueError, match="depth"):
        gb.trace(lambda a: np.sum(np.correlate(a[0], a)), a=a)


def test_nanmean_of_float32_stays_float32_with_numpys_numbers():
    x = np.array([[1.1, np.nan, 2.3], [0.7, 0.2, np.nan], [0.3, 0.1, 0.7]], np.float32)
    for axis in (None, 0, 1):
        want = np.nanmean(x, axis=axis)
        got = gb.trace(lambda x: np.nanmean(x, axis=axis) * 1, x=x,
                       seed=np.ones(np.shape(want), np.float32) if np.ndim(want) else None).value
        assert np.asarray(got).dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_average_with_weights_over_several_axes_is_numpys():
    a = _data(3, 4, 5)
    _check(lambda a, w: np.average(a, axis=(0, 2), weights=w), {"a": a, "w": _data(3, 5, low=0.5)})
    _check(lambda a, w: np.average(a, axis=(2, 0), weights=w), {"a": a, "w": _data(5, 3, low=0.5)})
    with pytest.raises(ValueError, match="consistent"):
        gb.trace(lambda a: np.sum(np.average(a, axis=2, weights=np.ones((1, 5)))), a=a)
    scale = gb.trace(lambda a: np.sum(np.average(a, axis=2, weights=np.arange(1, 6), returned=True)[1] * a[:, :, 0]),
                     a=a)
    assert scale.value == pytest.approx(np.sum(15.0 * a[:, :, 0]))


def test_moveaxis_refuses_a_repeated_axis_and_fabs_gives_numpys_float_type():
    with pytest.raises(ValueError, match="repeated axis in `destination`"):
        gb.trace(lambda x: np.sum(np.moveaxis(x, [0, 1], [2, 2])), x=_data(2, 3, 4))
    x = np.array([-3.0, 5.0])
    np.testing.assert_array_equal(gb.trace(lambda x: np.sum(np.fabs(x)), x=x).grad("x"), [-1, 1])
    g = gb.trace(lambda x: np.fabs(np.array([-128, 5], np.int8)) * x, x=x, seed=np.ones(2))
    np.testing.assert_array_equal(g.value, np.fabs(np.array([-128, 5], np.int8)) * x)


def test_the_median_of_no_entries_keeps_its_dims():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.median(np.zeros((0, 3)), axis=0, keepdims=True)
        got = gb.trace(lambda x: np.median(x[:0], axis=0, keepdims=True) + np.sum(x) * 0, x=_data(2, 3),
                       seed=np.ones(want.shape)).value
    assert got.shape == want.shape == (1, 3)


def test_a_function_of_several_ops_is_drawn_as_a_group_named_after_it_and_folds_in_a_loop():
    def net(X, Ws):
        h = X
        for W in Ws:
            z = W @ h
            z = (z - np.median(z, axis=1, keepdims=True)) / (np.ptp(z, axis=1, keepdims=True) + 1e-3)
            h = np.tanh(z)
        return np.sum(h ** 2)

    rng = np.random.default_rng(0)
    Ws = [rng.normal(size=(6, 6)) / 3 for _ in range(30)]
    g = gb.trace(lambda X, **kw: net(X, [kw[f"W{i}"] for i in range(30)]), X=rng.normal(size=(6, 4)),
                 **{f"W{i}": w for i, w in enumerate(Ws)})
    groups = [n.scope for n in g.nodes if n.scope is not None and n.scope.kind == "group"]
    assert {s.label for s in groups} == {"np.median", "np.ptp"}
    assert len({s for s in groups if s.label == "np.median"}) == 30  # one per call
    scene = g.draw().scene()
    titles = [line_text(c.lines[0]) for c in scene.clusters if c.lines]
    assert "np.median" in titles and "np.ptp" in titles
    assert any("× 30" in t for t in titles) and len(scene.nodes) < 25
    one = gb.trace(lambda x: np.sum(np.fliplr(x) * x), x=_data(3, 3))
    assert all(n.scope is None for n in one.nodes)  # one op: drawn as it is, not framed


@pytest.mark.parametrize("k", range(7))
def test_insert_along_an_axis_is_numpys_the_bias_column_idiom_first(k):
    fn = [lambda X: np.insert(X, 0, 1, axis=1), lambda X: np.insert(X, [1, 3], 0.5, axis=1),
          lambda X: np.insert(X, 2, X[0], axis=0), lambda X: np.insert(X, 1, X[:, 0], axis=1),
          lambda X: np.insert(X, slice(0, 3), [9.0, 8.0, 7.0], axis=1),
          lambda X: np.insert(X, -1, X[:, 1:2] * 2, axis=1), lambda X: np.insert(X, 1, [[5.0, 6.0, 7.0]], axis=0)][k]
    _check(fn, {"X": _data(4, 3)})


@pytest.mark.parametrize("case", ["c_ bias column", "c_ columns", "r_ with a number", "r_ with a slice", "r_ of 2-d",
                                  "c_ of 1-d", "require"])
def test_index_tricks_and_require_on_traced_values_are_numpys(case):
    fn = {"c_ bias column": lambda X, v: np.c_[np.ones(X.shape[0]), X],
          "c_ columns": lambda X, v: np.c_[X[:, 0], X[:, 1] * 2],
          "r_ with a number": lambda X, v: np.r_[v, 0.0, v[:2]],
          "r_ with a slice": lambda X, v: np.r_[0:3, v] * v[0],
          "r_ of 2-d": lambda X, v: np.r_[X, X[:1]],
          "c_ of 1-d": lambda X, v: np.c_[v, v ** 2],
          "require": lambda X, v: np.require(X, dtype=np.float64, requirements=["C", "A"]) * 2}[case]
    _check(fn, {"X": _data(4, 3), "v": _data(5)})


def test_a_directive_string_is_refused_by_name_and_unsupported_conversions_name_the_line():
    from numpy.lib.stride_tricks import as_strided

    v = _data(6)
    with pytest.raises(gb.UnsupportedOpError, match=r"np.r_\['0,2', ...\] \(a directive string\)"):
        gb.trace(lambda v: np.sum(np.r_["0,2", v, v]), v=v)
    with pytest.raises(gb.UnsupportedOpError, match="as_strided imported by name .*\n  at .*test_composed.py"):
        gb.trace(lambda v: np.sum(as_strided(v, shape=(2, 3), strides=(24, 8))), v=v)
    g = gb.trace(lambda v: np.sum(np.array(v, subok=True, ndmin=3) ** 2), v=v)
    np.testing.assert_allclose(g.grad("v"), 2 * v)
    assert np.r_[1:3].tolist() == [1, 2] and np.c_[[1, 2], [3, 4]].shape == (2, 2)  # outside a trace: NumPy's


# --- found by the review of the whole change -------------------------------------------------------------------

def test_pinv_and_lstsq_have_finite_right_gradients_where_singular_values_are_equal():
    w = _data(3, 3)
    a = 2 * np.eye(3)
    g = gb.trace(lambda a: np.sum(np.linalg.pinv(a) * w), a=a)
    np.testing.assert_array_equal(gb.trace(lambda a: np.linalg.pinv(a) * 1, a=a, seed=np.ones((3, 3))).value,
                                  np.linalg.pinv(a))
    np.testing.assert_allclose(g.grad("a"), -w / 4, atol=1e-12)  # d(A⁻¹) = −A⁻¹ dA A⁻¹
    q, _ = np.linalg.qr(_data(5, 2))  # orthonormal columns: both singular values 1
    b = _data(5)
    f = lambda q: np.sum(np.linalg.lstsq(q, b)[0] ** 2)  # noqa: E731
    np.testing.assert_allclose(gb.trace(f, q=q).grad("q"), numerical_grad(f, q), atol=1e-6)
    s = np.diag([1.0, 1.0, 8e-16])
    for kw in ({}, {"rtol": None}, {"rcond": 1e-3}, {"rtol": 0.5}):  # NumPy's cutoffs, NumPy's numbers
        got = gb.trace(lambda a: np.linalg.pinv(a, **kw) * 1, a=s, seed=np.ones((3, 3))).value
        np.testing.assert_array_equal(got, np.linalg.pinv(s, **kw))


def test_lists_for_interp_and_an_axis_list_for_average_are_read_as_numpy_reads_them():
    g = gb.trace(lambda x: np.interp(x, [0, 1, 2], [0, 10, 0]), x=np.array(0.5))
    assert g.value == 5.0 and g.grad("x") == 10.0
    a = _data(3, 4)
    g = gb.trace(lambda a: np.sum(np.average(a, axis=[0, 1], weights=a ** 2)), a=a)
    assert g.value == pytest.approx(np.average(a, axis=[0, 1], weights=a ** 2))
    with pytest.raises(ValueError, match="no negative elements"):
        gb.trace(lambda w: np.sum(np.bincount(np.array([0, -1]), weights=w)), w=np.ones(2))


def test_one_frame_for_a_function_whose_parts_are_functions_of_the_same_kind_and_depth_collapses_it():
    x = _data(3, 6)
    g = gb.trace(lambda x: np.sum(np.corrcoef(x) ** 2), x=x)
    scopes = {n.scope for n in g.nodes if n.scope is not None}
    assert [s.label for s in scopes] == ["np.corrcoef"]  # not np.cov and np.average inside it
    boxed = g.draw(depth=0).scene()
    boxes = [n for n in boxed.nodes if "box" in n.classes]
    assert len(boxes) == 1 and "np.corrcoef" in boxes[0].text
    assert len(boxed.nodes) < len(g.draw(depth=None).scene().nodes)
    page = g.draw().html()
    assert "np.corrcoef" in page and "<svg" in page


def test_np_r_and_np_c_stay_numpys_objects_while_tracing_also_in_other_threads():
    import threading

    from numpy.lib._index_tricks_impl import AxisConcatenator

    seen = {}

    def other():
        seen["r"] = np.r_[np.arange(3), 5]
        seen["c"] = np.c_[[1, 2], [3, 4]]
        seen["select"] = np.select([np.array([True, False])], [np.array([1, 2])], 9)
        seen["require"] = np.require(np.arange(3), np.float32).dtype
        seen["attributes"] = (isinstance(np.r_, AxisConcatenator), np.r_.axis, np.c_.axis, np.c_.ndmin)

    def f(x):
        t = threading.Thread(target=other)
        t.start()
        t.join()
        return np.sum(np.c_[x, x] ** 2)

    g = gb.trace(f, x=np.arange(3.0))
    assert g.value == 10.0
    assert seen["r"].tolist() == [0, 1, 2, 5] and seen["c"].tolist() == [[1, 3], [2, 4]]
    assert seen["select"].tolist() == [1, 9] and seen["require"] == np.float32
    assert seen["attributes"] == (True, 0, -1, 2)
    assert type(np.r_).__name__ == "RClass" and np.r_[1:3].tolist() == [1, 2]  # after the trace: NumPy's own


def test_quantiles_of_no_entries_are_numpys_error_or_nan():
    x = _data(3)
    with pytest.raises(IndexError, match="out of bounds"):
        gb.trace(lambda x: np.percentile(x[:0], 50) + np.sum(x), x=x)
    with pytest.raises(IndexError, match="out of bounds"):
        gb.trace(lambda x: np.sum(np.quantile(x[None, :0], 0.5, axis=1)) + np.sum(x), x=x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g = gb.trace(lambda x: np.nanpercentile(x[:0], 50) + np.sum(x), x=x)
    assert np.isnan(g.value)
