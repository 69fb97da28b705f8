"""NumPy's nanmedian, nanquantile and nanpercentile: the order statistics of the values that are not NaN.

The op-spec table (op_specs.py) gradchecks them (first and second order, both devices) on data without
ties or slices of NaNs only. This file holds the rest: values and dtypes against NumPy (bit for bit on
the CPU and the emulated CuPy) on random data with NaNs of both signs (CuPy's radix sort puts a NaN with
the sign bit first), slices of NaNs only, NumPy's two nanmedian paths, integer and bool inputs; the
gradients (central differences, closed forms with ties and NaNs, a slice of NaNs only); the warning;
a q tensor on the device; what is read on the host (nothing); the errors; and parity with PyTorch.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings

import numpy as np
import pytest

import gradkit as gk

NEG_NAN = np.copysign(np.nan, -1.0)  # a NaN with the sign bit
QS = [0.3, 0.5, 0.0, 1.0, 1, 0, [0.1, 0.5, 1.0], [0, 1], [], np.array([0.25, 0.75], np.float32),
      np.array(0.6, np.float64), np.array([0.9, 0.05], np.float16)]
# NumPy 2.3 changed how quantile's result dtype and interpolation are computed (see test_numpy_reductions.py)
EXACT = np.lib.NumpyVersion(np.__version__) >= "2.3.0"


def _emulated():
    import emulated_cupy

    return emulated_cupy.enabled()


def _same(out, expected, device, what=""):
    """Shape and dtype as NumPy's; values bit for bit on the CPU and on the emulated CuPy (NaN where NumPy
    has NaN), within a few ulps of the largest value on a real GPU."""
    expected = np.asarray(expected)
    assert isinstance(out, gk.Tensor), what
    assert out.shape == expected.shape, f"{what}: shape {out.shape}, NumPy gives {expected.shape}"
    assert out.dtype == expected.dtype, f"{what}: dtype {out.dtype}, NumPy gives {expected.dtype}"
    got = out.numpy()
    if device == "cpu" or _emulated() or expected.dtype.kind != "f":
        np.testing.assert_array_equal(got, expected, err_msg=what)
        return
    eps = float(np.finfo(expected.dtype).eps)
    scale = float(np.max(np.abs(expected[np.isfinite(expected)]), initial=1.0))
    np.testing.assert_allclose(got, expected, rtol=0, atol=4 * eps * scale, err_msg=what)


def _like_numpy(out, expected, device, what="", q=None):
    """_same on NumPy 2.3 and newer. Older NumPy made some of these results in another dtype (float64
    for an integer x or a float16 q, for one) and rounded differently: there, the values agree to
    a few ulps of the coarser dtype, NaNs and infinities alike, and the dtype is gradkit's rule
    (NumPy 2.3's), checked by _same on a current NumPy."""
    if EXACT:
        _same(out, expected, device, what)
        return
    expected = np.asarray(expected)
    got = out.numpy()
    assert got.shape == expected.shape, what
    q_dtype = getattr(q, "dtype", None)  # a float16 q rounds the interpolation weights
    floats = [d for d in (got.dtype, expected.dtype, q_dtype) if d is not None and d.kind == "f"]
    eps = max((float(np.finfo(d).eps) for d in floats), default=0.0)
    scale = float(np.max(np.abs(expected[np.isfinite(expected)]), initial=1.0)) if expected.size else 1.0
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=4 * eps,
                               atol=4 * eps * scale, err_msg=what)  # fmt: skip


def _with_nans(shape, dtype, seed, rate=0.45):
    """Random values with NaNs of both signs, a slice of NaNs only along every axis (the last index of
    axis 0, and the last of the last axis), and a value at index 0 (NumPy's nanquantile takes its result
    dtype from the first slice: x's own when that slice is all NaN, see test_dtype_never_depends_...)."""
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.standard_normal(shape) * 2).astype(dtype)
    pick = np.asarray(rng.uniform(size=shape) < rate)
    sign = np.asarray(rng.uniform(size=shape) < 0.5)
    a[pick & sign] = np.nan
    a[pick & ~sign] = NEG_NAN
    if a.ndim >= 2:
        a[-1] = NEG_NAN
        a[..., -1] = np.nan
    a.flat[0] = 1.5
    return a


def _axes(ndim):
    out = [None, ()] + list(range(ndim)) + [-1] * (ndim > 0)
    out += [c for r in range(2, ndim + 1) for c in itertools.combinations(range(ndim), r)]
    return out


def _scaled(q, scale):
    if isinstance(q, list):
        return [v * scale for v in q]
    return type(q)(q * scale) if type(q) in (int, float) else q * scale


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "All-NaN slice encountered", gradkit's too
        yield


# --------------------------------------------------------------------------- values
SHAPES = [(9,), (4, 7), (3, 4, 5), (5, 1, 6), ()]


def test_data_has_what_the_tests_need():
    a = _with_nans((4, 7), np.float32, 0)
    assert np.isnan(a).any() and np.signbit(a[np.isnan(a)]).any() and (~np.signbit(a[np.isnan(a)])).any()
    assert np.isnan(a).all(axis=0).any() and np.isnan(a).all(axis=1).any()
    b = np.isnan(_with_nans((3, 4, 5), np.float16, 1))
    assert b.all(axis=(1, 2)).any() and b.all(axis=0).any() and b.all(axis=(0, 1)).any()


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_nanmedian_matches_numpy(dtype, device):
    for seed, shape in enumerate(SHAPES):
        a = _with_nans(shape, dtype, seed)
        x = gk.tensor(a, device=device)
        for axis, keepdims in itertools.product(_axes(a.ndim), (False, True)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = np.nanmedian(a, axis=axis, keepdims=keepdims)
                out = gk.nanmedian(x, axis=axis, keepdims=keepdims)
            _same(out, expected, device, f"nanmedian({dtype} {shape}, axis={axis}, keepdims={keepdims})")


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_nanquantile_and_nanpercentile_match_numpy(dtype, device):
    """Every axis with every q; keepdims alternates over both (each axis and each q meet False and True):
    keepdims only reshapes, and NumPy's nanquantile, a Python loop over the slices, costs seconds."""
    for seed, shape in enumerate(SHAPES):
        a = _with_nans(shape, dtype, seed + 10)
        x = gk.tensor(a, device=device)
        for (i, axis), (j, q) in itertools.product(enumerate(_axes(a.ndim)), enumerate(QS)):
            keepdims = (i + j) % 2 == 1
            for name, scale in (("nanquantile", 1), ("nanpercentile", 100)):
                qq = _scaled(q, scale)
                what = f"{name}({dtype} {shape}, {qq!r}, axis={axis}, keepdims={keepdims})"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    expected = getattr(np, name)(a, qq, axis=axis, keepdims=keepdims)
                    out = getattr(gk, name)(x, qq, axis=axis, keepdims=keepdims)
                _like_numpy(out, expected, device, what, qq)


def test_without_nans_they_are_median_and_quantile(device):
    a = np.random.default_rng(3).standard_normal((4, 6))
    x = gk.tensor(a, device=device, requires_grad=True)
    for axis in (None, 0, 1, (0, 1)):
        pairs = [(gk.nanmedian(x, axis), gk.median(x, axis)),
                 (gk.nanquantile(x, [0.1, 0.5, 0.77], axis), gk.quantile(x, [0.1, 0.5, 0.77], axis)),
                 (gk.nanpercentile(x, 42.0, axis, keepdims=True), gk.percentile(x, 42.0, axis, keepdims=True))]
        for nan_version, plain in pairs:
            _same(nan_version, plain.numpy(), "cpu")
            (gn,), (gp,) = _grad(lambda t, y=nan_version: y, x), _grad(lambda t, y=plain: y, x)
            np.testing.assert_array_equal(gn, gp)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "bool"])
def test_integer_and_bool_inputs_match_numpy(dtype, device):
    """No NaN to skip: NumPy's nanmedian and nanquantile are its median and quantile there (float64 for a
    median or an interpolation, x's own dtype for an integer q)."""
    rng = np.random.default_rng(4)
    a = rng.uniform(size=(4, 5)) < 0.5 if dtype == "bool" else rng.integers(-100, 100, (4, 5)).astype(dtype)
    x = gk.tensor(a, device=device)
    for axis in (None, 0, 1, (0, 1)):
        _same(gk.nanmedian(x, axis), np.nanmedian(a, axis), device, f"nanmedian({dtype}, {axis})")
        for q in (0.3, 1, 0, [0.2, 0.8], np.array([0.5], np.float32)):
            for name, scale in (("nanquantile", 1), ("nanpercentile", 100)):
                qq = _scaled(q, scale)
                try:
                    expected = getattr(np, name)(a, qq, axis=axis)
                except TypeError:  # bools between which NumPy would interpolate (it has no boolean subtract)
                    with pytest.raises(gk.DTypeError, match=f"{name}: cannot interpolate between bools"):
                        getattr(gk, name)(x, qq, axis=axis)
                    continue
                _like_numpy(getattr(gk, name)(x, qq, axis=axis), expected, device, f"{name}({dtype}, {qq!r}, {axis})")
    big = np.array([[2**53 + 1, 2, 7, 9], [2**62, 2**62 + 1, 3, -(2**63)]], np.int64)  # float64 rounding
    _same(gk.nanmedian(gk.tensor(big, device=device), 1), np.nanmedian(big, 1), device)
    assert not gk.nanmedian(gk.tensor(a, device=device)).requires_grad


def test_numpy_nanmedian_paths(device):
    """NumPy's nanmedian is np.ma.median's (a + b) / 2 in x's dtype (an odd count's middle value a taken
    twice) where an axis is kept and the reduced length is below 600, else median's mean of the middle
    values: they differ where a + b overflows. gradkit computes each as NumPy does."""
    cases = [np.array([[1e308, np.nan, 1.0, 1e308]]), np.array([[60000, NEG_NAN, 1, 60000]], np.float16),
             np.array([[60000, 60000, 1, 60000]], np.float16), np.array([[3e38, 3e38, np.nan, 1]], np.float32),
             np.array([[np.inf, -np.inf, np.nan], [np.inf, np.nan, np.inf]]),
             np.array([[-0.0, 0.0, np.nan], [0.0, -0.0, -0.0]]), np.array([[6e-8, 6e-8, np.nan]], np.float16)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflows and inf - inf, NumPy's too
        for a in cases:
            x = gk.tensor(a, device=device)
            for axis in (None, 0, 1, (0, 1), -1):
                _like_numpy(gk.nanmedian(x, axis), np.nanmedian(a, axis), device, f"nanmedian({a.tolist()}, {axis})")
                for q in (0.5, 1.0, 0.3, [0.999, 0.0]):
                    _like_numpy(gk.nanquantile(x, q, axis), np.nanquantile(a, q, axis), device,
                                f"{a.tolist()} {q} {axis}")  # fmt: skip
        assert np.isinf(np.nanmedian(cases[0], 1)) and np.nanmedian(cases[0]) == 1e308  # the two paths
        rng = np.random.default_rng(5)
        for length in (599, 600, 1201):  # from 600 values along a kept axis: median's arithmetic
            for dtype, top in ((np.float16, 60000.0), (np.float64, 1.7e308)):
                a = (rng.standard_normal((3, length)) * top / 2).astype(dtype)
                a[:, : length // 2] = top
                a[rng.uniform(size=a.shape) < 0.3] = NEG_NAN
                a[1] = np.nan
                x = gk.tensor(a, device=device)
                for axis in (1, -1, (1,)):
                    _like_numpy(gk.nanmedian(x, axis), np.nanmedian(a, axis), device, f"length {length} {dtype}")
                    _like_numpy(gk.nanquantile(x, [0.3, 0.7], axis), np.nanquantile(a, [0.3, 0.7], axis), device)


def test_dtype_never_depends_on_the_values(device):
    """NumPy can take nanquantile's result dtype from its first slice: x's own when that slice is all NaN
    (even when an array q would promote it; NumPy 1.26 to 2.5.2 do). gradkit gives the dtype of quantile's
    rule always, whichever slice comes first."""
    a = np.array([[np.nan, np.nan, np.nan], [1.0, 2.0, 4.0]], np.float32)
    q = np.array([0.25, 0.5])
    with _quiet():
        expected = np.nanquantile(a, q, axis=1)
        out = gk.nanquantile(gk.tensor(a, device=device), q, axis=1)
        flipped = gk.nanquantile(gk.tensor(a[::-1].copy(), device=device), q, axis=1)
        expected_flipped = np.nanquantile(a[::-1], q, axis=1)
    assert out.dtype == flipped.dtype == expected_flipped.dtype == np.float64
    np.testing.assert_array_equal(out.numpy(), expected.astype(np.float64))


def test_empty_inputs(device):
    """An empty x: NumPy's nanmedian gives nanmean's answer (NaN, "Mean of empty slice"). An empty
    selection has no quantiles (quantile's error; NumPy returns nanmean's NaN, without the q axis)."""
    for shape, axis in (((0, 3), 0), ((0, 3), 1), ((0, 3), None), ((2, 0), 1)):
        a = np.zeros(shape, np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            _same(gk.nanmedian(gk.tensor(a, device=device), axis), np.nanmedian(a, axis), device)
    with pytest.raises(gk.ShapeError, match="nanquantile: no nanquantiles of an empty selection"):
        gk.nanquantile(gk.zeros((0, 3), device=device), 0.5, axis=0)
    with pytest.raises(gk.ShapeError, match="nanpercentile: no nanpercentiles of an empty selection"):
        gk.nanpercentile(gk.zeros((2, 0), device=device), 50)
    out = gk.nanquantile(gk.zeros((0, 3), device=device), [0.5, 0.7], axis=1)  # no slices: an empty result
    assert out.shape == (2, 0)


# --------------------------------------------------------------------------- warnings
def test_slices_of_nans_only_warn_as_numpy_on_the_cpu_only(device):
    x = gk.tensor(np.array([[np.nan, NEG_NAN], [1.0, 2.0]]), device=device)
    calls = [lambda: gk.nanmedian(x, axis=1), lambda: gk.nanmedian(x[0]), lambda: gk.nanquantile(x, 0.5, axis=1),
             lambda: gk.nanpercentile(x, [10, 90], axis=1), lambda: x.nanquantile([0.2], 1)]
    for call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = call()
        messages = [str(w.message) for w in caught]
        if device == "cpu":
            assert messages == ["All-NaN slice encountered"]  # NumPy's warning
            assert caught[0].filename == __file__ or call is calls[-1]  # the caller's (a method's: tensor.py)
        else:
            assert messages == []  # nothing read back from the device to warn
        assert np.isnan(out.numpy()).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gk.nanmedian(x, axis=0)  # every slice has a value: no warning
        gk.nanquantile(x, [0.1, 0.9], axis=0)


# --------------------------------------------------------------------------- gradients
def _grad(f, x):
    x.grad = None
    f(x).sum().backward()
    return [x.grad.numpy()]


def _distinct_with_nans(shape, seed):
    """Values no two of which are equal, NaNs of both signs, and a value in every slice along any axes
    (every axis at least 3 long)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    a = (rng.permutation(n) * 0.37 - 0.15 * n).reshape(shape)
    nan = (rng.uniform(size=shape) < 0.4) & (np.indices(shape).sum(axis=0) % 3 != 0)
    a[nan] = np.where(rng.uniform(size=shape) < 0.5, np.nan, NEG_NAN)[nan]
    return a


@pytest.mark.parametrize("case", range(6))
def test_gradients_match_central_differences(case, device):
    calls = [
        lambda t: gk.nanmedian(t),
        lambda t: gk.nanmedian(t, axis=1),
        lambda t: gk.nanmedian(t, axis=(0, 2), keepdims=True),
        lambda t: gk.nanquantile(t, [0.0, 0.13, 0.5, 0.81, 1.0], axis=-1),
        lambda t: gk.nanpercentile(t, 37.5, axis=(1, 2)),
        lambda t: gk.nanquantile(t, gk.tensor(np.array([0.3, 0.95]), device=t.device), axis=0, keepdims=True),
    ]
    a = _distinct_with_nans((3, 7, 4), case)
    for axes in ((0,), (1,), (2,), (0, 2), (1, 2), (0, 1, 2)):
        assert not np.isnan(a).all(axis=axes).any()
    assert np.isnan(a).any() and np.signbit(a[np.isnan(a)]).any()
    x = gk.tensor(a, device=device, requires_grad=True)
    assert gk.gradcheck(calls[case], [x])


@pytest.mark.parametrize("nan", [np.nan, NEG_NAN], ids=["nan", "nan with the sign bit"])
def test_gradient_closed_forms(nan, device):
    a = np.array([[1.0, nan, 3.0, nan, 2.0],  # values 1 2 3: the median 2, at index 4
                  [nan, nan, nan, nan, nan],  # no values: NaN, its gradient shared among the NaNs
                  [5.0, nan, 5.0, 1.0, 9.0],  # values 1 5 5 9: (5 + 5) / 2, each 5 tied
                  [4.0, nan, 0.0, 7.0, nan]])  # values 0 4 7
    x = gk.tensor(a, device=device, requires_grad=True)
    with _quiet():
        np.testing.assert_array_equal(gk.nanmedian(x, axis=1).detach().numpy(), [2.0, np.nan, 5.0, 4.0])
        (g,) = _grad(lambda t: gk.nanmedian(t, axis=1), x)
    np.testing.assert_array_equal(g, [[0, 0, 0, 0, 1], [0.2] * 5, [0.5, 0, 0.5, 0, 0], [1, 0, 0, 0, 0]])
    with _quiet():
        # q = 0.25: virtual index 0.5 of 3 values, 0.75 of 4 values; q = 1: the largest value
        (g,) = _grad(lambda t: gk.nanquantile(t, [0.25, 1.0], axis=1), x)
    expected = [[0.5, 0, 1.0, 0, 0.5], [0.4] * 5, [0.375, 0, 0.375, 0.25, 1.0], [0.5, 0, 0.5, 1.0, 0]]
    np.testing.assert_allclose(g, expected, rtol=1e-15)
    with _quiet():
        (g,) = _grad(lambda t: gk.nanpercentile(t, 25.0, axis=1, keepdims=True), x)
    np.testing.assert_allclose(g, [[0.5, 0, 0, 0, 0.5], [0.2] * 5, [0.375, 0, 0.375, 0.25, 0], [0.5, 0, 0.5, 0, 0]],
                               rtol=1e-15)
    # along axis 0 (column 1 is all NaN): the other NaNs get nothing, every slice's weights sum to 1
    with _quiet():
        (g,) = _grad(lambda t: gk.nanquantile(t, 0.4, axis=0), x)
    np.testing.assert_array_equal(g[:, 1], [0.25] * 4)
    assert (g[:, [0, 2, 3, 4]][np.isnan(a[:, [0, 2, 3, 4]])] == 0).all()
    np.testing.assert_allclose(g.sum(axis=0), np.ones(5), rtol=1e-15)


def test_gradient_shape_and_dtype(device):
    a = _distinct_with_nans((4, 5), 7).astype(np.float32)
    x = gk.tensor(a, device=device, requires_grad=True)
    for f in (lambda t: gk.nanmedian(t, 0), lambda t: gk.nanquantile(t, np.array([0.2, 0.7]), 1),
              lambda t: gk.nanpercentile(t, [], 1)):
        x.grad = None
        out = f(x)
        (out.sum() + 0.0).backward()
        assert x.grad.dtype == gk.float32 and x.grad.shape == x.shape
        assert (x.grad.numpy()[np.isnan(a)] == 0).all()


# --------------------------------------------------------------------------- q on the device, host reads
def test_q_on_the_device_is_not_read_back(device):
    if device == "cpu":
        pytest.skip("a q tensor on the CPU is read and checked (test_errors_name_the_op)")
    a = np.array([[1.0, np.nan, 3.0, 2.0], [NEG_NAN, np.nan, np.nan, np.nan], [4.0, 5.0, 6.0, 7.0]])
    x = gk.tensor(a, device=device, requires_grad=True)
    out = gk.nanquantile(x, gk.tensor([0.5, 1.5, -0.1, float("nan"), 1.0], device=device), axis=1)
    expected = np.full((5, 3), np.nan)
    with _quiet():
        expected[0], expected[4] = np.nanquantile(a, [0.5, 1.0], axis=1)
    np.testing.assert_array_equal(out.numpy(), expected)
    out.sum().backward()
    g = x.grad.numpy()
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g[1], [0.5, 0.5, 0.5, 0.5])  # two q in range, each shared among the NaNs
    with pytest.raises(gk.DTypeError, match="nanquantile: a q tensor on cuda.* must be floating point"):
        gk.nanquantile(x, gk.tensor([0, 1], device=device))


def test_forward_and_backward_read_nothing_on_the_host(device, monkeypatch):
    if device != "cuda" or not _emulated():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    a = np.array([[1.5, np.nan, 2.0, -1.0], [NEG_NAN, np.nan, np.nan, np.nan], [2.0, 1.0, NEG_NAN, 4.0]])
    x = gk.tensor(a, device=device, requires_grad=True)
    q = gk.tensor(np.array([0.25, 0.6]), device=device)

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    outs = [gk.nanmedian(x, 1), gk.nanmedian(x), gk.nanmedian(x, 0, keepdims=True), gk.nanquantile(x, 0.3, 1),
            gk.nanquantile(x, [0.1, 0.9], axis=0), gk.nanquantile(x, q, axis=1), gk.nanpercentile(x, q * 100.0),
            gk.nanpercentile(x, 40), gk.nanquantile(x, 1, 1), x.nanmedian(), x.nanquantile([0.5], 1)]
    total = outs[0].sum()
    for out in outs[1:]:
        total = total + out.sum()
    total.backward()
    assert x.grad is not None


# --------------------------------------------------------------------------- methods, errors
def test_tensor_methods_are_the_functions(device):
    a = _with_nans((3, 4), np.float64, 9)
    x = gk.tensor(a, device=device)
    with _quiet():
        pairs = [(x.nanmedian(0), gk.nanmedian(x, 0)), (x.nanmedian(keepdims=True), gk.nanmedian(x, None, True)),
                 (x.nanquantile([0.2, 0.8], 1), gk.nanquantile(x, [0.2, 0.8], 1)),
                 (x.nanquantile(0.5, axis=0, keepdims=True, method="linear"), gk.nanquantile(x, 0.5, 0, True))]
    for method, function in pairs:
        _same(method, function.numpy(), device)


def test_errors_name_the_op(device):
    x = gk.tensor(np.arange(12.0).reshape(3, 4), device=device)
    b = gk.tensor(np.array([True, False]), device=device)
    cases = [
        (gk.InvalidArgumentError, r"nanquantile: q must be in \[0, 1\], got 1.5", lambda: gk.nanquantile(x, 1.5)),
        (gk.InvalidArgumentError, r"nanquantile: q must be in \[0, 1\], got \[0.5, nan\]",
         lambda: gk.nanquantile(x, [0.5, float("nan")])),
        (gk.InvalidArgumentError, r"nanpercentile: q must be in \[0, 100\], got 101",
         lambda: gk.nanpercentile(x, 101)),
        (gk.InvalidArgumentError, r"nanquantile: q must be in \[0, 1\]",
         lambda: gk.nanquantile(x, gk.tensor([2.0], device="cpu"))),
        (gk.ShapeError, "nanquantile: q must be a number or 1-d, got shape", lambda: gk.nanquantile(x, [[0.5]])),
        (gk.ArgumentTypeError, "nanpercentile: q must be a number", lambda: gk.nanpercentile(x, "50")),
        (gk.DTypeError, "nanquantile: q must be numbers", lambda: gk.nanquantile(x, [True])),
        (gk.InvalidArgumentError, "nanquantile: only method='linear'", lambda: gk.nanquantile(x, 0.5, method="lower")),
        (gk.ArgumentTypeError, "nanpercentile: method must be a str", lambda: gk.nanpercentile(x, 5, method=None)),
        (gk.DTypeError, "nanquantile: cannot interpolate between bools", lambda: gk.nanquantile(b, 0.5)),
        (gk.IndexOutOfRangeError, "nanquantile: axis 2 is out of range", lambda: gk.nanquantile(x, 0.5, axis=2)),
        (gk.ArgumentTypeError, "nanpercentile: keepdims must be True or False",
         lambda: gk.nanpercentile(x, 5, keepdims="no")),
        (gk.IndexOutOfRangeError, "nanmedian: axis -3 is out of range", lambda: gk.nanmedian(x, axis=-3)),
        (gk.InvalidArgumentError, "nanmedian: repeated axis", lambda: gk.nanmedian(x, axis=(0, 0))),
        (gk.ArgumentTypeError, "nanmedian: keepdims must be True or False", lambda: gk.nanmedian(x, keepdims=None)),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()


# --------------------------------------------------------------------------- PyTorch parity
def test_parity_with_pytorch():
    torch = pytest.importorskip("torch")
    a = _distinct_with_nans((4, 9), 11)
    rng = np.random.default_rng(12)

    def both(fn_gk, fn_torch, values):
        x, t = gk.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
        out, ref = fn_gk(x), fn_torch(t)
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-13, atol=1e-15)
        cot = rng.standard_normal(out.shape)
        (out * gk.tensor(cot)).sum().backward()
        (ref * torch.tensor(cot)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-14)

    qs = torch.tensor([0.1, 0.5, 0.77, 1.0], dtype=torch.float64)
    both(lambda x: gk.nanquantile(x, [0.1, 0.5, 0.77, 1.0], axis=1), lambda t: torch.nanquantile(t, qs, dim=1), a)
    both(lambda x: gk.nanquantile(x, 0.35), lambda t: torch.nanquantile(t, 0.35), a)
    odd = a[(~np.isnan(a)).sum(axis=1) % 2 == 1]  # odd counts: PyTorch's (lower) median is NumPy's
    assert len(odd)
    both(lambda x: gk.nanmedian(x, 1), lambda t: torch.nanmedian(t, 1).values, odd)
