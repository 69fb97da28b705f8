"""Fixes from a review against PyTorch 2.13: cross_entropy / nll_loss with every target ignored (NaN loss,
zero gradient), PyTorch's other cross-entropy shapes (K-dimensional, unbatched, class probabilities),
integer targets of mse/l1/BCE-with-logits, margin_ranking_loss broadcasting, and load_state_dict with
another library's arrays (a PyTorch state dict).

Gradients against central differences (float64) and, where torch is importable, values and gradients
against PyTorch.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn
from gradkit.nn import functional as F


def _t(data, device: str, dtype: str = "float64", grad: bool = False):
    return gk.tensor(np.asarray(data, dtype=dtype), device=device, requires_grad=grad)


def _rand(device: str, *shape: int, seed: int = 0, dtype: str = "float64"):
    return _t(np.random.default_rng(seed).standard_normal(shape), device, dtype, grad=True)


def _labels(device: str, shape: tuple, classes: int, seed: int = 1, ignored: int = 0, ignore_index: int = -100):
    """Integer targets of ``shape`` in [0, classes); the first ``ignored`` of them (flat order) ``ignore_index``."""
    t = np.random.default_rng(seed).integers(0, classes, shape)
    t.reshape(-1)[:ignored] = ignore_index
    return gk.tensor(t, device=device)


def _grad_of(loss_fn, x):
    x.grad = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 or 0 * inf warnings on the way
        loss = loss_fn(x)
        loss.backward()
    return loss, x.grad.numpy()


# ================================================================== every target ignored
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize(
    "call",
    [
        lambda x, t: F.cross_entropy(x, t),
        lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
        lambda x, t: F.cross_entropy(x, t, weight=[1.0, 2.0, 0.5, 1.0]),
        lambda x, t: F.cross_entropy(x, t, weight=[1.0, 2.0, 0.5, 1.0], label_smoothing=0.3),
        lambda x, t: F.nll_loss(F.log_softmax(x, 1), t),
        lambda x, t: F.nll_loss(x, t, weight=[1.0, 2.0, 0.5, 1.0]),
        lambda x, t: nn.CrossEntropyLoss(label_smoothing=0.2)(x, t),
    ],
    ids=["ce", "ce_smoothing", "ce_weight", "ce_weight_smoothing", "nll", "nll_weight", "module"],
)
def test_all_targets_ignored_gives_nan_loss_and_zero_gradient(device, call, dtype):
    x = _rand(device, 3, 4, dtype=dtype)
    loss, g = _grad_of(lambda x: call(x, gk.tensor([-100, -100, -100], device=device)), x)
    assert np.isnan(loss.item()) and loss.dtype == np.dtype(dtype)
    assert g.dtype == np.dtype(dtype) and np.array_equal(g, np.zeros((3, 4)))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
def test_zero_total_weight_gives_nan_loss_and_zero_gradient(device, fn):
    # PyTorch gives a NaN gradient here (0 * inf); gradkit's is zero, as for ignored targets.
    x = _rand(device, 3, 4)
    loss, g = _grad_of(lambda x: fn(x, gk.tensor([0, 0, 0], device=device), weight=[0.0, 1.0, 1.0, 1.0]), x)
    assert np.isnan(loss.item()) and np.array_equal(g, np.zeros((3, 4)))


def test_all_ignored_k_dimensional_and_higher_order(device):
    x = _rand(device, 2, 4, 3)
    t = gk.full((2, 3), -100, dtype="int64", device=device)
    loss, g = _grad_of(lambda x: F.cross_entropy(x, t), x)
    assert np.isnan(loss.item()) and np.array_equal(g, np.zeros((2, 4, 3)))
    (first,) = gk.autograd.grad(F.cross_entropy(x, t), x, create_graph=True)
    (second,) = gk.autograd.grad(first.sum(), x)
    assert np.array_equal(first.numpy(), np.zeros((2, 4, 3))) and np.array_equal(second.numpy(), np.zeros((2, 4, 3)))


def test_some_targets_ignored_keeps_the_mean_over_the_rest(device):
    x = _rand(device, 4, 3)
    t = gk.tensor([-100, 2, -100, 0], device=device)
    kept = F.cross_entropy(x, t)
    rows = F.cross_entropy(x, t, reduction="none").numpy()
    np.testing.assert_allclose(kept.item(), rows.sum() / 2, rtol=1e-12)
    assert gk.gradcheck(lambda x: F.cross_entropy(x, t, label_smoothing=0.2), (x,))


def test_all_ignored_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((3, 4))
    for kw in ({}, {"label_smoothing": 0.1}):
        g = gk.tensor(x, requires_grad=True)
        F.cross_entropy(g, gk.tensor([-100] * 3), **kw).backward()
        tx = torch.tensor(x, requires_grad=True)
        tl = torch.nn.functional.cross_entropy(tx, torch.tensor([-100] * 3), **kw)
        tl.backward()
        assert np.isnan(tl.item())
        np.testing.assert_array_equal(g.grad.numpy(), tx.grad.numpy())


# ================================================================== other cross-entropy shapes
def test_k_dimensional_is_the_rows_of_class_vectors(device):
    x = _rand(device, 2, 4, 3, 2)
    t = _labels(device, (2, 3, 2), 4)
    rows = gk.moveaxis(x, 1, -1).reshape(-1, 4)
    for reduction in ("mean", "sum", "none"):
        a = F.cross_entropy(x, t, reduction)
        b = F.cross_entropy(rows, t.reshape(-1), reduction)
        np.testing.assert_allclose(a.numpy().reshape(-1), b.numpy().reshape(-1), rtol=1e-12)
        assert a.shape == ((2, 3, 2) if reduction == "none" else ())
    assert F.nll_loss(x, t, "none").shape == (2, 3, 2)


def test_unbatched_input_takes_a_0d_target(device):
    x = _rand(device, 5)
    t = gk.tensor(3, device=device)
    for reduction in ("mean", "sum", "none"):
        loss = F.cross_entropy(x, t, reduction)
        assert loss.shape == ()
        np.testing.assert_allclose(loss.item(), -F.log_softmax(x, 0).numpy()[3], rtol=1e-12)
        assert F.nll_loss(F.log_softmax(x, 0), t, reduction).shape == ()
    assert gk.gradcheck(lambda x: F.cross_entropy(x, t, label_smoothing=0.1), (x,))


@pytest.mark.parametrize(
    "kw",
    [{}, {"label_smoothing": 0.2}, {"weight": [0.5, 2.0, 1.0, 3.0]}, {"ignore_index": 1},
     {"weight": [0.5, 2.0, 1.0, 3.0], "ignore_index": -100, "label_smoothing": 0.3}],
)  # fmt: skip
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_k_dimensional_gradients(device, kw, reduction):
    x = _rand(device, 2, 4, 3)
    ignore_index = kw.get("ignore_index", -100)
    t = _labels(device, (2, 3), 4, ignored=2, ignore_index=ignore_index)

    def f(x):
        return F.cross_entropy(x, t, reduction, **kw)

    assert gk.gradcheck(f, (x,))
    w = kw.get("weight")
    assert gk.gradcheck(lambda x: F.nll_loss(F.log_softmax(x, 1), t, reduction, weight=w, ignore_index=ignore_index),
                        (x,))  # fmt: skip


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.25}, {"weight": [0.5, 2.0, 1.0, 3.0]}])
def test_probability_targets_gradients(device, reduction, kw):
    x = _rand(device, 3, 4, 2)
    p = gk.softmax(_rand(device, 3, 4, 2, seed=5), 1).detach().requires_grad_()
    assert gk.gradcheck(lambda x, p: F.cross_entropy(x, p, reduction, **kw), (x, p))
    x1, p1 = _rand(device, 4), gk.softmax(_rand(device, 4, seed=5), 0).detach().requires_grad_()
    assert gk.gradcheck(lambda x, p: F.cross_entropy(x, p, reduction, **kw), (x1, p1))


def test_probability_targets_of_one_hot_are_class_indices(device):
    x = _rand(device, 5, 3)
    idx = gk.tensor([0, 2, 1, 1, 0], device=device)
    hot = F.one_hot(idx, 3).astype("float64")
    for reduction in ("mean", "sum", "none"):
        soft, hard = F.cross_entropy(x, hot, reduction), F.cross_entropy(x, idx, reduction)
        np.testing.assert_allclose(soft.numpy(), hard.numpy(), rtol=1e-12)
    assert F.cross_entropy(x.astype("float32"), [[1.0, 0.0, 0.0]] * 5).dtype == np.float32  # a constant: converted


def test_shape_and_target_errors(device):
    x = _rand(device, 2, 4, 3)
    with pytest.raises(gk.ShapeError, match=r"cross_entropy: targets of shape \(2, 4\) do not fit input of shape "
                                            r"\(2, 4, 3\) \(expected \(2, 3\)"):  # fmt: skip
        F.cross_entropy(x, gk.zeros((2, 4), dtype="int64", device=device))
    with pytest.raises(gk.ShapeError, match=r"nll_loss: targets of shape \(1,\) do not fit input of shape \(4,\)"):
        F.nll_loss(_rand(device, 4), gk.tensor([0], device=device))
    with pytest.raises(gk.ShapeError, match=r"cross_entropy: input must have shape \(N, C\), \(C,\)"):
        F.cross_entropy(_rand(device, 1).sum(), gk.tensor(0, device=device))
    with pytest.raises(gk.DTypeError, match=r"integer class indices.*class probabilities of the input's shape"):
        F.cross_entropy(x, gk.zeros((2, 3), device=device))
    with pytest.raises(gk.DTypeError, match=r"probability targets \(float32\) must have the input's dtype \(float64\)"):
        F.cross_entropy(x, gk.zeros((2, 4, 3), dtype="float32", device=device))
    with pytest.raises(gk.InvalidArgumentError, match="ignore_index \\(1\\) cannot be used with class-probability"):
        F.cross_entropy(x, gk.zeros((2, 4, 3), dtype="float64", device=device), ignore_index=1)
    with pytest.raises(gk.IndexOutOfRangeError, match="target 4"):
        F.cross_entropy(x, gk.full((2, 3), 4, dtype="int64", device=device)).item()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "kw",
    [{}, {"label_smoothing": 0.2}, {"weight": [0.5, 2.0, 1.0, 3.0]}, {"ignore_index": 2},
     {"weight": [0.5, 2.0, 1.0, 3.0], "label_smoothing": 0.3}],
)  # fmt: skip
def test_shapes_match_pytorch(kw, reduction):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(3)
    tkw = {k: (torch.tensor(v, dtype=torch.float64) if k == "weight" else v) for k, v in kw.items()}
    soft_kw = {k: v for k, v in kw.items() if k != "ignore_index"}
    soft_tkw = {k: v for k, v in tkw.items() if k != "ignore_index"}
    cases = [
        ((2, 4, 3, 2), rng.integers(-1, 4, (2, 3, 2)), kw, tkw),  # -1 stands for ignore_index
        ((4,), np.array(1), kw, tkw),
        ((3, 4), rng.dirichlet(np.ones(4), 3), soft_kw, soft_tkw),
        ((2, 4, 3), np.moveaxis(rng.dirichlet(np.ones(4), (2, 3)), -1, 1), soft_kw, soft_tkw),
        ((4,), rng.dirichlet(np.ones(4)), soft_kw, soft_tkw),
    ]
    for shape, target, gkw, tokw in cases:
        if target.dtype.kind == "i":
            target = np.where(target < 0, kw.get("ignore_index", -100), target)
        x = rng.standard_normal(shape)
        for fn, tfn in ((F.cross_entropy, tf.cross_entropy), (F.nll_loss, tf.nll_loss)):
            if fn is F.nll_loss and (target.dtype.kind == "f" or "label_smoothing" in gkw):
                continue
            g = gk.tensor(x, requires_grad=True)
            loss = fn(g, gk.tensor(target), reduction, **gkw)
            tx = torch.tensor(x, requires_grad=True)
            tl = tfn(tx, torch.tensor(target), reduction=reduction, **tokw)
            np.testing.assert_allclose(loss.numpy(), tl.detach().numpy(), rtol=1e-10, atol=1e-12)
            seed = np.random.default_rng(4).standard_normal(tl.shape)
            loss.backward(gk.tensor(seed))
            tl.backward(torch.tensor(seed))
            np.testing.assert_allclose(g.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_probability_target_gradient_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x, p = rng.standard_normal((3, 5)), rng.dirichlet(np.ones(5), 3)
    gp = gk.tensor(p, requires_grad=True)
    F.cross_entropy(gk.tensor(x), gp, label_smoothing=0.1).backward()
    tp = torch.tensor(p, requires_grad=True)
    torch.nn.functional.cross_entropy(torch.tensor(x), tp, label_smoothing=0.1).backward()
    np.testing.assert_allclose(gp.grad.numpy(), tp.grad.numpy(), rtol=1e-10)


# ================================================================== integer targets
@pytest.mark.parametrize(
    "fn", [F.mse_loss, F.l1_loss, F.binary_cross_entropy_with_logits, F.huber_loss, F.smooth_l1_loss],
    ids=["mse", "l1", "bce_logits", "huber", "smooth_l1"],
)  # fmt: skip
@pytest.mark.parametrize("label_dtype", ["int64", "int32", "bool"])
def test_integer_targets_take_the_inputs_dtype(device, fn, label_dtype):
    x = gk.tensor(np.random.default_rng(0).standard_normal((4, 3)), dtype="float32", device=device,
                  requires_grad=True)  # fmt: skip
    labels = np.array([[0, 1, 1]] * 4)
    loss = fn(x, gk.tensor(labels.astype(label_dtype), device=device))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), fn(x, gk.tensor(labels, dtype="float32", device=device)).item())


def test_integer_targets_match_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    y = np.array([[0, 1, 1]] * 4)
    for fn, tfn in ((F.mse_loss, torch.nn.functional.mse_loss), (F.l1_loss, torch.nn.functional.l1_loss),
                    (F.smooth_l1_loss, torch.nn.functional.smooth_l1_loss)):  # fmt: skip
        loss, tl = fn(gk.tensor(x), gk.tensor(y)), tfn(torch.tensor(x), torch.tensor(y))
        assert str(tl.dtype) == f"torch.{loss.dtype}"
        np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-6)


def test_probability_losses_still_refuse_integer_targets():
    # As PyTorch's: binary_cross_entropy and kl_div take float targets only.
    with pytest.raises(gk.DTypeError, match=r"binary_cross_entropy: target \(int64\)"):
        F.binary_cross_entropy(gk.full((2,), 0.5), gk.tensor([1, 0]))
    with pytest.raises(gk.DTypeError, match=r"kl_div: target \(int64\)"):
        F.kl_div(gk.zeros(2), gk.tensor([1, 0]), "sum")


# ================================================================== margin_ranking_loss
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_margin_ranking_loss_broadcasts(device, reduction):
    a, b = _rand(device, 3, 1), _rand(device, 1, 4, seed=1)
    t = gk.tensor([[1, -1, 1, -1]], device=device)
    loss = F.margin_ranking_loss(a, b, t, 0.1, reduction)
    expected = np.maximum(0, -t.numpy() * (a.numpy() - b.numpy()) + 0.1)
    np.testing.assert_allclose(loss.numpy(), expected if reduction == "none" else getattr(expected, reduction)())
    assert gk.gradcheck(lambda a, b: F.margin_ranking_loss(a, b, t, 0.1, reduction), (a, b))
    assert nn.MarginRankingLoss(0.1, reduction=reduction)(a, b, t).shape == loss.shape


def test_margin_ranking_loss_shape_errors(device):
    a = _rand(device, 3, 1)
    with pytest.raises(gk.ShapeError, match=r"input1 of shape \(3, 1\), input2 of shape \(4,\) and target of shape "
                                            r"\(4,\) must have one number of dimensions"):  # fmt: skip
        F.margin_ranking_loss(a, _rand(device, 4), gk.ones(4, device=device))
    with pytest.raises(gk.ShapeError, match=r"input1 of shape \(3, 1\) and input2 of shape \(2, 4\) do not broadcast"):
        F.margin_ranking_loss(a, _rand(device, 2, 4), gk.ones((1, 1), device=device))
    with pytest.raises(gk.ShapeError, match=r"target of shape \(2, 1\) does not broadcast with the inputs' shape "
                                            r"\(3, 4\)"):  # fmt: skip
        F.margin_ranking_loss(a, _rand(device, 1, 4), gk.ones((2, 1), device=device))


def test_margin_ranking_loss_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a, b, t = rng.standard_normal((3, 1)), rng.standard_normal((1, 4)), np.array([[1, -1, 1, 1]])
    ga, gb = gk.tensor(a, requires_grad=True), gk.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    loss = F.margin_ranking_loss(ga, gb, gk.tensor(t), 0.2)
    tl = torch.nn.functional.margin_ranking_loss(ta, tb, torch.tensor(t), 0.2)
    loss.backward()
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-12)
    np.testing.assert_allclose(ga.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gb.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


# ================================================================== load_state_dict of foreign arrays
class _ArrayLike:
    """An object that only has NumPy's ``__array__`` (as many libraries' arrays do)."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a if dtype is None else self.a.astype(dtype)


class _DLPackOnly:
    """An object that only has DLPack's protocol, on the CPU."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def __dlpack__(self, **kwargs):
        return self.a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


def test_load_state_dict_takes_array_protocols(device):
    m = nn.Linear(2, 3).to(device)
    w = np.arange(6.0).reshape(3, 2)
    m.load_state_dict({"weight": _ArrayLike(w), "bias": _DLPackOnly(np.array([1.0, 2.0, 3.0]))})
    np.testing.assert_array_equal(m.weight.numpy(), w)
    np.testing.assert_array_equal(m.bias.numpy(), [1.0, 2.0, 3.0])
    opaque = type("Opaque", (), {"__module__": "mylib"})()
    with pytest.raises(gk.ArgumentTypeError, match=r'the value for "weight" is a mylib\.Opaque, expected a Tensor, '
                                                   "an array or an object with __dlpack__"):  # fmt: skip
        m.load_state_dict({"weight": opaque, "bias": w[0]})
    with pytest.raises(gk.DTypeError, match='"weight"'):
        m.load_state_dict({"weight": _ArrayLike(np.array([["a", "b"]] * 3)), "bias": np.zeros(3)})


def test_load_state_dict_of_a_pytorch_module(device):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(device)
    m.load_state_dict(tm.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(m(gk.tensor(x, device=device)).numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    with pytest.raises(gk.ArgumentTypeError, match=r'"0\.weight" is a torch\.nn\.parameter\.Parameter that gradkit '
                                                   r"cannot read .*\.detach\(\)\.cpu\(\)\.numpy\(\)"):  # fmt: skip
        m.load_state_dict(tm.state_dict(keep_vars=True))
    bf16 = {k: v.to(torch.bfloat16) for k, v in tm.state_dict().items()}
    with pytest.raises(gk.ArgumentTypeError, match=r"torch\.Tensor that gradkit cannot read.*bfloat16"):
        m.load_state_dict(bf16)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_refuses_integer_input_as_the_other_activations(approximate):
    # it used to give float64 for int8 (neither sin's float16 nor PyTorch's error)
    with pytest.raises(gk.DTypeError, match="gelu: input must be a float tensor, got dtype int8"):
        F.gelu(gk.tensor(np.array([1, -2], np.int8)), approximate=approximate)
