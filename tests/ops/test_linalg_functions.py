"""gk.linalg: forward values against NumPy, gradients against central differences (first and second
order), closed forms, errors, and PyTorch's values when torch is installed. Every test that takes
``device`` runs on the CPU and, where CuPy (or its emulation) is available, on the GPU."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit import linalg

# ------------------------------------------------------------------------------------------ inputs


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(sum(ord(c) * (i + 1) for i, c in enumerate(repr(key))) % 2**32)


def well_conditioned(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Random matrices plus n I: far from singular."""
    n = shape[-1]
    return rng.standard_normal(shape) + n * np.eye(n)


def spd(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """B B^T + n I: symmetric positive definite, well conditioned, with distinct eigenvalues."""
    n = shape[-1]
    b = rng.standard_normal(shape)
    return b @ np.swapaxes(b, -1, -2) + n * np.eye(n)


def leaf(array: np.ndarray, device: str, dtype=None) -> gk.Tensor:
    return gk.tensor(array, dtype=dtype, device=device, requires_grad=True)


def sym(x: gk.Tensor) -> gk.Tensor:
    """(X + X^T) / 2: gradchecks of eigh and cholesky perturb symmetrically through it."""
    return (x + x.mT) * 0.5


def np_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy 2's rule for solve on any NumPy: b is a vector only when 1-d; batch axes broadcast."""
    if b.ndim == 1:
        return np_solve(a, b[:, None])[..., 0]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return np.linalg.solve(np.broadcast_to(a, batch + a.shape[-2:]), np.broadcast_to(b, batch + b.shape[-2:]))


def first_derivatives(f, device: str, seed: int = 7):
    """x -> the gradients of <u, f(x)> for a fixed random u, with create_graph=True: gradchecking this
    function checks second derivatives."""
    rng = np.random.default_rng(seed)
    cotangents: dict[int, gk.Tensor] = {}

    def grads(*xs):
        for x in xs:
            x.grad = None
        outs = f(*xs)
        outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        total = None
        for k, y in enumerate(outs):
            if k not in cotangents:
                cotangents[k] = gk.tensor(rng.standard_normal(y.shape), device=device)
            term = (y * cotangents[k]).sum()
            total = term if total is None else total + term
        total.backward(create_graph=True)
        return tuple(x.grad for x in xs if x.grad is not None)

    return grads


def check_second_order(f, xs, device: str) -> None:
    assert gk.gradcheck(first_derivatives(f, device), xs, atol=1e-4, rtol=1e-3)


def fix_signs(v: np.ndarray) -> np.ndarray:
    """Columns scaled by the sign of their largest-magnitude entry (eigen/singular vectors are signless)."""
    idx = np.argmax(np.abs(v), axis=-2)[..., None, :]
    return v * np.sign(np.take_along_axis(v, idx, axis=-2))


# Functions of the decompositions that do not depend on the signs of the vectors.
def eigh_invariant(x: gk.Tensor):
    w, v = linalg.eigh(sym(x))
    return w, v * v, (v * w[..., None, :]) @ v.mT


def svd_invariant(x: gk.Tensor):
    u, s, vh = linalg.svd(x, full_matrices=False)
    return s, u * u, vh * vh, u[..., :, :1] * vh[..., :1, :]


SQUARE_SHAPES = [(1, 1), (3, 3), (2, 4, 4), (2, 1, 3, 3)]
SOLVE_SHAPES = [  # a, b, and what x must be (NumPy 2's rules)
    ((3, 3), (3,), (3,)),
    ((3, 3), (3, 2), (3, 2)),
    ((2, 3, 3), (3,), (2, 3)),  # a 1-d b is one vector for every matrix
    ((2, 3, 3), (3, 3), (2, 3, 3)),  # a 2-d b is a matrix, broadcast over a's batch
    ((2, 3, 3), (2, 3, 1), (2, 3, 1)),
    ((3, 3), (4, 3, 2), (4, 3, 2)),  # a broadcast over b's batch
    ((2, 1, 3, 3), (5, 3, 1), (2, 5, 3, 1)),
]


# ------------------------------------------------------------------------------------- the namespace


def test_namespace_and_result_types():
    for name in linalg.__all__:
        assert hasattr(linalg, name), name
    a = gk.tensor(spd(_rng("ns"), (3, 3)))
    r = linalg.slogdet(a)
    assert isinstance(r, linalg.SlogdetResult) and r.sign is r[0] and r.logabsdet is r[1]
    e = linalg.eigh(a)
    assert isinstance(e, linalg.EighResult) and e.eigenvalues is e[0] and e.eigenvectors is e[1]
    q = linalg.qr(a)
    assert isinstance(q, linalg.QRResult) and q.Q is q[0] and q.R is q[1]
    s = linalg.svd(a)
    assert isinstance(s, linalg.SVDResult) and (s.U, s.S, s.Vh) == tuple(s)
    err = linalg.LinAlgError("x")
    assert isinstance(err, np.linalg.LinAlgError) and isinstance(err, gk.InvalidArgumentError)
    assert isinstance(err, gk.GradkitError) and isinstance(err, ValueError)


# ----------------------------------------------------------------------------- forward against NumPy


@pytest.mark.parametrize("shape", SQUARE_SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_inv_det_slogdet_match_numpy(shape, dtype, device):
    a_np = well_conditioned(_rng("inv", shape), shape).astype(dtype)
    a = gk.tensor(a_np, device=device)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    for out, ref in [
        (linalg.inv(a), np.linalg.inv(a_np)),
        (linalg.det(a), np.linalg.det(a_np)),
        (linalg.slogdet(a).sign, np.linalg.slogdet(a_np)[0]),
        (linalg.slogdet(a).logabsdet, np.linalg.slogdet(a_np)[1]),
    ]:
        ref = np.asarray(ref)
        assert out.device.split(":")[0] == device
        assert out.shape == ref.shape and out.dtype == ref.dtype
        np.testing.assert_allclose(out.numpy(), ref, **tol)


@pytest.mark.parametrize("a_shape,b_shape,x_shape", SOLVE_SHAPES)
def test_solve_follows_numpy2_shapes(a_shape, b_shape, x_shape, device):
    rng = _rng("solve", a_shape, b_shape)
    a_np, b_np = well_conditioned(rng, a_shape), rng.standard_normal(b_shape)
    x = linalg.solve(gk.tensor(a_np, device=device), gk.tensor(b_np, device=device))
    assert x.shape == x_shape
    np.testing.assert_allclose(x.numpy(), np_solve(a_np, b_np), rtol=1e-10, atol=1e-12)
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        np.testing.assert_allclose(x.numpy(), np.linalg.solve(a_np, b_np), rtol=1e-10, atol=1e-12)


def test_solve_dtypes_as_numpy(device):
    a = gk.tensor(np.eye(3) * 2, dtype="float32", device=device)
    assert linalg.solve(a, gk.ones(3, dtype="float32", device=device)).dtype == np.float32
    assert linalg.solve(a, gk.ones(3, dtype="float64", device=device)).dtype == np.float64
    assert linalg.solve(a, gk.tensor([1, 2, 3], device=device)).dtype == np.float64  # integers count as float64
    x = linalg.solve(a, np.array([2.0, 4.0, 6.0], dtype=np.float32))  # an array operand joins a's device
    np.testing.assert_allclose(x.numpy(), [1, 2, 3])


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (2, 3, 3)])
def test_cholesky_matches_numpy(shape, device):
    a_np = spd(_rng("chol", shape), shape)
    lower = linalg.cholesky(gk.tensor(a_np, device=device))
    np.testing.assert_allclose(lower.numpy(), np.linalg.cholesky(a_np), rtol=1e-10, atol=1e-12)
    upper = linalg.cholesky(gk.tensor(a_np, device=device), upper=True)
    np.testing.assert_allclose(upper.numpy(), np.swapaxes(np.linalg.cholesky(a_np), -1, -2), rtol=1e-10, atol=1e-12)
    f32 = linalg.cholesky(gk.tensor(a_np, dtype="float32", device=device))
    assert f32.dtype == np.float32


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (2, 3, 3)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_matches_numpy(shape, uplo, device):
    rng = _rng("eigh", shape, uplo)
    a_np = spd(rng, shape) + np.triu(rng.standard_normal(shape), 1)  # not symmetric: only one triangle is read
    w, v = linalg.eigh(gk.tensor(a_np, device=device), uplo)
    w_ref, v_ref = np.linalg.eigh(a_np, uplo)
    np.testing.assert_allclose(w.numpy(), w_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fix_signs(v.numpy()), fix_signs(v_ref), rtol=1e-8, atol=1e-8)
    assert np.all(np.diff(w.numpy(), axis=-1) >= 0)
    np.testing.assert_allclose(linalg.eigvalsh(gk.tensor(a_np, device=device), uplo).numpy(), w_ref, rtol=1e-10)


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 2)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_matches_numpy(shape, mode, device):
    a_np = _rng("qr", shape).standard_normal(shape)
    out = linalg.qr(gk.tensor(a_np, device=device), mode)
    ref = np.linalg.qr(a_np, mode)
    r = out if mode == "r" else out.R
    r_ref = ref if mode == "r" else ref[1]
    assert r.shape == r_ref.shape
    np.testing.assert_allclose(np.abs(r.numpy()), np.abs(r_ref), rtol=1e-10, atol=1e-12)  # signs may differ
    np.testing.assert_allclose(np.triu(r.numpy()), r.numpy())
    if mode != "r":
        q = out.Q.numpy()
        assert q.shape == ref[0].shape
        np.testing.assert_allclose(q @ r.numpy(), a_np, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.swapaxes(q, -1, -2) @ q, np.broadcast_to(np.eye(q.shape[-1]), q.shape[:-2] +
                                   (q.shape[-1],) * 2), atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 2)])
@pytest.mark.parametrize("full_matrices", [True, False])
def test_svd_matches_numpy(shape, full_matrices, device):
    a_np = _rng("svd", shape).standard_normal(shape)
    u, s, vh = linalg.svd(gk.tensor(a_np, device=device), full_matrices)
    u_ref, s_ref, vh_ref = np.linalg.svd(a_np, full_matrices)
    assert (u.shape, s.shape, vh.shape) == (u_ref.shape, s_ref.shape, vh_ref.shape)
    np.testing.assert_allclose(s.numpy(), s_ref, rtol=1e-10, atol=1e-12)
    k = s.shape[-1]
    np.testing.assert_allclose((u.numpy()[..., :k] * s.numpy()[..., None, :]) @ vh.numpy()[..., :k, :], a_np,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.abs(u.numpy()[..., :k]), np.abs(u_ref[..., :k]), rtol=1e-8, atol=1e-10)
    s_only = linalg.svd(gk.tensor(a_np, device=device), compute_uv=False)
    np.testing.assert_allclose(s_only.numpy(), s_ref, rtol=1e-10, atol=1e-12)


NORMS = [  # (ord, axis, shape)
    (None, None, (4, 3)), (None, None, (2, 3, 4)), (None, None, (5,)),
    (2, None, (5,)), (1, None, (5,)), (math.inf, None, (5,)), (-math.inf, None, (5,)), (3, None, (5,)),
    (0.5, None, (5,)), (0, None, (5,)),
    (2, None, (4, 3)), (-2, None, (4, 3)), (1, None, (4, 3)), (-1, None, (4, 3)), (math.inf, None, (4, 3)),
    (-math.inf, None, (4, 3)), ("fro", None, (4, 3)), ("nuc", None, (4, 3)),
    (None, 1, (4, 3)), (1, 0, (4, 3)), (3, -1, (4, 3)), (0, 1, (4, 3)), (math.inf, 0, (2, 3, 4)),
    (None, (0, 1), (4, 3)), ("fro", (1, 0), (4, 3)), ("nuc", (0, 1), (4, 3)), (2, (1, 0), (4, 3)),
    (-2, (0, 1), (4, 3)), (1, (0, 1), (4, 3)), (1, (1, 0), (4, 3)), (-1, (0, 1), (4, 3)),
    (math.inf, (0, 1), (4, 3)), (math.inf, (1, 0), (4, 3)), (-math.inf, (0, 1), (4, 3)),
]


@pytest.mark.parametrize("ord,axis,shape", NORMS, ids=repr)
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm_matches_numpy(ord, axis, shape, keepdims, device):
    x_np = _rng("norm", ord, axis, shape).standard_normal(shape)
    if ord == 0:
        x_np[..., 0] = 0  # something to count
    out = linalg.norm(gk.tensor(x_np, device=device), ord, axis, keepdims)
    ref = np.asarray(np.linalg.norm(x_np, ord, axis, keepdims))
    assert out.shape == ref.shape and out.dtype == ref.dtype
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)


def test_norm_of_stacks_over_chosen_axes(device):
    x_np = _rng("norm3").standard_normal((2, 4, 3))
    x = gk.tensor(x_np, device=device)
    for ord in (None, "fro", "nuc", 2, -2, 1, math.inf):
        for axis in ((1, 2), (2, 0), (0, 1)):
            ref = np.linalg.norm(x_np, ord, axis, keepdims=True)
            np.testing.assert_allclose(linalg.norm(x, ord, axis, keepdims=True).numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(linalg.norm(x).numpy(), np.linalg.norm(x_np))
    assert linalg.norm(gk.tensor([[3, 4]], device=device)).dtype == np.float64  # integers measured in float64


@pytest.mark.parametrize("n", [-3, -1, 0, 1, 2, 5, 8])
def test_matrix_power_matches_numpy(n, device):
    a_np = well_conditioned(_rng("pow", n), (2, 3, 3)) / 3
    out = linalg.matrix_power(gk.tensor(a_np, device=device), n)
    np.testing.assert_allclose(out.numpy(), np.linalg.matrix_power(a_np, n), rtol=1e-10, atol=1e-12)
    ints = np.array([[1, 2], [3, 4]])
    if n >= 0:
        got = linalg.matrix_power(gk.tensor(ints, device=device), n)
        assert got.dtype == np.linalg.matrix_power(ints, n).dtype
        np.testing.assert_array_equal(got.numpy(), np.linalg.matrix_power(ints, n))


def test_empty_matrices_as_numpy(device):
    e = gk.zeros((0, 0), dtype="float64", device=device)
    assert linalg.inv(e).shape == (0, 0)
    assert linalg.det(e).item() == 1.0
    sign, logdet = linalg.slogdet(e)
    assert (sign.item(), logdet.item()) == (1.0, 0.0)
    assert linalg.det(gk.zeros((0, 3, 3), device=device)).shape == (0,)
    assert linalg.solve(gk.zeros((0, 2, 2), device=device), gk.zeros(2, device=device)).shape == (0, 2)
    w, v = linalg.eigh(gk.zeros((2, 0, 0), device=device))
    assert w.shape == (2, 0) and v.shape == (2, 0, 0)


def test_integer_input_is_computed_in_float64(device):
    a = gk.tensor([[2, 1], [1, 3]], device=device)
    for out in (linalg.inv(a), linalg.det(a), linalg.cholesky(a), linalg.eigh(a).eigenvalues, linalg.qr(a).R):
        assert out.dtype == np.float64
    np.testing.assert_allclose(linalg.det(a).item(), 5.0)


# ------------------------------------------------------------------------------- first-order gradchecks


@pytest.mark.parametrize("shape", SQUARE_SHAPES)
@pytest.mark.parametrize("name", ["inv", "det", "slogdet"])
def test_gradcheck_inv_det_slogdet(name, shape, device):
    fn = {"inv": linalg.inv, "det": linalg.det, "slogdet": lambda x: linalg.slogdet(x).logabsdet}[name]
    a = well_conditioned(_rng(name, shape), shape)
    a[..., 0, :] *= -1  # negative determinants too
    assert gk.gradcheck(fn, [leaf(a, device)])


@pytest.mark.parametrize("a_shape,b_shape,x_shape", SOLVE_SHAPES)
def test_gradcheck_solve(a_shape, b_shape, x_shape, device):
    rng = _rng("gsolve", a_shape, b_shape)
    a, b = leaf(well_conditioned(rng, a_shape), device), leaf(rng.standard_normal(b_shape), device)
    assert gk.gradcheck(linalg.solve, [a, b])
    # one operand constant: each rule alone
    assert gk.gradcheck(lambda a: linalg.solve(a, b.detach()), [a])
    assert gk.gradcheck(lambda b: linalg.solve(a.detach(), b), [b])


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 4, 4)])
def test_gradcheck_cholesky(shape, device):
    x = leaf(spd(_rng("gchol", shape), shape), device)
    assert gk.gradcheck(lambda x: linalg.cholesky(sym(x)), [x])
    assert gk.gradcheck(lambda x: linalg.cholesky(sym(x), upper=True), [x])


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 4, 4)])
def test_gradcheck_eigh(shape, device):
    x = leaf(spd(_rng("geigh", shape), shape), device)
    assert gk.gradcheck(eigh_invariant, [x])
    assert gk.gradcheck(lambda x: linalg.eigh(sym(x), "U")[0], [x])
    assert gk.gradcheck(lambda x: linalg.eigvalsh(sym(x)), [x])


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 2), (2, 2, 3)])
@pytest.mark.parametrize("mode", ["reduced", "r", "complete"])
def test_gradcheck_qr(shape, mode, device):
    if mode == "complete" and shape[-2] > shape[-1]:
        pytest.skip("not differentiable (see test_qr_complete_with_more_rows_than_columns_refuses_backward)")
    x = leaf(_rng("gqr", shape, mode).standard_normal(shape), device)
    assert gk.gradcheck(lambda x: linalg.qr(x, mode), [x])


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (3, 5), (2, 4, 2), (2, 2, 3)])
def test_gradcheck_svd(shape, device):
    x = leaf(_rng("gsvd", shape).standard_normal(shape), device)
    assert gk.gradcheck(svd_invariant, [x])
    assert gk.gradcheck(lambda x: linalg.svd(x, compute_uv=False), [x])
    # full_matrices=True: the singular vectors beyond min(m, n) are not unique and get no gradient
    assert gk.gradcheck(lambda x: linalg.svd(x, full_matrices=True).S, [x])


@pytest.mark.parametrize("ord,axis", [(None, None), (3, 1), (-math.inf, 0), ("fro", None), ("nuc", None), (2, None),
                                      (-2, None), (1, None), (-1, (1, 0)), (math.inf, None), (0, 0)], ids=repr)
def test_gradcheck_norm(ord, axis, device):
    x = leaf(_rng("gnorm", ord, axis).standard_normal((4, 3)) + 0.05, device)
    assert gk.gradcheck(lambda x: linalg.norm(x, ord, axis), [x])


@pytest.mark.parametrize("n", [-2, -1, 0, 1, 3, 6])
def test_gradcheck_matrix_power(n, device):
    x = leaf(well_conditioned(_rng("gpow", n), (2, 3, 3)) / 3, device)
    assert gk.gradcheck(lambda x: linalg.matrix_power(x, n), [x])


# ------------------------------------------------------------------------------ second-order gradchecks


@pytest.mark.parametrize("name", ["inv", "det", "slogdet"])
@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3)])
def test_second_order_inv_det_slogdet(name, shape, device):
    fn = {"inv": linalg.inv, "det": linalg.det, "slogdet": lambda x: linalg.slogdet(x).logabsdet}[name]
    check_second_order(fn, [leaf(well_conditioned(_rng("2", name, shape), shape), device)], device)


@pytest.mark.parametrize("a_shape,b_shape,x_shape", SOLVE_SHAPES[:3] + SOLVE_SHAPES[-1:])
def test_second_order_solve(a_shape, b_shape, x_shape, device):
    rng = _rng("2solve", a_shape, b_shape)
    a, b = leaf(well_conditioned(rng, a_shape), device), leaf(rng.standard_normal(b_shape), device)
    check_second_order(linalg.solve, [a, b], device)


def test_second_order_of_the_other_functions(device):
    rng = _rng("2others")
    check_second_order(lambda x: linalg.cholesky(sym(x)), [leaf(spd(rng, (3, 3)), device)], device)
    check_second_order(eigh_invariant, [leaf(spd(rng, (3, 3)), device)], device)
    check_second_order(lambda x: linalg.qr(x), [leaf(rng.standard_normal((4, 3)), device)], device)
    check_second_order(lambda x: linalg.qr(x), [leaf(rng.standard_normal((2, 4)), device)], device)
    check_second_order(svd_invariant, [leaf(rng.standard_normal((3, 4)), device)], device)
    check_second_order(lambda x: linalg.matrix_power(x, -2), [leaf(well_conditioned(rng, (3, 3)), device)], device)
    check_second_order(lambda x: linalg.norm(x, "nuc"), [leaf(rng.standard_normal((3, 4)), device)], device)


def test_hessian_of_logdet_is_minus_kron_of_inverses(device):
    """d^2 log det A / dA_ij dA_kl = -(A^{-1})_li (A^{-1})_jk."""
    a_np = well_conditioned(_rng("hess"), (3, 3))
    h = gk.hessian(lambda a: linalg.slogdet(a).logabsdet)(gk.tensor(a_np, device=device))
    ainv = np.linalg.inv(a_np)
    np.testing.assert_allclose(h.numpy(), -np.einsum("li,jk->ijkl", ainv, ainv), rtol=1e-9, atol=1e-10)


# ------------------------------------------------------------------------------------------ closed forms


def test_closed_form_gradients(device):
    rng = _rng("closed")
    a_np = well_conditioned(rng, (2, 3, 3))
    ainv = np.linalg.inv(a_np)
    ainv_t = np.swapaxes(ainv, -1, -2)
    a = leaf(a_np, device)
    linalg.det(a).sum().backward()  # d det A = det(A) A^{-T}
    np.testing.assert_allclose(a.grad.numpy(), np.linalg.det(a_np)[:, None, None] * ainv_t, rtol=1e-10)
    a.grad = None
    linalg.slogdet(a).logabsdet.sum().backward()  # d log|det A| = A^{-T}
    np.testing.assert_allclose(a.grad.numpy(), ainv_t, rtol=1e-10, atol=1e-12)
    a.grad = None
    b_np = rng.standard_normal((2, 3, 3))
    (linalg.inv(a) * gk.tensor(b_np, device=device)).sum().backward()  # d <B, A^{-1}> = -A^{-T} B A^{-T}
    np.testing.assert_allclose(a.grad.numpy(), -ainv_t @ b_np @ ainv_t, rtol=1e-10, atol=1e-12)

    s_np = spd(rng, (4, 4))
    s = leaf(s_np, device)
    linalg.slogdet(s).logabsdet.backward()  # d log det S = S^{-1} for SPD S
    np.testing.assert_allclose(s.grad.numpy(), np.linalg.inv(s_np), rtol=1e-10, atol=1e-12)
    s.grad = None
    (2 * gk.log(gk.einsum("ii->i", linalg.cholesky(s))).sum()).backward()  # the same through the factor
    np.testing.assert_allclose(s.grad.numpy(), np.linalg.inv(s_np), rtol=1e-10, atol=1e-12)
    s.grad = None
    w, v = linalg.eigh(s)
    w.sum().backward()  # d trace = I
    np.testing.assert_allclose(s.grad.numpy(), np.eye(4), atol=1e-12)
    s.grad = None
    linalg.eigh(s).eigenvalues[-1].backward()  # d w_k = v_k v_k^T
    v_np = np.linalg.eigh(s_np)[1]
    np.testing.assert_allclose(s.grad.numpy(), np.outer(v_np[:, -1], v_np[:, -1]), atol=1e-12)

    m_np = rng.standard_normal((4, 3))
    m = leaf(m_np, device)
    linalg.norm(m, "nuc").backward()  # d ||M||_* = U V^T
    u_np, _, vh_np = np.linalg.svd(m_np, full_matrices=False)
    np.testing.assert_allclose(m.grad.numpy(), u_np @ vh_np, rtol=1e-10, atol=1e-12)
    m.grad = None
    linalg.norm(m).backward()  # d ||M||_F = M / ||M||_F
    np.testing.assert_allclose(m.grad.numpy(), m_np / np.linalg.norm(m_np), rtol=1e-12)

    x_np, y_np = well_conditioned(rng, (3, 3)), rng.standard_normal(3)
    x, y = leaf(x_np, device), leaf(y_np, device)
    sol = np.linalg.solve(x_np, y_np)
    c_np = rng.standard_normal(3)
    (linalg.solve(x, y) * gk.tensor(c_np, device=device)).sum().backward()  # gb = A^{-T} c, gA = -gb x^T
    gb = np.linalg.solve(x_np.T, c_np)
    np.testing.assert_allclose(y.grad.numpy(), gb, rtol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), -np.outer(gb, sol), rtol=1e-10)


def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix(device):
    a = leaf(np.array([[1.0, 2.0], [2.0, 4.0]]), device)
    linalg.det(a).backward()
    np.testing.assert_allclose(a.grad.numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)  # PyTorch 2.13 gives 0
    b_np = np.array([[[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 5.0]], [[2.0, 0, 0], [0, 3, 0], [0, 0, 4]]])
    b = leaf(b_np, device)  # a stack with one singular matrix
    linalg.det(b).sum().backward()
    cof = np.array([[np.linalg.det(np.delete(np.delete(m, i, 0), j, 1)) * (-1) ** (i + j) for i in range(3)
                     for j in range(3)] for m in b_np]).reshape(2, 3, 3)
    np.testing.assert_allclose(b.grad.numpy(), cof, atol=1e-10)
    assert gk.gradcheck(linalg.det, [leaf(np.array([[1.0, 2.0], [2.0, 4.0]]), device)])
    with pytest.raises(gk.AutogradError, match="linalg.det: second derivatives at a singular matrix"):
        gk.grad(lambda a: gk.grad(lambda a: linalg.det(a))(a).sum())(gk.tensor([[1.0, 2.0], [2.0, 4.0]],
                                                                             dtype="float64", device=device))


def test_eigh_with_repeated_eigenvalues_gives_finite_gradients(device):
    """Ties contribute nothing: right for functions of the eigenspaces (PyTorch gives NaN here)."""
    a = leaf(np.diag([1.0, 1.0, 3.0]), device)
    w, v = linalg.eigh(a)
    (w * gk.tensor([1.0, 2.0, 3.0], dtype="float64", device=device)).sum().backward()
    assert np.isfinite(a.grad.numpy()).all()
    a.grad = None
    w, v = linalg.eigh(a)
    p = v[:, :2] @ v[:, :2].mT  # the projector onto the repeated eigenvalue's eigenspace: well defined
    (p * gk.tensor(np.arange(9.0).reshape(3, 3), device=device)).sum().backward()
    g = a.grad.numpy()
    # d P = sum over the pairs (i in the space, j outside) of (v_i v_i^T dA v_j v_j^T + transpose) / (w_i - w_j)
    c = np.arange(9.0).reshape(3, 3)
    e3 = np.zeros((3, 3))
    e3[2, 2] = 1
    proj = np.diag([1.0, 1.0, 0.0])
    expected = (proj @ (c + c.T) @ e3 + e3 @ (c + c.T) @ proj) / (1.0 - 3.0) / 2
    np.testing.assert_allclose(g, (expected + expected.T) / 2, atol=1e-12)


def test_float32_gradients_keep_float32(device):
    rng = _rng("f32")
    a = leaf(well_conditioned(rng, (3, 3)), device, dtype="float32")
    s = leaf(spd(rng, (3, 3)), device, dtype="float32")
    b = leaf(rng.standard_normal(3), device, dtype="float32")
    total = (linalg.inv(a).sum() + linalg.det(a) + linalg.slogdet(a).logabsdet + linalg.solve(a, b).sum()
             + linalg.cholesky(s).sum() + linalg.eigh(s).eigenvalues.sum() + linalg.qr(a).R.sum()
             + linalg.svd(a).S.sum() + linalg.norm(a, "fro") + linalg.matrix_power(a, 3).sum())
    assert total.dtype == np.float32
    total.backward()
    for t in (a, s, b):
        assert t.grad.dtype == np.float32 and np.isfinite(t.grad.numpy()).all()
    # and the float32 gradient of inv agrees with float64's to float32 accuracy
    a64 = leaf(a.detach().numpy().astype(np.float64), device)
    linalg.inv(a64).sum().backward()
    a.grad = None
    linalg.inv(a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), a64.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_solve_gradient_when_both_operands_need_one_matches_separate_ones(device):
    rng = _rng("cache")
    a_np, b_np = well_conditioned(rng, (2, 3, 3)), rng.standard_normal((3, 2))
    a, b = leaf(a_np, device), leaf(b_np, device)
    linalg.solve(a, b).sum().backward()
    a2, b2 = leaf(a_np, device), leaf(b_np, device)
    linalg.solve(a2, b2.detach()).sum().backward()
    linalg.solve(a2.detach(), b2).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), a2.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), b2.grad.numpy(), rtol=1e-12)
    # retain_graph: a second backward with another cotangent must not reuse the first one's solve
    x = linalg.solve(a, b)
    x.backward(gk.ones_like(x), retain_graph=True)
    a.grad = b.grad = None
    x.backward(2 * gk.ones_like(x))
    np.testing.assert_allclose(b.grad.numpy(), 2 * b2.grad.numpy(), rtol=1e-12)


def test_outputs_modified_in_place_are_caught_at_backward(device):
    s = leaf(spd(_rng("inplace"), (3, 3)), device)
    w, v = linalg.eigh(s)
    loss = w.sum()
    with gk.no_grad():
        v *= 2  # the eigenvalues' rule reads v
    with pytest.raises(gk.AutogradError, match="modified"):
        loss.backward()


def test_sign_has_no_gradient(device):
    a = leaf(well_conditioned(_rng("sign"), (3, 3)), device)
    sign, logdet = linalg.slogdet(a)
    assert not sign.requires_grad and logdet.requires_grad


# ------------------------------------------------------------------------------------------------ errors


def test_singular_matrices_raise_linalg_error(device):
    singular = gk.tensor([[1.0, 2.0], [2.0, 4.0]], dtype="float64", device=device)
    for call in (lambda: linalg.inv(singular), lambda: linalg.solve(singular, gk.ones(2, device=device)),
                 lambda: linalg.matrix_power(singular, -2),
                 lambda: linalg.inv(gk.stack([gk.eye(2, dtype="float64", device=device), singular]))):
        with pytest.raises(linalg.LinAlgError, match=r"linalg\.(inv|solve): .*singular") as info:
            call()
        assert isinstance(info.value, np.linalg.LinAlgError) and isinstance(info.value, gk.InvalidArgumentError)
    assert linalg.det(singular).item() == pytest.approx(0.0, abs=1e-12)  # no error, as NumPy
    sign, logdet = linalg.slogdet(singular)
    assert sign.item() == 0.0 and logdet.item() == -np.inf
    with pytest.raises(linalg.LinAlgError, match="linalg.slogdet: the gradient of logabsdet is infinite"):
        linalg.slogdet(singular.detach().requires_grad_()).logabsdet.backward()
    for indefinite in ([[1.0, 2.0], [2.0, 1.0]], [[-1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 1.0]]):
        with pytest.raises(linalg.LinAlgError, match="linalg.cholesky: the matrix .* is not positive definite"):
            linalg.cholesky(gk.tensor(indefinite, dtype="float64", device=device))
    nan = gk.tensor([[np.nan, 0.0], [0.0, 1.0]], dtype="float64", device=device)
    assert np.isnan(linalg.cholesky(nan).numpy()[0, 0])  # NaN in, NaN out: no error, as NumPy


def test_cupy_failures_are_read_back(device, monkeypatch):
    """CuPy's solvers do not raise by default: a singular matrix gives inf/NaN, a failed Cholesky a
    non-positive pivot. Simulated here on the (emulated or real) CuPy backend."""
    if device != "cuda":
        pytest.skip("the read-back is for CuPy arrays")
    a = gk.tensor([[1.0, 2.0], [2.0, 4.0]], dtype="float64", device=device)
    xp = a._backend.xp
    monkeypatch.setattr(xp.linalg, "inv", lambda m: xp.full(m.shape, xp.inf, m.dtype))
    monkeypatch.setattr(xp.linalg, "solve", lambda m, b: xp.full(b.shape, xp.nan, b.dtype))
    monkeypatch.setattr(xp.linalg, "cholesky", lambda m: xp.tril(m) * 0)
    with pytest.raises(linalg.LinAlgError, match="linalg.inv: the matrix .* is singular"):
        linalg.inv(a)
    with pytest.raises(linalg.LinAlgError, match="linalg.solve: the matrix .* is singular"):
        linalg.solve(a, gk.ones(2, dtype="float64", device=device))
    with pytest.raises(linalg.LinAlgError, match="linalg.cholesky: .* not positive definite"):
        linalg.cholesky(a)  # a zero pivot
    monkeypatch.setattr(xp.linalg, "cholesky", lambda m: xp.tril(m))  # stopped at once, the input left as it was
    with pytest.raises(linalg.LinAlgError, match="linalg.cholesky: .* not positive definite"):
        linalg.cholesky(a)
    monkeypatch.undo()
    good = gk.tensor(spd(_rng("good"), (2, 5, 5)), device=device)
    np.testing.assert_allclose(linalg.cholesky(good).numpy(), np.linalg.cholesky(good.numpy()), rtol=1e-12)
    good32 = good.astype(gk.float32)
    linalg.cholesky(good32 * 1e-30)  # tiny and float32: the tolerance is relative
    monkeypatch.setattr(xp.linalg, "inv", lambda m: xp.full(m.shape, xp.inf, m.dtype))
    monkeypatch.setattr(xp.linalg, "solve", lambda m, b: xp.full(b.shape, xp.nan, b.dtype))
    monkeypatch.setattr(xp.linalg, "cholesky", lambda m: xp.tril(m) * 0)
    # non-finite input: a non-finite result is no evidence of singularity, as in NumPy (no error)
    nan = gk.tensor([[np.nan, 0.0], [0.0, 1.0]], dtype="float64", device=device)
    assert np.isinf(linalg.inv(nan).numpy()).all()
    assert np.isnan(linalg.solve(nan, gk.ones(2, dtype="float64", device=device)).numpy()).all()
    assert np.isnan(linalg.cholesky(nan).numpy()[0, 0])


@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh"])
def test_shape_errors_name_the_function_and_shape(name, device):
    fn = getattr(linalg, name)
    for shape in ((3, 4), (2, 3, 2)):
        with pytest.raises(gk.ShapeError, match=rf"linalg\.{name}: expected square matrices .*{shape}"):
            fn(gk.ones(shape, device=device))
    with pytest.raises(gk.ShapeError, match=rf"linalg\.{name}: expected a matrix .*\(3,\)"):
        fn(gk.ones(3, device=device))
    with pytest.raises(gk.ShapeError, match=rf"linalg\.{name}: .*ragged"):
        fn([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "qr", "svd"])
def test_float16_is_refused_as_numpy_refuses_it(name, device):
    with pytest.raises(gk.DTypeError, match=rf"linalg\.{name}: float16 is not supported"):
        getattr(linalg, name)(gk.eye(3, dtype="float16", device=device))
    with pytest.raises(TypeError):  # what NumPy raises
        getattr(np.linalg, name)(np.eye(3, dtype=np.float16))


def test_solve_errors(device):
    a = gk.eye(3, dtype="float64", device=device)
    with pytest.raises(gk.ShapeError, match=r"linalg\.solve: a of shape \(3, 3\) and b of shape \(4,\) do not fit"):
        linalg.solve(a, gk.ones(4, device=device))
    with pytest.raises(gk.ShapeError, match=r"b of shape \(2, 3\) do not fit"):  # NumPy 2: a 2-d b is a matrix
        linalg.solve(a, gk.ones((2, 3), device=device))
    with pytest.raises(gk.ShapeError, match=r"batch shapes .* \(2,\) and \(4,\)"):
        linalg.solve(gk.ones((2, 3, 3), device=device), gk.ones((4, 3, 1), device=device))
    with pytest.raises(gk.ShapeError, match=r"a must be a square matrix .* \(3, 2\)"):
        linalg.solve(gk.ones((3, 2), device=device), gk.ones(3, device=device))
    with pytest.raises(gk.ShapeError, match=r"b of shape \(\) do not fit"):
        linalg.solve(a, gk.tensor(1.0, device=device))
    with pytest.raises(gk.ArgumentTypeError, match="linalg.solve"):
        linalg.solve(a, 1.0)
    with pytest.raises(gk.DTypeError, match="linalg.solve: float16"):
        linalg.solve(a, gk.ones(3, dtype="float16", device=device))


def test_argument_errors(device):
    x = gk.tensor(spd(_rng("args"), (3, 3)), device=device)
    with pytest.raises(gk.InvalidArgumentError, match="linalg.eigh: UPLO must be 'L' or 'U'"):
        linalg.eigh(x, "X")
    with pytest.raises(gk.InvalidArgumentError, match="linalg.qr: mode must be"):
        linalg.qr(x, "raw")
    with pytest.raises(gk.InvalidArgumentError, match="linalg.svd: hermitian=True is not supported"):
        linalg.svd(x, hermitian=True)
    with pytest.raises(gk.ArgumentTypeError, match="linalg.cholesky: upper must be True or False"):
        linalg.cholesky(x, upper="yes")
    with pytest.raises(gk.ArgumentTypeError, match="linalg.matrix_power: n must be an int"):
        linalg.matrix_power(x, 2.0)
    with pytest.raises(gk.ShapeError, match="linalg.matrix_power: expected square matrices"):
        linalg.matrix_power(gk.ones((2, 3), device=device), 2)
    with pytest.raises(gk.InvalidArgumentError, match="linalg.norm: ord must be"):
        linalg.norm(x, "max")
    with pytest.raises(gk.InvalidArgumentError, match="linalg.norm: matrix norms .* order 3"):
        linalg.norm(x, 3)
    with pytest.raises(gk.InvalidArgumentError, match="linalg.norm: ord='fro' is a matrix norm"):
        linalg.norm(x, "fro", axis=0)
    with pytest.raises(gk.InvalidArgumentError, match="linalg.norm: vector norms of order -1"):
        linalg.norm(x, -1, axis=0)
    with pytest.raises(gk.ShapeError, match=r"linalg.norm: ord=2 without axis needs a vector or a matrix .*\(2, 3"):
        linalg.norm(gk.ones((2, 3, 3), device=device), 2)
    with pytest.raises(gk.InvalidArgumentError, match="linalg.norm: axis names the same axis twice"):
        linalg.norm(x, axis=(0, -2))
    with pytest.raises(gk.IndexOutOfRangeError):
        linalg.norm(x, axis=2)


def test_qr_complete_with_more_rows_than_columns_refuses_backward(device):
    x = leaf(_rng("qrc").standard_normal((4, 3)), device)
    q, r = linalg.qr(x, "complete")
    assert q.shape == (4, 4) and r.shape == (4, 3)
    with pytest.raises(gk.AutogradError, match="mode='complete' is not differentiable"):
        q.sum().backward()
    with pytest.raises(gk.AutogradError, match="mode='complete' is not differentiable"):
        linalg.qr(x, "complete").R.sum().backward()


def test_qr_of_a_rank_deficient_matrix_refuses_backward(device):
    x = leaf(np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]), device)  # R[1, 1] is exactly 0
    with pytest.raises(linalg.LinAlgError, match="linalg.qr: the gradient needs an input of full rank"):
        linalg.qr(x).R.sum().backward()


# ------------------------------------------------------------------------------------------ PyTorch parity


def _torch_grads(torch, fn, arrays, cotangent_seed=3):
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    outs = fn(*ts)
    outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
    rng = np.random.default_rng(cotangent_seed)
    total = sum((o * torch.tensor(rng.standard_normal(tuple(o.shape)))).sum() for o in outs)
    grads = torch.autograd.grad(total, ts)
    return [o.detach().numpy() for o in outs], [g.numpy() for g in grads]


def _gk_grads(fn, arrays, device, cotangent_seed=3):
    xs = [leaf(a, device) for a in arrays]
    outs = fn(*xs)
    outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
    rng = np.random.default_rng(cotangent_seed)
    total = sum((o * gk.tensor(rng.standard_normal(o.shape), device=device)).sum() for o in outs)
    total.backward()
    return [o.numpy() for o in outs], [x.grad.numpy() for x in xs]


def test_torch_parity(device):
    torch = pytest.importorskip("torch")
    tl = torch.linalg
    rng = _rng("torch")
    a, s, m, w = (well_conditioned(rng, (2, 3, 3)), spd(rng, (2, 3, 3)), rng.standard_normal((2, 4, 3)),
                  rng.standard_normal((3, 5)))
    b = rng.standard_normal((3, 2))

    def sym_t(x):
        return (x + x.mT) / 2

    cases = [
        (lambda x: linalg.inv(x), lambda x: tl.inv(x), [a]),
        (lambda x: linalg.det(x), lambda x: tl.det(x), [a]),
        (lambda x: tuple(linalg.slogdet(x)), lambda x: tuple(tl.slogdet(x)), [a]),
        (lambda x, y: linalg.solve(x, y), lambda x, y: tl.solve(x, y), [a, b]),
        (lambda x, y: linalg.solve(x, y), lambda x, y: tl.solve(x, y), [a, b[:, 0]]),
        (lambda x: linalg.cholesky(sym(x)), lambda x: tl.cholesky(sym_t(x)), [s]),
        (lambda x: (lambda r: (r[0], r[1] * r[1]))(linalg.eigh(sym(x))),
         lambda x: (lambda r: (r[0], r[1] * r[1]))(tl.eigh(sym_t(x))), [s]),
        # squares: the same on any backend, whatever signs its Householder vectors take
        (lambda x: (lambda r: (r[0] * r[0], r[1] * r[1]))(linalg.qr(x)),
         lambda x: (lambda r: (r[0] * r[0], r[1] * r[1]))(tl.qr(x)), [m]),
        (lambda x: (lambda r: (r[0] * r[0], r[1] * r[1]))(linalg.qr(x)),
         lambda x: (lambda r: (r[0] * r[0], r[1] * r[1]))(tl.qr(x)), [w]),
        (lambda x: (lambda r: (r[0] * r[0], r[1], r[2] * r[2]))(linalg.svd(x, full_matrices=False)),
         lambda x: (lambda r: (r[0] * r[0], r[1], r[2] * r[2]))(tl.svd(x, full_matrices=False)), [m]),
        (lambda x: linalg.norm(x, "nuc", axis=(1, 2)), lambda x: tl.matrix_norm(x, "nuc"), [m]),
        (lambda x: linalg.norm(x, 2, axis=(1, 2)), lambda x: tl.matrix_norm(x, 2), [m]),
        (lambda x: linalg.norm(x, -math.inf, axis=(1, 2)), lambda x: tl.matrix_norm(x, -math.inf), [m]),
        (lambda x: linalg.matrix_power(x, -3), lambda x: tl.matrix_power(x, -3), [a]),
        (lambda x: linalg.matrix_power(x, 5), lambda x: tl.matrix_power(x, 5), [a]),
    ]
    for ours, theirs, arrays in cases:
        (o1, g1), (o2, g2) = _gk_grads(ours, arrays, device), _torch_grads(torch, theirs, arrays)
        for x, y in zip(o1 + g1, o2 + g2, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-10)


def test_torch_parity_second_order(device):
    torch = pytest.importorskip("torch")
    rng = _rng("torch2")
    a_np, b_np = well_conditioned(rng, (3, 3)), rng.standard_normal((3, 2))
    u_np = rng.standard_normal((3, 3))
    for ours, theirs in [
        (lambda x: (linalg.inv(x) ** 2).sum(), lambda x: (torch.linalg.inv(x) ** 2).sum()),
        (lambda x: linalg.det(x) ** 2, lambda x: torch.linalg.det(x) ** 2),
        (lambda x: (linalg.solve(x, gk.tensor(b_np, device=device)) ** 3).sum(),
         lambda x: (torch.linalg.solve(x, torch.tensor(b_np)) ** 3).sum()),
    ]:
        x = leaf(a_np, device)
        (g,) = gk.vjp(lambda t: gk.grad(ours)(t), x)[1](gk.tensor(u_np, device=device))
        xt = torch.tensor(a_np, requires_grad=True)
        (gt,) = torch.autograd.grad(theirs(xt), xt, create_graph=True)
        (ht,) = torch.autograd.grad(gt, xt, torch.tensor(u_np))
        np.testing.assert_allclose(g.numpy(), ht.numpy(), rtol=1e-9, atol=1e-10)


def test_multi_output_results_are_freed_without_the_garbage_collector(device):
    """The outputs' nodes hold the output arrays and weak references to each other, not the output tensors
    (a cycle that only Python's collector would free, late for GPU memory)."""
    import gc
    import weakref

    a = gk.tensor(np.random.default_rng(0).standard_normal((3, 3)) + 3 * np.eye(3), device=device,
                  requires_grad=True)  # fmt: skip
    gc.disable()
    try:
        for f in (lambda a: gk.linalg.eigh(a + a.T), gk.linalg.qr, gk.linalg.svd):
            outs = f(a)
            ref = weakref.ref(outs[0])
            del outs
            assert ref() is None
    finally:
        gc.enable()


def test_second_order_through_a_dropped_output(device):
    """eigh's eigenvectors dropped at once: the eigenvalues' second derivative still goes through them."""
    b = gk.tensor(np.random.default_rng(1).standard_normal((3, 3)), device=device, requires_grad=True)

    def f(b):
        w, _ = gk.linalg.eigh(b + b.T)
        return (w**3).sum()

    assert gk.gradcheck(lambda b: gk.grad(f)(b), [b])


def test_singular_values_alone_use_the_reduced_factors(device):
    x = gk.tensor(np.random.default_rng(2).standard_normal((300, 2)), device=device, requires_grad=True)
    s = gk.linalg.svd(x, compute_uv=False)
    assert all(getattr(arr, "shape", ()) != (300, 300) for arr in s.grad_fn.saved[0].datas)
    s.sum().backward()
    assert x.grad.shape == (300, 2)


def test_string_options_are_checked():
    t = gk.tensor(np.eye(2))
    with pytest.raises(gk.ArgumentTypeError, match="linalg.eigh: UPLO must be a str"):
        gk.linalg.eigh(t, UPLO=np.array(["L", "U"]))
    with pytest.raises(gk.ArgumentTypeError, match="linalg.qr: mode must be a str"):
        gk.linalg.qr(t, np.array(["r", "r"]))
    assert np.allclose(gk.linalg.eigh(t, "l").eigenvalues.numpy(), [1, 1])  # NumPy takes lower case too


def test_solve_takes_two_arrays():
    x = gk.linalg.solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.ones(2))
    assert isinstance(x, gk.Tensor) and x.tolist() == [0.5, 0.25]
