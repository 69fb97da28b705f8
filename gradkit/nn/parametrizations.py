"""``gk.nn.utils.parametrizations``: PyTorch's ``weight_norm``, ``spectral_norm`` and ``orthogonal``, as
parametrizations.

Both are registered through ``gk.nn.utils.parametrize.register_parametrization``, so the module's tensor is
computed from its originals on each access and the state-dict keys are PyTorch's
(``parametrizations.weight.original0`` / ``original1`` for weight_norm's g and v;
``parametrizations.weight.original`` and ``parametrizations.weight.0._u`` / ``_v`` for spectral_norm).
"""

from __future__ import annotations

from gradkit import creation, ops
from gradkit._args import real, text, whole
from gradkit.autograd.engine import writable_dense
from gradkit.autograd.grad_mode import no_grad
from gradkit.creation import randn
from gradkit.errors import ArgumentTypeError, IndexOutOfRangeError, InvalidArgumentError, describe
from gradkit.nn import functional as F
from gradkit.nn import parametrize
from gradkit.nn.module import Module
from gradkit.tensor import Tensor

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


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


# ------------------------------------------------------------------ orthogonal
_ORTHOGONAL_MAPS = ("matrix_exp", "cayley", "householder")


def _sign_of_r(q: Tensor, r: Tensor) -> Tensor:
    """``q`` with its columns' signs set so that ``diag(r) >= 0`` (PyTorch's ``_make_orthogonal``)."""
    d = ops.diagonal(r, 0, -2, -1)
    return q * ops.unsqueeze(ops.sign(d), -2)


def _make_orthogonal(a: Tensor) -> Tensor:
    """The Q factor of a tall ``a = QR`` with ``diag(R) >= 0``."""
    from gradkit import linalg

    q, r = linalg.qr(a)
    return _sign_of_r(q, r)


def _is_orthogonal(q: Tensor) -> bool:
    import numpy as np

    n, k = q.shape[-2], q.shape[-1]
    eye = creation.eye(k, dtype=q.dtype, device=q.device)
    eps = 10.0 * n * float(np.finfo(q.dtype).eps)
    return bool(ops.allclose(ops.matmul(ops.swapaxes(q, -1, -2), q), eye, atol=eps))


class _Orthogonal(Module):
    """PyTorch's ``_Orthogonal``: an orthogonal matrix (or batch) from an unconstrained one, by the matrix
    exponential or the Cayley map of a skew-symmetric matrix, or by a product of Householder reflectors; with
    ``use_trivialization`` the result is multiplied by the buffer ``base`` (the dynamic trivialization)."""

    def __init__(self, weight: Tensor, orthogonal_map: str, *, use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:  # noqa: N803 - PyTorch's name
        from gradkit import linalg

        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = ops.swapaxes(X, -1, -2)
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = ops.tril(X)
            if n != k:  # embed the tall matrix into a square one
                pad = creation.zeros((*X.shape[:-2], n, n - k), dtype=X.dtype, device=X.device)
                X = ops.concatenate([X, pad], axis=-1)
            A = X - ops.swapaxes(X, -1, -2)  # skew-symmetric
            if self.orthogonal_map == "matrix_exp":
                Q = linalg.matrix_exp(A)
            else:  # the Cayley retraction (I + A/2)(I - A/2)^-1, computed as PyTorch does
                eye = creation.eye(n, dtype=A.dtype, device=A.device)
                Q = linalg.solve(eye - 0.5 * A, eye + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = ops.tril(X, -1)
            tau = 2.0 / (1.0 + (A * A).sum(axis=-2))
            Q = linalg.householder_product(A, tau)
            # the diagonal of X holds the signs (1 or -1), not differentiated: PyTorch's .int(), which truncates
            signs = ops.trunc(ops.diagonal(X, 0, -2, -1).detach())
            Q = Q * ops.unsqueeze(signs, -2)
        if getattr(self, "base", None) is not None:
            Q = ops.matmul(self.base, Q)
        if transposed:
            Q = ops.swapaxes(Q, -1, -2)
        return Q

    def right_inverse(self, Q: Tensor) -> Tensor:  # noqa: N803 - PyTorch's name
        with no_grad():
            return self._right_inverse(Q.detach())

    def _right_inverse(self, Q: Tensor) -> Tensor:  # noqa: N803
        op = "orthogonal"
        if tuple(Q.shape) != self.shape:
            raise InvalidArgumentError(
                f"{op}: expected a matrix or batch of matrices of shape {self.shape}, got a tensor of shape "
                f"{tuple(Q.shape)}"
            )
        q_init = Q
        n, k = Q.shape[-2], Q.shape[-1]
        transpose = n < k
        if transpose:
            Q = ops.swapaxes(Q, -1, -2)
            n, k = k, n
        if "base" not in self._buffers:
            if self.orthogonal_map in ("matrix_exp", "cayley"):
                raise NotImplementedError(
                    "It is not possible to assign to the matrix exponential or the Cayley parametrizations when "
                    "use_trivialization=False."
                )
            # Householder: LAPACK's geqrf reflectors, with the signs of R's diagonal on the diagonal
            xp = Q._backend.xp
            a = xp.ascontiguousarray(Q._data)
            h, tau = xp.linalg.qr(a, mode="raw") if a.ndim == 2 else _batched_raw_qr(xp, a)
            A = xp.swapaxes(h, -1, -2).copy()
            d = xp.diagonal(A, 0, -2, -1)
            signs = xp.where(d < 0, -1.0, 1.0).astype(A.dtype)
            signs = xp.where(tau == 0.0, -signs, signs)
            idx = xp.arange(k)
            A[..., idx, idx] = signs
            out = Tensor._make(A.astype(Q.dtype, copy=False), Q._backend)
            return ops.swapaxes(out, -1, -2) if transpose else out
        if n == k:
            Q = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
        else:  # complete Q into a full n x n orthogonal matrix
            fill = randn(*Q.shape[:-2], n, n - k, dtype=Q.dtype, device=Q.device)
            Q = _make_orthogonal(ops.concatenate([Q, fill], axis=-1))
        self.base = Q
        neg_id = creation.zeros_like(q_init)
        idx = creation.arange(min(q_init.shape[-2], q_init.shape[-1]), device=q_init.device)
        neg_id[..., idx, idx] = -1.0
        return neg_id


def _batched_raw_qr(xp: object, a: object) -> tuple:
    """``qr(mode="raw")`` of each matrix of a stack (NumPy's raw mode takes one matrix)."""
    flat = a.reshape(-1, *a.shape[-2:])
    hs, taus = zip(*(xp.linalg.qr(m, mode="raw") for m in flat), strict=True)
    h, tau = xp.stack(hs), xp.stack(taus)
    return h.reshape(*a.shape[:-2], *h.shape[-2:]), tau.reshape(*a.shape[:-2], tau.shape[-1])


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True) -> Module:
    """An orthogonal parametrization of ``module.<name>`` (PyTorch's ``torch.nn.utils.parametrizations.orthogonal``).

    ``module.<name>`` (a matrix or a batch of matrices, shape ``(..., m, n)``) then has orthonormal columns
    (``m >= n``) or rows (``m < n``). ``orthogonal_map``: ``"matrix_exp"`` or ``"cayley"`` of the skew-symmetric
    part built from the lower triangle, or ``"householder"`` (a product of reflectors); None picks
    ``"matrix_exp"`` for a square matrix and ``"householder"`` otherwise. With ``use_trivialization=True`` (the
    default) the result is multiplied by the buffer ``parametrizations.<name>.0.base``, which starts as the
    weight itself when it is orthogonal and as the Q of its QR decomposition otherwise (a tall matrix
    completed with random columns first); the parameter ``original`` then starts at ``-I``. Returns ``module``.
    """
    op = "orthogonal"
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"{op}: module must be a gk.nn.Module, got {describe(module)}")
    text(name, op, "name")
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise InvalidArgumentError(f"{op}: {type(module).__name__} has no parameter or buffer named {name!r}")
    if weight.ndim < 2:
        raise InvalidArgumentError(
            f"{op}: expected a matrix or batch of matrices, got a tensor of {weight.ndim} dimensions"
        )
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    text(orthogonal_map, op, "orthogonal_map")
    if orthogonal_map not in _ORTHOGONAL_MAPS:
        raise InvalidArgumentError(
            f'{op}: orthogonal_map has to be one of "matrix_exp", "cayley", "householder", got {orthogonal_map!r}'
        )
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
