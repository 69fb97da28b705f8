"""Review of gk.linalg's LU family: solve_ex/inv_ex on LAPACK with gradkit's LU only where LAPACK finds a
matrix singular, the blocked LU against LAPACK's pivots across panel boundaries, CuPy's own LU on a GPU
(through a stand-in for ``cupy.linalg._decomposition._lu_factor`` on the emulated CuPy), the Bunch-Kaufman
LDL^T of indefinite stacks (LAPACK's pivots, the lower triangle only, the pivots ldl_solve accepts), and
PyTorch's values, pivots, info and gradients on edge inputs (empty, 1 x 1, float32, integers, views,
broadcast batches, left/adjoint, tau shorter than n, vander's N)."""

from __future__ import annotations

import warnings

import emulated_cupy
import numpy as np
import pytest
from nn._host_reads import count_host_reads
from test_linalg_functions import _gk_grads, _rng, _torch_grads, leaf, well_conditioned

import gradkit as gk
from gradkit import linalg
from gradkit.ops import linalg_lu


def t(array, device, dtype=None):
    return gk.tensor(np.asarray(array), dtype=dtype, device=device)


def indefinite(rng: np.random.Generator, shape: tuple, diagonal: float = 0.05) -> np.ndarray:
    """Symmetric matrices with a small diagonal (Bunch-Kaufman takes 2 x 2 blocks there)."""
    m = rng.standard_normal(shape)
    s = m + np.swapaxes(m, -1, -2)
    n = shape[-1]
    s[..., range(n), range(n)] *= diagonal
    return s


def scipy_lu(a: np.ndarray):
    """LAPACK's getrf of each matrix: (LU, 1-based pivots, info)."""
    sl = pytest.importorskip("scipy.linalg")
    flat = a.reshape((-1,) + a.shape[-2:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SciPy warns of an exactly singular matrix
        out = [sl.lu_factor(x, check_finite=False) for x in flat]
    lu = np.stack([o[0] for o in out]).reshape(a.shape)
    piv = np.stack([o[1] + 1 for o in out]).reshape(a.shape[:-2] + (min(a.shape[-2:]),))
    return lu, piv


# ------------------------------------------------------------------------ solve_ex, inv_ex: LAPACK first


def test_solve_ex_and_inv_ex_take_lapack_on_the_cpu(device, monkeypatch):
    rng = _rng("lapack_first")
    a_np, b_np = well_conditioned(rng, (3, 5, 5)), rng.standard_normal((2, 1, 5, 2))
    if device == "cpu":  # LAPACK solves: gradkit's LU is not run at all
        monkeypatch.setattr(linalg_lu, "_getrf", lambda *args: pytest.fail("gradkit's LU ran"))
    x, info = linalg.solve_ex(t(a_np, device), t(b_np, device))
    assert x.shape == (2, 3, 5, 2) and info.shape == (3,) and info.dtype == np.int32
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a_np, b_np), rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(info.numpy(), 0)
    xl, _ = linalg.solve_ex(t(a_np, device), t(np.swapaxes(b_np, -1, -2), device), left=False)
    np.testing.assert_allclose(xl.numpy() @ a_np, np.broadcast_to(np.swapaxes(b_np, -1, -2), (2, 3, 2, 5)), atol=1e-12)
    v, _ = linalg.solve_ex(t(a_np, device), t(b_np[0, 0, :, 0], device))  # a vector (PyTorch's rule)
    column = np.broadcast_to(b_np[0, 0, :, :1], (3, 5, 1))  # NumPy 1.x reads a (5, 1) b as a stack of vectors
    np.testing.assert_allclose(v.numpy(), np.linalg.solve(a_np, column)[..., 0], rtol=1e-12)
    inverse, info = linalg.inv_ex(t(a_np, device), check_errors=True)
    np.testing.assert_allclose(inverse.numpy(), np.linalg.inv(a_np), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(info.numpy(), 0)
    assert linalg.solve_ex(t(a_np, device, "float32"), t(b_np, device, "float32")).result.dtype == np.float32
    assert linalg.solve_ex(t(np.zeros((0, 2, 2)), device), t(np.ones((2, 1)), device)).result.shape == (0, 2, 1)


def test_a_singular_matrix_falls_back_to_gradkits_lu(device):
    """LAPACK raises for the whole stack; gradkit's LU then gives info, and the other matrices' solutions."""
    good = well_conditioned(_rng("fallback"), (4, 4))
    a_np = np.stack([good, np.zeros((4, 4)), np.diag([1.0, 2.0, 0.0, 3.0]), good.T])
    b_np = np.arange(8.0).reshape(4, 2)
    x, info = linalg.solve_ex(t(a_np, device), t(b_np, device))
    assert info.numpy().tolist() == [0, 1, 3, 0]
    stacked = np.broadcast_to(b_np, (2, 4, 2))
    np.testing.assert_allclose(x.numpy()[[0, 3]], np.linalg.solve(a_np[[0, 3]], stacked), rtol=1e-12)
    inverse, info = linalg.inv_ex(t(a_np, device))
    assert info.numpy().tolist() == [0, 1, 3, 0]
    np.testing.assert_allclose(inverse.numpy()[[0, 3]], np.linalg.inv(a_np[[0, 3]]), rtol=1e-12)
    _, info = linalg.solve_ex(t(a_np, device), t(np.zeros((4, 0)), device))  # no right-hand side: A's info still
    assert info.numpy().tolist() == [0, 1, 3, 0]
    assert linalg.ldl_solve(*linalg.ldl_factor(t(np.eye(3), device)), t(np.zeros((2, 3, 0)), device)).shape == (2, 3, 0)
    with pytest.raises(linalg.LinAlgError, match=r"linalg\.solve_ex \(batch element 1\)"):
        linalg.solve_ex(t(a_np, device), t(b_np, device), check_errors=True)
    with pytest.raises(linalg.LinAlgError, match=r"linalg\.inv_ex \(batch element 1\)"):
        linalg.inv_ex(t(a_np, device), check_errors=True)
    # the gradients of the matrices that are not singular are solve's on both paths, the others inf/NaN
    a, b = leaf(a_np, device), leaf(np.stack([b_np] * 4), device)
    linalg.solve_ex(a, b).result[[0, 3]].sum().backward()
    ok, b2 = leaf(a_np[[0, 3]], device), leaf(np.stack([b_np] * 2), device)
    linalg.solve_ex(ok, b2).result.sum().backward()
    np.testing.assert_allclose(a.grad.numpy()[[0, 3]], ok.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(b.grad.numpy()[[0, 3]], b2.grad.numpy(), rtol=1e-10)


def test_solve_ex_gradients_on_the_lapack_path_match_torch_second_order_too(device):
    torch = pytest.importorskip("torch")
    rng = _rng("solve_ex_torch")
    a, b, bb = well_conditioned(rng, (2, 3, 3)), rng.standard_normal((2, 3, 2)), rng.standard_normal((4, 1, 3, 2))
    cases = [
        (lambda x, y: linalg.solve_ex(x, y).result, lambda x, y: torch.linalg.solve_ex(x, y).result, [a, b]),
        (lambda x, y: linalg.solve_ex(x, y).result, lambda x, y: torch.linalg.solve_ex(x, y).result, [a, bb]),
        (lambda x, y: linalg.solve_ex(x, y).result, lambda x, y: torch.linalg.solve_ex(x, y).result, [a, b[..., 0]]),
        (lambda x, y: linalg.solve_ex(x, y, left=False).result,
         lambda x, y: torch.linalg.solve_ex(x, y, left=False).result, [a, np.swapaxes(bb, -1, -2)]),
        (lambda x: linalg.inv_ex(x).inverse, lambda x: torch.linalg.inv_ex(x).inverse, [a]),
    ]  # fmt: skip
    for ours, theirs, arrays in cases:
        (o1, g1), (o2, g2) = _gk_grads(ours, arrays, device), _torch_grads(torch, theirs, arrays)
        for x, y in zip(o1 + g1, o2 + g2, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-10)
    # a Hessian-vector product
    v = rng.standard_normal((3, 3))
    x = gk.tensor(a[0], device=device, requires_grad=True)
    rhs = gk.tensor(b[0], device=device)
    (gx,) = gk.autograd.grad((linalg.solve_ex(x, rhs).result ** 2).sum(), [x], create_graph=True)
    hv = gk.autograd.grad((gx * gk.tensor(v, device=device)).sum(), [x])[0].numpy()
    xt = torch.tensor(a[0], requires_grad=True)
    (gt,) = torch.autograd.grad((torch.linalg.solve_ex(xt, torch.tensor(b[0])).result ** 2).sum(), [xt],
                                create_graph=True)  # fmt: skip
    np.testing.assert_allclose(hv, torch.autograd.grad((gt * torch.tensor(v)).sum(), [xt])[0].numpy(), rtol=1e-9)


# ---------------------------------------------------------------------------------- the blocked LU


@pytest.mark.parametrize("shape", [(33, 33), (2, 150, 70), (70, 150), (3, 140, 140), (260, 200)], ids=str)
def test_blocked_lu_has_lapacks_pivots_across_panels(shape, device):
    """Panels of 32 and 64 columns, left- and right-looking updates, wide and tall: LAPACK's pivots."""
    a_np = _rng("blocked", shape).standard_normal(shape)
    lu_t, piv, info = linalg.lu_factor_ex(t(a_np, device))
    ref_lu, ref_piv = scipy_lu(a_np)
    np.testing.assert_array_equal(piv.numpy(), ref_piv)
    np.testing.assert_allclose(lu_t.numpy(), ref_lu, rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(info.numpy(), 0)
    lu_np, piv_np, info_np = linalg_lu._own_getrf(np, a_np, False)  # no pivoting: the plain elimination
    k = min(shape[-2:])
    low = np.tril(lu_np[..., :, :k], -1) + np.eye(shape[-2], k)
    np.testing.assert_allclose(low @ np.triu(lu_np[..., :k, :]), a_np, atol=1e-6 * np.abs(lu_np).max())
    np.testing.assert_array_equal(piv_np, np.broadcast_to(np.arange(1, k + 1), shape[:-2] + (k,)))


def test_lu_edge_inputs_match_torch(device):
    torch = pytest.importorskip("torch")
    tl = torch.linalg
    rng = _rng("edges")
    a = rng.standard_normal((5, 5))
    cases = [
        a,
        a[:1, :1],
        np.zeros((0, 3, 3)),
        np.zeros((2, 0, 4)),
        np.zeros((3, 0)),
        np.array([[0.0, 1.0], [0.0, 2.0]]),
        np.diag([1.0, 0.0, 2.0]),
        rng.standard_normal((2, 1, 4, 3)),
    ]
    for a_np in cases:
        ours, theirs = linalg.lu_factor_ex(t(a_np, device)), tl.lu_factor_ex(torch.tensor(a_np))
        assert ours.LU.shape == tuple(theirs.LU.shape) and ours.pivots.shape == tuple(theirs.pivots.shape)
        np.testing.assert_array_equal(ours.pivots.numpy(), theirs.pivots.numpy())
        np.testing.assert_array_equal(ours.info.numpy(), theirs.info.numpy())
        np.testing.assert_allclose(ours.LU.numpy(), theirs.LU.numpy(), rtol=1e-10, atol=1e-12)
    ref = tl.lu_factor(torch.tensor(a))
    # float32, integers (as float64), a strided view and a transposed one
    lu32 = linalg.lu_factor(t(a, device, "float32"))
    assert lu32.LU.dtype == np.float32
    np.testing.assert_allclose(lu32.LU.numpy(), ref.LU.numpy(), rtol=1e-4, atol=1e-5)
    ints = rng.integers(-4, 5, (4, 4))
    assert linalg.lu_factor(t(ints + 9 * np.eye(4, dtype=np.int64), device)).LU.dtype == np.float64
    big = t(np.kron(a, np.ones((2, 3))), device)[::2, ::3]
    np.testing.assert_allclose(linalg.lu_factor(big).LU.numpy(), ref.LU.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(linalg.lu_factor(t(a.T.copy(), device).mT).LU.numpy(), ref.LU.numpy(), rtol=1e-12)


def test_lu_solve_left_adjoint_and_broadcast_batches_match_torch(device):
    torch = pytest.importorskip("torch")
    tl = torch.linalg
    rng = _rng("lu_solve_review")
    a = well_conditioned(rng, (2, 1, 4, 4))
    lu_np, piv_np = tl.lu_factor(torch.tensor(a))
    for left in (True, False):
        for adjoint in (False, True):
            b = rng.standard_normal((3, 4, 2) if left else (3, 2, 4))

            def ours(x, y, left=left, adjoint=adjoint):
                return linalg.lu_solve(x, t(piv_np.numpy(), device), y, left=left, adjoint=adjoint)

            def theirs(x, y, left=left, adjoint=adjoint):
                return tl.lu_solve(x, piv_np, y, left=left, adjoint=adjoint)

            (o1, g1), (o2, g2) = (
                _gk_grads(ours, [lu_np.numpy(), b], device),
                _torch_grads(torch, theirs, [lu_np.numpy(), b]),
            )
            assert o1[0].shape == o2[0].shape == (2, 3, 4, 2) if left else (2, 3, 2, 4)
            for x, y in zip(o1 + g1, o2 + g2, strict=True):
                np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-10)


def test_householder_product_short_tau_and_vander_n_match_torch(device):
    torch = pytest.importorskip("torch")
    tl = torch.linalg
    rng = _rng("hh_vander")
    for m, n, k in [(5, 3, 2), (4, 4, 1), (1, 1, 1)]:
        arrays = [rng.standard_normal((2, m, n)), rng.standard_normal((2, k))]
        (o1, g1), (o2, g2) = (
            _gk_grads(linalg.householder_product, arrays, device),
            _torch_grads(torch, tl.householder_product, arrays),
        )
        for x, y in zip(o1 + g1, o2 + g2, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)
    a, tau = leaf(rng.standard_normal((2, 6, 4)), device), leaf(np.zeros((2, 0)), device)
    q = linalg.householder_product(a, tau)  # no reflectors: E, slope 0 in both (PyTorch's gradients: undefined)
    np.testing.assert_array_equal(q.numpy(), np.broadcast_to(np.eye(6, 4), (2, 6, 4)))
    q.sum().backward()
    assert a.grad.numpy().tolist() == np.zeros((2, 6, 4)).tolist() and tau.grad.shape == (2, 0)
    for shape, n in [((3,), None), ((3,), 2), ((2, 4), 6), ((), 3), ((2, 0), 3)]:
        x = rng.standard_normal(shape)
        np.testing.assert_allclose(linalg.vander(t(x, device), N=n).numpy(), tl.vander(torch.tensor(x), N=n).numpy())
    for n in (0, 1):
        with pytest.raises(gk.InvalidArgumentError, match="linalg.vander: N must be greater than 1"):
            linalg.vander(t(np.ones(3), device), N=n)


# ------------------------------------------------------------------------------------- LDL^T


def test_ldl_of_indefinite_stacks_has_lapacks_pivots(device):
    torch = pytest.importorskip("torch")
    tl = torch.linalg
    rng = _rng("ldl_review")
    for shape, diagonal, dtype in [((20, 7, 7), 0.05, "float64"), ((3, 40, 40), 0.3, "float64"),
                                   ((6, 9, 9), 0.05, "float32"), ((5, 6, 6), 0.0, "float64")]:  # fmt: skip
        s_np = indefinite(rng, shape, diagonal).astype(dtype)
        if diagonal == 0.0:
            s_np[0, :, 2] = s_np[0, 2, :] = 0  # a zero column: info, and the factorisation goes on
        noisy = s_np + np.triu(rng.standard_normal(shape), 1).astype(dtype)  # only the lower triangle is read
        ld, piv, info = linalg.ldl_factor_ex(t(noisy, device))
        tld, tpiv, tinfo = tl.ldl_factor_ex(torch.tensor(s_np))
        assert ld.dtype == np.dtype(dtype) and (piv.numpy() < 0).any()
        np.testing.assert_array_equal(piv.numpy(), tpiv.numpy())
        np.testing.assert_array_equal(info.numpy(), tinfo.numpy())
        tol = 1e-4 if dtype == "float32" else 1e-9
        np.testing.assert_allclose(ld.numpy(), tld.numpy(), rtol=tol, atol=tol)
        ok = tinfo.numpy() == 0
        b_np = rng.standard_normal(shape[:-1] + (2,)).astype(dtype)
        x = linalg.ldl_solve(ld, piv, t(b_np, device)).numpy()
        np.testing.assert_allclose(x[ok], tl.ldl_solve(tld, tpiv, torch.tensor(b_np)).numpy()[ok], rtol=tol, atol=tol)
    s_np = indefinite(rng, (6, 6))
    ld, piv = linalg.ldl_factor(t(s_np, device))
    b_np = rng.standard_normal((3, 6, 1))  # broadcast against LD's batch
    np.testing.assert_allclose(s_np @ linalg.ldl_solve(ld, piv, t(b_np, device)).numpy(), b_np, atol=1e-10)


def test_ldl_solve_checks_lapacks_pivot_format(device):
    ld, b = t(np.eye(3), device), t(np.ones((3, 1)), device)
    for pivots, match in [([1, -3, 3], r"pivots\[1\] = -3 starts a 2 x 2 block, so pivots\[2\] must equal it"),
                          ([1, 2, -3], r"pivots\[2\] = -3 starts a 2 x 2 block"),
                          ([-1, -1, 3], r"pivots\[0\] = -1 would interchange row 2 with an earlier row"),
                          ([2, 1, 3], r"pivots\[1\] = 1 would interchange row 2 with an earlier row"),
                          ([1, 2, 4], r"pivots must be in 1\.\.3 or -3\.\.-1")]:  # fmt: skip
        with pytest.raises(gk.InvalidArgumentError, match=r"linalg\.ldl_solve: " + match):
            linalg.ldl_solve(ld, t(np.array(pivots, np.int32), device), b)
    x = linalg.ldl_solve(ld, t(np.array([3, -3, -3], np.int32), device), b)  # a valid format
    assert x.shape == (3, 1)


# ------------------------------------------------------------------- CuPy's own LU on a GPU


def _fake_cupy_lu(calls: list):
    """``cupy.linalg._decomposition._lu_factor``'s contract on the emulated CuPy: it factors the transposed
    matrices and returns the factors transposed, 1-based pivots and getrf's info, all on the device."""
    sl = pytest.importorskip("scipy.linalg")
    from emulated_cupy import core

    def _lu_factor(a_t, dtype):
        calls.append(a_t.shape)
        a = np.swapaxes(np.asarray(a_t._a, dtype), -1, -2).reshape((-1,) + a_t.shape[-2:])
        lus, pivs, infos = [], [], []
        for x in a:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SciPy warns of an exactly singular matrix
                lu, piv = sl.lu_factor(x, check_finite=False)
            zero = np.flatnonzero(np.diagonal(lu) == 0)
            lus.append(lu.T)
            pivs.append(piv + 1)
            infos.append(zero[0] + 1 if zero.size else 0)
        return (
            core._wrap(np.ascontiguousarray(np.stack(lus)).reshape(a_t.shape)),
            core._wrap(np.stack(pivs).astype(np.int32).reshape(a_t.shape[:-1])),
            core._wrap(np.array(infos, np.int32).reshape(a_t.shape[:-2])),
        )

    return _lu_factor


def test_gpu_lu_is_cupys_getrf_and_reads_nothing_back(device, monkeypatch):
    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("stands in for CuPy's internal LU on the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    import types

    calls: list = []
    xp = gk.tensor(np.eye(2), device=device)._backend.xp
    monkeypatch.setattr(xp.linalg, "_decomposition", types.SimpleNamespace(_lu_factor=_fake_cupy_lu(calls)),
                        raising=False)  # fmt: skip
    rng = _rng("device_lu")
    a_np = np.stack([well_conditioned(rng, (5, 5)), np.diag([1.0, 2.0, 0.0, 3.0, 4.0]), rng.standard_normal((5, 5))])
    b_np = rng.standard_normal((3, 5, 2))
    a, b = leaf(a_np, device), leaf(b_np, device)
    reads = count_host_reads(device, monkeypatch)
    lu_t, piv, info = linalg.lu_factor_ex(a)
    x, x_info = linalg.solve_ex(a, b)
    inverse, inv_info = linalg.inv_ex(a)
    (x[0].sum() + x[2].sum() + inverse[0].sum() + inverse[2].sum() + lu_t.sum()).backward()  # not the singular one
    assert reads == [] and len(calls) == 3
    ref_lu, ref_piv = scipy_lu(a_np)
    np.testing.assert_array_equal(piv.numpy(), ref_piv)
    np.testing.assert_allclose(lu_t.numpy(), ref_lu, rtol=1e-12, atol=1e-14)
    for i in (info, x_info, inv_info):
        assert i.numpy().tolist() == [0, 3, 0] and i.dtype == np.int32
    np.testing.assert_allclose(x.numpy()[[0, 2]], np.linalg.solve(a_np[[0, 2]], b_np[[0, 2]]), rtol=1e-10)
    np.testing.assert_allclose(inverse.numpy()[[0, 2]], np.linalg.inv(a_np[[0, 2]]), rtol=1e-10)
    linalg.lu_factor_ex(t(rng.standard_normal((3, 5)), device))  # wide, and unpivoted: gradkit's own
    linalg.lu_factor_ex(a, pivot=False)
    assert len(calls) == 3
