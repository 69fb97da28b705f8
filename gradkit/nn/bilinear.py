"""PyTorch's ``nn.Bilinear`` and ``F.bilinear``: ``y[..., o] = x1[..., :] @ weight[o] @ x2[..., :] + bias[o]``."""

from __future__ import annotations

import math
from typing import Any

from gradkit import ops
from gradkit._args import flag
from gradkit.amp import autocast_mode as _autocast
from gradkit.creation import empty
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, ShapeError
from gradkit.nn import init
from gradkit.nn.layers import _size
from gradkit.nn.module import Module
from gradkit.nn.parameter import Parameter
from gradkit.ops._util import as_tensor
from gradkit.tensor import Tensor

__all__ = ["Bilinear", "bilinear"]


def bilinear(input1: Any, input2: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]``.

    ``weight`` is (out, in1, in2), ``input1`` (..., in1) and ``input2`` (..., in2) with the same leading axes
    (none for a single pair); the result is (..., out). One matmul of the flattened batch with ``weight``
    laid out as (in1, out * in2), then a product with ``input2`` summed over in2: differentiable ops only.
    """
    op = "bilinear"
    if _autocast.active:  # gk.autocast: PyTorch's promote list ("cuda"), computed with autocast off
        cast = _autocast.promote(op, input1, input2, weight, bias)
        if cast is not None:
            with _autocast.exclude():
                return bilinear(*cast)
    if not isinstance(weight, Tensor):
        raise ArgumentTypeError(f"{op}: weight must be a Tensor, got {type(weight).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise ArgumentTypeError(f"{op}: bias must be a Tensor or None, got {type(bias).__name__} {bias!r:.40}")
    backend = weight._backend
    x1 = as_tensor(input1, op, backend)
    x2 = as_tensor(input2, op, backend)
    for name, t in (("input1", x1), ("input2", x2), ("bias", bias)):
        if t is not None and t._backend is not backend:
            raise DeviceError(f"{op}: {name} is on {t.device}, weight on {weight.device}; move them to one device")
        if t is not None and t.dtype != weight.dtype:
            raise DTypeError(f"{op}: {name} ({t.dtype}) and weight ({weight.dtype}) must have the same dtype; "
                             "convert with .astype()")
    if weight.ndim != 3:
        raise ShapeError(f"{op}: weight must be 3-D (out_features, in1_features, in2_features), got shape "
                         f"{weight.shape}")
    out, in1, in2 = weight.shape
    if x1.ndim == 0 or x1.shape[:-1] != x2.shape[:-1]:
        raise ShapeError(f"{op}: input1 of shape {x1.shape} and input2 of shape {x2.shape} must have the same "
                         "leading axes (..., in1_features) and (..., in2_features)")
    if x1.shape[-1] != in1 or x2.shape[-1] != in2:
        raise ShapeError(f"{op}: inputs of shapes {x1.shape} and {x2.shape} do not fit weight of shape "
                         f"{weight.shape} (expected (..., {in1}) and (..., {in2}))")
    if bias is not None and bias.shape != (out,):
        raise ShapeError(f"{op}: bias of shape {bias.shape} does not fit weight of shape {weight.shape} "
                         f"(expected ({out},))")
    lead = x1.shape[:-1]
    b = math.prod(lead)
    w = ops.reshape(ops.permute(weight, (1, 0, 2)), (in1, out * in2))
    t = ops.reshape(ops.matmul(ops.reshape(x1, (b, in1)), w), (b, out, in2))
    y = ops.sum(t * ops.reshape(x2, (b, 1, in2)), 2)
    if bias is not None:
        y = y + bias
    return ops.reshape(y, lead + (out,))


class Bilinear(Module):
    """PyTorch's ``nn.Bilinear``: weight (out_features, in1_features, in2_features) and bias (out_features,),
    both uniform in +-1/sqrt(in1_features) (PyTorch's initialisation)."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in1_features = _size(in1_features, "in1_features", "Bilinear")
        self.in2_features = _size(in2_features, "in2_features", "Bilinear")
        self.out_features = _size(out_features, "out_features", "Bilinear")
        shape = (self.out_features, self.in1_features, self.in2_features)
        self.weight = Parameter(empty(*shape, dtype=dtype, device=device))
        if flag(bias, "Bilinear", "bias"):
            self.bias = Parameter(empty(self.out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features > 0 else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Any, input2: Any) -> Tensor:
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
