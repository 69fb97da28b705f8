"""The CPU backend: plain NumPy arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit.backends.base import Backend

#: ``ufunc_at`` (``scatter_add``) of fewer values than this, not broadcast, keeps ``ufunc.at`` with the index
#: as given: the flat positions' few array operations would cost more than they save.
_FLAT_SCATTER_MIN = 256

#: ``ufunc_at`` at one integer array whose entries address rows of at least ``_ROWS_MIN_INNER`` elements (each
#: index picks a slice: ``x[i]`` of an (N, C) array a row of C, ``x[:, i]`` of a (B, N, C) array B rows of C), of
#: at least ``_ROWS_MIN_SIZE`` values in all, combines whole rows (:func:`rows_at`) rather than single elements at
#: flat positions. Measured with NumPy 1.26 and 2.4 on 2 cores: 2-4 times faster from 16 columns and 64k values
#: (a graph network's ``index_add``/``scatter_add`` of edge features into nodes, the gradient of ``x[i]``),
#: about even at 8 columns or 32k values, slower below.
_ROWS_MIN_INNER = 16
_ROWS_MIN_SIZE = 32768
_ROWS_UFUNCS = (np.add, np.multiply, np.maximum, np.minimum)


def _is_full_slice(item: Any) -> bool:
    return type(item) is slice and item == slice(None)


def _index_arrays(shape: tuple, index: Any) -> tuple[int, tuple] | None:
    """(a, arrays) for an index of ``a`` full slices, then integer arrays next to each other, then full
    slices (``x[i]``, ``x[i, j]``, ``x[:, i]``, gather's index arrays); None for any other index."""
    items = index if type(index) is tuple else (index,)
    a = 0
    while a < len(items) and _is_full_slice(items[a]):
        a += 1
    k = a
    while k < len(items) and type(items[k]) is np.ndarray and items[k].dtype.kind in "iu":
        k += 1
    if k == a or k > len(shape) or not all(_is_full_slice(item) for item in items[k:]):
        return None
    return a, items[a:k]


def _flat_positions(shape: tuple, a: int, arrays: tuple) -> np.ndarray | None:
    """The positions, in the flattened array, of the elements of ``x[(slice(None),) * a + arrays]`` in
    order; None for indices out of range (``np.add.at`` then raises its own error)."""
    k = a + len(arrays)
    block = shape[a:k]
    arrays = [i + n * (i < 0) if i.dtype.kind == "i" and i.size and i.min() < 0 else i
              for i, n in zip(arrays, block, strict=True)]
    try:
        linear = np.ravel_multi_index(arrays, block)
    except (ValueError, TypeError):  # out of range, or not broadcastable
        return None
    inner = math.prod(shape[k:])
    flat = linear[..., None] * inner + np.arange(inner) if inner != 1 else linear
    if a:
        starts = np.arange(math.prod(shape[:a])) * math.prod(shape[a:])
        flat = starts.reshape(shape[:a] + (1,) * flat.ndim) + flat
    return flat.reshape(-1)


def _stable_order(idx: np.ndarray, n: int) -> np.ndarray:
    """``np.argsort(idx, kind="stable")`` for int64 ``idx`` in ``[0, n)``: where the index and its position fit in
    an int64 together, an unstable sort of ``idx * 2**b + position`` (NumPy's SIMD sort, 5-8 times faster than
    its stable one), whose keys are all distinct, so the order is the stable one."""
    count = idx.shape[0]
    shift = max(count - 1, 1).bit_length()
    if max(n - 1, 1).bit_length() + shift > 62:
        return np.argsort(idx, kind="stable")
    key = idx << shift
    key |= np.arange(count, dtype=np.int64)
    key.sort()
    key &= (1 << shift) - 1
    return key


def rows_at(ufunc: np.ufunc, target: np.ndarray, idx: np.ndarray, values: np.ndarray, acc_dtype: Any = None) -> None:
    """``ufunc.at(target, (slice(None), idx), values)`` for a (A, N, C) ``target``, int64 ``idx`` of shape (E,)
    with every value in ``[0, N)`` and (A, E, C) ``values`` of a dtype that ``ufunc`` casts into the target's:
    row ``values[:, e]`` combined into row ``target[:, idx[e]]``, in the order of the entries, as ``ufunc.at``
    does: the same results, bit for bit, for ``np.add`` on floats too (the same additions in the same order),
    for rows of a few elements or more (for rows of one, NumPy's reduce sums the rows reached most often
    pairwise: a difference of rounding only).

    NumPy's ``ufunc.at`` of a slice per index runs its inner loop once per index, and at flat positions once
    per element; here the entries are sorted by row once (stably), and rows reached by at most ``D`` entries
    are combined in ``D`` passes, pass k combining each row's k-th entry into it, for all those rows at once;
    the rows reached more often than that get one ``ufunc.reduce`` each. ``D`` is chosen to make the fewest
    NumPy calls. ``acc_dtype``: the rows are combined in that dtype (float64 for float32 values: each row's
    sum as ``np.bincount`` sums it), then stored in the target's."""
    count = idx.shape[0]
    if count == 0:
        return
    two_d = target.shape[0] == 1  # NumPy 1.26 takes rows along axis 0 of a 2-d array faster than along axis 1
    if two_d:
        target, values = target[0], values[0]
    axis = 0 if two_d else 1
    values = np.ascontiguousarray(values)  # np.take copies a strided array whole, on every call
    order = _stable_order(idx, target.shape[axis])
    rows = idx[order]
    starts = np.flatnonzero(rows[1:] != rows[:-1])
    starts += 1
    starts = np.concatenate((np.zeros(1, dtype=starts.dtype), starts))
    counts = np.diff(starts, append=count)
    by = np.argsort(-counts, kind="stable")  # the rows reached most often first
    starts, counts = starts[by], counts[by]
    hit = rows[starts]
    # passes: D of them, then one reduction for each of the rows reached more than D times
    passes = np.arange(int(counts[0]) + 1)
    more = np.searchsorted(-counts, -passes, side="left")  # more[d]: how many rows are reached more than d times
    depth = int(np.argmin(passes + more))
    heavy = int(more[depth])
    acc = np.take(target, hit, axis=axis)
    if acc_dtype is not None and acc.dtype != acc_dtype:
        acc = acc.astype(acc_dtype)
    for k in range(depth):
        live = int(more[k])
        if live > heavy:
            part = acc[heavy:live] if two_d else acc[:, heavy:live]
            ufunc(part, np.take(values, order[starts[heavy:live] + k], axis=axis), out=part)
    for j in range(heavy):
        block = np.take(values, order[starts[j] : starts[j] + counts[j]], axis=axis)
        if block.dtype != acc.dtype:
            block = block.astype(acc.dtype)
        row = acc[j] if two_d else acc[:, j]
        first = block[0] if two_d else block[:, 0]
        ufunc(row, first, out=first)  # the row's value first, then its entries in order
        ufunc.reduce(block, axis=axis, dtype=acc.dtype, out=row)
    if two_d:
        target[hit] = acc
    else:
        target[:, hit] = acc


def _rows_case(ufunc: np.ufunc, target: np.ndarray, a: int, arrays: tuple, values: np.ndarray,
               shape: tuple) -> tuple | None:
    """(target, idx, values) as :func:`rows_at` takes them, where ``ufunc_at`` of these is for it (one integer
    array, rows long enough, indices in range; the caller checks the number of values); else None."""
    if len(arrays) != 1 or ufunc not in _ROWS_UFUNCS or values.dtype != target.dtype:
        return None
    if target.dtype.kind not in "iufc" or (target.dtype.kind == "c" and ufunc is np.multiply):
        return None  # complex products: NumPy's loop over whole rows rounds otherwise than ufunc.at's one at a time
    inner = math.prod(target.shape[a + 1 :])
    if inner < _ROWS_MIN_INNER:
        return None
    idx = arrays[0].reshape(-1)
    n = target.shape[a]
    low, high = int(idx.min()), int(idx.max())
    if low < -n or high >= n:  # NumPy's ufunc.at raises its own error
        return None
    idx = idx.astype(np.int64, copy=False)
    if low < 0:
        idx = idx + n * (idx < 0)
    lead = math.prod(target.shape[:a])
    if values.shape != shape:
        values = np.broadcast_to(values, shape)
    return target.reshape(lead, n, inner), idx, values.reshape(lead, idx.shape[0], inner)


def ufunc_at(ufunc: np.ufunc, target: np.ndarray, index: Any, values: Any) -> None:
    """``ufunc.at(target, index, values)`` (``np.add``, ``np.multiply``, ``np.maximum``, ...), the same results
    bit for bit, but through one flat 1-d index where ``index`` is full slices and integer arrays
    (:func:`_index_arrays`) on a C-contiguous target: NumPy's ufunc.at is several times faster so.

    NumPy's ufunc.at combines the elements in the same order either way (the same sums and products to the
    last bit). Values are broadcast here: NumPy 1.26 to 2.4 give wrong results for a 1-d target, a 2-d index
    and 1-d values (``np.add.at(zeros(3), [[0, 0, 2], [1, 2, 2], [1, 2, 1]], [1., 2., 3.])`` reads memory it
    should not)."""
    simple = _index_arrays(target.shape, index) if target.flags.c_contiguous else None
    if simple is None:
        ufunc.at(target, index, values)
        return
    a, arrays = simple
    try:
        found = arrays[0].shape if len(arrays) == 1 else np.broadcast_shapes(*(i.shape for i in arrays))
    except ValueError:
        found = None
    values = np.asarray(values)
    shape = None if found is None else target.shape[:a] + found + target.shape[a + len(arrays):]
    flat = None
    if shape is not None and math.prod(shape) >= _ROWS_MIN_SIZE:
        rows = _rows_case(ufunc, target, a, arrays, values, shape)
        if rows is not None:
            rows_at(ufunc, *rows)
            return
    if shape is not None and (values.shape != shape or values.size >= _FLAT_SCATTER_MIN):
        flat = _flat_positions(target.shape, a, arrays)
    if flat is None:
        ufunc.at(target, index, values)
        return
    if values.shape != shape:
        values = np.broadcast_to(values, shape)
    ufunc.at(target.reshape(-1), flat, values.reshape(-1))


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"
    xp = np
    array_type = np.ndarray

    def __init__(self) -> None:
        self.rng = np.random.default_rng()

    def asarray(self, data: Any, dtype: np.dtype | None = None) -> np.ndarray:
        if hasattr(data, "__cuda_array_interface__") and hasattr(data, "get"):
            data = data.get()  # a CuPy array sent to the host explicitly
        return np.asarray(data, dtype=dtype)

    def to_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def scatter_add(self, target: np.ndarray, index: Any, values: np.ndarray) -> None:
        ufunc_at(np.add, target, index, values)

    def seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def uniform(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        if dtype in (np.float32, np.float64):
            return self.rng.random(shape, dtype=dtype)
        # float16: a float64 draw just below 1 rounds up to 1.0; keep [0, 1) as for the other dtypes
        one = np.dtype(dtype).type(1)
        below_one = float(np.nextafter(one, one - one))  # a Python float: CuPy takes no NumPy arrays
        return np.minimum(self.rng.random(shape).astype(dtype), below_one)

    def normal(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        if dtype in (np.float32, np.float64):
            return self.rng.standard_normal(shape, dtype=dtype)
        return self.rng.standard_normal(shape).astype(dtype)

    def integers(self, low: int, high: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return self.rng.integers(low, high, size=shape, dtype=dtype)

    def permutation(self, n: int) -> np.ndarray:
        return self.rng.permutation(n).astype(np.int64)


class HostDraws:
    """:class:`NumpyBackend`'s draws (``uniform``, ``normal``, ``integers``, ``permutation``) from another NumPy
    Generator, ``rng``: what ``generator=`` (a ``gk.Generator``) draws from. The same code as the backend's, so a
    generator in the state that ``gk.manual_seed(s)`` gives gradkit's CPU generator draws the same numbers."""

    __slots__ = ("rng",)

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    uniform = NumpyBackend.uniform
    normal = NumpyBackend.normal
    integers = NumpyBackend.integers
    permutation = NumpyBackend.permutation
