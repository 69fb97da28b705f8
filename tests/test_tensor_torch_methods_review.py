"""Review of the PyTorch Tensor methods of tests/test_tensor_torch_methods.py: fill values at the edges of a
dtype's range, bool tensors, host-given indices read nothing back from the GPU, views and second derivatives."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradkit as gk

X = np.random.default_rng(3).standard_normal((3, 4))
IDX = [[0, 2, 1, 0], [2, 2, 0, 1]]


def _mask(device):
    return gk.tensor([True, False], device=device)


@pytest.mark.parametrize("value", [127.0, -128.0, 127, -128.9999 + 0.9999])
def test_masked_fill_int8_takes_the_boundaries(value, device):
    out = gk.masked_fill(gk.zeros(2, dtype="int8", device=device), _mask(device), value)
    assert out.numpy().tolist() == [int(value), 0]


@pytest.mark.parametrize("value", [127.5, -128.5, 128.0, float("nan"), float("inf"), np.float32(127.5),
                                   np.float64(2.0**63)])
def test_masked_fill_refuses_what_the_integer_dtype_cannot_hold(value, device):
    dtype = "int64" if value == 2.0**63 else "int8"  # NumPy compares np.float64(2**63) <= 2**63 - 1 in float64
    with pytest.raises(gk.InvalidArgumentError, match="masked_fill"):
        gk.masked_fill(gk.zeros(2, dtype=dtype, device=device), _mask(device), value)


def test_masked_fill_int32_refuses_float32_two_to_the_31(device):
    with pytest.raises(gk.InvalidArgumentError, match="out of range for a int32"):
        gk.masked_fill(gk.zeros(2, dtype="int32", device=device), _mask(device), np.float32(2.0**31))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1e300, 0.0])
def test_masked_fill_bool_takes_any_number_as_pytorch(value, device):
    out = gk.masked_fill(gk.zeros(2, dtype="bool", device=device), _mask(device), value)
    assert out.numpy().tolist() == [bool(value), False]


def test_masked_fill_zero_d_tensor_value_beyond_an_integer_dtype_is_refused():
    for value in (300.0, float("nan")):
        with pytest.raises(gk.InvalidArgumentError, match="masked_fill"):
            gk.masked_fill(gk.zeros(2, dtype="int8", device="cpu"), _mask("cpu"), gk.tensor(value, device="cpu"))
    low = gk.tensor(-128.0, device="cpu")
    assert gk.masked_fill(gk.zeros(2, dtype="int8", device="cpu"), _mask("cpu"), low).numpy().tolist() == [-128, 0]


def test_new_full_checks_the_fill_value_as_masked_fill(device):
    ints = gk.tensor([1], dtype="int8", device=device)
    for value in (float("nan"), 300, 127.5):
        with pytest.raises(gk.InvalidArgumentError, match="new_full"):
            ints.new_full((2,), value)
    assert ints.new_full((2,), 2.7).numpy().tolist() == [2, 2]
    assert gk.tensor([True], device=device).new_full((2,), float("nan")).numpy().tolist() == [True, True]
    with pytest.raises(gk.InvalidArgumentError, match="new_full"):
        gk.tensor([1.0], dtype="float16", device=device).new_full((1,), 1e6)


def test_new_methods_take_the_size_in_every_form(device):
    torch = pytest.importorskip("torch")
    x = gk.tensor([1.0], device=device)
    for size in ((2, 3), [2, 3], torch.Size([2, 3])):
        assert x.new_zeros(size).shape == (2, 3) and x.new_full(size, 1.0).shape == (2, 3)
    assert x.new_ones(2, 3).shape == (2, 3) and x.new_empty().shape == ()
    assert x.new_zeros(2, requires_grad=True).is_leaf and x.new_empty(2, requires_grad=True).requires_grad


def test_host_indices_read_nothing_back_from_the_gpu(device, monkeypatch):
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    x = gk.tensor(X, device=device, requires_grad=True)
    src = gk.tensor(X[:2], device=device, requires_grad=True)

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    outs = [x.gather(0, IDX), x.scatter(0, IDX, src), x.scatter(1, np.array(IDX), 2.0),
            x.scatter_add(0, IDX, src), x.index_add(0, [1, 1], src, alpha=2.0),
            x.narrow(1, -3, 2), x.select(0, -1), gk.masked_fill(x, x.detach() > 0, 1.0)]
    sum(out.sum() for out in outs).backward()
    with pytest.raises(gk.IndexOutOfRangeError, match="scatter"):
        x.scatter(0, [[3, 0, 0, 0]], src)
    with pytest.raises(gk.IndexOutOfRangeError, match="index_add"):
        x.index_add(0, [0, -1], src)


def test_in_place_through_narrow_and_select_of_a_transpose(device):
    x = gk.tensor(np.arange(12.0).reshape(3, 4), device=device)
    before = x._version[0]
    x.T.narrow(0, 1, 2).add_(1)
    x.T.select(1, 2).mul_(10)
    assert x._version[0] == before + 2
    np.testing.assert_array_equal(x.numpy(), [[0, 2, 3, 3], [4, 6, 7, 7], [80, 100, 110, 110]])
    a = gk.tensor(X, device=device, requires_grad=True)
    y = a.exp()
    y.T.narrow(0, 0, 1).zero_()  # y is part of a graph: recorded through the views, as PyTorch
    with pytest.raises(gk.AutogradError, match="modified in place"):
        y.sum().backward()  # exp saved y
    z = a * 1.0
    z.T.narrow(0, 0, 1).zero_()
    z.T.select(0, 1).mul_(3.0)
    z.sum().backward()
    expected = np.ones_like(X)
    expected[:, 0] = 0.0
    expected[:, 1] = 3.0
    np.testing.assert_array_equal(a.grad.numpy(), expected)


def _second_order(f, inputs):
    """gradcheck of the first derivatives of ``(f * w).sum()``: f's second derivatives."""
    w = gk.tensor(np.random.default_rng(1).standard_normal(f(*inputs).shape), dtype=gk.float64,
                  device=inputs[0].device)

    def first(*xs):
        grads = gk.autograd.grad((f(*xs) * w).sum(), xs, create_graph=True)
        return gk.concatenate([g.reshape(-1) for g in grads])

    return gk.gradcheck(first, inputs)


def test_second_derivatives_of_scatter_index_add_and_views(device):
    def t(a):
        return gk.tensor(a, dtype=gk.float64, device=device, requires_grad=True)

    idx = gk.tensor(IDX, device=device)
    assert _second_order(lambda a, s: a.scatter(0, idx, s) ** 2, (t(X), t(X[:2])))
    assert _second_order(lambda a, s: a.scatter_add(-2, idx, s) ** 2, (t(X), t(X[:2])))
    assert _second_order(lambda a, s: a.index_add(-1, gk.tensor([3, 3, 0], device=device), s, alpha=-2.5) ** 2,
                         (t(X), t(X[:, :3])))
    assert _second_order(lambda a: a.T.narrow(0, 1, 2).select(1, -1) ** 3, (t(X),))
    assert _second_order(lambda a: a.masked_select(gk.tensor(X > 0, device=device)) ** 3, (t(X),))


def test_full_refuses_a_float_an_integer_dtype_cannot_hold(device):
    for fill, dtype in ((float("nan"), "int64"), (float("inf"), "int32"), (300.0, "int8"), (2.0**63, "int64")):
        with pytest.raises(gk.InvalidArgumentError, match=r"^full: "):
            gk.full(2, fill, dtype=dtype, device=device)
    assert gk.full(2, 2.7, dtype="int32", device=device).numpy().tolist() == [2, 2]  # truncated, as PyTorch
    assert gk.full(2, float("nan"), dtype="bool", device=device).numpy().tolist() == [True, True]


def test_transpose_with_two_axes_warns_where_numpy_and_pytorch_differ(device):
    t = gk.tensor(np.arange(6.0).reshape(2, 3), device=device)
    with pytest.warns(UserWarning, match=r"transpose\(0, 1\) permutes the axes as NumPy's .* t\.swapaxes\(0, 1\)"):
        same = t.transpose(0, 1)
    assert same.shape == (2, 3)  # NumPy's meaning is kept (the contract)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert t.transpose(1, 0).shape == (3, 2) and t.transpose().shape == (3, 2)
        assert t.transpose((0, 1)).shape == (2, 3)  # one sequence: NumPy's spelling, no warning
    # two axes of a tensor that is not 2-D: no NumPy meaning, so PyTorch's swap (q @ k.transpose(-2, -1))
    assert gk.tensor(np.zeros((2, 3, 4)), device=device).transpose(0, 1).shape == (3, 2, 4)
    assert gk.tensor(np.zeros((2, 3, 4)), device=device).transpose(-2, -1).shape == (2, 4, 3)
