"""The engine's semantics as a PyTorch user expects them (session 17 review).

A backward pass releases what a node saved for its gradient; a node that saved no tensor and no array (an add,
a sum, a reshape, a broadcast_to: only shapes and numbers) is left as it is, so that another backward may run
through it without ``retain_graph``, as PyTorch's nodes that save no tensors. The numbers below were checked
against PyTorch 2.14 (which refuses and accepts the same second passes).
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd.function import once_differentiable


def _leaf(values, device, dtype="float64"):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=True)


# ------------------------------------------------------------------ a second backward through nodes that saved nothing
@pytest.mark.parametrize(
    "build, expected_a, expected_b",
    [
        (lambda a, b: (a + b).sum(), [2.0] * 6, [6.0, 6.0]),
        (lambda a, b: (a - b).mean(), [1 / 3] * 6, [-1.0, -1.0]),
        (lambda a, b: (gk.broadcast_to(b, (2, 3)) + a.T.reshape(3, 2).T).sum(), [2.0] * 6, [6.0, 6.0]),
        (lambda a, b: gk.concatenate([a[1:], a[:1]], axis=0).sum() + b[0, 0] - b[1, 0], [2.0] * 6, [2.0, -2.0]),
        (lambda a, b: (a.astype(gk.float32) + 1).sum() + (-b).sum(), [2.0] * 6, [-2.0, -2.0]),
        (lambda a, b: gk.stack([a[:, 0], b[:, 0]]).sum(), [2.0, 0, 0, 2.0, 0, 0], [2.0, 2.0]),
    ],
    ids=["add", "subtract-mean", "broadcast_to-transpose-reshape", "getitem-concatenate", "astype-negative",
         "stack"],
)
def test_a_second_backward_runs_through_nodes_that_saved_no_tensor(device, build, expected_a, expected_b):
    a = _leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device)
    b = _leaf([[10.0], [20.0]], device)
    y = build(a, b)
    y.backward()
    y.backward()  # PyTorch: works (its nodes for these save sizes, not tensors)
    np.testing.assert_allclose(a.grad.numpy().ravel(), expected_a, rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy().ravel(), expected_b, rtol=1e-6)


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda a: gk.exp(a).sum(), "exp"),  # sum saved no tensor: the error names exp, whose output is gone
        (lambda a: (a * a).sum(), "multiply"),
        (lambda a: (a * 2.0).sum(), "multiply"),  # PyTorch saves the number as a tensor: refused there too
        (lambda a: a[np.array([0, 1, 1])].sum(), "getitem"),  # the index array is released
        (lambda a: gk.where(a > 1.5, a, 0.0).sum(), "where"),  # the mask is released
        (lambda a: gk.nn.functional.relu(a).sum(), "relu"),
    ],
)
def test_a_second_backward_through_released_values_names_the_op(device, build, name):
    a = _leaf([1.0, 2.0, 3.0], device)
    y = build(a)
    y.backward()
    first = a.grad.numpy().copy()
    with pytest.raises(gk.AutogradError, match=f"'{name}' a second time.*retain_graph=True"):
        y.backward()
    np.testing.assert_array_equal(a.grad.numpy(), first)  # a failed pass adds nothing to .grad


def test_released_and_kept_nodes(device):
    a = _leaf([1.0, 2.0, 3.0], device)
    mask_node = gk.where(a > 1.5, a, 0.0)
    y = gk.broadcast_to(mask_node, (2, 3)).sum()
    broadcast, where = y.grad_fn.next[0], mask_node.grad_fn
    y.backward()
    assert where.saved == ()  # its mask arrays are released at once
    assert broadcast.saved == ((3,),)  # a shape: kept, with its rules
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 2.0, 2.0])


def test_two_losses_on_one_broadcast_parameter_pair(device):
    """The practical case: a Normal whose parameters broadcast in its constructor, two log_prob losses."""
    mu = _leaf([0.0, 1.0, -1.0], device)
    sigma = _leaf([[1.0], [2.0]], device)
    d = gk.distributions.Normal(mu, sigma)
    d.log_prob(gk.ones((2, 3), dtype=gk.float64, device=device)).sum().backward()
    np.testing.assert_allclose(mu.grad.numpy(), [1.25, 0.0, 2.5])
    np.testing.assert_allclose(sigma.grad.numpy(), [[2.0], [-0.875]])
    d.log_prob(gk.zeros((2, 3), dtype=gk.float64, device=device)).sum().backward()  # PyTorch: works too
    np.testing.assert_allclose(mu.grad.numpy(), [1.25, -1.25, 3.75])
    np.testing.assert_allclose(sigma.grad.numpy(), [[1.0], [-2.125]])


def test_anomaly_mode_keeps_and_releases_the_same_nodes(device):
    a = _leaf([1.0, 2.0], device)
    b = _leaf([[3.0], [4.0]], device)
    with gk.autograd.detect_anomaly():
        y = (a + b).sum()
        y.backward()
        y.backward()
        z = gk.exp(a).sum()
        z.backward()
        with pytest.raises(gk.AutogradError, match="(?s)'exp' a second time.*called at"):
            z.backward()
    np.testing.assert_allclose(a.grad.numpy(), [4.0 + np.e, 4.0 + np.e**2])
    np.testing.assert_allclose(b.grad.numpy(), [[4.0], [4.0]])


def test_retained_grads_and_hooks_run_again_on_kept_nodes(device):
    a = _leaf([1.0, 2.0], device)
    h = a.reshape(2, 1) + 1.0
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().ravel().tolist()))
    y = h.sum()
    y.backward()
    y.backward()
    assert seen == [[1.0, 1.0], [1.0, 1.0]]
    np.testing.assert_allclose(h.grad.numpy(), [[2.0], [2.0]])
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 2.0])


# ------------------------------------------------------------------ custom Functions
class _Reverse(gk.autograd.Function):
    """A gradient-reversal layer: saves a number on ctx, no tensor."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        return x * 1

    @staticmethod
    def backward(ctx, g):
        return -g * ctx.alpha, None


class _Square(gk.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x


def test_a_function_that_saved_no_tensor_runs_twice(device):
    x = _leaf([1.0, 2.0], device)
    y = _Reverse.apply(x, 0.5).sum()
    y.backward()
    y.backward()  # PyTorch: works
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, -1.0])
    z = _Square.apply(x).sum()
    z.backward()
    with pytest.raises(gk.AutogradError, match="'_Square' a second time"):
        z.backward()


# ------------------------------------------------------------------ once_differentiable
class _Cube(gk.autograd.Function):
    recording = []

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        _Cube.recording.append(gk.is_grad_enabled())
        (x,) = ctx.saved_tensors
        return 3 * g * x * x


def test_once_differentiable_first_derivatives(device):
    x = _leaf([1.0, 2.0], device)
    _Cube.recording.clear()
    _Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])
    (g,) = gk.autograd.grad(_Cube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    assert not g.requires_grad  # the seed needs no gradient: nothing to differentiate (as PyTorch)
    assert _Cube.recording == [False, False]  # backward runs with recording off, also under create_graph


def test_once_differentiable_refuses_a_second_derivative(device):
    x = _leaf([1.0, 2.0], device)
    v = _leaf([1.0, 1.0], device)
    (g,) = gk.autograd.grad(_Cube.apply(x), x, grad_outputs=v, create_graph=True)
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    assert g.requires_grad
    with pytest.raises(gk.AutogradError, match="_Cube.backward.*once_differentiable"):
        g.sum().backward()


# ------------------------------------------------------------------ hooks
def test_a_tensor_hook_handle_removes_its_hook_at_the_end_of_a_with_block(device):
    a = _leaf([1.0, 2.0], device)
    with a.register_hook(lambda g: g * 2) as handle:
        (a * a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [4.0, 8.0])
    (a * a).sum().backward()  # the hook is gone (PyTorch: the same)
    np.testing.assert_allclose(a.grad.numpy(), [6.0, 12.0])
    handle.remove()  # again: nothing happens
    h = a * 1.0
    with h.register_hook(lambda g: g * 10):
        (h * 3.0).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [36.0, 42.0])
