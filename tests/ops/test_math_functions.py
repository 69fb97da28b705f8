"""NumPy's inverse and hyperbolic functions, logarithms, powers, arctan2, hypot, rsqrt and erf.

The op-spec table (op_specs.py) gradchecks each of them (first and second order, both devices);
this file holds what the table cannot say: closed-form slopes, the values at singular points
(checked against PyTorch's where PyTorch has the function), slopes that must not overflow for huge
or tiny inputs, integer and mixed dtypes, the aliases, the Tensor methods, and (when torch is
installed) parity with PyTorch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk

UNARY = ["arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2",
         "cbrt", "reciprocal", "rsqrt", "erf"]
ALIASES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2", "asinh": "arcsinh",
           "acosh": "arccosh", "atanh": "arctanh"}
# Tensor methods: PyTorch's (and NumPy's) names; cbrt has none in either.
METHODS = ["arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2",
           "reciprocal", "rsqrt", "erf", "asin", "acos", "atan", "asinh", "acosh", "atanh"]


def _t(values, device, dtype=np.float64, requires_grad=True):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


def _grad(f, *xs):
    for x in xs:
        x.grad = None
    with np.errstate(all="ignore"):
        f(*xs).sum().backward()
    return [x.grad.numpy() for x in xs]


def _np_erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _numpy_value(name, x):
    if name == "rsqrt":
        return np.reciprocal(np.sqrt(x))
    if name == "erf":
        return _np_erf(x)
    return getattr(np, name)(x)


# --------------------------------------------------------------------------- closed forms
def test_unary_slopes_in_closed_form(device):
    rng = np.random.default_rng(10)
    inside = rng.uniform(-0.95, 0.95, 7)
    above = rng.uniform(1.05, 4.0, 7)
    pos = rng.uniform(0.2, 3.0, 7)
    real = rng.standard_normal(7) * 2
    cases = {
        "arcsin": (inside, 1 / np.sqrt(1 - inside**2)),
        "arccos": (inside, -1 / np.sqrt(1 - inside**2)),
        "arctan": (real, 1 / (1 + real**2)),
        "sinh": (real, np.cosh(real)),
        "cosh": (real, np.sinh(real)),
        "arcsinh": (real, 1 / np.sqrt(real**2 + 1)),
        "arccosh": (above, 1 / np.sqrt(above**2 - 1)),
        "arctanh": (inside, 1 / (1 - inside**2)),
        "log2": (pos, 1 / (pos * np.log(2))),
        "log10": (pos, 1 / (pos * np.log(10))),
        "exp2": (real, 2**real * np.log(2)),
        "cbrt": (real, 1 / (3 * np.cbrt(real) ** 2)),
        "reciprocal": (real, -1 / real**2),
        "rsqrt": (pos, -0.5 * pos**-1.5),
        "erf": (real, 2 / np.sqrt(np.pi) * np.exp(-(real**2))),
    }
    assert sorted(cases) == sorted(UNARY)
    for name, (a, slope) in cases.items():
        x = _t(a, device)
        (g,) = _grad(getattr(gk, name), x)
        np.testing.assert_allclose(g, slope, rtol=1e-12, err_msg=name)


def test_binary_slopes_in_closed_form(device):
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((2, 3, 4))
    y, x = _t(a, device), _t(b, device)
    gy, gx = _grad(gk.arctan2, y, x)
    np.testing.assert_allclose(gy, b / (a**2 + b**2), rtol=1e-12)
    np.testing.assert_allclose(gx, -a / (a**2 + b**2), rtol=1e-12)
    ga, gb = _grad(gk.hypot, y, x)
    h = np.sqrt(a**2 + b**2)
    np.testing.assert_allclose(ga, a / h, rtol=1e-12)
    np.testing.assert_allclose(gb, b / h, rtol=1e-12)


def test_broadcast_slopes_are_summed_back(device):
    rng = np.random.default_rng(12)
    a, b = rng.standard_normal((3, 4)), rng.uniform(0.5, 2, (4,))
    y, x = _t(a, device), _t(b, device)
    gy, gx = _grad(gk.arctan2, y, x)
    assert gy.shape == (3, 4) and gx.shape == (4,)
    np.testing.assert_allclose(gx, (-a / (a**2 + b**2)).sum(0), rtol=1e-12)
    ga, gb = _grad(lambda p, q: gk.hypot(p, q), y, x)
    np.testing.assert_allclose(gb, (b / np.hypot(a, b)).sum(0), rtol=1e-12)


def test_second_derivatives_in_closed_form(device):
    a = np.array([-0.7, -0.2, 0.1, 0.6])
    cases = {
        "arcsin": a / (1 - a**2) ** 1.5,
        "arctan": -2 * a / (1 + a**2) ** 2,
        "arctanh": 2 * a / (1 - a**2) ** 2,
        "arcsinh": -a / (1 + a**2) ** 1.5,
        "sinh": np.sinh(a),
        "reciprocal": 2 / a**3,
        "erf": -4 * a / np.sqrt(np.pi) * np.exp(-(a**2)),
    }
    for name, expected in cases.items():
        x = _t(a, device)
        (gg,) = _grad(lambda t, name=name: gk.grad(lambda u: getattr(gk, name)(u).sum())(t), x)
        np.testing.assert_allclose(gg, expected, rtol=1e-11, err_msg=name)
    # the Hessian of hypot(y, x) at (3, 4) is [[x^2, -xy], [-xy, y^2]] / h^3, of arctan2 at (1, 2)
    # [[-2xy, y^2 - x^2], [y^2 - x^2, 2xy]] / h^4
    for fn, (yv, xv), expected in ((gk.hypot, (3.0, 4.0), [[16 / 125, -12 / 125], [-12 / 125, 9 / 125]]),
                                   (gk.arctan2, (1.0, 2.0), [[-4 / 25, -3 / 25], [-3 / 25, 4 / 25]])):
        y, x = _t(yv, device), _t(xv, device)
        hess = gk.hessian(lambda p, q, fn=fn: fn(p, q), argnums=(0, 1))(y, x)
        got = [[hess[i][j].item() for j in range(2)] for i in range(2)]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ where the slope is not finite
def test_slopes_at_the_edges_of_the_domains(device):
    """inf where the slope grows without bound, NaN where the value is NaN (PyTorch's values, see the parity test)."""
    inf, nan = np.inf, np.nan
    cases = {
        "arcsin": ([1.0, -1.0, 1.5], [inf, inf, nan]),
        "arccos": ([1.0, -1.0, -1.5], [-inf, -inf, nan]),
        "arctanh": ([1.0, -1.0], [inf, inf]),
        "arccosh": ([1.0, 0.5], [inf, nan]),
        "log2": ([0.0, -0.0, -1.0], [inf, -inf, -1 / np.log(2)]),
        "log10": ([0.0, -0.0], [inf, -inf]),
        "cbrt": ([0.0, -0.0], [inf, inf]),
        "reciprocal": ([0.0, -0.0], [-inf, -inf]),
        "rsqrt": ([0.0, -1.0], [-inf, nan]),
        "arctan": ([inf, -inf], [0.0, 0.0]),
    }
    for name, (a, expected) in cases.items():
        (g,) = _grad(getattr(gk, name), _t(a, device))
        np.testing.assert_array_equal(g, expected, err_msg=name)


def test_arctan2_and_hypot_at_the_origin(device):
    y, x = _t([0.0, 0.0, -0.0], device), _t([0.0, -0.0, -0.0], device)
    gy, gx = _grad(gk.arctan2, y, x)
    np.testing.assert_array_equal(gy, [0.0, 0.0, 0.0])  # PyTorch's 0 where arctan2 has no derivative
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])
    assert np.signbit(gx[0]) and np.signbit(gy[1]) and not np.signbit(gx[2])  # the signs of PyTorch's zeros too
    ga, gb = _grad(gk.hypot, y, x)
    assert np.isnan(ga).all() and np.isnan(gb).all()  # 0 / 0, as PyTorch's
    # just beyond the origin the slopes are the exact ones, not 0 (x^2 + y^2 would underflow there)
    y, x = _t([1e-200, 3e-300], device), _t([1e-200, 4e-300], device)
    gy, gx = _grad(gk.arctan2, y, x)
    np.testing.assert_allclose(gy, [0.5e200, 4 / 25 * 1e300], rtol=1e-14)
    np.testing.assert_allclose(gx, [-0.5e200, -3 / 25 * 1e300], rtol=1e-14)


def test_slopes_stay_exact_for_huge_and_tiny_inputs(device):
    """Where y^2 + x^2 (or x^2 + 1) would overflow or underflow, the slopes are still the exact ones."""
    y, x = _t([3e200, -1e250], device), _t([4e200, 1e250], device)
    gy, gx = _grad(gk.arctan2, y, x)
    np.testing.assert_allclose(gy, [4 / 25 * 1e-200, 0.5e-250], rtol=1e-14)
    np.testing.assert_allclose(gx, [-3 / 25 * 1e-200, 0.5e-250], rtol=1e-14)
    ga, gb = _grad(gk.hypot, y, x)
    np.testing.assert_allclose(ga, [0.6, -math.sqrt(0.5)], rtol=1e-14)
    np.testing.assert_allclose(gb, [0.8, math.sqrt(0.5)], rtol=1e-14)
    (g,) = _grad(gk.arcsinh, _t([1e200, -1e300], device))
    np.testing.assert_allclose(g, [1e-200, 1e-300], rtol=1e-14)
    (g,) = _grad(gk.arccosh, _t([1e200, 1 + 2**-40], device))
    np.testing.assert_allclose(g, [1e-200, 1 / math.sqrt(2**-39 + 2**-80)], rtol=1e-13)
    (g,) = _grad(gk.arcsin, _t([1 - 2**-40], device))  # (1 - x)(1 + x), not 1 - x^2: no cancellation
    np.testing.assert_allclose(g, [1 / math.sqrt(2**-39 - 2**-80)], rtol=1e-13)
    # in float32 too (hypot does not overflow where float32's squares would)
    y32, x32 = _t([3e30], device, np.float32), _t([4e30], device, np.float32)
    gy, gx = _grad(gk.arctan2, y32, x32)
    assert gy.dtype == np.float32 and gx.dtype == np.float32
    np.testing.assert_allclose(gy, [4 / 25 * 1e-30], rtol=1e-6)


# ------------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_])
def test_integer_and_bool_inputs_give_floats_as_sin_does(device, dtype):
    a = np.array([1, 2, 3], dtype=dtype) if dtype is not np.bool_ else np.array([True, False, True])
    expected_dtype = np.sin(a).dtype
    x = gk.tensor(a, device=device)
    for name in UNARY:
        with np.errstate(all="ignore"):  # arccosh(0), arctanh(1), log2(0), ...
            out = getattr(gk, name)(x)
            ref = _numpy_value(name, a.astype(np.float64))
        assert out.dtype == expected_dtype, (name, out.dtype)
        tol = 1e-3 if expected_dtype == np.float16 else 1e-6
        np.testing.assert_allclose(out.numpy().astype(np.float64), ref, rtol=tol, atol=tol, err_msg=name)
        assert not out.requires_grad


def test_reciprocal_of_integers_is_a_float_unlike_numpy(device):
    out = gk.reciprocal(gk.tensor([1, 2, 4, -8], device=device))
    assert out.dtype == np.float64  # NumPy's reciprocal would give [1, 0, 0, 0] (int64); PyTorch gives floats
    np.testing.assert_array_equal(out.numpy(), [1.0, 0.5, 0.25, -0.125])


def test_binary_dtypes_and_python_numbers_follow_numpy(device):
    """Promotion as NumPy 2 (and gradkit's other binary ops): Python numbers never widen a tensor."""
    f32 = np.array([0.5, -1.5], dtype=np.float32)
    f64 = np.array([2.0, 3.0])
    i64 = np.array([1, -2])
    for name in ("arctan2", "hypot"):
        fn, ref = getattr(gk, name), getattr(np, name)
        for a, b in ((f32, 1.7), (1.7, f32), (f32, 2), (f32, f64), (i64, f32), (i64, i64), (i64, 0.5)):
            ta = gk.tensor(a, device=device) if isinstance(a, np.ndarray) else a
            tb = gk.tensor(b, device=device) if isinstance(b, np.ndarray) else b
            out = fn(ta, tb)
            expected = ref(a, b)
            assert out.dtype == expected.dtype, (name, a, b, out.dtype, expected.dtype)
            np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
        # gradients come back in each input's dtype and shape
        x32 = gk.tensor(np.ones((3, 2), np.float32), device=device, requires_grad=True)
        x64 = gk.tensor(f64, device=device, requires_grad=True)
        fn(x32, x64).sum().backward()
        assert x32.grad.dtype == np.float32 and x32.grad.shape == (3, 2)
        assert x64.grad.dtype == np.float64 and x64.grad.shape == (2,)


def test_float16_and_float32_stay_in_their_dtype(device):
    for dtype in (np.float16, np.float32):
        x = gk.tensor(np.array([0.25, 0.5], dtype=dtype), device=device, requires_grad=True)
        for name in UNARY:
            arg = x + 1.5 if name == "arccosh" else x
            out = getattr(gk, name)(arg)
            assert out.dtype == dtype, (name, dtype, out.dtype)
            x.grad = None
            out.sum().backward()
            assert x.grad.dtype == dtype, name
            np.testing.assert_allclose(out.numpy().astype(np.float64), _numpy_value(name, arg.numpy().astype(
                np.float64)), rtol=2e-3 if dtype == np.float16 else 1e-6, err_msg=name)


# ------------------------------------------------------------------------ errors
def test_errors_name_the_operation(device):
    with pytest.raises(gk.ShapeError, match="arctan2"):
        gk.arctan2(gk.ones(3, device=device), gk.ones(4, device=device))
    with pytest.raises(gk.ShapeError, match="hypot"):
        gk.hypot(gk.ones(2, 3, device=device), gk.ones(2, device=device))
    assert gk.hypot(3.0, 4.0).item() == 5.0  # two numbers: a 0-d float64 tensor, as NumPy
    for name in UNARY:
        with pytest.raises(gk.DTypeError, match=name):
            getattr(gk, name)("0.5")
    if device == "cpu" and gk.cuda_available():
        with pytest.raises(gk.DeviceError, match="arctan2"):
            gk.arctan2(gk.ones(2, device="cpu"), gk.ones(2, device="cuda"))


# ------------------------------------------------------------------ aliases and methods
def test_pytorch_spellings_are_the_same_functions(device):
    for alias, name in ALIASES.items():
        assert getattr(gk, alias) is getattr(gk, name), alias
        assert getattr(gk.Tensor, alias) is getattr(gk.Tensor, name), alias
    a = np.array([-0.5, 0.25, 0.75])
    for alias, name in ALIASES.items():
        x = _t(a + 1.5 if name == "arccosh" else a, device)
        args = (x, _t([0.5, -2.0, 1.0], device)) if name == "arctan2" else (x,)
        np.testing.assert_array_equal(getattr(gk, alias)(*args).numpy(), getattr(gk, name)(*args).numpy())
        g_alias = _grad(getattr(gk, alias), *args)
        g_name = _grad(getattr(gk, name), *args)
        for u, v in zip(g_alias, g_name, strict=True):
            np.testing.assert_array_equal(u, v)


def test_tensor_methods(device):
    a = np.array([[0.2, -0.6, 0.4], [0.9, -0.1, 0.5]])
    for name in METHODS:
        fn = getattr(gk, ALIASES.get(name, name))
        x = _t(a + 2.0 if ALIASES.get(name, name) == "arccosh" else np.abs(a) if name in ("log2", "log10", "rsqrt")
               else a, device)
        out = getattr(x, name)()
        assert isinstance(out, gk.Tensor) and out.device == x.device and out.requires_grad
        np.testing.assert_array_equal(out.numpy(), fn(x).numpy(), err_msg=name)
        (g_method,) = _grad(lambda t, name=name: getattr(t, name)(), x)
        (g_fn,) = _grad(fn, x)
        np.testing.assert_array_equal(g_method, g_fn, err_msg=name)
    y, x = _t(a, device), _t([1.0, -2.0, 0.5], device)
    for name, ref in (("arctan2", np.arctan2), ("atan2", np.arctan2), ("hypot", np.hypot)):
        np.testing.assert_allclose(getattr(y, name)(x).numpy(), ref(a, [1.0, -2.0, 0.5]), rtol=1e-15)
        np.testing.assert_allclose(getattr(y, name)(2.0).numpy(), ref(a, 2.0), rtol=1e-15)
    assert not hasattr(gk.Tensor, "cbrt")  # neither torch.Tensor nor numpy.ndarray has one


def test_functions_are_exported():
    for name in UNARY + ["arctan2", "hypot"] + list(ALIASES):
        assert callable(getattr(gk, name)), name
        assert name in gk.ops.__all__, name


def test_backward_reads_the_saved_inputs_once_recorded(device):
    """Changing an input in place after the op is caught at backward time, as for the other ops."""
    y = _t([0.5, 1.0], device)
    x = gk.tensor([2.0, 3.0], device=device)
    out = gk.arctan2(y, x)
    x += 1.0
    with pytest.raises(gk.AutogradError):
        out.sum().backward()


# -------------------------------------------------------------------- PyTorch parity
def test_values_and_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    domains = {
        "arcsin": rng.uniform(-0.99, 0.99, 20), "arccos": rng.uniform(-0.99, 0.99, 20),
        "arctanh": rng.uniform(-0.99, 0.99, 20), "arccosh": rng.uniform(1.01, 50, 20),
        "log2": rng.uniform(0.01, 50, 20), "log10": rng.uniform(0.01, 50, 20), "rsqrt": rng.uniform(0.01, 50, 20),
    }
    torch_names = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh",
                   "arctanh": "atanh"}
    for name in UNARY:
        if name == "cbrt":
            continue  # PyTorch has no cbrt
        a = domains.get(name, rng.standard_normal(20) * 3)
        x = gk.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        out, tout = getattr(gk, name)(x), getattr(torch, torch_names.get(name, name))(tx)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-13, atol=1e-300, err_msg=name)
        out.sum().backward()
        tout.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, err_msg=name)
        # second order
        (gx,) = torch.autograd.grad(getattr(torch, torch_names.get(name, name))(tx).sum(), tx, create_graph=True)
        (ggx,) = torch.autograd.grad(gx.sum(), tx)
        gg = gk.grad(lambda u, name=name: gk.grad(lambda v: getattr(gk, name)(v).sum())(u).sum())(gk.tensor(a))
        np.testing.assert_allclose(gg.numpy(), ggx.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    a, b = rng.standard_normal((2, 4, 5)) * 3
    for name in ("arctan2", "hypot"):
        y, x = gk.tensor(a, requires_grad=True), gk.tensor(b[0], requires_grad=True)
        ty, tx = torch.tensor(a, requires_grad=True), torch.tensor(b[0], requires_grad=True)
        out, tout = getattr(gk, name)(y, x), getattr(torch, "atan2" if name == "arctan2" else name)(ty, tx)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-14)
        out.sum().backward()
        tout.sum().backward()
        np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def _same_signs(ours, theirs, name):
    """The signs agree wherever there is one (zeros and infinities; a NaN's sign bit means nothing)."""
    theirs = np.asarray(theirs)
    keep = ~np.isnan(ours)
    np.testing.assert_array_equal(np.signbit(ours[keep]), np.signbit(theirs[keep]), err_msg=name)


def test_singular_points_match_pytorch():
    """Where the slope is infinite, undefined or NaN, gradkit gives PyTorch's value (signed zeros included)."""
    torch = pytest.importorskip("torch")
    points = {
        "asin": [1.0, -1.0, 1.5], "acos": [1.0, -1.0, -1.5], "atanh": [1.0, -1.0, 2.0], "acosh": [1.0, 0.5],
        "log2": [0.0, -0.0, -1.0], "log10": [0.0, -0.0], "reciprocal": [0.0, -0.0], "rsqrt": [0.0, -0.0, -1.0],
        "atan": [np.inf, -np.inf], "exp2": [-np.inf], "erf": [np.inf, -np.inf],
    }
    for name, values in points.items():
        x = gk.tensor(np.array(values), requires_grad=True)
        tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        with np.errstate(all="ignore"):
            getattr(gk, name)(x).sum().backward()
        getattr(torch, name)(tx).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy(), err_msg=name)
        _same_signs(x.grad.numpy(), tx.grad.numpy(), name)
    ys, xs = [0.0, 0.0, -0.0, -0.0, 1.0], [0.0, -0.0, 0.0, -0.0, np.inf]
    for name in ("atan2", "hypot"):
        y, x = gk.tensor(np.array(ys), requires_grad=True), gk.tensor(np.array(xs), requires_grad=True)
        ty = torch.tensor(ys, dtype=torch.float64, requires_grad=True)
        tx = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
        with np.errstate(all="ignore"):
            getattr(gk, name)(y, x).sum().backward()
        getattr(torch, name)(ty, tx).sum().backward()
        for g, tg in ((y.grad, ty.grad), (x.grad, tx.grad)):
            np.testing.assert_array_equal(g.numpy(), tg.numpy(), err_msg=name)
            _same_signs(g.numpy(), tg.numpy(), name)


def test_intentional_differences_from_pytorch():
    """Where PyTorch's formula overflows or underflows, or gives a slope where the value is NaN."""
    torch = pytest.importorskip("torch")

    def slopes(gk_fn, torch_fn, *columns):
        xs = [gk.tensor(np.array(c), requires_grad=True) for c in columns]
        txs = [torch.tensor(c, dtype=torch.float64, requires_grad=True) for c in columns]
        with np.errstate(all="ignore"):
            gk_fn(*xs).sum().backward()
        torch_fn(*txs).sum().backward()
        return [x.grad.numpy() for x in xs], [t.grad.numpy() for t in txs]

    (ours,), (theirs,) = slopes(gk.arcsinh, torch.asinh, [1e200])
    np.testing.assert_allclose(ours, [1e-200], rtol=1e-15)
    np.testing.assert_array_equal(theirs, [0.0])  # 1/sqrt(x^2 + 1) with x^2 = inf
    (ours,), (theirs,) = slopes(gk.arccosh, torch.acosh, [1e200, -2.0])
    np.testing.assert_allclose(ours[0], 1e-200, rtol=1e-15)
    assert theirs[0] == 0.0
    assert np.isnan(ours[1]) and np.isfinite(theirs[1])  # arccosh(-2) is NaN; PyTorch's slope there is 1/sqrt(3)
    (oy, ox), (ty, tx) = slopes(gk.arctan2, torch.atan2, [3e200, 1e-200], [4e200, 1e-200])
    np.testing.assert_allclose(oy, [4 / 25 * 1e-200, 0.5e200], rtol=1e-14)
    np.testing.assert_allclose(ox, [-3 / 25 * 1e-200, -0.5e200], rtol=1e-14)
    np.testing.assert_array_equal(ty, [0.0, 0.0])  # y^2 + x^2 overflows to inf, underflows to 0 (masked to 0)
    np.testing.assert_array_equal(tx, [0.0, 0.0])
