"""Gradient utilities (``clip_grad_norm_``, ``get_total_norm``, ``clip_grads_with_norm_``, ``clip_grad_value_``),
parameter vectors (``parameters_to_vector``, ``vector_to_parameters``) and ``rnn`` (``pad_sequence``, packed
sequences). ``gradkit.nn`` adds the functions that take modules (``gradkit.nn.utils_modules``: fusion with BatchNorm,
``skip_init``, the hook-based ``weight_norm`` and ``spectral_norm``) and the submodules ``parametrize``,
``parametrizations`` and ``stateless``."""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from gradkit import ops
from gradkit._args import flag, real, scalar
from gradkit.autograd.engine import writable_dense
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor

__all__ = [
    "NonFiniteNormError",
    "clip_grad_norm",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "parameters_to_vector",
    "vector_to_parameters",
]


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


def _norm_type(norm_type: Any, op: str) -> float:
    """``norm_type``: a number > 0, inf, or the string "inf" (PyTorch accepts it too)."""
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        norm_type = math.inf
    norm_type = real(norm_type, op, "norm_type")
    if not norm_type > 0:
        raise InvalidArgumentError(f"{op}: norm_type must be > 0 (or inf), got {norm_type!r}")
    return norm_type


def _total(tensors: list[Tensor], norm_type: float, error_if_nonfinite: bool, op: str,
           what: str) -> tuple[Any, Any, Any]:
    """``(total, backend, out_dtype)``: the joint ``norm_type``-norm of ``tensors`` (non-empty, one device) as a
    0-d array of float32 at least (the widest of their dtypes), and the dtype of PyTorch's result. Reads the
    host only for ``error_if_nonfinite``; ``what`` names the tensors in errors ("gradients", "tensors")."""
    backend = _one_device(tensors, op, what)
    xp = backend.xp
    # Norms are taken in float32 at least (a float16 sum of squares overflows at 256), and in
    # the widest dtype when the tensors' differ; the result has theirs, as PyTorch's.
    dtypes = {t._data.dtype for t in tensors}
    dtype = np.result_type(np.float32, *dtypes)
    norms = xp.stack([_norm(xp, t._data.astype(dtype, copy=False), norm_type) for t in tensors])
    total = _norm(xp, norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise NonFiniteNormError(
            f"{op}: the total {norm_type}-norm of the {what} is non-finite ({float(total)}); pass "
            f"error_if_nonfinite=False to {'clip anyway' if what == 'gradients' else 'get it anyway'}"
        )
    out_dtype = dtypes.pop() if len(dtypes) == 1 else dtype
    return total, backend, out_dtype


def _zero_norm() -> Tensor:
    """The total norm of no tensors: PyTorch's ``torch.tensor(0.0)``."""
    from gradkit.creation import tensor

    return tensor(0.0)


def get_total_norm(tensors: Any, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of ``tensors`` (a Tensor or an iterable of them) taken together, as a 0-d tensor.

    As PyTorch's ``torch.nn.utils.get_total_norm``: the norm of the vector of each tensor's norm, which is the
    norm of all their elements at once; usually given the gradients, ``[p.grad for p in params if p.grad is not
    None]``, for :func:`clip_grads_with_norm_`. ``norm_type`` is a number > 0 or inf. The norm is taken in
    float32 at least (float16 values do not overflow), and returned in the tensors' dtype (the widest when
    they differ). With no tensors it is ``gk.tensor(0.0)``. ``error_if_nonfinite=True`` raises
    :class:`NonFiniteNormError` for a NaN or infinite norm, reading it on the host (a GPU sync); otherwise
    nothing waits for the device. Nothing is recorded for autograd (PyTorch's runs under ``no_grad`` too).
    The tensors must be on one device. ``foreach`` (PyTorch's: None, True or False) is accepted and has no
    effect.
    """
    op = "get_total_norm"
    _check_foreach(foreach, op)
    norm_type = _norm_type(norm_type, op)
    error_if_nonfinite = flag(error_if_nonfinite, op, "error_if_nonfinite")
    tensors = _tensor_list(tensors, op)
    if not tensors:
        return _zero_norm()
    for t in tensors:
        if t._data.dtype.kind != "f":  # as PyTorch's vector_norm: a norm in an integer dtype would be cut
            raise DTypeError(f"{op}: expected floating-point tensors, got one of dtype {t.dtype}")
    total, backend, out_dtype = _total(tensors, norm_type, error_if_nonfinite, op, "tensors")
    return Tensor._make(backend.xp.asarray(total, dtype=out_dtype), backend)


def _scale(params: list[Tensor], max_norm: float, total: Any, backend: Any) -> None:
    """Multiply every gradient of ``params`` (on ``backend``) by ``min(1, max_norm / (total + 1e-6))``
    (``total`` a 0-d float array of ``backend``), each a new tensor of its own dtype."""
    xp = backend.xp
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    if backend.name != "numpy" or float(coef) != 1.0:  # on the host, a coefficient of 1 changes nothing
        for p in params:
            g = p._grad
            p._grad = Tensor._make(g._data * coef.astype(g._data.dtype), g._backend)


def clip_grads_with_norm_(parameters: Any, max_norm: float, total_norm: Any, foreach: bool | None = None) -> None:
    """Scale the gradients of ``parameters`` by ``min(1, max_norm / (total_norm + 1e-6))``, as PyTorch's.

    ``total_norm`` is their total norm, as :func:`get_total_norm` gives it (a 0-d tensor, moved to the
    gradients' device if it is elsewhere; a number works too); ``clip_grad_norm_`` is
    ``get_total_norm`` then this. Each gradient is replaced by a new tensor of its dtype (a gradient array
    may be shared or read-only, so none is written). Nothing waits for the device. Returns None.
    ``foreach`` (PyTorch's: None, True or False) is accepted and has no effect.
    """
    op = "clip_grads_with_norm_"
    _check_foreach(foreach, op)
    max_norm = real(max_norm, op, "max_norm", low=0.0)
    if isinstance(total_norm, Tensor):
        if total_norm._data.size != 1:
            raise ShapeError(f"{op}: total_norm must be a single number (a 0-d tensor), got shape {total_norm.shape}")
        if total_norm._data.dtype.kind not in "fiu":
            raise ArgumentTypeError(f"{op}: total_norm must be a real number, got dtype {total_norm.dtype}")
    else:
        value = scalar(total_norm)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ArgumentTypeError(
                f"{op}: total_norm must be a 0-d tensor or a number, got {type(total_norm).__name__} {total_norm!r:.40}"
            )
        total_norm = float(value)  # NaN and inf too: they scale as a tensor's would
    params = _grads(parameters, op)
    if not params:
        return
    backend = _one_device([p._grad for p in params], op, "gradients")
    if isinstance(total_norm, Tensor):
        total = backend.transfer(total_norm._data, total_norm._backend).reshape(())
        total = total.astype(np.result_type(np.float32, total.dtype), copy=False)
    else:
        total = backend.asarray(np.asarray(total_norm, dtype=np.float32))
    _scale(params, max_norm, total, backend)


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients of ``parameters`` so that their joint norm is at most ``max_norm``.

    As PyTorch: ``total`` is the ``norm_type``-norm of all gradients together
    and every gradient is multiplied by ``min(1, max_norm / (total + 1e-6))``
    (:func:`get_total_norm` of the gradients, then :func:`clip_grads_with_norm_`).
    Returns ``total`` (a 0-d tensor). Each gradient is replaced by a new
    tensor (a gradient array may be shared or read only, so none is written).
    ``foreach`` (PyTorch's: None, True or False) is accepted and has no effect.
    """
    op = "clip_grad_norm_"
    _check_foreach(foreach, op)
    max_norm = real(max_norm, op, "max_norm", low=0.0)
    norm_type = _norm_type(norm_type, op)
    error_if_nonfinite = flag(error_if_nonfinite, op, "error_if_nonfinite")
    params = _grads(parameters, op)
    if not params:
        return _zero_norm()
    # the total in float32 at least scales the gradients; the one returned has their dtype
    total, backend, out_dtype = _total([p._grad for p in params], norm_type, error_if_nonfinite, op, "gradients")
    _scale(params, max_norm, total, backend)
    return Tensor._make(backend.xp.asarray(total, dtype=out_dtype), backend)


def clip_grad_norm(parameters: Any, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Deprecated (as in PyTorch) in favor of :func:`clip_grad_norm_`: warns (FutureWarning, PyTorch's
    message), then returns ``clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)``."""
    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


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


def _one_device(tensors: list[Tensor], op: str, what: str = "parameters") -> Any:
    """The backend of every tensor of ``tensors`` (non-empty; PyTorch's check), else a DeviceError naming two
    devices."""
    backend = tensors[0]._backend
    for t in tensors:
        if t._backend is not backend:
            raise DeviceError(f"{op}: the {what} are on more than one device ({backend.device} and {t.device})")
    return backend


def _check_initialized(params: list[Tensor], op: str) -> None:
    """As PyTorch: an uninitialized parameter (a lazy module's, before its first call) has no values to use."""
    from gradkit.nn.lazy import UninitializedTensorError, is_lazy

    for i, p in enumerate(params):
        if is_lazy(p):
            where = p.__dict__.get("_lazy_owner") or f"parameter {i}"
            raise UninitializedTensorError(
                f"{op}: {where} is an uninitialized parameter (a lazy module's, before its first call); call the "
                "module on a sample input first"
            )


def parameters_to_vector(parameters: Any) -> Tensor:
    """The parameters flattened and joined into one 1-d tensor, in order (differentiable, as PyTorch's;
    mixed dtypes promote)."""
    params = _tensor_list(parameters, "parameters_to_vector")
    if not params:
        raise InvalidArgumentError("parameters_to_vector: expected at least one parameter, got none")
    _check_initialized(params, "parameters_to_vector")
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
    _check_initialized(params, op)
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


def _expose(name: str, submodule: Any) -> None:
    """Make ``submodule`` ``gk.nn.utils.<name>``, importable as ``gradkit.nn.utils.<name>`` too.

    For ``parametrize`` and ``parametrizations`` (as ``torch.nn.utils``'s), which subclass ``Module``, whose
    own module imports this one: ``gradkit.nn``'s ``__init__`` imports them once ``Module`` exists and calls this.
    """
    globals()[name] = submodule
    sys.modules.setdefault(f"{__name__}.{name}", submodule)


def _adopt(module: Any) -> None:
    """Make the names of ``module.__all__`` ``gk.nn.utils``'s too (``gradkit.nn.utils_modules``: the fusion
    functions, ``skip_init``, the hook-based ``weight_norm`` and ``spectral_norm``, which need ``Module``);
    ``gradkit.nn``'s ``__init__`` calls this once they can be imported."""
    for name in module.__all__:
        globals()[name] = getattr(module, name)
        if name not in __all__:
            __all__.append(name)
