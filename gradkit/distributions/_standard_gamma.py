"""Gamma draws with a reparameterised gradient, the one source of randomness of Gamma, Chi2, Beta, Dirichlet,
StudentT, FisherSnedecor, InverseGamma and Wishart (``torch._standard_gamma`` and its gradient).

``standard_gamma(concentration)`` draws X ~ Gamma(concentration, 1) from gradkit's generator on the
concentration's device (Marsaglia and Tsang's method on the backend's normal and uniform draws, in float64,
then cast). Its gradient is the implicit one: X = F^-1(U; a) for the regularised lower incomplete gamma
function F(x; a) = P(a, x) and a uniform U held fixed, so dX/da = -(dF/da) / (dF/dx) at (a, X). ``_dx_da``
computes that ratio in float64, free of the density's exponentials (which would underflow in the tails), by
three routes:

* the power series (x < a + 1 + sqrt(a)/2, or x <= 1.1): with P = p(x) x sum_n x^n / (a (a+1) ... (a+n)) and
  p(x) = x^(a-1) e^-x / Gamma(a), differentiating term by term gives
  dX/da = (x/a) sum_n d_n (psi(a + 1) - log x + H_n), d_n = x^n / ((a+1) ... (a+n)), H_n = sum_{k=1..n} 1/(a+k);
* Legendre's continued fraction for the upper function (beyond): with Q = p(x) x h(a, x),
  dX/da = dQ/da / p = x ((log x - psi(a)) h + dh/da), h and dh/da from the modified Lentz recurrence
  differentiated step by step in a (all terms positive: no cancellation);
* Temme's uniform expansion for a >= 1000 near the centre (|eta| <= 0.13, that is within ~4 standard
  deviations at a = 1000 and all of any realistic sample beyond): with lambda = x/a, mu = lambda - 1,
  eta = sign(mu) sqrt(2 (mu - log lambda)) and Q = erfc(eta sqrt(a/2))/2 + e^(-a eta^2/2) / sqrt(2 pi a) T,
  T = C0(eta) + C1(eta)/a + C2(eta)/a^2, differentiating in a at fixed lambda gives
  dX/da = lambda (1 + Gamma*(a) (-eta/2 - (eta^2/2 + 1/(2a)) T - T')), T' = C1/a^2 + 2 C2/a^3, where
  Gamma*(a) = Gamma(a) / (sqrt(2 pi / a) (a/e)^a). The C_k are the Taylor series of ``special_gamma``.

``gammainc_a(a, x)`` is P(a, x) with that same derivative in a (-p(x) dX/da), so Gamma's cdf is differentiable
in the concentration (PyTorch's ``igamma`` is not).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit.autograd.function import record
from gradkit.ops._util import operands, tensor_or_none
from gradkit.ops.special import _BERNOULLI, _digamma_fallback, _horner, _library
from gradkit.ops.special_gamma import _GAMMAINC_RULES, _TEMME, _gamma_density, gammainc
from gradkit.tensor import Tensor

__all__ = ["gammainc_a", "log_standard_gamma", "standard_gamma"]

_EPS = 2.0**-53
_MAX_STEPS = 200_000  # the series and the fraction take about 9 sqrt(a) steps near x = a
_TEMME_FROM = 1000.0
_TEMME_ETA = 0.13
_MAX_ROUNDS = 200  # of the gamma sampler, whose rounds each accept more than 95% of what is left
_LOG_SMALL = -575.0  # log(1e-250): below it, d(log X)/da is the power series' first term to the last bit


def _digamma_array(xp: Any, a: Any) -> Any:
    fn = _library(xp, "digamma")
    return _digamma_fallback(xp, a) if fn is None else xp.asarray(fn(a))


def _series(xp: Any, a: Any, x: Any) -> Any:
    """dX/da by the power series (a > 0, 0 < x, x not far above a), without the factor x / a. The elements that
    have converged leave the arrays the next steps work on (checked after 4, 8, 16, then every 32 steps)."""
    k = _digamma_array(xp, a + 1) - xp.log(x)
    out = k.copy()  # the n = 0 term, then the finished sums
    index = xp.arange(x.size)
    d = xp.ones_like(x)
    h = xp.zeros_like(x)
    total = k.copy()
    n = 0
    block = 4
    while index.size and n < _MAX_STEPS:
        for _ in range(block):
            n += 1
            r = 1 / (a + n)
            d = d * x * r
            h = h + r
            total = total + d * (k + h)
        block = min(2 * block, 32)
        # what is left, once a + n > x: d_n x ((|k| + H_n) / (a + n - x) + 1 / (a + n - x)^2)
        gap = a + n - x
        rest = d * x * ((xp.abs(k) + h) / gap + 1 / (gap * gap))
        active = (gap <= 0) | (rest > _EPS * xp.abs(total))
        out[index] = total
        if not bool(xp.all(active)):
            index, a, x, k, d, h, total = (v[active] for v in (index, a, x, k, d, h, total))
    return out


def _continued_fraction(xp: Any, a: Any, x: Any) -> Any:
    """dX/da from Legendre's continued fraction for Q (x > a + 1, x > 1.1), differentiated in a; converged
    elements leave the working arrays every 8 steps."""
    tiny = 1e-300
    b = x + 1 - a  # db/da = -1 at every step
    c = xp.full_like(x, 1 / tiny)
    dc = xp.zeros_like(x)
    d = 1 / b
    dd = d * d  # d(1/b)/da = 1/b^2
    h = d.copy()
    dh = dd.copy()
    out_h, out_dh = h.copy(), dh.copy()
    index = xp.arange(x.size)
    aa = a
    i = 0
    while index.size and i < _MAX_STEPS:
        active = xp.ones(index.shape, dtype=bool)
        for _ in range(8):
            i += 1
            an = -i * (i - aa)  # d(an)/da = i
            b = b + 2
            den = an * d + b
            dden = i * d + an * dd - 1
            den = xp.where(xp.abs(den) < tiny, tiny, den)
            d = 1 / den
            dd = -dden * d * d
            dc = -1 + i / c - an * dc / (c * c)
            c = b + an / c
            c = xp.where(xp.abs(c) < tiny, tiny, c)
            delta = d * c
            ddelta = dd * c + d * dc
            new_dh = dh * delta + h * ddelta
            new_h = h * delta
            moving = (xp.abs(delta - 1) > _EPS) | (xp.abs(new_dh - dh) > _EPS * xp.abs(new_dh))
            # frozen once converged: more factors of 1 +- an ulp only add rounding
            h = xp.where(active, new_h, h)
            dh = xp.where(active, new_dh, dh)
            active = active & moving
        out_h[index] = h
        out_dh[index] = dh
        if not bool(xp.all(active)):
            index, aa, b, c, dc, d, dd, h, dh = (v[active] for v in (index, aa, b, c, dc, d, dd, h, dh))
    return x * ((xp.log(x) - _digamma_array(xp, a)) * out_h + out_dh)


def _log_gamma_star(xp: Any, a: Any) -> Any:
    """log Gamma*(a) = lgamma(a) - (a - 1/2) log a + a - log(2 pi)/2, by Stirling's series (a >= 12)."""
    w = 1 / a
    return _horner([b / ((2 * k + 2) * (2 * k + 1)) for k, b in enumerate(_BERNOULLI[:8])], w * w) * w


def _eta(xp: Any, a: Any, x: Any) -> Any:
    """Temme's eta for lambda = x / a: sign(lambda - 1) sqrt(2 (lambda - 1 - log lambda))."""
    mu = (x - a) / a
    u = mu / (2 + mu)  # log(1 + mu) = 2 atanh(u): mu - log(1 + mu) = mu u - 2 (u^3/3 + u^5/5 + ...)
    u2 = u * u
    near = mu * u - 2 * u * u2 * _horner([1 / (2 * k + 3) for k in range(15)], u2)
    half = xp.where(xp.abs(mu) <= 0.4, near, mu - xp.log(x / a))
    return xp.where(mu < 0, -1.0, 1.0) * xp.sqrt(2 * xp.maximum(half, 0.0))


def _temme(xp: Any, a: Any, x: Any, eta: Any) -> Any:
    """dX/da from Temme's uniform expansion (a >= 1000, |eta| <= 0.13)."""
    c0, c1, c2 = (_horner(row, eta) for row in _TEMME)
    t = c0 + (c1 + c2 / a) / a
    t_prime = (c1 + 2 * c2 / a) / (a * a)
    gamma_star = xp.exp(_log_gamma_star(xp, a))
    return x / a * (1 + gamma_star * (-eta / 2 - (eta * eta / 2 + 0.5 / a) * t - t_prime))


def _dx_da_flat(xp: Any, a: Any, x: Any) -> Any:
    """dX/da for flat float64 arrays: 0 at x = 0 (a > 0), NaN where a <= 0, x < 0 or either is not finite."""
    regular = (a > 0) & (x > 0) & xp.isfinite(a) & xp.isfinite(x)
    a0, x0 = a, x
    a = xp.where(regular, a, 1.0)
    x = xp.where(regular, x, 1.0)
    out = xp.empty_like(x)
    todo = xp.ones(x.shape, dtype=bool)
    large = xp.flatnonzero(a >= _TEMME_FROM)
    if large.size:
        eta = _eta(xp, a[large], x[large])
        near = xp.abs(eta) <= _TEMME_ETA
        large = large[near]
        out[large] = _temme(xp, a[large], x[large], eta[near])
        todo[large] = False
    cf = todo & (x > 1.1) & (x >= a + 1 + 0.5 * xp.sqrt(a))
    series = todo & ~cf
    if bool(xp.any(cf)):
        out[cf] = _continued_fraction(xp, a[cf], x[cf])
    if bool(xp.any(series)):
        xs, as_ = x[series], a[series]
        out[series] = xs / as_ * _series(xp, as_, xs)
    return xp.where(regular, out, xp.where((x0 == 0) & (a0 > 0) & (a0 < math.inf), 0.0, math.nan))


def _dx_da(xp: Any, a: Any, x: Any) -> Any:
    """dX/da at (a, x) (arrays of one shape), computed in float64, in x's dtype."""
    with np.errstate(all="ignore"):
        a64 = xp.asarray(a, dtype=np.float64).reshape(-1)
        x64 = xp.asarray(x, dtype=np.float64).reshape(-1)
        out = _dx_da_flat(xp, a64, x64) if x64.size else x64
    return out.reshape(x.shape).astype(x.dtype, copy=False)


# ------------------------------------------------------------------ the operations
def _draw(backend: Any, alpha: Any, log: bool = False) -> Any:
    """Gamma(alpha, 1) draws of alpha's shape, in float64, from the backend's generator (its ``normal`` and
    ``uniform``, so ``gk.manual_seed`` repeats them on every device): Marsaglia and Tsang's method ("A simple
    method for generating gamma variables", ACM TOMS 2000), each round drawing again for the elements rejected
    so far (about 2% to 5% of them); for alpha < 1, G(alpha + 1) U^(1/alpha), taken through logarithms so that
    only a value below the float64 range underflows (to 0). ``log``: the draws' logarithms instead, which
    never underflow (the same random numbers are used)."""
    xp = backend.xp
    shape = alpha.shape
    alpha = xp.asarray(alpha, dtype=np.float64).reshape(-1)
    f64 = np.dtype(np.float64)
    out = xp.empty(alpha.shape, dtype=f64)
    if alpha.size == 0:
        return out.reshape(shape)
    valid = (alpha > 0) & xp.isfinite(alpha)  # (the others give NaN)
    alpha = xp.where(valid, alpha, 1.0)
    boost = alpha < 1
    d = xp.where(boost, alpha + 1, alpha) - 1 / 3
    c = 1 / xp.sqrt(9 * d)
    todo = xp.flatnonzero(valid)
    rounds = 0
    with np.errstate(all="ignore"):
        while todo.size and rounds < _MAX_ROUNDS:
            rounds += 1
            z = backend.normal((todo.size,), f64)
            u = backend.uniform((todo.size,), f64)
            dt = d[todo]
            v = 1 + c[todo] * z
            v = v * v * v
            ok = v > 0
            accept = ok & (xp.log(u) < 0.5 * z * z + dt - dt * v + dt * xp.log(xp.where(ok, v, 1.0)))
            out[todo[accept]] = (dt * v)[accept]
            todo = todo[~accept]
        if log:
            out = xp.log(out)
        if bool(xp.any(boost)):
            u = backend.uniform(alpha.shape, f64)
            boosted = (out if log else xp.log(out)) + xp.log(u) / alpha
            out = xp.where(boost, boosted if log else xp.exp(boosted), out)
    out[todo] = math.nan  # (never left after a few rounds)
    return xp.where(valid, out, math.nan).reshape(shape)


def standard_gamma(concentration: Tensor) -> Tensor:
    """Draws from Gamma(concentration, 1), one per element, in the concentration's dtype (at least the
    smallest normal number of the dtype, as PyTorch's samplers clamp), with the implicit reparameterisation
    gradient dX/d(concentration)."""
    backend = concentration._backend
    xp = backend.xp
    data = _draw(backend, concentration._data).astype(concentration.dtype)
    data = xp.maximum(data, np.finfo(data.dtype).tiny)  # (NaN stays NaN)
    return record("standard_gamma", data, backend, (concentration,), (_standard_gamma_vjp,), (concentration,),
                  save_output=True)  # fmt: skip


def _standard_gamma_vjp(g: Tensor, concentration: Tensor, out: Any) -> Tensor:
    slope = _dx_da(concentration._backend.xp, concentration._data, out)
    return g * Tensor._make(slope, concentration._backend)


def log_standard_gamma(concentration: Tensor) -> Tensor:
    """log X for draws X ~ Gamma(concentration, 1), one per element, in float64 (a float64 concentration), with
    the implicit gradient d(log X)/d(concentration) = (dX/da) / X. Unlike ``standard_gamma``'s draws, these do not
    underflow for small concentrations (Gamma(1e-3, 1) draws are below 1e-308 half the time): Beta and Dirichlet
    normalise them as a softmax, so that two draws both below float64's range still give their true ratio."""
    backend = concentration._backend
    data = _draw(backend, concentration._data, log=True)
    return record("log_standard_gamma", data, backend, (concentration,), (_log_standard_gamma_vjp,),
                  (concentration,), save_output=True)  # fmt: skip


def _log_standard_gamma_vjp(g: Tensor, concentration: Tensor, out: Any) -> Tensor:
    xp = concentration._backend.xp
    with np.errstate(all="ignore"):
        a = xp.asarray(concentration._data, dtype=np.float64)
        log_x = xp.maximum(xp.asarray(out, dtype=np.float64), -1e300)  # a draw of exactly 0: a finite slope
        small = log_x < _LOG_SMALL
        x = xp.exp(xp.where(small, 0.0, log_x))
        # dX/da = (x/a) (psi(a + 1) - log x + O(x)) for small x (the series of _series)
        first_term = (_digamma_array(xp, xp.where(small, a, 1.0) + 1) - log_x) / a
        slope = xp.where(small, first_term, _dx_da(xp, a, x) / x)
    return g * Tensor._make(slope.astype(concentration.dtype, copy=False), concentration._backend)


def gammainc_a(a: Any, x: Any) -> Tensor:
    """P(a, x) as ``gk.special.gammainc``, broadcasting, with a derivative in ``a`` too:
    -x^(a-1) e^-x / Gamma(a) dX/da (not differentiable again in a)."""
    s, y, backend = operands("gammainc", a, x)
    value = gammainc(s.detach() if isinstance(s, Tensor) else s, y.detach() if isinstance(y, Tensor) else y)
    return record("gammainc", value._data, backend, (tensor_or_none(s), tensor_or_none(y)),
                  (_gammainc_da, _GAMMAINC_RULES[1]), (s, y), broadcast=True)  # fmt: skip


def _gammainc_da(g: Tensor, a: Any, x: Any) -> Tensor:
    a_t = a.detach() if isinstance(a, Tensor) else a
    x_t = x.detach() if isinstance(x, Tensor) else x
    density = _gamma_density(a_t, x_t)  # broadcast to the common shape, a's and x's float dtype
    xp = density._backend.xp
    ad = xp.broadcast_to(xp.asarray(a_t._data if isinstance(a_t, Tensor) else a_t), density.shape)
    xd = xp.broadcast_to(xp.asarray(x_t._data if isinstance(x_t, Tensor) else x_t), density.shape)
    slope = _dx_da(xp, ad, xd.astype(density.dtype))
    return -(g * (density * Tensor._make(slope, density._backend)))
