"""NumPy's floating-point warnings in a trace and its backward pass are told at the user's line, with
the op (NumPy warned at graphviz_bp's own lines: the tracer's call of the op, the op's gradient rule);
what the program set to ignore or raise stays so."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import graphviz_bp as gb


def _line_of(fn, text):
    lines, start = inspect.getsourcelines(fn)
    (k,) = [k for k, line in enumerate(lines) if text in line]
    return start + k


def _inverse_distance(x):
    r = np.sqrt(x ** 2)
    return np.sum(1 / r)


def _heard(**options):
    with warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("always")
        gb.trace(_inverse_distance, x=np.array([0.0, 1.0, 2.0]), **options)
    return [(str(w.message), w.filename, w.lineno) for w in heard if w.category is RuntimeWarning]


def test_a_warning_in_an_op_and_in_its_gradient_is_told_at_the_users_line():
    heard = _heard()
    here = __file__
    assert ("divide by zero encountered in divide", here, _line_of(_inverse_distance, "1 / r")) in heard
    gradient = [h for h in heard if "encountered in the gradient of" in h[0]]
    assert gradient and all(h[1] == here for h in gradient)
    assert {h[2] for h in gradient} <= {_line_of(_inverse_distance, "1 / r"), _line_of(_inverse_distance, "sqrt")}
    assert not [h for h in heard if "graphviz_bp" in h[1]]


def test_what_the_program_ignores_or_raises_stays_so():
    with np.errstate(all="ignore"):
        assert _heard() == []
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        gb.trace(_inverse_distance, x=np.array([0.0, 1.0]))
    assert np.geterr()["divide"] == "warn" and np.geterrcall() is None  # as it was, after


def _own_numpy(x):
    scale = np.log(np.array(0.0))  # the user's NumPy on a number, not traced: -inf, and a warning
    return np.sum(x * np.exp(scale))


def test_the_users_own_numpy_warns_at_its_line():
    with warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("always")
        g = gb.trace(_own_numpy, x=np.ones(2))
    assert [(str(w.message), w.filename, w.lineno) for w in heard] == \
        [("divide by zero encountered in log", __file__, _line_of(_own_numpy, "np.log"))]
    assert g.value == 0.0


class _Log:
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.append(text)


def test_errors_the_program_sends_to_its_own_callback_or_log_still_go_there():
    """With divide errors logged (or called) and invalid ones warned, the trace crashed looking for
    the told() handler's write method, or the program's callback heard nothing."""
    log = _Log()
    with np.errstate(divide="log", invalid="warn", call=log), warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        gb.trace(_inverse_distance, x=np.array([0.0, 1.0]))
    assert log.lines and all(line.startswith("Warning: divide by zero encountered") for line in log.lines)
    heard = []
    with np.errstate(all="call", call=lambda err, flag: heard.append(err)), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gb.trace(_inverse_distance, x=np.array([0.0, 1.0]))
    assert "divide by zero" in heard and not caught


def test_a_warning_told_at_the_users_line_is_filtered_by_the_users_module():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", module=__name__)
        gb.trace(_inverse_distance, x=np.array([0.0, 1.0]))
    assert not [w for w in caught if w.filename == __file__]
