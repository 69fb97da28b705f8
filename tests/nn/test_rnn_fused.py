"""The fused recurrence (``gradkit.nn._recurrence.FusedRecurrence``: one node per layer and direction, raw-array
forward and backward) against the composed one (gradkit operations per step): the same outputs and gradients
for every layer option, first and second order; central differences of the node itself, first and second
order; one node per layer and direction; PyTorch's gradients."""

from __future__ import annotations

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.autograd import function as autograd_function
from gradkit.nn import _recurrence
from gradkit.nn._recurrence import FusedRecurrence
from gradkit.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")  # PyTorch's

LAYERS = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU, "RNNCell": RNNCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}
IN, HID, T, N = 3, 4, 5, 2


def _inputs(name: str, kw: dict, batched: bool, with_hx: bool, device: str) -> tuple:
    """(x, hx, leaves) for a layer or cell ``name`` built with ``kw``."""
    cell = name.endswith("Cell")
    if cell:
        shape = (N, IN) if batched else (IN,)
        lead = (N,) if batched else ()
    else:
        shape = ((N, T, IN) if kw.get("batch_first") else (T, N, IN)) if batched else (T, IN)
        layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
        lead = (layers, N) if batched else (layers,)
    x = _gk(_data(*shape), device)
    leaves = [x]
    hx = None
    if with_hx:
        h0 = _gk(_data(*lead, kw.get("proj_size") or HID, seed=1), device)
        leaves.append(h0)
        hx = h0
        if name.startswith("LSTM"):
            c0 = _gk(_data(*lead, HID, seed=2), device)
            leaves.append(c0)
            hx = (h0, c0)
    return x, hx, leaves


def _results(out) -> list:
    """The tensors of a layer's or cell's result, in order."""
    if isinstance(out, gk.Tensor):
        return [out]
    first, rest = out  # (output, h_n), (output, (h_n, c_n)) or an LSTMCell's (h, c)
    return [first, *rest] if isinstance(rest, tuple) else [first, rest]


def _run(m, x, hx, leaves, fused: bool, monkeypatch, which=None, seed=None) -> tuple:
    """Outputs and the gradients of the leaves and parameters of ``sum(out_k * u_k)`` over the outputs
    ``which`` selects (all by default), on the fused or the composed path."""
    with monkeypatch.context() as patch:
        patch.setattr(_recurrence, "FUSED", fused)
        for t in (*leaves, *m.parameters()):
            t.grad = None
        if seed is not None:
            gk.manual_seed(seed)
        outs = _results(m(x) if hx is None else m(x, hx))
        chosen = range(len(outs)) if which is None else which
        loss = sum((outs[k] * gk.tensor(_data(*outs[k].shape, seed=10 + k), device=x.device)).sum()
                   for k in chosen)
        loss.backward()
        grads = [None if t.grad is None else t.grad.numpy() for t in (*leaves, *m.parameters())]
    return [o.numpy() for o in outs], grads


CASES = [
    ("RNN", {}, True, False),
    ("RNN", {"nonlinearity": "relu", "bias": False, "num_layers": 2}, True, True),
    ("RNN", {"bidirectional": True, "batch_first": True}, True, True),
    ("RNN", {"num_layers": 2}, False, True),
    ("LSTM", {}, True, False),
    ("LSTM", {"num_layers": 2, "bidirectional": True}, True, True),
    ("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True}, True, True),
    ("LSTM", {"proj_size": 3, "batch_first": True}, False, False),
    ("LSTM", {"bias": False, "batch_first": True}, True, True),
    ("GRU", {}, True, False),
    ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}, True, True),
    ("GRU", {"bias": False}, False, True),
    ("RNNCell", {}, True, True),
    ("RNNCell", {"nonlinearity": "relu", "bias": False}, False, True),
    ("LSTMCell", {}, True, True),
    ("LSTMCell", {}, False, False),
    ("GRUCell", {}, True, True),
    ("GRUCell", {"bias": False}, False, False),
]


@pytest.mark.parametrize(("name", "kw", "batched", "with_hx"), CASES)
def test_fused_gives_the_composed_outputs_and_gradients(device, monkeypatch, name, kw, batched, with_hx):
    gk.manual_seed(0)
    m = LAYERS[name](IN, HID, **kw, device=device, dtype="float64")
    x, hx, leaves = _inputs(name, kw, batched, with_hx, device)
    fused_outs, fused_grads = _run(m, x, hx, leaves, True, monkeypatch)
    outs, grads = _run(m, x, hx, leaves, False, monkeypatch)
    for a, b in zip(fused_outs, outs, strict=True):
        np.testing.assert_array_equal(a, b)  # the same operations in the same order
    for a, b in zip(fused_grads, grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("which", [(0,), (1,), (2,)], ids=["output", "h_n", "c_n"])
def test_gradients_of_each_result_alone(device, monkeypatch, name, which):
    """Outputs that get no gradient: the recurrence starts from the others (no output gradient, or no final
    state's)."""
    if which == (2,) and name != "LSTM":
        pytest.skip("c_n is an LSTM's")
    gk.manual_seed(0)
    m = LAYERS[name](IN, HID, bidirectional=True, device=device, dtype="float64")
    x, hx, leaves = _inputs(name, {"bidirectional": True}, True, True, device)
    _, fused = _run(m, x, hx, leaves, True, monkeypatch, which)
    _, composed = _run(m, x, hx, leaves, False, monkeypatch, which)
    for a, b in zip(fused, composed, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_dropout_between_layers_draws_as_the_composed_path(device, monkeypatch):
    gk.manual_seed(0)
    m = LSTM(IN, HID, 3, dropout=0.4, bidirectional=True, device=device, dtype="float64")
    x, hx, leaves = _inputs("LSTM", {"num_layers": 3, "bidirectional": True}, True, True, device)
    fused = _run(m, x, hx, leaves, True, monkeypatch, seed=5)
    composed = _run(m, x, hx, leaves, False, monkeypatch, seed=5)
    for a, b in zip(fused[0] + fused[1], composed[0] + composed[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("name", "kw"), [("LSTM", {"proj_size": 2, "bidirectional": True}),
                                          ("GRU", {"bidirectional": True}), ("RNN", {"nonlinearity": "relu"}),
                                          ("LSTMCell", {}), ("GRUCell", {})])
def test_second_order_matches_the_composed_path(device, monkeypatch, name, kw):
    gk.manual_seed(0)
    m = LAYERS[name](IN, HID, **kw, device=device, dtype="float64")
    x, hx, leaves = _inputs(name, kw, True, True, device)
    params = [*leaves, *m.parameters()]
    results = []
    for fused in (True, False):
        with monkeypatch.context() as patch:
            patch.setattr(_recurrence, "FUSED", fused)
            outs = _results(m(x, hx))
            loss = sum(((o ** 3) * gk.tensor(_data(*o.shape, seed=3 + k), device=device)).sum()
                       for k, o in enumerate(outs))
            grads = gk.autograd.grad(loss, params, create_graph=True)
            results.append([g.numpy() for g in grads]
                           + [g.numpy() for g in gk.autograd.grad(sum((g * g).sum() for g in grads), params)])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


# ------------------------------------------------------------------ the node itself, by central differences
def _node_inputs(mode: str, reverse: bool, device: str, cell: bool = False) -> tuple:
    gates = _recurrence.GATES[mode]
    proj = 2 if mode == "LSTM" and not reverse else 0
    hid = 3 if proj else 2  # a projection needs proj < hid; without one, 2 units take the same paths (and time)
    out = proj or hid
    lead = (2,) if cell else (3, 2)
    xg = _gk(_data(*lead, gates * hid), device)
    h0 = _gk(_data(2, out, seed=1), device)
    c0 = _gk(_data(2, hid, seed=2), device) if mode == "LSTM" else None
    w_hh = _gk(_data(gates * hid, out, seed=3) * 0.7, device)
    b_hh = _gk(_data(gates * hid, seed=4), device)
    w_hr = _gk(_data(proj, hid, seed=5), device) if proj else None
    return xg, h0, c0, w_hh, b_hh, w_hr


@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_gradcheck_the_node_first_and_second_order(device, mode, reverse):
    xg, h0, c0, w_hh, b_hh, w_hr = _node_inputs(mode, reverse, device)
    if mode == "RNN_RELU":  # keep the pre-activations away from the kink at 0
        xg = _gk(xg.numpy() + 3.0, device)

    def f(*args):
        a = dict(zip(("xg", "h0", "c0", "w_hh", "b_hh", "w_hr"), args, strict=True))
        return FusedRecurrence.apply(a["xg"], a["h0"], a["c0"], a["w_hh"], a["b_hh"], a["w_hr"], mode, reverse)

    inputs = (xg, h0, c0, w_hh, b_hh, w_hr)
    assert gk.gradcheck(f, inputs)
    live = [t for t in inputs if t is not None]

    recorded = []  # gradcheck's first call (its analytic pass) records the graph; its central differences need
    # only values, which the fused backward gives (the composed path's agree, tested above) far faster

    def first(*args):
        full = list(args)
        for k, t in enumerate(inputs):
            if t is None:
                full.insert(k, None)
        outs = f(*full)
        loss = sum((o * o * o).sum() for o in outs)
        grads = gk.autograd.grad(loss, list(args), create_graph=not recorded)
        recorded.append(True)
        return grads

    assert gk.gradcheck(first, live)


@pytest.mark.parametrize("mode", ["RNN_TANH", "LSTM", "GRU"])
def test_gradcheck_a_cell_step(device, mode):
    inputs = _node_inputs(mode, True, device, cell=True)
    live = [k for k, t in enumerate(inputs) if t is not None]

    def f(*args):
        full = list(inputs)
        for k, t in zip(live, args, strict=True):
            full[k] = t
        return FusedRecurrence.apply(*full, mode, False)

    assert gk.gradcheck(f, [inputs[k] for k in live])

    recorded = []  # as above: only gradcheck's analytic pass records the graph

    def first(*args):
        outs = f(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        grads = gk.autograd.grad(sum((o ** 3).sum() for o in outs), list(args), create_graph=not recorded)
        recorded.append(True)
        return grads

    assert gk.gradcheck(first, [inputs[k] for k in live])


# ------------------------------------------------------------------ the graph
def _recorded(fn) -> list:
    names = []

    def watch(node, out):
        names.append(node.name)

    autograd_function.add_observer(watch)
    try:
        fn()
    finally:
        autograd_function.remove_observer(watch)
    return names


def test_one_node_per_layer_and_direction_whatever_the_length(device):
    m = LSTM(IN, HID, 2, bidirectional=True, device=device, dtype="float64")
    counts = []
    for steps in (3, 12):
        x = _gk(_data(steps, N, IN), device)
        names = _recorded(lambda x=x: m(x))
        assert names.count("FusedRecurrence") == 4
        counts.append(len(names))
    assert counts[0] == counts[1], counts


def test_one_tensor_as_both_states_gets_both_gradients(device, monkeypatch):
    """LSTM(x, (s, s)): the create_graph path takes each argument's gradient apart (an alias per argument)."""
    m = LSTM(IN, HID, device=device, dtype="float64")
    x = _gk(_data(T, N, IN), device)
    results = []
    for fused in (True, False):
        with monkeypatch.context() as patch:
            patch.setattr(_recurrence, "FUSED", fused)
            s = _gk(_data(1, N, HID, seed=1), device)
            y, (h, c) = m(x, (s, s))
            (gs,) = gk.autograd.grad((y ** 2).sum() + (c ** 2).sum(), (s,), create_graph=True)
            (gss,) = gk.autograd.grad((gs ** 2).sum(), (s,))
            results.append((gs.numpy(), gss.numpy()))
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_retain_graph_runs_the_node_twice(device):
    m = GRU(IN, HID, 2, device=device, dtype="float64")
    x = _gk(_data(T, N, IN), device)
    y, h = m(x)
    loss = (y ** 2).sum() + h.sum()
    loss.backward(retain_graph=True)
    first = [p.grad.numpy().copy() for p in m.parameters()]
    loss.backward()
    for p, g in zip(m.parameters(), first, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), 2 * g, rtol=1e-12)


def test_a_weight_changed_in_place_after_the_forward_pass_is_refused(device):
    m = LSTM(IN, HID, device=device, dtype="float64")
    y, _ = m(_gk(_data(T, N, IN), device))
    with gk.no_grad():
        m.weight_hh_l0.mul_(2.0)
    with pytest.raises(gk.AutogradError, match="modified in place"):
        y.sum().backward()


def test_outputs_do_not_share_memory_with_what_backward_reads(device):
    """Changing the outputs in place after the forward pass leaves the gradients as they were."""
    m = LSTM(IN, HID, 2, bidirectional=True, device=device, dtype="float64")
    x = _gk(_data(T, N, IN), device)
    grads = []
    for change in (False, True):
        for t in (x, *m.parameters()):
            t.grad = None
        y, (h, c) = m(x)
        loss = (y * 2.0).sum() + (h * 3.0).sum() + (c * 4.0).sum()  # products by numbers save nothing
        if change:
            with gk.no_grad():
                for out in (y, h, c):
                    out.mul_(0.0)
        loss.backward()
        grads.append([t.grad.numpy() for t in (x, *m.parameters())])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_array_equal(a, b)


def test_no_grad_forward_records_nothing(device):
    m = GRU(IN, HID, 2, bidirectional=True, device=device)
    x = gk.tensor(_data(T, N, IN, dtype="float32"), device=device)
    with_grad = m(x)
    with gk.no_grad():
        names = _recorded(lambda: m(x))
        y, h = m(x)
    assert names == [] and not y.requires_grad and not h.requires_grad
    np.testing.assert_array_equal(y.numpy(), with_grad[0].numpy())


# ------------------------------------------------------------------ PyTorch's gradients
@pytest.mark.parametrize(("name", "kw"), [("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True}),
                                          ("GRU", {"num_layers": 2, "bidirectional": True}),
                                          ("RNN", {"nonlinearity": "relu", "bidirectional": True})])
def test_float32_gradients_match_pytorch(device, name, kw):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(IN, HID, **kw)
    g = LAYERS[name](IN, HID, **kw, device=device)
    g.load_state_dict(t.state_dict())
    x = _data(T, N, IN, dtype="float32")
    tx, gx = torch.tensor(x, requires_grad=True), gk.tensor(x, device=device, requires_grad=True)
    touts, gouts = t(tx), g(gx)
    tres = [touts[0], *touts[1]] if name == "LSTM" else list(touts)
    gres = _results(gouts)
    us = [_data(*o.shape, seed=20 + k, dtype="float32") for k, o in enumerate(gres)]
    sum((o * torch.tensor(u)).sum() for o, u in zip(tres, us, strict=True)).backward()
    sum((o * gk.tensor(u, device=device)).sum() for o, u in zip(gres, us, strict=True)).backward()
    for a, b in zip(gres, tres, strict=True):
        _close(a, b, 1e-5)
    _close(gx.grad, tx.grad, 1e-5)
    tparams = dict(t.named_parameters())
    for key, p in g.named_parameters():
        _close(p.grad, tparams[key].grad, 1e-4)


def test_second_order_of_a_gru_cell_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t = torch.nn.GRUCell(IN, HID).double()
    g = GRUCell(IN, HID, device=device, dtype="float64")
    g.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    x, h = _data(N, IN), _data(N, HID, seed=1)
    results = []
    for lib, m, xx, hh in ((torch.autograd, t, torch.tensor(x, requires_grad=True),
                            torch.tensor(h, requires_grad=True)),
                           (gk.autograd, g, _gk(x, device), _gk(h, device))):
        out = m(xx, hh)
        params = [xx, hh, *m.parameters()]
        grads = lib.grad((out ** 3).sum(), params, create_graph=True)
        results.append(lib.grad(sum((d * d).sum() for d in grads), params))
    for ours, theirs in zip(results[1], results[0], strict=True):
        _close(ours, theirs, 1e-9)


def test_second_order_reads_nothing_on_the_host(device, monkeypatch):
    refuse_host_reads(device, monkeypatch)
    x = gk.tensor(_data(T, N, IN), device=device, requires_grad=True)
    for m in (LSTM(IN, HID, proj_size=2, bidirectional=True, device=device, dtype="float64"),
              GRU(IN, HID, device=device, dtype="float64"), RNN(IN, HID, device=device, dtype="float64")):
        outs = _results(m(x))
        (gx,) = gk.autograd.grad(sum((o * o).sum() for o in outs), (x,), create_graph=True)
        (gx * gx).sum().backward()
