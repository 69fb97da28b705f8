"""``t[index]`` in every form of API.md, ``take`` and ``gather``: values, gradients, errors."""

from __future__ import annotations

import numpy as np
import pytest
from op_specs import INDEXES

import gradkit as gk

SHAPE = (3, 4, 5)


def _x(device, seed=0):
    return gk.tensor(np.random.default_rng(seed).standard_normal(SHAPE), device=device, requires_grad=True)


@pytest.mark.parametrize(("name", "index"), INDEXES, ids=[n for n, _ in INDEXES])
def test_getitem_values(name, index, device):
    x = _x(device)
    out = x[index]
    expected = x.numpy()[index]
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize(("name", "index"), INDEXES, ids=[n for n, _ in INDEXES])
def test_getitem_gradient(name, index, device):
    x = _x(device)
    assert gk.gradcheck(lambda t: t[index] * 1.5, [x])


@pytest.mark.parametrize(("name", "index"), INDEXES, ids=[n for n, _ in INDEXES])
def test_getitem_gradient_closed_form(name, index, device):
    """d/dx sum(x[index]) counts how often each element is picked (repeats accumulate)."""
    x = _x(device)
    x[index].sum().backward()
    counts = np.zeros(SHAPE)
    np.add.at(counts, index, 1.0)
    np.testing.assert_array_equal(x.grad.numpy(), counts)
    assert x.grad.dtype == x.dtype


@pytest.mark.parametrize(("name", "index"), INDEXES, ids=[n for n, _ in INDEXES])
def test_getitem_second_order(name, index, device):
    """The gradient of getitem is itself differentiable (create_graph)."""
    x = _x(device)
    y = (x[index] ** 3).sum()
    y.backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    expected = np.zeros(SHAPE)
    np.add.at(expected, index, 6.0 * x.numpy()[index])
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_index_with_tensors(device):
    x = _x(device)
    idx = gk.tensor(np.array([2, 0, 2]), device=device)
    mask = gk.tensor(np.array([True, False, True, True]), device=device)
    np.testing.assert_array_equal(x[idx].numpy(), x.numpy()[[2, 0, 2]])
    np.testing.assert_array_equal(x[:, mask].numpy(), x.numpy()[:, [0, 2, 3]])
    np.testing.assert_array_equal(x[x > 0.5].numpy(), x.numpy()[x.numpy() > 0.5])
    np.testing.assert_array_equal(x[gk.tensor(1, device=device)].numpy(), x.numpy()[1])
    assert gk.gradcheck(lambda t: t[x.detach() > 0.5], [x])
    assert gk.gradcheck(lambda t: t[idx, :, idx], [x])


def test_several_boolean_masks_in_one_index(device):
    """NumPy pairs them up as their nonzero() indices; CuPy takes only one mask per index, so gradkit converts."""
    x = gk.tensor(np.arange(24.0).reshape(2, 3, 4), device=device, requires_grad=True)
    a, b, m2 = np.array([False, True]), np.array([True, False, True]), np.arange(12).reshape(3, 4) % 3 == 0
    np.testing.assert_array_equal(x[a, b].numpy(), x.numpy()[a, b])
    np.testing.assert_array_equal(x[a, m2].numpy(), x.numpy()[a, m2])
    x[a, b].sum().backward()
    expected = np.zeros((2, 3, 4))
    expected[a, b] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    y = x.detach() * 1.0
    y[a, gk.tensor(b, device=device)] = 0.0
    np.testing.assert_array_equal(y.numpy()[1, :, 0], [0.0, 16.0, 0.0])


def test_index_chain_of_views(device):
    x = _x(device)
    assert gk.gradcheck(lambda t: t[1:][:, ::2][..., -1][None], [x])


def test_int_index_on_1d_gives_0d(device):
    v = gk.tensor(np.arange(5.0), device=device, requires_grad=True)
    y = v[-2]
    assert y.shape == () and y.item() == 3.0
    (y * y).backward()
    np.testing.assert_array_equal(v.grad.numpy(), [0, 0, 0, 6.0, 0])


@pytest.mark.parametrize(
    "index",
    [3, -4, (0, 4), (0, 0, 5), (Ellipsis, -6), np.array([0, 3]), [1, -4], (slice(None), np.array([4]))],
    ids=str,
)
def test_out_of_range_index_names_index_and_shape(index, device):
    x = _x(device)
    with pytest.raises(gk.IndexOutOfRangeError) as info:
        x[index]
    assert isinstance(info.value, IndexError)
    msg = str(info.value)
    assert "getitem" in msg and str(SHAPE) in msg


def test_too_many_indices(device):
    x = _x(device)
    with pytest.raises(gk.IndexOutOfRangeError, match=r"too many indices"):
        x[0, 0, 0, 0]


def test_bad_index_types(device):
    x = _x(device)
    with pytest.raises(gk.ArgumentTypeError, match="getitem"):
        x["a"]
    with pytest.raises(gk.ArgumentTypeError, match="Ellipsis"):
        x[..., 0, ...]
    with pytest.raises(gk.DTypeError, match="float"):
        x[np.array([0.5, 1.0])]
    with pytest.raises(gk.ShapeError, match="mask"):
        x[np.array([True, False])]


def test_take_and_gather_values(device):
    a = np.arange(12.0).reshape(3, 4)
    x = gk.tensor(a, device=device)
    np.testing.assert_array_equal(gk.take(x, [0, 11, -1]).numpy(), np.take(a, [0, 11, -1]))
    np.testing.assert_array_equal(gk.take(x, [3, 1], axis=-1).numpy(), np.take(a, [3, 1], axis=-1))
    idx = np.array([[0, 0], [1, 0], [3, 2]])
    np.testing.assert_array_equal(gk.gather(x, 1, idx).numpy(), np.take_along_axis(a, idx, axis=1))
    # PyTorch's gather: index may be smaller than the input outside the gather axis
    idx0 = np.array([[2, 1]])
    np.testing.assert_array_equal(gk.gather(x, 0, idx0).numpy(), [[8.0, 5.0]])


def test_take_gather_duplicates_accumulate(device):
    x = gk.tensor(np.arange(4.0), device=device, requires_grad=True)
    gk.take(x, [1, 1, 3, 1]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 3, 0, 1])
    m = gk.tensor(np.ones((2, 3)), device=device, requires_grad=True)
    gk.gather(m, 1, np.array([[0, 0, 0], [2, 1, 2]])).sum().backward()
    np.testing.assert_array_equal(m.grad.numpy(), [[3, 0, 0], [0, 1, 2]])


def test_take_gather_errors(device):
    x = _x(device)
    with pytest.raises(gk.IndexOutOfRangeError, match="take"):
        gk.take(x, [60])
    with pytest.raises(gk.IndexOutOfRangeError, match="take"):
        gk.take(x, [5], axis=2)
    with pytest.raises(gk.IndexOutOfRangeError, match="take"):
        gk.take(x, [0], axis=3)
    with pytest.raises(gk.ShapeError, match="gather"):
        gk.gather(x, 0, np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(gk.IndexOutOfRangeError, match="gather"):
        gk.gather(x, 1, np.full((1, 1, 1), 4))
    with pytest.raises(gk.IndexOutOfRangeError, match="gather"):
        gk.gather(x, 3, np.zeros((1, 1, 1), dtype=np.int64))
