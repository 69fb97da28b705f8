"""User mistakes raise gk.GradkitError subclasses that name the op, what was passed and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk

X = np.ones((2, 3), dtype=np.float32)


def _x(device, requires_grad=False):
    return gk.tensor(X, device=device, requires_grad=requires_grad)


# (id, call(x) where x is a (2, 3) float32 tensor, error class, builtin base, fragments the message must contain)
CASES = [
    # creation
    ("ragged_list", lambda x: gk.tensor([[1.0, 2.0], [3.0]]), gk.ShapeError, ValueError, ["tensor", "ragged"]),
    ("unknown_dtype", lambda x: gk.tensor([1.0], dtype="float128"), gk.DTypeError, TypeError,
     ["tensor", "'float128'", "float32", "int64"]),
    ("unknown_dtype_name", lambda x: gk.zeros(2, dtype="floaty"), gk.DTypeError, TypeError, ["zeros", "'floaty'"]),
    ("string_data", lambda x: gk.tensor("abc"), gk.DTypeError, TypeError, ["tensor", "str"]),
    ("complex_data", lambda x: gk.tensor(np.array([1j])), gk.DTypeError, TypeError, ["tensor", "complex"]),
    ("requires_grad_int", lambda x: gk.tensor([1, 2], requires_grad=True), gk.DTypeError, TypeError,
     ["tensor", "requires_grad", "int64", "float"]),
    ("requires_grad_int_zeros", lambda x: gk.zeros(2, dtype="int32", requires_grad=True), gk.DTypeError, TypeError,
     ["zeros", "int32"]),
    ("requires_grad__int", lambda x: gk.tensor([1, 2]).requires_grad_(), gk.DTypeError, TypeError,
     ["requires_grad", "int64"]),
    ("negative_dim", lambda x: gk.ones(2, -3), gk.ShapeError, ValueError, ["ones", "-3"]),
    ("float_dim", lambda x: gk.zeros(2.5), gk.ArgumentTypeError, TypeError, ["zeros", "2.5"]),
    ("from_numpy_list", lambda x: gk.from_numpy([1.0]), gk.ArgumentTypeError, TypeError, ["from_numpy", "list"]),
    ("rand_int_dtype", lambda x: gk.rand(2, dtype="int64"), gk.DTypeError, TypeError, ["rand", "int64"]),
    ("randint_range", lambda x: gk.randint(5, 2), gk.InvalidArgumentError, ValueError, ["randint", "5", "2"]),
    ("arange_step", lambda x: gk.arange(0, 3, 0), gk.InvalidArgumentError, ValueError, ["arange", "step"]),
    ("unknown_device", lambda x: gk.zeros(2, device="tpu"), gk.DeviceError, RuntimeError, ["'tpu'", "cpu", "cuda"]),
    ("to_unknown_device", lambda x: x.to("tpu:0"), gk.DeviceError, RuntimeError, ["'tpu:0'"]),
    ("astype_unknown", lambda x: x.astype("complex64"), gk.DTypeError, TypeError, ["astype", "'complex64'"]),
    # shapes
    ("matmul_inner", lambda x: x @ gk.ones(4, 5, device=x.device), gk.ShapeError, ValueError,
     ["matmul", "(2, 3)", "(4, 5)"]),
    ("matmul_vector", lambda x: x @ gk.ones(4, device=x.device), gk.ShapeError, ValueError,
     ["matmul", "(2, 3)", "(4,)"]),
    ("matmul_vector_left", lambda x: gk.ones(4, device=x.device) @ x, gk.ShapeError, ValueError,
     ["matmul", "(4,)", "(2, 3)"]),
    ("matmul_batch", lambda x: gk.ones(2, 3, 4, device=x.device) @ gk.ones(3, 4, 5, device=x.device),
     gk.ShapeError, ValueError, ["matmul", "(2, 3, 4)", "(3, 4, 5)"]),
    ("matmul_0d", lambda x: gk.matmul(gk.tensor(2.0, device=x.device), x), gk.ShapeError, ValueError,
     ["matmul", "()", "(2, 3)"]),
    ("matmul_python_number", lambda x: x @ 2.0, gk.ArgumentTypeError, TypeError, ["matmul"]),
    ("dot_vectors", lambda x: gk.dot(gk.ones(3, device=x.device), gk.ones(2, device=x.device)), gk.ShapeError,
     ValueError, ["dot", "(3,)", "(2,)"]),
    ("dot_nd", lambda x: gk.dot(gk.ones(2, 3, 4, device=x.device), gk.ones(5, 2, device=x.device)), gk.ShapeError,
     ValueError, ["dot", "(2, 3, 4)", "(5, 2)"]),
    ("broadcast_add", lambda x: x + gk.ones(4, device=x.device), gk.ShapeError, ValueError, ["add", "(2, 3)", "(4,)"]),
    ("broadcast_mul_array", lambda x: x * np.ones((3, 2), dtype=np.float32), gk.ShapeError, ValueError,
     ["multiply", "(2, 3)", "(3, 2)"]),
    ("reshape_size", lambda x: x.reshape(4), gk.ShapeError, ValueError, ["reshape", "(2, 3)", "(4,)"]),
    ("reshape_type", lambda x: x.reshape("a"), gk.ArgumentTypeError, TypeError, ["reshape", "'a'"]),
    ("transpose_perm", lambda x: x.transpose((0, 0)), gk.ShapeError, ValueError, ["transpose", "(0, 0)", "(2, 3)"]),
    ("permute_perm", lambda x: x.permute(0), gk.ShapeError, ValueError, ["permute", "(0,)", "(2, 3)"]),
    ("squeeze_not_one", lambda x: x.squeeze(0), gk.ShapeError, ValueError, ["squeeze", "(2, 3)"]),
    ("expand_fewer", lambda x: x.expand(3), gk.ShapeError, ValueError, ["expand", "(2, 3)", "(3,)"]),
    ("expand_mismatch", lambda x: x.expand(4, 3), gk.ShapeError, ValueError, ["expand", "(2, 3)", "(4, 3)"]),
    ("broadcast_to", lambda x: gk.broadcast_to(x, (3, 3)), gk.ShapeError, ValueError,
     ["broadcast_to", "(2, 3)", "(3, 3)"]),
    ("concatenate_shapes", lambda x: gk.concatenate([x, gk.ones(3, 2, device=x.device)]), gk.ShapeError, ValueError,
     ["concatenate", "(2, 3)", "(3, 2)"]),
    ("concatenate_ndim", lambda x: gk.concatenate([x, gk.ones(3, device=x.device)]), gk.ShapeError, ValueError,
     ["concatenate", "(2, 3)", "(3,)"]),
    ("concatenate_tensor", lambda x: gk.concatenate(x), gk.ArgumentTypeError, TypeError, ["concatenate", "list"]),
    ("stack_shapes", lambda x: gk.stack([x, x.T]), gk.ShapeError, ValueError, ["stack", "(2, 3)", "(3, 2)"]),
    ("split_uneven", lambda x: gk.split(x, 2, axis=1), gk.ShapeError, ValueError, ["split", "3", "2"]),
    ("pad_negative", lambda x: gk.pad(x, -1), gk.InvalidArgumentError, ValueError, ["pad", "-1"]),
    ("pad_mode", lambda x: gk.pad(x, 1, mode="circular"), gk.InvalidArgumentError, ValueError,
     ["pad", "'circular'", "reflect"]),
    ("pad_width", lambda x: gk.pad(x, ((1, 1),) * 3), gk.ShapeError, ValueError, ["pad", "2 dimension"]),
    ("einsum_operands", lambda x: gk.einsum("ij,jk->ik", x), gk.ShapeError, ValueError, ["einsum", "'ij,jk->ik'"]),
    ("einsum_shapes", lambda x: gk.einsum("ij,jk->ik", x, x), gk.ShapeError, ValueError,
     ["einsum", "(2, 3)"]),
    ("einsum_ndim", lambda x: gk.einsum("ijk->i", x), gk.ShapeError, ValueError, ["einsum", "'ijk'", "(2, 3)"]),
    ("where_shapes", lambda x: gk.where(gk.tensor([True, False], device=x.device), x, x), gk.ShapeError, ValueError,
     ["where"]),
    ("gather_ndim", lambda x: gk.gather(x, 0, np.zeros(3, dtype=np.int64)), gk.ShapeError, ValueError,
     ["gather", "(3,)"]),
    ("backward_grad_shape", lambda x: (x.detach().requires_grad_() * 2.0).backward(gk.ones(3, device=x.device)),
     gk.ShapeError, ValueError, ["backward", "(3,)", "(2, 3)"]),
    ("item_many", lambda x: x.item(), gk.ShapeError, ValueError, ["item", "(2, 3)"]),
    ("empty_max", lambda x: gk.zeros(0, device=x.device).max(), gk.ShapeError, ValueError, ["max", "(0,)"]),
    ("empty_argmax", lambda x: gk.zeros(0, device=x.device).argmax(), gk.ShapeError, ValueError, ["argmax", "(0,)"]),
    ("bool_subtract", lambda x: gk.tensor([True], device=x.device) - gk.tensor([True], device=x.device),
     gk.DTypeError, TypeError, ["subtract", "bool"]),
    ("bool_negative", lambda x: -gk.tensor([True], device=x.device), gk.DTypeError, TypeError, ["negative", "bool"]),
    ("int_negative_power", lambda x: gk.tensor([2], device=x.device) ** -1, gk.InvalidArgumentError, ValueError,
     ["power", "int64", "negative"]),
    ("concatenate_0d", lambda x: gk.concatenate([gk.tensor(1.0, device=x.device)] * 2), gk.ShapeError, ValueError,
     ["concatenate", "zero-dimensional", "stack"]),
    # indices and axes
    ("index_out_of_range", lambda x: x[2], gk.IndexOutOfRangeError, IndexError, ["getitem", "2", "(2, 3)"]),
    ("negative_index", lambda x: x[:, -4], gk.IndexOutOfRangeError, IndexError, ["getitem", "-4", "(2, 3)"]),
    ("array_index", lambda x: x[np.array([0, 5])], gk.IndexOutOfRangeError, IndexError, ["getitem", "5", "(2, 3)"]),
    ("too_many_indices", lambda x: x[0, 0, 0], gk.IndexOutOfRangeError, IndexError, ["getitem", "(2, 3)"]),
    ("float_index", lambda x: x[0.5], gk.ArgumentTypeError, TypeError, ["getitem", "0.5"]),
    ("mask_shape", lambda x: x[np.array([True, False, True])], gk.ShapeError, ValueError,
     ["getitem", "(3,)", "(2, 3)"]),
    ("take_range", lambda x: gk.take(x, [6]), gk.IndexOutOfRangeError, IndexError, ["take", "6"]),
    ("gather_range", lambda x: gk.gather(x, 1, np.array([[3]])), gk.IndexOutOfRangeError, IndexError,
     ["gather", "3"]),
    ("setitem_range", lambda x: x.__setitem__(5, 1.0), gk.IndexOutOfRangeError, IndexError, ["__setitem__", "5"]),
]
AXIS_OPS = ["sum", "mean", "var", "std", "max", "min", "prod", "logsumexp", "argmax", "argmin", "softmax",
            "log_softmax", "flip", "squeeze", "unsqueeze", "take", "split", "concatenate", "stack"]


def _call_with_axis(name, x, axis):
    if name in ("concatenate", "stack"):
        return getattr(gk, name)([x, x], axis=axis)
    if name == "take":
        return gk.take(x, [0], axis=axis)
    if name == "split":
        return gk.split(x, 1, axis=axis)
    if name in ("softmax", "log_softmax", "unsqueeze", "squeeze", "flip"):
        return getattr(gk, name)(x, axis)
    return getattr(gk, name)(x, axis=axis)


@pytest.mark.parametrize(("case_id", "call", "cls", "base", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_user_mistakes(case_id, call, cls, base, fragments, device):
    x = _x(device)
    with pytest.raises(cls) as info:
        call(x)
    err = info.value
    assert isinstance(err, gk.GradkitError) and isinstance(err, base)
    msg = str(err)
    for fragment in fragments:
        assert fragment in msg, f"{case_id}: {fragment!r} missing from {msg!r}"


@pytest.mark.parametrize("name", AXIS_OPS)
def test_axis_out_of_range_names_op_axis_and_ndim(name, device):
    x = _x(device)
    axis = 3 if name in ("unsqueeze", "stack") else 2
    with pytest.raises(gk.IndexOutOfRangeError) as info:
        _call_with_axis(name, x, axis)
    msg = str(info.value)
    assert name in msg and f"axis {axis}" in msg and "dimension" in msg
    with pytest.raises(gk.IndexOutOfRangeError, match=name):
        _call_with_axis(name, x, -axis - 1)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "var"])
def test_axis_type_and_repeats(name, device):
    x = _x(device)
    with pytest.raises(gk.ArgumentTypeError, match=f"{name}.*1.5"):
        getattr(gk, name)(x, axis=1.5)
    with pytest.raises(gk.InvalidArgumentError, match=rf"{name}.*\(0, 0\)") as info:
        getattr(gk, name)(x, axis=(0, 0))
    assert isinstance(info.value, ValueError)


def test_functions_want_tensors_or_numbers(device):
    # Python numbers are taken as NumPy takes them (0-d float64/int64 tensors); other objects are refused
    assert gk.exp(2.0).dtype == gk.float64 and gk.add(1, 2).item() == 3
    with pytest.raises(gk.DTypeError, match="exp.*str"):
        gk.exp("2.0")
    with pytest.raises(gk.ArgumentTypeError, match="add.*list and list"):
        gk.add([1], [2])
    with pytest.raises(gk.DTypeError, match="sum"):
        gk.sum("abc")


def test_inplace_on_leaf_requiring_grad(device):
    x = _x(device, requires_grad=True)
    with pytest.raises(gk.AutogradError) as info:
        x += 1.0
    msg = str(info.value)
    assert "in-place" in msg and "add" in msg and "requires grad" in msg and "no_grad" in msg
    assert isinstance(info.value, RuntimeError)


def test_backward_twice_without_retain_graph(device):
    x = _x(device, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(gk.AutogradError) as info:
        y.backward()
    assert "retain_graph" in str(info.value) and "second time" in str(info.value)


def test_saved_tensor_modified_in_place(device):
    w = _x(device, requires_grad=True)
    c = gk.tensor(X * 2, device=device)
    y = (gk.tanh(w) * c).sum()
    c *= 3.0
    with pytest.raises(gk.AutogradError, match="multiply.*in place"):
        y.backward()


def test_backward_without_grad(device):
    with pytest.raises(gk.AutogradError, match="backward.*require grad"):
        _x(device).sum().backward()
    with pytest.raises(gk.AutogradError, match=r"backward.*\(2, 3\)"):
        (_x(device, requires_grad=True) * 2.0).backward()


@pytest.mark.cuda
def test_tensors_on_two_devices():
    a = gk.ones(2, device="cpu")
    b = gk.ones(2, device="cuda")
    for call, op in ((lambda: a + b, "add"), (lambda: b * a, "multiply"), (lambda: gk.matmul(a, b), "matmul"),
                     (lambda: gk.concatenate([a, b]), "concatenate"), (lambda: gk.where(a > 0, a, b), "where")):
        with pytest.raises(gk.DeviceError) as info:
            call()
        msg = str(info.value)
        assert op in msg and "cpu" in msg and "cuda:0" in msg
    with pytest.raises(gk.DeviceError, match="cuda"):
        b[gk.tensor([0], device="cpu")]


@pytest.mark.parametrize(
    ("name", "change"),
    [("add", lambda t: t.__iadd__(1.0)), ("mul", lambda t: t.__imul__(2.0)),
     ("__setitem__", lambda t: t.__setitem__(0, 5.0)), ("copy_", lambda t: t.copy_(gk.zeros(3))),
     ("fill_", lambda t: t.fill_(1.0)), ("zero_", lambda t: t.zero_())],
)  # fmt: skip
def test_inplace_on_a_read_only_view_says_read_only(name, change):
    b = gk.broadcast_to(gk.ones(3), (2, 3))
    with gk.no_grad(), pytest.raises(gk.InvalidArgumentError, match=rf"in-place {name}: .*read-only"):
        change(b)
    np.testing.assert_array_equal(b.numpy(), np.ones((2, 3)))


def test_inplace_on_a_writable_broadcast_view_is_refused_too():
    """CuPy has no read-only flag, so its broadcast views are writable: gradkit looks at the strides."""
    base = np.ones(3)
    view = np.lib.stride_tricks.as_strided(base, (2, 3), (0, 8))  # writable, as a CuPy broadcast view is
    t = gk.from_numpy(view)
    with gk.no_grad(), pytest.raises(gk.InvalidArgumentError, match="in-place add: .*read-only .*broadcast"):
        t += 1.0
    np.testing.assert_array_equal(base, np.ones(3))
