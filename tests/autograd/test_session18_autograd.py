"""Tensor.detach_, Tensor.register_post_accumulate_grad_hook, and the release of a custom Function's saved
tensors after backward. Expected values were computed once with PyTorch 2.x and written down here."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import gradkit as gk


def t64(values, device, requires_grad=True):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


# ------------------------------------------------------------------------------------------------- detach_
def test_detach_inplace_takes_a_result_out_of_the_graph(device):
    w = t64([1.0, 2.0, 3.0], device)
    y = w * 2
    z = y * 3
    assert y.detach_() is y
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0, 6.0])
    z.sum().backward()  # what was computed from y keeps its graph (PyTorch: w.grad == [6, 6, 6])
    np.testing.assert_array_equal(w.grad.numpy(), [6.0, 6.0, 6.0])
    with pytest.raises(gk.AutogradError):
        y.sum().backward()  # y itself is out of the graph
    assert (y * w).grad_fn is not None  # and may be used again, as a constant


def test_detach_inplace_on_a_leaf_that_requires_grad(device):
    w = t64([1.0, 2.0], device)
    w.grad = t64([1.0, 1.0], device, requires_grad=False)
    version = w._version[0]
    assert w.detach_() is w
    assert not w.requires_grad and w.is_leaf and w.grad_fn is None
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])  # kept, as PyTorch
    assert w._version[0] == version  # no change of the values: the version stays (as PyTorch's)
    assert (w * 2).grad_fn is None


def test_detach_inplace_keeps_memory_and_version_counter(device):
    y = t64([1.0, 2.0], device) * 1
    data, version = y._data, y._version
    y.detach_()
    assert y._data is data and y._version is version


@pytest.mark.parametrize(
    "make",
    [
        lambda w: w[1:],  # a view of a leaf
        lambda w: (w * 2)[1:],  # a view of a result
        lambda w: (w * 2)[0],
        lambda w: (w * 2).reshape(1, 3).T,
        lambda w: (w * 2).reshape(3),  # a same-shape reshape (PyTorch: a view too)
        lambda w: gk.broadcast_to(w * 2, (2, 3)),
        lambda w: gk.flip(w * 2, 0),
    ],
)
def test_detach_inplace_refuses_views(device, make):
    w = t64([1.0, 2.0, 3.0], device)
    v = make(w)
    with pytest.raises(gk.AutogradError, match=r"detach_: cannot detach a view in place.*\.detach\(\)"):
        v.detach_()
    assert v.requires_grad and v.grad_fn is not None  # left as it was
    np.testing.assert_array_equal(v.detach().numpy(), make(w).detach().numpy())


def test_detach_inplace_lets_copies_through(device):
    w = t64([1.0, 2.0, 3.0], device)
    for y in ((w * 2)[[0, 2]], (w * 2).clone(), gk.exp(w), w.detach()):
        assert y.detach_() is y and not y.requires_grad


# -------------------------------------------------------------- register_post_accumulate_grad_hook
def test_post_accumulate_hook_order_and_value(device):
    # PyTorch: [('pre', [2, 4, 6]), ('a', True, [2, 4, 6]), ('b', [2, 4, 6])]
    w = t64([1.0, 2.0, 3.0], device)
    log = []
    w.register_post_accumulate_grad_hook(lambda p: log.append(("a", p is w, p.grad.numpy().tolist())))
    w.register_post_accumulate_grad_hook(lambda p: log.append(("b", p.grad.numpy().tolist())))
    w.register_hook(lambda g: log.append(("pre", g.numpy().tolist())))
    (w * w).sum().backward()
    assert log == [("pre", [2.0, 4.0, 6.0]), ("a", True, [2.0, 4.0, 6.0]), ("b", [2.0, 4.0, 6.0])]
    log.clear()
    (w * w).sum().backward()  # after the accumulation: the sum of both passes
    assert log[1:] == [("a", True, [4.0, 8.0, 12.0]), ("b", [4.0, 8.0, 12.0])]


def test_post_accumulate_hook_once_per_pass_for_a_leaf_used_twice(device):
    # PyTorch: one call, with the summed gradient [5, 7]
    w = t64([1.0, 2.0], device)
    seen = []
    w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.numpy().tolist()))
    (w * 3 + w * w).sum().backward()
    assert seen == [[5.0, 7.0]]


def test_post_accumulate_hook_which_passes_run_it(device):
    w = t64([1.0, 2.0, 3.0], device)
    x = t64([1.0], device)
    calls = []
    w.register_post_accumulate_grad_hook(lambda p: calls.append(p))
    gk.autograd.grad((w * w).sum(), w)  # no accumulation: no call (as PyTorch)
    assert calls == []
    (w * w).sum().backward(inputs=[w])  # accumulates into w.grad: a call
    assert len(calls) == 1
    (w.sum() * x).sum().backward(inputs=[x])  # w not among the inputs: no call
    assert len(calls) == 1
    (w * w).sum().backward(retain_graph=True)
    assert len(calls) == 2


def test_post_accumulate_hook_handle_remove_and_with(device):
    w = t64([1.0, 2.0], device)
    calls = []
    h1 = w.register_post_accumulate_grad_hook(lambda p: calls.append(1))
    h2 = w.register_post_accumulate_grad_hook(lambda p: calls.append(2))
    (w * w).sum().backward()
    assert calls == [1, 2]
    h1.remove()
    h1.remove()  # a second remove does nothing
    (w * w).sum().backward()
    assert calls == [1, 2, 2]
    with h2:
        pass
    (w * w).sum().backward()
    assert calls == [1, 2, 2]


def test_post_accumulate_hook_refusals(device):
    w = t64([1.0, 2.0], device)
    with pytest.raises(gk.AutogradError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(gk.AutogradError, match="does not require grad"):
        t64([1.0], device, requires_grad=False).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(gk.ArgumentTypeError, match="expected a function"):
        w.register_post_accumulate_grad_hook(3)
    w.register_post_accumulate_grad_hook(lambda p: p.grad)
    with pytest.raises(gk.ArgumentTypeError, match="returns None"):
        (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])  # accumulated before the hook ran (as PyTorch)


def _sgd_problem(device):
    W = t64([[0.5, -0.25, 0.125], [0.75, 0.5, -1.0]], device)
    b = t64([0.1, -0.2], device)
    X = t64([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], device, requires_grad=False)
    T = t64([[1.0, 0.0], [0.0, 1.0]], device, requires_grad=False)
    return W, b, X, T


def _loss(W, b, X, T):
    return ((X @ W.T + b - T) ** 2).mean()


# PyTorch 2.x: SGD(lr=0.1, momentum=0.9), three steps, on _sgd_problem (the same with the hooks and without).
W_AFTER = [[0.508685546875, 0.18541015625000004, 0.04654687500000001],
           [1.08990478515625, -0.09534863281250001, 0.33850390625000004]]  # fmt: skip
B_AFTER = [0.004175781249999998, 0.45869433593750003]


def test_optimizer_in_backward_matches_a_plain_step(device):
    W, b, X, T = _sgd_problem(device)
    opts = {id(p): gk.optim.SGD([p], lr=0.1, momentum=0.9) for p in (W, b)}
    stepped = []

    def step_now(p):
        opts[id(p)].step()
        p.grad = None
        stepped.append(p.shape)

    handles = [p.register_post_accumulate_grad_hook(step_now) for p in (W, b)]
    for _ in range(3):
        _loss(W, b, X, T).backward()
    assert len(stepped) == 6 and W.grad is None and b.grad is None

    W2, b2, X, T = _sgd_problem(device)
    opt = gk.optim.SGD([W2, b2], lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        _loss(W2, b2, X, T).backward()
        opt.step()

    np.testing.assert_allclose(W.numpy(), W2.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b.numpy(), b2.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(W.numpy(), W_AFTER, rtol=1e-12)
    np.testing.assert_allclose(b.numpy(), B_AFTER, rtol=1e-12)
    for h in handles:
        h.remove()
    _loss(W, b, X, T).backward()
    assert W.grad is not None and len(stepped) == 6


# ------------------------------------------------------------ custom Function: saved tensors released
class _Square(gk.autograd.Function):
    ctxs: list = []

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        _Square.ctxs.append(ctx)  # a ctx kept outside the graph, as user code sometimes does
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class _ExpOut(gk.autograd.Function):
    ctxs: list = []

    @staticmethod
    def forward(ctx, x):
        y = gk.exp(x)
        ctx.save_for_backward(y)  # an output
        _ExpOut.ctxs.append(ctx)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y


@pytest.fixture(autouse=True)
def _forget_ctxs():
    yield
    _Square.ctxs.clear()
    _ExpOut.ctxs.clear()


def test_function_saved_tensors_freed_after_backward(device):
    x = t64([1.0, 2.0, 3.0], device)
    a = x * 1  # an intermediate: only the saved tensor keeps its array alive
    arr = weakref.ref(a._data)
    y = _Square.apply(a)
    del a
    gc.collect()
    assert arr() is not None  # saved for backward
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    assert arr() is None  # released by backward, although the ctx (and y) are still held
    ctx = _Square.ctxs[-1]
    msg = r"backward through the graph a second time \(or to access saved tensors after they have already been freed"
    with pytest.raises(gk.AutogradError, match=msg):
        _ = ctx.saved_tensors
    with pytest.raises(gk.AutogradError, match="a second time"):
        y.sum().backward()


def test_function_saved_output_freed_after_backward(device):
    x = t64([0.0, 1.0], device)
    y = _ExpOut.apply(x)
    s = (y * 1).sum()
    arr = weakref.ref(y._data)
    del y
    s.backward()
    gc.collect()
    assert arr() is None
    with pytest.raises(gk.AutogradError, match="second time"):
        _ = _ExpOut.ctxs[-1].saved_tensors


def test_function_saved_tensors_kept_with_retain_graph(device):
    # PyTorch: x.grad [2, 4, 6] then [4, 8, 12]; saved_tensors still readable between
    x = t64([1.0, 2.0, 3.0], device)
    a = x * 1
    y = _Square.apply(a)
    y.sum().backward(retain_graph=True)
    ctx = _Square.ctxs[-1]
    (saved,) = ctx.saved_tensors
    np.testing.assert_array_equal(saved.numpy(), [1.0, 2.0, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0, 12.0])
    with pytest.raises(gk.AutogradError, match="second time"):
        _ = ctx.saved_tensors


def test_function_saved_tensors_freed_by_autograd_grad(device):
    x = t64([1.0, 2.0], device)
    y = _Square.apply(x)
    (g,) = gk.autograd.grad(y.sum(), x)
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    with pytest.raises(gk.AutogradError, match="second time"):
        _ = _Square.ctxs[-1].saved_tensors


def test_function_graph_dropped_without_backward_frees_the_ctx(device):
    x = t64([1.0, 2.0], device)
    y = _Square.apply(x)
    del y
    gc.collect()  # the graph is gone without backward: its ctx's tensors go with it
    with pytest.raises(gk.AutogradError, match="second time"):
        _ = _Square.ctxs[-1].saved_tensors


def test_function_saving_nothing_still_runs_twice(device):
    x = t64([1.0, 2.0], device)

    class Scale(gk.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward()  # nothing
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            assert ctx.saved_tensors == ()
            return grad * 2

    z = Scale.apply(x)
    z.sum().backward()
    z.sum().backward()  # saved nothing: a second pass runs, as PyTorch's
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


def test_function_gradcheck_unchanged(device):
    x = t64([0.5, -1.0, 2.0], device)
    assert gk.gradcheck(lambda t: _Square.apply(t), (x,))
    assert gk.gradcheck(lambda t: _ExpOut.apply(t), (x,))
