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


# ------------------------------------------------------------------ topk: selection against a full stable sort
TOPK_DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


def _topk_pool(dtype):
    """A few values, so that ties are many; for floats NaNs of both signs, -0.0 and 0.0, infinities,
    subnormals and the extremes."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.array([False, True])
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.array(sorted({info.min, info.min + 1, 0, 1, 2, info.max - 1, info.max}), dtype=dtype)
    fi = np.finfo(dtype)
    values = [
        np.nan,
        -np.nan,
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        1.0,
        -1.0,
        1.5,
        fi.smallest_subnormal,
        -fi.smallest_subnormal,
        fi.max,
        fi.min,
        fi.tiny,
    ]
    return np.array(values, dtype=dtype)


def _stable_order_reference(a, axis, largest):
    """The order of Python's stable ``sorted`` along ``axis``: NaN the largest value (first when
    ``largest``, last otherwise), -0.0 equal to 0.0, ties in index order. A row's keys are made in one
    pass over its Python numbers (``tolist``: exact ints and floats), not one NumPy scalar at a time: the
    hypothesis test sorts some 30,000 rows."""
    moved = np.moveaxis(a, axis, -1)
    order = np.empty(moved.shape, dtype=np.int64)
    for row in np.ndindex(moved.shape[:-1]):
        values = moved[row].tolist()
        if a.dtype.kind != "f":
            keys = [-int(x) for x in values] if largest else [int(x) for x in values]
        elif largest:
            keys = [(x == x, 0.0 if x != x else -x) for x in values]  # x != x: NaN
        else:
            keys = [(x != x, 0.0 if x != x else x) for x in values]
        order[row] = sorted(range(len(values)), key=keys.__getitem__)
    return np.moveaxis(order, -1, axis)


TOPK_POLICIES = ["default", "select", "select_sort"]


def _set_topk_policy(monkeypatch, policy):
    """``default``: topk as shipped (it sorts small inputs whole); ``select``: selection for every dtype
    it can take and every size, with the partition whenever k is at most half the axis; ``select_sort``:
    selection with one sort of the joined keys instead of the partition."""
    from gradkit.ops import indexing

    if policy != "default":
        monkeypatch.setattr(indexing, "_SELECT_MIN_LENGTH", (1, 1))
        monkeypatch.setattr(indexing, "_SELECT_MIN_SIZE", (0, 0))
        monkeypatch.setattr(indexing, "_WIDE_SELECT_MAX_FRACTION", 1.0)
        monkeypatch.setattr(indexing, "_PARTITION_MIN_LENGTH", 1 if policy == "select" else 2**40)


@pytest.fixture(params=TOPK_POLICIES)
def topk_policy(request, monkeypatch):
    """One of TOPK_POLICIES (_set_topk_policy) for the whole test."""
    _set_topk_policy(monkeypatch, request.param)
    return request.param


def _check_topk(a, k, axis, largest, device, order=None):
    """gk.topk's values and indices are the first k of the stable order, bit for bit."""
    if order is None:
        order = _stable_order_reference(a, axis, largest)
    expected_idx = np.take(order, np.arange(k), axis=axis)
    expected = np.take_along_axis(a, expected_idx, axis=axis)
    values, indices = gk.topk(gk.tensor(a, device=device), k, axis=axis, largest=largest)
    got_idx, got = indices.numpy(), values.numpy()
    assert got_idx.dtype == np.int64 and got.dtype == a.dtype
    assert got_idx.shape == got.shape == expected_idx.shape
    np.testing.assert_array_equal(got_idx, expected_idx)
    assert got.tobytes() == expected.tobytes()  # the very values: -0.0 stays -0.0, a NaN keeps its bits


@pytest.mark.parametrize("dtype", TOPK_DTYPES)
def test_topk_is_the_head_of_a_stable_sort(dtype, topk_policy, device):
    rng = np.random.default_rng(TOPK_DTYPES.index(dtype))
    pool = _topk_pool(dtype)
    # the large shapes take the selection paths with the shipped thresholds too (float64: k <= n/4)
    for shape in [(1,), (13,), (4, 9), (9, 4, 3), (2, 600), (3, 1500)]:
        a = rng.choice(pool, shape)
        for axis in range(-1, len(shape) - 1) if len(shape) > 1 else [0]:
            n = shape[axis]
            for largest in (True, False):
                order = _stable_order_reference(a, axis, largest)
                for k in sorted({0, 1, 2, 7, n // 4, n // 2, n // 2 + 1, n - 1, n} & set(range(n + 1))):
                    _check_topk(a, k, axis, largest, device, order)


def test_topk_matches_a_stable_sort_on_random_inputs(device):
    """Hypothesis: random shapes, axes, k, dtypes and pools of few values (many ties, NaNs, -0.0). Each example
    goes through every one of TOPK_POLICIES: one draw and one (slow, pure Python) reference order for the three."""
    hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[dev]')")
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import array_shapes, arrays

    @st.composite
    def cases(draw):
        pool = _topk_pool(draw(st.sampled_from(TOPK_DTYPES)))
        pool = pool[: draw(st.integers(1, len(pool)))]  # from one value repeated to the whole pool
        shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=40))
        picks = draw(arrays(np.int64, shape, elements=st.integers(0, len(pool) - 1)))
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        k = draw(st.integers(0, shape[axis]))
        return pool[picks], k, axis, draw(st.booleans())

    @hypothesis.settings(max_examples=150, deadline=None, derandomize=True)
    @hypothesis.given(case=cases())
    def check(case):
        a, k, axis, largest = case
        order = _stable_order_reference(a, axis, largest)
        for policy in TOPK_POLICIES:
            hypothesis.note(f"topk policy: {policy}")
            with pytest.MonkeyPatch.context() as monkeypatch:
                _set_topk_policy(monkeypatch, policy)
                _check_topk(a, k, axis, largest, device, order)

    check()


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_topk_ties_at_the_kth_place_take_the_lowest_indices(dtype, topk_policy, device):
    """A row of one value repeated, with a few larger ones: the k-th place is a tie among hundreds."""
    a = np.zeros((2, 1200), dtype=dtype)
    a[:, [5, 700, 1100]] = 3
    a[1, 7] = 5
    if np.dtype(dtype).kind == "f":
        a[0, 3] = -0.0  # equal to 0.0: in the tie, in its index order
        a[1, 9] = np.nan
    for largest in (True, False):
        order = _stable_order_reference(a, 1, largest)
        for k in (1, 3, 4, 5, 10, 299, 600):
            _check_topk(a, k, 1, largest, device, order)


def test_topk_empty_axes_and_extremes(topk_policy, device):
    x = gk.tensor(np.zeros((3, 0), dtype=np.float32), device=device)
    for axis, k, shape in ((1, 0, (3, 0)), (0, 0, (0, 0)), (0, 3, (3, 0))):
        values, indices = gk.topk(x, k, axis=axis)
        assert values.shape == indices.shape == shape and indices.dtype == gk.int64
    y = gk.tensor(np.zeros((0, 5), dtype=np.float64), device=device)
    values, indices = gk.topk(y, 2, largest=False)
    assert values.shape == (0, 2) and indices.shape == (0, 2) and indices.dtype == gk.int64
    one = gk.tensor([np.nan], device=device)
    assert gk.topk(one, 1)[1].tolist() == [0] and gk.topk(one, 0)[1].shape == (0,)


def test_topk_gradient_goes_back_to_the_chosen(topk_policy, device):
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        a = rng.choice(np.array([0.0, -0.0, 1.0, 2.0, 3.0], dtype=dtype), (2, 1500))
        x = gk.tensor(a, device=device, requires_grad=True)
        values, indices = gk.topk(x, 9, axis=1)
        w = rng.standard_normal((2, 9)).astype(dtype)
        (values * gk.tensor(w, device=device)).sum().backward()
        expected = np.zeros_like(a)
        np.put_along_axis(expected, indices.numpy(), w, axis=1)
        np.testing.assert_array_equal(x.grad.numpy(), expected)
    z = gk.tensor(
        np.random.default_rng(6).permutation(12).reshape(3, 4).astype(np.float64), device=device, requires_grad=True
    )
    assert gk.gradcheck(lambda t: gk.topk(t, 2, axis=0, largest=False)[0] * 1.5, [z])


def test_topk_errors_unchanged(device):
    x = gk.tensor(np.ones((2, 3)), device=device)
    with pytest.raises(gk.ShapeError, match="topk: a 0-d tensor has no axis to sort along"):
        gk.topk(gk.tensor(1.0, device=device), 5)  # before k is looked at
    with pytest.raises(gk.ArgumentTypeError, match="topk: largest must be True or False, got None"):
        gk.topk(x, 1, largest=None)
    with pytest.raises(gk.IndexOutOfRangeError, match="topk: axis 2 is out of range"):
        gk.topk(x, 1, axis=2)
    with pytest.raises(gk.InvalidArgumentError, match="topk: k must be >= 0, got -1"):
        gk.topk(x, -1)
    with pytest.raises(gk.ArgumentTypeError, match="topk: k must be an int"):
        gk.topk(x, 1.5)
    with pytest.raises(gk.IndexOutOfRangeError, match="topk: k=4 is more than the 3 elements along axis 1"):
        gk.topk(x, 4)


def test_topk_reads_nothing_back_on_the_host(topk_policy, device, monkeypatch):
    """What a CUDA graph capture needs: no device value reaches the host (on the emulated CuPy, whose
    host reads are made to fail here)."""
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    rng = np.random.default_rng(7)
    inputs = [gk.tensor(rng.choice(_topk_pool(d), (3, 1500)), device=device) for d in ("float32", "float64", "int32")]
    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    for x in inputs:
        for k, largest in ((5, True), (200, False), (1500, True)):
            gk.topk(x, k, axis=1, largest=largest)
            gk.topk(x, 2, axis=0, largest=largest)
