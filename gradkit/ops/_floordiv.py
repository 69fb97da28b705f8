"""Floor division and remainder as NumPy computes them, on NumPy and CuPy arrays alike.

CuPy's float ``floor_divide`` is ``floor(a / b)``, which is one more than NumPy's (and PyTorch's)
result where ``a / b`` rounds up to an integer: ``1.0 // 0.1`` is 9.0 in NumPy, 10.0 in CuPy, and
signed zeros and infinities differ too. NumPy's own algorithm (``npy_divmod``) uses only operations
that IEEE 754 defines exactly (``fmod``, ``floor``, ``copysign``, correctly rounded ``-`` and ``/``),
so written with array operations it gives NumPy's bits on a GPU as well. NumPy arrays keep NumPy's
ufuncs; only CuPy's float results take the longer route (floor division is rare in training code).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_NUMBERS = (bool, int, float, complex, np.generic)


def _device_module(a: Any, b: Any) -> Any:
    """The array module of a non-NumPy array operand (CuPy), or None when NumPy does the work."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return None
    for v in (a, b):
        if not isinstance(v, _NUMBERS):
            from gradkit.kernels.reference import get_array_module

            return get_array_module(v)
    return None


def _float_divmod(xp: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """NumPy's ``npy_divmod`` elementwise: ``(a // b, a % b)`` for a float result.

    Both operands first take the result's dtype, as NumPy's ufunc loop casts them: a Python number
    becomes a NumPy scalar on the host (a float16 array's ``0.1`` is ``float16(0.1)``, not the float32
    0.1 that the half-precision route below would otherwise divide by), an integer array a float copy.
    A number operand's tests (``b == 0``, ``b < 0``) are decided on the host: ``cupy.where`` takes only
    an array condition (it calls ``condition.astype``), and nothing is read back from the device.
    """
    dtype = np.dtype(xp.result_type(a, b))
    with np.errstate(over="ignore"):  # a Python int beyond the dtype: inf, as the ufunc converts it (CuPy: silently)
        a, b = (dtype.type(v) if isinstance(v, _NUMBERS) else v.astype(dtype, copy=False) for v in (a, b))
    if dtype == np.float16:  # NumPy divides halves in float32 and rounds the results once
        q, r = _float_divmod(xp, a.astype(np.float32), b.astype(np.float32))
        return q.astype(np.float16), r.astype(np.float16)
    # xp's functions, or an array on an operator's left: a NumPy scalar's operator would hand a CuPy array to NumPy
    mod = xp.fmod(a, b)
    div = xp.true_divide(xp.subtract(a, mod), b)
    # a remainder of the other sign than b moves to b's side, and the quotient one down
    fix = (mod != 0) & ((mod < 0) != (b < 0))
    div = xp.where(fix, div - 1, div)
    mod = xp.where(fix, mod + b, mod)
    mod = xp.where(mod == 0, xp.copysign(xp.zeros_like(mod), b), mod)
    floordiv = xp.floor(div)
    floordiv = xp.where(div - floordiv > 0.5, floordiv + 1, floordiv)
    quotient = xp.true_divide(a, b)
    floordiv = xp.where(div == 0, xp.copysign(xp.zeros_like(floordiv), quotient), floordiv)
    # b == 0: the plain quotient (inf or NaN); fmod already made the remainder NaN
    if isinstance(b, np.generic):
        floordiv = quotient if b == 0 else floordiv
    else:
        floordiv = xp.where(b == 0, quotient, floordiv)
    return floordiv.astype(dtype, copy=False), mod.astype(dtype, copy=False)


def floor_divide(a: Any, b: Any) -> Any:
    """``a // b`` for arrays (or an array and a number) of one array module, with NumPy's values."""
    xp = _device_module(a, b)
    if xp is None or np.dtype(xp.result_type(a, b)).kind != "f":
        return (xp or np).floor_divide(a, b)
    return _float_divmod(xp, a, b)[0]


def remainder(a: Any, b: Any) -> Any:
    """``a % b`` (the sign of ``b``) for arrays of one array module, with NumPy's values."""
    xp = _device_module(a, b)
    if xp is None or np.dtype(xp.result_type(a, b)).kind != "f":
        return (xp or np).remainder(a, b)
    return _float_divmod(xp, a, b)[1]
