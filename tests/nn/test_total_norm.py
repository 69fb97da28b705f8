"""nn.utils.get_total_norm and clip_grads_with_norm_ (PyTorch 2.6's split of clip_grad_norm_)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nn._host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn.utils import NonFiniteNormError, clip_grad_norm_, clip_grads_with_norm_, get_total_norm


def _grads(device: str) -> list:
    """Gradients [[0, 1, 2], [3, 4, 5]] and [-1, 2, 0, 3]: 2-norm sqrt(55 + 14), 1-norm 21, max 5, 3-norm 261^(1/3)."""
    return [gk.tensor(np.arange(6.0).reshape(2, 3), dtype="float32", device=device),
            gk.tensor([-1.0, 2.0, 0.0, 3.0], dtype="float32", device=device)]


def _params(device: str) -> list:
    ps = [gk.zeros(2, 3, device=device, requires_grad=True), gk.zeros(4, device=device, requires_grad=True),
          gk.zeros(1, device=device, requires_grad=True)]  # the last has no gradient
    for p, g in zip(ps, _grads(device), strict=False):
        p.grad = g
    return ps


@pytest.mark.parametrize(("norm_type", "expected"), [(2.0, math.sqrt(69)), (1.0, 21.0), (math.inf, 5.0),
                                                     ("inf", 5.0), (3.0, (225 + 36) ** (1 / 3))])
def test_get_total_norm_closed_forms(device, norm_type, expected):
    out = get_total_norm(_grads(device), norm_type)
    assert out.shape == () and out.dtype == np.float32 and not out.requires_grad
    assert out.device == _grads(device)[0].device
    assert out.item() == pytest.approx(expected, rel=1e-6)


def test_get_total_norm_of_one_tensor_and_of_none(device):
    assert get_total_norm(gk.tensor([3.0, 4.0], device=device)).item() == pytest.approx(5.0)
    empty = get_total_norm([])
    assert empty.shape == () and empty.item() == 0.0 and empty.dtype == np.float32


def test_get_total_norm_dtypes(device):
    half = gk.tensor(np.full(4, 300.0), dtype="float16", device=device)  # a float16 sum of squares would overflow
    out = get_total_norm([half])
    assert out.dtype == np.float16 and float(out.item()) == pytest.approx(600.0)
    mixed = get_total_norm([gk.ones(2, dtype="float64", device=device), gk.ones(2, dtype="float32", device=device)])
    assert mixed.dtype == np.float64 and mixed.item() == pytest.approx(2.0)
    with pytest.raises(gk.DTypeError, match="floating-point"):
        get_total_norm([gk.ones(2, dtype="int64", device=device)])


def test_get_total_norm_records_nothing(device):
    x = gk.tensor([3.0, 4.0], device=device, requires_grad=True)
    out = get_total_norm([x])
    assert out.item() == pytest.approx(5.0) and not out.requires_grad and out.grad_fn is None


def test_get_total_norm_errors(device):
    bad = [gk.tensor([float("nan"), 1.0], device=device)]
    assert math.isnan(get_total_norm(bad).item())
    with pytest.raises(NonFiniteNormError, match="get_total_norm.*non-finite"):
        get_total_norm(bad, error_if_nonfinite=True)
    with pytest.raises(gk.InvalidArgumentError, match="norm_type"):
        get_total_norm(_grads(device), 0)
    with pytest.raises(gk.ArgumentTypeError, match="Tensors"):
        get_total_norm([np.ones(2)])
    with pytest.raises(gk.ArgumentTypeError, match="foreach"):
        get_total_norm(_grads(device), foreach="yes")


def test_clip_grads_with_norm_scales_by_the_given_total(device):
    ps = _params(device)
    before = [p.grad.numpy() for p in ps[:2]]
    total = get_total_norm([p.grad for p in ps if p.grad is not None])
    assert clip_grads_with_norm_(ps, 1.0, total) is None
    coef = 1.0 / (math.sqrt(69) + 1e-6)
    for p, g in zip(ps, before, strict=False):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-6)
        assert p.grad.dtype == np.float32 and p.grad.device == total.device
    assert ps[2].grad is None
    # a number works too; a coefficient over 1 is clamped to 1
    ps = _params(device)
    clip_grads_with_norm_(ps, 1.0, 10.0)
    np.testing.assert_allclose(ps[1].grad.numpy(), np.array([-1.0, 2.0, 0.0, 3.0]) / (10.0 + 1e-6), rtol=1e-6)
    ps = _params(device)
    clip_grads_with_norm_(ps, 100.0, total)
    np.testing.assert_array_equal(ps[0].grad.numpy(), np.arange(6.0).reshape(2, 3))


def test_clip_grads_with_norm_takes_a_total_from_the_cpu(device):
    ps = _params(device)
    clip_grads_with_norm_(ps[:2], 2.0, gk.tensor(4.0))
    np.testing.assert_allclose(ps[1].grad.numpy(), np.array([-1.0, 2.0, 0.0, 3.0]) * 2.0 / (4.0 + 1e-6), rtol=1e-6)
    assert ps[1].grad.device == _grads(device)[0].device


def test_clip_grads_with_norm_keeps_each_gradients_dtype(device):
    a = gk.zeros(2, dtype="float16", device=device, requires_grad=True)
    a.grad = gk.tensor([300.0, 400.0], dtype="float16", device=device)
    b = gk.zeros(1, dtype="float64", device=device, requires_grad=True)
    b.grad = gk.tensor([0.0], dtype="float64", device=device)
    clip_grads_with_norm_([a, b], 1.0, get_total_norm([a.grad, b.grad]))
    assert (a.grad.dtype, b.grad.dtype) == (np.float16, np.float64)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.8], rtol=1e-3)


def test_clip_grads_with_norm_errors(device):
    ps = _params(device)
    with pytest.raises(gk.InvalidArgumentError, match="max_norm"):
        clip_grads_with_norm_(ps, -1.0, 1.0)
    with pytest.raises(gk.ShapeError, match="total_norm"):
        clip_grads_with_norm_(ps, 1.0, gk.ones(2, device=device))
    with pytest.raises(gk.ArgumentTypeError, match="total_norm"):
        clip_grads_with_norm_(ps, 1.0, "big")
    np.testing.assert_array_equal(ps[0].grad.numpy(), np.arange(6.0).reshape(2, 3))  # nothing changed
    clip_grads_with_norm_([gk.zeros(2, requires_grad=True)], 1.0, 3.0)  # no gradients: nothing to do


def test_clip_grad_norm_is_the_two_steps(device):
    ps, qs = _params(device), _params(device)
    total = clip_grad_norm_(ps, 1.5, norm_type=1.0)
    split = get_total_norm([q.grad for q in qs if q.grad is not None], 1.0)
    clip_grads_with_norm_(qs, 1.5, split)
    assert total.item() == split.item() == pytest.approx(21.0)
    for p, q in zip(ps[:2], qs[:2], strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-7)


def test_the_two_steps_read_nothing_on_the_host(device, monkeypatch):
    ps = _params(device)
    refuse_host_reads(device, monkeypatch)
    total = get_total_norm([p.grad for p in ps if p.grad is not None])
    clip_grads_with_norm_(ps, 1.0, total)
    clip_grad_norm_(ps, 1.0)
