"""``MultivariateNormal(loc, covariance_matrix=None, precision_matrix=None, scale_tril=None)``: the Gaussian
distribution over vectors (``torch.distributions.MultivariateNormal``).

Every computation goes through the lower Cholesky factor L of the covariance (given as ``scale_tril``, or
computed from the covariance or the precision matrix): ``rsample`` is loc + L eps, ``log_prob`` solves with L
(one triangular solve), the log determinant is the sum of log diag(L).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit import linalg
from gradkit.distributions import constraints
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.utils import (
    LOG_2PI,
    _standard_normal,
    batch_mv,
    lazy_property,
    matrix_diagonal,
    promote_all,
)
from gradkit.errors import InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor

__all__ = ["MultivariateNormal"]


def _eye(n: int, like: Tensor) -> Tensor:
    return Tensor._make(like._backend.xp.eye(n, dtype=like.dtype), like._backend)


def _cholesky(m: Tensor, checked: bool = False) -> Tensor:
    """The lower Cholesky factor of symmetric positive-definite matrices (only their lower triangles read);
    ``LinAlgError`` for one that is not (one device read on a GPU, as PyTorch's ``linalg.cholesky``), unless
    ``checked`` (validation has already found them positive definite) or while a CUDA graph is captured.
    Its gradient goes through triangular solves, which read nothing back (``linalg.cholesky``'s goes
    through general solves that check their results on the host)."""
    from gradkit.distributions.distribution import _checks_allowed

    return linalg.cholesky_ex(m, check_errors=not checked and _checks_allowed(m)).L


def _solve_tril(L: Tensor, b: Tensor) -> Tensor:  # noqa: N803
    """``L^{-1} b`` for lower-triangular ``L`` (..., n, n) and ``b`` (..., n, k), batch axes broadcast, as
    ``torch.linalg.solve_triangular(L, b, upper=False)``: nothing is read back (a zero on the diagonal
    gives inf/NaN, as PyTorch's, where ``gk.linalg.solve_triangular`` first checks the diagonal on the
    host: one synchronisation per call on a GPU), and a long stack of small matrices is solved by one
    substitution vectorised over the stack rather than by one SciPy call per matrix. Differentiable in
    both (the gradient of ``L`` on its lower triangle)."""
    from gradkit.ops.linalg_lu import _tri

    dtype = np.result_type(L.dtype, b.dtype)
    L = L if L.dtype == dtype else ops.astype(L, dtype)  # noqa: N806
    b = b if b.dtype == dtype else ops.astype(b, dtype)
    return _tri(L, b, True, False, False)


def _batch_mahalanobis(L: Tensor, x: Tensor) -> Tensor:  # noqa: N803
    """x^T (L L^T)^{-1} x for lower-triangular L (batch shape B) and vectors x (shape S + B + (n,), or any
    shape whose batch axes broadcast with B): |L^{-1} x|^2, one triangular solve."""
    n = x.shape[-1]
    lb = tuple(L.shape[:-2])
    xb = tuple(x.shape[:-1])
    k = len(lb)
    if len(xb) >= k and xb[len(xb) - k:] == lb:
        # the sample axes (in front of L's batch axes) become columns of one right-hand side per matrix
        outer = xb[: len(xb) - k]
        m = math.prod(outer)
        cols = ops.reshape(x, (m,) + lb + (n,))
        cols = ops.moveaxis(cols, 0, -1)  # B + (n, m)
        y = _solve_tril(L, cols)
        d = ops.sum(ops.square(y), axis=-2)  # B + (m,)
        return ops.reshape(ops.moveaxis(d, -1, 0), xb)
    y = _solve_tril(L, ops.expand_dims(x, -1))
    return ops.sum(ops.square(y), axis=(-2, -1))


def _half_log_det(L: Tensor) -> Tensor:  # noqa: N803
    return ops.sum(ops.log(matrix_diagonal(L)), axis=-1)


def _batch_trace_xxt(x: Tensor) -> Tensor:
    """trace(X X^T) over the last two axes: the sum of the squares."""
    return ops.sum(ops.square(x), axis=(-2, -1))


def _precision_to_scale_tril(P: Tensor, checked: bool = False) -> Tensor:  # noqa: N803
    """The lower Cholesky factor of P^{-1}, from the Cholesky factor of P with its axes reversed
    (``checked``: P is known to be positive definite, see :func:`_cholesky`)."""
    Lf = _cholesky(ops.flip(P, (-2, -1)), checked)  # noqa: N806
    L_inv = ops.swapaxes(ops.flip(Lf, (-2, -1)), -2, -1)  # noqa: N806
    return _solve_tril(L_inv, _eye(P.shape[-1], P))


class MultivariateNormal(Distribution):
    """The normal distribution over vectors of length n = loc.shape[-1], with covariance given by exactly one
    of ``covariance_matrix``, ``precision_matrix`` or ``scale_tril`` (its lower Cholesky factor; the
    cheapest); batch axes of loc and the matrix broadcast."""

    arg_constraints = {
        "loc": constraints.real_vector,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: Any, covariance_matrix: Any = None, precision_matrix: Any = None,
                 scale_tril: Any = None, validate_args: bool | None = None) -> None:  # fmt: skip
        given = [(k, v) for k, v in (("covariance_matrix", covariance_matrix), ("precision_matrix",
                 precision_matrix), ("scale_tril", scale_tril)) if v is not None]  # fmt: skip
        if len(given) != 1:
            raise InvalidArgumentError("MultivariateNormal: exactly one of covariance_matrix or precision_matrix "
                                       f"or scale_tril may be specified, got {len(given)}")  # fmt: skip
        key, matrix = given[0]
        loc, matrix = promote_all(loc, matrix, name="MultivariateNormal")
        if loc.ndim < 1:
            raise ShapeError("MultivariateNormal: loc must be at least one-dimensional")
        if matrix.ndim < 2:
            raise ShapeError(f"MultivariateNormal: {key} must be at least two-dimensional, with optional leading "
                             f"batch dimensions; got shape {tuple(matrix.shape)}")  # fmt: skip
        n = loc.shape[-1]
        if tuple(matrix.shape[-2:]) != (n, n):
            raise ShapeError(f"MultivariateNormal: {key} must be a batch of {n} x {n} matrices for loc of shape "
                             f"{tuple(loc.shape)}, got shape {tuple(matrix.shape)}")  # fmt: skip
        try:
            batch_shape = tuple(np.broadcast_shapes(matrix.shape[:-2], loc.shape[:-1]))
        except ValueError:
            raise ShapeError(f"MultivariateNormal: the batch shapes of loc {tuple(loc.shape)} and {key} "
                             f"{tuple(matrix.shape)} do not broadcast") from None  # fmt: skip
        self.__dict__[key] = _expand(matrix, batch_shape + (n, n))
        self.loc = _expand(loc, batch_shape + (n,))
        super().__init__(batch_shape, (n,), validate_args=validate_args)
        if key == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif key == "covariance_matrix":
            self._unbroadcasted_scale_tril = _cholesky(matrix, self._validate_args)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(matrix, self._validate_args)

    @lazy_property
    def scale_tril(self) -> Tensor:
        return _expand(self._unbroadcasted_scale_tril, self._batch_shape + self._event_shape * 2)

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril  # noqa: N806
        return _expand(ops.matmul(L, ops.swapaxes(L, -1, -2)), self._batch_shape + self._event_shape * 2)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril  # noqa: N806
        L_inv = _solve_tril(L, _eye(L.shape[-1], L))  # noqa: N806
        return _expand(ops.matmul(ops.swapaxes(L_inv, -1, -2), L_inv), self._batch_shape + self._event_shape * 2)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return _expand(ops.sum(ops.square(self._unbroadcasted_scale_tril), axis=-1),
                       self._batch_shape + self._event_shape)  # fmt: skip

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        eps = _standard_normal(self._extended_shape(sample_shape), self.loc)
        return self.loc + batch_mv(self._unbroadcasted_scale_tril, eps)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        M = _batch_mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)  # noqa: N806
        half_log_det = _half_log_det(self._unbroadcasted_scale_tril)
        return -0.5 * (self._event_shape[0] * LOG_2PI + M) - half_log_det

    def entropy(self) -> Tensor:
        half_log_det = _half_log_det(self._unbroadcasted_scale_tril)
        H = 0.5 * self._event_shape[0] * (1.0 + LOG_2PI) + half_log_det  # noqa: N806
        return _expand(H, self._batch_shape)


def _expand(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    return t if tuple(t.shape) == tuple(shape) else ops.broadcast_to(t, shape)
