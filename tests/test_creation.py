"""Creation functions: shapes as tuples or ints, dtype/device/requires_grad keywords, no-copy rules."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk

FILLED = {
    "zeros": (gk.zeros, 0.0),
    "ones": (gk.ones, 1.0),
    "empty": (gk.empty, None),
}


def _dev(t):
    return t.device.split(":")[0]


@pytest.mark.parametrize("name", sorted(FILLED))
def test_filled_shapes_dtypes_devices(name, device):
    fn, value = FILLED[name]
    for args in (((2, 3),), (2, 3), ([2, 3],)):
        t = fn(*args, device=device)
        assert t.shape == (2, 3) and t.dtype == gk.float32 and _dev(t) == device
        if value is not None:
            assert (t.numpy() == value).all()
    assert fn(device=device).shape == () and fn((), device=device).shape == ()
    assert fn(0, device=device).shape == (0,)
    assert fn(4, device=device).shape == (4,)
    assert fn(np.int64(2), 3, device=device).shape == (2, 3)
    for dtype in ("float16", "float64", "int32", "int64", "bool"):
        assert fn(2, dtype=dtype, device=device).dtype == np.dtype(dtype)
    t = fn(2, 2, device=device, requires_grad=True)
    assert t.requires_grad and t.is_leaf
    with pytest.raises(gk.DTypeError, match="requires_grad"):
        fn(2, dtype="int64", device=device, requires_grad=True)
    with pytest.raises(gk.ShapeError, match=name):
        fn(2, -1, device=device)
    with pytest.raises(gk.ArgumentTypeError, match=name):
        fn(2.5, device=device)
    with pytest.raises(gk.DTypeError, match=name):
        fn(2, dtype="complex64", device=device)


def test_full(device):
    t = gk.full((2, 3), 7.5, device=device)
    assert t.shape == (2, 3) and t.dtype == gk.float32 and (t.numpy() == 7.5).all()
    assert gk.full(3, 2, device=device).dtype == gk.int64
    assert gk.full(3, True, device=device).dtype == gk.bool_
    assert gk.full([2], 2, dtype="float64", device=device).dtype == gk.float64
    assert gk.full((2,), 1.0, device=device, requires_grad=True).requires_grad


def test_like_functions(device):
    x = gk.tensor(np.zeros((2, 3), dtype=np.float64), device=device)
    for fn, value in ((gk.zeros_like, 0), (gk.ones_like, 1)):
        t = fn(x)
        assert t.shape == (2, 3) and t.dtype == gk.float64 and t.device == x.device
        assert (t.numpy() == value).all()
        assert fn(x, dtype="int32").dtype == gk.int32
        assert fn(x, requires_grad=True).requires_grad
        assert fn(x, device="cpu").device == "cpu"
    f = gk.full_like(x, 4.0)
    assert f.dtype == gk.float64 and (f.numpy() == 4).all()
    assert gk.zeros_like([[1.0, 2.0]]).shape == (1, 2)


def test_arange(device):
    np.testing.assert_array_equal(gk.arange(5, device=device).numpy(), np.arange(5))
    assert gk.arange(5, device=device).dtype == gk.int64
    np.testing.assert_array_equal(gk.arange(2, 10, 3, device=device).numpy(), [2, 5, 8])
    np.testing.assert_array_equal(gk.arange(5, 0, -2, device=device).numpy(), [5, 3, 1])
    f = gk.arange(0, 1, 0.25, device=device)
    assert f.dtype == gk.float32
    np.testing.assert_allclose(f.numpy(), [0, 0.25, 0.5, 0.75])
    assert gk.arange(3, dtype="float64", device=device).dtype == gk.float64
    assert gk.arange(3.0, device=device, requires_grad=True).requires_grad
    with pytest.raises(gk.InvalidArgumentError, match="arange"):
        gk.arange(0, 5, 0)


def test_linspace_eye(device):
    t = gk.linspace(0, 1, 5, device=device)
    assert t.dtype == gk.float32 and _dev(t) == device
    np.testing.assert_allclose(t.numpy(), np.linspace(0, 1, 5))
    np.testing.assert_allclose(gk.linspace(0, 1, 4, endpoint=False, dtype="float64").numpy(), [0, 0.25, 0.5, 0.75])
    with pytest.raises(gk.InvalidArgumentError, match="linspace"):
        gk.linspace(0, 1, -1)
    e = gk.eye(3, device=device)
    assert e.dtype == gk.float32
    np.testing.assert_array_equal(e.numpy(), np.eye(3))
    np.testing.assert_array_equal(gk.eye(2, 3, k=1, dtype="int64", device=device).numpy(), np.eye(2, 3, k=1))
    assert gk.eye(2, device=device, requires_grad=True).requires_grad


def test_random(device):
    gk.manual_seed(0)
    for fn in (gk.rand, gk.randn):
        for args in (((3, 4),), (3, 4)):
            t = fn(*args, device=device)
            assert t.shape == (3, 4) and t.dtype == gk.float32 and _dev(t) == device
        assert fn(2, dtype="float64", device=device).dtype == gk.float64
        assert fn(2, device=device, requires_grad=True).requires_grad
        with pytest.raises(gk.DTypeError, match=fn.__name__):
            fn(2, dtype="int32", device=device)
    u = gk.rand(10_000, device=device).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    n = gk.randn(10_000, device=device).numpy()
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    r = gk.randint(3, 7, (1000,), device=device)
    assert r.dtype == gk.int64 and r.shape == (1000,)
    assert set(np.unique(r.numpy())) == {3, 4, 5, 6}
    assert gk.randint(5, size=4, device=device).numpy().max() < 5
    assert gk.randint(0, 2, (2, 2), dtype="int32", device=device).dtype == gk.int32
    with pytest.raises(gk.InvalidArgumentError, match="randint"):
        gk.randint(5, 5)


def test_tensor_from_numpy_without_copy():
    a = np.arange(4.0)
    t = gk.tensor(a, device="cpu")
    a[0] = 9
    assert t.numpy()[0] == 9
    f = gk.from_numpy(a)
    assert f.dtype == gk.float64 and f.device == "cpu"
    a[1] = 8
    assert f.numpy()[1] == 8
    with pytest.raises(gk.ArgumentTypeError, match="from_numpy"):
        gk.from_numpy([1.0, 2.0])


def test_tensor_from_tensor_and_devices(device):
    src = gk.tensor([1.0, 2.0], device=device)
    t = gk.tensor(src, dtype="float64")
    assert t.dtype == gk.float64 and t.device == src.device
    c = gk.tensor(src, device="cpu")
    assert c.device == "cpu"
    np.testing.assert_array_equal(c.numpy(), [1, 2])
    nested = gk.tensor([[1, 2], [3, 4]], device=device, dtype="float32", requires_grad=True)
    assert nested.shape == (2, 2) and nested.requires_grad and nested.is_leaf


@pytest.mark.cuda
def test_tensor_from_cupy_array():
    import cupy

    a = cupy.arange(3, dtype=cupy.float64)
    t = gk.tensor(a)
    assert t.device == "cuda:0" and t.dtype == gk.float64
    a[0] = 7
    assert t.numpy()[0] == 7  # no copy
    back = gk.tensor(t.numpy(), device="cuda")
    assert back.device == "cuda:0"


def test_default_device_is_used(device):
    with gk.device(device):
        for t in (gk.zeros(2), gk.tensor([1.0]), gk.arange(3), gk.rand(2), gk.eye(2), gk.linspace(0, 1, 3),
                  gk.full((1,), 2.0), gk.randint(0, 3, (2,))):
            assert _dev(t) == device


def test_randint_numpy_and_pytorch_forms(device):
    # API.md lists randint among the creation functions with dtype=, device=, requires_grad=
    # keywords; PyTorch's randint(high, size) and NumPy's randint(low, high, size) both work.
    assert gk.randint(10, (3, 2), device=device).shape == (3, 2)
    assert gk.randint(0, 10, 4, device=device).shape == (4,)
    assert gk.randint(5, size=(2,), device=device).shape == (2,)
    t = gk.randint(0, 10, (3,), device=device, requires_grad=False)
    assert t.dtype == gk.int64 and not t.requires_grad and _dev(t) == device
    f = gk.randint(0, 10, (50,), dtype="float32", device=device, requires_grad=True)
    assert f.dtype == gk.float32 and f.requires_grad
    values = f.numpy()
    assert (values == np.floor(values)).all() and values.min() >= 0 and values.max() < 10
    gk.manual_seed(3)
    a = gk.randint(10, (6,), device=device).numpy()
    gk.manual_seed(3)
    np.testing.assert_array_equal(a, gk.randint(10, (6,), device=device).numpy())
    with pytest.raises(gk.DTypeError):
        gk.randint(0, 10, (2,), device=device, requires_grad=True)  # int64 cannot require grad
    with pytest.raises(gk.InvalidArgumentError, match="int8"):
        gk.randint(0, 300, (2,), dtype="int8", device=device)
    with pytest.raises(gk.ArgumentTypeError):
        gk.randint(10, (3,), size=(2,))


def test_bad_creation_arguments_raise_gradkit_errors():
    with pytest.raises(gk.ShapeError):
        gk.eye(-1)
    with pytest.raises(gk.ArgumentTypeError):
        gk.eye(2.5)
    with pytest.raises(gk.ArgumentTypeError, match="fill"):
        gk.full((2,), "a")
    with pytest.raises(gk.ArgumentTypeError, match="fill_value"):
        gk.full((2,), None)  # not silently uninitialised
    with pytest.raises(gk.ArgumentTypeError):
        gk.full_like(gk.ones(2), None)
    assert gk.eye(2, 3, k=1).numpy().tolist() == [[0, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize(("data", "dtype"), [([300], "int8"), ([2**40], "int32"), ([-(2**31) - 1], "int32")])
def test_python_ints_that_do_not_fit_the_dtype_are_refused(data, dtype):
    with pytest.raises(gk.GradkitError, match="does not fit dtype"):
        gk.tensor(data, dtype=dtype)


def test_arrays_are_cast_to_the_dtype_as_numpy_astype_does():
    assert gk.tensor(np.array([300]), dtype="int32").tolist() == [300]
    assert gk.tensor([-1, 5], dtype="int32").tolist() == [-1, 5]
