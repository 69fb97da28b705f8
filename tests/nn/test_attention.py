"""scaled_dot_product_attention, multi_head_attention_forward and MultiheadAttention: PyTorch's outputs, weights and
gradients (its weights copied in), masks of every kind, fully masked rows, dropout, parameter names, init and state
dicts both ways; finite-difference checks of first and second order; errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data

import gradkit as gk
from gradkit.nn.attention import MultiheadAttention, multi_head_attention_forward, scaled_dot_product_attention

pytestmark = pytest.mark.filterwarnings(
    "ignore:Support for mismatched"  # PyTorch's, on mixed mask types
)

E, H, L, S, N = 4, 2, 3, 5, 2


def _np(t) -> np.ndarray:
    return t.detach().numpy() if hasattr(t, "detach") else t.numpy()


# ------------------------------------------------------------------ scaled_dot_product_attention
SDPA_CASES = {
    "plain": ({}, (2, 3, 4), (2, 5, 4), (2, 5, 6)),
    "bool_mask_broadcast": ({"attn_mask": "bool"}, (2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3)),
    "float_mask_heads": ({"attn_mask": "float"}, (2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4)),
    "causal_scale": ({"is_causal": True, "scale": 0.3}, (2, 5, 4), (2, 3, 4), (2, 3, 2)),
    "gqa": ({"enable_gqa": True}, (1, 4, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)),
    "unbatched_2d": ({"attn_mask": "bool"}, (3, 4), (5, 4), (5, 4)),
}


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_matches_pytorch(device, case):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    kw, qs, ks, vs = SDPA_CASES[case]
    q, k, v = _data(*qs), _data(*ks, seed=1), _data(*vs, seed=2)
    t_kw, g_kw = dict(kw), dict(kw)
    if kw.get("attn_mask") == "bool":  # (L, S), True = attend; one key per query always allowed
        m = np.random.default_rng(3).random((qs[-2], ks[-2])) < 0.5
        m[:, 0] = True
        t_kw["attn_mask"], g_kw["attn_mask"] = torch.tensor(m), gk.tensor(m, device=device)
    elif kw.get("attn_mask") == "float":  # (H, L, S), differentiable
        m = _data(qs[-3], qs[-2], ks[-2], seed=4)
        t_kw["attn_mask"], g_kw["attn_mask"] = torch.tensor(m, requires_grad=True), _gk(m, device)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    gq, gk_, gv = (_gk(a, device) for a in (q, k, v))
    to = tF.scaled_dot_product_attention(tq, tk, tv, **t_kw)
    go = scaled_dot_product_attention(gq, gk_, gv, **g_kw)
    _close(go, to)
    seed = _data(*to.shape, seed=5)
    (to * torch.tensor(seed)).sum().backward()
    (go * gk.tensor(seed, device=device)).sum().backward()
    for a, b in ((gq, tq), (gk_, tk), (gv, tv)):
        _close(a.grad, b.grad)
    if kw.get("attn_mask") == "float":
        _close(g_kw["attn_mask"].grad, t_kw["attn_mask"].grad)


def test_sdpa_fully_masked_row_gives_zeros_not_nan(device):
    """A query with no key to attend to: a zero output row and zero gradients (PyTorch's function does the same)."""
    torch = pytest.importorskip("torch")
    q, k, v = _data(2, 3, 4), _data(2, 5, 4, seed=1), _data(2, 5, 4, seed=2)
    keep = np.ones((3, 5), bool)
    keep[1] = False
    additive = np.where(keep, 0.0, -np.inf)
    for mask in (keep, additive):
        gq, gk_, gv = (_gk(a, device) for a in (q, k, v))
        out = scaled_dot_product_attention(gq, gk_, gv, attn_mask=gk.tensor(mask, device=device))
        (out * out).sum().backward()
        assert np.all(out.numpy()[:, 1] == 0)
        assert np.all(gq.grad.numpy()[:, 1] == 0)
        for t in (out, gq.grad, gk_.grad, gv.grad):
            assert np.isfinite(t.numpy()).all()
        tq = torch.tensor(q, requires_grad=True)
        to = torch.nn.functional.scaled_dot_product_attention(tq, torch.tensor(k), torch.tensor(v),
                                                              attn_mask=torch.tensor(mask))
        (to * to).sum().backward()
        _close(out, to)
        _close(gq.grad, tq.grad)


def test_sdpa_dropout(device):
    gk.manual_seed(0)
    q, k, v = (_gk(_data(2, 3, 4, seed=s), device, grad=False) for s in range(3))
    plain = scaled_dot_product_attention(q, k, v)
    dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert dropped.shape == plain.shape and not np.allclose(dropped.numpy(), plain.numpy())
    assert np.all(scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0)


def test_sdpa_gradcheck_first_and_second_order(device):
    q, k, v = (_gk(_data(1, 2, 3, seed=s), device) for s in range(3))
    mask = _gk(_data(2, 2, seed=3), device)
    keep = gk.tensor(np.array([[True, False], [True, True]]), device=device)
    assert gk.gradcheck(lambda q, k, v, m: scaled_dot_product_attention(q, k, v, attn_mask=m), (q, k, v, mask))
    assert gk.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=keep), (q, k, v))
    assert gk.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v))

    def grads(q, k, v):
        out = scaled_dot_product_attention(q, k, v, attn_mask=keep)
        return gk.autograd.grad((out * out).sum(), (q, k, v), create_graph=True)

    assert gk.gradcheck(grads, (q, k, v))


def test_sdpa_errors(device):
    q, k, v = (_gk(_data(2, 3, 4, seed=s), device) for s in range(3))
    causal = gk.tensor(np.ones((3, 3), bool), device=device)
    with pytest.raises(gk.InvalidArgumentError, match="scaled_dot_product_attention: .*attn_mask or is_causal"):
        scaled_dot_product_attention(q, k, v, attn_mask=causal, is_causal=True)
    with pytest.raises(gk.DTypeError, match="attn_mask must be a bool or float tensor, got dtype int64"):
        scaled_dot_product_attention(q, k, v, attn_mask=gk.tensor(np.ones((3, 3), np.int64), device=device))
    with pytest.raises(gk.ShapeError, match=r"attn_mask of shape \(4, 3\) does not broadcast .*\(2, 3, 3\)"):
        scaled_dot_product_attention(q, k, v, attn_mask=gk.tensor(np.ones((4, 3), bool), device=device))
    with pytest.raises(gk.ShapeError, match=r"expected query \(\.\.\., L, E\), key"):
        scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(gk.DTypeError, match="must have one dtype"):
        scaled_dot_product_attention(q, k.astype(gk.float32), v)
    with pytest.raises(gk.InvalidArgumentError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.5)


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_sdpa_and_multihead_attention_match_a_numpy_reference(device):
    """The formulas written out in NumPy (runs without PyTorch)."""
    q, k, v = _data(2, 3, 4), _data(2, 5, 4, seed=1), _data(2, 5, 6, seed=2)
    keep = np.random.default_rng(3).random((3, 5)) < 0.6
    keep[:, 1] = True
    scores = np.where(keep, q @ k.swapaxes(1, 2) / 2.0, -np.inf)
    out = scaled_dot_product_attention(*(gk.tensor(a, device=device) for a in (q, k, v)),
                                       attn_mask=gk.tensor(keep, device=device))
    np.testing.assert_allclose(out.numpy(), _softmax(scores) @ v, atol=1e-12)
    causal = scaled_dot_product_attention(*(gk.tensor(a, device=device) for a in (q, k, v)), is_causal=True)
    tri = np.tril(np.ones((3, 5), bool))
    np.testing.assert_allclose(causal.numpy(), _softmax(np.where(tri, q @ k.swapaxes(1, 2) / 2.0, -np.inf)) @ v,
                               atol=1e-12)

    gk.manual_seed(0)
    m = MultiheadAttention(E, H, batch_first=True, device=device, dtype="float64")
    x = _data(N, L, E)
    kpm = np.zeros((N, L), bool)
    kpm[1, 0] = True
    out, w = m(gk.tensor(x, device=device), gk.tensor(x, device=device), gk.tensor(x, device=device),
               key_padding_mask=gk.tensor(kpm, device=device), average_attn_weights=False)
    w_in, b_in = m.in_proj_weight.numpy(), m.in_proj_bias.numpy()
    qkv = x @ w_in.T + b_in
    heads = [qkv[..., i * E : (i + 1) * E].reshape(N, L, H, E // H).transpose(0, 2, 1, 3) for i in range(3)]
    s = heads[0] @ heads[1].transpose(0, 1, 3, 2) / np.sqrt(E // H)
    ref_w = _softmax(np.where(kpm[:, None, None, :], -np.inf, s))
    ctx = (ref_w @ heads[2]).transpose(0, 2, 1, 3).reshape(N, L, E)
    np.testing.assert_allclose(w.numpy(), ref_w, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), ctx @ m.out_proj.weight.numpy().T + m.out_proj.bias.numpy(), atol=1e-12)


# ------------------------------------------------------------------ MultiheadAttention against PyTorch
def _pair(torch, device, *args, **kw):
    """A PyTorch MultiheadAttention in float64 with random biases, and a gradkit one loaded from its state dict."""
    torch.manual_seed(0)
    t = torch.nn.MultiheadAttention(*args, **kw).double()
    with torch.no_grad():
        for name, p in t.named_parameters():
            if "bias" in name and name != "bias_k" and name != "bias_v":
                p.normal_(0.0, 0.5)
    g = MultiheadAttention(*args, **kw, device=device, dtype="float64")
    assert list(g.state_dict()) == list(t.state_dict())
    g.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return t, g


def _masks(spec: dict, batched: bool, L: int, S: int, n: int) -> dict:
    """NumPy masks for MultiheadAttention (bool: True = not allowed); no query loses every key."""
    rng = np.random.default_rng(7)
    out = {}
    kpm = spec.get("key_padding_mask")
    if kpm == "bool":
        m = np.zeros((n, S), bool)
        m[0, -1] = True
        out["key_padding_mask"] = m if batched else m[0]
    elif kpm == "float":
        out["key_padding_mask"] = rng.standard_normal((n, S) if batched else (S,))
    am = spec.get("attn_mask")
    if am == "bool2d":
        m = rng.random((L, S)) < 0.4
        m[:, 0] = False
        out["attn_mask"] = m
    elif am == "float2d":
        out["attn_mask"] = rng.standard_normal((L, S))
    elif am == "float3d":
        out["attn_mask"] = rng.standard_normal(((n if batched else 1) * H, L, S))
    elif am == "causal":
        out["attn_mask"] = np.triu(np.full((L, S), -np.inf), 1)
    return out


MHA_CASES = {
    # name: (constructor kwargs, forward kwargs and masks, inputs: "self" | "kv" | "qkv", batched)
    "seq_first_kpm_bool": ({}, {"key_padding_mask": "bool"}, "self", True),
    "batch_first_mask2d_heads": ({"batch_first": True}, {"attn_mask": "bool2d", "average_attn_weights": False},
                                 "kv", True),
    "unbatched_mask3d": ({}, {"attn_mask": "float3d", "key_padding_mask": "bool"}, "qkv", False),
    "kdim_vdim_float_masks": ({"kdim": 3, "vdim": 5, "batch_first": True},
                              {"key_padding_mask": "float", "attn_mask": "float2d"}, "qkv", True),
    "bias_kv_zero_attn": ({"add_bias_kv": True, "add_zero_attn": True},
                          {"key_padding_mask": "bool", "attn_mask": "float3d"}, "kv", True),
    "no_bias_no_weights": ({"bias": False}, {"need_weights": False, "key_padding_mask": "float"}, "self", True),
    "causal_hint": ({"batch_first": True}, {"attn_mask": "causal", "is_causal": True}, "self", True),
    "unbatched_no_weights": ({"add_zero_attn": True}, {"need_weights": False, "attn_mask": "bool2d"}, "kv", False),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_matches_pytorch(device, case):
    torch = pytest.importorskip("torch")
    ctor, fwd, inputs, batched = MHA_CASES[case]
    t, g = _pair(torch, device, E, H, **ctor)
    bf = ctor.get("batch_first", False) and batched
    src = L if inputs == "self" else S

    def shape(seq, feat):
        if not batched:
            return (seq, feat)
        return (N, seq, feat) if bf else (seq, N, feat)

    arrays = [_data(*shape(L, E))]
    if inputs != "self":
        arrays.append(_data(*shape(src, ctor.get("kdim", E)), seed=1))
    if inputs == "qkv":
        arrays.append(_data(*shape(src, ctor.get("vdim", E)), seed=2))
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    g_in = [_gk(a, device) for a in arrays]

    def qkv(xs):
        return (xs[0], xs[0], xs[0]) if inputs == "self" else (xs[0], xs[1], xs[1]) if inputs == "kv" else tuple(xs)

    masks = _masks(fwd, batched, L, src, N)
    extra = {k: v for k, v in fwd.items() if k not in ("attn_mask", "key_padding_mask")}
    to, tw = t(*qkv(t_in), **{k: torch.tensor(m) for k, m in masks.items()}, **extra)
    go, gw = g(*qkv(g_in), **{k: gk.tensor(m, device=device) for k, m in masks.items()}, **extra)
    _close(go, to)
    if tw is None:
        assert gw is None
    else:
        _close(gw, tw)
    r = _data(*to.shape, seed=9)
    t_loss = (to * torch.tensor(r)).sum()
    g_loss = (go * gk.tensor(r, device=device)).sum()
    if tw is not None:
        rw = _data(*tw.shape, seed=10)
        t_loss = t_loss + (tw * torch.tensor(rw)).sum()
        g_loss = g_loss + (gw * gk.tensor(rw, device=device)).sum()
    t_loss.backward()
    g_loss.backward()
    for a, b in zip(g_in, t_in, strict=True):
        _close(a.grad, b.grad)
    tp = dict(t.named_parameters())
    for name, p in g.named_parameters():
        _close(p.grad, tp[name].grad)


def test_multi_head_attention_forward_matches_pytorch(device):
    """The functional form, with separate projection weights and static keys and values."""
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    rng = np.random.default_rng(0)
    q, k, v = _data(L, N, E), _data(S, N, E, seed=1), _data(S, N, E, seed=2)
    ws = {name: rng.standard_normal(shape) * 0.5 for name, shape in (
        ("in_proj_bias", (3 * E,)), ("out_proj_weight", (E, E)), ("out_proj_bias", (E,)),
        ("q_proj_weight", (E, E)), ("k_proj_weight", (E, E)), ("v_proj_weight", (E, E)),
        ("static_k", (N * H, S, E // H)), ("static_v", (N * H, S, E // H)))}
    common = {"embed_dim_to_check": E, "num_heads": H, "in_proj_weight": None, "bias_k": None, "bias_v": None,
              "add_zero_attn": False, "dropout_p": 0.0, "use_separate_proj_weight": True,
              "average_attn_weights": False}
    for static in (False, True):
        chosen = {n: a for n, a in ws.items() if static or not n.startswith("static")}
        t_w = {n: torch.tensor(a, requires_grad=True) for n, a in chosen.items()}
        g_w = {n: _gk(a, device) for n, a in chosen.items()}
        to, tw = tF.multi_head_attention_forward(torch.tensor(q), torch.tensor(k), torch.tensor(v), **common, **t_w)
        go, gw = multi_head_attention_forward(gk.tensor(q, device=device), gk.tensor(k, device=device),
                                              gk.tensor(v, device=device), **common, **g_w)
        _close(go, to)
        _close(gw, tw)
        (to.sum() + (tw * tw).sum()).backward()
        (go.sum() + (gw * gw).sum()).backward()
        for n in chosen:
            if t_w[n].grad is None:  # static_k/static_v replace the projected key/value
                assert g_w[n].grad is None
            else:
                _close(g_w[n].grad, t_w[n].grad)


def test_multihead_attention_gradcheck_parameters_first_and_second_order(device):
    """Finite differences through every parameter (bias_k, bias_v, add_zero_attn, a padding mask)."""
    rng = np.random.default_rng(1)
    e, h = 4, 2
    x = _gk(_data(2, 1, e), device)
    params = [_gk(rng.standard_normal(s) * 0.5, device) for s in ((3 * e, e), (3 * e,), (1, 1, e), (1, 1, e), (e, e))]
    kpm = gk.tensor(np.array([[False, True]]), device=device)

    def f(x, w_in, b_in, bk, bv, w_out):
        return multi_head_attention_forward(x, x, x, e, h, w_in, b_in, bk, bv, True, 0.0, w_out, None,
                                            key_padding_mask=kpm, average_attn_weights=False)

    assert gk.gradcheck(f, (x, *params))

    def grads(x, w_in):
        out, _ = f(x, w_in, *params[1:])
        return gk.autograd.grad((out * out).sum(), (x, w_in), create_graph=True)

    assert gk.gradcheck(grads, (x, params[0]))


def test_multihead_attention_fully_masked_query_gives_zeros(device):
    """Every key padded for one sequence: zero weights, an output equal to out_proj's bias, finite gradients
    (PyTorch gives the same output with need_weights=False; NaN with need_weights=True)."""
    torch = pytest.importorskip("torch")
    t, g = _pair(torch, device, E, H, batch_first=True)
    x = _data(N, L, E)
    kpm = np.zeros((N, L), bool)
    kpm[1] = True
    gx = _gk(x, device)
    out, w = g(gx, gx, gx, key_padding_mask=gk.tensor(kpm, device=device))
    out.sum().backward()
    assert np.all(w.numpy()[1] == 0)
    np.testing.assert_allclose(out.numpy()[1], np.broadcast_to(g.out_proj.bias.numpy(), (L, E)), atol=1e-12)
    for p in [gx, *g.parameters()]:
        assert np.isfinite(p.grad.numpy()).all()
    tx = torch.tensor(x)
    to, _ = t(tx, tx, tx, key_padding_mask=torch.tensor(kpm), need_weights=False)
    _close(out, to)


def test_multihead_attention_dropout_train_and_eval(device):
    gk.manual_seed(0)
    m = MultiheadAttention(E, H, dropout=0.5, batch_first=True, device=device, dtype="float64")
    x = _gk(_data(N, L, E), device, grad=False)
    out, w = m(x, x, x, average_attn_weights=False)
    assert out.shape == (N, L, E) and w.shape == (N, H, L, L)
    assert not np.allclose(w.numpy().sum(-1), 1.0)  # survivors scaled by 2, the rest zeroed
    m.eval()
    a, b = m(x, x, x)[0].numpy(), m(x, x, x)[0].numpy()
    np.testing.assert_array_equal(a, b)
    plain = MultiheadAttention(E, H, batch_first=True, device=device, dtype="float64")
    plain.load_state_dict(m.state_dict())
    np.testing.assert_allclose(plain(x, x, x)[0].numpy(), a, atol=1e-12)


# ------------------------------------------------------------------ parameters, init, state dicts
@pytest.mark.parametrize("kw", [{}, {"kdim": 3, "vdim": 5}, {"add_bias_kv": True, "bias": False}],
                         ids=["packed", "kdim_vdim", "bias_kv_no_bias"])
def test_state_dict_round_trips_with_pytorch(device, kw):
    torch = pytest.importorskip("torch")
    gk.manual_seed(0)
    g = MultiheadAttention(E, H, **kw, device=device, dtype="float64")
    t = torch.nn.MultiheadAttention(E, H, **kw).double()
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in g.state_dict().items()})
    back = MultiheadAttention(E, H, **kw, device=device, dtype="float64")
    back.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    q, k, v = _data(L, N, E), _data(S, N, kw.get("kdim", E), seed=1), _data(S, N, kw.get("vdim", E), seed=2)
    to = t(torch.tensor(q), torch.tensor(k), torch.tensor(v))[0]
    for m in (g, back):
        _close(m(gk.tensor(q, device=device), gk.tensor(k, device=device), gk.tensor(v, device=device))[0], to)


def test_parameter_names_shapes_and_init(device):
    gk.manual_seed(0)
    m = MultiheadAttention(8, 2, add_bias_kv=True, device=device)
    shapes = {k: v.shape for k, v in m.state_dict().items()}
    assert shapes == {"in_proj_weight": (24, 8), "in_proj_bias": (24,), "bias_k": (1, 1, 8), "bias_v": (1, 1, 8),
                      "out_proj.weight": (8, 8), "out_proj.bias": (8,)}
    assert m.in_proj_weight.dtype == gk.float32 and m.head_dim == 4 and m._qkv_same_embed_dim
    bound = math.sqrt(6 / (8 + 24))  # xavier_uniform on (3E, E)
    w = m.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and w.std() > bound / 3
    assert np.all(m.in_proj_bias.numpy() == 0) and np.all(m.out_proj.bias.numpy() == 0)
    assert np.abs(m.bias_k.numpy()).max() > 0
    assert m.q_proj_weight is None and m.k_proj_weight is None and m.v_proj_weight is None
    sep = MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False, device=device)
    assert [k for k, _ in sep.named_parameters()] == ["q_proj_weight", "k_proj_weight", "v_proj_weight",
                                                       "out_proj.weight"]
    assert sep.k_proj_weight.shape == (8, 3) and sep.v_proj_weight.shape == (8, 5) and sep.in_proj_weight is None
    assert sep.out_proj.bias is None and sep.bias_k is None


# ------------------------------------------------------------------ errors
def test_errors_name_the_layer_the_value_and_what_was_expected(device):
    with pytest.raises(gk.InvalidArgumentError, match="MultiheadAttention: embed_dim must be divisible by num_heads, "
                                                     "got embed_dim=10 and num_heads=3"):
        MultiheadAttention(10, 3)
    with pytest.raises(gk.InvalidArgumentError, match="MultiheadAttention: dropout"):
        MultiheadAttention(4, 2, dropout=2.0)
    m = MultiheadAttention(E, H, device=device, dtype="float64")
    x = _gk(_data(L, N, E), device, grad=False)
    bad = [
        ({"key_padding_mask": np.zeros((N, L + 1), bool)}, gk.ShapeError,
         r"MultiheadAttention: key_padding_mask must have shape \(2, 3\) \(\(N, S\)\), got \(2, 4\)"),
        ({"attn_mask": np.zeros((2, L, L), bool)}, gk.ShapeError,
         r"MultiheadAttention: attn_mask must have shape \(3, 3\) or \(4, 3, 3\) .*got \(2, 3, 3\)"),
        ({"attn_mask": np.zeros((L, L), np.int64)}, gk.DTypeError,
         "MultiheadAttention: attn_mask must be a bool or float tensor, got dtype int64"),
        ({"key_padding_mask": [[0, 1]]}, gk.ArgumentTypeError, "key_padding_mask must be a bool or float Tensor"),
        ({"is_causal": True}, gk.InvalidArgumentError, "MultiheadAttention: is_causal=True .* needs attn_mask"),
    ]
    for kwargs, error, message in bad:
        with pytest.raises(error, match=message):
            m(x, x, x, **kwargs)
    with pytest.raises(gk.ShapeError, match=r"MultiheadAttention: expected query of embed_dim 4 .*got shape "
                                            r"\(3, 2, 5\)"):
        y = _gk(_data(L, N, 5), device)
        m(y, y, y)
    with pytest.raises(gk.ShapeError, match="query must be unbatched 2-D .* got a 4-D tensor"):
        z = _gk(_data(1, L, N, E), device)
        m(z, z, z)
    with pytest.raises(gk.ShapeError, match="for a 3-D query, key must be 3-D too"):
        m(x, x[0], x[0])
    with pytest.raises(gk.DTypeError, match=r"query \(float64\) and key \(float32\)"):
        m(x, x.astype(gk.float32), x)
    with pytest.raises(gk.ArgumentTypeError, match="MultiheadAttention: query must be a Tensor, got list"):
        m([1.0], x, x)
