"""Lists of traced values given to NumPy's functions (``np.mean([loss_a, loss_b])``): NumPy's
dispatch does not look inside a list, so NumPy's own code met the traced values and refused them.
They are stacked, as ``np.array`` stacks them, and recorded; the namespace is NumPy's own again
after every trace."""

from __future__ import annotations

import numpy as np
import pytest

import graphviz_bp as gb
from graphviz_bp import buffers
from graphviz_bp.errors import ShapeError

from .numerics import verify

# each written as a user would, and for autograd (which needs np.array around a list)
CASES = {
    "mean of losses": (lambda a, b: np.mean([np.sum(a ** 2), np.sum(b ** 2)]),
                       lambda np_, a, b: np_.mean(np_.array([np_.sum(a ** 2), np_.sum(b ** 2)]))),
    "sum of a tuple": (lambda a, b: np.sum((a[0] * b[0], np.tanh(a[1]), 3.0)),
                       lambda np_, a, b: np_.sum(np_.array([a[0] * b[0], np_.tanh(a[1]), 3.0]))),
    "max of arrays": (lambda a, b: np.sum(np.max([a, 2 * a - 1], axis=0)),
                      lambda np_, a, b: np_.sum(np_.max(np_.array([a, 2 * a - 1]), axis=0))),
    "norm of a difference": (lambda a, b: np.linalg.norm([a[0] - b[0], a[1] - 2 * b[1]]),
                             lambda np_, a, b: np_.linalg.norm(np_.array([a[0] - b[0], a[1] - 2 * b[1]]))),
    "nested, with numbers": (lambda a, b: np.std([[a[0], 1.5], [b[1], a[2]]]),
                             lambda np_, a, b: np_.std(np_.array([[a[0], 1.5], [b[1], a[2]]]))),
    "dot of two lists": (lambda a, b: np.dot([a[0], a[1]], [b[0], 2.0]),
                         lambda np_, a, b: np_.dot(np_.array([a[0], a[1]]), np_.array([b[0], 2.0]))),
    "keyword argument": (lambda a, b: np.sum(np.average(a=[a[0], a[2]], weights=[b[0] ** 2, 1.0])),
                         None),
    "a composed function": (lambda a, b: np.sum(np.cov([a, a ** 2 + b[0]])), None),
    "a determinant": (lambda a, b: np.linalg.det([[a[0], a[1]], [b[0], 3.0]]),
                      lambda np_, a, b: np_.linalg.det(np_.array([[a[0], a[1]], [b[0], 3.0]]))),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_list_of_traced_values_is_stacked_as_numpy_converts_it(case, seed):
    import autograd.numpy as anp

    f, for_autograd = CASES[case]
    rng = np.random.default_rng(seed)
    inputs = {"a": rng.normal(size=3), "b": rng.normal(size=2) + 1.0}
    ag = None if for_autograd is None else (lambda a, b: for_autograd(anp, a, b))
    g = verify(f, inputs, ag=ag)  # NumPy's value; central differences and autograd's gradients
    # nothing recorded by NumPy's own attempt, which failed: every value computed reaches the output
    reached, todo = set(), [g.output]
    while todo:
        n = todo.pop()
        if n.index not in reached:
            reached.add(n.index)
            todo += [e.src for e in n.in_edges]
    assert reached >= {n.index for n in g.nodes if n.kind != "input"}


def test_a_ragged_list_is_refused_naming_the_function_and_the_line():
    def f(a, b):
        return np.mean([a, b])

    with pytest.raises(ShapeError, match=r"np\.mean: a list of traced values .* \(3,\) and \(2,\)") as info:
        gb.trace(f, a=np.ones(3), b=np.ones(2))
    assert "in f" in str(info.value) and "return np.mean([a, b])" in str(info.value)


def test_numpys_namespace_is_its_own_outside_traces_even_after_one_fails():
    before = {name: getattr(np, name) for name in buffers.LISTED}
    linalg = {name: getattr(np.linalg, name) for name in buffers.LISTED_LINALG}
    assert "mean" in before and "norm" in linalg and "concatenate" in before
    assert all(type(f).__name__ == "_ArrayFunctionDispatcher" for f in [*before.values(), *linalg.values()])

    inside = {}

    def f(a):
        inside["mean"], inside["norm"] = np.mean, np.linalg.norm
        return np.mean([a, a[:2]])

    with pytest.raises(ShapeError):
        gb.trace(f, a=np.ones(3))
    assert inside["mean"] is not before["mean"] and inside["norm"] is not linalg["norm"]  # (wrapped meanwhile)
    assert {name: getattr(np, name) for name in buffers.LISTED} == before
    assert all(getattr(np.linalg, name) is f for name, f in linalg.items())
    assert np.mean([1.0, 2.0]) == 1.5  # and plain lists are NumPy's business, as ever
