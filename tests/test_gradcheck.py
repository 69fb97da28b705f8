"""gk.gradcheck: passes correct gradients, and names the input and element of a wrong one."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd.function import record


def t64(array: object, device: str, requires_grad: bool = True) -> gk.Tensor:
    return gk.tensor(np.asarray(array, dtype=np.float64), device=device, requires_grad=requires_grad)


def _planted(x: gk.Tensor, y: gk.Tensor, element: tuple[int, ...]) -> gk.Tensor:
    """x * y with a VJP for y that is wrong (doubled) at one element."""
    xp = x.backend.xp

    def dx(g: gk.Tensor, x: gk.Tensor, y: gk.Tensor) -> gk.Tensor:
        return g * y

    def dy_wrong(g: gk.Tensor, x: gk.Tensor, y: gk.Tensor) -> gk.Tensor:
        mask = xp.ones(y.shape)
        mask[element] = 2.0
        return g * x * mask

    return record("planted_multiply", x.data * y.data, x.backend, (x, y), (dx, dy_wrong), (x, y))


def test_correct_ops_pass(device: str) -> None:
    rng = np.random.default_rng(0)
    a = t64(rng.standard_normal((3, 4)), device)
    w = t64(rng.standard_normal((4, 2)), device)
    b = t64(rng.standard_normal(2), device)
    assert gk.gradcheck(lambda a, w, b: gk.tanh(a @ w + b), (a, w, b)) is True
    assert gk.gradcheck(lambda a: (a * a).sum(axis=1).mean(), a)
    assert gk.gradcheck(lambda a: gk.softmax(a, axis=-1), (a,))
    assert gk.gradcheck(lambda a: gk.exp(a).max(axis=0), [a])


def test_several_outputs_and_passthrough_arguments(device: str) -> None:
    x = t64([[0.5, -1.0], [2.0, 3.0]], device)

    def f(x: gk.Tensor, axis: int) -> tuple[gk.Tensor, gk.Tensor]:
        return x.sum(axis=axis), gk.sin(x) * x

    assert gk.gradcheck(f, (x, 1))


def test_planted_wrong_vjp_is_reported(device: str) -> None:
    x = t64([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device)
    y = t64([[0.5, -0.5, 1.5], [2.5, -1.0, 0.25]], device)
    with pytest.raises(gk.GradcheckError) as info:
        gk.gradcheck(lambda x, y: _planted(x, y, (1, 2)), (x, y))
    err = info.value
    assert err.input_index == 1
    assert err.element == (1, 2)
    assert err.analytic == pytest.approx(2 * err.numeric, rel=1e-6)
    message = str(err)
    assert "input 1" in message and "element (1, 2)" in message
    assert "analytic" in message and "numeric" in message and "tolerance" in message
    assert "1 of 6 elements" in message
    # The first input's rule is right: a check of x alone passes.
    y_const = t64(y.numpy(), device, requires_grad=False)
    assert gk.gradcheck(lambda x, y: _planted(x, y, (1, 2)), (x, y_const))


def test_raise_exception_false_returns_false(device: str) -> None:
    x = t64([1.0, 2.0], device)
    y = t64([3.0, 4.0], device)
    assert gk.gradcheck(lambda x, y: _planted(x, y, (0,)).sum(), (x, y), raise_exception=False) is False


def test_error_classes() -> None:
    assert issubclass(gk.GradcheckError, gk.GradkitError)
    assert issubclass(gk.GradcheckError, AssertionError)


def test_refuses_float32_unless_allowed(device: str) -> None:
    x = gk.tensor([1.0, 2.0, 3.0], dtype=gk.float32, device=device, requires_grad=True)
    with pytest.raises(gk.InvalidArgumentError, match="float32"):
        gk.gradcheck(lambda x: (x * x).sum(), x)
    half = gk.tensor([1.0, 2.0], dtype=gk.float16, device=device, requires_grad=True)
    with pytest.raises(gk.InvalidArgumentError, match="float16"):
        gk.gradcheck(lambda x: x.sum(), half)
    assert gk.gradcheck(lambda x: (x * x).sum(), x, eps=1e-2, atol=1e-2, rtol=1e-2, allow_float32=True)


def test_inputs_are_left_alone(device: str) -> None:
    x = t64([1.0, -2.0, 0.5], device)
    before = x.numpy()
    gk.gradcheck(lambda x: (x**3).sum(), x)
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.grad is None


def test_checks_only_inputs_that_require_grad(device: str) -> None:
    x = t64([1.0, 2.0], device)
    y = t64([3.0, 4.0], device, requires_grad=False)
    # The planted error is in y's gradient, which is not checked while only x requires grad.
    assert gk.gradcheck(lambda x, y: _planted(x, y, (0,)), (x, y))
    # With no input requiring grad, every float input is checked.
    x.requires_grad = False
    with pytest.raises(gk.GradcheckError, match="input 1"):
        gk.gradcheck(lambda x, y: _planted(x, y, (0,)), (x, y))


def test_gradient_of_wrong_shape_is_reported(device: str) -> None:
    x = t64([1.0, 2.0, 3.0], device)

    def f(x: gk.Tensor) -> gk.Tensor:
        return record("bad_shape", x.data * 2, x.backend, (x,), (lambda g: (g * 2).sum(),))

    with pytest.raises(gk.GradcheckError, match="shape"):
        gk.gradcheck(f, x)


def test_unreached_input_and_bad_arguments(device: str) -> None:
    x = t64([1.0, 2.0], device)
    y = t64([3.0], device)
    assert gk.gradcheck(lambda x, y: x * 2.0, (x, y))  # y unused: zero gradient, zero differences
    with pytest.raises(gk.ArgumentTypeError):
        gk.gradcheck(lambda x: x, 3.0)
    with pytest.raises(gk.InvalidArgumentError):
        gk.gradcheck(lambda n: n, (1, 2))
    with pytest.raises(gk.ArgumentTypeError):
        gk.gradcheck(lambda x: float(x.sum()), x)


def test_second_derivatives_through_grad(device: str) -> None:
    x = t64([0.3, -1.2, 2.0], device)
    assert gk.gradcheck(gk.grad(lambda x: (gk.sin(x) * x**2).sum()), x)
