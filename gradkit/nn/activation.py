"""PyTorch's activations that ``layers.py`` does not have: SELU, CELU, RReLU, Threshold, Tanhshrink,
Softshrink, Hardshrink and Softmax2d, with their functional forms.

Each is a composition of differentiable gradkit ops or one recorded node whose rule multiplies by a
constant slope, so gradients of any order work on NumPy and CuPy without host reads. Values and slopes
at the kinks (and for NaN) are PyTorch's. ``inplace=True`` writes the result into the input and returns it, as
PyTorch (``F.selu_``'s rules: recorded when the input is in the graph, refused on a leaf that requires grad).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real, scalar
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd import grad_mode
from gradkit.autograd.function import anchor_of, record, tied_slope
from gradkit.errors import DTypeError, InvalidArgumentError, ShapeError
from gradkit.nn import functional as F
from gradkit.nn.module import Module
from gradkit.ops._util import as_tensor
from gradkit.tensor import Tensor

__all__ = [
    "CELU",
    "Hardshrink",
    "RReLU",
    "SELU",
    "Softmax2d",
    "Softshrink",
    "Tanhshrink",
    "Threshold",
    "celu",
    "hardshrink",
    "rrelu",
    "selu",
    "softshrink",
    "tanhshrink",
    "threshold",
]

# SELU's constants (Klambauer et al. 2017), as PyTorch's.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _float_input(input: Any, op: str) -> Tensor:  # noqa: A002
    x = as_tensor(input, op)
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: input must be a float tensor, got dtype {x.dtype}; convert with .astype()")
    return x


def _scale_vjp(g: Tensor, factor: Any) -> Tensor:
    """``g * factor`` for a constant raw array ``factor`` (on raw arrays unless the backward is recorded)."""
    if not grad_mode.state.enabled:
        return Tensor._make(g._data * factor, g._backend)
    return g * factor


def _slope_vjp(g: Tensor, slope: Any, anchor: tuple) -> Tensor:
    """``g * slope`` for a raw ``slope`` that is piecewise constant in the input; in a recorded backward the
    slope is tied to the input with a zero derivative (``gradkit.autograd.function.tied_slope``)."""
    if not grad_mode.state.enabled:
        return Tensor._make(g._data * slope, g._backend)
    return g * tied_slope(g, slope, anchor)


def _sloped(name: str, x: Tensor, data: Any, slope: Any) -> Tensor:
    """One node whose output is ``data`` and whose gradient is ``g * slope`` (``slope`` a raw array, piecewise
    constant in ``x``)."""
    return record(name, data, x._backend, (x,), (_slope_vjp,), (slope.astype(x.dtype, copy=False), anchor_of(x)))


# ------------------------------------------------------------------ functional forms
def selu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """``scale * elu(x, alpha)`` with SELU's fixed alpha (1.6733) and scale (1.0507)."""
    if flag(inplace, "selu", "inplace"):
        return _in_place(input, "selu_", selu)
    x = _float_input(input, "selu")
    return F.elu(x, _SELU_ALPHA) * _SELU_SCALE


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x`` where x > 0, else ``alpha (exp(x / alpha) - 1)``; the slope at 0 is 1 (PyTorch's)."""
    if flag(inplace, "celu", "inplace"):
        return _in_place(input, "celu_", celu, alpha)
    if _autocast.active and _autocast.is_on(input):  # gk.autocast: PyTorch's celu is one kernel, not on a list:
        with _autocast.exclude():  # its expm1 is not cast to float32
            return celu(input, alpha)
    x = _float_input(input, "celu")
    alpha = real(alpha, "celu", "alpha")
    if alpha == 0:
        raise InvalidArgumentError("celu: alpha cannot be 0 (it divides x)")
    pos = ~(x._data <= 0)  # NaN takes the x branch: slope 1, as PyTorch
    negative = ops.where(pos, 0.0, x)  # no overflow, and no gradient, where x > 0
    return ops.where(pos, x, ops.expm1(negative / alpha) * alpha)


def rrelu(input: Any, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,  # noqa: A002
          inplace: bool = False) -> Tensor:
    """Randomised leaky ReLU: ``x`` where x > 0, else ``a * x``. When ``training``, each such element draws
    its own ``a`` from U(lower, upper) (the backend's generator); otherwise ``a = (lower + upper) / 2``."""
    op = "rrelu"
    if flag(inplace, op, "inplace"):  # the backward reads the slopes only
        return _in_place(input, "rrelu_", rrelu, lower, upper, training, keeps_old=False)
    x = _float_input(input, op)
    lower = real(lower, op, "lower")
    upper = real(upper, op, "upper")
    if lower > upper:
        raise InvalidArgumentError(f"{op}: lower ({lower}) must be <= upper ({upper})")
    training = flag(training, op, "training")
    if not training:
        return F.leaky_relu(x, (lower + upper) / 2)
    xd = x._data
    xp = x._backend.xp
    draw = x._backend.uniform(xd.shape, xd.dtype) * (upper - lower) + lower
    slope = xp.where(xd <= 0, draw, xp.asarray(1, dtype=xd.dtype))
    return _sloped(op, x, xd * slope, slope)


def threshold(input: Any, threshold: float, value: float, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x`` where x > threshold, else ``value`` (NaN stays NaN); the slope is 1 above the threshold, else 0.
    Integer inputs are accepted, as PyTorch."""
    op = "threshold"
    if flag(inplace, op, "inplace"):  # the backward reads the slope only
        return _in_place(input, "threshold_", _threshold, threshold, value, keeps_old=False)
    x = as_tensor(input, op)
    if x.dtype.kind not in "iuf":
        raise DTypeError(f"{op}: input must be a float or integer tensor, got dtype {x.dtype}")
    th = real(threshold, op, "threshold")
    value = _fill_value(value, x.dtype, op)
    xd = x._data
    xp = x._backend.xp
    below = xd <= th
    data = xp.where(below, xp.asarray(value, dtype=xd.dtype), xd)
    if x.dtype.kind != "f":
        return Tensor._make(data, x._backend)
    return _sloped(op, x, data, ~below)


_threshold = threshold  # the function, which threshold's argument of that name hides


def _in_place(input: Any, op: str, fn: Any, *args: Any, keeps_old: bool = True) -> Tensor:  # noqa: A002
    """``F.*``'s ``inplace=True``: gradkit/nn/functional_extra.py's ``_in_place`` (which imports this module)."""
    from gradkit.nn.functional_extra import _in_place

    return _in_place(input, op, fn, *args, keeps_old=keeps_old)


def _fill_value(value: Any, dtype: Any, op: str) -> float | int:
    """``threshold``'s ``value``: a number that ``dtype`` holds (NaN and +-inf for a float input, as PyTorch;
    a float value for an integer input is truncated, as PyTorch's cast)."""
    v = scalar(value)
    if isinstance(v, (float, np.floating)) and not math.isfinite(v):  # real() refuses NaN
        v = float(v)
        if dtype.kind == "f":
            return v
    else:
        v = real(v, op, "value")
        if dtype.kind == "f":
            if abs(v) > float(np.finfo(dtype).max):
                raise InvalidArgumentError(f"{op}: value {v!r} does not fit the input's dtype {dtype}")
            return v
        if math.isfinite(v):
            info = np.iinfo(dtype)
            if info.min <= math.trunc(v) <= info.max:
                return math.trunc(v)
    raise InvalidArgumentError(f"{op}: value {v!r} does not fit the input's dtype {dtype}")


def tanhshrink(input: Any) -> Tensor:  # noqa: A002
    """``x - tanh(x)``."""
    x = _float_input(input, "tanhshrink")
    return x - ops.tanh(x)


def softshrink(input: Any, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0 (``lambd >= 0``); the slope
    is 0 on [-lambd, lambd] and 1 outside."""
    op = "softshrink"
    x = _float_input(input, op)
    lambd = real(lambd, op, "lambd", low=0.0)
    if lambd == math.inf:  # inf - clip(inf) would be NaN
        raise InvalidArgumentError(f"{op}: lambd must be finite, got inf")
    xd = x._data
    xp = x._backend.xp
    inside = (xd >= -lambd) & (xd <= lambd)
    data = (xd - xp.clip(xd, -lambd, lambd)).astype(xd.dtype, copy=False)
    return _sloped(op, x, data, ~inside)


def hardshrink(input: Any, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """``x`` outside [-lambd, lambd], else 0; the slope is 0 on [-lambd, lambd] and 1 outside."""
    op = "hardshrink"
    x = _float_input(input, op)
    lambd = real(lambd, op, "lambd")
    xd = x._data
    xp = x._backend.xp
    inside = (xd >= -lambd) & (xd <= lambd)
    data = xp.where(inside, xp.zeros((), dtype=xd.dtype), xd)
    return _sloped(op, x, data, ~inside)


# ------------------------------------------------------------------ layers
class SELU(Module):
    """``F.selu``: ``scale * elu(x, alpha)`` with SELU's constants."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = flag(inplace, "SELU", "inplace")

    def forward(self, x: Any) -> Tensor:
        return selu(x, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class CELU(Module):
    """``F.celu``: ``x`` where x > 0, else ``alpha (exp(x / alpha) - 1)``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = real(alpha, "CELU", "alpha")
        if self.alpha == 0:
            raise InvalidArgumentError("CELU: alpha cannot be 0 (it divides x)")
        self.inplace = flag(inplace, "CELU", "inplace")

    def forward(self, x: Any) -> Tensor:
        return celu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class RReLU(Module):
    """``F.rrelu``: random slopes from U(lower, upper) for x <= 0 in training mode, their mean in evaluation."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False) -> None:
        super().__init__()
        self.lower = real(lower, "RReLU", "lower")
        self.upper = real(upper, "RReLU", "upper")
        if self.lower > self.upper:
            raise InvalidArgumentError(f"RReLU: lower ({self.lower}) must be <= upper ({self.upper})")
        self.inplace = flag(inplace, "RReLU", "inplace")

    def forward(self, x: Any) -> Tensor:
        return rrelu(x, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class Threshold(Module):
    """``F.threshold``: ``x`` where x > threshold, else ``value``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = real(threshold, "Threshold", "threshold")
        self.value = _fill_value(value, np.dtype(np.float64), "Threshold")
        self.inplace = flag(inplace, "Threshold", "inplace")

    def forward(self, x: Any) -> Tensor:
        return threshold(x, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class Tanhshrink(Module):
    """``F.tanhshrink``: ``x - tanh(x)``."""

    def forward(self, x: Any) -> Tensor:
        return tanhshrink(x)


class Softshrink(Module):
    """``F.softshrink``: shrink towards 0 by ``lambd`` (>= 0), 0 on [-lambd, lambd]."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = real(lambd, "Softshrink", "lambd", low=0.0)

    def forward(self, x: Any) -> Tensor:
        return softshrink(x, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Module):
    """``F.hardshrink``: 0 on [-lambd, lambd], ``x`` elsewhere."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = real(lambd, "Hardshrink", "lambd")

    def forward(self, x: Any) -> Tensor:
        return hardshrink(x, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Softmax2d(Module):
    """Softmax over the channels at each spatial position: axis -3 of (N, C, H, W) or (C, H, W) input."""

    def forward(self, x: Any) -> Tensor:
        x = _float_input(x, "Softmax2d")
        if x.ndim not in (3, 4):
            raise ShapeError(f"Softmax2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
        return ops.softmax(x, -3)
