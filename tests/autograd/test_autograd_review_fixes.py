"""Autograd fixes from a review against PyTorch: hooks removed during a pass, hook handles, views to the same
shape, concurrent backward (leaf accumulation, shared backward calls), leaves turned off, trace text, linalg."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd import engine
from gradkit.autograd.custom_function import SharedBackward
from gradkit.utils.checkpoint import checkpoint


def t64(values, device="cpu", requires_grad=True):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


@pytest.fixture
def busy_switching():
    """Threads switch as often as the interpreter allows, so that races show up within few iterations."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def run_threads(work, n: int = 4) -> None:
    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            work(k)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# ------------------------------------------------------------------ tensor hooks
@pytest.mark.parametrize("leaf", [True, False])
def test_a_hook_that_removes_itself_does_not_skip_the_next(device, leaf):
    x = t64([1.0, 2.0], device)
    t = x if leaf else x * 1
    handle = t.register_hook(lambda g: handle.remove())
    t.register_hook(lambda g: g * 10)
    (t * 1).sum().backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), [10.0, 10.0])
    x.grad = None
    (t * 1).sum().backward()  # removed: only the other hook runs
    np.testing.assert_allclose(x.grad.numpy(), [10.0, 10.0])


@pytest.mark.parametrize("leaf", [True, False])
def test_hooks_removed_or_added_by_a_hook_take_effect_from_the_next_pass(leaf):
    x = t64([1.0, 2.0])
    t = x if leaf else x * 1
    calls: list[str] = []

    def first(g):
        calls.append("first")
        second_handle.remove()
        t.register_hook(lambda g: calls.append("added"))

    first_handle = t.register_hook(first)
    second_handle = t.register_hook(lambda g: calls.append("second"))
    (t * 1).sum().backward(retain_graph=True)
    assert calls == ["first", "second"]  # as PyTorch: the pass runs the hooks it found
    first_handle.remove()
    calls.clear()
    (t * 1).sum().backward()
    assert calls == ["added"]


def test_a_handle_removes_its_own_registration_of_a_repeated_function():
    def double(g):
        return g * 2

    def add_one(g):
        return g + 1

    x = t64([1.0, 2.0])
    first = x.register_hook(double)
    x.register_hook(add_one)
    last = x.register_hook(double)
    last.remove()
    last.remove()  # again: nothing happens
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])  # (1 * 2) + 1, not (1 + 1) * 2
    first.remove()
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    assert len(x._hooks) == 1


def test_non_leaf_handles_remove_their_own_registration():
    x = t64([1.0, 2.0])
    y = x * 1
    seen: list[int] = []

    def note(g):
        seen.append(1)

    y.register_hook(note)
    y.register_hook(note).remove()
    y.sum().backward()
    assert seen == [1]


def test_hook_semantics_match_pytorch():
    torch = pytest.importorskip("torch")

    def run(lib):
        out = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x.register_hook(lambda g: h.remove())
        x.register_hook(lambda g: g * 10)
        (x * 1).sum().backward()
        out.append(x.grad.tolist())

        def dbl(g):
            return g * 2

        def inc(g):
            return g + 1

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(dbl)
        x.register_hook(inc)
        x.register_hook(dbl).remove()
        (x * 1).sum().backward()
        out.append(x.grad.tolist())
        return out

    assert run(gk) == run(torch)


# ------------------------------------------------------------------ module hooks
def test_module_hooks_removed_during_a_call_still_run_in_it_as_registered():
    m = gk.nn.Linear(2, 2)
    calls: list[str] = []

    def remover(mod, args, out):
        calls.append("remover")
        later.remove()

    def later(mod, args, kwargs, out):  # with_kwargs=True: called with the kwargs even when removed meanwhile
        calls.append(f"later {sorted(kwargs)}")

    m.register_forward_hook(remover)
    later = m.register_forward_hook(later, with_kwargs=True)
    m(gk.ones(1, 2))
    m(gk.ones(1, 2))
    assert calls == ["remover", "later []", "remover"]

    calls.clear()
    m = gk.nn.Linear(2, 2)

    def pre_remover(mod, args):
        calls.append("pre_remover")
        pre_later.remove()

    def pre_later(mod, args, kwargs):
        calls.append("pre_later")

    m.register_forward_pre_hook(pre_remover)
    pre_later = m.register_forward_pre_hook(pre_later, with_kwargs=True)
    m(gk.ones(1, 2))
    m(gk.ones(1, 2))
    assert calls == ["pre_remover", "pre_later", "pre_remover"]


def test_module_backward_hooks_removed_during_a_pass_match_pytorch():
    torch = pytest.importorskip("torch")

    def run(lib):
        calls = []
        m = lib.nn.Linear(2, 2)

        def first(mod, gi, go):
            calls.append("first")
            second_handle.remove()

        def pre_first(mod, go):
            calls.append("pre_first")
            pre_second_handle.remove()

        m.register_full_backward_hook(first)
        second_handle = m.register_full_backward_hook(lambda mod, gi, go: calls.append("second"))
        m.register_full_backward_pre_hook(pre_first)
        pre_second_handle = m.register_full_backward_pre_hook(lambda mod, go: calls.append("pre_second"))
        x = lib.ones(1, 2, requires_grad=True)
        for _ in range(2):
            m(x).sum().backward()
        return calls

    assert run(gk) == run(torch)


# ------------------------------------------------------------------ views to the same shape
SAME_SHAPE_VIEWS = {
    "view": lambda t: t.view(2, 3),
    "reshape": lambda t: t.reshape((2, 3)),
    "gk.reshape": lambda t: gk.reshape(t, (2, 3)),
    "view_as": lambda t: t.view_as(t),
    "reshape_as": lambda t: t.reshape_as(t),
    "expand": lambda t: t.expand(2, 3),
    "expand -1": lambda t: t.expand(-1, -1),
    "expand_as": lambda t: t.expand_as(t),
    "broadcast_to": lambda t: t.broadcast_to((2, 3)),
    "gk.broadcast_to": lambda t: gk.broadcast_to(t, (2, 3)),
    "squeeze": lambda t: t.squeeze(),
}


@pytest.mark.parametrize("name", list(SAME_SHAPE_VIEWS))
def test_a_view_to_the_same_shape_is_a_new_tensor_on_the_same_memory(device, name):
    f = SAME_SHAPE_VIEWS[name]
    base = gk.tensor(np.arange(6.0).reshape(2, 3), device=device)
    v = f(base)
    assert v is not base and v.shape == base.shape
    assert v.requires_grad is False and v.is_leaf
    v.requires_grad_()  # a tensor of its own: the base stays as it was
    assert not base.requires_grad
    v = f(base)
    v += 1  # the same memory and version counter
    np.testing.assert_allclose(base.numpy(), np.arange(6.0).reshape(2, 3) + 1)
    assert base._version is v._version

    x = gk.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    v = f(x)
    assert v is not x and not v.is_leaf and v.grad_fn is not None
    v.register_hook(lambda g: g * 100)  # on the view only
    v.retain_grad()
    h = x * 1
    (h.sum() + (f(h) * 0).sum() + (v * 2).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 201.0))
    np.testing.assert_allclose(v.grad.numpy(), np.full((2, 3), 200.0))  # after its hooks, as PyTorch
    assert h.grad is None


@pytest.mark.parametrize("name", list(SAME_SHAPE_VIEWS))
def test_same_shape_views_gradcheck(name):
    f = SAME_SHAPE_VIEWS[name]
    x = t64(np.linspace(-1.0, 1.0, 6).reshape(2, 3))
    assert gk.gradcheck(lambda x: f(x) * f(x * x), (x,))
    assert gk.gradcheck(gk.grad(lambda x: (f(x) * f(x * x)).sum()), (x,))  # the view's backward is recorded


def test_a_same_shape_view_keeps_the_saved_value_check(device):
    x = t64([1.0, 2.0], device)
    base = t64([3.0, 4.0], device, requires_grad=False)
    y = x * base
    base.view(2).add_(1.0)  # through the view: the saved base has changed
    with pytest.raises(gk.AutogradError, match="modified in place"):
        y.sum().backward()


def test_where_pytorch_returns_the_tensor_itself_so_does_gradkit():
    x = t64([[1.0, 2.0, 3.0]])
    assert x.flatten(1, 1) is x and x.flatten(0, 0) is x
    assert x.reshape(-1).flatten() is not None
    v = x.reshape(-1)
    assert v.flatten() is v
    assert x.contiguous() is x
    assert x.astype(x.dtype) is x
    assert x.type_as(x) is x
    assert gk.atleast_1d(x) is x
    assert x.flatten() is not x  # two axes merged: a view


def test_same_shape_views_match_pytorch():
    torch = pytest.importorskip("torch")

    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        v = h.view(2)
        v.register_hook(lambda g: g * 100)
        (h.sum() + (v * 0).sum()).backward()
        z = lib.zeros(3)
        z.view(3).requires_grad_()
        e = x.expand(2)
        return x.grad.tolist(), z.requires_grad, e is x, e.is_leaf, x.view(2).is_leaf

    assert run(gk) == run(torch)


# ------------------------------------------------------------------ threads
def test_concurrent_backward_into_shared_leaves_loses_nothing(busy_switching):
    # NumPy lets other threads run during a large in-place add: unguarded, two adds into one .grad lose elements.
    a = t64(np.zeros(400_000))
    b = t64(np.zeros(3))
    ((a * 0.0).sum() + (b * 0.0).sum()).backward()  # .grad exists: later passes add into it in place
    iterations = 30

    def work(k):
        for _ in range(iterations):
            ((a * 1.0).sum() + (b * 2.0).sum()).backward()

    run_threads(work)
    np.testing.assert_array_equal(a.grad.numpy(), np.full(400_000, 4.0 * iterations))
    np.testing.assert_array_equal(b.grad.numpy(), np.full(3, 8.0 * iterations))


def test_concurrent_first_gradients_of_a_fresh_leaf_are_all_kept(monkeypatch):
    # Widen the window between the check for a first .grad and storing it: another thread arriving then must wait.
    exclusive = engine._exclusive

    def slow_exclusive(g, taken):
        time.sleep(0.005)
        return exclusive(g, taken)

    monkeypatch.setattr(engine, "_exclusive", slow_exclusive)
    for _ in range(3):
        a = t64(np.zeros(10))
        start = threading.Barrier(4)

        def work(k, a=a, start=start):
            y = (a * float(k + 1)).sum()
            start.wait()
            y.backward()

        run_threads(work)
        np.testing.assert_array_equal(a.grad.numpy(), np.full(10, 10.0))


class Mul(gk.autograd.Function):
    calls = 0

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        Mul.calls += 1
        a, b = ctx.saved_tensors
        return g * b, g * a


def test_concurrent_passes_through_one_custom_function(busy_switching):
    x = t64(np.ones(50))
    y = t64(np.full(50, 2.0))
    shared = Mul.apply(x, y)
    wrong: list[tuple] = []

    def work(k):
        c = float(k + 1)
        for _ in range(150):
            gx, gy = gk.autograd.grad((shared * c).sum(), [x, y], retain_graph=True)
            if not (np.all(gx.numpy() == 2 * c) and np.all(gy.numpy() == c)):
                wrong.append((k, gx.numpy()[0], gy.numpy()[0]))

    run_threads(work)
    assert wrong == []
    assert shared.grad_fn.saved[0].passes == {}  # every pass took all of its gradients


def test_concurrent_passes_through_one_fused_linear_relu(busy_switching):
    # the three rules of linear_relu share the masked gradient of a pass: each pass must get its own
    rng = np.random.default_rng(3)
    x = t64(rng.standard_normal((64, 32)))  # big enough for NumPy to release the GIL in the masking
    w = t64(rng.standard_normal((128, 32)))
    b = t64(rng.standard_normal(128))
    shared = gk.nn.functional.linear_relu(x, w, b)
    mask = shared.numpy() > 0
    wrong: list[int] = []

    def work(k):
        c = float(k + 1)
        for _ in range(100):
            gb, gw = gk.autograd.grad((shared * c).sum(), [b, w], retain_graph=True)
            if not (np.allclose(gb.numpy(), c * mask.sum(0)) and np.allclose(gw.numpy(), c * mask.T @ x.numpy())):
                wrong.append(k)

    run_threads(work)
    assert wrong == []


def test_concurrent_passes_through_one_checkpoint(busy_switching):
    w = t64(np.linspace(0.5, 1.5, 8))
    x = t64(np.linspace(-1.0, 1.0, 8))
    out = checkpoint(lambda x: gk.tanh(x * w) * x, x)
    expected_x, expected_w = gk.autograd.grad((gk.tanh(x * w) * x).sum(), [x, w])
    wrong: list[int] = []

    def work(k):
        c = float(k + 1)
        for _ in range(120):
            gx, gw = gk.autograd.grad((out * c).sum(), [x, w], retain_graph=True)
            ok_x = np.allclose(gx.numpy(), c * expected_x.numpy())
            if not (ok_x and np.allclose(gw.numpy(), c * expected_w.numpy())):
                wrong.append(k)

    run_threads(work)
    assert wrong == []


def test_shared_backward_runs_once_per_pass_and_forgets_ended_passes():
    x = t64([1.0, 2.0])
    y = t64([3.0, 4.0])
    out = Mul.apply(x, y)
    state = out.grad_fn.saved[0]
    assert isinstance(state, SharedBackward)
    Mul.calls = 0
    out.sum().backward(retain_graph=True)
    assert Mul.calls == 1 and state.passes == {}
    (gx,) = gk.autograd.grad(out.sum(), [x], retain_graph=True)  # only x's edge asked: the entry is left
    np.testing.assert_allclose(gx.numpy(), [3.0, 4.0])
    assert len(state.passes) == 1
    assert not next(iter(state.passes)).running
    out.sum().backward()  # the next pass drops it
    assert Mul.calls == 3 and state.passes == {}
    np.testing.assert_allclose(y.grad.numpy(), [2.0, 4.0])


def test_a_pass_nested_in_a_backward_through_the_same_node():
    class Square(gk.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * 2 * a

    x = t64([1.0, 2.0])
    sq = Square.apply(x)
    inner: list = []

    def hook(g):  # a pass of its own through sq's node, while the outer pass is at the hook before it
        if not inner:
            with gk.enable_grad():
                inner.append(gk.autograd.grad(sq.sum(), [x], retain_graph=True)[0].numpy())

    y = sq * 1
    y.register_hook(hook)
    y.sum().backward(retain_graph=True)
    np.testing.assert_allclose(inner[0], [2.0, 4.0])
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


# ------------------------------------------------------------------ a leaf turned off
def test_a_leaf_turned_off_after_the_forward_pass_gets_no_grad():
    x = t64([1.0, 2.0])
    w = t64([3.0, 4.0])
    seen: list = []
    x.register_hook(lambda g: seen.append(g.numpy().tolist()))
    y = (x * w).sum()
    x.requires_grad_(False)
    y.backward(retain_graph=True)
    assert x.grad is None and seen == [[3.0, 4.0]]  # its hooks still run, as PyTorch's
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0])
    x.requires_grad_(True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


def test_a_leaf_turned_off_matches_pytorch():
    torch = pytest.importorskip("torch")

    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (x * 3).sum()
        x.requires_grad_(False)
        y.backward()
        return x.grad is None, x.requires_grad

    assert run(gk) == run(torch)


# ------------------------------------------------------------------ gk.trace text
def test_trace_shows_a_value_once_and_the_seed_shape():
    text = str(gk.trace(lambda a: -a * 1.0, 2.0))
    left = [line.split(" | ")[0].strip() for line in text.splitlines()[2:-1]]
    assert left[1:3] == ["v1 = -v0 = -2", "v2 = v1 * 1 = (-2) * 1 = -2"]
    assert "y~ = 1 (seed)" in text
    text = str(gk.trace(lambda a: a * a, [1.0, 2.0]))
    assert "y~ = ones of shape (2,) (seed)" in text
    md = gk.trace(lambda a: a * a, [[1.0], [2.0]]).to_markdown()
    assert "`y~ = ones of shape (2, 1) (seed)`" in md


# ------------------------------------------------------------------ linalg
@pytest.mark.parametrize("compute_uv", [True, False])
def test_svd_of_a_nan_matrix_raises_gradkits_linalg_error(compute_uv):
    a = gk.tensor(np.full((3, 3), np.nan))
    with pytest.raises(gk.linalg.LinAlgError, match="linalg.svd: the SVD did not converge") as info:
        gk.linalg.svd(a, compute_uv=compute_uv)
    assert isinstance(info.value, gk.GradkitError)
    a.requires_grad_()
    with pytest.raises(gk.linalg.LinAlgError, match="linalg.svd"):
        gk.linalg.svd(a, compute_uv=compute_uv)


def test_eigh_reads_uplo_as_the_other_symmetric_solvers():
    a = gk.tensor([[2.0, 100.0], [1.0, 3.0]])
    tol = {"rtol": 1e-6}  # float32, and on a GPU cuSOLVER's own rounding
    np.testing.assert_allclose(gk.linalg.eigh(a, "u").eigenvalues.numpy(), np.linalg.eigvalsh(a.numpy(), "U"), **tol)
    np.testing.assert_allclose(gk.linalg.eigh(a, "l").eigenvalues.numpy(), np.linalg.eigvalsh(a.numpy(), "L"), **tol)
    with pytest.raises(gk.InvalidArgumentError, match="linalg.eigh: UPLO must be 'L' or 'U', got 'x'"):
        gk.linalg.eigh(a, "x")
    with pytest.raises(gk.ArgumentTypeError, match="linalg.eigh: UPLO must be a str"):
        gk.linalg.eigh(a, 1)
