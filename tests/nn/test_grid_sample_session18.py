"""F.grid_sample's bicubic weights node, its CPU tap tables and the CPU reflection remainder (session 18).

Bicubic values and gradients against loops over the output positions with PyTorch's formulas (every padding
mode, both align_corners, positions far outside the input, NaN and infinite, which reflection's tables leave to
the formulas), the weights node's gradient of the grid at first and second order (gradcheck, and the recorded
backward against the plain one), the reflection against fmod on the edge values of float32 and float64, and no
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


def _keys(t: float) -> list[float]:
    a = -0.75

    def near(z):
        return ((a + 2) * z - (a + 3)) * z * z + 1

    def far(z):
        return ((a * z - 5 * a) * z + 8 * a) * z - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _bicubic_reference(x: np.ndarray, grid: np.ndarray, cot: np.ndarray, padding: str, align: bool):
    """PyTorch's bicubic kernel, one output position at a time: the output and the input's gradient for ``cot``;
    each tap's whole position goes through the padding mode (get_value_bounded), a tap outside reads 0."""
    n, c, h, w = x.shape
    out = np.zeros((n, c) + grid.shape[1:3])
    gx = np.zeros_like(x)
    for b, i, j in itertools.product(range(n), range(grid.shape[1]), range(grid.shape[2])):
        cx = _unnormalize(float(grid[b, i, j, 0]), w, align)
        cy = _unnormalize(float(grid[b, i, j, 1]), h, align)
        if not (math.isfinite(cx) and math.isfinite(cy)):
            continue  # the tests below keep these to the outputs' NaN pattern
        lx, ly = math.floor(cx), math.floor(cy)
        wx, wy = _keys(cx - lx), _keys(cy - ly)
        for p, q in itertools.product(range(4), range(4)):
            py = _pad(ly - 1 + p, h, padding, align)
            px = _pad(lx - 1 + q, w, padding, align)
            if not (0 <= py < h and 0 <= px < w):
                continue
            weight = wx[q] * wy[p]
            out[b, :, i, j] += weight * x[b, :, int(py), int(px)]
            gx[b, :, int(py), int(px)] += weight * cot[b, :, i, j]
    return out, gx


@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("spread", [1.2, 9.0, 400.0])  # near the input, beyond the tables, far beyond
def test_bicubic_values_and_input_gradient_match_loops(device, padding, align, spread):
    rng = np.random.default_rng(hash((padding, align, spread)) % 2**32)
    x = rng.standard_normal((2, 2, 3, 4))
    grid = rng.uniform(-spread, spread, (2, 5, 4, 2))
    grid[0, 0, 0] = (-1.0, 1.0)
    grid[1, 1, 1] = (0.0, 0.5)
    cot = rng.standard_normal((2, 2, 5, 4))
    ref_out, ref_gx = _bicubic_reference(x, grid, cot, padding, align)
    a = _t(x, device, grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = F.grid_sample(a, _t(grid, device), "bicubic", padding, align)
        out.backward(_t(cot, device))
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), ref_gx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_bicubic_nan_and_infinite_positions_match_the_formulas(device, padding, monkeypatch):
    # the CPU tables send NaN and infinite positions where the formulas do (reflection: the formulas themselves)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 2, 4, 5))
    special = [np.nan, np.inf, -np.inf, 1e30, -1e30, 1e7, -3e7, 0.3]
    grid = np.array([[[[u, v] for u in special] for v in special]])

    def run():
        with np.errstate(invalid="ignore"):
            return F.grid_sample(_t(x, device), _t(grid, device), "bicubic", padding, False).numpy()

    fast = run()
    monkeypatch.setattr(sampling, "np", _NotNumpy(np))  # the taps' formulas, as off the CPU
    np.testing.assert_array_equal(run(), fast)


class _NotNumpy:
    """NumPy under another identity, so that ``xp is np`` fails in the sampler's tap and remainder helpers."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)


@pytest.mark.parametrize("padding,align", [("zeros", False), ("border", True), ("reflection", False),
                                           ("reflection", True)])
def test_bicubic_grid_gradient_first_and_second_order(device, padding, align):
    rng = np.random.default_rng(12)
    x = _t(rng.standard_normal((1, 1, 3, 4)), device, grad=True)
    g = _t(rng.uniform(-1.3, 1.3, (1, 2, 2, 2)), device, grad=True)
    cot = _t(rng.standard_normal((1, 1, 2, 2)), device)

    def grid_gradient(b):
        return gk.grad(lambda v: (F.grid_sample(x, v, "bicubic", padding, align) * cot).sum())(b)

    assert gk.gradcheck(lambda b: F.grid_sample(x, b, "bicubic", padding, align), (g,))
    assert gk.gradcheck(grid_gradient, (g,))
    plain = gk.autograd.grad((F.grid_sample(x, g, "bicubic", padding, align) * cot).sum(), (x, g))
    recorded = gk.autograd.grad((F.grid_sample(x, g, "bicubic", padding, align) * cot).sum(), (x, g),
                                create_graph=True)
    for u, v in zip(plain, recorded, strict=True):
        np.testing.assert_allclose(v.numpy(), u.numpy(), rtol=1e-13, atol=1e-13)


def test_bicubic_float32_agrees_with_float64(device):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 6, 5))
    grid = rng.uniform(-1.4, 1.4, (2, 4, 3, 2))
    results = []
    for dtype in ("float32", "float64"):
        a, b = _t(x, device, True, dtype), _t(grid, device, True, dtype)
        out = F.grid_sample(a, b, "bicubic", "reflection", False)
        out.sum().backward()
        assert out.dtype == a.grad.dtype == b.grad.dtype == np.dtype(dtype)
        results.append((out.numpy(), a.grad.numpy(), b.grad.numpy()))
    for u, v in zip(*results, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-4)


def _fmod_reflection(c: np.ndarray, n: int, align: bool) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's reflect-then-clip with fmod, in the array's dtype (session 17's code): positions and slopes."""
    twice_low, twice_high = (0, 2 * (n - 1)) if align else (-1, 2 * n - 1)
    if twice_low == twice_high:
        return np.zeros_like(c), np.zeros_like(c)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    d = c - low
    sign = np.where(d < 0, -1.0, 1.0).astype(c.dtype)
    a = np.abs(d)
    with np.errstate(invalid="ignore"):
        extra = np.fmod(a, span)
        flips = np.floor(a / span)
        even = np.fmod(flips, 2) == 0
    value = np.where(even, extra + low, span - extra + low).astype(c.dtype)
    inside = (value > 0) & (value < n - 1)
    clipped = np.where(np.isnan(value), 0, np.clip(value, 0, n - 1)).astype(c.dtype)
    return clipped, np.where(even, sign, -sign) * inside


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n,align", [(1, False), (2, True), (3, False), (5, True), (64, False), (100, True)])
def test_reflection_matches_fmod(dtype, n, align):
    # the CPU remainder (a - flips * span, corrected where a / span rounded up) against PyTorch's fmod formula
    dt = np.dtype(dtype)
    rng = np.random.default_rng(n)
    span = n if not align else max(n - 1, 1)
    multiples = (np.arange(-60, 61) * span).astype(dt)
    values = np.concatenate([
        rng.uniform(-7 * n, 7 * n, 20000).astype(dt), np.arange(-8 * n, 8 * n + 1).astype(dt) / 2,
        np.nextafter(multiples, dt.type(np.inf)), np.nextafter(multiples, dt.type(-np.inf)), multiples - 0.5,
        np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 2.0**23, 2.0**23 - 1, 2.0**24 + 2, -(2.0**23), 1e7, 3e7,
                  2.0**52, 2.0**53 + 2, 1e300], dtype=np.float64).astype(dt) if dt == np.float64 else
        np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 2.0**23, 2.0**23 - 1, 2.0**24 + 2, -(2.0**23), 1e7, 3e7],
                 dtype=dt),
    ]).astype(dt)
    with np.errstate(invalid="ignore"):
        value, slope = sampling._pad_raw(np, values, n, "reflection", align)
        expected, expected_slope = _fmod_reflection(values, n, align)
    assert value.dtype == slope.dtype == dt
    np.testing.assert_array_equal(value, expected)
    np.testing.assert_array_equal(slope, expected_slope)


def test_no_host_reads_bicubic_far_positions(device, monkeypatch):
    rng = np.random.default_rng(14)
    x = _t(rng.standard_normal((2, 2, 4, 5)), device, grad=True)
    grid = rng.uniform(-30, 30, (2, 3, 2, 2))
    grid[0, 0, 0] = (np.nan, np.inf)
    g = _t(grid, device, grad=True)
    refuse_host_reads(device, monkeypatch)
    for padding in ("zeros", "border", "reflection"):
        with np.errstate(invalid="ignore"):
            out = F.grid_sample(x, g, "bicubic", padding, False)
            ga, gg = gk.autograd.grad((out * out).sum(), (x, g), create_graph=True)
            ((ga**2).sum() + (gg**2).sum()).backward()
