"""``gk.nn.utils.parametrizations``: PyTorch's ``weight_norm`` and ``spectral_norm``, as parametrizations.

Both are registered through ``gk.nn.utils.parametrize.register_parametrization``, so the module's tensor is
computed from its originals on each access and the state-dict keys are PyTorch's
(``parametrizations.weight.original0`` / ``original1`` for weight_norm's g and v;
``parametrizations.weight.original`` and ``parametrizations.weight.0._u`` / ``_v`` for spectral_norm).
"""

from __future__ import annotations

from gradkit import ops
from gradkit._args import real, text, whole
from gradkit.autograd.engine import writable_dense
from gradkit.autograd.grad_mode import no_grad
from gradkit.creation import randn
from gradkit.errors import ArgumentTypeError, IndexOutOfRangeError, InvalidArgumentError, describe
from gradkit.nn import functional as F
from gradkit.nn import parametrize
from gradkit.nn.module import Module
from gradkit.tensor import Tensor

__all__ = ["spectral_norm", "weight_norm"]


# ------------------------------------------------------------------ weight norm
def _norm_except_dim(v: Tensor, dim: int, op: str) -> Tensor:
    """PyTorch's ``norm_except_dim(v, 2, dim)``: the 2-norm over every axis but ``dim``, kept as size-1 axes
    (``dim == -1``: over all axes, a 0-d tensor)."""
    if dim == -1:
        return ops.norm(v)
    if not -v.ndim <= dim < v.ndim:
        raise IndexOutOfRangeError(
            f"{op}: dim {dim} is out of range for a weight of shape {v.shape} (expected None, -1 or an axis in "
            f"[-{v.ndim}, {v.ndim - 1}])"
        )
    dim %= v.ndim
    return ops.norm(v, 2, tuple(a for a in range(v.ndim) if a != dim), keepdims=True)


class _WeightNorm(Module):
    """``w = g * v / ||v||`` (the norm over every axis but ``dim``; ``dim=None`` or -1: over all)."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim, "weight_norm"))

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _norm_except_dim(weight, self.dim, "weight_norm"), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation of ``module.<name>`` (PyTorch's ``torch.nn.utils.parametrizations.weight_norm``).

    ``w = g * v / ||v||``: the magnitude ``g`` (``parametrizations.<name>.original0``, the norm of the weight
    over every axis but ``dim``, with size-1 axes there) and the direction ``v`` (``original1``, the weight)
    become the parameters; at registration ``w`` is the weight itself. ``dim=None`` (or -1, as PyTorch)
    takes one norm over the whole tensor (``g`` 0-d). Returns ``module``. PyTorch's loading of its older
    ``weight_g`` / ``weight_v`` keys is not done: rename them to ``parametrizations.<name>.original0`` /
    ``original1``.
    """
    op = "weight_norm"
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"{op}: module must be a gk.nn.Module, got {describe(module)}")
    text(name, op, "name")
    if not isinstance(getattr(module, name, None), Tensor):
        raise InvalidArgumentError(f"{op}: {type(module).__name__} has no parameter or buffer named {name!r}")
    if dim is not None:
        dim = whole(dim, op, "dim")
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


# ------------------------------------------------------------------ spectral norm
def _copy_into(buffer: Tensor, value: Tensor) -> None:
    """Write ``value`` into ``buffer`` in place (as PyTorch's ``out=``), or give it a copy when it cannot be."""
    if writable_dense(buffer._data) and buffer._data.shape == value._data.shape:
        buffer._data[...] = value._data
    else:
        buffer._data = value._data.copy()
    buffer._version[0] += 1


class _SpectralNorm(Module):
    """``W / sigma(W)``, ``sigma`` the largest singular value of ``W`` as a matrix (``dim`` first, the rest
    flattened), estimated by power iteration with the buffers ``_u`` and ``_v``, which are updated in
    training mode only; a 1-d weight is divided by its 2-norm."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        op = "spectral_norm"
        ndim = weight.ndim
        if not -ndim <= dim < ndim:
            raise IndexOutOfRangeError(
                f"{op}: dim {dim} is out of range for a weight of shape {weight.shape} (expected an axis in "
                f"[-{ndim}, {ndim - 1}])"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with no_grad():
                weight_mat = self._reshape_weight_to_matrix(weight.detach())
                h, w = weight_mat.shape
                u = randn(h, dtype=weight.dtype, device=weight.device)
                v = randn(w, dtype=weight.dtype, device=weight.device)
                self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
                self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = ops.moveaxis(weight, self.dim, 0)
        return ops.reshape(weight, (weight.shape[0], -1))

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        with no_grad():
            w = weight_mat.detach()
            for _ in range(n_power_iterations):
                _copy_into(self._u, F.normalize(ops.matmul(w, self._v), dim=0, eps=self.eps))
                _copy_into(self._v, F.normalize(ops.matmul(ops.swapaxes(w, 0, 1), self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u = self._u.detach().clone()  # a later power iteration writes the buffers: the graph keeps copies
        v = self._v.detach().clone()
        sigma = ops.dot(u, ops.matmul(weight_mat, v))  # vdot: real tensors only
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def _conv_transpose_classes() -> tuple[type, ...]:
    from gradkit import nn

    return tuple(getattr(nn, n) for n in ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d") if hasattr(nn, n))


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None) -> Module:
    """Spectral normalisation of ``module.<name>`` (PyTorch's ``torch.nn.utils.parametrizations.spectral_norm``).

    ``module.<name>`` becomes ``W / sigma``, ``sigma`` the largest singular value of ``W`` seen as a matrix
    (axis ``dim`` first, the others flattened), estimated by ``n_power_iterations`` steps of the power method
    on each access in training mode (15 at registration, from random unit vectors); the vectors are the
    buffers ``parametrizations.<name>.0._u`` and ``_v`` and carry no gradient. In eval mode they are not
    updated. A 1-d tensor is divided by its 2-norm. ``dim=None``: 1 for ConvTranspose layers, else 0.
    ``eps`` guards the normalisations. Returns ``module``.
    """
    op = "spectral_norm"
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"{op}: module must be a gk.nn.Module, got {describe(module)}")
    text(name, op, "name")
    n_power_iterations = whole(n_power_iterations, op, "n_power_iterations", low=1)
    eps = real(eps, op, "eps", low=0.0)
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise InvalidArgumentError(f"{op}: {type(module).__name__} has no parameter or buffer named {name!r}")
    if dim is None:
        dim = 1 if isinstance(module, _conv_transpose_classes()) else 0
    else:
        dim = whole(dim, op, "dim")
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
