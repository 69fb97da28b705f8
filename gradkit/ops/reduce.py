"""Reductions (sum, mean, var, max, ...) and their VJP rules.

A reduction's gradient is the output gradient put back over the reduced
axes: ``_expand`` reshapes it to keepdims form and broadcasts it to the
input's shape.

Every reduction takes NumPy's ``axis=``/``keepdims=`` and PyTorch's ``dim=``/``keepdim=``
(keyword-only, NOT_GIVEN by default: NumPy's spelling pays one ``is`` per keyword). A call with
``dim=`` or ``keepdim=`` is PyTorch's form and returns what PyTorch returns where the two differ:
``max``/``min``/``median``/``nanmedian`` along one dim give ``(values, indices)``, ``var``/``std``
default to ``correction=1``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from gradkit._args import flag, text
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd import grad_mode
from gradkit.autograd.function import record
from gradkit.dtypes import to_dtype
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import (
    DDOF_DEFAULT,
    NOT_GIVEN,
    as_tensor,
    host_read_allowed,
    normalize_axes,
    normalize_axis,
    renamed,
    torch_dims,
)
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


def _cast(x: Tensor, dtype: Any, op: str) -> tuple[Tensor, np.dtype]:
    """NumPy's ``dtype=`` of a reduction: ``x`` cast to it first (the gradient is cast back, as
    ``astype``'s), and the dtype, which the reduction then accumulates in."""
    from gradkit.ops.shape import astype

    dt = to_dtype(dtype, op)
    return astype(x, dt), dt


def sum(  # noqa: A001
    x: Any,
    axis: Any = None,
    keepdims: bool = False,
    *,
    dtype: Any = None,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
) -> Tensor:
    """Sum over ``axis`` (None: all axes; PyTorch's ``dim=()`` too).

    ``dtype=``: as NumPy's, the elements are cast to it and summed in it (the gradient comes back in
    x's dtype, as a cast's).
    """
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("sum", axis, keepdims, dim, keepdim, empty_is_all=True)
    x = as_tensor(x, "sum")
    if _autocast.active and dtype is None:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (x,) = _autocast.to_float32("sum", x)
    axes = normalize_axes(axis, x.ndim, "sum")
    keepdims = _keepdims(keepdims, "sum")
    if dtype is None:
        data = x._data.sum(axis=axes, keepdims=keepdims)
    else:
        x, dt = _cast(x, dtype, "sum")
        data = x._data.sum(axis=axes, keepdims=keepdims, dtype=dt)
    return record("sum", data, x._backend, (x,), (_sum_vjp,), (x.shape, axes, keepdims), info=axes)


def _sum_vjp(g: Tensor, shape: tuple, axes: tuple, keepdims: bool) -> Tensor:
    return _expand(g, shape, axes, keepdims)


def mean(
    x: Any,
    axis: Any = None,
    keepdims: bool = False,
    *,
    dtype: Any = None,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
) -> Tensor:
    """Arithmetic mean over ``axis`` (None: all axes; PyTorch's ``dim=()`` too).

    ``dtype=``: as NumPy's, the elements are cast to it and averaged in it (an integer dtype gives
    NumPy's truncated mean, without a gradient).
    """
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("mean", axis, keepdims, dim, keepdim, empty_is_all=True)
    x = as_tensor(x, "mean")
    axes = normalize_axes(axis, x.ndim, "mean")
    keepdims = _keepdims(keepdims, "mean")
    if dtype is None:
        data = x._data.mean(axis=axes, keepdims=keepdims)
    else:
        x, dt = _cast(x, dtype, "mean")
        data = x._data.mean(axis=axes, keepdims=keepdims, dtype=dt)
    n = _count(x.shape, axes)
    return record("mean", data, x._backend, (x,), (_mean_vjp,), (x.shape, axes, keepdims, n), info=axes)


def _mean_vjp(g: Tensor, shape: tuple, axes: tuple, keepdims: bool, n: int) -> Tensor:
    return _expand(g, shape, axes, keepdims) / n


def var(
    x: Any,
    axis: Any = None,
    ddof: int = DDOF_DEFAULT,
    keepdims: bool = False,
    *,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
    correction: Any = NOT_GIVEN,
    unbiased: Any = NOT_GIVEN,
) -> Tensor:
    """Variance over ``axis`` with NumPy's ``ddof`` (0: population variance).

    ``correction=`` is the same number (PyTorch's and the array API's name), ``unbiased=True`` ddof 1
    (PyTorch's older keyword); PyTorch's form (``dim=`` or ``keepdim=`` given) defaults to
    ``correction=1``, as ``torch.var``.
    """
    x, axes, ddof, keepdims, n = _moment_setup("var", x, axis, ddof, keepdims, dim, keepdim, correction, unbiased)
    data = _second_moment(x._data, axes, ddof, keepdims, n, root=False)
    return record("var", data, x._backend, (x,), (_var_vjp,), (x, axes, keepdims, n - ddof), info=axes)


def _moment_setup(
    op: str, x: Any, axis: Any, ddof: Any, keepdims: Any, dim: Any, keepdim: Any, correction: Any, unbiased: Any
) -> tuple:
    """var's and std's checked arguments: ``(x, axes, ddof, keepdims, n)``, n the count reduced over."""
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN or correction is not NOT_GIVEN or unbiased is not NOT_GIVEN:
        axis, ddof, keepdims = _moment_args(op, axis, ddof, keepdims, dim, keepdim, correction, unbiased)
    elif ddof is DDOF_DEFAULT:
        ddof = 0  # a plain int: NumPy's var takes an int subclass on a slower path (about 2 us)
    x = as_tensor(x, op)
    _check_ddof(ddof, op)
    axes = normalize_axes(axis, x.ndim, op)
    return x, axes, ddof, _keepdims(keepdims, op), _count(x.shape, axes)


def _moment_args(
    op: str, axis: Any, ddof: Any, keepdims: Any, dim: Any, keepdim: Any, correction: Any, unbiased: Any
) -> tuple:
    """var's and std's ``(axis, ddof, keepdims)`` with PyTorch's keywords: ``correction`` is ddof,
    ``unbiased`` ddof 1 or 0, and PyTorch's form (``dim=``/``keepdim=``) defaults to 1."""
    from gradkit._args import flag

    torch_form = dim is not NOT_GIVEN or keepdim is not NOT_GIVEN
    axis, keepdims = torch_dims(op, axis, keepdims, dim, keepdim, empty_is_all=True)
    given = ddof is not DDOF_DEFAULT
    if correction is not NOT_GIVEN and correction is not None:  # None: PyTorch's default
        if given:
            raise InvalidArgumentError(
                f"{op}: got both ddof={ddof!r:.40} (NumPy's name) and correction={correction!r:.40} (PyTorch's); "
                "give one"
            )
        ddof, given = correction, True
    if unbiased is not NOT_GIVEN:
        if given:
            raise InvalidArgumentError(
                f"{op}: unbiased={unbiased!r:.40} cannot be given with ddof= or correction=; give one (unbiased=True "
                "is correction=1)"
            )
        ddof, given = int(flag(unbiased, op, "unbiased")), True
    if not given:
        ddof = 1 if torch_form else 0  # PyTorch's default correction (Bessel's), NumPy's ddof
    return axis, ddof, keepdims


def _second_moment(xd: Any, axes: tuple, ddof: Any, keepdims: bool, n: int, root: bool) -> Any:
    """NumPy's ``var`` (or ``std`` when ``root``) of ``xd``.

    With no degrees of freedom left (ddof >= n) it is the sum of squares over 0, inf (NaN where the
    values are all equal), as NumPy gives with a RuntimeWarning; CuPy gives NaN there.
    """
    if n - ddof > 0:
        moment = xd.std if root else xd.var
        return moment(axis=axes, ddof=ddof, keepdims=keepdims)
    warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=3)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "Mean of empty slice" (n == 0)
        return xd.var(axis=axes, keepdims=keepdims) * n / 0.0  # inf and sqrt(inf) alike


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


def std(
    x: Any,
    axis: Any = None,
    ddof: int = DDOF_DEFAULT,
    keepdims: bool = False,
    *,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
    correction: Any = NOT_GIVEN,
    unbiased: Any = NOT_GIVEN,
) -> Tensor:
    """Standard deviation over ``axis`` (the square root of ``var``; PyTorch's keywords as ``var``'s).

    Where it is 0 (all values equal) its slope is taken as 0, as in PyTorch, not 0/0.
    """
    x, axes, ddof, keepdims, n = _moment_setup("std", x, axis, ddof, keepdims, dim, keepdim, correction, unbiased)
    data = _second_moment(x._data, axes, ddof, keepdims, n, root=True)
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


def max(  # noqa: A001
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
) -> Any:
    """Largest element over ``axis``; ties share the gradient.

    PyTorch's form, ``max(x, dim=d)`` (or ``keepdim=`` with an int axis), returns
    ``gk.return_types.max(values, indices)`` as ``torch.max(x, d)``: the first index of the largest
    value (of the first NaN where there is one), and the whole gradient goes to that element.
    ``max(x, other)`` with a Tensor ``other`` is PyTorch's binary form, ``maximum(x, other)``.
    """
    if isinstance(axis, Tensor):
        return _binary_extreme("max", x, axis, keepdims, dim, keepdim)
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        return _torch_extreme("max", x, axis, keepdims, dim, keepdim)
    return _extreme("max", x, axis, keepdims)


def min(  # noqa: A001
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
) -> Any:
    """Smallest element over ``axis``; ties share the gradient.

    PyTorch's form, ``min(x, dim=d)``, returns ``gk.return_types.min(values, indices)`` as ``max``'s;
    ``min(x, other)`` with a Tensor ``other`` is ``minimum(x, other)`` (PyTorch's binary form).
    """
    if isinstance(axis, Tensor):
        return _binary_extreme("min", x, axis, keepdims, dim, keepdim)
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        return _torch_extreme("min", x, axis, keepdims, dim, keepdim)
    return _extreme("min", x, axis, keepdims)


def _binary_extreme(name: str, x: Any, other: Tensor, keepdims: Any, dim: Any, keepdim: Any) -> Tensor:
    """``torch.max(input, other)`` / ``torch.min(input, other)``: the elementwise ``maximum``/``minimum``."""
    from gradkit.ops.elementwise import maximum, minimum

    if keepdims is not False or dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        raise ArgumentTypeError(
            f"{name}: with a Tensor second argument this is the elementwise {name}imum (PyTorch's "
            f"torch.{name}(input, other)), which takes no axis, keepdims, dim or keepdim"
        )
    return (maximum if name == "max" else minimum)(x, other)


def amax(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN) -> Tensor:
    """NumPy's and PyTorch's other name for :func:`max` (values only, also with ``dim=``, which may be a
    tuple; ``dim=()`` is every axis, as ``torch.amax``); ties share the gradient."""
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("amax", axis, keepdims, dim, keepdim, empty_is_all=True)
    return _extreme("max", x, axis, keepdims)


def amin(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN) -> Tensor:
    """NumPy's and PyTorch's other name for :func:`min` (values only, as :func:`amax`)."""
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("amin", axis, keepdims, dim, keepdim, empty_is_all=True)
    return _extreme("min", x, axis, keepdims)


def _torch_extreme(name: str, x: Any, axis: Any, keepdims: Any, dim: Any, keepdim: Any) -> Any:
    """PyTorch's ``max``/``min`` with ``dim=``: ``(values, indices)`` along one dim, values alone over all."""
    axis, keepdims = torch_dims(name, axis, keepdims, dim, keepdim)
    if axis is None:  # torch.max(x) has no indices (and no keepdim: gradkit's keepdims then)
        return _extreme(name, x, None, keepdims)
    x = as_tensor(x, name)
    ax = _one_dim(name, x, axis)
    keepdims = _keepdims(keepdims, name)
    if x.size and x.ndim:
        idx = getattr(x._data, "arg" + name)(axis=ax)  # the first extreme; the first NaN where there is one
    else:  # a 0-d x (index 0), or rows of no elements along other axes (an empty result)
        idx = x._backend.xp.zeros(_result_shape(x.shape, (ax,), False) if x.ndim else (), dtype=np.int64)
    return _picked(name, x, ax, idx, keepdims)


def _one_dim(name: str, x: Tensor, axis: Any) -> int:
    """The one axis of PyTorch's form of a reduction that returns indices, normalised (0 for a 0-d x);
    refused when it is a tuple or along an empty axis."""
    if isinstance(axis, tuple):
        hint = "amax/amin or " if name in ("max", "min") else ""
        raise InvalidArgumentError(
            f"{name}: dim must be one int here (PyTorch's {name}(x, dim) gives values and indices along one axis), "
            f"got {axis!r:.40}; over several axes use {hint}the NumPy form {name}(x, axis=...)"
        )
    ax = normalize_axis(axis, x.ndim, name)
    if x.ndim and x.shape[ax] == 0:
        raise ShapeError(f"{name}: axis {ax} of shape {x.shape} is empty: {name} of no elements has no value or index")
    return ax


def _picked(name: str, x: Tensor, ax: int, idx: Any, keepdims: bool) -> Any:
    """``return_types.<name>(values, indices)`` for ``idx``, one index per slice along ``ax`` (that axis
    dropped); the values are gathered from ``x``, so the gradient goes to the indexed elements only."""
    from gradkit import return_types
    from gradkit.ops.indexing import _along

    xp = x._backend.xp
    idx = xp.asarray(idx).astype(np.int64, copy=False)
    if x.ndim == 0:  # PyTorch: dim 0 or -1 of a 0-d tensor, its one element at index 0
        values = reshape(x, ())
    else:
        values = _along(x, ax, idx, name, kept=False)
        if values._requires_grad:  # the node keeps idx: the indices handed out are a copy (a small int array),
            idx = idx.copy()  # so that changing them in place cannot move the gradient
    if keepdims and x.ndim:
        kept = _kept_shape(x.shape, (ax,))
        values, idx = reshape(values, kept), idx.reshape(kept)
    return getattr(return_types, name)(values, Tensor._make(idx, x._backend))


def prod(
    x: Any,
    axis: Any = None,
    keepdims: bool = False,
    *,
    dtype: Any = None,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
) -> Tensor:
    """Product over ``axis`` (PyTorch's ``dim=`` too); ``dtype=`` as ``sum``'s."""
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("prod", axis, keepdims, dim, keepdim)
    x = as_tensor(x, "prod")
    if _autocast.active and dtype is None:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (x,) = _autocast.to_float32("prod", x)
    axes = normalize_axes(axis, x.ndim, "prod")
    keepdims = _keepdims(keepdims, "prod")
    if dtype is None:
        data = x._data.prod(axis=axes, keepdims=keepdims)
    else:
        x, dt = _cast(x, dtype, "prod")
        data = x._data.prod(axis=axes, keepdims=keepdims, dtype=dt)
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


def logsumexp(
    x: Any,
    axis: Any = None,
    keepdims: bool = False,
    *,
    b: Any = None,
    return_sign: bool = False,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
) -> Any:
    """log(sum(exp(x))) over ``axis``, without overflow (PyTorch's ``dim=`` too).

    SciPy's keywords (keyword-only: the third argument stays ``keepdims``): ``b`` scales each exp(x)
    (broadcast with x; a number or list takes x's float dtype, a float tensor or array promotes with
    it) and the result is log|sum(b exp(x))|, differentiable in x and b; elements where b is 0 count
    for nothing, whatever x is there. Where the sum is negative the result is NaN, unless
    ``return_sign=True``, which returns ``(value, sign)``: the sign of the sum (1, -1, 0 where it is
    0, NaN where it is NaN), in the value's dtype, without a gradient.
    """
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("logsumexp", axis, keepdims, dim, keepdim)
    x = as_tensor(x, "logsumexp")
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (x,) = _autocast.to_float32("logsumexp", x)
    try:
        keepdims = _keepdims(keepdims, "logsumexp")
    except ArgumentTypeError:
        raise ArgumentTypeError(
            f"logsumexp: the third argument is keepdims (True or False), got {type(keepdims).__name__} "
            f"{keepdims!r:.40}; SciPy's scale factors are keyword-only here: logsumexp(x, axis, b=...)"
        ) from None
    return_sign = flag(return_sign, "logsumexp", "return_sign")
    if x.dtype.kind == "b":  # as PyTorch: counted as 0.0 and 1.0, in the default float dtype
        x = Tensor._make(x._data.astype(np.float32), x._backend)
    elif x.dtype.kind != "f":  # the float dtype sin gives, before the max is subtracted (uint8's 1 - 3 wraps)
        from gradkit.ops.elementwise import _as_float

        x = Tensor._make(_as_float(x._data), x._backend)
    if b is not None:
        return _scaled_logsumexp(x, axis, keepdims, b, return_sign)
    axes = normalize_axes(axis, x.ndim, "logsumexp")
    xp = x._backend.xp
    peak = _lse_peak(x._data, axes, xp)
    with np.errstate(divide="ignore"):  # every element -inf: log(0) = -inf is the answer, not a warning
        total = xp.exp(x._data - peak).sum(axis=axes, keepdims=True)
        data = xp.log(total) + peak
    if not keepdims:
        data = data.reshape(_result_shape(x.shape, axes, False))
    out = record(
        "logsumexp", data, x._backend, (x,), (_logsumexp_vjp,), (x, axes, keepdims), save_output=True, info=axes
    )
    return (out, _lse_sign(xp.sign(total), x.shape, axes, keepdims, x._backend)) if return_sign else out


def _lse_peak(xd: Any, axes: tuple, xp: Any) -> Any:
    """The shift logsumexp subtracts: the max over ``axes`` (kept), 0 where it is not finite or empty."""
    if xd.size == 0:  # an empty sum: log(0) = -inf, as SciPy and PyTorch give
        kept = _kept_shape(xd.shape, axes)
        return xp.zeros(tuple(1 if d == 0 else d for d in kept), dtype=xd.dtype)
    peak = xd.max(axis=axes, keepdims=True)
    return xp.where(xp.isfinite(peak), peak, peak.dtype.type(0))  # a typed 0: NumPy 1.x upcasts 0-d float32


def _lse_sign(sign: Any, shape: tuple, axes: tuple, keepdims: bool, backend: Any) -> Tensor:
    """The sign of logsumexp's sum (kept over ``axes``) as the returned tensor, without a gradient."""
    if not keepdims:
        sign = sign.reshape(_result_shape(shape, axes, False))
    return Tensor._make(sign, backend)


def _logsumexp_vjp(g: Tensor, x: Tensor, axes: tuple, keepdims: bool, y: Tensor) -> Tensor:
    from gradkit.ops.elementwise import exp

    return _expand(g, x.shape, axes, keepdims) * exp(x - _expand(y, x.shape, axes, keepdims))


def _scaled_logsumexp(x: Tensor, axis: Any, keepdims: bool, b: Any, return_sign: bool) -> Any:
    """logsumexp with SciPy's scale factors ``b``: log|sum(b exp(x))| (and its sign)."""
    from gradkit.ops.shape import astype

    given_array = isinstance(b, (Tensor, x._backend.array_type, np.ndarray))
    bt = as_tensor(b, "logsumexp", x._backend)
    if bt.dtype.kind not in "biuf":
        raise DTypeError(f"logsumexp: b must be numbers, got dtype {bt.dtype}")
    dtype = np.result_type(x.dtype, bt.dtype) if given_array and bt.dtype.kind == "f" else x.dtype
    try:
        shape = tuple(np.broadcast_shapes(x.shape, bt.shape))
    except ValueError:
        raise ShapeError(f"logsumexp: b of shape {bt.shape} does not broadcast with x of shape {x.shape}") from None
    xs = broadcast_to(astype(x, dtype), shape)
    bs = broadcast_to(astype(bt, dtype), shape)
    axes = normalize_axes(axis, len(shape), "logsumexp")
    xp = x._backend.xp
    zero = bs._data == 0
    masked = xp.where(zero, dtype.type(-np.inf), xs._data)  # b == 0: no term, even where x is inf
    peak = _lse_peak(masked, axes, xp)
    with np.errstate(divide="ignore", invalid="ignore"):  # a sum of 0 (log 0 = -inf), inf - inf (NaN)
        total = (bs._data * xp.exp(masked - peak)).sum(axis=axes, keepdims=True)
        data = xp.log(xp.abs(total)) + peak
        if not return_sign:
            data = xp.where(total < 0, dtype.type(np.nan), data)  # SciPy's NaN for a negative sum
    sign = xp.sign(total)
    if not keepdims:
        data = data.reshape(_result_shape(shape, axes, False))
    saved = (xs, bs, zero, sign, axes, keepdims)
    out = record("logsumexp", data, x._backend, (xs, bs), (_scaled_lse_x_vjp, _scaled_lse_b_vjp), saved,
                 save_output=True, info=axes)  # fmt: skip
    return (out, _lse_sign(sign, shape, axes, keepdims, x._backend)) if return_sign else out


def _scaled_lse_weights(g: Tensor, x: Tensor, axes: tuple, keepdims: bool, sign: Any, y: Tensor) -> Tensor:
    """g times d log|s| / d b_i = exp(x_i) / s = sign(s) exp(x_i - log|s|), over x's (broadcast) shape."""
    from gradkit.ops.elementwise import exp

    return _expand(g, x.shape, axes, keepdims) * exp(x - _expand(y, x.shape, axes, keepdims)) * sign


def _scaled_lse_x_vjp(
    g: Tensor, x: Tensor, b: Tensor, zero: Any, sign: Any, axes: tuple, keepdims: bool, y: Tensor
) -> Tensor:
    from gradkit.ops.elementwise import where

    with np.errstate(invalid="ignore"):  # inf * 0 where b is 0 and x inf: no slope there, replaced below
        return where(zero, 0.0, _scaled_lse_weights(g, x, axes, keepdims, sign, y) * b)


def _scaled_lse_b_vjp(
    g: Tensor, x: Tensor, b: Tensor, zero: Any, sign: Any, axes: tuple, keepdims: bool, y: Tensor
) -> Tensor:
    return _scaled_lse_weights(g, x, axes, keepdims, sign, y)


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


def argmax(
    x: Any, axis: int | None = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
) -> Tensor:
    """Index of the largest element (over the flattened tensor when ``axis`` is None; PyTorch's ``dim=``)."""
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("argmax", axis, keepdims, dim, keepdim)
    return _arg("argmax", x, axis, keepdims)


def argmin(
    x: Any, axis: int | None = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
) -> Tensor:
    """Index of the smallest element (over the flattened tensor when ``axis`` is None; PyTorch's ``dim=``)."""
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("argmin", axis, keepdims, dim, keepdim)
    return _arg("argmin", x, axis, keepdims)


def _logical(name: str, x: Any, axis: Any, keepdims: bool, dim: Any, keepdim: Any) -> Tensor:
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims(name, axis, keepdims, dim, keepdim)
    x = as_tensor(x, name)
    axes = normalize_axes(axis, x.ndim, name)
    keepdims = _keepdims(keepdims, name)
    xp = x._backend.xp
    return Tensor._make(xp.asarray(getattr(xp, name)(x._data, axis=axes, keepdims=keepdims)), x._backend)


def any(  # noqa: A001
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
) -> Tensor:
    """Whether any element over ``axis`` is true (non-zero), as a bool tensor; no gradient."""
    return _logical("any", x, axis, keepdims, dim, keepdim)


def all(  # noqa: A001
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
) -> Tensor:
    """Whether every element over ``axis`` is true (non-zero), as a bool tensor; no gradient."""
    return _logical("all", x, axis, keepdims, dim, keepdim)


def _running_axis(x: Any, axis: int | None, op: str) -> tuple[Tensor, int]:
    """``x`` and the axis a running sum or product goes along: ``axis=None`` flattens, as NumPy."""
    x = as_tensor(x, op)
    if x.ndim == 0 and axis is not None:
        normalize_axis(axis, 1, op)  # 0 or -1, as NumPy: the result has one axis
        axis = None
    if axis is None:
        x, axis = (x if x.ndim == 1 else reshape(x, (-1,))), 0
    return x, normalize_axis(axis, x.ndim, op)


def cumsum(x: Any, axis: int | None = None, dtype: Any = None, *, dim: Any = NOT_GIVEN) -> Tensor:
    """Running sums along ``axis`` (over the flattened tensor when None, as NumPy; PyTorch's ``dim=``).

    Integer and bool tensors sum in NumPy's integer dtype, without a gradient. ``dtype=`` as ``sum``'s.
    """
    x, ax = _running_axis(x, renamed("cumsum", axis, None, dim, "axis", "dim"), "cumsum")
    if _autocast.active and dtype is None:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (x,) = _autocast.to_float32("cumsum", x)
    if dtype is None:
        data = x._backend.xp.cumsum(x._data, axis=ax)
    else:
        x, dt = _cast(x, dtype, "cumsum")
        data = x._backend.xp.cumsum(x._data, axis=ax, dtype=dt)
    if data.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("cumsum", data, x._backend, (x,), (_reverse_cumsum,), (ax,))


def _reverse_cumsum(t: Tensor, axis: int) -> Tensor:
    """Running sums from the far end: cumsum's VJP (out[i] = sum_{j <= i} x[j], so dx[j] = sum_{i >= j} g[i])."""
    from gradkit.ops.shape import flip

    return flip(cumsum(flip(t, axis), axis), axis)


def cumprod(x: Any, axis: int | None = None, dtype: Any = None, *, dim: Any = NOT_GIVEN) -> Tensor:
    """Running products along ``axis`` (over the flattened tensor when None, as NumPy; PyTorch's ``dim=``).

    Integer and bool tensors multiply in NumPy's integer dtype, without a gradient. The gradient is
    exact with zeros in ``x`` (``y / x`` is not): see ``_cumprod_vjp``. ``dtype=`` as ``sum``'s.
    """
    x, ax = _running_axis(x, renamed("cumprod", axis, None, dim, "axis", "dim"), "cumprod")
    if _autocast.active and dtype is None:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (x,) = _autocast.to_float32("cumprod", x)
    if dtype is None:
        data = x._backend.xp.cumprod(x._data, axis=ax)
    else:
        x, dt = _cast(x, dtype, "cumprod")
        data = x._backend.xp.cumprod(x._data, axis=ax, dtype=dt)
    if data.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("cumprod", data, x._backend, (x,), (_cumprod_vjp,), (x, ax), save_output=True)


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


def norm(
    x: Any,
    ord: Any = None,  # noqa: A002 - NumPy's name
    axis: Any = None,
    keepdims: bool = False,
    *,
    p: Any = NOT_GIVEN,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
) -> Tensor:
    """The vector ``ord``-norm over ``axis`` (all axes when None: the Frobenius norm of a matrix).

    ``ord`` is a number > 0, ``0``, ``inf`` or ``-inf`` (PyTorch's ``linalg.vector_norm``; ord 0 counts
    the non-zero elements, in x's dtype, with a zero gradient); None (NumPy's default) and ``"fro"`` are
    2: the 2-norm of a vector, the Frobenius norm over all the elements of a matrix or over two axes.
    Where the norm is 0 its slope is taken as 0, as PyTorch does, not NaN. ``Tensor.norm``'s PyTorch
    keywords: ``p=`` for ``ord``, ``dim=`` (``dim=()`` is every axis), ``keepdim=``.
    """
    from gradkit.dtypes import is_floating
    from gradkit.errors import ArgumentTypeError
    from gradkit.ops.elementwise import abs as abs_

    if ord is None:
        ord = 2  # noqa: A001
    if p is not NOT_GIVEN or dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        ord = renamed("norm", ord, 2, p, "ord", "p")  # noqa: A001
        ord = 2 if ord is None else ord  # noqa: A001
        axis, keepdims = torch_dims("norm", axis, keepdims, dim, keepdim, empty_is_all=True)
    if isinstance(ord, str) and ord == "fro":  # Frobenius over the axes: the 2-norm's sum
        ord = 2  # noqa: A001
    x = as_tensor(x, "norm")
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        (x,) = _autocast.to_float32("norm", x)
    if not is_floating(x.dtype):
        raise DTypeError(f"norm: expected a floating-point tensor, got {x.dtype}")
    if isinstance(ord, bool) or not isinstance(ord, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(
            f"norm: ord must be a number, inf, -inf, None or 'fro', got {type(ord).__name__} {ord!r:.40}"
        )
    p = float(ord)
    if not (p >= 0 or p == -math.inf) or math.isnan(p):
        raise InvalidArgumentError(f"norm: ord must be > 0, 0, inf or -inf, got {ord!r}")
    axes = normalize_axes(axis, x.ndim, "norm")
    keepdims = _keepdims(keepdims, "norm")
    if p == 0:  # the number of non-zero elements (NaN counts), piecewise constant
        data = (x._data != 0).sum(axis=axes, keepdims=keepdims).astype(x.dtype)
        return record("norm", data, x._backend, (x,), (_count_vjp,), (x.shape,))
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
    a = x._data.astype(np.float32) if x.dtype == np.float16 else x._data  # float16 sums overflow
    powered = a * a if p == 2 else xp.abs(a) ** p
    data = xp.sum(powered, axis=axes, keepdims=keepdims)
    data = (xp.sqrt(data) if p == 2 else data ** (1.0 / p)).astype(x.dtype, copy=False)
    return record("norm", data, x._backend, (x,), (_norm_vjp,), (x, p, axes, keepdims), save_output=True)


def _count_vjp(g: Tensor, shape: tuple) -> Tensor:
    return Tensor._make(g._backend.xp.zeros(shape, g.dtype), g._backend)  # not g * 0: inf * 0 is NaN


def _norm_vjp(g: Tensor, x: Tensor, p: float, axes: tuple, keepdims: bool, n: Tensor) -> Tensor:
    # d||x||_p / dx = sign(x) |x|^(p-1) / ||x||_p^(p-1); 0 where the norm is 0 and, for p < 1, where
    # x is 0 (|x|^(p-1) is infinite there), as PyTorch takes them
    from gradkit.ops.elementwise import abs as abs_
    from gradkit.ops.elementwise import sign, where

    if not keepdims:
        g, n = reshape(g, _kept_shape(x.shape, axes)), reshape(n, _kept_shape(x.shape, axes))
    zero = n == 0
    safe = where(zero, 1.0, n)
    # the factor of the reduced shape first (one pass over the small tensor), then one product with x's part
    if p == 2:
        return x * where(zero, 0.0, g / safe)
    nonzero = x != 0
    return sign(x) * where(nonzero, abs_(x), 1.0) ** (p - 1) * where(zero, 0.0, g / safe ** (p - 1))


# ------------------------------------------------------------------ NumPy's statistics
def _nan_parts(
    x: Any, axis: Any, keepdims: Any, op: str, dim: Any, keepdim: Any
) -> tuple[Tensor, tuple, bool, Any, Any]:
    """``x`` as a tensor, its axes and keepdims checked, its NaN mask and its data with the NaNs made 0
    (the last two None for integer and bool tensors, which hold no NaN)."""
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims(op, axis, keepdims, dim, keepdim, empty_is_all=True)
    x = as_tensor(x, op)
    axes = normalize_axes(axis, x.ndim, op)
    keepdims = _keepdims(keepdims, op)
    xd = x._data
    if xd.dtype.kind != "f":
        return x, axes, keepdims, None, None
    nan = x._backend.xp.isnan(xd)
    return x, axes, keepdims, nan, x._backend.xp.where(nan, xd.dtype.type(0), xd)


def nansum(
    x: Any,
    axis: Any = None,
    keepdims: bool = False,
    *,
    dtype: Any = None,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
) -> Tensor:
    """Sum over ``axis`` with NaNs counted as 0 (NumPy's ``nansum``); the slope is 0 at the NaNs.

    Integer and bool tensors sum as ``sum`` does (they hold no NaN). ``dtype=`` as ``sum``'s; a float
    tensor summed in an integer dtype has its NaNs made 0 first, as NumPy's.
    """
    x, axes, keepdims, nan, zeroed = _nan_parts(x, axis, keepdims, "nansum", dim, keepdim)
    dt = None
    if dtype is not None:
        dt = to_dtype(dtype, "nansum")
        if nan is None or dt.kind == "f":
            x, axes, keepdims, nan, zeroed = _nan_parts(_cast(x, dt, "nansum")[0], axes, keepdims, "nansum",
                                                        NOT_GIVEN, NOT_GIVEN)  # fmt: skip
        else:  # NaN -> 0, then each value cast: no gradient
            return Tensor._make(zeroed.sum(axis=axes, keepdims=keepdims, dtype=dt), x._backend)
    if nan is None:
        return Tensor._make(x._data.sum(axis=axes, keepdims=keepdims, dtype=dt), x._backend)
    data = zeroed.sum(axis=axes, keepdims=keepdims, dtype=dt)  # what NumPy's nansum does
    return record("nansum", data, x._backend, (x,), (_nansum_vjp,), (nan, x.shape, axes, keepdims), info=axes)


def _nansum_vjp(g: Tensor, nan: Any, shape: tuple, axes: tuple, keepdims: bool) -> Tensor:
    from gradkit.ops.elementwise import where

    return where(nan, 0.0, _expand(g, shape, axes, keepdims))


def nanmean(
    x: Any,
    axis: Any = None,
    keepdims: bool = False,
    *,
    dtype: Any = None,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
) -> Tensor:
    """Mean over ``axis`` of the elements that are not NaN (NumPy's ``nanmean``).

    A slice of NaNs only has a NaN mean; on NumPy that warns "Mean of empty slice" (a RuntimeWarning),
    as NumPy does, while on CuPy nothing is read back to warn. The slope is 1/count at the other
    elements and 0 at the NaNs (0 too in a slice of NaNs only, where PyTorch gives NaN). Integer and
    bool tensors give their ``mean`` (float64), as NumPy. ``dtype=`` as ``mean``'s; a float tensor
    needs a float dtype (DTypeError otherwise, as NumPy's TypeError).
    """
    x, axes, keepdims, nan, zeroed = _nan_parts(x, axis, keepdims, "nanmean", dim, keepdim)
    if dtype is not None:
        dt = to_dtype(dtype, "nanmean")
        if nan is None:
            return mean(x, axes, keepdims, dtype=dt)
        if dt.kind != "f":
            raise DTypeError(f"nanmean: a {x.dtype} tensor needs a floating-point dtype=, got {dt}")
        x, axes, keepdims, nan, zeroed = _nan_parts(_cast(x, dt, "nanmean")[0], axes, keepdims, "nanmean",
                                                    NOT_GIVEN, NOT_GIVEN)  # fmt: skip
    xd = x._data
    if nan is None:
        return Tensor._make(xd.mean(axis=axes, keepdims=keepdims), x._backend)
    total = zeroed.sum(axis=axes, keepdims=True)
    count = (~nan).sum(axis=axes, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 for a slice of NaNs: NaN, as NumPy
        data = (total / count).astype(xd.dtype, copy=False)  # divided in float64, as NumPy divides by the count
    if type(count) is np.ndarray and (count == 0).any():  # on the host only: NumPy's warning, free to check there
        import warnings

        warnings.warn("Mean of empty slice", RuntimeWarning, stacklevel=2)
    if not keepdims:
        data = data.reshape(_result_shape(x.shape, axes, False))
    saved = (nan, count, x.shape, axes, keepdims)
    return record("nanmean", data, x._backend, (x,), (_nanmean_vjp,), saved, info=axes)


def _nanmean_vjp(g: Tensor, nan: Any, count: Any, shape: tuple, axes: tuple, keepdims: bool) -> Tensor:
    xp = g._backend.xp
    weights = (~nan) / xp.maximum(count, 1)  # 1/count off the NaNs, 0 on them (and in slices of NaNs only)
    return _expand(g, shape, axes, keepdims) * weights.astype(g.dtype, copy=False)


def count_nonzero(
    x: Any, axis: Any = None, *, keepdims: bool = False, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
) -> Tensor:
    """The number of non-zero elements over ``axis`` (NumPy's ``count_nonzero``), as int64; no gradient.

    NaN counts as non-zero. With ``axis=None`` the result is a 0-d tensor (NumPy gives a Python int).
    """
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("count_nonzero", axis, keepdims, dim, keepdim, empty_is_all=True)
    x = as_tensor(x, "count_nonzero")
    axes = normalize_axes(axis, x.ndim, "count_nonzero")
    keepdims = _keepdims(keepdims, "count_nonzero")
    data = (x._data != 0).sum(axis=axes, keepdims=keepdims)
    return Tensor._make(x._backend.xp.asarray(data).astype(np.int64, copy=False), x._backend)


def ptp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Peak to peak, ``max - min`` over ``axis`` (NumPy's ``ptp``); the gradient goes as max's and min's
    do (shared among ties, so 0 where every value of a slice is equal). Integers wrap around as NumPy's."""
    x = as_tensor(x, "ptp")
    if x.dtype.kind == "b":
        raise DTypeError("ptp: not defined for a bool tensor (NumPy has no boolean subtract); use any/all")
    axes = normalize_axes(axis, x.ndim, "ptp")
    keepdims = _keepdims(keepdims, "ptp")
    if 0 in [x.shape[a] for a in axes]:
        raise ShapeError(f"ptp: reducing axes {axes} of an empty tensor of shape {x.shape}: no max or min")
    from gradkit.ops.elementwise import subtract

    return subtract(max(x, axes, keepdims), min(x, axes, keepdims))


def average(
    x: Any, axis: Any = None, weights: Any = None, returned: bool = False, *, keepdims: bool = False
) -> Any:
    """NumPy's ``average``: the mean over ``axis``, or ``sum(x * w) / sum(w)`` with ``weights``.

    ``weights`` has x's shape, or (with ``axis``) the shape of x along ``axis``, in the order the axes
    are given (NumPy 2's rule). Both x and the weights get gradients. With ``returned=True`` the
    result is ``(average, sum_of_weights)``, the sum broadcast to the average's shape (the count,
    without gradient, when there are no weights). dtypes as NumPy: integer and bool inputs average
    in float64. Weights that sum to 0 raise InvalidArgumentError (also a ZeroDivisionError, NumPy's
    error) on the CPU; on CuPy checking them would read the device, so the result is inf or NaN there.
    """
    from gradkit.ops.shape import astype, clone, transpose

    x = as_tensor(x, "average")
    returned = flag(returned, "average", "returned")
    keepdims = _keepdims(keepdims, "average")
    axes = normalize_axes(axis, x.ndim, "average")
    if weights is None:
        avg = mean(x, axes, keepdims)
        if not returned:
            return avg
        count = x.size / avg.size if avg.size else 0.0
        return avg, Tensor._make(x._backend.xp.full(avg.shape, count, dtype=avg.dtype), x._backend)
    w = as_tensor(weights, "average", x._backend) if not isinstance(weights, Tensor) else weights
    if w._backend is not x._backend:
        raise DeviceError(f"average: x is on {x.device}, the weights on {w.device}")
    if w.dtype.kind not in "biuf":
        raise DTypeError(f"average: weights must be numbers, got dtype {w.dtype}")
    if w.shape != x.shape:
        if axis is None:
            raise ShapeError(
                f"average: weights of shape {w.shape} differ from x's shape {x.shape}: give the axis they go along"
            )
        listed = axis if isinstance(axis, (tuple, list)) else [axis]
        given = tuple(normalize_axis(a, x.ndim, "average") for a in listed)  # in the order given, not sorted
        along = tuple(x.shape[a] for a in given)
        if w.shape != along:
            raise ShapeError(
                f"average: weights must have x's shape {x.shape} or its shape {along} along axis {axis!r}, "
                f"got {w.shape}"
            )
        order = tuple(int(i) for i in np.argsort(given))
        if order != tuple(range(len(order))):
            w = transpose(w, order)
        w = reshape(w, tuple(s if i in given else 1 for i, s in enumerate(x.shape)))
    if x.dtype.kind in "biu":
        dtype = np.result_type(x.dtype, w.dtype, np.float64)
    else:
        dtype = np.result_type(x.dtype, w.dtype)
    xr, wr = astype(x, dtype), astype(w, dtype)
    scale = sum(wr, axes, keepdims)
    if type(scale._data) is np.ndarray and (scale._data == 0).any():
        raise _ZeroWeightsError("average: the weights sum to zero, so they cannot be normalized")
    avg = sum(xr * wr, axes, keepdims) / scale
    if not returned:
        return avg
    if scale.shape != avg.shape:
        scale = clone(broadcast_to(scale, avg.shape))
    return avg, scale


class _ZeroWeightsError(InvalidArgumentError, ZeroDivisionError):
    """Weights that sum to zero: gradkit's InvalidArgumentError, and the ZeroDivisionError NumPy raises."""


# ------------------------------------------------------------- order statistics (median, quantile)
# Tie rule: an order statistic's gradient is shared equally among the elements equal to it (and, for a
# NaN result, among the NaNs), as max's and min's are; those are the order statistics 0 and n - 1, and
# quantile(x, 1.0) is max(x) with the same gradient. PyTorch's median() without dim does the same
# (evenly_distribute_backward); its median(dim) and quantile give it to one element chosen by the sort.
def _rows(xd: Any, axes: tuple, xp: Any) -> tuple[Any, int]:
    """``xd`` with the reduced axes moved last and flattened into one of length n: (kept..., n)."""
    kept = [i for i in range(xd.ndim) if i not in axes]
    order = kept + list(axes)
    n = _count(xd.shape, axes)
    moved = xd if order == list(range(xd.ndim)) else xp.transpose(xd, order)
    return moved.reshape(tuple(xd.shape[i] for i in kept) + (n,)), n


def _tie_share(xd: Any, value: Any, axes: tuple, xp: Any) -> Any:
    """Per element of ``xd``, 1/count where it equals its slice's ``value`` (count: how many do), else 0.

    ``value`` has the kept shape (1 on the reduced axes). A NaN value is matched by the slice's NaNs.
    """
    hit = xd == value
    if xd.dtype.kind == "f":
        hit |= xp.isnan(xd) & xp.isnan(value)
    count = hit.sum(axis=axes, keepdims=True)
    return hit / xp.maximum(count, 1)


def _order_stats_vjp(
    g: Tensor, x: Tensor, axes: tuple, keepdims: bool, q_axis: bool, low: Any, high: Any, w_low: Any, w_high: Any
) -> Tensor:
    """The gradient of ``w_low[i] * low[i] + w_high[i] * high[i]`` per quantile i, each order statistic's
    share split among the elements equal to it.

    ``low`` and ``high`` (nq, *kept shape) hold the order statistics' values (NaN where the slice has a
    NaN); ``w_low`` and ``w_high`` are Python floats per i, arrays of nq on the device, or arrays of the
    same shape as ``low`` (nanquantile's, whose weights differ between slices). The shares are
    constants: the rule is linear in ``g``, so higher derivatives (zero) work.
    """
    from gradkit.ops.indexing import getitem

    xp = x._backend.xp
    xd = x._data
    dx = None
    for i in range(low.shape[0]):
        share = _tie_share(xd, low[i], axes, xp) * w_low[i]
        if w_high is not None:
            share = share + _tie_share(xd, high[i], axes, xp) * w_high[i]
        gi = getitem(g, i) if q_axis else g
        term = _expand(gi, x.shape, axes, keepdims) * share.astype(x.dtype, copy=False)
        dx = term if dx is None else dx + term
    if dx is None:  # no quantiles asked for
        return Tensor._make(xp.zeros(x.shape, dtype=x.dtype), x._backend)
    if dx.dtype != x.dtype:  # a float64 q made a float32 x's result float64
        from gradkit.ops.shape import astype

        dx = astype(dx, x.dtype)
    return dx


def median(
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
) -> Any:
    """NumPy's ``median`` over ``axis``: the middle value, or the mean of the two middle values for an
    even count (PyTorch's ``median`` gives the lower one). A slice with a NaN has a NaN median.

    The gradient goes to the middle element (half to each of the two for an even count); an element
    tied with a middle value shares its gradient with the others equal to it, as max's ties do (see
    ``_tie_share``). dtypes as NumPy: floats keep theirs, integers and bools give float64. The median of
    no elements is NaN (NumPy warns "Mean of empty slice" there).

    PyTorch's form (``dim=`` or ``keepdim=``) is ``torch.median``: the lower middle value in x's dtype;
    along one dim ``gk.return_types.median(values, indices)`` (a slice with a NaN: NaN and the index of
    its first NaN), the whole gradient to the indexed element; over all axes (``dim=None``) the value,
    its gradient shared among the elements equal to it (as ``torch.median()``).
    """
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        return _torch_median("median", x, axis, keepdims, dim, keepdim)
    x = as_tensor(x, "median")
    axes = normalize_axes(axis, x.ndim, "median")
    keepdims = _keepdims(keepdims, "median")
    xp = x._backend.xp
    rows, n = _rows(x._data, axes, xp)
    ordered = xp.sort(rows, axis=-1)
    k = n // 2
    if n % 2:
        middle = ordered[..., k : k + 1]
    else:  # (no elements: an empty mean, NaN)
        middle = ordered[..., k - 1 : k + 1] if n else ordered
    data = middle.mean(axis=-1)  # as NumPy: the mean of the one or two middle values, in mean's dtype
    low = high = None
    if n:
        low, high = ordered[..., k - 1 if n % 2 == 0 else k], ordered[..., k]
        if x.dtype.kind == "f":  # a slice with a NaN has a NaN median
            nan, last = _sorted_nan(ordered, xp)
            data = xp.where(nan, last.astype(data.dtype, copy=False), data)
            low, high = xp.where(nan, last, low), xp.where(nan, last, high)
    data = xp.asarray(data).reshape(_result_shape(x.shape, axes, keepdims))
    if x.dtype.kind != "f" or not n:
        return Tensor._make(data, x._backend)
    kept = (1,) + _kept_shape(x.shape, axes)
    if n % 2:  # one middle element: all of the gradient goes to it
        saved = (x, axes, keepdims, False, low.reshape(kept), None, (1.0,), None)
    else:
        saved = (x, axes, keepdims, False, low.reshape(kept), high.reshape(kept), (0.5,), (0.5,))
    return record("median", data, x._backend, (x,), (_order_stats_vjp,), saved, info=axes)


def _torch_median(name: str, x: Any, axis: Any, keepdims: Any, dim: Any, keepdim: Any) -> Any:
    """PyTorch's ``median``/``nanmedian``: the lower middle value of each slice (of its values that are
    not NaN for nanmedian; for median a slice with a NaN gives its first NaN), in x's dtype."""
    axis, keepdims = torch_dims(name, axis, keepdims, dim, keepdim)
    x = as_tensor(x, name)
    keepdims = _keepdims(keepdims, name)
    xp = x._backend.xp
    if axis is None:  # torch.median(x): of every element, the value only
        if x.size == 0:
            raise ShapeError(f"{name}: the median of an empty tensor (shape {x.shape}) has no value")
        flat = x._data.reshape(-1)
        idx = _lower_middle(name, flat, 0, xp)
        data = flat[idx.reshape(1)].reshape((1,) * x.ndim if keepdims else ())
        if x.dtype.kind != "f":
            return Tensor._make(data, x._backend)
        # as torch.median(): the gradient shared among the elements equal to the value (max's tie rule)
        axes = tuple(range(x.ndim))
        # the value the gradient is routed by, of its own (one element): a view of data would follow an in-place
        # change to the result
        saved = (x, axes, keepdims, False, data.reshape((1,) + (1,) * x.ndim).copy(), None, (1.0,), None)
        return record(name, data, x._backend, (x,), (_order_stats_vjp,), saved, info=axes)
    ax = _one_dim(name, x, axis)
    if x.ndim == 0:
        return _picked(name, x, 0, xp.zeros((), dtype=np.int64), keepdims)
    if x.size == 0:  # rows of no elements along other axes: an empty result
        return _picked(name, x, ax, xp.zeros(_result_shape(x.shape, (ax,), False), dtype=np.int64), keepdims)
    return _picked(name, x, ax, _lower_middle(name, x._data, ax, xp), keepdims)


def _lower_middle(name: str, data: Any, ax: int, xp: Any) -> Any:
    """The index along ``ax`` of each slice's lower middle element (``data``'s axis ``ax`` removed): of a
    stable sort with the NaNs last, element ``(count - 1) // 2`` of the ``count`` values; for median a
    slice with a NaN gives its first NaN (element ``count``), for nanmedian one of NaNs only its first."""
    from gradkit.ops.indexing import _stable_order

    rows = xp.moveaxis(_stable_order(data, ax, False, xp), ax, -1)
    n = data.shape[ax]
    if data.dtype.kind != "f":
        return rows[..., (n - 1) // 2]
    nan = xp.moveaxis(xp.isnan(data), ax, -1)
    count = n - nan.sum(axis=-1, keepdims=True)
    k = xp.maximum(count - 1, 0) // 2
    if name == "median":
        k = xp.where(count < n, count, k)
    return xp.take_along_axis(rows, k.astype(np.int64, copy=False), axis=-1)[..., 0]


def _sorted_nan(ordered: Any, xp: Any) -> tuple[Any, Any]:
    """For rows sorted along the last axis: which hold a NaN, and a NaN of each such row.

    NumPy sorts every NaN last; CuPy radix-sorts float bits, so a NaN with the sign bit comes first.
    """
    first, last = ordered[..., 0], ordered[..., -1]
    at_front = xp.isnan(first)
    return at_front | xp.isnan(last), xp.where(at_front, first, last)


def quantile(
    x: Any,
    q: Any,
    axis: Any = None,
    keepdims: bool = False,
    method: str = "linear",
    *,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
) -> Tensor:
    """NumPy's ``quantile`` with its default ``method="linear"``: the ``q``-th quantile over ``axis``,
    interpolated between the two neighbouring order statistics (Hyndman and Fan's method 7).

    ``q`` is a number in [0, 1] or a 1-d sequence or tensor of them; with several the result has a
    leading axis of ``len(q)``. The gradient goes to the two neighbouring order statistics with the
    interpolation weights (an order statistic's share split among the elements equal to it, as
    ``median``'s); ``q`` gets none. A slice with a NaN gives NaN. dtypes and values as NumPy 2: a
    Python float ``q`` keeps a float input's dtype, an array or tensor ``q`` promotes with it, an
    integer ``q`` (0 or 1) picks an element in x's own dtype. A ``q`` on the host is checked (out of
    range: InvalidArgumentError); a ``q`` tensor on a GPU is not read back: entries outside [0, 1]
    (or NaN) give NaN there. PyTorch's ``dim=``/``keepdim=`` name ``axis``/``keepdims`` (the same values
    as ``torch.quantile``'s; the gradient is gradkit's, ties shared).
    """
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("quantile", axis, keepdims, dim, keepdim)
    if _autocast.active:  # gk.autocast: float16 computed in float32 (PyTorch's CPU list)
        x, q = _autocast.to_float32("quantile", x, q)
    return _quantile("quantile", x, q, axis, keepdims, method, 1)


def percentile(x: Any, q: Any, axis: Any = None, keepdims: bool = False, method: str = "linear") -> Tensor:
    """NumPy's ``percentile``: :func:`quantile` of ``q / 100`` (``q`` in [0, 100])."""
    return _quantile("percentile", x, q, axis, keepdims, method, 100)


def _quantile_args(op: str, x: Tensor, q: Any, axis: Any, keepdims: Any, method: Any, scale: int) -> tuple:
    """quantile's and nanquantile's checked arguments: (axes, keepdims, q array, q on the device?, the
    result dtype)."""
    if text(method, op, "method") != "linear":
        raise InvalidArgumentError(f"{op}: only method='linear' (NumPy's default) is supported, got {method!r}")
    axes = normalize_axes(axis, x.ndim, op)
    keepdims = _keepdims(keepdims, op)
    qv, on_device, weak = _quantile_q(op, x, q, scale)
    if _count(x.shape, axes) == 0:
        raise ShapeError(f"{op}: no {op}s of an empty selection (axes {axes} of shape {x.shape})")
    return axes, keepdims, qv, on_device, _quantile_dtype(op, x, qv, weak)


def _quantile(op: str, x: Any, q: Any, axis: Any, keepdims: bool, method: Any, scale: int) -> Tensor:
    x = as_tensor(x, op)
    axes, keepdims, qv, on_device, dtype = _quantile_args(op, x, q, axis, keepdims, method, scale)
    xp = x._backend.xp
    rows, n = _rows(x._data, axes, xp)
    ordered = xp.sort(rows, axis=-1)
    nan, last = _sorted_nan(ordered, xp) if x.dtype.kind == "f" else (None, None)
    lerp = _quantile_on_device if on_device else _quantile_on_host
    data, low, high, w_low, w_high = lerp(qv, ordered, n, dtype, xp)
    if nan is not None:  # a slice with a NaN gives NaN, and its gradient goes to its NaNs
        data = xp.where(nan, last.astype(dtype, copy=False), data)
        low, high = xp.where(nan, last, low), xp.where(nan, last, high)
    q_axis = qv.ndim == 1
    shape = _result_shape(x.shape, axes, keepdims)
    data = data.reshape(((data.shape[0],) if q_axis else ()) + shape)
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    kept = (low.shape[0],) + _kept_shape(x.shape, axes)
    saved = (x, axes, keepdims, q_axis, low.reshape(kept), high.reshape(kept), w_low, w_high)
    return record(op, data, x._backend, (x,), (_order_stats_vjp,), saved, info=axes)


def _quantile_dtype(op: str, x: Tensor, qv: Any, weak: bool) -> Any:
    """NumPy 2's result dtype for quantiles ``qv`` of ``x`` (``weak``: q was a Python number)."""
    fractional = qv.dtype.kind == "f"
    if fractional and x.dtype.kind == "b":
        raise DTypeError(f"{op}: cannot interpolate between bools (NumPy has no boolean subtract); convert x first")
    if not fractional:
        return x.dtype
    if weak:  # a Python float q: NumPy 2 keeps a float x's dtype
        return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    return np.result_type(x.dtype, qv.dtype)


def _quantile_q(op: str, x: Tensor, q: Any, scale: int) -> tuple[Any, bool, bool]:
    """``q`` as (array of the probabilities, on the device?, a Python number?), checked where it is on the host."""
    from gradkit.errors import ArgumentTypeError

    if isinstance(q, (bool, np.bool_, str, bytes)):
        raise ArgumentTypeError(f"{op}: q must be a number or a 1-d sequence of numbers, got {q!r:.40}")
    weak = type(q) in (int, float)  # NumPy 2: a Python number q does not promote a float32 x
    if not isinstance(q, Tensor) and x._backend.array_type is not np.ndarray and isinstance(q, x._backend.array_type):
        q = Tensor._make(q, x._backend)
    if isinstance(q, Tensor):
        if type(q._data) is not np.ndarray:  # on a GPU: used there, never read back
            if q._backend is not x._backend:
                raise DeviceError(f"{op}: x is on {x.device}, q on {q.device}")
            qd = q._data
            if qd.dtype.kind != "f":
                raise DTypeError(
                    f"{op}: a q tensor on {q.device} must be floating point, got {qd.dtype} (an integer q there could "
                    "not be checked without reading it back); pass q as a Python number or list"
                )
            if qd.ndim > 1:
                raise ShapeError(f"{op}: q must be a number or 1-d, got shape {qd.shape}")
            return (qd / scale if scale != 1 else qd), True, False
        qa = q._data
    else:
        try:
            qa = np.asarray(q)
        except (TypeError, ValueError) as exc:
            message = f"{op}: q must be a number or a 1-d sequence of numbers, got {q!r:.60} ({exc})"
            raise ArgumentTypeError(message) from None
    if qa.dtype.kind not in "iuf":
        raise DTypeError(f"{op}: q must be numbers, got dtype {qa.dtype}")
    if qa.ndim > 1:
        raise ShapeError(f"{op}: q must be a number or 1-d, got shape {qa.shape}")
    given = qa
    if scale != 1:
        qa = np.true_divide(qa, scale)
    if not bool(np.all((qa >= 0) & (qa <= 1))):  # NaN too
        raise InvalidArgumentError(f"{op}: q must be in [0, {scale}], got {given.tolist()!r:.80}")
    return qa, False, weak


def _quantile_on_host(qa: Any, ordered: Any, n: int, dtype: Any, xp: Any) -> tuple:
    """NumPy's linear interpolation for probabilities known on the host: one basic slice per q, so
    that nothing is copied to the device (a CUDA-graph capture can hold it)."""
    qf = qa.reshape(-1)
    if qf.dtype.kind != "f":  # 0 or 1: the first or the last order statistic itself
        index = [int(i) for i in (n - 1) * qf]
        gamma = [0.0] * len(index)
        lows = highs = index
    else:
        virtual = (n - 1) * qf  # NumPy's virtual index, in q's dtype
        prev = np.floor(virtual)
        above = virtual >= n - 1
        lows = [int(i) for i in np.where(above, n - 1, prev)]
        highs = [int(i) for i in np.where(above, n - 1, prev + 1)]
        # as NumPy: the index above the last is -1 there, so gamma is the virtual index + 1 (a == b anyway)
        gamma = [float(v) for v in (virtual - np.where(above, -1, prev).astype(np.intp)).astype(qf.dtype)]
    results = []
    for lo, hi, t in zip(lows, highs, gamma, strict=True):
        a, b = ordered[..., lo], ordered[..., hi]
        if qf.dtype.kind != "f":
            results.append(a)
            continue
        diff = (b - a).astype(dtype, copy=False)
        if t < 0.5:  # NumPy's _lerp: from the nearer end
            results.append(a.astype(dtype, copy=False) + diff * t)
        else:
            results.append(b.astype(dtype, copy=False) - diff * (1 - t))
    kept = ordered.shape[:-1]
    if not results:
        empty = xp.empty((0,) + kept, dtype=dtype)
        return empty, xp.empty((0,) + kept, dtype=ordered.dtype), xp.empty((0,) + kept, dtype=ordered.dtype), (), None
    data = xp.stack([xp.asarray(r, dtype=dtype) for r in results])
    low = xp.stack([ordered[..., i] for i in lows])
    high = xp.stack([ordered[..., i] for i in highs])
    if lows == highs:  # integer q, or every q at the last element: one order statistic each
        return data, low, high, [1.0] * len(lows), None
    w_high = [0.0 if lo == hi else t for lo, hi, t in zip(lows, highs, gamma, strict=True)]
    return data, low, high, [1.0 - w for w in w_high], w_high


def _quantile_on_device(qd: Any, ordered: Any, n: int, dtype: Any, xp: Any) -> tuple:
    """The same interpolation for probabilities on the device, vectorised, with no host read: entries
    outside [0, 1] (or NaN) give NaN instead of an error."""
    q1 = qd.reshape(-1)
    virtual = q1 * (n - 1)
    prev = xp.floor(virtual)
    above = virtual >= n - 1
    bad = ~((q1 >= 0) & (q1 <= 1))
    lo = xp.where(bad, 0, xp.where(above, n - 1, prev)).astype(np.int64)
    hi = xp.where(bad, 0, xp.where(above, n - 1, prev + 1)).astype(np.int64)
    gamma = (virtual.astype(np.float64) - xp.where(above, -1.0, prev)).astype(q1.dtype)
    low = xp.moveaxis(xp.take(ordered, lo, axis=-1), -1, 0)  # (nq, kept...)
    high = xp.moveaxis(xp.take(ordered, hi, axis=-1), -1, 0)
    t = gamma.astype(dtype).reshape(gamma.shape + (1,) * (ordered.ndim - 1))
    diff = (high - low).astype(dtype, copy=False)
    data = xp.where(t >= 0.5, high.astype(dtype, copy=False) - diff * (1 - t), low.astype(dtype, copy=False) + diff * t)
    data = xp.where(bad.reshape(t.shape), np.nan, data)
    w_high = xp.where(bad | (lo == hi), 0, gamma)
    w_low = xp.where(bad, 0, 1 - w_high)
    return data, low, high, w_low, w_high


# ------------------------------------------------- NaN-skipping order statistics (nanmedian, nanquantile)
# Each row is sorted with its NaNs made +inf, so that they come last whatever their sign bit (CuPy's radix
# sort puts a NaN with the sign bit first); its first `count` entries are then its values, sorted, and
# the order statistics' positions are computed from that count on the device: no host read. A row of
# NaNs only gives NaN, its gradient shared among its NaNs, as quantile's slice with a NaN; elsewhere the
# NaNs get none (they are never equal to an order statistic).
_MEDIAN_SORT_MIN = 600  # NumPy's nanmedian takes the median of each slice from this length, np.ma.median below


def _nan_last_rows(x: Tensor, axes: tuple, xp: Any) -> tuple[Any, Any, int]:
    """The reduced axes of a float ``x`` as sorted rows (kept..., n) whose NaNs come last (as +inf),
    the number of values that are not NaN per row (int64, (kept..., 1)), and n."""
    rows, n = _rows(x._data, axes, xp)
    nan = xp.isnan(rows)
    ordered = xp.sort(xp.where(nan, rows.dtype.type(np.inf), rows), axis=-1)
    count = (~nan).sum(axis=-1, keepdims=True).astype(np.int64, copy=False)
    return ordered, count, n


def _warn_all_nan(count: Any, stacklevel: int) -> None:
    """NumPy's warning for a slice of NaNs only, on the host only (a device count is never read back)."""
    if type(count) is np.ndarray and not count.all():
        warnings.warn("All-NaN slice encountered", RuntimeWarning, stacklevel=stacklevel + 1)


def nanmedian(
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = NOT_GIVEN, keepdim: Any = NOT_GIVEN
) -> Any:
    """NumPy's ``nanmedian``: :func:`median` over ``axis`` of the elements that are not NaN.

    A slice of NaNs only has a NaN median (with NumPy's RuntimeWarning "All-NaN slice encountered" on
    the CPU; on CuPy nothing is read back to warn). The gradient goes to the middle value (half to each
    of the two for an even count), shared among the elements equal to it as ``median``'s; the NaNs get
    none, except in a slice of NaNs only, where it is shared among them as ``median`` shares a NaN
    result's. Values bit for bit as NumPy's, which takes ``np.ma.median`` ((a + b) / 2 in x's dtype, so
    an odd count's middle value a gives (a + a) / 2) when some axis is kept and the reduced length is
    below 600, and ``median`` (the mean of the middle values) otherwise. Integer and bool tensors give
    their ``median`` (float64), as NumPy; an empty tensor gives ``nanmean``'s NaN, as NumPy.

    PyTorch's form (``dim=`` or ``keepdim=``) is ``torch.nanmedian``: ``median``'s PyTorch form over the
    values that are not NaN (a slice of NaNs only: NaN, and the index of a NaN).
    """
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        return _torch_median("nanmedian", x, axis, keepdims, dim, keepdim)
    x = as_tensor(x, "nanmedian")
    axes = normalize_axes(axis, x.ndim, "nanmedian")
    keepdims = _keepdims(keepdims, "nanmedian")
    if x.size == 0:  # what NumPy's nanmedian returns there
        return nanmean(x, axes, keepdims)
    if x.dtype.kind != "f":  # no NaN to skip
        return median(x, axes, keepdims)
    xp = x._backend.xp
    ordered, count, n = _nan_last_rows(x, axes, xp)
    low = xp.take_along_axis(ordered, xp.maximum(count - 1, 0) // 2, axis=-1)  # (kept..., 1)
    high = xp.take_along_axis(ordered, count // 2, axis=-1)  # the same one for an odd count
    if len(axes) == x.ndim or n >= _MEDIAN_SORT_MIN:  # NumPy's median of the slice: mean's arithmetic
        pair = xp.concatenate([low, high], axis=-1)
        data = xp.where(count % 2 == 1, low, pair.mean(axis=-1, keepdims=True))
    else:  # np.ma.median's: the sum of the two (the middle one twice for an odd count), halved
        data = (low + high) / 2
    empty = count == 0
    nan = x.dtype.type(np.nan)
    data = xp.where(empty, nan, data).astype(x.dtype, copy=False)
    _warn_all_nan(count, 2)
    data = data.reshape(_result_shape(x.shape, axes, keepdims))
    kept = (1,) + _kept_shape(x.shape, axes)
    low, high = xp.where(empty, nan, low).reshape(kept), xp.where(empty, nan, high).reshape(kept)
    saved = (x, axes, keepdims, False, low, high, (0.5,), (0.5,))  # for an odd count, low and high are one
    return record("nanmedian", data, x._backend, (x,), (_order_stats_vjp,), saved, info=axes)


def nanquantile(
    x: Any,
    q: Any,
    axis: Any = None,
    keepdims: bool = False,
    method: str = "linear",
    *,
    dim: Any = NOT_GIVEN,
    keepdim: Any = NOT_GIVEN,
) -> Tensor:
    """NumPy's ``nanquantile``: :func:`quantile` over ``axis`` of the elements that are not NaN.

    ``q``, ``method``, dtypes and the gradient as ``quantile`` (the interpolation between the two
    neighbouring order statistics of each slice's values); the NaNs get no gradient. A slice of NaNs
    only gives NaN (with NumPy's RuntimeWarning "All-NaN slice encountered" on the CPU, nothing read
    back on CuPy), its gradient shared among its NaNs as ``quantile``'s slice with a NaN. Integer and
    bool tensors give their ``quantile``. Unlike NumPy: the dtype never depends on the values (NumPy's
    is x's own when its first slice is all NaN and an array ``q`` would promote), and an empty selection
    raises as ``quantile``'s (NumPy returns ``nanmean``'s NaN, without the ``q`` axis). PyTorch's
    ``dim=``/``keepdim=`` as ``quantile``'s.
    """
    if dim is not NOT_GIVEN or keepdim is not NOT_GIVEN:
        axis, keepdims = torch_dims("nanquantile", axis, keepdims, dim, keepdim)
    if _autocast.active:  # gk.autocast: float16 computed in float32 (PyTorch's CPU list)
        x, q = _autocast.to_float32("nanquantile", x, q)
    return _nanquantile("nanquantile", x, q, axis, keepdims, method, 1)


def nanpercentile(x: Any, q: Any, axis: Any = None, keepdims: bool = False, method: str = "linear") -> Tensor:
    """NumPy's ``nanpercentile``: :func:`nanquantile` of ``q / 100`` (``q`` in [0, 100])."""
    return _nanquantile("nanpercentile", x, q, axis, keepdims, method, 100)


def _nanquantile(op: str, x: Any, q: Any, axis: Any, keepdims: bool, method: Any, scale: int) -> Tensor:
    x = as_tensor(x, op)
    if x.dtype.kind != "f":  # no NaN to skip
        return _quantile(op, x, q, axis, keepdims, method, scale)
    axes, keepdims, qv, on_device, dtype = _quantile_args(op, x, q, axis, keepdims, method, scale)
    xp = x._backend.xp
    ordered, count, _ = _nan_last_rows(x, axes, xp)
    qf = qv.reshape(-1)
    if on_device:  # one pass over the q array, on the device
        parts = [_nan_lerp(qf, count, ordered, dtype, xp)]
    else:  # q on the host: one pass per number (no copy of q to the device)
        parts = [_nan_lerp(qf.dtype.type(v), count, ordered, dtype, xp) for v in qf.tolist()]
    if not parts:  # no quantiles asked for
        none = xp.empty(ordered.shape[:-1] + (0,), dtype=ordered.dtype)
        parts = [(none.astype(dtype), none, none, none.astype(np.float64), none.astype(np.float64))]
    data, low, high, w_low, w_high = (xp.moveaxis(xp.concatenate(p, axis=-1), -1, 0) for p in zip(*parts, strict=True))
    _warn_all_nan(count, 3)
    q_axis = qv.ndim == 1
    shape = _result_shape(x.shape, axes, keepdims)
    data = data.reshape(((data.shape[0],) if q_axis else ()) + shape)
    kept = (low.shape[0],) + _kept_shape(x.shape, axes)
    w_low, w_high = w_low.reshape(kept), w_high.reshape(kept)
    saved = (x, axes, keepdims, q_axis, low.reshape(kept), high.reshape(kept), w_low, w_high)
    return record(op, data, x._backend, (x,), (_order_stats_vjp,), saved, info=axes)


def _nan_lerp(q: Any, count: Any, ordered: Any, dtype: Any, xp: Any) -> tuple:
    """NumPy's linear interpolation (``_quantile_on_host``'s arithmetic) in rows with a count of values
    each: ``ordered`` (kept..., n) holds each row's ``count`` ((kept..., 1)) values first, sorted.

    ``q`` is a number from the host (a NumPy scalar) or a 1-d float array on the device (entries outside
    [0, 1] or NaN give NaN there). Returns the result, the two order statistics and their weights
    (float64), each (kept..., len(q)); NaN values and a weight 1 on the first in rows of NaNs only.
    """
    top = xp.maximum(count - 1, 0)  # the index of a row's last value
    empty = count == 0
    nan = ordered.dtype.type(np.nan)
    if q.dtype.kind != "f":  # 0 or 1 (on the host only): the first or the last value itself, in x's dtype
        low = xp.take_along_axis(ordered, top * int(q), axis=-1)
        low = xp.where(empty, nan, low)
        return low.astype(dtype, copy=False), low, low, xp.ones(low.shape), xp.zeros(low.shape)
    last = top.astype(q.dtype)
    virtual = (last * q).astype(q.dtype, copy=False)  # NumPy's (n - 1) * q, in q's dtype
    prev = xp.floor(virtual)
    above = virtual >= last  # the last value (NumPy's index -1)
    lo = xp.where(above, last, prev)
    hi = xp.where(above, last, prev + 1)
    bad = None if isinstance(q, np.generic) else ~((q >= 0) & (q <= 1))
    if bad is not None:
        lo, hi = xp.where(bad, 0, lo), xp.where(bad, 0, hi)
    lo, hi = lo.astype(np.int64), hi.astype(np.int64)
    # as NumPy: the index above the last is -1, so gamma is the virtual index + 1 there (a == b anyway)
    gamma = (virtual.astype(np.float64) - xp.where(above, -1.0, prev).astype(np.float64)).astype(q.dtype)
    low = xp.take_along_axis(ordered, lo, axis=-1)
    high = xp.take_along_axis(ordered, hi, axis=-1)
    zero = ordered.dtype.type(0)
    a, b = xp.where(empty, zero, low), xp.where(empty, zero, high)  # not inf - inf in rows of NaNs only
    diff = (b - a).astype(dtype, copy=False)
    t, u = gamma.astype(dtype), (1 - gamma).astype(dtype)  # NumPy's weights, in q's dtype, then promoted
    data = xp.where(gamma >= 0.5, b.astype(dtype, copy=False) - diff * u, a.astype(dtype, copy=False) + diff * t)
    data = xp.where(empty, nan, data)
    w_high = xp.where((lo == hi) | empty, 0.0, gamma.astype(np.float64))
    w_low = 1.0 - w_high
    if bad is not None:
        data = xp.where(bad, nan, data)
        w_low, w_high = xp.where(bad, 0.0, w_low), xp.where(bad, 0.0, w_high)
    low, high = xp.where(empty, nan, low), xp.where(empty, nan, high)
    return data.astype(dtype, copy=False), low, high, w_low, w_high
