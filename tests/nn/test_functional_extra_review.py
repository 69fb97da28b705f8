"""Review of the torch.nn.functional extras: the cases a port of a spatial transformer, a CTC speech model and an
EmbeddingBag recommender meets that the first tests left out.

grid_sample at exact pixel centres, borders and far outside, and with NaN/inf positions (PyTorch's CPU and CUDA
kernels clip a NaN to pixel 0 under "border" and "reflection"); ctc_loss with a log-probability of -inf (a class
masked out: its occupancy is 0, not NaN); the CPU scatter behind ``take``'s VJP (np.bincount) against np.add.at;
embedding_bag against PyTorch with max_norm, padding_idx and per-sample weights; AdaptiveLogSoftmaxWithLoss.predict
with one host read; argument errors naming the argument.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from _host_reads import count_host_reads

import gradkit as gk
from gradkit import nn
from gradkit.nn import functional as F
from gradkit.nn._gather import put, take


def _t(data, device: str, grad: bool = False, dtype: str = "float64"):
    return gk.tensor(np.asarray(data, dtype=dtype), device=device, requires_grad=grad)


def _ints(data, device: str):
    return gk.tensor(np.asarray(data, dtype=np.int64), device=device)


# ================================================================== grid_sample
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding", ["border", "reflection"])
def test_grid_sample_nan_and_inf_positions_clip_to_pixel_zero(device, mode, padding):
    x = np.arange(1.0, 13.0).reshape(1, 1, 3, 4)
    bad = [np.nan] + ([np.inf, -np.inf] if padding == "reflection" else [])
    for b in bad:
        grid = np.array([[[[b, 0.1], [0.3, b]]]])  # x NaN at y 0.1; y NaN at x 0.3
        g = _t(grid, device, grad=True)
        xt = _t(x, device, grad=True)
        out = F.grid_sample(xt, g, mode=mode, padding_mode=padding, align_corners=False)
        centre = np.array([-1 + 1 / 4, -1 + 1 / 3])  # pixel 0's centre along W (4) and H (3)
        at_zero = _t(np.where(np.isfinite(grid), grid, centre), device)
        expected = F.grid_sample(_t(x, device), at_zero, mode=mode, padding_mode=padding, align_corners=False)
        np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12, err_msg=f"{b}")
        out.sum().backward()
        assert np.all(np.isfinite(g.grad.numpy())) and np.all(np.isfinite(xt.grad.numpy()))


def test_grid_sample_exact_centres_borders_and_far_positions_match_pytorch(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 3, 4))
    grid = rng.integers(-8, 9, (2, 3, 3, 2)) / 4.0  # pixel centres and edges for both align_corners
    grid[0, 0, 0] = [37.0, -29.0]
    grid[1, 2, 2] = [-1e6, 1e6]
    for mode, padding, align in itertools.product(("bilinear", "nearest", "bicubic"),
                                                  ("zeros", "border", "reflection"), (False, True)):
        xg, gg = _t(x, device, grad=True), _t(grid, device, grad=True)
        out = F.grid_sample(xg, gg, mode=mode, padding_mode=padding, align_corners=align)
        w = np.linspace(-1, 1, out.size).reshape(out.shape)
        (out * _t(w, device)).sum().backward()
        xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
        ref = torch.nn.functional.grid_sample(xt, gt, mode=mode, padding_mode=padding, align_corners=align)
        (ref * torch.tensor(w)).sum().backward()
        msg = f"{mode} {padding} align_corners={align}"
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=msg)
        np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=msg)
        np.testing.assert_allclose(gg.grad.numpy(), gt.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=msg)


def test_grid_sample_nan_positions_match_pytorch_2d():
    torch = pytest.importorskip("torch")
    x = np.arange(1.0, 13.0).reshape(1, 1, 3, 4)
    for mode, padding, b in itertools.product(("bilinear", "nearest"), ("border", "reflection"),
                                              (np.nan, np.inf)):
        grid = np.array([[[[b, 0.1], [0.3, b], [b, b]]]])
        ref = torch.nn.functional.grid_sample(torch.tensor(x), torch.tensor(grid), mode=mode, padding_mode=padding,
                                              align_corners=False)  # forward only: PyTorch's backward can crash
        out = F.grid_sample(gk.tensor(x), gk.tensor(grid), mode=mode, padding_mode=padding, align_corners=False)
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12, err_msg=f"{mode} {padding} {b}")


def test_grid_sample_with_outside_positions_reads_nothing_back(device, monkeypatch):
    reads = count_host_reads(device, monkeypatch)
    rng = np.random.default_rng(3)
    x = _t(rng.standard_normal((1, 2, 3, 3)), device, grad=True)
    g = _t(rng.uniform(-2, 2, (1, 2, 2, 2)), device, grad=True)
    for mode in ("bilinear", "nearest", "bicubic"):
        F.grid_sample(x, g, mode=mode, align_corners=False).sum().backward()
    assert reads == []


# ================================================================== take / put on the CPU
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_put_matches_add_at(dtype):
    rng = np.random.default_rng(1)
    cases = [((7,), (rng.integers(-7, 7, 20),)),  # negative indices wrap, as x[idx]
             ((5, 3), (rng.integers(0, 5, (4, 6)),)),  # a few trailing columns
             ((4, 20), (rng.integers(0, 4, 9),)),  # many trailing columns
             ((3, 6, 2), (np.arange(3)[:, None], rng.integers(0, 6, (3, 8)))),  # broadcast index arrays
             ((0, 2), (np.zeros(0, dtype=np.int64),))]
    for shape, idx in cases:
        vshape = np.broadcast_shapes(*(i.shape for i in idx)) + shape[len(idx):]
        values = rng.standard_normal(vshape).astype(dtype)
        expected = np.zeros(shape, dtype=np.float64)
        np.add.at(expected, idx, values.astype(np.float64))
        got = put(gk.tensor(values, device="cpu"), shape, idx)
        assert got.dtype == np.dtype(dtype) and got.shape == shape
        tol = {"float16": 2e-3, "float32": 1e-6, "float64": 1e-14}[dtype]
        np.testing.assert_allclose(got.numpy().astype(np.float64), expected, rtol=tol, atol=tol)
    x = gk.tensor(rng.standard_normal((6, 2)), device="cpu", requires_grad=True)
    idx = (np.array([5, 0, 5, -1]),)
    take(x, idx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[:, 0], [1, 0, 0, 0, 0, 3])


# ================================================================== ctc_loss
def test_ctc_masked_class_has_a_zero_gradient_not_nan(device):
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(4), (5, 2))
    p[2, :, 1] = 0.0  # label 1 impossible at step 2: log-probability -inf
    p /= p.sum(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    targets, il, tl = np.array([[1, 2], [2, 1]]), [5, 4], [2, 2]
    x = _t(lp, device, grad=True)
    loss = F.ctc_loss(x, _ints(targets, device), il, tl, reduction="sum")
    loss.backward()
    grad = x.grad.numpy()
    assert np.isfinite(loss.numpy()) and np.all(np.isfinite(grad))
    assert np.all(grad[2, :, 1] == 0)
    y = _t(lp, device, grad=True)  # the recorded (create_graph) path agrees
    (recorded,) = gk.autograd.grad(F.ctc_loss(y, _ints(targets, device), il, tl, reduction="sum"), y,
                                   create_graph=True)
    np.testing.assert_allclose(recorded.numpy(), grad, rtol=1e-10, atol=1e-12)


def test_ctc_masked_logits_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    z = rng.standard_normal((6, 3, 5))
    z[:, :, 4] = -np.inf  # a class masked out of the softmax
    targets, il, tl = np.array([[1, 1, 2], [3, 0, 0], [2, 3, 0]]), np.array([6, 4, 5]), np.array([3, 1, 2])
    x = gk.tensor(z, requires_grad=True)
    loss = F.ctc_loss(F.log_softmax(x, 2), targets, il, tl)
    loss.backward()
    tx = torch.tensor(np.where(np.isinf(z), -1e4, z), requires_grad=True)  # PyTorch's gradient at -inf is NaN
    ref = torch.nn.functional.ctc_loss(tx.log_softmax(2), torch.tensor(targets), torch.tensor(il), torch.tensor(tl))
    ref.backward()
    np.testing.assert_allclose(loss.numpy(), ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_ctc_and_gumbel_errors_name_the_argument(device):
    """... and indices given on the host are checked there on a GPU run too (a list or NumPy array: no read)."""
    with pytest.raises(gk.DTypeError, match="ctc_loss: log_probs"):
        F.ctc_loss(_ints(np.zeros((3, 1, 2)), device), [[1]], [3], [1])
    with pytest.raises(gk.DTypeError, match="gumbel_softmax: logits"):
        F.gumbel_softmax(_ints([1, 2], device))
    with pytest.raises(gk.IndexOutOfRangeError, match="ctc_loss: target 7"):
        F.ctc_loss(_t(np.zeros((3, 1, 4)), device), np.array([[1, 7]]), [3], [2])
    with pytest.raises(gk.IndexOutOfRangeError, match="ctc_loss: target -1"):
        F.ctc_loss(_t(np.zeros((3, 2, 4)), device), [1, -1, 2], [3, 3], [1, 2])  # concatenated
    with pytest.raises(gk.InvalidArgumentError, match="ctc_loss: input_lengths must be at most T = 3"):
        F.ctc_loss(_t(np.zeros((3, 1, 4)), device), np.array([[1, 2]]), [4], [2])
    w = _t(np.zeros((3, 2)), device)
    with pytest.raises(gk.IndexOutOfRangeError, match="embedding_bag: index 3"):
        F.embedding_bag(np.array([0, 3]), w, np.array([0]))
    with pytest.raises(gk.IndexOutOfRangeError, match="embedding_bag: index -1"):
        F.embedding_bag([[0, -1]], w)
    with pytest.raises(gk.InvalidArgumentError, match="embedding_bag: offsets must be non-decreasing"):
        F.embedding_bag([0, 1, 2], w, [0, 2, 1])
    with pytest.raises(gk.IndexOutOfRangeError, match="multilabel_margin_loss: target 3"):
        F.multilabel_margin_loss(_t(np.zeros((1, 3)), device), [[3, -1, 0]])


# ================================================================== embedding_bag
def test_embedding_bag_matches_pytorch_with_max_norm_padding_and_weights(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    for trial in range(24):
        mode = ("sum", "mean", "max")[trial % 3]
        num, dim = 6, 3
        inp = rng.integers(0, num, 9)
        ilo = trial % 2 == 1
        off = np.array([0, 2, 2, 7] + ([9] if ilo else []))  # an empty bag; include_last_offset ends at len(input)
        pidx = (None, 2, -1)[trial % 5 % 3]
        max_norm = (None, 0.7)[trial % 4 >= 2]
        norm_type = (2.0, 1.0, 3.0, np.inf)[trial % 4]
        weight = rng.standard_normal((num, dim))
        psw = rng.standard_normal(9) if mode == "sum" and trial % 2 else None
        kw = dict(mode=mode, include_last_offset=ilo, padding_idx=pidx, max_norm=max_norm, norm_type=norm_type)
        w = _t(weight, device, grad=True)
        pg = _t(psw, device, grad=True) if psw is not None else None
        out = F.embedding_bag(_ints(inp, device), w, _ints(off, device), per_sample_weights=pg, **kw)
        tw = torch.tensor(weight, requires_grad=True)
        tp = torch.tensor(psw, requires_grad=True) if psw is not None else None
        ref = torch.nn.functional.embedding_bag(torch.tensor(inp), tw, torch.tensor(off), per_sample_weights=tp, **kw)
        g = np.linspace(-1, 1, out.size).reshape(out.shape)
        (out * _t(g, device)).sum().backward()
        (ref * torch.tensor(g)).sum().backward()
        msg = f"trial {trial}: {kw}"
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=msg)
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-12, err_msg=msg)  # renormed in place
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=msg)
        if psw is not None:
            np.testing.assert_allclose(pg.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=msg)


# ================================================================== AdaptiveLogSoftmaxWithLoss
def test_adaptive_predict_reads_back_once(device, monkeypatch):
    gk.manual_seed(2)
    model = nn.AdaptiveLogSoftmaxWithLoss(6, 12, [3, 7], div_value=2.0, head_bias=True, device=device,
                                          dtype="float64")
    with gk.no_grad():
        model.head.bias._data[3:] += 5.0  # the head prefers the clusters: the tails are evaluated
    x = _t(np.random.default_rng(8).standard_normal((9, 6)), device)
    expected = np.argmax(model.log_prob(x).numpy(), axis=1)
    reads = count_host_reads(device, monkeypatch)
    best = model.predict(x)
    assert len(reads) == 1
    np.testing.assert_array_equal(best.numpy(), expected)
    assert best.dtype == np.int64


def test_relu_in_place_and_no_warning_with_align_corners(device):
    x = _t([-1.0, 2.0], device)
    assert F.relu_(x) is x
    np.testing.assert_array_equal(x.numpy(), [0.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.grid_sample(_t(np.ones((1, 1, 2, 2)), device), _t(np.zeros((1, 1, 1, 2)), device), align_corners=True)
