"""KL divergences of the gamma family (kl_gamma.py): the closed forms against Monte Carlo estimates (fixed seed,
loose), against each other (Beta and the two-coordinate Dirichlet, the Bregman form of the exponential
families) and against formulas written out here; the infinite cases; and the dispatch of the subclasses
(Chi2 as a Gamma, InverseGamma through its transform)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import gradkit as gk
import gradkit.distributions as D
from gradkit.distributions.kl import _kl_expfamily_expfamily


def _t(x, device):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device=device)


def _mc_kl(p, q, n=40000):
    gk.manual_seed(0)
    x = p.expand(np.broadcast_shapes(p.batch_shape, q.batch_shape)).sample((n,))
    return (p.log_prob(x) - q.log_prob(x)).mean(axis=0).numpy()


# p's family, its parameters; q's family, its parameters (lists of length-2 batches)
MC_CASES = [
    ("Gamma", [[0.7, 3.0], [1.5, 0.5]], "Gamma", [[1.2, 2.0], [1.0, 0.8]]),
    ("Chi2", [[3.0, 0.8]], "Gamma", [[1.2, 0.3], [0.7, 0.4]]),
    ("Beta", [[0.7, 3.0], [1.5, 2.0]], "Beta", [[1.2, 2.0], [1.0, 0.8]]),
    ("Pareto", [[1.0, 2.0], [3.0, 4.0]], "Pareto", [[0.5, 1.5], [2.0, 2.5]]),
    ("Exponential", [[0.7, 2.0]], "Gamma", [[1.2, 2.0], [1.0, 0.8]]),
    ("Gamma", [[0.7, 3.0], [1.5, 0.5]], "Exponential", [[0.6, 0.2]]),
    ("Gamma", [[2.7, 3.0], [1.5, 0.5]], "Normal", [[1.0, 5.0], [1.5, 3.0]]),
    ("Gamma", [[2.7, 3.0], [1.5, 0.5]], "Gumbel", [[1.0, 5.0], [1.5, 3.0]]),
    ("Beta", [[0.7, 3.0], [1.5, 2.0]], "Normal", [[0.3, 0.8], [0.5, 1.0]]),
    ("Beta", [[0.7, 3.0], [1.5, 2.0]], "Exponential", [[0.6, 2.0]]),
    ("Beta", [[1.7, 3.0], [1.5, 2.0]], "Gamma", [[1.2, 2.0], [1.0, 0.8]]),
    ("Beta", [[0.7, 3.0], [1.5, 2.0]], "Uniform", [[-0.5, 0.0], [1.0, 2.0]]),
    ("Pareto", [[1.0, 2.0], [3.0, 4.0]], "Exponential", [[0.6, 0.2]]),
    ("Pareto", [[1.0, 2.0], [3.0, 4.0]], "Gamma", [[1.2, 2.0], [1.0, 0.8]]),
    ("Pareto", [[1.0, 2.0], [5.0, 6.0]], "Normal", [[1.0, 3.0], [1.5, 3.0]]),
    ("Uniform", [[0.1, 0.3], [0.6, 0.9]], "Beta", [[1.2, 2.0], [1.0, 0.8]]),
    ("Uniform", [[0.1, 0.0], [0.6, 2.0]], "Gamma", [[1.2, 2.0], [1.0, 0.8]]),
    ("Uniform", [[1.1, 3.0], [1.6, 5.0]], "Pareto", [[1.0, 2.0], [3.0, 1.5]]),
    ("InverseGamma", [[2.7, 3.0], [1.5, 0.5]], "InverseGamma", [[1.2, 2.0], [1.0, 0.8]]),
]


def _make(name, params, device):
    return getattr(D, name)(*[_t(v, device) for v in params])


@pytest.mark.parametrize("case", range(len(MC_CASES)), ids=[f"{c[0]}-{c[2]}" for c in MC_CASES])
def test_kl_matches_monte_carlo(case, device):
    pname, pp, qname, qp = MC_CASES[case]
    p, q = _make(pname, pp, device), _make(qname, qp, device)
    kl = D.kl_divergence(p, q).numpy()
    assert kl.shape == (2,) and (kl >= -1e-12).all() and np.isfinite(kl).all()
    rtol = 0.15 if pname == "Pareto" else 0.05  # (Pareto's heavy tail)
    np.testing.assert_allclose(kl, _mc_kl(p, q), rtol=rtol, atol=0.02)


def test_multivariate_kls_by_monte_carlo(device):
    p = D.Dirichlet(_t([[0.7, 1.5, 3.0], [2.0, 1.0, 0.5]], device))
    q = D.Dirichlet(_t([1.0, 2.0, 2.5], device))
    np.testing.assert_allclose(D.kl_divergence(p, q).numpy(), _mc_kl(p, q), rtol=0.05)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    w1 = D.Wishart(_t([4.0, 6.5], device), _t(a @ a.T + np.eye(2), device))
    w2 = D.Wishart(_t(5.0, device), _t(b @ b.T + np.eye(2), device))
    kl = D.kl_divergence(w1, w2).numpy()
    np.testing.assert_allclose(kl, _mc_kl(w1, w2, 20000), rtol=0.05)
    assert D.kl_divergence(w1, w1).numpy() == pytest.approx([0.0, 0.0], abs=1e-12)


def test_closed_forms(device):
    a1, r1, a2, r2 = 0.7, 1.5, 2.0, 0.4
    digamma = _digamma(a1)
    expected = a2 * math.log(r1 / r2) + math.lgamma(a2) - math.lgamma(a1) + (a1 - a2) * digamma + (r2 - r1) * a1 / r1
    g1, g2 = D.Gamma(_t(a1, device), _t(r1, device)), D.Gamma(_t(a2, device), _t(r2, device))
    assert D.kl_divergence(g1, g2).item() == pytest.approx(expected, rel=1e-12)
    assert D.kl_divergence(g1, g1).item() == pytest.approx(0.0, abs=1e-14)
    # Exponential(r) is Gamma(1, r)
    e = D.Exponential(_t(r1, device))
    np.testing.assert_allclose(D.kl_divergence(e, g2).numpy(), D.kl_divergence(D.Gamma(_t(1.0, device),
                               _t(r1, device)), g2).numpy(), rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(D.kl_divergence(g1, e).numpy(), D.kl_divergence(g1, D.Gamma(_t(1.0, device),
                               _t(r1, device))).numpy(), rtol=1e-12)  # fmt: skip
    # Beta is the two-coordinate Dirichlet; the Bregman forms agree with the closed ones
    b1 = D.Beta(_t([0.7, 2.0], device), _t([1.5, 0.6], device))
    b2 = D.Beta(_t([1.3, 0.9], device), _t([2.5, 4.0], device))
    d1 = D.Dirichlet(gk.stack([b1.concentration1, b1.concentration0], -1))
    d2 = D.Dirichlet(gk.stack([b2.concentration1, b2.concentration0], -1))
    kl = D.kl_divergence(b1, b2).numpy()
    np.testing.assert_allclose(kl, D.kl_divergence(d1, d2).numpy(), rtol=1e-12)
    np.testing.assert_allclose(kl, _kl_expfamily_expfamily(b1, b2).numpy(), rtol=1e-10)
    np.testing.assert_allclose(D.kl_divergence(d1, d2).numpy(), _kl_expfamily_expfamily(d1, d2).numpy(), rtol=1e-10)
    np.testing.assert_allclose(D.kl_divergence(g1, g2).numpy(), _kl_expfamily_expfamily(g1, g2).numpy(), rtol=1e-10)
    # Pareto: alpha_q log(s_p / s_q) - log(alpha_q / alpha_p) + alpha_q / alpha_p - 1
    p = D.Pareto(_t(2.0, device), _t(3.0, device))
    q = D.Pareto(_t(1.0, device), _t(1.5, device))
    assert D.kl_divergence(p, q).item() == pytest.approx(1.5 * math.log(2) - math.log(0.5) + 0.5 - 1, rel=1e-12)
    # Uniform(0, 1) against Beta(2, 3), density 12 x (1 - x)^2: -E[log q] = -(log 12 - 1 - 2)
    u = D.Uniform(_t(0.0, device), _t(1.0, device))
    beta = D.Beta(_t(2.0, device), _t(3.0, device))
    assert D.kl_divergence(u, beta).item() == pytest.approx(math.log(1 / 12) + 3.0, rel=1e-12)
    assert D.kl_divergence(beta, u).item() == pytest.approx(-beta.entropy().item(), rel=1e-12)
    # Uniform from 0 against Gamma: finite (x log x is 0 at 0; PyTorch gives NaN there)
    kl0 = D.kl_divergence(u, D.Gamma(_t(2.0, device), _t(1.0, device))).item()
    assert kl0 == pytest.approx(1.5, rel=1e-12)  # -E[log x - x] for q's density x e^-x


def _digamma(x):
    special = pytest.importorskip("scipy.special")
    return float(special.digamma(x))


def test_infinite_divergences(device):
    gamma = D.Gamma(_t([1.0, 2.0], device), _t(1.0, device))
    beta = D.Beta(_t([1.0, 2.0], device), _t(1.5, device))
    pareto = D.Pareto(_t([1.0, 2.0], device), _t(3.0, device))
    normal = D.Normal(_t([0.0, 1.0], device), _t(1.0, device))
    inf2 = [math.inf, math.inf]
    for p, q in [(normal, gamma), (normal, beta), (normal, pareto), (gamma, beta), (gamma, pareto),
                 (gamma, D.Uniform(_t(0.0, device), _t(5.0, device))), (beta, pareto),
                 (pareto, beta), (pareto, D.Uniform(_t(0.0, device), _t(50.0, device))),
                 (D.Exponential(_t([1.0, 2.0], device)), beta), (D.Exponential(_t([1.0, 2.0], device)), pareto),
                 (D.Laplace(_t([0.0, 1.0], device), _t(1.0, device)), gamma),
                 (D.Gumbel(_t([0.0, 1.0], device), _t(1.0, device)), pareto)]:  # fmt: skip
        np.testing.assert_array_equal(D.kl_divergence(p, q).numpy(), inf2, err_msg=f"{p} || {q}")
    # partly infinite: p's support reaching out of q's
    p = D.Pareto(_t([1.0, 2.0], device), _t(3.0, device))
    kl = D.kl_divergence(p, D.Pareto(_t(1.5, device), _t(2.0, device))).numpy()
    assert kl[0] == math.inf and np.isfinite(kl[1])
    kl = D.kl_divergence(D.Pareto(_t(1.0, device), _t([0.8, 1.5, 2.5], device)), D.Exponential(_t(1.0, device)))
    assert kl.numpy()[0] == math.inf and np.isfinite(kl.numpy()[1:]).all()
    kl = D.kl_divergence(D.Pareto(_t(1.0, device), _t([1.5, 2.5], device)), D.Normal(_t(0.0, device), _t(1.0, device)))
    assert kl.numpy()[0] == math.inf and np.isfinite(kl.numpy()[1])
    u = D.Uniform(_t([-0.5, 0.2], device), _t([0.5, 1.2], device))
    for q in (D.Gamma(_t(2.0, device), _t(1.0, device)), D.Beta(_t(2.0, device), _t(1.0, device)),
              D.Pareto(_t(0.3, device), _t(2.0, device))):  # fmt: skip
        assert D.kl_divergence(u, q).numpy()[0] == math.inf
    kl = D.kl_divergence(D.Beta(_t(2.0, device), _t(3.0, device)), D.Uniform(_t([0.0, 0.1], device),
                         _t([1.0, 2.0], device))).numpy()  # fmt: skip
    assert np.isfinite(kl[0]) and kl[1] == math.inf


def test_dispatch_of_the_subclasses_and_no_ambiguity(device):
    chi2 = D.Chi2(_t([3.0, 1.5], device))
    gamma = D.Gamma(_t(1.2, device), _t(0.4, device))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(D.kl_divergence(chi2, gamma).numpy(),
                                   D.kl_divergence(D.Gamma(chi2.concentration, chi2.rate), gamma).numpy())
        assert D.kl_divergence(chi2, D.Chi2(_t(2.0, device))).shape == (2,)
        assert D.kl_divergence(chi2, D.Exponential(_t(1.0, device))).shape == (2,)
        ig1 = D.InverseGamma(_t([2.0, 3.0], device), _t(1.0, device))
        ig2 = D.InverseGamma(_t(1.5, device), _t(2.0, device))
        np.testing.assert_allclose(D.kl_divergence(ig1, ig2).numpy(),
                                   D.kl_divergence(ig1.base_dist, ig2.base_dist).numpy(), rtol=1e-14)  # fmt: skip
        assert D.kl_divergence(D.Gumbel(_t(0.0, device), _t(1.0, device)), gamma).item() == math.inf
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Weibull(_t(1.0, device), _t(2.0, device)), D.Weibull(_t(1.5, device), _t(2.0, device)))
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.StudentT(_t(3.0, device)), D.Normal(_t(0.0, device), _t(1.0, device)))
    with pytest.raises(NotImplementedError):
        D.kl_divergence(gamma, D.Laplace(_t(0.0, device), _t(1.0, device)))
    w = D.Weibull(_t(1.0, device), _t(2.0, device))
    assert D.kl_divergence(w, w).item() == 0.0  # the same transforms: the base distributions' KL
