"""An index (or condition) given to an op and changed in place before backward does not change the gradient.

An index array a VJP needs is copied when it is the caller's own (a Tensor's data, a NumPy array): the
gradient is the forward pass's. ``where``'s condition is saved as the tensor, so a changed condition is
refused, as in PyTorch.
"""

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F


def _x(device):
    rng = np.random.default_rng(0)
    return gk.tensor(rng.standard_normal((3, 4)), device=device, requires_grad=True)


# name -> (index values, loss of (x, index), an in-place change of the index)
CASES = {
    "getitem": ([0, 0, 2], lambda x, i: (x[i] * gk.arange(4.0, device=x.device)).sum()),
    "getitem_mask": ([True, False, True], lambda x, i: (x[i] ** 2).sum()),
    "take": ([0, 5, 5, 11], lambda x, i: (gk.take(x, i) ** 2).sum()),
    "take_along_axis": ([[0], [3], [1]], lambda x, i: (gk.take_along_axis(x, i, axis=1) ** 2).sum()),
    "gather": ([[0, 0], [3, 1], [1, 2]], lambda x, i: (gk.gather(x, 1, i) ** 2).sum()),
    "index_select": ([2, 0, 2], lambda x, i: (gk.index_select(x, 0, i) ** 2).sum()),
    "masked_fill": ([[True, False, True, False]] * 3, lambda x, i: (gk.masked_fill(x, i, 0.0) ** 2).sum()),
    "masked_select": ([[True, False, True, False]] * 3, lambda x, i: (gk.masked_select(x, i) ** 2).sum()),
    "embedding": ([1, 1, 0], lambda x, i: (F.embedding(i, x) ** 2).sum()),
    "nll_loss": ([0, 3, 1], lambda x, i: F.nll_loss(F.log_softmax(x, 1), i)),
    "cross_entropy": ([0, 3, 1], lambda x, i: F.cross_entropy(x, i)),
    "cross_entropy_smoothing": ([0, 3, 1], lambda x, i: F.cross_entropy(x, i, label_smoothing=0.1)),
    "multi_margin_loss": ([0, 3, 1], lambda x, i: F.multi_margin_loss(x, i)),
    "scatter_add_src": ([[0, 0, 1, 2]] * 3, lambda x, i: (gk.scatter_add(gk.zeros((3, 4), dtype=x.dtype,
                                                                                  device=x.device), 1, i, x)
                                                           * gk.arange(4.0, device=x.device)).sum()),
    "bincount_weights": ([0, 2, 2, 1], lambda x, i: (gk.bincount(i, weights=x[0]) * gk.arange(3.0, device=x.device)
                                                     ).sum()),
}


def _change(index):
    """Flip a bool index; move every integer index to another valid one."""
    if index.dtype == gk.bool:
        index.copy_(~index)
    else:
        index.copy_((index + 1) % 3)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("given", ["tensor", "numpy"])
def test_an_index_changed_after_forward_leaves_the_gradient_as_forward_saw_it(device, name, given):
    values, loss = CASES[name]
    if given == "numpy" and device == "cuda":
        pytest.skip("a NumPy index for a GPU tensor is copied to the GPU anyway")
    x = _x(device)
    expected = gk.autograd.grad(loss(x, gk.tensor(values, device=device)), x)[0].numpy()
    index = gk.tensor(values, device=device)
    with gk.device(device):  # a NumPy array goes to the default device (bincount's)
        out = loss(x, index if given == "tensor" else index.numpy())
    _change(index)  # on the CPU index.numpy() shares the tensor's memory: the NumPy index changes too
    got = gk.autograd.grad(out, x)[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_the_numpy_index_case_really_passes_the_callers_array():
    x = _x("cpu")
    index = np.array([0, 0, 2])
    y = (x[index] * gk.arange(4.0, device="cpu")).sum()
    index[:] = 1
    np.testing.assert_array_equal(gk.autograd.grad(y, x)[0].numpy()[:, 1], [2.0, 0.0, 1.0])


def test_no_copy_without_grad_mode():
    index = gk.tensor([0, 2])
    x = gk.arange(6.0).reshape(3, 2)
    with gk.no_grad():
        from gradkit.ops.indexing import _index_array

        assert _index_array(index, x, "getitem") is index._data
    assert _index_array(index, x, "getitem") is not index._data


def test_a_where_condition_changed_after_forward_is_refused(device):
    x = _x(device)
    cond = x.detach() > 0
    y = gk.where(cond, x, 0.0).sum()
    cond.copy_(~cond)
    with pytest.raises(gk.AutogradError, match="where.*modified in place"):
        y.backward()


def test_where_with_a_broadcast_condition_still_sums_gradients_back(device):
    a = gk.ones((2, 3), dtype=gk.float64, device=device, requires_grad=True)
    b = gk.zeros((3,), dtype=gk.float64, device=device, requires_grad=True)
    gk.where(gk.tensor([[True], [False]], device=device), a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[1, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(b.grad.numpy(), [1, 1, 1])
