"""``gk.cuda.amp``: PyTorch's older ``torch.cuda.amp`` spellings of :mod:`gradkit.amp`.

``GradScaler(init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000, enabled=True)`` is
``gk.amp.GradScaler("cuda", ...)``, and ``autocast(enabled=True, dtype=gk.float16, cache_enabled=True)`` is
``gk.amp.autocast("cuda", ...)``; ``custom_fwd(fwd=None, *, cast_inputs=None)`` and ``custom_bwd(bwd)`` are
``gk.amp.custom_fwd(device_type="cuda", ...)`` and ``gk.amp.custom_bwd(device_type="cuda")``. (PyTorch marks
them deprecated; here they are plain aliases.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.amp import autocast_mode as _autocast_mode
from gradkit.amp import grad_scaler as _grad_scaler

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]


class GradScaler(_grad_scaler.GradScaler):
    """``torch.cuda.amp.GradScaler``: :class:`gradkit.amp.GradScaler` on "cuda", without the device argument."""

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor,
                         backoff_factor=backoff_factor, growth_interval=growth_interval, enabled=enabled)


class autocast(_autocast_mode.autocast):  # noqa: N801 - PyTorch's name
    """``torch.cuda.amp.autocast(enabled=True, dtype=float16, cache_enabled=True)``: ``gk.autocast("cuda", ...)``."""

    def __init__(self, enabled: bool = True, dtype: Any = np.float16, cache_enabled: bool = True) -> None:
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


def custom_fwd(fwd: Any = None, *, cast_inputs: Any = None) -> Any:
    """``torch.cuda.amp.custom_fwd``: ``gk.amp.custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)``."""
    return _autocast_mode.custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd: Any) -> Any:
    """``torch.cuda.amp.custom_bwd``: ``gk.amp.custom_bwd(bwd, device_type="cuda")``."""
    return _autocast_mode.custom_bwd(bwd, device_type="cuda")
