"""Losses and other functional forms: values, stability, gradients, errors for bad labels."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import functional as F


def _rand(device: str, *shape: int, seed: int = 0, dtype: str = "float64", grad: bool = True) -> gk.Tensor:
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return gk.tensor(data, device=device, requires_grad=grad)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    s = x - x.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


# ------------------------------------------------------------------ cross_entropy
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_values_and_gradient(device, reduction):
    x = _rand(device, 5, 4)
    t = gk.tensor([3, 0, 1, 1, 2], device=device)
    rows = -_log_softmax(x.numpy())[np.arange(5), t.numpy()]
    expected = {"mean": rows.mean(), "sum": rows.sum(), "none": rows}[reduction]
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction=reduction).numpy(), expected, rtol=1e-12)
    assert gk.gradcheck(lambda x: F.cross_entropy(x, t, reduction=reduction), (x,))


def test_cross_entropy_is_one_fused_node_with_the_closed_form_gradient(device):
    x = _rand(device, 3, 4)
    t = gk.tensor([1, 0, 3], device=device)
    loss = F.cross_entropy(x, t)
    assert loss.grad_fn.name == "cross_entropy" and loss.grad_fn.next == (x,)
    loss.backward()
    p = np.exp(_log_softmax(x.numpy()))
    p[np.arange(3), t.numpy()] -= 1
    np.testing.assert_allclose(x.grad.numpy(), p / 3, rtol=1e-12, atol=1e-15)
    # an upstream gradient scales it
    x.grad = None
    (F.cross_entropy(x, t) * 2.5).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.5 * p / 3, rtol=1e-12, atol=1e-15)


def test_cross_entropy_second_order(device):
    x = _rand(device, 3, 4)
    t = gk.tensor([1, 0, 3], device=device)
    assert gk.gradcheck(lambda x: gk.grad(lambda z: F.cross_entropy(z, t))(x), (x,))
    assert gk.gradcheck(lambda x: gk.grad(lambda z: F.cross_entropy(z, t, reduction="none").sum())(x), (x,))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_is_stable_for_huge_logits(device, dtype):
    x = gk.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]], dtype=dtype, device=device,
                  requires_grad=True)
    t = gk.tensor([1, 1, 2], device=device)
    loss = F.cross_entropy(x, t)
    loss.backward()
    assert loss.dtype == np.dtype(dtype) and x.grad.dtype == np.dtype(dtype)
    assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(loss.item(), (2e4 + 0 + np.log(3)) / 3, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy()[0], [1 / 3, -1 / 3, 0], atol=1e-7)
    ls = F.log_softmax(x, dim=1)
    assert np.isfinite(ls.numpy()).all()
    ls.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_cross_entropy_keeps_float32(device):
    x = _rand(device, 4, 3, dtype="float32")
    loss = F.cross_entropy(x, gk.tensor([0, 1, 2, 0], device=device))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


def test_cross_entropy_accepts_arrays_and_int32_targets(device):
    x = _rand(device, 3, 4)
    a = F.cross_entropy(x, gk.tensor(np.array([0, 1, 3], dtype=np.int32), device=device))
    if device == "cpu":
        b = F.cross_entropy(x, np.array([0, 1, 3]))
        c = F.cross_entropy(x, [0, 1, 3])
        np.testing.assert_allclose(a.numpy(), b.numpy())
        np.testing.assert_allclose(a.numpy(), c.numpy())


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
def test_bad_labels_give_clear_errors(device, fn):
    # On a GPU cross_entropy's kernel checks the targets (no synchronisation): the error comes at the
    # next host read, here item(), as PyTorch's device-side assert does. On the CPU it comes at once.
    x = _rand(device, 3, 4)
    with pytest.raises(gk.IndexOutOfRangeError, match=r"target 4 is out of range.*< 4"):
        fn(x, gk.tensor([0, 4, 1], device=device)).item()
    with pytest.raises(gk.IndexOutOfRangeError, match="target -1"):
        fn(x, gk.tensor([0, -1, 1], device=device)).item()
    with pytest.raises(gk.DTypeError, match="integer class indices.*float32"):
        fn(x, gk.tensor([0.0, 1.0, 2.0], device=device))
    with pytest.raises(gk.DTypeError):
        fn(x, gk.tensor([True, False, True], device=device))
    with pytest.raises(gk.ShapeError, match=r"\(2,\)"):
        fn(x, gk.tensor([0, 1], device=device))
    with pytest.raises(gk.InvalidArgumentError, match="reduction"):
        fn(x, gk.tensor([0, 1, 2], device=device), reduction="avg")
    with pytest.raises(gk.ShapeError, match=r"\(N, C\)"):
        fn(_rand(device, 4), gk.tensor([0], device=device))


# ------------------------------------------------------------------ nll, mse, l1, bce
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_of_log_softmax_is_cross_entropy(device, reduction):
    x = _rand(device, 4, 3)
    t = gk.tensor([2, 0, 1, 2], device=device)
    a = F.nll_loss(F.log_softmax(x, 1), t, reduction=reduction)
    b = F.cross_entropy(x, t, reduction=reduction)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert gk.gradcheck(lambda x: F.nll_loss(x, t, reduction=reduction), (x,))


def test_mse_and_l1(device):
    x, y = _rand(device, 3, 2), _rand(device, 3, 2, seed=1)
    d = x.numpy() - y.numpy()
    np.testing.assert_allclose(F.mse_loss(x, y).numpy(), (d**2).mean())
    np.testing.assert_allclose(F.mse_loss(x, y, reduction="sum").numpy(), (d**2).sum())
    np.testing.assert_allclose(F.l1_loss(x, y).numpy(), np.abs(d).mean())
    np.testing.assert_allclose(F.l1_loss(x, y, reduction="none").numpy(), np.abs(d))
    assert gk.gradcheck(F.mse_loss, (x, y))
    assert gk.gradcheck(F.l1_loss, (x, y))
    with pytest.raises(gk.ShapeError):
        F.mse_loss(x, _rand(device, 2, 3))
    x32 = _rand(device, 3, dtype="float32")
    assert F.mse_loss(x32, np.zeros(3) if device == "cpu" else gk.zeros(3, device=device)).dtype == np.float32


def test_binary_cross_entropy_with_logits(device):
    x = _rand(device, 6)
    t = gk.tensor([0.0, 1.0, 1.0, 0.0, 0.5, 1.0], dtype="float64", device=device)
    xv, tv = x.numpy(), t.numpy()
    expected = -(tv * np.log(1 / (1 + np.exp(-xv))) + (1 - tv) * np.log(1 - 1 / (1 + np.exp(-xv))))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, t, reduction="none").numpy(), expected,
                               rtol=1e-10)
    assert gk.gradcheck(F.binary_cross_entropy_with_logits, (x, t))
    pw = gk.tensor([2.0], dtype="float64", device=device)
    weighted = F.binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=pw).numpy()
    expected_w = -(2 * tv * np.log(1 / (1 + np.exp(-xv))) + (1 - tv) * np.log(1 - 1 / (1 + np.exp(-xv))))
    np.testing.assert_allclose(weighted, expected_w, rtol=1e-10)
    # stable at huge logits, and the gradient at 0 is sigmoid(0) - t
    big = gk.tensor([1e4, -1e4, 0.0], device=device, requires_grad=True)
    tt = gk.tensor([0.0, 1.0, 1.0], device=device)
    loss = F.binary_cross_entropy_with_logits(big, tt, reduction="sum")
    loss.backward()
    np.testing.assert_allclose(loss.item(), 2e4 + np.log(2), rtol=1e-6)
    np.testing.assert_allclose(big.grad.numpy(), [1, -1, -0.5], atol=1e-7)


# ------------------------------------------------------------------ one_hot, softmax
def test_one_hot(device):
    t = gk.tensor([[0, 2], [1, 1]], device=device)
    out = F.one_hot(t, 3)
    assert out.dtype == np.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[t.numpy()])
    assert F.one_hot(gk.tensor([0, 4], device=device)).shape == (2, 5)
    with pytest.raises(gk.IndexOutOfRangeError):
        F.one_hot(gk.tensor([3], device=device), 3)
    with pytest.raises(gk.DTypeError):
        F.one_hot(gk.tensor([1.0], device=device), 3)


def test_softmax_and_log_softmax_gradients(device):
    x = _rand(device, 3, 5)
    assert gk.gradcheck(lambda x: F.softmax(x, dim=0), (x,))
    assert gk.gradcheck(lambda x: F.log_softmax(x, dim=-1), (x,))
    np.testing.assert_allclose(F.softmax(x, 1).numpy().sum(1), 1, rtol=1e-12)


# ------------------------------------------------- cross_entropy / nll_loss options (PyTorch's)
def _reference_ce(x, t, weight=None, ignore_index=-100, smoothing=0.0, reduction="mean"):
    """PyTorch's documented formula, written out in float64 NumPy."""
    n, c = x.shape
    logp = x - x.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    w = np.ones(c) if weight is None else weight
    keep = t != ignore_index
    ts = np.where(keep, t, 0)
    w_t = w[ts] * keep
    nll = -logp[np.arange(n), ts] * w_t
    smooth = -(logp * w).sum(1) * keep
    loss = (1 - smoothing) * nll + smoothing / c * smooth
    if reduction == "none":
        return loss
    return loss.sum() / w_t.sum() if reduction == "mean" else loss.sum()


CE_OPTIONS = [
    dict(weight=True),
    dict(smoothing=0.2),
    dict(weight=True, smoothing=0.3),
    dict(ignored=True),
    dict(ignored=True, weight=True, smoothing=0.1),
    dict(ignore_index=2),
]


@pytest.mark.parametrize("options", CE_OPTIONS, ids=lambda o: ",".join(o))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_options_match_the_formula_and_gradcheck(device, options, reduction):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 5))
    t = rng.integers(0, 5, 7)
    if options.get("ignored"):
        t[[1, 4]] = -100
    ignore_index = options.get("ignore_index", -100)
    if ignore_index == 2:
        t[[0, 3]] = 2
    w = rng.uniform(0.5, 2.0, 5) if options.get("weight") else None
    smoothing = options.get("smoothing", 0.0)
    kw = dict(ignore_index=ignore_index, label_smoothing=smoothing)
    if w is not None:
        kw["weight"] = gk.tensor(w, device=device)
    tt = gk.tensor(t, device=device)
    got = F.cross_entropy(gk.tensor(x, device=device), tt, reduction, **kw)
    np.testing.assert_allclose(got.numpy(), _reference_ce(x, t, w, ignore_index, smoothing, reduction), rtol=1e-10)
    xt = gk.tensor(x, device=device, requires_grad=True)
    assert gk.gradcheck(lambda a: F.cross_entropy(a, tt, reduction, **kw).sum(), [xt])
    if not smoothing:  # nll_loss of log_softmax is the same loss
        nll = F.nll_loss(F.log_softmax(gk.tensor(x, device=device), 1), tt, reduction,
                         weight=kw.get("weight"), ignore_index=ignore_index)
        np.testing.assert_allclose(nll.numpy(), got.numpy(), rtol=1e-12)


def test_cross_entropy_without_options_keeps_the_fused_node(device):
    x = gk.tensor(np.zeros((2, 3)), device=device, requires_grad=True)
    assert F.cross_entropy(x, gk.tensor([0, 2], device=device)).grad_fn.name == "cross_entropy"


@pytest.mark.parametrize(
    ("kw", "error", "fragment"),
    [
        (dict(weight=np.ones(4)), gk.ShapeError, "weight"),
        (dict(label_smoothing=1.5), gk.InvalidArgumentError, "label_smoothing"),
        (dict(ignore_index=0.5), gk.ArgumentTypeError, "ignore_index"),
    ],
)
def test_cross_entropy_option_errors(kw, error, fragment):
    with pytest.raises(error, match=fragment):
        F.cross_entropy(gk.ones((2, 3)), gk.tensor([0, 1]), **kw)


def test_a_target_out_of_range_is_still_an_error_next_to_ignored_ones():
    with pytest.raises(gk.IndexOutOfRangeError, match="target 5"):
        F.cross_entropy(gk.ones((3, 3)), gk.tensor([-100, 5, 0])).item()  # item(): where a GPU reports it
