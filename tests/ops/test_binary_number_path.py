"""The tensor-and-Python-number case of the binary ops (``x * 0.5``, ``x + 1``), recorded on its own path."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd import function
from gradkit.testing import gradcheck

NUMBER_OPS = {
    "add": lambda x: x + 0.5,
    "subtract": lambda x: x - 2,
    "multiply": lambda x: x * -1.5,
    "divide": lambda x: x / 3.0,
    "power": lambda x: x**3.0,
    "arctan2": lambda x: gk.arctan2(x, 2.0),
    "hypot": lambda x: gk.hypot(x, 2),
    "logaddexp": lambda x: gk.logaddexp(x, 0.25),
}


@pytest.mark.parametrize("name", sorted(NUMBER_OPS))
def test_gradient_matches_central_differences(name: str) -> None:
    x = gk.tensor(np.array([[0.3, 1.2, 2.5], [0.7, 1.9, 0.4]]), requires_grad=True)
    assert gradcheck(NUMBER_OPS[name], x)


def test_result_is_recorded_with_the_tensor_dtype_and_shape() -> None:
    x = gk.ones((2, 3), dtype="float32", requires_grad=True)
    y = x * 2.0 + 1
    assert y.dtype == x.dtype and y.shape == x.shape and y.requires_grad
    y.backward(gk.ones((2, 3), dtype="float32"))
    assert x.grad.dtype == x.dtype
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0, np.float32))


def test_zero_dimensional_result_is_an_array() -> None:
    x = gk.tensor(np.float64(2.0), requires_grad=True)
    y = x * 3.0
    assert not isinstance(y.data, np.generic) and y.shape == ()
    y.backward()
    assert x.grad.item() == 3.0


def test_nothing_recorded_without_grad() -> None:
    x = gk.ones(3, requires_grad=True)
    with gk.no_grad():
        y = x * 2.0
    assert y.grad_fn is None and not y.requires_grad
    z = gk.ones(3) + 1
    assert z.grad_fn is None and not z.requires_grad


def test_only_what_the_rule_reads_is_saved_and_version_checked() -> None:
    x = gk.ones(3, requires_grad=True)
    y = x * 1.0
    m = y * 2.0  # d/dy reads the number only: y may change in place afterwards
    p = y**2.0  # d/dy reads y: an in-place change must be caught
    assert m.grad_fn.saved[0] is None and m.grad_fn.versions is None
    assert p.grad_fn.saved[0] is y and p.grad_fn.versions is not None
    a = y + 1.0
    assert a.grad_fn.saved == () and a.grad_fn.next == (y.grad_fn, None)
    with gk.no_grad():
        y.add_(1.0)
    m.sum().backward()
    with pytest.raises(gk.AutogradError, match="modified"):
        p.sum().backward()


def test_observer_sees_the_node() -> None:
    seen = []

    def watch(node, out):
        seen.append((node, out))

    function.add_observer(watch)
    try:
        x = gk.ones(2, requires_grad=True)
        y = x * 2.0
    finally:
        function.remove_observer(watch)
    assert seen == [(y.grad_fn, y)]


def test_int_out_of_range_is_a_gradkit_error() -> None:
    if np.lib.NumpyVersion(np.__version__) < "2.0.0":
        pytest.skip("NumPy 1.x promotes int8 + 10**6 to a wider dtype instead of refusing it")
    x = gk.tensor(np.array([1, 2], np.int8))
    with pytest.raises(gk.GradkitError, match="add"):
        x + 10**6
