"""Gradients against closed forms, at kinks and ties, and at extreme values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradkit as gk


def _t(values, device, **kw):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=True, **kw)


def _grad_of(f, x):
    x.grad = None
    f(x).backward()
    return x.grad.numpy()


def test_sum_of_squares(device):
    a = np.random.default_rng(0).standard_normal((3, 4))
    x = _t(a, device)
    np.testing.assert_allclose(_grad_of(lambda t: (t**2).sum(), x), 2 * a)
    np.testing.assert_allclose(_grad_of(lambda t: gk.square(t).sum(), x), 2 * a)
    np.testing.assert_allclose(_grad_of(lambda t: (t * t).mean(), x), 2 * a / 12)


def test_elementwise_derivatives(device):
    a = np.random.default_rng(1).uniform(0.5, 1.5, (5,))
    x = _t(a, device)
    s = 1 / (1 + np.exp(-a))
    cases = {
        gk.exp: np.exp(a),
        gk.log: 1 / a,
        gk.sqrt: 0.5 / np.sqrt(a),
        gk.sin: np.cos(a),
        gk.cos: -np.sin(a),
        gk.tan: 1 / np.cos(a) ** 2,
        gk.tanh: 1 - np.tanh(a) ** 2,
        gk.sigmoid: s * (1 - s),
        gk.log1p: 1 / (1 + a),
        gk.expm1: np.exp(a),
        gk.negative: -np.ones(5),
        gk.relu: np.ones(5),
        gk.abs: np.ones(5),
        gk.sign: np.zeros(5),
    }
    for fn, expected in cases.items():
        np.testing.assert_allclose(_grad_of(lambda t, fn=fn: fn(t).sum(), x), expected, rtol=1e-12, err_msg=fn.__name__)


def test_softmax_jacobian(device):
    a = np.random.default_rng(2).standard_normal(4)
    x = _t(a, device)
    s = np.exp(a) / np.exp(a).sum()
    expected = np.diag(s) - np.outer(s, s)
    jac = np.stack([_grad_of(lambda t, i=i: gk.softmax(t)[i], x) for i in range(4)])
    np.testing.assert_allclose(jac, expected, rtol=1e-12, atol=1e-15)
    jac_log = np.stack([_grad_of(lambda t, i=i: gk.log_softmax(t)[i], x) for i in range(4)])
    np.testing.assert_allclose(jac_log, np.eye(4) - s[None, :], rtol=1e-12, atol=1e-15)


def test_matmul_gradients(device):
    rng = np.random.default_rng(3)
    a, b, g = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    ta, tb = _t(a, device), _t(b, device)
    (ta @ tb).backward(gk.tensor(g, device=device))
    np.testing.assert_allclose(ta.grad.numpy(), g @ b.T)
    np.testing.assert_allclose(tb.grad.numpy(), a.T @ g)


def test_var_gradient(device):
    a = np.random.default_rng(4).standard_normal(6)
    x = _t(a, device)
    np.testing.assert_allclose(_grad_of(lambda t: t.var(), x), 2 * (a - a.mean()) / 6)
    np.testing.assert_allclose(_grad_of(lambda t: t.var(ddof=1), x), 2 * (a - a.mean()) / 5)
    np.testing.assert_allclose(_grad_of(lambda t: t.std(), x), (a - a.mean()) / (6 * a.std()))


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda t: t ** 3, lambda a: 6 * a),
        (gk.sin, lambda a: -np.sin(a)),
        (gk.cos, lambda a: -np.cos(a)),
        (gk.exp, np.exp),
        (gk.tanh, lambda a: -2 * np.tanh(a) * (1 - np.tanh(a) ** 2)),
        (gk.log, lambda a: -1 / a**2),
        (gk.sqrt, lambda a: -0.25 * a**-1.5),
        (gk.sigmoid, lambda a: (s := 1 / (1 + np.exp(-a))) * (1 - s) * (1 - 2 * s)),
    ],
    ids=["cube", "sin", "cos", "exp", "tanh", "log", "sqrt", "sigmoid"],
)
def test_second_derivatives(fn, expected, device):
    a = np.random.default_rng(5).uniform(0.5, 2.0, 5)
    x = _t(a, device)
    fn(x).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.grad_fn is not None
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected(a), rtol=1e-10)


def test_third_derivative_of_sin(device):
    a = np.linspace(-2, 2, 5)
    x = _t(a, device)
    d1 = gk.sin(x)
    for _ in range(3):
        x.grad = None
        d1.sum().backward(create_graph=True)
        d1 = x.grad
    np.testing.assert_allclose(d1.numpy(), -np.cos(a), rtol=1e-12)


def test_mixed_second_derivative(device):
    x, y = _t(1.5, device), _t(-0.7, device)
    f = x * x * y + gk.sin(x * y)
    f.backward(create_graph=True)
    dfdx = x.grad
    x.grad = y.grad = None
    dfdx.backward()
    # d2f/dxdy = 2x + cos(xy) - xy sin(xy)
    xy = 1.5 * -0.7
    np.testing.assert_allclose(y.grad.item(), 2 * 1.5 + np.cos(xy) - xy * np.sin(xy), rtol=1e-12)
    np.testing.assert_allclose(x.grad.item(), 2 * -0.7 - 0.7**2 * np.sin(xy), rtol=1e-12)


def test_ties_share_the_gradient(device):
    x = _t([1.0, 3.0, 3.0, 2.0], device)
    np.testing.assert_allclose(_grad_of(lambda t: t.max(), x), [0, 0.5, 0.5, 0])
    np.testing.assert_allclose(_grad_of(lambda t: (-t).min(), x), [0, -0.5, -0.5, 0])
    a, b = _t([1.0, 2.0, 3.0], device), _t([1.0, 5.0, 0.0], device)
    gk.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 0, 1])
    np.testing.assert_allclose(b.grad.numpy(), [0.5, 1, 0])
    m = _t([[2.0, 2.0], [1.0, 4.0]], device)
    np.testing.assert_allclose(_grad_of(lambda t: t.max(axis=1).sum(), m), [[0.5, 0.5], [0, 1]])


def test_kinks_take_zero_or_documented_value(device):
    x = _t([0.0, -1.0, 2.0], device)
    np.testing.assert_allclose(_grad_of(lambda t: gk.relu(t).sum(), x), [0, 0, 1])
    np.testing.assert_allclose(_grad_of(lambda t: gk.abs(t).sum(), x), [0, -1, 1])
    np.testing.assert_allclose(_grad_of(lambda t: (t**2).sum(), x), [0, -2, 4])
    np.testing.assert_allclose(_grad_of(lambda t: gk.clip(t, -1.0, 1.0).sum(), x), [1, 1, 0])


def test_prod_with_zeros(device):
    x = _t([2.0, 0.0, 3.0], device)
    np.testing.assert_allclose(_grad_of(lambda t: t.prod(), x), [0, 6, 0])
    x = _t([0.0, 0.0, 3.0], device)
    np.testing.assert_allclose(_grad_of(lambda t: t.prod(), x), [0, 0, 0])
    m = _t([[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]], device)
    np.testing.assert_allclose(_grad_of(lambda t: t.prod(axis=1).sum(), m), [[0, 0, 2], [20, 15, 12]])


def test_power_edge_cases(device):
    base = _t([0.0, 2.0], device)
    expo = _t([2.0, 3.0], device)
    (base**expo).sum().backward()
    np.testing.assert_allclose(base.grad.numpy(), [0, 12])
    np.testing.assert_allclose(expo.grad.numpy(), [0, 8 * np.log(2)])
    assert np.isfinite(expo.grad.numpy()).all()
    x = _t([0.0, 3.0], device)
    np.testing.assert_allclose(_grad_of(lambda t: (t**0).sum(), x), [0, 0])
    np.testing.assert_allclose(_grad_of(lambda t: (2.0**t).sum(), x), [np.log(2), 8 * np.log(2)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numerically_stable_at_extremes(dtype, device):
    x = gk.tensor([-1000.0, 0.0, 1000.0], dtype=dtype, device=device, requires_grad=True)
    s = gk.sigmoid(x)
    np.testing.assert_allclose(s.numpy(), [0, 0.5, 1])
    s.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    for fn in (gk.softmax, gk.log_softmax, gk.logsumexp):
        x.grad = None
        y = fn(x * 10)
        assert np.isfinite(y.numpy()).all() or fn is gk.log_softmax
        (y * gk.tensor([1.0, 2.0, 3.0][: y.size], dtype=dtype, device=device)).sum().backward()
        assert np.isfinite(x.grad.numpy()).all(), fn.__name__
    np.testing.assert_allclose(gk.logsumexp(gk.tensor([1e4, 1e4], device=device)).item(), 1e4 + np.log(2))
    lsm = gk.log_softmax(gk.tensor([1e4, 0.0], dtype=dtype, device=device))
    np.testing.assert_allclose(lsm.numpy(), [0, -1e4])


def test_logsumexp_with_minus_infinity(device):
    x = gk.tensor([-np.inf, 0.0, 0.0], dtype="float64", device=device, requires_grad=True)
    y = gk.logsumexp(x)
    np.testing.assert_allclose(y.item(), np.log(2))
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.5, 0.5])
    allinf = gk.tensor([-np.inf, -np.inf], device=device)
    assert gk.logsumexp(allinf).item() == -np.inf


def test_where_and_comparisons_route_gradients(device):
    a = _t([1.0, -2.0, 3.0], device)
    y = gk.where(a > 0, a * 2.0, a * a)
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [2, -4, 2])


def test_split_pieces_gradients(device):
    x = _t(np.arange(6.0), device)
    a, b, c = gk.split(x, 3)
    (a.sum() * 1 + b.sum() * 2 + c.sum() * 3).backward()
    np.testing.assert_allclose(x.grad.numpy(), [1, 1, 2, 2, 3, 3])
    x.grad = None
    p, q = gk.split(x, [4])
    (q * 5.0).sum().backward()  # an unused piece gets no gradient
    np.testing.assert_allclose(x.grad.numpy(), [0, 0, 0, 0, 5, 5])


def test_pad_modes_gradient_counts(device):
    x = _t(np.zeros(4), device)
    for mode in ("constant", "edge", "reflect", "symmetric", "wrap"):
        # each element's gradient is how often it appears in the padded result
        picked = np.pad(np.arange(4), (2, 2), mode=mode, **({"constant_values": -1} if mode == "constant" else {}))
        counts = np.bincount(picked[picked >= 0], minlength=4)
        out = gk.pad(x, (2, 2), mode=mode)
        np.testing.assert_array_equal(out.numpy(), np.pad(np.zeros(4), (2, 2), mode=mode))
        x.grad = None
        out.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), counts, err_msg=mode)


def test_zero_dim_reductions_over_axis_0_or_minus_1(device):
    """As NumPy: a 0-d tensor reduced over axis 0 or -1 is itself."""
    x = _t(3.0, device)
    for name in ("sum", "mean", "max", "min", "prod", "logsumexp"):
        for axis in (0, -1, (0,)):
            y = getattr(x, name)(axis=axis)
            assert y.shape == () and y.item() == pytest.approx(np.sum(3.0, axis=0) if name != "prod" else 3.0)
    assert x.var(axis=0).item() == 0
    x.grad = None
    (x.sum(axis=0) * x.max(axis=-1)).backward()
    assert x.grad.item() == 6.0
    with pytest.raises(gk.IndexOutOfRangeError, match="sum"):
        x.sum(axis=1)


def test_max_with_nan_sends_gradient_to_the_nan(device):
    x = _t([np.nan, 1.0, 2.0], device)
    y = x.max()
    assert np.isnan(y.item())
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 0])


def test_einsum_trace_and_diagonal(device):
    a = np.arange(9.0).reshape(3, 3)
    x = _t(a, device)
    gk.einsum("ii->", x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.eye(3))
    x.grad = None
    (gk.einsum("ii->i", x) * _t([1.0, 2.0, 3.0], device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.diag([1.0, 2.0, 3.0]))


def test_pad_zero_dim_is_identity(device):
    x = _t(2.0, device)
    y = gk.pad(x, 1)
    assert y.shape == () and y.item() == 2.0


def test_var_with_no_degrees_of_freedom_left(device):
    # ddof == n: NumPy and PyTorch give an infinite variance; backward must not raise ZeroDivisionError.
    x = _t([1.0, 2.0], device)
    with warnings.catch_warnings():  # NumPy warns "Degrees of freedom <= 0"; CuPy may not
        warnings.simplefilter("ignore", RuntimeWarning)
        y = x.var(ddof=2)
    assert np.isinf(y.item())
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-np.inf, np.inf])
    # NumPy accepts a float ddof; anything else is a gradkit error naming the op
    a = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(gk.std(_t(a, device), ddof=0.5).item(), np.std(a, ddof=0.5))
    with pytest.raises(gk.ArgumentTypeError, match="std: ddof"):
        gk.std(_t(a, device), ddof="1")


def test_concatenate_axis_none_flattens_as_numpy(device):
    x = _t(np.arange(6.0).reshape(2, 3), device)
    out = gk.concatenate([x, gk.tensor(np.ones(2), device=device)], axis=None)
    np.testing.assert_array_equal(out.numpy(), np.concatenate([np.arange(6.0).reshape(2, 3), np.ones(2)], axis=None))
    (out * gk.tensor(np.arange(8.0), device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(6.0).reshape(2, 3))


def test_split_indices_as_numpy(device):
    x = _t(np.arange(12.0).reshape(3, 4), device)
    expect = [p.shape for p in np.split(np.zeros((3, 4)), [1, 10], axis=1)]
    assert [p.shape for p in gk.split(x, [1, 10], axis=1)] == expect  # past the end: empty pieces
    assert [p.shape for p in gk.split(x, np.array([1, 3]), axis=-1)] == [(3, 1), (3, 2), (3, 1)]
    assert [p.shape for p in gk.split(x, gk.tensor([2], device=device), 0)] == [(2, 4), (1, 4)]
    with pytest.raises(gk.ArgumentTypeError, match="split"):
        gk.split(x, [1.5])  # NumPy refuses float indices; no silent truncation
    with pytest.raises(gk.ArgumentTypeError, match="split"):
        gk.split(x, 1.5)


def test_logsumexp_of_an_empty_axis_is_minus_inf(device):
    x = gk.zeros((0, 3), device=device, requires_grad=True)
    out = gk.logsumexp(x, axis=0)
    assert out.shape == (3,) and np.all(np.isneginf(out.numpy()))
    assert gk.logsumexp(x, axis=1).shape == (0,)
    gk.logsumexp(x, axis=1).sum().backward()
    assert x.grad.shape == (0, 3)
