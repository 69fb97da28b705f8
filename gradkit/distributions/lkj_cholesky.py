"""``LKJCholesky(dim, concentration=1.0)``: the LKJ distribution over Cholesky factors of correlation matrices
(``torch.distributions.LKJCholesky``, after NumPyro's).

For L ~ LKJCholesky(dim, eta), the correlation matrix L L^T has density proportional to det(L L^T)^(eta - 1)
(eta = 1: uniform over correlation matrices). Sampling is the onion method of Lewandowski, Kurowicka and Joe
("Generating random correlation matrices based on vines and extended onion method", 2009, section 3.2),
vectorised over the rows: row i (i >= 1) is sqrt(y_i) times a uniform direction in its first i coordinates,
y_i ~ Beta(i/2, eta + (dim - 2)/2 - (i - 1)/2), and the diagonal entry makes its length 1. Every off-diagonal
entry r of L L^T then has (r + 1)/2 ~ Beta(b, b), b = eta - 1 + dim/2.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.distributions import constraints
from gradkit.distributions.beta import Beta
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.utils import _standard_normal, broadcast_all, diag_embed, finfo
from gradkit.distributions.wishart import _multigammaln
from gradkit.errors import ArgumentTypeError, InvalidArgumentError
from gradkit.tensor import Tensor

__all__ = ["LKJCholesky"]


class LKJCholesky(Distribution):
    """Lower Cholesky factors (``event_shape`` (dim, dim), dim >= 2) of correlation matrices whose density is
    proportional to det^(concentration - 1), concentration > 0."""

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky
    has_rsample = False

    def __init__(self, dim: int, concentration: Any = 1.0, validate_args: bool | None = None) -> None:
        if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
            raise ArgumentTypeError(f"LKJCholesky: dim must be an int, got {type(dim).__name__} {dim!r:.40}")
        if dim < 2:
            raise InvalidArgumentError(f"LKJCholesky: Expected dim to be an integer greater than or equal to 2. "
                                       f"Found dim={dim}.")  # fmt: skip
        self.dim = int(dim)
        (self.concentration,) = broadcast_all(concentration, name="LKJCholesky")
        super().__init__(self.concentration.shape, (self.dim, self.dim), validate_args=validate_args)

    def _beta(self) -> Beta:
        """The Beta distributions of the squared lengths y_i of the rows' off-diagonal parts, i = 0 .. dim - 1:
        Beta(i/2, eta + (dim - 2)/2 - (i - 1)/2) for i >= 1 (row 0's is drawn and not used). PyTorch 2.14 takes
        (i - 1) + 1/2 for the first parameter, which gives rows 2 and beyond too little correlation (for dim 3,
        eta 2: a variance of 0.215 for L L^T's entry (2, 1), where every off-diagonal entry has 1/6)."""
        c = self.concentration
        xp = c._backend.xp
        offset = np.concatenate([[0.0], np.arange(self.dim - 1, dtype=np.float64)])
        off = Tensor._make(xp.asarray(offset, dtype=c.dtype), c._backend)
        marginal = c + 0.5 * (self.dim - 2)
        return Beta(0.5 * off + 0.5, ops.expand_dims(marginal, -1) - 0.5 * off, validate_args=False)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            y = ops.expand_dims(self._beta().sample(sample_shape), -1)
            u_normal = ops.tril(_standard_normal(shape, self.concentration), -1)
            norm = ops.sqrt(ops.sum(ops.square(u_normal), axis=-1, keepdims=True))
            first_row = Tensor._make(u_normal._backend.xp.arange(self.dim)[:, None] == 0, u_normal._backend)
            # row 0 has no off-diagonal part (0 / 0): 0 there
            u_hypersphere = ops.where(first_row, 0.0, u_normal / ops.where(first_row, 1.0, norm))
            w = ops.sqrt(y) * u_hypersphere
            tiny = float(finfo(w).tiny)
            diag = ops.sqrt(ops.clip(1 - ops.sum(ops.square(w), axis=-1), tiny, None))
            return w + diag_embed(diag)

    def log_prob(self, value: Any) -> Tensor:
        # The density of a correlation matrix is proportional to det^(eta - 1) = prod L_ii^(2 (eta - 1)), and the
        # Jacobian from the Cholesky factor to the matrix is prod L_ii^(dim - i) (i from 1): the factor's density
        # is proportional to prod L_ii^(2 eta - 2 + dim - i).
        value = self._value(value)
        c = self.concentration
        diag_elems = ops.diagonal(value, 0, -2, -1)[..., 1:]
        xp = c._backend.xp
        order = Tensor._make(xp.arange(2, self.dim + 1, dtype=c.dtype), c._backend)
        order = 2 * ops.expand_dims(c - 1, -1) + self.dim - order
        unnormalized = ops.sum(order * ops.log(diag_elems), axis=-1)
        dm1 = self.dim - 1
        alpha = c + 0.5 * dm1
        denominator = ops.lgamma(alpha) * dm1
        numerator = _multigammaln(alpha - 0.5, dm1)  # (no read of the device to check alpha)
        # the pi term of the normalising constant (page 1999 of the paper) is dim (dim - 1)/4 log(pi);
        # multigammaln's is (dim - 1)(dim - 2)/4 log(pi): the rest is (dim - 1)/2 log(pi)
        pi_constant = 0.5 * dm1 * math.log(math.pi)
        return unnormalized - (pi_constant + numerator - denominator)
