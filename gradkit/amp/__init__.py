"""Mixed precision, PyTorch's ``torch.amp``: :class:`GradScaler` (dynamic loss scaling) and :class:`autocast`
(the matmul family computed in float16, the ops PyTorch lists as float32 ops in float32).

``gk.amp.GradScaler(device="cuda", init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5,
growth_interval=2000, enabled=True)`` and ``gk.amp.autocast(device_type, dtype=None, enabled=True,
cache_enabled=None)`` behave as PyTorch's (see their docstrings); ``gk.cuda.amp`` has the old
``torch.cuda.amp`` spellings. bfloat16 does not exist in NumPy or CuPy: an enabled autocast in it (PyTorch's
CPU default) raises :class:`AutocastDtypeError`; use ``dtype=gk.float16``. ``F.binary_cross_entropy`` (and
``nn.BCELoss``) inside ``autocast("cuda")`` raises :class:`AutocastUnsafeOpError`, as PyTorch's.
``custom_fwd(device_type=..., cast_inputs=None)`` / ``custom_bwd(device_type=...)`` decorate the forward and
backward of a ``gk.autograd.Function`` as PyTorch's do.
"""

from __future__ import annotations

from gradkit.amp.autocast_mode import (
    AutocastDtypeError,
    AutocastUnsafeOpError,
    autocast,
    clear_autocast_cache,
    custom_bwd,
    custom_fwd,
    get_autocast_dtype,
    is_autocast_available,
    is_autocast_cache_enabled,
    is_autocast_enabled,
)
from gradkit.amp.grad_scaler import GradScaler, GradScalerError, OptState

__all__ = [
    "AutocastDtypeError",
    "AutocastUnsafeOpError",
    "GradScaler",
    "GradScalerError",
    "OptState",
    "autocast",
    "clear_autocast_cache",
    "custom_bwd",
    "custom_fwd",
    "get_autocast_dtype",
    "is_autocast_available",
    "is_autocast_cache_enabled",
    "is_autocast_enabled",
]
