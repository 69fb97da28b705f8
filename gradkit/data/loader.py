"""Datasets and batching: ``TensorDataset`` and ``DataLoader``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gradkit._args import flag, whole
from gradkit.backends import NUMPY, get_backend
from gradkit.data.collate import collate
from gradkit.data.dataset import Dataset, Subset
from gradkit.errors import ArgumentTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor


class TensorDataset(Dataset):
    """Samples made of the rows of tensors of the same length: ``dataset[i] -> (x[i], y[i])``.

    Arrays and nested lists are turned into tensors with ``gk.tensor``.
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise InvalidArgumentError("TensorDataset: expected at least one tensor, got none")
        from gradkit.creation import tensor

        self.tensors = tuple(t if isinstance(t, Tensor) else tensor(t) for t in tensors)
        for i, t in enumerate(self.tensors):
            if t.ndim == 0:
                raise ShapeError(f"TensorDataset: tensor {i} is 0-d; each tensor needs a first (sample) axis")
        lengths = [t.shape[0] for t in self.tensors]
        if len(set(lengths)) > 1:
            raise ShapeError(f"TensorDataset: the tensors have different lengths {lengths}; they must be equal")

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __repr__(self) -> str:
        parts = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in self.tensors)
        return f"TensorDataset({len(self)} samples: {parts}, device={self.tensors[0].device})"


class DataLoader:
    """Iterate over a dataset in batches.

    ``dataset`` is a :class:`TensorDataset` (batched by indexing its tensors
    directly, which is fast; so is a :class:`Subset` of one) or any object with
    ``__len__`` and ``__getitem__`` (a :class:`Dataset`, say), whose samples are
    batched by ``collate_fn``: by default :func:`default_collate`, which stacks
    tensors, arrays and numbers, and tuples / dicts of them. Each pass yields
    what the dataset's samples are made of: for a TensorDataset a tuple
    ``(x_batch, y_batch)``.

    - ``shuffle``: a new order every epoch (every ``iter()``). The order of
      epoch ``e`` depends only on ``seed`` and ``e``, so a run resumed with
      ``set_epoch(e)`` sees the same batches. With ``seed=None`` a seed is
      drawn from gradkit's generator (``gk.manual_seed`` makes it repeatable).
    - ``drop_last``: leave out a last batch smaller than ``batch_size``.
    - ``device``: where batches are put (None: where the dataset's tensors are).
      The tensors in what a ``collate_fn`` returns (inside tuples, lists and
      dicts) are moved there too.
    - ``collate_fn``: called with the list of a batch's samples; what it
      returns is the batch.
    - ``num_workers`` and ``pin_memory`` are accepted at PyTorch's defaults
      (0, False) so that PyTorch code runs: batches are made in the calling
      process, and nothing is staged in pinned memory (pass ``device`` to get
      batches on the GPU). Other values are refused.

    Batches never require grad.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        device: Any = None,
        *,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ArgumentTypeError(f"DataLoader: batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise InvalidArgumentError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise InvalidArgumentError(f"DataLoader: seed must be None or a non-negative int, got {seed!r}")
        try:
            len(dataset)
            sized = hasattr(dataset, "__getitem__")
        except TypeError:  # a 0-d array has __len__ but no length
            sized = False
        if not sized:
            raise ArgumentTypeError(
                f"DataLoader: the dataset must have __len__ and __getitem__, got {type(dataset).__name__}"
            )
        if collate_fn is not None and not callable(collate_fn):
            raise ArgumentTypeError(
                f"DataLoader: collate_fn must be None or a callable, got {type(collate_fn).__name__}"
            )
        if whole(num_workers, "DataLoader", "num_workers", low=0) != 0:
            raise InvalidArgumentError(
                f"DataLoader: num_workers={num_workers} is not supported; gradkit makes batches in the calling "
                "process (a TensorDataset's in one indexing per tensor). Pass num_workers=0 or leave it out"
            )
        if flag(pin_memory, "DataLoader", "pin_memory"):
            raise InvalidArgumentError(
                "DataLoader: pin_memory=True is not supported; gradkit does not stage batches in pinned memory. "
                "Pass device='cuda' to get batches on the GPU, and pin_memory=False or leave it out"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = flag(shuffle, "DataLoader", "shuffle")
        self.drop_last = flag(drop_last, "DataLoader", "drop_last")
        if seed is None and self.shuffle:
            seed = int(NUMPY.rng.integers(2**63))
        self.seed = None if seed is None else int(seed)
        self.device = None if device is None else get_backend(device, "DataLoader").device
        self.collate_fn = collate_fn
        self.num_workers = 0
        self.pin_memory = False
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` produce epoch ``epoch``'s order (to resume a run)."""
        self.epoch = whole(epoch, "DataLoader.set_epoch", "epoch", low=0)

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of epoch ``epoch``, in the order they are served."""
        epoch = whole(epoch, "DataLoader.order", "epoch", low=0)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def __iter__(self) -> Iterator[Any]:
        order = self.order(self.epoch)
        self.epoch += 1
        return self._batches(order)

    def _batches(self, order: np.ndarray) -> Iterator[Any]:
        n, size = len(order), self.batch_size
        stop = n - n % size if self.drop_last else n
        rows = _tensor_rows(self.dataset) if self.collate_fn is None else None
        if rows is not None:
            tensors, base = rows[0].tensors, rows[1]
            fancy = self.shuffle or base is not None  # else batches are slices of the tensors
            if base is not None:
                order = base[order]
            index = {}  # the order, once on each device that holds a tensor
            if fancy:
                for t in tensors:
                    if t.device not in index:
                        index[t.device] = t._backend.asarray(order)
            for start in range(0, stop, size):
                part = slice(start, start + size)
                yield tuple(self._rows(t, index[t.device][part] if fancy else part) for t in tensors)
            return
        for start in range(0, stop, size):
            try:
                samples = [self.dataset[int(i)] for i in order[start : start + size]]
            except (IndexError, KeyError, TypeError) as exc:
                raise ArgumentTypeError(
                    f"DataLoader: the dataset ({type(self.dataset).__name__}) must give sample i for each index "
                    f"0 <= i < len(dataset); dataset[{int(order[start])}] failed ({type(exc).__name__}: {exc})"
                ) from None
            if self.collate_fn is None:
                yield collate(samples, self.device, "DataLoader")
            else:
                yield self._place_all(self.collate_fn(samples))

    def _rows(self, t: Tensor, key: Any) -> Tensor:
        rows = t._data[key]
        if isinstance(key, slice):
            rows = rows.copy()  # a batch is the caller's to change, never a view into the dataset
        return self._place(Tensor._make(rows, t._backend))

    def _place(self, t: Tensor) -> Tensor:
        return t if self.device is None or t.device == self.device else t.to(self.device)

    def _place_all(self, batch: Any) -> Any:
        """A collate_fn's batch with its tensors (in tuples, lists and dicts) on the loader's device."""
        if self.device is None:
            return batch
        if isinstance(batch, Tensor):
            return self._place(batch)
        if isinstance(batch, tuple) and hasattr(batch, "_fields"):
            return type(batch)(*(self._place_all(b) for b in batch))
        if type(batch) in (tuple, list):
            return type(batch)(self._place_all(b) for b in batch)
        if type(batch) is dict:
            return {k: self._place_all(v) for k, v in batch.items()}
        return batch

    def __repr__(self) -> str:
        return (
            f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed}, device={self.device})"
        )


def _tensor_rows(dataset: Any) -> tuple[TensorDataset, np.ndarray | None] | None:
    """``(tensor_dataset, indices)`` when ``dataset`` is a TensorDataset (indices None) or a Subset of one,
    possibly nested (indices into its tensors): then batches are gathered by indexing the tensors."""
    index = None
    while type(dataset).__getitem__ is Subset.__getitem__:
        inner = np.asarray(dataset.indices)
        if inner.size and inner.dtype.kind not in "iu":  # Subset checks them, but .indices may be replaced later
            raise ArgumentTypeError(f"DataLoader: a Subset's indices must be integers, got dtype {inner.dtype}")
        inner = inner.astype(np.int64, copy=False)
        index = inner if index is None else inner[index]
        dataset = dataset.dataset
    if type(dataset).__getitem__ is not TensorDataset.__getitem__:
        return None
    if index is not None and index.size:
        n = len(dataset)
        lo, hi = int(index.min()), int(index.max())
        if lo < -n or hi >= n:
            raise IndexOutOfRangeError(
                f"DataLoader: the Subset's index {lo if lo < -n else hi} is out of range for its "
                f"TensorDataset of {n} samples"
            )
        index = index % n
    return dataset, index
