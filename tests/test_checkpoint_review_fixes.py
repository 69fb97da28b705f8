"""gk.utils.checkpoint: a tensor the function uses, changed in place before backward, raises as in a plain call."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.utils.checkpoint import checkpoint, checkpoint_sequential


def _backward_error(make, change):
    """The AutogradError message of backward after ``change()``, or None when backward runs."""
    y = make()
    change()
    try:
        y.backward()
    except gk.AutogradError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("checkpointed", [False, True])
def test_a_closed_over_non_leaf_changed_before_backward_raises(checkpointed):
    w = gk.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = w * 1

    def scaled(z):
        return (z * h * h).sum()

    def make():
        return checkpoint(scaled, gk.ones(3)) if checkpointed else scaled(gk.ones(3))

    def change():
        with gk.no_grad():
            h.add_(5)

    message = _backward_error(make, change)
    assert message is not None and "modified in place" in message
    if checkpointed:
        assert "checkpoint of 'test_a_closed_over_non_leaf_changed_before_backward_raises.<locals>.scaled'" in message
        assert "'multiply' saved" in message


@pytest.mark.parametrize("checkpointed", [False, True])
def test_a_closed_over_constant_that_an_operation_saved_raises(checkpointed):
    w = gk.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = gk.ones(3)  # no grad: only the multiply with w saves it

    def f(z):
        return (z * w * c).sum()

    message = _backward_error(lambda: checkpoint(f, gk.ones(3)) if checkpointed else f(gk.ones(3)),
                              lambda: c.add_(1))
    assert message is not None and "modified in place" in message


def test_an_output_saved_by_its_operation_and_changed_raises_as_in_the_plain_call():
    x = gk.tensor([0.5, 1.0], requires_grad=True)
    for run in (lambda: x.exp(), lambda: checkpoint(gk.exp, x)):
        y = run()
        with gk.no_grad():
            y.mul_(2)
        with pytest.raises(gk.AutogradError, match="modified in place"):
            y.sum().backward()


def test_a_tensor_used_by_a_nested_checkpoint_is_checked_by_the_outer_one():
    w = gk.tensor([1.0, 2.0], requires_grad=True)
    h = w * 1

    def inner(z):
        return z * h

    def outer(z):
        return checkpoint(inner, z).sum()

    y = checkpoint(outer, gk.tensor([3.0, 4.0], requires_grad=True))
    with gk.no_grad():
        h.add_(1)
    with pytest.raises(gk.AutogradError, match="checkpoint of .*outer.*modified in place"):
        y.backward()


def test_a_changed_argument_and_leaf_name_the_function():
    w = gk.tensor([1.0, 2.0], requires_grad=True)
    a = gk.tensor([3.0, 4.0])

    def f(z):
        return (z * w).sum()

    y = checkpoint(f, a)
    a.add_(1)
    with pytest.raises(gk.AutogradError, match=r"checkpoint of '.*f': tensor 0 of its arguments .* modified in place"):
        y.backward()

    y = checkpoint(f, gk.tensor([3.0, 4.0]))
    with gk.no_grad():
        w.add_(1)
    with pytest.raises(gk.AutogradError, match="a leaf tensor it uses .* modified in place"):
        y.backward()


def test_checkpoint_sequential_names_its_run():
    lin = gk.nn.Linear(2, 2)
    x = gk.ones(1, 2, requires_grad=True)
    h = x * 1
    y = checkpoint_sequential([lin, gk.nn.Tanh(), gk.nn.Tanh()], 2, h)
    with gk.no_grad():
        lin.weight.mul_(2)
    with pytest.raises(gk.AutogradError, match=r"checkpoint_sequential run \['Linear'\]"):
        y.sum().backward()


def test_unchanged_tensors_give_the_plain_gradients_twice():
    w = gk.tensor([0.3, -0.7, 1.1], dtype="float64", requires_grad=True)
    c = gk.tensor([2.0, 3.0, 4.0], dtype="float64")
    h = w * 2

    def f(z):
        return (gk.sin(z * h) * c * w).sum()

    x = gk.tensor([0.5, 0.25, -1.0], dtype="float64", requires_grad=True)
    f(x).backward(retain_graph=True)  # h's graph is shared with the checkpointed calls
    plain = [x.grad.numpy().copy(), w.grad.numpy().copy()]
    x.grad = w.grad = None
    y = checkpoint(f, x)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * plain[0])
    np.testing.assert_array_equal(w.grad.numpy(), 2 * plain[1])


def test_gradcheck_through_a_checkpoint_with_closed_over_tensors():
    c = gk.tensor([2.0, -1.0, 0.5], dtype="float64")
    w = gk.tensor([0.4, 0.9, -0.3], dtype="float64", requires_grad=True)

    def f(z, v):
        return checkpoint(lambda a: gk.tanh(a * v * c) * w, z)

    z = gk.tensor([0.1, -0.6, 0.8], dtype="float64", requires_grad=True)
    v = gk.tensor([1.5, 0.2, -0.7], dtype="float64", requires_grad=True)
    assert gk.gradcheck(f, (z, v))
