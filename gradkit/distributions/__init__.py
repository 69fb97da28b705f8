"""``gk.distributions``: probability distributions with PyTorch's ``torch.distributions`` names, shapes and
behaviour, differentiable through gradkit ops on NumPy and CuPy.

Each family is a :class:`Distribution` (``batch_shape``, ``event_shape``, ``sample``/``rsample``,
``log_prob``, ``cdf``, ``icdf``, ``entropy``, ``mean``, ``variance``, ...). ``constraints`` holds the
regions parameters and values live in, ``transforms`` the maps between them, ``biject_to``/``transform_to``
the map onto each constraint, and ``kl_divergence``/``register_kl`` the KL divergences between families.
Sampling draws from gradkit's generator on the parameters' device, so ``gk.manual_seed`` repeats it.
Importing this package imports neither SciPy nor CuPy.
"""

from gradkit.distributions import constraints, kl_discrete, kl_gamma, transforms
from gradkit.distributions.bernoulli import Bernoulli
from gradkit.distributions.beta import Beta
from gradkit.distributions.binomial import Binomial
from gradkit.distributions.categorical import Categorical
from gradkit.distributions.cauchy import Cauchy
from gradkit.distributions.chi2 import Chi2
from gradkit.distributions.constraint_registry import biject_to, transform_to
from gradkit.distributions.continuous_bernoulli import ContinuousBernoulli
from gradkit.distributions.dirichlet import Dirichlet
from gradkit.distributions.distribution import Distribution, DistributionNotImplementedError
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.exponential import Exponential
from gradkit.distributions.fisher_snedecor import FisherSnedecor
from gradkit.distributions.gamma import Gamma
from gradkit.distributions.generalized_pareto import GeneralizedPareto
from gradkit.distributions.geometric import Geometric
from gradkit.distributions.gumbel import Gumbel
from gradkit.distributions.half_cauchy import HalfCauchy
from gradkit.distributions.half_normal import HalfNormal
from gradkit.distributions.independent import Independent
from gradkit.distributions.inverse_gamma import InverseGamma
from gradkit.distributions.kl import kl_divergence, register_kl
from gradkit.distributions.kumaraswamy import Kumaraswamy
from gradkit.distributions.laplace import Laplace
from gradkit.distributions.lkj_cholesky import LKJCholesky
from gradkit.distributions.log_normal import LogNormal
from gradkit.distributions.logistic_normal import LogisticNormal
from gradkit.distributions.lowrank_multivariate_normal import LowRankMultivariateNormal
from gradkit.distributions.mixture_same_family import MixtureSameFamily
from gradkit.distributions.multinomial import Multinomial
from gradkit.distributions.multivariate_normal import MultivariateNormal
from gradkit.distributions.negative_binomial import NegativeBinomial
from gradkit.distributions.normal import Normal
from gradkit.distributions.one_hot_categorical import OneHotCategorical, OneHotCategoricalStraightThrough
from gradkit.distributions.pareto import Pareto
from gradkit.distributions.poisson import Poisson
from gradkit.distributions.relaxed_bernoulli import LogitRelaxedBernoulli, RelaxedBernoulli
from gradkit.distributions.relaxed_categorical import ExpRelaxedCategorical, RelaxedOneHotCategorical
from gradkit.distributions.student_t import StudentT
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
from gradkit.distributions.von_mises import VonMises
from gradkit.distributions.weibull import Weibull
from gradkit.distributions.wishart import Wishart

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
__all__ += [  # the discrete and relaxed families
    "Bernoulli", "Binomial", "Categorical", "ContinuousBernoulli", "ExpRelaxedCategorical", "Geometric",
    "LogitRelaxedBernoulli", "MixtureSameFamily", "Multinomial", "NegativeBinomial", "OneHotCategorical",
    "OneHotCategoricalStraightThrough", "Poisson", "RelaxedBernoulli", "RelaxedOneHotCategorical",
]
__all__ += [  # the gamma family and the other continuous families of part two
    "Beta", "Chi2", "Dirichlet", "FisherSnedecor", "Gamma", "GeneralizedPareto", "InverseGamma", "Kumaraswamy",
    "LKJCholesky", "Pareto", "StudentT", "VonMises", "Weibull", "Wishart",
]
