"""``gk.autocast``: PyTorch's autocast for the matmul family (thread-local, nestable, a decorator too).

Inside ``with gk.autocast("cuda"):`` (or ``"cpu"`` with ``dtype=gk.float16``) the matrix products
(``@``/``matmul``, ``mm``, ``bmm``, ``mv``, ``addmm``, ``baddbmm``, ``einsum``, ``F.linear``, the convolutions and
transposed convolutions) cast their floating operands to the autocast dtype and return that dtype. The cast
is a recorded ``astype``, so gradients reach the parameters in their own dtype, as PyTorch's. float64
tensors, integer tensors and tensors of the other device type are left alone (PyTorch's eligibility rule).

The ops pay for this with one module-level read when no autocast region is active anywhere: they test
``autocast_mode.active`` (the number of enabled regions entered, over all threads) and only then call
:func:`cast`, which reads this thread's state. Casts of leaf tensors that require grad (the weights) are
cached for the outermost region, as PyTorch's (``cache_enabled``), keyed also by the tensor's version
(an in-place update makes a fresh cast) and by grad mode (a cast made under ``no_grad`` has no graph).
"""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.errors import ArgumentTypeError, DTypeError, InvalidArgumentError

__all__ = [
    "AutocastDtypeError",
    "BFLOAT16",
    "autocast",
    "clear_autocast_cache",
    "get_autocast_dtype",
    "is_autocast_available",
    "is_autocast_cache_enabled",
    "is_autocast_enabled",
]

#: PyTorch's default CPU autocast dtype. Neither NumPy nor CuPy has bfloat16, so gradkit names it by this
#: string (what ``get_autocast_dtype("cpu")`` returns until a region sets float16) and refuses to compute in it.
BFLOAT16 = "bfloat16"

_FLOAT16 = np.dtype(np.float16)
_FLOAT64 = np.dtype(np.float64)
_DEVICE_TYPES = ("cpu", "cuda")

#: products PyTorch's autocast leaves alone per device type (``torch.dot``; ``mv``, ``addmv``, ``addr`` are not
#: on its CPU list)
_NOT_CAST = {"cpu": frozenset({"dot", "mv", "addmv", "addr"}), "cuda": frozenset({"dot"})}


class AutocastDtypeError(DTypeError):
    """An autocast dtype gradkit cannot compute in (bfloat16: neither NumPy nor CuPy has it)."""


class _State(threading.local):
    """This thread's autocast state: per device type enabled and dtype, nesting depth and the cast cache."""

    def __init__(self) -> None:
        self.enabled = {"cpu": False, "cuda": False}
        self.dtype: dict[str, Any] = {"cpu": BFLOAT16, "cuda": _FLOAT16}
        self.nesting = 0
        self.cache_enabled = True
        self.cache: dict = {}
        self.saved: list = []  # one entry per region entered (an instance may be entered again: recursion)


_state = _State()
_lock = threading.Lock()

#: enabled autocast regions now entered, over all threads; the ops read only this while it is 0
active = 0


def _device_type(device_type: Any, op: str = "autocast") -> str:
    if not isinstance(device_type, str):
        raise InvalidArgumentError(
            f"{op}: expected device_type to be a str ('cuda' or 'cpu'), got {type(device_type).__name__} "
            f"{device_type!r:.40}"
        )
    name = device_type.strip().lower()
    kind = name.split(":", 1)[0]
    if kind not in _DEVICE_TYPES or (kind != name and not name[len(kind) + 1:].isdigit()):
        raise InvalidArgumentError(
            f"{op}: unsupported device_type {device_type!r}; gradkit's autocast supports 'cuda' and 'cpu'"
        )
    return kind


def _is_bfloat16(dtype: Any) -> bool:
    if isinstance(dtype, str):
        return dtype.strip().lower() in ("bfloat16", "bf16", "torch.bfloat16")
    return str(dtype).endswith("bfloat16") or getattr(dtype, "__name__", "") == "bfloat16"


def _fast_dtype(dtype: Any, device: str) -> Any:
    if dtype is None:
        return _state.dtype[device]
    if _is_bfloat16(dtype):
        return BFLOAT16
    from gradkit.dtypes import to_dtype

    return to_dtype(dtype, "autocast")


def _bfloat16_error(device: str) -> AutocastDtypeError:
    default = " (PyTorch's default autocast dtype on the CPU)" if device == "cpu" else ""
    return AutocastDtypeError(
        f"autocast(device_type={device!r}): bfloat16{default} is not available: NumPy and CuPy have no "
        "bfloat16 dtype, so gradkit cannot compute in it; use "
        f"gk.autocast({device!r}, dtype=gk.float16) or enabled=False"
    )


class autocast:  # noqa: N801 - PyTorch's name
    """PyTorch's ``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a context
    manager and decorator under which the matmul family computes in ``dtype`` (float16 by default for
    "cuda"; for "cpu" PyTorch's default is bfloat16, which gradkit refuses: pass ``dtype=gk.float16``).

    As PyTorch's: ``enabled=False`` is a no-op region (it turns autocast off inside an enabled one);
    "cuda" without a GPU warns and disables itself; on "cpu" a dtype other than float16 (and bfloat16)
    warns and disables itself; leaving a region restores the state before it; the state is per thread.
    """

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        self.device = _device_type(device_type)
        self.fast_dtype = _fast_dtype(dtype, self.device)
        enabled = flag(enabled, "autocast", "enabled")
        self._cache_enabled = (_state.cache_enabled if cache_enabled is None
                               else flag(cache_enabled, "autocast", "cache_enabled"))
        if enabled:
            if self.fast_dtype == BFLOAT16:
                raise _bfloat16_error(self.device)
            if self.device == "cuda":
                from gradkit.backends import cuda_available

                if self.fast_dtype.kind != "f":
                    raise DTypeError(f"autocast(device_type='cuda'): dtype must be a float dtype (float16), got "
                                     f"{self.fast_dtype}")
                if not cuda_available():
                    warnings.warn("CUDA is not available. Disabling autocast.", stacklevel=2)
                    enabled = False
            elif self.fast_dtype != _FLOAT16:
                warnings.warn(
                    "In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                    "CPU Autocast only supports dtypes of float16 in gradkit (PyTorch's bfloat16 does not exist "
                    "in NumPy)", stacklevel=2,
                )
                enabled = False
        self._enabled = enabled

    def __enter__(self) -> autocast:
        global active
        st = _state
        device = self.device
        st.saved.append((device, st.enabled[device], st.dtype[device], st.cache_enabled, self._enabled))
        st.enabled[device] = self._enabled
        st.dtype[device] = self.fast_dtype
        st.nesting += 1
        st.cache_enabled = self._cache_enabled
        if self._enabled:
            with _lock:
                active += 1
        return self

    def __exit__(self, *exc: Any) -> bool:
        global active
        st = _state
        device, was_enabled, was_dtype, was_cache, counted = st.saved.pop()
        st.nesting -= 1
        if st.nesting == 0:
            st.cache.clear()
        st.enabled[device] = was_enabled
        st.dtype[device] = was_dtype
        st.cache_enabled = was_cache
        if counted:
            with _lock:
                active -= 1
        return False

    def __call__(self, func: Any) -> Any:
        if not callable(func):
            raise ArgumentTypeError(
                f"autocast()(func) requires a callable, but got {type(func).__name__}; as a context manager: "
                "with gk.autocast(device_type=...): output = model(input)"
            )

        @functools.wraps(func)
        def decorate_autocast(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return decorate_autocast

    def __repr__(self) -> str:
        return (f"autocast(device_type={self.device!r}, dtype={self.fast_dtype}, enabled={self._enabled}, "
                f"cache_enabled={self._cache_enabled})")


# ------------------------------------------------------------------ queries (PyTorch's names)
def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether autocast is on in this thread for ``device_type`` ("cuda" when not given, as PyTorch's)."""
    return _state.enabled["cuda" if device_type is None else _device_type(device_type, "is_autocast_enabled")]


def get_autocast_dtype(device_type: str) -> Any:
    """This thread's autocast dtype for ``device_type``: float16 for "cuda"; for "cpu" the string
    ``"bfloat16"`` (PyTorch's default, which gradkit cannot compute in) until a region sets float16."""
    return _state.dtype[_device_type(device_type, "get_autocast_dtype")]


def is_autocast_available(device_type: str) -> bool:
    """True for the device types gradkit's autocast supports ("cuda" and "cpu")."""
    return isinstance(device_type, str) and device_type.strip().lower().split(":", 1)[0] in _DEVICE_TYPES


def is_autocast_cache_enabled() -> bool:
    """Whether casts of weights are cached within the outermost autocast region of this thread."""
    return _state.cache_enabled


def regions() -> tuple:
    """This thread's enabled autocast settings as regions that enter them again (``gk.utils.checkpoint`` runs
    its recomputation under the forward pass's autocast, as PyTorch's)."""
    st = _state
    return tuple(autocast(d, dtype=st.dtype[d]) for d in _DEVICE_TYPES if st.enabled[d])


def clear_autocast_cache() -> None:
    """Drop this thread's cached casts (leaving the outermost region does it)."""
    _state.cache.clear()


# ------------------------------------------------------------------ what the ops call
def cast(op: str, *values: Any) -> tuple:
    """``values`` with each floating tensor cast to this thread's autocast dtype for its device type, where
    autocast is on for it and ``op`` is on its list; anything else unchanged. The ops call this only while
    ``active`` is nonzero."""
    st = _state
    enabled = st.enabled
    if not (enabled["cpu"] or enabled["cuda"]):
        return values
    from gradkit.tensor import Tensor

    if any(isinstance(v, Tensor) and v._data.dtype == _FLOAT64 for v in values):
        return values  # float64 beside float32: computed in float64, not a float64 result of float16 precision
    return tuple(_cast_one(v, st, op) for v in values)


def _cast_one(v: Any, st: _State, op: str) -> Any:
    from gradkit.tensor import Tensor

    if not isinstance(v, Tensor):
        return v
    dt = v._data.dtype
    if dt.kind != "f" or dt == _FLOAT64:
        return v
    device = "cpu" if v._backend.name == "numpy" else "cuda"
    if not st.enabled[device] or op in _NOT_CAST[device]:
        return v
    target = st.dtype[device]
    if dt == target:
        return v
    from gradkit.autograd.grad_mode import state as grad_state
    from gradkit.ops import astype

    if not (st.cache_enabled and v._requires_grad and v._grad_fn is None):
        return astype(v, target)
    key = (id(v), target, grad_state.enabled)
    hit = st.cache.get(key)
    if hit is not None and hit[0] is v and hit[1] == v._version[0]:
        return hit[2]
    out = astype(v, target)
    st.cache[key] = (v, v._version[0], out)  # holds v: its id stays its own until the cache is cleared
    return out
