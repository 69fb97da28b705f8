"""The CPU backend: plain NumPy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.backends.base import Backend


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
        np.add.at(target, index, values)

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
