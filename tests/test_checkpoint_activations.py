"""gk.utils.checkpoint: activation checkpointing with PyTorch's torch.utils.checkpoint semantics."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import gradkit as gk
from gradkit.backends import NUMPY
from gradkit.utils import checkpoint as ck_module
from gradkit.utils.checkpoint import checkpoint, checkpoint_sequential

nn = gk.nn


def _host(t):
    return None if t is None else t.numpy().copy()


def _same(a, b):
    """Bit for bit (NaN-free): equal values, shapes and dtypes."""
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        assert (u is None) == (v is None)
        if u is not None:
            assert u.dtype == v.dtype and np.array_equal(u, v)


def _grads(tensors):
    return [_host(t.grad) for t in tensors]


def _zero(tensors):
    for t in tensors:
        t.grad = None


def _block(device, dropout=0.0):
    gk.manual_seed(1)
    layers = [nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 6), nn.ReLU()]
    if dropout:
        layers.insert(2, nn.Dropout(dropout))
    return nn.Sequential(*layers).to(device)


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_gradients_equal_plain_for_inputs_and_parameters(device, use_reentrant):
    block = _block(device)
    x = gk.tensor(np.linspace(-2, 2, 30).reshape(5, 6), dtype=gk.float32, device=device, requires_grad=True)
    leaves = [x, *block.parameters()]

    def run(checkpointed):
        _zero(leaves)
        h = x * 1.5  # the checkpoint's input is a non-leaf: gradients must go on through it
        y = checkpoint(block, h, use_reentrant=use_reentrant) if checkpointed else block(h)
        loss = (y * y).sum()
        loss.backward()
        return [_host(y), _host(loss), *_grads(leaves)]

    plain, ckpt = run(False), run(True)
    _same(plain, ckpt)


def test_several_inputs_and_outputs_kwargs_and_unused_outputs(device):
    w = gk.tensor([0.5, -1.0, 2.0], device=device, requires_grad=True)
    u = gk.tensor([0.1, 0.2, 0.3], device=device, requires_grad=True)
    v = gk.tensor([1.0, 2.0, 3.0], device=device)  # needs no gradient

    def f(a, b, scale, *, shift=0.0):
        return (a * w * scale + shift).exp(), (b.sin() * a, "tag"), {"c": a.detach()}

    def run(checkpointed, use_second):
        _zero([u, w])
        out = checkpoint(f, u, v, 2.0, shift=1.0) if checkpointed else f(u, v, 2.0, shift=1.0)
        first, (second, tag), rest = out
        assert tag == "tag" and not rest["c"].requires_grad
        loss = first.sum() + (second * second).sum() if use_second else first.sum()  # or leave it unused
        loss.backward()
        return _grads([u, w, v])

    for use_second in (False, True):
        _same(run(False, use_second), run(True, use_second))


def test_nothing_requires_grad_is_a_plain_call(device):
    x = gk.tensor([[1.0, -2.0]], device=device)
    calls = []

    def f(t):
        calls.append(1)
        return (t * 3).relu()

    y = checkpoint(f, x)
    assert not y.requires_grad and y.grad_fn is None
    with gk.no_grad():
        z = checkpoint(f, x.requires_grad_())
    assert not z.requires_grad
    assert checkpoint(lambda t: t, x) is x  # an argument returned as it is stays that tensor
    assert len(calls) == 2


def test_only_parameters_require_grad(device):
    """The first block of a network: data in, parameters inside."""
    block = _block(device)
    x = gk.tensor(np.arange(12.0).reshape(2, 6) / 7, dtype=gk.float32, device=device)

    def run(checkpointed):
        block.zero_grad()
        y = checkpoint(block, x) if checkpointed else block(x)
        y.sum().backward()
        return _grads(list(block.parameters()))

    _same(run(False), run(True))
    assert x.grad is None


def test_dropout_masks_are_the_forward_ones(device):
    block = _block(device, dropout=0.5)
    x = gk.tensor(np.linspace(-1, 1, 48).reshape(8, 6), dtype=gk.float32, device=device, requires_grad=True)
    leaves = [x, *block.parameters()]

    def run(checkpointed, preserve=True):
        gk.manual_seed(7)
        _zero(leaves)
        y = checkpoint(block, x, preserve_rng_state=preserve) if checkpointed else block(x)
        y.sum().backward()
        after = _host(gk.rand(4, device=device))  # the stream goes on as if nothing had been recomputed
        return [_host(y), after, *_grads(leaves)]

    plain = run(False)
    _same(plain, run(True))
    unpreserved = run(True, preserve=False)  # new masks in the recomputation: other gradients
    assert not np.array_equal(unpreserved[3], plain[3])


def test_counter_rng_state_is_restored_as_in_a_capture():
    """The generator a capture puts in place (gk.cuda.CounterRNG): its device state array is copied back."""
    block = _block("cpu", dropout=0.3)
    x = gk.tensor(np.linspace(-1, 1, 24).reshape(4, 6), dtype=gk.float32, device="cpu", requires_grad=True)
    saved = NUMPY.rng
    results = []
    try:
        for checkpointed in (False, True):
            NUMPY.rng = gk.cuda.CounterRNG(11)
            block.zero_grad()
            y = checkpoint(block, x) if checkpointed else block(x)
            y.sum().backward()
            results.append([_host(y), NUMPY.rng.state.copy(), *_grads(list(block.parameters()))])
    finally:
        NUMPY.rng = saved
    _same(*results)


def test_device_generator_states_are_copied_in_place():
    """CuPy's generators keep their cuRAND states in ``bit_generator._state`` (a device array)."""

    class Bits:
        def __init__(self):
            self._state = np.arange(8, dtype=np.int8)

    class DeviceGenerator:
        def __init__(self):
            self.bit_generator = Bits()

    rng = DeviceGenerator()
    kind, state = ck_module._rng_state(rng, NUMPY)
    assert kind == "curand"
    array = rng.bit_generator._state
    array[:] = 0
    ck_module._set_rng_state(rng, NUMPY, kind, state)
    assert rng.bit_generator._state is array and np.array_equal(array, np.arange(8))
    with pytest.raises(gk.AutogradError, match="changed from a curand one to a numpy one"):
        ck_module._set_rng_state(np.random.default_rng(0), NUMPY, kind, state)


def test_second_derivatives_through_the_checkpoint(device):
    x = gk.tensor([0.5, 1.5, -2.0], dtype=gk.float64, device=device, requires_grad=True)
    w = gk.tensor([0.3, -0.7, 1.1], dtype=gk.float64, device=device, requires_grad=True)

    def f(t):
        return (t**3 * w).sin()

    def run(checkpointed):
        _zero([x, w])
        y = checkpoint(f, x) if checkpointed else f(x)
        y.sum().backward(create_graph=True)
        gx, gw = x.grad, w.grad
        _zero([x, w])
        (gx * gx).sum().backward()
        return [_host(gx), _host(gw), *_grads([x, w])]

    _same(run(False), run(True))

    def second(g):  # d/dx of sum(d/dx sum(g(x))), through the transforms
        return _host(gk.grad(lambda t: gk.grad(lambda s: g(s).sum())(t).sum())(x))

    _same([second(f)], [second(lambda s: checkpoint(f, s))])


def test_transforms_leave_parameter_grads_alone(device):
    block = _block(device)
    x = gk.tensor(np.ones((2, 6)), dtype=gk.float32, device=device)
    g_plain = gk.grad(lambda t: block(t).sum())(x)
    g_ckpt = gk.grad(lambda t: checkpoint(block, t).sum())(x)
    _same([_host(g_plain)], [_host(g_ckpt)])
    assert all(p.grad is None for p in block.parameters())


def test_backward_twice_with_retain_graph(device):
    block = _block(device)
    x = gk.tensor(np.linspace(0, 1, 12).reshape(2, 6), dtype=gk.float32, device=device, requires_grad=True)
    leaves = [x, *block.parameters()]

    def run(checkpointed):
        _zero(leaves)
        y = (checkpoint(block, x) if checkpointed else block(x)).sum()
        y.backward(retain_graph=True)
        y.backward()
        return _grads(leaves)

    _same(run(False), run(True))


def test_closure_tensors_side_outputs_and_multi_output_functions():
    """Tensors the function closes over (a non-leaf), a tensor it stores aside, and a two-output
    gk.autograd.Function (its nodes are the call's: recomputed, not kept) all get their gradients."""

    class Halves(gk.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            n = t.shape[0] // 2
            return t[:n] * 1.0, t[n:] * 1.0

        @staticmethod
        def backward(ctx, ga, gb):
            return gk.cat([ga, gb])

    w = gk.tensor([1.0, -2.0, 3.0, 0.5], requires_grad=True)
    p = gk.tensor([0.2, 0.4, 0.6, 0.8], requires_grad=True)
    x = gk.tensor([0.3, -0.1, 0.7, 1.2], requires_grad=True)
    aside = []

    def f(t):
        scale = c * 1.0
        a, b = Halves.apply(t * scale)
        pa, pb = Halves.apply(p)  # on a parameter only
        aside.append((a * pa).sum())
        return gk.cat([a.tanh() * pb, b.exp() * pa])

    def run(checkpointed):
        nonlocal c
        _zero([w, p, x])
        aside.clear()
        c = w * 2  # a non-leaf from outside the call
        y = checkpoint(f, x) if checkpointed else f(x)
        ((y * y).sum() + aside[0]).backward()
        return _grads([w, p, x])

    c = None
    plain, ckpt = run(False), run(True)
    for u, v in zip(plain, ckpt, strict=True):
        assert np.allclose(u, v, rtol=1e-6, atol=0)
    c = w * 2
    node = checkpoint(f, x).grad_fn
    assert node.name == "Checkpoint"
    assert {id(e) for e in node.next} == {id(x), id(c.grad_fn), id(p)}  # no node of Halves on the boundary


def test_checkpointed_chain_keeps_fewer_arrays_alive():
    """Four blocks 128 -> 512 -> 128: a plain block keeps its output and a 512-wide activation alive (five
    units of 128 KiB); a checkpointed one only its output."""
    gk.manual_seed(0)
    blocks = [nn.Sequential(nn.Linear(128, 512), nn.Tanh(), nn.Linear(512, 128)).to("cpu") for _ in range(4)]
    x = gk.randn(256, 128, device="cpu", requires_grad=True)
    leaves = [x, *(p for b in blocks for p in b.parameters())]

    def held(checkpointed):
        _zero(leaves)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            h = x
            for block in blocks:
                h = checkpoint(block, h) if checkpointed else block(h)
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        h.sum().backward()
        return kept, _grads(leaves)

    plain_bytes, plain = held(False)
    ckpt_bytes, ckpt = held(True)
    unit = 256 * 128 * 4
    assert plain_bytes > 16 * unit  # 20 units measured
    assert ckpt_bytes < 5 * unit  # 4 units measured: the blocks' outputs
    _same(plain, ckpt)


def test_checkpoint_sequential_matches_plain(device):
    gk.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3)).to(device)
    x = gk.tensor(np.linspace(-1, 1, 12).reshape(3, 4), dtype=gk.float32, device=device, requires_grad=True)
    leaves = [x, *model.parameters()]

    def run(how):
        _zero(leaves)
        y = model(x) if how is None else checkpoint_sequential(how, 2, x, use_reentrant=False)
        y.sum().backward()
        return [_host(y), *_grads(leaves)]

    plain = run(None)
    _same(plain, run(model))
    _same(plain, run(list(model.children())))
    _same(plain, run([lambda t: t, *model.children()]))  # segments of 3: a Linear and ReLU split apart


def test_capture_runs_checkpointed_steps_on_the_numpy_fallback():
    gk.manual_seed(4)
    model = nn.Sequential(nn.Linear(6, 6), nn.Dropout(0.2), nn.Tanh(), nn.Linear(6, 2)).to("cpu")
    opt = gk.optim.SGD(model.parameters(), lr=0.1)
    start = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    def step(x, y, checkpointed):
        opt.zero_grad()
        out = checkpoint(model, x) if checkpointed else model(x)
        loss = ((out - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    x = gk.tensor(np.linspace(-1, 1, 24).reshape(4, 6), dtype=gk.float32, device="cpu")
    y = gk.zeros(4, 2, device="cpu")
    losses = {}
    for checkpointed in (False, True):
        model.load_state_dict({k: gk.tensor(v, device="cpu") for k, v in start.items()})
        gk.manual_seed(5)
        captured = gk.cuda.capture(lambda a, b, c=checkpointed: step(a, b, c), x, y)
        assert not captured.graphed
        losses[checkpointed] = [captured(x, y).item() for _ in range(3)]
    assert losses[False] == losses[True]


def test_errors_name_the_call_and_the_argument(device):
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(gk.ArgumentTypeError, match="checkpoint: function must be callable"):
        checkpoint("relu", x)
    with pytest.raises(gk.ArgumentTypeError, match="use_reentrant must be True or False"):
        checkpoint(gk.relu, x, use_reentrant="no")
    with pytest.raises(gk.ArgumentTypeError, match="preserve_rng_state"):
        checkpoint(gk.relu, x, preserve_rng_state=None)
    with pytest.raises(gk.InvalidArgumentError, match="segments must be at most the number of functions"):
        checkpoint_sequential([gk.relu], 2, x)
    with pytest.raises(gk.InvalidArgumentError, match="segments must be >= 1"):
        checkpoint_sequential([gk.relu], 0, x)
    with pytest.raises(gk.ArgumentTypeError, match=r"functions\[1\] must be callable"):
        checkpoint_sequential([gk.relu, 3], 1, x)
    with pytest.raises(gk.ArgumentTypeError, match="nn.Sequential or a list of callables"):
        checkpoint_sequential(gk.relu, 1, x)

    plain = gk.tensor([1.0, 2.0], device=device)
    with pytest.raises(gk.AutogradError, match="changed tensor 1 of its arguments .* in place"):
        checkpoint(lambda a, b: a * b.mul_(2), x, plain)

    y = checkpoint(lambda t: (t * t).sum(), x)
    with gk.no_grad():
        x.mul_(2)
    with pytest.raises(gk.AutogradError, match="modified in place"):
        y.backward()

    calls = []

    def changing(t):
        calls.append(1)
        return t.exp() if len(calls) == 1 else t.sin()

    z = checkpoint(changing, x).sum()
    with pytest.raises(gk.AutogradError, match="recorded a different graph"):
        z.backward()


def test_nested_checkpoints_and_trace(device):
    gk.manual_seed(3)
    inner, outer = nn.Sequential(nn.Linear(4, 4), nn.Tanh()).to(device), nn.Linear(4, 4).to(device)
    x = gk.tensor(np.linspace(-1, 1, 8).reshape(2, 4), dtype=gk.float32, device=device, requires_grad=True)
    leaves = [x, *inner.parameters(), *outer.parameters()]

    def f(t, nested):
        h = checkpoint(inner, outer(t)) if nested else inner(outer(t))
        return (h * h).sigmoid()

    def run(how):
        _zero(leaves)
        y = f(x, False) if how == 0 else checkpoint(f, x, how == 2)
        y.sum().backward()
        return _grads(leaves)

    plain = run(0)
    _same(plain, run(1))
    _same(plain, run(2))
    traced = gk.trace(lambda a: checkpoint(lambda t: gk.sin(t) * t, a), 2.0)
    assert "Checkpoint" in str(traced)


# --------------------------------------------------------------------- module hooks, threads, nested arguments
def _hooked_linear(device, log):
    gk.manual_seed(4)
    m = nn.Linear(3, 3).to(device)
    m.register_forward_pre_hook(lambda mod, args: log.append("forward_pre"))
    m.register_forward_hook(lambda mod, args, out: log.append("forward"))
    m.register_full_backward_pre_hook(lambda mod, go: log.append("pre") or (go[0] * 2,))
    m.register_full_backward_hook(lambda mod, gi, go: log.append("full") or (gi[0] * 3,))
    return m


def test_module_backward_hooks_run_inside_checkpoint(device):
    """The hooks' nodes are the call's: the backward pass runs them on the recomputed graph, once, and what
    they return counts. The pre-hook doubles grad_output, the hook triples grad_input; y = 2x W^T + b."""
    log = []
    m = _hooked_linear(device, log)
    x = gk.ones((2, 3), device=device, requires_grad=True)
    y = checkpoint(m, x * 2)
    log.append("|")
    y.sum().backward()
    assert log == ["forward_pre", "forward", "|", "forward_pre", "forward", "pre", "full"]
    w = m.weight.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 12 * np.ones((2, 3)) @ w, rtol=1e-6)
    np.testing.assert_array_equal(m.weight.grad.numpy(), np.full((3, 3), 8.0))
    np.testing.assert_array_equal(m.bias.grad.numpy(), np.full(3, 4.0))


def test_module_backward_hooks_as_pytorch():
    torch = pytest.importorskip("torch")
    from torch.utils.checkpoint import checkpoint as torch_checkpoint

    log, torch_log = [], []
    m = _hooked_linear("cpu", log)
    tm = torch.nn.Linear(3, 3)
    with torch.no_grad():
        tm.weight.copy_(torch.from_numpy(m.weight.numpy()))
        tm.bias.copy_(torch.from_numpy(m.bias.numpy()))
    tm.register_full_backward_pre_hook(lambda mod, go: torch_log.append("pre") or (go[0] * 2,))
    tm.register_full_backward_hook(lambda mod, gi, go: torch_log.append("full") or (gi[0] * 3,))
    x = gk.ones((2, 3), device="cpu", requires_grad=True)
    tx = torch.ones((2, 3), requires_grad=True)
    checkpoint(m, x * 2).sum().backward()
    torch_checkpoint(tm, tx * 2, use_reentrant=False).sum().backward()
    assert [e for e in log if e in ("pre", "full")] == torch_log == ["pre", "full"]
    for a, b in ((x, tx), (m.weight, tm.weight), (m.bias, tm.bias)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6)


def test_overlapping_checkpoints_on_two_threads_leave_no_observer():
    """Two calls that do not end in reverse order: each notes only its own thread's nodes, and both
    observers are gone afterwards (recording costs nothing more)."""
    import threading

    from gradkit.autograd import function

    first_in, second_in, first_done = threading.Event(), threading.Event(), threading.Event()
    x = gk.tensor([0.5, 1.0, 2.0], requires_grad=True)
    results = {}

    def f1(a):
        first_in.set()
        second_in.wait(5)
        return a.tanh()

    def f2(a):
        second_in.set()
        first_done.wait(5)
        return a.sin()

    def run(key, f, done=None):
        results[key] = checkpoint(f, x)
        if done is not None:
            done.set()

    t1 = threading.Thread(target=run, args=("tanh", f1, first_done))
    t1.start()
    first_in.wait(5)
    t2 = threading.Thread(target=run, args=("sin", f2))
    t2.start()
    t1.join(5)
    t2.join(5)
    assert function.observer is None
    for key in ("tanh", "sin"):
        node = results[key].grad_fn
        assert node.name == "Checkpoint" and [id(e) for e in node.next] == [id(x)]
    (results["tanh"] + results["sin"]).sum().backward()
    v = np.array([0.5, 1.0, 2.0], np.float32)
    np.testing.assert_allclose(x.grad.numpy(), 1 - np.tanh(v) ** 2 + np.cos(v), rtol=1e-6)


class _Counting(tuple):
    """A node's edges that count how often they are walked."""

    walks = 0

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()


def test_tensors_nested_in_arguments(device):
    """Tensors in lists, tuples and dicts are arguments too: their nodes are known to be older than the
    call (not searched), and an in-place change before backward is an error."""
    w = gk.tensor([0.5, -1.0], device=device, requires_grad=True)
    b = gk.tensor([2.0, 3.0], device=device, requires_grad=True)
    s = gk.tensor([1.5, 0.5], device=device, requires_grad=True)

    def f(pair, scale):
        return (pair[0] * pair[1][0]).tanh() * scale["s"]

    def run(checkpointed):
        _zero([w, b, s])
        a = w * 2
        a.grad_fn.next = _Counting(a.grad_fn.next)
        _Counting.walks = 0
        y = checkpoint(f, [a, (b,)], scale={"s": s}) if checkpointed else f([a, (b,)], {"s": s})
        walks = _Counting.walks
        y.sum().backward()
        return walks, _grads([w, b, s])

    (_, plain), (walks, ckpt) = run(False), run(True)
    assert walks == 0
    _same(plain, ckpt)

    y = checkpoint(f, [w, (b,)], scale={"s": s}).sum()
    with gk.no_grad():
        s.mul_(2)
    with pytest.raises(gk.AutogradError, match="modified in place"):
        y.backward()
