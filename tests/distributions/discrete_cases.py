"""Shared cases for the tests of the discrete and relaxed families of gk.distributions: random parameters
(float64 NumPy arrays of batch shape SHAPE), how to build each family from them, values in the support, and
the SciPy (and PyTorch) equivalents used as references. Kept apart from dist_cases.FAMILIES (the continuous
families' table)."""

from __future__ import annotations

import numpy as np

import gradkit as gk
import gradkit.distributions as D

SHAPE = (2, 3)
K = 4  # categories of the categorical families


def _unit(rng, low=0.1, high=0.9, shape=SHAPE):
    return rng.uniform(low, high, shape)


# name -> (parameter names, draw(rng) -> dict of NumPy arrays)
PARAMS = {
    "Bernoulli": (("probs",), lambda r: {"probs": _unit(r)}),
    "Geometric": (("probs",), lambda r: {"probs": _unit(r, 0.2, 0.9)}),
    "Poisson": (("rate",), lambda r: {"rate": r.uniform(0.5, 4.0, SHAPE)}),
    "Binomial": (("total_count", "probs"),
                 lambda r: {"total_count": r.integers(1, 9, SHAPE).astype(np.float64), "probs": _unit(r)}),
    "NegativeBinomial": (("total_count", "probs"),
                         lambda r: {"total_count": r.uniform(0.5, 4.0, SHAPE), "probs": _unit(r, 0.1, 0.8)}),
    "ContinuousBernoulli": (("probs",), lambda r: {"probs": _unit(r, 0.05, 0.45)}),
    "Categorical": (("probs",), lambda r: {"probs": r.uniform(0.1, 1.0, SHAPE + (K,))}),
    "OneHotCategorical": (("probs",), lambda r: {"probs": r.uniform(0.1, 1.0, SHAPE + (K,))}),
}
FAMILIES = list(PARAMS)
EVENT_SHAPES = {"OneHotCategorical": (K,)}


def draw_params(name, seed=0):
    return PARAMS[name][1](np.random.default_rng(seed))


def tensor(x, device="cpu", requires_grad=False):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device=device, requires_grad=requires_grad)


def build(name, params, device="cpu", requires_grad=False, validate_args=None):
    """The gradkit distribution from NumPy parameters (float64 tensors on ``device``)."""
    tensors = {k: tensor(v, device, requires_grad) for k, v in params.items()}
    return getattr(D, name)(**tensors, validate_args=validate_args), tensors


def support_values(name, p, seed=1, n=4):
    """Values inside the support: shape (n,) + SHAPE (+ event shape), float64."""
    rng = np.random.default_rng(seed)
    shape = (n,) + SHAPE
    if name == "Bernoulli":
        return rng.integers(0, 2, shape).astype(np.float64)
    if name in ("Geometric", "Poisson", "NegativeBinomial"):
        return rng.integers(0, 7, shape).astype(np.float64)
    if name == "Binomial":
        return np.floor(rng.uniform(0, 1, shape) * (p["total_count"] + 1))
    if name == "ContinuousBernoulli":
        return rng.uniform(0.02, 0.98, shape)
    if name == "Categorical":
        return rng.integers(0, K, shape).astype(np.float64)
    if name == "OneHotCategorical":
        return np.eye(K)[rng.integers(0, K, shape)]
    raise KeyError(name)


def scipy_dist(name, p):
    """The SciPy distribution with the same law (None where SciPy has none)."""
    from scipy import stats

    if name == "Bernoulli":
        return stats.bernoulli(p["probs"])
    if name == "Geometric":
        return stats.geom(p["probs"], loc=-1)  # SciPy counts the trials, PyTorch the failures
    if name == "Poisson":
        return stats.poisson(p["rate"])
    if name == "Binomial":
        return stats.binom(p["total_count"], p["probs"])
    if name == "NegativeBinomial":
        return stats.nbinom(p["total_count"], 1 - p["probs"])  # SciPy's p is the other outcome's
    return None


def cb_density(lam, x):
    """The continuous Bernoulli density C(lam) lam^x (1 - lam)^(1 - x), C = 2 artanh(1 - 2 lam) / (1 - 2 lam)."""
    lam = np.asarray(lam, dtype=np.float64)
    t = 1 - 2 * lam
    c = np.where(t == 0, 2.0, 2 * np.arctanh(t) / np.where(t == 0, 1.0, t))
    return c * lam**x * (1 - lam) ** (1 - x)


def cb_moments(lam):
    """Mean, variance, entropy of a continuous Bernoulli by quadrature (one parameter)."""
    from scipy import integrate

    m = integrate.quad(lambda x: x * cb_density(lam, x), 0, 1, epsabs=1e-14, epsrel=1e-13)[0]
    m2 = integrate.quad(lambda x: x * x * cb_density(lam, x), 0, 1, epsabs=1e-14, epsrel=1e-13)[0]
    h = integrate.quad(lambda x: -cb_density(lam, x) * np.log(cb_density(lam, x)), 0, 1, epsabs=1e-14,
                       epsrel=1e-13)[0]  # fmt: skip
    return m, m2 - m * m, h


def torch_dist(name, params):
    import torch

    return getattr(torch.distributions, name)(**{k: torch.tensor(v) for k, v in params.items()})
