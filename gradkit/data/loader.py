"""Datasets and batching: ``TensorDataset`` and ``DataLoader``."""

from __future__ import annotations

import copy
import itertools
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gradkit._args import flag, real, whole
from gradkit.backends import NUMPY, get_backend
from gradkit.data.collate import collate, convert
from gradkit.data.dataset import Dataset, IterableDataset, Subset
from gradkit.data.sampler import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    _drawn_batches,
    _iterable,
    _known_order,
    _known_sample_order,
)
from gradkit.data.workers import END, StreamBatches, WorkerBatches, WorkerPool, worker_seed
from gradkit.errors import (
    ArgumentTypeError,
    GradkitError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeError,
    describe,
)
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
    ``(x_batch, y_batch)``. An exception of the dataset's own ``__getitem__``
    propagates as itself; gradkit raises its own error (naming the index, the
    original chained) only when the index is refused by a subscription that is
    not Python code (a list, dict or array as the dataset) or a sampler's
    index is out of range.

    - ``batch_size=None`` (as PyTorch): no batching; each sample by itself,
      converted by :func:`default_convert` (arrays made tensors, no axis
      added), or ``collate_fn(sample)``. Not with ``drop_last`` or
      ``batch_sampler``; ``batch_sampler`` is then None and ``len()`` counts
      samples.

    - ``shuffle``: a new order every epoch (every ``iter()``). The order of
      epoch ``e`` depends only on ``seed`` and ``e``, so a run resumed with
      ``set_epoch(e)`` sees the same batches. With ``seed=None`` a seed is
      drawn from gradkit's generator (``gk.manual_seed`` makes it repeatable).
      ``generator=`` (PyTorch's keyword: a ``gk.Generator``, or any
      ``numpy.random.Generator``; not with ``seed``) draws each epoch's order
      from that generator's state instead (the workers' base seed from a hash
      of its state: gradkit's generator is left alone).
    - ``drop_last``: leave out a last batch smaller than ``batch_size``.
    - ``sampler``: the indices to visit, in order (a :class:`Sampler`, or any
      iterable of indices), batched ``batch_size`` at a time; not with
      ``shuffle=True`` or ``seed``. ``batch_sampler``: the batches themselves
      (lists of indices); not with ``batch_size`` (other than 1), ``shuffle``,
      ``sampler``, ``drop_last`` or ``seed``. As in PyTorch, ``loader.sampler``
      and ``loader.batch_sampler`` are then what is drawn from (without them, a
      SequentialSampler / RandomSampler with the loader's seed, which gives the
      loader's orders), a batch_sampler makes ``batch_size`` None, and
      ``len(loader)`` needs the sampler's length (TypeError without one).
      A TensorDataset's batches are still gathered by indexing its tensors.
      ``set_epoch`` also sets the sampler's epoch (when it has ``set_epoch``),
      and ``order`` needs a sampler of gradkit's whose order is known ahead.
    - ``device``: where batches are put (None: where the dataset's tensors are).
      The tensors in what a ``collate_fn`` returns (inside tuples, lists and
      dicts) are moved there too.
    - ``collate_fn``: called with the list of a batch's samples; what it
      returns is the batch.
    - ``num_workers``: with 0, batches are made in the calling thread when
      the loop asks for them. With ``n > 0``, by ``n`` worker threads (not
      processes: the dataset need not be picklable and may hold GPU tensors),
      batch ``i`` by worker ``i % n``, at most ``prefetch_factor * n`` batches
      (default 2 per worker) ahead of the loop; the batches are the same, in
      the same order. The dataset's ``__getitem__`` and ``collate_fn`` then
      run in several threads at once. A TensorDataset's rows are gathered in
      the workers too. ``worker_init_fn(id)`` runs once in each worker, where
      ``gk.data.get_worker_info()`` tells its ``id``, ``num_workers``, ``seed``
      and ``dataset``. An exception in a worker is raised at its batch, as its
      own type (with the worker named, the original chained). ``timeout > 0``:
      a ``gk.data.WorkerError`` when a batch takes longer to come. The threads
      stop when a pass ends or its iterator is dropped; with
      ``persistent_workers=True`` they serve every pass, and ``iter()`` restarts
      the one iterator (as PyTorch), until the loader and its iterator are
      dropped. The workers run in the grad mode and default device of the
      thread that called ``iter()``, and with CuPy on its current CUDA device
      and stream (a stream of its own is shared; its default stream gives the
      legacy default stream, ordered with it even with per-thread default
      streams), so a batch's kernels come before the loop's kernels that use
      it. A map-style dataset is shared by the
      workers: ``get_worker_info().dataset`` is the loader's dataset.
    - ``in_order=False`` (with workers; as PyTorch's): each batch is yielded
      as soon as a worker has made it, not in the sampler's order, and a
      batch goes to the next worker in turn with fewer than
      ``prefetch_factor`` batches outstanding, so a slow sample holds up
      only its own worker. Each batch still holds the same samples, and
      comes once per pass; an IterableDataset's batches keep each worker's
      stream order. Ignored with ``num_workers=0``.
    - An :class:`IterableDataset` (a stream) is read in order: each batch is
      ``batch_size`` consecutive items, collated; ``batch_size=None`` yields
      each item by itself, arrays and NumPy scalars made tensors (as PyTorch's
      ``default_convert``), or ``collate_fn(item)``. ``shuffle``, ``sampler``
      and ``batch_sampler`` are refused, and ``len()`` needs the dataset's
      ``__len__`` (TypeError without). With ``num_workers=n > 0`` each worker
      thread iterates its own shallow copy of the dataset (``copy.copy``, made
      when the threads start: ``get_worker_info().dataset``, which a
      ``worker_init_fn`` may change to shard it, as in PyTorch); ``iter()`` runs
      in the worker, where ``get_worker_info()`` lets it yield only its share
      (unsharded, every item comes ``n`` times, as in PyTorch). The batches come
      from the workers in turn, skipping those whose stream has ended.
    - ``pin_memory`` is accepted for PyTorch code and does nothing: on NumPy
      there is no GPU to copy to, and with CuPy batches are made where the
      dataset's tensors are or on ``device`` (pass ``device='cuda'`` to get
      them on the GPU). ``pin_memory_device`` (a str, default ``''``;
      deprecated in PyTorch, which ignores it) is checked to be a str, kept as
      ``loader.pin_memory_device`` and does nothing either: it does not choose
      where batches go (``device`` does). ``multiprocessing_context`` must be
      None (threads).

    Batches never require grad.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        device: Any = None,
        *,
        sampler: Any = None,
        batch_sampler: Any = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], Any] | None = None,
        multiprocessing_context: Any = None,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        in_order: bool = True,
        generator: np.random.Generator | None = None,
        pin_memory_device: str = "",
    ) -> None:
        streamed = isinstance(dataset, IterableDataset)
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
                raise ArgumentTypeError(
                    f"DataLoader: batch_size must be an int, or None for no batching, got {type(batch_size).__name__}"
                )
            if batch_size < 1:
                raise InvalidArgumentError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise InvalidArgumentError(f"DataLoader: seed must be None or a non-negative int, got {seed!r}")
        if streamed:
            _check_stream_options(shuffle, sampler, batch_sampler, batch_size, drop_last)
            shuffle = False  # None too: as in PyTorch, unspecified
        else:
            _check_map_style(dataset)
        if collate_fn is not None and not callable(collate_fn):
            raise ArgumentTypeError(
                f"DataLoader: collate_fn must be None or a callable, got {type(collate_fn).__name__}"
            )
        self._set_workers(num_workers, prefetch_factor, persistent_workers, timeout, worker_init_fn, in_order)
        if multiprocessing_context is not None:
            raise InvalidArgumentError(
                f"DataLoader: multiprocessing_context={multiprocessing_context!r} is not supported; gradkit's "
                "workers are threads of this process (no start method to choose), so leave it None"
            )
        self.multiprocessing_context = None
        self.pin_memory = flag(pin_memory, "DataLoader", "pin_memory")
        if not isinstance(pin_memory_device, str):  # PyTorch's is a str, deprecated and ignored; so is this one
            raise ArgumentTypeError(
                f"DataLoader: pin_memory_device must be a str ('' for none), got "
                f"{type(pin_memory_device).__name__} {pin_memory_device!r:.40}"
            )
        self.pin_memory_device = str(pin_memory_device)
        shuffle = flag(shuffle, "DataLoader", "shuffle")
        drop_last = flag(drop_last, "DataLoader", "drop_last")
        if not streamed:
            _check_samplers(sampler, batch_sampler, batch_size, shuffle, drop_last, seed)
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = _loader_generator(generator, seed)
        if seed is None and self.shuffle and generator is None:
            seed = int(NUMPY.rng.integers(2**63))
        self.seed = None if seed is None else int(seed)
        self.device = None if device is None else get_backend(device, "DataLoader").device
        self.collate_fn = collate_fn
        self.epoch = 0
        # With persistent_workers=True: the threads, and (weakly) the iterator that iter() restarts. The iterator's
        # tasks hold the loader, so holding it strongly would be a cycle keeping the threads until the GC runs.
        self._pool: WorkerPool | None = None
        self._iterator: weakref.ref[WorkerBatches] | None = None
        self._worker_root: int | None = None  # what worker seeds derive from (drawn at first need)
        # As PyTorch: what the batches are drawn from (only these are used when one was passed).
        self._source = "batch_sampler" if batch_sampler is not None else "sampler" if sampler is not None else None
        self._streamed = streamed
        self._announced: int | None = None  # len(self) once asked, for an IterableDataset (checked as it runs)
        if streamed:  # the stream sets the order: no sampler
            self.sampler = None
            self.batch_sampler = None
        elif batch_sampler is not None:
            self.batch_size = None  # type: ignore[assignment]
            self.sampler: Any = SequentialSampler(dataset)
            self.batch_sampler: Any = batch_sampler
        else:
            if sampler is None:
                if self.shuffle:
                    sampler = RandomSampler(dataset, generator=generator, seed=self.seed)
                else:
                    sampler = SequentialSampler(dataset)
            self.sampler = sampler
            # As PyTorch: batch_size=None (no batching) has no batch sampler; the sampler's indices come one by one.
            self.batch_sampler = None if batch_size is None else BatchSampler(sampler, self.batch_size, self.drop_last)

    def _set_workers(
        self,
        num_workers: Any,
        prefetch_factor: Any,
        persistent_workers: Any,
        timeout: Any,
        worker_init_fn: Any,
        in_order: Any,
    ) -> None:
        """The worker options, checked with PyTorch's rules."""
        self.num_workers = whole(num_workers, "DataLoader", "num_workers", low=0)
        if self.num_workers == 0 and prefetch_factor is not None:
            raise InvalidArgumentError(
                f"DataLoader: prefetch_factor={prefetch_factor!r} needs num_workers > 0 (without workers "
                "nothing is loaded ahead); leave it None"
            )
        self.prefetch_factor: int | None = None  # as PyTorch: None without workers, 2 per worker by default
        if self.num_workers:
            self.prefetch_factor = (
                2 if prefetch_factor is None else whole(prefetch_factor, "DataLoader", "prefetch_factor", low=1)
            )
        self.persistent_workers = flag(persistent_workers, "DataLoader", "persistent_workers")
        if self.persistent_workers and self.num_workers == 0:
            raise InvalidArgumentError(
                "DataLoader: persistent_workers=True needs num_workers > 0 (there are no workers to keep)"
            )
        self.timeout = real(timeout, "DataLoader", "timeout", low=0)
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise ArgumentTypeError(
                f"DataLoader: worker_init_fn must be None or a callable, got {type(worker_init_fn).__name__}"
            )
        self.worker_init_fn = worker_init_fn
        self.in_order = flag(in_order, "DataLoader", "in_order")  # checked, and kept, without workers too (PyTorch)

    def __len__(self) -> int:
        if self._streamed:
            return self._stream_length()
        if self._source is not None:
            given = self.sampler if self.batch_sampler is None else self.batch_sampler
            if not hasattr(type(given), "__len__"):
                name = "sampler" if self.batch_sampler is None else "batch_sampler"
                raise ArgumentTypeError(
                    f"DataLoader: len() needs the length of its {name}, and {type(given).__name__} has no __len__"
                )
            return len(given)
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _stream_length(self) -> int:
        """As PyTorch: the IterableDataset's length in batches (rounded as ``drop_last`` says), or in items
        without ``batch_size``; a TypeError when it has no ``__len__``."""
        try:
            n = len(self.dataset)
        except TypeError:
            raise ArgumentTypeError(
                f"DataLoader: len() needs the length of its IterableDataset, and {type(self.dataset).__name__} "
                "has no __len__"
            ) from None
        size = self.batch_size
        self._announced = n if size is None else n // size if self.drop_last else -(-n // size)
        return self._announced

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` produce epoch ``epoch``'s order (to resume a run).

        With a ``sampler`` (or a ``batch_sampler``, or its ``.sampler``) that has ``set_epoch``,
        that is set too."""
        self.epoch = whole(epoch, "DataLoader.set_epoch", "epoch", low=0)
        if self._source is None:
            if self.shuffle:  # the loader's own RandomSampler counts the same epochs
                self.sampler.set_epoch(self.epoch)
            return
        given = self.sampler if self._source == "sampler" else self.batch_sampler
        for target in (given, getattr(given, "sampler", None)):
            if callable(getattr(target, "set_epoch", None)):
                target.set_epoch(self.epoch)
                return

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of epoch ``epoch``, in the order they are served."""
        epoch = whole(epoch, "DataLoader.order", "epoch", low=0)
        if self._streamed:
            raise InvalidArgumentError(
                f"DataLoader.order: an IterableDataset ({type(self.dataset).__name__}) has no sample indices; "
                "its order is the one its iterator gives"
            )
        if self._source is not None:
            known = (
                _known_order(self.batch_sampler, epoch)
                if self.batch_sampler is not None
                else _known_sample_order(self.sampler, epoch)
            )
            if known is None:
                given = self.sampler if self._source == "sampler" else self.batch_sampler
                raise InvalidArgumentError(
                    f"DataLoader.order: the order of epoch {epoch} is not known ahead for its {self._source} "
                    f"({type(given).__name__}); only gradkit's samplers without generator= tell it"
                )
            return known
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self.generator is not None:
            raise InvalidArgumentError(
                f"DataLoader.order: the order of epoch {epoch} is not known ahead with generator= (each epoch draws "
                "from the generator's current state); pass seed= instead"
            )
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def __iter__(self) -> Iterator[Any]:
        if self._streamed:
            return self._streams()
        if self.num_workers == 0:
            return self._epoch_batches(jobs=False)
        return self._threaded()

    def _threaded(self) -> WorkerBatches:
        """The next pass, its batches made by the worker threads (kept ones, or new ones for this pass)."""
        jobs = self._epoch_batches(jobs=True)
        it = self._workers(WorkerBatches)
        it.start(jobs, self.prefetch_factor, self.timeout, self.in_order)
        return it

    def _workers(self, kind: type[WorkerBatches]) -> WorkerBatches:
        """The iterator of ``kind`` whose threads make this pass's batches: the kept one, or a new one (on the
        kept threads, if its iterator was dropped)."""
        it = None if self._iterator is None else self._iterator()
        pool = self._pool
        if pool is not None and (not self.persistent_workers or pool.closed or len(pool.datasets) != self.num_workers):
            if it is not None:
                it.close()  # the attributes were changed since it was made
            pool.close(wait=False)
            it = pool = self._pool = self._iterator = None
        if pool is None:
            if self._worker_root is None:  # the shuffle seed, generator='s state, or one draw from gradkit's generator
                if self.seed is not None:
                    self._worker_root = self.seed
                elif self.generator is not None:
                    self._worker_root = _state_root(self.generator)
                else:
                    self._worker_root = int(NUMPY.rng.integers(2**63))
            seed = worker_seed(self._worker_root, self.epoch - 1)  # the pass just drawn
            pool = WorkerPool(self._worker_datasets(), seed, self.worker_init_fn)
            self._pool = pool if self.persistent_workers else None
        if it is None:
            it = kind(pool, self.persistent_workers)
            self._iterator = weakref.ref(it) if self.persistent_workers else None
        return it

    def _worker_datasets(self) -> list[Any]:
        """Each worker's ``WorkerInfo.dataset``: for an IterableDataset a shallow copy of its own, which that
        worker iterates (so a ``worker_init_fn`` can shard it, as in PyTorch); a map-style dataset is the loader's,
        which every worker fetches from (the sampler already divides the indices; a copy would be ignored, and
        copying an array used as a dataset would copy its data)."""
        if not self._streamed:
            return [self.dataset] * self.num_workers
        try:
            return [copy.copy(self.dataset) for _ in range(self.num_workers)]
        except Exception as exc:
            raise ArgumentTypeError(
                f"DataLoader: with num_workers > 0 each worker thread iterates its own copy.copy() of the "
                f"IterableDataset, and copying {type(self.dataset).__name__} failed ({type(exc).__name__}: {exc}); "
                "give it a __copy__ method"
            ) from exc

    def _streams(self) -> Iterator[Any]:
        """The next pass over an IterableDataset: in this thread (``iter(dataset)`` now, as PyTorch), or with
        each worker thread iterating the dataset itself."""
        self.epoch += 1
        check = None if self._announced is None else _LengthCheck(self.dataset, self._announced)
        if self.num_workers == 0:
            stream = _Stream(self.dataset)
            stream.begin()
            return _InlineStream(self._next_batch, stream, check)
        it = self._workers(StreamBatches)
        streams = [(self._next_batch, _Stream(d)) for d in it.datasets]  # each worker iterates its own copy
        it.start_streams(streams, self.prefetch_factor, self.timeout, check, self.in_order)
        return it

    def _next_batch(self, stream: _Stream) -> Any:
        """The next batch of ``stream`` (``batch_size`` items collated, or one item converted), or END."""
        if stream.ended:
            return END
        if stream.items is None:
            stream.begin()  # in the worker thread, where get_worker_info() tells which worker it is
        size = self.batch_size
        if size is None:
            item = next(stream.items, END)
            if item is END:
                stream.ended = True
                return END
            return (
                convert(item, self.device, "DataLoader")
                if self.collate_fn is None
                else self._place_all(self.collate_fn(item))
            )
        samples = list(itertools.islice(stream.items, size))
        if len(samples) < size:
            stream.ended = True  # the iterator is not asked again once it has run out
            if not samples or self.drop_last:
                return END
        return self._collate(samples)

    def _epoch_batches(self, jobs: bool) -> Iterator[Any]:
        """The next pass (epoch): its batches, or with ``jobs`` the ``(fn, arg)`` pairs that make them."""
        if self._source is not None:
            return self._sampled(jobs)
        if self.shuffle:  # the loader's RandomSampler and the loader count one epoch: either set_epoch works
            self.epoch = self.sampler.epoch
        if self.shuffle and self.generator is not None:
            order = self.sampler._draw()  # from the generator's current state
        else:
            order = self.order(self.epoch)
        self.epoch += 1
        if self.shuffle:
            self.sampler.epoch = self.epoch
        return self._batches(order, jobs)

    def _sampled(self, jobs: bool) -> Iterator[Any]:
        """An epoch from the sampler or batch_sampler (drawn now, as ``iter()`` draws the shuffled order)."""
        self.epoch += 1
        if self.batch_sampler is None:  # batch_size=None: the sampler's indices one by one
            return self._one_by_one(iter(self.sampler), jobs, drawn=True)
        rows = _tensor_rows(self.dataset) if self.collate_fn is None else None
        if rows is not None:
            drawn = _drawn_batches(self.batch_sampler)
            if drawn is not None:  # one of gradkit's samplers: the epoch's indices as one array
                order, size, drop_last, sequential = drawn
                order = self._indices(order, len(self.dataset))
                return self._gathered(rows, order, size, drop_last, sliced=sequential, jobs=jobs)
        return self._from_batches(iter(self.batch_sampler), rows, jobs)

    def _from_batches(self, batches: Iterator[Any], rows: Any, jobs: bool) -> Iterator[Any]:
        n = len(self.dataset)
        for batch in batches:
            if rows is not None:
                index = self._indices(self._batch_array(batch), n)
                tensors, base = rows[0].tensors, rows[1]
                if base is not None:
                    index = base[index]
                job: tuple[Any, Any] = (self._gather, (tensors, _on_devices(tensors, index)))
            elif isinstance(batch, (str, bytes)) or not _iterable(batch):
                raise ArgumentTypeError(
                    f"DataLoader: the {self._source} gave {describe(batch)} as a batch; expected a list of indices"
                )
            else:
                job = (self._fetch_drawn, list(batch) if jobs else batch)  # a sampler may refill one list
            yield job if jobs else job[0](job[1])

    def _fetch_drawn(self, batch: Any) -> Any:
        """The batch of the samples at the indices a sampler drew, collated."""
        return self._collate(self._samples(list(batch), drawn=True))

    def _samples(self, indices: list, drawn: bool) -> Any:
        """The samples at ``indices``: ``dataset.__getitems__(indices)`` where the dataset has one (PyTorch's
        batched read, whose result goes to the collate function as it is), else ``dataset[i]`` for each."""
        dataset = self.dataset
        getitems = getattr(dataset, "__getitems__", None)
        if callable(getitems):
            return getitems(indices)
        samples = []
        for i in indices:
            try:
                samples.append(dataset[i])
            except (IndexError, KeyError, TypeError) as exc:
                error = self._index_error(i, exc, drawn=drawn)
                if error is None:
                    raise
                raise error from exc
        return samples

    def _index_error(self, index: Any, exc: BaseException, drawn: bool) -> GradkitError | None:
        """gradkit's error for ``dataset[index]`` failing with ``exc``, when the index is at fault: out of range
        for a sampler's index, or refused by the subscription itself (a list, dict or array, or a
        ``__getitem__`` that cannot take it). None when ``exc`` came from the dataset's own Python code, which
        then propagates as itself (as in PyTorch)."""
        n = len(self.dataset)
        out = (
            drawn and isinstance(exc, IndexError) and isinstance(index, (int, np.integer)) and not -n <= int(index) < n
        )
        tb = exc.__traceback__
        if not out and tb is not None and tb.tb_next is not None:  # raised inside a __getitem__ of Python code
            return None
        name = type(self.dataset).__name__
        if not drawn:
            return ArgumentTypeError(
                f"DataLoader: the dataset ({name}) must give sample i for each index 0 <= i < len(dataset); "
                f"dataset[{index!r}] failed ({type(exc).__name__}: {exc})"
            )
        error = IndexOutOfRangeError if isinstance(exc, IndexError) else ArgumentTypeError
        return error(
            f"DataLoader: the {self._source} gave index {index!r}, and dataset[{index!r}] failed for the "
            f"dataset ({name}, {n} samples): {type(exc).__name__}: {exc}"
        )

    def _one_by_one(self, indices: Any, jobs: bool, drawn: bool) -> Iterator[Any]:
        """``batch_size=None``: each sample by itself (a TensorDataset's as a tuple of copied rows), or with
        ``jobs`` the ``(fn, arg)`` pairs that make them; ``drawn``: the indices come from a sampler."""
        rows = _tensor_rows(self.dataset) if self.collate_fn is None else None
        n = len(self.dataset)
        for i in indices:
            if rows is not None:
                index = int(self._indices(self._batch_array([i]), n)[0]) if drawn else int(i)
                job: tuple[Any, Any] = (self._row_sample, (rows, index))
            else:
                job = (self._fetch_one, (i if drawn else int(i), drawn))
            yield job if jobs else job[0](job[1])

    def _fetch_one(self, job: tuple[Any, bool]) -> Any:
        """Sample ``index`` (``job = (index, drawn)``) unbatched: as ``default_convert`` makes it, or
        ``collate_fn(sample)``."""
        index, drawn = job
        try:
            sample = self.dataset[index]
        except (IndexError, KeyError, TypeError) as exc:
            error = self._index_error(index, exc, drawn)
            if error is None:
                raise
            raise error from exc
        if self.collate_fn is None:
            return convert(sample, self.device, "DataLoader")
        return self._place_all(self.collate_fn(sample))

    def _row_sample(self, job: tuple[Any, int]) -> tuple[Tensor, ...]:
        """A TensorDataset's sample ``index`` unbatched (``job = (rows, index)``): its tensors' rows, copied (a
        sample is the caller's to change, as a batch is)."""
        (dataset, base), index = job
        if base is not None:
            index = int(base[index])
        return tuple(self._place(Tensor._make(t._data[index, ...].copy(), t._backend)) for t in dataset.tensors)

    def _collate(self, samples: list[Any]) -> Any:
        """One batch from its samples: ``collate_fn``'s, placed on ``device``, or the default collation."""
        if self.collate_fn is None:
            return collate(samples, self.device, "DataLoader")
        return self._place_all(self.collate_fn(samples))

    def _batch_array(self, batch: Any) -> np.ndarray:
        """A batch of indices from the batch sampler as an integer NumPy array (for a TensorDataset)."""
        if isinstance(batch, Tensor):
            batch = batch.numpy()
        elif hasattr(batch, "__cuda_array_interface__") and hasattr(batch, "get"):
            batch = batch.get()
        elif isinstance(batch, (list, tuple)) and any(isinstance(i, Tensor) or hasattr(i, "get") for i in batch):
            # 0-d tensors or device scalars, as iterating a tensor sampler (gk.randperm-like) gives
            batch = [int(i.item()) if isinstance(i, Tensor) and i.ndim == 0 and i.dtype.kind in "iu"
                     else int(i.get()) if hasattr(i, "get") and getattr(i, "ndim", 1) == 0
                     and i.dtype.kind in "iu" else i for i in batch]  # fmt: skip
        if isinstance(batch, (str, bytes)) or not hasattr(batch, "__len__"):
            raise ArgumentTypeError(
                f"DataLoader: the {self._source} gave {describe(batch)} as a batch; expected a list of int indices"
            )
        if isinstance(batch, (list, tuple)):
            for i in batch:
                if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
                    raise ArgumentTypeError(
                        f"DataLoader: the {self._source} gave index {describe(i)}; a TensorDataset's indices "
                        "must be ints"
                    )
        array = np.asarray(batch)
        if array.size == 0:
            return np.zeros(0, dtype=np.int64)
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise ArgumentTypeError(
                f"DataLoader: the {self._source} gave a batch of shape {array.shape} and dtype {array.dtype}; "
                "expected a list of int indices"
            )
        return array.astype(np.int64, copy=False)

    def _indices(self, order: np.ndarray, n: int) -> np.ndarray:
        """Indices from a sampler, checked against the dataset's length; negative ones count from the end."""
        if order.size:
            lo, hi = int(order.min()), int(order.max())
            if lo < -n or hi >= n:
                raise IndexOutOfRangeError(
                    f"DataLoader: the {self._source} gave index {lo if lo < -n else hi}, out of range for the "
                    f"dataset of {n} samples (indices must lie in [{-n}, {n}))"
                )
            if lo < 0:
                order = order % n
        return order

    def _batches(self, order: np.ndarray, jobs: bool) -> Iterator[Any]:
        if self.batch_size is None:
            yield from self._one_by_one(order, jobs, drawn=False)
            return
        n, size = len(order), self.batch_size
        stop = n - n % size if self.drop_last else n
        rows = _tensor_rows(self.dataset) if self.collate_fn is None else None
        if rows is not None:
            yield from self._gathered(rows, order, size, self.drop_last, sliced=not self.shuffle, jobs=jobs)
            return
        for start in range(0, stop, size):
            part = order[start : start + size]
            yield (self._fetch_ordered, part) if jobs else self._fetch_ordered(part)

    def _fetch_ordered(self, indices: np.ndarray) -> Any:
        """The batch of the samples at ``indices`` (of the loader's own order), collated. An exception of the
        dataset's own ``__getitem__`` propagates as itself (see ``_index_error``)."""
        return self._collate(self._samples(indices.tolist(), drawn=False))

    def _gathered(
        self, rows: Any, order: np.ndarray, size: int, drop_last: bool, sliced: bool, jobs: bool = False
    ) -> Iterator[Any]:
        """A TensorDataset's batches of ``size`` of ``order``'s indices, gathered by indexing its tensors
        (slices of them when ``sliced``: ``order`` is ``0, 1, ...`` and there is no Subset); with ``jobs``,
        the ``(fn, arg)`` pairs that gather them."""
        n = len(order)
        stop = n - n % size if drop_last else n
        tensors, base = rows[0].tensors, rows[1]
        fancy = not sliced or base is not None  # else batches are slices of the tensors
        if base is not None:
            order = base[order]
        index = _on_devices(tensors, order) if fancy else {}
        for start in range(0, stop, size):
            part = slice(start, min(start + size, n))
            if jobs:
                yield self._gather, (tensors, {d: i[part] for d, i in index.items()} if fancy else part)
            else:  # the hot path, written out
                yield tuple(self._rows(t, index[t.device][part] if fancy else part) for t in tensors)

    def _gather(self, job: tuple[tuple[Tensor, ...], Any]) -> tuple[Tensor, ...]:
        """One batch of a TensorDataset's rows: ``job`` is its tensors and a slice or ``{device: indices}``."""
        tensors, key = job
        return tuple(self._rows(t, key[t.device] if type(key) is dict else key) for t in tensors)

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
        if self._streamed:
            return (
                f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}, drop_last={self.drop_last}, "
                f"device={self.device}{self._workers_repr()})"
            )
        if self._source == "batch_sampler":
            return (
                f"DataLoader({len(self.dataset)} samples, batch_sampler={self.batch_sampler!r}, "
                f"device={self.device}{self._workers_repr()})"
            )
        if self._source == "sampler":
            return (
                f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, sampler={self.sampler!r}, "
                f"drop_last={self.drop_last}, device={self.device}{self._workers_repr()})"
            )
        return (
            f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed}, device={self.device}{self._workers_repr()})"
        )

    def _workers_repr(self) -> str:
        if not self.num_workers:
            return ""
        return f", num_workers={self.num_workers}" + ("" if self.in_order else ", in_order=False")


def _check_map_style(dataset: Any) -> None:
    """A map-style dataset must have ``__len__`` and ``__getitem__``."""
    try:
        len(dataset)
        sized = hasattr(dataset, "__getitem__")
    except TypeError:  # a 0-d array has __len__ but no length
        sized = False
    if not sized:
        raise ArgumentTypeError(
            f"DataLoader: the dataset must have __len__ and __getitem__ (or be a gk.data.IterableDataset), "
            f"got {type(dataset).__name__}"
        )


def _check_stream_options(shuffle: Any, sampler: Any, batch_sampler: Any, batch_size: Any, drop_last: Any) -> None:
    """The options an IterableDataset refuses (PyTorch's rules): its iterator sets the order of the samples."""
    if shuffle is not None and flag(shuffle, "DataLoader", "shuffle"):
        raise _fixed_order("shuffle", shuffle, "None or False")
    for name, value in (("sampler", sampler), ("batch_sampler", batch_sampler)):
        if value is not None:
            raise _fixed_order(name, value, "None")
    if batch_size is None and flag(drop_last, "DataLoader", "drop_last"):
        raise InvalidArgumentError(_UNBATCHED_DROP_LAST)


def _fixed_order(name: str, value: Any, expected: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"DataLoader: got {name}={value!r:.60} for an IterableDataset, whose iterator sets the order of the "
        f"samples; {name} must be {expected} there"
    )


_UNBATCHED_DROP_LAST = (
    "DataLoader: got batch_size=None with drop_last=True; batch_size=None hands out single samples, not "
    "batches, so there is no short last batch to drop (give a batch_size, or leave drop_last False)"
)


def _state_root(generator: np.random.Generator) -> int:
    """The workers' root seed for ``DataLoader(generator=...)``: a hash of the generator's current state, read
    without drawing from it (its stream stays the epochs' orders) and without drawing from gradkit's generator."""
    entropy: list[int] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value, key=str):
                walk(value[key])
        elif isinstance(value, np.ndarray):
            entropy.extend(int(v) & 0xFFFFFFFFFFFFFFFF for v in value.ravel().tolist())
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            entropy.append(int(value) & ((1 << 128) - 1))

    walk(generator.bit_generator.state)
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _loader_generator(generator: Any, seed: Any) -> np.random.Generator | None:
    """``DataLoader(generator=...)``: a ``gk.Generator`` (PyTorch's ``torch.Generator``) or another
    ``numpy.random.Generator``, that draws the ``shuffle=True`` orders; not with ``seed``."""
    if generator is None:
        return None
    if not isinstance(generator, np.random.Generator):
        raise ArgumentTypeError(
            f"DataLoader: generator must be None or a numpy.random.Generator, such as a gk.Generator (PyTorch's "
            f"torch.Generator), got {describe(generator)}; for a repeatable order pass seed= (an int)"
        )
    if seed is not None:
        raise InvalidArgumentError(f"DataLoader: pass seed={seed!r} or generator, not both")
    return generator


def _check_samplers(
    sampler: Any, batch_sampler: Any, batch_size: int | None, shuffle: bool, drop_last: bool, seed: Any
) -> None:
    """PyTorch's rules for ``sampler=`` and ``batch_sampler=``, plus: ``seed`` only seeds ``shuffle=True``."""
    for name, value in (("sampler", sampler), ("batch_sampler", batch_sampler)):
        if value is not None and not _iterable(value):
            raise ArgumentTypeError(
                f"DataLoader: {name} must be None, a Sampler or an iterable of "
                f"{'indices' if name == 'sampler' else 'lists of indices'}, got {describe(value)}"
            )
    if sampler is not None and shuffle:
        raise InvalidArgumentError(
            f"DataLoader: got shuffle=True with sampler={type(sampler).__name__}, which sets the order itself; "
            "leave shuffle False, or pass a RandomSampler as the sampler"
        )
    if batch_sampler is not None:
        clashes = [
            text
            for text, clash in (
                (f"batch_size={batch_size}", batch_size != 1),
                ("shuffle=True", shuffle),
                (f"sampler={type(sampler).__name__}", sampler is not None),
                ("drop_last=True", drop_last),
            )
            if clash
        ]
        if clashes:
            raise InvalidArgumentError(
                f"DataLoader: got {', '.join(clashes)} with a batch_sampler, which makes the batches itself; "
                "batch_size, shuffle, sampler and drop_last must keep their defaults (1, False, None, False) then"
            )
    elif batch_size is None and drop_last:
        raise InvalidArgumentError(_UNBATCHED_DROP_LAST)
    if seed is not None and (sampler is not None or batch_sampler is not None):
        given = "sampler" if sampler is not None else "batch_sampler"
        raise InvalidArgumentError(
            f"DataLoader: seed={seed} only orders shuffle=True; with a {given} pass seed= to the sampler "
            "instead (RandomSampler(dataset, seed=...))"
        )


def _on_devices(tensors: tuple[Tensor, ...], order: np.ndarray) -> dict[Any, Any]:
    """``order`` once on each device that holds one of ``tensors``."""
    index = {}
    for t in tensors:
        if t.device not in index:
            index[t.device] = t._backend.asarray(order)
    return index


def _tensor_rows(dataset: Any) -> tuple[TensorDataset, np.ndarray | None] | None:
    """``(tensor_dataset, indices)`` when ``dataset`` is a TensorDataset (indices None) or a Subset of one,
    possibly nested (indices into its tensors): then batches are gathered by indexing the tensors."""
    index = None
    while type(dataset).__getitem__ is Subset.__getitem__ and _own_getitems(dataset, Subset):
        inner = np.asarray(dataset.indices)
        if inner.size and inner.dtype.kind not in "iu":  # Subset checks them, but .indices may be replaced later
            raise ArgumentTypeError(f"DataLoader: a Subset's indices must be integers, got dtype {inner.dtype}")
        inner = inner.astype(np.int64, copy=False)
        index = inner if index is None else inner[index]
        dataset = dataset.dataset
    if type(dataset).__getitem__ is not TensorDataset.__getitem__ or not _own_getitems(dataset, TensorDataset):
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


def _own_getitems(dataset: Any, base: type) -> bool:
    """Whether ``dataset``'s ``__getitems__`` is ``base``'s own (or both have none): a subclass that defines
    its own batched read is read through it (as PyTorch's DataLoader), not gathered from the tensors."""
    return getattr(type(dataset), "__getitems__", None) is getattr(base, "__getitems__", None)


class _Stream:
    """One thread's pass over an IterableDataset: ``iter(dataset)`` at its first batch, then item after item."""

    __slots__ = ("dataset", "items", "ended")

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self.items: Iterator[Any] | None = None
        self.ended = False

    def begin(self) -> None:
        self.ended = True  # an iter() that fails ends the stream: its error is raised once
        self.items = iter(self.dataset)
        self.ended = False


class _InlineStream:
    """The iterator of ``DataLoader(num_workers=0)`` over an IterableDataset: each batch made when asked for."""

    __slots__ = ("_make", "_stream", "_check")

    def __init__(self, make: Callable[[_Stream], Any], stream: _Stream, check: _LengthCheck | None) -> None:
        self._make, self._stream, self._check = make, stream, check

    def __iter__(self) -> _InlineStream:
        return self

    def __next__(self) -> Any:
        batch = self._make(self._stream)
        if batch is END:
            raise StopIteration
        if self._check is not None:
            self._check()
        return batch


class _LengthCheck:
    """Counts a pass's batches and warns once when there are more than ``len(loader)`` said (as PyTorch warns)."""

    __slots__ = ("name", "announced", "count")

    def __init__(self, dataset: Any, announced: int) -> None:
        self.name, self.announced, self.count = type(dataset).__name__, announced, 0

    def __call__(self) -> None:
        self.count += 1
        if self.count == self.announced + 1:
            warnings.warn(
                f"DataLoader: len(dataloader) was {self.announced} from the length of the IterableDataset "
                f"{self.name}, but {self.count} batches have been fetched; with num_workers > 0 each worker "
                "must yield only its share of the items (see gk.data.get_worker_info)",
                UserWarning,
                stacklevel=3,
            )
