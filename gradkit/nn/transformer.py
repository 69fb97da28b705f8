"""Transformer layers with PyTorch 2's arguments, defaults, submodule names and state-dict keys:
``TransformerEncoderLayer``, ``TransformerEncoder``, ``TransformerDecoderLayer``, ``TransformerDecoder`` and
``Transformer`` (with its static ``generate_square_subsequent_mask``).

Built from ``MultiheadAttention``, ``Linear``, ``LayerNorm`` and ``Dropout``, so gradients of any order come
from gradkit's operations. PyTorch's fast paths (nested tensors, its fused encoder kernel) are not copied; the
results are those of PyTorch's ordinary path, which the fast path matches except that in eval mode it may give
zeros, not values, at padded positions. The ``is_causal`` arguments are hints that the mask given is causal
(as PyTorch); gradkit applies the mask given either way, and never reads a mask back to check it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from gradkit._args import flag, real, whole
from gradkit.creation import full
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError, describe
from gradkit.nn import functional as F
from gradkit.nn import init
from gradkit.nn.attention import MultiheadAttention, _check_masks
from gradkit.nn.layers import Dropout, LayerNorm, Linear, ModuleList
from gradkit.nn.module import Module
from gradkit.ops.linalg import triu
from gradkit.tensor import Tensor

__all__ = [
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]


def _square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
    """A (sz, sz) float mask with -inf above the diagonal and 0 elsewhere: position i attends to 0..i."""
    sz = whole(sz, "generate_square_subsequent_mask", "sz", low=0)
    return triu(full((sz, sz), -math.inf, dtype=dtype, device=device), 1)


def _activation(value: Any, layer: str) -> Callable:
    if isinstance(value, str):
        if value == "relu":
            return F.relu
        if value == "gelu":
            return F.gelu
        raise InvalidArgumentError(f"{layer}: activation should be 'relu' or 'gelu' (or a callable), got {value!r}")
    if not callable(value):
        raise ArgumentTypeError(f"{layer}: activation must be 'relu', 'gelu' or a callable, got "
                                f"{type(value).__name__} {value!r:.40}")
    return value


def _check_sizes(layer: str, d_model: Any, nhead: Any, dim_feedforward: Any, dropout: Any,
                 layer_norm_eps: Any) -> tuple[int, int, int, float, float]:
    d_model = whole(d_model, layer, "d_model", low=1)
    nhead = whole(nhead, layer, "nhead", low=1)
    if d_model % nhead:
        raise InvalidArgumentError(f"{layer}: d_model must be divisible by nhead, got d_model={d_model} and "
                                   f"nhead={nhead}")
    dim_feedforward = whole(dim_feedforward, layer, "dim_feedforward", low=1)
    dropout = real(dropout, layer, "dropout", low=0.0)
    if dropout > 1:
        raise InvalidArgumentError(f"{layer}: dropout must be a probability in [0, 1], got {dropout!r}")
    return d_model, nhead, dim_feedforward, dropout, real(layer_norm_eps, layer, "layer_norm_eps", low=0.0,
                                                                 low_open=True)


_LINEAR_FORWARD = Linear.forward


def _plain(m: Any) -> bool:
    """Whether ``m`` is a Linear running the library's own forward without hooks, so that ``F.linear`` may run
    in its place and a relu after it fuse with it into one node (``F.linear_relu``)."""
    return (type(m) is Linear and Linear.forward is _LINEAR_FORWARD and "forward" not in m.__dict__
            and not m._has_hooks)


def _check_layer_inputs(layer: Module, attn: Any, x: Any, mem: Any, attn_mask: Any, key_padding_mask: Any,
                        is_causal: Any, names: tuple[str, str, str, str, str]) -> None:
    """The inputs' kinds and shapes and the masks' shapes and dtypes (metadata only), named as the layer's
    arguments (``names``: the query's, the key's, the mask's, the padding mask's and the causal hint's);
    ``MultiheadAttention`` checks them again, under its own names."""
    if not isinstance(attn, MultiheadAttention):  # a replaced submodule checks its own inputs
        return
    op = type(layer).__name__
    x_name, mem_name, mask_name, kpm_name, causal_name = names
    for name, t in ((x_name, x), (mem_name, mem)):
        if getattr(t, "shape", None) is None or isinstance(t, (str, bytes)):
            raise ArgumentTypeError(f"{op}: {name} must be a Tensor, got {describe(t)}")
    shape, mshape, d = tuple(x.shape), tuple(mem.shape), attn.embed_dim
    batched = len(shape) == 3
    layout = "(N, L, d_model)" if attn.batch_first else "(L, N, d_model)"
    if len(shape) not in (2, 3) or shape[-1] != d:
        raise ShapeError(f"{op}: expected {x_name} of shape {layout} or unbatched (L, d_model) with d_model={d}, "
                         f"got shape {shape}")
    seq = 1 if attn.batch_first and batched else 0
    if mem is not x and (len(mshape) != len(shape) or mshape[-1] != d
                         or (batched and mshape[1 - seq] != shape[1 - seq])):
        expected = layout.replace("L", "S") if batched else "(S, d_model)"
        raise ShapeError(f"{op}: expected {mem_name} of shape {expected} (the batch size and d_model={d} of "
                         f"{x_name} {shape}), got shape {mshape}")
    if flag(is_causal, op, causal_name) and attn_mask is None:
        raise InvalidArgumentError(f"{op}: {causal_name}=True is a hint that {mask_name} is the causal mask, and "
                                   f"needs {mask_name} (as PyTorch); pass "
                                   f"nn.Transformer.generate_square_subsequent_mask(L) as {mask_name}")
    if attn_mask is None and key_padding_mask is None:
        return
    n = shape[1 - seq] if batched else 1
    _check_masks(op, batched, n, attn.num_heads, shape[seq], mshape[seq], attn_mask, key_padding_mask,
                 (mask_name, kpm_name))


class _FeedForward:
    """The feed-forward block shared by the encoder and decoder layers (a mixin over their submodules)."""

    linear1: Linear
    linear2: Linear
    dropout: Dropout
    activation: Callable

    def _ff_block(self, x: Tensor, dropout: Dropout) -> Tensor:
        lin1, lin2 = self.linear1, self.linear2
        if not _plain(lin1):
            h = self.activation(lin1(x))
        elif self.activation is F.relu:
            h = F.linear_relu(x, lin1.weight, lin1.bias)  # one fused node
        else:
            h = self.activation(F.linear(x, lin1.weight, lin1.bias))
        h = self.dropout(h)
        return dropout(F.linear(h, lin2.weight, lin2.bias) if _plain(lin2) else lin2(h))


def _set_common(module: Module, layer: str, d_model: int, dim_feedforward: int, dropout: float, activation: Any,
                layer_norm_eps: float, norm_first: Any, bias: bool, norms: int, kw: dict) -> None:
    module.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
    module.dropout = Dropout(dropout)
    module.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
    module.norm_first = flag(norm_first, layer, "norm_first")
    for i in range(1, norms + 1):
        setattr(module, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
    for i in range(1, norms + 1):
        setattr(module, f"dropout{i}", Dropout(dropout))
    module.activation = _activation(activation, layer)


class TransformerEncoderLayer(_FeedForward, Module):
    """Self-attention and a feed-forward block, each with a residual connection and a LayerNorm (PyTorch's).

    ``norm_first=False``: ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``; ``norm_first=True``:
    ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``. ``activation`` is "relu", "gelu" or a callable. Submodules
    ``self_attn, linear1, dropout, linear2, norm1, norm2, dropout1, dropout2`` (PyTorch's state-dict keys).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        layer = "TransformerEncoderLayer"
        d_model, nhead, dim_feedforward, dropout, layer_norm_eps = _check_sizes(
            layer, d_model, nhead, dim_feedforward, dropout, layer_norm_eps)
        kw = {"device": device, "dtype": dtype}
        bias = flag(bias, layer, "bias")
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        _set_common(self, layer, d_model, dim_feedforward, dropout, activation, layer_norm_eps, norm_first, bias, 2,
                    kw)

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        """``src`` (S, N, E), (N, S, E) with ``batch_first``, or (S, E); masks as ``MultiheadAttention``'s
        ``attn_mask`` and ``key_padding_mask`` (bool: True where attention is not allowed)."""
        _check_layer_inputs(self, self.self_attn, src, src, src_mask, src_key_padding_mask, is_causal,
                            ("src", "src", "src_mask", "src_key_padding_mask", "is_causal"))
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x), self.dropout2)
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x, self.dropout2))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        out = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                             is_causal=is_causal)[0]
        return self.dropout1(out)


class TransformerDecoderLayer(_FeedForward, Module):
    """Self-attention, attention over ``memory`` and a feed-forward block, each with a residual connection and a
    LayerNorm (PyTorch's; ``norm_first`` as in ``TransformerEncoderLayer``). Submodules ``self_attn,
    multihead_attn, linear1, dropout, linear2, norm1, norm2, norm3, dropout1, dropout2, dropout3``."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        layer = "TransformerDecoderLayer"
        d_model, nhead, dim_feedforward, dropout, layer_norm_eps = _check_sizes(
            layer, d_model, nhead, dim_feedforward, dropout, layer_norm_eps)
        kw = {"device": device, "dtype": dtype}
        bias = flag(bias, layer, "bias")
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, **kw)
        _set_common(self, layer, d_model, dim_feedforward, dropout, activation, layer_norm_eps, norm_first, bias, 3,
                    kw)

    def forward(self, tgt: Any, memory: Any, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        """``tgt`` (T, N, E) and ``memory`` (S, N, E) ((N, T, E), (N, S, E) with ``batch_first``; or unbatched)."""
        _check_layer_inputs(self, self.self_attn, tgt, tgt, tgt_mask, tgt_key_padding_mask, tgt_is_causal,
                            ("tgt", "tgt", "tgt_mask", "tgt_key_padding_mask", "tgt_is_causal"))
        _check_layer_inputs(self, self.multihead_attn, tgt, memory, memory_mask, memory_key_padding_mask,
                            memory_is_causal, ("tgt", "memory", "memory_mask", "memory_key_padding_mask",
                                               "memory_is_causal"))
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            return x + self._ff_block(self.norm3(x), self.dropout3)
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
        return self.norm3(x + self._ff_block(x, self.dropout3))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        out = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                             is_causal=is_causal)[0]
        return self.dropout1(out)

    def _mha_block(self, x: Tensor, mem: Any, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        out = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                  need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(out)


def _clones(module: Any, num_layers: Any, layer: str, kind: type) -> ModuleList:
    if not isinstance(module, kind):
        raise ArgumentTypeError(f"{layer}: expected a {kind.__name__} to copy, got {type(module).__name__}")
    num_layers = whole(num_layers, layer, "num_layers", low=0)
    return ModuleList([copy.deepcopy(module) for _ in range(num_layers)])


def _norm(norm: Any, layer: str) -> Any:
    if norm is not None and not isinstance(norm, Module):
        raise ArgumentTypeError(f"{layer}: norm must be a Module (a LayerNorm) or None, got {type(norm).__name__}")
    return norm


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...), then ``norm`` if given.

    ``enable_nested_tensor`` and ``mask_check`` are accepted for PyTorch's signature; gradkit has no nested
    tensors and never reads a mask back to check it.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers, "TransformerEncoder", Module)
        self.num_layers = len(self.layers)
        self.norm = _norm(norm, "TransformerEncoder")
        self.enable_nested_tensor = flag(enable_nested_tensor, "TransformerEncoder", "enable_nested_tensor")
        self.mask_check = flag(mask_check, "TransformerEncoder", "mask_check")

    def forward(self, src: Any, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        """Each layer in turn with ``src_mask=mask`` (``is_causal=None`` counts as False: a hint only)."""
        causal = flag(is_causal, "TransformerEncoder", "is_causal") if is_causal is not None else False
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=causal)
        return self.norm(out) if self.norm is not None else out


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` (``layers.0``, ...), then ``norm`` if given."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers, "TransformerDecoder", Module)
        self.num_layers = len(self.layers)
        self.norm = _norm(norm, "TransformerDecoder")

    def forward(self, tgt: Any, memory: Any, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        causal = flag(tgt_is_causal, "TransformerDecoder", "tgt_is_causal") if tgt_is_causal is not None else False
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                        tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                        tgt_is_causal=causal, memory_is_causal=memory_is_causal)
        return self.norm(out) if self.norm is not None else out


class Transformer(Module):
    """PyTorch's ``nn.Transformer``: a ``TransformerEncoder`` (``encoder``, with a final LayerNorm ``encoder.norm``)
    and a ``TransformerDecoder`` (``decoder``, with ``decoder.norm``); every parameter with more than one axis is
    re-initialised xavier-uniform, as PyTorch. ``custom_encoder``/``custom_decoder`` replace either.

    ``forward(src, tgt, ...)`` returns the decoder's output, shaped as ``tgt``.
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation: str | Callable = "relu",
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        layer = "Transformer"
        d_model, nhead, dim_feedforward, dropout, layer_norm_eps = _check_sizes(
            layer, d_model, nhead, dim_feedforward, dropout, layer_norm_eps)
        kw = {"device": device, "dtype": dtype}
        args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(*args, **kw), num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(*args, **kw), num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = flag(batch_first, layer, "batch_first")

    def forward(self, src: Any, tgt: Any, src_mask: Any = None, tgt_mask: Any = None, memory_mask: Any = None,
                src_key_padding_mask: Any = None, tgt_key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        src_shape, tgt_shape = getattr(src, "shape", None), getattr(tgt, "shape", None)
        if src_shape is None or tgt_shape is None:
            raise ArgumentTypeError(f"Transformer: src and tgt must be Tensors, got {type(src).__name__} and "
                                    f"{type(tgt).__name__}")
        src_shape, tgt_shape = tuple(src_shape), tuple(tgt_shape)
        if len(src_shape) == 3 and len(tgt_shape) == 3:
            axis = 0 if self.batch_first else 1
            if src_shape[axis] != tgt_shape[axis]:
                raise ShapeError(f"Transformer: the batch number of src {src_shape} and tgt {tgt_shape} must be "
                                 f"equal (axis {axis}{', batch_first' if self.batch_first else ''})")
        if src_shape[-1:] != (self.d_model,) or tgt_shape[-1:] != (self.d_model,):
            raise ShapeError(f"Transformer: the feature number of src {src_shape} and tgt {tgt_shape} must be equal "
                             f"to d_model ({self.d_model})")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """A (sz, sz) float mask with -inf above the diagonal and 0 elsewhere (float32 unless ``dtype``)."""
        return _square_subsequent_mask(sz, device, dtype)

