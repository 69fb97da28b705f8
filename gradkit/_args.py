"""Checks for numeric arguments, shared by layers, functions, schedulers and data loading.

Each returns the value as a Python number or raises the GradkitError that names
the operation, the argument, what was passed and what was expected.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit.errors import ArgumentTypeError, InvalidArgumentError

_REALS = (int, float, np.integer, np.floating)


def real(value: Any, op: str, name: str, low: float = -math.inf, low_open: bool = False) -> float:
    """``value`` as a float: a Python or NumPy real number (not bool) that is ``>= low`` (``> low``)."""
    if isinstance(value, bool) or not isinstance(value, _REALS):
        raise ArgumentTypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r:.40}")
    value = float(value)
    if math.isnan(value) or (value <= low if low_open else value < low):
        raise InvalidArgumentError(f"{op}: {name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    return value


def whole(value: Any, op: str, name: str, low: int | None = None) -> int:
    """``value`` as an int: a Python or NumPy integer (not bool), at least ``low`` when given."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r:.40}")
    value = int(value)
    if low is not None and value < low:
        raise InvalidArgumentError(f"{op}: {name} must be >= {low}, got {value}")
    return value
