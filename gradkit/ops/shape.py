"""Shape operations: views and rearrangements of the same elements.

Their VJPs are the inverse rearrangement of the gradient (reshape back,
transpose by the inverse permutation, sum over broadcast axes, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradkit._args import text
from gradkit.autograd.function import record
from gradkit.dtypes import to_dtype
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import as_tensor, normalize_axes, normalize_axis, pass_through, shape_arg
from gradkit.tensor import Tensor


def share_version(out: Tensor, x: Tensor) -> Tensor:
    """Give ``out`` the version counter of ``x`` when its data is a view of x's memory.

    An in-place change through either one then counts as a change to both, so
    a node that saved one of them notices at backward (as with ``detach``).
    """
    data = out._data
    if data.base is not None and x._backend.xp.may_share_memory(data, x._data):
        out._version = x._version
    return out


def reshape(x: Any, shape: Any) -> Tensor:
    """The same elements in a new shape (one dimension may be -1)."""
    x = as_tensor(x, "reshape")
    shape = shape_arg(shape if isinstance(shape, (tuple, list)) else (shape,), "reshape")
    if shape == x._data.shape:
        return x
    try:
        data = x._data.reshape(shape)
    except ValueError:
        raise ShapeError(
            f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into {shape}"
        ) from None
    return share_version(record("reshape", data, x._backend, (x,), (_reshape_vjp,), (x.shape,)), x)


def _reshape_vjp(g: Tensor, shape: tuple) -> Tensor:
    return reshape(g, shape)


def flatten(x: Any, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Merge the axes from ``start_axis`` to ``end_axis`` (inclusive) into one."""
    x = as_tensor(x, "flatten")
    if x.ndim == 0:
        return reshape(x, (1,))
    start = normalize_axis(start_axis, x.ndim, "flatten")
    end = normalize_axis(end_axis, x.ndim, "flatten")
    if start > end:
        raise InvalidArgumentError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    merged = math.prod(x.shape[start : end + 1])  # not -1: ambiguous when another axis has length 0
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1 :])


def transpose(x: Any, axes: Sequence[int] | None = None, *more: Any, op: str = "transpose") -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None), as NumPy does."""
    x = as_tensor(x, op)
    if more or isinstance(axes, (int, np.integer)):
        raise ArgumentTypeError(
            f"{op}: axes must be one sequence of all {x.ndim} axes, as NumPy's transpose(x, (1, 0)), got "
            f"{(axes, *more)!r:.60}; to swap two axes as PyTorch's transpose(x, 0, 1) use gk.swapaxes(x, 0, 1)"
        )
    if axes is None:
        axes = tuple(range(x.ndim - 1, -1, -1))
    else:
        if not isinstance(axes, (tuple, list)):
            raise ArgumentTypeError(f"{op}: axes must be a tuple or list of ints, got {type(axes).__name__}")
        axes = tuple(normalize_axis(a, x.ndim, op) for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ShapeError(f"{op}: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    inverse = tuple(int(i) for i in np.argsort(axes))
    out = record("transpose", x._data.transpose(axes), x._backend, (x,), (_transpose_vjp,), (inverse,))
    return share_version(out, x)


def _transpose_vjp(g: Tensor, inverse: tuple) -> Tensor:
    return transpose(g, inverse)


def permute(x: Any, axes: Sequence[int]) -> Tensor:
    """Permute the axes (PyTorch's name for ``transpose`` with axes)."""
    try:
        order = tuple(axes)
    except TypeError:  # one axis (or something transpose's check will name)
        order = (axes,)
    return transpose(x, order, op="permute")


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    x = as_tensor(x, "swapaxes")
    order = list(range(x.ndim))
    a, b = normalize_axis(axis1, x.ndim, "swapaxes"), normalize_axis(axis2, x.ndim, "swapaxes")
    order[a], order[b] = order[b], order[a]
    return transpose(x, order)


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Remove axes of length 1 (all of them when ``axis`` is None)."""
    x = as_tensor(x, "squeeze")
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes(axis, x.ndim, "squeeze")
        bad = [a for a in axes if x.shape[a] != 1]
        if bad:
            raise ShapeError(f"squeeze: axis {bad[0]} has length {x.shape[bad[0]]}, not 1 (shape {x.shape})")
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Any, axis: int) -> Tensor:
    """Insert an axis of length 1 at position ``axis``."""
    x = as_tensor(x, "unsqueeze")
    ax = normalize_axis(axis, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:ax] + (1,) + x.shape[ax:])


def expand_dims(x: Any, axis: int) -> Tensor:
    """NumPy's name for ``unsqueeze``."""
    return unsqueeze(x, axis)


def broadcast_to(x: Any, shape: Any) -> Tensor:
    """A view of ``x`` broadcast to ``shape``; the gradient is summed back."""
    x = as_tensor(x, "broadcast_to")
    shape = shape_arg(shape if isinstance(shape, (tuple, list)) else (shape,), "broadcast_to")
    if shape == x._data.shape:
        return x
    try:
        data = x._backend.xp.broadcast_to(x._data, shape)
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    return share_version(record("broadcast_to", data, x._backend, (x,), (_broadcast_vjp,), (x.shape,)), x)


def _broadcast_vjp(g: Tensor, shape: tuple) -> Tensor:
    return sum_to(g, shape)


def expand(x: Any, shape: Any) -> Tensor:
    """PyTorch's ``expand``: ``broadcast_to`` where -1 keeps a dimension."""
    x = as_tensor(x, "expand")
    shape = shape_arg(shape if isinstance(shape, (tuple, list)) else (shape,), "expand")
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: cannot expand shape {x.shape} to fewer dimensions {shape}")
    target = tuple(x.shape[i - lead] if d == -1 and i >= lead else d for i, d in enumerate(shape))
    try:
        return broadcast_to(x, target)
    except ShapeError:
        raise ShapeError(
            f"expand: cannot expand shape {x.shape} to {shape}: each dimension must match or be 1 in the input"
        ) from None


def sum_to(x: Any, shape: tuple) -> Tensor:
    """Sum ``x`` over the axes that broadcasting added to reach it from ``shape``."""
    x = as_tensor(x, "sum_to")
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, d in enumerate(shape) if d == 1 and x.shape[i + lead] != 1)
    data = x._data.sum(axis=axes, keepdims=True) if axes else x._data
    if lead:
        data = data.reshape(shape)
    return record("sum_to", data, x._backend, (x,), (_sum_to_vjp,), (x.shape,))


def _sum_to_vjp(g: Tensor, shape: tuple) -> Tensor:
    return broadcast_to(g, shape)


def concatenate(tensors: Sequence[Any], axis: int | None = 0) -> Tensor:
    """Join tensors along an existing axis (``axis=None``: flatten them first, as NumPy)."""
    if axis is None:
        ts = _tensor_list(tensors, "concatenate", same_ndim=False)
        return concatenate([reshape(t, (-1,)) for t in ts], axis=0)
    ts = _tensor_list(tensors, "concatenate")
    if ts[0].ndim == 0:
        raise ShapeError("concatenate: zero-dimensional tensors cannot be concatenated; use stack")
    ax = normalize_axis(axis, ts[0].ndim, "concatenate")
    try:
        data = ts[0]._backend.xp.concatenate([t._data for t in ts], axis=ax)
    except ValueError:
        raise ShapeError(f"concatenate: shapes {[t.shape for t in ts]} differ outside axis {axis}") from None
    bounds = np.cumsum([0] + [t.shape[ax] for t in ts])
    rules = tuple(_slice_rule(ax, int(bounds[i]), int(bounds[i + 1])) for i in range(len(ts)))
    return record("concatenate", data, ts[0]._backend, tuple(ts), rules, broadcast=True)


def _slice_rule(axis: int, start: int, stop: int) -> Any:
    def rule(g: Tensor) -> Tensor:
        from gradkit.ops.indexing import getitem

        return getitem(g, (slice(None),) * axis + (slice(start, stop),))

    return rule


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of the same shape along a new axis."""
    ts = _tensor_list(tensors, "stack")
    shapes = {t.shape for t in ts}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all tensors must have the same shape, got {[t.shape for t in ts]}")
    ax = normalize_axis(axis, ts[0].ndim + 1, "stack")
    return concatenate([unsqueeze(t, ax) for t in ts], axis=ax)


def split(x: Any, sections_or_indices: Any, axis: int = 0) -> list[Tensor]:
    """Split into pieces along ``axis``: N equal sections, or at the given indices (NumPy's rules)."""
    from gradkit.ops.indexing import getitem

    x = as_tensor(x, "split")
    if x.ndim == 0:
        raise ShapeError("split: a 0-d tensor has no axis to split")
    ax = normalize_axis(axis, x.ndim, "split")
    n = x.shape[ax]
    if isinstance(sections_or_indices, (int, np.integer)) and not isinstance(sections_or_indices, bool):
        k = int(sections_or_indices)
        if k <= 0 or n % k:
            raise ShapeError(f"split: axis {ax} of length {n} does not split into {k} equal sections")
        cuts = [i * (n // k) for i in range(1, k)]
    else:
        if isinstance(sections_or_indices, Tensor):
            sections_or_indices = sections_or_indices.tolist()
        try:
            cuts = list(sections_or_indices)
        except TypeError:
            raise ArgumentTypeError(
                f"split: sections_or_indices must be an int or a sequence of ints, got {sections_or_indices!r}"
            ) from None
        if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in cuts):
            raise ArgumentTypeError(f"split: indices must be integers, got {sections_or_indices!r}")
        cuts = [int(i) for i in cuts]
    edges = [0, *cuts, n]
    return [getitem(x, (slice(None),) * ax + (slice(lo, hi),)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def flip(x: Any, axis: Any = None) -> Tensor:
    """Reverse the order of elements along ``axis`` (all axes when None)."""
    x = as_tensor(x, "flip")
    axes = normalize_axes(axis, x.ndim, "flip")
    data = x._backend.xp.flip(x._data, axis=axes)
    return share_version(record("flip", data, x._backend, (x,), (lambda g, axes: flip(g, axes),), (axes,)), x)


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0) -> Tensor:
    """Pad as ``numpy.pad``; modes "constant", "edge", "reflect", "symmetric", "wrap"."""
    from gradkit.ops.indexing import getitem

    x = as_tensor(x, "pad")
    text(mode, "pad", "mode")
    xp = x._backend.xp
    if x.ndim == 0:  # nothing to pad, as numpy.pad
        return x
    try:
        given = np.asarray(pad_width)
    except ValueError:
        raise ShapeError(
            f"pad: pad_width {pad_width!r:.60} is ragged; expected an int, a pair or one pair per axis"
        ) from None
    if given.dtype.kind not in "iu":
        raise ArgumentTypeError(f"pad: pad_width must be integers, got {pad_width!r:.60}")
    if isinstance(constant_values, (str, bytes, complex)) or getattr(constant_values, "size", 1) != 1:
        raise ArgumentTypeError(f"pad: constant_values must be a single number, got {constant_values!r:.40}")
    try:
        widths = np.broadcast_to(given.astype(np.int64), (x.ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width!r} does not fit a tensor of {x.ndim} dimension(s)") from None
    if (widths < 0).any():
        raise InvalidArgumentError(f"pad: pad_width must be non-negative, got {pad_width!r}")
    if mode == "constant":
        try:
            data = xp.pad(x._data, widths.tolist(), mode="constant", constant_values=constant_values)
        except (TypeError, ValueError):
            raise ArgumentTypeError(
                f"pad: constant_values must be a number (or NumPy's per-axis pairs), got {constant_values!r:.40}"
            ) from None
        inner = tuple(slice(int(lo), int(lo) + d) for (lo, _), d in zip(widths, x.shape, strict=True))
        return record("pad", data, x._backend, (x,), (lambda g, inner: getitem(g, inner),), (inner,))
    if mode not in ("edge", "reflect", "symmetric", "wrap"):
        raise InvalidArgumentError(
            f"pad: unknown mode {mode!r}; expected 'constant', 'edge', 'reflect', 'symmetric' or 'wrap'"
        )
    empty = [d for d, (lo, hi) in enumerate(widths) if x.shape[d] == 0 and (lo or hi)]
    if empty:
        raise ShapeError(
            f"pad: mode {mode!r} cannot extend axis {empty[0]} of length 0 (shape {x.shape}); use 'constant'"
        )
    # Any other mode picks existing elements: pad an index array the same way
    # and gather, so the gradient is a scatter-add onto those elements.
    index = np.pad(np.arange(x.size).reshape(x.shape), widths.tolist(), mode=mode)
    return getitem(reshape(x, (-1,)), x._backend.asarray(index))


def astype(x: Any, dtype: Any) -> Tensor:
    """``x`` converted to ``dtype``; the gradient is converted back."""
    x = as_tensor(x, "astype")
    dtype = to_dtype(dtype, "astype")
    if dtype == x.dtype:
        return x
    data = x._data.astype(dtype)
    if dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("astype", data, x._backend, (x,), (lambda g, dt: astype(g, dt),), (x.dtype,))


def clone(x: Any) -> Tensor:
    """A copy of ``x`` in memory of its own; the gradient passes through (PyTorch's ``clone``)."""
    x = as_tensor(x, "clone")
    data = x._backend.xp.array(x._data, copy=True)
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("clone", data, x._backend, (x,), (pass_through,))


def contiguous(x: Any) -> Tensor:
    """``x`` when its memory is C-ordered, else a C-ordered copy; the gradient passes through."""
    x = as_tensor(x, "contiguous")
    if x._data.flags.c_contiguous:
        return x
    data = x._backend.xp.ascontiguousarray(x._data)
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("contiguous", data, x._backend, (x,), (pass_through,))


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """PyTorch's name for :func:`concatenate` (``dim`` is the axis)."""
    return concatenate(tensors, axis=dim)


def to_device(x: Any, device: Any) -> Tensor:
    """A copy of ``x`` on ``device``; the gradient is copied back."""
    from gradkit.backends import get_backend

    x = as_tensor(x, "to_device")
    target = get_backend(device, "to")
    if target is x._backend:
        return x
    data = target.transfer(x._data, x._backend)
    return record("to_device", data, target, (x,), (lambda g, src: to_device(g, src),), (x._backend,))


def _tensor_list(tensors: Sequence[Any], op: str, same_ndim: bool = True) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise ArgumentTypeError(f"{op}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ArgumentTypeError(f"{op}: needs at least one tensor")
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    backend = first._backend if first is not None else None
    ts = [as_tensor(t, op, backend) for t in tensors]
    ndims = {t.ndim for t in ts}
    if same_ndim and len(ndims) != 1:
        raise ShapeError(
            f"{op}: all tensors must have the same number of dimensions, got shapes {[t.shape for t in ts]}"
        )
    return ts
