"""Second and higher-order gradients through backward(create_graph=True), against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk


def _hessian(f, x0, device):
    """The Hessian of a scalar f by differentiating each component of the gradient again."""
    n = x0.size
    rows = []
    for i in range(n):
        x = gk.tensor(x0, device=device, requires_grad=True)
        f(x).backward(create_graph=True)
        g = x.grad
        x.grad = None
        g.reshape(-1)[i].backward()
        rows.append(x.grad.numpy().reshape(-1) if x.grad is not None else np.zeros(n))
    return np.stack(rows)


def test_quadratic_form_hessian(device):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    x0 = rng.standard_normal(4)
    A = gk.tensor(a, device=device)
    h = _hessian(lambda x: x @ (A @ x), x0, device)
    np.testing.assert_allclose(h, a + a.T, rtol=1e-12, atol=1e-12)


def test_exp_sum_hessian_is_diagonal(device):
    x0 = np.array([0.1, -0.4, 1.2])
    h = _hessian(lambda x: gk.exp(x).sum(), x0, device)
    np.testing.assert_allclose(h, np.diag(np.exp(x0)), rtol=1e-12, atol=1e-15)


def test_logsumexp_hessian(device):
    x0 = np.array([0.3, -1.0, 2.0, 0.5])
    s = np.exp(x0) / np.exp(x0).sum()
    h = _hessian(lambda x: gk.logsumexp(x), x0, device)
    np.testing.assert_allclose(h, np.diag(s) - np.outer(s, s), rtol=1e-10, atol=1e-12)


def test_sigmoid_and_tanh_hessians(device):
    x0 = np.array([0.3, -1.0])
    s = 1 / (1 + np.exp(-x0))
    np.testing.assert_allclose(_hessian(lambda x: gk.sigmoid(x).sum(), x0, device),
                               np.diag(s * (1 - s) * (1 - 2 * s)), rtol=1e-10, atol=1e-14)
    t = np.tanh(x0)
    np.testing.assert_allclose(_hessian(lambda x: gk.tanh(x).sum(), x0, device),
                               np.diag(-2 * t * (1 - t**2)), rtol=1e-10, atol=1e-14)


def test_rosenbrock_hessian(device):
    x0 = np.array([0.7, -0.3])

    def f(x):
        return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2

    a, b = x0
    expected = np.array([[2 - 400 * (b - a**2) + 800 * a**2, -400 * a], [-400 * a, 200]])
    np.testing.assert_allclose(_hessian(f, x0, device), expected, rtol=1e-10)


def test_gradient_penalty(device):
    """d/dw ||d/dx (w . x)^2||^2 — a gradient of a gradient norm (the WGAN-GP pattern)."""
    rng = np.random.default_rng(1)
    w0, x0 = rng.standard_normal(3), rng.standard_normal(3)
    w = gk.tensor(w0, device=device, requires_grad=True)
    x = gk.tensor(x0, device=device, requires_grad=True)
    ((w * x).sum() ** 2).backward(create_graph=True)
    gx = x.grad  # 2 (w.x) w
    w.grad = None
    x.grad = None
    (gx * gx).sum().backward()
    d = w0 @ x0
    # ||g||^2 = 4 d^2 |w|^2  ->  d/dw = 8 d |w|^2 x + 8 d^2 w
    np.testing.assert_allclose(w.grad.numpy(), 8 * d * (w0 @ w0) * x0 + 8 * d**2 * w0, rtol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_nth_derivative_of_x_power_5(order, device):
    x = gk.tensor(1.5, dtype="float64", device=device, requires_grad=True)
    y = x**5
    for _ in range(order):
        x.grad = None
        y.backward(create_graph=True)
        y = x.grad
    coeff = {1: 5, 2: 20, 3: 60, 4: 120}[order]
    assert y.item() == pytest.approx(coeff * 1.5 ** (5 - order), rel=1e-12)


def test_create_graph_keeps_the_graph(device):
    x = gk.tensor([1.0, 2.0], dtype="float64", device=device, requires_grad=True)
    y = (x**3).sum()
    y.backward(create_graph=True)
    y.backward()  # create_graph implies retain_graph
    np.testing.assert_allclose(x.grad.detach().numpy(), 2 * 3 * np.array([1.0, 4.0]))


def test_without_create_graph_grad_is_constant(device):
    x = gk.tensor([1.0, 2.0], dtype="float64", device=device, requires_grad=True)
    (x**3).sum().backward()
    assert not x.grad.requires_grad


def test_second_order_through_matmul_and_softmax(device):
    rng = np.random.default_rng(2)
    w = gk.tensor(rng.standard_normal((3, 4)), device=device, requires_grad=True)
    x = gk.tensor(rng.standard_normal((2, 3)), device=device)

    def grad_norm(w):
        w.grad = None
        loss = gk.log_softmax(x @ w).sum(axis=0).max()
        loss.backward(create_graph=True)
        return (w.grad * w.grad).sum()

    assert gk.gradcheck(grad_norm, [w], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("x0", [[2.0, 0.0, 3.0, 1.5], [0.0, 0.0, 3.0, 1.5], [0.0, 0.0, 0.0, 2.0], [2.0, 5.0, 3.0, 1.5]])
def test_prod_hessian_with_zeros(x0, device):
    """H_ij = product of all elements but i and j (0 on the diagonal), zeros included."""
    x0 = np.array(x0)
    n = x0.size
    expected = np.array([[0.0 if i == j else np.prod(np.delete(x0, [i, j])) for j in range(n)] for i in range(n)])
    np.testing.assert_allclose(_hessian(lambda x: gk.prod(x), x0, device), expected, rtol=1e-12, atol=1e-12)


def test_prod_second_order_over_an_axis_with_zeros(device):
    x = gk.tensor(np.array([[1.5, 0.0, 2.0], [3.0, 0.5, -1.0]]), device=device, requires_grad=True)
    u = gk.tensor(np.array([0.3, -0.7]), device=device)

    def grads(t):
        t.grad = None
        (gk.prod(t, axis=1) * u).sum().backward(create_graph=True)
        return t.grad

    assert gk.gradcheck(grads, [x])
