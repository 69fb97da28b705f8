"""``ExponentialFamily``: distributions of the form p(x; θ) = exp(<t(x), θ> - F(θ) + k(x)).

A subclass defines ``_natural_params`` (a tuple of tensors θ), ``_log_normalizer(*θ)`` (F) and
``_mean_carrier_measure`` (E[k(x)]); ``entropy`` then follows from the gradient of F (a generic fallback; the
families here define their own closed forms), and ``kl_divergence`` between two members of the same family
from the Bregman divergence of F (registered in ``kl.py``).
"""

from __future__ import annotations

from typing import Any

import gradkit.ops as ops
from gradkit.autograd.api import grad
from gradkit.distributions.distribution import Distribution, DistributionNotImplementedError
from gradkit.tensor import Tensor

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """The base class of exponential-family distributions (PyTorch's ``ExponentialFamily``)."""

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        raise DistributionNotImplementedError(f"{type(self).__name__} does not define _natural_params")

    def _log_normalizer(self, *natural_params: Any) -> Tensor:
        raise DistributionNotImplementedError(f"{type(self).__name__} does not define _log_normalizer")

    @property
    def _mean_carrier_measure(self) -> Any:
        raise DistributionNotImplementedError(f"{type(self).__name__} does not define _mean_carrier_measure")

    def entropy(self) -> Tensor:
        """F(θ) - <θ, ∇F(θ)> - E[k(x)] (the Bregman form), each inner product summed over its parameter's
        event axes. Differentiable in the distribution's parameters (PyTorch's detaches the natural parameters,
        so no gradient reaches them through this fallback; the values are the same)."""
        nparams = [p if p.requires_grad else p.detach().requires_grad_() for p in self._natural_params]
        lg_normal = self._log_normalizer(*nparams)
        gradients = grad(ops.sum(lg_normal), nparams, create_graph=True)
        result = lg_normal - self._mean_carrier_measure
        for p, g in zip(nparams, gradients, strict=True):
            result = result - ops.sum(ops.reshape(p * g, self._batch_shape + (-1,)), axis=-1)
        return result
