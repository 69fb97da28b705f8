"""Helpers the autocast tests share: the autocast device type of a test's device, a float16 region on it, and
random float16 inputs in (0.1, 0.9), where every op on PyTorch's lists is defined."""

from __future__ import annotations

import numpy as np

import gradkit as gk
from gradkit import amp


def kind(device: str) -> str:
    """The autocast device type of a test's ``device`` ("cpu", or "cuda" for "cuda"/"cuda:N")."""
    return "cpu" if device == "cpu" else "cuda"


def autocast_on(device: str, **kw: object) -> amp.autocast:
    """An autocast region for ``device``'s type, float16 unless ``dtype=`` says otherwise."""
    kw.setdefault("dtype", gk.float16)
    return amp.autocast(kind(device), **kw)


def rand_in_range(device: str, *shape: int, seed: int = 0, dtype: object = np.float16, requires_grad: bool = False
                  ) -> gk.Tensor:
    """Random values in (0.1, 0.9) of ``dtype`` (float16 by default) on ``device``."""
    data = (np.random.default_rng(seed).random(shape) * 0.8 + 0.1).astype(dtype)
    return gk.tensor(data, device=device, requires_grad=requires_grad)
