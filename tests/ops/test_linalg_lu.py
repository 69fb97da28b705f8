"""gk.linalg's PyTorch functions: lu_factor, lu_factor_ex, lu, lu_solve, solve_ex, inv_ex, cholesky_ex, vander,
householder_product, ldl_factor, ldl_factor_ex, ldl_solve. Closed forms (P @ L @ U == A, solutions that solve,
known Vandermonde matrices, Q from a QR's reflectors), LAPACK's pivots and info, batches, errors, gradients
against central differences (first and second order), host reads on the (emulated) GPU, and PyTorch's values,
pivots and gradients when torch is installed. Every test that takes ``device`` runs on the CPU and, where CuPy
(or its emulation) is available, on the GPU."""

from __future__ import annotations

import numpy as np
import pytest
from nn._host_reads import count_host_reads
from test_linalg_functions import (  # the helpers the other linalg tests use
    _gk_grads,
    _rng,
    _torch_grads,
    check_second_order,
    leaf,
    spd,
    sym,
    well_conditioned,
)

import gradkit as gk
from gradkit import linalg
from gradkit.ops import linalg_lu

NEW = ["lu_factor", "lu_factor_ex", "lu", "lu_solve", "solve_ex", "inv_ex", "cholesky_ex", "vander",
       "householder_product", "ldl_factor", "ldl_factor_ex", "ldl_solve"]
SHAPES = [(1, 1), (4, 4), (3, 5), (5, 3), (2, 3, 4, 4), (2, 6, 3), (2, 3, 6)]


def t(array, device, dtype=None):
    """A tensor as NumPy makes the array (Python floats as float64)."""
    return gk.tensor(np.asarray(array), dtype=dtype, device=device)


def np_permutation(pivots: np.ndarray, m: int) -> np.ndarray:
    """P (m, m) from LAPACK's 1-based interchanges of one matrix, applied to the rows of the identity."""
    perm = np.arange(m)
    for j, p in enumerate(pivots - 1):
        perm[[j, p]] = perm[[p, j]]
    p_matrix = np.zeros((m, m))
    p_matrix[perm, np.arange(m)] = 1
    return p_matrix


def symmetric_indefinite(rng: np.random.Generator, shape: tuple, diagonal: float = 0.05) -> np.ndarray:
    """Random symmetric matrices with a small diagonal: Bunch-Kaufman takes 2 x 2 pivots there."""
    m = rng.standard_normal(shape)
    s = m + np.swapaxes(m, -1, -2)
    n = shape[-1]
    s[..., range(n), range(n)] *= diagonal
    return s


# ------------------------------------------------------------------------------------- the namespace


def test_namespace_and_result_types(device):
    for name in NEW + ["LUFactorResult", "LUFactorExResult", "LUResult", "SolveExResult", "InvExResult",
                       "CholeskyExResult", "LDLFactorResult", "LDLFactorExResult"]:
        assert name in linalg.__all__ and hasattr(linalg, name), name
    a = t(well_conditioned(_rng("ns"), (3, 3)), device)
    assert linalg.lu_factor(a)._fields == ("LU", "pivots")
    assert linalg.lu_factor_ex(a)._fields == ("LU", "pivots", "info")
    assert linalg.lu(a)._fields == ("P", "L", "U")
    assert linalg.solve_ex(a, a)._fields == ("result", "info")
    assert linalg.inv_ex(a)._fields == ("inverse", "info")
    assert linalg.cholesky_ex(a @ a.mT)._fields == ("L", "info")
    assert linalg.ldl_factor(a + a.mT)._fields == ("LD", "pivots")
    assert linalg.ldl_factor_ex(a + a.mT)._fields == ("LD", "pivots", "info")
    for out in (*linalg.lu_factor_ex(a), *linalg.lu(a), *linalg.ldl_factor_ex(a + a.mT)):
        assert out.device == a.device


# ------------------------------------------------------------------------------------ lu_factor, lu


@pytest.mark.parametrize("shape", SHAPES + [(40, 40), (2, 70, 45), (45, 70)], ids=str)
def test_lu_closed_forms(shape, device):
    a_np = _rng("lu", shape).standard_normal(shape)
    m, n = shape[-2:]
    k = min(m, n)
    lu_t, piv, info = linalg.lu_factor_ex(t(a_np, device))
    p, low, up = linalg.lu(t(a_np, device))
    assert lu_t.shape == shape and piv.shape == shape[:-2] + (k,) and info.shape == shape[:-2]
    assert piv.dtype == np.int32 and info.dtype == np.int32 and lu_t.dtype == np.float64
    assert (p.shape, low.shape, up.shape) == (shape[:-2] + (m, m), shape[:-2] + (m, k), shape[:-2] + (k, n))
    p_np, l_np, u_np, piv_np = p.numpy(), low.numpy(), up.numpy(), piv.numpy()
    np.testing.assert_allclose(p_np @ l_np @ u_np, a_np, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.triu(u_np), u_np)
    np.testing.assert_array_equal(np.tril(l_np), l_np)
    np.testing.assert_array_equal(np.diagonal(l_np, 0, -2, -1), 1.0)
    assert np.abs(l_np).max() <= 1.0  # partial pivoting: the largest entry of each column is the pivot
    np.testing.assert_array_equal(info.numpy(), 0)
    assert ((piv_np >= np.arange(1, k + 1)) & (piv_np <= m)).all()  # row j swapped with a row at or below it
    # LU packs the same factors; P is the interchanges applied in order
    packed = np.zeros(shape)
    packed[..., :, :k] += np.tril(l_np, -1)
    packed[..., :k, :] += u_np
    np.testing.assert_array_equal(lu_t.numpy(), packed)
    for index in np.ndindex(*shape[:-2]):
        np.testing.assert_array_equal(p_np[index], np_permutation(piv_np[index], m))


def test_lu_of_known_matrices(device):
    lu_t, piv = linalg.lu_factor(t([[1.0, 2.0], [3.0, 4.0]], device))
    np.testing.assert_allclose(lu_t.numpy(), [[3.0, 4.0], [1 / 3, 2 / 3]], rtol=1e-15)
    np.testing.assert_array_equal(piv.numpy(), [2, 2])
    # LAPACK's convention for exactly singular matrices: the factors are complete, info is the first zero pivot
    lu_t, piv, info = linalg.lu_factor_ex(t([[1.0, 2.0], [2.0, 4.0]], device))
    np.testing.assert_array_equal(lu_t.numpy(), [[2.0, 4.0], [0.5, 0.0]])
    assert piv.numpy().tolist() == [2, 2] and int(info) == 2
    z = np.zeros((3, 3))
    z[0, 0] = 1  # a zero column: no interchange, nothing scaled
    lu_t, piv, info = linalg.lu_factor_ex(t(z, device))
    np.testing.assert_array_equal(lu_t.numpy(), z)
    assert piv.numpy().tolist() == [1, 2, 3] and int(info) == 2
    p, low, up = linalg.lu(t([[1.0, 2.0], [2.0, 4.0]], device))  # no error for a singular matrix
    np.testing.assert_allclose((p @ low @ up).numpy(), [[1.0, 2.0], [2.0, 4.0]])
    ties = linalg.lu_factor(t([[1.0, 5.0], [-1.0, 3.0]], device))  # |1| == |-1|: the first one, as idamax
    assert ties.pivots.numpy().tolist() == [1, 2]


def test_lu_without_pivoting(device):
    a_np = well_conditioned(_rng("nopiv"), (2, 4, 4))
    lu_t, piv, info = linalg.lu_factor_ex(t(a_np, device), pivot=False)
    np.testing.assert_array_equal(piv.numpy(), np.broadcast_to(np.arange(1, 5), (2, 4)))
    low = np.tril(lu_t.numpy(), -1) + np.eye(4)
    np.testing.assert_allclose(low @ np.triu(lu_t.numpy()), a_np, rtol=1e-12, atol=1e-12)
    p, low_t, up_t = linalg.lu(t(a_np, device), pivot=False)
    assert p.shape == (0,) and p.dtype == np.float64  # PyTorch's: no P without pivoting
    np.testing.assert_allclose((low_t @ up_t).numpy(), a_np, rtol=1e-12, atol=1e-12)
    assert int(linalg.lu_factor_ex(t([[0.0, 1.0], [1.0, 0.0]], device), pivot=False).info) == 1


def test_lu_info_and_errors_per_batch_element(device):
    a_np = np.stack([np.eye(3), [[1.0, 2, 3], [2, 4, 6], [1, 0, 1]], np.eye(3)])
    lu_t, piv, info = linalg.lu_factor_ex(t(a_np, device))
    assert info.numpy().tolist() == [0, 3, 0]
    with pytest.raises(linalg.LinAlgError, match=r"linalg\.lu_factor \(batch element 1\): U\[3,3\] is zero"):
        linalg.lu_factor(t(a_np, device))
    with pytest.raises(linalg.LinAlgError, match=r"linalg\.lu_factor_ex \(batch element \(1, 0\)\)"):
        linalg.lu_factor_ex(t(a_np[:, None], device), check_errors=True)
    with pytest.raises(linalg.LinAlgError, match=r"linalg\.lu_factor: U\[2,2\] is zero"):
        linalg.lu_factor(t([[1.0, 2.0], [2.0, 4.0]], device))
    assert isinstance(linalg.LinAlgError("x"), np.linalg.LinAlgError)


def test_lu_dtypes_and_empty(device):
    a32 = linalg.lu_factor(t(well_conditioned(_rng("f32"), (3, 3)), device, "float32"))
    assert a32.LU.dtype == np.float32 and a32.pivots.dtype == np.int32
    ints = linalg.lu(t([[1, 2], [3, 4]], device))
    assert all(x.dtype == np.float64 for x in ints)
    with pytest.raises(gk.DTypeError, match="linalg.lu_factor_ex: float16"):
        linalg.lu_factor_ex(t(np.eye(2), device, "float16"))
    with pytest.raises(gk.ShapeError, match="linalg.lu: expected a matrix"):
        linalg.lu(t([1.0, 2.0], device))
    lu_t, piv, info = linalg.lu_factor_ex(t(np.zeros((0, 0)), device))
    assert lu_t.shape == (0, 0) and piv.shape == (0,) and info.shape == () and int(info) == 0
    lu_t, piv, info = linalg.lu_factor_ex(t(np.zeros((2, 0, 3)), device))
    assert lu_t.shape == (2, 0, 3) and piv.shape == (2, 0) and info.numpy().tolist() == [0, 0]
    p, low, up = linalg.lu(t(np.zeros((2, 0, 3)), device))
    assert (p.shape, low.shape, up.shape) == ((2, 0, 0), (2, 0, 0), (2, 0, 3))
    p, low, up = linalg.lu(t(np.zeros((0, 3, 2)), device))
    assert (p.shape, low.shape, up.shape) == ((0, 3, 3), (0, 3, 2), (0, 2, 2))
    with pytest.raises(gk.ArgumentTypeError, match="linalg.lu_factor: pivot must be True or False"):
        linalg.lu_factor(t(np.eye(2), device), pivot="yes")


# ------------------------------------------------------------------------------------------- lu_solve

LU_SOLVE = [  # LU, B (left=True)
    ((3, 3), (3, 2)),
    ((2, 4, 4), (2, 4, 1)),
    ((2, 3, 3), (3, 2)),  # B broadcast over LU's batch
    ((2, 3, 3), (4, 1, 3, 2)),  # both broadcast
    ((40, 40), (40, 3)),  # more rows than one block of the substitution
]


@pytest.mark.parametrize("lu_shape,b_shape", LU_SOLVE, ids=str)
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_lu_solve_solves(lu_shape, b_shape, left, adjoint, device):
    rng = _rng("lu_solve", lu_shape, b_shape, left, adjoint)
    a_np = well_conditioned(rng, lu_shape)
    b_np = rng.standard_normal(b_shape if left else b_shape[:-2] + b_shape[:-3:-1])
    lu_t, piv = linalg.lu_factor(t(a_np, device))
    x = linalg.lu_solve(lu_t, piv, t(b_np, device), left=left, adjoint=adjoint).numpy()
    op_a = np.swapaxes(a_np, -1, -2) if adjoint else a_np
    residual = op_a @ x - b_np if left else x @ op_a - b_np
    assert x.shape == np.broadcast_shapes(a_np.shape[:-2], b_np.shape[:-2]) + b_np.shape[-2:]
    np.testing.assert_allclose(residual, 0, atol=1e-11)


def test_lu_solve_arguments(device):
    rng = _rng("lu_solve_args")
    a_np, b_np = well_conditioned(rng, (3, 3)), rng.standard_normal((3, 2))
    lu_t, piv = linalg.lu_factor(t(a_np, device))
    expected = np.linalg.solve(a_np, b_np)
    for pivots in (piv, piv.astype("int64"), piv.numpy()):  # any integer dtype; an array joins LU's device
        np.testing.assert_allclose(linalg.lu_solve(lu_t, pivots, t(b_np, device)).numpy(), expected, rtol=1e-12)
    assert linalg.lu_solve(lu_t, piv, t(b_np, device, "float32")).dtype == np.float64  # dtypes promote
    lu32 = linalg.lu_factor(t(a_np, device, "float32"))
    assert linalg.lu_solve(*lu32, t(b_np, device, "float32")).dtype == np.float32
    assert linalg.lu_solve(lu_t, piv, t(np.zeros((3, 0)), device)).shape == (3, 0)
    with pytest.raises(gk.ShapeError, match="linalg.lu_solve: B must have at least 2 axes"):
        linalg.lu_solve(lu_t, piv, t(b_np[:, 0], device))
    with pytest.raises(gk.ShapeError, match=r"B must have shape \(\.\.\., 3, k\)"):
        linalg.lu_solve(lu_t, piv, t(np.ones((2, 2)), device))
    with pytest.raises(gk.ShapeError, match=r"B must have shape \(\.\.\., k, 3\) \(left=False\)"):
        linalg.lu_solve(lu_t, piv, t(b_np, device), left=False)
    with pytest.raises(gk.ShapeError, match="LU must be a square matrix"):
        linalg.lu_solve(lu_t[:, :2], piv[:2], t(b_np, device))
    with pytest.raises(gk.ShapeError, match=r"pivots must have shape LU.shape\[:-1\] = \(3,\)"):
        linalg.lu_solve(lu_t, piv[:2], t(b_np, device))
    with pytest.raises(gk.ShapeError, match="do not broadcast"):
        linalg.lu_solve(t(np.stack([a_np] * 2), device), t(np.ones((2, 3), np.int32), device),
                        t(np.ones((3, 3, 1)), device))
    with pytest.raises(gk.ArgumentTypeError, match="linalg.lu_solve: pivots must be an integer tensor"):
        linalg.lu_solve(lu_t, piv.astype("float64"), t(b_np, device))
    if device == "cpu":  # values are checked on the host only
        with pytest.raises(gk.InvalidArgumentError, match=r"pivots must lie in 1\.\.3"):
            linalg.lu_solve(lu_t, t([4, 2, 3], device), t(b_np, device))
        with pytest.raises(gk.InvalidArgumentError, match=r"pivots must lie in 1\.\.3"):
            linalg.lu_solve(lu_t, t([0, 2, 3], device), t(b_np, device))


def test_lu_solve_of_a_singular_factor_gives_inf_not_an_error(device):
    lu_t, piv, info = linalg.lu_factor_ex(t([[1.0, 2.0], [2.0, 4.0]], device))
    x = linalg.lu_solve(lu_t, piv, t(np.ones((2, 1)), device)).numpy()
    assert int(info) == 2 and not np.isfinite(x).all()


# ----------------------------------------------------------------------------- solve_ex, inv_ex

SOLVE_EX = [  # A, B, X: PyTorch's rule, B a batch of vectors when 1-d or of shape A.shape[:-1]
    ((3, 3), (3,), (3,)),
    ((3, 3), (3, 2), (3, 2)),
    ((3, 3, 3), (3, 3), (3, 3)),  # vectors (NumPy 2 would take a matrix here)
    ((2, 3, 3), (3,), (2, 3)),
    ((2, 3, 3), (4, 1, 3, 2), (4, 2, 3, 2)),
]


@pytest.mark.parametrize("a_shape,b_shape,x_shape", SOLVE_EX, ids=str)
def test_solve_ex_follows_pytorch_shapes(a_shape, b_shape, x_shape, device):
    rng = _rng("solve_ex", a_shape, b_shape)
    a_np, b_np = well_conditioned(rng, a_shape), rng.standard_normal(b_shape)
    x, info = linalg.solve_ex(t(a_np, device), t(b_np, device))
    assert x.shape == x_shape and info.shape == a_shape[:-2] and info.dtype == np.int32
    vector = len(b_shape) == 1 or b_shape == a_shape[:-1]
    bm = b_np[..., None] if vector else b_np
    residual = a_np @ (x.numpy()[..., None] if vector else x.numpy()) - bm
    np.testing.assert_allclose(residual, 0, atol=1e-12)
    np.testing.assert_array_equal(info.numpy(), 0)


def test_solve_ex_left_false_and_errors(device):
    rng = _rng("solve_ex_right")
    a_np, b_np = well_conditioned(rng, (2, 3, 3)), rng.standard_normal((2, 5, 3))
    x = linalg.solve_ex(t(a_np, device), t(b_np, device), left=False).result
    np.testing.assert_allclose(x.numpy() @ a_np, b_np, atol=1e-12)
    with pytest.raises(gk.ShapeError, match="with left=False B must have shape"):
        linalg.solve_ex(t(a_np, device), t(b_np[:, 0], device), left=False)
    with pytest.raises(gk.ShapeError, match="linalg.solve_ex: A must be a square matrix"):
        linalg.solve_ex(t(np.ones((3, 4)), device), t(np.ones(3), device))
    with pytest.raises(gk.ShapeError, match="do not fit"):
        linalg.solve_ex(t(a_np, device), t(np.ones((2, 4)), device))
    rhs32 = t(np.swapaxes(b_np, -1, -2)[..., :1], device, "float32")
    assert linalg.solve_ex(t(a_np, device), rhs32).result.dtype == np.float64  # dtypes promote


def test_solve_ex_and_inv_ex_report_singular_matrices(device):
    a_np = np.stack([well_conditioned(_rng("sing"), (3, 3)), np.zeros((3, 3)), [[1.0, 2, 3], [2, 4, 6], [1, 0, 1]]])
    x, info = linalg.solve_ex(t(a_np, device), t(np.ones((3, 3, 1)), device))
    assert info.numpy().tolist() == [0, 1, 3]  # LAPACK's: the first zero on U's diagonal
    np.testing.assert_allclose(a_np[0] @ x.numpy()[0], 1.0, atol=1e-12)  # the others are unspecified
    inverse, info = linalg.inv_ex(t(a_np, device))
    assert info.numpy().tolist() == [0, 1, 3]
    np.testing.assert_allclose(inverse.numpy()[0], np.linalg.inv(a_np[0]), rtol=1e-12, atol=1e-14)
    with pytest.raises(linalg.LinAlgError, match=r"linalg\.solve_ex \(batch element 1\): U\[1,1\] is zero"):
        linalg.solve_ex(t(a_np, device), t(np.ones((3, 3, 1)), device), check_errors=True)
    with pytest.raises(linalg.LinAlgError, match=r"linalg\.inv_ex \(batch element 1\)"):
        linalg.inv_ex(t(a_np, device), check_errors=True)


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (2, 3, 3), (0, 3, 3), (0, 0)], ids=str)
def test_inv_ex_matches_numpy(shape, device):
    a_np = well_conditioned(_rng("inv_ex", shape), shape)
    inverse, info = linalg.inv_ex(t(a_np, device))
    assert inverse.shape == shape and info.shape == shape[:-2]
    if a_np.size:
        np.testing.assert_allclose(inverse.numpy(), np.linalg.inv(a_np), rtol=1e-12, atol=1e-14)
    assert linalg.inv_ex(t(np.eye(2), device, "float32")).inverse.dtype == np.float32
    with pytest.raises(gk.ShapeError, match="linalg.inv_ex: expected square matrices"):
        linalg.inv_ex(t(np.ones((2, 3)), device))


# --------------------------------------------------------------------------------------- cholesky_ex


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (2, 3, 3), (0, 2, 2)], ids=str)
def test_cholesky_ex_matches_numpy(shape, device):
    rng = _rng("chol_ex", shape)
    a_np = spd(rng, shape) + np.triu(rng.standard_normal(shape), 1)  # only the lower triangle is read
    low, info = linalg.cholesky_ex(t(a_np, device))
    up, _ = linalg.cholesky_ex(t(a_np, device), upper=True)
    assert low.shape == shape and info.shape == shape[:-2] and info.dtype == np.int32
    if a_np.size:
        ref = np.linalg.cholesky(np.tril(a_np) + np.swapaxes(np.tril(a_np, -1), -1, -2))
        np.testing.assert_allclose(low.numpy(), ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(up.numpy(), np.swapaxes(ref, -1, -2), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(info.numpy(), 0)


def test_cholesky_ex_reports_the_failing_minor(device):
    a_np = np.stack([[[4.0, 2.0], [2.0, 3.0]], [[1.0, 2.0], [2.0, 1.0]], [[-1.0, 2.0], [2.0, 1.0]],
                     [[np.nan, 0.0], [0.0, 1.0]]])
    low, info = linalg.cholesky_ex(t(a_np, device))
    assert info.numpy().tolist() == [0, 2, 1, 1]  # LAPACK's: the order of the first minor that is not PD
    np.testing.assert_allclose(low.numpy()[0], np.linalg.cholesky(a_np[0]), rtol=1e-15)
    with pytest.raises(linalg.LinAlgError, match=r"cholesky_ex \(batch element 1\): the leading minor of order 2"):
        linalg.cholesky_ex(t(a_np, device), check_errors=True)


def test_own_cholesky_and_lu_agree_with_lapack():
    """The factorisations gradkit runs on a GPU (and the CPU's fallback), here on NumPy arrays."""
    rng = _rng("potrf")
    s_np = spd(rng, (3, 40, 40))
    low, info = linalg_lu._potrf(np, s_np)
    np.testing.assert_allclose(low, np.linalg.cholesky(s_np), rtol=1e-10, atol=1e-12)
    assert info.tolist() == [0, 0, 0]
    a_np = rng.standard_normal((3, 40, 40)) / 10 + 2 * np.eye(40)  # well-conditioned triangles, unit ones too
    b = rng.standard_normal((3, 40, 2))
    for lower in (True, False):
        for trans in (False, True):
            for unit in (False, True):
                tri = np.tril(a_np) if lower else np.triu(a_np)
                if unit:
                    tri[..., range(40), range(40)] = 1
                x = linalg_lu._triangular_solve(np, a_np, b, lower, unit, trans)
                np.testing.assert_allclose((np.swapaxes(tri, -1, -2) if trans else tri) @ x, b, atol=1e-10)


# --------------------------------------------------------------------------------------------- vander


def test_vander_known_values(device):
    v = linalg.vander(t([1, 2, 3], device))
    np.testing.assert_array_equal(v.numpy(), [[1, 1, 1], [1, 2, 4], [1, 3, 9]])
    assert v.dtype == np.int64  # integers give int64 (PyTorch's)
    v = linalg.vander(t(np.array([1, 2], np.int32), device), N=4)
    assert v.dtype == np.int64 and v.numpy().tolist() == [[1, 1, 1, 1], [1, 2, 4, 8]]
    x_np = _rng("vander").standard_normal((2, 3))
    v = linalg.vander(t(x_np, device), N=5)
    np.testing.assert_allclose(v.numpy(), np.vander(x_np.reshape(-1), 5, increasing=True).reshape(2, 3, 5))
    assert linalg.vander(t(x_np, device, "float32")).dtype == np.float32
    assert linalg.vander(t(2.0, device), N=3).numpy().tolist() == [[1.0, 2.0, 4.0]]  # 0-d: one element
    with pytest.raises(gk.InvalidArgumentError, match="linalg.vander: N must be greater than 1, got 1"):
        linalg.vander(t([2.0], device))
    with pytest.raises(gk.InvalidArgumentError, match="N must be greater than 1"):
        linalg.vander(t([2.0, 3.0], device), N=1)
    with pytest.raises(gk.DTypeError, match="linalg.vander: expected a float32, float64 or integer tensor"):
        linalg.vander(t([True, False], device))
    with pytest.raises(gk.DTypeError, match="linalg.vander"):
        linalg.vander(t([1.0, 2.0], device, "float16"))
    with pytest.raises(gk.ArgumentTypeError, match="linalg.vander: N must be an int"):
        linalg.vander(t([1.0, 2.0], device), N=2.5)


# ------------------------------------------------------------------------------ householder_product


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (2, 6, 2), (3, 1)], ids=str)
def test_householder_product_of_qr_reflectors_is_q(shape, device):
    a_np = _rng("hh", shape).standard_normal(shape)
    qs, hs, taus = [], [], []
    for index in np.ndindex(*shape[:-2]):
        h, tau = np.linalg.qr(a_np[index], mode="raw")  # LAPACK's geqrf, transposed
        hs.append(h.T)
        taus.append(tau)
        qs.append(np.linalg.qr(a_np[index])[0])
    h_np, tau_np = np.stack(hs).reshape(shape), np.stack(taus).reshape(shape[:-2] + (shape[-1],))
    q = linalg.householder_product(t(h_np, device), t(tau_np, device))
    np.testing.assert_allclose(q.numpy(), np.stack(qs).reshape(shape), rtol=1e-12, atol=1e-12)


def test_householder_product_reads_the_reflectors_only_and_checks_shapes(device):
    rng = _rng("hh_args")
    a_np, tau_np = rng.standard_normal((5, 3)), rng.standard_normal(2)
    q = linalg.householder_product(t(a_np, device), t(tau_np, device)).numpy()
    expected = np.eye(5)
    for i in range(2):
        v = np.concatenate([np.zeros(i), [1.0], a_np[i + 1 :, i]])
        expected = expected @ (np.eye(5) - tau_np[i] * np.outer(v, v))
    np.testing.assert_allclose(q, expected[:, :3], rtol=1e-12, atol=1e-14)
    changed = a_np.copy()
    changed[np.triu_indices(3)] = 7.0  # the diagonal and above are not read, nor the columns beyond k
    changed[:, 2] = 9.0
    np.testing.assert_allclose(linalg.householder_product(t(changed, device), t(tau_np, device)).numpy(), q)
    empty = linalg.householder_product(t(a_np, device), t(np.zeros(0), device))
    np.testing.assert_array_equal(empty.numpy(), np.eye(5, 3))
    for a_shape, tau_shape, message in [
        ((3, 5), (2,), "at least as many rows as columns"),
        ((5, 3), (4,), "at most A.shape"),
        ((5,), (1,), "at least 2 axes"),
        ((2, 5, 3), (2,), "one axis less than A"),
        ((2, 5, 3), (3, 2), "must be equal"),
    ]:
        with pytest.raises(gk.ShapeError, match=f"linalg.householder_product: .*{message}"):
            linalg.householder_product(t(np.ones(a_shape), device), t(np.ones(tau_shape), device))
    assert linalg.householder_product(t(a_np, device, "float32"), t(tau_np, device, "float32")).dtype == np.float32


# ---------------------------------------------------------------------------------------- ldl


def test_ldl_of_a_positive_definite_matrix_is_the_scaled_cholesky_factor(device):
    s_np = spd(_rng("ldl_spd"), (4, 4)) + 10 * np.eye(4)  # diagonally dominant: no interchanges
    ld, piv = linalg.ldl_factor(t(s_np, device))
    c = np.linalg.cholesky(s_np)
    d = np.diagonal(c) ** 2
    np.testing.assert_allclose(np.diagonal(ld.numpy()), d, rtol=1e-12)
    np.testing.assert_allclose(np.tril(ld.numpy(), -1), np.tril(c / np.diagonal(c), -1), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(np.triu(ld.numpy(), 1), 0)
    assert piv.dtype == np.int32 and piv.numpy().tolist() == [1, 2, 3, 4]


def test_ldl_of_a_known_indefinite_matrix(device):
    ld, piv, info = linalg.ldl_factor_ex(t([[0.0, 1.0], [1.0, 0.0]], device))  # one 2 x 2 block
    assert piv.numpy().tolist() == [-2, -2] and int(info) == 0
    np.testing.assert_array_equal(ld.numpy(), [[0.0, 0.0], [1.0, 0.0]])
    # alpha = (1 + sqrt(17)) / 8: |a11| < alpha |a21| and |a22| < alpha |a21|: a 2 x 2 block
    ld, piv = linalg.ldl_factor(t([[1.0, 3.0], [3.0, 1.0]], device))
    assert piv.numpy().tolist() == [-2, -2]
    np.testing.assert_array_equal(ld.numpy(), [[1.0, 0.0], [3.0, 1.0]])
    ld, piv = linalg.ldl_factor(t([[1.0, 3.0], [3.0, 2.0]], device))  # |a22| >= alpha |a21|: swap, 1 x 1
    assert piv.numpy().tolist() == [2, 2]
    np.testing.assert_allclose(ld.numpy(), [[2.0, 0.0], [1.5, -3.5]], rtol=1e-15)
    ld, piv = linalg.ldl_factor(t([[1.0, 3.0, 0.0], [3.0, 9.5, 0.0], [0.0, 0.0, 2.0]], device))
    assert piv.numpy().tolist() == [2, 2, 3]
    np.testing.assert_allclose(ld.numpy(), [[9.5, 0, 0], [3 / 9.5, 1 - 9 / 9.5, 0], [0, 0, 2]], rtol=1e-15)


@pytest.mark.parametrize("shape", [(1, 1), (5, 5), (3, 6, 6), (2, 1, 4, 4)], ids=str)
def test_ldl_solve_solves(shape, device):
    rng = _rng("ldl", shape)
    s_np = symmetric_indefinite(rng, shape)
    b_np = rng.standard_normal(shape[:-1] + (2,))
    ld, piv, info = linalg.ldl_factor_ex(t(s_np + np.triu(rng.standard_normal(shape), 1), device))  # lower read
    assert ld.shape == shape and piv.shape == shape[:-1] and info.shape == shape[:-2]
    np.testing.assert_array_equal(info.numpy(), 0)
    x = linalg.ldl_solve(ld, piv, t(b_np, device), hermitian=True)
    np.testing.assert_allclose(s_np @ x.numpy(), b_np, atol=1e-10)
    x = linalg.ldl_solve(ld, piv, t(b_np[..., :1, :, :], device) if len(shape) > 2 else t(b_np, device))
    assert x.shape == shape[:-1] + (2,)  # B's batch broadcast against LD's
    assert linalg.ldl_factor(t(s_np, device, "float32")).LD.dtype == np.float32


def test_ldl_errors_and_no_gradient(device):
    with pytest.raises(linalg.LinAlgError, match=r"linalg.ldl_factor: D\[1,1\] is zero"):
        linalg.ldl_factor(t(np.zeros((3, 3)), device))
    ld, piv, info = linalg.ldl_factor_ex(t(np.zeros((3, 3)), device))
    assert int(info) == 1 and piv.numpy().tolist() == [1, 2, 3]
    with pytest.raises(linalg.LinAlgError, match=r"linalg.ldl_factor_ex \(batch element 1\)"):
        linalg.ldl_factor_ex(t(np.stack([np.eye(2), np.ones((2, 2))]), device), check_errors=True)
    ld, piv = linalg.ldl_factor(t([[0.0, 1.0], [1.0, 0.0]], device))
    b = t(np.ones((2, 1)), device)
    for bad, message in [([3, 3], r"pivots must be in 1\.\.2 or -2\.\.-1"), ([-1, 2], "starts a 2 x 2 block"),
                         ([1, -2], "starts a 2 x 2 block")]:
        with pytest.raises(gk.InvalidArgumentError, match=f"linalg.ldl_solve: .*{message}"):
            linalg.ldl_solve(ld, t(bad, device), b)
    with pytest.raises(gk.ShapeError, match=r"linalg.ldl_solve: LD of shape \(2, 2\) and B of shape \(2,\)"):
        linalg.ldl_solve(ld, piv, t(np.ones(2), device))
    with pytest.raises(gk.ShapeError, match="pivots must have shape"):
        linalg.ldl_solve(ld, piv[:1], b)
    with pytest.raises(gk.ArgumentTypeError, match="pivots must be an integer tensor"):
        linalg.ldl_solve(ld, piv.astype("float32"), b)
    a = leaf([[2.0, 1.0], [1.0, -3.0]], device)
    with pytest.raises(gk.AutogradError, match="linalg.ldl_factor is not differentiable"):
        linalg.ldl_factor(a).LD.sum().backward()
    ld, piv = linalg.ldl_factor(a.detach())
    with pytest.raises(gk.AutogradError, match="linalg.ldl_solve is not differentiable"):
        linalg.ldl_solve(ld, piv, leaf(np.ones((2, 1)), device)).sum().backward()
    assert linalg.ldl_factor(t(np.zeros((2, 0, 0)), device)).pivots.shape == (2, 0)


# ------------------------------------------------------------------------------- first-order gradchecks


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 4, 4), (3, 5), (5, 3), (2, 2, 4)], ids=str)
def test_gradcheck_lu_factor_and_lu(shape, device):
    x = leaf(_rng("glu", shape).standard_normal(shape), device)
    assert gk.gradcheck(lambda x: linalg.lu_factor(x).LU, [x])
    assert gk.gradcheck(lambda x: linalg.lu(x)[1:], [x])
    assert gk.gradcheck(lambda x: linalg.lu(x).L, [x])  # one factor alone
    assert gk.gradcheck(lambda x: linalg.lu(x).U, [x])


@pytest.mark.parametrize("shape", [(3, 3), (3, 4), (4, 3)], ids=str)
def test_gradcheck_lu_without_pivoting(shape, device):
    x = leaf(well_conditioned(_rng("glu0", shape), shape[:-2] + (max(shape),))[: shape[0], : shape[1]], device)
    assert gk.gradcheck(lambda x: linalg.lu_factor_ex(x, pivot=False).LU, [x])


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_gradcheck_lu_solve(left, adjoint, device):
    rng = _rng("glus", left, adjoint)
    a_np = well_conditioned(rng, (2, 3, 3))
    lu_np, piv = linalg.lu_factor(gk.tensor(a_np, device=device))
    lu_t, b = leaf(lu_np.numpy(), device), leaf(rng.standard_normal((2, 3, 2) if left else (2, 2, 3)), device)
    assert gk.gradcheck(lambda lu_t, b: linalg.lu_solve(lu_t, piv, b, left=left, adjoint=adjoint), [lu_t, b])
    a = leaf(a_np, device)  # through the factorisation too
    assert gk.gradcheck(lambda a, b: linalg.lu_solve(*linalg.lu_factor(a), b, left=left, adjoint=adjoint), [a, b])


@pytest.mark.parametrize("a_shape,b_shape,x_shape", SOLVE_EX[:4], ids=str)
def test_gradcheck_solve_ex(a_shape, b_shape, x_shape, device):
    rng = _rng("gsolve_ex", a_shape, b_shape)
    a, b = leaf(well_conditioned(rng, a_shape), device), leaf(rng.standard_normal(b_shape), device)
    assert gk.gradcheck(lambda a, b: linalg.solve_ex(a, b).result, [a, b])
    assert gk.gradcheck(lambda a: linalg.solve_ex(a, b.detach()).result, [a])
    assert gk.gradcheck(lambda b: linalg.solve_ex(a.detach(), b).result, [b])


def test_gradcheck_solve_ex_left_false_inv_ex_cholesky_ex(device):
    rng = _rng("gex")
    a, b = leaf(well_conditioned(rng, (2, 3, 3)), device), leaf(rng.standard_normal((4, 1, 2, 3)), device)
    assert gk.gradcheck(lambda a, b: linalg.solve_ex(a, b, left=False).result, [a, b])
    assert gk.gradcheck(lambda a: linalg.inv_ex(a).inverse, [a])
    s = leaf(spd(rng, (2, 3, 3)), device)
    assert gk.gradcheck(lambda s: linalg.cholesky_ex(sym(s)).L, [s])
    assert gk.gradcheck(lambda s: linalg.cholesky_ex(sym(s), upper=True).L, [s])


def test_gradcheck_vander_and_householder_product(device):
    rng = _rng("gvh")
    x = rng.standard_normal((2, 3))
    x[0, 1] = 0.0  # exact through zeros (a running product)
    assert gk.gradcheck(lambda x: linalg.vander(x, N=4), [leaf(x, device)])
    assert gk.gradcheck(linalg.vander, [leaf(rng.standard_normal(3), device)])
    for shape, k in [((5, 3), 3), ((5, 3), 2), ((2, 4, 4), 4), ((2, 4, 1), 1)]:
        a, tau = leaf(rng.standard_normal(shape), device), leaf(rng.standard_normal(shape[:-2] + (k,)), device)
        assert gk.gradcheck(linalg.householder_product, [a, tau])


# ------------------------------------------------------------------------------ second-order gradchecks


def test_second_order(device):
    rng = _rng("second")
    a_np = well_conditioned(rng, (3, 3))
    check_second_order(lambda x: linalg.lu_factor(x).LU, [leaf(a_np, device)], device)
    check_second_order(lambda x: linalg.lu(x)[1:], [leaf(rng.standard_normal((3, 4)), device)], device)
    check_second_order(lambda x: linalg.lu(x)[1:], [leaf(rng.standard_normal((4, 3)), device)], device)
    lu_t, piv = linalg.lu_factor(gk.tensor(a_np, device=device))
    check_second_order(lambda lu_t, b: linalg.lu_solve(lu_t, piv, b, adjoint=True),
                       [leaf(lu_t.numpy(), device), leaf(rng.standard_normal((3, 2)), device)], device)
    check_second_order(lambda a, b: linalg.solve_ex(a, b).result,
                       [leaf(a_np, device), leaf(rng.standard_normal(3), device)], device)
    check_second_order(lambda a: linalg.inv_ex(a).inverse, [leaf(a_np, device)], device)
    check_second_order(lambda s: linalg.cholesky_ex(sym(s)).L, [leaf(spd(rng, (3, 3)), device)], device)
    check_second_order(lambda x: linalg.vander(x, N=4), [leaf(rng.standard_normal(3), device)], device)
    check_second_order(linalg.householder_product,
                       [leaf(rng.standard_normal((4, 3)), device), leaf(rng.standard_normal(2), device)], device)


def test_closed_form_gradients(device):
    rng = _rng("closed_lu")
    a_np = well_conditioned(rng, (3, 3))
    a = leaf(a_np, device)
    # log |det A| = sum log |U_jj|: its gradient is A^{-T}
    gk.log(gk.abs(gk.diagonal(linalg.lu(a).U))).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.linalg.inv(a_np).T, rtol=1e-10, atol=1e-12)
    x_np = rng.standard_normal(4)
    x = leaf(x_np, device)
    linalg.vander(x).sum().backward()  # d/dx sum_j x^j = sum_j j x^(j-1)
    np.testing.assert_allclose(x.grad.numpy(), 1 + 2 * x_np + 3 * x_np**2, rtol=1e-12)


def test_float32_gradients_keep_float32(device):
    rng = _rng("f32g")
    a = leaf(well_conditioned(rng, (3, 3)), device, dtype="float32")
    b = leaf(rng.standard_normal((3, 2)), device, dtype="float32")
    total = (linalg.lu_factor(a).LU.sum() + linalg.solve_ex(a, b).result.sum() + linalg.inv_ex(a).inverse.sum()
             + linalg.lu_solve(*linalg.lu_factor(a), b).sum() + linalg.vander(b).sum()
             + linalg.householder_product(a, b[:, 0]).sum() + linalg.cholesky_ex(a @ a.mT).L.sum())
    total.backward()
    assert total.dtype == np.float32 and a.grad.dtype == np.float32 and b.grad.dtype == np.float32
    assert np.isfinite(a.grad.numpy()).all() and np.isfinite(b.grad.numpy()).all()


# --------------------------------------------------------------------------------- host reads (GPU)


def test_ex_functions_read_nothing_back_on_the_gpu(device, monkeypatch):
    rng = _rng("reads")
    a = leaf(well_conditioned(rng, (2, 3, 3)), device)
    b = leaf(rng.standard_normal((2, 3, 1)), device)
    s = leaf(spd(rng, (2, 3, 3)), device)
    x = leaf(rng.standard_normal(3), device)
    reads = count_host_reads(device, monkeypatch)
    lu_t, piv, info = linalg.lu_factor_ex(a)
    p, low, up = linalg.lu(a)
    outs = [lu_t, low, up, linalg.lu_solve(lu_t, piv, b), linalg.solve_ex(a, b).result, linalg.inv_ex(a).inverse,
            linalg.cholesky_ex(s).L, linalg.vander(x), linalg.householder_product(a, x[:2].expand(2, 2))]
    total = outs[0].sum()
    for out in outs[1:]:
        total = total + out.sum()
    total.backward()
    assert reads == [] and a.grad is not None and b.grad is not None and s.grad is not None and x.grad is not None
    linalg.lu_factor(a)  # refuses a singular matrix: one read
    assert len(reads) == 1


# ------------------------------------------------------------------------------------------ PyTorch


def test_torch_parity(device):
    torch = pytest.importorskip("torch")
    tl = torch.linalg
    rng = _rng("torch_lu")
    sq, wide, tall = rng.standard_normal((2, 4, 4)), rng.standard_normal((2, 3, 5)), rng.standard_normal((5, 3))
    a, b, s = well_conditioned(rng, (2, 3, 3)), rng.standard_normal((2, 3, 2)), spd(rng, (2, 3, 3))
    lu_np, piv_np = tl.lu_factor(torch.tensor(a))
    cases = [
        (lambda x: linalg.lu_factor(x).LU, lambda x: tl.lu_factor(x).LU, [sq]),
        (lambda x: linalg.lu_factor(x).LU, lambda x: tl.lu_factor(x).LU, [wide]),
        (lambda x: linalg.lu_factor(x).LU, lambda x: tl.lu_factor(x).LU, [tall]),
        (lambda x: linalg.lu(x), lambda x: tl.lu(x), [sq]),
        (lambda x: linalg.lu(x), lambda x: tl.lu(x), [wide]),
        (lambda x: linalg.lu(x), lambda x: tl.lu(x), [tall]),
        (lambda x: linalg.solve_ex(x, gk.tensor(b[:, :, 0], device=device)).result,
         lambda x: tl.solve_ex(x, torch.tensor(b[:, :, 0])).result, [a]),
        (lambda x, y: linalg.solve_ex(x, y, left=False).result, lambda x, y: tl.solve_ex(x, y, left=False).result,
         [a, np.swapaxes(b, -1, -2)]),
        (lambda x: linalg.inv_ex(x).inverse, lambda x: tl.inv_ex(x).inverse, [a]),
        (lambda x: linalg.cholesky_ex(sym(x)).L, lambda x: tl.cholesky_ex((x + x.mT) / 2).L, [s]),
        (lambda x: linalg.vander(x, N=5), lambda x: tl.vander(x, N=5), [rng.standard_normal((2, 3))]),
        (linalg.householder_product, tl.householder_product, [rng.standard_normal((2, 5, 3)),
                                                                rng.standard_normal((2, 2))]),
    ]
    for left in (True, False):
        for adjoint in (False, True):
            rhs = b if left else np.swapaxes(b, -1, -2)
            cases.append((lambda x, y, left=left, adjoint=adjoint: linalg.lu_solve(
                              x, gk.tensor(piv_np.numpy(), device=device), y, left=left, adjoint=adjoint),
                          lambda x, y, left=left, adjoint=adjoint: tl.lu_solve(x, piv_np, y, left=left,
                                                                                adjoint=adjoint),
                          [lu_np.numpy(), rhs]))
    for ours, theirs, arrays in cases:
        (o1, g1), (o2, g2) = _gk_grads(ours, arrays, device), _torch_grads(torch, theirs, arrays)
        for x, y in zip(o1 + g1, o2 + g2, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-10)


def test_torch_pivots_info_and_ldl_formats(device):
    torch = pytest.importorskip("torch")
    tl = torch.linalg
    rng = _rng("torch_formats")
    singular = np.stack([np.zeros((3, 3)), [[1.0, 2, 3], [2, 4, 6], [1, 0, 1]], rng.standard_normal((3, 3))])
    for a_np in (rng.standard_normal((3, 5, 5)), rng.standard_normal((2, 40, 33)), singular):
        ours, theirs = linalg.lu_factor_ex(t(a_np, device)), tl.lu_factor_ex(torch.tensor(a_np))
        np.testing.assert_array_equal(ours.pivots.numpy(), theirs.pivots.numpy())
        np.testing.assert_array_equal(ours.info.numpy(), theirs.info.numpy())
        np.testing.assert_allclose(ours.LU.numpy(), theirs.LU.numpy(), rtol=1e-10, atol=1e-12)
    not_pd = np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]], [[-1.0, 2.0], [2.0, 1.0]]])
    np.testing.assert_array_equal(linalg.cholesky_ex(t(not_pd, device)).info.numpy(),
                                  tl.cholesky_ex(torch.tensor(not_pd)).info.numpy())
    np.testing.assert_array_equal(linalg.inv_ex(t(singular, device)).info.numpy(),
                                  tl.inv_ex(torch.tensor(singular)).info.numpy())
    for shape in [(6, 6), (20, 9, 9), (70, 70)]:
        s_np = symmetric_indefinite(rng, shape)
        ld, piv, info = linalg.ldl_factor_ex(t(s_np, device))
        tld, tpiv, tinfo = tl.ldl_factor_ex(torch.tensor(s_np))
        np.testing.assert_array_equal(piv.numpy(), tpiv.numpy())  # LAPACK's pivots, 2 x 2 blocks included
        assert (piv.numpy() < 0).any()
        np.testing.assert_allclose(ld.numpy(), tld.numpy(), rtol=1e-9, atol=1e-11)
        b_np = rng.standard_normal(shape[:-1] + (2,))
        theirs = tl.ldl_solve(tld, tpiv, torch.tensor(b_np)).numpy()
        np.testing.assert_allclose(linalg.ldl_solve(t(tld.numpy(), device), t(tpiv.numpy(), device),
                                                    t(b_np, device)).numpy(), theirs, rtol=1e-8, atol=1e-10)
    # gradkit's factors in PyTorch's solver
    a_np, b_np = well_conditioned(rng, (3, 3)), rng.standard_normal((3, 2))
    lu_t, piv = linalg.lu_factor(t(a_np, device))
    x = tl.lu_solve(torch.tensor(lu_t.numpy()), torch.tensor(piv.numpy()), torch.tensor(b_np)).numpy()
    np.testing.assert_allclose(a_np @ x, b_np, atol=1e-12)
