"""Modified Bessel functions of the second kind of orders 0 and 1 (PyTorch's ``modified_bessel_k0``,
``modified_bessel_k1`` and the scaled ``scaled_modified_bessel_k0``, ``scaled_modified_bessel_k1``, exp(x)
times those; SciPy's ``k0``, ``k1``, ``k0e``, ``k1e``), differentiable to any order.

Values: on NumPy arrays ``scipy.special``'s when SciPy imports; otherwise, and on CuPy arrays always (cupyx's
k0e, k1e are exp(x) k0(x), which is inf * 0 = NaN beyond x ~ 709), the NumPy code below, in float64, within a
few 1e-16 relative, derived as follows:

- 0 < x <= 1: the power series (DLMF 10.31.1), K0 = -(ln(x/2) + gamma) I0(x) + sum_k H_k (x^2/4)^k / k!^2 and
  K1 = 1/x + (ln(x/2) + gamma) I1(x) - x/4 sum_k (H_k + H_(k+1)) (x^2/4)^k / (k! (k+1)!), H_k the harmonic
  numbers; I0 and I1 from their series.
- 1 < x <= 25: the integral exp(x) K_n(x) = int_0^inf exp(-2 x sinh(t/2)^2) cosh(n t) dt (DLMF 10.32.9) by the
  trapezoidal rule with step 1/10 to t = 5: its integrand is analytic in a strip about the real axis and decays
  doubly exponentially, so the error falls like exp(-2 pi d / h) (far below 1e-16 here).
- x > 25: the asymptotic expansion exp(x) K_n(x) ~ sqrt(pi / (2x)) sum_k a_k(n) / x^k, a_k(n) = prod_(j<=k)
  (4n^2 - (2j - 1)^2) / (k! 8^k) (DLMF 10.40.2).

Edges as PyTorch's (and SciPy's): inf at 0 (and -0), NaN for x < 0, 0 at inf (the scaled ones too); K0 and K1
underflow to 0 beyond x ~ 745. Slopes: K0' = -K1, K1' = -K0 - K1/x, and for the scaled ones
k0e' = k0e - k1e (-inf at 0), k1e' = k1e (1 - 1/x) - k0e, computed (to any order m) without that cancellation:
for x <= 1 as those combinations (P_m(1/x) k0e + Q_m(1/x) k1e, polynomials from K0' = -K1, K1' = -K0 - K1/x;
below 1e-30 their leading terms, (-1)^m (m-1)! / x^m and (-1)^m m! / x^(m+1)); for 1 < x <= 25 the integral
above differentiated under the sign, int (-2 sinh(t/2)^2)^m exp(-2 x sinh(t/2)^2) cosh(n t) dt; beyond, the
asymptotic series differentiated term by term.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from gradkit.autograd.function import record
from gradkit.ops._util import as_tensor
from gradkit.ops.elementwise import where
from gradkit.ops.special import _EULER, _on_flat
from gradkit.ops.special_bessel import _series as _i_series
from gradkit.ops.special_bessel_jy import _evaluate_scipy_or_own, _log_half, _pieces, _safe_reciprocal
from gradkit.tensor import Tensor


# ------------------------------------------------------------------ the operations
def modified_bessel_k0(x: Any) -> Tensor:
    """K0(x) (SciPy's ``k0``): inf at 0, NaN for x < 0; slope -K1(x)."""
    x = as_tensor(x, "modified_bessel_k0")
    data = _evaluate_scipy_or_own(x, "k0", _k0_fallback)
    return record("modified_bessel_k0", data, x._backend, (x,), (_k0_vjp,), (x,))


def _k0_vjp(g: Tensor, x: Tensor) -> Tensor:
    return -(g * modified_bessel_k1(x))


def modified_bessel_k1(x: Any) -> Tensor:
    """K1(x) (SciPy's ``k1``): inf at 0, NaN for x < 0; slope -K0(x) - K1(x)/x (-inf at 0)."""
    x = as_tensor(x, "modified_bessel_k1")
    data = _evaluate_scipy_or_own(x, "k1", _k1_fallback)
    return record("modified_bessel_k1", data, x._backend, (x,), (_k1_vjp,), (x,), save_output=True)


def _k1_vjp(g: Tensor, x: Tensor, y: Tensor) -> Tensor:
    zero, inverse = _safe_reciprocal(x)
    return g * where(zero, -math.inf, -(modified_bessel_k0(x) + y * inverse))


def scaled_modified_bessel_k0(x: Any) -> Tensor:
    """exp(x) K0(x) (SciPy's ``k0e``): inf at 0, NaN for x < 0, 0 at inf; slope k0e(x) - k1e(x) (-inf at 0)."""
    x = as_tensor(x, "scaled_modified_bessel_k0")
    data = _evaluate_scipy_or_own(x, "k0e", _k0e_fallback)
    return record("scaled_modified_bessel_k0", data, x._backend, (x,), (_k0e_vjp,), (x,))


def _k0e_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * _scaled_slope(x, 0, 1)


def scaled_modified_bessel_k1(x: Any) -> Tensor:
    """exp(x) K1(x) (SciPy's ``k1e``): inf at 0, NaN for x < 0, 0 at inf; slope k1e(x) (1 - 1/x) - k0e(x)
    (-inf at 0)."""
    x = as_tensor(x, "scaled_modified_bessel_k1")
    data = _evaluate_scipy_or_own(x, "k1e", _k1e_fallback)
    return record("scaled_modified_bessel_k1", data, x._backend, (x,), (_k1e_vjp,), (x,))


def _k1e_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * _scaled_slope(x, 1, 1)


def _scaled_slope(x: Tensor, order: int, m: int) -> Tensor:
    """The m-th derivative of exp(x) K_order(x) (m >= 1), an operation whose slope is the next one. Computed
    directly, not as k0e - k1e and the like: those cancel to 1/(2x) of their terms, so that the slopes lost
    eps x, the second slopes eps x^2 (all of them at x = 1e8)."""
    data = _evaluate_scipy_or_own(x, None, lambda xp, a: _on_flat(xp, a, _scaled_slope_flat, order, m))
    return record(f"scaled_modified_bessel_k{order}_derivative{m}", data, x._backend, (x,),
                  (lambda g, x: g * _scaled_slope(x, order, m + 1),), (x,))


# ------------------------------------------------------------------ NumPy implementations
_SERIES_END = 1.0
_ASYMPTOTIC_FROM = 25.0
_SERIES_TERMS = 16  # (x^2/4)^k / k!^2 < 1e-20 by then for x <= 1
_STEP = 0.1  # the trapezoidal rule's
_NODES = 51  # t = 0, 0.1, ..., 5: exp(-2 sinh(2.5)^2) cosh(5) < 1e-16 (x >= 1)
_ASYMPTOTIC_TERMS = 22
_ROOT_HALF_PI = math.sqrt(math.pi / 2)


def _small(xp: Any, m: Any, order: int, scaled: bool) -> Any:
    """K_order(m) (times exp(m) if ``scaled``) for 0 < m <= 1 from the series."""
    z = m * m / 4
    term = xp.ones_like(m)  # z^k / k!^2 (order 0) or z^k / (k! (k+1)!) (order 1)
    total = xp.zeros_like(m) if order == 0 else xp.ones_like(m)  # H_0 = 0; (H_0 + H_1) = 1
    harmonic = 0.0
    for k in range(1, _SERIES_TERMS):
        term = term * (z / (k * (k + order)))
        harmonic += 1 / k
        total = total + (harmonic if order == 0 else 2 * harmonic + 1 / (k + 1)) * term
    log_term = _log_half(xp, m) + _EULER
    if order == 0:
        value = total - log_term * _i_series(xp, m, 0)
    else:
        value = 1 / m + log_term * _i_series(xp, m, 1) - m / 4 * total
    return value * xp.exp(m) if scaled else value


@functools.cache
def _nodes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trapezoidal rule's nodes t, 2 sinh(t/2)^2 there and its weights (h, h/2 at t = 0)."""
    t = _STEP * np.arange(_NODES)
    weights = np.full(_NODES, _STEP)
    weights[0] = _STEP / 2
    return t, 2 * np.sinh(t / 2) ** 2, weights


def _integral(xp: Any, m: Any, order: int) -> Any:
    """exp(m) K_order(m) for 1 < m <= 25."""
    t, lift, weights = _nodes()
    total = xp.zeros_like(m)
    for j in range(_NODES):
        factor = weights[j] * (math.cosh(order * t[j]) if order else 1.0)
        total = total + factor * xp.exp(-float(lift[j]) * m)
    return total


def _asymptotic(xp: Any, m: Any, order: int) -> Any:
    """exp(m) K_order(m) for m > 25 (0 at inf)."""
    mu = 4 * order * order
    term = xp.ones_like(m)
    total = xp.ones_like(m)
    for k in range(1, _ASYMPTOTIC_TERMS + 1):
        term = term * ((mu - (2 * k - 1) ** 2) / (8 * k) / m)
        total = total + term
    return total * (_ROOT_HALF_PI / xp.sqrt(m))  # (pi / (2m) overflows, or is subnormal, for m near the largest)


def _k(xp: Any, a: Any, order: int, scaled: bool) -> Any:
    """K_order(a), or exp(a) K_order(a) if ``scaled``: inf at 0 and -0, NaN for a < 0."""
    positive = xp.where(a > 0, a, math.nan)

    def unscale(fn: Any) -> Any:  # exp(-v) in two halves: one rounding where K0(v) is subnormal (v > ~705)
        return fn if scaled else lambda v: fn(v) * xp.exp(-v / 2) * xp.exp(-v / 2)

    value = _pieces(xp, positive, (positive <= _SERIES_END, lambda v: _small(xp, v, order, scaled)),
                   ((positive > _SERIES_END) & (positive <= _ASYMPTOTIC_FROM),
                    unscale(lambda v: _integral(xp, v, order))),
                   (positive > _ASYMPTOTIC_FROM, unscale(lambda v: _asymptotic(xp, v, order))))
    return xp.where(a == 0, math.inf, value)


# the derivatives of the scaled functions
_SLOPE_ASYMPTOTIC_TERMS = 30  # the terms fall like k / (2x), times (k + m) / k: < 1e-17 by then at x = 25, m <= 3
_SLOPE_LEADING_BELOW = 1e-30  # the leading terms alone: next ones smaller by x log(x)


@functools.cache
def _slope_polynomials(order: int, m: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The coefficients (in powers of u = 1/x) of P and Q with d^m/dx^m (exp(x) K_order) = P k0e + Q k1e: the sum
    over j of C(m, j) (A_j, B_j), K_order^(j) = A_j K0 + B_j K1, from A' = dA - B, B' = dB - A - u B (d: d/dx)."""
    def derivative(c: list[int]) -> list[int]:  # d/dx of sum c_p u^p = sum -p c_p u^(p+1)
        return [0] + [-p * v for p, v in enumerate(c)]

    def add(*lists: list[int]) -> list[int]:
        size = max(len(c) for c in lists)
        return [sum(c[i] for c in lists if i < len(c)) for i in range(size)]

    a, b = ([1], [0]) if order == 0 else ([0], [1])
    p, q = [0], [0]
    for j in range(m + 1):
        p = add(p, [math.comb(m, j) * v for v in a])
        q = add(q, [math.comb(m, j) * v for v in b])
        a, b = add(derivative(a), [-v for v in b]), add(derivative(b), [-v for v in a], [0] + [-v for v in b])
    return tuple(p), tuple(q)


def _horner(coefficients: Any, z: Any) -> Any:
    total = 0.0
    for v in reversed(coefficients):
        total = total * z + v
    return total


def _slope_small(xp: Any, v: Any, order: int, m: int) -> Any:
    p, q = _slope_polynomials(order, m)
    u = 1 / v
    return _horner(p, u) * _small(xp, v, 0, True) + _horner(q, u) * _small(xp, v, 1, True)


def _slope_leading(xp: Any, v: Any, order: int, m: int) -> Any:
    """(-1)^m (m-1)! / v^m (of -log v) or (-1)^m m! / v^(m+1) (of 1 / v); +-inf at 0."""
    power = m if order == 0 else m + 1
    return (-1) ** m * math.factorial(power - 1) * (1 / v) ** power


def _slope_integral(xp: Any, v: Any, order: int, m: int) -> Any:
    t, lift, weights = _nodes()
    total = xp.zeros_like(v)
    for j in range(1, _NODES):  # (the node t = 0 adds 0)
        factor = weights[j] * (math.cosh(order * t[j]) if order else 1.0) * (-float(lift[j])) ** m
        total = total + factor * xp.exp(-float(lift[j]) * v)
    return total


@functools.cache
def _slope_coefficients(order: int, m: int) -> tuple[float, ...]:
    """c_k with d^m/dx^m (exp(x) K_order) ~ sqrt(pi/2) x^(-1/2 - m) sum c_k / x^k: a_k times the m-th derivative's
    factor (-1)^m (k + 1/2)(k + 3/2)...(k + m - 1/2)."""
    mu = 4 * order * order
    a, out = 1.0, []
    for k in range(_SLOPE_ASYMPTOTIC_TERMS):
        if k:
            a = a * (mu - (2 * k - 1) ** 2) / (8 * k)
        out.append(a * (-1) ** m * math.prod(k + 0.5 + i for i in range(m)))
    return tuple(out)


def _slope_asymptotic(xp: Any, v: Any, order: int, m: int) -> Any:
    w = 1 / v
    return _horner(_slope_coefficients(order, m), w) * (_ROOT_HALF_PI / xp.sqrt(v)) * w**m  # (0 at inf)


def _scaled_slope_flat(xp: Any, a: Any, order: int, m: int) -> Any:
    """d^m/dx^m exp(x) K_order(x): (-1)^m inf at 0 and -0, NaN for x < 0."""
    positive = xp.where(a > 0, a, math.nan)
    value = _pieces(
        xp, positive,
        (positive < _SLOPE_LEADING_BELOW, lambda v: _slope_leading(xp, v, order, m)),
        ((positive >= _SLOPE_LEADING_BELOW) & (positive <= _SERIES_END), lambda v: _slope_small(xp, v, order, m)),
        ((positive > _SERIES_END) & (positive <= _ASYMPTOTIC_FROM), lambda v: _slope_integral(xp, v, order, m)),
        (positive > _ASYMPTOTIC_FROM, lambda v: _slope_asymptotic(xp, v, order, m)))
    return xp.where(a == 0, (-1) ** m * math.inf, value)


def _k0_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _k, 0, False)


def _k1_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _k, 1, False)


def _k0e_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _k, 0, True)


def _k1e_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _k, 1, True)
