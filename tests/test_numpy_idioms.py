"""Functions real NumPy code uses, traced unchanged: stacks, splits, pad, tile, flip, roll,
take/put_along_axis, nan_to_num, max/min with keepdims, np.random inside the function; and the
in-place updates that are refused (np.add.at, np.put_along_axis), each saying what to write."""

from __future__ import annotations

import numpy as np
import pytest

import graphviz_bp as gb
from graphviz_bp import ops

from .numerics import numerical_grad, verify

X = np.arange(12.0).reshape(3, 4) / 7 - 0.5


def _op_names(g):
    return [n.op.name for n in g.nodes if n.op is not None]


def test_max_and_min_keep_dims_as_function_and_method():
    def f(x):
        return np.sum((x - np.max(x, axis=1, keepdims=True)) ** 2) + np.sum(x.min(axis=0, keepdims=True) * 2)

    g = gb.trace(f, x=X)
    # X increases along both axes: the max of each row is its last entry, the min of each column its first
    rows = 2 * (X - X[:, -1:])
    expected = rows.copy()
    expected[:, -1] -= rows.sum(axis=1)
    expected[0, :] += 2
    np.testing.assert_allclose(g.grad("x"), expected, rtol=1e-12, atol=1e-12)


def test_np_random_inside_the_function_is_a_constant():
    def f(x):
        noise = np.random.default_rng(7).normal(size=x.shape)
        mask = np.random.RandomState(3).rand(*x.shape) > 0.5
        return np.sum(x * noise * mask)

    g = gb.trace(f, x=X)
    expected = np.random.default_rng(7).normal(size=X.shape) * (np.random.RandomState(3).rand(*X.shape) > 0.5)
    np.testing.assert_array_equal(g.grad("x"), expected)
    consts = [n for n in g.nodes if n.kind == "const"]
    assert len(consts) == 2 and not any(n.differentiable for n in consts)
    assert _op_names(g) == ["multiply", "multiply", "sum"]


def _policy(W, s):
    z = s @ W
    return np.exp(z) / np.sum(np.exp(z))


def _reinforce_global(W, s):
    probs = _policy(W, s)
    np.random.seed(5)
    a = np.random.choice(len(probs), p=probs)  # REINFORCE's action, drawn with the policy's numbers
    return -np.log(probs[a])


def _reinforce_generator(W, s):
    probs = _policy(W, s)
    a = np.random.default_rng(5).choice(probs.shape[0], p=probs)
    return -np.log(probs[a])


def _reinforce_multinomial(W, s):
    probs = _policy(W, s)
    np.random.seed(5)
    return -np.sum(np.random.multinomial(1, probs) * np.log(probs))


@pytest.mark.parametrize("fn", [_reinforce_global, _reinforce_generator, _reinforce_multinomial])
def test_a_discrete_sampler_draws_with_a_traced_values_numbers_and_its_draw_is_a_constant(fn):
    """np.random.choice(n, p=probs) (REINFORCE's action) was refused as a conversion dropping probs
    from the graph: it draws with probs' numbers, and what it draws has no gradient. The gradient of
    −log π(a) is then softmax − onehot(a), through z = s W."""
    rng = np.random.default_rng(2)
    W, s = rng.normal(size=(4, 3)), rng.normal(size=4)
    g = gb.trace(fn, W=W, s=s)
    assert g.value == pytest.approx(fn(W, s))
    probs = _policy(W, s)
    np.random.seed(5)
    a = {_reinforce_global: lambda: np.random.choice(3, p=probs),
         _reinforce_generator: lambda: np.random.default_rng(5).choice(3, p=probs),
         _reinforce_multinomial: lambda: int(np.argmax(np.random.multinomial(1, probs)))}[fn]()
    np.testing.assert_allclose(g.grad("W"), np.outer(s, probs - np.eye(3)[a]), rtol=1e-12)
    assert gb.check(fn, W=W, s=s).passed


def test_choosing_entries_of_a_traced_array_keeps_their_path():
    """np.random.choice(x) picks entries of x: a path for the gradient (NumPy indexes x), not a draw
    with x's numbers; x is not a probability vector, so it is never handed over as numbers either."""
    def pick(x):
        np.random.seed(0)
        return np.sum(np.random.choice(x, size=2) * np.array([1.0, 10.0]))

    x = np.array([0.5, 1.5, 2.0])
    g = gb.trace(pick, x=x)
    np.random.seed(0)
    chosen = np.random.choice(3, size=2)
    expected = np.zeros(3)
    np.add.at(expected, chosen, [1.0, 10.0])
    assert g.value == pick(x) and np.array_equal(g.grad("x"), expected)


def test_a_continuous_sampler_of_a_traced_value_and_other_conversions_stay_refused():
    """normal(mu, 1) has a gradient (mu + eps): drawn with mu's numbers it would lose it."""
    def continuous(mu):
        return np.sum(np.random.default_rng(0).normal(mu, 1.0))

    def shuffled(p):  # a permutation of traced values would be a gradient's path, not a draw
        return np.sum(np.random.default_rng(0).permutation(p) * np.arange(3.0))

    with pytest.raises(gb.TraceError, match="drop them from the graph"):
        gb.trace(continuous, mu=np.zeros(3))
    with pytest.raises((gb.TraceError, gb.UnsupportedOpError)):
        gb.trace(shuffled, p=np.full(3, 1 / 3))


def _normal(mu):
    return np.sum(np.random.normal(loc=mu, scale=1.0, size=3) ** 2)


def _uniform(high):
    rng = np.random.default_rng(0)
    return np.sum(rng.uniform(0.0, high))


def _gamma(k):
    return np.sum(np.random.default_rng(0).gamma(k))


def _aliased(mu):
    f = np.random.default_rng(0).normal  # a local named like a sampler (f) and bound to another
    return np.sum(f(mu, 1.0))


def _named_normal(mu):
    normal = np.ones(3)  # a local named like a sampler, the sampler called as a method
    return np.sum(np.random.default_rng(0).normal(mu)) + np.sum(normal)


def _mvn_mean(mu):
    return np.sum(np.random.multivariate_normal(mu, np.eye(3)) ** 2)


def _mvn_cov(s):
    return np.sum(np.random.default_rng(0).multivariate_normal(np.zeros(3), np.diag(s), size=2) ** 2)


@pytest.mark.parametrize("f, said", [
    (_normal, "normal() draws numbers with no path back to its traced parameters"),
    # (NumPy's compiled sampler reshapes its traced draw in place: refused there, at its own line)
    (_mvn_mean, "e.g. mean + rng.standard_normal(size) @ np.linalg.cholesky(cov).T"),
    (_mvn_cov, "multivariate_normal() draws numbers with no path back to its traced parameters"),
    (_aliased, "normal() draws numbers with no path back to its traced parameters"),
    (_named_normal, "normal() draws numbers with no path back to its traced parameters"),
    (_uniform, "e.g. low + (high - low) * rng.random(size)"),
    (_gamma, "gamma() draws numbers with no path back to its traced parameters (NumPy's sampler reads their "
             "numbers only), which would drop them from the graph; draw with fixed ones and transform"),
])
def test_a_continuous_sampler_given_a_traced_parameter_says_how_to_write_the_draw(f, said):
    """The refusal was the generic "converting a traced value to a NumPy array ..."; the README says
    it suggests the draw written from fixed parameters."""
    with pytest.raises(gb.TraceError) as info:
        gb.trace(f, **{f.__code__.co_varnames[0]: np.full(3, 2.0)})
    assert said in str(info.value) and f"in {f.__name__}:" in str(info.value), str(info.value)
    if f is _normal:
        assert "loc + scale * rng.standard_normal(size)" in str(info.value)


def test_a_reduction_in_a_float_dtype_reduces_the_cast():
    """np.mean(x, dtype=np.float64), careful course code's, was refused: a float dtype is the cast's."""
    def f(x):
        return np.sum(x ** 2, dtype=np.float64) + np.mean(x.astype(np.float32) ** 2, dtype=np.float64) \
            + (x ** 3).sum(dtype=float)

    g = gb.trace(f, x=X)
    assert g.value == f(X) and g.output.value.dtype == np.float64
    assert gb.check(f, x=X, eps=1e-3, rtol=1e-4).passed  # (through float32: its rounding)
    with pytest.raises(gb.UnsupportedOpError, match="dtype"):
        gb.trace(lambda x: np.sum(x, dtype=np.int64), x=X)


def test_split_gives_a_list_of_pieces_one_node_each():
    seen = {}

    def f(x):
        pieces = np.split(x, [1, 3], axis=1)
        seen["pieces"] = pieces
        return np.sum(pieces[0]) + 2 * np.sum(pieces[2])

    g = gb.trace(f, x=X)
    assert isinstance(seen["pieces"], list) and [p.shape for p in seen["pieces"]] == [(3, 1), (3, 2), (3, 1)]
    assert _op_names(g).count("split") == 2  # the middle piece is not used: not in the graph
    np.testing.assert_array_equal(g.grad("x"), np.tile([1.0, 0.0, 0.0, 2.0], (3, 1)))
    with pytest.raises(ValueError, match="does not split into 3 equal sections"):
        gb.trace(lambda x: np.sum(np.split(x, 3, axis=1)[0]), x=X)
    assert [p.shape for p in np.array_split(X, 3, axis=1)] == [(3, 2), (3, 1), (3, 1)]


@pytest.mark.parametrize("op,params,label", [
    ("split", {"sections": 3, "axis": 0, "piece": 1}, "split[1]"),
    ("array_split", {"sections": (1, 3), "axis": 1, "piece": 0}, "array_split[0] axis 1"),
    ("pad", {"pad_width": ((1, 1), (2, 0)), "mode": "constant"}, "pad ((1, 1), (2, 0))"),
    ("pad", {"pad_width": ((3, 3),), "mode": "reflect"}, "pad 3 reflect"),
    ("pad", {"pad_width": ((2, 1),), "mode": "constant"}, "pad (2, 1)"),
    ("pad", {"pad_width": ((1, 1), (1, 1)), "mode": "edge"}, "pad 1 edge"),
    ("pad", {"pad_width": ((0, 0), (0, 0), (1, 1), (1, 1)), "mode": "constant"}, "pad 1 on axes 2, 3"),
    ("pad", {"pad_width": ((0, 0), (2, 2)), "mode": "constant"}, "pad 2 on axis 1"),
    ("pad", {"pad_width": ((0, 0), (1, 2)), "mode": "constant"}, "pad (1, 2) on axis 1"),
    ("pad", {"pad_width": ((2, 1), (2, 1)), "mode": "constant"}, "pad (2, 1)"),
    ("pad", {"pad_width": ((0, 0), (0, 0)), "mode": "constant"}, "pad 0"),
    ("pad", {"pad_width": (), "mode": "constant", "constant_values": ()}, "pad 0"),
    ("pad", {"pad_width": ((1, 1),), "mode": "constant", "constant_values": ((5.0, 5.0),)}, "pad 1 with 5"),
    ("pad", {"pad_width": ((1, 1),), "mode": "constant", "constant_values": ((1.0, 2.5),)},
     "pad 1 with constants"),
    ("pad", {"pad_width": ((1, 0), (0, 0)), "mode": "constant", "constant_values": ((0, 5), (0, 0))}, "pad (1, 0) on axis 0"),
    ("pad", {"pad_width": ((0, 0),), "mode": "constant", "constant_values": ((5, 5),)}, "pad 0"),
    ("pad", {"pad_width": ((1, 1),), "mode": "constant", "constant_values": ((np.nan, np.nan),)}, "pad 1 with nan"),
    ("tile", {"reps": (2, 3)}, "tile 2×3"),
    ("flip", {"axis": None}, "flip"),
    ("flip", {"axis": (0, 1)}, "flip axis (0, 1)"),
    ("roll", {"shift": -1, "axis": 0}, "roll -1 axis 0"),
    ("hstack", {}, "hstack"),
    ("column_stack", {}, "column_stack"),
    ("take_along_axis", {"axis": 1}, "take_along axis 1"),
    ("nan_to_num", {"nan": 0.0}, "nan_to_num"),
])
def test_drawing_labels(op, params, label):
    assert ops.display_label(ops.get(op), params, [None]) == label


def test_stacks_are_one_node_each_with_their_own_label():
    g = gb.trace(lambda a, b: np.sum(np.hstack([a, b]) ** 2) + np.sum(np.column_stack((a, b)))
                 + np.sum(np.vstack([a, b])) + np.sum(np.dstack([a, b])), a=np.ones(3), b=np.full(3, 2.0))
    assert [n for n in _op_names(g) if n.endswith("stack")] == ["hstack", "column_stack", "vstack", "dstack"]
    np.testing.assert_allclose(g.grad("a"), np.full(3, 2 + 3))
    np.testing.assert_allclose(g.grad("b"), np.full(3, 4 + 3))


def test_pad_refuses_what_it_cannot_differentiate_exactly():
    with pytest.raises(gb.UnsupportedOpError, match="mode='maximum'"):
        gb.trace(lambda x: np.sum(np.pad(x, 1, "maximum")), x=X)
    with pytest.raises(gb.UnsupportedOpError, match="reflect_type='odd'"):
        gb.trace(lambda x: np.sum(np.pad(x, 1, "reflect", reflect_type="odd")), x=X)
    with pytest.raises(gb.UnsupportedOpError, match="constant"):
        gb.trace(lambda x, c: np.sum(np.pad(x, 1, constant_values=c)), x=X, c=np.array(1.0))


def test_nan_to_num_passes_the_gradient_where_finite_only():
    x0 = np.array([1.0, np.nan, np.inf, -np.inf, -2.0])
    g = gb.trace(lambda x: np.sum(np.nan_to_num(x, posinf=5.0, neginf=-5.0) * np.arange(1.0, 6.0)), x=x0)
    assert g.value == pytest.approx(1 + 0 + 15 - 20 - 10)
    np.testing.assert_array_equal(g.grad("x"), [1.0, 0, 0, 0, 5.0])
    with pytest.raises(gb.UnsupportedOpError, match=r"x = np.nan_to_num\(x\)"):
        gb.trace(lambda x: np.sum(np.nan_to_num(x, copy=False)), x=x0)


def test_add_at_adds_once_per_occurrence_of_an_index_in_place_as_numpy():
    def scatter(v):
        a = np.zeros(3)
        np.add.at(a, np.array([0, 0, 2]), v)
        return np.sum(a * np.array([1.0, 2.0, 3.0]))

    g = gb.trace(scatter, v=np.array([0.5, 1.5, 2.5]))
    assert g.value == pytest.approx(0.5 + 1.5 + 3 * 2.5)
    np.testing.assert_array_equal(g.grad("v"), [1.0, 1.0, 3.0])

    def in_place(x, v):  # into a traced array: every reference to it sees the update
        y = x * 1.0
        alias = y
        np.add.at(y, (np.array([1, 1]), np.array([0, 2])), v)
        np.subtract.at(y, (0, slice(None)), 1.0)
        return np.sum(alias ** 2)

    x0, v0 = X.copy(), np.array([2.0, -3.0])
    expected = x0.copy()
    np.add.at(expected, (np.array([1, 1]), np.array([0, 2])), v0)
    expected[0] -= 1.0
    g = gb.trace(in_place, x=x0, v=v0)
    assert g.value == pytest.approx(np.sum(expected ** 2))
    np.testing.assert_allclose(g.grad("x"), 2 * expected)
    np.testing.assert_allclose(g.grad("v"), [2 * expected[1, 0], 2 * expected[1, 2]])
    with pytest.raises(gb.UnsupportedOpError, match=r"np.maximum.at\(...\) is not supported"):
        gb.trace(lambda v: np.sum(np.maximum.at(v, [0], 1.0) or v), v=np.ones(3))
    outside = np.zeros(3)
    with pytest.raises(gb.TraceError, match=r"cannot be added in place \(np.add.at\) into this NumPy array"):
        gb.trace(lambda v: np.sum(np.add.at(outside, [0], v[0]) or v), v=np.ones(3))


def test_put_along_axis_writes_in_place_as_numpy_and_its_functional_form_is_exact():
    idx = np.array([[0, 0], [3, 1], [2, 2]])  # repeated indices: the last write wins, as in NumPy
    v0 = np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]])
    expected = X.copy()
    np.put_along_axis(expected, idx, v0, axis=1)
    w = np.arange(1.0, 13.0).reshape(3, 4)
    g = gb.trace(lambda x, v: (np.put_along_axis(x, idx, v, axis=1), np.sum(x * w))[1], x=X.copy(), v=v0)
    assert g.value == pytest.approx(np.sum(expected * w))
    np.testing.assert_array_equal(g.grad("v"), [[0.0, 1.0], [8.0, 6.0], [0.0, 11.0]])
    g = gb.trace(lambda x, v: np.sum(gb.put_along_axis(x, idx, v, axis=1) * w), x=X, v=v0)
    assert g.value == pytest.approx(np.sum(expected * w))
    written = np.zeros(X.shape, dtype=bool)
    np.put_along_axis(written, idx, True, axis=1)
    np.testing.assert_array_equal(g.grad("x"), np.where(written, 0, w))
    # a value written over by a later one in the same row gets nothing
    np.testing.assert_array_equal(g.grad("v"), [[0.0, 1.0], [8.0, 6.0], [0.0, 11.0]])
    np.testing.assert_array_equal(gb.put_along_axis(X, idx, v0, axis=1), expected)  # plain arrays too


def test_fill_diagonal_on_a_traced_array_writes_its_diagonal():
    def q(Y):  # t-SNE's Student-t affinities, the diagonal zeroed in place
        D = np.sum(Y ** 2, 1)[:, None] + np.sum(Y ** 2, 1)[None, :] - 2 * Y @ Y.T
        inv = 1.0 / (1.0 + D)
        np.fill_diagonal(inv, 0.0)
        return np.sum(inv / np.sum(inv)) + np.sum(inv ** 2)

    Y = np.random.default_rng(0).normal(size=(4, 2))
    g = gb.trace(q, Y=Y)
    np.testing.assert_allclose(g.value, q(Y))
    numeric = np.zeros_like(Y)
    for i in np.ndindex(Y.shape):
        a, b = Y.copy(), Y.copy()
        a[i] += 1e-6
        b[i] -= 1e-6
        numeric[i] = (q(a) - q(b)) / 2e-6
    np.testing.assert_allclose(g.grad("Y"), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn", [np.nanargmax, np.nanargmin, np.argwhere, np.flatnonzero, np.diag_indices_from])
def test_index_functions_are_computed_on_the_values(fn):
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    out = []
    g = gb.trace(lambda x: out.append(fn(x)) or np.sum(x ** 2), x=x)  # on a traced x: its values' indices
    np.testing.assert_allclose(g.grad("x"), 2 * x)
    expected = fn(x)
    got = out[0]
    if isinstance(expected, tuple):
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))
    else:
        assert np.array_equal(got, expected)


def test_an_unsupported_function_names_the_users_line_and_a_fitting_alternative():
    def f(x):
        return np.sum(np.apply_along_axis(np.sum, 0, x))  # the line to name

    with pytest.raises(gb.UnsupportedOpError) as info:
        gb.trace(f, x=np.ones((3, 3)))
    message = str(info.value)
    assert "np.apply_along_axis is not supported" in message and "use a loop over the axis" in message
    assert "return np.sum(np.apply_along_axis(np.sum, 0, x))  # the line to name" in message


def test_eigh_gives_two_nodes_as_numpys_result_and_its_gradients_match_finite_differences():
    """``np.linalg.eigh`` (PCA, spectral methods): ``(w, V)`` or ``.eigenvalues``/``.eigenvectors``,
    one node each, gradients through either, and the formula and expression language spell it."""
    rng = np.random.default_rng(4)
    A = rng.normal(size=(4, 4))

    def f(A):
        S = A + A.T
        res = np.linalg.eigh(S)
        w, V = res
        assert res.eigenvalues is w and res.eigenvectors is V
        return np.sum(w ** 2) + np.sum(V[:, 0] ** 4) + np.sum(np.linalg.eigvalsh(S, UPLO="U") ** 3)

    g = gb.trace(f, A=A)
    assert [n.op.name for n in g.nodes if n.op is not None and n.op.name.startswith("eig")] == \
        ["eigh", "eigh", "eigvalsh"]
    scene = g.draw().scene()
    assert {"eigh → λ", "eigh → V", "eigvalsh"} <= {n.text.split("\n")[0] for n in scene.nodes}

    def loss(a):
        s = a + a.T
        w, v = np.linalg.eigh(s)
        return np.sum(w ** 2) + np.sum(v[:, 0] ** 4) + np.sum(np.linalg.eigvalsh(s) ** 3)

    fd = np.zeros_like(A)
    for i in np.ndindex(A.shape):
        d = np.zeros_like(A)
        d[i] = 1e-6
        fd[i] = (loss(A + d) - loss(A - d)) / 2e-6
    np.testing.assert_allclose(g.grad("A"), fd, rtol=1e-6, atol=1e-7)
    F = g.formula("A")
    where = F.where()
    assert F.verified and where["S"] == "A + Aᵀ" and "res" not in where, where  # res is both pieces, not V
    assert "eigh(S)[0]" in str(where) and "eigh(S)[1]" in str(where) and "eigvalsh(S, UPLO='U')" in str(where)
    # the expression language: a piece by its index, UPLO as a keyword
    S = A + A.T
    np.testing.assert_allclose(gb.evaluate("eigh(S, UPLO='U')[1]", S=S), np.linalg.eigh(S, UPLO="U")[1])
    np.testing.assert_allclose(gb.evaluate("sum(eigvalsh(S) ** 2)", S=S), np.sum(np.linalg.eigvalsh(S) ** 2))


def test_a_line_that_assigns_every_piece_of_a_call_names_none_of_them():
    """``parts = np.split(x, 3)`` named the one piece used "parts"; ``mid = np.split(x, 3)[1]`` is
    that piece."""
    def f(x):
        parts = np.split(x, 3)
        mid = np.split(x, 3)[1]
        last = np.split(x, 3)[-1]  # (a negative index is not read: no name rather than a wrong one)
        return np.sum(parts[0] * mid * last)

    where = gb.trace(f, x=np.arange(6.0)).formula("x").where()
    assert where == {"mid": "split(x, 3)[1]"}, where


def test_eigh_reads_one_triangle_as_numpy_does():
    """NumPy's eigh reads only the lower (UPLO='L') or upper triangle: the other one gets no gradient."""
    A = np.random.default_rng(5).normal(size=(3, 3))
    for uplo, unread in (("L", np.triu_indices(3, 1)), ("U", np.tril_indices(3, -1))):
        g = gb.trace(lambda A, uplo=uplo: np.sum(np.linalg.eigh(A, UPLO=uplo)[0] * np.arange(1.0, 4.0)), A=A)
        grad = g.grad("A")
        assert np.all(grad[unread] == 0) and np.any(grad != 0)
        eps, fd = 1e-6, np.zeros((3, 3))
        for i in np.ndindex(3, 3):
            d = np.zeros((3, 3))
            d[i] = eps
            fd[i] = (np.sum(np.linalg.eigh(A + d, UPLO=uplo)[0] * np.arange(1.0, 4.0))
                     - np.sum(np.linalg.eigh(A - d, UPLO=uplo)[0] * np.arange(1.0, 4.0))) / (2 * eps)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_svd_is_the_thin_one_with_numpys_result_and_refuses_undetermined_columns():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(5, 3))

    def f(X):
        res = np.linalg.svd(X, full_matrices=False)
        U, S, Vh = res
        assert res.U is U and res.S is S and res.Vh is Vh
        assert U.shape == (5, 3) and S.shape == (3,) and Vh.shape == (3, 3)
        return np.sum(U[:, 0] ** 2 * np.arange(5.0)) + np.sum(S) + np.sum(np.linalg.svd(X, compute_uv=False) ** 2)

    g = gb.trace(f, X=X)
    labels = {n.text.split("\n")[0] for n in g.draw().scene().nodes}
    assert {"svd → U", "svd → S"} <= labels
    F = g.formula("X")
    assert F.verified
    np.testing.assert_allclose(gb.evaluate(F.expr, X=X, **F.constants), g.grad("X"), rtol=1e-9, atol=1e-12)
    square = gb.trace(lambda A: np.sum(np.linalg.svd(A)[1]), A=rng.normal(size=(3, 3)))  # the default: square
    np.testing.assert_allclose(square.grad("A"), (lambda u, s, vh: u @ vh)(*np.linalg.svd(square.node("A").value)))
    with pytest.raises(gb.UnsupportedOpError, match=r"5×3 matrix with full_matrices=True.*not determined.*"
                                                   r"pass full_matrices=False"):
        gb.trace(lambda X: np.sum(np.linalg.svd(X)[0]), X=X)
    with pytest.raises(gb.UnsupportedOpError, match="hermitian=True.*use np.linalg.eigh"):
        gb.trace(lambda X: np.sum(np.linalg.svd(X.T @ X, hermitian=True)[1]), X=X)


def test_a_split_piece_is_spelled_in_the_expression_language():
    """``.expr`` of a formula through ``np.split`` wrote ``split(x, sections=3, piece=1)``, which the
    language refused."""
    g = gb.trace(lambda x: np.sum(np.split(x, 3)[1] ** 2) + np.sum(np.array_split(x, 4)[3]), x=np.arange(6.0))
    F = g.formula("x")
    assert "split(x, 3" in F.expr and "piece" not in F.expr
    np.testing.assert_allclose(gb.evaluate(F.expr, x=np.arange(6.0), **F.constants), g.grad("x"))


@pytest.mark.parametrize("fn", [np.nansum, np.nanmean, np.nanmax, np.nanmin], ids=lambda f: f.__name__)
@pytest.mark.parametrize("kw", [{}, {"axis": 0}, {"axis": 1, "keepdims": True}], ids=["all", "axis0", "keepdims"])
def test_reductions_that_skip_nans_give_numpys_values_and_no_gradient_to_the_nans(fn, kw):
    """The deep-learning course's compute_cost is ``np.nansum(logprobs)``: refused until now."""
    from .numerics import numerical_grad

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4))
    x[1, 2] = x[0, 0] = np.nan

    def f(x):
        return np.sum(fn(x, **kw) ** 2)

    g = gb.trace(f, x=x)
    assert np.isclose(g.value, f(x))
    grad, num = g.grad("x"), numerical_grad(f, x)
    nan = np.isnan(x)
    assert np.all(grad[nan] == 0) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad[~nan], num[~nan], rtol=1e-6, atol=1e-8)
    clean = rng.normal(size=(3, 4))  # no NaN: the plain reduction, one node fewer
    assert np.isclose(gb.trace(f, x=clean).value, f(clean))


def test_a_cost_written_with_nansum_is_traced_and_out_is_refused():
    def cost(A, Y):
        logprobs = np.multiply(-np.log(A), Y) + np.multiply(-np.log(1 - A), 1 - Y)
        return 1.0 / A.shape[1] * np.nansum(logprobs)

    A, Y = np.array([[0.8, 0.3, 0.6]]), np.array([[1.0, 0.0, 1.0]])
    g = gb.trace(cost, A=A, Y=Y)
    np.testing.assert_allclose(g.grad("A"), (-(Y / A) + (1 - Y) / (1 - A)) / 3)
    made_before = np.zeros(())  # (a buffer made inside the trace takes the result: see buffers.py)
    with pytest.raises(gb.UnsupportedOpError, match=r"np.nansum\(..., out=...\)"):
        gb.trace(lambda x: np.nansum(x, out=made_before), x=np.ones(3))


def test_the_maximum_of_a_slice_of_nans_is_nan_as_numpys():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]])
    for fn in (np.nanmax, np.nanmin, np.nanmean):
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            want = fn(x, axis=1)
        with np.errstate(all="ignore"):  # (NumPy's mean of an empty slice warns too)
            g = gb.trace(lambda x, fn=fn: np.nansum(fn(x, axis=1) ** 2), x=x)
        assert np.isclose(g.value, np.nansum(want ** 2)), fn.__name__
        assert np.all(np.isfinite(g.grad("x")[0]))  # (the NaN row's: NaN, as (NaN)² has; NumPy agrees)


@pytest.mark.parametrize("rank", [0, 1, 2, 3])
def test_the_determinant_of_a_singular_matrix_is_0_with_its_cofactors_as_gradient(rank):
    """NumPy's det of a singular matrix is 0, and its gradient the cofactor matrix (adjugate
    transposed), which is not 0 at rank n − 1: det · A⁻ᵀ, undefined there, refused with NumPy's
    'Singular matrix'."""
    from .numerics import numerical_grad

    rng = np.random.default_rng(rank)
    A = rng.normal(size=(4, rank)) @ rng.normal(size=(rank, 4))  # rank 3 = 4 − 1: cofactors not 0
    batch = np.stack([A, rng.normal(size=(4, 4))])

    def f(A):
        return np.sum(np.linalg.det(A) * np.arange(1.0, A.shape[0] + 1.0 if A.ndim == 3 else 2.0))

    for X in (A, batch):
        g = gb.trace(f, A=X)
        assert np.isclose(g.value, f(X), atol=1e-12)
        np.testing.assert_allclose(g.grad("A"), numerical_grad(f, X), rtol=1e-6, atol=1e-8)
    cofactors = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(A, i, 0), j, 1)) for j in range(4)]
                          for i in range(4)])
    np.testing.assert_allclose(gb.trace(f, A=A).grad("A"), cofactors, atol=1e-9)
    assert (np.abs(cofactors).max() > 1e-3) == (rank == 3)


def _conv_by_strides(x, W):
    """A vectorized convolution and max-pool as from-scratch CNNs write them (ramisa2108's, moghon92's):
    windows from the stride tricks, then einsum and a max over each window."""
    n, c, h, w = x.shape
    k = W.shape[-1]
    s = x.strides
    windows = np.lib.stride_tricks.as_strided(x, (n, c, h - k + 1, w - k + 1, k, k), (s[0], s[1], s[2], s[3], s[2], s[3]))
    z = np.einsum("nchwij,fcij->nfhw", windows, W)
    pooled = np.lib.stride_tricks.sliding_window_view(z, (2, 2), axis=(2, 3))[:, :, ::2, ::2]
    return np.sum(np.max(pooled, axis=(4, 5)) ** 2)


@pytest.mark.parametrize("seed", [0, 1])
def test_windows_from_the_stride_tricks_are_read_by_indexing(seed):
    from .numerics import verify

    own = np.lib.stride_tricks.as_strided
    rng = np.random.default_rng(seed)
    g = verify(_conv_by_strides, {"x": rng.normal(size=(2, 3, 6, 6)), "W": rng.normal(size=(4, 3, 3, 3))})
    assert "index" in {n.op.name for n in g.nodes if n.op is not None}
    assert np.lib.stride_tricks.as_strided is own  # NumPy's own again after the trace


def _pool_after_transpose(Z):
    """PLivdan/numpy-cnn's pooling after its convolution: the conv's output transposed, then a ReLU,
    which keeps the transposed layout, then windows from ``x.strides``."""
    x = np.maximum(0, Z.transpose(3, 1, 2, 0))
    N, H, W, C = x.shape
    s_n, s_h, s_w, s_c = x.strides
    win = np.lib.stride_tricks.as_strided(x, shape=(N, H // 2, W // 2, 2, 2, C),
                                          strides=(s_n, 2 * s_h, 2 * s_w, s_h, s_w, s_c))
    return np.sum(np.max(win, axis=(3, 4)) ** 2)


def test_stride_tricks_read_a_value_laid_out_as_numpy_laid_it_out():
    """A transpose's layout (F order here), kept by a ufunc: its strides are not C order's, and the
    windows read the entries stored there, as NumPy's do. It was refused ("not C-contiguous")."""
    from .numerics import verify

    Z = np.random.default_rng(3).normal(size=(3, 4, 4, 2))
    assert not np.maximum(0, Z.transpose(3, 1, 2, 0)).flags.c_contiguous
    g = verify(_pool_after_transpose, {"Z": Z})
    assert g.value == pytest.approx(_pool_after_transpose(Z))
    x = np.arange(12.0).reshape(3, 4)
    g = gb.trace(lambda x: np.sum(np.lib.stride_tricks.as_strided(x.T, (2, 2), x.T.strides) ** 2), x=x)
    assert g.value == np.sum(np.lib.stride_tricks.as_strided(x.T, (2, 2), x.T.strides) ** 2)


def test_stride_tricks_that_cannot_be_read_by_indexing_are_refused_at_the_users_line():
    x = np.arange(12.0).reshape(3, 4)
    with pytest.raises(gb.UnsupportedOpError, match=r"as_strided of a traced value whose entries are not one "
                                                    r"block of memory.*x\.copy\(\) first"):
        gb.trace(lambda x: np.sum(np.lib.stride_tricks.as_strided(x[:, ::2], (2, 2), x[:, ::2].strides)), x=x)
    # (and the advice works: the copy's strides are its own)
    g = gb.trace(lambda x: np.sum(np.lib.stride_tricks.as_strided(x[:, ::2].copy(), (2, 2), (16, 8))), x=x)
    assert g.value == np.sum(np.lib.stride_tricks.as_strided(x[:, ::2].copy(), (2, 2), (16, 8)))
    with pytest.raises(gb.UnsupportedOpError, match=r"reads outside the traced array .*\n  at .*lambda"):
        gb.trace(lambda x: np.sum(np.lib.stride_tricks.as_strided(x, (3, 5), x.strides)), x=x)
    with pytest.raises(gb.UnsupportedOpError, match=r"np\.lib\.stride_tricks\.sliding_window_view\(\.\.\., writeable=True\)"):
        gb.trace(lambda x: np.sum(np.lib.stride_tricks.sliding_window_view(x, 2, writeable=True)), x=x)


def test_as_strided_imported_by_name_before_the_trace_is_refused_saying_what_to_call():
    from numpy.lib.stride_tricks import as_strided  # bound before the trace: NumPy's own

    def f(x):
        return np.sum(as_strided(x, (2, 2), x.strides))

    with pytest.raises(gb.UnsupportedOpError, match=r"as_strided imported by name before the trace .* "
                                                    r"np\.lib\.stride_tricks\.as_strided\(\.\.\.\).*\n  at .* in f"):
        gb.trace(f, x=np.arange(4.0))


@pytest.mark.parametrize("make", [
    pytest.param(lambda x: (lambda b: (b.__setitem__(Ellipsis, x), b)[1])(np.zeros((3, 4), order="F")), id="F buffer"),
    pytest.param(lambda x: (lambda b: (b.T.__setitem__(Ellipsis, x), b.T)[1])(np.zeros((4, 3))), id="buffer.T"),
    pytest.param(lambda x: x.T * (x.T > 0), id="mask of a transpose"),
    pytest.param(lambda x: np.where(x.T > 0, x.T, 0), id="where of a transpose"),
])
def test_stride_tricks_read_buffers_and_masks_laid_out_as_numpy_lays_them_out(make):
    """The strides the code reads are the array's own: a buffer allocated in F order, or written
    through its .T, and a product with a constant mask of a transpose (the constant was copied in C
    order, so the product was laid out otherwise than NumPy's). Windows read the wrong entries."""
    from .numerics import verify

    def f(x):
        a = make(x)
        s0, s1 = a.strides if a.shape == x.shape else x.T.strides  # (NumPy: a transpose's and a's alike)
        win = np.lib.stride_tricks.as_strided(a, (a.shape[0] - 1, 2, a.shape[1]), (s0, s0, s1))
        return np.sum(win ** 2 * np.arange(win.size).reshape(win.shape))

    x = np.random.default_rng(5).normal(size=(3, 4))
    g = verify(f, {"x": x})
    assert g.value == pytest.approx(f(x))


def _adaptive_steps(w, y):
    """Euler steps sized as scipy's RK45 sizes them: the step depends on the state, and its lower
    bound on ``np.nextafter(t, inf) - t`` (``solve_ivp``'s ``min_step``), so t is traced."""
    t = 0.0
    while t < 1.0:
        f = np.tanh(w @ y)
        min_step = 10 * np.abs(np.nextafter(t, np.inf) - t)
        h = np.minimum(np.maximum(0.3 / (1.0 + np.sqrt(np.sum(f ** 2))), min_step), 1.0 - t)
        y = y + h * f
        t = t + h
    return np.sum(y ** 2)


def test_a_step_bounded_by_nextafter_as_solve_ivp_bounds_it_traces_with_its_gradient():
    """np.nextafter was refused, and with it every adaptive scipy.integrate.solve_ivp solve."""
    w, y = np.array([[0.1, -1.0], [1.0, 0.1]]), np.array([1.0, 0.5])
    g = gb.trace(_adaptive_steps, w=w, y=y)
    assert g.value == pytest.approx(_adaptive_steps(w, y), rel=1e-14)
    assert any(n.op is not None and n.op.name == "nextafter" for n in g.nodes)
    np.testing.assert_allclose(g.grad("w"), numerical_grad(lambda w: _adaptive_steps(w, y), w), rtol=1e-6)
    np.testing.assert_allclose(g.grad("y"), numerical_grad(lambda y: _adaptive_steps(w, y), y), rtol=1e-6)
    t = np.array([0.3, 1.0, -2.0])
    g = gb.trace(lambda t: np.sum(np.nextafter(t, np.array([1.0, 0.0, np.inf])) * t), t=t)
    np.testing.assert_allclose(g.grad("t"), np.nextafter(t, [1.0, 0.0, np.inf]) + t, rtol=1e-15)


def _one_hot_by_eye(S, y):
    return np.sum(S * np.eye(S.shape[1])[y])  # cs231n's softmax: np.eye(C)[y]


def _svm_margins(S, y):
    M = (S > 0).astype(float)
    M[range(len(y)), y] -= M.sum(axis=1)  # a plain array written at y
    return np.sum(S * M)


def _listed_labels(S, y):
    return np.sum(S[range(len(y)), list(y)])


def _counted_by_a_label(S, y):
    return sum(S[0, j] for j in range(y[1])) + S[1, int(y[2])] + float(np.sum(y.tolist()))


def _lengths_from_labels(S, y):
    n = y[1]  # a length given as an input
    return np.sum(S[0, :n] ** 2) + np.sum(S[1, n:]) + np.sum(S[2, np.arange(n)]) + np.sum(S[0, :y[2] + 1 // 2])


@pytest.mark.parametrize("f", [_one_hot_by_eye, _svm_margins, _listed_labels, _counted_by_a_label,
                               _lengths_from_labels])
def test_integer_labels_given_as_inputs_are_read_as_numbers_by_plain_numpy_and_python(f):
    """np.eye(C)[y], plain[range(N), y] -= ..., list(y), range(y[i]), int(y[i]) were refused: "would
    drop it from the graph (its gradient would be lost)", of labels that have none."""
    rng = np.random.default_rng(0)
    S, y = rng.normal(size=(3, 4)), np.array([0, 2, 1])
    g = gb.trace(f, S=S, y=y)
    assert g.value == pytest.approx(f(S, y), rel=1e-14)
    np.testing.assert_allclose(g.grad("S"), numerical_grad(lambda S: f(S, y), S), rtol=1e-6, atol=1e-9)
    assert "y" in g.inputs
    with pytest.raises(gb.TraceError, match="'y' has no gradient"):
        g.grad("y")
    assert "unused" not in g.draw().scene().node(g.node("y").id).text  # read as numbers: no edge, yet used


def test_a_float_value_still_refuses_to_become_plain_numbers():
    with pytest.raises(gb.TraceError, match="would drop it from the graph"):
        gb.trace(lambda x: np.sum(np.eye(3)[0] * np.asarray(list(x.tolist()))), x=np.ones(3))
    with pytest.raises(gb.TraceError, match="int\\(\\) of a traced value"):
        gb.trace(lambda x: x[int(x[0])], x=np.ones(3))


def _fortran_orders(x):
    a = x.reshape((4, 3), order="F") @ np.arange(3.0)
    b = np.reshape(x, (2, 6), order="F")[1] ** 2
    c = x.ravel("F")[:5] * np.arange(5.0)
    d = x.flatten("F")[3:] ** 3
    e = x.reshape((6, 2), order="A").sum(axis=0)
    return np.sum(a) + np.sum(b) + np.sum(c) + np.sum(d) + np.sum(e ** 2)


def _writes_through_orders(x):
    y = x * 1.0
    v = y.reshape((4, 3), order="F")  # a copy in NumPy: writing it leaves y as it is
    v[0] = 0.0
    z = y.reshape((2, 6), order="A")  # C order for y: a view, whose write y shows
    z[0, 0] = 7.0
    return np.sum(y ** 2) + np.sum(v * np.arange(12.0).reshape(4, 3))


@pytest.mark.parametrize("f", [_fortran_orders, _writes_through_orders])
def test_reshape_and_ravel_in_fortrans_order(f):
    """reshape(order='F'), ravel('F'), flatten('F') and order='A' were refused: cs231n's
    batchnorm_backward_alt reshapes with order='F' (and its layernorm and spatial batchnorm)."""
    verify(f, {"x": np.arange(12.0).reshape(3, 4) / 7 - 0.3})
    g = gb.trace(_fortran_orders, x=X)
    assert "reshape 4×3 (F order)" in g.to_dot() and "ravel (F order)" in g.to_dot()


def _through_an_a_view(x):
    y = x.T * 1.0  # laid out in Fortran's order
    v = y.reshape(-1, order="A")  # so read in Fortran's order: a view of y
    v[:3] = 0.0
    w = y.ravel(order="K")
    return np.sum(y * np.arange(12.0).reshape(4, 3)) + np.sum(w[:4] * 2.0) + np.sum(x.ravel("k") ** 2)


def _fortran_read(x):
    return np.sum(x.reshape(-1, order="a") * np.arange(12.0)) + np.sum(x.reshape((2, 6), order="f")[0] ** 2)


def test_order_a_and_k_read_the_layout_and_writes_through_such_views_land_where_numpys_do():
    """y.reshape(-1, order='A') of a Fortran-laid y is a view read in Fortran's order: a write
    through it landed on other entries (636 for NumPy's 546); 'K' and lower-case letters were
    refused, and a Fortran-laid input failed gb.check (its copies were laid out in C's order)."""
    x = np.arange(12.0).reshape(3, 4) / 7 - 0.3
    verify(_through_an_a_view, {"x": x})
    X = np.asfortranarray(x)
    g = gb.trace(_fortran_read, x=X)
    assert g.value == pytest.approx(_fortran_read(X), rel=1e-14)
    assert gb.check(_fortran_read, x=X).passed


def _class_weighted(S, y):
    from collections import Counter

    counts = Counter(y)  # {0: 1, 2: 2}
    w = np.array([1.0 / counts[label] for label in y])
    weights = {0: 1.0, 1: 2.0, 2: 0.5}
    return np.sum(w * S[np.arange(3), y]) + np.sum(S[:, :len(set(y))]) + sum(weights[y[i]] * S[i, y[i]]
                                                                            for i in range(3))


def test_a_labels_entries_hash_and_compare_as_their_numbers():
    """set(y), Counter(y) and weights[y[i]] saw every traced label as another: 4.5 for NumPy's 2.7,
    a ZeroDivisionError, a KeyError."""
    S, y = np.arange(12.0).reshape(3, 4) / 10, np.array([0, 2, 2])
    g = gb.trace(_class_weighted, S=S, y=y)
    assert g.value == pytest.approx(_class_weighted(S, y), rel=1e-14)
    np.testing.assert_allclose(g.grad("S"), numerical_grad(lambda S: _class_weighted(S, y), S), rtol=1e-6)
