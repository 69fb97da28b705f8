"""``VonMises(loc, concentration)``: the von Mises distribution on the circle (``torch.distributions.VonMises``).

Samples come from Best and Fisher's rejection sampler ("Efficient simulation of the von Mises distribution",
Applied Statistics 1979), vectorised: each round draws for the elements not yet accepted, until all are. It
runs in float64 whatever the parameters' dtype (in float32 the acceptance test stalls for concentrations
near 1e-4, as PyTorch notes), and its result is not differentiable (``has_rsample`` is False).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.distributions import constraints
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.utils import _standard_uniform, broadcast_all
from gradkit.ops.special_bessel import i0e, i1e
from gradkit.tensor import Tensor

__all__ = ["VonMises"]

_LOG_2PI = math.log(2 * math.pi)
_MAX_ROUNDS = 10_000  # the acceptance rate is above 65% for every concentration


def _log_i0(k: Tensor) -> Tensor:
    """log I0(k) for k >= 0, without overflow: log(i0e(k)) + k."""
    return ops.log(i0e(k)) + k


class VonMises(Distribution):
    """Density exp(concentration cos(x - loc)) / (2 pi I0(concentration)); ``loc`` and the values are angles in
    radians (any real number, read modulo 2 pi), concentration > 0. ``mean`` and ``variance`` are the circular
    ones (loc, and 1 - I1/I0 of the concentration); samples lie in [-pi, pi)."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc: Any, concentration: Any, validate_args: bool | None = None) -> None:
        self.loc, self.concentration = broadcast_all(loc, concentration, name="VonMises")
        super().__init__(self.loc.shape, validate_args=validate_args)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        return self.concentration * ops.cos(value - self.loc) - _LOG_2PI - _log_i0(self.concentration)

    @property
    def mean(self) -> Tensor:
        """The circular mean, loc."""
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        """The circular variance 1 - I1(k) / I0(k)."""
        k = self.concentration
        return 1 - i1e(k) / i0e(k)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            loc = ops.astype(self.loc.detach(), np.float64)
            kappa = ops.astype(self.concentration.detach(), np.float64)
            xp = loc._backend.xp
            k = xp.broadcast_to(kappa._data, shape).reshape(-1)
            tau = 1 + xp.sqrt(1 + 4 * k * k)
            rho = (tau - xp.sqrt(2 * tau)) / (2 * k)
            # the proposal's r = (1 + rho^2) / (2 rho); 1/k + k (second order in k) where rho cancels
            r = xp.where(k < 1e-5, 1 / k + k, (1 + rho * rho) / (2 * rho))
            x = xp.zeros(k.shape, dtype=np.float64)
            todo = xp.arange(k.size)
            rounds = 0
            while todo.size and rounds < _MAX_ROUNDS:
                rounds += 1
                u = _standard_uniform((3, todo.size), loc)._data
                kt, rt = k[todo], r[todo]
                z = xp.cos(math.pi * u[0])
                f = (1 + rt * z) / (rt + z)
                c = kt * (rt - f)
                with np.errstate(divide="ignore", invalid="ignore"):
                    accept = ((c * (2 - c) - u[1]) > 0) | (xp.log(c / u[1]) + 1 - c >= 0)
                x[todo[accept]] = xp.sign(u[2][accept] - 0.5) * xp.arccos(xp.clip(f[accept], -1.0, 1.0))
                todo = todo[~accept]
            x = x.reshape(shape)
            angle = xp.remainder(x + math.pi + loc._data, 2 * math.pi) - math.pi
            return Tensor._make(angle.astype(self.loc.dtype), self.loc._backend)
