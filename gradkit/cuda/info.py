"""What GPU, driver, CUDA and CuPy a process sees (for reports such as ci/gpu-check)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any


def cuda_version_string(version: int) -> str:
    """CUDA's integer version (``12040``) as ``"12.4"``."""
    if version <= 0:
        return "none"
    return f"{version // 1000}.{(version % 1000) // 10}"


def _nvidia_smi(index: int) -> dict[str, str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}
    try:
        out = subprocess.run(
            [exe, f"--id={index}", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
             "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=False,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {}
    fields = [f.strip() for f in out.split(",")]
    keys = ("name", "driver_version", "memory_total", "max_sm_clock", "power_limit")
    return dict(zip(keys, fields, strict=True)) if len(fields) == len(keys) else {}


def device_info(index: int = 0) -> dict[str, Any]:
    """GPU ``index``: name, compute capability, memory, driver, CUDA and CuPy versions.

    Never raises: without CuPy or a GPU it returns ``{"available": False,
    "reason": ...}`` plus whatever it could find.
    """
    import numpy as np

    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or index < 0:
        from gradkit.errors import ArgumentTypeError

        raise ArgumentTypeError(
            f"device_info: index must be a non-negative int, got {type(index).__name__} {index!r:.40}"
        )
    info: dict[str, Any] = {"available": False, "numpy": np.__version__}
    try:
        from gradkit.backends.cupy_backend import import_cupy

        cp = import_cupy()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        info["reason"] = f"CuPy does not import: {exc}"
        return info
    info["cupy"] = cp.__version__
    rt = cp.cuda.runtime
    try:
        info["cuda_runtime"] = cuda_version_string(rt.runtimeGetVersion())
    except Exception as exc:  # noqa: BLE001
        info["cuda_runtime"] = f"unknown ({exc})"
    try:
        info["cuda_driver_api"] = cuda_version_string(rt.driverGetVersion())
        count = rt.getDeviceCount()
    except Exception as exc:  # noqa: BLE001
        info["reason"] = f"no usable CUDA driver or GPU: {exc}"
        return info
    info["device_count"] = int(count)
    if not 0 <= index < count:
        info["reason"] = f"no GPU {index}; this machine has {count}"
        return info
    props = rt.getDeviceProperties(index)
    name = props.get("name", b"")
    info.update(
        available=True,
        index=index,
        name=name.decode() if isinstance(name, bytes) else str(name),
        compute_capability=f"{props.get('major')}.{props.get('minor')}",
        total_memory_bytes=int(props.get("totalGlobalMem", 0)),
        multiprocessors=int(props.get("multiProcessorCount", 0)),
    )
    smi = _nvidia_smi(index)
    if smi:
        info["driver_version"] = smi.get("driver_version")
        info["nvidia_smi"] = smi
    else:
        info["driver_version"] = "unknown (nvidia-smi not found)"
    try:
        from gradkit.cuda.cublas import CublasGemm

        info["cublas"] = CublasGemm(index).version()
    except Exception as exc:  # noqa: BLE001
        info["cublas"] = f"unknown ({exc})"
    return info
