"""gk.cuda.capture's build order and what keeps a capture from being invalidated, on the CPU:

- the garbage collector is collected before, and paused during, the capture (a finaliser that
  synchronises the device, such as cublasDestroy, would invalidate it);
- a cuBLAS handle closed while any capture is active is destroyed only after the capture ends;
- everything uploaded from the host (the CounterRNG's state) is uploaded before the device
  synchronisation, and the side stream waits for the current stream before the warm-up.

``_build`` runs here against a fake CuPy module that records what happens, in order; the real
thing is covered by the GPU tests in test_cuda_capture.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
from types import SimpleNamespace

import numpy as np
import pytest

import gradkit as gk
from gradkit.backends.base import Backend
from gradkit.cuda import cublas as G
from gradkit.cuda import graphs as C
from gradkit.tensor import Tensor


@pytest.fixture(autouse=True)
def _gc_restored():
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()
    assert G.captures_active() == 0


# ------------------------------------------------------------------ the garbage collector
class _Finalised:
    """An object in a reference cycle (only the cyclic collector frees it) that says when it is finalised."""

    def __init__(self, log):
        self.log = log
        self.me = self

    def __del__(self):
        self.log.append(("finalised", gc.isenabled()))


def test_gc_paused_frees_a_cycle_before_the_block_and_none_inside():
    log = []
    gc.enable()
    _Finalised(log)
    with C._gc_paused():
        assert not gc.isenabled()
        inside = len(log)
        _Finalised(log)
        junk = [[i] for i in range(50_000)]  # plenty of allocations: no automatic collection may run
        del junk
        assert len(log) == inside == 1
    gc.collect()
    assert len(log) == 2


def test_gc_paused_restores_a_disabled_collector_and_restores_after_errors():
    gc.disable()
    with C._gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
    gc.enable()
    with pytest.raises(ZeroDivisionError), C._gc_paused():
        1 / 0  # noqa: B018
    assert gc.isenabled()


# ------------------------------------------------------------------ cuBLAS handles closed during a capture
def _fake_gemm(log, name="h"):
    """A CublasGemm whose cuBLAS library is a recorder (no GPU): close() goes through the real code."""
    g = object.__new__(G.CublasGemm)
    g._lib = SimpleNamespace(destroy=lambda handle: log.append(("destroy", name, handle.value)))
    g.handle = ctypes.c_void_p(0x1000)
    g._workspaces = {7: f"{name}-workspace"}
    return g


def test_a_handle_keeps_a_few_stream_workspaces_not_one_per_stream_forever():
    """Binding to many short-lived streams keeps the newest few workspaces (each is 32 MiB on an H100)."""
    log = []
    g = _fake_gemm(log)
    g._workspaces = {}
    g._lib = SimpleNamespace(set_stream=lambda h, s: 0, set_workspace=lambda h, p, n: 0)
    g._cp = SimpleNamespace(cuda=SimpleNamespace(Device=lambda i: contextlib.nullcontext(),
                                                 alloc=lambda n: SimpleNamespace(ptr=len(log) + 1)))
    g.device_index, g._ws_size = 0, 1 << 25
    for stream in range(10):
        g._bind(0x100 + stream)
    assert list(g._workspaces) == [0x100 + s for s in range(10 - G._MAX_WORKSPACES, 10)]
    assert g._stream == 0x109


def test_a_handle_closed_outside_capture_is_destroyed_at_once():
    log = []
    g = _fake_gemm(log)
    g.close()
    assert log == [("destroy", "h", 0x1000)]
    g.close()  # idempotent
    del g
    gc.collect()
    assert log == [("destroy", "h", 0x1000)]


def test_a_handle_closed_during_capture_is_destroyed_after_it():
    log = []
    g = _fake_gemm(log)
    with G.capturing():
        assert G.captures_active() == 1
        g.close()
        assert log == [] and g.handle is None and g._workspaces == {}
        assert G._deferred and G._deferred[0][2] == {7: "h-workspace"}  # the workspace stays alive with it
    assert log == [("destroy", "h", 0x1000)]
    assert G.captures_active() == 0 and not G._deferred


def test_nested_captures_destroy_after_the_last_one_ends():
    log = []
    a, b = _fake_gemm(log, "a"), _fake_gemm(log, "b")
    with G.capturing():
        with G.capturing():
            a.close()
        assert log == []
        b.close()
    assert sorted(log) == [("destroy", "a", 0x1000), ("destroy", "b", 0x1000)]


def test_a_handle_collected_by_the_gc_during_capture_waits_for_the_end():
    """The review's case: a CublasGemm in a reference cycle, collected in the middle of a capture."""
    log = []
    holder = SimpleNamespace(gemm=_fake_gemm(log))
    holder.me = holder  # a cycle: only the cyclic collector frees it
    with G.capturing():
        del holder
        gc.collect()
        assert log == []
    assert log == [("destroy", "h", 0x1000)]


def test_a_handle_closed_on_another_thread_during_capture_waits_too():
    log = []
    g = _fake_gemm(log)
    with G.capturing():
        t = threading.Thread(target=g.close)
        t.start()
        t.join()
        assert log == []
    assert log == [("destroy", "h", 0x1000)]


def test_a_failing_destroy_does_not_break_the_end_of_a_capture():
    g = object.__new__(G.CublasGemm)
    g._lib = SimpleNamespace(destroy=lambda handle: 1 / 0)
    g.handle = ctypes.c_void_p(0x2000)
    g._workspaces = {}
    with G.capturing():
        g.close()
    assert G.captures_active() == 0


def test_close_of_a_half_built_handle_does_nothing():
    g = object.__new__(G.CublasGemm)  # __init__ failed before setting anything
    g.close()
    g.__del__()


# ------------------------------------------------------------------ _build, against a fake CuPy
class _FakeStream:
    def __init__(self, cuda, name):
        self.cuda, self.name, self.capturing = cuda, name, False

    def __enter__(self):
        self.cuda.stack.append(self)
        return self

    def __exit__(self, *exc):
        self.cuda.stack.pop()

    @property
    def log(self):
        return self.cuda.log

    def record(self):
        self.log.append(("record", self.name))
        return ("event", self.name)

    def wait_event(self, event):
        self.log.append(("wait_event", self.name, event))

    def synchronize(self):
        self.log.append(("stream.synchronize", self.name))

    def begin_capture(self, mode):
        self.capturing = True
        self.log.append(("begin_capture", gc.isenabled(), G.captures_active()))

    def end_capture(self):
        self.capturing = False
        self.log.append(("end_capture", gc.isenabled(), G.captures_active()))
        return _FakeGraph(self.log)


class _FakeGraph:
    def __init__(self, log):
        self.log = log

    def upload(self, stream):
        self.log.append(("graph.upload", stream.name))

    def launch(self, stream):
        self.log.append(("graph.launch", stream.name))


class _FakeCuda:
    def __init__(self, log):
        self.log = log
        self.default = _FakeStream(self, "default")
        self.stack = []
        self.runtime = SimpleNamespace(streamCaptureModeRelaxed=2)

    def Device(self, index):  # noqa: N802 - CuPy's name
        return contextlib.nullcontext()

    def Stream(self, non_blocking=False):  # noqa: N802
        self.log.append(("new stream", non_blocking))
        return _FakeStream(self, "side")

    def get_current_stream(self):
        return self.stack[-1] if self.stack else self.default

    def MemoryPool(self):  # noqa: N802
        return SimpleNamespace(malloc=lambda size: None, total_bytes=lambda: 0,
                               free_all_blocks=lambda: self.log.append(("pool.free_all_blocks",)))

    def using_allocator(self, malloc):
        return contextlib.nullcontext()


class _FakeXP:
    def __init__(self, log):
        self.log = log
        self.cuda = _FakeCuda(log)

    def asarray(self, data, dtype=None):
        self.log.append(("upload from host", self.cuda.get_current_stream().name))
        return np.array(data, dtype=dtype)


class _FakeCupyBackend(Backend):
    """Looks like the CuPy backend to graphs.py (name "cupy"); arrays are NumPy, the device calls are logged."""

    name = "cupy"
    device = "fake:0"  # not "cuda:0": memory_stats on a real GPU must not count this step
    array_type = np.ndarray

    def __init__(self, log):
        self.log = log
        self.index = 0
        self.xp = _FakeXP(log)
        self.rng = np.random.default_rng(0)

    def asarray(self, data, dtype=None):
        return self.xp.asarray(data, dtype)

    def to_numpy(self, array):
        return np.asarray(array)

    def synchronize(self):
        self.log.append(("device.synchronize",))


class _FakeGemm:
    def __init__(self, index):
        pass

    def bind_current_stream(self):
        pass

    def matmul(self, a, b):
        return None

    def close(self):
        pass


def _fake_capture(monkeypatch, fn, warmup=2):
    log = []
    monkeypatch.setattr(G, "CublasGemm", _FakeGemm)
    backend = _FakeCupyBackend(log)
    x = Tensor._make(np.arange(4.0, dtype=np.float32), backend)
    step = C.CapturedStep(fn, (x,), backend, warmup, graphed=True)
    return step, backend, log


def _index(log, key):
    return next(i for i, e in enumerate(log) if e[0] == key)


def test_build_uploads_before_synchronising_and_orders_the_side_stream(monkeypatch):
    log = []
    monkeypatch.setattr(G, "CublasGemm", _FakeGemm)
    backend = _FakeCupyBackend(log)

    def fn(a):
        log.append(("step", backend.xp.cuda.get_current_stream().name))
        return a * 2.0

    x = Tensor._make(np.arange(4.0, dtype=np.float32), backend)
    step = C.CapturedStep(fn, (x,), backend, 2, graphed=True)

    upload, sync = _index(log, "upload from host"), _index(log, "stream.synchronize")
    assert upload < sync, log  # the RNG state is on the device before the side stream may read it
    assert log[sync] == ("stream.synchronize", "default")  # the current stream, not the device (other threads)
    wait = _index(log, "wait_event")
    assert log[wait][1] == "side" and log[wait][2] == ("event", "default")
    assert sync < wait < _index(log, "step")
    steps = [e for e in log if e[0] == "step"]
    assert steps == [("step", "side")] * 3  # two warm-up calls and the captured one, all on the side stream
    begin, end = _index(log, "begin_capture"), _index(log, "end_capture")
    assert log[begin] == ("begin_capture", False, 1)  # collector off, handle destruction deferred
    assert log[end] == ("end_capture", False, 1)
    assert begin < log.index(("step", "side"), begin) < end
    assert _index(log, "graph.upload") > end
    assert gc.isenabled() and G.captures_active() == 0
    assert step.graphed and isinstance(step.outputs, Tensor)
    assert step._rng.state.tolist() == [step._rng.state[0], 0]  # the CounterRNG the capture made
    assert not C.is_capturing() and "synchronize" not in vars(backend)
    log.clear()
    step()
    assert log == [("graph.launch", "default")]
    log.clear()
    step.close()
    assert log.index(("device.synchronize",)) < log.index(("pool.free_all_blocks",))  # no replay still running
    assert step._pool is None and step.outputs is None


def test_a_handle_closed_inside_the_captured_call_is_destroyed_after_end_capture(monkeypatch):
    destroyed = []
    victim = _fake_gemm(destroyed)
    calls = []

    def fn(a):
        calls.append(1)
        if len(calls) == 3:  # the captured call (after two warm-ups)
            victim.close()  # what a finaliser run by the garbage collector would do
            log.append(("closed during capture", list(destroyed)))
        return a

    log = []
    monkeypatch.setattr(G, "CublasGemm", _FakeGemm)
    backend = _FakeCupyBackend(log)
    x = Tensor._make(np.zeros(2, np.float32), backend)

    orig_end = _FakeStream.end_capture

    def end_capture(self):
        log.append(("destroyed before end_capture", list(destroyed)))
        return orig_end(self)

    monkeypatch.setattr(_FakeStream, "end_capture", end_capture)
    C.CapturedStep(fn, (x,), backend, 2, graphed=True)
    assert ("closed during capture", []) in log
    assert ("destroyed before end_capture", []) in log
    assert destroyed == [("destroy", "h", 0x1000)]  # after the capture ended


def test_a_failing_capture_restores_the_collector_and_the_deferral(monkeypatch):
    calls = []
    log = []

    def fn(a):
        calls.append(1)
        if len(calls) == 2:
            raise KeyError("boom")
        return a

    monkeypatch.setattr(G, "CublasGemm", _FakeGemm)
    backend = _FakeCupyBackend(log)
    x = Tensor._make(np.zeros(2, np.float32), backend)
    gc.enable()
    with pytest.raises(gk.cuda.CaptureError, match="raised KeyError"):
        C.CapturedStep(fn, (x,), backend, 1, graphed=True)
    assert _index(log, "end_capture") > _index(log, "begin_capture")  # the stream left capture mode
    assert gc.isenabled() and G.captures_active() == 0 and not C.is_capturing()


def test_a_disabled_collector_stays_disabled_after_a_capture(monkeypatch):
    gc.enable()
    _fake_capture(monkeypatch, lambda a: a, warmup=1)
    assert gc.isenabled()
    gc.disable()
    _, _, log = _fake_capture(monkeypatch, lambda a: a, warmup=1)
    assert ("begin_capture", False, 1) in log
    assert not gc.isenabled()
