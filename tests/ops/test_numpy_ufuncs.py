"""NumPy's comparison, logical, bitwise and small ufuncs (gradkit/ops/numpy_ufuncs.py).

Values against NumPy over every tensor dtype, broadcasting, 0-d and empty shapes, Python numbers and lists
(where NumPy raises, gradkit raises a GradkitError of the same built-in type); float64 central-difference
gradients, with second derivatives for the smooth ones; the conventions at kinks, infinities and signed zeros;
the names that are gradkit's own functions; errors.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import gradkit as gk

NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
DTYPES = ["bool", "int8", "uint8", "int32", "int64", "float16", "float32", "float64"]
SHAPES = [((3, 4), (3, 4)), ((2, 1, 3), (4, 1)), ((), (3,)), ((0, 3), (3,)), ((2, 3), ()), ((), ())]
UNARY_SHAPES = [(3, 4), (), (0,), (2, 0, 3)]
NUMBERS = [2, -1, 0.5, True]
MIXED = [("int8", "uint8"), ("uint8", "int64"), ("int32", "float16"), ("float16", "float32"), ("float32", "float64"),
         ("bool", "int8"), ("int64", "float32"), ("uint8", "float16"), ("bool", "float64")]  # fmt: skip


def _popcount(x):
    """NumPy 2's bitwise_count, for NumPy 1.x (which has none)."""
    x = np.asarray(x)
    if x.dtype.kind not in "biu":
        raise TypeError(f"bitwise_count: no loop for {x.dtype}")
    out = np.array([bin(abs(int(v))).count("1") for v in x.reshape(-1)], dtype=np.uint8)
    return out.reshape(x.shape)


# NumPy 2's names that NumPy 1.x lacks, by the function they name there
_NUMPY1_NAMES = {"pow": np.power, "bitwise_left_shift": np.left_shift, "bitwise_right_shift": np.right_shift,
                 "bitwise_invert": np.invert, "bitwise_count": _popcount}  # fmt: skip


def _np(name):
    return getattr(np, name, None) or _NUMPY1_NAMES[name]


BINARY = ["equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
          "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift",
          "bitwise_left_shift", "bitwise_right_shift", "gcd", "lcm", "float_power", "ldexp", "nextafter",
          "true_divide", "pow", "divmod"]  # fmt: skip
UNARY = ["logical_not", "invert", "bitwise_not", "bitwise_invert", "bitwise_count", "rint", "positive", "modf", "frexp",
         "spacing", "isposinf", "isneginf", "isreal", "iscomplex", "real", "imag", "conj", "conjugate", "angle",
         "around"]  # fmt: skip


def _values(rng, dtype, shape):
    n = int(np.prod(shape))
    if dtype == "bool":
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    if dtype == "uint8":
        pool = [0, 1, 2, 3, 7, 8, 9, 128, 255]
    elif dtype == "int8":
        pool = [-128, -5, -3, -1, 0, 1, 2, 3, 7, 9, 127]
    elif dtype in ("int32", "int64"):
        pool = [-5, -3, -1, 0, 1, 2, 3, 7, 9, 40, 70]
    else:
        pool = [-2.5, -1.5, -1.0, -0.5, -0.0, 0.0, 0.25, 0.5, 1.5, 2.5, 3.0, np.inf, -np.inf, np.nan]
    return np.array(rng.choice(np.array(pool, dtype=np.float64), n), dtype=dtype).reshape(shape)


def _binary_inputs(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    combos = []
    for dtype in DTYPES:
        for s1, s2 in SHAPES:
            combos.append((_values(rng, dtype, s1), _values(rng, dtype, s2)))
        x = _values(rng, dtype, (3, 4))
        for n in NUMBERS:  # Python numbers beside a shaped array (NumPy 1.x types a 0-d one by value)
            combos += [(x, n), (n, x)]
    for d1, d2 in MIXED:
        combos += [(_values(rng, d1, (3, 4)), _values(rng, d2, (4,))), (_values(rng, d2, (2, 1)), _values(rng, d1, ()))]
    combos += [(a, b) for a, b in itertools.product([3, -2, 0.5, True], repeat=2)]
    combos += [([1, 2, 3], _values(rng, "int8", (3,))), ([0.5, -1.5, 2.5], _values(rng, "float32", (2, 3))),
               ([[1, 0], [2, 3]], [3, 1])]  # fmt: skip
    return combos


def _unary_inputs(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    combos = [(_values(rng, dtype, shape),) for dtype in DTYPES for shape in UNARY_SHAPES]
    return combos + [(3,), (-2.5,), (True,), ([1.5, -0.5],), ([1, 2],)]


def _gk_args(args, device):
    return [gk.tensor(a, device=device) if isinstance(a, np.ndarray) else a for a in args]


LEGACY = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def _as_numpy_2(name, args):
    """The reference's operands under NumPy 1.x, which promotes a 0-d array by its value: gradkit's float
    results have NumPy 2's dtype (docs/API.md), so two operands of a float common dtype go in that dtype
    (not ldexp's: its exponent is an integer, never promoted)."""
    if not LEGACY or name == "ldexp" or len(args) != 2 or not all(isinstance(a, (np.ndarray, np.generic))
                                                                  for a in args):
        return args
    a, b = args
    common = np.promote_types(a.dtype, b.dtype)
    if a.dtype != b.dtype and (a.ndim == 0 or b.ndim == 0) and common.kind in "fc":
        return a.astype(common), b.astype(common)
    return args


def _call(fn, args):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args), None
        except Exception as exc:  # noqa: BLE001 - NumPy's refusal is part of what is compared
            return None, exc


def _mismatch(out, ref, device, on_device=True):
    """A description of how ``out`` (gradkit) differs from ``ref`` (NumPy), or None. Numbers and lists alone give
    tensors on the default device (``on_device`` False), anything else one on the tensors' device."""
    if isinstance(ref, tuple):
        if not isinstance(out, tuple) or len(out) != len(ref):
            return f"expected a tuple of {len(ref)}, got {type(out).__name__}"
        return next((m for o, r in zip(out, ref, strict=True) if (m := _mismatch(o, r, device, on_device))), None)
    ref = np.asarray(ref)
    if not isinstance(out, gk.Tensor):
        return f"expected a Tensor, got {type(out).__name__}"
    if out.device != str(gk.tensor(0, device=device if on_device else None).device):
        return f"on {out.device}"
    if out.shape != ref.shape or out.dtype != ref.dtype:
        return f"shape {out.shape} dtype {out.dtype}, NumPy's {ref.shape} {ref.dtype}"
    got = out.numpy()
    if ref.dtype.kind == "f":
        if device == "cuda":  # a GPU's pow is within a few ulps of NumPy's
            ok = np.allclose(got, ref, rtol=4 * np.finfo(ref.dtype).eps, atol=0, equal_nan=True)
        else:
            ok = np.array_equal(got, ref, equal_nan=True)
        ok = ok and np.array_equal(np.signbit(got) & ~np.isnan(got), np.signbit(ref) & ~np.isnan(ref))
    else:
        ok = np.array_equal(got, ref)
    return None if ok else f"values {got.tolist()}, NumPy's {ref.tolist()}"


def _power_differs(args, device):
    """Where gk.power (so gk.pow) is not np.power: with a Python exponent it follows NumPy's ** operator, whose
    fast paths differ (bool ** 2 is np.square's int8, np.power's int64; -inf ** 0.5 is np.sqrt's NaN, np.power's
    inf; NumPy 1.x's x ** -1 is 1 / x, an ulp from pow's); on CuPy its check for negative integer exponents also
    refuses an empty result, which NumPy computes (and on NumPy 1.x the emulated CuPy's stand-in for integer
    powers types two 0-d operands by value)."""
    a, b = args
    if isinstance(b, (int, float)) and b in (2, 0.5, -1):
        return True
    if device != "cuda" or not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return False
    integers = np.result_type(a, b).kind in "iu"
    return integers and (np.broadcast(a, b).size == 0 or (not NUMPY2 and a.ndim == b.ndim == 0))


KNOWN = {"pow": _power_differs}


def _compare_all(name, combos, device):
    fn, ref_fn = getattr(gk, name), _np(name)
    failures = []
    for args in combos:
        if name in KNOWN and KNOWN[name](args, device):
            continue
        ref, ref_exc = _call(ref_fn, args)
        if LEGACY and (numpy_2 := _as_numpy_2(name, args)) is not args and ref_exc is None:
            # a 0-d operand under NumPy 1.x: the arithmetic operators give NumPy 2's float dtype, the other
            # functions NumPy 1.x's (docs/API.md); either is taken
            out, _ = _call(fn, _gk_args(args, device))
            first = out[0] if isinstance(out, tuple) else out  # divmod: a pair
            if first is not None and first.dtype != (ref[0] if isinstance(ref, tuple) else ref).dtype:
                ref, ref_exc = _call(ref_fn, numpy_2)
        out, exc = _call(fn, _gk_args(args, device))
        where = " and ".join(f"{np.asarray(a).dtype}{np.shape(a)}" if isinstance(a, np.ndarray) else repr(a)
                             for a in args)  # fmt: skip
        if ref_exc is not None:
            builtin = next(c for c in type(ref_exc).__mro__ if c.__module__ == "builtins")
            if builtin is OverflowError:  # a Python int out of the dtype's range: gradkit's InvalidArgumentError
                builtin = ValueError
            if not (isinstance(exc, gk.GradkitError) and isinstance(exc, builtin)):
                failures.append(f"{where}: NumPy raises {type(ref_exc).__name__}, gradkit gives {exc or out!r:.80}")
        elif exc is not None:
            failures.append(f"{where}: gradkit raises {type(exc).__name__}: {exc}")
        elif (problem := _mismatch(out, ref, device, any(isinstance(a, np.ndarray) for a in args))) is not None:
            failures.append(f"{where}: {problem}")
    assert not failures, f"{name}: {len(failures)} of {len(combos)} cases differ:\n" + "\n".join(failures[:12])


@pytest.mark.parametrize("name", BINARY)
def test_binary_values_match_numpy(name, device):
    _compare_all(name, _binary_inputs(name), device)


@pytest.mark.parametrize("name", UNARY)
def test_unary_values_match_numpy(name, device):
    _compare_all(name, _unary_inputs(name), device)


def test_angle_in_degrees_and_the_object_tests(device):
    x = np.array([-2.0, -0.0, 0.0, 3.0, np.nan], np.float32)
    out = gk.angle(gk.tensor(x, device=device), deg=True)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), np.angle(x, deg=True))
    t = gk.tensor([1.0, 2.0], device=device)
    assert gk.isrealobj(t) is True and gk.iscomplexobj(t) is False
    assert gk.iscomplexobj(np.array([1j])) is True and gk.isrealobj(np.array([1j])) is False
    assert gk.iscomplexobj(1j) is True and gk.iscomplexobj([1, 2.5]) is False and gk.isrealobj(3) is True
    assert gk.iscomplexobj([t, 1j]) is True and gk.iscomplexobj([t, t]) is False


# ------------------------------------------------------------------ edges, bit for bit
def _finfo_edges(dtype, device):
    fi = np.finfo(dtype)
    vals = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 3.0, fi.max, -fi.max, fi.eps]
    if not (device == "cuda" and dtype == np.float32):  # a GPU flushes float32 subnormals (spacing(tiny)) to zero
        vals += [fi.tiny, -fi.tiny, fi.smallest_subnormal, -fi.smallest_subnormal, fi.tiny * 0.5]
    return np.array(vals, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_spacing_and_nextafter_at_zeros_infinities_and_extremes(dtype, device):
    x = _finfo_edges(dtype, device)
    y = np.array(list(x[1:]) + [x[0]], dtype=dtype)
    with np.errstate(all="ignore"):
        for out, ref in (
            (gk.spacing(gk.tensor(x, device=device)), np.spacing(x)),
            (gk.nextafter(gk.tensor(x, device=device), gk.tensor(y, device=device)), np.nextafter(x, y)),
            (gk.nextafter(gk.tensor(x, device=device), np.inf), np.nextafter(x, dtype(np.inf))),
            (gk.nextafter(gk.tensor(x, device=device), -np.inf), np.nextafter(x, dtype(-np.inf))),
            (gk.nextafter(gk.tensor(x, device=device), 0.0), np.nextafter(x, dtype(0))),
        ):
            assert out.dtype == ref.dtype
            got = out.numpy()
            assert np.array_equal(np.isnan(got), np.isnan(ref))
            bits = np.dtype(f"i{ref.dtype.itemsize}")
            keep = ~np.isnan(ref)
            np.testing.assert_array_equal(got[keep].view(bits), ref[keep].view(bits))


def test_bitwise_count_of_signed_extremes_and_every_byte(device):
    cases = [np.arange(256, dtype=np.uint8), np.arange(-128, 128, dtype=np.int8),
             np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, -1, 0], np.int64),
             np.array([np.iinfo(np.int32).min, -7, 2**31 - 1], np.int32), np.array([True, False])]  # fmt: skip
    for x in cases:
        out = gk.bitwise_count(gk.tensor(x, device=device))
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out.numpy(), _popcount(x))


def test_bitwise_count_without_numpys_computes_it(device, monkeypatch):
    """NumPy 1.x (and a CuPy without one) has no bitwise_count: the bits are summed here."""
    backend = gk.tensor([1], device=device)._backend
    monkeypatch.delattr(backend.xp, "bitwise_count", raising=False)
    x = np.array([-128, -1, 0, 5, 127], np.int8)
    out = gk.bitwise_count(gk.tensor(x, device=device))
    np.testing.assert_array_equal(out.numpy(), _popcount(x))
    assert gk.bitwise_count(gk.tensor(np.int64(-(2**62)), device=device)).numpy() == 1


def test_comparisons_with_python_ints_beyond_the_dtype(device):
    """NumPy 2 compares a Python int its integer array cannot hold by value (CuPy would raise)."""
    i8 = np.array([-128, -1, 0, 127], np.int8)
    u8 = np.array([0, 200, 255], np.uint8)
    i64 = np.array([np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max])
    for arr, n in ((i8, 300), (i8, -300), (u8, -1), (u8, 256), (i64, 2**70), (i64, -(2**70))):
        t = gk.tensor(arr, device=device)
        for name, op in (("less", int.__lt__), ("greater_equal", int.__ge__), ("equal", int.__eq__),
                         ("not_equal", int.__ne__)):  # fmt: skip
            want = [op(int(v), n) for v in arr]
            np.testing.assert_array_equal(getattr(gk, name)(t, n).numpy(), want)
            np.testing.assert_array_equal(getattr(gk, name)(n, t).numpy(), [op(n, int(v)) for v in arr])


def test_shifts_past_the_width_and_by_negative_counts(device):
    x = np.array([-128, -3, 5, 127], np.int8)
    counts = np.array([0, 7, 8, 9, 100, -1], np.int64)[:, None]
    t, c = gk.tensor(x, device=device), gk.tensor(counts, device=device)
    np.testing.assert_array_equal(gk.left_shift(t, c).numpy(), np.left_shift(x, counts))
    np.testing.assert_array_equal(gk.right_shift(t, c).numpy(), np.right_shift(x, counts))
    assert gk.left_shift(t, c).dtype == np.int64


# ------------------------------------------------------------------ gradients
def _smooth(r, shape, low=0.3, high=2.5):
    """Values away from whole numbers, halves and powers of two (the kinks and jumps of rint, modf, frexp)."""
    x = r.uniform(low, high, shape)
    x = np.where(np.abs(x - np.round(x * 2) / 2) < 0.05, x + 0.11, x)
    return x * np.where(r.random(shape) < 0.5, -1.0, 1.0)


GRAD_CASES = [
    ("float_power", lambda a, b: gk.float_power(a, b), lambda r: [r.uniform(0.5, 2.0, (2, 3)), r.uniform(-1, 2, 3)]),
    ("float_power_number_base", lambda b: gk.float_power(2.5, b), lambda r: [r.uniform(-1, 2, (2, 3))]),
    ("float_power_number_exponent", lambda a: gk.float_power(a, 1.5), lambda r: [r.uniform(0.5, 2.0, 4)]),
    ("float_power_integer_exponent", lambda a: gk.float_power(a, np.array([2, -1, 3])),
     lambda r: [_smooth(r, (2, 3))]),
    ("ldexp", lambda a: gk.ldexp(a, np.array([[-2], [0], [3]], np.int8)), lambda r: [r.standard_normal((3, 4))]),
    ("ldexp_int", lambda a: gk.ldexp(a, 3), lambda r: [r.standard_normal(4)]),
    ("frexp", lambda a: gk.frexp(a)[0], lambda r: [_smooth(r, (3, 4), 0.1, 9.0)]),
    ("modf", lambda a: gk.modf(a), lambda r: [_smooth(r, (3, 4), 0.1, 5.0)]),
    ("divmod", lambda a, b: gk.divmod(a, b), lambda r: [_smooth(r, (2, 3), 0.1, 5.0), r.uniform(0.7, 1.3, 3)]),
    ("true_divide", lambda a, b: gk.true_divide(a, b), lambda r: [r.standard_normal((2, 3)), r.uniform(0.5, 2, 3)]),
    ("pow", lambda a, b: gk.pow(a, b), lambda r: [r.uniform(0.5, 2.0, (2, 3)), r.uniform(-1, 2, (2, 3))]),
    ("positive", lambda a: gk.positive(a), lambda r: [r.standard_normal((2, 3))]),
    ("real_conj", lambda a: gk.real(a) * 2 + gk.conj(a) * gk.conjugate(a), lambda r: [r.standard_normal(5)]),
    ("imag_angle_rint", lambda a: gk.imag(a) + gk.angle(a) + gk.rint(a) + a, lambda r: [_smooth(r, (2, 3))]),
    ("spacing", lambda a: gk.spacing(a) * 1e15 + a, lambda r: [_smooth(r, 6)]),
    ("nextafter", lambda a, b: gk.nextafter(a, b), lambda r: [r.standard_normal((2, 3)), r.standard_normal(3) * 4]),
]
SECOND_ORDER = ["float_power", "float_power_number_base", "ldexp", "frexp", "modf", "pow"]


def _arrays(case):
    return case[2](np.random.default_rng(sum(map(ord, case[0]))))


def _leaves(arrays, device):
    return [gk.tensor(a, device=device, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c[0])
def test_gradients_match_central_differences(case, device):
    assert gk.gradcheck(case[1], _leaves(_arrays(case), device))


@pytest.mark.parametrize("case", [c for c in GRAD_CASES if c[0] in SECOND_ORDER], ids=lambda c: c[0])
def test_second_derivatives_match_central_differences(case, device):
    rng = np.random.default_rng(5)
    us = {}

    def first(*xs):
        outs = case[1](*xs)
        total = 0
        for k, y in enumerate(outs if isinstance(outs, tuple) else (outs,)):
            if y.requires_grad:
                us.setdefault(k, gk.tensor(rng.standard_normal(y.shape), device=device))
                total = total + (y * us[k]).sum()
        return gk.autograd.grad(total, list(xs), create_graph=True)

    assert gk.gradcheck(first, _leaves(_arrays(case), device), atol=1e-4, rtol=1e-3)


def test_slopes_at_the_conventions(device):
    x = gk.tensor([-0.0, 0.0, 2.0, -2.0, np.inf, -1.5], device=device, requires_grad=True)
    parts = [gk.imag(x), gk.angle(x), gk.rint(x), gk.spacing(x), gk.modf(x)[1]]
    sum(p.sum() for p in parts).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(6))  # slope 0, also at 0, the kinks and inf
    x.grad = None
    mantissa, exponent = gk.frexp(x)
    assert exponent.dtype == np.int32 and not exponent.requires_grad
    mantissa.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1, 0.25, 0.25, 1, 0.5])  # 2**-exponent; 1 at 0 and inf
    x.grad = None
    gk.nextafter(x, gk.tensor(0.0, device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(6))


def test_results_and_gradients_keep_their_dtypes(device):
    x = gk.tensor(np.array([0.5, 1.5, 3.0], np.float32), device=device, requires_grad=True)
    y = gk.float_power(x, 2)
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 3.0, 6.0])
    for fn in (gk.positive, gk.conj, gk.real, gk.imag, gk.rint, gk.angle, gk.spacing, lambda t: gk.ldexp(t, 2)):
        assert fn(x).dtype == np.float32
    for cmp in (gk.equal, gk.less, gk.logical_and, gk.gt):
        assert not cmp(x, 1.0).requires_grad
    assert not gk.frexp(gk.tensor([1, 2], device=device))[0].requires_grad


def test_real_is_a_view(device):
    x = gk.tensor([1.0, 2.0], device=device)
    r = gk.real(x)
    x += 1
    np.testing.assert_array_equal(r.numpy(), [2.0, 3.0])
    c = gk.conj(x)
    x += 1
    np.testing.assert_array_equal(c.numpy(), [2.0, 3.0])  # conj copies, as NumPy's ufunc


def test_names_that_are_gradkits_own_functions():
    x = gk.tensor([[1.5, -2.5]], requires_grad=True)
    for numpy_name, own in (("true_divide", gk.divide), ("pow", gk.power)):
        out = getattr(gk, numpy_name)(x, [2.0, 3.0])
        np.testing.assert_array_equal(out.numpy(), own(x, gk.asarray([2.0, 3.0])).numpy())
        assert out.grad_fn.name == own.__name__
    np.testing.assert_array_equal(gk.around(x, 1).numpy(), gk.round(x, 1).numpy())
    assert gk.bitwise_not is gk.invert and gk.bitwise_invert is gk.invert and gk.conj is gk.conjugate
    assert gk.bitwise_left_shift is gk.left_shift and gk.bitwise_right_shift is gk.right_shift
    for torch_name, numpy_name in (("gt", "greater"), ("ge", "greater_equal"), ("lt", "less"), ("le", "less_equal"),
                                   ("eq", "equal"), ("ne", "not_equal")):  # fmt: skip
        assert getattr(gk, torch_name) is getattr(gk, numpy_name)


def test_comparisons_take_the_operators_path(device):
    a = gk.tensor([[1.0, 2.0, 3.0]], device=device)
    b = gk.tensor([[2.0], [3.0]], device=device)
    for fn, op in ((gk.lt, "__lt__"), (gk.le, "__le__"), (gk.gt, "__gt__"), (gk.ge, "__ge__"), (gk.eq, "__eq__"),
                   (gk.ne, "__ne__")):  # fmt: skip
        np.testing.assert_array_equal(fn(a, b).numpy(), getattr(a, op)(b).numpy())
    i = gk.tensor([6, 3], device=device)
    np.testing.assert_array_equal(gk.bitwise_and(i, 5).numpy(), (i & 5).numpy())
    np.testing.assert_array_equal(gk.invert(i).numpy(), (~i).numpy())


# ------------------------------------------------------------------ errors
def test_errors_name_the_function(device):
    f = gk.tensor([1.5, 2.0], device=device)
    i = gk.tensor([1, 2], device=device)
    b = gk.tensor([True, False], device=device)
    cases = [
        (lambda: gk.bitwise_and(f, 1), gk.DTypeError, "bitwise_and"),
        (lambda: gk.left_shift(i, 1.5), gk.DTypeError, "left_shift"),
        (lambda: gk.bitwise_not(f), gk.DTypeError, "invert"),
        (lambda: gk.bitwise_count(f), gk.DTypeError, "bitwise_count"),
        (lambda: gk.gcd(b, b), gk.DTypeError, "gcd"),
        (lambda: gk.lcm(f, i), gk.DTypeError, "lcm"),
        (lambda: gk.ldexp(f, 2.0), gk.DTypeError, "ldexp"),
        (lambda: gk.ldexp(f, f), gk.DTypeError, "ldexp"),
        (lambda: gk.positive(b), gk.DTypeError, "positive"),
        (lambda: gk.equal(f, gk.tensor([1.0, 2.0, 3.0], device=device)), gk.ShapeError, "equal"),
        (lambda: gk.logical_or(f, [1, 2, 3]), gk.ShapeError, "logical_or"),
        (lambda: gk.float_power(f, gk.tensor([1.0, 2.0, 3.0], device=device)), gk.ShapeError, "float_power"),
        (lambda: gk.ldexp(f, gk.tensor([1, 2, 3], device=device)), gk.ShapeError, "ldexp"),
        (lambda: gk.nextafter(f, [1.0, 2.0, 3.0]), gk.ShapeError, "nextafter"),
        (lambda: gk.angle(f, deg="yes"), gk.ArgumentTypeError, "angle"),
    ]
    if NUMPY2:  # NumPy 1.x widens to fit a Python int
        cases.append((lambda: gk.bitwise_and(gk.tensor(np.array([1], np.int8), device=device), 300),
                      gk.InvalidArgumentError, "bitwise_and"))
    for call, error, name in cases:
        with pytest.raises(error, match=name):
            call()
