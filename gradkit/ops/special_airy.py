"""The Airy function Ai (PyTorch's ``airy_ai``), differentiable to any order: its slope is Ai'
(``_airy_ai_prime``, an operation of its own, not exposed: PyTorch has no such name), whose slope is x Ai(x)
by Airy's equation y'' = x y.

Computed here on every backend (SciPy's ``airy`` is NaN beyond |x| ~ 1.1e6, where PyTorch still gives values),
in float64 (float32 and float16 inputs are rounded from it), within a few 1e-16 of the amplitude
|x|^(-1/4) / sqrt(pi) for x < 0 (so relatively, away from the zeros) and relatively for x > 0:

- |x| <= 10: the Taylor series about the nearest of the centres -10, -9.5, ..., 10, its coefficients generated
  by Airy's equation, (k+1)(k+2) a_(k+2) = c a_k + a_(k-1). The values and slopes at the centres come from the
  Maclaurin series Ai(x) = Ai(0) f(x) + Ai'(0) g(x), f = sum 3^k (1/3)_k x^(3k) / (3k)!,
  g = sum 3^k (2/3)_k x^(3k+1) / (3k+1)! (DLMF 9.4.1), summed once (at first use) in 80-digit decimal
  arithmetic, with Ai(0) = 3^(-2/3) / Gamma(2/3), Ai'(0) = -3^(-1/3) / Gamma(1/3), Gamma(2/3) =
  2 pi / (sqrt(3) Gamma(1/3)), and Gamma(1/3)^3 = 2^(4/3) pi^2 / (3^(1/4) AGM(1, (sqrt(6) + sqrt(2)) / 4)) (the
  complete elliptic integral of the singular modulus sin(pi/12), by the arithmetic-geometric mean).
- |x| > 10: the asymptotic expansions (DLMF 9.7.5, 9.7.6, 9.7.9, 9.7.11) in zeta = 2/3 |x|^(3/2), with
  u_k = (2k+1)(2k+3)...(6k-1) / (216^k k!) and v_k = -(6k+1)/(6k-1) u_k. zeta is formed in double-double
  arithmetic (Dekker's exact products), so that exp(-zeta) and the phase zeta - pi/4 keep full precision for
  |x| up to ~1e10 (SciPy's and PyTorch's lose eps * zeta: 5e-12 at x = -1000).

Edges as PyTorch's: NaN at +-inf (and where zeta overflows, x < ~ -4.2e205); 0 where Ai underflows (x > ~104).
"""

from __future__ import annotations

import decimal
import functools
import math
from fractions import Fraction
from typing import Any

import numpy as np

from gradkit.autograd.function import record
from gradkit.ops._util import as_tensor
from gradkit.ops.special import _on_flat
from gradkit.ops.special_bessel_jy import _PI_DIGITS, _evaluate_scipy_or_own, _pieces
from gradkit.tensor import Tensor


# ------------------------------------------------------------------ the operations
def airy_ai(x: Any) -> Tensor:
    """The Airy function Ai(x): NaN at +-inf; slope Ai'(x)."""
    x = as_tensor(x, "airy_ai")
    data = _evaluate_scipy_or_own(x, None, _ai_fallback)
    return record("airy_ai", data, x._backend, (x,), (_ai_vjp,), (x,))


def _ai_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * _airy_ai_prime(x)


def _airy_ai_prime(x: Any) -> Tensor:
    """Ai'(x): NaN at +-inf; slope x Ai(x)."""
    x = as_tensor(x, "airy_ai")
    data = _evaluate_scipy_or_own(x, None, _ai_prime_fallback)
    return record("airy_ai_prime", data, x._backend, (x,), (_ai_prime_vjp,), (x,))


def _ai_prime_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * (x * airy_ai(x))


# ------------------------------------------------------------------ NumPy implementations
_TAYLOR_END = 10.0
_STEP = 0.5
_CENTRES = int(2 * _TAYLOR_END / _STEP) + 1  # -10, -9.5, ..., 10
_TAYLOR_TERMS = 26  # |h| <= 1/4, |c| <= 10: a_k h^k < 1e-20 by then
_ASYMPTOTIC_TERMS = 26  # u_k / zeta^k < 1e-17 by k = 23 at zeta = 21.08 (|x| = 10)
_DECIMAL = decimal.Context(prec=80)


def _decimal_gamma_third() -> decimal.Decimal:
    """Gamma(1/3), from the arithmetic-geometric mean of 1 and cos(pi/12) = (sqrt 6 + sqrt 2) / 4."""
    one = decimal.Decimal(1)
    a, b = one, (decimal.Decimal(6).sqrt() + decimal.Decimal(2).sqrt()) / 4
    for _ in range(12):  # quadratic convergence: 2^12 digits
        a, b = (a + b) / 2, (a * b).sqrt()
    pi = decimal.Decimal(_PI_DIGITS)
    cube = (decimal.Decimal(4) / 3 * decimal.Decimal(2).ln()).exp() * pi * pi / (
        (decimal.Decimal(3).ln() / 4).exp() * a)
    return (cube.ln() / 3).exp()


def _decimal_airy(c: decimal.Decimal, ai0: decimal.Decimal, aip0: decimal.Decimal) -> tuple[decimal.Decimal, ...]:
    """Ai(c) and Ai'(c) from the Maclaurin series."""
    cube = c * c * c
    f = df = g = dg = decimal.Decimal(0)
    tf, tg = decimal.Decimal(1), c  # the terms of f and g
    tdf, tdg = c * c / 2, decimal.Decimal(1)  # of f' (from k = 1) and g'
    tiny = decimal.Decimal(10) ** -(_DECIMAL.prec + 5)
    k = 0
    while True:
        f += tf
        g += tg
        dg += tdg
        if k >= 1:
            df += tdf
        if k > 3 and max(abs(tf), abs(tg), abs(tdf), abs(tdg)) < tiny:
            break
        k += 1
        tf = tf * cube / ((3 * k - 1) * (3 * k))
        tg = tg * cube / ((3 * k) * (3 * k + 1))
        if k >= 2:
            tdf = tdf * cube / ((3 * k - 3) * (3 * k - 1))
        tdg = tdg * cube / ((3 * k) * (3 * k - 2))
    return ai0 * f + aip0 * g, ai0 * df + aip0 * dg


@functools.cache
def _centres() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The centres and Ai, Ai' there (float64, correctly rounded from 80-digit sums)."""
    c = -_TAYLOR_END + _STEP * np.arange(_CENTRES)
    with decimal.localcontext(_DECIMAL):
        gamma_third = _decimal_gamma_third()
        pi = decimal.Decimal(_PI_DIGITS)
        three = decimal.Decimal(3)
        ai0 = gamma_third * three.sqrt() / (2 * pi) / (three.ln() * 2 / 3).exp()  # 3^(-2/3) / Gamma(2/3)
        aip0 = -1 / ((three.ln() / 3).exp() * gamma_third)
        rows = [_decimal_airy(decimal.Decimal(float(v)), ai0, aip0) for v in c]
    return c, np.array([float(r[0]) for r in rows]), np.array([float(r[1]) for r in rows])


def _taylor(xp: Any, x: Any, derivative: bool) -> Any:
    """Ai(x) or Ai'(x) for |x| <= 10: the Taylor series about the nearest centre."""
    centres, values, slopes = _centres()
    j = xp.clip(xp.round((x + _TAYLOR_END) / _STEP), 0, _CENTRES - 1).astype(np.int64)
    c = xp.asarray(centres)[j]
    h = x - c  # exact
    a_prev, a0, a1 = xp.zeros_like(x), xp.asarray(values)[j], xp.asarray(slopes)[j]  # a_(k-1), a_k, a_(k+1)
    total = a1 if derivative else a0 + a1 * h  # the sum of k a_k h^(k-1), or of a_k h^k
    power = xp.ones_like(x) if derivative else h  # h^k for the last term summed
    for k in range(_TAYLOR_TERMS - 1):
        a2 = (c * a0 + a_prev) / ((k + 1) * (k + 2))
        power = power * h
        total = total + (k + 2) * a2 * power if derivative else total + a2 * power
        a_prev, a0, a1 = a0, a1, a2
    return total


_SPLIT = 134217729.0  # 2^27 + 1, Dekker's splitting factor
_TWO_THIRDS_HI = 2 / 3
_TWO_THIRDS_LO = float(Fraction(2, 3) - Fraction(_TWO_THIRDS_HI))
_DOUBLE_DOUBLE_UNTIL = 1e100  # beyond, zeta in plain float64 (its phase is lost either way)


def _split(a: Any) -> tuple[Any, Any]:
    t = _SPLIT * a
    hi = t - (t - a)
    return hi, a - hi


def _two_product(a: Any, b: Any) -> tuple[Any, Any]:
    """p + e = a * b exactly (Dekker)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _zeta(xp: Any, m: Any) -> tuple[Any, Any]:
    """2/3 m^(3/2) as hi + lo (double-double), for m > 0."""
    safe = xp.where(m < _DOUBLE_DOUBLE_UNTIL, m, 1.0)
    s = xp.sqrt(safe)
    p, e = _two_product(s, s)
    ds = ((safe - p) - e) / (2 * s)  # sqrt(m) = s + ds
    q, f = _two_product(safe, s)
    f = f + safe * ds  # m^(3/2) = q + f
    z, g = _two_product(_TWO_THIRDS_HI, q)
    g = g + _TWO_THIRDS_HI * f + _TWO_THIRDS_LO * q
    hi = z + g
    lo = g - (hi - z)
    plain = (2 / 3 * m) * xp.sqrt(m)  # (m^(3/2) alone would overflow from m ~ 3.2e205)
    far = m >= _DOUBLE_DOUBLE_UNTIL
    return xp.where(far, plain, hi), xp.where(far, 0.0, lo)


@functools.cache
def _asymptotic_coefficients() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """u_k and v_k, k < _ASYMPTOTIC_TERMS."""
    u, v = [1.0], [1.0]
    for k in range(1, _ASYMPTOTIC_TERMS):
        # u_k / u_(k-1) = (6k-5)(6k-3)(6k-1) / (216 k (2k-1))
        u.append(u[-1] * (6 * k - 5) * (6 * k - 3) * (6 * k - 1) / (216 * k * (2 * k - 1)))
        v.append(-(6 * k + 1) / (6 * k - 1) * u[-1])
    return tuple(u), tuple(v)


def _series(coefficients: Any, w: Any, sign: float, start: int, step: int) -> Any:
    """sum over k of sign^k coefficients[start + k step] w^(start + k step), by Horner's rule in w^step."""
    chosen = [sign**i * c for i, c in enumerate(coefficients[start::step])]
    total = 0.0
    w_step = w**step
    for c in reversed(chosen):
        total = total * w_step + c
    return total * w**start if start else total


def _right(xp: Any, m: Any, derivative: bool) -> Any:
    """Ai(m) or Ai'(m) for m > 10 (NaN at inf, as PyTorch)."""
    u, v = _asymptotic_coefficients()
    hi, lo = _zeta(xp, m)
    w = 1 / hi
    total = _series(v if derivative else u, -w, 1.0, 0, 1)
    decay = xp.exp(-hi) * xp.exp(-lo) / (2 * math.sqrt(math.pi))
    quarter = xp.sqrt(xp.sqrt(m))
    out = -quarter * decay * total if derivative else decay * total / quarter
    return xp.where(xp.isinf(m), math.nan, out)


def _left(xp: Any, m: Any, derivative: bool) -> Any:
    """Ai(-m) or Ai'(-m) for m > 10 (NaN at inf and where zeta overflows, as cos(inf))."""
    u, v = _asymptotic_coefficients()
    hi, lo = _zeta(xp, m)
    w = 1 / hi
    coefficients = v if derivative else u
    even = _series(coefficients, w, -1.0, 0, 2)
    odd = _series(coefficients, w, -1.0, 1, 2)
    cos_hi, sin_hi, cos_lo, sin_lo = xp.cos(hi), xp.sin(hi), xp.cos(lo), xp.sin(lo)
    cos, sin = cos_hi * cos_lo - sin_hi * sin_lo, sin_hi * cos_lo + cos_hi * sin_lo  # of zeta
    cos_w, sin_w = cos + sin, sin - cos  # of zeta - pi/4, times sqrt(2)
    quarter = xp.sqrt(xp.sqrt(m))
    scale = 1 / math.sqrt(2 * math.pi)
    if derivative:
        return quarter * scale * (sin_w * even - cos_w * odd)
    return scale / quarter * (cos_w * even + sin_w * odd)


def _airy_flat(xp: Any, a: Any, derivative: bool) -> Any:
    near = xp.abs(a) <= _TAYLOR_END
    return _pieces(xp, a, (near, lambda v: _taylor(xp, v, derivative)),
                  (a > _TAYLOR_END, lambda v: _right(xp, v, derivative)),
                  (a < -_TAYLOR_END, lambda v: _left(xp, -v, derivative)))


def _ai_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _airy_flat, False)


def _ai_prime_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _airy_flat, True)
