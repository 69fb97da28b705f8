"""F.grid_sample's sampler nodes (session 17): the taps read from an input with a border of zeros, the weights
node of bilinear/trilinear, the sample / scatter / tap-sum nodes that are each other's VJPs, and the CPU loops
over chunks of the batch.

Values and input gradients against loops over the output positions with PyTorch's formulas (every padding mode,
both align_corners, positions outside the input, NaN and infinite), the chunked CPU loops against one chunk,
gk.gradcheck in float64 at first and second order (through the grid too, as a gradient penalty needs), and no
host reads on the emulated CuPy.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from _grid_sample_reference import as_tensor as _t
from _grid_sample_reference import pad as _pad
from _grid_sample_reference import unnormalize as _unnormalize
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn import functional as F
from gradkit.nn import sampling


def _reference(x: np.ndarray, grid: np.ndarray, cot: np.ndarray, mode: str, padding: str, align: bool):
    """The output and the input's gradient for the cotangent ``cot``, one output position at a time; a corner
    outside the input reads 0 (so a NaN weight still makes NaN, as a weight times a zero)."""
    n, c = x.shape[:2]
    sizes = x.shape[2:]
    k = len(sizes)
    out = np.zeros((n, c) + grid.shape[1:-1])
    gx = np.zeros_like(x)
    for b in range(n):
        for pos in itertools.product(*(range(s) for s in grid.shape[1:-1])):
            # the grid's component j addresses spatial axis k - 1 - j
            coords = [_pad(_unnormalize(float(grid[(b,) + pos + (k - 1 - a,)]), sizes[a], align), sizes[a],
                           padding, align) for a in range(k)]
            if mode == "nearest":
                taps = [([float(np.rint(cc))], [1.0]) for cc in coords]
            else:
                taps = []
                for cc in coords:
                    low = math.floor(cc) if math.isfinite(cc) else cc
                    taps.append(([low, low + 1], [(low + 1) - cc, cc - low]))
            for choice in itertools.product(*(range(len(t[0])) for t in taps)):
                w = 1.0
                for a in reversed(range(k)):  # x's factor first
                    w = w * taps[a][1][choice[a]]
                index = [taps[a][0][choice[a]] for a in range(k)]
                inside = all(math.isfinite(i) and 0 <= i < s for i, s in zip(index, sizes, strict=True))
                at = (b, slice(None)) + tuple(int(i) for i in index) if inside else None
                value = x[at] if inside else np.zeros(c)
                out[(b, slice(None)) + pos] += w * value
                if inside:
                    gx[at] += w * cot[(b, slice(None)) + pos]
    return out, gx


def _positions(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Grid positions in and well outside [-1, 1], with NaN, infinities, huge values and the borders."""
    g = rng.uniform(-2.2, 2.2, shape)
    flat = g.reshape(-1)
    special = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, -1.0, 1.0, 0.0])
    pick = rng.random(flat.size) < 0.3
    flat[pick] = rng.choice(special, size=int(pick.sum()))
    return g


@pytest.mark.parametrize("k,mode", [(2, "bilinear"), (2, "nearest"), (3, "bilinear"), (3, "nearest")])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_values_and_input_gradient_match_loops(device, k, mode, padding, align):
    rng = np.random.default_rng(hash((k, mode, padding, align)) % 2**32)
    x = rng.standard_normal((2, 3) + ((3, 4) if k == 2 else (2, 3, 2)))
    grid = _positions(rng, (2,) + ((3, 2) if k == 2 else (2, 2, 2)) + (k,))
    cot = rng.standard_normal((2, 3) + grid.shape[1:-1])
    ref_out, ref_gx = _reference(x, grid, cot, mode, padding, align)
    a = _t(x, device, grad=True)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warnings (casts of NaN, ...)
        out = F.grid_sample(a, _t(grid, device), mode, padding, align)
        out.backward(_t(cot, device))
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(a.grad.numpy(), ref_gx, rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------------ the chunked CPU loops
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_chunks_of_the_batch_give_the_one_chunk_results(device, mode, monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 2, 4, 3))
    grid = rng.uniform(-1.3, 1.3, (5, 2, 3, 2))
    cot = rng.standard_normal((5, 2, 2, 3))

    def run(chunk: int):
        monkeypatch.setattr(sampling, "_CHUNK", chunk)
        a, b = _t(x, device, grad=True), _t(grid, device, grad=True)
        out = F.grid_sample(a, b, mode, "border", False)
        out.backward(_t(cot, device))
        return out.numpy(), a.grad.numpy(), b.grad.numpy()

    whole = run(1 << 16)
    for chunk in (1, 7, 40):  # one batch entry per chunk, and chunks of two entries
        for u, v in zip(run(chunk), whole, strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-14, atol=1e-14)


def test_float32_keeps_its_dtype_and_agrees_with_float64(device):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 4))
    grid = rng.uniform(-1.2, 1.2, (2, 3, 3, 2))
    results = []
    for dtype in ("float32", "float64"):
        a, b = _t(x, device, True, dtype), _t(grid, device, True, dtype)
        out = F.grid_sample(a, b, "bilinear", "reflection", True)
        out.sum().backward()
        assert out.dtype == a.grad.dtype == b.grad.dtype == np.dtype(dtype)
        results.append((out.numpy(), a.grad.numpy(), b.grad.numpy()))
    for u, v in zip(*results, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ gradients of every order
@pytest.mark.parametrize("k,mode,padding,align", [
    (2, "bilinear", "zeros", False), (2, "bilinear", "border", True), (2, "bilinear", "reflection", False),
    (3, "bilinear", "zeros", True), (3, "bilinear", "reflection", False), (2, "bicubic", "reflection", True),
])
def test_first_and_second_order_gradcheck(device, k, mode, padding, align):
    rng = np.random.default_rng(5)
    c = 1 if mode == "bicubic" else 2  # bicubic's 16 taps: the slowest to differentiate twice
    x = _t(rng.standard_normal((1, c) + ((3, 3) if k == 2 else (2, 2, 2))), device, grad=True)
    g = _t(rng.uniform(-1.15, 1.15, (1,) + ((2, 2) if k == 2 else (1, 2, 2)) + (k,)), device, grad=True)
    cot = _t(rng.standard_normal((1, c) + g.shape[1:-1]), device)

    def f(a, b):
        return F.grid_sample(a, b, mode, padding, align)

    def penalty(a, b):  # a gradient penalty: the gradients' squares, differentiated again
        ga, gb = gk.grad(lambda u, v: (f(u, v) * cot).sum(), argnums=(0, 1))(a, b)
        return (ga**2).sum() + (gb**2).sum() + (f(a, b) ** 2).sum()

    assert gk.gradcheck(f, (x, g))
    assert gk.gradcheck(penalty, (x, g))
    # the recorded backward (create_graph) computes the gradients the plain one does
    plain = gk.autograd.grad((f(x, g) * cot).sum(), (x, g))
    recorded = gk.autograd.grad((f(x, g) * cot).sum(), (x, g), create_graph=True)
    for u, v in zip(plain, recorded, strict=True):
        np.testing.assert_allclose(v.numpy(), u.numpy(), rtol=1e-13, atol=1e-13)


def test_second_order_of_the_grid_alone_and_nearest(device):
    rng = np.random.default_rng(6)
    x = _t(rng.standard_normal((1, 2, 3, 3)), device)
    g = _t(rng.uniform(-0.9, 0.9, (1, 2, 2, 2)), device, grad=True)
    cot = _t(rng.standard_normal((1, 2, 2, 2)), device)

    def grid_gradient(b):  # d/d(grid) of d/d(grid): bilinear is linear along each axis, not jointly
        return gk.grad(lambda v: (F.grid_sample(x, v, "bilinear", "zeros", False) * cot).sum())(b)

    assert gk.gradcheck(grid_gradient, (g,))
    # nearest: the grid's gradient is zeros, and so are the derivatives through it (connected, not None)
    a = _t(rng.standard_normal((1, 2, 3, 3)), device, grad=True)
    out = F.grid_sample(a, g, "nearest", "zeros", False)
    ga, gg = gk.autograd.grad((out**2).sum(), (a, g), create_graph=True)
    np.testing.assert_array_equal(gg.numpy(), 0.0)
    da, dg = gk.autograd.grad((ga**2).sum() + (gg**2).sum(), (a, g))
    np.testing.assert_array_equal(dg.numpy(), 0.0)
    np.testing.assert_allclose(da.numpy(), 2 * ga.numpy() * 2, rtol=1e-13)  # ga = 2 a at the nearest pixels


def test_the_gradients_use_the_forwards_values(device):
    # the taps' values are a snapshot: changing the input in place afterwards changes no gradient (as the
    # composed sampler before), and raises nothing
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((1, 1, 3, 3))
    x = _t(x0, device, grad=True)
    g = _t(rng.uniform(-1, 1, (1, 2, 2, 2)), device, grad=True)
    out = F.grid_sample(x * 1.0, g, "bilinear", "zeros", False)
    expected = gk.grad(lambda v: F.grid_sample(_t(x0, device), v, "bilinear", "zeros", False).sum())(g).numpy()
    out.sum().backward()
    np.testing.assert_allclose(g.grad.numpy(), expected, rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------------ no host reads
@pytest.mark.parametrize("mode,k", [("bilinear", 2), ("bilinear", 3), ("nearest", 2), ("bicubic", 2)])
def test_no_host_reads_forward_backward_and_double_backward(device, monkeypatch, mode, k):
    rng = np.random.default_rng(8)
    x = _t(rng.standard_normal((2, 3) + ((4, 5) if k == 2 else (2, 3, 2))), device, grad=True)
    g = _t(_positions(rng, (2,) + ((3, 2) if k == 2 else (2, 2, 2)) + (k,)), device, grad=True)
    refuse_host_reads(device, monkeypatch)
    for padding in ("zeros", "border", "reflection"):
        with np.errstate(invalid="ignore"):
            out = F.grid_sample(x, g, mode, padding, True)
            ga, gg = gk.autograd.grad((out * out).sum(), (x, g), create_graph=True)
            ((ga**2).sum() + (gg**2).sum()).backward()
