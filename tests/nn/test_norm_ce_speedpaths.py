"""The fast paths of F.layer_norm and F.cross_entropy on NumPy float32/float64.

layer_norm: the forward and the gradients block by block of rows (several blocks, a short last one), the
weight's and the bias's gradients made in the input's pass and handed over for the same output gradient
only (``inputs=``, a retained graph, a gradient changed in place). cross_entropy with ignored targets,
class weights and label smoothing: one node whose gradient is made in the forward pass, against the
composition of ops it replaces and closed forms, float64 central differences of first and second order,
every target ignored, an ignored row's -inf logit, and PyTorch's values.
"""

from __future__ import annotations

import numpy as np
import pytest
from _norm_reference import composed_layer_norm as _composed_layer_norm

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import ops


# ------------------------------------------------------------------ layer_norm
@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 64 elements: a (7, 5, 12) input is 35 rows of 12, in blocks of 5 rows, and (13, 20)
    13 rows of 20 in blocks of 3, the last one short."""
    monkeypatch.setattr(F, "_LN_BLOCK", 64)


@pytest.mark.parametrize("xs, shape", [((7, 5, 12), (12,)), ((13, 20), (20,)), ((3, 4, 5), (4, 5)), ((2, 100), (100,))])
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_layer_norm_blocks_match_the_composed_ops(device, small_blocks, xs, shape, affine, dtype):
    rng = np.random.default_rng(0)
    x = gk.tensor(rng.standard_normal(xs) * 3 + 1, dtype=dtype, device=device, requires_grad=True)
    w = gk.tensor(rng.standard_normal(shape), dtype=dtype, device=device, requires_grad=True) if affine[0] else None
    b = gk.tensor(rng.standard_normal(shape), dtype=dtype, device=device, requires_grad=True) if affine[1] else None
    g = gk.tensor(rng.standard_normal(xs), dtype=dtype, device=device)
    y, want = F.layer_norm(x, shape, w, b), _composed_layer_norm(x, shape, w, b)
    assert y.grad_fn.name == "layer_norm"
    tol = 1e-12 if dtype == "float64" else 3e-6
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=tol, atol=tol)
    inputs = [t for t in (x, w, b) if t is not None]
    got, exp = gk.autograd.grad(y, inputs, g), gk.autograd.grad(want, inputs, g)
    for a, e, t in zip(got, exp, inputs, strict=True):
        assert a.shape == t.shape and a.dtype == t.dtype
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=tol, atol=20 * tol)


def _ln_operands(device, requires=(True, True, True)):
    rng = np.random.default_rng(1)
    x = gk.tensor(rng.standard_normal((6, 5, 8)), device=device, requires_grad=requires[0])
    w = gk.tensor(rng.standard_normal(8), device=device, requires_grad=requires[1])
    b = gk.tensor(rng.standard_normal(8), device=device, requires_grad=requires[2])
    g = gk.tensor(rng.standard_normal((6, 5, 8)), device=device)
    return x, w, b, g


def _ln_expected(x, w, b, g):
    xs = [t.detach().requires_grad_() for t in (x, w, b)]
    return [a.numpy() for a in gk.autograd.grad(_composed_layer_norm(xs[0], (8,), xs[1], xs[2]), xs, g)]


@pytest.mark.parametrize("requires", [(True, True, True), (True, False, True), (True, True, False),
                                      (False, True, True), (True, False, False)])  # fmt: skip
def test_layer_norm_grads_for_any_inputs_requiring_grad(device, small_blocks, requires):
    x, w, b, g = _ln_operands(device, requires)
    want = _ln_expected(x, w, b, g)
    F.layer_norm(x, 8, w, b).backward(g)
    for t, e, r in zip((x, w, b), want, requires, strict=True):
        if r:
            np.testing.assert_allclose(t.grad.numpy(), e, atol=1e-12)
        else:
            assert t.grad is None


def test_layer_norm_grads_handed_over_for_the_same_gradient_only(device, small_blocks):
    """x's rule makes w's and b's gradients too; they go only to the rules called next for that same
    gradient: not to a later backward through a retained graph with another gradient (or this one changed
    in place), nor when x's gradient alone is asked for."""
    x, w, b, g = _ln_operands(device)
    y = F.layer_norm(x, 8, w, b)
    (dx,) = gk.autograd.grad(y, [x], g, retain_graph=True)  # w's and b's wait, unused
    g2 = g * 2.0
    dw, db = gk.autograd.grad(y, [w, b], g2, retain_graph=True)
    want = _ln_expected(x, w, b, g)
    want2 = _ln_expected(x, w, b, g2)
    np.testing.assert_allclose(dx.numpy(), want[0], atol=1e-12)
    np.testing.assert_allclose(dw.numpy(), want2[1], atol=1e-12)
    np.testing.assert_allclose(db.numpy(), want2[2], atol=1e-12)
    gk.autograd.grad(y, [x], g, retain_graph=True)
    with gk.no_grad():
        g.mul_(3.0)  # the same tensor, another version
    dw3, db3 = gk.autograd.grad(y, [w, b], g, retain_graph=True)
    want3 = _ln_expected(x, w, b, g)
    np.testing.assert_allclose(dw3.numpy(), want3[1], atol=1e-12)
    np.testing.assert_allclose(db3.numpy(), want3[2], atol=1e-12)
    all3 = gk.autograd.grad(y, [x, w, b], g)
    for a, e in zip(all3, want3, strict=True):
        np.testing.assert_allclose(a.numpy(), e, atol=1e-12)


def test_layer_norm_blocks_second_order(device, small_blocks):
    rng = np.random.default_rng(2)
    x = gk.tensor(rng.standard_normal((9, 4)), device=device, requires_grad=True)
    w = gk.tensor(rng.standard_normal(4), device=device, requires_grad=True)
    b = gk.tensor(rng.standard_normal(4), device=device, requires_grad=True)
    v = gk.tensor(rng.standard_normal((9, 4)), device=device)
    assert gk.gradcheck(lambda x, w, b: F.layer_norm(x, 4, w, b, 0.1), (x, w, b))
    assert gk.gradcheck(lambda x, w, b: gk.autograd.grad(F.layer_norm(x, 4, w, b, 0.1), [x, w, b], v,
                                                         create_graph=True), (x, w, b))  # fmt: skip


def test_layer_norm_matches_pytorch_float32_many_blocks(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a, wa, ba, ga = (rng.standard_normal(s).astype(np.float32) for s in ((300, 257), (257,), (257,), (300, 257)))
    x, w, b = (gk.tensor(v, device=device, requires_grad=True) for v in (a, wa, ba))
    F.layer_norm(x, 257, w, b).backward(gk.tensor(ga, device=device))
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (a, wa, ba))
    torch.nn.functional.layer_norm(tx, (257,), tw, tb).backward(torch.tensor(ga))
    for mine, theirs in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=2e-4)


# ------------------------------------------------------------------ cross_entropy
def _composed_cross_entropy(x, t, reduction, weight, ignore_index, smoothing):
    """cross_entropy with ignored targets, weights or smoothing as it was composed of ops."""
    tt = t._data
    ignored = tt == ignore_index
    kept = np.where(ignored, 0, tt) if x._backend.xp is np else x._backend.xp.where(ignored, 0, tt)
    w = None if weight is None else F._class_weight(weight, x, "cross_entropy")
    return F._weighted_nll(ops.log_softmax(x, 1), kept, ignored if ignored.any() else None, w, smoothing,
                           reduction)  # fmt: skip


def _ce_operands(device, dtype, n=11, c=7, seed=4, ignored=(1, 4, 5)):
    rng = np.random.default_rng(seed)
    x = gk.tensor(rng.standard_normal((n, c)) * 2, dtype=dtype, device=device, requires_grad=True)
    tn = rng.integers(0, c, n)
    tn[list(ignored)] = -100
    w = gk.tensor(rng.random(c) + 0.5, dtype=dtype, device=device)
    return x, gk.tensor(tn, device=device), w


KINDS = [dict(), dict(label_smoothing=0.2), dict(weight=True), dict(weight=True, label_smoothing=0.3)]


@pytest.mark.parametrize("kw", KINDS, ids=["ignore", "smooth", "weight", "weight+smooth"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_one_node_matches_the_composed_ops(device, kw, reduction, dtype):
    x, t, w = _ce_operands(device, dtype)
    kw = {**kw, "weight": w} if kw.get("weight") else kw
    loss = F.cross_entropy(x, t, reduction, **kw)
    want = _composed_cross_entropy(x, t, reduction, kw.get("weight"), -100, kw.get("label_smoothing", 0.0))
    if type(x._data) is np.ndarray:
        assert loss.grad_fn.name == "cross_entropy" and loss.grad_fn.next[0] is x
    tol = 1e-12 if dtype == "float64" else 2e-6
    assert loss.shape == want.shape and loss.dtype == want.dtype
    np.testing.assert_allclose(loss.numpy(), want.numpy(), rtol=tol, atol=tol)
    g = gk.tensor(np.random.default_rng(5).standard_normal(loss.shape) * 2 + 1, dtype=dtype, device=device)
    (got,) = gk.autograd.grad(loss, x, g)
    (exp,) = gk.autograd.grad(want, x, g)
    np.testing.assert_allclose(got.numpy(), exp.numpy(), rtol=tol, atol=tol)


def _closed_form(xn, tn, wn, s, ignore_index=-100):
    """The loss per row and its gradient, by hand (float64)."""
    n, c = xn.shape
    wn = np.ones(c) if wn is None else wn
    m = xn.max(1, keepdims=True)
    lse = np.log(np.exp(xn - m).sum(1, keepdims=True)) + m
    logp = xn - lse
    p = np.exp(logp)
    keep = tn != ignore_index
    tk = np.where(keep, tn, 0)
    w_t = wn[tk] * keep
    loss = -(1 - s) * w_t * logp[np.arange(n), tk] - keep * s / c * (logp * wn).sum(1)
    hot = np.zeros((n, c))
    hot[np.arange(n), tk] = 1
    grad = ((1 - s) * w_t[:, None] * (p - hot) + (keep * s / c)[:, None] * (wn.sum() * p - wn)) * keep[:, None]
    return loss, grad, w_t.sum()


@pytest.mark.parametrize("kw", KINDS, ids=["ignore", "smooth", "weight", "weight+smooth"])
def test_cross_entropy_closed_form(device, kw):
    x, t, w = _ce_operands(device, "float64", n=9, c=5, seed=6, ignored=(0, 8))
    kw = {**kw, "weight": w} if kw.get("weight") else kw
    s = kw.get("label_smoothing", 0.0)
    loss, grad, total = _closed_form(x.numpy(), t.numpy(), w.numpy() if "weight" in kw else None, s)
    np.testing.assert_allclose(F.cross_entropy(x, t, "none", **kw).numpy(), loss, atol=1e-13)
    np.testing.assert_allclose(F.cross_entropy(x, t, "sum", **kw).item(), loss.sum(), atol=1e-12)
    mean = F.cross_entropy(x, t, **kw)
    np.testing.assert_allclose(mean.item(), loss.sum() / total, atol=1e-13)
    mean.backward()
    np.testing.assert_allclose(x.grad.numpy(), grad / total, atol=1e-13)


@pytest.mark.parametrize("kw", KINDS, ids=["ignore", "smooth", "weight", "weight+smooth"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_central_differences_first_and_second_order(device, kw, reduction):
    x, t, w = _ce_operands(device, "float64", n=6, c=4, seed=7, ignored=(2,))
    kw = {**kw, "weight": w} if kw.get("weight") else kw

    def f(a):
        out = F.cross_entropy(a, t, reduction, **kw)
        return out if reduction != "none" else out * gk.tensor(np.arange(1.0, 7.0), device=device)

    assert gk.gradcheck(f, (x,))
    v = gk.tensor(np.random.default_rng(8).standard_normal((6, 4)), device=device)
    assert gk.gradcheck(lambda a: (gk.autograd.grad(f(a).sum(), a, create_graph=True)[0] * v).sum(), (x,))
    (raw,) = gk.autograd.grad(f(x).sum(), x)  # the arrays' gradient and the recorded one agree
    (rec,) = gk.autograd.grad(f(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(rec.numpy(), raw.numpy(), atol=1e-13)


@pytest.mark.parametrize("kw", KINDS, ids=["ignore", "smooth", "weight", "weight+smooth"])
def test_cross_entropy_every_target_ignored(device, kw):
    x, t, w = _ce_operands(device, "float32", n=4, c=3, ignored=(0, 1, 2, 3))
    kw = {**kw, "weight": w} if kw.get("weight") else kw
    loss = F.cross_entropy(x, t, **kw)
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 3), np.float32))
    assert F.cross_entropy(x, t, "sum", **kw).item() == 0
    np.testing.assert_array_equal(F.cross_entropy(x, t, "none", **kw).numpy(), np.zeros(4, np.float32))


def test_cross_entropy_zero_weight_total_and_minus_inf_logit_in_an_ignored_row(device):
    xn = np.array([[0.0, 1.0, 2.0], [-np.inf, 1.0, 0.5], [1.0, 1.0, 1.0]])
    x = gk.tensor(xn, device=device, requires_grad=True)
    t = gk.tensor(np.array([2, -100, 0]), device=device)
    loss = F.cross_entropy(x, t, "none").numpy()
    np.testing.assert_allclose(loss[[0, 2]], [np.log(np.exp(xn[0]).sum()) - 2, np.log(3)], atol=1e-14)
    if type(x._data) is np.ndarray:  # the one node: 0, as PyTorch (the GPU's kernel gives NaN there)
        assert loss[1] == 0
    w = gk.tensor(np.array([0.0, 1.0, 0.0]), device=device)
    zero = F.cross_entropy(x, t, weight=w)  # the kept targets weigh 0: NaN, zero gradient
    assert np.isnan(zero.item())
    zero.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 3)))


def test_cross_entropy_weight_changed_in_place_with_smoothing_is_refused(device):
    x, t, w = _ce_operands(device, "float64")
    loss = F.cross_entropy(x, t, weight=w, label_smoothing=0.1)
    with gk.no_grad():
        w.mul_(2.0)
    with pytest.raises(gk.AutogradError):
        loss.backward()


@pytest.mark.parametrize("kw", [dict(ignore_index=-100), dict(ignore_index=3, label_smoothing=0.1),
                                dict(ignore_index=-100, weight=True)])  # fmt: skip
def test_cross_entropy_matches_pytorch_float32(device, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    xn = rng.standard_normal((64, 37)).astype(np.float32) * 3
    tn = rng.integers(0, 37, 64)
    tn[rng.random(64) < 0.3] = kw["ignore_index"]
    wn = (rng.random(37) + 0.5).astype(np.float32)
    gkw = {**kw, "weight": gk.tensor(wn, device=device)} if kw.get("weight") else kw
    tkw = {**kw, "weight": torch.tensor(wn)} if kw.get("weight") else kw
    for reduction in ("mean", "sum", "none"):
        x = gk.tensor(xn, device=device, requires_grad=True)
        xt = torch.tensor(xn, requires_grad=True)
        loss = F.cross_entropy(x, gk.tensor(tn, device=device), reduction, **gkw)
        lt = torch.nn.functional.cross_entropy(xt, torch.tensor(tn), reduction=reduction, **tkw)
        np.testing.assert_allclose(loss.numpy(), lt.detach().numpy(), rtol=2e-5, atol=2e-5)
        loss.sum().backward()
        lt.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(), dict(ignored=True), dict(ignored=True, label_smoothing=0.1),
                                dict(label_smoothing=0.1)])  # fmt: skip
def test_cross_entropy_backward_through_a_retained_graph_adds_up(device, kw):
    """The saved gradient handed out as a .grad (then summed into in place) is not handed out again."""
    x, t, _ = _ce_operands(device, "float64", ignored=(1,) if kw.pop("ignored", False) else ())
    loss = F.cross_entropy(x, t, **kw)
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * first, atol=1e-14)


def test_layer_norm_backward_through_a_retained_graph_adds_up(device, small_blocks):
    x, w, b, g = _ln_operands(device)
    y = F.layer_norm(x, 8, w, b)
    y.backward(g, retain_graph=True)
    first = [t.grad.numpy().copy() for t in (x, w, b)]
    y.backward(g, retain_graph=True)
    y.backward(g)
    for t, f in zip((x, w, b), first, strict=True):
        np.testing.assert_allclose(t.grad.numpy(), 3 * f, atol=1e-12)
