"""``LowRankMultivariateNormal(loc, cov_factor, cov_diag)``: a Gaussian over vectors whose covariance is
W W^T + diag(D) (``torch.distributions.LowRankMultivariateNormal``).

With W of shape n x m (m small), the log determinant and the Mahalanobis distance go through the m x m
"capacitance" matrix C = I + W^T D^{-1} W (the matrix determinant lemma and the Woodbury identity): no n x n
matrix is factorised.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.multivariate_normal import _batch_mahalanobis, _cholesky, _expand, _eye, _solve_tril
from gradkit.distributions.utils import LOG_2PI, _standard_normal, batch_mv, diag_embed, lazy_property, promote_all
from gradkit.errors import ShapeError
from gradkit.tensor import Tensor

__all__ = ["LowRankMultivariateNormal"]


def _batch_capacitance_tril(W: Tensor, D: Tensor, checked: bool = False) -> Tensor:  # noqa: N803
    """The Cholesky factor of I + W^T D^{-1} W (``checked``: D is known to be positive, so the matrix is
    positive definite and its factorisation is not checked on the host)."""
    m = W.shape[-1]
    Wt_Dinv = ops.swapaxes(W, -1, -2) / ops.expand_dims(D, -2)  # noqa: N806
    return _cholesky(ops.matmul(Wt_Dinv, W) + _eye(m, W), checked)


def _batch_lowrank_logdet(W: Tensor, D: Tensor, capacitance_tril: Tensor) -> Tensor:  # noqa: N803
    """log |W W^T + D| = log |C| + log |D|."""
    return 2 * ops.sum(ops.log(ops.diagonal(capacitance_tril, 0, -2, -1)), axis=-1) + ops.sum(ops.log(D), axis=-1)


def _batch_lowrank_mahalanobis(W: Tensor, D: Tensor, x: Tensor, capacitance_tril: Tensor) -> Tensor:  # noqa: N803
    """x^T (W W^T + D)^{-1} x by the Woodbury identity."""
    Wt_Dinv = ops.swapaxes(W, -1, -2) / ops.expand_dims(D, -2)  # noqa: N806
    Wt_Dinv_x = batch_mv(Wt_Dinv, x)  # noqa: N806
    return ops.sum(ops.square(x) / D, axis=-1) - _batch_mahalanobis(capacitance_tril, Wt_Dinv_x)


class LowRankMultivariateNormal(Distribution):
    """Mean ``loc`` (batch_shape + (n,)), covariance ``cov_factor @ cov_factor^T + diag(cov_diag)`` with
    ``cov_factor`` of shape batch_shape + (n, m) and ``cov_diag`` (> 0) of shape batch_shape + (n,)."""

    arg_constraints = {
        "loc": constraints.real_vector,
        "cov_factor": constraints.independent(constraints.real, 2),
        "cov_diag": constraints.independent(constraints.positive, 1),
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: Any, cov_factor: Any, cov_diag: Any, validate_args: bool | None = None) -> None:
        name = "LowRankMultivariateNormal"
        loc, cov_factor, cov_diag = promote_all(loc, cov_factor, cov_diag, name=name)
        if loc.ndim < 1:
            raise ShapeError(f"{name}: loc must be at least one-dimensional")
        n = loc.shape[-1]
        if cov_factor.ndim < 2:
            raise ShapeError(f"{name}: cov_factor must be at least two-dimensional, with optional leading batch "
                             "dimensions")  # fmt: skip
        if cov_factor.shape[-2] != n:
            raise ShapeError(f"{name}: cov_factor must be a batch of matrices with shape {n} x m, got "
                             f"{tuple(cov_factor.shape)}")  # fmt: skip
        if tuple(cov_diag.shape[-1:]) != (n,):
            raise ShapeError(f"{name}: cov_diag must be a batch of vectors with shape ({n},), got "
                             f"{tuple(cov_diag.shape)}")  # fmt: skip
        try:
            batch_shape = tuple(np.broadcast_shapes(loc.shape[:-1], cov_factor.shape[:-2], cov_diag.shape[:-1]))
        except ValueError:
            raise ShapeError(f"{name}: incompatible batch shapes: loc {tuple(loc.shape)}, cov_factor "
                             f"{tuple(cov_factor.shape)}, cov_diag {tuple(cov_diag.shape)}") from None  # fmt: skip
        self.loc = _expand(loc, batch_shape + (n,))
        self.cov_factor = _expand(cov_factor, batch_shape + tuple(cov_factor.shape[-2:]))
        self.cov_diag = _expand(cov_diag, batch_shape + (n,))
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        super().__init__(batch_shape, (n,), validate_args=validate_args)
        self._capacitance_tril = _batch_capacitance_tril(cov_factor, cov_diag, self._validate_args)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @lazy_property
    def variance(self) -> Tensor:  # type: ignore[override]
        v = ops.sum(ops.square(self._unbroadcasted_cov_factor), axis=-1) + self._unbroadcasted_cov_diag
        return _expand(v, self._batch_shape + self._event_shape)

    @lazy_property
    def scale_tril(self) -> Tensor:
        n = self._event_shape[0]
        d_sqrt = ops.expand_dims(ops.sqrt(self._unbroadcasted_cov_diag), -1)
        dinvsqrt_w = self._unbroadcasted_cov_factor / d_sqrt
        k = ops.matmul(dinvsqrt_w, ops.swapaxes(dinvsqrt_w, -1, -2)) + _eye(n, dinvsqrt_w)
        return _expand(d_sqrt * _cholesky(k, self._validate_args), self._batch_shape + self._event_shape * 2)

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        W = self._unbroadcasted_cov_factor  # noqa: N806
        cov = ops.matmul(W, ops.swapaxes(W, -1, -2)) + diag_embed(self._unbroadcasted_cov_diag)
        return _expand(cov, self._batch_shape + self._event_shape * 2)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag  # noqa: N806
        Wt_Dinv = ops.swapaxes(W, -1, -2) / ops.expand_dims(D, -2)  # noqa: N806
        A = _solve_tril(self._capacitance_tril, Wt_Dinv)  # noqa: N806
        precision = diag_embed(ops.reciprocal(D)) - ops.matmul(ops.swapaxes(A, -1, -2), A)
        return _expand(precision, self._batch_shape + self._event_shape * 2)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps_w = _standard_normal(shape[:-1] + tuple(self.cov_factor.shape[-1:]), self.loc)
        eps_d = _standard_normal(shape, self.loc)
        return (self.loc + batch_mv(self._unbroadcasted_cov_factor, eps_w)
                + ops.sqrt(self._unbroadcasted_cov_diag) * eps_d)  # fmt: skip

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag  # noqa: N806
        M = _batch_lowrank_mahalanobis(W, D, value - self.loc, self._capacitance_tril)  # noqa: N806
        log_det = _batch_lowrank_logdet(W, D, self._capacitance_tril)
        return -0.5 * (self._event_shape[0] * LOG_2PI + log_det + M)

    def entropy(self) -> Tensor:
        log_det = _batch_lowrank_logdet(self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag,
                                        self._capacitance_tril)  # fmt: skip
        H = 0.5 * (self._event_shape[0] * (1.0 + LOG_2PI) + log_det)  # noqa: N806
        return _expand(H, self._batch_shape)
