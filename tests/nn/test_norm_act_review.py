"""Review of the normalisation, activation, dropout, padding and Bilinear layers: regressions and edge cases.

float16 group and instance normalisation computed in float32 (as PyTorch), ``threshold``'s fill value (NaN,
inf, integer and float16 ranges), ``softshrink``'s infinite lambd, GroupNorm's LayerNorm / InstanceNorm
equivalences, the zero-variance gradient, InstanceNorm's running statistics against NumPy and PyTorch, and
PyTorch parity where torch is importable.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit import nn
from gradkit.nn import activation as A
from gradkit.nn import dropout as D
from gradkit.nn import normalization as N
from gradkit.nn import padding as P


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _norm_np(x: np.ndarray, axes: tuple, eps: float = 1e-5) -> np.ndarray:
    x = x.astype(np.float64)
    return (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)


# ------------------------------------------------------------------ float16 normalisation
def test_float16_group_and_instance_norm_are_computed_in_float32(device):
    # values near 300: a float16 mean is off by up to 0.125, a quarter of the unit-variance output
    xh = (_rand(2, 4, 64, seed=1) * 0.5 + 300).astype(np.float16)
    x = gk.tensor(xh, device=device, requires_grad=True)
    for y, expected in (
        (N.group_norm(x, 2), _norm_np(xh.reshape(2, 2, -1), (2,)).reshape(xh.shape)),
        (N.instance_norm(x), _norm_np(xh, (2,))),
    ):
        assert y.dtype == np.float16
        np.testing.assert_allclose(y.numpy().astype(np.float64), expected, atol=2e-3)
        y.sum().backward()
        assert x.grad.dtype == np.float16
        x.grad = None


def test_float16_instance_norm_running_stats(device):
    xh = (_rand(2, 3, 16, seed=2) + 100).astype(np.float16)
    m = nn.InstanceNorm1d(3, track_running_stats=True, device=device)
    m(gk.tensor(xh, device=device))
    x64 = xh.astype(np.float64)
    np.testing.assert_allclose(m.running_mean.numpy(), 0.1 * x64.mean(2).mean(0), rtol=1e-5)
    np.testing.assert_allclose(m.running_var.numpy(), 0.9 + 0.1 * x64.var(2, ddof=1).mean(0), rtol=1e-5)


def test_float16_group_norm_matches_torch():
    torch = pytest.importorskip("torch")
    xh = (_rand(2, 4, 5, 6, seed=3) * 0.5 + 300).astype(np.float16)
    wh, bh = _rand(4, seed=4).astype(np.float16), _rand(4, seed=5).astype(np.float16)
    y = N.group_norm(gk.tensor(xh), 2, gk.tensor(wh), gk.tensor(bh))
    ty = torch.nn.functional.group_norm(torch.tensor(xh), 2, torch.tensor(wh), torch.tensor(bh))
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.numpy().astype(np.float64), ty.numpy().astype(np.float64), atol=1e-2)


# ------------------------------------------------------------------ group norm equivalences
def test_group_norm_one_group_is_layer_norm_and_c_groups_instance_norm(device):
    x = gk.tensor(_rand(2, 4, 3, 2, seed=6), device=device)
    np.testing.assert_allclose(N.group_norm(x, 1).numpy(), nn.functional.layer_norm(x, (4, 3, 2)).numpy(),
                               atol=1e-13)
    np.testing.assert_allclose(N.group_norm(x, 4).numpy(), N.instance_norm(x).numpy(), atol=1e-13)


def test_zero_variance_gradients(device):
    # spatial size 1 with C groups: every group is constant, the output is the bias and x gets no gradient
    x = gk.tensor(_rand(2, 4, 1, seed=7), device=device, requires_grad=True)
    w = gk.tensor(_rand(4, seed=8), device=device, requires_grad=True)
    b = gk.tensor(_rand(4, seed=9), device=device, requires_grad=True)
    y = N.group_norm(x, 4, w, b)
    np.testing.assert_allclose(y.numpy(), np.broadcast_to(b.numpy()[:, None], (2, 4, 1)), atol=1e-14)
    ((y * y).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), 0, atol=1e-9)
    np.testing.assert_allclose(w.grad.numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), 4 * b.numpy(), rtol=1e-12)


# ------------------------------------------------------------------ instance norm state
def test_instance_norm_running_stats_against_torch_then_eval_and_state_dicts():
    torch = pytest.importorskip("torch")
    for momentum in (0.3, None):
        m = nn.InstanceNorm2d(3, momentum=momentum, affine=True, track_running_stats=True, dtype="float64")
        t = torch.nn.InstanceNorm2d(3, momentum=momentum, affine=True, track_running_stats=True).double()
        for step in range(3):
            x = _rand(2, 3, 4, 5, seed=10 + step) * (step + 1) + step
            np.testing.assert_allclose(m(gk.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(m.running_mean.numpy(), t.running_mean.numpy(), atol=1e-14)
        np.testing.assert_allclose(m.running_var.numpy(), t.running_var.numpy(), atol=1e-14)
        m.eval()
        t.eval()
        x = _rand(2, 3, 4, 5, seed=20)
        np.testing.assert_allclose(m(gk.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), atol=1e-12)
    state = {k: v.numpy() for k, v in t.state_dict().items()}
    for drop in ((), ("num_batches_tracked",)):
        fresh = nn.InstanceNorm2d(3, affine=True, track_running_stats=True, dtype="float64")
        fresh.load_state_dict({k: v for k, v in state.items() if k not in drop})
        np.testing.assert_array_equal(fresh.running_var.numpy(), state["running_var"])
    clone = copy.deepcopy(m).float()
    assert clone.running_mean.dtype == np.float32 and clone.num_batches_tracked.dtype == np.int64
    assert m.running_mean.dtype == np.float64


# ------------------------------------------------------------------ threshold's value, softshrink's lambd
def test_threshold_value_nan_and_inf(device):
    x = gk.tensor([0.0, 1.0, 5.0], device=device, requires_grad=True)
    np.testing.assert_array_equal(A.threshold(x, 1.0, float("nan")).numpy(), [np.nan, np.nan, 5.0])
    np.testing.assert_array_equal(A.threshold(x, 1.0, -np.inf).numpy(), [-np.inf, -np.inf, 5.0])
    assert "value=nan" in repr(A.Threshold(0.5, float("nan")))
    A.threshold(x, 1.0, float("nan")).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])


@pytest.mark.parametrize(("dtype", "value"), [("int64", float("nan")), ("int64", float("inf")),
                                               ("uint8", -1), ("uint8", 256), ("float16", 7e4)])
def test_threshold_refuses_a_value_the_dtype_cannot_hold(device, dtype, value):
    x = gk.tensor(np.array([0, 1, 5], dtype=dtype), device=device)
    with pytest.raises(gk.InvalidArgumentError, match=f"threshold: value .* does not fit the input's dtype {dtype}"):
        A.threshold(x, 1, value)


def test_threshold_integer_value_truncated(device):
    x = gk.tensor(np.array([0, 1, 5], dtype="int32"), device=device)
    y = A.threshold(x, 1.5, -2.7)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y.numpy(), [-2, -2, 5])


def test_softshrink_refuses_infinite_lambd(device):
    with pytest.raises(gk.InvalidArgumentError, match="softshrink: lambd must be finite"):
        A.softshrink(gk.tensor([1.0, np.inf], device=device), np.inf)


def test_threshold_reads_nothing_on_the_host(device, monkeypatch):
    x = gk.tensor([0.0, 1.0, 5.0], device=device, requires_grad=True)
    refuse_host_reads(device, monkeypatch)
    A.threshold(x, 1.0, float("nan")).sum().backward()
    N.group_norm(gk.tensor(np.ones((2, 4, 3), np.float16), device=device, requires_grad=True), 2).sum().backward()


# ------------------------------------------------------------------ PyTorch parity sweeps
def test_activation_edges_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    pts = np.array([-np.inf, -3.0, -0.5, 0.0, 0.5, 2.0, np.inf])
    for fn, tfn in ((lambda x: A.threshold(x, 0.5, float("nan")), lambda x: F.threshold(x, 0.5, float("nan"))),
                    (lambda x: A.hardshrink(x, -1.0), lambda x: F.hardshrink(x, -1.0)),
                    (lambda x: A.celu(x, -0.7), lambda x: F.celu(x, -0.7)),
                    (lambda x: A.softshrink(x, 0.0), lambda x: F.softshrink(x, 0.0))):
        x, tx = gk.tensor(pts, requires_grad=True), torch.tensor(pts, requires_grad=True)
        y, ty = fn(x), tfn(tx)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
        with np.errstate(invalid="ignore"):  # celu's +inf and -inf summed
            y.sum().backward()
        ty.sum().backward()
        # PyTorch's CELU slope uses a float32-rounded 1 / alpha: agreement to about 1e-7
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def test_padding_crops_and_errors_match_torch():
    torch = pytest.importorskip("torch")
    x = _rand(2, 3, 4, 4, seed=30)
    for name, pad in (("ReflectionPad2d", (-1, 2, 3, -2)), ("CircularPad2d", (2, -1, -1, 3)),
                      ("ReplicationPad2d", (-2, 5, 0, -3)), ("ZeroPad2d", (-1, -1, 2, 2))):
        y = getattr(P, name)(pad)(gk.tensor(x)).numpy()
        np.testing.assert_array_equal(y, getattr(torch.nn, name)(pad)(torch.tensor(x)).numpy())
    with pytest.raises(gk.GradkitError):
        P.ReflectionPad2d((4, 0, 0, 0))(gk.tensor(x))  # as wide as the axis: PyTorch refuses it too
    with pytest.raises(RuntimeError):
        torch.nn.ReflectionPad2d((4, 0, 0, 0))(torch.tensor(x))


def test_alpha_dropout_statistics_and_seed(device):
    x = gk.tensor(_rand(100000, seed=40), device=device)
    gk.manual_seed(5)
    y = D.alpha_dropout(x, 0.3, True).numpy()
    gk.manual_seed(5)
    np.testing.assert_array_equal(D.alpha_dropout(x, 0.3, True).numpy(), y)
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    alpha, p = 1.7580993408473766, 0.3
    a = 1 / np.sqrt((alpha * alpha * p + 1) * (1 - p))
    dropped = np.isclose(y, alpha * a * (p - 1), rtol=1e-12)
    assert 0.29 < dropped.mean() < 0.31
