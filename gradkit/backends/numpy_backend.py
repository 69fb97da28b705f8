"""The CPU backend: plain NumPy arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit.backends.base import Backend

#: ``ufunc_at`` (``scatter_add``) of fewer values than this, not broadcast, keeps ``ufunc.at`` with the index
#: as given: the flat positions' few array operations would cost more than they save.
_FLAT_SCATTER_MIN = 256


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
