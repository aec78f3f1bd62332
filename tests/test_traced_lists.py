"""Lists and tuples holding traced values, as real code passes them to NumPy: stacked as NumPy makes
an array of them wherever the tracer sees the call (another argument is traced, or the function is
one graphviz_bp composes), each item of a sequence of arrays on its own; refused with advice where
NumPy's own code converts them out of the tracer's sight. NumPy's namespace keeps its functions."""

from __future__ import annotations

import numpy as np
import pytest

import graphviz_bp as gb

from .numerics import verify

X = np.array([[1.0, -2.0, 0.5], [0.3, 2.0, -1.0]])

# (written as a user would, written for autograd or None)
CASES = {
    "concatenate": (lambda a, b: np.sum(np.concatenate([a, [b[0], b[1] * a[0]]]) * np.arange(5.0)),
                    lambda np_, a, b: np_.sum(np_.concatenate([a, np_.array([b[0], b[1] * a[0]])]) * np_.arange(5.0))),
    "stack of an array and a list": (lambda a, b: np.sum(np.stack([a, [b[0], 1.0, b[1]]]) ** 2),
                                     lambda np_, a, b: np_.sum(np_.stack([a, np_.array([b[0], 1.0, b[1]])]) ** 2)),
    "where": (lambda a, b: np.sum(np.where(a > 0, a, [b[0], b[1], 2.0]) ** 2),
              lambda np_, a, b: np_.sum(np_.where(a > 0, a, np_.array([b[0], b[1], 2.0])) ** 2)),
    "dot": (lambda a, b: np.dot(a, [b[0], b[1] * a[1], 1.0]),
            lambda np_, a, b: np_.dot(a, np_.array([b[0], b[1] * a[1], 1.0]))),
    "nested in a solve": (lambda a, b: np.sum(np.linalg.solve([[3.0, b[0]], [a[0], 4.0]], a[:2])),
                          lambda np_, a, b: np_.sum(np_.linalg.solve(np_.array([[3.0, b[0]], [a[0], 4.0]]), a[:2]))),
    "average weights": (lambda a, b: np.average(a, weights=[b[0] ** 2, 1.0, b[1] ** 2]), None),
    "percentile of traced q": (lambda a, b: np.sum(np.percentile(a, [10 + b[0] ** 2, 50.0])), None),
    "interp values": (lambda a, b: np.sum(np.interp(a, [-1.0, 0.0, 1.0], [b[0], b[1], 2.0])), None),
    "insert values": (lambda a, b: np.sum(np.insert(a, 1, [b[0], b[1]]) * np.arange(5.0)), None),
    "corrcoef of a list": (lambda a, b: np.sum(np.corrcoef(a, [b[0], 1.0, b[1]])), None),
    "trapezoid samples": (lambda a, b: np.trapezoid(a, x=[0.0, b[0] ** 2, 3.0]), None),
    "multi_dot of lists": (lambda a, b: np.sum(np.linalg.multi_dot([[[a[0], 1.0]], np.eye(2) * b[1], [[b[0]], [2.0]]])),
                           None),
    "choose between shapes": (lambda a, b: np.sum(np.choose([0, 1, 1], [a, [b[0]]])), None),
    "select between shapes": (lambda a, b: np.sum(np.select([a > 0, a <= 0], [a, [b[1]]])), None),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_list_of_traced_values_beside_a_traced_argument_is_stacked_as_numpy_makes_it_an_array(case, seed):
    import autograd.numpy as anp

    f, for_autograd = CASES[case]
    rng = np.random.default_rng(seed)
    inputs = {"a": rng.normal(size=3) + [0.5, -0.5, 0.2], "b": rng.normal(size=2) + 1.0}
    g = verify(f, inputs, ag=None if for_autograd is None else (lambda a, b: for_autograd(anp, a, b)))
    assert all(type(n.value) is np.ndarray for n in g.nodes)  # (a constant held a traced value)


def test_traced_weights_in_a_list_are_refused_where_traced_weights_are():
    """np.cov's weights are numbers: a list holding a traced weight gave a wrong gradient."""
    with pytest.raises(gb.UnsupportedOpError, match="traced fweights or aweights"):
        gb.trace(lambda a, b: np.sum(np.cov(a, aweights=[b[0], 1.0, 2.0])), a=np.ones(3), b=np.ones(2))


def test_comparisons_of_lists_holding_traced_values_answer_as_numpy_does():
    """NumPy's array_equal answers False when converting its arguments fails: it did on traced values."""
    def f(x):
        same = np.array_equal([x[0], x[1]], [x[0], x[1]]) and np.array_equiv([x[0]], x[:1])
        return np.sum(x) * (2.0 if same else 1.0)

    x = np.array([1.0, 2.0])
    assert gb.trace(f, x=x).value == f(x) == 6.0


def test_a_list_numpy_converts_out_of_sight_is_refused_naming_the_function_and_what_to_write():
    def f(a, b):
        return np.mean([np.sum(a), np.sum(b)])

    with pytest.raises(gb.TraceError) as info:
        gb.trace(f, a=np.ones(3), b=np.ones(2))
    message = str(info.value)
    assert message.startswith("np.mean of a list holding traced values") and "e.g. np.mean(np.array([...]))" in message
    assert "in f: return np.mean([np.sum(a), np.sum(b)])" in message

    def g(a):
        losses = [np.sum(a), np.sum(a ** 2)]
        return np.mean(losses)  # (the list is not on the line: the function asking for it is named)

    with pytest.raises(gb.TraceError, match=r"^np\.mean of a list holding traced values.*np\.mean\(np\.array"):
        gb.trace(g, a=np.ones(3))

    def h(a):  # word2vec: np.sum([y_pred - w for w in context], axis=0), the list made the line before
        parts = [a - w for w in (1.0, 2.0)]
        return np.sum(np.sum(parts, axis=0) ** 2) + np.linalg.norm(tuple(parts))

    with pytest.raises(gb.TraceError, match=r"^np\.sum of a list holding traced values"):
        gb.trace(h, a=np.ones(3))

    assert gb.trace(lambda a: np.mean(np.array([np.sum(a), np.sum(a ** 2)])), a=np.ones(3)).value == 3.0


def test_numpys_functions_keep_their_identity_while_tracing():
    """Code that compares NumPy functions (a reduction chosen by default argument) reads them while
    tracing as outside it: only allocators and conversions are wrapped."""
    def reduce(x, how=np.mean):
        return np.mean(x) if how is np.mean else np.sum(x)

    seen = {}

    def f(x):
        seen["mean"], seen["norm"], seen["concatenate"] = np.mean, np.linalg.norm, np.concatenate
        return reduce(x ** 2)

    x = np.array([1.0, 2.0, 3.0])
    g = gb.trace(f, x=x)
    inside = dict(seen)
    assert inside["mean"] is np.mean and inside["norm"] is np.linalg.norm and inside["concatenate"] is np.concatenate
    assert g.value == f(x) == np.mean(x ** 2)


def test_numpys_own_code_given_traced_values_in_a_list_names_the_cause():
    """NumPy's code took the list in (np.percentile partitions it in place, np.cov asks
    np.result_type): the refusal said what NumPy did, not what the user's line did."""
    def percentile(a, b):
        return np.sum(np.percentile([a, b], 30))

    def cov(a, b):
        return np.sum(np.cov([a, b]))

    for f, name in ((percentile, "np.percentile"), (cov, "np.cov")):
        with pytest.raises(gb.GraphvizBPError) as info:
            gb.trace(f, a=np.ones(3), b=np.ones(3))
        message = str(info.value)  # (np.cov's list reaches np.asarray: its own words, as np.mean's)
        assert f"({name} was given a list holding traced values" in message or \
            message.startswith(f"{name} of a list holding traced values")
        assert f"e.g. {name}(np.array([...]))" in str(info.value) and f"in {f.__name__}: return" in str(info.value)
    # a list beside a traced first argument is the tracer's, as is a list it stacks itself
    assert gb.trace(lambda a: np.sum(np.percentile(a, [30, 40])), a=np.arange(3.0)).value == np.sum(
        np.percentile(np.arange(3.0), [30, 40]))


def test_a_list_that_is_not_numbers_is_refused_at_the_users_line():
    def f(a):
        return np.sum(np.concatenate([a, [None, 1.0]]))

    with pytest.raises(gb.TraceError, match=r"cannot use list value \[None, 1.0\] .*\n  at .* in f: return np.sum"):
        gb.trace(f, a=np.ones(3))


def test_a_list_takes_the_dtype_numpy_gives_it():
    """A Python float beside a float32 traced value makes the list float64 in NumPy (and 1.1 stays
    1.1): the stack was float32, and 1.1 became 1.10000002."""
    x32 = np.array([1.5, 2.25, 3.0], np.float32)
    for f in (lambda a: np.sum(np.array([a[0], 1.1]) * 1.0), lambda a: np.sum(np.concatenate([a, [a[0], 1.1]])),
              lambda a: np.sum(np.array([[a[0], a[1]], [1.5, 2]])), lambda a: np.sum(np.array([a[0], a[1]]))):
        g = gb.trace(f, a=x32)
        assert g.value.dtype == np.asarray(f(x32)).dtype and g.value == f(x32)
    seen = {}

    def keep(a):
        seen["list"] = np.array([a[0], a[1]])
        return np.sum(seen["list"])

    gb.trace(keep, a=x32)
    assert seen["list"].dtype == np.float32  # float32 entries only: float32, as NumPy's


def test_a_parenthesised_argument_is_not_taken_for_a_list():
    """np.tanh((x - 1) * 2) stored into an array made before the trace: the advice is about the
    store, not about a list (the first version of the list advice matched any parenthesis)."""
    out = np.zeros(3)

    def f(x):
        out[:] = np.tanh((x - 1) * 2)
        return np.sum(x)

    with pytest.raises(gb.TraceError) as info:
        gb.trace(f, x=np.ones(3))
    assert "cannot be stored into this NumPy array" in str(info.value) and "list" not in str(info.value).split("\n")[0]
