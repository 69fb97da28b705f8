"""Transformer encoder and decoder layers, their stacks and nn.Transformer: PyTorch's outputs and gradients of every
parameter (its weights copied in), norm_first both ways, relu/gelu/callable activations, masks, unbatched inputs,
deep copies, state dicts both ways, dropout in training and eval, finite-difference checks, errors."""

from __future__ import annotations

import numpy as np
import pytest
from _arrays import as_tensor as _gk
from _arrays import close as _close
from _arrays import data as _data

import gradkit as gk
from gradkit.nn import functional as F
from gradkit.nn.layers import LayerNorm
from gradkit.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),  # PyTorch's, for norm_first stacks
    pytest.mark.filterwarnings("ignore:Support for mismatched"),
]

D, NHEAD, FF, T, S, N = 4, 2, 6, 3, 4, 2
CLASSES = {"TransformerEncoderLayer": TransformerEncoderLayer, "TransformerDecoderLayer": TransformerDecoderLayer}


def _load(torch, t, g) -> None:
    """Random (non-zero) biases and norm weights in ``t``, then ``t``'s state dict into ``g``."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in t.named_parameters():
            if p.ndim == 1:
                p.normal_(1.0 if "norm" in name and name.endswith("weight") else 0.0, 0.3)
    assert list(g.state_dict()) == list(t.state_dict())
    g.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})


def _compare(torch, t, g, t_args, g_args, t_kw, g_kw, leaves) -> None:
    to, go = t(*t_args, **t_kw), g(*g_args, **g_kw)
    _close(go, to)
    r = _data(*to.shape, seed=9)
    (to * torch.tensor(r)).sum().backward()
    (go * gk.tensor(r, device=go.device)).sum().backward()
    for a, b in leaves:
        _close(a.grad, b.grad)
    tp = dict(t.named_parameters())
    for name, p in g.named_parameters():
        _close(p.grad, tp[name].grad)


def _seq(batched: bool, batch_first: bool, length: int, seed: int) -> np.ndarray:
    if not batched:
        return _data(length, D, seed=seed)
    return _data(N, length, D, seed=seed) if batch_first else _data(length, N, D, seed=seed)


LAYER_CASES = {
    "post_norm_relu": ({}, True),
    "pre_norm_gelu_batch_first": ({"norm_first": True, "activation": "gelu", "batch_first": True}, True),
    "pre_norm_callable_no_bias": ({"norm_first": True, "bias": False, "activation": "silu"}, True),
    "unbatched_gelu": ({"activation": "gelu"}, False),
}


def _activation(torch, kw: dict) -> tuple[dict, dict]:
    t_kw, g_kw = dict(kw), dict(kw)
    if kw.get("activation") == "silu":  # a callable
        t_kw["activation"], g_kw["activation"] = torch.nn.functional.silu, F.silu
    return t_kw, g_kw


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_encoder_layer_matches_pytorch(device, case):
    torch = pytest.importorskip("torch")
    kw, batched = LAYER_CASES[case]
    t_kw, g_kw = _activation(torch, kw)
    t = torch.nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, **t_kw).double()
    g = TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, **g_kw, device=device, dtype="float64")
    _load(torch, t, g)
    x = _seq(batched, kw.get("batch_first", False), T, 0)
    tx, gx = torch.tensor(x, requires_grad=True), _gk(x, device)
    causal = Transformer.generate_square_subsequent_mask(T, device=device, dtype="float64")
    kpm = np.zeros((N, T), bool) if batched else np.zeros(T, bool)
    kpm[..., -1] = True
    _compare(torch, t, g, (tx,), (gx,),
             {"src_mask": torch.tensor(causal.numpy()), "src_key_padding_mask": torch.tensor(kpm), "is_causal": True},
             {"src_mask": causal, "src_key_padding_mask": gk.tensor(kpm, device=device), "is_causal": True},
             [(gx, tx)])


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_decoder_layer_matches_pytorch(device, case):
    torch = pytest.importorskip("torch")
    kw, batched = LAYER_CASES[case]
    t_kw, g_kw = _activation(torch, kw)
    t = torch.nn.TransformerDecoderLayer(D, NHEAD, FF, dropout=0.0, **t_kw).double()
    g = TransformerDecoderLayer(D, NHEAD, FF, dropout=0.0, **g_kw, device=device, dtype="float64")
    _load(torch, t, g)
    bf = kw.get("batch_first", False)
    tgt, mem = _seq(batched, bf, T, 0), _seq(batched, bf, S, 1)
    leaves = [(torch.tensor(a, requires_grad=True), _gk(a, device)) for a in (tgt, mem)]
    causal = np.triu(np.full((T, T), -np.inf), 1)
    mem_mask = np.random.default_rng(2).random((T, S)) < 0.3
    mem_mask[:, 0] = False
    mkpm = np.random.default_rng(3).standard_normal((N, S) if batched else (S,))
    _compare(torch, t, g, [a for a, _ in leaves], [b for _, b in leaves],
             {"tgt_mask": torch.tensor(causal), "memory_mask": torch.tensor(mem_mask),
              "memory_key_padding_mask": torch.tensor(mkpm), "tgt_is_causal": True},
             {"tgt_mask": gk.tensor(causal, device=device), "memory_mask": gk.tensor(mem_mask, device=device),
              "memory_key_padding_mask": gk.tensor(mkpm, device=device), "tgt_is_causal": True},
             [(b, a) for a, b in leaves])


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_stacks_and_transformer_match_pytorch(device, norm_first):
    torch = pytest.importorskip("torch")
    t = torch.nn.Transformer(D, NHEAD, 2, 2, FF, dropout=0.0, norm_first=norm_first, batch_first=True).double()
    g = Transformer(D, NHEAD, 2, 2, FF, dropout=0.0, norm_first=norm_first, batch_first=True, device=device,
                    dtype="float64")
    _load(torch, t, g)
    src, tgt = _data(N, S, D), _data(N, T, D, seed=1)
    leaves = [(torch.tensor(a, requires_grad=True), _gk(a, device)) for a in (src, tgt)]
    skpm = np.zeros((N, S), bool)
    skpm[0, -1] = True
    tgt_mask = Transformer.generate_square_subsequent_mask(T, dtype="float64").numpy()
    masks = {"tgt_mask": tgt_mask, "src_key_padding_mask": skpm, "memory_key_padding_mask": skpm}
    _compare(torch, t, g, [a for a, _ in leaves], [b for _, b in leaves],
             {k: torch.tensor(v) for k, v in masks.items()},
             {k: gk.tensor(v, device=device) for k, v in masks.items()}, [(b, a) for a, b in leaves])


def test_encoder_and_decoder_stacks_deep_copy_the_layer(device):
    torch = pytest.importorskip("torch")
    layer = TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, device=device, dtype="float64")
    enc = TransformerEncoder(layer, 3, norm=LayerNorm(D, device=device, dtype="float64"))
    assert enc.num_layers == 3 and len(enc.layers) == 3
    ws = [m.self_attn.in_proj_weight for m in enc.layers]
    assert len({id(w) for w in ws}) == 3 and all(w is not layer.self_attn.in_proj_weight for w in ws)
    np.testing.assert_array_equal(ws[0].numpy(), ws[2].numpy())
    t_enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0), 3,
                                        norm=torch.nn.LayerNorm(D), enable_nested_tensor=False).double()
    assert list(enc.state_dict()) == list(t_enc.state_dict())
    t_enc.load_state_dict({k: torch.tensor(v.numpy()) for k, v in enc.state_dict().items()})  # gradkit -> PyTorch
    x = _data(T, N, D)
    causal = np.triu(np.full((T, T), -np.inf), 1)
    _close(enc(gk.tensor(x, device=device), mask=gk.tensor(causal, device=device), is_causal=True),
           t_enc(torch.tensor(x), mask=torch.tensor(causal), is_causal=True))
    dec = TransformerDecoder(TransformerDecoderLayer(D, NHEAD, FF, dropout=0.0, device=device, dtype="float64"), 2)
    t_dec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, NHEAD, FF, dropout=0.0), 2).double()
    t_dec.load_state_dict({k: torch.tensor(v.numpy()) for k, v in dec.state_dict().items()})
    mem = _data(S, N, D, seed=1)
    _close(dec(gk.tensor(x, device=device), gk.tensor(mem, device=device)),
           t_dec(torch.tensor(x), torch.tensor(mem)))


def test_generate_square_subsequent_mask_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    m = Transformer.generate_square_subsequent_mask(4, device=device)
    assert m.dtype == gk.float32 and m.device == gk.tensor(0.0, device=device).device
    np.testing.assert_array_equal(m.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    assert Transformer.generate_square_subsequent_mask(0).shape == (0, 0)


def test_transformer_init_and_repr(device):
    gk.manual_seed(0)
    m = Transformer(8, 2, 1, 1, 16, device=device)
    names = dict(m.named_parameters())
    assert "encoder.norm.weight" in names and "decoder.layers.0.multihead_attn.in_proj_weight" in names
    bound = np.sqrt(6 / (16 + 8))  # xavier_uniform on linear1 (16, 8), as PyTorch re-initialises every matrix
    w = names["encoder.layers.0.linear1.weight"].numpy()
    assert np.abs(w).max() <= bound and w.std() > bound / 3
    assert np.all(names["encoder.layers.0.self_attn.in_proj_bias"].numpy() == 0)
    assert "TransformerEncoderLayer" in repr(m) and "(self_attn): MultiheadAttention" in repr(m)


def test_dropout_in_training_and_determinism_in_eval(device):
    gk.manual_seed(0)
    layer = TransformerEncoderLayer(D, NHEAD, FF, dropout=0.5, batch_first=True, device=device, dtype="float64")
    x = _gk(_data(N, T, D), device)
    a, b = layer(x), layer(x)
    assert a.shape == (N, T, D) and not np.allclose(a.numpy(), b.numpy())
    a.sum().backward()
    assert all(np.isfinite(p.grad.numpy()).all() for p in layer.parameters())
    layer.eval()
    a, b = layer(x).numpy(), layer(x).numpy()
    np.testing.assert_array_equal(a, b)
    plain = TransformerEncoderLayer(D, NHEAD, FF, dropout=0.0, batch_first=True, device=device, dtype="float64")
    plain.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(plain(x).numpy(), a, atol=1e-12)


def test_gradcheck_layers_first_and_second_order(device):
    gk.manual_seed(0)
    enc = TransformerEncoderLayer(4, 2, 3, dropout=0.0, activation="gelu", device=device, dtype="float64")
    dec = TransformerDecoderLayer(4, 2, 3, dropout=0.0, norm_first=True, device=device, dtype="float64")
    x, mem = _gk(_data(2, 1, 4), device), _gk(_data(3, 1, 4, seed=1), device)
    causal = Transformer.generate_square_subsequent_mask(2, device=device, dtype="float64")
    assert gk.gradcheck(lambda x: enc(x, src_mask=causal), (x,))
    assert gk.gradcheck(lambda x, m: dec(x, m, tgt_mask=causal), (x, mem))

    def grads(x):
        y = enc(x)
        return gk.autograd.grad((y * y * y).sum(), (x,), create_graph=True)

    assert gk.gradcheck(grads, (x,))


def test_no_host_reads_in_forward_or_backward(device, monkeypatch):
    """On the emulated CuPy every host read of a device array fails: masks stay on the device."""
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("counts the emulated CuPy's host reads (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    from gradkit.nn.attention import MultiheadAttention, scaled_dot_product_attention

    gk.manual_seed(0)
    enc = TransformerEncoderLayer(D, NHEAD, FF, dropout=0.1, batch_first=True, device=device, dtype="float64")
    dec = TransformerDecoderLayer(D, NHEAD, FF, dropout=0.1, norm_first=True, device=device, dtype="float64")
    mha = MultiheadAttention(D, NHEAD, add_bias_kv=True, add_zero_attn=True, device=device, dtype="float64")
    x, mem = _gk(_data(N, T, D), device), _gk(_data(S, N, D, seed=1), device)
    kpm = gk.tensor(np.array([[False, False, True], [True, True, True]]), device=device)
    causal = Transformer.generate_square_subsequent_mask(T, device=device, dtype="float64")
    mem_kpm = gk.tensor(np.array([[False] * S, [True] * S]), device=device)  # the second sequence: no key at all
    mem_mask = gk.tensor(np.eye(S, dtype=bool), device=device)

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    y = enc(x, src_mask=causal, src_key_padding_mask=kpm, is_causal=True)
    z = dec(mem, mem, tgt_mask=gk.tensor(np.triu(np.ones((S, S), bool), 1), device=device))
    out, w = mha(z, mem, mem, key_padding_mask=mem_kpm, attn_mask=mem_mask)
    a = scaled_dot_product_attention(x, x, x, attn_mask=~kpm[:, None, :], dropout_p=0.5)
    ((y * y).sum() + out.sum() + w.sum() + a.sum()).backward()
    monkeypatch.undo()
    assert np.isfinite(x.grad.numpy()).all() and np.isfinite(mem.grad.numpy()).all()


def test_errors(device):
    for cls in CLASSES.values():
        with pytest.raises(gk.InvalidArgumentError, match=f"{cls.__name__}: d_model must be divisible by nhead, "
                                                          "got d_model=6 and nhead=4"):
            cls(6, 4)
        with pytest.raises(gk.InvalidArgumentError, match=f"{cls.__name__}: activation should be 'relu' or 'gelu'"):
            cls(4, 2, activation="tanh")
        with pytest.raises(gk.ArgumentTypeError, match=f"{cls.__name__}: activation must be"):
            cls(4, 2, activation=3)
    with pytest.raises(gk.InvalidArgumentError, match="Transformer: d_model must be divisible"):
        Transformer(6, 4)
    layer = TransformerEncoderLayer(D, NHEAD, FF, device=device)
    x = _gk(_data(T, N, D, dtype="float32"), device)
    with pytest.raises(gk.ShapeError, match=r"TransformerEncoderLayer: src_mask must have shape \(3, 3\) or "
                                            r"\(4, 3, 3\) \(N \* num_heads, L, S\), got \(3, 4\)"):
        layer(x, src_mask=gk.tensor(np.zeros((T, T + 1), bool), device=device))
    with pytest.raises(gk.DTypeError, match="TransformerEncoderLayer: src_key_padding_mask must be a bool or float "
                                            "tensor, got dtype int32"):
        layer(x, src_key_padding_mask=gk.tensor(np.zeros((N, T), np.int32), device=device))
    dec = TransformerDecoderLayer(D, NHEAD, FF, batch_first=True, device=device)
    tgt, mem = _gk(_data(N, T, D, dtype="float32"), device), _gk(_data(N, S, D, dtype="float32"), device)
    with pytest.raises(gk.ShapeError, match=r"TransformerDecoderLayer: memory_key_padding_mask must have shape "
                                            r"\(2, 4\) \(\(N, S\)\), got \(2, 3\)"):
        dec(tgt, mem, memory_key_padding_mask=gk.tensor(np.zeros((N, T), bool), device=device))
    with pytest.raises(gk.ShapeError, match=r"TransformerDecoderLayer: tgt_mask must have shape \(3, 3\)"):
        dec(tgt, mem, tgt_mask=gk.tensor(np.zeros((T, S)), device=device))
    with pytest.raises(gk.InvalidArgumentError, match="TransformerEncoderLayer: is_causal=True .* needs src_mask"):
        layer(x, is_causal=True)
    with pytest.raises(gk.ArgumentTypeError, match="TransformerEncoder: expected a Module to copy"):
        TransformerEncoder("layer", 2)
    model = Transformer(D, NHEAD, 1, 1, FF, device=device)
    with pytest.raises(gk.ShapeError, match="Transformer: the batch number of src"):
        model(_gk(_data(S, N, D, dtype="float32"), device), _gk(_data(T, N + 1, D, dtype="float32"), device))
    with pytest.raises(gk.ShapeError, match=r"Transformer: the feature number .* d_model \(4\)"):
        model(_gk(_data(S, N, 5, dtype="float32"), device), _gk(_data(T, N, 5, dtype="float32"), device))
