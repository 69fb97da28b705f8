"""Indexing: ``t[index]``, ``take``, ``gather``, and the scatter-add that is their VJP."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from gradkit.autograd.function import record
from gradkit.errors import ArgumentTypeError, DTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import as_tensor, host_read_allowed, int64_indices, normalize_axis
from gradkit.tensor import Tensor


def _index_array(item: Any, x: Tensor, op: str) -> Any:
    """An array index (Tensor, list, NumPy array) as an array of x's backend, its dtype checked
    where it is (CuPy would refuse a string array on the copy to the GPU with its own error)."""
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
    elif not (isinstance(item, np.ndarray) or hasattr(item, "__cuda_array_interface__")):
        item = np.asarray(item)  # a scalar (or a str)
    if item.dtype.kind not in "iub":
        raise DTypeError(f"{op}: index arrays must be integer or bool, got dtype {item.dtype}")
    return int64_indices(x._backend.asarray(item), op, "index")


def normalize_index(x: Tensor, index: Any, op: str = "getitem") -> tuple:
    """``index`` as a tuple with tensors and lists turned into backend arrays, bounds checked."""
    items = []
    for item in index if isinstance(index, tuple) else (index,):
        if isinstance(item, (Tensor, list, tuple, np.ndarray)) or hasattr(item, "__cuda_array_interface__"):
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
                _check_bounds(item, x, dim, op)
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
        else:
            data = x._data[idx]
    except IndexError as exc:  # index arrays whose shapes do not broadcast together, for one
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


def gather(x: Any, axis: int, index: Any) -> Tensor:
    """PyTorch's ``gather``: ``out[i][j] = x[index[i][j]][j]`` for axis 0, and so on."""
    x = as_tensor(x, "gather")
    ax = normalize_axis(axis, x.ndim, "gather")
    idx = _index_array(index, x, "gather")
    if idx.dtype.kind == "b" or idx.ndim != x.ndim:
        raise ShapeError(
            f"gather: index must be an integer tensor with the same number of dimensions as the input "
            f"({x.ndim}), got shape {idx.shape} and dtype {idx.dtype}"
        )
    for d in range(x.ndim):
        if d != ax and idx.shape[d] > x.shape[d]:
            raise ShapeError(f"gather: index shape {idx.shape} exceeds input shape {x.shape} at axis {d}")
    _check_bounds(idx, x, ax, "gather", negative=False)  # as PyTorch: no wrap-around of negative indices
    return _along(x, ax, idx, "gather")


# ------------------------------------------------------------------ sorting
def argsort(x: Any, axis: int = -1, descending: bool = False) -> Tensor:
    """Indices that sort ``x`` along ``axis`` (int64, no gradient); ties keep their order (a stable sort).

    ``descending=True`` is PyTorch's keyword (ties still in their order). NaNs sort last, and first
    when descending (as PyTorch, which takes NaN as the largest value).
    """
    x = as_tensor(x, "argsort")
    return Tensor._make(_sorted_indices(x, axis, descending, "argsort", "descending")[1], x._backend)


def _sorted_indices(x: Tensor, axis: Any, descending: Any, op: str, flag: str) -> tuple[int, Any]:
    if x.ndim == 0:
        raise ShapeError(f"{op}: a 0-d tensor has no axis to sort along")
    if not isinstance(descending, (bool, np.bool_)):
        raise ArgumentTypeError(f"{op}: {flag} must be True or False, got {descending!r:.40}")
    ax = normalize_axis(axis, x.ndim, op)
    xp = x._backend.xp
    key = x._data
    if descending:  # a stable sort of a reversed key keeps ties in order; ~ reverses ints and bools, no overflow
        key = -key if key.dtype.kind == "f" else xp.invert(key)
    idx = xp.argsort(key, axis=ax, kind="stable")  # CuPy's sorts are always stable
    if descending and key.dtype.kind == "f":  # NaNs, last so far, go first: a second stable sort
        nan_last = xp.isnan(xp.take_along_axis(key, idx, axis=ax))
        idx = xp.take_along_axis(idx, xp.argsort(~nan_last, axis=ax, kind="stable"), axis=ax)
    return ax, idx.astype(np.int64, copy=False)


def _along(x: Tensor, ax: int, idx: Any, op: str) -> Tensor:
    """``x`` picked along ``ax`` at ``idx``, the other axes in order (as gather); ``idx`` is known to be
    in range: no check, no host read."""
    xp = x._backend.xp
    full = tuple(
        idx if d == ax else xp.arange(idx.shape[d]).reshape([-1 if e == d else 1 for e in range(x.ndim)])
        for d in range(x.ndim)
    )
    data = x._data[full]
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return record(op, data, x._backend, (x,), (_getitem_vjp,), (x.shape, full))


def sort(x: Any, axis: int = -1, descending: bool = False) -> Tensor:
    """``x`` sorted along ``axis`` (NumPy's ``sort``: the values; :func:`argsort` gives the order).

    The gradient goes back to where each value came from.
    """
    x = as_tensor(x, "sort")
    ax, idx = _sorted_indices(x, axis, descending, "sort", "descending")
    return _along(x, ax, idx, "sort")


def topk(x: Any, k: int, axis: int = -1, largest: bool = True) -> tuple[Tensor, Tensor]:
    """PyTorch's ``topk``: the ``k`` largest (or smallest) values along ``axis``, sorted, and their indices."""
    x = as_tensor(x, "topk")
    from gradkit._args import whole

    ax, idx = _sorted_indices(x, axis, largest, "topk", "largest")
    n = x.shape[ax]
    k = whole(k, "topk", "k", low=0)
    if k > n:
        raise IndexOutOfRangeError(f"topk: k={k} is more than the {n} elements along axis {ax}")
    idx = idx[(slice(None),) * ax + (slice(0, k),)]
    return _along(x, ax, idx, "topk"), Tensor._make(idx, x._backend)
