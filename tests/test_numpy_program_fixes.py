"""What the whole-program review (tests/test_numpy_programs.py) found, fixed or with a proposed fix (xfail)."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk


def rows(table: gk.Trace) -> list[tuple[str, str]]:
    """(forward, reverse) text of each printed row."""
    lines = str(table).splitlines()[2:-1]
    return [tuple(cell.strip() for cell in line.split("|")) for line in lines]


# ------------------------------------------------------------------ gk.trace: negative numbers in the table
def test_trace_puts_negative_numbers_in_parentheses():
    # "-v0 = --2" and "v0^2 = -2^2 = 4" (which reads as -4) were printed before.
    assert rows(gk.trace(lambda x: -x, -2.0))[1][0] == "v1 = -v0 = -(-2) = 2"
    assert rows(gk.trace(gk.square, -2.0))[1][0] == "v1 = v0^2 = (-2)^2 = 4"
    assert rows(gk.trace(lambda x: x**3, -2.0))[1][0] == "v1 = v0 ^ 3 = (-2) ^ 3 = -8"
    # a function of a negative number: "cos(-1)", not "cos -1"; positive ones as in the paper ("sin 5")
    table = rows(gk.trace(lambda x: gk.cos(x) + gk.exp(x), -1.0))
    assert table[1][0] == "v1 = cos v0 = cos(-1) = 0.5403"
    assert table[2][0] == "v2 = exp v0 = exp(-1) = 0.3679"
    assert rows(gk.trace(gk.sin, 5.0))[1][0] == "v1 = sin v0 = sin 5 = -0.9589"


def test_trace_power_rule_with_a_negative_exponent():
    table = gk.trace(lambda x: x**-1, 2.0)
    assert rows(table)[0][1] == "x~1 = v~0 = v~1 * (-1) * v0^(-2) = -0.25"
    assert table.grads == (-0.25,)


def test_trace_names_where_condition_and_abs_slope():
    table = gk.trace(lambda x: gk.where(x > 1, x, 0.0) + gk.abs(x), 2.0)
    forward = [r[0] for r in rows(table)]
    assert forward[1] == "v1 = where(cond, v0, c) = where(cond, 2, c) = 2"
    assert forward[2] == "v2 = abs v0 = abs 2 = 2"
    assert rows(table)[0][1] == "x~1 = v~0 = where(cond, v~1, 0) + v~2 * sign v0 = 1 + 1 = 2"
    two = gk.trace(lambda x, y: gk.where(x > y, x, y), 1.0, 3.0)
    assert [r[1] for r in rows(two)][:2] == [
        "x~1 = v~-1 = where(cond, v~1, 0) = 0",
        "x~2 = v~0 = where(cond, 0, v~1) = 1",
    ]
    assert two.grads == (0.0, 1.0)


def test_trace_of_a_matrix_says_where_the_matrix_trace_is():
    # numpy.trace(a) written gk.trace(a): gk.trace is the derivative table of a function
    for a in (gk.eye(3), np.eye(3), [[1.0, 0.0], [0.0, 1.0]]):
        with pytest.raises(gk.ArgumentTypeError, match=r"gk\.diagonal\(a\)\.sum\(\)"):
            gk.trace(a)
    with pytest.raises(gk.ArgumentTypeError, match="f must be callable"):
        gk.trace("sin", 1.0)
    a = np.arange(18.0).reshape(2, 3, 3)
    np.testing.assert_array_equal(gk.diagonal(gk.tensor(a), axis1=-2, axis2=-1).sum(-1).numpy(),
                                  np.trace(a, axis1=-2, axis2=-1))  # fmt: skip


# ------------------------------------------------------------------ gk.grad of a list of parameters
def test_grad_of_a_list_of_differently_shaped_parameters_explains_argnums():
    w, b = np.ones((3, 2)), np.ones(2)

    def loss(params):
        w, b = params
        return gk.sum(gk.tanh(gk.ones(4, 3, dtype=gk.float64) @ w + b))

    with pytest.raises(gk.ArgumentTypeError, match=r"argnums"):
        gk.grad(loss)([w, b])
