"""Fused kernels (gradkit.kernels.cupy_kernels) against the reference (gradkit.kernels.reference).

On the CPU: each kernel's NumPy transcription (``numpy_twin``) gives the reference's results, which
checks the arithmetic and the order of every kernel. With a GPU: the fused CuPy kernels give the
reference's results on the same CuPy arrays, and gradkit.kernels dispatches to them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gradkit.kernels import cupy_kernels as ck
from gradkit.kernels import reference

DTYPES = [np.float32, np.float64]


def _tol(dtype):
    return {"rtol": 2e-6, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-13, "atol": 1e-15}


def _arrays(shape, dtype, n, seed=0, positive=()):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = rng.standard_normal(shape)
        if i in positive:
            a = np.abs(a) + 0.1
        out.append(a.astype(dtype))
    return out


SGD_CASES = [
    dict(lr=0.1, momentum=m, dampening=d, weight_decay=wd, nesterov=nest, first_step=first)
    for m, d, wd, nest, first in itertools.product([0.0, 0.9], [0.0, 0.3], [0.0, 1e-2], [False, True], [False, True])
    if not (nest and (m == 0 or d != 0))
]
ADAM_CASES = [
    dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=wd, step=step, decoupled=dec, device_step=dev)
    for wd, step, dec, dev in itertools.product([0.0, 1e-2], [1, 7], [False, True], [False, True])
]  # device_step: the count as a 0-d float64 array (capturable Adam)
RMSPROP_CASES = [
    dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=wd, momentum=m, centered=c)
    for wd, m, c in itertools.product([0.0, 1e-2], [0.0, 0.9], [False, True])
]


def _run_sgd(fn, arrays, kw):
    param, grad, buf = (a.copy() for a in arrays)
    fn(param, grad, buf if kw["momentum"] else None, kw["lr"], kw["momentum"], kw["dampening"], kw["weight_decay"],
       kw["nesterov"], kw["first_step"])  # fmt: skip
    return param, buf, grad


def _run_adam(fn, arrays, kw):
    param, grad, m, v = (a.copy() for a in arrays)
    step = kw["step"]
    if kw["device_step"]:
        step = reference.get_array_module(param).asarray(float(step))
    fn(param, grad, m, v, kw["lr"], kw["beta1"], kw["beta2"], kw["eps"], kw["weight_decay"], step, kw["decoupled"])
    return param, m, v, grad


def _run_rmsprop(fn, arrays, kw):
    param, grad, sq, ga, mb = (a.copy() for a in arrays)
    ga = ga * 0.1  # keep square_avg - grad_avg**2 positive
    fn(param, grad, sq, ga if kw["centered"] else None, mb if kw["momentum"] else None, kw["lr"], kw["alpha"],
       kw["eps"], kw["weight_decay"], kw["momentum"], kw["centered"])  # fmt: skip
    return param, sq, ga, mb, grad


def _compare(got, want, dtype):
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), **_tol(dtype))


# ------------------------------------------------------------------ CPU: the transcriptions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items() if k != "lr"))
def test_sgd_twin(dtype, kw):
    arrays = _arrays((7, 5), dtype, 3)
    _compare(_run_sgd(ck.numpy_twin("sgd_momentum_update"), arrays, kw),
             _run_sgd(reference.sgd_momentum_update, arrays, kw), dtype)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", ADAM_CASES,
                         ids=lambda kw: f"wd{kw['weight_decay']}-s{kw['step']}-{kw['decoupled']}-{kw['device_step']}")
def test_adam_twin(dtype, kw):
    arrays = _arrays((6, 4), dtype, 4, positive=(3,))
    _compare(_run_adam(ck.numpy_twin("adam_update"), arrays, kw), _run_adam(reference.adam_update, arrays, kw), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", RMSPROP_CASES, ids=lambda kw: f"{kw['weight_decay']}-{kw['momentum']}-{kw['centered']}")
def test_rmsprop_twin(dtype, kw):
    arrays = _arrays((9,), dtype, 5, positive=(2,))
    _compare(_run_rmsprop(ck.numpy_twin("rmsprop_update"), arrays, kw),
             _run_rmsprop(reference.rmsprop_update, arrays, kw), dtype)  # fmt: skip


def _relu_inputs(dtype):
    y = _arrays((6, 5), dtype, 1)[0]
    y[0, 0], y[0, 1], y[1, 1] = np.nan, -0.0, 0.0
    b = _arrays((5,), dtype, 1, seed=1)[0]
    return y, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_relu_twin(dtype, with_bias):
    y, b = _relu_inputs(dtype)
    y1, y2 = y.copy(), y.copy()
    r1 = ck.numpy_twin("bias_relu_forward")(y1, b if with_bias else None)
    r2 = reference.bias_relu_forward(y2, b if with_bias else None)
    assert r1 is y1 and r2 is y2
    np.testing.assert_array_equal(y1, y2)
    assert np.isnan(y1[0, 0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_backward_twin(dtype):
    y, _ = _relu_inputs(dtype)
    g = _arrays(y.shape, dtype, 1, seed=3)[0]
    g[2, 2] = np.nan
    y[2, 2] = -1.0
    np.testing.assert_array_equal(ck.numpy_twin("relu_backward")(g, y), reference.relu_backward(g, y))


XENT_CASES = [(1, 3), (5, 10), (128, 10), (7, 33), (3, 1000), (4, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n", "c"), XENT_CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_twin(dtype, n, c, reduction):
    rng = np.random.default_rng(n * c)
    logits = (rng.standard_normal((n, c)) * 3).astype(dtype)
    logits[0, 0] = 1e4 if c > 1 else logits[0, 0]
    targets = rng.integers(0, c, n)
    loss1, d1 = ck.numpy_twin("cross_entropy_forward_backward")(logits, targets, reduction)
    loss2, d2 = reference.cross_entropy_forward_backward(logits, targets, reduction)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-14}
    assert loss1.dtype == loss2.dtype == dtype and loss1.shape == loss2.shape
    np.testing.assert_allclose(loss1, loss2, **tol)
    np.testing.assert_allclose(d1, d2, **tol)
    assert np.isfinite(d1).all() and np.isfinite(loss1).all()


def test_cross_entropy_twin_at_large_logits_matches_the_reference_tightly():
    # Rounding log(s) + m first loses ~2e-5 relative at |m| = 1e4; the kernel subtracts (x[t] - m) instead.
    logits = np.array([[1e4, -1e4, 0], [-1e4, -1e4, -1e4], [3e4, 3e4, -3e4]], np.float32)
    targets = np.array([1, 0, 2])
    loss1, _ = ck.numpy_twin("cross_entropy_forward_backward")(logits, targets, "none")
    loss2, _ = reference.cross_entropy_forward_backward(logits, targets, "none")
    np.testing.assert_allclose(loss1, loss2, rtol=1e-6)
    np.testing.assert_allclose(loss1[1], np.log(3), rtol=1e-6)


def test_every_kernel_has_a_twin_and_a_source():
    names = ["sgd_momentum_update", "adam_update", "rmsprop_update", "bias_relu_forward", "relu_backward",
             "cross_entropy_forward_backward"]  # fmt: skip
    for name in names:
        assert callable(ck.numpy_twin(name)) and callable(getattr(ck, name))
    assert set(ck.kernel_sources()) >= {"gk_sgd", "gk_sgd_momentum", "gk_adam", "gk_bias_relu", "gk_relu_backward",
                                       "gk_rmsprop", "gk_rmsprop_centered_momentum"}  # fmt: skip


def test_numpy_arrays_never_reach_the_fused_module():
    """gradkit.kernels runs the reference for NumPy arrays (the fused module is for CuPy arrays only)."""
    import gradkit.kernels as K

    param, grad, buf = _arrays((4,), np.float32, 3)
    p1 = param.copy()
    K.sgd_momentum_update(p1, grad, buf.copy(), 0.1, 0.9, 0.0, 0.0, False, False)
    p2 = param.copy()
    reference.sgd_momentum_update(p2, grad, buf.copy(), 0.1, 0.9, 0.0, 0.0, False, False)
    np.testing.assert_array_equal(p1, p2)


# ------------------------------------------------------------------ GPU: fused against unfused
def _gpu(arrays):
    import cupy as cp

    return [cp.asarray(a) for a in arrays]


def _gpu_tol(dtype):  # FMA contraction on the GPU: a rounding or two
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-14}


def _compare_gpu(got, want, dtype):
    import cupy as cp

    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(cp.asnumpy(g), cp.asnumpy(w), **_gpu_tol(dtype))


@pytest.mark.cuda
def test_gpu_dispatch_uses_the_fused_kernels():
    import gradkit.kernels as K

    for name in ["sgd_momentum_update", "adam_update", "rmsprop_update", "bias_relu_forward", "relu_backward",
                 "cross_entropy_forward_backward"]:  # fmt: skip
        assert K._impl(name) is getattr(ck, name)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", SGD_CASES)
def test_gpu_sgd(dtype, kw):
    arrays = _gpu(_arrays((37, 5), dtype, 3))
    _compare_gpu(_run_sgd(ck.sgd_momentum_update, arrays, kw), _run_sgd(reference.sgd_momentum_update, arrays, kw),
                 dtype)  # fmt: skip


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", ADAM_CASES)
def test_gpu_adam(dtype, kw):
    arrays = _gpu(_arrays((6, 40), dtype, 4, positive=(3,)))
    _compare_gpu(_run_adam(ck.adam_update, arrays, kw), _run_adam(reference.adam_update, arrays, kw), dtype)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", RMSPROP_CASES)
def test_gpu_rmsprop(dtype, kw):
    arrays = _gpu(_arrays((300,), dtype, 5, positive=(2,)))
    _compare_gpu(_run_rmsprop(ck.rmsprop_update, arrays, kw), _run_rmsprop(reference.rmsprop_update, arrays, kw),
                 dtype)  # fmt: skip


@pytest.mark.cuda
def test_gpu_float16_falls_back_to_the_reference():
    arrays = _gpu(_arrays((10,), np.float16, 3))
    kw = SGD_CASES[-1]
    _compare_gpu(_run_sgd(ck.sgd_momentum_update, arrays, kw), _run_sgd(reference.sgd_momentum_update, arrays, kw),
                 np.float32)  # fmt: skip


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_gpu_bias_relu_and_backward(dtype, with_bias):
    import cupy as cp

    y, b = _gpu(_relu_inputs(dtype))
    y1, y2 = y.copy(), y.copy()
    assert ck.bias_relu_forward(y1, b if with_bias else None) is y1
    reference.bias_relu_forward(y2, b if with_bias else None)
    np.testing.assert_array_equal(cp.asnumpy(y1), cp.asnumpy(y2))
    g = cp.asarray(_arrays(y.shape, dtype, 1, seed=3)[0])
    np.testing.assert_array_equal(cp.asnumpy(ck.relu_backward(g, y)), cp.asnumpy(reference.relu_backward(g, y)))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n", "c"), [*XENT_CASES, (1024, 10), (33, 64)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("tdtype", [np.int64, np.int32, np.uint8])
def test_gpu_cross_entropy(dtype, n, c, reduction, tdtype):
    import cupy as cp

    rng = np.random.default_rng(n + c)
    logits = (rng.standard_normal((n, c)) * 3).astype(dtype)
    logits[0, 0] = 1e4 if c > 1 else logits[0, 0]
    targets = rng.integers(0, c, n).astype(tdtype)
    x, t = cp.asarray(logits), cp.asarray(targets)
    loss1, d1 = ck.cross_entropy_forward_backward(x, t, reduction)
    loss2, d2 = reference.cross_entropy_forward_backward(x, t.astype(np.int64), reduction)
    assert loss1.dtype == loss2.dtype == dtype and loss1.shape == loss2.shape and d1.shape == (n, c)
    tol = {"rtol": 2e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-14}
    np.testing.assert_allclose(cp.asnumpy(loss1), cp.asnumpy(loss2), **tol)
    np.testing.assert_allclose(cp.asnumpy(d1), cp.asnumpy(d2), **tol)


@pytest.mark.cuda
def test_gpu_cross_entropy_of_a_transposed_view():
    import cupy as cp

    logits = cp.asarray(np.random.default_rng(0).standard_normal((10, 6)).astype(np.float32)).T
    t = cp.asarray(np.arange(6) % 10)
    loss1, d1 = ck.cross_entropy_forward_backward(logits, t)
    loss2, d2 = reference.cross_entropy_forward_backward(logits, t)
    np.testing.assert_allclose(cp.asnumpy(d1), cp.asnumpy(d2), rtol=2e-5, atol=1e-6)
    assert float(loss1) == pytest.approx(float(loss2), rel=1e-5)
