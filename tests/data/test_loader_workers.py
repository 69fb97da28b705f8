"""DataLoader(num_workers=n): worker threads that make the same batches in the same order as num_workers=0.

Ordering and prefetch limits are tested with events and conditions, never sleeps.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from worker_threads import (
    WAIT,
    Log,
    all_stop,
    check_dropped_loader_stops_threads,
    check_no_more_than_prefetch_factor_batches_ahead,
    check_stopping_early_leaves_no_thread_behind,
    labels,
    new_threads,
)

import gradkit as gk
from gradkit.data import BatchSampler, DataLoader, Subset, TensorDataset, WorkerError, get_worker_info


def test_same_batches_as_without_workers(device):
    x = gk.tensor(np.arange(26, dtype=np.float32).reshape(13, 2), device=device)
    tensors = TensorDataset(x, gk.arange(13, device=device))
    cases = [  # each makes its dataset and arguments anew: samplers count their epochs
        lambda: (Log(11), dict(batch_size=3, shuffle=True, seed=4)),
        lambda: (Log(11), dict(batch_size=3, collate_fn=lambda s: gk.tensor([i for _, i in s]), device=device)),
        lambda: (tensors, dict(batch_size=4, shuffle=True, seed=1, drop_last=True)),
        lambda: (tensors, dict(batch_size=5)),  # sliced rows
        lambda: (Subset(tensors, [5, 2, 7, 0, 11]), dict(batch_size=2)),
        lambda: (tensors, dict(batch_sampler=BatchSampler(gk.data.RandomSampler(tensors, seed=2), 3, False))),
        lambda: (Log(7), dict(sampler=[6, 0, 5, 1], batch_size=3)),
    ]
    for case in cases:
        (data, kwargs), (data2, kwargs2) = case(), case()
        inline, threaded = DataLoader(data, **kwargs), DataLoader(data2, num_workers=3, **kwargs2)
        for _ in range(2):  # two epochs: the shuffled orders move on alike
            want = [b if isinstance(b, gk.Tensor) else b[-1] for b in inline]
            got = [b if isinstance(b, gk.Tensor) else b[-1] for b in threaded]
            assert [b.tolist() for b in got] == [b.tolist() for b in want], kwargs
            assert {b.device for b in got} == {b.device for b in want}
        assert len(threaded) == len(inline)


def test_worker_info_init_fn_and_round_robin():
    assert get_worker_info() is None
    inits = {}

    def init(worker_id):
        inits[worker_id] = get_worker_info()

    data = Log(8)
    loader = DataLoader(data, batch_size=2, num_workers=3, worker_init_fn=init, shuffle=True, seed=7)
    order = loader.order(0)
    assert len(labels(loader)) == 4
    assert sorted(inits) == [0, 1, 2]
    base = inits[0].seed
    for wid, info in inits.items():
        assert (info.id, info.num_workers, info.seed) == (wid, 3, base + wid)
        assert info.dataset is data  # map-style: the one the batches are fetched from, shared
    for b in range(4):  # batch b is made by worker b % 3
        assert {data.log[int(i)][0] for i in order[2 * b : 2 * b + 2]} == {b % 3}
    again = DataLoader(data, batch_size=2, num_workers=3, worker_init_fn=init, shuffle=True, seed=7)
    list(again)
    assert inits[0].seed == base  # the same seed gives the same worker seeds
    list(again)
    assert inits[0].seed != base  # and each epoch new ones (new threads without persistent_workers)


def test_no_more_than_prefetch_factor_batches_ahead():
    check_no_more_than_prefetch_factor_batches_ahead(Log(9))


def test_batches_come_in_order_when_a_later_one_is_ready_first():
    gate = {0: threading.Event()}
    data = Log(6, gate=gate)
    it = iter(DataLoader(data, batch_size=1, num_workers=3))
    data.wait_for({1, 2})  # workers 1 and 2 are done while worker 0 waits at the gate
    gate[0].set()
    assert [b[1].item() for b in it] == list(range(6))


def test_worker_exception_is_raised_at_its_batch_as_its_type():
    data = Log(6, fail={3: ValueError("bad sample 3")})
    it = iter(DataLoader(data, batch_size=1, num_workers=2))
    assert [next(it)[1].item() for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match=r"worker 1 failed on batch 3 with ValueError: bad sample 3") as info:
        next(it)
    assert isinstance(info.value.__cause__, ValueError) and str(info.value.__cause__) == "bad sample 3"
    assert [b[1].item() for b in it] == [4, 5]  # as PyTorch: the loop can go on after it

    class Odd(Exception):
        def __init__(self, a, b):
            super().__init__(a, b)

    with pytest.raises(WorkerError, match=r"worker 0 failed on batch 0 with Odd") as info:
        list(DataLoader(Log(2, fail={0: Odd(1, 2)}), num_workers=2))
    assert isinstance(info.value.__cause__, Odd) and isinstance(info.value, gk.GradkitError)
    with pytest.raises(KeyError, match=r"worker 1 failed on batch 1 with KeyError: 1") as info:
        list(DataLoader(Log(2, fail={1: KeyError(1)}), num_workers=2))  # the dataset's own error, as num_workers=0
    assert type(info.value.__cause__) is KeyError and info.value.__cause__.args == (1,)
    with pytest.raises(WorkerError, match="with StopIteration"):  # would end the loop silently
        list(DataLoader(Log(2, fail={0: StopIteration()}), num_workers=1))


def test_init_fn_error_is_raised_at_the_workers_first_batch():
    def init(worker_id):
        if worker_id == 1:
            raise RuntimeError("no init for 1")

    it = iter(DataLoader(Log(4), num_workers=2, worker_init_fn=init))
    assert next(it)[1].item() == 0
    with pytest.raises(RuntimeError, match="worker 1 failed on batch 1 with RuntimeError: no init for 1"):
        next(it)
    assert [b[1].item() for b in it] == [2, 3]


def test_sampler_error_is_raised_at_its_batch():
    it = iter(DataLoader(Log(4), batch_sampler=[[0], [1], "x", [2]], num_workers=2))
    assert [next(it)[1].item() for _ in range(2)] == [0, 1]
    with pytest.raises(gk.ArgumentTypeError, match="batch_sampler gave str 'x' as a batch"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_timeout_names_the_wait_and_the_batch_still_comes():
    gate = {0: threading.Event()}
    data = Log(3, gate=gate)
    it = iter(DataLoader(data, num_workers=2, timeout=0.2))
    with pytest.raises(WorkerError, match=r"batch 0 did not come from worker 0 within timeout=0.2 seconds"):
        next(it)
    gate[0].set()
    data.wait_for({0, 1, 2})  # what is left to do (collating one number) takes far less than the timeout
    assert [b[1].item() for b in it] == [0, 1, 2]


def test_stopping_early_leaves_no_thread_behind():
    check_stopping_early_leaves_no_thread_behind(
        lambda num_workers, gate=None: DataLoader(Log(20, gate=gate), batch_size=2, num_workers=num_workers)
    )


def test_dropping_a_persistent_loader_stops_its_threads_without_the_gc():
    gate = {6: threading.Event()}
    data = Log(20, gate=gate, fail={6: ValueError})  # a class: each raise makes a new exception

    def ahead():  # batch 3 fails once the loop has taken batch 0: its exception is left with the pass, never taken
        gate[6].set()
        data.wait_for({6})

    check_dropped_loader_stops_threads(
        lambda: DataLoader(data, batch_size=2, num_workers=2, persistent_workers=True), ahead=ahead
    )


def test_persistent_workers_keep_their_threads():
    before = set(threading.enumerate())
    inits = []
    data = Log(6)
    loader = DataLoader(data, batch_size=2, num_workers=2, persistent_workers=True, worker_init_fn=inits.append)
    assert labels(loader) == labels(loader) == [[0, 1], [2, 3], [4, 5]]
    assert sorted(inits) == [0, 1]  # once per worker, not per epoch
    assert len({data.log[i][1] for i in range(6)}) == 2
    it1 = iter(loader)
    next(it1)
    it2 = iter(loader)  # as PyTorch: the same iterator, restarted
    assert it1 is it2
    assert [b[1].tolist() for b in it1] == [[0, 1], [2, 3], [4, 5]] and list(it2) == []
    threads = new_threads(before)
    assert len(threads) == 2 and all(t.is_alive() for t in threads)
    del loader, it1, it2  # no reference cycle: the threads stop without the garbage collector
    all_stop(threads)


def test_a_second_iter_runs_beside_the_first():
    loader = DataLoader(Log(6), batch_size=2, num_workers=2, shuffle=True, seed=3)
    first, second = loader.order(0), loader.order(1)
    it1 = iter(loader)
    a = next(it1)
    it2 = iter(loader)
    assert it1 is not it2
    rest1, all2 = labels(it1), labels(it2)
    assert [a[1].tolist()] + rest1 == first.reshape(3, 2).tolist()
    assert all2 == second.reshape(3, 2).tolist()


def test_workers_run_in_the_callers_grad_mode_and_device(device):
    data = Log(4)

    def init(worker_id):
        gk.set_grad_enabled(False)  # grad mode is per thread: the caller's is untouched

    loader = DataLoader(data, batch_size=2, num_workers=2, worker_init_fn=init)
    with gk.device(device):
        batches = list(loader)
    want = gk.zeros(1, device=device).device
    assert {b[1].device for b in batches} == {want}  # numbers collate to the caller's default device
    assert {(f[2], f[3]) for f in data.log.values()} == {(True, want)}
    assert gk.is_grad_enabled()
    with gk.no_grad():
        list(loader)
    assert {f[2] for f in data.log.values()} == {False}


def test_worker_arguments_as_pytorch():
    ds = Log(4)
    loader = DataLoader(ds, batch_size=3, pin_memory=True)
    assert (loader.num_workers, loader.prefetch_factor, loader.persistent_workers) == (0, None, False)
    assert loader.timeout == 0
    assert loader.pin_memory is True and loader.worker_init_fn is None and loader.multiprocessing_context is None
    loader = DataLoader(ds, batch_size=3, num_workers=4, timeout=2)
    assert (loader.num_workers, loader.prefetch_factor, loader.timeout, len(loader)) == (4, 2, 2, 2)
    assert "num_workers=4" in repr(loader)
    errors = [
        (dict(prefetch_factor=2), gk.InvalidArgumentError, "prefetch_factor=2 needs num_workers > 0"),
        (dict(num_workers=2, prefetch_factor=0), gk.InvalidArgumentError, "prefetch_factor must be >= 1, got 0"),
        (dict(persistent_workers=True), gk.InvalidArgumentError, "persistent_workers=True needs num_workers > 0"),
        (dict(num_workers=-1), gk.InvalidArgumentError, "num_workers must be >= 0, got -1"),
        (dict(num_workers=2.5), gk.ArgumentTypeError, "num_workers must be an int"),
        (dict(timeout=-1), gk.InvalidArgumentError, "timeout must be >= 0"),
        (dict(timeout="1"), gk.ArgumentTypeError, "timeout must be a number"),
        (dict(worker_init_fn=3), gk.ArgumentTypeError, "worker_init_fn must be None or a callable, got int"),
        (dict(num_workers=2, multiprocessing_context="spawn"), gk.InvalidArgumentError, "threads"),
        (dict(pin_memory="yes"), gk.ArgumentTypeError, "pin_memory must be True or False"),
    ]
    for kwargs, error, message in errors:
        with pytest.raises(error, match=f"DataLoader: .*{message}"):
            DataLoader(ds, **kwargs)


def test_a_batch_sampler_that_refills_one_list_gives_the_same_batches():
    class Refilling:
        def __iter__(self):
            buf = [0, 0]
            for i in range(0, 8, 2):
                buf[:] = [i, i + 1]
                yield buf

        def __len__(self) -> int:
            return 4

    expected = labels(DataLoader(Log(8), batch_sampler=Refilling()))
    assert expected == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert labels(DataLoader(Log(8), batch_sampler=Refilling(), num_workers=2)) == expected


def test_workers_make_batches_while_the_calling_thread_captures_a_step(device):
    """gk.cuda.capture's guards (no host data to the device, no host reads) and its CounterRNG are set on the
    shared backend, but apply to the capturing thread only: workers making batches meanwhile are not refused."""
    from gradkit.backends import get_backend
    from gradkit.cuda import graphs
    from gradkit.cuda.rng import CounterRNG

    backend = get_backend(device)
    gate = {i: threading.Event() for i in range(2, 8)}
    data = Log(8, gate=gate)
    it = iter(DataLoader(data, batch_size=2, num_workers=2, device=device))
    first = next(it)
    draws = []
    with graphs._Routing(backend, None, CounterRNG(1, device=device)):
        for g in gate.values():
            g.set()
        data.wait_for(set(range(8)))  # every sample made and collated onto the device in a worker
        other = threading.Thread(target=lambda: draws.append((repr(backend.rng.random), first[0].sum().item())))
        other.start()
        other.join(WAIT)
        with pytest.raises(gk.cuda.CaptureError, match="reads a device array on the host"):
            first[0].sum().item()  # the capturing thread is still guarded
        assert "CounterRNG" in repr(backend.rng.random)  # and draws from the capture's generator
    assert [first[1].tolist()] + labels(it) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert "CounterRNG" not in draws[0][0] and draws[0][1] == 2.0  # the other thread: the backend's own ways
