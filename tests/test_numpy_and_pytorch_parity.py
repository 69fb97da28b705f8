"""Behaviour a NumPy or PyTorch user expects, where gradkit once differed (found by differential audits).

Each test states the reference behaviour it checks; closed forms stand in for PyTorch, so the
tests do not need it.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import gradkit as gk


# ------------------------------------------------------------------ Python protocols
def test_pickled_tensors_and_modules_work_with_other_tensors():
    t = gk.tensor([1.0, 2.0])
    u = pickle.loads(pickle.dumps(t))
    np.testing.assert_array_equal((u + t).numpy(), [2.0, 4.0])
    lin = gk.nn.Linear(3, 2)
    again = pickle.loads(pickle.dumps(lin))
    np.testing.assert_allclose(again(gk.ones(1, 3)).numpy(), lin(gk.ones(1, 3)).numpy())
    assert copy.deepcopy(t)._backend is t._backend


def test_in_looks_for_an_equal_element_at_any_depth(device):
    t = gk.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    assert 2.0 in t and 5.0 not in t
    assert gk.tensor(3.0, device=device) in t


def test_a_0d_tensor_formats_as_its_value():
    loss = gk.tensor(0.12345)
    assert f"{loss:.3f}" == "0.123" and f"{gk.tensor(7):03d}" == "007"
    assert f"{gk.ones(2)}" == str(gk.ones(2))
    with pytest.raises(gk.ArgumentTypeError, match=r"format: the format spec '.3f' needs a 0-d tensor"):
        f"{gk.ones(2):.3f}"


def test_reflected_bitwise_operators():
    assert (True & gk.tensor([True, False])).tolist() == [True, False]
    assert (1 | gk.tensor([2])).tolist() == [3] and (6 ^ gk.tensor([3])).tolist() == [5]


@pytest.mark.parametrize("call", [lambda: gk.tensor([1.0], requires_grad="no"),
                                  lambda: gk.ones(2).requires_grad_(1)])  # fmt: skip
def test_requires_grad_must_be_a_bool(call):
    with pytest.raises(gk.ArgumentTypeError, match="requires_grad"):
        call()


# ------------------------------------------------------------------ integer ranges and fills
@pytest.mark.parametrize(
    ("call", "op"),
    [
        (lambda t: t + 300, "add"),
        (lambda t: 300 - t, "subtract"),
        (lambda t: t & 300, "bitwise_and"),
        (lambda t: t.fill_(300), "fill_"),
        (lambda t: t.__setitem__(0, 300), "__setitem__"),
        (lambda t: t.__iadd__(300), "in-place add"),
    ],
)
def test_a_python_int_out_of_an_integer_tensors_range_is_a_clear_error(call, op):
    t = gk.zeros(3, dtype="int8")
    if np.lib.NumpyVersion(np.__version__) < "2.0.0" and op in ("add", "subtract", "bitwise_and"):
        pytest.skip("NumPy 1.x promotes int8 + 300 to int16 instead of refusing it")
    with pytest.raises(gk.InvalidArgumentError, match=rf"^{op}: .*300 is out of range for a int8 tensor"):
        call(t)
    assert t.tolist() == [0, 0, 0]


@pytest.mark.parametrize("value", ["a", [1, 2, 3], None])
def test_fill_takes_a_number(value):
    t = gk.zeros(3)
    with pytest.raises(gk.ArgumentTypeError, match="fill_: expected a number"):
        t.fill_(value)
    assert t.fill_(gk.tensor(2.5)).tolist() == [2.5, 2.5, 2.5]


def test_none_is_not_a_value_to_assign():
    with pytest.raises(gk.DTypeError, match="__setitem__: cannot assign NoneType None"):
        gk.zeros(2)[0] = None


# ------------------------------------------------------------------ reductions
def test_any_and_all_check_their_axes_as_other_reductions(device):
    t = gk.tensor([[1.0, 0.0], [0.0, 0.0]], device=device)
    assert gk.any(t).item() is True and gk.all(t).item() is False
    assert t.any(axis=1).tolist() == [True, False] and t.all(axis=(0, 1), keepdims=True).shape == (1, 1)
    with pytest.raises(gk.IndexOutOfRangeError, match="any: axis 5"):
        t.any(axis=5)
    with pytest.raises(gk.ArgumentTypeError, match="all: axis must be an int"):
        t.all(axis="a")


def test_max_and_argmax_of_empty_tensors_fail_only_over_an_empty_axis(device):
    """As NumPy: only reducing a length-0 axis has no result."""
    z = gk.zeros((0, 3), device=device)
    assert gk.max(z, axis=1).shape == (0,) and gk.min(z, axis=()).shape == (0, 3)
    assert gk.argmax(z, axis=1).shape == (0,)
    with pytest.raises(gk.ShapeError, match="max: reducing axes"):
        gk.max(z, axis=0)
    with pytest.raises(gk.ShapeError, match="argmin: an empty tensor"):
        gk.argmin(z)


def test_argmax_of_a_0d_tensor_along_its_only_axis(device):
    t = gk.tensor(1.0, device=device)
    assert gk.argmax(t, axis=-1).item() == 0 and gk.argmin(t, axis=0, keepdims=True).shape == ()
    with pytest.raises(gk.IndexOutOfRangeError):
        gk.argmax(t, axis=1)


def test_std_has_a_zero_slope_where_all_values_are_equal(device):
    """PyTorch's convention: d std / dx = 0 where std = 0 (not 0/0)."""
    x = gk.tensor(np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]]), device=device, requires_grad=True)
    x.std(axis=1).sum().backward()
    g = x.grad.numpy()
    np.testing.assert_array_equal(g[0], [0.0, 0.0, 0.0])
    row = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(g[1], (row - row.mean()) / (row.size * row.std()), rtol=1e-12)
    x0 = gk.tensor(3.0, dtype="float64", device=device, requires_grad=True)
    x0.std().backward()
    assert x0.grad.item() == 0.0


def test_logsumexp_of_bools_counts_them_as_zero_and_one():
    np.testing.assert_allclose(gk.logsumexp(gk.tensor([True, False])).item(), np.log(np.e + 1), rtol=1e-6)


def test_sign_of_bools_is_a_dtype_error():
    with pytest.raises(gk.DTypeError, match="sign: not defined for a tensor of dtype bool"):
        gk.sign(gk.tensor([True]))


# ------------------------------------------------------------------ gradients at edges (PyTorch's values)
def test_power_with_a_zero_tensor_exponent_has_a_zero_base_slope(device):
    x = gk.tensor(np.array([0.0, 2.0]), device=device, requires_grad=True)
    (x ** gk.tensor(np.zeros(2), device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_a_scalar_base_power_slope_in_the_exponent(device):
    """d(c**x)/dx = c**x ln c; PyTorch gives NaN for c < 0, and for c = 0: 0 where x >= 0, -inf where x < 0."""
    for base, want in ((3.0, [9 * np.log(3), np.log(3) / 3]), (-2.0, [np.nan, np.nan]), (0.0, [0.0, -np.inf])):
        x = gk.tensor(np.array([2.0, -1.0]), device=device, requires_grad=True)
        (base**x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)


def test_clip_with_tensor_bounds_has_pytorchs_clamp_gradients(device):
    """x gets the gradient where lo <= x <= hi (ties too); lo where x < lo < hi; hi where x > hi or hi < lo."""
    x = gk.tensor(np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 0.0]), device=device, requires_grad=True)
    lo = gk.tensor(np.array([-1.0, -1.0, -1.0, -1.0, -1.0, 1.0]), device=device, requires_grad=True)
    hi = gk.tensor(np.array([1.0, 1.0, 1.0, 1.0, 1.0, -1.0]), device=device, requires_grad=True)
    out = gk.clip(x, lo, hi)
    np.testing.assert_array_equal(out.numpy(), [-1.0, -1.0, 0.0, 1.0, 1.0, -1.0])  # lo > hi gives hi, as NumPy
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(lo.grad.numpy(), [1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(hi.grad.numpy(), [0, 0, 0, 0, 1, 1])
    # one tensor bound and one number, broadcast
    x = gk.tensor(np.array([[-2.0, 0.5, 3.0]]), device=device, requires_grad=True)
    lo = gk.tensor(np.array([[-1.0], [1.0]]), device=device, requires_grad=True)
    gk.clip(x, lo, 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0]])
    np.testing.assert_array_equal(lo.grad.numpy(), [[1], [2]])
    assert gk.clip(gk.ones(2, dtype="float16"), gk.tensor(0.0, dtype="float16"), 0.5).dtype == np.float16
    assert gk.gradcheck(lambda a, b: gk.clip(a, b, 0.3),
                        [gk.tensor(np.array([-0.5, 0.1, 0.9]), requires_grad=True),
                         gk.tensor(np.array([-0.2]), requires_grad=True)])  # fmt: skip


# ------------------------------------------------------------------ linear algebra
def test_dot_of_an_nd_array_and_a_vector_sums_the_last_axis(device):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal(4)
    np.testing.assert_allclose(gk.dot(gk.tensor(a, device=device), gk.tensor(b, device=device)).numpy(), np.dot(a, b))
    assert gk.gradcheck(gk.dot, [gk.tensor(a, device=device, requires_grad=True),
                                 gk.tensor(b, device=device, requires_grad=True)])  # fmt: skip


EINSUM_BROADCASTS = [("ij,j->i", (2, 3), (1,)), ("ij,j->i", (2, 1), (3,)), ("ij,kj->ik", (2, 1), (4, 3)),
                     ("ij,kj->i", (2, 3), (1, 1))]  # fmt: skip


@pytest.mark.parametrize(("spec", "sa", "sb"), EINSUM_BROADCASTS)
def test_einsum_gradients_keep_the_operand_shape_when_a_label_broadcasts(device, spec, sa, sb):
    rng = np.random.default_rng(1)
    a = gk.tensor(rng.standard_normal(sa), device=device, requires_grad=True)
    b = gk.tensor(rng.standard_normal(sb), device=device, requires_grad=True)
    gk.einsum(spec, a, b).sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    assert gk.gradcheck(lambda x, y: gk.einsum(spec, x, y), [a.detach().requires_grad_(), b.detach().requires_grad_()])


# ------------------------------------------------------------------ indexing
def test_index_forms_numpy_accepts(device):
    a = np.arange(10.0).reshape(5, 2)
    t = gk.tensor(a, device=device)
    assert t[[]].shape == a[[]].shape == (0, 2)
    assert gk.take(gk.ones(4, device=device), []).shape == (0,)
    np.testing.assert_array_equal(t[True, 1].numpy(), a[True, 1])
    np.testing.assert_array_equal(t[(0, 2),].numpy(), a[(0, 2),])
    assert t[np.True_].shape == (1, 5, 2) and t[False].shape == (0, 5, 2)
    a2 = np.arange(10.0).reshape(2, 5)
    np.testing.assert_array_equal(gk.tensor(a2, device=device)[True, 1, 4].numpy(), a2[True, 1, 4])
    x = gk.tensor(a, device=device, requires_grad=True)
    x[True, [1, 1]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[1], [2.0, 2.0])


# ------------------------------------------------------------------ autograd
def test_gradients_accumulate_into_the_same_grad_tensor(device):
    """As PyTorch: a second backward adds into .grad in place, so a reference to it sees the sum."""
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    (x * 2).sum().backward()
    g = x.grad
    (x * 2).sum().backward()
    assert x.grad is g and g.tolist() == [4.0, 4.0]
    # with create_graph the sum is recorded instead (higher-order gradients need it)
    y = gk.tensor([3.0], device=device, requires_grad=True)
    (y * y).sum().backward(create_graph=True)
    first = y.grad
    (y * y).sum().backward(create_graph=True)
    assert y.grad is not first and y.grad.tolist() == [12.0] and y.grad.grad_fn is not None


def test_a_hook_may_not_change_the_gradients_dtype():
    """PyTorch raises "hook has changed the type of value"; a .grad of another dtype would reach the optimiser."""
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g.astype("float64"))
    with pytest.raises(gk.DTypeError, match="leaf tensor returned a gradient of dtype float64, expected float32"):
        (x * 2).sum().backward()
    y = gk.tensor([1.0, 2.0], requires_grad=True)
    z = y * 2
    z.register_hook(lambda g: gk.tensor([1, 1]))
    with pytest.raises(gk.DTypeError, match="returned a gradient of dtype int64"):
        z.sum().backward()


def test_a_rule_that_returns_a_wrongly_shaped_leaf_gradient_is_an_error_not_a_corrupt_grad():
    from gradkit.autograd.function import record

    x = gk.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = record("bad_shape", x.data * 2, x.backend, (x,), (lambda g: (g * 2).sum(),))
    with pytest.raises(gk.ShapeError, match="the rule of 'bad_shape' gave input 0 .* a gradient of shape \\(\\)"):
        y.sum().backward()
    assert x.grad is None


# ------------------------------------------------------------------ creation
def test_the_dtype_of_a_mixed_list_does_not_depend_on_order():
    assert gk.tensor([1, np.float64(2.5)]).dtype == gk.tensor([np.float64(2.5), 1]).dtype == np.float64
    assert gk.tensor([[1.0, 2.0], [3.0, 4.0]]).dtype == np.float32 and gk.tensor([]).dtype == np.float32


def test_full_keeps_a_numpy_integer_fill_values_dtype():
    assert gk.full(2, np.int32(1)).dtype == np.int32 and gk.full(2, 1).dtype == np.int64
    assert gk.full(2, np.True_).dtype == np.bool_


@pytest.mark.parametrize(("data", "fragment"), [([1e20], "does not fit dtype int32"),
                                                ([float("nan")], "NaN and infinity")])  # fmt: skip
def test_python_floats_out_of_an_integer_dtypes_range_are_refused(data, fragment):
    with pytest.raises(gk.InvalidArgumentError, match=fragment):
        gk.tensor(data, dtype="int32")
    assert gk.tensor([1.7, -2.2], dtype="int32").tolist() == [1, -2]  # in range: truncated, as NumPy


def test_randint_bounds_must_be_whole_numbers():
    with pytest.raises(gk.ArgumentTypeError, match="randint: low must be an int, got float 0.5"):
        gk.randint(0.5, 3.7, (3,))
    assert gk.randint(0, 3.0, (50,)).numpy().max() < 3


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="NumPy 1.x has no copy= in asarray")
def test_asarray_with_copy_false_refuses_a_needed_copy():
    t = gk.tensor([1.0, 2.0], device="cpu")
    assert np.shares_memory(np.asarray(t), t.data) and not np.shares_memory(np.asarray(t, copy=True), t.data)
    with pytest.raises(ValueError, match="needs a copy"):
        np.asarray(t, dtype=np.float64, copy=False)


def test_unknown_big_integers_say_what_went_wrong():
    with pytest.raises(gk.DTypeError, match="beyond the int64 range"):
        gk.tensor(2**64)


# ------------------------------------------------------------------ nn and optim
def test_sequential_sees_a_forward_replaced_after_its_first_call():
    s = gk.nn.Sequential(gk.nn.Linear(2, 2), gk.nn.ReLU())
    x = gk.ones(1, 2)
    s(x)  # caches the fused Linear + ReLU plan
    s[1].forward = lambda t: t * 0 + 7
    assert s(x).tolist() == [[7.0, 7.0]]
    del s[1].forward
    assert (s(x).numpy() >= 0).all()


def test_sequential_and_module_list_are_lists_as_in_pytorch():
    relu, tanh, ident = gk.nn.ReLU(), gk.nn.Tanh(), gk.nn.Identity()
    s = gk.nn.Sequential(gk.nn.Linear(2, 2), gk.nn.ReLU())
    del s[0]
    s[0] = tanh
    s.insert(0, relu)
    s.extend([ident])
    assert list(s) == [relu, tanh, ident] and list(s._modules) == ["0", "1", "2"]
    assert s.pop(0) is relu and list(s._modules) == ["0", "1"] and s[0] is tanh
    del s[:]
    assert len(s) == 0
    m = gk.nn.ModuleList([gk.nn.Linear(1, 1), relu])
    assert isinstance(m[0:1], gk.nn.ModuleList) and len(m[0:1]) == 1 and m.pop() is relu
    with pytest.raises(gk.ArgumentTypeError, match="Sequential.insert: expected a Module"):
        s.insert(0, 3)
    with pytest.raises(gk.IndexOutOfRangeError):
        s[5] = relu


def test_registering_over_another_attribute_is_refused():
    class M(gk.nn.Module):
        def __init__(self):
            super().__init__()
            self.foo = 3

    m = M()
    for call in (lambda: m.register_buffer("foo", gk.ones(1)), lambda: m.add_module("foo", gk.nn.ReLU()),
                 lambda: m.register_parameter("forward", None)):  # fmt: skip
        with pytest.raises(gk.GradkitError, match="already exists"):
            call()
    m.register_buffer("b", gk.ones(1))
    m.register_buffer("b", gk.zeros(1))  # the same table: replaced, as PyTorch
    assert m.b.tolist() == [0.0] and m.foo == 3


def test_bce_with_logits_takes_an_element_weight():
    """PyTorch's weight=: each element's loss is scaled before the reduction."""
    F = gk.nn.functional
    rng = np.random.default_rng(0)
    x, t, w = rng.standard_normal((2, 3)), rng.random((2, 3)), np.array([1.0, 2.0, 3.0])
    plain = F.binary_cross_entropy_with_logits(gk.tensor(x), gk.tensor(t), "none").numpy()
    for reduction, want in (("none", plain * w), ("sum", (plain * w).sum()), ("mean", (plain * w).mean())):
        got = F.binary_cross_entropy_with_logits(gk.tensor(x), gk.tensor(t), reduction, weight=gk.tensor(w))
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    with pytest.raises(gk.ShapeError, match="weight of shape \\(4,\\)"):
        F.binary_cross_entropy_with_logits(gk.tensor(x), gk.tensor(t), weight=gk.ones(4))


def test_a_tensor_where_reduction_goes_says_so():
    with pytest.raises(gk.InvalidArgumentError, match="cross_entropy: reduction must be .* pass class or element"):
        gk.nn.functional.cross_entropy(gk.randn(3, 4), gk.tensor([0, 1, 2]), gk.ones(4))


def test_scheduler_step_with_an_epoch_uses_the_closed_form():
    opt = gk.optim.SGD([gk.nn.Parameter(gk.ones(1))], lr=0.1)
    sched = gk.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    sched.step(7)
    assert sched.last_epoch == 7 and sched.get_last_lr() == [0.1 * 0.5**3]
    sched.step()
    assert sched.get_last_lr() == [0.1 * 0.5**4]
    cos = gk.optim.lr_scheduler.CosineAnnealingLR(gk.optim.SGD([gk.nn.Parameter(gk.ones(1))], lr=0.1), 10)
    cos.step(5)
    assert cos.get_last_lr() == pytest.approx([0.05])
    with pytest.raises(gk.ArgumentTypeError, match="StepLR.step: epoch must be an int"):
        sched.step(1.5)


# ------------------------------------------------------------------ found by the review of the fixes above
def test_replacing_a_child_keeps_its_place():
    s = gk.nn.Sequential(gk.nn.Linear(2, 3), gk.nn.ReLU(), gk.nn.Linear(3, 1))
    s(gk.ones(4, 2))
    s[0] = gk.nn.Linear(2, 3)
    assert list(s._modules) == ["0", "1", "2"] and s(gk.ones(4, 2)).shape == (4, 1)
    assert list(s.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    m = gk.nn.Module()
    m.register_buffer("a", gk.ones(1))
    m.register_buffer("b", gk.ones(1))
    m.register_buffer("a", gk.zeros(1))
    assert list(m.state_dict()) == ["a", "b"]


def test_insert_returns_the_container_and_checks_the_index():
    s = gk.nn.Sequential(gk.nn.ReLU())
    assert s.insert(-1, gk.nn.Tanh()) is s and isinstance(s[0], gk.nn.Tanh)
    assert s.insert(2, gk.nn.Identity()) is s and isinstance(s[2], gk.nn.Identity)
    with pytest.raises(gk.IndexOutOfRangeError):
        s.insert(9, gk.nn.ReLU())
    with pytest.raises(gk.ArgumentTypeError, match="an index must be an int"):
        s["x"]


def test_a_class_level_forward_patch_is_not_fused_away():
    s = gk.nn.Sequential(gk.nn.Linear(2, 2), gk.nn.ReLU())
    x = gk.ones(1, 2)
    s(x)
    original = gk.nn.ReLU.forward
    try:
        gk.nn.ReLU.forward = lambda self, t: t * 0 + 5
        assert s(x).tolist() == [[5.0, 5.0]]
    finally:
        gk.nn.ReLU.forward = original
    assert (s(x).numpy() >= 0).all()


def test_tensors_handed_to_hooks_are_not_changed_by_later_backward_calls():
    w = gk.tensor([1.0, 2.0], requires_grad=True)
    keep = gk.ones(2)
    w.register_hook(lambda g: keep)
    (w * 2).sum().backward()
    (w * 2).sum().backward()
    assert keep.tolist() == [1.0, 1.0] and w.grad.tolist() == [2.0, 2.0]
    a = gk.tensor([1.0, 2.0], requires_grad=True)
    saved = []
    y = a + 0.0
    y.register_hook(saved.append)
    (y * gk.tensor([3.0, 4.0])).sum().backward()
    ((a + 0.0) * gk.tensor([3.0, 4.0])).sum().backward()
    assert saved[0].tolist() == [3.0, 4.0] and a.grad.tolist() == [6.0, 8.0]


def test_a_copied_gradient_keeps_its_graph_with_create_graph():
    x = gk.tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    y = gk.tensor(2.0, dtype="float64", requires_grad=True)
    (x.sum() * y).backward(create_graph=True)  # x.grad is a broadcast of y: stored as a (recorded) copy
    assert x.grad.requires_grad
    x.grad.sum().backward()
    assert y.grad.item() == pytest.approx(6.0 + 3.0)  # 6 from the first pass, 3 from d(sum(x.grad))/dy


@pytest.mark.filterwarnings("ignore:divide by zero")
def test_power_gradients_at_zero_as_pytorch(device):
    """PyTorch's values: d(a**b)/db at a = 0 is 0 for b >= 0 and -inf for b < 0; d/da is 0 where b = 0."""
    a = gk.tensor(np.array([0.0, 0.0, 0.0, 2.0]), device=device, requires_grad=True)
    b = gk.tensor(np.array([-1.0, 2.0, 0.0, 0.0]), device=device, requires_grad=True)
    (a**b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [-np.inf, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(b.grad.numpy(), [-np.inf, 0.0, 0.0, np.log(2.0)])


def test_second_derivative_of_power_in_the_exponent_at_b_zero():
    """d/db of d(a**b)/da = a**(b-1) (1 + b ln a): 1 / a at b = 0."""
    a = gk.tensor([0.5], dtype="float64", requires_grad=True)
    b = gk.tensor([0.0], dtype="float64", requires_grad=True)
    (a**b).sum().backward(create_graph=True)
    ga = a.grad
    a.grad = b.grad = None
    ga.sum().backward()
    assert b.grad.item() == pytest.approx(2.0)


@pytest.mark.parametrize("call", [lambda f: f + 10**400, lambda f: f == 10**400, lambda f: f.fill_(10**400),
                                  lambda f: f.__setitem__(0, 10**400), lambda f: f.__iadd__(10**400),
                                  lambda f: gk.clip(f, gk.zeros(2), 10**400),
                                  lambda f: gk.where(gk.tensor([True, False]), f, 10**400)])  # fmt: skip
def test_a_huge_python_int_with_a_float_tensor_is_a_clear_error(call):
    if np.lib.NumpyVersion(np.__version__) < "2.0.0":
        pytest.skip("NumPy 1.x converts such integers to object or inf instead of raising")
    with pytest.raises(gk.InvalidArgumentError, match=r"\(401 digits\) is too large to combine with a float32"):
        call(gk.ones(2))


def test_clip_takes_list_and_array_bounds_beside_a_tensor_bound(device):
    x = gk.tensor([-2.0, 0.5, 3.0], device=device, requires_grad=True)
    out = gk.clip(x, gk.tensor([-1.0, -1.0, -1.0], device=device), [1.0, 1.0, 1.0])
    assert out.tolist() == [-1.0, 0.5, 1.0]
    out.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]
    assert gk.clip(x, np.zeros(3), gk.tensor(2.0, device=device)).tolist() == [0.0, 0.5, 2.0]


def test_gradcheck_takes_transposed_and_fortran_ordered_inputs():
    a = np.random.default_rng(0).standard_normal((4, 3))
    assert gk.gradcheck(lambda t: (t**2).sum(), (gk.tensor(a).T.detach().requires_grad_(True),))
    assert gk.gradcheck(lambda t: (t**3).sum(), (gk.tensor(np.asfortranarray(a), requires_grad=True),))
    with pytest.raises(gk.InvalidArgumentError, match="no floating-point tensor"):
        gk.gradcheck(lambda t: gk.argmax(t), (gk.tensor(a, requires_grad=True),))


@pytest.mark.parametrize(("call", "op"), [
    (lambda: gk.grad(lambda x: x * x, 3)(1.0), "grad"),
    (lambda: gk.hessian(lambda x: (x * x).sum(), 3)(gk.ones(2, dtype="float64")), "hessian"),
    (lambda: gk.hessian(lambda a: a * gk.ones(2))(1.0), "hessian"),
    (lambda: gk.value_and_grad(lambda a: a * gk.ones(2))(1.0), "value_and_grad"),
    (lambda: gk.grad(lambda x: x * 1.0)(True), "grad"),
])  # fmt: skip
def test_transform_errors_name_the_transform_called(call, op):
    with pytest.raises(gk.GradkitError, match=rf"^{op}: "):
        call()


def test_paths_as_bytes_and_through_symbolic_links(tmp_path):
    pytest.importorskip("safetensors")
    target = tmp_path / "real.safetensors"
    gk.save({"a": gk.ones(2)}, bytes(target))
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    gk.save({"a": gk.zeros(2)}, link)  # written through the link, as PyTorch: the link stays a link
    assert link.is_symlink() and gk.load(target)["a"].tolist() == [0.0, 0.0]
    with pytest.raises(gk.ArgumentTypeError, match="load_mnist: the path must be a str or os.PathLike"):
        gk.data.load_mnist(None)


@pytest.mark.parametrize(("kwargs", "error"), [({"test_fraction": "0.2"}, gk.ArgumentTypeError),
                                               ({"seed": -1}, gk.InvalidArgumentError),
                                               ({"seed": "a"}, gk.ArgumentTypeError)])  # fmt: skip
def test_load_digits_checks_its_arguments(kwargs, error):
    with pytest.raises(error, match="^load_digits: "):
        gk.data.load_digits(**kwargs)


# ------------------------------------------------------------------ found by differential fuzzing against PyTorch
def test_cross_entropy_of_column_major_logits(device):
    """softmax(x) - one_hot(t), whatever the logits' memory order (x.T, x[:, idx], (W @ h).T)."""
    a = np.array([[1.0, -0.5, 0.3], [0.2, 0.9, -1.1]])
    t = np.array([0, 2])
    x = gk.tensor(a.T.copy(), device=device, requires_grad=True)
    gk.nn.functional.cross_entropy(x.T, gk.tensor(t, device=device)).backward()
    p = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    p[np.arange(2), t] -= 1
    np.testing.assert_allclose(x.grad.numpy(), (p / 2).T, rtol=1e-12)


def test_backward_from_outputs_that_depend_on_each_other():
    """vjp of (s, 2 s) and jvp with several inputs: a root reachable from another root waits for it."""
    def f(x):
        s = gk.sin(x * 3)
        return s, s * 2

    x = np.array([1.0, 2.0])
    _, fn = gk.vjp(f, gk.tensor(x))
    (g,) = fn(gk.ones(2, dtype=gk.float64), gk.ones(2, dtype=gk.float64))
    np.testing.assert_allclose(g.numpy(), 3 * 3 * np.cos(3 * x), rtol=1e-12)
    _, tangent = gk.jvp(lambda a, b: (a - b).sum(), (gk.tensor([1.0, 2.0]), gk.tensor([3.0, 4.0])),
                        (gk.tensor([1.0, 1.0]), gk.tensor([0.0, 0.0])))  # fmt: skip
    assert tangent.item() == 2.0
    a = gk.tensor([1.0, 2.0], requires_grad=True)
    s = a * 3
    gk.autograd.engine.run_backward([s, s * 2], [gk.ones(2), gk.ones(2)])
    assert a.grad.tolist() == [9.0, 9.0]


def test_bce_with_pos_weight_is_smooth_at_a_zero_logit():
    """d/dx of (1 - t) x + (1 + (pw - 1) t) softplus(-x) at x = 0 is (1 - t) - (1 + (pw - 1) t) / 2."""
    x = gk.tensor(np.zeros(2), requires_grad=True)
    t, pw = np.array([0.3, 1.0]), 2.0
    gk.nn.functional.binary_cross_entropy_with_logits(x, gk.tensor(t), "sum", gk.tensor([pw, pw])).backward()
    np.testing.assert_allclose(x.grad.numpy(), (1 - t) - (1 + (pw - 1) * t) / 2, rtol=1e-6)


def test_std_of_equal_values_has_a_zero_slope_despite_rounding():
    """NumPy's std of three 0.1s is 1.4e-17, not 0: that is still 'all equal'."""
    x = gk.tensor(np.full((3, 2), 0.1), requires_grad=True)
    gk.std(x, axis=0).sum().backward()
    np.testing.assert_array_equal(np.abs(x.grad.numpy()), 0.0)
    y = gk.tensor(np.array([1e8, 1e8 + 1]), requires_grad=True)  # a real spread of one unit stays one
    gk.std(y).backward()
    np.testing.assert_allclose(y.grad.numpy(), [-0.5, 0.5])


def test_second_derivative_of_prod_with_a_tiny_factor():
    """d/dx of sum(grad prod(x)) = [1, 1] for two factors; y / x**2 would overflow for x = 1e-170."""
    x = gk.tensor([1e-170, 3.0], requires_grad=True)
    x.prod().backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_empty_axes_in_softmax_flatten_and_linear():
    x = gk.zeros((2, 0), requires_grad=True)
    y = gk.softmax(x, axis=1) + gk.log_softmax(x, axis=1)
    y.sum().backward()
    assert y.shape == (2, 0) and x.grad.shape == (2, 0)
    assert gk.flatten(gk.zeros((0, 2, 3)), 1).shape == (0, 6)
    lin = gk.nn.Linear(0, 3)
    lin(gk.zeros((2, 4, 0))).sum().backward()
    assert lin.weight.grad.shape == (3, 0)


# ------------------------------------------------------------------ found by the second review
def test_a_seed_that_requires_grad_stays_in_the_graph_when_copied():
    """torch: x.grad is a recorded copy of v, so d(sum(x.grad) + sum(z.grad))/dv = [2, 2]."""
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    z = gk.tensor([3.0, 4.0], requires_grad=True)
    v = gk.tensor([0.5, 0.25], requires_grad=True)
    (x + z).backward(v, create_graph=True)
    assert x.grad.requires_grad
    (x.grad.sum() + z.grad.sum()).backward()
    assert v.grad.tolist() == [2.0, 2.0]


def test_std_keeps_the_slope_of_values_that_differ_by_an_ulp_of_their_size():
    x = gk.tensor(np.array([100, 100.125, 100, 100.125], np.float16), requires_grad=True)
    x.std().backward()
    assert x.grad.tolist() == [-0.25, 0.25, -0.25, 0.25]


@pytest.mark.parametrize("call", [lambda t: gk.where(gk.tensor([True, False, True]), t, 300),
                                  lambda t: gk.clip(t, 200, None),
                                  lambda t: gk.clip(t, gk.zeros(3, dtype="int8"), 300)])  # fmt: skip
def test_where_and_clip_refuse_ints_an_integer_tensor_cannot_hold(call):
    with pytest.raises(gk.InvalidArgumentError, match="out of range for a int8 tensor"):
        call(gk.tensor([1, 2, 3], dtype="int8"))


def test_clip_with_list_bounds_keeps_the_inputs_dtype():
    assert gk.clip(gk.ones(2), [0.0, 1.5]).dtype == np.float32


def test_creation_errors_from_the_first_audit():
    with pytest.raises(gk.ArgumentTypeError, match="linspace: start and stop must be numbers"):
        gk.linspace("a", 1, 3)
    with pytest.raises(gk.InvalidArgumentError, match="zeros: .* is too large to exist"):
        gk.zeros(10**12, 10**12)
    torch = pytest.importorskip("torch")
    with pytest.raises(gk.DTypeError, match="from_dlpack: cannot import"):
        gk.from_dlpack(torch.zeros(3, dtype=torch.bfloat16))


# ------------------------------------------------------------------ found by fuzzing the error contract
@pytest.mark.parametrize(("call", "error", "fragment"), [
    (lambda: gk.transpose(gk.ones((2, 3)), 0, 1), gk.ArgumentTypeError, "use gk.swapaxes"),
    (lambda: gk.nn.functional.cross_entropy(gk.randn(2, 3), [[0, 1], [2]]), gk.ShapeError, "rectangular"),
    (lambda: gk.nn.Embedding(5, 3)([[0, 1], [2]]), gk.ShapeError, "rectangular"),
    (lambda: list(gk.data.DataLoader([[1, 2], [3]], batch_size=2)), gk.ShapeError, "different lengths"),
    (lambda: list(gk.data.DataLoader([gk.ones(2), "x"], batch_size=2)), gk.ArgumentTypeError, "mix tensors"),
    (lambda: list(gk.data.DataLoader({"a": 1}, batch_size=1)), gk.ArgumentTypeError, "must give sample i"),
    (lambda: gk.softmax(gk.tensor([True, False])), gk.DTypeError, "softmax: needs a numeric tensor"),
    (lambda: gk.nn.Linear(2, 2).nonexistent, gk.GradkitError, "no attribute 'nonexistent'"),
    (lambda: gk.nn.init.constant_(gk.nn.Parameter(gk.ones(2)), "a"), gk.ArgumentTypeError, "constant_: val"),
    (lambda: gk.nn.functional.linear(gk.ones((1, 2)), gk.ones((2, 2)), 0.0), gk.ArgumentTypeError, "bias must be"),
    (lambda: gk.zeros(float("inf")), gk.ArgumentTypeError, "zeros: a shape must be integers"),
    (lambda: gk.trace(lambda a, b: a * b, 2.0, 3.0).adjoint("x9"), gk.InvalidArgumentError, "no variable"),
    (lambda: gk.gradcheck(lambda a: a.sum(), gk.ones(2, dtype="float64", requires_grad=True), seed=-1),
     gk.InvalidArgumentError, "gradcheck: seed"),
    (lambda: gk.rand(10**30), gk.InvalidArgumentError, "rand: .* too large to exist"),
    (lambda: gk.eye(10**30), gk.InvalidArgumentError, "eye: .* too large to exist"),
    (lambda: gk.arange(0, 1e20), gk.InvalidArgumentError, "arange: cannot make"),
    (lambda: gk.split(gk.tensor(1.0), 2), gk.ShapeError, "split: a 0-d tensor"),
    (lambda: gk.nn.LayerNorm(None), gk.ArgumentTypeError, "LayerNorm: normalized_shape"),
    (lambda: gk.nn.LayerNorm(3, eps="1e-5"), gk.ArgumentTypeError, "LayerNorm: eps"),
    (lambda: gk.nn.Embedding(5, 3, padding_idx="0"), gk.ArgumentTypeError, "Embedding: padding_idx"),
    (lambda: gk.nn.ModuleList(gk.nn.Linear(2, 2)), gk.ArgumentTypeError, "ModuleList: expected an iterable"),
    (lambda: gk.nn.functional.embedding(gk.tensor([0]), gk.tensor(2.0)), gk.ShapeError, "embedding: weight"),
    (lambda: gk.var(gk.ones(3), ddof=10**30), gk.InvalidArgumentError, "var: ddof"),
    (lambda: gk.pad(gk.ones(3), 1, constant_values=[]), gk.ArgumentTypeError, "pad: constant_values"),
])  # fmt: skip
def test_user_mistakes_found_by_fuzzing_are_gradkit_errors(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_normal_takes_a_0d_tensor_and_kaiming_a_huge_slope():
    p = gk.nn.Parameter(gk.ones(2, 3))
    gk.nn.init.normal_(p, std=gk.tensor(0.5))
    gk.nn.init.kaiming_uniform_(p, a=1e200)  # gain 0: not an OverflowError
    assert np.isfinite(p.numpy()).all()


def test_an_optimiser_step_after_a_bad_edit_says_what_is_wrong():
    p = gk.nn.Parameter(gk.ones(3))
    p.grad = gk.ones(3)
    opt = gk.optim.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    p.data, p.grad = gk.randn(5), gk.ones(5)
    with pytest.raises(gk.InvalidArgumentError, match="did a parameter's shape or dtype change"):
        opt.step()
    opt = gk.optim.SGD([gk.nn.Parameter(gk.ones(1))], lr=0.1)
    opt.param_groups[0]["lr"] = None
    with pytest.raises(gk.ArgumentTypeError, match="SGD.step: a parameter group was changed .* lr"):
        opt.step()
    with pytest.raises(gk.ArgumentTypeError, match="closure must be a function"):
        opt.step(5)


@pytest.mark.parametrize(("make", "bad"), [
    (lambda o: gk.optim.lr_scheduler.StepLR(o, 2), {"step_size": 0}),
    (lambda o: gk.optim.lr_scheduler.CosineAnnealingLR(o, 5), {"T_max": 0}),
    (lambda o: gk.optim.lr_scheduler.StepLR(o, 2), {"last_epoch": "3"}),
])  # fmt: skip
def test_scheduler_state_dicts_are_checked_before_they_load(make, bad):
    sched = make(gk.optim.SGD([gk.nn.Parameter(gk.ones(1))], lr=0.1))
    before = dict(sched.state_dict())
    with pytest.raises(gk.GradkitError, match="load_state_dict"):
        sched.load_state_dict(bad)
    assert sched.state_dict() == before


def test_a_deeply_nested_checkpoint_header_is_a_checkpoint_error(tmp_path):
    import struct

    pytest.importorskip("safetensors")

    header = b"[" * 100_000 + b"]" * 100_000
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(gk.CheckpointError, match="not valid JSON"):
        gk.load(path)


@pytest.mark.parametrize(("call", "op"), [
    (lambda: gk.ones(2).copy_(None), "copy_"),
    (lambda: (gk.ones(2, requires_grad=True) * 2).sum().backward(grad="abc"), "backward"),
    (lambda: gk.ones(2) + "a", "add"),
])  # fmt: skip
def test_errors_from_converting_an_operand_name_the_call_not_gk_tensor(call, op):
    with pytest.raises(gk.DTypeError, match=rf"^{op}: cannot make a tensor"):
        call()
