"""Transforms refuse a function whose result was computed outside the graph (NumPy calls, .item(), float())."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import gradkit as gk


def t64(array: object, device: str) -> gk.Tensor:
    return gk.tensor(np.asarray(array, dtype=np.float64), device=device)


GRAPHLESS: dict[str, tuple[Callable, str]] = {
    "np.dot": (lambda x: np.dot(x, x), "NumPy float64 number"),
    "np.linalg.norm": (lambda x: np.linalg.norm(x), "NumPy float64 number"),
    "np.where(...).sum()": (lambda x: np.where(x > 1, x, 0).sum(), "NumPy float64 number"),
    "float(x.sum())": (lambda x: float(x.sum()), "Python float"),
    "x.sum().item()": (lambda x: x.sum().item(), "Python float"),
    "a Python int": (lambda x: 3, "Python int"),
    "a NumPy array": (lambda x: np.asarray(x) * 2.0, "an array"),
}


@pytest.mark.parametrize("name", list(GRAPHLESS))
@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "hessian"])
def test_scalar_transforms_refuse_a_value_without_graph(name: str, transform: str) -> None:
    f, what = GRAPHLESS[name]
    x = t64([1.0, 2.0, 3.0], "cpu")
    with pytest.raises(gk.AutogradError, match=rf"{transform}: the function returned .*{what}") as info:
        getattr(gk, transform)(f)(x)
    message = str(info.value)
    assert "NumPy functions" in message and ".item()/float()" in message and "gk.dot" in message


@pytest.mark.parametrize("name", ["np.dot", "x.sum().item()", "a NumPy array"])
def test_vjp_and_jacobian_refuse_a_value_without_graph(name: str) -> None:
    f, what = GRAPHLESS[name]
    x = t64([1.0, 2.0, 3.0], "cpu")
    with pytest.raises(gk.AutogradError, match=rf"vjp: the function returned .*{what}.*drop the graph"):
        gk.vjp(f, x)
    with pytest.raises(gk.AutogradError, match=rf"jacobian: the function returned .*{what}"):
        gk.jacobian(f)(x)
    with pytest.raises(gk.AutogradError, match=rf"jvp: the function returned .*{what}"):
        gk.jvp(f, (x,), (x,))
    with pytest.raises(gk.AutogradError, match=r"as output 1, not a Tensor"):
        gk.jacobian(lambda x: (x * 2.0, f(x)))(x)


def test_other_results_keep_their_type_error() -> None:
    x = t64([1.0, 2.0], "cpu")
    with pytest.raises(gk.ArgumentTypeError, match="scalar Tensor"):
        gk.grad(lambda x: "nope")(x)
    with pytest.raises(gk.ArgumentTypeError, match="True"):
        gk.grad(lambda x: True)(x)
    with pytest.raises(gk.ArgumentTypeError, match="a Tensor or a tuple of Tensors"):
        gk.vjp(lambda x: None, x)


def test_constant_tensors_and_unused_inputs_give_zeros(device: str) -> None:
    x = t64([1.0, 2.0], device)
    y = t64([[5.0]], device)
    np.testing.assert_array_equal(gk.grad(lambda x: gk.tensor(3.0, dtype=gk.float64, device=device))(x).numpy(), [0, 0])
    gx, gy = gk.grad(lambda x, y: (x * x).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(gy.numpy(), [[0.0]])
    value, g = gk.value_and_grad(lambda x, y: y.sum())(x, y)  # f does not depend on x
    assert float(value) == 5.0
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0])
    jac = gk.jacobian(lambda x: gk.ones(3, dtype=gk.float64, device=device))(x)
    assert jac.shape == (3, 2) and not jac.numpy().any()


def test_derivatives_that_vanish_are_zero_not_errors(device: str) -> None:
    # The third derivative of x**2 is a constant Tensor inside the nested transforms: accepted.
    x = t64(2.0, device)
    assert float(gk.grad(gk.grad(gk.grad(lambda x: x**2)))(x)) == 0.0
    h = gk.hessian(lambda x: (3.0 * x).sum())(t64([1.0, 2.0], device))
    np.testing.assert_array_equal(h.numpy(), np.zeros((2, 2)))


def test_the_gradkit_spelling_works() -> None:
    x = t64([1.0, 2.0, 3.0], "cpu")
    np.testing.assert_allclose(gk.grad(lambda x: gk.dot(x, x))(x).numpy(), [2.0, 4.0, 6.0])
    norm = np.sqrt(14.0)
    np.testing.assert_allclose(gk.grad(lambda x: gk.norm(x))(x).numpy(), np.array([1.0, 2.0, 3.0]) / norm)
    np.testing.assert_allclose(gk.grad(lambda x: gk.where(x > 1, x, 0.0).sum())(x).numpy(), [0.0, 1.0, 1.0])
    assert gk.gradcheck(lambda x: gk.norm(x), (x.requires_grad_(True),))
