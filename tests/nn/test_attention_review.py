"""Review of the attention and Transformer layers as a PyTorch user meets them: a small causal language model
trained with AdamW step for step against PyTorch, masks of mixed kinds and of the wrong kind, batch and sequence
lengths of one, float16, self-attention gradients, second order, deep copies, errors that name the layer and the
argument, and no host reads on the emulated CuPy."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data

import gradkit as gk
from gradkit.nn import functional as F
from gradkit.nn.attention import MultiheadAttention, scaled_dot_product_attention
from gradkit.nn.transformer import Transformer, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer

pytestmark = [
    pytest.mark.filterwarnings("ignore:Support for mismatched"),  # PyTorch's, on mixed mask types
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
]

V, D, H, T, B = 7, 8, 2, 5, 3


def _gpt(nn, bf: bool, device=None):
    """Embedding + a positional parameter + a causal 2-layer pre-norm encoder + a Linear head, in ``nn``
    (PyTorch's or gradkit's), sequence-first unless ``bf``."""
    kw = {} if device is None else {"device": device}

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(V, D, **kw)
            self.pos = nn.Parameter(gk.zeros(T, D, **kw) if nn is gk.nn else __import__("torch").zeros(T, D))
            layer = nn.TransformerEncoderLayer(D, H, 16, dropout=0.0, batch_first=bf, norm_first=True, **kw)
            self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(D, V, **kw)

        def forward(self, idx, mask):
            x = self.emb(idx) + self.pos
            swap = gk.swapaxes if nn is gk.nn else (lambda t, a, b: t.transpose(a, b))
            y = self.enc(x if bf else swap(x, 0, 1), mask=mask, is_causal=True)
            return self.head(y if bf else swap(y, 0, 1))

    return GPT()


def _adamw_step(torch, model, state, step: int, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2) -> None:
    """PyTorch's AdamW update (its defaults) written out: torch.optim's first step costs seconds of imports."""
    with torch.no_grad():
        for p in model.parameters():
            m, v = state[id(p)]
            p.mul_(1 - lr * weight_decay)
            m.mul_(betas[0]).add_(p.grad, alpha=1 - betas[0])
            v.mul_(betas[1]).addcmul_(p.grad, p.grad, value=1 - betas[1])
            denom = (v / (1 - betas[1] ** step)).sqrt_().add_(eps)
            p.addcdiv_(m, denom, value=-lr / (1 - betas[0] ** step))


@pytest.mark.parametrize("batch_first", [True, False])
def test_causal_language_model_trains_as_pytorch_with_adamw(device, batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = _gpt(torch.nn, batch_first).double()
    with torch.no_grad():
        tm.pos.normal_(0.0, 0.1)
    gm = _gpt(gk.nn, batch_first, device).to(dtype=gk.float64)
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    g_opt = gk.optim.AdamW(gm.parameters(), lr=1e-2)
    t_state = {id(p): (torch.zeros_like(p), torch.zeros_like(p)) for p in tm.parameters()}
    t_mask = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    g_mask = Transformer.generate_square_subsequent_mask(T, device=device, dtype="float64")
    rng = np.random.default_rng(0)
    for step in range(1, 4):
        idx = rng.integers(0, V, (B, T + 1))
        t_loss = torch.nn.functional.cross_entropy(tm(torch.tensor(idx[:, :-1]), t_mask).reshape(-1, V),
                                                   torch.tensor(idx[:, 1:]).reshape(-1))
        g_loss = F.cross_entropy(gm(gk.tensor(idx[:, :-1], device=device), g_mask).reshape(-1, V),
                                 gk.tensor(idx[:, 1:], device=device).reshape(-1))
        assert abs(t_loss.item() - g_loss.item()) < 1e-12
        tm.zero_grad()
        t_loss.backward()
        _adamw_step(torch, tm, t_state, step)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
    for name, p in gm.named_parameters():
        _close(p, dict(tm.named_parameters())[name], tol=1e-10)


@pytest.mark.parametrize("kinds", [("bool", "float"), ("float", "bool"), ("numpy_bool", "float"), ("bool", "bool")])
def test_mixed_mask_kinds_match_pytorch(device, kinds):
    """A key_padding_mask of one kind with an attn_mask of the other: both applied, as PyTorch (which warns that
    mixing them is deprecated); NumPy arrays are taken as masks on the query's device."""
    torch = pytest.importorskip("torch")
    L, S, N = 3, 4, 2
    torch.manual_seed(1)
    t = torch.nn.MultiheadAttention(D, H, batch_first=True).double()
    g = MultiheadAttention(D, H, batch_first=True, device=device, dtype="float64")
    g.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    rng = np.random.default_rng(2)
    masks = {}
    for name, kind, shape in (("key_padding_mask", kinds[0], (N, S)), ("attn_mask", kinds[1], (L, S))):
        m = rng.random(shape) < 0.4 if kind != "float" else rng.standard_normal(shape)
        if m.dtype == bool:
            m[..., 0] = False  # no fully masked query: PyTorch's weights would be NaN there
        masks[name] = m
    q, kv = _data(N, L, D), _data(N, S, D, seed=1)
    t_out, t_w = t(torch.tensor(q), torch.tensor(kv), torch.tensor(kv),
                   **{k: torch.tensor(m) for k, m in masks.items()})
    g_masks = {k: (m if kinds[0] == "numpy_bool" and k == "key_padding_mask" else gk.tensor(m, device=device))
               for k, m in masks.items()}
    g_out, g_w = g(_gk(q, device), *[_gk(kv, device)] * 2, **g_masks)
    _close(g_out, t_out)
    _close(g_w, t_w)


@pytest.mark.parametrize("shapes", [(1, 1, 1), (1, 1, 4), (2, 4, 1), (1, 3, 5)])
def test_batch_and_sequence_lengths_of_one_match_pytorch(device, shapes):
    torch = pytest.importorskip("torch")
    N, L, S = shapes
    torch.manual_seed(3)
    t = torch.nn.MultiheadAttention(D, H, kdim=3, vdim=5).double()
    g = MultiheadAttention(D, H, kdim=3, vdim=5, device=device, dtype="float64")
    g.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    arrays = (_data(L, N, D), _data(S, N, 3, seed=1), _data(S, N, 5, seed=2))
    mask = np.random.default_rng(4).standard_normal((L, S))
    tq, tk, tv, tm = (torch.tensor(a, requires_grad=True) for a in (*arrays, mask))
    gq, gk_, gv, gm = (_gk(a, device) for a in (*arrays, mask))
    t_out, t_w = t(tq, tk, tv, attn_mask=tm, average_attn_weights=False)
    g_out, g_w = g(gq, gk_, gv, attn_mask=gm, average_attn_weights=False)
    _close(g_out, t_out)
    _close(g_w, t_w)
    r = _data(*t_out.shape, seed=5)
    (t_out * torch.tensor(r)).sum().backward()
    (g_out * gk.tensor(r, device=device)).sum().backward()
    for a, b in ((gq, tq), (gk_, tk), (gv, tv), (gm, tm)):  # the float mask too: it is differentiable
        _close(a.grad, b.grad)


def test_self_attention_gradient_is_the_sum_over_query_key_and_value(device):
    """mha(x, x, x) (one tensor, the self-attention path) gives x the sum of the gradients that three separate
    copies get; first and second order checked by central differences."""
    gk.manual_seed(0)
    mha = MultiheadAttention(4, 2, device=device, dtype="float64")
    x = _gk(_data(3, 2, 4), device)
    copies = [_gk(_data(3, 2, 4), device) for _ in range(3)]
    kpm = gk.tensor(np.array([[False, False, True], [False, True, True]]), device=device)
    mask = _gk(_data(3, 3, seed=1), device)
    mha(x, x, x, key_padding_mask=kpm, attn_mask=mask)[0].sum().backward()
    mha(*copies, key_padding_mask=kpm, attn_mask=mask)[0].sum().backward()
    _close(x.grad, sum(c.grad.numpy() for c in copies))
    assert gk.gradcheck(lambda x, m: mha(x, x, x, key_padding_mask=kpm, attn_mask=m)[0], (x, mask))

    def grads(x, m):
        y = mha(x, x, x, key_padding_mask=kpm, attn_mask=m)[0]
        return gk.autograd.grad((y * y * y).sum(), (x, m), create_graph=True)

    assert gk.gradcheck(grads, (x, mask))


def test_float16_layers_and_module_to(device):
    """A float32 encoder layer moved to float16 computes in float16 (bool and float32 masks cast to it), close to
    the float32 result; its deep copy shares no storage with it."""
    gk.manual_seed(0)
    layer = TransformerEncoderLayer(D, H, 16, dropout=0.0, batch_first=True, device=device)
    half = copy.deepcopy(layer).to(dtype="float16")
    assert {p.dtype for p in half.parameters()} == {np.dtype("float16")}
    assert {p.dtype for p in layer.parameters()} == {np.dtype("float32")}
    for a, b in zip(layer.parameters(), half.parameters(), strict=True):
        assert a is not b and not np.shares_memory(a.numpy(), b.numpy())
    x = _data(2, T, D, dtype="float32")
    kpm = gk.tensor(np.array([[False] * T, [False] * (T - 1) + [True]]), device=device)
    mask = Transformer.generate_square_subsequent_mask(T, device=device)  # float32, cast to float16
    y32 = layer(gk.tensor(x, device=device), src_mask=mask, src_key_padding_mask=kpm)
    xh = gk.tensor(x.astype("float16"), device=device, requires_grad=True)
    y16 = half(xh, src_mask=mask, src_key_padding_mask=kpm)
    assert y16.dtype == np.float16
    np.testing.assert_allclose(y16.numpy().astype("float32"), y32.numpy(), atol=2e-2)
    y16.sum().backward()
    assert xh.grad.dtype == np.float16 and np.isfinite(xh.grad.numpy()).all()


def test_dropout_is_reproducible_with_manual_seed_and_off_in_eval(device):
    gk.manual_seed(0)
    enc = TransformerEncoder(TransformerEncoderLayer(D, H, 16, dropout=0.5, device=device), 2)
    x = gk.tensor(_data(T, 2, D, dtype="float32"), device=device)
    gk.manual_seed(7)
    a = enc(x).numpy()
    gk.manual_seed(7)
    b, c = enc(x).numpy(), enc(x).numpy()
    assert np.array_equal(a, b) and not np.array_equal(b, c)
    enc.eval()
    assert np.array_equal(enc(x).numpy(), enc(x).numpy())


def test_errors_name_the_layer_the_argument_and_what_was_expected(device):
    enc = TransformerEncoderLayer(4, 2, 8, batch_first=True, device=device)
    dec = TransformerDecoderLayer(4, 2, 8, device=device)
    x = gk.zeros((2, 3, 4), device=device)
    with pytest.raises(gk.ArgumentTypeError, match="TransformerEncoderLayer: src must be a Tensor, got list"):
        enc([[1.0] * 4] * 3)
    with pytest.raises(gk.ShapeError, match=r"TransformerEncoderLayer: expected src of shape \(N, L, d_model\) "
                       r"or unbatched \(L, d_model\) with d_model=4, got shape \(2, 3, 5\)"):
        enc(gk.zeros((2, 3, 5), device=device))
    with pytest.raises(gk.ShapeError, match=r"TransformerEncoderLayer: expected src .* got shape \(1, 2, 3, 4\)"):
        enc(gk.zeros((1, 2, 3, 4), device=device))
    with pytest.raises(gk.InvalidArgumentError, match="TransformerEncoderLayer: is_causal=True .* needs src_mask"):
        TransformerEncoder(enc, 1)(x, is_causal=True)
    with pytest.raises(gk.ArgumentTypeError, match="TransformerDecoderLayer: memory must be a Tensor, got None"):
        dec(gk.zeros((3, 2, 4), device=device), None)
    with pytest.raises(gk.ShapeError, match=r"TransformerDecoderLayer: expected memory of shape \(S, N, d_model\) "
                       r"\(the batch size and d_model=4 of tgt \(3, 2, 4\)\), got shape \(5, 3, 4\)"):
        dec(gk.zeros((3, 2, 4), device=device), gk.zeros((5, 3, 4), device=device))
    with pytest.raises(gk.InvalidArgumentError, match="TransformerDecoderLayer: memory_is_causal=True .* needs "
                       "memory_mask"):
        dec(gk.zeros((3, 2, 4), device=device), gk.zeros((5, 2, 4), device=device), memory_is_causal=True)
    mha = MultiheadAttention(4, 2, batch_first=True, device=device)
    for mask in (gk.zeros((3, 3), dtype="int64", device=device), np.zeros((3, 3), dtype=np.int32)):
        with pytest.raises(gk.DTypeError, match="MultiheadAttention: attn_mask must be a bool or float tensor, "
                           "got dtype int"):
            mha(x, x, x, attn_mask=mask)
    weird = type("Mask", (), {"shape": (3, 3), "dtype": "bfloat16"})()  # a dtype NumPy does not know
    with pytest.raises(gk.DTypeError, match="MultiheadAttention: attn_mask must be a bool or float tensor, got dtype "
                       "bfloat16"):
        mha(x, x, x, attn_mask=weird)
    with pytest.raises(gk.DTypeError, match="TransformerEncoderLayer: src_key_padding_mask must be a bool or float"):
        enc(x, src_key_padding_mask=np.zeros((2, 3), dtype=np.int64))


def test_a_mask_on_another_device_is_named(device):
    if device != "cuda":
        pytest.skip("needs a second device")
    mha = MultiheadAttention(4, 2, batch_first=True, device=device)
    x = gk.zeros((2, 3, 4), device=device)
    with pytest.raises(gk.DeviceError, match="MultiheadAttention: attn_mask is on cpu, the query on cuda"):
        mha(x, x, x, attn_mask=gk.zeros((3, 3), device="cpu"))
    with pytest.raises(gk.DeviceError, match="scaled_dot_product_attention: attn_mask is on cpu, the query on cuda"):
        scaled_dot_product_attention(x, x, x, attn_mask=gk.zeros((3, 3), device="cpu"))


def test_no_host_reads_for_causal_grouped_and_float_masks(device, monkeypatch):
    """On the emulated CuPy: sdpa with is_causal and enable_gqa, float and bool masks together, kdim/vdim."""
    from _host_reads import refuse_host_reads

    gk.manual_seed(0)
    mha = MultiheadAttention(4, 2, kdim=3, vdim=5, dropout=0.2, device=device, dtype="float64")
    q, k, v = _gk(_data(1, 4, 3, 2), device), _gk(_data(1, 2, 5, 2, seed=1), device), _gk(_data(1, 2, 5, 2), device)
    x, kx, vx = _gk(_data(3, 2, 4), device), _gk(_data(5, 2, 3), device), _gk(_data(5, 2, 5), device)
    float_mask = _gk(_data(3, 5, seed=2), device)
    kpm = gk.tensor(np.array([[False] * 5, [True] * 5]), device=device)  # the second sequence: no key at all
    refuse_host_reads(device, monkeypatch)
    a = scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    b = scaled_dot_product_attention(q, k, v, attn_mask=float_mask, enable_gqa=True, scale=0.5)
    out, w = mha(x, kx, vx, key_padding_mask=kpm, attn_mask=float_mask)
    (a.sum() + (b * b).sum() + out.sum() + w.sum()).backward()
    monkeypatch.undo()
    for t in (q, k, v, x, kx, vx, float_mask):
        assert np.isfinite(t.grad.numpy()).all()
    assert not math.isnan(float(out.sum().item()))
