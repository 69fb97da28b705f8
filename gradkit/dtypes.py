"""Dtype names and the rules that turn user input into a NumPy dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.errors import DTypeError

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int8 = np.dtype("int8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

#: The dtype that Python floats and lists of them become.
default_float = float32

_SUPPORTED = {float16, float32, float64, int8, int16, int32, int64, uint8, bool_}


def to_dtype(dtype: Any, op: str = "dtype") -> np.dtype:
    """Normalise ``dtype`` (a NumPy dtype, a type or a name) or raise DTypeError."""
    if isinstance(dtype, np.dtype) and dtype in _SUPPORTED:
        return dtype
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if dtype is None or resolved is None or resolved not in _SUPPORTED:
        names = ", ".join(sorted(d.name for d in _SUPPORTED))
        raise DTypeError(f"{op}: unknown or unsupported dtype {dtype!r}; expected one of {names}")
    return resolved


def is_supported(dtype: np.dtype) -> bool:
    """True for the dtypes a tensor can have (unsigned integers wider than 8 bits are not among them)."""
    return np.dtype(dtype) in _SUPPORTED


def is_floating(dtype: np.dtype) -> bool:
    """True for the float dtypes, the only ones that can carry gradients."""
    return dtype.kind == "f"


def is_dtype_like(value: Any) -> bool:
    """True when ``value`` names a dtype rather than a device (for ``.to(x)`` with one argument)."""
    if isinstance(value, (np.dtype, type)):
        return True
    if isinstance(value, str):
        try:
            np.dtype(value)
        except (TypeError, ValueError):  # ValueError: a malformed type string such as "cuda:(-1,)"
            return False
        return value.strip().lower() not in ("cpu", "cuda", "gpu", "numpy", "cupy")
    return False
