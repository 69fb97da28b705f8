"""Modified Bessel functions of the first kind, orders 0 and 1: i0, i1 and the scaled i0e, i1e (times exp(-|x|)).

As in ``special``: ``scipy.special`` / ``cupyx.scipy.special`` when importable, else the NumPy versions
below (within about 1.5e-15 relative). i0 and i1 overflow to inf beyond |x| = 709.78 (exp(|x|) does: SciPy's
and PyTorch's values) and, as those give, are NaN at +-inf; i0e and i1e are 0 there. Slopes, as PyTorch's
and written with these functions, so every order is available: i0' = i1, i1' = i0 - i1/x (1/2 at 0),
i0e' = i1e - sign(x) i0e, i1e' = i0e - i1e (sign(x) + 1/x) (1/2 at 0).
"""

from __future__ import annotations

import math
from typing import Any

from gradkit.autograd.function import record
from gradkit.ops._util import as_tensor
from gradkit.ops.elementwise import where
from gradkit.ops.special import _evaluate, _on_flat, _split
from gradkit.tensor import Tensor


# ------------------------------------------------------------------ the operations
def i0(x: Any) -> Tensor:
    """The modified Bessel function I0 (even); slope i1(x)."""
    x = as_tensor(x, "i0")
    data = _evaluate(x, "i0", _i0_fallback, _at_infinity_nan)
    return record("i0", data, x._backend, (x,), (_i0_vjp,), (x,))


def _i0_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * i1(x)


def i0e(x: Any) -> Tensor:
    """exp(-|x|) I0(x), without overflow; slope i1e(x) - sign(x) i0e(x) (0 at 0, the mean of the one-sided
    slopes of this kink)."""
    x = as_tensor(x, "i0e")
    data = _evaluate(x, "i0e", _i0e_fallback)
    return record("i0e", data, x._backend, (x,), (_i0e_vjp,), (x,), save_output=True)


def _i0e_vjp(g: Tensor, x: Tensor, y: Tensor) -> Tensor:
    return g * (i1e(x) - y * x._backend.xp.sign(x._data))


def i1(x: Any) -> Tensor:
    """The modified Bessel function I1 (odd); slope i0(x) - i1(x) / x (1/2 at 0)."""
    x = as_tensor(x, "i1")
    data = _evaluate(x, "i1", _i1_fallback, _at_infinity_nan)
    return record("i1", data, x._backend, (x,), (_i1_vjp,), (x,), save_output=True)


def _i1_vjp(g: Tensor, x: Tensor, y: Tensor) -> Tensor:
    zero = x._data == 0
    safe = where(zero, 1.0, x)  # no 0/0 in the branch that is not taken
    return g * where(zero, 0.5, i0(x) - y / safe)


def i1e(x: Any) -> Tensor:
    """exp(-|x|) I1(x), without overflow; slope i0e(x) - i1e(x) (sign(x) + 1/x) (1/2 at 0)."""
    x = as_tensor(x, "i1e")
    data = _evaluate(x, "i1e", _i1e_fallback)
    return record("i1e", data, x._backend, (x,), (_i1e_vjp,), (x,), save_output=True)


def _i1e_vjp(g: Tensor, x: Tensor, y: Tensor) -> Tensor:
    d = x._data
    zero = d == 0
    safe = where(zero, 1.0, x)
    return g * where(zero, 0.5, i0e(x) - y * (1 / safe + x._backend.xp.sign(d)))


def _at_infinity_nan(xp: Any, x: Any, out: Any) -> Any:
    return xp.where(xp.isinf(x), math.nan, out)  # SciPy's and PyTorch's i0 and i1 there


# ------------------------------------------------------------------ NumPy implementations
# |x| <= 20: the power series (positive terms; 45 reach 1e-16 at 20); beyond, the asymptotic series
# e^x / sqrt(2 pi x) sum_k c_k / x^k, c_k = (-1)^k prod_{j <= k} (4 nu^2 - (2j - 1)^2) / (k! 8^k), whose
# terms fall below 1e-16 within 22.
_BESSEL_FAR = 20.0
_SERIES_TERMS = 45
_ASYMPTOTIC_TERMS = 22


def _series(xp: Any, m: Any, nu: int) -> Any:
    """I_nu(m) = (m/2)^nu sum_k (m^2/4)^k / (k! (k + nu)!)."""
    z = m * m / 4
    term = xp.ones_like(m)
    total = xp.ones_like(m)
    for k in range(1, _SERIES_TERMS + 1):
        term = term * z / (k * (k + nu))
        total = total + term
    return total * (m / 2) if nu else total


def _asymptotic(xp: Any, m: Any, nu: int) -> Any:
    """exp(-m) I_nu(m) for m > 20."""
    mu = 4 * nu * nu
    term = xp.ones_like(m)
    total = xp.ones_like(m)
    for k in range(1, _ASYMPTOTIC_TERMS + 1):
        term = term * ((2 * k - 1) ** 2 - mu) / (8 * k * m)
        total = total + term
    return total / xp.sqrt(2 * math.pi * m)


def _scaled(xp: Any, a: Any, nu: int) -> Any:
    """exp(-|a|) I_nu(|a|)."""
    m = xp.abs(a)
    return _split(xp, m, m <= _BESSEL_FAR, lambda v: _series(xp, v, nu) * xp.exp(-v), lambda v: _asymptotic(xp, v, nu))


def _unscaled(xp: Any, a: Any, nu: int) -> Any:
    """I_nu(|a|): the series, or exp(|a|) times the asymptotic series (inf once exp(|a|) overflows, as SciPy's)."""
    m = xp.abs(a)
    return _split(xp, m, m <= _BESSEL_FAR, lambda v: _series(xp, v, nu), lambda v: _asymptotic(xp, v, nu) * xp.exp(v))


def _odd(xp: Any, a: Any, value: Any) -> Any:
    return xp.where(a < 0, -value, value)  # +0 at -0, as SciPy and PyTorch give


def _i0_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, lambda xp, a: _unscaled(xp, a, 0))


def _i0e_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, lambda xp, a: _scaled(xp, a, 0))


def _i1_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, lambda xp, a: _odd(xp, a, _unscaled(xp, a, 1)))


def _i1e_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, lambda xp, a: _odd(xp, a, _scaled(xp, a, 1)))
