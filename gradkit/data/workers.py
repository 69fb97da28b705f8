"""Worker threads for ``DataLoader(num_workers=n)``, and ``get_worker_info``.

The calling thread draws the batches' indices from the sampler and hands each batch's work
(a function and its argument) to worker ``i % n``, at most ``prefetch_factor * n`` batches
ahead; :class:`WorkerBatches` gives the results back in order. With ``in_order=False`` (as
PyTorch's) a batch is given back as soon as it comes, and the work goes to the next worker in
turn that has fewer than ``prefetch_factor`` batches outstanding, so a slow batch holds up
only its own worker's. Threads, not processes: a dataset need not be picklable, its tensors
may live on a GPU, and NumPy releases the GIL in its copies and maths. Each pass's tasks carry
the calling thread's grad mode and default device (both are per thread in gradkit), so the
workers make what the calling thread would.

For an iterable-style dataset, :class:`StreamBatches` asks each worker for the next batch of
its own stream instead (the task is the same worker's every time), round-robin over the
workers whose streams have not ended, as PyTorch orders them.

The threads hold nothing of the loader between tasks, so dropping the last reference to their
:class:`WorkerPool` (the iterator's, and with ``persistent_workers`` the loader's) stops them,
without waiting for the garbage collector.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradkit.autograd import grad_mode
from gradkit.backends import _local as _device_stack
from gradkit.backends import device as default_device_block
from gradkit.errors import GradkitError


class _End:
    """What a stream task returns when its worker's stream has ended (no batch)."""

    def __repr__(self) -> str:
        return "END"


END = _End()


class WorkerError(GradkitError, RuntimeError):
    """A DataLoader worker that timed out, or failed with an exception that cannot be raised as its own type."""


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns in a worker thread (as PyTorch's WorkerInfo)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_local = threading.local()  # .info: the WorkerInfo of a worker thread


def get_worker_info() -> WorkerInfo | None:
    """The :class:`WorkerInfo` of the DataLoader worker thread calling it; None in any other thread."""
    return getattr(_local, "info", None)


def worker_seed(root: int, epoch: int) -> int:
    """Worker 0's seed for a pass (worker ``i`` gets ``+ i``, as PyTorch's base seed): from ``root`` and ``epoch``."""
    state = np.random.SeedSequence(root, spawn_key=(epoch,)).generate_state(1, np.uint64)[0]
    return int(state) >> 2  # room for + worker id below 2**63


class _Pass:
    """One pass over the data: where its results go, and the caller's context its tasks run in."""

    __slots__ = ("results", "cancelled", "grad_enabled", "device", "gpu")

    def __init__(self) -> None:
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.cancelled = False  # set when the pass is abandoned: workers skip its queued tasks
        self.grad_enabled = grad_mode.state.enabled
        stack = _device_stack.stack  # read directly: resolving the default device could import CuPy
        self.device = stack[-1] if stack else None
        # (cupy, CUDA device, stream) the tasks run on; _LATER when CuPy was not imported yet (see _gpu_context)
        cp = sys.modules.get("cupy")
        self.gpu: Any = _LATER if cp is None else _caller_gpu(cp)

    def cancel(self) -> None:
        """Abandon the pass: the workers skip its queued tasks, and the results nobody will take are dropped
        (a worker's exception among them holds, through its traceback's frames, this pass and the loader: a
        reference cycle). A worker that puts a result after this drops it itself (see :func:`_run`)."""
        self.cancelled = True
        _drain(self.results)


_LATER = object()  # _Pass.gpu before CuPy is imported: the caller's CUDA state is the default one


def _caller_gpu(cp: Any) -> tuple[Any, int, Any] | None:
    """``(cupy, device, stream)`` for the tasks of a pass starting now: the calling thread's current CUDA device,
    and the stream that orders a batch's kernels before the caller's kernels that use it; None without a GPU.

    CUDA's current device and CuPy's current stream are per host thread (a new thread is on device 0 and its
    default stream), so the workers take the caller's, read at ``iter()``: where the loop's kernels go.
    A stream the caller made (``with cupy.cuda.Stream():``) is shared: the workers launch on it too, so a
    batch's kernels, launched before the batch is handed over, come before every kernel the caller launches
    after taking it, and memory a batch frees (CuPy's pool keeps freed blocks per stream) is reused only on
    that stream, behind what was queued there. A default stream cannot be shared: with
    ``CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1`` its handle means each thread's own stream (CuPy sends
    ``Stream.null``'s work there too), so the workers then use the legacy default stream by its explicit
    handle, which every blocking stream (the per-thread ones included) synchronises with both ways: the same
    ordering, and a freed block reused on it waits for what the caller queued before. Without per-thread
    default streams the caller's default stream is the legacy one already. Switching streams during the pass
    is not followed (the caller must then wait for the batches itself)."""
    try:
        index = int(cp.cuda.runtime.getDevice())
        stream = cp.cuda.get_current_stream()
        if stream.ptr == cp.cuda.runtime.streamPerThread or (stream.ptr == 0 and _per_thread_default()):
            stream = _legacy_stream(cp, index)
    except Exception:  # CuPy without a usable GPU (no driver, no device): nothing to set
        return None
    return cp, index, stream


def _per_thread_default() -> bool:
    """Whether CuPy makes each thread's default stream its own (its own test of the variable, read at import)."""
    try:
        return int(os.environ.get("CUPY_CUDA_PER_THREAD_DEFAULT_STREAM", "0")) != 0
    except ValueError:
        return False


class _Handle:
    """A raw CUDA stream handle, through the CUDA stream protocol (``cupy.cuda.Stream.from_external``)."""

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr

    def __cuda_stream__(self) -> tuple[int, int]:
        return (0, self.ptr)


_legacy: dict[tuple[Any, int], Any] = {}  # (cupy, device) -> a Stream on the legacy default stream's handle


def _legacy_stream(cp: Any, index: int) -> Any:
    """CuPy's Stream for the legacy default stream of device ``index`` (``cudaStreamLegacy``): unlike
    ``Stream.null``, the same stream in every thread whatever the per-thread default stream setting."""
    stream = _legacy.get((cp, index))
    if stream is None:
        ptr = cp.cuda.runtime.streamLegacy
        with cp.cuda.Device(index):  # the stream's device is the current one
            external = getattr(cp.cuda.Stream, "from_external", None)  # CuPy 14; ExternalStream is deprecated there
            stream = external(_Handle(ptr)) if external is not None else cp.cuda.ExternalStream(ptr, index)
        _legacy[cp, index] = stream
    return stream


def _gpu_context(run: _Pass) -> tuple[Any, int, Any] | None:
    """``(cupy, device, stream)`` for a task of ``run`` (None: CuPy is not in use). A pass that began before
    CuPy was imported (a worker's task imported it) had the caller on device 0 and its default stream."""
    gpu = run.gpu
    if gpu is _LATER:
        cp = sys.modules.get("cupy")
        if cp is None:
            return None
        try:
            cp.cuda.runtime.getDevice()  # fails when CuPy has no usable GPU
            default = _legacy_stream(cp, 0) if _per_thread_default() else cp.cuda.Stream.null
        except Exception:
            default = None
        run.gpu = gpu = None if default is None else (cp, 0, default)
    return gpu


def _drain(results: queue.SimpleQueue) -> None:
    while True:
        try:
            results.get_nowait()
        except queue.Empty:
            return


class WorkerPool:
    """One daemon thread per entry of ``datasets``, each taking ``(pass, position, fn, arg)`` tasks from its own
    queue; ``datasets[i]`` is worker ``i``'s ``WorkerInfo.dataset``. The threads stop when it is closed, or
    dropped."""

    def __init__(self, datasets: list[Any], seed: int, init_fn: Callable[[int], Any] | None) -> None:
        n = len(datasets)
        self.datasets = datasets
        self.queues: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(n)]
        self.threads = [
            threading.Thread(
                target=_work,
                args=(q, WorkerInfo(i, n, seed + i, datasets[i]), init_fn),
                name=f"gradkit-data-worker-{i}",
                daemon=True,
            )
            for i, q in enumerate(self.queues)
        ]
        self.closed = False
        for t in self.threads:
            t.start()

    def close(self, wait: bool) -> None:
        """Stop the threads once they finish what they are doing (and wait for that with ``wait``)."""
        if not self.closed:
            self.closed = True
            for q in self.queues:
                q.put(None)
        if wait:
            for t in self.threads:
                if t is not threading.current_thread():
                    t.join()

    def __del__(self) -> None:
        try:
            self.close(wait=False)
        except Exception:  # at interpreter exit the queue module may be gone
            pass


def _work(tasks: queue.SimpleQueue, info: WorkerInfo, init_fn: Callable[[int], Any] | None) -> None:
    """A worker thread: run ``init_fn(id)``, then tasks until the ``None`` that closes the pool."""
    _local.info = info
    failed = None
    worker = info.id
    if init_fn is not None:
        ok, failed = _call(init_fn, info.id)  # an exception is reported at this worker's first batch, as PyTorch does
        if ok:
            failed = None
    while True:
        task = tasks.get()
        if task is None:
            return
        failed = _run(task, failed, worker)
        del task  # an idle worker holds nothing of the loader's, nor a batch


def _run(task: tuple, failed: BaseException | None, worker: int) -> BaseException | None:
    """Run one task in its pass's context and send ``(position, worker, ok, batch or exception)`` back."""
    run, position, fn, arg = task
    if run.cancelled:
        return failed
    if failed is not None:
        run.results.put((position, worker, False, failed))
        return None
    grad_mode.state.enabled = run.grad_enabled
    gpu = _gpu_context(run)
    # No local holds the result: a worker's exception holds this frame (its traceback's frames hold their
    # callers), and the frame would hold the exception, a reference cycle holding the loader through ``fn``.
    if gpu is None and run.device is None:
        run.results.put((position, worker, *_call(fn, arg)))
    else:
        run.results.put((position, worker, *_call(_in_context, (run.device, gpu, fn, arg))))
    if run.cancelled:  # abandoned meanwhile (the drain in _Pass.cancel may have come before the put)
        _drain(run.results)
    return None


def _in_context(job: tuple[Any, tuple[Any, int, Any] | None, Callable[[Any], Any], Any]) -> Any:
    """``fn(arg)`` for ``job = (default device, gpu, fn, arg)``: on the caller's default device, and on its CUDA
    device and stream (see :func:`_caller_gpu`)."""
    device, gpu, fn, arg = job
    with contextlib.ExitStack() as context:
        if gpu is not None:
            cp, index, stream = gpu
            context.enter_context(cp.cuda.Device(index))  # a new Device each time: CuPy's keeps a stack per object
            context.enter_context(stream)
        if device is not None:
            context.enter_context(default_device_block(device))
        return fn(arg)


def _call(fn: Callable[[Any], Any], arg: Any) -> tuple[bool, Any]:
    """``(True, fn(arg))``, or ``(False, the exception it raised)``."""
    try:
        return True, fn(arg)
    except BaseException as exc:
        return False, exc


class WorkerBatches:
    """The iterator of ``DataLoader(num_workers=n)``: batches made by a pool of threads, in order (or, with
    ``in_order=False``, as they come).

    An exception in a worker is raised at its batch (as its own type when possible, naming the
    worker, with the original chained), and the next ``next()`` goes on with the batch after it,
    as in PyTorch. Left unfinished, the iterator stops its threads when it is dropped (with
    ``persistent`` its pass only: the threads stay with the loader's pool).
    """

    def __init__(self, pool: WorkerPool, persistent: bool) -> None:
        self._pool = pool
        self._persistent = persistent  # keep the threads when a pass ends (the next one reuses them)
        self._run: _Pass | None = None
        self._jobs: Iterator[tuple[Callable[[Any], Any], Any]] | None = None
        self._sent = self._next = 0  # out of order, _next counts the results taken
        self._ready: dict[int, tuple[int | None, bool, Any]] = {}
        self._limit = 1
        self._timeout = 0.0
        self._in_order = True
        self._turn = 0  # the worker asked next (out of order, and for streams), if it can take a task
        self._tasks: list[int] = []  # out of order: each worker's tasks not yet taken back

    @property
    def num_workers(self) -> int:
        return len(self._pool.queues)

    @property
    def datasets(self) -> list[Any]:
        """Each worker's ``WorkerInfo.dataset``."""
        return self._pool.datasets

    def start(
        self, jobs: Iterator[tuple[Callable[[Any], Any], Any]], prefetch: int, timeout: float, in_order: bool = True
    ) -> None:
        """Begin a pass over ``jobs`` (an abandoned earlier pass's queued tasks are skipped); with ``in_order``
        False its batches are given back as they come."""
        if self._run is not None:
            self._run.cancel()
        self._run = _Pass()
        self._jobs = jobs
        self._sent = self._next = 0
        self._ready = {}
        self._limit = prefetch * self.num_workers
        self._timeout = timeout
        self._in_order = in_order
        self._turn = 0
        self._tasks = [0] * self.num_workers
        self._fill()

    def __iter__(self) -> WorkerBatches:
        return self

    def __next__(self) -> Any:
        position, (worker, ok, value) = self._take()
        if ok:
            return value
        if worker is None:  # drawing the batch's indices failed, in this thread
            raise value
        raise _from_worker(value, worker, self._batch_number(position)) from value

    def _take(self) -> tuple[int, tuple[int | None, bool, Any]]:
        """The next result, ``(position, (worker, ok, batch or exception))``: the one at the next position, or
        out of order the first to come; StopIteration when none is left."""
        if self._next == self._sent:  # nothing outstanding: the jobs ran out
            self._jobs = None
            if not self._persistent:
                self._pool.close(wait=True)  # every task has come back, so the threads are idle
            raise StopIteration
        if self._in_order:
            position = self._next
            result = self._ready.pop(position) if position in self._ready else self._wait(position)
        else:
            position, result = self._first()
        self._next += 1
        self._fill()
        return position, result

    def _fill(self) -> None:
        """Hand out batches until ``prefetch_factor * num_workers`` are outstanding or the jobs run out."""
        while self._jobs is not None and self._sent - self._next < self._limit:
            position = self._sent
            try:
                fn, arg = next(self._jobs)
            except StopIteration:
                self._jobs = None
                return
            except Exception as exc:  # the sampler or the indices: raised when the loop reaches this batch
                self._ready[position] = (None, False, exc)
                self._jobs = None
            else:
                if self._in_order:
                    worker = position % self.num_workers
                else:  # one has room: every worker takes part, and they hold fewer tasks than the bound
                    worker = _with_room(self._turn, self._tasks, None, self._limit // self.num_workers)
                    self._turn = (worker + 1) % self.num_workers
                    self._tasks[worker] += 1
                self._pool.queues[worker].put((self._run, position, fn, arg))
            self._sent += 1

    def _wait(self, position: int) -> tuple[int, bool, Any]:
        """The result of batch ``position``, keeping the others that arrive first."""
        deadline = None if self._timeout <= 0 else time.monotonic() + self._timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                got, worker, ok, value = self._run.results.get(timeout=wait)  # type: ignore[union-attr]
            except queue.Empty:
                batch, worker = self._batch_number(position), self._worker_of(position)
                raise WorkerError(
                    f"DataLoader: batch {batch} did not come from worker {worker} within timeout={self._timeout:g} "
                    "seconds (raise the timeout, or pass timeout=0 to wait without limit)"
                ) from None
            if got == position:
                return worker, ok, value
            self._ready[got] = (worker, ok, value)

    def _first(self) -> tuple[int, tuple[int | None, bool, Any]]:
        """Out of order: the first result to come back; a failed draw of indices (the last position sent) once
        every other has come."""
        if len(self._ready) == self._sent - self._next:
            return self._ready.popitem()
        try:
            got, worker, ok, value = self._run.results.get(  # type: ignore[union-attr]
                timeout=self._timeout if self._timeout > 0 else None
            )
        except queue.Empty:
            busy = [str(w) for w, n in enumerate(self._tasks) if n]
            raise WorkerError(
                f"DataLoader: none of the {self._sent - self._next - len(self._ready)} batches being made (by "
                f"worker{'s' * (len(busy) > 1)} {', '.join(busy)}) came within timeout={self._timeout:g} seconds "
                "(raise the timeout, or pass timeout=0 to wait without limit)"
            ) from None
        self._tasks[worker] -= 1
        return got, (worker, ok, value)

    def _worker_of(self, position: int) -> int:
        return position % self.num_workers

    def _batch_number(self, position: int) -> int:
        """The number of the batch at ``position`` in the pass, for messages."""
        return position

    def close(self) -> None:
        """Stop the worker threads (those busy finish their batch first); the pass ends."""
        self._cancel()
        self._pool.close(wait=False)

    def _cancel(self) -> None:
        """End the pass: the workers skip its queued tasks."""
        if self._run is not None:
            self._run.cancel()
        self._jobs = None
        self._sent = self._next
        self._ready = {}

    def __del__(self) -> None:
        try:
            if self._persistent:
                self._cancel()  # the loader may start another pass on the threads
            else:
                self.close()
        except Exception:  # at interpreter exit the queue module may be gone
            pass


class StreamBatches(WorkerBatches):
    """The iterator of ``DataLoader(num_workers=n)`` over an iterable-style dataset.

    Each worker makes the batches of its own stream; batch requests go to the workers in
    turn, skipping those whose stream has ended, so the batches come round-robin as in
    PyTorch (batch 0 from worker 0, batch 1 from worker 1, ...). Out of order, as PyTorch too,
    a batch is given back as soon as it comes and the requests skip the workers that already
    have their share of the prefetch bound outstanding; each worker's own batches still come
    in its stream's order. Prefetch bound, exceptions, timeout and shutdown are
    :class:`WorkerBatches`'.
    """

    def __init__(self, pool: WorkerPool, persistent: bool) -> None:
        super().__init__(pool, persistent)
        self._streams: list[tuple[Callable[[Any], Any], Any]] = []
        self._live: list[bool] = []
        self._alive = 0  # how many streams go on
        self._owner: dict[int, int] = {}  # position -> worker, for the positions not yet delivered
        self._count = 0  # batches delivered (or raised in their place) this pass
        self._on_batch: Callable[[], Any] | None = None

    def start_streams(
        self,
        streams: list[tuple[Callable[[Any], Any], Any]],
        prefetch: int,
        timeout: float,
        on_batch: Callable[[], Any] | None = None,
        in_order: bool = True,
    ) -> None:
        """Begin a pass: worker ``i`` makes each of its batches with ``fn(arg)`` for ``(fn, arg) = streams[i]``,
        which returns :data:`END` when its stream has ended; ``on_batch()`` runs as each batch is delivered."""
        self._streams = list(streams)
        self._live = [True] * self.num_workers
        self._alive = self.num_workers
        self._owner = {}
        self._count = 0
        self._on_batch = on_batch
        self.start(iter(()), prefetch, timeout, in_order)

    def __next__(self) -> Any:
        while True:  # past the requests answered END
            position, (_, ok, value) = self._take()
            worker = self._owner.pop(position)
            if ok and value is END:
                if self._live[worker]:
                    self._live[worker] = False
                    self._alive -= 1
                    if not self._alive:
                        self._streams = []  # drop the pass's streams (and the loader they may hold)
                continue
            number = self._count
            self._count += 1
            if not ok:
                raise _from_worker(value, worker, number) from value
            if self._on_batch is not None:
                self._on_batch()
            return value

    def _fill(self) -> None:
        """Ask the workers whose streams go on for their next batch, in turn, up to the prefetch bound (out of
        order, each worker up to its share of it)."""
        n = self.num_workers
        while self._alive and self._sent - self._next < self._limit:
            if self._in_order:
                while not self._live[self._turn]:
                    self._turn = (self._turn + 1) % n
                worker = self._turn
            else:
                worker = _with_room(self._turn, self._tasks, self._live, self._limit // self._alive)
                if worker < 0:  # the ended streams' last requests still hold the rest of the bound
                    return
                self._tasks[worker] += 1
            position = self._sent
            self._turn = (worker + 1) % n
            fn, arg = self._streams[worker]
            self._owner[position] = worker
            self._pool.queues[worker].put((self._run, position, fn, arg))
            self._sent += 1

    def _worker_of(self, position: int) -> int:
        return self._owner[position]

    def _batch_number(self, position: int) -> int:
        return self._count  # the requests answered END are no batches

    def _cancel(self) -> None:
        self._alive = 0
        self._streams = []
        super()._cancel()


def _with_room(turn: int, tasks: list[int], live: list[bool] | None, share: int) -> int:
    """The first worker from ``turn`` on, in turn, that is live and has fewer than ``share`` tasks outstanding
    (PyTorch's rule out of order); -1 if there is none."""
    n = len(tasks)
    for k in range(n):
        worker = (turn + k) % n
        if (live is None or live[worker]) and tasks[worker] < share:
            return worker
    return -1


def _from_worker(exc: BaseException, worker: int, position: int) -> BaseException:
    """The exception to raise in the calling thread for ``exc`` from ``worker``: its own type where it can be."""
    message = f"DataLoader: worker {worker} failed on batch {position} with {type(exc).__name__}: {exc}"
    error: BaseException | None = None
    # StopIteration would end the caller's loop silently; other BaseExceptions are not the dataset's errors
    if isinstance(exc, Exception) and not isinstance(exc, StopIteration):
        try:
            error = type(exc)(message)
        except Exception:  # a type whose constructor takes other arguments
            error = None
    return error if error is not None and type(error) is type(exc) else WorkerError(message)
