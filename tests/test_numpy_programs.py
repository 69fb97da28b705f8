"""Whole programs in the style of HIPS autograd's examples: scientific NumPy code written with ``gk.*``.

Each program is differentiated with gradkit's transforms and compared with float64 central differences
of the same program and, where one exists, a closed form or the values NumPy computes; the PyTorch
versions at the end run only where torch is installed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest

import gradkit as gk
from gradkit import linalg as la

F64 = gk.float64


# ------------------------------------------------------------------ helpers
def numeric_grad(f: Callable[[gk.Tensor], gk.Tensor], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences, in float64, of the scalar program ``f`` at ``x`` (run on the default device)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.empty(x.shape)
    with gk.no_grad():
        for i in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[i] += eps
            down[i] -= eps
            g[i] = (f(gk.tensor(up)).item() - f(gk.tensor(down)).item()) / (2 * eps)
    return g


def numeric_directional(f: Callable[[gk.Tensor], gk.Tensor], x: np.ndarray, v: np.ndarray, eps: float = 1e-5):
    """``(f(x + eps v) - f(x - eps v)) / 2 eps`` for an array-valued program."""
    with gk.no_grad():
        up = f(gk.tensor(x + eps * v)).numpy()
        down = f(gk.tensor(x - eps * v)).numpy()
    return (up - down) / (2 * eps)


def close(actual: object, expected: object, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    if isinstance(actual, gk.Tensor):
        actual = actual.numpy()
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected), rtol=rtol, atol=atol)


def expm(a: np.ndarray) -> np.ndarray:
    """The matrix exponential in plain NumPy: scaling and squaring around a Taylor series."""
    s = max(0, int(math.ceil(math.log2(max(np.abs(a).sum(axis=1).max(), 1e-300)))) + 1)
    b = a / 2.0**s
    term = np.eye(len(a))
    out = term.copy()
    for k in range(1, 25):
        term = term @ b / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240523)


# ------------------------------------------------------------------ 1. logistic regression
def logistic_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    x = rng.standard_normal((30, 3))
    y = (rng.random(30) < 1 / (1 + np.exp(-x @ np.array([1.0, -2.0, 0.5])))).astype(np.float64)
    return x, y, 0.1


def logistic_nll(x: np.ndarray, y: np.ndarray, lam: float) -> Callable[[gk.Tensor], gk.Tensor]:
    def f(w: gk.Tensor) -> gk.Tensor:
        z = gk.tensor(x) @ w
        # log(1 + e^z) - y z, written without overflow
        return gk.sum(gk.logaddexp(0.0, z) - gk.tensor(y) * z) + 0.5 * lam * gk.sum(w * w)

    return f


def test_logistic_regression_gradient_hessian_and_newton(device, rng):
    x, y, lam = logistic_data(rng)
    with gk.device(device):
        f = logistic_nll(x, y, lam)
        w = rng.standard_normal(3)
        p = 1 / (1 + np.exp(-x @ w))
        g = gk.grad(f)(w)
        close(g, x.T @ (p - y) + lam * w, rtol=1e-10)
        close(g, numeric_grad(f, w), rtol=1e-6)
        h = gk.hessian(f)(w)
        assert h.shape == (3, 3) and h.dtype == F64
        close(h, x.T @ np.diag(p * (1 - p)) @ x + lam * np.eye(3), rtol=1e-10)
        # Newton's method with the Hessian gradkit computes converges quadratically.
        for _ in range(8):
            w = w - la.solve(gk.hessian(f)(w), gk.grad(f)(w)).numpy()
        assert np.linalg.norm(gk.grad(f)(w).numpy()) < 1e-10


# ------------------------------------------------------------------ 2. Gaussian process marginal likelihood
def gp_kernel(x: np.ndarray, ell: gk.Tensor, sn: gk.Tensor) -> gk.Tensor:
    xt = gk.tensor(x)
    d2 = gk.sum((xt[:, None, :] - xt[None, :, :]) ** 2, axis=-1)
    return gk.exp(-0.5 * d2 / ell**2) + sn**2 * gk.eye(len(x), dtype=F64)


def gp_lml_cholesky(x: np.ndarray, y: np.ndarray) -> Callable[[gk.Tensor], gk.Tensor]:
    def f(theta: gk.Tensor) -> gk.Tensor:
        k = gp_kernel(x, theta[0], theta[1])
        chol = la.cholesky(k)
        yt = gk.tensor(y)
        alpha = la.solve(chol.T, la.solve(chol, yt))
        return -0.5 * gk.dot(yt, alpha) - gk.sum(gk.log(gk.diagonal(chol))) - 0.5 * len(y) * math.log(2 * math.pi)

    return f


def gp_lml_slogdet(x: np.ndarray, y: np.ndarray) -> Callable[[gk.Tensor], gk.Tensor]:
    def f(theta: gk.Tensor) -> gk.Tensor:
        k = gp_kernel(x, theta[0], theta[1])
        yt = gk.tensor(y)
        return -0.5 * yt @ la.solve(k, yt) - 0.5 * la.slogdet(k).logabsdet - 0.5 * len(y) * math.log(2 * math.pi)

    return f


def test_gaussian_process_log_marginal_likelihood(device, rng):
    x = rng.standard_normal((8, 2))
    y = np.sin(x[:, 0]) + 0.1 * rng.standard_normal(8)
    theta = np.array([0.9, 0.3])  # lengthscale, noise standard deviation
    ell, sn = theta
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    k = np.exp(-0.5 * d2 / ell**2) + sn**2 * np.eye(8)
    k_inv = np.linalg.inv(k)
    alpha = k_inv @ y
    dk = [np.exp(-0.5 * d2 / ell**2) * d2 / ell**3, 2 * sn * np.eye(8)]
    expected = [0.5 * np.trace((np.outer(alpha, alpha) - k_inv) @ d) for d in dk]  # Rasmussen & Williams 5.9
    value = -0.5 * y @ alpha - 0.5 * np.linalg.slogdet(k)[1] - 4 * math.log(2 * math.pi)
    with gk.device(device):
        for program in (gp_lml_cholesky(x, y), gp_lml_slogdet(x, y)):
            v, g = gk.value_and_grad(program)(theta)
            close(v, value, rtol=1e-12)
            close(g, expected, rtol=1e-9)
            close(g, numeric_grad(program, theta), rtol=1e-6)
            h = gk.hessian(program)(theta).numpy()
            np.testing.assert_allclose(h, h.T, rtol=1e-12)
            fd = np.stack([numeric_directional(gk.grad(program), theta, e) for e in np.eye(2)])
            close(h, fd, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ 3. a tanh recurrence, 50 steps
def rnn_setup(rng: np.random.Generator):
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    w = 1.1 * q  # near the edge of stability: the initial state still matters after 50 steps
    u = 0.3 * rng.standard_normal((4, 2))
    xs = rng.standard_normal((50, 2))
    return w, u, xs, rng.standard_normal(4)


def rnn_loss(u: np.ndarray, xs: np.ndarray) -> Callable[[gk.Tensor, gk.Tensor], gk.Tensor]:
    def f(h0: gk.Tensor, w: gk.Tensor) -> gk.Tensor:
        ut, xt = gk.tensor(u), gk.tensor(xs)
        h = h0
        for t in range(len(xs)):
            h = gk.tanh(w @ h + ut @ xt[t])
        return gk.sum(h**2)

    return f


def test_rnn_unrolled_in_a_python_loop(device, rng):
    w, u, xs, h0 = rnn_setup(rng)
    f = rnn_loss(u, xs)
    with gk.device(device):
        gh, gw = gk.grad(f, argnums=(0, 1))(h0, w)
        close(gh, numeric_grad(lambda h: f(h, gk.tensor(w)), h0), rtol=1e-5, atol=1e-9)
        close(gw, numeric_grad(lambda m: f(gk.tensor(h0), m), w), rtol=1e-5, atol=1e-9)
        assert np.abs(gh.numpy()).max() > 1e-4  # the test means something
        # Hessian-vector product by double backward, against differences of gradients.
        v = rng.standard_normal(4)
        h = gk.tensor(h0, requires_grad=True)
        (g,) = gk.autograd.grad(f(h, gk.tensor(w)), h, create_graph=True)
        (hv,) = gk.autograd.grad(gk.dot(g, gk.tensor(v)), h)
        fd = numeric_directional(lambda z: gk.grad(f)(z, w), h0, v)
        close(hv, fd, rtol=1e-5, atol=1e-9)
        close(gk.hessian(f)(h0, w).numpy() @ v, hv.numpy(), rtol=1e-9, atol=1e-14)
        _, forward_over_reverse = gk.jvp(lambda z: gk.grad(f)(z, w), (h0,), (v,))
        close(forward_over_reverse, hv.numpy(), rtol=1e-9, atol=1e-14)


# ------------------------------------------------------------------ 4. a Lennard-Jones cluster
def lj_energy(x: gk.Tensor) -> gk.Tensor:
    """4 sum_{i<j} (r^-12 - r^-6), distances by broadcasting, the diagonal masked before the sqrt."""
    n = x.shape[0]
    d = x[:, None, :] - x[None, :, :]
    s = gk.sum(d * d, axis=-1)
    eye = gk.tensor(np.eye(n, dtype=bool))
    r = gk.sqrt(gk.where(eye, 1.0, s))  # the double-where trick: no sqrt(0) on the diagonal
    inv6 = r**-6
    return 2.0 * gk.sum(gk.where(eye, 0.0, inv6 * inv6 - inv6))


def lj_energy_numpy(x: np.ndarray) -> float:
    iu = np.triu_indices(len(x), 1)
    r = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))[iu]
    return float(4 * np.sum(r**-12 - r**-6))


def test_lennard_jones_forces(device, rng):
    x = rng.standard_normal((5, 3)) * 1.5
    with gk.device(device):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the masked program warns about nothing, forward or backward
            energy, grad = gk.value_and_grad(lj_energy)(x)
        close(energy, lj_energy_numpy(x), rtol=1e-12)
        forces = -grad.numpy()
        fd = np.empty_like(x)
        for i in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[i] += 1e-6
            down[i] -= 1e-6
            fd[i] = -(lj_energy_numpy(up) - lj_energy_numpy(down)) / 2e-6
        close(forces, fd, rtol=1e-6, atol=1e-8)
        close(forces.sum(axis=0), np.zeros(3), atol=1e-10)  # translation invariance: no net force
        close(np.cross(x, forces).sum(axis=0), np.zeros(3), atol=1e-10)  # rotation invariance: no net torque
        close(grad, numeric_grad(lj_energy, x), rtol=1e-6, atol=1e-8)

        # Masking only after the sqrt gives NaN gradients, as in every reverse-mode AD: the zero cotangent
        # the where sends to the diagonal meets sqrt's infinite slope there (0 * inf).
        def naive(x: gk.Tensor) -> gk.Tensor:
            d = x[:, None, :] - x[None, :, :]
            r = gk.sqrt(gk.sum(d * d, axis=-1))
            eye = gk.tensor(np.eye(len(x), dtype=bool))
            inv6 = gk.where(eye, 1.0, r) ** -6
            return 2.0 * gk.sum(gk.where(eye, 0.0, inv6 * inv6 - inv6))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert np.isnan(gk.grad(naive)(x).numpy()).all()


# ------------------------------------------------------------------ 5. a chain of springs
def test_spring_chain_forces_and_hessian(device, rng):
    k, rest = 2.0, 1.0
    p = np.cumsum(rng.standard_normal((6, 2)), axis=0)

    def energy(x: gk.Tensor) -> gk.Tensor:
        r = gk.norm(x[1:] - x[:-1], axis=1)
        return 0.5 * k * gk.sum((r - rest) ** 2)

    def energy_linalg(x: gk.Tensor) -> gk.Tensor:
        r = la.norm(gk.diff(x, axis=0), axis=-1, keepdims=True)
        return 0.5 * k * gk.sum(gk.square(r - rest))

    d = p[1:] - p[:-1]
    r = np.linalg.norm(d, axis=1)
    tension = (k * (r - rest) / r)[:, None] * d
    expected = np.zeros_like(p)
    expected[1:] += tension
    expected[:-1] -= tension
    with gk.device(device):
        for program in (energy, energy_linalg):
            close(gk.grad(program)(p), expected, rtol=1e-10, atol=1e-12)
            h = gk.hessian(program)(p)
            assert h.shape == (6, 2, 6, 2)
            hm = h.numpy().reshape(12, 12)
            np.testing.assert_allclose(hm, hm.T, atol=1e-12)
            for axis in range(2):  # a rigid translation changes no force
                shift = np.zeros((6, 2))
                shift[:, axis] = 1
                close(hm @ shift.ravel(), np.zeros(12), atol=1e-12)
            v = rng.standard_normal((6, 2))
            close(hm @ v.ravel(), numeric_directional(gk.grad(program), p, v).ravel(), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ 6. softmax, logsumexp, cross entropy
def test_logsumexp_softmax_and_hand_written_cross_entropy(device):
    z = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0], [0.0, 0.0, 0.0], [3.0, -2.0, 0.5]])
    labels = np.array([0, 2, 1, 1])
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    p = np.exp(z - lse[:, None])
    with gk.device(device):
        close(gk.logsumexp(gk.tensor(z), axis=1), lse, rtol=1e-14)
        close(gk.softmax(gk.tensor(z), 1), p, rtol=1e-13)
        close(gk.grad(lambda t: gk.sum(gk.logsumexp(t, axis=1)))(z), p, rtol=1e-13)

        def cross_entropy(logits: gk.Tensor) -> gk.Tensor:
            shift = gk.max(logits, axis=1, keepdims=True)
            log_p = logits - (shift + gk.log(gk.sum(gk.exp(logits - shift), axis=1, keepdims=True)))
            return -gk.mean(log_p[gk.arange(len(labels)), gk.tensor(labels)])

        loss, g = gk.value_and_grad(cross_entropy)(z)
        close(loss, -np.mean(np.log(p[np.arange(4), labels])), rtol=1e-13)
        close(g, (p - np.eye(3)[labels]) / 4, rtol=1e-12, atol=1e-15)
        zt = gk.tensor(z, requires_grad=True)
        builtin = gk.nn.functional.cross_entropy(zt, gk.tensor(labels))
        builtin.backward()
        close(builtin, loss.item(), rtol=1e-13)
        close(zt.grad, g.numpy(), rtol=1e-12, atol=1e-15)
        small = np.array([[3.0, -2.0, 0.5], [0.1, 0.2, -0.3]])
        close(
            gk.grad(lambda t: gk.sum(gk.log_softmax(t, 1) * gk.tensor([[1.0, 2.0, 3.0]])))(small),
            numeric_grad(lambda t: gk.sum(gk.log_softmax(t, 1) * gk.tensor([[1.0, 2.0, 3.0]])), small),
            rtol=1e-7,
        )
        # float32 logits of 1e4 stay finite, and float32
        z32 = gk.tensor(np.array([[1e4, -1e4, 0.0]], dtype=np.float32), requires_grad=True)
        out = gk.sum(gk.logsumexp(z32, axis=1))
        out.backward()
        assert out.dtype == gk.float32 and z32.grad.dtype == gk.float32
        assert out.item() == 1e4 and z32.grad.numpy().tolist() == [[1.0, 0.0, 0.0]]


# ------------------------------------------------------------------ 7. matrix functions, closed forms
def test_matrix_function_gradients_against_closed_forms(device, rng):
    a = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    b = rng.standard_normal((4, 4))
    s = rng.standard_normal((4, 4))
    s = s + s.T
    m = rng.standard_normal((5, 3))
    a_inv = np.linalg.inv(a)
    u, sv, vh = np.linalg.svd(m, full_matrices=False)
    with gk.device(device):
        bt = gk.tensor(b)
        close(gk.grad(lambda x: gk.sum(gk.diagonal(la.inv(x) @ bt)))(a), -(a_inv @ b @ a_inv).T, rtol=1e-10)
        close(gk.grad(la.det)(a), np.linalg.det(a) * a_inv.T, rtol=1e-10)
        close(gk.grad(lambda x: la.slogdet(x).logabsdet)(a), a_inv.T, rtol=1e-10)
        close(gk.grad(lambda x: gk.sum(la.eigh(x).eigenvalues))(s), np.eye(4), atol=1e-12)  # d tr(S) = I
        close(gk.grad(lambda x: gk.sum(la.eigvalsh(x) ** 2))(s), 2 * s, atol=1e-12)  # d |S|_F^2
        close(gk.grad(lambda x: gk.sum(la.svd(x, compute_uv=False) ** 2))(m), 2 * m, atol=1e-12)
        close(gk.grad(lambda x: la.norm(x, "nuc"))(m), u @ vh, atol=1e-12)
        close(gk.grad(lambda x: la.norm(la.qr(x).R))(m), m / np.linalg.norm(m), atol=1e-12)  # |R|_F = |M|_F
        close(gk.grad(lambda x: la.norm(x, 2))(m), np.outer(u[:, 0], vh[0]), atol=1e-12)
        # the same programs against central differences of themselves
        for program, x in [
            (lambda x: gk.sum(la.pinv(x) ** 3), m),
            (lambda x: gk.sum(la.solve(x, bt) ** 2) + la.det(x), a),
            (lambda x: gk.sum(la.cholesky(x @ x.T + gk.eye(4, dtype=F64)) ** 3), b),
            (lambda x: gk.sum(la.eigh(x + x.T).eigenvectors ** 4), s),
            (lambda x: gk.sum(la.matrix_power(x, -2)), a),
        ]:
            close(gk.grad(program)(x), numeric_grad(program, x), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ 8. ODE integration with RK4
def rk4(rhs: Callable[[gk.Tensor], gk.Tensor], x: gk.Tensor, t_end: float, steps: int) -> gk.Tensor:
    h = t_end / steps
    for _ in range(steps):
        k1 = rhs(x)
        k2 = rhs(x + h / 2 * k1)
        k3 = rhs(x + h / 2 * k2)
        k4 = rhs(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def test_rk4_linear_ode_against_the_matrix_exponential(device, rng):
    a = 0.5 * rng.standard_normal((3, 3))
    x0 = rng.standard_normal(3)
    c = rng.standard_normal(3)
    with gk.device(device):
        at = gk.tensor(a)
        jac = gk.jacobian(lambda x: rk4(lambda z: at @ z, x, 1.0, 100))(x0)
        close(jac, expm(a), rtol=1e-8, atol=1e-9)  # x(1) = e^A x0
        # d/dA c^T e^A x0 is the adjoint Frechet derivative of expm: the top-right block of
        # expm([[A^T, c x0^T], [0, A^T]]).
        ga = gk.grad(lambda m: gk.dot(gk.tensor(c), rk4(lambda z: m @ z, gk.tensor(x0), 1.0, 100)))(a)
        block = np.block([[a.T, np.outer(c, x0)], [np.zeros((3, 3)), a.T]])
        close(ga, expm(block)[:3, 3:], rtol=1e-7, atol=1e-8)

        # A nonlinear one (van der Pol), against central differences.
        def final_energy(state: gk.Tensor, mu: gk.Tensor) -> gk.Tensor:
            def rhs(z: gk.Tensor) -> gk.Tensor:
                return gk.stack([z[1], mu * (1 - z[0] ** 2) * z[1] - z[0]])

            return gk.sum(rk4(rhs, state, 2.0, 100) ** 2)

        s0, mu = np.array([1.0, 0.5]), 1.3
        gs, gmu = gk.grad(final_energy, argnums=(0, 1))(s0, mu)
        close(gs, numeric_grad(lambda s: final_energy(s, gk.tensor(mu)), s0), rtol=1e-6)
        close(gmu, numeric_grad(lambda m: final_energy(gk.tensor(s0), m), np.array(mu)), rtol=1e-6)


# ------------------------------------------------------------------ 9. NumPy idioms
def test_fancy_indexing_with_repeated_indices_accumulates_like_add_at(device, rng):
    x = rng.standard_normal(5)
    m = rng.standard_normal((4, 3))
    idx = np.array([0, 2, 2, 4, 0, 0])
    rows, cols = np.array([0, 1, 1, 3]), np.array([2, 0, 0, 1])
    with gk.device(device):
        weights = gk.arange(6, dtype=F64)
        expected = np.zeros(5)
        np.add.at(expected, idx, np.arange(6.0))
        close(gk.grad(lambda t: gk.sum(t[idx] * weights))(x), expected, rtol=0)
        close(gk.grad(lambda t: gk.sum(t[gk.tensor(idx)] * weights))(x), expected, rtol=0)
        close(gk.grad(lambda t: gk.sum(gk.take(t, idx) * weights))(x), expected, rtol=0)
        expected2 = np.zeros((4, 3))
        np.add.at(expected2, (rows, cols), 2 * m[rows, cols])
        close(gk.grad(lambda t: gk.sum(t[rows, cols] ** 2))(m), expected2, rtol=1e-14)
        expected3 = np.zeros((4, 3))
        np.add.at(expected3, rows, 1.0)  # whole rows picked twice
        close(gk.grad(lambda t: gk.sum(t[rows]))(m), expected3, rtol=0)
        # an embedding-style lookup with a 2-d index, then a reduction: counts per row
        table = rng.standard_normal((5, 2))
        lookup = np.array([[0, 1, 1], [4, 1, 0]])
        counts = np.bincount(lookup.ravel(), minlength=5)[:, None] * np.ones((1, 2))
        close(gk.grad(lambda t: gk.sum(t[lookup]))(table), counts, rtol=0)


def test_boolean_masks(device, rng):
    m = rng.standard_normal((4, 3))
    mask = m > 0
    with gk.device(device):
        close(gk.grad(lambda t: gk.sum(t[mask] ** 2))(m), 2 * m * mask, rtol=1e-14)
        close(gk.grad(lambda t: gk.sum(t[t > 0] ** 2))(m), 2 * m * mask, rtol=1e-14)
        rows = m[:, 0] > 0
        close(gk.grad(lambda t: gk.sum(t[t[:, 0] > 0]))(m), np.repeat(rows[:, None], 3, axis=1).astype(float))
        close(gk.grad(lambda t: gk.sum(gk.where(t > 0, t, 0.0) ** 2))(m), 2 * m * mask, rtol=1e-14)
        close(gk.grad(lambda t: gk.sum(gk.masked_fill(t, gk.tensor(~mask), 0.0) ** 2))(m), 2 * m * mask)
        assert gk.tensor(m)[mask].shape == m[mask].shape


def test_concatenate_stack_split_reshape_transpose_chains(device, rng):
    x = rng.standard_normal((4, 3))

    def chain_np(t):
        a, b, c = np.split(t, [1, 3], axis=1)  # c is empty
        y = np.concatenate([c, 2 * a, b], axis=1)
        z = np.stack([y, y**2], axis=0)
        return np.moveaxis(z.reshape(2, 2, 6), 0, -1).transpose(1, 0, 2) @ np.array([1.0, 3.0])

    def chain(t):
        a, b, c = gk.split(t, [1, 3], axis=1)
        y = gk.concatenate([c, 2 * a, b], axis=1)
        z = gk.stack([y, y**2], axis=0)
        return gk.moveaxis(z.reshape(2, 2, 6), 0, -1).transpose(1, 0, 2) @ gk.tensor([1.0, 3.0], dtype=F64)

    w = rng.standard_normal((6, 2))
    with gk.device(device):
        close(chain(gk.tensor(x)), chain_np(x), rtol=1e-14)
        g = gk.grad(lambda t: gk.sum(chain(t) * gk.tensor(w)))(x)
        close(g, numeric_grad(lambda t: gk.sum(chain(t) * gk.tensor(w)), x), rtol=1e-7)
        parts = gk.split(gk.tensor(x), 3, axis=1)
        assert [p.shape for p in parts] == [p.shape for p in np.split(x, 3, axis=1)]
        close(gk.grad(lambda t: gk.sum(gk.concatenate(gk.split(t, 3, axis=1)[::-1], axis=0) ** 2))(x), 2 * x)


def test_cumsum_and_cumprod_with_zeros(device, rng):
    with gk.device(device):
        for x in (np.array([2.0, 0.0, 3.0, 0.5, 1.0, 4.0]), np.array([2.0, 0.0, 3.0, 0.0, 1.5, 4.0])):
            w = gk.arange(1, 7, dtype=F64)
            g = gk.grad(lambda t: gk.sum(gk.cumprod(t) * w))(x)
            close(g, numeric_grad(lambda t: gk.sum(gk.cumprod(t) * w), x), rtol=1e-8, atol=1e-8)
            assert np.isfinite(g.numpy()).all()
        x = rng.standard_normal((3, 4))
        x[1, 2] = 0.0
        w2 = gk.tensor(rng.standard_normal((3, 4)))
        for program in (lambda t: gk.sum(gk.cumprod(t, axis=1) * w2), lambda t: gk.sum(gk.cumsum(t, axis=0) ** 2 * w2)):
            close(gk.grad(program)(x), numeric_grad(program, x), rtol=1e-7, atol=1e-8)
        assert gk.cumsum(gk.tensor(x)).shape == np.cumsum(x).shape == (12,)  # axis=None flattens, as NumPy


def test_order_statistics_and_kinks(device, rng):
    v = rng.standard_normal(7)
    order = np.argsort(v)
    with gk.device(device):
        close(gk.median(gk.tensor(v)), np.median(v), rtol=0)
        close(gk.grad(gk.median)(v), np.eye(7)[order[3]], rtol=0)
        close(gk.median(gk.tensor(v[:6])), np.median(v[:6]), rtol=1e-15)  # even: mean of the middle two
        close(gk.grad(gk.median)(v[:6]), 0.5 * (np.eye(6)[np.argsort(v[:6])[2]] + np.eye(6)[np.argsort(v[:6])[3]]))
        close(gk.grad(lambda t: gk.sort(t)[3])(v), np.eye(7)[order[3]], rtol=0)  # median written with sort
        c = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
        close(gk.grad(lambda t: gk.sum(gk.clip(t, -0.5, 1.0)))(c), [0, 1, 1, 1, 1, 0], rtol=0)  # bounds pass
        close(gk.grad(lambda t: gk.sum(gk.abs(t)))(c), np.sign(c), rtol=0)  # 0 at 0
        close(gk.grad(gk.max)(np.array([1.0, 3.0, 3.0])), [0, 0.5, 0.5], rtol=0)  # ties share
        close(gk.grad(lambda t: gk.sum(gk.maximum(t, 0.5)))(c), [0, 0, 0, 0.5, 1, 1], rtol=0)
        close(gk.grad(lambda t: gk.sum(gk.relu(t)))(c), [0, 0, 0, 1, 1, 1], rtol=0)
        close(gk.grad(lambda t: gk.sum(gk.where(t > 0, t**2, -t)))(c), np.where(c > 0, 2 * c, -1.0), rtol=0)


def test_einsum_contractions(device, rng):
    a, b, c = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((2, 5))
    sq = rng.standard_normal((3, 3))
    with gk.device(device):
        for spec, ops in [
            ("bij,jk,bk->bi", (a, b, c)),
            ("ii->", (sq,)),
            ("ii->i", (sq,)),
            ("ij,ij->i", (sq, sq)),
            ("ij->ji", (b,)),
            ("...j,jk->...k", (a, b)),
            ("bij->j", (a,)),
        ]:
            close(gk.einsum(spec, *[gk.tensor(o) for o in ops]), np.einsum(spec, *ops), rtol=1e-12, atol=1e-13)
            weight = gk.tensor(rng.standard_normal(np.einsum(spec, *ops).shape))
            for i, op in enumerate(ops):

                def program(t, i=i, spec=spec, ops=ops, weight=weight):
                    args = [gk.tensor(o) for o in ops]
                    args[i] = t
                    return gk.sum(gk.einsum(spec, *args) ** 2 * weight)

                close(gk.grad(program)(op), numeric_grad(program, op), rtol=1e-7, atol=1e-8)
        # one tensor used twice in one contraction gets both contributions
        close(gk.grad(lambda t: gk.einsum("ij,ij->", t, t))(sq), 2 * sq, rtol=1e-14)


def test_standardise_with_keepdims_reductions(device, rng):
    x = rng.standard_normal((6, 3)) * [1.0, 5.0, 0.2] + [0.0, 2.0, -1.0]

    def zscore_np(t):
        return (t - t.mean(axis=0, keepdims=True)) / t.std(axis=0, ddof=1, keepdims=True)

    def loss(t):
        z = (t - gk.mean(t, axis=0, keepdims=True)) / gk.std(t, axis=0, ddof=1, keepdims=True)
        return gk.sum(z**3) + gk.sum(gk.var(t, axis=1, keepdims=True) * t)

    with gk.device(device):
        t = gk.tensor(x)
        close((t - gk.mean(t, axis=0, keepdims=True)) / gk.std(t, axis=0, ddof=1, keepdims=True), zscore_np(x))
        close(gk.grad(loss)(x), numeric_grad(loss, x), rtol=1e-7, atol=1e-8)


def test_gaussian_mixture_log_likelihood(device, rng):
    data = np.concatenate([rng.normal(-2, 0.5, 20), rng.normal(1.5, 1.0, 30)])
    mu, log_sigma, logits = np.array([-1.0, 1.0]), np.array([0.0, -0.3]), np.array([0.2, -0.1])

    def loglik(mu, log_sigma, logits):
        x = gk.tensor(data)[:, None]
        sigma = gk.exp(log_sigma)
        log_pi = gk.log_softmax(logits, 0)
        comp = log_pi - 0.5 * ((x - mu) / sigma) ** 2 - log_sigma - 0.5 * math.log(2 * math.pi)
        return gk.sum(gk.logsumexp(comp, axis=1))

    sigma = np.exp(log_sigma)
    comp = np.log(np.exp(logits) / np.exp(logits).sum()) - 0.5 * ((data[:, None] - mu) / sigma) ** 2 - log_sigma
    resp = np.exp(comp - comp.max(1, keepdims=True))
    resp /= resp.sum(1, keepdims=True)
    with gk.device(device):
        g_mu, g_ls, g_logits = gk.grad(loglik, argnums=(0, 1, 2))(mu, log_sigma, logits)
        close(g_mu, (resp * (data[:, None] - mu)).sum(0) / sigma**2, rtol=1e-10)  # the EM M-step's fixed point
        close(g_logits, resp.sum(0) - len(data) * np.exp(logits) / np.exp(logits).sum(), rtol=1e-10)
        close(g_ls, numeric_grad(lambda t: loglik(gk.tensor(mu), t, gk.tensor(logits)), log_sigma), rtol=1e-7)


def test_dirichlet_energy_on_a_periodic_grid(device, rng):
    u = rng.standard_normal((5, 6))

    def energy(t):
        return 0.5 * gk.sum((gk.roll(t, -1, axis=0) - t) ** 2 + (gk.roll(t, -1, axis=1) - t) ** 2)

    def energy_zero_boundary(t):  # Dirichlet: a frame of zeros around the grid
        p = gk.pad(t, 1)
        return 0.5 * gk.sum(gk.diff(p, axis=0) ** 2) + 0.5 * gk.sum(gk.diff(p, axis=1) ** 2)

    laplacian = sum(np.roll(u, s, axis=a) for s in (1, -1) for a in (0, 1)) - 4 * u
    p = np.pad(u, 1)
    laplacian0 = p[2:, 1:-1] + p[:-2, 1:-1] + p[1:-1, 2:] + p[1:-1, :-2] - 4 * u
    with gk.device(device):
        close(gk.grad(energy)(u), -laplacian, rtol=1e-12, atol=1e-13)  # the gradient is minus the Laplacian
        close(gk.grad(energy_zero_boundary)(u), -laplacian0, rtol=1e-12, atol=1e-13)


def test_jvp_vjp_jacobian_agree(device, rng):
    w1, w2 = rng.standard_normal((5, 4)), rng.standard_normal((3, 5))

    def mlp(x):
        return gk.tensor(w2) @ gk.tanh(gk.tensor(w1) @ x + 0.1) + gk.sin(x[:3])

    x, u, v = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(3)
    with gk.device(device):
        jac = gk.jacobian(mlp)(x).numpy()
        fd = np.stack([numeric_directional(mlp, x, e) for e in np.eye(4)], axis=1)
        close(jac, fd, rtol=1e-6, atol=1e-9)
        _, ju = gk.jvp(mlp, (x,), (u,))
        _, vjp_fn = gk.vjp(mlp, x)
        (vj,) = vjp_fn(gk.tensor(v))
        close(ju, jac @ u, rtol=1e-12)
        close(vj, v @ jac, rtol=1e-12)
        close(np.dot(v, ju.numpy()), np.dot(vj.numpy(), u), rtol=1e-12)  # <v, J u> = <J^T v, u>


# ------------------------------------------------------------------ 10. dtypes
PROMOTIONS = [
    (np.float32, 2),
    (np.float32, 2.5),
    (np.float32, np.float64(2.5)),  # NumPy 2: NumPy scalars are not weak
    (np.float32, np.float32(2.5)),
    (np.float32, np.int64(2)),
    (np.float32, np.array(2.5)),
    (np.float32, np.array([2.5])),
    (np.float16, np.int8(3)),
    (np.int32, 2),
    (np.int32, 2.5),
    (np.int32, np.float32(2.5)),
    (np.int32, np.int64(2)),
    (np.int8, 3),
    (np.uint8, 3),
    (np.bool_, 1.5),
    (np.float64, np.float32(2.5)),
]


@pytest.mark.parametrize(("dtype", "scalar"), PROMOTIONS, ids=lambda p: getattr(p, "__name__", repr(p)))
def test_promotion_with_python_and_numpy_scalars_is_numpys(device, dtype, scalar):
    a = np.array([1, 2, 3], dtype=dtype)
    t = gk.tensor(a, device=device)
    for op in ("__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__radd__", "__rsub__", "__rtruediv__"):
        expected = getattr(a, op)(scalar)
        allowed = {expected.dtype}
        if np.lib.NumpyVersion(np.__version__) < "2.0.0" and isinstance(scalar, (np.ndarray, np.generic)):
            allowed.add(np.promote_types(a.dtype, scalar.dtype))  # NumPy 2's rule, the operators' (docs/API.md)
        assert getattr(t, op)(scalar).dtype in allowed, (op, dtype, scalar)


def test_float32_program_stays_float32_and_gradients_keep_the_leaf_dtype(device, rng):
    x = rng.standard_normal((8, 2))
    y = np.sin(x[:, 0])
    with gk.device(device):
        theta32 = gk.tensor(np.array([0.9, 0.3], dtype=np.float32), requires_grad=True)

        def lml32(theta):
            xt = gk.tensor(x.astype(np.float32))
            k = gk.exp(-0.5 * gk.sum((xt[:, None] - xt[None]) ** 2, axis=-1) / theta[0] ** 2)
            k = k + theta[1] ** 2 * gk.eye(8) + np.float32(1e-3) * gk.eye(8)
            yt = gk.tensor(y.astype(np.float32))
            return -0.5 * yt @ la.solve(k, yt) - gk.sum(gk.log(gk.diagonal(la.cholesky(k))))

        out = lml32(theta32)
        out.backward()
        assert out.dtype == gk.float32 and theta32.grad.dtype == gk.float32
        g64 = gk.grad(lml32)(np.array([0.9, 0.3]))
        assert g64.dtype == F64
        close(theta32.grad, g64.numpy(), rtol=2e-3, atol=1e-4)
        # a float64 NumPy scalar promotes a float32 tensor as it does the installed NumPy's array (to
        # float64 on NumPy 2, not on 1.x's value-based casting), and the gradient is cast back
        w = gk.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
        loss = gk.sum(w * np.float64(2.5))
        loss.backward()
        assert loss.dtype == (np.ones(3, dtype=np.float32) * np.float64(2.5)).dtype
        assert w.grad.dtype == gk.float32
        w.grad = None
        loss = gk.sum(w * 2.5)  # a Python float does not
        loss.backward()
        assert loss.dtype == gk.float32 and w.grad.dtype == gk.float32


def test_integer_inputs(device):
    with gk.device(device):
        for dtype in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_):
            a = np.array([1, 0, 1], dtype=dtype)
            for name in ("sin", "exp", "sqrt", "log1p", "tanh"):
                assert getattr(gk, name)(gk.tensor(a)).dtype == getattr(np, name)(a).dtype, (name, dtype)
            for name in ("sum", "mean", "prod", "cumsum", "var"):
                assert getattr(gk, name)(gk.tensor(a)).dtype == getattr(np, name)(a).dtype, (name, dtype)
        ints = np.array([1, 2, 3])
        g = gk.grad(lambda t: gk.sum(t**2))(ints)  # an integer array is differentiated in float64
        assert g.dtype == F64
        close(g, [2.0, 4.0, 6.0], rtol=0)
        assert gk.linalg.inv(gk.tensor(np.array([[2, 1], [1, 3]]))).dtype == F64
        with pytest.raises(gk.DTypeError, match="floating-point"):
            gk.grad(lambda t: gk.sum(t**2))(gk.tensor(ints))
        with pytest.raises(gk.DTypeError, match="floating-point"):
            gk.tensor(ints, requires_grad=True)
        # integer tensors mixed into a differentiated program: a constant, promoted as NumPy
        x = gk.tensor(np.arange(3.0), requires_grad=True)
        out = gk.sum(x * gk.tensor(ints) + gk.tensor(ints) // 2)
        out.backward()
        assert out.dtype == F64
        close(x.grad, ints, rtol=0)


# ------------------------------------------------------------------ 11. gk.trace
def test_trace_prints_baydin_table_1():
    table = gk.trace(lambda x1, x2: gk.log(x1) + x1 * x2 - gk.sin(x2), 2.0, 5.0)
    lines = str(table).splitlines()
    assert lines[0].split("|")[0].strip() == "Forward primal trace (runs top-down)"
    assert lines[0].split("|")[1].strip() == "Reverse adjoint trace (runs bottom-up)"
    rows = [[cell.strip() for cell in line.split("|")] for line in lines[2:-1]]
    assert [r[0] for r in rows] == [
        "v-1 = x1 = 2",
        "v0 = x2 = 5",
        "v1 = ln v-1 = ln 2 = 0.6931",
        "v2 = v-1 * v0 = 2 * 5 = 10",
        "v3 = sin v0 = sin 5 = -0.9589",
        "v4 = v1 + v2 = 0.6931 + 10 = 10.6931",
        "v5 = v4 - v3 = 10.6931 - (-0.9589) = 11.6521",
        "y = v5 = 11.6521",
    ]
    assert [r[1] for r in rows] == [
        "x~1 = v~-1 = v~1 / v-1 + v~2 * v0 = 0.5 + 5 = 5.5",
        "x~2 = v~0 = v~2 * v-1 + v~3 * cos v0 = 2 - 0.2837 = 1.7163",
        "v~1 = v~4 = 1",
        "v~2 = v~4 = 1",
        "v~3 = -v~5 = -1",
        "v~4 = v~5 = 1",
        "v~5 = y~ = 1",
        "y~ = 1 (seed)",
    ]
    assert lines[-1] == "y = 11.6521; gradient (5.5, 1.7163)"


def test_trace_of_a_small_program_has_the_right_numbers():
    def f(x, y):
        return (x**2 + gk.sqrt(y)) / (x - y) + gk.exp(x) * gk.cos(y)

    x, y = 3.0, 4.0
    table = gk.trace(f, x, y)
    value = (x**2 + math.sqrt(y)) / (x - y) + math.exp(x) * math.cos(y)
    assert table.value == pytest.approx(value, rel=1e-14)
    num = x**2 + math.sqrt(y)
    gx = 2 * x / (x - y) - num / (x - y) ** 2 + math.exp(x) * math.cos(y)
    gy = 0.5 / math.sqrt(y) / (x - y) + num / (x - y) ** 2 - math.exp(x) * math.sin(y)
    assert table.grads == pytest.approx((gx, gy), rel=1e-13)
    # every adjoint is the sum of its consumers' terms, and each intermediate's value is recomputed right
    values = {s.name: s.value for s in table.forward}
    assert values["v-1"] == x and values["v0"] == y
    for adjoint in table.backward:
        if adjoint.terms:
            assert adjoint.value == pytest.approx(sum(t.value for t in adjoint.terms), rel=1e-14)
    assert [s.op for s in table.forward[2:]] == ["power", "sqrt", "subtract", "exp", "cos", "add", "multiply",
                                                 "divide", "add"]  # fmt: skip
    assert table.output == table.forward[-1].name


# ------------------------------------------------------------------ 12. the same programs in PyTorch
def test_pytorch_logistic_regression_and_rnn():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x, y, lam = logistic_data(rng)
    w = rng.standard_normal(3)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def nll_torch(wt):
        z = xt @ wt
        return torch.sum(torch.nn.functional.softplus(z) - yt * z) + 0.5 * lam * torch.sum(wt * wt)

    f = logistic_nll(x, y, lam)
    close(gk.hessian(f)(w), torch.autograd.functional.hessian(nll_torch, torch.tensor(w)).numpy(), rtol=1e-12)

    wm, u, xs, h0 = rnn_setup(rng)
    v = rng.standard_normal(4)

    def rnn_torch(h, m):
        for t in range(len(xs)):
            h = torch.tanh(m @ h + torch.tensor(u) @ torch.tensor(xs[t]))
        return torch.sum(h**2)

    ht, mt = torch.tensor(h0, requires_grad=True), torch.tensor(wm, requires_grad=True)
    gh_t, gw_t = torch.autograd.grad(rnn_torch(ht, mt), (ht, mt), create_graph=True)
    (hv_t,) = torch.autograd.grad(gh_t @ torch.tensor(v), ht)
    gh, gw = gk.grad(rnn_loss(u, xs), argnums=(0, 1))(h0, wm)
    close(gh, gh_t.detach().numpy(), rtol=1e-10, atol=1e-15)
    close(gw, gw_t.detach().numpy(), rtol=1e-10, atol=1e-15)
    close(gk.hessian(rnn_loss(u, xs))(h0, wm).numpy() @ v, hv_t.numpy(), rtol=1e-9, atol=1e-15)


def test_pytorch_gp_lennard_jones_and_kinks():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((8, 2))
    y = np.sin(x[:, 0])
    theta = np.array([0.9, 0.3])

    def lml_torch(th):
        xt = torch.tensor(x)
        d2 = ((xt[:, None] - xt[None]) ** 2).sum(-1)
        k = torch.exp(-0.5 * d2 / th[0] ** 2) + th[1] ** 2 * torch.eye(8, dtype=torch.float64)
        chol = torch.linalg.cholesky(k)
        yt = torch.tensor(y)
        alpha = torch.cholesky_solve(yt[:, None], chol)[:, 0]
        return -0.5 * yt @ alpha - torch.log(torch.diagonal(chol)).sum()

    th = torch.tensor(theta, requires_grad=True)
    (g_t,) = torch.autograd.grad(lml_torch(th), th)
    close(gk.grad(gp_lml_cholesky(x, y))(theta), g_t.numpy(), rtol=1e-10)
    close(gk.hessian(gp_lml_slogdet(x, y))(theta), torch.autograd.functional.hessian(lml_torch, th).numpy(), rtol=1e-9)

    pos = rng.standard_normal((5, 3)) * 1.5

    def lj_torch(p):
        d = p[:, None, :] - p[None, :, :]
        eye = torch.eye(5, dtype=torch.bool)
        r = torch.sqrt(torch.where(eye, torch.ones(()), (d * d).sum(-1)))
        inv6 = r**-6
        return 2.0 * torch.where(eye, torch.zeros(()), inv6 * inv6 - inv6).sum()

    p_t = torch.tensor(pos, requires_grad=True)
    (f_t,) = torch.autograd.grad(lj_torch(p_t), p_t)
    close(gk.grad(lj_energy)(pos), f_t.numpy(), rtol=1e-12)

    c = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    # PyTorch 2.14 gives clamp a zero gradient at its bounds; gradkit keeps PyTorch 2.13's one (documented)
    torch_2_14 = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 14)
    for gk_f, torch_f in [
        (lambda t: gk.sum(gk.clip(t, -0.5, 1.0)), lambda t: torch.clamp(t, -0.5, 1.0).sum()),
        (lambda t: gk.sum(gk.abs(t)), lambda t: t.abs().sum()),
        (lambda t: gk.sum(gk.maximum(t, gk.tensor(0.5, dtype=F64))), lambda t: torch.maximum(t, torch.tensor(0.5,
                                                                                   dtype=torch.float64)).sum()),
        (lambda t: gk.max(gk.concatenate([t, t[-1:]])), lambda t: torch.cat([t, t[-1:]]).max()),
        (lambda t: gk.median(t[:5]), lambda t: torch.quantile(t[:5], 0.5)),
        (lambda t: gk.sum(gk.sqrt(gk.abs(t) + 1.0) * gk.sort(t)), lambda t: (torch.sqrt(t.abs() + 1.0) *
                                                                            torch.sort(t).values).sum()),
    ]:  # fmt: skip
        ct = torch.tensor(c, requires_grad=True)
        (expected,) = torch.autograd.grad(torch_f(ct), ct)
        if torch_2_14 and "clamp" in torch_f.__code__.co_names:
            expected = torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0, 0.0], dtype=torch.float64)
        close(gk.grad(gk_f)(c), expected.numpy(), rtol=1e-14)
