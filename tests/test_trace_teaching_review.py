"""gk.trace and gk.to_dot/render_graph as lecture notes on backpropagation use them.

Every printed adjoint term is evaluated back from its text (NumPy on the values of the table) and must give
the value the engine computed; the input adjoints must match central differences. Plus the notations a
table needs beyond Baydin et al.'s Table 1 (axes, indices, constants, parameters from outside f, fused
layers), the data forms of a Trace, the errors a student meets, and that tracing leaves no state behind.
"""

from __future__ import annotations

import json
import os
import re
import sys

import numpy as np
import pytest
from _reference import central_differences

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import nn
from gradkit.autograd import function

NODE = re.compile(r'^\s*(\w+) \[(.*)label="((?:[^"\\]|\\.)*)"\];$')
EDGE = re.compile(r"^\s*(\w+) -> (\w+);$")


# ------------------------------------------------------------------ helpers
def _python(expr: str) -> str:
    """A printed expression as Python over the names of the table."""
    e = re.sub(r"v~(-?)(\d+)", lambda m: f"vb_{'m' if m.group(1) else ''}{m.group(2)}", expr)
    e = re.sub(r"\bv(-?)(\d+)", lambda m: f"v_{'m' if m.group(1) else ''}{m.group(2)}", e)
    e = re.sub(r"\b(ln|sin|cos|tan|exp|sqrt|tanh|sigmoid|sign|mean|sum)\s+(\w+)", r"\1(\2)", e)
    e = re.sub(r"(\w+)\^T", r"_T(\1)", e).replace(")^T", ").T").replace("^", "**")
    return re.sub(r"(\w+) at (\[.*\])", r'_at(\1, "\2")', e)


def _softmax(x, axis=None):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sum_to(a, shape):
    a = np.asarray(a)
    lead = a.ndim - len(shape)
    a = a.sum(axis=tuple(range(lead))) if lead else a
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and a.shape[i] != 1)
    return a.sum(axis=axes, keepdims=True) if axes else a


def check_printed_terms(tr: gk.Trace) -> int:
    """Evaluate every adjoint term's text; it must give the term's value. Returns how many were checked."""
    env = {
        "np": np, "ln": np.log, "sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "sqrt": np.sqrt,
        "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "sign": np.sign, "mean": np.mean,
        "sum": lambda a, axis=None, keepdims=False: np.sum(a, axis=axis, keepdims=keepdims),
        "reshape": np.reshape, "transpose": np.transpose, "expand_dims": np.expand_dims, "outer": np.outer,
        "softmax": _softmax, "sum_to": _sum_to, "_T": lambda a: np.swapaxes(a, -1, -2) if np.ndim(a) >= 2 else a,
    }  # fmt: skip
    for s in tr.forward:
        env[_python(s.name)] = np.asarray(s.value, dtype=np.float64)
    for a in tr.backward:
        env[_python(a.name)] = np.asarray(a.value, dtype=np.float64)
    env.update({k: np.asarray(v) for k, v in tr.constants.items()})
    env.update({k: np.asarray(v["value"]) for k, v in tr.externals.items() if v["value"] is not None})
    shapes = {s.name: s.shape for s in tr.forward}
    steps = {s.name: s for s in tr.forward}
    checked = 0
    for a in tr.backward:
        for t in a.terms:
            assert "/dv" not in t.expr, f"no rule written out for {t.expr!r}"
            if "cond" in t.expr:
                continue

            def at(g, idx, shape=shapes[a.var]):
                z = np.zeros(shape)
                np.add.at(z, eval("np.index_exp" + idx, {"np": np, **env}), g)
                return z

            first = steps[t.consumer].inputs[0] if steps[t.consumer].inputs else None
            classes = np.shape(env[_python(first)])[-1] if first and np.ndim(env[_python(first)]) else 0
            env["_at"] = at
            env["one_hot"] = lambda targets, n=classes: np.eye(n)[np.asarray(targets, dtype=int)]
            got = np.asarray(eval(_python(t.expr), env), dtype=np.float64)
            want = np.asarray(t.value, dtype=np.float64)
            if got.size == 1 or got.size < want.size:
                got = np.broadcast_to(got, want.shape)  # "v~5" for all the elements of a sum's input
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, err_msg=f"{a.name} <- {t.expr}")
            checked += 1
    return checked


def check_adjoints_add_up(tr: gk.Trace) -> None:
    """Each adjoint is the sum of its terms (plus the seed at the output)."""
    for a in tr.backward:
        if a.terms:
            total = sum(np.asarray(t.value, dtype=np.float64) for t in a.terms)
            if a.var == tr.output:
                total = total + 1
            np.testing.assert_allclose(np.broadcast_to(total, np.shape(a.value)), a.value, rtol=1e-9, atol=1e-12)


def parse(dot: str):
    lines = dot.strip().splitlines()
    assert lines[0].startswith("digraph ") and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := NODE.match(line):
            nodes[m.group(1)] = m.group(3).replace("\\n", "\n")
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        else:
            assert re.match(r"^\s*(rankdir|node|edge)\b", line), line
    assert all(a in nodes and b in nodes for a, b in edges)
    return nodes, edges


def paper(x1, x2):
    return gk.log(x1) + x1 * x2 - gk.sin(x2)


A = np.arange(6.0).reshape(2, 3) - 2.5
W = np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.5]])
M = np.arange(6.0).reshape(2, 3)

# (name, f, args): each traced, its input adjoints compared with central differences and every printed term
# evaluated from its text.
CASES = [
    ("paper", paper, (2.0, 5.0)),
    ("three times", lambda x: x * x * x, (2.0,)),
    ("control flow", lambda x: (x * 0.5 if x.item() > 1 else x + 1.0) * x, (1.5,)),
    ("constants", lambda x: 3.0 * x - 2.0 / x + x ** 3 + 2 ** x + (1 - x), (1.5,)),
    ("integer input", lambda x: x * x + 1, (3,)),
    ("three inputs", lambda a, b, c: a * b + gk.exp(c) / a, (1.0, 2.0, 0.5)),
    ("matvec", lambda x, w: gk.tanh(w @ x).sum(), ([1.0, -2.0], W.T)),
    ("broadcast", lambda a, b: (a * b + a).mean(), (np.arange(3.0).reshape(3, 1), [1.0, 2.0, 3.0, 4.0])),
    ("sum axis", lambda a: (a.sum(axis=1) ** 2).sum() + a.max(), (A,)),
    ("sum keepdims", lambda a: (a.sum(axis=1, keepdims=True) * a).sum(), (A,)),
    ("mean axis 1", lambda a: a.mean(axis=1).sum(), (A,)),
    ("min axis 0", lambda a: a.min(axis=0).sum(), (A,)),
    ("max ties", lambda a: a.max(), ([1.0, 3.0, 3.0],)),
    ("var std", lambda a: a.var(axis=1).sum() + a.std(), (A,)),
    ("getitem", lambda x: x[0] * x[1] + x[2:].sum(), ([1.0, 2.0, 3.0, 4.0],)),
    ("fancy index", lambda a: (a[[0, 1, 1], [2, 0, 0]] ** 2).sum(), (A,)),
    ("mask", lambda a: (a[a > 0] ** 2).sum(), (A,)),
    ("transpose", lambda a: (a.T * gk.tensor(M.T)).sum(), (A,)),
    ("reshape", lambda a: (a.reshape(3, 2) * gk.tensor(M.reshape(3, 2))).sum(), (A,)),
    ("broadcast_to", lambda a: (gk.broadcast_to(a, (4, 3)) * gk.tensor(np.arange(12.0).reshape(4, 3))).sum(),
     ([1.0, 2.0, 3.0],)),
    ("concatenate", lambda a: (gk.stack([a, 2 * a]) ** 2).sum(), ([1.0, 2.0],)),
    ("softmax", lambda a: (F.softmax(a, dim=1) * gk.tensor(M)).sum(), (A,)),
    ("log_softmax", lambda a: (F.log_softmax(a, dim=0) * gk.tensor(M)).sum(), (A,)),
    ("linear", lambda x, w, b: (F.linear(x, w, b) ** 2).sum(), (A, W, [0.1, 0.2])),
    ("linear 1-d", lambda x, w: F.linear(x, w).sum(), ([1.0, 2.0, -1.0], W)),
    ("linear_relu", lambda x, w, b: F.linear_relu(x, w, b).sum(), (A, W, [0.1, -0.2])),
    ("cross_entropy", lambda z: F.cross_entropy(z, gk.tensor([0, 2])), (A,)),
    ("cross_entropy sum", lambda z: F.cross_entropy(z, gk.tensor([0, 2]), reduction="sum"), (A,)),
    ("maximum ties", lambda x, y: gk.maximum(x, y) * 3, (2.0, 2.0)),
    ("clip", lambda a: gk.clip(a, -1.0, 1.0).sum(), (A,)),
    ("batched matmul", lambda a, b: (a @ b).sum(), (np.ones((2, 3, 3)), np.ones((3, 2)))),
]


@pytest.mark.parametrize("name, f, args", CASES, ids=[c[0] for c in CASES])
def test_every_printed_term_and_gradient_is_right(name, f, args):
    tr = gk.trace(f, *args)
    for got, want in zip(tr.grads, central_differences(f, args), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    check_adjoints_add_up(tr)
    assert check_printed_terms(tr) >= 1
    text = str(tr)
    assert "dv" not in text.replace("v~", "")  # no "v~1 * dv1/dv0": every rule is written out
    assert not re.search(r"\bc\b", text)  # every constant is named and listed


def test_the_paper_table_and_its_numbers():
    tr = gk.trace(paper, 2.0, 5.0)
    assert round(tr.value, 3) == 11.652 and tr.grads[0] == 5.5 and round(tr.grads[1], 3) == 1.716
    lines = str(tr).splitlines()
    assert lines[0].split(" | ") == ["Forward primal trace (runs top-down)        ",
                                     "Reverse adjoint trace (runs bottom-up)"]  # fmt: skip
    # v0 is used by v2 and v3, v-1 by v1 and v2: their adjoints show both contributions, summed
    assert "x~2 = v~0 = v~2 * v-1 + v~3 * cos v0 = 2 - 0.2837 = 1.7163" in lines[3]
    assert "x~1 = v~-1 = v~1 / v-1 + v~2 * v0 = 0.5 + 5 = 5.5" in lines[2]
    assert "where" not in lines  # nothing to explain for the paper's function


# ------------------------------------------------------------- notation
@pytest.mark.parametrize(
    "f, args, expr",
    [
        (lambda a: a.sum(axis=1).sum(), (A,), "sum(v0, axis=1)"),
        (lambda a: a.mean(axis=0, keepdims=True).sum(), (A,), "mean(v0, axis=0, keepdims=True)"),
        (lambda a: a.max(axis=(0, 1)), (A,), "max(v0)"),
        (lambda a: a[0, 1:] .sum(), (A,), "v0[0, 1:]"),
        (lambda a: a[None, ..., 1].sum(), (A,), "v0[None, ..., 1]"),
        (lambda a: a.reshape(3, 2).sum(), (A,), "reshape(v0, (3, 2))"),
        (lambda a: a.T.sum(), (A,), "v0^T"),
        (lambda a: gk.transpose(a[None], (2, 0, 1)).sum(), (A,), "transpose(v1, (2, 0, 1))"),
        (lambda a: F.softmax(a, dim=1).max(), (A,), "softmax(v0, axis=1)"),
        (lambda a: F.softmax(a, dim=0).max(), ([1.0, 2.0],), "softmax(v0)"),
        (lambda a: gk.clip(a, 0.0, None).sum(), (A,), "clip(v0, 0, None)"),
        (lambda x, w: F.linear(x, w).sum(), (A, W), "v-1 @ v0^T"),
        (lambda a: gk.broadcast_to(a, (2, 3)).sum(), ([1.0, 2.0, 3.0],), "broadcast_to(v0, (2, 3))"),
        (lambda a: gk.concatenate([a, a], axis=1).sum(), (A,), "concatenate([v0, v0], axis=1)"),
    ],
)
def test_forward_expressions_say_what_the_operation_did(f, args, expr):
    assert expr in [s.expr for s in gk.trace(f, *args).forward]


def test_array_constants_are_named_and_listed():
    c = gk.tensor([1.0, 2.0])
    tr = gk.trace(lambda x: (x * c + x * gk.tensor([1.0, 2.0]) + (x - gk.tensor([0.0, 5.0]))).sum(), [3.0, 4.0])
    exprs = [s.expr for s in tr.forward]
    assert exprs[1:4] == ["v0 * c1", "v0 * c1", "v0 - c2"]  # one name for one value
    np.testing.assert_array_equal(tr.constants["c1"], [1.0, 2.0])
    np.testing.assert_array_equal(tr.constants["c2"], [0.0, 5.0])
    text = str(tr)
    assert "where\n  c1 = (2,) [1, 2]: a constant\n  c2 = (2,) [0, 5]: a constant" in text
    data = json.loads(json.dumps(tr.to_dict()))
    assert data["constants"] == {"c1": [1.0, 2.0], "c2": [0.0, 5.0]}
    assert data["notes"] == tr.notes
    mask = gk.trace(lambda a: a[a > 0].sum(), A)
    assert mask.forward[1].expr == "v0[c1]" and "c1 = (2, 3) [False, False, False, ...]: a boolean mask" in str(mask)
    assert "v~k at [i]: v~k put at the positions [i]" in str(mask)
    assert json.loads(json.dumps(mask.to_dict()))["constants"]["c1"][1] == [True, True, True]


def test_a_module_inside_f_reads_as_its_layers():
    gk.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -1.0]], dtype=np.float32)
    tr = gk.trace(lambda x: F.cross_entropy(model(x), gk.tensor([1, 0])), x)
    exprs = [s.expr for s in tr.forward]
    # Sequential runs Linear + ReLU as one fused node: shown as what it computes
    assert exprs == ["x1", "relu(v0 @ w1^T + w2)", "v1 @ w3^T + w4", "cross_entropy(v2, c1)"]
    adjoints = {a.name: a.expr for a in tr.backward}
    assert adjoints["v~2"] == "v~3 * (softmax(v2, axis=1) - one_hot(c1)) / 2"
    assert adjoints["v~1"] == "v~2 @ w3" and adjoints["v~0"] == "(v~1 * (v1 > 0)) @ w1"
    assert list(tr.externals) == ["w1", "w2", "w3", "w4"]
    np.testing.assert_array_equal(tr.externals["w1"]["value"], model[0].weight.numpy())
    text = str(tr)
    assert "c1 = (2,) [1, 0]: the targets (class indices)" in text
    assert "w1, w2, w3, w4: tensors from outside f that require grad" in text
    assert "y = 0.8829; gradient ((2, 3) [-0.0053, -0.0694, 0.0089, ...]); computed in float32" in text
    assert all(p.grad is None for p in model.parameters())  # the trace's backward pass leaves them alone
    ref = central_differences(lambda x: F.cross_entropy(model(x.astype(gk.float32)), gk.tensor([1, 0])), [x], 1e-2)
    np.testing.assert_allclose(tr.grads[0], ref[0], atol=2e-3)
    # drawn: the parameters as dashed boxes feeding the layers (gk.to_dot raised KeyError 'w1' before)
    nodes, edges = parse(gk.to_dot(tr, show_values=True, show_grads=True))
    assert nodes["ext_w1"].startswith("w1 (from outside f)\n(4, 3)") and ("ext_w1", "op_v1") in edges
    assert "c1 = (2,) [1, 0]" in nodes["op_v3"]


def test_parameters_passed_as_arguments_get_adjoints():
    gk.manual_seed(1)
    lin = nn.Linear(3, 2).double()
    x = np.array([[0.5, -1.0, 2.0]])

    def loss(x, w, b):
        return F.cross_entropy(F.relu(F.linear(x, w, b)), gk.tensor([1]))

    tr = gk.trace(loss, x, lin.weight.numpy(), lin.bias.numpy())
    assert [a.expr for a in tr.backward[-3:]] == ["sum(v~1, axis=0)", "v~1^T @ v-2", "v~1 @ v-1"]
    for got, want in zip(tr.grads, central_differences(loss, [x, lin.weight.numpy(), lin.bias.numpy()]),
                         strict=True):  # fmt: skip
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert check_printed_terms(tr) == 5


# ------------------------------------------------------------- arguments
def test_keyword_arguments_are_passed_to_f_as_constants():
    tr = gk.trace(lambda x, *, scale: x * scale, 3.0, scale=2.0)
    assert tr.forward[1].expr == "v0 * 2" and tr.grads == (2.0,) and len(tr.inputs) == 1


def test_numpy_float32_numbers_stay_float32_and_say_so():
    f32 = gk.trace(lambda x: gk.sin(x) * 3, np.float32(0.1))
    assert f32.dtype == "float32" and str(f32).splitlines()[-1].endswith("; computed in float32")
    f64 = gk.trace(lambda x: gk.sin(x) * 3, 0.1)
    assert f64.dtype == "float64" and "computed in" not in str(f64)
    assert f32.grads[0] == pytest.approx(3 * np.cos(0.1), rel=1e-6)


def test_errors_a_student_meets():
    with pytest.raises(gk.ArgumentTypeError, match=r"tuple of 2: trace one of its Tensors, gk.trace\(lambda"):
        gk.trace(lambda x: (x * 2, x * 3), 1.0)
    with pytest.raises(gk.ArgumentTypeError, match=r"not \.item\(\), \.numpy\(\) or float\(\)"):
        gk.trace(lambda x: float(x.item()) * 2, 1.0)
    with pytest.raises(gk.ArgumentTypeError, match=r"\.detach\(\)"):
        gk.trace(lambda x: x.detach() * 2, 1.0)
    with pytest.raises(gk.ArgumentTypeError, match=r"argument 2 \(x2\)"):
        gk.trace(paper, 2.0, "five")
    with pytest.raises(gk.DTypeError, match=r"argument 1 \(x1\) must be a floating-point tensor"):
        gk.trace(lambda x: x * 2, gk.tensor([1, 2]))

    def calls_backward(x):
        z = (x * x).sum()
        z.backward()
        return z * 2

    with pytest.raises(gk.AutogradError, match=r"did f call \.backward\(\)\? gk.trace runs the backward pass"):
        gk.trace(calls_backward, 2.0)
    assert function.observer is None


# ------------------------------------------------------------- no state left
def test_tracing_leaves_nothing_behind():
    kept = []

    def f(x):
        y = gk.sin(x)
        kept.append(y)
        return y * 2

    with gk.no_grad():
        tr = gk.trace(f, 1.0)
        assert not gk.is_grad_enabled()
    assert tr.grads[0] == pytest.approx(2 * np.cos(1.0))
    assert kept[0].grad_fn.hooks is None  # the trace's hooks are removed from a graph that outlives it
    assert function.observer is None and gk.is_grad_enabled()

    def raises(x):
        x * 2
        raise ValueError("boom")

    with gk.no_grad():
        with pytest.raises(ValueError, match="boom"):
            gk.trace(raises, 1.0)
        assert not gk.is_grad_enabled()
    assert function.observer is None
    # the same numbers as a plain backward pass, and the caller's tensor untouched
    x = gk.tensor([0.3, -1.2], requires_grad=True)
    y = (gk.tanh(x) ** 2).sum()
    y.backward()
    before = x.grad.numpy().copy()
    tr = gk.trace(lambda x: (gk.tanh(x) ** 2).sum(), x)
    assert tr.value == y.item()
    np.testing.assert_array_equal(tr.grads[0], before)
    np.testing.assert_array_equal(x.grad.numpy(), before)


# ------------------------------------------------------------- as data
def test_a_trace_as_data_and_in_a_notebook():
    tr = gk.trace(paper, 2.0, 5.0)
    assert len(tr) == 7 and [r["name"] for r in tr] == ["v-1", "v0", "v1", "v2", "v3", "v4", "v5"]
    columns = {k: [r[k] for r in tr] for k in ("name", "expr", "value", "adjoint")}  # a DataFrame's dict
    assert columns["adjoint"][0] == 5.5 and columns["expr"][2] == "ln v-1"
    assert repr(tr) == "<Trace of 7 variables, y = 11.6521; print() it for the table>"
    html = tr._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 1 + 8
    assert "<td" in html and "x~1 = v~-1 = v~1 / v-1 + v~2 * v0 = 0.5 + 5 = 5.5" in html
    assert "y = 11.6521; gradient (5.5, 1.7163)" in html
    tricky = gk.trace(lambda x: (x * gk.tensor([1.0, 2.0])).sum(), [1.0, 1.0])
    assert "&lt;" not in tr._repr_html_() and "c1 = (2,) [1, 2]: a constant" in tricky._repr_html_()
    assert tricky.to_markdown().endswith("\n- `c1 = (2,) [1, 2]: a constant`\n")


def test_a_long_chain_prints_every_step():
    def f(x):
        for _ in range(300):
            x = gk.sin(x) * 1.01
        return x

    tr = gk.trace(f, 0.5)
    lines = str(tr).splitlines()
    assert len(tr.forward) == 601 and len(lines) == 2 + 601 + 1 + 1
    assert lines[-2].startswith("y = v600 = ") and lines[-2].endswith("| y~ = 1 (seed)")


# ------------------------------------------------------------- graphs
def test_rendering_a_trace(tmp_path, monkeypatch):
    w = gk.tensor([1.0, 2.0], requires_grad=True)
    tr = gk.trace(lambda x: (x * gk.tensor([1.0, 2.0]) * w).sum(), [3.0, 4.0])
    path = os.path.join(tmp_path, "t.dot")
    assert gk.render_graph(tr, path, show_values=True) == path
    with open(path, encoding="utf-8") as fh:
        nodes, edges = parse(fh.read())
    assert nodes["op_v1"] == "v0 * c1\nc1 = (2,) [1, 2]"
    assert nodes["ext_w1"] == "w1 (from outside f)\n(2,)\nvalue (2,) [1, 2]" and ("ext_w1", "op_v2") in edges
    monkeypatch.setitem(sys.modules, "graphviz", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(gk.BackendError, match=r"the Graphviz 'dot' program is not on PATH.*gk.to_dot\(\)"):
        gk.render_graph(tr, os.path.join(tmp_path, "t.png"))
    assert not os.path.exists(os.path.join(tmp_path, "t.png"))


# ------------------------------------------------------------- devices
def test_the_notations_on_a_device(device: str):
    x = gk.tensor(A, device=device)
    targets = gk.tensor([0, 2], device=device)
    mask = gk.tensor(A > 0, device=device)

    def f(x):
        return F.cross_entropy(x, targets) + (x[mask] ** 2).sum() + x[[0, 1], [2, 0]].sum() + x.sum(axis=1).max()

    tr = gk.trace(f, x)
    exprs = [s.expr for s in tr.forward]
    assert "cross_entropy(v0, c1)" in exprs and "v0[c2]" in exprs and "v0[[0, 1], [2, 0]]" in exprs
    assert "sum(v0, axis=1)" in exprs
    np.testing.assert_array_equal(tr.constants["c1"], [0, 2])
    np.testing.assert_array_equal(tr.constants["c2"], A > 0)
    ref = central_differences(
        lambda a: F.cross_entropy(a, gk.tensor([0, 2])) + (a[gk.tensor(A > 0)] ** 2).sum() + a[[0, 1], [2, 0]].sum()
        + a.sum(axis=1).max(), [A],
    )  # fmt: skip
    np.testing.assert_allclose(tr.grads[0], ref[0], rtol=1e-5, atol=1e-6)
    check_adjoints_add_up(tr)
    assert check_printed_terms(tr) >= 6


def test_variables_made_from_no_input_have_no_computed_adjoint():
    """A weight-normed layer computes its weight from parameters only: the reverse pass towards the inputs skips
    those adjoints, so the table says so instead of printing zeros; an unused variable made from an input is 0."""
    from gradkit.nn.utils.parametrizations import weight_norm

    gk.manual_seed(0)
    layer = weight_norm(gk.nn.Linear(3, 2))
    tr = gk.trace(lambda x: layer(x).sum(), gk.randn(4, 3))
    text = str(tr)
    skipped = [a for a in tr.backward if a.value is None]
    assert len(skipped) >= 2  # the weight and what it is made of (the norm, the scale)
    for a in skipped:
        assert a.expr == gk.tracing.NOT_COMPUTED
        assert f"{a.name}: not computed (made from no input)" in text and f"{a.name} = " not in text
    unused = gk.trace(lambda x: (gk.sin(x), x * 2)[1], 1.0)
    assert "v~1 = 0" in str(unused)
