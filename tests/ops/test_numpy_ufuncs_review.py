"""Review of gradkit/ops/numpy_ufuncs.py, as a NumPy user porting code: gradients where an input is used twice or
beside NumPy arrays, lists and numbers; results that do not require grad; devices; the bits path that CuPy takes
checked on NumPy too; the fixes (two Python numbers typed as NumPy types them, ldexp's Python int exponent,
around of bools, errors naming the function called).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradkit as gk
import gradkit.ops.numpy_ufuncs as ufuncs

NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _t(a, device, requires_grad=False):
    return gk.tensor(np.asarray(a), device=device, requires_grad=requires_grad)


def _smooth(rng, shape, low=0.3, high=2.5):
    """Away from whole numbers and halves (the jumps of modf, divmod and frexp)."""
    x = rng.uniform(low, high, shape)
    x = np.where(np.abs(x - np.round(x * 2) / 2) < 0.05, x + 0.11, x)
    return x * np.where(rng.random(shape) < 0.5, -1.0, 1.0)


# ------------------------------------------------------------------ gradients
def _cases(device):
    exponent = _t(np.array([[1], [-2]]), device)
    return {
        "float_power_of_itself": (lambda x: gk.float_power(x, x), lambda r: [np.abs(_smooth(r, (2, 3)))]),
        "float_power_both_broadcast": (gk.float_power, lambda r: [np.abs(_smooth(r, (2, 1, 3))), _smooth(r, (4, 1))]),
        "float_power_list_exponent": (lambda x: gk.float_power(x, [1.5, 2.0, -0.5]), lambda r: [r.uniform(0.5, 2, 3)]),
        "ldexp_broadcast_x1": (lambda x: gk.ldexp(x, exponent) * x, lambda r: [r.standard_normal(3)]),
        "ldexp_bool_exponent": (lambda x: gk.ldexp(x, np.array([True, False, True])), lambda r: [r.standard_normal(3)]),
        "nextafter_of_itself": (lambda x: gk.nextafter(x, x) * x, lambda r: [r.standard_normal(4)]),
        "nextafter_broadcast": (gk.nextafter, lambda r: [r.standard_normal(3), r.standard_normal((2, 1))]),
        "nextafter_number_first": (lambda y: gk.nextafter(1.5, y) * y, lambda r: [r.standard_normal(3)]),
        "modf_both_parts": (lambda x: gk.modf(x)[0] * 3 + gk.modf(x)[1] * x, lambda r: [_smooth(r, 4, 0.1, 5)]),
        "frexp_times_input": (lambda x: gk.frexp(x)[0] * x, lambda r: [_smooth(r, 5, 0.1, 9)]),
        "frexp_0d": (lambda x: gk.frexp(x)[0], lambda r: [_smooth(r, (), 0.1, 9)]),
        "divmod_both_parts": (
            lambda a, b: gk.divmod(a, b)[1] * gk.divmod(a, b)[0],
            lambda r: [_smooth(r, (2, 3), 0.1, 5), r.uniform(0.7, 1.3, 3)],
        ),
        "divmod_number_first": (lambda b: gk.divmod(3.3, b)[1], lambda r: [r.uniform(0.7, 1.3, 3)]),
        "true_divide_list_first": (lambda x: gk.true_divide([1.0, 2.0, 3.0], x), lambda r: [r.uniform(0.5, 2, (2, 3))]),
        "real_imag_conj_positive": (
            lambda x: gk.real(x) * gk.real(x) + gk.imag(x) + gk.conjugate(x) * gk.positive(x),
            lambda r: [r.standard_normal(3)],
        ),
        "around_angle_spacing": (
            lambda x: gk.around(x, 1) + gk.angle(x, deg=True) + gk.spacing(x) * 1e15 + x * x,
            lambda r: [_smooth(r, 4)],
        ),
    }


CASES = list(_cases("cpu"))


@pytest.mark.parametrize("name", CASES)
def test_gradients_match_central_differences_with_inputs_used_twice(name, device):
    fn, make = _cases(device)[name]
    leaves = [_t(a, device, True) for a in make(np.random.default_rng(sum(map(ord, name))))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert gk.gradcheck(fn, leaves)


SECOND_ORDER = ["float_power_of_itself", "ldexp_broadcast_x1", "frexp_times_input", "modf_both_parts"]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_derivatives_match_central_differences(name, device):
    fn, make = _cases(device)[name]

    def first(*xs):
        y = fn(*xs)
        return gk.autograd.grad((y * y).sum(), list(xs), create_graph=True)

    leaves = [_t(a, device, True) for a in make(np.random.default_rng(3))]
    assert gk.gradcheck(first, leaves, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_gradients_come_back_in_the_inputs_dtype(dtype, device):
    x = _t(np.array([0.75, 1.5, 3.0], dtype), device, True)
    wide = np.array([1.0, 2.0, 4.0])
    outs = [gk.nextafter(x, wide), gk.nextafter(x, _t(wide, device)), gk.float_power(x, 2.0), gk.frexp(x)[0],
            gk.modf(x)[0], gk.divmod(x, np.float64(0.5))[1], gk.true_divide(x, wide),
            gk.ldexp(x, _t(np.array([1, 2, 3]), device))]  # fmt: skip
    for y in outs:
        x.grad = None
        y.sum().backward()
        assert x.grad.dtype == x.dtype and x.grad.device == x.device


def test_vmap_of_grad_is_the_batched_gradient(device):
    x = _t(np.array([[0.7, 1.3, 2.2], [1.1, 0.6, 1.9]]), device)
    e = np.array([1, -2, 3])
    for f in (lambda v: gk.float_power(v, 1.5).sum(), lambda v: (gk.ldexp(v, e) * v).sum(),
              lambda v: (gk.frexp(v)[0] * v).sum(), lambda v: (gk.nextafter(v, 0.0) * v).sum()):  # fmt: skip
        batched = gk.func.vmap(gk.func.grad(f))(x)
        np.testing.assert_allclose(batched.numpy(), gk.func.grad(f)(x).numpy())


# ------------------------------------------------------------------ what requires grad, devices
UNARY = ["logical_not", "invert", "bitwise_count", "rint", "positive", "modf", "frexp", "spacing", "isposinf",
         "isneginf", "isreal", "iscomplex", "real", "imag", "conj", "angle", "around"]  # fmt: skip
BINARY = ["equal", "less", "logical_xor", "bitwise_and", "left_shift", "gcd", "float_power", "ldexp", "nextafter",
          "true_divide", "pow", "divmod"]  # fmt: skip


def _results(name, args):
    try:
        with np.errstate(all="ignore"):
            out = getattr(gk, name)(*args)
    except gk.GradkitError:
        return ()
    return out if isinstance(out, tuple) else (out,)


def test_only_float_results_of_recorded_functions_require_grad(device):
    x = _t([0.5, -1.5, 2.0], device, True)
    for name in UNARY + BINARY:
        for args in [(x,)] if name in UNARY else [(x, x), (x, 2), (2.0, x), (x, np.array([1, 2, 3]))]:
            for k, y in enumerate(_results(name, args)):
                first_of_divmod = name == "divmod" and k == 0  # the quotient is a step, as floor_divide
                assert y.requires_grad == (y.dtype.kind == "f" and not first_of_divmod), (name, args, k)
                assert y.device == x.device, name
    with gk.no_grad():
        for name in UNARY + BINARY:
            assert not any(y.requires_grad for y in _results(name, (x,) if name in UNARY else (x, x))), name


def test_numpy_arrays_and_lists_go_to_the_tensors_device_and_devices_do_not_mix(device):
    t = _t([1.0, 2.0, 3.0], device)
    for name in BINARY:
        for args in ((t, np.array([1, 2, 3])), ([1, 2, 3], t), (t, 2)):
            assert all(y.device == t.device for y in _results(name, args)), name
    if device == "cpu":
        return
    cpu = gk.tensor([1.0, 2.0, 3.0], device="cpu")
    for name in ("equal", "float_power", "nextafter", "true_divide", "pow", "divmod"):
        with pytest.raises(gk.DeviceError, match="different devices"):
            getattr(gk, name)(cpu, t)
    with pytest.raises(gk.DeviceError, match="ldexp"):
        gk.ldexp(t, gk.tensor([1, 2, 3], device="cpu"))


def test_real_is_a_view_that_shares_the_version_counter(device):
    x = _t([1.0, 2.0, 3.0], device, True)
    h = x * 1
    r = gk.real(h)
    loss = (r * r).sum()
    with gk.no_grad():
        h.mul_(2)
    with pytest.raises(gk.AutogradError, match="modified in place"):
        loss.backward()


# ------------------------------------------------------------------ the bits path (CuPy's) on NumPy too
class _NotNumpy:
    """NumPy under another identity: numpy_ufuncs takes the bits path it takes for CuPy."""

    def __getattr__(self, name):
        return getattr(np, name)


def test_bits_path_matches_numpy_on_the_host(monkeypatch):
    values = []
    for dtype in (np.float16, np.float32, np.float64):
        fi = np.finfo(dtype)
        v = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 3.0, -2.0, fi.max, -fi.max, fi.tiny, -fi.tiny,
             fi.smallest_subnormal, -fi.smallest_subnormal, fi.eps]  # fmt: skip
        values.append(np.array(v, dtype))
    values += [np.arange(-3, 4, dtype=np.int8), np.array([True, False]), np.array([5, -7], np.int64)]
    with np.errstate(all="ignore"):
        want_spacing = [np.spacing(v) for v in values]
        want_next = [np.nextafter(v, np.roll(v, 1)) for v in values] + [np.nextafter(v, v) for v in values]
        want_next += [np.nextafter(v, 1e300) for v in values[:2]]
    monkeypatch.setattr(ufuncs, "np", _NotNumpy())
    tensors = [gk.tensor(v, device="cpu") for v in values]
    with np.errstate(all="ignore"):
        got_spacing = [gk.spacing(t) for t in tensors]
        rolled = [gk.tensor(np.roll(v, 1), device="cpu") for v in values]
        got_next = [gk.nextafter(t, r) for t, r in zip(tensors, rolled, strict=True)]
        got_next += [gk.nextafter(t, t) for t in tensors] + [gk.nextafter(t, 1e300) for t in tensors[:2]]
    for got, want in zip(got_spacing + got_next, want_spacing + want_next, strict=True):
        assert got.dtype == want.dtype
        g = got.numpy()
        np.testing.assert_array_equal(np.isnan(g), np.isnan(want))
        keep = ~np.isnan(want)
        bits = np.dtype(f"i{want.dtype.itemsize}")
        np.testing.assert_array_equal(g[keep].view(bits), want[keep].view(bits))


# ------------------------------------------------------------------ fixes
def test_two_python_numbers_are_typed_as_numpy_types_them():
    with np.errstate(over="ignore"):
        for args in ((2, 2**40), (2.5, 2**40), (2, 3), (True, 3)):
            out = gk.ldexp(*args)
            want = np.ldexp(*args)
            assert out.dtype == want.dtype and out.numpy() == want
    if NUMPY2:  # an int beyond int64 stays a number (NumPy 1.x makes an object array and refuses it)
        assert gk.nextafter(1, 2**70).dtype == np.nextafter(1, 2**70).dtype
    for args in ((np.float32(1), 2), (2, np.int64(2**40))):  # NumPy 2: a Python number beside a NumPy scalar is weak
        assert gk.nextafter(*args).dtype == np.nextafter(*args).dtype


@pytest.mark.skipif(not NUMPY2, reason="NumPy 1.x takes a Python int exponent as int64")
def test_ldexp_python_int_exponent_beyond_a_c_int_names_the_exponent(device):
    x = _t(np.array([1, 2], np.int8), device)
    for a in (x, x.astype(gk.float32), np.float64(1.5)):
        with pytest.raises(gk.InvalidArgumentError, match="ldexp: the exponent 2147483648 does not fit"):
            gk.ldexp(a, 2**31)
    with np.errstate(over="ignore"):
        assert gk.ldexp(x, np.int64(2**31)).numpy().tolist() == [np.inf, np.inf]  # a wider exponent, as NumPy


def test_around_of_bools_as_numpy(device):
    b = _t([True, False], device)
    assert gk.around(b).dtype == np.float16
    for decimals in (1, -1):
        with pytest.raises(gk.DTypeError, match="around: not defined for a bool tensor"):
            gk.around(b, decimals)
        with pytest.raises(TypeError):
            np.around(np.array([True, False]), decimals)
    with pytest.raises(gk.ArgumentTypeError, match="around: decimals must be an int"):
        gk.around(b, 1.5)


def test_errors_name_the_numpy_function_called(device):
    f = _t([1.5, 2.0], device)
    for name, inner in (("divmod", "floor_divide"), ("true_divide", "divide"), ("pow", "power")):
        with pytest.raises(gk.ShapeError, match=f"^{name}: {inner}: shapes"):
            getattr(gk, name)(f, [1.0, 2.0, 3.0])
    with pytest.raises(gk.DTypeError, match="^divmod: "):
        gk.divmod(f, np.array(["a"]))


def test_logical_not_and_invert_read_lists_as_numpy():
    assert bool(gk.logical_not([1e-300]).numpy()[0]) is False  # float64, not float32 (where 1e-300 is 0)
    np.testing.assert_array_equal(gk.invert([1, 2]).numpy(), np.invert([1, 2]))
    assert gk.bitwise_not is gk.invert and gk.bitwise_invert is gk.invert
