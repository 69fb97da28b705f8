"""NumPy's creation, window, polynomial, running-total, histogram, type-query and conversion functions
(gradkit/ops/numpy_misc.py).

One table of cases, each written once for both namespaces (``ns`` is gradkit or NumPy), gives the values
(shape, dtype and values against NumPy, with 0-d, empty and broadcast shapes and several dtypes) and, for
the differentiable ones, the float64 central-difference gradients. Then the creation functions (float32
by default as gk.linspace, made on ``device``), histograms, queries, conversions, what has no gradient,
and the errors.
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

import gradkit as gk

NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _cumulative(fn, identity):
    def run(x, axis=None, dtype=None, include_initial=False):
        x = np.asarray(x)
        x = x.reshape(1) if x.ndim == 0 else x
        axis = 0 if axis is None else axis
        y = fn(x, axis=axis, dtype=dtype)
        if include_initial:
            shape = list(y.shape)
            shape[axis] = 1
            y = np.concatenate([np.full(shape, identity, y.dtype), y], axis=axis)
        return y

    return run


# NumPy's functions, with what NumPy 1.26 lacks written out (NumPy 2.1's cumulative_*, 2.2's matvec/vecmat)
NP = types.SimpleNamespace(**{n: getattr(np, n) for n in dir(np) if not n.startswith("_")})
for _name, _fallback in {
    "cumulative_sum": _cumulative(np.cumsum, 0),
    "cumulative_prod": _cumulative(np.cumprod, 1),
    "matvec": lambda a, b: np.matmul(a, b[..., None])[..., 0],
    "vecmat": lambda a, b: np.matmul(a[..., None, :], b)[..., 0, :],
    "vecdot": lambda a, b, axis=-1: np.sum(np.moveaxis(a, axis, -1) * np.moveaxis(b, axis, -1), axis=-1),
    "astype": lambda x, dtype, copy=True: x.astype(dtype, copy=copy),
}.items():
    if not hasattr(NP, _name):
        setattr(NP, _name, _fallback)


def _n(r, *shapes):
    return [np.asarray(r.standard_normal(s)) for s in shapes]


F32 = np.float32

# id, function of (namespace, *arrays), builder of the arrays from a Generator; float64 arrays get gradients
# (checked by central differences), others are constants. SMOOTH_SKIP: values only (no gradient to check).
CASES = [
    ("diagflat", lambda ns, v: ns.diagflat(v), lambda r: _n(r, (2, 2))),
    ("diagflat_k", lambda ns, v: ns.diagflat(v, -2), lambda r: _n(r, 3)),
    ("diagflat_0d", lambda ns, v: ns.diagflat(v, 1), lambda r: _n(r, ())),
    ("diagflat_empty", lambda ns, v: ns.diagflat(v), lambda r: _n(r, 0)),
    ("diagflat_int", lambda ns, v: ns.diagflat(v), lambda r: [np.arange(4).reshape(2, 2)]),
    ("copy", lambda ns, a: ns.copy(a), lambda r: _n(r, (2, 3))),
    ("copy_0d", lambda ns, a: ns.copy(a), lambda r: _n(r, ())),
    ("astype_f32", lambda ns, a: ns.astype(a, np.float32), lambda r: [r.standard_normal((2, 3)).astype(np.float32)]),
    ("astype_int", lambda ns, a: ns.astype(a, np.int16), lambda r: [r.uniform(-9, 9, (4,))]),
    ("polyder", lambda ns, p: ns.polyder(p), lambda r: _n(r, 5)),
    ("polyder_m3", lambda ns, p: ns.polyder(p, 3), lambda r: _n(r, 5)),
    ("polyder_m0", lambda ns, p: ns.polyder(p, 0), lambda r: _n(r, 3)),
    ("polyder_past", lambda ns, p: ns.polyder(p, 4), lambda r: _n(r, 3)),
    ("polyder_f32", lambda ns, p: ns.polyder(p, 2), lambda r: [r.standard_normal(4).astype(F32)]),
    ("polyder_int", lambda ns, p: ns.polyder(p), lambda r: [np.array([3, -1, 4, 1])]),
    ("polyint", lambda ns, p: ns.polyint(p), lambda r: _n(r, 4)),
    ("polyint_k", lambda ns, p, k: ns.polyint(p, 2, k), lambda r: _n(r, 3, 2)),
    ("polyint_k1", lambda ns, p: ns.polyint(p, 3, 0.5), lambda r: _n(r, 3)),
    ("polyint_m0", lambda ns, p: ns.polyint(p, 0), lambda r: _n(r, 3)),
    ("polyint_f32", lambda ns, p: ns.polyint(p), lambda r: [r.standard_normal(3).astype(F32)]),
    ("polyint_int", lambda ns, p: ns.polyint(p, 2), lambda r: [np.array([1, 2, 3])]),
    ("polyadd", lambda ns, a, b: ns.polyadd(a, b), lambda r: _n(r, 2, 4)),
    ("polyadd_long_first", lambda ns, a, b: ns.polyadd(a, b), lambda r: _n(r, 5, 3)),
    ("polyadd_0d", lambda ns, a, b: ns.polyadd(a, b), lambda r: _n(r, (), 3)),
    ("polyadd_mixed", lambda ns, a, b: ns.polyadd(a, b),
     lambda r: [np.array([1, 2]), r.standard_normal(3).astype(F32)]),
    ("polysub", lambda ns, a, b: ns.polysub(a, b), lambda r: _n(r, 3, 3)),
    ("polysub_short_first", lambda ns, a, b: ns.polysub(a, b), lambda r: _n(r, 1, 4)),
    ("polymul", lambda ns, a, b: ns.polymul(a, b), lambda r: _n(r, 3, 4)),
    ("polymul_0d", lambda ns, a, b: ns.polymul(a, b), lambda r: _n(r, (), 2)),
    ("polymul_int", lambda ns, a, b: ns.polymul(a, b), lambda r: [np.array([1, 2]), np.array([3, 4, 5])]),
    ("polydiv", lambda ns, u, v: ns.polydiv(u, v), lambda r: _n(r, 5, 2)),
    ("polydiv_cubic", lambda ns, u, v: ns.polydiv(u, v), lambda r: _n(r, 6, 4)),
    ("polydiv_lower", lambda ns, u, v: ns.polydiv(u, v), lambda r: _n(r, 2, 4)),
    ("polydiv_exact", lambda ns, u, v: ns.polydiv(u, v),
     lambda r: [np.array([1.0, 3.0, 2.0]), np.array([1.0, 1.0])]),  # remainder 0: NumPy's stripping
    ("polydiv_f32", lambda ns, u, v: ns.polydiv(u, v),
     lambda r: [r.standard_normal(4).astype(F32), r.standard_normal(2).astype(F32)]),
    ("polydiv_int", lambda ns, u, v: ns.polydiv(u, v), lambda r: [np.array([2, 0, 4]), np.array([1, 3])]),
    ("polyfit", lambda ns, x, y: ns.polyfit(x, y, 2), lambda r: [np.linspace(-1, 1, 8), r.standard_normal(8)]),
    ("polyfit_2d", lambda ns, x, y: ns.polyfit(x, y, 3), lambda r: [r.uniform(0, 2, 9), r.standard_normal((9, 2))]),
    ("polyfit_w", lambda ns, x, y, w: ns.polyfit(x, y, 1, w=w),
     lambda r: [np.linspace(0, 1, 6), r.standard_normal(6), r.uniform(0.5, 2, 6)]),
    ("polyfit_w_2d", lambda ns, x, y, w: ns.polyfit(x, y, 2, w=w),
     lambda r: [np.linspace(0, 1, 6), r.standard_normal((6, 3)), r.uniform(0.5, 2, 6)]),
    ("polyfit_full", lambda ns, x, y: ns.polyfit(x, y, 2, full=True)[:2],
     lambda r: [np.linspace(0, 1, 7), r.standard_normal(7)]),
    ("polyfit_cov", lambda ns, x, y: ns.polyfit(x, y, 2, cov=True),
     lambda r: [np.linspace(0, 1, 7), r.standard_normal(7)]),
    ("polyfit_cov_2d", lambda ns, x, y: ns.polyfit(x, y, 1, cov=True),
     lambda r: [np.linspace(0, 1, 7), r.standard_normal((7, 2))]),
    ("polyfit_cov_unscaled", lambda ns, x, y: ns.polyfit(x, y, 2, cov="unscaled"),
     lambda r: [np.linspace(0, 1, 7), r.standard_normal((7, 2))]),
    ("polyfit_f32", lambda ns, x, y: ns.polyfit(x, y, 1),
     lambda r: [np.linspace(0, 1, 5).astype(F32), r.standard_normal(5).astype(F32)]),
    ("polyfit_int", lambda ns, x, y: ns.polyfit(x, y, 1), lambda r: [np.arange(5), np.array([1, 3, 2, 5, 4])]),
    ("roots", lambda ns, p: ns.roots(p), lambda r: [np.array([2.0, -12.0, 22.0, -12.0])]),
    ("roots_zeros", lambda ns, p: ns.roots(p), lambda r: [np.array([1.0, -3.0, 2.0, 0.0, 0.0])]),
    ("roots_trailing_zero", lambda ns, p: ns.roots(p), lambda r: [np.array([1.0, -3.0, 2.0, 0.0])]),
    ("roots_leading_zeros", lambda ns, p: ns.roots(p), lambda r: [np.array([0.0, 0.0, 1.0, -5.0, 6.0])]),
    ("roots_linear", lambda ns, p: ns.roots(p), lambda r: [np.array([2.0, 3.0])]),
    ("roots_constant", lambda ns, p: ns.roots(p), lambda r: [np.array([4.0])]),
    ("roots_f32", lambda ns, p: ns.roots(p), lambda r: [np.array([1.0, -3.0, 2.0], F32)]),
    ("roots_int", lambda ns, p: ns.roots(p), lambda r: [np.array([1, -6, 11, -6])]),
    ("poly", lambda ns, z: ns.poly(z), lambda r: _n(r, 4)),
    ("poly_f32", lambda ns, z: ns.poly(z), lambda r: [r.standard_normal(3).astype(F32)]),
    ("poly_int", lambda ns, z: ns.poly(z), lambda r: [np.array([1, 2, 3])]),
    ("poly_matrix", lambda ns, a: ns.poly(a), lambda r: _n(r, (3, 3))),
    ("poly_matrix_complex_eigenvalues", lambda ns, a: ns.poly(a), lambda r: [np.array([[0.5, -2.0], [1.5, 0.25]])]),
    ("poly_matrix_int", lambda ns, a: ns.poly(a), lambda r: [np.array([[1, 2], [3, 4]])]),
    ("cumulative_sum", lambda ns, x: ns.cumulative_sum(x), lambda r: _n(r, 5)),
    ("cumulative_sum_axis", lambda ns, x: ns.cumulative_sum(x, axis=1, include_initial=True),
     lambda r: _n(r, (2, 3, 2))),
    ("cumulative_sum_neg_axis", lambda ns, x: ns.cumulative_sum(x, axis=-1), lambda r: _n(r, (3, 4))),
    ("cumulative_sum_0d", lambda ns, x: ns.cumulative_sum(x, include_initial=True), lambda r: _n(r, ())),
    ("cumulative_sum_empty", lambda ns, x: ns.cumulative_sum(x, axis=0, include_initial=True),
     lambda r: _n(r, (0, 3))),
    ("cumulative_sum_bool", lambda ns, x: ns.cumulative_sum(x, include_initial=True),
     lambda r: [np.array([True, False, True])]),
    ("cumulative_sum_int8", lambda ns, x: ns.cumulative_sum(x), lambda r: [np.array([100, 100, 100], np.int8)]),
    ("cumulative_sum_dtype", lambda ns, x: ns.cumulative_sum(x, dtype=np.float32, include_initial=True),
     lambda r: [np.array([1, 2, 3])]),
    ("cumulative_sum_f32", lambda ns, x: ns.cumulative_sum(x, axis=0),
     lambda r: [r.standard_normal((3, 2)).astype(F32)]),
    ("cumulative_prod", lambda ns, x: ns.cumulative_prod(x, include_initial=True), lambda r: _n(r, 4)),
    ("cumulative_prod_axis", lambda ns, x: ns.cumulative_prod(x, axis=0), lambda r: _n(r, (3, 2))),
    ("cumulative_prod_zero", lambda ns, x: ns.cumulative_prod(x, axis=1, include_initial=True),
     lambda r: [np.array([[1.5, 0.0, 2.0], [0.5, -1.0, 3.0]])]),
    ("cumulative_prod_empty", lambda ns, x: ns.cumulative_prod(x, axis=1, include_initial=True),
     lambda r: _n(r, (2, 0))),
    ("cumulative_prod_int", lambda ns, x: ns.cumulative_prod(x), lambda r: [np.array([2, 3, 4])]),
    ("matvec", lambda ns, a, b: ns.matvec(a, b), lambda r: _n(r, (3, 4), 4)),
    ("matvec_batch", lambda ns, a, b: ns.matvec(a, b), lambda r: _n(r, (2, 1, 3, 4), (5, 4))),
    ("matvec_empty_batch", lambda ns, a, b: ns.matvec(a, b), lambda r: _n(r, (0, 2, 3), 3)),
    ("matvec_empty_core", lambda ns, a, b: ns.matvec(a, b), lambda r: _n(r, (2, 0), 0)),
    ("matvec_int", lambda ns, a, b: ns.matvec(a, b), lambda r: [np.arange(6).reshape(2, 3), np.array([1, -1, 2])]),
    ("matvec_mixed", lambda ns, a, b: ns.matvec(a, b),
     lambda r: [r.standard_normal((2, 3)).astype(F32), np.array([1, -1, 2])]),
    ("matvec_f32", lambda ns, a, b: ns.matvec(a, b),
     lambda r: [r.standard_normal((2, 3)).astype(F32), r.standard_normal(3).astype(F32)]),
    ("vecmat", lambda ns, a, b: ns.vecmat(a, b), lambda r: _n(r, 3, (3, 4))),
    ("vecmat_batch", lambda ns, a, b: ns.vecmat(a, b), lambda r: _n(r, (2, 1, 3), (4, 3, 2))),
    ("vecmat_empty", lambda ns, a, b: ns.vecmat(a, b), lambda r: _n(r, (0, 3), (3, 2))),
    ("vecdot", lambda ns, a, b: ns.vecdot(a, b), lambda r: _n(r, (2, 3), 3)),
    ("vecdot_axis", lambda ns, a, b: ns.vecdot(a, b, axis=0), lambda r: _n(r, (4, 2), (4, 1))),
    ("ascontiguousarray", lambda ns, a: ns.ascontiguousarray(a), lambda r: _n(r, (2, 3))),
    ("ascontiguousarray_0d", lambda ns, a: ns.ascontiguousarray(a), lambda r: _n(r, ())),
    ("ascontiguousarray_T", lambda ns, a: ns.ascontiguousarray(a.T), lambda r: _n(r, (2, 3))),
    ("asfortranarray", lambda ns, a: ns.asfortranarray(a), lambda r: _n(r, (3, 2))),
    ("asfortranarray_0d", lambda ns, a: ns.asfortranarray(a), lambda r: _n(r, ())),
    ("asarray_chkfinite", lambda ns, a: ns.asarray_chkfinite(a), lambda r: _n(r, (2, 2))),
    ("require", lambda ns, a: ns.require(a, None, ["C", "O"]), lambda r: _n(r, (2, 3))),
    ("require_T", lambda ns, a: ns.require(a.T, None, "F"), lambda r: _n(r, (2, 3))),
    ("require_none", lambda ns, a: ns.require(a), lambda r: _n(r, 4)),
    ("real_if_close", lambda ns, a: ns.real_if_close(a), lambda r: _n(r, 3)),
]
# integer results; a zero leading coefficient is a jump; two trailing zeros a double root (complex nearby)
NO_GRADIENT = {"astype_int", "polyfit_int", "roots_leading_zeros", "roots_zeros"}
CASE_IDS = [c[0] for c in CASES]
NUMPY2_ONLY = {"polydiv_f32"}


def _arrays(case):
    return case[2](np.random.default_rng(sum(map(ord, case[0]))))


def _inputs(arrays, device, grad=True):
    return [gk.tensor(a, device=device, requires_grad=grad and a.dtype == np.float64) for a in arrays]


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _tolerance(dtype):
    return (2e-5, 2e-5) if dtype in (np.float32, np.float16) else (1e-10, 1e-11)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_values_match_numpy(case, device):
    if case[0] in NUMPY2_ONLY and not NUMPY2:
        pytest.skip("NumPy 1.x promotes 1.0 / a float32 scalar to float64 (gradkit keeps NumPy 2's float32)")
    arrays = _arrays(case)
    xs = _inputs(arrays, device)
    outs = _as_list(case[1](gk, *xs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refs = _as_list(case[1](NP, *arrays))
    assert len(outs) == len(refs)
    for out, ref in zip(outs, refs, strict=True):
        ref = np.asarray(ref)
        assert isinstance(out, gk.Tensor) and out.device.split(":")[0] == device, case[0]
        assert out.shape == ref.shape, f"{case[0]}: shape {out.shape}, NumPy gives {ref.shape}"
        assert out.dtype == ref.dtype, f"{case[0]}: dtype {out.dtype}, NumPy gives {ref.dtype}"
        rtol, atol = _tolerance(ref.dtype)
        got = out.numpy()
        if case[0].startswith("roots"):  # the order of eigenvalues is LAPACK's; compare them sorted
            got, ref = np.sort(got), np.sort(ref)
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=case[0])


@pytest.mark.parametrize("case", [c for c in CASES if c[0] not in NO_GRADIENT], ids=lambda c: c[0])
def test_gradients_match_central_differences(case, device):
    xs = _inputs(_arrays(case), device)
    if not any(x.requires_grad for x in xs):
        out = _as_list(case[1](gk, *xs))
        assert not any(o.requires_grad for o in out), case[0]
        return
    assert gk.gradcheck(lambda *a: case[1](gk, *a), xs), case[0]


def test_exact_values_where_numpy_arithmetic_is_repeated(device):
    """polydiv, polyder, polyint, the windows and linspace-based spacing repeat NumPy's arithmetic in its order:
    NumPy's values to the bit on the CPU (a few ulps on a GPU)."""
    rng = np.random.default_rng(5)
    u, v, p = rng.standard_normal(7), rng.standard_normal(3), rng.standard_normal(6)
    t = lambda a: gk.tensor(a, device=device)  # noqa: E731
    q, r = gk.polydiv(t(u), t(v))
    qn, rn = np.polydiv(u, v)
    pairs = [
        (q, qn), (r, rn), (gk.polyder(t(p), 2), np.polyder(p, 2)),
        (gk.polyint(t(p), 2, [0.5, 1.5]), np.polyint(p, 2, [0.5, 1.5])),
        (gk.logspace(0.5, 3.0, 7, dtype=np.float64, device=device), np.logspace(0.5, 3.0, 7)),
        (gk.geomspace(2.0, 512.0, 9, dtype=np.float64, device=device), np.geomspace(2.0, 512.0, 9)),
        (gk.geomspace(-2.0, -512.0, 6, endpoint=False, dtype=np.float64, device=device),
         np.geomspace(-2.0, -512.0, 6, endpoint=False)),
        (gk.hanning(9, device=device), np.hanning(9)), (gk.bartlett(6, device=device), np.bartlett(6)),
        (gk.blackman(7, device=device), np.blackman(7)), (gk.hamming(10, device=device), np.hamming(10)),
    ]  # fmt: skip
    for out, ref in pairs:
        assert out.dtype == ref.dtype and out.shape == ref.shape
        if device == "cuda":
            np.testing.assert_allclose(out.numpy(), ref, rtol=8 * np.finfo(ref.dtype).eps, atol=1e-15)
        else:
            np.testing.assert_array_equal(out.numpy(), ref)


def test_poly_of_the_roots_gives_the_polynomial_back(device):
    p = np.array([2.0, -3.0, -11.0, 6.0])  # roots 3, -2, 0.5
    r = gk.roots(gk.tensor(p, device=device))
    np.testing.assert_allclose(np.sort(r.numpy()), [-2.0, 0.5, 3.0], rtol=1e-12)
    np.testing.assert_allclose((gk.poly(r) * 2.0).numpy(), p, rtol=1e-12, atol=1e-12)


def test_roots_gradient_is_the_implicit_function_rule(device):
    """dr/dp_k = -r**(N-k) / p'(r), also for a root at 0 from a trailing zero; leading zeros get none."""
    p = gk.tensor(np.array([0.0, 1.0, -3.0, 2.0, 0.0]), device=device, requires_grad=True)  # roots 2, 1, 0
    r = gk.roots(p)
    order = np.argsort(r.numpy())
    np.testing.assert_allclose(r.numpy()[order], [0.0, 1.0, 2.0], atol=1e-12)
    g = np.zeros(3)
    g[order[2]] = 1.0  # d(root 2)/dp
    (r * gk.tensor(g, device=device)).sum().backward()
    slope = 3 * 4 - 6 * 2 + 2  # p'(2) of x^3 - 3x^2 + 2x
    np.testing.assert_allclose(p.grad.numpy(), [0.0, -8 / slope, -4 / slope, -2 / slope, -1 / slope], rtol=1e-10)


def test_second_derivatives_of_polynomial_functions_match_central_differences(device):
    rng = np.random.default_rng(2)
    x = gk.tensor(rng.standard_normal(4), device=device, requires_grad=True)

    def first(z):
        (g,) = gk.autograd.grad((gk.poly(z) ** 2).sum() + gk.polyint(z, 2).sum() ** 2, [z], create_graph=True)
        return g

    assert gk.gradcheck(first, [x], atol=1e-4, rtol=1e-3)
    p = gk.asarray([1.0, -6.0, 11.0, -6.0], device=device).requires_grad_()
    assert gk.gradcheck(lambda q: gk.autograd.grad((gk.roots(q) ** 3).sum(), [q], create_graph=True)[0], [p],
                        atol=1e-4, rtol=1e-3)  # fmt: skip


# ------------------------------------------------------------------ creation functions
CREATION = [
    ("identity", lambda ns, **kw: ns.identity(3, **kw)),
    ("identity_0", lambda ns, **kw: ns.identity(0, **kw)),
    ("tri", lambda ns, **kw: ns.tri(3, **kw)),
    ("tri_rect", lambda ns, **kw: ns.tri(2, 4, 1, **kw)),
    ("tri_neg_k", lambda ns, **kw: ns.tri(4, 3, -2, **kw)),
    ("tri_empty", lambda ns, **kw: ns.tri(0, 3, **kw)),
    ("logspace", lambda ns, **kw: ns.logspace(0, 3, 4, **kw)),
    ("logspace_base2", lambda ns, **kw: ns.logspace(-1, 4, 6, base=2, endpoint=False, **kw)),
    ("logspace_one", lambda ns, **kw: ns.logspace(2, 5, 1, **kw)),
    ("logspace_none", lambda ns, **kw: ns.logspace(2, 5, 0, **kw)),
    ("logspace_lists", lambda ns, **kw: ns.logspace([0, 1], [2, 3], 3, **kw)),
    ("logspace_lists_axis", lambda ns, **kw: ns.logspace([0, 1], 2.5, 3, axis=-1, **kw)),
    ("logspace_array_base", lambda ns, **kw: ns.logspace([0, 1], [2, 3], 4, base=[2.0, 3.0], axis=1, **kw)),
    ("logspace_same", lambda ns, **kw: ns.logspace(1, 1, 3, **kw)),
    ("geomspace", lambda ns, **kw: ns.geomspace(1, 1000, 4, **kw)),
    ("geomspace_negative", lambda ns, **kw: ns.geomspace(-1, -256, 9, **kw)),
    ("geomspace_noend", lambda ns, **kw: ns.geomspace(3, 300, 5, endpoint=False, **kw)),
    ("geomspace_one", lambda ns, **kw: ns.geomspace(3, 300, 1, **kw)),
    ("geomspace_lists", lambda ns, **kw: ns.geomspace([1, 2], [64, 32], 5, axis=-1, **kw)),
    ("fromfunction", lambda ns, **kw: ns.fromfunction(lambda i, j: i * 10 + j, (2, 3), **kw)),
    ("fromfunction_1d", lambda ns, **kw: ns.fromfunction(lambda i: i ** 2, (4,), **kw)),
    ("fromfunction_empty", lambda ns, **kw: ns.fromfunction(lambda i, j: i + j, (0, 3), **kw)),
]
NO_DTYPE_DEFAULT = {"fromfunction"}  # NumPy's float64 there as elsewhere: compare with an explicit dtype


@pytest.mark.parametrize("dtype", [None, np.float64, np.int32])
@pytest.mark.parametrize("case", CREATION, ids=lambda c: c[0])
def test_creation_functions_match_numpy(case, dtype, device):
    name, fn = case
    if dtype is np.int32 and name.startswith(("logspace_array_base", "fromfunction_1d")):
        pytest.skip("NumPy's result depends on float rounding before the cast")
    kw = {} if dtype is None else {"dtype": dtype}
    out = fn(gk, device=device, **kw)
    ref = np.asarray(fn(NP, dtype=np.float32 if dtype is None else dtype))
    assert isinstance(out, gk.Tensor) and out.device.split(":")[0] == device
    assert out.shape == ref.shape and out.dtype == ref.dtype, (name, out.shape, out.dtype, ref.shape, ref.dtype)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6, atol=1e-6)
    assert not out.requires_grad


def test_creation_functions_default_to_float32_and_take_requires_grad(device):
    for out in (gk.identity(2, device=device), gk.tri(2, device=device), gk.logspace(0, 1, 3, device=device),
                gk.geomspace(1, 8, 4, device=device), gk.fromfunction(lambda i: i, (3,), device=device)):  # fmt: skip
        assert out.dtype == gk.float32 and out.device.split(":")[0] == device
    t = gk.logspace(0, 1, 3, device=device, requires_grad=True)
    assert t.requires_grad and t.is_leaf
    assert gk.identity(2, device=device, requires_grad=True).requires_grad
    assert gk.tri(2, 3, dtype=np.float64, device=device, requires_grad=True).requires_grad
    with pytest.raises(gk.DTypeError, match="tri"):
        gk.tri(2, dtype=np.int64, device=device, requires_grad=True)


def test_spacing_from_tensors_keeps_their_dtype_and_device(device):
    s = gk.tensor(np.float32(0.5), device=device)
    e = gk.tensor(np.array([2.0, 3.0], np.float32), device=device)
    ends = (0.5, np.array([2.0, 3.0]))
    # NumPy 2's dtypes (NumPy 1.x made some float64 by its value-based casting of 0-d arrays)
    for out, ref, dtype in ((gk.logspace(s, e, 5), np.logspace(*ends, 5), gk.float32),
                            (gk.geomspace(s, e, 4, axis=1), np.geomspace(*ends, 4, axis=1), gk.float64),
                            (gk.geomspace(s, e, 4, dtype=np.float32), np.geomspace(*ends, 4), gk.float32)):  # fmt: skip
        assert out.device.split(":")[0] == device and out.dtype == dtype and out.shape == ref.shape
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)


@pytest.mark.parametrize("M", [-2, 0, 1, 2, 5, 8, 5.0])
@pytest.mark.parametrize("name", ["hanning", "hamming", "blackman", "bartlett"])
def test_windows_match_numpy(name, M, device):
    out = getattr(gk, name)(M, device=device)
    ref = getattr(np, name)(M)
    assert out.device.split(":")[0] == device and out.dtype == ref.dtype == np.float64 and out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("M, beta", [(0, 2.0), (1, 5.0), (2, 0.0), (7, 14.0), (8, 2.5), (6, 1)])
def test_kaiser_matches_numpy(M, beta, device):
    out = gk.kaiser(M, beta, device=device)
    ref = np.kaiser(M, beta)
    assert out.device.split(":")[0] == device and out.dtype == ref.dtype and out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-13, atol=1e-15)


def test_window_gradients_match_central_differences(device):
    beta = gk.tensor(np.float64(3.5), device=device, requires_grad=True)
    assert gk.gradcheck(lambda b: gk.kaiser(7, b), [beta])
    assert gk.kaiser(7, gk.tensor(np.float32(3.5), device=device)).dtype == gk.float64  # NumPy's float64
    assert not gk.hanning(5, device=device).requires_grad


def test_spacing_gradients_match_central_differences(device):
    t = lambda a: gk.tensor(np.asarray(a, np.float64), device=device, requires_grad=True)  # noqa: E731
    assert gk.gradcheck(lambda s, e: gk.logspace(s, e, 5, base=3.0), [t(0.5), t([1.0, 1.5])])
    assert gk.gradcheck(lambda s, e, b: gk.logspace(s, e, 4, base=b, axis=-1), [t([0.1, 0.2]), t(1.0), t([2.0, 3.0])])
    assert gk.gradcheck(lambda s, e: gk.geomspace(s, e, 5), [t(0.5), t([3.0, 4.0])])
    assert gk.gradcheck(lambda s, e: gk.geomspace(s, e, 4, endpoint=False, axis=-1), [t(-0.5), t([-3.0, -2.0])])
    grids = gk.fromfunction(lambda i, j: (i, j), (2, 2), dtype=np.float64, device=device)
    assert all(not g.requires_grad for g in grids)


def test_copy_and_astype_own_their_memory(device):
    x = gk.asarray([1.0, 2.0], device=device).requires_grad_()
    for y in (gk.copy(x), gk.astype(x, x.dtype), gk.astype(x, np.float64, copy=True)):
        assert not gk.shares_memory(x, y) and y.requires_grad
    assert gk.astype(x, x.dtype, copy=False) is x
    a = np.array([1.0, 2.0])
    assert not gk.shares_memory(gk.copy(a), a)
    assert gk.astype(x, np.int64).dtype == gk.int64 and not gk.astype(x, np.int64).requires_grad
    assert gk.copy(x, order="F").shape == (2,)
    moved = gk.astype(gk.tensor([1, 2]), np.float64, device=device)
    assert moved.device.split(":")[0] == device and moved.dtype == gk.float64


# ------------------------------------------------------------------ histograms
def _hist_check(outs, refs, device):
    for out, ref in zip(outs, refs, strict=True):
        ref = np.asarray(ref)
        assert out.device.split(":")[0] == device and not out.requires_grad
        assert out.dtype == ref.dtype and out.shape == ref.shape, (out.dtype, ref.dtype, out.shape, ref.shape)
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)


HISTDD = [
    ("bins_int", lambda s: (s,), {"bins": 3}),
    ("bins_per_axis", lambda s: (s,), {"bins": (2, 4, 3)}),
    ("range", lambda s: (s,), {"bins": 3, "range": [(-1, 1), None, (0.0, 2.5)]}),
    ("density", lambda s: (s,), {"bins": 2, "density": True}),
    ("weights", lambda s: (s,), {"bins": 2, "weights": np.linspace(0, 1, 40)}),
    ("edges", lambda s: (s,), {"bins": [np.array([-3.0, 0, 3]), 2, np.array([-1.0, 1])]}),
    ("float32", lambda s: (s.astype(F32),), {"bins": 3}),
    ("ints", lambda s: ((s * 3).astype(np.int64),), {"bins": 3}),
    ("coordinate_list", lambda s: ([s[:, 0], s[:, 1]],), {"bins": 2}),
    ("one_dimensional", lambda s: (s[:, 0],), {"bins": 4}),
    ("empty", lambda s: (s[:0],), {"bins": 2}),
]


@pytest.mark.parametrize("case", HISTDD, ids=lambda c: c[0])
def test_histogramdd_matches_numpy(case, device):
    _, make, kw = case
    sample = np.random.default_rng(3).standard_normal((40, 3))
    (arg,) = make(sample)
    ref_h, ref_edges = np.histogramdd(arg, **kw)
    on = lambda a: gk.tensor(a, device=device) if isinstance(a, np.ndarray) else a  # noqa: E731
    garg = [on(a) for a in arg] if isinstance(arg, list) else on(arg)
    gkw = dict(kw)
    if "weights" in gkw:
        gkw["weights"] = on(gkw["weights"])
    if isinstance(gkw["bins"], list):
        gkw["bins"] = [on(b) for b in gkw["bins"]]
    h, edges = gk.histogramdd(garg, **gkw)
    _hist_check([h, *edges], [ref_h, *ref_edges], device)


def test_histogram2d_and_bin_edges_match_numpy(device):
    rng = np.random.default_rng(4)
    x, y, w = rng.standard_normal(30), rng.standard_normal(30), rng.uniform(0, 1, 30)
    t = lambda a: gk.tensor(a, device=device)  # noqa: E731
    _hist_check(gk.histogram2d(t(x), t(y)), np.histogram2d(x, y), device)
    _hist_check(gk.histogram2d(t(x), t(y), bins=(3, 5), weights=t(w), density=True),
                np.histogram2d(x, y, bins=(3, 5), weights=w, density=True), device)  # fmt: skip
    edges = np.array([-2.0, -0.5, 0.0, 2.0])
    _hist_check(gk.histogram2d(t(x), t(y), bins=t(edges)), np.histogram2d(x, y, bins=edges), device)
    _hist_check(gk.histogram2d(t(x), t(y), bins=[t(edges), 2], range=[None, (-1, 1)]),
                np.histogram2d(x, y, bins=[edges, 2], range=[None, (-1, 1)]), device)  # fmt: skip
    for bins, rng_ in ((10, None), (4, (-1.0, 3.0)), ("auto", None), ("sturges", (0.0, 1.0))):
        _hist_check([gk.histogram_bin_edges(t(x), bins, rng_)], [np.histogram_bin_edges(x, bins, rng_)], device)
    _hist_check([gk.histogram_bin_edges(t(x.astype(F32)), 3)], [np.histogram_bin_edges(x.astype(F32), 3)], device)
    _hist_check([gk.histogram_bin_edges(t(x), t(edges))], [np.histogram_bin_edges(x, edges)], device)


# ------------------------------------------------------------------ queries
def test_shape_ndim_size_and_scalars(device):
    x = gk.tensor(np.zeros((2, 3, 4)), device=device)
    assert gk.shape(x) == (2, 3, 4) and gk.shape([[1, 2, 3]]) == (1, 3) and gk.shape(5) == ()
    assert gk.ndim(x) == 3 and gk.ndim(2.0) == 0 and gk.ndim([[1], [2]]) == 2
    assert gk.size(x) == 24 and gk.size(x, 1) == 3 and gk.size(x, -1) == 4 and gk.size(x, (0, 2)) == 8
    assert gk.size([1, 2, 3]) == 3 and gk.size(gk.tensor(1.0, device=device)) == 1
    assert gk.isscalar(3.0) and gk.isscalar(np.float32(1)) and gk.isscalar("a")
    assert not gk.isscalar(gk.tensor(3.0, device=device)) and not gk.isscalar([1])
    assert not gk.iterable(gk.tensor(3.0, device=device)) and gk.iterable(x) and gk.iterable([1])
    assert not gk.iterable(3)
    with pytest.raises(gk.IndexOutOfRangeError, match="size"):
        gk.size(x, 3)


def test_array_equal_and_equiv(device):
    t = lambda a: gk.tensor(np.asarray(a), device=device)  # noqa: E731
    nan = np.nan
    cases = [
        ([1.0, 2.0], [1.0, 2.0], {}), ([1.0, 2.0], [1.0, 3.0], {}), ([1.0, nan], [1.0, nan], {}),
        ([1.0, nan], [1.0, nan], {"equal_nan": True}), ([nan, 1.0], [1.0, nan], {"equal_nan": True}),
        ([1, 2], [1.0, 2.0], {"equal_nan": True}), ([1, 2], [1, 2, 3], {}), ([[1, 2]], [1, 2], {}),
        (np.zeros((0, 2)), np.zeros((0, 2)), {}), (3, 3.0, {}),
    ]  # fmt: skip
    for a, b, kw in cases:
        assert gk.array_equal(t(a), t(b), **kw) is np.array_equal(a, b, **kw), (a, b, kw)
        assert gk.array_equal(t(a), b, **kw) is np.array_equal(a, b, **kw)
    for a, b in (([1, 2], [[1, 2], [1, 2]]), ([1, 2], [[1, 2], [1, 3]]), ([1, 2], [1, 2, 3]), (1, [1, 1]),
                 ([], [])):  # fmt: skip
        assert gk.array_equiv(t(a), b) is bool(np.array_equiv(a, b)), (a, b)
    assert gk.array_equal("text", [1]) is False


def test_dtype_queries_match_numpy(device):
    i8 = gk.tensor(np.array([1, 2], np.int8), device=device)
    f32 = gk.tensor(np.array([1.0], np.float32), device=device)
    a8, a32 = np.array([1, 2], np.int8), np.array([1.0], np.float32)
    assert gk.result_type(i8, f32) == np.result_type(a8, a32)
    assert gk.result_type(i8, np.int16, gk.float16) == np.result_type(a8, np.int16, np.float16)
    assert gk.result_type(f32, 2.0) == np.float32 and gk.result_type(gk.float64) == np.float64
    assert gk.promote_types(gk.float32, gk.int64) == np.promote_types(np.float32, np.int64)
    assert gk.promote_types(i8, "uint8") == np.int16
    assert gk.can_cast(i8, gk.float32) and not gk.can_cast(f32, gk.int64)
    assert gk.can_cast(f32, gk.int64, "unsafe") and gk.can_cast(gk.float64, np.float32, "same_kind")
    assert gk.min_scalar_type(gk.tensor(300, device=device)) == np.min_scalar_type(300) == np.uint16
    assert gk.min_scalar_type(gk.tensor(-1.5, device=device)) == np.float16
    assert gk.min_scalar_type(i8) == np.int8 and gk.min_scalar_type(10) == np.uint8
    assert gk.common_type(i8, f32) is np.common_type(a8, a32) is np.float64
    assert gk.common_type(f32) is np.float32
    assert gk.issubdtype(f32, np.floating) and gk.issubdtype(gk.int8, np.signedinteger)
    assert not gk.issubdtype(i8.dtype, np.floating) and gk.issubdtype(np.float64, np.inexact)
    assert gk.broadcast_shapes((2, 1), (3,), ()) == (2, 3) and gk.broadcast_shapes() == ()


ISDTYPE = [
    (gk.float32, "real floating", True), (gk.float16, "real floating", True), (gk.int8, "real floating", False),
    (gk.int64, "signed integer", True), (gk.uint8, "signed integer", False), (gk.uint8, "unsigned integer", True),
    (gk.uint8, "integral", True), (gk.bool_, "integral", False), (gk.bool_, "bool", True),
    (gk.float64, "numeric", True), (gk.bool_, "numeric", False), (gk.float32, "complex floating", False),
    (gk.int16, ("bool", "signed integer"), True), (gk.float32, (gk.float64, "integral"), False),
    (gk.float32, gk.float32, True), (np.int32, "integral", True), (np.float64, np.float64, True),
]  # fmt: skip


@pytest.mark.parametrize("dtype, kind, expected", ISDTYPE)
def test_isdtype_is_the_array_apis(dtype, kind, expected):
    assert gk.isdtype(dtype, kind) is expected
    if hasattr(np, "isdtype"):
        assert np.isdtype(dtype, kind) is expected


def test_shares_memory_answers_by_the_arrays(device):
    x = gk.tensor(np.arange(12.0).reshape(3, 4), device=device)
    y = gk.tensor(np.arange(12.0).reshape(3, 4), device=device)
    assert gk.shares_memory(x, x[1]) and gk.may_share_memory(x, x.reshape(-1))
    assert not gk.shares_memory(x, y) and not gk.may_share_memory(x, y)
    assert not gk.shares_memory(x, gk.clone(x)) and not gk.shares_memory(x, [1.0])
    assert gk.shares_memory(x, x, max_work=1000)
    a = np.arange(4.0)
    if device == "cpu":
        assert gk.shares_memory(gk.asarray(a, device="cpu"), a) and gk.may_share_memory(a, a[1:])
        assert not gk.shares_memory(a[::2], a[1::2]) and gk.may_share_memory(a[::2], a[1::2])
    else:
        assert not gk.shares_memory(x, a)  # the two sides of the bus


# ------------------------------------------------------------------ conversions
def test_conversions_copy_only_when_needed(device):
    x = gk.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    assert gk.ascontiguousarray(x) is x and gk.asfortranarray(x) is x and gk.require(x, requirements="C") is x
    assert gk.asarray_chkfinite(x) is x and gk.real_if_close(x) is x and gk.require(x) is x
    xt = x.transpose()
    c = gk.ascontiguousarray(xt)
    assert c._data.flags.c_contiguous and c.shape == (3, 2) and c.requires_grad
    f = gk.asfortranarray(xt)  # C-ordered: gradkit's tensors are
    assert f._data.flags.c_contiguous and np.array_equal(f.numpy(), x.numpy().T)
    owned = gk.require(x[0], requirements=["O"])
    assert not gk.shares_memory(owned, x) and owned.requires_grad
    assert gk.require([1, 2], np.float32, "W").dtype == gk.float32
    assert gk.ascontiguousarray(3.0).shape == (1,) and gk.ascontiguousarray(3, dtype=np.float32).dtype == gk.float32
    (gk.ascontiguousarray(xt) * gk.tensor([[1.0, 2.0]] * 3, device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])


def test_asarray_chkfinite_refuses_inf_and_nan(device):
    for bad in ([1.0, np.inf], [np.nan], [[0.0, -np.inf]]):
        with pytest.raises(gk.InvalidArgumentError, match="asarray_chkfinite: array must not contain infs or NaNs"):
            gk.asarray_chkfinite(gk.tensor(bad, device=device))
        with pytest.raises(ValueError):
            np.asarray_chkfinite(bad)
    assert gk.asarray_chkfinite([1, 2]).dtype == gk.int64
    assert gk.asarray_chkfinite(gk.tensor(np.zeros((0, 2)), device=device)).shape == (0, 2)


# ------------------------------------------------------------------ what NumPy leaves open, and warnings
def test_roots_refuses_complex_roots(device):
    with pytest.raises(gk.InvalidArgumentError, match="roots: the polynomial has complex roots"):
        gk.roots(gk.tensor([1.0, 0.0, 1.0], device=device))
    assert gk.roots(gk.tensor([0.0, 0.0], device=device)).shape == (0,)


def test_polydiv_strips_the_remainder_as_numpy(device):
    for u, v in (([1.0, 3.0, 2.0], [1.0, 1.0]), ([1.0, 0.0, -1.0], [1.0, -1.0]), ([2.0, 1e-9, 5.0], [1.0, 0.0])):
        q, r = gk.polydiv(gk.asarray(u, device=device), gk.asarray(v, device=device))
        qn, rn = np.polydiv(np.array(u), np.array(v))
        np.testing.assert_array_equal(q.numpy(), qn)
        np.testing.assert_array_equal(r.numpy(), rn)


def test_polyfit_warns_on_rank_deficiency_on_the_cpu(device):
    x = gk.tensor(np.ones(4), device=device)
    y = gk.tensor(np.arange(1.0, 5.0), device=device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = gk.polyfit(x, y, 2)
    hits = [w for w in caught if "Polyfit may be poorly conditioned" in str(w.message)]
    assert len(hits) == (1 if device == "cpu" else 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(c.numpy(), np.polyfit(x.numpy(), y.numpy(), 2), rtol=1e-10, atol=1e-10)
    c, resid, rank, sv, rcond = gk.polyfit(x, y, 2, full=True)
    assert int(rank) == 1 and resid.shape == (0,) and rcond == 4 * np.finfo(np.float64).eps


def test_integer_results_have_no_gradient(device):
    x = gk.tensor(np.random.default_rng(0).standard_normal((20, 2)), device=device, requires_grad=True)
    h, edges = gk.histogramdd(x, bins=3)
    assert not h.requires_grad and not any(e.requires_grad for e in edges)
    assert not gk.cumulative_sum(gk.tensor([1, 2], device=device)).requires_grad
    assert not gk.roots(gk.tensor([1, -3, 2], device=device)).requires_grad


# ------------------------------------------------------------------ errors
ERRORS = [
    (lambda d: gk.identity(-1, device=d), gk.ShapeError, "identity: n must be non-negative"),
    (lambda d: gk.identity(2.0, device=d), gk.ArgumentTypeError, "identity: n must be an int"),
    (lambda d: gk.tri(2, -1, device=d), gk.ShapeError, "tri: M must be non-negative"),
    (lambda d: gk.tri(2, k=0.5, device=d), gk.ArgumentTypeError, "tri: k must be an int"),
    (lambda d: gk.logspace(0, 1, -1, device=d), gk.InvalidArgumentError, "logspace: num must be non-negative"),
    (lambda d: gk.logspace(0, 1, 2.5, device=d), gk.ArgumentTypeError, "logspace: num must be an int"),
    (lambda d: gk.logspace("a", 1, device=d), gk.ArgumentTypeError, "logspace: start and stop must be numbers"),
    (lambda d: gk.geomspace(0, 10, device=d), gk.InvalidArgumentError, "geomspace: a geometric sequence cannot"),
    (lambda d: gk.fromfunction(3, (2,), device=d), gk.ArgumentTypeError, "fromfunction: function must be callable"),
    (lambda d: gk.fromfunction(lambda i: i, (-1,), device=d), gk.ShapeError, "fromfunction: negative dimension"),
    (lambda d: gk.copy(gk.tensor([1.0], device=d), order="X"), gk.InvalidArgumentError, "copy: order must be"),
    (lambda d: gk.astype(gk.tensor([1.0], device=d), "complex64"), gk.DTypeError, "astype"),
    (lambda d: gk.hanning("5", device=d), gk.ArgumentTypeError, "hanning: M must be a number"),
    (lambda d: gk.kaiser(5, gk.tensor([1.0, 2.0], device=d)), gk.ShapeError, "kaiser: beta must be a number or a 0-d"),
    (lambda d: gk.polyder(gk.tensor([1.0, 2.0], device=d), -1), gk.InvalidArgumentError, "polyder: the order"),
    (lambda d: gk.polyder(gk.tensor(1.0, device=d)), gk.ShapeError, "polyder: p must be a 1-d"),
    (lambda d: gk.polyint(gk.tensor([1.0], device=d), 3, [1.0, 2.0]), gk.InvalidArgumentError, "polyint: k must"),
    (lambda d: gk.polyint(gk.tensor([1.0], device=d), -2), gk.InvalidArgumentError, "polyint: the order"),
    (lambda d: gk.polyadd(gk.tensor([[1.0]], device=d), [1.0]), gk.ShapeError, "polyadd: a1 must be a 1-d"),
    (lambda d: gk.polymul(gk.tensor([], device=d), [1.0]), gk.ShapeError, "polymul: the polynomials must have"),
    (lambda d: gk.polydiv(gk.tensor([1.0], device=d), []), gk.ShapeError, "polydiv: the polynomials must have"),
    (lambda d: gk.polyfit(gk.tensor([[1.0]], device=d), [1.0], 1), gk.ShapeError, "polyfit: expected a 1-d x"),
    (lambda d: gk.polyfit(gk.tensor([1.0, 2.0], device=d), [1.0], 1), gk.ShapeError, "polyfit: x of length 2"),
    (lambda d: gk.polyfit(gk.tensor([1.0, 2.0], device=d), [1.0, 2.0], -1), gk.InvalidArgumentError,
     "polyfit: expected deg >= 0"),
    (lambda d: gk.polyfit(gk.tensor([1.0, 2.0], device=d), [1.0, 2.0], 1, w=[1.0]), gk.ShapeError,
     "polyfit: 1 weights for 2 points"),
    (lambda d: gk.polyfit(gk.tensor([1.0, 2.0], device=d), [1.0, 2.0], 1, cov=True), gk.InvalidArgumentError,
     "polyfit: the number of data points"),
    (lambda d: gk.polyfit(gk.tensor([1.0, 2.0], device=d), [1.0, 2.0], 1, cov="scaled"), gk.InvalidArgumentError,
     "polyfit: cov must be"),
    (lambda d: gk.roots(gk.tensor([[1.0, 2.0]], device=d)), gk.ShapeError, "roots: p must be a 1-d"),
    (lambda d: gk.poly(gk.tensor(np.ones((2, 3)), device=d)), gk.ShapeError, "poly: input must be 1-d or a non-empty"),
    (lambda d: gk.cumulative_sum(gk.tensor(np.ones((2, 2)), device=d)), gk.InvalidArgumentError,
     "cumulative_sum: axis must be given"),
    (lambda d: gk.cumulative_prod(gk.tensor([1.0], device=d), axis=1), gk.IndexOutOfRangeError, "cumulative_prod"),
    (lambda d: gk.cumulative_sum(gk.tensor([1.0], device=d), out=np.zeros(1)), gk.InvalidArgumentError,
     "cumulative_sum: out= is not supported"),
    (lambda d: gk.matvec(gk.tensor(np.ones((2, 3)), device=d), np.ones(2)), gk.ShapeError, "matvec: expected matrices"),
    (lambda d: gk.matvec(gk.tensor(np.ones((2, 2, 3)), device=d), np.ones((3, 3))), gk.ShapeError,
     "matvec: the batch axes"),
    (lambda d: gk.vecmat(gk.tensor(np.ones(3), device=d), np.ones(3)), gk.ShapeError, "vecmat: expected vectors"),
    (lambda d: gk.histogramdd(gk.tensor(np.ones((4, 2)), device=d), bins=(2, 2, 2)), gk.InvalidArgumentError,
     "histogramdd"),
    (lambda d: gk.histogramdd(gk.tensor(np.ones((2, 2, 2)), device=d)), gk.ShapeError, "histogramdd: the sample must"),
    (lambda d: gk.histogram2d(gk.tensor(np.ones(3), device=d), np.ones(2)), gk.ShapeError, "histogram2d: x and y"),
    (lambda d: gk.broadcast_shapes((2,), (3,)), gk.ShapeError, "broadcast_shapes: the shapes"),
    (lambda d: gk.promote_types(gk.float32, "nonsense"), gk.DTypeError, "promote_types"),
    (lambda d: gk.can_cast(gk.int8, gk.float32, "sometimes"), gk.InvalidArgumentError, "can_cast: casting must"),
    (lambda d: gk.isdtype("float32", "real floating"), gk.ArgumentTypeError, "isdtype: dtype must be a NumPy dtype"),
    (lambda d: gk.isdtype(gk.float32, "floating"), gk.InvalidArgumentError, "isdtype: kind must be one of"),
    (lambda d: gk.isdtype(gk.float32, 3), gk.ArgumentTypeError, "isdtype: kind must be a str"),
    (lambda d: gk.require(gk.tensor([1.0], device=d), requirements="CF"), gk.InvalidArgumentError,
     'require: cannot specify both "C" and "F"'),
    (lambda d: gk.require(gk.tensor([1.0], device=d), requirements=["X"]), gk.InvalidArgumentError,
     "require: unknown requirement"),
    (lambda d: gk.asarray_chkfinite(gk.tensor([1.0], device=d), order="Z"), gk.InvalidArgumentError,
     "asarray_chkfinite: order must be"),
    (lambda d: gk.real_if_close(gk.tensor([1.0], device=d), tol="big"), gk.ArgumentTypeError,
     "real_if_close: tol must be a number"),
]  # fmt: skip


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_errors_name_the_function(index, device):
    fn, exc, message = ERRORS[index]
    with pytest.raises(exc, match=message.replace("(", r"\(")):
        fn(device)
