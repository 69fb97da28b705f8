"""The Tensor of API.md: data attributes, conversions, dtype rules and operators."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import gradkit as gk


def _t(values, device, **kw):
    return gk.tensor(values, device=device, **kw)


# ------------------------------------------------------------------ data attributes
def test_data_attributes(device):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = _t(a, device)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.ndim == 3
    assert t.size == 24 and isinstance(t.size, int)
    assert t.dtype == gk.float32 == np.float32
    assert t.device == ("cpu" if device == "cpu" else "cuda:0")
    assert len(t) == 2
    assert type(t.data).__name__ == "ndarray"
    n = t.numpy()
    assert isinstance(n, np.ndarray) and n.dtype == np.float32
    np.testing.assert_array_equal(n, a)
    n[0, 0, 0] = 99  # a copy: the tensor does not change
    assert t.numpy()[0, 0, 0] == 0
    np.testing.assert_array_equal(np.asarray(t), a)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert t.tolist() == a.tolist()
    assert isinstance(t.tolist()[0][0][0], float)


def test_scalar_conversions(device):
    t = _t(2.5, device)
    assert t.shape == () and t.ndim == 0 and t.size == 1
    assert t.item() == 2.5 and isinstance(t.item(), float)
    assert float(t) == 2.5 and int(_t(7, device)) == 7
    assert isinstance(_t(7, device).item(), int)
    assert _t([[3.0]], device).item() == 3.0
    assert bool(_t(1.0, device)) and not bool(_t(0.0, device))
    assert t.tolist() == 2.5
    assert [1, 2, 3][_t(1, device)] == 2  # __index__
    with pytest.raises(gk.ShapeError, match="item"):
        _t([1.0, 2.0], device).item()
    with pytest.raises(gk.ShapeError, match="ambiguous"):
        bool(_t([1.0, 2.0], device))
    with pytest.raises(gk.ArgumentTypeError, match="0-d"):
        len(t)
    with pytest.raises(gk.DTypeError):
        [1, 2][_t(1.0, device)]


def test_iteration(device):
    t = _t([[1.0, 2.0], [3.0, 4.0]], device, requires_grad=True)
    rows = list(t)
    assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0]
    (rows[0] * 2.0 + rows[1]).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[2, 2], [1, 1]])


def test_repr_shows_values_dtype_device_and_grad_fn(device):
    t = _t([1.5, -2.0], device)
    r = repr(t)
    assert "1.5" in r and "-2." in r and "float32" in r and t.device in r
    x = _t([1.5, -2.0], device, requires_grad=True)
    assert "requires_grad=True" in repr(x)
    y = x * 2.0
    assert "grad_fn" in repr(y) and "multiply" in repr(y)
    big = gk.zeros(1000, device=device)
    assert len(repr(big)) < 400  # summarised
    assert "int64" in repr(_t([1, 2], device))


def test_to_cpu_astype(device):
    t = _t([1.0, 2.0], device, requires_grad=True)
    assert t.to() is t
    assert t.to(device) is t or t.to(device).device == t.device
    c = t.cpu()
    assert c.device == "cpu"
    np.testing.assert_array_equal(c.numpy(), [1, 2])
    d = t.to(dtype="float64")
    assert d.dtype == gk.float64 and d.device == t.device
    i = t.astype(gk.int32)
    assert i.dtype == gk.int32 and not i.requires_grad
    assert t.astype("float16").dtype == gk.float16
    assert t.to(device="cpu", dtype=np.float64).dtype == np.float64
    (d * d).sum().backward()  # dtype conversion is differentiable
    assert t.grad.dtype == gk.float32
    np.testing.assert_array_equal(t.grad.numpy(), [2, 4])


@pytest.mark.cuda
def test_cpu_cuda_round_trip_is_differentiable():
    x = gk.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    y = x.cuda()
    assert y.device == "cuda:0"
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2, 4])
    with pytest.raises(gk.DeviceError) as info:
        x + y
    assert "cpu" in str(info.value) and "cuda:0" in str(info.value) and "add" in str(info.value)


def test_dlpack_round_trip_shares_memory(device):
    t = _t(np.arange(6.0).reshape(2, 3), device)
    u = gk.from_dlpack(t)
    assert u.shape == (2, 3) and u.dtype == t.dtype and u.device == t.device
    np.testing.assert_array_equal(u.numpy(), t.numpy())
    if device == "cpu" and np.lib.NumpyVersion(np.__version__) < "2.0.0":
        # NumPy 1.x marks arrays imported through DLPack read-only: writing says so, clearly.
        with gk.no_grad(), pytest.raises(gk.InvalidArgumentError, match="read-only"):
            u += 1.0
        return
    with gk.no_grad():
        u += 1.0
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3) + 1)  # same memory
    assert isinstance(t.__dlpack_device__(), tuple)
    if device == "cpu":
        n = np.from_dlpack(t)
        n[0, 0] = -5
        assert t.numpy()[0, 0] == -5
        a = np.arange(3.0)
        v = gk.from_dlpack(a)
        a[0] = 42
        assert v.numpy()[0] == 42


# ------------------------------------------------------------------ dtype rules
def test_python_values_default_dtypes(device):
    assert _t(1.5, device).dtype == gk.float32
    assert _t([1.5, 2.5], device).dtype == gk.float32
    assert _t([[1, 2.5]], device).dtype == gk.float32
    assert _t(3, device).dtype == gk.int64
    assert _t([1, 2], device).dtype == gk.int64
    assert _t(True, device).dtype == gk.bool_
    assert _t([], device).dtype == gk.float32


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "bool", "int8", "uint8"])
def test_numpy_arrays_keep_their_dtype(dtype, device):
    a = np.ones(3, dtype=dtype)
    assert _t(a, device).dtype == np.dtype(dtype)
    assert _t(np.ones((), dtype=dtype)[()], device).dtype == np.dtype(dtype)  # NumPy scalar


def test_dtype_keyword_forms(device):
    for spelling in (gk.float64, np.float64, "float64", np.dtype("float64")):
        assert _t([1, 2], device, dtype=spelling).dtype == gk.float64
    assert _t([1.7, -2.2], device, dtype="int32").tolist() == [1, -2]
    assert _t([0, 2], device, dtype=gk.bool_).tolist() == [False, True]


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_python_scalars_never_upcast(op, dtype, device):
    t = _t([1.5, 2.0], device, dtype=dtype)
    for scalar in (2, 2.5, True):
        assert op(t, scalar).dtype == np.dtype(dtype), (op, scalar)
        assert op(scalar, t).dtype == np.dtype(dtype), (op, scalar)
    assert gk.maximum(t, 0.5).dtype == np.dtype(dtype)
    assert gk.where(t > 1.8, t, 0.0).dtype == np.dtype(dtype)
    assert gk.clip(t, 0.0, 1.0).dtype == np.dtype(dtype)


def test_mixed_precision_follows_numpy(device):
    f32 = _t([1.0, 2.0], device, dtype="float32")
    f64 = _t([1.0, 2.0], device, dtype="float64")
    f16 = _t([1.0, 2.0], device, dtype="float16")
    i32 = _t([1, 2], device, dtype="int32")
    i64 = _t([1, 2], device, dtype="int64")
    cases = [(f32, f64), (f16, f32), (f16, f64), (i32, f32), (i64, f32), (i32, i64), (i64, f64)]
    for a, b in cases:
        for op in (operator.add, operator.mul, operator.truediv):
            expected = op(np.ones(2, a.dtype), np.ones(2, b.dtype)).dtype
            assert op(a, b).dtype == expected, (a.dtype, b.dtype, op)
    assert (f32 * np.ones(2)).dtype == gk.float64  # a float64 NumPy array upcasts, as in NumPy
    assert (i64 / 2).dtype == gk.float64
    assert (i32 + 1).dtype == gk.int32


def test_gradient_dtype_follows_the_input(device):
    a = _t([1.0, 2.0], device, dtype="float32", requires_grad=True)
    b = _t([3.0, 4.0], device, dtype="float64", requires_grad=True)
    out = a * b
    assert out.dtype == gk.float64
    out.sum().backward()
    assert a.grad.dtype == gk.float32 and b.grad.dtype == gk.float64
    np.testing.assert_array_equal(a.grad.numpy(), [3, 4])


# ------------------------------------------------------------------ operators
def test_arithmetic_operators_match_numpy(device):
    a = np.array([[1.5, -2.0, 3.0]])
    b = np.array([[0.5], [2.0]])
    ta, tb = _t(a, device), _t(b, device)
    for op in (operator.add, operator.sub, operator.mul, operator.truediv):
        np.testing.assert_allclose(op(ta, tb).numpy(), op(a, b))
        np.testing.assert_allclose(op(ta, 2.0).numpy(), op(a, 2.0))
        np.testing.assert_allclose(op(2.0, ta).numpy(), op(2.0, a))
        np.testing.assert_allclose(op(ta, b).numpy(), op(a, b))  # a NumPy array on the right
        np.testing.assert_allclose(op(ta, [[1.0], [2.0]]).numpy(), op(a, [[1.0], [2.0]]))
    np.testing.assert_allclose((tb**2).numpy(), b**2)
    np.testing.assert_allclose((2.0**tb).numpy(), 2.0**b)
    np.testing.assert_allclose((-ta).numpy(), -a)
    np.testing.assert_allclose((+ta).numpy(), a)
    np.testing.assert_allclose(abs(ta).numpy(), np.abs(a))
    np.testing.assert_allclose((tb @ ta).numpy(), b @ a)
    np.testing.assert_allclose((b @ ta).numpy(), b @ a)  # __rmatmul__ with a NumPy array
    r = a * ta  # NumPy defers to the Tensor
    assert isinstance(r, gk.Tensor)


def test_comparisons_return_bool_without_gradient(device):
    a = np.array([1.0, 2.0, 3.0])
    t = _t(a, device, requires_grad=True)
    u = _t([3.0, 2.0, 1.0], device)
    for op in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne):
        for other, np_other in ((u, np.array([3.0, 2.0, 1.0])), (2.0, 2.0), ([1.0, 0.0, 5.0], [1.0, 0.0, 5.0])):
            out = op(t, other)
            assert isinstance(out, gk.Tensor) and out.dtype == gk.bool_
            assert not out.requires_grad and out.grad_fn is None
            np.testing.assert_array_equal(out.numpy(), op(a, np.asarray(np_other)))
        np.testing.assert_array_equal(op(2.0, t).numpy(), op(2.0, a))
    m = (t > 1.5) & (t < 2.5)
    np.testing.assert_array_equal(m.numpy(), [False, True, False])
    np.testing.assert_array_equal(((t < 1.5) | (t > 2.5)).numpy(), [True, False, True])
    np.testing.assert_array_equal((~m).numpy(), [True, False, True])
    assert t.__hash__ is not None and len({t, u}) == 2  # tensors stay hashable


def test_inplace_operators(device):
    t = _t([1.0, 2.0], device)
    ident = id(t)
    version = t._version[0]
    t += 1.0
    t -= _t([0.5, 0.5], device)
    t *= 4.0
    t /= 2.0
    assert id(t) == ident
    assert t._version[0] == version + 4
    np.testing.assert_array_equal(t.numpy(), [3.0, 5.0])
    t += np.array([1.0, 1.0], dtype=np.float32) if device == "cpu" else 1.0
    np.testing.assert_array_equal(t.numpy(), [4.0, 6.0])
    t[0] = 10.0
    t[1:] = _t([7.0], device)
    np.testing.assert_array_equal(t.numpy(), [10.0, 7.0])
    assert t.dtype == gk.float32
    m = gk.zeros(2, 3, device=device)
    m += _t([1.0, 2.0, 3.0], device)  # broadcast into the target
    np.testing.assert_array_equal(m.numpy(), [[1, 2, 3], [1, 2, 3]])
    with pytest.raises(gk.ShapeError, match="in-place"):
        t += gk.ones(3, device=device)
    with pytest.raises(gk.ShapeError):
        m[0] = gk.ones(4, device=device)
    i = _t([1, 2], device)
    with pytest.raises(gk.DTypeError, match="in-place"):
        i /= 2


def test_inplace_methods(device):
    t = gk.ones(2, 2, device=device)
    assert t.zero_() is t and t.numpy().sum() == 0
    assert t.fill_(3.0) is t and (t.numpy() == 3).all()
    assert t.copy_(_t([1.0, 2.0], device)) is t
    np.testing.assert_array_equal(t.numpy(), [[1, 2], [1, 2]])
    with pytest.raises(gk.ShapeError, match="copy_"):
        t.copy_(gk.ones(3, device=device))


def test_methods_mirror_functions(device):
    a = np.random.default_rng(0).uniform(0.5, 1.5, (2, 3))
    t = _t(a, device)
    for name in ("sum", "mean", "var", "std", "max", "min", "prod", "argmax", "argmin"):
        np.testing.assert_allclose(getattr(t, name)().numpy(), getattr(np, name)(a), rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(getattr(t, name)(axis=1).numpy(), getattr(np, name)(a, axis=1), rtol=1e-6)
    for name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "abs", "square"):
        np.testing.assert_allclose(getattr(t, name)().numpy(), getattr(np, name)(a), rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(t.relu().numpy(), a)
    np.testing.assert_allclose(t.sigmoid().numpy(), 1 / (1 + np.exp(-a)), rtol=1e-6)
    np.testing.assert_allclose(t.clip(0.8, 1.2).numpy(), np.clip(a, 0.8, 1.2))
    np.testing.assert_allclose(t.pow(3).numpy(), a**3, rtol=1e-6)
    np.testing.assert_allclose(t.matmul(t.T).numpy(), a @ a.T, rtol=1e-6)
    np.testing.assert_allclose(t.softmax().numpy().sum(-1), [1, 1], rtol=1e-6)
    np.testing.assert_allclose(t.log_softmax(0).numpy(), a - np.log(np.exp(a).sum(0)), rtol=1e-6)
    assert t.reshape(3, 2).shape == (3, 2) and t.view(-1).shape == (6,) and t.flatten().shape == (6,)
    assert t.transpose().shape == (3, 2) and t.permute(1, 0).shape == (3, 2) and t.T.shape == (3, 2)
    assert t.unsqueeze(0).squeeze().shape == (2, 3)
    assert t.unsqueeze(-1).expand(2, 3, 4).shape == (2, 3, 4)
    assert t.broadcast_to((5, 2, 3)).shape == (5, 2, 3)
    assert t.astype("float64").dtype == np.float64


def test_any_all(device):
    t = _t([[True, False], [True, True]], device)
    assert t.any().item() and not t.all().item()
    np.testing.assert_array_equal(t.all(axis=1).numpy(), [False, True])


def test_to_takes_a_dtype_first_as_pytorch(device):
    t = gk.ones(2, device=device)
    assert t.to(gk.float64).dtype == np.float64
    assert t.to("float16").dtype == np.float16
    assert t.to(device).device == t.device


def test_grad_mode_bare_decorators():
    x = gk.ones(2, requires_grad=True)

    @gk.no_grad
    def off(t):
        return t * 2

    @gk.enable_grad
    def on(t):
        return t * 2

    assert not off(x).requires_grad
    with gk.no_grad():
        assert on(x).requires_grad


def test_where_with_two_scalar_branches(device):
    cond = gk.tensor([1.0, -1.0], device=device) > 0
    out = gk.where(cond, 1.0, 0.0)
    assert out.dtype == np.float32 and out.device == cond.device
    np.testing.assert_array_equal(out.numpy(), [1.0, 0.0])


def test_clone_has_memory_of_its_own_and_stays_in_the_graph(device):
    x = gk.tensor(np.arange(3.0), device=device, requires_grad=True)
    c = x.clone()
    assert c.grad_fn is not None and c.dtype == x.dtype and c.device == x.device
    with gk.no_grad():
        c += 1.0
    np.testing.assert_array_equal(x.numpy(), [0.0, 1.0, 2.0])
    (c * c).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    i = gk.clone(gk.tensor([1, 2], device=device))
    assert i.dtype == gk.int64 and i.grad_fn is None and i.tolist() == [1, 2]


def test_pytorch_and_numpy_spellings(device):
    x = gk.tensor(np.array([[0.5, -1.5, 2.5], [np.nan, np.inf, 3.0]]), device=device)
    assert x.numel() == 6 and x.dim() == 2 and gk.randn_like(x).shape == (2, 3)
    assert [x.float().dtype, x.double().dtype, x.half().dtype] == [gk.float32, gk.float64, gk.float16]
    assert [x[:1].long().dtype, x[:1].int().dtype, x.bool().dtype] == [gk.int64, gk.int32, gk.bool_]
    assert x.isnan().tolist() == [[False, False, False], [True, False, False]]
    assert gk.isfinite(x).tolist() == [[True, True, True], [False, False, True]]
    np.testing.assert_array_equal(x[:1].round().numpy(), [[0.0, -2.0, 2.0]])  # half to even, as NumPy
    np.testing.assert_array_equal(gk.floor(x[:1]).numpy(), [[0.0, -2.0, 2.0]])
    np.testing.assert_array_equal(gk.ceil(x[:1]).numpy(), [[1.0, -1.0, 3.0]])
    assert gk.round(gk.tensor([1, 2], device=device)).tolist() == [1, 2]  # integers stay as they are
    assert ((x[:1] > 0).float().mean()).item() == pytest.approx(2 / 3)  # the accuracy idiom
    assert gk.allclose(x[:1], x[:1] + 1e-9) and not gk.allclose(x[:1], x[:1] + 1.0)
    assert gk.allclose(x, x, equal_nan=True) and not gk.allclose(x, x)
    assert gk.cat([x, x], dim=1).shape == (2, 6)
    assert gk.empty_like(x).shape == (2, 3) and gk.rand_like(x, dtype="float32").dtype == gk.float32
    with pytest.raises(gk.DTypeError, match="rand_like: dtype must be a float"):
        gk.rand_like(gk.tensor([1, 2], device=device))
    with pytest.raises(gk.ShapeError, match="t: expected a tensor with at most 2 axes"):
        gk.ones((2, 2, 2), device=device).t()
    with pytest.raises(gk.ShapeError, match="tril: expected a tensor with at least 2 axes"):
        gk.tril(gk.ones(3, device=device))
    with pytest.raises(gk.ArgumentTypeError, match="view_as: expected a Tensor"):
        x.view_as((3, 2))
    z = gk.zeros(3, device=device)
    z.add_(gk.ones(3, device=device), alpha=2).sub_(1.0).mul_(3.0).div_(2.0)
    assert z.tolist() == [1.5, 1.5, 1.5]
    z.add_([1.0], alpha=3).sub_((1.0, 2.0, 3.0), alpha=0.5)  # lists are scaled, not repeated
    assert z.tolist() == [4.0, 3.5, 3.0]
    with pytest.raises(gk.ArgumentTypeError, match="add_: alpha must be a number"):
        z.add_(1.0, alpha="2")
    assert gk.contiguous(x.T).shape == (3, 2) and gk.contiguous(x) is x
    i = gk.tensor([15, 25, 14], device=device)
    assert gk.round(i, -1).tolist() == [20, 20, 10] and gk.floor(i).dtype == gk.int64 and gk.floor(i) is not i
    r = gk.tensor([1.5, 2.5], device=device, requires_grad=True)
    gk.floor(r).backward(gk.tensor([float("inf"), 1.0], device=device))
    assert r.grad.tolist() == [0.0, 0.0]  # zero, not inf * 0
    w = gk.ones(3, device=device, requires_grad=True)
    with pytest.raises(gk.AutogradError):
        w.add_(1.0)


def test_cumsum_gradient_closed_form(device):
    """d/dx_j of sum_i cumsum(x)_i is n - j (x_j is in every running sum from j on)."""
    x = gk.tensor(np.random.default_rng(0).standard_normal(5), device=device, requires_grad=True)
    gk.cumsum(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 4.0, 3.0, 2.0, 1.0])
    s = gk.tensor(3.0, device=device, requires_grad=True)
    y = gk.cumsum(s, -1)  # a 0-d tensor takes axis 0 or -1; the result has one axis, as NumPy
    y.sum().backward()
    assert y.shape == (1,) and s.grad.item() == 1.0
    assert gk.cumsum(gk.tensor([True, True, False], device=device)).tolist() == [1, 2, 2]


def test_sorting_and_norms(device):
    x = gk.tensor(np.array([[3.0, 1.0, 2.0, 1.0], [0.0, 5.0, 4.0, 5.0]]), device=device, requires_grad=True)
    assert gk.argsort(x).tolist() == [[1, 3, 2, 0], [0, 2, 1, 3]]  # stable: equal values keep their order
    assert x.argsort(descending=True).tolist() == [[0, 2, 1, 3], [1, 3, 2, 0]]  # ties still in order
    values, indices = gk.topk(x, 2)
    assert values.tolist() == [[3.0, 2.0], [5.0, 5.0]] and indices.tolist() == [[0, 2], [1, 3]]
    (values * gk.tensor([[1.0, 10.0]], device=device)).sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 10.0, 0.0], [0.0, 1.0, 0.0, 10.0]]  # back to where each came from
    assert gk.argsort(gk.tensor([3, -(2**63), 5], device=device), descending=True).tolist() == [2, 0, 1]
    assert gk.sort(gk.tensor([True, False, True], device=device)).tolist() == [False, True, True]
    with pytest.raises(gk.IndexOutOfRangeError, match="topk: k=5"):
        gk.topk(x, 5)
    with pytest.raises(gk.ShapeError, match="sort: a 0-d tensor"):
        gk.sort(gk.tensor(1.0, device=device))
    # the 2-norm's slope is x / ||x||, and 0 (not NaN) where the norm is 0, as PyTorch
    v = gk.tensor([3.0, 4.0], device=device, requires_grad=True)
    gk.norm(v).backward()
    np.testing.assert_allclose(v.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    z = gk.zeros((2, 3), device=device, requires_grad=True)
    z.norm(axis=1).sum().backward()
    assert z.grad.tolist() == [[0.0] * 3] * 2
    w = gk.tensor([3.0, 0.0, 4.0], device=device, requires_grad=True)
    gk.norm(w, 0.5).backward()  # |x|^(p-1) is infinite at 0 for p < 1: the slope there is 0, as PyTorch
    assert np.isfinite(w.grad.numpy()).all() and w.grad.numpy()[1] == 0.0
    h = gk.tensor(np.array([300.0, 400.0], dtype=np.float16), device=device)
    assert gk.norm(h).dtype == gk.float16 and gk.norm(h).item() == 500.0  # summed in float32: no overflow
    nan = gk.tensor([1.0, np.nan, 3.0, -np.inf, 2.0], device=device)
    assert gk.topk(nan, 2)[1].tolist() == [1, 2]  # NaN is the largest, as PyTorch
    assert gk.argsort(nan).tolist() == [3, 0, 4, 2, 1]  # and last when ascending, as NumPy
    with pytest.raises(gk.ArgumentTypeError, match="topk: largest must be True or False"):
        gk.topk(nan, 1, largest=1)
    with pytest.raises(gk.ShapeError, match="norm: the inf-norm of an empty selection"):
        gk.norm(gk.zeros((0, 3), device=device), np.inf)
    with pytest.raises(gk.InvalidArgumentError, match="norm: ord must be > 0"):
        gk.norm(v, -1)
    with pytest.raises(gk.DTypeError, match="norm: expected a floating-point tensor"):
        gk.norm(gk.tensor([1, 2], device=device))
