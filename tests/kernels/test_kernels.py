"""The fused kernels against the plain (unfused, float64) formulas they implement, and the dispatch seam."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit import kernels
from gradkit.kernels import reference


def _arrays(device: str, *shapes: tuple, dtype: str = "float64", seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    backend = gk.tensor(0.0, device=device).backend
    return [backend.asarray(rng.standard_normal(s).astype(dtype)) for s in shapes]


def _host(a: object) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


# ------------------------------------------------------------------ SGD
@pytest.mark.parametrize(
    "momentum,dampening,weight_decay,nesterov",
    [(0.0, 0.0, 0.0, False), (0.0, 0.0, 0.1, False), (0.9, 0.0, 0.0, False), (0.9, 0.3, 0.05, False),
     (0.9, 0.0, 0.0, True), (0.8, 0.0, 0.1, True)],
)
@pytest.mark.parametrize("use_scratch", [False, True])
def test_sgd_kernel_matches_formula(device, momentum, dampening, weight_decay, nesterov, use_scratch):
    p, g1, g2 = _arrays(device, (4, 3), (4, 3), (4, 3))
    ref_p = _host(p).copy()
    buf = p * 0 if momentum else None
    ref_buf = None
    lr = 0.1
    for step, g in enumerate((g1, g2)):
        scratch = p * 0 + 7 if use_scratch else None
        kernels.sgd_momentum_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, step == 0, scratch)
        d = _host(g) + weight_decay * ref_p
        if momentum:
            ref_buf = d.copy() if ref_buf is None else momentum * ref_buf + (1 - dampening) * d
            d = d + momentum * ref_buf if nesterov else ref_buf
        ref_p = ref_p - lr * d
        np.testing.assert_allclose(_host(p), ref_p, rtol=1e-13, atol=1e-14)
        if momentum:
            np.testing.assert_allclose(_host(buf), ref_buf, rtol=1e-13, atol=1e-14)


def test_sgd_kernel_reads_grad_only(device):
    p, g = _arrays(device, (5,), (5,))
    g0 = _host(g).copy()
    buf = p * 0
    kernels.sgd_momentum_update(p, g, buf, 0.1, 0.9, 0.1, 0.2, False, False)
    np.testing.assert_array_equal(_host(g), g0)


def test_sgd_kernel_keeps_float32(device):
    p, g = _arrays(device, (6,), (6,), dtype="float32")
    buf = p * 0
    kernels.sgd_momentum_update(p, g, buf, 0.1, 0.9, 0.0, 0.01, True, True, None)
    assert p.dtype == np.float32 and buf.dtype == np.float32


# ------------------------------------------------------------------ Adam
@pytest.mark.parametrize("device_step", [False, True], ids=["int-step", "device-step"])
@pytest.mark.parametrize("weight_decay,decoupled", [(0.0, False), (0.1, False), (0.1, True)])
def test_adam_kernel_matches_formula(device, weight_decay, decoupled, device_step):
    p, *grads = _arrays(device, (3, 4), (3, 4), (3, 4), (3, 4))
    m = p * 0
    v = p * 0
    ref_p, ref_m, ref_v = _host(p).copy(), 0.0, 0.0
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-6
    xp = reference.get_array_module(p)
    for t, g in enumerate(grads, start=1):
        step = xp.asarray(float(t)) if device_step else t  # capturable Adam's count: a 0-d float64 array
        kernels.adam_update(p, g, m, v, lr, b1, b2, eps, weight_decay, step, decoupled)
        gh = _host(g)
        if decoupled:
            ref_p = ref_p * (1 - lr * weight_decay)
        else:
            gh = gh + weight_decay * ref_p
        ref_m = b1 * ref_m + (1 - b1) * gh
        ref_v = b2 * ref_v + (1 - b2) * gh * gh
        m_hat = ref_m / (1 - b1**t)
        v_hat = ref_v / (1 - b2**t)
        ref_p = ref_p - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(_host(p), ref_p, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(_host(m), ref_m, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(_host(v), ref_v, rtol=1e-12, atol=1e-13)


def test_adam_kernel_scratch_gives_same_result(device):
    p1, g = _arrays(device, (7,), (7,))
    p2 = p1.copy()
    state1 = [p1 * 0, p1 * 0]
    state2 = [p1 * 0, p1 * 0]
    kernels.adam_update(p1, g, *state1, 1e-2, 0.9, 0.999, 1e-8, 0.0, 1, False)
    kernels.adam_update(p2, g, *state2, 1e-2, 0.9, 0.999, 1e-8, 0.0, 1, False, p2 * 0)
    np.testing.assert_array_equal(_host(p1), _host(p2))


# ------------------------------------------------------------------ RMSprop
@pytest.mark.parametrize(
    "momentum,centered,weight_decay", [(0.0, False, 0.0), (0.5, False, 0.0), (0.0, True, 0.1), (0.7, True, 0.05)]
)
def test_rmsprop_kernel_matches_formula(device, momentum, centered, weight_decay):
    p, *grads = _arrays(device, (2, 5), (2, 5), (2, 5), (2, 5))
    sq = p * 0
    ga = p * 0 if centered else None
    buf = p * 0 if momentum else None
    ref_p, ref_sq, ref_ga, ref_buf = _host(p).copy(), 0.0, 0.0, 0.0
    lr, alpha, eps = 0.01, 0.9, 1e-8
    for g in grads:
        kernels.rmsprop_update(p, g, sq, ga, buf, lr, alpha, eps, weight_decay, momentum, centered)
        gh = _host(g) + weight_decay * ref_p
        ref_sq = alpha * ref_sq + (1 - alpha) * gh * gh
        if centered:
            ref_ga = alpha * ref_ga + (1 - alpha) * gh
            avg = np.sqrt(ref_sq - ref_ga * ref_ga) + eps
        else:
            avg = np.sqrt(ref_sq) + eps
        if momentum:
            ref_buf = momentum * ref_buf + gh / avg
            ref_p = ref_p - lr * ref_buf
        else:
            ref_p = ref_p - lr * gh / avg
        np.testing.assert_allclose(_host(p), ref_p, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(_host(sq), ref_sq, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ maximize
def _sgd_call(fn, arrays, kw, maximize, scratch=None):
    p, g, buf = arrays
    fn(p, g, buf if kw["momentum"] else None, 0.1, kw["momentum"], kw["dampening"], kw["weight_decay"],
       kw["nesterov"], kw["first"], scratch, maximize)  # fmt: skip


def _adam_call(fn, arrays, kw, maximize, scratch=None):
    p, g, m, v = arrays
    step = kw["step"]
    if kw["device_step"]:
        step = reference.get_array_module(p).asarray(float(step))
    fn(p, g, m, v, 0.01, 0.8, 0.95, 1e-6, kw["weight_decay"], step, kw["decoupled"], scratch, maximize)


def _rmsprop_call(fn, arrays, kw, maximize, scratch=None):
    p, g, sq, ga, mb = arrays
    fn(p, g, sq, ga if kw["centered"] else None, mb if kw["momentum"] else None, 0.01, 0.9, 1e-8,
       kw["weight_decay"], kw["momentum"], kw["centered"], scratch, maximize)  # fmt: skip


MAXIMIZE_CASES = [
    ("sgd_momentum_update", _sgd_call, 3, (), dict(momentum=m, dampening=d, weight_decay=wd, nesterov=n, first=f))
    for m, d, wd, n, f in [(0.0, 0.0, 0.0, False, False), (0.0, 0.0, 0.1, False, False), (0.9, 0.3, 0.05, False, True),
                           (0.9, 0.0, 0.0, False, False), (0.8, 0.0, 0.1, True, False), (0.8, 0.0, 0.0, True, True)]
] + [
    ("adam_update", _adam_call, 4, (3,), dict(weight_decay=wd, decoupled=dec, step=st, device_step=dev))
    for wd, dec, st, dev in [(0.0, False, 1, False), (0.1, False, 3, False), (0.1, True, 2, False),
                             (0.1, False, 4, True), (0.0, True, 5, True)]
] + [
    ("rmsprop_update", _rmsprop_call, 5, (2,), dict(weight_decay=wd, momentum=m, centered=c))
    for wd, m, c in [(0.0, 0.0, False), (0.1, 0.0, False), (0.0, 0.5, True), (0.05, 0.7, True), (0.0, 0.6, False)]
]
MAXIMIZE_IDS = [f"{name.split('_')[0]}-{i}" for i, (name, *_rest) in enumerate(MAXIMIZE_CASES)]


def _kernel_arrays(device, count, positive, dtype="float64"):
    arrays = _arrays(device, *[(4, 3)] * count, dtype=dtype, seed=3)
    xp = reference.get_array_module(arrays[0])
    for i in positive:  # second moments
        arrays[i] = xp.abs(arrays[i]) + 1
    if count == 5:
        arrays[3] = arrays[3] * 0.1  # grad_avg: keeps square_avg - grad_avg**2 positive
    return arrays


@pytest.mark.parametrize("use_scratch", [False, True])
@pytest.mark.parametrize(("name", "call", "count", "positive", "kw"), MAXIMIZE_CASES, ids=MAXIMIZE_IDS)
def test_maximize_is_the_step_of_the_negated_gradient_bit_for_bit(device, name, call, count, positive, kw,
                                                                  use_scratch):
    """PyTorch negates the gradient first; the kernels fold the sign into their arithmetic, exactly."""
    fn = getattr(kernels, name)
    arrays = _kernel_arrays(device, count, positive)
    up = [a.copy() for a in arrays]
    flipped = [a.copy() for a in arrays]
    flipped[1] = -flipped[1]
    grad_before = _host(up[1]).copy()
    for _ in range(2):
        call(fn, up, kw, True, up[0] * 0 + 5 if use_scratch else None)
        call(fn, flipped, kw, False)
    np.testing.assert_array_equal(_host(up[1]), grad_before)  # the gradient is read only
    for i, (a, b) in enumerate(zip(up, flipped, strict=True)):
        if i != 1:
            np.testing.assert_array_equal(_host(a), _host(b))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "call", "count", "positive", "kw"), MAXIMIZE_CASES, ids=MAXIMIZE_IDS)
def test_maximize_fused_kernels_numpy_twins_match_the_reference(dtype, name, call, count, positive, kw):
    """The fused kernels' arithmetic (their NumPy transcriptions) with maximize, against the reference."""
    from gradkit.kernels import cupy_kernels

    arrays = _kernel_arrays("cpu", count, positive, dtype)
    twin = [a.copy() for a in arrays]
    ref = [a.copy() for a in arrays]
    call(cupy_kernels.numpy_twin(name), twin, kw, True)
    call(getattr(reference, name), ref, kw, True)
    tol = {"rtol": 2e-6, "atol": 1e-7} if dtype == "float32" else {"rtol": 1e-13, "atol": 1e-15}
    for a, b in zip(twin, ref, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, **tol)


def test_maximize_fused_kernel_sources_negate_the_gradient():
    from gradkit.kernels import cupy_kernels

    for name, (ins, _outs, op) in cupy_kernels.kernel_sources().items():
        if name.startswith(("gk_sgd", "gk_adam", "gk_rmsprop")):
            assert "int32 maximize" in ins and "maximize ? -grad : grad" in op, name
            rest = op.replace("maximize ? -grad : grad", "").replace("grad_avg", "")
            assert "grad" not in rest, name  # nothing else reads the unsigned gradient


# ------------------------------------------------------------------ layers
def test_bias_relu_forward_in_place(device):
    y, b = _arrays(device, (4, 3), (3,))
    expected = np.maximum(_host(y) + _host(b), 0)
    out = kernels.bias_relu_forward(y, b)
    assert out is y
    np.testing.assert_array_equal(_host(y), expected)
    y2 = _arrays(device, (2, 2))[0]
    np.testing.assert_array_equal(_host(kernels.bias_relu_forward(y2.copy(), None)), np.maximum(_host(y2), 0))


def test_bias_forward_in_place(device):
    y, b = _arrays(device, (5, 2, 3), (3,))
    expected = _host(y) + _host(b)
    assert kernels.bias_forward(y, b) is y
    np.testing.assert_array_equal(_host(y), expected)


def test_relu_backward_is_masked_grad(device):
    g, y = _arrays(device, (3, 4), (3, 4))
    y = y * (y > 0)
    g0 = _host(g).copy()
    out = kernels.relu_backward(g, y)
    np.testing.assert_array_equal(_host(out), g0 * (_host(y) > 0))
    np.testing.assert_array_equal(_host(g), g0)


def _ce_reference(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unfused, float64: row losses and softmax - one_hot."""
    x = logits.astype(np.float64)
    shifted = x - x.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(targets))
    hot = np.zeros_like(x)
    hot[rows, targets] = 1
    return -logp[rows, targets], np.exp(logp) - hot


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_kernel_matches_formula(device, reduction):
    (logits,) = _arrays(device, (6, 5))
    targets = gk.tensor(np.array([0, 4, 2, 2, 1, 3]), device=device).data
    loss, d = kernels.cross_entropy_forward_backward(logits, targets, reduction)
    rows, grad = _ce_reference(_host(logits), _host(targets))
    expected = {"mean": rows.mean(), "sum": rows.sum(), "none": rows}[reduction]
    np.testing.assert_allclose(_host(loss), expected, rtol=1e-12)
    np.testing.assert_allclose(_host(d), grad / 6 if reduction == "mean" else grad, rtol=1e-12, atol=1e-15)


def test_cross_entropy_kernel_is_stable_in_float32(device):
    backend = gk.tensor(0.0, device=device).backend
    logits = backend.asarray(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [3e4, 3e4, -3e4]], dtype=np.float32))
    targets = backend.asarray(np.array([1, 0, 2]))
    loss, d = kernels.cross_entropy_forward_backward(logits, targets, "none")
    loss, d = _host(loss), _host(d)
    assert loss.dtype == np.float32 and d.dtype == np.float32
    assert np.isfinite(loss).all() and np.isfinite(d).all()
    np.testing.assert_allclose(loss, [2e4, np.log(3), 6e4 + np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(d[0], [1, -1, 0], atol=1e-6)


# ------------------------------------------------------------------ dispatch
def test_numpy_arrays_use_the_reference():
    assert kernels.get_array_module(np.zeros(1)) is np


def test_cupy_kernels_module_is_preferred_when_it_provides_the_function(monkeypatch):
    class FakeModule:
        @staticmethod
        def relu_backward(grad, y):
            return "fused"

    monkeypatch.setattr(kernels, "_gpu_module", FakeModule)
    monkeypatch.setattr(kernels, "_gpu_cache", {})
    assert kernels._impl("relu_backward") is FakeModule.relu_backward
    assert kernels._impl("adam_update") is reference.adam_update  # not provided: the reference


def test_missing_cupy_kernels_module_falls_back(monkeypatch):
    monkeypatch.setattr(kernels, "_gpu_module", False)
    monkeypatch.setattr(kernels, "_gpu_cache", {})
    assert kernels._impl("sgd_momentum_update") is reference.sgd_momentum_update


def test_blockwise_updates_are_bit_identical(monkeypatch):
    """Large NumPy parameters are updated block by block (cache-sized); results must not change."""
    from gradkit.kernels import reference

    def run(block, maximize=False):
        monkeypatch.setattr(reference, "BLOCK", block)
        rng = np.random.default_rng(0)
        shape = (300, 1000)
        p, g, b, t = (rng.standard_normal(shape, dtype=np.float32) for _ in range(4))
        reference.sgd_momentum_update(p, g, b, 0.1, 0.9, 0.1, 0.01, True, False, t, maximize)
        p2, g2, m, v, t2 = (rng.standard_normal(shape, dtype=np.float32) for _ in range(5))
        v = np.abs(v)
        reference.adam_update(p2, g2, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 3, True, t2, maximize)
        p3, g3, sq, ga, mb, t3 = (rng.standard_normal(shape, dtype=np.float32) for _ in range(6))
        sq, ga = np.abs(sq) + 1, ga * 0.1
        reference.rmsprop_update(p3, g3, sq, ga, mb, 1e-2, 0.99, 1e-8, 0.01, 0.9, True, t3, maximize)
        return p, b, p2, m, v, p3, sq, ga, mb

    for maximize in (False, True):
        blocked, whole = run(1 << 12, maximize), run(1 << 40, maximize)
        for x, y in zip(blocked, whole, strict=True):
            np.testing.assert_array_equal(x, y)
