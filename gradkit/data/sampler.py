"""Samplers as in ``torch.utils.data``: the order in which a DataLoader visits a dataset's samples.

A sampler is an iterable of indices (a batch sampler: of lists of indices) with an
optional ``__len__``. gradkit's random samplers draw from ``seed`` (an int) or
``generator`` (a ``gk.Generator`` or any ``numpy.random.Generator``); with neither, a seed is drawn from
gradkit's generator when the sampler is made, so ``gk.manual_seed`` makes it
repeatable. With a seed, epoch ``e``'s order (the ``e``-th ``iter()``, counted by
``epoch``; ``set_epoch`` sets it) depends only on the seed and ``e``, as for
``DataLoader(shuffle=True, seed=...)``: ``RandomSampler(dataset, seed=s)`` gives
the same orders as ``DataLoader(dataset, shuffle=True, seed=s)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from gradkit._args import flag, whole
from gradkit.backends import NUMPY
from gradkit.data.dataset import _index_array
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError, describe
from gradkit.tensor import Tensor

__all__ = [
    "BatchSampler",
    "DistributedSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]

T_co = TypeVar("T_co", covariant=True)


class Sampler(Generic[T_co]):
    """Base class of samplers: ``__iter__`` yields the indices (or keys) of a dataset's samples,
    a batch sampler's yields lists of them. ``__len__`` is optional (there is no default: a
    DataLoader's ``len()`` then raises TypeError, as in PyTorch). ``Sampler[int]`` and
    ``Sampler[list[int]]`` work for annotations. ``data_source`` is accepted and ignored."""

    def __init__(self, data_source: Any = None) -> None:
        pass

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} does not define __iter__()")


def _sized(value: Any, op: str, name: str) -> int:
    """``len(value)``; an ArgumentTypeError naming ``op`` and ``name`` when it has none."""
    try:
        return len(value)
    except (TypeError, NotImplementedError):
        raise ArgumentTypeError(f"{op}: {name} must have a length (__len__), got {describe(value)}") from None


def _iterable(value: Any) -> bool:
    """Whether ``iter(value)`` can work, asked without calling it (which would start a sampler's epoch)."""
    if isinstance(value, (str, bytes)):
        return False
    kind = type(value)
    return hasattr(kind, "__iter__") or hasattr(kind, "__getitem__")


class _Drawn(Sampler[int]):
    """gradkit's own samplers of single indices: each epoch's indices are drawn at once, as an int64
    array, which the DataLoader uses directly to gather a TensorDataset's batches."""

    def __iter__(self) -> Iterator[int]:
        return iter(self._draw().tolist())

    def _draw(self) -> np.ndarray:
        """The next epoch's indices."""
        raise NotImplementedError

    def _order(self, epoch: int) -> np.ndarray | None:
        """Epoch ``epoch``'s indices without drawing them, or None when they are not known ahead."""
        raise NotImplementedError


class SequentialSampler(_Drawn):
    """``0, 1, ..., len(data_source) - 1``, every epoch (the length is read at each ``iter()``)."""

    def __init__(self, data_source: Any) -> None:
        _sized(data_source, "SequentialSampler", "data_source")
        self.data_source = data_source

    def _draw(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def _order(self, epoch: int) -> np.ndarray:
        return self._draw()

    def __len__(self) -> int:
        return len(self.data_source)

    def __repr__(self) -> str:
        return f"SequentialSampler({len(self)} samples)"


class _Random(_Drawn):
    """The seed / generator / epoch handling of the random samplers."""

    def _randomness(self, op: str, generator: Any, seed: Any) -> None:
        if generator is not None and seed is not None:
            raise InvalidArgumentError(f"{op}: pass seed or generator, not both")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise ArgumentTypeError(
                f"{op}: generator must be a numpy.random.Generator, got {type(generator).__name__}; "
                "for a repeatable order pass seed= (an int) or a gk.Generator (PyTorch's torch.Generator)"
            )
        if seed is not None:
            seed = whole(seed, op, "seed", low=0)
        elif generator is None:
            seed = int(NUMPY.rng.integers(2**63))
        self.generator = generator
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` give epoch ``epoch``'s order (to resume a run). With ``generator=``,
        the generator's state decides the order, and this only renumbers the epochs."""
        self.epoch = whole(epoch, f"{type(self).__name__}.set_epoch", "epoch", low=0)

    def _rng(self, epoch: int) -> np.random.Generator:
        return self.generator if self.generator is not None else np.random.default_rng([self.seed, epoch])

    def _draw(self) -> np.ndarray:
        indices = self._indices(self._rng(self.epoch))
        self.epoch += 1
        return indices

    def _order(self, epoch: int) -> np.ndarray | None:
        return None if self.generator is not None else self._indices(self._rng(epoch))

    def _indices(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _source(self) -> str:
        return "generator" if self.generator is not None else f"seed={self.seed}"


class RandomSampler(_Random):
    """The samples of ``data_source`` in a random order, a new one each epoch.

    Without ``replacement``, each epoch is a permutation of ``range(len(data_source))``;
    ``num_samples`` larger than the length chains several permutations (as PyTorch 2).
    With ``replacement``, ``num_samples`` indices drawn independently. ``num_samples``
    defaults to ``len(data_source)``, read at each ``iter()``. An empty data_source gives
    empty epochs (PyTorch refuses it).
    """

    def __init__(
        self,
        data_source: Any,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: np.random.Generator | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        op = "RandomSampler"
        _sized(data_source, op, "data_source")
        self.data_source = data_source
        self.replacement = flag(replacement, op, "replacement")
        self._num_samples = None if num_samples is None else whole(num_samples, op, "num_samples", low=1)
        self._randomness(op, generator, seed)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self, rng: np.random.Generator) -> np.ndarray:
        n, k = len(self.data_source), self.num_samples
        if n == 0:
            if k:
                raise InvalidArgumentError(f"RandomSampler: cannot draw {k} samples from an empty data_source")
            return np.zeros(0, dtype=np.int64)
        if self.replacement:
            return rng.integers(n, size=k, dtype=np.int64)
        parts = [rng.permutation(n) for _ in range(k // n)]  # k == n: DataLoader(shuffle=True)'s order
        if k % n:
            parts.append(rng.permutation(n)[: k % n])
        return parts[0] if len(parts) == 1 else np.concatenate(parts).astype(np.int64, copy=False)

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (
            f"RandomSampler({len(self.data_source)} samples, replacement={self.replacement}, "
            f"num_samples={self.num_samples}, {self._source()})"
        )


class SubsetRandomSampler(_Random):
    """The given ``indices`` (ints, or a 1-d integer array or tensor), in a random order each epoch."""

    def __init__(
        self,
        indices: Sequence[int],
        generator: np.random.Generator | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        array = _index_array(indices, "SubsetRandomSampler")
        self.indices = array.tolist()
        self._checked = (list(self.indices), array)  # .indices as last checked, and as an array
        self._randomness("SubsetRandomSampler", generator, seed)

    def _indices(self, rng: np.random.Generator) -> np.ndarray:
        if not (type(self.indices) is list and self.indices == self._checked[0]):  # replaced or changed since
            self._checked = (list(self.indices), _index_array(self.indices, "SubsetRandomSampler"))
        indices = self._checked[1]
        return indices[rng.permutation(len(indices))]

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"SubsetRandomSampler({len(self)} indices, {self._source()})"


class DistributedSampler(_Drawn):
    """PyTorch's ``torch.utils.data.DistributedSampler``: the share of ``dataset`` one of ``num_replicas``
    processes (``rank``) loads, each rank's share disjoint from the others' when all use the same ``seed``.

    gradkit has no process group: ``num_replicas`` defaults to 1 and ``rank`` to 0 (PyTorch reads them from
    ``torch.distributed``); pass both to split a dataset by hand. As PyTorch: the indices (a permutation of
    ``range(len(dataset))`` with ``shuffle``, else in order) are padded by repeating them from the start
    (``drop_last=False``) or cut (``drop_last=True``) to ``total_size = num_samples * num_replicas``, and rank
    ``r`` takes ``indices[r::num_replicas]``; ``num_samples`` is ``ceil(len / num_replicas)``, or with
    ``drop_last`` ``ceil((len - num_replicas) / num_replicas)`` when the length is not divisible. The
    permutation depends only on ``seed`` and the epoch (``set_epoch``): every ``iter()`` gives the same order
    until ``set_epoch`` changes it (it does not advance by itself, as PyTorch's), and ``DataLoader.set_epoch``
    sets it. The permutation is drawn with NumPy (``numpy.random.default_rng([seed, epoch])``), so it is not
    torch's ``randperm`` order. The dataset's length is read when the sampler is made (as PyTorch); a dataset
    whose length changed since is refused at ``iter()``."""

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        op = "DistributedSampler"
        n = _sized(dataset, op, "dataset")
        num_replicas = 1 if num_replicas is None else whole(num_replicas, op, "num_replicas", low=1)
        rank = 0 if rank is None else whole(rank, op, "rank")
        if not 0 <= rank < num_replicas:
            raise InvalidArgumentError(
                f"{op}: Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = flag(drop_last, op, "drop_last")
        if self.drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = flag(shuffle, op, "shuffle")
        self.seed = whole(seed, op, "seed", low=0)
        self._length = n

    def set_epoch(self, epoch: int) -> None:
        """Make the following ``iter()`` calls use epoch ``epoch``'s permutation (with ``shuffle``; all ranks
        must set the same epoch). Without ``shuffle`` the order is the same every epoch."""
        self.epoch = whole(epoch, "DistributedSampler.set_epoch", "epoch", low=0)

    def _draw(self) -> np.ndarray:
        return self._order(self.epoch)

    def _order(self, epoch: int) -> np.ndarray:
        n = len(self.dataset)
        if n != self._length:
            raise InvalidArgumentError(
                f"DistributedSampler: the dataset had {self._length} samples when the sampler was made and has "
                f"{n} now; make a new DistributedSampler for a dataset whose length changed"
            )
        if self.shuffle:
            indices = np.random.default_rng([self.seed, epoch]).permutation(n).astype(np.int64, copy=False)
        else:
            indices = np.arange(n, dtype=np.int64)
        if not self.drop_last:
            padding = self.total_size - n
            if padding:  # repeat the indices from the start (as often as needed when there are fewer of them)
                indices = np.concatenate([indices, np.resize(indices, padding)])
        else:
            indices = indices[: self.total_size]
        return indices[self.rank : self.total_size : self.num_replicas]

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (
            f"DistributedSampler({self._length} samples, num_replicas={self.num_replicas}, rank={self.rank}, "
            f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})"
        )


def _weights(weights: Any, op: str) -> np.ndarray:
    """``weights`` as a 1-d float64 NumPy array of finite, non-negative numbers with a positive sum."""
    if isinstance(weights, Tensor):
        weights = weights.numpy()
    elif hasattr(weights, "__cuda_array_interface__") and hasattr(weights, "get"):
        weights = weights.get()
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
        raise ArgumentTypeError(f"{op}: weights must be a 1-d sequence of numbers, got {describe(weights)}")
    try:
        array = np.asarray(weights)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{op}: weights must be a 1-d sequence of numbers ({exc})") from None
    if array.ndim != 1:
        raise ShapeError(f"{op}: weights must be a 1-d sequence, got shape {array.shape}")
    if array.size == 0:
        raise InvalidArgumentError(f"{op}: weights is empty; expected at least one weight")
    if array.dtype.kind not in "iuf":
        raise ArgumentTypeError(f"{op}: weights must be numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InvalidArgumentError(f"{op}: weights must be finite, got {float(array[~np.isfinite(array)][0])!r}")
    if (array < 0).any():
        raise InvalidArgumentError(f"{op}: weights must be >= 0, got {float(array[array < 0][0])!r}")
    if not (array > 0).any():
        raise InvalidArgumentError(f"{op}: every weight is 0; at least one must be positive")
    return array


class WeightedRandomSampler(_Random):
    """``num_samples`` indices into ``weights``, index ``i`` drawn with probability proportional to
    ``weights[i]`` (they need not sum to 1); without ``replacement`` an index is drawn at most once
    an epoch (each draw proportional to the weights left). Bad weights (negative, not finite, all
    zero) are refused here; PyTorch refuses them at the first ``iter()``. So is ``num_samples`` above
    the number of positive weights without replacement, which PyTorch's documentation forbids (its
    CPU version then fills up with zero-weight indices)."""

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: np.random.Generator | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        op = "WeightedRandomSampler"
        self.num_samples = whole(num_samples, op, "num_samples", low=1)
        self.replacement = flag(replacement, op, "replacement")
        self.weights = _weights(weights, op)
        positive = int((self.weights > 0).sum())
        if not self.replacement and self.num_samples > positive:
            raise InvalidArgumentError(
                f"{op}: cannot draw num_samples={self.num_samples} indices without replacement when only "
                f"{positive} weights are positive; lower num_samples or pass replacement=True"
            )
        self._randomness(op, generator, seed)

    def _indices(self, rng: np.random.Generator) -> np.ndarray:
        p = self.weights / self.weights.max()  # no overflow in the sum
        p /= p.sum()
        return rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (
            f"WeightedRandomSampler({len(self.weights)} weights, num_samples={self.num_samples}, "
            f"replacement={self.replacement}, {self._source()})"
        )


class BatchSampler(Sampler[list[int]]):
    """The indices of ``sampler`` (a Sampler or any iterable of indices) in lists of ``batch_size``;
    with ``drop_last``, a last list shorter than that is left out."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        op = "BatchSampler"
        if not _iterable(sampler):
            raise ArgumentTypeError(
                f"{op}: sampler must be a Sampler or an iterable of indices, got {describe(sampler)}"
            )
        self.sampler = sampler
        self.batch_size = whole(batch_size, op, "batch_size", low=1)
        self.drop_last = flag(drop_last, op, "drop_last")

    def __iter__(self) -> Iterator[list[int]]:
        return self._batches(iter(self.sampler))  # the sampler's epoch starts at iter(), as the DataLoader's

    def _batches(self, indices: Iterator[Any]) -> Iterator[list[int]]:
        size = self.batch_size
        if self.drop_last:
            for batch in zip(*[indices] * size, strict=False):
                yield list(batch)
            return
        while batch := list(itertools.islice(indices, size)):
            yield batch

    def __len__(self) -> int:
        if not hasattr(type(self.sampler), "__len__"):
            raise ArgumentTypeError(
                f"BatchSampler: len() needs the length of its sampler, and {type(self.sampler).__name__} "
                "has no __len__"
            )
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __repr__(self) -> str:
        return f"BatchSampler({self.sampler!r}, batch_size={self.batch_size}, drop_last={self.drop_last})"


def _drawn_batches(batch_sampler: Any) -> tuple[np.ndarray, int, bool, bool] | None:
    """For a BatchSampler over one of gradkit's samplers (neither's ``__iter__`` overridden), the next
    epoch's ``(indices, batch_size, drop_last, sequential)``, drawn now; None for any other."""
    sampler = _plain_sampler(batch_sampler)
    if sampler is None:
        return None
    return sampler._draw(), batch_sampler.batch_size, batch_sampler.drop_last, type(sampler) is SequentialSampler


def _known_order(batch_sampler: Any, epoch: int) -> np.ndarray | None:
    """Epoch ``epoch``'s indices of a BatchSampler over one of gradkit's samplers, when they are known ahead."""
    sampler = _plain_sampler(batch_sampler)
    return None if sampler is None else sampler._order(epoch)


def _known_sample_order(sampler: Any, epoch: int) -> np.ndarray | None:
    """Epoch ``epoch``'s indices of one of gradkit's samplers (used without a BatchSampler), when known ahead."""
    plain = _plain(sampler)
    return None if plain is None else plain._order(epoch)


def _plain_sampler(batch_sampler: Any) -> _Drawn | None:
    if type(batch_sampler).__iter__ is not BatchSampler.__iter__:
        return None
    return _plain(batch_sampler.sampler)


def _plain(sampler: Any) -> _Drawn | None:
    """``sampler`` when it is one of gradkit's samplers whose ``__iter__`` is not overridden, else None."""
    if isinstance(sampler, _Drawn) and type(sampler).__iter__ is _Drawn.__iter__:
        return sampler
    return None
