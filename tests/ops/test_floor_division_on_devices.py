"""Floor division and remainder give NumPy's values bit for bit on every device.

CuPy's own float floor_divide is floor(a / b): 1.0 // 0.1 was 10.0 on a GPU (NumPy and PyTorch: 9.0),
found by ci/gpu-check on an H200. gradkit computes NumPy's algorithm on CuPy arrays instead.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops._floordiv import _float_divmod

SPECIALS = [5.0, -5.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 7.5, -7.5, 1e308, 1.0, 0.1, -0.1, 1e-308, 3.0, -3.0]


def _operands(dtype):
    rng = np.random.default_rng(3)
    a = np.concatenate([np.repeat(SPECIALS, len(SPECIALS)), rng.standard_normal(300) * 10,
                        rng.integers(-20, 20, 60).astype(float)])
    b = np.concatenate([np.tile(SPECIALS, len(SPECIALS)), rng.standard_normal(300),
                        rng.choice([0.1, 0.2, 0.3, -0.1, 1 / 3, 7.0], 60)])
    with np.errstate(over="ignore"):
        return a.astype(dtype), b.astype(dtype)


def _same_bits(got, want):
    """Equal bit for bit (the sign of zero included), NaN matching NaN."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    same = (got.view(np.uint8).reshape(got.size, -1) == want.view(np.uint8).reshape(want.size, -1)).all(1)
    same |= (np.isnan(got) & np.isnan(want)).reshape(-1)
    assert same.all(), (got.reshape(-1)[~same][:6], want.reshape(-1)[~same][:6])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_the_array_form_of_numpys_algorithm_is_numpys_ufunc(dtype):
    a, b = _operands(dtype)
    with np.errstate(all="ignore"):
        q, r = _float_divmod(np, a, b)
        _same_bits(q, np.floor_divide(a, b))
        _same_bits(r, np.remainder(a, b))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_floor_division_and_remainder_match_numpy_on_every_device(device, dtype):
    a, b = _operands(dtype)
    ta, tb = gk.tensor(a, device=device), gk.tensor(b, device=device)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want_q, want_r = np.floor_divide(a, b), np.remainder(a, b)
        _same_bits((ta // tb).numpy(), want_q)
        _same_bits((ta % tb).numpy(), want_r)
        q, r = divmod(ta, tb)
        _same_bits(q.numpy(), want_q)
        _same_bits(r.numpy(), want_r)
        _same_bits(ta.div(tb, rounding_mode="floor").numpy(), want_q)
        _same_bits(gk.floor_divide(ta, 0.1).numpy(), np.floor_divide(a, np.asarray(0.1, dtype)))
        _same_bits(gk.remainder(2.5, tb).numpy(), np.remainder(np.asarray(2.5, dtype), b))


def test_one_divided_by_a_tenth_is_nine(device):
    one = gk.tensor([1.0, -1.0], dtype="float64", device=device)
    tenth = gk.tensor([0.1, 0.1], dtype="float64", device=device)
    np.testing.assert_array_equal((one // tenth).numpy(), [9.0, -10.0])
    np.testing.assert_array_equal(one.div(tenth, rounding_mode="floor").numpy(), [9.0, -10.0])
    np.testing.assert_allclose((one % tenth).numpy(), np.remainder([1.0, -1.0], 0.1), rtol=0)


def test_remainders_gradient_uses_the_same_quotient(device):
    a = gk.tensor([1.0, 7.5, -7.5], device=device, requires_grad=True)
    b = gk.tensor([0.1, 2.0, 2.0], device=device, requires_grad=True)
    (a % b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), -np.floor_divide([1.0, 7.5, -7.5], [0.1, 2.0, 2.0]))
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0, 1.0])


def test_integers_keep_the_array_modules_own_division(device):
    a = gk.tensor([7, -7, 6, 0], device=device)
    b = gk.tensor([2, 2, -4, 3], device=device)
    np.testing.assert_array_equal((a // b).numpy(), [3, -4, -2, 0])
    np.testing.assert_array_equal((a % b).numpy(), [1, 1, -2, 0])
    assert (a // b).dtype == np.int64
