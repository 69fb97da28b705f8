"""Edge cases of the fused recurrence (``gradkit.nn._recurrence.FusedRecurrence``): which results get a gradient
(only h_n, only c_n, part of the output, a result used twice), states with and without grad, a state that is a
view, frozen weights, empty batches, dtypes of the gradients, hooks, checkpointing, anomaly mode, what the node
keeps alive, host reads of its first-order backward; PyTorch's float64 gradients with states."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data

import gradkit as gk
from gradkit.nn import _recurrence
from gradkit.nn.rnn import GRU, LSTM, RNN
from gradkit.utils.checkpoint import checkpoint

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")  # PyTorch's

IN, HID, N = 3, 4, 2


def _grads(make, fused: bool, monkeypatch, steps: int, pick, state_grad: bool, device: str) -> list:
    """Gradients (None where there is none) of x, the states (when they require grad) and the parameters of
    ``pick(outputs)``, a list of tensors each summed with weights."""
    with monkeypatch.context() as patch:
        patch.setattr(_recurrence, "FUSED", fused)
        gk.manual_seed(0)
        m = make()
        x = _gk(_data(steps, N, IN), device)
        layers = m.num_layers * (2 if m.bidirectional else 1)
        h0 = _gk(_data(layers, N, m.proj_size or HID, seed=1), device, state_grad)
        c0 = _gk(_data(layers, N, HID, seed=2), device, state_grad)
        y, state = m(x, (h0, c0) if m.mode == "LSTM" else h0)
        outs = [y, *state] if isinstance(state, tuple) else [y, state]
        chosen = pick(outs)
        loss = sum((o * gk.tensor(_data(*o.shape, seed=10 + k), device=device)).sum() for k, o in enumerate(chosen))
        wrt = [x, *((h0, c0) if state_grad and m.mode == "LSTM" else (h0,) if state_grad else ()), *m.parameters()]
        found = gk.autograd.grad(loss, wrt, allow_unused=True)
    return [None if g is None else g.numpy() for g in found]


MAKERS = {
    "LSTM-proj-bi-2": lambda d: lambda: LSTM(IN, HID, 2, bidirectional=True, proj_size=2, device=d, dtype="float64"),
    "GRU-bi-nobias": lambda d: lambda: GRU(IN, HID, bias=False, bidirectional=True, device=d, dtype="float64"),
    "RNN-relu": lambda d: lambda: RNN(IN, HID, nonlinearity="relu", device=d, dtype="float64"),
}
PICKS = {
    "h_n": lambda o: [o[1]],
    "c_n": lambda o: [o[-1]],
    "last-output-step": lambda o: [o[0][-1:]],
    "output-twice": lambda o: [o[0], o[0] * o[0], o[1]],
}


@pytest.mark.parametrize("maker", list(MAKERS))
@pytest.mark.parametrize("pick", list(PICKS))
@pytest.mark.parametrize("steps", [1, 3])
def test_partial_results_give_the_composed_gradients(device, monkeypatch, maker, pick, steps):
    """Including which inputs get none: with one step, only c_n does not reach weight_hr (None, as PyTorch)."""
    make = MAKERS[maker](device)
    for state_grad in (True, False):
        fused = _grads(make, True, monkeypatch, steps, PICKS[pick], state_grad, device)
        composed = _grads(make, False, monkeypatch, steps, PICKS[pick], state_grad, device)
        for a, b in zip(fused, composed, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_weight_hr_gets_no_gradient_from_c_n_of_one_step_as_in_pytorch(device):
    torch = pytest.importorskip("torch")
    t = torch.nn.LSTM(IN, HID, proj_size=2).double()
    m = LSTM(IN, HID, proj_size=2, device=device, dtype="float64")
    x = _data(1, N, IN)
    t(torch.tensor(x))[1][1].sum().backward()
    m(gk.tensor(x, device=device))[1][1].sum().backward()
    assert t.weight_hr_l0.grad is None and m.weight_hr_l0.grad is None
    assert m.weight_hh_l0.grad is not None
    (g,) = gk.autograd.grad(m(gk.tensor(x, device=device))[1][1].sum(), [m.weight_hr_l0], allow_unused=True)
    assert g is None


def test_float64_gradients_with_states_match_pytorch(device):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    kw = {"num_layers": 2, "bidirectional": True, "proj_size": 2, "bias": False}
    t = torch.nn.LSTM(IN, HID, **kw).double()
    m = LSTM(IN, HID, **kw, device=device, dtype="float64")
    m.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    for steps in (1, 3):
        x, h0, c0 = _data(steps, N, IN), _data(4, N, 2, seed=1), _data(4, N, HID, seed=2)
        tt = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]
        gg = [_gk(a, device) for a in (x, h0, c0)]
        ty, (th, tc) = t(tt[0], (tt[1], tt[2]))
        gy, (gh, gc) = m(gg[0], (gg[1], gg[2]))
        u = _data(steps, N, 4, seed=3)
        (ty[:1] * torch.tensor(u[:1])).sum().add(th.sum() * 2 + (tc * tc).sum()).backward()
        ((gy[:1] * gk.tensor(u[:1], device=device)).sum() + gh.sum() * 2 + (gc * gc).sum()).backward()
        for a, b in zip(gg, tt, strict=True):
            _close(a.grad, b.grad.numpy(), 1e-12)
        theirs = dict(t.named_parameters())
        for name, p in m.named_parameters():
            _close(p.grad, theirs[name].grad.numpy(), 1e-12)
            p.grad = None
            theirs[name].grad = None


def test_a_state_that_is_a_view_and_frozen_weights(device, monkeypatch):
    results = []
    for fused in (True, False):
        with monkeypatch.context() as patch:
            patch.setattr(_recurrence, "FUSED", fused)
            gk.manual_seed(0)
            m = LSTM(IN, HID, device=device, dtype="float64")
            for p in m.parameters():
                p.requires_grad_(False)
            base = _gk(_data(2, 1, N, HID, seed=1), device)
            x = _gk(_data(3, N, IN), device)
            y, (h, c) = m(x, (base[0], base[1]))  # h0 and c0: views of one tensor
            ((y * y).sum() + h.sum()).backward()
            results.append((x.grad.numpy(), base.grad.numpy()))
            assert all(p.grad is None for p in m.parameters())
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layer", [LSTM, GRU, RNN])
def test_an_empty_batch(device, layer):
    m = layer(IN, HID, device=device, dtype="float64")
    x = _gk(np.zeros((3, 0, IN)), device)
    y, state = m(x)
    h = state[0] if isinstance(state, tuple) else state
    (y.sum() + h.sum()).backward()
    assert y.shape == (3, 0, HID) and x.grad.shape == x.shape
    for p in m.parameters():
        assert p.grad is not None and p.grad.shape == p.shape and not p.grad.numpy().any()


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_gradients_keep_the_dtype(device, dtype):
    for m in (LSTM(IN, HID, proj_size=2, device=device, dtype=dtype), GRU(IN, HID, device=device, dtype=dtype)):
        x = gk.tensor(_data(3, N, IN, dtype=dtype), device=device, requires_grad=True)
        y, _ = m(x)
        y.sum().backward()
        assert x.grad.dtype == dtype and all(p.grad.dtype == dtype for p in m.parameters())


def test_hooks_on_weights_and_outputs(device):
    m = LSTM(IN, HID, device=device, dtype="float64")
    x = _gk(_data(3, N, IN), device)
    seen = []
    m.weight_hh_l0.register_hook(lambda g: seen.append("w") or g * 0.0)
    y, (h, c) = m(x)
    y.register_hook(lambda g: seen.append("y") or g * 0.0)
    c.register_hook(lambda g: seen.append("c") or g * 0.0)
    (y.sum() + c.sum()).backward()
    assert sorted(seen) == ["c", "w", "y"]
    assert not m.weight_hh_l0.grad.numpy().any() and not x.grad.numpy().any()


def test_checkpoint_around_an_lstm_gives_the_plain_gradients(device):
    m = LSTM(IN, HID, 2, dropout=0.5, device=device, dtype="float64")
    grads = []
    for wrap in (False, True):
        x = _gk(_data(3, N, IN), device)
        gk.manual_seed(3)
        y = checkpoint(lambda a: m(a)[0], x) if wrap else m(x)[0]
        (y * y).sum().backward()
        grads.append([x.grad.numpy(), *(p.grad.numpy() for p in m.parameters())])
        m.zero_grad()
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_anomaly_mode_names_the_fused_node(device):
    m = GRU(IN, HID, device=device, dtype="float64")
    with gk.no_grad():
        m.weight_hh_l0[0, 0] = float("inf")
    with gk.autograd.detect_anomaly(), np.errstate(invalid="ignore"):
        y, _ = m(_gk(_data(3, N, IN), device))
        with pytest.raises(gk.AutogradError, match="FusedRecurrence"):
            y.sum().backward()


def test_the_node_frees_its_arrays_after_backward_unless_retained(device):
    m = LSTM(IN, HID, device=device, dtype="float64")
    y, _ = m(_gk(_data(3, N, IN), device))
    node = y.grad_fn.next[0]  # y's selector node, then the function's node
    assert node.name == "FusedRecurrence"
    ctx = weakref.ref(node.saved[0].ctx)
    y.sum().backward(retain_graph=True)
    assert ctx() is not None
    y.sum().backward()
    gc.collect()
    assert ctx() is None


def test_first_order_backward_reads_nothing_on_the_host(device, monkeypatch):
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("counts the emulated CuPy's host reads (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    x = gk.tensor(_data(3, N, IN), device=device, requires_grad=True)
    layers = (LSTM(IN, HID, proj_size=2, bidirectional=True, device=device, dtype="float64"),
              GRU(IN, HID, device=device, dtype="float64"), RNN(IN, HID, device=device, dtype="float64"))
    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    for m in layers:
        y, state = m(x)
        h = state[0] if isinstance(state, tuple) else state
        ((y * y).sum() + h.sum()).backward()
