"""Shared cases for the gk.distributions tests: each univariate family with random parameters (float64
NumPy arrays), how to build it from tensors, and the SciPy (and PyTorch) equivalents used as references."""

from __future__ import annotations

import numpy as np

import gradkit as gk
import gradkit.distributions as D

SHAPE = (2, 3)


def _pos(rng, shape=SHAPE, low=0.5, high=2.0):
    return rng.uniform(low, high, shape)


def _real(rng, shape=SHAPE):
    return rng.normal(0.0, 1.0, shape)


# name -> (parameter names, draw(rng) -> dict of NumPy arrays)
PARAMS = {
    "Normal": (("loc", "scale"), lambda r: {"loc": _real(r), "scale": _pos(r)}),
    "Uniform": (("low", "high"), lambda r: (lambda lo: {"low": lo, "high": lo + _pos(r)})(_real(r))),
    "Exponential": (("rate",), lambda r: {"rate": _pos(r)}),
    "Laplace": (("loc", "scale"), lambda r: {"loc": _real(r), "scale": _pos(r)}),
    "LogNormal": (("loc", "scale"), lambda r: {"loc": 0.3 * _real(r), "scale": _pos(r, low=0.3, high=1.0)}),
    "Cauchy": (("loc", "scale"), lambda r: {"loc": _real(r), "scale": _pos(r)}),
    "Gumbel": (("loc", "scale"), lambda r: {"loc": _real(r), "scale": _pos(r)}),
    "HalfNormal": (("scale",), lambda r: {"scale": _pos(r)}),
    "HalfCauchy": (("scale",), lambda r: {"scale": _pos(r)}),
}
FAMILIES = list(PARAMS)


def draw_params(name, seed=0):
    return PARAMS[name][1](np.random.default_rng(seed))


def build(name, params, device="cpu", requires_grad=False, validate_args=None):
    """The gradkit distribution from NumPy parameters (float64 tensors on ``device``)."""
    tensors = {k: gk.tensor(v, dtype=gk.float64, device=device, requires_grad=requires_grad) for k, v in params.items()}
    return getattr(D, name)(**tensors, validate_args=validate_args), tensors


def scipy_dist(name, p):
    from scipy import stats

    if name == "Normal":
        return stats.norm(p["loc"], p["scale"])
    if name == "Uniform":
        return stats.uniform(p["low"], p["high"] - p["low"])
    if name == "Exponential":
        return stats.expon(scale=1 / p["rate"])
    if name == "Laplace":
        return stats.laplace(p["loc"], p["scale"])
    if name == "LogNormal":
        return stats.lognorm(s=p["scale"], scale=np.exp(p["loc"]))
    if name == "Cauchy":
        return stats.cauchy(p["loc"], p["scale"])
    if name == "Gumbel":
        return stats.gumbel_r(p["loc"], p["scale"])
    if name == "HalfNormal":
        return stats.halfnorm(scale=p["scale"])
    if name == "HalfCauchy":
        return stats.halfcauchy(scale=p["scale"])
    raise KeyError(name)


def support_values(name, p, seed=1, n=4):
    """Values inside the support, of shape (n,) + SHAPE (float64)."""
    rng = np.random.default_rng(seed)
    if name == "Uniform":
        return p["low"] + rng.uniform(0.05, 0.95, (n,) + SHAPE) * (p["high"] - p["low"])
    if name in ("Exponential", "HalfNormal", "HalfCauchy"):
        return rng.uniform(0.1, 3.0, (n,) + SHAPE)
    if name == "LogNormal":
        return rng.uniform(0.2, 3.0, (n,) + SHAPE)
    return rng.normal(0.0, 1.5, (n,) + SHAPE)
