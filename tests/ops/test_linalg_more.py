"""gk.linalg.pinv and gk.linalg.lstsq: values against NumPy (NumPy 2's rules), gradients against central
differences (first and second order), closed forms, PyTorch's values and gradients when torch is
installed, host reads on the (emulated) GPU, and every error. Every test that takes ``device`` runs on
the CPU and, where CuPy (or its emulation) is available, on the GPU."""

from __future__ import annotations

import re

import numpy as np
import pytest
from nn._host_reads import count_host_reads
from test_linalg_functions import (  # the helpers the other linalg tests use
    _gk_grads,
    _rng,
    _torch_grads,
    check_second_order,
    leaf,
    sym,
)

import gradkit as gk
from gradkit import linalg

NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"

# ------------------------------------------------------------------------------------------ inputs


def low_rank(rng: np.random.Generator, shape: tuple, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Factors B (..., m, r) and C (..., r, n): B @ C has rank r, and keeps it when B and C are perturbed."""
    *batch, m, n = shape
    return rng.standard_normal((*batch, m, rank)), rng.standard_normal((*batch, rank, n))


def solution(a, b, rcond=None):
    return linalg.lstsq(a, b, rcond)[0]


PINV_SHAPES = [(1, 1), (3, 3), (5, 3), (3, 5), (2, 4, 3), (2, 1, 3, 5)]
LSTSQ_SHAPES = [  # a, b
    ((5, 3), (5,)),
    ((5, 3), (5, 2)),
    ((3, 3), (3,)),
    ((3, 3), (3, 4)),
    ((3, 5), (3,)),
    ((3, 5), (3, 2)),
    ((4, 1), (4, 1)),
]


# ------------------------------------------------------------------------------------- the namespace


def test_namespace_and_result_types(device):
    assert "pinv" in linalg.__all__ and "lstsq" in linalg.__all__
    a = gk.tensor(_rng("ns").standard_normal((4, 3)), device=device)
    p = linalg.pinv(a)
    assert isinstance(p, gk.Tensor) and p.shape == (3, 4) and p.device == a.device
    out = linalg.lstsq(a, gk.ones(4, dtype="float64", device=device))
    assert type(out) is tuple and len(out) == 4 and all(isinstance(t, gk.Tensor) for t in out)
    x, residuals, rank, s = out
    assert (x.shape, residuals.shape, rank.shape, s.shape) == ((3,), (1,), (), (3,))
    assert rank.dtype == np.int32 and int(rank) == 3 and rank == 3 and list(range(rank)) == [0, 1, 2]
    assert all(t.device == a.device for t in out)


# ----------------------------------------------------------------------------- forward against NumPy


@pytest.mark.parametrize("shape", PINV_SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pinv_matches_numpy(shape, dtype, device):
    a_np = _rng("pinv", shape).standard_normal(shape).astype(dtype)
    out = linalg.pinv(gk.tensor(a_np, device=device))
    ref = np.linalg.pinv(a_np)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.numpy(), ref, **tol)
    p = out.numpy().astype(np.float64)
    a64 = a_np.astype(np.float64)
    np.testing.assert_allclose(a64 @ p @ a64, a64, atol=1e-10 if dtype == "float64" else 1e-4)  # Penrose 1


@pytest.mark.parametrize("shape,rank", [((5, 4), 2), ((4, 6), 1), ((2, 4, 4), 3), ((3, 3), 0)])
def test_pinv_of_rank_deficient_matrices_matches_numpy(shape, rank, device):
    b, c = low_rank(_rng("pinv-rd", shape), shape, rank)
    a_np = b @ c
    a = gk.tensor(a_np, device=device)
    for kwargs in ({}, {"rcond": 1e-10}, {"rtol": 1e-10}, {"rtol": None}):
        if "rtol" in kwargs and not NUMPY2:
            continue
        ref = np.linalg.pinv(a_np, **kwargs)
        np.testing.assert_allclose(linalg.pinv(a, **kwargs).numpy(), ref, rtol=1e-8, atol=1e-10)
    p = linalg.pinv(a, rcond=1e-10).numpy()
    np.testing.assert_allclose(np.linalg.matrix_rank(p), rank)
    np.testing.assert_allclose(p @ a_np @ p, p, atol=1e-10)  # Penrose 2


def test_pinv_cutoffs_follow_numpy2(device):
    a_np = np.diag([1.0, 0.5, 0.1])
    a = gk.tensor(a_np, device=device)
    cases = [  # keyword arguments, the diagonal of the result
        ({}, [1, 2, 10]),
        ({"rcond": 0.2}, [1, 2, 0]),
        ({"rcond": 0.5}, [1, 0, 0]),  # a singular value equal to the cutoff is cut (<=)
        ({"rcond": 0}, [1, 2, 10]),
        ({"rtol": 0.2}, [1, 2, 0]),
        ({"rcond": np.float32(0.2)}, [1, 2, 0]),
        ({"rcond": gk.tensor(0.2, device=device)}, [1, 2, 0]),  # 0-d tensors stay on their device
        ({"rcond": 2}, [0, 0, 0]),
    ]
    for kwargs, diagonal in cases:
        np.testing.assert_allclose(linalg.pinv(a, **kwargs).numpy(), np.diag(diagonal), atol=1e-12)
        if NUMPY2:
            ref_kwargs = {k: (v.numpy() if isinstance(v, gk.Tensor) else v) for k, v in kwargs.items()}
            np.testing.assert_allclose(linalg.pinv(a, **kwargs).numpy(), np.linalg.pinv(a_np, **ref_kwargs))
    # rtol=None is max(m, n) * eps of the dtype (3 * 2.2e-16 here), not rcond's 1e-15
    tiny = gk.tensor(np.diag([1.0, 8e-16, 1.0]), device=device)
    assert linalg.pinv(tiny).numpy()[1, 1] == 0
    np.testing.assert_allclose(linalg.pinv(tiny, rtol=None).numpy()[1, 1], 1 / 8e-16)
    small32 = gk.tensor(np.diag([1.0, 1e-7]), dtype="float32", device=device)  # float32's eps * 2 = 2.4e-7
    assert linalg.pinv(small32, rtol=None).numpy()[1, 1] == 0
    np.testing.assert_allclose(linalg.pinv(small32).numpy()[1, 1], 1e7, rtol=1e-5)  # computed in float64 as NumPy
    if NUMPY2:
        for t in (tiny, small32):
            np.testing.assert_allclose(linalg.pinv(t, rtol=None).numpy(), np.linalg.pinv(t.numpy(), rtol=None))
            np.testing.assert_allclose(linalg.pinv(t).numpy(), np.linalg.pinv(t.numpy()), rtol=1e-6)


def test_pinv_takes_one_cutoff_per_matrix(device):
    a_np = np.stack([np.diag([1.0, 0.5, 0.1]), np.diag([2.0, 0.3, 0.02])])[None].repeat(2, axis=0)  # (2, 2, 3, 3)
    a = gk.tensor(a_np, device=device)
    for rcond in ([0.2, 0.05], np.array([[0.2, 0.05], [0.01, 0.2]]), gk.tensor([0.2, 0.05], device=device),
                  np.array([0.2]), np.array(0.2)):
        ref = np.linalg.pinv(a_np, rcond.numpy() if isinstance(rcond, gk.Tensor) else rcond)
        np.testing.assert_allclose(linalg.pinv(a, rcond).numpy(), ref, atol=1e-12)
        if NUMPY2 and not isinstance(rcond, gk.Tensor):
            np.testing.assert_allclose(linalg.pinv(a, rtol=rcond).numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(linalg.pinv(a, [0.2, 0.05]).numpy()[0, 1], np.diag([0.5, 1 / 0.3, 0]), atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (2, 3, 3)])
def test_pinv_hermitian_matches_numpy(shape, device):
    rng = _rng("herm", shape)
    m = rng.standard_normal(shape)
    s_np = m + np.swapaxes(m, -1, -2)  # symmetric, indefinite
    for a_np in (s_np, np.tril(s_np) + np.triu(rng.standard_normal(shape), 1)):  # only the lower triangle is read
        out = linalg.pinv(gk.tensor(a_np, device=device), hermitian=True)
        np.testing.assert_allclose(out.numpy(), np.linalg.pinv(a_np, hermitian=True), rtol=1e-9, atol=1e-11)
    b, _ = low_rank(rng, shape, 1)
    r_np = b @ np.swapaxes(b, -1, -2)  # symmetric of rank 1
    out = linalg.pinv(gk.tensor(r_np, device=device), 1e-10, hermitian=True)
    np.testing.assert_allclose(out.numpy(), np.linalg.pinv(r_np, 1e-10, hermitian=True), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(out.numpy(), np.linalg.pinv(r_np, 1e-10), rtol=1e-8, atol=1e-10)


def test_pinv_of_empty_and_integer_matrices(device):
    for shape in [(0, 3), (3, 0), (0, 0), (0, 2, 3), (2, 0, 4)]:
        out = linalg.pinv(gk.zeros(shape, dtype="float64", device=device))
        assert out.shape == shape[:-2] + (shape[-1], shape[-2]) and out.dtype == np.float64
        assert not out.numpy().any()
    ints = gk.tensor([[1, 2], [3, 4], [5, 6]], device=device)
    out = linalg.pinv(ints)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), np.linalg.pinv(np.array([[1, 2], [3, 4], [5, 6]])), rtol=1e-12)
    np.testing.assert_allclose(linalg.pinv(gk.zeros((2, 3), device=device)).numpy(), np.zeros((3, 2)))


@pytest.mark.parametrize("a_shape,b_shape", LSTSQ_SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lstsq_matches_numpy(a_shape, b_shape, dtype, device):
    rng = _rng("lstsq", a_shape, b_shape)
    a_np, b_np = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    out = linalg.lstsq(gk.tensor(a_np, device=device), gk.tensor(b_np, device=device))
    ref = np.linalg.lstsq(a_np, b_np, rcond=None)
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    _same_lstsq(out, ref, tol)


def _same_lstsq(out, ref, tol) -> None:
    x, residuals, rank, s = out
    assert x.shape == ref[0].shape and x.dtype == ref[0].dtype
    np.testing.assert_allclose(x.numpy(), ref[0], **tol)
    assert residuals.shape == ref[1].shape and residuals.dtype == ref[1].dtype
    np.testing.assert_allclose(residuals.numpy(), ref[1], **tol)
    assert int(rank) == int(ref[2]) and rank.dtype == np.int32 and rank.shape == ()
    assert s.shape == ref[3].shape and s.dtype == ref[3].dtype
    np.testing.assert_allclose(s.numpy(), ref[3], **tol)
    assert not any(t.requires_grad for t in (residuals, rank, s))


@pytest.mark.parametrize("shape,rank", [((5, 3), 2), ((3, 5), 2), ((4, 4), 1), ((5, 3), 0)])
@pytest.mark.parametrize("k", [None, 2])
def test_lstsq_of_rank_deficient_matrices_matches_numpy(shape, rank, k, device):
    rng = _rng("lstsq-rd", shape, rank, k)
    b, c = low_rank(rng, shape, rank)
    a_np = b @ c
    b_np = rng.standard_normal(shape[:1] if k is None else (shape[0], k))
    for rcond in (None, 1e-10):
        out = linalg.lstsq(gk.tensor(a_np, device=device), gk.tensor(b_np, device=device), rcond)
        ref = np.linalg.lstsq(a_np, b_np, rcond=rcond)
        _same_lstsq(out, ref, dict(rtol=1e-8, atol=1e-10))
        assert int(out[2]) == rank and out[1].shape == (0,)  # residuals are empty below full rank
    x = linalg.lstsq(gk.tensor(a_np, device=device), gk.tensor(b_np, device=device))[0].numpy()
    np.testing.assert_allclose(x, np.linalg.pinv(a_np) @ b_np, atol=1e-10)  # the least-norm solution


def test_lstsq_rcond_follows_lapack(device):
    """None is max(M, N) * eps; a value <= 0 or >= 1 means eps (float64's: NumPy computes in float64)."""
    b = gk.ones(2, dtype="float64", device=device)
    for rcond in (None, -1, 0, 1e-30, 1e-25, 0.4, 0.6, 1, 2.5, np.float64(0.6), gk.tensor(0.6, device=device)):
        for diagonal in ([1.0, 1e-20], [1.0, 0.5], [1.0, 1e-8]):
            a_np = np.diag(diagonal)
            ref_rcond = rcond.item() if isinstance(rcond, gk.Tensor) else rcond
            ref = np.linalg.lstsq(a_np, np.ones(2), rcond=ref_rcond)
            _same_lstsq(linalg.lstsq(gk.tensor(a_np, device=device), b, rcond), ref, dict(rtol=1e-12, atol=0))
    a32 = gk.tensor(np.diag([1.0, 1e-8]), dtype="float32", device=device)  # float32's eps would cut 1e-8
    _, _, rank, _ = linalg.lstsq(a32, gk.ones(2, dtype="float32", device=device), 0)
    assert int(rank) == 2 == int(np.linalg.lstsq(a32.numpy(), np.ones(2, np.float32), rcond=0)[2])


@pytest.mark.parametrize("a_shape,b_shape", [((0, 3), (0,)), ((3, 0), (3,)), ((3, 0), (3, 2)), ((0, 0), (0,)),
                                             ((3, 2), (3, 0)), ((2, 3), (2, 0)), ((0, 3), (0, 2))])
def test_lstsq_of_empty_operands_as_numpy(a_shape, b_shape, device):
    rng = _rng("empty", a_shape, b_shape)
    a_np, b_np = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    out = linalg.lstsq(gk.tensor(a_np, device=device), gk.tensor(b_np, device=device))
    _same_lstsq(out, np.linalg.lstsq(a_np, b_np, rcond=None), dict(rtol=1e-12, atol=1e-14))


def test_lstsq_dtypes_and_operands_as_numpy(device):
    rng = _rng("dtypes")
    a_np, b_np = rng.standard_normal((4, 2)), rng.standard_normal(4)
    a32, b32 = gk.tensor(a_np, dtype="float32", device=device), gk.tensor(b_np, dtype="float32", device=device)
    assert all(t.dtype == np.float32 for t in (linalg.lstsq(a32, b32)[i] for i in (0, 1, 3)))
    assert linalg.lstsq(a32, b32.astype(gk.float64))[0].dtype == np.float64
    ints = gk.tensor([[1, 0], [1, 1], [1, 2]], device=device)
    out = linalg.lstsq(ints, gk.tensor([1, 2, 4], device=device))
    _same_lstsq(out, np.linalg.lstsq(np.array([[1, 0], [1, 1], [1, 2]]), np.array([1, 2, 4]), rcond=None),
                dict(rtol=1e-12, atol=1e-14))
    x = linalg.lstsq(a32, b_np.astype(np.float32))[0]  # an array operand joins a's device
    assert x.device == a32.device
    x = linalg.lstsq(a_np, b_np)[0]  # two arrays: a tensor on the default device
    np.testing.assert_allclose(x.numpy(), np.linalg.lstsq(a_np, b_np, rcond=None)[0], rtol=1e-12)
    x = linalg.lstsq([[1.0, 0.0], [0.0, 2.0]], gk.tensor([1.0, 1.0], dtype="float64", device=device))[0]
    np.testing.assert_allclose(x.numpy(), [1.0, 0.5])


# ------------------------------------------------------------------------------- first-order gradchecks


@pytest.mark.parametrize("shape", PINV_SHAPES)
def test_gradcheck_pinv(shape, device):
    x = leaf(_rng("gpinv", shape).standard_normal(shape), device)
    assert gk.gradcheck(linalg.pinv, [x])


@pytest.mark.parametrize("shape,rank", [((5, 4), 2), ((3, 5), 1), ((2, 4, 4), 3)])
def test_gradcheck_pinv_of_rank_deficient_matrices(shape, rank, device):
    """Valid where the rank does not change: perturbing the factors of B @ C keeps it."""
    b, c = (leaf(f, device) for f in low_rank(_rng("gpinv-rd", shape), shape, rank))
    assert gk.gradcheck(lambda b, c: linalg.pinv(b @ c, 1e-10), [b, c])
    assert gk.gradcheck(lambda b, c: linalg.pinv(b @ c, rtol=1e-10), [b, c])


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 4, 4)])
def test_gradcheck_pinv_hermitian(shape, device):
    x = leaf(_rng("gherm", shape).standard_normal(shape), device)
    assert gk.gradcheck(lambda x: linalg.pinv(sym(x), hermitian=True), [x])
    b = leaf(low_rank(_rng("gherm-rd", shape), shape, 1)[0], device)
    assert gk.gradcheck(lambda b: linalg.pinv(b @ b.mT, 1e-10, hermitian=True), [b])


def test_gradcheck_pinv_with_one_cutoff_per_matrix(device):
    b, c = (leaf(f, device) for f in low_rank(_rng("gcut"), (2, 4, 3), 2))
    assert gk.gradcheck(lambda b, c: linalg.pinv(b @ c, [1e-10, 1e-8]), [b, c])


def test_a_cutoff_of_nonzero_singular_values_gives_the_formula_at_a(device):
    """Cutting singular values that are not 0 is a truncation: the gradient is the pseudo-inverse's formula
    at a (PyTorch's), not the truncation's derivative, so central differences disagree (documented)."""
    u, _ = np.linalg.qr(_rng("trunc").standard_normal((4, 3)))
    a_np = u @ np.diag([2.0, 1.0, 0.01]) @ np.linalg.qr(_rng("trunc2").standard_normal((3, 3)))[0]
    a = leaf(a_np, device)
    assert not gk.gradcheck(lambda a: linalg.pinv(a, 0.1), [a], raise_exception=False)
    p = linalg.pinv(a, 0.1)
    assert np.linalg.matrix_rank(p.numpy()) == 2
    c_np = _rng("trunc3").standard_normal((3, 4))
    (p * gk.tensor(c_np, device=device)).sum().backward()
    pn = p.detach().numpy()
    expected = (-pn.T @ c_np @ pn.T + (np.eye(4) - a_np @ pn) @ c_np.T @ pn @ pn.T
                + pn.T @ pn @ c_np.T @ (np.eye(3) - pn @ a_np))
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("a_shape,b_shape", LSTSQ_SHAPES)
def test_gradcheck_lstsq(a_shape, b_shape, device):
    rng = _rng("glstsq", a_shape, b_shape)
    a, b = leaf(rng.standard_normal(a_shape), device), leaf(rng.standard_normal(b_shape), device)
    assert gk.gradcheck(solution, [a, b])
    # one operand constant: each rule alone
    assert gk.gradcheck(lambda a: solution(a, b.detach()), [a])
    assert gk.gradcheck(lambda b: solution(a.detach(), b), [b])


@pytest.mark.parametrize("shape,rank", [((5, 3), 2), ((3, 5), 2), ((4, 4), 1)])
@pytest.mark.parametrize("k", [None, 2])
def test_gradcheck_lstsq_of_rank_deficient_matrices(shape, rank, k, device):
    rng = _rng("glstsq-rd", shape, rank, k)
    b, c = (leaf(f, device) for f in low_rank(rng, shape, rank))
    rhs = leaf(rng.standard_normal(shape[:1] if k is None else (shape[0], k)), device)
    assert gk.gradcheck(lambda b, c, rhs: solution(b @ c, rhs, 1e-10), [b, c, rhs])


# ------------------------------------------------------------------------------ second-order gradchecks


@pytest.mark.parametrize("shape", [(3, 3), (4, 3), (2, 3, 4)])
def test_second_order_pinv(shape, device):
    check_second_order(linalg.pinv, [leaf(_rng("2pinv", shape).standard_normal(shape), device)], device)


def test_second_order_pinv_rank_deficient_and_hermitian(device):
    rng = _rng("2pinv-more")
    b, c = (leaf(f, device) for f in low_rank(rng, (4, 3), 2))
    check_second_order(lambda b, c: linalg.pinv(b @ c, 1e-10), [b, c], device)
    check_second_order(lambda x: linalg.pinv(sym(x), hermitian=True), [leaf(rng.standard_normal((3, 3)), device)],
                       device)


@pytest.mark.parametrize("a_shape,b_shape", [((5, 3), (5,)), ((3, 3), (3, 2)), ((3, 5), (3, 2))])
def test_second_order_lstsq(a_shape, b_shape, device):
    rng = _rng("2lstsq", a_shape, b_shape)
    a, b = leaf(rng.standard_normal(a_shape), device), leaf(rng.standard_normal(b_shape), device)
    check_second_order(solution, [a, b], device)


def test_second_order_lstsq_rank_deficient(device):
    rng = _rng("2lstsq-rd")
    b, c = (leaf(f, device) for f in low_rank(rng, (5, 3), 2))
    rhs = leaf(rng.standard_normal(5), device)
    check_second_order(lambda b, c, rhs: solution(b @ c, rhs, 1e-10), [b, c, rhs], device)


# ------------------------------------------------------------------------------------------ closed forms


def test_closed_form_gradients(device):
    rng = _rng("closed")
    # square and invertible: pinv is inv, and so are their gradients
    a_np = rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)
    c_np = rng.standard_normal((2, 3, 3))
    a1, a2 = leaf(a_np, device), leaf(a_np, device)
    (linalg.pinv(a1) * gk.tensor(c_np, device=device)).sum().backward()
    (linalg.inv(a2) * gk.tensor(c_np, device=device)).sum().backward()
    np.testing.assert_allclose(a1.grad.numpy(), a2.grad.numpy(), rtol=1e-9, atol=1e-11)
    # full column rank: x = (A^T A)^{-1} A^T b, so d<c, x>/db = A (A^T A)^{-1} c
    t_np, y_np, c_np = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal(3)
    t, y = leaf(t_np, device), leaf(y_np, device)
    (solution(t, y) * gk.tensor(c_np, device=device)).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), t_np @ np.linalg.solve(t_np.T @ t_np, c_np), rtol=1e-10)
    t2 = leaf(t_np, device)  # and a's gradient is that of the normal equations
    normal = linalg.solve(t2.mT @ t2, t2.mT @ gk.tensor(y_np, device=device))
    (normal * gk.tensor(c_np, device=device)).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), t2.grad.numpy(), rtol=1e-9, atol=1e-11)
    # full row rank: x = A^T (A A^T)^{-1} b, the least-norm solution
    w_np, z_np, c_np = rng.standard_normal((2, 4)), rng.standard_normal(2), rng.standard_normal(4)
    w, w2 = leaf(w_np, device), leaf(w_np, device)
    (solution(w, gk.tensor(z_np, device=device)) * gk.tensor(c_np, device=device)).sum().backward()
    least_norm = w2.mT @ linalg.solve(w2 @ w2.mT, gk.tensor(z_np, device=device))
    (least_norm * gk.tensor(c_np, device=device)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), w2.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_lstsq_solution_equals_pinv_times_b_with_its_gradients(device):
    rng = _rng("pinvb")
    b_f, c_f = low_rank(rng, (5, 4), 2)
    rhs_np = rng.standard_normal((5, 2))
    grads = []
    for via_pinv in (False, True):
        b, c, rhs = leaf(b_f, device), leaf(c_f, device), leaf(rhs_np, device)
        x = linalg.pinv(b @ c, 1e-10) @ rhs if via_pinv else solution(b @ c, rhs, 1e-10)
        (x * x).sum().backward()
        grads.append([t.grad.numpy() for t in (b, c, rhs)])
    for g1, g2 in zip(*grads, strict=True):
        np.testing.assert_allclose(g1, g2, rtol=1e-8, atol=1e-10)
        assert np.isfinite(g1).all()


def test_lstsq_gradient_when_both_operands_need_one_matches_separate_ones(device):
    rng = _rng("cache")
    for b_shape in ((5,), (5, 2)):
        a_np, b_np = rng.standard_normal((5, 3)), rng.standard_normal(b_shape)
        a, b = leaf(a_np, device), leaf(b_np, device)
        solution(a, b).sum().backward()
        a2, b2 = leaf(a_np, device), leaf(b_np, device)
        solution(a2, b2.detach()).sum().backward()
        solution(a2.detach(), b2).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), a2.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(b.grad.numpy(), b2.grad.numpy(), rtol=1e-12)
        # retain_graph: a second backward with another cotangent is right too
        x = solution(a, b)
        x.backward(gk.ones_like(x), retain_graph=True)
        a.grad = b.grad = None
        x.backward(2 * gk.ones_like(x))
        np.testing.assert_allclose(a.grad.numpy(), 2 * a2.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(b.grad.numpy(), 2 * b2.grad.numpy(), rtol=1e-12)


def test_float32_gradients_keep_float32(device):
    rng = _rng("f32")
    a = leaf(rng.standard_normal((4, 3)), device, dtype="float32")
    b = leaf(rng.standard_normal(4), device, dtype="float32")
    total = linalg.pinv(a).sum() + solution(a, b).sum() + linalg.pinv(a[:3] + a[:3].mT, hermitian=True).sum()
    assert total.dtype == np.float32
    total.backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float32
    a64, b64 = leaf(a.detach().numpy().astype(np.float64), device), leaf(b.detach().numpy().astype(np.float64), device)
    (linalg.pinv(a64).sum() + solution(a64, b64).sum() + linalg.pinv(a64[:3] + a64[:3].mT, hermitian=True).sum()
     ).backward()
    np.testing.assert_allclose(a.grad.numpy(), a64.grad.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(b.grad.numpy(), b64.grad.numpy(), rtol=1e-3, atol=1e-4)


def test_gradients_of_empty_matrices(device):
    a = leaf(np.zeros((2, 0, 3)), device)
    linalg.pinv(a).sum().backward()
    assert a.grad.shape == (2, 0, 3)
    a, b = leaf(np.zeros((0, 3)), device), leaf(np.zeros(0), device)
    solution(a, b).sum().backward()
    assert a.grad.shape == (0, 3) and b.grad.shape == (0,)


def test_outputs_modified_in_place_are_caught_at_backward(device):
    a = leaf(_rng("inplace").standard_normal((4, 3)), device)
    p = linalg.pinv(a)
    loss = (p * p).sum()
    with gk.no_grad():
        p *= 2  # the rule reads the output
    with pytest.raises(gk.AutogradError, match="modified"):
        loss.backward()


# ------------------------------------------------------------------------------------------ host reads


def _needs_emulated_cuda(device):
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")


def test_pinv_and_lstsq_read_nothing_on_the_host(device, monkeypatch):
    """pinv (every form) and lstsq with M <= N, forward and backward (second order too), make no host
    read; lstsq with M > N makes exactly one (whether the rank is N: the residuals' shape)."""
    _needs_emulated_cuda(device)
    rng = _rng("reads")
    a = leaf(rng.standard_normal((2, 4, 3)), device)
    s = leaf(rng.standard_normal((3, 3)), device)
    wide = leaf(rng.standard_normal((3, 5)), device)
    tall = leaf(rng.standard_normal((5, 3)), device)
    rhs3, rhs5 = leaf(rng.standard_normal((3, 2)), device), leaf(rng.standard_normal(5), device)
    cut = gk.tensor([1e-10, 1e-12], device=device)
    reads = count_host_reads(device, monkeypatch)
    outs = [linalg.pinv(a), linalg.pinv(a, cut), linalg.pinv(a, rtol=None), linalg.pinv(s, hermitian=True),
            *linalg.lstsq(wide, rhs3)[:2], linalg.lstsq(s, rhs3, 1e-10)[0]]
    total = outs[0].sum()
    for out in outs[1:]:
        total = total + out.sum()
    t = leaf(rng.standard_normal((4, 3)), device)  # second order
    ((linalg.pinv(t) ** 2).sum() + (solution(t.mT, rhs3.detach()) ** 2).sum()).backward(create_graph=True)
    g = t.grad
    t.grad = None
    (total + (g * g).sum()).backward()
    assert reads == [] and a.grad is not None and wide.grad is not None and rhs3.grad is not None
    assert t.grad is not None and s.grad is not None
    x, residuals, rank, sv = linalg.lstsq(tall, rhs5)
    assert reads == ["__bool__"] and residuals.shape == (1,)
    x.sum().backward()
    assert reads == ["__bool__"]


def test_pinv_errors(device):
    a = gk.tensor(_rng("err").standard_normal((3, 3)), device=device)
    with pytest.raises(gk.ShapeError, match=r"linalg\.pinv: expected a matrix .*\(3,\)"):
        linalg.pinv(gk.ones(3, device=device))
    with pytest.raises(gk.ShapeError, match=r"linalg\.pinv: expected a matrix .*\(\)"):
        linalg.pinv(gk.tensor(1.0, device=device))
    with pytest.raises(gk.ShapeError, match=r"linalg\.pinv: hermitian=True needs square matrices .*\(2, 3\)"):
        linalg.pinv(gk.ones((2, 3), device=device), hermitian=True)
    with pytest.raises(gk.ArgumentTypeError, match="linalg.pinv: hermitian must be True or False"):
        linalg.pinv(a, hermitian="yes")
    with pytest.raises(gk.InvalidArgumentError, match="linalg.pinv: rcond and rtol cannot both be given"):
        linalg.pinv(a, 1e-3, rtol=1e-3)
    with pytest.raises(gk.InvalidArgumentError, match="linalg.pinv: rcond and rtol cannot both be given"):
        linalg.pinv(a, 1e-3, rtol=None)
    with pytest.raises(gk.InvalidArgumentError, match=r"linalg\.pinv: rcond must be >= 0.0, got -1.0"):
        linalg.pinv(a, -1.0)
    with pytest.raises(gk.InvalidArgumentError, match="linalg.pinv: rtol must be a number, got NaN"):
        linalg.pinv(a, rtol=float("nan"))
    with pytest.raises(gk.InvalidArgumentError, match=r"linalg\.pinv: rcond must be >= 0 \(and not NaN\)"):
        linalg.pinv(gk.ones((2, 3, 3), device=device), [0.1, -0.1])
    with pytest.raises(gk.ArgumentTypeError, match="linalg.pinv: rcond must be a number, got bool"):
        linalg.pinv(a, True)
    with pytest.raises(gk.ArgumentTypeError, match="linalg.pinv: rtol must be a number, got str"):
        linalg.pinv(a, rtol="small")
    with pytest.raises(gk.ArgumentTypeError, match=r"linalg\.pinv: rcond must be a number or an array of numbers"):
        linalg.pinv(a, np.array([True]))
    with pytest.raises(gk.ArgumentTypeError, match=r"linalg\.pinv: rcond must be a number or an array of numbers"):
        linalg.pinv(a, [1e-3, "x"])
    with pytest.raises(gk.ArgumentTypeError, match=r"linalg\.pinv: rtol must be a number or an array of numbers"):
        linalg.pinv(a, rtol=np.array([1e-3j]))
    with pytest.raises(gk.ShapeError, match=r"linalg\.pinv: rcond of shape \(2,\) does not broadcast to the batch "
                                            r"shape \(\) of a \(shape \(3, 3\)\)"):
        linalg.pinv(a, [0.1, 0.2])
    with pytest.raises(gk.ShapeError, match=r"rtol of shape \(3,\) does not broadcast to the batch shape \(2,\)"):
        linalg.pinv(gk.ones((2, 3, 3), device=device), rtol=gk.tensor([0.1, 0.2, 0.3], device=device))
    with pytest.raises(gk.ShapeError, match=r"linalg\.pinv: .*ragged"):
        linalg.pinv([[1.0, 2.0], [3.0]])
    with pytest.raises(gk.ArgumentTypeError, match="linalg.pinv"):
        linalg.pinv(1.0)
    if device == "cuda":
        with pytest.raises(gk.DeviceError, match="linalg.pinv: rcond is on cpu but a is on cuda"):
            linalg.pinv(a, gk.tensor(0.1, device="cpu"))


def test_lstsq_errors(device):
    a = gk.tensor(_rng("lerr").standard_normal((4, 3)), device=device)
    b = gk.ones(4, dtype="float64", device=device)
    with pytest.raises(gk.ShapeError, match=r"linalg\.lstsq: a must be a matrix \(2 axes, shape \(M, N\)\), got "
                                            r"shape \(2, 4, 3\)"):
        linalg.lstsq(gk.ones((2, 4, 3), device=device), b)
    with pytest.raises(gk.ShapeError, match=r"linalg\.lstsq: a must be a matrix .* \(4,\)"):
        linalg.lstsq(b, b)
    with pytest.raises(gk.ShapeError, match=r"linalg\.lstsq: a of shape \(4, 3\) and b of shape \(3,\) do not fit: "
                                            r"b must have shape \(4,\) or \(4, K\)"):
        linalg.lstsq(a, gk.ones(3, device=device))
    for shape in ((), (3, 2), (4, 2, 1)):
        with pytest.raises(gk.ShapeError, match=r"linalg\.lstsq: a of shape \(4, 3\) and b of shape "
                           + re.escape(repr(shape))):
            linalg.lstsq(a, gk.ones(shape, device=device))
    with pytest.raises(gk.ArgumentTypeError, match="linalg.lstsq: a and b must be tensors or arrays"):
        linalg.lstsq(a, 1.0)
    with pytest.raises(gk.ArgumentTypeError, match="linalg.lstsq"):
        linalg.lstsq(2.0, b)
    with pytest.raises(gk.DTypeError, match="linalg.lstsq: float16 is not supported"):
        linalg.lstsq(a, gk.ones(4, dtype="float16", device=device))
    with pytest.raises(gk.DTypeError, match="linalg.lstsq: float16 is not supported"):
        linalg.lstsq(a.astype(gk.float16), b)
    with pytest.raises(gk.InvalidArgumentError, match="linalg.lstsq: rcond must be a number, got NaN"):
        linalg.lstsq(a, b, float("nan"))
    with pytest.raises(gk.ArgumentTypeError, match="linalg.lstsq: rcond must be a number, got str"):
        linalg.lstsq(a, b, "warn")
    with pytest.raises(gk.ArgumentTypeError, match="linalg.lstsq: rcond must be a number, got list"):
        linalg.lstsq(a, b, [1e-3])
    if device == "cuda":
        with pytest.raises(gk.DeviceError, match="linalg.lstsq"):
            linalg.lstsq(a, gk.ones(4, device="cpu"))


@pytest.mark.parametrize("name", ["pinv", "lstsq"])
def test_float16_is_refused_as_numpy_refuses_it(name, device):
    args = [gk.eye(3, dtype="float16", device=device)] + ([gk.ones(3, device=device)] if name == "lstsq" else [])
    with pytest.raises(gk.DTypeError, match=rf"linalg\.{name}: float16 is not supported"):
        getattr(linalg, name)(*args)
    with pytest.raises(TypeError):  # what NumPy raises
        getattr(np.linalg, name)(*[np.asarray(t.numpy()) for t in args])


def test_non_finite_input_raises_as_numpy_on_the_cpu():
    """NumPy's SVD refuses NaN (LinAlgError). On CuPy, pinv and lstsq return NaN unchecked (they read nothing
    on the host); linalg.svd, eigh and eigvalsh read back one flag and raise as NumPy."""
    nan = gk.tensor([[np.nan, 1.0], [1.0, 2.0]], dtype="float64", device="cpu")
    for call in (lambda: linalg.pinv(nan), lambda: linalg.lstsq(nan, gk.ones(2, dtype="float64", device="cpu"))):
        with pytest.raises(linalg.LinAlgError, match=r"linalg\.(pinv|lstsq): the SVD did not converge") as info:
            call()
        assert isinstance(info.value, np.linalg.LinAlgError) and isinstance(info.value, gk.InvalidArgumentError)
    assert np.isnan(linalg.pinv(nan, hermitian=True).numpy()).all()  # NumPy's eigh gives NaN: so does NumPy's pinv
    assert np.isnan(np.linalg.pinv(nan.numpy(), hermitian=True)).all()


# ------------------------------------------------------------------------------------------ PyTorch parity


def test_torch_parity(device):
    torch = pytest.importorskip("torch")
    tl = torch.linalg
    rng = _rng("torch")
    tall, wide, stack, square = (rng.standard_normal((5, 3)), rng.standard_normal((3, 5)),
                                 rng.standard_normal((2, 4, 3)), rng.standard_normal((3, 3)))
    bf, cf = low_rank(rng, (5, 4), 2)
    cut = np.linalg.qr(rng.standard_normal((4, 3)))[0] @ np.diag([2.0, 1.0, 0.01]) @ np.linalg.qr(
        rng.standard_normal((3, 3)))[0]
    b5, b3 = rng.standard_normal((5, 2)), rng.standard_normal((3, 2))

    def sym_t(x):
        return (x + x.mT) / 2

    cases = [
        (linalg.pinv, tl.pinv, [tall]),
        (linalg.pinv, tl.pinv, [wide]),
        (linalg.pinv, tl.pinv, [stack]),
        (lambda x: linalg.pinv(sym(x), hermitian=True), lambda x: tl.pinv(sym_t(x), hermitian=True), [square]),
        (lambda b, c: linalg.pinv(b @ c, rtol=1e-10), lambda b, c: tl.pinv(b @ c, rtol=1e-10), [bf, cf]),
        (lambda x: linalg.pinv(x, rtol=None), lambda x: tl.pinv(x), [stack]),  # torch's default: max(m, n) eps
        (lambda x: linalg.pinv(x, 0.1), lambda x: tl.pinv(x, rtol=0.1), [cut]),  # a cut of nonzero values
        (solution, lambda a, b: tl.lstsq(a, b).solution, [tall, b5]),
        (solution, lambda a, b: tl.lstsq(a, b).solution, [square, b3]),
        (solution, lambda a, b: tl.lstsq(a, b).solution, [wide, b3]),
        (solution, lambda a, b: tl.lstsq(a, b[:, None]).solution[:, 0], [tall, b5[:, 0]]),
        (lambda b, c, y: solution(b @ c, y, 1e-10),
         lambda b, c, y: tl.lstsq(b @ c, y, rcond=1e-10, driver="gelsd").solution, [bf, cf, b5]),
    ]
    for ours, theirs, arrays in cases:
        (o1, g1), (o2, g2) = _gk_grads(ours, arrays, device), _torch_grads(torch, theirs, arrays)
        for x, y in zip(o1 + g1, o2 + g2, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-10)


def test_torch_parity_second_order(device):
    torch = pytest.importorskip("torch")
    rng = _rng("torch2")
    a_np, b_np, u_np = rng.standard_normal((4, 3)), rng.standard_normal((4, 2)), rng.standard_normal((4, 3))
    for ours, theirs in [
        (lambda x: (linalg.pinv(x) ** 2).sum(), lambda x: (torch.linalg.pinv(x) ** 2).sum()),
        (lambda x: (solution(x, gk.tensor(b_np, device=device)) ** 3).sum(),
         lambda x: (torch.linalg.lstsq(x, torch.tensor(b_np)).solution ** 3).sum()),
    ]:
        x = leaf(a_np, device)
        (g,) = gk.vjp(lambda t: gk.grad(ours)(t), x)[1](gk.tensor(u_np, device=device))
        xt = torch.tensor(a_np, requires_grad=True)
        (gt,) = torch.autograd.grad(theirs(xt), xt, create_graph=True)
        (ht,) = torch.autograd.grad(gt, xt, torch.tensor(u_np))
        np.testing.assert_allclose(g.numpy(), ht.numpy(), rtol=1e-8, atol=1e-10)
