"""The interface every backend offers the engine: everything array-specific."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np


class Backend:
    """One device's array library.

    ``xp`` is the array module (``numpy`` or ``cupy``): the ops call it
    directly for elementwise maths. What is not the same across modules
    (host transfer, random numbers, scatter-add, synchronisation) goes
    through the methods below.
    """

    name: str = ""
    device: str = ""
    xp: Any = None
    array_type: type = np.ndarray

    # One backend object per device: copies of tensors (and of modules) must stay on it.
    def __copy__(self) -> Backend:
        return self

    def __deepcopy__(self, memo: dict) -> Backend:
        return self

    @cached_property
    def device_object(self) -> Any:
        """``device`` as a ``gk.device`` (``Tensor.device``), made once per backend: read on hot paths."""
        from gradkit.backends.devices import device_object

        return device_object(self.device)

    def __reduce__(self) -> tuple:
        # Unpickled, a tensor (or a module) is on this process's backend object for its device.
        from gradkit.backends import get_backend

        return (get_backend, (self.device,))

    def asarray(self, data: Any, dtype: np.dtype | None = None) -> Any:
        """``data`` as an array of this backend, without a copy where possible."""
        raise NotImplementedError

    def to_numpy(self, array: Any) -> np.ndarray:
        """A NumPy array on the host holding ``array``'s values."""
        raise NotImplementedError

    def transfer(self, array: Any, source: Backend) -> Any:
        """``array``, an array of backend ``source``, on this backend (a copy unless ``source`` is this one)."""
        if source is self:
            return array
        return self.asarray(source.to_numpy(array))

    def matmul(self, a: Any, b: Any) -> Any:
        """``a @ b`` for two arrays of this backend (NumPy's matmul rules); ``ops.matmul`` calls this."""
        return self.xp.matmul(a, b)

    def scatter_add(self, target: Any, index: Any, values: Any) -> None:
        """``target[index] += values`` with repeated indices accumulated (in place)."""
        raise NotImplementedError

    def synchronize(self) -> None:
        """Wait until queued device work has finished."""

    def seed(self, seed: int) -> None:
        """Reseed this backend's random generator."""
        raise NotImplementedError

    def uniform(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        """Samples from U[0, 1)."""
        raise NotImplementedError

    def normal(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        """Samples from N(0, 1)."""
        raise NotImplementedError

    def integers(self, low: int, high: int, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        """Integers drawn uniformly from [low, high)."""
        raise NotImplementedError

    def permutation(self, n: int) -> Any:
        """A random permutation of range(n) as an int64 array."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} device={self.device!r}>"
