"""Small fixes of the eighteenth session."""

import numpy as np

import gradkit as gk


def test_a_tensor_that_requires_grad_does_not_share_the_callers_array(device):
    start = np.array([1.0, 2.0, 3.0])
    p = gk.tensor(start, device=device, requires_grad=True)
    opt = gk.optim.SGD([p], lr=1.0)
    (p * 2).sum().backward()
    opt.step()
    np.testing.assert_array_equal(start, [1.0, 2.0, 3.0])  # the starting guess is kept, as with torch.tensor
    np.testing.assert_array_equal(p.numpy(), [-1.0, 0.0, 1.0])
    q = gk.tensor(p.detach(), requires_grad=True)
    with gk.no_grad():
        q.add_(1.0)
    np.testing.assert_array_equal(p.numpy(), [-1.0, 0.0, 1.0])


def test_without_grad_a_numpy_array_is_still_used_as_it_is():
    data = np.arange(6.0).reshape(2, 3)
    t = gk.tensor(data, device="cpu")  # (on a GPU default device the array is copied there)
    data[0, 0] = 10.0
    assert t[0, 0].item() == 10.0
    assert gk.from_numpy(data).requires_grad_()._data is data  # from_numpy shares, as PyTorch's


def test_reduce_lr_on_plateau_takes_a_one_element_metric_as_pytorch(device):
    p = gk.zeros(1, device=device, requires_grad=True)
    opt = gk.optim.SGD([p], lr=1.0)
    sched = gk.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    for metric in (gk.tensor([1.0], device=device), np.array([[1.0]]), gk.tensor(1.0, device=device)):
        sched.step(metric)
    assert opt.param_groups[0]["lr"] == 0.25
    try:
        sched.step(gk.tensor([1.0, 2.0], device=device))
    except gk.ArgumentTypeError as exc:
        assert "one-element tensor" in str(exc)
    else:
        raise AssertionError("a two-element metric was taken")


class _Batched(gk.data.Dataset):
    """A dataset with PyTorch's batched read; its per-sample read is not used by the DataLoader."""

    def __init__(self):
        self.calls = []

    def __len__(self):
        return 10

    def __getitem__(self, i):
        raise AssertionError("read sample by sample")

    def __getitems__(self, indices):
        self.calls.append(list(indices))
        return [{"x": np.float64(i) * 2, "i": i} for i in indices]


def test_the_data_loader_reads_a_batch_with_getitems():
    data = _Batched()
    batches = list(gk.data.DataLoader(data, batch_size=4))
    assert data.calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(batches[2]["x"].numpy(), [16.0, 18.0])
    data.calls.clear()
    sub = gk.data.Subset(data, [9, 0, 3])
    list(gk.data.DataLoader(sub, batch_size=2, sampler=gk.data.SequentialSampler(sub)))
    assert data.calls == [[9, 0], [3]]
    data.calls.clear()
    out = list(gk.data.DataLoader(data, batch_size=5, collate_fn=lambda items: len(items), num_workers=2))
    assert out == [5, 5] and sorted(map(tuple, data.calls)) == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)]


def test_alpha_scales_other_in_the_result_dtype(device):
    x = gk.tensor([0.0], dtype=gk.float32, device=device)
    small = gk.tensor([100], dtype=gk.int8, device=device)
    assert x.sub(small, alpha=2).tolist() == [-200.0]  # not 2 * int8 100 wrapped to -56
    assert gk.tensor([0], device=device).sub(small, alpha=2).tolist() == [-200]
    w = gk.tensor([1.0, 2.0], dtype=gk.float64, device=device, requires_grad=True)
    gk.tensor([1, 1], device=device).add(w, alpha=3).sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_an_integer_result_goes_into_any_integer_tensor_in_place_as_pytorch(device):
    u = gk.tensor([3], dtype=gk.uint8, device=device)
    u.mul_(gk.tensor([-1], dtype=gk.int8, device=device))
    assert u.tolist() == [253]
    u.multiply_(gk.tensor([-1], dtype=gk.int8, device=device))
    assert u.tolist() == [3]
    u -= gk.tensor([5], dtype=gk.int16, device=device)
    assert u.tolist() == [254]
    i = gk.tensor([1], device=device)
    for bad in (lambda: i.div_(gk.tensor([2], device=device)), lambda: i.add_(gk.tensor([1.5], device=device)),
                lambda: gk.tensor([True], device=device).add_(gk.tensor([2], device=device))):
        try:
            bad()
        except gk.DTypeError:
            continue
        raise AssertionError("a float or integer result was stored in an integer or bool tensor")


def test_bernoulli_refuses_probabilities_outside_zero_one_as_pytorch(device):
    for bad in (1.5, -0.1, float("nan")):
        try:
            gk.full((3,), bad, device=device).bernoulli()
        except gk.InvalidArgumentError as exc:
            assert "[0, 1]" in str(exc)
        else:
            raise AssertionError(f"bernoulli took probability {bad}")
    draws = gk.full((1000,), 0.25, dtype=gk.float64, device=device).bernoulli()
    assert set(np.unique(draws.numpy()).tolist()) <= {0.0, 1.0}


def test_pytorchs_dtype_names():
    assert (gk.long, gk.double, gk.half, gk.short, gk.float, gk.int) == (
        gk.int64, gk.float64, gk.float16, gk.int16, gk.float32, gk.int32)
    namespace: dict = {}
    exec("from gradkit import *", namespace)
    assert "float" not in namespace and "int" not in namespace and namespace["long"] == gk.int64


def test_size_is_numpys_count_and_pytorchs_method(device):
    import pickle

    x = gk.zeros((2, 3, 4), device=device)
    assert x.size == 24 and isinstance(x.size, int) and x.size + 1 == 25
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    batch, steps, channels = x.size()
    assert (batch, steps, channels) == (2, 3, 4)
    assert type(pickle.loads(pickle.dumps(x.size))) is int
    assert gk.zeros((), device=device).size() == () and gk.zeros((), device=device).size == 1
    try:
        x.size(3)
    except gk.IndexOutOfRangeError:
        pass
    else:
        raise AssertionError("size(3) of a 3-d tensor was taken")
