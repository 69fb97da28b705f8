"""Capture a whole training step as a CUDA graph once, replay it for every batch.

::

    def train_step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = gk.cuda.capture(train_step, x0, y0)   # warm-up, then capture one call
    for x, y in loader:                          # every batch of x0's and y0's shapes
        loss = step(x, y)                        # copy into the static inputs, replay
    print(loss.item())                           # outputs are static: read them after the call

How it works on the GPU. ``capture`` copies the example inputs into static
input tensors (``step.inputs``), runs the step ``warmup`` times on a side
stream (real training steps on the example batch: kernels get compiled,
optimiser state gets allocated), then runs it once more under CUDA stream
capture (``cupy.cuda.Stream.begin_capture``/``end_capture``) with a private
memory pool, so that every array the graph uses stays reserved for it. The
garbage collector runs just before the capture and is paused during it, and a
cuBLAS handle closed meanwhile is destroyed after it (``cublasDestroy``
synchronises the device, which would invalidate the capture). A call
``step(x, y)`` copies ``x`` and ``y`` into the static inputs and launches the
graph on the current stream: the whole step (forward, backward, optimiser
update) is one launch, with no Python in between.

While the step is warmed up and captured (``gk.cuda.is_capturing()`` is True):

- matmuls go through gradkit's own cuBLAS call (``gradkit.cuda.cublas``), since
  ``cupy.matmul`` refuses to run during capture; code must call
  ``Backend.matmul`` (``gk.matmul``, ``@`` on tensors) rather than ``@`` on
  raw CuPy arrays;
- random numbers (``gk.rand``, dropout) come from a ``CounterRNG`` whose seed
  and offset live on the device, so every replay draws new numbers;
- host synchronisation is refused with a :class:`CaptureError`: a replay
  cannot return to Python halfway, so ``.item()``, ``.numpy()``, ``float()``
  or an ``if`` on a tensor, and host arrays turned into device arrays, cannot
  be part of the step;
- reseeding (``gk.manual_seed``) and ``gk.cuda.empty_cache()`` in the step are
  refused with a :class:`CaptureError` (a replay cannot reseed, and freeing
  memory synchronises the device), and so are gk.linalg's matrix functions
  (CuPy's cuSOLVER calls cannot be captured).

Other threads (DataLoader workers) keep working meanwhile, with three
differences: a second capture on the same device is refused (one capture per
device at a time), ``Backend.synchronize`` waits for the calling thread's
current stream only, and memory frees (``gk.cuda.empty_cache()``,
``CapturedStep.close()``) wait until the capture has ended: a device-wide
synchronisation or a ``cudaFree`` during a capture would invalidate it.
``gk.manual_seed`` on another thread reseeds the generator the step's
CounterRNG stands in for, which the device gets back at the end.

What a replay does not do: anything in Python. The step must update its
parameters and optimiser state in place (gk.optim does), Python-side state
(an optimiser's step counter, a learning-rate schedule) keeps the value it had
at capture (Adam and AdamW, whose bias corrections follow the step count,
refuse to be captured unless made with ``capturable=True``, which keeps the
count on the device), and the outputs are the same
tensors on every call, overwritten by the next replay. Shapes and dtypes are
fixed: a batch of another shape is refused (capture once per shape, or use
``drop_last=True``).

On the NumPy backend, or with ``enabled=False``, ``capture`` returns a step
that runs the function as plain Python (no warm-up), with the same checks
of shapes and dtypes and the same static inputs (a call copies its batch into
``inputs`` and runs the function on them; ``outputs`` is what it returned
last), so one script runs on either device.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gradkit.backends.base import Backend
from gradkit.cuda import cublas as gemm_mod
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, GradkitError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor


class CaptureError(GradkitError, RuntimeError):
    """A step that cannot be captured as a CUDA graph (host synchronisation, an uncapturable library call)."""


_state = threading.local()  # .active: the _Routing of the step being warmed up or captured on this thread


def is_capturing() -> bool:
    """True while this thread runs a step for ``gk.cuda.capture`` (its warm-up and its capture).

    Code that would synchronise with the host (a range check that reads a
    device value, a ``.item()`` for logging) can skip that work when this is
    True; inside a CUDA graph it is refused.
    """
    return getattr(_state, "active", None) is not None


def refuse_reseeding() -> None:
    """Raise the CaptureError for ``gk.manual_seed`` inside a step being captured in this thread."""
    raise CaptureError(
        "capture: the step reseeds the random generators (gk.manual_seed); a CUDA graph cannot "
        "reseed at each replay, and the seed would be undone when the capture ends. Seed before "
        "gk.cuda.capture (the capture's CounterRNG takes its seed from the generator then)"
    )


# --------------------------------------------------------------------- failures
_LIBRARY = re.compile(r"calling (\w+) API during stream capture")


def explain_failure(exc: BaseException) -> CaptureError:
    """The CaptureError that says why ``exc``, raised while capturing, means the step cannot be captured."""
    if isinstance(exc, CaptureError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    lib = _LIBRARY.search(str(exc))
    if isinstance(exc, NotImplementedError) and lib:
        return CaptureError(
            f"capture: the step called {lib.group(1)} while being captured, which CuPy does not allow. "
            "gradkit routes matmuls on tensors (gk.matmul, @, nn.Linear through Backend.matmul) through its "
            "own capture-safe cuBLAS call and random numbers through gk.cuda.CounterRNG; other library calls "
            "(einsum/tensordot, linalg, FFT, cupy.random or @ on raw CuPy arrays) cannot be captured: move "
            f"them out of the step. CuPy said: {text}"
        )
    if type(exc).__name__ == "OutOfMemoryError" or re.search(r"out of memory", str(exc), re.IGNORECASE):
        # CuPy's pool answers a failed cudaMalloc by freeing its cached blocks, which ends a capture too
        return CaptureError(
            "capture: the device ran out of memory while the step was captured (the graph's private memory "
            "pool could not grow). Free memory first (gk.cuda.empty_cache(), fewer live arrays) or capture "
            f"a smaller step. CUDA said: {text}"
        )
    if re.search(r"captur", str(exc), re.IGNORECASE):
        return CaptureError(
            "capture: the step did something a CUDA graph cannot hold, most likely a host synchronisation: "
            "reading a device value on the host (.item(), float(), bool() or printing a tensor, .numpy(), an "
            "`if` on a tensor, a range check of labels), a device-wide synchronize, or a blocking copy. "
            "Keep host reads out of the captured step: return the tensor and read it after the call. "
            f"CUDA said: {text}"
        )
    return CaptureError(f"capture: the step raised {text} while being captured")


# --------------------------------------------------------------------- routing
_MISSING = object()


class _ThreadRNG:
    """The backend's generator while a step is captured: the capture's CounterRNG on the capturing thread,
    the generator it replaced on any other (a DataLoader worker making batches meanwhile)."""

    __slots__ = ("_routing", "_capture", "_other")

    def __init__(self, routing: _Routing, capture: Any, other: Any) -> None:
        self._routing, self._capture, self._other = routing, capture, other

    def __getattr__(self, name: str) -> Any:
        rng = self._capture if getattr(_state, "active", None) is self._routing else self._other
        return getattr(rng, name)


_owners_lock = threading.Lock()
_owners: dict[int, _Routing] = {}  # id(backend) -> the routing active on it: one capture per backend at a time


class _Routing:
    """While active on this thread: gradkit's GEMM, a CounterRNG, and guards against host syncs and reseeding.

    The guards and the generator are set on the shared backend object, so each checks the thread it runs
    on: other threads (DataLoader workers) keep the backend's own behaviour, except that their
    ``synchronize`` waits for their current stream only (a device-wide synchronisation would invalidate the
    capture) and their ``seed`` reseeds the generator the capture replaced (the one the backend gets back).
    One routing at a time per backend: a second one, from another thread, is refused (each would remove
    the other's guards and generator when it ends). Every exit, and a failed entry, puts back exactly what
    the backend had.
    """

    def __init__(self, backend: Backend, gemm: Any, rng: Any) -> None:
        self.backend = backend
        self.gemm = gemm
        self.rng = rng
        self.thread = ""
        self._lock = threading.Lock()  # a reseed from another thread against the end of the routing
        self._saved: dict[str, Any] = {}
        self._active = False

    def _guards(self) -> dict[str, Any]:
        backend = self.backend
        elsewhere = self._elsewhere

        def asarray(data: Any, dtype: Any = None) -> Any:
            if getattr(_state, "active", None) is not self:
                return elsewhere["asarray"](data, dtype)
            # a list first: np.ndim would convert its items, and a CuPy item refuses that with a TypeError
            if not isinstance(data, backend.array_type) and (isinstance(data, (list, tuple)) or np.ndim(data) > 0):
                size = f"shape {data.shape}" if hasattr(data, "shape") else f"length {len(data)}"
                raise CaptureError(
                    f"capture: the step turns host data ({type(data).__name__} of {size}) into a "
                    "device array; a CUDA graph would replay the values it had at capture time. Create such "
                    "arrays on the device before capturing and pass them in (or as static inputs)"
                )
            return elsewhere["asarray"](data, dtype)

        def to_numpy(array: Any) -> Any:
            if getattr(_state, "active", None) is not self:
                return elsewhere["to_numpy"](array)
            raise CaptureError(
                "capture: the step reads a device array on the host (.item(), float(), bool() or an `if` on a "
                "tensor, .numpy(), .tolist(), np.asarray or printing a tensor): a host synchronisation, and a CUDA "
                "graph cannot stop for the host. Return the tensor from the step and read it after the call"
            )

        def synchronize() -> None:
            if getattr(_state, "active", None) is not self:
                if backend.name != "cupy":
                    return elsewhere["synchronize"]()
                # another thread: its own work is on its current stream; a device-wide synchronisation
                # (cudaDeviceSynchronize) while this thread captures would invalidate the capture
                cuda = backend.xp.cuda
                with cuda.Device(backend.index):
                    cuda.get_current_stream().synchronize()
                return None
            raise CaptureError(
                "capture: the step synchronises the device with the host; a CUDA graph cannot. Synchronise "
                "after the call instead"
            )

        def seed(value: int) -> None:
            if getattr(_state, "active", None) is self:
                refuse_reseeding()
            self._seed_elsewhere(value)

        return {"asarray": asarray, "to_numpy": to_numpy, "synchronize": synchronize, "seed": seed}

    def _seed_elsewhere(self, value: int) -> None:
        """``backend.seed(value)`` for a thread other than the capturing one.

        The backend's ``rng`` is the capture's per-thread generator: the new generator is made on a copy of
        the backend, then put where other threads draw from and where the backend gets it back at the end.
        """
        backend, original = self.backend, self._elsewhere["seed"]
        with self._lock:
            active = self._active
            # a seed function of the backend's own class (not one set on the instance): run it on a copy
            if active and self.rng is not None and getattr(original, "__self__", None) is backend:
                shadow = object.__new__(type(backend))
                shadow.__dict__.update({k: v for k, v in vars(backend).items() if k not in self._saved})
                original.__func__(shadow, value)
                self._prev_rng = fresh = getattr(shadow, "rng", None)
                thread_rng = vars(backend).get("rng")
                if isinstance(thread_rng, _ThreadRNG) and thread_rng._routing is self:
                    thread_rng._other = fresh
                self._reseeded = True
                return
        # the routing has ended (the backend's own seed is back), or it left the generator alone
        (original if active else backend.seed)(value)

    def __enter__(self) -> _Routing:
        if is_capturing():
            raise CaptureError("capture: a step that is being captured cannot capture another step")
        backend = self.backend
        with _owners_lock:
            owner = _owners.get(id(backend))
            if owner is not None:
                raise CaptureError(
                    f"capture: thread {owner.thread!r} is already capturing a step on {backend.device}; two "
                    "captures on one device at the same time would break each other (their host-read guards "
                    "and random generators are set on the shared device). Capture the steps one after the other"
                )
            _owners[id(backend)] = self
            self.thread = threading.current_thread().name
        self._saved, self._reseeded = {}, False
        self._prev_gemm: Any = _MISSING
        try:
            _state.active = self
            self._prev_gemm = gemm_mod.install(self.gemm)
            self._prev_rng = getattr(backend, "rng", _MISSING)
            self._elsewhere = {name: getattr(backend, name) for name in ("asarray", "to_numpy", "synchronize", "seed")}
            values = self._guards()
            if self.rng is not None:
                other = None if self._prev_rng is _MISSING else self._prev_rng
                values["rng"] = _ThreadRNG(self, self.rng, other)
            inst = vars(backend)
            with self._lock:
                self._active = True
                for name, value in values.items():
                    self._saved[name] = inst.get(name, _MISSING)
                    setattr(backend, name, value)
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._restore()

    def _restore(self) -> None:
        """Put back what ``__enter__`` changed (only that: also after a failed entry)."""
        backend = self.backend
        try:
            with self._lock:
                self._active = False
                for name, prev in reversed(self._saved.items()):
                    if name == "rng" and self._reseeded:
                        prev = self._prev_rng  # reseeded by another thread meanwhile: the new generator
                    if prev is _MISSING:
                        backend.__dict__.pop(name, None)
                    else:
                        setattr(backend, name, prev)
                self._saved = {}
            if self._prev_gemm is not _MISSING:
                gemm_mod.install(self._prev_gemm)
                self._prev_gemm = _MISSING
        finally:
            if getattr(_state, "active", None) is self:
                _state.active = None
            with _owners_lock:
                if _owners.get(id(backend)) is self:
                    del _owners[id(backend)]


# --------------------------------------------------------------------- inputs and outputs
def _as_input(x: Any, i: int, backend: Backend | None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or hasattr(x, "__cuda_array_interface__"):
        from gradkit.creation import tensor

        return tensor(x, device=backend) if backend is not None else tensor(x)
    raise ArgumentTypeError(
        f"capture: input {i} must be a Tensor (or a NumPy/CuPy array), got {type(x).__name__}; "
        "pass Python numbers as constants inside the step"
    )


def _map_tensors(obj: Any, fn: Callable[[Tensor], Any]) -> Any:
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, tuple):
        return tuple(_map_tensors(o, fn) for o in obj)
    if isinstance(obj, list):
        return [_map_tensors(o, fn) for o in obj]
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    return obj


def _fresh_seed(backend: Backend) -> int:
    """A seed for the capture's CounterRNG, drawn from the backend's generator (so gk.manual_seed fixes it)."""
    try:
        return int(backend.rng.integers(0, 2**63 - 1)) & (2**64 - 1)
    except Exception:  # noqa: BLE001 - any generator without integers()
        return int.from_bytes(os.urandom(8), "little")


# --------------------------------------------------------------------- the captured step
class CapturedStep:
    """A step function bound to fixed input shapes; a CUDA graph on the GPU, plain Python on the CPU.

    ``step(*batch)`` checks the batch against the captured shapes and dtypes,
    copies it into ``step.inputs`` and then (GPU) replays the graph, returning
    ``step.outputs`` (the same tensors every time), or (CPU) runs
    ``fn(*step.inputs)`` and returns what it returns, kept as ``step.outputs``.
    ``step()`` with no arguments runs on what ``step.inputs`` hold.
    Attributes: ``graphed``, ``device``, ``inputs``, ``outputs``, ``warmup``.
    """

    def __init__(self, fn: Callable[..., Any], inputs: tuple[Tensor, ...], backend: Backend, warmup: int,
                 graphed: bool) -> None:
        self._fn = fn
        self._backend = backend
        self.device = backend.device
        self.warmup = warmup
        self.graphed = graphed
        self._specs = tuple((t.shape, t.dtype) for t in inputs)
        self.inputs = tuple(self._static_copy(t) for t in inputs)
        self.outputs: Any = None
        self._graph: Any = None
        self._pool: Any = None
        self._gemm: Any = None
        self._rng: Any = None
        self._stream: Any = None
        self._closed = False
        if graphed:
            self._build()

    def _static_copy(self, t: Tensor) -> Tensor:
        s = Tensor._make(t._data.copy(), self._backend)
        if t._requires_grad and t._grad_fn is None:
            s._requires_grad = True
        return s

    # ------------------------------------------------------------ capture
    def _build(self) -> None:
        from gradkit.cuda.memory import register_graph
        from gradkit.cuda.rng import CounterRNG

        backend = self._backend
        cp = backend.xp
        with cp.cuda.Device(backend.index):
            try:
                self._gemm = gemm_mod.CublasGemm(backend.index)
            except Exception as exc:
                raise CaptureError(f"capture: gradkit's capture-safe GEMM is not available here ({exc})") from exc
            # Host uploads (the RNG state; CuPy copies asynchronously on the current stream) come before the
            # synchronisation; the non-blocking side stream also waits on the current stream explicitly.
            # The current stream, not the device: what the step starts from (the static inputs copied in
            # __init__, the RNG state) was queued on it by this thread. A device-wide synchronisation would
            # also wait for other threads' work, and would invalidate a capture running on another stream.
            self._rng = CounterRNG(_fresh_seed(backend), device=backend)
            cp.cuda.get_current_stream().synchronize()
            self._stream = stream = cp.cuda.Stream(non_blocking=True)
            stream.wait_event(cp.cuda.get_current_stream().record())
            routing = _Routing(backend, self._gemm, self._rng)
            with stream:
                self._gemm.bind_current_stream()
                with routing:
                    for _ in range(self.warmup):
                        self._fn(*self.inputs)
            stream.synchronize()
            self._pool = pool = cp.cuda.MemoryPool()
            with _gc_paused(), _capturing():
                with stream, cp.cuda.using_allocator(pool.malloc), routing:
                    stream.begin_capture(cp.cuda.runtime.streamCaptureModeRelaxed)
                    try:
                        out = self._fn(*self.inputs)
                    except BaseException as exc:
                        _end_quietly(stream)
                        if not isinstance(exc, Exception):
                            raise
                        raise explain_failure(exc) from exc
                    try:
                        graph = stream.end_capture()
                    except Exception as exc:
                        raise explain_failure(exc) from exc
            # leaving _capturing() destroyed the cuBLAS handles closed during the capture, if any, and ran the
            # memory frees other threads asked for meanwhile
            if hasattr(graph, "upload"):  # CuPy >= 13: instantiate on the device now, not at the first replay
                graph.upload(stream)
            stream.synchronize()
        self._graph = graph
        self.outputs = _map_tensors(out, lambda t: t.detach())
        register_graph(self)

    # ------------------------------------------------------------ calls
    def _check(self, batch: tuple) -> tuple[Tensor, ...]:
        if len(batch) != len(self._specs):
            raise ArgumentTypeError(
                f"captured step: expected {len(self._specs)} input(s) (as in the capture), got {len(batch)}"
            )
        out = []
        for i, (x, (shape, dtype)) in enumerate(zip(batch, self._specs, strict=True)):
            if isinstance(x, Tensor):
                if x._backend is not self._backend:
                    raise DeviceError(f"captured step: input {i} is on {x.device}, the step on {self.device}")
            elif not (isinstance(x, np.ndarray) or isinstance(x, self._backend.array_type)):
                raise ArgumentTypeError(
                    f"captured step: input {i} must be a Tensor or an array, got {type(x).__name__}"
                )
            if tuple(x.shape) != tuple(shape):
                raise ShapeError(
                    f"captured step: input {i} has shape {tuple(x.shape)}, but the step was captured for "
                    f"{tuple(shape)}; a CUDA graph replays fixed shapes: capture the step again for this "
                    "shape (or keep batches one size, e.g. DataLoader(..., drop_last=True))"
                )
            if np.dtype(x.dtype) != dtype:
                raise DTypeError(
                    f"captured step: input {i} has dtype {np.dtype(x.dtype)}, but the step was captured for "
                    f"{dtype}; cast it first (x.astype(gk.{dtype}))"
                )
            out.append(x)
        return tuple(out)

    def __call__(self, *batch: Any) -> Any:
        if self._closed:
            raise CaptureError("captured step: it was closed; capture the step again")
        if batch:
            batch = self._check(batch)
        if not self.graphed:  # as on the GPU: the batch goes into the static inputs, the step runs on those
            for static, src in zip(self.inputs, batch, strict=True) if batch else ():
                if src is not static:
                    static._data[...] = self._backend.asarray(src._data if isinstance(src, Tensor) else src)
                    static._version[0] += 1
            self.outputs = self._fn(*self.inputs)
            return self.outputs
        cp = self._backend.xp
        with cp.cuda.Device(self._backend.index):
            for static, src in zip(self.inputs, batch, strict=True) if batch else ():
                if src is static:
                    continue
                data = src._data if isinstance(src, Tensor) else src
                if isinstance(data, np.ndarray):
                    static._data.set(np.ascontiguousarray(data))  # host batch: one host-to-device copy
                else:
                    static._data[...] = data
                static._version[0] += 1
            self._graph.launch(cp.cuda.get_current_stream())
        return self.outputs

    def replay(self) -> Any:
        """Run the step on what ``inputs`` hold now (the same as calling it with no arguments)."""
        return self()

    def close(self) -> None:
        """Release the graph, its handle and its memory pool's free blocks; the step cannot be called afterwards.

        Arrays still referenced elsewhere (``inputs``, outputs a caller kept) stay valid. While another
        thread captures a step, the pool's blocks are freed when that capture ends (``cudaFree`` would
        invalidate it). Refused inside a step being captured.
        """
        if is_capturing():
            raise CaptureError("captured step: close() cannot run inside a step being captured; close it after")
        from gradkit.cuda.memory import free_when_no_capture

        self._closed = True
        self._graph = None
        self.outputs = None
        if self._gemm is not None:
            self._gemm.close()
            self._gemm = None
        if self._pool is not None:
            pool, backend = self._pool, self._backend
            self._pool = None

            def free() -> None:
                backend.synchronize()  # a replay still running uses the pool's blocks
                pool.free_all_blocks()

            free_when_no_capture(free)

    def __repr__(self) -> str:
        kind = "CUDA graph" if self.graphed else "plain execution"
        shapes = ", ".join(f"{tuple(s)} {d}" for s, d in self._specs)
        return f"<CapturedStep {getattr(self._fn, '__name__', 'step')} on {self.device} ({kind}); inputs: {shapes}>"


@contextlib.contextmanager
def _capturing() -> Iterator[None]:
    """``cublas.capturing()``, then the memory frees deferred meanwhile (``memory.free_when_no_capture``)."""
    from gradkit.cuda.memory import release_deferred

    try:
        with gemm_mod.capturing():
            yield
    finally:
        release_deferred()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Collect garbage now, then keep the cyclic collector off until the block ends (as torch.cuda.graph does).

    A collection during a capture could run finalisers that synchronise the
    device (``cublasDestroy`` in a ``CublasGemm`` left in a reference cycle),
    which invalidates the capture. The collector's previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _end_quietly(stream: Any) -> None:
    """End a capture that failed (the stream must leave capture mode); its error is already being reported."""
    try:
        stream.end_capture()
    except Exception:  # noqa: BLE001 - invalidated captures raise here by design
        pass


def capture(fn: Callable[..., Any], *example_inputs: Any, warmup: int = 2, enabled: bool = True) -> CapturedStep:
    """Capture ``fn(*example_inputs)`` (a whole training step) as a CUDA graph; returns a replayable step.

    ``example_inputs`` are tensors (or arrays) of the shapes and dtypes every
    later batch will have, all on one device. ``warmup`` (at least 1) real
    calls run before the capture, on the example batch, so that kernels are
    compiled and lazily created state (momentum buffers) exists; they train
    the model like any other step. On a CPU device, or with
    ``enabled=False``, nothing is captured: the step runs ``fn`` as it is.
    See this module's documentation for what a captured step can and cannot do.
    """
    if not callable(fn):
        raise ArgumentTypeError(f"capture: expected a callable step function, got {type(fn).__name__}")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 1:
        raise InvalidArgumentError(f"capture: warmup must be an int >= 1, got {warmup!r}")
    if not isinstance(enabled, (bool, np.bool_)):
        raise ArgumentTypeError(f"capture: enabled must be True or False, got {enabled!r}")
    first = next((x for x in example_inputs if isinstance(x, Tensor)), None)
    backend = first._backend if first is not None else None
    inputs = tuple(_as_input(x, i, backend) for i, x in enumerate(example_inputs))
    if backend is None:
        from gradkit.backends import get_backend

        backend = inputs[0]._backend if inputs else get_backend(None)
    for i, t in enumerate(inputs):
        if t._backend is not backend:
            raise DeviceError(f"capture: input {i} is on {t.device}, input 0 on {backend.device}; use one device")
    graphed = bool(enabled) and backend.name == "cupy"
    return CapturedStep(fn, inputs, backend, int(warmup), graphed)
