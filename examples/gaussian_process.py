"""Gaussian-process regression: fit the kernel's hyperparameters by maximising the marginal likelihood.

Noisy samples of a smooth function are modelled with an RBF kernel
k(x, x') = s2 * exp(-|x - x'|^2 / (2 l^2)) plus noise variance n2 on the diagonal. The three hyperparameters
(lengthscale l, signal variance s2, noise variance n2) are optimised in log space by gk.optim.LBFGS with a
strong-Wolfe line search on the negative log marginal likelihood

    NLL = y^T K^-1 y / 2 + log det K / 2 + n log(2 pi) / 2,

computed in float64 from the Cholesky factor K = L L^T: gk.linalg.solve_triangular gives L^-1 y, and
log det K = 2 sum(log diag L). The posterior mean at held-out points is then compared with the noisy held-out
observations and with the noise-free function. --check also compares the NLL's gradient with central
differences (gk.gradcheck).

    python examples/gaussian_process.py [--train 80] [--test 200] [--noise 0.1] [--seed 0] [--check] [--device cpu|cuda]

Under a second on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

try:
    import gradkit as gk
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import gradkit as gk

NAMES = ("lengthscale", "signal variance", "noise variance")


def truth(x: np.ndarray) -> np.ndarray:
    """The function behind the data."""
    return np.sin(2.0 * x) + 0.5 * np.cos(5.0 * x)


def rbf(a: gk.Tensor, b: gk.Tensor, log_params: gk.Tensor) -> gk.Tensor:
    """The RBF kernel matrix between the rows of ``a`` (n, d) and ``b`` (m, d), without noise."""
    lengthscale, signal = gk.exp(log_params[0]), gk.exp(log_params[1])
    sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
    return signal * gk.exp(-0.5 * sq / lengthscale**2)


def covariance_factor(log_params: gk.Tensor, x: gk.Tensor) -> gk.Tensor:
    """L, lower triangular, with L L^T = K = the kernel matrix of the observations, noise included."""
    eye = gk.eye(x.shape[0], dtype=x.dtype, device=x.device)
    K = rbf(x, x, log_params) + (gk.exp(log_params[2]) + 1e-8) * eye  # a little jitter keeps K definite
    return gk.linalg.cholesky(K)


def negative_log_likelihood(log_params: gk.Tensor, x: gk.Tensor, y: gk.Tensor) -> gk.Tensor:
    """-log p(y | x, hyperparameters) for log_params = log(lengthscale, signal variance, noise variance)."""
    n = x.shape[0]
    L = covariance_factor(log_params, x)
    alpha = gk.linalg.solve_triangular(L, y, lower=True)  # L^-1 y, so y^T K^-1 y = |alpha|^2
    log_det = 2.0 * gk.log(gk.linalg.diagonal(L)).sum()
    return 0.5 * (alpha**2).sum() + 0.5 * log_det + 0.5 * n * math.log(2.0 * math.pi)


def posterior_mean(log_params: gk.Tensor, x: gk.Tensor, y: gk.Tensor, x_new: gk.Tensor) -> gk.Tensor:
    """E[f(x_new) | data] = K(x_new, x) K^-1 y, with K^-1 y from two triangular solves."""
    L = covariance_factor(log_params, x)
    weights = gk.linalg.solve_triangular(L.T, gk.linalg.solve_triangular(L, y, lower=True), lower=False)
    return rbf(x_new, x, log_params) @ weights


def make_data(n_train: int, n_test: int, noise: float, seed: int,
              device: str | None) -> tuple[gk.Tensor, gk.Tensor, gk.Tensor, gk.Tensor, gk.Tensor]:
    """Noisy training and held-out samples on [-3, 3]: x_train, y_train, x_test, y_test, f(x_test)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3.0, 3.0, n_train + n_test)
    y = truth(x) + noise * rng.standard_normal(x.shape)
    t = lambda a: gk.tensor(a, dtype=gk.float64, device=device)  # noqa: E731
    return (t(x[:n_train, None]), t(y[:n_train]), t(x[n_train:, None]), t(y[n_train:]),
            t(truth(x[n_train:])))


def fit(n_train: int = 80, n_test: int = 200, noise: float = 0.1, check: bool = False,
        device: str | None = None, seed: int = 0) -> dict[str, float]:
    """Fit the hyperparameters and predict; returns the fitted values, the NLL before and after, the number of
    NLL evaluations, and the RMSE of the posterior mean against held-out observations and the true function."""
    x, y, x_test, y_test, f_test = make_data(n_train, n_test, noise, seed, device)
    # start: lengthscale 1, signal variance 1, noise variance 0.1
    log_params = gk.tensor([0.0, 0.0, math.log(0.1)], dtype=gk.float64, device=device, requires_grad=True)
    if check:  # the gradient that L-BFGS follows, against central differences
        gk.gradcheck(lambda p: negative_log_likelihood(p, x[:20], y[:20]), (log_params,))
        print("gradcheck of the NLL's gradient: passed")

    opt = gk.optim.LBFGS([log_params], lr=1.0, max_iter=100, tolerance_grad=1e-9, tolerance_change=1e-12,
                         line_search_fn="strong_wolfe")

    def closure() -> gk.Tensor:
        opt.zero_grad()
        loss = negative_log_likelihood(log_params, x, y)
        loss.backward()
        return loss

    with gk.no_grad():
        start_nll = negative_log_likelihood(log_params, x, y).item()
        start_rmse = ((posterior_mean(log_params, x, y, x_test) - y_test) ** 2).mean().sqrt().item()
    opt.step(closure)
    with gk.no_grad():
        nll = negative_log_likelihood(log_params, x, y).item()
        mean = posterior_mean(log_params, x, y, x_test)
        rmse = ((mean - y_test) ** 2).mean().sqrt().item()
        rmse_f = ((mean - f_test) ** 2).mean().sqrt().item()
        baseline = ((y.mean() - y_test) ** 2).mean().sqrt().item()  # always predicting the training mean
    fitted = dict(zip(NAMES, np.exp(log_params.detach().numpy()).tolist(), strict=True))
    state = opt.state[log_params]
    return {**fitted, "nll_start": start_nll, "nll": nll, "evaluations": state["func_evals"],
            "rmse_start": start_rmse, "rmse": rmse, "rmse_truth": rmse_f, "baseline": baseline}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=80, help="number of training points")
    parser.add_argument("--test", type=int, default=200, help="number of held-out points")
    parser.add_argument("--noise", type=float, default=0.1, help="standard deviation of the observation noise")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="gradcheck the NLL before fitting")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: gradkit's default device)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    r = fit(args.train, args.test, args.noise, args.check, args.device, args.seed)
    print(f"fitted: lengthscale {r['lengthscale']:.3f}, signal variance {r['signal variance']:.3f}, "
          f"noise variance {r['noise variance']:.4f} (noise std {math.sqrt(r['noise variance']):.3f}, "
          f"true {args.noise})")
    print(f"negative log marginal likelihood: {r['nll_start']:.2f} at the start, {r['nll']:.2f} fitted "
          f"({r['evaluations']} evaluations)")
    print(f"held-out RMSE of the posterior mean: {r['rmse']:.4f} (start {r['rmse_start']:.4f}; "
          f"the training mean: {r['baseline']:.4f}); against the noise-free function: {r['rmse_truth']:.4f}")
    print(f"({time.perf_counter() - start:.2f} s)")
    return r


if __name__ == "__main__":
    main()
