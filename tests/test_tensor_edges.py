"""Tensor edge cases found in review: 0-d results, NumPy conversion, in-place misuse, shared memory."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk


def test_zero_dim_results_are_arrays_that_change_in_place(device):
    s = gk.ones(3, device=device).sum()
    s.fill_(7)
    assert s.item() == 7
    s += 1
    assert s.item() == 8
    t = gk.ones((), device=device) * 2.0
    t.zero_()
    assert t.item() == 0


def test_an_integer_index_is_a_view_on_every_backend(device):
    x = gk.arange(5.0, device=device)
    x[2].fill_(9)
    np.testing.assert_array_equal(x.numpy(), [0, 1, 9, 3, 4])


def test_np_array_copies(device):
    t = gk.tensor([1.0, 2.0, 3.0], device=device)
    a = np.array(t)
    a[0] = 99
    b = np.array(t, dtype=np.float32)
    b[1] = 99
    np.testing.assert_array_equal(t.numpy(), [1, 2, 3])


@pytest.mark.parametrize("how", ["iadd", "setitem", "copy_"])
def test_in_place_with_an_operand_that_requires_grad_is_recorded(how, device):
    w = gk.ones(3, device=device, requires_grad=True)
    a = gk.zeros(3, device=device)
    if how == "iadd":
        a += w
        expected = [1, 1, 1]
    elif how == "setitem":
        a[0:2] = w[0:2] * 2
        expected = [2, 2, 0]
    else:
        a.copy_(w)
        expected = [1, 1, 1]
    assert a.requires_grad  # it joined the graph, as in PyTorch
    a.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), expected)
    b = gk.zeros(3, device=device)
    with gk.no_grad():
        b += w
    np.testing.assert_array_equal(b.numpy(), [1, 1, 1])
    assert not b.requires_grad


def test_a_tensor_made_from_a_tensor_shares_its_version_counter(device):
    w = gk.ones(3, device=device, requires_grad=True)
    a = gk.tensor([1.0, 1.0, 1.0], device=device)
    y = (w * a).sum()
    b = gk.tensor(a)
    b += 1
    with pytest.raises(gk.AutogradError, match="modified in place"):
        y.backward()


def test_bitwise_operators_follow_numpy():
    assert (~gk.tensor([1, 2, 0])).tolist() == [-2, -3, -1]
    assert (gk.tensor([6]) & gk.tensor([3])).tolist() == [2]
    assert (gk.tensor([6]) | 1).tolist() == [7]
    assert (~gk.tensor([True, False])).tolist() == [False, True]
    x = gk.tensor([0.5, 1.5, 2.5])
    assert ((x > 1) & (x < 2)).tolist() == [False, True, False]
    with pytest.raises(gk.GradkitError, match="invert"):
        _ = ~x
    with pytest.raises(gk.GradkitError, match="bitwise_and"):
        _ = x & x


def test_grad_and_data_setters_check_what_they_are_given():
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(gk.GradkitError, match="dtype"):
        x.grad = gk.tensor([1, 2])
    with pytest.raises(gk.GradkitError, match="floating point"):
        x.data = np.array([1, 2])  # a tensor that requires grad keeps a float dtype
    with pytest.raises(gk.GradkitError, match="dtype"):
        x.data = np.array(["a", "b"])
    x.data = np.array([3.0, 4.0], dtype=np.float32)
    assert x.tolist() == [3.0, 4.0]


def test_floor_division_remainder_and_xor_follow_numpy():
    a = np.array([5.0, -7.0, 3.5])
    b = np.array([3.0, 2.0, -2.0])
    ta, tb = gk.tensor(a), gk.tensor(b)
    np.testing.assert_array_equal((ta // tb).numpy(), a // b)
    np.testing.assert_array_equal((ta % tb).numpy(), a % b)
    np.testing.assert_array_equal((7 % tb).numpy(), 7 % b)
    assert (7 // gk.tensor([2, 3])).tolist() == [3, 2]
    assert (gk.tensor([6]) ^ gk.tensor([3])).tolist() == [5]
    x = gk.tensor(a, requires_grad=True)
    assert not (x // 2.0).requires_grad  # piecewise constant: no gradient flows through //


def test_inplace_ops_on_empty_tensors(device):
    """Empty arrays have zero strides everywhere: they are not broadcast views."""
    t = gk.zeros((3, 0), device=device)
    t += 1.0
    t[:] = 2.0
    t.zero_().fill_(3.0).copy_(gk.ones((3, 0), device=device))
    assert t.shape == (3, 0)


def test_data_setter_takes_a_list_of_backend_arrays(device):
    t = gk.zeros(2, device=device)
    t.data = [gk.tensor(1.0, device=device).data, gk.tensor(2.0, device=device).data]
    assert t.tolist() == [1.0, 2.0]
