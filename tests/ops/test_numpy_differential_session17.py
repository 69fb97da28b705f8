"""Differential fuzzing of gradkit's array functions against NumPy (session 17).

A table-driven hypothesis harness. ``NAMES`` collects every callable that ``gradkit`` and ``numpy`` share a name
with; ``SPECS`` gives each one (but those in ``SKIPPED``, with the reason) a generator of calls: arrays of NumPy's
dtypes (complex64 included, which gradkit refuses: documented, "gradkit has no complex dtypes"), shapes with 0-d
and zero-size arrays, broadcastable pairs, Python and NumPy scalars (NEP 50), axis/keepdims variants, values with
NaN, infinities, -0.0 and integer extremes. ``differences(spec, call, device)`` calls NumPy and gradkit (tensors on
``device``) with the same arguments and compares the value (NaN-aware, a tolerance by dtype), dtype, shape, the
result's device, and the errors: gradkit must raise a ``gk.GradkitError`` where NumPy raises, and the two may
differ in what raises only as ``TOLERATED`` lists (each with its reason). Documented differences in values are
compared through NumPy wrappers that say them (``np_fn``: reciprocal's and i0's floats, nanquantile's dtype, a
stable argsort, unique_values sorted, ...).

Hypothesis draws one seed per example (derandomized, a bounded number per function); the seed drives a NumPy
generator that builds the call, which keeps an example a few milliseconds. Run this file as a script to fuzz
harder: ``python tests/ops/test_numpy_differential_session17.py [N] [names...]`` prints every difference found in
N examples per function, grouped (with ``GRADKIT_TEST_EMULATED_CUPY=1 GRADKIT_BACKEND=cupy`` on the emulated GPU).
"""

from __future__ import annotations

import copy
import math
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[dev]')")
if np.lib.NumpyVersion(np.__version__) < "2.0.0":
    pytest.skip("the reference is NumPy 2's behaviour (NEP 50 promotion, its function set), which gradkit follows "
                "on every NumPy; NumPy 1.x differs by design", allow_module_level=True)

if __name__ == "__main__" and os.environ.get("GRADKIT_TEST_EMULATED_CUPY"):  # pragma: no cover - script use
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import emulated_cupy

    emulated_cupy.install()

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import gradkit as gk  # noqa: E402

# ----------------------------------------------------------------------------------------------------------------
# dtypes and values

BOOL = ["bool"]
INTS = ["int8", "int32", "int64", "uint8"]
FLOATS = ["float16", "float32", "float64"]
COMPLEX = ["complex64"]
REAL = BOOL + INTS + FLOATS
ALL = REAL + COMPLEX
NUMERIC = INTS + FLOATS
INTEGRAL = BOOL + INTS

#: rtol, atol of a float result, by dtype (results of another formula get ``Spec.loose`` times rtol).
TOLERANCE = {
    "float16": (2e-3, 1e-4),
    "float32": (2e-6, 1e-30),
    "float64": (1e-13, 1e-300),
}


def _pool(dtype: str, specials: bool) -> np.ndarray:
    """The values an array of ``dtype`` is drawn from: small ones, and the edges (NaN, infinities, -0.0, extremes)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return np.array([False, True])
    if dt.kind in "iu":
        info = np.iinfo(dt)
        small = [v for v in range(-5, 6) if info.min <= v <= info.max]
        return np.array(small + ([int(info.min), int(info.max)] if specials else []), dtype=dt)
    plain = [0.0, 1.0, -1.0, 2.0, -3.0, 0.5, -0.5, 1e-3, 2.5, -2.5, 4.0, 0.75, 7.25, -6.0, 0.1]
    special = [math.nan, math.inf, -math.inf, -0.0, 1e4, -1e4]
    with np.errstate(all="ignore"):
        return np.array(plain + (special if specials else []), dtype=dt)


class Draw:
    """Draws call arguments from one seed (a NumPy generator)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def int(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, seq: Any) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def coin(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    def shape(self, min_dims: int = 0, max_dims: int = 3, max_side: int = 3, min_side: int = 0) -> tuple:
        shape = tuple(self.int(min_side, max_side) for _ in range(self.int(min_dims, max_dims)))
        if 0 in shape and self.coin(0.7):  # zero-size arrays now and then, not every other time
            shape = tuple(max(s, 1) for s in shape)
        return shape

    def array(self, dtypes: list[str] = ALL, shape: tuple | None = None, specials: bool | None = None,
              **shape_kw: Any) -> np.ndarray:
        dtype = self.pick(dtypes)
        if shape is None:
            shape = self.shape(**shape_kw)
        pool = _pool(dtype, self.coin(0.7) if specials is None else specials)
        with np.errstate(all="ignore"):
            values = pool[self.rng.integers(0, len(pool), size=shape)]
            if np.dtype(dtype).kind == "c":
                values = values + 1j * pool[self.rng.integers(0, len(pool), size=shape)]
        return np.asarray(values, dtype=dtype)

    def broadcastable(self, n: int = 2, **shape_kw: Any) -> list[tuple]:
        """n shapes that broadcast together (leading axes dropped, some axes 1)."""
        result = self.shape(**shape_kw)
        shapes = []
        for _ in range(n):
            s = result[self.int(0, len(result)):]
            shapes.append(tuple(1 if self.coin(0.25) else d for d in s))
        return shapes

    def sub_shape(self, shape: tuple) -> tuple:
        """A shape that broadcasts to ``shape`` (now and then one that does not)."""
        if self.coin(0.05):
            return (self.int(2, 4),)
        s = shape[self.int(0, len(shape)):]
        return tuple(1 if self.coin(0.25) else n for n in s)

    def axis(self, ndim: int, tuples: bool = True, none: bool = True, bad: bool = True) -> Any:
        """None, an int in [-ndim, ndim), a tuple of distinct axes, or (now and then) one out of range."""
        kinds = (["int"] * 3 if ndim else []) + (["none"] if none else []) + (["tuple"] if tuples else [])
        if bad:
            kinds.append("bad")
        if not kinds:
            return 0
        kind = self.pick(kinds)
        if kind == "none":
            return None
        if kind == "int":
            return self.int(-ndim, ndim - 1)
        if kind == "bad":
            return self.pick([ndim, -ndim - 1, (0, 0) if ndim else (0,)] if tuples else [ndim, -ndim - 1])
        axes = [int(a) for a in self.rng.permutation(ndim)[: self.int(0, ndim)]]
        return tuple(a - ndim if self.coin() else a for a in axes)

    def scalar(self, kinds: tuple = ("int", "float", "bool", "np")) -> Any:
        kind = self.pick(kinds)
        if kind == "int":
            return self.pick([0, 1, 2, -3, 7, 300, -129])
        if kind == "float":
            return self.pick([0.0, 1.5, -2.0, 0.25, math.nan, math.inf, 1e10])
        if kind == "bool":
            return self.coin()
        return self.pick([np.float32(1.5), np.int8(3), np.float64(-2.0), np.int64(5), np.bool_(True), np.uint8(200),
                          np.float16(0.5)])


# ----------------------------------------------------------------------------------------------------------------
# calls and the comparison


def _show(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"np.array({v.tolist()!r}, dtype={v.dtype.name})"
    if isinstance(v, (list, tuple)) and any(isinstance(i, (np.ndarray, list, tuple)) for i in v):
        inner = ", ".join(_show(i) for i in v)
        return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
    if isinstance(v, np.generic):
        return f"np.{type(v).__name__}({v!r})"
    return repr(v)


@dataclass
class Call:
    """Positional and keyword arguments. For gradkit, NumPy arrays become tensors on the device (in lists and
    tuples too), but for the positions in ``raw``; the rest is passed to both as is."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    raw: tuple = ()

    def __repr__(self) -> str:
        parts = [_show(a) for a in self.args] + [f"{k}={_show(v)}" for k, v in self.kwargs.items()]
        return "(" + ", ".join(parts) + ")"


def to_gk(v: Any, device: str) -> Any:
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "c":
            return v  # no complex tensors: the NumPy array itself goes in (gradkit must refuse it)
        return gk.asarray(v.copy(), device=device)
    if isinstance(v, list):
        return [to_gk(i, device) for i in v]
    if isinstance(v, tuple) and any(isinstance(i, (np.ndarray, list, tuple)) for i in v):
        return tuple(to_gk(i, device) for i in v)
    return v


def _has_array(v: Any) -> bool:
    if isinstance(v, np.ndarray):
        return True
    return isinstance(v, (list, tuple)) and any(_has_array(i) for i in v)


def _has_complex(v: Any) -> bool:
    if isinstance(v, np.ndarray):
        return v.dtype.kind == "c"
    if isinstance(v, (list, tuple)):
        return any(_has_complex(i) for i in v)
    if isinstance(v, dict):
        return any(_has_complex(i) for i in v.values())
    return isinstance(v, (complex, np.complexfloating))


def _run(fn: Callable, args: tuple, kwargs: dict) -> tuple[Any, BaseException | None]:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs), None
        except Exception as exc:  # noqa: BLE001 - compared by the caller
            return None, exc


def _compare_arrays(expected: np.ndarray, got: np.ndarray, where: str, loose: float) -> list[str]:
    out = []
    if expected.dtype != got.dtype:
        out.append(f"{where}dtype {got.dtype} != NumPy's {expected.dtype}")
    if expected.shape != got.shape:
        return out + [f"{where}shape {got.shape} != NumPy's {expected.shape}"]
    if expected.dtype.kind in "biu" and got.dtype.kind in "biu":
        if not np.array_equal(expected.astype(object), got.astype(object)):
            out.append(f"{where}values {got.tolist()} != NumPy's {expected.tolist()}")
        return out
    if expected.dtype.kind not in "biuf" or got.dtype.kind not in "biuf":
        if not np.array_equal(expected, got):
            out.append(f"{where}values {got.tolist()} != NumPy's {expected.tolist()}")
        return out
    dtype = str(expected.dtype) if expected.dtype.kind == "f" else str(got.dtype)
    rtol, atol = TOLERANCE.get(dtype, (1e-13, 1e-300))
    rtol *= loose
    with np.errstate(all="ignore"):
        e, g = expected.astype(np.float64), got.astype(np.float64)
        finite = np.isfinite(e) & np.isfinite(g)
        same = (e == g) | (np.isnan(e) & np.isnan(g))
        ok = np.where(finite, np.abs(e - g) <= atol + rtol * np.abs(e), same)
    if not ok.all():
        bad = np.argwhere(~ok)[:3].tolist()
        out.append(f"{where}values {got.tolist()} != NumPy's {expected.tolist()} (at {bad})")
    return out


def compare(expected: Any, got: Any, where: str = "", device: str | None = None, loose: float = 1.0) -> list[str]:
    """Differences between NumPy's result and gradkit's (empty when they agree)."""
    if isinstance(got, gk.Tensor) and device is not None and not got.device.startswith(device):
        return [f"{where}result on {got.device}, the inputs on {device}"]
    if isinstance(expected, (np.ndarray, np.generic)) and not isinstance(expected, np.dtype):
        if isinstance(got, gk.Tensor):
            got = got.numpy()
        elif not isinstance(got, (np.ndarray, np.generic)):
            return [f"{where}got {type(got).__name__} {got!r}, NumPy gives {type(expected).__name__} {expected!r}"]
        return _compare_arrays(np.asarray(expected), np.asarray(got), where, loose)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            n = len(got) if isinstance(got, (tuple, list)) else "-"
            return [f"{where}got {type(got).__name__} of {n}, NumPy gives {type(expected).__name__} of "
                    f"{len(expected)}"]
        out = []
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            out += compare(e, g, f"{where}[{i}] ", device, loose)
        return out
    if isinstance(expected, (bool, int, float, str, type, np.dtype)):
        if isinstance(got, gk.Tensor) or type(got) is not type(expected):
            return [f"{where}got {type(got).__name__} {got!r}, NumPy gives {type(expected).__name__} {expected!r}"]
        if expected != got and not (isinstance(expected, float) and math.isnan(expected) and math.isnan(got)):
            return [f"{where}got {got!r}, NumPy gives {expected!r}"]
        return []
    if expected != got:
        return [f"{where}got {got!r}, NumPy gives {expected!r}"]
    return []


@dataclass
class Spec:
    """How to call one function: ``calls(draw)`` makes a Call; ``np_fn``/``gk_fn`` default to the function of
    that name (wrappers compare what is comparable, e.g. a partition's multiset)."""

    calls: Callable[[Draw], Call]
    np_fn: Callable | None = None
    gk_fn: Callable | None = None
    loose: float = 1.0
    creation: bool = False  # no array arguments: gradkit's call gets device=


def _first_array(call: Call) -> np.ndarray | None:
    return next((a for a in call.args if isinstance(a, np.ndarray)), None)


def _zero_d_axis(name: str, call: Call) -> bool:
    x = call.args[0] if call.args else None
    axis = call.kwargs.get("axis", call.args[1] if name in ("flip", "squeeze") and len(call.args) > 1 else None)
    return isinstance(x, np.ndarray) and x.ndim == 0 and axis in (0, -1, (0,), (-1,))


def _zero_d_as_1d(name: str, call: Call) -> bool:
    x = call.args[1] if name == "compress" else call.args[0]
    return (name in ("argsort", "take", "compress", "packbits", "unpackbits") and isinstance(x, np.ndarray)
            and x.ndim == 0 and call.kwargs.get("axis", -1 if name == "argsort" else None) is not None)


def _bool_rounding(name: str, call: Call) -> bool:
    x = call.args[0]
    return name in ("floor", "ceil", "trunc", "fix", "round", "around") and (
        isinstance(x, bool) or isinstance(x, np.ndarray) and x.dtype == np.bool_)


def _clip_bounds(name: str, call: Call) -> bool:
    if name != "clip":
        return False
    x, lo, hi = call.args
    if lo is None and hi is None:
        return True
    result = np.result_type(*(v for v in (x, lo, hi) if v is not None))
    if result.kind not in "iu":
        return False
    info = np.iinfo(result)
    return any(type(v) is int and not info.min <= v <= info.max for v in (lo, hi))


#: Differences in what raises that are intended: (test of the name and Call, who raises: "numpy", "gradkit", or
#: "numpy, on a GPU" (gradkit's check is on the CPU only), the reason).
TOLERATED: list[tuple[Callable[[str, Call], bool], str, str]] = [
    (lambda name, call: name in ("median", "nanmedian", "quantile", "nanquantile", "percentile", "nanpercentile")
     and call.kwargs.get("axis") == () and call.args[0].size == 0, "numpy",
     "NumPy's median/quantile over no axes (axis=()) of an empty array fail in a reshape (a NumPy bug)"),
    (lambda name, call: name == "average" and call.args[0].size == 0, "numpy",
     "NumPy's average divides a.size by the result's size: a ZeroDivisionError for an empty result"),
    (lambda name, call: name in ("average", "cov"), "numpy, on a GPU",
     "weights summing to 0 (and other weight checks) raise on the CPU only: on a GPU they are not read (documented)"),
    (_zero_d_axis, "numpy", "axis 0 or -1 (or (0,), (-1,)) of a 0-d tensor works as PyTorch's dim does "
                            "(ops/_util.normalize_axis); NumPy takes only some of them"),
    (_zero_d_as_1d, "gradkit", "NumPy's C functions with an axis (PyArray_CheckAxis) take a 0-d array for a 1-d one; "
                               "gradkit refuses the axis of a 0-d tensor there"),
    (lambda name, call: name in ("take", "compress") and call.args[name == "compress"].size == 0, "gradkit",
     "NumPy's take (and compress) check no index when the result is empty"),
    (lambda name, call: name == "gradient" and _first_array(call).dtype == np.bool_, "gradkit",
     "gradient refuses a bool f before it reads axis=() (NumPy's answer there is ())"),
    (lambda name, call: name == "diff" and call.args[1] == 0, "gradkit",
     "NumPy's diff with n=0 returns its input before checking the axis or the dimensions"),
    (_bool_rounding, "gradkit", "floor, ceil, trunc, fix and round refuse bools on purpose "
                                "(tests/test_tensor_numpy_methods.py; NumPy 2.0-2.2 give float16, 2.3+ bool)"),
    (lambda name, call: name in ("tril", "triu") and call.args[0].ndim < 2, "gradkit",
     "tril/triu need a matrix or a stack of them (PyTorch's rule); NumPy makes a 1-d array a square matrix"),
    (lambda name, call: name == "polymul" and any(a.size == 0 for a in call.args), "gradkit",
     "polymul refuses an empty polynomial (tests/ops/test_numpy_misc.py); NumPy's poly1d reads it as 0"),
    (lambda name, call: name == "i0" and not isinstance(call.args[0], np.ndarray), "gradkit",
     "i0 is gk.special's: like the other special functions it takes no Python number "
     "(tests/ops/test_special_bessel.py)"),
    (_clip_bounds, "gradkit", "clip refuses neither bound (PyTorch's clamp and NumPy 2.0's rule; NumPy 2.1+ copies) "
                              "and an int bound beyond an integer result's range (NumPy 2.0 raises; 2.1+ clips)"),
]


def differences(name: str, spec: Spec, call: Call, device: str, convert: bool = True) -> list[str]:
    """What differs between ``numpy.<name>(*call)`` and ``gradkit.<name>(*call)`` with tensors on ``device``
    (with ``convert=False`` gradkit gets the NumPy arrays themselves)."""
    np_fn = spec.np_fn or getattr(np, name)
    gk_fn = spec.gk_fn or getattr(gk, name)
    gk_args = tuple(a if i in call.raw or not convert else to_gk(a, device) for i, a in enumerate(call.args))
    gk_kwargs = {k: to_gk(v, device) if convert else v for k, v in call.kwargs.items()}
    if spec.creation:
        gk_kwargs["device"] = device
    expected, np_exc = _run(np_fn, copy.deepcopy(call.args), copy.deepcopy(call.kwargs))
    got, gk_exc = _run(gk_fn, gk_args, gk_kwargs)
    if gk_exc is not None and not isinstance(gk_exc, gk.GradkitError):
        return [f"raises {type(gk_exc).__name__}: {gk_exc} (NumPy: "
                f"{type(np_exc).__name__ + ': ' + str(np_exc) if np_exc else 'no error'})"]
    if np_exc is not None:
        whom = ("numpy", "numpy, on a GPU") if device != "cpu" else ("numpy",)
        if gk_exc is None and not any(who in whom and test(name, call) for test, who, _ in TOLERATED):
            return [f"NumPy raises {type(np_exc).__name__}: {np_exc}; gradkit returns {got!r}"]
        return []
    if gk_exc is not None:
        if _has_complex((call.args, call.kwargs)):
            return []  # documented: gradkit has no complex dtypes (a DTypeError, or an ArgumentTypeError for
            # two NumPy arrays given to a binary function: one must be a tensor)
        if any(who == "gradkit" and test(name, call) for test, who, _ in TOLERATED):
            return []
        return [f"gradkit raises {type(gk_exc).__name__}: {gk_exc}; NumPy returns {expected!r}"]
    # a result made from arrays must be on their device (one made from numbers only is on the default device)
    on_device = spec.creation or (convert and _has_array(call.args))
    return compare(expected, got, "", device if on_device else None, spec.loose)


# ----------------------------------------------------------------------------------------------------------------
# the table


def _ufunc_dtypes(f: np.ufunc) -> list[str]:
    """The dtypes a ufunc has loops for (its other dtypes are tried now and then: an error for both)."""
    chars = {t[0] for t in f.types}
    return [d for d in ALL if np.dtype(d).char in chars]


def unary(dtypes: list[str] = ALL, numbers: bool = True) -> Callable[[Draw], Call]:
    def calls(d: Draw) -> Call:
        if numbers and d.coin(0.1):
            return Call((d.scalar(("int", "float", "bool")),))
        return Call((d.array(dtypes if d.coin(0.85) else ALL),))

    return calls


def binary(dtypes: list[str] = ALL, numbers: bool = True) -> Callable[[Draw], Call]:
    def calls(d: Draw) -> Call:
        kind = d.pick(["aa", "aa", "aa", "as", "sa", "ss"] if numbers else ["aa"])
        sa, sb = d.broadcastable(2)
        types = dtypes if d.coin(0.85) else ALL
        a, b = d.array(types, sa), d.array(types, sb)
        if kind == "as":
            return Call((a, d.scalar()))
        if kind == "sa":
            return Call((d.scalar(), b))
        if kind == "ss":
            return Call((d.scalar(("int", "float")), d.scalar()))
        if d.coin(0.07):  # shapes that do not broadcast
            b = d.array(dtypes, (a.shape[-1] + 2 if a.ndim else 2,))
        return Call((a, b))

    return calls


def reduction(dtypes: list[str] = ALL, tuples: bool = True, keepdims: bool = True,
              extra: Callable[[Draw, np.ndarray], dict] | None = None, positional: Callable | None = None
              ) -> Callable[[Draw], Call]:
    def calls(d: Draw) -> Call:
        x = d.array(dtypes)
        args = (x, *positional(d, x)) if positional else (x,)
        kwargs = {}
        if d.coin(0.8):
            kwargs["axis"] = d.axis(x.ndim, tuples=tuples)
        if keepdims and d.coin():
            kwargs["keepdims"] = True
        if extra is not None:
            kwargs.update(extra(d, x))
        return Call(args, kwargs)

    return calls


def along(dtypes: list[str] = ALL, none: bool = True, tuples: bool = False, min_dims: int = 0,
          positional: Callable | None = None, extra: Callable | None = None, key: str = "axis",
          required: bool = False) -> Callable[[Draw], Call]:
    def calls(d: Draw) -> Call:
        x = d.array(dtypes, min_dims=min_dims)
        args = (x, *positional(d, x)) if positional else (x,)
        kwargs = {}
        if required or d.coin(0.75):
            kwargs[key] = d.axis(x.ndim, tuples=tuples, none=none)
        if extra is not None:
            kwargs.update(extra(d, x))
        return Call(args, kwargs)

    return calls


def _dtype_kw(d: Draw, x: np.ndarray) -> dict:
    return {"dtype": d.pick(["int64", "float32", "float64", "int8"])} if d.coin(0.2) else {}


def _ddof(d: Draw, x: np.ndarray) -> dict:
    return {"ddof": d.pick([0, 1, 2])} if d.coin(0.4) else {}


def _q(d: Draw, x: np.ndarray) -> tuple:
    return (d.pick([0.0, 0.5, 1.0, 0.3, [0.25, 0.75], np.array([0.1, 0.9]), 1.5, -0.1]),)


def _pct(d: Draw, x: np.ndarray) -> tuple:
    return (d.pick([0.0, 50.0, 100.0, 30.0, [25.0, 75.0], 150.0]),)


REDUCTIONS = ["sum", "prod", "mean", "std", "var", "max", "min", "amax", "amin", "all", "any", "nansum",
              "nanmean", "nanmax", "nanmin", "nanstd", "nanvar", "nanprod", "median", "nanmedian", "ptp",
              "count_nonzero", "argmax", "argmin", "nanargmax", "nanargmin", "average"]


def _specs() -> dict[str, Spec]:
    specs: dict[str, Spec] = {}
    for name in NAMES:
        f = getattr(np, name)
        if isinstance(f, np.ufunc) and f.signature is None:
            dtypes = _ufunc_dtypes(f)
            specs[name] = Spec(unary(dtypes) if f.nin == 1 else binary(dtypes))
    specs["reciprocal"] = Spec(unary(), np_fn=_as_floats(np.reciprocal))
    for name in REDUCTIONS:
        one_axis = name in ("argmax", "argmin", "nanargmax", "nanargmin")
        extra = _ddof if name in ("std", "var", "nanstd", "nanvar") else (
            _dtype_kw if name in ("sum", "prod", "mean", "nansum", "nanmean", "nanprod") else None)
        specs[name] = Spec(reduction(tuples=not one_axis, extra=extra))
    for name, q in (("quantile", _q), ("nanquantile", _q), ("percentile", _pct), ("nanpercentile", _pct)):
        specs[name] = Spec(reduction(REAL, positional=q))
    specs["nanquantile"].np_fn = _nanquantile(np.nanquantile, np.quantile)
    specs["nanpercentile"].np_fn = _nanquantile(np.nanpercentile, np.percentile)
    specs.update(_axis_specs())
    specs.update(_more_specs())
    return specs


def _nanquantile(fn: Callable, plain: Callable) -> Callable:
    """NumPy's nanquantile by gradkit's documented rules: its dtype never depends on the values (NumPy's is x's
    own when the first slice is all NaN, before NumPy 2.5), and an empty x is quantile's (NumPy's is nanmean's,
    without q's axis)."""

    def f(x: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        if x.size == 0:
            return plain(x, *args, **kwargs)
        out = fn(x, *args, **kwargs)
        return out.astype(plain(np.zeros_like(x), *args, **kwargs).dtype)

    return f


def _as_floats(fn: Callable) -> Callable:
    """A NumPy function with integer and bool inputs made floats first, as ``sin`` makes them: gradkit's
    documented rule for reciprocal and the special functions (i0)."""

    def f(x: Any) -> Any:
        a = np.asarray(x)
        return fn(a.astype(np.sin(a.reshape(-1)[:0]).dtype) if a.dtype.kind in "biu" else x)

    return f


def _sorted_along(part: Any, kth: int, axis: int | None) -> tuple:
    """A partition compared by what it promises: the kth element in place, and the same values."""
    a = np.asarray(part.numpy() if isinstance(part, gk.Tensor) else part)
    ax = -1 if axis is None else axis
    if a.size == 0:
        return (a,)
    return np.take(a, kth, axis=ax), np.sort(a, axis=ax)


def _partition(lib: Any) -> Callable:
    def f(a: Any, kth: int, axis: Any = -1) -> tuple:
        out = lib.partition(a, kth, axis=axis)
        return _sorted_along(out, kth, axis)

    return f


def _argpartition(lib: Any) -> Callable:
    def f(a: Any, kth: int, axis: Any = -1) -> tuple:
        idx = lib.argpartition(a, kth, axis=axis)
        flat = a.reshape(-1) if axis is None else a
        return _sorted_along(lib.take_along_axis(flat, idx, axis=-1 if axis is None else axis), kth, axis)

    return f


def _axis_specs() -> dict[str, Spec]:
    def shift(d: Draw, x: np.ndarray) -> tuple:
        return (d.int(-4, 4),)

    def n_diff(d: Draw, x: np.ndarray) -> tuple:
        return (d.int(0, 2),)

    def kth(d: Draw, x: np.ndarray) -> tuple:
        return (d.int(-1, 1),)

    def indices(d: Draw, x: np.ndarray) -> tuple:
        return (d.pick([d.int(-3, 3), np.array([d.int(-2, 2) for _ in range(d.int(0, 3))], dtype=np.int64)]),)

    def repeats(d: Draw, x: np.ndarray) -> tuple:
        return (d.int(0, 2),)

    s = {
        "cumsum": Spec(along(extra=_dtype_kw)), "cumprod": Spec(along(extra=_dtype_kw)),
        "nancumsum": Spec(along()), "nancumprod": Spec(along()),
        "cumulative_sum": Spec(along(none=False, extra=lambda d, x: {"include_initial": d.coin()})),
        "cumulative_prod": Spec(along(none=False, extra=lambda d, x: {"include_initial": d.coin()})),
        "sort": Spec(along()),
        "argsort": Spec(along(), np_fn=lambda x, **k: np.argsort(x, kind="stable", **k)),  # gradkit's is stable
        "flip": Spec(along(tuples=True)), "squeeze": Spec(along(tuples=True)),
        "expand_dims": Spec(along(none=False, tuples=True, required=True)),
        "unstack": Spec(along(none=False)),
        "diff": Spec(along(none=False, positional=n_diff)),
        "roll": Spec(along(tuples=False, positional=shift)),
        "trapezoid": Spec(along(REAL, none=False), loose=10),
        "unwrap": Spec(along(REAL, none=False), loose=10),
        "take": Spec(along(positional=indices)),
        "repeat": Spec(along(positional=repeats)),
        "partition": Spec(along(REAL, min_dims=1, positional=kth), np_fn=_partition(np), gk_fn=_partition(gk)),
        "argpartition": Spec(along(REAL, min_dims=1, positional=kth), np_fn=_argpartition(np),
                             gk_fn=_argpartition(gk)),
        "gradient": Spec(lambda d: (lambda x: Call((x,), {"axis": d.axis(x.ndim, tuples=True, bad=False)}
                                                   if d.coin() else {}))(d.array(REAL, min_dims=1, min_side=2))),
        "packbits": Spec(along(INTEGRAL)),
        "unpackbits": Spec(along(["uint8"] * 6 + ["int8", "bool"])),
        "count_nonzero": Spec(reduction(tuples=True)),
    }
    return s


def _pair(d: Draw, dtypes: list[str] = ALL, same_shape: bool = False, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    if same_shape:
        shape = d.shape(**kw)
        return d.array(dtypes, shape), d.array(dtypes, shape)
    sa, sb = d.broadcastable(2, **kw)
    return d.array(dtypes, sa), d.array(dtypes, sb)


def _seq(d: Draw, dtypes: list[str] = ALL, n: tuple = (1, 3), **kw: Any) -> list[np.ndarray]:
    """Arrays for stacking: one shape, now and then one that differs (an error for both)."""
    shape = d.shape(**kw)
    out = []
    for _ in range(d.int(*n)):
        s = shape if d.coin(0.9) else d.shape(**kw)
        out.append(d.array(dtypes, s))
    return out


def _vec(d: Draw, dtypes: list[str] = REAL, n: tuple = (0, 5), specials: bool | None = None) -> np.ndarray:
    return d.array(dtypes, (d.int(*n),), specials=specials)


def _signal(d: Draw) -> np.ndarray:
    """A 1-d array for sums of products: float16 without its extremes, whose overflow to inf or NaN depends on
    the order of the sums."""
    dtype = d.pick(ALL)
    return d.array([dtype], (d.int(0, 5),), specials=False if dtype == "float16" else None)


def _sorted_vec(d: Draw, dtypes: list[str] = NUMERIC) -> np.ndarray:
    return np.sort(_vec(d, dtypes, specials=False))


def _shape_for(d: Draw, x: np.ndarray) -> Any:
    n = x.size
    options = [(n,), (-1,), (1, n), (n, 1, -1), d.shape(max_dims=2)]
    if x.ndim:
        options.append(x.shape[::-1])
    return d.pick(options)


def _more_specs() -> dict[str, Spec]:
    A = lambda d, dtypes=ALL, **kw: d.array(dtypes, **kw)  # noqa: E731
    s: dict[str, Spec] = {}
    # shape and axis functions
    s["moveaxis"] = Spec(lambda d: (lambda x: Call((x, d.axis(x.ndim, tuples=False, none=False),
                                                    d.axis(x.ndim, tuples=False, none=False))))(A(d, min_dims=1)))
    s["swapaxes"] = s["moveaxis"]
    s["rollaxis"] = Spec(lambda d: (lambda x: Call((x, d.axis(x.ndim, tuples=False, none=False),
                                                    d.int(-x.ndim, x.ndim))))(A(d)))
    s["transpose"] = Spec(lambda d: (lambda x: Call((x,) if d.coin(0.3) else
                                                    (x, tuple(int(i) for i in d.rng.permutation(x.ndim)))))(A(d)))
    s["permute_dims"] = s["transpose"]
    s["matrix_transpose"] = Spec(unary(numbers=False))
    s["ldexp"] = Spec(lambda d: (lambda sh: Call((d.array(ALL, sh[0]), d.array(INTEGRAL if d.coin(0.9) else ALL, sh[1])
                                                  if d.coin(0.8) else d.scalar(("int", "bool")))))(d.broadcastable()))
    s["rot90"] = Spec(lambda d: Call((A(d, min_dims=1), d.int(-2, 5)), {"axes": d.pick([(0, 1), (1, 0), (0, -1),
                                                                                      (0, 0)])}))
    s["diagonal"] = Spec(lambda d: Call((A(d, min_dims=2), d.int(-2, 2)), {"axis1": d.int(-2, 1),
                                                                          "axis2": d.int(-1, 2)}))
    s["tril"] = Spec(lambda d: Call((A(d), d.int(-2, 2))))
    s["triu"] = s["tril"]
    s["diag"] = Spec(lambda d: Call((A(d, max_dims=2), d.int(-2, 2))))
    s["diagflat"] = s["diag"]
    s["ravel"] = Spec(lambda d: Call((A(d),), {"order": d.pick(["C", "F"])} if d.coin() else {}))
    s["reshape"] = Spec(lambda d: (lambda x: Call((x, _shape_for(d, x))))(A(d)))
    s["resize"] = Spec(lambda d: Call((A(d), d.shape(max_dims=2))))
    s["tile"] = Spec(lambda d: Call((A(d), d.pick([d.int(0, 2), d.shape(max_dims=3, max_side=2)]))))
    s["broadcast_to"] = Spec(lambda d: (lambda sh: Call((A(d, shape=d.sub_shape(sh)), sh)))(d.shape()))
    for name in ("atleast_1d", "atleast_2d", "atleast_3d"):
        s[name] = Spec(lambda d: Call(tuple(A(d) for _ in range(d.int(1, 2)))))
    for name in ("fliplr", "flipud", "copy", "fix", "sinc", "isneginf", "isposinf", "isreal", "iscomplex",
                 "isrealobj", "iscomplexobj", "nonzero", "argwhere", "flatnonzero", "ndim", "shape", "isscalar",
                 "iterable", "isfortran", "asarray_chkfinite", "ascontiguousarray", "asfortranarray", "real_if_close",
                 "unique_all", "unique_counts", "ediff1d", "trim_zeros", "array_str", "array_repr", "array2string"):
        s[name] = Spec(unary(numbers=name in ("isscalar", "ndim", "shape", "iterable", "isrealobj", "iscomplexobj",
                                              "sinc")))
    for name in ("real", "imag"):  # a Python number gives a 0-d tensor, as gradkit's unary functions do
        s[name] = Spec(unary(), np_fn=_as_array(getattr(np, name)))
    s["i0"] = Spec(unary(), np_fn=_as_floats(np.i0))
    s["diag_indices_from"] = Spec(lambda d: (lambda n: Call((d.array(ALL, (n,) * d.pick([2, 2, 3, 1])),)))(d.int(0, 3)))
    s["tril_indices_from"] = Spec(lambda d: Call((d.array(ALL, (d.int(0, 3), d.int(0, 3))), d.int(-1, 1))))
    s["triu_indices_from"] = s["tril_indices_from"]
    s["angle"] = Spec(lambda d: Call((A(d),), {"deg": True} if d.coin() else {}))
    s["size"] = Spec(lambda d: (lambda x: Call((x,) if d.coin() else (x, d.axis(x.ndim, tuples=False))))(A(d)))
    s["around"] = Spec(lambda d: Call((A(d),) if d.coin() else (A(d), d.int(-2, 2))))
    s["round"] = s["around"]
    s["clip"] = Spec(lambda d: Call((A(d), d.pick([None, -1, 0.5, d.array(REAL, ())]),
                                     d.pick([None, 2, 1.5, d.array(REAL, (1,))]))))
    s["nan_to_num"] = Spec(lambda d: Call((A(d),), {k: d.pick([0.0, 5, -1.5]) for k in ("nan", "posinf", "neginf")
                                                    if d.coin()}))
    s["split"] = Spec(lambda d: (lambda x: Call((x, d.pick([1, 2, 3, [1], [0, 2], [3, 1]]),
                                                 d.axis(x.ndim, tuples=False, none=False))))(A(d, min_dims=1)))
    s["array_split"] = s["split"]
    for name, lo in (("hsplit", 1), ("vsplit", 2), ("dsplit", 3)):
        s[name] = Spec(lambda d, lo=lo: Call((A(d, min_dims=lo - 1, max_dims=3), d.pick([1, 2, [1], [0, 2]]))))
    s["dsplit"] = Spec(lambda d: Call((A(d, min_dims=3, max_dims=4, max_side=2), d.pick([1, 2, [1], [0, 2]]))))
    s["pad"] = Spec(lambda d: Call((A(d), d.pick([0, 1, (1, 2), ((1, 0),), [[0, 1]]])),
                                   {"mode": d.pick(["constant", "edge", "reflect", "symmetric", "wrap", "maximum",
                                                    "mean", "minimum", "linear_ramp", "median"])}), loose=10)
    s["take_along_axis"] = Spec(_take_along)
    s["put_along_axis"] = Spec(_put_along, np_fn=_inplace(np.put_along_axis))
    s["delete"] = Spec(lambda d: (lambda x: Call((x, d.pick([0, -1, [0, 1], slice(0, 2), 5])),
                                                 {"axis": d.axis(x.ndim, tuples=False)}))(A(d, min_dims=1)))
    s["insert"] = Spec(lambda d: (lambda x: Call((x, d.pick([0, -1, [0, 1], 1]), d.pick([7, 2.5, True])),
                                                 {"axis": d.axis(x.ndim, tuples=False)}))(A(d, min_dims=1)))
    s["append"] = Spec(lambda d: (lambda x: Call((x, A(d, shape=x.shape)), {"axis": d.axis(x.ndim, tuples=False)})
                                  if d.coin() else Call((x, d.pick([d.scalar(), A(d)]))))(A(d)))
    s["compress"] = Spec(lambda d: (lambda x: Call((d.array(BOOL, (d.int(0, 3),)), x),
                                                   {"axis": d.axis(x.ndim, tuples=False)}))(A(d)))
    s["extract"] = Spec(lambda d: (lambda x: Call((d.array(BOOL, x.shape), x)))(A(d)))
    # sets, sorting and counting
    s["unique_values"] = Spec(unary(numbers=False), np_fn=lambda x: np.sort(np.unique_values(x)))
    s["unique_inverse"] = Spec(unary(numbers=False), np_fn=_rebuilt(np.unique_inverse),
                               gk_fn=_rebuilt(gk.unique_inverse))
    s["unique"] = Spec(lambda d: Call((A(d),), {k: True for k in ("return_index", "return_inverse",
                                                                   "return_counts") if d.coin(0.3)}
                                      | ({"equal_nan": False} if d.coin(0.2) else {})))
    s["bincount"] = Spec(_bincount_call, np_fn=_bincount)
    s["searchsorted"] = Spec(lambda d: Call((_sorted_vec(d), A(d, dtypes=NUMERIC)),
                                            {"side": d.pick(["left", "right"])}))
    s["digitize"] = Spec(lambda d: Call((A(d, dtypes=NUMERIC), _sorted_vec(d)), {"right": d.coin()}))
    s["isin"] = Spec(lambda d: Call((A(d), A(d)), {"invert": d.coin(0.3)}))
    for name in ("intersect1d", "union1d", "setdiff1d", "setxor1d"):
        s[name] = Spec(lambda d: Call((A(d), A(d))))
    s["lexsort"] = Spec(lambda d: (lambda n: Call(([_vec(d, NUMERIC, (n, n)) for _ in range(d.int(1, 3))],)))(
        d.int(0, 4)))
    s["histogram"] = Spec(lambda d: Call((d.array(NUMERIC, specials=False),),
                                         {"bins": d.pick([1, 3, 10, [0.0, 1.0, 2.5]])}
                                         | ({"range": (-2.0, 3.0)} if d.coin(0.3) else {})
                                         | ({"density": True} if d.coin(0.3) else {})), loose=10)
    s["histogram_bin_edges"] = Spec(lambda d: Call((d.array(NUMERIC, specials=False),),
                                                   {"bins": d.pick([1, 3, 10])}), loose=10)
    s["histogram2d"] = Spec(lambda d: (lambda n: Call((_vec(d, NUMERIC, (n, n), False),
                                                       _vec(d, NUMERIC, (n, n), False)), {"bins": d.pick([2, 3])}))(
        d.int(0, 5)), loose=10)
    s["histogramdd"] = Spec(lambda d: Call((d.array(NUMERIC, (d.int(0, 5), 2), specials=False),),
                                           {"bins": d.pick([2, 3])}), loose=10)
    # linear algebra and polynomials
    for name in ("outer", "vdot", "kron", "matmul"):
        s[name] = Spec(_product_pair)
    s["dot"] = Spec(_product_pair, np_fn=_scalar_product(np.dot))
    s["tensordot"] = Spec(lambda d: Call((*_pair(d, max_dims=2), ), {"axes": d.pick([0, 1])}))
    s["inner"] = Spec(lambda d: (lambda n: Call((d.array(ALL, (*d.shape(max_dims=2), n)),
                                                 d.array(ALL, (*d.shape(max_dims=1), n + d.coin(0.05))))))(d.int(0, 3))
                      if d.coin(0.8) else _product_pair(d), np_fn=_scalar_product(np.inner))
    s["vecdot"] = Spec(_vecdot_call)
    s["matvec"] = Spec(_matvec_call)
    s["vecmat"] = Spec(_vecmat_call)
    s["cross"] = Spec(lambda d: (lambda n: Call((d.array(ALL, (*d.shape(max_dims=1), n)),
                                                 d.array(ALL, (n,)))))(d.pick([2, 3, 3, 4])))
    s["einsum"] = Spec(lambda d: (lambda n, m: d.pick([Call(("ij,jk->ik", d.array(ALL, (n, m)),
                                                              d.array(ALL, (m, 2)))),
                                                        Call(("ii", d.array(ALL, (n, n)))),
                                                        Call(("i,i", d.array(ALL, (n,)), d.array(ALL, (n,)))),
                                                        Call(("ij->ji", d.array(ALL, (n, m)))),
                                                        Call(("...i->...", d.array(ALL)))]))(d.int(0, 3),
                                                                                           d.int(0, 3)))
    s["convolve"] = Spec(lambda d: Call((_signal(d), _signal(d)), {"mode": d.pick(["full", "same", "valid"])}))
    s["correlate"] = s["convolve"]
    s["polyval"] = Spec(lambda d: Call((_vec(d, ALL), A(d))), loose=10)
    for name in ("polyadd", "polysub"):
        s[name] = Spec(lambda d: Call((_vec(d, ALL), _vec(d, ALL))))
    s["polymul"] = Spec(lambda d: Call((_signal(d), _signal(d))))
    s["polyder"] = Spec(lambda d: Call((_vec(d, ALL), d.int(0, 3))))
    s["polyint"] = Spec(lambda d: Call((_vec(d, ALL), d.int(0, 2))))
    s["polydiv"] = Spec(lambda d: Call((_vec(d, NUMERIC, specials=False), _vec(d, NUMERIC, (1, 3), False))),
                        loose=1e4)
    s["vander"] = Spec(lambda d: Call((_vec(d, ALL),), ({"N": d.int(0, 4)} if d.coin() else {})
                                      | ({"increasing": True} if d.coin() else {})))
    s["interp"] = Spec(lambda d: (lambda xp: Call((A(d, dtypes=NUMERIC), xp, d.array(NUMERIC, xp.shape))))(
        np.unique(_vec(d, NUMERIC, (1, 5), False))))
    s["cov"] = Spec(lambda d: Call((d.array(NUMERIC, max_dims=2, specials=False),),
                                   ({"rowvar": False} if d.coin() else {}) | ({"bias": True} if d.coin() else {})),
                    loose=100)
    s["corrcoef"] = Spec(lambda d: Call((d.array(NUMERIC, max_dims=2, specials=False),),
                                        {"rowvar": False} if d.coin() else {}), loose=100)
    s["average"] = Spec(lambda d: (lambda x: Call((x,), {"axis": d.axis(x.ndim, tuples=False)} if d.coin() else
                                                  {"weights": d.array(REAL, x.shape, specials=False)}))(
        d.array(ALL)), loose=10)
    # several arrays
    s["allclose"] = Spec(lambda d: Call(_pair(d), {"equal_nan": True} if d.coin() else {}))
    s["isclose"] = s["allclose"]
    s["array_equal"] = Spec(lambda d: Call(_pair(d), {"equal_nan": True} if d.coin() else {}))
    s["array_equiv"] = Spec(lambda d: Call(_pair(d)))
    s["where"] = Spec(lambda d: (lambda sh: Call((d.array(BOOL, sh[0]), d.array(ALL, sh[1]), d.array(ALL, sh[2]))))(
        d.broadcastable(3)) if d.coin(0.8) else Call((A(d),)))
    s["select"] = Spec(lambda d: (lambda sh: Call(([d.array(BOOL, sh) for _ in range(2)],
                                                   [d.array(REAL, sh) for _ in range(2)]),
                                                  {"default": d.pick([0, 1.5])}))(d.shape()))
    s["choose"] = Spec(lambda d: (lambda sh: Call((d.array(["int64"], sh, specials=False) % 2,
                                                   [d.array(REAL, sh) for _ in range(2)])))(d.shape()))
    for name in ("concatenate", "concat"):
        s[name] = Spec(lambda d: (lambda xs: Call((xs,), {"axis": d.axis(xs[0].ndim, tuples=False)}))(
            _seq(d, min_dims=1)))
    s["stack"] = Spec(lambda d: (lambda xs: Call((xs,), {"axis": d.axis(xs[0].ndim + 1, tuples=False,
                                                                        none=False)}))(_seq(d)))
    for name in ("hstack", "vstack", "dstack", "column_stack", "row_stack"):
        s[name] = Spec(lambda d: Call((_seq(d),)))
    s["block"] = Spec(lambda d: Call(([_seq(d, n=(1, 2), min_dims=1)],)))
    s["broadcast_arrays"] = Spec(lambda d: Call(tuple(d.array(ALL, sh) for sh in d.broadcastable(d.int(1, 3)))))
    s["meshgrid"] = Spec(lambda d: Call(tuple(_vec(d, ALL) for _ in range(d.int(1, 3))),
                                        {"indexing": d.pick(["xy", "ij"])}))
    s["ix_"] = Spec(lambda d: Call(tuple(_vec(d, ["int64", "bool"]) for _ in range(d.int(1, 3)))))
    s["unravel_index"] = Spec(lambda d: Call((np.abs(d.array(["int64"], specials=False)), d.pick([(6,), (2, 3),
                                                                                                 (3, 2, 1)]))))
    s["ravel_multi_index"] = Spec(lambda d: (lambda n: Call(((d.rng.integers(0, 3 + d.coin(0.1), n),
                                                              d.rng.integers(0, 4, n)), (3, 4),
                                                             d.pick(["raise", "wrap", "clip"]))))(d.int(0, 4)))
    # creation (gradkit's defaults differ where documented: a dtype is always given)
    dt = ["bool", "int8", "int32", "int64", "uint8", "float16", "float32", "float64"]
    for name in ("zeros", "ones"):
        s[name] = Spec(lambda d: Call((d.shape(),), {"dtype": d.pick(dt)}))
    s["empty"] = Spec(lambda d: Call((d.shape(),), {"dtype": d.pick(dt)}),
                      np_fn=lambda *a, **k: np.zeros(np.empty(*a, **k).shape, k["dtype"]),
                      gk_fn=lambda *a, **k: (lambda t: np.zeros(t.shape, t.dtype))(gk.empty(*a, **k)))
    s["full"] = Spec(lambda d: Call((d.shape(), d.pick([0, 3, 1.5, True])), {"dtype": d.pick(dt)}))
    s["empty_like"] = Spec(lambda d: Call((A(d),), {"dtype": d.pick(dt)} if d.coin() else {}),
                           np_fn=lambda *a, **k: (lambda e: np.zeros(e.shape, e.dtype))(np.empty_like(*a, **k)),
                           gk_fn=lambda *a, **k: (lambda t: np.zeros(t.shape, t.dtype))(gk.empty_like(*a, **k)))
    for name in ("zeros_like", "ones_like"):
        s[name] = Spec(lambda d: Call((A(d),), {"dtype": d.pick(dt)} if d.coin() else {}))
    s["full_like"] = Spec(lambda d: Call((A(d), d.pick([0, 3, 1.5, True])), {"dtype": d.pick(dt)} if d.coin() else {}))
    s["arange"] = Spec(lambda d: Call((d.pick([0, 1, -2, 0.5]), d.pick([3, 5.5, -1]), d.pick([1, 2, 0.5, -1])),
                                      {"dtype": d.pick(["int64", "float64", "float32"])}))
    s["linspace"] = Spec(lambda d: Call((d.pick([0, -1.5, 2]), d.pick([1, 3.5]), d.int(0, 5)),
                                        {"dtype": d.pick(["float32", "float64"]), "endpoint": d.coin()}))
    s["logspace"] = s["linspace"]
    s["geomspace"] = Spec(lambda d: Call((d.pick([1, 0.5, 2]), d.pick([10, 3.5]), d.int(0, 5)),
                                         {"dtype": d.pick(["float32", "float64"]), "endpoint": d.coin()}))
    s["eye"] = Spec(lambda d: Call((d.int(0, 3), d.pick([None, 2, 4]), d.int(-1, 1)), {"dtype": d.pick(dt)}))
    s["identity"] = Spec(lambda d: Call((d.int(0, 3),), {"dtype": d.pick(dt)}))
    s["tri"] = Spec(lambda d: Call((d.int(0, 3), d.pick([None, 2, 4]), d.int(-1, 1)), {"dtype": d.pick(dt)}))
    for name in ("tril_indices", "triu_indices"):
        s[name] = Spec(lambda d: Call((d.int(0, 4), d.int(-1, 1), d.pick([None, 2, 5]))))
    s["diag_indices"] = Spec(lambda d: Call((d.int(0, 3), d.int(1, 3))))
    s["indices"] = Spec(lambda d: Call((d.shape(),), {"sparse": d.coin()}))
    s["mask_indices"] = Spec(lambda d: Call((d.int(0, 4), d.pick([np.triu, np.tril]), d.int(-1, 1))))
    for name in ("bartlett", "blackman", "hamming", "hanning"):
        s[name] = Spec(lambda d: Call((d.int(-1, 6),)))
    s["kaiser"] = Spec(lambda d: Call((d.int(-1, 6), d.pick([0.0, 5.0, 14]))))
    s["array"] = Spec(lambda d: Call((A(d),), {"dtype": d.pick(dt)} if d.coin() else {}))
    s["asarray"] = s["array"]
    s["asanyarray"] = s["array"]
    s["astype"] = Spec(lambda d: Call((A(d), d.pick(dt))))
    s["require"] = Spec(lambda d: Call((A(d),), {"dtype": d.pick(dt)} if d.coin() else {}))
    # dtype queries
    s["result_type"] = Spec(lambda d: Call((A(d), d.pick([d.scalar(), np.dtype(d.pick(dt)), A(d)]))))
    s["promote_types"] = Spec(lambda d: Call((d.pick(dt), d.pick(dt))))
    s["can_cast"] = Spec(lambda d: Call((np.dtype(d.pick(dt)), d.pick(dt)),
                                        {"casting": d.pick(["safe", "same_kind", "unsafe", "equiv", "no"])}))
    s["min_scalar_type"] = Spec(lambda d: Call((d.pick([d.scalar(("int", "float")), A(d, shape=())]),)))
    s["common_type"] = Spec(lambda d: Call(tuple(A(d) for _ in range(d.int(1, 2)))))
    s["isdtype"] = Spec(lambda d: Call((np.dtype(d.pick(dt)), d.pick(["bool", "signed integer", "unsigned integer",
                                                                       "integral", "real floating", "numeric"]))))
    s["issubdtype"] = Spec(lambda d: Call((d.pick(dt), d.pick([np.integer, np.floating, np.number, np.bool_]))))
    s["broadcast_shapes"] = Spec(lambda d: Call(tuple(d.broadcastable(d.int(1, 3)))))
    for name in ("shares_memory", "may_share_memory"):  # of a view and of a copy
        s[name] = Spec(unary(numbers=False), np_fn=_memory(getattr(np, name), lambda a: a[...], np.copy),
                       gk_fn=_memory(getattr(gk, name), lambda a: gk.reshape(a, a.shape), gk.copy))
    s["typename"] = Spec(lambda d: Call((d.pick(["d", "f", "i", "b", "?", "l"]),)))
    s["mintypecode"] = Spec(lambda d: Call((d.pick(["idF", "fd", "i", "dD"]),)))
    s["base_repr"] = Spec(lambda d: Call((d.int(-300, 300), d.int(2, 16), d.int(0, 3))))
    s["binary_repr"] = Spec(lambda d: Call((d.int(-30, 300),), {"width": d.pick([None, 8, 12])}))
    # in place (the changed array is compared)
    s["copyto"] = Spec(lambda d: (lambda sh: Call((d.array(ALL, sh), d.array(ALL, d.sub_shape(sh))),
                                                  {"casting": d.pick(["same_kind", "unsafe", "safe"])}))(d.shape()),
                       np_fn=_inplace(np.copyto), gk_fn=_inplace(gk.copyto))
    for name in ("zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "geomspace", "eye", "identity",
                 "tri", "tril_indices", "triu_indices", "diag_indices", "indices", "mask_indices", "bartlett",
                 "blackman", "hamming", "hanning", "kaiser"):
        s[name].creation = True
    s["fill_diagonal"] = Spec(lambda d: Call((d.array(ALL, (d.int(0, 3),) * 2), d.pick([2, 1.5, True]))),
                              np_fn=_inplace(np.fill_diagonal), gk_fn=_inplace(gk.fill_diagonal))
    s["place"] = Spec(lambda d: (lambda x: Call((x, d.array(BOOL, x.shape), d.pick([[7], [1.5, 2.5], []]))))(A(d)),
                      np_fn=_inplace(np.place), gk_fn=_inplace(gk.place))
    s["put"] = Spec(lambda d: (lambda x: Call((x, d.pick([0, [0, 1], -1, 5]), d.pick([7, [1.5, 2.5]]))))(A(d)),
                    np_fn=_inplace(np.put), gk_fn=_inplace(gk.put))
    s["putmask"] = Spec(lambda d: (lambda x: Call((x, d.array(BOOL, x.shape), d.pick([7, [1.5, 2.5], 2.5]))))(A(d)),
                        np_fn=_inplace(np.putmask), gk_fn=_inplace(gk.putmask))
    return s


def _rebuilt(fn: Callable) -> Callable:
    """unique_inverse compared by what it promises: the values, and x rebuilt from them (the order NumPy's
    unstable sort gives equal NaNs is not one)."""

    def f(x: Any) -> tuple:
        values, inverse = fn(x)
        return values, values[inverse]

    return f


def _scalar_product(fn: Callable) -> Callable:
    """NumPy's dot/inner with a 0-d operand, by its documented meaning (multiply): NumPy's own goes through
    BLAS's scal, which makes NaN * -0.0 a 0.0."""

    def f(a: Any, b: Any) -> Any:
        return np.multiply(a, b) if np.ndim(a) == 0 or np.ndim(b) == 0 else fn(a, b)

    return f


def _inplace(fn: Callable) -> Callable:
    def f(a: Any, *args: Any, **kwargs: Any) -> Any:
        result = fn(a, *args, **kwargs)
        return a if result is None else ("returned", result)

    return f


def _as_array(fn: Callable) -> Callable:
    """NumPy's result as an array: real/imag of a Python number give a 0-d tensor in gradkit, as its unary
    functions do, where NumPy gives the number back."""
    return lambda v: np.asarray(fn(v))


def _memory(fn: Callable, view: Callable, clone: Callable) -> Callable:
    return lambda a: (fn(a, view(a)), fn(a, clone(a)))


def _bincount_call(d: Draw) -> Call:
    x = np.abs(_vec(d, INTEGRAL, specials=False))
    kwargs = {"weights": d.array(REAL, x.shape)} if d.coin(0.4) else {}
    if d.coin(0.3):
        kwargs["minlength"] = d.int(0, 6)
    return Call((x,), kwargs)


def _bincount(x: np.ndarray, weights: Any = None, minlength: int = 0) -> np.ndarray:
    """NumPy's bincount, float64 whenever weights are given (NumPy's of no values is int64 even then)."""
    return np.bincount(x, weights, minlength).astype(np.float64 if weights is not None else np.int64)


def _vecdot_call(d: Draw) -> Call:
    n, (sa, sb) = d.int(0, 3), d.broadcastable(2, max_dims=2)
    return Call((d.array(ALL, (*sa, n)), d.array(ALL, (*sb, n + d.coin(0.05)))))


def _matvec_call(d: Draw) -> Call:
    m, n = d.int(0, 3), d.int(0, 3)
    return Call((d.array(ALL, (*d.shape(max_dims=1), m, n)), d.array(ALL, (n + d.coin(0.05),))))


def _vecmat_call(d: Draw) -> Call:
    m, n = d.int(0, 3), d.int(0, 3)
    return Call((d.array(ALL, (n + d.coin(0.05),)), d.array(ALL, (*d.shape(max_dims=1), n, m))))


def _take_along(d: Draw) -> Call:
    x = d.array(ALL, min_dims=1)
    axis = d.axis(x.ndim, tuples=False, bad=False)
    n = x.size if axis is None else x.shape[axis]
    shape = (d.int(0, 3),) if axis is None else tuple(d.int(0, 3) if i == axis % x.ndim else s for i, s in
                                                      enumerate(x.shape))
    idx = d.rng.integers(-n, n, size=shape) if n else np.zeros(shape, dtype=np.int64)
    return Call((x, idx.astype(np.int64), axis))


def _put_along(d: Draw) -> Call:
    c = _take_along(d)
    x, idx, axis = c.args
    return Call((x, idx, d.pick([7, 1.5, d.array(REAL, idx.shape)]), axis))


def _product_pair(d: Draw) -> Call:
    n = d.int(0, 3)
    shapes = d.pick([((n,), (n,)), ((2, n), (n,)), ((n,), (n, 3)), ((2, n), (n, 2)), ((1, 2, n), (n, 2)),
                     ((), (n,)), ((n,), (n + 1,))])
    return Call((d.array(ALL, shapes[0]), d.array(ALL, shapes[1])))


#: gradkit names that NumPy's function of that name does not describe (documented), or that cannot be called
#: generically; the reason is the value.
SKIPPED = {
    "trace": "gk.trace is the primal/adjoint tracer (docs/API.md), not NumPy's trace",
    "load": "file I/O", "save": "file I/O",
    "from_dlpack": "takes a DLPack capsule holder", "frombuffer": "takes a buffer", "fromiter": "takes an iterator",
    "fromfunction": "takes a function", "apply_along_axis": "takes a function", "apply_over_axes": "takes a function",
    "piecewise": "takes functions", "einsum_path": "a report string", "polyfit": "least squares (tested elsewhere)",
    "roots": "eigenvalues (tested elsewhere)", "poly": "eigenvalues (tested elsewhere)",
    "finfo": "NumPy's own object, given a gradkit dtype (tests/test_torch_methods_session17.py)",
    "iinfo": "NumPy's own object, given a gradkit dtype (tests/test_torch_methods_session17.py)",
}

NAMES = sorted(
    n for n in dir(gk)
    if not n.startswith("_") and callable(getattr(gk, n)) and callable(getattr(np, n, None)) and n not in SKIPPED
)

SPECS: dict[str, Spec] = _specs()
UNCOVERED = sorted(set(NAMES) - set(SPECS))


# ----------------------------------------------------------------------------------------------------------------
# the tests

#: Hypothesis examples per function, and calls per example (seeds seed, seed + 1, ...): a hypothesis example
#: costs milliseconds of its own, a call well under one.
EXAMPLES, CALLS = 3, 4
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def test_every_shared_name_has_a_spec() -> None:
    assert not UNCOVERED, f"no spec for {UNCOVERED}"
    assert len(SPECS) > 300


@pytest.mark.parametrize("name", sorted(SPECS))
def test_matches_numpy(name: str, device: str) -> None:
    spec = SPECS[name]

    @SETTINGS
    @given(seed=st.integers(0, 2**32 - CALLS))
    def run(seed: int) -> None:
        for i in range(CALLS):
            call = spec.calls(Draw(seed + i))
            found = differences(name, spec, call, device)
            assert not found, f"gk.{name}{call!r}: " + "; ".join(found)

    run()


# ----------------------------------------------------------------------------------------------------------------
# regression tests for what the harness found (each failed before its fix)


def _t(a: Any, device: str, requires_grad: bool = False) -> gk.Tensor:
    return gk.tensor(np.asarray(a), device=device, requires_grad=requires_grad)


def test_select_promotes_choices_and_a_number_default_at_once(device):
    # NumPy 2: one result_type of every choice and the (weak) default; a where() at a time gave float64/int64
    conds = [np.array([True, False, False]), np.array([False, True, False])]
    for choices, default in (([np.array([2.5, 1, 1], np.float16), np.array([True, False, True])], 1.5),
                             ([np.array([1, 2, 3], np.int32), np.array([True, False, True])], 0),
                             ([np.array([1, 2, 3], np.uint8), np.array([4, 5, 6], np.int8)], 7)):
        expected = np.select(conds, choices, default)
        got = gk.select([_t(c, device) for c in conds], [_t(c, device) for c in choices], default)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got.numpy(), expected)
    x = _t(np.array([1.0, 2.0, 3.0], np.float16), device, requires_grad=True)
    y = gk.select([_t(c, device) for c in conds], [x, _t([True, True, True], device)], 0.5)
    assert y.dtype == np.float16
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 0.0])


def test_clip_takes_numpy_dtype_of_all_three_operands(device):
    cases = [
        (np.array([False, True]), -1, np.array([4], np.int32)),
        (np.array(False), -1, np.array([7.25], np.float16)),
        (np.array([0, 3], np.uint8), 0.5, np.array([0.1], np.float32)),
        (np.array([1, 5, 1], np.uint8), np.array(3, np.int8), np.array([0.001], np.float16)),
        (np.array([4, 1], np.uint8), -1, np.array([-1, 2])),  # -1 fits the int64 result, not x's uint8
    ]
    for x, lo, hi in cases:
        expected = np.clip(x, lo, hi)
        got = gk.clip(_t(x, device), lo if isinstance(lo, int) else _t(lo, device) if isinstance(lo, np.ndarray)
                      else lo, _t(hi, device))
        assert got.dtype == expected.dtype, (x, lo, hi)
        np.testing.assert_array_equal(got.numpy(), expected)
    # a float bound makes a float result: an int bound beside it need not fit the integer x
    got = gk.clip(_t(np.array([5, 2], np.uint8), device), -1, 1.5)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got.numpy(), [1.5, 1.5])
    with pytest.raises(gk.InvalidArgumentError, match="out of range for a uint8"):
        gk.clip(_t(np.array([5, 2], np.uint8), device), -1, 2)  # an integer result: still refused
    x = _t(np.array([1.0, 5.0, -3.0], np.float16), device, requires_grad=True)
    hi = _t(np.array([2.0], np.float32), device, requires_grad=True)
    y = gk.clip(x, -1, hi)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float16 and hi.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(hi.grad.numpy(), [1.0])


@pytest.mark.parametrize("name", ["convolve", "correlate"])
def test_convolve_sums_only_overlapping_products(name, device):
    # an inf or NaN in v met the zero padding of a (inf * 0 = NaN) at the edges, where NumPy's sum has no term
    a = np.array([2.5, -3.0, 1.0, -1.0, -2.5])
    for v in (np.array([-0.5, -np.inf, 1.0, 0.75]), np.array([np.nan, 2.5, 1e4]), np.array([np.inf, 1.0]),
              np.array([1.0, 2.0, np.inf, 3.0, 4.0, -1.0, 0.5])):
        for mode in ("full", "same", "valid"):
            for x, y in ((a, v), (v, a)):
                expected = getattr(np, name)(x, y, mode)
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # no inf * 0 along the way
                    got = getattr(gk, name)(_t(x, device), _t(y, device), mode)
                np.testing.assert_array_equal(got.numpy(), expected, err_msg=f"{x}, {y}, {mode}")
    x = _t([1.0, 2.0, 3.0], device, requires_grad=True)
    v = _t([0.5, -1.0], device, requires_grad=True)
    assert gk.gradcheck(lambda x, v: getattr(gk, name)(x, v, "full"), (x, v))
    assert gk.gradcheck(lambda x, v: getattr(gk, name)(v, x, "same"), (x, v))


def test_convolve_of_long_inputs_sums_only_overlapping_products(device, monkeypatch):
    import gradkit.ops.numpy_more as numpy_more

    monkeypatch.setattr(numpy_more, "_WINDOWS_MAX", 4)  # the shifted-products path of long inputs
    a, v = np.array([1.0, -2.0, 3.0, 0.5]), np.array([np.inf, 1.0, -np.nan, 2.0])
    for mode in ("full", "same", "valid"):
        np.testing.assert_array_equal(gk.convolve(_t(a, device), _t(v, device), mode).numpy(),
                                      np.convolve(a, v, mode))
    x = _t([1.0, 2.0, 3.0], device, requires_grad=True)
    w = _t([0.5, -1.0], device, requires_grad=True)
    assert gk.gradcheck(lambda x, w: gk.correlate(x, w, "full"), (x, w))


def test_array_equal_refuses_numbers_it_cannot_hold_instead_of_answering_false(device):
    z = np.array([1 + 2j, 3j], np.complex64)
    for fn in (gk.array_equal, gk.array_equiv):
        with pytest.raises(gk.DTypeError, match="complex64"):
            fn(z, z)  # NumPy: True; gradkit answered False
        with pytest.raises(gk.DTypeError, match="complex64"):
            fn(_t([1.0, 0.0], device), z)
        assert fn("text", [1]) is False  # text beside numbers is NumPy's False still
        assert fn(_t([1.0, 2.0], device), [1.0, 2.0]) is True


def test_fmax_fmin_take_an_array_beside_a_number(device):
    # fmax(array, number) handed the NumPy array to maximum, which wants a tensor operand
    for fn in ("fmax", "fmin"):
        for a, b in ((np.array([1.0, np.nan]), 2), (True, np.array(False)), ([1.5, np.nan], 1),
                     (0.5, np.array([1.0, np.nan], np.float32))):
            expected = getattr(np, fn)(a, b)
            got = getattr(gk, fn)(a, b)
            assert got.dtype == np.asarray(expected).dtype
            np.testing.assert_array_equal(got.numpy(), expected)
        t = _t(np.array([1.0, np.nan], np.float32), device)
        for a, b in ((t, 0.5), (np.float16(0.5), t), (t, np.int8(3))):  # a NumPy scalar goes to the tensor's device
            assert getattr(gk, fn)(a, b).device.startswith(device)


def test_bincount_takes_an_empty_list_as_no_integers():
    for x, kw in (([], {}), ([], {"minlength": 3}), ((), {})):
        expected = np.bincount(x, **kw)
        got = gk.bincount(x, **kw)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got.numpy(), expected)
    with pytest.raises(gk.DTypeError):
        gk.bincount(np.zeros(0))  # a float64 array: refused, as NumPy's


# ----------------------------------------------------------------------------------------------------------------
# exploration: python tests/ops/test_numpy_differential_session17.py [N] [names...]


def _signature(call: Call) -> str:
    def one(v: Any) -> str:
        if isinstance(v, np.ndarray):
            return str(v.dtype) + ("" if v.ndim else "0d") + ("e" if v.size == 0 else "")
        if isinstance(v, (list, tuple)) and any(isinstance(i, np.ndarray) for i in v):
            return "[" + ",".join(one(i) for i in v) + "]"
        if isinstance(v, np.generic):
            return "np." + type(v).__name__
        if isinstance(v, (int, float, bool)):
            return type(v).__name__
        return "-"

    return ",".join(one(a) for a in call.args)


def explore(n: int, names: list[str]) -> None:  # pragma: no cover - script use
    dev = "cuda" if gk.default_device().startswith("cuda") else "cpu"
    with gk.device("cpu"):  # as tests/conftest.py runs the device="cuda" cases: the CPU the default device
        _explore(n, names, dev)


def _explore(n: int, names: list[str], dev: str) -> None:  # pragma: no cover - script use
    import collections
    import re

    for name in names:
        spec = SPECS[name]
        found: dict = collections.defaultdict(list)
        raised = 0
        mode = os.environ.get("SESSION17_INPUTS", "tensors")  # or "arrays" (NumPy's own), "lists" (tolist())
        for seed in range(n):
            call = spec.calls(Draw(seed))
            if mode == "lists":
                call = Call(tuple(a.tolist() if isinstance(a, np.ndarray) and a.dtype.kind != "c" else a
                                  for a in call.args), call.kwargs)
            raised += _run(spec.np_fn or getattr(np, name), copy.deepcopy(call.args), copy.deepcopy(call.kwargs))[1] \
                is not None
            for diff in differences(name, spec, call, dev, convert=mode == "tensors"):
                head = re.split(r" != NumPy's | NumPy returns | gradkit returns |, NumPy gives | \(NumPy: ", diff)[0]
                head = re.sub(r"\[[^:]*\]|\(at .*?\)|-?\d+(\.\d+)?(e-?\d+)?|array\(.*", "#", head)[:90]
                found[(_signature(call), head)].append(f"{call!r}: {diff}")
        if raised > n // 2:
            print(f"== {name}: NumPy raised in {raised} of {n} calls")
        for key, items in sorted(found.items()):
            print(f"== {name} [{key[0]}] {key[1]}: {len(items)}x  {items[0][:500]}")
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    explore(int(sys.argv[1]) if len(sys.argv) > 1 else 200, sys.argv[2:] or sorted(SPECS))
