"""Property-based tests (hypothesis) over shapes: broadcasting binary ops and reductions."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[dev]')")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes  # noqa: E402

import gradkit as gk  # noqa: E402

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

BINARY = {
    "add": (gk.add, np.add),
    "subtract": (gk.subtract, np.subtract),
    "multiply": (gk.multiply, np.multiply),
    "divide": (gk.divide, np.divide),
    "power": (gk.power, np.power),
}


def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """NumPy reference of summing a broadcast gradient back to ``shape``."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, d in enumerate(shape):
        if d == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


@SETTINGS
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    op=st.sampled_from(sorted(BINARY)),
    seed=st.integers(0, 2**16),
)
def test_broadcasting_binary_ops(shapes, op, seed, device):
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, sa)
    b = rng.uniform(0.5, 2.0, sb) * (1 if op in ("power", "divide") else rng.choice([-1, 1], sb))
    gfn, nfn = BINARY[op]
    ta = gk.tensor(a, device=device, requires_grad=True)
    tb = gk.tensor(b, device=device, requires_grad=True)
    out = gfn(ta, tb)
    expected = nfn(a, b)
    assert out.shape == expected.shape == shapes.result_shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    u = rng.standard_normal(out.shape)
    out.backward(gk.tensor(u, device=device))
    assert ta.grad.shape == sa and tb.grad.shape == sb
    da, db = {
        "add": (u, u),
        "subtract": (u, -u),
        "multiply": (u * b, u * a),
        "divide": (u / b, -u * a / b**2),
        "power": (u * b * a ** (b - 1), u * a**b * np.log(a)),
    }[op]
    for t, d, s in ((ta, da, sa), (tb, db, sb)):
        expected_grad = _unbroadcast(np.broadcast_to(d, out.shape), s)
        np.testing.assert_allclose(t.grad.numpy(), expected_grad, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    op=st.sampled_from(sorted(BINARY)),
)
def test_broadcasting_binary_gradcheck(shapes, op, device):
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(0)
    ta = gk.tensor(rng.uniform(0.5, 2.0, sa), device=device, requires_grad=True)
    tb = gk.tensor(rng.uniform(0.5, 2.0, sb), device=device, requires_grad=True)
    assert gk.gradcheck(BINARY[op][0], [ta, tb])


@st.composite
def shape_and_axis(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
        axis = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
    return shape, axis, draw(st.booleans())


REDUCTIONS = ["sum", "mean", "var", "std", "max", "min", "prod", "logsumexp"]


def _np_reduce(name, x, axis, keepdims):
    if name == "logsumexp":
        m = x.max(axis=axis, keepdims=True)
        out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
        return out if keepdims else np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return getattr(np, name)(x, axis=axis, keepdims=keepdims)


@SETTINGS
@given(case=shape_and_axis(), name=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2**16))
def test_reductions_match_numpy_and_gradcheck(case, name, seed, device):
    shape, axis, keepdims = case
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if name in ("max", "min"):  # distinct values: no ties
        x = rng.permutation(n).reshape(shape) * 0.1
    elif name == "prod":
        x = rng.uniform(0.5, 2.0, shape)
    else:
        x = rng.standard_normal(shape)
    t = gk.tensor(x, device=device, requires_grad=True)
    out = getattr(gk, name)(t, axis=axis, keepdims=keepdims)
    expected = _np_reduce(name, x, axis, keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    reduced = np.prod([shape[a] for a in np.atleast_1d(axis if axis is not None else range(len(shape)))])
    if name == "std" and reduced == 1:
        return  # std is not differentiable where the variance is zero
    assert gk.gradcheck(lambda v: getattr(gk, name)(v, axis=axis, keepdims=keepdims), [t])


@SETTINGS
@given(case=shape_and_axis())
def test_sum_and_mean_gradients_closed_form(case, device):
    shape, axis, keepdims = case
    x = gk.tensor(np.ones(shape), device=device, requires_grad=True)
    gk.sum(x, axis=axis, keepdims=keepdims).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(shape))
    x.grad = None
    out = gk.mean(x, axis=axis, keepdims=keepdims)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(shape, out.size / x.size))


@SETTINGS
@given(case=shape_and_axis())
def test_argmax_argmin_match_numpy(case, device):
    shape, axis, keepdims = case
    if isinstance(axis, tuple):
        axis = axis[0]
    x = np.random.default_rng(1).standard_normal(shape)
    t = gk.tensor(x, device=device)
    for name in ("argmax", "argmin"):
        out = getattr(gk, name)(t, axis=axis, keepdims=keepdims)
        expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
        assert out.shape == expected.shape
        assert out.dtype == gk.int64
        np.testing.assert_array_equal(out.numpy(), expected)
        assert not out.requires_grad


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (5,)])
def test_argmax_methods(shape, device):
    x = np.random.default_rng(2).standard_normal(shape)
    t = gk.tensor(x, device=device, requires_grad=True)
    assert t.argmax().item() == x.argmax()
    assert t.argmin().item() == x.argmin()
    np.testing.assert_array_equal(t.argmax(-1).numpy(), x.argmax(-1))
    np.testing.assert_array_equal(t.argmin(axis=0, keepdims=True).numpy(), x.argmin(axis=0, keepdims=True))
