"""PyTorch's ``dim=``/``keepdim=`` (and ``dims=``, ``start_dim=``, ``correction=``, ...) on gradkit's reductions and
axis-taking functions.

NumPy's spellings keep their meaning exactly (``t.max(1)`` is the values, ``t.var()`` has ddof 0). A call with
PyTorch's keyword is PyTorch's form and returns what PyTorch returns where the two differ: ``(values, indices)`` for
``max``/``min``/``median``/``nanmedian``/``sort`` along one dim (the whole gradient to the returned index),
``correction=1`` for ``var``/``std``, ``squeeze`` leaving axes whose length is not 1, ``split`` by piece sizes.

The first half needs only NumPy (it runs in the NumPy 1.26 CI venv too); the second compares with PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _ties(shape=(3, 4, 5), seed=0) -> np.ndarray:
    """Float64 values with many ties (small integers, halved)."""
    return _rng(seed).integers(-3, 4, size=shape).astype(np.float64) / 2


def _distinct(shape=(3, 4, 5), seed=1) -> np.ndarray:
    """Float64 values without ties."""
    return _rng(seed).permutation(int(np.prod(shape))).reshape(shape).astype(np.float64) / 7 - 3


def _onehot(shape: tuple, ax: int, idx: np.ndarray) -> np.ndarray:
    out = np.zeros(shape)
    np.put_along_axis(out, np.expand_dims(idx, ax), 1.0, axis=ax)
    return out


# ---------------------------------------------------------------------------------- NumPy only
# (name, dims): functions whose PyTorch keywords only rename NumPy's; same values as axis=/keepdims=.
RENAMED = [
    ("sum", [0, -1, (0, 2), None]),
    ("mean", [1, (0, 2)]),
    ("prod", [0, -1]),
    ("logsumexp", [1, (0, 2)]),
    ("amax", [0, (0, 2)]),
    ("amin", [-1]),
    ("nansum", [0, (1, 2)]),
    ("nanmean", [2]),
    ("all", [0, (0, 2)]),
    ("any", [1]),
    ("argmax", [0, -1, None]),
    ("argmin", [1]),
]


@pytest.mark.parametrize("name,dims", RENAMED)
def test_dim_and_keepdim_name_numpys_axis_and_keepdims(device, name, dims):
    t = gk.tensor(_ties(), device=device)
    for dim in dims:
        for keep in (False, True):
            expected = getattr(gk, name)(t, axis=dim, keepdims=keep).numpy()
            for out in (getattr(gk, name)(t, dim=dim, keepdim=keep), getattr(t, name)(dim=dim, keepdim=keep)):
                np.testing.assert_array_equal(out.numpy(), expected, err_msg=f"{name} dim={dim} keepdim={keep}")
                assert out.dtype == expected.dtype
    # a list of dims is a tuple; dim alone and keepdim alone
    np.testing.assert_array_equal(gk.sum(t, dim=[0, 2]).numpy(), t.numpy().sum((0, 2)))
    np.testing.assert_array_equal(t.sum(1, keepdim=True).numpy(), t.numpy().sum(1, keepdims=True))


def test_empty_dim_tuple_is_every_axis_where_pytorch_says_so(device):
    a = _ties()
    t = gk.tensor(a, device=device)
    for name in ("sum", "mean", "amax", "nansum", "var", "count_nonzero"):
        np.testing.assert_allclose(getattr(t, name)(dim=()).numpy(), getattr(t, name)(dim=None).numpy(), err_msg=name)
    np.testing.assert_allclose(t.norm(dim=()).numpy(), np.sqrt((a * a).sum()))
    np.testing.assert_array_equal(t.all(dim=()).numpy(), a != 0)  # PyTorch's all(dim=()) reduces nothing
    np.testing.assert_array_equal(t.sum(axis=()).numpy(), a)  # NumPy's axis=() is still no axis


def test_running_softmax_quantile_norm_take_dim(device):
    a = _distinct()
    t = gk.tensor(a, device=device)
    exact = {"rtol": 1e-15 if device == "cuda" else 0, "atol": 0}  # a GPU's scan adds in its own order
    np.testing.assert_allclose(t.cumsum(dim=1).numpy(), np.cumsum(a, 1), **exact)
    np.testing.assert_allclose(gk.cumprod(t, dim=-1).numpy(), np.cumprod(a, -1), **exact)
    np.testing.assert_allclose(t.softmax(dim=0).numpy(), gk.softmax(t, 0).numpy())
    np.testing.assert_allclose(gk.log_softmax(t, dim=1).numpy(), gk.log_softmax(t, 1).numpy())
    np.testing.assert_allclose(t.quantile(0.3, dim=1, keepdim=True).numpy(), np.quantile(a, 0.3, 1, keepdims=True))
    np.testing.assert_allclose(gk.nanquantile(t, [0.2, 0.9], dim=0).numpy(), np.nanquantile(a, [0.2, 0.9], 0))
    np.testing.assert_allclose(t.norm(p=1, dim=(0, 2), keepdim=True).numpy(), np.abs(a).sum((0, 2), keepdims=True))
    np.testing.assert_allclose(t.norm(p="fro", dim=(1, 2)).numpy(), np.sqrt((a * a).sum((1, 2))))
    np.testing.assert_array_equal(gk.count_nonzero(t, dim=(0, 2)).numpy(), np.count_nonzero(a, (0, 2)))


def test_max_min_with_dim_are_values_and_the_first_index(device):
    a = _ties()
    t = gk.tensor(a, device=device, requires_grad=True)
    for name, ax in (("max", 1), ("min", -1), ("max", 0)):
        for keep in (False, True):
            r = getattr(t, name)(dim=ax, keepdim=keep)
            assert isinstance(r, getattr(gk.return_types, name)) and isinstance(r, gk.return_types.ValuesIndices)
            values, indices = r  # unpacks as a tuple
            assert values is r.values and indices is r.indices
            np.testing.assert_array_equal(values.numpy(), getattr(np, name)(a, ax, keepdims=keep))
            np.testing.assert_array_equal(indices.numpy(), getattr(np, "arg" + name)(a, ax, keepdims=keep))
            assert indices.dtype == np.int64 and values.dtype == np.float64
    assert repr(t.max(dim=0)).startswith("max(values=tensor(")


def test_max_with_dim_sends_the_whole_gradient_to_the_returned_index(device):
    # unlike max() without dim (and amax), which share a tie's gradient among the tied elements
    a = np.array([[2.0, 1.0, 2.0, 2.0], [0.0, 5.0, 3.0, 5.0]])
    t = gk.tensor(a, device=device, requires_grad=True)
    t.max(dim=1).values.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[1, 0, 0, 0], [0, 1, 0, 0]])
    t.grad = None
    t.max(1).sum().backward()  # NumPy's form: ties share
    np.testing.assert_allclose(t.grad.numpy(), [[1 / 3, 0, 1 / 3, 1 / 3], [0, 0.5, 0, 0.5]])
    t.grad = None
    gk.amax(t, dim=1).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [[1 / 3, 0, 1 / 3, 1 / 3], [0, 0.5, 0, 0.5]])
    b = _ties(seed=3)
    u = gk.tensor(b, device=device, requires_grad=True)
    g = _rng(4).standard_normal((3, 1, 5))
    u.min(dim=1, keepdim=True).values.backward(gk.tensor(g, device=device))
    np.testing.assert_array_equal(u.grad.numpy(), _onehot(b.shape, 1, np.argmin(b, 1)) * g)


def test_values_and_indices_gradcheck_first_and_second_order(device):
    t = gk.tensor(_distinct((3, 5)), device=device, requires_grad=True)
    for f in (
        lambda x: gk.max(x, dim=1).values * x[:, :1].squeeze(1),
        lambda x: x.min(dim=0, keepdim=True).values ** 2,
        lambda x: x.median(dim=1).values.exp(),
        lambda x: x.sort(dim=0, descending=True).values * x,
        lambda x: x.var(dim=1) + x.std(dim=0, keepdim=True).sum(),
    ):
        assert gk.gradcheck(f, (t,))
        assert gk.gradcheck(lambda x, f=f: gk.grad(lambda y: (f(y) ** 2).sum())(x), (t,))


def test_max_with_dim_edges(device):
    s = gk.tensor(3.0, device=device, requires_grad=True)
    v, i = s.max(dim=0)  # PyTorch: dim 0 or -1 of a 0-d tensor
    assert v.shape == () and i.shape == () and int(i.item()) == 0 and float(v.item()) == 3.0
    v.backward()
    assert float(s.grad.item()) == 1.0
    v, i = gk.tensor([1.0, 7.0, 7.0], device=device).max(dim=-1)  # 1-d: 0-d results
    assert v.shape == () and int(i.item()) == 1
    v, i = gk.tensor([[1.0, np.nan, 3.0, np.nan]], device=device).max(dim=1)  # the first NaN
    assert np.isnan(v.numpy()).all() and i.numpy().tolist() == [1]
    v, i = gk.zeros((0, 3), device=device).max(dim=1)  # empty rows elsewhere: empty results
    assert v.shape == (0,) and i.shape == (0,) and i.dtype == np.int64
    with pytest.raises(gk.ShapeError, match="max"):
        gk.zeros((0, 3), device=device).max(dim=0)
    v, i = gk.tensor([[1, 5, 5]], device=device).max(dim=1)  # integers keep their dtype
    assert v.dtype == np.int64 and v.numpy().tolist() == [5] and i.numpy().tolist() == [1]
    v, i = gk.tensor([[True, False]], device=device).min(dim=1)
    assert v.dtype == np.bool_ and i.numpy().tolist() == [1]
    whole = gk.tensor(_ties(), device=device)
    assert isinstance(whole.max(keepdim=True), gk.Tensor) and whole.max(keepdim=True).shape == (1, 1, 1)


def test_median_with_dim_is_pytorchs_lower_median_and_its_index(device):
    a = _distinct((4, 6))
    t = gk.tensor(a, device=device, requires_grad=True)
    v, i = t.median(dim=1)
    lower = np.sort(a, 1)[:, (6 - 1) // 2]
    np.testing.assert_array_equal(v.numpy(), lower)
    np.testing.assert_array_equal(np.take_along_axis(a, i.numpy()[:, None], 1)[:, 0], lower)
    v.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), _onehot(a.shape, 1, i.numpy()))
    np.testing.assert_array_equal(t.median(dim=0, keepdim=True).values.numpy(), np.sort(a, 0)[1:2])
    assert t.median().numpy() == np.median(a)  # NumPy's form: the mean of the two middle values
    assert float(t.median(dim=None).item()) == np.sort(a, None)[(a.size - 1) // 2]  # torch.median()
    nan = gk.tensor([[3.0, np.nan, 1.0, np.nan], [4.0, 2.0, 9.0, 1.0]], device=device)
    v, i = nan.median(dim=1)  # a slice with a NaN: NaN and its first NaN
    assert np.isnan(v.numpy()[0]) and i.numpy().tolist() == [1, 1]
    v, i = nan.nanmedian(dim=1)  # the values that are not NaN
    assert v.numpy().tolist() == [1.0, 2.0] and i.numpy().tolist() == [2, 1]
    v, i = gk.tensor([[np.nan, np.nan], [1.0, 2.0]], device=device).nanmedian(dim=1)
    assert np.isnan(v.numpy()[0]) and i.numpy()[0] in (0, 1)
    v, i = gk.tensor([[1, 5, 4, 2]], device=device).median(dim=1)  # integers: the lower one, their dtype
    assert v.dtype == np.int64 and v.numpy().tolist() == [2] and i.numpy().tolist() == [3]


def test_median_over_every_axis_shares_ties_as_torch_median(device):
    t = gk.tensor([[1.0, 2.0], [2.0, 3.0]], device=device, requires_grad=True)
    v = gk.median(t, dim=None)
    assert float(v.item()) == 2.0
    v.backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[0, 0.5], [0.5, 0]])


def test_var_and_std_with_dim_default_to_correction_1(device):
    a = _distinct()
    t = gk.tensor(a, device=device)
    np.testing.assert_allclose(t.var(dim=1).numpy(), np.var(a, 1, ddof=1))
    np.testing.assert_allclose(t.std(dim=(0, 2), keepdim=True).numpy(), np.std(a, (0, 2), ddof=1, keepdims=True))
    np.testing.assert_allclose(gk.var(t, dim=None).numpy(), np.var(a, ddof=1))
    np.testing.assert_allclose(t.var(1, keepdim=True).numpy(), np.var(a, 1, ddof=1, keepdims=True))
    np.testing.assert_allclose(t.var(dim=1, correction=0).numpy(), np.var(a, 1))
    np.testing.assert_allclose(t.var(dim=1, ddof=0).numpy(), np.var(a, 1))  # a ddof written out is kept
    np.testing.assert_allclose(t.std(dim=1, unbiased=False).numpy(), np.std(a, 1))
    np.testing.assert_allclose(t.var(dim=0, correction=2).numpy(), np.var(a, 0, ddof=2))
    # without dim: NumPy's ddof=0, and PyTorch's correction/unbiased keywords when given
    np.testing.assert_allclose(t.var().numpy(), np.var(a))
    np.testing.assert_allclose(t.var(1).numpy(), np.var(a, 1))
    np.testing.assert_allclose(t.var(correction=1).numpy(), np.var(a, ddof=1))
    np.testing.assert_allclose(gk.std(t, 0, unbiased=True).numpy(), np.std(a, 0, ddof=1))


def test_sort_argsort_topk_with_dim(device):
    a = _ties((4, 5))
    t = gk.tensor(a, device=device, requires_grad=True)
    r = t.sort(dim=0, descending=True)
    assert isinstance(r, gk.return_types.sort)
    order = np.argsort(-a, 0, kind="stable")
    np.testing.assert_array_equal(r.indices.numpy(), order)
    np.testing.assert_array_equal(r.values.numpy(), np.take_along_axis(a, order, 0))
    np.testing.assert_array_equal(gk.sort(t, stable=True).indices.numpy(), np.argsort(a, -1, kind="stable"))
    np.testing.assert_array_equal(t.argsort(dim=0, stable=True).numpy(), np.argsort(a, 0, kind="stable"))
    v, i = gk.tensor(2.0, device=device).sort(dim=0)
    assert v.shape == () and int(i.item()) == 0
    r = t.topk(2, dim=0, sorted=True)
    assert isinstance(r, gk.return_types.topk) and r.values.shape == (2, 5)
    np.testing.assert_array_equal(r.indices.numpy(), gk.topk(t, 2, 0)[1].numpy())
    g = _rng(2).standard_normal((4, 5))
    t.sort(dim=1).values.backward(gk.tensor(g, device=device))
    order = np.argsort(a, 1, kind="stable")
    expected = np.zeros_like(a)
    np.put_along_axis(expected, order, g, 1)
    np.testing.assert_array_equal(t.grad.numpy(), expected)


def test_shape_functions_take_pytorchs_keywords(device):
    a = _distinct((2, 1, 3, 1))
    t = gk.tensor(a, device=device)
    assert t.squeeze(dim=0).shape == (2, 1, 3, 1)  # PyTorch: an axis of length 2 stays
    assert t.squeeze(dim=(0, 1, 3)).shape == (2, 3)
    assert gk.squeeze(t, dim=-1).shape == (2, 1, 3)
    assert t.unsqueeze(dim=1).shape == (2, 1, 1, 3, 1) and gk.unsqueeze(t, dim=-1).shape == (2, 1, 3, 1, 1)
    assert t.flatten(start_dim=1).shape == (2, 3) and gk.flatten(t, start_dim=1, end_dim=2).shape == (2, 3, 1)
    assert gk.stack([t, t], dim=-1).shape == (2, 1, 3, 1, 2) and gk.concatenate([t, t], dim=2).shape == (2, 1, 6, 1)
    np.testing.assert_array_equal(gk.flip(t, dims=[0, 2]).numpy(), np.flip(a, (0, 2)))
    np.testing.assert_array_equal(gk.flip(t, dims=2).numpy(), np.flip(a, 2))
    np.testing.assert_array_equal(gk.roll(t, shifts=1, dims=2).numpy(), np.roll(a, 1, 2))
    np.testing.assert_array_equal(t.roll(shifts=(1, 1), dims=(0, 2)).numpy(), np.roll(a, (1, 1), (0, 2)))
    np.testing.assert_array_equal(gk.roll(t, shifts=2).numpy(), np.roll(a, 2))
    np.testing.assert_array_equal(t.diff(dim=2).numpy(), np.diff(a, axis=2))
    b = _distinct((3, 5))
    u = gk.tensor(b, device=device)
    idx = np.array([[0, 4], [2, 2], [1, 3]])
    np.testing.assert_array_equal(
        gk.gather(u, dim=1, index=gk.tensor(idx, device=device)).numpy(), np.take_along_axis(b, idx, 1)
    )
    picked = gk.index_select(u, dim=1, index=gk.tensor([4, 0], device=device))
    np.testing.assert_array_equal(picked.numpy(), b[:, [4, 0]])
    assert [p.shape for p in u.chunk(2, dim=1)] == [(3, 3), (3, 2)]


def test_split_with_dim_is_torch_split(device):
    t = gk.tensor(np.arange(10.0).reshape(2, 5), device=device, requires_grad=True)
    pieces = gk.split(t, 2, dim=1)  # pieces of 2, the last shorter
    assert isinstance(pieces, tuple) and [p.shape for p in pieces] == [(2, 2), (2, 2), (2, 1)]
    pieces = gk.split(t, [1, 4], dim=-1)  # the sizes
    assert [p.shape for p in pieces] == [(2, 1), (2, 4)]
    (pieces[1] * 2).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[0, 2, 2, 2, 2]] * 2)
    assert [p.shape for p in gk.split(gk.zeros(0, device=device), 2, dim=0)] == [(0,)]
    assert [p.shape for p in gk.split(t, 5, dim=1)] == [(2, 5)]
    with pytest.raises(gk.ShapeError, match="split"):
        gk.split(t, [1, 2], dim=1)
    with pytest.raises(gk.InvalidArgumentError, match="split"):
        gk.split(t, 0, dim=1)


def test_numpy_spellings_keep_their_meaning(device):
    a = _ties((2, 4))
    t = gk.tensor(a, device=device)
    out = t.max(1)  # NumPy's axis, positionally: the values (a batch of 2 must not unpack into values, indices)
    assert isinstance(out, gk.Tensor) and out.shape == (2,)
    assert isinstance(gk.max(t, 1, True), gk.Tensor) and isinstance(t.min(axis=0), gk.Tensor)
    assert isinstance(t.median(1), gk.Tensor) and isinstance(t.sort(1), gk.Tensor)
    np.testing.assert_allclose(t.var(1).numpy(), np.var(a, 1))  # ddof 0
    np.testing.assert_allclose(t.std().numpy(), np.std(a))
    np.testing.assert_allclose(t.median(0).numpy(), np.median(a, 0))  # mean of the two middle values
    with pytest.raises(gk.ShapeError):
        t.squeeze(0)  # NumPy: an axis whose length is not 1
    assert isinstance(gk.split(t, 2, 1), list) and [p.shape for p in gk.split(t, 2, 1)] == [(2, 2), (2, 2)]
    assert isinstance(gk.topk(t, 2), tuple)
    with pytest.raises(TypeError) as info:
        t.sum(foo=1)  # an unknown keyword is still Python's own TypeError
    assert not isinstance(info.value, gk.GradkitError)


CONFLICTS = [
    ("sum", lambda t: t.sum(1, dim=1)),
    ("sum", lambda t: gk.sum(t, keepdims=True, keepdim=True)),
    ("mean", lambda t: t.mean(axis=0, dim=0)),
    ("max", lambda t: t.max(0, dim=1)),
    ("amax", lambda t: gk.amax(t, 0, dim=1)),
    ("argmax", lambda t: t.argmax(0, dim=0)),
    ("var", lambda t: t.var(0, dim=0)),
    ("var", lambda t: t.var(dim=0, ddof=1, correction=1)),
    ("std", lambda t: t.std(dim=0, correction=1, unbiased=True)),
    ("std", lambda t: gk.std(t, ddof=1, unbiased=True)),
    ("median", lambda t: t.median(keepdims=True, keepdim=True)),
    ("nanquantile", lambda t: t.nanquantile(0.5, 1, dim=1)),
    ("norm", lambda t: t.norm(1, p=1)),
    ("cumsum", lambda t: t.cumsum(0, dim=0)),
    ("softmax", lambda t: t.softmax(0, dim=0)),
    ("log_softmax", lambda t: gk.log_softmax(t, 0, dim=1)),
    ("squeeze", lambda t: t.squeeze(0, dim=0)),
    ("unsqueeze", lambda t: t.unsqueeze(0, dim=0)),
    ("flatten", lambda t: t.flatten(1, start_dim=1)),
    ("sort", lambda t: t.sort(0, dim=0)),
    ("argsort", lambda t: t.argsort(0, dim=0)),
    ("topk", lambda t: t.topk(1, 0, dim=0)),
    ("stack", lambda t: gk.stack([t, t], 1, dim=1)),
    ("concatenate", lambda t: gk.concatenate([t, t], 1, dim=1)),
    ("split", lambda t: gk.split(t, 2, 1, dim=1)),
    ("flip", lambda t: gk.flip(t, 0, dims=0)),
    ("roll", lambda t: gk.roll(t, 1, shifts=1)),
    ("roll", lambda t: t.roll(1, 0, dims=0)),
    ("diff", lambda t: t.diff(1, 0, dim=0)),
    ("gather", lambda t: gk.gather(t, 0, gk.zeros((1, 4), dtype=gk.int64, device=t.device), dim=0)),
]


@pytest.mark.parametrize("name,call", CONFLICTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFLICTS)])
def test_numpy_and_pytorch_names_together_are_refused(device, name, call):
    t = gk.tensor(_ties((2, 4)), device=device)
    with pytest.raises(gk.InvalidArgumentError, match=f"^{name}: "):
        call(t)


def test_other_bad_pytorch_keywords(device):
    t = gk.tensor(_ties((2, 4)), device=device)
    with pytest.raises(gk.InvalidArgumentError, match="max: dim must be one int"):
        t.max(dim=(0, 1))
    with pytest.raises(gk.InvalidArgumentError, match="median: dim must be one int"):
        t.median(dim=[0, 1])
    with pytest.raises(gk.ArgumentTypeError, match="unbiased"):
        t.var(dim=0, unbiased="yes")
    with pytest.raises(gk.ArgumentTypeError, match="stable"):
        t.sort(dim=0, stable="no")
    with pytest.raises(gk.ArgumentTypeError, match="gather: missing"):
        gk.gather(t, index=gk.zeros((1, 4), dtype=gk.int64, device=device))
    with pytest.raises(gk.ArgumentTypeError, match="unsqueeze: missing"):
        t.unsqueeze()
    with pytest.raises(gk.IndexOutOfRangeError, match="max"):
        t.max(dim=2)


# ---------------------------------------------------------------------------------- parity with PyTorch
def _torch():
    return pytest.importorskip("torch")


def _close(got, expected, what):
    expected = expected.detach().cpu().numpy()
    got = got.numpy()
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, PyTorch gives {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, PyTorch gives {expected.dtype}"
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=what)


# (method, keyword arguments PyTorch takes, data): values, indices and gradients compared with PyTorch.
CASES = [("sum", {"dim": d}, "ties") for d in (0, -1, (0, 2), [1, 2], (), None)]
CASES += [("mean", {"dim": d}, "ties") for d in (1, (0, 2), ())]
CASES += [("nansum", {"dim": d}, "nan") for d in (0, (1, 2))] + [("nanmean", {"dim": d}, "nan") for d in (2, (0, 1))]
CASES += [("prod", {"dim": d}, "ties") for d in (0, -1)]
CASES += [("logsumexp", {"dim": d}, "ties") for d in (1, (0, 2))]
CASES += [(f, {"dim": d}, "ties") for f in ("amax", "amin") for d in (0, (0, 2), ())]
CASES += [(f, {"dim": d}, "ties") for f in ("max", "min") for d in (0, 1, -1)]
CASES += [(f, {"dim": d}, "ties") for f in ("argmax", "argmin") for d in (0, -1, None)]
CASES += [(f, {"dim": d}, "distinct") for f in ("var", "std") for d in (0, (0, 2), None, ())]
CASES += [("var", {"dim": 1, "correction": 0}, "distinct"), ("std", {"dim": 1, "unbiased": False}, "distinct")]
CASES += [("var", {"dim": 2, "correction": 2}, "distinct")]
CASES += [(f, {"dim": d}, "distinct") for f in ("median", "nanmedian") for d in (0, -1)]
CASES += [("nanmedian", {"dim": 1}, "nan")]
CASES += [("quantile", {"q": 0.3, "dim": d}, "distinct") for d in (0, -1, None)]
CASES += [("nanquantile", {"q": 0.7, "dim": 1}, "nan")]
CASES += [("norm", {"p": p, "dim": d}, "distinct") for p, d in ((2, 1), (1, (0, 2)), (float("inf"), 2), ("fro", ()))]
CASES += [(f, {"dim": d}, "distinct") for f in ("cumsum", "cumprod", "softmax", "log_softmax") for d in (0, -1)]
CASES += [("sort", {"dim": d, "descending": desc, "stable": True}, "ties") for d in (0, -1) for desc in (False, True)]
CASES += [("argsort", {"dim": 1, "descending": True, "stable": True}, "ties")]
CASES += [("topk", {"k": 2, "dim": d, "largest": big}, "distinct") for d in (0, -1) for big in (True, False)]
CASES += [("all", {"dim": d}, "ties") for d in (0, (0, 2))] + [("any", {"dim": 1}, "ties")]
CASES += [("count_nonzero", {"dim": d}, "ties") for d in (0, (0, 2), None, ())]
CASES += [("diff", {"dim": d}, "distinct") for d in (0, -1)]
KEEPDIM = {"sum", "mean", "nansum", "nanmean", "prod", "logsumexp", "amax", "amin", "max", "min", "argmax", "argmin",
           "var", "std", "median", "nanmedian", "quantile", "nanquantile", "norm", "all", "any"}  # fmt: skip


def _data(kind: str) -> np.ndarray:
    if kind == "ties":
        return _ties()
    a = _distinct()
    if kind == "nan":
        a[0, 1, 2] = a[2, 3, 0] = a[1, 0, 4] = np.nan
    return a


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=[f"{n}-{k}-{d}" for n, k, d in CASES])
def test_same_as_pytorch(device, name, kwargs, kind):
    torch = _torch()
    a = _data(kind)
    for keep in (False, True) if name in KEEPDIM else (None,):
        kw = dict(kwargs) if keep is None else {**kwargs, "keepdim": keep}
        t = gk.tensor(a, device=device, requires_grad=True)
        tt = torch.tensor(a, requires_grad=True)
        if name in ("all", "any", "count_nonzero"):
            out, ref = getattr(gk, name)(t != 0, **kw), getattr(torch, name)(tt != 0, **kw)
        else:
            tkw = {**kw, "q": torch.tensor(kw["q"], dtype=torch.float64)} if "q" in kw else kw
            out, ref = getattr(t, name)(**kw), getattr(tt, name)(**tkw)
            same_fn = getattr(gk, name)(t, **kw)
            first = same_fn[0] if isinstance(same_fn, tuple) else same_fn
            np.testing.assert_array_equal(first.numpy(), (out[0] if isinstance(out, tuple) else out).numpy())
        what = f"{name}({kw})"
        if isinstance(ref, tuple):  # torch.return_types: (values, indices)
            assert type(out).__name__ == type(ref).__name__ and out._fields == ("values", "indices"), what
            _close(out.values, ref.values, what + " values")
            _close(out.indices, ref.indices, what + " indices")
            out, ref = out.values, ref.values
        else:
            _close(out, ref, what)
        if not ref.requires_grad or (name in ("var", "std") and kw["dim"] == ()):
            continue  # PyTorch's var(dim=()) reduces every axis, but its backward takes no axis (inf slopes)
        g = _rng(7).standard_normal(ref.shape)
        out.backward(gk.tensor(g, device=device))
        ref.backward(torch.tensor(g))
        np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=what + " gradient")


def test_max_min_median_with_dim_on_ties_match_pytorch(device):
    torch = _torch()
    a = _ties((6, 7), seed=5)
    for name in ("max", "min", "median"):
        for dim in (0, 1):
            t = gk.tensor(a, device=device, requires_grad=True)
            tt = torch.tensor(a, requires_grad=True)
            out, ref = getattr(t, name)(dim=dim), getattr(tt, name)(dim=dim)
            _close(out.values, ref.values, name)
            if name != "median":  # PyTorch's max/min: the first index; which tied median it takes is its own
                _close(out.indices, ref.indices, name)
            got = np.take_along_axis(a, np.expand_dims(out.indices.numpy(), dim), dim).squeeze(dim)
            np.testing.assert_array_equal(got, out.values.numpy())
            out.values.sum().backward()
            # the whole gradient to the returned index, as PyTorch's
            np.testing.assert_array_equal(t.grad.numpy(), _onehot(a.shape, dim, out.indices.numpy()))
            if name != "median":
                ref.values.sum().backward()
                np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())


def test_shape_functions_match_pytorch(device):
    torch = _torch()
    a = _distinct((2, 1, 3, 1))
    t, tt = gk.tensor(a, device=device), torch.tensor(a)
    for dim in (0, 1, (0, 1, 3), -1):
        _close(t.squeeze(dim=dim), tt.squeeze(dim=dim), f"squeeze({dim})")
    _close(t.unsqueeze(dim=2), tt.unsqueeze(dim=2), "unsqueeze")
    _close(t.flatten(start_dim=1, end_dim=2), tt.flatten(start_dim=1, end_dim=2), "flatten")
    _close(gk.flip(t, dims=[0, 2]), torch.flip(tt, dims=[0, 2]), "flip")
    _close(gk.roll(t, shifts=(1, 2), dims=(0, 2)), torch.roll(tt, shifts=(1, 2), dims=(0, 2)), "roll")
    _close(gk.roll(t, shifts=1), torch.roll(tt, shifts=1), "roll flat")
    _close(gk.stack([t, t], dim=1), torch.stack([tt, tt], dim=1), "stack")
    _close(gk.concatenate([t, t], dim=2), torch.cat([tt, tt], dim=2), "concatenate")
    b = np.arange(14.0).reshape(2, 7)
    for sizes in (3, [2, 5], 7):
        got, ref = gk.split(gk.tensor(b, device=device), sizes, dim=1), torch.split(torch.tensor(b), sizes, dim=1)
        assert len(got) == len(ref)
        for p, q in zip(got, ref, strict=True):
            _close(p, q, f"split({sizes})")
    idx = np.array([[0, 6], [3, 3]])
    _close(gk.gather(gk.tensor(b, device=device), dim=1, index=gk.tensor(idx, device=device)),
           torch.gather(torch.tensor(b), dim=1, index=torch.tensor(idx)), "gather")  # fmt: skip
    s = gk.tensor(2.5, device=device)
    for name in ("max", "min", "median", "sort"):
        got, ref = getattr(s, name)(dim=0), getattr(torch.tensor(2.5, dtype=torch.float64), name)(dim=0)
        assert type(got).__name__ == type(ref).__name__
        assert got.values.shape == tuple(ref.values.shape) and int(got.indices.item()) == int(ref.indices.item())
