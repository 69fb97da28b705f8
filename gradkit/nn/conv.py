"""Layers for convolutional networks: Conv1d/2d/3d and ConvTranspose1d/2d/3d, max, average, adaptive and power-
average pooling in 1, 2 and 3 dimensions, MaxUnpool3d, BatchNorm2d/3d and Dropout2d, with PyTorch's arguments,
defaults, initialisation and state-dict keys."""

from __future__ import annotations

import math
from typing import Any

from gradkit._args import flag, real, text, whole
from gradkit.creation import empty
from gradkit.errors import InvalidArgumentError, ShapeError
from gradkit.nn import functional as F
from gradkit.nn import init
from gradkit.nn.layers import _BatchNorm, _DropoutNd, _size
from gradkit.nn.module import Module
from gradkit.nn.parameter import Parameter
from gradkit.nn.resample import _MaxUnpoolNd
from gradkit.ops._util import as_tensor
from gradkit.ops.conv import (
    _ints,
    _transposed_size,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    fold,
    unfold,
)
from gradkit.tensor import Tensor

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "BatchNorm2d",
    "BatchNorm3d",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "Dropout2d",
    "Fold",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "MaxUnpool3d",
    "Unfold",
]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """A convolution layer: weight (out_channels, in_channels / groups, *kernel_size), bias (out_channels,).

    Initialised as PyTorch: weight by ``kaiming_uniform_(a=sqrt(5))``, bias uniform in +-1/sqrt(fan_in) with
    fan_in = in_channels / groups * prod(kernel_size). ``padding_mode`` other than "zeros" pads with
    ``F.pad`` (reflect, replicate or circular) and convolves without padding, as PyTorch.
    """

    _dims = 0
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        layer, dims = type(self).__name__, self._dims
        self.in_channels = _size(in_channels, "in_channels", layer)
        self.out_channels = _size(out_channels, "out_channels", layer)
        self.groups = whole(groups, layer, "groups", 1)
        if self.in_channels % self.groups:
            raise InvalidArgumentError(f"{layer}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if self.out_channels % self.groups:
            raise InvalidArgumentError(f"{layer}: out_channels ({out_channels}) must be divisible by groups "
                                       f"({groups})")
        self.kernel_size = _ints(kernel_size, dims, layer, "kernel_size", 1)
        self.stride = _ints(stride, dims, layer, "stride", 1)
        self.dilation = _ints(dilation, dims, layer, "dilation", 1)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise InvalidArgumentError(f"{layer}: padding must be an int, a tuple, 'valid' or 'same', "
                                           f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise InvalidArgumentError(f"{layer}: padding='same' is not supported for strided convolutions "
                                           f"(stride={self.stride})")
            self.padding = padding
        else:
            self.padding = _ints(padding, dims, layer, "padding", 0)
        text(padding_mode, layer, "padding_mode")
        if padding_mode not in _PADDING_MODES:
            raise InvalidArgumentError(f"{layer}: padding_mode must be one of "
                                       f"{', '.join(map(repr, _PADDING_MODES))}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.output_padding = (0,) * dims
        channels = (self.in_channels, self.out_channels) if self._transposed else (self.out_channels,
                                                                                    self.in_channels)
        shape = (channels[0], channels[1] // self.groups, *self.kernel_size)
        self.weight = Parameter(empty(*shape, dtype=dtype, device=device))
        if flag(bias, layer, "bias"):
            self.bias = Parameter(empty(self.out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)  # PyTorch's, from the weight's shape
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def _pad_widths(self) -> tuple:
        """``F.pad``'s widths for ``padding_mode``: (before, after) per axis, the last axis first."""
        widths: list[int] = []
        for i in reversed(range(self._dims)):
            if self.padding == "same":
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                widths += [total // 2, total - total // 2]
            elif self.padding == "valid":
                widths += [0, 0]
            else:
                widths += [self.padding[i], self.padding[i]]
        return tuple(widths)

    def _conv(self, x: Any, weight: Tensor, bias: Tensor | None) -> Tensor:
        conv = (F.conv1d, F.conv2d, F.conv3d)[self._dims - 1]
        if self.padding_mode != "zeros":
            x = F.pad(x, self._pad_widths(), mode=self.padding_mode)
            return conv(x, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, x: Any) -> Tensor:
        return self._conv(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """PyTorch's ``nn.Conv1d``: (N, C, L) or (C, L) input, weight (out_channels, in_channels / groups, k)."""

    _dims = 1


class Conv2d(_ConvNd):
    """PyTorch's ``nn.Conv2d``: (N, C, H, W) or (C, H, W) input, weight (out_channels, in_channels / groups,
    kh, kw)."""

    _dims = 2


class Conv3d(_ConvNd):
    """PyTorch's ``nn.Conv3d``: (N, C, D, H, W) or (C, D, H, W) input, weight (out_channels, in_channels /
    groups, kd, kh, kw)."""

    _dims = 3


class _ConvTransposeNd(_ConvNd):
    """A transposed convolution layer: weight (in_channels, out_channels / groups, *kernel_size), bias
    (out_channels,), initialised as PyTorch (fan_in = out_channels / groups * prod(kernel_size)). ``padding``
    takes ints only and ``padding_mode`` only "zeros", as PyTorch's."""

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        layer, dims = type(self).__name__, self._dims
        if isinstance(padding, str):
            raise InvalidArgumentError(f"{layer}: padding must be an int or a tuple of {dims} ints, got {padding!r}")
        if text(padding_mode, layer, "padding_mode") != "zeros":
            raise InvalidArgumentError(f'{layer}: only padding_mode="zeros" is supported, got {padding_mode!r}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)
        self.output_padding = _ints(output_padding, dims, layer, "output_padding", 0)
        if any(a >= max(s, d) for a, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True)):
            raise InvalidArgumentError(
                f"{layer}: output_padding must be smaller than stride or dilation on each axis, got output_padding "
                f"{self.output_padding}, stride {self.stride}, dilation {self.dilation}"
            )

    def _output_padding(self, x: Any, output_size: Any) -> tuple:
        """``output_padding``, or with ``output_size`` (the spatial sizes, or the whole shape) the padding that
        gives it (PyTorch's rule: each size between the smallest output and that plus stride - 1)."""
        if output_size is None:
            return self.output_padding
        layer, dims = type(self).__name__, self._dims
        shape = tuple(x.shape)
        if len(shape) not in (dims + 1, dims + 2):
            return self.output_padding  # the functional raises its ShapeError, naming the input's shape
        leading = 2 if len(shape) == dims + 2 else 1
        sizes = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size]
        if len(sizes) == leading + dims:
            sizes = sizes[leading:]
        if len(sizes) != dims:
            raise InvalidArgumentError(
                f"{layer}: output_size must hold {dims} (spatial) or {leading + dims} ints for input of shape "
                f"{shape}, got {output_size!r:.60}"
            )
        sizes = [whole(n, layer, "output_size", 0) for n in sizes]
        smallest = _transposed_size(shape[leading:], self.kernel_size, self.stride, self.padding, self.dilation,
                                    (0,) * dims)
        largest = tuple(m + s - 1 for m, s in zip(smallest, self.stride, strict=True))
        if any(not lo <= n <= hi for n, lo, hi in zip(sizes, smallest, largest, strict=True)):
            raise InvalidArgumentError(
                f"{layer}: output_size {tuple(sizes)} is out of range for input of shape {shape}: valid sizes range "
                f"from {smallest} to {largest}"
            )
        return tuple(n - m for n, m in zip(sizes, smallest, strict=True))

    def forward(self, x: Any, output_size: Any = None) -> Tensor:
        conv = (conv_transpose1d, conv_transpose2d, conv_transpose3d)[self._dims - 1]
        if not isinstance(x, Tensor):  # a list or an array: its shape, for output_size
            x = as_tensor(x, conv.__name__, self.weight._backend)
        return conv(x, self.weight, self.bias, self.stride, self.padding, self._output_padding(x, output_size),
                    self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """PyTorch's ``nn.ConvTranspose1d``: (N, C, L) or (C, L) input, weight (in_channels, out_channels / groups,
    k); ``forward(input, output_size=None)``."""

    _dims = 1


class ConvTranspose2d(_ConvTransposeNd):
    """PyTorch's ``nn.ConvTranspose2d``: (N, C, H, W) or (C, H, W) input, weight (in_channels, out_channels /
    groups, kh, kw); ``forward(input, output_size=None)``, ``output_size`` choosing among the output sizes a
    stride > 1 allows."""

    _dims = 2


class ConvTranspose3d(_ConvTransposeNd):
    """PyTorch's ``nn.ConvTranspose3d``: (N, C, D, H, W) or (C, D, H, W) input, weight (in_channels,
    out_channels / groups, kd, kh, kw); ``forward(input, output_size=None)``, as ConvTranspose2d's."""

    _dims = 3


class Unfold(Module):
    """PyTorch's ``nn.Unfold`` (``F.unfold``): the sliding blocks of (N, C, H, W) input as columns."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> None:
        super().__init__()
        for name, value, low in (("kernel_size", kernel_size, 1), ("dilation", dilation, 1),
                                 ("padding", padding, 0), ("stride", stride, 1)):
            _ints(value, 2, "Unfold", name, low)
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, x: Any) -> Tensor:
        return unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """PyTorch's ``nn.Fold`` (``F.fold``): columns of sliding blocks summed into (N, C, *output_size)."""

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:
        super().__init__()
        for name, value, low in (("output_size", output_size, 1), ("kernel_size", kernel_size, 1),
                                 ("dilation", dilation, 1), ("padding", padding, 0), ("stride", stride, 1)):
            _ints(value, 2, "Fold", name, low)
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, x: Any) -> Tensor:
        return fold(x, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class _MaxPoolNd(Module):
    _dims = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        layer, dims = type(self).__name__, self._dims
        _ints(kernel_size, dims, layer, "kernel_size", 1)
        if stride is not None:
            _ints(stride, dims, layer, "stride", 1)
        _ints(padding, dims, layer, "padding", 0)
        _ints(dilation, dims, layer, "dilation", 1)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = flag(return_indices, layer, "return_indices")
        self.ceil_mode = flag(ceil_mode, layer, "ceil_mode")

    def forward(self, x: Any) -> Any:
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self._dims - 1]
        return pool(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """PyTorch's ``nn.MaxPool1d`` (``F.max_pool1d``); stride defaults to kernel_size."""

    _dims = 1


class MaxPool2d(_MaxPoolNd):
    """PyTorch's ``nn.MaxPool2d`` (``F.max_pool2d``); stride defaults to kernel_size."""

    _dims = 2


class MaxPool3d(_MaxPoolNd):
    """PyTorch's ``nn.MaxPool3d`` (``F.max_pool3d``); stride defaults to kernel_size."""

    _dims = 3


class AvgPool1d(Module):
    """PyTorch's ``nn.AvgPool1d`` (``F.avg_pool1d``); stride defaults to kernel_size."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = _ints(kernel_size, 1, "AvgPool1d", "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _ints(stride, 1, "AvgPool1d", "stride", 1)
        self.padding = _ints(padding, 1, "AvgPool1d", "padding", 0)
        self.ceil_mode = flag(ceil_mode, "AvgPool1d", "ceil_mode")
        self.count_include_pad = flag(count_include_pad, "AvgPool1d", "count_include_pad")

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(Module):
    """AvgPool2d and AvgPool3d: PyTorch's arguments (``divisor_override`` too), kept as given."""

    _dims = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        layer, dims = type(self).__name__, self._dims
        _ints(kernel_size, dims, layer, "kernel_size", 1)
        if stride is not None:
            _ints(stride, dims, layer, "stride", 1)
        _ints(padding, dims, layer, "padding", 0)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = flag(ceil_mode, layer, "ceil_mode")
        self.count_include_pad = flag(count_include_pad, layer, "count_include_pad")
        self.divisor_override = (None if divisor_override is None
                                 else whole(divisor_override, layer, "divisor_override", 1))

    def forward(self, x: Any) -> Tensor:
        pool = F.avg_pool2d if self._dims == 2 else F.avg_pool3d
        return pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                    self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """PyTorch's ``nn.AvgPool2d`` (``F.avg_pool2d``); stride defaults to kernel_size."""

    _dims = 2


class AvgPool3d(_AvgPoolNd):
    """PyTorch's ``nn.AvgPool3d`` (``F.avg_pool3d``); stride defaults to kernel_size."""

    _dims = 3


class _AdaptiveAvgPoolNd(Module):
    _dims = 0

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * self._dims
        if len(sizes) != self._dims:
            raise InvalidArgumentError(f"{type(self).__name__}: output_size must be an int or a tuple of "
                                       f"{self._dims} ints (or None), got {output_size!r:.60}")
        for s in sizes:
            if s is not None:
                whole(s, type(self).__name__, "output_size", 0)
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        pool = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[self._dims - 1]
        return pool(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """PyTorch's ``nn.AdaptiveAvgPool1d`` (``F.adaptive_avg_pool1d``)."""

    _dims = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """PyTorch's ``nn.AdaptiveAvgPool2d`` (``F.adaptive_avg_pool2d``); ``output_size`` an int or a pair, None
    keeping that axis's size."""

    _dims = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """PyTorch's ``nn.AdaptiveAvgPool3d`` (``F.adaptive_avg_pool3d``); ``output_size`` an int or a triple, None
    keeping that axis's size."""

    _dims = 3


class _AdaptiveMaxPoolNd(_AdaptiveAvgPoolNd):
    """Adaptive max pooling: ``output_size`` as the average's; ``return_indices`` also returns each maximum's
    flat index into its input plane."""

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = flag(return_indices, type(self).__name__, "return_indices")

    def forward(self, x: Any) -> Any:
        pool = (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d)[self._dims - 1]
        return pool(x, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """PyTorch's ``nn.AdaptiveMaxPool1d(output_size, return_indices=False)`` (``F.adaptive_max_pool1d``)."""

    _dims = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """PyTorch's ``nn.AdaptiveMaxPool2d(output_size, return_indices=False)`` (``F.adaptive_max_pool2d``); None in
    ``output_size`` keeps that axis's size."""

    _dims = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """PyTorch's ``nn.AdaptiveMaxPool3d(output_size, return_indices=False)`` (``F.adaptive_max_pool3d``); None in
    ``output_size`` keeps that axis's size."""

    _dims = 3


class _LPPoolNd(Module):
    """Power-average pooling (``F.lp_pool1d/2d/3d``): PyTorch's arguments, kept as given."""

    _dims = 0

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> None:
        super().__init__()
        layer, dims = type(self).__name__, self._dims
        norm = real(norm_type, layer, "norm_type")
        if norm == 0:
            raise InvalidArgumentError(f"{layer}: norm_type must be a non-zero number, got {norm_type!r}")
        _ints(kernel_size, dims, layer, "kernel_size", 1)
        if stride is not None:
            _ints(stride, dims, layer, "stride", 1)
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = flag(ceil_mode, layer, "ceil_mode")

    def forward(self, x: Any) -> Tensor:
        pool = (F.lp_pool1d, F.lp_pool2d, F.lp_pool3d)[self._dims - 1]
        return pool(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """PyTorch's ``nn.LPPool1d(norm_type, kernel_size, stride=None, ceil_mode=False)`` (``F.lp_pool1d``)."""

    _dims = 1


class LPPool2d(_LPPoolNd):
    """PyTorch's ``nn.LPPool2d(norm_type, kernel_size, stride=None, ceil_mode=False)`` (``F.lp_pool2d``)."""

    _dims = 2


class LPPool3d(_LPPoolNd):
    """PyTorch's ``nn.LPPool3d(norm_type, kernel_size, stride=None, ceil_mode=False)`` (``F.lp_pool3d``)."""

    _dims = 3


class MaxUnpool3d(_MaxUnpoolNd):
    """PyTorch's ``nn.MaxUnpool3d(kernel_size, stride=None, padding=0)``; ``forward(input, indices,
    output_size=None)`` (``F.max_unpool3d``)."""

    _dims = 3

    def forward(self, input: Any, indices: Any, output_size: Any = None) -> Tensor:  # noqa: A002
        return F.max_unpool3d(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input over N, H and W per channel: BatchNorm1d's arguments,
    running statistics, state-dict keys and formulas."""

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ShapeError(f"BatchNorm2d: expected input of shape (N, {self.num_features}, H, W), got {x.shape}")
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:  # an empty batch is no error (PyTorch's)
            raise ShapeError(
                f"BatchNorm2d: expected more than 1 value per channel when training, got input shape {x.shape}"
            )


class Dropout2d(_DropoutNd):
    """Zero whole channels with probability ``p`` and scale the rest by 1/(1-p), in training mode only
    (``F.dropout2d``)."""

    def forward(self, x: Any) -> Tensor:
        return F.dropout2d(x, self.p, self.training, self.inplace)



class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) input over N, D, H and W per channel: BatchNorm1d's arguments,
    running statistics, state-dict keys and formulas."""

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 5 or x.shape[1] != self.num_features:
            raise ShapeError(f"BatchNorm3d: expected input of shape (N, {self.num_features}, D, H, W), got {x.shape}")
        if self.training and x.shape[0] * math.prod(x.shape[2:]) == 1:  # an empty batch is no error (PyTorch's)
            raise ShapeError(
                f"BatchNorm3d: expected more than 1 value per channel when training, got input shape {x.shape}"
            )
