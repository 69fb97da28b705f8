"""PyTorch's deprecated ``scatter(..., reduce="add" | "multiply")``: values (PyTorch's, written out) and
gradients (central differences)."""

import numpy as np
import pytest

import gradkit as gk

X = np.arange(12.0).reshape(3, 4)
IDX = np.array([[0, 1, 2, 0], [2, 0, 0, 1]])
SRC = np.arange(1.0, 9.0).reshape(2, 4)


def test_values_are_pytorch_s(device):
    x, idx, src = (gk.tensor(a, device=device) for a in (X, IDX, SRC))
    added = x.scatter(0, idx, src, reduce="add").numpy()
    np.testing.assert_array_equal(added, [[1, 7, 9, 7], [4, 7, 6, 15], [13, 9, 13, 11]])
    multiplied = gk.scatter(x, 0, idx, src, reduce="multiply").numpy()
    np.testing.assert_array_equal(multiplied, [[0, 6, 14, 12], [4, 10, 6, 56], [40, 9, 30, 11]])
    np.testing.assert_array_equal(x.scatter(0, idx, 2.0, reduce="add").numpy(),
                                  [[2, 3, 4, 5], [4, 7, 6, 9], [10, 9, 12, 11]])
    y = gk.tensor(X.copy(), device=device)
    assert y.scatter_(0, idx, src, reduce="add") is y
    np.testing.assert_array_equal(y.numpy(), added)


def test_gradients_agree_with_central_differences():
    idx = gk.tensor(IDX)
    for reduce in ("add", "multiply"):
        x = gk.tensor(X + 1.0, requires_grad=True)
        src = gk.tensor(SRC, requires_grad=True)
        assert gk.autograd.gradcheck(lambda a, b, r=reduce: a.scatter(0, idx, b, reduce=r), (x, src))
        y = x * 1.0
        y.scatter_(0, idx, src, reduce=reduce)  # in place on a tensor in the graph: recorded
        (y * y).sum().backward()
        expected = [t.grad.numpy().copy() for t in (x, src)]
        x.grad = src.grad = None
        z = x.scatter(0, idx, src, reduce=reduce)
        (z * z).sum().backward()
        for t, e in zip((x, src), expected, strict=True):
            np.testing.assert_allclose(t.grad.numpy(), e)


def test_other_reductions_are_refused():
    with pytest.raises(gk.InvalidArgumentError, match="'add' or 'multiply'"):
        gk.tensor(X).scatter(0, gk.tensor(IDX), 1.0, reduce="max")
