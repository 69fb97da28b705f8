"""``gk.distributions``: probability distributions with PyTorch's ``torch.distributions`` names, shapes and
behaviour, differentiable through gradkit ops on NumPy and CuPy.

Each family is a :class:`Distribution` (``batch_shape``, ``event_shape``, ``sample``/``rsample``,
``log_prob``, ``cdf``, ``icdf``, ``entropy``, ``mean``, ``variance``, ...). ``constraints`` holds the
regions parameters and values live in, ``transforms`` the maps between them, ``biject_to``/``transform_to``
the map onto each constraint, and ``kl_divergence``/``register_kl`` the KL divergences between families.
Sampling draws from gradkit's generator on the parameters' device, so ``gk.manual_seed`` repeats it.
Importing this package imports neither SciPy nor CuPy.
"""

from gradkit.distributions import constraints, transforms
from gradkit.distributions.cauchy import Cauchy
from gradkit.distributions.constraint_registry import biject_to, transform_to
from gradkit.distributions.distribution import Distribution, DistributionNotImplementedError
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.exponential import Exponential
from gradkit.distributions.gumbel import Gumbel
from gradkit.distributions.half_cauchy import HalfCauchy
from gradkit.distributions.half_normal import HalfNormal
from gradkit.distributions.independent import Independent
from gradkit.distributions.kl import kl_divergence, register_kl
from gradkit.distributions.laplace import Laplace
from gradkit.distributions.log_normal import LogNormal
from gradkit.distributions.logistic_normal import LogisticNormal
from gradkit.distributions.lowrank_multivariate_normal import LowRankMultivariateNormal
from gradkit.distributions.multivariate_normal import MultivariateNormal
from gradkit.distributions.normal import Normal
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)
from gradkit.distributions.uniform import Uniform

__all__ = [
    "AbsTransform", "AffineTransform", "CatTransform", "Cauchy", "ComposeTransform", "CorrCholeskyTransform",
    "CumulativeDistributionTransform", "Distribution", "DistributionNotImplementedError", "ExpTransform",
    "Exponential", "ExponentialFamily", "Gumbel", "HalfCauchy", "HalfNormal", "Independent",
    "IndependentTransform", "Laplace", "LogNormal", "LogisticNormal", "LowRankMultivariateNormal",
    "LowerCholeskyTransform", "MultivariateNormal", "Normal", "PositiveDefiniteTransform", "PowerTransform",
    "ReshapeTransform", "SigmoidTransform", "SoftmaxTransform", "SoftplusTransform", "StackTransform",
    "StickBreakingTransform", "TanhTransform", "Transform", "TransformedDistribution", "Uniform", "biject_to",
    "constraints", "identity_transform", "kl_divergence", "register_kl", "transform_to", "transforms",
]
