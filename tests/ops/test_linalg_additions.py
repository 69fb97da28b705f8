"""gk.linalg's NumPy 2 additions (multi_dot, trace, outer, vector_norm, matrix_norm, svdvals, cond,
matrix_rank, cross, diagonal, tensorsolve, tensorinv, vecdot), solve_triangular and matrix_exp: values
against NumPy (and SciPy when installed), gradients against central differences (first and second
order), PyTorch's values and gradients when torch is installed, batching, and the errors. Every test
that takes ``device`` runs on the CPU and, where CuPy (or its emulation) is available, on the GPU."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
from test_linalg_functions import _gk_grads, _rng, _torch_grads, check_second_order, leaf

import gradkit as gk
from gradkit import linalg

NEW = [
    "multi_dot", "trace", "outer", "vector_norm", "matrix_norm", "svdvals", "cond", "matrix_rank", "cross",
    "diagonal", "tensorsolve", "tensorinv", "vecdot", "solve_triangular", "matrix_exp",
]  # fmt: skip


NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _vector_norm_1x(x, ord=2, axis=None, keepdims=False):
    """NumPy 2's vector_norm from NumPy 1.x's norm: the axes moved last and flattened into one."""
    x = np.asarray(x)
    axes = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in np.atleast_1d(axis))
    rest = [a for a in range(x.ndim) if a not in axes]
    flat = np.transpose(x, rest + list(axes)).reshape([x.shape[a] for a in rest] + [-1])
    out = np.linalg.norm(flat, ord, axis=-1)
    return np.expand_dims(out, axes) if keepdims else out


def _matrix_rank_1x(a, tol=None, hermitian=False, *, rtol=None):
    """NumPy 2's matrix_rank from NumPy 1.x's: rtol is tol relative to each matrix's largest singular value."""
    if rtol is not None:
        tol = np.linalg.svd(a, compute_uv=False, hermitian=hermitian).max(-1) * rtol
    return np.linalg.matrix_rank(a, tol, hermitian)


# NumPy 2's np.linalg additions; on NumPy 1.x the same results from the functions it has
NPLA = np.linalg
if not NUMPY2:
    NPLA = types.SimpleNamespace(
        trace=lambda x, offset=0, dtype=None: np.trace(x, offset, -2, -1, dtype),
        diagonal=lambda x, offset=0: np.diagonal(x, offset, -2, -1),
        outer=np.outer,
        vecdot=lambda x1, x2, axis=-1: np.sum(np.moveaxis(x1, axis, -1) * np.moveaxis(x2, axis, -1), axis=-1),
        cross=lambda x1, x2, axis=-1: np.cross(x1, x2, axis=axis),
        vector_norm=_vector_norm_1x,
        matrix_norm=lambda x, ord="fro", keepdims=False: np.linalg.norm(x, ord, (-2, -1), keepdims),
        svdvals=lambda x: np.linalg.svd(x, compute_uv=False),
        matrix_rank=_matrix_rank_1x,
    )


def t64(array, device):
    return gk.tensor(np.asarray(array, dtype=np.float64), device=device)


def triangular_input(rng, shape):
    """A random matrix whose triangles are well conditioned: n on the diagonal."""
    n = shape[-1]
    return rng.standard_normal(shape) + n * np.eye(n)


def scipy_linalg():
    return pytest.importorskip("scipy.linalg")


def expm_by_eigh(s):
    w, v = np.linalg.eigh(s)
    return (v * np.exp(w)[..., None, :]) @ np.swapaxes(v, -1, -2)


# ------------------------------------------------------------------------------------- the namespace


def test_namespace():
    for name in NEW:
        assert name in linalg.__all__ and callable(getattr(linalg, name)), name
    assert "eig" not in linalg.__all__ and "eigvals" not in linalg.__all__  # complex results: not supported


# ----------------------------------------------------------------------------- values against NumPy


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_elementwise_helpers_match_numpy(dtype, device):
    rng = _rng("helpers", dtype)
    a = rng.standard_normal((2, 3, 4)).astype(dtype)
    u, v = rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
    w = rng.standard_normal((2, 1, 3)).astype(dtype)
    ta = gk.tensor(a, device=device)
    tu, tv, tw = (gk.tensor(x, device=device) for x in (u, v, w))
    tol = dict(rtol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    cases = [
        (linalg.trace(ta), NPLA.trace(a)),
        (linalg.trace(ta, offset=1), NPLA.trace(a, offset=1)),
        (linalg.trace(ta, offset=-1, dtype="float64"), NPLA.trace(a, offset=-1, dtype=np.float64)),
        (linalg.diagonal(ta), NPLA.diagonal(a)),
        (linalg.diagonal(ta, offset=2), NPLA.diagonal(a, offset=2)),
        (linalg.outer(tv, tu[:, 0]), NPLA.outer(v, u[:, 0])),
        (linalg.vecdot(tu, tv), NPLA.vecdot(u, v)),
        (linalg.vecdot(tw, tv), NPLA.vecdot(w, v)),
        (linalg.vecdot(tu[:3], tv, axis=0), NPLA.vecdot(u[:3], v, axis=0)),  # axis in each operand's own shape
        (linalg.cross(tw, tv), NPLA.cross(w, v)),
        (linalg.cross(tu[:3].T, tv), NPLA.cross(u[:3].T, v)),
        (linalg.cross(tu[:3], tv, axis=0), NPLA.cross(u[:3], v, axis=0)),
    ]
    for out, ref in cases:
        assert out.shape == ref.shape and out.dtype == ref.dtype and out.device == ta.device
        np.testing.assert_allclose(out.numpy(), ref, **tol)


def test_integer_inputs_keep_numpy_dtypes(device):
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    v = np.array([1, 2, 3], dtype=np.int64)
    ta, tv = gk.tensor(a, device=device), gk.tensor(v, device=device)
    for out, ref in [
        (linalg.trace(ta), NPLA.trace(a)),
        (linalg.diagonal(ta), NPLA.diagonal(a)),
        (linalg.outer(tv, tv), NPLA.outer(v, v)),
        (linalg.vecdot(tv, tv), NPLA.vecdot(v, v)),
        (linalg.cross(tv, tv[::-1]), NPLA.cross(v, v[::-1])),
        (linalg.multi_dot([ta.T, ta, ta.T]), np.linalg.multi_dot([a.T, a, a.T])),
        (linalg.vector_norm(tv), NPLA.vector_norm(v)),  # norms measure integers in float64
        (linalg.matrix_norm(ta, ord=1), NPLA.matrix_norm(a, ord=1)),
    ]:
        assert out.dtype == ref.dtype, (out.dtype, ref.dtype)
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    assert linalg.vector_norm(gk.tensor(np.ones(3, np.float16), device=device)).dtype == np.float16


MULTI_DOT_SHAPES = [
    [(3, 4), (4, 2)],
    [(5,), (5, 3), (3,)],  # 1-d ends: a number
    [(10, 2), (2, 30), (30, 5)],
    [(5,), (5, 8), (8, 3), (3, 40), (40, 2), (2, 6)],
    [(30, 35), (35, 15), (15, 5), (5, 10), (10, 20), (20, 25)],  # the textbook chain
]


@pytest.mark.parametrize("shapes", MULTI_DOT_SHAPES)
def test_multi_dot_matches_numpy(shapes, device):
    rng = _rng("multi_dot", shapes)
    arrays = [rng.standard_normal(s) for s in shapes]
    out = linalg.multi_dot([t64(x, device) for x in arrays])
    ref = np.linalg.multi_dot(arrays)
    assert out.shape == np.shape(ref)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    if len(shapes) > 2:  # arrays may mix tensors and NumPy arrays; a tuple works too
        out = linalg.multi_dot((arrays[0], t64(arrays[1], device), *arrays[2:]))
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)


def test_multi_dot_order_is_the_cheapest():
    from gradkit.linalg import _chain_order

    split = _chain_order([10, 100, 5, 50])  # (A B) C: 5000 + 2500 multiplications, not 25000 + 50000
    assert split[0][2] == 1
    split = _chain_order([30, 35, 15, 5, 10, 20, 25])  # CLRS's example: ((A1 (A2 A3)) ((A4 A5) A6))
    assert split[0][5] == 2 and split[0][2] == 0 and split[3][5] == 4
    seen = []
    real_matmul = linalg.matmul

    def counting(a, b):
        seen.append((a.shape, b.shape))
        return real_matmul(a, b)

    rng = _rng("order")
    mats = [gk.tensor(rng.standard_normal(s)) for s in [(10, 100), (100, 5), (5, 50)]]
    linalg.matmul = counting
    try:
        linalg.multi_dot(mats)
    finally:
        linalg.matmul = real_matmul
    assert seen == [((10, 100), (100, 5)), ((10, 5), (5, 50))]


VECTOR_ORDS = [2, 1, 3, 0.5, 0, -1, -2.5, math.inf, -math.inf]


@pytest.mark.parametrize("ord", VECTOR_ORDS)
def test_vector_norm_matches_numpy(ord, device):
    rng = _rng("vector_norm", ord)
    x = rng.standard_normal((2, 3, 4))
    x[0, 1, 2] = 0.0  # a zero: the negative orders give 0 over it
    t = t64(x, device)
    for axis in [None, -1, 0, (0, 2), (0, 1, 2)]:
        for keepdims in (False, True):
            out = linalg.vector_norm(t, ord=ord, axis=axis, keepdims=keepdims)
            with np.errstate(divide="ignore"):  # NumPy warns at 0 ** ord for ord < 0
                ref = NPLA.vector_norm(x, ord=ord, axis=axis, keepdims=keepdims)
            assert out.shape == ref.shape
            np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    # PyTorch's positional order (x, ord, dim, keepdim) means the same here
    with np.errstate(divide="ignore"):
        ref = NPLA.vector_norm(x, ord=ord, axis=1)
    np.testing.assert_allclose(linalg.vector_norm(t, ord, 1).numpy(), ref)


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf, None])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matrix_norm_matches_numpy(ord, dtype, device):
    x = _rng("matrix_norm", ord).standard_normal((2, 3, 4)).astype(dtype)
    out = linalg.matrix_norm(gk.tensor(x, device=device), ord=ord, keepdims=True)
    ref = NPLA.matrix_norm(x, ord=ord, keepdims=True)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12 if dtype == "float64" else 1e-5)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 5), (2, 3, 4, 3)])
def test_svdvals_and_cond_match_numpy(shape, device):
    x = _rng("cond", shape).standard_normal(shape)
    t = t64(x, device)
    np.testing.assert_allclose(linalg.svdvals(t).numpy(), NPLA.svdvals(x), rtol=1e-12)
    orders = [None, 2, -2] + ([1, -1, math.inf, -math.inf, "fro", "nuc"] if shape[-1] == shape[-2] else [])
    for p in orders:
        out = linalg.cond(t, p)
        ref = np.linalg.cond(x, p)
        assert out.shape == ref.shape
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, err_msg=str(p))
    x32 = x.astype(np.float32)
    assert linalg.cond(gk.tensor(x32, device=device)).dtype == np.float32


def test_cond_of_singular_matrices_is_inf(device):
    x = _rng("singular").standard_normal((3, 3, 3))
    x[1, :, 0] = 0.0  # singular: an exact zero column
    x[2] = 0.0  # all zero: 0/0 in NumPy, reported as inf
    for p in [None, 2, -2, 1, -1, math.inf, "fro", "nuc"]:
        t = leaf(x, device)
        out = linalg.cond(t, p)
        if p == "nuc":  # NumPy's SVD of the NaN inverse fails ("SVD did not converge"); here inf
            ref = np.array([np.linalg.cond(x[0], p), np.inf, np.inf])
        else:
            ref = np.linalg.cond(x, p)
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, err_msg=str(p))
        if p in (1, -1, math.inf, "fro", "nuc"):  # the singular matrices have slope 0; the others their own
            out.sum().backward()
            assert np.isfinite(t.grad.numpy()).all()
            np.testing.assert_array_equal(t.grad.numpy()[1:], 0.0)
            alone = leaf(x[0], device)
            linalg.cond(alone, p).backward()
            np.testing.assert_allclose(t.grad.numpy()[0], alone.grad.numpy(), rtol=1e-12)


def test_matrix_rank_matches_numpy(device):
    rng = _rng("rank")
    b, c = rng.standard_normal((4, 5, 2)), rng.standard_normal((4, 2, 6))
    x = b @ c  # rank 2
    x[1] = rng.standard_normal((5, 6))  # full rank
    x[2] = 0.0
    t = gk.tensor(x, device=device, requires_grad=True)
    out = linalg.matrix_rank(t)
    assert out.dtype == np.int64 and out.shape == (4,) and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), NPLA.matrix_rank(x))
    d = np.diag([1.0, 1e-3, 1e-9])
    td = t64(d, device)
    for kwargs in [{}, {"rtol": 1e-4}, {"rtol": 1e-2}, {"tol": 1e-6}, {"tol": 2.0}, {"hermitian": True}]:
        r = linalg.matrix_rank(td, **kwargs)
        assert r.shape == () and int(r) == NPLA.matrix_rank(d, **kwargs), kwargs
    per_matrix = linalg.matrix_rank(t64(np.stack([d, d]), device), rtol=np.array([1e-4, 1e-2]))
    np.testing.assert_array_equal(per_matrix.numpy(), [2, 1])
    assert int(linalg.matrix_rank(t64(np.ones(3), device))) == 1
    assert int(linalg.matrix_rank(t64(np.zeros(3), device))) == 0
    assert linalg.matrix_rank(t64(np.zeros((2, 0, 3)), device)).numpy().tolist() == [0, 0]
    assert int(linalg.matrix_rank(gk.tensor(np.eye(3, dtype=np.int32), device=device))) == 3


def test_tensorsolve_and_tensorinv_match_numpy(device):
    rng = _rng("tensor")
    a = rng.standard_normal((2, 3, 6)) + np.eye(6).reshape(2, 3, 6) * 3
    b = rng.standard_normal((2, 3))
    np.testing.assert_allclose(
        linalg.tensorsolve(t64(a, device), t64(b, device)).numpy(), np.linalg.tensorsolve(a, b), rtol=1e-10
    )
    a2 = np.moveaxis(a, 0, 2)  # (3, 6, 2): axes=(1,) puts the 6 back last
    np.testing.assert_allclose(
        linalg.tensorsolve(t64(a2, device), t64(b.T, device), axes=(1,)).numpy(),
        np.linalg.tensorsolve(a2, b.T, axes=(1,)),
        rtol=1e-10,
    )
    m = rng.standard_normal((4, 6, 8, 3)) + np.eye(24).reshape(4, 6, 8, 3) * 5
    np.testing.assert_allclose(linalg.tensorinv(t64(m, device)).numpy(), np.linalg.tensorinv(m), rtol=1e-10)
    m1 = m.reshape(24, 8, 3)
    np.testing.assert_allclose(linalg.tensorinv(t64(m1, device), ind=1).numpy(), np.linalg.tensorinv(m1, ind=1))


# --------------------------------------------------------------------------------- solve_triangular

TRIANGULAR_SHAPES = [  # a, b, x
    ((3, 3), (3,), (3,)),
    ((3, 3), (3, 2), (3, 2)),
    ((2, 4, 4), (4, 1), (2, 4, 1)),
    ((2, 4, 4), (4,), (2, 4)),
    ((3, 3), (5, 3, 2), (5, 3, 2)),
    ((2, 1, 3, 3), (4, 3, 2), (2, 4, 3, 2)),
]


def reference_triangular(a, b, lower, trans, unit):
    t = np.tril(a) if lower else np.triu(a)
    if unit:
        t = t - np.diagonal(t, 0, -2, -1)[..., None] * np.eye(a.shape[-1]) + np.eye(a.shape[-1])
    if trans:
        t = np.swapaxes(t, -1, -2)
    vector = b.ndim == 1
    if vector:
        b = b[:, None]
    # both batched to one shape: NumPy 1.x and 2 then read b the same way (as matrices)
    batch = np.broadcast_shapes(t.shape[:-2], b.shape[:-2])
    x = np.linalg.solve(np.broadcast_to(t, batch + t.shape[-2:]), np.broadcast_to(b, batch + b.shape[-2:]))
    return x[..., 0] if vector else x


@pytest.mark.parametrize("shapes", TRIANGULAR_SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_solve_triangular_matches_a_solve_of_the_triangle(shapes, dtype, device):
    a_shape, b_shape, x_shape = shapes
    rng = _rng("tri", shapes, dtype)
    a = triangular_input(rng, a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    ta, tb = gk.tensor(a, device=device), gk.tensor(b, device=device)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    for lower in (True, False):
        for trans in (0, 1, "T", "C", "N"):
            for unit in (False, True):
                out = linalg.solve_triangular(ta, tb, trans, lower, unit)
                t = trans in (1, "T", "C")
                assert out.shape == x_shape and out.dtype == dtype
                ref = reference_triangular(a.astype(np.float64), b.astype(np.float64), lower, t, unit)
                np.testing.assert_allclose(out.numpy(), ref, **tol, err_msg=f"{lower} {trans} {unit}")


def test_solve_triangular_keywords_and_left(device):
    rng = _rng("tri-kw")
    a = triangular_input(rng, (2, 3, 3))
    b = rng.standard_normal((2, 4, 3))  # left=False: x a = b with x (2, 4, 3)
    ta, tb = t64(a, device), t64(b, device)
    lower_ref = reference_triangular(a, b.swapaxes(-1, -2), True, True, False).swapaxes(-1, -2)
    for kwargs in [{"lower": True}, {"upper": False}, {"lower": True, "upper": False}]:
        out = linalg.solve_triangular(ta, tb, left=False, **kwargs)
        np.testing.assert_allclose(out.numpy() @ np.tril(a), b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(out.numpy(), lower_ref, rtol=1e-10)
    out = linalg.solve_triangular(ta, tb, upper=True, left=False, unitriangular=True)
    unit_upper = np.triu(a, 1) + np.eye(3)
    np.testing.assert_allclose(out.numpy() @ unit_upper, b, rtol=1e-10, atol=1e-12)
    default = linalg.solve_triangular(ta, tb.mT)  # neither lower nor upper: the upper triangle, as SciPy
    np.testing.assert_allclose(np.triu(a) @ default.numpy(), b.swapaxes(-1, -2), rtol=1e-10, atol=1e-12)
    v = rng.standard_normal(3)
    row = linalg.solve_triangular(ta, t64(v, device), lower=True, left=False)  # a 1-d b, x a = b
    np.testing.assert_allclose(np.einsum("bi,bij->bj", row.numpy(), np.tril(a)), np.broadcast_to(v, (2, 3)))


def test_solve_triangular_matches_scipy(device):
    sl = scipy_linalg()
    rng = _rng("scipy-tri")
    a = triangular_input(rng, (6, 6))
    b = rng.standard_normal((6, 3))
    for lower in (True, False):
        for trans in (0, 1, 2):
            for unit in (False, True):
                out = linalg.solve_triangular(t64(a, device), t64(b, device), trans, lower, unit)
                ref = sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)
                np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-14)


def test_solve_triangular_reads_one_triangle(device):
    rng = _rng("one triangle")
    a = triangular_input(rng, (4, 4))
    b = rng.standard_normal((4, 2))
    noisy = a + np.triu(np.full((4, 4), np.nan), 1)  # NaN above the diagonal: never read for lower=True
    out = linalg.solve_triangular(t64(noisy, device), t64(b, device), lower=True)
    np.testing.assert_allclose(out.numpy(), reference_triangular(a, b, True, False, False), rtol=1e-12)
    zero_diag = a.copy()
    np.fill_diagonal(zero_diag, 0.0)  # unit_diagonal: the diagonal is not read either
    out = linalg.solve_triangular(t64(zero_diag, device), t64(b, device), lower=True, unit_diagonal=True)
    np.testing.assert_allclose(out.numpy(), reference_triangular(a, b, True, False, True), rtol=1e-12)


# --------------------------------------------------------------------------------------- matrix_exp


@pytest.mark.parametrize("scale", [1e-3, 0.1, 0.5, 1.5, 4.0, 30.0])
def test_matrix_exp_of_symmetric_matrices_matches_eigh(scale, device):
    s = _rng("expm-sym", scale).standard_normal((2, 5, 5))
    s = (s + s.swapaxes(-1, -2)) * scale / 4
    out = linalg.matrix_exp(t64(s, device)).numpy()
    ref = expm_by_eigh(s)
    assert np.linalg.norm(out - ref) <= 1e-13 * np.linalg.norm(ref) * max(1.0, scale)


def test_matrix_exp_matches_scipy(device):
    sl = scipy_linalg()
    rng = _rng("expm-scipy")
    for n in (1, 2, 3, 6):
        for scale in (1e-3, 0.05, 0.3, 1.0, 2.0):  # each Padé degree, and a few squarings
            a = rng.standard_normal((n, n)) * scale / math.sqrt(n)
            out = linalg.matrix_exp(t64(a, device)).numpy()
            ref = sl.expm(a)
            assert np.linalg.norm(out - ref) <= 1e-13 * np.linalg.norm(ref), (n, scale)


def test_matrix_exp_batches_mixed_norms(device):
    rng = _rng("expm-batch")
    a = rng.standard_normal((3, 2, 4, 4)) * np.array([1e-3, 0.2, 1.0, 3.0, 12.0, 40.0]).reshape(3, 2, 1, 1)
    out = linalg.matrix_exp(t64(a, device)).numpy()
    for index in np.ndindex(3, 2):  # each matrix as it comes out alone
        alone = linalg.matrix_exp(t64(a[index], device)).numpy()
        np.testing.assert_array_equal(out[index], alone)
    np.testing.assert_allclose(
        linalg.matrix_exp(t64(np.zeros((2, 3, 3)), device)).numpy(), np.broadcast_to(np.eye(3), (2, 3, 3))
    )
    assert linalg.matrix_exp(t64(np.zeros((2, 0, 0)), device)).shape == (2, 0, 0)
    one = linalg.matrix_exp(t64([[0.7]], device))
    np.testing.assert_allclose(one.numpy(), [[math.exp(0.7)]], rtol=1e-15)
    nilpotent = np.array([[0.0, 1.0], [0.0, 0.0]])  # exp = I + N
    np.testing.assert_allclose(linalg.matrix_exp(t64(nilpotent, device)).numpy(), np.eye(2) + nilpotent, atol=1e-16)
    x32 = linalg.matrix_exp(gk.tensor(a[0, 1].astype(np.float32), device=device))
    assert x32.dtype == np.float32
    np.testing.assert_allclose(x32.numpy(), out[0, 1], rtol=2e-5)
    ints = linalg.matrix_exp(gk.tensor(np.eye(2, dtype=np.int64), device=device))
    assert ints.dtype == np.float64
    np.testing.assert_allclose(ints.numpy(), np.e * np.eye(2), rtol=1e-15)


# ------------------------------------------------------------------------------------------- gradients


def gradcheck(f, arrays, device):
    assert gk.gradcheck(f, [leaf(a, device) for a in arrays], atol=1e-6, rtol=1e-4)


def test_gradients_of_the_composites(device):
    rng = _rng("grad")
    m = rng.standard_normal((2, 3, 3))
    x = rng.standard_normal((2, 3, 4))
    x[0, 0, 0] = 0.0  # 0 inside a norm of positive order is smooth enough; negative orders are checked apart
    u, v = rng.standard_normal((4, 3)), rng.standard_normal(3)
    gradcheck(lambda t: linalg.trace(t, offset=1), [x], device)
    gradcheck(lambda t: linalg.diagonal(t, offset=-1), [x], device)
    gradcheck(linalg.outer, [v, u[:, 0]], device)
    gradcheck(lambda a, b: linalg.vecdot(a, b, axis=0), [u[:3], v], device)
    gradcheck(linalg.cross, [u[:, :3], v], device)
    gradcheck(lambda a, b, c: linalg.multi_dot([a, b, c]), [v, m[0], u[:3].T], device)
    gradcheck(lambda a, b, c, d: linalg.multi_dot([a, b, c, d]), [u, u.T, u, v], device)
    for ord in [2, 3, 1.5, math.inf]:
        gradcheck(lambda t, o=ord: linalg.vector_norm(t + 2.0, o, (0, 2)), [x], device)
    for ord in ["fro", "nuc", 1, 2, -2, math.inf]:
        gradcheck(lambda t, o=ord: linalg.matrix_norm(t, ord=o), [x], device)
    gradcheck(linalg.svdvals, [x], device)
    for p in [None, -2, 1, "fro", "nuc", -math.inf]:
        gradcheck(lambda t, p=p: linalg.cond(t + 3 * gk.eye(3, dtype="float64", device=device), p), [m], device)
    a = rng.standard_normal((2, 3, 6)) + np.eye(6).reshape(2, 3, 6) * 3
    gradcheck(linalg.tensorsolve, [a, rng.standard_normal((2, 3))], device)
    gradcheck(
        lambda t: linalg.tensorinv(t, ind=1), [rng.standard_normal((4, 2, 2)) + 3 * np.eye(4).reshape(4, 2, 2)], device
    )


def test_vector_norm_of_negative_order_gradients(device):
    x = _rng("negative").standard_normal((3, 4))
    for ord in [-1, -2.5]:
        gradcheck(lambda t, o=ord: linalg.vector_norm(t, ord=o, axis=1), [x], device)
        check_second_order(
            lambda t, o=ord: linalg.vector_norm(t, ord=o, axis=-1, keepdims=True), [leaf(x, device)], device
        )
    x[1, 2] = 0.0  # the norm of that row is 0: slope 0 there (PyTorch's convention), and finite
    t = leaf(x, device)
    linalg.vector_norm(t, ord=-1, axis=1).sum().backward()
    grad = t.grad.numpy()
    assert np.isfinite(grad).all() and not grad[1].any() and grad[0].any()


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_gradients(lower, unit, device):
    rng = _rng("tri-grad", lower, unit)
    a = triangular_input(rng, (2, 3, 3))
    b = rng.standard_normal((3, 2))
    for trans in (0, 1):
        gradcheck(lambda x, y, t=trans: linalg.solve_triangular(x, y, t, lower, unit), [a, b], device)
    gradcheck(lambda x, y: linalg.solve_triangular(x, y, lower=lower, unit_diagonal=unit, left=False), [a, b.T], device)
    gradcheck(lambda x, y: linalg.solve_triangular(x, y, 1, lower, unit), [a[0], b[:, 0]], device)
    xa, xb = leaf(a, device), leaf(b, device)
    linalg.solve_triangular(xa, xb, lower=lower, unit_diagonal=unit).sum().backward()
    grad = xa.grad.numpy()  # only the triangle read has a gradient
    unread = np.triu(np.ones((3, 3)), 0 if unit else 1) if lower else np.tril(np.ones((3, 3)), 0 if unit else -1)
    assert not grad[..., unread.astype(bool)].any()


def test_solve_triangular_second_derivatives(device):
    rng = _rng("tri-2nd")
    a, b = triangular_input(rng, (3, 3)), rng.standard_normal((3, 2))
    check_second_order(
        lambda x, y: linalg.solve_triangular(x, y, lower=True), [leaf(a, device), leaf(b, device)], device
    )
    check_second_order(
        lambda x, y: linalg.solve_triangular(x, y, 1, upper=True, unitriangular=True),
        [leaf(a, device), leaf(b, device)],
        device,
    )


@pytest.mark.parametrize("scale", [0.01, 0.5, 6.0])
def test_matrix_exp_gradients(scale, device):
    a = _rng("expm-grad", scale).standard_normal((2, 3, 3)) * scale
    gradcheck(linalg.matrix_exp, [a], device)


def test_matrix_exp_gradient_of_a_mixed_batch(device):
    rng = _rng("expm-mixed")
    a = rng.standard_normal((3, 3, 3)) * np.array([0.01, 1.0, 4.0]).reshape(3, 1, 1)  # three (degree, squarings)
    gradcheck(linalg.matrix_exp, [a], device)
    big = leaf(a, device)
    (linalg.matrix_exp(big) ** 2).sum().backward()
    for i in range(3):  # each matrix's gradient as it comes alone
        alone = leaf(a[i], device)
        (linalg.matrix_exp(alone) ** 2).sum().backward()
        np.testing.assert_allclose(big.grad.numpy()[i], alone.grad.numpy(), rtol=1e-12)


def test_matrix_exp_gradient_is_a_frechet_derivative(device):
    # d/dt tr(G^T exp(A + tE)) at t = 0 equals <gA, E>; for symmetric A, E commuting with A it is tr(G^T e^A E)
    rng = _rng("frechet")
    s = rng.standard_normal((4, 4))
    s = s + s.T
    g = rng.standard_normal((4, 4))
    t = leaf(s, device)
    linalg.matrix_exp(t).backward(t64(g, device))
    e = expm_by_eigh(s)
    np.testing.assert_allclose(np.sum(t.grad.numpy() * s), np.sum(g * (e @ s)), rtol=1e-11)
    huge_g = leaf(s * 0.1, device)  # a gradient far larger than A: scaled before the block exponential
    linalg.matrix_exp(huge_g).backward(t64(g * 1e12, device))
    small_g = leaf(s * 0.1, device)
    linalg.matrix_exp(small_g).backward(t64(g, device))
    np.testing.assert_allclose(huge_g.grad.numpy(), small_g.grad.numpy() * 1e12, rtol=1e-12)


def test_second_derivatives(device):
    rng = _rng("second")
    a = rng.standard_normal((2, 3, 3)) * 0.8
    check_second_order(linalg.matrix_exp, [leaf(a, device)], device)
    check_second_order(linalg.matrix_exp, [leaf(a[0] * 4, device)], device)  # with squarings
    check_second_order(
        lambda t: linalg.cond(t + 3 * gk.eye(3, dtype="float64", device=device), 1), [leaf(a, device)], device
    )
    check_second_order(lambda t: linalg.cond(t), [leaf(a, device)], device)
    check_second_order(lambda x, y: linalg.cross(x, y), [leaf(a[0], device), leaf(a[1, 0], device)], device)
    check_second_order(lambda x: linalg.multi_dot([x, x.T, x]), [leaf(a[0], device)], device)


# ------------------------------------------------------------------------------------- PyTorch parity


def test_torch_parity(device):
    torch = pytest.importorskip("torch")
    tl = torch.linalg
    rng = _rng("torch")
    m = rng.standard_normal((2, 3, 3))
    w = rng.standard_normal((2, 4, 3))
    tri = triangular_input(rng, (2, 3, 3))
    rhs = rng.standard_normal((2, 3, 2))
    v, u = rng.standard_normal((2, 3)), rng.standard_normal(3)
    chain = [rng.standard_normal(s) for s in [(4, 6), (6, 2), (2, 5)]]
    cases = [
        (linalg.matrix_exp, tl.matrix_exp, [m]),
        (lambda x: linalg.matrix_exp(x * 5), lambda x: tl.matrix_exp(x * 5), [m]),
        (
            lambda a, b: linalg.solve_triangular(a, b, upper=True),
            lambda a, b: tl.solve_triangular(a, b, upper=True),
            [tri, rhs],
        ),
        (
            lambda a, b: linalg.solve_triangular(a, b, upper=False, left=False, unitriangular=True),
            lambda a, b: tl.solve_triangular(a, b, upper=False, left=False, unitriangular=True),
            [tri, rhs.swapaxes(-1, -2)],
        ),
        (lambda x: linalg.vector_norm(x, 3, 1), lambda x: tl.vector_norm(x, 3, 1), [w]),
        (lambda x: linalg.vector_norm(x, -1.5, (0, 2)), lambda x: tl.vector_norm(x, -1.5, (0, 2)), [w]),
        (lambda x: linalg.vector_norm(x, math.inf), lambda x: tl.vector_norm(x, math.inf), [w]),
        (lambda x: linalg.matrix_norm(x, "nuc"), lambda x: tl.matrix_norm(x, "nuc"), [w]),
        (lambda x: linalg.matrix_norm(x, -1), lambda x: tl.matrix_norm(x, -1), [w]),
        (lambda x: linalg.matrix_norm(x, 2, keepdims=True), lambda x: tl.matrix_norm(x, 2, keepdim=True), [w]),
        (linalg.svdvals, tl.svdvals, [w]),
        (linalg.cond, tl.cond, [w]),
        (lambda *xs: linalg.multi_dot(list(xs)), lambda *xs: tl.multi_dot(list(xs)), chain),
        (lambda a, b: linalg.vecdot(a, b), lambda a, b: tl.vecdot(a, b), [v, u]),
        (lambda a, b: linalg.cross(a, b), lambda a, b: tl.cross(a, b), [v, u[None]]),
        (lambda a, b: linalg.cross(a, b, axis=1), lambda a, b: tl.cross(a, b, dim=1), [w[:, :3], m]),
    ]
    for ours, theirs, arrays in cases:
        ref_out, ref_grads = _torch_grads(torch, theirs, arrays)
        outs, grads = _gk_grads(ours, arrays, device)
        for o, r in zip(outs, ref_out, strict=True):
            np.testing.assert_allclose(o, r, rtol=1e-10, atol=1e-12)
        for g, r in zip(grads, ref_grads, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-11)
    for p in ["fro", "nuc", 1, -math.inf]:  # values only: PyTorch's own backward of these fails (an in-place write)
        ours = linalg.cond(t64(m, device), p).numpy()
        np.testing.assert_allclose(ours, tl.cond(torch.tensor(m), p).numpy(), rtol=1e-10)
    d = np.stack([np.diag([1.0, 1e-3, 1e-9]), rng.standard_normal((3, 3))])
    d[1] += d[1].T  # symmetric, for hermitian=True
    for kwargs in [{}, {"rtol": 1e-4}, {"hermitian": True}, {"hermitian": True, "rtol": 1e-2}]:
        ours = linalg.matrix_rank(t64(d, device), **kwargs)
        np.testing.assert_array_equal(ours.numpy(), tl.matrix_rank(torch.tensor(d), **kwargs).numpy())


# ------------------------------------------------------------------------------------------- errors


def raises(cls, pattern, fn, *args, **kwargs):
    with pytest.raises(cls, match=pattern) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, gk.GradkitError)


def test_errors(device):
    m = t64(np.eye(3), device)
    v = t64(np.ones(3), device)
    raises(gk.InvalidArgumentError, r"multi_dot: expected at least two", linalg.multi_dot, [m])
    raises(gk.ArgumentTypeError, r"multi_dot: expected a list or tuple", linalg.multi_dot, m)
    raises(
        gk.ShapeError,
        r"multi_dot: array 1 has shape \(2, 3, 3\)",
        linalg.multi_dot,
        [m, t64(np.ones((2, 3, 3)), device), m],
    )
    raises(gk.ShapeError, r"multi_dot: arrays 0 and 1 do not fit", linalg.multi_dot, [m, t64(np.ones((2, 3)), device)])
    raises(gk.ShapeError, r"linalg.trace: expected a matrix", linalg.trace, v)
    raises(gk.ShapeError, r"linalg.diagonal: expected a matrix", linalg.diagonal, v)
    raises(gk.ShapeError, r"linalg.outer: expected two 1-d tensors, got shapes \(3, 3\)", linalg.outer, m, v)
    raises(gk.ArgumentTypeError, r"linalg.outer: x1 and x2 must be tensors or arrays, got float and float",
           linalg.outer, 2.0, 3.0)
    raises(gk.ShapeError, r"linalg.cross: both operands must be 3-vectors", linalg.cross, v[:2], v[:2])
    raises(gk.ShapeError, r"linalg.vecdot: the operands' axis -1 differ in length", linalg.vecdot, v, v[:2])
    raises(gk.ShapeError, r"linalg.vecdot: shapes \(2, 3\) and \(4, 3\) do not broadcast", linalg.vecdot,
           t64(np.ones((2, 3)), device), t64(np.ones((4, 3)), device))  # fmt: skip
    raises(gk.ArgumentTypeError, r"linalg.vector_norm: ord must be a number", linalg.vector_norm, v, "fro")
    raises(gk.InvalidArgumentError, r"linalg.vector_norm: ord must be .*NaN", linalg.vector_norm, v, math.nan)
    raises(gk.ShapeError, r"linalg.matrix_norm: expected a matrix", linalg.matrix_norm, v)
    raises(gk.InvalidArgumentError, r"linalg.matrix_norm: ord must be", linalg.matrix_norm, m, "max")
    raises(gk.InvalidArgumentError, r"linalg.matrix_norm: .*order 3", linalg.matrix_norm, m, 3)
    raises(gk.ShapeError, r"linalg.svdvals: expected a matrix", linalg.svdvals, v)
    raises(gk.InvalidArgumentError, r"linalg.cond: p must be", linalg.cond, m, 3)
    raises(gk.ShapeError, r"linalg.cond: p=1 needs square matrices", linalg.cond, t64(np.ones((2, 3)), device), 1)
    raises(gk.ShapeError, r"linalg.cond: .*empty", linalg.cond, t64(np.ones((0, 0)), device))
    raises(
        gk.InvalidArgumentError,
        r"matrix_rank: tol and rtol cannot both be given",
        linalg.matrix_rank,
        m,
        1e-3,
        rtol=1e-3,
    )
    raises(gk.InvalidArgumentError, r"matrix_rank: rtol must be >= 0", linalg.matrix_rank, m, rtol=-1.0)
    raises(gk.ShapeError, r"matrix_rank: tol of shape \(4,\) does not broadcast", linalg.matrix_rank,
           t64(np.ones((2, 3, 3)), device), np.ones(4))  # fmt: skip
    raises(
        gk.ShapeError,
        r"matrix_rank: expected square matrices",
        linalg.matrix_rank,
        t64(np.ones((2, 3)), device),
        hermitian=True,
    )
    raises(gk.ShapeError, r"tensorsolve: a of shape \(2, 3, 5\) and b of shape \(2, 3\) do not fit", linalg.tensorsolve,
           t64(np.ones((2, 3, 5)), device), t64(np.ones((2, 3)), device))  # fmt: skip
    raises(gk.InvalidArgumentError, r"tensorinv: ind must be >= 1", linalg.tensorinv, m, 0)
    raises(gk.ShapeError, r"tensorinv: a's first ind=1 axes", linalg.tensorinv, t64(np.ones((2, 3)), device), 1)
    raises(
        linalg.LinAlgError,
        r"tensorinv: a, as a \(4, 4\) matrix, is singular",
        linalg.tensorinv,
        t64(np.zeros((2, 2, 4)), device),
    )
    raises(linalg.LinAlgError, r"tensorsolve: a, as a \(2, 2\) matrix, is singular", linalg.tensorsolve,
           t64(np.zeros((2, 2)), device), v[:2])  # fmt: skip
    raises(
        gk.DTypeError,
        r"linalg.matrix_exp: float16 is not supported",
        linalg.matrix_exp,
        gk.tensor(np.eye(2, dtype=np.float16)),
    )
    raises(
        gk.ShapeError, r"linalg.matrix_exp: expected square matrices", linalg.matrix_exp, t64(np.ones((2, 3)), device)
    )


def test_solve_triangular_errors(device):
    m = t64(np.eye(3), device)
    b = t64(np.ones((3, 2)), device)
    op = "linalg.solve_triangular"
    raises(
        gk.InvalidArgumentError,
        rf"{op}: trans must be 0, 1, 2, 'N', 'T' or 'C', got 3",
        linalg.solve_triangular,
        m,
        b,
        3,
    )
    raises(gk.InvalidArgumentError, rf"{op}: trans must be", linalg.solve_triangular, m, b, True)
    raises(gk.InvalidArgumentError, rf"{op}: lower=True and upper=True contradict", linalg.solve_triangular, m, b,
           lower=True, upper=True)  # fmt: skip
    raises(gk.InvalidArgumentError, rf"{op}: unit_diagonal=False and unitriangular=True contradict",
           linalg.solve_triangular, m, b, unit_diagonal=False, unitriangular=True)  # fmt: skip
    raises(gk.ArgumentTypeError, rf"{op}: left must be True or False", linalg.solve_triangular, m, b, left="no")
    raises(gk.ShapeError, rf"{op}: a must be a square matrix", linalg.solve_triangular, b, b)
    raises(
        gk.ShapeError,
        rf"{op}: a of shape \(3, 3\) and b of shape \(2, 3\) do not fit",
        linalg.solve_triangular,
        m,
        b.mT,
    )
    raises(gk.ShapeError, rf"{op}: .*\(\.\.\., k, 3\) \(left=False\)", linalg.solve_triangular, m, b, left=False)
    raises(gk.ShapeError, rf"{op}: the batch shapes", linalg.solve_triangular, t64(np.ones((2, 3, 3)), device),
           t64(np.ones((4, 3, 1)), device))  # fmt: skip
    raises(gk.DTypeError, rf"{op}: float16 is not supported", linalg.solve_triangular,
           gk.tensor(np.eye(3, dtype=np.float16)), gk.tensor(np.ones(3, dtype=np.float16)))  # fmt: skip
    singular = np.triu(np.ones((2, 3, 3)))
    singular[1, 2, 2] = 0.0
    with pytest.raises(
        linalg.LinAlgError, match=rf"{op}: a matrix of the stack of shape \(2, 3, 3\) has a zero"
    ) as info:
        linalg.solve_triangular(t64(singular, device), b)
    assert isinstance(info.value, np.linalg.LinAlgError)
    # the zero is in the lower triangle's diagonal too, but a unit diagonal is not read
    out = linalg.solve_triangular(t64(singular, device), b, unit_diagonal=True)
    assert np.isfinite(out.numpy()).all()
