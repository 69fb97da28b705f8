"""Group, instance and local response normalisation: PyTorch's layers and their functional forms.

All three are compositions of differentiable gradkit ops (gradients of any order, NumPy or CuPy, no host
reads); the running statistics of ``InstanceNorm*`` are updated in place on the device, as BatchNorm's.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real, whole
from gradkit.amp import autocast_mode as _autocast
from gradkit.creation import ones, zeros
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.nn import init
from gradkit.nn.activation import _float_input
from gradkit.nn.layers import _NormBase, _size
from gradkit.nn.module import Module
from gradkit.nn.parameter import Parameter
from gradkit.tensor import Tensor

__all__ = [
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LocalResponseNorm",
    "group_norm",
    "instance_norm",
    "local_response_norm",
]


def _check_channel_tensor(name: str, t: Any, x: Tensor, op: str) -> None:
    """``t`` (weight, bias or a running statistic) is None or a float Tensor of shape (C,) on x's device."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise ArgumentTypeError(f"{op}: {name} must be a Tensor or None, got {type(t).__name__} {t!r:.40}")
    c = x.shape[1]
    if t.shape != (c,):
        raise ShapeError(f"{op}: {name} has shape {t.shape}, expected ({c},) for input of shape {x.shape}")
    if t._backend is not x._backend:
        raise DeviceError(f"{op}: {name} is on {t.device}, the input on {x.device}; move them to one device")
    if t.dtype.kind != "f":
        raise DTypeError(f"{op}: {name} must be a float tensor, got dtype {t.dtype}")


def _wide(x: Tensor) -> Tensor:
    """float16 input as float32, as PyTorch computes half normalisation: a float16 mean of values near 300 is
    off by up to 0.125, a quarter of a unit-variance output."""
    return ops.astype(x, np.float32) if x.dtype == np.float16 else x


def _half_beside_float32(x: Tensor, *params: Any) -> bool:
    """Mixed precision: a float16 input beside a float32 weight, bias or running statistic (``model.half()``
    activations next to float32 norm parameters). PyTorch normalises such an input in float32, the affine map
    included, and rounds the output once to float16; gradkit's norms (layer, group, batch, instance) do so by
    running their float32 path on the input cast to float32 (a recorded cast: the input's gradient comes back
    in float16, the parameters' in float32). Called only where the dtypes may differ: ``layer_norm``'s
    float32/float64 node is taken before it."""
    return x.dtype == np.float16 and any(isinstance(p, Tensor) and p.dtype == np.float32 for p in params)


def _up(p: Any) -> Any:
    """A float16 weight or bias beside float32 ones (which PyTorch refuses) as float32, by a recorded cast."""
    return ops.astype(p, np.float32) if isinstance(p, Tensor) and p.dtype == np.float16 else p


def _normalized(x: Tensor, axes: tuple, eps: float) -> tuple[Tensor, Tensor]:
    """``(x - mean) / std`` over ``axes`` and that std (biased variance plus eps), as differentiable ops."""
    centred = x - ops.mean(x, axes, keepdims=True)
    std = ops.sqrt(ops.mean(centred * centred, axes, keepdims=True) + eps)
    return centred / std, std


def _affine(out: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """``out * weight + bias`` with the (C,) parameters along axis 1."""
    shape = (-1,) + (1,) * (out.ndim - 2)
    if weight is not None:
        out = out * ops.reshape(weight, shape)
    if bias is not None:
        out = out + ops.reshape(bias, shape)
    return out


# ------------------------------------------------------------------ group norm
def group_norm(
    input: Any,  # noqa: A002
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Split the C channels of (N, C, *) input into ``num_groups`` groups and normalise each group of each
    sample over its channels and trailing axes (biased variance), then scale and shift per channel.

    float16 input is normalised in float32; beside a float32 weight or bias (mixed precision) the affine map
    is applied in float32 too and the output rounded once to float16, as PyTorch."""
    if _autocast.active:  # gk.autocast: float16 computed in float32 (one module read when it is off)
        input, weight, bias = _autocast.to_float32("group_norm", input, weight, bias)  # noqa: A001
    op = "group_norm"
    x = _float_input(input, op)
    groups = whole(num_groups, op, "num_groups", 1)
    eps = real(eps, op, "eps", low=0.0)
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected input of shape (N, C, *) (at least 2 axes), got {x.shape}")
    n, c = x.shape[:2]
    if c % groups:
        raise ShapeError(
            f"{op}: the input's {c} channels (shape {x.shape}) must be divisible by num_groups ({groups})"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        _check_channel_tensor(name, t, x, op)
    if _half_beside_float32(x, weight, bias):  # mixed precision: in float32 (affine map too), float16 out
        return ops.astype(group_norm(ops.astype(x, np.float32), groups, _up(weight), _up(bias), eps), x.dtype)
    if x.size == 0:
        return _affine(x, weight, bias)
    grouped = ops.reshape(_wide(x), (n, groups, x.size // (n * groups)))
    out = ops.reshape(_normalized(grouped, (2,), eps)[0], x.shape)
    return _affine(ops.astype(out, x.dtype) if out.dtype != x.dtype else out, weight, bias)


class GroupNorm(Module):
    """PyTorch's ``nn.GroupNorm``: ``F.group_norm`` over (N, C, *) input; weight ones and bias zeros of shape
    (num_channels,) when ``affine`` (``bias=False``: no bias)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_groups = _size(num_groups, "num_groups", "GroupNorm", 1)
        self.num_channels = _size(num_channels, "num_channels", "GroupNorm", 1)
        if self.num_channels % self.num_groups:
            raise InvalidArgumentError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.eps = real(eps, "GroupNorm", "eps", low=0.0, low_open=True)
        self.affine = flag(affine, "GroupNorm", "affine")
        bias = flag(bias, "GroupNorm", "bias")
        if self.affine:
            self.weight = Parameter(ones(self.num_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        if self.affine and bias:
            self.bias = Parameter(zeros(self.num_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        shape = getattr(x, "shape", None)
        if shape is not None and (len(shape) < 2 or shape[1] != self.num_channels):
            raise ShapeError(f"GroupNorm: expected input of shape (N, {self.num_channels}, *), got {tuple(shape)}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


# ------------------------------------------------------------------ instance norm
def instance_norm(
    input: Any,  # noqa: A002
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel of each sample of (N, C, *) input over its trailing axes, then scale and shift.

    ``use_input_stats``: with the sample's own mean and biased variance; running statistics that are given
    are updated in place as ``(1 - momentum) * running + momentum * batch``, ``batch`` the average over the
    samples of their means and unbiased variances (PyTorch's). Otherwise with the running statistics.
    float16 input beside float32 running statistics, weight or bias (mixed precision) is computed in float32
    and returned in float16, as PyTorch.
    """
    op = "instance_norm"
    x = _float_input(input, op)
    if x.ndim < 3:
        raise ShapeError(f"{op}: expected input of shape (N, C, *) with at least one axis after C, got {x.shape}")
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_channel_tensor(name, t, x, op)
    use_input_stats = flag(use_input_stats, op, "use_input_stats")
    if _half_beside_float32(x, running_mean, running_var, weight, bias):  # mixed precision, as PyTorch: in
        out = instance_norm(ops.astype(x, np.float32), running_mean, running_var, _up(weight), _up(bias),
                            use_input_stats, momentum, eps)  # float32, the output in float16
        return ops.astype(out, x.dtype)
    momentum = real(momentum, op, "momentum")
    eps = real(eps, op, "eps", low=0.0)
    axes = tuple(range(2, x.ndim))
    n = math.prod(x.shape[2:])
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise InvalidArgumentError(f"{op}: running_mean and running_var are needed when use_input_stats=False")
        full = (1, -1) + (1,) * (x.ndim - 2)
        rm = running_mean._data.reshape(full)
        std = running_var._backend.xp.sqrt(running_var._data.reshape(full) + eps)
        return _affine((x - rm) / std, weight, bias)
    if n == 1:
        raise ShapeError(f"{op}: expected more than 1 spatial element when training, got input shape {x.shape}")
    if x.size == 0:  # an empty batch or spatial extent: returned, the statistics kept
        return _affine(x, weight, bias)
    xw = _wide(x)
    mean = ops.mean(xw, axes, keepdims=True)
    centred = xw - mean
    var = ops.mean(centred * centred, axes, keepdims=True)
    if running_mean is not None:
        _update_running(running_mean, mean._data.mean(axis=0).reshape(-1), momentum)
    if running_var is not None:
        _update_running(running_var, var._data.mean(axis=0).reshape(-1) * (n / (n - 1)), momentum)
    out = centred / ops.sqrt(var + eps)
    return _affine(ops.astype(out, x.dtype) if out.dtype != x.dtype else out, weight, bias)


def _update_running(stat: Tensor, batch: Any, momentum: float) -> None:
    """``running = (1 - momentum) * running + momentum * batch``, in place (a new version of ``stat``)."""
    data = stat._data
    data *= 1 - momentum
    data += momentum * batch.astype(data.dtype, copy=False)
    stat._version[0] += 1


class _InstanceNorm(_NormBase):
    """InstanceNorm1d/2d/3d: PyTorch's arguments, parameters, buffers and state-dict keys.

    Training mode (or ``track_running_stats=False``) normalises each sample with its own statistics and,
    with ``track_running_stats``, updates ``running_mean`` / ``running_var``; evaluation mode with
    ``track_running_stats`` uses them. ``momentum=None`` leaves them unchanged (PyTorch passes 0).
    ``num_batches_tracked`` is kept for PyTorch's state dicts but never counted (as PyTorch). An unbatched
    input (without N) is normalised as a batch of one.
    """

    _dims = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        layer, d = type(self).__name__, self._dims
        if not isinstance(x, Tensor):
            raise ArgumentTypeError(f"{layer}: expected a Tensor, got {type(x).__name__}")
        if x.ndim not in (d + 1, d + 2):
            raise ShapeError(f"{layer}: expected a {d + 1}-D (C, ...) or {d + 2}-D (N, C, ...) input, got input "
                             f"of shape {x.shape}")
        channels = x.shape[-d - 1]
        if channels != self.num_features:
            if self.affine or self.track_running_stats:
                raise ShapeError(f"{layer}: expected {self.num_features} channels (input axis {x.ndim - d - 1}), "
                                 f"got input of shape {x.shape}")
            warnings.warn(
                f"{layer}: the input has {channels} channels, not num_features={self.num_features}; without "
                "affine or track_running_stats num_features is unused", UserWarning, stacklevel=3,
            )
        unbatched = x.ndim == d + 1
        batch = ops.unsqueeze(x, 0) if unbatched else x
        out = instance_norm(
            batch, self.running_mean, self.running_var, self.weight, self.bias,
            self.training or not self.track_running_stats, 0.0 if self.momentum is None else self.momentum, self.eps,
        )
        return ops.squeeze(out, 0) if unbatched else out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or unbatched (C, L) input (see ``_InstanceNorm``)."""

    _dims = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or unbatched (C, H, W) input (see ``_InstanceNorm``)."""

    _dims = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or unbatched (C, D, H, W) input (see ``_InstanceNorm``)."""

    _dims = 3


# ------------------------------------------------------------------ local response norm
def local_response_norm(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:  # noqa: A002
    """``x / (k + alpha / size * sum of x^2 over the size neighbouring channels) ** beta`` (PyTorch's
    formula: the window of channel c runs from c - size // 2 to c + (size - 1) // 2, zeros beyond the
    edges). Input (N, C, *), at least 3 axes."""
    op = "local_response_norm"
    x = _float_input(input, op)
    size = whole(size, op, "size", 1)
    alpha = real(alpha, op, "alpha")
    beta = real(beta, op, "beta")
    k = real(k, op, "k")
    if x.ndim < 3:
        raise ShapeError(f"{op}: expected input of shape (N, C, *) with at least 3 axes, got {x.shape}")
    if x.size == 0:
        return x
    c = x.shape[1]
    widths = [(0, 0)] * x.ndim
    widths[1] = (size // 2, (size - 1) // 2)
    squares = ops.pad(x * x, widths)
    total = None
    for i in range(size):  # the window sum as `size` shifted slices (exact, as PyTorch's average pooling)
        part = ops.getitem(squares, (slice(None), slice(i, i + c)))
        total = part if total is None else total + part
    return x / (total * (alpha / size) + k) ** beta


class LocalResponseNorm(Module):
    """PyTorch's ``nn.LocalResponseNorm``: ``F.local_response_norm`` across channels."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = _size(size, "size", "LocalResponseNorm", 1)
        self.alpha = real(alpha, "LocalResponseNorm", "alpha")
        self.beta = real(beta, "LocalResponseNorm", "beta")
        self.k = real(k, "LocalResponseNorm", "k")

    def forward(self, x: Any) -> Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
