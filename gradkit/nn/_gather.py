"""``take`` and ``put``: a gather and its transpose (a scatter-add) at integer index arrays known to be in range.

``ops.getitem`` checks an index array's bounds, which reads a device array back to the host; the samplers,
losses and bags of ``grid_sample``, ``ctc_loss`` and ``embedding_bag`` compute (or clamp) their indices
themselves, so these two skip the check: no host read on a GPU. Each is one recorded node whose VJP is the
other, so gradients of every order work.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit.autograd.function import record
from gradkit.backends.numpy_backend import _ROWS_MIN_INNER, _ROWS_MIN_SIZE, rows_at
from gradkit.tensor import Tensor

__all__ = ["put", "take"]


def take(x: Tensor, idx: tuple) -> Tensor:
    """``x[idx]`` for a tuple of integer index arrays (broadcasting together, every value in range)."""
    data = x._data
    if len(idx) == 1 and type(data) is np.ndarray and type(idx[0]) is np.ndarray and idx[0].dtype.kind in "iu":
        out = np.take(data, idx[0], axis=0)  # NumPy's take of rows: several times faster than data[i]
    else:
        out = data[idx]
    return record("take", out, x._backend, (x,), (_take_vjp,), (x.shape, idx))


def _take_vjp(g: Tensor, shape: tuple, idx: tuple) -> Tensor:
    return put(g, shape, idx)


def put(values: Tensor, shape: tuple, idx: tuple) -> Tensor:
    """Zeros of ``shape`` with ``values`` added at ``idx`` (repeated indices accumulate)."""
    backend = values._backend
    data = _bincount_put(values._data, shape, idx) if backend.xp is np else None
    if data is None:
        data = backend.xp.zeros(shape, dtype=values.dtype)
        backend.scatter_add(data, idx, values._data)
    return record("put", data, backend, (values,), (_put_vjp,), (idx,))


def _bincount_put(values: Any, shape: tuple, idx: tuple) -> Any:
    """``put`` on the CPU through ``np.bincount`` (sums in float64, in the order of the entries: np.add.at's
    order, several times faster than it), or, for rows of 16 values or more, ``rows_at`` summing in float64
    (the same sums); None where neither applies (not real floats, not a tuple of integer arrays)."""
    if values.dtype.kind != "f" or values.dtype.itemsize > 8 or not 0 < len(idx) <= len(shape):
        return None
    if not all(type(i) is np.ndarray and i.dtype.kind in "iu" for i in idx):
        return None
    k = len(idx)
    lead, trail = shape[:k], math.prod(shape[k:])
    index = np.broadcast_arrays(*idx)
    values = np.broadcast_to(values, index[0].shape + tuple(shape[k:]))
    if values.size == 0 or math.prod(shape) == 0:
        return np.zeros(shape, dtype=values.dtype)
    flat = np.ravel_multi_index(tuple(index), lead, mode="wrap").reshape(-1)  # wrap: -1 is the last, as x[idx]
    cells = math.prod(lead)
    if trail >= _ROWS_MIN_INNER and values.size >= _ROWS_MIN_SIZE:
        # rows of many columns (an embedding's or a bag's gradient): whole rows summed in float64 in the order of
        # the entries (rows_at), the same sums as bincount's, about twice as fast (NumPy 1.26 and 2.4, 2 cores)
        out = np.zeros(shape, dtype=values.dtype)
        rows_at(np.add, out.reshape(1, cells, trail), flat.astype(np.int64, copy=False),
                values.reshape(1, flat.shape[0], trail), acc_dtype=np.float64)
        return out
    rows = None
    if cells > 4 * flat.shape[0]:
        # few entries into many cells (an embedding table's gradient): sum over the cells hit only, then place
        # those rows in the zeros; the same sums in the same order, without a float64 array of every cell
        rows, flat = np.unique(flat, return_inverse=True)
        flat = flat.reshape(-1)
    hit = cells if rows is None else rows.shape[0]
    if trail <= 16:  # a few columns (grid_sample's channels): one bincount each
        columns = values.reshape(flat.shape[0], trail)
        sums = np.empty((hit, trail), dtype=values.dtype)
        for j in range(trail):
            sums[:, j] = np.bincount(flat, weights=columns[:, j], minlength=hit)
    else:
        flat = (flat[:, None] * trail + np.arange(trail, dtype=flat.dtype)).reshape(-1)
        sums = np.bincount(flat, weights=values.reshape(-1), minlength=hit * trail)
        sums = sums.astype(values.dtype, copy=False).reshape(hit, trail)
    if rows is None:
        return sums.reshape(shape)
    out = np.zeros((cells, trail), dtype=values.dtype)
    out[rows] = sums
    return out.reshape(shape)


def _put_vjp(g: Tensor, idx: tuple) -> Tensor:
    return take(g, idx)
