"""Gradient utilities (``clip_grad_norm_``, ``clip_grad_value_``), parameter vectors
(``parameters_to_vector``, ``vector_to_parameters``) and ``rnn`` (``pad_sequence``, packed sequences)."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real
from gradkit.autograd.engine import writable_dense
from gradkit.errors import ArgumentTypeError, DeviceError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor

__all__ = ["NonFiniteNormError", "clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


class NonFiniteNormError(InvalidArgumentError, RuntimeError):
    """``clip_grad_norm_(..., error_if_nonfinite=True)`` met a non-finite total norm (PyTorch raises a
    RuntimeError there, which a training loop may catch to skip the step)."""


def _tensor_list(parameters: Any, op: str) -> list[Tensor]:
    """``parameters``, a Tensor or an iterable of Tensors, as a list of Tensors."""
    if isinstance(parameters, Tensor):
        return [parameters]
    if not isinstance(parameters, Iterable) or isinstance(parameters, (np.ndarray, str, bytes)):
        raise ArgumentTypeError(f"{op}: expected a Tensor or an iterable of Tensors, got {type(parameters).__name__}")
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise ArgumentTypeError(f"{op}: expected Tensors, got {type(p).__name__}")
    return params


def _check_foreach(foreach: Any, op: str) -> None:
    """PyTorch's ``foreach`` (None, True or False): checked, then unused (gradkit has one implementation)."""
    if foreach is not None:
        flag(foreach, op, "foreach")


def _grads(parameters: Any, op: str) -> list[Tensor]:
    return [p for p in _tensor_list(parameters, op) if p._grad is not None]


def _norm(xp: Any, g: Any, norm_type: float) -> Any:
    """The ``norm_type``-norm of array ``g`` as a 0-d array of its dtype."""
    if norm_type == 2.0:
        flat = g.reshape(-1)
        if xp is np:
            return xp.sqrt(xp.dot(flat, flat))
        return xp.sqrt((flat * flat).sum())  # cupy.dot is a cuBLAS call, which a CUDA-graph capture refuses
    if norm_type == math.inf:
        return xp.abs(g).max() if g.size else xp.zeros((), dtype=g.dtype)
    if norm_type == 1.0:
        return xp.abs(g).sum()
    return (xp.abs(g) ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients of ``parameters`` so that their joint norm is at most ``max_norm``.

    As PyTorch: ``total`` is the ``norm_type``-norm of all gradients together
    and every gradient is multiplied by ``min(1, max_norm / (total + 1e-6))``.
    Returns ``total`` (a 0-d tensor). Each gradient is replaced by a new
    tensor (a gradient array may be shared or read only, so none is written).
    ``foreach`` (PyTorch's: None, True or False) is accepted and has no effect.
    """
    _check_foreach(foreach, "clip_grad_norm_")
    max_norm = real(max_norm, "clip_grad_norm_", "max_norm", low=0.0)
    if isinstance(norm_type, str) and norm_type.lower() == "inf":  # PyTorch accepts the string too
        norm_type = math.inf
    norm_type = real(norm_type, "clip_grad_norm_", "norm_type")
    error_if_nonfinite = flag(error_if_nonfinite, "clip_grad_norm_", "error_if_nonfinite")
    if not norm_type > 0:
        raise InvalidArgumentError(f"clip_grad_norm_: norm_type must be > 0 (or inf), got {norm_type!r}")
    params = _grads(parameters, "clip_grad_norm_")
    if not params:
        from gradkit.creation import tensor

        return tensor(0.0)
    backend = params[0]._grad._backend
    xp = backend.xp
    if any(p._grad._backend is not backend for p in params):
        raise InvalidArgumentError("clip_grad_norm_: the gradients are on more than one device")
    # Norms are taken in float32 at least (a float16 sum of squares overflows at 256), and in
    # the widest gradient dtype when gradients differ; each gradient keeps its own dtype.
    dtype = np.result_type(np.float32, *(p._grad._data.dtype for p in params))
    norms = xp.stack([_norm(xp, p._grad._data.astype(dtype, copy=False), norm_type) for p in params])
    total = _norm(xp, norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise NonFiniteNormError(
            f"clip_grad_norm_: the total {norm_type}-norm of the gradients is non-finite ({float(total)}); "
            "pass error_if_nonfinite=False to clip anyway"
        )
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0).astype(dtype)
    if backend.name != "numpy" or float(coef) != 1.0:
        for p in params:
            g = p._grad
            p._grad = Tensor._make(g._data * coef.astype(g._data.dtype), g._backend)
    dtypes = {p._grad._data.dtype for p in params}
    out_dtype = dtypes.pop() if len(dtypes) == 1 else dtype  # as PyTorch: the gradients' dtype
    return Tensor._make(xp.asarray(total, dtype=out_dtype), backend)


def clip_grad_value_(parameters: Any, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient of ``parameters`` to [-clip_value, clip_value] (new gradient tensors).

    ``foreach`` (PyTorch's: None, True or False) is accepted and has no effect.
    """
    _check_foreach(foreach, "clip_grad_value_")
    clip_value = real(clip_value, "clip_grad_value_", "clip_value", low=0.0)
    for p in _grads(parameters, "clip_grad_value_"):
        g = p._grad
        p._grad = Tensor._make(g._backend.xp.clip(g._data, -clip_value, clip_value), g._backend)


def clear_grads(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """Clear the ``.grad`` of each tensor: to None (the default), else zeroed in place, as PyTorch.

    ``set_to_none=False`` keeps each ``.grad`` object and fills it with zeros (the engine gives every
    ``.grad`` an array of its own). A gradient that is part of a graph (``create_graph=True``) or
    whose array is read-only is replaced by new zeros instead.
    """
    set_to_none = flag(set_to_none, "clear_grads", "set_to_none")
    for p in _tensor_list(params, "clear_grads"):
        g = p._grad
        if g is None:
            continue
        if set_to_none:
            p._grad = None
        elif g._grad_fn is None and not g._requires_grad and writable_dense(g._data):
            g._data.fill(0)
            g._version[0] += 1
        else:
            p._grad = Tensor._make(g._backend.xp.zeros_like(g._data), g._backend)


def _one_device(params: list[Tensor], op: str) -> None:
    """Every tensor of ``params`` on one device (PyTorch's check), else a DeviceError naming two."""
    for p in params:
        if p._backend is not params[0]._backend:
            raise DeviceError(f"{op}: the parameters are on more than one device ({params[0].device} and {p.device})")


def parameters_to_vector(parameters: Any) -> Tensor:
    """The parameters flattened and joined into one 1-d tensor, in order (differentiable, as PyTorch's;
    mixed dtypes promote)."""
    params = _tensor_list(parameters, "parameters_to_vector")
    if not params:
        raise InvalidArgumentError("parameters_to_vector: expected at least one parameter, got none")
    _one_device(params, "parameters_to_vector")
    return ops.concatenate([ops.reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Any) -> None:
    """Copy consecutive slices of the 1-d ``vec`` into the parameters, in order (the inverse of
    ``parameters_to_vector``).

    Each parameter keeps its own memory and dtype (PyTorch points ``.data`` at a view of ``vec``
    instead); nothing is recorded for autograd. ``vec`` must hold exactly as many elements as the
    parameters (PyTorch ignores extra ones).
    """
    op = "vector_to_parameters"
    if not isinstance(vec, Tensor):
        raise ArgumentTypeError(f"{op}: vec must be a Tensor, got {type(vec).__name__}")
    params = _tensor_list(parameters, op)
    _one_device(params, op)
    if params and vec._backend is not params[0]._backend:
        raise DeviceError(f"{op}: vec is on {vec.device}, the parameters on {params[0].device}")
    total = sum(p.size for p in params)
    if vec.shape != (total,):
        raise ShapeError(f"{op}: vec of shape {vec.shape} does not fit parameters of {total} elements "
                         f"(expected ({total},))")
    start = 0
    for p in params:
        piece = vec._data[start : start + p.size].reshape(p.shape)
        start += p.size
        if writable_dense(p._data):
            p._data[...] = piece
        else:  # a read-only or broadcast array: the parameter gets one of its own
            p._data = piece.astype(p.dtype, copy=True)
        p._version[0] += 1


# ``gk.nn.utils.rnn`` (as ``torch.nn.utils.rnn``), importable as ``gradkit.nn.utils.rnn`` too.
from gradkit.nn import utils_rnn as rnn  # noqa: E402

sys.modules.setdefault(f"{__name__}.rnn", rnn)
