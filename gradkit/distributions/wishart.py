"""``Wishart(df, covariance_matrix=None, precision_matrix=None, scale_tril=None)``: the Wishart distribution
over positive definite matrices (``torch.distributions.Wishart``).

As MultivariateNormal, every computation goes through the lower Cholesky factor L of the scale matrix. Samples
come from the Bartlett decomposition, (L A)(L A)^T with A lower triangular, A_ii = sqrt(chi2(df - i)) and
standard normal entries below the diagonal, differentiable in df (through the chi-squared draws) and in L.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit import linalg
from gradkit.distributions import constraints
from gradkit.distributions.chi2 import Chi2
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.multivariate_normal import _cholesky, _precision_to_scale_tril, _solve_tril
from gradkit.distributions.utils import _standard_normal, diag_embed, finfo, lazy_property, promote_all
from gradkit.errors import InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor

__all__ = ["Wishart"]

_LOG_2 = math.log(2)


def _multigammaln(x: Tensor, p: int) -> Tensor:
    """log Gamma_p(x) = p (p - 1)/4 log(pi) + the sum of lgamma(x - i/2) for i < p, without
    ``gk.special.multigammaln``'s check that x > (p - 1)/2, which reads the device (a synchronisation per call on
    a GPU): the families check their parameters when made, and a value outside gives NaN or inf here."""
    total = ops.lgamma(x)
    for i in range(1, p):
        total = total + ops.lgamma(x - i / 2)
    return total + p * (p - 1) / 4 * math.log(math.pi)


def _mvdigamma(x: Tensor, p: int) -> Tensor:
    """The sum of digamma(x - i/2) for i < p (the derivative of multigammaln(x, p))."""
    total = ops.digamma(x)
    for i in range(1, p):
        total = total + ops.digamma(x - i / 2)
    return total


def _expand(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    return t if tuple(t.shape) == tuple(shape) else ops.broadcast_to(t, shape)


def _eye(n: int, like: Tensor) -> Tensor:
    return Tensor._make(like._backend.xp.eye(n, dtype=like.dtype), like._backend)


class Wishart(ExponentialFamily):
    """The distribution of X^T X for the df x p matrix X whose rows are independent Normal(0, Sigma) vectors
    (df > p - 1, not necessarily whole), Sigma given by exactly one of ``covariance_matrix``,
    ``precision_matrix`` or ``scale_tril`` (its lower Cholesky factor; the cheapest). Batch axes of df and of
    the matrix broadcast."""

    support = constraints.positive_definite
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:  # type: ignore[override]
        return {
            "covariance_matrix": constraints.positive_definite,
            "precision_matrix": constraints.positive_definite,
            "scale_tril": constraints.lower_cholesky,
            "df": constraints.greater_than(self.event_shape[-1] - 1),
        }

    def __init__(self, df: Any, covariance_matrix: Any = None, precision_matrix: Any = None, scale_tril: Any = None,
                 validate_args: bool | None = None) -> None:  # fmt: skip
        given = [(k, v) for k, v in (("covariance_matrix", covariance_matrix), ("precision_matrix",
                 precision_matrix), ("scale_tril", scale_tril)) if v is not None]  # fmt: skip
        if len(given) != 1:
            raise InvalidArgumentError("Wishart: exactly one of covariance_matrix or precision_matrix or scale_tril "
                                       f"may be specified, got {len(given)}")  # fmt: skip
        key, matrix = given[0]
        df, matrix = promote_all(df, matrix, name="Wishart")
        if matrix.ndim < 2:
            raise ShapeError(f"Wishart: {key} must be at least two-dimensional, with optional leading batch "
                             f"dimensions; got shape {tuple(matrix.shape)}")  # fmt: skip
        p = matrix.shape[-1]
        if matrix.shape[-2] != p:
            raise ShapeError(f"Wishart: {key} must be a batch of square matrices, got shape {tuple(matrix.shape)}")
        try:
            batch_shape = tuple(np.broadcast_shapes(matrix.shape[:-2], df.shape))
        except ValueError:
            raise ShapeError(f"Wishart: the batch shapes of df {tuple(df.shape)} and {key} {tuple(matrix.shape)} "
                             "do not broadcast") from None  # fmt: skip
        self.df = _expand(df, batch_shape)
        self.__dict__[key] = _expand(matrix, batch_shape + (p, p))
        # both checks from one read of the device (as PyTorch, made whatever validate_args)
        invalid, low = ops.stack([ops.any(df <= p - 1), ops.any(df < p)]).tolist() if df.size else (False, False)
        if invalid:
            raise InvalidArgumentError(f"Wishart: Value of df={df} expected to be greater than ndim - 1 = {p - 1}.")
        if low:
            warnings.warn("Low df values detected. Singular samples are highly likely to occur for ndim - 1 < df "
                          "< ndim.", stacklevel=2)  # fmt: skip
        super().__init__(batch_shape, (p, p), validate_args=validate_args)
        if key == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif key == "covariance_matrix":  # (read once for a matrix that is not positive definite, unless validated)
            self._unbroadcasted_scale_tril = _cholesky(matrix, self._validate_args)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(matrix, self._validate_args)

    @lazy_property
    def scale_tril(self) -> Tensor:
        return _expand(self._unbroadcasted_scale_tril, self._batch_shape + self._event_shape)

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril  # noqa: N806
        return _expand(ops.matmul(L, ops.swapaxes(L, -1, -2)), self._batch_shape + self._event_shape)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril  # noqa: N806
        L_inv = _solve_tril(L, _eye(L.shape[-1], L))  # noqa: N806
        return _expand(ops.matmul(ops.swapaxes(L_inv, -1, -2), L_inv), self._batch_shape + self._event_shape)

    def _df_matrix(self) -> Tensor:
        return ops.reshape(self.df, self._batch_shape + (1, 1))

    @property
    def mean(self) -> Tensor:
        return self._df_matrix() * self.covariance_matrix

    @property
    def mode(self) -> Tensor:
        """(df - p - 1) Sigma where df > p + 1, NaN elsewhere."""
        factor = self.df - self._event_shape[-1] - 1
        factor = ops.where(factor > 0, factor, math.nan)
        return ops.reshape(factor, self._batch_shape + (1, 1)) * self.covariance_matrix

    @property
    def variance(self) -> Tensor:
        """Var(X_ij) = df (Sigma_ij^2 + Sigma_ii Sigma_jj)."""
        v = self.covariance_matrix
        diag_v = ops.diagonal(v, 0, -2, -1)
        return self._df_matrix() * (ops.square(v) + ops.expand_dims(diag_v, -1) * ops.expand_dims(diag_v, -2))

    def _bartlett_sampling(self, sample_shape: Any = ()) -> Tensor:
        p = self._event_shape[-1]
        xp = self.df._backend.xp
        steps = Tensor._make(xp.arange(p, dtype=self.df.dtype), self.df._backend)
        chi2 = Chi2(ops.expand_dims(self.df, -1) - steps, validate_args=False)
        eps = float(finfo(self.df).eps)
        diag = ops.clip(ops.sqrt(chi2.rsample(sample_shape)), eps, None)
        below = ops.tril(_standard_normal(self._extended_shape(sample_shape), self.df), -1)
        chol = ops.matmul(self._unbroadcasted_scale_tril, diag_embed(diag) + below)
        return ops.matmul(chol, ops.swapaxes(chol, -1, -2))

    def rsample(self, sample_shape: Any = (), max_try_correction: int | None = None) -> Tensor:
        """A sample by the Bartlett decomposition. Draws that are not positive definite in floating point
        (likely for df < p) are drawn again, up to ``max_try_correction`` (default 10) times, with a warning
        ("Singular sample detected."); some may remain, and their log_prob is then -inf or NaN. (PyTorch 2.14
        checks the opposite condition: it warns on every sample and draws them all again.)"""
        tries = 10 if max_try_correction is None else int(max_try_correction)
        sample = self._bartlett_sampling(sample_shape)
        singular = self._singular(sample)
        if singular is not None:
            warnings.warn("Singular sample detected.", stacklevel=2)
            for _ in range(tries):
                sample = ops.where(singular, self._bartlett_sampling(sample_shape), sample)
                singular = self._singular(sample)
                if singular is None:
                    break
        return sample

    def _singular(self, sample: Tensor) -> Tensor | None:
        """Where (a bool tensor broadcasting against sample) a sample, or any of its batch, is not positive
        definite; None when none is."""
        bad = ~constraints.positive_definite.check(sample.detach())
        if not bool(ops.any(bad).item()):
            return None
        nb = len(self._batch_shape)
        if nb:
            bad = ops.any(bad, axis=tuple(range(-nb, 0)), keepdims=True)
        return ops.expand_dims(ops.expand_dims(bad, -1), -1)

    def _half_log_det_scale(self) -> Tensor:
        """p log(2) / 2 + log det(L)."""
        p = self._event_shape[-1]
        return p * _LOG_2 / 2 + ops.sum(ops.log(ops.diagonal(self._unbroadcasted_scale_tril, 0, -2, -1)), axis=-1)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        nu = self.df
        p = self._event_shape[-1]
        L_inv = _solve_tril(self._unbroadcasted_scale_tril, _eye(p, value))  # noqa: N806
        precision = ops.matmul(ops.swapaxes(L_inv, -1, -2), L_inv)  # once per batch member, not per sample
        trace = ops.sum(precision * value, axis=(-2, -1))  # tr(Sigma^-1 X), Sigma^-1 symmetric
        return (-nu * self._half_log_det_scale() - _multigammaln(nu / 2, p)
                + (nu - p - 1) / 2 * linalg.slogdet(value).logabsdet - trace / 2)  # fmt: skip

    def entropy(self) -> Tensor:
        nu = self.df
        p = self._event_shape[-1]
        return ((p + 1) * self._half_log_det_scale() + _multigammaln(nu / 2, p)
                - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p) + nu * p / 2)  # fmt: skip

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        p = self._event_shape[-1]
        return -self.precision_matrix / 2, (self.df - p - 1) / 2

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        p = self._event_shape[-1]
        return ((y + (p + 1) / 2) * (-linalg.slogdet(-2 * x).logabsdet + _LOG_2 * p)
                + _multigammaln(y + (p + 1) / 2, p))  # fmt: skip
