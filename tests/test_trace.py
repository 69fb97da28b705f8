"""gk.trace: Table 1 of Baydin et al. (arXiv:1502.05767) row by row, and traces of tensors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd import function


def seed_function(x1: gk.Tensor, x2: gk.Tensor) -> gk.Tensor:
    return gk.log(x1) + x1 * x2 - gk.sin(x2)


@pytest.fixture
def table() -> gk.Trace:
    return gk.trace(seed_function, 2.0, 5.0)


def test_forward_primal_trace_row_by_row(table: gk.Trace) -> None:
    expected = [
        ("v-1", "input", "x1", 2.0),
        ("v0", "input", "x2", 5.0),
        ("v1", "log", "ln v-1", math.log(2.0)),
        ("v2", "multiply", "v-1 * v0", 10.0),
        ("v3", "sin", "sin v0", math.sin(5.0)),
        ("v4", "add", "v1 + v2", math.log(2.0) + 10.0),
        ("v5", "subtract", "v4 - v3", math.log(2.0) + 10.0 - math.sin(5.0)),
    ]
    assert [s.name for s in table.forward] == [e[0] for e in expected]
    for step, (name, op, expr, value) in zip(table.forward, expected, strict=True):
        assert (step.name, step.op, step.expr) == (name, op, expr)
        assert step.value == pytest.approx(value, rel=1e-12)
        assert step.shape == ()
    assert [s.inputs for s in table.forward[2:]] == [("v-1",), ("v-1", "v0"), ("v0",), ("v1", "v2"), ("v4", "v3")]
    assert table.forward[2].expr_values == "ln 2"
    assert table.forward[6].expr_values == "10.6931 - (-0.9589)"
    # The values of the paper, to its printed precision.
    assert [round(s.value, 3) for s in table.forward] == [2.0, 5.0, 0.693, 10.0, -0.959, 10.693, 11.652]
    assert table.output == "v5"
    assert table.value == pytest.approx(11.6521, abs=5e-5)


def test_reverse_adjoint_trace_row_by_row(table: gk.Trace) -> None:
    adjoints = {a.var: a for a in table.backward}
    expected = {
        "v5": ("v~5", "y~", 1.0),
        "v4": ("v~4", "v~5", 1.0),
        "v3": ("v~3", "-v~5", -1.0),
        "v2": ("v~2", "v~4", 1.0),
        "v1": ("v~1", "v~4", 1.0),
        "v0": ("v~0", "v~2 * v-1 + v~3 * cos v0", 5.0 * 0 + 2.0 - math.cos(5.0)),
        "v-1": ("v~-1", "v~1 / v-1 + v~2 * v0", 5.5),
    }
    for var, (name, expr, value) in expected.items():
        a = adjoints[var]
        assert (a.name, a.expr) == (name, expr)
        assert a.value == pytest.approx(value, rel=1e-12)
    assert round(adjoints["v0"].value, 4) == 1.7163
    # How v~0 was accumulated: one term per consumer of v0, with its value.
    terms = adjoints["v0"].terms
    assert [(t.consumer, t.expr) for t in terms] == [("v2", "v~2 * v-1"), ("v3", "v~3 * cos v0")]
    assert terms[0].value == pytest.approx(2.0)
    assert terms[1].value == pytest.approx(-math.cos(5.0))
    assert round(terms[1].value, 3) == -0.284
    # The reverse pass starts at the output's seed and ends at the inputs.
    order = [a.var for a in table.backward]
    assert order[0] == "v5" and order[-2:] == ["v0", "v-1"]
    assert table.grads == pytest.approx((5.5, 2.0 - math.cos(5.0)))
    assert table.adjoint("v3") == -1.0


def test_printed_table(table: gk.Trace) -> None:
    text = str(table)
    lines = text.splitlines()
    assert "Forward primal trace" in lines[0] and "Reverse adjoint trace" in lines[0]
    body = lines[2:10]
    left = [line.split(" | ")[0].strip() for line in body]
    right = [line.split(" | ")[1].strip() for line in body]
    assert left == [
        "v-1 = x1 = 2",
        "v0 = x2 = 5",
        "v1 = ln v-1 = ln 2 = 0.6931",
        "v2 = v-1 * v0 = 2 * 5 = 10",
        "v3 = sin v0 = sin 5 = -0.9589",
        "v4 = v1 + v2 = 0.6931 + 10 = 10.6931",
        "v5 = v4 - v3 = 10.6931 - (-0.9589) = 11.6521",
        "y = v5 = 11.6521",
    ]
    assert right == [
        "x~1 = v~-1 = v~1 / v-1 + v~2 * v0 = 0.5 + 5 = 5.5",
        "x~2 = v~0 = v~2 * v-1 + v~3 * cos v0 = 2 - 0.2837 = 1.7163",
        "v~1 = v~4 = 1",
        "v~2 = v~4 = 1",
        "v~3 = -v~5 = -1",
        "v~4 = v~5 = 1",
        "v~5 = y~ = 1",
        "y~ = 1 (seed)",
    ]
    assert "y = 11.6521; gradient (5.5, 1.7163)" in text
    assert repr(table).startswith("<Trace")


def test_markdown_and_plain_data(table: gk.Trace) -> None:
    md = table.to_markdown().splitlines()
    assert md[0] == "| Forward primal trace | Reverse adjoint trace |"
    assert len(md) == 2 + 8
    assert all(line.startswith("| ") and line.endswith(" |") for line in md)
    assert "`v1 = ln v-1 = ln 2 = 0.6931`" in md[4]
    rows = table.rows
    assert [r["name"] for r in rows] == ["v-1", "v0", "v1", "v2", "v3", "v4", "v5"]
    assert [r["kind"] for r in rows] == ["input", "input"] + ["intermediate"] * 4 + ["output"]
    assert rows[1]["adjoint_expr"] == "v~2 * v-1 + v~3 * cos v0"
    assert rows[1]["adjoint"] == pytest.approx(1.7163, abs=5e-5)
    assert rows[2]["expr"] == "ln v-1" and rows[3]["expr"] == "v-1 * v0"
    data = json.loads(json.dumps(table.to_dict()))
    assert data["output"] == "v5" and data["inputs"] == ["v-1", "v0"]
    assert data["forward"][2]["expr"] == "ln v-1"
    assert data["backward"][-1]["value"] == pytest.approx(5.5)


def test_trace_of_tensors(device: str) -> None:
    x = gk.tensor(np.arange(4.0), device=device, requires_grad=False)
    tr = gk.trace(lambda x: (gk.tanh(x) * 3.0 + 1.0).sum(), x)
    names = [(s.name, s.expr) for s in tr.forward]
    assert names == [("v0", "x1"), ("v1", "tanh v0"), ("v2", "v1 * 3"), ("v3", "v2 + 1"), ("v4", "sum v3")]
    assert tr.forward[1].shape == (4,)
    np.testing.assert_allclose(tr.forward[1].value, np.tanh(np.arange(4.0)))
    np.testing.assert_allclose(tr.grads[0], 3 * (1 - np.tanh(np.arange(4.0)) ** 2))
    assert tr.adjoint("v1").shape == (4,)
    text = str(tr)
    assert "(4,) [0, 0.7616, 0.964, ...]" in text
    assert "v~0 = v~1 * (1 - v1^2)" in text
    assert x.grad is None and not x.requires_grad  # the caller's tensor is left alone


def test_non_scalar_output_is_seeded_with_ones() -> None:
    tr = gk.trace(lambda x: x * x, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(tr.grads[0], [2.0, 4.0, 6.0])


def test_unused_intermediate_and_identity() -> None:
    def f(x: gk.Tensor) -> gk.Tensor:
        _unused = gk.exp(x)
        return x * 2.0

    tr = gk.trace(f, 1.0)
    assert tr.adjoint("v1") == 0.0  # exp(x): recorded, never used
    assert [a.expr for a in tr.backward if a.var == "v1"] == ["0"]
    assert tr.grads == (2.0,)
    same = gk.trace(lambda x: x, 3.0)
    assert same.output == "v0" and same.grads == (1.0,)


def test_observer_is_restored() -> None:
    assert function.observer is None
    with pytest.raises(ZeroDivisionError):
        gk.trace(lambda x: x * (1 / 0), 1.0)
    assert function.observer is None
    gk.trace(seed_function, 2.0, 5.0)
    assert function.observer is None


def test_errors() -> None:
    with pytest.raises(gk.ArgumentTypeError, match="Tensor"):
        gk.trace(lambda x: 1.0, 2.0)
    with pytest.raises(gk.ArgumentTypeError):
        gk.trace(seed_function)
    with pytest.raises(gk.ArgumentTypeError):
        gk.trace(seed_function, "a", "b")
    with pytest.raises(gk.DTypeError):
        gk.trace(lambda x: x * 2, gk.tensor([1, 2]))


def test_trace_ignores_ops_of_other_threads():
    import threading

    go, done = threading.Event(), threading.Event()

    def other():
        a = gk.ones(2, requires_grad=True)
        go.wait()
        (a * 2).sum()  # runs while f is being traced
        done.set()

    worker = threading.Thread(target=other)
    worker.start()

    def f(x1, x2):
        v1 = gk.log(x1)
        go.set()
        done.wait()
        return v1 + x1 * x2 - gk.sin(x2)

    try:
        tr = gk.trace(f, 2.0, 5.0)
    finally:
        go.set()
        worker.join()
    assert [s.name for s in tr.forward][-1] == "v5"
    assert abs(tr.forward[-1].value - 11.6521) < 1e-4


def test_to_dict_is_json_and_an_unused_input_reads_once():
    import json

    import numpy as np

    vector = gk.trace(lambda a: (a * a).sum(), np.array([1.0, 2.0]))
    data = json.loads(json.dumps(vector.to_dict()))
    assert data["inputs"] == ["v0"] and data["forward"][0]["value"] == [1.0, 2.0]
    text = str(gk.trace(lambda a, b: gk.sin(a), 2.0, 5.0))
    assert "x~2 = v~0 = 0\n" in text and "= 0 = 0" not in text
