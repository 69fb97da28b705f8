"""``Independent``: some batch axes of a distribution reinterpreted as event axes
(``torch.distributions.Independent``): ``log_prob`` and ``entropy`` sum over them."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.distributions import constraints
from gradkit.distributions.distribution import Distribution, DistributionNotImplementedError
from gradkit.distributions.utils import _sum_rightmost
from gradkit.errors import ArgumentTypeError, InvalidArgumentError
from gradkit.tensor import Tensor

__all__ = ["Independent"]


class Independent(Distribution):
    """``base_distribution`` with its ``reinterpreted_batch_ndims`` rightmost batch axes made event axes."""

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, base_distribution: Distribution, reinterpreted_batch_ndims: int,
                 validate_args: bool | None = None) -> None:  # fmt: skip
        if not isinstance(base_distribution, Distribution):
            raise ArgumentTypeError(f"Independent: base_distribution must be a Distribution, got "
                                    f"{type(base_distribution).__name__}")  # fmt: skip
        r = reinterpreted_batch_ndims
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)):
            raise ArgumentTypeError(f"Independent: reinterpreted_batch_ndims must be an int, got {type(r).__name__}")
        if not 0 <= r <= len(base_distribution.batch_shape):
            raise InvalidArgumentError(
                "Independent: expected 0 <= reinterpreted_batch_ndims <= len(base_distribution.batch_shape), "
                f"actual {r} vs {len(base_distribution.batch_shape)}"
            )
        shape = base_distribution.batch_shape + base_distribution.event_shape
        event_dim = int(r) + len(base_distribution.event_shape)
        cut = len(shape) - event_dim
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = int(r)
        super().__init__(shape[:cut], shape[cut:], validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Distribution:
        batch_shape = self._expanded_batch_shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        new.base_dist = self.base_dist.expand(batch_shape + self._event_shape[: self.reinterpreted_batch_ndims])
        new.reinterpreted_batch_ndims = self.reinterpreted_batch_ndims
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        if self.reinterpreted_batch_ndims > 0:
            return False
        return self.base_dist.has_enumerate_support

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        result = self.base_dist.support
        if self.reinterpreted_batch_ndims:
            result = constraints.independent(result, self.reinterpreted_batch_ndims)
        return result

    def _param_like(self) -> Tensor:
        return self.base_dist._param_like()

    @property
    def mean(self) -> Tensor:
        return self.base_dist.mean

    @property
    def mode(self) -> Tensor:
        return self.base_dist.mode

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    def sample(self, sample_shape: Any = ()) -> Tensor:
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value: Any) -> Tensor:
        return _sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self) -> Tensor:
        return _sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        if self.reinterpreted_batch_ndims > 0:
            raise DistributionNotImplementedError("Independent: enumeration over a cartesian product is not "
                                                  "implemented")  # fmt: skip
        return self.base_dist.enumerate_support(expand=expand)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_dist!r}, {self.reinterpreted_batch_ndims})"
