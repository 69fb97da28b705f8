"""Indexing: ``t[index]``, ``take``, ``gather``, and the scatter-add that is their VJP."""

from __future__ import annotations

import operator
import sys
from typing import Any

import numpy as np

from gradkit._args import check_int_fits, out_of_range, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, DTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import (
    NOT_GIVEN,
    as_tensor,
    host_read_allowed,
    int64_indices,
    normalize_axis,
    private_copy,
    renamed,
)
from gradkit.tensor import Tensor


def _index_array(item: Any, x: Tensor, op: str) -> Any:
    """An array index (Tensor, list, NumPy array) as an array of x's backend, its dtype checked
    where it is (CuPy would refuse a string array on the copy to the GPU with its own error)."""
    return private_copy(*_index_array_shared(item, x, op))


def _index_array_shared(item: Any, x: Tensor, op: str) -> tuple[Any, Any]:
    """:func:`_index_array`'s array before its private copy, and the caller's array that it may be (which a VJP
    must not keep: ``private_copy(*_index_array_shared(...))`` is the index to keep)."""
    if isinstance(item, Tensor):
        if item._backend is not x._backend:
            from gradkit.errors import DeviceError

            raise DeviceError(f"{op}: index on {item.device} for a tensor on {x.device}")
        item = item._data
    elif isinstance(item, (list, tuple)):
        try:
            item = np.asarray(item)
        except ValueError:
            raise ShapeError(f"{op}: the index list {item!r:.60} is ragged (its rows differ in length)") from None
        if item.size == 0 and item.dtype.kind == "f":  # [] selects nothing: NumPy makes it an integer index
            item = item.astype(np.int64)
        if item.dtype.kind not in "iub":
            raise DTypeError(f"{op}: index arrays must be integer or bool, got dtype {item.dtype}")
        return int64_indices(x._backend.asarray(item), op, "index"), None  # made here from the list: nobody else's
    elif not (isinstance(item, np.ndarray) or hasattr(item, "__cuda_array_interface__")):
        item = np.asarray(item)  # a scalar (or a str)
    if item.dtype.kind not in "iub":
        raise DTypeError(f"{op}: index arrays must be integer or bool, got dtype {item.dtype}")
    return int64_indices(x._backend.asarray(item), op, "index"), item


def normalize_index(x: Tensor, index: Any, op: str = "getitem") -> tuple:
    """``index`` as a tuple with tensors and lists turned into backend arrays, bounds checked."""
    items = []
    hosts = {}  # position -> the index as given on the host (checked there, not read back from a GPU)
    for item in index if isinstance(index, tuple) else (index,):
        if isinstance(item, (Tensor, list, tuple, np.ndarray)) or hasattr(item, "__cuda_array_interface__"):
            if isinstance(item, (list, tuple, np.ndarray)):
                hosts[len(items)] = item
            item = _index_array(item, x, op)  # a tuple inside the index tuple is a sequence, as in NumPy
        elif isinstance(item, slice):
            item = _plain_slice(item, op)
        elif isinstance(item, np.bool_):
            item = bool(item)  # a scalar mask; CuPy takes Python's bool
        elif not (item is None or item is Ellipsis or isinstance(item, (int, np.integer))):
            raise ArgumentTypeError(f"{op}: unsupported index {item!r} of type {type(item).__name__}")
        items.append(item)
    consumed = sum(_axes_used(i) for i in items)
    if consumed > x.ndim:
        raise IndexOutOfRangeError(f"{op}: too many indices ({consumed}) for a tensor of shape {x.shape}")
    if sum(1 for i in items if i is Ellipsis) > 1:
        raise ArgumentTypeError(f"{op}: an index can only have a single Ellipsis")
    dim = masks = 0
    for i, item in enumerate(items):
        if item is Ellipsis:
            dim += x.ndim - consumed
        elif isinstance(item, (bool, np.bool_)):
            continue  # a scalar mask: adds an axis of length 1 (or 0), uses none of x's
        elif isinstance(item, (int, np.integer)):
            n = x.shape[dim]
            if not -n <= item < n:
                raise IndexOutOfRangeError(
                    f"{op}: index {item} is out of range for axis {dim} of shape {x.shape} (size {n})"
                )
            items[i] = int(item)
            dim += 1
        elif hasattr(item, "dtype"):
            if item.dtype.kind == "b":
                _check_mask(item, x, dim, op)
                masks += item.ndim > 0
            else:
                _check_bounds(np.asarray(hosts[i]) if i in hosts else item, x, dim, op)
            dim += _axes_used(item)
        elif item is not None:
            dim += 1
    if masks > 1:  # CuPy takes one boolean array per index; what NumPy makes of several is each one's nonzero()
        items = [part for i in items for part in (i.nonzero() if _is_mask(i) else (i,))]
    return tuple(items)


def _is_mask(item: Any) -> bool:
    return hasattr(item, "dtype") and item.dtype.kind == "b" and item.ndim > 0


def _plain_slice(item: slice, op: str) -> slice:
    """``item`` with Python ints for its parts: what NumPy accepts (ints, NumPy ints, 0-d integer
    arrays and tensors), read on the host here, since a CuPy 0-d array is no index to CuPy."""
    parts = []
    for part in (item.start, item.stop, item.step):
        if part is not None:
            try:
                if isinstance(part, Tensor) or hasattr(part, "__cuda_array_interface__"):
                    if part.ndim != 0 or part.dtype.kind not in "iu":  # bools too, as NumPy
                        raise TypeError
                    part = int(part.item())
                part = operator.index(part)
            except (TypeError, DTypeError):
                raise ArgumentTypeError(
                    f"{op}: slice {item!r} must have integer (or None) start, stop and step"
                ) from None
        parts.append(part)
    if parts[2] == 0:
        raise InvalidArgumentError(f"{op}: slice {item!r} has step 0; a step must be a nonzero integer")
    return slice(*parts)


def _axes_used(item: Any) -> int:
    """How many axes of the indexed tensor one index item consumes."""
    if item is None or item is Ellipsis or isinstance(item, (bool, np.bool_)):
        return 0
    if hasattr(item, "dtype") and item.dtype.kind == "b":
        return item.ndim
    return 1


def _check_bounds(array: Any, x: Tensor, dim: int, op: str, negative: bool = True) -> None:
    """Every index in ``array`` must address axis ``dim`` (``-n <= i < n``; ``0 <= i < n`` without ``negative``)."""
    if dim >= x.ndim:
        raise IndexOutOfRangeError(f"{op}: too many indices for a tensor of shape {x.shape}")
    n = x.shape[dim]
    if not array.size or not host_read_allowed(array):
        return
    # One reduction, one read on the host: seen as unsigned, a negative index is huge. Shifted by n
    # first, every valid index (-n <= i < n) is below 2n and every invalid one is not.
    low, limit = (-n, 2 * n) if negative else (0, n)
    shifted = array.astype(np.int64) - low
    if int(shifted.view(np.uint64).max()) >= limit:
        lo, hi = int(array.min()), int(array.max())
        bad = hi if hi >= n else lo
        expected = f"{-n} to {n - 1}" if negative else f"0 to {n - 1}"
        raise IndexOutOfRangeError(
            f"{op}: index {bad} is out of range for axis {dim} of shape {x.shape} (expected {expected})"
        )


def _on_host(index: Any, idx: Any) -> Any:
    """The index as given when it was a host list or array (its bounds are then checked there, with no read back
    from the GPU), else ``idx``, the backend array."""
    return np.asarray(index) if isinstance(index, (list, tuple, np.ndarray)) else idx


def _check_mask(mask: Any, x: Tensor, dim: int, op: str) -> None:
    if mask.shape != x.shape[dim : dim + mask.ndim]:
        raise ShapeError(
            f"{op}: boolean mask of shape {mask.shape} does not match the tensor's shape {x.shape} at axis {dim}"
        )


def _is_basic(index: tuple) -> bool:
    return all(i is None or i is Ellipsis or isinstance(i, (slice, int)) for i in index)


def getitem(x: Any, index: Any, op: str = "getitem") -> Tensor:
    """``x[index]`` with NumPy's rules: ints, slices, None, Ellipsis, integer and boolean arrays.

    ``op`` is the operation named in errors (``take`` and ``gather`` index through here).
    """
    x = as_tensor(x, op)
    idx = normalize_index(x, index, op)
    try:
        if all(type(i) is int for i in idx):
            data = x._data[idx + (Ellipsis,)]  # a 0-d view, as CuPy gives, not a NumPy scalar copy
        elif (len(idx) == 1 and type(x._data) is np.ndarray and type(idx[0]) is np.ndarray and idx[0].ndim
              and idx[0].dtype.kind in "iu"):
            data = np.take(x._data, idx[0], axis=0)  # x[i]: NumPy's take of rows is faster (bounds checked above)
        else:
            data = x._data[idx]
    except (IndexError, ValueError) as exc:  # index arrays whose shapes do not broadcast (CuPy: ValueError)
        raise ShapeError(f"{op}: cannot index a tensor of shape {x.shape} with {index!r:.80} ({exc})") from None
    out = record("getitem", data, x._backend, (x,), (_getitem_vjp,), (x.shape, idx))
    if _is_basic(idx):  # a view: in-place changes to it or to x are changes to both
        from gradkit.ops.shape import share_version

        share_version(out, x)
    return out


def _getitem_vjp(g: Tensor, shape: tuple, idx: tuple) -> Tensor:
    return index_add(shape, idx, g)


def index_add(shape: tuple, idx: tuple, values: Tensor) -> Tensor:
    """A zero tensor of ``shape`` with ``values`` added at ``idx`` (repeats accumulate)."""
    backend = values._backend
    data = backend.xp.zeros(shape, dtype=values.dtype)
    if _is_basic(idx):
        data[idx] = values._data
    else:
        backend.scatter_add(data, idx, values._data)
    return record("index_add", data, backend, (values,), (lambda g, idx: getitem(g, idx),), (idx,))


def take(x: Any, indices: Any, axis: int | None = None) -> Tensor:
    """NumPy's ``take``: elements at ``indices`` along ``axis`` (the flattened tensor when None)."""
    from gradkit.ops.shape import reshape

    x = as_tensor(x, "take")
    idx = _index_array(indices, x, "take")
    if idx.dtype.kind == "b":
        raise DTypeError("take: indices must be integers, got a bool array")
    if axis is None:
        return getitem(reshape(x, (-1,)), idx, "take")
    ax = normalize_axis(axis, x.ndim, "take")
    return getitem(x, (slice(None),) * ax + (idx,), "take")


def gather(x: Any, axis: Any = NOT_GIVEN, index: Any = NOT_GIVEN, *, dim: Any = NOT_GIVEN) -> Tensor:
    """PyTorch's ``gather``: ``out[i][j] = x[index[i][j]][j]`` for axis 0, and so on (``dim=`` is
    PyTorch's name for ``axis``: ``gather(x, dim=1, index=i)``)."""
    axis = renamed("gather", axis, NOT_GIVEN, dim, "axis", "dim")
    if axis is NOT_GIVEN or index is NOT_GIVEN:
        missing = "the axis (axis= or dim=)" if axis is NOT_GIVEN else "index"
        raise ArgumentTypeError(f"gather: missing {missing}; call gather(x, axis, index)")
    x = as_tensor(x, "gather")
    ax = normalize_axis(axis, x.ndim, "gather")
    idx, given = _index_array_shared(index, x, "gather")
    if idx.dtype.kind == "b" or idx.ndim != x.ndim:
        raise ShapeError(
            f"gather: index must be an integer tensor with the same number of dimensions as the input "
            f"({x.ndim}), got shape {idx.shape} and dtype {idx.dtype}"
        )
    for d in range(x.ndim):
        if d != ax and idx.shape[d] > x.shape[d]:
            raise ShapeError(f"gather: index shape {idx.shape} exceeds input shape {x.shape} at axis {d}")
    column = _column(idx, ax, x.shape)
    host = _on_host(index, idx)
    if column is None:
        _check_bounds(host, x, ax, "gather", negative=False)  # as PyTorch: negatives do not wrap
        return _along(x, ax, private_copy(idx, given), "gather")
    # one index spread over the other axes (index.unsqueeze(-1).expand_as(...)): whole slices, the same elements
    first = tuple(slice(None) if d == ax else 0 for d in range(idx.ndim))
    _check_bounds(column if host is idx else host[first], x, ax, "gather", negative=False)
    full = (slice(None),) * ax + (column,)
    data = np.take(x._data, column, axis=0) if ax == 0 and type(x._data) is np.ndarray else x._data[full]
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record("gather", data, x._backend, (x,), (_getitem_vjp,), (x.shape, full))


def index_select(x: Any, dim: int, index: Any) -> Tensor:
    """PyTorch's ``index_select``: the slices of ``x`` at ``index`` (1-d or 0-d, integers) along ``dim``.

    As PyTorch: indices run from 0 to n - 1 (no wrap-around of negative ones), and the result has
    as many dimensions as ``x`` (a 0-d ``x`` takes exactly one index). The indices are checked on the
    host, as ``gather``'s (not while a CUDA graph is captured). The gradient is the scatter-add of the
    gather.
    """
    x = as_tensor(x, "index_select")
    idx = _index_array(index, x, "index_select")
    if idx.dtype.kind == "b":
        raise DTypeError("index_select: index must be integers, got a bool array")
    if idx.ndim > 1:
        raise ShapeError(f"index_select: index must be 1-d (or 0-d), got shape {idx.shape}")
    if x.ndim == 0:  # as PyTorch: dim 0 or -1 of a 0-d tensor, whose one element has index 0
        from gradkit.ops.shape import reshape

        normalize_axis(dim, 1, "index_select")
        if idx.size != 1:
            raise ShapeError(f"index_select: a 0-d tensor takes exactly one index, got {idx.size}")
        flat = reshape(x, (1,))
        _check_bounds(idx, flat, 0, "index_select", negative=False)
        return reshape(getitem(flat, idx.reshape(-1), "index_select"), ())
    ax = normalize_axis(dim, x.ndim, "index_select")
    _check_bounds(idx, x, ax, "index_select", negative=False)
    return getitem(x, (slice(None),) * ax + (idx.reshape(-1),), "index_select")


def masked_fill(x: Any, mask: Any, value: Any) -> Tensor:
    """PyTorch's ``masked_fill``: ``x`` with ``value`` where the boolean ``mask`` is True (broadcast).

    ``value`` is a number, or a 0-d tensor that gets the gradient of the filled places; it is
    converted to x's dtype (an int tensor filled with 2.7 holds 2, as PyTorch). x's gradient is 0
    where the mask is True.
    """
    x = as_tensor(x, "masked_fill")
    xp = x._backend.xp
    m = _index_array(mask, x, "masked_fill")
    if m.dtype.kind != "b":
        raise DTypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        np.broadcast_shapes(x.shape, m.shape)
    except ValueError:
        raise ShapeError(f"masked_fill: mask of shape {m.shape} does not broadcast with the shape {x.shape}") from None
    value_tensor = None
    if isinstance(value, Tensor) or hasattr(value, "__cuda_array_interface__") or isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise ShapeError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        value_tensor = as_tensor(value, "masked_fill", x._backend)  # an array too: read nothing on the host
        if value_tensor.dtype.kind not in "biuf":
            raise DTypeError(f"masked_fill: value must be a number, got dtype {value_tensor.dtype}")
        if x.dtype.kind in "iu" and isinstance(value_tensor._data, np.ndarray):  # checked where no GPU is read
            _number_as(value_tensor._data[()].item(), x.dtype, "masked_fill")
        fill = value_tensor._data.astype(x.dtype)
    else:
        fill = _number_as(value, x.dtype, "masked_fill")
    data = xp.where(m, fill, x._data)
    if data.dtype != x.dtype:
        data = data.astype(x.dtype)
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    from gradkit.ops.elementwise import where

    rules = (lambda g, m: where(m, 0.0, g), lambda g, m: _sum_all(where(m, g, 0.0)))
    return record("masked_fill", data, x._backend, (x, value_tensor), rules, (m,), broadcast=True)


def _number_as(value: Any, dtype: np.dtype, op: str) -> Any:
    """The number ``value`` as a NumPy scalar of ``dtype`` (a strong scalar to CuPy): 2.7 is 2 in an int
    tensor, as PyTorch's; not a number, or beyond what ``dtype`` holds, is an error."""
    if isinstance(value, (str, bytes, complex)) or not isinstance(value, (int, float, np.number, np.bool_)):
        raise ArgumentTypeError(f"{op}: value must be a number, got {type(value).__name__} {value!r:.40}")
    check_int_fits(op, value, dtype)
    if dtype.kind in "iu" and not np.isfinite(value):  # a bool tensor takes any number, as PyTorch: nan is True
        raise InvalidArgumentError(f"{op}: {value!r} cannot be held by a {dtype} tensor")
    exact = value.item() if isinstance(value, np.generic) else value  # NumPy would compare 2.0**63 in float64
    if dtype.kind in "iu" and not np.iinfo(dtype).min <= exact <= np.iinfo(dtype).max:  # 300.0 for int8, say
        raise out_of_range(op, value, dtype)
    try:
        with np.errstate(over="raise"):
            return np.asarray(value).astype(dtype)[()]
    except (OverflowError, FloatingPointError):  # beyond the dtype's range (1e6 in float16): PyTorch refuses too
        raise out_of_range(op, value, dtype) from None


def masked_select(x: Any, mask: Any) -> Tensor:
    """PyTorch's ``masked_select``: the elements of ``x`` where the bool ``mask`` is True, in a 1-d tensor
    (x and mask broadcast together). The gradient goes back to the elements picked, summed over broadcasting.
    The length depends on the values: a host read, refused while a CUDA graph is captured."""
    from gradkit.ops.shape import broadcast_to

    x = as_tensor(x, "masked_select")
    m = _index_array(mask, x, "masked_select")
    if m.dtype.kind != "b":
        raise DTypeError(f"masked_select: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        shape = np.broadcast_shapes(x.shape, m.shape)
    except ValueError:
        raise ShapeError(
            f"masked_select: mask of shape {m.shape} does not broadcast with the shape {x.shape}"
        ) from None
    _refuse_in_capture(x, "masked_select")
    if x.shape != shape:
        x = broadcast_to(x, shape)
    return getitem(x, x._backend.xp.broadcast_to(m, shape), "masked_select")


def _positions(idx: Any, ax: int, xp: Any) -> tuple:
    """The index that picks or writes along ``ax`` as gather and scatter do: ``idx`` on axis ``ax``, each
    element's own position on every other axis."""
    return tuple(
        idx if d == ax else xp.arange(idx.shape[d]).reshape([-1 if e == d else 1 for e in range(idx.ndim)])
        for d in range(idx.ndim)
    )


_COMPARE_MIN_SIZE = 32768  # :func:`_column` compares a stored NumPy index of this many elements or more


def _column(idx: Any, ax: int, shape: tuple) -> Any:
    """The 1-d index along ``ax`` that ``idx`` spreads over the other axes (``index.unsqueeze(-1).expand_as(src)``,
    a graph network's edge index over its features), where ``idx`` is the same along every other axis and spans
    ``shape`` there: then gather's and scatter's positions (:func:`_positions`) pick whole slices, as
    ``x[(slice(None),) * ax + (column,)]`` does. None otherwise (an empty index too).

    A broadcast index (stride 0 along the other axes, as ``expand`` gives) is seen from its strides; a NumPy one
    of ``_COMPARE_MIN_SIZE`` elements or more is compared with its first slice (first a few entries, which tell
    most other indices apart at no cost; a smaller one would gain less than the comparison costs); a device
    array is not read."""
    spread = True
    for d, (i, n, step) in enumerate(zip(idx.shape, shape, idx.strides, strict=True)):
        if d != ax:
            if i != n:
                return None
            spread = spread and (i == 1 or step == 0)
    if idx.size == 0 or not (spread or (type(idx) is np.ndarray and idx.size >= _COMPARE_MIN_SIZE)):
        return None
    column = idx[tuple(slice(None) if d == ax else 0 for d in range(idx.ndim))]
    if not spread:
        expected = column.reshape([-1 if d == ax else 1 for d in range(idx.ndim)])
        head = tuple(slice(0, 4) if d == ax else slice(None) for d in range(idx.ndim))
        if not (np.array_equal(idx[head], np.broadcast_to(expected[head], idx[head].shape))
                and np.array_equal(idx, np.broadcast_to(expected, idx.shape))):
            return None
    return column.copy()  # its own: neither the caller's index nor a view that keeps all of a spread one


def _scatter_args(
    x: Any, dim: Any, index: Any, src: Any, op: str, rows: bool = False
) -> tuple[Tensor, tuple, Tensor | None]:
    """x, the positions written (:func:`_positions`) and src cut to the index's shape (None for a number),
    checked as PyTorch's scatter checks them: index and src have x's dimensions, src x's dtype, the index is
    no larger than src, nor than x outside ``dim``, and its values run from 0 to n - 1 (read on the host).

    ``rows``: where the index is one 1-d index spread over x's other axes (:func:`_column`), the positions are
    ``(slice(None),) * dim + (column,)`` instead, which index, write and scatter-add the same elements in the
    same order, as whole slices (several times faster on NumPy); only the column is checked and kept."""
    x = as_tensor(x, op)
    if x.ndim == 0:
        raise ShapeError(f"{op}: a 0-d tensor has no dimension to scatter along")
    ax = normalize_axis(dim, x.ndim, op)
    idx, given = _index_array_shared(index, x, op)
    if idx.dtype.kind == "b" or idx.ndim != x.ndim:
        raise ShapeError(
            f"{op}: index must be an integer tensor with as many dimensions as self ({x.ndim}), got shape "
            f"{idx.shape} and dtype {idx.dtype}"
        )
    part = None
    if isinstance(src, (Tensor, list, tuple, np.ndarray)) or hasattr(src, "__cuda_array_interface__"):
        part = as_tensor(src, op, x._backend)
        if part.ndim != x.ndim:
            raise ShapeError(f"{op}: src must have as many dimensions as self ({x.ndim}), got shape {part.shape}")
        if part.dtype != x.dtype:
            raise DTypeError(f"{op}: src must have self's dtype {x.dtype}, got {part.dtype}")
    elif op != "scatter":
        raise ArgumentTypeError(f"{op}: src must be a tensor, got {type(src).__name__} {src!r:.40}")
    if any((d != ax and i > n) or (part is not None and i > part.shape[d])
           for d, (i, n) in enumerate(zip(idx.shape, x.shape, strict=True))):
        limit = "" if part is None else f" and no larger than src's {part.shape}"
        raise ShapeError(f"{op}: index of shape {idx.shape} must be no larger than self's shape {x.shape} "
                         f"outside dim {ax}{limit}")
    column = _column(idx, ax, x.shape) if rows else None
    host = _on_host(index, idx)
    if column is None:
        _check_bounds(host, x, ax, op, negative=False)
    else:  # the column holds every value of the index: its bounds are the index's
        first = tuple(slice(None) if d == ax else 0 for d in range(idx.ndim))
        _check_bounds(column if host is idx else host[first], x, ax, op, negative=False)
    if part is not None and part.shape != idx.shape:
        part = getitem(part, tuple(slice(0, n) for n in idx.shape), op)
    if column is not None:
        return x, (slice(None),) * ax + (column,), part
    return x, _positions(private_copy(idx, given), ax, x._backend.xp), part


def scatter(x: Any, dim: int, index: Any, src: Any, *, reduce: str | None = None) -> Tensor:
    """PyTorch's ``scatter``, out of place: a copy of ``x`` with ``src[i][j]`` written at
    ``[index[i][j]][j]`` for dim 0, and so on (only the index's shape of src is read); ``src`` may be a
    number. x's gradient is 0 where written; each src element written gets its place's gradient. Where an
    index repeats, one of its values is written (the last on the CPU) and only it gets that gradient, the
    derivative of the result (PyTorch gives it to each of them). PyTorch's deprecated ``reduce="add"`` /
    ``"multiply"`` add / multiply src into place instead (``scatter_add``, ``scatter_reduce(..., "prod")``)."""
    from gradkit.ops.numpy_more import _put_arr_vjp, _put_values_vjp

    if reduce is not None:
        return _scatter_reduced(x, dim, index, src, reduce)

    x, full, part = _scatter_args(x, dim, index, src, "scatter", rows=True)
    xp = x._backend.xp
    data = x._data.copy()
    kept = None
    if part is None:
        data[full] = _number_as(src, x.dtype, "scatter")
    elif x.dtype.kind != "f":
        data[full] = part._data
    else:  # which value each place keeps: every repeat then writes that one, in any order
        ids = xp.arange(part._data.size).reshape(part.shape)
        slot = xp.zeros(x.shape, dtype=ids.dtype)
        slot[full] = ids
        kept_ids = slot[full]
        kept = kept_ids == ids
        data[full] = part._data.reshape(-1)[kept_ids]
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    mask = xp.zeros(x.shape, dtype=bool)
    mask[full] = True
    return record("scatter", data, x._backend, (x, part), (_put_arr_vjp, _put_values_vjp), (mask, full, kept))


def _scatter_reduced(x: Any, dim: int, index: Any, src: Any, reduce: Any) -> Tensor:
    from gradkit.ops.torch_compat import scatter_reduce

    if reduce not in ("add", "multiply"):
        raise InvalidArgumentError(f"scatter: reduce must be 'add' or 'multiply' (or None), got {reduce!r:.40}")
    x = as_tensor(x, "scatter")
    if not isinstance(src, Tensor):  # a number, written at every place the index names
        idx = as_tensor(index, "scatter", x._backend)
        src = Tensor._make(x._backend.xp.full(idx.shape, src, dtype=x._data.dtype), x._backend)
    if reduce == "add":  # not through scatter_add: PyTorch's scatter is on no autocast list, and refuses a float16/
        return _added(x, dim, index, src, "scatter")  # float32 mix in a "cuda" region, where scatter_add promotes
    return scatter_reduce(x, dim, index, src, "prod")


def scatter_add(x: Any, dim: int, index: Any, src: Any) -> Tensor:
    """PyTorch's ``scatter_add``, out of place: ``x`` plus ``src[i][j]`` added at ``[index[i][j]][j]`` for
    dim 0, and so on (repeats add up). Gradients: x's passes through, src's is the gather of it."""
    if _autocast.active:  # gk.autocast: PyTorch's promote list ("cuda"): float16 and float32 add in float32
        cast = _autocast.promote("scatter_add", x, src)
        if cast is not None:
            with _autocast.exclude():
                return scatter_add(cast[0], dim, index, cast[1])
    return _added(x, dim, index, src, "scatter_add")


def _added(x: Any, dim: Any, index: Any, src: Any, op: str) -> Tensor:
    """scatter_add without autocast (``op`` named in errors: scatter_add, or scatter with ``reduce="add"``)."""
    from gradkit.ops.elementwise import add
    from gradkit.ops.numpy_more import _scatter_add

    x, full, part = _scatter_args(x, dim, index, src, op, rows=True)
    return add(x, _scatter_add(part, x.shape, full))


def index_add_along(x: Any, dim: int, index: Any, source: Any) -> Tensor:
    """PyTorch's ``index_add`` (``alpha`` applied by the caller), out of place: ``x`` plus ``source``'s
    slice k added at ``index[k]`` along ``dim`` (repeats add up). ``index`` is 1-d (or 0-d) with values from
    0 to n - 1 (read on the host); ``source`` has x's dtype and shape, but ``len(index)`` along ``dim``.
    Gradients: x's passes through, source's is the ``index_select`` of it."""
    from gradkit.ops.elementwise import add
    from gradkit.ops.numpy_more import _scatter_add

    op = "index_add"
    x = as_tensor(x, op)
    if x.ndim == 0:
        raise ShapeError(f"{op}: a 0-d tensor has no dimension to add along")
    ax = normalize_axis(dim, x.ndim, op)
    idx = _index_array(index, x, op)
    if idx.dtype.kind == "b" or idx.ndim > 1:
        raise ShapeError(
            f"{op}: index must be a 1-d (or 0-d) integer tensor, got shape {idx.shape} and dtype {idx.dtype}"
        )
    source = as_tensor(source, op, x._backend)
    if source.dtype != x.dtype:
        raise DTypeError(f"{op}: source must have self's dtype {x.dtype}, got {source.dtype}")
    expected = x.shape[:ax] + (idx.size,) + x.shape[ax + 1 :]
    if source.shape != expected:
        raise ShapeError(
            f"{op}: source must have shape {expected} (self's {x.shape} with dim {ax} the number of indices, "
            f"{idx.size}), got {source.shape}"
        )
    _check_bounds(_on_host(index, idx), x, ax, op, negative=False)
    return add(x, _scatter_add(source, x.shape, (slice(None),) * ax + (idx.reshape(-1),)))


def _sum_all(t: Tensor) -> Tensor:
    from gradkit.ops.reduce import sum as sum_

    return sum_(t)


def nonzero(x: Any) -> tuple[Tensor, ...]:
    """NumPy's ``nonzero``: for each axis, the int64 indices of the non-zero elements (a tuple; no
    gradient). PyTorch's ``nonzero()`` matrix is :func:`argwhere`.

    The number of elements found is the result's length: a host read (a device synchronisation on
    a GPU), refused while a CUDA graph is captured.
    """
    x = as_tensor(x, "nonzero")
    if x.ndim == 0:
        raise ShapeError("nonzero: a 0-d tensor has no axes to index; use gk.atleast_1d(x) first (as NumPy)")
    _refuse_in_capture(x, "nonzero")
    return tuple(Tensor._make(i.astype(np.int64, copy=False), x._backend) for i in x._backend.xp.nonzero(x._data))


def argwhere(x: Any) -> Tensor:
    """NumPy's ``argwhere`` (PyTorch's ``nonzero()``): the int64 indices of the non-zero elements as
    rows, shape (count, x.ndim); no gradient. A host read, as :func:`nonzero`."""
    x = as_tensor(x, "argwhere")
    _refuse_in_capture(x, "argwhere")
    xp = x._backend.xp
    if x.ndim == 0:  # one row of no indices when x is non-zero, as NumPy
        found = int(x._backend.to_numpy(x._data != 0))
        return Tensor._make(xp.zeros((found, 0), dtype=np.int64), x._backend)
    return Tensor._make(xp.argwhere(x._data).astype(np.int64, copy=False), x._backend)


def _refuse_in_capture(x: Tensor, op: str) -> None:
    if not host_read_allowed(x._data):
        from gradkit.cuda import CaptureError

        raise CaptureError(
            f"{op}: the size of the result depends on the values, so it must be read on the host, which a "
            "CUDA graph cannot do; call it outside the captured step (or use a mask with gk.where)"
        )


# ------------------------------------------------------------------ sorting
def argsort(
    x: Any, axis: int | None = -1, descending: bool = False, *, dim: Any = NOT_GIVEN, stable: Any = NOT_GIVEN
) -> Tensor:
    """Indices that sort ``x`` along ``axis`` (int64, no gradient); ties keep their order (a stable sort).

    ``axis=None`` sorts the flattened tensor (as NumPy). ``descending=True`` is PyTorch's keyword (ties
    still in their order). NaNs sort last, and first when descending (as PyTorch, which takes NaN as
    the largest value). PyTorch's ``dim=`` names the axis; its ``stable=`` is accepted (the sort is
    always stable); with either, a 0-d tensor gives index 0, as PyTorch's.
    """
    x = as_tensor(x, "argsort")
    if dim is not NOT_GIVEN or stable is not NOT_GIVEN:
        axis = _torch_sort_args("argsort", x, axis, descending, dim, stable)
        if x.ndim == 0:
            return Tensor._make(x._backend.xp.zeros((), dtype=np.int64), x._backend)
    x, axis = _flat_if_none(x, axis)
    return Tensor._make(_sorted_indices(x, axis, descending, "argsort", "descending")[1], x._backend)


def _torch_sort_args(op: str, x: Tensor, axis: Any, descending: Any, dim: Any, stable: Any) -> Any:
    """The axis of PyTorch's form of a sort (``dim=`` or ``stable=`` given), its flags checked; for a
    0-d ``x`` (which PyTorch sorts: one element, index 0) its dim is checked here too."""
    from gradkit._args import flag

    axis = renamed(op, axis, -1, dim, "axis", "dim")
    if stable is not NOT_GIVEN and stable is not None:
        flag(stable, op, "stable")  # always stable: a stable sort is also a valid unstable one
    if x.ndim == 0:
        if not isinstance(descending, (bool, np.bool_)):
            raise ArgumentTypeError(f"{op}: descending must be True or False, got {descending!r:.40}")
        if axis is not None:
            normalize_axis(axis, 0, op)
    return axis


def _flat_if_none(x: Tensor, axis: Any) -> tuple[Tensor, Any]:
    """``x`` flattened and axis 0 for ``axis=None`` (NumPy's sort and argsort), else both as given."""
    if axis is not None:
        return x, axis
    from gradkit.ops.shape import reshape

    return (x if x.ndim == 1 else reshape(x, (-1,))), 0


def _sort_axis(x: Tensor, axis: Any, descending: Any, op: str, flag: str) -> int:
    """The checks every sort makes, in order: a 0-d tensor, the flag, the axis (normalised)."""
    if x.ndim == 0:
        raise ShapeError(f"{op}: a 0-d tensor has no axis to sort along")
    if not isinstance(descending, (bool, np.bool_)):
        raise ArgumentTypeError(f"{op}: {flag} must be True or False, got {descending!r:.40}")
    return normalize_axis(axis, x.ndim, op)


def _sorted_indices(x: Tensor, axis: Any, descending: Any, op: str, flag: str) -> tuple[int, Any]:
    ax = _sort_axis(x, axis, descending, op, flag)
    return ax, _stable_order(x._data, ax, bool(descending), x._backend.xp)


def _stable_order(data: Any, ax: int, descending: bool, xp: Any) -> Any:
    """int64 indices of a stable sort of ``data`` along ``ax`` (NaN last, and first when descending).

    Floats are sorted by their integer :func:`_order_key`, not as floats: CuPy radix-sorts float bits,
    which puts NaNs with the sign bit first and -0.0 before 0.0 (seen on an H100, CuPy 14.2).
    """
    if data.dtype.kind == "f":
        key = _order_key(data, descending, xp, xp.empty(data.shape, _SIGNED[data.dtype.itemsize][0]))
    else:  # a stable sort of a reversed key keeps ties in order; ~ reverses ints and bools, no overflow
        key = xp.invert(data) if descending else data
    return xp.argsort(key, axis=ax, kind="stable").astype(np.int64, copy=False)


def _along(x: Tensor, ax: int, idx: Any, op: str, kept: bool = True) -> Tensor:
    """``x`` picked along ``ax`` at ``idx``, the other axes in order (as gather); ``idx`` is known to be
    in range: no check, no host read. ``kept=False``: ``idx`` lacks axis ``ax`` (one element picked per
    slice, that axis dropped from the result)."""
    xp = x._backend.xp
    if not kept and idx.ndim == 0:  # one element of a 1-d x: picked as a 1-d index, then made 0-d
        from gradkit.ops.shape import reshape

        return reshape(_along(x, ax, idx.reshape(1), op), ())
    if kept:
        full = _positions(idx, ax, xp)
    else:  # axis d of x is axis d of idx before ax, d - 1 after it
        full = tuple(
            idx if d == ax else xp.arange(x.shape[d]).reshape([-1 if e == d - (d > ax) else 1 for e in range(idx.ndim)])
            for d in range(x.ndim)
        )
    data = x._data[full]
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record(op, data, x._backend, (x,), (_getitem_vjp,), (x.shape, full))


def sort(
    x: Any, axis: int | None = -1, descending: bool = False, *, dim: Any = NOT_GIVEN, stable: Any = NOT_GIVEN
) -> Any:
    """``x`` sorted along ``axis`` (NumPy's ``sort``: the values; :func:`argsort` gives the order).

    ``axis=None`` sorts the flattened tensor (as NumPy). The gradient goes back to where each value
    came from. PyTorch's form, with ``dim=`` (or ``stable=``, accepted: the sort is always stable),
    returns ``gk.return_types.sort(values, indices)`` as ``torch.sort``; a 0-d tensor gives itself and 0.
    """
    x = as_tensor(x, "sort")
    if dim is not NOT_GIVEN or stable is not NOT_GIVEN:
        from gradkit import return_types

        axis = _torch_sort_args("sort", x, axis, descending, dim, stable)
        if x.ndim == 0:
            from gradkit.ops.shape import reshape

            return return_types.sort(reshape(x, ()), Tensor._make(x._backend.xp.zeros((), dtype=np.int64), x._backend))
        x, axis = _flat_if_none(x, axis)
        ax, idx = _sorted_indices(x, axis, descending, "sort", "descending")
        values = _along(x, ax, idx, "sort")
        return return_types.sort(values, _handed_out(idx, values))
    x, axis = _flat_if_none(x, axis)
    ax, idx = _sorted_indices(x, axis, descending, "sort", "descending")
    return _along(x, ax, idx, "sort")


def topk(
    x: Any,
    k: int,
    axis: int = -1,
    largest: bool = True,
    *,
    dim: Any = NOT_GIVEN,
    sorted: Any = NOT_GIVEN,  # noqa: A002 - PyTorch's name
) -> Any:
    """PyTorch's ``topk``: the ``k`` largest (or smallest) values along ``axis``, sorted, and their
    indices, as ``gk.return_types.topk(values, indices)`` (a named tuple, as PyTorch's).

    The result is the first ``k`` of a stable sort (:func:`argsort`): ties keep their index order, NaN
    is the largest value, -0.0 equals 0.0. Except on small inputs (and bools, 1- and 2-byte integers)
    it selects those ``k`` rather than sorting the whole axis. ``dim=`` is PyTorch's name for ``axis``;
    ``sorted=`` is accepted (the values always come sorted, which PyTorch's ``sorted=False`` allows).
    """
    from gradkit import return_types
    from gradkit._args import flag

    axis = renamed("topk", axis, -1, dim, "axis", "dim")
    if sorted is not NOT_GIVEN:
        flag(sorted, "topk", "sorted")
    x = as_tensor(x, "topk")
    ax = _sort_axis(x, axis, largest, "topk", "largest")
    n = x.shape[ax]
    k = whole(k, "topk", "k", low=0)
    if k > n:
        raise IndexOutOfRangeError(f"topk: k={k} is more than the {n} elements along axis {ax}")
    idx = _topk_indices(x._data, ax, k, bool(largest), x._backend.xp)
    values = _along(x, ax, idx, "topk")
    return return_types.topk(values, _handed_out(idx, values))


def _handed_out(idx: Any, values: Tensor) -> Tensor:
    """The indices as a tensor of their own when the values' node keeps ``idx`` (an in-place change to the
    indices must not move the gradient)."""
    return Tensor._make(idx.copy() if values._grad_fn is not None else idx, values._backend)


# Where selecting beats the full stable sort (:func:`_stable_order`, used everywhere else), measured
# with NumPy on 2 cores; the CuPy backend takes the same decisions (not measured on a GPU). Never for
# bools and 1- or 2-byte integers: NumPy sorts those by radix, in linear time. Keys of at most 32
# bits: from 16 elements along the axis and 1024 in all (below, the extra array operations cost more
# than the sort). 64-bit keys leave no room for the index, so the k chosen get a stable argsort of
# their own, which costs as much as the full sort once k is 40-50% of a long axis, less of a short
# one: from 64 along the axis and 4096 in all, for k up to a quarter of the axis. The partition pays
# from 512 along the axis for k up to half of it; otherwise one sort of the joined keys is faster.
_SELECTABLE = {("f", 2), ("f", 4), ("f", 8), ("i", 4), ("i", 8)}  # dtype kind and bytes
_SELECT_MIN_LENGTH = (16, 64)  # keys of at most 32 bits, of 64 bits
_SELECT_MIN_SIZE = (1024, 4096)
_WIDE_SELECT_MAX_FRACTION = 0.25
_PARTITION_MIN_LENGTH = 512

# Per byte width: the signed integer type of that width, its top bit's shift and its largest value.
_SIGNED = {size: (t, t(8 * size - 1), t(np.iinfo(t).max)) for size, t in ((2, np.int16), (4, np.int32), (8, np.int64))}
_HIGH = 1 if sys.byteorder == "little" else 0  # which int32 of an int64 holds its high word
_LOW32 = np.int64(0xFFFFFFFF)


def _topk_indices(data: Any, ax: int, k: int, descending: bool, xp: Any) -> Any:
    """The int64 indices of the first ``k`` of :func:`_stable_order` along ``ax``, mostly without sorting
    the axis.

    Every element gets an integer key whose order and ties are the stable sort's (:func:`_order_key`).
    A key of at most 32 bits is joined with the element's index into one int64 ``key * 2**32 + index``:
    no two are equal, so an unstable partition and sort of these give exactly the stable order. A
    64-bit key is first partitioned to find the k-th key ``t``; then every element before ``t`` is
    taken, and of those equal to ``t`` the ones with the lowest indices (a second partition, of
    ``rank * 2**32 + index``), and the k are sorted stably. No host reads: a CUDA graph can capture it.
    """
    n = data.shape[ax]
    if k == 0:
        return xp.zeros(data.shape[:ax] + (0,) + data.shape[ax + 1 :], dtype=np.int64)
    wide = data.dtype.itemsize == 8
    if not (
        (data.dtype.kind, data.dtype.itemsize) in _SELECTABLE
        and _SELECT_MIN_LENGTH[wide] <= n < 2**31
        and data.size >= _SELECT_MIN_SIZE[wide]
        and (not wide or k <= n * _WIDE_SELECT_MAX_FRACTION)
    ):
        return _first(_stable_order(data, ax, descending, xp), ax, k)
    if not wide:
        joined, high = _joined(data.shape, ax, xp)
        _order_key(data, descending, xp, out=high)
        if n < _PARTITION_MIN_LENGTH or 2 * k > n:
            joined.sort(axis=ax)
            return _first(joined, ax, k) & _LOW32
        joined.partition(k - 1, axis=ax)
        return xp.sort(_first(joined, ax, k), axis=ax) & _LOW32
    key = _order_key(data, descending, xp, out=xp.empty(data.shape, dtype=np.int64))
    kth = xp.partition(key, k - 1, axis=ax)[(slice(None),) * ax + (slice(k - 1, k),)]
    rank, high = _joined(data.shape, ax, xp)
    xp.copyto(high, key >= kth)  # 0 before the k-th key, 1 equal to it, 2 after
    high += key > kth
    rank.partition(k - 1, axis=ax)
    chosen = xp.sort(_first(rank, ax, k) & _LOW32, axis=ax)  # the k chosen, in index order
    order = xp.argsort(xp.take_along_axis(key, chosen, axis=ax), axis=ax, kind="stable")
    return xp.take_along_axis(chosen, order, axis=ax)


def _joined(shape: tuple, ax: int, xp: Any) -> tuple[Any, Any]:
    """A new C-ordered int64 array whose low words hold each element's index along ``ax`` (below
    2**31), and a view of its high words as int32, to be filled. (C order: CuPy sorts and partitions
    in place only such arrays.)"""
    joined = xp.empty(shape, dtype=np.int64)
    words = joined.view(np.int32).reshape(shape + (2,))
    index = xp.arange(shape[ax], dtype=np.int32).reshape([-1 if d == ax else 1 for d in range(len(shape))])
    words[..., 1 - _HIGH] = index
    return joined, words[..., _HIGH]


def _first(a: Any, ax: int, k: int) -> Any:
    return a[(slice(None),) * ax + (slice(0, k),)]


def _order_key(data: Any, descending: bool, xp: Any, out: Any) -> Any:
    """For floats of 2, 4 or 8 bytes and signed integers of 4 or 8, keys whose order and ties along any
    axis are :func:`_stable_order`'s, written to ``out`` (int32, or int64 for 8 bytes) and returned:
    equal keys exactly where the sort sees equal values (every NaN is one value, above +inf; -0.0 is
    0.0), reversed when ``descending``.
    """
    if data.dtype.kind == "f":  # the bits as a signed int, a negative value's magnitude negated
        signed, top, largest = _SIGNED[data.dtype.itemsize]
        b = data.view(signed)
        sign = b >> top  # -1 for a negative value, else 0
        xp.bitwise_and(sign, largest, out=out)
        out ^= b
        out -= sign  # sign ? -magnitude : magnitude (-0.0 and 0.0 both 0), NaNs beyond +-inf's
        xp.copyto(out, largest, where=xp.isnan(data))  # every NaN one value, above +inf's
    else:
        xp.copyto(out, data)
    if descending:
        xp.invert(out, out=out)  # ~ reverses the order of a signed int without overflow
    return out
