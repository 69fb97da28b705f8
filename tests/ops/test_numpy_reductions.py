"""NumPy's nansum, nanmean, median, quantile, percentile, average, ptp, count_nonzero, amax/amin, and
its logaddexp, logaddexp2, sinc, deg2rad/rad2deg (radians/degrees), fmod, copysign, heaviside, fabs, signbit.

The op-spec table (op_specs.py) gradchecks every differentiable one (first and second order, both
devices). This file holds the rest: values against NumPy for every dtype (exact on the CPU), median's
and quantile's even counts and ties (an order statistic's gradient is shared among the elements equal
to it), NaN handling, closed-form slopes (softmax weights that never overflow, sinc near 0), the
errors, the Tensor methods, what is read on the host (nothing), and parity with PyTorch when it is
installed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import gradkit as gk

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


def _array(dtype, shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype).kind
    if kind == "f":
        return (rng.standard_normal(shape) * 2).astype(dtype)
    if kind == "b":
        return rng.uniform(size=shape) < 0.5
    if kind == "u":
        return rng.integers(0, 5, shape).astype(dtype)
    return rng.integers(-3, 4, shape).astype(dtype)


def _same(out, expected, device, what=""):
    """Shape and dtype as NumPy's; values bit for bit on the CPU (and on the emulated CuPy, which is
    NumPy), within a few ulps on a real GPU."""
    expected = np.asarray(expected)
    assert isinstance(out, gk.Tensor), what
    assert out.shape == expected.shape, f"{what}: shape {out.shape}, NumPy gives {expected.shape}"
    assert out.dtype == expected.dtype, f"{what}: dtype {out.dtype}, NumPy gives {expected.dtype}"
    import emulated_cupy

    if (device == "cpu" or emulated_cupy.enabled()) or expected.dtype.kind != "f":
        np.testing.assert_array_equal(out.numpy(), expected, err_msg=what)
    else:
        _close(out, expected, what)


def _close(out, expected, what):
    """Within a few ulps of the largest value (an interpolation a + (b - a) w near 0 may cancel)."""
    expected = np.asarray(expected)
    if expected.dtype.kind != "f" and out.dtype.kind != "f":
        np.testing.assert_array_equal(out.numpy(), expected, err_msg=what)
        return
    eps = max(float(np.finfo(d).eps) for d in (out.dtype, expected.dtype) if d.kind == "f")  # the coarser
    scale = float(np.max(np.abs(expected), initial=1.0))
    atol = 4 * eps * scale
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=atol, err_msg=what)


def _t(values, device, dtype=np.float64, requires_grad=True):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


def _grad(f, *xs):
    for x in xs:
        x.grad = None
    f(*xs).sum().backward()
    return [x.grad.numpy() for x in xs]


def _backward_of_each(f, *xs):
    """f's elementwise result back-propagated with ones (not summed first: a sum of inf and -inf warns)."""
    for x in xs:
        x.grad = None
    out = f(*xs)
    out.backward(gk.ones_like(out))
    return xs


# --------------------------------------------------------------------------- values, every dtype
REDUCTIONS = {
    "nansum": [dict(), dict(axis=0), dict(axis=(0, 1), keepdims=True)],
    "nanmean": [dict(), dict(axis=1), dict(axis=-1, keepdims=True)],
    "median": [dict(), dict(axis=0), dict(axis=1), dict(axis=(0, 1), keepdims=True)],
    "ptp": [dict(), dict(axis=1), dict(axis=0, keepdims=True)],
    "amax": [dict(), dict(axis=1, keepdims=True)],
    "amin": [dict(), dict(axis=(0, 1))],
    "average": [dict(), dict(axis=1), dict(axis=0, keepdims=True)],
    "count_nonzero": [dict(), dict(axis=0), dict(axis=(0, 1), keepdims=True)],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions_match_numpy_for_every_dtype(name, dtype, device):
    a = _array(dtype)
    a[1, 2] = a[0, 0]  # a tie
    x = gk.tensor(a, device=device)
    for kw in REDUCTIONS[name]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # ptp of int8 may wrap around, as NumPy's does
            try:
                expected = getattr(np, name)(a, **kw)
            except TypeError:  # ptp of bools: NumPy has no boolean subtract; gradkit says so too
                with pytest.raises(gk.DTypeError, match=name):
                    getattr(gk, name)(x, **kw)
                continue
            out = getattr(gk, name)(x, **kw)
        _same(out, expected, device, f"{name}({dtype}, {kw})")


QUANTILE_QS = [0.3, 0.5, 0.0, 1.0, 1, 0, [0.1, 0.5, 1.0], [0, 1], np.array([0.25, 0.75], np.float32),
               np.array(0.6, np.float64)]
LEGACY = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def numpy2_quantile_dtype(a, q, percentile=False):
    """The dtype NumPy 2 gives np.quantile(a, q) (gradkit's on any NumPy): an integer q picks an element of
    a; a Python number q keeps a float a's dtype; an array q promotes with a."""
    qa = np.asarray(q)
    if qa.dtype.kind in "iu" and not percentile:
        return a.dtype
    if type(q) in (int, float):
        return a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    return np.result_type(a.dtype, qa.dtype if qa.dtype.kind == "f" else np.float64)


# NumPy 1.x and 2.0 to 2.2 differ from today's NumPy in quantile's result dtype for some q, and 2.0 to
# 2.2 interpolate with another arrangement of the same formula (an ulp apart at times): there, values
# are compared to a few ulps and dtypes with NumPy 2.3's rule (gradkit's on every NumPy).
QUANTILE_EXACT = np.lib.NumpyVersion(np.__version__) >= "2.3.0"


@pytest.mark.parametrize("dtype", DTYPES)
def test_quantile_and_percentile_match_numpy_for_every_dtype(dtype, device):
    """Bit for bit as NumPy 2. (NumPy 1.x computed some of these in float64 and made them float64: there
    the values are compared to float rounding, and the dtype is NumPy 2's.)"""
    a = _array(dtype, (4, 5), seed=1)
    x = gk.tensor(a, device=device)
    for q in QUANTILE_QS:
        for kw in (dict(), dict(axis=0), dict(axis=1, keepdims=True), dict(axis=(0, 1))):
            for name, scale in (("quantile", 1), ("percentile", 100)):
                qq = q * scale if not isinstance(q, list) else [v * scale for v in q]
                if type(q) in (int, float):
                    qq = type(q)(qq)
                try:
                    expected = getattr(np, name)(a, qq, **kw)
                except TypeError:  # bools between which NumPy would interpolate (it has no boolean subtract)
                    with pytest.raises(gk.DTypeError, match=f"{name}: cannot interpolate between bools"):
                        getattr(gk, name)(x, qq, **kw)
                    continue
                out, what = getattr(gk, name)(x, qq, **kw), f"{name}({dtype}, {qq!r}, {kw})"
                if QUANTILE_EXACT:
                    _same(out, expected, device, what)
                    continue
                assert out.dtype == numpy2_quantile_dtype(a, qq, name == "percentile"), what
                _close(out, expected, what)


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_functions_match_numpy_for_every_dtype(dtype, device):
    a, b = _array(dtype, seed=2), _array(dtype, seed=3)
    x, y = gk.tensor(a, device=device), gk.tensor(b, device=device)
    with np.errstate(all="ignore"):  # fmod by 0: NumPy warns; gradkit computes the same values
        for name in ("sinc", "deg2rad", "rad2deg", "radians", "degrees", "fabs", "signbit"):
            _same(getattr(gk, name)(x), getattr(np, name)(a), device, f"{name}({dtype})")
        for name in ("logaddexp", "logaddexp2", "fmod", "copysign", "heaviside"):
            try:
                expected = getattr(np, name)(a, b)
            except TypeError:  # NumPy has no loop for this dtype (fmod of bools)
                with pytest.raises(gk.GradkitError, match=name):
                    getattr(gk, name)(x, y)
                continue
            _same(getattr(gk, name)(x, y), expected, device, f"{name}({dtype})")
        if dtype != "bool":  # a Python number on either side, as NumPy 2 takes it (it keeps the tensor's dtype)
            for name in ("logaddexp", "fmod", "copysign", "heaviside"):
                _same(getattr(gk, name)(x, 2), getattr(np, name)(a, np.asarray(2, a.dtype)), device, name)


def test_mixed_dtypes_promote_as_numpy(device):
    a, b = _array("float32"), _array("int16", seed=4)
    x, y = gk.tensor(a, device=device), gk.tensor(b, device=device)
    with np.errstate(invalid="ignore"):  # fmod by 0
        for name in ("logaddexp", "logaddexp2", "fmod", "copysign", "heaviside"):
            _same(getattr(gk, name)(x, y), getattr(np, name)(a, b), device, name)
    w = _array("int8", (4,), seed=5) + 4
    _same(gk.average(x, 1, gk.tensor(w, device=device)), np.average(a, 1, w), device, "average(float32, int8 weights)")
    _same(gk.average(gk.tensor(b, device=device), 1, gk.tensor(w, device=device)), np.average(b, 1, w), device)


def test_integer_and_bool_results_carry_no_gradient(device):
    x = gk.tensor(_array("int32"), device=device)
    for out in (gk.nansum(x), gk.nanmean(x), gk.median(x), gk.quantile(x, 0.5), gk.ptp(x), gk.average(x),
                gk.count_nonzero(x), gk.sinc(x), gk.logaddexp(x, x), gk.heaviside(x, 1), gk.signbit(x)):
        assert not out.requires_grad
    f = _t([[1.0, -2.0], [0.5, 3.0]], device)
    for out in (gk.count_nonzero(f), gk.heaviside(f, 0.5), gk.signbit(f)):
        assert not out.requires_grad and out.grad_fn is None


def test_average_with_a_list_of_weights_follows_gradkits_lists(device):
    """A list of Python floats is a float32 tensor in gradkit (gk.tensor's rule, gk.add's too): a float32 x
    averaged with one stays float32 (NumPy makes the list float64)."""
    a = _array("float32")
    x = gk.tensor(a, device=device)
    out = gk.average(x, 1, [1.0, 2.0, 0.5, 3.0])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), np.average(a, 1, [1.0, 2.0, 0.5, 3.0]), rtol=1e-6)


# --------------------------------------------------------------------------- median and quantile: ties
MEDIAN_GRADIENTS = [
    ([1.0, 2.0, 2.0, 2.0, 5.0], [0, 1 / 3, 1 / 3, 1 / 3, 0]),  # odd, the middle value tied three times
    ([4.0, 1.0, 3.0, 2.0], [0, 0, 0.5, 0.5]),  # even: half to each middle value
    ([1.0, 3.0, 3.0, 7.0], [0, 0.5, 0.5, 0]),  # even, the two middle values equal
    ([3.0, 1.0, 3.0, 2.0, 3.0, 9.0], [1 / 3, 0, 1 / 3, 0, 1 / 3, 0]),  # both middles in a run of three 3s
    ([1.0, 2.0, 3.0, 3.0], [0, 0.5, 0.25, 0.25]),  # the upper middle tied with the maximum
    ([5.0], [1.0]),
    ([2.0, 2.0], [0.5, 0.5]),
]


@pytest.mark.parametrize("values,expected", MEDIAN_GRADIENTS)
def test_median_gradient_goes_to_the_middle_shared_among_ties(values, expected, device):
    x = _t(values, device)
    assert gk.median(x).item() == np.median(values)
    (g,) = _grad(gk.median, x)
    np.testing.assert_allclose(g, expected, rtol=1e-15, atol=0)
    assert g.sum() == pytest.approx(1.0)  # median(x + t) = median(x) + t


def test_median_gradient_along_axes_and_for_permuted_input(device):
    rng = np.random.default_rng(7)
    a = rng.integers(0, 4, (3, 4, 6)).astype(np.float64)  # many ties
    x = _t(a, device)
    for axis in (None, 0, 1, 2, (0, 2)):
        (g,) = _grad(lambda t, axis=axis: gk.median(t, axis=axis), x)
        # per slice the gradient sums to 1, and an element's share depends only on its value
        np.testing.assert_allclose(g.sum(axis=axis), np.ones(np.shape(np.median(a, axis=axis))), rtol=1e-13)
    perm = rng.permutation(a.size)
    y = _t(a.reshape(-1)[perm], device)
    (gx,) = _grad(gk.median, x)
    (gy,) = _grad(gk.median, y)
    np.testing.assert_allclose(gy, gx.reshape(-1)[perm], rtol=1e-15)


def test_quantile_gradient_is_the_interpolation_weights(device):
    x = _t([30.0, 10.0, 50.0, 20.0, 40.0], device)
    (g,) = _grad(lambda t: gk.quantile(t, 0.3), x)  # virtual index 1.2: 0.8 of the 2nd smallest, 0.2 of the 3rd
    np.testing.assert_allclose(g, [0.2, 0, 0, 0.8, 0], rtol=1e-15, atol=1e-16)
    (g,) = _grad(lambda t: gk.quantile(t, [0.3, 0.5, 1.0]), x)  # the sum over the quantiles
    np.testing.assert_allclose(g, [1.2, 0, 1.0, 0.8, 0], rtol=1e-15, atol=1e-16)
    (g,) = _grad(lambda t: gk.percentile(t, 87.5), x)  # 3.5: half of 40, half of 50
    np.testing.assert_allclose(g, [0, 0, 0.5, 0, 0.5], rtol=1e-15)
    q = gk.tensor([0.3, 0.9], device=device, requires_grad=True)
    gk.quantile(x, q).sum().backward()
    assert q.grad is None  # q gets no gradient


def test_quantile_at_0_and_1_is_min_and_max_with_their_gradients(device):
    a = np.array([[2.0, 7.0, 7.0, 1.0], [1.0, 1.0, 5.0, 3.0]])
    x = _t(a, device)
    for q, extreme in ((1.0, gk.max), (0.0, gk.min), (1, gk.max), (0, gk.min)):
        for axis in (None, 1):
            _same(gk.quantile(x, q, axis=axis).detach(), extreme(x, axis=axis).numpy(), "cpu")
            np.testing.assert_array_equal(_grad(lambda t: gk.quantile(t, q, axis=axis), x)[0],
                                          _grad(lambda t: extreme(t, axis=axis), x)[0])


def test_median_is_the_half_quantile(device):
    rng = np.random.default_rng(8)
    a = rng.integers(0, 5, (4, 6)).astype(np.float64)
    x = _t(a, device)
    for axis in (None, 0, 1):
        m, q = gk.median(x, axis=axis), gk.quantile(x, 0.5, axis=axis)
        np.testing.assert_array_equal(m.numpy(), q.numpy())
        np.testing.assert_allclose(_grad(lambda t: gk.median(t, axis=axis), x)[0],
                                   _grad(lambda t: gk.quantile(t, 0.5, axis=axis), x)[0], rtol=1e-15)


def test_quantile_shapes_follow_numpy(device):
    a = np.arange(24.0).reshape(2, 3, 4)
    x = _t(a, device)
    for q in (0.5, [0.5], [0.2, 0.5], [], np.array(0.5)):
        for kw in (dict(), dict(axis=1), dict(axis=(0, 2), keepdims=True), dict(keepdims=True)):
            expected = np.quantile(a, q, **kw)
            out = gk.quantile(x, q, **kw)
            assert out.shape == np.shape(expected), (q, kw)
            np.testing.assert_array_equal(out.numpy(), expected)
    (g,) = _grad(lambda t: gk.quantile(t, [], axis=1) + 0.0, x)  # no quantiles: a zero gradient
    np.testing.assert_array_equal(g, np.zeros_like(a))


def test_quantile_edges_follow_numpy(device):
    with np.errstate(all="ignore"):
        for values, q in (([1.0, np.inf], 1.0), ([1.0, np.inf], 0.5), ([-np.inf, np.inf], 0.5), ([3.0], 0.7),
                          ([1.0, 2.0], 0.5), ([-0.0, 0.0], 0.5), ([1e308, -1e308, 1e308], 0.25)):
            x = _t(values, device)
            _same(gk.quantile(x, q).detach(), np.quantile(np.array(values), q), "cpu", f"quantile({values}, {q})")
            _same(gk.median(x).detach(), np.median(np.array(values)), "cpu", f"median({values})")


# --------------------------------------------------------------------------- NaN
def test_nansum_and_nanmean_skip_nans_and_give_them_no_gradient(device):
    a = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [np.inf, 2.0, np.nan]])
    x = _t(a, device)
    _same(gk.nansum(x, axis=1).detach(), np.nansum(a, axis=1), "cpu")
    (g,) = _grad(lambda t: gk.nansum(t, axis=1), x)
    np.testing.assert_array_equal(g, ~np.isnan(a) * 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmean(a, axis=1)
        _same(gk.nanmean(x, axis=1).detach(), expected, "cpu")
        (g,) = _grad(lambda t: gk.nanmean(t, axis=1), x)
    np.testing.assert_array_equal(g, [[0.5, 0, 0.5], [0, 0, 0], [0.5, 0.5, 0]])  # 0 in the all-NaN row


def test_nanmean_warns_as_numpy_on_the_cpu_only(device):
    x = _t([[np.nan, np.nan], [1.0, 2.0]], device, requires_grad=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = gk.nanmean(x, axis=1)
    messages = [str(w.message) for w in caught]
    if device == "cpu":
        assert messages == ["Mean of empty slice"]  # NumPy's warning
    else:
        assert messages == []  # nothing read back from the device to warn
    np.testing.assert_array_equal(out.numpy(), [np.nan, 1.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gk.nanmean(_t([[np.nan, 1.0]], device), axis=1)  # no empty slice, no warning


@pytest.mark.parametrize("nan_sign", [1.0, -1.0], ids=["nan", "nan with the sign bit"])
def test_median_and_quantile_of_a_slice_with_nan_are_nan_and_route_to_the_nans(nan_sign, device):
    # A NaN with the sign bit: CuPy's radix sort puts it first, not last as NumPy does
    a = np.array([[1.0, np.copysign(np.nan, nan_sign), 3.0, np.nan], [4.0, 1.0, 2.0, 3.0],
                  [5.0, 1.0, np.copysign(np.nan, nan_sign), 3.0]])
    x = _t(a, device)
    for fn, ref in ((gk.median, np.median), (lambda t, axis: gk.quantile(t, [0.2, 0.9], axis=axis),
                                             lambda v, axis: np.quantile(v, [0.2, 0.9], axis=axis))):
        _same(fn(x, axis=1).detach(), ref(a, axis=1), "cpu")
    (g,) = _grad(lambda t: gk.median(t, axis=1), x)
    np.testing.assert_array_equal(g, [[0, 0.5, 0, 0.5], [0, 0, 0.5, 0.5], [0, 0, 1, 0]])  # shared among the NaNs
    (g,) = _grad(lambda t: gk.quantile(t, [0.2, 0.9], axis=1), x)
    np.testing.assert_allclose(g[0], [0, 1.0, 0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(g[2], [0, 0, 2.0, 0], rtol=1e-15)


def test_median_of_no_elements_is_nan_as_numpy(device):
    x = gk.zeros((0, 3), dtype=gk.float64, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "Mean of empty slice"
        _same(gk.median(x, axis=0), np.median(np.zeros((0, 3)), axis=0), "cpu")
        _same(gk.median(x, axis=1), np.median(np.zeros((0, 3)), axis=1), "cpu")
        _same(gk.median(x), np.median(np.zeros((0, 3))), "cpu")


# --------------------------------------------------------------------------- closed forms
def test_logaddexp_slopes_are_the_softmax_weights_and_never_overflow(device):
    a = np.array([0.0, 1.0, -3.0, 1e4, -1e4, 800.0, 2.0])
    b = np.array([0.0, -1.0, 2.0, 1e4 - 2.0, 5.0, -800.0, 2.0 + 1e-12])
    x, y = _t(a, device), _t(b, device)
    _same(gk.logaddexp(x, y).detach(), np.logaddexp(a, b), "cpu")
    gx, gy = _grad(gk.logaddexp, x, y)
    with np.errstate(over="ignore"):
        wa, wa2 = 1 / (1 + np.exp(b - a)), 1 / (1 + 2.0 ** (b - a))
    np.testing.assert_allclose(gx, wa, rtol=1e-14)
    np.testing.assert_allclose(gy, 1 - wa, rtol=1e-14, atol=1e-300)
    gx, gy = _grad(gk.logaddexp2, x, y)
    np.testing.assert_allclose(gx, wa2, rtol=1e-14)
    np.testing.assert_allclose(gy, 1 - wa2, rtol=1e-14, atol=1e-300)
    assert np.isfinite(gx).all() and np.isfinite(gy).all()


def test_logaddexp_of_equal_infinities_has_slope_one_half(device):
    """Two -inf log-probabilities: the value is -inf (as NumPy); the slope is 1/2 each, the limit along
    a = b, where PyTorch gives NaN (which would poison every gradient summed with it)."""
    a = np.array([-np.inf, np.inf, -np.inf, 1.0])
    b = np.array([-np.inf, np.inf, 0.0, -np.inf])
    x, y = _t(a, device), _t(b, device)
    for name in ("logaddexp", "logaddexp2"):
        _same(getattr(gk, name)(x, y).detach(), getattr(np, name)(a, b), "cpu", name)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # and no warning on the way (inf - inf is never computed into a slope)
            gx, gy = [x.grad.numpy() for x in _backward_of_each(getattr(gk, name), x, y)]
        np.testing.assert_array_equal(gx, [0.5, 0.5, 0.0, 1.0])
        np.testing.assert_array_equal(gy, [0.5, 0.5, 1.0, 0.0])


def test_sinc_slope_is_exact_at_and_near_zero(device):
    tiny = np.array([0.0, 1e-300, 1e-12, -1e-8, 3e-5, 1e-3, -0.02, 0.0999999])
    x = _t(tiny, device)
    (g,) = _grad(gk.sinc, x)
    y = np.pi * tiny
    series = sum((-1) ** k * 2 * k * y ** (2 * k - 1) * np.pi / float(math.factorial(2 * k + 1)) for k in range(1, 13))
    np.testing.assert_allclose(g, series, rtol=1e-14, atol=0)
    wide = np.array([0.1000001, 0.3, -0.7, 1.0, 2.5, -13.25, 100.3])
    x = _t(wide, device)
    (g,) = _grad(gk.sinc, x)
    y = np.pi * wide
    np.testing.assert_allclose(g, (y * np.cos(y) - np.sin(y)) / (np.pi * wide**2), rtol=1e-12)
    # continuous across the switch at |x| = 0.1, and sinc''(0) = -pi^2 / 3 (the hessian at 0)
    x = _t([0.1 - 1e-13, 0.1 + 1e-13], device)
    (g,) = _grad(gk.sinc, x)
    assert g[0] == pytest.approx(g[1], rel=1e-13)
    h = gk.hessian(lambda t: gk.sinc(t).sum())(_t([0.0], device))
    assert h.item() == pytest.approx(-math.pi**2 / 3, rel=1e-14)
    assert gk.sinc(_t([0.0], device)).item() == 1.0


def test_degree_conversions_fmod_copysign_and_fabs_slopes(device):
    x = _t([-2.0, 0.5, 3.0], device)
    np.testing.assert_allclose(_grad(gk.deg2rad, x)[0], np.full(3, np.pi / 180), rtol=1e-15)
    np.testing.assert_allclose(_grad(gk.rad2deg, x)[0], np.full(3, 180 / np.pi), rtol=1e-15)
    assert gk.radians is gk.deg2rad and gk.degrees is gk.rad2deg
    a, b = _t([5.5, -5.5, 5.5, -5.5, 0.3], device), _t([2.0, 2.0, -2.0, -2.0, 1.0], device)
    ga, gb = _grad(gk.fmod, a, b)
    np.testing.assert_array_equal(ga, np.ones(5))
    np.testing.assert_array_equal(gb, [-2.0, 2.0, 2.0, -2.0, -0.0])  # -trunc(a / b)
    a, b = _t([0.0, -0.0, 2.0, -2.0, 3.0, -3.0], device), _t([-1.0, 1.0, -1.0, -3.0, -0.0, 0.0], device)
    ga, gb = _grad(gk.copysign, a, b)
    np.testing.assert_array_equal(ga, [0.0, 0.0, -1.0, 1.0, -1.0, -1.0])  # -0.0's sign bit counts, as NumPy's
    np.testing.assert_array_equal(gb, np.zeros(6))
    (ga,) = _grad(lambda t: gk.copysign(t, -1.0), a)
    np.testing.assert_array_equal(ga, [0.0, 0.0, -1.0, 1.0, -1.0, 1.0])
    (g,) = _grad(gk.fabs, a)
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, -1.0, 1.0, -1.0])


def test_average_gradients_in_x_and_weights(device):
    a = np.array([[1.0, 2.0, 4.0], [3.0, -1.0, 0.5]])
    w = np.array([1.0, 3.0, 0.5])
    x, wt = _t(a, device), _t(w, device)
    gx, gw = _grad(lambda s, t: gk.average(s, 1, t), x, wt)
    np.testing.assert_allclose(gx, np.broadcast_to(w / w.sum(), a.shape), rtol=1e-15)
    avg = (a * w).sum(1) / w.sum()
    np.testing.assert_allclose(gw, ((a - avg[:, None]) / w.sum()).sum(0), rtol=1e-14)
    wt.grad = None
    avg_t, total = gk.average(x, 1, wt, returned=True)
    _same(total.detach(), np.average(a, 1, w, returned=True)[1], "cpu")
    total.sum().backward()
    np.testing.assert_array_equal(wt.grad.numpy(), [2.0, 2.0, 2.0])  # the sum, broadcast to 2 rows
    out, count = gk.average(x, axis=0, returned=True)
    _same(count, np.average(a, axis=0, returned=True)[1], "cpu")
    assert not count.requires_grad


def test_ptp_gradient_is_max_minus_min(device):
    x = _t([[1.0, 5.0, 5.0, -2.0], [3.0, 3.0, 3.0, 3.0]], device)
    (g,) = _grad(lambda t: gk.ptp(t, axis=1), x)
    np.testing.assert_array_equal(g, [[0, 0.5, 0.5, -1.0], [0, 0, 0, 0]])  # ties shared; equal values: 0


# --------------------------------------------------------------------------- methods
def test_tensor_methods_are_the_functions(device):
    a = _array("float64", (3, 4), seed=9)
    x, y = gk.tensor(a, device=device), gk.tensor(_array("float64", (4,), seed=10), device=device)
    pairs = [
        (x.nansum(1), gk.nansum(x, 1)), (x.nanmean(keepdims=True), gk.nanmean(x, keepdims=True)),
        (x.median(0), gk.median(x, 0)), (x.quantile([0.2, 0.8], 1), gk.quantile(x, [0.2, 0.8], 1)),
        (x.amax(1), gk.max(x, 1)), (x.amin(axis=0, keepdims=True), gk.min(x, 0, True)),
        (x.count_nonzero(1, keepdims=True), gk.count_nonzero(x, 1, keepdims=True)),
        (x.logaddexp(y), gk.logaddexp(x, y)), (x.logaddexp2(y), gk.logaddexp2(x, y)), (x.sinc(), gk.sinc(x)),
        (x.deg2rad(), gk.deg2rad(x)), (x.rad2deg(), gk.rad2deg(x)), (x.fmod(y), gk.fmod(x, y)),
        (x.copysign(y), gk.copysign(x, y)), (x.heaviside(y), gk.heaviside(x, y)), (x.signbit(), gk.signbit(x)),
    ]
    for method, function in pairs:
        _same(method, function.numpy(), device)
    with pytest.raises(TypeError):
        x.count_nonzero(1, True)  # keepdims is keyword-only, as NumPy's


# --------------------------------------------------------------------------- errors
def test_errors_name_the_op(device):
    x = _t(np.arange(12.0).reshape(3, 4), device)
    b = gk.tensor(np.array([True, False]), device=device)
    cases = [
        (gk.InvalidArgumentError, r"quantile: q must be in \[0, 1\], got 1.5", lambda: gk.quantile(x, 1.5)),
        (gk.InvalidArgumentError, r"quantile: q must be in \[0, 1\], got \[0.5, -0.1\]",
         lambda: gk.quantile(x, [0.5, -0.1])),
        (gk.InvalidArgumentError, r"quantile: q must be in \[0, 1\], got nan", lambda: gk.quantile(x, float("nan"))),
        (gk.InvalidArgumentError, r"percentile: q must be in \[0, 100\], got 101", lambda: gk.percentile(x, 101)),
        (gk.InvalidArgumentError, r"quantile: q must be in \[0, 1\]",
         lambda: gk.quantile(x, gk.tensor([2.0], device="cpu"))),
        (gk.ShapeError, "quantile: q must be a number or 1-d, got shape", lambda: gk.quantile(x, [[0.5]])),
        (gk.ArgumentTypeError, "quantile: q must be a number", lambda: gk.quantile(x, "0.5")),
        (gk.ArgumentTypeError, "quantile: q must be a number", lambda: gk.quantile(x, True)),
        (gk.DTypeError, "percentile: q must be numbers", lambda: gk.percentile(x, [True])),
        (gk.InvalidArgumentError, "quantile: only method='linear'", lambda: gk.quantile(x, 0.5, method="nearest")),
        (gk.ArgumentTypeError, "percentile: method must be a str", lambda: gk.percentile(x, 5, method=None)),
        (gk.DTypeError, "quantile: cannot interpolate between bools", lambda: gk.quantile(b, 0.5)),
        (gk.ShapeError, "quantile: no quantiles of an empty selection",
         lambda: gk.quantile(gk.zeros((0, 2), device=device), 0.5)),
        (gk.IndexOutOfRangeError, "quantile: axis 2 is out of range", lambda: gk.quantile(x, 0.5, axis=2)),
        (gk.ArgumentTypeError, "percentile: keepdims must be True or False",
         lambda: gk.percentile(x, 5, keepdims="no")),
        (gk.IndexOutOfRangeError, "median: axis -3 is out of range", lambda: gk.median(x, axis=-3)),
        (gk.InvalidArgumentError, "median: repeated axis", lambda: gk.median(x, axis=(0, 0))),
        (gk.IndexOutOfRangeError, "nansum: axis 5", lambda: gk.nansum(x, 5)),
        (gk.ArgumentTypeError, "nanmean: keepdims must be True or False", lambda: gk.nanmean(x, keepdims=None)),
        (gk.ArgumentTypeError, "count_nonzero: axis must be an int", lambda: gk.count_nonzero(x, axis=1.0)),
        (gk.DTypeError, "ptp: not defined for a bool tensor", lambda: gk.ptp(b)),
        (gk.ShapeError, "ptp: reducing axes", lambda: gk.ptp(gk.zeros((0, 2), device=device), axis=0)),
        (gk.ShapeError, "average: weights of shape .* give the axis", lambda: gk.average(x, weights=[1.0, 2.0])),
        (gk.ShapeError, r"average: weights must have x's shape \(3, 4\) or its shape \(4,\) along axis 1",
         lambda: gk.average(x, 1, [1.0, 2.0])),
        (gk.ShapeError, r"its shape \(3, 4\) along axis \(0, 1\)", lambda: gk.average(x, (0, 1), np.ones((4, 3)))),
        (gk.InvalidArgumentError, "average: the weights sum to zero", lambda: gk.average(x, 1, [1.0, -1.0, 0.0, 0.0])),
        (gk.ArgumentTypeError, "average: returned must be True or False", lambda: gk.average(x, returned="yes")),
        (gk.ShapeError, r"logaddexp: shapes \(3, 4\) and \(3,\) do not broadcast", lambda: gk.logaddexp(x, x[:, 0])),
        (gk.ShapeError, "fmod: shapes", lambda: gk.fmod(x, x[:, 0])),
        (gk.ShapeError, "copysign: shapes", lambda: gk.copysign(x, x[:2])),
        (gk.ShapeError, "heaviside: shapes", lambda: gk.heaviside(x, x[:, :2])),
        (gk.ArgumentTypeError, "heaviside: expected at least one Tensor", lambda: gk.heaviside([1.0], [0.5])),
    ]
    if device == "cpu":  # the zero-sum check reads the weights: on a GPU it is left out (the result is inf/NaN)
        cases.append((ZeroDivisionError, "weights sum to zero", lambda: gk.average(x, 0, np.zeros(3))))
    for error, message, call in cases:
        if device != "cpu" and "sum to zero" in message:
            continue
        with pytest.raises(error, match=message):
            call()


def test_q_on_the_device_is_not_read_back(device):
    """A q tensor on the GPU would have to be read back to be checked: out-of-range entries give NaN
    there instead, and an integer q there is refused (it could not be NaN)."""
    if device == "cpu":
        pytest.skip("a q tensor on the CPU is read and checked (above)")
    x = _t(np.arange(12.0).reshape(3, 4), device)
    out = gk.quantile(x, gk.tensor([0.5, 1.5, -0.1, float("nan"), 1.0], device=device), axis=1)
    expected = np.full((5, 3), np.nan)
    expected[0], expected[4] = np.quantile(np.arange(12.0).reshape(3, 4), [0.5, 1.0], axis=1)
    np.testing.assert_array_equal(out.numpy(), expected)
    out.sum().backward()  # the NaN rows contribute nothing (not NaN) to the gradient
    assert np.isfinite(x.grad.numpy()).all()
    with pytest.raises(gk.DTypeError, match="quantile: a q tensor on cuda.* must be floating point"):
        gk.quantile(x, gk.tensor([0, 1], device=device))
    with pytest.raises(gk.DeviceError, match="quantile: x is on cpu"):
        gk.quantile(gk.tensor([1.0, 2.0], device="cpu"), gk.tensor([0.5], device=device))


# --------------------------------------------------------------------------- host reads
def _refuse_host_reads(monkeypatch):
    from emulated_cupy import core

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)


def test_forward_and_backward_read_nothing_on_the_host(device, monkeypatch):
    """No host read, forward or backward, in any of these ops (a q given on the host is used as Python
    numbers, a q tensor on the device stays there): they can be captured in a CUDA graph."""
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    a = np.array([[1.5, np.nan, 2.0, -1.0], [0.5, 1.0, 0.0, 0.0], [2.0, 1.0, 3.0, 4.0]])
    x = gk.tensor(a, device=device, requires_grad=True)
    y = gk.tensor(np.nan_to_num(a), device=device, requires_grad=True)
    w = gk.tensor(np.array([1.0, 2.0, 0.5, 3.0]), device=device, requires_grad=True)
    q = gk.tensor(np.array([0.25, 0.6]), device=device)
    _refuse_host_reads(monkeypatch)
    outs = [gk.nansum(x, 1), gk.nanmean(x, 0), gk.nanmean(x), gk.median(y, 1), gk.median(x), gk.quantile(y, 0.3),
            gk.quantile(y, [0.1, 0.9], axis=0), gk.quantile(x, q, axis=1), gk.percentile(y, q * 100.0),
            gk.percentile(y, 40), gk.average(y, 1, w), gk.average(y, 1, w, returned=True)[1], gk.average(y),
            gk.ptp(y, 0), gk.amax(y, 1), gk.amin(y), gk.logaddexp(y, w), gk.logaddexp2(y, 1.0), gk.sinc(y),
            gk.deg2rad(y), gk.rad2deg(y), gk.fmod(y, w), gk.copysign(y, w), gk.fabs(y)]
    total = outs[0].sum()
    for out in outs[1:]:
        total = total + out.sum()
    total.backward()
    for out in (gk.count_nonzero(y, 1), gk.heaviside(y, 0.5), gk.signbit(y)):
        assert out.shape
    assert x.grad is not None and y.grad is not None and w.grad is not None


# --------------------------------------------------------------------------- PyTorch parity
def test_parity_with_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    a = rng.standard_normal((4, 5))
    b = rng.standard_normal((5,)) * 3

    def both(fn_gk, fn_torch, *arrays):
        xs = [gk.tensor(v, requires_grad=True) for v in arrays]
        ts = [torch.tensor(v, requires_grad=True) for v in arrays]
        out, ref = fn_gk(*xs), fn_torch(*ts)
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-13, atol=1e-15)
        cot = rng.standard_normal(out.shape)
        (out * gk.tensor(cot)).sum().backward()
        (ref * torch.tensor(cot)).sum().backward()
        for x, t in zip(xs, ts, strict=True):
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-14)

    both(gk.logaddexp, torch.logaddexp, a, b)
    both(gk.logaddexp2, torch.logaddexp2, a * 100, b * 100)
    both(lambda x: gk.quantile(x, [0.1, 0.5, 0.77], axis=1),
         lambda t: torch.quantile(t, torch.tensor([0.1, 0.5, 0.77], dtype=torch.float64), dim=1), a)
    both(lambda x: gk.quantile(x, 0.35), lambda t: torch.quantile(t, 0.35), a)
    nan = np.where(rng.uniform(size=a.shape) < 0.3, np.nan, a)
    nan[:, 0] = 1.0  # no slice of NaNs only (PyTorch's nanmean slope is NaN there, gradkit's 0)
    both(lambda x: gk.nansum(x, 1), lambda t: torch.nansum(t, 1), nan)
    both(lambda x: gk.nanmean(x, 1), lambda t: torch.nanmean(t, 1), nan)
    odd = rng.standard_normal((3, 5))
    both(lambda x: gk.median(x, 1), lambda t: torch.median(t, 1).values, odd)  # odd counts: the same middle
    both(lambda x: gk.fmod(x, 0.7), lambda t: torch.fmod(t, 0.7), a * 3)
    both(gk.fmod, torch.fmod, a * 3, b)
    both(gk.copysign, torch.copysign, a, b)
    both(gk.sinc, torch.sinc, a * 2)
    both(gk.deg2rad, torch.deg2rad, a * 90)
    both(gk.rad2deg, torch.rad2deg, a)
    both(lambda x: gk.amax(x, 1), lambda t: torch.amax(t, 1), a)
    both(lambda x: gk.amin(x, (0, 1)), lambda t: torch.amin(t, (0, 1)), a)
    # median's ties: PyTorch's median() shares the gradient among the elements equal to the median, as here
    ties = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 9.0, 0.0])
    both(gk.median, torch.median, ties)
    x = gk.tensor(a)
    t = torch.tensor(a)
    np.testing.assert_array_equal(gk.count_nonzero(x > 0, axis=1).numpy(), torch.count_nonzero(t > 0, dim=1).numpy())
    np.testing.assert_array_equal(gk.heaviside(x, gk.tensor(0.5)).numpy(),
                                  torch.heaviside(t, torch.tensor(0.5, dtype=torch.float64)).numpy())
    np.testing.assert_array_equal(gk.signbit(x).numpy(), torch.signbit(t).numpy())
