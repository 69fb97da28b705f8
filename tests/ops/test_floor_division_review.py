"""Review of the CuPy floor division (gradkit/ops/_floordiv.py) and the CuPy convergence check of svd/eigh.

* A Python number beside a float16 array is a float16 in NumPy's ufunc (``float16(0.1)``), not the float32
  0.1 of the half-precision route: ``float16(1) // 0.1`` is 10 in NumPy.
* ``cupy.where`` calls ``condition.astype``: a Python bool condition (``b == 0`` for a number ``b``) is an
  AttributeError on a real GPU, which the NumPy-backed emulation does not show. ``_StrictXp`` below is
  NumPy with CuPy 14.2's ``where`` (cupy/_sorting/search.py).
* svd/eigh of a finite matrix whose values overflow return inf in NumPy; on CuPy that is not a failed
  iteration.
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import _floordiv
from gradkit.ops._floordiv import _float_divmod


def _same_bits(got, want):
    """Equal dtype, shape and bits (the sign of zero included), NaN matching NaN."""
    got, want = np.atleast_1d(np.asarray(got)), np.atleast_1d(np.asarray(want))
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    same = (got.view(np.uint8).reshape(got.size, -1) == want.view(np.uint8).reshape(want.size, -1)).all(1)
    if want.dtype.kind == "f":
        same |= (np.isnan(got) & np.isnan(want)).reshape(-1)
    assert same.all(), (got.reshape(-1)[~same][:6], want.reshape(-1)[~same][:6])


def _strict_where(condition, x=None, y=None):
    if x is None and y is None:
        return np.nonzero(condition)
    return np.where(condition.astype("?", copy=False), x, y)  # CuPy 14.2: a bool has no astype


_StrictXp = types.SimpleNamespace(**{name: getattr(np, name) for name in dir(np) if not name.startswith("__")})
_StrictXp.where = _strict_where

F16 = np.array([1.0, 2.0, 3.0, 5.0, -1.0, -7.5, 0.0, -0.0, 4097.0, np.inf, -np.inf, np.nan, 0.1, 65504.0], np.float16)
NUMBERS = [0.1, -0.1, 2049, 3, -3.0, 0.0, -0.0, np.inf, True, 7.5]


@pytest.mark.parametrize("b", NUMBERS)
@pytest.mark.parametrize("number_first", [False, True])
def test_a_number_beside_a_float16_array_is_a_float16_first(b, number_first):
    args = (b, F16) if number_first else (F16, b)
    with np.errstate(all="ignore"):
        q, r = _float_divmod(np, *args)
        _same_bits(q, np.floor_divide(*args))
        _same_bits(r, np.remainder(*args))


@pytest.mark.parametrize("b", NUMBERS + [np.float32(0.1), np.float64(0.1), np.float16(0.3), np.int8(3)])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int8", "int64", "uint8", "bool"])
@pytest.mark.parametrize("number_first", [False, True])
def test_numbers_beside_arrays_of_every_dtype_take_numpys_dtype_and_bits(dtype, b, number_first):
    values = [7.0, 0.0, 1.0, 3.0, 100.0] + ([] if dtype == "uint8" else [-7.5])
    a = np.array(values).astype(dtype)
    args = (b, a) if number_first else (a, b)
    try:
        with np.errstate(all="ignore"):
            want_q, want_r = np.floor_divide(*args), np.remainder(*args)
    except OverflowError:  # int8 // 2049: NumPy 2 refuses the number (an integer result: not this module's)
        return
    if want_q.dtype.kind != "f":
        return  # integers keep the array module's own floor_divide
    with np.errstate(all="ignore"):
        q, r = _float_divmod(_StrictXp, *args)
    _same_bits(q, want_q)
    _same_bits(r, want_r)


@pytest.mark.parametrize("b", [0.1, 0.0, -0.0, 2, np.float32(0.1)])
def test_a_number_divisor_needs_no_where_on_a_bool(b):
    """A number's ``b == 0`` is a Python bool: ``cupy.where`` refuses it (``.astype``), so it is decided on the host."""
    a = np.array([1.0, -1.0, 0.0, np.inf, np.nan, 7.5], np.float32)
    with np.errstate(all="ignore"):
        q, r = _float_divmod(_StrictXp, a, b)
        _same_bits(q, np.floor_divide(a, b))
        _same_bits(r, np.remainder(a, b))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_tensor_and_number_on_every_device(device, dtype):
    a = np.array([1.0, 2.0, 3.0, 5.0, -1.0, -7.5, 0.0, 100.0], dtype)
    t = gk.tensor(a, device=device)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for b in (0.1, -0.1, 3, 0.0):
            _same_bits((t // b).numpy(), np.floor_divide(a, b))
            _same_bits((t % b).numpy(), np.remainder(a, b))
            _same_bits((b % t).numpy(), np.remainder(b, a))
            _same_bits((b // t).numpy(), np.floor_divide(b, a))
            _same_bits(t.div(b, rounding_mode="floor").numpy(), np.floor_divide(a, b))


def test_integer_tensors_with_float_numbers_and_bools(device):
    ints = np.array([7, -7, 0, 3], np.int64)
    t = gk.tensor(ints, device=device)
    _same_bits((t // 0.1).numpy(), np.floor_divide(ints, 0.1))
    _same_bits((t % 0.1).numpy(), np.remainder(ints, 0.1))
    flags = np.array([True, False, True])
    f = gk.tensor(flags, device=device)
    _same_bits((f // 0.1).numpy(), np.floor_divide(flags, 0.1))
    _same_bits((f % 0.3).numpy(), np.remainder(flags, 0.3))


def test_remainders_gradient_with_a_number_first(device):
    b = gk.tensor([0.1, 2.0, -2.0], dtype="float32", device=device, requires_grad=True)
    (1.0 % b).sum().backward()
    assert b.grad.dtype == np.float32
    np.testing.assert_array_equal(b.grad.numpy(), -np.floor_divide(np.float32(1.0), b.detach().numpy()))


def test_interp_with_a_period_on_every_device(device):
    """interp(period=) takes ``remainder(x, p)`` of a float64 tensor and a Python float."""
    x = np.array([-180.0, -200.0, 0.1, 359.9, 720.3, 1.0])
    xp_, fp = np.array([190.0, -190.0, 350.0, -350.0]), np.array([5.0, 10.0, 3.0, 4.0])
    x_t, xp_t, fp_t = (gk.tensor(v, device=device) for v in (x, xp_, fp))
    got = gk.interp(x_t, xp_t, fp_t, period=360)
    np.testing.assert_allclose(got.numpy(), np.interp(x, xp_, fp, period=360), rtol=1e-12)


def test_numpy_arrays_keep_numpys_ufuncs():
    a = np.array([1.0, 7.5])
    assert _floordiv._device_module(a, 0.1) is None and _floordiv._device_module(0.1, a) is None
    assert _floordiv._device_module(1j, 2) is None


# ------------------------------------------------------------------ svd / eigh on CuPy


@pytest.mark.parametrize("dtype,big", [("float64", 1e308), ("float32", 3e38)])
def test_overflow_from_a_finite_matrix_is_not_a_failed_iteration(device, dtype, big):
    a = np.full((2, 2), big, dtype)
    with np.errstate(all="ignore"):
        want_w = np.linalg.eigvalsh(a)
        want_s = np.linalg.svd(a, compute_uv=False)
    assert not np.isfinite(want_w).all() and not np.isfinite(want_s).all()  # NumPy returns inf, no error
    t = gk.tensor(a, device=device)
    with np.errstate(over="ignore"):  # NumPy's float32 solvers work in float64 and cast back
        assert np.isinf(gk.linalg.eigvalsh(t).numpy()).any()
        assert np.isinf(gk.linalg.eigh(t).eigenvalues.numpy()).any()
        assert np.isinf(gk.linalg.svd(t, compute_uv=False).numpy()).any()
        assert np.isinf(gk.linalg.svd(t).S.numpy()).any()


@pytest.mark.parametrize("compute_uv", [True, False])
def test_svd_of_a_nan_matrix_raises_on_every_device(device, compute_uv):
    a = gk.tensor(np.full((3, 3), np.nan), device=device)
    with pytest.raises(gk.linalg.LinAlgError, match="linalg.svd: the SVD did not converge"):
        gk.linalg.svd(a, compute_uv=compute_uv)


def test_the_convergence_check_reads_nothing_while_a_step_is_captured(device, monkeypatch):
    """While a CUDA graph is captured host reads are off: the check must skip itself, not sync."""
    from gradkit.ops import linalg as ops_linalg

    if device == "cpu":
        pytest.skip("NumPy raises itself; the check is CuPy's")
    a = gk.tensor(np.full((2, 2), np.nan), device=device)._data
    monkeypatch.setattr(ops_linalg, "host_read_allowed", lambda array: False)
    out = ops_linalg._lapack("linalg.svd", "the SVD did not converge", lambda m: m * 1.0, a, converged=True)
    assert out is not a
