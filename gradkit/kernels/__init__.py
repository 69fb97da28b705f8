"""Fused kernels for the hot elementwise chains (optimiser updates, bias+relu, cross-entropy).

Every function takes raw backend arrays and Python numbers; its docstring in
``gradkit.kernels.reference`` is its contract (signature, which arrays are
written in place, what is returned). For a CuPy array the function of the
same name in ``gradkit.kernels.cupy_kernels`` is used when that module exists
and provides it; otherwise, and always for NumPy arrays, the reference
implementation runs (it is written with ``xp`` calls and works on CuPy
arrays too, unfused).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.kernels import reference
from gradkit.kernels.reference import get_array_module

__all__ = [
    "adam_update",
    "bias_forward",
    "bias_relu_forward",
    "column_sum",
    "cross_entropy_checked_on_device",
    "cross_entropy_forward_backward",
    "get_array_module",
    "relu_backward",
    "rmsprop_update",
    "runs_fused",
    "scale_rows",
    "sgd_momentum_update",
]

_ndarray = np.ndarray
_gpu_module: Any = None  # cupy_kernels once imported; False when it is missing
_gpu_cache: dict[str, Any] = {}


def _impl(name: str) -> Any:
    """The implementation of kernel ``name`` for a non-NumPy (CuPy) array."""
    fn = _gpu_cache.get(name)
    if fn is None:
        global _gpu_module
        if _gpu_module is None:
            try:
                from gradkit.kernels import cupy_kernels as module
            except ImportError:
                module = False
            _gpu_module = module
        fn = getattr(_gpu_module, name, None) if _gpu_module else None
        fn = fn or getattr(reference, name)
        _gpu_cache[name] = fn
    return fn


def runs_fused(name: str, *arrays: Any) -> bool:
    """Whether kernel ``name`` on ``arrays`` (those its fused version checks; None for an absent one) runs
    as the fused CuPy kernel, which takes no ``scratch``. False when the reference runs (NumPy arrays, no
    CuPy kernel module, or dtypes it does not fuse): only then does a caller need to pass a scratch array.
    """
    if type(arrays[0]) is _ndarray:
        return False
    fn = _impl(name)
    return fn is not getattr(reference, name) and bool(_gpu_module._fusable(*arrays))


def sgd_momentum_update(
    param: Any,
    grad: Any,
    buf: Any,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    first_step: bool,
    scratch: Any = None,
    maximize: bool = False,
) -> None:
    """See :func:`gradkit.kernels.reference.sgd_momentum_update`."""
    fn = reference.sgd_momentum_update if type(param) is _ndarray else _impl("sgd_momentum_update")
    fn(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first_step, scratch, maximize)


def adam_update(
    param: Any,
    grad: Any,
    exp_avg: Any,
    exp_avg_sq: Any,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    step: Any,
    decoupled: bool,
    scratch: Any = None,
    maximize: bool = False,
    max_exp_avg_sq: Any = None,
) -> None:
    """See :func:`gradkit.kernels.reference.adam_update`."""
    fn = reference.adam_update if type(param) is _ndarray else _impl("adam_update")
    if max_exp_avg_sq is None:  # plain Adam: the call every implementation takes, unchanged
        fn(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled, scratch, maximize)
    else:  # AMSGrad
        fn(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step, decoupled, scratch, maximize,
           max_exp_avg_sq)  # fmt: skip


def rmsprop_update(
    param: Any,
    grad: Any,
    square_avg: Any,
    grad_avg: Any,
    momentum_buffer: Any,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    scratch: Any = None,
    maximize: bool = False,
) -> None:
    """See :func:`gradkit.kernels.reference.rmsprop_update`."""
    fn = reference.rmsprop_update if type(param) is _ndarray else _impl("rmsprop_update")
    fn(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay, momentum, centered, scratch,
       maximize)  # fmt: skip


def bias_forward(y: Any, b: Any) -> Any:
    """See :func:`gradkit.kernels.reference.bias_forward`."""
    fn = reference.bias_forward if type(y) is _ndarray else _impl("bias_forward")
    return fn(y, b)


def bias_relu_forward(y: Any, b: Any) -> Any:
    """See :func:`gradkit.kernels.reference.bias_relu_forward`."""
    fn = reference.bias_relu_forward if type(y) is _ndarray else _impl("bias_relu_forward")
    return fn(y, b)


def relu_backward(grad: Any, y: Any, out: Any = None) -> Any:
    """See :func:`gradkit.kernels.reference.relu_backward`."""
    if type(y) is _ndarray:
        return reference.relu_backward(grad, y, out)
    return _impl("relu_backward")(grad, y, out)


def cross_entropy_forward_backward(logits: Any, targets: Any, reduction: str = "mean") -> tuple[Any, Any]:
    """See :func:`gradkit.kernels.reference.cross_entropy_forward_backward`."""
    if type(logits) is _ndarray:
        return reference.cross_entropy_forward_backward(logits, targets, reduction)
    return _impl("cross_entropy_forward_backward")(logits, targets, reduction)


def column_sum(g: Any) -> Any:
    """See :func:`gradkit.kernels.reference.column_sum`."""
    if type(g) is _ndarray:
        return reference.column_sum(g)
    return _impl("column_sum")(g)


def cross_entropy_checked_on_device(logits: Any, targets: Any, reduction: str, ignore_index: int) -> Any:
    """See :func:`gradkit.kernels.reference.cross_entropy_checked_on_device` (None on NumPy)."""
    if type(logits) is _ndarray:
        return None
    return _impl("cross_entropy_checked_on_device")(logits, targets, reduction, ignore_index)


def scale_rows(dlogits: Any, g: Any, scale: Any) -> Any:
    """See :func:`gradkit.kernels.reference.scale_rows`."""
    if type(dlogits) is _ndarray:
        return reference.scale_rows(dlogits, g, scale)
    return _impl("scale_rows")(dlogits, g, scale)
