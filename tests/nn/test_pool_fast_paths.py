"""The fast paths of gradkit.ops.conv against the general ones they stand in for, on every device.

- Max pooling with windows that do not overlap (stride == kernel, no dilation: ``conv._tiles``) takes
  ``_max_pool_tiles`` and a write-once scatter; the general path (one offset at a time, PyTorch's scan) must
  give the same bits: values (NaN, -inf, signed zeros), indices, first and second order gradients, with
  padding, ceil_mode, odd sizes, ties, NaN and -inf windows.
- A convolution's forward pass with a bias folds it into the product, its weight gradient takes one product
  per image when C * prod(kernel) <= the output positions per image, and col2im adds clipped slices: each
  against a float64 definition, one kernel offset at a time.
- None of them reads a device value on the host (emulated CuPy).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn import functional as F
from gradkit.ops import conv


def _bits(a) -> np.ndarray:
    """The bit patterns of a float array (so that NaN, -0.0 and +0.0 compare as themselves)."""
    a = np.ascontiguousarray(a)
    return a.view(f"i{a.itemsize}")


def _general(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on every max pooling takes the general path."""
    monkeypatch.setattr(conv, "_tiles", lambda win: False)


def _pool_cases(seed: int, count: int):
    """Random max pooling cases whose windows do not overlap: (x, dims, kernel, padding, ceil_mode)."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        dims = int(rng.integers(1, 4))
        kernel = tuple(int(k) for k in rng.integers(1, 4, dims))
        if kernel == (1,) * dims:
            continue
        pad = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        ceil = bool(rng.integers(0, 2))
        size = tuple(int(rng.integers(k, 3 * k + 2)) for k in kernel)  # odd sizes and remainders
        dtype = (np.float32, np.float64)[len(cases) % 2]
        kind = len(cases) % 4
        if kind == 0:  # small integers: ties everywhere
            x = rng.integers(-2, 3, (2, 3, *size)).astype(dtype)
        elif kind == 1:  # ties with NaN, -inf and signed zeros
            x = rng.choice(np.array([np.nan, -np.inf, -0.0, 0.0, 1.0, -1.0]), (2, 3, *size)).astype(dtype)
        elif kind == 2:  # all -inf: each window points at its first element past the padding
            x = np.full((2, 3, *size), -np.inf, dtype=dtype)
            x[0, 0].flat[0] = np.nan
        else:
            x = rng.standard_normal((2, 3, *size)).astype(dtype)
        if any(o < 1 for o in (conv._pool_out(n, k, k, p, 1, ceil) for n, k, p in zip(size, kernel, pad, strict=True))):
            continue
        cases.append((x, dims, kernel, pad, ceil))
    return cases


def _pool_run(x, dims, kernel, pad, ceil, g, device):
    t = gk.tensor(x, device=device, requires_grad=True)
    y, idx = getattr(F, f"max_pool{dims}d")(t, kernel, None, pad, 1, ceil, True)
    (dx,) = gk.autograd.grad(y, t, gk.tensor(g, device=device))
    return y.numpy(), idx.numpy(), dx.numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_pool_tiles_match_the_general_path(device, monkeypatch, seed):
    calls = []
    real = conv._max_pool_tiles
    monkeypatch.setattr(conv, "_max_pool_tiles", lambda *a: calls.append(1) or real(*a))
    cases = _pool_cases(seed, 24)
    rng = np.random.default_rng(seed + 100)
    fast = []
    for x, dims, kernel, pad, ceil in cases:
        out = tuple(conv._pool_out(n, k, k, p, 1, ceil) for n, k, p in zip(x.shape[2:], kernel, pad, strict=True))
        g = rng.choice(np.array([1.5, -2.0, 0.0, -0.0, np.inf, np.nan, 0.25]), (2, 3, *out)).astype(x.dtype)
        fast.append((g, _pool_run(x, dims, kernel, pad, ceil, g, device)))
    assert len(calls) == len(cases)  # the fast path ran
    _general(monkeypatch)
    for (x, dims, kernel, pad, ceil), (g, (y, idx, dx)) in zip(cases, fast, strict=True):
        y0, idx0, dx0 = _pool_run(x, dims, kernel, pad, ceil, g, device)
        what = f"kernel {kernel} padding {pad} ceil_mode {ceil} size {x.shape[2:]} {x.dtype}"
        np.testing.assert_array_equal(_bits(y), _bits(y0), err_msg=what)
        np.testing.assert_array_equal(idx, idx0, err_msg=what)
        np.testing.assert_array_equal(_bits(dx), _bits(dx0), err_msg=what)
    assert len(calls) == len(cases)  # the general path did not


def test_max_pool_tiles_second_order_matches_the_general_path(device, monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, (2, 2, 7, 6)).astype(np.float64)  # ties
    h = rng.standard_normal(x.shape)

    def second(general: bool) -> np.ndarray:
        if general:
            _general(monkeypatch)
        t = gk.tensor(x, device=device, requires_grad=True)
        y = F.max_pool2d(t, (2, 3), padding=(1, 0), ceil_mode=True)
        (dx,) = gk.autograd.grad((y * y).sum(), t, create_graph=True)
        (ddx,) = gk.autograd.grad((dx * gk.tensor(h, device=device)).sum(), t)
        return ddx.numpy()

    np.testing.assert_array_equal(_bits(second(False)), _bits(second(True)))


@pytest.mark.parametrize("dims,kernel,pad,ceil", [(1, 3, 1, True), (2, (2, 3), (1, 0), False), (2, 2, 0, True),
                                                  (3, (2, 1, 2), (1, 0, 0), True)])
def test_gradcheck_max_pool_tiles(device, dims, kernel, pad, ceil):
    size = {1: (7,), 2: (5, 7), 3: (5, 3, 4)}[dims]
    x = gk.tensor(np.random.default_rng(dims).standard_normal((2, 2, *size)), device=device, requires_grad=True)
    pool = getattr(F, f"max_pool{dims}d")
    assert gk.gradcheck(lambda v: pool(v, kernel, padding=pad, ceil_mode=ceil), (x,))
    assert gk.gradcheck(lambda v: gk.grad(lambda u: (pool(u, kernel, padding=pad, ceil_mode=ceil) ** 2).sum())(v)
                        * v, (x,))


# ------------------------------------------------------------------ convolution
def _conv_reference(x, w, b, stride, pad, dil, groups, g):
    """y, dx, dw and db of a convolution in float64, one kernel offset at a time (the definition)."""
    n, c, *size = x.shape
    o, cg, *kernel = w.shape
    og = o // groups
    xpad = np.pad(x, ((0, 0), (0, 0), *((p, p) for p in pad)))
    out = g.shape[2:]
    y = np.zeros(g.shape)
    dxpad = np.zeros(xpad.shape)
    dw = np.zeros(w.shape)
    for kidx in itertools.product(*(range(k) for k in kernel)):
        sl = tuple(slice(j * d, j * d + s * (m - 1) + 1, s) for j, d, s, m in zip(kidx, dil, stride, out, strict=True))
        for grp in range(groups):
            chans, outs = slice(grp * cg, (grp + 1) * cg), slice(grp * og, (grp + 1) * og)
            patch = xpad[(slice(None), chans, *sl)]  # (N, cg, *out)
            wk = w[(outs, slice(None), *kidx)]  # (og, cg)
            y[:, outs] += np.einsum("oc,nc...->no...", wk, patch)
            dw[(outs, slice(None), *kidx)] += np.einsum("nop,ncp->oc", g[:, outs].reshape(n, og, -1),
                                                         patch.reshape(n, cg, -1))
            dxpad[(slice(None), chans, *sl)] += np.einsum("oc,no...->nc...", wk, g[:, outs])
    if b is not None:
        y += b.reshape(-1, *(1,) * len(size))
    dx = dxpad[(slice(None), slice(None), *(slice(p, p + m) for p, m in zip(pad, size, strict=True)))]
    return y, dx, dw, g.sum(axis=(0, *range(2, g.ndim)))


# (input shape, weight shape, stride, padding, dilation, groups): both weight-gradient branches (C * K <= P
# per image, and not), the bias folded into the product (groups 1) or added (groups 2), no bias, and col2im
# with offsets that reach no input element (padding past the dilated kernel) or skip some (stride, dilation)
CONVS = [
    ((3, 1, 9, 8), (4, 1, 3, 3), 1, 1, 1, 1),  # a first layer: 9 rows <= 72 positions
    ((2, 6, 5, 5), (4, 6, 3, 3), 1, 1, 1, 1),  # 54 rows > 25 positions
    ((2, 4, 6, 7), (6, 2, 3, 2), (2, 1), (2, 1), (1, 2), 2),
    ((2, 4, 9), (4, 1, 3), 2, 4, 1, 4),  # depthwise, padding wider than the kernel
    ((2, 3, 4, 5, 4), (2, 3, 1, 2, 3), 1, (0, 1, 1), (1, 2, 1), 1),
    ((1, 2, 3, 3), (3, 2, 1, 1), 1, 0, 1, 1),  # 1x1
    ((2, 5, 4, 4), (3, 5, 3, 3), 3, 3, 2, 1),  # strided and dilated: some offsets reach only padding
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,stride,pad,dil,groups", CONVS)
def test_conv_paths_match_the_definition(device, xs, ws, stride, pad, dil, groups, bias):
    rng = np.random.default_rng(len(xs) + ws[0])
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if bias else None
    dims = len(xs) - 2
    fn = getattr(F, f"conv{dims}d")
    xt, wt = gk.tensor(x, device=device, requires_grad=True), gk.tensor(w, device=device, requires_grad=True)
    bt = gk.tensor(b, device=device, requires_grad=True) if bias else None
    y = fn(xt, wt, bt, stride=stride, padding=pad, dilation=dil, groups=groups)
    g = rng.standard_normal(y.shape)
    grads = gk.autograd.grad(y, [xt, wt] + ([bt] if bias else []), gk.tensor(g, device=device))
    expand = lambda v: (v,) * dims if isinstance(v, int) else v
    ref = _conv_reference(x, w, b, expand(stride), expand(pad), expand(dil), groups, g)
    np.testing.assert_allclose(y.numpy(), ref[0], rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref[1:] if bias else ref[1:3], strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_conv_paths_float32(device):
    """float32 through the same paths: within float32 rounding of the float64 definition."""
    rng = np.random.default_rng(7)
    for xs, ws, stride, pad, dil, groups in CONVS[:3]:
        x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
        xt = gk.tensor(x.astype(np.float32), device=device, requires_grad=True)
        wt = gk.tensor(w.astype(np.float32), device=device, requires_grad=True)
        bt = gk.tensor(b.astype(np.float32), device=device, requires_grad=True)
        y = F.conv2d(xt, wt, bt, stride=stride, padding=pad, dilation=dil, groups=groups)
        assert y.dtype == gk.float32
        g = rng.standard_normal(y.shape)
        grads = gk.autograd.grad(y, [xt, wt, bt], gk.tensor(g.astype(np.float32), device=device))
        ref = _conv_reference(x.astype(np.float32).astype(np.float64), w.astype(np.float32).astype(np.float64),
                              b.astype(np.float32).astype(np.float64), *((v,) * 2 if isinstance(v, int) else v
                                                                         for v in (stride, pad, dil)),
                              groups, g.astype(np.float32).astype(np.float64))
        for got, want in zip((y, *grads), ref, strict=True):
            assert got.dtype == gk.float32
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


# ------------------------------------------------------------------ no host reads
def test_fast_paths_read_nothing_on_the_host(device, monkeypatch):
    rng = np.random.default_rng(3)
    x = gk.tensor(rng.standard_normal((2, 3, 7, 6)).astype(np.float32), device=device, requires_grad=True)
    w1 = gk.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), device=device, requires_grad=True)
    w2 = gk.tensor(rng.standard_normal((5, 4, 1, 1)).astype(np.float32), device=device, requires_grad=True)
    w3 = gk.tensor(rng.standard_normal((2, 5, 3, 3)).astype(np.float32), device=device, requires_grad=True)
    b = gk.tensor(rng.standard_normal(4).astype(np.float32), device=device, requires_grad=True)
    refuse_host_reads(device, monkeypatch)
    h = F.conv2d(x, w1, b, padding=1)  # bias folded in; weight gradient: 27 rows <= 42 positions
    h = F.max_pool2d(F.relu(h), 2, padding=1, ceil_mode=True)  # the tiles, padded, -inf fix-up: (2, 4, 4, 4)
    h, _ = F.max_pool2d(F.conv2d(h, w2), (1, 2), return_indices=True)  # 1x1: the batched weight gradient
    h = F.conv2d(h, w3, padding=1)  # 45 rows > 8 positions: one product, col2im
    gk.autograd.grad(h.sum(), [x, w1, w2, w3, b])
