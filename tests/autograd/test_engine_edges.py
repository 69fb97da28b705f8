"""Edge cases of the engine found in review: duplicate roots, retained grads under transforms, saved operands."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd.engine import run_backward


def test_duplicate_roots_sum_their_gradients(device):
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x * 3) * 1
    run_backward([y, y], [gk.ones(2, device=device), gk.ones(2, device=device)])
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_vjp_of_a_function_returning_one_tensor_twice(device):
    def f(x):
        y = (x * 3) * 1
        return y, y

    _, vjp_fn = gk.vjp(f, gk.tensor([1.0, 2.0], device=device))
    (g,) = vjp_fn(gk.ones(2, device=device), gk.ones(2, device=device))
    np.testing.assert_allclose(g.numpy(), [6.0, 6.0])


def test_transforms_leave_retained_grads_alone(device):
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * x
    y.retain_grad()
    (gx,) = run_backward([y.sum()], [gk.ones((), device=device)], retain_graph=True, inputs=[x])
    np.testing.assert_allclose(gx.numpy(), [2.0, 4.0])
    assert y.grad is None and x.grad is None
    y.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0])


def test_the_same_non_leaf_input_twice(device):
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    g1, g2 = run_backward([(y * y).sum()], [gk.ones((), device=device)], inputs=[y, y])
    np.testing.assert_allclose(g1.numpy(), [4.0, 8.0])
    np.testing.assert_allclose(g2.numpy(), [4.0, 8.0])


def test_retained_grad_sees_hooks_registered_after_it(device):
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 1
    y.retain_grad()
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [10.0, 10.0])
    assert y.retains_grad and not x.retains_grad


@pytest.mark.parametrize("expr", ["2 * w", "w * 2", "w * x", "x * w", "w / x"])
def test_changing_an_operand_no_rule_reads_is_allowed(expr, device):
    w = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    x = gk.tensor([3.0, 4.0], device=device)
    y = eval(expr, {"w": w, "x": x}).sum()
    with gk.no_grad():
        w -= 0.5  # d(y)/dw reads only x (or the constant): the step is still right
    y.backward()
    expected = {"2 * w": [2, 2], "w * 2": [2, 2], "w * x": [3, 4], "x * w": [3, 4], "w / x": [1 / 3, 1 / 4]}
    np.testing.assert_allclose(w.grad.numpy(), expected[expr], rtol=1e-6)


def test_changing_an_operand_a_rule_reads_is_caught(device):
    w = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    x = gk.tensor([3.0, 4.0], device=device)
    y = (w * x).sum()
    with gk.no_grad():
        x += 1
    with pytest.raises(gk.AutogradError, match="multiply"):
        y.backward()


def test_einsum_gradient_is_summed_back_to_the_broadcast_input(device):
    a = gk.tensor([[1.0, 2.0, 3.0]], device=device, requires_grad=True)
    b = gk.ones((4, 3), dtype="float64", device=device)
    gk.einsum("...i,...i->...", a, b).sum().backward()
    assert a.grad.shape == (1, 3) and a.grad.dtype == np.float32
    np.testing.assert_allclose(a.grad.numpy(), [[4.0, 4.0, 4.0]])


def test_reentering_one_no_grad_instance():
    guard = gk.no_grad()
    with guard:
        with guard:
            pass
        assert not gk.is_grad_enabled()
    assert gk.is_grad_enabled()


def test_a_node_runs_once_with_all_paths_summed_however_long_they_are(device):
    # The engine runs nodes newest first; a value feeding a short and a long path must
    # still receive both contributions before its own rule runs (its hook sees the total once).
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    a = x * 2
    seen = []
    a.register_hook(lambda g: seen.append(g.numpy().copy()))
    long = a
    for _ in range(50):
        long = long * 1.0
    y = (long + a * 3).sum()
    y.backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [4.0, 4.0])
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 8.0])


def test_roots_given_oldest_first_or_newest_first_agree(device):
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    a = x * x
    b = a * 3
    g1 = gk.ones(2, device=device)
    run_backward([a, b], [g1, g1], retain_graph=True)
    first = x.grad.numpy().copy()
    x.grad = None
    run_backward([b, a], [g1, g1])
    np.testing.assert_allclose(x.grad.numpy(), first)
    np.testing.assert_allclose(first, [8.0, 16.0])


@pytest.mark.parametrize("scalar", [np.float64(2.0), np.float32(2.0), np.int64(2), True, 2, 2.0])
def test_a_leaf_gets_a_gradient_of_its_own_dtype_whatever_the_number_operand(scalar, device):
    # np.float64 makes a float32 result float64 (NumPy's rule); the gradient still comes back float32.
    x = gk.ones(3, device=device, requires_grad=True)
    for y in (x * scalar, scalar * x, x + scalar, scalar - x, x / scalar, scalar / x, x**scalar):
        (y * 1).sum().backward()
        assert x.grad.dtype == x.dtype and x.grad.shape == x.shape, (type(scalar), y.dtype)
        x.grad = None


def test_backward_peak_memory_stays_flat_when_heads_are_built_after_a_chain(device):
    # An RNN-like graph whose per-step heads are applied after the recurrence: a node must run as soon
    # as its gradient is complete, not wait for every newer node, or all T step gradients pile up.
    rng = np.random.default_rng(0)
    b, h_dim, steps = 128, 128, 24
    h_bytes = b * h_dim * 4
    w = gk.tensor(rng.standard_normal((h_dim, h_dim)).astype(np.float32) * 0.03, device=device, requires_grad=True)
    v = gk.tensor(rng.standard_normal((h_dim, h_dim)).astype(np.float32) * 0.03, device=device, requires_grad=True)
    h = gk.tensor(rng.standard_normal((b, h_dim)).astype(np.float32), device=device)
    hs = []
    for _ in range(steps):
        h = gk.tanh(h @ w)
        hs.append(h)
    loss = 0.0
    for h in hs:
        loss = loss + ((h @ v) ** 2).mean()
    del h, hs
    peak = _peak_bytes(loss.backward, device)
    assert peak < 12 * h_bytes, f"backward peak {peak / h_bytes:.1f} step-sized arrays (about 6 expected)"


def _peak_bytes(fn, device):
    """The most memory ``fn()`` held at once beyond what was held before: NumPy's arrays traced by
    tracemalloc on the CPU, the pool's allocations (gk.cuda.memory_stats) on a GPU."""
    if device == "cuda":
        base = gk.cuda.memory_stats("cuda")["allocated_bytes"]
        gk.cuda.reset_peak_memory_stats("cuda")
        fn()
        return gk.cuda.memory_stats("cuda")["peak_allocated_bytes"] - base
    import tracemalloc

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_backward_through_a_deep_copied_graph():
    import copy

    x = gk.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3).sum()
    y2 = copy.deepcopy(y)  # its own copy of the graph (and of x)
    (y + y2).backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_leaf_retained_and_requested_gradients_keep_their_tensors_dtype(device):
    # A rule may compute in a wider dtype (NumPy 2.2's float32 ** int64 kept float32 while the rule's
    # g * b went float64); what reaches .grad, a retained grad or gk.grad's result is cast back.
    x = gk.ones(3, device=device, requires_grad=True)
    y = x * 2
    y.retain_grad()
    z = y * 1
    run_backward([z], [gk.ones(3, dtype="float64", device=device)])
    assert x.grad.dtype == x.dtype and y.grad.dtype == y.dtype
    z2 = (x * 2) * 1
    results = run_backward([z2], [gk.ones(3, dtype="float64", device=device)], inputs=[x])
    assert results[0].dtype == x.dtype


@pytest.mark.parametrize("leaf", [True, False])
def test_hook_that_changes_the_gradient_shape_is_refused(device, leaf):
    x = gk.tensor(np.ones((3, 4)), device=device, requires_grad=True)
    h = x if leaf else x * 2.0
    h.register_hook(lambda g: g[:1])  # (1, 4): would broadcast, but is not the gradient's shape
    with pytest.raises(gk.GradkitError, match=r"hook .* returned a gradient of shape \(1, 4\), expected \(3, 4\)"):
        (h * 1.0).sum().backward()


def test_hook_that_returns_a_non_tensor_is_refused(device):
    x = gk.tensor(np.ones(3), device=device, requires_grad=True)
    h = x * 2.0
    h.register_hook(lambda g: g.numpy())
    with pytest.raises(gk.GradkitError, match="hook .* returned ndarray"):
        h.sum().backward()


def test_vjp_cotangent_changed_in_place_between_calls_gives_the_new_gradient(device):
    rng = np.random.default_rng(0)
    x = gk.tensor(rng.standard_normal((2, 3)), device=device)
    w = gk.tensor(rng.standard_normal((4, 3)), device=device)
    _, vjp_fn = gk.vjp(lambda w: gk.nn.functional.linear_relu(x, w), w)
    c = gk.ones((2, 4), dtype=gk.float64, device=device)
    first = vjp_fn(c)[0].numpy().copy()
    c *= 2.0  # the same cotangent object, new values: linear_relu's mask cache must notice
    np.testing.assert_allclose(vjp_fn(c)[0].numpy(), 2 * first, rtol=1e-12)


# Every stored .grad owns its memory, so that changing it in place (p.grad.zero_(), p.grad *= s)
# touches nothing else.
def test_an_add_gives_its_two_leaves_separate_gradients(device):
    x = gk.ones(3, device=device, requires_grad=True)
    y = gk.ones(3, device=device, requires_grad=True)
    (x + y).backward(gk.ones(3, device=device))
    assert x.grad is not y.grad
    x.grad.zero_()
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0, 1.0])


def test_the_callers_seed_never_becomes_a_grad(device):
    seed = gk.tensor([1.0, 2.0, 3.0, 4.0], device=device)
    x = gk.ones(4, device=device, requires_grad=True)
    w = gk.ones((2, 2), device=device, requires_grad=True)
    x.backward(seed)  # a leaf root
    w.reshape(4).backward(seed)  # reshape's rule returns a view of the seed
    seed.zero_()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(w.grad.numpy(), [[1.0, 2.0], [3.0, 4.0]])


def test_a_sums_gradient_is_a_writable_dense_grad(device):
    x = gk.ones((2, 3), device=device, requires_grad=True)
    x.sum().backward()  # the rule broadcasts one value: a read-only, zero-stride view
    x.grad *= 2.0
    x.grad[0, 0] = 5.0
    np.testing.assert_array_equal(x.grad.numpy(), [[5.0, 2.0, 2.0], [2.0, 2.0, 2.0]])


def test_a_retained_grad_and_a_leaf_grad_do_not_share_memory(device):
    x = gk.ones(3, device=device, requires_grad=True)
    h = x + 0.0  # add's rule hands h's gradient on to x unchanged
    h.retain_grad()
    h.backward(gk.tensor([1.0, 2.0, 3.0], device=device))
    h.grad.zero_()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])


def test_fresh_rule_outputs_are_stored_without_a_copy():
    from gradkit.autograd.function import record

    w = gk.ones((2, 3), requires_grad=True)
    made = []

    def rule(g):  # a new array, as F.linear's weight gradient g.T @ x: it becomes w.grad as it is
        made.append(g * 2)
        return made[-1]

    record("double", w.data * 2, w.backend, (w,), (rule,)).backward(gk.ones((2, 3)))
    assert w.grad is made[0]


def test_a_gradient_a_hook_has_seen_is_stored_as_a_copy():
    """A hook may keep what it is given: .grad, which later backward calls add into in place, must not be it."""
    w = gk.ones((2, 3), requires_grad=True)
    seen = []
    w.register_hook(seen.append)
    (w * 2).sum().backward()
    (w * 2).sum().backward()
    assert seen[0] is not w.grad and seen[0].tolist() == [[2.0] * 3] * 2 and w.grad.tolist() == [[4.0] * 3] * 2


def test_a_plain_backward_adds_into_a_recorded_grad_in_place_keeping_its_graph():
    """As PyTorch: a .grad made by backward(create_graph=True) keeps its graph when a later pass without
    create_graph adds to it (in place, the same tensor), so it can still be differentiated."""
    x = gk.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    recorded = x.grad
    (x * 1).sum().backward()
    assert x.grad is recorded and x.grad.grad_fn is not None
    assert x.grad.tolist() == [4.0, 13.0]  # 3 x^2 + 1
    x.grad.sum().backward()  # d(3 x^2)/dx = 6 x, added in place as well
    assert x.grad.tolist() == [10.0, 25.0]
