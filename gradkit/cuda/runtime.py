"""PyTorch's ``torch.cuda`` helpers that training scripts call: ``synchronize``, ``device_count``,
``current_device``, ``set_device``, ``get_device_name``, ``get_device_capability``, ``is_bf16_supported``,
``manual_seed``, ``manual_seed_all``.

Each is safe on a machine without CuPy or a GPU where PyTorch's is: ``device_count()`` is 0,
``synchronize()`` does nothing, ``manual_seed``/``manual_seed_all`` are kept for a GPU that gradkit would use
later (as PyTorch's lazy seeding; without one, never); ``current_device``, ``get_device_name``,
``get_device_capability`` and ``set_device`` (of GPU 0; a negative index is a no-op, as PyTorch's) need a GPU and
raise ``BackendError`` saying what is missing. None imports CuPy unless it has to ask CUDA (``synchronize`` not
even then, when nothing has imported CuPy yet; ``set_device`` not to refuse a GPU other than 0).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from gradkit.errors import ArgumentTypeError, DeviceError


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


def set_device(device: Any) -> None:
    """PyTorch's ``torch.cuda.set_device`` where gradkit can honour it: gradkit's ``"cuda"`` is always GPU 0
    (there is no current device of its own to change), so ``device`` must name GPU 0 (``0``, ``"cuda"``,
    ``"cuda:0"``, a ``gk.device`` of it), which is made CUDA's current device on this thread (as PyTorch's;
    ``BackendError`` without a GPU, as ``current_device``). A negative index does nothing, as in PyTorch (CuPy
    is not imported). Another GPU is ``DeviceError`` (name it where tensors go: ``device="cuda:1"``), the CPU
    too, and anything else not a device ``ArgumentTypeError``."""
    op = "set_device"
    if isinstance(device, (int, np.integer)) and not isinstance(device, (bool, np.bool_)) and device < 0:
        return  # PyTorch's no-op
    if device is None:
        raise ArgumentTypeError(f"{op}: expected a GPU index, 'cuda', 'cuda:N' or a gk.device, got None")
    index = _gpu_index(device, op)
    if index != 0:
        raise DeviceError(
            f"{op}: got {device!r:.60} (GPU {index}), but gradkit's current GPU is GPU 0 only: 'cuda' always "
            f"means 'cuda:0' and there is no current device to change, so set_device takes 0, 'cuda', 'cuda:0' or "
            f"a negative index (a no-op); to use GPU {index}, name it where tensors go: device='cuda:{index}', "
            f"x.to('cuda:{index}'), model.cuda({index})"
        )
    _need_gpu(op).cuda.Device(0).use()


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
