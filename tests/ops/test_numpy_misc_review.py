"""Review fixes for gradkit/ops/numpy_misc.py, each against NumPy (the installed one) on both devices.

polymul drops leading zero coefficients as NumPy's poly1d does; polydiv's ``+ 0.0`` turns a -0.0 divisor
lead into 0.0; poly of roots keeps the leading 1 beside an inf or NaN root; a matrix's characteristic
polynomial is NumPy's (its eigenvalues'), not a Faddeev-LeVerrier recurrence that loses every digit past
a few dozen rows, with the adjugate's gradient; NumPy's TypeErrors stay TypeErrors; isdtype of an
abstract kind; size with a repeated axis; polyfit's rcond a NumPy scalar.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradkit as gk


def _t(a, device, grad=False):
    return gk.tensor(np.asarray(a), device=device, requires_grad=grad)


POLYMUL = [
    ([0.0, 1.0, 2.0], [1.0, 2.0]),
    ([0.0, 0.0], [0.0, 0.0]),
    ([0.0, 0.0], [1.0, 2.0]),
    ([-0.0, 1.0], [3.0]),
    (np.array([0, 1], np.int8), np.array([2], np.int8)),
    (np.array([False, True]), np.array([True])),
    (np.array([0.0, 1.0, 2.0], np.float32), [0.0, 0.0, 4.0]),
    (2.5, [0.0, 3.0]),
]


@pytest.mark.parametrize("a, b", POLYMUL)
def test_polymul_drops_leading_zeros_as_numpy(a, b, device):
    ref = np.polymul(a, b)
    out = gk.polymul(_t(a, device), b)
    assert out.device.split(":")[0] == device
    assert out.shape == ref.shape and out.dtype == ref.dtype, (out.shape, ref.shape, out.dtype, ref.dtype)
    np.testing.assert_array_equal(out.numpy(), ref)


def test_polymul_gradients_central_differences_and_dropped_zeros(device):
    rng = np.random.default_rng(11)
    p, q = _t(rng.standard_normal(3), device, True), _t(rng.standard_normal(4), device, True)
    assert gk.gradcheck(gk.polymul, [p, q])
    z = _t([0.0, 1.5, -2.0], device, True)
    out = gk.polymul(z, [1.0, 2.0])
    assert out.shape == (3,)
    out.sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 3.0, 3.0])  # the dropped zero gets none


def test_polydiv_negative_zero_lead_as_numpy(device):
    rng = np.random.default_rng(12)
    for u in (rng.standard_normal(5), np.array([1.5, -2.0, 0.5, 4.0], np.float32), np.array([1, 2, 3], np.int8)):
        with np.errstate(all="ignore"):
            qn, rn = np.polydiv(u, np.array([-0.0, 1.0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q, r = gk.polydiv(_t(u, device), [-0.0, 1.0])
        for out, ref in ((q, qn), (r, rn)):
            assert out.dtype == ref.dtype and out.shape == ref.shape
            np.testing.assert_array_equal(out.numpy(), ref)  # +inf where 1 / -0.0 would give -inf


def test_poly_keeps_the_leading_one_beside_inf_and_nan_roots(device):
    for z in ([np.nan, 1.0], [np.inf, 2.0], [1.0, -np.inf]):
        with np.errstate(all="ignore"):
            ref = np.poly(z)
            out = gk.poly(_t(z, device))
        assert out.dtype == ref.dtype
        np.testing.assert_array_equal(out.numpy(), ref)


@pytest.mark.parametrize("n", [1, 3, 12, 40, 90])
def test_poly_of_a_matrix_is_numpys_values(n, device):
    """Faddeev-LeVerrier lost 1e-8 of the largest coefficient at 40 rows and all of it at 80; NumPy's
    product over the eigenvalues is what gk.poly gives now, in the matrix's float dtype."""
    rng = np.random.default_rng(n)
    for a in (rng.standard_normal((n, n)), np.diag(np.arange(1.0, n + 1)),
              rng.standard_normal((n, n)).astype(np.float32), rng.integers(-3, 4, (n, n))):  # fmt: skip
        ref = np.poly(a)
        out = gk.poly(_t(a, device))
        assert out.device.split(":")[0] == device and out.dtype == ref.dtype and out.shape == ref.shape
        np.testing.assert_array_equal(out.numpy(), ref)


def test_poly_of_a_matrix_gradients_central_differences(device):
    rng = np.random.default_rng(13)
    rotation = np.array([[0.3, -1.2, 0.1], [1.1, 0.2, 0.4], [0.0, -0.5, 0.7]])  # a complex eigenvalue pair
    for a in (rng.standard_normal((1, 1)), rng.standard_normal((4, 4)), rotation):
        x = _t(a, device, True)
        assert gk.gradcheck(gk.poly, [x])

        def first(m):
            (g,) = gk.autograd.grad((gk.poly(m) ** 2).sum(), [m], create_graph=True)
            return g

        assert gk.gradcheck(first, [x], atol=1e-4, rtol=1e-3)
    # the matrix used again in the graph gets both contributions
    x = _t(rng.standard_normal((3, 3)), device, True)
    assert gk.gradcheck(lambda m: gk.poly(m) * m.sum(), [x])


def test_poly_of_a_matrix_refuses_nan_as_numpy(device):
    with pytest.raises(np.linalg.LinAlgError, match="poly: the eigenvalues did not converge"):
        gk.poly(_t([[np.nan, 1.0], [1.0, 1.0]], device))
    with pytest.raises(np.linalg.LinAlgError, match="roots: the eigenvalues did not converge"):
        gk.roots(_t([np.nan, 1.0, 2.0], device))


def test_numpys_type_errors_stay_type_errors(device):
    x = _t(np.linspace(0.0, 1.0, 9), device)
    w = _t(np.ones(9), device)
    with pytest.raises(gk.ArgumentTypeError, match="histogram_bin_edges: Automated estimation"):
        gk.histogram_bin_edges(x, "auto", weights=w)
    with pytest.raises(gk.ArgumentTypeError, match="histogramdd: `bins"):
        gk.histogramdd(_t(np.ones((4, 2)), device), bins=2.5)
    with pytest.raises(gk.InvalidArgumentError, match="histogramdd"):
        gk.histogramdd(_t(np.ones((4, 2)), device), bins=2, range=[(1, 0), (0, 1)])
    with pytest.raises(gk.ArgumentTypeError, match="copy: order must be a str"):
        gk.copy(x, order=1)
    with pytest.raises(gk.ArgumentTypeError, match="can_cast: casting must be a str"):
        gk.can_cast(gk.int8, gk.float32, 3)
    with pytest.raises(gk.InvalidArgumentError, match=r"size: repeated axis in \(0, -1\)"):
        gk.size(x, (0, -1))
    if device == "cuda":
        with pytest.raises(gk.DeviceError, match="histogram_bin_edges"):
            gk.histogram_bin_edges(x, 3, weights=gk.tensor(np.ones(9), device="cpu"))


def test_isdtype_of_an_abstract_kind_is_false_as_numpy():
    for dtype, kind in ((gk.float32, np.floating), (gk.int8, np.integer), (gk.float64, np.number)):
        assert gk.isdtype(dtype, kind) is False
        if hasattr(np, "isdtype"):
            assert np.isdtype(dtype, kind) is False
    assert gk.isdtype(np.dtype(np.float32), (np.floating, np.float32)) is True


def test_polyfit_full_rcond_is_a_numpy_scalar(device):
    for dt in (np.float64, np.float32):
        x, y = np.linspace(0, 1, 6).astype(dt), np.arange(6.0).astype(dt) ** 2
        rc = gk.polyfit(_t(x, device), _t(y, device), 2, full=True)[4]
        ref = np.polyfit(x, y, 2, full=True)[4]
        assert type(rc) is type(ref) and rc == ref


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.bool_])
def test_vecdot_keeps_numpys_integer_dtype(device, dtype):
    a = (np.arange(40) % 7).astype(dtype).reshape(2, 20)
    want = np.vecdot(a, a) if hasattr(np, "vecdot") else np.einsum("ij,ij->i", a, a)
    got = gk.vecdot(gk.asarray(a, device=device), gk.asarray(a, device=device))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.numpy(), want)
