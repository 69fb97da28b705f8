"""PyTorch's methods and functions that tutorial ports use (gradkit/ops/torch_compat.py and the Tensor methods
that call it): split, tensor_split, movedim, unflatten, lerp(_), clamp_/clamp_min_/clamp_max_, masked_fill_,
addcmul(_), addcdiv(_), addmm, baddbmm, mm, bmm, cdist, cummax, cummin, logcumsumexp, finfo, iinfo, is_cuda,
nan_to_num/allclose/isclose/multinomial/bernoulli methods, the in-place unary ops, scatter_/scatter_add_/index_add_.
Reference numbers were computed with PyTorch 2.14 (CPU) and are written in; torch is not imported."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import torch_compat as tc

RNG = np.random.default_rng(17)


def _t(values, device, dtype=gk.float64, requires_grad=False):
    return gk.tensor(np.array(values), dtype=dtype, device=device, requires_grad=requires_grad)  # a copy


def _r(shape, device):
    return _t(RNG.standard_normal(shape), device, requires_grad=True)


def test_gk_exports_the_new_functions():
    """Needs ``from gradkit.ops.torch_compat import *`` in gradkit/__init__.py."""
    for name in tc.__all__:
        assert getattr(gk, name) is getattr(tc, name), name


# ------------------------------------------------------------------------------------------------ shape
def test_split_method_is_pytorchs(device):
    x = _t(np.arange(14.0).reshape(2, 7), device)
    assert [p.shape for p in x.split(3, 1)] == [(2, 3), (2, 3), (2, 1)]
    assert [p.shape for p in x.split([2, 5], dim=1)] == [(2, 2), (2, 5)]
    assert isinstance(x.split(1), tuple)
    with pytest.raises(gk.GradkitError, match="split"):
        x.split([2, 2], dim=1)


def test_tensor_split_values_views_and_errors(device):
    x = _t(np.arange(7), device, gk.int64)
    assert [p.tolist() for p in x.tensor_split(3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [p.tolist() for p in gk.tensor_split(x, [1, 5])] == [[0], [1, 2, 3, 4], [5, 6]]
    assert [p.tolist() for p in x.tensor_split(_t([1, 5], device, gk.int64))] == [[0], [1, 2, 3, 4], [5, 6]]
    assert [p.tolist() for p in x.tensor_split([-2, 9])] == [[0, 1, 2, 3, 4], [5, 6], []]
    assert [len(p.tolist()) for p in x.tensor_split(9)] == [1] * 7 + [0, 0]
    y = _r((2, 5), device)
    assert gk.gradcheck(lambda a: gk.concatenate([p * (i + 1) for i, p in enumerate(a.tensor_split(2, 1))], 1), (y,))
    with pytest.raises(gk.InvalidArgumentError, match="tensor_split"):
        x.tensor_split(0)
    with pytest.raises(gk.GradkitError, match="tensor_split"):
        gk.tensor_split(_t(1.0, device), 2)


def test_movedim_and_unflatten(device):
    base = np.arange(120.0).reshape(2, 3, 4, 5)
    x = _t(base, device)
    np.testing.assert_array_equal(x.movedim(0, -1).numpy(), np.moveaxis(base, 0, -1))
    np.testing.assert_array_equal(gk.movedim(x, (0, 1), (3, 0)).numpy(), np.moveaxis(base, (0, 1), (3, 0)))
    assert x.movedim(1, 2).shape == (2, 4, 3, 5)
    np.testing.assert_array_equal(x.unflatten(3, (1, -1)).numpy(), base.reshape(2, 3, 4, 1, 5))
    assert gk.unflatten(x, -2, [2, 2]).shape == (2, 3, 2, 2, 5)
    y = _r((2, 6), device)
    assert gk.gradcheck(lambda a: a.unflatten(1, (3, 2)).movedim(2, 0) * _t(np.arange(12.0).reshape(2, 2, 3), device),
                        (y,))
    with pytest.raises(gk.InvalidArgumentError, match="movedim"):
        x.movedim((0, 0), (1, 2))
    with pytest.raises(gk.InvalidArgumentError, match="movedim"):
        x.movedim((0, 1), 2)
    with pytest.raises(gk.ShapeError, match="unflatten"):
        x.unflatten(1, (2, 2))
    with pytest.raises(gk.InvalidArgumentError, match="unflatten"):
        x.unflatten(1, (-1, -1))


# ------------------------------------------------------------------------------------------- arithmetic
def test_lerp_values_gradients_and_exact_end(device):
    s, e = _r((3,), device), _r((3,), device)
    np.testing.assert_allclose(s.lerp(e, 0.25).numpy(), s.numpy() + 0.25 * (e.numpy() - s.numpy()))
    np.testing.assert_array_equal(gk.lerp(s, e, 1.0).numpy(), e.numpy())  # PyTorch's form: exactly end
    w = _t([0.1, 0.7, 1.0], device, requires_grad=True)
    np.testing.assert_array_equal(gk.lerp(s, e, w).numpy()[2], e.numpy()[2])
    assert gk.gradcheck(gk.lerp, (s, e, w))
    assert gk.gradcheck(lambda a, b: gk.lerp(a, b, 0.3), (s, e))
    assert gk.gradcheck(lambda a, b, c: gk.grad(lambda u: gk.lerp(u, b, c).pow(3).sum())(a), (s, e, w))
    with pytest.raises(gk.DTypeError, match="lerp"):
        gk.lerp(_t([1, 2], device, gk.int64), _t([3, 4], device, gk.int64), 0.5)
    with pytest.raises(gk.ArgumentTypeError, match="lerp"):
        s.lerp(e, "half")


def test_lerp_in_place_ema_idiom(device):
    ema = _t([0.0, 1.0], device, gk.float32)
    p = _t([1.0, 3.0], device, gk.float32, requires_grad=True)
    with gk.no_grad():
        out = ema.lerp_(p, 0.01)
    assert out is ema and ema._version[0] == 1
    np.testing.assert_allclose(ema.numpy(), [0.01, 1.02], rtol=1e-6)
    with pytest.raises(gk.AutogradError, match="lerp_"):
        p.lerp_(ema, 0.5)  # a leaf that requires grad
    ema.lerp_(p, 0.01)  # p requires grad: outside no_grad the EMA joins the graph, as in PyTorch
    assert ema.requires_grad
    ema.sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), [0.01, 0.01], rtol=1e-6)


def test_addcmul_addcdiv_and_in_place(device):
    x, a, b = _r((2, 3), device), _r((3,), device), _r((2, 1), device)
    np.testing.assert_allclose(x.addcmul(a, b, value=-2).numpy(), x.numpy() - 2 * a.numpy() * b.numpy())
    np.testing.assert_allclose(gk.addcdiv(x, a, b, value=0.5).numpy(), x.numpy() + 0.5 * a.numpy() / b.numpy())
    assert gk.gradcheck(lambda u, v, w: gk.addcmul(u, v, w, value=3.0), (x, a, b))
    assert gk.gradcheck(lambda u, v, w: u.addcdiv(v, w, value=0.5), (x, a, b))
    # Adam's step, in place, under no_grad
    p = _t([1.0, 2.0], device)
    m, v = _t([0.1, -0.2], device), _t([4.0, 16.0], device)
    p.addcdiv_(m, v.sqrt().add_(1e-8), value=-0.1)
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.1 * 0.1 / (2 + 1e-8), 2.0 + 0.1 * 0.2 / (4 + 1e-8)], rtol=1e-12)
    v.mul_(0.9).addcmul_(m, m, value=0.1)
    np.testing.assert_allclose(v.numpy(), [3.6 + 0.001, 14.4 + 0.004], rtol=1e-12)
    with pytest.raises(gk.DTypeError, match="addcdiv"):
        gk.addcdiv(p, _t([1, 2], device, gk.int64), _t([3, 4], device, gk.int64))
    with pytest.raises(gk.ArgumentTypeError, match="addcmul"):
        gk.addcmul(p, m, m, value=None)


def test_mm_bmm_addmm_baddbmm(device):
    a, b, c = _r((2, 3), device), _r((3, 4), device), _r((4,), device)
    np.testing.assert_allclose(gk.mm(a, b).numpy(), a.numpy() @ b.numpy())
    np.testing.assert_allclose(gk.addmm(c, a, b, beta=0.5, alpha=2).numpy(),
                               0.5 * c.numpy() + 2 * (a.numpy() @ b.numpy()))
    assert gk.gradcheck(lambda u, v, w: u.addmm(v, w, beta=0.5, alpha=-1.5), (c, a, b))
    nan_input = _t(np.full((2, 4), np.nan), device)
    np.testing.assert_allclose(gk.addmm(nan_input, a, b, beta=0).numpy(), a.numpy() @ b.numpy())  # beta 0: ignored
    p, q, r = _r((2, 3, 2), device), _r((2, 2, 4), device), _r((1, 3, 4), device)
    np.testing.assert_allclose(gk.bmm(p, q).numpy(), p.numpy() @ q.numpy())
    np.testing.assert_allclose(r.baddbmm(p, q, alpha=0.5).numpy(), r.numpy() + 0.5 * (p.numpy() @ q.numpy()))
    assert gk.gradcheck(lambda u, v, w: gk.baddbmm(u, v, w, beta=2.0), (r, p, q))
    with pytest.raises(gk.ShapeError, match="addmm"):
        gk.addmm(_t(np.ones(3), device), a, b)
    with pytest.raises(gk.ShapeError, match="mm"):
        gk.mm(a, c)
    with pytest.raises(gk.ShapeError, match="bmm"):
        gk.bmm(p, _r((3, 2, 4), device))


# ---------------------------------------------------------------------------------------------- cdist
A = [[0.0, 1.0, 2.0], [1.0, -1.0, 0.5], [3.0, 0.0, -2.0]]
B = [[0.0, 1.0, 2.0], [2.0, 2.0, -1.0]]  # row 0 of A and of B coincide: PyTorch's gradient 0 there
W = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
CDIST = {  # PyTorch 2.14: torch.cdist(A, B, p), and the gradients of (cdist * W).sum() for A and B
    2.0: ([[0.0, 3.7416573867739413], [2.692582403567252, 3.5], [5.0990195135927845, 2.449489742783178]],
          [[-1.0690449676496976, -0.5345224838248488, 1.6035674514745464],
           [-0.02868511379483163, -5.65691548669605, 0.04302767069224722],
           [5.391231769855938, -5.8795601612572765, -6.371812445546859]],
          [[-4.055914056135071, 3.2089247338155427, 5.593580746357148],
           [-0.23758763227633795, 8.862073397962634, -0.8683634229770822]]),
    1.0: ([[0.0, 6.0], [4.5, 5.5], [8.0, 4.0]],
          [[-2.0, -2.0, 2.0], [-1.0, -7.0, 1.0], [11.0, -11.0, -11.0]],
          [[-8.0, 8.0, 8.0], [0.0, 12.0, 0.0]]),
    3.0: ([[0.0, 3.3019272488946263], [2.3130325045913707, 3.1539967743316337],
           [4.514357435474001, 2.154434690031884]],
          [[-0.7337616108654728, -0.1834404027163682, 1.6509636244473136],
           [0.15863197821142927, -5.8618691802638825, -0.3569219509757158],
           [3.500770429196631, -5.41598876887402, -5.218189018779132]],
          [[-2.768844767805712, 2.488286123310345, 5.187182298173477],
           [-0.15679602873687526, 8.973012228543926, -1.2630349528659428]]),
    0.5: ([[0.0, 17.191508225450303], [13.24201848266712, 15.656232045040216],
           [22.392304845413257, 11.65685424949238]],
          [[-5.863703305156273, -8.292528739883945, 4.787693700234703],
           [-4.910307414547814, -16.85722475641765, 4.009249215282354],
           [34.14553541208295, -38.14553541208295, -32.315408393160766]],
          [[-24.577129339138434, 31.37965059275734, 20.74371837684312],
           [1.2056046467595678, 31.915638315627206, 2.7747471008005853]]),
    math.inf: ([[0.0, 3.0], [2.0, 3.0], [4.0, 2.0]],
               [[0.0, 0.0, 2.0], [0.0, -7.0, 0.0], [0.0, -6.0, -5.0]],
               [[0.0, 3.0, 5.0], [0.0, 10.0, -2.0]]),
}


@pytest.mark.parametrize("p", sorted(CDIST))
def test_cdist_matches_pytorch_values_and_gradients_at_zero_distance(device, p):
    a, b = _t(A, device, requires_grad=True), _t(B, device, requires_grad=True)
    d = gk.cdist(a, b, p=p)
    values, ga, gb = CDIST[p]
    np.testing.assert_allclose(d.numpy(), values, rtol=1e-12, atol=1e-12)
    (d * _t(W, device)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ga, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), gb, rtol=1e-10, atol=1e-12)


def test_cdist_p0_batches_mm_mode_and_gradcheck(device):
    a, b = _t(A, device), _t(B, device)
    np.testing.assert_array_equal(gk.cdist(a, b, p=0).numpy(), [[0, 3], [3, 3], [3, 3]])
    x1, x2 = _r((2, 1, 4, 3), device), _r((3, 5, 3), device)
    d = gk.cdist(x1, x2)
    ref = np.sqrt(((x1.numpy()[..., :, None, :] - x2.numpy()[..., None, :, :]) ** 2).sum(-1))
    assert d.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(d.numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(gk.cdist(x1, x2, compute_mode="use_mm_for_euclid_dist").numpy(), ref, rtol=1e-9)
    big = _r((30, 3), device)  # more than 25 rows: PyTorch's matrix-product form
    ref_big = np.sqrt(((big.numpy()[:, None] - x2.numpy()[0][None]) ** 2).sum(-1))
    np.testing.assert_allclose(gk.cdist(big, x2[0]).numpy(), ref_big, rtol=1e-9)
    for p in (2.0, 1.5, 3.0):
        assert gk.gradcheck(lambda u, v, p=p: gk.cdist(u, v, p=p), (x1[0], x2[1]))
    u, v = _r((3, 2), device), _r((2, 2), device)
    assert gk.gradcheck(lambda s, t: gk.grad(lambda q: gk.cdist(q, t).pow(2).sum())(s), (u, v))  # second order
    with pytest.raises(gk.InvalidArgumentError, match="cdist"):
        gk.cdist(a, b, p=-1)
    with pytest.raises(gk.ShapeError, match="cdist"):
        gk.cdist(a, _t(np.ones((2, 2)), device))
    with pytest.raises(gk.DTypeError, match="cdist"):
        gk.cdist(_t([[1, 2]], device, gk.int64), _t([[1, 2]], device, gk.int64))
    with pytest.raises(gk.InvalidArgumentError, match="cdist"):
        gk.cdist(a, b, compute_mode="fast")


# ------------------------------------------------------------------------------------------------ scans
def test_cummax_cummin_pytorch_ties_and_nans(device):
    x = _t([1.0, 3.0, 2.0, 3.0, np.nan, 5.0, np.nan, 0.0], device)
    mx, mn = x.cummax(0), gk.cummin(x, 0)
    assert mx.indices.tolist() == [0, 1, 1, 3, 4, 4, 6, 6]  # PyTorch: the last tie, the last NaN
    assert mn.indices.tolist() == [0, 0, 0, 0, 4, 4, 6, 6]
    np.testing.assert_array_equal(mx.values.numpy(), [1, 3, 3, 3, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(mn.values.numpy(), [1, 1, 1, 1, np.nan, np.nan, np.nan, np.nan])
    values, indices = gk.cummax(_t([[1, 1], [1, 0]], device, gk.int64), 0)
    assert values.tolist() == [[1, 1], [1, 1]] and indices.tolist() == [[0, 0], [1, 0]]
    assert "cummax" in repr(mx)
    v = _t([[1.0, 3.0, 2.0], [3.0, 3.0, 0.0]], device, requires_grad=True)
    v.cummax(1).values.sum().backward()
    assert v.grad.tolist() == [[1.0, 2.0, 0.0], [1.0, 2.0, 0.0]]  # PyTorch's
    y = _r((3, 4), device)
    assert gk.gradcheck(lambda a: gk.cummin(a, 1).values, (y,))
    with pytest.raises(gk.GradkitError, match="cummax"):
        x.cummax(1)


def test_logcumsumexp_values_gradients_and_range(device):
    x = _t([0.5, -1.0, 2.0, 0.0], device, requires_grad=True)
    y = x.logcumsumexp(0)
    np.testing.assert_allclose(y.numpy(), [0.5, 0.7014132779827524, 2.241311296657157, 2.342349582389822],
                               rtol=1e-14)
    (y * _t([1.0, 2.0, 3.0, 4.0], device)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(),
                               [3.7947989668673165, 0.6236039410597705, 5.197190795312523, 0.38440629676038884],
                               rtol=1e-12)
    far = gk.logcumsumexp(_t([-1000.0, 0.0, -np.inf, 1000.0], device, gk.float32), 0)
    np.testing.assert_allclose(far.numpy(), [-1000.0, 0.0, 0.0, 1000.0])
    z = _r((3, 5), device)
    np.testing.assert_allclose(gk.logcumsumexp(z, 1).numpy(), np.log(np.cumsum(np.exp(z.numpy()), 1)), rtol=1e-12)
    assert gk.gradcheck(lambda a: gk.logcumsumexp(a, 0), (z,))
    assert gk.gradcheck(lambda a: gk.grad(lambda b: gk.logcumsumexp(b, 1).pow(2).sum())(a), (z,))
    assert gk.logcumsumexp(_t([1, 2], device, gk.int64), 0).dtype == gk.float64


# ------------------------------------------------------------------------------------------ in place
def test_in_place_unary_ops_and_clamp(device):
    base = np.array([-2.5, -0.4, 0.6, 3.0])
    checks = {"exp_": np.exp, "abs_": np.abs, "neg_": np.negative, "sigmoid_": lambda a: 1 / (1 + np.exp(-a)),
              "tanh_": np.tanh, "relu_": lambda a: np.maximum(a, 0), "square_": np.square,
              "reciprocal_": np.reciprocal, "sign_": np.sign, "floor_": np.floor, "ceil_": np.ceil,
              "round_": np.round, "trunc_": np.trunc}
    for name, fn in checks.items():
        t = _t(base, device)
        assert getattr(t, name)() is t and t._version[0] == 1, name
        np.testing.assert_allclose(t.numpy(), fn(base), rtol=1e-12, err_msg=name)
    t = _t([4.0, 9.0], device)
    assert t.sqrt_().log_().tolist() == pytest.approx([math.log(2), math.log(3)])
    assert _t([2.0, 3.0], device).pow_(2).tolist() == [4.0, 9.0]
    t = _t(base, device)
    t.clamp_(-1, 1)
    assert t.tolist() == [-1.0, -0.4, 0.6, 1.0]
    assert _t(base, device).clamp_min_(0).tolist() == [0.0, 0.0, 0.6, 3.0]
    assert _t(base, device).clamp_max_(0).tolist() == [-2.5, -0.4, 0.0, 0.0]
    t = _t(base, device)
    t.masked_fill_(t < 0, 7.0)
    assert t.tolist() == [7.0, 7.0, 0.6, 3.0]


def test_in_place_rules_are_add_s(device):
    leaf = _t([1.0, 2.0], device, requires_grad=True)
    for call in (lambda: leaf.exp_(), lambda: leaf.clamp_(0, 1), lambda: leaf.masked_fill_(leaf > 1, 0.0)):
        with pytest.raises(gk.AutogradError, match="in-place"):
            call()
    with gk.no_grad():
        leaf.clamp_(0, 1.5)
    assert leaf.tolist() == [1.0, 1.5]
    y = leaf * 2
    assert y.tanh_() is y  # a tensor in the graph: recorded
    y.sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), 2 * (1 - np.tanh([2.0, 3.0]) ** 2))
    with pytest.raises(gk.DTypeError, match="exp_"):
        _t([1, 2], device, gk.int64).exp_()
    with pytest.raises(gk.ShapeError, match="addcmul_"):
        _t([1.0], device).addcmul_(_t([1.0, 2.0], device), _t([1.0, 2.0], device))
    assert _t([1, 5], device, gk.int64).clamp_(0, 3).tolist() == [1, 3]


def test_scatter_index_add_in_place(device):
    t = _t(np.zeros((2, 3)), device)
    idx = _t([[2, 0, 1]], device, gk.int64)
    assert t.scatter_(1, idx, 5.0) is t
    assert t.tolist() == [[5.0, 5.0, 5.0], [0.0, 0.0, 0.0]]
    t.scatter_add_(1, _t([[0, 0], [2, 2]], device, gk.int64), _t([[1.0, 2.0], [3.0, 4.0]], device))
    assert t.tolist() == [[8.0, 5.0, 5.0], [0.0, 0.0, 7.0]]
    t.index_add_(0, _t([1], device, gk.int64), _t([[1.0, 1.0, 1.0]], device), alpha=2)
    assert t.tolist() == [[8.0, 5.0, 5.0], [2.0, 2.0, 9.0]]
    assert t._version[0] == 3


# -------------------------------------------------------------------------------------- the rest
def test_small_methods_and_dtype_info(device):
    t = _t([1.0, np.nan, np.inf], device)
    assert t.is_cuda is (device == "cuda")
    assert t.nan_to_num(posinf=9.0).tolist() == [1.0, 0.0, 9.0]
    assert t.allclose(t, equal_nan=True) is True and t.isclose(t).tolist() == [True, False, True]
    assert gk.finfo(gk.float32).eps == np.finfo(np.float32).eps
    assert gk.finfo(t).max == np.finfo(np.float64).max and gk.finfo().bits == 32
    assert gk.finfo("float16").tiny == np.finfo(np.float16).tiny
    assert gk.iinfo(gk.int8).min == -128 and gk.iinfo(_t([1], device, gk.int64)).max == 2**63 - 1
    with pytest.raises(gk.DTypeError, match="finfo"):
        gk.finfo(gk.int32)
    with pytest.raises(gk.DTypeError, match="iinfo"):
        gk.iinfo(gk.float32)
    gk.manual_seed(0)
    idx = _t([0.0, 1.0, 0.0], device).multinomial(2, replacement=True)
    assert idx.tolist() == [1, 1]
    probs = _t([0.0, 1.0, 0.0, 1.0], device)
    assert probs.bernoulli().tolist() == [0.0, 1.0, 0.0, 1.0]
    draws = _t(np.zeros(2000), device).bernoulli(0.25)
    assert draws.dtype == gk.float64 and 0.2 < float(draws.mean()) < 0.3
    with pytest.raises(gk.GradkitError, match="bernoulli"):
        probs.bernoulli(1.5)
    with pytest.raises(gk.DTypeError, match="bernoulli"):
        _t([1], device, gk.int64).bernoulli()


def test_index_fill_copy_masked_scatter_index_put(device):
    base = np.arange(12.0).reshape(3, 4)
    x = _t(base, device, requires_grad=True)
    filled = x.index_fill(1, _t([0, -1], device, gk.int64), -1.0)
    expect = base.copy()
    expect[:, [0, -1]] = -1
    np.testing.assert_array_equal(filled.numpy(), expect)
    v = _t(2.0, device, requires_grad=True)
    assert gk.gradcheck(lambda a, b: gk.index_fill(a, 0, _t([1], device, gk.int64), b), (x, v))
    src = _r((2, 4), device)
    copied = gk.index_copy(x, 0, _t([2, 0], device, gk.int64), src)
    np.testing.assert_array_equal(copied.numpy(), np.stack([src.numpy()[1], base[1], src.numpy()[0]]))
    assert gk.gradcheck(lambda a, b: a.index_copy(0, _t([2, 0], device, gk.int64), b), (x, src))
    mask = _t(base > 6, device, gk.bool_)
    pool = _r((6,), device)
    scattered = x.masked_scatter(mask, pool)
    expect = base.copy()
    expect[base > 6] = pool.numpy()[:5]
    np.testing.assert_array_equal(scattered.numpy(), expect)
    assert gk.gradcheck(lambda a, b: gk.masked_scatter(a, mask, b), (x, pool))
    with pytest.raises(gk.ShapeError, match="masked_scatter"):
        x.masked_scatter(mask, pool[:3])
    with pytest.raises(gk.IndexOutOfRangeError, match="index_fill"):
        x.index_fill(1, _t([4], device, gk.int64), 0.0)
    with pytest.raises(gk.DTypeError, match="index_fill"):
        x.index_fill(1, _t([0.5], device), 0.0)
    with pytest.raises(gk.ArgumentTypeError, match="index_fill"):
        x.index_fill(1, _t([True, False, True, False], device, gk.bool_), 0.0)
    t = _t(np.zeros((2, 3)), device)
    t.index_fill_(1, _t([1], device, gk.int64), 3.0).index_copy_(0, _t([1], device, gk.int64), _t([[1.0] * 3], device))
    t.masked_scatter_(t == 0, _t(np.arange(10.0), device))
    assert t.tolist() == [[0.0, 3.0, 1.0], [1.0, 1.0, 1.0]] and t._version[0] == 3
    z = _t(np.zeros(5), device)
    z.index_put_((_t([0, 1, 1, 4], device, gk.int64),), _t(1.0, device), accumulate=True)
    assert z.tolist() == [1.0, 2.0, 0.0, 0.0, 1.0]
    z.index_put_((_t([0, 2], device, gk.int64),), _t([7.0, 8.0], device))
    assert z.tolist() == [7.0, 2.0, 8.0, 0.0, 1.0] and z._version[0] == 2
    with pytest.raises(gk.DTypeError, match="index_put_"):
        z.index_put_((_t([0], device, gk.int64),), _t([1], device, gk.int64), accumulate=True)
    with pytest.raises(gk.AutogradError, match="index_put_"):
        x.index_put_((_t([0], device, gk.int64),), _t(1.0, device), accumulate=True)
