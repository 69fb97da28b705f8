"""Checks for numeric arguments, shared by layers, functions, schedulers and data loading.

Each returns the value as a Python number or raises the GradkitError that names
the operation, the argument, what was passed and what was expected. A 0-d array
or tensor counts as the number it holds.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from gradkit.errors import ArgumentTypeError, InvalidArgumentError

_REALS = (int, float, np.integer, np.floating)


def scalar(value: Any) -> Any:
    """The Python number inside a 0-d array or tensor; anything else unchanged."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item") and not isinstance(value, _REALS):
        return value.item()
    return value


def real(value: Any, op: str, name: str, low: float = -math.inf, low_open: bool = False) -> float:
    """``value`` as a float: a real number (not bool) that is ``>= low`` (``> low`` with ``low_open``)."""
    value = scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _REALS):
        raise ArgumentTypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r:.40}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond the float range
        raise InvalidArgumentError(f"{op}: {name} must be a number within the float range, got an int of "
                                   f"{int(value).bit_length()} bits") from None
    if math.isnan(value):
        bound = "" if low == -math.inf else f" {'>' if low_open else '>='} {low}"
        raise InvalidArgumentError(f"{op}: {name} must be a number{bound}, not NaN")
    if value <= low if low_open else value < low:
        raise InvalidArgumentError(f"{op}: {name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    return value


def probability(value: Any, op: str, name: str) -> float:
    """``value`` as a float in [0, 1] (a dropout rate)."""
    value = real(value, op, name)
    if not 0 <= value <= 1:
        raise InvalidArgumentError(f"{op}: {name} must be a probability in [0, 1], got {value!r}")
    return value


def whole(value: Any, op: str, name: str, low: int | None = None) -> int:
    """``value`` as an int: an integer, or a float with no fraction (not bool), at least ``low`` when given."""
    value = scalar(value)
    integral = isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer()
    )
    if isinstance(value, (bool, np.bool_)) or not integral:
        raise ArgumentTypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r:.40}")
    value = int(value)
    if low is not None and value < low:
        raise InvalidArgumentError(f"{op}: {name} must be >= {low}, got {value}")
    return value


def flag(value: Any, op: str, name: str) -> bool:
    """``value`` as a bool: True or False (NumPy's too), 0 or 1, or a 0-d array or tensor of one of them."""
    value = scalar(value)
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise ArgumentTypeError(f"{op}: {name} must be True or False, got {type(value).__name__} {value!r:.40}")


def text(value: Any, op: str, name: str) -> str:
    """``value``, which must be a str (a mode, a name or a prefix)."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{op}: {name} must be a str, got {type(value).__name__} {value!r:.40}")
    return value


def path_arg(path: Any, op: str) -> str:
    """A file or folder path (str, bytes or os.PathLike) as a str."""
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        raise ArgumentTypeError(
            f"{op}: the path must be a str or os.PathLike, got {type(path).__name__} {path!r:.60}"
        ) from None


def out_of_range(op: str, value: Any, dtype: Any) -> InvalidArgumentError:
    """The error for a Python number that a tensor of ``dtype`` cannot hold (NumPy 2 raises OverflowError)."""
    dtype = np.dtype(dtype)
    text = repr(value)
    if len(text) > 40:
        text = f"{text[:20]}...{text[-8:]} ({len(text)} digits)"
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return InvalidArgumentError(
            f"{op}: {text} is out of range for a {dtype} tensor ({info.min} to {info.max}); "
            "convert the tensor to a wider dtype first"
        )
    return InvalidArgumentError(f"{op}: {text} is too large to combine with a {dtype} tensor")


def check_int_fits(op: str, value: Any, dtype: Any) -> None:
    """A Python int stored into an integer tensor must fit its dtype (NumPy 1.x would wrap it around)."""
    if type(value) is int and np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise out_of_range(op, value, dtype)


def no_out(out: Any, op: str, call: str) -> None:
    """Refuse NumPy's ``out=`` array (None is accepted: NumPy passes ``out=None`` on to methods, as
    ``np.sum(t)`` calls ``t.sum(axis=None, out=None)``). ``call`` shows the way that works instead."""
    if out is not None:
        raise InvalidArgumentError(
            f"{op}: out= is not supported (got {type(out).__name__}); gradkit returns a new tensor: y = {call}(...)"
        )
