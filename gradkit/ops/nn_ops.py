"""softmax and log_softmax: one node each, with their closed-form VJPs."""

from __future__ import annotations

from typing import Any

from gradkit.autograd.function import record
from gradkit.errors import DTypeError
from gradkit.ops._util import as_tensor, normalize_axis
from gradkit.tensor import Tensor


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the max for stability."""
    x = _not_bool(as_tensor(x, "softmax"), "softmax")
    ax = normalize_axis(axis, x.ndim, "softmax")
    xp = x._backend.xp
    e = xp.exp(x._data - _row_max(x._data, ax))
    e /= e.sum(axis=ax, keepdims=True)
    return record("softmax", e, x._backend, (x,), (_softmax_vjp,), (ax,), save_output=True, info=ax)


def _not_bool(x: Tensor, op: str) -> Tensor:
    if x.dtype.kind == "b":
        raise DTypeError(f"{op}: needs a numeric tensor, got dtype bool; convert it with .astype(gk.float32)")
    return x


def _row_max(data: Any, axis: int) -> Any:
    """The maximum along ``axis`` (kept), 0 along an empty axis: the softmax of no elements is empty."""
    if data.shape[axis] == 0:
        return data.sum(axis=axis, keepdims=True)
    return data.max(axis=axis, keepdims=True)


def _softmax_vjp(g: Tensor, axis: int, y: Tensor) -> Tensor:
    gy = g * y
    return gy - y * gy.sum(axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``, computed without overflow."""
    x = _not_bool(as_tensor(x, "log_softmax"), "log_softmax")
    ax = normalize_axis(axis, x.ndim, "log_softmax")
    xp = x._backend.xp
    shifted = x._data - _row_max(x._data, ax)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=ax, keepdims=True)) if x._data.shape[ax] else shifted
    return record("log_softmax", out, x._backend, (x,), (_log_softmax_vjp,), (ax,), save_output=True, info=ax)


def _log_softmax_vjp(g: Tensor, axis: int, y: Tensor) -> Tensor:
    from gradkit.ops.elementwise import exp

    return g - exp(y) * g.sum(axis, keepdims=True)
