"""NumPy functions a NumPy user reaches for that gradkit lacked: append, fliplr/flipud, broadcast_arrays,
vdot, select, fmax/fmin, array_split (numpy_more); nanprod, nancumsum, nancumprod (numpy_stats);
linalg.matrix_transpose and linalg.tensordot; einsum's ``optimize=``; special's log_expit and betaln.

Values against NumPy (and SciPy where installed), gradients against float64 central differences.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import numpy_more as nm
from gradkit.ops import numpy_stats as ns
from gradkit.ops.special import betaln, log_expit


@pytest.fixture
def r() -> np.random.Generator:
    return np.random.default_rng(5252)


def leaf(a, device):
    return gk.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=True)


def same(t, expected, rtol=1e-12):
    assert isinstance(t, gk.Tensor)
    expected = np.asarray(expected)
    assert t.shape == expected.shape and t.dtype == expected.dtype, (t.shape, t.dtype, expected.shape, expected.dtype)
    np.testing.assert_allclose(t.numpy(), expected, rtol=rtol, atol=1e-14, equal_nan=True)


# ------------------------------------------------------------------ numpy_more
def test_append_flips_broadcast_arrays_vdot(device, r):
    a, b = r.standard_normal((2, 3)), r.standard_normal((1, 3))
    with gk.device(device):
        x, y = leaf(a, device), leaf(b, device)
        same(nm.append(x, y), np.append(a, b))
        same(nm.append(x, y, axis=0), np.append(a, b, axis=0))
        same(nm.append(x, 1.5), np.append(a, 1.5))
        same(nm.append(x.float(), 1.5), np.append(a.astype(np.float32), 1.5), rtol=1e-6)  # float64, as NumPy's
        same(nm.fliplr(x), np.fliplr(a))
        same(nm.flipud(x), np.flipud(a))
        bx, by, bs = nm.broadcast_arrays(x, y[0], 2.0)
        for t, e in zip((bx, by, bs), np.broadcast_arrays(a, b[0], np.float64(2.0)), strict=True):
            same(t, e)
        same(nm.vdot(x, nm.fliplr(x)), np.vdot(a, np.fliplr(a)))
        gk.gradcheck(lambda x, y: nm.append(x, y, axis=0) * nm.broadcast_arrays(x, y)[1].sum(), (x, y))
        gk.gradcheck(lambda x: nm.vdot(nm.flipud(x), nm.fliplr(x)), (x,))
        with pytest.raises(gk.ShapeError, match="fliplr"):
            nm.fliplr(x[0])
        with pytest.raises(gk.ShapeError, match="vdot"):
            nm.vdot(x, y)
        with pytest.raises(gk.ShapeError, match="broadcast_arrays"):
            nm.broadcast_arrays(x, gk.ones(4))
        with pytest.raises(gk.ShapeError, match="append"):
            nm.append(x, gk.ones(3, dtype=gk.float64), axis=0)


def test_select_piecewise_function(device, r):
    a = r.uniform(-2, 2, (3, 4))
    with gk.device(device):
        x = leaf(a, device)

        def piecewise(x):
            return nm.select([x < -1, x < 1], [-x - 0.5, 0.5 * x**2], default=x - 0.5)

        same(piecewise(x), np.select([a < -1, a < 1], [-a - 0.5, 0.5 * a**2], default=a - 0.5))
        same(nm.select([x > 0], [x], 0.0), np.select([a > 0], [a], 0.0))
        same(nm.select([x > 0, x > 1], [1, 2]), np.select([a > 0, a > 1], [1, 2]))  # first match wins; int64
        gk.gradcheck(piecewise, (x,))
        x.grad = None
        nm.select([x > 0], [3 * x], default=-x).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.where(a > 0, 3.0, -1.0))
        with pytest.raises(gk.DTypeError, match="condlist"):
            nm.select([x], [x])
        with pytest.raises(gk.InvalidArgumentError, match="same length"):
            nm.select([x > 0, x > 1], [x])
        with pytest.raises(gk.InvalidArgumentError, match="empty"):
            nm.select([], [])


def test_fmax_fmin_ignore_nans(device):
    a = np.array([1.0, np.nan, 3.0, np.nan, 2.0])
    b = np.array([np.nan, 2.0, 1.0, np.nan, 2.0])
    with gk.device(device):
        x, y = leaf(a, device), leaf(b, device)
        same(nm.fmax(x, y), np.fmax(a, b))
        same(nm.fmin(x, y), np.fmin(a, b))
        same(nm.fmax(x, 1.5), np.fmax(a, 1.5))
        same(nm.fmin(1.5, x), np.fmin(1.5, a))
        same(nm.fmax(x.float(), 1.5), np.fmax(a.astype(np.float32), 1.5))  # a number stays weak
        same(nm.fmax(x, math.nan), a)
        nm.fmax(x, y).sum().backward()
        # the NaN side gets nothing, the tie shares, where both are NaN the result's NaN slope goes to both
        np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0, 1.0, 0.5])
        np.testing.assert_array_equal(y.grad.numpy(), [0.0, 1.0, 0.0, 0.0, 0.5])
        u, v = leaf([0.3, -1.2, 2.0], device), leaf([0.1, 0.5, -3.0], device)
        gk.gradcheck(lambda u, v: nm.fmax(u, v) * nm.fmin(u, v), (u, v))


def test_array_split_uneven_sections(device, r):
    a = r.standard_normal((7, 2))
    with gk.device(device):
        x = leaf(a, device)
        for parts in (3, 7, 9, [2, 5]):
            got, want = nm.array_split(x, parts), np.array_split(a, parts)
            assert len(got) == len(want)
            for t, e in zip(got, want, strict=True):
                same(t, e)
        cols = nm.array_split(x, 3, axis=1)
        assert [t.shape for t in cols] == [e.shape for e in np.array_split(a, 3, axis=1)]
        gk.gradcheck(lambda x: nm.array_split(x, 3)[0].sum() * nm.array_split(x, 3)[2][-1, 1], (x,))
        with pytest.raises(gk.InvalidArgumentError, match="larger than 0"):
            nm.array_split(x, 0)


# ------------------------------------------------------------------ numpy_stats
def test_nanprod_nancumsum_nancumprod(device, r):
    a = r.uniform(0.5, 1.5, (3, 4))
    a[0, 1] = a[2, 3] = a[1, 0] = np.nan
    with gk.device(device):
        x = leaf(a, device)
        for name in ("nanprod", "nancumsum", "nancumprod"):
            f, g = getattr(ns, name), getattr(np, name)
            same(f(x), g(a))
            same(f(x, axis=1), g(a, axis=1))
            same(f(x, axis=0, dtype=gk.float32), g(a, axis=0, dtype=np.float32), rtol=1e-6)
        same(ns.nanprod(x, axis=1, keepdims=True), np.nanprod(a, axis=1, keepdims=True))
        same(ns.nanprod(gk.tensor(np.arange(1, 5))), np.nanprod(np.arange(1, 5)))  # integers: no NaNs to skip
        ns.nancumprod(x, axis=1).sum().backward()
        assert np.all(x.grad.numpy()[np.isnan(a)] == 0)
        b = np.where(np.isnan(a), 0.7, a)  # the same checks on finite values, where differences work
        y = leaf(b, device)
        gk.gradcheck(lambda y: ns.nanprod(y, axis=0) + ns.nancumsum(y, axis=0)[-1] * ns.nancumprod(y, 0)[1], (y,))


# ------------------------------------------------------------------ linalg
def test_linalg_matrix_transpose_and_tensordot(device, r):
    a, b = r.standard_normal((2, 3, 4)), r.standard_normal((3, 4, 5))
    with gk.device(device):
        x, y = leaf(a, device), leaf(b, device)
        same(gk.linalg.matrix_transpose(x), np.swapaxes(a, -1, -2))
        same(gk.linalg.tensordot(x, y), np.tensordot(a, b))
        same(gk.linalg.tensordot(x, y, axes=([1], [0])), np.tensordot(a, b, axes=([1], [0])))
        gk.gradcheck(lambda x, y: gk.linalg.tensordot(gk.linalg.matrix_transpose(x), y, axes=1), (x, y))
        with pytest.raises(gk.ShapeError, match="matrix_transpose"):
            gk.linalg.matrix_transpose(x[0, 0])
        with pytest.raises(TypeError):
            gk.linalg.tensordot(x, y, 1)  # axes is keyword-only, as numpy.linalg.tensordot


def test_einsum_takes_numpys_optimize(device, r):
    a, b, c = r.standard_normal((3, 4)), r.standard_normal((4, 5)), r.standard_normal((5, 2))
    with gk.device(device):
        x, y, z = leaf(a, device), leaf(b, device), leaf(c, device)
        path = np.einsum_path("ij,jk,kl->il", a, b, c, optimize="optimal")[0]
        for opt in (False, True, "greedy", "optimal", path):
            out = gk.einsum("ij,jk,kl->il", x, y, z, optimize=opt)
            np.testing.assert_allclose(out.numpy(), a @ b @ c, rtol=1e-12)
        gk.gradcheck(lambda x, y, z: gk.einsum("ij,jk,kl->il", x, y, z, optimize=True), (x, y, z))
        with pytest.raises(gk.InvalidArgumentError, match="optimize"):
            gk.einsum("ij->i", x, optimize="fastest")


# ------------------------------------------------------------------ special
def test_log_expit(device):
    a = np.array([-800.0, -40.0, -3.0, -0.5, 0.0, 0.5, 3.0, 40.0, 800.0])
    expected = np.where(a < 0, a - np.log1p(np.exp(np.minimum(a, -a))), -np.log1p(np.exp(-np.abs(a))))
    with gk.device(device):
        x = leaf(a, device)
        same(log_expit(x), expected, rtol=1e-15)
        log_expit(x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), np.exp(-np.logaddexp(0.0, a)), rtol=1e-15, atol=0)
        same(log_expit(gk.tensor([0, 3])), expected[[4, 6]])  # integers give float64
        m = leaf([-2.0, 0.3, 4.0], device)
        gk.gradcheck(log_expit, (m,))
        second = gk.grad(lambda m: gk.sum(gk.grad(lambda u: gk.sum(log_expit(u)))(m) * m))(m).numpy()
        s = 1 / (1 + np.exp(-m.numpy()))
        np.testing.assert_allclose(second, (1 - s) - m.numpy() * s * (1 - s), rtol=1e-12)


def test_betaln(device):
    a = np.array([0.5, 2.0, 10.0, 3.3])
    b = np.array([[1.5], [0.2]])
    expected = np.vectorize(lambda u, v: math.lgamma(u) + math.lgamma(v) - math.lgamma(u + v))(a, b)
    with gk.device(device):
        x, y = leaf(a, device), leaf(b, device)
        same(betaln(x, y), expected, rtol=1e-13)
        same(betaln(x, 2.0), -np.log(a * (a + 1)), rtol=1e-12)  # B(a, 2) = 1 / (a (a + 1))
        assert betaln(x.float(), 1.5).dtype == gk.float32  # a number is weak
        assert betaln(gk.tensor([1, 2]), gk.tensor([3, 4])).dtype == gk.float64
        gk.gradcheck(betaln, (x, y))
    scipy_special = pytest.importorskip("scipy.special")
    np.testing.assert_allclose(betaln(gk.tensor(a), gk.tensor(b)).numpy(), scipy_special.betaln(a, b), rtol=1e-13)
