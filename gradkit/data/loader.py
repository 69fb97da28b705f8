"""Datasets and batching: ``TensorDataset`` and ``DataLoader``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gradkit._args import flag, whole
from gradkit.backends import NUMPY, get_backend
from gradkit.errors import ArgumentTypeError, GradkitError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor


class TensorDataset:
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
    directly, which is fast) or any object with ``__len__`` and
    ``__getitem__`` whose samples are tensors, arrays, numbers, or tuples /
    dicts of them (stacked into batches). Each pass yields what the dataset's
    samples are made of: for a TensorDataset a tuple ``(x_batch, y_batch)``.

    - ``shuffle``: a new order every epoch (every ``iter()``). The order of
      epoch ``e`` depends only on ``seed`` and ``e``, so a run resumed with
      ``set_epoch(e)`` sees the same batches. With ``seed=None`` a seed is
      drawn from gradkit's generator (``gk.manual_seed`` makes it repeatable).
    - ``drop_last``: leave out a last batch smaller than ``batch_size``.
    - ``device``: where batches are put (None: where the dataset's tensors are).

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
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = flag(shuffle, "DataLoader", "shuffle")
        self.drop_last = flag(drop_last, "DataLoader", "drop_last")
        if seed is None and self.shuffle:
            seed = int(NUMPY.rng.integers(2**63))
        self.seed = None if seed is None else int(seed)
        self.device = None if device is None else get_backend(device, "DataLoader").device
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
        if isinstance(self.dataset, TensorDataset):
            tensors = self.dataset.tensors
            index = {}  # the order, once on each device that holds a tensor
            if self.shuffle:
                for t in tensors:
                    if t.device not in index:
                        index[t.device] = t._backend.asarray(order)
            for start in range(0, stop, size):
                part = slice(start, start + size)
                yield tuple(self._rows(t, index[t.device][part] if self.shuffle else part) for t in tensors)
            return
        for start in range(0, stop, size):
            try:
                samples = [self.dataset[int(i)] for i in order[start : start + size]]
            except (IndexError, KeyError, TypeError) as exc:
                raise ArgumentTypeError(
                    f"DataLoader: the dataset ({type(self.dataset).__name__}) must give sample i for each index "
                    f"0 <= i < len(dataset); dataset[{int(order[start])}] failed ({type(exc).__name__}: {exc})"
                ) from None
            yield self._collate(samples)

    def _rows(self, t: Tensor, key: Any) -> Tensor:
        rows = t._data[key]
        if isinstance(key, slice):
            rows = rows.copy()  # a batch is the caller's to change, never a view into the dataset
        return self._place(Tensor._make(rows, t._backend))

    def _place(self, t: Tensor) -> Tensor:
        return t if self.device is None or t.device == self.device else t.to(self.device)

    def _collate(self, samples: Sequence[Any]) -> Any:
        first = samples[0]
        if isinstance(first, Tensor) and not all(isinstance(s, Tensor) for s in samples):
            raise ArgumentTypeError("DataLoader: the samples of a batch mix tensors with other values")
        if isinstance(first, Tensor):
            backend = first._backend
            shapes = {s.shape for s in samples}
            if len(shapes) > 1:
                raise ShapeError(f"DataLoader: the samples of a batch have different shapes {sorted(shapes)}")
            return self._place(Tensor._make(backend.xp.stack([s._data for s in samples]), backend))
        if isinstance(first, Mapping):
            keys = set(first)
            if any(set(s) != keys for s in samples):
                raise InvalidArgumentError("DataLoader: the dict samples of a batch do not all have the same keys")
            return {key: self._collate([s[key] for s in samples]) for key in first}
        if isinstance(first, (tuple, list)):
            if any(not isinstance(s, (tuple, list)) or len(s) != len(first) for s in samples):
                raise ShapeError("DataLoader: the samples of a batch are sequences of different lengths")
            return tuple(self._collate([s[k] for s in samples]) for k in range(len(first)))
        if any(isinstance(s, (Tensor, Mapping, tuple, list)) for s in samples):
            raise ArgumentTypeError("DataLoader: the samples of a batch mix tensors, dicts, sequences and numbers")
        from gradkit.creation import tensor

        try:
            if isinstance(first, np.ndarray):
                return self._place(tensor(np.stack(samples)))
            return self._place(tensor(list(samples)))
        except GradkitError as exc:
            raise type(exc)(f"DataLoader: a batch of samples cannot become a tensor ({exc})") from None
        except ValueError as exc:
            raise ShapeError(
                f"DataLoader: the samples of a batch cannot be stacked; every sample must have the same shape ({exc})"
            ) from None

    def __repr__(self) -> str:
        return (
            f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed}, device={self.device})"
        )
