"""The normal distribution's functions: ndtr (its CDF), log_ndtr, ndtri (its quantile) and erfcx.

As in ``special``: ``scipy.special`` / ``cupyx.scipy.special`` when importable, else the NumPy versions
below (accurate to a few float64 ulps, where SciPy's lose up to 2e-13 far in the tails); PyTorch's values
at the edges. Slopes are gradkit operations, so every order of derivative is available:
ndtr' = exp(-x^2/2) / sqrt(2 pi), log_ndtr' = sqrt(2/pi) / erfcx(-x/sqrt(2)) (no 0/0 far in the left tail),
ndtri' = sqrt(2 pi) exp(ndtri^2 / 2) and erfcx' = 2x erfcx(x) - 2/sqrt(pi).
"""

from __future__ import annotations

import math
from typing import Any

from gradkit.autograd.function import record
from gradkit.ops._util import as_tensor
from gradkit.ops.elementwise import exp, where
from gradkit.ops.special import (
    _SQRT_PI,
    _erfc_cf_ratio,
    _erfc_flat,
    _erfc_taylor,
    _erfinv_flat,
    _evaluate,
    _exp_square,
    _on_flat,
    _split,
)
from gradkit.tensor import Tensor

_SQRT1_2 = math.sqrt(0.5)
_SQRT_2PI = math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


# ------------------------------------------------------------------ the operations
def erfcx(x: Any) -> Tensor:
    """The scaled complementary error function exp(x^2) erfc(x): about 1 / (x sqrt(pi)) for large x (no
    underflow), inf below about -26.6; slope 2x erfcx(x) - 2/sqrt(pi) (from its asymptotic series beyond
    x = 10, where that difference cancels)."""
    x = as_tensor(x, "erfcx")
    data = _evaluate(x, "erfcx", _erfcx_fallback)
    return record("erfcx", data, x._backend, (x,), (_erfcx_vjp,), (x,), save_output=True)


# 2x erfcx(x) - 2/sqrt(pi) = -2/sqrt(pi) r(x), r = sum over n >= 1 of (-1)^(n+1) (2n - 1)!! / (2x^2)^n; beyond
# x = 10 sixteen terms reach 1e-19 of the sum, and the closed form would lose 2x^2 ulps.
_ERFCX_FAR = 10.0
_ERFCX_SLOPE_SERIES = tuple((-1) ** (n + 1) * math.prod(range(1, 2 * n, 2)) / 2.0**n for n in range(1, 17))


def _erfcx_vjp(g: Tensor, x: Tensor, y: Tensor) -> Tensor:
    far = x._data > _ERFCX_FAR
    safe = where(far, x, 2 * _ERFCX_FAR)  # the series only where it is used: no 1/0 at x = 0
    w = 1 / (safe * safe)
    r = w * _ERFCX_SLOPE_SERIES[-1]
    for c in reversed(_ERFCX_SLOPE_SERIES[:-1]):
        r = (r + c) * w
    return g * where(far, r * (-2 / _SQRT_PI), x * y * 2 - 2 / _SQRT_PI)


def ndtr(x: Any) -> Tensor:
    """The standard normal CDF, (1 + erf(x / sqrt(2))) / 2, accurate relative in the left tail (0 below
    about -38.5); slope exp(-x^2/2) / sqrt(2 pi)."""
    x = as_tensor(x, "ndtr")
    data = _evaluate(x, "ndtr", _ndtr_fallback)
    return record("ndtr", data, x._backend, (x,), (_ndtr_vjp,), (x,))


def _ndtr_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * (exp(x * x * -0.5) * (1 / _SQRT_2PI))


def log_ndtr(x: Any) -> Tensor:
    """log(ndtr(x)), accurate far into the left tail (about -x^2/2 there, finite down to -1e154 and beyond)
    and near 0 for large x; slope ndtr'(x) / ndtr(x) = sqrt(2/pi) / erfcx(-x / sqrt(2)), finite everywhere."""
    x = as_tensor(x, "log_ndtr")
    data = _evaluate(x, "log_ndtr", _log_ndtr_fallback)
    return record("log_ndtr", data, x._backend, (x,), (_log_ndtr_vjp,), (x,))


def _log_ndtr_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * (_SQRT_2_OVER_PI / erfcx(x * -_SQRT1_2))


def ndtri(p: Any) -> Tensor:
    """The inverse of ndtr (the standard normal quantile): -inf at 0, inf at 1, NaN outside [0, 1]; slope
    sqrt(2 pi) exp(ndtri(p)^2 / 2)."""
    p = as_tensor(p, "ndtri")
    data = _evaluate(p, "ndtri", _ndtri_fallback)
    return record("ndtri", data, p._backend, (p,), (_ndtri_vjp,), save_output=True)


def _ndtri_vjp(g: Tensor, y: Tensor) -> Tensor:
    return g * (exp(y * y * 0.5) * _SQRT_2PI)


# ------------------------------------------------------------------ NumPy implementations
def _erfcx_positive(xp: Any, m: Any) -> Any:
    """erfcx(m) for m >= 0: exp(m^2) erfc(m) below 3, the continued fraction of erfc without its exp(-m^2) up
    to 1e8, 1 / (m sqrt(pi)) beyond (the next term, 1 / (2 m^2), is below 1e-16 there)."""
    def small(v: Any) -> Any:
        return _exp_square(xp, v, 1.0) * _erfc_taylor(xp, v)

    def large(v: Any) -> Any:
        return xp.where(v < 1e8, _erfc_cf_ratio(xp, xp.minimum(v, 1e8)), 1 / (v * _SQRT_PI))

    return _split(xp, m, m < 3.0, small, large)


def _erfcx_flat(xp: Any, a: Any) -> Any:
    # erfcx(-m) = 2 exp(m^2) - erfcx(m): no cancellation, as 2 exp(m^2) >= 2 > erfcx(m); inf beyond 26.7
    m = xp.abs(a)
    upper = _erfcx_positive(xp, m)
    return xp.where(a < 0, 2 * _exp_square(xp, xp.minimum(m, 27.0), 1.0) - upper, upper)


def _erfcx_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _erfcx_flat)


def _ndtr_flat(xp: Any, a: Any) -> Any:
    # below -1: erfcx(-a/sqrt(2)) exp(-a^2/2) / 2, with a^2 / 2 exact (SciPy's erfc(-a/sqrt(2)) / 2 inherits the
    # rounding of a/sqrt(2), up to 2e-13 relative near -37)
    t = a * -_SQRT1_2
    tail = 0.5 * _erfcx_positive(xp, xp.maximum(t, 0.0)) * _exp_square(xp, xp.minimum(xp.abs(a), 40.0), -0.5)
    return xp.where(a < -1, tail, 0.5 * _erfc_flat(xp, t))


def _ndtr_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _ndtr_flat)


def _log_ndtr_flat(xp: Any, a: Any) -> Any:
    # below -1: log(erfcx(-a/sqrt(2)) / 2) - a^2/2 (no underflow); above: log1p(-ndtr(-a)), ndtr(-a) small and exact
    t = a * -_SQRT1_2
    tail = xp.log(0.5 * _erfcx_positive(xp, xp.maximum(t, 0.0))) - (0.5 * a) * a
    return xp.where(a < -1, tail, xp.log1p(-_ndtr_flat(xp, -a)))


def _log_ndtr_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _log_ndtr_flat)


def _ndtri_lower(xp: Any, p: Any) -> Any:
    """ndtri(p) for 0 < p < 1/4: from sqrt(2) erfinv(2p - 1) (or, below 1e-12, where 2p - 1 keeps too few digits
    of p, the asymptotic -sqrt(L - log(2 pi L)) with L = -2 log p, within 2e-3), three Halley steps on
    log_ndtr(x) = log(p), whose slope h = sqrt(2/pi) / erfcx(-x/sqrt(2)) and second derivative -h (x + h) need
    no exp that could underflow."""
    log_p = xp.log(p)
    big = -2 * log_p
    x = xp.where(p < 1e-12, -xp.sqrt(big - xp.log(2 * math.pi * big)), math.sqrt(2) * _erfinv_flat(xp, 2 * p - 1))
    for _ in range(3):
        scaled = _erfcx_positive(xp, x * -_SQRT1_2)  # x < 0 throughout
        h = _SQRT_2_OVER_PI / scaled
        u = (xp.log(0.5 * scaled) - (0.5 * x) * x - log_p) / h
        x = x - u / (1 + 0.5 * u * (x + h))
    return x


def _ndtri_flat(xp: Any, p: Any) -> Any:
    # sqrt(2) erfinv(2p - 1) on [1/4, 3/4], where 2p - 1 is exact; -ndtri(1 - p) above (1 - p exact)
    q = xp.where(p > 0.75, 1 - p, p)
    inside = (q > 0) & (q < 0.25)
    x = _split(xp, q, inside, lambda v: _ndtri_lower(xp, v), lambda v: math.sqrt(2) * _erfinv_flat(xp, 2 * v - 1))
    x = xp.where(p > 0.75, -x, x)
    x = xp.where(p == 0, -math.inf, xp.where(p == 1, math.inf, x))
    return xp.where((p < 0) | (p > 1), math.nan, x)


def _ndtri_fallback(xp: Any, p: Any) -> Any:
    return _on_flat(xp, p, _ndtri_flat)

