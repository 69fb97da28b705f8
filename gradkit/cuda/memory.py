"""Device memory: what CuPy's memory pool holds now, its peak, and handing cached blocks back.

gradkit allocates every GPU array through CuPy's default memory pool (CuPy's
own default): freed arrays return their blocks to the pool, which reuses
them without a ``cudaMalloc``. ``memory_stats()`` reports the bytes in live
arrays (``allocated_bytes``), the bytes the pool holds from the driver
(``reserved_bytes``), the device's free and total memory, the memory held by
captured CUDA graphs, and the peak of ``allocated_bytes`` since tracking
began.

Peak tracking wraps the current CuPy allocator with a function that reads
the pool's in-use bytes after each allocation (a peak can only be reached
right after an allocation). It starts at the first call of
``reset_peak_memory_stats()`` or ``memory_stats()`` in the process, so an
ordinary run pays nothing for it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_tracker: _PeakTracker | None = None
#: live captured steps (gk.cuda.capture registers them); each holds its graph's private pool as ``_pool``
_graphs: weakref.WeakSet = weakref.WeakSet()


class _PeakTracker:
    """Wraps CuPy's allocator; remembers the highest pool usage seen after an allocation, per device."""

    def __init__(self, cp: Any) -> None:
        self.cp = cp
        self.pool = cp.get_default_memory_pool()
        self.inner = cp.cuda.get_allocator()
        self.peak: dict[int, int] = {}
        # used_bytes() counts the default pool; a custom allocator installed before us is opaque
        self.exact = getattr(self.inner, "__self__", None) is self.pool

    def malloc(self, size: int) -> Any:
        mem = self.inner(size)
        dev = mem.device_id
        used = self.pool.used_bytes()
        if used > self.peak.get(dev, 0):
            self.peak[dev] = used
        return mem

    def reset(self, device_index: int) -> None:
        with self.cp.cuda.Device(device_index):
            self.peak[device_index] = self.pool.used_bytes()


def _ensure_tracker(cp: Any) -> _PeakTracker:
    global _tracker
    with _lock:
        if _tracker is None:
            _tracker = _PeakTracker(cp)
            cp.cuda.set_allocator(_tracker.malloc)
    return _tracker


def register_graph(step: Any) -> None:
    """Count a captured step's private memory pool (``step._pool``) in ``graph_pool_bytes``."""
    _graphs.add(step)


def _cupy_backend(device: Any) -> Any:
    from gradkit.backends import get_backend

    backend = get_backend(device, "memory_stats")
    return backend if backend.name == "cupy" else None


def memory_stats(device: Any = None) -> dict[str, Any]:
    """Current and peak device memory of ``device`` (the default device when None), in bytes.

    Keys: ``device``, ``available`` (False on the CPU, where the byte counts
    are None), ``allocated_bytes`` (in live arrays), ``peak_allocated_bytes``
    (highest ``allocated_bytes`` since :func:`reset_peak_memory_stats`, or
    since the first call of either function), ``reserved_bytes`` (held by the
    pool, including cached free blocks), ``graph_pool_bytes`` (held by
    captured CUDA graphs), ``device_free_bytes`` and ``device_total_bytes``
    (the driver's view, all processes included), ``peak_exact`` (False when a
    custom CuPy allocator hides the pool).
    """
    backend = _cupy_backend(device)
    if backend is None:
        return {
            "device": "cpu",
            "available": False,
            "allocated_bytes": None,
            "peak_allocated_bytes": None,
            "reserved_bytes": None,
            "graph_pool_bytes": None,
            "device_free_bytes": None,
            "device_total_bytes": None,
            "peak_exact": False,
        }
    cp = backend.xp
    tracker = _ensure_tracker(cp)
    with cp.cuda.Device(backend.index):
        pool = cp.get_default_memory_pool()
        used, reserved = pool.used_bytes(), pool.total_bytes()
        free, total = cp.cuda.runtime.memGetInfo()
        graph_bytes = 0
        for step in list(_graphs):
            gpool = getattr(step, "_pool", None)
            if gpool is not None and getattr(step, "device", None) == backend.device:
                graph_bytes += gpool.total_bytes()
    peak = max(tracker.peak.get(backend.index, 0), used)
    return {
        "device": backend.device,
        "available": True,
        "allocated_bytes": int(used),
        "peak_allocated_bytes": int(peak),
        "reserved_bytes": int(reserved),
        "graph_pool_bytes": int(graph_bytes),
        "device_free_bytes": int(free),
        "device_total_bytes": int(total),
        "peak_exact": tracker.exact,
    }


def reset_peak_memory_stats(device: Any = None) -> None:
    """Start measuring ``peak_allocated_bytes`` afresh from the current usage (no-op on the CPU)."""
    backend = _cupy_backend(device)
    if backend is None:
        return
    _ensure_tracker(backend.xp).reset(backend.index)


def empty_cache() -> None:
    """Give the pool's cached free blocks (and pinned host blocks) back to the driver (no-op without CuPy).

    ``cudaFree`` synchronises the device, which invalidates a CUDA graph being captured: inside a step
    being captured (``gk.cuda.is_capturing()``) this raises :class:`CaptureError`; called on another
    thread while a capture is in progress, it frees the blocks when the capture ends.
    """
    from gradkit.cuda.graphs import CaptureError, is_capturing

    if is_capturing():
        raise CaptureError(
            "empty_cache: refused inside a step being captured: freeing device memory synchronises the device, "
            "which a CUDA graph cannot hold; call gk.cuda.empty_cache() before the capture or after the step"
        )
    from gradkit.backends import cuda_available

    if not cuda_available():
        return
    from gradkit.backends.cupy_backend import import_cupy

    cp = import_cupy()

    def free() -> None:
        cp.get_default_memory_pool().free_all_blocks()
        cp.get_default_pinned_memory_pool().free_all_blocks()

    free_when_no_capture(free)


# Freeing memory (cudaFree, cudaFreeHost) synchronises the device, which invalidates a stream capture in
# progress on any thread. Frees asked for meanwhile wait in _deferred until the last capture ends; the
# lock of gradkit.cuda.cublas's capture count keeps a capture from starting while a free runs.
_deferred: list[Callable[[], None]] = []


def free_when_no_capture(free: Callable[[], None]) -> None:
    """Run ``free`` (something that frees device memory) now, or when the captures in progress have ended."""
    from gradkit.cuda import cublas

    with cublas._capture_lock:
        if cublas.captures_active():
            _deferred.append(free)
            return
        free()


def release_deferred() -> None:
    """Run the frees deferred by :func:`free_when_no_capture`, if no capture is in progress (errors ignored:
    the memory stays cached, as if the free had not been asked for)."""
    from gradkit.cuda import cublas

    with cublas._capture_lock:
        if cublas.captures_active() or not _deferred:
            return
        pending = _deferred[:]
        del _deferred[:]
        for free in pending:
            try:
                free()
            except Exception:  # noqa: BLE001 - see the docstring
                pass


def _bytes(device: Any, key: str) -> int:
    value = memory_stats(device)[key]
    return 0 if value is None else int(value)


def memory_allocated(device: Any = None) -> int:
    """PyTorch's ``torch.cuda.memory_allocated``: bytes in live arrays on ``device`` (0 on the CPU, as PyTorch's
    without CUDA); ``memory_stats(device)["allocated_bytes"]``."""
    return _bytes(device, "allocated_bytes")


def max_memory_allocated(device: Any = None) -> int:
    """PyTorch's ``torch.cuda.max_memory_allocated``: the peak of :func:`memory_allocated` since
    :func:`reset_peak_memory_stats` (0 on the CPU)."""
    return _bytes(device, "peak_allocated_bytes")


def memory_reserved(device: Any = None) -> int:
    """PyTorch's ``torch.cuda.memory_reserved``: bytes held by the memory pool, cached free blocks included (0 on
    the CPU)."""
    return _bytes(device, "reserved_bytes")
