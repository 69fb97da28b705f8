"""Review of NumPy's index, set and rearranging helpers (gradkit/ops/numpy_indexing.py), ported as a scientist
would port NumPy code: what the first tests left open (copies where NumPy copies, errors of NumPy's classes,
dtypes of Python numbers, -0.0, zero-length dimensions), NumPy's own loops on the CPU checked against the
device path, random float64 central differences (second order too, a tensor also used elsewhere in the graph),
in-place writes seen by autograd, and no_grad.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk

NUMPY_2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _t(a, device, grad=False):
    return gk.tensor(np.asarray(a), device=device, requires_grad=grad)


# ------------------------------------------------------------------ copies where NumPy copies
@pytest.mark.parametrize("new_shape", [5, (2, 2), (5,), 3, (7,)])
def test_resize_is_a_new_tensor_as_numpy(new_shape, device):
    """np.resize always returns a new array; a view of a (new size <= a.size) would see later writes."""
    a = np.arange(5.0)
    x = _t(a, device)
    out = gk.resize(x, new_shape)
    assert not gk.shares_memory(out, x)
    ref = np.resize(a, new_shape)
    gk.put(x, [0, 1], -7.0)  # written after the call: the result keeps the old values
    np.testing.assert_array_equal(out.numpy(), ref)
    assert out.shape == ref.shape and out.dtype == ref.dtype


def test_resize_central_differences_through_the_copy(device):
    x = _t(np.random.default_rng(0).standard_normal((2, 3)), device, grad=True)
    assert gk.gradcheck(lambda t: gk.resize(t, (2, 2)) * gk.resize(t, 4)[None, :2], [x])


# ------------------------------------------------------------------ errors of NumPy's classes
def test_float_positions_of_delete_and_insert_are_index_errors():
    """NumPy raises IndexError for float positions; gradkit's error is that and a DTypeError."""
    for call in (lambda: gk.delete(np.arange(3.0), 1.0), lambda: gk.delete(np.arange(3.0), np.array([], np.float64)),
                 lambda: gk.insert(np.arange(3.0), np.array([1.0, 2.0]), 0.0)):  # fmt: skip
        with pytest.raises(IndexError, match="obj must be integers"):
            call()
        with pytest.raises(gk.DTypeError):
            call()


def test_insert_refuses_a_python_int_its_dtype_cannot_hold(device):
    x = _t(np.array([1, 2], np.int8), device)
    with pytest.raises(gk.InvalidArgumentError, match="insert: 300 is out of range for a int8"):
        gk.insert(x, 1, 300)
    with pytest.raises(ValueError, match="out of range"):
        gk.insert(_t(np.array([1], np.uint8), device), [0, 1], -1)
    out = gk.insert(x, [0, 2], 127)  # what fits is inserted
    np.testing.assert_array_equal(out.numpy(), np.insert(np.array([1, 2], np.int8), [0, 2], 127))
    assert out.dtype == np.int8


def test_ravel_multi_index_wrap_or_clip_into_a_zero_length_dimension_raises(device):
    i, j = _t([4], device), _t([1], device)
    for mode in ("wrap", "clip", ("clip", "wrap")):
        with pytest.raises(ValueError):
            np.ravel_multi_index((np.array([4]), np.array([1])), (0, 3), mode=mode)
        with pytest.raises(gk.InvalidArgumentError, match="ravel_multi_index: cannot .* length 0"):
            gk.ravel_multi_index((i, j), (0, 3), mode=mode)
    empty = _t(np.zeros(0, np.int64), device)  # nothing to place: NumPy returns an empty array
    out = gk.ravel_multi_index((empty, empty), (0, 3), mode="wrap")
    assert out.shape == (0,) and out.dtype == np.int64 and out.device.split(":")[0] == device


def test_partition_refuses_a_bool_kth_as_numpy_2():
    for kth in (True, [0, False]):
        with pytest.raises(gk.InvalidArgumentError, match="booleans"):
            gk.partition([3.0, 1.0, 2.0], kth)
        with pytest.raises(ValueError):
            gk.argpartition([3.0, 1.0, 2.0], kth)


@pytest.mark.skipif(not NUMPY_2, reason="NumPy 1.x promotes an unsigned p and a negative Python int")
def test_unwrap_of_unsigned_ints_with_an_int_period_is_numpys_overflow_error(device):
    p = np.array([0, 3, 6, 1], np.uint8)
    with pytest.raises(OverflowError):
        np.unwrap(p, period=4)
    with pytest.raises(OverflowError, match="unwrap: .*uint8"):
        gk.unwrap(_t(p, device), period=4)
    with pytest.raises(gk.InvalidArgumentError):
        gk.unwrap(_t(p, device), period=4)


# ------------------------------------------------------------------ values NumPy gives
def test_unravel_and_ravel_take_a_lowercase_order(device):
    i = _t([1, 5], device)
    for order in ("c", "f"):
        got = gk.unravel_index(i, (2, 3), order=order)
        ref = np.unravel_index(np.array([1, 5]), (2, 3), order=order)
        for g, r in zip(got, ref, strict=True):
            np.testing.assert_array_equal(g.numpy(), r)
        flat = gk.ravel_multi_index(got, (2, 3), order=order)
        np.testing.assert_array_equal(flat.numpy(), [1, 5])


@pytest.mark.parametrize(("a", "b"), [
    (np.array([3, 1, 3], np.int8), 3), (2.5, np.array([2.5, 7.0], np.float32)), (np.array([1.5], np.float16), 3),
    (3, 4.5), (True, np.array([1, 0], np.int8)), (np.array([1, 2], np.uint8), [2, 9]),
])  # fmt: skip
def test_union1d_takes_a_python_number_as_weak(a, b, device):
    """NumPy concatenates first, so a Python number takes the array's dtype (NumPy 2), not int64/float64."""
    ga = _t(a, device) if isinstance(a, np.ndarray) else a
    gb = _t(b, device) if isinstance(b, np.ndarray) else b
    ref = np.union1d(a, b)
    out = gk.union1d(ga, gb) if isinstance(ga, gk.Tensor) or isinstance(gb, gk.Tensor) else gk.union1d(a, b)
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out.numpy(), ref)


def test_unwrap_keeps_the_sign_of_a_leading_negative_zero(device):
    for p, kw in ((np.array([-0.0, 3.0, 9.0]), {}), (np.array([[-0.0, 1.0], [7.0, -0.0]], np.float32), {"axis": 0}),
                  (np.zeros((2, 0)), {"axis": 1}), (np.array([-0.0, -0.0]), {"period": 4})):  # fmt: skip
        ref = np.unwrap(p, **kw)
        out = gk.unwrap(_t(p, device), **kw).numpy()
        assert out.dtype == ref.dtype
        np.testing.assert_allclose(out, ref, rtol=1e-6)
        np.testing.assert_array_equal(np.signbit(out), np.signbit(ref))


# ------------------------------------------------------------------ NumPy's loops on the CPU against the device path
def _mask_cases():
    r = np.random.default_rng(7)
    for shape in [(), (0,), (7,), (3, 4), (2, 3, 2)]:
        for dtype in (np.float64, np.float32, np.int8, np.bool_):
            a = np.array(r.standard_normal(shape) * 4).astype(dtype)
            mask = r.random(shape) < 0.5
            for vals in ([1.5], [2.0, -3.0, 4.0], r.standard_normal(5) * 3):
                yield a, mask, np.asarray(vals)


def test_place_and_putmask_match_numpy(device):
    for a, mask, vals in _mask_cases():
        for np_fn, gk_fn in ((np.place, gk.place), (np.putmask, gk.putmask)):
            ref = a.copy()
            np_fn(ref, mask, vals.astype(a.dtype))
            t = _t(a.copy(), device)
            gk_fn(t, _t(mask, device), vals)
            np.testing.assert_array_equal(t.numpy(), ref, err_msg=f"{gk_fn.__name__} {a!r} {mask!r} {vals!r}")
    target = np.zeros(6)[::2]  # a NumPy array passed in is written, a strided one too
    gk.place(target, [True, False, True], [4.0, 5.0])
    gk.putmask(target, [False, True, False], [7.0, 8.0])
    np.testing.assert_array_equal(target, [4.0, 8.0, 5.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int8, np.bool_])
def test_set_functions_match_numpy_on_random_data(dtype, device):
    r = np.random.default_rng(np.dtype(dtype).itemsize)
    for size1, size2 in ((0, 5), (9, 0), (12, 7), (40, 40)):
        a, b = r.integers(-4, 5, size1), r.integers(-4, 5, size2)
        a, b = (a > 0, b > 0) if dtype == np.bool_ else (a.astype(dtype), b.astype(dtype))
        if a.dtype.kind == "f" and size1 > 3 and size2 > 3:
            a[[1, 3]], b[2] = np.nan, np.nan
        ta, tb = _t(a, device), _t(b, device)
        for name in ("union1d", "setdiff1d", "setxor1d", "intersect1d", "isin"):
            ref, out = getattr(np, name)(a, b), getattr(gk, name)(ta, tb)
            assert out.dtype == ref.dtype and out.shape == ref.shape, name
            assert out.device.split(":")[0] == device
            np.testing.assert_array_equal(np.abs(out.numpy()) if ref.dtype.kind == "f" else out.numpy(),
                                          np.abs(ref) if ref.dtype.kind == "f" else ref, err_msg=name)  # fmt: skip
        ref = np.intersect1d(a, b, return_indices=True)
        out = gk.intersect1d(ta, tb, return_indices=True)
        for o, f in zip(out, ref, strict=True):
            np.testing.assert_array_equal(o.numpy(), f)


# ------------------------------------------------------------------ gradients
def test_central_differences_with_inputs_reused_elsewhere(device):
    r = np.random.default_rng(3)
    x = _t(r.standard_normal((3, 4)), device, grad=True)
    v = _t(r.standard_normal(4), device, grad=True)

    def f(x, v):
        a = gk.insert(x, [3, 0, 3], x[0, :3] * v[:3], axis=None)
        b = gk.delete(x * v, [0, 2, 2], axis=1)
        c = gk.choose(np.array([[0, 1, 2, 1]]), [x, v, x * v])
        d = gk.ediff1d(x[1], to_begin=v[0], to_end=x[2, :2] ** 2)
        e = gk.block([[x, v[:3, None]], [v[None, :], v[:1, None]]])
        g = gk.partition(x + v, [1, 2], axis=0)
        h = gk.compress([1, 0, 1], x, axis=0) * gk.extract(x > 0, x).sum()
        return a.sum() + (b**2).sum() + (c * c).sum() + (d**3).sum() + (e * e).sum() + (g[1] * v).sum() + h.sum()

    assert gk.gradcheck(f, [x, v])


def test_central_differences_of_second_order(device):
    r = np.random.default_rng(4)
    x = _t(r.standard_normal((2, 3)), device, grad=True)

    def f(t):
        parts = [gk.unwrap(3.0 * t, axis=0), gk.resize(t, (4, 2)), gk.apply_along_axis(lambda s: s * s.sum(), 1, t),
                 gk.apply_over_axes(gk.sum, t * t, [0]), gk.matrix_transpose(gk.permute_dims(t[None], (0, 2, 1))),
                 *gk.hsplit(t, [1]), *gk.unstack(t, axis=1), gk.concat([t, t[:1]], axis=None)]  # fmt: skip
        return sum((p**3).sum() for p in parts)

    assert gk.gradcheck(gk.grad(f), [x])


# ------------------------------------------------------------------ autograd bookkeeping
def test_in_place_writers_are_seen_by_a_graph_that_saved_the_tensor(device):
    for write in (lambda t: gk.put(t, [0], 5.0), lambda t: gk.place(t, [True, False, False], [1.0]),
                  lambda t: gk.putmask(t, [False, True, False], 2.0)):  # fmt: skip
        w = _t(np.ones(3), device, grad=True)
        x = _t(np.arange(3.0), device)
        y = (x * w).sum()
        write(x)
        with pytest.raises(gk.AutogradError, match="modified in place"):
            y.backward()
    base = _t(np.zeros((3, 3)), device)  # a write through a view changes the base, as NumPy's
    gk.fill_diagonal(base[1:, 1:], 7.0)
    np.testing.assert_array_equal(base.numpy(), np.diag([0.0, 7.0, 7.0]))


def test_no_gradient_inside_no_grad(device):
    x = _t(np.random.default_rng(5).standard_normal((3, 4)), device, grad=True)
    with gk.no_grad():
        outs = [gk.delete(x, 1, axis=1), gk.insert(x, 1, x[0], axis=0), gk.choose(np.array([0, 1, 0, 1]), [x, 2.0]),
                gk.partition(x, 1), gk.resize(x, 7), gk.block([[x, x]]), gk.unwrap(x), gk.ediff1d(x)]  # fmt: skip
    assert not any(o.requires_grad for o in outs)


def test_index_generators_take_a_device(device):
    """A gradkit extension (PyTorch's creation functions take one): the indices land where the tensor is."""
    x = gk.arange(12.0, device=device).reshape(3, 4)
    rows, cols = gk.tril_indices(3, m=4, device=device)
    np.testing.assert_array_equal(x[rows, cols].numpy(), np.arange(12.0).reshape(3, 4)[np.tril_indices(3, m=4)])
    assert gk.triu_indices(3, 1, device=device)[0].device == x.device
    assert all(t.device == x.device for t in gk.diag_indices(3, device=device))
    assert gk.indices((2, 3), device=device).device == x.device
    assert gk.indices((2, 3), sparse=True, device=device)[1].device == x.device
