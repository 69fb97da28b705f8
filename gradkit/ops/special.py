"""Special functions for log-likelihoods: erfc, erfinv, lgamma (gammaln), digamma, polygamma, xlogy,
xlog1py, logit and entr.

NumPy has none of them. On NumPy arrays they come from ``scipy.special`` when SciPy imports, on
CuPy arrays from ``cupyx.scipy.special`` (part of CuPy); without SciPy (or where the library lacks
the function), from the NumPy versions at the end of this module (``_erfc_fallback`` and its
neighbours), accurate to a few float64 ulps except near the zeros of lgamma and digamma on the
negative axis. Neither library is imported before the first call. The values at the edges are
PyTorch's; integer and bool inputs give floats as ``gk.erf`` does, and float16 is computed in float32.
logit, entr and xlog1py are elementary and computed here on every backend.

Each slope is written with gradkit operations (digamma's is ``_polygamma(1, x)``, an op whose slope
is ``_polygamma(2, x)``, and so on), so every order of derivative is available. The other special
functions (normal distribution, Bessel, zeta and incomplete gamma) are in ``special_normal``,
``special_bessel`` and ``special_gamma``, built on the helpers here.
"""

from __future__ import annotations

import functools
import importlib
import math
from typing import Any

import numpy as np

from gradkit._args import real, scalar, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import record
from gradkit.errors import InvalidArgumentError, ShapeError
from gradkit.ops._util import SCALARS, as_tensor, data_of, operands, tensor_or_none
from gradkit.ops.elementwise import _as_float, _float_dtype, exp, log, where
from gradkit.tensor import Tensor

_SQRT_PI = math.sqrt(math.pi)
_EULER = 0.5772156649015329  # Euler's gamma, -digamma(1)
_LOG_PI = math.log(math.pi)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# B_2, B_4, ..., B_22 (Bernoulli numbers): the asymptotic series of lgamma, digamma, polygamma, zeta
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798,
              -174611 / 330, 854513 / 138)


# ------------------------------------------------------------------ the library functions
_LIBRARY: dict[tuple[str, str], Any] = {}
# cupyx's versions that differ from SciPy's and PyTorch's at large |x|: CUDA's cyl_bessel_i0/i1 (cupyx's i0,
# i1) take exp(|x|) in two halves, so they stay finite up to |x| ~ 714 where SciPy and PyTorch overflow to inf
# past 709.78; cupyx's i0e and i1e are exp(-|x|) times those, inf beyond |x| ~ 714 and NaN (0 * inf) beyond
# ~ 745 (~ 92 and ~ 103 in float32), where the true values are small. gradkit's own versions run instead.
_NOT_FROM_CUPYX = frozenset({"i0", "i0e", "i1", "i1e"})


def _library(xp: Any, name: str) -> Any:
    """``scipy.special.<name>`` for NumPy arrays, ``cupyx.scipy.special.<name>`` for CuPy's, or None
    without them (or in a version that lacks ``name``, or for CuPy's ``_NOT_FROM_CUPYX``); looked up once
    (a failed import is not cached by Python)."""
    if xp is not np and name in _NOT_FROM_CUPYX:
        return None
    key = (xp.__name__, name)
    if key not in _LIBRARY:
        try:
            module = importlib.import_module("scipy.special" if xp is np else "cupyx.scipy.special")
            _LIBRARY[key] = getattr(module, name)
        except (ImportError, AttributeError):
            _LIBRARY[key] = None
    return _LIBRARY[key]


def _float_data(x: Tensor) -> tuple[Any, Any]:
    """x's array as floats (integers and bools as ``gk.sin`` makes them) and the array to compute on
    (float16 widened to float32: SciPy has no float16 loops, nor has the fallback)."""
    xf = _as_float(x._data)
    return xf, (xf.astype(np.float32) if xf.dtype == np.float16 else xf)


def _array(out: Any) -> Any:
    return np.asarray(out) if isinstance(out, np.generic) else out  # SciPy gives scalars for 0-d arrays


def _evaluate(x: Tensor, name: str, fallback: Any, edges: Any = None) -> Any:
    """The library's ``name`` (else ``fallback(xp, array)``) of x, in x's float dtype; ``edges(xp, array,
    out)`` then sets the values at the edges where the library's differ from PyTorch's."""
    xp = x._backend.xp
    xf, work = _float_data(x)
    fn = _library(xp, name)
    out = _array(fallback(xp, work) if fn is None else fn(work))
    if edges is not None:
        out = edges(xp, work, out)
    return out.astype(xf.dtype, copy=False)


def _evaluate2(name: str, a: Any, b: Any, backend: Any, fallback: Any, edges: Any = None, library: bool = True) -> Any:
    """``_evaluate`` for two operands (tensors, or a Python number and a tensor), broadcast, in their float
    dtype (a Python number never widens it). ``fallback(xp, x, y)`` gets the broadcast float arrays, ``edges(xp,
    x, y, out)`` too; ``library=False`` always takes the fallback. A Python number goes to the library as it is
    (CuPy's ``zeta`` wants its order so)."""
    xp = backend.xp
    ad, bd = data_of(a), data_of(b)
    dtype = _float_dtype(np.result_type(*(getattr(d, "dtype", d) for d in (ad, bd))))
    work = np.float32 if dtype == np.float16 else dtype
    x, y = xp.asarray(ad, dtype=work), xp.asarray(bd, dtype=work)
    try:
        shape = np.broadcast_shapes(x.shape, y.shape)
    except ValueError as exc:
        raise ShapeError(f"{name}: shapes {x.shape} and {y.shape} do not broadcast ({exc})") from None
    x, y = xp.broadcast_to(x, shape), xp.broadcast_to(y, shape)
    fn = _library(xp, name) if library else None
    if fn is None:
        out = fallback(xp, x, y)
    else:
        out = fn(float(ad) if isinstance(ad, (int, float)) else x, float(bd) if isinstance(bd, (int, float)) else y)
        out = xp.broadcast_to(_array(out), shape)
    if edges is not None:
        out = edges(xp, x, y, out)
    return xp.asarray(out).astype(dtype, copy=False)


# ------------------------------------------------------------------ the operations
def erfc(x: Any) -> Tensor:
    """The complementary error function 1 - erf(x), without cancellation for large x; slope
    -2/sqrt(pi) exp(-x^2)."""
    x = as_tensor(x, "erfc")
    data = _evaluate(x, "erfc", _erfc_fallback)
    return record("erfc", data, x._backend, (x,), (_erfc_vjp,), (x,))


def _erfc_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * (exp(-(x * x)) * (-2 / _SQRT_PI))


def erfinv(x: Any) -> Tensor:
    """The inverse of erf on [-1, 1]: +-inf at +-1, NaN outside; slope sqrt(pi)/2 exp(erfinv(x)^2)."""
    x = as_tensor(x, "erfinv")
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (x,) = _autocast.to_float32("erfinv", x)
    data = _evaluate(x, "erfinv", _erfinv_fallback, _erfinv_edges)
    return record("erfinv", data, x._backend, (x,), (_erfinv_vjp,), save_output=True)


def _erfinv_edges(xp: Any, y: Any, out: Any) -> Any:
    return xp.copysign(out, y)  # -0 at -0, as PyTorch (SciPy gives 0)


def _erfinv_vjp(g: Tensor, y: Tensor) -> Tensor:
    return g * (exp(y * y) * (_SQRT_PI / 2))


def lgamma(x: Any) -> Tensor:
    """ln|Gamma(x)| (SciPy's ``gammaln``): inf at 0, at the negative integers and at +-inf; slope
    digamma(x)."""
    x = as_tensor(x, "lgamma")
    data = _evaluate(x, "gammaln", _lgamma_fallback, _lgamma_edges)
    return record("lgamma", data, x._backend, (x,), (_lgamma_vjp,), (x,))


def _lgamma_edges(xp: Any, x: Any, out: Any) -> Any:
    return xp.where(x == -math.inf, math.inf, out)  # SciPy gives -inf there, C and PyTorch inf


def _lgamma_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * digamma(x)


gammaln = lgamma


def digamma(x: Any) -> Tensor:
    """The logarithmic derivative of Gamma, psi(x): -inf at +0, inf at -0, NaN at the negative integers
    and at -inf (PyTorch's values); slope the trigamma function."""
    x = as_tensor(x, "digamma")
    data = _evaluate(x, "digamma", _digamma_fallback, _digamma_edges)
    return record("digamma", data, x._backend, (x,), (_digamma_vjp,), (x,))


def _digamma_edges(xp: Any, x: Any, out: Any) -> Any:
    """PyTorch's values where psi has a pole, whatever the library gives there."""
    pole = (x < 0) & (xp.floor(x) == x)  # -inf too
    return xp.where(x == 0, xp.copysign(xp.full_like(out, math.inf), -x), xp.where(pole, math.nan, out))


def _digamma_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * _polygamma(1, x)


def polygamma(n: int, x: Any) -> Tensor:
    """The n-th derivative of digamma (PyTorch's ``polygamma(n, input)``, n a non-negative int; n = 0 is
    digamma). For n >= 1: (-1)^(n+1) n! zeta(n + 1, x), (-1)^(n+1) inf at 0 and the negative integers
    (SciPy's and PyTorch's), (-1)^(n+1) 0 at inf, NaN at -inf; slope ``polygamma(n + 1, x)``."""
    n = whole(n, "polygamma", "n", low=0)
    x = as_tensor(x, "polygamma")
    return digamma(x) if n == 0 else _polygamma(n, x)


def _polygamma(n: int, x: Tensor) -> Tensor:
    """``polygamma`` for n >= 1, x a Tensor."""
    xf, work = _float_data(x)
    xp = x._backend.xp
    zeta = _library(xp, "zeta")
    sign = (-1) ** (n + 1)
    if zeta is None:
        data = _polygamma_fallback(xp, n, work)
    else:
        factorial = float(math.factorial(n)) if n <= 170 else math.inf
        with np.errstate(all="ignore"):
            data = _array(zeta(float(n + 1), work)) * (sign * factorial)
    pole = (work <= 0) & (xp.floor(work) == work)
    data = xp.where(pole, sign * math.inf, xp.where(work == math.inf, sign * 0.0, data))
    data = xp.where(work == -math.inf, math.nan, data).astype(xf.dtype, copy=False)
    return record(f"polygamma{n}", data, x._backend, (x,), (lambda g, x: g * _polygamma(n + 1, x),), (x,))


def xlogy(x: Any, y: Any) -> Tensor:
    """x * log(y), broadcasting, with 0 where x == 0 (also at y == 0 or inf; NaN where y is NaN). Slopes as
    PyTorch's: log(y) in x (0 where x == 0 and y <= 0) and x / y in y (NaN at x == y == 0)."""
    return _xlog("xlogy", x, y)


def xlog1py(x: Any, y: Any) -> Tensor:
    """x * log1p(y), broadcasting, with 0 where x == 0 (also at y == -1; NaN where y is NaN). Slopes as
    PyTorch's: log1p(y) in x (0 where x == 0 and y <= -1) and x / (1 + y) in y."""
    return _xlog("xlog1py", x, y)


def _xlog(name: str, x: Any, y: Any) -> Tensor:
    """xlogy or xlog1py (``name``): x times the log (log1p) of y, 0 where x == 0 unless y is NaN."""
    a, b, backend = operands(name, x, y)
    xp, ad, bd = backend.xp, data_of(a), data_of(b)
    dtype = _float_dtype(np.result_type(*(getattr(d, "dtype", d) for d in (ad, bd))))
    work = np.float32 if dtype == np.float16 else dtype
    ax, ay = xp.asarray(ad, dtype=work), xp.asarray(bd, dtype=work)
    log = xp.log1p if name == "xlog1py" else xp.log
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            product = ax * log(ay)
    except ValueError as exc:
        raise ShapeError(f"{name}: shapes {ax.shape} and {ay.shape} do not broadcast ({exc})") from None
    data = xp.where((ax == 0) & ~xp.isnan(ay), 0, product).astype(dtype, copy=False)
    return record(name, data, backend, (tensor_or_none(a), tensor_or_none(b)), _XLOG_RULES[name], (a, b),
                  broadcast=True)


def _xlog_rules(op: Any, pole: float) -> tuple:
    """The slopes of ``op`` (xlogy, pole 0, or xlog1py, pole -1): ``op(1, y)`` in x, 0 where x == 0 and y is
    at or below the pole; x / (y - pole) in y."""

    def dx(g: Tensor, x: Any, y: Any) -> Tensor:
        return where((data_of(x) == 0) & (data_of(y) <= pole), 0.0, op(g, y))

    def dy(g: Tensor, x: Any, y: Any) -> Tensor:
        return g * x / (y if pole == 0 else y - pole)  # (y - 0 would only add an op to the graph)

    return dx, dy


_XLOG_RULES = {"xlogy": _xlog_rules(xlogy, 0.0), "xlog1py": _xlog_rules(xlog1py, -1.0)}


def logit(x: Any, eps: float | None = None) -> Tensor:
    """log(x / (1 - x)), the inverse of sigmoid (PyTorch's ``logit``): -inf at 0, inf at 1, NaN outside
    [0, 1]. With ``eps`` (>= 0; a negative one counts as None, as in PyTorch) x is first clamped to
    [eps, 1 - eps] (x < eps to eps first, so all of x goes to eps or 1 - eps when eps > 1/2, as in PyTorch);
    a NaN eps raises InvalidArgumentError (PyTorch clamps nothing then, but keeps slopes outside [0, 1]).
    Slope 1 / (x (1 - x)): NaN outside [0, 1] without eps, 0 outside [eps, 1 - eps] with it."""
    x = as_tensor(x, "logit")
    if eps is not None:
        value = scalar(eps)
        if isinstance(value, (float, np.floating)) and math.isnan(value):  # real() would say "must be >= -inf"
            raise InvalidArgumentError("logit: eps must be a number >= 0 (x is clamped to [eps, 1 - eps]), a "
                                       "negative number or None (no clamping), got nan")
        eps = real(eps, "logit", "eps")
        if eps < 0:
            eps = None
    xp = x._backend.xp
    xf, work = _float_data(x)
    if eps is not None:
        work = xp.where(work < eps, eps, xp.where(work > 1 - eps, 1 - eps, work))  # not clip: eps may exceed 1 - eps
    with np.errstate(divide="ignore", invalid="ignore"):
        middle = (work >= 0.25) & (work <= 0.75)  # 2 atanh(2x - 1) there: 2x - 1 is exact, log(x / (1 - x)) is not
        data = xp.where(middle, 2 * xp.arctanh(2 * work - 1), xp.log(work / (1 - work)))
    data = data.astype(xf.dtype, copy=False)
    return record("logit", data, x._backend, (x,), (_logit_vjp,), (x, eps))


def _logit_vjp(g: Tensor, x: Tensor, eps: float | None) -> Tensor:
    d = x._data
    slope = g / (x * (1 - x))
    if eps is None:
        return where((d < 0) | (d > 1), math.nan, slope)
    return where((d < eps) | (d > 1 - eps), 0.0, slope)


def entr(x: Any) -> Tensor:
    """-x log(x) (the entropy term): 0 at 0, -inf for x < 0, as PyTorch's and SciPy's; slope -(1 + log x)
    (inf at 0, NaN for x < 0)."""
    x = as_tensor(x, "entr")
    xp = x._backend.xp
    xf, work = _float_data(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = -work * xp.log(work)
    data = xp.where(work > 0, inside, xp.where(work == 0, 0.0, xp.where(work < 0, -math.inf, work)))
    return record("entr", data.astype(xf.dtype, copy=False), x._backend, (x,), (_entr_vjp,), (x,))


def _entr_vjp(g: Tensor, x: Tensor) -> Tensor:
    return g * -(log(x) + 1)


# ------------------------------------------------------------------ NumPy implementations
# Each takes a float array and gives the function in its dtype and shape, computed in float64 on the flat
# array, each branch on its own elements only. They use only the array module's functions, so they run
# on CuPy arrays too.
def _on_flat(xp: Any, x: Any, fn: Any, *args: Any) -> Any:
    with np.errstate(all="ignore"):
        out = fn(xp, x.astype(np.float64).reshape(-1), *args)
    return out.reshape(x.shape).astype(x.dtype, copy=False)


def _split(xp: Any, a: Any, mask: Any, inside: Any, outside: Any) -> Any:
    """inside(a[mask]) where mask holds, outside(a[~mask]) elsewhere."""
    out = xp.empty_like(a)
    out[mask] = inside(a[mask])
    rest = ~mask
    out[rest] = outside(a[rest])
    return out


@functools.cache
def _hurwitz_zeta(s: int, q: float) -> float:
    """zeta(s, q) = sum over k >= 0 of (q + k)^-s, for whole s >= 2 and q > 0 (a Python float, for the
    constant tables): 12 terms, then the Euler-Maclaurin tail."""
    n = 12
    a = q + n
    head = math.fsum((q + k) ** -s for k in range(n))
    tail = a ** (1 - s) / (s - 1) + 0.5 * a**-s
    rising, factorial = float(s), 2.0  # s (s + 1) ... (s + 2j - 2) and (2j)!
    for j, b in enumerate(_BERNOULLI, start=1):
        if j > 1:
            rising *= (s + 2 * j - 3) * (s + 2 * j - 2)
            factorial *= (2 * j - 1) * (2 * j)
        tail += b / factorial * rising * a ** (-s - 2 * j + 1)
    return head + tail


def _horner(coefficients: Any, z: Any) -> Any:
    """sum of coefficients[k] z^k."""
    total = 0.0
    for c in reversed(coefficients):
        total = total * z + c
    return total


# erfc: a Taylor series about the nearest of the centres (2j + 1) / 16 below 3, a continued fraction beyond.
_ERFC_STEP = 0.125
_ERFC_TAYLOR_END = 3.0
_ERFC_TERMS = 18


@functools.cache
def _erfc_centres() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The centres, erfc there (from the standard library) and -erfc's slope there, 2/sqrt(pi) exp(-c^2)."""
    c = (np.arange(int(_ERFC_TAYLOR_END / _ERFC_STEP)) + 0.5) * _ERFC_STEP
    return c, np.array([math.erfc(v) for v in c]), 2 / _SQRT_PI * np.exp(-c * c)


def _erfc_taylor(xp: Any, a: Any) -> Any:
    """erfc(a) for 0 <= a < 3: erfc(c + h) = erfc(c) - 2/sqrt(pi) exp(-c^2) sum_k H_(k-1)(c) (-h)^(k-1) h / k!
    (erfc's k-th derivative is (-1)^k 2/sqrt(pi) exp(-c^2) H_(k-1)(c), H the Hermite polynomials)."""
    centres, values, slopes = (xp.asarray(t) for t in _erfc_centres())
    j = xp.clip(xp.floor(a / _ERFC_STEP), 0, len(centres) - 1).astype(np.int64)
    c = centres[j]
    h = a - c  # exact: a and c are within a factor of 2, or erfc(a) rounds to 1
    hermite_prev, hermite = xp.ones_like(c), 2 * c
    power = h  # (-h)^(k-1) h / k!
    total = h
    for k in range(2, _ERFC_TERMS + 1):
        power = power * (-h / k)
        total = total + hermite * power
        hermite_prev, hermite = hermite, 2 * c * hermite - 2 * (k - 1) * hermite_prev
    return values[j] - slopes[j] * total


def _erfc_cf_ratio(xp: Any, a: Any) -> Any:
    """erfc(a) exp(a^2) for a >= 3: 2a/sqrt(pi) / (2a^2 + 1 - 1*2/(2a^2 + 5 - 3*4/(2a^2 + 9 - ...)))."""
    z = 2 * a * a
    f = z + (4 * 20 + 1)
    for k in range(20, 0, -1):
        f = z + (4 * k - 3) - (2 * k - 1) * (2 * k) / f
    return 2 * a / (_SQRT_PI * f)


def _exp_square(xp: Any, a: Any, sign: float) -> Any:
    """exp(sign a^2) for a >= 0, as exp(sign b^2) exp(sign (a - b)(a + b)) with b = a rounded down to 1/16, so
    that b^2 is exact: the rounding of a^2 itself would cost up to 30 ulps near the ends of the range."""
    b = xp.floor(a * 16) / 16
    return xp.exp(sign * (b * b)) * xp.exp(sign * ((a - b) * (a + b)))


def _erfc_continued_fraction(xp: Any, a: Any) -> Any:
    """erfc(a) for a >= 3."""
    a = xp.minimum(a, 30.0)  # erfc(30) underflows to 0: no inf * 0 at a = inf
    return _erfc_cf_ratio(xp, a) * _exp_square(xp, a, -1.0)


def _erfc_flat(xp: Any, a: Any) -> Any:
    m = xp.abs(a)
    upper = _split(xp, m, m < _ERFC_TAYLOR_END, lambda v: _erfc_taylor(xp, v),
                   lambda v: _erfc_continued_fraction(xp, v))
    return xp.where(a < 0, 2 - upper, upper)


def _erfc_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _erfc_flat)


def _erf_small(xp: Any, x: Any) -> Any:
    """erf(x) for |x| <= 0.5 from its Maclaurin series, 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n + 1))."""
    z = x * x
    term, total = x, x
    for n in range(1, 16):
        term = term * (-z / n)
        total = total + term / (2 * n + 1)
    return total * (2 / _SQRT_PI)


def _halley(xp: Any, x: Any, residual: Any, steps: int) -> Any:
    """``steps`` Halley steps on f(x) = 0 for f = erf - y or erfc - q, given residual(x) = +-f(x) with the
    sign that makes it f / f' times sqrt(pi)/2 exp(-x^2); f'' / f' = -2x for both."""
    for _ in range(steps):
        u = residual(x) * (_SQRT_PI / 2) * xp.exp(x * x)
        x = x - u / (1 + x * u)
    return x


def _erfinv_central(xp: Any, m: Any) -> Any:
    """erfinv(m) for 0 <= m <= 1/2, from its Taylor series to t^7 (within 2e-4)."""
    t = m * (_SQRT_PI / 2)
    t2 = t * t
    start = t * (1 + t2 * (1 / 3 + t2 * (7 / 30 + t2 * (127 / 630))))
    return _halley(xp, start, lambda x: _erf_small(xp, x) - m, 2)


def _erfinv_tail(xp: Any, m: Any) -> Any:
    """erfinv(m) for 1/2 < m: erfc(x) = 1 - m (exact), from erfc(x) ~ exp(-x^2) / (x sqrt(pi)) (within 0.08)."""
    q = 1 - m
    big = -xp.log(q)
    start = xp.sqrt(big - 0.5 * xp.log(math.pi * big))
    return _halley(xp, start, lambda x: q - _erfc_flat(xp, x), 3)


def _erfinv_flat(xp: Any, a: Any) -> Any:
    m = xp.abs(a)
    x = _split(xp, m, m <= 0.5, lambda v: _erfinv_central(xp, v), lambda v: _erfinv_tail(xp, v))
    out = xp.copysign(xp.where(m == 1, math.inf, x), a)
    return xp.where(m > 1, math.nan, out)


def _erfinv_fallback(xp: Any, y: Any) -> Any:
    return _on_flat(xp, y, _erfinv_flat)


# lgamma: series about 1 and 2 (exact near its zeros there), the recurrence down to them below 12,
# Stirling's series above, the reflection formula for x < 0.
_LGAMMA_SERIES_TERMS = 30
_ASYMPTOTIC_FROM = 12.0


@functools.cache
def _lgamma_series() -> tuple[float, ...]:
    """(1 - gamma, d_2, d_3, ...) with d_k = (-1)^k (zeta(k) - 1) / k: lgamma(2 + z) = sum_k d_k z^k (with
    d_1 = 1 - gamma) and lgamma(1 + z) = that - log1p(z); |z| <= 1/2 here, where |d_k z^k| < 4^-k / k."""
    return (1 - _EULER,) + tuple((-1) ** k * _hurwitz_zeta(k, 2.0) / k for k in range(2, _LGAMMA_SERIES_TERMS))


def _lgamma_small(xp: Any, x: Any) -> Any:
    """lgamma(x) for 0 < x < 12."""
    below = x < 1.5
    steps = xp.where(below, 0.0, xp.floor(x - 1.5))
    z = xp.where(below, xp.where(x < 0.5, x, x - 1), (x - steps) - 2)  # x - steps in [1.5, 2.5), exact
    near = z * _horner(_lgamma_series(), z)
    # lgamma(1 + z) = lgamma(2 + z) - log1p(z); below 1/2, lgamma(x) = lgamma(1 + x) - log(x)
    low = near - xp.log1p(z) - xp.where(x < 0.5, xp.log(x), 0.0)
    product = xp.ones_like(x)  # lgamma(x) = lgamma(x - steps) + log((x - 1) ... (x - steps))
    for j in range(1, int(_ASYMPTOTIC_FROM) - 1):
        product = product * xp.where(j <= steps, x - j, 1.0)
    return xp.where(below, low, near + xp.log(product))


def _stirling(xp: Any, x: Any) -> Any:
    """lgamma(x) for x >= 12: (x - 1/2) log x - x + log(2 pi)/2 + sum B_2k / (2k (2k - 1) x^(2k - 1))."""
    w = 1 / x
    series = _horner([b / ((2 * k + 2) * (2 * k + 1)) for k, b in enumerate(_BERNOULLI[:8])], w * w) * w
    return xp.where(x == math.inf, math.inf, (x - 0.5) * xp.log(x) - x + _HALF_LOG_2PI + series)


def _abs_sinpi(xp: Any, x: Any) -> Any:
    """|sin(pi x)| with the argument reduced exactly first (so that it is 0 at the integers)."""
    r = xp.abs(x - 2 * xp.round(x / 2))  # in [0, 1], exact
    return xp.sin(math.pi * xp.where(r > 0.5, 1 - r, r))


def _lgamma_flat(xp: Any, a: Any) -> Any:
    positive = a > 0
    t = xp.where(positive, a, 1 - a)  # Gamma(x) Gamma(1 - x) = pi / sin(pi x)
    value = _split(xp, t, t < _ASYMPTOTIC_FROM, lambda v: _lgamma_small(xp, v), lambda v: _stirling(xp, v))
    out = xp.where(positive, value, _LOG_PI - xp.log(_abs_sinpi(xp, a)) - value)
    return xp.where(((a <= 0) & (xp.floor(a) == a)) | xp.isinf(a), math.inf, out)


def _lgamma_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _lgamma_flat)


# digamma: a Taylor series about its positive zero on [1, 2), the recurrence to it below 12, the asymptotic
# series above, the reflection formula for x < 0.
_ROOT_HI, _ROOT_LO = 1.4616321449683622, 9.549995429965697e-17  # the zero of digamma, to 106 bits
_DIGAMMA_ROOT_TERMS = 42


@functools.cache
def _digamma_root_series() -> tuple[float, ...]:
    """psi(root + z) = sum_k c_k z^k, c_k = psi^(k)(root) / k! = (-1)^(k+1) zeta(k + 1, root), k >= 1 (the
    constant term is 0); it converges for |z| < root, and |z| <= 0.54 here."""
    return tuple((-1) ** (k + 1) * _hurwitz_zeta(k + 1, _ROOT_HI) for k in range(1, _DIGAMMA_ROOT_TERMS))


def _digamma_small(xp: Any, x: Any) -> Any:
    """psi(x) for 0 < x < 12."""
    below = x < 1
    steps = xp.where(below, 0.0, xp.floor(x) - 1)
    # z = (x - steps, in [1, 2)) - root; below 1 the argument is x + 1, but x - (root - 1) has no rounding
    z = xp.where(below, x - (_ROOT_HI - 1), (x - steps) - _ROOT_HI) - _ROOT_LO
    near = z * _horner(_digamma_root_series(), z)
    shift = xp.zeros_like(x)  # psi(x) = psi(x - steps) + 1/(x - 1) + ... + 1/(x - steps)
    for j in range(1, int(_ASYMPTOTIC_FROM) - 1):
        shift = shift + xp.where(j <= steps, 1 / (x - j), 0.0)
    return near + xp.where(below, -1 / x, shift)


def _digamma_asymptotic(xp: Any, x: Any) -> Any:
    """psi(x) for x >= 12: log x - 1/(2x) - sum B_2k / (2k x^2k)."""
    w2 = 1 / (x * x)
    return xp.log(x) - 0.5 / x - _horner([b / (2 * k + 2) for k, b in enumerate(_BERNOULLI[:8])], w2) * w2


def _digamma_flat(xp: Any, a: Any) -> Any:
    positive = a > 0
    t = xp.where(positive, a, 1 - a)
    value = _split(xp, t, t < _ASYMPTOTIC_FROM, lambda v: _digamma_small(xp, v),
                   lambda v: _digamma_asymptotic(xp, v))
    r = a - xp.round(a)  # exact; psi(x) = psi(1 - x) - pi / tan(pi x)
    return _digamma_edges(xp, a, xp.where(positive, value, value - math.pi / xp.tan(math.pi * r)))


def _digamma_fallback(xp: Any, x: Any) -> Any:
    return _on_flat(xp, x, _digamma_flat)


@functools.cache
def _cot_derivative(n: int) -> tuple[int, ...]:
    """Coefficients of P_n, where d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x)): P_0(c) = c,
    P_(k+1)(c) = -(1 + c^2) P_k'(c)."""
    p = [0, 1]
    for _ in range(n):
        slope = [k * p[k] for k in range(1, len(p))]
        p = [0] * (len(slope) + 2)
        for k, v in enumerate(slope):
            p[k] -= v
            p[k + 2] -= v
    return tuple(p)


def _zeta_tail(n: int, y: Any) -> Any:
    """zeta(n + 1, y) for y >= 12 + 2n, from the Euler-Maclaurin formula (11 terms reach float64 there)."""
    w = 1 / y
    tail = w**n / n + 0.5 * w ** (n + 1)
    rising, factorial = float(n + 1), 2.0  # (n + 1) (n + 2) ... (n + 2j - 1) and (2j)!
    for j, b in enumerate(_BERNOULLI, start=1):
        if j > 1:
            rising *= (n + 2 * j - 2) * (n + 2 * j - 1)
            factorial *= (2 * j - 1) * (2 * j)
        tail = tail + (b / factorial * rising) * w ** (n + 2 * j)
    return tail


def _zeta_small(xp: Any, n: int, x: Any, start: int) -> Any:
    """zeta(n + 1, x) for 0 < x < start: the first ``start`` terms, then the tail."""
    head = xp.zeros_like(x)
    for k in range(start):
        head = head + (x + k) ** -(n + 1)
    return head + _zeta_tail(n, x + start)


def _polygamma_flat(xp: Any, a: Any, n: int) -> Any:
    positive = a > 0
    t = xp.where(positive, a, 1 - a)
    start = 12 + 2 * n
    # psi^(n)(x) = (-1)^(n+1) n! zeta(n + 1, x): every term of the sum has the sign of the result
    zeta = _split(xp, t, t < start, lambda v: _zeta_small(xp, n, v, start), lambda v: _zeta_tail(n, v))
    value = zeta * ((-1) ** (n + 1) * math.factorial(n))
    # the n-th derivative of psi(1 - x) - psi(x) = pi cot(pi x)
    cot = 1 / xp.tan(math.pi * (a - xp.round(a)))
    reflected = (-1) ** n * value - math.pi ** (n + 1) * _horner(_cot_derivative(n), cot)
    out = xp.where(positive, value, reflected)
    pole = (a <= 0) & (xp.floor(a) == a)
    return xp.where(a == -math.inf, math.nan, xp.where(pole, (-1) ** (n + 1) * math.inf, out))


def _polygamma_fallback(xp: Any, n: int, x: Any) -> Any:
    """psi^(n)(x) for n >= 1."""
    return _on_flat(xp, x, _polygamma_flat, n)


# ------------------------------------------------------------------ SciPy's composites of the functions above
def log_expit(x: Any) -> Tensor:
    """log(expit(x)) = -log(1 + e^-x) (SciPy's ``log_expit``, PyTorch's ``logsigmoid``), without overflow or
    loss of precision at either end; slope expit(-x). Integer and bool inputs give floats as ``erf`` does."""
    from gradkit.ops.elementwise import logaddexp
    from gradkit.ops.shape import astype

    x = as_tensor(x, "log_expit")
    if x.dtype.kind != "f":
        x = astype(x, _float_dtype(x.dtype))
    return -logaddexp(0.0, -x)


def betaln(a: Any, b: Any) -> Tensor:
    """ln|B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b) (SciPy's ``betaln``), broadcasting; a Python
    number on either side takes the other's float dtype. Slopes digamma(a) - digamma(a + b) and the same in b.
    Computed from gammaln, so for very large a and b it loses the digits SciPy's asymptotic form keeps."""
    a, b, backend = operands("betaln", a, b)
    dtype = _float_dtype(np.result_type(*(t.dtype for t in (a, b) if isinstance(t, Tensor))))
    if isinstance(a, SCALARS) or isinstance(b, SCALARS):  # a number is weak, as in NumPy 2
        a, b = (t if isinstance(t, Tensor) else Tensor._make(backend.xp.asarray(t, dtype=dtype), backend)
                for t in (a, b))
    return lgamma(a) + lgamma(b) - lgamma(a + b)
