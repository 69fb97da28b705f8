"""Regression tests from an adversarial review of session 18's Tensor methods (gradkit/ops/tensor_methods_math.py,
gradkit/ops/tensor_methods_misc.py), fuzzed against PyTorch 2.14. Expected values were computed once with PyTorch
and are written in; torch is not imported."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk

nan, inf = math.nan, math.inf


def _t(values, device, dtype=gk.float64, requires_grad=False):
    return gk.tensor(np.array(values), dtype=dtype, device=device, requires_grad=requires_grad)


def test_absolute_refuses_bool_as_pytorch(device):
    with pytest.raises(gk.DTypeError):
        _t([True, False], device, gk.bool_).absolute()
    with pytest.raises(gk.DTypeError):
        _t([True, False], device, gk.bool_).absolute_()
    assert _t([-2, 3], device, gk.int8).absolute().tolist() == [2, 3]


@pytest.mark.parametrize("dtype", [gk.bool_, gk.int8, gk.int64])
def test_frexp_refuses_non_floats_as_pytorch(device, dtype):
    with pytest.raises(gk.DTypeError):
        _t([1, 0], device, dtype).frexp()


def test_shifts_refuse_two_bools_only(device):
    b = _t([True, False], device, gk.bool_)
    with pytest.raises(gk.DTypeError):
        b.bitwise_left_shift(b)
    with pytest.raises(gk.DTypeError):
        b.bitwise_right_shift(True)
    # PyTorch: int8 << bool and bool << int8 are int8
    assert _t([3], device, gk.int8).bitwise_left_shift(_t([True], device, gk.bool_)).tolist() == [6]
    out = _t([True], device, gk.bool_).bitwise_left_shift(_t([1], device, gk.int8))
    assert out.tolist() == [2] and out.dtype == np.int8


def test_integer_division_by_zero_with_an_empty_result(device):
    # nothing is divided: no error, as PyTorch
    x = _t(np.zeros(0), device, gk.int8)
    zero = _t([0], device, gk.int8)
    assert x.remainder(zero).shape == (0,)
    assert x.clone().remainder_(zero).shape == (0,)
    assert x.clone().fmod_(_t([False], device, gk.bool_)).shape == (0,)
    with pytest.raises(gk.InvalidArgumentError):
        _t([3], device, gk.int8).remainder(zero)


def test_nextafter_integer_other_steps_in_self_dtype(device):
    # PyTorch (float32 self, int64 other) steps in float32; NumPy's promotion stepped in float64
    x = _t([1.0, 1.0, 3.4028234663852886e38], device, gk.float32)
    other = _t([2, 0, 2**62], device, gk.int64)
    out = x.nextafter(other)
    assert out.dtype == np.float32
    expected = np.array([1.0000001192092896, 0.9999999403953552, 3.4028232635611926e38], np.float32)
    np.testing.assert_array_equal(out.numpy(), expected)
    h = _t([1.0, -1.5, 2.0], device, gk.float16)
    h.nextafter_(_t([2, -2, 100], device, gk.int64))  # was a no-op / inf in float16
    np.testing.assert_array_equal(h.numpy(), np.array([1.0009765625, -1.5009765625, 2.001953125], np.float16))


def test_cov_corrcoef_keep_float32(device):
    x = _t([[0.0, 1.0, 3.0], [2.0, 2.5, 1.0]], device, gk.float32, requires_grad=True)
    c = x.cov()
    assert c.dtype == np.float32
    np.testing.assert_allclose(c.numpy(), [[2.3333332538604736, -0.9166666865348816],
                                           [-0.9166666865348816, 0.5833333730697632]], rtol=1e-6)
    r = x.corrcoef()
    assert r.dtype == np.float32
    np.testing.assert_allclose(r.numpy(), [[1.0, -0.7857142686843872], [-0.785714328289032, 1.0]], rtol=1e-6)
    c.sum().backward()
    assert x.grad is not None and x.grad.dtype == np.float32
    assert _t([[1, 2, 4]], device, gk.int64).cov().dtype == np.float64  # NumPy's promotion, documented


def test_triangular_solve_clones_coefficient_broadcast(device):
    a = _t([[2.0, 1.0], [0.0, 4.0]], device)
    b = _t(np.arange(12.0).reshape(3, 2, 2), device)
    sol, coef = b.triangular_solve(a)
    assert coef.shape == (3, 2, 2)  # PyTorch: A broadcast to the batch
    np.testing.assert_array_equal(coef.numpy()[1], [[2.0, 1.0], [0.0, 4.0]])
    np.testing.assert_allclose(sol.numpy()[0], [[-0.25, 0.125], [0.5, 0.75]])


def test_msort_of_a_0d_tensor(device):
    x = _t(3.0, device, requires_grad=True)
    out = x.msort()
    assert out.shape == () and out.item() == 3.0
    out.backward()
    assert x.grad.item() == 1.0


def test_cumsum_cumprod_in_place_on_0d(device):
    x = _t(2.5, device)
    assert x.cumsum_(0) is x and x.shape == () and x.item() == 2.5
    y = _t(3, device, gk.int8)
    assert y.cumprod_(-1).shape == () and y.item() == 3


def test_nonzero_static_of_an_empty_tensor(device):
    out = _t(np.zeros((2, 0, 3)), device).nonzero_static(size=2, fill_value=7)
    assert out.shape == (2, 3) and out.dtype == np.int64
    assert out.tolist() == [[7, 7, 7], [7, 7, 7]]
    assert _t(np.zeros(0), device).nonzero_static(size=0).shape == (0, 1)


def test_unique_consecutive_of_an_empty_dim(device):
    values, inverse, counts = _t(np.zeros(0), device).unique_consecutive(dim=0, return_inverse=True,
                                                                         return_counts=True)
    assert values.shape == (0,) and inverse.shape == (0,) and counts.shape == (0,)


def test_mode_counts_nans_together(device):
    # PyTorch: mode([nan, nan, 1.]) is nan (2 of them)
    out = _t([nan, nan, 1.0], device).mode()
    assert math.isnan(out.values.item()) and out.indices.item() in (0, 1)
    out = _t([[nan, 2.0, nan, 2.0, 2.0]], device).mode(dim=1)
    assert out.values.tolist() == [2.0] and out.indices.tolist() == [4]


@pytest.mark.parametrize("name", ["sin_", "tan_", "frac_", "rsqrt_", "erfinv_"])
def test_float_result_into_integer_self_raises(device, name):
    x = _t([1, 2], device, gk.int32)
    with pytest.raises(gk.DTypeError):
        getattr(x, name)()
    assert x.tolist() == [1, 2] and x._version[0] == 0
