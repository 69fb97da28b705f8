"""Datasets as in ``torch.utils.data``: map-style ``Dataset``, ``Subset``, ``ConcatDataset``, ``StackDataset``,
``random_split``, and iterable-style ``IterableDataset``, ``ChainDataset``."""

from __future__ import annotations

import bisect
import math
import warnings
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from gradkit._args import scalar, whole
from gradkit.backends import NUMPY
from gradkit.errors import ArgumentTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__(i)`` and ``__len__()``.

    ``a + b`` is ``ConcatDataset([a, b])``. A DataLoader takes any object with
    ``__len__`` and ``__getitem__``; deriving from this class is optional.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__()")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__()")

    def __add__(self, other: Any) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset, Iterable):
    """Base class of iterable-style datasets (streams): subclasses define ``__iter__()``, which yields the samples.

    ``a + b`` is ``ChainDataset([a, b])``. ``__len__`` is optional: without it ``len()``
    raises TypeError. In a DataLoader with ``num_workers=n > 0`` each worker thread iterates its
    own shallow copy (``copy.copy``), calling ``iter()`` itself, where :func:`get_worker_info` tells
    its ``id``, ``num_workers`` and that copy as ``dataset`` (to yield only its share).
    """

    @abstractmethod
    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} does not define __iter__()")

    def __len__(self) -> int:
        # a TypeError, as for an object without __len__: list(dataset) and tqdm then do without a length
        raise ArgumentTypeError(f"{type(self).__name__} has no len(): it does not define __len__()")

    def __add__(self, other: Any) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Iterable datasets one after another: iterating it iterates each in turn.

    ``len`` is the sum of theirs (a TypeError when one has no ``__len__``).
    """

    def __init__(self, datasets: Iterable[IterableDataset]) -> None:
        if isinstance(datasets, (str, bytes, IterableDataset)) or not isinstance(datasets, Iterable):
            raise ArgumentTypeError(
                f"ChainDataset: datasets must be a list of IterableDatasets, got {type(datasets).__name__}"
            )
        self.datasets = list(datasets)
        for i, d in enumerate(self.datasets):
            if not isinstance(d, IterableDataset):
                raise ArgumentTypeError(
                    f"ChainDataset: dataset {i} ({type(d).__name__}) is not an IterableDataset; ChainDataset "
                    "chains iterable datasets (ConcatDataset joins map-style ones)"
                )

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            yield from d

    def __len__(self) -> int:
        total = 0
        for i, d in enumerate(self.datasets):
            try:
                total += len(d)
            except TypeError:
                raise ArgumentTypeError(
                    f"ChainDataset: len() needs the length of every dataset, and dataset {i} "
                    f"({type(d).__name__}) has no __len__"
                ) from None
        return total

    def __repr__(self) -> str:
        return f"ChainDataset({len(self.datasets)} datasets)"


def _length(dataset: Any, op: str, what: str = "the dataset") -> int:
    """``len(dataset)``, for a map-style dataset (with ``__getitem__``); an ArgumentTypeError otherwise."""
    if isinstance(dataset, IterableDataset):
        raise ArgumentTypeError(
            f"{op}: {what} is an IterableDataset ({type(dataset).__name__}); {op} takes map-style datasets "
            "(with __len__ and __getitem__)"
        )
    try:
        n = len(dataset) if hasattr(dataset, "__getitem__") else None
    except TypeError:  # a 0-d array has __len__ but no length
        n = None
    if n is None:
        raise ArgumentTypeError(f"{op}: {what} must have __len__ and __getitem__, got {type(dataset).__name__}")
    return n


def _index_array(indices: Any, op: str) -> np.ndarray:
    """``indices`` (a sequence of ints, a 1-d integer array or tensor) as a 1-d int64 NumPy array."""
    if isinstance(indices, Tensor):
        indices = indices.numpy()
    elif hasattr(indices, "__cuda_array_interface__") and hasattr(indices, "get"):
        indices = indices.get()
    if isinstance(indices, (str, bytes)) or not hasattr(indices, "__len__"):
        raise ArgumentTypeError(
            f"{op}: indices must be a sequence of ints, got {type(indices).__name__} {indices!r:.40}"
        )
    if isinstance(indices, (list, tuple)):
        bad = [i for i in indices if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer))]
        if bad:
            raise ArgumentTypeError(f"{op}: indices must be ints; one is {type(bad[0]).__name__} {bad[0]!r:.40}")
    array = np.asarray(indices)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ArgumentTypeError(
            f"{op}: indices must be a 1-d sequence of ints, got shape {array.shape} and dtype {array.dtype}"
        )
    return array.astype(np.int64, copy=False)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``: ``subset[i] is dataset[indices[i]]``.

    ``indices`` is a sequence of ints (or a 1-d integer array or tensor); when
    ``dataset`` has a length they must lie in ``[-len(dataset), len(dataset))``,
    and negative ones are stored as ``len(dataset) + i``.
    A DataLoader over a Subset of a TensorDataset (or of such a Subset) gathers
    whole batches by indexing the tensors, as it does for the TensorDataset.
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        if not hasattr(dataset, "__getitem__"):
            raise ArgumentTypeError(f"Subset: the dataset must have __getitem__, got {type(dataset).__name__}")
        array = _index_array(indices, "Subset")
        try:
            n = len(dataset)
        except (TypeError, NotImplementedError):
            n = None
        if n is not None and array.size:
            lo, hi = int(array.min()), int(array.max())
            if lo < -n or hi >= n:
                raise IndexOutOfRangeError(
                    f"Subset: index {lo if lo < -n else hi} is out of range for a dataset of {n} samples "
                    f"(indices must lie in [{-n}, {n}))"
                )
            array = array % n  # negative indices count from the end, for datasets that do not take them
        self.dataset = dataset
        self.indices = array.tolist()

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices: list) -> list:
        """The samples at ``indices`` (the DataLoader's batched read, as PyTorch's): through the dataset's own
        ``__getitems__`` where it has one, else one ``dataset[...]`` each."""
        picked = [self.indices[i] for i in indices]
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems(picked)
        return [self.dataset[i] for i in picked]

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {type(self.dataset).__name__})"


class ConcatDataset(Dataset):
    """The datasets one after another: ``len`` is the sum of theirs, and index ``i`` past the first
    dataset's samples falls in the next one. ``cumulative_sizes`` lists the running totals."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        if isinstance(datasets, (str, bytes)) or not isinstance(datasets, Iterable):
            raise ArgumentTypeError(
                f"ConcatDataset: datasets must be an iterable of datasets, got {type(datasets).__name__}"
            )
        self.datasets = list(datasets)
        if not self.datasets:
            raise InvalidArgumentError("ConcatDataset: datasets is empty; expected at least one dataset")
        self.cumulative_sizes: list[int] = []
        total = 0
        for i, d in enumerate(self.datasets):
            total += _length(d, "ConcatDataset", f"dataset {i}")
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: Any) -> Any:
        n = len(self)
        value = scalar(index)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ArgumentTypeError(
                f"ConcatDataset: the index must be an int, got {type(index).__name__} {index!r:.40}"
            )
        i = int(value)
        if not -n <= i < n:
            raise IndexOutOfRangeError(f"ConcatDataset: index {i} is out of range for {n} samples")
        if i < 0:
            i += n
        which = bisect.bisect_right(self.cumulative_sizes, i)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][i - start]

    def __repr__(self) -> str:
        return f"ConcatDataset({len(self)} samples in {len(self.datasets)} datasets)"


class StackDataset(Dataset):
    """Datasets of one length side by side: sample ``i`` gathers sample ``i`` of each (PyTorch's ``StackDataset``).

    ``StackDataset(a, b)`` gives tuples ``(a[i], b[i])``; ``StackDataset(image=a, label=b)`` gives dicts
    ``{"image": a[i], "label": b[i]}`` (which ``default_collate`` batches key by key). Positional and keyword
    datasets cannot be mixed; every dataset needs ``__len__`` and ``__getitem__`` and the same length.
    ``datasets`` is the tuple or dict of them. ``__getitems__(indices)`` gives a list of samples, through
    a dataset's own ``__getitems__`` where it has one (as PyTorch's; the DataLoader reads a batch with it).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise InvalidArgumentError(
                "StackDataset: pass the datasets positionally (tuple samples) or by keyword (dict samples), not both"
            )
        if not args and not kwargs:
            raise InvalidArgumentError("StackDataset: expected at least one dataset, got none")
        named = [(f"dataset {i}", d) for i, d in enumerate(args)] or [(f"dataset {k!r}", d) for k, d in kwargs.items()]
        lengths = [(what, _length(d, "StackDataset", what)) for what, d in named]
        if len({n for _, n in lengths}) > 1:
            sizes = ", ".join(f"{what}: {n}" for what, n in lengths)
            raise ShapeError(f"StackDataset: the datasets have different lengths ({sizes}); they must be equal")
        self.datasets: tuple[Any, ...] | dict[str, Any] = args if args else dict(kwargs)
        self._length = lengths[0][1]

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: Any) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getitems__(self, indices: list) -> list:
        """The samples at ``indices``, each as ``__getitem__`` gives it; a dataset with ``__getitems__`` of its
        own gives its part of them in one call."""
        indices = list(indices)
        parts = self.datasets.items() if isinstance(self.datasets, dict) else enumerate(self.datasets)
        columns = {}
        for k, d in parts:
            getitems = getattr(d, "__getitems__", None)
            if callable(getitems):
                items = list(getitems(indices))
                if len(items) != len(indices):
                    raise ShapeError(
                        f"StackDataset: dataset {k!r}'s __getitems__ gave {len(items)} samples for {len(indices)} "
                        "indices; expected one per index"
                    )
            else:
                items = [d[i] for i in indices]
            columns[k] = items
        if isinstance(self.datasets, dict):
            return [{k: items[j] for k, items in columns.items()} for j in range(len(indices))]
        return [tuple(items[j] for items in columns.values()) for j in range(len(indices))]

    def __repr__(self) -> str:
        if isinstance(self.datasets, dict):
            parts = ", ".join(f"{k}={type(d).__name__}" for k, d in self.datasets.items())
        else:
            parts = ", ".join(type(d).__name__ for d in self.datasets)
        return f"StackDataset({len(self)} samples: {parts})"


def _split_lengths(lengths: Any, n: int) -> list[int]:
    """Counts for ``lengths``: ints (kept) or fractions (floors, then the remainder one by one, round-robin)."""
    if isinstance(lengths, (str, bytes)) or not isinstance(lengths, Iterable):
        raise ArgumentTypeError(
            f"random_split: lengths must be a sequence of ints or fractions, got {type(lengths).__name__}"
        )
    values = [scalar(v) for v in lengths]
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ArgumentTypeError(
                f"random_split: lengths[{i}] must be an int or a float fraction, got {type(v).__name__} {v!r:.40}"
            )
    if not any(isinstance(v, (float, np.floating)) for v in values):
        counts = [int(v) for v in values]
        for i, c in enumerate(counts):
            if c < 0:
                raise InvalidArgumentError(f"random_split: lengths[{i}] must be >= 0, got {c}")
        if sum(counts) != n:
            raise InvalidArgumentError(
                f"random_split: the lengths {counts} sum to {sum(counts)}, but the dataset has {n} samples; "
                "they must sum to its length (or pass fractions that sum to 1)"
            )
        return counts
    fractions = [float(v) for v in values]
    for i, f in enumerate(fractions):
        if not 0.0 <= f <= 1.0:
            raise InvalidArgumentError(f"random_split: the fraction lengths[{i}] must be in [0, 1], got {f!r}")
    if not math.isclose(sum(fractions), 1.0):
        raise InvalidArgumentError(
            f"random_split: the fractions {fractions} sum to {sum(fractions)!r}; they must sum to 1 "
            f"(or pass ints that sum to the dataset's length, {n})"
        )
    counts = [math.floor(n * f) for f in fractions]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    for i, c in enumerate(counts):
        if c == 0:
            warnings.warn(f"random_split: split {i} has length 0", UserWarning, stacklevel=3)
    return counts


def random_split(
    dataset: Any,
    lengths: Sequence[int | float],
    generator: np.random.Generator | None = None,
    *,
    seed: int | None = None,
) -> list[Subset]:
    """Split ``dataset`` at random into Subsets of the given ``lengths``.

    ``lengths`` are ints that sum to ``len(dataset)``, or fractions that sum to 1
    (as in PyTorch 2: each split gets ``floor(len * fraction)`` samples, and the
    samples left over go one at a time to the splits in turn, from the first).
    The order comes from ``seed`` (an int: the same seed, the same split) or
    ``generator`` (a ``gk.Generator``, PyTorch's keyword, or any ``numpy.random.Generator``); with neither,
    a seed is drawn from gradkit's generator, so ``gk.manual_seed`` makes it repeatable.
    """
    n = _length(dataset, "random_split")
    if generator is not None and seed is not None:
        raise InvalidArgumentError("random_split: pass seed or generator, not both")
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise ArgumentTypeError(
            f"random_split: generator must be a numpy.random.Generator, got {type(generator).__name__}; "
            "for a reproducible split pass seed= (an int) or a gk.Generator (PyTorch's torch.Generator)"
        )
    if seed is not None:
        seed = whole(seed, "random_split", "seed", low=0)
    counts = _split_lengths(lengths, n)
    if generator is None:
        generator = np.random.default_rng(int(NUMPY.rng.integers(2**63)) if seed is None else seed)
    order = generator.permutation(n).tolist()
    subsets, start = [], 0
    for count in counts:
        subsets.append(Subset(dataset, order[start : start + count]))
        start += count
    return subsets
