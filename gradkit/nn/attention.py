"""Attention: ``F.scaled_dot_product_attention``, ``F.multi_head_attention_forward`` and ``nn.MultiheadAttention``,
with PyTorch 2's arguments, defaults, shapes, parameter names and initialisation.

Everything is built from gradkit operations (``F.linear``, ``matmul``, ``softmax``, ``where``, ``dropout``), so
gradients of any order and the CuPy backend come from their rules. Masks stay on the device: a bool mask
becomes an additive one of 0 and -inf with an array ``where``, and nothing is read back to the host.

Masks, as PyTorch. In ``scaled_dot_product_attention`` a bool ``attn_mask`` is True where a query may attend
to a key. In ``MultiheadAttention`` (and the Transformer layers) a bool ``attn_mask`` or ``key_padding_mask``
is True where attention is NOT allowed. Float masks are added to the scores in both.

A query whose every key is masked (a row of the scores all -inf) gets zero attention weights, so a zero
output (before ``out_proj``'s bias) and zero gradients, never NaN: PyTorch's ``scaled_dot_product_attention``
does the same; its ``MultiheadAttention`` with ``need_weights=True`` gives NaN there.
"""

from __future__ import annotations

import contextlib
import enum
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.creation import empty
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError, describe
from gradkit.nn import functional as F
from gradkit.nn import init
from gradkit.nn.layers import Linear
from gradkit.nn.module import Module
from gradkit.nn.parameter import Parameter
from gradkit.ops._util import as_tensor
from gradkit.tensor import Tensor

__all__ = ["MultiheadAttention", "SDPBackend", "multi_head_attention_forward", "scaled_dot_product_attention",
           "sdpa_kernel"]

_make = Tensor._make


# ------------------------------------------------------------------ shared pieces
def _operand(x: Any, op: str, name: str, backend: Any = None) -> Tensor:
    """``x`` (a query, key or value) as a float Tensor on ``backend``."""
    if x is None or isinstance(x, (tuple, list, str, bytes, bool, int, float)):
        raise ArgumentTypeError(f"{op}: {name} must be a Tensor, got {describe(x)}")
    t = as_tensor(x, op, backend) if not isinstance(x, Tensor) else x
    if backend is not None and t._backend is not backend:
        raise DeviceError(f"{op}: {name} is on {t.device}, the other operands on {backend.device}; move them to one")
    if t.dtype.kind != "f":
        raise DTypeError(f"{op}: {name} must be a float tensor, got dtype {t.dtype}")
    return t


def _mask(mask: Any, op: str, name: str, like: Tensor, true_masks: bool) -> Tensor:
    """``mask`` as an additive float mask of ``like``'s dtype: a constant of 0 and -inf for a bool mask (-inf where
    True when ``true_masks``, else where False), the mask itself (cast, still differentiable) for a float one."""
    if isinstance(mask, (tuple, list, str, bytes, bool, int, float)):
        raise ArgumentTypeError(f"{op}: {name} must be a bool or float Tensor, got {describe(mask)}")
    if isinstance(mask, Tensor) and mask._backend is not like._backend:
        raise DeviceError(f"{op}: {name} is on {mask.device}, the query on {like.device}; move it to the query's "
                          "device")
    m = as_tensor(mask, op, like._backend)
    kind = m.dtype.kind
    if kind == "b":
        xp = like._backend.xp
        data = m._data if true_masks else ~m._data
        scalar = like.dtype.type  # scalars: kernel arguments on CuPy, no host-to-device copy
        return _make(xp.where(data, scalar(-math.inf), scalar(0)).astype(like.dtype, copy=False), like._backend)
    if kind != "f":
        raise DTypeError(f"{op}: {name} must be a bool or float tensor, got dtype {m.dtype}")
    return m if m.dtype == like.dtype else ops.astype(m, like.dtype)


def _attend(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None, dropout_p: float, scale: float,
            need_weights: bool) -> tuple[Tensor, Tensor | None]:
    """``softmax(q k^T * scale + bias) v`` over the last two axes, with dropout on the weights.

    Rows of ``bias`` that are all -inf (a query with no key to attend to) are set to 0 before the softmax, and
    their weights (so their output) to 0 after it: zeros and zero gradients where a plain softmax gives NaN.
    """
    scores = ops.matmul(q * scale, ops.swapaxes(k, -1, -2))
    keep = None
    if bias is not None:
        dead = (bias._data == -math.inf).all(axis=-1, keepdims=True)  # computed on the device, never read here
        keep = (~dead).astype(bias.dtype)
        scores = scores + ops.where(dead, 0.0, bias)
    weights = ops.softmax(scores, -1)
    if dropout_p > 0:
        weights = F.dropout(weights, dropout_p, True)
    out = ops.matmul(weights, v)
    if keep is not None:
        out = out * keep
        if need_weights:
            weights = weights * keep
    return out, (weights if need_weights else None)


# ------------------------------------------------------------------ scaled_dot_product_attention
def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value`` over the last two axes (PyTorch's function).

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the leading axes broadcast. ``scale``
    defaults to ``1 / sqrt(E)``. ``attn_mask`` broadcasts to (..., L, S): bool, True where the query may attend
    to the key (False adds -inf), or float, added to the scores (differentiable). ``is_causal=True`` masks the keys
    after each query (top-left aligned, as PyTorch) and must come without ``attn_mask``. ``dropout_p`` applies to
    the attention weights whenever it is > 0 (the function knows no training mode, as PyTorch). With
    ``enable_gqa=True`` key and value may have fewer heads (axis -3) than query, a divisor of its number.

    A query whose every key is masked gets zero weights: a zero output row and zero gradients (as PyTorch),
    not NaN. Inside ``gk.autocast`` (either device type: the function is on both of PyTorch's lower-precision
    lists) query, key and value are cast to the autocast dtype and the function runs in it with autocast off
    (float64 operands are left alone), as PyTorch's.
    """
    op = "scaled_dot_product_attention"
    q = _operand(query, op, "query")
    k = _operand(key, op, "key", q._backend)
    v = _operand(value, op, "value", q._backend)
    if _autocast.active and _autocast.is_on(q, k, v):
        q, k, v = _autocast.cast(op, q, k, v)
        with _autocast.exclude():
            return scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    dropout_p = real(dropout_p, op, "dropout_p", low=0.0)
    if dropout_p > 1:
        raise InvalidArgumentError(f"{op}: dropout_p must be a probability in [0, 1], got {dropout_p!r}")
    is_causal = flag(is_causal, op, "is_causal")
    enable_gqa = flag(enable_gqa, op, "enable_gqa")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise DTypeError(f"{op}: query ({q.dtype}), key ({k.dtype}) and value ({v.dtype}) must have one dtype")
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise ShapeError(
            f"{op}: query, key and value need at least 2 axes ((..., L, E), (..., S, E), (..., S, Ev)), got shapes "
            f"{q.shape}, {k.shape} and {v.shape}"
        )
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(
            f"{op}: expected query (..., L, E), key (..., S, E) and value (..., S, Ev), got shapes {q.shape}, "
            f"{k.shape} and {v.shape}"
        )
    if enable_gqa:
        k, v = _grouped(q, k, v, op)
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ShapeError(
            f"{op}: the leading axes of query {q.shape}, key {k.shape} and value {v.shape} do not broadcast"
        ) from None
    L, S = q.shape[-2], k.shape[-2]
    bias = None
    if is_causal:
        if attn_mask is not None:
            raise InvalidArgumentError(f"{op}: pass either attn_mask or is_causal=True, not both (as PyTorch)")
        xp = q._backend.xp
        bias = _make(xp.triu(xp.full((L, S), -math.inf, dtype=q.dtype), 1), q._backend)
    elif attn_mask is not None:
        bias = _mask(attn_mask, op, "attn_mask", q, true_masks=False)
        weights_shape = (*batch, L, S)
        if _broadcast(bias.shape, weights_shape) != weights_shape:
            raise ShapeError(
                f"{op}: attn_mask of shape {bias.shape} does not broadcast to the attention weights' shape "
                f"{weights_shape} (..., L, S)"
            )
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0
    else:
        scale = real(scale, op, "scale")
    return _attend(q, k, v, bias, dropout_p, scale, need_weights=False)[0]


def _broadcast(a: tuple, b: tuple) -> tuple | None:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def _grouped(q: Tensor, k: Tensor, v: Tensor, op: str) -> tuple[Tensor, Tensor]:
    """Key and value with their heads (axis -3) repeated to the query's number (grouped-query attention)."""
    if min(q.ndim, k.ndim, v.ndim) < 3:
        raise ShapeError(f"{op}: enable_gqa needs a heads axis (-3) in query, key and value; got shapes "
                         f"{q.shape}, {k.shape} and {v.shape}")
    hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
    if hk == 0 or hv == 0 or hq % hk or hq % hv:
        raise ShapeError(
            f"{op}: with enable_gqa the query's number of heads ({hq}) must be a multiple of the key's ({hk}) "
            f"and the value's ({hv})"
        )
    if hk != hq:
        k = ops.repeat_interleave(k, hq // hk, -3)
    if hv != hq:
        v = ops.repeat_interleave(v, hq // hv, -3)
    return k, v


# ------------------------------------------------------------------ multi-head attention
def _expect(ok: bool, op: str, message: str) -> None:
    if not ok:
        raise ShapeError(f"{op}: {message}")


def _check_masks(op: str, batched: bool, n: int, heads: int, L: int, S: int, attn_mask: Any, key_padding_mask: Any,
                names: tuple[str, str] = ("attn_mask", "key_padding_mask")) -> None:
    """Shapes and dtypes of multi-head attention's masks (metadata only): ``attn_mask`` (L, S) or
    (N * heads, L, S) ((heads, L, S) unbatched), ``key_padding_mask`` (N, S) ((S,) unbatched), bool or float."""
    for name, mask in zip(names, (attn_mask, key_padding_mask), strict=True):
        if mask is None:
            continue
        shape, dtype = getattr(mask, "shape", None), getattr(mask, "dtype", None)
        if shape is None or dtype is None or isinstance(mask, (str, bytes)):
            raise ArgumentTypeError(f"{op}: {name} must be a bool or float Tensor, got {describe(mask)}")
        try:
            kind = np.dtype(str(dtype).replace("torch.", "")).kind
        except TypeError:  # a dtype NumPy does not know (PyTorch's bfloat16, say)
            kind = "?"
        if kind not in "bf":
            raise DTypeError(f"{op}: {name} must be a bool or float tensor, got dtype {dtype}")
        shape = tuple(shape)
        if name == names[0]:
            expected = [(L, S), ((n * heads) if batched else heads, L, S)]
            _expect(shape in expected, op, f"{name} must have shape {expected[0]} or {expected[1]} "
                    f"({'N * num_heads' if batched else 'num_heads'}, L, S), got {shape}")
        else:
            expected = [(n, S) if batched else (S,)]
            _expect(shape == expected[0], op, f"{name} must have shape {expected[0]} "
                    f"({'(N, S)' if batched else '(S,)'}), got {shape}")


def multi_head_attention_forward(
    query: Any,
    key: Any,
    value: Any,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Any = None,
    need_weights: bool = True,
    attn_mask: Any = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """PyTorch's ``F.multi_head_attention_forward``: what ``nn.MultiheadAttention`` computes, with the weights given.

    query (L, N, E), key (S, N, kdim), value (S, N, vdim), or unbatched (L, E), (S, kdim), (S, vdim). Returns
    ``(attn_output, attn_weights)`` as ``MultiheadAttention.forward``. ``static_k``/``static_v`` (N * num_heads,
    S, E / num_heads) replace the projected key/value.
    """
    return _multi_head("multi_head_attention_forward", query, key, value, embed_dim_to_check, num_heads,
                       in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight,
                       out_proj_bias, training, key_padding_mask, need_weights, attn_mask, use_separate_proj_weight,
                       q_proj_weight, k_proj_weight, v_proj_weight, static_k, static_v, average_attn_weights,
                       is_causal, batch_first=False)


def _param(t: Any, op: str, name: str, shape: tuple, backend: Any, dtype: Any, optional: bool = False) -> Any:
    if t is None:
        if optional:
            return None
        raise ArgumentTypeError(f"{op}: {name} must be a Tensor, got None")
    if not isinstance(t, Tensor):
        raise ArgumentTypeError(f"{op}: {name} must be a Tensor, got {describe(t)}")
    if t.shape != shape:
        raise ShapeError(f"{op}: {name} must have shape {shape}, got {t.shape}")
    if t._backend is not backend:
        raise DeviceError(f"{op}: {name} is on {t.device}, the query on {backend.device}; move them to one device")
    if t.dtype != dtype:
        raise DTypeError(f"{op}: {name} ({t.dtype}) and the query ({dtype}) must have the same dtype")
    return t


def _multi_head(op: str, query: Any, key: Any, value: Any, embed_dim_to_check: int, num_heads: int,
                in_proj_weight: Any, in_proj_bias: Any, bias_k: Any, bias_v: Any, add_zero_attn: bool,
                dropout_p: float, out_proj_weight: Any, out_proj_bias: Any, training: bool, key_padding_mask: Any,
                need_weights: bool, attn_mask: Any, use_separate_proj_weight: bool, q_proj_weight: Any,
                k_proj_weight: Any, v_proj_weight: Any, static_k: Any, static_v: Any, average_attn_weights: bool,
                is_causal: bool, batch_first: bool) -> tuple[Tensor, Tensor | None]:
    weight = out_proj_weight if isinstance(out_proj_weight, Tensor) else None
    backend = weight._backend if weight is not None else None
    q_in = _operand(query, op, "query", backend)
    backend = q_in._backend
    same_kq, same_vk = key is query, value is key
    k_in = q_in if same_kq else _operand(key, op, "key", backend)
    v_in = k_in if same_vk else _operand(value, op, "value", backend)
    dtype = q_in.dtype
    for name, t in (("key", k_in), ("value", v_in)):
        if t.dtype != dtype:
            raise DTypeError(f"{op}: query ({dtype}) and {name} ({t.dtype}) must have the same dtype")
    num_heads = whole(num_heads, op, "num_heads", low=1)
    need_weights = flag(need_weights, op, "need_weights")
    average_attn_weights = flag(average_attn_weights, op, "average_attn_weights")
    is_causal = flag(is_causal, op, "is_causal")
    training = flag(training, op, "training")
    add_zero_attn = flag(add_zero_attn, op, "add_zero_attn")
    dropout_p = real(dropout_p, op, "dropout_p", low=0.0)
    if dropout_p > 1:
        raise InvalidArgumentError(f"{op}: dropout must be a probability in [0, 1], got {dropout_p!r}")

    batched = q_in.ndim == 3
    if q_in.ndim not in (2, 3):
        raise ShapeError(f"{op}: query must be unbatched 2-D (L, E) or batched 3-D, got a {q_in.ndim}-D tensor "
                         f"of shape {q_in.shape}")
    for name, t in (("key", k_in), ("value", v_in)):
        _expect(t.ndim == q_in.ndim, op, f"for a {q_in.ndim}-D query, {name} must be {q_in.ndim}-D too, "
                f"got shape {t.shape}")
    if not batched:  # one sequence: a batch of one, on axis 1
        batch_first = False
        q_in = ops.unsqueeze(q_in, 1)
        k_in = q_in if same_kq else ops.unsqueeze(k_in, 1)
        v_in = k_in if same_vk else ops.unsqueeze(v_in, 1)
    seq, bat = (1, 0) if batch_first else (0, 1)
    L, n, E = q_in.shape[seq], q_in.shape[bat], q_in.shape[2]
    S = k_in.shape[seq]
    layout = "(N, L, E)" if batch_first else "(L, N, E)"
    _expect(E == embed_dim_to_check, op, f"expected query of embed_dim {embed_dim_to_check} on its last axis "
            f"{layout}, got shape {q_in.shape}")
    _expect(E % num_heads == 0, op, f"embed_dim {E} must be divisible by num_heads {num_heads}")
    _expect(k_in.shape[bat] == n and v_in.shape[bat] == n and v_in.shape[seq] == S, op,
            f"query {q_in.shape}, key {k_in.shape} and value {v_in.shape} must share the batch size and key and "
            f"value the sequence length {layout}")
    head = E // num_heads
    _check_masks(op, batched, n, num_heads, L, S, attn_mask, key_padding_mask)
    if is_causal and attn_mask is None:
        raise InvalidArgumentError(
            f"{op}: is_causal=True is a hint that attn_mask is the causal mask, and needs attn_mask (as PyTorch); "
            "pass nn.Transformer.generate_square_subsequent_mask(L) as attn_mask"
        )

    # ---- projections
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        in_proj_bias = _param(in_proj_bias, op, "in_proj_bias", (3 * E,), backend, dtype)
        b_q, b_k, b_v = in_proj_bias[:E], in_proj_bias[E : 2 * E], in_proj_bias[2 * E :]
    if not flag(use_separate_proj_weight, op, "use_separate_proj_weight"):
        w = _param(in_proj_weight, op, "in_proj_weight", (3 * E, E), backend, dtype)
        _expect(k_in.shape[2] == E and v_in.shape[2] == E, op,
                f"key {k_in.shape} and value {v_in.shape} must have embed_dim {E} on their last axis "
                "(pass kdim/vdim for other sizes)")
        # Three matmuls on the weight's thirds, even for self-attention: slicing one (.., 3E) product costs
        # more in the backward pass (each slice's gradient is a zero-padded copy of the whole) than it saves.
        q = F.linear(q_in, w[:E], b_q)
        k = F.linear(k_in, w[E : 2 * E], b_k)
        v = F.linear(v_in, w[2 * E :], b_v)
    else:
        wq = _param(q_proj_weight, op, "q_proj_weight", (E, E), backend, dtype)
        kdim, vdim = (getattr(w, "shape", (0, 0))[-1] for w in (k_proj_weight, v_proj_weight))
        wk = _param(k_proj_weight, op, "k_proj_weight", (E, kdim), backend, dtype)
        wv = _param(v_proj_weight, op, "v_proj_weight", (E, vdim), backend, dtype)
        _expect(k_in.shape[2] == kdim and v_in.shape[2] == vdim, op,
                f"key {k_in.shape} and value {v_in.shape} must have kdim={kdim} and vdim={vdim} features on their "
                "last axis")
        q, k, v = F.linear(q_in, wq, b_q), F.linear(k_in, wk, b_k), F.linear(v_in, wv, b_v)

    # ---- masks: additive, broadcast to (N, heads, L, S)
    bias = None
    if attn_mask is not None:
        bias = _mask(attn_mask, op, "attn_mask", q_in, true_masks=True)
        bias = ops.reshape(bias, (1, 1, L, S) if bias.ndim == 2 else (n, num_heads, L, S))
    if key_padding_mask is not None:
        pad = ops.reshape(_mask(key_padding_mask, op, "key_padding_mask", q_in, true_masks=True), (n, 1, 1, S))
        bias = pad if bias is None else bias + pad

    # ---- extra key/value positions
    if bias_k is not None or bias_v is not None:
        if bias_k is None or bias_v is None:
            raise InvalidArgumentError(f"{op}: bias_k and bias_v must be given together")
        _expect(static_k is None and static_v is None, op, "bias_k/bias_v cannot be added to static_k/static_v")
        extra = (n, 1, E) if batch_first else (1, n, E)
        bk = _param(bias_k, op, "bias_k", (1, 1, E), backend, dtype)
        bv = _param(bias_v, op, "bias_v", (1, 1, E), backend, dtype)
        k = ops.concatenate([k, ops.broadcast_to(bk, extra)], seq)
        v = ops.concatenate([v, ops.broadcast_to(bv, extra)], seq)
        bias = _pad_keys(bias)
    order = (0, 2, 1, 3) if batch_first else (1, 2, 0, 3)  # (.., heads, head) -> (N, heads, L, head)
    q = ops.permute(ops.reshape(q, (*q.shape[:2], num_heads, head)), order)
    k = ops.permute(ops.reshape(k, (*k.shape[:2], num_heads, head)), order)
    v = ops.permute(ops.reshape(v, (*v.shape[:2], num_heads, head)), order)
    if static_k is not None:
        k = ops.reshape(_param(static_k, op, "static_k", (n * num_heads, S, head), backend, dtype), k.shape)
    if static_v is not None:
        v = ops.reshape(_param(static_v, op, "static_v", (n * num_heads, S, head), backend, dtype), v.shape)
    if add_zero_attn:
        xp = backend.xp
        zeros = _make(xp.zeros((n, num_heads, 1, head), dtype=dtype), backend)
        k = ops.concatenate([k, zeros], 2)
        v = ops.concatenate([v, zeros], 2)
        bias = _pad_keys(bias)

    out, weights = _attend(q, k, v, bias, dropout_p if training else 0.0, 1.0 / math.sqrt(head), need_weights)
    back = (0, 2, 1, 3) if batch_first else (2, 0, 1, 3)  # (N, heads, L, head) -> the input's layout
    out = F.linear(ops.reshape(ops.permute(out, back), (-1, E)),
                   _param(out_proj_weight, op, "out_proj_weight", (E, E), backend, dtype),
                   _param(out_proj_bias, op, "out_proj_bias", (E,), backend, dtype, optional=True))
    out = ops.reshape(out, (*q_in.shape[:2], E) if batched else (L, E))
    if weights is not None and average_attn_weights:
        weights = ops.mean(weights, 1)
    if not batched and weights is not None:
        weights = ops.reshape(weights, weights.shape[1:])
    return out, weights


def _pad_keys(bias: Tensor | None) -> Tensor | None:
    """An additive mask with one more key position (0: attended), for bias_k/bias_v or add_zero_attn."""
    if bias is None:
        return None
    return ops.pad(bias, [(0, 0)] * (bias.ndim - 1) + [(0, 1)])


class MultiheadAttention(Module):
    """PyTorch's ``nn.MultiheadAttention``: ``out_proj(concat_h(attention(q W_q^h, k W_k^h, v W_v^h)))``.

    Parameters as PyTorch: ``in_proj_weight`` (3 * embed_dim, embed_dim), xavier-uniform, when key and value have
    embed_dim features, else ``q_proj_weight``, ``k_proj_weight`` (embed_dim, kdim), ``v_proj_weight``
    (embed_dim, vdim); ``in_proj_bias`` (3 * embed_dim) zeros; ``out_proj`` a Linear whose bias is zeroed;
    ``bias_k``, ``bias_v`` (1, 1, embed_dim), xavier-normal, with ``add_bias_kv``. State dicts load both ways.

    ``forward`` takes (L, N, E) query and (S, N, kdim/vdim) key/value, (N, L, E) with ``batch_first``, or one
    unbatched sequence (L, E); it returns ``(attn_output, attn_weights)``, the weights (N, L, S) averaged over
    the heads, (N, num_heads, L, S) with ``average_attn_weights=False``, None with ``need_weights=False``.
    A bool ``key_padding_mask`` (N, S) or ``attn_mask`` (L, S) / (N * num_heads, L, S) is True where attention
    is not allowed; float masks are added to the scores. ``is_causal`` is PyTorch's hint that ``attn_mask``
    is the causal mask (it needs ``attn_mask``; gradkit applies ``attn_mask`` either way). A query whose every
    key is masked gets zero weights and a zero output before ``out_proj`` (PyTorch gives NaN with
    ``need_weights=True``).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        layer = "MultiheadAttention"
        self.embed_dim = embed_dim = whole(embed_dim, layer, "embed_dim", low=1)
        self.num_heads = num_heads = whole(num_heads, layer, "num_heads", low=1)
        self.kdim = embed_dim if kdim is None else whole(kdim, layer, "kdim", low=1)
        self.vdim = embed_dim if vdim is None else whole(vdim, layer, "vdim", low=1)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        dropout = real(dropout, layer, "dropout", low=0.0)
        if dropout > 1:
            raise InvalidArgumentError(f"{layer}: dropout must be a probability in [0, 1], got {dropout!r}")
        self.dropout = dropout
        self.batch_first = flag(batch_first, layer, "batch_first")
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise InvalidArgumentError(
                f"{layer}: embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                f"num_heads={num_heads}"
            )
        self.add_zero_attn = flag(add_zero_attn, layer, "add_zero_attn")
        bias = flag(bias, layer, "bias")
        add_bias_kv = flag(add_bias_kv, layer, "add_bias_kv")
        kw = {"device": device, "dtype": dtype}
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, **kw))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(empty(1, 1, embed_dim, **kw))
        else:
            self.register_parameter("bias_k", None)
            self.register_parameter("bias_v", None)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None, need_weights: bool = True,
                attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        return _multi_head(
            "MultiheadAttention", query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight,
            self.out_proj.bias, self.training, key_padding_mask, need_weights, attn_mask,
            not self._qkv_same_embed_dim, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight, None, None,
            average_attn_weights, is_causal, self.batch_first,
        )

    def extra_repr(self) -> str:
        extra = "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}{extra}")


# ------------------------------------------------------------------ torch.nn.attention's backend selection
class SDPBackend(enum.IntEnum):
    """PyTorch's ``torch.nn.attention.SDPBackend`` (same members and values). gradkit has one implementation of
    ``scaled_dot_product_attention`` (PyTorch's ``MATH``), used whichever is selected."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


_SDP_SWITCHES = {SDPBackend.MATH: "math", SDPBackend.FLASH_ATTENTION: "flash",
                 SDPBackend.EFFICIENT_ATTENTION: "mem_efficient", SDPBackend.CUDNN_ATTENTION: "cudnn"}


@contextlib.contextmanager
def sdpa_kernel(backends: Any, set_priority: bool = False) -> Iterator[dict]:
    """PyTorch's ``torch.nn.attention.sdpa_kernel(backends, set_priority=False)``: inside the block only the named
    backends (an ``SDPBackend`` or a list of them) are enabled in ``gk.backends.cuda``'s switches
    (``flash_sdp_enabled()`` ...), and the previous switches come back after it. The attention is computed as
    always (matmuls and a softmax), so results do not change."""
    from gradkit.backends import cuda as _cuda

    op = "nn.attention.sdpa_kernel"
    flag(set_priority, op, "set_priority")
    chosen = [backends] if isinstance(backends, SDPBackend) else backends
    if not isinstance(chosen, (list, tuple)) or not all(isinstance(b, SDPBackend) for b in chosen):
        raise ArgumentTypeError(
            f"{op}: backends must be an SDPBackend or a list of SDPBackend members, got {describe(backends)}"
        )
    previous = dict(_cuda._sdp)
    try:
        for backend, name in _SDP_SWITCHES.items():
            _cuda._sdp[name] = backend in chosen
        yield {}
    finally:
        _cuda._sdp.update(previous)
