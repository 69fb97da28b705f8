"""DataLoader fixes from review: a dataset's own exceptions propagate as themselves, ``batch_size=None`` for
map-style datasets (with ``gk.data.default_convert``), and worker threads that run on the calling thread's CUDA
device and stream (checked against the CuPy emulation, by recording what each task runs inside)."""

from __future__ import annotations

import sys
import traceback
import types
from collections import namedtuple

import emulated_cupy
import numpy as np
import pytest

import gradkit as gk
from gradkit.data import DataLoader, Dataset, RandomSampler, Subset, TensorDataset, default_convert, get_worker_info
from gradkit.data import workers as workers_module


class Faulty(Dataset):
    """Sample i is float32 i; ``__getitem__`` raises ``error`` at index ``bad`` (a bug in the user's code)."""

    def __init__(self, n: int, bad: int = -1, error: BaseException | None = None) -> None:
        self.n, self.bad, self.error = n, bad, error

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if i == self.bad:
            raise self.error
        return np.float32(i)


def _frames(exc: BaseException) -> list[str]:
    return [frame.name for frame in traceback.extract_tb(exc.__traceback__)]


# ----------------------------------------------------------------------------- the dataset's own exceptions
@pytest.mark.parametrize(
    "error", [KeyError("bug"), IndexError("bug"), TypeError("bug")], ids=lambda e: type(e).__name__
)
@pytest.mark.parametrize("kwargs", [dict(batch_size=3), dict(batch_size=None), dict(batch_size=3, sampler=range(10))])
def test_own_exception_propagates_as_itself(error, kwargs):
    with pytest.raises(type(error)) as info:
        list(DataLoader(Faulty(10, 7, error), **kwargs))
    assert info.value is error and not isinstance(info.value, gk.GradkitError)
    assert "__getitem__" in _frames(info.value)  # its traceback reaches the line that raised it
    with pytest.raises(type(error), match=r"worker [01] failed on batch [27] with \w+Error: .*bug") as info:
        list(DataLoader(Faulty(10, 7, error), num_workers=2, **kwargs))
    assert info.value.__cause__ is error and "__getitem__" in _frames(error)


def test_own_exception_matches_pytorch():
    torch = pytest.importorskip("torch")

    class Theirs(torch.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return Faulty(10, 7, KeyError("bug"))[i]

    with pytest.raises(KeyError) as theirs:  # (their worker processes re-raise it the same way as ours)
        list(torch.utils.data.DataLoader(Theirs(), batch_size=3))
    with pytest.raises(KeyError) as ours:
        list(DataLoader(Faulty(10, 7, KeyError("bug")), batch_size=3))
    assert theirs.value.args == ours.value.args == ("bug",)


class Keyed(dict):
    """A dict as a dataset: its own (C) subscription refuses the keys it lacks."""

    def __len__(self) -> int:
        return 4


def test_dataset_that_cannot_take_the_index_gets_gradkits_error_naming_it():
    data = Keyed({0: 0.0, 1: 1.0, 3: 3.0, "x": 9.0})
    for kwargs in (dict(batch_size=3), dict(batch_size=None)):
        with pytest.raises(
            gk.ArgumentTypeError, match=r"must give sample i .*; dataset\[2\] failed \(KeyError: 2\)"
        ) as info:
            list(DataLoader(data, **kwargs))
        assert isinstance(info.value.__cause__, KeyError)  # the original, chained
        with pytest.raises(gk.ArgumentTypeError, match=r"worker 0 failed on batch \d .*dataset\[2\] failed"):
            list(DataLoader(data, num_workers=2, **kwargs))

    class NoIndex(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self):  # cannot take an index at all
            return 0

    with pytest.raises(gk.ArgumentTypeError, match=r"dataset\[0\] failed \(TypeError: .*__getitem__") as info:
        list(DataLoader(NoIndex()))
    assert isinstance(info.value.__cause__, TypeError)


class Listed(Dataset):
    def __len__(self) -> int:
        return 3

    def __getitem__(self, i):
        return [0.0, 1.0, 2.0][i]  # an IndexError out of range, from the dataset's own code


def test_sampler_index_out_of_range_names_it():
    data = Listed()
    for kwargs in (dict(batch_size=2), dict(batch_size=None)):
        with pytest.raises(gk.IndexOutOfRangeError, match=r"the sampler gave index 5, and dataset\[5\] failed") as info:
            list(DataLoader(data, sampler=[0, 5], **kwargs))
        assert type(info.value.__cause__) is IndexError
    with pytest.raises(KeyError) as info:  # in range: the dataset's own error
        list(DataLoader(Faulty(3, 1, KeyError("bug")), sampler=[1], batch_size=None))
    assert str(info.value) == "'bug'"


# ----------------------------------------------------------------------------- batch_size=None, map-style
class Samples(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i):
        return np.full(2, i, dtype=np.float64), int(i), (np.float32(i), "s")


def test_batch_size_none_yields_each_sample_converted(device):
    loader = DataLoader(Samples(), batch_size=None, device=device)
    assert (loader.batch_size, loader.batch_sampler, loader.drop_last, len(loader)) == (None, None, False, 4)
    assert "batch_size=None" in repr(loader)
    out = list(loader)
    want = gk.zeros(1, device=device).device
    for i, (x, n, (f, s)) in enumerate(out):
        assert x.shape == (2,) and x.dtype == gk.float64 and x.device == want and x.tolist() == [i, i]
        assert n == i and type(n) is int and f.shape == () and f.dtype == gk.float32 and s == "s"
    threaded = list(DataLoader(Samples(), batch_size=None, device=device, num_workers=2))
    assert [(x.tolist(), n) for x, n, _ in threaded] == [(x.tolist(), n) for x, n, _ in out]
    assert list(DataLoader(Samples(), batch_size=None, collate_fn=lambda s: s[1] * 10)) == [0, 10, 20, 30]


def test_batch_size_none_matches_pytorch():
    torch = pytest.importorskip("torch")
    tdata = torch.utils.data

    class Theirs(tdata.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return Samples()[i]

    for kwargs in (dict(), dict(sampler=[3, 0, 3])):
        theirs, ours = (
            list(tdata.DataLoader(Theirs(), batch_size=None, **kwargs)),
            list(DataLoader(Samples(), batch_size=None, **kwargs)),
        )
        assert len(theirs) == len(ours)
        for (tx, tn, (tf, ts)), (x, n, (f, s)) in zip(theirs, ours, strict=True):
            assert np.array_equal(tx.numpy(), x.numpy()) and tn == n and tf.item() == f.item() and ts == s
            assert tuple(tx.shape) == x.shape and tuple(tf.shape) == f.shape
    x = np.arange(6.0).reshape(3, 2)
    theirs = [
        tuple(t.tolist() for t in s) for s in tdata.DataLoader(tdata.TensorDataset(torch.tensor(x)), batch_size=None)
    ]
    assert theirs == [tuple(t.tolist() for t in s) for s in DataLoader(TensorDataset(x), batch_size=None)]
    for kwargs, message in [
        (dict(drop_last=True), "DataLoader: got batch_size=None with drop_last=True; .*no short last batch"),
        (dict(batch_sampler=[[0]]), "DataLoader: got batch_size=None with a batch_sampler, .*must keep their defaults"),
    ]:
        with pytest.raises(ValueError, match="mutually exclusive"):
            tdata.DataLoader(Theirs(), batch_size=None, **kwargs)
        with pytest.raises(gk.InvalidArgumentError, match=message):
            DataLoader(Samples(), batch_size=None, **kwargs)


def test_batch_size_none_orders_and_samplers():
    loader = DataLoader(Samples(), batch_size=None, shuffle=True, seed=3)
    assert isinstance(loader.sampler, RandomSampler) and loader.batch_sampler is None
    for epoch in range(2):
        assert [n for _, n, _ in loader] == loader.order(epoch).tolist()
    assert [n for _, n, _ in DataLoader(Samples(), batch_size=None, shuffle=True, seed=3, num_workers=2)] == [
        n for _, n, _ in DataLoader(Samples(), batch_size=None, shuffle=True, seed=3)
    ]
    sampled = DataLoader(Samples(), batch_size=None, sampler=RandomSampler(range(4), seed=1))
    assert [n for _, n, _ in sampled] == sampled.order(0).tolist()
    assert len(DataLoader(Samples(), batch_size=None, sampler=[2, 2])) == 2
    with pytest.raises(TypeError, match=r"len\(\) needs the length of its sampler, and generator has no __len__"):
        len(DataLoader(Samples(), batch_size=None, sampler=(i for i in range(2))))
    with pytest.raises(gk.ArgumentTypeError, match="batch_size must be an int, or None for no batching, got str"):
        DataLoader(Samples(), batch_size="2")


def test_batch_size_none_tensor_dataset_rows_are_copies(device):
    x = gk.tensor(np.arange(8.0).reshape(4, 2), device=device)
    data = TensorDataset(x, gk.arange(4, device=device))
    for loader in (
        DataLoader(data, batch_size=None),
        DataLoader(Subset(data, [3, -4]), batch_size=None, num_workers=2),
    ):
        rows = list(loader)
        assert all(type(r) is tuple and r[0].shape == (2,) and r[1].shape == () for r in rows)
        rows[0][0].data[...] = -1.0  # a sample is the caller's to change
    assert [r[1].item() for r in rows] == [3, 0] and x.min().item() == 0.0
    drawn = list(DataLoader(data, batch_size=None, sampler=[np.int64(1), -1]))
    assert [r[1].item() for r in drawn] == [1, 3]
    with pytest.raises(gk.ArgumentTypeError, match="the sampler gave index float 1.0"):
        list(DataLoader(data, batch_size=None, sampler=[1.0]))


def test_default_convert(device):
    Pair = namedtuple("Pair", "a b")
    t = gk.ones(2, requires_grad=True)
    out = default_convert({"x": [np.arange(3), np.int16(2)], "s": "a", "p": Pair(np.zeros(1), t), "n": 1.5}, device)
    want = gk.zeros(1, device=device).device
    assert out["x"][0].tolist() == [0, 1, 2] and out["x"][0].device == want and out["x"][1].dtype == gk.int16
    assert out["s"] == "a" and out["n"] == 1.5 and type(out["p"]) is Pair and not out["p"].b.requires_grad
    assert default_convert(np.array(["a"])).tolist() == ["a"] and default_convert((np.ones(1),))[0].shape == (1,)
    torch = pytest.importorskip("torch")
    theirs = torch.utils.data.default_convert([np.arange(3.0), np.float32(2)])
    assert [v.tolist() for v in theirs] == [v.tolist() for v in default_convert([np.arange(3.0), np.float32(2)])]


# ----------------------------------------------------------------------------- CUDA device and stream in workers
class Where(Dataset):
    """Sample i is i; each fetch logs (CUDA current device, current stream's handle, in a worker thread)."""

    def __init__(self, cp, n: int = 6) -> None:
        self.cp, self.n, self.log = cp, n, []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        cuda = self.cp.cuda
        self.log.append((cuda.runtime.getDevice(), cuda.get_current_stream().ptr, get_worker_info() is not None))
        return np.float32(i)


@pytest.fixture
def cp(monkeypatch):
    """CuPy as the workers find it (``sys.modules``): the emulation, put there for the test when not in use."""
    gk.default_device()  # resolved before: the emulation must not become the default device of a plain run
    if emulated_cupy.enabled():
        import cupy

        return cupy
    from emulated_cupy import core

    monkeypatch.setitem(sys.modules, "cupy", core.MODULE)
    return core.MODULE


def _where(cp, **kwargs):
    """What each task of one pass (started now, taken at once) ran inside."""
    data = Where(cp)
    list(DataLoader(data, batch_size=2, num_workers=2, **kwargs))
    assert len(data.log) == 6 and all(worker for _, _, worker in data.log)
    return {(d, s) for d, s, _ in data.log}


def test_workers_use_the_callers_stream(cp, monkeypatch):
    monkeypatch.delenv("CUPY_CUDA_PER_THREAD_DEFAULT_STREAM", raising=False)
    assert _where(cp) == {(0, 0)}  # the legacy default stream, as the caller's
    stream = cp.cuda.Stream(non_blocking=True)
    data = Where(cp)
    loader = DataLoader(data, batch_size=None, num_workers=2, prefetch_factor=1, persistent_workers=True)
    with stream:
        assert _where(cp) == {(0, stream.ptr)}  # a stream of the caller's: shared
        it = iter(loader)  # two of the six samples asked for now, the others as batches are taken
    list(it)
    assert {(d, s) for d, s, _ in data.log} == {(0, stream.ptr)}  # the stream current at iter()
    data.log.clear()
    list(loader)  # the same threads, a new pass outside the block: the default stream again
    assert {(d, s) for d, s, _ in data.log} == {(0, 0)}
    assert cp.cuda.get_current_stream().ptr == 0  # the caller's own stream was left as it was


def test_per_thread_default_stream_gives_the_workers_the_legacy_stream(cp, monkeypatch):
    monkeypatch.setenv("CUPY_CUDA_PER_THREAD_DEFAULT_STREAM", "1")
    assert cp.cuda.get_current_stream().ptr == cp.cuda.runtime.streamPerThread  # each thread's own
    legacy = cp.cuda.runtime.streamLegacy
    assert _where(cp) == {(0, legacy)}  # not the workers' own per-thread streams: ordered with the caller's
    with cp.cuda.Stream.null:  # CuPy sends Stream.null's work to the per-thread stream then
        assert _where(cp) == {(0, legacy)}
    stream = cp.cuda.Stream()
    with stream:
        assert _where(cp) == {(0, stream.ptr)}


def test_workers_use_the_callers_device(cp, monkeypatch):
    monkeypatch.delenv("CUPY_CUDA_PER_THREAD_DEFAULT_STREAM", raising=False)
    monkeypatch.setattr(cp.cuda.runtime, "getDeviceCount", lambda: 2)
    with cp.cuda.Device(1):
        assert _where(cp) == {(1, 0)}  # a new thread starts on device 0
        stream = cp.cuda.Stream()
        with stream:
            assert _where(cp, in_order=False) == {(1, stream.ptr)}
        monkeypatch.setenv("CUPY_CUDA_PER_THREAD_DEFAULT_STREAM", "1")
        assert _where(cp) == {(1, cp.cuda.runtime.streamLegacy)}
    assert cp.cuda.runtime.getDevice() == 0


def test_cupy_imported_by_a_worker_and_cupy_without_gpu(cp, monkeypatch):
    monkeypatch.delitem(sys.modules, "cupy")
    run = workers_module._Pass()  # a pass that starts before anything imported CuPy
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setenv("CUPY_CUDA_PER_THREAD_DEFAULT_STREAM", "1")
    gpu = workers_module._gpu_context(run)
    assert gpu is not None and gpu[1:] == (0, workers_module._legacy_stream(cp, 0))
    assert gpu[2].ptr == cp.cuda.runtime.streamLegacy

    def no_device():
        raise RuntimeError("cudaErrorNoDevice")

    broken = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDevice=no_device)))
    monkeypatch.setitem(sys.modules, "cupy", broken)  # CuPy installed on a machine without a GPU
    data = Faulty(5)
    assert [b.tolist() for b in DataLoader(data, batch_size=2, num_workers=2)] == [[0, 1], [2, 3], [4]]
