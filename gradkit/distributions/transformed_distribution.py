"""``TransformedDistribution``: a base distribution pushed through a chain of transforms
(``torch.distributions.TransformedDistribution``).

A sample is ``transforms[-1](...transforms[0](base.sample()))``; ``log_prob`` inverts the chain and subtracts
each step's ``log_abs_det_jacobian``; ``cdf``/``icdf`` go through the chain (monotone univariate transforms;
a decreasing chain flips the probability).
"""

from __future__ import annotations

from typing import Any

from gradkit.autograd.grad_mode import no_grad
from gradkit.distributions import constraints
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.independent import Independent
from gradkit.distributions.transforms import ComposeTransform, Transform
from gradkit.distributions.utils import _sum_rightmost
from gradkit.errors import ArgumentTypeError, ShapeError
from gradkit.tensor import Tensor

__all__ = ["TransformedDistribution"]


class TransformedDistribution(Distribution):
    """``base_distribution`` transformed by ``transforms`` (a Transform or a list of them, applied in order)."""

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, base_distribution: Distribution, transforms: Any, validate_args: bool | None = None) -> None:
        name = type(self).__name__
        if isinstance(transforms, Transform):
            self.transforms = [transforms]
        elif isinstance(transforms, (list, tuple)):
            if not all(isinstance(t, Transform) for t in transforms):
                raise ArgumentTypeError(f"{name}: transforms must be a Transform or a list of Transforms")
            self.transforms = list(transforms)
        else:
            raise ArgumentTypeError(f"{name}: transforms must be a Transform or a list of Transforms, got "
                                    f"{type(transforms).__name__}")  # fmt: skip
        if not isinstance(base_distribution, Distribution):
            raise ArgumentTypeError(f"{name}: base_distribution must be a Distribution, got "
                                    f"{type(base_distribution).__name__}")  # fmt: skip
        base_shape = base_distribution.batch_shape + base_distribution.event_shape
        base_event_dim = len(base_distribution.event_shape)
        transform = ComposeTransform(self.transforms)
        if len(base_shape) < transform.domain.event_dim:
            raise ShapeError(f"{name}: base_distribution needs a shape of at least {transform.domain.event_dim} "
                             f"dimensions, got {base_shape}")  # fmt: skip
        forward_shape = transform.forward_shape(base_shape)
        expanded_base_shape = transform.inverse_shape(forward_shape)
        if base_shape != expanded_base_shape:
            cut = len(expanded_base_shape) - base_event_dim
            base_distribution = base_distribution.expand(expanded_base_shape[:cut])
        reinterpreted = transform.domain.event_dim - base_event_dim
        if reinterpreted > 0:
            base_distribution = Independent(base_distribution, reinterpreted)
        self.base_dist = base_distribution
        change = transform.codomain.event_dim - transform.domain.event_dim
        event_dim = max(transform.codomain.event_dim, base_event_dim + change)
        cut = len(forward_shape) - event_dim
        super().__init__(forward_shape[:cut], forward_shape[cut:], validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Distribution:
        batch_shape = self._expanded_batch_shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        shape = batch_shape + self._event_shape
        for t in reversed(self.transforms):
            shape = t.inverse_shape(shape)
        base_batch_shape = shape[: len(shape) - len(self.base_dist.event_shape)]
        new.base_dist = self.base_dist.expand(base_batch_shape)
        new.transforms = self.transforms
        self._copy_expanded(new, batch_shape)  # a subclass's parameters (Gumbel's loc, scale) broadcast too
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _share_validation(self, base: Distribution) -> None:
        """Give ``base`` (made with ``validate_args=False`` so that this family's own check names it) this
        distribution's setting: its own when given, else the class default."""
        if "_validate_args" in self.__dict__:
            base._validate_args = self._validate_args
        else:
            base.__dict__.pop("_validate_args", None)

    @constraints.dependent_property(is_discrete=False)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        if not self.transforms:
            return self.base_dist.support
        support = self.transforms[-1].codomain
        if len(self.event_shape) > support.event_dim:
            support = constraints.independent(support, len(self.event_shape) - support.event_dim)
        return support

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return self.base_dist.has_rsample

    def _param_like(self) -> Tensor:
        return self.base_dist._param_like()

    def sample(self, sample_shape: Any = ()) -> Tensor:
        with no_grad():
            x = self.base_dist.sample(sample_shape)
            for t in self.transforms:
                x = t(x)
            return x

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        x = self.base_dist.rsample(sample_shape)
        for t in self.transforms:
            x = t(x)
        return x

    def log_prob(self, value: Any) -> Tensor:
        y = self._value(value)
        event_dim = len(self.event_shape)
        log_prob: Any = 0.0
        for t in reversed(self.transforms):
            x = t.inv(y)
            event_dim += t.domain.event_dim - t.codomain.event_dim
            log_prob = log_prob - _sum_rightmost(t.log_abs_det_jacobian(x, y), event_dim - t.domain.event_dim)
            y = x
        return log_prob + _sum_rightmost(self.base_dist.log_prob(y), event_dim - len(self.base_dist.event_shape))

    def _monotonize_cdf(self, value: Tensor) -> Tensor:
        """value, or 1 - value where the chain is decreasing (its sign -1)."""
        sign: Any = 1
        for t in self.transforms:
            sign = sign * t.sign
        if isinstance(sign, int) and sign == 1:
            return value
        return sign * (value - 0.5) + 0.5

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value, validate=False)
        for t in reversed(self.transforms):
            value = t.inv(value)
        if self._validate_args:
            self.base_dist._validate_sample(value)
        return self._monotonize_cdf(self.base_dist.cdf(value))

    def icdf(self, value: Any) -> Tensor:
        value = self._monotonize_cdf(self._value(value, validate=False))
        value = self.base_dist.icdf(value)
        for t in self.transforms:
            value = t(value)
        return value
