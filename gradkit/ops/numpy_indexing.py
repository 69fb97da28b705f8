"""NumPy's index, set and rearranging helpers: triangle and diagonal indices, ``indices``, ``unravel_index``,
``ravel_multi_index``, ``ix_``, ``delete``, ``insert``, the set functions, ``digitize``, ``partition``,
``lexsort``, ``compress``, ``choose``, ``trim_zeros``, ``ediff1d``, ``unwrap``, the split helpers, the array
API's ``concat``, ``permute_dims``, ``matrix_transpose`` and ``unstack``, ``block``, ``resize``, the in-place
writers (``fill_diagonal``, ``place``, ``put``, ``putmask``) and ``apply_along_axis``/``apply_over_axes``.

Index results are int64 tensors on the input's device (the default device when there is none). Values that
move are picked by recorded gathers or by composites of gradkit's ops, so gradients follow the elements.
Where the result's size depends on the values (the set functions, ``compress``, ``trim_zeros``, ...) the
positions are read on the host: a device synchronisation on a GPU, refused while a CUDA graph is captured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradkit._args import check_int_fits, flag, no_out, scalar, text, whole
from gradkit.errors import ArgumentTypeError, DTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from gradkit.ops._util import SCALARS, as_tensor, host_read_allowed, int64_indices, normalize_axes
from gradkit.ops.indexing import _along, _refuse_in_capture, _stable_order
from gradkit.ops.numpy_more import _axis_of, _broadcast_shape, _gather, _is_array, _join, _seq, _tensor, _tensors
from gradkit.ops.shape import (
    _int_list,
    astype,
    broadcast_to,
    clone,
    concatenate,
    expand_dims,
    moveaxis,
    reshape,
    split,
    stack,
    tile,
    transpose,
    unbind,
)
from gradkit.tensor import Tensor

__all__ = [
    "apply_along_axis", "apply_over_axes", "argpartition", "block", "choose", "compress", "concat", "delete",
    "diag_indices", "diag_indices_from", "digitize", "dsplit", "ediff1d", "extract", "fill_diagonal", "flatnonzero",
    "hsplit", "indices", "insert", "intersect1d", "isin", "ix_", "lexsort", "matrix_transpose", "partition",
    "permute_dims", "place", "put", "putmask", "ravel_multi_index", "resize", "setdiff1d", "setxor1d", "tril_indices",
    "tril_indices_from", "trim_zeros", "triu_indices", "triu_indices_from", "union1d", "unravel_index", "unstack",
    "unwrap", "vsplit",
]

_MODES = ("raise", "wrap", "clip")


class _IndexDTypeError(DTypeError, IndexError):
    """Indices of a dtype that cannot index (floats, strings): NumPy's IndexError, gradkit's DTypeError."""


class _IntegerOverflowError(InvalidArgumentError, OverflowError):
    """NumPy 2's OverflowError for a Python int that the array's integer dtype cannot hold."""


# ------------------------------------------------------------------ helpers
def _default_backend(device: Any = None, op: str | None = None) -> Any:
    """The backend of ``device`` (a gradkit extension, as PyTorch's creation functions take one), else the default's."""
    from gradkit.backends import get_backend

    return get_backend(device, op)


def _ints(data: Any, backend: Any) -> Tensor:
    """An index array as an int64 tensor (no gradient)."""
    return Tensor._make(data.astype(np.int64, copy=False), backend)


def _host(t: Tensor, op: str) -> np.ndarray:
    """``t``'s values on the host: on a GPU one device read, refused while a CUDA graph is captured."""
    if type(t._data) is np.ndarray:
        return t._data
    _refuse_in_capture(t, op)
    return t._backend.to_numpy(t._data)


def _host_array(value: Any, op: str, name: str) -> np.ndarray:
    """An argument whose values decide positions, on the host: a tensor's or device array's (one device read
    on a GPU, refused while a CUDA graph is captured), or a number, list or NumPy array as NumPy makes it."""
    if isinstance(value, Tensor) or (hasattr(value, "__cuda_array_interface__") and not isinstance(value, np.ndarray)):
        return _host(as_tensor(value, op), op)
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{op}: {name} must be integers or bools, got {value!r:.60} ({exc})") from None


def _min_max(data: Any, backend: Any) -> tuple[int, int]:
    """The smallest and largest value of a non-empty integer array: one device read on a GPU."""
    if type(data) is np.ndarray:
        return int(data.min()), int(data.max())
    both = backend.to_numpy(backend.xp.stack([data.min(), data.max()]).astype(np.int64))
    return int(both[0]), int(both[1])


def _take(x: Tensor, ax: int, idx: Any, op: str) -> Tensor:
    """``x``'s slices along ``ax`` at ``idx`` (a backend integer array, in range by construction: no check,
    no device read); the gradient is the scatter-add."""
    return _gather(x, (slice(None),) * ax + (idx,), op)


def _flat_or_axis(x: Tensor, axis: Any, op: str) -> tuple[Tensor, int]:
    """``x`` flattened and axis 0 for ``axis=None`` (NumPy's delete, insert, compress), else x and its axis."""
    if axis is None:
        return reshape(x, (-1,)), 0
    return x, _axis_of(axis, x.ndim, op)


def _mode(mode: Any, op: str) -> str:
    text(mode, op, "mode")
    if mode not in _MODES:
        raise InvalidArgumentError(f"{op}: mode must be one of 'clip', 'raise' or 'wrap', got {mode!r}")
    return mode


def _order(order: Any, op: str) -> str:
    text(order, op, "order")
    if order not in ("C", "F", "c", "f"):
        raise InvalidArgumentError(f"{op}: order must be 'C' or 'F', got {order!r}")
    return order.upper()


def _dims(shape: Any, op: str, name: str) -> tuple[int, ...]:
    """A shape (an int or a sequence of ints) of non-negative lengths."""
    dims = tuple(_int_list(shape, op, name))
    if any(d < 0 for d in dims):
        raise InvalidArgumentError(f"{op}: {name} must be non-negative, got {dims}")
    return dims


def _int(value: Any, op: str, name: str) -> int:
    """An int (a NumPy integer too), not a bool or a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r:.40}")
    return int(value)


def _unravel(flat: Any, dims: tuple, order: str, xp: Any) -> list:
    """The coordinates of the flat indices ``flat`` (1-d int64, in range) in an array of shape ``dims``."""
    coords: list = [None] * len(dims)
    rest = flat
    for i in reversed(range(len(dims))) if order == "C" else range(len(dims)):
        d = max(dims[i], 1)
        coords[i] = rest % d
        rest = rest // d
    return coords


# ------------------------------------------------------------------ index generators
def _tri(op: str, n: Any, k: Any, m: Any, upper: bool, backend: Any) -> tuple[Tensor, Tensor]:
    n = whole(n, op, "n", low=0)
    k = whole(k, op, "k")
    m = n if m is None else whole(m, op, "m", low=0)
    rows, cols = (np.triu_indices if upper else np.tril_indices)(n, k, m)  # on the host: no device read
    return _ints(backend.asarray(rows), backend), _ints(backend.asarray(cols), backend)


def _tri_from(op: str, arr: Any, k: Any, upper: bool) -> tuple[Tensor, Tensor]:
    a = _tensor(arr, op)
    if a.ndim != 2:
        raise ShapeError(f"{op}: the input must be 2-d, got shape {a.shape}")
    return _tri(op, a.shape[0], k, a.shape[1], upper, a._backend)


_NOT_GIVEN: Any = object()


def _torch_tri(op: str, row: Any, col: Any, m: Any, offset: Any, dtype: Any, upper: bool, device: Any) -> Tensor:
    """PyTorch's ``tril_indices(row, col, offset=0, *, dtype=torch.long, device=None)``: a (2, N) tensor."""
    from gradkit.dtypes import to_dtype
    from gradkit.ops.shape import stack

    if m is not None:
        raise ArgumentTypeError(f"{op}: PyTorch's form (offset= or dtype= given) takes (row, col, offset); got a "
                                f"third positional argument {m!r:.40}")
    if col is _NOT_GIVEN:
        raise ArgumentTypeError(f"{op}: PyTorch's form (offset= or dtype= given) needs col: {op}(row, col, offset=)")
    offset = 0 if offset is _NOT_GIVEN else offset
    rows, cols = _tri(op, row, whole(offset, op, "offset"), col, upper, _default_backend(device, op))
    out = stack([rows, cols])
    if dtype is not None:
        dt = to_dtype(dtype, op)
        if dt.kind not in "iu":
            raise DTypeError(f"{op}: dtype must be an integer dtype, got {dt}")
        out = out.astype(dt)
    return out


def tril_indices(n: int, k: Any = _NOT_GIVEN, m: int | None = None, *, device: Any = None, offset: Any = _NOT_GIVEN,
                 dtype: Any = None, layout: Any = None) -> Any:
    """NumPy's ``tril_indices``: the row and column indices (int64) of the lower triangle of an (n, m) array,
    diagonal ``k`` and below, on ``device`` (default: the default device; made on the host and copied there).

    With PyTorch's keywords ``offset=`` or ``dtype=`` it is ``torch.tril_indices(row, col, offset=0, *,
    dtype=torch.long, device=None)``: the second argument is the number of columns and the result one (2, N)
    tensor. (Without them the second positional argument is NumPy's ``k``: ``torch.tril_indices(4, 4)`` is
    ``gk.tril_indices(4, offset=0, ...)``, spelt with a keyword.)"""
    if offset is not _NOT_GIVEN or dtype is not None:
        return _torch_tri("tril_indices", n, k, m, offset, dtype, False, device)
    k = 0 if k is _NOT_GIVEN else k
    return _tri("tril_indices", n, k, m, False, _default_backend(device, "tril_indices"))


def triu_indices(n: int, k: Any = _NOT_GIVEN, m: int | None = None, *, device: Any = None, offset: Any = _NOT_GIVEN,
                 dtype: Any = None, layout: Any = None) -> Any:
    """NumPy's ``triu_indices``: the row and column indices (int64) of the upper triangle, diagonal ``k`` and above,
    on ``device``; with ``offset=`` or ``dtype=`` PyTorch's ``torch.triu_indices(row, col, offset=0)`` (a (2, N)
    tensor), as :func:`tril_indices`."""
    if offset is not _NOT_GIVEN or dtype is not None:
        return _torch_tri("triu_indices", n, k, m, offset, dtype, True, device)
    k = 0 if k is _NOT_GIVEN else k
    return _tri("triu_indices", n, k, m, True, _default_backend(device, "triu_indices"))


def tril_indices_from(arr: Any, k: int = 0) -> tuple[Tensor, Tensor]:
    """NumPy's ``tril_indices_from``: :func:`tril_indices` for the shape of the 2-d ``arr``, on its device."""
    return _tri_from("tril_indices_from", arr, k, False)


def triu_indices_from(arr: Any, k: int = 0) -> tuple[Tensor, Tensor]:
    """NumPy's ``triu_indices_from``: :func:`triu_indices` for the shape of the 2-d ``arr``, on its device."""
    return _tri_from("triu_indices_from", arr, k, True)


def diag_indices(n: int, ndim: int = 2, *, device: Any = None) -> tuple[Tensor, ...]:
    """NumPy's ``diag_indices``: ``ndim`` times the same int64 ``arange(n)`` (a tuple), on ``device`` (default: the
    default device)."""
    op = "diag_indices"
    return _diag(whole(n, op, "n"), whole(ndim, op, "ndim", low=0), _default_backend(device, op))


def _diag(n: int, ndim: int, backend: Any) -> tuple[Tensor, ...]:
    return (_ints(backend.xp.arange(max(n, 0)), backend),) * ndim


def diag_indices_from(arr: Any) -> tuple[Tensor, ...]:
    """NumPy's ``diag_indices_from``: the main diagonal's indices of ``arr`` (at least 2-d, all lengths equal)."""
    op = "diag_indices_from"
    a = _tensor(arr, op)
    if a.ndim < 2:
        raise ShapeError(f"{op}: the input must be at least 2-d, got shape {a.shape}")
    if len(set(a.shape)) != 1:
        raise ShapeError(f"{op}: all dimensions of the input must be of equal length, got shape {a.shape}")
    return _diag(a.shape[0], a.ndim, a._backend)


def indices(dimensions: Sequence[int], dtype: Any = int, sparse: bool = False, *, device: Any = None) -> Any:
    """NumPy's ``indices``: a grid of indices, shape ``(len(dimensions), *dimensions)`` (int64 by default), or
    with ``sparse=True`` a tuple of open-grid tensors (one axis each), on ``device`` (default: the default one)."""
    from gradkit.dtypes import to_dtype

    op = "indices"
    if isinstance(dimensions, (int, np.integer)) or not hasattr(dimensions, "__iter__"):
        raise ArgumentTypeError(f"{op}: dimensions must be a sequence of ints (a shape), got {dimensions!r:.40}")
    dims = _dims(list(dimensions), op, "dimensions")
    dt = to_dtype(dtype, op)
    sparse = flag(sparse, op, "sparse")
    backend = _default_backend(device, op)
    xp = backend.xp
    n = len(dims)
    parts = [xp.arange(d, dtype=dt).reshape((1,) * i + (d,) + (1,) * (n - i - 1)) for i, d in enumerate(dims)]
    if sparse:
        return tuple(Tensor._make(p, backend) for p in parts)
    data = xp.empty((n, *dims), dtype=dt)
    for i, p in enumerate(parts):
        data[i] = p
    return Tensor._make(data, backend)


def unravel_index(indices: Any, shape: Any, order: str = "C") -> tuple[Tensor, ...]:
    """NumPy's ``unravel_index``: the coordinates (int64 tensors of ``indices``' shape, a tuple) of flat
    indices into an array of ``shape``, row-major (``"C"``) or column-major (``"F"``). An index outside
    ``[0, size)`` raises InvalidArgumentError (NumPy's ValueError): on a GPU one device read, skipped while a
    CUDA graph is captured."""
    op = "unravel_index"
    idx = _tensor(indices, op)
    if idx.dtype.kind not in "biu":
        raise DTypeError(f"{op}: indices must be integers, got dtype {idx.dtype}")
    dims = _dims(shape, op, "shape")
    order = _order(order, op)
    backend = idx._backend
    size = math.prod(dims)
    data = int64_indices(idx._data, op, "index").astype(np.int64).reshape(-1)
    if data.size and host_read_allowed(data):
        lo, hi = _min_max(data, backend)
        if lo < 0 or hi >= size:
            raise InvalidArgumentError(
                f"{op}: index {lo if lo < 0 else hi} is out of bounds for an array of size {size} (shape {dims})"
            )
    return tuple(_ints(c.reshape(idx.shape), backend) for c in _unravel(data, dims, order, backend.xp))


def ravel_multi_index(multi_index: Any, dims: Any, mode: Any = "raise", order: str = "C") -> Tensor:
    """NumPy's ``ravel_multi_index``: the flat indices (int64) of the coordinates in ``multi_index`` (one
    integer array per dimension, broadcast together) in an array of shape ``dims``. ``mode`` (one, or one per
    dimension): "raise" refuses a coordinate outside ``[0, d)`` (InvalidArgumentError; on a GPU one device
    read, skipped while a CUDA graph is captured), "wrap" takes it modulo d, "clip" clips it."""
    op = "ravel_multi_index"
    dims = _dims(dims, op, "dims")
    if _is_array(multi_index):
        coords = list(unbind(_tensor(multi_index, op), 0)) if getattr(multi_index, "ndim", 0) else []
    elif isinstance(multi_index, (list, tuple)):
        coords = _tensors(op, *multi_index) if multi_index else []
    else:
        kind = type(multi_index).__name__
        raise ArgumentTypeError(f"{op}: multi_index must be a tuple of integer arrays, got {kind}")
    if len(coords) != len(dims):
        raise InvalidArgumentError(f"{op}: multi_index has {len(coords)} coordinate arrays for {len(dims)} dimensions")
    modes = (mode,) * len(dims) if isinstance(mode, str) else tuple(mode) if isinstance(mode, (list, tuple)) else None
    if modes is None or len(modes) != len(dims):
        raise InvalidArgumentError(f"{op}: mode must be a str or one per dimension ({len(dims)}), got {mode!r:.60}")
    modes = tuple(_mode(m, op) for m in modes)
    order = _order(order, op)
    for c in coords:
        if c.dtype.kind not in "biu":
            raise DTypeError(f"{op}: only integer coordinates are permitted, got dtype {c.dtype}")
    if math.prod(dims) > np.iinfo(np.int64).max:
        raise InvalidArgumentError(f"{op}: the array size defined by dims {dims} is larger than the maximum possible")
    if not coords:
        backend = _default_backend()
        return _ints(backend.xp.zeros((), np.int64), backend)
    shape = _broadcast_shape(op, *coords)
    backend = coords[0]._backend
    xp = backend.xp
    total = xp.zeros(math.prod(shape), dtype=np.int64)
    bad = None
    for i, (c, d, m) in enumerate(zip(coords, dims, modes, strict=True)):
        cd = xp.broadcast_to(c._data.astype(np.int64), shape).reshape(-1)
        if m == "raise":
            out = (cd < 0) | (cd >= d)
            bad = out if bad is None else bad | out
        elif d == 0 and cd.size:
            raise InvalidArgumentError(f"{op}: cannot {m} a coordinate into dimension {i} of length 0 (dims {dims})")
        elif m == "wrap":
            cd = cd % max(d, 1)
        else:
            cd = xp.clip(cd, 0, max(d - 1, 0))
        stride = math.prod(dims[i + 1 :]) if order == "C" else math.prod(dims[:i])
        total += cd * stride
    if bad is not None and bad.size and host_read_allowed(bad) and bool(bad.any()):  # on a GPU one device read
        raise InvalidArgumentError(f"{op}: invalid entry in coordinates array (outside dims {dims})")
    return _ints(total.reshape(shape), backend)


def ix_(*args: Any) -> tuple[Tensor, ...]:
    """NumPy's ``ix_``: the 1-d sequences as an open mesh (argument k shaped ``(1, ..., n, ..., 1)``) for
    cross indexing; a bool sequence becomes its int64 positions (a host read). Empty lists are int64."""
    op = "ix_"
    ts = _tensors(op, *args) if args else []
    out = []
    for k, (arg, t) in enumerate(zip(args, ts, strict=True)):
        if t.size == 0 and not _is_array(arg):
            t = astype(t, np.int64)
        if t.ndim != 1:
            raise ShapeError(f"{op}: each index must be 1-d (a cross index), got shape {t.shape} for argument {k}")
        if t.dtype == np.bool_:
            t = flatnonzero(t)
        out.append(reshape(t, (1,) * k + (t.size,) + (1,) * (len(ts) - k - 1)))
    return tuple(out)


# ------------------------------------------------------------------ deleting and inserting
def _delete_mask(obj: Any, n: int, ax: int, op: str) -> np.ndarray:
    """The slices along the axis that ``delete`` keeps, as NumPy decides them from ``obj``."""
    keep = np.ones(n, dtype=bool)
    if isinstance(obj, slice):
        from gradkit.ops.indexing import _plain_slice

        keep[_plain_slice(obj, op)] = False
        return keep
    ind = _host_array(obj, op, "obj")
    if ind.size == 0 and not _is_array(obj):
        ind = ind.astype(np.int64)
    if ind.dtype == np.bool_:
        if ind.shape != (n,):
            raise ShapeError(f"{op}: a bool obj must be 1-d and match the axis length {n}, got shape {ind.shape}")
        return ~ind
    if ind.dtype.kind not in "iu":
        raise _IndexDTypeError(f"{op}: obj must be integers, a bool mask or a slice, got dtype {ind.dtype}")
    ind = ind.reshape(-1)
    if ind.size:
        lo, hi = int(ind.min()), int(ind.max())
        if lo < -n or hi >= n:
            bad = hi if hi >= n else lo
            raise IndexOutOfRangeError(f"{op}: index {bad} is out of bounds for axis {ax} with size {n}")
    keep[ind] = False
    return keep


def delete(arr: Any, obj: Any, axis: int | None = None) -> Tensor:
    """NumPy's ``delete``: ``arr`` without the slices at ``obj`` (an int, a slice, integers or a bool mask)
    along ``axis`` (the flattened array when None). The gradient goes back to the slices kept. A tensor obj
    is read on the host (one device read on a GPU)."""
    op = "delete"
    x, ax = _flat_or_axis(_tensor(arr, op), axis, op)
    keep = _delete_mask(obj, x.shape[ax], ax, op)
    return _take(x, ax, x._backend.asarray(np.flatnonzero(keep)), op)


def _fit(v: Tensor, shape: tuple, op: str) -> Tensor:
    """``v`` broadcast to ``shape`` as NumPy's assignment does (leading axes of length 1 dropped first)."""
    while v.ndim > len(shape) and v.shape[0] == 1:
        v = reshape(v, v.shape[1:])
    try:
        if v.ndim > len(shape) or np.broadcast_shapes(v.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"{op}: values of shape {v.shape} do not broadcast to the inserted shape {shape}") from None
    return broadcast_to(v, shape)


def insert(arr: Any, obj: Any, values: Any, axis: int | None = None) -> Tensor:
    """NumPy's ``insert``: ``arr`` with ``values`` (cast to arr's dtype, broadcast) inserted before the
    positions ``obj`` (an int, a slice or a sequence) along ``axis`` (the flattened array when None), by
    NumPy's rules (a scalar obj inserts values along the axis; a sequence one slice per index).
    Differentiable in arr and values. A tensor obj is read on the host (one device read on a GPU)."""
    op = "insert"
    x, ax = _flat_or_axis(_tensor(arr, op), axis, op)
    n = x.shape[ax]
    if isinstance(obj, slice):
        from gradkit.ops.indexing import _plain_slice

        ind = np.arange(*_plain_slice(obj, op).indices(n), dtype=np.int64)
    else:
        ind = _host_array(obj, op, "obj")
        if ind.dtype == np.bool_:
            if ind.ndim != 1:
                raise ShapeError(f"{op}: a bool obj must be 1-d, got shape {ind.shape}")
            ind = np.flatnonzero(ind)
        elif ind.ndim > 1:
            raise ShapeError(f"{op}: obj must be 1-d or a scalar, got shape {ind.shape}")
        if ind.size == 0 and not _is_array(obj):
            ind = ind.astype(np.int64)
        if ind.dtype.kind not in "iu":
            raise _IndexDTypeError(f"{op}: obj must be integers, a bool mask or a slice, got dtype {ind.dtype}")
    check_int_fits(op, values, x.dtype)  # NumPy 2 refuses a Python int the dtype cannot hold
    v = astype(_tensors(op, x, values)[1], x.dtype)
    if ind.size == 1:
        index = int(ind.reshape(-1)[0])
        if not -n <= index <= n:
            raise IndexOutOfRangeError(f"{op}: index {index} is out of bounds for axis {ax} with size {n}")
        index += n if index < 0 else 0
        if v.ndim < x.ndim:
            v = reshape(v, (1,) * (x.ndim - v.ndim) + v.shape)
        if ind.ndim == 0:
            v = moveaxis(v, 0, ax)
        v = _fit(v, x.shape[:ax] + (v.shape[ax],) + x.shape[ax + 1 :], op)
        at = (slice(None),) * ax
        return concatenate([x[at + (slice(None, index),)], v, x[at + (slice(index, None),)]], axis=ax)
    ind = ind.astype(np.int64)
    if ind.size and (ind.min() < -n or ind.max() > n):
        bad = int(ind.max()) if ind.max() > n else int(ind.min())
        raise IndexOutOfRangeError(f"{op}: index {bad} is out of bounds for axis {ax} with size {n}")
    ind[ind < 0] += n
    count = ind.size
    ind[np.argsort(ind, kind="stable")] += np.arange(count)  # where each new slice lands, as NumPy's
    old = np.ones(n + count, dtype=bool)
    old[ind] = False
    source = np.empty(n + count, dtype=np.int64)
    source[old] = np.arange(n)
    source[ind] = n + np.arange(count)  # the values, in obj's order
    v = _fit(v, x.shape[:ax] + (count,) + x.shape[ax + 1 :], op)
    return _take(concatenate([x, v], axis=ax), ax, x._backend.asarray(source), op)


# ------------------------------------------------------------------ sets
def _sorted(data: Any, xp: Any, order_wanted: bool = True) -> tuple[Any, Any]:
    """A 1-d array stably sorted (NaN last, as NumPy's sort) and the order that sorts it; without
    ``order_wanted`` on the CPU NumPy's sort (several times faster than a stable argsort), and no order."""
    if not order_wanted and xp is np:
        return np.sort(data), None
    order = _stable_order(data, 0, False, xp)
    return data[order], order


def _unique_first(data: Any, xp: Any, index_wanted: bool = True) -> tuple[Any, Any]:
    """NumPy's ``unique(..., return_index=True)`` of the flattened array (NaNs as one value): the sorted
    values and the index of each one's first occurrence (None without ``index_wanted``). The count is read
    on the host."""
    flat = data.reshape(-1)
    if flat.size == 0:
        return flat, xp.zeros(0, dtype=np.int64)
    s, order = _sorted(flat, xp, index_wanted)
    first = xp.ones(s.shape, dtype=bool)
    first[1:] = s[1:] != s[:-1]
    if s.dtype.kind == "f":
        nan = xp.isnan(s)
        first[1:] &= ~(nan[1:] & nan[:-1])
    pos = xp.flatnonzero(first)  # the host read
    return s[pos], None if order is None else order[pos]


def _contained(ed: Any, td: Any, xp: Any) -> Any:
    """For each element of the 1-d ``ed``, whether it equals one of the 1-d ``td`` (NaN equals nothing)."""
    if td.size == 0:
        return xp.zeros(ed.shape, dtype=bool)
    common = np.result_type(ed.dtype, td.dtype, np.uint8 if ed.dtype == td.dtype == np.bool_ else np.bool_)
    ed, td = ed.astype(common, copy=False), td.astype(common, copy=False)  # bools searched as uint8
    s, _ = _sorted(td, xp, False)
    pos = xp.minimum(xp.searchsorted(s, ed, side="left"), s.size - 1)
    return s[pos] == ed


def _set_args(op: str, ar1: Any, ar2: Any) -> tuple[Any, Any, Any]:
    a, b = _tensors(op, ar1, ar2)
    _refuse_in_capture(a, op)
    return a._data, b._data, a._backend


def isin(element: Any, test_elements: Any, assume_unique: bool = False, invert: bool = False, *,
         kind: str | None = None) -> Tensor:  # fmt: skip
    """NumPy's ``isin``: a bool tensor of ``element``'s shape, True where the element equals one of
    ``test_elements`` (False with ``invert``); NaN equals nothing. No host reads. ``assume_unique`` and
    ``kind`` ("sort", "table": integers and bools only, as NumPy) are checked and accepted; the values are
    the same for every kind (a sort and a binary search)."""
    op = "isin"
    e, t = _tensors(op, element, test_elements)
    flag(assume_unique, op, "assume_unique")
    invert = flag(invert, op, "invert")
    if kind not in (None, "sort", "table"):
        raise InvalidArgumentError(f"{op}: invalid kind {kind!r}; use None, 'sort' or 'table'")
    if kind == "table" and not (e.dtype.kind in "biu" and t.dtype.kind in "biu"):
        raise InvalidArgumentError(f"{op}: kind='table' only takes bool or integer arrays; use 'sort' or None")
    xp = e._backend.xp
    found = _contained(e._data.reshape(-1), t._data.reshape(-1), xp)
    return Tensor._make((~found if invert else found).reshape(e.shape), e._backend)


def intersect1d(ar1: Any, ar2: Any, assume_unique: bool = False, return_indices: bool = False) -> Any:
    """NumPy's ``intersect1d``: the sorted values in both (flattened) arrays; with ``return_indices`` also
    the int64 indices of their first occurrences in ar1 and ar2 (a tuple). With ``assume_unique`` the inputs
    are not made unique first (NumPy's result, duplicates included). No gradient; sizes read on the host."""
    op = "intersect1d"
    ad, bd, backend = _set_args(op, ar1, ar2)
    unique_given = flag(assume_unique, op, "assume_unique")
    indices_wanted = flag(return_indices, op, "return_indices")
    xp = backend.xp
    if unique_given:
        u1, u2 = ad.reshape(-1), bd.reshape(-1)
    else:
        (u1, i1), (u2, i2) = _unique_first(ad, xp, indices_wanted), _unique_first(bd, xp, indices_wanted)
    s, order = _sorted(xp.concatenate((u1, u2)), xp, indices_wanted)
    pos = xp.flatnonzero(s[1:] == s[:-1])
    values = Tensor._make(s[pos], backend)
    if not indices_wanted:
        return values
    first, second = order[pos], order[pos + 1] - u1.size
    if not unique_given:
        first, second = i1[first], i2[second]
    return values, _ints(first, backend), _ints(second, backend)


def union1d(ar1: Any, ar2: Any) -> Tensor:
    """NumPy's ``union1d``: the sorted unique values of both (flattened) arrays. No gradient."""
    ad, bd, backend = _set_args("union1d", ar1, ar2)
    xp = backend.xp
    # NumPy concatenates first: a Python number takes the other's dtype (weak, NumPy 2; by value, NumPy 1.x)
    dtype = np.result_type(*(v if isinstance(v, SCALARS) else d.dtype for v, d in ((ar1, ad), (ar2, bd))))
    both = xp.concatenate((ad.reshape(-1).astype(dtype, copy=False), bd.reshape(-1).astype(dtype, copy=False)))
    return Tensor._make(_unique_first(both, xp, False)[0], backend)


def setdiff1d(ar1: Any, ar2: Any, assume_unique: bool = False) -> Tensor:
    """NumPy's ``setdiff1d``: the sorted unique values of ar1 that are not in ar2 (with ``assume_unique``,
    ar1's values in their order). No gradient; the size is read on the host."""
    op = "setdiff1d"
    ad, bd, backend = _set_args(op, ar1, ar2)
    xp = backend.xp
    u1 = ad.reshape(-1) if flag(assume_unique, op, "assume_unique") else _unique_first(ad, xp, False)[0]
    keep = ~_contained(u1, bd.reshape(-1), xp)
    return Tensor._make(u1[xp.flatnonzero(keep)], backend)


def setxor1d(ar1: Any, ar2: Any, assume_unique: bool = False) -> Tensor:
    """NumPy's ``setxor1d``: the sorted values in exactly one of the (flattened) arrays. No gradient."""
    op = "setxor1d"
    ad, bd, backend = _set_args(op, ar1, ar2)
    xp = backend.xp
    if flag(assume_unique, op, "assume_unique"):
        u1, u2 = ad.reshape(-1), bd.reshape(-1)
    else:
        u1, u2 = _unique_first(ad, xp, False)[0], _unique_first(bd, xp, False)[0]
    aux = xp.concatenate((u1, u2))
    if aux.size == 0:
        return Tensor._make(aux, backend)
    s, _ = _sorted(aux, xp, False)
    edge = xp.ones(1, dtype=bool)
    differs = xp.concatenate((edge, s[1:] != s[:-1], edge))
    return Tensor._make(s[xp.flatnonzero(differs[1:] & differs[:-1])], backend)


# ------------------------------------------------------------------ bins, order and selection
def _monotonicity(bins: np.ndarray) -> int:
    """NumPy's check of digitize's bins (in float64): 1 rising, -1 falling (the first unequal pair decides),
    0 neither."""
    b = bins.astype(np.float64)
    unequal = np.flatnonzero(b[1:] != b[0])
    if unequal.size == 0:
        return 1
    i = int(unequal[0]) + 1
    if b[0] < b[i]:
        return 0 if np.any(b[i:-1] > b[i + 1 :]) else 1
    return 0 if np.any(b[i:-1] < b[i + 1 :]) else -1


def digitize(x: Any, bins: Any, right: bool = False) -> Tensor:
    """NumPy's ``digitize``: for each value of ``x``, the index (int64) of the bin it falls in, ``bins``
    rising or falling (1-d); ``right`` puts a value equal to an edge in the bin to its left. Bins that are
    neither rising nor falling raise InvalidArgumentError on the CPU; on a GPU they are not read (the first
    unequal pair decides the direction there, on the device)."""
    op = "digitize"
    xt, b = _tensors(op, x, bins)
    right = flag(right, op, "right")
    if b.ndim != 1:
        raise ShapeError(f"{op}: bins must be 1-d, got shape {b.shape}")
    backend = xt._backend
    xp = backend.xp
    n = b.shape[0]
    if n == 0:
        return _ints(xp.zeros(xt.shape, dtype=np.int64), backend)
    common = np.result_type(xt.dtype, b.dtype, np.uint8 if xt.dtype == b.dtype == np.bool_ else np.bool_)
    bd, xd = b._data.astype(common, copy=False), xt._data.astype(common, copy=False).reshape(-1)
    side = "left" if right else "right"
    if type(bd) is np.ndarray:
        mono = _monotonicity(bd)
        if mono == 0:
            raise InvalidArgumentError(f"{op}: bins must be monotonically increasing or decreasing")
        out = np.searchsorted(bd, xd, side) if mono == 1 else n - np.searchsorted(bd[::-1], xd, side)
    else:
        out = xp.searchsorted(bd, xd, side=side)
        if n > 1:
            falling_out = n - xp.searchsorted(xp.ascontiguousarray(bd[::-1]), xd, side=side)
            unequal = bd[1:] != bd[0]
            falling = unequal.any() & ~(bd[0] < bd[xp.argmax(unequal) + 1])
            out = xp.where(falling, falling_out, out)
    return _ints(out.reshape(xt.shape), backend)


def flatnonzero(a: Any) -> Tensor:
    """NumPy's ``flatnonzero``: the int64 indices of the non-zero elements of the flattened ``a``. The count
    is read on the host (refused while a CUDA graph is captured)."""
    op = "flatnonzero"
    x = _tensor(a, op)
    _refuse_in_capture(x, op)
    return _ints(x._backend.xp.flatnonzero(x._data), x._backend)


def _kth(kth: Any, n: int, size: int, op: str) -> list[int]:
    if isinstance(kth, Tensor) or isinstance(kth, np.ndarray):
        kth = _host_array(kth, op, "kth").tolist()
    items = list(kth) if isinstance(kth, (list, tuple)) else [kth]
    if not items:
        raise ArgumentTypeError(f"{op}: kth must be an int or a non-empty sequence of ints")
    if any(isinstance(k, (bool, np.bool_)) for k in items):  # NumPy 2's ValueError
        raise InvalidArgumentError(f"{op}: booleans are unacceptable as partition index (kth), got {kth!r:.40}")
    ks = [_int(k, op, "kth") for k in items]
    for k in ks:
        if size and not -n <= k < n:
            raise InvalidArgumentError(f"{op}: kth(={k}) out of bounds ({n})")
    return ks


def _partition_args(a: Any, kth: Any, axis: Any, kind: Any, order: Any, op: str) -> tuple[Tensor, int, Any]:
    x = _tensor(a, op)
    text(kind, op, "kind")
    if kind != "introselect":
        raise InvalidArgumentError(f"{op}: kind must be 'introselect', got {kind!r}")
    if order is not None:
        raise InvalidArgumentError(f"{op}: order is for arrays with fields, which tensors do not have")
    x, ax = _flat_or_axis(x, None if axis is None or x.ndim == 0 else axis, op)
    ks = _kth(kth, x.shape[ax], x.size, op)
    xp = x._backend.xp
    if xp is np:
        idx = np.argpartition(x._data, ks, axis=ax)
    else:  # a full stable sort is a partition too (CuPy's argpartition sorts as well, NaNs by their bits)
        idx = _stable_order(x._data, ax, False, xp)
    return x, ax, idx.astype(np.int64, copy=False)


def argpartition(a: Any, kth: Any, axis: int | None = -1, kind: str = "introselect", order: Any = None) -> Tensor:
    """NumPy's ``argpartition``: int64 indices that put the ``kth`` element(s) (an int or a sequence) where a
    sort would, smaller ones before, larger ones after (NaN last); ``axis=None`` flattens. The order within
    the two sides is unspecified, as NumPy's (on CuPy it is the full sort's)."""
    x, _, idx = _partition_args(a, kth, axis, kind, order, "argpartition")
    return _ints(idx, x._backend)


def partition(a: Any, kth: Any, axis: int | None = -1, kind: str = "introselect", order: Any = None) -> Tensor:
    """NumPy's ``partition``: ``a`` rearranged as :func:`argpartition` orders it. The gradient follows the
    elements (each value's goes back to where it came from), as ``sort``'s; of equal values, the one placed
    at a position gets its gradient (which one is placed where is unspecified, as NumPy's)."""
    x, ax, idx = _partition_args(a, kth, axis, kind, order, "partition")
    return _along(x, ax, idx, "partition")


def lexsort(keys: Any, axis: int = -1) -> Tensor:
    """NumPy's ``lexsort``: the int64 indices that sort by several keys (a sequence of equal-shaped arrays,
    or the rows of a 2-d one), the last key first, stably (NaN last). No host reads."""
    op = "lexsort"
    if _is_array(keys):
        k = _tensor(keys, op)
        ks = list(unbind(k, 0)) if k.ndim else []
    elif isinstance(keys, (list, tuple)):
        ks = _tensors(op, *keys) if keys else []
    else:
        raise ArgumentTypeError(f"{op}: keys must be a sequence of arrays, got {type(keys).__name__}")
    if not ks:
        raise ArgumentTypeError(f"{op}: needs a sequence of keys with len > 0")
    if len({t.shape for t in ks}) != 1:
        raise ShapeError(f"{op}: all keys need to be the same shape, got {[t.shape for t in ks]}")
    backend = ks[0]._backend
    xp = backend.xp
    if ks[0].ndim == 0:
        return _ints(xp.zeros((), dtype=np.int64), backend)
    ax = _axis_of(axis, ks[0].ndim, op)
    idx = None
    for t in ks:  # the first key is the least significant: each later stable sort keeps its order among ties
        data = t._data if idx is None else xp.take_along_axis(t._data, idx, axis=ax)
        step = _stable_order(data, ax, False, xp)
        idx = step if idx is None else xp.take_along_axis(idx, step, axis=ax)
    return _ints(idx, backend)


def compress(condition: Any, a: Any, axis: int | None = None, out: Any = None) -> Tensor:
    """NumPy's ``compress``: the slices of ``a`` along ``axis`` (flattened when None) where the 1-d
    ``condition`` is true (non-zero); a shorter condition leaves the rest out. The gradient goes back to the
    slices picked. The condition is read on the host (one device read on a GPU)."""
    op = "compress"
    no_out(out, op, f"gk.{op}")
    x, ax = _flat_or_axis(_tensor(a, op), axis, op)
    cond = _host_array(condition, op, "condition")
    if cond.ndim != 1:
        raise ShapeError(f"{op}: condition must be a 1-d array, got shape {cond.shape}")
    picked = np.flatnonzero(cond)
    if picked.size and picked[-1] >= x.shape[ax]:
        raise IndexOutOfRangeError(
            f"{op}: condition is true at {int(picked[-1])}, out of bounds for axis {ax} with size {x.shape[ax]}"
        )
    return _take(x, ax, x._backend.asarray(picked), op)


def extract(condition: Any, arr: Any) -> Tensor:
    """NumPy's ``extract``: the elements of the flattened ``arr`` where the flattened ``condition`` is true
    (non-zero). The gradient goes back to them. The condition is read on the host."""
    op = "extract"
    x = reshape(_tensor(arr, op), (-1,))
    picked = np.flatnonzero(_host_array(condition, op, "condition"))
    if picked.size and picked[-1] >= x.size:
        raise IndexOutOfRangeError(f"{op}: condition is true at {int(picked[-1])}, beyond arr's {x.size} elements")
    return _take(x, 0, x._backend.asarray(picked), op)


def choose(a: Any, choices: Any, out: Any = None, mode: str = "raise") -> Tensor:
    """NumPy's ``choose``: ``choices[a[i]][i]`` for each element (``a`` and the choices broadcast together).
    ``mode``: "raise" refuses an index outside the choices (InvalidArgumentError; on a GPU one device read,
    skipped while a CUDA graph is captured), "wrap" takes it modulo their number, "clip" clips it. The dtype
    is the choices' common one (Python numbers weak, as NumPy 2). Differentiable in the choices: each gets
    the gradient where it was picked."""
    op = "choose"
    no_out(out, op, f"gk.{op}")
    mode = _mode(mode, op)
    if _is_array(choices):
        stacked = _tensor(choices, op)
        items: list = list(unbind(stacked, 0)) if stacked.ndim else [stacked]
    elif isinstance(choices, (list, tuple)):
        items = list(choices)
    else:
        raise ArgumentTypeError(f"{op}: choices must be a sequence of arrays, got {type(choices).__name__}")
    if not items:
        raise InvalidArgumentError(f"{op}: choices is a 0-length sequence")
    ts = _tensors(op, a, *items)
    idx, cs = ts[0], ts[1:]
    if idx.dtype.kind not in "biu":
        raise DTypeError(f"{op}: a must be integers (which choice each element takes), got dtype {idx.dtype}")
    dtype = np.result_type(*(c if isinstance(c, SCALARS) else t.dtype for c, t in zip(items, cs, strict=True)))
    shape = _broadcast_shape(op, idx, *cs)
    backend = idx._backend
    xp = backend.xp
    n = len(cs)
    k = idx._data.astype(np.int64)
    if mode == "raise":
        if k.size and host_read_allowed(k):
            lo, hi = _min_max(k, backend)
            if lo < 0 or hi >= n:
                bad = lo if lo < 0 else hi
                raise InvalidArgumentError(f"{op}: invalid entry in choice array: {bad} (choices 0 to {n - 1})")
    elif mode == "wrap":
        k = k % n
    else:
        k = xp.clip(k, 0, n - 1)
    flat = (math.prod(shape),)  # picked as a 1-d array (a 0-d NumPy index would give a scalar), then reshaped
    picks = stack([reshape(broadcast_to(astype(c, dtype), shape), flat) for c in cs])
    k = xp.broadcast_to(k, shape).reshape(-1)
    return reshape(_gather(picks, (k, xp.arange(flat[0])), op), shape)


# ------------------------------------------------------------------ differences and trimming
def trim_zeros(filt: Any, trim: str = "fb", axis: Any = None) -> Tensor:
    """NumPy's ``trim_zeros``: ``filt`` without its leading (``"f"``) and/or trailing (``"b"``) zeros, along
    ``axis`` (NumPy 2.2's: an int or a tuple; None trims every axis to the box holding the non-zero values).
    A view: the slope is 1 at the elements kept and 0 at those trimmed (the zeros at the edges decide the
    shape, so there is no derivative across a value leaving 0). Where the box lies is read on the host (one
    device read on a GPU, refused while a CUDA graph is captured)."""
    op = "trim_zeros"
    x = _tensor(filt, op)
    text(trim, op, "trim")
    mode = trim.lower()
    if mode not in ("fb", "bf", "f", "b"):
        raise InvalidArgumentError(f"{op}: unexpected character(s) in trim: {trim!r} (use 'f', 'b' or 'fb')")
    axes = normalize_axes(axis, x.ndim, op)
    if not axes:
        return x
    _refuse_in_capture(x, op)
    xp = x._backend.xp
    found = x._data != 0
    if x.size == 0:
        box = np.zeros(2 * x.ndim + 1, dtype=np.int64)
    else:
        bounds = [found.any().astype(np.int64).reshape(1)]
        for d in range(x.ndim):
            others = tuple(e for e in range(x.ndim) if e != d)
            along = found.any(axis=others) if others else found
            bounds += [xp.argmax(along).reshape(1), (along.size - 1 - xp.argmax(along[::-1])).reshape(1)]
        box = _host(Tensor._make(xp.concatenate([b.astype(np.int64) for b in bounds]), x._backend), op).tolist()
    if not box[0]:  # all zero: an empty slice on the trimmed axes
        starts = stops = [0] * x.ndim
    else:
        starts = box[1::2] if "f" in mode else [None] * x.ndim
        stops = [s + 1 for s in box[2::2]] if "b" in mode else [None] * x.ndim
    return x[tuple(slice(starts[d], stops[d]) if d in axes else slice(None) for d in range(x.ndim))]


def ediff1d(ary: Any, to_end: Any = None, to_begin: Any = None) -> Tensor:
    """NumPy's ``ediff1d``: the differences of consecutive elements of the flattened ``ary``, in its dtype,
    with ``to_begin`` and ``to_end`` (flattened, cast to that dtype; they must cast under "same_kind")
    before and after. Differentiable in ary and in tensor to_begin/to_end."""
    op = "ediff1d"
    x = reshape(_tensor(ary, op), (-1,))
    if x.dtype == np.bool_:
        raise DTypeError(f"{op}: bool differences are not defined (NumPy refuses bool subtraction); convert ary first")
    edges: dict = {}
    for name, value in (("to_begin", to_begin), ("to_end", to_end)):
        edges[name] = []
        if value is not None:
            t = _tensors(op, x, value)[1]
            if not np.can_cast(t.dtype, x.dtype, casting="same_kind"):
                raise DTypeError(f"{op}: {name}'s dtype {t.dtype} must cast to ary's {x.dtype} under 'same_kind'")
            edges[name] = [astype(reshape(t, (-1,)), x.dtype)]
    parts = [*edges["to_begin"], x[1:] - x[:-1], *edges["to_end"]]
    return parts[0] if len(parts) == 1 else concatenate(parts)


def _number(value: Any, op: str, name: str) -> Any:
    v = scalar(value)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r:.40}")
    return v


def unwrap(p: Any, discont: Any = None, axis: int = -1, *, period: Any = 2 * math.pi) -> Tensor:
    """NumPy's ``unwrap``: ``p`` with each jump between neighbours along ``axis`` larger than ``discont``
    (default ``period / 2``) taken modulo ``period`` (NumPy's arithmetic, its dtypes: integer p and period
    stay integers). The corrections are piecewise constant, so the slope is 1 everywhere (also at a jump
    of exactly ``discont``, where the correction changes)."""
    op = "unwrap"
    x = _tensor(p, op)
    if x.ndim == 0:
        raise ShapeError(f"{op}: p must be at least 1-d (the differences need an axis), got a 0-d tensor")
    ax = _axis_of(axis, x.ndim, op)
    period = _number(period, op, "period")
    discont = period / 2 if discont is None else _number(discont, op, "discont")
    xp = x._backend.xp
    dd = xp.diff(x._data, axis=ax)
    dtype = np.result_type(dd.dtype, period)
    if dtype.kind in "iu":
        high, rem = divmod(period, 2)
        ambiguous = rem == 0
    else:
        high, ambiguous = period / 2, True
    low = -high
    try:
        ddmod = xp.mod(dd - low, period) + low
    except OverflowError as exc:  # unsigned p with an integer period: NumPy 2 refuses -period // 2 as well
        raise _IntegerOverflowError(
            f"{op}: {exc} (p of dtype {x.dtype} with the integer period {period!r}); convert p to a signed or "
            "float dtype first"
        ) from None
    if ambiguous:  # |dd| == period / 2: keep dd's sign
        xp.copyto(ddmod, high, where=(ddmod == low) & (dd > 0))
    correct = ddmod - dd
    xp.copyto(correct, 0, where=xp.abs(dd) < discont)
    shift = xp.zeros(x.shape, dtype=dtype)
    if dtype.kind == "f" and x.shape[ax]:  # the first slice is p as it is (NumPy copies it): -0.0 + -0.0 keeps its sign
        shift[(slice(None),) * ax + (0,)] = -0.0
    shift[(slice(None),) * ax + (slice(1, None),)] = xp.cumsum(correct, axis=ax)
    return astype(x, dtype) + Tensor._make(shift, x._backend)


# ------------------------------------------------------------------ splitting, joining and transposing
_SPLITS = {"hsplit": (1, None), "vsplit": (2, 0), "dsplit": (3, 2)}  # fewest dimensions, axis (hsplit: 1, or 0 in 1-d)


def _split_along(op: str, ary: Any, indices_or_sections: Any) -> list[Tensor]:
    x = _tensor(ary, op)
    least, ax = _SPLITS[op]
    if x.ndim < least:
        raise ShapeError(f"{op}: only works on arrays of {least} or more dimensions, got shape {x.shape}")
    if ax is None:
        ax = 1 if x.ndim > 1 else 0
    ios = indices_or_sections
    if isinstance(ios, (int, np.integer)) and not isinstance(ios, bool):
        if ios <= 0:
            raise InvalidArgumentError(f"{op}: the number of sections must be larger than 0, got {ios}")
        if x.shape[ax] % ios:
            raise ShapeError(f"{op}: axis {ax} of length {x.shape[ax]} does not split into {ios} equal sections")
    return split(x, ios, axis=ax)


def hsplit(ary: Any, indices_or_sections: Any) -> list[Tensor]:
    """NumPy's ``hsplit``: ``split`` along axis 1 (axis 0 for 1-d); a list of views."""
    return _split_along("hsplit", ary, indices_or_sections)


def vsplit(ary: Any, indices_or_sections: Any) -> list[Tensor]:
    """NumPy's ``vsplit``: ``split`` along axis 0 of an at least 2-d tensor; a list of views."""
    return _split_along("vsplit", ary, indices_or_sections)


def dsplit(ary: Any, indices_or_sections: Any) -> list[Tensor]:
    """NumPy's ``dsplit``: ``split`` along axis 2 of an at least 3-d tensor; a list of views."""
    return _split_along("dsplit", ary, indices_or_sections)


def unstack(x: Any, /, *, axis: int = 0) -> tuple[Tensor, ...]:
    """NumPy 2.1's ``unstack``: the slices of ``x`` along ``axis``, that axis removed (a tuple of views)."""
    op = "unstack"
    t = _tensor(x, op)
    if t.ndim == 0:
        raise ShapeError(f"{op}: the input must be at least 1-d, got a 0-d tensor")
    return unbind(t, _axis_of(axis, t.ndim, op))


def concat(arrays: Sequence[Any], /, axis: int | None = 0, out: Any = None, *, dtype: Any = None,
           casting: str = "same_kind") -> Tensor:  # fmt: skip
    """NumPy 2's ``concat`` (= ``concatenate``, with its ``axis=None``, ``dtype`` and ``casting``)."""
    op = "concat"
    no_out(out, op, f"gk.{op}")
    ts = _seq(arrays, op)
    if axis is None:
        ts, ax = [reshape(t, (-1,)) for t in ts], 0
    else:
        if ts[0].ndim == 0:
            raise ShapeError(f"{op}: zero-dimensional tensors cannot be concatenated; use stack")
        ax = _axis_of(axis, ts[0].ndim, op)
    return _join(ts, ax, op, dtype, casting)


def permute_dims(a: Any, axes: Sequence[int] | None = None) -> Tensor:
    """NumPy 2's ``permute_dims`` (= ``transpose``): the axes in the order ``axes`` (reversed when None); a view."""
    return transpose(_tensor(a, "permute_dims"), axes, op="permute_dims")


def matrix_transpose(x: Any, /) -> Tensor:
    """NumPy 2's ``matrix_transpose``: the last two axes exchanged (a view of an at least 2-d tensor)."""
    op = "matrix_transpose"
    t = _tensor(x, op)
    if t.ndim < 2:
        raise ShapeError(f"{op}: the input must be at least 2-d, got shape {t.shape}")
    order = list(range(t.ndim))
    order[-2:] = order[:-3:-1]
    return transpose(t, order, op=op)


def _block_leaves(item: Any, path: str, depth: int, leaves: list, op: str) -> None:
    """Collect ``block``'s leaves as (path, depth, value), checking NumPy's rules for the nesting."""
    if isinstance(item, tuple):
        raise ArgumentTypeError(
            f"{op}: {path} is a tuple; only lists can be used to arrange blocks (block does not convert tuples)"
        )
    if isinstance(item, list):
        if not item:
            raise InvalidArgumentError(f"{op}: the list at {path} cannot be empty")
        for i, sub in enumerate(item):
            _block_leaves(sub, f"{path}[{i}]", depth + 1, leaves, op)
        return
    if leaves and leaves[0][1] != depth:
        raise InvalidArgumentError(
            f"{op}: list depths are mismatched: the first element was at depth {leaves[0][1]}, but there is an "
            f"element at depth {depth} ({path})"
        )
    leaves.append((path, depth, item))


def block(arrays: Any) -> Tensor:
    """NumPy's ``block``: a tensor assembled from nested lists of blocks, the innermost lists joined along the
    last axis, the next ones along the axis before, ... (blocks as at least that many dimensions, with
    leading ones). Differentiable in every block."""
    op = "block"
    if not isinstance(arrays, (list, tuple)):
        return clone(_tensor(arrays, op))
    leaves: list = []
    _block_leaves(arrays, "arrays", 0, leaves, op)
    depth = leaves[0][1]
    blocks = _tensors(op, *(value for _, _, value in leaves))
    ndim = max(depth, *(t.ndim for t in blocks))
    it = iter(reshape(t, (1,) * (ndim - t.ndim) + t.shape) for t in blocks)

    def build(item: Any, level: int) -> Tensor:
        if level == depth:
            return next(it)
        return _join([build(sub, level + 1) for sub in item], ndim - depth + level, op)

    return build(arrays, 0)


def resize(a: Any, new_shape: Any) -> Tensor:
    """NumPy's ``resize``: a new tensor of ``new_shape`` (never a view of ``a``) filled with ``a``'s elements
    (flattened) repeated as often as needed (zeros when a is empty). The gradient sums over the copies."""
    op = "resize"
    x = _tensor(a, op)
    shape = _dims(new_shape, op, "new_shape")
    size = math.prod(shape)
    if x.size == 0 or size == 0:
        return Tensor._make(x._backend.xp.zeros(shape, dtype=x.dtype), x._backend)
    flat = reshape(x, (-1,))
    repeats = -(-size // x.size)
    # a new tensor, as NumPy's (a slice of a alone would be a view: writing into one would change the other)
    flat = tile(flat, repeats)[:size] if repeats > 1 else clone(flat[:size])
    return reshape(flat, shape)


# ------------------------------------------------------------------ writing in place
def _target(a: Any, op: str) -> Tensor:
    """The tensor (or array: a NumPy one stays the caller's, on the CPU) that an in-place function writes into."""
    if isinstance(a, Tensor):
        return a
    if isinstance(a, np.ndarray):
        from gradkit.backends import get_backend

        if a.dtype.kind not in "biuf":
            raise DTypeError(f"{op}: cannot write into an array of dtype {a.dtype}")
        return Tensor._make(a, get_backend("cpu"))
    if hasattr(a, "__cuda_array_interface__"):
        return as_tensor(a, op)
    raise ArgumentTypeError(f"{op}: writes into its first argument, so it must be a tensor or an array, got "
                            f"{type(a).__name__}")  # fmt: skip


def _flat_values(values: Any, t: Tensor, op: str) -> tuple[Any, Tensor]:
    """``values`` flattened and cast to ``t``'s dtype, on its device (a Python int must fit the dtype)."""
    check_int_fits(op, values, t.dtype)
    v = _tensors(op, t, values)[1]
    return v._data.reshape(-1).astype(t.dtype, copy=False), v


def _written(t: Tensor) -> None:
    t._version[0] += 1


def fill_diagonal(a: Any, val: Any, wrap: bool = False) -> None:
    """NumPy's ``fill_diagonal``, in place: ``val`` (repeated as needed, cast to a's dtype) written on the main
    diagonal of ``a`` (2-d, or all lengths equal); ``wrap`` restarts it below a tall matrix's square.
    Returns None, as NumPy. Refused for a tensor that requires grad (out of place: ``gk.where`` with
    ``gk.eye``)."""
    op = "fill_diagonal"
    t = _target(a, op)
    wrap = flag(wrap, op, "wrap")
    if t.ndim < 2:
        raise ShapeError(f"{op}: the array must be at least 2-d, got shape {t.shape}")
    if t.ndim > 2 and len(set(t.shape)) != 1:
        raise ShapeError(f"{op}: all dimensions of the input must be of equal length, got shape {t.shape}")
    vals, v = _flat_values(val, t, op)
    t._check_inplace(op, v)
    if t.ndim == 2:
        step = t.shape[1] + 1
        end = t.size if wrap else min(t.size, t.shape[1] * t.shape[1])
    else:
        step, end = 1 + sum(math.prod(t.shape[: i + 1]) for i in range(t.ndim - 1)), t.size
    flat = np.arange(0, end, step)
    if flat.size == 0 or vals.size == 0:
        return None
    xp = t._backend.xp
    where = tuple(t._backend.asarray(c) for c in np.unravel_index(flat, t.shape))
    t._data[where] = vals[xp.arange(flat.size) % vals.size]
    _written(t)
    return None


def _mask_of(mask: Any, t: Tensor, op: str) -> Any:
    m = _tensors(op, t, mask)[1]
    if m.size != t.size:
        raise ShapeError(f"{op}: mask and data must be the same size, got {m.size} and {t.size} elements")
    return (m._data != 0).reshape(t.shape)


def place(arr: Any, mask: Any, vals: Any) -> None:
    """NumPy's ``place``, in place: the elements of ``arr`` where ``mask`` (same size) is true get the values
    ``vals`` in turn (repeated as needed). Returns None. Refused for a tensor that requires grad. No host
    reads, except that empty ``vals`` with a true mask raises InvalidArgumentError (one device read on a GPU)."""
    op = "place"
    t = _target(arr, op)
    m = _mask_of(mask, t, op)
    vals, v = _flat_values(vals, t, op)
    t._check_inplace(op, v)
    xp = t._backend.xp
    if vals.size == 0:
        if m.size and host_read_allowed(m) and bool(m.any()):
            raise InvalidArgumentError(f"{op}: cannot insert from an empty array of values")
        return None
    if t.size:
        if xp is np:
            np.place(t._data, m, vals)  # NumPy's own loop: about 10x faster than the one below
        else:
            nth = xp.cumsum(m.reshape(-1), dtype=np.int64) - 1  # the values taken in turn by the true elements
            xp.copyto(t._data, vals[nth % vals.size].reshape(t.shape), where=m)
        _written(t)
    return None


def putmask(a: Any, /, mask: Any, values: Any) -> None:
    """NumPy's ``putmask``, in place: ``a.flat[n] = values[n % len(values)]`` where ``mask`` (same size) is
    true. Returns None. Refused for a tensor that requires grad (out of place: ``gk.where``). No host reads."""
    op = "putmask"
    t = _target(a, op)
    m = _mask_of(mask, t, op)
    vals, v = _flat_values(values, t, op)
    t._check_inplace(op, v)
    if vals.size == 0 or t.size == 0:
        return None
    xp = t._backend.xp
    if xp is np:
        np.putmask(t._data, m, vals)  # NumPy's own loop: several times faster than the one below
    else:
        xp.copyto(t._data, vals[xp.arange(t.size) % vals.size].reshape(t.shape), where=m)
    _written(t)
    return None


def put(a: Any, ind: Any, v: Any, mode: str = "raise") -> None:
    """NumPy's ``put``, in place: ``a.flat[ind] = v`` (v repeated as needed, cast to a's dtype). ``mode``:
    "raise" refuses an index outside ``[-size, size)`` (IndexOutOfRangeError; on a GPU one device read,
    skipped while a CUDA graph is captured), "wrap" wraps, "clip" clips. At a repeated index the last value
    wins on the CPU, any one on CuPy. Returns None. Refused for a tensor that requires grad (out of place:
    ``gk.put_along_axis``)."""
    op = "put"
    t = _target(a, op)
    mode = _mode(mode, op)
    it = _tensors(op, t, ind)[1]
    if it.size == 0 and not _is_array(ind):
        it = astype(it, np.int64)  # [] is no float index
    if it.dtype.kind not in "iu":
        raise DTypeError(f"{op}: ind must be integers, got dtype {it.dtype}")
    vals, vt = _flat_values(v, t, op)
    t._check_inplace(op, vt)
    backend = t._backend
    xp = backend.xp
    idx = int64_indices(it._data, op, "index").astype(np.int64).reshape(-1)
    if idx.size == 0 or vals.size == 0:
        return None
    n = t.size
    if n == 0:
        raise IndexOutOfRangeError(f"{op}: cannot replace elements of an empty array")
    if mode == "raise":
        if host_read_allowed(idx):
            lo, hi = _min_max(idx, backend)
            if lo < -n or hi >= n:
                raise IndexOutOfRangeError(f"{op}: index {hi if hi >= n else lo} is out of bounds for size {n}")
        idx = idx % n
    elif mode == "wrap":
        idx = idx % n
    else:
        idx = xp.clip(idx, 0, n - 1)
    vals = vals[xp.arange(idx.size) % vals.size]
    if t.ndim == 0:
        t._data[...] = vals[-1]
    else:
        t._data[tuple(_unravel(idx, t.shape, "C", xp))] = vals
    _written(t)
    return None


# ------------------------------------------------------------------ applying functions
def apply_along_axis(func1d: Callable[..., Any], axis: int, arr: Any, *args: Any, **kwargs: Any) -> Tensor:
    """NumPy's ``apply_along_axis``: ``func1d`` called on each 1-d slice of ``arr`` along ``axis`` (a loop of
    gradkit calls), the results (all of one shape, cast to the first one's dtype) put where the axis was.
    Differentiable through whatever ``func1d`` does with its tensor slices."""
    op = "apply_along_axis"
    x = _tensor(arr, op)
    ax = _axis_of(axis, x.ndim, op)
    moved = moveaxis(x, ax, -1)
    outer = moved.shape[:-1]
    if 0 in outer:
        raise InvalidArgumentError(f"{op}: cannot apply along axis {ax} when another axis has length 0 ({x.shape})")
    results = []
    for ind in np.ndindex(*outer):
        r = _tensors(op, x, func1d(moved[ind], *args, **kwargs))[1]
        if results and r.shape != results[0].shape:
            raise ShapeError(f"{op}: func1d returned shape {r.shape} for slice {ind}, but {results[0].shape} before")
        results.append(astype(r, results[0].dtype) if results else r)
    out = reshape(stack(results), outer + results[0].shape)
    dims = list(range(out.ndim))
    return transpose(out, dims[:ax] + dims[len(outer) :] + dims[ax : len(outer)], op=op)


def apply_over_axes(func: Callable[[Any, int], Any], a: Any, axes: Any) -> Tensor:
    """NumPy's ``apply_over_axes``: ``func(a, axis)`` for each axis in turn, each result fed to the next; a
    result with one dimension fewer gets it back (length 1) at that axis. Differentiable through ``func``."""
    op = "apply_over_axes"
    val = _tensor(a, op)
    n = val.ndim
    if isinstance(axes, (np.ndarray, Tensor)):
        axes = _host_array(axes, op, "axes").tolist()
    for axis in axes if isinstance(axes, (list, tuple)) else [axes]:
        axis = _int(axis, op, "axes")
        axis = axis + n if axis < 0 else axis
        res = _tensors(op, val, func(val, axis))[1]
        if res.ndim != val.ndim:
            res = expand_dims(res, axis)
            if res.ndim != val.ndim:
                raise ShapeError(f"{op}: func returned an array of the wrong number of dimensions for axis {axis}")
        val = res
    return val
