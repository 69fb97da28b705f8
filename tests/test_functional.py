"""Transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian, against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk


def t64(array: object, device: str, requires_grad: bool = False) -> gk.Tensor:
    return gk.tensor(np.asarray(array, dtype=np.float64), device=device, requires_grad=requires_grad)


def close(t: gk.Tensor, expected: object, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    assert isinstance(t, gk.Tensor)
    np.testing.assert_allclose(t.numpy(), np.asarray(expected, dtype=np.float64), rtol=rtol, atol=atol)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# ------------------------------------------------------------ closed forms
def test_quadratic_form_gradient_and_hessian(device: str, rng: np.random.Generator) -> None:
    a_np = rng.standard_normal((4, 4))
    b_np = rng.standard_normal(4)
    x_np = rng.standard_normal(4)
    a, b = t64(a_np, device), t64(b_np, device)

    def f(x: gk.Tensor) -> gk.Tensor:
        return x @ (a @ x) + b @ x

    x = t64(x_np, device)
    g = gk.grad(f)(x)
    assert g.device == x.device and g.shape == (4,)
    close(g, (a_np + a_np.T) @ x_np + b_np)
    h = gk.hessian(f)(x)
    assert h.shape == (4, 4)
    close(h, a_np + a_np.T)
    value, g2 = gk.value_and_grad(f)(x)
    close(value, x_np @ a_np @ x_np + b_np @ x_np)
    close(g2, g.numpy())


def test_jacobian_of_elementwise_map(device: str, rng: np.random.Generator) -> None:
    x_np = rng.standard_normal(5)
    j = gk.jacobian(lambda x: gk.sin(x) * 2.0)(t64(x_np, device))
    assert j.shape == (5, 5)
    close(j, np.diag(2 * np.cos(x_np)))
    m_np = rng.standard_normal((2, 3))
    j2 = gk.jacobian(gk.exp)(t64(m_np, device))
    assert j2.shape == (2, 3, 2, 3)
    close(j2, np.einsum("ij,ik,jl->ijkl", np.exp(m_np), np.eye(2), np.eye(3)))


def test_jacobian_of_linear_map_is_the_matrix(device: str, rng: np.random.Generator) -> None:
    w_np = rng.standard_normal((2, 3))
    w = t64(w_np, device)
    j = gk.jacobian(lambda x: w @ x)(t64(rng.standard_normal(3), device))
    assert j.shape == (2, 3)  # (m, n) for f: R^n -> R^m
    close(j, w_np)
    # With respect to both arguments: a tuple.
    jw, jx = gk.jacobian(lambda w, x: w @ x, argnums=(0, 1))(w, t64([1.0, 2.0, 3.0], device))
    assert jw.shape == (2, 2, 3) and jx.shape == (2, 3)
    close(jx, w_np)
    close(jw, np.einsum("ij,k->ijk", np.eye(2), [1.0, 2.0, 3.0]))


def _x4sin_derivatives(x: float) -> tuple[float, float, float]:
    s, c = math.sin(x), math.cos(x)
    d1 = 4 * x**3 * s + x**4 * c
    d2 = 12 * x**2 * s + 8 * x**3 * c - x**4 * s
    d3 = 24 * x * s + 36 * x**2 * c - 12 * x**3 * s - x**4 * c
    return d1, d2, d3


@pytest.mark.parametrize("x", [-1.7, 0.4, 1.3, 2.9])
def test_third_derivative_of_x4_sin_x(device: str, x: float) -> None:
    def f(x: gk.Tensor) -> gk.Tensor:
        return x**4 * gk.sin(x)

    d1, d2, d3 = _x4sin_derivatives(x)
    xt = t64(x, device)
    close(gk.grad(f)(xt), d1)
    close(gk.grad(gk.grad(f))(xt), d2)
    close(gk.grad(gk.grad(gk.grad(f)))(xt), d3, rtol=1e-9)
    # Python floats are accepted (as float64 on the default device).
    assert gk.grad(gk.grad(gk.grad(f)))(x).item() == pytest.approx(d3, rel=1e-9)


def test_fourth_order_of_a_polynomial(device: str) -> None:
    f = lambda x: x**5  # noqa: E731
    g = f
    for _ in range(4):
        g = gk.grad(g)
    close(g(t64(1.5, device)), 120 * 1.5)


# ---------------------------------------------------------------- jvp/vjp
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jvp_agrees_with_vjp(device: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = t64(rng.standard_normal((3, 4)), device)

    def f(x: gk.Tensor, y: gk.Tensor) -> gk.Tensor:
        return gk.tanh(w @ x) * y.sum() + gk.exp(y[:3] * 0.5)

    x, y = t64(rng.standard_normal(4), device), t64(rng.standard_normal(5), device)
    vx, vy = t64(rng.standard_normal(4), device), t64(rng.standard_normal(5), device)
    u = t64(rng.standard_normal(3), device)
    out, jv = gk.jvp(f, (x, y), (vx, vy))
    out2, vjp_fn = gk.vjp(f, x, y)
    jtu_x, jtu_y = vjp_fn(u)
    close(out, out2.numpy())
    lhs = float((jv.numpy() * u.numpy()).sum())
    rhs = float((vx.numpy() * jtu_x.numpy()).sum() + (vy.numpy() * jtu_y.numpy()).sum())
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-12)
    # And J v equals the Jacobian applied to v.
    jx, jy = gk.jacobian(f, argnums=(0, 1))(x, y)
    close(jv, jx.numpy() @ vx.numpy() + jy.numpy() @ vy.numpy(), rtol=1e-10)


def test_jvp_closed_form_and_single_tensor(device: str) -> None:
    x = t64([0.1, 0.7, -2.0], device)
    v = t64([1.0, -1.0, 0.5], device)
    out, tangent = gk.jvp(gk.sin, (x,), (v,))
    close(out, np.sin(x.numpy()))
    close(tangent, np.cos(x.numpy()) * v.numpy())
    out, tangent = gk.jvp(lambda x: x, x, v)  # a lone tensor instead of a tuple, and the identity
    close(tangent, v.numpy())
    _, zero = gk.jvp(lambda x: gk.ones(3, dtype=gk.float64, device=device), (x,), (v,))
    close(zero, np.zeros(3))
    with pytest.raises(gk.ShapeError, match="tangent 0"):
        gk.jvp(gk.sin, (x,), (t64([1.0, 2.0], device),))


def test_vjp_tuple_outputs_and_repeated_calls(device: str) -> None:
    x = t64([1.0, 2.0], device)
    (a, b), vjp_fn = gk.vjp(lambda x: (x * 3.0, (x * x).sum()), x)
    close(a, [3.0, 6.0])
    (g,) = vjp_fn(t64([1.0, 1.0], device), t64(1.0, device))
    close(g, [3.0 + 2.0, 3.0 + 4.0])
    (g2,) = vjp_fn((t64([0.0, 1.0], device), t64(0.0, device)))
    close(g2, [0.0, 3.0])
    with pytest.raises(gk.ArgumentTypeError, match="cotangent"):
        vjp_fn(t64([1.0, 1.0], device))
    with pytest.raises(gk.ShapeError):
        vjp_fn(t64([1.0], device), t64(1.0, device))


# ------------------------------------------------------ argnums and errors
def test_argnums_tuple_and_negative(device: str) -> None:
    def f(x: gk.Tensor, y: gk.Tensor, z: gk.Tensor) -> gk.Tensor:
        return (x * y * y).sum() + z.sum()

    x, y, z = t64([1.0, 2.0], device), t64([3.0, 4.0], device), t64([5.0], device)
    value, (gx, gz) = gk.value_and_grad(f, argnums=(0, 2))(x, y, z)
    close(value, 1 * 9 + 2 * 16 + 5)
    close(gx, [9.0, 16.0])
    close(gz, [1.0])
    close(gk.grad(f, argnums=-2)(x, y, z), [6.0, 16.0])
    with pytest.raises(gk.IndexOutOfRangeError, match="argnums"):
        gk.grad(f, argnums=3)(x, y, z)
    with pytest.raises(gk.ArgumentTypeError, match="argnums"):
        gk.grad(f, argnums="x")(x, y, z)


def test_non_scalar_output_is_a_clear_error(device: str) -> None:
    with pytest.raises(gk.ShapeError, match=r"scalar.*shape \(3,\).*jacobian"):
        gk.grad(lambda x: x * 2)(t64([1.0, 2.0, 3.0], device))
    with pytest.raises(gk.ArgumentTypeError, match="scalar"):
        gk.grad(lambda x: "nope")(t64(1.0, device))
    with pytest.raises(gk.DTypeError, match="floating-point"):
        gk.grad(lambda x: x.sum())(gk.tensor([1, 2], device=device))


def test_scalar_like_outputs_and_unreached_inputs(device: str) -> None:
    x = t64([1.0, 2.0], device)
    close(gk.grad(lambda x: (x * x).sum().reshape((1, 1)))(x), [2.0, 4.0])  # one element, any shape
    gx, gy = gk.grad(lambda x, y: (x * 2.0).sum(), argnums=(0, 1))(x, t64([[5.0]], device))
    close(gy, [[0.0]])
    assert gy.shape == (1, 1)
    g = gk.grad(lambda x: gk.tensor(3.0, dtype=gk.float64))(x)  # a constant Tensor: the gradient is zero
    close(g, [0.0, 0.0])


def test_float32_inputs_keep_their_dtype(device: str) -> None:
    x = gk.tensor([1.0, 2.0], dtype=gk.float32, device=device)
    g = gk.grad(lambda x: (x**3).sum())(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0], rtol=1e-6)


# ------------------------------------------------- composition with autograd
def test_results_are_plain_at_top_level(device: str) -> None:
    x = t64([1.0, 2.0], device)
    g = gk.grad(lambda x: (x**3).sum())(x)
    assert not g.requires_grad and g.grad_fn is None
    assert x.grad is None


def test_connected_to_outer_graph_when_input_requires_grad(device: str) -> None:
    x = t64([1.0, 2.0], device, requires_grad=True)
    g = gk.grad(lambda x: (x**3).sum())(x)
    assert g.requires_grad
    assert x.grad is None  # the transform does not touch .grad
    g.sum().backward()
    close(x.grad, 6 * x.numpy())


def test_closure_over_a_tensor_that_requires_grad(device: str) -> None:
    w = t64([3.0, 4.0], device, requires_grad=True)
    g = gk.grad(lambda x: (w * x * x).sum())(t64([1.0, 2.0], device))
    close(g, [6.0, 16.0])
    g.sum().backward()
    close(w.grad, [2.0, 4.0])


def test_nested_transforms_over_closures(device: str) -> None:
    b0 = t64([1.0, 2.0], device)

    def outer(a: gk.Tensor) -> gk.Tensor:
        return gk.grad(lambda b: (a * b * b).sum())(b0).sum()  # sum(2 a b)

    close(gk.grad(outer)(t64([1.0, 1.0], device)), [2.0, 4.0])


def test_hessian_of_two_arguments(device: str) -> None:
    def f(x: gk.Tensor, y: gk.Tensor) -> gk.Tensor:
        return (x * x).sum() * (y * y * y).sum()

    x, y = t64([1.0, 2.0], device), t64([0.5, -1.0, 2.0], device)
    (hxx, hxy), (hyx, hyy) = gk.hessian(f, argnums=(0, 1))(x, y)
    assert hxx.shape == (2, 2) and hxy.shape == (2, 3) and hyx.shape == (3, 2) and hyy.shape == (3, 3)
    sy3 = float((y.numpy() ** 3).sum())
    close(hxx, 2 * sy3 * np.eye(2))
    close(hxy, np.outer(2 * x.numpy(), 3 * y.numpy() ** 2))
    close(hyx, hxy.numpy().T)
    close(hyy, np.diag(6 * y.numpy()) * float((x.numpy() ** 2).sum()))


def test_transforms_work_inside_no_grad(device: str) -> None:
    with gk.no_grad():
        g2 = gk.grad(gk.grad(lambda x: x**3))(t64(2.0, device))
    close(g2, 12.0)
    assert not g2.requires_grad


def test_gradcheck_of_transforms(device: str) -> None:
    x = t64([0.3, -0.8, 1.1], device, requires_grad=True)
    assert gk.gradcheck(gk.grad(lambda x: (gk.tanh(x) * x).sum()), x)
    assert gk.gradcheck(lambda x: gk.jvp(gk.sin, (x,), (x,))[1], x)
    assert gk.gradcheck(lambda x: gk.vjp(lambda x: x * x, x)[1](gk.ones_like(x))[0], x)


def test_wrapped_function_names() -> None:
    def loss(x: gk.Tensor) -> gk.Tensor:
        return x.sum()

    assert gk.grad(loss).__name__ == "grad(loss)"
    assert gk.hessian(loss).__name__ == "hessian(loss)"
