"""PReLU, RMSNorm, parameters_to_vector / vector_to_parameters, and the Gaussian and Poisson NLL,
margin ranking, hinge embedding, soft margin, cosine embedding, triplet margin, multi-label soft margin
and multi-margin losses.

Closed forms in float64 NumPy, gk.gradcheck against central differences (first and second order, at
points away from the kinks), module-versus-functional equality, PyTorch's gradients at the kinks,
argument errors, and, where torch is importable, value and gradient parity with it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn
from gradkit.nn import functional as F
from gradkit.nn.utils import parameters_to_vector, vector_to_parameters


def _t(data, device: str, dtype: str = "float64", grad: bool = True):
    return gk.tensor(np.asarray(data, dtype=dtype), device=device, requires_grad=grad)


def _rand(device: str, *shape: int, seed: int, scale: float = 1.0, grad: bool = True):
    return _t(np.random.default_rng(seed).standard_normal(shape) * scale, device, grad=grad)


def _reduced(v: np.ndarray, reduction: str) -> np.ndarray:
    return {"none": v, "sum": v.sum(), "mean": v.mean()}[reduction]


def _gradchecks(fn, args) -> None:
    """First order for every float argument that requires grad, and second order through the first."""
    assert gk.gradcheck(fn, args)
    assert gk.gradcheck(lambda *a: gk.grad(lambda u: fn(u, *a[1:]).sum())(a[0]), args)


# ================================================================== PReLU
def test_prelu_values_gradients_and_module(device):
    x = _rand(device, 3, 4, 2, seed=1)
    w = _t([0.1, 0.5, -0.3, 2.0], device)
    xv, wv = x.numpy(), w.numpy()
    np.testing.assert_array_equal(F.prelu(x, w).numpy(), np.where(xv > 0, xv, wv[:, None] * xv))
    _gradchecks(F.prelu, (x, w))
    shared = _t([0.2], device)
    np.testing.assert_array_equal(F.prelu(x, shared).numpy(), np.where(xv > 0, xv, 0.2 * xv))
    assert F.prelu(x[0, 0, 0], shared).shape == ()  # a 0-d input with one slope stays 0-d
    line = _t([-2.0, 0.0, 3.0], device)  # a 1-d input has one channel
    F.prelu(line, shared).sum().backward()
    np.testing.assert_array_equal(line.grad.numpy(), [0.2, 0.2, 1.0])  # the slope at 0 is weight's
    np.testing.assert_array_equal(shared.grad.numpy(), [-2.0])

    m = nn.PReLU()
    assert m.weight.shape == (1,) and m.weight.dtype == np.float32 and m.weight.numpy()[0] == np.float32(0.25)
    assert list(m.state_dict()) == ["weight"] and repr(m) == "PReLU(num_parameters=1)"
    m = nn.PReLU(4, init=0.5, dtype="float64").to(device)
    assert m.num_parameters == 4 and m.init == 0.5
    np.testing.assert_array_equal(m(x).numpy(), F.prelu(x, gk.full((4,), 0.5, dtype="float64", device=device)).numpy())
    m(x).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), np.minimum(xv, 0).sum(axis=(0, 2)), rtol=1e-14)


# ================================================================== RMSNorm
def _rms(x: np.ndarray, k: int, eps: float) -> np.ndarray:
    axes = tuple(range(x.ndim - k, x.ndim))
    return x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)


def test_rms_norm_values_gradients_and_module(device):
    x = _rand(device, 3, 2, 4, seed=2)
    w = _rand(device, 2, 4, seed=3)
    eps64 = np.finfo(np.float64).eps
    expected = _rms(x.numpy(), 2, eps64) * w.numpy()
    np.testing.assert_allclose(F.rms_norm(x, (2, 4), w).numpy(), expected, rtol=1e-14)
    np.testing.assert_allclose(F.rms_norm(x, 4, eps=0.1).numpy(), _rms(x.numpy(), 1, 0.1), rtol=1e-14)
    _gradchecks(lambda a, b: F.rms_norm(a, (2, 4), b, 1e-3), (x, w))
    zero = _t(np.zeros((1, 3)), device)
    F.rms_norm(zero, (3,)).sum().backward()  # the slope at 0 is 1 / sqrt(eps), as PyTorch's
    np.testing.assert_allclose(zero.grad.numpy(), np.full((1, 3), 1 / math.sqrt(eps64)), rtol=1e-12)

    m = nn.RMSNorm([2, 4], dtype="float64").to(device)
    assert m.normalized_shape == (2, 4) and m.eps is None and list(m.state_dict()) == ["weight"]
    assert repr(m) == "RMSNorm((2, 4), eps=None, elementwise_affine=True)"
    np.testing.assert_allclose(m(x).numpy(), _rms(x.numpy(), 2, eps64), rtol=1e-14)
    plain = nn.RMSNorm(4, eps=1e-5, elementwise_affine=False)
    assert plain.weight is None and list(plain.state_dict()) == [] and plain.eps == 1e-5


def test_rms_norm_of_float16_is_computed_in_float32(device):
    # PyTorch: float32 arithmetic, so the default eps is float32's (float16's, 1e-3, would give 0.30 here)
    x = gk.tensor([[0.01, 0.01, 0.01], [300.0, 200.0, 250.0]], dtype="float16", device=device)
    y = F.rms_norm(x, (3,))
    assert y.dtype == np.float16
    xv = x.numpy().astype(np.float32)
    expected = _rms(xv, 1, float(np.finfo(np.float32).eps)).astype(np.float16)  # 300^2 overflows float16
    np.testing.assert_array_equal(y.numpy(), expected)


# ================================================================== parameter vectors
def test_parameters_to_vector_and_back(device):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)).to(device)
    params = list(model.parameters())
    vec = parameters_to_vector(model.parameters())
    assert vec.shape == (11,) and vec.dtype == np.float32
    np.testing.assert_array_equal(vec.numpy(), np.concatenate([p.numpy().ravel() for p in params]))
    (vec * gk.arange(11, dtype="float32", device=device)).sum().backward()  # differentiable, as PyTorch's
    np.testing.assert_array_equal(params[0].grad.numpy(), np.arange(6.0).reshape(2, 3))

    weight, versions = params[0], [p._version[0] for p in params]
    vector_to_parameters(gk.arange(11, dtype="float64", device=device), model.parameters())
    assert params[0] is weight and all(p.dtype == np.float32 for p in params)  # their memory and dtype
    np.testing.assert_array_equal(params[0].numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(params[3].numpy(), [10.0])
    assert all(p._version[0] > v for p, v in zip(params, versions, strict=True))
    np.testing.assert_array_equal(parameters_to_vector(params).numpy(), np.arange(11.0))
    mixed = parameters_to_vector([gk.ones(2, device=device), gk.zeros(1, dtype="float64", device=device)])
    assert mixed.dtype == np.float64  # promoted, as torch.cat


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: parameters_to_vector([]), gk.InvalidArgumentError, "parameters_to_vector: expected at least one"),
        (lambda: parameters_to_vector([gk.ones(2), [1.0]]), gk.ArgumentTypeError,
         "parameters_to_vector: expected Tensors, got list"),
        (lambda: vector_to_parameters([1.0, 2.0], [gk.ones(2)]), gk.ArgumentTypeError,
         "vector_to_parameters: vec must be a Tensor, got list"),
        (lambda: vector_to_parameters(gk.ones(3), [gk.ones(2)]), gk.ShapeError,
         r"vector_to_parameters: vec of shape \(3,\) does not fit parameters of 2 elements"),
        (lambda: vector_to_parameters(gk.ones(1, 2), [gk.ones(2)]), gk.ShapeError, r"expected \(2,\)"),
    ],
)  # fmt: skip
def test_parameter_vector_errors(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


# ================================================================== losses: closed forms
def _sig_log(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0, -z)


def _stirling(t: np.ndarray) -> np.ndarray:
    safe = np.where(t > 1, t, 1.0)
    return np.where(t > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * np.pi * safe), 0.0)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))


def _multi_margin(x: np.ndarray, y: np.ndarray, p: int, margin: float, w: np.ndarray) -> np.ndarray:
    n, c = x.shape
    z = np.maximum(margin - x[np.arange(n), y][:, None] + x, 0) ** p * w[y][:, None]
    z[np.arange(n), y] = 0
    return z.sum(1) / c


def _loss_cases(device: str):
    """(name, functional, module, kwargs, args, per-element or per-sample expected loss)."""
    rng = np.random.default_rng(10)
    a, b, c = (_rand(device, 5, 4, seed=s) for s in (11, 12, 13))
    av, bv, cv = a.numpy(), b.numpy(), c.numpy()
    var = _t(rng.uniform(0.2, 2.0, (5, 4)), device)
    counts = _t(rng.poisson(2.0, (5, 4)), device, grad=False)
    rate = _t(rng.uniform(0.5, 3.0, (5, 4)), device)
    sign = np.where(rng.uniform(size=(5, 4)) > 0.5, 1.0, -1.0)
    y = _t(sign, device, grad=False)
    rows = gk.tensor(sign[:, 0].astype(np.int64), device=device)
    labels = _t(rng.uniform(size=(5, 4)) > 0.5, device, grad=False)
    w = rng.uniform(0.5, 2.0, 4)
    classes = gk.tensor([0, 3, 1, 1, 2], device=device)
    d = av - bv
    lv, cn = labels.numpy(), counts.numpy()
    return [
        ("gaussian", F.gaussian_nll_loss, nn.GaussianNLLLoss, {}, (a, b, var),
         0.5 * (np.log(var.numpy()) + d * d / var.numpy())),
        ("gaussian_full", F.gaussian_nll_loss, nn.GaussianNLLLoss, dict(full=True), (a, b, var),
         0.5 * (np.log(var.numpy()) + d * d / var.numpy()) + 0.5 * np.log(2 * np.pi)),
        ("poisson", F.poisson_nll_loss, nn.PoissonNLLLoss, {}, (a, counts), np.exp(av) - cn * av),
        ("poisson_rate_full", F.poisson_nll_loss, nn.PoissonNLLLoss, dict(log_input=False, full=True), (rate, counts),
         rate.numpy() - cn * np.log(rate.numpy() + 1e-8) + _stirling(cn)),
        ("margin_ranking", F.margin_ranking_loss, nn.MarginRankingLoss, dict(margin=0.3), (a, b, y),
         np.maximum(0, -sign * d + 0.3)),
        ("hinge_embedding", F.hinge_embedding_loss, nn.HingeEmbeddingLoss, dict(margin=0.7), (a, y),
         np.where(sign == 1, av, np.maximum(0, 0.7 - av))),
        ("soft_margin", F.soft_margin_loss, nn.SoftMarginLoss, {}, (a, y), np.logaddexp(0, -sign * av)),
        ("cosine_embedding", F.cosine_embedding_loss, nn.CosineEmbeddingLoss, dict(margin=-0.2), (a, b, rows),
         np.where(sign[:, 0] == 1, 1 - _cos(av, bv), np.maximum(0, _cos(av, bv) + 0.2))),
        ("triplet", F.triplet_margin_loss, nn.TripletMarginLoss, dict(margin=2.0), (a, b, c),
         np.maximum(0, 2 + np.linalg.norm(d + 1e-6, axis=1) - np.linalg.norm(av - cv + 1e-6, axis=1))),
        ("triplet_swap_p1", F.triplet_margin_loss, nn.TripletMarginLoss, dict(margin=2.0, p=1.0, swap=True),
         (a, b, c), np.maximum(0, 2 + np.abs(d + 1e-6).sum(1) - np.minimum(np.abs(av - cv + 1e-6).sum(1),
                                                                          np.abs(bv - cv + 1e-6).sum(1)))),
        ("multilabel", F.multilabel_soft_margin_loss, nn.MultiLabelSoftMarginLoss, {}, (a, labels),
         -(lv * _sig_log(av) + (1 - lv) * _sig_log(-av)).mean(1)),
        ("multi_margin", F.multi_margin_loss, nn.MultiMarginLoss, {}, (a, classes),
         _multi_margin(av, classes.numpy(), 1, 1.0, np.ones(4))),
        ("multi_margin_p2_weight", F.multi_margin_loss, nn.MultiMarginLoss,
         dict(p=2, margin=0.6, weight=gk.tensor(w, device=device)), (a, classes),
         _multi_margin(av, classes.numpy(), 2, 0.6, w)),
    ]  # fmt: skip


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_closed_forms_reductions_and_modules(device, reduction):
    for name, fn, module, kw, args, expected in _loss_cases(device):
        got = fn(*args, reduction=reduction, **kw)
        np.testing.assert_allclose(got.numpy(), _reduced(expected, reduction), rtol=1e-13, atol=1e-15, err_msg=name)
        np.testing.assert_array_equal(module(reduction=reduction, **kw)(*args).numpy(), got.numpy(), err_msg=name)
        assert got.dtype == np.float64 and got.shape == (() if reduction != "none" else expected.shape), name


def test_losses_gradcheck_first_and_second_order(device):
    for name, fn, _, kw, args, _ in _loss_cases(device):
        try:
            _gradchecks(lambda *a, fn=fn, kw=kw: fn(*a, reduction="sum", **kw), args)
        except gk.GradcheckError as exc:
            raise AssertionError(name) from exc


def test_multilabel_weight_and_integer_targets(device):
    x = _rand(device, 3, 4, seed=14)
    labels = np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 1, 1, 0]])
    w = _t([0.5, 1.0, 2.0, 1.5], device)
    per = -(labels * _sig_log(x.numpy()) + (1 - labels) * _sig_log(-x.numpy()))
    got = F.multilabel_soft_margin_loss(x, gk.tensor(labels, device=device), w, "none")
    np.testing.assert_allclose(got.numpy(), (per * w.numpy()).mean(1), rtol=1e-14)
    assert gk.gradcheck(lambda a, b: F.multilabel_soft_margin_loss(a, labels, b), (x, w))
    assert F.multilabel_soft_margin_loss(x, labels, [1.0, 1.0, 2.0, 1.0]).dtype == np.float64  # a list: x's dtype
    module = nn.MultiLabelSoftMarginLoss(w.detach(), reduction="sum")
    assert list(module.state_dict()) == ["weight"]
    np.testing.assert_allclose(module(x, labels).numpy(), (per * w.numpy()).mean(1).sum(), rtol=1e-14)


def test_gaussian_nll_var_shapes_and_clamp(device):
    x, t = _rand(device, 3, 4, seed=15), _rand(device, 3, 4, seed=16, grad=False)
    d2 = (x.numpy() - t.numpy()) ** 2
    per_row = _t([0.5, 1.0, 2.0], device)  # one variance per row: the input's shape less the last axis
    expected = 0.5 * (np.log(per_row.numpy())[:, None] + d2 / per_row.numpy()[:, None])
    np.testing.assert_allclose(F.gaussian_nll_loss(x, t, per_row, reduction="none").numpy(), expected, rtol=1e-14)
    shared = _t([[0.5, 1.0, 2.0, 4.0]], device)  # one axis of size 1
    expected = 0.5 * (np.log(shared.numpy()) + d2 / shared.numpy())
    np.testing.assert_allclose(F.gaussian_nll_loss(x, t, shared, reduction="none").numpy(), expected, rtol=1e-14)
    assert gk.gradcheck(lambda a, v: F.gaussian_nll_loss(a, t, v, reduction="sum"), (x, per_row))
    np.testing.assert_allclose(F.gaussian_nll_loss(x, t, 2, reduction="sum").numpy(),
                               (0.5 * (np.log(2) + d2 / 2)).sum(), rtol=1e-14)
    # below eps the variance is clamped, but its gradient is the unclamped formula's at eps (PyTorch's)
    v = _t([1e-9, 0.5], device)
    u = _t([1.0, 2.0], device)
    F.gaussian_nll_loss(u, [0.0, 0.0], v, reduction="sum").backward()
    np.testing.assert_allclose(v.grad.numpy(), [0.5 * (1e6 - 1e12), 0.5 * (2 - 16)], rtol=1e-12)
    np.testing.assert_allclose(u.grad.numpy(), [1e6, 4.0], rtol=1e-12)


def test_soft_margin_and_multilabel_stay_finite_at_huge_inputs(device):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way
        for dtype in ("float32", "float64"):
            x = _t([-1e4, 1e4, -50.0, 0.0], device, dtype)
            y = gk.tensor([1, 1, -1, 1], device=device)
            loss = F.soft_margin_loss(x, y, "none")
            loss.sum().backward()
            assert loss.dtype == np.dtype(dtype) and x.grad.dtype == np.dtype(dtype)
            np.testing.assert_allclose(loss.numpy(), [1e4, 0.0, math.exp(-50), math.log(2)], rtol=1e-6, atol=0)
            # gk.sigmoid's tail is exact only to about 1e-16 absolute: tanh(x / 2) / 2 + 1/2
            np.testing.assert_allclose(x.grad.numpy(), [-1.0, 0.0, math.exp(-50), -0.5], rtol=1e-6, atol=1e-15)
            big = F.multilabel_soft_margin_loss(_t([[-1e4, 1e4]], device, dtype), [[1, 0]], reduction="none")
            np.testing.assert_allclose(big.numpy(), [1e4], rtol=1e-6)


def test_gradients_at_the_kinks_are_pytorchs(device):
    # PyTorch's clamp_min passes the gradient where the hinge is exactly 0 (margin ranking, hinge embedding,
    # cosine embedding, triplet); the multi-margin kernel does not (read from torch 2.13).
    a, b = _t([1.0, 2.0, 3.0], device), _t([1.0, 1.0, 1.0], device)
    t = _t([1.0, 1.0, -1.0], device)
    F.margin_ranking_loss(a, b, t, reduction="sum").backward()
    np.testing.assert_array_equal(a.grad.numpy(), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.0, -2.0])
    x = _t([1.0, 0.5, 3.0, -1.0], device)
    F.hinge_embedding_loss(x, [-1, -1, 1, 2], reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, -1.0, 1.0, 0.0])  # a target of 2: both terms
    s = _t([[1.0, 0.0, 2.0]], device)
    F.multi_margin_loss(s, [0], reduction="sum").backward()
    np.testing.assert_allclose(s.grad.numpy(), [[-1 / 3, 0.0, 1 / 3]], rtol=1e-15)
    zero = _t(np.zeros((2, 3)), device)
    F.cosine_embedding_loss(zero, gk.ones(2, 3, dtype="float64", device=device), [1, -1], reduction="sum").backward()
    np.testing.assert_allclose(zero.grad.numpy()[1], np.full(3, 1 / math.sqrt(3e-12 + 1e-24)), rtol=1e-9)


# ------------------------------------------------------------------ modules and errors
def test_loss_modules_attributes_repr_and_deprecated_arguments():
    assert repr(nn.GaussianNLLLoss()) == "GaussianNLLLoss(reduction='mean', full=False, eps=1e-06)"
    assert repr(nn.TripletMarginLoss(swap=True)) == (
        "TripletMarginLoss(reduction='mean', margin=1.0, p=2.0, eps=1e-06, swap=True)"
    )
    assert repr(nn.MultiMarginLoss(2)) == "MultiMarginLoss(reduction='mean', p=2, margin=1.0)"
    assert repr(nn.HingeEmbeddingLoss()) == "HingeEmbeddingLoss(reduction='mean', margin=1.0)"
    p = nn.PoissonNLLLoss(False, True, None, 1e-5, None, "sum")  # PyTorch's positional order
    assert (p.log_input, p.full, p.eps, p.reduction) == (False, True, 1e-5, "sum")
    assert nn.MultiMarginLoss(2, 0.5, gk.ones(3)).margin == 0.5
    assert list(nn.MultiMarginLoss(weight=[1.0, 2.0]).state_dict()) == ["weight"]
    assert nn.CosineEmbeddingLoss(0.1).margin == 0.1 and nn.MarginRankingLoss(0.2).margin == 0.2
    with pytest.raises(TypeError):
        nn.GaussianNLLLoss(True)  # keyword only, as PyTorch
    for cls in (nn.PoissonNLLLoss, nn.MarginRankingLoss, nn.HingeEmbeddingLoss, nn.SoftMarginLoss,
                nn.CosineEmbeddingLoss, nn.TripletMarginLoss, nn.MultiLabelSoftMarginLoss, nn.MultiMarginLoss):
        with pytest.warns(UserWarning, match=f"{cls.__name__}: size_average and reduce are deprecated.*'none'"):
            assert cls(reduce=False).reduction == "none"
        with pytest.raises(gk.InvalidArgumentError, match=f"{cls.__name__}: reduction must be"):
            cls(reduction="avg")


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: F.prelu(gk.ones(2, 3), gk.ones(2)), gk.ShapeError,
         r"prelu: weight of shape \(2,\) does not fit input of shape \(2, 3\) .*\(3,\)"),
        (lambda: F.prelu(gk.ones(2, 3), gk.ones(1, 3)), gk.ShapeError, "prelu: weight of shape"),
        (lambda: F.prelu(gk.ones(2, 3), gk.ones(3, dtype="float64")), gk.DTypeError, "prelu: input .* same dtype"),
        (lambda: F.prelu(gk.ones(2), [0.25]), gk.ArgumentTypeError, "prelu: weight must be a Tensor"),
        (lambda: nn.PReLU(0), gk.InvalidArgumentError, "PReLU: num_parameters must be an int >= 1"),
        (lambda: F.rms_norm(gk.ones(2, 3), (2,)), gk.ShapeError, r"rms_norm: normalized_shape \(2,\) does not match"),
        (lambda: F.rms_norm(gk.ones(2, 3), (3,), gk.ones(2)), gk.ShapeError, r"rms_norm: weight of shape \(2,\)"),
        (lambda: F.rms_norm(gk.ones(2, 3), (3,), eps=-1.0), gk.InvalidArgumentError, "rms_norm: eps must be >= 0"),
        (lambda: nn.RMSNorm("4"), gk.ArgumentTypeError, "RMSNorm: normalized_shape must be an int or a tuple"),
        (lambda: F.gaussian_nll_loss(gk.ones(2, 3), gk.ones(2, 3), gk.ones(3)), gk.ShapeError,
         r"gaussian_nll_loss: var of shape \(3,\) does not fit input of shape \(2, 3\)"),
        (lambda: F.gaussian_nll_loss(gk.ones(2), gk.ones(2), gk.tensor([1.0, -1.0])), gk.InvalidArgumentError,
         "gaussian_nll_loss: every element of var must be >= 0"),
        (lambda: F.gaussian_nll_loss(gk.ones(2), gk.ones(2), -1.0), gk.InvalidArgumentError,
         "gaussian_nll_loss: var must be >= 0"),
        (lambda: F.gaussian_nll_loss(gk.ones(2, 1), gk.ones(2), 1.0), gk.ShapeError,
         r"gaussian_nll_loss: target of shape \(2,\) must broadcast to the input's shape \(2, 1\)"),
        (lambda: F.poisson_nll_loss(gk.ones(2), gk.ones(3)), gk.ShapeError,
         r"poisson_nll_loss: target of shape \(3,\) must have the input's shape \(2,\)"),
        (lambda: F.poisson_nll_loss(gk.ones(2), gk.ones(2, dtype="float64")), gk.DTypeError,
         r"poisson_nll_loss: target \(float64\) must have the input's dtype \(float32\)"),
        (lambda: F.poisson_nll_loss(gk.ones(2), gk.ones(2), log_input="no"), gk.ArgumentTypeError,
         "poisson_nll_loss: log_input must be True or False"),
        (lambda: F.margin_ranking_loss(gk.ones(2), gk.ones(3), gk.ones(2)), gk.ShapeError,
         r"margin_ranking_loss: input1 of shape \(2,\) and input2 of shape \(3,\)"),
        (lambda: F.margin_ranking_loss(gk.ones(2), gk.ones(2), gk.ones(2), "sum"), gk.ArgumentTypeError,
         "margin_ranking_loss: margin must be a number"),
        (lambda: F.hinge_embedding_loss(gk.tensor([1, 2]), gk.ones(2)), gk.DTypeError,
         "hinge_embedding_loss: input must be a float tensor"),
        (lambda: F.soft_margin_loss(gk.ones(2), gk.ones(2), "avg"), gk.InvalidArgumentError,
         "soft_margin_loss: reduction must be"),
        (lambda: F.cosine_embedding_loss(gk.ones(2, 3), gk.ones(2, 3), gk.ones(3)), gk.ShapeError,
         r"cosine_embedding_loss: target of shape \(3,\) does not fit input of shape \(2, 3\) \(expected \(2,\)\)"),
        (lambda: F.cosine_embedding_loss(gk.ones(2, 2, 3), gk.ones(2, 2, 3), gk.ones(2)), gk.ShapeError,
         r"cosine_embedding_loss: input1 .* \(N, D\) or \(D,\)"),
        (lambda: F.triplet_margin_loss(gk.ones(2, 3), gk.ones(3), gk.ones(2, 3)), gk.ShapeError,
         "triplet_margin_loss: expected tensors with one number of dimensions"),
        (lambda: F.triplet_margin_loss(gk.ones(2, 3), gk.ones(2, 3), gk.ones(2, 3), margin=0.0),
         gk.InvalidArgumentError, "triplet_margin_loss: margin must be > 0"),
        (lambda: nn.TripletMarginLoss(p=0), gk.InvalidArgumentError, "TripletMarginLoss: p must be > 0"),
        (lambda: F.triplet_margin_loss(gk.ones(2, 3), gk.ones(2, 3), gk.ones(2, 3, dtype="float64")),
         gk.DTypeError, r"triplet_margin_loss: anchor \(float32\) and negative \(float64\)"),
        (lambda: F.multilabel_soft_margin_loss(gk.ones(2, 3), gk.ones(2, 3), "sum"), gk.ArgumentTypeError,
         "multilabel_soft_margin_loss: weight must be a tensor or None, got str 'sum'"),
        (lambda: F.multilabel_soft_margin_loss(gk.ones(2, 3), gk.ones(2, 3), gk.ones(2)), gk.ShapeError,
         r"multilabel_soft_margin_loss: weight of shape \(2,\) does not broadcast"),
        (lambda: F.multi_margin_loss(gk.ones(2, 3), [0, 3]), gk.IndexOutOfRangeError,
         "multi_margin_loss: target 3 is out of range"),
        (lambda: F.multi_margin_loss(gk.ones(2, 3), gk.ones(2)), gk.DTypeError, "multi_margin_loss: targets must be"),
        (lambda: F.multi_margin_loss(gk.ones(2, 3), [0, 1, 2]), gk.ShapeError,
         r"multi_margin_loss: targets of shape \(3,\) do not fit input of shape \(2, 3\) \(expected \(2,\)\)"),
        (lambda: F.multi_margin_loss(gk.ones(2, 3), [0, 1], p=3), gk.InvalidArgumentError,
         "multi_margin_loss: p must be 1 or 2, got 3"),
        (lambda: nn.MultiMarginLoss(weight=gk.ones(2, 2)), gk.ShapeError, "MultiMarginLoss: weight must hold one"),
        (lambda: F.multi_margin_loss(gk.ones(2, 3), [0, 1], weight=gk.ones(2)), gk.ShapeError,
         r"multi_margin_loss: weight must hold one number per class, shape \(3,\)"),
    ],
)  # fmt: skip
def test_argument_errors(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_a_training_step_with_the_new_modules(device):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.PReLU(8), nn.RMSNorm(8), nn.Linear(8, 3)).to(device)
    opt = gk.optim.SGD(model.parameters(), lr=0.1)
    x, y = gk.randn(16, 4, device=device), gk.randint(0, 3, (16,), device=device)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        scores = model(x)
        loss = nn.MultiMarginLoss()(scores, y) + nn.MultiLabelSoftMarginLoss()(scores, F.one_hot(y, 3))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


# ================================================================== parity with PyTorch (when installed)
def _torch():
    return pytest.importorskip("torch")


def _parity(device, ours, theirs, arrays, grads, tol=1e-12, name=""):
    """Values and gradients (of the arrays at positions ``grads``) of two callables on the same data."""
    torch = _torch()
    g = [gk.tensor(a, device=device, requires_grad=i in grads) for i, a in enumerate(arrays)]
    t = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    out, tout = ours(*g), theirs(*t)
    cot = np.random.default_rng(40).standard_normal(tuple(tout.shape)).astype(arrays[0].dtype)
    out.backward(gk.tensor(cot, device=device))
    tout.backward(torch.tensor(cot))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=tol, atol=tol, err_msg=name)
    for i in grads:
        np.testing.assert_allclose(g[i].grad.numpy(), t[i].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_prelu_and_rms_norm_match_pytorch(device):
    torch = _torch()
    rng = np.random.default_rng(41)
    x = rng.standard_normal((3, 4, 5))
    x[0, 0, :2] = 0.0
    tf = torch.nn.functional
    _parity(device, F.prelu, tf.prelu, [x, rng.uniform(-1, 1, 4)], (0, 1), name="prelu per channel")
    _parity(device, F.prelu, tf.prelu, [x[0, 0], np.array([0.3])], (0, 1), name="prelu 1-d")
    for eps in (None, 1e-3):
        _parity(device, lambda a, w, e=eps: F.rms_norm(a, (4, 5), w, e),
                lambda a, w, e=eps: tf.rms_norm(a, (4, 5), w, e), [x, rng.standard_normal((4, 5))], (0, 1),
                name=f"rms_norm {eps}")
    assert repr(nn.PReLU(3)) == repr(torch.nn.PReLU(3))
    assert repr(nn.RMSNorm([2, 3], 1e-5, False)) == repr(torch.nn.RMSNorm([2, 3], 1e-5, False))
    for ours, theirs in ((nn.PReLU(3), torch.nn.PReLU(3)), (nn.RMSNorm(4), torch.nn.RMSNorm(4))):
        sd, tsd = ours.state_dict(), theirs.state_dict()
        assert list(sd) == list(tsd)
        np.testing.assert_array_equal(sd["weight"].numpy(), tsd["weight"].numpy())
    half = x.astype(np.float16)
    np.testing.assert_array_equal(F.rms_norm(gk.tensor(half, device=device), (5,)).numpy(),
                                  tf.rms_norm(torch.tensor(half), (5,)).numpy())


def test_losses_match_pytorch(device):
    torch = _torch()
    rng = np.random.default_rng(42)
    a, b, c = rng.standard_normal((6, 4)), rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    sign = np.where(rng.uniform(size=(6, 4)) > 0.5, 1.0, -1.0)
    var = rng.uniform(0.1, 2.0, (6, 4))
    var[0, 0] = 1e-9  # clamped at eps
    counts = rng.poisson(2.0, (6, 4)).astype(np.float64)
    labels = (rng.uniform(size=(6, 4)) > 0.5).astype(np.float64)
    classes = rng.integers(0, 4, 6)
    w = rng.uniform(0.5, 2.0, 4)
    cases = [  # (module name, kwargs, arrays, positions that get gradients)
        ("GaussianNLLLoss", {}, [a, b, var], (0, 1, 2)),
        ("GaussianNLLLoss", dict(full=True), [a, b, var[:, 0]], (0, 1, 2)),
        ("GaussianNLLLoss", {}, [a, b[:, :1], var[:1]], (0, 1, 2)),
        ("PoissonNLLLoss", {}, [a, counts], (0, 1)),
        ("PoissonNLLLoss", dict(log_input=False, full=True, eps=1e-4), [np.abs(a), counts + 2], (0, 1)),
        ("MarginRankingLoss", dict(margin=0.2), [a, b, sign], (0, 1, 2)),
        ("HingeEmbeddingLoss", dict(margin=0.5), [a, sign], (0,)),
        ("SoftMarginLoss", {}, [a, sign], (0,)),
        ("CosineEmbeddingLoss", dict(margin=0.1), [a, b, sign[:, 0]], (0, 1)),
        ("TripletMarginLoss", {}, [a, b, c], (0, 1, 2)),
        ("TripletMarginLoss", dict(margin=0.5, p=3.0, swap=True), [a, b, c], (0, 1, 2)),
        ("TripletMarginLoss", dict(p=math.inf), [a, b[:1], c], (0, 1, 2)),
        ("MultiLabelSoftMarginLoss", dict(weight=w), [a, labels], (0, 1)),
        ("MultiMarginLoss", {}, [a, classes], (0,)),
        ("MultiMarginLoss", dict(p=2, margin=0.7, weight=w), [a, classes], (0,)),
        ("MultiMarginLoss", {}, [a[0], np.array(2)], (0,)),
    ]  # fmt: skip
    for name, kw, arrays, grads in cases:
        for reduction in ("mean", "sum", "none"):
            gkw = {k: gk.tensor(v, device=device) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
            tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
            ours = getattr(nn, name)(reduction=reduction, **gkw)
            theirs = getattr(torch.nn, name)(reduction=reduction, **tkw)
            _parity(device, ours, theirs, arrays, grads, name=f"{name} {kw} {reduction}")
            assert list(ours.state_dict()) == list(theirs.state_dict())
    # the functional forms, positionally (gradkit's F drops PyTorch's size_average and reduce)
    tf = torch.nn.functional
    _parity(device, lambda u, v, s: F.gaussian_nll_loss(u, v, s, True, 1e-3, "sum"),
            lambda u, v, s: tf.gaussian_nll_loss(u, v, s, True, 1e-3, "sum"), [a, b, var], (0, 2))
    _parity(device, lambda u, v: F.poisson_nll_loss(u, v, False, False, 1e-3, "sum"),
            lambda u, v: tf.poisson_nll_loss(u, v, False, False, reduction="sum", eps=1e-3), [np.abs(a), counts], (0,))
    _parity(device, lambda u, v, y: F.triplet_margin_loss(u, v, y, 0.3, 1.0, 1e-3, True, "none"),
            lambda u, v, y: tf.triplet_margin_loss(u, v, y, 0.3, 1.0, 1e-3, True, reduction="none"), [a, b, c],
            (0, 1, 2))
    _parity(device, lambda u, y: F.multi_margin_loss(u, y, 2, 0.5, gk.tensor(w, device=device), "none"),
            lambda u, y: tf.multi_margin_loss(u, y, 2, 0.5, torch.tensor(w), reduction="none"), [a, classes], (0,))
    _parity(device, lambda u, y: F.multilabel_soft_margin_loss(u, y, gk.tensor(w, device=device), "sum"),
            lambda u, y: tf.multilabel_soft_margin_loss(u, y, torch.tensor(w), reduction="sum"), [a, labels], (0,))
