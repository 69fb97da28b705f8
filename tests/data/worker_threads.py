"""Helpers shared by the DataLoader worker tests (map-style and iterable-style datasets): finding the worker
threads a test started, and checking that they stop. Imported as ``from worker_threads import ...``: pytest puts
this folder on ``sys.path`` for the test files in it (there is no ``__init__.py``)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gradkit as gk
from gradkit.data import Dataset, get_worker_info

WAIT = 5.0  # seconds a test waits for a worker before failing (never reached when the code works)


class Recorder:
    """The log of a test dataset: what it made, key by key, under a condition a test can wait on. ``made(key,
    record)`` first holds the key at its gate (an Event in ``gate``), then logs it, then raises ``fail[key]``."""

    def __init__(self, gate: dict | None = None, fail: dict | None = None) -> None:
        self.gate, self.fail = gate or {}, fail or {}
        self.log: dict[int, tuple] = {}
        self.changed = threading.Condition()

    def made(self, key: int, record: tuple) -> None:
        if key in self.gate:
            assert self.gate[key].wait(WAIT), f"the test never opened the gate of {key}"
        with self.changed:
            self.log[key] = record
            self.changed.notify_all()
        if key in self.fail:
            raise self.fail[key]

    def wait_for(self, keys: set[int]) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: keys <= set(self.log), WAIT), sorted(self.log)


def labels(loader: Any) -> list:
    """The second field of each batch, as lists."""
    return [batch[1].tolist() for batch in loader]


def new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """The DataLoader worker threads running now that were not in ``before``."""
    return [t for t in threading.enumerate() if t not in before and t.name.startswith("gradkit-data-worker")]


def all_stop(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(WAIT)
    assert not [t.name for t in threads if t.is_alive()]


def check_stopping_early_leaves_no_thread_behind(make: Callable[..., Any]) -> None:
    """``make(num_workers, gate=None)``: a DataLoader with ``batch_size=2`` over 20 samples whose sample 4 (in
    batch 2, of worker 0 of 2) waits for ``gate[4]``. Leaving a loop by break, by an exception, and dropping an
    iterator while a worker waits inside the dataset each stop that pass's threads."""
    before = set(threading.enumerate())
    started = []
    for _ in make(3):
        started += new_threads(before)
        break
    with pytest.raises(KeyError, match="in the loop body"):
        for _ in make(3):
            started += new_threads(before | set(started))
            raise KeyError("in the loop body")
    gate = {4: threading.Event()}
    it = iter(make(2, gate))
    next(it)
    started += new_threads(before | set(started))
    del it  # dropped while a worker waits inside the dataset
    gate[4].set()
    assert len(started) == 8
    all_stop(started)
    assert len(list(make(2))) == 10
    assert not new_threads(before)  # a pass that ends has stopped its threads


def check_dropped_loader_stops_threads(make: Callable[[], Any], ahead: Callable[[], Any] | None = None) -> None:
    """``make()``: a DataLoader with ``persistent_workers=True`` and more than one batch. With the garbage collector
    off, dropping it and its iterator in the middle of a pass (after ``ahead()``, which may wait for the workers to
    make a batch) stops its threads: no reference cycle holds them."""
    before = set(threading.enumerate())
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        loader = make()
        it = iter(loader)
        next(it)
        if ahead is not None:
            ahead()
        threads = new_threads(before)
        assert len(threads) == loader.num_workers
        del loader, it
        all_stop(threads)
    finally:
        if was_enabled:
            gc.enable()


def check_no_more_than_prefetch_factor_batches_ahead(data: Recorder) -> None:
    """``data``: a Recorder dataset of 9 items whose item i is batch i. With 2 workers and prefetch_factor=1, no
    more than 2 batches are made ahead of the loop."""
    from gradkit.data import DataLoader

    it = iter(DataLoader(data, batch_size=1, num_workers=2, prefetch_factor=1))
    assert next(it)[1].tolist() == [0]
    data.wait_for({1, 2})  # 2 batches ahead of the loop; a third is not asked for until the loop moves on
    assert set(data.log) == {0, 1, 2}
    for k, batch in enumerate(it, start=1):
        assert batch[1].item() == k and max(data.log) <= k + 2
    assert k == 8


class Log(Recorder, Dataset):
    """Sample i is (i as a float32 row of 2, i): it logs which worker fetched it (``log``: index -> (worker id,
    thread, grad mode, default device)), and can hold it at a gate or raise at it."""

    def __init__(self, n: int, gate: dict[int, threading.Event] | None = None, fail: dict | None = None) -> None:
        super().__init__(gate, fail)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        i = int(i)
        info = get_worker_info()
        self.made(i, (info and info.id, threading.get_ident(), gk.is_grad_enabled(), gk.default_device()))
        return np.full(2, i, dtype=np.float32), i
