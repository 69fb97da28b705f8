"""PyTorch's padding layers: Zero, Constant, Reflection, Replication and Circular padding of 1, 2 or 3
trailing axes, each a call of ``F.pad`` (differentiable, any order) with PyTorch's arguments and reprs.

``padding`` is an int (every side) or a tuple of 2, 4 or 6 ints in F.pad's order: (left, right) of the
last axis, then (top, bottom), then (front, back). Negative widths crop, as PyTorch. The constant layers
take any input with enough axes; the others, as PyTorch, a batched or unbatched input: (N, C, *axes) or
(C, *axes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit._args import real
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from gradkit.nn import functional as F
from gradkit.nn.module import Module
from gradkit.tensor import Tensor

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]

_AXES = ("W", "H, W", "D, H, W")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _padding(value: Any, dims: int, layer: str) -> tuple[int, ...]:
    """``padding`` as a tuple of 2 * dims ints (an int is repeated)."""
    n = 2 * dims
    if _is_int(value):
        return (int(value),) * n
    if not isinstance(value, (tuple, list)):
        raise ArgumentTypeError(f"{layer}: padding must be an int or a tuple of {n} ints, got "
                                f"{type(value).__name__} {value!r:.60}")
    if len(value) != n or not all(_is_int(v) for v in value):
        raise InvalidArgumentError(f"{layer}: padding must be an int or a tuple of {n} ints, got {value!r:.60}")
    return tuple(int(v) for v in value)


class _PadNd(Module):
    """Padding of the last ``_dims`` axes with ``F.pad``'s ``_mode`` (reflect, replicate or circular)."""

    _dims = 0
    _mode = "constant"

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _padding(padding, self._dims, type(self).__name__)

    def _check(self, x: Any) -> None:
        d = self._dims
        ndim = getattr(x, "ndim", None)
        if isinstance(x, Tensor) and ndim not in (d + 1, d + 2):
            raise ShapeError(
                f"{type(self).__name__}: expected a {d + 1}-D (C, {_AXES[d - 1]}) or {d + 2}-D "
                f"(N, C, {_AXES[d - 1]}) input, got input of shape {x.shape}"
            )

    def forward(self, x: Any) -> Tensor:
        self._check(x)
        return F.pad(x, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    """Padding with ``value``; any input with at least ``_dims`` axes."""

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding)
        self.value = real(value, type(self).__name__, "value")

    def _check(self, x: Any) -> None:
        if isinstance(x, Tensor) and x.ndim < self._dims:
            raise ShapeError(f"{type(self).__name__}: expected an input with at least {self._dims} axes, got "
                             f"input of shape {x.shape}")

    def forward(self, x: Any) -> Tensor:
        self._check(x)
        return F.pad(x, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pad the last axis with zeros: ``padding`` an int or (left, right)."""

    _dims = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two axes with zeros: ``padding`` an int or (left, right, top, bottom)."""

    _dims = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three axes with zeros: ``padding`` an int or (left, right, top, bottom, front, back)."""

    _dims = 3


class ConstantPad1d(_ConstantPadNd):
    """Pad the last axis with ``value``: ``padding`` an int or (left, right)."""

    _dims = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two axes with ``value``: ``padding`` an int or (left, right, top, bottom)."""

    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three axes with ``value``: ``padding`` an int or a 6-tuple."""

    _dims = 3


class ReflectionPad1d(_PadNd):
    """Mirror (C, W) or (N, C, W) input at its edges, without repeating them; each width below W."""

    _dims = 1
    _mode = "reflect"


class ReflectionPad2d(_PadNd):
    """Mirror the last two axes of (C, H, W) or (N, C, H, W) input at their edges."""

    _dims = 2
    _mode = "reflect"


class ReflectionPad3d(_PadNd):
    """Mirror the last three axes of (C, D, H, W) or (N, C, D, H, W) input at their edges."""

    _dims = 3
    _mode = "reflect"


class ReplicationPad1d(_PadNd):
    """Repeat the edge values of (C, W) or (N, C, W) input."""

    _dims = 1
    _mode = "replicate"


class ReplicationPad2d(_PadNd):
    """Repeat the edge values of the last two axes of (C, H, W) or (N, C, H, W) input."""

    _dims = 2
    _mode = "replicate"


class ReplicationPad3d(_PadNd):
    """Repeat the edge values of the last three axes of (C, D, H, W) or (N, C, D, H, W) input."""

    _dims = 3
    _mode = "replicate"


class CircularPad1d(_PadNd):
    """Wrap (C, W) or (N, C, W) input around: each width at most W."""

    _dims = 1
    _mode = "circular"


class CircularPad2d(_PadNd):
    """Wrap the last two axes of (C, H, W) or (N, C, H, W) input around."""

    _dims = 2
    _mode = "circular"


class CircularPad3d(_PadNd):
    """Wrap the last three axes of (C, D, H, W) or (N, C, D, H, W) input around."""

    _dims = 3
    _mode = "circular"
