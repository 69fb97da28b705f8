"""Reductions (sum, mean, var, max, ...) and their VJP rules.

A reduction's gradient is the output gradient put back over the reduced
axes: ``_expand`` reshapes it to keepdims form and broadcasts it to the
input's shape.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit.autograd import grad_mode
from gradkit.autograd.function import record
from gradkit.ops._util import as_tensor, host_read_allowed, normalize_axes, normalize_axis
from gradkit.ops.shape import broadcast_to, reshape
from gradkit.tensor import Tensor


def _keepdims(keepdims: Any, op: str) -> bool:
    """``keepdims`` as a bool: True/False, NumPy's bool_, or 0/1."""
    if isinstance(keepdims, (bool, np.bool_)) or (isinstance(keepdims, (int, np.integer)) and keepdims in (0, 1)):
        return bool(keepdims)
    from gradkit.errors import ArgumentTypeError

    raise ArgumentTypeError(f"{op}: keepdims must be True or False, got {type(keepdims).__name__} {keepdims!r:.40}")


def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _result_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    """The shape of a reduction of ``shape`` over ``axes``."""
    return _kept_shape(shape, axes) if keepdims else tuple(d for i, d in enumerate(shape) if i not in axes)


def _expand(g: Tensor, shape: tuple, axes: tuple, keepdims: bool) -> Tensor:
    """The gradient of a reduction's output, broadcast back to the input's shape."""
    if not grad_mode.state.enabled:  # backward not recorded: on the arrays, without the ops' checks
        gd = g._data if keepdims else g._data.reshape(_kept_shape(shape, axes))
        return Tensor._make(g._backend.xp.broadcast_to(gd, shape), g._backend)
    if not keepdims:
        g = reshape(g, _kept_shape(shape, axes))
    return broadcast_to(g, shape)


def _count(shape: tuple, axes: tuple) -> int:
    return math.prod(shape[a] for a in axes)


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (None: all axes)."""
    x = as_tensor(x, "sum")
    axes = normalize_axes(axis, x.ndim, "sum")
    keepdims = _keepdims(keepdims, "sum")
    data = x._data.sum(axis=axes, keepdims=keepdims)
    return record("sum", data, x._backend, (x,), (_sum_vjp,), (x.shape, axes, keepdims), info=axes)


def _sum_vjp(g: Tensor, shape: tuple, axes: tuple, keepdims: bool) -> Tensor:
    return _expand(g, shape, axes, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``."""
    x = as_tensor(x, "mean")
    axes = normalize_axes(axis, x.ndim, "mean")
    keepdims = _keepdims(keepdims, "mean")
    data = x._data.mean(axis=axes, keepdims=keepdims)
    n = _count(x.shape, axes)
    return record("mean", data, x._backend, (x,), (_mean_vjp,), (x.shape, axes, keepdims, n), info=axes)


def _mean_vjp(g: Tensor, shape: tuple, axes: tuple, keepdims: bool, n: int) -> Tensor:
    return _expand(g, shape, axes, keepdims) / n


def var(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Variance over ``axis`` with NumPy's ``ddof`` (0: population variance)."""
    x = as_tensor(x, "var")
    _check_ddof(ddof, "var")
    axes = normalize_axes(axis, x.ndim, "var")
    keepdims = _keepdims(keepdims, "var")
    data = x._data.var(axis=axes, ddof=ddof, keepdims=keepdims)
    n = _count(x.shape, axes)
    return record("var", data, x._backend, (x,), (_var_vjp,), (x, axes, keepdims, n - ddof), info=axes)


def _check_ddof(ddof: Any, op: str) -> None:
    if isinstance(ddof, bool) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        from gradkit.errors import ArgumentTypeError

        raise ArgumentTypeError(f"{op}: ddof must be a number, got {type(ddof).__name__} {ddof!r}")
    if not math.isfinite(ddof) or abs(ddof) > 2**53:
        from gradkit.errors import InvalidArgumentError

        raise InvalidArgumentError(f"{op}: ddof must be a finite number of a sensible size, got {ddof!r:.40}")


def _var_vjp(g: Tensor, x: Tensor, axes: tuple, keepdims: bool, dof: float) -> Tensor:
    centred = x - mean(x, axes, keepdims=True)
    # No degrees of freedom left (ddof >= n): the variance is inf, and so is its slope (as NumPy and PyTorch).
    factor = 2.0 / dof if dof != 0 else math.inf
    return _expand(g, x.shape, axes, keepdims) * centred * factor


def std(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Standard deviation over ``axis`` (the square root of ``var``).

    Where it is 0 (all values equal) its slope is taken as 0, as in PyTorch, not 0/0.
    """
    x = as_tensor(x, "std")
    _check_ddof(ddof, "std")
    axes = normalize_axes(axis, x.ndim, "std")
    keepdims = _keepdims(keepdims, "std")
    data = x._data.std(axis=axes, ddof=ddof, keepdims=keepdims)
    n = _count(x.shape, axes)
    return record("std", data, x._backend, (x,), (_std_vjp,), (x, axes, keepdims, n - ddof), save_output=True,
                  info=axes)  # fmt: skip


def _std_vjp(g: Tensor, x: Tensor, axes: tuple, keepdims: bool, dof: float, y: Tensor) -> Tensor:
    from gradkit.ops.elementwise import where

    # d sqrt(v) = dv / (2 sqrt(v)), taken as 0 where the values are all equal (as PyTorch). Their
    # computed std may be rounding noise then (1e-17 for three 0.1s), not 0: compare the values themselves.
    xd = x._data
    if xd.size:
        nonzero = xd.max(axis=axes, keepdims=keepdims) != xd.min(axis=axes, keepdims=keepdims)
    else:
        nonzero = y._data != 0
    half_over_y = where(nonzero, 0.5 / where(nonzero, y, 1.0), 0.0)
    return _var_vjp(g * half_over_y, x, axes, keepdims, dof)


def _extreme(name: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = as_tensor(x, name)
    axes = normalize_axes(axis, x.ndim, name)
    keepdims = _keepdims(keepdims, name)
    if 0 in [x.shape[a] for a in axes]:  # as NumPy: only reducing over a length-0 axis has no result
        from gradkit.errors import ShapeError

        raise ShapeError(
            f"{name}: reducing axes {axes} of an empty tensor of shape {x.shape}: {name} of no elements has no "
            "identity"
        )
    if x._data.size:
        data = getattr(x._data, name)(axis=axes, keepdims=keepdims)
    else:  # empty rows along the kept axes: an empty result (not every backend reduces empty arrays)
        data = x._backend.xp.empty(_result_shape(x.shape, axes, keepdims), dtype=x.dtype)
    return record(name, data, x._backend, (x,), (_extreme_vjp,), (x, axes, keepdims), save_output=True, info=axes)


def _extreme_vjp(g: Tensor, x: Tensor, axes: tuple, keepdims: bool, y: Tensor) -> Tensor:
    # The gradient goes to the elements equal to the extreme, shared among ties.
    y_full = y._data if keepdims else y._data.reshape(_kept_shape(x.shape, axes))
    hit = x._data == y_full
    if x.dtype.kind == "f":  # a NaN extreme came from the NaN elements (NaN != NaN)
        xp = x._backend.xp
        hit |= xp.isnan(x._data) & xp.isnan(y_full)
    count = hit.sum(axis=axes, keepdims=True)
    return _expand(g, x.shape, axes, keepdims) * (hit / count).astype(x.dtype)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest element over ``axis``; ties share the gradient."""
    return _extreme("max", x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest element over ``axis``; ties share the gradient."""
    return _extreme("min", x, axis, keepdims)


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis``."""
    x = as_tensor(x, "prod")
    axes = normalize_axes(axis, x.ndim, "prod")
    keepdims = _keepdims(keepdims, "prod")
    data = x._data.prod(axis=axes, keepdims=keepdims)
    return record("prod", data, x._backend, (x,), (_prod_vjp,), (x, axes, keepdims), save_output=True, info=axes)


def _prod_vjp(g: Tensor, x: Tensor, axes: tuple, keepdims: bool, y: Tensor) -> Tensor:
    xp = x._backend.xp
    g_full = _expand(g, x.shape, axes, keepdims)
    if not (x._data == 0).any():
        return g_full * _expand(y, x.shape, axes, keepdims) / x
    if grad_mode.state.enabled:  # create_graph: the same product of the others, as recorded ops
        return g_full * _prod_of_others(x, axes)
    # With zeros, d(prod)/dx_i is the product of the others: move the reduced
    # axes last and multiply exclusive cumulative products from both ends.
    kept = [i for i in range(x.ndim) if i not in axes]
    order = kept + list(axes)
    moved = xp.transpose(x._data, order).reshape([x.shape[i] for i in kept] + [-1])
    ones = xp.ones_like(moved[..., :1])
    left = xp.cumprod(xp.concatenate([ones, moved[..., :-1]], axis=-1), axis=-1)
    right = xp.flip(xp.cumprod(xp.flip(xp.concatenate([moved[..., 1:], ones], axis=-1), -1), axis=-1), -1)
    others = (left * right).reshape([x.shape[i] for i in order])
    inverse = [order.index(i) for i in range(x.ndim)]
    return g_full * xp.transpose(others, inverse)


def _prod_of_others(x: Tensor, axes: tuple) -> Tensor:
    """For each element, the product of the other elements of its slice, differentiably.

    The reduced axes are moved last and flattened to n; an (n, n) identity mask
    swaps each element for 1 in its own row, and ``prod`` multiplies the rows.
    Used only for second and higher derivatives at zeros (it needs n times the memory).
    """
    from gradkit.ops.elementwise import where
    from gradkit.ops.shape import reshape, transpose, unsqueeze

    kept = [i for i in range(x.ndim) if i not in axes]
    order = kept + list(axes)
    n = _count(x.shape, axes)
    moved = reshape(transpose(x, order), tuple(x.shape[i] for i in kept) + (n,))
    rows = where(x._backend.xp.eye(n, dtype=bool), 1.0, unsqueeze(moved, -2))
    others = reshape(prod(rows, axis=-1), tuple(x.shape[i] for i in order))
    return transpose(others, [order.index(i) for i in range(x.ndim)])


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, without overflow."""
    x = as_tensor(x, "logsumexp")
    if x.dtype.kind == "b":  # as PyTorch: counted as 0.0 and 1.0, in the default float dtype
        x = Tensor._make(x._data.astype(np.float32), x._backend)
    axes = normalize_axes(axis, x.ndim, "logsumexp")
    keepdims = _keepdims(keepdims, "logsumexp")
    xp = x._backend.xp
    if x.size == 0:  # an empty sum: log(0) = -inf, as SciPy and PyTorch give
        kept = _kept_shape(x.shape, axes)
        peak = xp.zeros(tuple(1 if d == 0 else d for d in kept), dtype=x.dtype)
    else:
        peak = x._data.max(axis=axes, keepdims=True)
        peak = xp.where(xp.isfinite(peak), peak, peak.dtype.type(0))  # a typed 0: NumPy 1.x upcasts 0-d float32
    with np.errstate(divide="ignore"):  # every element -inf: log(0) = -inf is the answer, not a warning
        data = xp.log(xp.exp(x._data - peak).sum(axis=axes, keepdims=True)) + peak
    if not keepdims:
        data = data.reshape(_result_shape(x.shape, axes, False))
    return record(
        "logsumexp", data, x._backend, (x,), (_logsumexp_vjp,), (x, axes, keepdims), save_output=True, info=axes
    )


def _logsumexp_vjp(g: Tensor, x: Tensor, axes: tuple, keepdims: bool, y: Tensor) -> Tensor:
    from gradkit.ops.elementwise import exp

    return _expand(g, x.shape, axes, keepdims) * exp(x - _expand(y, x.shape, axes, keepdims))


def _arg(name: str, x: Any, axis: int | None, keepdims: bool) -> Tensor:
    x = as_tensor(x, name)
    keepdims = _keepdims(keepdims, name)
    if x.ndim == 0 and axis is not None:  # as NumPy: axis 0 or -1 of a 0-d tensor, whose index is 0
        normalize_axes(axis, 0, name)
        return Tensor._make(x._backend.xp.zeros((), dtype="int64"), x._backend)
    if x.size == 0 and (axis is None or x.shape[normalize_axis(axis, x.ndim, name)] == 0):
        from gradkit.errors import ShapeError

        raise ShapeError(f"{name}: an empty tensor of shape {x.shape} has no {name[3:]} along axis {axis}")
    if axis is None:
        data = getattr(x._data.reshape(-1), name)()
        if keepdims:
            data = data.reshape((1,) * x.ndim)
    else:
        ax = normalize_axis(axis, x.ndim, name)
        if x.size == 0:  # rows of no elements along other axes: an empty result (not every backend allows it)
            data = x._backend.xp.zeros(_result_shape(x.shape, (ax,), False), dtype="int64")
        else:
            data = getattr(x._data, name)(axis=ax)
        if keepdims:
            data = x._backend.xp.expand_dims(data, ax)
    return Tensor._make(x._backend.xp.asarray(data, dtype="int64"), x._backend)


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the largest element (over the flattened tensor when ``axis`` is None)."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the smallest element (over the flattened tensor when ``axis`` is None)."""
    return _arg("argmin", x, axis, keepdims)


def _logical(name: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = as_tensor(x, name)
    axes = normalize_axes(axis, x.ndim, name)
    keepdims = _keepdims(keepdims, name)
    xp = x._backend.xp
    return Tensor._make(xp.asarray(getattr(xp, name)(x._data, axis=axes, keepdims=keepdims)), x._backend)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether any element over ``axis`` is true (non-zero), as a bool tensor; no gradient."""
    return _logical("any", x, axis, keepdims)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether every element over ``axis`` is true (non-zero), as a bool tensor; no gradient."""
    return _logical("all", x, axis, keepdims)


def _running_axis(x: Any, axis: int | None, op: str) -> tuple[Tensor, int]:
    """``x`` and the axis a running sum or product goes along: ``axis=None`` flattens, as NumPy."""
    x = as_tensor(x, op)
    if x.ndim == 0 and axis is not None:
        normalize_axis(axis, 1, op)  # 0 or -1, as NumPy: the result has one axis
        axis = None
    if axis is None:
        x, axis = (x if x.ndim == 1 else reshape(x, (-1,))), 0
    return x, normalize_axis(axis, x.ndim, op)


def cumsum(x: Any, axis: int | None = None) -> Tensor:
    """Running sums along ``axis`` (over the flattened tensor when None, as NumPy).

    Integer and bool tensors sum in NumPy's integer dtype, without a gradient.
    """
    x, ax = _running_axis(x, axis, "cumsum")
    data = x._backend.xp.cumsum(x._data, axis=ax)
    if data.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("cumsum", data, x._backend, (x,), (_cumsum_vjp,), (ax,))


def _cumsum_vjp(g: Tensor, axis: int) -> Tensor:
    # out[i] = sum_{j <= i} x[j], so dx[j] = sum_{i >= j} g[i]: a running sum from the far end
    from gradkit.ops.shape import flip

    return flip(cumsum(flip(g, axis), axis), axis)


def cumprod(x: Any, axis: int | None = None) -> Tensor:
    """Running products along ``axis`` (over the flattened tensor when None, as NumPy).

    Integer and bool tensors multiply in NumPy's integer dtype, without a gradient. The gradient is
    exact with zeros in ``x`` (``y / x`` is not): see ``_cumprod_vjp``.
    """
    x, ax = _running_axis(x, axis, "cumprod")
    data = x._backend.xp.cumprod(x._data, axis=ax)
    if data.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("cumprod", data, x._backend, (x,), (_cumprod_vjp,), (x, ax), save_output=True)


def _reverse_cumsum(t: Tensor, axis: int) -> Tensor:
    from gradkit.ops.shape import flip

    return flip(cumsum(flip(t, axis), axis), axis)


def _cumprod_vjp(g: Tensor, x: Tensor, axis: int, y: Tensor) -> Tensor:
    """dx_j = sum_{i >= j} g_i prod_{k <= i, k != j} x_k, exact where x has zeros.

    Before the first zero of a row (x_j != 0 there) it is ``sum_{i >= j} g_i y_i / x_j`` (y_i = 0 from
    the first zero on, so those terms drop out by themselves). At the first zero k it is
    ``sum_{i >= k} g_i y'_i``, y' the running product with x_k taken as 1: no division. After the first
    zero every product in the sum holds x_k = 0, so it is 0. Recorded for a higher derivative, rows
    with zeros take the product of the others instead (n times the memory of a row, as ``prod``), since
    the derivative of the zero slope after x_k with respect to x_k is not zero.

    No host read on CuPy when the backward pass is not recorded: the first-zero term is computed
    whether or not there is a zero (NumPy looks first, for free).
    """
    from gradkit.ops.elementwise import where

    xp = x._backend.xp
    zero = x._data == 0
    on_host = type(x._data) is np.ndarray
    if grad_mode.state.enabled and (on_host or host_read_allowed(x._data)) and bool(zero.any()):
        return _cumprod_vjp_exact(g, x, axis)
    seen = xp.cumsum(zero, axis=axis)
    before = seen == 0  # no zero at or before this element
    dx = where(before, _reverse_cumsum(g * y, axis) / where(before, x, 1.0), 0.0)
    if on_host and not zero.any():
        return dx
    first = zero & (seen == 1)
    return dx + where(first, _reverse_cumsum(g * cumprod(where(first, 1.0, x), axis), axis), 0.0)


def _cumprod_vjp_exact(g: Tensor, x: Tensor, axis: int) -> Tensor:
    """The same slope as a product of the others for every (j, i), differentiable in x everywhere.

    With the axis last: row j of an (n, n) block is x with x_j replaced by 1, its running product at i
    is prod_{k <= i, k != j} x_k, and dx_j sums g_i times it over i >= j.
    """
    from gradkit.ops.elementwise import where
    from gradkit.ops.shape import moveaxis, unsqueeze

    xp = x._backend.xp
    n = x.shape[axis]
    xm, gm = moveaxis(x, axis, -1), moveaxis(g, axis, -1)
    rows = cumprod(where(xp.eye(n, dtype=bool), 1.0, unsqueeze(xm, -2)), -1)
    upper = xp.triu(xp.ones((n, n), dtype=bool))  # [j, i]: i >= j
    dx = sum(where(upper, unsqueeze(gm, -2) * rows, 0.0), axis=-1)
    return moveaxis(dx, -1, axis)


def norm(x: Any, ord: Any = 2, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A002 - NumPy's name
    """The vector ``ord``-norm over ``axis`` (all axes when None: the Frobenius norm of a matrix).

    ``ord`` is a number > 0, ``inf`` or ``-inf`` (PyTorch's ``linalg.vector_norm``). Where the norm
    is 0 its slope is taken as 0, as PyTorch does, not NaN.
    """
    from gradkit.dtypes import is_floating
    from gradkit.errors import ArgumentTypeError, DTypeError, InvalidArgumentError
    from gradkit.ops.elementwise import abs as abs_

    x = as_tensor(x, "norm")
    if not is_floating(x.dtype):
        raise DTypeError(f"norm: expected a floating-point tensor, got {x.dtype}")
    if isinstance(ord, bool) or not isinstance(ord, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"norm: ord must be a number, inf or -inf, got {type(ord).__name__} {ord!r:.40}")
    p = float(ord)
    if not (p > 0 or p == -math.inf) or math.isnan(p):
        raise InvalidArgumentError(f"norm: ord must be > 0, inf or -inf, got {ord!r}")
    axes = normalize_axes(axis, x.ndim, "norm")
    keepdims = _keepdims(keepdims, "norm")
    if abs(p) == math.inf and 0 in [x.shape[a] for a in axes]:
        from gradkit.errors import ShapeError

        raise ShapeError(f"norm: the {p:g}-norm of an empty selection (shape {x.shape}, axes {axes}) is undefined")
    if p == math.inf:
        return max(abs_(x), axes, keepdims)  # ties share the slope; abs's slope is 0 at 0
    if p == -math.inf:
        return min(abs_(x), axes, keepdims)
    if p == 1:
        return sum(abs_(x), axes, keepdims)
    xp = x._backend.xp
    a = xp.abs(x._data.astype(np.float32) if x.dtype == np.float16 else x._data)  # float16 sums overflow
    powered = a * a if p == 2 else a**p
    data = xp.sum(powered, axis=axes, keepdims=keepdims)
    data = (xp.sqrt(data) if p == 2 else data ** (1.0 / p)).astype(x.dtype, copy=False)
    return record("norm", data, x._backend, (x,), (_norm_vjp,), (x, p, axes, keepdims), save_output=True)


def _norm_vjp(g: Tensor, x: Tensor, p: float, axes: tuple, keepdims: bool, n: Tensor) -> Tensor:
    # d||x||_p / dx = sign(x) |x|^(p-1) / ||x||_p^(p-1); 0 where the norm is 0 and, for p < 1, where
    # x is 0 (|x|^(p-1) is infinite there), as PyTorch takes them
    from gradkit.ops.elementwise import abs as abs_
    from gradkit.ops.elementwise import sign, where

    if not keepdims:
        g, n = reshape(g, _kept_shape(x.shape, axes)), reshape(n, _kept_shape(x.shape, axes))
    zero = n == 0
    safe = where(zero, 1.0, n)
    if p == 2:
        slope = x / safe
    else:
        nonzero = x != 0
        slope = sign(x) * where(nonzero, abs_(x), 1.0) ** (p - 1) / safe ** (p - 1)
    return where(zero, 0.0, g * slope)
