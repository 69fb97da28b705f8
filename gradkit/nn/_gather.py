"""``take`` and ``put``: a gather and its transpose (a scatter-add) at integer index arrays known to be in range.

``ops.getitem`` checks an index array's bounds, which reads a device array back to the host; the samplers,
losses and bags of ``grid_sample``, ``ctc_loss`` and ``embedding_bag`` compute (or clamp) their indices
themselves, so these two skip the check: no host read on a GPU. Each is one recorded node whose VJP is the
other, so gradients of every order work.
"""

from __future__ import annotations

from typing import Any

from gradkit.autograd.function import record
from gradkit.tensor import Tensor

__all__ = ["put", "take"]


def take(x: Tensor, idx: tuple) -> Tensor:
    """``x[idx]`` for a tuple of integer index arrays (broadcasting together, every value in range)."""
    return record("take", x._data[idx], x._backend, (x,), (_take_vjp,), (x.shape, idx))


def _take_vjp(g: Tensor, shape: tuple, idx: tuple) -> Tensor:
    return put(g, shape, idx)


def put(values: Tensor, shape: tuple, idx: tuple) -> Tensor:
    """Zeros of ``shape`` with ``values`` added at ``idx`` (repeated indices accumulate)."""
    backend = values._backend
    data: Any = backend.xp.zeros(shape, dtype=values.dtype)
    backend.scatter_add(data, idx, values._data)
    return record("put", data, backend, (values,), (_put_vjp,), (idx,))


def _put_vjp(g: Tensor, idx: tuple) -> Tensor:
    return take(g, idx)
