"""Scientific NumPy programs ported to gradkit by swapping ``np.`` for ``gk.``, then differentiated.

Each program is written the way a NumPy user writes it (broadcasting, ``axis=``/``keepdims=``, slicing,
``gk.linalg``, ``gk.special``) and its gradient is compared with float64 central differences of the same
program and, where one exists, a closed form computed in plain NumPy. They run on every device the
``device`` fixture gives (the emulated CuPy too).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_numpy_programs import numeric_grad  # central differences of a scalar program

import gradkit as gk

F64 = gk.float64


def close(actual: object, expected: object, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    if isinstance(actual, gk.Tensor):
        actual = actual.numpy()
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected), rtol=rtol, atol=atol)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(52)


# ------------------------------------------------------------------ 1. GP with ARD kernel hyperparameters
def test_gp_negative_log_marginal_likelihood_ard(device, rng):
    n, d = 12, 2
    xs = rng.uniform(-2, 2, (n, d))
    ys = np.sin(xs[:, 0]) + 0.3 * xs[:, 1] + 0.05 * rng.standard_normal(n)

    def nll(theta: gk.Tensor) -> gk.Tensor:
        X, y = gk.tensor(xs), gk.tensor(ys)
        ell, sf2, sn2 = gk.exp(theta[:2]), gk.exp(2 * theta[2]), gk.exp(2 * theta[3])
        diff = (X[:, None, :] - X[None, :, :]) / ell
        K = sf2 * gk.exp(-0.5 * gk.sum(diff**2, axis=-1)) + sn2 * gk.eye(n, dtype=F64)
        L = gk.linalg.cholesky(K)
        alpha = gk.linalg.solve(L.T, gk.linalg.solve(L, y))
        return 0.5 * y @ alpha + gk.sum(gk.log(gk.diag(L))) + 0.5 * n * math.log(2 * math.pi)

    theta = np.array([0.1, -0.3, 0.2, -1.5])
    with gk.device(device):
        value, g = gk.value_and_grad(nll)(theta)
        # closed form: dNLL/dθ = ½ tr((K⁻¹ - α αᵀ) dK/dθ)
        ell, sf2, sn2 = np.exp(theta[:2]), np.exp(2 * theta[2]), np.exp(2 * theta[3])
        sq = (xs[:, None, :] - xs[None, :, :]) ** 2 / ell**2
        kf = sf2 * np.exp(-0.5 * sq.sum(-1))
        K = kf + sn2 * np.eye(n)
        Kinv = np.linalg.inv(K)
        alpha = Kinv @ ys
        W = Kinv - np.outer(alpha, alpha)
        dK = [kf * sq[..., 0], kf * sq[..., 1], 2 * kf, 2 * sn2 * np.eye(n)]
        expected = [0.5 * np.sum(W * dk) for dk in dK]
        close(value, 0.5 * ys @ alpha + 0.5 * np.linalg.slogdet(K)[1] + 0.5 * n * np.log(2 * np.pi), rtol=1e-10)
        close(g, expected, rtol=1e-8)
        close(g, numeric_grad(nll, theta), rtol=1e-6)


# ------------------------------------------------------------------ 2. multinomial logistic regression
def test_softmax_regression_with_logsumexp_and_one_hot(device, rng):
    n, d, k = 40, 3, 4
    xs = rng.standard_normal((n, d))
    labels = rng.integers(0, k, n)
    lam = 0.05

    def loss(W: gk.Tensor) -> gk.Tensor:
        X = gk.tensor(xs)
        Y = gk.eye(k, dtype=F64)[labels]  # one-hot rows, as np.eye(k)[labels]
        logits = X @ W
        logp = logits - gk.logsumexp(logits, axis=1, keepdims=True)
        return -gk.mean(gk.sum(Y * logp, axis=1)) + 0.5 * lam * gk.sum(W**2)

    W = 0.3 * rng.standard_normal((d, k))
    with gk.device(device):
        g = gk.grad(loss)(W)
        z = xs @ W
        P = np.exp(z - z.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        close(g, xs.T @ (P - np.eye(k)[labels]) / n + lam * W, rtol=1e-10)
        close(g, numeric_grad(loss, W), rtol=1e-6)


# ------------------------------------------------------------------ 3. n-body leapfrog
def test_nbody_leapfrog_forces_and_sensitivity_to_initial_velocities(device, rng):
    nb, eps2, dt, steps = 4, 0.05, 0.01, 20
    masses = rng.uniform(0.5, 1.5, nb)
    q0 = rng.standard_normal((nb, 2))
    p0 = 0.3 * rng.standard_normal((nb, 2))

    def potential(q: gk.Tensor) -> gk.Tensor:
        m = gk.tensor(masses)
        r = q[:, None, :] - q[None, :, :]
        dist = gk.sqrt(gk.sum(r**2, axis=-1) + eps2)
        iu = np.triu_indices(nb, 1)  # each pair once
        return -gk.sum((m[:, None] * m[None, :] / dist)[iu])

    def accel(q: gk.Tensor) -> gk.Tensor:
        m = gk.tensor(masses)
        r = q[None, :, :] - q[:, None, :]
        inv3 = (gk.sum(r**2, axis=-1, keepdims=True) + eps2) ** -1.5
        return gk.sum(m[None, :, None] * r * inv3, axis=1)

    def final_kinetic(v0: gk.Tensor) -> gk.Tensor:
        q, v = gk.tensor(q0), v0
        a = accel(q)
        for _ in range(steps):
            v = v + 0.5 * dt * a
            q = q + dt * v
            a = accel(q)
            v = v + 0.5 * dt * a
        return 0.5 * gk.sum(gk.tensor(masses)[:, None] * v**2) + q[0, 0]

    with gk.device(device):
        # the force is minus the gradient of the potential
        f = -gk.grad(potential)(q0)
        close(f, masses[:, None] * accel(gk.tensor(q0)).numpy(), rtol=1e-10)
        close(f, -numeric_grad(potential, q0), rtol=1e-6)
        v0 = p0 / masses[:, None]
        close(gk.grad(final_kinetic)(v0), numeric_grad(final_kinetic, v0), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ 4. RK4 parameter fit
def test_rk4_lotka_volterra_parameter_gradient(device):
    t_obs = np.linspace(0.0, 2.0, 11)
    dt = t_obs[1] - t_obs[0]

    def rhs(u: gk.Tensor, p: gk.Tensor) -> gk.Tensor:
        x, y = u[0], u[1]
        return gk.stack([p[0] * x - p[1] * x * y, p[2] * x * y - p[3] * y])

    def solve(p: gk.Tensor) -> gk.Tensor:
        u = gk.tensor([1.0, 0.5], dtype=F64)
        out = [u]
        for _ in range(len(t_obs) - 1):
            k1 = rhs(u, p)
            k2 = rhs(u + 0.5 * dt * k1, p)
            k3 = rhs(u + 0.5 * dt * k2, p)
            k4 = rhs(u + dt * k3, p)
            u = u + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            out.append(u)
        return gk.stack(out)

    with gk.no_grad():
        data = solve(gk.tensor([1.1, 0.4, 0.4, 0.9], dtype=F64)).numpy()

    def loss(p: gk.Tensor) -> gk.Tensor:
        return gk.mean((solve(p) - gk.tensor(data)) ** 2)

    p = np.array([1.0, 0.5, 0.3, 1.0])
    with gk.device(device):
        g = gk.grad(loss)(p)
        close(g, numeric_grad(loss, p), rtol=1e-6, atol=1e-10)
        # the truth is a minimum: zero gradient there
        close(gk.grad(loss)(np.array([1.1, 0.4, 0.4, 0.9])), np.zeros(4), atol=1e-12)


# ------------------------------------------------------------------ 5. heat equation stencils
def test_heat_equation_roll_and_pad_stencils(device, rng):
    u0 = rng.random((6, 7))
    target = rng.random((6, 7))
    r, steps = 0.2, 5

    def periodic(u: gk.Tensor) -> gk.Tensor:
        for _ in range(steps):
            lap = (gk.roll(u, 1, axis=0) + gk.roll(u, -1, axis=0) + gk.roll(u, 1, axis=1)
                   + gk.roll(u, -1, axis=1) - 4 * u)
            u = u + r * lap
        return u

    def insulated(u: gk.Tensor) -> gk.Tensor:
        for _ in range(steps):
            p = gk.pad(u, 1, mode="edge")  # zero-flux boundary
            u = u + r * (p[2:, 1:-1] + p[:-2, 1:-1] + p[1:-1, 2:] + p[1:-1, :-2] - 4 * u)
        return u

    with gk.device(device):
        def loss_periodic(u):
            return 0.5 * gk.sum((periodic(u) - gk.tensor(target)) ** 2)

        g = gk.grad(loss_periodic)(u0)
        # the periodic Laplacian step is symmetric, so the adjoint is the same program on the residual
        with gk.no_grad():
            resid = periodic(gk.tensor(u0)) - gk.tensor(target)
            close(g, periodic(resid).numpy(), rtol=1e-10)
            # heat is conserved by both schemes
            close(periodic(gk.tensor(u0)).sum(), u0.sum(), rtol=1e-12)
            close(insulated(gk.tensor(u0)).sum(), u0.sum(), rtol=1e-12)

        def loss_insulated(u):
            return gk.sum(insulated(u)[::2, 1::3] ** 2)

        close(gk.grad(loss_insulated)(u0), numeric_grad(loss_insulated, u0), rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ 6. total-variation denoising / inpainting
def test_total_variation_inpainting_energy(device, rng):
    clean = np.zeros((8, 8))
    clean[2:6, 3:7] = 1.0
    noisy = clean + 0.1 * rng.standard_normal(clean.shape)
    known = rng.random(clean.shape) > 0.3
    lam, eps = 0.2, 1e-3

    def energy(u: gk.Tensor) -> gk.Tensor:
        dx = gk.diff(u, axis=1, append=u[:, -1:])
        dy = gk.diff(u, axis=0, append=u[-1:, :])
        tv = gk.sum(gk.sqrt(dx**2 + dy**2 + eps))
        fidelity = gk.where(gk.tensor(known), (u - gk.tensor(noisy)) ** 2, 0.0)
        return 0.5 * gk.sum(fidelity) + lam * tv

    u = noisy.copy()
    with gk.device(device):
        g = gk.grad(energy)(u)
        close(g, numeric_grad(energy, u), rtol=1e-6, atol=1e-8)
        e0 = energy(gk.tensor(u)).item()
        for _ in range(30):
            u = u - 0.05 * gk.grad(energy)(u).numpy()
        assert energy(gk.tensor(u)).item() < 0.8 * e0
        # unknown pixels are filled in from their neighbours: the square's inside is nearer 1 than 0
        assert np.abs(u - clean)[~known].mean() < np.abs(noisy - clean)[~known].mean() + 0.05


# ------------------------------------------------------------------ 7. Black-Scholes and its greeks
def black_scholes_call(S, K, sigma, T, r):
    # T ** 0.5, not gk.sqrt(T): gk.sqrt refuses a Python float (np.sqrt takes one) when only S is differentiated
    d1 = (gk.log(S / K) + (r + 0.5 * sigma**2) * T) / (sigma * T**0.5)
    d2 = d1 - sigma * T**0.5
    discount = gk.exp(-r * T) if isinstance(r * T, gk.Tensor) else math.exp(-r * T)  # likewise for gk.exp
    return S * gk.special.ndtr(d1) - K * discount * gk.special.ndtr(d2)


def test_black_scholes_greeks_against_closed_forms(device):
    S, K, sigma, T, r = 100.0, 95.0, 0.25, 0.75, 0.03
    d1 = (math.log(S / K) + (r + 0.5 * sigma**2) * T) / (sigma * math.sqrt(T))
    d2 = d1 - sigma * math.sqrt(T)
    N = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    phi = math.exp(-0.5 * d1**2) / math.sqrt(2 * math.pi)
    with gk.device(device):
        def price(S, sigma, T, r):
            return black_scholes_call(S, K, sigma, T, r)

        value, (delta, vega, dT, rho) = gk.value_and_grad(price, argnums=(0, 1, 2, 3))(S, sigma, T, r)
        close(value, S * N(d1) - K * math.exp(-r * T) * N(d2), rtol=1e-12)
        close(delta, N(d1), rtol=1e-12)
        close(vega, S * phi * math.sqrt(T), rtol=1e-12)
        close(-dT, -S * phi * sigma / (2 * math.sqrt(T)) - r * K * math.exp(-r * T) * N(d2), rtol=1e-12)
        close(rho, K * T * math.exp(-r * T) * N(d2), rtol=1e-12)
        gamma = gk.hessian(lambda s: black_scholes_call(s, K, sigma, T, r))(S)
        close(gamma, phi / (S * sigma * math.sqrt(T)), rtol=1e-10)
        # a whole strike ladder at once, the erf spelling of the normal CDF, vs differences
        strikes = np.linspace(80.0, 120.0, 5)

        def ladder(sig: gk.Tensor) -> gk.Tensor:
            k = gk.tensor(strikes)
            d1 = (gk.log(S / k) + (r + 0.5 * sig**2) * T) / (sig * math.sqrt(T))
            d2 = d1 - sig * math.sqrt(T)
            cdf = lambda z: 0.5 * (1 + gk.erf(z / math.sqrt(2)))  # noqa: E731
            return gk.sum(S * cdf(d1) - k * math.exp(-r * T) * cdf(d2))

        close(gk.grad(ladder)(np.array(sigma)), numeric_grad(ladder, np.array(sigma)), rtol=1e-7)


# ------------------------------------------------------------------ 8. polynomial least squares
def test_polynomial_fit_with_vander_lstsq_polyval(device, rng):
    xs = np.linspace(-1.0, 1.0, 9)
    ys = 1 - 2 * xs + 0.5 * xs**3 + 0.1 * rng.standard_normal(9)

    def residual_ss(y: gk.Tensor, x: gk.Tensor) -> gk.Tensor:
        V = gk.vander(x, 4)
        c = gk.linalg.lstsq(V, y, rcond=None)[0]
        return gk.sum((gk.polyval(c, x) - y) ** 2)

    with gk.device(device):
        gy, gx = gk.grad(residual_ss, argnums=(0, 1))(ys, xs)
        c = np.polyfit(xs, ys, 3)
        close(gy, 2 * (ys - np.polyval(c, xs)), rtol=1e-8, atol=1e-12)  # the envelope theorem
        close(gx, numeric_grad(lambda x: residual_ss(gk.tensor(ys), x), xs), rtol=1e-5, atol=1e-9)


# ------------------------------------------------------------------ 9. portfolio: mean-variance and CVaR
def test_portfolio_mean_variance_and_cvar(device, rng):
    T, n, gamma = 60, 4, 3.0
    R = 0.01 + 0.05 * rng.standard_normal((T, n)) @ np.triu(np.ones((n, n))) / n

    def mean_variance(w: gk.Tensor) -> gk.Tensor:
        Rt = gk.tensor(R)
        Sigma = gk.cov(Rt, rowvar=False)
        mu = gk.mean(Rt, axis=0)
        return gamma / 2 * w @ Sigma @ w - mu @ w

    def cvar(z: gk.Tensor) -> gk.Tensor:
        w = gk.softmax(z)
        losses = -(gk.tensor(R) @ w)
        tail = gk.sort(losses)[-6:]  # the worst 10%
        return gk.mean(tail) + 0.1 * gk.quantile(losses, 0.9)

    w = np.full(n, 1.0 / n)
    with gk.device(device):
        close(gk.grad(mean_variance)(w), gamma * np.cov(R, rowvar=False) @ w - R.mean(0), rtol=1e-10)
        # the unconstrained optimum solves gamma Sigma w = mu
        w_star = gk.linalg.solve(gamma * gk.cov(gk.tensor(R), rowvar=False), gk.mean(gk.tensor(R), axis=0))
        close(gk.grad(mean_variance)(w_star), np.zeros(n), atol=1e-12)
        z = np.array([0.1, -0.2, 0.3, 0.0])
        close(gk.grad(cvar)(z), numeric_grad(cvar, z), rtol=1e-6, atol=1e-10)


# ------------------------------------------------------------------ 10. Newton's method with grad and hessian
def test_newton_on_rosenbrock_with_hessian(device):
    def rosen(x: gk.Tensor) -> gk.Tensor:
        return gk.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    x = np.array([-1.2, 1.0, 0.8])
    with gk.device(device):
        a, b, c = x
        g = gk.grad(rosen)(x)
        close(g, [-400 * a * (b - a**2) - 2 * (1 - a),
                  200 * (b - a**2) - 400 * b * (c - b**2) - 2 * (1 - b),
                  200 * (c - b**2)], rtol=1e-12)
        H = gk.hessian(rosen)(x)
        expected = np.array([[1200 * a**2 - 400 * b + 2, -400 * a, 0],
                             [-400 * a, 202 + 1200 * b**2 - 400 * c, -400 * b],
                             [0, -400 * b, 200]])
        close(H, expected, rtol=1e-12)
        for _ in range(30):
            g, H = gk.grad(rosen)(x), gk.hessian(rosen)(x)
            step = gk.linalg.solve(H, g).numpy()
            t = 1.0
            while rosen(gk.tensor(x - t * step)).item() > rosen(gk.tensor(x)).item() and t > 1e-4:
                t /= 2  # backtracking keeps Newton from overshooting the banana valley
            x = x - t * step
        close(x, np.ones(3), rtol=1e-8)


# ------------------------------------------------------------------ 11. Gaussian mixture, einsum, Fisher's identity
def test_gaussian_mixture_gradient_equals_em_objective_gradient(device, rng):
    n, k, d = 30, 3, 2
    xs = np.concatenate([rng.normal(m, 0.5, (n // k, d)) for m in (-2.0, 0.0, 2.0)])
    logits = np.array([0.1, -0.2, 0.05])
    log_var = np.log(np.full((k, d), 0.4))

    def log_joint(mu: gk.Tensor) -> gk.Tensor:
        X = gk.tensor(xs)
        var = gk.exp(gk.tensor(log_var))
        sq = (X[:, None, :] - mu[None, :, :]) ** 2  # (n, k, d)
        logp = (-0.5 * gk.einsum("nkd,kd->nk", sq, 1 / var) - 0.5 * gk.sum(gk.log(var), axis=1)
                - 0.5 * d * math.log(2 * math.pi))
        return gk.log_softmax(gk.tensor(logits)) + logp

    def loglik(mu: gk.Tensor) -> gk.Tensor:
        return gk.sum(gk.logsumexp(log_joint(mu), axis=1))

    mu = np.array([[-1.5, -1.8], [0.3, 0.1], [1.7, 2.2]])
    with gk.device(device):
        with gk.no_grad():
            resp = gk.softmax(log_joint(gk.tensor(mu)), axis=1)  # the E step

        def q(mu: gk.Tensor) -> gk.Tensor:
            return gk.einsum("nk,nk->", resp, log_joint(mu))

        g = gk.grad(loglik)(mu)
        close(g, gk.grad(q)(mu), rtol=1e-10, atol=1e-12)  # Fisher's identity
        r = resp.numpy()
        close(g, np.einsum("nk,nkd->kd", r, xs[:, None, :] - mu[None]) / np.exp(log_var), rtol=1e-10)
        close(g, numeric_grad(loglik, mu), rtol=1e-6)


# ------------------------------------------------------------------ 12. matrix calculus closed forms
def test_linalg_gradients_closed_forms(device, rng):
    A = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    S = A @ A.T
    with gk.device(device):
        close(gk.grad(lambda a: gk.linalg.slogdet(a)[1])(A), np.linalg.inv(A).T, rtol=1e-10)
        close(gk.grad(gk.linalg.det)(A), np.linalg.det(A) * np.linalg.inv(A).T, rtol=1e-10)
        close(gk.grad(lambda a: gk.sum(gk.linalg.inv(a)))(A),
              -np.linalg.inv(A).T @ np.ones((4, 4)) @ np.linalg.inv(A).T, rtol=1e-10)
        close(gk.grad(lambda s: gk.sum(gk.linalg.eigh(s)[0]))(S), np.eye(4), rtol=1e-10, atol=1e-12)
        U, _, Vt = np.linalg.svd(A)
        close(gk.grad(lambda a: gk.sum(gk.linalg.svd(a, compute_uv=False)))(A), U @ Vt, rtol=1e-9)
        close(gk.grad(lambda a: gk.linalg.norm(a))(A), A / np.linalg.norm(A), rtol=1e-12)
        b = rng.standard_normal(4)
        close(gk.grad(lambda b_: gk.sum(gk.linalg.solve(gk.tensor(A), b_)))(b),
              np.linalg.solve(A.T, np.ones(4)), rtol=1e-10)

        def spectral(s):  # the largest eigenvalue's gradient is v vᵀ
            return gk.linalg.eigvalsh(s)[-1]

        w, V = np.linalg.eigh(S)
        close(gk.grad(spectral)(S), np.outer(V[:, -1], V[:, -1]), rtol=1e-8, atol=1e-12)


# ------------------------------------------------------------------ 13. grids, interpolation, quadrature, scatter
def test_grid_interp_trapezoid_cumsum_and_scatter(device, rng):
    with gk.device(device):
        # ∫∫ exp(-a (x² + y²)) on a grid; d/da = -∫∫ (x² + y²) exp(...)
        def integral(a: gk.Tensor) -> gk.Tensor:
            x = gk.linspace(-3.0, 3.0, 61, dtype=F64)
            X, Y = gk.meshgrid(x, x, indexing="ij")
            f = gk.exp(-a * (X**2 + Y**2))
            return gk.trapezoid(gk.trapezoid(f, x, axis=1), x)

        a = np.array(1.3)
        close(integral(gk.tensor(a)), math.pi / 1.3, rtol=1e-3)
        close(gk.grad(integral)(a), -math.pi / 1.3**2, rtol=1e-3)
        close(gk.grad(integral)(a), numeric_grad(integral, a), rtol=1e-7)

        # interp through a differentiable table, clipped and rectified
        xp = np.linspace(0.0, 1.0, 6)
        xq = rng.uniform(-0.1, 1.1, 10)

        def table(fp: gk.Tensor) -> gk.Tensor:
            y = gk.interp(gk.clip(gk.tensor(xq), 0.0, 1.0), gk.tensor(xp), fp)
            return gk.sum(gk.maximum(y, 0.2) * gk.cumsum(y)) + gk.sum(y[y > 0.5])

        fp = rng.random(6)
        close(gk.grad(table)(fp), numeric_grad(table, fp), rtol=1e-6, atol=1e-10)

        # histogram-style scatter: np.add.at(out, bins, w) is bincount with weights
        bins = np.array([0, 2, 2, 1, 4, 2])

        def scattered(w: gk.Tensor) -> gk.Tensor:
            out = gk.bincount(gk.tensor(bins), weights=w, minlength=5)
            return gk.sum(out**2 * gk.arange(1, 6, dtype=F64))

        w = rng.random(6)
        acc = np.zeros(5)
        np.add.at(acc, bins, w)
        close(gk.grad(scattered)(w), (2 * acc * np.arange(1, 6))[bins], rtol=1e-12)
        # fancy indexing with repeats accumulates too
        idx = np.array([3, 0, 3, 3])
        close(gk.grad(lambda v: gk.sum(v[idx] ** 2))(np.arange(4.0)), [0, 0, 0, 18], rtol=1e-12)
