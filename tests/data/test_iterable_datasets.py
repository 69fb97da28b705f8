"""gk.data.IterableDataset, ChainDataset, and the DataLoader over iterable-style datasets (streams).

Worker order, prefetch and shutdown are tested with events and conditions, never sleeps.
"""

from __future__ import annotations

import itertools
import math
import threading
import warnings
from collections import namedtuple

import numpy as np
import pytest
from worker_threads import (
    Recorder,
    all_stop,
    check_dropped_loader_stops_threads,
    check_no_more_than_prefetch_factor_batches_ahead,
    check_stopping_early_leaves_no_thread_behind,
    labels,
    new_threads,
)

import gradkit as gk
from gradkit.data import (
    ChainDataset,
    DataLoader,
    IterableDataset,
    TensorDataset,
    WorkerError,
    get_worker_info,
    random_split,
)


class Stream(Recorder, IterableDataset):
    """Yields (v as a float32 row of 2, v). Sharded: worker w of k yields v = w, w + k, w + 2k, ... below n,
    so the round-robin order is 0, 1, 2, ...; unsharded, every thread yields 0 .. n-1. Logs each yield
    (``log``: value -> worker id, grad mode, default device), can hold a value at a gate, or raise at it."""

    def __init__(self, n: int, sharded: bool = True, gate: dict | None = None, fail: dict | None = None) -> None:
        super().__init__(gate, fail)
        self.n, self.sharded = n, sharded

    def __iter__(self):
        info = get_worker_info()
        start, step = (info.id, info.num_workers) if info and self.sharded else (0, 1)
        for v in range(start, self.n, step):
            self.made(v, (info and info.id, gk.is_grad_enabled(), gk.default_device()))
            yield np.full(2, v, dtype=np.float32), v


class Counts(IterableDataset):
    """Worker w (0 without workers) yields 100 * w + k for k < counts[w]; info_fn is gk's or torch's get_worker_info."""

    def __init__(self, counts: list[int], info_fn=get_worker_info) -> None:
        self.counts, self.info_fn = counts, info_fn

    def __iter__(self):
        info = self.info_fn()
        w = 0 if info is None else info.id
        return iter(range(100 * w, 100 * w + self.counts[w]))


class Sized(Counts):
    def __init__(self, n: int, announced: int) -> None:
        super().__init__([n])
        self.announced = announced

    def __len__(self) -> int:
        return self.announced


class Range(IterableDataset):
    """start, start + 1, ... below end."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end

    def __iter__(self):
        return iter(range(self.start, self.end))


def _split_range(info_fn):
    """A worker_init_fn that leaves worker w of k the w-th of k runs of ``ceil(len / k)`` of its dataset's
    [start, end) by changing ``info.dataset``: PyTorch's documented way to shard an IterableDataset."""

    def init(worker_id):
        info = info_fn()
        ds = info.dataset
        per = math.ceil((ds.end - ds.start) / info.num_workers)
        ds.start, ds.end = ds.start + worker_id * per, min(ds.start + (worker_id + 1) * per, ds.end)

    return init


def _values(loader) -> list:
    return [b.tolist() if isinstance(b, gk.Tensor) else b for b in loader]


def test_iterable_and_chain_datasets():
    with pytest.raises(TypeError, match="abstract"):
        IterableDataset()  # as PyTorch: __iter__ must be defined
    a, b = Counts([3]), Sized(2, 2)
    chain = a + b
    assert isinstance(chain, ChainDataset) and isinstance(chain, gk.data.Dataset) and chain.datasets == [a, b]
    assert list(chain) == [0, 1, 2, 0, 1] and list(a) == [0, 1, 2]  # list() does without a length
    assert len(ChainDataset([b, b])) == 4 and len(ChainDataset([])) == 0 and "2 datasets" in repr(chain)
    with pytest.raises(TypeError, match="Counts has no len"):
        len(a)
    with pytest.raises(
        gk.ArgumentTypeError, match=r"ChainDataset: len\(\) needs .* dataset 1 \(Counts\) has no __len__"
    ):
        len(b + a)
    with pytest.raises(gk.ArgumentTypeError, match=r"ChainDataset: dataset 1 \(list\) is not an IterableDataset"):
        a + [1, 2]
    with pytest.raises(gk.ArgumentTypeError, match="datasets must be a list of IterableDatasets, got Counts"):
        ChainDataset(a)
    tensors = TensorDataset(gk.zeros(2))
    with pytest.raises(gk.ArgumentTypeError, match=r"ConcatDataset: dataset 1 is an IterableDataset \(Sized\)"):
        tensors + b
    with pytest.raises(gk.ArgumentTypeError, match="random_split: the dataset is an IterableDataset"):
        random_split(b, [1, 1])
    with pytest.raises(NotImplementedError, match="Counts does not define __getitem__"):
        a[0]


def test_batches_in_order_drop_last_len_and_device(device):
    loader = DataLoader(Stream(7), batch_size=3, device=device)
    for _ in range(2):  # every iter() is a new pass
        batches = list(loader)
        assert [b[1].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
        assert batches[0][0].shape == (3, 2) and batches[0][0].dtype == gk.float32
        assert {b[0].device for b in batches} == {gk.zeros(1, device=device).device}
    assert labels(DataLoader(Stream(7), batch_size=3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert labels(DataLoader(Stream(6), batch_size=3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert _values(DataLoader(Counts([5]), batch_size=2, collate_fn=lambda s: [-v for v in s])) == [
        [0, -1], [-2, -3], [-4]]  # fmt: skip
    assert [len(DataLoader(Sized(7, 7), batch_size=3, drop_last=d)) for d in (False, True)] == [3, 2]
    assert len(DataLoader(Sized(7, 7), batch_size=None)) == 7
    with pytest.raises(TypeError, match=r"DataLoader: len\(\) needs the length of its IterableDataset, and Counts"):
        len(DataLoader(Counts([3])))
    assert list(DataLoader(Counts([3]), batch_size=None)) == [0, 1, 2]  # list() does without a length too
    assert "DataLoader(Stream, batch_size=3, drop_last=False" in repr(loader)


def test_batch_size_none_converts_each_item_as_default_convert(device):
    Pair = namedtuple("Pair", "x y")

    class Items(IterableDataset):
        def __iter__(self):
            yield np.arange(3, dtype=np.float64)
            yield np.int32(4)
            yield (np.ones(2, dtype=np.float32), 5, "a")
            yield {"x": [np.zeros(1)], "y": np.array(["s"]), "z": 2.5}
            yield Pair(np.array(1), gk.ones(2, requires_grad=True))

    want = gk.zeros(1, device=device).device
    a, b, triple, d, e = DataLoader(Items(), batch_size=None, device=device)
    c, n, s = triple  # a tuple, as gk.data.default_collate keeps them (PyTorch's default_convert makes lists)
    assert type(triple) is tuple
    assert a.tolist() == [0.0, 1.0, 2.0] and a.dtype == gk.float64 and a.device == want
    assert b.shape == () and b.dtype == gk.int32 and b.item() == 4
    assert c.tolist() == [1.0, 1.0] and (n, s) == (5, "a")  # Python numbers and strings stay as they are
    assert isinstance(d["x"], list) and d["x"][0].tolist() == [0.0] and d["y"].tolist() == ["s"] and d["z"] == 2.5
    assert type(e) is Pair and e.x.item() == 1 and e.y.device == want and not e.y.requires_grad
    assert _values(DataLoader(Counts([3]), batch_size=None, collate_fn=lambda v: v * 10)) == [0, 10, 20]

    class Complex(IterableDataset):
        def __iter__(self):
            yield np.ones(2, dtype=np.complex64)

    with pytest.raises(gk.DTypeError, match="DataLoader: an item of the dataset cannot become a tensor"):
        list(DataLoader(Complex(), batch_size=None))


def test_options_refused_as_pytorch():
    ds = Counts([4])
    errors = [
        (dict(shuffle=True), "got shuffle=True for an IterableDataset, .*; shuffle must be None or False there"),
        (dict(sampler=[0, 1]), r"got sampler=\[0, 1\] for an IterableDataset, .*; sampler must be None there"),
        (dict(batch_sampler=[[0]]), r"got batch_sampler=\[\[0\]\] for an IterableDataset, whose iterator sets the "
                                    "order of the samples; batch_sampler must be None there"),
    ]
    for kwargs, message in errors:
        with pytest.raises(gk.InvalidArgumentError, match=f"DataLoader: {message}"):
            DataLoader(ds, **kwargs)
    with pytest.raises(ValueError, match="DataLoader: got batch_size=None with drop_last=True; .*no short last batch"):
        DataLoader(ds, batch_size=None, drop_last=True)
    loader = DataLoader(ds, batch_size=2, shuffle=None, seed=3)  # as PyTorch: shuffle=None is unspecified
    assert (loader.sampler, loader.batch_sampler, loader.shuffle, loader.batch_size) == (None, None, False, 2)
    with pytest.raises(gk.InvalidArgumentError, match="DataLoader.order: an IterableDataset"):
        loader.order(0)
    with pytest.raises(gk.ArgumentTypeError, match="must have __len__ and __getitem__ \\(or be a gk.data.Iterable"):
        DataLoader(iter([1, 2]))


def test_a_stream_longer_than_its_len_warns_once_per_pass():
    loader = DataLoader(Sized(10, 4), batch_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sum(1 for _ in loader) == 10  # len() not asked: nothing to check against
    assert len(loader) == 4
    with pytest.warns(UserWarning, match=r"len\(dataloader\) was 4 .* Sized, but 5 batches") as record:
        assert len(list(loader)) == 10
    assert len(record) == 1
    loader = DataLoader(Sized(10, 4), batch_size=3)  # 4 batches where len() said 2
    assert len(loader) == 2
    with pytest.warns(UserWarning, match=r"len\(dataloader\) was 2 .* but 3 batches"):
        assert _values(loader)[-1] == [9]


def test_workers_shard_by_worker_info_and_take_turns():
    inits = {}
    data = Stream(10)
    loader = DataLoader(
        data, batch_size=2, num_workers=3, worker_init_fn=lambda w: inits.update({w: get_worker_info()})
    )
    # worker w yields w, w + 3, ...; batch k is worker k % 3's next two items
    assert labels(loader) == [[0, 3], [1, 4], [2, 5], [6, 9], [7], [8]]
    assert {v: m[0] for v, m in data.log.items()} == {v: v % 3 for v in range(10)}
    assert sorted(inits) == [0, 1, 2] and {i.num_workers for i in inits.values()} == {3}
    copies = [inits[w].dataset for w in range(3)]  # each worker iterates its own shallow copy, as in PyTorch
    assert len({id(c) for c in copies} | {id(data)}) == 4 and all(type(c) is Stream for c in copies)
    # a worker whose stream has ended is skipped; the others go on in turn (PyTorch's order)
    counts = DataLoader(Counts([5, 2, 7]), batch_size=2, num_workers=3)
    expected = [[0, 1], [100, 101], [200, 201], [2, 3], [202, 203], [4], [204, 205], [206]]
    assert _values(counts) == expected
    assert _values(DataLoader(Counts([3, 1]), batch_size=None, num_workers=2)) == [0, 100, 1, 2]
    assert _values(DataLoader(Counts([5, 2, 7]), batch_size=2, num_workers=3, drop_last=True)) == [
        b for b in expected if len(b) == 2]  # fmt: skip
    # unsharded, each worker yields every item (as PyTorch)
    assert [b[1] for b in DataLoader(Stream(3, sharded=False), batch_size=None, num_workers=2)] == [0, 0, 1, 1, 2, 2]


def test_worker_init_fn_shards_its_workers_own_copy():
    data = Range(3, 10)
    for persistent in (False, True):  # new copies each pass; or one per kept worker, sharded once
        loader = DataLoader(
            data, batch_size=None, num_workers=2, worker_init_fn=_split_range(get_worker_info),
            persistent_workers=persistent)  # fmt: skip
        assert list(loader) == list(loader) == [3, 7, 4, 8, 5, 9, 6]  # worker 0: 3..6, worker 1: 7..9
    assert (data.start, data.end) == (3, 10)  # the loader's dataset is untouched

    class Uncopyable(Counts):
        def __copy__(self):
            raise TypeError("no copies")

    with pytest.raises(gk.ArgumentTypeError, match=r"copying Uncopyable failed \(TypeError: no copies\)"):
        iter(DataLoader(Uncopyable([1, 1]), num_workers=2))
    assert list(DataLoader(Uncopyable([2]), batch_size=None)) == [0, 1]  # no workers: no copies


def test_workers_run_in_the_callers_grad_mode_and_device(device):
    data = Stream(4)
    with gk.device(device), gk.no_grad():
        batches = list(DataLoader(data, batch_size=2, num_workers=2))
    want = gk.zeros(1, device=device).device
    assert [b[1].tolist() for b in batches] == [[0, 2], [1, 3]] and {b[1].device for b in batches} == {want}
    assert {(m[1], m[2]) for m in data.log.values()} == {(False, want)}


def test_no_more_than_prefetch_factor_batches_ahead():
    check_no_more_than_prefetch_factor_batches_ahead(Stream(9))


def test_worker_exception_and_timeout():
    data = Stream(10, fail={3: ValueError("bad item 3"), 6: KeyError(6)})
    it = iter(DataLoader(data, batch_size=None, num_workers=2))
    assert [next(it)[1] for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match=r"worker 1 failed on batch 3 with ValueError: bad item 3") as info:
        next(it)
    assert isinstance(info.value.__cause__, ValueError)
    assert next(it)[1] == 4  # the loop goes on; worker 1's generator has ended with its error
    with pytest.raises(KeyError, match="worker 0 failed on batch 5 with KeyError"):  # counting batches, not requests
        next(it)
    assert list(it) == []

    def init(worker_id):
        raise RuntimeError("no init")

    it = iter(DataLoader(Stream(4), batch_size=None, num_workers=2, worker_init_fn=init))
    with pytest.raises(RuntimeError, match="worker 0 failed on batch 0 with RuntimeError: no init"):
        next(it)
    with pytest.raises(RuntimeError, match="worker 1 failed on batch 1"):  # each worker's first batch, as PyTorch
        next(it)
    assert [b[1] for b in it] == [0, 1, 2, 3]  # then their streams
    gate = {0: threading.Event()}
    data = Stream(3, gate=gate)
    it = iter(DataLoader(data, batch_size=None, num_workers=2, timeout=0.2))
    with pytest.raises(WorkerError, match=r"batch 0 did not come from worker 0 within timeout=0.2 seconds"):
        next(it)
    gate[0].set()
    data.wait_for({0, 1, 2})  # what is left to do (collating one number) takes far less than the timeout
    assert [b[1] for b in it] == [0, 1, 2]


def test_stopping_early_leaves_no_thread_behind():
    check_stopping_early_leaves_no_thread_behind(
        lambda num_workers, gate=None: DataLoader(Stream(20, gate=gate), batch_size=2, num_workers=num_workers)
    )


def test_dropping_a_persistent_loader_over_an_endless_stream_stops_its_threads_without_the_gc():
    class Endless(IterableDataset):
        def __iter__(self):
            return (np.float32(v) for v in itertools.count())

    check_dropped_loader_stops_threads(
        lambda: DataLoader(Endless(), batch_size=2, num_workers=2, persistent_workers=True)
    )


def test_persistent_workers_iterate_anew_each_pass():
    before = set(threading.enumerate())
    inits = []
    loader = DataLoader(Stream(6), batch_size=2, num_workers=2, persistent_workers=True, worker_init_fn=inits.append)
    assert labels(loader) == labels(loader) == [[0, 2], [1, 3], [4], [5]]
    assert sorted(inits) == [0, 1]  # once per worker, not per pass
    it1 = iter(loader)
    next(it1)
    it2 = iter(loader)  # as PyTorch: the same iterator, restarted
    assert it1 is it2 and labels(it1) == [[0, 2], [1, 3], [4], [5]] and list(it2) == []
    threads = new_threads(before)
    assert len(threads) == 2 and all(t.is_alive() for t in threads)
    del loader, it1, it2  # no reference cycle: the threads stop without the garbage collector
    all_stop(threads)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batch_order_as_pytorch(num_workers):
    torch = pytest.importorskip("torch")
    from torch.utils import data as tdata

    class TorchCounts(tdata.IterableDataset):
        def __init__(self, counts):
            self.counts = counts

        def __iter__(self):
            return iter(Counts(self.counts, tdata.get_worker_info))

    for counts, kwargs in [([5, 2], dict(batch_size=2)), ([5, 2], dict(batch_size=2, drop_last=True)),
                           ([3, 4], dict(batch_size=None)), ([7, 1], dict(batch_size=3))]:  # fmt: skip
        ours = _values(DataLoader(Counts(counts), num_workers=num_workers, **kwargs))
        theirs = tdata.DataLoader(TorchCounts(counts), num_workers=num_workers, **kwargs)
        assert ours == [b.tolist() if isinstance(b, torch.Tensor) else b for b in theirs], (counts, kwargs)


def test_worker_init_fn_sharding_as_pytorch():
    pytest.importorskip("torch")
    from torch.utils import data as tdata

    class TorchRange(tdata.IterableDataset):
        def __init__(self, start, end):
            self.start, self.end = start, end

        def __iter__(self):
            return iter(range(self.start, self.end))

    for kwargs in [dict(batch_size=None, num_workers=2), dict(batch_size=3, num_workers=2)]:
        ours = _values(DataLoader(Range(3, 12), worker_init_fn=_split_range(get_worker_info), **kwargs))
        theirs = tdata.DataLoader(TorchRange(3, 12), worker_init_fn=_split_range(tdata.get_worker_info), **kwargs)
        assert ours == [b if isinstance(b, int) else b.tolist() for b in theirs], kwargs
