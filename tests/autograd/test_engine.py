"""The backward pass: accumulation, graph shapes, retain_graph, freeing, hooks, in-place checks."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import gradkit as gk


def _leaf(values, device, dtype="float64"):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=True)


# ------------------------------------------------------------------ accumulation
def test_gradients_accumulate_across_backward_calls(device):
    x = _leaf([1.0, 2.0], device)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])


def test_input_used_several_times(device):
    x = _leaf(2.0, device)
    y = x * x + x * 3.0 + x
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 2 + 3 + 1)


def test_diamond_graph_runs_each_node_once(device):
    x = _leaf([0.5, -1.0], device)
    calls = []
    a = x * 2.0
    a.register_hook(lambda g: calls.append(g.numpy().copy()))
    b, c = gk.sin(a), gk.exp(a)
    z = (b * c).sum()
    z.backward()
    assert len(calls) == 1  # a's gradient arrives once, summed over both paths
    av = 2 * np.array([0.5, -1.0])
    expected_a = np.cos(av) * np.exp(av) + np.sin(av) * np.exp(av)
    np.testing.assert_allclose(calls[0], expected_a)
    np.testing.assert_allclose(x.grad.numpy(), 2 * expected_a)


def _lattice(x):
    """Six levels where every node feeds two nodes of the next level: many diamonds."""
    layer = [x, x * 2.0, x * x]
    for _ in range(6):
        layer = [layer[i] * layer[(i + 1) % 3] * 0.5 + layer[i] for i in range(3)]
    return layer[0] + layer[1] + layer[2]


def test_wide_and_nested_diamonds(device):
    x = _leaf(0.3, device)
    assert gk.gradcheck(_lattice, [x])
    _lattice(x).backward()
    eps = 1e-6
    numeric = (_lattice(_leaf(0.3 + eps, device)).item() - _lattice(_leaf(0.3 - eps, device)).item()) / (2 * eps)
    assert x.grad.item() == pytest.approx(numeric, rel=1e-6)


def test_unreached_and_constant_inputs(device):
    x, unused = _leaf(1.0, device), _leaf(1.0, device)
    const = gk.tensor(5.0, device=device)
    y = x * const
    y.backward()
    assert unused.grad is None
    assert const.grad is None and not const.requires_grad
    assert x.grad.item() == 5.0


def test_grad_has_leaf_shape_dtype_and_no_graph(device):
    for dtype in ("float16", "float32", "float64"):
        x = _leaf(np.ones((2, 3)), device, dtype)
        b = _leaf(np.ones(3), device, "float64")
        (x * b).sum().backward()
        assert x.grad.shape == (2, 3) and x.grad.dtype == np.dtype(dtype)
        assert b.grad.shape == (3,) and b.grad.dtype == np.float64
        assert not x.grad.requires_grad and x.grad.grad_fn is None


def test_backward_with_explicit_gradient(device):
    x = _leaf([1.0, 2.0, 3.0], device)
    y = x * x
    y.backward(gk.tensor([1.0, 0.5, 0.0], dtype="float64", device=device))
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 0])
    with pytest.raises(gk.ShapeError, match=r"\(3,\)"):
        (x * 2.0).backward(gk.ones(2, dtype="float64", device=device))
    with pytest.raises(gk.AutogradError, match="one-element"):
        (x * 2.0).backward()


def test_backward_on_a_leaf(device):
    x = _leaf(3.0, device)
    x.backward()
    assert x.grad.item() == 1.0


def test_backward_needs_requires_grad(device):
    t = gk.tensor(1.0, device=device)
    with pytest.raises(gk.AutogradError, match="backward"):
        t.backward()
    x = _leaf(1.0, device)
    with gk.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(gk.AutogradError, match="does not require grad"):
        y.backward()


# ------------------------------------------------------------------ retain_graph
def test_second_backward_without_retain_graph_raises_naming_the_op(device):
    x = _leaf([1.0, 2.0], device)
    y = gk.exp(x).sum()
    y.backward()
    with pytest.raises(gk.AutogradError) as info:
        y.backward()
    msg = str(info.value)
    assert "retain_graph" in msg and ("exp" in msg or "sum" in msg)
    assert isinstance(info.value, RuntimeError)


def test_retain_graph_allows_a_second_backward(device):
    x = _leaf([1.0, 2.0], device)
    y = (gk.exp(x) * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * first)
    with pytest.raises(gk.AutogradError, match="retain_graph"):
        y.backward()


def test_shared_subgraph_two_outputs(device):
    x = _leaf(2.0, device)
    h = x * x
    a, b = h * 3.0, h * 5.0
    a.backward(retain_graph=True)
    b.backward()
    assert x.grad.item() == pytest.approx(2 * 2 * 3 + 2 * 2 * 5)


# ------------------------------------------------------------------ deep graphs
def test_100k_step_chain_without_recursion_error(device):
    limit = sys.getrecursionlimit()
    x = _leaf(1.0, device, "float32")
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y = y + x
    y.backward()
    assert x.grad.item() == 2.0
    assert sys.getrecursionlimit() == limit  # no raising the limit behind the user's back
    ref = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert ref() is None  # and the chain can be freed without a RecursionError either


# ------------------------------------------------------------------ freeing
def test_graph_freed_after_backward(device):
    x = _leaf(np.ones(3), device)
    h = gk.sin(x)  # an intermediate saved by the multiply below
    ref = weakref.ref(h)
    out = (h * h).sum()
    del h
    assert ref() is not None  # the graph keeps it alive for backward
    out.backward()
    assert ref() is None  # backward released the saved values (no gc.collect needed)


def test_graph_freed_when_output_dropped(device):
    x = _leaf(np.ones(3), device)
    h = gk.exp(x)
    refs = [weakref.ref(h), weakref.ref(h.grad_fn)]
    out = (h * h).sum()
    del h
    del out
    gc.collect()
    assert all(r() is None for r in refs)
    assert x.grad is None


def test_retain_graph_keeps_saved_values(device):
    x = _leaf(np.ones(3), device)
    h = gk.sin(x)
    ref = weakref.ref(h)
    out = (h * h).sum()
    del h
    out.backward(retain_graph=True)
    assert ref() is not None
    out.backward()
    assert ref() is None


# ------------------------------------------------------------------ hooks
def test_leaf_hook_sees_and_replaces_the_gradient(device):
    x = _leaf([1.0, 2.0], device)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10.0)
    (x * x).sum().backward()
    np.testing.assert_allclose(seen[0], [2, 4])
    np.testing.assert_allclose(x.grad.numpy(), [20, 40])
    handle.remove()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 4])
    assert len(seen) == 2


def test_leaf_used_twice_hook_runs_once_on_the_total(device):
    x = _leaf(3.0, device)
    calls = []
    x.register_hook(lambda g: calls.append(g.item()))
    (x * 2.0 + x * 5.0).backward()
    assert calls == [7.0]


def test_intermediate_hook_changes_upstream_gradients(device):
    x = _leaf([1.0, 2.0], device)
    h = x * 3.0
    h.register_hook(lambda g: g * 0.0 + 1.0)
    (h * h).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])


def test_hook_returning_none_keeps_gradient(device):
    x = _leaf(2.0, device)
    h = x * x
    h.register_hook(lambda g: None)
    h.backward()
    assert x.grad.item() == 4.0


def test_retain_grad_on_intermediate(device):
    x = _leaf([1.0, 2.0], device)
    h = x * x
    h.retain_grad()
    assert h.grad is None
    (h * 3.0).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [3, 3])
    np.testing.assert_allclose(x.grad.numpy(), [6, 12])
    assert not h.is_leaf and x.is_leaf


def test_register_hook_needs_requires_grad(device):
    with pytest.raises(gk.AutogradError, match="register_hook"):
        gk.tensor(1.0, device=device).register_hook(lambda g: g)


# ------------------------------------------------------------------ in-place and versions
def test_inplace_change_to_saved_tensor_is_caught_naming_the_op(device):
    w = _leaf([1.0, 2.0], device)
    a = gk.tensor([3.0, 4.0], dtype="float64", device=device)
    y = (w * a).sum()
    a += 1.0  # allowed: a needs no grad; but multiply saved it for w's gradient
    with pytest.raises(gk.AutogradError) as info:
        y.backward()
    msg = str(info.value)
    assert "multiply" in msg and "in place" in msg


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.__imul__(2.0),
        lambda t: t.__setitem__(0, 5.0),
        lambda t: t.fill_(1.0),
        lambda t: t.zero_(),
        lambda t: t.copy_(gk.tensor([7.0, 8.0], dtype="float64", device=t.device)),
    ],
    ids=["imul", "setitem", "fill_", "zero_", "copy_"],
)
def test_every_inplace_form_bumps_the_version(change, device):
    x = _leaf([0.5, 1.0], device)
    y = gk.sin(x).sum()
    with gk.no_grad():
        change(x)  # an in-place change to a leaf is allowed under no_grad
    with pytest.raises(gk.AutogradError, match="sin"):
        y.backward()


def test_inplace_through_detach_shares_the_version(device):
    x = _leaf([0.5, 1.0], device)
    y = gk.exp(x)  # saves its output
    z = (y * 2.0).sum()
    d = y.detach()
    d += 1.0
    np.testing.assert_allclose(y.numpy(), np.exp([0.5, 1.0]) + 1)  # same memory
    with pytest.raises(gk.AutogradError, match="exp"):
        z.backward()


def test_data_setter_bumps_version(device):
    x = _leaf([0.5, 1.0], device)
    y = (x * x).sum()
    x.data = np.array([2.0, 3.0]) if device == "cpu" else x.data * 2
    with pytest.raises(gk.AutogradError, match="multiply"):
        y.backward()


def test_inplace_after_backward_is_fine(device):
    w = _leaf([1.0, 2.0], device)
    a = gk.tensor([3.0, 4.0], dtype="float64", device=device)
    y = (w * a).sum()
    y.backward()
    a += 1.0
    np.testing.assert_allclose(w.grad.numpy(), [3, 4])


def test_inplace_on_leaf_requiring_grad_raises(device):
    x = _leaf([1.0, 2.0], device)
    for op in ("__iadd__", "__isub__", "__imul__", "__itruediv__"):
        with pytest.raises(gk.AutogradError, match="in-place") as info:
            getattr(x, op)(1.0)
        assert "leaf" in str(info.value)
    with pytest.raises(gk.AutogradError, match="__setitem__"):
        x[0] = 3.0
    with pytest.raises(gk.AutogradError, match="view of a leaf"):
        x[0:1] += 1.0
    np.testing.assert_allclose(x.numpy(), [1, 2])  # nothing changed
    h = x * 2.0
    h += 1.0  # a tensor in the graph: recorded, as PyTorch (tests/autograd/test_inplace_recorded.py)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2])


def test_inplace_under_no_grad_updates_leaf(device):
    x = _leaf([1.0, 2.0], device)
    (x * x).sum().backward()
    with gk.no_grad():
        x -= x.grad * 0.5
    np.testing.assert_allclose(x.numpy(), [0, 0])
    assert x.requires_grad and x.is_leaf


# ------------------------------------------------------------------ detach and flags
def test_detach_stops_gradients(device):
    x = _leaf([1.0, 2.0], device)
    y = (x * x.detach()).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1, 2])
    d = x.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None


def test_requires_grad_flags(device):
    x = gk.tensor([1.0], device=device)
    assert not x.requires_grad and x.is_leaf
    x.requires_grad = True
    assert x.requires_grad
    y = x * 2.0
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    assert "multiply" in repr(y.grad_fn)
    assert y.requires_grad_() is y
    with pytest.raises(gk.AutogradError, match="non-leaf"):
        y.requires_grad_(False)
    x.requires_grad_(False)
    assert not (x * 2.0).requires_grad


def test_grad_setter_checks_shape(device):
    x = _leaf([1.0, 2.0], device)
    x.grad = gk.tensor([1.0, 1.0], dtype="float64", device=device)
    with pytest.raises(gk.ShapeError, match=r"\(3,\)"):
        x.grad = gk.zeros(3, device=device)
    with pytest.raises(gk.ArgumentTypeError):
        x.grad = [1.0, 2.0]
    x.grad = None
    assert x.grad is None


# ------------------------------------------------------------------ views share versions
@pytest.mark.parametrize(
    "make_view",
    [
        lambda a: a[1:],
        lambda a: a[None, ::2],
        lambda a: a.reshape(2, 2),
        lambda a: a.reshape(2, 2).T,
        lambda a: gk.flip(a, 0),
        lambda a: gk.broadcast_to(a, (2, 4)),
        lambda a: a.unsqueeze(0).squeeze(0),
    ],
    ids=["slice", "none_step", "reshape", "transpose", "flip", "broadcast_to", "unsqueeze_squeeze"],
)
def test_inplace_change_to_the_base_of_a_saved_view_is_caught(make_view, device):
    a = gk.tensor(np.arange(4.0), device=device)
    v = make_view(a)
    w = gk.tensor(np.ones(v.shape), device=device, requires_grad=True)
    y = (w * v).sum()
    a += 1.0  # changes v's memory too
    with pytest.raises(gk.AutogradError, match="multiply"):
        y.backward()


def test_inplace_change_to_a_view_of_a_saved_tensor_is_caught(device):
    a = gk.tensor(np.arange(4.0), device=device)
    w = gk.tensor(np.ones(4), device=device, requires_grad=True)
    y = (w * a).sum()
    view = a[:2]
    view *= 3.0
    np.testing.assert_array_equal(a.numpy(), [0, 3, 2, 3])
    with pytest.raises(gk.AutogradError, match="multiply"):
        y.backward()


def test_advanced_index_is_a_copy_with_its_own_version(device):
    a = gk.tensor(np.arange(4.0), device=device)
    c = a[[0, 2]]
    w = gk.tensor(np.ones(2), device=device, requires_grad=True)
    y = (w * c).sum()
    a += 1.0  # c is a copy: its values, saved by multiply, did not change
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0, 2])


def test_backward_gradient_is_cast_to_the_output_dtype(device):
    x = _leaf([1.0, 2.0], device, "float32")
    (x * 2.0).backward(gk.ones(2, dtype="float64", device=device))
    assert x.grad.dtype == gk.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2])
    y = _leaf([1.0, 2.0], device, "float32")
    (y * 2.0).backward(np.ones(2) if device == "cpu" else gk.ones(2, device=device))
    assert y.grad.dtype == gk.float32


def test_retained_grad_sees_the_hooked_gradient(device):
    """As in PyTorch, retain_grad's .grad is the gradient after every hook, whatever the order."""
    x = _leaf(2.0, device)
    y = x * x
    y.retain_grad()
    y.register_hook(lambda g: g * 10.0)
    y.backward()
    assert y.grad.item() == 10.0
    assert x.grad.item() == 40.0
