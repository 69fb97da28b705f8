"""DataLoader(in_order=False): batches given back as the workers finish them, as PyTorch's.

A slow sample is a gate (an Event) that the test opens once the loop has taken what should come first, so
every order checked here is deterministic; no test sleeps.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from worker_threads import (
    WAIT,
    Log,
    Recorder,
    all_stop,
    check_dropped_loader_stops_threads,
    check_stopping_early_leaves_no_thread_behind,
    labels,
    new_threads,
)

import gradkit as gk
from gradkit.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    TensorDataset,
    WorkerError,
    default_collate,
    get_worker_info,
)


class Stream(Recorder, IterableDataset):
    """Worker w of k yields (v as a float32 row of 2, v) for v = w, w + k, ... below n; logs and gates by v."""

    def __init__(self, n: int, gate: dict | None = None, fail: dict | None = None) -> None:
        super().__init__(gate, fail)
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (info.id, info.num_workers) if info else (0, 1)
        for v in range(start, self.n, step):
            self.made(v, (info and info.id,))
            yield np.full(2, v, dtype=np.float32), v


def take(it, k: int) -> list:
    """The labels of the next ``k`` batches of ``it``."""
    return [next(it)[1].tolist() for _ in range(k)]


def items(batches) -> list[int]:
    """The label of each batch of one sample."""
    return [batch[1].item() for batch in batches]


def test_a_slow_sample_lets_later_batches_come_first_only_out_of_order():
    loader = DataLoader(Log(12), batch_size=2, shuffle=True, seed=5, num_workers=2)
    batches = loader.order(0).reshape(6, 2).tolist()
    gate = {batches[0][0]: threading.Event()}  # batch 0 (worker 0's) waits
    data = Log(12, gate=gate)
    it = iter(DataLoader(data, batch_size=2, shuffle=True, seed=5, num_workers=2, in_order=False))
    # worker 0 holds batches 0 and 2 (its prefetch_factor); the others all go to worker 1 meanwhile
    assert take(it, 4) == [batches[i] for i in (1, 3, 4, 5)]
    gate[batches[0][0]].set()
    assert labels(it) == [batches[0], batches[2]]
    assert {data.log[i][0] for b in (0, 2) for i in batches[b]} == {0}

    gate = {0: threading.Event()}
    data = Log(12, gate=gate)
    it = iter(DataLoader(data, batch_size=2, num_workers=2))  # in_order=True, the default
    data.wait_for({2, 3, 6, 7})  # worker 1 has made batches 1 and 3 while worker 0 waits
    gate[0].set()
    assert labels(it) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]


def test_a_slow_stream_lets_the_other_workers_batches_come_first():
    gate = {0: threading.Event()}
    data = Stream(9, gate=gate)
    it = iter(DataLoader(data, batch_size=None, num_workers=2, in_order=False))
    assert [next(it)[1] for _ in range(4)] == [1, 3, 5, 7]  # worker 1's stream while worker 0 waits
    gate[0].set()
    assert [b[1] for b in it] == [0, 2, 4, 6, 8]  # each worker's own items keep their order

    gate = {0: threading.Event()}
    data = Stream(9, gate=gate)
    it = iter(DataLoader(data, batch_size=2, num_workers=2))  # in order: the workers take turns
    data.wait_for({1, 3})
    gate[0].set()
    assert labels(it) == [[0, 2], [1, 3], [4, 6], [5, 7], [8]]


def test_every_batch_comes_once_with_the_samplers_samples(device):
    x = gk.tensor(np.arange(26, dtype=np.float32).reshape(13, 2), device=device)
    tensors = TensorDataset(x, gk.arange(13, device=device))
    cases = [  # each makes its dataset and arguments anew: samplers count their epochs
        lambda: (Log(11), dict(batch_size=3, shuffle=True, seed=4)),
        lambda: (tensors, dict(batch_size=4, shuffle=True, seed=1, drop_last=True)),
        lambda: (tensors, dict(batch_size=5)),
        lambda: (gk.data.Subset(tensors, [5, 2, 7, 0, 11]), dict(batch_size=2)),
        lambda: (tensors, dict(batch_sampler=BatchSampler(gk.data.RandomSampler(tensors, seed=2), 3, False))),
        lambda: (Log(7), dict(sampler=[6, 0, 5, 1], batch_size=3)),
        lambda: (Stream(10), dict(batch_size=3)),
        lambda: (Log(9), dict(batch_size=2, persistent_workers=True)),
    ]
    for case in cases:
        (data, kwargs), (data2, kwargs2) = case(), case()
        ordered = DataLoader(data, num_workers=3, **kwargs)
        loose = DataLoader(data2, num_workers=3, in_order=False, prefetch_factor=1, **kwargs2)
        for _ in range(2):  # two epochs (passes of the same threads with persistent_workers)
            want = sorted(labels(ordered))
            got = labels(loose)
            assert sorted(got) == want, kwargs


def test_in_order_is_checked_kept_and_ignored_without_workers():
    with pytest.raises(gk.ArgumentTypeError, match=r"DataLoader: in_order must be True or False, got str 'no'"):
        DataLoader(Log(2), num_workers=2, in_order="no")
    with pytest.raises(gk.ArgumentTypeError, match="in_order must be True or False, got NoneType"):
        DataLoader(Log(2), in_order=None)
    assert DataLoader(Log(2)).in_order is True
    loader = DataLoader(Log(4), in_order=np.bool_(False))
    assert loader.in_order is False and items(loader) == [0, 1, 2, 3]  # num_workers=0: in order
    assert "in_order=False" in repr(DataLoader(Log(4), num_workers=2, in_order=False))
    assert "in_order" not in repr(DataLoader(Log(4), num_workers=2))


def test_no_more_than_prefetch_factor_batches_ahead():
    gate = {0: threading.Event()}
    data = Log(9, gate=gate)
    it = iter(DataLoader(data, num_workers=2, prefetch_factor=1, in_order=False))
    for k in range(1, 9):  # worker 0 waits with batch 0, so worker 1 makes every other one, one at a time
        data.wait_for({k})
        assert set(data.log) == set(range(1, k + 1))
        assert next(it)[1].item() == k
    gate[0].set()
    assert items(it) == [0]

    gate = {0: threading.Event()}
    data = Stream(9, gate=gate)
    it = iter(DataLoader(data, batch_size=None, num_workers=2, prefetch_factor=1, in_order=False))
    for k in (1, 3, 5, 7):
        data.wait_for({k})
        assert set(data.log) == set(range(1, k + 1, 2))
        assert next(it)[1] == k
    gate[0].set()
    assert [b[1] for b in it] == [0, 2, 4, 6, 8]


def test_worker_errors_come_with_their_batch():
    gate = {0: threading.Event()}
    data = Log(6, gate=gate, fail={3: ValueError("bad sample 3")})
    it = iter(DataLoader(data, num_workers=2, in_order=False))
    assert items([next(it)]) == [1]
    with pytest.raises(ValueError, match=r"worker 1 failed on batch 3 with ValueError: bad sample 3") as info:
        next(it)
    assert isinstance(info.value.__cause__, ValueError)
    assert items([next(it), next(it)]) == [4, 5]  # the loop goes on
    gate[0].set()
    assert items(it) == [0, 2]

    def init(worker_id):
        if worker_id == 1:
            raise RuntimeError("no init for 1")

    got, errors = [], []
    it = iter(DataLoader(Log(4), num_workers=2, worker_init_fn=init, in_order=False))
    while True:
        try:
            got.append(next(it)[1].item())
        except StopIteration:
            break
        except RuntimeError as exc:
            errors.append(str(exc))
    assert sorted(got) == [0, 2, 3] and len(errors) == 1 and "worker 1 failed on batch 1" in errors[0]

    it = iter(DataLoader(Log(4), batch_sampler=[[0], [1], "x", [2]], num_workers=2, in_order=False))
    assert sorted(items([next(it), next(it)])) == [0, 1]
    with pytest.raises(gk.ArgumentTypeError, match="batch_sampler gave str 'x' as a batch"):
        next(it)  # after every batch drawn before it
    with pytest.raises(StopIteration):
        next(it)

    gate = {0: threading.Event()}
    data = Stream(10, gate=gate, fail={3: KeyError(3)})
    it = iter(DataLoader(data, batch_size=None, num_workers=2, in_order=False))
    assert next(it)[1] == 1
    with pytest.raises(KeyError, match="worker 1 failed on batch 1 with KeyError"):  # counting batches given back
        next(it)
    gate[0].set()
    assert [b[1] for b in it] == [0, 2, 4, 6, 8]  # worker 1's generator ended with its error


def test_timeout_names_the_waiting_workers():
    """Worker 0's batches wait at a gate; worker 1's is made before the loop asks for it, so the only wait that
    the timeout can end is the one for worker 0 (thread start-up and worker 1's batch are not timed)."""
    gate = {0: threading.Event()}
    data = Log(3, gate=gate)
    made_1 = threading.Event()

    def collate(samples):
        batch = default_collate(samples)
        if batch[1].tolist() == [1]:
            made_1.set()  # only putting the batch on the results queue is left
        return batch

    it = iter(DataLoader(data, num_workers=2, timeout=0.2, in_order=False, collate_fn=collate))
    assert made_1.wait(WAIT)
    assert items([next(it)]) == [1]
    with pytest.raises(WorkerError, match=r"none of the 2 batches being made \(by worker 0\) came within timeout=0.2"):
        next(it)
    gate[0].set()
    data.wait_for({0, 2})
    assert items(it) == [0, 2]


def test_stopping_early_leaves_no_thread_behind():
    check_stopping_early_leaves_no_thread_behind(
        lambda num_workers, gate=None: DataLoader(
            Log(20, gate=gate), batch_size=2, num_workers=num_workers, in_order=False
        )
    )
    check_stopping_early_leaves_no_thread_behind(
        lambda num_workers, gate=None: DataLoader(
            Stream(20, gate=gate), batch_size=2, num_workers=num_workers, in_order=False
        )
    )


def test_dropping_a_persistent_loader_stops_its_threads_without_the_gc():
    check_dropped_loader_stops_threads(
        lambda: DataLoader(Log(20), batch_size=2, num_workers=2, persistent_workers=True, in_order=False)
    )
    check_dropped_loader_stops_threads(
        lambda: DataLoader(Stream(20), batch_size=2, num_workers=2, persistent_workers=True, in_order=False)
    )


def test_persistent_workers_start_a_new_pass_past_a_stuck_one():
    before = set(threading.enumerate())
    gate = {0: threading.Event()}
    loader = DataLoader(Log(8, gate=gate), batch_size=2, num_workers=2, persistent_workers=True, in_order=False)
    it = iter(loader)
    assert take(it, 1) == [[2, 3]]  # worker 0 waits inside batch 0
    it = iter(loader)  # the same iterator, restarted: the old pass's batches are dropped
    assert take(it, 1) == [[2, 3]]  # worker 1 again, while worker 0 still waits in the old pass
    gate[0].set()
    assert sorted(labels(it)) == [[0, 1], [4, 5], [6, 7]]
    assert sorted(labels(loader)) == [[0, 1], [2, 3], [4, 5], [6, 7]]  # a later pass
    threads = new_threads(before)
    assert len(threads) == 2
    del loader, it
    all_stop(threads)


@pytest.mark.skipif(sys.platform != "linux", reason="gates a torch worker process through a forked Event")
def test_order_as_pytorch():
    torch = pytest.importorskip("torch")
    from torch.utils import data as tdata

    fork = torch.multiprocessing.get_context("fork")

    class TorchLog(tdata.Dataset):
        def __init__(self, n, gate):
            self.n, self.gate = n, gate

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            if i == 0:
                assert self.gate.wait(5)
            return i

    class TorchStream(tdata.IterableDataset):
        def __init__(self, n, gate):
            self.n, self.gate = n, gate

        def __iter__(self):
            info = tdata.get_worker_info()
            for v in range(info.id, self.n, info.num_workers):
                if v == 0:
                    assert self.gate.wait(5)
                yield v

    def order(it, first, gate_set, value):
        """The values of ``it``'s batches, the gate opened after the first ``first``."""
        head = [value(next(it)) for _ in range(first)]
        gate_set()
        return head + [value(b) for b in it]

    for n, first, kwargs in [(12, 10, {}), (9, 8, dict(prefetch_factor=1))]:
        gate, theirs_gate = {0: threading.Event()}, fork.Event()
        theirs = tdata.DataLoader(TorchLog(n, theirs_gate), num_workers=2, in_order=False,
                                  multiprocessing_context=fork, **kwargs)  # fmt: skip
        ours = DataLoader(Log(n, gate=gate), num_workers=2, in_order=False, **kwargs)
        want = order(iter(theirs), first, theirs_gate.set, int)
        assert order(iter(ours), first, gate[0].set, lambda b: b[1].item()) == want, kwargs
    gate, theirs_gate = {0: threading.Event()}, fork.Event()
    theirs = tdata.DataLoader(TorchStream(9, theirs_gate), batch_size=None, num_workers=2, in_order=False,
                              multiprocessing_context=fork)  # fmt: skip
    ours = DataLoader(Stream(9, gate=gate), batch_size=None, num_workers=2, in_order=False)
    want = order(iter(theirs), 4, theirs_gate.set, int)
    assert want == [1, 3, 5, 7, 0, 2, 4, 6, 8]
    assert order(iter(ours), 4, gate[0].set, lambda b: b[1]) == want
