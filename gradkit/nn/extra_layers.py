"""PyTorch's remaining ``torch.nn`` layers: ``FractionalMaxPool2d``, ``FractionalMaxPool3d``, the legacy
``CrossMapLRN2d``, ``SyncBatchNorm`` (with ``convert_sync_batchnorm``), ``DataParallel``, and the deprecated
``NLLLoss2d`` and ``Container``.

gradkit runs one process on one device, so the two multi-device layers are their one-device forms:
``SyncBatchNorm`` is batch normalisation with no reduction across processes (PyTorch's own layer falls back to
``F.batch_norm`` whenever no process group of more than one process is initialised), and ``DataParallel`` calls
its module (PyTorch's on a machine without a GPU, or with ``device_ids`` of one device, does the same).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real, whole
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from gradkit.nn.activation import _float_input
from gradkit.nn.functional_fractional import fractional_max_pool2d, fractional_max_pool3d
from gradkit.nn.layers import _BatchNorm, _size
from gradkit.nn.lazy import LazyModuleMixin
from gradkit.nn.loss import NLLLoss
from gradkit.nn.module import Module
from gradkit.tensor import Tensor

__all__ = [
    "Container",
    "CrossMapLRN2d",
    "DataParallel",
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "NLLLoss2d",
    "SyncBatchNorm",
]


# ------------------------------------------------------------------ fractional max pooling
class _FractionalMaxPoolNd(Module):
    """The constructor checks of PyTorch's ``FractionalMaxPool2d/3d``; ``_random_samples`` is a buffer (None,
    and so not in the state dict, unless given), as PyTorch's."""

    _dims = 2

    def __init__(self, kernel_size: Any, output_size: Any = None, output_ratio: Any = None,
                 return_indices: bool = False, _random_samples: Tensor | None = None) -> None:
        super().__init__()
        layer = type(self).__name__
        n = self._dims
        self.kernel_size = _tuple(kernel_size, n, layer, "kernel_size")
        for k in self.kernel_size:
            whole(k, layer, "kernel_size")
            if k <= 0:
                raise InvalidArgumentError(f"{layer}: kernel_size must be greater than 0, but got {kernel_size}")
        self.return_indices = flag(return_indices, layer, "return_indices")
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = None if output_size is None else _tuple(output_size, n, layer, "output_size")
        self.output_ratio = None if output_ratio is None else _tuple(output_ratio, n, layer, "output_ratio")
        if output_size is None and output_ratio is None:
            raise InvalidArgumentError(f"{layer} requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise InvalidArgumentError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < real(r, layer, "output_ratio") < 1
                                                     for r in self.output_ratio):
            raise InvalidArgumentError(f"output_ratio must be between 0 and 1 (got {output_ratio})")


def _tuple(value: Any, n: int, layer: str, name: str) -> tuple:
    """PyTorch's ``_pair`` / ``_triple``: a sequence as a tuple (its length checked here), a number repeated."""
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise InvalidArgumentError(f"{layer}: {name} must be a number or a tuple of {n}, got {value!r:.60}")
        return tuple(value)
    return (value,) * n


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """PyTorch's ``nn.FractionalMaxPool2d(kernel_size, output_size=None, output_ratio=None, return_indices=False,
    _random_samples=None)``: ``F.fractional_max_pool2d`` with exactly one of ``output_size`` and ``output_ratio``
    (each in (0, 1)); with ``_random_samples`` (N, C, 2) the windows are fixed, else drawn per call."""

    _dims = 2

    def forward(self, input: Any) -> Any:  # noqa: A002
        return fractional_max_pool2d(input, self.kernel_size, self.output_size, self.output_ratio,
                                     self.return_indices, _random_samples=self._random_samples)


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """PyTorch's ``nn.FractionalMaxPool3d`` (``FractionalMaxPool2d``'s arguments, as triples):
    ``F.fractional_max_pool3d``."""

    _dims = 3

    def forward(self, input: Any) -> Any:  # noqa: A002
        return fractional_max_pool3d(input, self.kernel_size, self.output_size, self.output_ratio,
                                     self.return_indices, _random_samples=self._random_samples)


# ------------------------------------------------------------------ CrossMapLRN2d
def _cross_map_lrn2d(input: Any, size: int, alpha: float, beta: float, k: float) -> Tensor:  # noqa: A002
    """PyTorch's ``torch.nn._functions.CrossMapLRN2d`` forward: ``x * (k + alpha / size * s) ** -beta`` with
    ``s`` the sum of squares over channels ``c - h .. c + h`` (clipped to the input), ``h = int((size - 1) / 2)``,
    and, for every channel ``c > h``, channel 0 as well: PyTorch's port of Torch7's running window sum never
    subtracts channel 0 (its subtraction starts one channel late), and gradkit gives its values. As differentiable
    gradkit ops: the gradient is that of these values. PyTorch's hand-written backward is not (its windows sit one
    channel low, ``c - h - 1 .. c + h - 1`` for an odd size, and it ignores the channel-0 term; it fails
    ``torch.autograd.gradcheck`` from two channels on), so gradkit's gradients differ from PyTorch's."""
    op = "CrossMapLRN2d"
    x = _float_input(input, op)
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected input to be 4D (N, C, H, W), got {x.ndim}D instead (shape {x.shape})")
    c = x.shape[1]
    if c == 0:
        raise ShapeError(f"{op}: expected at least one channel (axis 1), got input of shape {x.shape}")
    pre = int((size - 1) / 2 + 1)  # PyTorch's pre_pad
    h = pre - 1
    squares = x * x
    padded = ops.pad(squares, [(0, 0), (h, h), (0, 0), (0, 0)]) if h else squares
    total = None
    for i in range(2 * h + 1):  # the window sums as shifted slices
        part = ops.getitem(padded, (slice(None), slice(i, i + c)))
        total = part if total is None else total + part
    if c > pre:  # channel 0 stays in the sums of channels pre, pre + 1, ... (it left the windows at channel pre)
        tail = ops.getitem(total, (slice(None), slice(pre, None))) + ops.getitem(squares, (slice(None), slice(0, 1)))
        total = ops.concatenate([ops.getitem(total, (slice(None), slice(0, pre))), tail], axis=1)
    return x * (total * (alpha / size) + k) ** (-beta)


class CrossMapLRN2d(Module):
    """PyTorch's legacy ``nn.CrossMapLRN2d(size, alpha=1e-4, beta=0.75, k=1)``: local response normalisation
    across the channels of (N, C, H, W) input, with PyTorch's values (see ``_cross_map_lrn2d``: they equal
    ``LocalResponseNorm``'s for an odd ``size`` while ``C <= (size + 1) / 2``, and past that every channel from
    ``(size + 1) / 2`` on also counts channel 0's square, as PyTorch's). The gradient is the exact gradient of
    those values (PyTorch's hand-written backward differs from it)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        super().__init__()
        layer = "CrossMapLRN2d"
        self.size = _size(size, "size", layer, 1)
        for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
            real(value, layer, name)
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return _cross_map_lrn2d(input, self.size, real(self.alpha, "CrossMapLRN2d", "alpha"),
                                real(self.beta, "CrossMapLRN2d", "beta"), real(self.k, "CrossMapLRN2d", "k"))

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


# ------------------------------------------------------------------ SyncBatchNorm
def _no_process_group(process_group: Any, op: str) -> None:
    if process_group is not None:
        raise InvalidArgumentError(
            f"{op}: gradkit runs one process on one device and has no process groups: process_group must be None, "
            f"got {type(process_group).__name__}"
        )


class SyncBatchNorm(_BatchNorm):
    """PyTorch's ``nn.SyncBatchNorm(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
    process_group=None, device=None, dtype=None, *, bias=True)`` on one device: batch normalisation of
    (N, C, *) input (any number of trailing axes) over every axis but the channel axis, BatchNorm's parameters,
    running statistics, state-dict keys and formulas. There is no reduction across processes (gradkit has no
    process groups; ``process_group`` must be None): the statistics are this batch's, as PyTorch's own layer
    computes them when no process group of more than one process is initialised."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Any = None, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        _no_process_group(process_group, "SyncBatchNorm")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = None

    def _check_input(self, x: Tensor) -> None:
        if x.ndim < 2:
            raise ShapeError(f"SyncBatchNorm: expected at least 2D input (got {x.ndim}D input of shape {x.shape})")
        if x.shape[1] == 0:
            raise ShapeError("SyncBatchNorm: number of input channels should be non-zero")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"SyncBatchNorm: expected input of shape (N, {self.num_features}, *), got {x.shape}")

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every ``BatchNorm1d/2d/3d`` (any batch-norm layer, a lazy one once it is initialised)
        in it replaced by a ``SyncBatchNorm`` that shares its parameters, running statistics and
        ``num_batches_tracked`` (the same tensors, as PyTorch's) and its training flag; ``module`` itself when it
        is a batch-norm layer is returned converted, otherwise it is changed in place and returned."""
        _no_process_group(process_group, "convert_sync_batchnorm")
        if not isinstance(module, Module):
            raise ArgumentTypeError(f"convert_sync_batchnorm: expected a Module, got {type(module).__name__}")
        out = module
        if isinstance(module, _BatchNorm):
            if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params():
                raise InvalidArgumentError(
                    f"convert_sync_batchnorm: {type(module).__name__} is not initialized yet (its num_features comes "
                    f"from its first input): run one forward pass before converting it"
                )
            out = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats, bias=module.bias is not None)
            if module.affine:
                out.weight = module.weight
                out.bias = module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
            if hasattr(module, "qconfig"):
                out.qconfig = module.qconfig
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


# ------------------------------------------------------------------ DataParallel
class DataParallel(Module):
    """PyTorch's ``nn.DataParallel(module, device_ids=None, output_device=None, dim=0)`` on one device: a wrapper
    whose ``forward(*inputs, **kwargs)`` is ``module(*inputs, **kwargs)``, the module kept as ``.module`` (so state
    dict keys get PyTorch's ``"module."`` prefix). Nothing is split, copied or moved: the module runs where its
    parameters are. ``device_ids`` must be None or ``[0]`` and ``output_device`` None or 0 (more devices raise
    InvalidArgumentError); ``dim`` is kept, unused."""

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None, dim: int = 0) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise ArgumentTypeError(f"DataParallel: module must be a Module, got {type(module).__name__}")
        if device_ids is not None:
            ids = list(device_ids) if isinstance(device_ids, (list, tuple)) else None
            if ids is None or len(ids) != 1 or not _is_zero(ids[0]):
                raise InvalidArgumentError(
                    f"DataParallel: gradkit runs a model on one device, so device_ids must be None or [0], got "
                    f"{device_ids!r:.60}"
                )
        if output_device is not None and not _is_zero(output_device):
            raise InvalidArgumentError(
                f"DataParallel: gradkit runs a model on one device, so output_device must be None or 0, got "
                f"{output_device!r:.60}"
            )
        self.module = module
        self.device_ids = [] if device_ids is None else [0]
        self.output_device = None if device_ids is None and output_device is None else 0
        self.dim = whole(dim, "DataParallel", "dim")

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)


def _is_zero(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and int(value) == 0


# ------------------------------------------------------------------ deprecated
class _Deprecated:
    """PyTorch's ``typing_extensions.deprecated`` on a class: a FutureWarning when the class itself is made, and
    when it is subclassed (an instance of a subclass does not warn)."""

    _message = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _Deprecated not in cls.__bases__:
            warnings.warn(cls._message, FutureWarning, stacklevel=2)

    def _warn(self, cls: type) -> None:
        if type(self) is cls:
            warnings.warn(cls._message, FutureWarning, stacklevel=3)


class NLLLoss2d(_Deprecated, NLLLoss):
    """PyTorch's deprecated ``nn.NLLLoss2d(weight=None, size_average=None, ignore_index=-100, reduce=None,
    reduction="mean")``: ``NLLLoss`` (which takes (N, C, H, W) input), with PyTorch's FutureWarning."""

    _message = ("`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in replacement and see "
                "https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss for more details.")

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                 reduction: str = "mean") -> None:
        self._warn(NLLLoss2d)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


class Container(_Deprecated, Module):
    """PyTorch's deprecated ``nn.Container(**kwargs)``: a Module with each keyword's module added as a child,
    with PyTorch's FutureWarning."""

    _message = ("`nn.Container` is deprecated. All of its functionality is now implemented in `nn.Module`. "
                "Subclass that instead.")

    def __init__(self, **kwargs: Any) -> None:
        self._warn(Container)
        super().__init__()
        for key, value in kwargs.items():
            self.add_module(key, value)

