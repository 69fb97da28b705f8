"""The ``gk.nn.utils`` functions that take modules (PyTorch's ``torch.nn.utils`` of the same names).

Fusion of a convolution or linear layer with the BatchNorm after it, for inference (``fuse_conv_bn_eval``,
``fuse_conv_bn_weights``, ``fuse_linear_bn_eval``, ``fuse_linear_bn_weights``); ``skip_init``; PyTorch's older,
hook-based ``weight_norm`` / ``remove_weight_norm`` and ``spectral_norm`` / ``remove_spectral_norm`` (parameters
``weight_g`` / ``weight_v``, or ``weight_orig`` with buffers ``weight_u`` / ``weight_v``: PyTorch's state-dict
keys); ``convert_conv2d_weight_memory_format`` / ``convert_conv3d_weight_memory_format`` (no-ops: gradkit has no
memory formats). They live here, not in ``gradkit.nn.utils``, because they need ``Module``, whose own module
imports that one; ``gradkit.nn`` puts them in ``gk.nn.utils``.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from typing import Any

from gradkit import ops
from gradkit._args import real, text, whole
from gradkit.autograd.grad_mode import no_grad
from gradkit.creation import ones_like, randn, zeros_like
from gradkit.errors import ArgumentTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError, describe
from gradkit.nn import functional as F
from gradkit.nn import init
from gradkit.nn.lazy import _drop_forward_pre_hooks, is_lazy
from gradkit.nn.module import Module
from gradkit.nn.parameter import Parameter
from gradkit.nn.parametrizations import _conv_transpose_classes, _copy_into, _norm_except_dim
from gradkit.tensor import Tensor

__all__ = [
    "convert_conv2d_weight_memory_format",
    "convert_conv3d_weight_memory_format",
    "fuse_conv_bn_eval",
    "fuse_conv_bn_weights",
    "fuse_linear_bn_eval",
    "fuse_linear_bn_weights",
    "remove_spectral_norm",
    "remove_weight_norm",
    "skip_init",
    "spectral_norm",
    "weight_norm",
]


def _module(module: Any, op: str, what: str = "module") -> Module:
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"{op}: {what} must be a gk.nn.Module, got {describe(module)}")
    return module


def _tensor(t: Any, op: str, what: str, optional: bool = False) -> Tensor | None:
    if t is None and optional:
        return None
    if not isinstance(t, Tensor):
        raise ArgumentTypeError(f"{op}: {what} must be a Tensor{' or None' if optional else ''}, got {describe(t)}")
    if is_lazy(t):
        raise InvalidArgumentError(f"{op}: {what} is uninitialized (a lazy module's): call the module once first")
    return t


# ------------------------------------------------------------------ fusion
def _check_eval(a: Module, b: Module, op: str) -> None:
    if a.training or b.training:
        raise InvalidArgumentError(f"{op}: fusion is for evaluation only: call .eval() on both modules first")
    if getattr(b, "running_mean", None) is None or getattr(b, "running_var", None) is None:
        raise InvalidArgumentError(
            f"{op}: the BatchNorm must track running statistics (running_mean and running_var are None)"
        )


def fuse_conv_bn_eval(conv: Module, bn: Module, transpose: bool = False) -> Module:
    """A copy of the convolution ``conv`` whose output, in evaluation mode, is ``bn(conv(x))`` (PyTorch's
    ``torch.nn.utils.fuse_conv_bn_eval``): its weight and bias are :func:`fuse_conv_bn_weights` of both layers'.

    Both must be in eval mode and ``bn`` must have running statistics (``InvalidArgumentError`` otherwise).
    ``transpose=True`` for a ``ConvTranspose`` layer (its weight's output channels are axis 1, per group:
    grouped ones fuse too, where PyTorch's fails). ``conv`` and ``bn`` are not changed; the copy has a bias even
    when ``conv`` had none. A ``bn`` whose size is not the convolution's output channels is a ``ShapeError``.
    """
    op = "fuse_conv_bn_eval"
    _module(conv, op, "conv")
    _module(bn, op, "bn")
    _check_eval(conv, bn, op)
    groups = getattr(conv, "groups", 1) if transpose else 1
    w = _tensor(conv.weight, op, "conv.weight")
    out = w.shape[1] * groups if transpose else w.shape[0]
    rm = _tensor(bn.running_mean, op, "bn.running_mean")
    if w.ndim < 2 or tuple(rm.shape) != (out,):
        hint = (" (a ConvTranspose layer needs transpose=True)"
                if not transpose and w.ndim >= 2 and tuple(rm.shape) == (w.shape[1] * getattr(conv, "groups", 1),)
                else "")
        raise ShapeError(f"{op}: the BatchNorm's running_mean has shape {rm.shape}, the convolution has {out} output "
                         f"channels{hint}")
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = _fuse_conv_bn(
        op, fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias, transpose, groups
    )
    return fused


def fuse_conv_bn_weights(conv_w: Tensor, conv_b: Tensor | None, bn_rm: Tensor, bn_rv: Tensor, bn_eps: float,
                         bn_w: Tensor | None, bn_b: Tensor | None,
                         transpose: bool = False) -> tuple[Parameter, Parameter]:
    """The weight and bias of a convolution followed by an eval-mode BatchNorm, as one convolution (PyTorch's).

    ``s = bn_w / sqrt(bn_rv + bn_eps)``; the weight is ``conv_w * s`` along its output-channel axis (0, or 1
    with ``transpose``) and the bias ``(conv_b - bn_rm) * s + bn_b`` (``conv_b`` None: zeros; ``bn_w`` /
    ``bn_b`` None: ones / zeros). Returned as new Parameters in the convolution's dtypes (the bias in the
    weight's when ``conv_b`` is None), with ``requires_grad`` of ``conv_w`` and ``conv_b`` (False for a bias
    made from None, as PyTorch's); nothing is recorded for autograd. Sizes that do not match (the output
    channels, ``conv_b`` and the BatchNorm's tensors) are a ``ShapeError``.
    """
    return _fuse_conv_bn("fuse_conv_bn_weights", conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose, 1)


def _fuse_conv_bn(op: str, conv_w: Any, conv_b: Any, bn_rm: Any, bn_rv: Any, bn_eps: Any, bn_w: Any, bn_b: Any,
                  transpose: bool, groups: int) -> tuple[Parameter, Parameter]:
    """:func:`fuse_conv_bn_weights`, for a transposed convolution of ``groups`` groups too (its weight is
    (in_channels, out_channels / groups, *kernel): output channel ``g * out / groups + j`` is column ``j`` of
    the rows of group ``g``)."""
    conv_w = _tensor(conv_w, op, "conv_w")
    conv_b = _tensor(conv_b, op, "conv_b", optional=True)
    bn_rm, bn_rv = _tensor(bn_rm, op, "bn_rm"), _tensor(bn_rv, op, "bn_rv")
    bn_w, bn_b = _tensor(bn_w, op, "bn_w", optional=True), _tensor(bn_b, op, "bn_b", optional=True)
    bn_eps = real(bn_eps, op, "bn_eps")
    if conv_w.ndim < 2:
        raise InvalidArgumentError(f"{op}: conv_w must have at least 2 dimensions, got shape {conv_w.shape}")
    transpose = bool(transpose)
    out = conv_w.shape[1] * groups if transpose else conv_w.shape[0]
    _check_sizes(op, out, "the convolution's output channels", conv_b=conv_b, bn_rm=bn_rm, bn_rv=bn_rv,
                 bn_w=bn_w, bn_b=bn_b)
    w_dtype = conv_w.dtype
    b_dtype = conv_b.dtype if conv_b is not None else w_dtype
    bias_grad = conv_b.requires_grad if conv_b is not None else False
    with no_grad():
        if conv_b is None:
            conv_b = zeros_like(bn_rm)
        if bn_w is None:
            bn_w = ones_like(bn_rm)
        if bn_b is None:
            bn_b = zeros_like(bn_rm)
        rsqrt = 1.0 / ops.sqrt(bn_rv + bn_eps)
        kernel = (1,) * (conv_w.ndim - 2)
        if transpose and groups > 1:
            if conv_w.shape[0] % groups:
                raise ShapeError(f"{op}: conv_w's {conv_w.shape[0]} input channels do not divide into {groups} "
                                 "groups")
            grouped = ops.reshape(conv_w, (groups, conv_w.shape[0] // groups, *conv_w.shape[1:]))
            w = ops.reshape(grouped * ops.reshape(bn_w * rsqrt, (groups, 1, -1, *kernel)), conv_w.shape)
        else:
            w = conv_w * ops.reshape(bn_w * rsqrt, ((1, -1) if transpose else (-1, 1)) + kernel)
        w = ops.astype(w, w_dtype)
        b = ops.astype((conv_b - bn_rm) * rsqrt * bn_w + bn_b, b_dtype)
    return Parameter(w, conv_w.requires_grad), Parameter(b, bias_grad)


def _check_sizes(op: str, n: int, what: str, **tensors: Tensor | None) -> None:
    """Each of ``tensors`` (None: absent) must be 1-d of size ``n`` (``ShapeError`` naming it otherwise)."""
    for name, t in tensors.items():
        if t is not None and tuple(t.shape) != (n,):
            raise ShapeError(f"{op}: {name} must have shape ({n},), {what}, got shape {t.shape}")


def fuse_linear_bn_eval(linear: Module, bn: Module) -> Module:
    """A copy of ``linear`` whose output, in evaluation mode, is ``bn(linear(x))`` (PyTorch's
    ``torch.nn.utils.fuse_linear_bn_eval``): weight and bias from :func:`fuse_linear_bn_weights`.

    Both must be in eval mode, ``bn`` must have running statistics, and ``bn.num_features`` must be
    ``linear.out_features`` or 1 (``InvalidArgumentError`` otherwise). The inputs are not changed.
    """
    op = "fuse_linear_bn_eval"
    _module(linear, op, "linear")
    _module(bn, op, "bn")
    _check_eval(linear, bn, op)
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise InvalidArgumentError(
            f"{op}: to fuse, linear.out_features == bn.num_features or bn.num_features == 1, got "
            f"linear.out_features={linear.out_features} and bn.num_features={bn.num_features}"
        )
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    return fused


def fuse_linear_bn_weights(linear_w: Tensor, linear_b: Tensor | None, bn_rm: Tensor, bn_rv: Tensor, bn_eps: float,
                           bn_w: Tensor | None, bn_b: Tensor | None) -> tuple[Parameter, Parameter]:
    """The weight and bias of a linear layer followed by an eval-mode BatchNorm, as one linear layer (PyTorch's).

    ``s = bn_w / sqrt(bn_rv + bn_eps)``; the weight is ``linear_w * s[:, None]`` and the bias
    ``(linear_b - bn_rm) * s + bn_b`` (``linear_b`` None: zeros; ``bn_w`` / ``bn_b`` None: ones / zeros). New
    Parameters in the linear layer's dtypes, with the ``requires_grad`` of ``linear_w`` and ``linear_b``
    (False for a bias made from None); nothing is recorded for autograd.
    """
    op = "fuse_linear_bn_weights"
    linear_w = _tensor(linear_w, op, "linear_w")
    linear_b = _tensor(linear_b, op, "linear_b", optional=True)
    bn_rm, bn_rv = _tensor(bn_rm, op, "bn_rm"), _tensor(bn_rv, op, "bn_rv")
    bn_w, bn_b = _tensor(bn_w, op, "bn_w", optional=True), _tensor(bn_b, op, "bn_b", optional=True)
    bn_eps = real(bn_eps, op, "bn_eps")
    w_dtype = linear_w.dtype
    b_dtype = linear_b.dtype if linear_b is not None else w_dtype
    bias_grad = linear_b.requires_grad if linear_b is not None else False
    with no_grad():
        if linear_b is None:
            linear_b = zeros_like(bn_rm)
        if bn_w is None:
            bn_w = ones_like(bn_rm)
        if bn_b is None:
            bn_b = zeros_like(bn_rm)
        scale = bn_w / ops.sqrt(bn_rv + bn_eps)
        w = linear_w * ops.astype(ops.unsqueeze(scale, -1), w_dtype)
        b = ops.astype((linear_b - bn_rm) * scale + bn_b, b_dtype)
    return Parameter(w, linear_w.requires_grad), Parameter(b, bias_grad)


# ------------------------------------------------------------------ skip_init
def skip_init(module_cls: type, *args: Any, **kwargs: Any) -> Module:
    """``module_cls(*args, **kwargs)`` without initialising its parameters and buffers (PyTorch's
    ``torch.nn.utils.skip_init``): the class must take a ``device`` argument (``device=`` here, default "cpu").

    PyTorch builds the module on its "meta" device and then calls ``to_empty``; gradkit builds it on ``device``
    with every ``gk.nn.init`` function a no-op (no values drawn: the random stream is not advanced), then calls
    ``to_empty``, which gives each parameter and buffer zeros (PyTorch's are uninitialised memory). Initialise
    them, or load a state dict, before use.
    """
    op = "skip_init"
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise ArgumentTypeError(f"{op}: expected a Module class, got {describe(module_cls)}")
    try:
        takes_device = "device" in inspect.signature(module_cls).parameters
    except (TypeError, ValueError):
        takes_device = False
    if not takes_device:
        raise InvalidArgumentError(
            f"{op}: {module_cls.__name__} must take a 'device' argument for its initialization to be skipped"
        )
    device = kwargs.pop("device", "cpu")
    with init._skipping():
        module = module_cls(*args, device=device, **kwargs)
    return module.to_empty(device=device)


# ------------------------------------------------------------------ hook-based weight norm (PyTorch's older API)
def _forward_pre_hooks(module: Module) -> list:
    return list(module.__dict__.get("_forward_pre_hooks", {}).values())


class WeightNorm:
    """The forward pre-hook of :func:`weight_norm`: recomputes ``module.<name>`` from ``<name>_g`` and
    ``<name>_v`` before each call (PyTorch's ``torch.nn.utils.weight_norm.WeightNorm``)."""

    def __init__(self, name: str, dim: int | None) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Tensor:
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim, "weight_norm"))

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def _parameter(module: Module, name: str, op: str, what: str) -> Parameter:
    """``module``'s registered parameter ``name``: present, not None and initialized."""
    weight = module.__dict__["_parameters"].get(name)
    if weight is None:
        raise InvalidArgumentError(f"{op}: {type(module).__name__} has no parameter named {name!r}")
    if is_lazy(weight):
        raise InvalidArgumentError(
            f"{op}: {type(module).__name__}.{name} is uninitialized (a lazy module): run a forward pass on a "
            f"sample input before applying {what}"
        )
    return weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation with PyTorch's older, hook-based API (``torch.nn.utils.weight_norm``, deprecated
    there, as here, for ``gk.nn.utils.parametrizations.weight_norm``; it warns with a FutureWarning).

    The parameter ``name`` is replaced by ``<name>_g`` (its 2-norm over every axis but ``dim``, size-1 axes kept;
    ``dim=None`` or -1: one norm) and ``<name>_v`` (the weight, sharing its memory); ``module.<name>`` becomes
    a plain attribute, ``v * g / ||v||``, recomputed by a forward pre-hook before each call. State-dict keys are
    PyTorch's (``weight_g``, ``weight_v``), so its state dicts load. Returns ``module``. Applying it twice to one
    name, to a name that is no parameter, or to an uninitialized one is an ``InvalidArgumentError``.
    """
    op = "weight_norm"
    _module(module, op)
    text(name, op, "name")
    if dim is not None:
        dim = whole(dim, op, "dim")
    warnings.warn(
        "`gk.nn.utils.weight_norm` is deprecated in favor of `gk.nn.utils.parametrizations.weight_norm` "
        "(as PyTorch's)", FutureWarning, stacklevel=2,
    )
    if any(isinstance(h, WeightNorm) and h.name == name for h in _forward_pre_hooks(module)):
        raise InvalidArgumentError(f"{op}: cannot register two weight_norm hooks on the same parameter {name!r}")
    weight = _parameter(module, name, op, "weight normalization")
    fn = WeightNorm(name, dim)
    with no_grad():
        g = _norm_except_dim(weight.detach(), fn.dim, op)
    del module._parameters[name]
    module.register_parameter(name + "_g", Parameter(g))
    module.register_parameter(name + "_v", Parameter(weight.detach()))
    setattr(module, name, fn.compute_weight(module))
    module.register_forward_pre_hook(fn)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo :func:`weight_norm`: ``<name>`` is a parameter again, with the current ``g * v / ||v||`` (PyTorch's
    ``torch.nn.utils.remove_weight_norm``). ``InvalidArgumentError`` when there is no such weight norm."""
    op = "remove_weight_norm"
    _module(module, op)
    text(name, op, "name")
    for hook in _forward_pre_hooks(module):
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            _drop_forward_pre_hooks(module, lambda h, hook=hook: h is hook)
            return module
    raise InvalidArgumentError(f"{op}: weight_norm of {name!r} not found in {type(module).__name__}")


# ------------------------------------------------------------------ hook-based spectral norm (PyTorch's older API)
class SpectralNorm:
    """The forward pre-hook of :func:`spectral_norm` (PyTorch's ``torch.nn.utils.spectral_norm.SpectralNorm``,
    version 1): ``module.<name> = <name>_orig / sigma``, after ``n_power_iterations`` steps of the power method
    on the buffers ``<name>_u`` and ``<name>_v`` in training mode (``v`` first, then ``u``, in place)."""

    _version = 1

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        self.name = name
        self.dim = dim
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = ops.moveaxis(weight, self.dim, 0)
        return ops.reshape(weight, (weight.shape[0], -1))

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                w = weight_mat.detach()
                for _ in range(self.n_power_iterations):
                    _copy_into(v, F.normalize(ops.matmul(ops.swapaxes(w, 0, 1), u), dim=0, eps=self.eps))
                    _copy_into(u, F.normalize(ops.matmul(w, v), dim=0, eps=self.eps))
        # copies: a later call's power iteration writes the buffers, which this call's graph must not see
        u, v = u.detach().clone(), v.detach().clone()
        sigma = ops.dot(u, ops.matmul(weight_mat, v))
        return weight / sigma

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None) -> Module:
    """Spectral normalisation with PyTorch's older, hook-based API (``torch.nn.utils.spectral_norm``).

    The parameter ``name`` becomes ``<name>_orig`` (the same Parameter), with buffers ``<name>_u`` and
    ``<name>_v`` (random unit vectors, the weight seen as a matrix with axis ``dim`` first; ``dim=None``: 1 for
    ConvTranspose layers, else 0); a forward pre-hook sets the plain attribute ``module.<name>`` to
    ``<name>_orig / sigma`` before each call, ``sigma = u @ W @ v`` after ``n_power_iterations`` (>= 1) steps of
    the power method in training mode (none in eval mode; no gradient through ``u`` and ``v``). State-dict keys
    are PyTorch's (``weight_orig``, ``weight_u``, ``weight_v``), so its state dicts load (its format of
    version 1, PyTorch 1.1 and later). ``gk.nn.utils.parametrizations.spectral_norm`` is the newer form. Returns
    ``module``; ``InvalidArgumentError`` for a second one on the same name, a missing or uninitialized
    parameter, and ``IndexOutOfRangeError`` for a bad ``dim``.
    """
    op = "spectral_norm"
    _module(module, op)
    text(name, op, "name")
    n_power_iterations = whole(n_power_iterations, op, "n_power_iterations", low=1)
    eps = real(eps, op, "eps", low=0.0)
    if any(isinstance(h, SpectralNorm) and h.name == name for h in _forward_pre_hooks(module)):
        raise InvalidArgumentError(f"{op}: cannot register two spectral_norm hooks on the same parameter {name!r}")
    weight = _parameter(module, name, op, "spectral normalization")
    if dim is None:
        dim = 1 if isinstance(module, _conv_transpose_classes()) else 0
    dim = whole(dim, op, "dim")
    if not -weight.ndim <= dim < weight.ndim:
        raise IndexOutOfRangeError(
            f"{op}: dim {dim} is out of range for a weight of shape {weight.shape} (expected an axis in "
            f"[-{weight.ndim}, {weight.ndim - 1}])"
        )
    fn = SpectralNorm(name, n_power_iterations, dim % weight.ndim, eps)
    with no_grad():
        h, w = fn.reshape_weight_to_matrix(weight.detach()).shape
        u = F.normalize(randn(h, dtype=weight.dtype, device=weight.device), dim=0, eps=eps)
        v = F.normalize(randn(w, dtype=weight.dtype, device=weight.device), dim=0, eps=eps)
    delattr(module, name)
    module.register_parameter(name + "_orig", weight)
    setattr(module, name, weight.detach())  # a plain attribute until the first call, as PyTorch's
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    module.register_forward_pre_hook(fn)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo :func:`spectral_norm`: ``<name>`` is a parameter again, with ``<name>_orig / sigma`` from the current
    ``u`` and ``v`` (no power iteration), as PyTorch's ``torch.nn.utils.remove_spectral_norm``.
    ``InvalidArgumentError`` when there is no such spectral norm."""
    op = "remove_spectral_norm"
    _module(module, op)
    text(name, op, "name")
    for hook in _forward_pre_hooks(module):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            hook.remove(module)
            _drop_forward_pre_hooks(module, lambda h, hook=hook: h is hook)
            return module
    raise InvalidArgumentError(f"{op}: spectral_norm of {name!r} not found in {type(module).__name__}")


# ------------------------------------------------------------------ memory formats
def convert_conv2d_weight_memory_format(module: Module, memory_format: Any) -> Module:
    """``module``, unchanged (PyTorch's ``torch.nn.utils.convert_conv2d_weight_memory_format`` lays Conv2d /
    ConvTranspose2d weights out as ``memory_format``, channels-last for NHWC kernels; gradkit has no memory
    formats, so there is nothing to convert). ``memory_format`` is accepted and not used."""
    return _module(module, "convert_conv2d_weight_memory_format")


def convert_conv3d_weight_memory_format(module: Module, memory_format: Any) -> Module:
    """``module``, unchanged (as :func:`convert_conv2d_weight_memory_format`, for Conv3d / ConvTranspose3d)."""
    return _module(module, "convert_conv3d_weight_memory_format")
