"""gk.trace through gk.utils.checkpoint, and the names of the outputs of eigh, qr and svd.

A checkpointed call keeps none of its operations' saved values: the reverse pass runs them again. The trace
shows the first run's operations as rows, each output of the call as ``vk = Checkpoint(vj)`` (vj passed on as
it is), and catches the adjoints of the operations on the recomputation: they must be those of the same
function without the checkpoint, and the input adjoints the real gradient. The outputs of eigh, qr and svd
are named by their result's fields; eigvalsh, svdvals and qr(mode='r') show as one row.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _reference import central_differences as _central

import gradkit as gk
import gradkit.utils.checkpoint as ck
from gradkit.utils.checkpoint import checkpoint, checkpoint_sequential


# ------------------------------------------------------------------ helpers
def _real_grads(f, args):
    """The engine's own gradient of sum(f) (a plain backward pass)."""
    xs = [gk.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in args]
    f(*xs).sum().backward()
    return [x.grad.numpy() for x in xs]


def _adjoints_add_up(tr):
    """Every adjoint is the sum of its terms (plus the seed at the output); none is left at 0 by mistake."""
    for a in tr.backward:
        if a.terms:
            total = sum(np.asarray(t.value, dtype=np.float64) for t in a.terms)
            if a.var == tr.output:
                total = total + 1
            np.testing.assert_allclose(np.broadcast_to(total, np.shape(a.value)), a.value, rtol=1e-9, atol=1e-12)


def _by_expr(tr):
    """{forward expression with Checkpoint rows left out: adjoint}, to compare with the plain function's."""
    return {s.expr: tr.adjoint(s.name) for s in tr.forward if s.op != "Checkpoint"}


def _same_adjoints(with_checkpoint, plain):
    """The operations (matched by the text of their expressions after renumbering) have the same adjoints."""
    a, b = with_checkpoint, plain
    exprs_a = [s for s in a.forward if s.op != "Checkpoint"]
    exprs_b = list(b.forward)
    assert [s.op for s in exprs_a] == [s.op for s in exprs_b]
    for sa, sb in zip(exprs_a, exprs_b, strict=True):
        np.testing.assert_allclose(sa.value, sb.value, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a.adjoint(sa.name), b.adjoint(sb.name), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ one checkpointed call
def single(x1, x2):
    return gk.log(checkpoint(lambda u, v: gk.sin(u) * v, x1, x2) + x1)


def single_plain(x1, x2):
    return gk.log(gk.sin(x1) * x2 + x1)


SINGLE = """\
Forward primal trace (runs top-down) | Reverse adjoint trace (runs bottom-up)
-------------------------------------+--------------------------------------------------------------
v-1 = x1 = 2                         | x~1 = v~-1 = v~1 * cos v-1 + v~4 = -0.3178 + 0.1528 = -0.1651
v0 = x2 = 5                          | x~2 = v~0 = v~2 * v1 = 0.1389
v1 = sin v-1 = sin 2 = 0.9093        | v~1 = v~2 * v0 = 0.7638
v2 = v1 * v0 = 0.9093 * 5 = 4.5465   | v~2 = v~3 = 0.1528
v3 = Checkpoint(v2) = 4.5465         | v~3 = v~4 = 0.1528
v4 = v3 + v-1 = 4.5465 + 2 = 6.5465  | v~4 = v~5 / v4 = 0.1528
v5 = ln v4 = ln 6.5465 = 1.8789      | v~5 = y~ = 1
y = v5 = 1.8789                      | y~ = 1 (seed)
y = 1.8789; gradient (-0.1651, 0.1389)
where
  Checkpoint(v2): the output v2 of a gk.utils.checkpoint call, passed on as it is; the call kept no values for \
the reverse pass, which ran v1, v2 again: their adjoints are those of that second run"""


def test_checkpoint_inner_adjoints_are_the_recomputations():
    """The reported bug: v1 and v2 (inside the checkpoint) printed 'v~1 = 0', 'v~2 = 0'."""
    tr = gk.trace(single, 2.0, 5.0)
    assert str(tr) == SINGLE
    x1, x2 = 2.0, 5.0
    a = np.sin(x1) * x2
    bar4 = 1 / (a + x1)
    np.testing.assert_allclose(tr.adjoint("v2"), bar4, rtol=1e-12)
    np.testing.assert_allclose(tr.adjoint("v1"), bar4 * x2, rtol=1e-12)
    np.testing.assert_allclose(tr.grads, [bar4 * (np.cos(x1) * x2 + 1), bar4 * np.sin(x1)], rtol=1e-12)
    np.testing.assert_allclose(tr.grads, _real_grads(single, [x1, x2]), rtol=1e-12)
    _adjoints_add_up(tr)
    _same_adjoints(tr, gk.trace(single_plain, 2.0, 5.0))
    row = tr.rows[4]
    assert (row["op"], row["expr"], row["inputs"], row["adjoint_terms"][0][:2]) == (
        "Checkpoint", "Checkpoint(v2)", ("v2",), ("v4", "v~4"))
    json.dumps(tr.to_dict())
    assert "Checkpoint(v2)" in tr.to_markdown() and "Checkpoint(v2)" in tr._repr_html_()


def test_checkpoint_with_several_outputs():
    """Each output of a multi-output call is a row of its own (before: the outputs showed as tensors from
    outside f, 'w1' and 'w2', and x~1 printed as '0 = 34.8645')."""

    def g(x1, x2):
        a, b = checkpoint(lambda u, v: (gk.sin(u) * v, gk.exp(u)), x1, x2)
        return a + b * x2

    tr = gk.trace(g, 2.0, 5.0)
    assert str(tr) == """\
Forward primal trace (runs top-down)      | Reverse adjoint trace (runs bottom-up)
------------------------------------------+--------------------------------------------------------------------
v-1 = x1 = 2                              | x~1 = v~-1 = v~1 * cos v-1 + v~2 * v2 = -2.0807 + 36.9453 = 34.8645
v0 = x2 = 5                               | x~2 = v~0 = v~3 * v1 + v~6 * v4 = 0.9093 + 7.3891 = 8.2984
v1 = sin v-1 = sin 2 = 0.9093             | v~1 = v~3 * v0 = 5
v2 = exp v-1 = exp 2 = 7.3891             | v~2 = v~4 = 5
v3 = v1 * v0 = 0.9093 * 5 = 4.5465        | v~3 = v~5 = 1
v4 = Checkpoint(v2) = 7.3891              | v~4 = v~6 * v0 = 5
v5 = Checkpoint(v3) = 4.5465              | v~5 = v~7 = 1
v6 = v4 * v0 = 7.3891 * 5 = 36.9453       | v~6 = v~7 = 1
v7 = v5 + v6 = 4.5465 + 36.9453 = 41.4918 | v~7 = y~ = 1
y = v7 = 41.4918                          | y~ = 1 (seed)
y = 41.4918; gradient (34.8645, 8.2984)
where
  Checkpoint(v2), Checkpoint(v3): the outputs v2, v3 of a gk.utils.checkpoint call, passed on as they are; the \
call kept no values for the reverse pass, which ran v1..v3 again: their adjoints are those of that second run"""
    assert not tr.externals
    np.testing.assert_allclose(tr.grads, _real_grads(g, [2.0, 5.0]), rtol=1e-12)
    _adjoints_add_up(tr)


def test_nested_checkpoints():
    def inner(u):
        return gk.exp(u) * u

    def outer(u, v):
        return checkpoint(inner, gk.sin(u)) + v * u

    def f(x1, x2):
        return checkpoint(outer, x1, x2) * x2

    def plain(x1, x2):
        s = gk.sin(x1)
        return (gk.exp(s) * s + x2 * x1) * x2

    tr = gk.trace(f, 0.5, 2.0)
    assert [s.expr for s in tr.forward] == [
        "x1", "x2", "sin v-1", "v0 * v-1", "exp v1", "v3 * v1", "Checkpoint(v4)", "v5 + v2", "Checkpoint(v6)",
        "v7 * v0",
    ]
    assert tr.notes == [
        "Checkpoint(v4): the output v4 of a gk.utils.checkpoint call, passed on as it is; the call kept no values "
        "for the reverse pass, which ran v3, v4 again: their adjoints are those of that second run",
        "Checkpoint(v6): the output v6 of a gk.utils.checkpoint call, passed on as it is; the call kept no values "
        "for the reverse pass, which ran v1, v2, v5, v6 again: their adjoints are those of that second run",
    ]
    # v3 and v4 are adjoints of the inner call's recomputation, itself run inside the outer one's
    assert all(not np.all(np.asarray(a.value) == 0) for a in tr.backward)
    _adjoints_add_up(tr)
    _same_adjoints(tr, gk.trace(plain, 0.5, 2.0))
    np.testing.assert_allclose(tr.grads, _central(f, [0.5, 2.0]), rtol=1e-7)
    np.testing.assert_allclose(tr.grads, _real_grads(f, [0.5, 2.0]), rtol=1e-12)


def test_checkpoint_sequential_of_layers():
    gk.manual_seed(0)
    net = gk.nn.Sequential(gk.nn.Linear(3, 4), gk.nn.Tanh(), gk.nn.Linear(4, 2), gk.nn.Tanh(), gk.nn.Linear(2, 1))
    net = net.double()
    x = np.array([0.1, -0.2, 0.3])
    tr = gk.trace(lambda t: checkpoint_sequential(net, 2, t).sum(), x)
    plain = gk.trace(lambda t: net(t).sum(), x)
    assert [s.expr for s in tr.forward] == [
        "x1", "v0 @ w1^T + w2", "tanh v1", "Checkpoint(v2)", "v3 @ w3^T + w4", "tanh v4", "v5 @ w5^T + w6", "sum v6",
    ]
    _same_adjoints(tr, plain)
    _adjoints_add_up(tr)
    xt = gk.tensor(x, requires_grad=True)
    net(xt).sum().backward()
    np.testing.assert_allclose(tr.grads[0], xt.grad.numpy(), rtol=1e-12)


def test_a_checkpointed_value_also_used_outside_the_call():
    """The function stores an intermediate that f uses again outside the call: its adjoint has two parts, one
    from the real graph and one from the recomputation, and the row shows their sum."""
    store = []

    def leaky(u):
        a = gk.sin(u)
        store.append(a)
        return a * u

    def f(x1):
        return checkpoint(leaky, x1) + store[-1] * 3.0

    tr = gk.trace(f, 0.7)
    assert str(tr).splitlines()[2:8] == [
        "v0 = x1 = 0.7                          | x~1 = v~0 = v~1 * cos v0 + v~2 * v1 = 2.8299 + 0.6442 = 3.4741",
        "v1 = sin v0 = sin 0.7 = 0.6442         | v~1 = v~2 * v0 + v~3 * 3 = 0.7 + 3 = 3.7",
        "v2 = v1 * v0 = 0.6442 * 0.7 = 0.451    | v~2 = v~4 = 1",
        "v3 = v1 * 3 = 0.6442 * 3 = 1.9327      | v~3 = v~5 = 1",
        "v4 = Checkpoint(v2) = 0.451            | v~4 = v~5 = 1",
        "v5 = v4 + v3 = 0.451 + 1.9327 = 2.3836 | v~5 = y~ = 1",
    ]
    np.testing.assert_allclose(tr.grads[0], np.cos(0.7) * 0.7 + np.sin(0.7) + 3 * np.cos(0.7), rtol=1e-12)
    _adjoints_add_up(tr)


def test_a_call_whose_output_the_trace_cannot_match_is_one_step():
    """The call's output comes from a multi-output gk.autograd.Function (whose outputs the trace does not
    show): the checkpoint is one step of the call's inputs, its operations 'not traced' rather than 0."""

    class Two(gk.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2.0, a * 3.0

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2.0 + g2 * 3.0

    def f(x1):
        return checkpoint(lambda u: Two.apply(gk.sin(u))[0], x1) * x1

    tr = gk.trace(f, 0.3)
    lines = str(tr).splitlines()
    assert lines[3] == "v1 = sin v0 = sin 0.3 = 0.2955       | v~1: not traced (inside a checkpoint)"
    assert lines[4].startswith("v2 = Checkpoint(v0) = 0.591 ")
    assert ("not traced (inside a checkpoint): an operation of a gk.utils.checkpoint call that is shown as one "
            "step, Checkpoint of the call's inputs; the reverse pass ran it again, and its adjoint there is not "
            "shown") in tr.notes
    np.testing.assert_allclose(tr.grads[0], 2 * np.cos(0.3) * 0.3 + 2 * np.sin(0.3), rtol=1e-12)
    _adjoints_add_up(tr)
    json.dumps(tr.to_dict())


def test_tracing_a_checkpoint_leaves_no_state_behind():
    kept = {}

    def f(x1, x2):
        y = checkpoint(lambda u, v: gk.sin(u) * v, x1, x2)
        kept["y"] = y
        return gk.log(y + x1)

    tr = gk.trace(f, 2.0, 5.0)
    assert ck._recompute_observers == ()
    node = kept["y"]._grad_fn
    assert node.name == "Checkpoint" and node.saved[0].first_run is None  # the first run's nodes are not kept
    assert node.hooks is None
    # the graph that f left behind still differentiates, as often as wanted, to the same values
    x1 = gk.tensor(2.0, dtype=gk.float64, requires_grad=True)
    x2 = gk.tensor(5.0, dtype=gk.float64, requires_grad=True)
    f(x1, x2).backward()
    np.testing.assert_allclose([x1.grad.item(), x2.grad.item()], tr.grads, rtol=1e-12)
    # a trace that fails in its backward pass removes its recompute observer too
    with pytest.raises(gk.AutogradError):
        gk.trace(_bad, 1.0)
    assert ck._recompute_observers == ()


def _bad(a):
    """A checkpointed call whose argument is changed in place after the forward pass: backward raises."""
    b = a * 1.0
    y = checkpoint(lambda u: gk.sin(u) * u, b)
    b.add_(1.0)
    return y


def test_checkpoint_with_dropout_traces_the_same_mask():
    """The recomputation draws the same dropout mask as the first run: its adjoints fit the first run's rows."""
    gk.manual_seed(5)
    x = np.linspace(-1, 1, 6)

    def f(t):
        return checkpoint(lambda u: gk.nn.functional.dropout(gk.sin(u), 0.5) * u, t).sum()

    tr = gk.trace(f, x)
    _adjoints_add_up(tr)
    sin = next(s for s in tr.forward if s.expr == "sin v0")
    drop = next(s for s in tr.forward if s.op == "dropout")
    kept = np.asarray(drop.value) != 0
    np.testing.assert_allclose(tr.adjoint(sin.name), np.where(kept, 2.0, 0.0) * x, rtol=1e-12)
    np.testing.assert_allclose(tr.grads[0], np.where(kept, 2 * (np.cos(x) * x + np.sin(x)), 0.0), rtol=1e-12)


def test_checkpoint_trace_on_each_device(device):
    x = gk.tensor([0.5, -1.0, 2.0], dtype=gk.float64, device=device)
    tr = gk.trace(lambda t: (checkpoint(lambda u: gk.tanh(u) * u, t) * t).sum(), x)
    assert [s.expr for s in tr.forward] == ["x1", "tanh v0", "v1 * v0", "Checkpoint(v2)", "v3 * v0", "sum v4"]
    v = np.array([0.5, -1.0, 2.0])
    th = np.tanh(v)
    np.testing.assert_allclose(tr.adjoint("v1"), v * v, rtol=1e-12)
    np.testing.assert_allclose(tr.grads[0], 2 * th * v + (1 - th**2) * v * v, rtol=1e-12)
    _adjoints_add_up(tr)


# ------------------------------------------------------------------ eigh, eigvalsh, qr, svd
S = np.array([[2.0, 1.0], [1.0, 3.0]])
A = np.array([[2.0, 1.0], [1.0, 3.0], [0.5, 1.0]])


def test_eigh_outputs_are_named():
    def f(a):
        w, v = gk.linalg.eigh(a)
        return w.sum() + (v * v).sum()

    tr = gk.trace(f, S)
    assert [s.expr for s in tr.forward] == [
        "x1", "eigh(v0).eigenvalues", "eigh(v0).eigenvectors", "sum v1", "v2 * v2", "sum v4", "v3 + v5",
    ]
    assert str(tr).splitlines()[3].startswith("v1 = eigh(v0).eigenvalues = (2,) [1.382, 3.618]")
    np.testing.assert_allclose(tr.grads[0], _real_grads(f, [S])[0], rtol=1e-12, atol=1e-12)


def test_eigvalsh_is_one_row():
    """eigvalsh computes the eigenvectors for its gradient but does not return them: no row of their own."""

    def f(a):
        return (gk.linalg.eigvalsh(a) ** 2).sum()

    tr = gk.trace(f, S)
    assert [s.expr for s in tr.forward] == ["x1", "eigvalsh(v0)", "v1 ^ 2", "sum v2"]
    lines = str(tr).splitlines()
    assert lines[3] == "v1 = eigvalsh(v0) = (2,) [1.382, 3.618] | v~1 = v~2 * 2 * v1 = (2,) [2.7639, 7.2361]"
    w, v = np.linalg.eigh(S)
    np.testing.assert_allclose(tr.grads[0], v @ np.diag(2 * w) @ v.T, rtol=1e-12)  # d sum(w^2) = V diag(2w) V^T
    np.testing.assert_allclose(tr.grads[0], _real_grads(f, [S])[0], rtol=1e-12)  # (symmetric: not central
    # differences, which see only the lower triangle that eigvalsh reads)
    tr = gk.trace(lambda a: gk.linalg.eigvalsh(a, UPLO="U").sum() + gk.linalg.eigh(a, "U")[1].sum(), S)
    assert [s.expr for s in tr.forward][1:4] == [
        "eigvalsh(v0, UPLO='U')", "eigh(v0, UPLO='U').eigenvalues", "eigh(v0, UPLO='U').eigenvectors",
    ]


def test_svd_and_qr_outputs_are_named():
    tr = gk.trace(lambda a: gk.linalg.svd(a, full_matrices=False).S.sum() + gk.linalg.svdvals(a).sum()
                  + gk.linalg.svd(a, compute_uv=False).sum() + gk.linalg.svd(a).U.sum(), A)
    exprs = [s.expr for s in tr.forward]
    assert exprs[1:4] == ["svd(v0, full_matrices=False).U", "svd(v0, full_matrices=False).S",
                          "svd(v0, full_matrices=False).Vh"]
    assert "svdvals(v0)" in exprs and "svd(v0, compute_uv=False)" in exprs
    assert {"svd(v0).U", "svd(v0).S", "svd(v0).Vh"} <= set(exprs)
    assert len(exprs) == 1 + 3 + 1 + 1 + 3 + 4 + 3  # input, 8 outputs, 4 sums, 3 additions

    def f(a):
        return gk.linalg.qr(a, mode="r").sum() + gk.linalg.qr(a).Q.sum() + gk.linalg.qr(a[:2], mode="complete").R.sum()

    tr = gk.trace(f, A)
    exprs = [s.expr for s in tr.forward]
    assert exprs[1:4] == ["qr(v0, mode='r')", "qr(v0).Q", "qr(v0).R"]
    assert {"qr(v4, mode='complete').Q", "qr(v4, mode='complete').R"} <= set(exprs)
    np.testing.assert_allclose(tr.grads[0], _real_grads(f, [A])[0], rtol=1e-12, atol=1e-12)
