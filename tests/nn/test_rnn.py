"""RNN, LSTM, GRU and their cells: PyTorch's outputs, states, gradients, parameter names, init and state
dicts; finite-difference checks of first and second order; a tiny sequence task trained as PyTorch; errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data

import gradkit as gk
from gradkit.nn import functional as F
from gradkit.nn.layers import Linear
from gradkit.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")  # PyTorch's

LAYERS = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU, "RNNCell": RNNCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}
IN, HID, T, N = 3, 4, 5, 2


def _pair(torch, name: str, device: str, *args, **kw):
    """A PyTorch layer in float64 and a gradkit one with its weights (loaded from its state dict)."""
    t = getattr(torch.nn, name)(*args, **kw).double()
    g = LAYERS[name](*args, **kw, dtype="float64", device=device)
    assert list(g.state_dict()) == list(t.state_dict())
    g.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    return t, g


def _states(out) -> list:
    """The tensors of an RNN's result: output, h_n (and c_n)."""
    y, h = out
    return [y, *h] if isinstance(h, tuple) else [y, h]


# ------------------------------------------------------------------ layers against PyTorch
LAYER_CASES = [
    ("RNN", {}, True),
    ("RNN", {"nonlinearity": "relu", "bias": False, "num_layers": 2}, True),
    ("RNN", {"bidirectional": True, "batch_first": True}, True),
    ("RNN", {"num_layers": 2, "nonlinearity": "relu"}, False),
    ("LSTM", {}, True),
    ("LSTM", {"num_layers": 2, "bidirectional": True}, True),
    ("LSTM", {"batch_first": True, "bias": False}, True),
    ("LSTM", {"num_layers": 2, "bidirectional": True}, False),
    ("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True}, True),
    ("LSTM", {"proj_size": 3, "batch_first": True}, False),
    ("GRU", {}, True),
    ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}, True),
    ("GRU", {"bias": False, "batch_first": True}, False),  # batch_first does not apply to an unbatched input
]


@pytest.mark.parametrize("with_hx", [False, True], ids=["no_hx", "hx"])
@pytest.mark.parametrize(("name", "kw", "batched"), LAYER_CASES)
def test_layers_match_pytorch(device, name, kw, batched, with_hx):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t, g = _pair(torch, name, device, IN, HID, **kw)
    shape = ((N, T, IN) if kw.get("batch_first") else (T, N, IN)) if batched else (T, IN)
    x = _data(*shape)
    tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    lead = (layers, N) if batched else (layers,)
    t_hx = g_hx = None
    leaves = [(tx, gx)]
    if with_hx:
        h0 = _data(*lead, kw.get("proj_size") or HID, seed=1)
        pairs = [(torch.tensor(h0, requires_grad=True), _gk(h0, device))]
        if name == "LSTM":
            c0 = _data(*lead, HID, seed=2)
            pairs.append((torch.tensor(c0, requires_grad=True), _gk(c0, device)))
        leaves += pairs
        t_hx, g_hx = ((pairs[0][0], pairs[1][0]), (pairs[0][1], pairs[1][1])) if name == "LSTM" else pairs[0]
    touts, gouts = _states(t(tx, t_hx)), _states(g(gx, g_hx))
    for a, b in zip(gouts, touts, strict=True):
        _close(a, b)
    # one backward of every result (output, h_n, c_n) with random cotangents
    us = [_data(*o.shape, seed=10 + i) for i, o in enumerate(touts)]
    sum(((o * torch.tensor(u)).sum() for o, u in zip(touts, us, strict=True))).backward()
    sum(((o * gk.tensor(u, device=device)).sum() for o, u in zip(gouts, us, strict=True))).backward()
    for tl, gl in leaves:
        _close(gl.grad, tl.grad)
    tparams = dict(t.named_parameters())
    for key, p in g.named_parameters():
        _close(p.grad, tparams[key].grad)


CELL_CASES = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu", "bias": False}), ("LSTMCell", {}),
              ("LSTMCell", {"bias": False}), ("GRUCell", {}), ("GRUCell", {"bias": False})]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize(("name", "kw"), CELL_CASES)
def test_cells_match_pytorch(device, name, kw, batched):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t, g = _pair(torch, name, device, IN, HID, **kw)
    lead = (N,) if batched else ()
    x, h0, c0 = _data(*lead, IN), _data(*lead, HID, seed=1), _data(*lead, HID, seed=2)
    tl = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    gl = [_gk(a, device) for a in (x, h0, c0)]
    if name == "LSTMCell":
        touts, gouts = t(tl[0], (tl[1], tl[2])), g(gl[0], (gl[1], gl[2]))
        tl0, gl0 = t(tl[0]), g(gl[0])  # no state: zeros
    else:
        tl, gl = tl[:2], gl[:2]
        touts, gouts = (t(tl[0], tl[1]),), (g(gl[0], gl[1]),)
        tl0, gl0 = (t(tl[0]),), (g(gl[0]),)
    for a, b in zip([*gouts, *gl0], [*touts, *tl0], strict=True):
        _close(a, b)
    us = [_data(*o.shape, seed=10 + i) for i, o in enumerate(touts)]
    sum(((o * torch.tensor(u)).sum() for o, u in zip(touts, us, strict=True))).backward()
    sum(((o * gk.tensor(u, device=device)).sum() for o, u in zip(gouts, us, strict=True))).backward()
    for a, b in zip(gl, tl, strict=True):
        _close(a.grad, b.grad)
    tparams = dict(t.named_parameters())
    for key, p in g.named_parameters():
        _close(p.grad, tparams[key].grad)


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _numpy_layer(name: str, x: np.ndarray, p: dict, h: np.ndarray, c: np.ndarray) -> tuple:
    """One layer, one direction, written out in NumPy from PyTorch's documented equations."""
    ys = []
    for xt in x:
        gi = xt @ p["weight_ih_l0"].T + p["bias_ih_l0"]
        gh = h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
        if name == "RNN":
            h = np.tanh(gi + gh)
        elif name == "LSTM":
            i, f, g, o = np.split(gi + gh, 4, axis=-1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        else:
            (ir, iz, in_), (hr, hz, hn) = np.split(gi, 3, axis=-1), np.split(gh, 3, axis=-1)
            r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
            n = np.tanh(in_ + r * hn)
            h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys), h, c


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_layers_match_a_numpy_reference(device, name):
    gk.manual_seed(0)
    m = LAYERS[name](IN, HID, device=device, dtype="float64")
    p = {k: v.numpy() for k, v in m.state_dict().items()}
    x, h0, c0 = _data(T, N, IN), _data(1, N, HID, seed=1), _data(1, N, HID, seed=2)
    hx = (_gk(h0, device), _gk(c0, device)) if name == "LSTM" else _gk(h0, device)
    y, h_n, c_n = (_states(m(_gk(x, device), hx)) + [None])[:3]
    ry, rh, rc = _numpy_layer(name, x, p, h0[0], c0[0])
    _close(y, ry)
    _close(h_n, rh[None])
    if name == "LSTM":
        _close(c_n, rc[None])


def test_a_cell_stepped_by_hand_is_the_layer(device):
    """An LSTMCell run over the steps gives nn.LSTM's output with the same weights (one layer)."""
    lstm = LSTM(IN, HID, device=device, dtype="float64")
    cell = LSTMCell(IN, HID, device=device, dtype="float64")
    cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
    x = _gk(_data(T, N, IN), device, grad=False)
    y, (h_n, c_n) = lstm(x)
    h = c = None
    for step in range(T):
        h, c = cell(x[step], None if h is None else (h, c))
        _close(y[step], h.numpy())
    _close(h_n[0], h.numpy())
    _close(c_n[0], c.numpy())


def test_float32_keeps_its_dtype_and_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t = torch.nn.LSTM(IN, HID, 2, bidirectional=True)
    g = LSTM(IN, HID, 2, bidirectional=True, device=device)
    g.load_state_dict(t.state_dict())  # PyTorch tensors load directly
    x = _data(T, N, IN, dtype="float32")
    y, (h, c) = g(gk.tensor(x, device=device))
    ty, (th, tc) = t(torch.tensor(x))
    assert y.dtype == h.dtype == c.dtype == np.float32
    for a, b in ((y, ty), (h, th), (c, tc)):
        _close(a, b, 1e-5)


# ------------------------------------------------------------------ parameters, init, state dicts
@pytest.mark.parametrize(("name", "kw"), [
    ("RNN", {"num_layers": 3, "bidirectional": True, "bias": False}), ("LSTM", {"num_layers": 2, "proj_size": 2}),
    ("GRU", {"bidirectional": True}), ("RNNCell", {}), ("LSTMCell", {}), ("GRUCell", {"bias": False}),
])
def test_parameter_names_shapes_and_state_dicts_are_pytorchs(name, kw):
    torch = pytest.importorskip("torch")
    t = getattr(torch.nn, name)(IN, HID, **kw)
    g = LAYERS[name](IN, HID, **kw)
    assert [(k, tuple(v.shape)) for k, v in g.named_parameters()] == [
        (k, tuple(v.shape)) for k, v in t.named_parameters()]
    assert list(g.state_dict()) == list(t.state_dict())
    assert repr(g) == repr(t)
    # gradkit's state dict loads into PyTorch, with the same results
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in g.state_dict().items()})
    x = _data(T, N, IN, dtype="float32") if "Cell" not in name else _data(N, IN, dtype="float32")
    gout, tout = g(gk.tensor(x)), t(torch.tensor(x))
    _close(gout[0] if isinstance(gout, tuple) else gout, tout[0] if isinstance(tout, tuple) else tout, 1e-5)


def test_init_is_uniform_in_one_over_sqrt_hidden(device):
    gk.manual_seed(0)
    for m in (LSTM(5, 64, 2, bidirectional=True, device=device), GRUCell(5, 64, device=device),
              RNN(5, 64, device=device)):
        bound = 1 / math.sqrt(64)
        values = np.concatenate([p.numpy().ravel() for p in m.parameters()])
        assert values.dtype == np.float32 and all(p.device.startswith(device) for p in m.parameters())
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound
        assert abs(values.std() - bound / math.sqrt(3)) < 0.05 * bound
        assert all(p.requires_grad for p in m.parameters())
    lstm = LSTM(3, 4, 2, bidirectional=True)
    assert isinstance(lstm, RNNBase) and lstm.mode == "LSTM" and isinstance(GRUCell(3, 4), RNNCellBase)
    assert [len(w) for w in lstm.all_weights] == [4, 4, 4, 4]
    assert lstm.all_weights[1][0] is lstm.weight_ih_l0_reverse
    lstm.flatten_parameters()  # PyTorch's cuDNN call: nothing to do


# ------------------------------------------------------------------ dropout between layers
def test_dropout_between_layers_in_training_only(device):
    gk.manual_seed(0)
    m = GRU(IN, HID, 2, dropout=0.5, device=device, dtype="float64")
    x = _gk(_data(T, N, IN), device, grad=False)
    # the same draws as running the two layers one by one with F.dropout between them
    first, second = GRU(IN, HID, device=device, dtype="float64"), GRU(HID, HID, device=device, dtype="float64")
    state = m.state_dict()
    first.load_state_dict({k: v for k, v in state.items() if k.endswith("_l0")})
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in state.items() if k.endswith("_l1")})
    gk.manual_seed(7)
    y, h = m(x)
    gk.manual_seed(7)
    y0, h0 = first(x)
    y1, h1 = second(F.dropout(y0, 0.5, True))
    _close(y, y1.numpy())
    _close(h, gk.stack([h0[0], h1[0]]).numpy())
    m.eval()
    y_eval, _ = m(x)
    _close(y_eval, second(first(x)[0])[0].numpy())
    m.train()
    m.dropout = 1.0  # the second layer sees zeros whatever the input
    a, _ = m(x)
    b, _ = m(x * 3)
    _close(a, b.numpy())
    with pytest.warns(UserWarning, match=r"LSTM: dropout=0.2 applies between stacked layers only"):
        LSTM(IN, HID, dropout=0.2)


# ------------------------------------------------------------------ finite differences
def _with_parameters(m, names):
    """``f(x, h0, *params)``: m's forward with the given tensors as its parameters (for gradcheck)."""
    def f(x, h0, *params):
        saved = dict(m._parameters)
        m._parameters.update(zip(names, params, strict=True))
        try:
            out = m(x, (h0, h0 * 0.5) if isinstance(m, LSTM) else h0)
        finally:
            m._parameters.update(saved)
        return _states(out)
    return f


@pytest.mark.parametrize(("cls", "kw"), [(LSTM, {"bidirectional": True}), (GRU, {"num_layers": 2}),
                                         (RNN, {"nonlinearity": "relu", "batch_first": True})])
def test_gradcheck_layers(device, cls, kw):
    gk.manual_seed(0)
    m = cls(2, 2, **kw, device=device, dtype="float64")
    names = [k for k, _ in m.named_parameters()]
    x = _gk(_data(*((2, 3, 2) if kw.get("batch_first") else (3, 2, 2))), device)
    h0 = _gk(_data(kw.get("num_layers", 1) * (1 + kw.get("bidirectional", False)), 2, 2, seed=1), device)
    params = [_gk(p.numpy(), device) for p in m.parameters()]
    assert gk.gradcheck(_with_parameters(m, names), (x, h0, *params))


def test_gradcheck_cells_and_second_order(device):
    gk.manual_seed(0)
    x, h = _gk(_data(2, 3), device), _gk(_data(2, 2, seed=1), device)
    for cell in (RNNCell(3, 2, device=device, dtype="float64"), GRUCell(3, 2, device=device, dtype="float64")):
        assert gk.gradcheck(lambda x, h, cell=cell: cell(x, h), (x, h))
    lstm = LSTMCell(3, 2, device=device, dtype="float64")
    assert gk.gradcheck(lambda x, h: lstm(x, (h, h * 2.0)), (x, h))

    gru = GRU(2, 2, bidirectional=True, device=device, dtype="float64")
    xs = _gk(_data(3, 1, 2), device)

    def grads(x, w):
        gru._parameters["weight_hh_l0"] = w
        try:
            y, h_n = gru(x)
        finally:
            gru._parameters["weight_hh_l0"] = saved
        return gk.autograd.grad((y * y).sum() + (h_n ** 3).sum(), (x, w), create_graph=True)

    saved = gru.weight_hh_l0
    assert gk.gradcheck(grads, (xs, _gk(saved.numpy(), device)))


def test_second_order_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t, g = _pair(torch, "LSTM", device, 2, 3, bidirectional=True)
    x = _data(4, 2, 2)
    tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
    results = []
    for lib, m, xx in ((torch, t, tx), (gk, g, gx)):
        y, (h, c) = m(xx)
        (gx_,) = lib.autograd.grad((y ** 2).sum() + (c ** 2).sum(), (xx,), create_graph=True)
        (gxx,) = lib.autograd.grad((gx_ ** 2).sum(), (xx,))
        results.append((gx_, gxx))
    _close(results[1][0], results[0][0])
    _close(results[1][1], results[0][1])


# ------------------------------------------------------------------ a tiny sequence task, as PyTorch
def _summer(lib, cls_name):
    class Summer(lib.nn.Module):
        def __init__(self):
            super().__init__()
            layer = getattr(lib.nn, cls_name) if lib is not gk else LAYERS[cls_name]
            head = lib.nn.Linear if lib is not gk else Linear
            self.rnn = layer(1, 8, 2, batch_first=True)
            self.head = head(8, 1)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.head(y[:, -1])

    return Summer()


@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "RNN"])
def test_learning_to_sum_a_sequence_as_pytorch(device, cls_name):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm, gm = _summer(torch, cls_name), _summer(gk, cls_name).to(device)
    assert list(gm.state_dict()) == list(tm.state_dict())
    gm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    topt = torch.optim.Adam(tm.parameters(), lr=0.02)
    gopt = gk.optim.Adam(gm.parameters(), lr=0.02)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(12):
        x = rng.uniform(-1, 1, (16, 6, 1)).astype(np.float32)
        target = x.sum(axis=1)
        tloss = torch.nn.functional.mse_loss(tm(torch.tensor(x)), torch.tensor(target))
        gloss = F.mse_loss(gm(gk.tensor(x, device=device)), gk.tensor(target, device=device))
        assert abs(gloss.item() - tloss.item()) < 1e-4 * max(1.0, tloss.item())
        losses.append(gloss.item())
        for opt, loss in ((topt, tloss), (gopt, gloss)):
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert losses[-1] < losses[0]
    for key, value in tm.state_dict().items():
        _close(gm.state_dict()[key], value, 1e-4)


# ------------------------------------------------------------------ no host reads (capturable)
def test_forward_and_backward_read_nothing_on_the_host(device, monkeypatch):
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("counts the emulated CuPy's host reads (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    models = [LSTM(IN, HID, 2, bidirectional=True, dropout=0.3, device=device), GRU(IN, HID, 2, device=device),
              RNN(IN, HID, batch_first=True, device=device), LSTMCell(IN, HID, device=device)]
    x = gk.tensor(_data(T, N, IN, dtype="float32"), device=device, requires_grad=True)

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    for m in models:
        out = m(x[0]) if isinstance(m, LSTMCell) else m(x)
        total = sum(t.sum() for t in _states(out))
        total.backward()


# ------------------------------------------------------------------ errors
def test_errors_name_the_layer_what_was_passed_and_what_was_expected():
    lstm, gru, cell = LSTM(3, 4, 2), GRU(3, 4), LSTMCell(3, 4)
    x = gk.zeros(5, 2, 3)
    cases = [
        (gk.ShapeError, r"LSTM: input has shape \(5, 2, 4\), expected its last axis to be input_size=3",
         lambda: lstm(gk.zeros(5, 2, 4))),
        (gk.ShapeError, r"LSTM: expected input to be 2-D or 3-D, got a 4-D tensor of shape \(1, 5, 2, 3\)",
         lambda: lstm(gk.zeros(1, 5, 2, 3))),
        (gk.ShapeError, r"LSTM: h_0 has shape \(1, 2, 4\), expected \(2, 2, 4\) \(num_layers \* num_directions, "
                        r"batch, hidden_size\)", lambda: lstm(x, (gk.zeros(1, 2, 4), gk.zeros(2, 2, 4)))),
        (gk.ShapeError, r"LSTM: c_0 has shape \(2, 4\), expected \(2, 2, 4\)",
         lambda: lstm(x, (gk.zeros(2, 2, 4), gk.zeros(2, 4)))),
        (gk.ShapeError, r"GRU: hx has shape \(1, 2, 4\), expected \(1, 4\) \(num_layers \* num_directions, "
                        r"hidden_size\)", lambda: gru(gk.zeros(5, 3), gk.zeros(1, 2, 4))),
        (gk.ArgumentTypeError,
         r"LSTM: hx must be a pair \(h_0, c_0\) of Tensors or None, got Tensor\(shape=\(2, 2, 4\)",
         lambda: lstm(x, gk.zeros(2, 2, 4))),
        (gk.ArgumentTypeError, r"GRU: hx must be a Tensor or None, got tuple",
         lambda: gru(x, (gk.zeros(1, 2, 4),))),
        (gk.DTypeError, r"GRU: input has dtype float64, the layer's parameters float32",
         lambda: gru(x.astype(gk.float64))),
        (gk.ShapeError, r"GRU: the input's sequence length is 0 \(input of shape \(0, 2, 3\)\)",
         lambda: gru(gk.zeros(0, 2, 3))),
        (gk.ShapeError, r"LSTMCell: input has shape \(2, 5\), expected its last axis to be input_size=3",
         lambda: cell(gk.zeros(2, 5))),
        (gk.ShapeError, r"LSTMCell: h_0 has shape \(3, 4\), expected \(2, 4\) \(batch, hidden_size\)",
         lambda: cell(gk.zeros(2, 3), (gk.zeros(3, 4), gk.zeros(2, 4)))),
        (gk.ShapeError, r"GRUCell: hx has shape \(1, 4\), expected \(4,\) \(hidden_size, for an unbatched input\)",
         lambda: GRUCell(3, 4)(gk.zeros(3), gk.zeros(1, 4))),
        (gk.ShapeError, r"RNNCell: expected input to be 1-D or 2-D, got a 3-D tensor",
         lambda: RNNCell(3, 4)(gk.zeros(1, 2, 3))),
        (gk.InvalidArgumentError, r"RNN: unknown nonlinearity 'sigmoid'; expected 'tanh' or 'relu'",
         lambda: RNN(3, 4, nonlinearity="sigmoid")),
        (gk.InvalidArgumentError, r"RNNCell: unknown nonlinearity 'gelu'; expected 'tanh' or 'relu'",
         lambda: RNNCell(3, 4, nonlinearity="gelu")),
        (gk.InvalidArgumentError, r"LSTM: proj_size \(4\) must be smaller than hidden_size \(4\)",
         lambda: LSTM(3, 4, proj_size=4)),
        (gk.InvalidArgumentError, r"GRU: dropout must be a probability in \[0, 1\], got 1.5",
         lambda: GRU(3, 4, 2, dropout=1.5)),
        (gk.InvalidArgumentError, r"RNN: hidden_size must be an int >= 1, got 0", lambda: RNN(3, 0)),
        (gk.InvalidArgumentError, r"LSTM: num_layers must be an int >= 1, got 0", lambda: LSTM(3, 4, 0)),
        (gk.InvalidArgumentError, r"RNNBase: unknown mode 'RNN'; expected one of 'RNN_TANH', 'RNN_RELU', 'LSTM', "
                                  r"'GRU'", lambda: RNNBase("RNN", 3, 4)),
        (gk.InvalidArgumentError, r"RNNBase: proj_size is only supported by LSTM, got proj_size=2",
         lambda: RNNBase("GRU", 3, 4, proj_size=2)),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()
