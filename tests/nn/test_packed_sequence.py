"""PyTorch's packed sequences (``gk.nn.utils.rnn``: ``PackedSequence``, ``pack_padded_sequence``,
``pad_packed_sequence``, ``pack_sequence``, ``unpack_sequence``, ``unpad_sequence``) and RNN/LSTM/GRU on them:
PyTorch's results and gradients (float64), central differences of the fused node on a packed batch (first and
second order), the fused and composed paths alike, PyTorch's errors, no host reads in the layers."""

from __future__ import annotations

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn import _recurrence
from gradkit.nn._recurrence import FusedRecurrence
from gradkit.nn.rnn import GRU, LSTM, RNN
from gradkit.nn.utils import rnn as U

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")  # PyTorch's

LAYERS = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
IN, HID = 3, 4
LENGTHS = [2, 5, 1, 4]  # unsorted, T = 5
SORTED = [5, 4, 2, 1]


def _torch_layer(torch, name: str, kw: dict):
    torch.manual_seed(0)
    return getattr(torch.nn, name)(IN, HID, **kw).double()


def _copy(g, t) -> None:
    g.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})


def _run(lib, m, x, lengths, hx, batch_first: bool, enforce_sorted: bool, name: str) -> tuple:
    """Pack, run, unpack; the loss weighs every result with fixed random values. (results, lengths)."""
    rnn = lib.nn.utils.rnn
    packed = rnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    out, state = m(packed) if hx is None else m(packed, hx)
    padded, out_lengths = rnn.pad_packed_sequence(out, batch_first=batch_first)
    results = [padded, *(state if name == "LSTM" else (state,))]
    return results, out_lengths, out


CASES = [
    ("RNN", {}, False, True, False),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}, True, False, True),
    ("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True}, False, False, True),
    ("LSTM", {"bias": False, "batch_first": True}, True, True, False),
    ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}, True, False, True),
    ("GRU", {}, False, True, True),
]


@pytest.mark.parametrize(("name", "kw", "_", "enforce_sorted", "with_hx"), CASES)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
def test_layers_match_pytorch(device, monkeypatch, name, kw, _, enforce_sorted, with_hx, fused):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(_recurrence, "FUSED", fused)
    t = _torch_layer(torch, name, kw)
    g = LAYERS[name](IN, HID, **kw, device=device, dtype="float64")
    _copy(g, t)
    lengths = SORTED if enforce_sorted else LENGTHS
    batch_first = kw.get("batch_first", False)
    x = _data(*((4, 5) if batch_first else (5, 4)), IN)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    hx_t = hx_g = None
    leaves_t, leaves_g = [torch.tensor(x, requires_grad=True)], [_gk(x, device)]
    if with_hx:
        states = [_data(layers, 4, kw.get("proj_size") or HID, seed=1)]
        if name == "LSTM":
            states.append(_data(layers, 4, HID, seed=2))
        leaves_t += [torch.tensor(s, requires_grad=True) for s in states]
        leaves_g += [_gk(s, device) for s in states]
        hx_t = tuple(leaves_t[1:]) if name == "LSTM" else leaves_t[1]
        hx_g = tuple(leaves_g[1:]) if name == "LSTM" else leaves_g[1]
    res_t, len_t, out_t = _run(torch, t, leaves_t[0], torch.tensor(lengths), hx_t, batch_first, enforce_sorted, name)
    res_g, len_g, out_g = _run(gk, g, leaves_g[0], lengths, hx_g, batch_first, enforce_sorted, name)
    assert isinstance(out_g, U.PackedSequence)
    _close(out_g.data, out_t.data)
    assert out_g.batch_sizes.device == "cpu" and out_g.batch_sizes.dtype == np.int64
    np.testing.assert_array_equal(out_g.batch_sizes.numpy(), out_t.batch_sizes.numpy())
    np.testing.assert_array_equal(len_g.numpy(), len_t.numpy())
    us = [_data(*r.shape, seed=10 + k) for k, r in enumerate(res_g)]
    sum((r * torch.tensor(u)).sum() for r, u in zip(res_t, us, strict=True)).backward()
    sum((r * gk.tensor(u, device=device)).sum() for r, u in zip(res_g, us, strict=True)).backward()
    for a, b in zip(res_g, res_t, strict=True):
        _close(a, b)
    for a, b in zip(leaves_g, leaves_t, strict=True):
        _close(a.grad, b.grad)
    tparams = dict(t.named_parameters())
    for key, p in g.named_parameters():
        _close(p.grad, tparams[key].grad)


def test_second_order_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    kw = {"proj_size": 2, "bidirectional": True}
    t = _torch_layer(torch, "LSTM", kw)
    g = LSTM(IN, HID, **kw, device=device, dtype="float64")
    _copy(g, t)
    x = _data(5, 4, IN)
    results = []
    for lib, m, xx in ((torch, t, torch.tensor(x, requires_grad=True)), (gk, g, _gk(x, device))):
        packed = lib.nn.utils.rnn.pack_padded_sequence(xx, LENGTHS, enforce_sorted=False)
        out, (h, c) = m(packed)
        params = [xx, *m.parameters()]
        loss = (out.data ** 3).sum() + (h * h).sum() + (c ** 3).sum()
        grads = lib.autograd.grad(loss, params, create_graph=True)
        results.append(lib.autograd.grad(sum((d * d).sum() for d in grads), params))
    for ours, theirs in zip(results[1], results[0], strict=True):
        _close(ours, theirs, 1e-9)


# ------------------------------------------------------------------ the node on a packed batch, by central differences
@pytest.mark.parametrize("mode", ["RNN_TANH", "LSTM", "GRU"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_gradcheck_the_packed_node(device, mode, reverse):
    sizes = (3, 2, 2, 1)
    gates = _recurrence.GATES[mode]
    proj = 2 if mode == "LSTM" and reverse else 0
    hid = 3 if proj else 2  # a projection needs proj < hid; without one, 2 units take the same paths (and time)
    out = proj or hid
    inputs = [_gk(_data(sum(sizes), gates * hid), device), _gk(_data(3, out, seed=1), device),
              _gk(_data(3, hid, seed=2), device) if mode == "LSTM" else None,
              _gk(_data(gates * hid, out, seed=3) * 0.7, device), _gk(_data(gates * hid, seed=4), device),
              _gk(_data(proj, hid, seed=5), device) if proj else None]
    live = [k for k, t in enumerate(inputs) if t is not None]

    def f(*args):
        full = list(inputs)
        for k, t in zip(live, args, strict=True):
            full[k] = t
        return FusedRecurrence.apply(*full, mode, reverse, sizes)

    args = [inputs[k] for k in live]
    assert gk.gradcheck(f, args)

    recorded = []  # gradcheck's first call (its analytic pass) records the graph; its central differences need
    # only values, which the fused backward gives (the composed path's agree, tested apart) far faster

    def first(*args):
        loss = sum((o * o * o).sum() for o in f(*args))
        grads = gk.autograd.grad(loss, list(args), create_graph=not recorded)
        recorded.append(True)
        return grads

    assert gk.gradcheck(first, args)


def test_the_padded_path_is_unchanged_by_full_batch_sizes(device):
    """A packed batch whose sequences all have T steps gives the padded batch's results."""
    m = LSTM(IN, HID, bidirectional=True, proj_size=2, device=device, dtype="float64")
    x = _gk(_data(5, 3, IN), device)
    y, (h, c) = m(x)
    out, (hp, cp) = m(U.pack_padded_sequence(x, [5, 5, 5]))
    _close(out.data, y.numpy().reshape(15, -1))
    _close(hp, h.numpy())
    _close(cp, c.numpy())


def test_the_layers_read_nothing_on_the_host(device, monkeypatch):
    x = _gk(_data(5, 4, IN), device, grad=False)
    packed = U.pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    h0 = _gk(_data(2, 4, HID, seed=1), device)
    refuse_host_reads(device, monkeypatch)
    for m in (LSTM(IN, HID, bidirectional=True, device=device, dtype="float64"),
              GRU(IN, HID, bidirectional=True, device=device, dtype="float64")):
        out, state = m(packed, (h0, h0) if isinstance(m, LSTM) else h0)
        h = state[0] if isinstance(m, LSTM) else state
        ((out.data * out.data).sum() + h.sum()).backward()


# ------------------------------------------------------------------ the helpers
def test_packing_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    x = _data(4, 5, 2)  # batch first
    for lengths in ([2, 5, 1, 4], np.array(LENGTHS), gk.tensor(LENGTHS)):
        ours = U.pack_padded_sequence(_gk(x, device), lengths, batch_first=True, enforce_sorted=False)
        theirs = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.tensor(LENGTHS), batch_first=True,
                                                         enforce_sorted=False)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    padded, lengths = U.pad_packed_sequence(ours, batch_first=True, padding_value=-1.0, total_length=7)
    tpadded, _ = torch.nn.utils.rnn.pad_packed_sequence(theirs, batch_first=True, padding_value=-1.0,
                                                        total_length=7)
    _close(padded, tpadded)
    assert lengths.device == "cpu" and lengths.numpy().tolist() == LENGTHS
    seqs = [_gk(_data(n, 2, seed=n), device) for n in (3, 1, 2)]
    packed = U.pack_sequence(seqs, enforce_sorted=False)
    tpacked = torch.nn.utils.rnn.pack_sequence([torch.tensor(s.numpy()) for s in seqs], enforce_sorted=False)
    _close(packed.data, tpacked.data)
    for a, b in zip(U.unpack_sequence(packed), seqs, strict=True):
        _close(a, b.numpy())
    for a, b in zip(U.unpad_sequence(padded, lengths, batch_first=True), torch.nn.utils.rnn.unpad_sequence(
            tpadded, torch.tensor(LENGTHS), batch_first=True), strict=True):
        _close(a, b)


def test_packing_and_padding_are_differentiable(device):
    x = _gk(_data(5, 3, 2), device)

    def f(x):
        packed = U.pack_padded_sequence(x, [2, 5, 3], enforce_sorted=False)
        padded, _ = U.pad_packed_sequence(U.PackedSequence(packed.data ** 2, *packed[1:]), total_length=6)
        return padded

    assert gk.gradcheck(f, [x])
    assert gk.gradcheck(lambda x: gk.autograd.grad((f(x) ** 2).sum(), [x], create_graph=True)[0], [x])
    mask = np.zeros((5, 3, 2))
    for b, n in enumerate([2, 5, 3]):
        mask[:n, b] = 1
    f(x).sum().backward()
    _close(x.grad, 2 * x.numpy() * mask)


def test_packed_sequence_object(device):
    data = _gk(_data(4, 2), device)
    order = gk.tensor([2, 0, 1], device=device)
    p = U.PackedSequence(data, gk.tensor([3, 1], device="cpu"), order)
    assert p.unsorted_indices.numpy().tolist() == [1, 2, 0]
    assert U.PackedSequence((data, gk.tensor([3, 1], device="cpu"))).sorted_indices is None
    assert p.float().data.dtype == np.float32 and p.double() is p
    assert p.to("cpu").data.device == "cpu" and p.to("cpu").sorted_indices.device == "cpu"
    data_, batch_sizes, sorted_indices, unsorted_indices = p  # a named tuple
    assert batch_sizes.numpy().tolist() == [3, 1]
    if device == "cuda":
        with pytest.raises(gk.DeviceError, match="batch_sizes must be on the CPU"):
            U.PackedSequence(data, gk.tensor([3, 1], device="cuda"))


@pytest.mark.parametrize(("lengths", "kw", "match"), [
    ([1, 3], {}, "must be sorted in decreasing order when enforce_sorted=True"),
    ([3, 0], {"enforce_sorted": False}, "greater than 0"),
    ([3], {}, "len\\(lengths\\)"),
    ([4, 1], {}, "longer than the input's 3 steps"),
    ([2.0, 1.0], {}, "must be integers"),
    ([[2, 1]], {}, "1-D"),
])
def test_pack_padded_sequence_errors(lengths, kw, match):
    with pytest.raises(gk.GradkitError, match=match):
        U.pack_padded_sequence(gk.zeros(3, 2, 1), lengths, **kw)


def test_other_errors():
    packed = U.pack_sequence([gk.zeros(3, 1), gk.zeros(2, 1)])
    with pytest.raises(gk.GradkitError, match="total_length must be at least"):
        U.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(gk.GradkitError, match="greater than 0"):
        U.pack_sequence([gk.zeros(2, 1), gk.zeros(0, 1)])
    with pytest.raises(gk.GradkitError, match="expected a PackedSequence"):
        U.pad_packed_sequence((packed.data, packed.batch_sizes))
    with pytest.raises(gk.GradkitError, match="input_size=2"):
        LSTM(2, 3, dtype="float32")(packed)
    with pytest.raises(gk.GradkitError, match="h_0 has shape"):
        LSTM(1, 3, dtype="float32")(packed, (gk.zeros(1, 3, 3), gk.zeros(1, 2, 3)))
    with pytest.raises(gk.GradkitError, match="expected 2 lengths"):
        U.unpad_sequence(gk.zeros(3, 2), [3])
