"""PyTorch's grid_sample formulas for one position at a time: the loop references of the grid_sample tests."""

from __future__ import annotations

import math

import numpy as np

import gradkit as gk


def as_tensor(data, device: str, grad: bool = False, dtype: str = "float64"):
    return gk.tensor(np.asarray(data, dtype=dtype), device=device, requires_grad=grad)


def unnormalize(c: float, n: int, align: bool) -> float:
    return (c + 1) / 2 * (n - 1) if align else ((c + 1) * n - 1) / 2


def reflect(c: float, twice_low: int, twice_high: int) -> float:
    if twice_low == twice_high:
        return 0.0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    a = abs(c - low)
    if math.isinf(a) or math.isnan(a):
        return math.nan
    extra, flips = math.fmod(a, span), math.floor(a / span)
    return extra + low if flips % 2 == 0 else span - extra + low


def pad(c: float, n: int, padding: str, align: bool) -> float:
    if padding == "zeros":
        return c
    if padding == "reflection":
        c = reflect(c, 0, 2 * (n - 1)) if align else reflect(c, -1, 2 * n - 1)
    return 0.0 if math.isnan(c) else min(max(c, 0.0), n - 1.0)
