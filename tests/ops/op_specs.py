"""The op-spec table: every differentiable operation of API.md, once.

Each ``Spec`` names a gradkit function of tensors, the shapes of its tensor
inputs (broadcasting variants are separate rows), the domain its inputs are
drawn from, and optionally a NumPy reference for the forward values. The
tests in this directory run every row through ``gk.gradcheck`` (float64,
central differences) on every available device, compare forward values with
NumPy, and check second-order gradients for the smooth rows.

Domains keep inputs away from kinks and singularities, so that central
differences are accurate:

- ``real``: standard normal.
- ``positive``: uniform in [0.5, 2] (log, sqrt, power bases, divisors).
- ``unit``: uniform in [-0.8, 0.8] (tan).
- ``inside``: uniform in [-0.9, 0.9] (arcsin, arccos, arctanh: inside (-1, 1)).
- ``above_one``: uniform in [1.1, 3] (arccosh).
- ``away``: magnitude in [0.3, 2] with a random sign (abs, relu, sign).
- ``distinct``: a shuffled ramp with steps of 0.1, so no two elements tie
  (max, min, maximum, minimum, clip).
- ``zeros``: standard normal with about a third of the elements exactly 0 (cumprod: its slope at a
  zero is exact, and central differences of a function linear in each element are too; sinc at 0).
- ``nans``: standard normal with NaN at every flat index that is 2 mod 5, so that no slice of a
  (2, 3, 4) tensor along any axis is all NaN (nansum, nanmean: their slope is 0 at a NaN, and
  central differences there are 0 too).
- ``nans_distinct``: ``distinct`` with NaN where ``nans`` has them (nanmedian, nanquantile: order statistics of
  the values that are not NaN, none tied, no slice all NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import gradkit as gk


@dataclass
class Spec:
    id: str
    fn: Callable[..., Any]
    shapes: Sequence[tuple[int, ...]]
    ref: Callable[..., Any] | None = None
    domain: str | Sequence[str] = "real"
    smooth: bool = True  # second derivative checked by finite differences too

    def domains(self) -> list[str]:
        if isinstance(self.domain, str):
            return [self.domain] * len(self.shapes)
        return list(self.domain)


def draw(rng: np.random.Generator, shape: tuple[int, ...], domain: str) -> np.ndarray:
    """A float64 array of ``shape`` from ``domain`` (see the module docstring)."""
    if domain == "real":
        return rng.standard_normal(shape)
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "unit":
        return rng.uniform(-0.8, 0.8, shape)
    if domain == "inside":
        return rng.uniform(-0.9, 0.9, shape)
    if domain == "above_one":
        return rng.uniform(1.1, 3.0, shape)
    if domain == "away":
        return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if domain == "zeros":
        return np.where(rng.uniform(size=shape) < 0.35, 0.0, rng.standard_normal(shape))
    if domain == "nans":
        return np.where(np.arange(int(np.prod(shape))).reshape(shape) % 5 == 2, np.nan, rng.standard_normal(shape))
    if domain == "distinct":
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.1 - 0.05 * n + rng.uniform(-0.02, 0.02)).reshape(shape)
    if domain == "nans_distinct":
        return np.where(np.arange(int(np.prod(shape))).reshape(shape) % 5 == 2, np.nan, draw(rng, shape, "distinct"))
    raise ValueError(domain)


def same(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The gradkit function and the NumPy function of the same name."""
    return getattr(gk, name), getattr(np, name)


def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def _np_erf(x: np.ndarray) -> np.ndarray:
    """erf in x's dtype, from the standard library (NumPy has none; SciPy is not a test dependency)."""
    return np.vectorize(math.erf, otypes=[x.dtype])(x)


def _py_digamma(v: float) -> float:
    """psi(v) by reflection, the recurrence up to 12 and the asymptotic series (about 1e-15)."""
    if v < 0.5:
        return _py_digamma(1 - v) - math.pi / math.tan(math.pi * v)
    shift = 0.0
    while v < 12:
        shift -= 1 / v
        v += 1
    w = 1 / (v * v)
    return shift + math.log(v) - 0.5 / v - w * (1 / 12 - w * (1 / 120 - w * (1 / 252 - w * (1 / 240 - w / 132))))


def _py_erfinv(y: float) -> float:
    """erfinv(y) for |y| < 1 by Newton's method on math.erf from 0 (monotone: erf is concave on x > 0)."""
    x = 0.0
    for _ in range(60):
        x -= (math.erf(x) - abs(y)) * (math.sqrt(math.pi) / 2) * math.exp(x * x)
    return math.copysign(x, y)


def _np_special(fn: Callable[[float], float]) -> Callable[[np.ndarray], np.ndarray]:
    """A scalar function of the standard library (or above) on arrays, in x's dtype (NumPy has none of
    these; SciPy is not a test dependency)."""
    return lambda x: np.vectorize(fn, otypes=[x.dtype])(x)


_np_erfc, _np_lgamma = _np_special(math.erfc), _np_special(math.lgamma)
_np_digamma, _np_erfinv = _np_special(_py_digamma), _np_special(_py_erfinv)


def _py_trigamma(v: float) -> float:
    """psi'(v) for v > 0 by the recurrence up to 12 and the asymptotic series (about 1e-15)."""
    shift = 0.0
    while v < 12:
        shift += 1 / (v * v)
        v += 1
    w = 1 / (v * v)
    return shift + 1 / v + w / 2 + w / v * (1 / 6 - w * (1 / 30 - w * (1 / 42 - w / 30)))


def _py_zeta(s: float, q: float) -> float:
    """The Hurwitz zeta function for s > 1, q > 0: 20 terms, then the Euler-Maclaurin tail."""
    a = q + 20
    tail = a ** (1 - s) / (s - 1) + a**-s / 2 + s * a ** (-s - 1) / 12 - s * (s + 1) * (s + 2) * a ** (-s - 3) / 720
    return math.fsum((q + k) ** -s for k in range(20)) + tail


def _py_gammainc(a: float, x: float) -> float:
    """P(a, x) from its series x^a e^-x / Gamma(a + 1) sum x^n / ((a + 1) ... (a + n)) (for moderate x)."""
    term = total = 1.0
    for n in range(1, 200):
        term *= x / (a + n)
        total += term
    return math.exp(a * math.log(x) - x - math.lgamma(a + 1)) * total


def _py_bessel_i1(v: float) -> float:
    return math.fsum((v / 2) ** (2 * k + 1) / (math.factorial(k) * math.factorial(k + 1)) for k in range(40))


_np_ndtr = _np_special(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)))
_np_log_ndtr = _np_special(lambda v: math.log(0.5 * math.erfc(-v / math.sqrt(2))))
_np_ndtri = _np_special(lambda p: math.sqrt(2) * _py_erfinv(2 * p - 1))
_np_erfcx = _np_special(lambda v: math.exp(v * v) * math.erfc(v))
_np_i0 = _np_special(lambda v: float(np.i0(v)))
_np_i0e = _np_special(lambda v: float(np.i0(v)) * math.exp(-abs(v)))
_np_i1 = _np_special(_py_bessel_i1)
_np_i1e = _np_special(lambda v: _py_bessel_i1(v) * math.exp(-abs(v)))
_np_logit = _np_special(lambda p: math.log(p / (1 - p)))
_np_entr = _np_special(lambda v: -v * math.log(v))
_np_trigamma = _np_special(_py_trigamma)
_np_multigammaln2 = _np_special(lambda v: 0.5 * math.log(math.pi) + math.lgamma(v) + math.lgamma(v - 0.5))
_np_zeta3 = _np_special(lambda q: _py_zeta(3.0, q))
_np_gammainc = _np_special(lambda v: _py_gammainc(2.5, v))
_np_gammaincc = _np_special(lambda v: 1 - _py_gammainc(2.5, v))


def _np_xlog1py(x: Any, y: Any) -> np.ndarray:
    return np.where(np.asarray(x) == 0, 0, x * np.log1p(y))


def _np_xlogy(x: Any, y: Any) -> np.ndarray:
    log_y = math.log(y) if isinstance(y, float) else np.log(y)  # a Python float keeps x's dtype
    return np.where(np.asarray(x) == 0, 0, x * log_y)


def _np_rsqrt(x: np.ndarray) -> np.ndarray:
    return np.reciprocal(np.sqrt(x))  # not 1 / np.sqrt(x): NumPy 1.x makes that float64 for a 0-d float32


def _np_gather(x: np.ndarray, axis: int, index: np.ndarray) -> np.ndarray:
    return np.take_along_axis(x, index, axis=axis)


def _np_quantile(fn: Callable[..., Any]) -> Callable[..., Any]:
    """np.quantile or np.percentile (or their nan versions), in NumPy 2's dtype on NumPy 1.x too (gradkit
    follows NumPy 2: a Python number q keeps a float x's dtype, a float32 q does not make it float64; NumPy
    1.x made some of those float64)."""

    def ref(x: np.ndarray, q: Any, **kw: Any) -> np.ndarray:
        qa = np.asarray(q)
        if fn in (np.percentile, np.nanpercentile) and isinstance(q, np.ndarray) and qa.dtype.kind == "f":
            # q / 100 in q's dtype, then quantile: NumPy 2.3+'s order (and gradkit's); 2.0-2.2 differ by an ulp
            quantile = np.quantile if fn is np.percentile else np.nanquantile
            out = np.asarray(quantile(x, np.true_divide(qa, qa.dtype.type(100)), **kw))
        else:
            out = np.asarray(fn(x, q, **kw))
        picks = qa.dtype.kind in "iu" and fn in (np.quantile, np.nanquantile)
        if np.lib.NumpyVersion(np.__version__) >= "2.0.0" or picks:
            return out  # (an integer q picks an element of x, in x's dtype)
        if type(q) in (int, float):
            return out.astype(x.dtype if x.dtype.kind == "f" else np.float64)
        return out.astype(np.result_type(x.dtype, qa.dtype if qa.dtype.kind == "f" else np.float64))

    return ref


GATHER_INDEX = np.array([[0, 2, 1, 0], [2, 2, 0, 1]])  # for a (3, 4) input along axis 0
MASK = np.array([[True, False, True, False], [False, False, True, True], [True, True, False, False]])

BINARY = [
    ("add", "real", "real"),
    ("subtract", "real", "real"),
    ("multiply", "real", "real"),
    ("divide", "real", "positive"),
    ("power", "positive", "real"),
    ("remainder", "real", "positive"),
    ("maximum", "distinct", "distinct"),
    ("minimum", "distinct", "distinct"),
    ("arctan2", "real", "away"),  # x away from 0: no point near the origin, where the slopes blow up
    ("hypot", "real", "away"),
    ("logaddexp", "real", "real"),
    ("logaddexp2", "real", "real"),
    ("fmod", "real", "positive"),
    ("copysign", "away", "away"),  # away from a == 0 (the kink of |a|) and b == 0 (where the sign flips)
]
BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((), (2, 3)),
    ((3, 1), ()),
]

UNARY = [
    ("negative", "real"),
    ("exp", "real"),
    ("log", "positive"),
    ("log1p", "positive"),
    ("expm1", "real"),
    ("sqrt", "positive"),
    ("square", "real"),
    ("abs", "away"),
    ("sign", "away"),
    ("sin", "real"),
    ("cos", "real"),
    ("tan", "unit"),
    ("tanh", "real"),
    ("arcsin", "inside"),
    ("arccos", "inside"),
    ("arctan", "real"),
    ("sinh", "real"),
    ("cosh", "real"),
    ("arcsinh", "real"),
    ("arccosh", "above_one"),
    ("arctanh", "inside"),
    ("log2", "positive"),
    ("log10", "positive"),
    ("exp2", "real"),
    ("cbrt", "away"),
    ("reciprocal", "away"),
    ("sinc", "real"),
    ("deg2rad", "real"),
    ("rad2deg", "real"),
    ("radians", "real"),
    ("degrees", "real"),
    ("fabs", "away"),
]
# Tensor methods of the functions above (and PyTorch's spellings), each as (method, NumPy function, domain).
MATH_METHODS = [
    ("arcsin", np.arcsin, "inside"),
    ("asin", np.arcsin, "inside"),
    ("arccos", np.arccos, "inside"),
    ("acos", np.arccos, "inside"),
    ("arctan", np.arctan, "real"),
    ("atan", np.arctan, "real"),
    ("sinh", np.sinh, "real"),
    ("cosh", np.cosh, "real"),
    ("arcsinh", np.arcsinh, "real"),
    ("asinh", np.arcsinh, "real"),
    ("arccosh", np.arccosh, "above_one"),
    ("acosh", np.arccosh, "above_one"),
    ("arctanh", np.arctanh, "inside"),
    ("atanh", np.arctanh, "inside"),
    ("log2", np.log2, "positive"),
    ("log10", np.log10, "positive"),
    ("exp2", np.exp2, "real"),
    ("reciprocal", np.reciprocal, "away"),
    ("rsqrt", _np_rsqrt, "positive"),
    ("erf", _np_erf, "real"),
    ("erfc", _np_erfc, "real"),
    ("erfinv", _np_erfinv, "inside"),
    ("lgamma", _np_lgamma, "positive"),
    ("digamma", _np_digamma, "positive"),
]

REDUCTION_AXES = [
    dict(),
    dict(axis=0),
    dict(axis=-1),
    dict(axis=1, keepdims=True),
    dict(axis=(0, 2)),
    dict(axis=(0, 2), keepdims=True),
    dict(axis=None, keepdims=True),
]


def _kw(kw: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in kw.items()) or "all"


def build_specs() -> list[Spec]:
    specs: list[Spec] = []
    add = specs.append

    # ---------------------------------------------------------- elementwise binary
    for name, da, db in BINARY:
        g, n = same(name)
        for sa, sb in BROADCAST_SHAPES:
            if name in ("maximum", "minimum") and (sa == () or sb == ()):
                continue  # a shared scalar would tie with the ramp of the other operand
            add(Spec(f"{name}{sa}{sb}", g, [sa, sb], n, [da, db], smooth=name not in ("maximum", "minimum")))
    add(Spec("maximum_scalar_const", lambda x: gk.maximum(x, 0.33), [(3, 4)], lambda x: np.maximum(x, 0.33),
             "away", smooth=False))
    add(Spec("minimum_const_scalar", lambda x: gk.minimum(0.33, x), [(3, 4)], lambda x: np.minimum(0.33, x),
             "away", smooth=False))
    # operators, with tensors and with Python numbers on either side
    ops = [
        ("op_add", lambda a, b: a + b, "real", "real"),
        ("op_sub", lambda a, b: a - b, "real", "real"),
        ("op_mul", lambda a, b: a * b, "real", "real"),
        ("op_div", lambda a, b: a / b, "real", "positive"),
        ("op_pow", lambda a, b: a**b, "positive", "real"),
    ]
    for name, f, da, db in ops:
        add(Spec(f"{name}(3,4)(4,)", f, [(3, 4), (4,)], f, [da, db]))
        add(Spec(f"{name}_scalar_right", lambda a, f=f: f(a, 1.7), [(2, 3)], lambda a, f=f: f(a, 1.7), da))
        add(Spec(f"{name}_scalar_left", lambda b, f=f: f(1.7, b), [(2, 3)], lambda b, f=f: f(1.7, b), db))
        add(Spec(f"{name}_ndarray_right", lambda a, f=f: f(a, np.full((3,), 1.3)), [(2, 3)],
                 lambda a, f=f: f(a, np.full((3,), 1.3)), da))
    add(Spec("op_neg", lambda x: -x, [(3, 4)], lambda x: -x))
    add(Spec("op_pos", lambda x: +x * 1.0, [(3, 4)], lambda x: +x * 1.0))
    add(Spec("op_abs", lambda x: abs(x), [(3, 4)], np.abs, "away", smooth=False))
    add(Spec("pow_int_2", lambda x: x**2, [(3, 4)], lambda x: x**2))
    add(Spec("pow_int_3", lambda x: x**3, [(3, 4)], lambda x: x**3))
    add(Spec("pow_0", lambda x: x**0 * x, [(3, 4)], lambda x: x**0 * x))
    add(Spec("pow_neg_half", lambda x: x**-0.5, [(3, 4)], lambda x: x**-0.5, "positive"))
    add(Spec("pow_method", lambda x: x.pow(2.5), [(3, 4)], lambda x: x**2.5, "positive"))
    add(Spec("rpow", lambda x: 2.0**x, [(3, 4)], lambda x: 2.0**x))
    add(Spec("x_times_x", lambda x: x * x, [(3, 4)], lambda x: x * x))
    add(Spec("x_div_x_plus", lambda x: x / (x + 3.0), [(3, 4)], lambda x: x / (x + 3.0), "positive"))

    # ----------------------------------------------------------- elementwise unary
    for name, dom in UNARY:
        g, n = same(name)
        add(Spec(name, g, [(3, 4)], n, dom, smooth=name not in ("abs", "sign", "fabs")))
        add(Spec(f"{name}_0d", g, [()], n, dom, smooth=name not in ("abs", "sign", "fabs")))
    add(Spec("sigmoid", gk.sigmoid, [(3, 4)], _np_sigmoid))
    add(Spec("sigmoid_large", lambda x: gk.sigmoid(x * 8), [(3, 4)], lambda x: _np_sigmoid(x * 8)))
    add(Spec("relu", gk.relu, [(3, 4)], lambda x: np.maximum(x, 0), "away", smooth=False))
    for m in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "square"):
        dom = {"log": "positive", "sqrt": "positive", "relu": "away", "abs": "away"}.get(m, "real")
        ref = {"sigmoid": _np_sigmoid, "relu": lambda x: np.maximum(x, 0)}.get(m, getattr(np, m, None))
        add(Spec(f"method_{m}", lambda x, m=m: getattr(x, m)(), [(2, 3)], ref, dom, smooth=m not in ("relu", "abs")))
    for m, ref, dom in MATH_METHODS:
        add(Spec(f"method_{m}", lambda x, m=m: getattr(x, m)(), [(2, 3)], ref, dom))
    add(Spec("rsqrt", gk.rsqrt, [(3, 4)], _np_rsqrt, "positive"))
    add(Spec("rsqrt_0d", gk.rsqrt, [()], _np_rsqrt, "positive"))
    add(Spec("erf", gk.erf, [(3, 4)], _np_erf))
    add(Spec("erf_0d", gk.erf, [()], _np_erf))
    add(Spec("erf_wide", lambda x: gk.erf(x * 3), [(3, 4)], lambda x: _np_erf(x * 3)))
    _add_special_functions(add)
    add(Spec("arcsinh_large", lambda x: gk.arcsinh(x * 1e3), [(3, 4)], lambda x: np.arcsinh(x * 1e3)))
    add(Spec("arccosh_near_1", lambda x: gk.arccosh(x * 0.05 + 1.0), [(3, 4)], lambda x: np.arccosh(x * 0.05 + 1.0),
             "positive"))
    for name, da in (("arctan2", "real"), ("hypot", "real")):
        g, n = same(name)
        add(Spec(f"{name}_scalar_right", lambda y, g=g: g(y, -0.7), [(2, 3)], lambda y, n=n: n(y, -0.7), da))
        add(Spec(f"{name}_scalar_left", lambda x, g=g: g(1.3, x), [(2, 3)], lambda x, n=n: n(1.3, x), "away"))
        add(Spec(f"{name}_ndarray_right", lambda y, g=g: g(y, np.full((3,), -1.3)), [(2, 3)],
                 lambda y, n=n: n(y, np.full((3,), -1.3)), da))
        add(Spec(f"{name}_same_tensor", lambda y, g=g: g(y, y * 0.5 + 2.0), [(2, 3)],
                 lambda y, n=n: n(y, y * 0.5 + 2.0), da))
    add(Spec("arctan2_all_quadrants", gk.arctan2, [(4, 4), (4, 4)], np.arctan2, "away"))
    add(Spec("method_arctan2", lambda y, x: y.arctan2(x), [(3, 4), (4,)], np.arctan2, ["real", "away"]))
    add(Spec("method_atan2", lambda y, x: y.atan2(x), [(3, 1), (4,)], np.arctan2, ["real", "away"]))
    add(Spec("method_hypot", lambda a, b: a.hypot(b), [(3, 4), (3, 1)], np.hypot, ["real", "away"]))
    add(Spec("where", lambda a, b: gk.where(gk.tensor(MASK, device=a.device), a, b), [(3, 4), (3, 4)],
             lambda a, b: np.where(MASK, a, b)))
    add(Spec("where_broadcast", lambda a, b: gk.where(gk.tensor(MASK, device=a.device), a, b), [(4,), (3, 1)],
             lambda a, b: np.where(MASK, a, b)))
    add(Spec("where_scalar", lambda a: gk.where(gk.tensor(MASK, device=a.device), a, 0.0), [(3, 4)],
             lambda a: np.where(MASK, a, 0.0)))
    add(Spec("where_from_comparison", lambda a, b: gk.where(a > b, a, b), [(3, 4), (3, 4)],
             lambda a, b: np.where(a > b, a, b), "distinct", smooth=False))
    add(Spec("clip", lambda x: gk.clip(x, -0.33, 0.47), [(3, 4)], lambda x: np.clip(x, -0.33, 0.47),
             "distinct", smooth=False))
    add(Spec("clip_lo", lambda x: gk.clip(x, -0.33, None), [(3, 4)], lambda x: np.clip(x, -0.33, None),
             "distinct", smooth=False))
    add(Spec("clip_hi", lambda x: x.clip(None, 0.47), [(3, 4)], lambda x: np.clip(x, None, 0.47),
             "distinct", smooth=False))
    add(Spec("clip_tensor_bounds", lambda x, lo, hi: gk.clip(x, lo, hi), [(3, 4), (4,), (3, 1)],
             lambda x, lo, hi: np.clip(x, lo, hi), ["distinct", "real", "real"], smooth=False))

    # ----------------------------------------------------------------- reductions
    for name in ("sum", "mean", "var", "std", "max", "min", "prod", "logsumexp"):
        dom = {"max": "distinct", "min": "distinct", "prod": "positive"}.get(name, "real")
        smooth = name not in ("max", "min")
        for kw in REDUCTION_AXES:
            ref = _np_logsumexp if name == "logsumexp" else getattr(np, name)
            add(Spec(f"{name}[{_kw(kw)}]", lambda x, name=name, kw=kw: getattr(gk, name)(x, **kw), [(2, 3, 4)],
                     lambda x, ref=ref, kw=kw: ref(x, **kw), dom, smooth))
            add(Spec(f"{name}_method[{_kw(kw)}]", lambda x, name=name, kw=kw: getattr(x, name)(**kw), [(2, 3, 4)],
                     lambda x, ref=ref, kw=kw: ref(x, **kw), dom, smooth))
        if name != "std":  # std is not differentiable where the variance is 0 (always, for one element)
            add(Spec(f"{name}_0d", getattr(gk, name), [()], ref, dom, smooth))
        add(Spec(f"{name}_1d", getattr(gk, name), [(5,)], ref, dom, smooth))
    for ddof in (0, 1):
        for name in ("var", "std"):
            add(Spec(f"{name}_ddof{ddof}", lambda x, name=name, ddof=ddof: getattr(gk, name)(x, axis=1, ddof=ddof),
                     [(3, 4)], lambda x, name=name, ddof=ddof: getattr(np, name)(x, axis=1, ddof=ddof)))
            add(Spec(f"{name}_method_ddof{ddof}", lambda x, name=name, ddof=ddof: getattr(x, name)(ddof=ddof),
                     [(3, 4)], lambda x, name=name, ddof=ddof: getattr(np, name)(x, ddof=ddof)))
    add(Spec("prod_with_zero", lambda x: gk.prod(x * gk.tensor(np.array([1.0, 0.0, 1.0]), device=x.device), axis=1),
             [(2, 3)], lambda x: np.prod(x * np.array([1.0, 0.0, 1.0]), axis=1), smooth=False))
    add(Spec("prod_with_two_zeros", lambda x: gk.prod(x * gk.tensor(np.array([0.0, 0.0, 1.0]), device=x.device)),
             [(3,)], lambda x: np.prod(x * np.array([0.0, 0.0, 1.0])), smooth=False))
    add(Spec("prod_negative", lambda x: gk.prod(x, axis=0), [(3, 4)], lambda x: np.prod(x, axis=0), "away"))
    add(Spec("logsumexp_large", lambda x: gk.logsumexp(x * 300, axis=1), [(3, 4)],
             lambda x: _np_logsumexp(x * 300, axis=1)))

    # ------------------------------------------------------------- linear algebra
    matmul_shapes = [
        ((3, 4), (4, 2)),
        ((4,), (4,)),
        ((4,), (4, 2)),
        ((3, 4), (4,)),
        ((2, 3, 4), (4, 2)),
        ((2, 3, 4), (2, 4, 2)),
        ((2, 1, 3, 4), (3, 4, 2)),
        ((4,), (2, 4, 3)),
        ((2, 3, 4), (4,)),
    ]
    for sa, sb in matmul_shapes:
        add(Spec(f"matmul{sa}{sb}", gk.matmul, [sa, sb], np.matmul))
        add(Spec(f"op_matmul{sa}{sb}", lambda a, b: a @ b, [sa, sb], np.matmul))
    add(Spec("matmul_method", lambda a, b: a.matmul(b), [(3, 4), (4, 2)], np.matmul))
    add(Spec("rmatmul_ndarray", lambda b: np.ones((2, 3)) @ b, [(3, 4)], lambda b: np.ones((2, 3)) @ b))
    for sa, sb in [((4,), (4,)), ((3, 4), (4, 2)), ((3, 4), (4,)), ((4,), (4, 2)), ((2, 3, 4), (4, 2)),
                   ((2, 3, 4), (3, 4, 2)), ((), (2, 3)), ((2, 3), ())]:
        add(Spec(f"dot{sa}{sb}", gk.dot, [sa, sb], np.dot))
    add(Spec("dot_method", lambda a, b: a.dot(b), [(3, 4), (4,)], np.dot))
    for sa, sb in [((3,), (4,)), ((2, 2), (3,))]:
        add(Spec(f"outer{sa}{sb}", gk.outer, [sa, sb], np.outer))
    einsums = [
        ("ij,jk->ik", [(3, 4), (4, 2)]),
        ("ij,jk", [(3, 4), (4, 2)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
        ("i,i->", [(4,), (4,)]),
        ("i,j->ij", [(3,), (4,)]),
        ("ij->ji", [(3, 4)]),
        ("ij->", [(3, 4)]),
        ("ij->j", [(3, 4)]),
        ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
        ("ij,ij->i", [(3, 4), (3, 4)]),
        ("ijk,ik->j", [(2, 3, 4), (2, 4)]),
        ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
        ("ii->", [(3, 3)]),
        ("ii", [(3, 3)]),
        ("ii->i", [(3, 3)]),
        ("iij->j", [(2, 2, 3)]),
        ("iji->ij", [(2, 3, 2)]),
        ("ij,jj->i", [(2, 3), (3, 3)]),
        ("ii,i->i", [(3, 3), (3,)]),
        ("i,i,i->", [(3,), (3,), (3,)]),
    ]
    for spec, shapes in einsums:
        add(Spec(f"einsum[{spec}]", lambda *ts, spec=spec: gk.einsum(spec, *ts), shapes,
                 lambda *xs, spec=spec: np.einsum(spec, *xs)))

    # ------------------------------------------------------------------ shape ops
    add(Spec("reshape", lambda x: gk.reshape(x, (4, 3)), [(3, 4)], lambda x: x.reshape(4, 3)))
    add(Spec("reshape_-1", lambda x: gk.reshape(x, (2, -1)), [(3, 4)], lambda x: x.reshape(2, -1)))
    add(Spec("reshape_int", lambda x: gk.reshape(x, 12), [(3, 4)], lambda x: x.reshape(12)))
    add(Spec("reshape_method_ints", lambda x: x.reshape(2, 2, 3), [(3, 4)], lambda x: x.reshape(2, 2, 3)))
    add(Spec("reshape_to_0d", lambda x: x.reshape(()), [(1, 1)], lambda x: x.reshape(())))
    add(Spec("view", lambda x: x.view(6, 2), [(3, 4)], lambda x: x.reshape(6, 2)))
    add(Spec("view_tuple", lambda x: x.view((-1,)), [(3, 4)], lambda x: x.reshape(-1)))
    add(Spec("flatten", lambda x: gk.flatten(x), [(2, 3, 4)], lambda x: x.reshape(-1)))
    add(Spec("flatten_method", lambda x: x.flatten(1), [(2, 3, 4)], lambda x: x.reshape(2, 12)))
    add(Spec("flatten_range", lambda x: x.flatten(0, 1), [(2, 3, 4)], lambda x: x.reshape(6, 4)))
    add(Spec("transpose", gk.transpose, [(2, 3, 4)], np.transpose))
    add(Spec("transpose_axes", lambda x: gk.transpose(x, (1, 2, 0)), [(2, 3, 4)], lambda x: np.transpose(x, (1, 2, 0))))
    add(Spec("transpose_method", lambda x: x.transpose(), [(2, 3, 4)], np.transpose))
    add(Spec("transpose_method_tuple", lambda x: x.transpose((2, 0, 1)), [(2, 3, 4)],
             lambda x: np.transpose(x, (2, 0, 1))))
    add(Spec("transpose_method_ints", lambda x: x.transpose(2, 0, 1), [(2, 3, 4)],
             lambda x: np.transpose(x, (2, 0, 1))))
    add(Spec("transpose_negative_axes", lambda x: gk.transpose(x, (-1, 0, 1)), [(2, 3, 4)],
             lambda x: np.transpose(x, (2, 0, 1))))
    add(Spec("T", lambda x: x.T, [(3, 4)], lambda x: x.T))
    add(Spec("permute", lambda x: gk.permute(x, (2, 0, 1)), [(2, 3, 4)], lambda x: np.transpose(x, (2, 0, 1))))
    add(Spec("permute_method", lambda x: x.permute(1, 2, 0), [(2, 3, 4)], lambda x: np.transpose(x, (1, 2, 0))))
    add(Spec("permute_method_tuple", lambda x: x.permute((1, 2, 0)), [(2, 3, 4)],
             lambda x: np.transpose(x, (1, 2, 0))))
    add(Spec("squeeze", gk.squeeze, [(3, 1, 4, 1)], np.squeeze))
    add(Spec("squeeze_axis", lambda x: gk.squeeze(x, 1), [(3, 1, 4, 1)], lambda x: np.squeeze(x, 1)))
    add(Spec("squeeze_neg_axis", lambda x: x.squeeze(-1), [(3, 1, 4, 1)], lambda x: np.squeeze(x, -1)))
    add(Spec("squeeze_axes", lambda x: x.squeeze((1, 3)), [(3, 1, 4, 1)], lambda x: np.squeeze(x, (1, 3))))
    for ax in (0, 1, 2, -1, -3):
        add(Spec(f"unsqueeze[{ax}]", lambda x, ax=ax: gk.unsqueeze(x, ax), [(3, 4)],
                 lambda x, ax=ax: np.expand_dims(x, ax)))
    add(Spec("unsqueeze_method", lambda x: x.unsqueeze(1), [(3, 4)], lambda x: x[:, None]))
    add(Spec("expand", lambda x: gk.expand(x, (2, 3, 4)), [(3, 1)], lambda x: np.broadcast_to(x, (2, 3, 4))))
    add(Spec("expand_minus1", lambda x: x.expand(2, -1, 4), [(3, 1)], lambda x: np.broadcast_to(x, (2, 3, 4))))
    add(Spec("expand_tuple", lambda x: x.expand((2, 3, 4)), [(4,)], lambda x: np.broadcast_to(x, (2, 3, 4))))
    add(Spec("broadcast_to", lambda x: gk.broadcast_to(x, (2, 3, 4)), [(1, 4)],
             lambda x: np.broadcast_to(x, (2, 3, 4))))
    add(Spec("broadcast_to_0d", lambda x: gk.broadcast_to(x, (2, 3)), [()], lambda x: np.broadcast_to(x, (2, 3))))
    add(Spec("broadcast_to_method", lambda x: x.broadcast_to((3, 4)), [(3, 1)], lambda x: np.broadcast_to(x, (3, 4))))
    for ax in (0, 1, -1):
        add(Spec(f"concatenate[{ax}]", lambda a, b, ax=ax: gk.concatenate([a, b], axis=ax), [(2, 3), (2, 3)],
                 lambda a, b, ax=ax: np.concatenate([a, b], axis=ax)))
        add(Spec(f"stack[{ax}]", lambda a, b, c, ax=ax: gk.stack([a, b, c], axis=ax), [(2, 3)] * 3,
                 lambda a, b, c, ax=ax: np.stack([a, b, c], axis=ax)))
    add(Spec("concatenate_uneven", lambda a, b: gk.concatenate((a, b), axis=1), [(2, 3), (2, 1)],
             lambda a, b: np.concatenate((a, b), axis=1)))
    add(Spec("concatenate_same_tensor", lambda a: gk.concatenate([a, a * 2.0]), [(2, 3)],
             lambda a: np.concatenate([a, a * 2.0])))
    add(Spec("stack_axis2", lambda a, b: gk.stack([a, b], axis=2), [(2, 3), (2, 3)],
             lambda a, b: np.stack([a, b], axis=2)))
    for arg, ax in ((3, 0), (2, 1), ([1, 3], 1), ([2], 0), ([0, 2, 2], -1)):
        add(Spec(f"split[{arg},{ax}]", lambda x, arg=arg, ax=ax: tuple(gk.split(x, arg, axis=ax)), [(6, 4)],
                 lambda x, arg=arg, ax=ax: tuple(np.split(x, arg, axis=ax))))
    add(Spec("flip", gk.flip, [(3, 4)], np.flip))
    add(Spec("swapaxes", lambda x: gk.swapaxes(x, 0, -1), [(2, 3, 4)], lambda x: np.swapaxes(x, 0, -1)))
    add(Spec("swapaxes_method", lambda x: x.swapaxes(1, 2), [(2, 3, 4)], lambda x: np.swapaxes(x, 1, 2)))
    add(Spec("expand_dims", lambda x: gk.expand_dims(x, 1), [(3, 4)], lambda x: np.expand_dims(x, 1)))
    add(Spec("expand_dims_neg_axis", lambda x: gk.expand_dims(x, -1), [(3, 4)], lambda x: np.expand_dims(x, -1)))
    add(Spec("flip_axis", lambda x: gk.flip(x, 1), [(3, 4)], lambda x: np.flip(x, 1)))
    add(Spec("flip_axes", lambda x: gk.flip(x, (0, -1)), [(2, 3, 4)], lambda x: np.flip(x, (0, -1))))
    for mode in ("constant", "edge", "reflect", "symmetric", "wrap"):
        add(Spec(f"pad_{mode}", lambda x, mode=mode: gk.pad(x, ((1, 2), (2, 1)), mode=mode), [(3, 4)],
                 lambda x, mode=mode: np.pad(x, ((1, 2), (2, 1)), mode=mode)))
    add(Spec("pad_int", lambda x: gk.pad(x, 1), [(3, 4)], lambda x: np.pad(x, 1)))
    add(Spec("pad_pair", lambda x: gk.pad(x, (1, 0)), [(3, 4)], lambda x: np.pad(x, (1, 0))))
    add(Spec("pad_constant_value", lambda x: gk.pad(x, ((0, 1), (1, 1)), constant_values=2.5), [(3, 4)],
             lambda x: np.pad(x, ((0, 1), (1, 1)), constant_values=2.5)))
    add(Spec("take_flat", lambda x: gk.take(x, np.array([0, 5, 5, 11, -1])), [(3, 4)],
             lambda x: np.take(x, np.array([0, 5, 5, 11, -1]))))
    add(Spec("take_axis1", lambda x: gk.take(x, [2, 0, 2], axis=1), [(3, 4)], lambda x: np.take(x, [2, 0, 2], axis=1)))
    add(Spec("take_2d_indices", lambda x: gk.take(x, np.array([[0, 1], [2, 2]]), axis=0), [(3, 4)],
             lambda x: np.take(x, np.array([[0, 1], [2, 2]]), axis=0)))
    add(Spec("take_scalar_index", lambda x: gk.take(x, 2, axis=1), [(3, 4)], lambda x: np.take(x, 2, axis=1)))
    add(Spec("gather_axis0", lambda x: gk.gather(x, 0, GATHER_INDEX), [(3, 4)],
             lambda x: _np_gather(x, 0, GATHER_INDEX)))
    add(Spec("gather_axis1", lambda x: gk.gather(x, 1, np.array([[3, 3], [0, 1], [2, 0]])), [(3, 4)],
             lambda x: _np_gather(x, 1, np.array([[3, 3], [0, 1], [2, 0]]))))
    add(Spec("gather_tensor_index", lambda x: gk.gather(x, -1, gk.tensor(np.array([[1], [0], [3]]), device=x.device)),
             [(3, 4)], lambda x: _np_gather(x, -1, np.array([[1], [0], [3]]))))

    # ------------------------------------------------------------- nn ops
    def _np_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return x - _np_logsumexp(x, axis, keepdims=True)

    for name, ref in (("softmax", _np_softmax), ("log_softmax", _np_log_softmax)):
        add(Spec(name, getattr(gk, name), [(3, 4)], ref))
        add(Spec(f"{name}_axis0", lambda x, name=name: getattr(gk, name)(x, 0), [(3, 4)],
                 lambda x, ref=ref: ref(x, 0)))
        add(Spec(f"{name}_axis1_3d", lambda x, name=name: getattr(gk, name)(x, 1), [(2, 3, 4)],
                 lambda x, ref=ref: ref(x, 1)))
        add(Spec(f"{name}_1d", getattr(gk, name), [(5,)], ref))
        add(Spec(f"{name}_method", lambda x, name=name: getattr(x, name)(0), [(3, 4)], lambda x, ref=ref: ref(x, 0)))
        add(Spec(f"{name}_large", lambda x, name=name: getattr(gk, name)(x * 500), [(3, 4)],
                 lambda x, ref=ref: ref(x * 500), smooth=False))

    # ---------------------------------------------------------- dtype and device
    add(Spec("clone", lambda x: gk.clone(x) * 2.0 + x.clone(), [(3, 4)], lambda x: x * 3.0))
    add(Spec("astype_same", lambda x: x.astype(np.float64) * 1.0, [(3, 4)],
             lambda x: x.astype(np.float64) * 1.0))
    add(Spec("to_dtype", lambda x: x.to(dtype="float64") * 2.0, [(3, 4)], lambda x: x.astype(np.float64) * 2.0))
    add(Spec("to_device_cpu_roundtrip", lambda x: x.to("cpu").to(x.device) * 2.0, [(3, 4)], lambda x: x * 2.0))
    # Back on x's device, so that on a GPU both transfers (and their VJPs) are in the chain.
    add(Spec("cpu_method", lambda x: (x.cpu() * 3.0).to(x.device), [(3, 4)], lambda x: x * 3.0))

    # ------------------------------------------- PyTorch's and NumPy's other spellings (this session)
    for ax in (0, 1, -1, None):
        add(Spec(f"cumsum[{ax}]", lambda x, ax=ax: gk.cumsum(x, ax), [(3, 4)], lambda x, ax=ax: np.cumsum(x, ax)))
    add(Spec("cumsum_3d_method", lambda x: x.cumsum(1), [(2, 3, 4)], lambda x: np.cumsum(x, 1)))
    add(Spec("cumsum_0d", lambda x: gk.cumsum(x), [()], lambda x: np.cumsum(x)))
    for k in (0, 1, -1):
        add(Spec(f"tril[{k}]", lambda x, k=k: gk.tril(x, k), [(3, 4)], lambda x, k=k: np.tril(x, k)))
        add(Spec(f"triu[{k}]", lambda x, k=k: gk.triu(x, k), [(4, 3)], lambda x, k=k: np.triu(x, k)))
    add(Spec("tril_batched", lambda x: gk.tril(x), [(2, 3, 3)], lambda x: np.tril(x)))
    add(Spec("clamp", lambda x: gk.clamp(x, min=-0.5, max=0.5), [(3, 4)], lambda x: np.clip(x, -0.5, 0.5),
             "distinct", smooth=False))
    add(Spec("clamp_method_tensor_bound", lambda x, lo: x.clamp(min=lo), [(3, 4), (4,)],
             lambda x, lo: np.maximum(x, lo), "distinct", smooth=False))
    add(Spec("cat[1]", lambda a, b: gk.cat([a, b], dim=1), [(2, 3), (2, 1)], lambda a, b: np.concatenate([a, b], 1)))
    for name in ("floor", "ceil", "round", "trunc", "fix"):
        add(Spec(name, lambda x, name=name: getattr(gk, name)(x * 3.0) + x, [(3, 4)],
                 lambda x, name=name: getattr(np, name)(x * 3.0) + x, "away", smooth=False))
    add(Spec("contiguous", lambda x: x.T.contiguous() * 2.0, [(3, 4)], lambda x: x.T * 2.0))
    add(Spec("t_method", lambda x: x.t() * 1.0, [(3, 4)], lambda x: x.T * 1.0))
    add(Spec("view_reshape_expand_as", lambda x, y: x.view_as(y.T).reshape_as(y) + x[:1].expand_as(y) + y,
             [(3, 4), (3, 4)], lambda x, y: x + x[:1] + y))
    add(Spec("neg_sign_log1p_expm1", lambda x: x.neg() * x.sign() + x.log1p() + x.expm1(), [(3, 4)],
             lambda x: -x * np.sign(x) + np.log1p(x) + np.expm1(x), "positive"))
    add(Spec("maximum_minimum_methods", lambda a, b: a.maximum(b) + a.minimum(b) * 2.0, [(3, 4), (4,)],
             lambda a, b: np.maximum(a, b) + np.minimum(a, b) * 2.0, "distinct", smooth=False))

    for desc in (False, True):
        add(Spec(f"sort[desc={desc}]", lambda x, d=desc: gk.sort(x, 1, descending=d), [(3, 4)],
                 lambda x, d=desc: np.flip(np.sort(x, 1), 1) if d else np.sort(x, 1), "distinct"))
    add(Spec("sort_axis0", lambda x: gk.sort(x, 0), [(3, 4)], lambda x: np.sort(x, 0), "distinct"))
    add(Spec("topk", lambda x: gk.topk(x, 2)[0], [(3, 4)], lambda x: np.flip(np.sort(x, -1), -1)[:, :2], "distinct"))
    add(Spec("topk_smallest_axis0", lambda x: x.topk(2, axis=0, largest=False)[0], [(3, 4)],
             lambda x: np.sort(x, 0)[:2], "distinct"))
    for ord_ in (2, 3, 0.5):
        add(Spec(f"norm[{ord_}]", lambda x, o=ord_: gk.norm(x, o), [(3, 4)],
                 lambda x, o=ord_: np.asarray(np.sum(np.abs(x) ** o) ** (1 / o), x.dtype), "away"))  # NumPy 1.x: f64
    add(Spec("norm_axis_keepdims", lambda x: gk.norm(x, 2, axis=1, keepdims=True), [(3, 4)],
             lambda x: np.linalg.norm(x, axis=1, keepdims=True)))
    add(Spec("norm_1_method", lambda x: x.norm(1, axis=0), [(3, 4)], lambda x: np.abs(x).sum(0), "away",
             smooth=False))
    add(Spec("norm_inf", lambda x: gk.norm(x, np.inf, axis=-1), [(3, 4)], lambda x: np.abs(x).max(-1), "distinct",
             smooth=False))

    # --------------------------------------------- NumPy's and PyTorch's rearrangements (this session)
    for reps in (2, (2, 1), (1, 3), (2, 1, 2), ()):
        add(Spec(f"tile[{reps}]", lambda x, r=reps: gk.tile(x, r), [(2, 3)], lambda x, r=reps: np.tile(x, r)))
    add(Spec("tile_0d", lambda x: gk.tile(x, (2, 3)), [()], lambda x: np.tile(x, (2, 3))))
    add(Spec("tile_method_ints", lambda x: x.tile(2, 1, 2), [(2, 3)], lambda x: np.tile(x, (2, 1, 2))))
    add(Spec("tile_method_tuple", lambda x: x.tile((3, 1)), [(2, 3)], lambda x: np.tile(x, (3, 1))))
    for reps_, ax in ((2, None), (3, 0), (2, 1), (2, -1), ([1, 0, 2], 1), ([2, 1], 0), ([3, 1, 0, 2, 1, 1], None),
                      ([2], 1)):
        add(Spec(f"repeat[{reps_},{ax}]", lambda x, r=reps_, a=ax: gk.repeat(x, r, axis=a), [(2, 3)],
                 lambda x, r=reps_, a=ax: np.repeat(x, r, axis=a)))
    add(Spec("repeat_0d", lambda x: gk.repeat(x, 3), [()], lambda x: np.repeat(x, 3)))
    add(Spec("repeat_3d_axis1", lambda x: gk.repeat(x, 2, axis=1), [(2, 3, 2)], lambda x: np.repeat(x, 2, axis=1)))
    add(Spec("repeat_method", lambda x: x.repeat(2, axis=0), [(2, 3)], lambda x: x.repeat(2, axis=0)))
    add(Spec("repeat_method_counts", lambda x: x.repeat([2, 0, 1], 1), [(2, 3)], lambda x: x.repeat([2, 0, 1], 1)))
    add(Spec("repeat_interleave", lambda x: gk.repeat_interleave(x, 2, dim=0), [(2, 3)],
             lambda x: np.repeat(x, 2, axis=0)))
    add(Spec("repeat_interleave_method", lambda x: x.repeat_interleave(gk.tensor([1, 3, 0], device=x.device), 1),
             [(2, 3)], lambda x: np.repeat(x, [1, 3, 0], axis=1)))
    for shift, ax in ((1, None), (-2, None), (1, 0), (2, 1), (-1, -1), ((1, 2), (0, 1)), ((1, 1), (1, 1)), (5, 1),
                      (0, 0), ((1, -1), 1)):
        add(Spec(f"roll[{shift},{ax}]", lambda x, s=shift, a=ax: gk.roll(x, s, a), [(3, 4)],
                 lambda x, s=shift, a=ax: np.roll(x, s, a)))
    add(Spec("roll_0d", lambda x: gk.roll(x, 3), [()], lambda x: np.roll(x, 3)))
    add(Spec("roll_method", lambda x: x.roll(1, 2), [(2, 3, 4)], lambda x: np.roll(x, 1, 2)))
    for k in (0, 1, -1, 3):
        add(Spec(f"diag_vector[{k}]", lambda x, k=k: gk.diag(x, k), [(3,)], lambda x, k=k: np.diag(x, k)))
        add(Spec(f"diag_matrix[{k}]", lambda x, k=k: gk.diag(x, k), [(3, 4)], lambda x, k=k: np.diag(x, k)))
    add(Spec("diag_method", lambda x: x.diag(1), [(4, 3)], lambda x: np.diag(x, 1)))
    add(Spec("diag_roundtrip", lambda x: gk.diag(gk.diag(x)), [(3, 3)], lambda x: np.diag(np.diag(x))))
    for args in ((), (1,), (-1,), (0, 1, 2), (1, 2, 0), (-1, -1, 0), (2, 0, 2), (5, 0, 1)):
        add(Spec(f"diagonal[{args}]", lambda x, a=args: gk.diagonal(x, *a), [(3, 4, 5)],
                 lambda x, a=args: np.diagonal(x, *a)))
    add(Spec("diagonal_matrix", lambda x: gk.diagonal(x, -1), [(4, 3)], lambda x: np.diagonal(x, -1)))
    add(Spec("diagonal_method", lambda x: x.diagonal(0, -2, -1), [(2, 3, 3)], lambda x: np.diagonal(x, 0, -2, -1)))
    for n, ax in ((1, -1), (2, -1), (1, 0), (3, 1), (4, 1), (5, 1), (0, 0)):
        add(Spec(f"diff[{n},{ax}]", lambda x, n=n, a=ax: gk.diff(x, n, a) * 1.0, [(3, 4)],
                 lambda x, n=n, a=ax: np.diff(x, n, a) * 1.0))
    add(Spec("diff_1d", gk.diff, [(5,)], np.diff))
    add(Spec("diff_prepend_append", lambda x: gk.diff(x, prepend=0.5, append=x[:, :1] * 2.0), [(3, 4)],
             lambda x: np.diff(x, prepend=np.asarray(0.5, x.dtype), append=x[:, :1] * 2.0)))
    add(Spec("diff_prepend_tensor", lambda x, p: gk.diff(x, 2, axis=0, prepend=p), [(3, 4), (2, 4)],
             lambda x, p: np.diff(x, 2, axis=0, prepend=p)))
    add(Spec("diff_method", lambda x: x.diff(axis=0), [(3, 4)], lambda x: np.diff(x, axis=0)))
    for ax in (0, 1, -1, None):
        add(Spec(f"cumprod[{ax}]", lambda x, ax=ax: gk.cumprod(x, ax), [(3, 4)], lambda x, ax=ax: np.cumprod(x, ax)))
        add(Spec(f"cumprod_zeros[{ax}]", lambda x, ax=ax: gk.cumprod(x, ax), [(4, 5)],
                 lambda x, ax=ax: np.cumprod(x, ax), "zeros"))
    add(Spec("cumprod_0d", lambda x: gk.cumprod(x), [()], lambda x: np.cumprod(x)))
    add(Spec("cumprod_3d_method", lambda x: x.cumprod(1), [(2, 3, 4)], lambda x: np.cumprod(x, 1)))
    add(Spec("cumprod_positive_long", lambda x: gk.cumprod(x, 0), [(12,)], lambda x: np.cumprod(x, 0), "positive"))
    add(Spec("cumprod_with_zero_times", lambda x: gk.cumprod(x * gk.tensor(np.array([1.0, 0.0, 1.0, 1.0]),
             device=x.device), axis=1), [(2, 4)], lambda x: np.cumprod(x * np.array([1.0, 0.0, 1.0, 1.0]), axis=1)))
    for src, dst in ((0, -1), (-1, 0), ((0, 1), (-1, -2)), ([2, 0], [0, 1]), (1, 1)):
        add(Spec(f"moveaxis[{src},{dst}]", lambda x, s=src, d=dst: gk.moveaxis(x, s, d), [(2, 3, 4)],
                 lambda x, s=src, d=dst: np.moveaxis(x, s, d)))
    add(Spec("moveaxis_method", lambda x: x.moveaxis(0, 2), [(2, 3, 4)], lambda x: np.moveaxis(x, 0, 2)))
    for kw in (dict(), dict(indexing="ij"), dict(sparse=True), dict(indexing="ij", sparse=True), dict(copy=False)):
        add(Spec(f"meshgrid[{_kw(kw)}]", lambda a, b, c, kw=kw: gk.meshgrid(a, b, c, **kw), [(2,), (3,), (4,)],
                 lambda a, b, c, kw=kw: tuple(np.meshgrid(a, b, c, **kw))))
    add(Spec("meshgrid_two", lambda a, b: gk.meshgrid(a, b), [(2,), (3,)], lambda a, b: tuple(np.meshgrid(a, b))))
    add(Spec("meshgrid_one_flattened", lambda a: gk.meshgrid(a), [(2, 3)], lambda a: tuple(np.meshgrid(a))))
    add(Spec("meshgrid_same_tensor", lambda a: gk.meshgrid(a, a * 2.0, indexing="ij"), [(3,)],
             lambda a: tuple(np.meshgrid(a, a * 2.0, indexing="ij"))))
    for ch, dim in ((3, 0), (2, 1), (4, 1), (1, 0), (5, -1)):
        add(Spec(f"chunk[{ch},{dim}]", lambda x, c=ch, d=dim: gk.chunk(x, c, dim=d), [(5, 4)],
                 lambda x, c=ch, d=dim: tuple(np.array_split(x, range(-(-x.shape[d] // c), x.shape[d],
                                                                      -(-x.shape[d] // c)), axis=d))))
    add(Spec("chunk_method", lambda x: x.chunk(2), [(5, 4)], lambda x: (x[:3], x[3:])))
    for dim in (0, 1, -1):
        add(Spec(f"unbind[{dim}]", lambda x, d=dim: gk.unbind(x, d), [(3, 4)],
                 lambda x, d=dim: tuple(np.moveaxis(x, d, 0))))
    add(Spec("unbind_method", lambda x: x.unbind(1), [(2, 3, 2)], lambda x: tuple(np.moveaxis(x, 1, 0))))
    for dim, idx in ((0, [2, 0, 2]), (1, [3, 1]), (-1, np.array([0, 0, 3, 1])), (1, np.array(2)), (0, [])):
        add(Spec(f"index_select[{dim},{np.asarray(idx).tolist()}]", lambda x, d=dim, i=idx: gk.index_select(x, d, i),
                 [(3, 4)], lambda x, d=dim, i=idx: np.take(x, np.asarray(i, dtype=np.int64).reshape(-1), axis=d)))
    add(Spec("index_select_method_tensor", lambda x: x.index_select(1, gk.tensor([1, 1, 0], device=x.device)),
             [(2, 3, 4)], lambda x: x[:, [1, 1, 0]]))
    add(Spec("masked_fill", lambda x: gk.masked_fill(x, gk.tensor(MASK, device=x.device), 0.5), [(3, 4)],
             lambda x: np.where(MASK, 0.5, x)))
    add(Spec("masked_fill_broadcast_mask", lambda x: gk.masked_fill(x, MASK[0], -2.0), [(3, 4)],
             lambda x: np.where(MASK[0], -2.0, x)))
    add(Spec("masked_fill_mask_broadcasts_x", lambda x: gk.masked_fill(x, MASK, 1.0), [(4,)],
             lambda x: np.where(MASK, 1.0, x)))
    add(Spec("masked_fill_tensor_value", lambda x, v: x.masked_fill(gk.tensor(MASK, device=x.device), v * 3.0),
             [(3, 4), ()], lambda x, v: np.where(MASK, v * 3.0, x)))
    add(Spec("masked_fill_from_comparison", lambda x: x.masked_fill(x > 0.3, 0.0) * 2.0, [(3, 4)],
             lambda x: np.where(x > 0.3, 0.0, x) * 2.0, "away"))
    for name, ref in (("atleast_1d", np.atleast_1d), ("atleast_2d", np.atleast_2d), ("atleast_3d", np.atleast_3d)):
        for shape in ((), (3,), (2, 3)):
            add(Spec(f"{name}{shape}", lambda x, n=name: getattr(gk, n)(x) * 1.0, [shape],
                     lambda x, r=ref: r(x) * 1.0))
        add(Spec(f"{name}_several", lambda a, b, n=name: getattr(gk, n)(a, b), [(), (3,)],
                 lambda a, b, r=ref: tuple(r(a, b))))

    # ------------------------------------- NumPy's statistics and more elementwise maths (this session)
    for name in ("nansum", "nanmean", "median", "ptp", "amax", "amin"):
        dom = "real" if name.startswith("nan") else "distinct"
        methods = name != "ptp"  # NumPy 2's ndarray has no ptp method, nor has PyTorch's Tensor
        for kw in REDUCTION_AXES:
            ref = getattr(np, name)
            add(Spec(f"{name}[{_kw(kw)}]", lambda x, name=name, kw=kw: getattr(gk, name)(x, **kw), [(2, 3, 4)],
                     lambda x, ref=ref, kw=kw: ref(x, **kw), dom))
            if methods:
                add(Spec(f"{name}_method[{_kw(kw)}]", lambda x, name=name, kw=kw: getattr(x, name)(**kw),
                         [(2, 3, 4)], lambda x, ref=ref, kw=kw: ref(x, **kw), dom))
            if name.startswith("nan"):
                add(Spec(f"{name}_nans[{_kw(kw)}]", lambda x, name=name, kw=kw: getattr(gk, name)(x, **kw),
                         [(2, 3, 4)], lambda x, ref=ref, kw=kw: ref(x, **kw), "nans"))
        add(Spec(f"{name}_0d", getattr(gk, name), [()], getattr(np, name), dom))
        add(Spec(f"{name}_1d", getattr(gk, name), [(5,)], getattr(np, name), dom))
    add(Spec("median_even_1d", gk.median, [(6,)], np.median, "distinct"))
    add(Spec("nansum_nans_1d", gk.nansum, [(7,)], np.nansum, "nans"))
    add(Spec("nanmean_nans_1d", gk.nanmean, [(7,)], np.nanmean, "nans"))
    for fn, qs in ((gk.quantile, (0.3, [0.0, 0.25, 0.5, 0.9, 1.0], 1, [0, 1])),
                   (gk.percentile, (37.5, [0.0, 10, 50, 99.5, 100], 100))):
        name, ref = fn.__name__, _np_quantile(getattr(np, fn.__name__))
        for q in qs:
            for kw in REDUCTION_AXES:
                add(Spec(f"{name}[q={q},{_kw(kw)}]", lambda x, fn=fn, q=q, kw=kw: fn(x, q, **kw), [(2, 3, 4)],
                         lambda x, ref=ref, q=q, kw=kw: ref(x, q, **kw), "distinct"))
        add(Spec(f"{name}_0d", lambda x, fn=fn, q=qs[0]: fn(x, q), [()], lambda x, ref=ref, q=qs[0]: ref(x, q)))
        add(Spec(f"{name}_keyword_q", lambda x, fn=fn, q=qs[1]: fn(x, q=q, axis=1, keepdims=True, method="linear"),
                 [(3, 4)], lambda x, ref=ref, q=qs[1]: ref(x, q, axis=1, keepdims=True), "distinct"))
    for dtype in (np.float64, np.float32):  # q as a tensor on x's device: promotes with x, as a NumPy array q
        q = np.array([0.2, 0.75, 0.5], dtype=dtype)
        add(Spec(f"quantile_tensor_q[{np.dtype(dtype)}]",
                 lambda x, q=q: gk.quantile(x, gk.tensor(q, device=x.device), axis=1), [(3, 5)],
                 lambda x, q=q: _np_quantile(np.quantile)(x, q, axis=1), "distinct"))
        add(Spec(f"percentile_tensor_q[{np.dtype(dtype)}]",
                 lambda x, q=q: gk.percentile(x, gk.tensor(q * 100, device=x.device)), [(3, 5)],
                 lambda x, q=q: _np_quantile(np.percentile)(x, q * 100), "distinct"))
    add(Spec("quantile_method", lambda x: x.quantile(0.4, axis=-1, keepdims=True), [(3, 4)],
             lambda x: _np_quantile(np.quantile)(x, 0.4, axis=-1, keepdims=True), "distinct"))
    add(Spec("quantile_of_two_values", lambda x: gk.quantile(x, [0.1, 0.5, 0.6]), [(2,)],
             lambda x: np.quantile(x, [0.1, 0.5, 0.6]), "distinct"))
    add(Spec("quantile_of_one_value", lambda x: gk.quantile(x, [0.1, 1.0], axis=0), [(1, 3)],
             lambda x: np.quantile(x, [0.1, 1.0], axis=0)))
    # nanmedian, nanquantile, nanpercentile: the order statistics of the values that are not NaN
    for kw in REDUCTION_AXES:
        add(Spec(f"nanmedian[{_kw(kw)}]", lambda x, kw=kw: gk.nanmedian(x, **kw), [(2, 3, 4)],
                 lambda x, kw=kw: np.nanmedian(x, **kw), "nans_distinct"))
        add(Spec(f"nanmedian_method[{_kw(kw)}]", lambda x, kw=kw: x.nanmedian(**kw), [(2, 3, 4)],
                 lambda x, kw=kw: np.nanmedian(x, **kw), "nans_distinct"))
        add(Spec(f"nanmedian_no_nans[{_kw(kw)}]", lambda x, kw=kw: gk.nanmedian(x, **kw), [(2, 3, 4)],
                 lambda x, kw=kw: np.nanmedian(x, **kw), "distinct"))
    add(Spec("nanmedian_0d", gk.nanmedian, [()], np.nanmedian, "distinct"))
    add(Spec("nanmedian_odd_1d", gk.nanmedian, [(6,)], np.nanmedian, "nans_distinct"))  # 5 values
    add(Spec("nanmedian_even_1d", gk.nanmedian, [(7,)], np.nanmedian, "nans_distinct"))  # 6 values
    for fn, qs in ((gk.nanquantile, (0.3, [0.0, 0.25, 0.5, 0.9, 1.0], 1, [0, 1])),
                   (gk.nanpercentile, (37.5, [0.0, 10, 50, 99.5, 100], 100))):
        name, ref = fn.__name__, _np_quantile(getattr(np, fn.__name__))
        for q in qs:
            for kw in REDUCTION_AXES:
                add(Spec(f"{name}[q={q},{_kw(kw)}]", lambda x, fn=fn, q=q, kw=kw: fn(x, q, **kw), [(2, 3, 4)],
                         lambda x, ref=ref, q=q, kw=kw: ref(x, q, **kw), "nans_distinct"))
        add(Spec(f"{name}_0d", lambda x, fn=fn, q=qs[0]: fn(x, q), [()], lambda x, ref=ref, q=qs[0]: ref(x, q)))
        add(Spec(f"{name}_keyword_q", lambda x, fn=fn, q=qs[1]: fn(x, q=q, axis=1, keepdims=True, method="linear"),
                 [(3, 4)], lambda x, ref=ref, q=qs[1]: ref(x, q, axis=1, keepdims=True), "nans_distinct"))
    for dtype in (np.float64, np.float32):  # q as a tensor on x's device: promotes with x, as a NumPy array q
        q = np.array([0.2, 0.75, 0.5], dtype=dtype)
        add(Spec(f"nanquantile_tensor_q[{np.dtype(dtype)}]",
                 lambda x, q=q: gk.nanquantile(x, gk.tensor(q, device=x.device), axis=1), [(3, 5)],
                 lambda x, q=q: _np_quantile(np.nanquantile)(x, q, axis=1), "nans_distinct"))
        add(Spec(f"nanpercentile_tensor_q[{np.dtype(dtype)}]",
                 lambda x, q=q: gk.nanpercentile(x, gk.tensor(q * 100, device=x.device)), [(3, 5)],
                 lambda x, q=q: _np_quantile(np.nanpercentile)(x, q * 100), "nans_distinct"))
    add(Spec("nanquantile_method", lambda x: x.nanquantile([0.4, 0.9], axis=-1, keepdims=True), [(3, 4)],
             lambda x: _np_quantile(np.nanquantile)(x, [0.4, 0.9], axis=-1, keepdims=True), "nans_distinct"))
    for kw in REDUCTION_AXES:
        add(Spec(f"average[{_kw(kw)}]", lambda x, kw=kw: gk.average(x, **kw), [(2, 3, 4)],
                 lambda x, kw=kw: np.average(x, **kw)))
        add(Spec(f"average_weights[{_kw(kw)}]", lambda x, w, kw=kw: gk.average(x, weights=w, **kw),
                 [(2, 3, 4), (2, 3, 4)], lambda x, w, kw=kw: np.average(x, weights=w, **kw), ["real", "positive"]))
    add(Spec("average_weights_along_axis", lambda x, w: gk.average(x, 1, w), [(2, 3, 4), (3,)],
             lambda x, w: np.average(x, 1, w), ["real", "positive"]))
    # NumPy 2's rule (NumPy 1.x took only 1-d weights along one axis): the weights' axes in the order given
    add(Spec("average_weights_along_axes", lambda x, w: gk.average(x, (2, 0), w, keepdims=True), [(2, 3, 4), (4, 2)],
             lambda x, w: np.average(x, (2, 0), np.broadcast_to(w.T[:, None, :], x.shape), keepdims=True),
             ["real", "positive"]))
    add(Spec("average_weights_negative_axis", lambda x, w: gk.average(x, axis=-1, weights=w), [(3, 4), (4,)],
             lambda x, w: np.average(x, axis=-1, weights=w), ["real", "positive"]))
    add(Spec("average_returned", lambda x, w: gk.average(x, 0, w, returned=True), [(3, 4), (3,)],
             lambda x, w: np.average(x, 0, w, returned=True), ["real", "positive"]))
    add(Spec("average_returned_same_shape", lambda x, w: gk.average(x, 1, w, returned=True), [(3, 4), (3, 4)],
             lambda x, w: np.average(x, 1, w, returned=True), ["real", "positive"]))
    add(Spec("average_weights_constant", lambda x: gk.average(x, axis=1, weights=np.array([1.0, 2.0, 0.5, 3.0])),
             [(3, 4)], lambda x: np.average(x, axis=1, weights=np.array([1.0, 2.0, 0.5, 3.0]))))
    add(Spec("sinc_near_0", lambda x: gk.sinc(x * 0.08), [(4, 5)], lambda x: np.sinc(x * 0.08)))
    add(Spec("sinc_zeros", gk.sinc, [(4, 5)], np.sinc, "zeros"))
    add(Spec("sinc_wide", lambda x: gk.sinc(x * 3.0), [(3, 4)], lambda x: np.sinc(x * 3.0)))
    for name in ("logaddexp", "logaddexp2"):
        g, n = same(name)
        add(Spec(f"{name}_large", lambda a, b, g=g: g(a * 800.0, b * 800.0), [(3, 4), (4,)],
                 lambda a, b, n=n: n(a * 800.0, b * 800.0)))
        add(Spec(f"{name}_scalar_right", lambda a, g=g: g(a, 0.5), [(2, 3)], lambda a, n=n: n(a, 0.5)))
        add(Spec(f"{name}_scalar_left", lambda a, g=g: g(-1.5, a), [(2, 3)], lambda a, n=n: n(-1.5, a)))
        add(Spec(f"{name}_same_tensor", lambda a, g=g: g(a, a), [(2, 3)], lambda a, n=n: n(a, a)))
        add(Spec(f"method_{name}", lambda a, b, name=name: getattr(a, name)(b), [(3, 4), (3, 1)], n))
    add(Spec("fmod_signs", gk.fmod, [(3, 4), (3, 4)], np.fmod, "away"))
    add(Spec("fmod_scalar_right", lambda a: gk.fmod(a * 3.0, -0.7), [(2, 3)], lambda a: np.fmod(a * 3.0, -0.7)))
    add(Spec("fmod_scalar_left", lambda b: gk.fmod(2.5, b), [(2, 3)], lambda b: np.fmod(2.5, b), "away"))
    add(Spec("copysign_scalar_right", lambda a: gk.copysign(a, -1.0), [(2, 3)], lambda a: np.copysign(a, -1.0), "away"))
    add(Spec("copysign_scalar_left", lambda b: gk.copysign(2.0, b), [(2, 3)], lambda b: np.copysign(2.0, b), "away"))
    for name, args in (("fmod", 1), ("copysign", 1), ("sinc", 0), ("deg2rad", 0), ("rad2deg", 0)):
        shapes = [(3, 4), (4,)] if args else [(2, 3)]
        add(Spec(f"method_{name}", lambda *xs, name=name: getattr(xs[0], name)(*xs[1:]), shapes, getattr(np, name),
                 "away"))

    # ------------------------------------------------------------ composites
    add(Spec("mlp", lambda x, w, b: gk.tanh(x @ w + b).sum(axis=1), [(3, 4), (4, 5), (5,)],
             lambda x, w, b: np.tanh(x @ w + b).sum(axis=1)))
    add(Spec("layernorm_like", lambda x: (x - x.mean(-1, keepdims=True)) / gk.sqrt(x.var(-1, keepdims=True) + 1e-5),
             [(3, 4)], lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)))
    add(Spec("cross_entropy_like", lambda x: -gk.log_softmax(x)[np.arange(3), np.array([0, 3, 1])].mean(),
             [(3, 4)], lambda x: -np.log(_np_softmax(x))[np.arange(3), np.array([0, 3, 1])].mean()))
    add(Spec("reuse_many_times", lambda x: x * x * x + gk.exp(x) * x - x / (x * x + 1.0), [(2, 3)],
             lambda x: x * x * x + np.exp(x) * x - x / (x * x + 1.0)))
    return specs


def _add_special_functions(add: Callable[[Spec], None]) -> None:
    """erfc, erfinv, lgamma, digamma (domains away from their poles, on both sides of 0), xlogy, and gk.special's
    functions (zeta, gammainc and gammaincc in their second argument only: none has a slope in the first)."""
    sp = gk.special
    # (id, function, reference, domain, scale, shift): the function of x * scale + shift
    rows = [
        ("erfc", gk.erfc, _np_erfc, "real", 1.0, 0.0),
        ("erfc_wide", gk.erfc, _np_erfc, "real", 3.0, 0.0),  # out to erfc(7) ~ 4e-23: the continued fraction
        ("erfinv", gk.erfinv, _np_erfinv, "inside", 1.0, 0.0),
        ("erfinv_near_1", gk.erfinv, _np_erfinv, "inside", 1.1, 0.0),  # |x| up to 0.99
        ("lgamma", gk.lgamma, _np_lgamma, "positive", 1.0, 0.0),  # its zeros at 1 and 2
        ("lgamma_wide", gk.lgamma, _np_lgamma, "positive", 8.0, 0.0),  # [4, 16]: the recurrence and Stirling's
        ("lgamma_negative", gk.lgamma, _np_lgamma, "inside", 0.4, -0.5),  # (-0.86, -0.14), between two poles
        ("gammaln", gk.gammaln, _np_lgamma, "positive", 1.0, 0.0),
        ("digamma", gk.digamma, _np_digamma, "positive", 1.0, 0.0),  # its zero at 1.46
        ("digamma_wide", gk.digamma, _np_digamma, "positive", 8.0, 0.0),
        ("digamma_negative", gk.digamma, _np_digamma, "inside", 0.4, -1.5),  # (-1.86, -1.14)
        ("ndtr", sp.ndtr, _np_ndtr, "real", 2.0, 0.0),
        ("log_ndtr", sp.log_ndtr, _np_log_ndtr, "real", 3.0, 0.0),  # down to about -9: the erfcx form
        ("ndtri", sp.ndtri, _np_ndtri, "inside", 0.5, 0.5),  # (0.05, 0.95)
        ("erfcx", sp.erfcx, _np_erfcx, "real", 2.0, 0.0),
        ("i0", sp.i0, _np_i0, "real", 2.0, 0.0),
        ("i0e", sp.i0e, _np_i0e, "away", 2.0, 0.0),  # (a kink at 0)
        ("i1", sp.i1, _np_i1, "real", 2.0, 0.0),
        ("i1e", sp.i1e, _np_i1e, "real", 2.0, 0.0),
        ("logit", sp.logit, _np_logit, "inside", 0.5, 0.5),
        ("entr", sp.entr, _np_entr, "positive", 1.0, 0.0),
        ("polygamma1", lambda x: gk.polygamma(1, x), _np_trigamma, "positive", 4.0, 0.0),
        ("multigammaln2", lambda x: sp.multigammaln(x, 2), _np_multigammaln2, "positive", 2.0, 0.0),
        ("zeta_q", lambda q: sp.zeta(3.0, q), _np_zeta3, "positive", 1.0, 0.0),
        ("gammainc_x", lambda x: sp.gammainc(2.5, x), _np_gammainc, "positive", 2.0, 0.0),
        ("gammaincc_x", lambda x: sp.gammaincc(2.5, x), _np_gammaincc, "positive", 2.0, 0.0),
    ]
    for name, g, ref, domain, scale, shift in rows:
        add(Spec(name, lambda x, g=g, a=scale, b=shift: g(x * a + b), [(3, 4)],
                 lambda x, ref=ref, a=scale, b=shift: ref(x * a + b), domain))
    add(Spec("erfc_0d", gk.erfc, [()], _np_erfc))
    add(Spec("lgamma_0d", gk.lgamma, [()], _np_lgamma, "positive"))
    for sa, sb in BROADCAST_SHAPES:
        add(Spec(f"xlogy{sa}{sb}", gk.xlogy, [sa, sb], _np_xlogy, ["real", "positive"]))
    # exact zeros in x: the value is 0 there and the slopes log(y) and 0, the derivatives of x log(y)
    add(Spec("xlogy_zeros", gk.xlogy, [(3, 4), (3, 4)], _np_xlogy, ["zeros", "positive"]))
    add(Spec("xlogy_scalar_left", lambda y: gk.xlogy(2.5, y), [(2, 3)], lambda y: _np_xlogy(2.5, y), "positive"))
    add(Spec("xlogy_scalar_right", lambda x: gk.xlogy(x, 1.7), [(2, 3)], lambda x: _np_xlogy(x, 1.7)))
    add(Spec("method_xlogy", lambda x, y: x.xlogy(y), [(3, 4), (3, 1)], _np_xlogy, ["real", "positive"]))
    add(Spec("xlog1py(3,4)(4,)", sp.xlog1py, [(3, 4), (4,)], _np_xlog1py, ["real", "positive"]))
    add(Spec("xlog1py_zeros", sp.xlog1py, [(3, 4), (3, 4)], _np_xlog1py, ["zeros", "positive"]))


# Index forms of API.md, each as (id, index) for a (3, 4, 5) tensor.
INDEXES: list[tuple[str, Any]] = [
    ("int", 1),
    ("neg_int", -1),
    ("int_int", (2, 3)),
    ("int_neg_int_int", (0, -2, 4)),
    ("np_int", np.int64(2)),
    ("slice", slice(1, 3)),
    ("slice_step", (slice(None), slice(None, None, 2))),
    ("slice_neg_step", (slice(None, None, -1), slice(3, 0, -2))),
    ("slice_neg_bounds", (slice(-2, None), slice(None, -1))),
    ("empty_slice", slice(2, 1)),
    ("none", None),
    ("none_middle", (slice(None), None, 1)),
    ("ellipsis", (Ellipsis, 1)),
    ("ellipsis_none", (0, Ellipsis, None)),
    ("ellipsis_only", Ellipsis),
    ("int_array", np.array([2, 0, 2])),
    ("int_list", [0, 2, 2, 1]),
    ("neg_int_array", np.array([-1, -3])),
    ("int_array_2d", np.array([[0, 1], [1, 1]])),
    ("int_array_axis1", (slice(None), np.array([3, 0, 3]))),
    ("two_int_arrays", (np.array([0, 2, 2]), np.array([1, 3, 3]))),
    ("int_arrays_broadcast", (np.array([[0], [2]]), slice(None), np.array([1, 4, 4]))),
    ("array_then_int", (np.array([1, 0]), 2)),
    ("bool_mask_axis0", np.array([True, False, True])),
    ("bool_mask_2d", (np.arange(12).reshape(3, 4) % 3 == 0)),
    ("bool_mask_axis1", (slice(None), np.array([False, True, True, False]))),
    ("bool_mask_full", (np.arange(60).reshape(3, 4, 5) % 7 == 1)),
    ("bool_mask_ellipsis", (Ellipsis, np.array([True, False, False, True, True]))),
    ("mixed_slice_array_int", (slice(0, 2), np.array([1, 1, 3]), -1)),
]
