"""Helpers shared by the distributions (``torch.distributions.utils``'s names): parameters broadcast together,
lazily computed attributes, sums over the rightmost axes, random draws from gradkit's generator, and the
probability/logit conversions the discrete families use."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import enable_grad
from gradkit.backends import backend_of_array, get_backend
from gradkit.creation import _random, array_for, zeros_like
from gradkit.dtypes import default_float
from gradkit.errors import ArgumentTypeError, DeviceError, ShapeError
from gradkit.tensor import Tensor

euler_constant = 0.57721566490153286060  # the Euler-Mascheroni constant

_NUMBERS = (int, float, bool, np.number, np.bool_)


def _is_device_array(x: Any) -> bool:
    return hasattr(x, "__cuda_array_interface__") and not isinstance(x, np.ndarray)


def promote_all(*values: Any, name: str = "promote_all") -> tuple[Tensor, ...]:
    """``values`` (tensors, Python or NumPy numbers, NumPy/CuPy arrays, nested lists) as tensors of one float
    dtype on one device, shapes unchanged.

    The device is that of the tensors (and CuPy arrays) given, else the default device; they must agree
    (``DeviceError``). The dtype is the NumPy promotion of the float tensors and arrays given (numbers do not
    widen it), else the default float (float32); integer and bool inputs are cast to it. Tensors keep their
    graph. ``name`` (the distribution) heads the error messages.
    """
    backend = None
    for v in values:
        b = v._backend if isinstance(v, Tensor) else backend_of_array(v) if _is_device_array(v) else None
        if b is not None:
            if backend is not None and b is not backend:
                raise DeviceError(f"{name}: the parameters are on different devices: {backend.device} and {b.device}")
            backend = b
    if backend is None:
        backend = get_backend(None, name)
    tensors: list[Any] = []
    for v in values:
        if isinstance(v, (Tensor, *_NUMBERS)):
            tensors.append(v)
        elif v is None or isinstance(v, (str, bytes, dict, set)):
            raise ArgumentTypeError(
                f"{name}: expected a tensor, an array or a number as a parameter, got {type(v).__name__} {v!r:.40}"
            )
        else:
            data, b = array_for(v, None, backend, name)
            tensors.append(Tensor._make(data, b))
    floats = [t.dtype for t in tensors if isinstance(t, Tensor) and t.dtype.kind == "f"]
    dtype = np.result_type(*floats) if floats else np.dtype(default_float)
    out = []
    for t in tensors:
        if not isinstance(t, Tensor):
            t = Tensor._make(backend.asarray(np.asarray(t, dtype=dtype)), backend)
        elif t.dtype != dtype:
            t = ops.astype(t, dtype)
        out.append(t)
    return tuple(out)


def broadcast_all(*values: Any, name: str = "broadcast_all") -> tuple[Tensor, ...]:
    """``values`` as :func:`promote_all` makes them, broadcast to one shape (``ShapeError`` when they do not
    broadcast), as ``torch.distributions.utils.broadcast_all``. Gradients flow back through the broadcast
    to what was passed."""
    tensors = promote_all(*values, name=name)
    try:
        shape = np.broadcast_shapes(*(t.shape for t in tensors))
    except ValueError:
        shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
        raise ShapeError(f"{name}: the parameters' shapes {shapes} do not broadcast together") from None
    return tuple(t if t.shape == shape else ops.broadcast_to(t, shape) for t in tensors)


def as_tensor_like(value: Any, like: Tensor, name: str) -> Tensor:
    """``value`` as a tensor on ``like``'s device: numbers, bool and integer data (and integer tensors) in
    ``like``'s dtype, float arrays in their own; a float tensor is returned as it is."""
    if isinstance(value, Tensor):
        if value.dtype.kind != "f":
            return ops.astype(value, like.dtype)
        return value
    if isinstance(value, _NUMBERS):
        return Tensor._make(like._backend.asarray(np.asarray(value, dtype=like.dtype)), like._backend)
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise ArgumentTypeError(f"{name}: expected a tensor, an array or a number, got {type(value).__name__} "
                                f"{value!r:.40}")  # fmt: skip
    data, backend = array_for(value, None, like._backend, name)
    if data.dtype.kind != "f" or isinstance(value, (list, tuple)):
        data = data.astype(like.dtype)
    return Tensor._make(data, backend)


def size_arg(shape: Any, name: str, what: str = "sample_shape") -> tuple[int, ...]:
    """A shape (a tuple or list of ints, or one int) as a tuple of non-negative ints."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) for d in shape
    ):
        raise ArgumentTypeError(f"{name}: {what} must be a tuple of ints, got {type(shape).__name__} {shape!r:.40}")
    if any(d < 0 for d in shape):
        raise ShapeError(f"{name}: {what} must not have negative sizes, got {tuple(shape)}")
    return tuple(int(d) for d in shape)


def _sum_rightmost(value: Any, dim: int) -> Any:
    """``value`` summed over its ``dim`` rightmost axes (a number is returned as it is)."""
    if dim == 0 or not isinstance(value, Tensor):
        return value
    return ops.sum(value, axis=tuple(range(-dim, 0)))


def _standard_normal(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Standard normal draws of ``shape`` in ``like``'s dtype, from gradkit's generator on its device."""
    return _random("randn", shape, like.dtype, like._backend, False, "normal")


def _standard_uniform(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Draws from U[0, 1) of ``shape`` in ``like``'s dtype, from gradkit's generator on its device."""
    return _random("rand", shape, like.dtype, like._backend, False, "uniform")


def finfo(x: Any) -> np.finfo:
    """NumPy's float limits for a tensor's (or a dtype's) float type."""
    return np.finfo(getattr(x, "dtype", x))


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities clamped to [eps, 1 - eps] of their dtype."""
    eps = float(finfo(probs).eps)
    return ops.clip(probs, eps, 1 - eps)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Logits to probabilities: the sigmoid for binary ones, else a softmax over the last axis."""
    if is_binary:
        return ops.sigmoid(logits)
    return ops.softmax(logits, -1)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Probabilities to logits (clamped first): log p - log1p(-p) for binary ones, else log p."""
    ps = clamp_probs(probs)
    if is_binary:
        return ops.log(ps) - ops.log1p(-ps)
    return ops.log(ps)


def diag_embed(d: Tensor) -> Tensor:
    """Square matrices with ``d``'s last axis on their diagonals (``torch.diag_embed``), differentiable."""
    n = d.shape[-1]
    eye = Tensor._make(d._backend.xp.eye(n, dtype=d.dtype), d._backend)
    return ops.expand_dims(d, -1) * eye


def matrix_diagonal(m: Tensor) -> Tensor:
    """The diagonals of the matrices in ``m``'s last two axes."""
    return ops.diagonal(m, 0, -2, -1)


def batch_mv(bmat: Tensor, bvec: Tensor) -> Tensor:
    """Matrix-vector products with broadcasting batch axes: ``(bmat @ bvec[..., None])[..., 0]``."""
    return ops.squeeze(ops.matmul(bmat, ops.expand_dims(bvec, -1)), -1)


def vec_to_tril_matrix(vec: Tensor, diag: int = 0) -> Tensor:
    """The vector's last axis laid out row by row in the lower triangle (below diagonal ``diag``) of a square
    matrix, zeros elsewhere (``torch.distributions.utils.vec_to_tril_matrix``)."""
    n = -(1 + 2 * diag) + ((1 + 2 * diag) ** 2 + 8 * vec.shape[-1] + 4 * abs(diag) * (diag + 1)) ** 0.5
    n = round(n / 2)
    rows, cols = np.tril_indices(n, diag)
    if len(rows) != vec.shape[-1]:
        raise ShapeError(f"vec_to_tril_matrix: a vector of length {vec.shape[-1]} does not fill a triangle")
    flat = rows * n + cols
    zeros = zeros_like(vec[..., :1])
    full = ops.concatenate([vec, zeros], axis=-1)  # the last slot is 0
    index = np.full(n * n, len(rows), dtype=np.int64)
    index[flat] = np.arange(len(rows))
    picked = ops.take(full, Tensor._make(vec._backend.asarray(index), vec._backend), axis=-1)
    return ops.reshape(picked, vec.shape[:-1] + (n, n))


def tril_matrix_to_vec(mat: Tensor, diag: int = 0) -> Tensor:
    """The lower triangle (below diagonal ``diag``) of the last two axes, row by row, as a vector."""
    n = mat.shape[-1]
    rows, cols = np.tril_indices(n, diag)
    flat = Tensor._make(mat._backend.asarray((rows * n + cols).astype(np.int64)), mat._backend)
    return ops.take(ops.reshape(mat, mat.shape[:-2] + (n * n,)), flat, axis=-1)


class lazy_property:  # noqa: N801 (torch's name)
    """A property computed at its first read and then stored on the instance (reads after that are plain
    attribute reads). Computed with gradients enabled, as PyTorch's, so a value first read under
    ``no_grad`` still carries its graph."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        functools.update_wrapper(self, wrapped)  # type: ignore[arg-type]

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        instance.__dict__[self.wrapped.__name__] = value
        return value


LOG_2PI = math.log(2 * math.pi)
