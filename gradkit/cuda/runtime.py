"""PyTorch's ``torch.cuda`` helpers that training scripts call: ``synchronize``, ``device_count``,
``current_device``, ``get_device_name``, ``get_device_capability``, ``is_bf16_supported``, ``manual_seed``,
``manual_seed_all``.

Each is safe on a machine without CuPy or a GPU where PyTorch's is: ``device_count()`` is 0,
``synchronize()`` does nothing, ``manual_seed``/``manual_seed_all`` are kept for a GPU that gradkit would use
later (as PyTorch's lazy seeding; without one, never); ``current_device``, ``get_device_name`` and
``get_device_capability`` need a GPU and raise ``BackendError`` saying what is missing. None imports CuPy
unless it has to ask CUDA (``synchronize`` not even then, when nothing has imported CuPy yet).
"""

from __future__ import annotations

import sys
from typing import Any

from gradkit.errors import DeviceError


def _gpu_index(device: Any, op: str) -> int | None:
    """The GPU that ``device`` names (an int, ``"cuda"``, ``"cuda:N"``, a ``gk.device``), or None for None."""
    if device is None:
        return None
    from gradkit.backends.devices import cuda_device

    return int(cuda_device(device, op).split(":")[1])


def _need_gpu(op: str) -> Any:
    """CuPy, where it sees a GPU; else ``BackendError`` naming what is missing."""
    from gradkit.backends import get_backend

    return get_backend("cuda:0", op).xp


def device_count() -> int:
    """The number of CUDA GPUs CuPy sees; 0 without CuPy, a driver or a GPU (PyTorch's ``device_count``)."""
    from gradkit.backends.cupy_backend import gpu_count

    return gpu_count()


def current_device() -> int:
    """The index of this thread's current CUDA device (CUDA's, ``cupy.cuda.Device()``: 0 unless changed);
    ``BackendError`` without a GPU, as PyTorch's raises."""
    cp = _need_gpu("current_device")
    return int(cp.cuda.runtime.getDevice())


def _properties(device: Any, op: str) -> dict:
    cp = _need_gpu(op)
    index = _gpu_index(device, op)
    if index is None:
        index = int(cp.cuda.runtime.getDevice())
    count = int(cp.cuda.runtime.getDeviceCount())
    if not index < count:
        raise DeviceError(f"{op}: no GPU {index}; this machine has {count}")
    return cp.cuda.runtime.getDeviceProperties(index)


def get_device_name(device: Any = None) -> str:
    """The name of GPU ``device`` (an index, ``"cuda:N"`` or a ``gk.device``; the current one when None), as
    ``"NVIDIA H100 80GB HBM3"``; ``BackendError`` without a GPU."""
    name = _properties(device, "get_device_name").get("name", b"")
    return name.decode() if isinstance(name, bytes) else str(name)


def get_device_capability(device: Any = None) -> tuple[int, int]:
    """GPU ``device``'s compute capability as ``(major, minor)`` (``(9, 0)`` on an H100); ``BackendError``
    without a GPU."""
    props = _properties(device, "get_device_capability")
    return int(props["major"]), int(props["minor"])


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False: gradkit has no bfloat16 (nanoGPT's ``'bfloat16' if torch.cuda.is_bf16_supported() else
    'float16'`` picks float16)."""
    return False


def synchronize(device: Any = None) -> None:
    """Wait until the work queued on GPU ``device`` (an index, ``"cuda:N"``, a ``gk.device``; the current one
    when None) has finished: before reading a timer, say. Does nothing where CuPy was never imported (no GPU
    work can be queued) or sees no GPU; inside ``gk.cuda.capture`` it raises ``CaptureError``, as any host
    synchronisation in a captured step."""
    index = _gpu_index(device, "synchronize")
    cp = sys.modules.get("cupy")
    if cp is None:
        return
    from gradkit.backends import get_backend
    from gradkit.backends.cupy_backend import gpu_count

    if gpu_count() == 0:
        return
    if index is None:
        index = int(cp.cuda.runtime.getDevice())
    get_backend(f"cuda:{index}", "synchronize").synchronize()  # capture-aware (gk.cuda.capture patches it)


def manual_seed(seed: int) -> None:
    """Seed gradkit's generator on the current GPU only (PyTorch's ``torch.cuda.manual_seed``; ``gk.manual_seed``
    seeds every device). A GPU gradkit has not used yet is seeded when it first is; without a GPU this changes
    nothing. Refused inside ``gk.cuda.capture``, as ``gk.manual_seed``."""
    from gradkit.backends import manual_seed_gpu

    cp = sys.modules.get("cupy")  # nothing has imported CuPy: the current device is still 0
    index = 0
    if cp is not None:
        try:
            index = int(cp.cuda.runtime.getDevice())
        except Exception:  # noqa: BLE001 - CuPy without a driver: no GPU to seed, the record is kept
            index = 0
    manual_seed_gpu(seed, index, "cuda.manual_seed")


def manual_seed_all(seed: int) -> None:
    """Seed gradkit's generators on every GPU and not the CPU's (PyTorch's ``torch.cuda.manual_seed_all``); a GPU
    gradkit has not used yet is seeded when it first is. Refused inside ``gk.cuda.capture``."""
    from gradkit.backends import manual_seed_gpu

    manual_seed_gpu(seed, None, "cuda.manual_seed_all")
