"""``gk.cuda.amp``: PyTorch's older ``torch.cuda.amp`` spellings of :mod:`gradkit.amp`.

``GradScaler(init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000, enabled=True)`` is
``gk.amp.GradScaler("cuda", ...)``, and ``autocast(enabled=True, dtype=gk.float16, cache_enabled=True)`` is
``gk.amp.autocast("cuda", ...)``. (PyTorch marks both deprecated; here they are plain aliases.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.amp import autocast_mode as _autocast_mode
from gradkit.amp import grad_scaler as _grad_scaler

__all__ = ["GradScaler", "autocast"]


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
