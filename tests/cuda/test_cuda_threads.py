"""gk.cuda.capture with other threads about, and what a step being captured refuses, on the CPU:

- one capture per device at a time (a second thread's is refused), the backend put back exactly on
  every exit, a failed entry included;
- while a thread captures, other threads' ``synchronize`` waits for their current stream only, and
  frees of device memory (``empty_cache``, ``CapturedStep.close``) wait for the capture to end;
- ``gk.manual_seed`` inside the step is refused; from another thread it reseeds the backend's generator;
- a cross-entropy target error found by a kernel is raised on the thread that launched it only;
- the CuPy backend's random draws run on its own device whatever the thread's current device is;
- the matrix functions of gk.linalg refuse to be captured on a GPU, naming themselves.
"""

from __future__ import annotations

import contextlib
import threading
from types import SimpleNamespace

import numpy as np
import pytest

import gradkit as gk
from gradkit.backends import NUMPY, get_backend
from gradkit.backends.base import Backend
from gradkit.backends.numpy_backend import NumpyBackend
from gradkit.cuda import cublas as G
from gradkit.cuda import graphs as C
from gradkit.cuda import memory as M
from gradkit.cuda.rng import CounterRNG
from gradkit.tensor import Tensor

WAIT = 10
_ROUTED = ("asarray", "to_numpy", "synchronize", "seed", "rng")


class _FakeGemm:
    def matmul(self, a, b):
        return None


def _routed(backend) -> list[str]:
    return sorted(k for k in vars(backend) if k in _ROUTED and k != "rng")


@pytest.fixture(autouse=True)
def _nothing_left_behind():
    yield
    assert not C._owners and not C.is_capturing() and G.captures_active() == 0 and not M._deferred


def _in_thread(fn):
    """Run ``fn()`` on another thread; its result, or the exception it raised."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(WAIT)
    assert not t.is_alive()
    if "error" in out:
        raise out["error"]
    return out.get("value")


# ------------------------------------------------------------------ one capture per device
def test_a_second_capture_on_the_same_device_is_refused_and_breaks_nothing():
    """The reviewer's race: B entering while A captures would have lost its guards when A left. B is refused
    now, A keeps its guards and generator, and the backend is as before once A has left."""
    old_rng = NUMPY.rng
    with C._Routing(NUMPY, _FakeGemm(), CounterRNG(1)):
        with pytest.raises(gk.cuda.CaptureError, match=r"thread 'MainThread' is already capturing a step on cpu"):
            _in_thread(lambda: C._Routing(NUMPY, _FakeGemm(), CounterRNG(2)).__enter__())
        assert "CounterRNG" in repr(NUMPY.rng.random)  # still the capture's generator on this thread
        with pytest.raises(gk.cuda.CaptureError, match="reads a device array on the host"):
            gk.ones(2, device="cpu").numpy()  # still guarded
        assert _in_thread(lambda: gk.ones(2, device="cpu").numpy().tolist()) == [1.0, 1.0]
    assert NUMPY.rng is old_rng and _routed(NUMPY) == []
    assert C._owners == {}
    # and now another thread may capture on it
    assert _in_thread(lambda: _enter_and_leave(NUMPY)) is True


def _enter_and_leave(backend) -> bool:
    with C._Routing(backend, _FakeGemm(), CounterRNG(3)):
        return C.is_capturing()


class _OtherDevice(NumpyBackend):
    """A second CPU 'device' (its own backend object)."""

    device = "cpu:other"


def test_captures_on_two_devices_from_two_threads_are_independent():
    other = _OtherDevice()
    old_rng = other.rng
    inside, release = threading.Event(), threading.Event()

    def capture_other():
        with C._Routing(other, _FakeGemm(), CounterRNG(2)):
            inside.set()
            release.wait(WAIT)
            return "CounterRNG" in repr(other.rng.random)

    t_result = {}
    t = threading.Thread(target=lambda: t_result.setdefault("ok", capture_other()))
    t.start()
    assert inside.wait(WAIT)
    with C._Routing(NUMPY, _FakeGemm(), CounterRNG(1)):
        assert "CounterRNG" in repr(NUMPY.rng.random)
        release.set()
        t.join(WAIT)
    assert t_result["ok"] is True and _routed(other) == [] and other.rng is old_rng


def test_a_failed_entry_puts_back_exactly_what_was_there(monkeypatch):
    class Odd(NumpyBackend):
        device = "cpu:odd"

    backend = Odd()

    def own_to_numpy(array):
        return np.asarray(array)

    backend.to_numpy = own_to_numpy  # an instance attribute of its own, kept through the capture
    rng = backend.rng

    def broken_install(gemm):
        raise RuntimeError("no GEMM here")

    monkeypatch.setattr(G, "install", broken_install)
    with pytest.raises(RuntimeError, match="no GEMM here"), C._Routing(backend, _FakeGemm(), CounterRNG(1)):
        pass
    assert vars(backend)["to_numpy"] is own_to_numpy and backend.rng is rng and _routed(backend) == ["to_numpy"]
    assert not C.is_capturing() and C._owners == {}
    monkeypatch.undo()
    with C._Routing(backend, _FakeGemm(), CounterRNG(1)):
        assert vars(backend)["to_numpy"] is not own_to_numpy
    assert vars(backend)["to_numpy"] is own_to_numpy and backend.rng is rng


def test_a_refused_nested_capture_leaves_the_outer_one_alone():
    with C._Routing(NUMPY, _FakeGemm(), CounterRNG(1)):
        with pytest.raises(gk.cuda.CaptureError, match="cannot capture another"), C._Routing(NUMPY, None, None):
            pass
        assert C.is_capturing() and "CounterRNG" in repr(NUMPY.rng.random) and C._owners
    assert not C._owners


# ------------------------------------------------------------------ other threads' syncs and frees
class _FakeCuda:
    def __init__(self, log):
        self.log = log
        self.current = 0

    def Device(self, index):  # noqa: N802 - CuPy's name
        log = self.log

        @contextlib.contextmanager
        def on():
            log.append(("device", index))
            yield

        return on()

    def get_current_stream(self):
        return SimpleNamespace(synchronize=lambda: self.log.append(("stream.synchronize", threading.get_ident())))


class _FakeCupyBackend(Backend):
    name = "cupy"
    device = "fake:0"
    array_type = np.ndarray

    def __init__(self, log):
        self.log, self.index = log, 0
        self.xp = SimpleNamespace(cuda=_FakeCuda(log))
        self.rng = np.random.default_rng(0)

    def asarray(self, data, dtype=None):
        return np.asarray(data, dtype=dtype)

    def to_numpy(self, array):
        return np.asarray(array)

    def synchronize(self):
        self.log.append(("device.synchronize", threading.get_ident()))

    def seed(self, seed):
        self.rng = np.random.default_rng(seed)


def test_other_threads_synchronize_their_stream_only_while_a_thread_captures():
    log = []
    backend = _FakeCupyBackend(log)
    with C._Routing(backend, _FakeGemm(), None):
        ident = _in_thread(lambda: (backend.synchronize(), threading.get_ident())[1])
        with pytest.raises(gk.cuda.CaptureError, match="synchronises"):
            backend.synchronize()
    assert log == [("device", 0), ("stream.synchronize", ident)]
    log.clear()
    backend.synchronize()  # afterwards: the device again
    assert log == [("device.synchronize", threading.get_ident())]


def test_frees_wait_for_the_captures_in_progress():
    done = []
    with C._capturing():
        M.free_when_no_capture(lambda: done.append("a"))
        with C._capturing():
            M.free_when_no_capture(lambda: done.append("b"))
        assert done == [] and G.captures_active() == 1  # the outer capture still runs
    assert done == ["a", "b"]
    M.free_when_no_capture(lambda: done.append("c"))  # no capture: at once
    assert done == ["a", "b", "c"]


def test_a_failing_deferred_free_is_dropped_quietly():
    done = []

    def fails():
        raise RuntimeError("cudaFree failed")

    with C._capturing():
        M.free_when_no_capture(fails)
        M.free_when_no_capture(lambda: done.append(1))
    assert done == [1] and not M._deferred


def _fake_cupy(monkeypatch, log):
    def pool(name):
        return SimpleNamespace(free_all_blocks=lambda: log.append(name))

    cp = SimpleNamespace(get_default_memory_pool=lambda: pool("device pool"),
                         get_default_pinned_memory_pool=lambda: pool("pinned pool"))
    import gradkit.backends
    import gradkit.backends.cupy_backend

    monkeypatch.setattr(gradkit.backends, "cuda_available", lambda: True)
    monkeypatch.setattr(gradkit.backends.cupy_backend, "import_cupy", lambda: cp)


def test_empty_cache_during_another_threads_capture_waits_for_its_end(monkeypatch):
    log = []
    _fake_cupy(monkeypatch, log)
    with C._capturing():
        _in_thread(gk.cuda.empty_cache)
        assert log == []
    assert log == ["device pool", "pinned pool"]
    gk.cuda.empty_cache()
    assert log == ["device pool", "pinned pool"] * 2


def test_empty_cache_inside_a_step_being_captured_is_refused(monkeypatch):
    log = []
    _fake_cupy(monkeypatch, log)
    with C._Routing(NUMPY, _FakeGemm(), None):
        with pytest.raises(gk.cuda.CaptureError, match=r"empty_cache: refused inside a step being captured"):
            gk.cuda.empty_cache()
    assert log == []


def test_closing_a_step_while_another_captures_frees_its_pool_afterwards():
    log = []
    backend = _FakeCupyBackend(log)
    x = Tensor._make(np.zeros(2, np.float32), backend)
    step = C.CapturedStep(lambda a: a, (x,), backend, 1, graphed=False)
    step._pool = SimpleNamespace(free_all_blocks=lambda: log.append("pool.free_all_blocks"))
    with C._capturing():
        step.close()
        assert step._pool is None and log == []  # graph_pool_bytes no longer counts it
    assert log == [("device.synchronize", threading.get_ident()), "pool.free_all_blocks"]
    with pytest.raises(gk.cuda.CaptureError, match="it was closed"):
        step(np.zeros(2, np.float32))


def test_closing_a_step_inside_a_step_being_captured_is_refused():
    step = C.CapturedStep(lambda a: a, (gk.zeros(2, device="cpu"),), NUMPY, 1, graphed=False)
    with C._Routing(NUMPY, _FakeGemm(), None), pytest.raises(gk.cuda.CaptureError, match="close"):
        step.close()
    assert step(gk.ones(2, device="cpu")).tolist() == [1.0, 1.0]  # not closed


# ------------------------------------------------------------------ _build: the current stream, not the device
class _Stream:
    def __init__(self, cuda, name):
        self.cuda, self.name = cuda, name

    def __enter__(self):
        self.cuda.stack.append(self)
        return self

    def __exit__(self, *exc):
        self.cuda.stack.pop()

    def record(self):
        return ("event", self.name)

    def wait_event(self, event):
        self.cuda.log.append(("wait_event", self.name, event))

    def synchronize(self):
        self.cuda.log.append(("stream.synchronize", self.name))

    def begin_capture(self, mode):
        self.cuda.log.append(("begin_capture",))

    def end_capture(self):
        self.cuda.log.append(("end_capture",))
        return SimpleNamespace(launch=lambda stream: None)


class _BuildCuda:
    def __init__(self, log):
        self.log, self.stack = log, []
        self.default = _Stream(self, "default")
        self.runtime = SimpleNamespace(streamCaptureModeRelaxed=2)

    def Device(self, index):  # noqa: N802
        return contextlib.nullcontext()

    def Stream(self, non_blocking=False):  # noqa: N802
        return _Stream(self, "side")

    def get_current_stream(self):
        return self.stack[-1] if self.stack else self.default

    def MemoryPool(self):  # noqa: N802
        return SimpleNamespace(total_bytes=lambda: 0, malloc=None)

    def using_allocator(self, malloc):
        return contextlib.nullcontext()


def test_build_synchronises_the_current_stream_not_the_device(monkeypatch):
    log = []
    backend = _FakeCupyBackend(log)
    backend.xp = SimpleNamespace(cuda=_BuildCuda(log), asarray=lambda data, dtype=None: np.array(data, dtype=dtype))
    monkeypatch.setattr(G, "CublasGemm", lambda index: SimpleNamespace(bind_current_stream=lambda: None,
                                                                       matmul=lambda a, b: None, close=lambda: None))
    x = Tensor._make(np.zeros(2, np.float32), backend)
    C.CapturedStep(lambda a: a * 2.0, (x,), backend, 1, graphed=True)
    assert not any(e[0] == "device.synchronize" for e in log), log
    assert log[0] == ("stream.synchronize", "default")  # before the side stream starts (it also waits for it)
    assert log[1] == ("wait_event", "side", ("event", "default"))


# ------------------------------------------------------------------ gk.manual_seed
@pytest.fixture
def _seed_kept(monkeypatch):
    import gradkit.backends as B

    monkeypatch.setattr(B, "_seed_state", dict(B._seed_state))
    for backend in list(B._backends.values()):
        if "rng" in vars(backend):
            monkeypatch.setattr(backend, "rng", backend.rng)


def test_manual_seed_inside_a_step_being_captured_is_refused(_seed_kept):
    before = NUMPY.rng
    with C._Routing(NUMPY, _FakeGemm(), CounterRNG(1)):
        with pytest.raises(gk.cuda.CaptureError, match=r"reseeds the random generators \(gk.manual_seed\)"):
            gk.manual_seed(5)
        assert "CounterRNG" in repr(NUMPY.rng.random)
    assert NUMPY.rng is before


def test_manual_seed_refused_in_a_capture_reseeds_no_other_backend(_seed_kept, monkeypatch):
    import gradkit.backends as B

    class Spy:
        seeds: list = []

        def seed(self, value):
            self.seeds.append(value)

    spy = Spy()
    monkeypatch.setattr(B, "_backends", {"spy": spy, **B._backends})  # seeded before the capturing one
    monkeypatch.setattr(B, "_seed_state", {})
    with C._Routing(NUMPY, _FakeGemm(), CounterRNG(1)):
        with pytest.raises(gk.cuda.CaptureError, match="gk.manual_seed"):
            gk.manual_seed(5)
    assert spy.seeds == [] and B._seed_state == {}


def test_manual_seed_on_another_thread_reseeds_the_generator_the_capture_replaced(_seed_kept):
    capture_rng = CounterRNG(1)
    with C._Routing(NUMPY, _FakeGemm(), capture_rng):
        drawn = _in_thread(lambda: (gk.manual_seed(5), NUMPY.rng.random(3))[1])
        assert "CounterRNG" in repr(NUMPY.rng.random)  # this thread still draws from the capture's generator
    assert capture_rng.offset == 0
    np.testing.assert_array_equal(drawn, np.random.default_rng(5).random(3))
    np.testing.assert_array_equal(NUMPY.rng.random(2), np.random.default_rng(5).random(5)[3:])  # kept afterwards
    assert "seed" not in vars(NUMPY)


def test_manual_seed_on_another_thread_without_a_capture_generator(_seed_kept):
    backend = _FakeCupyBackend([])
    with C._Routing(backend, _FakeGemm(), None):
        _in_thread(lambda: backend.seed(9))
        np.testing.assert_array_equal(backend.rng.random(2), np.random.default_rng(9).random(2))
    assert "seed" not in vars(backend) and "rng" in vars(backend)


# ------------------------------------------------------------------ cross-entropy target errors, per thread
@pytest.fixture
def reports(monkeypatch):
    """cupy_kernels' report words on bytearrays (no CuPy needed), with a clean registry."""
    from gradkit.backends.cupy_backend import CupyBackend
    from gradkit.kernels import cupy_kernels as K

    cuda = SimpleNamespace(Device=lambda i: contextlib.nullcontext(), alloc_pinned_memory=lambda n: bytearray(n))
    monkeypatch.setattr(K, "_cupy", lambda: SimpleNamespace(cuda=cuda))
    monkeypatch.setattr(K, "_REPORTS", {})
    monkeypatch.setattr(K, "_mine", threading.local())
    monkeypatch.setattr(CupyBackend, "host_read_checks", [])
    return K


def test_a_target_error_is_raised_on_the_thread_that_launched_the_kernel_only(reports):
    from gradkit.backends.cupy_backend import CupyBackend

    _, words = reports._report_words(0)
    assert CupyBackend.host_read_checks == [reports.raise_pending_target_error]
    words[:3] = [1, 7, 3]  # what gk_xent_checked writes: flag, value, classes
    _in_thread(reports.raise_pending_target_error)  # a DataLoader worker's host read
    assert words[0] == 1  # not raised there, not cleared
    with pytest.raises(gk.IndexOutOfRangeError, match=r"target 7 is out of range: expected 0 <= value < 3"):
        reports.raise_pending_target_error()
    assert words[0] == 0
    reports.raise_pending_target_error()  # raised once


def test_each_thread_has_its_own_report_words(reports):
    _, mine = reports._report_words(0)
    _, theirs = _in_thread(lambda: reports._report_words(0))
    assert mine is not theirs and len(reports._REPORTS) == 2
    theirs[:3] = [1, 9, 4]
    reports.raise_pending_target_error()  # theirs is not this thread's
    assert theirs[0] == 1


def test_words_left_by_a_finished_thread_start_clean_for_the_next(reports):
    _, words = reports._report_words(0)
    words[:3] = [1, 2, 2]
    reports._mine = threading.local()  # as a new thread that was given a finished thread's ident
    _, again = reports._report_words(0)
    assert again is words and words[0] == 0


# ------------------------------------------------------------------ the CuPy backend's draws, on its device
class _Cuda:
    """cupy.cuda's current device (one per thread in CuPy; one here) and Device(i) as a context."""

    def __init__(self):
        self.current = 0
        self.entered = []

    def get_device_id(self):
        return self.current

    @contextlib.contextmanager
    def Device(self, index):  # noqa: N802
        self.entered.append(index)
        previous, self.current = self.current, index
        try:
            yield
        finally:
            self.current = previous


class _DeviceGenerator:
    """Draws only on the device it was made on, as cupy.random.Generator (its _check_device)."""

    def __init__(self, cuda, index):
        self.cuda, self.index = cuda, index
        self.inner = np.random.default_rng(0)

    def _check(self):
        if self.cuda.current != self.index:
            raise RuntimeError("This Generator state is allocated in a different device")

    def random(self, *args, **kwargs):
        self._check()
        return self.inner.random(*args, **kwargs)

    def standard_normal(self, *args, **kwargs):
        self._check()
        return self.inner.standard_normal(*args, **kwargs)

    def integers(self, *args, **kwargs):
        self._check()
        return self.inner.integers(*args, **kwargs)


def _cupy_backend_on(index, cuda):
    from gradkit.backends.cupy_backend import CupyBackend

    backend = object.__new__(CupyBackend)
    backend.index, backend.device = index, f"cuda:{index}"
    backend.xp = SimpleNamespace(cuda=cuda, argsort=np.argsort, int64=np.int64, minimum=np.minimum)
    backend.rng = _DeviceGenerator(cuda, index)
    return backend


@pytest.mark.parametrize("backend_index, current", [(0, 1), (1, 0), (1, 1), (0, 0)])
def test_cupy_backend_draws_on_its_own_device(backend_index, current):
    cuda = _Cuda()
    backend = _cupy_backend_on(backend_index, cuda)
    cuda.current = current
    assert backend.uniform((3,), np.dtype(np.float32)).dtype == np.float32
    assert backend.uniform((3,), np.dtype(np.float16)).dtype == np.float16
    assert backend.normal((2, 2), np.dtype(np.float64)).shape == (2, 2)
    assert backend.integers(0, 5, (4,), np.dtype(np.int64)).max() < 5
    assert sorted(backend.permutation(6).tolist()) == list(range(6))
    assert cuda.current == current  # put back
    # already on its device: no switch (the hot path); otherwise one per draw
    assert cuda.entered == ([] if backend_index == current else [backend_index] * 5)


def test_cupy_backend_draws_under_its_device_when_another_is_current(device, monkeypatch):
    if device != "cuda":
        pytest.skip("the CuPy backend's path")
    backend = get_backend(device)
    cuda = backend.xp.cuda
    entered = []
    real_device = cuda.Device

    @contextlib.contextmanager
    def spy(index=None):
        entered.append(index)
        with real_device(index):
            yield

    # this thread's current device is another one, except inside the backend's Device(index)
    monkeypatch.setattr(cuda, "get_device_id", lambda: backend.index if entered else backend.index + 1)
    monkeypatch.setattr(cuda, "Device", spy)
    x = gk.rand(4, device=device)
    assert x.shape == (4,) and entered and set(entered) == {backend.index}


@pytest.mark.cuda
def test_a_target_error_on_the_gpu_stays_with_the_thread_that_made_it():
    logits = gk.zeros((4, 3), device="cuda")
    loss = gk.nn.functional.cross_entropy(logits, gk.tensor([0, 1, 7, 2], device="cuda"))
    assert _in_thread(lambda: gk.ones(2, device="cuda").numpy().tolist()) == [1.0, 1.0]  # a worker's read
    with pytest.raises(gk.IndexOutOfRangeError, match="target 7 is out of range"):
        loss.item()


@pytest.mark.cuda
def test_another_threads_sync_and_empty_cache_during_a_capture_do_not_break_it():
    """While the step is captured (the third call, after two warm-ups) another thread synchronises and
    empties the cache: its sync waits for its own stream, the free waits for the capture's end."""
    backend = get_backend("cuda")
    w = gk.randn(32, 32, device="cuda")
    calls = []

    def step(a):
        calls.append(1)
        if len(calls) == 3:
            _in_thread(lambda: (backend.synchronize(), gk.cuda.empty_cache()))
            assert M._deferred  # the free waits
        return gk.tanh(a @ w)

    x = gk.randn(8, 32, device="cuda")
    captured = gk.cuda.capture(step, x)
    assert not M._deferred
    np.testing.assert_allclose(captured(x).numpy(), np.tanh(x.numpy() @ w.numpy()), rtol=1e-5, atol=1e-6)
    captured.close()


# ------------------------------------------------------------------ gk.linalg inside a capture
_SQUARE = np.array([[4.0, 1.0], [1.0, 3.0]])


@pytest.mark.parametrize("name, call", [
    ("linalg.inv", lambda a: gk.linalg.inv(a)),
    ("linalg.det", lambda a: gk.linalg.det(a)),
    ("linalg.slogdet", lambda a: gk.linalg.slogdet(a)),
    ("linalg.solve", lambda a: gk.linalg.solve(a, a)),
    ("linalg.cholesky", lambda a: gk.linalg.cholesky(a)),
    ("linalg.eigh", lambda a: gk.linalg.eigh(a)),
    ("linalg.eigvalsh", lambda a: gk.linalg.eigvalsh(a)),
    ("linalg.qr", lambda a: gk.linalg.qr(a)),
    ("linalg.svd", lambda a: gk.linalg.svd(a)),
    ("linalg.pinv", lambda a: gk.linalg.pinv(a)),
    ("linalg.lstsq", lambda a: gk.linalg.lstsq(a, a)),
])
def test_matrix_functions_refuse_a_capture_on_the_gpu_and_name_themselves(device, name, call, monkeypatch):
    import gradkit.cuda

    a = gk.tensor(_SQUARE, device=device)
    monkeypatch.setattr(gradkit.cuda, "is_capturing", lambda: True)
    if device == "cpu":  # NumPy arrays: LAPACK runs on the host, nothing to refuse
        call(a)
        return
    with pytest.raises(gk.cuda.CaptureError, match=rf"^{name}: cannot be part of a CUDA graph"):
        call(a)
    monkeypatch.undo()
    call(a)  # outside a capture it runs
