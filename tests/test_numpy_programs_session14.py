"""NumPy programs a scientist differentiates with gradkit (session 14): an HMM forward pass in log space, causal
attention masked with -inf, a kernel density estimate, Newton's method through ``gk.linalg.solve``, a long leapfrog
run, NumPy's indexing forms on a reversed non-contiguous view, and the fixes they led to (``gk.where(cond)``, the
slopes of ``arctan2`` and ``special.zeta`` beside a bool operand). Values are checked against NumPy and gradients
against central differences (``gk.gradcheck``) or closed forms, on every device the ``device`` fixture gives.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk

F64 = gk.float64


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1414)


def leaf(a: np.ndarray) -> gk.Tensor:
    return gk.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


# ------------------------------------------------------------------ fixes
def test_where_with_the_condition_alone_is_nonzero_as_numpy(device):
    a = np.array([[0.0, 2.0, 0.0], [3.0, 0.0, 1.0]])
    with gk.device(device):
        t = gk.tensor(a)
        for cond, expected in ((t, np.where(a)), (t > 1, np.where(a > 1))):
            got = gk.where(cond)
            assert isinstance(got, tuple) and len(got) == 2
            for g, e in zip(got, expected, strict=True):
                assert g.dtype == gk.int64 and g.device == t.device
                np.testing.assert_array_equal(g.numpy(), e)
        rows, cols = gk.where(t > 1)
        np.testing.assert_array_equal(t[rows, cols].numpy(), a[a > 1])  # the usual idiom
        with pytest.raises(gk.InvalidArgumentError, match="both"):
            gk.where(t > 1, t)
        with pytest.raises(gk.InvalidArgumentError, match="both"):
            gk.where(t > 1, b=t)


def test_arctan2_of_a_bool_numerator_has_the_denominators_slope(device):
    y = np.array([True, False, True, True])
    yf = y.astype(np.float64)
    xs = np.array([0.5, -1.5, -2.0, 3.0])
    with gk.device(device):
        for yy in (y, gk.tensor(y)):
            x = leaf(xs)
            out = gk.arctan2(yy, x)
            np.testing.assert_allclose(out.numpy(), np.arctan2(y, xs), rtol=1e-15)
            (g,) = gk.autograd.grad(out.sum(), x, create_graph=True)
            np.testing.assert_allclose(g.numpy(), -yf / (xs**2 + yf**2), rtol=1e-14)
            (h,) = gk.autograd.grad(g.sum(), x)  # d/dx of -y / (x^2 + y^2)
            np.testing.assert_allclose(h.numpy(), 2 * yf * xs / (xs**2 + yf**2) ** 2, rtol=1e-13)
        gk.gradcheck(lambda x: gk.arctan2(gk.tensor(y), x), [leaf(xs)])


def test_zeta_of_a_bool_order_has_its_slope_in_q(device):
    x = np.array([True, True])  # order 1: zeta(1, q) is inf; the slope in q is -1 * zeta(2, q)
    qs = np.array([0.5, 2.5])
    # Hurwitz zeta(2, 1/2) = (2^2 - 1) zeta(2) = pi^2 / 2; zeta(2, q + 1) = zeta(2, q) - 1 / q^2
    zeta2 = np.array([np.pi**2 / 2, np.pi**2 / 2 - 1 / 0.5**2 - 1 / 1.5**2])
    with gk.device(device):
        q = leaf(qs)
        out = gk.special.zeta(gk.tensor(x), q)
        out.sum().backward()
        np.testing.assert_allclose(q.grad.numpy(), -zeta2, rtol=1e-12)


# ------------------------------------------------------------------ programs
def test_hmm_forward_algorithm_in_log_space(device, rng):
    n_states, n_steps, n_symbols = 3, 7, 4
    obs = rng.integers(0, n_symbols, n_steps)
    A = rng.dirichlet(np.ones(n_states), n_states)
    B = rng.dirichlet(np.ones(n_symbols), n_states)
    pi = rng.dirichlet(np.ones(n_states))

    def log_likelihood(log_a: gk.Tensor, log_b: gk.Tensor, log_pi: gk.Tensor) -> gk.Tensor:
        alpha = log_pi + log_b[:, obs[0]]
        for t in range(1, n_steps):
            alpha = gk.logsumexp(alpha[:, None] + log_a, axis=0) + log_b[:, obs[t]]
        return gk.logsumexp(alpha)

    alpha = pi * B[:, obs[0]]
    for t in range(1, n_steps):
        alpha = (alpha @ A) * B[:, obs[t]]
    with gk.device(device):
        value = log_likelihood(gk.tensor(np.log(A)), gk.tensor(np.log(B)), gk.tensor(np.log(pi)))
        np.testing.assert_allclose(value.item(), np.log(alpha.sum()), rtol=1e-12)
        gk.gradcheck(log_likelihood, [leaf(np.log(A)), leaf(np.log(B)), leaf(np.log(pi))])
        # a forbidden transition (log 0 = -inf) keeps every gradient finite and gets none itself
        log_a = np.log(A)
        log_a[0, 2] = -np.inf
        la = leaf(log_a)
        log_likelihood(la, gk.tensor(np.log(B)), gk.tensor(np.log(pi))).backward()
        assert np.all(np.isfinite(la.grad.numpy())) and la.grad.numpy()[0, 2] == 0
        # d logL / d log_pi_i is the posterior probability of starting in state i
        lp = leaf(np.log(pi))
        log_likelihood(gk.tensor(np.log(A)), gk.tensor(np.log(B)), lp).backward()
        beta = np.ones(n_states)
        for t in range(n_steps - 1, 0, -1):
            beta = A @ (B[:, obs[t]] * beta)
        post = pi * B[:, obs[0]] * beta
        np.testing.assert_allclose(lp.grad.numpy(), post / post.sum(), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the query that sees no key
def test_causal_attention_masked_with_minus_inf(device, rng):
    batch, n_q, n_k, dim = 2, 4, 5, 3
    q0, k0, v0 = (rng.standard_normal((batch, n, dim)) for n in (n_q, n_k, n_k))
    mask = np.tril(np.ones((n_q, n_k), dtype=bool))

    def attention(q: gk.Tensor, k: gk.Tensor, v: gk.Tensor, m: np.ndarray) -> gk.Tensor:
        scores = q @ gk.swapaxes(k, -1, -2) / math.sqrt(dim)
        weights = gk.softmax(gk.where(gk.tensor(m), scores, -np.inf), axis=-1)
        return weights @ v

    s = q0 @ k0.swapaxes(-1, -2) / math.sqrt(dim)
    s = np.where(mask, s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    expected = (w / w.sum(-1, keepdims=True)) @ v0
    with gk.device(device):
        out = attention(gk.tensor(q0), gk.tensor(k0), gk.tensor(v0), mask)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
        gk.gradcheck(lambda q, k, v: attention(q, k, v, mask), [leaf(q0), leaf(k0), leaf(v0)])
        # a query that sees no key is NaN (as NumPy); left out of the loss, it leaves the other gradients finite
        blind = mask.copy()
        blind[0] = False
        q = leaf(q0)
        out = attention(q, gk.tensor(k0), gk.tensor(v0), blind)
        assert np.isnan(out.numpy()[:, 0]).all()
        out[:, 1:].sum().backward()
        assert np.all(np.isfinite(q.grad.numpy()))


def test_kernel_density_estimate_and_its_bandwidth_slope(device, rng):
    samples = rng.standard_normal(25)
    grid = np.linspace(-2.0, 2.0, 6)

    def kde(h: gk.Tensor, x: gk.Tensor) -> gk.Tensor:
        z = (x[:, None] - gk.tensor(samples)[None, :]) / h
        return gk.mean(gk.exp(-0.5 * z**2), axis=1) / (h * math.sqrt(2 * math.pi))

    h0 = 0.4
    z = (grid[:, None] - samples[None, :]) / h0
    phi = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    with gk.device(device):
        h = gk.tensor(h0, dtype=F64, requires_grad=True)
        density = kde(h, gk.tensor(grid))
        np.testing.assert_allclose(density.numpy(), phi.mean(1) / h0, rtol=1e-13)
        density.sum().backward()
        # d/dh of phi(z)/h with z = (x - s)/h: phi(z) (z^2 - 1) / h^2
        np.testing.assert_allclose(h.grad.item(), (phi * (z**2 - 1)).mean(1).sum() / h0**2, rtol=1e-12)
        gk.gradcheck(kde, [gk.tensor(h0, dtype=F64, requires_grad=True), leaf(grid)])


def test_newton_iterations_through_solve_match_the_implicit_function_theorem(device):
    def newton(p: gk.Tensor) -> gk.Tensor:
        x = gk.zeros(2, dtype=F64)
        one = gk.ones((), dtype=F64)
        for _ in range(10):
            f = gk.stack([x[0] ** 3 + x[1] - p[0], x[0] - x[1] ** 3 - p[1]])
            jac = gk.stack([gk.stack([3 * x[0] ** 2, one]), gk.stack([one, -3 * x[1] ** 2])])
            x = x - gk.linalg.solve(jac, f)
        return x

    with gk.device(device):
        p = gk.tensor([1.0, 0.5], dtype=F64)
        x = newton(p).numpy()
        np.testing.assert_allclose([x[0] ** 3 + x[1], x[0] - x[1] ** 3], [1.0, 0.5], atol=1e-13)
        jac = gk.autograd.functional.jacobian(newton, p).numpy()
        # dx/dp = J(x)^-1, since F(x, p) = G(x) - p
        expected = np.linalg.inv(np.array([[3 * x[0] ** 2, 1.0], [1.0, -3 * x[1] ** 2]]))
        np.testing.assert_allclose(jac, expected, rtol=1e-9, atol=1e-12)


def test_leapfrog_over_many_steps_is_the_matrix_power_of_one_step(device):
    dt, steps = 0.01, 2000

    def leapfrog(q: gk.Tensor, p: gk.Tensor) -> tuple[gk.Tensor, gk.Tensor]:
        for _ in range(steps):
            p = p - 0.5 * dt * q
            q = q + dt * p
            p = p - 0.5 * dt * q
        return q, p

    def one_step(v: np.ndarray) -> np.ndarray:
        q, p = v
        p = p - 0.5 * dt * q
        q = q + dt * p
        return np.array([q, p - 0.5 * dt * q])

    m = np.column_stack([one_step(np.array([1.0, 0.0])), one_step(np.array([0.0, 1.0]))])
    mn = np.linalg.matrix_power(m, steps)
    with gk.device(device):
        q0 = gk.tensor(1.0, dtype=F64, requires_grad=True)
        p0 = gk.tensor(0.25, dtype=F64, requires_grad=True)
        q, p = leapfrog(q0, p0)
        np.testing.assert_allclose([q.item(), p.item()], mn @ [1.0, 0.25], rtol=1e-12)
        (q + 2 * p).backward()
        np.testing.assert_allclose([q0.grad.item(), p0.grad.item()], [1.0, 2.0] @ mn, rtol=1e-11)


@pytest.mark.parametrize(
    "key",
    [
        (np.array([0, -1, 2, 2], dtype=np.int32),),
        (np.array([[0, -1], [2, 2]], dtype=np.int8), slice(None), 1),
        ([0, 1, 1], slice(None), [2, 0, 2]),  # advanced indices apart: their axis goes first
        ([0, 5], Ellipsis, [1, 1]),
        ([[0], [5]], [1, 2, 3], 0),
        np.ix_([5, 0, 5], [1, 1], [0, 2]),
        (None, [0, 1], None, [1, 2]),
        (slice(-1, -7, -2), slice(3, None, -1), slice(None, None, -1)),
        "mask",
        "mask2d",
    ],
    ids=lambda k: k if isinstance(k, str) else None,
)
def test_numpy_index_forms_on_a_reversed_strided_view_accumulate_as_add_at(device, rng, key):
    a = rng.standard_normal((4, 5, 6))
    view = a.transpose(2, 0, 1)[::-1, :, ::2]  # (6, 4, 3), negative and non-unit strides
    if key == "mask":
        key = (view[:, 0, 0] > 0, 1)
    elif key == "mask2d":
        key = (view[:, :, 0] > 0, slice(0, 2))
    expected = view[key]
    w = rng.standard_normal(expected.shape)
    with gk.device(device):
        x = leaf(a)
        gkey = tuple(gk.tensor(k) if isinstance(k, np.ndarray) and k.dtype == bool else k for k in key)
        got = x.permute(2, 0, 1)[::-1, :, ::2][gkey]
        np.testing.assert_array_equal(got.numpy(), expected)
        (got * gk.tensor(w)).sum().backward()
    slot = np.zeros_like(view)
    np.add.at(slot, key, w)
    grad = np.zeros_like(a)
    grad.transpose(2, 0, 1)[::-1, :, ::2] += slot
    np.testing.assert_array_equal(x.grad.numpy(), grad)


def test_put_along_axis_with_repeated_indices_keeps_numpys_last_write(device):
    arr = np.arange(12.0).reshape(3, 4)
    idx = np.array([[1, 1, 3], [0, 0, 0], [2, 3, 2]])
    vals = np.array([[10.0, 11, 12], [20, 21, 22], [30, 31, 32]])
    expected = arr.copy()
    np.put_along_axis(expected, idx, vals, axis=1)
    w = np.arange(12.0).reshape(3, 4) + 1
    with gk.device(device):
        x, v = leaf(arr), leaf(vals)
        y = gk.put_along_axis(x, gk.tensor(idx), v, axis=1)
        np.testing.assert_array_equal(y.numpy(), expected)
        (y * gk.tensor(w)).sum().backward()
    written = np.zeros(arr.shape, dtype=bool)
    np.put_along_axis(written, idx, True, axis=1)
    np.testing.assert_array_equal(x.grad.numpy(), np.where(written, 0.0, w))
    # only the value NumPy keeps (the last one written to a place) gets that place's gradient
    np.testing.assert_array_equal(v.grad.numpy(), [[0, 2, 4], [0, 0, 5], [0, 12, 11]])
