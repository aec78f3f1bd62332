"""Tracing plain NumPy code: what is recorded, how it is named, and the errors users see."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import graphviz_bp as gb


def _ops(g):
    return [n.op.name for n in g.nodes if n.kind == "op"]


def test_operators_ufuncs_and_functions_are_all_recorded():
    def f(A, x):
        y = -(A.T @ x) / 2.0 + 1
        y = np.exp(np.tanh(y)) - np.sqrt(np.square(y) + 1) * np.log(1 + y ** 2)
        y = np.maximum(y, 0)
        return np.mean(np.transpose(np.reshape(y, (1, -1)))) + np.dot(x, x) + x.sum() + A.mean(axis=0).sum()

    g = gb.trace(f, A=np.ones((3, 4)) * 0.1, x=np.arange(3.0))
    assert set(_ops(g)) == {"transpose", "matmul", "negative", "divide", "add", "tanh", "exp",
                            "square", "sqrt", "log", "power", "multiply", "subtract", "maximum",
                            "reshape", "mean", "dot", "sum"}


def test_plain_arrays_and_numbers_become_constant_leaves():
    g = gb.trace(lambda x: np.sum(x * np.array([1.0, 2.0]) + 3), x=np.ones(2))
    consts = [n for n in g.nodes if n.kind == "const"]
    assert [n.shape for n in consts] == [(2,), ()]
    assert all(not n.in_edges for n in consts)


def test_inputs_are_named_by_keyword_and_intermediates_by_name():
    def f(W, x):
        z = gb.name(W @ x, "z")
        return np.sum(gb.name(np.tanh(z), "h"))

    g = gb.trace(f, W=np.ones((2, 3)), x=np.ones(3))
    assert list(g.inputs) == ["W", "x"]
    assert g.node("z").op.name == "matmul" and g.node("h").op.name == "tanh"
    assert g.node("W").kind == "input"
    # unnamed ops get an op#index name, stable across runs
    assert g.output.name == f"sum#{g.output.index}"


def test_name_returns_its_argument_and_leaves_plain_arrays_alone():
    a = np.ones(3)
    assert gb.name(a, "a") is a
    with pytest.raises(TypeError):
        gb.name(a, "")


def test_repeated_names_are_made_unique():
    def rnn(h, W):
        for _ in range(3):
            h = gb.name(np.tanh(W @ h), "h")
        return np.sum(h)

    g = gb.trace(rnn, h=np.ones(2), W=np.eye(2) * 0.5)
    assert [n.name for n in g.nodes if n.user_named] == ["h#2", "h#3", "h#4"]  # "h" is the input


def test_unknown_node_name_lists_what_exists():
    g = gb.trace(lambda W, x: np.sum(gb.name(W @ x, "z")), W=np.ones((2, 3)), x=np.ones(3))
    with pytest.raises(gb.UnknownNodeError, match="no node named 'q'.*W, x, z") as err:
        g.node("q")
    assert isinstance(err.value, KeyError)


def test_shape_mismatch_names_the_op_the_shapes_and_the_users_line():
    def loss(W, x):
        return np.sum(W @ x)  # the offending line

    with pytest.raises(gb.ShapeError) as err:
        gb.trace(loss, W=np.ones((3, 5)), x=np.ones(3))
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "matmul (@)" in msg and "(3, 5) and (3,)" in msg
    assert "5 (last axis of the left operand) != 3" in msg
    assert "test_tracer.py" in msg and "in loss" in msg and "return np.sum(W @ x)  # the offending line" in msg


def test_broadcast_mismatch_is_a_shape_error():
    with pytest.raises(gb.ShapeError, match=r"add \(\+\) on shapes \(3,\) and \(4,\).*do not broadcast"):
        gb.trace(lambda a, b: np.sum(a + b), a=np.ones(3), b=np.ones(4))


def test_bad_reduction_axis_is_a_shape_error():
    with pytest.raises(gb.ShapeError, match=r"sum \(Σ\) on shape \(3,\): axis 1 is out of bounds"):
        gb.trace(lambda a: np.sum(a, axis=1), a=np.ones(3))


def test_reshape_to_a_wrong_size_is_a_shape_error():
    with pytest.raises(gb.ShapeError, match=r"cannot reshape 6 elements into shape \(4, -1\)"):
        gb.trace(lambda a: np.sum(a.reshape(4, -1)), a=np.ones((2, 3)))


def test_unsupported_function_names_the_function():
    with pytest.raises(gb.UnsupportedOpError, match=r"np\.vecdot is not supported.*np\.sum\(a \* b, axis=-1\)") as err:
        gb.trace(lambda a: np.sum(np.vecdot(a, a)), a=np.ones(3))
    assert isinstance(err.value, NotImplementedError)
    with pytest.raises(gb.UnsupportedOpError, match=r"np\.fft\.fft is not supported"):
        gb.trace(lambda a: np.sum(np.fft.fft(a)), a=np.ones(4))
    with pytest.raises(gb.UnsupportedOpError, match=r"np\.fmod is not supported"):
        gb.trace(lambda a: np.sum(np.fmod(a, 0.5)), a=np.ones(4))
    with pytest.raises(gb.UnsupportedOpError, match=r"np\.matvec is not supported.*use @ instead"):
        gb.trace(lambda a: np.sum(np.matvec(np.outer(a, a), a)), a=np.ones(4))
    with pytest.raises(gb.UnsupportedOpError, match=r"np\.linalg\.eig is not supported.*np\.linalg\.eigh"):
        gb.trace(lambda a: np.sum(np.linalg.eig(a)[0]), a=np.eye(2))
    with pytest.raises(gb.UnsupportedOpError, match=r"mode='raw'.*use mode='reduced'\n  at .*test_tracer.py"):
        gb.trace(lambda a: np.sum(np.linalg.qr(a, mode="raw")[0]), a=np.eye(2))
    with pytest.raises(gb.UnsupportedOpError, match=r"3×2 matrix with mode='complete' is not supported"):
        gb.trace(lambda a: np.sum(np.linalg.qr(a, mode="complete")[0]), a=np.ones((3, 2)))
    assert "np.linalg.slogdet" in gb.supported() and "np.einsum" in gb.supported()


def test_functions_without_gradient_give_constants():
    def f(x):
        mask = np.greater(x, 0)
        return np.sum(np.where(mask, x, np.zeros_like(x)) * np.sign(x)) + np.sum(np.ones_like(x) * x)

    g = gb.trace(f, x=np.array([-1.0, 2.0]))
    np.testing.assert_array_equal(g.grad("x"), [1.0, 2.0])
    assert {n.op.name for n in g.nodes if n.kind == "op"} == {"where", "multiply", "sum", "add"}


def test_ufunc_methods_and_out_arguments_are_refused():
    with pytest.raises(gb.UnsupportedOpError, match=r"np\.add\.reduce \(a ufunc method\)"):
        gb.trace(lambda a: np.add.reduce(a), a=np.ones(3))
    vector, scalar = np.empty(3), np.empty(())  # made outside the function: not buffers
    with pytest.raises(gb.UnsupportedOpError, match=r"out="):
        gb.trace(lambda a: np.exp(a, out=vector).sum(), a=np.ones(3))
    with pytest.raises(gb.UnsupportedOpError, match=r"out="):
        gb.trace(lambda a: np.sum(a, out=scalar), a=np.ones(3))
    # into arrays the function makes itself, out= works as in NumPy
    g = gb.trace(lambda a: np.exp(a, out=np.empty(3)).sum() + np.sum(a, out=np.empty(())), a=np.zeros(3))
    assert g.value == 3.0
    np.testing.assert_array_equal(g.grad("a"), [2.0, 2.0, 2.0])


@pytest.mark.parametrize("misuse", [float, int, np.asarray], ids=["float", "int", "asarray"])
def test_leaving_the_graph_silently_is_refused(misuse):
    with pytest.raises(gb.TraceError, match="drop it from the graph"):
        gb.trace(lambda a: misuse(a), a=np.ones(3))


def test_indexing_and_iteration_are_recorded():
    x = np.arange(12.0).reshape(4, 3)
    g = gb.trace(lambda x: np.sum(x[1:3, 0] ** 2) + sum(np.sum(row) for row in x), x=x)
    expected = np.ones((4, 3))
    expected[1:3, 0] += 2 * x[1:3, 0]
    np.testing.assert_array_equal(g.grad("x"), expected)
    labels = [n.params["text"] for n in g.nodes if n.op is not None and n.op.name == "index"]
    assert labels == ["[1:3, 0]", "[0]", "[1]", "[2]", "[3]"]


def test_gather_with_repeated_indices_accumulates_messages():
    g = gb.trace(lambda p, y: np.sum(p[np.array([0, 1, 0]), y]), p=np.ones((2, 3)), y=np.array([2, 2, 2]))
    np.testing.assert_array_equal(g.grad("p"), [[0, 0, 2], [0, 0, 1]])
    (idx,) = [n for n in g.nodes if n.op is not None and n.op.name == "index"]
    assert idx.params["text"] == "[[0, 1, 0], y]"


def test_function_must_return_a_traced_value():
    with pytest.raises(gb.TraceError, match="returned float, not a value computed from its inputs"):
        gb.trace(lambda a: 1.0, a=np.ones(3))


def test_comparisons_give_plain_arrays_and_control_flow_works():
    def f(a):
        mask = a > 0
        assert isinstance(mask, np.ndarray)
        return np.sum(a * mask) if mask.any() else np.sum(a)

    g = gb.trace(f, a=np.array([-1.0, 2.0]))
    np.testing.assert_array_equal(g.grad("a"), [0.0, 1.0])


def test_non_numeric_constants_are_refused():
    with pytest.raises(gb.TraceError, match="only real numbers and numeric arrays"):
        gb.trace(lambda a: np.sum(a + "x"), a=np.ones(3))


def test_norms_of_other_orders_are_the_ops_numpy_computes_them_with():
    A = np.arange(6.0).reshape(2, 3) - 2.5
    g = gb.trace(lambda A: np.linalg.norm(A) + np.linalg.norm(A, "fro") + np.sum(np.linalg.norm(A, 2, axis=1)), A=A)
    assert g.value == pytest.approx(2 * np.linalg.norm(A) + np.sum(np.linalg.norm(A, axis=1)))
    assert {n.op.name for n in g.nodes if n.op is not None} == {"norm", "add", "sum"}  # the 2-norms: ‖·‖
    for ord_, axis, made in ((2, None, {"svd", "max"}), (-2, (1, 0), {"svd", "min", "transpose"}),
                             (1, None, {"abs", "sum", "max"}), (np.inf, 0, {"abs", "max"}),
                             ("nuc", None, {"svd", "sum"}), (3, 1, {"abs", "power", "sum"})):
        g = gb.trace(lambda A: np.sum(np.linalg.norm(A, ord_, axis=axis)), A=A)
        assert g.value == pytest.approx(np.sum(np.linalg.norm(A, ord_, axis=axis)), rel=1e-12)
        ops = {n.op.name for n in g.nodes if n.op is not None}
        assert made <= ops and "norm" not in ops, (ord_, ops)


def test_reductions_refuse_what_they_would_otherwise_ignore():
    x = np.array([1.0, 2.0])
    for call in (lambda x: np.max(x, 0, None, False, 5.0), lambda x: np.sum(x, 0, None, None, False, 10.0),
                 lambda x: np.prod(x, initial=2.0), lambda x: np.sum(x, where=np.array([True, False]))):
        with pytest.raises(gb.UnsupportedOpError, match=r"(initial|where)=\.\.\.\) is not supported"):
            gb.trace(call, x=x)
    assert gb.trace(lambda x: np.var(x, 0, None, None, 1), x=x).value == pytest.approx(0.5)  # ddof=1


def test_complex_inputs_are_refused():
    with pytest.raises(gb.TraceError, match="complex numbers are not supported"):
        gb.trace(lambda z: np.sum(np.abs(z)), z=np.array([1 + 2j]))


def test_numpy_refusing_values_is_an_op_error_and_bad_indices_a_shape_error():
    def f(x):
        return np.sum(np.linalg.inv(np.outer(x, x)))  # rank one: singular

    with pytest.raises(gb.OpError, match=r"inv \(\(·\)⁻¹\) on shape \(3, 3\) failed: Singular matrix") as err:
        gb.trace(f, x=np.ones(3))
    assert isinstance(err.value, ValueError) and "in f" in str(err.value)
    with pytest.raises(gb.ShapeError, match=r"index 10 is out of bounds"):
        gb.trace(lambda x: x[10], x=np.ones(3))


def test_traced_boolean_masks_index_like_numpy():
    a = np.arange(12.0).reshape(3, 4)
    g = gb.trace(lambda a, m: np.sum(a[m] ** 2), a=a, m=np.array([True, False, True]))
    np.testing.assert_array_equal(g.grad("a"), 2 * a * np.array([[1], [0], [1]]))
    (node,) = [n for n in g.nodes if n.op is not None and n.op.name == "index"]
    assert node.shape == (2, 4)
    with pytest.raises(gb.ShapeError, match="boolean index did not match"):  # a mask of the wrong length
        gb.trace(lambda a, m: np.sum(a[m]), a=a, m=np.array([True, False]))


# inputs by mapping, trace()'s own keywords, memory limit ----------------------------------------------

def test_inputs_as_a_mapping_take_any_name_including_traces_keywords():
    def f(seed, memory_limit, fn, x):
        return np.sum(seed * x + memory_limit * fn)

    values = {"seed": np.array([1.0, 2.0]), "memory_limit": np.array([3.0]), "fn": np.array([4.0, 5.0]),
              "x": np.array([6.0, 7.0])}
    g = gb.trace(f, values)
    np.testing.assert_allclose(g.grad("seed"), [6.0, 7.0])
    np.testing.assert_allclose(g.grad("memory_limit"), [9.0])
    np.testing.assert_allclose(g.grad("fn"), [3.0, 3.0])
    g = gb.trace(lambda seed: seed * 2.0, {"seed": np.ones(2)}, seed=np.array([1.0, -1.0]))
    np.testing.assert_allclose(g.grad("seed"), [2.0, -2.0])  # the mapping's seed is an input, seed= the cotangent


def test_a_traces_keyword_that_may_be_an_input_is_refused_with_the_alternative():
    def f(x, seed):
        return np.sum(x * seed)

    with pytest.raises(gb.TraceError, match=r"f\(\) takes an input named 'seed'.*trace\(f, \{'seed': \.\.\."):
        gb.trace(f, x=np.ones(2), seed=np.ones(2))
    with pytest.raises(gb.TraceError, match="input 'x' is given both"):
        gb.trace(f, {"x": np.ones(2), "seed": np.ones(2)}, x=np.ones(2))
    with pytest.raises(TypeError, match="mapping"):
        gb.trace(f, [np.ones(2)])


def test_an_intermediate_over_the_memory_limit_is_refused_before_numpy_allocates_it():
    import tracemalloc

    a, b = np.ones((20_000, 1)), np.ones((1, 20_000))
    tracemalloc.start()
    with pytest.raises(gb.MemoryLimitError) as err:
        gb.trace(lambda a, b: np.sum(a + b), a=a, b=b, memory_limit="1G")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20  # the 3.2 GB sum was never allocated
    assert isinstance(err.value, MemoryError)
    assert err.value.needed == 20_000 * 20_000 * 8 and err.value.limit == 2**30
    assert "add (+) on shapes (20000, 1) and (1, 20000)" in str(err.value) and "memory_limit=" in str(err.value)
    assert "test_tracer.py" in str(err.value)  # the user's line
    g = gb.trace(lambda a, b: np.sum(a + b), a=a[:2000], b=b[:, :2000], memory_limit=None)
    assert g.value == 2.0 * 2000 * 2000


@pytest.mark.parametrize("fn", [
    lambda v: np.sum(np.diag(v)),                                 # n → n×n
    lambda v: np.sum(np.broadcast_to(v, (50_000, v.size))),       # shape from a parameter
    lambda v: np.sum(v[np.zeros(50_000, dtype=int)][:, None] * v),  # an index array among the params
    lambda v: np.sum(np.outer(v, v)),
])
def test_ops_whose_result_outgrows_their_operands_are_checked_too(fn):
    v = np.ones(20_000)
    with pytest.raises(gb.MemoryLimitError):
        gb.trace(fn, v=v, memory_limit="100M")


def test_the_limit_counts_what_the_trace_holds():
    def many(x):
        total = x
        for _ in range(30):
            total = total + x * 1.5  # each step makes two arrays of 8 MB
        return np.sum(total)

    with pytest.raises(gb.MemoryLimitError, match="the trace already holds"):
        gb.trace(many, x=np.ones(1_000_000), memory_limit="256M")
    assert gb.trace(many, x=np.ones(1_000_000), memory_limit="1G").value == pytest.approx(46e6)


# functions that return their loss with other values ------------------------------------------------

def _with_grads(W, x):
    """Forward and a hand-written backward in one function, as course code often is."""
    h = W @ x
    loss = 0.5 * np.sum(h ** 2)
    dW = np.outer(h, x)
    return loss, {"W": dW}


def test_output_picks_the_loss_and_keeps_the_rest_as_arrays():
    W, x = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([3.0, -1.0])
    g = gb.trace(_with_grads, W=W, x=x, output=0)
    assert g.value == pytest.approx(0.5 * (1.0 ** 2 + 2.5 ** 2))  # h = Wx = [1, 2.5]
    (grads,) = g.extra
    assert type(grads["W"]) is np.ndarray  # the hand-written gradient, as an array
    np.testing.assert_allclose(grads["W"], [[3.0, -1.0], [7.5, -2.5]])
    np.testing.assert_allclose(g.grad("W"), grads["W"])  # the traced gradient agrees
    g = gb.trace(lambda x: {"aux": x * 2.0, "loss": np.sum(x)}, x=x, output="loss")
    assert list(g.extra) == ["aux"] and np.array_equal(g.extra["aux"], [6.0, -2.0])
    assert gb.trace(lambda x: np.sum(x), x=x).extra is None


def test_several_return_values_without_output_are_an_error_naming_it():
    with pytest.raises(gb.TraceError, match=r"_with_grads returned a tuple of 2 values; say which is the "
                                            r"loss with output= \(an index, e.g. output=0\)"):
        gb.trace(_with_grads, W=np.eye(2), x=np.ones(2))
    with pytest.raises(gb.TraceError, match=r"output=2 is not an index of the 2 values"):
        gb.trace(_with_grads, W=np.eye(2), x=np.ones(2), output=2)
    with pytest.raises(gb.TraceError, match=r"output='loss' is not a key .* \(keys: 'a'\)"):
        gb.trace(lambda x: {"a": np.sum(x)}, x=np.ones(2), output="loss")
    with pytest.raises(gb.TraceError, match="picks the loss from a tuple, list or dict"):
        gb.trace(lambda x: np.sum(x), x=np.ones(2), output=0)
    with pytest.raises(gb.TraceError, match=r"takes an input named 'output'.*choice of the loss"):
        gb.trace(lambda x, output: np.sum(x * output), x=np.ones(2), output=0)
    g = gb.trace(lambda x, output=2.0: np.sum(x) * output, x=np.ones(2))  # its own default: no ambiguity
    assert g.value == 4.0


def test_check_and_the_command_line_pick_the_loss_too(tmp_path):
    from click.testing import CliRunner

    from graphviz_bp.cli import main

    W, x = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([3.0, -1.0])
    assert gb.check(_with_grads, W=W, x=x, output=0).passed
    src = tmp_path / "course.py"
    src.write_text("import numpy as np\n\ndef loss(W, x):\n    h = W @ x\n"
                   "    return 0.5 * np.sum(h ** 2), np.outer(h, x)\n")
    r = CliRunner().invoke(main, ["check", f"{src}:loss", "-i", "W=2x2", "-i", "x=2", "--loss", "0"])
    assert r.exit_code == 0, r.stderr
    r = CliRunner().invoke(main, ["check", f"{src}:loss", "-i", "W=2x2", "-i", "x=2"])
    assert r.exit_code == 1 and "say which is the loss with --loss (an index, e.g. --loss 0)" in r.stderr


# what real code does that cannot be traced says what to write instead --------------------------------

_X = np.ones((3, 2))


def _plain_dot(W):
    return np.sum(_X.dot(W))


_MADE_BEFORE = np.zeros((3, 2))  # made outside the traced function: it cannot become traced


def _into_plain_buffer(x):
    out = _MADE_BEFORE.copy()  # a plain array's .copy() method: not intercepted
    out[0:2, 0] = x[:2] * 2
    return np.sum(out)


def _into_plain_buffer_entry(x):
    _MADE_BEFORE[0, 0] = np.sum(x)  # NumPy's own words would be "setting an array element with a sequence"
    return np.sum(x)


def _plain_buffer_in_place(x):
    dW = _MADE_BEFORE.copy()
    dW[:, 0] += x
    return np.sum(dW)


@pytest.mark.parametrize("fn,words", [
    (_plain_dot, "a plain array's .dot() cannot take a traced value (NumPy converts it, dropping it from "
                 "the graph): write X @ W or np.dot(X, W), or pass X as an input"),
    (_into_plain_buffer, "a traced value cannot be stored into this NumPy array, which was made where "
                         "graphviz_bp cannot follow it (before the trace, by a function imported with from "
                         "numpy import zeros, by a plain array's .copy() method, or by a NumPy function that "
                         "does not allocate buffers)"),
    (_into_plain_buffer_entry, "a traced value cannot be stored into this NumPy array, which was made where"),
    (_plain_buffer_in_place, "a traced value cannot be written in place (a += x, or np.add(..., out=a)) into "
                             "this NumPy array, which was made where graphviz_bp cannot follow it"),
])
def test_untraceable_patterns_name_the_line_and_what_to_write(fn, words):
    with pytest.raises((gb.TraceError, gb.UnsupportedOpError)) as err:
        gb.trace(fn, {"W": np.ones((2, 2))} if fn is _plain_dot else {"x": np.ones(3)})
    assert words in str(err.value)
    assert "test_tracer.py" in str(err.value) and f"in {fn.__name__}" in str(err.value)
    W = np.ones((2, 2))
    assert gb.trace(lambda W: np.sum(_X @ W), W=W).value == np.sum(_X.dot(W))  # the advice works


@pytest.mark.parametrize("value, what", [
    ([(np.arange(3), np.arange(3)), (np.arange(5), np.arange(5))], "list"),  # sentences of two lengths
    ({"a": 1.0}, "dict"),
    ("text", "str"),
])
def test_an_input_that_is_not_an_array_of_numbers_is_refused_with_what_to_do(value, what):
    with pytest.raises(gb.TraceError) as info:
        gb.trace(lambda W, data: np.sum(W), W=np.ones(2), data=value)
    message = str(info.value)
    assert "input 'data' is not an array of numbers" in message and f"({what};" in message
    assert "closure" in message


def test_a_traced_value_kept_on_an_object_is_its_numbers_after_the_trace():
    """Running statistics kept on a layer (cs231n's batchnorm, from-scratch layers) hold a traced
    value after gb.trace: used again, in plain NumPy or in another trace, it is the array NumPy
    would have made (it raised, and its advice, np.asarray, did not help)."""
    class BatchNorm:  # keeps running statistics on itself, as from-scratch layers do
        def __init__(self):
            self.running_mean = np.zeros(3)

        def forward(self, X, gamma):
            X = X * gamma
            m = X.mean(axis=0)
            self.running_mean = 0.9 * self.running_mean + 0.1 * m
            return X - m + 0.01 * self.running_mean

    X = np.random.default_rng(0).normal(size=(4, 3))
    traced, plain = BatchNorm(), BatchNorm()

    def loss(gamma, bn=traced):
        return np.sum(bn.forward(X, gamma) ** 2)

    gamma = np.array([1.0, 2.0, 0.5])
    g = gb.trace(loss, gamma=gamma)
    assert g.value == loss(gamma, plain)
    assert type(traced.running_mean) is not np.ndarray  # a traced value, kept
    np.testing.assert_array_equal(np.asarray(traced.running_mean), plain.running_mean)
    # used again in plain NumPy: the numbers, as NumPy gives them
    assert loss(gamma) == loss(gamma, plain)
    np.testing.assert_array_equal(traced.running_mean, plain.running_mean)
    # kept by a second trace and read by a third: a constant there, as an array from outside is
    gb.trace(loss, gamma=gamma)
    kept, fixed = traced.running_mean, np.array(traced.running_mean)

    def later(gamma, stats):
        Xg = X * gamma
        return np.sum((Xg - Xg.mean(axis=0) + 0.01 * (0.9 * stats + 0.1 * Xg.mean(axis=0))) ** 2)

    g3 = gb.trace(lambda gamma: later(gamma, kept), gamma=gamma)
    assert g3.value == later(gamma, fixed)
    np.testing.assert_allclose(g3.grad("gamma"), gb.trace(lambda gamma: later(gamma, fixed), gamma=gamma).grad("gamma"),
                               rtol=1e-12)
    assert gb.check(lambda gamma: later(gamma, fixed), {"gamma": gamma}).passed
    # a 0-d one answers float(), int(), .item() and np.add.at with its number
    box = {}
    gb.trace(lambda gamma: box.setdefault("s", np.sum(gamma * 2)), gamma=gamma)
    assert float(box["s"]) == box["s"].item() == 7.0 and int(box["s"]) == 7
    acc = np.zeros(2)
    np.add.at(acc, [0, 0], box["s"])
    assert acc.tolist() == [14.0, 0.0]


def test_a_kept_value_is_read_only_and_its_graph_stays_as_traced():
    """A value kept from a finished trace hands out its graph's numbers: writes into them would
    change the drawing (a helper's review). They are read-only; `x += 1` rebinds x, as for a NumPy
    scalar; writing the value into an array made by a new trace reads its numbers there."""
    box = {}
    g = gb.trace(lambda x: np.sum(box.setdefault("y", x * 2.0) ** 2), x=np.array([1.0, 2.0, 3.0]))
    before = g.draw().to_dot()
    kept = box["y"]
    with pytest.raises(ValueError, match="read-only"):
        np.add(kept, 100, out=np.asarray(kept))
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(kept)[:] = 0
    for write in (lambda: kept.__setitem__(0, 5.0), kept.sort, lambda: kept.fill(0.0)):
        with pytest.raises(gb.TraceError, match="kept from a finished trace .* is read-only"):
            write()
    assert g.draw().to_dot() == before
    y = kept
    y += 1
    assert type(y) is np.ndarray and y.tolist() == [3.0, 5.0, 7.0] and np.asarray(kept).tolist() == [2.0, 4.0, 6.0]
    assert type(kept.flatten()) is np.ndarray

    def later(x):
        r = np.zeros(3)
        r[:] = kept
        out = np.zeros(3)
        np.copyto(out, kept)
        return np.sum(r * x + out * x ** 2)

    h = gb.trace(later, x=np.ones(3))
    assert h.value == 24.0 and h.grad("x").tolist() == [6.0, 12.0, 18.0]
    assert len(g.nodes) == 6 and g.draw().to_dot() == before  # nothing added to the finished trace


def test_a_kept_value_pickles_as_its_numbers():
    """A model holding a cache from a trace can be saved: its kept values pickle as arrays."""
    import pickle

    box = {}
    gb.trace(lambda x: np.sum(box.setdefault("k", x * 2)), x=np.arange(3.0))
    back = pickle.loads(pickle.dumps({"cache": box["k"]}))["cache"]
    assert type(back) is np.ndarray and back.tolist() == [0.0, 2.0, 4.0]
    with pytest.raises(gb.TraceError, match="Pickling of a traced value"):
        gb.trace(lambda x: (pickle.dumps(x), np.sum(x))[1], x=np.arange(3.0))


def test_printing_a_traced_value_prints_its_numbers_as_numpy_does(capsys):
    """From-scratch training code prints its loss as it goes: ``print(loss)``, ``f"{loss}"`` and
    ``f"{loss:.3f}"`` print the numbers, as they would untraced; repr names the value too."""
    kept = {}

    def f(x):
        h = np.tanh(x)
        loss = np.sum(h ** 2)
        print(h, loss, f"{loss}", f"{loss:.3f}", sep="|")
        kept["h"] = h
        return loss

    x = np.array([0.5, -1.0, 2.0])
    h, loss = np.tanh(x), np.sum(np.tanh(x) ** 2)
    gb.trace(f, x=x)
    assert capsys.readouterr().out == f"{h}|{loss}|{loss}|{loss:.3f}\n"
    assert repr(kept["h"]) == f"Traced(tanh#1, {np.array_repr(h)})"


def test_percent_formatting_and_logging_print_a_traced_values_number(capsys, caplog):
    """``"%.3f" % loss`` and ``logging.info("loss %.4f", loss)`` ask for the number as float()
    does; they print it, while float(loss) itself is still refused (its number is not traced)."""
    import logging

    def f(x):
        loss = np.sum(x ** 2)
        print("loss %.3f, step %d, %s" % (loss, loss, loss))
        logging.getLogger("graphviz_bp.test").warning("loss %.4f", loss)
        with pytest.raises(gb.TraceError, match="float"):
            float(loss)
        return loss

    x = np.array([0.5, -1.0, 2.0])
    loss = np.sum(x ** 2)
    gb.trace(f, x=x)
    assert capsys.readouterr().out == f"loss {loss:.3f}, step {int(loss)}, {loss}\n"
    assert f"loss {loss:.4f}" in caplog.text


def _viewed(z):
    return np.sum(z.view(np.int64))


def _reduced(z):
    return np.sum(np.add.reduce(z))


def _masked_log(z):
    return -np.sum(np.ma.log(z * np.array([0.0, 1.0, 0.0])).filled(0))


def _masked_sum(z):
    return np.sum(np.ma.array(z, mask=[0, 1, 0]))


@pytest.mark.parametrize("f, words", [
    (_viewed, "x.view(int64) reinterprets the bytes of float64 values"),
    (_reduced, "np.add.reduce (a ufunc method) is not supported"),
    (_masked_log, "numpy.ma (masked arrays) is not supported"),
    (_masked_sum, "numpy.ma (masked arrays) is not supported"),
], ids=lambda x: getattr(x, "__name__", "")[:12])
def test_unsupported_constructs_name_the_users_line(f, words):
    """``x.view(dtype)`` and ``np.add.reduce`` were refused without the user's line; NumPy's masked
    arrays, which call ``.view`` themselves, were refused as ``x.view(dtype)`` (never written by the
    user) or with NumPy's own TypeError (kisate/myLSTM's loss: ``np.ma.log(z * y).filled(0)``)."""
    with pytest.raises(gb.UnsupportedOpError) as info:
        gb.trace(f, z=np.array([0.2, 0.5, 0.3]))
    message = str(info.value)
    assert words in message
    code = inspect.getsource(f).splitlines()[-1].strip()
    assert message.endswith(f"in {f.__name__}: {code}") and "test_tracer.py:" in message


def test_errors_that_are_not_the_tracers_on_masked_arrays_are_left_as_they_are():
    """Only NumPy's masked code given a traced value is refused as np.ma: a masked array of plain
    numbers that NumPy refuses keeps NumPy's error, an error class of ours that the user raises
    keeps its message, and a refused construct in a function NumPy's masked code calls keeps its
    own message and line."""
    def plain_masked(x):
        m = np.ma.array(np.array([1.0, 2.0]), mask=[0, 1])
        m.filled("zero")  # NumPy: cannot set a string fill value
        return np.sum(x)

    class Mine(gb.ShapeError):
        pass

    def own_error(x):
        raise Mine("expected 4 rows")

    def through_callback(x):
        def per_column(col):
            return np.sum(col * x.view(np.int64))
        np.ma.apply_along_axis(per_column, 0, np.ma.array(np.ones((3, 2)), mask=False))
        return np.sum(x)

    with pytest.raises(TypeError, match="Cannot set fill value of string"):
        gb.trace(plain_masked, x=np.ones(2))
    with pytest.raises(Mine) as info:
        gb.trace(own_error, x=np.ones(2))
    assert info.value.args == ("expected 4 rows",)
    with pytest.raises(gb.UnsupportedOpError) as info:
        gb.trace(through_callback, x=np.ones(3))
    assert str(info.value).startswith("x.view(int64) reinterprets the bytes")
    assert str(info.value).endswith("in per_column: return np.sum(col * x.view(np.int64))")


def test_a_view_that_changes_nothing_is_the_value_and_dtype_questions_are_answered():
    # autograd.numpy's hstack ends in .view(np.ndarray); scipy's logsumexp asks np.result_type
    def f(x):
        y = np.concatenate([x, x]).view(np.ndarray) + x.view(x.dtype).view(type=np.ndarray)[[0, 1, 2, 0, 1, 2]]
        return np.sum(y.astype(np.result_type(x, 1.0)) ** 2) * (1.0 + np.iscomplexobj(x))

    x = np.arange(3.0)
    g = gb.trace(f, x=x)
    assert g.value == f(x) == 40.0
    np.testing.assert_array_equal(g.grad("x"), 16 * x)
    for view, words in ((lambda x: x.view(np.int64), "x.view(int64) reinterprets the bytes of float64"),
                        (lambda x: x.view(np.matrix), "x.view(matrix) makes another kind of array")):
        with pytest.raises(gb.UnsupportedOpError, match=re.escape(words)):
            gb.trace(lambda x: np.sum(view(x)), x=x)


def test_an_error_raised_in_an_installed_librarys_code_also_names_the_users_line(tmp_path, monkeypatch):
    # scipy.stats.norm.logpdf(x) converts x itself: the error named scipy's line alone
    lib = tmp_path / "site-packages" / "convertinglib"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text("import numpy as np\n\n\ndef logpdf(x):\n    return np.log(np.asarray(x).tolist())\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))
    import convertinglib

    def f(x):
        return np.sum(x) + np.sum(convertinglib.logpdf(x))

    with pytest.raises(gb.TraceError) as info:
        gb.trace(f, x=np.ones(3))
    lines = str(info.value).splitlines()
    assert lines[-2].endswith("convertinglib/__init__.py:5 in logpdf: return np.log(np.asarray(x).tolist())")
    assert lines[-1].startswith("  called from ") and lines[-1].endswith(
        "test_tracer.py:" + str(inspect.getsourcelines(f)[1] + 1) + " in f: return np.sum(x) + np.sum(convertinglib.logpdf(x))")
    # the user's own code calling it has no "called from"
    with pytest.raises(gb.TraceError) as info:
        gb.trace(lambda x: np.sum(np.asarray(x).tolist()), x=np.ones(3))
    assert "called from" not in str(info.value)


def test_a_shape_or_op_error_raised_in_an_installed_librarys_code_names_the_users_line(tmp_path, monkeypatch):
    lib = tmp_path / "site-packages" / "shapelib"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text("import numpy as np\n\n\ndef project(x, W):\n    return W @ x\n\n\n"
                                     "def inv(A):\n    return np.linalg.inv(A)\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))
    import shapelib

    def f(x):
        return np.sum(shapelib.project(x, np.ones((2, 4))))

    def g(x):
        return np.sum(shapelib.inv(np.outer(x, x)))

    line = inspect.getsourcelines(f)[1]
    with pytest.raises(gb.ShapeError) as info:
        gb.trace(f, x=np.ones(3))
    lines = str(info.value).splitlines()
    assert lines[0].startswith("matmul (@) on shapes (2, 4) and (3,): inner dimensions differ")
    assert lines[1].endswith("shapelib/__init__.py:5 in project: return W @ x")
    assert lines[2].startswith("  called from ") and lines[2].endswith(
        f"test_tracer.py:{line + 1} in f: return np.sum(shapelib.project(x, np.ones((2, 4))))")
    with pytest.raises(gb.OpError) as info:
        gb.trace(g, x=np.ones(3))
    lines = str(info.value).splitlines()
    assert lines[0] == "inv ((·)⁻¹) on shape (3, 3) failed: Singular matrix"
    assert lines[1].endswith("shapelib/__init__.py:9 in inv: return np.linalg.inv(A)")
    assert lines[2].startswith("  called from ") and lines[2].endswith(
        f"test_tracer.py:{line + 4} in g: return np.sum(shapelib.inv(np.outer(x, x)))")
    # the user's own line: no "called from"
    with pytest.raises(gb.ShapeError) as info:
        gb.trace(lambda x: np.sum(np.ones((2, 4)) @ x), x=np.ones(3))
    assert "called from" not in str(info.value)
    # the library's function traced itself: nothing of the user's called it (the tracer did; on the
    # command line the launcher script was named)
    with pytest.raises(gb.ShapeError) as info:
        gb.trace(shapelib.project, x=np.ones(3), W=np.ones((2, 4)))
    assert str(info.value).splitlines()[-1].endswith("shapelib/__init__.py:5 in project: return W @ x")
