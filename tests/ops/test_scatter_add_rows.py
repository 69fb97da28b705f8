"""scatter_add / index_add / gather at an index that picks whole rows: the same results as the general path.

Two routes are checked against the general one (and NumPy's ``np.add.at``):

- an index spread over the other axes (``index.unsqueeze(-1).expand_as(src)``, as graph-network code writes it; a
  broadcast array, or a NumPy array equal along those axes) makes ``scatter``, ``scatter_add``, ``scatter_reduce``
  and ``gather`` index whole slices at its one column: the same values and gradients (float64, against central
  differences too), the same errors for indices out of range, only the column kept for the backward;
- on NumPy, a scatter-add of rows of 16 values or more (index_add, the backward of ``x[i]``, of gather,
  index_select, embedding) combines whole rows (``rows_at``): bit for bit ``np.add.at``'s results.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
import gradkit.backends.numpy_backend as numpy_backend
import gradkit.ops.indexing as indexing
from gradkit.backends.numpy_backend import NumpyBackend, rows_at
from gradkit.nn._gather import _bincount_put
from tests._reference import central_differences


def _general(monkeypatch):
    """Make every index take the general path (positions for every axis), as before the row route."""
    monkeypatch.setattr(indexing, "_column", lambda idx, ax, shape: None)


def _spread(column, shape, ax, how, device):
    """``column`` spread along the axes of ``shape`` other than ``ax``, as an index tensor."""
    view = [1] * len(shape)
    view[ax] = -1
    base = np.asarray(column, dtype=np.int64).reshape(view)
    full = tuple(len(column) if d == ax else n for d, n in enumerate(shape))
    if how == "expand":  # gradkit's expand: a stride-0 view
        return gk.tensor(base, device=device).expand(*full)
    if how == "broadcast":  # a NumPy broadcast array
        return gk.tensor(np.broadcast_to(base, full), device=device)
    return gk.tensor(np.ascontiguousarray(np.broadcast_to(base, full)), device=device)  # equal, but stored


CASES = [  # x's shape, dim, the column's length
    ((5, 4), 0, 9),
    ((3, 6, 2), 1, 7),
    ((2, 3, 5), -1, 8),
    ((6,), 0, 10),
]


def _case(shape, ax, count, seed):
    rng = np.random.default_rng(seed)
    n = shape[ax]
    column = rng.integers(0, n, count)
    column[:2] = n - 1  # repeats, and the last index
    src_shape = tuple(count if d == ax % len(shape) else s for d, s in enumerate(shape))
    return rng.standard_normal(shape), column, rng.standard_normal(src_shape), rng.standard_normal(shape)


@pytest.mark.parametrize("how", ["expand", "broadcast", "contiguous"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_scatter_add_at_a_spread_index_matches_the_general_path(device, monkeypatch, case, how):
    shape, ax, count = CASES[case]
    x0, column, s0, w0 = _case(shape, ax, count, case)
    a = ax % len(shape)

    def run():
        x = gk.tensor(x0, device=device, requires_grad=True)
        s = gk.tensor(s0, device=device, requires_grad=True)
        idx = _spread(column, shape, a, how, device)
        y = x.scatter_add(ax, idx, s)
        (y * gk.tensor(w0, device=device)).sum().backward()
        return y.numpy(), x.grad.numpy(), s.grad.numpy()

    fast = run()
    with monkeypatch.context() as m:
        _general(m)
        slow = run()
    for f, g in zip(fast, slow, strict=True):
        np.testing.assert_allclose(f, g, rtol=1e-15, atol=1e-15)
    expected = x0.copy()
    np.add.at(np.moveaxis(expected, a, 0), column, np.moveaxis(s0, a, 0))
    np.testing.assert_allclose(fast[0], expected, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(fast[1], w0)  # x's gradient passes through
    np.testing.assert_array_equal(fast[2], np.moveaxis(np.moveaxis(w0, a, 0)[column], 0, a))  # src's: the gather


@pytest.mark.parametrize("op", ["scatter_add", "index_add", "gather", "scatter_reduce_sum", "scatter_reduce_mean",
                                "scatter_reduce_amax", "scatter"])
def test_gradients_at_a_spread_index_match_central_differences(device, op):
    shape, ax, count = (4, 3), 0, 7
    x0, column, s0, w0 = _case(shape, ax, count, 3)
    s0 = s0 + np.arange(s0.size).reshape(s0.shape)  # no ties for amax
    idx = _spread(column, shape, ax, "expand", device)
    w = gk.tensor(w0, device=device)

    def f(x, s):
        if op == "scatter_add":
            return x.scatter_add(ax, idx, s) * w
        if op == "index_add":
            return x.index_add(ax, gk.tensor(column, device=device), s) * w
        if op == "gather":
            return s.gather(ax, _spread(column % count, (count, 3), ax, "expand", device)[:4]) * w + x
        if op == "scatter":
            unique = _spread([3, 0, 2, 1], shape, ax, "expand", device)
            return x.scatter(ax, unique, s[:4]) * w
        return x.scatter_reduce(ax, idx, s, op.rsplit("_", 1)[1]) * w

    xs = [gk.tensor(x0, device=device, requires_grad=True), gk.tensor(s0, device=device, requires_grad=True)]
    f(*xs).sum().backward()
    expected = central_differences(lambda x, s: f(x.to(device), s.to(device)), [x0, s0])
    np.testing.assert_allclose(xs[0].grad.numpy(), expected[0], atol=1e-7)
    np.testing.assert_allclose(xs[1].grad.numpy(), expected[1], atol=1e-7)
    assert gk.gradcheck(lambda x, s: f(x, s), [gk.tensor(x0, device=device, requires_grad=True),
                                              gk.tensor(s0, device=device, requires_grad=True)])


@pytest.mark.parametrize("op", ["scatter", "scatter_reduce_mean", "scatter_reduce_amax", "scatter_reduce_prod",
                                "gather"])
def test_other_ops_at_a_spread_index_match_the_general_path(device, monkeypatch, op):
    shape, ax, count = (5, 4), 0, 12
    x0, column, s0, w0 = _case(shape, ax, count, 5)

    def run():
        x = gk.tensor(x0, device=device, requires_grad=True)
        s = gk.tensor(s0, device=device, requires_grad=True)
        if op == "gather":
            y = x.gather(0, _spread(column, (count, 4), 0, "broadcast", device))
        elif op == "scatter":
            y = x.scatter(0, _spread(column, shape, 0, "broadcast", device), s)
        else:
            y = x.scatter_reduce(0, _spread(column, shape, 0, "broadcast", device), s, op.rsplit("_", 1)[1],
                                 include_self=False)
        (y * y).sum().backward()
        return y.numpy(), x.grad.numpy(), s.grad
    fast = run()
    with monkeypatch.context() as m:
        _general(m)
        slow = run()
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(fast[1], slow[1], rtol=1e-15, atol=1e-15)
    if op != "gather":
        np.testing.assert_allclose(fast[2].numpy(), slow[2].numpy(), rtol=1e-15, atol=1e-15)


def test_a_spread_index_smaller_than_self_takes_the_general_path(device):
    # index (3, 2) into x (4, 3) along 0: columns 0-1 only; the third column keeps x's values
    x = gk.zeros((4, 3), device=device)
    idx = gk.tensor([[1], [1], [3]], device=device).expand(3, 2)
    src = gk.ones((3, 3), device=device)
    np.testing.assert_array_equal(x.scatter_add(0, idx, src).numpy(), [[0, 0, 0], [2, 2, 0], [0, 0, 0], [1, 1, 0]])


def test_an_index_that_differs_along_the_other_axes_is_no_column(device):
    x = gk.zeros((3, 2), device=device, dtype=gk.float64)
    idx = [[0, 0], [2, 2], [0, 0], [0, 0], [0, 1]]  # its first rows agree along axis 1, the last not
    src = gk.tensor(np.arange(10.0).reshape(5, 2), device=device)
    expected = [[0 + 4 + 6 + 8, 1 + 5 + 7], [0, 9], [2, 3]]
    for given in (idx, np.array(idx), gk.tensor(idx, device=device)):
        np.testing.assert_array_equal(x.scatter_add(0, given, src).numpy(), expected)


@pytest.mark.parametrize("bad", [4, -1])
@pytest.mark.parametrize("op", ["scatter_add", "scatter", "gather", "scatter_reduce"])
def test_out_of_range_errors_are_unchanged(device, monkeypatch, op, bad):
    x = gk.zeros((4, 3), device=device)
    src = gk.ones((5, 3), device=device)

    def message():
        idx = _spread([0, 1, bad, 2, 3], (5, 3), 0, "expand", device)
        with pytest.raises(gk.IndexOutOfRangeError) as info:
            if op == "gather":
                x.gather(0, idx[:4])
            elif op == "scatter_reduce":
                x.scatter_reduce(0, idx, src, "mean")
            else:
                getattr(x, op)(0, idx, src)
        return str(info.value)

    fast = message()
    with monkeypatch.context() as m:
        _general(m)
        assert message() == fast
    assert f"index {bad} is out of range for axis 0 of shape (4, 3) (expected 0 to 3)" in fast


def test_a_spread_index_changed_after_forward_leaves_the_gradient(device):
    base = gk.tensor([2, 0, 2, 1], device=device)
    x = gk.tensor(np.arange(12.0).reshape(3, 4), device=device, requires_grad=True)
    src = gk.zeros((4, 4), device=device, requires_grad=True)
    y = gk.zeros((3, 4), device=device).scatter_add(0, base.unsqueeze(-1).expand(4, 4), src)
    g = x.gather(0, base.unsqueeze(-1).expand(4, 4))
    base.copy_(gk.tensor([0, 0, 0, 0], device=device))
    ((y * x.detach()).sum() + (g * g).sum()).backward()
    np.testing.assert_array_equal(src.grad.numpy(), np.arange(12.0).reshape(3, 4)[[2, 0, 2, 1]])
    expected = np.zeros((3, 4))
    np.add.at(expected, [2, 0, 2, 1], 2 * np.arange(12.0).reshape(3, 4)[[2, 0, 2, 1]])
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize("how", ["expand", "contiguous"])
def test_in_place_forms_at_a_spread_index(device, how):
    rng = np.random.default_rng(2)
    column = rng.integers(0, 6, 20)
    src = rng.standard_normal((20, 5))
    expected = np.zeros((6, 5))
    np.add.at(expected, column, src)
    z = gk.zeros((6, 5), device=device, dtype=gk.float64)
    assert z.scatter_add_(0, _spread(column, (20, 5), 0, how, device), gk.tensor(src, device=device)) is z
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-14)
    w = gk.zeros((6, 5), device=device, dtype=gk.float64)
    w.index_add_(0, gk.tensor(column, device=device), gk.tensor(src, device=device))
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-14)


# ----------------------------------------------------------------------------------- NumPy: whole rows
def _indices(rng, kind, n, count):
    if kind == "uniform":
        return rng.integers(0, n, count)
    if kind == "skewed":  # a few rows reached thousands of times, most a few times: passes and reductions
        return np.minimum(rng.pareto(0.8, count).astype(np.int64), n - 1)
    if kind == "one":
        return np.full(count, n // 2)
    return rng.integers(-n, n, count)  # negative ones too (x[i]'s backward)


@pytest.mark.parametrize("kind", ["uniform", "skewed", "one", "negative"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.complex64])
def test_rows_scatter_add_matches_add_at_bit_for_bit(kind, dtype):
    rng = np.random.default_rng(4)
    for lead, n, count, inner in [((), 300, 3000, (16,)), ((3,), 50, 900, (4, 5)), ((), 7, 5000, (20,))]:
        shape = lead + (n,) + inner
        index = (slice(None),) * len(lead) + (_indices(rng, kind, n, count),)
        values = (rng.standard_normal(lead + (count,) + inner) * 50).astype(dtype)
        assert values.size >= numpy_backend._ROWS_MIN_SIZE
        target = (rng.standard_normal(shape) * 50).astype(dtype)
        expected = target.copy()
        np.add.at(expected, index, values)
        NumpyBackend().scatter_add(target, index, values)
        np.testing.assert_array_equal(target, expected)


@pytest.mark.parametrize("ufunc", [np.add, np.multiply, np.maximum, np.minimum])
def test_rows_at_matches_ufunc_at_with_nan(ufunc):
    rng = np.random.default_rng(6)
    for kind in ("uniform", "skewed", "one"):
        for inner in (2, 3, 17):
            idx = _indices(rng, kind, 40, 2000)
            values = rng.standard_normal((2, 2000, inner)).astype(np.float32) + 1
            values[rng.random(values.shape) < 0.002] = np.nan
            target = rng.standard_normal((2, 40, inner)).astype(np.float32)
            expected = target.copy()
            with np.errstate(all="ignore"):
                ufunc.at(expected, (slice(None), idx), values)
                rows_at(ufunc, target, idx, values)
            np.testing.assert_array_equal(target, expected)


def test_rows_broadcast_values_and_the_big_route_at_large_sizes():
    rng = np.random.default_rng(8)
    idx = rng.integers(0, 500, 4000)
    values = np.broadcast_to(np.float32(0.1), (4000, 32))  # the gradient of a sum
    expected = np.zeros((500, 32), np.float32)
    np.add.at(expected, idx, np.ascontiguousarray(values))
    got = np.zeros((500, 32), np.float32)
    NumpyBackend().scatter_add(got, (idx,), values)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("bad", [500, -501])
def test_rows_out_of_range_still_raises_numpys_error(bad):
    idx = np.zeros(4000, dtype=np.int64)
    idx[1234] = bad
    with pytest.raises(IndexError, match="out of bounds"):
        NumpyBackend().scatter_add(np.zeros((500, 32)), (idx,), np.ones((4000, 32)))


def test_index_add_and_gather_backward_use_rows_bit_for_bit():
    rng = np.random.default_rng(9)
    idx = rng.integers(-300, 300, 5000)
    x0 = rng.standard_normal((300, 24)).astype(np.float32)
    w0 = rng.standard_normal((5000, 24)).astype(np.float32)
    x = gk.tensor(x0, requires_grad=True)
    (x[gk.tensor(idx)] * gk.tensor(w0)).sum().backward()
    expected = np.zeros((300, 24), np.float32)
    np.add.at(expected, idx, w0)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    y = gk.zeros((300, 24)).index_add(0, gk.tensor(idx % 300), gk.tensor(w0))
    np.testing.assert_array_equal(y.numpy(), expected)
    s = gk.tensor(w0, requires_grad=True)
    z = gk.zeros((300, 24)).scatter_add(0, gk.tensor(idx % 300).unsqueeze(-1).expand_as(s), s)
    np.testing.assert_array_equal(z.numpy(), expected)
    (z * gk.tensor(x0)).sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), x0[idx % 300])
    stored = np.ascontiguousarray(np.broadcast_to((idx % 300)[:, None], (5000, 24)))  # compared, then a column
    assert indexing._column(stored, 0, (300, 24)) is not None
    s.grad = None
    z = gk.zeros((300, 24)).scatter_add(0, stored, s)
    np.testing.assert_array_equal(z.numpy(), expected)
    (z * gk.tensor(x0)).sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), x0[idx % 300])
    stored[4321, :] = 300
    with pytest.raises(gk.IndexOutOfRangeError, match=r"scatter_add: index 300 is out of range for axis 0 of shape "
                                                      r"\(300, 24\) \(expected 0 to 299\)"):
        gk.zeros((300, 24)).scatter_add(0, stored, s)
    stored[4321, 5] = 7  # no longer one column: the general path, the same error
    assert indexing._column(stored, 0, (300, 24)) is None
    with pytest.raises(gk.IndexOutOfRangeError, match="scatter_add: index 300 is out of range"):
        gk.zeros((300, 24)).scatter_add(0, stored, s)


@pytest.mark.parametrize("kind", ["uniform", "skewed"])
def test_put_sums_rows_in_float64_as_bincount(kind):
    rng = np.random.default_rng(10)
    idx = _indices(rng, kind, 200, 3000)
    values = (rng.standard_normal((3000, 32)) * 1e3).astype(np.float32)
    values[::7] *= 1e-6  # small terms a float32 sum would lose
    exact = np.zeros((200, 32))
    np.add.at(exact, idx, values.astype(np.float64))  # float64, in the order of the entries
    np.testing.assert_array_equal(_bincount_put(values, (200, 32), (idx,)), exact.astype(np.float32))


def test_the_routes_are_taken(device, monkeypatch):
    """The spread index is seen (from its strides; a NumPy one by comparing), and on NumPy whole rows are combined."""
    column = np.arange(4096) % 7
    for how in ("expand", "broadcast", "contiguous"):
        idx = _spread(column, (7, 16), 0, how, device)._data
        found = indexing._column(idx, 0, (7, 16))
        if how != "expand" and device != "cpu":
            assert found is None  # copied to the device, stored; and a device array is not read back to compare
        else:
            np.testing.assert_array_equal(gk.tensor(found).numpy() if device == "cpu" else found.get(), column)
            assert found.base is None  # its own copy
    small = _spread(column[:8], (7, 16), 0, "contiguous", "cpu")._data
    assert indexing._column(small, 0, (7, 16)) is None  # stored, too small to be worth comparing
    assert indexing._column(small[:, :1], 0, (7, 1)) is not None  # nothing to compare
    assert indexing._column(np.array([[0, 0], [1, 2]]), 0, (3, 2)) is None
    assert indexing._column(np.array([[0, 0], [1, 1]]), 0, (3, 3)) is None  # narrower than self: general path
    if device != "cpu":
        return
    calls = []
    real = numpy_backend.rows_at
    monkeypatch.setattr(numpy_backend, "rows_at", lambda *a, **k: calls.append(a[1].shape) or real(*a, **k))
    x = gk.zeros((100, 32), device="cpu", requires_grad=True)
    x[gk.tensor(np.arange(2000) % 100, device="cpu")].sum().backward()
    assert calls == [(1, 100, 32)]
    NumpyBackend().scatter_add(np.zeros((100, 8)), (np.arange(5000) % 100,), np.ones((5000, 8)))  # narrow rows
    NumpyBackend().scatter_add(np.zeros((100, 32)), (np.arange(50) % 100,), np.ones((50, 32)))  # few values
    assert len(calls) == 1


def test_nothing_read_back_on_the_emulated_gpu_at_a_spread_index(device, monkeypatch):
    """With the bounds check off (as while a CUDA graph is captured), the spread-index routes read nothing back."""
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    rng = np.random.default_rng(12)
    x0, src0 = rng.standard_normal((5, 3)), rng.standard_normal((8, 3))
    idx = gk.tensor(rng.integers(0, 5, 8), device=device).unsqueeze(-1).expand(8, 3)
    monkeypatch.setattr(indexing, "host_read_allowed", lambda array: False)

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    x = gk.tensor(x0, device=device, requires_grad=True)
    src = gk.tensor(src0, device=device, requires_grad=True)
    outs = [x.scatter_add(0, idx, src), x.scatter(0, idx, src), src.gather(0, idx[:5]) + x]
    outs += [x.scatter_reduce(0, idx, src, reduce, include_self=False) for reduce in ("sum", "mean", "amax", "prod")]
    sum(((y * y).sum() for y in outs), gk.tensor(0.0, device=device)).backward(create_graph=True)
    (x.grad.sum() + src.grad.sum()).backward()


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("ufunc", [np.multiply, np.add, np.maximum])
def test_complex_rows_match_ufunc_at_bit_for_bit(ufunc, dtype):
    """NumPy's complex multiply over whole rows rounds otherwise than ufunc.at's one element at a time (its
    vectorised loop): complex products keep ufunc.at; sums and extremes take the rows, the same to the bit."""
    rng = np.random.default_rng(13)
    idx = _indices(rng, "skewed", 50, 2000)
    target = (rng.standard_normal((50, 32)) + 1j * rng.standard_normal((50, 32))).astype(dtype)
    values = (1 + 0.1 * (rng.standard_normal((2000, 32)) + 1j * rng.standard_normal((2000, 32)))).astype(dtype)
    expected = target.copy()
    ufunc.at(expected, idx, values)
    numpy_backend.ufunc_at(ufunc, target, idx, values)
    np.testing.assert_array_equal(target, expected)


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("case", [((40, 24), 0, 3000), ((3, 30, 20), 1, 700), ((4, 5), -1, 9), ((7,), 0, 12)])
def test_index_reduce_takes_whole_slices_as_scatter_reduce(device, monkeypatch, reduce, include_self, case):
    """index_reduce combines whole slices at its 1-d index (on NumPy; "mean" on a GPU too): the values and
    gradients, of the first and second order, of scatter_reduce at that index spread over the other axes, taking
    the general path (an index array for every axis), to the bit."""
    import gradkit.ops.torch_compat as torch_compat

    shape, ax, count = case
    rng = np.random.default_rng(14)
    a = ax % len(shape)
    column = rng.integers(0, shape[a], count)
    column[:3] = shape[a] - 1  # repeats
    src_shape = tuple(count if d == a else n for d, n in enumerate(shape))
    x0, s0 = rng.standard_normal(shape), rng.standard_normal(src_shape)
    s0[rng.random(src_shape) < 0.05] = 0.0  # prod's zeros
    w0 = rng.standard_normal(shape)
    seen = []
    real = torch_compat._scatter_reduce
    monkeypatch.setattr(torch_compat, "_scatter_reduce", lambda x, full, *r: seen.append(full) or real(x, full, *r))

    def run(index_reduce):
        x = gk.tensor(x0, device=device, requires_grad=True)
        s = gk.tensor(s0, device=device, requires_grad=True)
        w = gk.tensor(w0, device=device, requires_grad=True)
        if index_reduce:
            y = x.index_reduce(ax, gk.tensor(column, device=device), s, reduce, include_self=include_self)
        else:
            y = x.scatter_reduce(ax, _spread(column, shape, a, "expand", device), s, reduce, include_self=include_self)
        (y * w).sum().backward(create_graph=True)
        first = [y.numpy(), x.grad.numpy(), s.grad.numpy()]
        gx, gs = x.grad, s.grad
        x.grad = s.grad = None
        ((gx * gx).sum() + (gs * gs).sum()).backward()
        return first + [t.grad.numpy() if t.grad is not None else None for t in (x, s, w)]

    fast = run(True)
    full = seen[0]
    whole = len(full) == a + 1 and all(type(i) is slice for i in full[:a]) and full[a].ndim == 1
    assert whole == (device == "cpu" or reduce == "mean") or len(shape) == 1
    with monkeypatch.context() as m:
        _general(m)
        slow = run(False)
    for f, g in zip(fast, slow, strict=True):
        if f is None or g is None:
            assert f is None and g is None
        else:
            np.testing.assert_array_equal(f, g)
