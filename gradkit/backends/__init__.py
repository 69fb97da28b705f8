"""Backend selection: which array library and device a tensor lives on.

``GRADKIT_BACKEND`` (``auto`` | ``numpy`` | ``cupy``) is read here, once, and
picks the default device. CuPy is imported only when a CUDA device is first
asked for (or ``auto`` has to look for one).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import numpy as np

from gradkit.backends.base import Backend
from gradkit.backends.devices import canonical, device
from gradkit.backends.numpy_backend import NumpyBackend
from gradkit.errors import BackendError

_device_type = device

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
    """``"cpu"``, ``"cuda"``, ``"cuda:N"``, a ``gk.device`` (or a Backend) as the name of a backend (``"cpu"``,
    ``"cuda:N"``: ``"cuda"`` is ``"cuda:0"``), a plain str; ``op`` names the caller in errors."""
    if isinstance(device, Backend):
        return device.device
    if type(device) is str:
        known = _names.get(device)
        if known is not None:
            return known
    name = canonical(device, None, op)
    name = "cuda:0" if name == "cuda" else name
    if type(device) is str and len(_names) < 256:
        _names[device] = name
    return name


_names: dict[str, str] = {}  # the names met so far ("cuda", "CPU", "cuda:1", ...) and their backends' names


def get_backend(device: Any = None, op: str | None = None) -> Backend:
    """The backend for ``device`` (the default device when None); ``op`` names the caller in errors."""
    if device is None:
        stack = _local.stack
        name = stack[-1] if stack else _resolve_env_default()
    elif isinstance(device, Backend):
        return device
    else:
        if type(device) is str or type(device) is _device_type:  # "cpu", x.device: no parsing
            backend = _backends.get(device)
            if backend is not None:
                return backend
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
                seed = _seed_state.get(name, _seed_state.get("cuda", _seed_state.get("seed")))
                if seed is not None:
                    backend.seed(seed)
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


def default_device() -> device:
    """The device new tensors go to: ``gk.device("cpu")`` or ``gk.device("cuda:0")`` (equal to those strings)."""
    return get_backend(None).device_object


def _checked_seed(seed: Any, op: str) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        from gradkit.errors import InvalidArgumentError

        raise InvalidArgumentError(f"{op}: expected an int from 0 to 2**64 - 1, got {seed!r}")
    graphs = sys.modules.get("gradkit.cuda.graphs")
    if graphs is not None and graphs.is_capturing():  # refused before any generator is reseeded
        graphs.refuse_reseeding()
    return int(seed)


def manual_seed(seed: int) -> None:
    """Seed gradkit's random generators on every backend in use."""
    seed = _checked_seed(seed, "manual_seed")
    for backend in list(_backends.values()):
        backend.seed(seed)
    for key in [k for k in _seed_state if k.startswith("cuda")]:
        del _seed_state[key]
    _seed_state["seed"] = seed


def manual_seed_gpu(seed: Any, index: int | None, op: str) -> None:
    """Seed the generator of GPU ``index`` (all GPUs when None) and no other: ``gk.cuda.manual_seed`` and
    ``manual_seed_all``. A GPU gradkit has not used yet is seeded when it first is (without a GPU, never)."""
    seed = _checked_seed(seed, op)
    for name, backend in list(_backends.items()):
        if backend is not NUMPY and (index is None or name == f"cuda:{index}"):
            backend.seed(seed)
    if index is None:
        for key in [k for k in _seed_state if k.startswith("cuda:")]:
            del _seed_state[key]
    _seed_state["cuda" if index is None else f"cuda:{index}"] = seed


# A backend created after manual_seed (the first CuPy use) is seeded from here: "seed" (gk.manual_seed),
# "cuda" (gk.cuda.manual_seed_all), "cuda:N" (gk.cuda.manual_seed on GPU N); the later calls drop the keys that
# an earlier, narrower call left, so the most specific key present is the latest seed for that GPU.
_seed_state: dict[str, int] = {}


# ------------------------------------------------------------ generator state
# The CPU generator (NumPy's PCG64) is saved as six 64-bit words: the 128-bit state and increment
# (high word first), has_uint32 and uinteger, stored as int64 (the bits of the uint64 words) so that
# a gradkit tensor can hold them too. A GPU generator (CuPy's cuRAND) as a copy of its state array
# (int8 bytes). Both are plain host arrays, so gk.save can store the dict.
_PCG64_WORDS = 6
_MASK64 = (1 << 64) - 1


def _refuse_in_capture(op: str) -> None:
    graphs = sys.modules.get("gradkit.cuda.graphs")
    if graphs is not None and graphs.is_capturing():
        raise graphs.CaptureError(
            f"{op}: a step being captured as a CUDA graph draws from the capture's own counter-based "
            f"generator, whose state is not read or set on the host; call {op} before gk.cuda.capture "
            "or after the replays"
        )


def _pcg64_words(state: dict) -> np.ndarray:
    s, inc = int(state["state"]["state"]), int(state["state"]["inc"])
    words = [s >> 64, s & _MASK64, inc >> 64, inc & _MASK64, int(state["has_uint32"]), int(state["uinteger"])]
    return np.array(words, dtype=np.uint64).view(np.int64)


def _pcg64_state(words: np.ndarray) -> dict:
    w = [int(v) for v in words.view(np.uint64)]
    return {
        "bit_generator": "PCG64",
        "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
        "has_uint32": w[4],
        "uinteger": w[5],
    }


def _device_states(backend: Backend, op: str) -> Any:
    """A cuRAND generator's state array (on the device), or a BackendError naming what was found."""
    states = getattr(getattr(backend.rng, "bit_generator", None), "_state", None)
    if not hasattr(states, "shape"):
        raise BackendError(
            f"{op}: cannot read the state of the random generator of {backend.device} "
            f"({type(backend.rng).__module__}.{type(backend.rng).__name__}: no cuRAND state array); "
            "gk.manual_seed still makes its draws repeatable"
        )
    return states


def get_rng_state() -> dict[str, np.ndarray]:
    """The state of gradkit's random generators on every device in use, as ``{device: host array}``.

    ``"cpu"`` is always there; a GPU (``"cuda:0"``, ...) once gradkit has used it. The dict holds only
    NumPy arrays, so ``gk.save`` stores it; ``set_rng_state`` puts it back (PyTorch's
    ``torch.get_rng_state`` and ``torch.cuda.get_rng_state_all`` in one).
    """
    _refuse_in_capture("get_rng_state")
    with _lock:
        backends = sorted(_backends.values(), key=lambda b: (b is not NUMPY, b.device))
    out: dict[str, np.ndarray] = {}
    for backend in backends:
        if backend is NUMPY:
            bits = NUMPY.rng.bit_generator
            if type(bits) is not np.random.PCG64:
                raise BackendError(
                    f"get_rng_state: the CPU generator is a {type(bits).__name__}, not gradkit's PCG64"
                )
            out["cpu"] = _pcg64_words(bits.state)
        else:
            with backend.xp.cuda.Device(backend.index):
                out[backend.device] = np.array(backend.to_numpy(_device_states(backend, "get_rng_state")))
    return out


def set_rng_state(state: Any) -> None:
    """Put back generator states from :func:`get_rng_state` (or ``gk.load`` of a saved one).

    Every device named in ``state`` is set; the generators of devices it does not name are left as they
    are. The whole state is checked first: a bad entry raises, naming the device and what is wrong,
    and changes no generator.
    """
    from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError

    op = "set_rng_state"
    _refuse_in_capture(op)
    if not isinstance(state, dict) or not state:
        raise ArgumentTypeError(
            f"{op}: expected the dict that gk.get_rng_state() returns ({{'cpu': array, ...}}), got "
            f"{type(state).__name__} {state!r:.60}"
        )
    plan: list[tuple[Backend, Any]] = []
    for key, value in state.items():
        if not isinstance(key, str):
            raise ArgumentTypeError(f"{op}: keys are device names such as 'cpu' or 'cuda:0', got {key!r:.40}")
        name = normalize_device(key, op)
        words = _host_array(value)
        if words is None:
            raise ArgumentTypeError(
                f"{op}: the state of {key!r} must be an array (a NumPy array or a Tensor), got "
                f"{type(value).__name__} {value!r:.40}"
            )
        if name == "cpu":
            if words.shape != (_PCG64_WORDS,) or words.dtype not in (np.int64, np.uint64):
                raise ShapeError(
                    f"{op}: the CPU state must be {_PCG64_WORDS} int64 words (what get_rng_state gives), "
                    f"got {words.dtype} of shape {words.shape}"
                )
            words = np.ascontiguousarray(words).view(np.uint64)
            w = [int(v) for v in words]  # Python ints: NumPy 1.x compares uint64 with int in float64
            if w[4] > 1 or w[5] >= 2**32 or w[3] % 2 == 0:
                raise InvalidArgumentError(
                    f"{op}: the CPU state is not a PCG64 state (the increment must be odd, has_uint32 0 or 1 "
                    f"and uinteger below 2**32), got {words.tolist()}"
                )
            plan.append((NUMPY, _pcg64_state(words)))
            continue
        try:
            backend = get_backend(name, op)
        except BackendError as exc:
            raise BackendError(
                f"{exc}; the state names {key!r}, which this machine cannot use (to set the other generators, "
                f"leave it out: {{k: v for k, v in state.items() if k != {key!r}}})"
            ) from None
        target = _device_states(backend, op)
        if words.shape != tuple(target.shape) or words.dtype != target.dtype:
            raise ShapeError(
                f"{op}: the state of {backend.device} is {words.dtype} of shape {words.shape}, but this device's "
                f"generator has {target.dtype} of shape {tuple(target.shape)} (saved on another GPU model?)"
            )
        plan.append((backend, words))
    for backend, value in plan:
        if backend is NUMPY:
            NUMPY.rng.bit_generator.state = value
        else:
            with backend.xp.cuda.Device(backend.index):
                _device_states(backend, op)[...] = backend.asarray(value)


def _host_array(value: Any) -> np.ndarray | None:
    """``value`` (a NumPy array, a Tensor, a CuPy array) as a NumPy array; None for anything else."""
    from gradkit.tensor import Tensor

    if isinstance(value, Tensor):
        return value.numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(getattr(value, "dtype", None), np.dtype) and hasattr(value, "__cuda_array_interface__"):
        return backend_of_array(value).to_numpy(value)  # a CuPy array (another library's has a foreign dtype)
    return None


# PyTorch's torch.backends switches (gk.backends.cuda.matmul.allow_tf32, gk.backends.cudnn.benchmark, ...) and
# queries (gk.backends.mps.is_available()); last, as they import from this package. None imports CuPy.
from gradkit.backends import cuda, cudnn, mps  # noqa: E402
