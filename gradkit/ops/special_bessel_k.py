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
k0e' = k0e - k1e (-inf at 0), k1e' = k1e (1 - 1/x) - k0e.
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
from gradkit.ops.special_bessel_jy import _evaluate_scipy_or_own, _pieces, _safe_reciprocal
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
    return record("scaled_modified_bessel_k0", data, x._backend, (x,), (_k0e_vjp,), (x,), save_output=True)


def _k0e_vjp(g: Tensor, x: Tensor, y: Tensor) -> Tensor:
    return g * where(x._data == 0, -math.inf, y - scaled_modified_bessel_k1(x))


def scaled_modified_bessel_k1(x: Any) -> Tensor:
    """exp(x) K1(x) (SciPy's ``k1e``): inf at 0, NaN for x < 0, 0 at inf; slope k1e(x) (1 - 1/x) - k0e(x)
    (-inf at 0)."""
    x = as_tensor(x, "scaled_modified_bessel_k1")
    data = _evaluate_scipy_or_own(x, "k1e", _k1e_fallback)
    return record("scaled_modified_bessel_k1", data, x._backend, (x,), (_k1e_vjp,), (x,), save_output=True)


def _k1e_vjp(g: Tensor, x: Tensor, y: Tensor) -> Tensor:
    zero, inverse = _safe_reciprocal(x)
    return g * where(zero, -math.inf, y - y * inverse - scaled_modified_bessel_k0(x))


# ------------------------------------------------------------------ NumPy implementations
_SERIES_END = 1.0
_ASYMPTOTIC_FROM = 25.0
_SERIES_TERMS = 16  # (x^2/4)^k / k!^2 < 1e-20 by then for x <= 1
_STEP = 0.1  # the trapezoidal rule's
_NODES = 51  # t = 0, 0.1, ..., 5: exp(-2 sinh(2.5)^2) cosh(5) < 1e-16 (x >= 1)
_ASYMPTOTIC_TERMS = 22


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
    log_term = xp.log(m / 2) + _EULER
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
    return total * xp.sqrt(math.pi / (2 * m))


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


def _k0_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _k, 0, False)


def _k1_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _k, 1, False)


def _k0e_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _k, 0, True)


def _k1e_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _k, 1, True)
