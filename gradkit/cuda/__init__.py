"""GPU extras: CUDA-graph training steps, device memory, TF32, capture-safe GEMM and RNG.

``gk.cuda`` imports without CuPy; everything that needs CuPy imports it on
first use (through ``gradkit.backends.cupy_backend.import_cupy``), and
everything that can has a plain NumPy path so that the same script runs on a
machine without a GPU.

- ``step = gk.cuda.capture(train_step, x, y)``: warm the step up, capture one
  call of it as a CUDA graph, and replay it with ``step(x_batch, y_batch)``
  (the batch is copied into static input buffers first). On the NumPy
  backend, or with ``enabled=False``, the step runs as plain Python.
- ``gk.cuda.memory_stats()``, ``reset_peak_memory_stats()``, ``empty_cache()``; PyTorch's ``memory_allocated()``,
  ``max_memory_allocated()``, ``memory_reserved()``.
- ``gk.cuda.set_tf32(True)`` lets float32 matmuls use TF32 tensor cores (off
  by default: float32 matmuls are computed in float32).
- ``gk.cuda.gemm(a, b)``, ``gk.cuda.CounterRNG``: the capture-safe building
  blocks the capture routes matmuls and random numbers through.
- ``gk.cuda.is_available()``: PyTorch's name for ``gk.cuda_available()``.
- PyTorch's ``torch.cuda`` helpers: ``synchronize(device=None)``, ``device_count()``, ``current_device()``,
  ``set_device(device)`` (GPU 0 only: gradkit's ``"cuda"`` is always GPU 0; a negative index does nothing),
  ``get_device_name(device=None)``, ``get_device_capability(device=None)``, ``is_bf16_supported()`` (False),
  ``manual_seed(seed)`` (the current GPU's generator) and ``manual_seed_all(seed)`` (every GPU's); safe
  without CuPy (``device_count()`` 0, ``synchronize`` and the seeds do nothing there).
- ``gk.cuda.amp.GradScaler``, ``gk.cuda.amp.autocast``: ``torch.cuda.amp``'s spellings of ``gk.amp``'s.
"""

from __future__ import annotations

from gradkit.cuda import amp
from gradkit.cuda.cublas import gemm, set_tf32, tf32_enabled, use_direct_gemm
from gradkit.cuda.graphs import CapturedStep, CaptureError, capture, is_capturing
from gradkit.cuda.info import device_info
from gradkit.cuda.memory import (
    empty_cache,
    max_memory_allocated,
    memory_allocated,
    memory_reserved,
    memory_stats,
    reset_peak_memory_stats,
)
from gradkit.cuda.rng import CounterRNG
from gradkit.cuda.runtime import (
    current_device,
    device_count,
    get_device_capability,
    get_device_name,
    is_bf16_supported,
    manual_seed,
    manual_seed_all,
    set_device,
    synchronize,
)


def is_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device (``gk.cuda_available()``, PyTorch's name)."""
    from gradkit.backends import cuda_available

    return cuda_available()


__all__ = [
    "CaptureError",
    "CapturedStep",
    "CounterRNG",
    "amp",
    "capture",
    "current_device",
    "device_count",
    "device_info",
    "empty_cache",
    "gemm",
    "get_device_capability",
    "get_device_name",
    "is_available",
    "is_bf16_supported",
    "is_capturing",
    "manual_seed",
    "manual_seed_all",
    "max_memory_allocated",
    "memory_allocated",
    "memory_reserved",
    "memory_stats",
    "reset_peak_memory_stats",
    "set_device",
    "set_tf32",
    "synchronize",
    "tf32_enabled",
    "use_direct_gemm",
]
