"""softmax and log_softmax: one node each, with their closed-form VJPs."""

from __future__ import annotations

from typing import Any

from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, DTypeError
from gradkit.ops._util import NOT_GIVEN, as_tensor, normalize_axis, renamed
from gradkit.tensor import Tensor


def softmax(x: Any, axis: int | None = -1, dtype: Any = None, *, dim: Any = NOT_GIVEN) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis`` (PyTorch's ``dim=``), shifted by the max for stability.

    Integer tensors give floats as ``sin`` does; a 0-d tensor takes axis 0 or -1 (its softmax is 1).
    ``axis=None`` (given explicitly: the default stays the last axis) is SciPy's: over all the elements.
    ``dtype`` (PyTorch's, ``torch.softmax(input, dim, dtype)``): a float dtype the input is cast to first (a
    recorded cast: the gradient comes back in the input's dtype), so the result has it; gk.autocast then
    leaves it alone, as PyTorch's autocast respects an explicit dtype.
    """
    x, ax = _prepared(x, axis, dim, dtype, "softmax")
    xp = x._backend.xp
    if ax is None:
        e = xp.exp(x._data - _row_max(x._data, None))
        e /= e.sum(keepdims=True)
    elif x.ndim == 0:  # one element along the axis, as PyTorch: exp(x - x) / 1
        e = xp.exp(x._data - x._data)
    else:
        e = xp.exp(x._data - _row_max(x._data, ax))
        e /= e.sum(axis=ax, keepdims=True)
    return record("softmax", e, x._backend, (x,), (_softmax_vjp,), (ax,), save_output=True, info=ax)


def _prepared(x: Any, axis: Any, dim: Any, dtype: Any, op: str) -> tuple[Tensor, int | None]:
    """softmax's and log_softmax's input (cast to ``dtype``, or by gk.autocast) and normalized axis."""
    if dim is not NOT_GIVEN:
        axis = _torch_dim(op, axis, dim)
    x = as_tensor(x, op)
    if dtype is not None:
        x = cast_first(x, dtype, op)
    x = _float_input(x, op)
    if _autocast.active and dtype is None:  # gk.autocast: float16 computed in float32 (one module read when off)
        (x,) = _autocast.to_float32(op, x)
    return x, (None if axis is None else normalize_axis(axis, x.ndim, op))


def cast_first(x: Tensor, dtype: Any, op: str) -> Tensor:
    """PyTorch's ``dtype=`` of softmax, log_softmax and softmin: ``x`` cast to the float ``dtype`` before the op,
    by a recorded cast (its gradient returns in x's dtype); DTypeError for a dtype that is not a float one."""
    from gradkit.dtypes import to_dtype
    from gradkit.ops.shape import astype

    dt = to_dtype(dtype, op)
    if dt.kind != "f":
        raise DTypeError(f"{op}: dtype must be a floating dtype (the result's), got {dt}")
    return astype(x, dt)


def _float_input(x: Tensor, op: str) -> Tensor:
    """``x`` refused if bool; integers as the float dtype ``sin`` gives them, before the max is subtracted
    (in their own dtype that would wrap around: 1 - 3 is 254 in uint8)."""
    if x.dtype.kind == "b":
        raise DTypeError(f"{op}: needs a numeric tensor, got dtype bool; convert it with .astype(gk.float32)")
    if x.dtype.kind != "f":
        from gradkit.ops.elementwise import _as_float

        return Tensor._make(_as_float(x._data), x._backend)
    return x


def _torch_dim(op: str, axis: Any, dim: Any) -> Any:
    """PyTorch's ``dim=`` for ``axis``; ``dim=None`` is refused: PyTorch takes it as a guessed dim."""
    if dim is None:
        raise ArgumentTypeError(
            f"{op}: dim=None is PyTorch's deprecated implicit dim; pass an int dim, or axis=None for "
            "SciPy's softmax over all the elements"
        )
    return renamed(op, axis, -1, dim, "axis", "dim")


def _row_max(data: Any, axis: int | None) -> Any:
    """The maximum along ``axis`` (kept; None: over all), 0 over no elements: the softmax of none is empty."""
    if (data.size if axis is None else data.shape[axis]) == 0:
        return data.sum(axis=axis, keepdims=True)
    return data.max(axis=axis, keepdims=True)


def _softmax_vjp(g: Tensor, axis: int, y: Tensor) -> Tensor:
    gy = g * y
    return gy - y * gy.sum(axis, keepdims=True)  # axis 0 of a 0-d y: a sum over nothing


def log_softmax(x: Any, axis: int | None = -1, dtype: Any = None, *, dim: Any = NOT_GIVEN) -> Tensor:
    """x - logsumexp(x) along ``axis`` (PyTorch's ``dim=``), computed without overflow.

    Integer tensors give floats as ``sin`` does; a 0-d tensor takes axis 0 or -1 (its log_softmax is 0).
    ``axis=None`` (given explicitly) is SciPy's: over all the elements. ``dtype``: as :func:`softmax`'s.
    """
    x, ax = _prepared(x, axis, dim, dtype, "log_softmax")
    xp = x._backend.xp
    if ax is None:
        shifted = x._data - _row_max(x._data, None)
        out = shifted - xp.log(xp.exp(shifted).sum(keepdims=True)) if x.size else shifted
    elif x.ndim == 0:  # one element along the axis: x - x
        out = x._data - x._data
    else:
        shifted = x._data - _row_max(x._data, ax)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=ax, keepdims=True)) if x._data.shape[ax] else shifted
    return record("log_softmax", out, x._backend, (x,), (_log_softmax_vjp,), (ax,), save_output=True, info=ax)


def _log_softmax_vjp(g: Tensor, axis: int, y: Tensor) -> Tensor:
    from gradkit.ops.elementwise import exp

    return g - exp(y) * g.sum(axis, keepdims=True)
