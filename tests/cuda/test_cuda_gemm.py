"""gradkit's capture-safe GEMM: the layout plan, checked on the CPU against an emulation of the
cuBLAS call it makes, and (with a GPU) the real call against cupy.matmul."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import gradkit as gk
from gradkit.cuda import cublas as G

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # NumPy 1.x
    byte_bounds = np.byte_bounds


def _cublas_view(arr, op, ld, rows, cols, batch, stride):
    """op(X) as cuBLAS reads it: X stored column-major (element (i, j) at i + j*ld) from arr's pointer."""
    srows, scols = (rows, cols) if op == G.OP_N else (cols, rows)
    isz = arr.itemsize
    if srows > 1:
        assert ld >= srows, f"ld {ld} < rows {srows}"
    last = (batch - 1) * stride + (srows - 1) + (scols - 1) * ld
    lo, hi = byte_bounds(arr)
    start = arr.__array_interface__["data"][0]
    assert lo <= start and start + last * isz + isz <= hi, "the plan reads outside the operand"
    v = as_strided(arr, shape=(batch, srows, scols), strides=(stride * isz, isz, ld * isz), writeable=False)
    return v if op == G.OP_N else v.transpose(0, 2, 1)


def emulated_launch(p, a, b, out):
    """What cublasGemm(StridedBatched)Ex computes with the arguments CublasGemm passes, in NumPy."""
    m_c, n_c, k_c = p.n, p.m, p.k  # cuBLAS's m, n, k
    A = _cublas_view(b, p.b.op, p.b.ld, m_c, k_c, p.batch, p.b.batch_stride)
    B = _cublas_view(a, p.a.op, p.a.ld, k_c, n_c, p.batch, p.a.batch_stride)
    C = np.matmul(A.astype(np.float64), B.astype(np.float64))
    assert out.flags.c_contiguous
    isz = out.itemsize
    Cv = as_strided(out, shape=(p.batch, m_c, n_c), strides=(p.m * p.n * isz, isz, m_c * isz), writeable=True)
    Cv[...] = C


def _rand(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _cases():
    r = _rand
    X = r((4, 3))
    Y = r((5, 4), seed=1)
    wide = r((3, 10), seed=2)
    tall = r((8, 4), seed=3)
    batch_t = r((2, 4, 3), seed=4)
    return {
        "contiguous": (r((3, 4)), r((4, 5), seed=1)),
        "a transposed": (X.T, r((4, 5), seed=1)),
        "b transposed": (r((3, 4)), Y.T),
        "both transposed": (X.T, Y.T),
        "a column slice (row stride 10)": (wide[:, :4], r((4, 5), seed=1)),
        "a row step (row stride 8)": (tall[::2], r((4, 5), seed=1)),
        "a column step (copy)": (r((3, 8))[:, ::2], r((4, 5), seed=1)),
        "negative strides (copy)": (r((3, 4))[::-1], r((4, 5), seed=1)[:, ::-1]),
        "m = 1": (r((1, 4)), r((4, 5), seed=1)),
        "n = 1": (r((3, 4)), r((4, 1), seed=1)),
        "k = 1": (r((3, 1)), r((1, 5), seed=1)),
        "1 x 1": (r((1, 1)), r((1, 1), seed=1)),
        "row of a square": (r((5, 5))[2:3, :4], r((4, 5), seed=1)),
        "column vector view": (r((3, 6))[:, 1:2], r((1, 5), seed=1)),
        "broadcast rows (copy)": (np.broadcast_to(r((1, 4)), (3, 4)), r((4, 5), seed=1)),
        "batched": (r((2, 3, 4)), r((2, 4, 5), seed=1)),
        "batched, a broadcast": (r((3, 4)), r((2, 4, 5), seed=1)),
        "batched, b broadcast": (r((2, 3, 4)), r((4, 5), seed=1)),
        "batched, a broadcast_to": (np.broadcast_to(r((3, 4)), (2, 3, 4)), r((2, 4, 5), seed=1)),
        "batched transposed": (batch_t.transpose(0, 2, 1), r((2, 4, 5), seed=1)),
        "4-d batch": (r((2, 3, 3, 4)), r((2, 3, 4, 5), seed=1)),
        "partial broadcast (copy)": (r((2, 1, 3, 4)), r((1, 3, 4, 5), seed=1)),
        "batch axes that do not merge (copy)": (r((2, 3, 3, 4))[:, ::2], r((4, 5), seed=1)),
        "transposed batch axes": (r((3, 2, 3, 4)).transpose(1, 0, 2, 3), r((4, 5), seed=1)),
        "float64": (r((3, 4), np.float64), r((4, 5), np.float64, seed=1).T.copy().T),
        "float16": (r((3, 4), np.float16), r((4, 5), np.float16, seed=1)),
        "mlp forward x @ W.T": (r((128, 784)), r((512, 784), seed=1).T),
        "mlp backward g @ W": (r((128, 512)), r((512, 784), seed=1)),
        "mlp backward g.T @ x": (r((128, 512)).T, r((128, 784), seed=1)),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_plan_matches_matmul(name):
    a, b = CASES[name]
    out = G.run(np, a, b, emulated_launch)
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert out.shape == expected.shape and out.dtype == a.dtype
    tol = 1e-2 if a.dtype == np.float16 else 1e-5
    np.testing.assert_allclose(out.astype(np.float64), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "name",
    ["contiguous", "a transposed", "b transposed", "both transposed", "a column slice (row stride 10)",
     "batched", "batched, a broadcast", "batched transposed", "mlp forward x @ W.T", "mlp backward g @ W",
     "mlp backward g.T @ x"],
)  # fmt: skip
def test_common_layouts_need_no_copy(name):
    a, b = CASES[name]
    plan, copy_a, copy_b = G.plan(a.shape, a.strides, b.shape, b.strides, a.itemsize)
    assert plan is not None and not copy_a and not copy_b


@pytest.mark.parametrize("name", ["a column step (copy)", "negative strides (copy)", "partial broadcast (copy)",
                                  "broadcast rows (copy)", "batch axes that do not merge (copy)"])
def test_awkward_layouts_are_copied(name):
    a, b = CASES[name]
    plan, copy_a, copy_b = G.plan(a.shape, a.strides, b.shape, b.strides, a.itemsize)
    assert plan is None and (copy_a or copy_b)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "out_shape"),
    [
        ((0, 4), (4, 5), (0, 5)),
        ((3, 0), (0, 5), (3, 5)),
        ((3, 4), (4, 0), (3, 0)),
        ((2, 0, 3, 4), (4, 5), (2, 0, 3, 5)),
    ],
)
def test_empty_products(a_shape, b_shape, out_shape):
    def launch(*args):
        raise AssertionError("cuBLAS must not be called for an empty product")

    a, b = np.ones(a_shape, np.float32), np.ones(b_shape, np.float32)
    out = G.run(np, a, b, launch)
    assert out.shape == out_shape
    np.testing.assert_array_equal(out, np.matmul(a, b))


def test_plan_rejects_shapes_that_do_not_fit():
    a, b = np.ones((3, 4)), np.ones((5, 6))
    with pytest.raises(ValueError, match="inner dimensions"):
        G.plan(a.shape, a.strides, b.shape, b.strides, 8)
    with pytest.raises(ValueError):
        G.plan((4,), (8,), b.shape, b.strides, 8)


def test_matrix_layout():
    assert G.matrix_layout(3, 4, 4, 1) == (G.OP_N, 4)  # row-major
    assert G.matrix_layout(3, 4, 1, 3) == (G.OP_T, 3)  # column-major
    assert G.matrix_layout(3, 4, 10, 1) == (G.OP_N, 10)  # padded rows
    assert G.matrix_layout(3, 4, 8, 2) is None  # strided columns
    assert G.matrix_layout(3, 4, 0, 1) is None  # broadcast rows
    assert G.matrix_layout(1, 4, 999, 1) == (G.OP_N, 4)  # one row: its stride does not matter
    assert G.matrix_layout(3, 1, 7, 123) == (G.OP_N, 7)
    assert G.matrix_layout(1, 1, 0, 0) == (G.OP_N, 1)


def test_batch_stride():
    assert G.batch_stride((), (), (2, 3)) == 0
    assert G.batch_stride((2, 3), (36, 12), (2, 3)) == 12
    assert G.batch_stride((1, 3), (0, 12), (2, 3)) is None  # partial broadcast
    assert G.batch_stride((2, 1), (12, 0), (2, 3)) is None
    assert G.batch_stride((3,), (12,), (2, 3)) is None
    assert G.batch_stride((1, 1), (5, 5), (2, 3)) == 0
    assert G.batch_stride((2, 3), (60, 40), (2, 3)) is None  # axes that do not merge


def test_cublas_is_found_among_mapped_libraries():
    maps = "\n".join([
        "7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/libc.so.6",
        "7f02-7f03 r-xp 00000000 08:01 2 /opt/nvidia/cublas/lib/libcublasLt.so.12",
        "7f04-7f05 r-xp 00000000 08:01 3 /opt/nvidia/cublas/lib/libcublas.so.12",
        "7f06-7f07 rw-p 00000000 00:00 0 ",
    ])  # fmt: skip
    assert G.cublas_path_from_maps(maps) == "/opt/nvidia/cublas/lib/libcublas.so.12"
    assert G.cublas_path_from_maps("7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/libc.so.6") is None


def test_workspace_size_follows_cublas_advice():
    assert G.workspace_bytes(90) == 32 * 1024 * 1024
    assert G.workspace_bytes(80) == 4 * 1024 * 1024


def test_public_gemm_on_numpy():
    a, b = _rand((3, 4)), _rand((4, 5), seed=1)
    np.testing.assert_allclose(gk.cuda.gemm(a, b), a @ b, rtol=1e-6)


def test_router_only_acts_when_installed_or_opted_in():
    class Fake:
        def matmul(self, a, b):
            return "fake"

    assert G.installed() is None
    assert G.route(np.ones((2, 2)), np.ones((2, 2))) is None
    prev = G.install(Fake())
    try:
        assert G.route(np.ones((2, 2)), np.ones((2, 2))) == "fake"
    finally:
        G.install(prev)
    assert G.route(np.ones((2, 2)), np.ones((2, 2))) is None
    G.use_direct_gemm(True)
    try:
        assert G.route(np.ones((2, 2)), np.ones((2, 2))) is None  # NumPy arrays have no device: no router
    finally:
        G.use_direct_gemm(False)


def test_backends_expose_the_matmul_hook():
    from gradkit.backends import NUMPY
    from gradkit.backends.cupy_backend import CupyBackend

    a, b = _rand((3, 4)), _rand((4, 5), seed=1)
    np.testing.assert_array_equal(NUMPY.matmul(a, b), np.matmul(a, b))
    assert CupyBackend.gemm_router is G.route


def test_tf32_switch():
    assert gk.cuda.tf32_enabled() is False  # off unless CUPY_TF32 is set
    gk.cuda.set_tf32(True)
    try:
        assert gk.cuda.tf32_enabled() is True
    finally:
        gk.cuda.set_tf32(False)
    assert gk.cuda.tf32_enabled() is False
    with pytest.raises(gk.ArgumentTypeError):
        gk.cuda.set_tf32("yes")


# ------------------------------------------------------------------ on a GPU
@pytest.mark.cuda
@pytest.mark.parametrize("name", list(CASES))
def test_cublas_gemm_matches_cupy_matmul(name):
    import cupy as cp

    a, b = CASES[name]
    ga, gb = _device_view(a), _device_view(b)  # the same strided views, on the device
    assert ga.strides == a.strides and gb.strides == b.strides
    handle = G.CublasGemm(0)
    out = handle.matmul(ga, gb)
    assert out is not None
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = np.matmul(a64, b64)
    # float32 rounding: each of the K products and sums may be off by eps of the running magnitude
    # (found on an H100: a 1e-5 tolerance failed on 0.03% of the entries of a K=784 product)
    bound = a.shape[-1] * np.finfo(a.dtype).eps * np.matmul(np.abs(a64), np.abs(b64))
    error = np.abs(cp.asnumpy(out).astype(np.float64) - expected)
    assert np.all(error <= bound), f"worst error {error.max():.3g}, {np.mean(error > bound):.3%} over the bound"
    assert np.linalg.norm(error) / np.linalg.norm(expected) < (1e-2 if a.dtype == np.float16 else 1e-5)


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["contiguous", "a transposed", "b transposed", "both transposed",
                                  "a column slice (row stride 10)", "mlp forward x @ W.T", "mlp backward g @ W",
                                  "mlp backward g.T @ x", "a column step (copy)"])  # fmt: skip
def test_a_repeated_product_takes_the_remembered_plan_and_stays_right(name):
    """The second and later calls with one layout skip the planning (every training step's case)."""
    import cupy as cp

    a, b = CASES[name]
    handle = G.CublasGemm(0)
    for scale in (1.0, -2.0, 0.5):  # new values each time, the same layout
        (a2, ga), (b2, gb) = _same_layout(a, lambda v: v * scale), _same_layout(b, lambda v: v + scale)
        assert ga.strides == a.strides and gb.strides == b.strides
        out = cp.asnumpy(handle.matmul(ga, gb)).astype(np.float64)
        a64, b64 = a2.astype(np.float64), b2.astype(np.float64)
        bound = a.shape[-1] * np.finfo(a.dtype).eps * np.matmul(np.abs(a64), np.abs(b64))
        assert np.all(np.abs(out - np.matmul(a64, b64)) <= bound), scale
    remembered = a.ndim == b.ndim == 2 and "copy" not in name
    assert bool(handle._plans) == remembered


def _same_layout(x, fn):
    """``fn`` of x's values in x's layout (shape, strides, offset from a C-order base): (host, device) views."""
    import cupy as cp

    base = x
    while base.base is not None and isinstance(base.base, np.ndarray):
        base = base.base
    flat = np.ascontiguousarray(fn(base).astype(x.dtype)).reshape(-1)
    offset = x.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    host = np.lib.stride_tricks.as_strided(flat[offset // x.itemsize :], x.shape, x.strides)
    device = cp.ndarray(x.shape, x.dtype, cp.asarray(flat).data + offset, x.strides)
    return host, device


def _device_view(x):
    """The same view (shape, strides, offset) of a copy of x's base on the device."""
    import cupy as cp

    base = x
    while base.base is not None and isinstance(base.base, np.ndarray):
        base = base.base
    flat = cp.asarray(np.ascontiguousarray(base).reshape(-1))
    offset = x.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return cp.ndarray(x.shape, x.dtype, flat.data + offset, x.strides)


@pytest.mark.cuda
def test_float32_gemm_is_not_tf32_by_default():
    """Full float32: the relative error against float64 stays near float32's epsilon (TF32 gives ~1e-3)."""
    import cupy as cp

    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 512)).astype(np.float32)
    b = rng.standard_normal((512, 512)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    for out in (cp.matmul(cp.asarray(a), cp.asarray(b)), G.CublasGemm(0).matmul(cp.asarray(a), cp.asarray(b))):
        err = np.max(np.abs(cp.asnumpy(out) - exact) / scale)
        assert err < 1e-5, err


@pytest.mark.cuda
def test_direct_gemm_through_tensors_and_gradients():
    x = gk.randn(64, 32, device="cuda", requires_grad=True)
    w = gk.randn(16, 32, device="cuda", requires_grad=True)
    ref = (x @ w.T).sum()
    ref.backward()
    gx, gw = x.grad.numpy(), w.grad.numpy()
    x.grad = w.grad = None
    gk.cuda.use_direct_gemm(True)
    try:
        out = (x @ w.T).sum()
        out.backward()
    finally:
        gk.cuda.use_direct_gemm(False)
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), gx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=1e-5, atol=1e-5)


@pytest.mark.cuda
def test_device_info_on_a_gpu():
    info = gk.cuda.device_info()
    assert info["available"] is True and info["name"] and info["cupy"]
    assert isinstance(info["cublas"], int) and info["cublas"] > 10000
