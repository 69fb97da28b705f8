"""Backend selection: which array library and device a tensor lives on.

``GRADKIT_BACKEND`` (``auto`` | ``numpy`` | ``cupy``) is read here, once, and
picks the default device. CuPy is imported only when a CUDA device is first
asked for (or ``auto`` has to look for one).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from gradkit.backends.base import Backend
from gradkit.backends.numpy_backend import NumpyBackend
from gradkit.errors import BackendError, DeviceError

ENV_VAR = "GRADKIT_BACKEND"
CHOICES = ("auto", "numpy", "cupy")

NUMPY = NumpyBackend()
_backends: dict[str, Backend] = {"cpu": NUMPY}
_lock = threading.Lock()
_env_default: str | None = None


def env_choice() -> str:
    """The validated value of GRADKIT_BACKEND (``auto`` when unset)."""
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise BackendError(
            f"{ENV_VAR}={os.environ.get(ENV_VAR)!r} is not a known backend; "
            f"allowed values are {', '.join(CHOICES)}"
        )
    return value


def _resolve_env_default() -> str:
    global _env_default
    if _env_default is None:
        choice = env_choice()
        if choice == "numpy":
            _env_default = "cpu"
        elif choice == "cupy":
            try:
                get_backend("cuda:0")
            except BackendError as exc:
                raise BackendError(
                    f"{ENV_VAR}='cupy' cannot be used: {exc} (allowed values are {', '.join(CHOICES)})"
                ) from None
            _env_default = "cuda:0"
        else:
            _env_default = "cuda:0" if cuda_available() else "cpu"
    return _env_default


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    from gradkit.backends import cupy_backend

    return cupy_backend.gpu_count() > 0


def normalize_device(device: Any, op: str | None = None) -> str:
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` (or a Backend) as a canonical name; ``op`` names the caller in errors."""
    if isinstance(device, Backend):
        return device.device
    if isinstance(device, str):
        name = device.strip().lower()
        if name in ("cpu", "numpy"):
            return "cpu"
        if name in ("cuda", "gpu", "cupy"):
            return "cuda:0"
        if name.startswith("cuda:") and name[5:].isdigit():
            return f"cuda:{int(name[5:])}"
    prefix = f"{op}: " if op else ""
    raise DeviceError(f"{prefix}unknown device {device!r}; expected 'cpu', 'cuda' or 'cuda:N'")


def get_backend(device: Any = None, op: str | None = None) -> Backend:
    """The backend for ``device`` (the default device when None); ``op`` names the caller in errors."""
    if device is None:
        stack = _local.stack
        name = stack[-1] if stack else _resolve_env_default()
    elif isinstance(device, Backend):
        return device
    else:
        name = normalize_device(device, op)
    backend = _backends.get(name)
    if backend is None:
        with _lock:
            backend = _backends.get(name)
            if backend is None:
                from gradkit.backends.cupy_backend import CupyBackend

                try:
                    backend = CupyBackend(int(name.split(":")[1]))
                except BackendError as exc:
                    if op is None:
                        raise
                    raise BackendError(f"{op}: {exc}") from None
                if "seed" in _seed_state:
                    backend.seed(_seed_state["seed"])
                _backends[name] = backend
    return backend


def backend_of_array(array: Any) -> Backend:
    """The backend that owns a raw array (NumPy for anything that is not CuPy)."""
    if isinstance(array, np.ndarray) or not hasattr(array, "__cuda_array_interface__"):
        return NUMPY
    return get_backend(f"cuda:{array.device.id}")


class _DeviceStack(threading.local):
    def __init__(self) -> None:
        self.stack: list[str] = []


_local = _DeviceStack()


def default_device() -> str:
    """The device new tensors go to: ``"cpu"`` or ``"cuda:0"``."""
    return get_backend(None).device


@contextlib.contextmanager
def device(name: Any) -> Iterator[str]:
    """Within the block, new tensors are created on ``name`` (this thread only)."""
    backend = get_backend(name, "device")
    _local.stack.append(backend.device)
    try:
        yield backend.device
    finally:
        _local.stack.pop()


def manual_seed(seed: int) -> None:
    """Seed gradkit's random generators on every backend in use."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        from gradkit.errors import InvalidArgumentError

        raise InvalidArgumentError(f"manual_seed: expected an int from 0 to 2**64 - 1, got {seed!r}")
    graphs = sys.modules.get("gradkit.cuda.graphs")
    if graphs is not None and graphs.is_capturing():  # refused before any generator is reseeded
        graphs.refuse_reseeding()
    for backend in list(_backends.values()):
        backend.seed(int(seed))
    _seed_state["seed"] = int(seed)


# A backend created after manual_seed (the first CuPy use) is seeded from here.
_seed_state: dict[str, int] = {}
