"""Shared cases for the gamma-family tests (part two of gk.distributions): each univariate family with random
parameters (float64 NumPy arrays of shape SHAPE), how to build it, values inside its support, and its SciPy and
PyTorch equivalents used as references. Parameters are drawn where every moment the family reports is finite."""

from __future__ import annotations

import numpy as np

import gradkit as gk
import gradkit.distributions as D

SHAPE = (2, 3)


def _u(rng, low, high, shape=SHAPE):
    return rng.uniform(low, high, shape)


# name -> (parameter names in the constructor's order, draw(rng) -> dict of NumPy arrays)
PARAMS = {
    "Gamma": (("concentration", "rate"), lambda r: {"concentration": _u(r, 0.5, 3.0), "rate": _u(r, 0.5, 2.0)}),
    "Chi2": (("df",), lambda r: {"df": _u(r, 0.8, 6.0)}),
    "Beta": (("concentration1", "concentration0"),
             lambda r: {"concentration1": _u(r, 0.5, 3.0), "concentration0": _u(r, 0.5, 3.0)}),
    "StudentT": (("df", "loc", "scale"),
                 lambda r: {"df": _u(r, 2.5, 6.0), "loc": r.normal(0, 1, SHAPE), "scale": _u(r, 0.5, 2.0)}),
    "InverseGamma": (("concentration", "rate"),
                     lambda r: {"concentration": _u(r, 2.5, 5.0), "rate": _u(r, 0.5, 2.0)}),
    "FisherSnedecor": (("df1", "df2"), lambda r: {"df1": _u(r, 2.5, 8.0), "df2": _u(r, 4.5, 10.0)}),
    "Pareto": (("scale", "alpha"), lambda r: {"scale": _u(r, 0.5, 2.0), "alpha": _u(r, 2.5, 5.0)}),
    "Weibull": (("scale", "concentration"), lambda r: {"scale": _u(r, 0.5, 2.0), "concentration": _u(r, 1.2, 3.0)}),
    "Kumaraswamy": (("concentration1", "concentration0"),
                    lambda r: {"concentration1": _u(r, 1.2, 3.0), "concentration0": _u(r, 1.2, 3.0)}),
    "VonMises": (("loc", "concentration"), lambda r: {"loc": r.normal(0, 1, SHAPE), "concentration": _u(r, 0.5, 5.0)}),
    "GeneralizedPareto": (("loc", "scale", "concentration"),
                          lambda r: {"loc": r.normal(0, 1, SHAPE), "scale": _u(r, 0.5, 2.0),
                                     "concentration": _u(r, -0.3, 0.3)}),
}
FAMILIES = list(PARAMS)
#: the methods each family defines (as PyTorch's), besides log_prob, mean, mode and variance
HAS_CDF = {"Gamma", "Chi2", "InverseGamma", "Pareto", "Weibull", "Kumaraswamy", "GeneralizedPareto"}
HAS_ICDF = {"Pareto", "Weibull", "Kumaraswamy", "GeneralizedPareto"}
HAS_ENTROPY = set(FAMILIES) - {"FisherSnedecor", "VonMises"}
REPARAMETERIZED = set(FAMILIES) - {"VonMises"}


def draw_params(name, seed=0):
    return PARAMS[name][1](np.random.default_rng(seed))


def build(name, params, device="cpu", requires_grad=False, validate_args=None, dtype=None):
    """The gradkit distribution from NumPy parameters (float64 tensors on ``device`` unless ``dtype``)."""
    dtype = gk.float64 if dtype is None else dtype
    tensors = {k: gk.tensor(v, dtype=dtype, device=device, requires_grad=requires_grad) for k, v in params.items()}
    return getattr(D, name)(**tensors, validate_args=validate_args), tensors


def support_values(name, p, seed=1, n=4):
    """Values inside the support, of shape (n,) + SHAPE (float64)."""
    rng = np.random.default_rng(seed)
    shape = (n,) + SHAPE
    if name in ("Beta", "Kumaraswamy"):
        return rng.uniform(0.05, 0.95, shape)
    if name in ("Gamma", "Chi2", "InverseGamma", "FisherSnedecor", "Weibull"):
        return rng.uniform(0.1, 3.0, shape)
    if name == "Pareto":
        return p["scale"] * rng.uniform(1.05, 3.0, shape)
    if name == "GeneralizedPareto":
        c = p["concentration"]
        top = np.where(c < 0, -p["scale"] / np.where(c < 0, c, -1.0), 3.0 * p["scale"])  # below the upper end
        return p["loc"] + rng.uniform(0.02, 0.95, shape) * top
    return rng.normal(0.0, 1.5, shape)  # StudentT, VonMises


def scipy_dist(name, p):
    from scipy import stats

    if name == "Gamma":
        return stats.gamma(p["concentration"], scale=1 / p["rate"])
    if name == "Chi2":
        return stats.chi2(p["df"])
    if name == "Beta":
        return stats.beta(p["concentration1"], p["concentration0"])
    if name == "StudentT":
        return stats.t(p["df"], p["loc"], p["scale"])
    if name == "InverseGamma":
        return stats.invgamma(p["concentration"], scale=p["rate"])
    if name == "FisherSnedecor":
        return stats.f(p["df1"], p["df2"])
    if name == "Pareto":
        return stats.pareto(p["alpha"], scale=p["scale"])
    if name == "Weibull":
        return stats.weibull_min(p["concentration"], scale=p["scale"])
    if name == "VonMises":
        return stats.vonmises(p["concentration"], loc=p["loc"])
    if name == "GeneralizedPareto":
        return stats.genpareto(p["concentration"], loc=p["loc"], scale=p["scale"])
    raise KeyError(name)  # Kumaraswamy: not in SciPy (closed forms instead)


def torch_dist(name, params, dtype=None):
    import torch

    kwargs = {k: torch.tensor(v, dtype=dtype or torch.float64) for k, v in params.items()}
    return getattr(torch.distributions, name)(**kwargs)
