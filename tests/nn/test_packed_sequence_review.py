"""Review of packed sequences: edge-case batches against PyTorch (ties, all lengths 1, one sequence, equal lengths,
device lengths, hand-made PackedSequences), an Embedding -> pack -> LSTM -> pad -> Linear model, dropout between
layers on packed data, central differences of the parameters (first and second order), pickling, and the errors
for malformed packed batches and for cells given one."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data

import gradkit as gk
from gradkit.nn import _recurrence
from gradkit.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from gradkit.nn.utils import rnn as U

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")  # PyTorch's

LAYERS = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}


def _pair(torch, name: str, kw: dict, device: str, size: int = 3, hidden: int = 4) -> tuple:
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(size, hidden, **kw).double()
    g = LAYERS[name](size, hidden, **kw, device=device, dtype="float64")
    g.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    return t, g


@pytest.mark.parametrize(("name", "kw", "lengths"), [
    ("LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 2}, [3, 5, 3, 1, 5, 3]),  # ties, unsorted
    ("GRU", {"num_layers": 2, "bidirectional": True}, [1, 1, 1]),
    ("RNN", {"bidirectional": True}, [4]),
    ("GRU", {"bidirectional": True, "batch_first": True}, [4, 4, 4]),  # batch_first: ignored on packed input
])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
def test_edge_batches_match_pytorch(device, monkeypatch, name, kw, lengths, fused):
    """Unpacked outputs, h_n (original order), and the gradients of the input, hx and parameters; the padding
    positions get no gradient. Lengths given as an int32 tensor on the data's device."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(_recurrence, "FUSED", fused)
    t, g = _pair(torch, name, kw, device)
    batch, steps = len(lengths), max(lengths) + 1  # one step more than the longest: all padding
    layers = kw.get("num_layers", 1) * 2
    x = _data(steps, batch, 3)
    states = [_data(layers, batch, kw.get("proj_size") or 4, seed=1)] + ([_data(layers, batch, 4, seed=2)]
                                                                         if name == "LSTM" else [])
    leaves_t = [torch.tensor(a, requires_grad=True) for a in (x, *states)]
    leaves_g = [_gk(a, device) for a in (x, *states)]
    results = []
    for lib, m, leaves, lens in ((torch, t, leaves_t, torch.tensor(lengths)),
                                 (gk, g, leaves_g, gk.tensor(np.array(lengths, np.int32), device=device))):
        rnn = lib.nn.utils.rnn
        hx = tuple(leaves[1:]) if name == "LSTM" else leaves[1]
        out, state = m(rnn.pack_padded_sequence(leaves[0], lens, enforce_sorted=False), hx)
        padded, out_lengths = rnn.pad_packed_sequence(out, total_length=steps)
        res = [padded, *(state if name == "LSTM" else (state,))]
        sum((r * lib.tensor(_data(*r.shape, seed=10 + k))).sum() if lib is torch else
            (r * gk.tensor(_data(*r.shape, seed=10 + k), device=device)).sum() for k, r in enumerate(res)).backward()
        results.append((res, out_lengths))
    (res_t, len_t), (res_g, len_g) = results
    assert len_g.numpy().tolist() == len_t.numpy().tolist() == lengths
    for a, b in zip(res_g, res_t, strict=True):
        _close(a, b)
    for a, b in zip(leaves_g, leaves_t, strict=True):
        _close(a.grad, b.grad)
    tparams = dict(t.named_parameters())
    for key, p in g.named_parameters():
        _close(p.grad, tparams[key].grad)
    for b, n in enumerate(lengths):
        assert not leaves_g[0].grad.numpy()[n:, b].any()


def test_hand_made_packed_sequences_match_pytorch(device):
    torch = pytest.importorskip("torch")
    t, g = _pair(torch, "GRU", {}, device, size=2)
    data, sizes = _data(6, 2), [3, 2, 1]
    for indices in (None, [1, 2, 0]):
        ti = None if indices is None else torch.tensor(indices)
        gi = None if indices is None else gk.tensor(indices, device=device)
        out_t, h_t = t(torch.nn.utils.rnn.PackedSequence(torch.tensor(data), torch.tensor(sizes), ti))
        for bs in (sizes, np.array(sizes, np.int32), gk.tensor(sizes, device="cpu")):
            packed = U.PackedSequence(_gk(data, device), bs, gi) if gi is not None else \
                U.PackedSequence((_gk(data, device), bs))
            out_g, h_g = g(packed)
            _close(out_g.data, out_t.data)
            _close(h_g, h_t)
        padded_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_t, padding_value=2.5)
        _close(U.pad_packed_sequence(out_g, padding_value=2.5)[0], padded_t)


def test_embedding_pack_lstm_pad_linear_matches_pytorch(device):
    """The usual NLP model; its last valid step gathered with the lengths."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    mods_t = (torch.nn.Embedding(7, 3).double(), torch.nn.LSTM(3, 4, 2, bidirectional=True).double(),
              torch.nn.Linear(8, 2).double())
    mods_g = (gk.nn.Embedding(7, 3, device=device, dtype="float64"),
              LSTM(3, 4, 2, bidirectional=True, device=device, dtype="float64"),
              gk.nn.Linear(8, 2, device=device, dtype="float64"))
    for g, t in zip(mods_g, mods_t, strict=True):
        g.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    tokens = np.random.default_rng(1).integers(0, 7, (5, 4))
    lengths = [3, 5, 3, 1]
    results = []
    for lib, (emb, lstm, lin), dev in ((torch, mods_t, None), (gk, mods_g, device)):
        kw = {} if lib is torch else {"device": dev}
        rnn = lib.nn.utils.rnn
        packed = rnn.pack_padded_sequence(emb(lib.tensor(tokens, **kw)), lib.tensor(lengths), enforce_sorted=False)
        out, (h, _) = lstm(packed)
        padded, out_lengths = rnn.pad_packed_sequence(out)
        last = padded[lib.tensor(out_lengths.numpy() - 1, **kw), lib.arange(4, **kw)]
        z = lin(last)
        ((z ** 2).sum() + (h ** 2).sum()).backward()
        results.append((z, emb.weight.grad, lstm.weight_hh_l1_reverse.grad, lin.weight.grad))
    for a, b in zip(results[1], results[0], strict=True):
        _close(a, b)


def test_parameters_by_central_differences(device):
    """Directional central differences of a packed-batch loss and of its gradients' squared norm."""
    m = LSTM(2, 3, 2, bidirectional=True, proj_size=2, device=device, dtype="float64")
    packed = U.pack_padded_sequence(_gk(_data(4, 3, 2), device), [4, 1, 3], enforce_sorted=False)
    params = list(m.parameters())

    def loss():
        out, (h, c) = m(packed)
        return (out.data ** 3).sum() + (h ** 2).sum() + (c ** 2).sum()

    def grad_norm():
        return sum((g ** 2).sum() for g in gk.autograd.grad(loss(), params, create_graph=True))

    rng = np.random.default_rng(5)
    dirs = [rng.standard_normal(p.shape) for p in params]
    saved = [p.numpy() for p in params]

    def at(f, step):
        with gk.no_grad():
            for p, s, u in zip(params, saved, dirs, strict=True):
                p.copy_(gk.tensor(s + step * u, device=device))
        return float(f().numpy())

    for f in (loss, grad_norm):
        analytic = sum(float((g.numpy() * u).sum()) for g, u in zip(gk.autograd.grad(f(), params), dirs, strict=True))
        numeric = (at(f, 1e-5) - at(f, -1e-5)) / 2e-5
        at(f, 0.0)
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(numeric))


def test_dropout_between_layers_on_packed_data(device, monkeypatch):
    packed = U.pack_padded_sequence(_gk(_data(6, 4, 3), device), [6, 5, 2, 1])
    m = LSTM(3, 50, 3, device=device, dtype="float64")  # dropout 0: training changes nothing
    out_train, _ = m(packed)
    out_eval, _ = m.eval()(packed)
    np.testing.assert_array_equal(out_train.data.numpy(), out_eval.data.numpy())
    m = LSTM(3, 50, 2, dropout=0.5, device=device, dtype="float64")
    seen = []
    dropout = gk.nn.functional.dropout

    def spy(x, p, training):
        y = dropout(x, p, training)
        seen.append((x.numpy(), y.numpy()))
        return y

    monkeypatch.setattr("gradkit.nn.rnn.F.dropout", spy)
    m(packed)
    ((x, y),) = seen
    assert x.shape == (14, 50)  # the packed rows only
    kept = y != 0
    np.testing.assert_allclose(y[kept], 2 * x[kept])
    assert 0.4 < 1 - kept.mean() < 0.6


def test_sequences_with_trailing_dims_round_trip(device):
    torch = pytest.importorskip("torch")
    seqs = [_data(n, 3, 4, seed=n) for n in (2, 5, 1, 5)]
    packed = U.pack_sequence([_gk(s, device) for s in seqs], enforce_sorted=False)
    tpacked = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    _close(packed.data, tpacked.data)
    for batch_first in (False, True):
        padded, lengths = U.pad_packed_sequence(packed, batch_first, -7.5, 8)
        tpadded, _ = torch.nn.utils.rnn.pad_packed_sequence(tpacked, batch_first, -7.5, 8)
        _close(padded, tpadded)
        for s, u in zip(seqs, U.unpad_sequence(padded, lengths, batch_first), strict=True):
            _close(u, s)
    for s, u in zip(seqs, U.unpack_sequence(packed), strict=True):
        _close(u, s)
    for q in (pickle.loads(pickle.dumps(packed)), copy.deepcopy(packed)):
        assert type(q) is U.PackedSequence
        for a, b in zip(q, packed, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_errors(device):
    packed = U.pack_sequence([gk.zeros(3, 2, device=device), gk.zeros(1, 2, device=device)])
    for cell in (RNNCell, LSTMCell, GRUCell):
        with pytest.raises(gk.ArgumentTypeError, match=f"{cell.__name__}: input must be a Tensor, got a "
                                                       "PackedSequence; a cell runs one time step"):
            cell(2, 3, device=device)(packed)
    with pytest.raises(gk.DTypeError) as info:
        GRU(2, 3, device=device, dtype="float64")(packed)
    assert "the the" not in str(info.value) and str(info.value).startswith("GRU: PackedSequence's data has dtype")
    data = gk.zeros(4, 2, device=device)
    with pytest.raises(gk.ShapeError, match=r"sorted_indices has shape \(3,\), expected \(2,\)"):
        GRU(2, 3, device=device)(U.PackedSequence(data, [2, 1, 1], gk.tensor([1, 0, 2], device=device)))
    with pytest.raises(gk.ShapeError, match=r"sorted_indices has shape \(3,\), expected \(2,\)"):
        U.pad_packed_sequence(U.PackedSequence(data, [2, 1, 1], gk.tensor([1, 0, 2], device=device)))
    with pytest.raises(gk.DTypeError, match="sorted_indices must be a 1-D tensor of integers"):
        U.PackedSequence(data, [2, 1, 1], gk.tensor([1.0, 0.0], device=device))
    if device == "cuda":
        with pytest.raises(gk.DeviceError, match="pass a list or batch_sizes.to\\('cpu'\\)"):
            U.PackedSequence(data, gk.tensor([2, 1, 1], device=device))
