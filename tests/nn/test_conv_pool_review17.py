"""Review of the CPU speed-ups in gradkit.ops.conv (batched per-image conv matmuls, per-image weight gradients,
clipped col2im, the non-overlapping max-pooling path), against plain float64 definitions written here.

- col2im (fold, unfold's VJP, a convolution's input gradient) starts from a kernel offset that covers the
  whole input instead of a zeroed buffer: a -0.0 must still land as +0.0, as the sum onto zeros gives
  (PyTorch's fold too).
- The per-image weight gradient sums the batch's products: in float16 that sum must not round at every
  image (it was about 6x the error of the one long product it replaces at a batch of 256).
- Max pooling's kernel offsets are uint8 up to 255 offsets and int32 past that: both sides of the
  boundary against PyTorch's scan (first maximum, last NaN, a -inf window at its first input element).
"""

from __future__ import annotations

import emulated_cupy
import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn import functional as F


# ------------------------------------------------------------------ col2im: signed zeros
@pytest.mark.parametrize("kernel,padding", [(1, 0), (3, 1), ((3, 1), (1, 0))])
def test_fold_of_negative_zeros_is_positive_zero(device, kernel, padding):
    """fold with stride 1 and the middle offset covering the output (a 1x1 kernel, or an odd one padded to
    keep the size): every value -0.0 sums to +0.0, as onto zeros."""
    ks = (kernel, kernel) if isinstance(kernel, int) else kernel
    rows, blocks = 2 * ks[0] * ks[1], 5 * 4
    x = gk.tensor(np.full((1, rows, blocks), -0.0), device=device)
    y = F.fold(x, (5, 4), kernel, padding=padding).numpy()
    assert y.shape == (1, 2, 5, 4)
    assert not np.signbit(y).any()
    assert (y == 0).all()


def test_unfold_vjp_of_negative_zeros_is_positive_zero(device):
    x = gk.tensor(np.ones((2, 3, 4, 5)), device=device, requires_grad=True)
    u = F.unfold(x, 3, padding=1)
    (dx,) = gk.autograd.grad(u, x, gk.tensor(np.full(u.shape, -0.0), device=device))
    assert not np.signbit(dx.numpy()).any()


def test_fold_with_a_covering_offset_matches_the_definition(device):
    """The covering offset set first, the others added: the same sums as the definition's (overlaps,
    padding, NaN and inf included)."""
    rng = np.random.default_rng(0)
    n, c, size, k, pad = 2, 2, (5, 6), (3, 3), (1, 1)
    vals = rng.standard_normal((n, c * 9, 30))
    vals[0, 4, 7], vals[1, 0, 3], vals[1, 8, 29] = np.nan, np.inf, -np.inf
    want = np.zeros((n, c, size[0] + 2, size[1] + 2))
    blocks = vals.reshape(n, c, 3, 3, *size)
    for i in range(3):
        for j in range(3):
            want[:, :, i:i + size[0], j:j + size[1]] += blocks[:, :, i, j]
    want = want[:, :, 1:-1, 1:-1]
    got = F.fold(gk.tensor(vals, device=device), size, k, padding=pad).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ float16 weight gradient
def _weight_grad_reference(x, g, k, pad):
    """dL/dw of conv2d(x, w, padding=pad) (one input channel or more, square kernel k) in float64."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))  # (N, C, H, W, k, k)
    return np.einsum("nchwij,nohw->ocij", win, g)


def test_float16_weight_gradient_sums_the_batch_widely(device):
    """A first layer (C * K = 25 rows <= 100 positions per image) takes the per-image products; their sum
    over 256 images in float16 gave about 6x the error of the float16 product over the whole batch."""
    rng = np.random.default_rng(0)
    x = rng.random((256, 1, 10, 10)).astype(np.float16)
    g = rng.random((256, 4, 10, 10)).astype(np.float16)
    want = _weight_grad_reference(x.astype(np.float64), g.astype(np.float64), 5, 2)
    w = gk.tensor(np.zeros((4, 1, 5, 5), np.float16), device=device, requires_grad=True)
    y = F.conv2d(gk.tensor(x, device=device), w, None, padding=2)
    (dw,) = gk.autograd.grad(y, w, gk.tensor(g, device=device))
    assert dw.dtype == gk.float16
    err = np.abs(dw.numpy().astype(np.float64) - want).max() / np.abs(want).max()
    assert err < 1e-3, err  # float16's rounding of the result is 4.9e-4; the per-image float16 sum gave ~3e-3


def test_float16_weight_gradient_groups_and_no_host_reads(device, monkeypatch):
    """The widened sum with groups (depthwise) keeps float16 and reads nothing on the host (emulated CuPy)."""
    rng = np.random.default_rng(1)
    x = rng.random((64, 4, 6, 6)).astype(np.float16)
    g = rng.random((64, 4, 6, 6)).astype(np.float16)
    xt = gk.tensor(x, device=device)
    w = gk.tensor(np.zeros((4, 1, 3, 3), np.float16), device=device, requires_grad=True)
    if device == "cuda" and emulated_cupy.enabled():
        refuse_host_reads(device, monkeypatch)
    y = F.conv2d(xt, w, None, padding=1, groups=4)
    (dw,) = gk.autograd.grad(y, w, gk.tensor(g, device=device))
    monkeypatch.undo()
    assert dw.dtype == gk.float16
    want = np.stack([_weight_grad_reference(x[:, c:c + 1].astype(np.float64), g[:, c:c + 1].astype(np.float64),
                                            3, 1)[0] for c in range(4)])
    err = np.abs(dw.numpy().astype(np.float64) - want).max() / np.abs(want).max()
    assert err < 1e-3, err


# ------------------------------------------------------------------ max pooling: uint8 / int32 offsets
def _max_pool1d_reference(x, k, pad, ceil):
    """PyTorch's CPU scan over each window of (N, C, L): the first maximum, a NaN takes the place, a window
    of -inf at its first input element; the output, the indices, and the VJP of g."""
    n, c, length = x.shape
    span = length + 2 * pad - k + (k - 1 if ceil else 0)
    out = span // k + 1
    if ceil and (out - 1) * k >= length + pad:
        out -= 1
    y = np.empty((n, c, out), dtype=x.dtype)
    idx = np.empty((n, c, out), dtype=np.int64)
    for o in range(out):
        lo, hi = max(o * k - pad, 0), min(o * k - pad + k, length)
        for a in range(n):
            for b in range(c):
                best, at = -np.inf, lo
                for i in range(lo, hi):
                    v = x[a, b, i]
                    if v > best or np.isnan(v):
                        best, at = v, i
                y[a, b, o], idx[a, b, o] = best, at
    return y, idx


@pytest.mark.parametrize("k,pad,ceil", [(255, 100, True), (256, 0, True), (256, 128, False), (300, 150, True)])
def test_max_pool_many_offsets(device, k, pad, ceil):
    rng = np.random.default_rng(k + pad)
    length = 2 * k + 37
    x = rng.standard_normal((2, 2, length))
    x[0, 0, :k + 5] = -np.inf  # windows of -inf: at their first input element
    x[0, 1, 3], x[0, 1, 200] = np.nan, np.nan  # the last NaN
    x[1, 0, k - 1], x[1, 0, k] = 9.0, 9.0  # a tie
    x[1, 1, :] = np.round(x[1, 1, :])  # ties everywhere
    want_y, want_idx = _max_pool1d_reference(x, k, pad, ceil)
    t = gk.tensor(x, device=device, requires_grad=True)
    y, idx = F.max_pool1d(t, k, padding=pad, ceil_mode=ceil, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), want_y)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    g = rng.standard_normal(want_y.shape)
    (dx,) = gk.autograd.grad(y, t, gk.tensor(g, device=device))
    want_dx = np.zeros_like(x)
    np.put_along_axis(want_dx, want_idx, g, axis=2)  # windows do not overlap: one gradient per element
    np.testing.assert_array_equal(dx.numpy(), want_dx)
    # max_unpool1d puts each maximum back where its index says
    u = F.max_unpool1d(y.detach(), idx, k, padding=pad, output_size=(length,)).numpy()
    want_u = np.zeros_like(x)
    np.put_along_axis(want_u, want_idx, want_y, axis=2)
    np.testing.assert_array_equal(u, want_u)
