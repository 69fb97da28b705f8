"""nn.utils.clip_grad_norm_ and clip_grad_value_ (PyTorch's formulas)."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn.utils import clip_grad_norm_, clip_grad_value_


def _params(device: str) -> list:
    ps = [gk.zeros(2, 3, device=device, requires_grad=True), gk.zeros(4, device=device, requires_grad=True)]
    ps[0].grad = gk.tensor(np.arange(6.0).reshape(2, 3).astype(np.float32), device=device)
    ps[1].grad = gk.tensor(np.array([-1.0, 2.0, 0.0, 3.0], dtype=np.float32), device=device)
    return ps


def test_clip_grad_norm_scales_all_gradients(device):
    ps = _params(device)
    before = [p.grad.numpy() for p in ps]
    total = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in before))
    out = clip_grad_norm_(ps, 1.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.item(), total, rtol=1e-6)
    coef = 1.0 / (total + 1e-6)
    for p, g in zip(ps, before, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-6)
        assert p.grad.dtype == np.float32
    new_total = np.sqrt(sum((p.grad.numpy().astype(np.float64) ** 2).sum() for p in ps))
    assert new_total == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_leaves_small_gradients(device):
    ps = _params(device)
    before = [p.grad.numpy() for p in ps]
    clip_grad_norm_(ps, 100.0)
    for p, g in zip(ps, before, strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_clip_grad_norm_inf_norm_and_shared_gradient(device):
    ps = _params(device)
    out = clip_grad_norm_(ps, 2.5, norm_type=float("inf"))
    assert out.item() == 5.0
    np.testing.assert_allclose(ps[0].grad.numpy().max(), 5 * 2.5 / (5 + 1e-6), rtol=1e-6)
    # a gradient array shared by two parameters is scaled once for each, never twice
    a = gk.zeros(3, device=device, requires_grad=True)
    b = gk.zeros(3, device=device, requires_grad=True)
    (a + b).sum().backward()
    clip_grad_norm_([a, b], 1.0)
    np.testing.assert_allclose(a.grad.numpy(), 1 / np.sqrt(6), rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), 1 / np.sqrt(6), rtol=1e-5)


def test_clip_grad_norm_errors_and_edge_cases():
    assert clip_grad_norm_([gk.zeros(2, requires_grad=True)], 1.0).item() == 0.0
    p = gk.zeros(2, requires_grad=True)
    p.grad = gk.tensor([float("inf"), 0.0])
    with pytest.raises(gk.InvalidArgumentError, match="non-finite"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    with pytest.raises(gk.InvalidArgumentError, match="max_norm"):
        clip_grad_norm_(p, -1.0)


def test_clip_grad_value(device):
    ps = _params(device)
    clip_grad_value_(ps, 2.0)
    assert ps[0].grad.numpy().max() == 2.0 and ps[1].grad.numpy().min() == -1.0


def test_clip_grad_norm_of_float16_gradients_does_not_overflow():
    a = gk.tensor(np.full(4, 300.0), dtype="float16", requires_grad=True)
    a.grad = gk.tensor(np.full(4, 300.0), dtype="float16")
    total = clip_grad_norm_([a], 1.0)
    assert float(total.item()) == pytest.approx(600.0)
    np.testing.assert_allclose(a.grad.numpy(), np.full(4, 0.5), rtol=1e-3)
    assert a.grad.dtype == np.float16


def test_clip_grad_norm_keeps_each_gradients_dtype():
    b = gk.tensor(np.ones(2), dtype="float64", requires_grad=True)
    b.grad = gk.tensor(np.full(2, 3.0), dtype="float64")
    c = gk.tensor(np.ones(2), dtype="float32", requires_grad=True)
    c.grad = gk.tensor(np.full(2, 4.0), dtype="float32")
    total = clip_grad_norm_([b, c], 1.0)
    assert float(total.item()) == pytest.approx(np.sqrt(2 * 9 + 2 * 16))
    assert (b.grad.dtype, c.grad.dtype) == (np.float64, np.float32)
